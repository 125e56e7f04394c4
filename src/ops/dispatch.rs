//! From a frame's payload to its reply: decode, look the operation up in one table,
//! parse its arguments, run it, and turn its [`Outcome`] into chunks on the queue.
//!
//! This is also where the log tells the story of each request: one INFO line naming what
//! was asked, one more when it is refused (with the reason the client got), and a DEBUG
//! line when its reply is queued, with its size.

use super::context::Context;
use super::operation::Operation;
use super::{
    borrar, clientes, descargar, difundir, duplicar, listar, listar_detalle, mensaje, renombrar, resumen,
    subir, subir_parte, suscribir,
};
use crate::connection::{Flow, Handler};
use crate::message::{Memo, Request};
use crate::outbox::{Chunk, Outbox};
use crate::pickle::decode::get;
use crate::pickle::Value;
use crate::protocol::{self, Bad, Codec, Frame, Limits, ReplyTo};
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
    entry("resumen", false, |r, c, k| run::<resumen::Resumen>(r, c, k)),
];

const fn entry(name: &'static str, writes: bool, handle: Handle) -> Entry {
    Entry { name, writes, handle }
}

/// The names of every operation, in table order (the `hola` reply lists them).
pub fn operations() -> impl Iterator<Item = &'static str> {
    TABLE.iter().map(|e| e.name)
}

/// What `hola` tells a client the server knows: the table, and `hola` itself, which the
/// protocol layer answers before the table is looked at.
fn advertised() -> Vec<&'static str> {
    operations().chain(["hola"]).collect()
}

/// Parse, then run: the same two steps for every operation.
fn run<'r, O: Operation<'r>>(req: &'r Request<'_>, ctx: &mut Context, caller: &Caller) -> Outcome {
    match O::parse(req) {
        Ok(op) => {
            // Formatting costs an allocation: only when the line will be shown.
            if log::log_enabled!(log::Level::Info) {
                let args = op.to_string();
                let sep = if args.is_empty() { "" } else { " " };
                log::info!("{}: {}{sep}{args}", caller.peer, caller.op);
            }
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
    /// Decodes one request, runs it and queues what it gave back. A `hola` is the
    /// protocol layer's, not an operation's: it is answered here, and the connection
    /// switches codecs when it sees [`Flow::Switch`].
    fn handle(&mut self, codec: Codec, bytes: &[u8], frame: Frame, out: &mut Outbox) -> Flow {
        let limits = self.ctx.limits;
        let (req, to) = match codec.decode(bytes, frame, &limits, &mut self.ctx.memo) {
            Ok(decoded) => decoded,
            Err(bad) => {
                log::warn!(
                    "{}: pedido inválido ({} B): {}",
                    self.peer,
                    bytes.len(),
                    bad.mensaje
                );
                log::debug!("{}: bad request: {}", self.peer, bad.detail);
                push(out, self.peer, Chunk::bytes(bad.reply()));
                return Flow::Done;
            }
        };
        if let Some(negotiated) = protocol::negotiate(codec, &req, &to, advertised, &limits) {
            // Like every request, one INFO line says what was asked (and what came of it).
            log::info!(
                "{}: hola: protocol {:?} from the next frame on",
                self.peer,
                negotiated.next
            );
            push(out, self.peer, Chunk::bytes(negotiated.reply));
            if negotiated.next == codec {
                return Flow::Done;
            }
            // A subscriber's pushes follow the protocol its connection speaks.
            if let Some(peer) = self.ctx.peers.get_mut(self.id) {
                peer.subscribed = peer.subscribed.as_ref().map(|to| to.speaking(negotiated.next));
            }
            return Flow::Switch(negotiated.next);
        }
        let Some(entry) = TABLE.iter().find(|e| e.name == req.operacion) else {
            let op = truncate(&req.operacion, 64);
            log::info!("{}: unknown operation {op:?}", self.peer);
            let msg = format!("operación desconocida: {op}");
            push(out, self.peer, Chunk::bytes(to.error(&req.operacion, &msg)));
            return Flow::Done;
        };
        let caller = Caller {
            id: self.id,
            key: self.key,
            peer: self.peer,
            to,
            op: entry.name,
        };
        let outcome = match self.guard(entry, &req.data) {
            Err(WRONG_KEY) => {
                log::info!("{}: {} with a wrong key", self.peer, entry.name);
                self.ctx.wrong_key(&caller)
            }
            Err(why) => {
                log::info!("{}: {} not allowed", self.peer, entry.name);
                Outcome::refused(why)
            }
            Ok(()) => {
                if entry.writes && self.ctx.clave.is_some() {
                    self.ctx.right_key(self.id);
                }
                match self.folder_check(entry) {
                    Err(gone) => Outcome::Refused(gone),
                    Ok(()) => (entry.handle)(&req, self.ctx, &caller),
                }
            }
        };
        queue(outcome, &caller, out)
    }

    /// Operations on files are refused while the served folder is gone (removed, or
    /// swapped for a link): each says so, rather than listing nothing or serving
    /// another folder. Those that only involve other clients go on.
    fn folder_check(&self, entry: &Entry) -> Result<(), crate::storage::Refusal> {
        match entry.name {
            "suscribir" | "clientes" | "mensaje" => Ok(()),
            _ => self.ctx.storage.check_present(),
        }
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
            Some(_) => Err(WRONG_KEY),
            None => {
                Err("este servidor pide una clave para escribir: envíe data como diccionario con \"clave\"")
            }
        }
    }
}

/// The refusal of a write whose key is not the server's.
const WRONG_KEY: &str = "clave incorrecta";

/// Compares a key without stopping at the first difference, so the time taken does not
/// tell an attacker how much of a guess was right.
fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Turns an outcome into chunks on the queue.
fn queue(outcome: Outcome, caller: &Caller, out: &mut Outbox) -> Flow {
    let (to, op, peer) = (&caller.to, caller.op, caller.peer);
    match outcome {
        Outcome::Ok(data) => push(out, peer, Chunk::bytes(to.ok(op, &data))),
        Outcome::Refused(refusal) => {
            log::info!("{peer}: {op} refused: {}", refusal.mensaje);
            push(out, peer, Chunk::bytes(to.error(op, &refusal.mensaje)));
        }
        Outcome::Frame(frame) => push(out, peer, Chunk::shared(frame)),
        Outcome::Stream { file, offset, len } => match to.stream_parts(op, len) {
            Some((head, tail)) => {
                // The whole frame as the client reads it (length prefix included), so it
                // can be matched against what arrived; the file's share comes from disk.
                let whole = head.len() as u64 + len + tail.len() as u64;
                log::debug!("{peer}: reply queued ({whole} B, {len} of them from disk)");
                out.push(Chunk::bytes(head));
                out.push(Chunk::file(file, offset, len));
                out.push(Chunk::bytes(tail));
            }
            None => {
                let msg = "archivo demasiado grande para un mensaje; pida partes con desde y largo";
                push(out, peer, Chunk::bytes(to.error(op, msg)));
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

impl Handler for Dispatch<'_> {
    fn request(&mut self, codec: Codec, bytes: &[u8], frame: Frame, out: &mut Outbox) -> Flow {
        isolate_panics(self.peer, codec, out, |out| self.handle(codec, bytes, frame, out))
    }

    fn invalid(&mut self, bad: &Bad, out: &mut Outbox) {
        log::warn!("{}: {}; se cierra la conexión", self.peer, bad.mensaje);
        log::debug!("{}: unusable frame: {}", self.peer, bad.detail);
        push(out, self.peer, Chunk::bytes(bad.reply()));
    }
}

/// A bug in one request must not take every other client down with the process: a
/// panic becomes an error reply. (Fuzzing builds let panics through, so the fuzzer
/// still sees them.)
fn isolate_panics(
    peer: SocketAddr,
    codec: Codec,
    out: &mut Outbox,
    handle: impl FnOnce(&mut Outbox) -> Flow,
) -> Flow {
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
            log::error!("{peer}: un pedido hizo fallar al servidor; se le respondió con un error");
            // In the protocol the connection speaks: a protocol-2 client reads no pickle.
            let reply = ReplyTo::bare(codec).error("", "error interno del servidor");
            push(out, peer, Chunk::bytes(reply));
            Flow::Done
        }
    }
}

/// The handler for the last turn before shutdown: requests that already arrived are
/// answered with an error instead of being dropped, so no client waits for a reply that
/// will never come.
pub struct Farewell {
    pub limits: Limits,
    pub peer: SocketAddr,
}

/// What a client is told when its request arrives as the server closes.
pub const CLOSING: &str = "el servidor se está cerrando";

impl Handler for Farewell {
    fn request(&mut self, codec: Codec, bytes: &[u8], frame: Frame, out: &mut Outbox) -> Flow {
        let reply = match codec.decode(bytes, frame, &self.limits, &mut Memo::default()) {
            Ok((req, to)) => to.error(&req.operacion, CLOSING),
            Err(bad) => bad.to.error(&bad.operacion, CLOSING),
        };
        push(out, self.peer, Chunk::bytes(reply));
        Flow::Done
    }

    fn invalid(&mut self, bad: &Bad, out: &mut Outbox) {
        push(
            out,
            self.peer,
            Chunk::bytes(bad.to.error(&bad.operacion, CLOSING)),
        );
    }
}

/// At most `max` characters of `s`.
pub fn truncate(s: &str, max: usize) -> &str {
    match s.char_indices().nth(max) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Check;

    /// A request that panics is answered with an error in the protocol its connection
    /// speaks, and nothing it pushed before the panic is left half-queued.
    #[test]
    fn a_panicking_request_gets_an_error_in_its_own_protocol() {
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        let codecs = [
            Codec::Course,
            #[cfg(feature = "proto2")]
            Codec::V2,
        ];
        for codec in codecs {
            let mut out = Outbox::default();
            let flow = isolate_panics(peer, codec, &mut out, |out| {
                out.push(Chunk::bytes(vec![0, 0, 0, 9, 1]));
                panic!("a bug in one request");
            });
            assert_eq!(flow, Flow::Done);
            assert_eq!(out.len(), 1, "only the error reply is queued");
            let mut wire = Vec::new();
            while !out.is_empty() {
                out.write_to(&mut Sink(&mut wire), usize::MAX).unwrap();
            }
            let limits = Limits::default();
            let Check::Complete(frame) = codec.check(&wire, &limits) else {
                panic!("{codec:?}: the reply is one whole frame")
            };
            let (reply, _) = codec
                .decode(&wire, frame, &limits, &mut Memo::default())
                .expect("the reply decodes in the connection's protocol");
            assert_eq!(reply.estado, Value::String("error".into()));
            assert_eq!(reply.data, Value::String("error interno del servidor".into()));
        }
    }

    /// A socket that takes every byte.
    struct Sink<'a>(&'a mut Vec<u8>);

    impl std::io::Read for Sink<'_> {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Ok(0)
        }
    }

    impl std::io::Write for Sink<'_> {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl crate::outbox::Transport for Sink<'_> {}
}
