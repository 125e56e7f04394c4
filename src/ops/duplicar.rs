//! `duplicar`: copies a file under a new name.
//!
//! Copying 4 GiB takes seconds, and this server has one thread: a copy done in one go
//! would freeze every other client. So a big copy becomes a job (`jobs::FileCopy`) that
//! the loop advances a slice at a time, and the reply is promised until it is done.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::copy_name;
use crate::jobs::{FileCopy, Job};
use crate::message::Request;
use crate::reply::{Caller, Outcome};
use crate::storage::{self, Refusal};
use std::fmt;

/// Files up to this size are copied inside the request, and answered at once.
const INLINE: u64 = 1024 * 1024;

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
        if copy.size() > INLINE {
            log::debug!(
                "{}: copying {} B to {target:?} between events",
                caller.peer,
                copy.size()
            );
            ctx.locks.hold(&target, caller.id);
            return ctx.submit(Box::new(copy), caller);
        }
        // Small files: a step or two does it, so reply at once.
        let outcome = ctx.run_now(Box::new(copy));
        match &outcome {
            Outcome::Ok(_) => ctx.changed(),
            _ => ctx.copy_hints.released(&target),
        }
        outcome
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
