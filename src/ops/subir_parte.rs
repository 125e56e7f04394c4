//! `subir_parte`: an upload in pieces, resumable across connections and restarts.
//!
//! The pieces are appended to a hidden file in staging named after the upload; `fin`
//! publishes it atomically. `desde` must equal what is staged, so a piece can never be
//! applied twice or leave a gap. While one connection uploads a name, others are refused
//! that name; if it disconnects, or sends nothing for two minutes, the staged bytes wait
//! for whoever resumes.

use super::{args, Caller, Context, Reply};
use crate::message::Request;
use crate::pickle::Data;
use crate::storage;
use std::io::{Seek, SeekFrom, Write};

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    args::dict(&req.data, "nombre, contenido, desde y fin")?;
    let name = args::name(&req.data, "nombre")?;
    let content = match args::field(&req.data, "contenido") {
        None => None,
        Some(_) => Some(args::bytes(req, "contenido")?),
    };
    let from = args::count(&req.data, "desde")?;
    let last = args::flag(&req.data, "fin", false)?;
    let replace = args::flag(&req.data, "reemplazar", false)?;
    ctx.check_free(name, caller.id)?;
    let staged = ctx.storage.part_len(name);
    let reply = |received: u64| {
        Ok(Data::dict([
            ("nombre", Data::str(name)),
            ("recibidos", Data::Int(received as i64)),
        ]))
    };
    if content.is_none() && !last {
        // Only asking how far an earlier upload got.
        return reply(staged);
    }
    if content.is_none() && !ctx.storage.has_part(name) {
        // `fin` alone publishes what is staged; with nothing staged (say, a retried `fin`
        // whose reply was lost) it must not publish an empty file over a real one.
        return Err(format!("no hay una subida en curso de {name}"));
    }
    if !replace && ctx.storage.is_taken(name) {
        return Err(format!("{}; use reemplazar", storage::exists(name).mensaje));
    }
    // `desde` 0 always starts over; otherwise it must continue exactly where we are.
    // `fin` alone, without `desde`, publishes what is staged.
    let from = match (from, content.is_some()) {
        (Some(n), _) if n == staged || n == 0 => n,
        (None, false) => staged,
        _ => {
            return Err(format!(
                "desde debe ser {staged}: son los bytes de {name} que el servidor ya tiene"
            ))
        }
    };
    // Claim the name (or take it over from a writer gone quiet), and note the activity.
    let busy = super::Busy {
        owner: caller.id,
        touched: Some(std::time::Instant::now()),
    };
    ctx.busy.insert(name.to_string(), busy);
    let (mut file, path) = ctx.storage.open_part(name)?;
    let bytes = content.unwrap_or_default();
    let appended = file
        .set_len(from)
        .and_then(|()| file.seek(SeekFrom::Start(from)))
        .and_then(|_| file.write_all(bytes));
    if let Err(e) = appended {
        // Leave exactly what was staged before, so `desde` stays true for a retry.
        let _ = file.set_len(from);
        return Err(storage::write_refusal(&e).into());
    }
    let total = from + bytes.len() as u64;
    drop(file);
    if last {
        ctx.storage.publish(&path, name, replace)?;
        ctx.busy.remove(name);
        ctx.changed();
        log::info!("{}: stored {name:?} ({total} bytes, in parts)", caller.peer);
    } else {
        log::debug!("{}: staged {total} bytes of {name:?}", caller.peer);
    }
    reply(total)
}
