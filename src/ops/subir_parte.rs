//! `subir_parte`: an upload in pieces, resumable across connections and restarts.
//!
//! The pieces are appended to a hidden file in staging named after the upload; `fin`
//! publishes it atomically. `desde` must equal what is staged, so a piece can never be
//! applied twice or leave a gap. While one connection uploads a name, others are refused
//! that name; if it disconnects, or sends nothing for two minutes, the staged bytes wait
//! for whoever resumes.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::{self, Refusal};
use std::fmt;
use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::time::Instant;

pub struct SubirParte<'r> {
    name: &'r str,
    /// None: only asking how far an earlier upload got (or, with `fin`, publishing it).
    content: Option<&'r [u8]>,
    from: Option<u64>,
    last: bool,
    replace: bool,
}

impl fmt::Display for SubirParte<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)?;
        if let Some(from) = self.from {
            write!(f, " desde {from}")?;
        }
        if let Some(content) = self.content {
            write!(f, " ({} B)", content.len())?;
        }
        if self.last {
            write!(f, " fin")?;
        }
        Ok(())
    }
}

impl<'r> Operation<'r> for SubirParte<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        args::dict(&req.data, "nombre, contenido, desde y fin")?;
        let content = match args::field(&req.data, "contenido") {
            None => None,
            Some(_) => Some(args::bytes(req, "contenido")?),
        };
        Ok(SubirParte {
            name: args::name(&req.data, "nombre")?,
            content,
            from: args::count(&req.data, "desde")?,
            last: args::flag(&req.data, "fin", false)?,
            replace: args::flag(&req.data, "reemplazar", false)?,
        })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let reply = |received: u64| {
            Data::dict([
                ("nombre", Data::str(self.name)),
                ("recibidos", Data::Int(received as i64)),
            ])
        };
        let result = ctx
            .locks
            .check_free(self.name, caller.id)
            .and_then(|()| self.apply(ctx, caller));
        result.map(reply).into()
    }
}

impl SubirParte<'_> {
    /// Stages this piece (and publishes on `fin`); returns the bytes staged in all.
    fn apply(&self, ctx: &mut Context, caller: &Caller) -> Result<u64, Refusal> {
        let staged = ctx.storage.part_len(self.name);
        if self.content.is_none() && !self.last {
            return Ok(staged);
        }
        if self.content.is_none() && !ctx.storage.part_path(self.name).exists() {
            // `fin` alone publishes what is staged; with nothing staged (say, a retried
            // `fin` whose reply was lost) it must not publish an empty file over a real one.
            return Err(format!("no hay una subida en curso de {}", self.name).into());
        }
        if !self.replace && ctx.storage.is_taken(self.name) {
            return Err(args::exists_hint(self.name));
        }
        let from = self.start_at(staged)?;
        // Claim the name (or take it over from a writer gone quiet), and note the activity.
        ctx.locks.touch(self.name, caller.id, Instant::now());
        let total = self.write_piece(ctx, from)?;
        if self.last {
            let path = ctx.storage.part_path(self.name);
            ctx.storage.publish(&path, self.name, self.replace)?;
            ctx.locks.release(self.name);
            ctx.changed();
            log::info!("{}: stored {:?} ({total} B, in parts)", caller.peer, self.name);
        } else {
            log::debug!("{}: staged {total} B of {:?}", caller.peer, self.name);
        }
        Ok(total)
    }

    /// Where this piece goes: `desde` 0 always starts over; otherwise it must continue
    /// exactly where we are. `fin` alone, without `desde`, publishes what is staged.
    fn start_at(&self, staged: u64) -> Result<u64, Refusal> {
        match (self.from, self.content.is_some()) {
            (Some(n), _) if n == staged || n == 0 => Ok(n),
            (None, false) => Ok(staged),
            _ => Err(format!(
                "desde debe ser {staged}: son los bytes de {} que el servidor ya tiene",
                self.name
            )
            .into()),
        }
    }

    /// Writes the piece at `from`, cutting off anything staged after it.
    fn write_piece(&self, ctx: &Context, from: u64) -> Result<u64, Refusal> {
        let path = ctx.storage.part_path(self.name);
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW)
            .open(&path)
            .map_err(|e| storage::write_refusal(&e))?;
        let bytes = self.content.unwrap_or_default();
        let appended = file
            .set_len(from)
            .and_then(|()| file.seek(SeekFrom::Start(from)))
            .and_then(|_| file.write_all(bytes));
        if let Err(e) = appended {
            // Leave exactly what was staged before, so `desde` stays true for a retry.
            let _ = file.set_len(from);
            return Err(storage::write_refusal(&e));
        }
        Ok(from + bytes.len() as u64)
    }
}
