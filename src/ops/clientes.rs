//! `clientes`: who is connected, by id.

use super::{Context, Reply};
use crate::pickle::Data;

pub fn run(ctx: &mut Context) -> Reply {
    Ok(Data::List(
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
