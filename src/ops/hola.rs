//! `hola`: the protocol negotiation. A client asks for a version; the reply (written in
//! the protocol spoken so far) lists the operations and limits, and from the next frame
//! on the connection speaks the version asked for. An unknown version gets an error
//! listing the supported ones, and nothing changes.

use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::proto2::hola::{self, Version};
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

pub struct Hola {
    version: Version,
}

impl fmt::Display for Hola {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "versión {}", self.version.number())
    }
}

impl Operation<'_> for Hola {
    fn parse(req: &Request<'_>) -> Result<Self, Refusal> {
        let version = hola::version(&req.data)?;
        Ok(Hola { version })
    }

    fn run(self, _: &mut Context, caller: &Caller) -> Outcome {
        log::info!(
            "{}: speaks protocol {} from the next frame on",
            caller.peer,
            self.version.number()
        );
        Outcome::Switch(self.version)
    }
}
