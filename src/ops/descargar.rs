//! `descargar`: a file's bytes, streamed from disk as the socket drains.
//!
//! `data` is a name, or `{"nombre", "desde", "largo"}` for a range. The reply's frame is
//! queued in three chunks (head, file, tail), so memory does not grow with the file.

use super::reply_error;
use crate::message::{self, Request};
use crate::outbox::{Chunk, Outbox};
use crate::pickle::decode::get;
use crate::pickle::{Data, Value};
use std::rc::Rc;

/// Files up to this size are read into the reply and leave in one write with its head.
const INLINE_MAX: u64 = 64 * 1024;

/// What was asked for: a name and a byte range.
struct Ask<'a> {
    name: &'a str,
    from: u64,
    len: Option<u64>,
}

fn ask(data: &Value) -> Result<Ask<'_>, &'static str> {
    match data {
        Value::String(name) => Ok(Ask {
            name,
            from: 0,
            len: None,
        }),
        Value::Dict(_) => {
            let Some(Value::String(name)) = get(data, "nombre") else {
                return Err("falta nombre (str)");
            };
            let from = match get(data, "desde") {
                None | Some(Value::None) => 0,
                Some(Value::I64(n)) if *n >= 0 => *n as u64,
                _ => return Err("desde debe ser un entero no negativo"),
            };
            let len = match get(data, "largo") {
                None | Some(Value::None) => None,
                Some(Value::I64(n)) if *n >= 0 => Some(*n as u64),
                _ => return Err("largo debe ser un entero no negativo"),
            };
            Ok(Ask { name, from, len })
        }
        _ => Err("se esperaba el nombre del archivo (str)"),
    }
}

pub fn run(req: &Request, ctx: &mut super::Context, out: &mut Outbox) {
    let (env, op) = (&req.envelope, req.operacion.as_str());
    let ask = match ask(&req.data) {
        Ok(a) => a,
        Err(msg) => return reply_error(out, env, op, msg),
    };
    let (file, size) = match ctx.storage.open_file(ask.name) {
        Ok(f) => f,
        Err(refusal) => return reply_error(out, env, op, &refusal.mensaje),
    };
    if ask.from > size {
        let msg = format!("desde ({}) pasa el final del archivo ({size} bytes)", ask.from);
        return reply_error(out, env, op, &msg);
    }
    let len = ask.len.unwrap_or(u64::MAX).min(size - ask.from);

    if len <= INLINE_MAX {
        let mut buf = vec![0; len as usize];
        let mut got = 0;
        while got < buf.len() {
            match crate::sys::read_at(&file, &mut buf[got..], ask.from + got as u64) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return reply_error(out, env, op, "no se pudo leer el archivo"),
            }
        }
        // Whatever we managed to read is what we announce: the frame never lies.
        buf.truncate(got);
        log::debug!("descargar {:?}: {got} bytes inline", ask.name);
        return out.push(Chunk::bytes(message::ok(env, op, &Data::Bytes(buf))));
    }

    let Some((head, tail)) = message::stream_parts(env, op, len) else {
        let msg = "archivo demasiado grande para un mensaje; pida partes con desde y largo";
        return reply_error(out, env, op, msg);
    };
    log::debug!(
        "descargar {:?}: streaming {len} bytes from {}",
        ask.name,
        ask.from
    );
    out.push(Chunk::bytes(head));
    out.push(Chunk::file(Rc::new(file), ask.from, len));
    out.push(Chunk::bytes(tail));
}
