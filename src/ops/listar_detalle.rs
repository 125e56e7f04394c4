//! `listar_detalle`: each file with its size and modification time (unix seconds).

use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;

crate::no_arguments!(ListarDetalle);

impl Operation<'_> for ListarDetalle {
    fn parse(_: &Request<'_>) -> Result<Self, Refusal> {
        Ok(ListarDetalle)
    }

    fn run(self, ctx: &mut Context, _: &Caller) -> Outcome {
        let entries = match ctx.storage.entries() {
            Ok(entries) => entries,
            Err(e) => {
                return ctx.unreadable_folder(&e);
            }
        };
        Outcome::Ok(Data::List(
            entries
                .into_iter()
                .map(|e| {
                    Data::dict([
                        ("nombre", Data::Str(e.name)),
                        ("bytes", Data::Int(e.bytes.min(i64::MAX as u64) as i64)),
                        ("modificado", Data::Int(e.modified)),
                    ])
                })
                .collect(),
        ))
    }
}
