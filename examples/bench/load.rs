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
use almacen::protocol::v2::header;
use almacen::protocol::{self as proto2};
use mio::net::TcpStream as MioStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
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

/// What the pushes measurement's sender asks for, and what every subscriber must get.
#[derive(Debug, Clone)]
pub enum PushKind {
    /// `mensaje` to "todos", texto "aviso N" with N counting up from 0: each push must
    /// carry one of those texts, in increasing order (a skipped push leaves a gap).
    Mensaje,
    /// `difundir` of a file: each push must name it and carry exactly these bytes.
    Difundir { name: String, content: Arc<[u8]> },
}

/// `subscribers` connections say `suscribir`, then one more connection sends `kind`'s
/// request over and over (request → reply → request) while the subscribers read.
#[derive(Debug, Clone)]
pub struct PushPlan {
    pub addr: SocketAddr,
    pub subscribers: usize,
    pub threads: usize,
    pub kind: PushKind,
    pub warmup: Duration,
    pub measure: Duration,
}

#[derive(Debug, Default, Clone)]
pub struct PushOutcome {
    /// Pushes that arrived whole and checked out inside the measured window.
    pub delivered: u64,
    /// Requests whose reply came inside the window.
    pub sent: u64,
    /// After the run: pushes the server said it queued (the sum of `entregado_a` or
    /// `enviado_a`), pushes the subscribers received, and what the replies left out
    /// (subscribers skipped because their queue was full).
    pub queued_total: u64,
    pub delivered_total: u64,
    pub skipped_total: u64,
    pub elapsed: Duration,
    pub errors: Vec<String>,
}

impl PushOutcome {
    pub fn per_sec(&self) -> f64 {
        self.delivered as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn sent_per_sec(&self) -> f64 {
        self.sent as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// How long subscribers may take, after the sender stops, to receive what was queued.
const DRAIN: Duration = Duration::from_secs(20);

/// Subscribes, runs the sender until the window ends, waits for every queued push to
/// arrive, and checks each one's content on the way.
pub fn run_pushes(plan: &PushPlan) -> io::Result<PushOutcome> {
    let mut subs = Vec::with_capacity(plan.subscribers);
    for mut s in connect(plan.addr, plan.subscribers)? {
        subscribe(&mut s)?;
        subs.push(s);
    }
    let mut sender = connect(plan.addr, 1)?.remove(0);
    sender.set_read_timeout(Some(Duration::from_secs(10)))?;
    // The sender subscribes too, only to learn its id (every push must say it is `de`);
    // "todos" and `difundir` leave the sender out, so it never receives its own.
    let sender_id = subscribe(&mut sender)?;

    let threads = plan.threads.clamp(1, plan.subscribers.max(1));
    let mut groups: Vec<Vec<TcpStream>> = (0..threads).map(|_| Vec::new()).collect();
    for (i, s) in subs.into_iter().enumerate() {
        groups[i % threads].push(s);
    }
    let t0 = Instant::now();
    let shared = Shared {
        record_from: t0 + plan.warmup,
        deadline: t0 + plan.warmup + plan.measure,
        delivered: AtomicU64::new(0),
        queued: AtomicU64::new(u64::MAX),
    };
    let (parts, sender_out) = std::thread::scope(|scope| {
        let handles: Vec<_> = groups
            .into_iter()
            .map(|group| {
                let shared = &shared;
                scope.spawn(move || read_pushes(plan, sender_id, group, shared))
            })
            .collect();
        let sender_out = send_pushes(plan, &mut sender, &shared);
        // Whatever happened, the readers must learn how many pushes to wait for.
        let queued = sender_out.as_ref().map_or(0, |o| o.queued_total);
        shared.queued.store(queued, Ordering::SeqCst);
        let parts: Vec<PushOutcome> = handles
            .into_iter()
            .map(|h| h.join().expect("a subscriber thread panicked"))
            .collect();
        (parts, sender_out)
    });
    let mut out = sender_out?;
    for part in parts {
        out.delivered += part.delivered;
        out.delivered_total += part.delivered_total;
        out.errors.extend(part.errors);
    }
    if out.errors.is_empty() && out.delivered_total != out.queued_total {
        out.errors.push(format!(
            "{} pushes queued by the server, {} received",
            out.queued_total, out.delivered_total
        ));
    }
    out.elapsed = plan.measure;
    out.errors.truncate(5);
    Ok(out)
}

/// What the sender and the subscriber threads share.
struct Shared {
    record_from: Instant,
    deadline: Instant,
    /// Pushes received so far, by every subscriber thread.
    delivered: AtomicU64,
    /// What the server queued in all, once the sender has stopped (u64::MAX until then).
    queued: AtomicU64,
}

/// `suscribir` in the course's protocol (a `Mensaje` instance, so pushes come as
/// instances too); returns the id the server gave the connection.
fn subscribe(stream: &mut TcpStream) -> io::Result<i64> {
    let req = message::frame_request(&Envelope::course(), "suscribir", &Data::None);
    let reply = call(stream, &req)?;
    match pickle::decode::get(&reply.data, "id") {
        Some(Value::I64(id)) if reply.is_ok() => Ok(*id),
        _ => Err(io::Error::other(format!("suscribir answered {reply:?}"))),
    }
}

/// One request and its reply, decoded, over a blocking socket.
fn call(stream: &mut TcpStream, request: &[u8]) -> io::Result<message::Reply> {
    stream.write_all(request)?;
    let mut prefix = [0u8; 4];
    stream.read_exact(&mut prefix)?;
    let mut payload = vec![0; u32::from_be_bytes(prefix) as usize];
    stream.read_exact(&mut payload)?;
    message::parse_reply(&payload, pickle::Limits::default())
        .map_err(|e| io::Error::other(format!("reply: {}", e.detail)))
}

/// The sender: one request after another until the window ends; adds up the counts of
/// pushes the replies say were queued.
fn send_pushes(plan: &PushPlan, stream: &mut TcpStream, shared: &Shared) -> io::Result<PushOutcome> {
    let mut out = PushOutcome::default();
    let (key, fixed) = match &plan.kind {
        PushKind::Mensaje => ("entregado_a", None),
        PushKind::Difundir { name, .. } => (
            "enviado_a",
            Some(message::frame_request(
                &Envelope::course(),
                "difundir",
                &Data::str(name.as_str()),
            )),
        ),
    };
    let mut seq = 0u64;
    loop {
        let began = Instant::now();
        if began >= shared.deadline {
            return Ok(out);
        }
        let built;
        let request = match &fixed {
            Some(r) => r,
            None => {
                let data = Data::dict([
                    ("para", Data::str("todos")),
                    ("texto", Data::str(format!("aviso {seq}"))),
                ]);
                built = message::frame_request(&Envelope::course(), "mensaje", &data);
                &built
            }
        };
        seq += 1;
        let reply = call(stream, request)?;
        let queued = match pickle::decode::get(&reply.data, key) {
            Some(Value::I64(n)) if reply.is_ok() && *n >= 0 => *n as u64,
            _ => {
                return Err(io::Error::other(format!(
                    "the sender's request answered {reply:?}"
                )))
            }
        };
        out.queued_total += queued;
        out.skipped_total += (plan.subscribers as u64).saturating_sub(queued);
        let now = Instant::now();
        if began >= shared.record_from && now <= shared.deadline {
            out.sent += 1;
        }
    }
}

/// One subscriber's unread bytes, and the last `aviso` number it got.
struct Sub {
    stream: MioStream,
    buf: Vec<u8>,
    last: Option<u64>,
}

/// A subscriber thread: reads pushes on its connections, checks each, and counts those
/// that arrive inside the window, until every queued push has arrived.
fn read_pushes(plan: &PushPlan, sender_id: i64, streams: Vec<TcpStream>, shared: &Shared) -> PushOutcome {
    let mut out = PushOutcome::default();
    let mut poll = match Poll::new() {
        Ok(p) => p,
        Err(e) => {
            out.errors.push(format!("poll: {e}"));
            return out;
        }
    };
    let mut subs = Vec::with_capacity(streams.len());
    for (i, s) in streams.into_iter().enumerate() {
        let registered = s.set_nonblocking(true).and_then(|()| {
            let mut m = MioStream::from_std(s);
            poll.registry()
                .register(&mut m, Token(i), Interest::READABLE)
                .map(|()| m)
        });
        match registered {
            Ok(stream) => subs.push(Sub {
                stream,
                buf: Vec::new(),
                last: None,
            }),
            Err(e) => {
                out.errors.push(format!("register: {e}"));
                return out;
            }
        }
    }
    let mut scratch = vec![0u8; SCRATCH];
    let mut events = Events::with_capacity(1024);
    loop {
        let queued = shared.queued.load(Ordering::SeqCst);
        if queued != u64::MAX && shared.delivered.load(Ordering::SeqCst) >= queued {
            return out;
        }
        if Instant::now() > shared.deadline + DRAIN {
            out.errors
                .push(format!("pushes still missing {DRAIN:?} after the sender stopped"));
            return out;
        }
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(20))) {
            if e.kind() == ErrorKind::Interrupted {
                continue;
            }
            out.errors.push(format!("poll: {e}"));
            return out;
        }
        for event in events.iter() {
            let sub = &mut subs[event.token().0];
            if let Err(e) = drain_sub(sub, plan, sender_id, &mut scratch, shared, &mut out) {
                out.errors.push(e);
                return out;
            }
        }
    }
}

/// Reads one subscriber until WouldBlock, checking and counting every whole frame.
fn drain_sub(
    sub: &mut Sub,
    plan: &PushPlan,
    sender_id: i64,
    scratch: &mut [u8],
    shared: &Shared,
    out: &mut PushOutcome,
) -> Result<(), String> {
    loop {
        match sub.stream.read(scratch) {
            Ok(0) => return Err("the server closed a subscriber's connection".into()),
            Ok(n) => sub.buf.extend_from_slice(&scratch[..n]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read: {e}")),
        }
        let now = Instant::now();
        let in_window = now >= shared.record_from && now <= shared.deadline;
        // Every whole frame in the buffer; the rest waits for the next read.
        let mut at = 0;
        while sub.buf.len() - at >= 4 {
            let len = u32::from_be_bytes(sub.buf[at..at + 4].try_into().expect("4 bytes")) as usize;
            if sub.buf.len() - at - 4 < len {
                break;
            }
            check_push(&sub.buf[at + 4..at + 4 + len], plan, sender_id, &mut sub.last)?;
            at += 4 + len;
            out.delivered_total += 1;
            out.delivered += in_window as u64;
            shared.delivered.fetch_add(1, Ordering::SeqCst);
        }
        sub.buf.drain(..at);
    }
}

/// One push, decoded and compared with what the sender sent.
fn check_push(payload: &[u8], plan: &PushPlan, sender_id: i64, last: &mut Option<u64>) -> Result<(), String> {
    let push = message::parse_reply(payload, pickle::Limits::default())
        .map_err(|e| format!("a push did not decode: {}", e.detail))?;
    let field = |k: &str| pickle::decode::get(&push.data, k);
    if !push.is_ok() || field("de") != Some(&Value::I64(sender_id)) {
        return Err(format!("unexpected push: {push:?}"));
    }
    match &plan.kind {
        PushKind::Mensaje => {
            let seq = match field("texto") {
                Some(Value::String(t)) if push.operacion == "mensaje" => {
                    t.strip_prefix("aviso ").and_then(|n| n.parse::<u64>().ok())
                }
                _ => None,
            };
            match seq {
                Some(n) if last.is_none_or(|l| n > l) => *last = Some(n),
                _ => return Err(format!("unexpected or out-of-order mensaje push: {push:?}")),
            }
        }
        PushKind::Difundir { name, content } => {
            let ok = push.operacion == "archivo"
                && field("nombre") == Some(&Value::String(name.clone()))
                && matches!(field("contenido"), Some(Value::Bytes(b)) if b[..] == content[..]);
            if !ok {
                return Err(format!(
                    "unexpected archivo push: {:?} {:?}",
                    push.operacion,
                    field("nombre")
                ));
            }
        }
    }
    Ok(())
}
