//! Tests of the codec switch: one connection's reading and writing in either protocol.

use super::encode::frame_json;
use super::*;
use crate::message::{self, Memo};
use crate::pickle::decode::get;
use crate::pickle::Data;
use crate::protocol::{Body, Check, Codec, Limits};

/// A decoded request and how to answer it.
#[derive(Debug)]
struct Incoming<'p> {
    request: Request<'p>,
    to: ReplyTo,
}

fn limits() -> Limits {
    Limits::new(1 << 20)
}

/// Checks and decodes the one frame at the front of `buf`.
fn decode(codec: Codec, buf: &[u8]) -> Result<Incoming<'_>, Bad> {
    match codec.check(buf, &limits()) {
        Check::Complete(frame) => codec
            .decode(buf, frame, &limits(), &mut Memo::default())
            .map(|(request, to)| Incoming { request, to }),
        other => panic!("not a whole frame: {other:?}"),
    }
}

/// The raw bytes of a protocol-2 request reach the operations as `data["contenido"]`,
/// exactly where a pickled upload puts them, without being copied.
#[test]
fn raw_bytes_reach_operations_as_contenido() {
    let mut buf = frame_json(br#"{"id": 12, "operacion": "subir", "data": {"nombre": "a.bin"}, "bytes": 4}"#);
    buf.extend_from_slice(&[0, 1, 2, 3]);
    let inc = decode(Codec::V2, &buf).unwrap();
    assert_eq!(inc.to, ReplyTo::V2 { id: Some(12) });
    let req = &inc.request;
    assert_eq!(req.operacion, "subir");
    let contenido = get(&req.data, RAW_KEY).unwrap();
    assert_eq!(req.bytes_of(contenido), Some(&[0u8, 1, 2, 3][..]));
    assert_eq!(
        req.blob.unwrap().as_ptr(),
        buf[buf.len() - 4..].as_ptr(),
        "not copied"
    );
    // The same request in the course's protocol reads the same to an operation.
    let pickled = message::frame_request(
        &Envelope::Dict,
        "subir",
        &Data::dict([
            ("nombre", Data::str("a.bin")),
            ("contenido", Data::Bytes(vec![0, 1, 2, 3])),
        ]),
    );
    let course = decode(Codec::Course, &pickled).unwrap();
    assert_eq!(
        course.request.clone().into_owned().data,
        req.clone().into_owned().data
    );
    assert_eq!(course.to, ReplyTo::Course(Envelope::Dict));
}

/// With raw bytes and no data, data becomes `{"contenido"}`; contenido in both places,
/// or bytes beside a data that is not an object, is refused with the id echoed.
#[test]
fn raw_bytes_need_an_object_data_without_contenido() {
    let with = |json: &str| {
        let mut f = frame_json(json.as_bytes());
        f.extend_from_slice(b"xy");
        f
    };
    let f = with(r#"{"id": 1, "operacion": "subir", "bytes": 2}"#);
    let inc = decode(Codec::V2, &f).unwrap();
    assert!(get(&inc.request.data, RAW_KEY).is_some());
    let f = with(r#"{"id": 2, "operacion": "subir", "data": {"contenido": "xy"}, "bytes": 2}"#);
    let bad = decode(Codec::V2, &f).unwrap_err();
    assert_eq!(bad.to, ReplyTo::V2 { id: Some(2) });
    assert!(bad.mensaje.contains("contenido va en los bytes"));
    let f = with(r#"{"id": 3, "operacion": "subir", "data": "a.txt", "bytes": 2}"#);
    assert!(decode(Codec::V2, &f)
        .unwrap_err()
        .mensaje
        .contains("data sea un objeto"));
}

/// A frame without bytes has no blob; `bytes: 0` gives an empty contenido.
#[test]
fn no_bytes_means_no_blob_and_zero_bytes_mean_empty_contenido() {
    let f = frame_json(br#"{"id": 1, "operacion": "descargar", "data": "poema.txt"}"#);
    let inc = decode(Codec::V2, &f).unwrap();
    assert_eq!(inc.request.blob, None);
    assert_eq!(inc.request.data, Value::String("poema.txt".into()));
    let f = frame_json(br#"{"id": 1, "operacion": "subir", "data": {"nombre": "v"}, "bytes": 0}"#);
    let inc = decode(Codec::V2, &f).unwrap();
    assert_eq!(
        inc.request.bytes_of(get(&inc.request.data, RAW_KEY).unwrap()),
        Some(&b""[..])
    );
}

/// The course's codec keeps its frame rules: too large is invalid from the prefix, with
/// the same text as protocol 2 and a `__main__.Mensaje` reply.
#[test]
fn the_course_codec_keeps_its_rules() {
    let small = Limits::new(10);
    let Check::Invalid(bad) = Codec::Course.check(&[0, 0, 0, 11], &small) else {
        panic!()
    };
    assert_eq!(bad.to, ReplyTo::Course(Envelope::course()));
    assert_eq!(
        bad.mensaje,
        "mensaje demasiado grande (11 bytes; el máximo es 10); use subir_parte"
    );
    let reply = bad.reply();
    let back = message::parse(&reply[4..], Default::default()).unwrap();
    assert_eq!(back.estado, Value::String("error".into()));
    assert_eq!(
        Codec::Course.check(&[0, 0], &small),
        Check::Incomplete { need: None }
    );
    // An undecodable pickle is a soft error: an error reply, the stream still in step.
    let bad = decode(Codec::Course, &[0, 0, 0, 2, b'x', b'y']).unwrap_err();
    assert_eq!(bad.mensaje, "mensaje inválido: no es un pickle aceptado");
}

/// The same reply data is written in either protocol; each decodes back the same.
#[test]
fn one_reply_in_either_protocol_reads_back_the_same() {
    let data = Data::dict([("nombre", Data::str("ñ.txt")), ("bytes", Data::Int(5))]);
    let course = ReplyTo::Course(Envelope::course()).ok("subir", &data);
    let v2 = ReplyTo::V2 { id: Some(3) }.ok("subir", &data);
    let from_course = message::parse(&course[4..], Default::default())
        .unwrap()
        .into_owned();
    let from_v2 = decode(Codec::V2, &v2).unwrap();
    assert_eq!(from_v2.request.data, from_course.data);
    assert_eq!(from_v2.request.estado, Value::String("ok".into()));
    assert_eq!(from_v2.to, ReplyTo::V2 { id: Some(3) });
}

/// Protocol 2's streamed parts are a head and an empty tail; head + body is one frame
/// that decodes to the body.
#[test]
fn streamed_parts_frame_the_body_in_either_protocol() {
    let body = vec![0xabu8; 70_000];
    for to in [ReplyTo::Course(Envelope::course()), ReplyTo::V2 { id: Some(1) }] {
        let (head, tail) = to.stream_parts("descargar", body.len() as u64).unwrap();
        let whole = [head, body.clone(), tail.clone()].concat();
        let inc = decode(to.codec(), &whole).unwrap();
        let data = inc.request.data.clone();
        let got = match to.codec() {
            Codec::Course => inc.request.bytes_of(&data).map(<[u8]>::to_vec),
            Codec::V2 => {
                assert!(tail.is_empty());
                inc.request
                    .bytes_of(get(&data, RAW_KEY).unwrap())
                    .map(<[u8]>::to_vec)
            }
        };
        assert_eq!(got.as_deref(), Some(&body[..]), "{to:?}");
    }
}

/// Pushes to a protocol-2 subscriber say `aviso` and carry no id, whatever id its
/// `suscribir` had; a course subscriber gets the course's frame.
#[test]
fn pushes_follow_the_subscribers_protocol() {
    let sub = ReplyTo::V2 { id: Some(40) };
    let data = Data::dict([("de", Data::Int(1)), ("texto", Data::str("hola"))]);
    let f = sub.push("mensaje", &data);
    let Check::Complete(frame) = Codec::V2.check(&f, &limits()) else {
        panic!()
    };
    let Body::V2 { header: Ok(h), .. } = frame.body else {
        panic!()
    };
    assert!(h.aviso);
    assert_eq!(h.id, None);
    let fields = vec![("nombre".to_string(), Data::str("a"))];
    let (head, tail) = sub
        .push_parts_in_dict("archivo", &fields, "contenido", 2)
        .unwrap();
    let whole = [head, b"hi".to_vec(), tail].concat();
    assert!(matches!(Codec::V2.check(&whole, &limits()), Check::Complete(_)));
    let course = ReplyTo::Course(Envelope::course()).push("mensaje", &data);
    assert!(message::parse(&course[4..], Default::default()).is_ok());
}
