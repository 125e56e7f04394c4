//! The bench itself (Linux): measures servidor on loopback beside the machine's
//! own limit (a minimal sendfile server inside the bench) and beside redis-server, in one run,
//! and prints one table of figures, ratios and targets. See docs/performance.md.
//!
//! It builds servidor first (`cargo build --release --bin servidor`), starts it on
//! 127.0.0.1 over a scratch folder under the system's temp dir, and removes that folder at
//! the end. `--help` lists the flags; `--quick` runs everything with shorter budgets.

use crate::{load, plot, reference, setup};

#[path = "hardening.rs"]
mod hardening;
#[path = "uploads.rs"]
mod uploads;

#[path = "balancer.rs"]
mod balancer;

use almacen::message;
use almacen::pickle::{Data, Envelope, Limits, Value};
use almacen::protocol::v2::{encode, header};
use load::{Outcome, Plan, Reply, Stop};
use reference::{Answer, Body, RefServer};
use setup::{Redis, RssSampler, Scratch, Servidor};
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

const HELP: &str = "\
bench: servidor beside the loopback limit and redis, in one run

Usage: cargo run --release --example bench -- [hardening] [options]

  hardening          only issue 10's figures (same as --only hardening)
  --quick            shorter runs and fewer repetitions (about a minute)
  --only LIST        comma-separated sections: downloads, roundtrips, memory,
                     fairness, scaling, design, hardening, pushes, clients,
                     balancer, uploads (default: all)
  --servidor PATH    use this binary instead of building target/release/servidor
  --redis PATH       redis-server to compare with (default: redis-server on PATH;
                     the comparison is skipped, and says so, when it is missing)
  --haproxy PATH     haproxy for the balancer section (default: haproxy on PATH;
                     the section is skipped, and says so, when it is missing)
  --plots DIR        where the SVG plots go (default: the repo's docs/)
  --no-plots         do not write the plots
  -h, --help         this text
";

/// The file every download asks for.
const BIG_NAME: &str = "grande.bin";
const BIG_SIZE: u64 = 256 << 20;
/// Idle connections opened to measure the cost of one.
const IDLE_CONNS: usize = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Downloads,
    Roundtrips,
    Memory,
    Fairness,
    Scaling,
    Design,
    Hardening,
    Pushes,
    Clients,
    Balancer,
    Uploads,
}

const SECTIONS: [(Section, &str); 11] = [
    (Section::Downloads, "downloads"),
    (Section::Roundtrips, "roundtrips"),
    (Section::Memory, "memory"),
    (Section::Fairness, "fairness"),
    (Section::Scaling, "scaling"),
    (Section::Design, "design"),
    (Section::Hardening, "hardening"),
    (Section::Pushes, "pushes"),
    (Section::Clients, "clients"),
    (Section::Balancer, "balancer"),
    (Section::Uploads, "uploads"),
];

struct Options {
    quick: bool,
    only: Vec<Section>,
    servidor: Option<PathBuf>,
    redis: String,
    haproxy: String,
    plots: Option<PathBuf>,
}

fn parse_args() -> Result<Option<Options>> {
    let mut o = Options {
        quick: false,
        only: SECTIONS.iter().map(|s| s.0).collect(),
        servidor: None,
        redis: "redis-server".into(),
        haproxy: "haproxy".into(),
        plots: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs")),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(None),
            "--quick" => o.quick = true,
            "hardening" => o.only = vec![Section::Hardening],
            "--only" => {
                let list = value()?;
                o.only = list
                    .split(',')
                    .map(|name| {
                        SECTIONS
                            .iter()
                            .find(|s| s.1 == name.trim())
                            .map(|s| s.0)
                            .ok_or(format!("unknown section {name:?} (see --help)"))
                    })
                    .collect::<Result<_>>()?;
            }
            "--servidor" => o.servidor = Some(PathBuf::from(value()?)),
            "--redis" => o.redis = value()?,
            "--haproxy" => o.haproxy = value()?,
            "--plots" => o.plots = Some(PathBuf::from(value()?)),
            "--no-plots" => o.plots = None,
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    Ok(Some(o))
}

/// How long each kind of measurement runs. `--quick` trades stability for time.
struct Budget {
    /// Repetitions of each 256 MiB download measurement (the median is reported).
    download_reps: usize,
    round_trip: Stop,
    round_trip_reps: usize,
    fairness: Duration,
    /// Time each point of the clients curve runs for (a time budget, not a file count:
    /// 1,000 clients each fetching 256 MiB would take minutes).
    scaling: Duration,
    cold_listar_reps: usize,
    warm_listar_reps: usize,
    /// 256 MiB copies made while connects arrive (hardening), each measured apart.
    copy_reps: usize,
    /// Each point of the pushes measurement: warm-up, window, repetitions (median shown).
    pushes: (Duration, Duration, usize),
    /// How long `listar` round trips are timed alone, and again with every other client
    /// connected (long enough for servidor's CPU time, counted in clock ticks, to mean
    /// something per request).
    held_listar: Duration,
}

impl Budget {
    fn new(quick: bool) -> Budget {
        if quick {
            Budget {
                download_reps: 3,
                round_trip: Stop::Timed {
                    warmup: Duration::from_millis(100),
                    measure: Duration::from_millis(500),
                },
                round_trip_reps: 1,
                fairness: Duration::from_secs(2),
                scaling: Duration::from_secs(1),
                cold_listar_reps: 3,
                warm_listar_reps: 50,
                copy_reps: 1,
                pushes: (Duration::from_millis(100), Duration::from_millis(500), 1),
                held_listar: Duration::from_millis(200),
            }
        } else {
            Budget {
                download_reps: 15,
                round_trip: Stop::Timed {
                    warmup: Duration::from_millis(200),
                    measure: Duration::from_millis(1500),
                },
                round_trip_reps: 5,
                fairness: Duration::from_secs(5),
                scaling: Duration::from_secs(3),
                cold_listar_reps: 9,
                warm_listar_reps: 200,
                copy_reps: 5,
                pushes: (Duration::from_millis(300), Duration::from_secs(2), 3),
                held_listar: Duration::from_secs(1),
            }
        }
    }
}

/// Which of servidor's protocols the bench's client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wire {
    /// The course's: a pickled `Mensaje` each way.
    Course,
    /// Protocol 2, after `hola`: JSON headers, raw bytes after them.
    V2,
}

impl Wire {
    /// A request frame, as the course's client or the protocol-2 example would send it.
    fn request(self, operacion: &str, data: Data) -> Arc<[u8]> {
        match self {
            Wire::Course => request(operacion, data),
            Wire::V2 => Arc::from(encode::request(Some(1), operacion, &data).expect("a plain request")),
        }
    }

    fn reply(self) -> Reply {
        match self {
            Wire::Course => Reply::Framed,
            Wire::V2 => Reply::Framed2,
        }
    }

    /// The whole reply servidor sends for a download of `size` bytes, prefix included.
    fn download_len(self, size: u64) -> u64 {
        match self {
            Wire::Course => download_frame_len(size),
            Wire::V2 => encode::stream_head(Some(1), "descargar", size).len() as u64 + size,
        }
    }

    /// What a row adds to its label.
    fn label(self) -> &'static str {
        match self {
            Wire::Course => "",
            Wire::V2 => ", protocol 2",
        }
    }
}

/// Whether a figure met its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Met,
    Missed,
    /// Shown for context; no target.
    Info,
    /// The reference was not available (redis missing).
    Skipped,
}

/// A target: the figure (often a ratio) must be at least or at most `limit`.
#[derive(Debug, Clone, Copy)]
enum Target {
    AtLeast(f64),
    AtMost(f64),
}

impl Target {
    fn check(self, value: f64) -> Verdict {
        let ok = match self {
            Target::AtLeast(l) => value >= l,
            Target::AtMost(l) => value <= l,
        };
        if ok {
            Verdict::Met
        } else {
            Verdict::Missed
        }
    }
}

struct Row {
    section: &'static str,
    what: String,
    almacen: String,
    reference: String,
    ratio: Option<f64>,
    /// The lowest and highest of the paired runs' ratios, when there were several.
    ratio_range: Option<(f64, f64)>,
    target: String,
    verdict: Verdict,
}

struct Bench {
    budget: Budget,
    bin: PathBuf,
    redis_bin: String,
    redis: Option<std::result::Result<Redis, String>>,
    scratch: Scratch,
    archivos: PathBuf,
    big: PathBuf,
    rows: Vec<Row>,
    download_points: Vec<plot::DownloadPoint>,
    list_points: Vec<plot::ListPoint>,
    logs: usize,
}

type Result<T> = std::result::Result<T, String>;

pub fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(Some(o)) => o,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("bench: {e}");
            return ExitCode::from(2);
        }
    };
    if cfg!(debug_assertions) {
        eprintln!("bench: warning: this is a debug build of the client; use --release");
    }
    match run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: Options) -> Result<()> {
    let bin = setup::locate_servidor(opts.servidor.clone())?;
    let scratch = Scratch::new().map_err(|e| format!("scratch folder: {e}"))?;
    let archivos = scratch.dir("archivos").map_err(|e| e.to_string())?;
    eprintln!(
        "bench: writing a {} MiB file into {}",
        BIG_SIZE >> 20,
        archivos.display()
    );
    let big = archivos.join(BIG_NAME);
    setup::write_file(&big, BIG_SIZE).map_err(|e| format!("{}: {e}", big.display()))?;
    for (name, size) in [
        ("poema.txt", 600),
        ("lista de compras.txt", 120),
        ("canción_ñandú.txt", 2_000),
    ] {
        setup::write_file(&archivos.join(name), size).map_err(|e| e.to_string())?;
    }
    setup::warm_cache(&big).map_err(|e| e.to_string())?;
    // 5,000 client sockets do not fit under the common default of 1,024.
    let nofile = almacen::server::raise_open_file_limit().unwrap_or(0);

    let mut bench = Bench {
        budget: Budget::new(opts.quick),
        bin,
        redis_bin: opts.redis.clone(),
        redis: None,
        scratch,
        archivos,
        big,
        rows: Vec::new(),
        download_points: Vec::new(),
        list_points: Vec::new(),
        logs: 0,
    };
    let started = Instant::now();
    let load_before = setup::load_average();
    for (section, name) in SECTIONS {
        if !opts.only.contains(&section) {
            continue;
        }
        eprintln!("bench: {name}");
        let result = match section {
            Section::Downloads => bench.downloads(),
            Section::Roundtrips => bench
                .round_trips("2", &[1, 8], &[Wire::Course, Wire::V2])
                .and_then(|()| bench.blocking_round_trips("2", &[1, 8])),
            Section::Memory => bench.memory(),
            Section::Fairness => bench.fairness(),
            Section::Scaling => bench.scaling(),
            Section::Design => bench.design(),
            // Its round-trip figure is section 2's, when that runs too.
            Section::Hardening => bench.hardening(!opts.only.contains(&Section::Roundtrips)),
            Section::Pushes => bench.pushes(),
            Section::Clients => bench.clients(),
            Section::Balancer => bench.balancer(&opts.haproxy),
            Section::Uploads => bench.uploads(),
        };
        if let Err(e) = result {
            eprintln!("bench: {name} failed: {e}");
            bench.rows.push(Row {
                section: "!",
                what: format!("{name} failed"),
                almacen: e,
                reference: String::new(),
                ratio: None,
                ratio_range: None,
                target: String::new(),
                verdict: Verdict::Missed,
            });
        }
    }

    println!("almacen bench: {}", setup::machine());
    println!(
        "servidor: {}; client: this bench (mio; in §2 also blocking threads; same code for every server); open-file limit {nofile}",
        bench.bin.display()
    );
    match &bench.redis {
        Some(Ok(r)) => println!("redis-server {} (no persistence, loopback)", r.version),
        Some(Err(e)) => println!("redis: skipped: {e}"),
        None => {}
    }
    println!(
        "budget: {}; took {:.0} s; load average before {load_before}, after {}",
        if opts.quick { "--quick" } else { "full" },
        started.elapsed().as_secs_f64(),
        setup::load_average()
    );
    println!(
        "ratios: median of paired runs (reference, then servidor, right after); \
         GB = 10^9 bytes, MiB/KiB = 2^20/2^10 bytes\n"
    );
    print!("{}", table(&bench.rows));

    if let Some(dir) = &opts.plots {
        bench.write_plots(dir);
    }
    let missed = bench.rows.iter().filter(|r| r.verdict == Verdict::Missed).count();
    if missed > 0 {
        println!("\n{missed} figure(s) missed their target: see docs/performance.md for what limits them.");
    }
    Ok(())
}

impl Bench {
    /// A fresh servidor over `dir`, its warnings kept in the scratch folder.
    fn servidor(&mut self, dir: &Path) -> Result<Servidor> {
        self.logs += 1;
        let log = self.scratch.root.join(format!("servidor-{}.log", self.logs));
        Servidor::start(&self.bin, dir, &log)
    }

    /// A fresh servidor over `dir` with more options (`--read-only`).
    fn servidor_with(&mut self, dir: &Path, options: &[&str]) -> Result<Servidor> {
        self.logs += 1;
        let log = self.scratch.root.join(format!("servidor-{}.log", self.logs));
        Servidor::start_with(&self.bin, dir, &log, options)
    }

    /// A fresh servidor whose open-file limit is `nofile`.
    fn servidor_limited(&mut self, dir: &Path, nofile: u64) -> Result<Servidor> {
        self.logs += 1;
        let log = self.scratch.root.join(format!("servidor-{}.log", self.logs));
        Servidor::start_limited(&self.bin, dir, &log, Some(nofile))
    }

    /// redis's address and pid, starting it the first time; Err says why it is skipped.
    fn redis_addr(&mut self) -> Result<(SocketAddr, u32)> {
        if self.redis.is_none() {
            let dir = self.scratch.dir("redis").map_err(|e| e.to_string())?;
            self.redis = Some(Redis::start(&self.redis_bin, &dir));
        }
        match self.redis.as_ref().expect("set above") {
            Ok(r) => Ok((r.addr, r.pid())),
            Err(e) => Err(e.clone()),
        }
    }

    fn push(&mut self, section: &'static str, what: impl Into<String>, almacen: String, reference: String) {
        self.rows.push(Row {
            section,
            what: what.into(),
            almacen,
            reference,
            ratio: None,
            ratio_range: None,
            target: String::new(),
            verdict: Verdict::Info,
        });
    }

    /// Sets the last row's target, judged on `value` (a ratio when `ratio` is set).
    fn judge(&mut self, ratio: Option<f64>, value: f64, target: Target, label: &str) {
        let row = self.rows.last_mut().expect("a row was pushed");
        row.ratio = ratio;
        row.target = label.to_string();
        row.verdict = if value.is_finite() {
            target.check(value)
        } else {
            Verdict::Skipped
        };
    }

    fn download_plan(&self, addr: SocketAddr, conns: usize, threads: usize, stop: Stop) -> Plan {
        self.download_plan_in(Wire::Course, addr, conns, threads, stop)
    }

    fn download_plan_in(
        &self,
        wire: Wire,
        addr: SocketAddr,
        conns: usize,
        threads: usize,
        stop: Stop,
    ) -> Plan {
        Plan {
            addr,
            request: wire.request("descargar", Data::str(BIG_NAME)),
            reply: wire.reply(),
            conns,
            threads,
            stop,
            expect_len: Some(wire.download_len(BIG_SIZE)),
        }
    }

    /// GB/s for `streams` clients each downloading the big file once, all at the same time.
    fn download_once(&self, addr: SocketAddr, streams: usize) -> Result<f64> {
        self.download_once_in(Wire::Course, addr, streams)
    }

    fn download_once_in(&self, wire: Wire, addr: SocketAddr, streams: usize) -> Result<f64> {
        let plan = self.download_plan_in(wire, addr, streams, streams, Stop::Rounds(1));
        Ok(checked(load::run(&plan))?.gbps())
    }

    /// Section 1, downloads against the sendfile limit, in both of servidor's protocols. Runs
    /// alternate between the servers so that drift in the machine (another job, CPU
    /// frequency) hits all alike.
    fn downloads(&mut self) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        check_listar(srv.addr)?;
        check_listar_v2(srv.addr)?;
        let limit = RefServer::start(Answer::File {
            path: self.big.clone(),
            body: Body::Sendfile,
            hola: false,
        })
        .map_err(|e| e.to_string())?;
        // Protocol 2's limit: the same bytes, after the same `hola` round trip (a connection
        // that has made one is slower at bulk receiving on Linux, whoever serves it).
        let limit_v2 = RefServer::start(Answer::File {
            path: self.big.clone(),
            body: Body::Sendfile,
            hola: true,
        })
        .map_err(|e| e.to_string())?;
        let wires = [(Wire::Course, limit.addr), (Wire::V2, limit_v2.addr)];
        for streams in [1, 4] {
            let mut theirs = vec![Vec::new(); wires.len()];
            let (mut ours, mut ratios) = (vec![Vec::new(); wires.len()], vec![Vec::new(); wires.len()]);
            for _ in 0..self.budget.download_reps {
                for (i, (wire, limit_addr)) in wires.iter().enumerate() {
                    let limit = self.download_once_in(*wire, *limit_addr, streams)?;
                    let ours_now = self.download_once_in(*wire, srv.addr, streams)?;
                    theirs[i].push(limit);
                    ratios[i].push(ours_now / limit);
                    ours[i].push(ours_now);
                }
            }
            for (i, (wire, _)) in wires.iter().enumerate() {
                let (ours, ratio) = (median(ours[i].clone()), median(ratios[i].clone()));
                let what = if streams == 1 {
                    format!("one 256 MiB download{}", wire.label())
                } else {
                    format!("{streams} × 256 MiB downloads at once{}", wire.label())
                };
                let limit = match wire {
                    Wire::Course => "sendfile limit",
                    Wire::V2 => "sendfile limit, after hola",
                };
                let theirs = gbps(median(theirs[i].clone()));
                self.push("1", what, gbps(ours), format!("{theirs} {limit}"));
                self.judge(Some(ratio), ratio, Target::AtLeast(0.90), "≥ 0.90×");
            }
        }
        warn_if_logged(&srv);
        Ok(())
    }

    /// Section 2, `listar` round trips against redis `PING`, same client, alternating runs,
    /// over each number of connections in `conn_counts` and each of servidor's protocols in
    /// `wires`; rows are labelled `section`.
    fn round_trips(&mut self, section: &'static str, conn_counts: &[usize], wires: &[Wire]) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        setup::wait_settled(&self.archivos);
        check_listar(srv.addr)?;
        if wires.contains(&Wire::V2) {
            check_listar_v2(srv.addr)?;
        }
        let redis = self.redis_addr();
        for &conns in conn_counts {
            // Each repetition runs redis, then servidor in each protocol, right after it: a
            // ratio is taken within a pair and the median of those is shown, so a burst of
            // load from elsewhere on the machine moves one pair, not the figure.
            let mut pairs: Vec<Vec<(Outcome, Option<Outcome>)>> = vec![Vec::new(); wires.len()];
            for _ in 0..self.budget.round_trip_reps {
                let mut theirs = None;
                if let Ok((addr, pid)) = redis {
                    let plan = Plan {
                        addr,
                        request: Arc::from(setup::PING),
                        reply: Reply::Fixed(setup::PONG.len()),
                        conns,
                        threads: 1,
                        stop: self.budget.round_trip,
                        expect_len: None,
                    };
                    theirs = Some(run_measuring_cpu(&plan, pid)?);
                }
                for (i, wire) in wires.iter().enumerate() {
                    let plan = Plan {
                        addr: srv.addr,
                        request: wire.request("listar", Data::None),
                        reply: wire.reply(),
                        conns,
                        threads: 1,
                        stop: self.budget.round_trip,
                        expect_len: None,
                    };
                    let ours = run_measuring_cpu(&plan, srv.pid())?;
                    // Each pair on stderr, so a ratio that surprises can be traced to its runs.
                    eprintln!(
                        "bench:   {conns} conn(s): listar{} {} (CPU {}), PING {}",
                        wire.label(),
                        rate(ours.per_sec()),
                        duration_fine(ours.cpu_per_reply()),
                        theirs.as_ref().map_or("skipped".into(), |t| format!(
                            "{} (CPU {})",
                            rate(t.per_sec()),
                            duration_fine(t.cpu_per_reply())
                        ))
                    );
                    pairs[i].push((ours, theirs.clone()));
                }
            }
            for (wire, pairs) in wires.iter().zip(pairs) {
                let label = format!("{}{}", connections(conns), wire.label());
                self.round_trip_rows(section, conns, &label, pairs, &redis)?;
            }
        }
        warn_if_logged(&srv);
        Ok(())
    }

    /// Section 2 again with the other kind of client: one blocking thread per connection,
    /// each reply read as a length and then the rest (load::run_blocking), the way the
    /// course's Python client and outside load tools read it. Same pairing: redis, then
    /// servidor right after, in each repetition.
    fn blocking_round_trips(&mut self, section: &'static str, conn_counts: &[usize]) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        setup::wait_settled(&self.archivos);
        check_listar(srv.addr)?;
        let redis = self.redis_addr();
        for &conns in conn_counts {
            let mut pairs = Vec::new();
            for _ in 0..self.budget.round_trip_reps {
                let mut theirs = None;
                if let Ok((addr, pid)) = redis {
                    let plan = Plan {
                        addr,
                        request: Arc::from(setup::PING),
                        reply: Reply::Fixed(setup::PONG.len()),
                        conns,
                        threads: conns,
                        stop: self.budget.round_trip,
                        expect_len: None,
                    };
                    theirs = Some(measuring_cpu(|| load::run_blocking(&plan), pid)?);
                }
                let plan = Plan {
                    addr: srv.addr,
                    request: request("listar", Data::None),
                    reply: Reply::Framed,
                    conns,
                    threads: conns,
                    stop: self.budget.round_trip,
                    expect_len: None,
                };
                let ours = measuring_cpu(|| load::run_blocking(&plan), srv.pid())?;
                eprintln!(
                    "bench:   {} (blocking): listar {} p50 {} (CPU {}), PING {}",
                    connections(conns),
                    rate(ours.per_sec()),
                    duration(ours.percentile(0.5)),
                    duration_fine(ours.cpu_per_reply()),
                    theirs.as_ref().map_or("skipped".into(), |t| format!(
                        "{} p50 {} (CPU {})",
                        rate(t.per_sec()),
                        duration(t.percentile(0.5)),
                        duration_fine(t.cpu_per_reply())
                    ))
                );
                pairs.push((ours, theirs));
            }
            let label = format!("{}, blocking client", connections(conns));
            self.round_trip_rows(section, conns, &label, pairs, &redis)?;
        }
        warn_if_logged(&srv);
        Ok(())
    }

    /// The rows of one number of connections and one client, from its paired runs: each
    /// figure is the median over the runs with its range beside it, and each ratio the
    /// median of the pairs' ratios with theirs.
    fn round_trip_rows(
        &mut self,
        section: &'static str,
        conns: usize,
        label: &str,
        pairs: Vec<(Outcome, Option<Outcome>)>,
        redis: &Result<(SocketAddr, u32)>,
    ) -> Result<()> {
        if pairs.is_empty() {
            return Err("no listar run".into());
        }
        let measures: [(&str, Metric); 4] = [
            ("listar round trips/s", Metric::Rate),
            ("listar p50 latency", Metric::Latency(0.50)),
            ("listar p99 latency", Metric::Latency(0.99)),
            ("server CPU per round trip", Metric::Cpu),
        ];
        let reference = |text: String| match (pairs.iter().any(|(_, t)| t.is_some()), redis) {
            (true, _) => format!("{text} redis PING"),
            (false, Err(e)) => format!("skipped: {e}"),
            (false, Ok(_)) => "skipped".into(),
        };
        for (what, metric) in measures {
            let ours: Vec<f64> = pairs.iter().map(|(o, _)| metric.of(o)).collect();
            let theirs: Vec<f64> = pairs
                .iter()
                .filter_map(|(_, t)| t.as_ref().map(|t| metric.of(t)))
                .collect();
            let ratios: Vec<f64> = pairs
                .iter()
                .filter_map(|(o, t)| t.as_ref().map(|t| metric.of(o) / metric.of(t)))
                .collect();
            self.push(
                section,
                format!("{what}, {label}"),
                metric.spread(&ours),
                reference(metric.spread(&theirs)),
            );
            let ratio = (!ratios.is_empty()).then(|| median(ratios.clone()));
            let target = match metric {
                Metric::Rate if conns == 8 => Some((Target::AtLeast(1.0), "≥ 1.0×")),
                Metric::Latency(p) if conns == 1 && p == 0.50 => Some((Target::AtMost(1.2), "≤ 1.2×")),
                _ => None,
            };
            match target {
                Some((target, text)) => self.judge(ratio, ratio.unwrap_or(f64::NAN), target, text),
                None => self.rows.last_mut().expect("pushed").ratio = ratio,
            }
            if ratios.len() > 1 {
                let (lo, hi) = min_max(&ratios);
                self.rows.last_mut().expect("pushed").ratio_range = Some((lo, hi));
            }
        }
        Ok(())
    }

    /// Section 3, memory: at start, per idle connection, and at peak under the heaviest download load.
    fn memory(&mut self) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        std::thread::sleep(Duration::from_millis(300));
        let start = srv.rss_kib();
        self.push(
            "3",
            "servidor RSS at start",
            kib(start),
            format!("VmHWM {}", kib(srv.hwm_kib())),
        );

        let base_fds = srv.fd_count();
        let mut conns =
            load::connect(srv.addr, IDLE_CONNS).map_err(|e| format!("opening idle connections: {e}"))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while srv.fd_count() < base_fds + IDLE_CONNS {
            if Instant::now() > deadline {
                return Err(format!(
                    "servidor holds {} descriptors, expected {}",
                    srv.fd_count(),
                    base_fds + IDLE_CONNS
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(300));
        let idle = srv.rss_kib();
        let per = per_conn(start, idle);
        self.push(
            "3",
            format!("heap per idle connection ({IDLE_CONNS} open)"),
            format!("{per:.0} B"),
            format!("RSS {} → {}", kib(start), kib(idle)),
        );
        self.judge(None, per, Target::AtMost(1024.0), "≤ 1 KiB");

        // The course's client lists once, then sits at its menu: the same cost must hold
        // after a request has come and gone.
        let listar = request("listar", Data::None);
        let mut scratch = vec![0u8; 64 * 1024];
        for c in conns.iter_mut() {
            load::round_trip(c, &listar, &mut scratch)
                .map_err(|e| format!("listar on an idle connection: {e}"))?;
        }
        std::thread::sleep(Duration::from_millis(300));
        let after = srv.rss_kib();
        let per = per_conn(start, after);
        self.push(
            "3",
            "heap per idle connection, after one listar each".to_string(),
            format!("{per:.0} B"),
            format!("RSS {} → {}", kib(start), kib(after)),
        );
        self.judge(None, per, Target::AtMost(1024.0), "≤ 1 KiB");
        drop(conns);
        warn_if_logged(&srv);
        drop(srv);

        // Peak: 8 clients download 256 MiB while 8 more ask for it and never read.
        let srv = self.servidor(&self.archivos.clone())?;
        let sampler = RssSampler::start(srv.pid());
        let descargar = request("descargar", Data::str(BIG_NAME));
        let mut stalled = load::connect(srv.addr, 8).map_err(|e| e.to_string())?;
        for s in stalled.iter_mut() {
            s.write_all(&descargar).map_err(|e| e.to_string())?;
        }
        let out = checked(load::run(&self.download_plan(srv.addr, 8, 2, Stop::Rounds(1))))?;
        let sampled = sampler.finish();
        let hwm = srv.hwm_kib();
        self.push(
            "3",
            "peak RSS: 8 × 256 MiB downloads + 8 stalled readers",
            kib(hwm),
            format!("sampled max {}; downloads at {}", kib(sampled), gbps(out.gbps())),
        );
        self.judge(None, hwm as f64, Target::AtMost(8192.0), "≤ 8 MiB");
        drop(stalled);
        warn_if_logged(&srv);
        Ok(())
    }

    /// Section 4, fairness: `listar` latency while four large downloads keep the server busy.
    fn fairness(&mut self) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        setup::wait_settled(&self.archivos);
        let measure = self.budget.fairness;
        // The downloads start first and end last, so every listar runs under full load.
        let downloads = self.download_plan(
            srv.addr,
            4,
            1,
            Stop::Timed {
                warmup: Duration::from_millis(500),
                measure: measure + Duration::from_secs(1),
            },
        );
        let listar = Plan {
            addr: srv.addr,
            request: request("listar", Data::None),
            reply: Reply::Framed,
            conns: 1,
            threads: 1,
            stop: Stop::Timed {
                warmup: Duration::from_secs(1),
                measure,
            },
            expect_len: None,
        };
        let (dl, ls) = std::thread::scope(|s| {
            let h = s.spawn(|| load::run(&downloads));
            let ls = load::run(&listar);
            (h.join().expect("download thread"), ls)
        });
        let (dl, ls) = (checked(dl)?, checked(ls)?);
        let p99 = ls.percentile(0.99);
        self.push(
            "4",
            "listar p99 with 4 downloads in flight",
            duration(p99),
            format!(
                "p50 {}, max {}, listar {}; downloads {}",
                duration(ls.percentile(0.5)),
                duration(ls.percentile(1.0)),
                rate(ls.per_sec()),
                gbps(dl.gbps())
            ),
        );
        self.judge(None, p99.as_secs_f64(), Target::AtMost(0.005), "≤ 5 ms");
        warn_if_logged(&srv);
        Ok(())
    }

    /// Section 5, how cost grows with clients, and with the size of the folder.
    fn scaling(&mut self) -> Result<()> {
        let measure = self.budget.scaling;
        for clients in [1, 10, 100, 1000] {
            let srv = self.servidor(&self.archivos.clone())?;
            let sampler = RssSampler::start(srv.pid());
            let plan = self.download_plan(
                srv.addr,
                clients,
                clients.min(2),
                Stop::Timed {
                    warmup: Duration::from_millis(500),
                    measure,
                },
            );
            let out = checked(load::run(&plan))?;
            let peak = sampler.finish().max(srv.hwm_kib());
            self.push(
                "5",
                format!(
                    "downloads by {clients} client{} at once, for {:.0} s",
                    if clients == 1 { "" } else { "s" },
                    measure.as_secs_f64()
                ),
                gbps(out.gbps()),
                format!("peak RSS {}", kib(peak)),
            );
            self.download_points.push(plot::DownloadPoint {
                clients,
                gbps: out.gbps(),
                peak_rss_mib: peak as f64 / 1024.0,
            });
            warn_if_logged(&srv);
        }

        let dir = self.scratch.dir("listar").map_err(|e| e.to_string())?;
        let srv = self.servidor(&dir)?;
        let listar = request("listar", Data::None);
        let mut scratch = vec![0u8; 1 << 20];
        let mut made = 0;
        for files in [10, 1_000, 100_000] {
            eprintln!("bench: listar with {files} files");
            for i in made..files {
                std::fs::File::create(dir.join(format!("archivo-{i:06}.txt"))).map_err(|e| e.to_string())?;
            }
            made = files;
            let mut conn = TcpStream::connect(srv.addr).map_err(|e| e.to_string())?;
            conn.set_nodelay(true).map_err(|e| e.to_string())?;
            let mut time = |conn: &mut TcpStream| -> Result<(f64, u64)> {
                let t = Instant::now();
                let len = load::round_trip(conn, &listar, &mut scratch).map_err(|e| e.to_string())?;
                Ok((t.elapsed().as_secs_f64() * 1e3, len))
            };
            // Cold: the folder just changed, so servidor reads it, sorts and encodes.
            // Beside it, the floor no server can go under: the same folder read by the
            // bench itself, names only, unsorted (the kernel's getdents and nothing else).
            let (mut cold, mut floor) = (Vec::new(), Vec::new());
            for _ in 0..self.budget.cold_listar_reps {
                setup::touch_dir(&dir).map_err(|e| e.to_string())?;
                cold.push(time(&mut conn)?.0);
                let t = Instant::now();
                let names = std::fs::read_dir(&dir).map_err(|e| e.to_string())?.count();
                floor.push(t.elapsed().as_secs_f64() * 1e3);
                std::hint::black_box(names);
            }
            // Warm: the folder is settled; the first call caches, the rest reuse it.
            setup::wait_settled(&dir);
            let (_, reply_len) = time(&mut conn)?;
            let mut warm = Vec::new();
            for _ in 0..self.budget.warm_listar_reps {
                warm.push(time(&mut conn)?.0);
            }
            let (cold, warm, floor) = (median(cold), median(warm), median(floor));
            self.push(
                "5",
                format!("listar with {files} files: after a change / cached"),
                format!("{} / {}", ms(cold), ms(warm)),
                format!(
                    "readdir alone {}; reply {}; VmHWM {}",
                    ms(floor),
                    kib(reply_len / 1024),
                    kib(srv.hwm_kib())
                ),
            );
            if files == 100_000 {
                self.judge(None, cold, Target::AtMost(50.0), "< 50 ms");
            }
            self.list_points.push(plot::ListPoint {
                files,
                cold_ms: cold,
                warm_ms: warm,
                readdir_ms: floor,
            });
        }
        warn_if_logged(&srv);
        Ok(())
    }

    /// Section 6, what single design choices buy, each isolated in a bench-only minimal server.
    fn design(&mut self) -> Result<()> {
        let sendfile = RefServer::start(Answer::File {
            path: self.big.clone(),
            body: Body::Sendfile,
            hola: false,
        })
        .map_err(|e| e.to_string())?;
        // 32 KiB: the buffer of the portable fallback in src/outbox.rs (Transport::send_file).
        let copy = RefServer::start(Answer::File {
            path: self.big.clone(),
            hola: false,
            body: Body::Copy { chunk: 32 * 1024 },
        })
        .map_err(|e| e.to_string())?;
        let (mut fast, mut slow, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..self.budget.download_reps {
            fast.push(self.download_once(sendfile.addr, 1)?);
            slow.push(self.download_once(copy.addr, 1)?);
            ratios.push(slow[slow.len() - 1] / fast[fast.len() - 1]);
        }
        let (fast, slow, ratio) = (median(fast), median(slow), median(ratios));
        self.push(
            "6",
            "mini server, one download: read+write 32 KiB chunks vs sendfile",
            gbps(slow),
            format!("{} sendfile", gbps(fast)),
        );
        self.rows.last_mut().expect("pushed").ratio = Some(ratio);

        // A small reply (servidor's own listar frame) in one write, or in two as the
        // course's server does, with and without TCP_NODELAY.
        let srv = self.servidor(&self.archivos.clone())?;
        let frame = fetch(srv.addr, &request("listar", Data::None))?;
        drop(srv);
        let variants = [
            ("one write, TCP_NODELAY", false, true),
            ("two writes, TCP_NODELAY", true, true),
            ("two writes, Nagle on", true, false),
        ];
        let servers = variants
            .iter()
            .map(|&(_, split, nodelay)| {
                RefServer::start(Answer::Small {
                    frame: frame.clone(),
                    split,
                    nodelay,
                })
            })
            .collect::<std::io::Result<Vec<_>>>()
            .map_err(|e| e.to_string())?;
        // Rounds go through the three in turn, so outside load hits them alike.
        let mut p50s = vec![Vec::new(); variants.len()];
        let mut rates = vec![Vec::new(); variants.len()];
        for _ in 0..self.budget.round_trip_reps {
            for (i, server) in servers.iter().enumerate() {
                let plan = Plan {
                    addr: server.addr,
                    request: request("listar", Data::None),
                    reply: Reply::Framed,
                    conns: 1,
                    threads: 1,
                    stop: Stop::Timed {
                        warmup: Duration::from_millis(200),
                        measure: Duration::from_secs(1),
                    },
                    expect_len: None,
                };
                let out = checked(load::run(&plan))?;
                p50s[i].push(out.percentile(0.5).as_secs_f64());
                rates[i].push(out.per_sec());
            }
        }
        let base = median(p50s[0].clone());
        for (i, (label, _, _)) in variants.iter().enumerate() {
            let p50 = median(p50s[i].clone());
            self.push(
                "6",
                format!("mini server, small reply: {label}"),
                format!("p50 {}", duration(Duration::from_secs_f64(p50))),
                format!("round trips: {}", rate(median(rates[i].clone()))),
            );
            self.rows.last_mut().expect("pushed").ratio = Some(p50 / base);
        }
        Ok(())
    }

    /// Section 8, pushes: N subscribers read while one client sends `mensaje` to "todos"
    /// (or `difundir` of a 600-byte file) over and over; deliveries per second counted at
    /// the subscribers, each one decoded and checked.
    fn pushes(&mut self) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        let poema = "poema.txt";
        let content: Arc<[u8]> =
            Arc::from(std::fs::read(self.archivos.join(poema)).map_err(|e| e.to_string())?);
        let (warmup, measure, reps) = self.budget.pushes;
        let kinds = [
            ("mensaje", load::PushKind::Mensaje),
            (
                "difundir (600 B file)",
                load::PushKind::Difundir {
                    name: poema.into(),
                    content,
                },
            ),
        ];
        for subscribers in [1, 10, 100, 1000] {
            for (label, kind) in &kinds {
                let plan = load::PushPlan {
                    addr: srv.addr,
                    subscribers,
                    // Two reading threads share the machine's two cores with servidor
                    // and the sender; one is enough for a single subscriber.
                    threads: subscribers.min(2),
                    kind: kind.clone(),
                    warmup,
                    measure,
                };
                let mut runs = Vec::new();
                for _ in 0..reps {
                    let out = load::run_pushes(&plan).map_err(|e| format!("pushes: {e}"))?;
                    if let Some(e) = out.errors.first() {
                        return Err(format!("{label}, {subscribers} subscribers: {e}"));
                    }
                    eprintln!(
                        "bench:   {label}, {subscribers} subscriber(s): {} delivered, sender {}, {} of {} skipped",
                        rate(out.per_sec()),
                        rate(out.sent_per_sec()),
                        out.skipped_total,
                        out.queued_total + out.skipped_total
                    );
                    runs.push(out);
                }
                runs.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
                let out = &runs[runs.len() / 2];
                let range = format!(
                    "{}–{}",
                    rate(runs[0].per_sec()),
                    rate(runs[runs.len() - 1].per_sec())
                );
                self.push(
                    "8",
                    format!(
                        "{label} pushes delivered/s, {subscribers} subscriber{}",
                        if subscribers == 1 { "" } else { "s" }
                    ),
                    rate(out.per_sec()),
                    format!(
                        "runs {range}; sender {} requests; skipped {}; all {} checked",
                        rate(out.sent_per_sec()),
                        count(out.skipped_total),
                        count(out.delivered_total)
                    ),
                );
            }
        }
        warn_if_logged(&srv);
        Ok(())
    }

    /// Section 9, clients held at once: as many idle connections as servidor admits, a
    /// `listar` from one of them beside the same client alone (before they connect and
    /// after they leave), and the next connection turned away.
    fn clients(&mut self) -> Result<()> {
        let srv = self.servidor(&self.archivos.clone())?;
        setup::wait_settled(&self.archivos);
        let nofile = setup::open_file_limit(srv.pid()).ok_or("cannot read servidor's open-file limit")?;
        let ceiling = client_ceiling(nofile);
        let listar = request("listar", Data::None);
        let window = self.budget.held_listar;
        let mut scratch = vec![0u8; 64 * 1024];
        // Latencies (sorted), and servidor's CPU time per request meanwhile: latency moves
        // with outside load, CPU per request much less.
        let pid = srv.pid();
        let timed = |conn: &mut TcpStream| -> Result<(Vec<u64>, Duration)> {
            let mut scratch = vec![0u8; 64 * 1024];
            let cpu = setup::cpu_time(pid);
            let mut ns = Vec::new();
            let began = Instant::now();
            while began.elapsed() < window {
                let t = Instant::now();
                load::round_trip(conn, &listar, &mut scratch).map_err(|e| e.to_string())?;
                ns.push(t.elapsed().as_nanos() as u64);
            }
            ns.sort_unstable();
            let per = setup::cpu_time(pid).saturating_sub(cpu) / ns.len().max(1) as u32;
            Ok((ns, per))
        };
        let mut first = load::connect(srv.addr, 1).map_err(|e| e.to_string())?.remove(0);
        let (alone, alone_cpu) = timed(&mut first)?;

        let base_fds = srv.fd_count();
        let rss_before = srv.rss_kib();
        let t = Instant::now();
        let mut others = load::connect(srv.addr, ceiling - 1)
            .map_err(|e| format!("opening {} connections: {e}", ceiling - 1))?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while srv.fd_count() < base_fds + ceiling - 1 {
            if Instant::now() > deadline {
                return Err(format!(
                    "servidor holds {} descriptors, expected {}",
                    srv.fd_count(),
                    base_fds + ceiling - 1
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let connected = t.elapsed();
        std::thread::sleep(Duration::from_millis(300));
        let rss_full = srv.rss_kib();

        // One more than the ceiling: an error reply in the course's protocol, then closed.
        let refusal = fetch(srv.addr, &listar)?;
        let refused = message::parse_reply(&refusal[4..], Limits::default()).map_err(|e| e.detail)?;
        let expected = Value::String("servidor lleno, intente más tarde".into());
        if refused.is_ok() || refused.data != expected {
            return Err(format!(
                "connection {} was not turned away: {refused:?}",
                ceiling + 1
            ));
        }

        let (crowded, crowded_cpu) = timed(&mut first)?;
        // Every idle client asks once, one after another, as a class that wakes up would.
        let t = Instant::now();
        for c in others.iter_mut() {
            load::round_trip(c, &listar, &mut scratch)
                .map_err(|e| format!("listar on an idle connection: {e}"))?;
        }
        let each = t.elapsed() / others.len().max(1) as u32;
        let after_rss = srv.rss_kib();
        // Alone again, once servidor has closed the others: outside load that moved
        // between the first measurement and the crowded one shows up here too.
        drop(others);
        let deadline = Instant::now() + Duration::from_secs(30);
        while srv.fd_count() > base_fds && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let (alone_after, after_cpu) = timed(&mut first)?;

        self.push(
            "9",
            "clients held at once, idle",
            format!("{}; the next one refused", count(ceiling as u64)),
            format!(
                "open-file limit {nofile}: min(--max-clients 10,000, (limit − reserve) / 2); connected in {}",
                ms(connected.as_secs_f64() * 1e3)
            ),
        );
        let p = |ns: &[u64], q: f64| load::percentile(ns, q);
        self.push(
            "9",
            format!("listar p50 / p99, 1 client of {}", count(ceiling as u64)),
            format!("{} / {}", duration(p(&crowded, 0.5)), duration(p(&crowded, 0.99))),
            format!(
                "alone, before: {} / {}; after: {} / {}; servidor CPU per listar {} crowded, {} / {} alone",
                duration(p(&alone, 0.5)),
                duration(p(&alone, 0.99)),
                duration(p(&alone_after, 0.5)),
                duration(p(&alone_after, 0.99)),
                duration_fine(crowded_cpu),
                duration_fine(alone_cpu),
                duration_fine(after_cpu)
            ),
        );
        self.rows.last_mut().expect("pushed").ratio =
            Some(p(&crowded, 0.5).as_secs_f64() / p(&alone, 0.5).as_secs_f64());
        self.push(
            "9",
            format!(
                "listar on each of the other {} clients, in turn",
                count(ceiling as u64 - 1)
            ),
            format!("{} each", duration(each)),
            format!(
                "servidor RSS {} alone, {} holding all, {} after",
                kib(rss_before),
                kib(rss_full),
                kib(after_rss)
            ),
        );
        warn_if_logged(&srv);
        Ok(())
    }

    fn write_plots(&self, dir: &Path) {
        let write = |name: &str, draw: &dyn Fn(&Path) -> Result<()>| {
            let path = dir.join(name);
            match std::fs::create_dir_all(dir)
                .map_err(|e| e.to_string())
                .and_then(|()| draw(&path))
            {
                Ok(()) => println!("plot: {}", path.display()),
                Err(e) => eprintln!("bench: plot {}: {e}", path.display()),
            }
        };
        if !self.download_points.is_empty() {
            write("bench-downloads.svg", &|p| {
                plot::downloads(p, &self.download_points)
            });
        }
        if !self.list_points.is_empty() {
            write("bench-listar.svg", &|p| plot::listar(p, &self.list_points));
        }
    }
}

/// How many clients servidor admits under an open-file limit: the default `--max-clients`,
/// or what src/server.rs's `client_ceiling` leaves room for (a socket and at most one open
/// file per client, after a reserve), whichever is lower. Kept in step with it by hand:
/// the clients section fails loudly when the two disagree.
fn client_ceiling(nofile: u64) -> usize {
    let fds = usize::try_from(nofile).unwrap_or(usize::MAX);
    let reserve = (fds / 16).clamp(16, 1024).min(fds / 2);
    (fds.saturating_sub(reserve) / 2).clamp(1, 10_000)
}

/// A request frame as the course's client sends it.
fn request(operacion: &str, data: Data) -> Arc<[u8]> {
    Arc::from(message::frame_request(&Envelope::course(), operacion, &data))
}

/// The whole frame servidor sends for a download of `size` bytes, prefix included.
fn download_frame_len(size: u64) -> u64 {
    let (head, tail) =
        message::stream_parts(&Envelope::course(), "descargar", size).expect("256 MiB fits in a frame");
    head.len() as u64 + size + tail.len() as u64
}

/// One request, its whole reply frame (prefix included), over a fresh connection.
fn fetch(addr: SocketAddr, req: &[u8]) -> Result<Vec<u8>> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    fetch_on(&mut s, req)
}

/// One request and the first 4 + L bytes of its reply (a frame without raw bytes).
fn fetch_on(s: &mut TcpStream, req: &[u8]) -> Result<Vec<u8>> {
    s.write_all(req).map_err(|e| e.to_string())?;
    let mut frame = vec![0u8; 4];
    s.read_exact(&mut frame).map_err(|e| e.to_string())?;
    let len = u32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]) as usize;
    frame.resize(4 + len, 0);
    s.read_exact(&mut frame[4..]).map_err(|e| e.to_string())?;
    Ok(frame)
}

/// Before timing anything, the reply must be what the course's client expects.
fn check_listar(addr: SocketAddr) -> Result<()> {
    let frame = fetch(addr, &request("listar", Data::None))?;
    let reply = message::parse(&frame[4..], Limits::default()).map_err(|e| e.detail)?;
    let listed = match (&reply.estado, &reply.data) {
        (Value::String(ok), Value::List(names)) if ok == "ok" => {
            names.contains(&Value::String(BIG_NAME.into()))
        }
        _ => false,
    };
    if listed {
        Ok(())
    } else {
        Err(format!("unexpected listar reply: {reply:?}"))
    }
}

/// Before timing anything in protocol 2, `listar` after `hola` must be what the protocol-2
/// example client expects: an `ok` listing the big file, echoing the request's id.
fn check_listar_v2(addr: SocketAddr) -> Result<()> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    load::hola(&mut s).map_err(|e| e.to_string())?;
    let frame = fetch_on(&mut s, &Wire::V2.request("listar", Data::None))?;
    let parsed =
        header::parse(&frame[4..], &almacen::protocol::Limits::new(1 << 20)).map_err(|b| b.detail)?;
    let head = parsed.header.map_err(|b| b.detail)?;
    let listed = match (&head.estado, &head.data) {
        (Value::String(ok), Value::List(names)) if ok == "ok" => {
            head.id == Some(1) && names.contains(&Value::String(BIG_NAME.into()))
        }
        _ => false,
    };
    if listed {
        Ok(())
    } else {
        Err(format!("unexpected protocol-2 listar reply: {head:?}"))
    }
}

/// Runs a plan and records how much CPU the server process used meanwhile: unlike
/// throughput, CPU per request barely moves when another job shares the machine.
fn run_measuring_cpu(plan: &Plan, pid: u32) -> Result<Outcome> {
    let before = setup::cpu_time(pid);
    let mut out = checked(load::run(plan))?;
    out.server_cpu = setup::cpu_time(pid).saturating_sub(before);
    Ok(out)
}

/// The same for any client: `run` (the clients' whole run) is called between the two
/// readings of the server's CPU time.
fn measuring_cpu(run: impl FnOnce() -> std::io::Result<Outcome>, pid: u32) -> Result<Outcome> {
    let before = setup::cpu_time(pid);
    let mut out = checked(run())?;
    out.server_cpu = setup::cpu_time(pid).saturating_sub(before);
    Ok(out)
}

/// One figure of a round-trip run.
#[derive(Debug, Clone, Copy)]
enum Metric {
    Rate,
    Latency(f64),
    Cpu,
}

impl Metric {
    fn of(self, o: &Outcome) -> f64 {
        match self {
            Metric::Rate => o.per_sec(),
            Metric::Latency(p) => o.percentile(p).as_secs_f64(),
            Metric::Cpu => o.cpu_per_reply().as_secs_f64(),
        }
    }

    fn show(self, x: f64) -> String {
        match self {
            Metric::Rate => rate(x),
            Metric::Latency(_) => duration(Duration::from_secs_f64(x)),
            Metric::Cpu => duration_fine(Duration::from_secs_f64(x)),
        }
    }

    /// The median of the runs, and their range when there were several.
    fn spread(self, values: &[f64]) -> String {
        if values.len() < 2 {
            return values.first().map_or(String::new(), |&x| self.show(x));
        }
        let (lo, hi) = min_max(values);
        format!(
            "{} ({}–{})",
            self.show(median(values.to_vec())),
            self.show(lo),
            self.show(hi)
        )
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &x| {
            (lo.min(x), hi.max(x))
        })
}

fn connections(n: usize) -> String {
    if n == 1 {
        "1 connection".into()
    } else {
        format!("{n} connections")
    }
}

fn checked(out: std::io::Result<Outcome>) -> Result<Outcome> {
    let out = out.map_err(|e| format!("connecting: {e}"))?;
    match out.errors.first() {
        Some(e) => Err(format!("{} error(s), first: {e}", out.errors.len())),
        None if out.replies == 0 && out.bytes == 0 => Err("no reply arrived".into()),
        None => Ok(out),
    }
}

fn warn_if_logged(srv: &Servidor) {
    const SHOWN: usize = 20;
    let log = srv.log();
    let lines: Vec<&str> = log.trim_end().lines().collect();
    if !lines.is_empty() {
        eprintln!(
            "bench: servidor said:\n{}",
            lines[..lines.len().min(SHOWN)].join("\n")
        );
    }
    if lines.len() > SHOWN {
        eprintln!("bench: ... and {} more lines", lines.len() - SHOWN);
    }
}

/// The run with the median rate (the balancer section compares whole runs).
fn median_outcome(mut v: Vec<Outcome>) -> Option<Outcome> {
    v.sort_by(|a, b| a.per_sec().total_cmp(&b.per_sec()));
    let mid = v.len() / 2;
    (!v.is_empty()).then(|| v.swap_remove(mid))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn per_conn(before_kib: u64, after_kib: u64) -> f64 {
    after_kib.saturating_sub(before_kib) as f64 * 1024.0 / IDLE_CONNS as f64
}

fn gbps(x: f64) -> String {
    format!("{x:.2} GB/s")
}

fn rate(x: f64) -> String {
    format!("{}/s", count(x.round() as u64))
}

/// A whole number with thousands separated by commas.
fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn duration(d: Duration) -> String {
    let us = d.as_secs_f64() * 1e6;
    if us < 1000.0 {
        format!("{us:.0} µs")
    } else {
        ms(us / 1000.0)
    }
}

/// A short duration with one decimal of microseconds.
fn duration_fine(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

fn ms(x: f64) -> String {
    if x < 1.0 {
        format!("{:.0} µs", x * 1000.0)
    } else if x < 10.0 {
        format!("{x:.2} ms")
    } else {
        format!("{x:.1} ms")
    }
}

fn kib(x: u64) -> String {
    if x >= 10 * 1024 {
        format!("{:.1} MiB", x as f64 / 1024.0)
    } else {
        format!("{x} KiB")
    }
}

/// The rows as a Markdown table, columns padded so it also reads well in a terminal.
fn table(rows: &[Row]) -> String {
    let head = ["§", "measure", "almacen", "reference", "ratio", "target", "met"];
    let cells: Vec<[String; 7]> = rows
        .iter()
        .map(|r| {
            [
                r.section.to_string(),
                r.what.clone(),
                r.almacen.clone(),
                r.reference.clone(),
                match (r.ratio, r.ratio_range) {
                    (Some(x), Some((lo, hi))) => format!("{x:.2}× ({lo:.2}–{hi:.2})"),
                    (Some(x), None) => format!("{x:.2}×"),
                    (None, _) => String::new(),
                },
                r.target.clone(),
                match r.verdict {
                    Verdict::Met => "yes",
                    Verdict::Missed => "NO",
                    Verdict::Info => "",
                    Verdict::Skipped => "skipped",
                }
                .to_string(),
            ]
        })
        .collect();
    let mut width = head.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::from("|");
        for (c, w) in cells.iter().zip(width) {
            let _ = write!(s, " {c}{} |", " ".repeat(w - c.chars().count()));
        }
        s.push('\n');
        s
    };
    let mut out = line(&head.map(String::from));
    out.push('|');
    for w in width {
        let _ = write!(out, "{}|", "-".repeat(w + 2));
    }
    out.push('\n');
    for row in &cells {
        out.push_str(&line(row));
    }
    out
}
