//! Fuzz target: the protocol-2 frame check and JSON header decoder, on any bytes.
//! Whatever decodes must survive our own reply encoder and decode back the same: the id,
//! the operacion, and every value of `data` that JSON can carry.
#![no_main]

use almacen::pickle::{Data, Value};
use almacen::message::{Memo, Request};
use almacen::protocol::v2 as proto2;
use almacen::protocol::{Body, Check, Codec, Limits, ReplyTo};
use libfuzzer_sys::fuzz_target;
use almacen::pickle::decode::HashableValue;

fn limits() -> Limits {
    Limits {
        max_frame: 1 << 16,
        max_json: 1 << 14,
        ..Limits::new(1 << 16)
    }
}

fuzz_target!(|data: &[u8]| {
    let limits = limits();
    match Codec::V2.check(data, &limits) {
        Check::Incomplete { need: Some(n) } => assert!(n > data.len()),
        Check::Incomplete { need: None } => assert!(data.len() < proto2::frame::PREFIX_LEN),
        Check::Invalid(bad) => {
            assert!(!bad.mensaje.is_empty());
            reads_back(&bad.reply(), &bad.to, &bad.operacion, &limits);
        }
        Check::Complete(frame) => {
            assert!(frame.len <= data.len());
            if let Body::V2 { json, raw, .. } = &frame.body {
                assert!(json.start == 4 && json.end == raw.start && raw.end == frame.len);
            }
            match Codec::V2.decode(data, frame, &limits, &mut Memo::default()) {
                Ok((req, to)) => {
                    let req = &req;
                    // Negotiation must not panic on whatever data holds.
                    let _ = proto2::hola::version(&req.data);
                    let reply = to.ok(&req.operacion, &Data::str("x"));
                    reads_back(&reply, &to, &req.operacion, &limits);
                    if let Some(d) = to_data(&req.data) {
                        let echoed = to.ok(&req.operacion, &d);
                        let back = decoded(&echoed, &limits);
                        assert_eq!(back.0.data, req.data, "data survives a round trip");
                    }
                }
                Err(bad) => {
                    assert!(!bad.mensaje.is_empty());
                    reads_back(&bad.reply(), &bad.to, &bad.operacion, &limits);
                }
            }
        }
    }
});

/// A frame we wrote decodes whole, with the id and operacion we meant.
fn reads_back(frame: &[u8], to: &ReplyTo, operacion: &str, limits: &Limits) {
    let back = decoded(frame, limits);
    assert_eq!(&back.1, to);
    assert_eq!(back.0.operacion, operacion);
}

fn decoded<'f>(frame: &'f [u8], limits: &Limits) -> (Request<'f>, ReplyTo) {
    // Our replies may be larger than a request may be.
    let roomy = Limits {
        max_json: usize::MAX >> 1,
        ..*limits
    };
    match Codec::V2.check(frame, &roomy) {
        Check::Complete(f) => {
            assert_eq!(f.len, frame.len(), "exactly one frame");
            Codec::V2
                .decode(frame, f, &roomy, &mut Memo::default())
                .expect("our own frame decodes")
        }
        other => panic!("our own frame does not check: {other:?}"),
    }
}

/// The reply value that writes `v` back, for values JSON can carry.
fn to_data(v: &Value) -> Option<Data> {
    Some(match v {
        Value::None => Data::None,
        Value::Bool(b) => Data::Bool(*b),
        Value::I64(n) => Data::Int(*n),
        Value::String(s) => Data::Str(s.clone()),
        Value::List(items) => Data::List(items.iter().map(to_data).collect::<Option<_>>()?),
        Value::Dict(map) => Data::Dict(
            map.iter()
                .map(|(k, v)| match k {
                    HashableValue::String(k) => Some((k.clone(), to_data(v)?)),
                    _ => None,
                })
                .collect::<Option<_>>()?,
        ),
        _ => return None,
    })
}
