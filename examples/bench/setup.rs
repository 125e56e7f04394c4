//! What the bench stands on: a scratch folder, the servidor and redis-server processes it
//! starts and stops, their memory as /proc reports it, and a description of the machine.

use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime};

/// A folder under the system's temp dir, removed when the bench ends (also on panic).
pub struct Scratch {
    pub root: PathBuf,
}

impl Scratch {
    pub fn new() -> io::Result<Scratch> {
        let root = std::env::temp_dir().join(format!("almacen-bench-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(&root)?;
        Ok(Scratch { root })
    }

    /// A subfolder, created empty.
    pub fn dir(&self, name: &str) -> io::Result<PathBuf> {
        let path = self.root.join(name);
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path)?;
        Ok(path)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Writes `size` bytes that do not compress or repeat in any way a kernel could exploit.
pub fn write_file(path: &Path, size: u64) -> io::Result<()> {
    let mut f = io::BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut left = size;
    while left > 0 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let bytes = x.to_le_bytes();
        let n = left.min(8) as usize;
        f.write_all(&bytes[..n])?;
        left -= n as u64;
    }
    f.flush()
}

/// Reads a file once so that every server then serves it from the page cache.
pub fn warm_cache(path: &Path) -> io::Result<()> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

/// servidor caches its `listar` reply only once the folder's timestamp is two seconds old
/// (src/ops/listar.rs), so measurements of the steady state wait for that first.
pub fn wait_settled(dir: &Path) {
    let settle = Duration::from_millis(2100);
    let age = fs::metadata(dir)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or(settle);
    if age < settle {
        thread::sleep(settle - age);
    }
}

/// Changes the folder's timestamp without changing what it lists (hidden names are not
/// listed), so the next `listar` has to build its reply again.
pub fn touch_dir(dir: &Path) -> io::Result<()> {
    let bump = dir.join(".bench-bump");
    File::create(&bump)?;
    fs::remove_file(&bump)
}

/// Finds servidor: the path given, or the release build next to this bench, built first
/// with `cargo build --release --bin servidor` (a no-op when it is up to date).
pub fn locate_servidor(given: Option<PathBuf>) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{} is not a file", p.display()))
        };
    }
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    eprintln!("bench: cargo build --release --bin servidor");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "servidor"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::null())
        .status()
        .map_err(|e| format!("cannot run {cargo}: {e}"))?;
    if !status.success() {
        return Err(format!("cargo build --release --bin servidor failed ({status})"));
    }
    // This bench is target/<profile>/examples/bench; servidor is target/release/servidor.
    // Going through our own path keeps CARGO_TARGET_DIR and friends working.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let target = exe
        .ancestors()
        .nth(3)
        .ok_or("cannot find the target folder from the bench's own path")?;
    let bin = target.join("release").join("servidor");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "{} not found after building; pass --servidor PATH",
            bin.display()
        ))
    }
}

/// A running servidor on 127.0.0.1 with a free port. Stopped with Enter on drop.
pub struct Servidor {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Kept open: servidor must never see EPIPE on stdout.
    _stdout: BufReader<ChildStdout>,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Servidor {
    pub fn start(bin: &Path, dir: &Path, log: &Path) -> Result<Servidor, String> {
        Servidor::start_limited(bin, dir, log, None)
    }

    /// Like `start`, with the open-file limit (soft and hard) set to `nofile` first, as
    /// `ulimit -n` in the shell that starts it would.
    pub fn start_limited(
        bin: &Path,
        dir: &Path,
        log: &Path,
        nofile: Option<u64>,
    ) -> Result<Servidor, String> {
        Servidor::spawn(bin, dir, log, nofile, &[])
    }

    /// Like `start`, with more of servidor's options after the folder (`--read-only`).
    pub fn start_with(bin: &Path, dir: &Path, log: &Path, options: &[&str]) -> Result<Servidor, String> {
        Servidor::spawn(bin, dir, log, None, options)
    }

    fn spawn(
        bin: &Path,
        dir: &Path,
        log: &Path,
        nofile: Option<u64>,
        options: &[&str],
    ) -> Result<Servidor, String> {
        let mut cmd = match nofile {
            None => Command::new(bin),
            Some(n) => {
                let mut sh = Command::new("sh");
                sh.arg("-c")
                    .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                    .arg(bin);
                sh
            }
        };
        let mut child = cmd
            .args(["0", "127.0.0.1", "--dir"])
            .arg(dir)
            .args(options)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(File::create(log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut banner = String::new();
        let _ = stdout.read_line(&mut banner);
        let port = banner
            .trim()
            .strip_prefix("Servidor escuchando en 127.0.0.1 : ")
            .and_then(|p| p.parse::<u16>().ok());
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            let log = fs::read_to_string(log).unwrap_or_default();
            return Err(format!("servidor did not start: {banner:?} {log}"));
        };
        let stdin = child.stdin.take();
        Ok(Servidor {
            child,
            stdin,
            _stdout: stdout,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            log: log.to_path_buf(),
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// VmRSS in KiB: what the process has resident right now.
    pub fn rss_kib(&self) -> u64 {
        status_kib(self.pid(), "VmRSS").unwrap_or(0)
    }

    /// VmHWM in KiB: the most it ever had resident.
    pub fn hwm_kib(&self) -> u64 {
        status_kib(self.pid(), "VmHWM").unwrap_or(0)
    }

    pub fn fd_count(&self) -> usize {
        fs::read_dir(format!("/proc/{}/fd", self.pid())).map_or(0, |d| d.count())
    }

    /// Warnings servidor wrote so far (for the report when something looks wrong).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Servidor {
    fn drop(&mut self) {
        // Enter is servidor's own way to stop; kill only if it did not listen.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The kernel's count of connections dropped because a listen queue was full (all sockets,
/// since boot; `nstat`'s TcpExtListenOverflows). None where /proc does not say.
pub fn listen_overflows() -> Option<u64> {
    let netstat = fs::read_to_string("/proc/net/netstat").ok()?;
    let mut lines = netstat.lines().filter(|l| l.starts_with("TcpExt:"));
    let (names, values) = (lines.next()?, lines.next()?);
    let at = names.split_whitespace().position(|n| n == "ListenOverflows")?;
    values.split_whitespace().nth(at)?.parse().ok()
}

/// CPU time (user + system) a process has used so far, from /proc/PID/stat.
pub fn cpu_time(pid: u32) -> Duration {
    let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return Duration::ZERO;
    };
    // Fields after the command name, which is in parentheses and may hold spaces.
    let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
        return Duration::ZERO;
    };
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i).and_then(|f| f.parse::<u64>().ok()))
        .sum();
    // SAFETY: sysconf only reads a constant of the system; it takes no pointers.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(ticks * 1_000_000_000 / per_second)
}

/// A field of /proc/PID/status, in KiB.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.trim().strip_suffix("kB")?.trim().parse().ok()
    })
}

/// Samples a process's VmRSS every few milliseconds and keeps the largest value: VmHWM
/// says the same at the end, this also shows that nothing grew and shrank in between.
pub struct RssSampler {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<u64>,
}

impl RssSampler {
    pub fn start(pid: u32) -> RssSampler {
        let stop = Arc::new(AtomicBool::new(false));
        let handle = thread::spawn({
            let stop = Arc::clone(&stop);
            move || {
                let mut peak = 0;
                while !stop.load(Ordering::Relaxed) {
                    peak = peak.max(status_kib(pid, "VmRSS").unwrap_or(0));
                    thread::sleep(Duration::from_millis(5));
                }
                peak
            }
        });
        RssSampler { stop, handle }
    }

    /// The largest VmRSS seen, in KiB.
    pub fn finish(self) -> u64 {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or(0)
    }
}

/// redis-server on 127.0.0.1 with a free port, no persistence. Killed on drop.
pub struct Redis {
    child: Child,
    pub addr: SocketAddr,
    pub version: String,
}

/// `PING` as redis-benchmark sends it, and the reply it gets.
pub const PING: &[u8] = b"*1\r\n$4\r\nPING\r\n";
pub const PONG: &[u8] = b"+PONG\r\n";

impl Redis {
    /// Err says why redis is skipped (not installed, did not start).
    pub fn start(bin: &str, dir: &Path) -> Result<Redis, String> {
        let version = match Command::new(bin).arg("--version").output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .find_map(|w| w.strip_prefix("v="))
                .unwrap_or("?")
                .to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!(
                    "{bin} not found (Debian: apt-get install -y redis-server)"
                ))
            }
            Err(e) => return Err(format!("{bin}: {e}")),
        };
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let child = Command::new(bin)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let redis = Redis {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            version,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if redis.ping().is_ok() {
                return Ok(redis);
            }
            thread::sleep(Duration::from_millis(50));
        }
        Err(format!("redis-server did not answer PING on port {port}"))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ping(&self) -> io::Result<()> {
        let mut s = TcpStream::connect(self.addr)?;
        s.write_all(PING)?;
        let mut reply = [0u8; PONG.len()];
        s.read_exact(&mut reply)?;
        if reply == PONG {
            Ok(())
        } else {
            Err(io::Error::other("unexpected reply"))
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nobody listens on right now (the kernel's pick for port 0).
pub fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One line about the machine: cores, CPU model, kernel, memory.
pub fn machine() -> String {
    let cpus = thread::available_parallelism().map_or(0, |n| n.get());
    let model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mem_gib = fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse::<u64>()
                    .ok()
            })
        })
        .map_or(0.0, |kib| kib as f64 / (1024.0 * 1024.0));
    format!(
        "{cpus} CPUs ({model}), Linux {}, {mem_gib:.0} GiB RAM",
        kernel.trim()
    )
}

/// The 1-minute load average, to tell a quiet machine from a busy one: on a 2-core machine
/// another job's compile moves round-trip figures by tens of percent.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

/// A process's soft open-file limit, from /proc/PID/limits ("unlimited" reads as u64::MAX).
pub fn open_file_limit(pid: u32) -> Option<u64> {
    let limits = fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.strip_prefix("Max open files")?.split_whitespace().next()?;
    Some(soft.parse().unwrap_or(u64::MAX))
}

/// HAProxy in TCP mode on 127.0.0.1 with a free port, spreading connections over
/// `backends` (least connections first). Stopped on drop.
pub struct Haproxy {
    child: Child,
    pub addr: SocketAddr,
    pub version: String,
}

impl Haproxy {
    /// The configuration docs/scaling.md shows, with this run's ports.
    pub fn config(port: u16, backends: &[SocketAddr], splice: bool) -> String {
        let mut cfg = format!(
            "global\n    maxconn 4000\n\ndefaults\n    mode tcp\n    timeout connect 5s\n    \
             timeout client 1h\n    timeout server 1h\n{}\nfrontend almacen\n    bind 127.0.0.1:{port}\n    \
             default_backend lectura\n\nbackend lectura\n    balance leastconn\n",
            if splice { "    option splice-auto\n" } else { "" }
        );
        for (i, b) in backends.iter().enumerate() {
            cfg.push_str(&format!("    server lectura{} {b} check\n", i + 1));
        }
        cfg
    }

    /// Err says why the balancer is skipped (not installed, did not start).
    pub fn start(bin: &str, dir: &Path, backends: &[SocketAddr], splice: bool) -> Result<Haproxy, String> {
        let version = match Command::new(bin).arg("-v").output() {
            Ok(o) => String::from_utf8_lossy(&o.stdout)
                .split_whitespace()
                .nth(2)
                .unwrap_or("?")
                .to_string(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(format!("{bin} not found (Debian: apt-get install -y haproxy)"))
            }
            Err(e) => return Err(format!("{bin}: {e}")),
        };
        let port = free_port().map_err(|e| format!("no free port: {e}"))?;
        let cfg = dir.join(if splice {
            "haproxy-splice.cfg"
        } else {
            "haproxy.cfg"
        });
        fs::write(&cfg, Haproxy::config(port, backends, splice)).map_err(|e| e.to_string())?;
        let log = cfg.with_extension("log");
        let child = Command::new(bin)
            .arg("-db")
            .arg("-f")
            .arg(&cfg)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&log).map_err(|e| e.to_string())?)
            .spawn()
            .map_err(|e| format!("cannot start {bin}: {e}"))?;
        let haproxy = Haproxy {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            version,
        };
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if TcpStream::connect(haproxy.addr).is_ok() {
                return Ok(haproxy);
            }
            thread::sleep(Duration::from_millis(50));
        }
        let said = fs::read_to_string(&log).unwrap_or_default();
        Err(format!("haproxy did not listen on port {port}: {}", said.trim()))
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
