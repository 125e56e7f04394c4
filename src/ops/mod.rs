//! Operations: one file per `operacion`, and the dispatcher that picks one for a request.
//!
//! An operation gets the decoded request and queues exactly one reply (or, for work that
//! takes longer than one turn of the loop, promises one). It never touches sockets or the
//! event loop: what it does to other connections it leaves in `Context` for the loop to
//! deliver, so each can be tested with nothing but a folder.

mod args;
mod borrar;
mod clientes;
mod descargar;
mod difundir;
mod duplicar;
mod listar;
mod listar_detalle;
mod mensaje;
mod renombrar;
mod subir;
mod subir_parte;
mod suscribir;

use crate::connection::{Flow, Handler};
use crate::message::{self, Request};
use crate::outbox::{Chunk, Outbox};
use crate::peers::{Peers, Push};
use crate::pickle::{Data, Envelope, Limits};
use crate::storage::{Refusal, Storage};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub use duplicar::Copy;

/// Server-wide state the operations share.
pub struct Context {
    pub storage: Storage,
    pub pickle_limits: Limits,
    /// The largest frame a client may send (for the log line when one is refused).
    pub max_frame: usize,
    /// Refuse every operation that writes.
    pub read_only: bool,
    /// The last `listar` reply, reused until the folder changes.
    pub list_cache: listar::Cache,
    /// Who is connected, and who subscribed.
    pub peers: Peers,
    /// Names being written by someone (an upload in parts, a copy).
    pub busy: HashMap<String, Busy>,
    /// Frames for other connections, for the loop to queue after this turn.
    pub pushes: Vec<Push>,
    /// Copies in progress, advanced a slice at a time between events, in turn.
    pub copies: VecDeque<Copy>,
    /// Replies promised with `Flow::Wait` that are now ready, for the loop to deliver.
    pub finished: Vec<Finished>,
}

/// A name someone is writing.
#[derive(Debug, Clone, Copy)]
pub struct Busy {
    /// The writer's connection id.
    pub owner: u64,
    /// When the writer last sent a part (`None` for a copy, which never goes quiet).
    pub touched: Option<Instant>,
}

/// An upload in parts whose writer sent nothing for this long gives up its name: its
/// connection may be dead without the server knowing (a cable pulled, a laptop closed),
/// and someone else may then resume it from what is staged.
pub const PARTS_IDLE: Duration = Duration::from_secs(120);

/// A promised reply, ready: the loop queues it and resumes the connection.
pub struct Finished {
    pub key: usize,
    pub id: u64,
    pub reply: Vec<u8>,
}

impl Context {
    pub fn new(storage: Storage, max_frame: usize) -> Context {
        Context {
            storage,
            pickle_limits: Limits::default(),
            max_frame,
            read_only: false,
            list_cache: listar::Cache::default(),
            peers: Peers::default(),
            busy: HashMap::new(),
            pushes: Vec::new(),
            copies: VecDeque::new(),
            finished: Vec::new(),
        }
    }

    /// A connection left: release what it held (its id, the names it was writing, its
    /// copies in progress). Staged parts of an upload stay, so it can be resumed.
    pub fn forget(&mut self, id: u64) {
        self.peers.leave(id);
        self.busy.retain(|_, b| b.owner != id);
        // Dropping a copy removes its staged bytes (see `Copy`'s Drop).
        self.copies.retain(|c| c.owner() != id);
    }

    /// True while copies are running: the loop must not sleep.
    pub fn has_work(&self) -> bool {
        !self.copies.is_empty()
    }

    /// Advances the copy whose turn it is by one slice; a finished one leaves its reply
    /// in `finished`. One slice per turn of the loop, whatever the number of copies, so
    /// copying never costs other clients more than a few milliseconds at a time.
    pub fn work(&mut self) {
        let Some(mut copy) = self.copies.pop_front() else {
            return;
        };
        match copy.step(&self.storage) {
            None => self.copies.push_back(copy),
            Some(result) => {
                let done = self.end_copy(copy, result);
                self.finished.push(done);
            }
        }
    }

    /// Queues whole frames for other connections; returns how many were queued. A
    /// subscriber whose queue is full is skipped (and counted once in the log, not once
    /// per frame).
    fn push_all(&mut self, frames: Vec<(u64, Vec<Chunk>)>, from: SocketAddr, what: &str) -> i64 {
        let (mut queued, mut skipped) = (0, 0);
        for (id, chunks) in frames {
            match self.peers.push_to(id, chunks) {
                Some(push) => {
                    self.pushes.push(push);
                    queued += 1;
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            log::warn!("{from}: {skipped} subscribers are not reading; the {what} was not queued for them");
        }
        queued
    }

    /// A copy ended: free its name, and turn the outcome into the requester's reply.
    fn end_copy(&mut self, copy: Copy, result: Result<(), Refusal>) -> Finished {
        self.busy.remove(copy.target());
        self.changed();
        copy.finish(result)
    }

    /// Marks the folder as changed: a cached listing is no longer true.
    fn changed(&mut self) {
        self.list_cache.clear();
    }

    /// Refuses `name` when someone else is writing it.
    fn check_free(&self, name: &str, me: u64) -> Result<(), Refusal> {
        match self.busy.get(name) {
            Some(b) if b.owner != me && b.touched.is_none_or(|t| t.elapsed() < PARTS_IDLE) => {
                Err(Refusal::new(format!(
                    "{name} se está escribiendo desde otra conexión; intente más tarde"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Who sent the request being handled.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The connection's id (never reused).
    pub id: u64,
    /// Its slab key (for replies delivered later).
    pub key: usize,
    pub peer: SocketAddr,
}

/// The `Handler` the server gives each connection: it decodes, dispatches and logs.
pub struct Dispatch<'a> {
    pub ctx: &'a mut Context,
    pub caller: Caller,
}

impl Dispatch<'_> {
    /// Decodes one request and runs it.
    fn handle(&mut self, payload: &[u8], out: &mut Outbox) -> Flow {
        // The course client asks `listar` with the same bytes every time: a repeat of a
        // payload already answered from the cache gets the cached reply straight away.
        if let Some(frame) = listar::replay(payload, self.ctx) {
            log::info!("{}: listar (repeat)", self.caller.peer);
            out.push(Chunk::shared(frame));
            return Flow::Done;
        }
        match message::parse(payload, self.ctx.pickle_limits) {
            Ok(req) => {
                let flow = run(&req, self.ctx, &self.caller, out);
                if req.operacion == "listar" {
                    listar::learn(self.ctx, payload, &req.envelope);
                }
                flow
            }
            Err(bad) => {
                log::warn!(
                    "{}: bad request ({} bytes): {}",
                    self.caller.peer,
                    payload.len(),
                    bad.detail
                );
                reply_error(out, &bad.envelope, &bad.operacion, &bad.mensaje);
                Flow::Done
            }
        }
    }
}

impl Handler for Dispatch<'_> {
    fn request(&mut self, payload: &[u8], out: &mut Outbox) -> Flow {
        // A bug in one request must not take every other client down with the process:
        // a panic becomes an error reply. (Fuzzing builds let panics through, so the
        // fuzzer still sees them.)
        #[cfg(not(fuzzing))]
        {
            // Handlers only ever push whole frames at the back; on a panic, whatever this
            // request pushed is taken back off, so no half frame is left behind.
            let before = out.len();
            let attempt =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(payload, out)));
            match attempt {
                Ok(flow) => flow,
                Err(_) => {
                    out.truncate(before);
                    log::error!(
                        "{}: a request made the server panic; answered with an error",
                        self.caller.peer
                    );
                    reply_error(out, &Envelope::course(), "", "error interno del servidor");
                    Flow::Done
                }
            }
        }
        #[cfg(fuzzing)]
        self.handle(payload, out)
    }

    fn too_large(&mut self, len: u64, out: &mut Outbox) {
        log::warn!(
            "{}: frame of {len} bytes is over the {} byte limit; closing",
            self.caller.peer,
            self.ctx.max_frame
        );
        let msg = format!(
            "mensaje demasiado grande ({len} bytes; el máximo es {}); use subir_parte",
            self.ctx.max_frame
        );
        reply_error(out, &Envelope::course(), "", &msg);
    }
}

/// The handler for the last turn before shutdown: requests that already arrived are
/// answered with an error instead of being dropped, so no client waits for a reply that
/// will never come.
pub struct Farewell {
    pub limits: Limits,
}

/// What a client is told when its request arrives as the server closes.
pub const CLOSING: &str = "el servidor se está cerrando";

impl Handler for Farewell {
    fn request(&mut self, payload: &[u8], out: &mut Outbox) -> Flow {
        let (env, op) = match message::parse(payload, self.limits) {
            Ok(req) => (req.envelope, req.operacion),
            Err(bad) => (bad.envelope, bad.operacion),
        };
        reply_error(out, &env, &op, CLOSING);
        Flow::Done
    }

    fn too_large(&mut self, _len: u64, out: &mut Outbox) {
        reply_error(out, &Envelope::course(), "", CLOSING);
    }
}

/// Operations that change the folder: refused with `--read-only`.
const WRITES: [&str; 5] = ["subir", "subir_parte", "duplicar", "borrar", "renombrar"];

/// Runs one request.
pub fn run(req: &Request, ctx: &mut Context, caller: &Caller, out: &mut Outbox) -> Flow {
    log::info!("{}: {}", caller.peer, describe(req));
    let op = req.operacion.as_str();
    if ctx.read_only && WRITES.contains(&op) {
        reply_error(out, &req.envelope, op, "el servidor está en modo solo lectura");
        return Flow::Done;
    }
    let result = match op {
        "listar" => {
            listar::run(req, ctx, out);
            return Flow::Done;
        }
        "descargar" => {
            descargar::run(req, ctx, out);
            return Flow::Done;
        }
        "duplicar" => return duplicar::run(req, ctx, caller, out),
        "listar_detalle" => listar_detalle::run(ctx),
        "subir" => subir::run(req, ctx, caller),
        "subir_parte" => subir_parte::run(req, ctx, caller),
        "borrar" => borrar::run(req, ctx, caller),
        "renombrar" => renombrar::run(req, ctx, caller),
        "suscribir" => suscribir::run(req, ctx, caller),
        "clientes" => clientes::run(ctx),
        "difundir" => difundir::run(req, ctx, caller),
        "mensaje" => mensaje::run(req, ctx, caller),
        other => Err(format!("operación desconocida: {}", truncate(other, 64))),
    };
    match result {
        Ok(data) => out.push(Chunk::bytes(message::ok(&req.envelope, op, &data))),
        Err(msg) => {
            log::debug!("{}: {op} refused: {msg}", caller.peer);
            reply_error(out, &req.envelope, op, &msg)
        }
    }
    Flow::Done
}

/// What most operations return: the reply's `data`, or a Spanish error message.
type Reply = Result<Data, String>;

impl From<Refusal> for String {
    fn from(r: Refusal) -> String {
        r.mensaje
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pickle::Value;

    /// A name held by an upload in parts is freed for others once its writer goes quiet;
    /// a copy's name is held until the copy ends.
    #[test]
    fn quiet_part_uploads_give_up_their_name_but_copies_do_not() {
        let dir = std::env::temp_dir().join(format!("almacen-busy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1024);
        let now = Instant::now();
        let mut hold = |name: &str, touched| {
            ctx.busy.insert(name.into(), Busy { owner: 1, touched });
        };
        hold("activo", Some(now));
        hold("callado", now.checked_sub(PARTS_IDLE + Duration::from_secs(1)));
        hold("copia", None);
        assert!(ctx.check_free("activo", 2).is_err());
        assert!(ctx.check_free("activo", 1).is_ok(), "its own writer may go on");
        assert!(ctx.check_free("callado", 2).is_ok());
        assert!(ctx.check_free("copia", 2).is_err());
        ctx.forget(1);
        assert!(
            ctx.check_free("activo", 2).is_ok(),
            "released when the writer leaves"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Copies take turns: one slice per turn of the loop in all, however many are running.
    #[test]
    fn copies_take_turns_one_slice_per_turn() {
        let dir = std::env::temp_dir().join(format!("almacen-turns-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.bin"), vec![1u8; 20 << 20]).unwrap();
        let storage = Storage::open(&dir).unwrap();
        storage.prepare_staging(Duration::from_secs(60)).unwrap();
        let mut ctx = Context::new(storage, 1 << 20);
        let peer = "127.0.0.1:9".parse().unwrap();
        for id in [1, 2] {
            let caller = Caller { id, key: 0, peer };
            let frame = message::frame_request(&Envelope::course(), "duplicar", &Data::str("a.bin"));
            let req = message::parse(&frame[4..], ctx.pickle_limits).unwrap();
            let mut out = Outbox::default();
            assert_eq!(run(&req, &mut ctx, &caller, &mut out), Flow::Wait);
            assert!(out.is_empty(), "big copies are not started inside the request");
        }
        ctx.work();
        let progress: Vec<u64> = ctx.copies.iter().map(|c| c.progress()).collect();
        assert_eq!(progress.iter().filter(|p| **p > 0).count(), 1, "{progress:?}");
        while ctx.has_work() {
            ctx.work();
        }
        assert_eq!(ctx.finished.len(), 2);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A repeated `listar` payload is answered from the cache without decoding, and a
    /// change to the folder made by another program still shows up.
    #[test]
    fn repeated_listar_payloads_are_replayed_until_the_folder_changes() {
        use std::time::SystemTime;
        let dir = std::env::temp_dir().join(format!("almacen-replay-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("a.txt"), b"a").unwrap();
        let age = |secs| {
            let t = SystemTime::now() - Duration::from_secs(secs);
            crate::sys::set_modified(&dir, t).unwrap();
        };
        age(3600); // settled, so the reply is cached
        let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1 << 20);
        let caller = Caller {
            id: 1,
            key: 0,
            peer: "127.0.0.1:9".parse().unwrap(),
        };
        let frame = message::frame_request(&Envelope::course(), "listar", &Data::None);
        let ask = |ctx: &mut Context| {
            let mut out = Outbox::default();
            let mut d = Dispatch { ctx, caller };
            d.request(&frame[4..], &mut out);
            let mut bytes = Vec::new();
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
            while !out.is_empty() {
                out.write_to(&mut Sink(&mut bytes), usize::MAX).unwrap();
            }
            let reply = message::parse(&bytes[4..], Limits::default())
                .unwrap()
                .into_owned();
            reply.data
        };
        let first = ask(&mut ctx);
        assert!(ctx.list_cache.remembers_a_request(), "the payload was learned");
        assert_eq!(ask(&mut ctx), first, "the replay gives the same reply");
        std::fs::write(dir.join("b.txt"), b"b").unwrap();
        age(10);
        std::thread::sleep(Duration::from_millis(5));
        let Value::List(names) = ask(&mut ctx) else {
            panic!()
        };
        assert_eq!(names.len(), 2, "the new file is listed: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
