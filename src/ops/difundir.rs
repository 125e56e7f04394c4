//! `difundir`: sends a file to every other subscriber.
//!
//! Each recipient gets a frame `Mensaje("archivo", {"nombre", "de", "contenido"}, "ok")`
//! streamed from disk exactly like a download. All of them share one open file and read
//! it at their own offsets, so twenty recipients cost twenty small heads and tails, not
//! twenty copies of the file, and a slow one holds back nobody but itself.

use super::{args, Caller, Context, Reply};
use crate::message::{self, Request};
use crate::outbox::Chunk;
use crate::pickle::{Data, Envelope};
use std::rc::Rc;

/// Bytes of a frame shared by several queues.
type Shared = Rc<Vec<u8>>;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    let name = args::name_or_dict(&req.data)?;
    let (file, len) = ctx.storage.open_file(name)?;
    let file = Rc::new(file);
    let fields = [
        ("nombre".to_string(), Data::str(name)),
        ("de".to_string(), Data::Int(caller.id as i64)),
    ];
    // Build every frame before queuing any, so an error means nobody got the file.
    // Recipients that used the same class share one head and one tail.
    let mut frames: Vec<(u64, Vec<Chunk>)> = Vec::new();
    let mut parts: Vec<(Envelope, Shared, Shared)> = Vec::new();
    for id in ctx.peers.subscribers(caller.id) {
        let Some(env) = ctx.peers.get(id).and_then(|p| p.subscribed.clone()) else {
            continue;
        };
        let (head, tail) = match parts.iter().find(|(e, _, _)| *e == env) {
            Some((_, h, t)) => (Rc::clone(h), Rc::clone(t)),
            None => {
                let built = message::stream_parts_in_dict(&env, "archivo", &fields, "contenido", len);
                let Some((h, t)) = built else {
                    return Err("archivo demasiado grande para enviarlo en un mensaje".into());
                };
                let (h, t) = (Rc::new(h), Rc::new(t));
                parts.push((env, Rc::clone(&h), Rc::clone(&t)));
                (h, t)
            }
        };
        let chunks = vec![
            Chunk::shared(head),
            Chunk::file(Rc::clone(&file), 0, len),
            Chunk::shared(tail),
        ];
        frames.push((id, chunks));
    }
    let sent = ctx.push_all(frames, caller.peer, "file");
    log::info!("{}: {name:?} ({len} bytes) sent to {sent}", caller.peer);
    Ok(Data::dict([
        ("nombre", Data::str(name)),
        ("enviado_a", Data::Int(sent)),
    ]))
}
