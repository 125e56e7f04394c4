//! The console and the process's life: Enter, signals, stdin that cannot be watched, and
//! start-up errors.

mod common;

use almacen::pickle::Data;
#[cfg(target_os = "linux")] // its users stop the server and read /proc
use common::Client;
use common::{wait_until, Server, Stdin, TempDir};
use std::io::Write;
use std::process::Command;
use std::time::Duration;

fn folder() -> TempDir {
    let dir = TempDir::new("console");
    dir.write("a.txt", b"a");
    dir
}

/// Pressing Enter closes the server with exit code 0.
#[test]
fn enter_on_stdin_closes_the_server() {
    let dir = folder();
    let mut server = Server::start(dir.path(), &[]);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let status = server
        .wait_exit(Duration::from_secs(5))
        .expect("exits after Enter");
    assert!(status.success());
}

/// Text without a newline does not close it; the newline does.
#[test]
fn only_a_full_line_closes_the_server() {
    let dir = folder();
    let mut server = Server::start(dir.path(), &[]);
    server.stdin.as_mut().unwrap().write_all(b"abc").unwrap();
    // The text is in the pipe before the first request is sent, so the server reads it no
    // later than that request. Had it closed then, the second request would get no reply.
    let mut c = server.connect();
    assert_eq!(c.ask("listar", Data::None).estado, "ok");
    assert_eq!(c.ask("listar", Data::None).estado, "ok");
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    assert!(server.wait_exit(Duration::from_secs(5)).unwrap().success());
}

/// SIGTERM and SIGINT close it cleanly with exit code 0.
#[cfg(unix)] // sends SIGTERM and SIGINT
#[test]
fn sigterm_and_sigint_close_cleanly() {
    for sig in ["TERM", "INT"] {
        let dir = folder();
        let mut server = Server::start(dir.path(), &[]);
        assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
        server.signal(sig);
        let status = server.wait_exit(Duration::from_secs(5)).expect("exits on signal");
        assert!(status.success(), "SIG{sig}: {status:?}");
    }
}

/// On Enter, subscribers get a goodbye frame, every client is closed, and new ones are refused.
#[test]
fn shutdown_says_goodbye_to_subscribers_and_closes_everyone() {
    let dir = folder();
    let mut server = Server::start(dir.path(), &[]);
    let mut sub = server.connect();
    assert_eq!(sub.ask("suscribir", Data::None).estado, "ok");
    let mut plain = server.connect();
    assert_eq!(plain.ask("listar", Data::None).estado, "ok");
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let bye = sub.recv();
    assert_eq!((bye.operacion.as_str(), bye.estado.as_str()), ("cierre", "ok"));
    assert!(sub.closed_by_server());
    assert!(plain.closed_by_server());
    assert!(server.wait_exit(Duration::from_secs(5)).unwrap().success());
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
}

/// Sends `frame` and SIGTERM while the server is stopped, so that it finds both in the
/// same turn when it resumes: it starts what the frame asks, then shuts down.
#[cfg(target_os = "linux")] // stops the server and reads /proc
fn request_then_sigterm_in_one_turn(server: &Server, c: &mut Client, frame: &[u8]) {
    server.freeze();
    c.send_raw(frame);
    wait_until("the request reaches the server", Duration::from_secs(10), || {
        server.unread_from(c) >= frame.len()
    });
    server.signal("TERM");
    server.thaw();
}

/// A copy cut short by SIGTERM is not visible at all, leaves no staged bytes, and its
/// requester is told the server is closing.
#[cfg(target_os = "linux")] // sends SIGTERM, and waits through /proc
#[test]
fn shutdown_during_a_copy_leaves_nothing_half_written() {
    let dir = folder();
    // Twelve slices of 8 MiB: the copy is one slice in when the shutdown comes.
    dir.write("grande.bin", &common::pattern(96 * 1024 * 1024));
    let mut server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let frame = Client::frame("duplicar", Data::str("grande.bin"));
    request_then_sigterm_in_one_turn(&server, &mut c, &frame);
    let reply = c.recv();
    assert!(server.wait_exit(Duration::from_secs(10)).unwrap().success());
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("cerrando"), "{}", reply.text());
    let copy = dir.path().join("grande (copia).bin");
    assert!(!copy.exists(), "an unfinished copy is not visible");
    let staged: Vec<_> = std::fs::read_dir(dir.path().join(".almacen-staging"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        // Parts wait to be resumed; `en-uso` is the running server's lock.
        .filter(|n| n != "partes" && n != "en-uso")
        .collect();
    assert!(staged.is_empty(), "no temporary files left: {staged:?}");
}

/// Checks that an idle server is not spinning: it uses (almost) no CPU over a second.
/// (CPU time comes from /proc: elsewhere only the serving before and after is checked.)
fn assert_idle(server: &Server) {
    #[cfg(target_os = "linux")]
    {
        let before = server.cpu_ticks();
        // A measuring window, not a wait for something to happen.
        std::thread::sleep(Duration::from_millis(1000));
        let used = server.cpu_ticks() - before;
        assert!(used <= 5, "an idle server used {used} ticks in one second");
    }
    #[cfg(not(target_os = "linux"))]
    let _ = server;
}

/// stdin at /dev/null (epoll refuses it) does not stop the server, nor make it spin.
#[test]
fn stdin_at_dev_null_keeps_serving() {
    let dir = folder();
    let server = Server::start_with(dir.path(), &[], Stdin::Null, &[("RUST_LOG", "info")]);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
    assert_idle(&server);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
    // Unix cannot watch /dev/null at all; Windows reads NUL and finds its end at once.
    let said = if cfg!(windows) {
        "la consola se cerró"
    } else {
        "sin consola"
    };
    assert!(server.stderr().contains(said), "{}", server.stderr());
}

/// stdin as a regular file also leaves the server running.
#[test]
fn stdin_as_a_regular_file_keeps_serving() {
    let dir = folder();
    let input = dir.path().join("entrada");
    std::fs::write(&input, b"\n\n").unwrap();
    let server = Server::start_with(dir.path(), &[], Stdin::File(input), &[]);
    assert_idle(&server);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
}

/// A pipe that reaches end of file turns the console off, and the server keeps serving.
#[test]
fn stdin_pipe_at_eof_keeps_serving_without_spinning() {
    let dir = folder();
    let mut server = Server::start_with(dir.path(), &[], Stdin::Pipe, &[("RUST_LOG", "info")]);
    drop(server.stdin.take());
    wait_until(
        "the server sees the end of its stdin",
        Duration::from_secs(10),
        || server.stderr().contains("end of file"),
    );
    assert!(server.child.try_wait().unwrap().is_none(), "still running");
    assert_idle(&server);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
    assert!(server.stderr().contains("end of file"), "{}", server.stderr());
}

fn run_servidor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_servidor"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// A port already in use is one clear line on stderr and a non-zero exit.
#[test]
fn port_in_use_is_a_clear_error() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let port = server.port.to_string();
    let out = run_servidor(&[&port, "127.0.0.1", "--dir", dir.path().to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("ya está en uso"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A missing folder and a bad port are clear errors too, never a panic.
#[test]
fn bad_start_arguments_are_clear_errors() {
    for args in [
        &["0", "127.0.0.1", "--dir", "/no/such/folder"][..],
        &["70000"],
        &["puerto"],
        &["0", "no.such.host.invalid"],
    ] {
        let out = run_servidor(args);
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("servidor: "), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// --help describes the arguments and exits 0.
#[test]
fn help_lists_the_options() {
    let out = run_servidor(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for word in [
        "PUERTO",
        "HOST",
        "--dir",
        "--max-frame",
        "--max-clients",
        "--frame-timeout",
    ] {
        assert!(text.contains(word), "{word}");
    }
}

/// Requests buffered behind a long copy when the server shuts down are all answered.
#[cfg(target_os = "linux")] // sends SIGTERM, and waits through /proc
#[test]
fn shutdown_answers_every_buffered_request() {
    let dir = folder();
    dir.write("grande.bin", &common::pattern(128 * 1024 * 1024));
    let mut server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let mut burst = Client::frame("duplicar", Data::str("grande.bin"));
    for _ in 0..100 {
        burst.extend(Client::frame("listar", Data::None));
    }
    request_then_sigterm_in_one_turn(&server, &mut c, &burst);
    // The copy starts and holds the rest back; the shutdown then answers all of them.
    for i in 0..101 {
        let reply = c.recv();
        let want = if i == 0 { "duplicar" } else { "listar" };
        assert_eq!(reply.operacion, want, "reply {i}");
        assert_eq!(reply.estado, "error", "reply {i}: {:?}", reply.data);
        assert!(reply.text().contains("cerrando"), "reply {i}: {}", reply.text());
    }
    assert!(c.closed_by_server());
    assert!(server.wait_exit(Duration::from_secs(10)).unwrap().success());
}
