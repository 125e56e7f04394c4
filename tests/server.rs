//! End to end over loopback: the real binary, driven with raw frames.

mod common;

use almacen::pickle::Data;
#[cfg(target_os = "linux")] // its only user reads /proc
use common::wait_until;
use common::{pattern, Client, Server, TempDir};
use std::time::Duration;

fn folder() -> TempDir {
    let dir = TempDir::new("srv");
    dir.write("poema.txt", "Llueve sobre el campus.\n".as_bytes());
    dir.write("vacío.txt", b"");
    dir.write("con espacio.bin", &pattern(1000));
    dir.write("grande.bin", &pattern(5 * 1024 * 1024 + 17));
    dir
}

/// `listar` returns regular files only, sorted, without hidden files, folders or escaping links.
#[test]
fn listar_returns_sorted_regular_files_only() {
    let dir = folder();
    dir.write(".oculto", b"x");
    std::fs::create_dir(dir.path().join("carpeta")).unwrap();
    // Symlinks need a privilege on Windows: there the listing is tried without them.
    #[cfg(unix)]
    {
        common::symlink("/etc/passwd", dir.path().join("fuera"));
        common::symlink("poema.txt", dir.path().join("enlace.txt"));
    }
    let server = Server::start(dir.path(), &[]);
    let reply = server.connect().ask("listar", Data::None);
    assert_eq!(reply.estado, "ok");
    assert_eq!(reply.operacion, "listar");
    let mut expected = vec!["con espacio.bin", "grande.bin", "poema.txt", "vacío.txt"];
    if cfg!(unix) {
        expected.insert(1, "enlace.txt");
    }
    assert_eq!(reply.names(), expected);
}

/// A download is byte-exact, whether small (inline), empty, or streamed from disk.
#[test]
fn descargar_returns_exact_bytes() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    for name in ["poema.txt", "vacío.txt", "con espacio.bin", "grande.bin"] {
        let reply = c.ask("descargar", Data::str(name));
        assert_eq!(reply.estado, "ok", "{name}: {:?}", reply.data);
        assert_eq!(
            reply.bytes(),
            std::fs::read(dir.path().join(name)).unwrap(),
            "{name}"
        );
    }
}

/// A range of a file comes back when `data` is a dict with desde and largo.
#[test]
fn descargar_serves_ranges() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let whole = std::fs::read(dir.path().join("grande.bin")).unwrap();
    let ask = |desde: i64, largo: Option<i64>| {
        let mut pairs = vec![("nombre".to_string(), Data::str("grande.bin"))];
        pairs.push(("desde".into(), Data::Int(desde)));
        if let Some(l) = largo {
            pairs.push(("largo".into(), Data::Int(l)));
        }
        Data::Dict(pairs)
    };
    let r = c.ask("descargar", ask(100, Some(1000)));
    assert_eq!(r.bytes(), &whole[100..1100]);
    let r = c.ask("descargar", ask(whole.len() as i64 - 5, None));
    assert_eq!(r.bytes(), &whole[whole.len() - 5..]);
    let r = c.ask("descargar", ask(whole.len() as i64 + 1, None));
    assert_eq!(r.estado, "error");
    let r = c.ask("descargar", ask(-1, None));
    assert_eq!(r.estado, "error");
}

/// Missing files, bad names, folders and non-str data all get `estado="error"` with a message.
#[test]
fn bad_download_requests_get_error_replies() {
    let dir = folder();
    std::fs::create_dir(dir.path().join("carpeta")).unwrap();
    #[cfg(unix)] // symlinks need a privilege on Windows
    common::symlink("/etc/passwd", dir.path().join("fuera"));
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let bad = [
        Data::str("no-existe.txt"),
        Data::str(".."),
        Data::str("."),
        Data::str("../poema.txt"),
        Data::str("/etc/passwd"),
        Data::str("a\\b"),
        Data::str("a\0b"),
        Data::str(""),
        Data::str(".oculto"),
        Data::str("x".repeat(300)),
        Data::str("carpeta"),
        Data::str("fuera"),
        Data::Int(7),
        Data::None,
        Data::Bytes(b"poema.txt".to_vec()),
    ];
    for data in bad {
        let reply = c.ask("descargar", data.clone());
        assert_eq!(reply.estado, "error", "{data:?}");
        assert_eq!(reply.operacion, "descargar");
        assert!(!reply.text().is_empty());
    }
    // The connection is still fine afterwards.
    assert_eq!(c.ask("listar", Data::None).estado, "ok");
}

/// An unknown operation is answered with an error that names it.
#[test]
fn unknown_operation_gets_error_reply() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let reply = server.connect().ask("bailar", Data::None);
    assert_eq!(reply.estado, "error");
    assert_eq!(reply.operacion, "bailar");
    assert!(reply.text().contains("bailar"), "{}", reply.text());
}

/// Several requests written at once are answered in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let mut burst = Vec::new();
    burst.extend(Client::frame("descargar", Data::str("grande.bin")));
    burst.extend(Client::frame("listar", Data::None));
    burst.extend(Client::frame("descargar", Data::str("poema.txt")));
    burst.extend(Client::frame("nada", Data::None));
    c.send_raw(&burst);
    assert_eq!(c.recv().bytes().len(), 5 * 1024 * 1024 + 17);
    assert_eq!(c.recv().operacion, "listar");
    assert_eq!(c.recv().bytes(), "Llueve sobre el campus.\n".as_bytes());
    assert_eq!(c.recv().estado, "error");
}

/// A request followed by a half-close still gets its whole reply, then the server closes.
#[test]
fn half_close_after_request_still_gets_reply() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    c.send("descargar", Data::str("grande.bin"));
    c.stream.shutdown(std::net::Shutdown::Write).unwrap();
    assert_eq!(c.recv().bytes().len(), 5 * 1024 * 1024 + 17);
    assert!(c.closed_by_server());
}

/// Bytes that are not a pickle get an error reply, and the connection keeps working.
#[test]
fn a_payload_that_is_not_a_pickle_gets_an_error_reply() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let http = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut frame = (http.len() as u32).to_be_bytes().to_vec();
    frame.extend_from_slice(http);
    c.send_raw(&frame);
    let reply = c.recv();
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("inválido"));
    c.send_raw(&[0, 0, 0, 0]);
    assert_eq!(c.recv().estado, "error", "an empty frame is answered too");
    assert_eq!(c.ask("listar", Data::None).estado, "ok");
}

/// A length prefix over the limit gets an error reply and then the connection closes.
#[test]
fn a_frame_over_the_limit_is_answered_then_closed() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--max-frame", "1024"]);
    let mut c = server.connect();
    c.send_raw(&[0xff, 0xff, 0xff, 0xff]);
    let reply = c.recv();
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("demasiado grande"));
    assert!(c.closed_by_server());
    // Other clients are unaffected.
    assert_eq!(server.connect().ask("listar", Data::None).estado, "ok");
}

/// A client that disappears halfway through a download costs nothing afterwards.
#[cfg(target_os = "linux")] // reads /proc
#[test]
fn a_client_vanishing_mid_download_leaks_nothing() {
    let dir = folder();
    dir.write("enorme.bin", &pattern(64 * 1024 * 1024));
    let server = Server::start(dir.path(), &[]);
    // The baseline counts this client's descriptor, so it need not wait for a close.
    let mut probe = server.connect();
    assert_eq!(probe.ask("listar", Data::None).estado, "ok");
    let baseline = server.fd_count();
    for _ in 0..5 {
        let mut c = server.connect();
        c.send("descargar", Data::str("enorme.bin"));
        let mut some = [0u8; 65536];
        std::io::Read::read_exact(&mut c.stream, &mut some).unwrap();
        drop(c);
    }
    // The server notices each reset on its next write and lets the connection go.
    wait_until(
        "the server gives its descriptors back",
        Duration::from_secs(10),
        || server.fd_count() <= baseline,
    );
    assert_eq!(probe.ask("descargar", Data::str("poema.txt")).estado, "ok");
}

/// Fifty clients at once all get their lists and files.
#[test]
fn fifty_clients_at_once_are_all_served() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let expected = std::fs::read(dir.path().join("grande.bin")).unwrap();
    let port = server.port;
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let expected = expected.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                assert_eq!(c.ask("listar", Data::None).names().len(), 4);
                if i % 5 == 0 {
                    assert_eq!(c.ask("descargar", Data::str("grande.bin")).bytes(), &expected[..]);
                } else {
                    assert_eq!(
                        c.ask("descargar", Data::str("con espacio.bin")).bytes().len(),
                        1000
                    );
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// Past --max-clients, a new connection gets an error reply and is closed; others carry on.
#[test]
fn clients_over_the_limit_get_an_error_then_close() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--max-clients", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.ask("listar", Data::None).estado, "ok");
    assert_eq!(b.ask("listar", Data::None).estado, "ok");
    let mut third = server.connect();
    let reply = third.recv();
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("lleno"));
    assert!(third.closed_by_server());
    assert_eq!(a.ask("listar", Data::None).estado, "ok");
}

/// A client that behaves like the course's when the server is full (connect, wait a
/// little, send its request in two writes, then read) gets the refusal in words, not a
/// reset: the server keeps reading after its error frame instead of closing at once.
#[test]
fn a_course_client_past_the_limit_reads_the_refusal() {
    use std::io::{Read, Write};
    let dir = folder();
    let server = Server::start(dir.path(), &["--max-clients", "2"]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.ask("listar", Data::None).estado, "ok");
    assert_eq!(b.ask("listar", Data::None).estado, "ok");
    let mut third = std::net::TcpStream::connect(("127.0.0.1", server.port)).unwrap();
    third.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    // The error frame is written on accept: let it arrive before the request goes out,
    // as it does for the course's client, which waits for its user.
    std::thread::sleep(Duration::from_millis(300));
    let frame = Client::frame("listar", Data::None);
    third.write_all(&frame[..4]).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    third.write_all(&frame[4..]).unwrap();
    let mut len = [0u8; 4];
    third.read_exact(&mut len).unwrap();
    let mut payload = vec![0; u32::from_be_bytes(len) as usize];
    third.read_exact(&mut payload).unwrap();
    let reply = almacen::message::parse_reply(&payload, almacen::pickle::Limits::default()).unwrap();
    assert_eq!(reply.estado, "error");
    assert_eq!(
        reply.data,
        almacen::pickle::Value::String("servidor lleno, intente más tarde".into())
    );
    // Then the end of the connection, not a reset.
    assert_eq!(third.read(&mut len).unwrap(), 0);
    assert_eq!(a.ask("listar", Data::None).estado, "ok");
}

/// A partial frame that stops advancing is closed after --frame-timeout.
#[test]
fn a_stalled_partial_frame_is_closed() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--frame-timeout", "1"]);
    let mut slow = server.connect();
    slow.send_raw(&[0, 0, 0, 50, 0x80]);
    let mut idle = server.connect();
    let started = std::time::Instant::now();
    assert!(slow.closed_by_server());
    assert!(started.elapsed() >= Duration::from_millis(900));
    // An idle connection with no partial frame is left alone.
    assert_eq!(idle.ask("listar", Data::None).estado, "ok");
}

/// A plain dict request gets a plain dict reply (for clients in other languages).
#[test]
fn dict_requests_get_dict_replies() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let frame = almacen::message::frame_request(&almacen::pickle::Envelope::Dict, "listar", &Data::None);
    c.send_raw(&frame);
    let reply = c.recv();
    assert_eq!(reply.estado, "ok");
    assert_eq!(reply.envelope, almacen::pickle::Envelope::Dict);
}
