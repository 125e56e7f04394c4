//! The second hardening round's findings, each as a test against the real server: a
//! client that hoards descriptors, clients that stall inside big frames, a copy whose
//! source changes under it, a listed symlink whose target vanishes, and many copies of
//! one file. (The planted staging symlink, the recreated folder and the listen backlog
//! are in tests/platform.rs; the stuck log in tests/logging.rs.)

mod common;

use almacen::pickle::Data;
#[cfg(unix)] // its users are Unix-only
use common::Client;
use common::{pattern, Server, TempDir};

/// A listing of names, from a `listar` reply.
#[cfg(unix)] // its users are Unix-only
fn names(c: &mut Client) -> Vec<String> {
    c.ask("listar", Data::None).names()
}

/// Under `ulimit -n 1024`, 100 clients each pipeline 40 downloads and never read: they
/// cannot take every descriptor, so a client connected all along and a newcomer are both
/// served.
#[cfg(target_os = "linux")] // setrlimit on the spawned server, and /proc for its descriptors
#[test]
fn hoarded_downloads_leave_descriptors_for_others() {
    let dir = TempDir::new("hoard");
    dir.write("mega.bin", &pattern(1024 * 1024));
    dir.write("poema.txt", b"hola");
    let server = Server::start_with_fd_limit(dir.path(), &[], 1024);
    let mut bystander = server.connect();
    assert_eq!(
        bystander.ask("descargar", Data::str("poema.txt")).bytes(),
        b"hola"
    );
    let burst: Vec<u8> = (0..40)
        .flat_map(|_| Client::frame("descargar", Data::str("mega.bin")))
        .collect();
    let mut hoarders = Vec::new();
    for _ in 0..100 {
        let mut c = server.connect();
        c.send_raw(&burst);
        hoarders.push(c);
    }
    // Every hoarder has been read from once the server has opened a file for each.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while server.fd_count() < 100 + 100 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let held = server.fd_count();
    assert!(
        held < 400,
        "{held} descriptors: pipelined downloads were opened ahead"
    );
    assert_eq!(
        bystander.ask("descargar", Data::str("poema.txt")).bytes(),
        b"hola"
    );
    let mut newcomer = server.connect();
    let reply = newcomer.ask("descargar", Data::str("mega.bin"));
    assert_eq!(reply.estado, "ok", "{}", reply.text());
    assert_eq!(reply.bytes().len(), 1024 * 1024);
}

/// Clients that stall inside big frames cannot make the server buffer more than its
/// budget for large requests, and small requests keep being answered meanwhile.
#[cfg(target_os = "linux")] // reads the server's memory from /proc
#[test]
fn stalled_big_frames_stay_within_the_request_budget() {
    let dir = TempDir::new("budget");
    dir.write("poema.txt", b"hola");
    let frame_max = 2 * 1024 * 1024;
    let budget = 8 * 1024 * 1024;
    let server = Server::start(
        dir.path(),
        &[
            "--max-frame",
            &frame_max.to_string(),
            "--max-buffered",
            &budget.to_string(),
        ],
    );
    let mut bystander = server.connect();
    assert_eq!(names(&mut bystander), ["poema.txt"]);
    let before = server.status_kb("VmRSS");
    let almost = frame_max - 64 * 1024;
    let mut stallers = Vec::new();
    for _ in 0..40 {
        let c = server.connect();
        let mut writer = c.stream.try_clone().unwrap();
        writer
            .set_write_timeout(Some(std::time::Duration::from_secs(2)))
            .unwrap();
        stallers.push((
            c,
            std::thread::spawn(move || {
                let mut bytes = (frame_max as u32).to_be_bytes().to_vec();
                bytes.resize(4 + almost, b'x');
                // The server stops reading most of these: the write times out then.
                let _ = std::io::Write::write_all(&mut writer, &bytes);
            }),
        ));
    }
    let stallers: Vec<Client> = stallers
        .into_iter()
        .map(|(c, t)| {
            t.join().unwrap();
            c
        })
        .collect();
    assert_eq!(names(&mut bystander), ["poema.txt"], "small requests still flow");
    let mut newcomer = server.connect();
    assert_eq!(names(&mut newcomer), ["poema.txt"]);
    let peak = server.status_kb("VmHWM");
    let bound = before + (budget + frame_max) as u64 / 1024 + 8 * 1024;
    eprintln!("peak RSS with 40 stalled big frames: {peak} kB (bound {bound} kB)");
    assert!(peak < bound, "peak RSS {peak} kB over {bound} kB");
    drop(stallers);
}

/// A source that changes while it is copied never yields a lying copy: either the
/// reply is ok and the copy is one whole version of the source (before or after the
/// change, depending on who came first), or it is an error and no copy exists.
#[test]
fn a_copy_of_a_changing_source_is_whole_or_absent() {
    let dir = TempDir::new("dup-lie");
    let original = pattern(96 * 1024 * 1024);
    dir.write("grande.bin", &original);
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    c.send("duplicar", Data::str("grande.bin"));
    // Cut the source at once, while the copy is (most likely) still under way.
    let cut = 1024 * 1024;
    std::fs::OpenOptions::new()
        .write(true)
        .open(dir.path().join("grande.bin"))
        .unwrap()
        .set_len(cut as u64)
        .unwrap();
    let reply = c.recv();
    let copy = dir.path().join("grande (copia).bin");
    if reply.estado == "ok" {
        let copied = std::fs::read(&copy).unwrap();
        let whole = copied == original || copied == original[..cut];
        assert!(whole, "an ok copy must be one whole version ({} B)", copied.len());
    } else {
        assert!(reply.text().contains("cambió"), "{}", reply.text());
        assert!(!copy.exists(), "a refused copy must not be published");
    }
}

/// A listed symlink whose target is deleted leaves `listar` as soon as `descargar`
/// refuses it, even while the folder itself did not change.
#[cfg(unix)] // symlinks need privileges on Windows
#[test]
fn a_symlink_whose_target_vanished_is_not_listed() {
    let dir = TempDir::new("dead-link");
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    dir.write("sub/destino.txt", b"hola");
    dir.write("otro.txt", b"x");
    std::os::unix::fs::symlink("sub/destino.txt", dir.path().join("enlace.txt")).unwrap();
    // An old folder timestamp: the listing is remembered from the first request on.
    let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    std::fs::File::open(dir.path())
        .unwrap()
        .set_modified(an_hour_ago)
        .unwrap();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    assert_eq!(names(&mut c), ["enlace.txt", "otro.txt"]);
    assert_eq!(names(&mut c), ["enlace.txt", "otro.txt"], "remembered");
    std::fs::remove_file(dir.path().join("sub/destino.txt")).unwrap();
    let refused = c.ask("descargar", Data::str("enlace.txt"));
    assert_eq!(refused.estado, "error");
    // The remembered listing is trusted for at most a millisecond more.
    std::thread::sleep(std::time::Duration::from_millis(5));
    assert_eq!(names(&mut c), ["otro.txt"]);
    let almacen::pickle::Value::List(_) = c.ask("listar_detalle", Data::None).data else {
        panic!("listar_detalle should be a list")
    };
}

/// With many copies of a file already taken, `duplicar` still names the next one right
/// (the name search gallops over the taken numbers instead of trying each), and a number
/// freed by `borrar` is given out again first.
#[test]
fn duplicar_names_the_next_copy_among_many_taken() {
    let dir = TempDir::new("many-copies");
    dir.write("poema.txt", b"hola");
    dir.write("poema (copia).txt", b"1");
    for n in 2..=300 {
        dir.write(&format!("poema (copia {n}).txt"), b"n");
    }
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let copy = c.ask("duplicar", Data::str("poema.txt"));
    let name = almacen::pickle::decode::get(&copy.data, "nombre").cloned();
    assert_eq!(
        name,
        Some(almacen::pickle::Value::String("poema (copia 301).txt".into()))
    );
    assert_eq!(c.ask("borrar", Data::str("poema (copia 17).txt")).estado, "ok");
    let again = c.ask("duplicar", Data::str("poema.txt"));
    let name = almacen::pickle::decode::get(&again.data, "nombre").cloned();
    assert_eq!(
        name,
        Some(almacen::pickle::Value::String("poema (copia 17).txt".into()))
    );
}
