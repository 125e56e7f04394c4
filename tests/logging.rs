//! The log never holds up the event loop: with stderr a pipe nobody reads, clients are still
//! served, and once someone reads, one line says how many log lines were lost.

mod common;

use common::{Client, TempDir};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// Malformed frames sent; each is answered with an error and logged as a bad request.
const BAD_FRAMES: usize = 5_000;

/// Kills the server if the test fails before stopping it.
struct Killer(std::process::Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A frame whose payload is not a pickle at all.
fn malformed_frame() -> Vec<u8> {
    let payload = b"\xffnot a pickle";
    let mut frame = (payload.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(payload);
    frame
}

/// Reads one whole reply frame; Err on timeout or a closed connection.
fn read_frame(stream: &mut std::net::TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    stream.read_exact(&mut len)?;
    let mut payload = vec![0; u32::from_be_bytes(len) as usize];
    stream.read_exact(&mut payload)?;
    Ok(payload)
}

/// 5,000 logged warnings into a pipe nobody reads: every frame is still answered, a
/// bystander's listar too, and draining the pipe brings the "N log lines lost" line.
#[test]
fn a_stalled_stderr_does_not_stall_the_server() {
    let dir = TempDir::new("stalled-log");
    dir.write("poema.txt", b"hola");
    let child = Command::new(env!("CARGO_BIN_EXE_servidor"))
        .args(["0", "127.0.0.1", "--dir"])
        .arg(dir.path())
        // info: robust to refusals moving between warn and info; every connection logs too.
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("servidor starts");
    let mut child = Killer(child);
    let child = &mut child.0;
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut banner = String::new();
    out.read_line(&mut banner).unwrap();
    let port: u16 = banner
        .trim()
        .strip_prefix("Servidor escuchando en 127.0.0.1 : ")
        .unwrap_or_else(|| panic!("unexpected banner {banner:?}"))
        .parse()
        .unwrap();
    // Not read until the end: the pipe fills after a few hundred lines.
    let stderr = child.stderr.take().unwrap();

    let mut bystander = Client::connect(port);
    let mut flood = Client::connect(port);
    let mut replies = flood.stream.try_clone().unwrap();
    replies.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let reader = std::thread::spawn(move || {
        (0..BAD_FRAMES)
            .map(|_| read_frame(&mut replies))
            .take_while(|r| r.is_ok())
            .count()
    });
    let frames: Vec<u8> = (0..BAD_FRAMES).flat_map(|_| malformed_frame()).collect();
    flood.send_raw(&frames);
    let answered = reader.join().unwrap();
    assert_eq!(
        answered, BAD_FRAMES,
        "the loop stopped answering after {answered} frames"
    );
    let reply = bystander.ask("listar", almacen::pickle::Data::None);
    assert_eq!(reply.estado, "ok");
    assert!(reply.names().contains(&"poema.txt".to_string()));

    // Now read the log: everything queued comes out, then the notice.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = 0usize;
    let lost = loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .expect("a 'log lines lost' line after draining");
        if let Some(n) = line
            .split_once("] ")
            .and_then(|(_, msg)| msg.strip_prefix("se perdieron "))
            .and_then(|rest| rest.strip_suffix(" líneas del registro: nadie leía stderr"))
        {
            break n.parse::<usize>().expect("a count");
        }
        seen += 1;
    };
    assert!(lost > 0);
    assert!(seen + lost >= BAD_FRAMES, "{seen} lines seen and {lost} lost");

    // The server still stops normally.
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "servidor did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(out);
}

/// A streamed download's debug line gives the whole frame as the client reads it (the
/// 4-byte length included) and, apart, the file's share of it.
#[test]
fn streamed_reply_logs_its_whole_size() {
    let dir = TempDir::new("reply-size");
    dir.write("grande.bin", &common::pattern(300_000));
    let env = [("RUST_LOG", "debug"), ("RUST_LOG_STYLE", "never")];
    let server = common::Server::start_with(dir.path(), &[], common::Stdin::Pipe, &env);
    let mut client = server.connect();
    client.send("descargar", almacen::pickle::Data::str("grande.bin"));
    let read = 4 + client.read_payload().expect("the download").len();
    let want = format!("reply queued ({read} B, 300000 of them from disk)");
    common::wait_until("the reply's debug line", Duration::from_secs(10), || {
        server.stderr().contains(&want)
    });
}

/// The fenced blocks with no language under `heading` in docs/architecture.md, up to the
/// next heading of the same level.
#[cfg(unix)]
fn doc_blocks(heading: &str) -> Vec<Vec<String>> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/architecture.md")).unwrap();
    let section = doc.split(heading).nth(1).expect("the heading is in the doc");
    let section = section.split("\n### ").next().unwrap();
    let (mut blocks, mut inside, mut plain) = (Vec::new(), false, false);
    for line in section.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            if !inside {
                plain = lang.is_empty();
                if plain {
                    blocks.push(Vec::new());
                }
            }
            inside = !inside;
        } else if inside && plain {
            blocks.last_mut().unwrap().push(line.to_string());
        }
    }
    blocks
}

/// A log line with what changes from run to run written as words: the client's port,
/// and the numbers that depend on the machine (its open-file limit, its backlog).
#[cfg(unix)]
fn shape(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(at) = rest.find("127.0.0.1:") {
        out.push_str(&rest[..at]);
        out.push_str("127.0.0.1:PORT");
        rest = rest[at + "127.0.0.1:".len()..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    if out.contains("clients at once") || out.contains("with a backlog of") {
        let mut digits = false;
        out = out
            .chars()
            .filter_map(|c| {
                let was = std::mem::replace(&mut digits, c.is_ascii_digit());
                match (c.is_ascii_digit(), was) {
                    (true, true) => None,
                    (true, false) => Some('N'),
                    _ => Some(c),
                }
            })
            .collect();
    }
    out
}

/// docs/architecture.md's RUST_LOG walk-through is a real run: the course client's
/// listar and descargar against a real server at trace log exactly the doc's lines (frame
/// sizes, tokens, levels, the read buffer), and the doc's info block is their INFO lines.
#[cfg(unix)]
#[test]
fn the_docs_rust_log_walk_through_matches_a_real_run() {
    let blocks = doc_blocks("### One listar and one descargar, at trace");
    let [trace, info] = &blocks[..] else {
        panic!("two log blocks under the heading, found {}", blocks.len())
    };
    let dir = TempDir::new("doc-trace");
    dir.write("grande.bin", &common::pattern(300_000));
    dir.write("poema.txt", &[b'a'; 563]);
    let env = [("RUST_LOG", "trace"), ("RUST_LOG_STYLE", "never")];
    let mut server = common::Server::start_with(dir.path(), &[], common::Stdin::Pipe, &env);
    let client = format!(
        "exec(open({:?}).read().split(\"\\ndef main\")[0])\n\
         c = Cliente({}, \"127.0.0.1\")\n\
         print(c.pedir(\"listar\").data)\n\
         print(len(c.pedir(\"descargar\", \"poema.txt\").data), \"bytes\")\n",
        concat!(env!("CARGO_MANIFEST_DIR"), "/tests/py/cliente_curso.py"),
        server.port
    );
    let out = common::python3()
        .arg("-c")
        .arg(client)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    common::wait_until("the client's disconnection", Duration::from_secs(10), || {
        server.stderr().contains("disconnected (0 clients)")
    });
    // SIGTERM, as in the doc.
    assert_eq!(unsafe { libc::kill(server.pid() as i32, libc::SIGTERM) }, 0);
    assert!(server.wait_exit(Duration::from_secs(10)).unwrap().success());
    // "[2026-12-06T21:30:00Z TRACE mio::poll] ..." loses its timestamp, as in the doc.
    let real: Vec<String> = server
        .stderr()
        .lines()
        .map(|l| {
            shape(
                l.strip_prefix('[')
                    .and_then(|l| l.split_once(' '))
                    .map_or(l, |(_, rest)| rest),
            )
        })
        .collect();
    let doc: Vec<String> = trace.iter().map(|l| shape(l)).collect();
    assert_eq!(doc, real, "docs/architecture.md's trace differs from a real run");
    let infos: Vec<&String> = doc
        .iter()
        .filter(|l| l.starts_with("INFO") || l.starts_with("WARN"))
        .collect();
    let info: Vec<String> = info.iter().map(|l| shape(l)).collect();
    assert_eq!(
        info.iter().collect::<Vec<_>>(),
        infos,
        "the info block is the trace's INFO lines"
    );
}
