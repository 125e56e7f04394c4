//! The Python protocol-2 example client against the Rust codec, without a server: frames
//! written by one side must read the same on the other, byte for byte.
#![cfg(feature = "proto2")]

mod common;

use almacen::message::Memo;
use almacen::pickle::decode::get;
use almacen::pickle::{Data, Envelope, Value};
use almacen::protocol::v2::{self as proto2, hola};
use almacen::protocol::{Check, Codec, Limits, ReplyTo};
use common::{assert_todo_ok, python3};

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
