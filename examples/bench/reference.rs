//! Minimal servers that live only inside the bench, to measure what the machine allows.
//!
//! Each accepts on 127.0.0.1, gives every connection its own thread with blocking sockets
//! (no event loop, no parsing: nothing between the request and the kernel), reads one frame
//! at a time and answers it with a fixed reply. With `Body::Sendfile` that reply is byte for
//! byte what servidor sends for `descargar`, so their ratio is servidor's overhead and nothing
//! else. The other variants isolate one design choice each: copying through a buffer instead
//! of sendfile, and a small reply written in two calls with and without TCP_NODELAY.

use almacen::message;
use almacen::pickle::{Data, Envelope};
use almacen::protocol::v2::encode;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};

/// How a file's bytes reach the socket.
#[derive(Debug, Clone, Copy)]
pub enum Body {
    /// sendfile(2): page cache to socket, no copy through user space.
    Sendfile,
    /// pread into a buffer of this size, then write: the portable way, one copy more.
    Copy { chunk: usize },
}

/// What every request is answered with.
#[derive(Debug, Clone)]
pub enum Answer {
    /// The `descargar` reply for this file: head, the file's bytes, tail. With `hola`, the
    /// connection first agrees on protocol 2 as servidor's does (the first request gets
    /// `hola`'s reply), and the file then goes with protocol 2's head: the same bytes, and
    /// the same round trip before them, as servidor in protocol 2.
    File { path: PathBuf, body: Body, hola: bool },
    /// A small frame held in memory. `split` writes the 4-byte prefix and the pickle in two
    /// calls, as the course's Python server does with its two `sendall`.
    Small {
        frame: Vec<u8>,
        split: bool,
        nodelay: bool,
    },
}

pub struct RefServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl RefServer {
    pub fn start(answer: Answer) -> io::Result<RefServer> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let answer = Arc::new(answer);
        let accept = thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    let answer = Arc::clone(&answer);
                    // The thread ends when its client closes: read_exact or a send fails.
                    thread::spawn(move || {
                        let _ = serve(conn, &answer);
                    });
                }
            }
        });
        Ok(RefServer {
            addr,
            stop,
            accept: Some(accept),
        })
    }
}

impl Drop for RefServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // accept() is blocking: one last connection wakes it up to see the flag.
        let _ = TcpStream::connect(self.addr);
        if let Some(h) = self.accept.take() {
            let _ = h.join();
        }
    }
}

fn serve(mut sock: TcpStream, answer: &Answer) -> io::Result<()> {
    let nodelay = match answer {
        Answer::Small { nodelay, .. } => *nodelay,
        Answer::File { .. } => true,
    };
    sock.set_nodelay(nodelay)?;
    // Opened once per connection; every reply reads it at its own offset.
    let file = match answer {
        Answer::File { path, hola, .. } => {
            let f = File::open(path)?;
            let size = f.metadata()?.len();
            let parts = if *hola {
                Some((encode::stream_head(Some(1), "descargar", size), Vec::new()))
            } else {
                message::stream_parts(&Envelope::course(), "descargar", size)
            };
            let parts = parts.ok_or_else(|| io::Error::other("file too large for one frame"))?;
            Some((f, size, parts))
        }
        Answer::Small { .. } => None,
    };
    let mut prefix = [0u8; 4];
    let mut request = Vec::new();
    if let Answer::File { hola: true, .. } = answer {
        sock.read_exact(&mut prefix)?;
        request.resize(u32::from_be_bytes(prefix) as usize, 0);
        sock.read_exact(&mut request)?;
        let agreed = Data::dict([("version", Data::Int(2))]);
        sock.write_all(&message::ok(&Envelope::Dict, "hola", &agreed))?;
    }
    loop {
        sock.read_exact(&mut prefix)?;
        request.resize(u32::from_be_bytes(prefix) as usize, 0);
        sock.read_exact(&mut request)?;
        match (answer, &file) {
            (Answer::Small { frame, split, .. }, _) => {
                if *split {
                    sock.write_all(&frame[..4])?;
                    sock.write_all(&frame[4..])?;
                } else {
                    sock.write_all(frame)?;
                }
            }
            (Answer::File { body, .. }, Some((f, size, (head, tail)))) => {
                sock.write_all(head)?;
                match body {
                    Body::Sendfile => send_file(&sock, f, *size)?,
                    Body::Copy { chunk } => copy_file(&mut sock, f, *size, *chunk)?,
                }
                sock.write_all(tail)?;
            }
            (Answer::File { .. }, None) => unreachable!("the file was opened above"),
        }
    }
}

fn send_file(sock: &TcpStream, file: &File, size: u64) -> io::Result<()> {
    let mut offset: libc::off_t = 0;
    while (offset as u64) < size {
        // Linux moves at most 0x7ffff000 bytes per call.
        let want = (size - offset as u64).min(0x7fff_f000) as usize;
        // SAFETY: both descriptors stay open for the call (we borrow their owners), and
        // the offset is our own variable: the kernel writes nothing else.
        let n = unsafe { libc::sendfile(sock.as_raw_fd(), file.as_raw_fd(), &mut offset, want) };
        match n {
            n if n > 0 => {}
            0 => return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank")),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

fn copy_file(sock: &mut TcpStream, file: &File, size: u64, chunk: usize) -> io::Result<()> {
    let mut buf = vec![0u8; chunk];
    let mut offset = 0u64;
    while offset < size {
        let want = (size - offset).min(chunk as u64) as usize;
        let n = file.read_at(&mut buf[..want], offset)?;
        if n == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "file shrank"));
        }
        sock.write_all(&buf[..n])?;
        offset += n as u64;
    }
    Ok(())
}
