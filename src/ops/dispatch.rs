//! From a frame's payload to its reply: decode, look the operation up in one table,
//! parse its arguments, run it, and turn its [`Outcome`] into chunks on the queue.
//!
//! This is also where the log tells the story of each request: one INFO line naming what
//! was asked, one more when it is refused (with the reason the client got), and a DEBUG
//! line when its reply is queued, with its size.

use super::context::Context;
use super::operation::Operation;
use super::{
    borrar, clientes, descargar, difundir, duplicar, listar, listar_detalle, mensaje, renombrar, subir,
    subir_parte, suscribir,
};
use crate::connection::{Flow, Handler};
use crate::message::{self, Request};
use crate::outbox::{Chunk, Outbox};
use crate::pickle::decode::get;
use crate::pickle::{Envelope, Value};
use crate::reply::{Caller, Outcome};
use std::net::SocketAddr;

/// Parses and runs one operation.
type Handle = for<'r, 'p> fn(&'r Request<'p>, &mut Context, &Caller) -> Outcome;

/// One row of the table.
struct Entry {
    name: &'static str,
    /// It changes the folder: refused with `--read-only`, and needs the key when one is set.
    writes: bool,
    handle: Handle,
}

/// Every operation, by the `operacion` that asks for it.
const TABLE: &[Entry] = &[
    entry("listar", false, |r, c, k| run::<listar::Listar>(r, c, k)),
    entry("listar_detalle", false, |r, c, k| {
        run::<listar_detalle::ListarDetalle>(r, c, k)
    }),
    entry("descargar", false, |r, c, k| run::<descargar::Descargar>(r, c, k)),
    entry("subir", true, |r, c, k| run::<subir::Subir>(r, c, k)),
    entry("subir_parte", true, |r, c, k| {
        run::<subir_parte::SubirParte>(r, c, k)
    }),
    entry("duplicar", true, |r, c, k| run::<duplicar::Duplicar>(r, c, k)),
    entry("borrar", true, |r, c, k| run::<borrar::Borrar>(r, c, k)),
    entry("renombrar", true, |r, c, k| run::<renombrar::Renombrar>(r, c, k)),
    entry("suscribir", false, |r, c, k| run::<suscribir::Suscribir>(r, c, k)),
    entry("clientes", false, |r, c, k| run::<clientes::Clientes>(r, c, k)),
    entry("difundir", false, |r, c, k| run::<difundir::Difundir>(r, c, k)),
    entry("mensaje", false, |r, c, k| run::<mensaje::Mensaje>(r, c, k)),
];

const fn entry(name: &'static str, writes: bool, handle: Handle) -> Entry {
    Entry { name, writes, handle }
}

/// The names of every operation, in table order.
pub fn operations() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|e| e.name)
}

/// Parse, then run: the same two steps for every operation.
fn run<'r, O: Operation<'r>>(req: &'r Request<'_>, ctx: &mut Context, caller: &Caller) -> Outcome {
    match O::parse(req) {
        Ok(op) => {
            log::info!("{}: {} {op}", caller.peer, caller.op);
            op.run(ctx, caller)
        }
        Err(refusal) => {
            log::info!("{}: {} with bad arguments", caller.peer, caller.op);
            Outcome::Refused(refusal)
        }
    }
}

/// The `Handler` the server gives each connection.
pub struct Dispatch<'a> {
    pub ctx: &'a mut Context,
    /// The connection's id and slab key.
    pub id: u64,
    pub key: usize,
    pub peer: SocketAddr,
}

impl Dispatch<'_> {
    /// Decodes one request, runs it and queues what it gave back.
    fn handle(&mut self, payload: &[u8], out: &mut Outbox) -> Flow {
        let req = match self.ctx.memo.parse(payload, self.ctx.pickle_limits) {
            Ok(req) => req,
            Err(bad) => {
                log::warn!("{}: bad request ({} B): {}", self.peer, payload.len(), bad.detail);
                log::info!("{}: refused: {}", self.peer, bad.mensaje);
                queue_error(out, self.peer, &bad.envelope, &bad.operacion, &bad.mensaje);
                return Flow::Done;
            }
        };
        let Some(entry) = TABLE.iter().find(|e| e.name == req.operacion) else {
            let op = truncate(&req.operacion, 64);
            log::info!("{}: unknown operation {op:?}", self.peer);
            let msg = format!("operación desconocida: {op}");
            queue_error(out, self.peer, &req.envelope, &req.operacion, &msg);
            return Flow::Done;
        };
        let caller = Caller {
            id: self.id,
            key: self.key,
            peer: self.peer,
            envelope: req.envelope.clone(),
            op: entry.name,
        };
        let outcome = match self.guard(entry, &req.data) {
            Err(why) => {
                log::info!("{}: {} not allowed", self.peer, entry.name);
                Outcome::refused(why)
            }
            Ok(()) => (entry.handle)(&req, self.ctx, &caller),
        };
        queue(outcome, &caller, out)
    }

    /// Writes are refused in read-only mode, and need the key when one is set.
    fn guard(&self, entry: &Entry, data: &Value) -> Result<(), &'static str> {
        if !entry.writes {
            return Ok(());
        }
        if self.ctx.read_only {
            return Err("el servidor está en modo solo lectura");
        }
        let Some(key) = &self.ctx.clave else {
            return Ok(());
        };
        match get(data, "clave") {
            Some(Value::String(given)) if same_secret(given.as_bytes(), key.as_bytes()) => Ok(()),
            Some(_) => Err("clave incorrecta"),
            None => {
                Err("este servidor pide una clave para escribir: envíe data como diccionario con \"clave\"")
            }
        }
    }
}

/// Compares a key without stopping at the first difference, so the time taken does not
/// tell an attacker how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Turns an outcome into chunks on the queue.
fn queue(outcome: Outcome, caller: &Caller, out: &mut Outbox) -> Flow {
    let (env, op, peer) = (&caller.envelope, caller.op, caller.peer);
    match outcome {
        Outcome::Ok(data) => push(out, peer, Chunk::bytes(message::ok(env, op, &data))),
        Outcome::Refused(refusal) => {
            log::info!("{peer}: {op} refused: {}", refusal.mensaje);
            queue_error(out, peer, env, op, &refusal.mensaje);
        }
        Outcome::Frame(frame) => push(out, peer, Chunk::shared(frame)),
        Outcome::Stream { file, offset, len } => match message::stream_parts(env, op, len) {
            Some((head, tail)) => {
                log::debug!("{peer}: reply queued ({len} B from disk, streamed)");
                out.push(Chunk::bytes(head));
                out.push(Chunk::file(file, offset, len));
                out.push(Chunk::bytes(tail));
            }
            None => {
                let msg = "archivo demasiado grande para un mensaje; pida partes con desde y largo";
                queue_error(out, peer, env, op, msg);
            }
        },
        Outcome::Later => {
            log::debug!("{peer}: {op} reply promised; later requests wait their turn");
            return Flow::Wait;
        }
    }
    Flow::Done
}

fn push(out: &mut Outbox, peer: SocketAddr, chunk: Chunk) {
    log::debug!("{peer}: reply queued ({} B)", chunk.memory());
    out.push(chunk);
}

/// Queues an error reply.
fn queue_error(out: &mut Outbox, peer: SocketAddr, env: &Envelope, op: &str, mensaje: &str) {
    push(out, peer, Chunk::bytes(message::error(env, op, mensaje)));
}

impl Handler for Dispatch<'_> {
    fn request(&mut self, payload: &[u8], out: &mut Outbox) -> Flow {
        isolate_panics(self.peer, out, |out| self.handle(payload, out))
    }

    fn too_large(&mut self, len: u64, out: &mut Outbox) {
        let max = self.ctx.max_frame;
        log::warn!(
            "{}: frame of {len} B is over the {max} B limit; closing",
            self.peer
        );
        let msg = format!("mensaje demasiado grande ({len} bytes; el máximo es {max}); use subir_parte");
        queue_error(out, self.peer, &Envelope::course(), "", &msg);
    }
}

/// A bug in one request must not take every other client down with the process: a
/// panic becomes an error reply. (Fuzzing builds let panics through, so the fuzzer
/// still sees them.)
fn isolate_panics(peer: SocketAddr, out: &mut Outbox, handle: impl FnOnce(&mut Outbox) -> Flow) -> Flow {
    if cfg!(fuzzing) {
        return handle(out);
    }
    // Handlers only ever push whole frames at the back; on a panic, whatever this
    // request pushed is taken back off, so no half frame is left behind.
    let before = out.len();
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handle(&mut *out))) {
        Ok(flow) => flow,
        Err(_) => {
            out.truncate(before);
            log::error!("{peer}: a request made the server panic; answered with an error");
            queue_error(out, peer, &Envelope::course(), "", "error interno del servidor");
            Flow::Done
        }
    }
}

/// The handler for the last turn before shutdown: requests that already arrived are
/// answered with an error instead of being dropped, so no client waits for a reply that
/// will never come.
pub struct Farewell {
    pub limits: crate::pickle::Limits,
    pub peer: SocketAddr,
}

/// What a client is told when its request arrives as the server closes.
pub const CLOSING: &str = "el servidor se está cerrando";

impl Handler for Farewell {
    fn request(&mut self, payload: &[u8], out: &mut Outbox) -> Flow {
        let (env, op) = match message::parse(payload, self.limits) {
            Ok(req) => (req.envelope, req.operacion),
            Err(bad) => (bad.envelope, bad.operacion),
        };
        queue_error(out, self.peer, &env, &op, CLOSING);
        Flow::Done
    }

    fn too_large(&mut self, _len: u64, out: &mut Outbox) {
        queue_error(out, self.peer, &Envelope::course(), "", CLOSING);
    }
}

/// At most `max` characters of `s`.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}
