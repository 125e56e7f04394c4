//! The one shape of every operation: read the request's `data` into the operation's own
//! arguments (`parse`), then do it (`run`). The dispatcher knows nothing else about them.

use super::context::Context;
use crate::message::Request;
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;

/// One `operacion`. Its `Display` says what was asked for, for the log's one line per
/// request (`descargar "poema.txt"`, `subir_parte "video.mp4" desde 4194304 (4.0 MiB)`).
pub trait Operation<'r>: Sized + fmt::Display {
    /// The arguments, checked, or a Spanish message saying what is wrong with them.
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal>;
    /// Does it. Other connections are reached only through `ctx`.
    fn run(self, ctx: &mut Context, caller: &Caller) -> Outcome;
}

/// Declares an operation that takes no arguments: a unit struct whose log line adds
/// nothing after the operation's name.
#[macro_export]
macro_rules! no_arguments {
    ($name:ident) => {
        pub struct $name;

        impl std::fmt::Display for $name {
            fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                Ok(())
            }
        }
    };
}
