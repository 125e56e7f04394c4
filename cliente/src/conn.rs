//! The connection: framed requests and replies over one blocking TCP stream, in
//! protocol 2 when the server offers it and in the course's protocol otherwise.
//!
//! The stream is split in a `Reader` and a `Writer` (two handles on one socket), so the
//! menu can read on one thread while it writes on another. Reading decodes each frame
//! with the library's own parsers; a frame carrying a large `bytes` value has that value
//! streamed to a hidden file instead of memory (see `spill.rs`).
//!
//! Every connection starts in the course's protocol and asks, with a pickled
//! `Mensaje("hola", {"version": 2})`, for protocol 2 (docs/protocol.md, "Protocol 2"). An
//! `ok` naming version 2 switches both halves to JSON headers with request ids and raw
//! bytes; an error (an older almacen) keeps the course's protocol. The course's own
//! server, and the ones students write in the lab, never answer an operation they do not
//! know: after `HOLA_WAIT` of silence the client opens a fresh connection in the course's
//! protocol and treats the server as `basic` (only `listar` and `descargar`, whole files,
//! no `resumen`). A fresh connection, because a slow almacen might still answer `hola`
//! later, and that late reply must not be taken for the answer to the next request. The
//! switch happens in `connect`, before the halves go their own ways, so neither ever sees
//! a frame in the wrong protocol.
//!
//! Nothing here waits forever. Connecting gives up after a while, and both halves have
//! socket timeouts: a read or write that sees no progress for `wait` fails. Silence is
//! normal while the server owes us nothing (a menu at its prompt, `escuchar`), so a
//! timeout between frames only counts while a request is outstanding (`Pending`, shared
//! by both halves). Inside a frame, each read that brings bytes starts the clock again,
//! so a long transfer that keeps moving never times out.

use super::args::Target;
use super::call::{local_io, Failure, Msg, BASIC_OPS};
use super::progress::Progress;
use super::spill::{self, Spill};
use super::text::human;
use almacen::frame::HEADER_LEN;
use almacen::message;
#[cfg(feature = "proto2")]
use almacen::pickle::decode::{get, HashableValue};
use almacen::pickle::{Data, Envelope, Limits, Value};
use almacen::protocol::Codec;
#[cfg(feature = "proto2")]
use almacen::protocol::{
    self,
    v2::{self as proto2, encode, header},
};
use almacen::spanish::io_error;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Frames up to this size are read whole into memory.
const INLINE_MAX: usize = 8 * 1024 * 1024;
/// How much of a larger frame is read before deciding where its body goes.
const HEAD: usize = 64 * 1024;
/// A bytes value at least this large in a large frame is written to disk.
const SPILL_MIN: u64 = 1024 * 1024;
/// A large frame with no such value (a listing of a huge folder) is still read whole up
/// to this size; past it we refuse rather than let a server fill our memory.
const BUFFER_MAX: usize = 256 * 1024 * 1024;
// A spilled body is larger than the head, so it never ends inside the head we read.
const _: () = assert!(SPILL_MIN > HEAD as u64);
/// Connecting waits at most this long (or `wait`, if shorter) for each address.
const CONNECT_MAX: Duration = Duration::from_secs(10);
/// How long `hola` may go unanswered before the server is taken for one like the
/// course's, which never answers an operation it does not know. almacen answers it at
/// once, from its event loop, without touching the disk.
const HOLA_WAIT: Duration = Duration::from_secs(1);

/// Whether an I/O error is a socket timeout (its name differs between OSes).
fn timed_out(e: &io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

/// How many requests wait for their reply, and when the last one was sent: what tells
/// a silent server from an idle session.
struct Pending {
    count: AtomicUsize,
    /// Milliseconds from `epoch` to the last send.
    sent_at: AtomicU64,
    epoch: Instant,
}

impl Pending {
    fn new() -> Pending {
        Pending {
            count: AtomicUsize::new(0),
            sent_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn sending(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.sent_at.store(ms, Ordering::SeqCst);
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    fn answered(&self) {
        let _ = self
            .count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
    }

    /// How much longer the oldest owed reply may take, or None when nothing is owed. A
    /// read that timed out may have started before the request went out, so the send
    /// time decides, not the read's own clock.
    fn left(&self, wait: Duration) -> Option<Duration> {
        if self.count.load(Ordering::SeqCst) == 0 {
            return None;
        }
        let sent = Duration::from_millis(self.sent_at.load(Ordering::SeqCst));
        Some(wait.saturating_sub(self.epoch.elapsed().saturating_sub(sent)))
    }
}

/// What we know about the far end, for messages.
#[derive(Clone)]
struct Peer {
    /// `host:port` as the user gave it.
    name: String,
    wait: Duration,
    /// The server answered `hola` with an error of its own ("servidor lleno, intente más
    /// tarde"), not "unknown operation". If the connection then ends before any other
    /// reply, those words are the reason, and the user reads them instead of "connection
    /// lost". Cleared by the first reply that comes after.
    refusal: Option<String>,
}

impl Peer {
    fn lost(&self, e: &io::Error) -> Failure {
        if let Some(words) = &self.refusal {
            return Failure::Server(words.clone());
        }
        if timed_out(e) {
            return self.silent();
        }
        Failure::Link(format!("se perdió la conexión con el servidor: {}", io_error(e)))
    }

    fn silent(&self) -> Failure {
        Failure::Reply(format!(
            "el servidor en {} no respondió en {} s; quizás no es un servidor almacen \
             (¿es el puerto correcto?), o está muy ocupado: use --espera para esperar más",
            self.name,
            self.wait.as_secs()
        ))
    }

    fn not_almacen(&self, what: &str) -> Failure {
        Failure::Reply(format!(
            "{what} desde {}: no parece un servidor almacen (¿es el puerto correcto?)",
            self.name
        ))
    }
}

/// Reads frames. `spool` is the folder where large bytes values are written (the
/// downloads folder, so a pushed file can be moved into place without a copy).
pub struct Reader {
    stream: BufReader<TcpStream>,
    spool: PathBuf,
    spilled: u64,
    pending: Arc<Pending>,
    peer: Peer,
    /// The socket's read timeout is cut short to the time an owed reply has left.
    shortened: bool,
    codec: Codec,
    /// Protocol 2: the id the next reply must echo. Replies come in request order, so
    /// one counting up matches the writer's, and a reply to anything else is caught.
    #[cfg_attr(not(feature = "proto2"), allow(dead_code))]
    expect: u64,
}

/// Sends requests.
pub struct Writer {
    stream: TcpStream,
    pending: Arc<Pending>,
    peer: Peer,
    codec: Codec,
    /// Protocol 2: the id of the next request.
    #[cfg_attr(not(feature = "proto2"), allow(dead_code))]
    next_id: u64,
    /// The server said nothing to `hola`: it only does what `BASIC_OPS` names.
    basic: bool,
}

/// The first id of a protocol-2 connection (the `hola` before it had none).
const FIRST_ID: u64 = 1;

/// Connects, agrees on a protocol, and returns both halves. `wait` bounds every silence
/// while a reply is owed, `hola`'s included: a server that says nothing times out as
/// it would on any request.
pub fn connect(target: &Target, spool: &Path, wait: Duration) -> Result<(Reader, Writer), Failure> {
    let (mut reader, mut writer) = open_halves(target, spool, wait)?;
    match negotiate(&mut reader, &mut writer)? {
        #[cfg(feature = "proto2")]
        Hola::Agreed => {
            reader.codec = Codec::V2;
            writer.codec = Codec::V2;
            Ok((reader, writer))
        }
        Hola::Declined(refusal) => {
            reader.peer.refusal = refusal.clone();
            writer.peer.refusal = refusal;
            Ok((reader, writer))
        }
        // It answers what it does not know, but is it an almacen? An older one has
        // `listar_detalle`; a server written in the lab (or the one-file example) has
        // only what the course asks for, and is used as such.
        Hola::Unknown => {
            writer.send(DETAIL_PROBE, &Data::None)?;
            let reply = reader.next()?;
            writer.answered();
            if reply.is_none_or(|r| r.estado != "ok") {
                log::debug!(
                    "the server does not know hola nor {DETAIL_PROBE}: a server like the course's, \
                     for {} only",
                    BASIC_OPS.join(" and ")
                );
                writer.basic = true;
            }
            Ok((reader, writer))
        }
        // A server that hangs up on a request it does not know: ask again without `hola`.
        Hola::Closed => {
            log::debug!("the server closed the connection on hola; reconnecting in the course's protocol");
            open_halves(target, spool, wait)
        }
        Hola::Silent => {
            log::debug!(
                "no answer to hola in {} ms: a server like the course's; reconnecting in the \
                 course's protocol, for {} only",
                HOLA_WAIT.min(wait).as_millis(),
                BASIC_OPS.join(" and ")
            );
            let (reader, mut writer) = open_halves(target, spool, wait)?;
            writer.basic = true;
            Ok((reader, writer))
        }
    }
}

/// The operation that negotiates a protocol, and the version we ask for: 2 where this
/// build speaks protocol 2; otherwise 1, the course's protocol itself, which an almacen
/// answers and changes nothing for (the question still tells an almacen from a server
/// like the course's, which says nothing).
const HOLA: &str = "hola";
/// What tells an older almacen (it has it) from a server that has only the course's
/// operations, when neither knows `hola`.
const DETAIL_PROBE: &str = "listar_detalle";
const ASK_VERSION: i64 = if cfg!(feature = "proto2") { 2 } else { 1 };

/// How a server took `hola`.
enum Hola {
    /// Protocol 2 from now on.
    #[cfg(feature = "proto2")]
    Agreed,
    /// The course's protocol; with the server's words when it refused for a reason of
    /// its own rather than not knowing `hola`.
    Declined(Option<String>),
    /// An error that names `hola`: the server does not know it.
    Unknown,
    /// It closed the connection instead of answering.
    Closed,
    /// It said nothing at all, as the course's server does to anything it does not know.
    Silent,
}

/// Asks for protocol 2 in the course's protocol, waiting at most `HOLA_WAIT` for the
/// first byte of an answer (then the usual `wait` for the rest of it).
fn negotiate(reader: &mut Reader, writer: &mut Writer) -> Result<Hola, Failure> {
    writer.send(HOLA, &Data::dict([("version", Data::Int(ASK_VERSION))]))?;
    if !reader.answers_within(HOLA_WAIT.min(reader.peer.wait))? {
        return Ok(Hola::Silent);
    }
    let Some(reply) = reader.next()? else {
        return Ok(Hola::Closed);
    };
    writer.answered();
    #[cfg(feature = "proto2")]
    if reply.estado == "ok" && get(&reply.data, "version") == Some(&Value::I64(2)) {
        log::debug!("the server agreed to protocol 2");
        return Ok(Hola::Agreed);
    }
    // An older almacen answers "operación desconocida: hola": fine, the course's
    // protocol is all it speaks. Any other error may be the server turning us away
    // (full): kept, in case the connection ends next.
    log::debug!(
        "the server declined protocol {ASK_VERSION} ({} {:?}); staying in the course's protocol",
        reply.estado,
        reply.data
    );
    Ok(match reply.data {
        Value::String(words) if reply.estado == "error" && words.contains(HOLA) => Hola::Unknown,
        Value::String(words) if reply.estado == "error" => Hola::Declined(Some(words)),
        _ => Hola::Declined(None),
    })
}

/// Opens the socket and makes the two halves, both in the course's protocol.
fn open_halves(target: &Target, spool: &Path, wait: Duration) -> Result<(Reader, Writer), Failure> {
    let name = format!("{}:{}", target.host, target.port);
    let stream = open(target, &name, wait)?;
    let peer = Peer {
        name,
        wait,
        refusal: None,
    };
    // Requests are single writes of whole frames; no reason to wait for more.
    let _ = stream.set_nodelay(true);
    let timeouts = stream
        .set_read_timeout(Some(wait))
        .and_then(|()| stream.set_write_timeout(Some(wait)));
    let read_half = timeouts
        .and_then(|()| stream.try_clone())
        .map_err(|e| peer.lost(&e))?;
    let pending = Arc::new(Pending::new());
    Ok((
        Reader {
            stream: BufReader::with_capacity(HEAD, read_half),
            spool: spool.to_path_buf(),
            spilled: 0,
            pending: pending.clone(),
            peer: peer.clone(),
            shortened: false,
            codec: Codec::Course,
            expect: FIRST_ID,
        },
        Writer {
            stream,
            pending,
            peer,
            codec: Codec::Course,
            next_id: FIRST_ID,
            basic: false,
        },
    ))
}

/// Resolves the host and tries each address in turn, each for a bounded time.
fn open(target: &Target, name: &str, wait: Duration) -> Result<TcpStream, Failure> {
    let addrs: Vec<SocketAddr> = (target.host.as_str(), target.port)
        .to_socket_addrs()
        .map_err(|_| {
            Failure::Link(format!(
                "no se encontró el host «{}»: revise el nombre, o use una dirección como 127.0.0.1",
                target.host
            ))
        })?
        .collect();
    let mut last = None;
    for addr in &addrs {
        match TcpStream::connect_timeout(addr, wait.min(CONNECT_MAX)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(e),
        }
    }
    let e = last.unwrap_or_else(|| io::Error::from(ErrorKind::AddrNotAvailable));
    Err(Failure::Link(match e.kind() {
        ErrorKind::ConnectionRefused => format!(
            "no hay un servidor escuchando en {name}: inícielo (por ejemplo `servidor {}`, o \
             `cargo run --release` en el proyecto) o revise el puerto y el host",
            target.port
        ),
        _ if timed_out(&e) => format!(
            "no se pudo conectar a {name}: nadie respondió en {} s (¿la dirección es \
             correcta? ¿un cortafuegos bloquea el puerto?)",
            wait.min(CONNECT_MAX).as_secs()
        ),
        _ => format!("no se pudo conectar a {name}: {}", io_error(&e)),
    }))
}

impl Writer {
    /// Sends one request: `Mensaje(operacion, data)` the way the course client does, or
    /// in protocol 2 a JSON header with the next id, an upload's `contenido` raw after it.
    pub fn send(&mut self, operacion: &str, data: &Data) -> Result<(), Failure> {
        let frame = match self.codec {
            Codec::Course => message::frame_request(&Envelope::course(), operacion, data),
            #[cfg(feature = "proto2")]
            Codec::V2 => {
                let frame = encode::request(Some(self.next_id), operacion, data)
                    .ok_or_else(|| Failure::Local(format!("no se pudo escribir el pedido {operacion}")))?;
                self.next_id += 1;
                frame
            }
        };
        // Counted before the bytes leave, so the reader never sees a reply it did not
        // know was owed.
        self.pending.sending();
        self.stream.write_all(&frame).map_err(|e| self.peer.lost(&e))
    }

    /// Notes that the reply to one request arrived.
    pub fn answered(&mut self) {
        self.pending.answered();
        self.peer.refusal = None;
    }

    /// True once the server agreed to protocol 2 (raw bytes, ids, marked pushes).
    pub fn protocol2(&self) -> bool {
        match self.codec {
            Codec::Course => false,
            #[cfg(feature = "proto2")]
            Codec::V2 => true,
        }
    }

    /// True when the server stayed silent to `hola`: like the course's, it only answers
    /// what `BASIC_OPS` names, and never `resumen`.
    pub fn basic(&self) -> bool {
        self.basic
    }
}

impl Reader {
    /// Waits up to `limit` for the server to send something (or close): false when it
    /// stays silent. Nothing is consumed; the socket's usual timeout is back after.
    fn answers_within(&mut self, limit: Duration) -> Result<bool, Failure> {
        self.read_timeout(limit)?;
        let seen = loop {
            match self.stream.fill_buf() {
                Ok(_) => break Ok(true),
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if timed_out(&e) => break Ok(false),
                Err(e) => break Err(self.peer.lost(&e)),
            }
        };
        self.read_timeout(self.peer.wait)?;
        seen
    }

    /// The next frame, or None when the server closed the connection between frames.
    pub fn next(&mut self) -> Result<Option<Msg>, Failure> {
        let msg = self.next_frame()?;
        match &msg {
            Some(_) => self.peer.refusal = None,
            // It turned us away and hung up: its words say why.
            None => {
                if let Some(words) = self.peer.refusal.take() {
                    return Err(Failure::Server(words));
                }
            }
        }
        Ok(msg)
    }

    fn next_frame(&mut self) -> Result<Option<Msg>, Failure> {
        let mut prefix = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            match self.stream.read(&mut prefix[got..]) {
                Ok(0) if got == 0 => return Ok(None),
                Ok(0) => return Err(Failure::Link("el servidor cortó un mensaje por la mitad".into())),
                Ok(n) => got += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                // Silence between frames is fine while nothing is owed; while a reply is
                // owed, the next read waits only for the time it has left.
                Err(e) if timed_out(&e) && got == 0 => match self.pending.left(self.peer.wait) {
                    None => {}
                    Some(left) if left.is_zero() => return Err(self.peer.silent()),
                    Some(left) => self.read_timeout(left)?,
                },
                Err(e) => return Err(self.peer.lost(&e)),
            }
        }
        if self.shortened {
            // Inside a frame, each read may wait the whole `wait` again.
            self.read_timeout(self.peer.wait)?;
        }
        // Servers of other kinds answer in text: say which instead of trying to read
        // gigabytes of "length".
        for (start, what) in [(&b"HTTP"[..], "respondió en HTTP"), (b"SSH-", "respondió SSH")] {
            if prefix.starts_with(start) {
                return Err(self.peer.not_almacen(&format!("el servidor {what}")));
            }
        }
        let len = u32::from_be_bytes(prefix) as usize;
        match self.codec {
            Codec::Course => self.course_frame(len),
            #[cfg(feature = "proto2")]
            Codec::V2 => self.v2_frame(len),
        }
    }

    /// The rest of a course frame whose payload is `len` bytes.
    fn course_frame(&mut self, len: usize) -> Result<Option<Msg>, Failure> {
        if len <= INLINE_MAX {
            let payload = self.read_exact(len)?;
            return self.decode(&payload, None);
        }
        let head = self.read_exact(HEAD)?;
        if let Some(found) = spill::find_large_bytes(&head, SPILL_MIN) {
            let after = found.body_at as u64 + found.len;
            let tail_len = (len as u64).checked_sub(after);
            if let Some(tail_len) = tail_len.filter(|t| *t <= HEAD as u64) {
                let spill = self.spill_body(&head[found.body_at..], found.len)?;
                let tail = self.read_exact(tail_len as usize)?;
                return self.decode(&spill::skeleton(&head, &found, &tail), Some(spill));
            }
        }
        if len > BUFFER_MAX {
            return Err(self.peer.not_almacen(&format!(
                "llegó un mensaje demasiado grande ({})",
                human(len as u64)
            )));
        }
        let mut payload = head;
        payload.extend(self.read_exact(len - HEAD)?);
        self.decode(&payload, None)
    }

    /// The rest of a protocol-2 frame whose JSON is `json_len` bytes: the header, then
    /// the raw bytes it announces. Those become the reply's data (a download's piece), or
    /// a dict's `contenido` (a pushed file), as the course's protocol would carry them,
    /// so the operations read one shape whichever protocol brought it.
    #[cfg(feature = "proto2")]
    fn v2_frame(&mut self, json_len: usize) -> Result<Option<Msg>, Failure> {
        if json_len > BUFFER_MAX {
            return Err(self.peer.not_almacen(&format!(
                "llegó un encabezado demasiado grande ({})",
                human(json_len as u64)
            )));
        }
        let json = self.read_exact(json_len)?;
        let limits = protocol::Limits {
            max_frame: usize::MAX,
            max_json: BUFFER_MAX,
            pickle: Limits::default(),
        };
        let header = header::parse(&json, &limits)
            .ok()
            .and_then(|parsed| parsed.header.ok())
            .ok_or_else(|| self.peer.not_almacen("llegó una respuesta ilegible"))?;
        if !header.aviso {
            if header.id != Some(self.expect) {
                let got = header.id.map_or("ninguno".to_string(), |id| id.to_string());
                return Err(self.peer.not_almacen(&format!(
                    "llegó la respuesta a otro pedido (id {got}; se esperaba {})",
                    self.expect
                )));
            }
            self.expect += 1;
        }
        let mut data = header.data;
        let mut spill = None;
        if let Some(len) = header.bytes {
            let body = if len <= INLINE_MAX as u64 {
                Value::Bytes(self.read_exact(len as usize)?)
            } else {
                spill = Some(self.spill_body(&[], len)?);
                Value::Bytes(Vec::new())
            };
            data = match data {
                Value::None => body,
                Value::Dict(mut fields) => {
                    fields.insert(HashableValue::String(proto2::RAW_KEY.into()), body);
                    Value::Dict(fields)
                }
                _ => return Err(self.peer.not_almacen("llegó una respuesta ilegible")),
            };
        }
        let estado = match header.estado {
            Value::String(s) => s,
            _ => String::new(),
        };
        Ok(Some(Msg {
            operacion: header.operacion,
            data,
            estado,
            spill,
            aviso: Some(header.aviso),
        }))
    }

    fn read_timeout(&mut self, limit: Duration) -> Result<(), Failure> {
        // Zero would mean "no timeout" to the OS.
        let limit = limit.max(Duration::from_millis(1));
        self.shortened = limit != self.peer.wait;
        self.stream
            .get_ref()
            .set_read_timeout(Some(limit))
            .map_err(|e| self.peer.lost(&e))
    }

    fn read_exact(&mut self, len: usize) -> Result<Vec<u8>, Failure> {
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf).map_err(|e| {
            if e.kind() == ErrorKind::UnexpectedEof {
                self.peer
                    .not_almacen("la conexión se cerró a mitad de una respuesta")
            } else {
                self.peer.lost(&e)
            }
        })?;
        Ok(buf)
    }

    fn decode(&self, payload: &[u8], spill: Option<Spill>) -> Result<Option<Msg>, Failure> {
        // A reply may come without `operacion` (the course's server leaves it None).
        let msg = message::parse_reply(payload, Limits::default())
            .map_err(|_| self.peer.not_almacen("llegó una respuesta ilegible"))?;
        Ok(Some(Msg {
            operacion: msg.operacion,
            data: msg.data,
            estado: msg.estado,
            spill,
            aviso: None,
        }))
    }

    /// Writes `len` bytes of a value to a new hidden file: `started` (already read with
    /// the head), then the rest straight from the socket.
    fn spill_body(&mut self, started: &[u8], len: u64) -> Result<Spill, Failure> {
        fs::create_dir_all(&self.spool).map_err(|e| local_io(&self.spool, &e))?;
        let (mut file, path) = loop {
            self.spilled += 1;
            let name = format!(".recibiendo-{}-{}", std::process::id(), self.spilled);
            let path = self.spool.join(name);
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(f) => break (f, path),
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(local_io(&path, &e)),
            }
        };
        // From here on, dropping `spill` removes the half-written file.
        let spill = Spill::new(path);
        let mut progress = Progress::new("recibiendo", Some(len), 0);
        file.write_all(started).map_err(|e| local_io(spill.path(), &e))?;
        let mut done = started.len() as u64;
        let mut buf = vec![0; 256 * 1024];
        while done < len {
            let want = buf.len().min((len - done) as usize);
            let n = match self.stream.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(self.peer.lost(&e)),
            };
            if n == 0 {
                return Err(Failure::Link(
                    "el servidor cerró la conexión a mitad de un archivo".into(),
                ));
            }
            write_to(&mut file, &buf[..n], spill.path())?;
            done += n as u64;
            progress.update(done);
        }
        Ok(spill)
    }
}

fn write_to(file: &mut File, bytes: &[u8], path: &Path) -> Result<(), Failure> {
    file.write_all(bytes).map_err(|e| local_io(path, &e))
}
