//! The challenge operations end to end: uploads, copies, deletes, renames, the detailed
//! listing, subscriptions, broadcasts and messages, over raw sockets to the real binary.

mod common;

use almacen::pickle::decode::get;
use almacen::pickle::{Data, Value};
use common::{pattern, wait_until, Client, Reply, Server, TempDir};
use std::fs;
use std::path::Path;
use std::time::Duration;

fn folder() -> TempDir {
    let dir = TempDir::new("ops");
    dir.write("poema.txt", "Llueve sobre el campus.\n".as_bytes());
    dir
}

/// A field of a dict reply.
fn field<'r>(reply: &'r Reply, key: &str) -> &'r Value {
    get(&reply.data, key).unwrap_or_else(|| panic!("no {key} in {:?}", reply.data))
}

fn int(v: &Value) -> i64 {
    match v {
        Value::I64(n) => *n,
        other => panic!("expected an int, got {other:?}"),
    }
}

fn upload(name: &str, content: &[u8], replace: bool) -> Data {
    Data::dict([
        ("nombre", Data::str(name)),
        ("contenido", Data::Bytes(content.to_vec())),
        ("reemplazar", Data::Bool(replace)),
    ])
}

fn part(name: &str, content: &[u8], from: u64, last: bool) -> Data {
    Data::dict([
        ("nombre", Data::str(name)),
        ("contenido", Data::Bytes(content.to_vec())),
        ("desde", Data::Int(from as i64)),
        ("fin", Data::Bool(last)),
    ])
}

/// Visible names in the folder (what `ls` shows, hidden entries aside).
fn visible(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// `listar_detalle` gives each file's name, size and modification time, sorted by name.
#[test]
fn listar_detalle_gives_sizes_and_times() {
    let dir = folder();
    dir.write("b.bin", &pattern(1234));
    let server = Server::start(dir.path(), &[]);
    let reply = server.connect().ask("listar_detalle", Data::None);
    assert_eq!(reply.estado, "ok");
    let Value::List(items) = &reply.data else {
        panic!("{:?}", reply.data)
    };
    let rows: Vec<(String, i64)> = items
        .iter()
        .map(|d| {
            let Some(Value::String(n)) = get(d, "nombre") else {
                panic!()
            };
            (n.clone(), int(get(d, "bytes").unwrap()))
        })
        .collect();
    assert_eq!(rows, [("b.bin".to_string(), 1234), ("poema.txt".to_string(), 24)]);
    let mtime = int(get(&items[0], "modificado").unwrap());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - mtime).abs() < 3600, "modificado is unix seconds: {mtime}");
}

/// `subir` stores the bytes under the name, then refuses the same name unless told to replace.
#[test]
fn subir_stores_and_never_overwrites_without_reemplazar() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let content = pattern(100_000);
    let reply = c.ask("subir", upload("nuevo.bin", &content, false));
    assert_eq!(reply.estado, "ok", "{:?}", reply.data);
    assert_eq!(int(field(&reply, "bytes")), 100_000);
    assert_eq!(fs::read(dir.path().join("nuevo.bin")).unwrap(), content);

    let reply = c.ask("subir", upload("nuevo.bin", b"otra cosa", false));
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("ya existe"), "{}", reply.text());
    assert_eq!(fs::read(dir.path().join("nuevo.bin")).unwrap(), content);

    let reply = c.ask("subir", upload("nuevo.bin", b"otra cosa", true));
    assert_eq!(reply.estado, "ok");
    assert_eq!(fs::read(dir.path().join("nuevo.bin")).unwrap(), b"otra cosa");
    // The new name is listed at once (the cached listing was dropped).
    assert!(c
        .ask("listar", Data::None)
        .names()
        .contains(&"nuevo.bin".to_string()));
}

/// Every operation that takes a name refuses bad ones with an error reply.
#[test]
fn bad_names_are_refused_by_every_operation() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let long = "x".repeat(300);
    let bad = [
        "..",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "a\0b",
        "",
        ".",
        ".oculto",
        long.as_str(),
    ];
    for name in bad {
        let asks = [
            ("descargar", Data::str(name)),
            ("subir", upload(name, b"x", true)),
            ("subir_parte", part(name, b"x", 0, true)),
            ("duplicar", Data::str(name)),
            (
                "duplicar",
                Data::dict([("nombre", Data::str("poema.txt")), ("nuevo", Data::str(name))]),
            ),
            ("borrar", Data::str(name)),
            (
                "renombrar",
                Data::dict([("nombre", Data::str("poema.txt")), ("nuevo", Data::str(name))]),
            ),
            ("difundir", Data::str(name)),
        ];
        for (op, data) in asks {
            let reply = c.ask(op, data);
            assert_eq!(reply.estado, "error", "{op} {name:?}");
            assert_eq!(reply.operacion, op);
        }
    }
    for op in [
        "descargar",
        "subir",
        "duplicar",
        "borrar",
        "renombrar",
        "difundir",
    ] {
        assert_eq!(c.ask(op, Data::Int(7)).estado, "error", "{op} with an int");
    }
    assert_eq!(visible(dir.path()), ["poema.txt"]);
}

/// An upload in parts is resumable from another connection and checks every offset.
#[test]
fn subir_parte_resumes_across_connections_and_checks_offsets() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let content = pattern(300_000);
    let mut a = server.connect();
    let reply = a.ask("subir_parte", part("partes.bin", &content[..100_000], 0, false));
    assert_eq!(int(field(&reply, "recibidos")), 100_000);
    assert_eq!(visible(dir.path()), ["poema.txt"], "nothing visible before fin");
    drop(a);

    let mut b = server.connect();
    let ask = Data::dict([("nombre", Data::str("partes.bin"))]);
    let reply = b.ask("subir_parte", ask);
    assert_eq!(
        int(field(&reply, "recibidos")),
        100_000,
        "asking tells what is staged"
    );
    let reply = b.ask(
        "subir_parte",
        part("partes.bin", &content[200_000..], 200_000, true),
    );
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("100000"), "{}", reply.text());
    let reply = b.ask(
        "subir_parte",
        part("partes.bin", &content[100_000..200_000], 100_000, false),
    );
    assert_eq!(int(field(&reply, "recibidos")), 200_000);
    let reply = b.ask(
        "subir_parte",
        part("partes.bin", &content[200_000..], 200_000, true),
    );
    assert_eq!(reply.estado, "ok", "{:?}", reply.data);
    assert_eq!(int(field(&reply, "recibidos")), 300_000);
    assert_eq!(fs::read(dir.path().join("partes.bin")).unwrap(), content);
}

/// While one connection uploads a name in parts, others are refused that name until it leaves.
#[test]
fn upload_in_parts_holds_its_name_until_the_uploader_leaves() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    assert_eq!(a.ask("subir_parte", part("x.bin", b"abc", 0, false)).estado, "ok");
    for (op, data) in [
        ("subir_parte", part("x.bin", b"def", 3, false)),
        ("subir", upload("x.bin", b"zzz", true)),
        (
            "duplicar",
            Data::dict([("nombre", Data::str("poema.txt")), ("nuevo", Data::str("x.bin"))]),
        ),
    ] {
        let reply = b.ask(op, data);
        assert_eq!(reply.estado, "error", "{op}");
        assert!(reply.text().contains("otra conexión"), "{}", reply.text());
    }
    drop(a);
    // The server notices the close on its next turn; b then takes over where a stopped.
    wait_until("b may take over x.bin", Duration::from_secs(10), || {
        b.ask("subir_parte", part("x.bin", b"def", 3, true)).estado == "ok"
    });
    assert_eq!(fs::read(dir.path().join("x.bin")).unwrap(), b"abcdef");
}

/// A client that vanishes in the middle of a `subir` frame leaves nothing behind in sight.
#[test]
fn vanished_uploader_leaves_nothing_visible() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let frame = Client::frame("subir", upload("medio.bin", &pattern(2_000_000), false));
    let mut c = server.connect();
    c.send_raw(&frame[..frame.len() / 2]);
    drop(c);
    // The server still answers, and the half-sent file never appears.
    let mut other = server.connect();
    assert_eq!(other.ask("listar", Data::None).names(), ["poema.txt"]);
    assert_eq!(visible(dir.path()), ["poema.txt"]);
}

/// Killing the server mid-upload shows nothing half-written, and the parts resume after a restart.
#[test]
fn killed_server_keeps_staged_parts_and_shows_nothing_half_written() {
    let dir = folder();
    let content = pattern(400_000);
    {
        let mut server = Server::start(dir.path(), &[]);
        let mut c = server.connect();
        let reply = c.ask("subir_parte", part("r.bin", &content[..250_000], 0, false));
        assert_eq!(int(field(&reply, "recibidos")), 250_000);
        // A whole-file upload cut off by the kill, half sent.
        let frame = Client::frame("subir", upload("entero.bin", &content, false));
        c.send_raw(&frame[..frame.len() / 2]);
        server.child.kill().unwrap(); // SIGKILL on Unix, TerminateProcess on Windows
    }
    assert_eq!(visible(dir.path()), ["poema.txt"]);
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    assert_eq!(c.ask("listar", Data::None).names(), ["poema.txt"]);
    let reply = c.ask("subir_parte", Data::dict([("nombre", Data::str("r.bin"))]));
    assert_eq!(int(field(&reply, "recibidos")), 250_000);
    let reply = c.ask("subir_parte", part("r.bin", &content[250_000..], 250_000, true));
    assert_eq!(reply.estado, "ok");
    assert_eq!(fs::read(dir.path().join("r.bin")).unwrap(), content);
}

/// Two clients uploading one name at the same moment: one wins whole, the other gets an error.
#[test]
fn two_uploads_of_one_name_one_wins_whole() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let (one, two) = (pattern(3_000_000), vec![7u8; 3_000_000]);
    let mut a = server.connect();
    let mut b = server.connect();
    a.send("subir", upload("pelea.bin", &one, false));
    b.send("subir", upload("pelea.bin", &two, false));
    let (ra, rb) = (a.recv(), b.recv());
    let oks = [&ra, &rb].iter().filter(|r| r.estado == "ok").count();
    assert_eq!(oks, 1, "{:?} / {:?}", ra.data, rb.data);
    let stored = fs::read(dir.path().join("pelea.bin")).unwrap();
    let winner = if ra.estado == "ok" { &one } else { &two };
    assert!(stored == *winner, "the stored file is the winner's, whole");
}

/// `duplicar` picks "name (copia).ext" names, or takes the one given, and copies every byte.
#[test]
fn duplicar_copies_bytes_under_a_free_name() {
    let dir = folder();
    let big = pattern(20 * 1024 * 1024 + 3);
    dir.write("grande.bin", &big);
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    for expected in ["poema (copia).txt", "poema (copia 2).txt"] {
        let reply = c.ask("duplicar", Data::str("poema.txt"));
        assert_eq!(reply.estado, "ok");
        assert_eq!(field(&reply, "nombre"), &Value::String(expected.into()));
    }
    assert_eq!(
        fs::read(dir.path().join("poema (copia 2).txt")).unwrap(),
        "Llueve sobre el campus.\n".as_bytes()
    );
    // A copy bigger than one slice, with a request pipelined behind it: both answered in order.
    let mut frames = Client::frame(
        "duplicar",
        Data::dict([
            ("nombre", Data::str("grande.bin")),
            ("nuevo", Data::str("otra.bin")),
        ]),
    );
    frames.extend(Client::frame("listar", Data::None));
    c.send_raw(&frames);
    let first = c.recv();
    assert_eq!(
        (first.operacion.as_str(), first.estado.as_str()),
        ("duplicar", "ok")
    );
    let second = c.recv();
    assert_eq!(second.operacion, "listar");
    assert!(second.names().contains(&"otra.bin".to_string()));
    assert!(fs::read(dir.path().join("otra.bin")).unwrap() == big);

    let reply = c.ask(
        "duplicar",
        Data::dict([
            ("nombre", Data::str("poema.txt")),
            ("nuevo", Data::str("otra.bin")),
        ]),
    );
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("ya existe"));
    assert_eq!(c.ask("duplicar", Data::str("no-hay.txt")).estado, "error");
}

/// Other clients' requests are answered while a large copy is under way, and it completes.
#[test]
fn other_clients_are_answered_during_a_big_copy() {
    let dir = folder();
    dir.write("enorme.bin", &pattern(64 * 1024 * 1024));
    let server = Server::start(dir.path(), &[]);
    let mut copier = server.connect();
    copier.send("duplicar", Data::str("enorme.bin"));
    let mut other = server.connect();
    // The other client gets its answers whether or not the copy is done; when it is not,
    // its copy is still hidden in staging.
    for _ in 0..5 {
        let names = other.ask("listar", Data::None).names();
        assert!(names.contains(&"poema.txt".to_string()));
    }
    assert_eq!(copier.recv().estado, "ok");
    assert_eq!(
        fs::metadata(dir.path().join("enorme (copia).bin")).unwrap().len(),
        64 * 1024 * 1024
    );
}

/// `borrar` deletes a file; a missing one, a folder or a link out of the folder is an error.
#[test]
fn borrar_deletes_files_only() {
    let dir = folder();
    dir.write("basura.txt", b"x");
    fs::create_dir(dir.path().join("carpeta")).unwrap();
    let outside = TempDir::new("outside");
    outside.write("secreto", b"no");
    #[cfg(unix)] // symlinks need a privilege on Windows
    common::symlink(outside.path().join("secreto"), dir.path().join("fuera"));
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let reply = c.ask("borrar", Data::str("basura.txt"));
    assert_eq!(reply.estado, "ok");
    assert!(!dir.path().join("basura.txt").exists());
    for name in ["basura.txt", "carpeta", "fuera"] {
        let reply = c.ask("borrar", Data::str(name));
        assert_eq!(reply.estado, "error", "{name}");
        assert!(reply.text().contains("no existe"), "{}", reply.text());
    }
    assert!(outside.path().join("secreto").exists());
    assert!(dir.path().join("carpeta").is_dir());
}

/// `renombrar` moves a file and never overwrites another.
#[test]
fn renombrar_moves_and_never_overwrites() {
    let dir = folder();
    dir.write("otro.txt", b"otro");
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let ask = |from: &str, to: &str| Data::dict([("nombre", Data::str(from)), ("nuevo", Data::str(to))]);
    let reply = c.ask("renombrar", ask("poema.txt", "otro.txt"));
    assert_eq!(reply.estado, "error");
    assert_eq!(fs::read(dir.path().join("otro.txt")).unwrap(), b"otro");
    let reply = c.ask("renombrar", ask("poema.txt", "poesía.txt"));
    assert_eq!(reply.estado, "ok");
    assert_eq!(field(&reply, "nombre"), &Value::String("poesía.txt".into()));
    assert_eq!(visible(dir.path()), ["otro.txt", "poesía.txt"]);
    assert_eq!(c.ask("renombrar", ask("poema.txt", "x.txt")).estado, "error");
    assert_eq!(c.ask("renombrar", Data::str("poesía.txt")).estado, "error");
}

/// `--read-only` refuses every write with a clear error and still serves reads.
#[test]
fn read_only_refuses_every_write() {
    let dir = folder();
    let server = Server::start(dir.path(), &["--read-only"]);
    let mut c = server.connect();
    for (op, data) in [
        ("subir", upload("a.txt", b"a", false)),
        ("subir_parte", part("a.txt", b"a", 0, true)),
        ("duplicar", Data::str("poema.txt")),
        ("borrar", Data::str("poema.txt")),
        (
            "renombrar",
            Data::dict([("nombre", Data::str("poema.txt")), ("nuevo", Data::str("b"))]),
        ),
    ] {
        let reply = c.ask(op, data);
        assert_eq!(reply.estado, "error", "{op}");
        assert!(reply.text().contains("solo lectura"), "{}", reply.text());
    }
    assert_eq!(c.ask("descargar", Data::str("poema.txt")).estado, "ok");
    assert_eq!(visible(dir.path()), ["poema.txt"]);
    assert!(!dir.path().join(".almacen-staging").exists());
}

/// Subscribers get ids and aliases, `clientes` lists everyone, and messages reach subscribers only.
#[test]
fn mensaje_reaches_subscribers_by_id_or_all() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut ana = server.connect();
    let mut beto = server.connect();
    let mut curso = server.connect(); // never subscribes, like the course client
    let id_ana = int(field(
        &ana.ask("suscribir", Data::dict([("alias", Data::str("ana"))])),
        "id",
    ));
    let id_beto = int(field(&beto.ask("suscribir", Data::None), "id"));
    assert_ne!(id_ana, id_beto);

    let reply = curso.ask("clientes", Data::None);
    let Value::List(list) = &reply.data else { panic!() };
    assert_eq!(list.len(), 3);
    let ana_row = list
        .iter()
        .find(|d| get(d, "id") == Some(&Value::I64(id_ana)))
        .unwrap();
    assert_eq!(get(ana_row, "alias"), Some(&Value::String("ana".into())));
    assert_eq!(get(ana_row, "suscrito"), Some(&Value::Bool(true)));

    let to = |para: Data, texto: &str| Data::dict([("para", para), ("texto", Data::str(texto))]);
    let reply = ana.ask("mensaje", to(Data::Int(id_beto), "hola beto"));
    assert_eq!(int(field(&reply, "entregado_a")), 1);
    let push = beto.recv();
    assert_eq!((push.operacion.as_str(), push.estado.as_str()), ("mensaje", "ok"));
    assert_eq!(field(&push, "texto"), &Value::String("hola beto".into()));
    assert_eq!(int(field(&push, "de")), id_ana);
    assert_eq!(field(&push, "alias"), &Value::String("ana".into()));

    // From a non-subscriber to all: both subscribers get it, the sender's own reply first.
    let reply = curso.ask("mensaje", to(Data::str("todos"), "a todos"));
    assert_eq!(int(field(&reply, "entregado_a")), 2);
    assert_eq!(field(&ana.recv(), "texto"), &Value::String("a todos".into()));
    assert_eq!(field(&beto.recv(), "texto"), &Value::String("a todos".into()));

    let id_curso = id_beto + 1;
    for bad in [
        to(Data::Int(id_curso), "no suscrito"),
        to(Data::Int(999), "nadie"),
        to(Data::str("alguien"), "x"),
        Data::dict([
            ("para", Data::str("todos")),
            ("texto", Data::Bytes(b"x".to_vec())),
        ]),
    ] {
        assert_eq!(ana.ask("mensaje", bad).estado, "error");
    }
    // The course-style client got nothing unsolicited: its next frame is its own reply.
    assert_eq!(curso.ask("listar", Data::None).operacion, "listar");
}

/// `difundir` streams a file to every other subscriber; the course-style client sees only its replies.
#[test]
fn difundir_sends_file_to_other_subscribers_only() {
    let dir = folder();
    let content = pattern(3 * 1024 * 1024 + 5);
    dir.write("foto.bin", &content);
    let server = Server::start(dir.path(), &[]);
    let mut subs: Vec<Client> = (0..3).map(|_| server.connect()).collect();
    for s in subs.iter_mut() {
        assert_eq!(s.ask("suscribir", Data::None).estado, "ok");
    }
    let mut curso = server.connect();
    let mut sender = subs.remove(0);
    curso.send("listar", Data::None);
    let reply = sender.ask("difundir", Data::str("foto.bin"));
    assert_eq!(int(field(&reply, "enviado_a")), 2);
    for s in subs.iter_mut() {
        let push = s.recv();
        assert_eq!(push.operacion, "archivo");
        assert_eq!(field(&push, "nombre"), &Value::String("foto.bin".into()));
        let Value::Bytes(b) = field(&push, "contenido") else {
            panic!()
        };
        assert!(*b == content);
        // And the subscriber's own requests still get their replies after the push.
        assert_eq!(s.ask("listar", Data::None).operacion, "listar");
    }
    assert_eq!(curso.recv().operacion, "listar");
    assert_eq!(
        curso.ask("descargar", Data::str("poema.txt")).operacion,
        "descargar"
    );
    assert_eq!(sender.ask("difundir", Data::str("no-hay.bin")).estado, "error");
}

/// `fin` with nothing staged is an error, and never empties the file it names.
#[test]
fn fin_without_a_staged_upload_changes_nothing() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut c = server.connect();
    let fin = Data::dict([
        ("nombre", Data::str("poema.txt")),
        ("fin", Data::Bool(true)),
        ("reemplazar", Data::Bool(true)),
    ]);
    let reply = c.ask("subir_parte", fin);
    assert_eq!(reply.estado, "error");
    assert!(reply.text().contains("no hay una subida"), "{}", reply.text());
    assert_eq!(
        fs::read(dir.path().join("poema.txt")).unwrap(),
        "Llueve sobre el campus.\n".as_bytes()
    );
}

/// A requester that resets its connection during a long copy cancels it: nothing is
/// published and nothing is left in staging.
#[test]
fn a_vanished_requester_cancels_its_copy() {
    let dir = folder();
    dir.write("enorme.bin", &pattern(256 * 1024 * 1024));
    let server = Server::start(dir.path(), &[]);
    let staged = || -> Vec<_> {
        fs::read_dir(dir.path().join(".almacen-staging"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            // Parts wait to be resumed; `en-uso` is the running server's lock.
            .filter(|n| n != "partes" && n != "en-uso")
            .collect()
    };
    let mut c = server.connect();
    c.send("duplicar", Data::str("enorme.bin"));
    // Catch the copy in the middle (its staged file exists) and hold the server there
    // while the requester resets.
    wait_until("the copy starts", Duration::from_secs(10), || {
        !staged().is_empty()
    });
    server.freeze();
    assert!(
        !staged().is_empty(),
        "the copy finished before the test could cut it short"
    );
    // SO_LINGER 0: close() sends RST, as when a client's machine drops off.
    socket2::SockRef::from(&c.stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(c);
    server.thaw();
    // The server sees the reset on its next turn and drops the copy's staged bytes.
    wait_until("the staged copy is removed", Duration::from_secs(10), || {
        staged().is_empty()
    });
    assert_eq!(visible(dir.path()), ["enorme.bin", "poema.txt"]);
}

/// `difundir` of a file whose frame fits one subscriber's class but not another's is an
/// error for the sender, and nobody gets a partial broadcast.
#[test]
fn difundir_is_all_or_nothing() {
    let dir = folder();
    // A sparse file just under 4 GiB: the longer class name pushes its frame over.
    let f = fs::File::create(dir.path().join("casi4g.bin")).unwrap();
    f.set_len((1u64 << 32) - 1 - 150).unwrap();
    drop(f);
    let server = Server::start(dir.path(), &[]);
    let mut short = server.connect();
    assert_eq!(short.ask("suscribir", Data::None).estado, "ok");
    let mut long = server.connect();
    let env = almacen::pickle::Envelope::Instance {
        module: "m".repeat(120).into(),
        name: "Mensaje".into(),
    };
    long.send_raw(&almacen::message::frame_request(&env, "suscribir", &Data::None));
    assert_eq!(long.recv().estado, "ok");
    let mut sender = server.connect();
    let reply = sender.ask("difundir", Data::str("casi4g.bin"));
    assert_eq!(reply.estado, "error", "{:?}", reply.data);
    assert_eq!(
        short.ask("listar", Data::None).operacion,
        "listar",
        "no push reached it"
    );
}

/// A connection that stops sending (Ctrl-C) while a piece of its upload in parts is
/// still being handled lets go of the name at once, so a retry resumes instead of
/// being told "se está escribiendo desde otra conexión".
#[test]
fn ended_uploader_lets_go_of_its_name_so_a_retry_resumes() {
    let dir = folder();
    // A download big enough that the loopback buffers cannot hold it: the first
    // connection, which never reads, keeps its reply queued (and, before the fix, its
    // claim on the name) for as long as it stays open.
    dir.write("grande.bin", &pattern(32 * 1024 * 1024));
    let server = Server::start(dir.path(), &[]);
    let mut a = server.connect();
    assert_eq!(
        a.ask("subir_parte", part("g1.bin", b"abc", 0, false)).estado,
        "ok"
    );
    // Everything the first client sends before it stops arrives at once: its next
    // piece (a reply to work on when the end of its input is seen), a download it will
    // never read, and the end of its input.
    server.freeze();
    a.send("subir_parte", part("g1.bin", b"def", 3, false));
    a.send("descargar", Data::str("grande.bin"));
    a.stream.shutdown(std::net::Shutdown::Write).unwrap();
    server.thaw();
    let mut b = server.connect();
    let ask = Data::dict([("nombre", Data::str("g1.bin"))]);
    let reply = b.ask("subir_parte", ask);
    assert_eq!(reply.estado, "ok", "{}", reply.text());
    assert_eq!(int(field(&reply, "recibidos")), 6);
    let reply = b.ask("subir_parte", part("g1.bin", b"ghi", 6, true));
    assert_eq!(reply.estado, "ok", "{}", reply.text());
    assert_eq!(fs::read(dir.path().join("g1.bin")).unwrap(), b"abcdefghi");
    drop(a);
}

/// Two whole uploads of one name at once both succeed with `reemplazar`, one after the
/// other: the later wins, whole.
#[test]
fn second_upload_of_a_name_waits_and_the_later_wins() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let first = pattern(60_000);
    let second: Vec<u8> = first.iter().map(|b| b ^ 0xff).collect();
    let mut a = server.connect();
    let mut b = server.connect();
    // Both arrive while the server is stopped, so the second is read while the first
    // still waits for the disk.
    server.freeze();
    a.send("subir", upload("doble.bin", &first, true));
    wait_until("a's upload is in the kernel", Duration::from_secs(10), || {
        server.unread_from(&a) >= first.len()
    });
    b.send("subir", upload("doble.bin", &second, true));
    server.thaw();
    let (ra, rb) = (a.recv(), b.recv());
    assert_eq!(ra.estado, "ok", "{}", ra.text());
    assert_eq!(rb.estado, "ok", "{}", rb.text());
    assert!(
        fs::read(dir.path().join("doble.bin")).unwrap() == second,
        "the later wins"
    );
}

/// Two whole uploads of one new name at once without `reemplazar`: the first is
/// stored, the second hears "ya existe" (not that the name is busy).
#[test]
fn second_upload_of_a_name_without_replace_hears_it_exists() {
    let dir = folder();
    let server = Server::start(dir.path(), &[]);
    let mut a = server.connect();
    let mut b = server.connect();
    server.freeze();
    a.send("subir", upload("nuevo.bin", b"primero", false));
    wait_until("a's upload is in the kernel", Duration::from_secs(10), || {
        server.unread_from(&a) > 0
    });
    b.send("subir", upload("nuevo.bin", b"segundo", false));
    server.thaw();
    let (ra, rb) = (a.recv(), b.recv());
    assert_eq!(ra.estado, "ok", "{}", ra.text());
    assert_eq!(rb.estado, "error");
    assert!(rb.text().contains("ya existe"), "{}", rb.text());
    assert_eq!(fs::read(dir.path().join("nuevo.bin")).unwrap(), b"primero");
}
