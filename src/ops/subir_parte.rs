//! `subir_parte`: an upload in pieces, resumable across connections and restarts.
//!
//! The pieces are appended to a hidden file in staging named after the upload; `fin`
//! publishes it atomically, once the staged bytes are on the disk, and replies once the
//! name is too (`jobs::Publish`). `desde` must equal what is staged, so a piece can never
//! be applied twice or leave a gap.
//!
//! Every piece is on the disk before its "ok" (`jobs::StorePiece`): the reply's
//! `recibidos` is where a client resumes, even after a power cut. While one connection
//! uploads a name, others are refused
//! that name; if it disconnects, or sends nothing for two minutes, the staged bytes wait
//! for whoever resumes.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::digest::{Hashing, Sum};
use crate::jobs::{Publish, Step, StorePiece, Then, Verify};
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::{self, Refusal, Staged, Storage};
use std::fmt;
use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::net::SocketAddr;
use std::time::Instant;

pub struct SubirParte<'r> {
    name: &'r str,
    /// None: only asking how far an earlier upload got (or, with `fin`, publishing it).
    content: Option<&'r [u8]>,
    from: Option<u64>,
    last: bool,
    replace: bool,
    /// Protocol 2's integrity checks: the whole file's digest (with `fin`), and the
    /// digest of what the server already holds (when resuming).
    sha256: Option<Sum>,
    previo: Option<Sum>,
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
        if self.sha256.is_some() || self.previo.is_some() {
            write!(f, " con sha256")?;
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
            sha256: args::sha256(&req.data, "sha256")?,
            previo: args::sha256(&req.data, "sha256_previo")?,
        })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let step = ctx
            .locks
            .check_free(self.name, caller.id)
            .and_then(|()| self.apply(ctx, caller));
        match step {
            Err(refusal) => Outcome::Refused(refusal),
            Ok(Step::Done(result)) => result.into(),
            Ok(Step::Next(job)) => {
                // Publishing: held, not only touched (a touch lapses after two minutes
                // of silence), so nobody takes the name over while it is flushed.
                if self.last {
                    ctx.locks.hold(self.name, caller.id);
                }
                ctx.submit(job, caller)
            }
        }
    }
}

impl SubirParte<'_> {
    /// Stages this piece (and publishes on `fin`), or hands the rest to a job when a
    /// digest must be checked first.
    fn apply(&self, ctx: &mut Context, caller: &Caller) -> Result<Step, Refusal> {
        let staged = ctx.storage.part_len(self.name);
        if self.content.is_none() && !self.last {
            return Ok(Step::Done(Ok(received(self.name, staged))));
        }
        if self.content.is_none() && !ctx.storage.has_part(self.name) {
            // `fin` alone publishes what is staged; with nothing staged (say, a retried
            // `fin` whose reply was lost) it must not publish an empty file over a real one.
            return Err(format!("no hay una subida en curso de {}", self.name).into());
        }
        if !self.replace && ctx.storage.is_taken(self.name) {
            return Err(args::exists_hint(self.name, &caller.to));
        }
        let from = self.start_at(staged)?;
        // Claim the name (or take it over from a writer gone quiet), and note the activity.
        ctx.locks.touch(self.name, caller.id, Instant::now());
        let piece = Piece {
            name: self.name.to_string(),
            from,
            last: self.last,
            replace: self.replace,
            sha256: self.sha256,
            peer: caller.peer,
        };
        match self.previo {
            // Resuming on top of bytes staged earlier: they must be the client's.
            Some(previo) if from > 0 => {
                let part = ctx.storage.read_part(self.name)?;
                let hashing = Hashing::prefix(part, from).map_err(|e| storage::write_refusal(&e))?;
                let mismatch = format!(
                    "sha256_previo no coincide con los {from} bytes de {} que tiene el servidor; \
                     empiece de nuevo con desde 0",
                    self.name
                );
                let content = self.content.unwrap_or_default().to_vec();
                let then: Then = Box::new(move |env| piece.write(env.storage, &content));
                Ok(Step::Next(Box::new(Verify::new(hashing, previo, mismatch, then))))
            }
            _ => Ok(piece.write(&ctx.storage, self.content.unwrap_or_default())),
        }
    }

    /// Where this piece goes: `desde` 0 always starts over; otherwise it must continue
    /// exactly where we are. `fin` alone, without `desde`, publishes what is staged.
    fn start_at(&self, staged: u64) -> Result<u64, Refusal> {
        match (self.from, self.content.is_some()) {
            (Some(n), _) if n == staged || n == 0 => Ok(n),
            (None, false) => Ok(staged),
            // Asking and `fin` alone go without `desde`; a piece never does.
            (None, true) => Err(format!(
                "falta desde (int): una parte con contenido dice desde qué byte va; \
                 el servidor tiene {staged} bytes de {}",
                self.name
            )
            .into()),
            _ => Err(format!(
                "desde debe ser {staged}: son los bytes de {} que el servidor ya tiene",
                self.name
            )
            .into()),
        }
    }
}

/// `{"nombre", "recibidos"}`.
fn received(name: &str, total: u64) -> Data {
    Data::dict([
        ("nombre", Data::str(name)),
        ("recibidos", Data::Int(total as i64)),
    ])
}

/// A piece that may go ahead, owned, so that it can wait for a check in a job.
struct Piece {
    name: String,
    from: u64,
    last: bool,
    replace: bool,
    sha256: Option<Sum>,
    peer: SocketAddr,
}

impl Piece {
    /// Writes `bytes` at `from`; on `fin`, publishes (after checking the whole file's
    /// digest, in a job, when one was sent).
    fn write(self, storage: &Storage, bytes: &[u8]) -> Step {
        let (part, staged, total) = match write_piece(storage, &self.name, self.from, bytes) {
            Ok(written) => written,
            Err(refusal) => return Step::Done(Err(refusal)),
        };
        if !self.last {
            log::debug!("{}: staged {total} B of {:?}", self.peer, self.name);
            let reply = received(&self.name, total);
            return Step::Next(Box::new(StorePiece::new(
                storage, part, &staged, self.from, total, reply,
            )));
        }
        drop(part); // `fin` publishes through a handle of its own
        let Some(expect) = self.sha256 else {
            return self.publish(storage, total);
        };
        let part = storage.read_part(&self.name);
        let hashing = match part.and_then(|f| Hashing::whole(f).map_err(|e| storage::write_refusal(&e))) {
            Ok(h) => h,
            Err(refusal) => return Step::Done(Err(refusal)),
        };
        let mismatch = format!(
            "sha256 no coincide: {} no llegó igual; no se publicó (lo recibido sigue guardado)",
            self.name
        );
        let then: Then = Box::new(move |env| self.publish(env.storage, total));
        Step::Next(Box::new(Verify::new(hashing, expect, mismatch, then)))
    }

    /// Publishes the staged bytes once they are on the disk. The name stays held until
    /// then; a refusal or a client that leaves keeps the bytes staged, to resume.
    fn publish(&self, storage: &Storage, total: u64) -> Step {
        let (file, staged) = match storage.open_part(&self.name) {
            Ok(opened) => opened,
            Err(refusal) => return Step::Done(Err(refusal)),
        };
        let reply = received(&self.name, total);
        let note = format!("{}: stored {:?} ({total} B, in parts)", self.peer, self.name);
        let publish = Publish::new(storage, &file, staged, &self.name, self.replace, reply);
        Step::Next(Box::new(publish.keeping_staged().noting(note)))
    }
}

/// Writes the piece at `from`, cutting off anything staged after it; returns the staged
/// file, still open, and the bytes staged in all.
fn write_piece(
    storage: &Storage,
    name: &str,
    from: u64,
    bytes: &[u8],
) -> Result<(File, Staged, u64), Refusal> {
    let (mut file, staged) = storage.open_part(name)?;
    let appended = file
        .set_len(from)
        .and_then(|()| file.seek(SeekFrom::Start(from)))
        .and_then(|_| file.write_all(bytes));
    if let Err(e) = appended {
        // Leave exactly what was staged before, so `desde` stays true for a retry.
        let _ = file.set_len(from);
        return Err(storage::write_refusal(&e));
    }
    Ok((file, staged, from + bytes.len() as u64))
}
