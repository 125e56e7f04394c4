//! `difundir`: sends a file to every other subscriber.
//!
//! Each recipient gets a frame `Mensaje("archivo", {"nombre", "de", "contenido"}, "ok")`
//! streamed from disk exactly like a download. All of them share one open file and read
//! it at their own offsets, so twenty recipients cost twenty small heads and tails, not
//! twenty copies of the file, and a slow one holds back nobody but itself.

use super::{args, Caller, Context, Reply};
use crate::message::{self, Request};
use crate::outbox::Chunk;
use crate::pickle::Data;
use std::rc::Rc;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    let name = args::name_or_dict(&req.data)?;
    let (file, len) = ctx.storage.open_file(name)?;
    let file = Rc::new(file);
    let fields = [
        ("nombre".to_string(), Data::str(name)),
        ("de".to_string(), Data::Int(caller.id as i64)),
    ];
    let mut sent = 0;
    for id in ctx.peers.subscribers(caller.id) {
        let Some(env) = ctx.peers.get(id).and_then(|p| p.subscribed.clone()) else {
            continue;
        };
        let Some((head, tail)) = message::stream_parts_in_dict(&env, "archivo", &fields, "contenido", len)
        else {
            return Err("archivo demasiado grande para enviarlo en un mensaje".into());
        };
        let chunks = vec![
            Chunk::bytes(head),
            Chunk::file(Rc::clone(&file), 0, len),
            Chunk::bytes(tail),
        ];
        if let Some(push) = ctx.peers.push_to(id, chunks) {
            ctx.pushes.push(push);
            sent += 1;
        }
    }
    log::info!("{}: {name:?} ({len} bytes) sent to {sent}", caller.peer);
    Ok(Data::dict([
        ("nombre", Data::str(name)),
        ("enviado_a", Data::Int(sent)),
    ]))
}
