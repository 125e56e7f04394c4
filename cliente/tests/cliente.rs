//! `cliente` driven as a person would from a shell: the real binary against the real
//! server over loopback, each subcommand, `escuchar`, and the menu fed from stdin.

// The server-side tests' helpers: a scratch folder, a running servidor, pickles.
#[path = "../../tests/common/mod.rs"]
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
        .current_dir(cwd)
        // Debug lines would land in the stderr the tests read; those that want them ask.
        .env_remove("RUST_LOG");
    cmd
}

/// The menu (`cliente PUERTO HOST`, then `extra`) aimed at `port` on 127.0.0.1, running
/// in `cwd`.
fn menu_cmd(port: u16, cwd: &Path, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cliente"));
    cmd.args([&port.to_string(), "127.0.0.1"])
        .args(extra)
        .current_dir(cwd)
        .env_remove("RUST_LOG");
    cmd
}

/// Starts `cmd` with `stdin` as given and its stdout and stderr captured.
fn spawn(cmd: &mut Command, stdin: Stdio) -> Child {
    cmd.stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
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

/// Runs `cmd` with no input and waits for it.
fn run_no_input(cmd: &mut Command) -> Run {
    finish(spawn(cmd, Stdio::null()), None)
}

/// Runs `cmd` with `input` as everything typed, and waits for it.
fn type_into(cmd: &mut Command, input: &str) -> Run {
    finish(spawn(cmd, Stdio::piped()), Some(input))
}

/// Runs a subcommand with no input and waits for it.
fn cliente(port: u16, cwd: &Path, args: &[&str]) -> Run {
    run_no_input(&mut cliente_cmd(port, cwd, args))
}

/// Runs a subcommand with `RUST_LOG=debug`, so its stderr shows the protocol agreed and
/// the checks made.
fn cliente_debug(port: u16, cwd: &Path, args: &[&str]) -> Run {
    run_no_input(cliente_cmd(port, cwd, args).env("RUST_LOG", "debug"))
}

/// Runs the menu (`cliente PUERTO HOST`) with `input` as everything typed.
fn menu(port: u16, cwd: &Path, input: &str) -> Run {
    type_into(&mut menu_cmd(port, cwd, &[]), input)
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

/// A `cliente` that keeps running (`escuchar`, or the menu), read as it prints.
struct Live {
    child: Child,
    lines: Lines,
    /// The id the server gave it, from its first line.
    id: String,
}

impl Live {
    /// `cliente OPCIONES escuchar`, once it says it is subscribed.
    fn escuchar(port: u16, cwd: &Path, options: &[&str]) -> Live {
        let args = [options, &["escuchar"]].concat();
        let child = spawn(&mut cliente_cmd(port, cwd, &args), Stdio::null());
        Live::started(child, "Suscrito como cliente")
    }

    /// The menu with `extra` after its port and host, once it says it is connected; its
    /// stdin stays open for the test to type into.
    fn menu(port: u16, cwd: &Path, extra: &[&str]) -> Live {
        let child = spawn(&mut menu_cmd(port, cwd, extra), Stdio::piped());
        Live::started(child, "Conectado a")
    }

    fn started(mut child: Child, first: &str) -> Live {
        let lines = Lines::of(child.stdout.take().unwrap());
        let id = id_in(&lines.until(first));
        Live { child, lines, id }
    }

    /// Types `text` into it, as at its prompt.
    fn type_in(&mut self, text: &str) {
        let stdin = self.child.stdin.as_mut().expect("a menu, with stdin open");
        stdin.write_all(text.as_bytes()).unwrap();
    }

    /// Waits for it to end: its exit code and what it wrote to stderr.
    fn end(mut self) -> (Option<i32>, String) {
        let mut stderr = String::new();
        // Read before waiting, so a full pipe cannot keep it from ending.
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (self.child.wait().unwrap().code(), stderr)
    }
}

fn served() -> TempDir {
    let dir = TempDir::new("cli-srv");
    dir.write("poema.txt", "Llueve sobre el campus.\n".as_bytes());
    dir.write("mi foto.png", &pattern(70_000));
    dir.write("vacío.txt", b"");
    dir
}

/// `served()`, a server on it, and an empty folder named after `tag` to run `cliente` in.
fn started(tag: &str) -> (TempDir, Server, TempDir) {
    started_with(tag, None)
}

/// `started`, with one more file served from the start (written before the server reads
/// the folder).
fn started_with(tag: &str, extra: Option<(&str, &[u8])>) -> (TempDir, Server, TempDir) {
    let dir = served();
    if let Some((name, bytes)) = extra {
        dir.write(name, bytes);
    }
    let server = Server::start(dir.path(), &[]);
    (dir, server, TempDir::new(tag))
}

/// The run exited with `code`, and its stderr says each of `said`.
#[track_caller]
fn assert_exit(run: &Run, code: i32, said: &[&str]) {
    assert_eq!(run.code, code, "{run:?}");
    for words in said {
        assert!(run.stderr.contains(words), "no {words:?} in {run:?}");
    }
}

/// The run exited 0, and its stdout says each of `said` (a menu session's replies).
#[track_caller]
fn assert_said(run: &Run, said: &[&str]) {
    assert_exit(run, 0, &[]);
    for words in said {
        assert!(run.stdout.contains(words), "no {words:?} in {run:?}");
    }
}

/// The two files hold the same bytes.
#[track_caller]
fn assert_same_file(a: impl AsRef<Path>, b: impl AsRef<Path>) {
    let (a, b) = (a.as_ref(), b.as_ref());
    assert_eq!(read(a), read(b), "{} and {}", a.display(), b.display());
}

/// `cwd/descargas/NAME` holds the same bytes as the served `dir/NAME`.
#[track_caller]
fn assert_downloaded(cwd: &Path, dir: &Path, name: &str) {
    assert_same_file(cwd.join("descargas").join(name), dir.join(name));
}

fn read(path: impl AsRef<Path>) -> Vec<u8> {
    std::fs::read(path.as_ref()).unwrap_or_else(|e| panic!("{}: {e}", path.as_ref().display()))
}

/// `difundir poema.txt` from `sender` reaches the one subscriber, `to`, which saves it
/// into `to_cwd`/descargas/.
fn assert_poema_pushed(port: u16, sender: &Path, to: &Live, to_cwd: &Path, dir: &Path) {
    let run = cliente(port, sender, &["difundir", "poema.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "poema.txt enviado a 1 cliente\n", "{run:?}");
    to.lines.until("poema.txt guardado en descargas/poema.txt");
    assert_downloaded(to_cwd, dir, "poema.txt");
}

/// `mensaje TO WORDS` from `sender` is delivered to one client, and `to` shows it.
fn assert_message_arrives(port: u16, sender: &Path, to: &Live, to_whom: &str, words: &[&str]) {
    let run = cliente(port, sender, &[&["mensaje", to_whom], words].concat());
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Mensaje entregado a 1 cliente\n", "{run:?}");
    let line = to.lines.until("[mensaje de");
    assert!(line.ends_with(&format!("] {}", words.join(" "))), "{line}");
}

/// The id in "... cliente N..." (the menu's and escuchar's first line).
fn id_in(line: &str) -> String {
    let after = line.split("cliente ").nth(1).expect("an id");
    after.chars().take_while(char::is_ascii_digit).collect()
}

/// `--help` names every subcommand and the exit codes in Spanish, and exits 0.
#[test]
fn help_lists_every_subcommand() {
    let run = cliente(1, Path::new("."), &["--help"]);
    assert_eq!(run.code, 0, "{run:?}");
    for word in [
        "Uso:",
        "listar",
        "listar-detalle",
        "descargar",
        "subir",
        "duplicar",
        "borrar",
        "renombrar",
        "difundir",
        "mensaje",
        "clientes",
        "escuchar",
        "--espera",
        "--clave",
        "Códigos de salida",
    ] {
        assert!(run.stdout.contains(word), "help lacks {word}: {run:?}");
    }
    for english in ["Usage", "Options", "Print help", "Commands"] {
        assert!(!run.stdout.contains(english), "help has {english}: {run:?}");
    }
}

/// `cliente help SUBCOMANDO` and `cliente SUBCOMANDO --help` show that subcommand's own
/// Spanish help, and a typo gets a suggestion.
#[test]
fn help_per_subcommand_and_typo_suggestions() {
    let cwd = TempDir::new("cli-help");
    let by_word = cliente(1, cwd.path(), &["help", "subir"]);
    let by_flag = cliente(1, cwd.path(), &["subir", "--help"]);
    assert_eq!(by_word.code, 0, "{by_word:?}");
    assert_eq!(by_word.stdout, by_flag.stdout);
    assert!(by_word.stdout.contains("Uso: cliente subir RUTA"), "{by_word:?}");
    assert!(by_word.stdout.contains("--reemplazar") && by_word.stdout.contains("--replace"));
    assert!(!by_word.stdout.contains("Subcomandos"), "{by_word:?}");
    let typo = cliente(1, cwd.path(), &["renombar", "a", "b"]);
    assert_eq!(typo.code, 2, "{typo:?}");
    assert!(typo.stderr.contains("¿quiso decir «renombrar»?"), "{typo:?}");
}

/// Completions and a man page come from the hidden `generar` subcommand.
#[test]
fn completions_and_man_page_are_generated() {
    let cwd = TempDir::new("cli-gen");
    let bash = cliente(1, cwd.path(), &["generar", "bash"]);
    assert_eq!(bash.code, 0, "{bash:?}");
    assert!(bash.stdout.contains("complete") && bash.stdout.contains("descargar"));
    let man = cliente(1, cwd.path(), &["generar", "man"]);
    assert_eq!(man.code, 0, "{man:?}");
    assert!(
        man.stdout.starts_with(".ie") || man.stdout.contains(".TH cliente"),
        "{man:?}"
    );
    assert!(man.stdout.contains(".SH SINOPSIS"), "{man:?}");
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
        &["mensaje", "0", "hola"],
        &["descargar", "x", "-o", "no-hay/x.txt"],
        &["descargar", "../fuera.txt"],
        &["subir", "x", "--nombre", ".oculto"],
    ] {
        let run = cliente(1, cwd.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {run:?}");
        assert!(run.stderr.starts_with("cliente: "), "{args:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{args:?}: {run:?}");
    }
}

/// With no server listening, a subcommand exits 2 and says to start one, in Spanish.
#[test]
fn no_server_exits_2() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let cwd = TempDir::new("cli-noserver");
    let run = cliente(port, cwd.path(), &["listar"]);
    assert_exit(&run, 2, &["no hay un servidor escuchando", "inícielo"]);
    assert!(!run.stderr.contains("refused"), "{run:?}");
}

/// `listar` prints one name per line; `listar-detalle` adds each size, readable by
/// default and exact with `--bytes`.
#[test]
fn listar_and_listar_detalle_show_the_folder() {
    let (_dir, server, cwd) = started("cli-listar");
    let run = cliente(server.port, cwd.path(), &["listar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "mi foto.png\npoema.txt\nvacío.txt\n");
    let run = cliente(server.port, cwd.path(), &["listar-detalle"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.lines().next().unwrap().contains("68.4 KiB "),
        "{run:?}"
    );
    let run = cliente(server.port, cwd.path(), &["listar-detalle", "--bytes"]);
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
    let (dir, server, cwd) = started_with("cli-descargar", Some(("grande.bin", &pattern(9 * MIB + 5))));
    for name in ["poema.txt", "mi foto.png", "vacío.txt", "grande.bin"] {
        let run = cliente(server.port, cwd.path(), &["descargar", name]);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        assert!(
            run.stdout
                .starts_with(&format!("Descargado {name} en descargas/")),
            "{run:?}"
        );
        assert_downloaded(cwd.path(), dir.path(), name);
    }
    std::fs::create_dir(cwd.path().join("otra")).unwrap();
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "poema.txt", "-o", "otra/copia.txt"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_same_file(cwd.path().join("otra/copia.txt"), dir.path().join("poema.txt"));
    // -o naming a folder puts the file inside it, under its own name.
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "mi foto.png", "-o", "otra"],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_same_file(
        cwd.path().join("otra/mi foto.png"),
        dir.path().join("mi foto.png"),
    );
}

/// A download the server refuses exits 1 with its message, and leaves no file behind.
#[test]
fn descargar_of_a_missing_file_exits_1_and_creates_nothing() {
    let (_dir, server, cwd) = started("cli-missing");
    let run = cliente(server.port, cwd.path(), &["descargar", "no-existe.txt"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(run.stderr, "cliente: no existe el archivo: no-existe.txt\n");
    assert!(!cwd.path().join("descargas/no-existe.txt").exists());
}

/// `-o` into a folder that does not exist is an error that says how to make it, and
/// creates nothing.
#[test]
fn descargar_into_a_missing_folder_is_an_error() {
    let (_dir, server, cwd) = started("cli-nodir");
    let run = cliente(
        server.port,
        cwd.path(),
        &["descargar", "poema.txt", "-o", "nodir/x.txt"],
    );
    assert_exit(&run, 2, &["la carpeta nodir no existe", "mkdir nodir"]);
    assert!(!cwd.path().join("nodir").exists());
}

/// A proxy to `port` that cuts the connection once `limit` bytes came back from the
/// server: a download interrupted halfway, as by a dropped network.
fn cutting_proxy(port: u16, limit: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((client, _)) = listener.accept() else {
            return;
        };
        let server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
        let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut c_read, &mut s_write);
        });
        let (mut s_read, mut c_write) = (server, client);
        let mut sent = 0;
        let mut buf = vec![0; 64 * 1024];
        while sent < limit {
            let n = match s_read.read(&mut buf[..(limit - sent).min(64 * 1024)]) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if c_write.write_all(&buf[..n]).is_err() {
                break;
            }
            sent += n;
        }
        let _ = c_write.shutdown(std::net::Shutdown::Both);
        let _ = s_read.shutdown(std::net::Shutdown::Both);
    });
    proxy_port
}

/// Names in a folder, sorted (hidden ones included).
fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|it| {
            it.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// Starts downloading `name` through a proxy that cuts it after 6 MiB came back, so the
/// first 4 MiB range is kept in a partial and the run fails.
fn interrupt_download(port: u16, cwd: &Path, name: &str) -> Run {
    let proxy = cutting_proxy(port, 6 * MIB);
    let run = cliente(proxy, cwd, &["descargar", name]);
    assert_ne!(run.code, 0, "{run:?}");
    run
}

/// An interrupted download leaves nothing under the final name, only a hidden partial;
/// running the same command again resumes from it and gets the exact file.
#[test]
fn an_interrupted_download_resumes_on_the_next_run() {
    let whole = pattern(10 * MIB + 100);
    let (_dir, server, cwd) = started_with("cli-resume", Some(("video.bin", &whole)));
    // The first range (4 MiB) gets through, the second is cut.
    let run = interrupt_download(server.port, cwd.path(), "video.bin");
    assert_exit(
        &run,
        2,
        &[
            "la descarga de video.bin se cortó sin aviso del servidor",
            "se guardaron 4.0 MiB de 10.0 MiB; ejecute el mismo comando",
        ],
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let downloads = cwd.path().join("descargas");
    assert!(
        !downloads.join("video.bin").exists(),
        "{:?}",
        names_in(&downloads)
    );
    let left = names_in(&downloads);
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(
        left[0].starts_with(".video.bin.") && left[0].ends_with(".parcial"),
        "{left:?}"
    );
    assert_eq!(
        std::fs::metadata(downloads.join(&left[0])).unwrap().len(),
        4 * MIB as u64
    );

    let run = cliente(server.port, cwd.path(), &["descargar", "video.bin"]);
    assert_exit(
        &run,
        0,
        &["retomando la descarga de video.bin: ya hay 4.0 MiB de 10.0 MiB"],
    );
    assert!(run.stdout.contains("se continuó desde 4.0 MiB"), "{run:?}");
    assert_eq!(read(downloads.join("video.bin")), whole);
    assert_eq!(names_in(&downloads), ["video.bin"]);
}

/// A partial left from another version of the file (the server's copy changed since)
/// is dropped, and the download starts over instead of mixing two versions.
#[test]
fn a_partial_of_another_version_is_not_resumed() {
    let (dir, server, cwd) = started_with("cli-stale", Some(("video.bin", &pattern(5 * MIB))));
    let downloads = cwd.path().join("descargas");
    std::fs::create_dir(&downloads).unwrap();
    std::fs::write(downloads.join(".video.bin.5242880-1.parcial"), vec![0u8; MIB]).unwrap();
    let run = cliente(server.port, cwd.path(), &["descargar", "video.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("retomando"), "{run:?}");
    assert_downloaded(cwd.path(), dir.path(), "video.bin");
    assert_eq!(names_in(&downloads), ["video.bin"]);
}

/// The menu offers to resume an interrupted download, and resumes when told yes.
#[test]
fn menu_offers_to_resume_a_download() {
    let whole = pattern(10 * MIB + 7);
    let (_dir, server, cwd) = started_with("cli-menu-resume", Some(("video.bin", &whole)));
    interrupt_download(server.port, cwd.path(), "video.bin");
    let run = menu(server.port, cwd.path(), "2\nvideo.bin\ntal vez\ns\nsalir\n");
    assert_said(
        &run,
        &[
            "Hay una descarga interrumpida de video.bin (4.0 MiB de 10.0 MiB)",
            "Responda s (sí) o n (no).",
            "se continuó desde 4.0 MiB",
        ],
    );
    assert_eq!(read(cwd.path().join("descargas/video.bin")), whole);
}

/// `subir` publishes a file, refuses to overwrite without --reemplazar (exit 1), and
/// takes another name with --nombre.
#[test]
fn subir_publishes_and_only_overwrites_when_asked() {
    let (dir, server, cwd) = started("cli-subir");
    cwd.write("nota.txt", b"primera version");
    let run = cliente(server.port, cwd.path(), &["subir", "nota.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Subido nota.txt (15 B)\n");
    assert_eq!(read(dir.path().join("nota.txt")), b"primera version");

    cwd.write("nota.txt", b"segunda");
    let run = cliente(server.port, cwd.path(), &["subir", "nota.txt"]);
    assert_exit(
        &run,
        1,
        &["ya existe un archivo llamado nota.txt (use --reemplazar para sobrescribirlo)"],
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
    let (dir, server, cwd) = started("cli-retomar");
    let content = pattern(10 * MIB);
    cwd.write("grande.bin", &content);

    // A first attempt that sent 3 MiB and vanished.
    let staged = 3 * MIB;
    stage_abandoned_upload(&server, "grande.bin", content[..staged].to_vec());

    let run = cliente(server.port, cwd.path(), &["subir", "grande.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains(&format!("desde el byte {staged}")), "{run:?}");
    assert_eq!(read(dir.path().join("grande.bin")), content);

    // 6 MiB staged for a 5 MiB file cannot be a start of it: start over.
    let small = pattern(5 * MIB + 1);
    cwd.write("otro.bin", &small);
    stage_abandoned_upload(&server, "otro.bin", vec![b'x'; 6 * MIB]);
    let run = cliente(server.port, cwd.path(), &["subir", "otro.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("retomando"), "{run:?}");
    assert_eq!(read(dir.path().join("otro.bin")), small);
}

/// Stages `bytes` as the start of an upload of `name` from another connection that then
/// vanishes, as an interrupted upload does, and waits until the server has freed the name.
fn stage_abandoned_upload(server: &Server, name: &str, bytes: Vec<u8>) {
    let mut other = server.connect();
    let part = Data::dict([
        ("nombre", Data::str(name)),
        ("contenido", Data::Bytes(bytes)),
        ("desde", Data::Int(0)),
        ("fin", Data::Bool(false)),
    ]);
    assert_eq!(other.ask("subir_parte", part).estado, "ok");
    drop(other);
    wait_until_free(server, name);
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
    let (dir, server, cwd) = started("cli-archivos");
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
    assert_exit(&run, 1, &["ya existe"]);

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
    let (_dir, server, cwd) = started("cli-clientes");
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
    let big = pattern(9 * MIB + 11);
    let (dir, server, listener_dir) = started_with("cli-escuchar", Some(("grande.bin", &big)));
    let sender_dir = TempDir::new("cli-emisor");
    let listener = Live::escuchar(server.port, listener_dir.path(), &["--alias", "ana"]);
    let (to, from) = (listener_dir.path(), sender_dir.path());
    assert_poema_pushed(server.port, from, &listener, to, dir.path());

    let run = cliente(server.port, from, &["difundir", "grande.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    listener.lines.until("grande.bin guardado");
    assert_eq!(read(listener_dir.path().join("descargas/grande.bin")), big);

    // The same name again is kept beside the first, not over it.
    let run = cliente(server.port, from, &["difundir", "poema.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    listener.lines.until("descargas/poema (2).txt");

    let id = listener.id.clone();
    assert_message_arrives(server.port, from, &listener, &id, &["hola", "ana"]);

    // Only the three files: the partial files used on the way are gone.
    assert_eq!(
        names_in(&to.join("descargas")),
        ["grande.bin", "poema (2).txt", "poema.txt"]
    );

    drop(server);
    let (code, stderr) = listener.end();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("El servidor cerró la conexión"), "{stderr}");
}

/// `mensaje` says how many got it; an id nobody holds is the server's error (exit 1).
#[test]
fn mensaje_reports_deliveries_and_refusals() {
    let (_dir, server, cwd) = started("cli-mensaje");
    let run = cliente(server.port, cwd.path(), &["mensaje", "todos", "nadie", "escucha"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "Mensaje entregado a 0 clientes\n");
    let run = cliente(server.port, cwd.path(), &["mensaje", "999", "hola"]);
    assert_exit(&run, 1, &["no hay un cliente suscrito con id 999"]);
    // An unknown alias is the same answer, found in the list of clients: the same code.
    let run = cliente(server.port, cwd.path(), &["mensaje", "beto", "hola"]);
    assert_exit(&run, 1, &["no hay un cliente con alias «beto»"]);
}

/// A menu session typed ahead and ended by the end of input: each choice does its
/// operation, a server refusal is shown and the menu goes on, and the exit is 0.
#[test]
fn menu_runs_a_script_that_ends_at_eof() {
    let (dir, server, cwd) = started("cli-menu");
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
        "4", // duplicar with an automatic name
        "poema.txt",
        "",
        "6", // renombrar
        "local.txt",
        "subido.txt",
        "5", // borrar
        "poema (copia).txt",
        "s", // yes, delete it
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
    assert_said(
        &run,
        &[
            "Conectado a 127.0.0.1:",
            "Menú",
            "mi foto.png",
            "Descargado mi foto.png en descargas/mi foto.png (68.4 KiB)",
            "Error: no existe el archivo: no-existe.txt",
            "Subido local.txt (13 B)",
            "Copiado poema.txt como poema (copia).txt",
            "Renombrado local.txt a subido.txt",
            "Borrado poema (copia).txt",
            "poema.txt enviado a 0 clientes",
            "suscrito",
            "Mensaje entregado a 0 clientes",
            "Opción no válida: bailar",
        ],
    );
    assert_downloaded(cwd.path(), dir.path(), "mi foto.png");
    assert_eq!(read(dir.path().join("subido.txt")), b"desde el menu");
    assert!(!dir.path().join("poema (copia).txt").exists());
    assert!(!cwd.path().join("descargas/no-existe.txt").exists());
}

/// The menu takes local paths as people paste them: quoted, with backslash-escaped
/// spaces, or starting with ~.
#[test]
fn menu_takes_pasted_paths() {
    let (dir, server, cwd) = started("cli-paste");
    let home = TempDir::new("cli-home");
    cwd.write("mi nota.txt", b"con espacio");
    home.write("casa.txt", b"desde home");
    let quoted = format!("'{}'", cwd.path().join("mi nota.txt").display());
    let double = format!("\"{}\"", cwd.path().join("mi nota.txt").display());
    let escaped = "mi\\ nota.txt";
    let script = format!(
        "3\n{quoted}\nuno.txt\n3\n{double}\ndos.txt\n3\n{escaped}\ntres.txt\n3\n~/casa.txt\n\nsalir\n"
    );
    let run = type_into(
        menu_cmd(server.port, cwd.path(), &[])
            .env("HOME", home.path())
            .env("USERPROFILE", home.path()),
        &script,
    );
    assert_eq!(run.code, 0, "{run:?}");
    for name in ["uno.txt", "dos.txt", "tres.txt"] {
        assert_eq!(read(dir.path().join(name)), b"con espacio", "{name}: {run:?}");
    }
    assert_eq!(read(dir.path().join("casa.txt")), b"desde home", "{run:?}");
}

/// `borrar` in the menu asks first; an answer that is neither yes nor no is asked again,
/// and no keeps the file.
#[test]
fn menu_borrar_asks_for_confirmation() {
    let (dir, server, cwd) = started("cli-borrar");
    let run = menu(server.port, cwd.path(), "5\npoema.txt\n3\nn\nsalir\n");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("¿Borrar poema.txt del servidor?"), "{run:?}");
    assert_eq!(run.stdout.matches("¿Borrar poema.txt").count(), 2, "{run:?}");
    assert!(run.stdout.contains("No se borró poema.txt."), "{run:?}");
    assert!(dir.path().join("poema.txt").exists());
    let run = menu(server.port, cwd.path(), "5\npoema.txt\nsí\nsalir\n");
    assert!(run.stdout.contains("Borrado poema.txt"), "{run:?}");
    assert!(!dir.path().join("poema.txt").exists());
}

/// Uploading over an existing name in the menu asks whether to replace it, then does.
#[test]
fn menu_subir_asks_before_replacing() {
    let (dir, server, cwd) = started("cli-reemplazar");
    cwd.write("poema.txt", b"otro poema");
    let run = menu(
        server.port,
        cwd.path(),
        "3\npoema.txt\n\nn\n3\npoema.txt\n\ns\nsalir\n",
    );
    assert_said(
        &run,
        &[
            "Ya existe poema.txt en el servidor. ¿Reemplazarlo?",
            "No se subió poema.txt.",
            "Subido poema.txt (10 B)",
        ],
    );
    assert_eq!(read(dir.path().join("poema.txt")), b"otro poema");
}

/// `mensaje` reaches a client by its alias, from a subcommand and from the menu, and a
/// pushed file names its sender with id and alias, as a message does.
#[test]
fn mensaje_by_alias_and_senders_named_alike() {
    let (_dir, server, listener_dir) = started("cli-alias-ana");
    let menu_dir = TempDir::new("cli-alias-beto");
    let listener = Live::escuchar(server.port, listener_dir.path(), &["--alias", "ana"]);

    assert_message_arrives(server.port, menu_dir.path(), &listener, "ana", &["hola", "ana"]);
    let run = cliente(server.port, menu_dir.path(), &["mensaje", "nadie", "hola"]);
    assert_exit(&run, 1, &["no hay un cliente con alias «nadie»"]);

    let mut beto = Live::menu(server.port, menu_dir.path(), &["--alias", "beto"]);
    beto.type_in("9\nAna\nsoy beto\n");
    beto.lines.until("Mensaje entregado a 1 cliente");
    let from = format!("de {} (beto)]", beto.id);
    let line = listener.lines.until("soy beto");
    assert!(line.starts_with(&format!("[mensaje {from}")), "{line}");
    beto.type_in("7\npoema.txt\n");
    let line = listener.lines.until("poema.txt guardado");
    assert!(line.starts_with(&format!("[archivo {from}")), "{line}");
    beto.type_in("salir\n");
    beto.lines.until("Hasta luego.");
    assert_eq!(beto.end().0, Some(0));
    drop(server);
    let _ = listener.end();
}

/// A listener on `port` that accepts connections and runs `serve` on each, in a thread.
fn fake_server(serve: fn(std::net::TcpStream)) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    port
}

/// Reads one request frame and decodes it.
fn read_request(stream: &mut std::net::TcpStream) -> Option<almacen::message::Request<'static>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len).ok()?;
    let mut payload = vec![0; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload).ok()?;
    let msg = almacen::message::parse(&payload, almacen::pickle::Limits::default()).ok()?;
    Some(msg.into_owned())
}

/// Reads requests until one that is neither `hola` nor `listar_detalle`, answering them
/// as an almacen from before protocol 2 does (`hola` is unknown to it, so the course's
/// protocol stays in use; `listar_detalle`, which cliente then asks to tell it from a
/// server like the course's, lists nothing), and returns that one.
fn read_request_past_hola(stream: &mut std::net::TcpStream) -> Option<almacen::message::Request<'static>> {
    loop {
        let req = read_request(stream)?;
        let answer = match req.operacion.as_str() {
            "hola" => almacen::message::error(&req.envelope, "hola", "operación desconocida: hola"),
            "listar_detalle" => almacen::message::ok(&req.envelope, "listar_detalle", &Data::List(vec![])),
            _ => return Some(req),
        };
        stream.write_all(&answer).ok()?;
    }
}

/// A server that accepts and then says nothing makes `cliente` give up after `--espera`
/// seconds with exit 1 and a Spanish hint that it may not be almacen.
#[test]
fn a_silent_server_times_out_with_a_hint() {
    let port = fake_server(|mut stream| {
        // Read whatever comes and never answer, until the client leaves.
        let mut buf = [0u8; 1024];
        while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
    });
    let cwd = TempDir::new("cli-silent");
    let run = cliente(port, cwd.path(), &["--espera", "1", "listar"]);
    assert_exit(
        &run,
        1,
        &["no respondió en 1 s", "no es un servidor almacen", "--espera"],
    );
}

/// A web server on the port is recognised from its answer: exit 1, and it says so.
#[test]
fn an_http_server_is_recognised() {
    let port = fake_server(|mut stream| {
        let mut buf = [0u8; 1024];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n");
    });
    let cwd = TempDir::new("cli-http");
    let run = cliente(port, cwd.path(), &["listar"]);
    assert_exit(&run, 1, &["respondió en HTTP", "no parece un servidor almacen"]);
}

/// A reply that keeps arriving, however slowly, is never cut by `--espera`: only
/// silence is.
#[test]
fn a_slow_but_moving_reply_does_not_time_out() {
    let port = fake_server(|mut stream| {
        let Some(req) = read_request_past_hola(&mut stream) else {
            return;
        };
        let names = almacen::pickle::Data::List(vec![Data::str("lento.txt")]);
        let reply = almacen::message::ok(&almacen::pickle::Envelope::Dict, &req.operacion, &names);
        // Each piece comes well within the 1 s limit; the whole takes longer than it.
        for piece in reply.chunks(reply.len().div_ceil(6)) {
            std::thread::sleep(Duration::from_millis(400));
            if stream.write_all(piece).is_err() {
                return;
            }
        }
        let mut buf = [0u8; 64];
        let _ = stream.read(&mut buf);
    });
    let cwd = TempDir::new("cli-slow");
    let run = cliente(port, cwd.path(), &["--espera", "1", "listar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "lento.txt\n");
}

/// Silence while nothing is owed is not a timeout: `escuchar` waits past `--espera`
/// and still gets the next message.
#[test]
fn an_idle_subscriber_does_not_time_out() {
    let (_dir, server, cwd) = started("cli-idle");
    let listener = Live::escuchar(server.port, cwd.path(), &["--espera", "1"]);
    // Idle for longer than --espera (this sets up the case; nothing is measured).
    std::thread::sleep(Duration::from_millis(2500));
    let id = listener.id.clone();
    assert_message_arrives(server.port, cwd.path(), &listener, &id, &["sigues", "ahí"]);
    drop(server);
    assert_eq!(listener.end().0, Some(0));
}

/// With `--clave` (or ALMACEN_CLAVE), every write goes in its dict form with the key;
/// reads carry no key.
#[test]
fn the_key_goes_with_every_write() {
    use almacen::pickle::decode::get;
    use almacen::pickle::Value;
    let port = fake_server(|mut stream| {
        while let Some(req) = read_request_past_hola(&mut stream) {
            // Echo the request's data back, so the test can see what was sent.
            let echo = match req.operacion.as_str() {
                "listar" => Data::List(vec![]),
                _ => Data::dict([("nombre", Data::str("x"))]),
            };
            let keyed = get(&req.data, "clave") == Some(&Value::String("k".into()));
            let estado_ok = keyed || req.operacion == "listar";
            let frame = if estado_ok {
                almacen::message::ok(&almacen::pickle::Envelope::Dict, &req.operacion, &echo)
            } else {
                almacen::message::error(&almacen::pickle::Envelope::Dict, &req.operacion, "falta la clave")
            };
            if stream.write_all(&frame).is_err() {
                return;
            }
        }
    });
    let cwd = TempDir::new("cli-clave");
    cwd.write("nota.txt", b"x");
    for args in [
        &["borrar", "poema.txt"][..],
        &["duplicar", "poema.txt"],
        &["renombrar", "a.txt", "b.txt"],
        &["subir", "nota.txt"],
    ] {
        let mut with_flag = vec!["--clave", "k"];
        with_flag.extend_from_slice(args);
        let run = cliente(port, cwd.path(), &with_flag);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        let run = run_no_input(cliente_cmd(port, cwd.path(), args).env("ALMACEN_CLAVE", "k"));
        assert_eq!(run.code, 0, "{args:?} with ALMACEN_CLAVE: {run:?}");
        let run = run_no_input(cliente_cmd(port, cwd.path(), args).env_remove("ALMACEN_CLAVE"));
        assert_eq!(run.code, 1, "{args:?} without a key: {run:?}");
        assert!(run.stderr.contains("use --clave CLAVE"), "{args:?}: {run:?}");
    }
}

/// `salir` ends the menu with exit 0, and nothing typed after it runs.
#[test]
fn menu_ends_at_salir() {
    let (dir, server, cwd) = started("cli-salir");
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
    let (dir, server, cwd) = started("cli-menu-push");
    let other = TempDir::new("cli-menu-otro");
    let mut beto = Live::menu(server.port, cwd.path(), &["--alias", "beto"]);

    let id = beto.id.clone();
    assert_message_arrives(server.port, other.path(), &beto, &id, &["¿estás", "ahí?"]);
    assert_poema_pushed(server.port, other.path(), &beto, cwd.path(), dir.path());

    beto.type_in("8\n");
    beto.lines.until("beto");
    beto.type_in("salir\n");
    beto.lines.until("Hasta luego.");
    assert_eq!(beto.end().0, Some(0));
}

/// When the server shuts down, `escuchar` and the menu show its goodbye and end with exit 0.
#[test]
fn a_server_shutdown_ends_escuchar_and_the_menu_cleanly() {
    let (_dir, mut server, cwd) = started("cli-cierre");
    let listener = Live::escuchar(server.port, cwd.path(), &[]);
    let menu = Live::menu(server.port, cwd.path(), &[]);
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    listener.lines.until("[servidor] se está cerrando");
    menu.lines.until("[servidor] se está cerrando");
    // The notice starts its own line, not the end of the prompt's.
    let bye = menu.lines.until("Hasta luego.");
    assert!(bye.starts_with("El servidor cerró la sesión"), "{bye}");
    assert_eq!(listener.end().0, Some(0));
    assert_eq!(menu.end().0, Some(0));
    assert!(server.wait_exit(Duration::from_secs(5)).unwrap().success());
}

/// A tiny almacen from before protocol 2, in the course's protocol only: `hola` and
/// `resumen` are unknown to it; it lists and serves one file in ranges. Any frame that is
/// not a course pickle ends the connection, so a client that switched would fail.
fn old_almacen(mut stream: std::net::TcpStream) {
    use almacen::message::{error, ok};
    use almacen::pickle::decode::get;
    use almacen::pickle::Value;
    const FILE: &[u8] = b"contenido de un servidor antiguo\n";
    while let Some(req) = read_request(&mut stream) {
        let env = &req.envelope;
        let frame = match req.operacion.as_str() {
            "listar" => ok(env, "listar", &Data::List(vec![Data::str("viejo.txt")])),
            "listar_detalle" => {
                let row = Data::dict([
                    ("nombre", Data::str("viejo.txt")),
                    ("bytes", Data::Int(FILE.len() as i64)),
                    ("modificado", Data::Int(1_700_000_000)),
                ]);
                ok(env, "listar_detalle", &Data::List(vec![row]))
            }
            "descargar" => {
                let int = |k| match get(&req.data, k) {
                    Some(Value::I64(n)) => *n as usize,
                    _ => 0,
                };
                let from = int("desde").min(FILE.len());
                let to = (from + int("largo")).min(FILE.len());
                ok(env, "descargar", &Data::Bytes(FILE[from..to].to_vec()))
            }
            op => error(env, op, &format!("operación desconocida: {op}")),
        };
        if stream.write_all(&frame).is_err() {
            return;
        }
    }
}

/// Against a server that does not know `hola`, `cliente` stays in the course's protocol:
/// it lists and downloads, and the missing `resumen` is only mentioned at debug level.
#[test]
fn an_old_server_without_hola_is_spoken_to_in_the_course_protocol() {
    let port = fake_server(old_almacen);
    let cwd = TempDir::new("cli-old");
    let run = cliente(port, cwd.path(), &["listar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "viejo.txt\n");
    assert_eq!(run.stderr, "", "nothing to say without RUST_LOG");
    let run = cliente(port, cwd.path(), &["descargar", "viejo.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(!run.stderr.contains("resumen"), "{run:?}");
    assert_eq!(
        read(cwd.path().join("descargas/viejo.txt")),
        b"contenido de un servidor antiguo\n"
    );
    let run = cliente_debug(port, cwd.path(), &["descargar", "viejo.txt", "-o", "otra.txt"]);
    assert_exit(
        &run,
        0,
        &[Protocol::Course.agreement(), "no sha256 check for viejo.txt"],
    );
}

/// A server that hangs up on `hola` instead of answering gets a second connection, in
/// the course's protocol, and the command still works.
#[test]
fn a_server_that_hangs_up_on_hola_gets_a_second_connection() {
    let port = fake_server(|mut stream| {
        let Some(req) = read_request(&mut stream) else {
            return;
        };
        if req.operacion == "hola" {
            return; // dropping the stream closes the connection
        }
        let names = Data::List(vec![Data::str("sin_hola.txt")]);
        let reply = almacen::message::ok(&req.envelope, &req.operacion, &names);
        let _ = stream.write_all(&reply);
    });
    let cwd = TempDir::new("cli-hangup");
    let run = cliente(port, cwd.path(), &["listar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "sin_hola.txt\n");
}

/// What a proxy does to the bytes it relays.
#[cfg_attr(not(feature = "proto2"), allow(dead_code))] // used by the protocol-2 tests
#[derive(Clone, Copy)]
enum Tamper {
    /// Flips the bits of the server→client byte at this offset of each connection.
    FlipDown(usize),
    /// Flips the bits of the client→server byte at this offset of each connection.
    FlipUp(usize),
    /// Answers a first `hola` itself, as an almacen from before protocol 2 would, so
    /// the real server behind it is spoken to in the course's protocol.
    NoHola,
}

/// Relays `from` to `to`, flipping the byte at `flip` (counted from the start).
fn relay(mut from: std::net::TcpStream, mut to: std::net::TcpStream, flip: Option<usize>) {
    let mut buf = vec![0; 64 * 1024];
    let mut passed = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if let Some(at) = flip.filter(|at| (passed..passed + n).contains(at)) {
            buf[at - passed] ^= 0xff;
        }
        passed += n;
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(std::net::Shutdown::Both);
    let _ = from.shutdown(std::net::Shutdown::Both);
}

/// A proxy in front of the server on `port`, doing `tamper` on every connection.
fn tampering_proxy(port: u16, tamper: Tamper) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut client in listener.incoming().flatten() {
            let server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            if let Tamper::NoHola = tamper {
                let mut len = [0u8; 4];
                if client.read_exact(&mut len).is_err() {
                    continue;
                }
                let mut payload = vec![0; u32::from_be_bytes(len) as usize];
                if client.read_exact(&mut payload).is_err() {
                    continue;
                }
                let req = almacen::message::parse(&payload, Default::default()).unwrap();
                if req.operacion == "hola" {
                    let no = almacen::message::error(&req.envelope, "hola", "operación desconocida: hola");
                    client.write_all(&no).unwrap();
                } else {
                    (&server).write_all(&len).unwrap();
                    (&server).write_all(&payload).unwrap();
                }
            }
            let (down, up) = match tamper {
                Tamper::FlipDown(at) => (Some(at), None),
                Tamper::FlipUp(at) => (None, Some(at)),
                Tamper::NoHola => (None, None),
            };
            let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || relay(c2, s2, up));
            std::thread::spawn(move || relay(server, client, down));
        }
    });
    proxy_port
}

/// Which protocol `cliente` ends up speaking with the real server.
#[cfg_attr(not(feature = "proto2"), allow(dead_code))] // used by the protocol-2 tests
#[derive(Clone, Copy)]
enum Protocol {
    /// Protocol 2, agreed by `hola`.
    Two,
    /// The course's protocol, behind a proxy that refuses `hola`.
    Course,
}

impl Protocol {
    /// Where `cliente` connects to speak this protocol with the server on `port`.
    fn port(self, port: u16) -> u16 {
        match self {
            Protocol::Two => port,
            Protocol::Course => tampering_proxy(port, Tamper::NoHola),
        }
    }

    /// What `cliente`'s debug log says once the protocol is settled.
    fn agreement(self) -> &'static str {
        match self {
            Protocol::Two => "agreed to protocol 2",
            // Built without protocol 2, cliente asks for version 1.
            Protocol::Course if cfg!(feature = "proto2") => "declined protocol 2",
            Protocol::Course => "declined protocol 1",
        }
    }
}

/// `descargar NAME` through `port`, where `cliente` speaks `protocol`, is checked
/// against the server's `resumen` and lands byte for byte. Returns the run for more checks.
fn assert_checked_download(port: u16, protocol: Protocol, cwd: &Path, dir: &Path, name: &str) -> Run {
    let run = cliente_debug(port, cwd, &["descargar", name]);
    let matches = format!("sha256 of {name} matches");
    assert_exit(&run, 0, &[protocol.agreement(), &matches]);
    assert_downloaded(cwd, dir, name);
    run
}

/// With a server that offers it, `cliente` speaks protocol 2, and every download (a
/// resumed one included) is checked against the server's `resumen`.
// Needs protocol 2 on both sides.
#[cfg(feature = "proto2")]
#[test]
fn downloads_in_protocol_2_are_checked_with_resumen() {
    let whole = pattern(10 * MIB + 3);
    let (dir, server, cwd) = started_with("cli-p2-dl", Some(("video.bin", &whole)));
    let (cwd, dir) = (cwd.path(), dir.path());
    assert_checked_download(server.port, Protocol::Two, cwd, dir, "mi foto.png");
    interrupt_download(server.port, cwd, "video.bin");
    let run = assert_checked_download(server.port, Protocol::Two, cwd, dir, "video.bin");
    assert!(run.stdout.contains("se continuó desde 4.0 MiB"), "{run:?}");
    assert_eq!(read(cwd.join("descargas/video.bin")), whole);
}

/// A byte damaged on its way down is caught by the sha256 check: exit 1, and neither
/// the file nor a partial of it is left (resuming from bad bytes would keep them).
#[test]
fn a_download_damaged_in_transit_is_caught_and_discarded() {
    let (_dir, server, cwd) = started_with("cli-p2-damaged", Some(("dañable.bin", &pattern(MIB))));
    let proxy = tampering_proxy(server.port, Tamper::FlipDown(600_000));
    let run = cliente(proxy, cwd.path(), &["descargar", "dañable.bin"]);
    assert_exit(
        &run,
        1,
        &["dañable.bin llegó dañado", "se descartó lo descargado"],
    );
    assert_eq!(names_in(&cwd.path().join("descargas")), Vec::<String>::new());
    // Undamaged, the same download goes through.
    let run = cliente(server.port, cwd.path(), &["descargar", "dañable.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
}

/// A byte damaged on its way up makes the server refuse the upload (the sha256 the
/// client sent does not match): exit 1, and nothing is published.
// Needs protocol 2 on both sides.
#[cfg(feature = "proto2")]
#[test]
fn an_upload_damaged_in_transit_is_refused_and_nothing_published() {
    let (dir, server, cwd) = started("cli-p2-up-damaged");
    let proxy = tampering_proxy(server.port, Tamper::FlipUp(500_000));
    cwd.write("subida.bin", &pattern(MIB));
    let run = cliente(proxy, cwd.path(), &["subir", "subida.bin"]);
    assert_exit(&run, 1, &["sha256 no coincide"]);
    assert!(!dir.path().join("subida.bin").exists());
    let run = cliente(server.port, cwd.path(), &["subir", "subida.bin"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(dir.path().join("subida.bin")), pattern(MIB));
}

/// Staged bytes of another file, shorter than ours, look resumable by size alone; the
/// server refuses our `sha256_previo` for them, and `cliente` starts over from 0.
// Needs protocol 2 on both sides.
#[cfg(feature = "proto2")]
#[test]
fn a_resumed_upload_over_foreign_bytes_starts_over() {
    let (dir, server, cwd) = started("cli-p2-foreign");
    let content = pattern(10 * MIB);
    cwd.write("grande.bin", &content);
    stage_abandoned_upload(&server, "grande.bin", vec![b'x'; 3 * MIB]);
    let run = cliente(server.port, cwd.path(), &["subir", "grande.bin"]);
    assert_exit(
        &run,
        0,
        &[
            "retomando la subida de grande.bin",
            "lo que el servidor tenía de grande.bin no es el comienzo de este archivo",
        ],
    );
    assert_eq!(read(dir.path().join("grande.bin")), content);
}

/// The real server behind a proxy that refuses `hola` is spoken to in the course's
/// protocol: downloads are still checked (this server knows `resumen` in both
/// protocols), pushes arrive, and a resumed upload over foreign bytes, which the course's
/// protocol cannot refuse, is caught afterwards by `resumen`.
#[test]
fn behind_a_server_without_hola_the_course_protocol_does_everything() {
    let (dir, server, cwd) = started("cli-course");
    let old = Protocol::Course.port(server.port);
    assert_checked_download(old, Protocol::Course, cwd.path(), dir.path(), "mi foto.png");

    // A course-protocol subscriber gets a file pushed by a protocol-2 sender.
    let listen_dir = TempDir::new("cli-course-listen");
    let mut listener = Live::escuchar(old, listen_dir.path(), &[]);
    assert_poema_pushed(server.port, cwd.path(), &listener, listen_dir.path(), dir.path());
    let _ = listener.child.kill();
    let _ = listener.child.wait();

    let content = pattern(6 * MIB);
    cwd.write("mezcla.bin", &content);
    stage_abandoned_upload(&server, "mezcla.bin", vec![b'x'; MIB]);
    let run = cliente(old, cwd.path(), &["subir", "mezcla.bin"]);
    assert_exit(
        &run,
        1,
        &["mezcla.bin quedó publicado, pero no coincide", "--reemplazar"],
    );
    let run = cliente(old, cwd.path(), &["subir", "mezcla.bin", "--reemplazar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(read(dir.path().join("mezcla.bin")), content);
}

/// A server that agrees to protocol 2 but answers with another request's id is caught:
/// the reply is not taken as ours (exit 1, saying it may not be almacen).
#[cfg(feature = "proto2")]
#[test]
fn a_reply_with_another_requests_id_is_refused() {
    let port = fake_server(|mut stream| {
        use almacen::protocol::v2::{encode, hola};
        use almacen::protocol::Limits;
        let Some(req) = read_request(&mut stream) else {
            return;
        };
        assert_eq!(req.operacion, "hola", "hola comes first");
        let agreed = hola::reply_data(hola::Version::V2, &["listar"], &Limits::new(1 << 20));
        let _ = stream.write_all(&almacen::message::ok(&req.envelope, "hola", &agreed));
        // The listar request, in protocol 2 now: answered as if it were request 99.
        let mut len = [0u8; 4];
        if stream.read_exact(&mut len).is_err() {
            return;
        }
        let mut json = vec![0; u32::from_be_bytes(len) as usize];
        let _ = stream.read_exact(&mut json);
        assert!(json.starts_with(br#"{"id":1,"operacion":"listar""#), "{json:?}");
        let names = Data::List(vec![Data::str("ajeno.txt")]);
        let _ = stream.write_all(&encode::reply(Some(99), "listar", "ok", &names));
        let mut rest = [0u8; 64];
        let _ = stream.read(&mut rest);
    });
    let cwd = TempDir::new("cli-p2-id");
    let run = cliente(port, cwd.path(), &["listar"]);
    assert_exit(
        &run,
        1,
        &["llegó la respuesta a otro pedido (id 99; se esperaba 1)"],
    );
    assert_eq!(run.stdout, "");
}

/// tests/py/servidor_curso.py on a folder: a stand-in for the course's own server (and
/// the students'), which answers only `listar` and `descargar` and ignores the rest.
struct CourseServer {
    child: Child,
    port: u16,
}

impl CourseServer {
    fn start(dir: &Path) -> CourseServer {
        CourseServer::start_with(dir, &[])
    }

    /// With `--responde`: unknown operations get an error reply instead of silence.
    fn start_with(dir: &Path, extra: &[&str]) -> CourseServer {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/py/servidor_curso.py");
        let mut child = common::python3()
            .arg(script)
            .arg(dir)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let port = line
            .trim()
            .strip_prefix("puerto ")
            .expect("its port")
            .parse()
            .unwrap();
        CourseServer { child, port }
    }
}

impl Drop for CourseServer {
    fn drop(&mut self) {
        // The end of its stdin ends it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// The course's kind of server never answers `hola`: cliente lists (a reply whose
/// operacion is None) and downloads whole files from it, large ones included, and says
/// once that nothing was checked.
#[test]
fn a_server_like_the_courses_lists_and_serves_whole_files() {
    let dir = served();
    // Past 8 MiB, the reply goes to disk as it arrives instead of into memory.
    dir.write("grande.bin", &pattern(9 * MIB));
    let course = CourseServer::start(dir.path());
    let cwd = TempDir::new("cli-curso");
    let run = cliente(course.port, cwd.path(), &["listar"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "grande.bin\nmi foto.png\npoema.txt\nvacío.txt\n");
    for name in ["mi foto.png", "vacío.txt", "grande.bin"] {
        let run = cliente(course.port, cwd.path(), &["descargar", name]);
        assert_eq!(run.code, 0, "{name}: {run:?}");
        let unchecked = "sin verificar el sha256: este servidor no ofrece resumen";
        assert_eq!(run.stderr.matches(unchecked).count(), 1, "{run:?}");
        assert_downloaded(cwd.path(), dir.path(), name);
    }
    assert_eq!(names_in(&cwd.path().join("descargas")).len(), 3, "no leftovers");
    let run = cliente(course.port, cwd.path(), &["descargar", "no-está.txt"]);
    assert_exit(&run, 1, &["no entregó no-está.txt", "listar"]);
}

/// A server that answers what it does not know with an error (as some students' do, and
/// examples/servidor_minimo.rs) but has neither `hola` nor `listar_detalle` is used like
/// the course's: downloads whole files, and says in one line what it lacks.
#[test]
fn a_server_that_refuses_what_it_lacks_is_used_like_the_courses() {
    let dir = served();
    let course = CourseServer::start_with(dir.path(), &["--responde"]);
    let cwd = TempDir::new("cli-responde");
    cwd.write("nota.txt", b"x");
    let run = cliente(course.port, cwd.path(), &["descargar", "poema.txt"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_downloaded(cwd.path(), dir.path(), "poema.txt");
    let run = cliente(course.port, cwd.path(), &["subir", "nota.txt"]);
    assert_exit(
        &run,
        2,
        &["este servidor no ofrece subir:", "solo tiene listar y descargar"],
    );
    let run = menu(course.port, cwd.path(), "listar\nsalir\n");
    assert_said(&run, &["solo ofrece listar y descargar", "  poema.txt"]);
}

/// Asked for what such a server lacks, cliente says so in one line and sends nothing
/// (the server would never answer); the menu goes on after it.
#[test]
fn a_server_like_the_courses_is_not_asked_what_it_lacks() {
    let dir = served();
    let course = CourseServer::start(dir.path());
    let cwd = TempDir::new("cli-curso-falta");
    cwd.write("nota.txt", b"x");
    for (args, what) in [
        (&["subir", "nota.txt"][..], "subir"),
        (&["borrar", "poema.txt"], "borrar"),
        (&["listar-detalle"], "listar-detalle"),
        (&["escuchar"], "escuchar"),
    ] {
        let run = cliente(course.port, cwd.path(), args);
        assert_exit(
            &run,
            2,
            &[
                &format!("este servidor no ofrece {what}:"),
                "solo tiene listar y descargar",
            ],
        );
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    }
    let run = menu(course.port, cwd.path(), "listar\n3\n2\npoema.txt\nsalir\n");
    assert_said(
        &run,
        &[
            "solo ofrece listar y descargar",
            "  poema.txt",
            "Error: este servidor no ofrece subir",
            "Descargado poema.txt",
        ],
    );
    assert_downloaded(cwd.path(), dir.path(), "poema.txt");
}

/// A full server (`--max-clients 2`, two clients in) turns cliente away in its own
/// words, with the "server answered an error" exit code, from a subcommand and the menu.
#[test]
fn full_server_reply_is_shown_in_the_servers_words() {
    let dir = served();
    let server = Server::start(dir.path(), &["--max-clients", "2"]);
    let cwd = TempDir::new("cli-lleno");
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.ask("listar", Data::None).estado, "ok");
    assert_eq!(b.ask("listar", Data::None).estado, "ok");
    let run = cliente(server.port, cwd.path(), &["listar"]);
    assert_exit(&run, 1, &["cliente: servidor lleno, intente más tarde"]);
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    let run = menu(server.port, cwd.path(), "listar\n");
    assert_exit(&run, 1, &["servidor lleno, intente más tarde"]);
    drop(a);
    // Once a place frees up, the same command works.
    wait_until("a place frees up", Duration::from_secs(20), || {
        cliente(server.port, cwd.path(), &["listar"]).code == 0
    });
}

/// A write refused for want of the key says so once, with the flag and the variable,
/// and nothing about dicts; a wrong key says it is wrong. The menu says the same.
#[test]
fn key_refusal_names_the_flag_and_the_variable_once() {
    let dir = served();
    let server = Server::start(dir.path(), &["--clave", "secreta"]);
    let cwd = TempDir::new("cli-sin-clave");
    cwd.write("nota.txt", b"x");
    let asked = "cliente: este servidor pide una clave para escribir: use --clave CLAVE o la \
                 variable ALMACEN_CLAVE\n";
    for args in [&["subir", "nota.txt"][..], &["borrar", "poema.txt"]] {
        let run = run_no_input(cliente_cmd(server.port, cwd.path(), args).env_remove("ALMACEN_CLAVE"));
        assert_eq!(run.code, 1, "{run:?}");
        assert_eq!(run.stderr, asked, "{run:?}");
    }
    let run = cliente(
        server.port,
        cwd.path(),
        &["--clave", "otra", "borrar", "poema.txt"],
    );
    assert_exit(
        &run,
        1,
        &["la clave no es la de este servidor: revise --clave CLAVE"],
    );
    let run = type_into(
        menu_cmd(server.port, cwd.path(), &[]).env_remove("ALMACEN_CLAVE"),
        "5\npoema.txt\ns\n",
    );
    assert_said(
        &run,
        &["Error: este servidor pide una clave para escribir: use --clave CLAVE"],
    );
    assert_eq!(run.stdout.matches("clave").count(), 2, "{run:?}");
    assert!(dir.path().join("poema.txt").exists());
}

/// A proxy to `port` that passes the first `limit` bytes from the server, then holds the
/// rest until the server ends the connection, and only then passes it on and closes: the
/// test can shut the server down while a download is surely under way.
#[cfg_attr(not(feature = "proto2"), allow(dead_code))] // used by the protocol-2 tests
fn holding_proxy(port: u16, limit: usize) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let proxy_port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let server = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
            let (mut c_read, mut s_write) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            // Upward, everything the client sends is read, even once the server is gone,
            // so closing the client's socket never meets unread bytes (that would reset it).
            std::thread::spawn(move || {
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = c_read.read(&mut buf) {
                    let _ = s_write.write_all(&buf[..n]);
                }
            });
            std::thread::spawn(move || {
                let (mut s_read, mut c_write) = (server, client);
                let mut held = Vec::new();
                let mut buf = vec![0; 64 * 1024];
                while let Ok(n @ 1..) = s_read.read(&mut buf) {
                    let pass = limit.saturating_sub(held.len()).min(n);
                    if held.len() < limit && c_write.write_all(&buf[..pass]).is_err() {
                        return;
                    }
                    held.extend_from_slice(&buf[..n]);
                }
                let _ = c_write.write_all(&held[limit.min(held.len())..]);
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    proxy_port
}

/// The server shut down with Enter in the middle of a download: cliente says the server
/// closed (it said so), what it kept, and that the same command goes on from there; the
/// next run does.
// Needs protocol 2 on both sides.
#[cfg(feature = "proto2")]
#[test]
fn a_clean_shutdown_mid_download_reads_differently_from_a_crash() {
    let whole = pattern(10 * MIB + 100);
    let (dir, mut server, cwd) = started_with("cli-cierre-descarga", Some(("video.bin", &whole)));
    // The listing (small) and the first 4 MiB range pass; the second range is held.
    let proxy = holding_proxy(server.port, 6 * MIB);
    let child = spawn(
        &mut cliente_cmd(proxy, cwd.path(), &["descargar", "video.bin"]),
        Stdio::null(),
    );
    let downloads = cwd.path().join("descargas");
    wait_until("the first range is saved", Duration::from_secs(30), || {
        names_in(&downloads)
            .first()
            .and_then(|n| std::fs::metadata(downloads.join(n)).ok())
            .is_some_and(|m| m.len() == 4 * MIB as u64)
    });
    server.stdin.as_mut().unwrap().write_all(b"\n").unwrap();
    let run = finish(child, None);
    assert_exit(
        &run,
        2,
        &[
            "el servidor se cerró a mitad de la descarga de video.bin (lo detuvieron; avisó",
            // 4 or 8 MiB: the second range may be cut by the shutdown, or arrive whole.
            "MiB de 10.0 MiB; cuando vuelva a estar en marcha, ejecute el mismo comando",
        ],
    );
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert!(server.wait_exit(Duration::from_secs(10)).unwrap().success());
    let again = Server::start(dir.path(), &[]);
    let run = cliente(again.port, cwd.path(), &["descargar", "video.bin"]);
    assert_exit(&run, 0, &["retomando la descarga de video.bin: ya hay"]);
    assert_eq!(read(downloads.join("video.bin")), whole);
}

/// The menu's `subir` asks for the local path and then the name on the server, Enter
/// keeping the file's own; docs/cliente.md lists both questions as the menu words them.
#[test]
fn menu_subir_asks_the_questions_the_doc_lists() {
    let (dir, server, cwd) = started("cli-subir-nombre");
    cwd.write("nota.txt", b"apuntes");
    let run = menu(server.port, cwd.path(), "3\nnota.txt\notra.txt\nsalir\n");
    assert_said(
        &run,
        &[
            "Ruta del archivo local: ",
            "Nombre en el servidor [nota.txt]: ",
            "Subido otra.txt",
        ],
    );
    assert_eq!(read(dir.path().join("otra.txt")), b"apuntes");
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/cliente.md")).unwrap();
    for question in ["`Ruta del archivo local:`", "`Nombre en el servidor [X]:`"] {
        assert!(doc.contains(question), "docs/cliente.md does not list {question}");
    }
}

/// Output whose reader has gone (`cliente listar | head -1`, the pipe closed before the
/// first line) ends cliente quietly, not with a panic about a broken pipe.
#[test]
fn a_reader_that_goes_away_ends_cliente_quietly() {
    let (_dir, server, cwd) = started("cli-pipe");
    let mut child = cliente_cmd(server.port, cwd.path(), &["listar"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(out.status.code(), Some(0), "{stderr}");
}
