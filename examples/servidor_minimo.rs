//! The course's file server (IIC2233, "Sistema de almacenamiento") in one file: the
//! lesson of almacen, with nothing of the almacen library. One thread and one `mio::Poll`
//! serve every client: where the course's server parks a thread in `recv` per client, here
//! the operating system tells us which sockets are ready and we do a little work for each.
//!
//! Run it where `archivos/` is (PORT and HOST are optional: 3247 and localhost, as in the
//! course; port 0 picks a free one): `cargo run --example servidor_minimo -- 3247 localhost`
//! in the repository, or `target/debug/examples/servidor_minimo 3247` from any folder.
//!
//! Every message is a frame: a 4-byte big-endian length, then a Python pickle of
//! `Mensaje(operacion, data, estado)`. `listar` gets the list of file names, `descargar`
//! with a name gets the file's bytes; replies say `estado="ok"` or `"error"`.
//!
//! `servidor` does the same jobs with more care (budgets, sendfile, uploads, hostile
//! clients); this file is the map to read first. serde-pickle never runs code from a
//! pickle, but a hostile one can still ask for much memory, and only `servidor` checks
//! each pickle first: keep this example off the internet.

use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Registry, Token, Waker};
use serde_pickle::{HashableValue, Value};
use slab::Slab;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

/// The folder we serve, relative to where the server runs (as in the course).
const FOLDER: &str = "archivos";

/// Tokens tell us which source an event is about. Connections use their slab key as
/// their token, and the slab hands out small numbers, so the top values are free.
const LISTENER: Token = Token(usize::MAX);
const STDIN: Token = Token(usize::MAX - 1);
const WAKER: Token = Token(usize::MAX - 2);
const BOTH: Interest = Interest::READABLE.add(Interest::WRITABLE);

const CHUNK: usize = 64 * 1024; // a download is read from its file in chunks this big
const LOW_WATER: usize = 2 * CHUNK; // the next chunk is read when less than this waits
const WRITE_BUDGET: usize = 256 * 1024; // the most one connection writes per turn
const MAX_FRAME: usize = 64 * 1024; // the largest request; the course's are ~100 bytes

fn main() -> ExitCode {
    // Arguments as the course reads them: PORT then HOST, both optional.
    let mut args = std::env::args().skip(1);
    let Ok(port) = args.next().map_or(Ok(3247), |p| p.parse::<u16>()) else {
        eprintln!("uso: servidor_minimo [PUERTO] [HOST]");
        return ExitCode::from(2);
    };
    let host = args.next().unwrap_or_else(|| "localhost".to_string());
    if !Path::new(FOLDER).is_dir() {
        eprintln!("servidor_minimo: no existe la carpeta {FOLDER}: créela con `mkdir {FOLDER}`");
        return ExitCode::FAILURE;
    }
    if let Err(e) = serve(&host, port) {
        let why = match e.kind() {
            ErrorKind::AddrInUse => "el puerto ya está en uso: cierre el otro programa o elija otro".into(),
            ErrorKind::PermissionDenied => "no hay permiso para ese puerto: use uno sobre 1024".into(),
            _ => e.to_string(),
        };
        eprintln!("servidor_minimo: {why}");
        return ExitCode::FAILURE;
    }
    println!("Servidor cerrado");
    ExitCode::SUCCESS
}

/// Binds, prints the course's two lines, and runs the event loop until Enter is pressed.
fn serve(host: &str, port: u16) -> io::Result<()> {
    let mut poll = Poll::new()?;
    // The course's server is IPv4 (AF_INET), and so is its client: "localhost" must be
    // 127.0.0.1 even where the system lists ::1 first.
    let ipv4 = (host, port)
        .to_socket_addrs()
        .map(|mut a| a.find(SocketAddr::is_ipv4));
    let no_address = || io::Error::other(format!("no se encontró una dirección IPv4 para {host}"));
    let mut listener = TcpListener::bind(ipv4.ok().flatten().ok_or_else(no_address)?)?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let port = listener.local_addr()?.port(); // the real one, when 0 was asked
    println!("Servidor escuchando en {host} : {port}");
    println!("Presione enter para cerrar");
    // Held for as long as the loop runs: a wake-up would be lost if its Waker were gone.
    let _waker = watch_stdin(poll.registry())?;

    let mut connections: Slab<Connection> = Slab::new();
    // Connections that used up their write budget with bytes still to send. The OS will
    // not tell us about them again (their socket did not fill up), so we remember them.
    let mut unfinished: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(256);
    loop {
        // Sleep until something happens; but if someone is waiting for their next turn,
        // only look at what is ready now and come straight back.
        let timeout = (!unfinished.is_empty()).then_some(Duration::ZERO);
        match poll.poll(&mut events, timeout) {
            // A signal woke us up early. That is not an error: poll again.
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            result => result?,
        }
        let mut turn = std::mem::take(&mut unfinished);
        for event in events.iter() {
            match event.token() {
                LISTENER => accept_all(&listener, poll.registry(), &mut connections),
                STDIN => match read_stdin() {
                    Some(true) => return Ok(()), // Enter
                    Some(false) => {}            // some text, no Enter yet
                    // A read of 0: stdin is closed, and nobody can press Enter on it. Stop
                    // watching it (it stays "readable", with nothing to read) and go on.
                    None => {
                        #[cfg(unix)]
                        let _ = poll.registry().deregister(&mut mio::unix::SourceFd(&0));
                    }
                },
                WAKER => return Ok(()), // only the stdin thread wakes us, for Enter
                Token(key) => turn.push(key),
            }
        }
        turn.sort_unstable();
        turn.dedup();
        for key in turn {
            // An event for a connection that is gone (closed earlier in this same batch)
            // is simply ignored: events are hints, never orders.
            let Some(connection) = connections.get_mut(key) else {
                continue;
            };
            match connection.drive(poll.registry(), Token(key)) {
                Next::Wait => {}
                Next::Again => unfinished.push(key),
                // The loop, not the connection, decides when a connection leaves.
                Next::Drop => {
                    let mut gone = connections.remove(key);
                    let _ = poll.registry().deregister(&mut gone.socket);
                }
            }
        }
    }
}

/// Accepts every client waiting in the listener's queue.
///
/// One readiness event may stand for many clients that connected at once, and mio (like
/// epoll in edge-triggered mode) will not repeat it. So we accept until the OS says
/// `WouldBlock`: "nobody else is waiting right now; I will tell you when someone is".
fn accept_all(listener: &TcpListener, registry: &Registry, connections: &mut Slab<Connection>) {
    loop {
        let socket = match listener.accept() {
            Ok((socket, _addr)) => socket,
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                // Out of file descriptors, say. The client waits in the queue, and we
                // will be told about the listener again when the next one arrives.
                eprintln!("servidor_minimo: no se pudo aceptar un cliente: {e}");
                return;
            }
        };
        let entry = connections.vacant_entry();
        let mut connection = Connection {
            socket,
            state: State::Open,
            inbox: Vec::new(),
            outbox: VecDeque::new(),
            sent: 0,
            queued: 0,
            download: None,
            // At first we only want to hear that the client sent something: we have
            // nothing to write yet, and an empty socket is always writable.
            interest: Interest::READABLE,
        };
        let token = Token(entry.key());
        match registry.register(&mut connection.socket, token, Interest::READABLE) {
            Ok(()) => _ = entry.insert(connection),
            Err(e) => eprintln!("servidor_minimo: no se pudo registrar un cliente: {e}"),
        }
    }
}

/// Where a connection is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    Open,    // reading requests and answering them
    Closing, // the client closed its side (or sent too much): send what we owe, then close
    Closed,  // done: the loop drops it
}

/// What the loop should do with a connection after giving it a turn.
enum Next {
    Wait,  // nothing until the OS has news about its socket
    Again, // it spent its write budget with bytes left: another turn soon
    Drop,  // deregister and drop it
}

/// A file being sent, chunk by chunk, as the socket drains.
struct Download {
    file: File,
    left: u64,     // bytes of the file not read yet
    tail: Vec<u8>, // the end of the reply's pickle, sent after the last chunk
}

/// One client.
struct Connection {
    socket: TcpStream,
    state: State,
    /// Bytes received that do not make a whole frame yet. TCP is a stream, not a
    /// sequence of messages: one read may bring half a frame, or a frame and a half.
    inbox: Vec<u8>,
    /// Chunks waiting to be written, in order. The first may be partly written.
    outbox: VecDeque<Vec<u8>>,
    sent: usize,        // how much of `outbox.front()` is already written
    queued: usize,      // bytes in `outbox` not written yet
    interest: Interest, // what we last asked the OS to watch for on this socket
    download: Option<Download>,
}

impl Connection {
    /// One turn: read what arrived, answer the whole frames, write what we can.
    ///
    /// We do not look at whether the event said "readable" or "writable". Events are
    /// hints that something may have changed; trying both is always correct, because a
    /// socket that is not ready just answers `WouldBlock`.
    fn drive(&mut self, registry: &Registry, token: Token) -> Next {
        let mut budget = WRITE_BUDGET;
        let failed = self.work(&mut budget).is_err();
        let done = self.queued == 0 && self.download.is_none();
        if failed || (self.state == State::Closing && done) {
            self.state = State::Closed;
        }
        if self.state == State::Closed {
            return Next::Drop;
        }
        // Ask to hear "writable" only while we have bytes to write. A socket with room
        // in its send buffer is writable nearly all the time, so asking for it with
        // nothing to send would wake us for nothing, over and over.
        let wanted = if done { Interest::READABLE } else { BOTH };
        if wanted != self.interest && registry.reregister(&mut self.socket, token, wanted).is_err() {
            return Next::Drop;
        }
        self.interest = wanted;
        match budget {
            0 if !done => Next::Again,
            _ => Next::Wait,
        }
    }

    /// The turn itself. An error means the connection is finished.
    fn work(&mut self, budget: &mut usize) -> io::Result<()> {
        loop {
            self.read_available()?;
            let answered = self.answer_whole_frames();
            let before = self.queued;
            self.write_some(budget)?;
            // Writing everything may have freed us to answer requests that were waiting
            // behind a download, so go round again while that is possible.
            let wrote = self.queued < before;
            if !(self.ready_for_a_request() && (answered || wrote)) {
                return Ok(());
            }
        }
    }

    /// Reads until the OS says `WouldBlock`, the client has finished, or the inbox holds
    /// as much as one request may be (the rest waits in the OS until we have room).
    fn read_available(&mut self) -> io::Result<()> {
        let mut buf = [0u8; 4096];
        while self.state == State::Open && self.inbox.len() < 4 + MAX_FRAME {
            match self.socket.read(&mut buf) {
                // A read of 0 bytes is how the OS says "end of stream": the client
                // closed its side and will send nothing more. (A client with nothing to
                // say right now gives `WouldBlock` instead.) We still send what we owe.
                Ok(0) => self.state = State::Closing,
                Ok(n) => self.inbox.extend_from_slice(&buf[..n]),
                // The socket is nonblocking: instead of putting our only thread to sleep
                // until bytes arrive, the OS says "nothing now". mio will tell us when
                // there is more, so we go and serve someone else.
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                // A signal interrupted the call before it did anything: just try again.
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// We take a new request only when the previous reply is nearly out, so replies
    /// leave in order and one client cannot pile up replies in our memory.
    fn ready_for_a_request(&self) -> bool {
        self.download.is_none() && self.queued < LOW_WATER
    }

    /// Answers the whole frames in the inbox, while we are ready for them.
    fn answer_whole_frames(&mut self) -> bool {
        let mut answered = false;
        while self.ready_for_a_request() && self.inbox.len() >= 4 {
            let len = u32::from_be_bytes([self.inbox[0], self.inbox[1], self.inbox[2], self.inbox[3]]);
            let len = len as usize;
            if len > MAX_FRAME {
                // We will not buffer this much; and we cannot skip it either, since
                // whatever follows would be read in the middle of it. Say why and close.
                let why = format!("mensaje demasiado grande: {len} bytes (el máximo es {MAX_FRAME})");
                self.push(error_reply("", &why));
                self.inbox.clear();
                self.state = State::Closing;
                return true;
            }
            if self.inbox.len() < 4 + len {
                break; // Half a frame: the rest is still on its way.
            }
            let frame: Vec<u8> = self.inbox.drain(..4 + len).skip(4).collect();
            self.handle(&frame);
            answered = true;
        }
        answered
    }

    /// Decodes one request and queues its reply. Every request gets a reply: an error
    /// says why in Spanish, for the person at the client.
    fn handle(&mut self, payload: &[u8]) {
        let Some((op, data)) = decode(payload) else {
            let why = "mensaje inválido: se esperaba un Mensaje";
            return self.push(error_reply("", why));
        };
        let done = match op.as_str() {
            "listar" => list_folder()
                .map(|names| self.push(small_reply(&op, |out| put_names(out, &names), "ok")))
                .map_err(|_| "no se pudo leer la carpeta".to_string()),
            "descargar" => self.start_download(&data),
            _ => Err(format!("operación desconocida: {op}")),
        };
        if let Err(why) = done {
            self.push(error_reply(&op, &why));
        }
    }

    /// Opens the file and queues the reply's head. The file's bytes are not read here:
    /// `refill` reads them a chunk at a time, as the client takes them.
    fn start_download(&mut self, data: &Value) -> Result<(), String> {
        let Value::String(name) = data else {
            return Err("se esperaba el nombre del archivo (str)".to_string());
        };
        check_name(name)?;
        let path = Path::new(FOLDER).join(name);
        let missing = || format!("no existe el archivo: {name}");
        // symlink_metadata does not follow links: a link in the folder could point
        // anywhere on the disk, so we serve regular files only (as `listar` lists them).
        if !std::fs::symlink_metadata(&path).is_ok_and(|m| m.is_file()) {
            return Err(missing());
        }
        let file = File::open(&path).map_err(|_| missing())?;
        let size = file.metadata().map_err(|_| missing())?.len();
        // The frame starts with its length, so we must know it before the first byte
        // leaves: head, then `size` bytes of file, then the tail.
        let mut head = reply_head("descargar");
        put_bytes_header(&mut head, size);
        let tail = reply_tail("ok");
        let total = (head.len() - 4) as u64 + size + tail.len() as u64;
        let Ok(total) = u32::try_from(total) else {
            return Err("archivo demasiado grande para un mensaje".to_string());
        };
        head[..4].copy_from_slice(&total.to_be_bytes());
        self.push(head);
        self.download = Some(Download {
            file,
            left: size,
            tail,
        });
        Ok(())
    }

    fn push(&mut self, bytes: Vec<u8>) {
        self.queued += bytes.len();
        self.outbox.push_back(bytes);
    }

    /// Tops up the outbox from the file being downloaded.
    ///
    /// Why chunks: a 64 MiB file read whole would sit in our memory until a slow client
    /// took it all, and a hundred such clients would need 6 GiB. Reading a chunk only
    /// when the outbox runs low keeps each download to a few chunks, however big the
    /// file and however slow the client.
    fn refill(&mut self) -> io::Result<()> {
        while self.queued < LOW_WATER {
            let Some(download) = &mut self.download else {
                return Ok(());
            };
            if download.left == 0 {
                let tail = std::mem::take(&mut download.tail);
                self.download = None;
                self.push(tail);
                return Ok(());
            }
            let mut chunk = vec![0; download.left.min(CHUNK as u64) as usize];
            let n = match download.file.read(&mut chunk) {
                // The file got shorter since we announced its size. We cannot take the
                // length back, so the only honest thing left is to close.
                Ok(0) => return Err(ErrorKind::UnexpectedEof.into()),
                Ok(n) => n,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            chunk.truncate(n);
            download.left -= n as u64;
            self.push(chunk);
        }
        Ok(())
    }

    /// Writes until the outbox is empty, the OS says `WouldBlock`, or the budget is spent.
    fn write_some(&mut self, budget: &mut usize) -> io::Result<()> {
        loop {
            self.refill()?;
            let Some(front) = self.outbox.front() else {
                return Ok(());
            };
            // The budget keeps one fast client on a fast network from holding the loop
            // while everyone else waits: after its share, the next client gets a turn.
            if *budget == 0 {
                return Ok(());
            }
            let end = front.len().min(self.sent + *budget);
            match self.socket.write(&front[self.sent..end]) {
                Ok(0) => return Err(ErrorKind::WriteZero.into()),
                Ok(n) => {
                    self.sent += n;
                    self.queued -= n;
                    *budget -= n;
                    if self.sent == front.len() {
                        self.outbox.pop_front();
                        self.sent = 0;
                    }
                }
                // The socket's send buffer in the OS is full: the client is not reading
                // as fast as we write. We keep the rest and ask to hear "writable".
                Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

/// Refuses names that would leave the folder or that we do not list: empty, with a
/// separator (`../x`, `/etc/passwd`, `C:\x`), or hidden (`.`, `..`, `.oculto`).
fn check_name(name: &str) -> Result<(), String> {
    match name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', ':', '\0']) {
        true => Err(format!("nombre inválido: {name:?}")),
        false => Ok(()),
    }
}

/// The names of the regular files in the folder, sorted, that `descargar` would accept.
fn list_folder() -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(FOLDER)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().into_string() else {
            continue; // Not UTF-8: a Python str could not hold it.
        };
        if entry.file_type()?.is_file() && check_name(&name).is_ok() {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// Turns a request's pickle into its `operacion` and `data`.
///
/// The course's client pickles an instance of its class `__main__.Mensaje`. We have no
/// such class, so we let serde-pickle keep the instance's attributes as a dict.
fn decode(payload: &[u8]) -> Option<(String, Value)> {
    let options = serde_pickle::DeOptions::new().replace_unresolved_globals();
    let Value::Dict(mut fields) = serde_pickle::value_from_slice(payload, options).ok()? else {
        return None;
    };
    let mut take = |key: &str| fields.remove(&HashableValue::String(key.to_string()));
    match (take("operacion"), take("data")) {
        (Some(Value::String(operacion)), data) => Some((operacion, data.unwrap_or(Value::None))),
        _ => None,
    }
}

/// Arranges for "Enter on stdin" to reach the loop.
///
/// On Unix, stdin is a file descriptor like a socket, and when it is a terminal or a
/// pipe the same `Poll` can watch it. Where it cannot be watched (Windows, or stdin is
/// /dev/null or a plain file, which epoll refuses), a thread waits on it instead and
/// wakes the loop through a `Waker` when a line arrives.
fn watch_stdin(registry: &Registry) -> io::Result<Option<Arc<Waker>>> {
    #[cfg(unix)]
    if registry
        .register(&mut mio::unix::SourceFd(&0), STDIN, Interest::READABLE)
        .is_ok()
    {
        return Ok(None);
    }
    let waker = Arc::new(Waker::new(registry, WAKER)?);
    let thread_waker = Arc::clone(&waker);
    std::thread::spawn(move || {
        let mut line = String::new();
        // At the end of stdin (0 bytes) nobody can press Enter: the thread just ends.
        if io::stdin().read_line(&mut line).is_ok() && line.ends_with('\n') {
            let _ = thread_waker.wake();
        }
    });
    Ok(Some(waker))
}

/// Reads what stdin holds now: whether it brought an Enter, or None at its end. This is
/// the one blocking read in the loop, and the one place we trust an event: stdin is not
/// made nonblocking (it is shared with the shell), so we read only when the OS has just
/// said it is readable, and then it returns at once. (Started in the background of a
/// terminal, even that read would stop us; servidor checks for that first.)
fn read_stdin() -> Option<bool> {
    let mut stdin = io::stdin().lock();
    let (len, enter) = match stdin.fill_buf() {
        Ok(bytes) => (bytes.len(), bytes.contains(&b'\n')),
        Err(_) => return Some(false),
    };
    stdin.consume(len);
    (len > 0).then_some(enter)
}

// --- Writing replies. A pickle is a little program for Python's unpickler: each opcode
// pushes something on a stack or combines what is there. A reply (protocol 4) names the
// course's class, makes an instance, and sets its attributes from a dict, as Python does.

/// A whole frame for a small reply, whose `data` value the closure writes.
fn small_reply(operacion: &str, data: impl FnOnce(&mut Vec<u8>), estado: &str) -> Vec<u8> {
    let mut out = reply_head(operacion);
    data(&mut out);
    out.extend_from_slice(&reply_tail(estado));
    let len = (out.len() - 4) as u32; // Small: requests and names are bounded.
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// The frame up to the `data` value: room for the length, then
/// `Mensaje` instance, `{"operacion": operacion, "data": ` ...
fn reply_head(operacion: &str) -> Vec<u8> {
    let mut out = vec![0, 0, 0, 0, 0x80, 4]; // room for the length; PROTO 4
    put_str(&mut out, "__main__");
    put_str(&mut out, "Mensaje");
    // STACK_GLOBAL (the class, by the two names), EMPTY_TUPLE and NEWOBJ (an instance,
    // made with no arguments), EMPTY_DICT and MARK (its attributes begin).
    out.extend_from_slice(&[0x93, b')', 0x81, b'}', b'(']);
    put_str(&mut out, "operacion");
    put_str(&mut out, operacion);
    put_str(&mut out, "data");
    out
}

/// ... `"estado": estado}`, set as the instance's attributes, and the end.
fn reply_tail(estado: &str) -> Vec<u8> {
    let mut out = Vec::new();
    put_str(&mut out, "estado");
    put_str(&mut out, estado);
    // SETITEMS (fill the dict), BUILD (set it on the instance), STOP.
    out.extend_from_slice(b"ub.");
    out
}

/// An error reply: `data` says why, in Spanish.
fn error_reply(operacion: &str, why: &str) -> Vec<u8> {
    small_reply(operacion, |out| put_str(out, why), "error")
}

/// A list of str: EMPTY_LIST; then, like Python, batches of 1000: MARK, items, APPENDS.
fn put_names(out: &mut Vec<u8>, names: &[String]) {
    out.push(b']');
    for batch in names.chunks(1000) {
        out.push(b'(');
        batch.iter().for_each(|name| put_str(out, name));
        out.push(b'e');
    }
}

/// A str: SHORT_BINUNICODE and a 1-byte length, or BINUNICODE and 4 bytes (little-endian).
fn put_str(out: &mut Vec<u8>, text: &str) {
    put_sized(out, (0x8c, b'X'), text.len() as u64);
    out.extend_from_slice(text.as_bytes());
}

/// The opcode and length that come before `len` bytes of a `bytes`: SHORT_BINBYTES or
/// BINBYTES. (BINBYTES8, for 4 GiB and more, would not fit a frame's 4-byte length.)
fn put_bytes_header(out: &mut Vec<u8>, len: u64) {
    put_sized(out, (b'C', b'B'), len);
}

fn put_sized(out: &mut Vec<u8>, (short, long): (u8, u8), len: u64) {
    if len < 256 {
        out.extend_from_slice(&[short, len as u8]);
    } else {
        out.push(long);
        out.extend_from_slice(&(len as u32).to_le_bytes());
    }
}
