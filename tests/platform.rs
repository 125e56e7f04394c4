//! The platform layer seen from outside: the held folder handle and its staging rules,
//! the listen backlog, names every OS can store, case-insensitive filesystems, and a
//! server that is a background job of its terminal.

mod common;

use almacen::pickle::Data;
use common::{Server, TempDir};
#[cfg(unix)] // only the Unix-only tests start processes by hand
use std::process::Command;

fn folder() -> TempDir {
    let dir = TempDir::new("plat");
    dir.write("poema.txt", "Llueve sobre el campus.\n".as_bytes());
    dir
}

fn upload(name: &str, content: &[u8], replace: bool) -> Data {
    Data::dict([
        ("nombre", Data::str(name)),
        ("contenido", Data::Bytes(content.to_vec())),
        ("reemplazar", Data::Bool(replace)),
    ])
}

/// Runs servidor expecting it to refuse to start; returns its stderr.
#[cfg(unix)]
fn refused_start(dir: &std::path::Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_servidor"))
        .args(["0", "127.0.0.1", "--dir"])
        .arg(dir)
        .stdin(std::process::Stdio::piped()) // a console, so the one line is the refusal
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(out.stdout.is_empty(), "no banner: {out:?}");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Makes `path`'s modification time two days old.
#[cfg(unix)]
fn age(path: &std::path::Path) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(2 * 24 * 3600);
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(old)
        .unwrap();
}

/// A staging folder planted as a symlink to a folder outside: the server refuses to
/// start, with one Spanish line, and the outside folder is untouched (finding 1).
#[cfg(unix)] // symlinks need a privilege on Windows
#[test]
fn a_planted_staging_symlink_stops_the_start_and_touches_nothing() {
    let dir = folder();
    let outside = TempDir::new("outside");
    outside.write("viejo.txt", b"no tocar");
    age(&outside.path().join("viejo.txt"));
    common::symlink(outside.path(), dir.path().join(".almacen-staging"));
    let err = refused_start(dir.path());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains("no es una carpeta común"), "{err}");
    assert!(
        outside.path().join("viejo.txt").exists(),
        "nothing deleted outside"
    );
    assert!(!outside.path().join("partes").exists(), "nothing created outside");
}

/// A staging folder that is a plain file also stops the start.
#[cfg(unix)] // the same rule holds on Windows; its message is checked where symlinks are
#[test]
fn a_staging_file_stops_the_start() {
    let dir = folder();
    dir.write(".almacen-staging", b"no soy una carpeta");
    assert!(refused_start(dir.path()).contains("no es una carpeta común"));
}

/// Inside staging, links are never followed: clean-up removes old leftovers of its own
/// but not an old file a symlink points to, and `partes` as a symlink stops the start.
#[cfg(unix)] // symlinks need a privilege on Windows
#[test]
fn clean_up_never_deletes_through_a_link() {
    let dir = folder();
    let outside = TempDir::new("outside");
    outside.write("viejo.txt", b"no tocar");
    age(&outside.path().join("viejo.txt"));
    let staging = dir.path().join(".almacen-staging");
    std::fs::create_dir_all(staging.join("partes")).unwrap();
    std::fs::write(staging.join("tmp-1-0"), b"resto").unwrap();
    age(&staging.join("tmp-1-0"));
    common::symlink(outside.path().join("viejo.txt"), staging.join("enlace"));
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
    assert!(
        !staging.join("tmp-1-0").exists(),
        "an old leftover of ours is removed"
    );
    assert!(
        outside.path().join("viejo.txt").exists(),
        "what a link points to is not"
    );
    drop(server);

    std::fs::remove_dir_all(staging.join("partes")).unwrap();
    common::symlink(outside.path(), staging.join("partes"));
    assert!(refused_start(dir.path()).contains("no es una carpeta común"));
    assert!(outside.path().join("viejo.txt").exists());
}

/// Staging removed while serving is recreated for the next upload, whole or in parts,
/// and so is the whole served folder removed and made again (finding 9).
#[test]
fn uploads_work_after_staging_or_the_folder_is_recreated() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    assert_eq!(c.ask("subir", upload("uno.txt", b"1", false)).estado, "ok");
    std::fs::remove_dir_all(dir.path().join(".almacen-staging")).unwrap();
    assert_eq!(c.ask("subir", upload("dos.txt", b"2", false)).estado, "ok");
    let part = Data::dict([
        ("nombre", Data::str("tres.txt")),
        ("contenido", Data::Bytes(b"3".to_vec())),
        ("desde", Data::Int(0)),
        ("fin", Data::Bool(true)),
    ]);
    std::fs::remove_dir_all(dir.path().join(".almacen-staging")).unwrap();
    assert_eq!(c.ask("subir_parte", part.clone()).estado, "ok");
    assert_eq!(std::fs::read(dir.path().join("tres.txt")).unwrap(), b"3");

    std::fs::remove_dir_all(dir.path()).unwrap();
    std::fs::create_dir(dir.path()).unwrap();
    dir.write("nuevo.txt", b"n");
    let r = c.ask("subir", upload("cuatro.txt", b"4", false));
    assert_eq!(r.estado, "ok", "{:?}", r.data);
    assert_eq!(std::fs::read(dir.path().join("cuatro.txt")).unwrap(), b"4");
    assert_eq!(c.ask("subir_parte", part).estado, "ok");
    let names = c.ask("listar", Data::None).names();
    assert_eq!(names, ["cuatro.txt", "nuevo.txt", "tres.txt"]);
}

/// Names Windows cannot store are refused on every OS, so a folder can move between
/// machines; look-alikes that Windows accepts still pass.
#[test]
fn names_windows_cannot_store_are_refused_everywhere() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    for bad in [
        "CON",
        "con.txt",
        "Prn.log",
        "aux",
        "NUL.tar.gz",
        "COM1",
        "com9.txt",
        "LPT1",
        "lpt5.x",
        "COM¹",
        "nul .txt",
        "a<b",
        "a>b",
        "a:b",
        "a\"b",
        "a|b",
        "a?b",
        "a*b",
        "fin.",
        "fin ",
        "a\u{1}b",
    ] {
        let r = c.ask("subir", upload(bad, b"x", false));
        assert_eq!(r.estado, "error", "{bad:?} should be refused");
        assert!(r.text().contains("nombre"), "{bad:?}: {}", r.text());
    }
    for good in [
        "console.txt",
        "COM10",
        "lpt0.txt",
        "auxiliar",
        "con-fe.txt",
        "a.b c",
    ] {
        let r = c.ask("subir", upload(good, b"x", false));
        assert_eq!(r.estado, "ok", "{good:?}: {:?}", r.data);
    }
}

/// Two names that differ only in case never overwrite each other silently: where the
/// filesystem tells them apart (Linux) both live; where it does not (macOS, Windows)
/// the second spelling is refused, with or without `reemplazar`. Either way the first
/// file keeps its bytes.
#[test]
fn names_differing_only_in_case_never_overwrite_each_other() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let original = std::fs::read(dir.path().join("poema.txt")).unwrap();
    let separate = c.ask("subir", upload("Poema.txt", b"otro", false));
    let replaced = c.ask("subir", upload("POEMA.TXT", b"tercero", true));
    assert_eq!(std::fs::read(dir.path().join("poema.txt")).unwrap(), original);
    let listed = c.ask("listar", Data::None).names();
    if separate.estado == "ok" {
        // A case-sensitive filesystem: three files.
        assert_eq!(replaced.estado, "ok");
        assert_eq!(listed, ["POEMA.TXT", "Poema.txt", "poema.txt"]);
    } else {
        assert!(separate.text().contains("ya existe"), "{}", separate.text());
        assert_eq!(replaced.estado, "error");
        assert!(replaced.text().contains("mayúsculas"), "{}", replaced.text());
        assert_eq!(listed, ["poema.txt"]);
    }
}

/// A burst of connections while the server cannot accept waits in the kernel's backlog
/// instead of being dropped (finding 6): 600 connects all complete their handshake.
/// With mio's default backlog of 128 the 130th would wait for SYN retransmits and time out.
#[cfg(target_os = "linux")] // stops the server with SIGSTOP; the maximum is the OS's own
#[test]
fn a_burst_of_connections_waits_in_the_backlog() {
    use std::net::{SocketAddr, TcpStream};
    use std::time::Duration;
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let addr: SocketAddr = ([127, 0, 0, 1], server.port).into();
    server.signal("STOP");
    let mut conns = Vec::new();
    let mut failed = None;
    for i in 0..600 {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(3)) {
            Ok(c) => conns.push(c),
            Err(e) => {
                failed = Some((i, e));
                break;
            }
        }
    }
    server.signal("CONT");
    if let Some((i, e)) = failed {
        panic!("connect number {i} did not complete while the server was stopped: {e}");
    }
    let mut last = common::Client {
        stream: conns.pop().unwrap(),
    };
    last.stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert_eq!(last.ask("listar", Data::None).estado, "ok");
}

/// A server that is a background job of its terminal does not read it (it would be
/// stopped), says so once, keeps serving, and works again in the foreground.
#[cfg(unix)] // job control and pseudo-terminals are Unix things
#[test]
fn a_background_server_keeps_serving_and_comes_back() {
    let dir = folder();
    let script = format!("{}/tests/py/fondo.py", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3")
        .arg(script)
        .arg(env!("CARGO_BIN_EXE_servidor"))
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("todo ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
