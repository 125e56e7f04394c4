//! Writing protocol-2 frames: replies, streamed replies and pushes.
//!
//! Bytes never travel inside the JSON. A reply's `data` that is bytes (a download), or a
//! dict with one bytes field (a pushed file's `contenido`), is lifted out: the JSON says
//! `"bytes": N` and the N bytes follow it raw. That is what lets a download's body go
//! from the file to the socket with sendfile, and what spares clients base64.
//!
//! Keys are written in a fixed order: `aviso`, `id`, `operacion`, `estado`, `data`,
//! `bytes` (each only when it applies), so dumps are easy to read and to compare.

use crate::pickle::Data;
use serde::ser::{self, Serialize, SerializeMap, SerializeSeq, Serializer};

use super::frame::PREFIX_LEN;

/// A whole reply: `{"id", "operacion", "estado", "data"}`, or with `data`'s bytes lifted
/// out and sent raw after the JSON. A reply that cannot be written (bytes nested deeper
/// than a dict's field, or JSON over 4 GiB) becomes an error reply saying so.
pub fn reply(id: Option<u64>, operacion: &str, estado: &str, data: &Data) -> Vec<u8> {
    let head = |data| Head {
        id,
        operacion,
        estado: Some(estado),
        ..Head::new(data)
    };
    message(head, data).unwrap_or_else(|why| {
        log::error!("a {operacion} reply cannot be written in protocol 2: {why}");
        let mensaje = Data::str(why.mensaje());
        let error = |data| Head {
            id,
            operacion,
            estado: Some("error"),
            ..Head::new(data)
        };
        message(error, &mensaje).unwrap_or_default()
    })
}

/// The head of a streamed reply, `{"id", "operacion", "estado": "ok", "bytes": N}`: the
/// body (`body_len` bytes, say a file sent with sendfile) follows it, and nothing after.
pub fn stream_head(id: Option<u64>, operacion: &str, body_len: u64) -> Vec<u8> {
    let head = Head {
        id,
        operacion,
        estado: Some("ok"),
        bytes: Some(body_len),
        ..Head::new(None)
    };
    finish(head).unwrap_or_default()
}

/// A whole request, as a client writes it: `{"id", "operacion", "data"}` (no `data` key
/// when it is `None`), with `data`'s bytes (an upload's `contenido`) lifted out and sent
/// raw after the JSON, as in [`reply`]. `None` when `data` holds bytes anywhere but
/// itself or one field of a dict, or the JSON is over 4 GiB.
pub fn request(id: Option<u64>, operacion: &str, data: &Data) -> Option<Vec<u8>> {
    if matches!(data, Data::None) {
        return finish(Head {
            id,
            operacion,
            ..Head::new(None)
        });
    }
    let head = |data| Head {
        id,
        operacion,
        ..Head::new(data)
    };
    message(head, data).ok()
}

/// A whole push: `{"aviso": true, "operacion", "data"}` (no id: nobody asked), with
/// `data`'s bytes lifted out as in [`reply`].
pub(crate) fn push(operacion: &str, data: &Data) -> Vec<u8> {
    let head = |data| Head {
        aviso: true,
        operacion,
        ..Head::new(data)
    };
    message(head, data).unwrap_or_else(|why| {
        log::error!("a {operacion} push cannot be written in protocol 2: {why}");
        Vec::new()
    })
}

/// The head of a streamed push, `{"aviso": true, "operacion", "data": {fields},
/// "bytes": N}` (a pushed file: its `contenido` follows raw).
pub(crate) fn push_head(operacion: &str, fields: &[(String, Data)], body_len: u64) -> Vec<u8> {
    let head = Head {
        aviso: true,
        operacion,
        bytes: Some(body_len),
        ..Head::new(Some(Json::Fields(fields, None)))
    };
    finish(head).unwrap_or_default()
}

/// `data` as JSON text, to keep and reuse (say, a cached listing), or `None` when it
/// holds bytes.
pub(crate) fn data_json(data: &Data) -> Option<Vec<u8>> {
    if has_bytes(data) {
        return None;
    }
    serde_json::to_vec(&Json::Data(data)).ok()
}

/// A whole reply whose `data` is JSON text made earlier by [`data_json`]: only the short
/// head is written per request, so a cached listing costs a copy, not an encoding.
pub(crate) fn reply_with_data_json(
    id: Option<u64>,
    operacion: &str,
    estado: &str,
    data_json: &[u8],
) -> Vec<u8> {
    let head = Head {
        id,
        operacion,
        estado: Some(estado),
        ..Head::new(None)
    };
    let mut out = Vec::with_capacity(64 + operacion.len() + data_json.len());
    out.extend_from_slice(&[0; PREFIX_LEN]);
    if serde_json::to_writer(&mut out, &head).is_err() {
        return Vec::new();
    }
    // The head is an object, so it ends in `}`: reopen it for one more key.
    out.pop();
    out.extend_from_slice(b",\"data\":");
    out.extend_from_slice(data_json);
    out.push(b'}');
    set_prefix(out).unwrap_or_else(|| reply(id, operacion, "error", &Data::str(TOO_LARGE)))
}

/// Wraps JSON text already written into a frame (for tests and tools).
pub fn frame_json(json: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(PREFIX_LEN + json.len());
    out.extend_from_slice(&(json.len() as u32).to_be_bytes());
    out.extend_from_slice(json);
    out
}

const TOO_LARGE: &str = "respuesta demasiado grande";

/// Why a reply could not be written.
#[derive(Debug, Clone, Copy)]
enum Unwritable {
    /// Bytes somewhere other than `data` itself or one of its fields.
    NestedBytes,
    /// JSON over the 32-bit prefix.
    TooLarge,
}

impl Unwritable {
    fn mensaje(self) -> &'static str {
        match self {
            Unwritable::NestedBytes => "error interno del servidor: respuesta sin forma en el protocolo 2",
            Unwritable::TooLarge => TOO_LARGE,
        }
    }
}

impl std::fmt::Display for Unwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unwritable::NestedBytes => "bytes nested inside data",
            Unwritable::TooLarge => "JSON over 4 GiB",
        })
    }
}

/// Lifts `data`'s bytes out, writes the head, appends the bytes.
fn message<'a>(head: impl Fn(Option<Json<'a>>) -> Head<'a>, data: &'a Data) -> Result<Vec<u8>, Unwritable> {
    let (json, body) = match data {
        Data::Bytes(b) => (None, Some(b.as_slice())),
        Data::Dict(fields) => match lift(fields)? {
            Some((i, b)) => (Some(Json::Fields(fields, Some(i))), Some(b)),
            None => (Some(Json::Data(data)), None),
        },
        other if has_bytes(other) => return Err(Unwritable::NestedBytes),
        other => (Some(Json::Data(other)), None),
    };
    let head = Head {
        bytes: body.map(|b| b.len() as u64),
        ..head(json)
    };
    let mut out = finish(head).ok_or(Unwritable::TooLarge)?;
    out.extend_from_slice(body.unwrap_or_default());
    Ok(out)
}

/// The one bytes field of a dict (its index), if any.
fn lift(fields: &[(String, Data)]) -> Result<Option<(usize, &[u8])>, Unwritable> {
    let mut found = None;
    for (i, (_, value)) in fields.iter().enumerate() {
        match value {
            Data::Bytes(b) if found.is_none() => found = Some((i, b.as_slice())),
            v if has_bytes(v) => return Err(Unwritable::NestedBytes),
            _ => {}
        }
    }
    Ok(found)
}

fn has_bytes(d: &Data) -> bool {
    match d {
        Data::Bytes(_) => true,
        Data::List(items) => items.iter().any(has_bytes),
        Data::Dict(fields) => fields.iter().any(|(_, v)| has_bytes(v)),
        _ => false,
    }
}

/// Writes a head's JSON after a prefix and fills the prefix in.
fn finish(head: Head) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(96);
    out.extend_from_slice(&[0; PREFIX_LEN]);
    serde_json::to_writer(&mut out, &head).ok()?;
    set_prefix(out)
}

fn set_prefix(mut out: Vec<u8>) -> Option<Vec<u8>> {
    let len = u32::try_from(out.len() - PREFIX_LEN).ok()?;
    out[..PREFIX_LEN].copy_from_slice(&len.to_be_bytes());
    Some(out)
}

/// The JSON object of a frame. `None` fields are left out.
#[derive(Clone, Copy)]
struct Head<'a> {
    aviso: bool,
    id: Option<u64>,
    operacion: &'a str,
    estado: Option<&'a str>,
    data: Option<Json<'a>>,
    bytes: Option<u64>,
}

impl<'a> Head<'a> {
    fn new(data: Option<Json<'a>>) -> Head<'a> {
        Head {
            aviso: false,
            id: None,
            operacion: "",
            estado: None,
            data,
            bytes: None,
        }
    }
}

impl Serialize for Head<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(None)?;
        if self.aviso {
            map.serialize_entry("aviso", &true)?;
        }
        if let Some(id) = self.id {
            map.serialize_entry("id", &id)?;
        }
        map.serialize_entry("operacion", self.operacion)?;
        if let Some(estado) = self.estado {
            map.serialize_entry("estado", estado)?;
        }
        if let Some(data) = &self.data {
            map.serialize_entry("data", data)?;
        }
        if let Some(n) = self.bytes {
            map.serialize_entry("bytes", &n)?;
        }
        map.end()
    }
}

/// A reply value as JSON: all of it, or a dict's fields but the one (bytes) lifted out.
#[derive(Clone, Copy)]
enum Json<'a> {
    Data(&'a Data),
    Fields(&'a [(String, Data)], Option<usize>),
}

impl Serialize for Json<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Json::Data(Data::None) => s.serialize_unit(),
            Json::Data(Data::Bool(b)) => s.serialize_bool(*b),
            Json::Data(Data::Int(n)) => s.serialize_i64(*n),
            Json::Data(Data::Str(t)) => s.serialize_str(t),
            Json::Data(Data::Bytes(_)) => Err(ser::Error::custom("bytes cannot go inside JSON")),
            Json::Data(Data::List(items)) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(&Json::Data(item))?;
                }
                seq.end()
            }
            Json::Data(Data::Dict(fields)) => Json::Fields(fields, None).serialize(s),
            Json::Fields(fields, skip) => {
                let mut map = s.serialize_map(None)?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    if Some(i) != skip {
                        map.serialize_entry(k, &Json::Data(v))?;
                    }
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON text and the raw bytes of a frame.
    fn split(frame: &[u8]) -> (&str, &[u8]) {
        let len = u32::from_be_bytes(frame[..4].try_into().unwrap()) as usize;
        (
            std::str::from_utf8(&frame[4..4 + len]).unwrap(),
            &frame[4 + len..],
        )
    }

    /// A reply is `{"id", "operacion", "estado", "data"}`, in that order, UTF-8 unescaped.
    #[test]
    fn replies_keep_the_documented_key_order() {
        let names = Data::List(vec![Data::str("canción.txt"), Data::str("a\"b")]);
        let f = reply(Some(7), "listar", "ok", &names);
        assert_eq!(
            split(&f),
            (
                r#"{"id":7,"operacion":"listar","estado":"ok","data":["canción.txt","a\"b"]}"#,
                &b""[..]
            )
        );
        let f = reply(None, "", "error", &Data::str("mensaje inválido: falta operacion"));
        assert_eq!(
            split(&f).0,
            r#"{"operacion":"","estado":"error","data":"mensaje inválido: falta operacion"}"#
        );
    }

    /// Bytes as `data` leave the JSON: `"bytes": N`, then the N bytes raw.
    #[test]
    fn bytes_data_travel_raw_after_the_json() {
        let f = reply(Some(2), "descargar", "ok", &Data::Bytes(b"\0\x01hola".to_vec()));
        assert_eq!(
            split(&f),
            (
                r#"{"id":2,"operacion":"descargar","estado":"ok","bytes":6}"#,
                &b"\0\x01hola"[..]
            )
        );
        let empty = reply(Some(3), "descargar", "ok", &Data::Bytes(Vec::new()));
        assert_eq!(
            split(&empty).0,
            r#"{"id":3,"operacion":"descargar","estado":"ok","bytes":0}"#
        );
    }

    /// A streamed reply's head is the same JSON a whole one would have, so the body can
    /// follow it straight from the file.
    #[test]
    fn a_streamed_head_matches_the_whole_reply() {
        let body = vec![7u8; 300];
        let whole = reply(Some(5), "descargar", "ok", &Data::Bytes(body.clone()));
        let mut streamed = stream_head(Some(5), "descargar", 300);
        streamed.extend_from_slice(&body);
        assert_eq!(streamed, whole);
    }

    /// A pushed file is `{"aviso": true, "operacion", "data": {fields}, "bytes": N}` + bytes,
    /// whole or streamed alike; pushes never carry an id.
    #[test]
    fn pushes_say_aviso_and_lift_their_file() {
        let fields = vec![
            ("nombre".to_string(), Data::str("a.txt")),
            ("de".to_string(), Data::Int(1)),
        ];
        let mut with_file = fields.clone();
        with_file.push(("contenido".to_string(), Data::Bytes(b"xyz".to_vec())));
        let whole = push("archivo", &Data::Dict(with_file));
        assert_eq!(
            split(&whole),
            (
                r#"{"aviso":true,"operacion":"archivo","data":{"nombre":"a.txt","de":1},"bytes":3}"#,
                &b"xyz"[..]
            )
        );
        let mut streamed = push_head("archivo", &fields, 3);
        streamed.extend_from_slice(b"xyz");
        assert_eq!(streamed, whole);
        let bye = push("cierre", &Data::str("el servidor se está cerrando"));
        assert_eq!(
            split(&bye).0,
            r#"{"aviso":true,"operacion":"cierre","data":"el servidor se está cerrando"}"#
        );
    }

    /// A request is `{"id", "operacion", "data"}` with no `estado`; `None` data is left
    /// out, and an upload's `contenido` travels raw after the JSON.
    #[test]
    fn requests_lift_their_contenido_and_leave_out_null_data() {
        let listar = request(Some(1), "listar", &Data::None).unwrap();
        assert_eq!(split(&listar), (r#"{"id":1,"operacion":"listar"}"#, &b""[..]));
        let subir = Data::dict([
            ("nombre", Data::str("ñ.txt")),
            ("contenido", Data::Bytes(b"hola\n".to_vec())),
            ("reemplazar", Data::Bool(true)),
        ]);
        let f = request(Some(4), "subir", &subir).unwrap();
        assert_eq!(
            split(&f),
            (
                r#"{"id":4,"operacion":"subir","data":{"nombre":"ñ.txt","reemplazar":true},"bytes":5}"#,
                &b"hola\n"[..]
            )
        );
        let odd = Data::List(vec![Data::Bytes(vec![1])]);
        assert_eq!(request(Some(1), "x", &odd), None);
    }

    /// Bytes anywhere else cannot be written: an error reply says so, never a panic.
    #[test]
    fn nested_bytes_become_an_error_reply() {
        let odd = Data::List(vec![Data::Bytes(vec![1])]);
        let f = reply(Some(1), "x", "ok", &odd);
        assert!(split(&f).0.contains(r#""estado":"error""#), "{:?}", split(&f));
        let two = Data::dict([("a", Data::Bytes(vec![1])), ("b", Data::Bytes(vec![2]))]);
        assert!(split(&reply(Some(1), "x", "ok", &two)).0.contains("error"));
        assert_eq!(data_json(&odd), None);
        assert!(push("x", &odd).is_empty());
    }

    /// A reply from cached data JSON is byte for byte the reply encoded afresh.
    #[test]
    fn cached_data_json_gives_the_same_reply() {
        let data = Data::List(vec![Data::dict([
            ("nombre", Data::str("ñ")),
            ("bytes", Data::Int(-1)),
        ])]);
        let cached = data_json(&data).unwrap();
        assert_eq!(
            reply_with_data_json(Some(9), "listar", "ok", &cached),
            reply(Some(9), "listar", "ok", &data)
        );
    }
}
