//! `mensaje`: a text from one client to another subscriber, or to all of them.
//!
//! The server builds each pushed frame itself from checked fields. It never forwards the
//! sender's pickle: Python clients unpickle what they receive, and a pickle can be made
//! to run code when it is loaded.

use super::{args, Caller, Context, Reply};
use crate::message::{self, Request};
use crate::outbox::Chunk;
use crate::pickle::{Data, Envelope, Value};
use std::rc::Rc;

/// Longest text, in bytes.
pub const MAX_TEXT: usize = 64 * 1024;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    args::dict(&req.data, "para y texto")?;
    let text = match args::field(&req.data, "texto") {
        Some(Value::String(t)) if t.len() <= MAX_TEXT => t,
        Some(Value::String(_)) => return Err("texto demasiado largo (máximo 64 KiB)".into()),
        Some(_) => return Err("texto debe ser un texto (str)".into()),
        None => return Err("falta texto (str)".into()),
    };
    let to: Vec<u64> = match args::field(&req.data, "para") {
        Some(Value::String(s)) if s == "todos" => ctx.peers.subscribers(caller.id),
        Some(Value::I64(id)) if *id > 0 => {
            let id = *id as u64;
            if ctx.peers.get(id).is_none_or(|p| p.subscribed.is_none()) {
                return Err(format!("no hay un cliente suscrito con id {id}"));
            }
            vec![id]
        }
        _ => return Err("para debe ser el id de un cliente (int) o \"todos\"".into()),
    };
    let alias = ctx.peers.get(caller.id).and_then(|p| p.alias.clone());
    let data = Data::dict([
        ("de", Data::Int(caller.id as i64)),
        ("alias", alias.map_or(Data::None, Data::Str)),
        ("texto", Data::str(text.as_str())),
    ]);
    // One frame per class the recipients used, shared by all of them: a 64 KiB text to
    // 1,000 subscribers is 64 KiB in memory, not 64 MB.
    let mut shared: Vec<(Envelope, Rc<Vec<u8>>)> = Vec::new();
    let mut frames = Vec::new();
    for id in to {
        let Some(env) = ctx.peers.get(id).and_then(|p| p.subscribed.clone()) else {
            continue;
        };
        let frame = match shared.iter().find(|(e, _)| *e == env) {
            Some((_, f)) => Rc::clone(f),
            None => {
                let f = Rc::new(message::ok(&env, "mensaje", &data));
                shared.push((env, Rc::clone(&f)));
                f
            }
        };
        frames.push((id, vec![Chunk::shared(frame)]));
    }
    let delivered = ctx.push_all(frames, caller.peer, "message");
    log::info!("{}: message delivered to {delivered}", caller.peer);
    Ok(Data::dict([("entregado_a", Data::Int(delivered))]))
}
