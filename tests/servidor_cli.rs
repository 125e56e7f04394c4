//! `servidor`'s command line as people type it: every option form, sizes with units,
//! folder names that are not UTF-8, Spanish help and errors, and the banner and warning
//! when it listens beyond this computer.

mod common;

use almacen::pickle::Data;
use common::{wait_until, Server, TempDir};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

fn servidor(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_servidor"))
        .args(args)
        .env_remove("ALMACEN_CLAVE")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn folder_with(name: &str) -> TempDir {
    let dir = TempDir::new("srv-cli");
    dir.write(name, b"hola");
    dir
}

/// `--dir=CARPETA` and `-dCARPETA` name the folder served, like `--dir CARPETA`.
#[test]
fn dir_option_takes_every_usual_form() {
    let decoy = TempDir::new("srv-cli-decoy");
    let real = folder_with("real.txt");
    let path = real.path().to_str().unwrap();
    // The harness passes `--dir DECOY` first; the later form must win.
    for form in [format!("--dir={path}"), format!("-d{path}")] {
        let server = Server::start(decoy.path(), &[&form]);
        let names = server.connect().ask("listar", Data::None).names();
        assert_eq!(names, ["real.txt"], "{form}");
    }
}

/// `--max-frame 1KiB` is 1024 bytes: a 2 KiB upload is refused, a small one is not.
#[test]
fn max_frame_takes_sizes_with_units() {
    let dir = TempDir::new("srv-cli-frame");
    let server = Server::start(dir.path(), &["--max-frame", "1KiB"]);
    let mut c = server.connect();
    let small = Data::dict([
        ("nombre", Data::str("chico.txt")),
        ("contenido", Data::Bytes(vec![b'x'; 100])),
    ]);
    assert_eq!(c.ask("subir", small).estado, "ok");
    let big = Data::dict([
        ("nombre", Data::str("grande.txt")),
        ("contenido", Data::Bytes(vec![b'x'; 2048])),
    ]);
    assert_eq!(c.ask("subir", big).estado, "error");
    assert!(!dir.path().join("grande.txt").exists());
    let out = servidor(&["--max-frame", "16MiB", "--help"]);
    assert!(out.status.success());
    let out = servidor(&["--max-frame", "16 lunas"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("16MiB"));
}

/// A --max-frame too small to carry a request is a usage error (exit 2) that says so
/// and gives the smallest that works, instead of a server that refuses everything.
#[test]
fn a_max_frame_too_small_for_any_request_is_refused() {
    let out = servidor(&["--max-frame", "10"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--max-frame 10 es muy poco: no cabe ni un pedido"),
        "{err}"
    );
    assert!(err.contains("al menos 1KiB"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// A folder whose name is not UTF-8 is served; a missing one is a clear error, no panic.
#[cfg(unix)] // only Unix file names can hold arbitrary bytes
#[test]
fn non_utf8_folder_names_work_and_never_panic() {
    use std::os::unix::ffi::OsStrExt;
    let parent = TempDir::new("srv-cli-bytes");
    let odd = parent.path().join(std::ffi::OsStr::from_bytes(b"caf\xe9"));
    std::fs::create_dir(&odd).unwrap();
    std::fs::write(odd.join("nota.txt"), b"x").unwrap();
    let server = Server::start(&odd, &[]);
    assert_eq!(server.connect().ask("listar", Data::None).names(), ["nota.txt"]);
    drop(server);

    let missing = parent.path().join(std::ffi::OsStr::from_bytes(b"no-\xff"));
    let out = Command::new(env!("CARGO_BIN_EXE_servidor"))
        .args(["0", "127.0.0.1", "--dir"])
        .arg(&missing)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with("servidor: no existe la carpeta"), "{err}");
    assert!(err.contains("mkdir") && err.contains("--dir"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// Help, usage errors and start-up errors are Spanish.
#[test]
fn help_and_errors_are_spanish() {
    let out = servidor(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for words in [
        "Uso: servidor [PUERTO] [HOST]",
        "Opciones:",
        "--clave",
        "ALMACEN_CLAVE",
        "en inglés",
    ] {
        assert!(help.contains(words), "help lacks {words:?}");
    }
    for (args, words) in [
        (&["--nope"][..], "opción desconocida --nope"),
        (&["--dir"], "--dir necesita un valor"),
        (&["puerto"], "puerto inválido"),
        (&["--read-only=sí"], "no lleva valor"),
    ] {
        let out = servidor(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert!(err.contains(words), "{args:?}: {err}");
    }
}

/// Bound to 0.0.0.0, the course's banner line comes first, then the addresses clients
/// can use; with writes open and no key it warns once, and a key (flag or environment)
/// silences the warning.
#[test]
fn listening_on_every_address_lists_them_and_warns_without_a_key() {
    let dir = TempDir::new("srv-cli-lab");
    for (extra, env_key, warned) in [
        (&[][..], None, true),
        (&["--clave", "una clave bastante larga"][..], None, false),
        (&[][..], Some("una clave bastante larga"), false),
        (&["--read-only"][..], None, false),
    ] {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_servidor"));
        cmd.args(["0", "0.0.0.0", "--dir"]).arg(dir.path()).args(extra);
        cmd.env_remove("ALMACEN_CLAVE");
        if let Some(k) = env_key {
            cmd.env("ALMACEN_CLAVE", k);
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        out.read_line(&mut first).unwrap();
        let port = first
            .trim()
            .strip_prefix("Servidor escuchando en 0.0.0.0 : ")
            .unwrap_or_else(|| panic!("{first:?}"))
            .to_string();
        // Enter stops it; the rest of stdout and stderr is then complete.
        child.stdin.take().unwrap().write_all(b"\n").unwrap();
        let output = child.wait_with_output().unwrap();
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut out, &mut rest).unwrap();
        assert!(
            rest.starts_with("Presione enter para cerrar\nLos clientes pueden conectarse a:\n"),
            "{rest}"
        );
        assert!(
            rest.contains(&format!("  127.0.0.1 : {port} (desde este mismo computador)")),
            "{rest}"
        );
        let err = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            err.matches("aviso:").count(),
            usize::from(warned),
            "{extra:?} {env_key:?}: {err}"
        );
        if warned {
            assert!(err.contains("--clave"), "{err}");
            // Every write is named, duplicar too.
            assert!(
                err.contains("puede subir, duplicar, borrar y renombrar archivos"),
                "{err}"
            );
        }
    }
}

/// On loopback nobody else can reach the port: no addresses listed, no warning.
#[test]
fn loopback_needs_no_warning() {
    let dir = TempDir::new("srv-cli-lo");
    let server = Server::start(dir.path(), &[]);
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
    assert!(!server.stderr().contains("aviso"), "{}", server.stderr());
}

/// A short write key is warned about at start (it can be found by trying), in Spanish;
/// a long one is not.
#[test]
fn short_key_is_warned_at_start() {
    let dir = TempDir::new("srv-cli-key");
    for (key, warned) in [("corta", true), ("una clave bastante larga", false)] {
        let server = Server::start(dir.path(), &["--clave", key]);
        assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
        let said = "la clave tiene solo 5 caracteres";
        if warned {
            wait_until("the warning", Duration::from_secs(10), || {
                server.stderr().contains(said)
            });
        } else {
            assert!(!server.stderr().contains("aviso"), "{}", server.stderr());
        }
    }
}
