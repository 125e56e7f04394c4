//! Drives one connection state machine over a scripted in-memory socket, with the real
//! operations behind it. The fuzz targets and the randomized test share it, so whatever
//! the fuzzer learns about a crash can be replayed in plain `cargo test`.
//!
//! The script decides how the client's bytes are sliced into reads, where the socket says
//! `WouldBlock` or `Interrupted`, how much room the send buffer has, and when the peer
//! resets. The driver checks what must hold whatever the input: every complete frame the
//! server wrote decodes as a reply, and buffers stay within their limits.

use crate::connection::{Connection, RequestBudget, State, Tuning};
use crate::ops::Dispatch;
use crate::outbox::Transport;
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::time::Instant;

enum ReadStep {
    Data(Vec<u8>),
    WouldBlock,
    Interrupted,
    Reset,
}

enum WriteStep {
    Room(usize),
    WouldBlock,
    Interrupted,
}

/// The in-memory socket.
pub struct ScriptedStream {
    reads: VecDeque<ReadStep>,
    writes: VecDeque<WriteStep>,
    /// Everything the server wrote.
    pub output: Vec<u8>,
}

impl Read for ScriptedStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.reads.pop_front() {
            // The script is used up: the client has closed its side.
            None => Ok(0),
            Some(ReadStep::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Some(ReadStep::Interrupted) => Err(io::ErrorKind::Interrupted.into()),
            Some(ReadStep::Reset) => Err(io::ErrorKind::ConnectionReset.into()),
            Some(ReadStep::Data(mut d)) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                if n < d.len() {
                    self.reads.push_front(ReadStep::Data(d.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for ScriptedStream {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        let n = match self.writes.pop_front() {
            None => b.len(),
            Some(WriteStep::WouldBlock) => return Err(io::ErrorKind::WouldBlock.into()),
            Some(WriteStep::Interrupted) => return Err(io::ErrorKind::Interrupted.into()),
            Some(WriteStep::Room(n)) => n.min(b.len()),
        };
        self.output.extend_from_slice(&b[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for ScriptedStream {}

/// Budgets and limits small enough that short scripts reach every path: frames over the
/// limit, budgets running out mid-stream, backpressure after a few replies.
pub fn tight_tuning() -> Tuning {
    Tuning {
        max_frame: 8 * 1024,
        read_budget: 1024,
        write_budget: 2048,
        frames_budget: 3,
        high_water_bytes: 4096,
        high_water_chunks: 4,
        max_open_files: 2,
        pickle: crate::pickle::Limits::default(),
        short_read_drains: false,
    }
}

/// Builds the socket from fuzz bytes: two bytes give the plan's length, the plan follows,
/// and the rest is what the client sends.
pub fn scripted(input: &[u8]) -> ScriptedStream {
    let plan_len = match input {
        [a, b, ..] => (u16::from_be_bytes([*a, *b]) as usize).min(input.len() - 2),
        _ => 0,
    };
    let (plan, mut stream) = input
        .get(2..)
        .map_or((&[][..], &[][..]), |rest| rest.split_at(plan_len));
    let mut reads = VecDeque::new();
    let mut writes = VecDeque::new();
    for &b in plan {
        let n = (b >> 3) as usize + 1;
        match b & 7 {
            0..=2 => {
                let take = (n * 13).min(stream.len());
                reads.push_back(ReadStep::Data(stream[..take].to_vec()));
                stream = &stream[take..];
            }
            3 => reads.push_back(ReadStep::WouldBlock),
            4 => reads.push_back(ReadStep::Interrupted),
            5 => writes.push_back(WriteStep::Room(n * 61)),
            6 if b == 0xfe => reads.push_back(ReadStep::Reset),
            6 => writes.push_back(WriteStep::WouldBlock),
            _ => writes.push_back(WriteStep::Interrupted),
        }
    }
    if !stream.is_empty() {
        reads.push_back(ReadStep::Data(stream.to_vec()));
    }
    ScriptedStream {
        reads,
        writes,
        output: Vec::new(),
    }
}

/// What a run produced.
pub struct Outcome {
    /// `(operacion, estado)` of each complete reply frame written, in order.
    pub replies: Vec<(String, String)>,
    pub final_state: State,
}

/// Runs one connection to the end over `stream`, with `ctx` behind it. Panics if an
/// invariant breaks (that is what a fuzzer looks for).
pub fn drive(stream: ScriptedStream, ctx: &mut Context, tuning: &Tuning) -> Outcome {
    let now = Instant::now();
    let peer = "127.0.0.1:9".parse().expect("a valid address");
    let id = ctx.peers.join(0, peer);
    let mut conn = Connection::new(stream, peer, now, std::rc::Rc::new(*tuning));
    let mut budget = RequestBudget::new(tuning.max_frame * 2);
    let mut scratch = vec![0u8; 4096];
    // Enough turns to finish any script; a loop that needs more is a bug (it spins).
    const MAX_TURNS: usize = 100_000;
    for turn in 0.. {
        assert!(
            turn < MAX_TURNS,
            "still running after {MAX_TURNS} turns: the connection spins"
        );
        conn.mark_ready(true, true);
        let mut dispatch = Dispatch {
            ctx: &mut *ctx,
            id,
            key: 0,
            peer,
        };
        conn.service(&mut scratch, &mut dispatch, &mut budget, now);
        let (inbuf, _) = conn.buffered();
        assert!(
            inbuf <= tuning.max_frame + 4 + scratch.len(),
            "read buffer of {inbuf} bytes"
        );
        while ctx.has_work() {
            ctx.work();
        }
        // The same hand-over as the server's: pushes and promised replies, whole.
        for delivery in ctx.take_deliveries() {
            conn.enqueue(delivery.chunks);
            if delivery.resumes {
                conn.resume(now);
            }
        }
        let idle = conn.stream_mut().reads.is_empty() && conn.queued().0 == 0 && !conn.is_waiting();
        if conn.state() == State::Closed || (idle && conn.state() != State::Open) {
            break;
        }
    }
    conn.release(&mut budget);
    assert_eq!(budget.used(), 0, "request budget given back");
    ctx.forget(id);
    let final_state = conn.state();
    let replies = check_replies(&conn.stream_mut().output, ctx.limits.pickle);
    Outcome { replies, final_state }
}

/// Every complete frame the server wrote must decode as a reply with estado ok/error.
fn check_replies(mut out: &[u8], limits: crate::pickle::Limits) -> Vec<(String, String)> {
    use crate::protocol::{Check, Codec};
    let limits = crate::protocol::Limits {
        // Replies may be bigger than requests (a download).
        max_frame: usize::MAX >> 1,
        max_json: usize::MAX >> 1,
        pickle: crate::pickle::Limits {
            max_copied: usize::MAX,
            ..limits
        },
    };
    let mut codec = Codec::Course;
    let mut replies = Vec::new();
    loop {
        let frame = match codec.check(out, &limits) {
            Check::Complete(frame) => frame,
            Check::Incomplete { .. } => break,
            Check::Invalid(bad) => panic!("bad reply frame: {bad:?}"),
        };
        let len = frame.len;
        let (reply, _) = codec
            .decode(out, frame, &limits, &mut crate::message::Memo::default())
            .unwrap_or_else(|e| panic!("bad reply frame: {e:?}"));
        let estado = match &reply.estado {
            crate::pickle::Value::String(s) => s.as_str(),
            other => panic!("estado is {other:?}"),
        };
        assert!(estado == "ok" || estado == "error", "estado {estado:?}");
        let version = crate::pickle::decode::get(&reply.data, "version");
        if reply.operacion == "hola" && estado == "ok" {
            // The server speaks the version agreed from its next frame on.
            codec = match version {
                #[cfg(feature = "proto2")]
                Some(crate::pickle::Value::I64(2)) => Codec::V2,
                _ => Codec::Course,
            };
        }
        replies.push((reply.operacion.clone(), estado.to_string()));
        out = &out[len..];
    }
    replies
}

/// The operations' shared state, for harnesses that keep one across runs.
pub use crate::ops::Context;

/// A context serving `dir`, with its staging folder ready for uploads.
pub fn context(dir: &std::path::Path, max_frame: usize) -> Context {
    let storage = crate::storage::Storage::open(dir).expect("the folder opens");
    storage
        .prepare_staging(std::time::Duration::from_secs(3600))
        .expect("staging is ready");
    Context::new(storage, max_frame)
}

/// What must hold for any name: an accepted one stays one level inside the folder and
/// opens nothing but a regular file there (the folder holds `a.txt`, a subfolder and a
/// symlink out); a refused one opens nothing and is not served.
pub fn name_stays_inside(s: &crate::storage::Storage, name: &str, only_file: &str) {
    match crate::storage::check_name(name) {
        Ok(()) => {
            assert!(!name.is_empty() && name.len() <= 255);
            assert!(!name.contains(['/', '\\', '\0']) && !name.starts_with('.'));
            let joined = s.root().join(name);
            assert_eq!(joined.parent(), Some(s.root()), "{name:?} leaves the folder");
            if let Ok((file, _)) = s.open_file(name) {
                let meta = file.metadata().expect("an open file has metadata");
                assert!(meta.is_file());
                assert!(name == only_file, "opened {name:?}");
            }
        }
        Err(msg) => {
            assert!(!msg.is_empty());
            assert!(s.open_file(name).is_err());
            assert!(!s.is_served_file(name));
        }
    }
}

#[cfg(test)]
mod randomized;
