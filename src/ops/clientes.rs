//! `clientes`: who is connected, by id.

use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;

crate::no_arguments!(Clientes);

impl Operation<'_> for Clientes {
    fn parse(_: &Request<'_>) -> Result<Self, Refusal> {
        Ok(Clientes)
    }

    fn run(self, ctx: &mut Context, _: &Caller) -> Outcome {
        Outcome::Ok(Data::List(
            ctx.peers
                .iter()
                .map(|(id, p)| {
                    Data::dict([
                        ("id", Data::Int(id as i64)),
                        ("direccion", Data::Str(p.addr.to_string())),
                        ("alias", p.alias.clone().map_or(Data::None, Data::Str)),
                        ("suscrito", Data::Bool(p.subscribed.is_some())),
                    ])
                })
                .collect(),
        ))
    }
}
