//! Hostile input: each case ends in a clear error reply or a clean close, the server stays
//! up with bounded memory, and a bystander client connected all along is unaffected.
//!
//! Each test prints the server's peak RSS (`VmHWM`) on stderr; `cargo test --test hostile
//! -- --nocapture` shows them all.

// Some tests read /proc and are Linux-only; elsewhere their imports go unused.
#![cfg_attr(not(target_os = "linux"), allow(unused_imports))]

mod common;

use almacen::pickle::{Data, Value};
use common::{pattern, wait_until, Client, Server, TempDir};
use std::fs;
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn folder() -> TempDir {
    let dir = TempDir::new("hostile");
    dir.write("poema.txt", "Llueve sobre el campus.\n".as_bytes());
    dir.write("mega.bin", &pattern(1024 * 1024));
    dir
}

/// The bystander still gets exact answers.
fn still_serves(c: &mut Client) {
    assert_eq!(
        c.ask("descargar", Data::str("poema.txt")).bytes(),
        "Llueve sobre el campus.\n".as_bytes()
    );
}

/// Peak RSS so far, printed for the record and checked against a generous bound. (It comes
/// from /proc: elsewhere only the replies are checked.)
fn peak_rss(server: &Server, case: &str, bound_kb: u64) -> u64 {
    #[cfg(target_os = "linux")]
    {
        let kb = server.status_kb("VmHWM");
        eprintln!("peak RSS after {case}: {kb} kB");
        assert!(kb < bound_kb, "{case}: peak RSS {kb} kB over {bound_kb} kB");
        kb
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (server, case, bound_kb);
        0
    }
}

fn framed(payload: &[u8]) -> Vec<u8> {
    let mut f = (payload.len() as u32).to_be_bytes().to_vec();
    f.extend_from_slice(payload);
    f
}

/// Waits until the server holds at most `fds` descriptors (it notices closes on its next
/// turn); panics if it never does.
#[cfg(target_os = "linux")] // reads /proc
fn settle_fds(server: &Server, fds: usize) {
    wait_until(
        "the server gives its descriptors back",
        Duration::from_secs(10),
        || server.fd_count() <= fds,
    );
}

/// Length prefixes of 0xFFFFFFFF (refused, then closed) and 0 (an error, then business as usual).
#[test]
fn absurd_length_prefixes() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    let mut c = server.connect();
    c.send_raw(&[0xff, 0xff, 0xff, 0xff]);
    let reply = c.recv();
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("demasiado grande"), "{}", reply.text());
    assert!(c.closed_by_server());
    let mut z = server.connect();
    z.send_raw(&[0, 0, 0, 0]);
    assert_eq!(z.recv().estado, "error");
    assert_eq!(z.ask("listar", Data::None).estado, "ok");
    still_serves(&mut bystander);
    peak_rss(&server, "length prefixes", 16 * 1024);
}

/// An HTTP request sent to the port: its first four bytes read as a huge length, so it is
/// refused with an error reply and closed.
#[test]
fn an_http_request_is_refused_and_closed() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    let mut c = server.connect();
    c.send_raw(b"GET /poema.txt HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(c.recv().estado, "error");
    assert!(c.closed_by_server());
    still_serves(&mut bystander);
}

/// MARK floods, deep nesting, DUP and memo-get blow-ups, and lying byte lengths are each
/// refused with an error reply, fast and without memory growth.
#[cfg(target_os = "linux")] // reads /proc
#[test]
fn pickle_bombs_are_refused_with_flat_memory() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    let before = server.status_kb("VmRSS");
    let mut bombs: Vec<(&str, Vec<u8>)> = Vec::new();
    let mut marks = vec![0x80, 4];
    marks.extend(std::iter::repeat_n(b'(', 1 << 20));
    bombs.push(("1 MB of MARK", marks));
    for levels in [7_000usize, 200_000] {
        let mut p = vec![0x80, 4];
        for _ in 0..levels {
            p.extend_from_slice(b"](");
        }
        bombs.push(("deep nesting", p));
    }
    let mut dup = b"\x80\x04]".to_vec();
    dup.extend(std::iter::repeat_n(b'2', 100_000));
    bombs.push(("DUP", dup));
    let mut gets = vec![0x80, 4, b']', 0x94, b'('];
    for _ in 0..100_000 {
        gets.extend_from_slice(&[b'h', 0]);
    }
    gets.extend_from_slice(b"e.");
    bombs.push(("BINGET of a container", gets));
    let mut big_str = vec![0x80, 4, b']', b'(', b'X'];
    big_str.extend_from_slice(&100_000u32.to_le_bytes());
    big_str.extend(std::iter::repeat_n(b'x', 100_000));
    big_str.push(0x94);
    for _ in 0..50_000 {
        big_str.extend_from_slice(&[b'h', 0]);
    }
    big_str.extend_from_slice(b"e.");
    bombs.push(("BINGET of a big str", big_str));
    // The same 1 MB string stored in the memo 3,000 times (each PUT after the first
    // would clone it), and 1,000,000 items appended one by one.
    let mut puts = vec![0x80, 4, b'X'];
    puts.extend_from_slice(&(1u32 << 20).to_le_bytes());
    puts.extend(std::iter::repeat_n(b'a', 1 << 20));
    for _ in 0..3000 {
        puts.extend_from_slice(b"q\x00");
    }
    puts.push(b'.');
    bombs.push(("repeated memo PUTs", puts));
    let mut items = vec![0x80, 4, b']'];
    for _ in 0..1_000_000 {
        items.extend_from_slice(b"Na");
    }
    items.push(b'.');
    bombs.push(("a million appended items", items));
    let mut lying = vec![0x80, 4, b'B'];
    lying.extend_from_slice(&0xffff_fff0u32.to_le_bytes());
    lying.extend_from_slice(b"short.");
    bombs.push(("BINBYTES that lies", lying));
    let mut lying8 = vec![0x80, 4, 0x8e];
    lying8.extend_from_slice(&u64::MAX.to_le_bytes());
    bombs.push(("BINBYTES8 that lies", lying8));

    let mut c = server.connect();
    for (what, payload) in &bombs {
        let started = Instant::now();
        c.send_raw(&framed(payload));
        let reply = c.recv();
        assert_eq!(reply.estado, "error", "{what}");
        eprintln!("{what}: refused in {:?}", started.elapsed());
    }
    // The same connection goes on working: each bomb was a whole frame.
    assert_eq!(c.ask("listar", Data::None).estado, "ok");
    still_serves(&mut bystander);
    let peak = peak_rss(&server, "pickle bombs", 32 * 1024);
    assert!(
        peak < before + 16 * 1024,
        "memory grew from {before} to {peak} kB"
    );
}

/// A pickle that would run `os.system` when loaded is refused; nothing runs and nothing of
/// it reaches a subscriber.
#[test]
fn a_code_running_pickle_is_refused_and_never_relayed() {
    let dir = folder();
    let marker = dir.path().join("pwned");
    let server = Server::start(dir.path(), &[]);
    let mut sub = server.connect();
    assert_eq!(sub.ask("suscribir", Data::None).estado, "ok");
    let cmd = format!("touch {}", marker.display());
    // Protocol 4: posix.system(cmd) via STACK_GLOBAL + REDUCE, as the attack would be.
    let mut p = vec![0x80, 4, 0x8c, 5];
    p.extend_from_slice(b"posix");
    p.extend_from_slice(&[0x8c, 6]);
    p.extend_from_slice(b"system");
    p.push(0x93);
    p.push(0x8c);
    p.push(cmd.len() as u8);
    p.extend_from_slice(cmd.as_bytes());
    p.extend_from_slice(&[0x85, b'R', b'.']);
    // And the classic protocol 0 form, wrapped as the `texto` of a message to everyone.
    let classic = format!("cos\nsystem\n(S'{cmd}'\ntR.");
    let mut attacker = server.connect();
    attacker.send_raw(&framed(&p));
    assert_eq!(attacker.recv().estado, "error");
    attacker.send_raw(&framed(classic.as_bytes()));
    assert_eq!(attacker.recv().estado, "error");
    let texto = Data::dict([("para", Data::str("todos")), ("texto", Data::Bytes(p.clone()))]);
    assert_eq!(
        attacker.ask("mensaje", texto).estado,
        "error",
        "texto must be a str"
    );
    // The subscriber's next frame is the reply to its own request: nothing was relayed.
    assert_eq!(sub.ask("listar", Data::None).operacion, "listar");
    assert!(!marker.exists());
}

/// A symlink pointing out of the folder is not listed, not served, and never written through.
#[cfg(unix)] // symlinks need a privilege on Windows
#[test]
fn a_symlink_out_of_the_folder_is_never_followed() {
    let dir = folder();
    let outside = TempDir::new("outside");
    outside.write("secreto.txt", b"no tocar");
    common::symlink(outside.path().join("secreto.txt"), dir.path().join("fuera"));
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    assert!(!c.ask("listar", Data::None).names().contains(&"fuera".to_string()));
    assert_eq!(c.ask("descargar", Data::str("fuera")).estado, "error");
    assert_eq!(c.ask("borrar", Data::str("fuera")).estado, "error");
    assert_eq!(c.ask("difundir", Data::str("fuera")).estado, "error");
    assert_eq!(c.ask("duplicar", Data::str("fuera")).estado, "error");
    let to_fuera = Data::dict([("nombre", Data::str("poema.txt")), ("nuevo", Data::str("fuera"))]);
    assert_eq!(c.ask("renombrar", to_fuera.clone()).estado, "error");
    assert_eq!(c.ask("duplicar", to_fuera).estado, "error");
    let up = |replace| {
        Data::dict([
            ("nombre", Data::str("fuera")),
            ("contenido", Data::Bytes(b"escrito".to_vec())),
            ("reemplazar", Data::Bool(replace)),
        ])
    };
    assert_eq!(c.ask("subir", up(false)).estado, "error");
    // Replacing swaps the link itself for a file inside the folder; the target is untouched.
    assert_eq!(c.ask("subir", up(true)).estado, "ok");
    assert_eq!(fs::read(outside.path().join("secreto.txt")).unwrap(), b"no tocar");
    assert_eq!(fs::read(dir.path().join("fuera")).unwrap(), b"escrito");
    assert!(!fs::symlink_metadata(dir.path().join("fuera"))
        .unwrap()
        .is_symlink());
}

/// Slowloris: a thousand connections each holding half a frame. Others are served, and the
/// stalled ones are closed after --frame-timeout, giving back every descriptor.
#[cfg(target_os = "linux")] // reads /proc
#[test]
fn a_thousand_half_frames_are_timed_out() {
    let want = 1000;
    // Without a known limit, try them all: a failed connect then fails the test.
    let limit = almacen::server::raise_open_file_limit().unwrap_or(u64::MAX);
    let count = want.min(limit.saturating_sub(100) as usize);
    assert!(
        count > 0,
        "an open-file limit of {limit} leaves no room for the test"
    );
    if count < want {
        eprintln!("open-file limit {limit}: using {count} connections instead of {want}");
    }
    let dir = folder();
    let server = Server::start(dir.path(), &["--frame-timeout", "2"]);
    let mut bystander = server.connect();
    still_serves(&mut bystander);
    let baseline = server.fd_count();
    let mut slow: Vec<Client> = (0..count).map(|_| server.connect()).collect();
    for c in slow.iter_mut() {
        c.send_raw(&[0, 0, 0, 100, 0x80, 4]);
    }
    still_serves(&mut bystander);
    // Every connection is accepted and held (for the two seconds of --frame-timeout): the
    // server has a descriptor for each.
    wait_until(
        "the server holds every slow connection",
        Duration::from_secs(10),
        || server.fd_count() >= baseline + count,
    );
    for c in slow.iter_mut() {
        assert!(c.closed_by_server());
    }
    drop(slow);
    settle_fds(&server, baseline);
    still_serves(&mut bystander);
    peak_rss(&server, "slowloris", 32 * 1024);
}

/// A client that pipelines thousands of downloads and never reads: its queue stays bounded,
/// others are served, and everything is released when it leaves.
#[cfg(target_os = "linux")] // reads /proc
#[test]
fn pipelined_downloads_never_read_stay_bounded() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    still_serves(&mut bystander);
    let baseline = server.fd_count();
    let greedy = server.connect();
    let mut burst = Vec::new();
    for _ in 0..5000 {
        burst.extend(Client::frame("descargar", Data::str("mega.bin")));
    }
    // Written from a thread: the server stops reading once this client's queue is full,
    // so the whole burst never fits in the socket buffers.
    let mut writer = greedy.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&burst);
    });
    // Once its queue is full the server stops reading this client, and what it sends
    // piles up unread in the server's socket: wait for that.
    wait_until(
        "the server stops reading the greedy client",
        Duration::from_secs(20),
        || server.unread_from(&greedy) >= 64 * 1024,
    );
    still_serves(&mut bystander);
    assert!(
        server.fd_count() < baseline + 64,
        "queued downloads hold open files"
    );
    peak_rss(&server, "pipelined downloads", 16 * 1024);
    greedy.stream.shutdown(std::net::Shutdown::Both).unwrap();
    drop(greedy);
    sender.join().unwrap();
    settle_fds(&server, baseline);
    still_serves(&mut bystander);
}

/// A frame trickled one byte at a time is answered like any other.
#[test]
fn a_frame_trickled_byte_by_byte_is_answered() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    c.stream.set_nodelay(true).unwrap();
    for b in Client::frame("descargar", Data::str("poema.txt")) {
        c.send_raw(&[b]);
        // Pacing, so that most bytes arrive in reads of their own; nothing waits on it.
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(c.recv().bytes(), "Llueve sobre el campus.\n".as_bytes());
}

/// Twenty clients vanishing mid-download leave no descriptor behind.
#[cfg(target_os = "linux")] // reads /proc
#[test]
fn twenty_vanishing_downloaders_leak_no_fds() {
    let dir = folder();
    dir.write("enorme.bin", &pattern(32 * 1024 * 1024));
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    still_serves(&mut bystander);
    let baseline = server.fd_count();
    let mut leaving: Vec<Client> = (0..20).map(|_| server.connect()).collect();
    for c in leaving.iter_mut() {
        c.send("descargar", Data::str("enorme.bin"));
        let mut some = [0u8; 4096];
        c.stream.read_exact(&mut some).unwrap();
    }
    drop(leaving);
    settle_fds(&server, baseline);
    still_serves(&mut bystander);
}

/// 150 connections under `ulimit -n 64`: each is served or refused with an error, the
/// server does not spin, and it serves again once they close.
#[cfg(target_os = "linux")] // an rlimit (Unix), and CPU time from /proc
#[test]
fn more_connections_than_descriptors() {
    let dir = folder();
    let server = Server::start_with_fd_limit(dir.path(), &[], 64);
    let baseline = server.fd_count();
    let mut clients: Vec<Client> = (0..150).map(|_| server.connect()).collect();
    let (mut served, mut refused) = (0, 0);
    for c in clients.iter_mut() {
        c.send("listar", Data::None);
        let reply = c.recv();
        match reply.estado.as_str() {
            "ok" => served += 1,
            _ => {
                assert!(reply.text().contains("lleno"), "{}", reply.text());
                refused += 1;
            }
        }
    }
    assert!(served > 0 && refused > 0, "served {served}, refused {refused}");
    let before = server.cpu_ticks();
    // A measuring window, not a wait for something to happen.
    std::thread::sleep(Duration::from_millis(1000));
    let used = server.cpu_ticks() - before;
    assert!(used <= 5, "the server used {used} ticks in one idle second");
    drop(clients);
    settle_fds(&server, baseline);
    let mut again = server.connect();
    still_serves(&mut again);
}

/// An upload bigger than --max-frame is refused with an error and a close; nothing appears.
#[test]
fn an_upload_over_the_size_limit_is_refused() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--max-frame", "1048576"]);
    let mut c = server.connect();
    let up = Data::dict([
        ("nombre", Data::str("enorme.bin")),
        ("contenido", Data::Bytes(pattern(2 * 1024 * 1024))),
    ]);
    let frame = Client::frame("subir", up);
    // The server answers as soon as it has read the length; the rest may never be read.
    let _ = c.stream.write_all(&frame[..64 * 1024]);
    let reply = c.recv();
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("subir_parte"), "{}", reply.text());
    assert!(c.closed_by_server());
    assert!(!dir.path().join("enorme.bin").exists());
}

/// On a full disk (a 1 MiB tmpfs) uploads fail with a clear error, nothing half-written is
/// visible, other files are intact, and the space comes back.
#[cfg(target_os = "linux")] // mounts a tmpfs
#[test]
#[ignore = "mounts a tmpfs, which needs root on Linux; .ci/run runs it where it can"]
fn a_full_disk_loses_nothing() {
    let mount = TempDir::new("tmpfs");
    let ok = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(mount.path())
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "cannot mount a tmpfs here: run this test as root on Linux");
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _guard = Unmount(mount.path().to_path_buf());
    fs::write(mount.path().join("poema.txt"), "Llueve sobre el campus.\n").unwrap();
    let server = Server::start(mount.path(), &[]);
    let mut c = server.connect();
    let up = Data::dict([
        ("nombre", Data::str("grande.bin")),
        ("contenido", Data::Bytes(pattern(2 * 1024 * 1024))),
    ]);
    let reply = c.ask("subir", up);
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("espacio"), "{}", reply.text());

    // In parts: the part that does not fit is refused and `recibidos` stays true.
    let mut staged = 0u64;
    let mut refused = false;
    for i in 0..8u64 {
        let part = Data::dict([
            ("nombre", Data::str("partes.bin")),
            ("contenido", Data::Bytes(pattern(256 * 1024))),
            ("desde", Data::Int(staged as i64)),
        ]);
        let reply = c.ask("subir_parte", part);
        if reply.estado == "error" {
            assert!(reply.text().contains("espacio"), "{}", reply.text());
            refused = true;
            break;
        }
        staged = (i + 1) * 256 * 1024;
    }
    assert!(refused, "a 1 MiB disk cannot hold 2 MiB of parts");
    let ask = Data::dict([("nombre", Data::str("partes.bin"))]);
    let reply = c.ask("subir_parte", ask);
    let Some(Value::I64(n)) = almacen::pickle::decode::get(&reply.data, "recibidos") else {
        panic!("{:?}", reply.data)
    };
    assert_eq!(
        *n as u64, staged,
        "what is staged is exactly what was acknowledged"
    );

    let mut names: Vec<String> = fs::read_dir(mount.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    assert_eq!(names, ["poema.txt"]);
    assert_eq!(
        fs::read(mount.path().join("poema.txt")).unwrap(),
        "Llueve sobre el campus.\n".as_bytes()
    );
    // Starting the parts over frees their space, and a small upload then fits.
    let restart = Data::dict([
        ("nombre", Data::str("partes.bin")),
        ("contenido", Data::Bytes(b"corto".to_vec())),
        ("desde", Data::Int(0)),
        ("fin", Data::Bool(true)),
    ]);
    assert_eq!(c.ask("subir_parte", restart).estado, "ok");
    let small = Data::dict([
        ("nombre", Data::str("chico.txt")),
        ("contenido", Data::Bytes(b"hola".to_vec())),
    ]);
    assert_eq!(c.ask("subir", small).estado, "ok");
    still_serves(&mut c);
}

/// Requests held back while a client is slow to read its replies are ours to hold: the
/// client is not closed as stalled, and gets every reply once it reads.
#[test]
fn pipelined_requests_held_by_backpressure_are_not_a_stall() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--frame-timeout", "1"]);
    let mut c = server.connect();
    let mut burst = Vec::new();
    for _ in 0..60 {
        burst.extend(Client::frame("descargar", Data::str("mega.bin")));
    }
    c.send_raw(&burst);
    // Not a wait for an event: the test needs more than --frame-timeout to pass while
    // the requests are held, to show that holding them is not taken for a stall.
    std::thread::sleep(Duration::from_millis(2500));
    let expected = pattern(1024 * 1024);
    for i in 0..60 {
        assert!(c.recv().bytes() == &expected[..], "reply {i}");
    }
}

/// A set of NaN floats once made the decoder's sort panic (a fuzzing find): now it is an
/// error reply, and the server lives on.
#[test]
fn a_set_of_nans_is_refused_without_a_crash() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut bystander = server.connect();
    // {"operacion": "listar", "data": {nan, nan, nan}}, protocol 4
    let mut p = b"\x80\x04}(\x8c\toperacion\x8c\x06listar\x8c\x04data\x8f(".to_vec();
    for _ in 0..3 {
        p.push(b'G');
        p.extend_from_slice(&f64::NAN.to_be_bytes());
    }
    p.extend_from_slice(b"\x90u.");
    let mut c = server.connect();
    c.send_raw(&framed(&p));
    assert_eq!(c.recv().estado, "error");
    still_serves(&mut bystander);
}

// ---- Protocol 2: the same promise after `hola` (the cases of src/protocol/v2's unit tests and
// the proto2_frame fuzz target, against the real server).

#[cfg(feature = "proto2")]
/// A connection switched to protocol 2 by a pickled `hola`.
fn v2(server: &Server) -> Client {
    let mut c = server.connect();
    let r = c.ask("hola", Data::dict([("version", Data::Int(2))]));
    assert_eq!(r.estado, "ok", "{:?}", r.data);
    c
}

#[cfg(feature = "proto2")]
/// A protocol-2 frame around JSON text.
fn json_frame(json: &[u8]) -> Vec<u8> {
    almacen::protocol::v2::encode::frame_json(json)
}

#[cfg(feature = "proto2")]
/// Reads one protocol-2 frame (decoded by serde_json, not by the server's code): its
/// header and its raw bytes.
fn recv_v2(c: &mut Client) -> (serde_json::Value, Vec<u8>) {
    let json = c.read_payload().expect("a protocol-2 frame");
    let head: serde_json::Value = serde_json::from_slice(&json).expect("the server writes JSON");
    let mut raw = vec![0; head["bytes"].as_u64().unwrap_or(0) as usize];
    c.stream.read_exact(&mut raw).unwrap();
    (head, raw)
}

#[cfg(feature = "proto2")]
/// The next frame is an error reply whose text contains `text`; returns its header.
fn v2_error(c: &mut Client, text: &str) -> serde_json::Value {
    let (head, raw) = recv_v2(c);
    assert_eq!(head["estado"], "error", "{head}");
    let said = head["data"].as_str().unwrap_or_default();
    assert!(said.contains(text), "{text:?} not in {head}");
    assert!(raw.is_empty());
    head
}

#[cfg(feature = "proto2")]
/// The bystander in protocol 2 still gets exact bytes, raw after the JSON.
fn v2_still_serves(c: &mut Client) {
    c.send_raw(&json_frame(
        br#"{"id":77,"operacion":"descargar","data":"poema.txt"}"#,
    ));
    let (head, raw) = recv_v2(c);
    assert_eq!(
        (head["id"].as_u64(), head["estado"].as_str()),
        (Some(77), Some("ok"))
    );
    assert_eq!(raw, "Llueve sobre el campus.\n".as_bytes());
}

#[cfg(feature = "proto2")]
/// Frames whose end cannot be known (a huge L, JSON too deep, too many items, not UTF-8,
/// not JSON, a `bytes` that is unusable, twice, or over the limit) each get an error
/// reply and a close; bystanders in both protocols are served all along.
#[test]
fn protocol_2_frames_without_a_known_end_get_an_error_and_a_close() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--max-frame", "1048576"]);
    let mut course = server.connect();
    let mut bystander = v2(&server);
    let deep = format!(
        r#"{{"id":1,"operacion":"listar","data":{}{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    let flood = format!(
        r#"{{"id":1,"operacion":"listar","data":[{}0]}}"#,
        "0,".repeat(100_001)
    );
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("L of 4 GiB", vec![0xff; 4], "encabezado JSON demasiado grande"),
        (
            "L one over 1 MiB",
            vec![0, 0x10, 0, 1],
            "encabezado JSON demasiado grande",
        ),
        (
            "nesting 40 deep",
            json_frame(deep.as_bytes()),
            "anidación demasiado profunda",
        ),
        (
            "unclosed brackets",
            json_frame(&[b'['; 500_000]),
            "anidación demasiado profunda",
        ),
        (
            "100,001 items",
            json_frame(flood.as_bytes()),
            "demasiados elementos",
        ),
        (
            "invalid UTF-8",
            json_frame(b"{\"id\":1,\"operacion\":\"\xff\xfe\"}"),
            "no es UTF-8",
        ),
        (
            "not JSON",
            json_frame(b"{\"operacion\" \"listar\"}"),
            "JSON mal formado",
        ),
        (
            "JSON cut short",
            json_frame(b"{\"operacion\":"),
            "termina antes de tiempo",
        ),
        ("empty JSON", json_frame(b""), "termina antes de tiempo"),
        (
            "negative bytes",
            json_frame(br#"{"id":1,"operacion":"subir","bytes":-1}"#),
            "bytes debe ser un entero no negativo",
        ),
        (
            "bytes twice",
            json_frame(br#"{"id":1,"operacion":"subir","bytes":1,"bytes":2}"#),
            "la clave bytes se repite",
        ),
        (
            "bytes over the limit",
            json_frame(br#"{"id":9,"operacion":"subir","data":{"nombre":"x.bin"},"bytes":1048577}"#),
            "mensaje demasiado grande (1048577 bytes",
        ),
        (
            "bytes over 2^64",
            json_frame(br#"{"id":1,"operacion":"subir","bytes":18446744073709551616}"#),
            "bytes debe ser un entero no negativo",
        ),
    ];
    for (what, frame, text) in &cases {
        let mut c = v2(&server);
        // Only what the server reads goes out, so its close is clean (no reset that could
        // discard the reply before we read it).
        c.send_raw(frame);
        let head = v2_error(&mut c, text);
        if *what == "bytes over the limit" {
            // Its header was read, so the reply says whose request it was.
            assert_eq!(
                (head["id"].as_u64(), head["operacion"].as_str()),
                (Some(9), Some("subir"))
            );
        }
        assert!(c.closed_by_server(), "{what}: not closed");
        eprintln!("{what}: {}", head["data"]);
        v2_still_serves(&mut bystander);
        still_serves(&mut course);
    }
    assert!(!dir.path().join("x.bin").exists());
    peak_rss(&server, "protocol-2 frames without an end", 32 * 1024);
}

#[cfg(feature = "proto2")]
/// Frames whose end is known but whose content is wrong (a root that is not an object,
/// duplicate keys, numbers too big or with a fraction, a bad id, no operacion, contenido
/// both in data and raw) each get an error echoing what could be read, and the same
/// connection goes on to be served.
#[test]
fn protocol_2_shape_errors_get_an_error_and_the_connection_goes_on() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = v2(&server);
    // (JSON, raw bytes after it, the id the reply echoes, the error's text or "" for ok)
    type Case = (&'static [u8], &'static [u8], Option<u64>, &'static str);
    let cases: Vec<Case> =
        vec![
        (b"[1,2]", b"", None, "se esperaba un objeto JSON"),
        (b"\"hola\"", b"", None, "se esperaba un objeto JSON"),
        (
            br#"{"id":5,"operacion":"listar","operacion":"borrar"}"#,
            b"",
            Some(5),
            "la clave operacion se repite",
        ),
        (
            br#"{"id":6,"operacion":"borrar","data":{"nombre":"poema.txt","nombre":"mega.bin"}}"#,
            b"",
            Some(6),
            "la clave nombre se repite",
        ),
        (
            br#"{"id":7,"operacion":"descargar","data":{"nombre":"poema.txt","desde":99999999999999999999}}"#,
            b"",
            Some(7),
            "número demasiado grande",
        ),
        (
            br#"{"id":8,"operacion":"descargar","data":{"nombre":"poema.txt","desde":9223372036854775808}}"#,
            b"",
            Some(8),
            "número demasiado grande",
        ),
        (
            br#"{"id":9,"operacion":"descargar","data":{"nombre":"poema.txt","desde":1.5}}"#,
            b"",
            Some(9),
            "los números deben ser enteros",
        ),
        (
            br#"{"id":18446744073709551616,"operacion":"listar"}"#,
            b"",
            None,
            "id debe ser un entero",
        ),
        (br#"{"id":-3,"operacion":"listar"}"#, b"", None, "id debe ser un entero"),
        (br#"{"id":10}"#, b"", Some(10), "falta operacion"),
        (br#"{"id":11,"operacion":5}"#, b"", Some(11), "operacion debe ser un str"),
        (
            br#"{"id":12,"operacion":"subir","data":{"nombre":"a.txt","contenido":"x"},"bytes":3}"#,
            b"abc",
            Some(12),
            "contenido va en los bytes",
        ),
        (
            br#"{"id":13,"operacion":"subir","data":"a.txt","bytes":3}"#,
            b"abc",
            Some(13),
            "necesita que data sea un objeto",
        ),
        (
            br#"{"id":14,"operacion":"subir","data":{"nombre":"a.txt"},"bytes":0,"otra":[1,{"x":2}]}"#,
            b"",
            Some(14),
            "",
        ),
    ];
    for (json, raw, id, text) in &cases {
        let mut frame = json_frame(json);
        frame.extend_from_slice(raw);
        c.send_raw(&frame);
        let (head, body) = recv_v2(&mut c);
        let what = String::from_utf8_lossy(json);
        assert_eq!(head["id"].as_u64(), *id, "{what}: {head}");
        if text.is_empty() {
            // Unknown keys are skipped; an empty upload is a real one.
            assert_eq!(head["estado"], "ok", "{what}: {head}");
        } else {
            assert_eq!(head["estado"], "error", "{what}: {head}");
            assert!(head["data"].as_str().unwrap().contains(text), "{what}: {head}");
        }
        assert!(body.is_empty());
        v2_still_serves(&mut c);
    }
    // Neither of the names a duplicate key offered was deleted.
    assert!(dir.path().join("poema.txt").exists() && dir.path().join("mega.bin").exists());
    assert_eq!(fs::read(dir.path().join("a.txt")).unwrap(), b"");
    let mut course = server.connect();
    still_serves(&mut course);
}

#[cfg(feature = "proto2")]
/// `bytes` that lie: fewer raw bytes than announced are timed out like any half frame,
/// and nothing is published; more than announced leave the rest to be read as the next
/// frame, which is refused with a close (the announced bytes were a whole upload). Others
/// are served all along.
#[test]
fn protocol_2_bytes_that_lie_are_timed_out_or_refused() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--frame-timeout", "2"]);
    let mut course = server.connect();
    let mut bystander = v2(&server);

    let mut short = v2(&server);
    let mut frame = json_frame(br#"{"id":1,"operacion":"subir","data":{"nombre":"corto.bin"},"bytes":1000}"#);
    frame.extend_from_slice(&[7; 10]);
    short.send_raw(&frame);
    v2_still_serves(&mut bystander);
    assert!(short.closed_by_server(), "a frame missing 990 bytes is timed out");
    assert!(!dir.path().join("corto.bin").exists());

    let mut long = v2(&server);
    let mut frame = json_frame(br#"{"id":2,"operacion":"subir","data":{"nombre":"largo.bin"},"bytes":3}"#);
    frame.extend_from_slice(b"abc");
    // Seven bytes more than announced: the next frame's L is "defg", far over 1 MiB.
    frame.extend_from_slice(b"defghij");
    long.send_raw(&frame);
    let (head, _) = recv_v2(&mut long);
    assert_eq!(
        (head["id"].as_u64(), head["estado"].as_str()),
        (Some(2), Some("ok"))
    );
    v2_error(&mut long, "encabezado JSON demasiado grande");
    assert!(long.closed_by_server());
    assert_eq!(fs::read(dir.path().join("largo.bin")).unwrap(), b"abc");

    v2_still_serves(&mut bystander);
    still_serves(&mut course);
}

#[cfg(feature = "proto2")]
/// A client that subscribes in the course's protocol and then switches with `hola` gets
/// later pushes in protocol 2, the protocol its connection speaks now, not as pickles.
#[test]
fn a_subscriber_that_switches_gets_its_pushes_in_protocol_2() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut sub = server.connect();
    assert_eq!(sub.ask("suscribir", Data::None).estado, "ok");
    let r = sub.ask("hola", Data::dict([("version", Data::Int(2))]));
    assert_eq!(r.estado, "ok", "{:?}", r.data);
    let mut sender = server.connect();
    let sent = sender.ask(
        "mensaje",
        Data::dict([("para", Data::str("todos")), ("texto", Data::str("¿llegó?"))]),
    );
    assert_eq!(sent.estado, "ok", "{:?}", sent.data);
    let (head, raw) = recv_v2(&mut sub);
    assert_eq!(head["operacion"], "mensaje", "{head}");
    assert_eq!(head["aviso"], true, "{head}");
    assert_eq!(head["data"]["texto"], "¿llegó?", "{head}");
    assert!(raw.is_empty());
    v2_still_serves(&mut sub);
}

#[cfg(feature = "proto2")]
/// `hola` asking for version 1 on a protocol-2 connection is answered in protocol 2 and
/// changes nothing: there is no way back to pickles on the same connection.
#[test]
fn hola_version_1_after_protocol_2_keeps_protocol_2() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = v2(&server);
    c.send_raw(&json_frame(
        br#"{"id":5,"operacion":"hola","data":{"version":1}}"#,
    ));
    let (head, _) = recv_v2(&mut c);
    assert_eq!(
        (head["id"].as_u64(), head["estado"].as_str()),
        (Some(5), Some("ok")),
        "{head}"
    );
    assert_eq!(head["data"]["version"], 2, "{head}");
    v2_still_serves(&mut c);
}

/// Every file operation in both protocols.
#[cfg(unix)]
fn folder_ops() -> Vec<(&'static str, Data)> {
    let name = |n: &str| Data::dict([("nombre", Data::str(n))]);
    vec![
        ("listar", Data::None),
        ("listar_detalle", Data::None),
        ("descargar", Data::str("poema.txt")),
        ("resumen", name("poema.txt")),
        (
            "subir",
            Data::dict([
                ("nombre", Data::str("nuevo.txt")),
                ("contenido", Data::Bytes(b"hola".to_vec())),
            ]),
        ),
        ("subir_parte", name("parte.bin")),
        (
            "duplicar",
            Data::dict([
                ("nombre", Data::str("poema.txt")),
                ("nuevo", Data::str("copia.txt")),
            ]),
        ),
        (
            "renombrar",
            Data::dict([
                ("nombre", Data::str("poema.txt")),
                ("nuevo", Data::str("otro.txt")),
            ]),
        ),
        ("borrar", name("poema.txt")),
        ("difundir", name("poema.txt")),
    ]
}

/// The same request as protocol-2 JSON.
#[cfg(all(unix, feature = "proto2"))]
fn folder_op_json(id: u64, op: &str, data: &Data) -> Vec<u8> {
    fn json(d: &Data) -> serde_json::Value {
        match d {
            Data::None => serde_json::Value::Null,
            Data::Str(s) => serde_json::Value::from(s.as_str()),
            Data::Dict(items) => items
                .iter()
                .filter_map(|(k, v)| match v {
                    // Bytes travel raw after the header, not in it.
                    Data::Bytes(_) => None,
                    _ => Some((k.to_string(), json(v))),
                })
                .collect::<serde_json::Map<_, _>>()
                .into(),
            other => panic!("not used here: {other:?}"),
        }
    }
    let raw: &[u8] = match data {
        Data::Dict(items) => items
            .iter()
            .find_map(|(_, v)| match v {
                Data::Bytes(b) => Some(b.as_slice()),
                _ => None,
            })
            .unwrap_or_default(),
        _ => &[],
    };
    let mut head = serde_json::json!({"id": id, "operacion": op, "data": json(data)});
    if !raw.is_empty() {
        head["bytes"] = raw.len().into();
    }
    let mut frame = json_frame(head.to_string().as_bytes());
    frame.extend_from_slice(raw);
    frame
}

/// The served folder removed while serving: every file operation, in both protocols,
/// says the folder is gone (none answers an empty list or `recibidos: 0`), the log
/// says it once, and serving resumes when the folder is back.
// Unix only: Windows will not remove a folder while the server holds its staging claim open.
#[cfg(unix)]
#[test]
fn removed_folder_is_reported_by_every_operation() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut course = server.connect();
    #[cfg(feature = "proto2")]
    let mut json = v2(&server);
    fs::remove_dir_all(dir.path()).unwrap();
    // The path is looked at once a millisecond at most: the first requests may still
    // be answered from the (empty) folder the server held.
    wait_until("the server notices", Duration::from_secs(10), || {
        course.ask("listar", Data::None).estado == "error"
    });
    #[cfg_attr(not(feature = "proto2"), allow(unused_variables))]
    for (i, (op, data)) in folder_ops().into_iter().enumerate() {
        let reply = course.ask(op, data.clone());
        assert_eq!(reply.estado, "error", "{op}: {:?}", reply.data);
        assert!(reply.text().contains("ya no está"), "{op}: {}", reply.text());
        #[cfg(feature = "proto2")]
        {
            json.send_raw(&folder_op_json(i as u64, op, &data));
            v2_error(&mut json, "ya no está");
        }
    }
    // Messages between clients do not need the folder.
    assert_eq!(course.ask("clientes", Data::None).estado, "ok");
    fs::create_dir(dir.path()).unwrap();
    fs::write(dir.path().join("vuelta.txt"), b"de nuevo").unwrap();
    let reply = course.ask("listar", Data::None);
    assert_eq!(reply.estado, "ok", "{}", reply.text());
    assert_eq!(reply.names(), ["vuelta.txt"]);
    assert_eq!(
        course.ask("descargar", Data::str("vuelta.txt")).bytes(),
        b"de nuevo"
    );
    wait_until("the warning is logged", Duration::from_secs(10), || {
        server.stderr().contains("ya no está disponible")
    });
    let warned = server.stderr().matches("ya no está disponible").count();
    assert_eq!(warned, 1, "one line, however many asked: {}", server.stderr());
}

/// The served folder swapped for a symlink to another folder while serving: nothing
/// there is listed, served or written; every file operation says the folder is gone.
#[cfg(unix)]
#[test]
fn folder_swapped_for_a_symlink_is_never_served() {
    let dir = folder();
    let other = TempDir::new("otra");
    other.write("secreto.txt", b"no se sirve");
    let server = Server::start(dir.path(), &[]);
    let mut course = server.connect();
    #[cfg(feature = "proto2")]
    let mut json = v2(&server);
    still_serves(&mut course);
    let old = dir.path().with_extension("viejo");
    fs::rename(dir.path(), &old).unwrap();
    common::symlink(other.path(), dir.path());
    wait_until("the server notices", Duration::from_secs(10), || {
        let reply = course.ask("listar", Data::None);
        // Until it notices, it may list the folder it holds; never the other one.
        assert!(reply.estado == "error" || !reply.names().contains(&"secreto.txt".to_string()));
        reply.estado == "error"
    });
    #[cfg_attr(not(feature = "proto2"), allow(unused_variables))]
    for (i, (op, data)) in folder_ops().into_iter().enumerate() {
        let reply = course.ask(op, data.clone());
        assert_eq!(reply.estado, "error", "{op}: {:?}", reply.data);
        assert!(reply.text().contains("ya no está"), "{op}: {}", reply.text());
        #[cfg(feature = "proto2")]
        {
            json.send_raw(&folder_op_json(i as u64, op, &data));
            v2_error(&mut json, "ya no está");
        }
    }
    let reply = course.ask("descargar", Data::str("secreto.txt"));
    assert_eq!(reply.estado, "error");
    let mut there: Vec<String> = fs::read_dir(other.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    there.sort();
    assert_eq!(there, ["secreto.txt"], "nothing written into the other folder");
    fs::remove_file(dir.path()).unwrap();
    fs::rename(&old, dir.path()).unwrap();
}

/// A `borrar` with a write key, as the course client would send it.
fn keyed_borrar(key: &str) -> Vec<u8> {
    Client::frame(
        "borrar",
        Data::dict([("nombre", Data::str("poema.txt")), ("clave", Data::str(key))]),
    )
}

/// Wrong write keys, even pipelined, are refused ever more slowly on their connection,
/// and the fifth closes it; meanwhile the key's holder on another connection writes at
/// once, and its own mistake is forgiven by the right key.
#[test]
fn wrong_keys_are_slowed_then_closed_without_locking_out_the_holder() {
    let dir = folder();
    let key = "una clave bastante larga";
    let server = Server::start(dir.path(), &["--clave", key]);
    let mut guesser = server.connect();
    let mut guesses = Vec::new();
    for i in 0..20 {
        guesses.extend(keyed_borrar(&format!("intento {i}")));
    }
    let sent = Instant::now();
    guesser.send_raw(&guesses);
    // The holder mistypes once, then writes: not held back by the guesser's penalty.
    let mut holder = server.connect();
    holder.send_raw(&keyed_borrar("una clave bastante larg"));
    assert_eq!(holder.recv().text(), "clave incorrecta");
    let upload = Data::dict([
        ("nombre", Data::str("nuevo.txt")),
        ("contenido", Data::Bytes(b"hola".to_vec())),
        ("clave", Data::str(key)),
    ]);
    let reply = holder.ask("subir", upload);
    assert_eq!(reply.estado, "ok", "{}", reply.text());
    for n in 1..=5 {
        let reply = guesser.recv();
        assert_eq!(reply.estado, "error");
        assert!(reply.text().starts_with("clave incorrecta"), "{}", reply.text());
        assert_eq!(
            reply.text().contains("se cierra"),
            n == 5,
            "{n}: {}",
            reply.text()
        );
    }
    // Each refusal is held longer than the one before: 0.25 + 0.5 + 1 + 2 + 2 s at the
    // least (a floor the server must wait, not a speed: a slow machine only adds to it).
    let held = sent.elapsed();
    assert!(held >= Duration::from_millis(5500), "five refusals in {held:?}");
    assert!(guesser.closed_by_server(), "closed after the fifth wrong key");
    // The right key forgives its own connection's mistakes: four wrong, the right one,
    // then a fifth wrong is not the last.
    let mut clumsy = server.connect();
    for i in 0..4 {
        clumsy.send_raw(&keyed_borrar(&format!("casi {i}")));
        assert!(clumsy.recv().text().starts_with("clave incorrecta"));
    }
    let fine = clumsy.ask("listar_detalle", Data::None);
    assert_eq!(fine.estado, "ok");
    let upload = Data::dict([
        ("nombre", Data::str("otro.txt")),
        ("contenido", Data::Bytes(b"hola".to_vec())),
        ("clave", Data::str(key)),
    ]);
    assert_eq!(clumsy.ask("subir", upload).estado, "ok");
    clumsy.send_raw(&keyed_borrar("casi otra vez"));
    let reply = clumsy.recv();
    assert!(!reply.text().contains("se cierra"), "{}", reply.text());
    assert_eq!(clumsy.ask("listar", Data::None).estado, "ok", "still open");
    assert!(dir.path().join("poema.txt").exists(), "no guess deleted anything");
    let mut again = server.connect();
    let reply = again.ask(
        "borrar",
        Data::dict([("nombre", Data::str("nuevo.txt")), ("clave", Data::str(key))]),
    );
    assert_eq!(reply.estado, "ok", "{}", reply.text());
}
