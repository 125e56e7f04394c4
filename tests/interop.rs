//! The Python clients against the real server: the course-style ones (the compatibility
//! promise), and protocol 2's example client beside them on the same server.

mod common;

use common::{assert_todo_ok, python3, Server, TempDir};
use std::process::{Child, Stdio};

/// Runs one of the Python clients in tests/py; it must exit 0 and print "todo ok".
fn python(script: &str, args: &[&str]) {
    passed(start_python(script, args));
}

/// Starts one of the Python clients in tests/py, its output captured.
fn start_python(script: &str, args: &[&str]) -> Child {
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    python3()
        .arg(path)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs")
}

/// Waits for a Python client; it must exit 0 and print "todo ok".
fn passed(child: Child) {
    assert_todo_ok(&child.wait_with_output().expect("python3 ends"));
}

/// python3 lists, downloads every file (empty, with a space, non-ASCII), asks for missing
/// and bad names, and checks each byte on disk.
#[test]
fn python_course_client_lists_and_downloads() {
    let dir = TempDir::new("interop");
    dir.write("poema.txt", "Llueve sobre San Joaquín.\n".as_bytes());
    dir.write("vacío.txt", b"");
    dir.write("mi foto.png", &common::pattern(200_000));
    dir.write("canción_ñandú.txt", "ñ".repeat(5000).as_bytes());
    let server = Server::start(dir.path(), &[]);
    let downloads = TempDir::new("interop-dl");
    python(
        "cliente_curso.py",
        &[
            &server.port.to_string(),
            dir.path().to_str().unwrap(),
            downloads.path().to_str().unwrap(),
        ],
    );
    for name in ["poema.txt", "vacío.txt", "mi foto.png", "canción_ñandú.txt"] {
        assert_eq!(
            std::fs::read(downloads.path().join(name)).unwrap(),
            std::fs::read(dir.path().join(name)).unwrap()
        );
    }
}

/// python3 uploads whole and in parts, duplicates, and a subscribed Python client receives
/// a broadcast file and a message, while the course-style client sees only its replies.
#[test]
fn python_clients_use_the_challenge_operations() {
    let dir = TempDir::new("interop-desafios");
    dir.write("poema.txt", "Llueve sobre San Joaquín.\n".as_bytes());
    let server = Server::start(dir.path(), &[]);
    python(
        "desafios.py",
        &[&server.port.to_string(), dir.path().to_str().unwrap()],
    );
}

/// protocol 2's example client end to end (hola, listar, downloads checked with resumen,
/// uploads with sha256, a wrong sha256 and a wrong sha256_previo refused with nothing
/// kept), asking between the requests of a course-style connection, while the
/// course-style challenge client runs on the same server at the same time; then a
/// broadcast reaches a protocol-2 subscriber and a course-style one, each in its protocol.
#[cfg(feature = "proto2")]
#[test]
fn protocol_2_example_client_beside_the_course_clients() {
    let dir = TempDir::new("interop-p2");
    dir.write("poema.txt", "Llueve sobre San Joaquín.\n".as_bytes());
    dir.write("canción_ñandú.txt", "ñ".repeat(5000).as_bytes());
    dir.write("mi foto.png", &common::pattern(3 * 1024 * 1024 + 1));
    let server = Server::start(dir.path(), &[]);
    let (port, served) = (server.port.to_string(), dir.path().to_str().unwrap());
    let course = start_python("desafios.py", &[&port, served]);
    let v2 = start_python("protocolo2.py", &[&port, served]);
    passed(v2);
    passed(course);
    python("protocolo2.py", &[&port, served, "--avisos"]);
}
