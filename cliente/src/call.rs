//! What every operation speaks through: the `Call` trait that carries one request, the
//! frame that comes back (`Msg`), and why a call failed (`Failure`).
//!
//! These few types are shared by the connection, the operations and the push handling,
//! so they live in a module of their own below all three: each of those imports from
//! here, and nothing here imports from them.

use super::spill::Spill;
use almacen::pickle::{Data, Value};
use almacen::spanish::io_error;
use std::fmt;
use std::io;
use std::path::Path;

/// Why an operation did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with `estado="error"`; this is its message.
    Server(String),
    /// The server's answer never came, or is not what an almacen server says: it may be
    /// another kind of server.
    Reply(String),
    /// The connection could not be made, or was lost.
    Link(String),
    /// A problem on this side: a local file, or how the command was asked.
    Local(String),
}

impl Failure {
    /// The process exit code for it: 1 when the server refused or did not answer as
    /// almacen does, 2 when we could not ask at all.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Server(_) | Failure::Reply(_) => 1,
            Failure::Link(_) | Failure::Local(_) => 2,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Server(m) | Failure::Reply(m) | Failure::Link(m) | Failure::Local(m) => f.write_str(m),
        }
    }
}

/// What almacen says when it shuts down cleanly: its `cierre` push, and its answer to a
/// request that arrives meanwhile.
pub const SERVER_CLOSING: &str = "el servidor se está cerrando";

/// True when the failure is the server's own word that it is shutting down, not a crash.
pub fn is_server_closing(failure: &Failure) -> bool {
    matches!(failure, Failure::Server(m) if m.contains(SERVER_CLOSING))
}

/// What a server that stayed silent to `hola` still answers: all the course asks of it.
pub const BASIC_OPS: [&str; 2] = ["listar", "descargar"];

/// What `what` (a command, or an operation) meets on a server like the course's: one
/// line that names what is missing and what there is. Nothing was sent, so it is a
/// `Local` failure, and the menu goes on after it.
pub fn lacks(what: &str) -> Failure {
    Failure::Local(format!(
        "este servidor no ofrece {what}: es como el servidor del curso, que solo tiene \
         listar y descargar"
    ))
}

/// Refuses, before sending, an operation a `basic` server would leave unanswered (it
/// would wait in silence until `--espera` ran out).
pub fn check_basic(basic: bool, operacion: &str) -> Result<(), Failure> {
    if basic && !BASIC_OPS.contains(&operacion) {
        return Err(lacks(operacion));
    }
    Ok(())
}

/// A local file problem, naming the file, in Spanish words.
pub fn local_io(path: &Path, e: &io::Error) -> Failure {
    Failure::Local(format!("{}: {}", path.display(), io_error(e)))
}

/// One decoded frame from the server.
#[derive(Debug)]
pub struct Msg {
    pub operacion: String,
    pub data: Value,
    /// "ok" or "error" (empty if the server sent something else).
    pub estado: String,
    /// The large bytes value of `data` (left empty in `data`), when it went to disk.
    pub spill: Option<Spill>,
    /// Protocol 2 says whether a frame is a push (`"aviso": true`); the course's protocol
    /// does not (None), and pushes are told apart by their shape.
    pub aviso: Option<bool>,
}

impl Msg {
    /// The reply's data when `estado` is "ok"; the server's message otherwise.
    pub fn into_ok(self) -> Result<Value, Failure> {
        if self.estado == "ok" {
            return Ok(self.data);
        }
        match self.data {
            Value::String(text) => Err(Failure::Server(text)),
            other => Err(Failure::Server(format!("el servidor respondió error: {other:?}"))),
        }
    }
}

/// Anything that can carry one request and bring back its reply.
pub trait Call {
    /// Sends `operacion` with `data` and returns the reply, after routing any pushes
    /// that arrive before it.
    fn call(&mut self, operacion: &str, data: Data) -> Result<Msg, Failure>;

    /// The write key to send with writes, if any.
    fn clave(&self) -> Option<&str>;

    /// True when the connection speaks protocol 2 (the server checks sha256 then).
    fn protocol2(&self) -> bool;

    /// True when the server is like the course's: it stayed silent to `hola`, and only
    /// answers `listar` and `descargar` (whole files).
    fn basic(&self) -> bool;

    /// Like [`Call::call`], keeping only an ok reply's data.
    fn ask(&mut self, operacion: &str, data: Data) -> Result<Value, Failure> {
        self.call(operacion, data)?.into_ok()
    }
}
