//! The Python protocol-2 example client against the Rust codec, without a server: frames
//! written by one side must read the same on the other, byte for byte.
#![cfg(feature = "proto2")]

mod common;

use almacen::message::Memo;
use almacen::pickle::decode::get;
use almacen::pickle::{Data, Envelope, Value};
use almacen::protocol::v2::{self as proto2, hola};
use almacen::protocol::{Check, Codec, Limits, ReplyTo};
use common::{assert_todo_ok, python3, Server, TempDir};

const CLIENT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/py");

/// Runs a Python snippet with the example client importable as `c`; returns its stdout.
fn python(code: &str, stdin_file: Option<&std::path::Path>) -> Vec<u8> {
    let script = format!("import sys\nsys.path.insert(0, {CLIENT_DIR:?})\nimport cliente_v2 as c\n{code}");
    let mut cmd = python3();
    cmd.arg("-c").arg(script);
    if let Some(path) = stdin_file {
        cmd.stdin(std::fs::File::open(path).unwrap());
    }
    let out = cmd.output().expect("python3 runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    match get(v, key) {
        Some(Value::String(s)) => s,
        other => panic!("{key}: {other:?}"),
    }
}

/// The example's requests (hola as a pickled dict, then protocol-2 frames with raw bytes)
/// decode in Rust to what it meant.
#[test]
fn python_requests_decode_in_rust() {
    let out = python(
        r#"
import hashlib, pickle, struct
out = sys.stdout.buffer
hola = pickle.dumps({"operacion": "hola", "data": {"version": 2}, "estado": None})
out.write(struct.pack(">I", len(hola)) + hola)
out.write(c.marco({"id": 1, "operacion": "listar"}))
body = bytes(range(256)) * 3
out.write(c.marco({"id": 2, "operacion": "subir", "data": {"nombre": "canción ñandú.bin",
          "sha256": hashlib.sha256(body).hexdigest()}, "bytes": len(body)}, body))
out.write(c.marco({"id": 3, "operacion": "subir_parte", "data": {"nombre": "v", "desde": 4,
          "fin": True, "sha256_previo": "ab" * 32}, "bytes": 0}))
"#,
        None,
    );
    let limits = Limits::new(1 << 20);
    let mut at = 0;
    let mut next = |codec: Codec| {
        let buf = &out[at..];
        let Check::Complete(frame) = codec.check(buf, &limits) else {
            panic!("no whole frame at {at}")
        };
        at += frame.len;
        let (request, to) = codec.decode(buf, frame, &limits, &mut Memo::default()).unwrap();
        (to, request.into_owned())
    };
    let (to, req) = next(Codec::Course);
    assert_eq!(to, ReplyTo::Course(Envelope::Dict));
    assert_eq!(hola::recognise(&req), Some(Ok(hola::Version::V2)));
    let (to, req) = next(Codec::V2);
    assert_eq!(
        (to, req.operacion.as_str()),
        (ReplyTo::V2 { id: Some(1) }, "listar")
    );
    let (to, req) = next(Codec::V2);
    assert_eq!(to, ReplyTo::V2 { id: Some(2) });
    assert_eq!(str_of(&req.data, "nombre"), "canción ñandú.bin");
    let body: Vec<u8> = (0..=255u8).cycle().take(768).collect();
    assert_eq!(get(&req.data, proto2::RAW_KEY), Some(&Value::Bytes(body.clone())));
    let sha = almacen::digest::hex(&almacen::digest::of_bytes(&body));
    assert_eq!(str_of(&req.data, "sha256"), sha);
    let (_, req) = next(Codec::V2);
    assert_eq!(get(&req.data, "desde"), Some(&Value::I64(4)));
    assert_eq!(get(&req.data, "fin"), Some(&Value::Bool(true)));
    assert_eq!(get(&req.data, proto2::RAW_KEY), Some(&Value::Bytes(vec![])));
    assert_eq!(at, out.len(), "nothing left over");
}

/// Rust's replies and pushes (hola's pickled reply, a listing, a streamed download, a
/// pushed file, an error) read in Python as documented.
#[test]
fn rust_replies_read_in_python() {
    let hola = ReplyTo::Course(Envelope::Dict).ok(
        "hola",
        &hola::reply_data(
            hola::Version::V2,
            &["listar", "descargar"],
            &Limits::new(16 << 20),
        ),
    );
    let to = ReplyTo::V2 { id: Some(5) };
    let listing = to.ok(
        "listar",
        &Data::List(vec![Data::str("poema.txt"), Data::str("ñ \"x\".txt")]),
    );
    let (head, tail) = to.stream_parts("descargar", 70_000).unwrap();
    let file: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
    let fields = [
        ("nombre".to_string(), Data::str("a.txt")),
        ("de".to_string(), Data::Int(2)),
    ];
    let (push_head, push_tail) = to.push_parts_in_dict("archivo", &fields, "contenido", 3).unwrap();
    let error = ReplyTo::V2 { id: None }.error("", "mensaje inválido: falta operacion");
    let all = [
        hola,
        listing,
        head,
        file.clone(),
        tail,
        push_head,
        b"xyz".to_vec(),
        push_tail,
        error,
    ]
    .concat();
    let dir = std::env::temp_dir().join(format!("almacen-proto2-py-{}", std::process::id()));
    std::fs::write(&dir, &all).unwrap();
    let out = python(
        r#"
import hashlib, json, struct
f = sys.stdin.buffer
(n,) = struct.unpack(">I", f.read(4))
hola = c._cargar_pickle(f.read(n))
rows = [[hola["operacion"], hola["estado"], hola["data"]["version"], hola["data"]["limites"]["bytes"]]]
while True:
    try:
        e = c.leer_encabezado(f)
    except ConnectionError:
        break
    body = c.leer_cuerpo(f, e.get("bytes", 0))
    rows.append([e.get("aviso", False), e.get("id"), e["operacion"], e.get("estado"), e.get("data"),
                 e.get("bytes"), hashlib.sha256(body).hexdigest()])
print(json.dumps(rows, ensure_ascii=False))
"#,
        Some(&dir),
    );
    std::fs::remove_file(&dir).unwrap();
    let got: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let sha = |b: &[u8]| almacen::digest::hex(&almacen::digest::of_bytes(b));
    let want = serde_json::json!([
        ["hola", "ok", 2, 16 << 20],
        [false, 5, "listar", "ok", ["poema.txt", "ñ \"x\".txt"], null, sha(b"")],
        [false, 5, "descargar", "ok", null, 70_000, sha(&file)],
        [true, null, "archivo", null, {"nombre": "a.txt", "de": 2}, 3, sha(b"xyz")],
        [false, null, "", "error", "mensaje inválido: falta operacion", null, sha(b"")],
    ]);
    assert_eq!(got, want);
}

/// The example's own offline self-test (framing, pushes met while waiting, refusals).
#[test]
fn python_example_self_test_passes() {
    let out = python3()
        .arg(format!("{CLIENT_DIR}/cliente_v2.py"))
        .arg("--autoprueba")
        .output()
        .expect("python3 runs");
    assert_todo_ok(&out);
}

/// Runs the example client's command line against the server on `port`.
fn example(port: u16, args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    python3()
        .arg(format!("{CLIENT_DIR}/cliente_v2.py"))
        .args(["--host", "127.0.0.1", "--puerto", &port.to_string()])
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("python3 runs")
}

/// Runs a snippet with `k`, an example client connected to the server on `port`.
fn with_client(port: u16, code: &str) -> String {
    let code = format!("k = c.ClienteV2(\"127.0.0.1\", {port})\n{code}");
    String::from_utf8(python(&code, None)).unwrap()
}

/// `cliente_v2.py subir --reemplazar` of a file big enough to go in parts replaces an
/// existing name: the example sends `reemplazar` with every piece, as the server checks.
#[test]
fn example_client_replaces_a_name_uploading_in_parts() {
    let dir = TempDir::new("py2-parts");
    dir.write("r2.bin", b"la version vieja");
    let server = Server::start(dir.path(), &["--max-frame", "65536"]);
    let here = TempDir::new("py2-parts-src");
    let content = common::pattern(200_000);
    here.write("grande.bin", &content);
    let out = example(
        server.port,
        &["subir", "grande.bin", "r2.bin", "--reemplazar"],
        here.path(),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(std::fs::read(dir.path().join("r2.bin")).unwrap() == content);
}

/// A full server's refusal (always a pickled `__main__.Mensaje`, whatever `hola` was)
/// reaches the example's user as the server's own words, not a traceback.
#[test]
fn example_client_reports_a_full_server_in_its_own_words() {
    let dir = TempDir::new("py2-full");
    let server = Server::start(dir.path(), &["--max-clients", "1"]);
    let mut holder = server.connect();
    assert_eq!(holder.ask("listar", Data::None).estado, "ok");
    let out = example(server.port, &["listar"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("servidor lleno"), "{err}");
    assert!(!err.contains("Traceback"), "{err}");
}

/// Ids run from 0 to 2^64 - 1 (the one integer outside -2^63 .. 2^63 - 1 that the
/// protocol accepts), and the reply echoes the largest.
#[test]
fn example_client_ids_reach_two_to_the_64_minus_one() {
    let dir = TempDir::new("py2-id");
    dir.write("poema.txt", b"hola");
    let server = Server::start(dir.path(), &[]);
    let out = with_client(
        server.port,
        r#"
k.siguiente_id = 2**64 - 1
e, _ = k.recibir(k.enviar("listar"))
print(e["id"], e["data"])
"#,
    );
    assert_eq!(out.trim(), "18446744073709551615 ['poema.txt']");
}

/// A piece sent without `desde` is told that `desde` is missing (asking and `fin` alone
/// go without it).
#[test]
fn piece_without_desde_is_told_desde_is_missing() {
    let dir = TempDir::new("py2-desde");
    let server = Server::start(dir.path(), &[]);
    let out = with_client(
        server.port,
        r#"
print(k.pedir("subir_parte", {"nombre": "p.bin"})["recibidos"])
try:
    k.pedir("subir_parte", {"nombre": "p.bin"}, b"abc")
except c.ErrorServidor as e:
    print(e)
"#,
    );
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some("0"));
    let said = lines.next().unwrap_or_default();
    assert!(said.starts_with("falta desde"), "{out}");
}

/// Over protocol 2 a taken name's refusal spells the flag as JSON (`"reemplazar":
/// true`), not as Python; an error reply never carries raw bytes; and `"bytes": 0` in
/// `subir` stores an empty file.
#[test]
fn protocol_2_errors_speak_json_and_carry_no_bytes() {
    let dir = TempDir::new("py2-json");
    dir.write("poema.txt", b"hola");
    let server = Server::start(dir.path(), &[]);
    let out = with_client(
        server.port,
        r#"
k.sock.sendall(c.marco({"id": 1, "operacion": "subir", "data": {"nombre": "poema.txt"}, "bytes": 3}, b"xyz"))
e = c.leer_encabezado(k.entrada)
print(e["estado"], "bytes" in e)
print(e["data"])
print(k.pedir("subir", {"nombre": "vacio.txt"}, b""))
"#,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "error False", "{out}");
    assert!(lines[1].ends_with("envíe \"reemplazar\": true"), "{out}");
    assert_eq!(lines[2], "{'nombre': 'vacio.txt', 'bytes': 0}");
    assert_eq!(std::fs::read(dir.path().join("vacio.txt")).unwrap(), b"");
}
