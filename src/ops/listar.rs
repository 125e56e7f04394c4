//! `listar`: the names in the folder, as a list of str.

use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::Data;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::time::Instant;

// `listar` takes no arguments (whatever `data` holds is ignored, as the course's
// server does).
crate::no_arguments!(Listar);

impl Operation<'_> for Listar {
    fn parse(_: &Request<'_>) -> Result<Self, Refusal> {
        Ok(Listar)
    }

    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome {
        let now = Instant::now();
        if let Some(frame) = ctx.listing.get(&ctx.storage, &caller.to, caller.op, now) {
            log::debug!("{}: listar answered from the remembered listing", caller.peer);
            return Outcome::Frame(frame);
        }
        // The stamp is read before the folder, so a change made while we read shows up as
        // a different stamp next time, never as a stale listing trusted forever.
        let stamp = ctx.storage.stamp();
        let listed = match ctx.storage.list() {
            Ok(listed) => listed,
            Err(e) => {
                return ctx.unreadable_folder(&e);
            }
        };
        let names = Data::List(listed.names.into_iter().map(Data::Str).collect());
        if ctx.listing.store(stamp, names.clone(), listed.links, now) {
            if let Some(frame) = ctx.listing.get(&ctx.storage, &caller.to, caller.op, now) {
                return Outcome::Frame(frame);
            }
        }
        Outcome::Ok(names)
    }
}
