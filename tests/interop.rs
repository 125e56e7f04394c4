//! The course-style Python client against the real server: the compatibility promise.

mod common;

use common::{Server, TempDir};
use std::process::Command;

/// Runs one of the Python clients in tests/py; it must exit 0 and print "todo ok".
fn python(script: &str, args: &[&str]) {
    let path = format!("{}/tests/py/{script}", env!("CARGO_MANIFEST_DIR"));
    // Windows installs Python as `python`.
    let python = if cfg!(windows) { "python" } else { "python3" };
    let out = Command::new(python)
        .arg(path)
        .args(args)
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("todo ok"), "{stdout}");
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
