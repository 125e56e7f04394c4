//! The connection: framed `Mensaje` pickles over one blocking TCP stream.
//!
//! The stream is split in a `Reader` and a `Writer` (two handles on one socket), so the
//! menu can read on one thread while it writes on another. Reading decodes each frame
//! with the library's own parser; a frame carrying a large `bytes` value has that value
//! streamed to a hidden file instead of memory (see `spill.rs`).

use super::args::Target;
use super::progress::Progress;
use super::spill;
use almacen::frame::HEADER_LEN;
use almacen::message;
use almacen::pickle::{Data, Envelope, Limits, Value};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};

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

/// Why an operation did not complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The server answered with `estado="error"`; this is its message.
    Server(String),
    /// The connection failed, or the server said something we cannot read.
    Link(String),
    /// A problem on this side: a local file, or how the command was asked.
    Local(String),
}

impl Failure {
    /// The process exit code for it: 1 when the server refused, 2 otherwise.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Server(_) => 1,
            Failure::Link(_) | Failure::Local(_) => 2,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Server(m) | Failure::Link(m) | Failure::Local(m) => f.write_str(m),
        }
    }
}

fn lost(e: &io::Error) -> Failure {
    Failure::Link(format!("se perdió la conexión con el servidor: {e}"))
}

/// A bytes value that was written to a hidden file instead of memory. The file is
/// removed when this is dropped, unless it was taken with [`Spill::keep`].
#[derive(Debug)]
pub struct Spill {
    path: Option<PathBuf>,
}

impl Spill {
    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a spill's file is there until kept")
    }

    /// Takes the file: from now on the caller owns it (renames or removes it).
    pub fn keep(mut self) -> PathBuf {
        self.path.take().expect("a spill is kept once")
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
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

/// Reads frames. `spool` is the folder where large bytes values are written (the
/// downloads folder, so a pushed file can be moved into place without a copy).
pub struct Reader {
    stream: BufReader<TcpStream>,
    spool: PathBuf,
    spilled: u64,
}

/// Sends requests.
pub struct Writer {
    stream: TcpStream,
}

/// Connects and returns both halves.
pub fn connect(target: &Target, spool: &Path) -> Result<(Reader, Writer), Failure> {
    let stream = TcpStream::connect((target.host.as_str(), target.port)).map_err(|e| {
        Failure::Link(format!(
            "no se pudo conectar a {}:{}: {e}",
            target.host, target.port
        ))
    })?;
    // Requests are single writes of whole frames; no reason to wait for more.
    let _ = stream.set_nodelay(true);
    let read_half = stream.try_clone().map_err(|e| lost(&e))?;
    Ok((
        Reader {
            stream: BufReader::with_capacity(HEAD, read_half),
            spool: spool.to_path_buf(),
            spilled: 0,
        },
        Writer { stream },
    ))
}

impl Writer {
    /// Sends `Mensaje(operacion, data)` the way the course client does.
    pub fn send(&mut self, operacion: &str, data: &Data) -> Result<(), Failure> {
        let frame = message::frame_request(&Envelope::course(), operacion, data);
        self.stream.write_all(&frame).map_err(|e| lost(&e))
    }
}

impl Reader {
    /// The next frame, or None when the server closed the connection between frames.
    pub fn next(&mut self) -> Result<Option<Msg>, Failure> {
        let mut prefix = [0u8; HEADER_LEN];
        match read_full(&mut self.stream, &mut prefix).map_err(|e| lost(&e))? {
            0 => return Ok(None),
            HEADER_LEN => {}
            _ => return Err(Failure::Link("el servidor cortó un mensaje por la mitad".into())),
        }
        let len = u32::from_be_bytes(prefix) as usize;
        if len <= INLINE_MAX {
            let payload = self.read_exact(len)?;
            return decode(&payload, None);
        }
        let head = self.read_exact(HEAD)?;
        if let Some(found) = spill::find_large_bytes(&head, SPILL_MIN) {
            let after = found.body_at as u64 + found.len;
            let tail_len = (len as u64).checked_sub(after);
            if let Some(tail_len) = tail_len.filter(|t| *t <= HEAD as u64) {
                let spill = self.spill_body(&head[found.body_at..], found.len)?;
                let tail = self.read_exact(tail_len as usize)?;
                return decode(&spill::skeleton(&head, &found, &tail), Some(spill));
            }
        }
        if len > BUFFER_MAX {
            return Err(Failure::Link(format!(
                "el servidor envió un mensaje demasiado grande ({len} bytes)"
            )));
        }
        let mut payload = head;
        payload.extend(self.read_exact(len - HEAD)?);
        decode(&payload, None)
    }

    fn read_exact(&mut self, len: usize) -> Result<Vec<u8>, Failure> {
        let mut buf = vec![0; len];
        self.stream.read_exact(&mut buf).map_err(|e| lost(&e))?;
        Ok(buf)
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
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(local_io(&path, &e)),
            }
        };
        // From here on, dropping `spill` removes the half-written file.
        let spill = Spill { path: Some(path) };
        let mut progress = Progress::new("recibiendo", Some(len), 0);
        file.write_all(started).map_err(|e| local_io(spill.path(), &e))?;
        let mut done = started.len() as u64;
        let mut buf = vec![0; 256 * 1024];
        while done < len {
            let want = buf.len().min((len - done) as usize);
            let n = self.stream.read(&mut buf[..want]).map_err(|e| lost(&e))?;
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

/// A local file problem, naming the file.
pub fn local_io(path: &Path, e: &io::Error) -> Failure {
    Failure::Local(format!("{}: {e}", path.display()))
}

/// Reads until `buf` is full or the stream ends; returns how much was read.
fn read_full(stream: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match stream.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

fn decode(payload: &[u8], spill: Option<Spill>) -> Result<Option<Msg>, Failure> {
    let msg = message::parse(payload, Limits::default())
        .map_err(|bad| Failure::Link(format!("respuesta ilegible del servidor: {}", bad.detail)))?
        .into_owned();
    let estado = match msg.estado {
        Value::String(s) => s,
        _ => String::new(),
    };
    Ok(Some(Msg {
        operacion: msg.operacion,
        data: msg.data,
        estado,
        spill,
    }))
}

/// Anything that can carry one request and bring back its reply.
pub trait Call {
    /// Sends `operacion` with `data` and returns the reply, after routing any pushes
    /// that arrive before it.
    fn call(&mut self, operacion: &str, data: Data) -> Result<Msg, Failure>;

    /// Like [`Call::call`], keeping only an ok reply's data.
    fn ask(&mut self, operacion: &str, data: Data) -> Result<Value, Failure> {
        self.call(operacion, data)?.into_ok()
    }
}

/// Request and reply on one thread: for the subcommands.
pub struct Direct {
    pub reader: Reader,
    pub writer: Writer,
    pub pushes: super::pushes::Pushes,
}

impl Call for Direct {
    fn call(&mut self, operacion: &str, data: Data) -> Result<Msg, Failure> {
        self.writer.send(operacion, &data)?;
        loop {
            match self.reader.next()? {
                None => return Err(Failure::Link("el servidor cerró la conexión".into())),
                Some(msg) if super::pushes::is_push(&msg) => self.pushes.handle(msg),
                Some(msg) => return Ok(msg),
            }
        }
    }
}
