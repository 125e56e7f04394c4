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
