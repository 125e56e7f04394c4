//! `difundir`: sends a file to every other subscriber.
//!
//! Each recipient gets a frame `Mensaje("archivo", {"nombre", "de", "alias", "contenido"}, "ok")`
//! streamed from disk exactly like a download. All of them share one open file and read
//! it at their own offsets, so twenty recipients cost twenty small heads and tails, not
//! twenty copies of the file, and a slow one holds back nobody but itself.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::outbox::Chunk;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;
use std::rc::Rc;

pub struct Difundir<'r> {
    name: &'r str,
}

impl fmt::Display for Difundir<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)
    }
}

impl<'r> Operation<'r> for Difundir<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        let name = args::name_or_dict(&req.data)?;
        Ok(Difundir { name })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let (file, len) = match ctx.storage.open_file(self.name) {
            Ok(f) => f,
            Err(refusal) => return Outcome::Refused(refusal),
        };
        let file = Rc::new(file);
        let alias = ctx.peers.get(caller.id).and_then(|p| p.alias.clone());
        let fields = [
            ("nombre".to_string(), Data::str(self.name)),
            ("de".to_string(), Data::Int(caller.id as i64)),
            ("alias".to_string(), alias.map_or(Data::None, Data::Str)),
        ];
        let recipients = ctx.peers.subscribers(caller.id);
        let sent = ctx.fan_out(recipients, caller.peer, "archivo", |to| {
            let parts = to.push_parts_in_dict("archivo", &fields, "contenido", len);
            let (head, tail) = parts.ok_or("archivo demasiado grande para enviarlo en un mensaje")?;
            Ok(vec![
                Chunk::bytes(head),
                Chunk::file(Rc::clone(&file), 0, len),
                Chunk::bytes(tail),
            ])
        });
        if let Ok(n) = sent {
            log::info!(
                "{}: {:?} ({len} B) sent to {n} subscribers",
                caller.peer,
                self.name
            );
        }
        sent.map(|n| Data::dict([("nombre", Data::str(self.name)), ("enviado_a", Data::Int(n))]))
            .into()
    }
}
