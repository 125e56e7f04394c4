//! Operations through the dispatcher, with nothing but a folder behind them.

use super::*;
use crate::connection::{Flow, Handler};
use crate::message;
use crate::outbox::Outbox;
use crate::pickle::{Data, Envelope, Limits, Value};
use crate::protocol::Codec;
use crate::storage::Storage;
use std::net::SocketAddr;
use std::time::Duration;

fn folder(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("almacen-ops-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn peer() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

/// Sends one request through the dispatcher; returns the flow and what was queued.
fn ask(ctx: &mut Context, id: u64, op: &str, data: &Data) -> (Flow, Outbox) {
    let frame = message::frame_request(&Envelope::course(), op, data);
    let mut out = Outbox::default();
    let mut d = Dispatch {
        ctx,
        id,
        key: 0,
        peer: peer(),
    };
    let limits = crate::protocol::Limits::new(1 << 30);
    let crate::protocol::Check::Complete(f) = Codec::Course.check(&frame, &limits) else {
        panic!("a whole frame")
    };
    let flow = d.request(Codec::Course, &frame, f, &mut out);
    (flow, out)
}

/// Like [`ask`], and then runs the jobs it left (a write waits for the disk) until its
/// reply is queued too.
fn ask_done(ctx: &mut Context, id: u64, op: &str, data: &Data) -> Outbox {
    let (_, mut out) = ask(ctx, id, op, data);
    while ctx.has_work() {
        ctx.work();
    }
    for delivery in ctx.take_deliveries() {
        for chunk in delivery.chunks {
            out.push(chunk);
        }
    }
    out
}

/// The replies in a queue, decoded.
fn replies(mut out: Outbox) -> Vec<message::Reply> {
    struct Sink(Vec<u8>);
    impl std::io::Read for Sink {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Ok(0)
        }
    }
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl crate::outbox::Transport for Sink {}
    let mut sink = Sink(Vec::new());
    while !out.is_empty() {
        out.write_to(&mut sink, usize::MAX).unwrap();
    }
    let mut rest = &sink.0[..];
    let mut all = Vec::new();
    while rest.len() >= 4 {
        let len = u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        all.push(message::parse_reply(&rest[4..4 + len], Limits::default()).unwrap());
        rest = &rest[4 + len..];
    }
    all
}

/// Jobs take turns: one slice of time per turn of the loop in all, however many run.
#[test]
fn copies_take_turns_one_job_per_turn() {
    let dir = folder("turns");
    std::fs::write(dir.join("a.bin"), vec![1u8; 20 << 20]).unwrap();
    let storage = Storage::open(&dir).unwrap();
    storage.prepare_staging(Duration::from_secs(60)).unwrap();
    let mut ctx = Context::new(storage, 1 << 20);
    for id in [1, 2] {
        let (flow, out) = ask(&mut ctx, id, "duplicar", &Data::str("a.bin"));
        assert_eq!(flow, Flow::Wait);
        assert!(out.is_empty(), "big copies are not started inside the request");
    }
    ctx.work();
    let progress = ctx.jobs.progress();
    assert_eq!(progress.iter().filter(|p| **p > 0).count(), 1, "{progress:?}");
    while ctx.has_work() {
        ctx.work();
    }
    let deliveries = ctx.take_deliveries();
    assert_eq!(deliveries.len(), 2);
    assert!(deliveries.iter().all(|d| d.resumes));
    assert!(dir.join("a (copia).bin").exists() && dir.join("a (copia 2).bin").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A repeated request is decoded once and then answered from the memo, and a change
/// to the folder made by another program still shows up in `listar`.
#[test]
fn repeated_listar_is_memoized_and_still_sees_changes() {
    use std::time::SystemTime;
    let dir = folder("memo");
    std::fs::write(dir.join("a.txt"), b"a").unwrap();
    let age = |secs| {
        let t = SystemTime::now() - Duration::from_secs(secs);
        crate::sys::set_modified(&dir, t).unwrap();
    };
    age(3600); // settled, so the reply is remembered
    let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1 << 20);
    let first = replies(ask(&mut ctx, 1, "listar", &Data::None).1);
    assert_eq!(ctx.memo.len(), 1, "the request was remembered");
    assert!(ctx.listing.is_cached(), "the reply was remembered");
    let again = replies(ask(&mut ctx, 1, "listar", &Data::None).1);
    assert_eq!(again, first);
    assert_eq!(ctx.memo.len(), 1, "the same bytes use the same slot");
    std::fs::write(dir.join("b.txt"), b"b").unwrap();
    age(10);
    std::thread::sleep(crate::listing::RECHECK * 2);
    let reply = replies(ask(&mut ctx, 1, "listar", &Data::None).1);
    let Value::List(names) = &reply[0].data else {
        panic!("{reply:?}")
    };
    assert_eq!(names.len(), 2, "the new file is listed: {names:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Each write operation is refused without the key when one is set, and runs with it.
#[test]
fn writes_need_the_key_when_one_is_set() {
    let dir = folder("key");
    std::fs::write(dir.join("a.txt"), b"a").unwrap();
    let storage = Storage::open(&dir).unwrap();
    storage.prepare_staging(Duration::from_secs(60)).unwrap();
    let mut ctx = Context::new(storage, 1 << 20);
    ctx.clave = Some("secreto".into());
    let with = |clave: Option<&str>| {
        let mut fields = vec![("nombre".to_string(), Data::str("a.txt"))];
        if let Some(c) = clave {
            fields.push(("clave".to_string(), Data::str(c)));
        }
        Data::Dict(fields)
    };
    for (clave, ok) in [(None, false), (Some("otra"), false), (Some("secreto"), true)] {
        let reply = replies(ask_done(&mut ctx, 1, "duplicar", &with(clave)));
        assert_eq!(reply[0].is_ok(), ok, "{clave:?}: {reply:?}");
    }
    let listed = replies(ask(&mut ctx, 1, "listar_detalle", &Data::None).1);
    assert!(listed[0].is_ok(), "reads stay open");
    let bare = replies(ask_done(&mut ctx, 1, "borrar", &Data::str("a.txt")));
    assert!(!bare[0].is_ok() && dir.join("a.txt").exists(), "nothing changed");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A message can be addressed by alias, and reaches every subscriber using it.
#[test]
fn messages_reach_subscribers_by_alias() {
    let dir = folder("alias");
    let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1 << 20);
    let a = ctx.peers.join(0, peer());
    let b = ctx.peers.join(1, peer());
    let sub = Data::Dict(vec![("alias".into(), Data::str("beto"))]);
    assert!(replies(ask(&mut ctx, b, "suscribir", &sub).1)[0].is_ok());
    let to = |para: Data| Data::Dict(vec![("para".into(), para), ("texto".into(), Data::str("hola"))]);
    let sent = replies(ask(&mut ctx, a, "mensaje", &to(Data::str("beto"))).1);
    let delivered = crate::pickle::decode::get(&sent[0].data, "entregado_a");
    assert_eq!(delivered, Some(&Value::I64(1)), "{sent:?}");
    let deliveries = ctx.take_deliveries();
    assert_eq!(deliveries.len(), 1);
    assert_eq!(deliveries[0].id, b);
    let nobody = replies(ask(&mut ctx, a, "mensaje", &to(Data::str("nadie"))).1);
    assert!(!nobody[0].is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// An operation nobody knows gets an error reply that echoes it.
#[test]
fn unknown_operation_gets_error_reply() {
    let dir = folder("unknown");
    let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1 << 20);
    let reply = replies(ask(&mut ctx, 1, "volar", &Data::None).1);
    assert_eq!(reply[0].operacion, "volar");
    assert!(!reply[0].is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Built without protocol 2, `hola` is an operation the server does not know, answered
/// like any other: a client then goes on in the course's protocol.
#[cfg(not(feature = "proto2"))]
#[test]
fn hola_is_an_unknown_operation_without_protocol_2() {
    let dir = folder("no-hola");
    let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1 << 20);
    let (flow, out) = ask(&mut ctx, 1, "hola", &Data::dict([("version", Data::Int(2))]));
    assert_eq!(flow, Flow::Done);
    let replies = replies(out);
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].estado, "error");
    assert_eq!(
        replies[0].data,
        Value::String("operación desconocida: hola".into())
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `hola` version 2 switches the connection after its reply, and a subscriber's pushes
/// follow: from then on they are written in protocol 2, not as pickles.
#[cfg(feature = "proto2")]
#[test]
fn hola_switches_the_connection_and_its_pushes() {
    use crate::protocol::ReplyTo;
    let dir = folder("hola-pushes");
    let mut ctx = Context::new(Storage::open(&dir).unwrap(), 1 << 20);
    let id = ctx.peers.join(0, peer());
    let (flow, _) = ask(&mut ctx, id, "suscribir", &Data::None);
    assert_eq!(flow, Flow::Done);
    assert!(matches!(
        ctx.peers.get(id).unwrap().subscribed,
        Some(ReplyTo::Course(_))
    ));
    let (flow, out) = ask(&mut ctx, id, "hola", &Data::dict([("version", Data::Int(2))]));
    assert_eq!(flow, Flow::Switch(Codec::V2));
    assert_eq!(replies(out)[0].estado, "ok", "the hola reply is the last pickle");
    assert_eq!(
        ctx.peers.get(id).unwrap().subscribed,
        Some(ReplyTo::V2 { id: None })
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A whole upload waiting for another writer of its name, whose connection then
/// leaves, publishes nothing and leaves no staged bytes behind; the first is published.
#[test]
fn waiting_upload_of_a_leaver_is_dropped_with_its_bytes() {
    let dir = folder("queued-leaver");
    let storage = Storage::open(&dir).unwrap();
    storage.prepare_staging(Duration::from_secs(60)).unwrap();
    let mut ctx = Context::new(storage, 1 << 20);
    let up = |content: &[u8]| {
        Data::Dict(vec![
            ("nombre".into(), Data::str("x.bin")),
            ("contenido".into(), Data::Bytes(content.to_vec())),
            ("reemplazar".into(), Data::Bool(true)),
        ])
    };
    assert_eq!(ask(&mut ctx, 1, "subir", &up(b"primero")).0, Flow::Wait);
    assert_eq!(ask(&mut ctx, 2, "subir", &up(b"segundo")).0, Flow::Wait);
    ctx.forget(2);
    while ctx.has_work() {
        ctx.work();
    }
    let deliveries = ctx.take_deliveries();
    assert_eq!(deliveries.len(), 1, "only the first is answered");
    assert_eq!(deliveries[0].id, 1);
    assert_eq!(std::fs::read(dir.join("x.bin")).unwrap(), b"primero");
    let staged = std::fs::read_dir(dir.join(crate::storage::STAGING))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
        .count();
    assert_eq!(staged, 0, "the leaver's bytes are gone");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A piece that waits for its `sha256_previo` check, sent by a connection whose input
/// then ended (so its name was let go), does not cut off the bytes another connection
/// staged meanwhile: it is refused, and what the other was told stays true.
#[test]
fn checked_piece_of_a_gone_writer_never_cuts_off_a_newer_one() {
    let dir = folder("previo-race");
    let storage = Storage::open(&dir).unwrap();
    storage.prepare_staging(Duration::from_secs(60)).unwrap();
    let mut ctx = Context::new(storage, 1 << 20);
    let piece = |content: &[u8], from: i64, previo: Option<&[u8]>| {
        let mut fields = vec![
            ("nombre".to_string(), Data::str("p.bin")),
            ("contenido".to_string(), Data::Bytes(content.to_vec())),
            ("desde".to_string(), Data::Int(from)),
        ];
        if let Some(p) = previo {
            let hex = crate::digest::hex(&crate::digest::of_bytes(p));
            fields.push(("sha256_previo".to_string(), Data::str(hex.as_str())));
        }
        Data::Dict(fields)
    };
    assert!(replies(ask_done(&mut ctx, 1, "subir_parte", &piece(b"abc", 0, None)))[0].is_ok());
    // The first writer's next piece waits for its check; then its input ends.
    assert_eq!(
        ask(&mut ctx, 1, "subir_parte", &piece(b"def", 3, Some(b"abc"))).0,
        Flow::Wait
    );
    ctx.locks.release_parts_of(1);
    // A retry from another connection goes on from what is staged.
    let (_, out) = ask(&mut ctx, 2, "subir_parte", &piece(b"XYZ", 3, None));
    assert!(out.is_empty(), "its piece waits for the disk");
    while ctx.has_work() {
        ctx.work();
    }
    let mut answers: Vec<(u64, bool)> = Vec::new();
    for d in ctx.take_deliveries() {
        let mut out = Outbox::default();
        for chunk in d.chunks {
            out.push(chunk);
        }
        answers.push((d.id, replies(out)[0].is_ok()));
    }
    answers.sort();
    assert_eq!(answers, [(1, false), (2, true)]);
    let part = ctx.storage.read_part("p.bin").unwrap();
    let mut staged = Vec::new();
    std::io::Read::read_to_end(&mut &part, &mut staged).unwrap();
    assert_eq!(staged, b"abcXYZ");
    std::fs::remove_dir_all(&dir).unwrap();
}
