//! `subir`: a whole file in one request. The bytes go to a hidden temporary file first and
//! are published with one atomic step, so nobody ever sees half of them.

use super::{args, Caller, Context, Reply};
use crate::message::Request;
use crate::pickle::Data;
use crate::storage::{self, Staged, Storage};
use std::io::Write;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller) -> Reply {
    args::dict(&req.data, "nombre y contenido")?;
    let name = args::name(&req.data, "nombre")?;
    let content = args::bytes(req, "contenido")?;
    let replace = args::flag(&req.data, "reemplazar", false)?;
    ctx.check_free(name, caller.id)?;
    if !replace && ctx.storage.is_taken(name) {
        return Err(format!("{}; use reemplazar", storage::exists(name).mensaje));
    }
    write_new(&ctx.storage, name, content, replace)?;
    ctx.changed();
    log::info!("{}: stored {name:?} ({} bytes)", caller.peer, content.len());
    Ok(Data::dict([
        ("nombre", Data::str(name)),
        ("bytes", Data::Int(content.len() as i64)),
    ]))
}

/// Writes `content` to a temporary file and publishes it as `name`; on any failure the
/// temporary file is removed and the folder is as it was.
fn write_new(storage: &Storage, name: &str, content: &[u8], replace: bool) -> Result<(), String> {
    let (mut file, path) = storage.temp_file()?;
    let written = file.write_all(content).map_err(|e| storage::write_refusal(&e));
    drop(file);
    let published = written.and_then(|()| storage.publish(&path, name, replace));
    if published.is_err() {
        discard(&path);
    }
    Ok(published?)
}

fn discard(staged: &Staged) {
    if let Err(e) = staged.remove() {
        log::warn!("cannot remove {staged:?}: {e}");
    }
}
