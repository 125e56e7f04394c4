//! Section 7, hardening: the figures issue 10's "Done when" names, each beside its target.
//! `cargo run --release --example bench -- hardening` runs only these.
//!
//! (a) 5,000 connects one after another; (b) 40 clients stalled inside 16 MiB frames;
//! (c) descriptors run out under `ulimit -n 1024`; (d) listar while a 256 MiB duplicar
//! runs and 400 connects arrive; (e) listar from 8 connections against redis PING; and
//! (f) duplicar's name search with 9,999 copies taken.

use super::*;
use almacen::copy_name::{self, CopyHints, CopyName, MAX_COPIES};
use std::sync::atomic::{AtomicBool, Ordering};

/// How long a scenario waits for something that should take milliseconds before calling it
/// a miss (the baselines this section was written against take tens of seconds).
const PATIENCE: Duration = Duration::from_secs(60);
/// How long one request may go unanswered before it counts as "no reply".
const REPLY_WAIT: Duration = Duration::from_secs(5);

/// What one request got.
enum Answer {
    Served(Duration),
    Refused(Duration, String),
    NoReply(String),
}

impl Answer {
    fn show(&self) -> String {
        match self {
            Answer::Served(d) => format!("served in {}", duration(*d)),
            Answer::Refused(d, why) => format!("error {why:?} after {}", duration(*d)),
            Answer::NoReply(why) => format!("no reply ({why})"),
        }
    }
}

/// Sends one request and reads its reply, within `REPLY_WAIT`.
fn ask(stream: &mut TcpStream, req: &[u8]) -> Answer {
    let started = Instant::now();
    let frame = stream
        .set_read_timeout(Some(REPLY_WAIT))
        .and_then(|()| stream.write_all(req))
        .and_then(|()| {
            let mut len = [0u8; 4];
            stream.read_exact(&mut len)?;
            let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
            stream.read_exact(&mut payload)?;
            Ok(payload)
        });
    let took = started.elapsed();
    let payload = match frame {
        Ok(p) => p,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            return Answer::NoReply(format!("nothing in {} s", REPLY_WAIT.as_secs()))
        }
        Err(e) => return Answer::NoReply(e.to_string()),
    };
    match message::parse(&payload, Limits::default()) {
        Ok(reply) => match (&reply.estado, &reply.data) {
            (Value::String(ok), _) if ok == "ok" => Answer::Served(took),
            (_, Value::String(why)) => Answer::Refused(took, why.clone()),
            (_, other) => Answer::Refused(took, format!("{other:?}")),
        },
        Err(e) => Answer::NoReply(format!("undecodable reply: {}", e.detail)),
    }
}

/// One measurement of this section, adding its own rows.
type Scenario = fn(&mut Bench) -> Result<()>;

impl Bench {
    /// Section 7. `with_round_trips`: also run (e) (left out when section 2 runs anyway).
    pub fn hardening(&mut self, with_round_trips: bool) -> Result<()> {
        let scenarios: [(&str, Scenario); 5] = [
            ("5,000 connects", Bench::accept_burst),
            ("stalled frames", Bench::stalled_frames),
            ("descriptors", Bench::descriptors),
            ("copy under connects", Bench::copy_under_connects),
            ("copy names", Bench::copy_names),
        ];
        // One failing scenario must not hide the others' figures.
        for (name, scenario) in scenarios {
            eprintln!("bench:   {name}");
            if let Err(e) = scenario(self) {
                self.push("7", format!("{name} failed"), e, String::new());
                self.rows.last_mut().expect("pushed").verdict = Verdict::Missed;
            }
        }
        if with_round_trips {
            eprintln!("bench:   listar vs redis PING, 8 connections");
            self.round_trips("7", &[8], &[Wire::Course])?;
        }
        Ok(())
    }

    /// (a) Connects made one after another, each waiting for the handshake, until 5,000 are
    /// open; the figure is the time until servidor holds a descriptor for every one. A full
    /// listen queue drops SYNs, and each costs its client a one-second retransmit.
    fn accept_burst(&mut self) -> Result<()> {
        const N: usize = 5_000;
        let srv = self.servidor(&self.archivos.clone())?;
        let base = srv.fd_count();
        let overflows = setup::listen_overflows();
        let started = Instant::now();
        let mut conns = Vec::with_capacity(N);
        while conns.len() < N && started.elapsed() < PATIENCE {
            let s = TcpStream::connect(srv.addr).map_err(|e| format!("connect #{}: {e}", conns.len() + 1))?;
            conns.push(s);
        }
        let connected = started.elapsed();
        while srv.fd_count() < base + conns.len() && started.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(1));
        }
        let accepted = started.elapsed();
        let held = srv.fd_count().saturating_sub(base);
        let overflowed = match (overflows, setup::listen_overflows()) {
            (Some(a), Some(b)) => format!("{}", b.saturating_sub(a)),
            _ => "?".into(),
        };
        let all = held >= N;
        self.push(
            "7",
            "(a) 5,000 connects one after another: all accepted",
            if all {
                duration(accepted)
            } else {
                format!("{held} of {N} in {} s", PATIENCE.as_secs())
            },
            format!(
                "last connect returned at {}; listen overflows +{overflowed}",
                duration(connected)
            ),
        );
        let value = if all {
            accepted.as_secs_f64()
        } else {
            f64::INFINITY
        };
        self.judge(None, value, Target::AtMost(0.5), "< 0.5 s");
        if !all {
            self.rows.last_mut().expect("pushed").verdict = Verdict::Missed;
        }
        drop(conns);
        warn_if_logged(&srv);
        Ok(())
    }

    /// (b) 40 clients each send 15 MiB of a frame that announces 16 MiB, then stall. While
    /// they do, another client asks listar again and again: its slowest answer, and
    /// servidor's peak memory, are the figures.
    fn stalled_frames(&mut self) -> Result<()> {
        const CLIENTS: usize = 40;
        const ANNOUNCED: u32 = 16 << 20;
        const SENT: usize = 15 << 20;
        let srv = self.servidor(&self.archivos.clone())?;
        let addr = srv.addr;
        let sampler = RssSampler::start(srv.pid());
        let listar = request("listar", Data::None);
        let mut bystander = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        bystander.set_nodelay(true).map_err(|e| e.to_string())?;
        if let Answer::NoReply(why) = ask(&mut bystander, &listar) {
            return Err(format!("listar before the flood: {why}"));
        }
        let stop = AtomicBool::new(false);
        let (stalled, seen) = std::thread::scope(|s| {
            let watcher = s.spawn(|| {
                let mut seen = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    let answer = ask(&mut bystander, &listar);
                    let done = !matches!(answer, Answer::Served(_));
                    seen.push(answer);
                    if done {
                        break;
                    }
                }
                seen
            });
            let writers: Vec<_> = (0..CLIENTS)
                .map(|_| s.spawn(move || stall_inside_a_frame(addr, ANNOUNCED, SENT)))
                .collect();
            let stalled: Vec<_> = writers
                .into_iter()
                .map(|w| w.join().expect("writer thread"))
                .collect();
            // Everyone is stalled now; the bystander keeps asking for a while longer.
            std::thread::sleep(Duration::from_secs(1));
            stop.store(true, Ordering::Relaxed);
            (stalled, watcher.join().expect("bystander thread"))
        });
        let peak = sampler.finish().max(srv.hwm_kib());
        let mut sent = 0usize;
        let mut streams = Vec::new();
        for r in stalled {
            let (stream, n) = r?;
            sent += n;
            streams.push(stream);
        }
        self.push(
            "7",
            "(b) 40 clients stalled with 15 MiB of a 16 MiB frame: peak RSS",
            kib(peak),
            format!("they got {} MiB in before TCP pushed back", sent >> 20),
        );
        self.judge(
            None,
            peak as f64,
            Target::AtMost((64.0 + 16.0) * 1024.0),
            "≤ 64 MiB + 1 frame",
        );
        let worst = seen.iter().find(|a| !matches!(a, Answer::Served(_)));
        let mut times: Vec<f64> = seen
            .iter()
            .filter_map(|a| match a {
                Answer::Served(d) => Some(d.as_secs_f64()),
                _ => None,
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let max = times.last().copied().unwrap_or(f64::INFINITY);
        self.push(
            "7",
            "(b) … meanwhile another client's listar, slowest",
            match worst {
                Some(a) => a.show(),
                None => duration(Duration::from_secs_f64(max)),
            },
            format!(
                "{} answered, p50 {}",
                times.len(),
                duration(Duration::from_secs_f64(median(times.clone())))
            ),
        );
        let value = if worst.is_some() { f64::INFINITY } else { max };
        self.judge(None, value, Target::AtMost(1.0), "≤ 1 s");
        drop(streams);
        warn_if_logged(&srv);
        Ok(())
    }

    /// (c) With the open-file limit at 1,024, 100 clients each pipeline 40 downloads of the
    /// big file and never read. Then a client connected before them, and one that connects
    /// after, each download a small file: that needs a descriptor of its own (listar is
    /// answered from a cache and would need none).
    fn descriptors(&mut self) -> Result<()> {
        const LIMIT: u64 = 1024;
        const CLIENTS: usize = 100;
        const PIPELINED: usize = 40;
        let srv = self.servidor_limited(&self.archivos.clone(), LIMIT)?;
        let small = request("descargar", Data::str("poema.txt"));
        let mut bystander = TcpStream::connect(srv.addr).map_err(|e| e.to_string())?;
        if let a @ (Answer::NoReply(_) | Answer::Refused(..)) = ask(&mut bystander, &small) {
            return Err(format!("listar before the flood: {}", a.show()));
        }
        let descargar = request("descargar", Data::str(BIG_NAME));
        let batch: Vec<u8> = descargar
            .iter()
            .copied()
            .cycle()
            .take(descargar.len() * PIPELINED)
            .collect();
        let mut flood = Vec::new();
        let mut failed = 0;
        for _ in 0..CLIENTS {
            let sent = TcpStream::connect_timeout(&srv.addr, REPLY_WAIT).and_then(|mut s| {
                s.set_write_timeout(Some(REPLY_WAIT))?;
                s.write_all(&batch)?;
                Ok(s)
            });
            match sent {
                Ok(s) => flood.push(s),
                Err(_) => failed += 1,
            }
        }
        // Let servidor take all of it in: its descriptor count stops moving.
        let (mut last, mut still, started) = (srv.fd_count(), 0, Instant::now());
        while still < 5 && started.elapsed() < Duration::from_secs(15) {
            std::thread::sleep(Duration::from_millis(100));
            let now = srv.fd_count();
            still = if now == last { still + 1 } else { 0 };
            last = now;
        }
        let by = ask(&mut bystander, &small);
        let newcomer = match TcpStream::connect_timeout(&srv.addr, REPLY_WAIT) {
            Ok(mut s) => ask(&mut s, &small),
            Err(e) => Answer::NoReply(format!("connect: {e}")),
        };
        let context = format!(
            "servidor holds {last} of {LIMIT} descriptors; {} flood clients in, {failed} failed",
            flood.len()
        );
        for (who, answer) in [("a connected bystander", by), ("a newcomer", newcomer)] {
            self.push(
                "7",
                format!("(c) ulimit -n 1024, 100 × 40 unread downloads: {who} downloads 600 B"),
                answer.show(),
                context.clone(),
            );
            let row = self.rows.last_mut().expect("pushed");
            row.target = "served".into();
            row.verdict = if matches!(answer, Answer::Served(_)) {
                Verdict::Met
            } else {
                Verdict::Missed
            };
        }
        drop(flood);
        warn_if_logged(&srv);
        Ok(())
    }

    /// (d) A client asks for a 256 MiB duplicar; right after, a burst of 400 newcomers
    /// connect at once and each asks listar, while a connected client asks listar in a loop
    /// until the copy's reply arrives. The figure is that client's p99.
    fn copy_under_connects(&mut self) -> Result<()> {
        const CONNECTS: usize = 400;
        let srv = self.servidor(&self.archivos.clone())?;
        let addr = srv.addr;
        let listar = request("listar", Data::None);
        let mut bystander = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        bystander.set_nodelay(true).map_err(|e| e.to_string())?;
        let (mut lat, mut newcomers, mut copies) = (Vec::new(), Vec::new(), Vec::new());
        let (mut slow_newcomers, mut failed_newcomers) = (0, 0);
        for rep in 0..self.budget.copy_reps {
            let name = format!("copia-bench-{rep}.bin");
            let dup = request(
                "duplicar",
                Data::dict([
                    ("nombre", Data::str(BIG_NAME)),
                    ("nuevo", Data::str(name.as_str())),
                ]),
            );
            let mut requester = TcpStream::connect(addr).map_err(|e| e.to_string())?;
            requester
                .set_read_timeout(Some(Duration::from_secs(120)))
                .map_err(|e| e.to_string())?;
            let done = AtomicBool::new(false);
            let started = Instant::now();
            requester.write_all(&dup).map_err(|e| e.to_string())?;
            let (copy, arrivals, seen) = std::thread::scope(|s| {
                let copy = s.spawn(|| {
                    let got = fetch_reply(&mut requester);
                    done.store(true, Ordering::Relaxed);
                    (started.elapsed(), got)
                });
                let arrivals = s.spawn(|| burst(addr, CONNECTS, &listar));
                let arrivals = || arrivals.join().expect("burst thread");
                let mut seen = Vec::new();
                let mut scratch = vec![0u8; 64 * 1024];
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match load::round_trip(&mut bystander, &listar, &mut scratch) {
                        Ok(_) => seen.push(t.elapsed().as_nanos() as u64),
                        Err(e) => return (copy.join().expect("copy thread"), arrivals(), Err(e.to_string())),
                    }
                }
                (copy.join().expect("copy thread"), arrivals(), Ok(seen))
            });
            let (took, reply) = copy;
            let _ = std::fs::remove_file(self.archivos.join(&name));
            let reply = reply?;
            if !reply.starts_with("ok") {
                return Err(format!("duplicar answered {reply}"));
            }
            lat.extend(seen?);
            copies.push(took.as_secs_f64());
            for t in arrivals? {
                match t {
                    Some(t) => {
                        slow_newcomers += (t >= Duration::from_millis(900)) as usize;
                        newcomers.push(t.as_nanos() as u64);
                    }
                    None => failed_newcomers += 1,
                }
            }
        }
        lat.sort_unstable();
        newcomers.sort_unstable();
        let p99 = load::percentile(&lat, 0.99);
        self.push(
            "7",
            "(d) listar p99 during a 256 MiB duplicar, 400 connects arriving",
            duration(p99),
            format!(
                "p50 {}, max {}, {} listar; copy took {}",
                duration(load::percentile(&lat, 0.5)),
                duration(load::percentile(&lat, 1.0)),
                lat.len(),
                ms(median(copies) * 1e3)
            ),
        );
        self.judge(None, p99.as_secs_f64(), Target::AtMost(0.005), "≤ 5 ms");
        self.push(
            "7",
            "(d) … the burst's connect + first listar, p99",
            duration(load::percentile(&newcomers, 0.99)),
            format!(
                "max {}; {slow_newcomers} of {} waited ≥ 0.9 s, {failed_newcomers} failed",
                duration(load::percentile(&newcomers, 1.0)),
                newcomers.len() + failed_newcomers
            ),
        );
        warn_if_logged(&srv);
        Ok(())
    }

    /// (f) duplicar's name search with all 9,999 copy names taken: the linear search that
    /// src/ops/duplicar.rs does today beside copy_name's, both with a real `stat` per name
    /// they look at; then the end-to-end effect in servidor, 6 clients pipelining 96
    /// duplicar each while another client downloads a small file in a loop.
    fn copy_names(&mut self) -> Result<()> {
        const SOURCE: &str = "poema.txt";
        let dir = self.scratch.dir("copias").map_err(|e| e.to_string())?;
        setup::write_file(&dir.join(SOURCE), 600).map_err(|e| e.to_string())?;
        let naming = CopyName::of(SOURCE);
        for n in 1..=MAX_COPIES {
            std::fs::File::create(dir.join(naming.nth(n))).map_err(|e| e.to_string())?;
        }
        let taken = |name: &str| std::fs::symlink_metadata(dir.join(name)).is_ok();
        let (mut linear, mut linear_stats) = (Vec::new(), 0);
        let (mut gallop, mut gallop_stats) = (Vec::new(), 0);
        for _ in 0..5 {
            let t = Instant::now();
            let mut stats = 0;
            let found = (1..=MAX_COPIES).find(|&n| {
                stats += 1;
                !taken(&naming.nth(n))
            });
            linear.push(t.elapsed().as_secs_f64());
            linear_stats = stats;
            std::hint::black_box(found);
            let t = Instant::now();
            let mut hints = CopyHints::default();
            let found = copy_name::free_copy_name(SOURCE, taken, &mut hints);
            gallop.push(t.elapsed().as_secs_f64());
            gallop_stats = hints.last_probes();
            if found.is_ok() {
                return Err("copy_name found a free name among 9,999 taken".into());
            }
        }
        let (linear, gallop) = (median(linear), median(gallop));
        self.push(
            "7",
            "(f) duplicar's name search, 9,999 copies taken (copy_name vs linear)",
            format!(
                "{gallop_stats} stats, {}",
                duration(Duration::from_secs_f64(gallop))
            ),
            format!(
                "linear: {linear_stats} stats, {}",
                duration(Duration::from_secs_f64(linear))
            ),
        );
        self.rows.last_mut().expect("pushed").ratio = Some(gallop / linear);

        // End to end, through whatever servidor does today.
        const CLIENTS: usize = 6;
        const PIPELINED: usize = 96;
        let srv = self.servidor(&dir)?;
        let addr = srv.addr;
        let dup = request("duplicar", Data::str(SOURCE));
        let descargar = request("descargar", Data::str(SOURCE));
        let mut bystander = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        bystander.set_nodelay(true).map_err(|e| e.to_string())?;
        let mut flood = load::connect(addr, CLIENTS).map_err(|e| e.to_string())?;
        let done = AtomicBool::new(false);
        let started = Instant::now();
        let (all_in, seen) = std::thread::scope(|s| {
            let readers: Vec<_> = flood
                .iter_mut()
                .map(|c| {
                    let batch: Vec<u8> = dup.iter().copied().cycle().take(dup.len() * PIPELINED).collect();
                    s.spawn(move || -> std::io::Result<()> {
                        c.set_read_timeout(Some(Duration::from_secs(120)))?;
                        c.write_all(&batch)?;
                        let mut scratch = vec![0u8; 4096];
                        for _ in 0..PIPELINED {
                            let mut len = [0u8; 4];
                            c.read_exact(&mut len)?;
                            let mut left = u32::from_be_bytes(len) as usize;
                            while left > 0 {
                                let n = c.read(&mut scratch[..left.min(4096)])?;
                                if n == 0 {
                                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                                }
                                left -= n;
                            }
                        }
                        Ok(())
                    })
                })
                .collect();
            let watcher = s.spawn(|| {
                let mut seen = Vec::new();
                let mut scratch = vec![0u8; 64 * 1024];
                while !done.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    if load::round_trip(&mut bystander, &descargar, &mut scratch).is_err() {
                        break;
                    }
                    seen.push(t.elapsed().as_nanos() as u64);
                }
                seen
            });
            let ok = readers.into_iter().all(|r| matches!(r.join(), Ok(Ok(()))));
            let all_in = started.elapsed();
            done.store(true, Ordering::Relaxed);
            (ok.then_some(all_in), watcher.join().expect("bystander thread"))
        });
        let mut seen = seen;
        seen.sort_unstable();
        let Some(all_in) = all_in else {
            return Err("the pipelined duplicar were not all answered".into());
        };
        self.push(
            "7",
            "(f) 6 × 96 pipelined duplicar, 9,999 copies taken: another client's descargar, slowest",
            duration(load::percentile(&seen, 1.0)),
            format!(
                "p50 {}, {} downloads; all 576 duplicar answered in {}",
                duration(load::percentile(&seen, 0.5)),
                seen.len(),
                duration(all_in)
            ),
        );
        warn_if_logged(&srv);
        Ok(())
    }
}

/// Sends the first `sent` bytes of a frame announcing `announced`, until done or until the
/// server stops taking them for two seconds (TCP pushing back). Returns the open socket and
/// how much went in.
fn stall_inside_a_frame(addr: SocketAddr, announced: u32, sent: usize) -> Result<(TcpStream, usize)> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_write_timeout(Some(Duration::from_secs(2)))
        .map_err(|e| e.to_string())?;
    s.write_all(&announced.to_be_bytes()).map_err(|e| e.to_string())?;
    let chunk = vec![0u8; 64 * 1024];
    let mut done = 0;
    while done < sent {
        match s.write(&chunk[..chunk.len().min(sent - done)]) {
            Ok(n) => done += n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                break
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(format!("after {done} bytes: {e}")),
        }
    }
    Ok((s, done))
}

/// `n` connects started at once (non-blocking), each sending `req` as soon as it is
/// connected and reading one reply frame. Returns, per connection, the time from the start
/// of the burst to its whole reply, or None if it failed or took longer than `PATIENCE`.
fn burst(addr: SocketAddr, n: usize, req: &[u8]) -> Result<Vec<Option<Duration>>> {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new().map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut conns = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream = mio::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| e.to_string())?;
        conns.push(BurstConn {
            stream,
            sent: 0,
            got: Vec::new(),
            done: None,
        });
    }
    let mut events = Events::with_capacity(1024);
    let mut left = n;
    let mut buf = vec![0u8; 64 * 1024];
    while left > 0 && started.elapsed() < PATIENCE {
        if let Err(e) = poll.poll(&mut events, Some(Duration::from_millis(100))) {
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.to_string());
        }
        for event in events.iter() {
            let c = &mut conns[event.token().0];
            if c.done.is_some() {
                continue;
            }
            // A connect in progress shows as writable once it is settled; peer_addr tells
            // whether it succeeded (mio's documented way).
            if c.sent < req.len() {
                if c.stream.take_error().ok().flatten().is_some() || event.is_error() {
                    c.done = Some(None);
                    left -= 1;
                    continue;
                }
                if c.stream.peer_addr().is_err() {
                    continue;
                }
            }
            let outcome = step_burst(c, req, &mut buf);
            if let Some(result) = outcome {
                c.done = Some(result.then(|| started.elapsed()));
                left -= 1;
            }
        }
    }
    Ok(conns.into_iter().map(|c| c.done.flatten()).collect())
}

/// One connection of a burst.
struct BurstConn {
    stream: mio::net::TcpStream,
    sent: usize,
    got: Vec<u8>,
    /// Some once settled: the time to the whole reply, or None for a failure.
    done: Option<Option<Duration>>,
}

/// Writes what is left of the request and reads what has come; Some(true) once the whole
/// reply is in, Some(false) on an error, None to wait for the next event.
fn step_burst(c: &mut BurstConn, req: &[u8], buf: &mut [u8]) -> Option<bool> {
    use std::io::ErrorKind::{Interrupted, WouldBlock};
    while c.sent < req.len() {
        match c.stream.write(&req[c.sent..]) {
            Ok(n) => c.sent += n,
            Err(e) if e.kind() == WouldBlock => return None,
            Err(e) if e.kind() == Interrupted => {}
            Err(_) => return Some(false),
        }
    }
    loop {
        match c.stream.read(buf) {
            Ok(0) => return Some(false),
            Ok(k) => c.got.extend_from_slice(&buf[..k]),
            Err(e) if e.kind() == WouldBlock => break,
            Err(e) if e.kind() == Interrupted => {}
            Err(_) => return Some(false),
        }
    }
    if c.got.len() >= 4 {
        let len = u32::from_be_bytes([c.got[0], c.got[1], c.got[2], c.got[3]]) as usize;
        if c.got.len() >= 4 + len {
            return Some(true);
        }
    }
    None
}

/// One reply frame, summed up as "ok ..." or "error: ...".
fn fetch_reply(s: &mut TcpStream) -> Result<String> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).map_err(|e| e.to_string())?;
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    s.read_exact(&mut payload).map_err(|e| e.to_string())?;
    let reply = message::parse(&payload, Limits::default()).map_err(|e| e.detail)?;
    Ok(match (&reply.estado, &reply.data) {
        (Value::String(ok), data) if ok == "ok" => format!("ok {data:?}"),
        (_, data) => format!("error: {data:?}"),
    })
}
