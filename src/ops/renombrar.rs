//! `renombrar`: gives a file a new name, never over an existing one.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

pub struct Renombrar<'r> {
    name: &'r str,
    new: &'r str,
}

impl fmt::Display for Renombrar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} a {:?}", self.name, self.new)
    }
}

impl<'r> Operation<'r> for Renombrar<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        args::dict(&req.data, "nombre y nuevo")?;
        Ok(Renombrar {
            name: args::name(&req.data, "nombre")?,
            new: args::name(&req.data, "nuevo")?,
        })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let renamed = ctx
            .locks
            .check_free(self.name, caller.id)
            .and_then(|()| ctx.locks.check_free(self.new, caller.id))
            .and_then(|()| ctx.storage.rename(self.name, self.new));
        if let Err(refusal) = renamed {
            return Outcome::Refused(refusal);
        }
        ctx.changed();
        ctx.copy_hints.released(self.name);
        log::info!("{}: renamed {:?} to {:?}", caller.peer, self.name, self.new);
        // The reply waits until the folder is on the disk with the new name.
        let reply = Data::dict([("nombre", Data::str(self.new))]);
        ctx.settle(reply, self.new, caller)
    }
}
