//! What every operation shares: who asked ([`Caller`]), and the one shape of an answer
//! ([`Outcome`]). Nothing here knows any operation by name.

use crate::pickle::Data;
use crate::protocol::ReplyTo;
use crate::storage::Refusal;
use std::fs::File;
use std::net::SocketAddr;
use std::rc::Rc;

/// Who sent the request being handled, and how its reply must be wrapped.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The connection's id (never reused; slab keys are).
    pub id: u64,
    /// Its slab key, for replies delivered later.
    pub key: usize,
    pub peer: SocketAddr,
    /// How to write the reply: the course's pickle in the request's class (or a dict),
    /// or protocol 2 echoing the request's id.
    pub to: ReplyTo,
    /// The operation asked for, echoed in the reply.
    pub op: &'static str,
}

/// What an operation hands back. The dispatcher turns it into bytes on the wire, so an
/// operation never builds frames or touches a queue.
#[derive(Debug)]
pub enum Outcome {
    /// `estado="ok"` with this `data`.
    Ok(Data),
    /// `estado="error"` with a short Spanish message.
    Refused(Refusal),
    /// A reply already encoded and shared (a cached listing): queued as is.
    Frame(Rc<Vec<u8>>),
    /// `estado="ok"` whose `data` is `len` bytes of `file` from `offset`, streamed from
    /// disk as the socket drains.
    Stream { file: Rc<File>, offset: u64, len: u64 },
    /// The reply comes later, from a job the loop advances between events.
    Later,
}

impl Outcome {
    /// An error reply with `mensaje`.
    pub fn refused(mensaje: impl Into<String>) -> Outcome {
        Outcome::Refused(Refusal::new(mensaje))
    }
}

impl From<Result<Data, Refusal>> for Outcome {
    fn from(r: Result<Data, Refusal>) -> Outcome {
        match r {
            Ok(data) => Outcome::Ok(data),
            Err(refusal) => Outcome::Refused(refusal),
        }
    }
}

impl From<String> for Refusal {
    fn from(mensaje: String) -> Refusal {
        Refusal::new(mensaje)
    }
}

impl From<&str> for Refusal {
    fn from(mensaje: &str) -> Refusal {
        Refusal::new(mensaje)
    }
}
