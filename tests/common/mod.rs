//! Shared helpers for the integration tests: a scratch folder, the real `servidor` binary
//! on 127.0.0.1 with a free port, and a raw-socket client that speaks the course protocol.
#![allow(dead_code)]

use almacen::message::{self, Request};
use almacen::pickle::{Data, Envelope, Limits, Value};
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
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_servidor"));
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

pub fn decode_reply(payload: &[u8]) -> Reply {
    let limits = Limits::default();
    let msg: Request = message::parse(payload, limits)
        .expect("the reply decodes")
        .into_owned();
    let estado = match msg.estado {
        Value::String(s) => s,
        other => panic!("estado should be a str, got {other:?}"),
    };
    Reply {
        operacion: msg.operacion,
        data: msg.data,
        estado,
        envelope: msg.envelope,
    }
}

/// Makes a symlink. Unix only: on Windows creating one needs a privilege (or developer
/// mode) that test machines do not have, so the tests about symlinks are Unix-only.
#[cfg(unix)]
pub fn symlink(target: impl AsRef<Path>, link: impl AsRef<Path>) {
    std::os::unix::fs::symlink(target, link).unwrap();
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
