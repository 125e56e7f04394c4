//! `subir`: a whole file in one request. The bytes go to a hidden temporary file first and
//! are published with one atomic step, so nobody ever sees half of them.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::digest::{self, Sum};
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::{self, Refusal, Storage};
use std::fmt;
use std::io::Write;
use std::path::Path;

pub struct Subir<'r> {
    name: &'r str,
    content: &'r [u8],
    replace: bool,
    /// The digest the content must have (protocol 2's integrity check).
    sha256: Option<Sum>,
}

impl fmt::Display for Subir<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} ({} B)", self.name, self.content.len())?;
        if self.replace {
            write!(f, " reemplazar")?;
        }
        Ok(())
    }
}

impl<'r> Operation<'r> for Subir<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        args::dict(&req.data, "nombre y contenido")?;
        Ok(Subir {
            name: args::name(&req.data, "nombre")?,
            content: args::bytes(req, "contenido")?,
            replace: args::flag(&req.data, "reemplazar", false)?,
            sha256: args::sha256(&req.data, "sha256")?,
        })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let stored = store(ctx, &self, caller.id);
        if stored.is_ok() {
            log::info!(
                "{}: stored {:?} ({} B)",
                caller.peer,
                self.name,
                self.content.len()
            );
        }
        stored.into()
    }
}

fn store(ctx: &mut Context, up: &Subir<'_>, me: u64) -> Result<Data, Refusal> {
    ctx.locks.check_free(up.name, me)?;
    // The content is in memory already (at most one frame), so hashing it is no longer
    // than copying it was.
    if up
        .sha256
        .is_some_and(|expect| digest::of_bytes(up.content) != expect)
    {
        return Err(format!(
            "sha256 no coincide: {} no llegó igual; no se guardó nada",
            up.name
        )
        .into());
    }
    if !up.replace && ctx.storage.is_taken(up.name) {
        return Err(args::exists_hint(up.name));
    }
    write_new(&ctx.storage, up.name, up.content, up.replace)?;
    ctx.changed();
    Ok(Data::dict([
        ("nombre", Data::str(up.name)),
        ("bytes", Data::Int(up.content.len() as i64)),
    ]))
}

/// Writes `content` to a temporary file and publishes it as `name`; on any failure the
/// temporary file is removed and the folder is as it was.
fn write_new(storage: &Storage, name: &str, content: &[u8], replace: bool) -> Result<(), Refusal> {
    let (mut file, path) = storage.temp_file()?;
    let written = file.write_all(content).map_err(|e| storage::write_refusal(&e));
    drop(file);
    let published = written.and_then(|()| storage.publish(&path, name, replace));
    if published.is_err() {
        discard(&path);
    }
    published
}

fn discard(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            log::warn!("cannot remove {}: {e}", path.display());
        }
    }
}
