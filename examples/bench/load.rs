//! The load generator every measurement shares: a few threads, each running its own mio loop
//! over a group of connections, each connection doing request → whole reply → request.
//! [`run_blocking`] is the other kind of client, for §2 only: a blocking thread per connection.
//!
//! One client code path drives servidor, the bench's own reference servers and redis, so a
//! ratio between two of them compares servers, not clients. Requests are never pipelined:
//! a connection sends its next request only once the previous reply has fully arrived, which
//! is how the course's client (and redis-benchmark without `-P`) behaves.

use almacen::message;
use almacen::pickle::{self, Data, Envelope, Value};
use almacen::proto2::{self, header};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// How a client knows a reply is complete.
#[derive(Debug, Clone, Copy)]
pub enum Reply {
    /// 4 bytes of big-endian length, then that many bytes (almacen's protocol).
    Framed,
    /// almacen's protocol 2: 4 bytes of big-endian length L, L bytes of JSON, then the raw
    /// bytes its `bytes` key announces. Each connection says `hola` before the run.
    Framed2,
    /// Exactly this many bytes (redis answers `PING` with `+PONG\r\n`).
    Fixed(usize),
}

/// When a run ends.
#[derive(Debug, Clone, Copy)]
pub enum Stop {
    /// Each connection makes this many round trips. The run lasts until the last one ends.
    Rounds(u64),
    /// Round trips go on until `warmup + measure` has passed; only the `measure` part is
    /// counted, so connection set-up and cold caches stay out of the figures.
    Timed { warmup: Duration, measure: Duration },
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub addr: SocketAddr,
    pub request: Arc<[u8]>,
    pub reply: Reply,
    pub conns: usize,
    pub threads: usize,
    pub stop: Stop,
    /// When set, every framed reply must be exactly this long, prefix included: a download
    /// that arrived short or long is an error, not a fast run.
    pub expect_len: Option<u64>,
}

#[derive(Debug, Default, Clone)]
pub struct Outcome {
    /// Reply bytes received inside the measured window.
    pub bytes: u64,
    /// Replies whose request was sent and whose last byte arrived inside the window.
    pub replies: u64,
    /// Every complete reply, warm-up included (to divide a server's CPU time by).
    pub all_replies: u64,
    pub elapsed: Duration,
    /// One per counted reply, sorted ascending.
    pub latencies_ns: Vec<u64>,
    pub errors: Vec<String>,
    /// CPU time the server spent during the run, when the caller measured it.
    pub server_cpu: Duration,
}

impl Outcome {
    pub fn gbps(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e9
    }

    pub fn per_sec(&self) -> f64 {
        self.replies as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// Server CPU time per reply (zero when the server's CPU was not measured).
    pub fn cpu_per_reply(&self) -> Duration {
        self.server_cpu / self.all_replies.max(1) as u32
    }

    /// The latency below which a fraction `p` (0..=1) of the replies arrived.
    pub fn percentile(&self, p: f64) -> Duration {
        percentile(&self.latencies_ns, p)
    }
}

/// `p` of a sorted list of nanoseconds (nearest rank).
pub fn percentile(sorted_ns: &[u64], p: f64) -> Duration {
    if sorted_ns.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted_ns.len() as f64).ceil() as usize;
    Duration::from_nanos(sorted_ns[rank.clamp(1, sorted_ns.len()) - 1])
}

/// Opens `n` blocking connections with TCP_NODELAY (redis-benchmark sets it too).
pub fn connect(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpStream>> {
    (0..n)
        .map(|_| {
            let s = TcpStream::connect(addr)?;
            s.set_nodelay(true)?;
            Ok(s)
        })
        .collect()
}

/// One request and its whole framed reply over a blocking socket; returns the reply's
/// length (prefix included). `scratch` is where the bytes land and are forgotten.
pub fn round_trip(stream: &mut TcpStream, request: &[u8], scratch: &mut [u8]) -> io::Result<u64> {
    stream.write_all(request)?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix)?;
    let total = u32::from_be_bytes(prefix) as u64;
    let mut left = total;
    while left > 0 {
        let want = left.min(scratch.len() as u64) as usize;
        let n = stream.read(&mut scratch[..want])?;
        if n == 0 {
            return Err(io::Error::new(ErrorKind::UnexpectedEof, "reply cut short"));
        }
        left -= n as u64;
    }
    Ok(4 + total)
}

/// Switches a fresh connection to protocol 2: a pickled `hola` (a dict, so the reply is
/// one too), and its reply in the course's protocol, read whole before the run starts.
pub fn hola(stream: &mut TcpStream) -> io::Result<()> {
    let asked = Data::dict([("version", Data::Int(2))]);
    stream.write_all(&message::frame_request(&Envelope::Dict, "hola", &asked))?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix)?;
    let mut payload = vec![0; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut payload)?;
    let reply = message::parse(&payload, pickle::Limits::default())
        .map_err(|e| io::Error::other(format!("hola reply: {}", e.detail)))?;
    match reply.estado {
        Value::String(ok) if ok == "ok" => Ok(()),
        _ => Err(io::Error::other(format!(
            "servidor declined protocol 2: {:?}",
            reply.data
        ))),
    }
}

/// The raw bytes a protocol-2 header announces. Most replies (a listing) carry none and
/// do not say `"bytes"` anywhere, so only those that do are parsed, by the server's own
/// decoder: the client's cost per reply stays close to the course's protocol's.
pub fn raw_len(json: &[u8]) -> Result<u64, String> {
    if !json.windows(7).any(|w| w == b"\"bytes\"") {
        return Ok(0);
    }
    let limits = proto2::Limits::new(usize::MAX);
    let parsed = header::parse(json, &limits).map_err(|b| b.detail)?;
    Ok(parsed.bytes.unwrap_or(0))
}

/// Connects, runs the plan, and merges what every thread saw.
pub fn run(plan: &Plan) -> io::Result<Outcome> {
    let threads = plan.threads.clamp(1, plan.conns.max(1));
    let mut groups: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, mut s) in connect(plan.addr, plan.conns)?.into_iter().enumerate() {
        if let Reply::Framed2 = plan.reply {
            hola(&mut s)?;
        }
        groups[i % threads].push(s);
    }
    // Every thread starts its clock together, after all connections exist.
    let barrier = Barrier::new(threads);
    let parts: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    drive(plan, group)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    Ok(merge(parts))
}

/// Runs the plan the way a plain blocking client does (the course's Python client, or an
/// outside load tool): one OS thread per connection (`plan.threads` is ignored), each
/// writing its request and then reading the reply with blocking calls: a framed reply as
/// exactly 4 bytes of length first, then reads of the rest; a fixed one (redis' `+PONG`)
/// in one `read_exact`. A framed reply therefore costs this client one more `recv` than
/// a fixed one, as it does any client that reads the length before the payload.
///
/// Each reply wakes a sleeping thread, where the mio client's single thread is usually
/// busy when a reply lands; on a 2-core machine the two clients load the kernel's
/// scheduler very differently (docs/performance.md, "Two clients").
pub fn run_blocking(plan: &Plan) -> io::Result<Outcome> {
    let streams = connect(plan.addr, plan.conns)?;
    let barrier = Barrier::new(streams.len());
    let parts: Vec<Outcome> = std::thread::scope(|scope| {
        let handles: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let barrier = &barrier;
                scope.spawn(move || {
                    barrier.wait();
                    drive_blocking(plan, stream)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a load thread panicked"))
            .collect()
    });
    Ok(merge(parts))
}

/// One blocking connection's loop: request, whole reply, request...
fn drive_blocking(plan: &Plan, mut stream: TcpStream) -> Outcome {
    let mut out = Outcome::default();
    let start = Instant::now();
    let (record_from, deadline) = match plan.stop {
        Stop::Rounds(_) => (start, None),
        Stop::Timed { warmup, measure } => (start + warmup, Some(start + warmup + measure)),
    };
    let mut scratch = vec![0u8; SCRATCH];
    let mut last_finish = start;
    let mut rounds = 0;
    loop {
        let began = Instant::now();
        if deadline.is_some_and(|d| began >= d) || matches!(plan.stop, Stop::Rounds(r) if rounds >= r) {
            break;
        }
        if began.duration_since(start) > HANG {
            out.errors.push(format!("no progress after {HANG:?}"));
            break;
        }
        let len = match blocking_round_trip(&mut stream, plan, &mut scratch) {
            Ok(len) => len,
            Err(e) => {
                out.errors.push(format!("round trip: {e}"));
                break;
            }
        };
        if let (Reply::Framed, Some(expected)) = (plan.reply, plan.expect_len) {
            if len != expected {
                out.errors
                    .push(format!("reply of {len} bytes, expected {expected}"));
                break;
            }
        }
        let now = Instant::now();
        if began >= record_from && deadline.is_none_or(|d| now <= d) {
            out.replies += 1;
            out.bytes += len;
            out.latencies_ns.push(now.duration_since(began).as_nanos() as u64);
        }
        out.all_replies += 1;
        rounds += 1;
        last_finish = now;
    }
    out.elapsed = match plan.stop {
        Stop::Rounds(_) => last_finish.duration_since(start),
        Stop::Timed { measure, .. } => measure,
    };
    out
}

/// One request and its reply, read as a blocking client reads it; returns the reply's
/// length (a framed reply's prefix included).
fn blocking_round_trip(stream: &mut TcpStream, plan: &Plan, scratch: &mut [u8]) -> io::Result<u64> {
    match plan.reply {
        Reply::Framed => round_trip(stream, &plan.request, scratch),
        Reply::Fixed(n) => {
            stream.write_all(&plan.request)?;
            stream.read_exact(&mut scratch[..n])?;
            Ok(n as u64)
        }
        Reply::Framed2 => Err(io::Error::other(
            "the blocking client speaks the course's protocol and redis only",
        )),
    }
}

/// What every thread saw, as one outcome.
fn merge(parts: Vec<Outcome>) -> Outcome {
    let mut out = Outcome::default();
    for part in parts {
        out.bytes += part.bytes;
        out.replies += part.replies;
        out.all_replies += part.all_replies;
        out.elapsed = out.elapsed.max(part.elapsed);
        out.latencies_ns.extend(part.latencies_ns);
        out.errors.extend(part.errors);
    }
    out.latencies_ns.sort_unstable();
    out.errors.truncate(5);
    out
}

/// One connection's progress through its current round trip.
struct Conn {
    stream: MioStream,
    /// Request bytes already written.
    sent: usize,
    prefix: [u8; 4],
    prefix_len: usize,
    /// Protocol 2: the reply's JSON, gathered until whole (it says how many raw bytes follow).
    json: Vec<u8>,
    /// Reply bytes received so far, and how many the reply has once that is known.
    got: u64,
    total: Option<u64>,
    began: Instant,
    rounds: u64,
    done: bool,
}

/// What a thread's loop knows about time and what it has counted so far.
struct Window {
    record_from: Instant,
    deadline: Option<Instant>,
    last_finish: Instant,
}

/// A run longer than this is a hang (a server that stopped answering), not a result.
const HANG: Duration = Duration::from_secs(300);
/// Bytes one read may take. Small enough to stay in cache; large enough that syscalls are
/// not what the client spends its time on.
const SCRATCH: usize = 256 * 1024;

fn drive(plan: &Plan, streams: Vec<TcpStream>) -> Outcome {
    let mut out = Outcome::default();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            out.errors.push(format!("poll: {e}"));
            return out;
        }
    };
    let start = Instant::now();
    let mut conns = Vec::with_capacity(streams.len());
    for (i, s) in streams.into_iter().enumerate() {
        let registered = s.set_nonblocking(true).and_then(|()| {
            let mut m = MioStream::from_std(s);
            poll.registry()
                .register(&mut m, Token(i), Interest::READABLE | Interest::WRITABLE)
                .map(|()| m)
        });
        match registered {
            Ok(stream) => conns.push(Conn {
                stream,
                sent: 0,
                prefix: [0; 4],
                prefix_len: 0,
                json: Vec::new(),
                got: 0,
                total: None,
                began: start,
                rounds: 0,
                done: false,
            }),
            Err(e) => {
                out.errors.push(format!("register: {e}"));
                return out;
            }
        }
    }
    let mut window = match plan.stop {
        Stop::Rounds(_) => Window {
            record_from: start,
            deadline: None,
            last_finish: start,
        },
        Stop::Timed { warmup, measure } => Window {
            record_from: start + warmup,
            deadline: Some(start + warmup + measure),
            last_finish: start,
        },
    };
    let mut scratch = vec![0u8; SCRATCH];
    let mut live = conns.len();
    // Kick off every connection; edge-triggered events take over from here.
    for c in conns.iter_mut() {
        step(c, plan, &mut scratch, &mut out, &mut window);
        live -= c.done as usize;
    }
    let mut events = Events::with_capacity(1024);
    while live > 0 {
        let now = Instant::now();
        if window.deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now.duration_since(start) > HANG {
            out.errors.push(format!(
                "no progress after {HANG:?}: {live} connections still waiting"
            ));
            break;
        }
        let timeout = window
            .deadline
            .map_or(Duration::from_secs(1), |d| d.saturating_duration_since(now));
        if let Err(e) = poll.poll(&mut events, Some(timeout)) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            out.errors.push(format!("poll: {e}"));
            break;
        }
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if !c.done {
                step(c, plan, &mut scratch, &mut out, &mut window);
                live -= c.done as usize;
            }
        }
    }
    out.elapsed = match plan.stop {
        Stop::Rounds(_) => window.last_finish.duration_since(start),
        Stop::Timed { measure, .. } => measure,
    };
    out
}

/// Writes and reads on one connection until the kernel says WouldBlock (mio is
/// edge-triggered: stopping earlier would wait for an event that never comes).
fn step(c: &mut Conn, plan: &Plan, scratch: &mut [u8], out: &mut Outcome, w: &mut Window) {
    loop {
        if c.sent < plan.request.len() {
            match c.stream.write(&plan.request[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return fail(c, out, format!("write: {e}")),
            }
            continue;
        }
        match c.stream.read(scratch) {
            Ok(0) => return fail(c, out, "the server closed the connection".into()),
            Ok(n) => {
                if let Err(msg) = take(c, &scratch[..n], plan, out, w) {
                    return fail(c, out, msg);
                }
                if c.done {
                    return;
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return fail(c, out, format!("read: {e}")),
        }
    }
}

/// Accounts for `data` just read; when the reply is complete, starts the next round trip
/// (or marks the connection done).
fn take(c: &mut Conn, data: &[u8], plan: &Plan, out: &mut Outcome, w: &mut Window) -> Result<(), String> {
    let now = Instant::now();
    if now >= w.record_from {
        out.bytes += data.len() as u64;
    }
    if c.total.is_none() {
        match plan.reply {
            Reply::Fixed(n) => c.total = Some(n as u64),
            Reply::Framed => {
                let take = (4 - c.prefix_len).min(data.len());
                c.prefix[c.prefix_len..c.prefix_len + take].copy_from_slice(&data[..take]);
                c.prefix_len += take;
                if c.prefix_len == 4 {
                    c.total = Some(4 + u32::from_be_bytes(c.prefix) as u64);
                }
            }
            Reply::Framed2 => {
                let take = (4 - c.prefix_len).min(data.len());
                c.prefix[c.prefix_len..c.prefix_len + take].copy_from_slice(&data[..take]);
                c.prefix_len += take;
                if c.prefix_len == 4 {
                    let json_len = u32::from_be_bytes(c.prefix) as usize;
                    let rest = &data[take..];
                    let more = (json_len - c.json.len()).min(rest.len());
                    c.json.extend_from_slice(&rest[..more]);
                    if c.json.len() == json_len {
                        let raw = raw_len(&c.json)?;
                        c.total = Some(4 + json_len as u64 + raw);
                    }
                }
            }
        }
    }
    c.got += data.len() as u64;
    let Some(total) = c.total else {
        return Ok(());
    };
    if c.got > total {
        return Err(format!("reply longer than announced ({} > {total})", c.got));
    }
    if c.got < total {
        return Ok(());
    }
    if let (Reply::Framed | Reply::Framed2, Some(expected)) = (plan.reply, plan.expect_len) {
        if total != expected {
            return Err(format!("reply of {total} bytes, expected {expected}"));
        }
    }
    if c.began >= w.record_from && w.deadline.is_none_or(|d| now <= d) {
        out.replies += 1;
        out.latencies_ns
            .push(now.duration_since(c.began).as_nanos() as u64);
    }
    out.all_replies += 1;
    c.rounds += 1;
    let more = match plan.stop {
        Stop::Rounds(r) => c.rounds < r,
        Stop::Timed { .. } => w.deadline.is_none_or(|d| now < d),
    };
    if more {
        c.sent = 0;
        c.prefix_len = 0;
        c.json.clear();
        c.got = 0;
        c.total = None;
        c.began = now;
    } else {
        c.done = true;
        w.last_finish = w.last_finish.max(now);
    }
    Ok(())
}

fn fail(c: &mut Conn, out: &mut Outcome, msg: String) {
    c.done = true;
    out.errors.push(msg);
}
