//! `subir`: a whole file in one request. The bytes go to a hidden temporary file first and
//! are published with one atomic step, so nobody ever sees half of them; the reply waits
//! until the file and its name are on the disk (`jobs::Publish`), so an "ok" survives a
//! power cut.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::digest::{self, Sum};
use crate::jobs::Publish;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::{self, Refusal, Storage};
use std::fmt;
use std::io::Write;

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
        // Another whole upload (or a copy, a rename) of this name is on its way to the
        // disk: it will end by itself, so this one waits its turn instead of being
        // refused, and its own rule applies once the name is free.
        let wait = ctx.locks.held_by_job(self.name, caller.id) || ctx.is_queued(self.name);
        match store(ctx, &self, caller, wait) {
            Ok(publish) => {
                let note = format!(
                    "{}: stored {:?} ({} B)",
                    caller.peer,
                    self.name,
                    self.content.len()
                );
                let job = Box::new(publish.noting(note));
                if wait {
                    return ctx.submit_after(self.name, self.replace, job, caller);
                }
                ctx.locks.hold(self.name, caller.id);
                ctx.submit(job, caller)
            }
            Err(refusal) => Outcome::Refused(refusal),
        }
    }
}

/// Checks the upload and writes it to staging; what is left is the disk's word and the
/// publishing, in a job. With `wait`, the name is someone else's until their job ends:
/// whether it is taken is asked then, not now.
fn store(ctx: &mut Context, up: &Subir<'_>, caller: &Caller, wait: bool) -> Result<Publish, Refusal> {
    if !wait {
        ctx.locks.check_free(up.name, caller.id)?;
    }
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
    if !wait && !up.replace && ctx.storage.is_taken(up.name) {
        return Err(args::exists_hint(up.name, &caller.to));
    }
    let reply = Data::dict([
        ("nombre", Data::str(up.name)),
        ("bytes", Data::Int(up.content.len() as i64)),
    ]);
    write_new(&ctx.storage, up.name, up.content, up.replace, reply)
}

/// Writes `content` to a temporary file, to be published as `name` once it is on the
/// disk; if the write fails the temporary file is removed and the folder is as it was.
fn write_new(
    storage: &Storage,
    name: &str,
    content: &[u8],
    replace: bool,
    reply: Data,
) -> Result<Publish, Refusal> {
    let (mut file, staged) = storage.temp_file()?;
    match file.write_all(content) {
        Ok(()) => Ok(Publish::new(storage, &file, staged, name, replace, reply)),
        Err(e) => {
            staged.discard();
            Err(storage::write_refusal(&e))
        }
    }
}
