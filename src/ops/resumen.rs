//! `resumen`: a file's size, modification time and SHA-256, so a client can check that
//! what it downloaded (or what the server holds of an upload) is exactly the file. The
//! digest of a big file is computed a slice at a time between events, and remembered
//! until the file changes.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::jobs::Summary;
use crate::message::Request;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

/// Files up to this size are hashed inside the request (about a millisecond).
const INLINE: u64 = 1024 * 1024;

pub struct Resumen<'r> {
    name: &'r str,
}

impl fmt::Display for Resumen<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)
    }
}

impl<'r> Operation<'r> for Resumen<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        let name = args::name_or_dict(&req.data)?;
        Ok(Resumen { name })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let (file, size) = match ctx.storage.open_file(self.name) {
            Ok(f) => f,
            Err(refusal) => return Outcome::Refused(refusal),
        };
        match Summary::of(self.name, file, &ctx.digests) {
            Err(refusal) => Outcome::Refused(refusal),
            Ok(Ok(known)) => Outcome::Ok(known),
            Ok(Err(job)) if size <= INLINE => ctx.run_now(Box::new(job)),
            Ok(Err(job)) => ctx.submit(Box::new(job), caller),
        }
    }
}
