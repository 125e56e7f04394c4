//! `borrar`: deletes a file. Downloads already under way finish: they hold the file open,
//! and on Unix an open file lives on until its last reader closes it.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

pub struct Borrar<'r> {
    name: &'r str,
}

impl fmt::Display for Borrar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)
    }
}

impl<'r> Operation<'r> for Borrar<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        let name = args::name_or_dict(&req.data)?;
        Ok(Borrar { name })
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let deleted = ctx
            .locks
            .check_free(self.name, caller.id)
            .and_then(|()| ctx.storage.remove(self.name));
        if let Err(refusal) = deleted {
            return Outcome::Refused(refusal);
        }
        ctx.changed();
        ctx.copy_hints.released(self.name);
        log::info!("{}: deleted {:?}", caller.peer, self.name);
        // The reply waits until the folder is on the disk without the name.
        let reply = Data::dict([("nombre", Data::str(self.name))]);
        ctx.settle(reply, self.name, caller)
    }
}
