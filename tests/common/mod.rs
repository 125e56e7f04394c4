//! Shared helpers for the integration tests: a scratch folder, the real `servidor` binary
//! on 127.0.0.1 with a free port, and a raw-socket client that speaks the course protocol.
#![allow(dead_code)]

use almacen::message;
use almacen::pickle::{Data, Envelope, Value};
use serde_pickle::HashableValue;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A folder under the system's temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("almacen-{tag}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
    pub fn write(&self, name: &str, contents: &[u8]) {
        std::fs::write(self.0.join(name), contents).unwrap();
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `servidor` binary under test. Cargo names it for the server package's own tests.
/// The client package's tests (cliente/tests) build it once, into the workspace's target
/// folder and with protocol 2 on or off as the client has it, so that `cargo test -p
/// cliente` never runs a servidor left over from another build.
pub fn servidor_exe() -> PathBuf {
    if let Some(path) = option_env!("CARGO_BIN_EXE_servidor") {
        return PathBuf::from(path);
    }
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let me = std::env::current_exe().expect("the test knows its own path");
            // target/<profile>/deps/<test> -> target/<profile>
            let profile_dir = me
                .parent()
                .and_then(Path::parent)
                .expect("a test runs from target/<profile>/deps");
            let profile = profile_dir
                .file_name()
                .and_then(|p| p.to_str())
                .unwrap_or("debug");
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../Cargo.toml");
            let mut build = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
            build
                .args([
                    "build",
                    "--quiet",
                    "-p",
                    "almacen",
                    "--bin",
                    "servidor",
                    "--no-default-features",
                ])
                .arg("--manifest-path")
                .arg(manifest)
                .arg("--target-dir")
                .arg(profile_dir.parent().expect("a target folder"));
            if cfg!(feature = "proto2") {
                build.args(["--features", "proto2"]);
            }
            match profile {
                "debug" => {}
                "release" => _ = build.arg("--release"),
                other => _ = build.args(["--profile", other]),
            }
            let status = build.status().expect("cargo runs");
            assert!(status.success(), "cargo build --bin servidor failed");
            profile_dir.join(format!("servidor{}", std::env::consts::EXE_SUFFIX))
        })
        .clone()
}

/// A running `servidor`. Killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
    pub stdin: Option<ChildStdin>,
    pub stderr_path: PathBuf,
    _logs: TempDir,
}

/// How the server's stdin is set up.
pub enum Stdin {
    Pipe,
    Null,
    File(PathBuf),
}

impl Server {
    /// Starts the server on a free port over `dir`, with extra arguments.
    pub fn start(dir: &Path, extra: &[&str]) -> Server {
        Server::start_with(dir, extra, Stdin::Pipe, &[])
    }

    pub fn start_with(dir: &Path, extra: &[&str], stdin: Stdin, env: &[(&str, &str)]) -> Server {
        Server::spawn(dir, extra, stdin, env, None)
    }

    /// Starts the server with its open-file limit set to `nofile` (like `ulimit -n`).
    pub fn start_with_fd_limit(dir: &Path, extra: &[&str], nofile: u64) -> Server {
        Server::spawn(dir, extra, Stdin::Pipe, &[], Some(nofile))
    }

    fn spawn(dir: &Path, extra: &[&str], stdin: Stdin, env: &[(&str, &str)], nofile: Option<u64>) -> Server {
        #[cfg(not(unix))]
        let _ = nofile;
        let logs = TempDir::new("logs");
        let stderr_path = logs.path().join("stderr");
        let mut cmd = Command::new(servidor_exe());
        // Descriptor limits are a Unix thing (rlimit); the tests that need them are gated.
        #[cfg(unix)]
        if let Some(n) = nofile {
            use std::os::unix::process::CommandExt;
            // SAFETY: setrlimit is async-signal-safe, as required between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    let lim = libc::rlimit {
                        rlim_cur: n,
                        rlim_max: n,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        cmd.args(["0", "127.0.0.1", "--dir"]).arg(dir).args(extra);
        cmd.stdout(Stdio::piped());
        cmd.stderr(std::fs::File::create(&stderr_path).unwrap());
        cmd.stdin(match stdin {
            Stdin::Pipe => Stdio::piped(),
            Stdin::Null => Stdio::null(),
            Stdin::File(p) => Stdio::from(std::fs::File::open(p).unwrap()),
        });
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("servidor starts");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        out.read_line(&mut banner).unwrap();
        let port = banner
            .trim()
            .strip_prefix("Servidor escuchando en 127.0.0.1 : ")
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
            .parse()
            .unwrap();
        let mut second = String::new();
        out.read_line(&mut second).unwrap();
        assert_eq!(second, "Presione enter para cerrar\n");
        let stdin = child.stdin.take();
        Server {
            child,
            port,
            stdin,
            stderr_path,
            _logs: logs,
        }
    }

    pub fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Open file descriptors of the server process.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .unwrap()
            .count()
    }

    /// A field of /proc/PID/status in kB (VmRSS, VmHWM).
    pub fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| {
                l.strip_prefix(field)?
                    .trim_start_matches(':')
                    .trim()
                    .strip_suffix("kB")
            })
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// CPU time (user + system) used so far, in clock ticks.
    pub fn cpu_ticks(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }

    /// Waits up to `limit` for the process to exit.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// Stops the process (SIGSTOP) and waits until the kernel reports it stopped. Whatever
    /// the test sends until [`Server::thaw`] is then all waiting for it at once.
    pub fn freeze(&self) {
        self.signal("STOP");
        wait_until("the server is stopped", Duration::from_secs(10), || {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).unwrap();
            stat[stat.rfind(')').unwrap() + 2..].starts_with('T')
        });
    }

    /// Lets a frozen server run again; signals sent meanwhile reach it now.
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// Bytes `client` has sent that the server has not read yet: the receive queue of the
    /// server's end of that connection, from /proc/net/tcp.
    pub fn unread_from(&self, client: &Client) -> usize {
        let ours = format!(":{:04X}", self.port);
        let theirs = format!(":{:04X}", client.stream.local_addr().unwrap().port());
        let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
        table
            .lines()
            .skip(1)
            .find_map(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                (f[1].ends_with(&ours) && f[2].ends_with(&theirs)).then(|| {
                    let rx = f[4].split(':').nth(1).unwrap();
                    usize::from_str_radix(rx, 16).unwrap()
                })
            })
            .unwrap_or_else(|| panic!("no server socket for {theirs}"))
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args(["-s", sig, &self.pid().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A reply as the tests look at it.
#[derive(Debug)]
pub struct Reply {
    pub operacion: String,
    pub data: Value,
    pub estado: String,
    pub envelope: Envelope,
}

impl Reply {
    pub fn text(&self) -> &str {
        match &self.data {
            Value::String(s) => s,
            other => panic!("expected a str, got {other:?}"),
        }
    }
    pub fn bytes(&self) -> &[u8] {
        match &self.data {
            Value::Bytes(b) => b,
            other => panic!("expected bytes, got {other:?}"),
        }
    }
    pub fn names(&self) -> Vec<String> {
        match &self.data {
            Value::List(items) => items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => panic!("expected str, got {other:?}"),
                })
                .collect(),
            other => panic!("expected a list, got {other:?}"),
        }
    }
}

/// A raw client: frames built by hand, read back byte for byte.
pub struct Client {
    pub stream: TcpStream,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client { stream }
    }

    /// The frame the course client would send for `Mensaje(operacion, data)`.
    pub fn frame(operacion: &str, data: Data) -> Vec<u8> {
        message::frame_request(&Envelope::course(), operacion, &data)
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn send(&mut self, operacion: &str, data: Data) {
        self.send_raw(&Client::frame(operacion, data));
    }

    /// Reads one whole frame's payload.
    pub fn read_payload(&mut self) -> std::io::Result<Vec<u8>> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut payload = vec![0; u32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut payload)?;
        Ok(payload)
    }

    pub fn recv(&mut self) -> Reply {
        let payload = self.read_payload().expect("a reply frame");
        decode_reply(&payload)
    }

    pub fn ask(&mut self, operacion: &str, data: Data) -> Reply {
        self.send(operacion, data);
        self.recv()
    }

    /// True when the server closed the connection (read returns 0) within the timeout.
    pub fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }
}

/// Decodes a reply without the server's own decoder: serde-pickle reads the value (an
/// instance comes back as its attribute dict), and the opening opcodes say which class, if
/// any, the reply was an instance of. A layout other than the two the course client can
/// read fails the test rather than being guessed at.
pub fn decode_reply(payload: &[u8]) -> Reply {
    let value = serde_pickle::value_from_slice(payload, serde_pickle::DeOptions::new())
        .unwrap_or_else(|e| panic!("the reply decodes: {e}"));
    let Value::Dict(mut fields) = value else {
        panic!("the reply should be a dict or an instance, got {value:?}")
    };
    let mut take = |key: &str| {
        fields
            .remove(&HashableValue::String(key.into()))
            .unwrap_or_else(|| panic!("the reply has no {key:?}"))
    };
    let (operacion, data, estado) = (take("operacion"), take("data"), take("estado"));
    assert!(fields.is_empty(), "the reply has extra fields: {fields:?}");
    let (Value::String(operacion), Value::String(estado)) = (operacion, estado) else {
        panic!("operacion and estado should be str")
    };
    Reply {
        operacion,
        data,
        estado,
        envelope: reply_class(payload),
    }
}

/// The class a reply names. Protocol 4, then either a dict (`EMPTY_DICT`) or the class by
/// name: two short str values (module and name) and `STACK_GLOBAL`.
fn reply_class(payload: &[u8]) -> Envelope {
    const SHORT_BINUNICODE: u8 = 0x8c;
    const STACK_GLOBAL: u8 = 0x93;
    const EMPTY_DICT: u8 = b'}';
    let rest = payload
        .strip_prefix(&[0x80, 4])
        .expect("the reply is a protocol-4 pickle");
    if rest.first() == Some(&EMPTY_DICT) {
        return Envelope::Dict;
    }
    let mut at = 0;
    let mut short_str = || -> String {
        assert_eq!(rest.get(at), Some(&SHORT_BINUNICODE), "unexpected reply layout");
        let len = rest[at + 1] as usize;
        let text = std::str::from_utf8(&rest[at + 2..at + 2 + len]).expect("utf-8 name");
        at += 2 + len;
        text.to_string()
    };
    let (module, name) = (short_str(), short_str());
    assert_eq!(rest.get(at), Some(&STACK_GLOBAL), "unexpected reply layout");
    Envelope::Instance {
        module: module.into(),
        name: name.into(),
    }
}

/// Polls until `done` holds; panics naming `what` if it still does not after `limit`.
/// Tests wait for something they can see, never for a fixed time.
pub fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "gave up waiting until {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Makes a symlink. Unix only: on Windows creating one needs a privilege (or developer
/// mode) that test machines do not have, so the tests about symlinks are Unix-only.
#[cfg(unix)]
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, link).unwrap();
}

/// A command for Python 3, for the tests that run the Python clients. Windows installs
/// it as `python`.
pub fn python3() -> Command {
    Command::new(if cfg!(windows) { "python" } else { "python3" })
}

/// A Python client's run (or self-test) exited 0 and printed "todo ok", its last word
/// when every check passed.
pub fn assert_todo_ok(out: &std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("todo ok"), "{stdout}");
}

/// Deterministic, non-repeating-looking bytes for test files.
pub fn pattern(len: usize) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}
