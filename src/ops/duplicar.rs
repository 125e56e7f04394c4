//! `duplicar`: copies a file under a new name.
//!
//! Copying 4 GiB takes seconds, and this server has one thread: a copy done in one go
//! would freeze every other client. So a copy becomes a job (`jobs::FileCopy`) that the
//! loop advances a slice at a time, and the reply is promised until it is done and on
//! the disk. (Even a small copy waits for the disk, so every copy is a job.)

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::copy_name;
use crate::jobs::{FileCopy, Job};
use crate::message::Request;
use crate::reply::{Caller, Outcome};
use crate::storage::{self, Refusal};
use std::fmt;

pub struct Duplicar<'r> {
    name: &'r str,
    /// The copy's name; by default `poema (copia).txt` and so on.
    new: Option<&'r str>,
}

impl fmt::Display for Duplicar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)?;
        if let Some(new) = self.new {
            write!(f, " a {new:?}")?;
        }
        Ok(())
    }
}

impl<'r> Operation<'r> for Duplicar<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        let name = args::name_or_dict(&req.data)?;
        let new = match args::field(&req.data, "nuevo") {
            Some(_) => Some(args::name(&req.data, "nuevo")?),
            None => None,
        };
        Ok(Duplicar { name, new })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let copy = match self.start(ctx, caller) {
            Ok(copy) => copy,
            Err(refusal) => return Outcome::Refused(refusal),
        };
        let target = copy.holds().map(str::to_string).unwrap_or_default();
        log::debug!(
            "{}: copying {} B to {target:?} between events",
            caller.peer,
            copy.size()
        );
        ctx.locks.hold(&target, caller.id);
        ctx.submit(Box::new(copy), caller)
    }
}

impl Duplicar<'_> {
    fn start(&self, ctx: &mut Context, caller: &Caller) -> Result<FileCopy, Refusal> {
        ctx.locks.check_free(self.name, caller.id)?;
        let (src, _) = ctx.storage.open_file(self.name)?;
        let target = match self.new {
            Some(n) => {
                ctx.locks.check_free(n, caller.id)?;
                if ctx.storage.is_taken(n) {
                    return Err(storage::exists(n));
                }
                n.to_string()
            }
            None => {
                let (storage, locks) = (&ctx.storage, &ctx.locks);
                let taken = |n: &str| storage.is_taken(n) || locks.is_held(n);
                copy_name::free_copy_name(self.name, taken, &mut ctx.copy_hints)?
            }
        };
        FileCopy::start(&ctx.storage, self.name, src, &target)
            .inspect_err(|_| ctx.copy_hints.released(&target))
    }
}
