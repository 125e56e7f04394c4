//! examples/servidor_minimo.rs, the one-file lesson, run as a program: the course's client
//! gets the very bytes servidor sends, a stalled download does not grow its
//! memory, and stdin works as the course's "Presione enter para cerrar".

mod common;

use almacen::message;
use almacen::pickle::{Data, Envelope};
use common::{assert_todo_ok, pattern, python3, wait_until, Client, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// How long a test waits for something it can see before it gives up.
const PATIENCE: Duration = Duration::from_secs(30);

/// The example's binary, built once for this test run.
///
/// `cargo test` builds examples, but `cargo test --test servidor_minimo` does not, so we
/// ask cargo for it (a no-op when it is fresh), in the profile and target folder of this
/// test binary: target/<profile>/deps/<this test> beside target/<profile>/examples/.
fn example_binary() -> &'static Path {
    static BINARY: OnceLock<PathBuf> = OnceLock::new();
    BINARY.get_or_init(|| {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().unwrap().parent().unwrap();
        let profile = profile_dir.file_name().unwrap().to_str().unwrap();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args([
                "build",
                "--quiet",
                "--example",
                "servidor_minimo",
                "--manifest-path",
            ])
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .arg("--target-dir")
            .arg(profile_dir.parent().unwrap());
        match profile {
            "debug" => {}
            "release" => _ = build.arg("--release"),
            other => _ = build.args(["--profile", other]),
        }
        let status = build.status().expect("cargo runs");
        assert!(status.success(), "cargo build --example servidor_minimo failed");
        let name = format!("servidor_minimo{}", std::env::consts::EXE_SUFFIX);
        profile_dir.join("examples").join(name)
    })
}

/// A running servidor_minimo in a scratch folder that holds archivos/. Killed on drop.
struct Minimo {
    child: Child,
    port: u16,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
    folder: TempDir,
}

impl Minimo {
    /// Starts it with `files` in archivos/ and stdin as given, and reads the two lines of
    /// the course's banner.
    fn start(files: &[(&str, &[u8])], stdin: Stdio) -> Minimo {
        let folder = TempDir::new("minimo");
        std::fs::create_dir(folder.path().join("archivos")).unwrap();
        for (name, contents) in files {
            std::fs::write(folder.path().join("archivos").join(name), contents).unwrap();
        }
        let mut child = Command::new(example_binary())
            .args(["0", "127.0.0.1"])
            .current_dir(folder.path())
            .stdin(stdin)
            .stdout(Stdio::piped())
            .spawn()
            .expect("servidor_minimo starts");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut banner = String::new();
        stdout.read_line(&mut banner).unwrap();
        let port = banner
            .strip_prefix("Servidor escuchando en 127.0.0.1 : ")
            .and_then(|p| p.trim_end().parse().ok())
            .unwrap_or_else(|| panic!("unexpected banner {banner:?}"));
        let mut second = String::new();
        stdout.read_line(&mut second).unwrap();
        assert_eq!(second, "Presione enter para cerrar\n");
        let stdin = child.stdin.take();
        Minimo {
            child,
            port,
            stdin,
            stdout,
            folder,
        }
    }

    fn archivos(&self) -> PathBuf {
        self.folder.path().join("archivos")
    }

    fn connect(&self) -> Client {
        Client::connect(self.port)
    }

    /// Waits for the process to end, and returns its exit code and what it printed after
    /// the banner.
    fn wait_exit(&mut self) -> (Option<i32>, String) {
        let mut status = None;
        wait_until("servidor_minimo exits", PATIENCE, || {
            status = self.child.try_wait().unwrap();
            status.is_some()
        });
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).unwrap();
        (status.unwrap().code(), rest)
    }

    fn still_running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

impl Drop for Minimo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The frame servidor (the real server of this repository) sends for `Mensaje(operacion, data, "ok")`.
fn ok_frame(operacion: &str, data: Data) -> Vec<u8> {
    message::ok(&Envelope::course(), operacion, &data)
}

/// servidor's error reply.
fn error_frame(operacion: &str, why: &str) -> Vec<u8> {
    message::error(&Envelope::course(), operacion, why)
}

/// Sends the course client's request and returns the whole reply frame, length included.
fn ask_raw(client: &mut Client, operacion: &str, data: Data) -> Vec<u8> {
    client.send(operacion, data);
    let payload = client.read_payload().expect("a reply frame");
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(&payload);
    frame
}

fn strs(names: &[&str]) -> Data {
    Data::List(names.iter().map(|n| Data::str(*n)).collect())
}

/// `listar` and `descargar` answer with the same bytes as servidor: the sorted
/// names of the regular files (no hidden ones, no folders), and each file whole, from
/// empty to several chunks.
#[test]
fn listar_and_descargar_send_servidors_bytes() {
    let big = pattern(300_000);
    let files: [(&str, &[u8]); 4] = [
        ("poema.txt", "Llueve sobre San Joaquín.\n".as_bytes()),
        ("vacío.txt", b""),
        ("grande.bin", &big),
        (".oculto", b"x"),
    ];
    let server = Minimo::start(&files, Stdio::piped());
    std::fs::create_dir(server.archivos().join("carpeta")).unwrap();
    let mut c = server.connect();
    let listed = ask_raw(&mut c, "listar", Data::None);
    let names = ["grande.bin", "poema.txt", "vacío.txt"];
    assert_eq!(listed, ok_frame("listar", strs(&names)));
    for (name, contents) in &files[..3] {
        let reply = ask_raw(&mut c, "descargar", Data::str(*name));
        assert!(
            reply == ok_frame("descargar", Data::Bytes(contents.to_vec())),
            "{name}"
        );
    }
}

/// The course-like Python client lists, downloads every file, and gets error replies for a
/// missing name, bad names and an unknown operation.
#[test]
fn the_course_client_is_served() {
    let big = pattern(1_000_000);
    let files: [(&str, &[u8]); 3] = [
        ("poema.txt", "Llueve sobre San Joaquín.\n".as_bytes()),
        ("vacío.txt", b""),
        ("mi foto.png", &big),
    ];
    let server = Minimo::start(&files, Stdio::piped());
    let downloads = TempDir::new("minimo-dl");
    let out = python3()
        .arg(format!(
            "{}/tests/py/cliente_curso.py",
            env!("CARGO_MANIFEST_DIR")
        ))
        .arg(server.port.to_string())
        .arg(server.archivos())
        .arg(downloads.path())
        .output()
        .expect("python3 runs");
    assert_todo_ok(&out);
}

/// A missing name gets an error reply, byte for byte as servidor's; so
/// does an unknown operation.
#[test]
fn a_missing_name_gets_servidors_error_reply() {
    let server = Minimo::start(&[("poema.txt", b"hola")], Stdio::piped());
    let mut c = server.connect();
    let reply = ask_raw(&mut c, "descargar", Data::str("no-existe.txt"));
    assert_eq!(
        reply,
        error_frame("descargar", "no existe el archivo: no-existe.txt")
    );
    let reply = ask_raw(&mut c, "bailar", Data::None);
    assert_eq!(reply, error_frame("bailar", "operación desconocida: bailar"));
}

/// Names that would leave archivos/ are refused, even when the file they point to exists.
#[test]
fn names_cannot_leave_the_folder() {
    let server = Minimo::start(&[("poema.txt", b"hola")], Stdio::piped());
    std::fs::write(server.folder.path().join("secreto.txt"), b"no").unwrap();
    let mut c = server.connect();
    let secret = server.folder.path().join("secreto.txt");
    for name in [
        "../secreto.txt",
        "..",
        ".",
        "",
        secret.to_str().unwrap(),
        "..\\secreto.txt",
    ] {
        let reply = c.ask("descargar", Data::str(name));
        assert_eq!(
            (reply.operacion.as_str(), reply.estado.as_str()),
            ("descargar", "error")
        );
        assert!(
            reply.text().starts_with("nombre inválido"),
            "{name:?}: {}",
            reply.text()
        );
    }
}

/// A frame longer than the limit gets an error reply, and the connection is closed; other
/// clients are still served.
#[test]
fn an_oversized_frame_is_refused_and_closed() {
    let server = Minimo::start(&[("poema.txt", b"hola")], Stdio::piped());
    let mut c = server.connect();
    c.send_raw(&(64 * 1024 + 1u32).to_be_bytes());
    let reply = c.recv();
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("demasiado grande"), "{}", reply.text());
    assert!(c.closed_by_server());
    let mut other = server.connect();
    assert_eq!(other.ask("listar", Data::None).names(), ["poema.txt"]);
}

/// Requests sent back to back, one of them a download of many chunks, are answered in
/// the order they came.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let big = pattern(1_000_000);
    let server = Minimo::start(&[("grande.bin", &big)], Stdio::piped());
    let mut c = server.connect();
    let mut burst = Client::frame("listar", Data::None);
    burst.extend(Client::frame("descargar", Data::str("grande.bin")));
    burst.extend(Client::frame("bailar", Data::None));
    c.send_raw(&burst);
    assert_eq!(c.recv().names(), ["grande.bin"]);
    assert_eq!(c.recv().bytes(), &big[..]);
    assert_eq!(c.recv().operacion, "bailar");
}

/// A client that asks for a 64 MiB file and never reads keeps the server's memory within
/// a few MiB: the file is read a chunk at a time, only as the socket drains.
#[cfg(target_os = "linux")] // reads /proc
#[test]
fn a_stalled_64_mib_download_keeps_memory_flat() {
    let huge = pattern(64 * 1024 * 1024);
    let server = Minimo::start(&[("enorme.bin", &huge), ("poema.txt", b"hola")], Stdio::piped());
    drop(huge);
    let mut bystander = server.connect();
    bystander.ask("descargar", Data::str("poema.txt"));
    let pid = server.child.id();
    let before = status_kb(pid, "VmRSS");
    let mut stalled = server.connect();
    stalled.send("descargar", Data::str("enorme.bin"));
    // Wait until the server can write no more: the bytes on their way to the stalled
    // client (in its receive buffer and the server's send buffer) stop growing across a
    // whole turn of the loop, which the bystander's reply proves.
    let (server_port, client_port) = (server.port, stalled.stream.local_addr().unwrap().port());
    let mut last = 0;
    wait_until("the stalled download fills the sockets", PATIENCE, || {
        assert_eq!(bystander.ask("listar", Data::None).estado, "ok");
        let now = in_flight(server_port, client_port);
        let stopped = now > 0 && now == last;
        last = now;
        stopped
    });
    let grown = status_kb(pid, "VmRSS").saturating_sub(before);
    let peak = status_kb(pid, "VmHWM").saturating_sub(before);
    eprintln!("stalled 64 MiB download: {last} bytes in the sockets, RSS +{grown} kB, peak +{peak} kB");
    assert!(last < 32 * 1024 * 1024, "the sockets cannot hold half the file");
    assert!(grown < 4096, "RSS grew by {grown} kB");
    assert!(peak < 4096, "peak RSS grew by {peak} kB");
    // The download is still whole and correct once the client reads it.
    let mut len = [0u8; 4];
    stalled.stream.read_exact(&mut len).unwrap();
    let mut payload = vec![0; u32::from_be_bytes(len) as usize];
    stalled.stream.read_exact(&mut payload).unwrap();
    assert_eq!(
        common::decode_reply(&payload).bytes(),
        &pattern(64 * 1024 * 1024)[..]
    );
}

/// A field of /proc/PID/status, in kB.
#[cfg(target_os = "linux")]
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with(field)).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Bytes on their way from the server's port to the client's: the server socket's send
/// queue plus the client socket's receive queue, from /proc/net/tcp.
#[cfg(target_os = "linux")]
fn in_flight(server_port: u16, client_port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let (ours, theirs) = (format!(":{server_port:04X}"), format!(":{client_port:04X}"));
    let mut total = 0;
    for line in table.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (tx, rx) = f[4].split_once(':').unwrap();
        if f[1].ends_with(&ours) && f[2].ends_with(&theirs) {
            total += usize::from_str_radix(tx, 16).unwrap();
        } else if f[1].ends_with(&theirs) && f[2].ends_with(&ours) {
            total += usize::from_str_radix(rx, 16).unwrap();
        }
    }
    total
}

/// Enter on stdin closes the server: it says so and exits with code 0.
#[test]
fn enter_on_stdin_closes_the_server() {
    let mut server = Minimo::start(&[("poema.txt", b"hola")], Stdio::piped());
    let mut c = server.connect();
    assert_eq!(c.ask("listar", Data::None).names(), ["poema.txt"]);
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(server.wait_exit(), (Some(0), "Servidor cerrado\n".to_string()));
}

/// Text without Enter does not close it; the Enter that follows does.
#[test]
fn only_a_whole_line_closes_the_server() {
    let mut server = Minimo::start(&[("poema.txt", b"hola")], Stdio::piped());
    let stdin = server.stdin.as_mut().unwrap();
    stdin.write_all(b"todavia no").unwrap();
    stdin.flush().unwrap();
    let mut c = server.connect();
    assert_eq!(c.ask("listar", Data::None).names(), ["poema.txt"]);
    assert!(server.still_running());
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert_eq!(server.wait_exit().0, Some(0));
}

/// A stdin that cannot be watched with the sockets (a plain file, which epoll refuses)
/// still works: a thread reads it and wakes the loop, which closes on its line.
#[test]
fn a_line_from_a_file_on_stdin_closes_the_server() {
    let input = TempDir::new("minimo-stdin");
    input.write("enter", b"\n");
    let stdin = std::fs::File::open(input.path().join("enter")).unwrap();
    let mut server = Minimo::start(&[("poema.txt", b"hola")], Stdio::from(stdin));
    assert_eq!(server.wait_exit(), (Some(0), "Servidor cerrado\n".to_string()));
}

/// When stdin is closed, nobody can press Enter: the server keeps serving, and does not
/// spin on the closed stdin.
#[test]
fn a_closed_stdin_does_not_stop_the_server() {
    let mut server = Minimo::start(&[("poema.txt", b"hola")], Stdio::piped());
    drop(server.stdin.take());
    let mut c = server.connect();
    for _ in 0..3 {
        assert_eq!(c.ask("listar", Data::None).names(), ["poema.txt"]);
    }
    assert!(server.still_running());
    #[cfg(target_os = "linux")]
    assert_idle(server.child.id());
}

/// With stdin at /dev/null (empty at once, and not pollable), the server keeps serving.
#[test]
fn an_empty_stdin_does_not_stop_the_server() {
    let mut server = Minimo::start(&[("poema.txt", b"hola")], Stdio::null());
    let mut c = server.connect();
    for _ in 0..3 {
        assert_eq!(c.ask("listar", Data::None).names(), ["poema.txt"]);
    }
    assert!(server.still_running());
    #[cfg(target_os = "linux")]
    assert_idle(server.child.id());
}

/// The process uses (almost) no CPU over half a second with nothing to do. A loop spinning
/// on a closed stdin would use all of it.
#[cfg(target_os = "linux")]
fn assert_idle(pid: u32) {
    let ticks = || {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    };
    let before = ticks();
    std::thread::sleep(Duration::from_millis(500));
    let used = ticks() - before;
    assert!(used <= 5, "idle server used {used} ticks of CPU in 0.5 s");
}
