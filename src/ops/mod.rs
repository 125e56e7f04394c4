//! Operations: one file per `operacion`, and the dispatcher that picks one for a request.
//!
//! An operation gets the decoded request and queues exactly one reply. It never touches
//! sockets or the event loop, so it can be tested with nothing but a folder.

mod descargar;
mod listar;

use crate::connection::Handler;
use crate::message::{self, Request};
use crate::outbox::{Chunk, Outbox};
use crate::pickle::{Envelope, Limits};
use crate::storage::Storage;
use std::net::SocketAddr;

/// Server-wide state the operations share.
pub struct Context {
    pub storage: Storage,
    pub pickle_limits: Limits,
    /// The largest frame a client may send (for the log line when one is refused).
    pub max_frame: usize,
    /// The last `listar` reply, reused until the folder changes.
    pub list_cache: listar::Cache,
}

impl Context {
    pub fn new(storage: Storage, max_frame: usize) -> Context {
        Context {
            storage,
            pickle_limits: Limits::default(),
            max_frame,
            list_cache: listar::Cache::default(),
        }
    }
}

/// The `Handler` the server gives each connection: it decodes, dispatches and logs.
pub struct Dispatch<'a> {
    pub ctx: &'a mut Context,
    pub peer: SocketAddr,
}

impl Handler for Dispatch<'_> {
    fn request(&mut self, payload: &[u8], out: &mut Outbox) {
        match message::parse(payload, self.ctx.pickle_limits) {
            Ok(req) => run(&req, self.ctx, self.peer, out),
            Err(bad) => {
                log::warn!(
                    "{}: bad request ({} bytes): {}",
                    self.peer,
                    payload.len(),
                    bad.detail
                );
                reply_error(out, &bad.envelope, &bad.operacion, &bad.mensaje);
            }
        }
    }

    fn too_large(&mut self, len: u64, out: &mut Outbox) {
        log::warn!(
            "{}: frame of {len} bytes is over the {} byte limit; closing",
            self.peer,
            self.ctx.max_frame
        );
        let msg = format!("mensaje demasiado grande ({len} bytes)");
        reply_error(out, &Envelope::course(), "", &msg);
    }
}

/// Runs one request.
pub fn run(req: &Request, ctx: &mut Context, peer: SocketAddr, out: &mut Outbox) {
    log::info!("{peer}: {}", describe(req));
    match req.operacion.as_str() {
        "listar" => listar::run(req, ctx, out),
        "descargar" => descargar::run(req, ctx, out),
        other => {
            let msg = format!("operación desconocida: {}", truncate(other, 64));
            reply_error(out, &req.envelope, &req.operacion, &msg);
        }
    }
}

/// Queues an error reply.
pub fn reply_error(out: &mut Outbox, env: &Envelope, operacion: &str, mensaje: &str) {
    out.push(Chunk::bytes(message::error(env, operacion, mensaje)));
}

/// A short, safe, one-line description of a request for the log.
fn describe(req: &Request) -> String {
    use crate::pickle::Value;
    let data = match &req.data {
        Value::None => String::new(),
        Value::String(s) => format!(" {:?}", truncate(s, 80)),
        Value::Bytes(b) => format!(" <{} bytes>", b.len()),
        Value::Dict(d) => format!(" <dict of {}>", d.len()),
        other => format!(" <{}>", kind(other)),
    };
    format!("{}{}", truncate(&req.operacion, 64), data)
}

fn kind(v: &crate::pickle::Value) -> &'static str {
    use crate::pickle::Value;
    match v {
        Value::None => "None",
        Value::Bool(_) => "bool",
        Value::I64(_) | Value::Int(_) => "int",
        Value::F64(_) => "float",
        Value::Bytes(_) => "bytes",
        Value::String(_) => "str",
        Value::List(_) => "list",
        Value::Tuple(_) => "tuple",
        Value::Set(_) | Value::FrozenSet(_) => "set",
        Value::Dict(_) => "dict",
    }
}

/// At most `max` characters of `s`.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
