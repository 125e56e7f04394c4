//! `cliente` driven as a person would from a shell: the real binary against the real
//! server over loopback, each subcommand, `escuchar`, and the menu fed from stdin.

mod common;

use almacen::pickle::Data;
use common::{pattern, wait_until, Server, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

const MIB: usize = 1024 * 1024;

/// What a finished run of `cliente` left behind.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// `cliente` aimed at `port` on 127.0.0.1, running in `cwd` (where descargas/ goes).
fn cliente_cmd(port: u16, cwd: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliente"));
    cmd.args(["--puerto", &port.to_string(), "--host", "127.0.0.1"])
        .args(args)
        .current_dir(cwd);
    cmd
}

fn finish(mut child: Child, input: Option<&str>) -> Run {
    if let Some(text) = input {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(text.as_bytes()).unwrap();
        // Dropping stdin is the end of input, as when a script file runs out.
    }
    let out = child.wait_with_output().unwrap();
    Run {
        code: out.status.code().expect("exited, not killed"),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Runs a subcommand with no input and waits for it.
fn cliente(port: u16, cwd: &Path, args: &[&str]) -> Run {
    let child = cliente_cmd(port, cwd, args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, None)
}

/// Runs the menu (`cliente PUERTO HOST`) with `input` as everything typed.
fn menu(port: u16, cwd: &Path, input: &str) -> Run {
    let child = Command::new(env!("CARGO_BIN_EXE_cliente"))
        .args([&port.to_string(), "127.0.0.1"])
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    finish(child, Some(input))
}

/// The lines a long-running `cliente` prints, as they come.
struct Lines(Receiver<String>);

impl Lines {
    fn of(stdout: ChildStdout) -> Lines {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Lines(rx)
    }

    /// The next line that contains `needle`. The generous limit only keeps a broken
    /// build from hanging the suite; nothing here measures time.
    fn until(&self, needle: &str) -> String {
        loop {
            match self.0.recv_timeout(Duration::from_secs(30)) {
                Ok(line) if line.contains(needle) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {needle:?}: {e}"),
            }
        }
    }
}

fn served() -> TempDir {
    let dir = TempDir::new("cli-srv");
    dir.write("poema.txt", "Llueve sobre el campus.\n".as_bytes());
    dir.write("mi foto.png", &pattern(70_000));
    dir.write("vacío.txt", b"");
    dir
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// The id in "... cliente N..." (the menu's and escuchar's first line).
fn id_in(line: &str) -> String {
    let after = line.split("cliente ").nth(1).expect("an id");
    after.chars().take_while(char::is_ascii_digit).collect()
}

/// `--help` names every subcommand and the exit codes, and exits 0.
#[test]
fn help_lists_every_subcommand() {
    let run = cliente(1, Path::new("."), &["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    for word in [
        "listar",
        "listar-detalle",
        "descargar",
        "--continuar",
        "subir",
        "--reemplazar",
        "duplicar",
        "borrar",
        "renombrar",
        "difundir",
        "mensaje",
        "clientes",
        "escuchar",
        "Exit codes",
    ] {
        assert!(run.stdout.contains(word), "help lacks {word}: {run:?}");
    }
}

/// Usage mistakes exit 2 with a one-line reason, before any connection is tried.
#[test]
fn usage_mistakes_exit_2() {
    let cwd = TempDir::new("cli-usage");
    for args in [
        &["bailar"][..],
        &["borrar"],
        &["renombrar", "a"],
        &["listar", "--continuar"],
        &["--nope"],
        &["mensaje", "ana", "hola"],
        &["descargar", "../fuera.txt"],
        &["subir", "x", "--nombre", ".oculto"],
    ] {
        let run = cliente(1, cwd.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("cliente: "), "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:?}");
    }
}

/// With no server listening, a subcommand exits 2 and says it could not connect.
#[test]
fn no_server_exits_2() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cwd = TempDir::new("cli-noserver");
    let run = cliente(port, cwd.path(), &["listar"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("no se pudo conectar"), "{run:?}");
}

/// `listar` prints one name per line; `listar-detalle` adds each size.
#[test]
fn listar_and_listar_detalle_show_the_folder() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-listar");
    let run = cliente(server.port, cwd.path(), &["listar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "mi foto.png\npoema.txt\nvacío.txt\n");
    let run = cliente(server.port, cwd.path(), &["listar-detalle"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(rows.len(), 3, "{run:?}");
    assert!(rows[0].trim_start().starts_with("70000 ") && rows[0].ends_with(" mi foto.png"));
    assert!(rows[1].trim_start().starts_with("24 ") && rows[1].ends_with(" poema.txt"));
    assert!(rows[2].trim_start().starts_with("0 ") && rows[2].ends_with(" vacío.txt"));
}

/// Downloads land in ./descargas/NOMBRE byte for byte (empty, small, and a file of
/// several ranges), or where -o says.
#[test]
fn descargar_saves_exact_bytes_into_descargas() {
    let dir = served();
    dir.write("grande.bin", &pattern(9 * MIB + 5));
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-descargar");
    for name in ["poema.txt", "mi foto.png", "vacío.txt", "grande.bin"] {
        let run = cliente(server.port, cwd.path(), &["descargar", name]);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert!(
            run.stdout
                .starts_with(&format!("Descargado {name} en descargas/")),
            "{run:?}"
        );
        assert_eq!(
            read(cwd.path().join("descargas").join(name)),
            read(dir.path().join(name)),
            "{name}"
        );
    }
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "poema.txt", "-o", "otra/copia.txt"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        read(cwd.path().join("otra/copia.txt")),
        read(dir.path().join("poema.txt"))
    );
    // -o naming a folder puts the file inside it, under its own name.
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "mi foto.png", "-o", "otra"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        read(cwd.path().join("otra/mi foto.png")),
        read(dir.path().join("mi foto.png"))
    );
}

/// A download the server refuses exits 1 with its message, and leaves no file behind.
#[test]
fn descargar_of_a_missing_file_exits_1_and_creates_nothing() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-missing");
    let run = cliente(server.port, cwd.path(), &["descargar", "no-existe.txt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "cliente: no existe el archivo: no-existe.txt\n");
    assert!(!cwd.path().join("descargas/no-existe.txt").exists());
}

/// `--continuar` keeps the bytes already on disk and asks only for the rest.
#[test]
fn descargar_continuar_resumes_from_the_local_size() {
    let dir = served();
    let whole = pattern(6 * MIB + 100);
    dir.write("video.bin", &whole);
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-continuar");
    std::fs::create_dir(cwd.path().join("descargas")).unwrap();
    // A local start made of zeros: if it survives, the download really resumed from
    // the local size instead of starting over.
    let kept = 5 * MIB + 3;
    std::fs::write(cwd.path().join("descargas/video.bin"), vec![0u8; kept]).unwrap();
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "video.bin", "--continuar"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!("se continuó desde {kept}")),
        "{run:?}"
    );
    let got = read(cwd.path().join("descargas/video.bin"));
    assert_eq!(got.len(), whole.len());
    assert!(got[..kept].iter().all(|b| *b == 0));
    assert_eq!(&got[kept..], &whole[kept..]);
    // Resuming a complete file asks for nothing more and changes nothing.
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "video.bin", "--continuar"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(cwd.path().join("descargas/video.bin")), got);
}

/// `subir` publishes a file, refuses to overwrite without --reemplazar (exit 1), and
/// takes another name with --nombre.
#[test]
fn subir_publishes_and_only_overwrites_when_asked() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-subir");
    cwd.write("nota.txt", b"primera version");
    let run = cliente(server.port, cwd.path(), &["subir", "nota.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Subido nota.txt (15 bytes)\n");
    assert_eq!(read(dir.path().join("nota.txt")), b"primera version");

    cwd.write("nota.txt", b"segunda");
    let run = cliente(server.port, cwd.path(), &["subir", "nota.txt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("ya existe un archivo llamado nota.txt"),
        "{run:?}"
    );
    assert_eq!(read(dir.path().join("nota.txt")), b"primera version");

    let run = cliente(server.port, cwd.path(), &["subir", "nota.txt", "--reemplazar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(dir.path().join("nota.txt")), b"segunda");

    let run = cliente(
        server.port,
        cwd.path(),
        &["subir", "nota.txt", "--nombre", "copia.txt"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(dir.path().join("copia.txt")), b"segunda");

    let run = cliente(server.port, cwd.path(), &["subir", "no-esta.txt"]);
    assert_eq!(run.code, 2, "{run:?}");
}

/// A file larger than the server's frame limit still uploads: it goes in parts.
#[test]
fn subir_of_a_large_file_goes_in_parts() {
    let dir = served();
    let server = Server::start(dir.path(), &["--max-frame", "6000000"]);
    let cwd = TempDir::new("cli-partes");
    let content = pattern(10 * MIB);
    cwd.write("grande.bin", &content);
    let run = cliente(server.port, cwd.path(), &["subir", "grande.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(dir.path().join("grande.bin")), content);
}

/// An upload interrupted after some parts resumes from what the server staged; staged
/// bytes longer than the local file mean another upload, so it starts over.
#[test]
fn subir_resumes_an_interrupted_upload() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-retomar");
    let content = pattern(10 * MIB);
    cwd.write("grande.bin", &content);

    // A first attempt that sent 3 MiB and vanished.
    let staged = 3 * MIB;
    let mut first = server.connect();
    let part = Data::dict([
        ("nombre", Data::str("grande.bin")),
        ("contenido", Data::Bytes(content[..staged].to_vec())),
        ("desde", Data::Int(0)),
        ("fin", Data::Bool(false)),
    ]);
    assert_eq!(first.ask("subir_parte", part).estado, "ok");
    drop(first);
    wait_until_free(&server, "grande.bin");

    let run = cliente(server.port, cwd.path(), &["subir", "grande.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(&format!("desde {staged}")), "{run:?}");
    assert_eq!(read(dir.path().join("grande.bin")), content);

    // 6 MiB staged for a 5 MiB file cannot be a start of it: start over.
    let small = pattern(5 * MIB + 1);
    cwd.write("otro.bin", &small);
    let mut first = server.connect();
    let part = Data::dict([
        ("nombre", Data::str("otro.bin")),
        ("contenido", Data::Bytes(vec![b'x'; 6 * MIB])),
        ("desde", Data::Int(0)),
        ("fin", Data::Bool(false)),
    ]);
    assert_eq!(first.ask("subir_parte", part).estado, "ok");
    drop(first);
    wait_until_free(&server, "otro.bin");
    let run = cliente(server.port, cwd.path(), &["subir", "otro.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("retomando"), "{run:?}");
    assert_eq!(read(dir.path().join("otro.bin")), small);
}

/// The server frees a name being uploaded once it has seen the uploader leave; ask
/// until it has, so the test does not depend on how fast it notices.
fn wait_until_free(server: &Server, name: &str) {
    let mut probe = server.connect();
    let ask = Data::dict([("nombre", Data::str(name))]);
    wait_until(
        &format!("{name} is free after its uploader left"),
        Duration::from_secs(10),
        || probe.ask("subir_parte", ask.clone()).estado == "ok",
    );
}

/// `duplicar`, `renombrar` and `borrar` change the served folder; refusals exit 1.
#[test]
fn duplicar_renombrar_and_borrar_change_the_folder() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-archivos");
    let poema = read(dir.path().join("poema.txt"));

    let run = cliente(server.port, cwd.path(), &["duplicar", "poema.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Copiado poema.txt como poema (copia).txt\n");
    assert_eq!(read(dir.path().join("poema (copia).txt")), poema);
    let run = cliente(server.port, cwd.path(), &["duplicar", "poema.txt", "versos.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(dir.path().join("versos.txt")), poema);

    let run = cliente(server.port, cwd.path(), &["renombrar", "versos.txt", "rimas.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Renombrado versos.txt a rimas.txt\n");
    assert!(!dir.path().join("versos.txt").exists());
    assert_eq!(read(dir.path().join("rimas.txt")), poema);
    let run = cliente(server.port, cwd.path(), &["renombrar", "rimas.txt", "poema.txt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("ya existe"), "{run:?}");

    let run = cliente(server.port, cwd.path(), &["borrar", "rimas.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!dir.path().join("rimas.txt").exists());
    let run = cliente(server.port, cwd.path(), &["borrar", "rimas.txt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "cliente: no existe el archivo: rimas.txt\n");
}

/// `clientes` shows at least its own connection, unsubscribed.
#[test]
fn clientes_lists_connections() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-clientes");
    let run = cliente(server.port, cwd.path(), &["clientes"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<&str> = run.stdout.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{run:?}");
    assert!(
        rows[0].contains("127.0.0.1:") && rows[0].ends_with(" no"),
        "{run:?}"
    );
}

/// `escuchar` saves broadcast files (a small one and one big enough to go to disk as
/// it arrives) and prints messages, then ends with exit 0 when the server goes away.
#[test]
fn escuchar_receives_files_and_messages_until_the_server_closes() {
    let dir = served();
    let big = pattern(9 * MIB + 11);
    dir.write("grande.bin", &big);
    let server = Server::start(dir.path(), &[]);
    let listener_dir = TempDir::new("cli-escuchar");
    let sender_dir = TempDir::new("cli-emisor");
    let mut listener = cliente_cmd(server.port, listener_dir.path(), &["--alias", "ana", "escuchar"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::of(listener.stdout.take().unwrap());
    let id = id_in(&lines.until("Suscrito como cliente"));

    let run = cliente(server.port, sender_dir.path(), &["difundir", "poema.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "poema.txt enviado a 1 cliente\n");
    lines.until("poema.txt guardado en descargas/poema.txt");
    assert_eq!(
        read(listener_dir.path().join("descargas/poema.txt")),
        read(dir.path().join("poema.txt"))
    );

    let run = cliente(server.port, sender_dir.path(), &["difundir", "grande.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    lines.until("grande.bin guardado");
    assert_eq!(read(listener_dir.path().join("descargas/grande.bin")), big);

    // The same name again is kept beside the first, not over it.
    let run = cliente(server.port, sender_dir.path(), &["difundir", "poema.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    lines.until("descargas/poema (2).txt");

    let run = cliente(server.port, sender_dir.path(), &["mensaje", &id, "hola", "ana"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Mensaje entregado a 1 cliente\n");
    let line = lines.until("[mensaje de");
    assert!(line.ends_with("] hola ana"), "{line}");

    // Only the three files: the partial files used on the way are gone.
    let mut names: Vec<String> = std::fs::read_dir(listener_dir.path().join("descargas"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["grande.bin", "poema (2).txt", "poema.txt"]);

    drop(server);
    let status = listener.wait().unwrap();
    let mut stderr = String::new();
    listener
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("El servidor cerró la conexión"), "{stderr}");
}

/// `mensaje` says how many got it; an id nobody holds is the server's error (exit 1).
#[test]
fn mensaje_reports_deliveries_and_refusals() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-mensaje");
    let run = cliente(server.port, cwd.path(), &["mensaje", "todos", "nadie", "escucha"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Mensaje entregado a 0 clientes\n");
    let run = cliente(server.port, cwd.path(), &["mensaje", "999", "hola"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(
        run.stderr.contains("no hay un cliente suscrito con id 999"),
        "{run:?}"
    );
}

/// A menu session typed ahead and ended by the end of input: each choice does its
/// operation, a server refusal is shown and the menu goes on, and the exit is 0.
#[test]
fn menu_runs_a_script_that_ends_at_eof() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-menu");
    cwd.write("local.txt", b"desde el menu");
    let script = [
        "1",           // listar
        "2",           // descargar
        "mi foto.png", //
        "2",           // descargar a name the server does not have
        "no-existe.txt",
        "3", // subir
        "local.txt",
        "",  // keep the local name
        "n", // do not replace
        "4", // duplicar with an automatic name
        "poema.txt",
        "",
        "6", // renombrar
        "local.txt",
        "subido.txt",
        "5", // borrar
        "poema (copia).txt",
        "7", // difundir (nobody else is subscribed)
        "poema.txt",
        "8", // clientes
        "9", // mensaje
        "todos",
        "hola",
        "bailar", // not an option
        "2",      // descargar, cut short by the end of input
    ]
    .join("\n");
    let run = menu(server.port, cwd.path(), &(script + "\n"));
    assert_eq!(run.code, 0, "{run:?}");
    let out = &run.stdout;
    for expected in [
        "Conectado a 127.0.0.1:",
        "Menú",
        "mi foto.png",
        "Descargado mi foto.png en descargas/mi foto.png (70000 bytes)",
        "Error: no existe el archivo: no-existe.txt",
        "Subido local.txt (13 bytes)",
        "Copiado poema.txt como poema (copia).txt",
        "Renombrado local.txt a subido.txt",
        "Borrado poema (copia).txt",
        "poema.txt enviado a 0 clientes",
        "suscrito",
        "Mensaje entregado a 0 clientes",
        "Opción no válida: bailar",
    ] {
        assert!(out.contains(expected), "missing {expected:?}: {run:?}");
    }
    assert_eq!(
        read(cwd.path().join("descargas/mi foto.png")),
        read(dir.path().join("mi foto.png"))
    );
    assert_eq!(read(dir.path().join("subido.txt")), b"desde el menu");
    assert!(!dir.path().join("poema (copia).txt").exists());
    assert!(!cwd.path().join("descargas/no-existe.txt").exists());
}

/// `salir` ends the menu with exit 0, and nothing typed after it runs.
#[test]
fn menu_ends_at_salir() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-salir");
    let run = menu(server.port, cwd.path(), "listar\nsalir\n5\npoema.txt\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("poema.txt"), "{run:?}");
    assert!(run.stdout.trim_end().ends_with("Hasta luego."), "{run:?}");
    assert!(dir.path().join("poema.txt").exists());
}

/// While the menu waits at its prompt, a message and a file pushed by others show up
/// (the file saved into descargas/), and the menu still answers afterwards.
#[test]
fn menu_shows_pushes_while_idle() {
    let dir = served();
    let server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-menu-push");
    let other = TempDir::new("cli-menu-otro");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cliente"))
        .args([&server.port.to_string(), "127.0.0.1", "--alias", "beto"])
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = Lines::of(child.stdout.take().unwrap());
    let id = id_in(&lines.until("Conectado a"));

    let run = cliente(server.port, other.path(), &["mensaje", &id, "¿estás", "ahí?"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(lines.until("[mensaje de").ends_with("] ¿estás ahí?"));
    let run = cliente(server.port, other.path(), &["difundir", "poema.txt"]);
    assert_eq!(run.stdout, "poema.txt enviado a 1 cliente\n", "{run:?}");
    lines.until("poema.txt guardado en descargas/poema.txt");
    assert_eq!(
        read(cwd.path().join("descargas/poema.txt")),
        read(dir.path().join("poema.txt"))
    );

    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"8\n").unwrap();
    lines.until("beto");
    stdin.write_all(b"salir\n").unwrap();
    lines.until("Hasta luego.");
    assert_eq!(child.wait().unwrap().code(), Some(0));
}

/// When the server shuts down, `escuchar` and the menu show its goodbye and end with exit 0.
#[test]
fn a_server_shutdown_ends_escuchar_and_the_menu_cleanly() {
    let dir = served();
    let mut server = Server::start(dir.path(), &[]);
    let cwd = TempDir::new("cli-cierre");
    let mut listener = cliente_cmd(server.port, cwd.path(), &["escuchar"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let listened = Lines::of(listener.stdout.take().unwrap());
    listened.until("Suscrito como cliente");
    let mut menu_child = Command::new(env!("CARGO_BIN_EXE_cliente"))
        .args([&server.port.to_string(), "127.0.0.1"])
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let shown = Lines::of(menu_child.stdout.take().unwrap());
    shown.until("Conectado a");
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    listened.until("[servidor] se está cerrando");
    shown.until("[servidor] se está cerrando");
    shown.until("Hasta luego.");
    assert_eq!(listener.wait().unwrap().code(), Some(0));
    assert_eq!(menu_child.wait().unwrap().code(), Some(0));
    assert!(server.wait_exit(Duration::from_secs(5)).unwrap().success());
}
