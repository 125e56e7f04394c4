//! `listar_detalle`: each file with its size and modification time (unix seconds).

use super::{Context, Reply};
use crate::pickle::Data;

pub fn run(ctx: &mut Context) -> Reply {
    let entries = ctx.storage.entries().map_err(|e| {
        log::warn!("cannot list {}: {e}", ctx.storage.root().display());
        "no se pudo leer la carpeta".to_string()
    })?;
    Ok(Data::List(
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
