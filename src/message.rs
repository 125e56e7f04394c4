//! Requests and replies: the `Mensaje(operacion, data, estado)` envelope on top of pickles.

use crate::frame;
use crate::pickle::{self, Data, Envelope, Limits, Value};

/// A request that decoded and has the expected shape. It may point into the payload it
/// came from, for a large bytes value that was not copied.
#[derive(Debug, Clone, PartialEq)]
pub struct Request<'p> {
    /// How to wrap the reply: the request's own class, or a dict.
    pub envelope: Envelope,
    pub operacion: String,
    pub data: Value,
    /// Requests leave it as None; replies say "ok" or "error".
    pub estado: Value,
    /// The large bytes value that `data` holds as [`pickle::decode::blob_mark`].
    pub blob: Option<&'p [u8]>,
}

impl Request<'_> {
    /// The same request with the large bytes value copied back into `data`, for callers
    /// that want plain values and no tie to the payload (clients, tests).
    pub fn into_owned(self) -> Request<'static> {
        fn put_back(v: &mut Value, blob: &[u8]) {
            match v {
                Value::Bytes(b) if b.as_slice() == pickle::decode::blob_mark() => *b = blob.to_vec(),
                Value::List(items) | Value::Tuple(items) => items.iter_mut().for_each(|i| put_back(i, blob)),
                Value::Dict(map) => map.values_mut().for_each(|i| put_back(i, blob)),
                _ => {}
            }
        }
        let mut data = self.data;
        if let Some(blob) = self.blob {
            put_back(&mut data, blob);
        }
        Request {
            envelope: self.envelope,
            operacion: self.operacion,
            data,
            estado: self.estado,
            blob: None,
        }
    }

    /// The bytes of a value in `data`: the payload's own bytes for the large one.
    pub(crate) fn bytes_of<'a>(&'a self, value: &'a Value) -> Option<&'a [u8]> {
        match value {
            Value::Bytes(b) if b.as_slice() == pickle::decode::blob_mark() => self.blob.or(Some(b)),
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }
}

/// A payload that is not a usable request. It still gets a reply.
#[derive(Debug, Clone, PartialEq)]
pub struct BadRequest {
    pub envelope: Envelope,
    /// The `operacion` to echo. Empty today: a payload that fails to decode has none we
    /// can trust, and one that decodes without a str `operacion` has none at all.
    pub operacion: String,
    /// Short Spanish text for the client.
    pub mensaje: String,
    /// English detail for the log.
    pub detail: String,
}

/// Turns a frame's payload into a [`Request`].
pub fn parse(payload: &[u8], limits: Limits) -> Result<Request<'_>, BadRequest> {
    parse_as(payload, limits, true)
}

/// `parse`, for a request (`operacion` must be a str) or a reply (it may be None: the
/// course's own server answers `Mensaje(data=..., estado="ok")` and leaves it out).
fn parse_as(payload: &[u8], limits: Limits, request: bool) -> Result<Request<'_>, BadRequest> {
    let decoded = pickle::decode(payload, limits).map_err(|e| {
        BadRequest::new(
            Envelope::course(),
            "mensaje inválido: no es un pickle aceptado",
            e.to_string(),
        )
    })?;
    let envelope = match decoded.class {
        Some((module, name)) => Envelope::Instance {
            module: module.into(),
            name: name.into(),
        },
        None => Envelope::Dict,
    };
    let Value::Dict(mut fields) = decoded.value else {
        let detail = "root is not an instance or a dict";
        return Err(BadRequest::new(
            envelope,
            "mensaje inválido: se esperaba un Mensaje",
            detail,
        ));
    };
    let mut take = |key: &str| {
        fields
            .remove(&pickle::decode::HashableValue::String(key.to_string()))
            .unwrap_or(Value::None)
    };
    let operacion = match take("operacion") {
        Value::String(s) => s,
        Value::None if !request => String::new(),
        Value::None => {
            return Err(BadRequest::new(
                envelope,
                "mensaje inválido: falta operacion",
                "no operacion",
            ));
        }
        _ => {
            let mensaje = "mensaje inválido: operacion debe ser un str";
            return Err(BadRequest::new(envelope, mensaje, "operacion is not a str"));
        }
    };
    // The fields are moved out, not cloned: `data` may hold megabytes.
    Ok(Request {
        envelope,
        operacion,
        data: take("data"),
        estado: take("estado"),
        blob: decoded.blob.map(|r| &payload[r]),
    })
}

impl BadRequest {
    fn new(envelope: Envelope, mensaje: &str, detail: impl Into<String>) -> BadRequest {
        BadRequest {
            envelope,
            operacion: String::new(),
            mensaje: mensaje.to_string(),
            detail: detail.into(),
        }
    }
}

/// Small requests already decoded, by their exact bytes.
///
/// Clients repeat themselves: the course client sends the very same `listar` bytes
/// before every action. The same bytes always decode the same way, so a repeat can skip
/// the pre-scan and the decoder and take a copy of the earlier result. Only small
/// requests are kept (a few slots of at most [`MEMO_MAX_BYTES`]), and never one that
/// carries a large bytes value.
#[derive(Debug, Default)]
pub struct Memo {
    slots: std::collections::VecDeque<(Box<[u8]>, Request<'static>)>,
}

/// Longest payload worth remembering (the course's `listar` is about 90 bytes).
pub(crate) const MEMO_MAX_BYTES: usize = 512;
/// How many different requests are remembered.
const MEMO_SLOTS: usize = 8;

impl Memo {
    /// [`parse`], answered from memory when these exact bytes were decoded before.
    pub(crate) fn parse<'p>(&mut self, payload: &'p [u8], limits: Limits) -> Result<Request<'p>, BadRequest> {
        if payload.len() > MEMO_MAX_BYTES {
            return parse(payload, limits);
        }
        if let Some(req) = self.lookup(payload) {
            return Ok(req);
        }
        let req = parse(payload, limits)?;
        if req.blob.is_none() {
            if self.slots.len() == MEMO_SLOTS {
                self.slots.pop_front();
            }
            let owned = req.clone().into_owned();
            self.slots.push_back((payload.into(), owned));
        }
        Ok(req)
    }

    /// The request these exact bytes decoded to before, if remembered.
    pub(crate) fn lookup(&self, payload: &[u8]) -> Option<Request<'static>> {
        let (_, req) = self.slots.iter().find(|(bytes, _)| **bytes == *payload)?;
        log::trace!("request of {} B decoded from the memo", payload.len());
        Some(req.clone())
    }

    /// How many requests are remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }
}

/// A decoded reply, as a client sees one: the server's answer to a request, or a push.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub envelope: Envelope,
    pub operacion: String,
    pub data: Value,
    /// "ok" or "error" (empty when the frame had no str `estado`).
    pub estado: String,
}

impl Reply {
    pub fn is_ok(&self) -> bool {
        self.estado == "ok"
    }
}

/// Decodes a reply frame's payload (for clients and tests). A reply without `operacion`
/// (None) reads as an empty one.
pub fn parse_reply(payload: &[u8], limits: Limits) -> Result<Reply, BadRequest> {
    let msg = parse_as(payload, limits, false)?.into_owned();
    let estado = match msg.estado {
        Value::String(s) => s,
        _ => String::new(),
    };
    Ok(Reply {
        envelope: msg.envelope,
        operacion: msg.operacion,
        data: msg.data,
        estado,
    })
}

/// A whole frame (length prefix + pickle) for a message held in memory.
pub(crate) fn frame_message(env: &Envelope, operacion: &str, data: &Data, estado: &Data) -> Vec<u8> {
    let mut out = vec![0; frame::HEADER_LEN];
    pickle::encode::put_message_head(&mut out, env, operacion);
    pickle::encode::put_data(&mut out, data);
    pickle::encode::put_message_tail(&mut out, env, estado);
    match frame::header((out.len() - frame::HEADER_LEN) as u64) {
        Some(h) => {
            out[..frame::HEADER_LEN].copy_from_slice(&h);
            out
        }
        // Only a listing of millions of names could get here; say so instead of lying.
        None => frame_reply(env, operacion, &Data::str("respuesta demasiado grande"), "error"),
    }
}

/// A request as a client sends it: `estado` is None.
pub fn frame_request(env: &Envelope, operacion: &str, data: &Data) -> Vec<u8> {
    frame_message(env, operacion, data, &Data::None)
}

/// A reply: `estado` is "ok" or "error".
pub(crate) fn frame_reply(env: &Envelope, operacion: &str, data: &Data, estado: &str) -> Vec<u8> {
    frame_message(env, operacion, data, &Data::str(estado))
}

/// `estado="ok"` with `data`.
pub fn ok(env: &Envelope, operacion: &str, data: &Data) -> Vec<u8> {
    frame_reply(env, operacion, data, "ok")
}

/// `estado="error"` with a short Spanish message in `data`.
pub fn error(env: &Envelope, operacion: &str, mensaje: &str) -> Vec<u8> {
    frame_reply(env, operacion, &Data::str(mensaje), "error")
}

/// A streamed reply: the frame's head up to the bytes' header, and the tail after them.
/// The body (`body_len` bytes of a file) travels between the two. `None` when the whole
/// frame would not fit the 32-bit length prefix.
pub fn stream_parts(env: &Envelope, operacion: &str, body_len: u64) -> Option<(Vec<u8>, Vec<u8>)> {
    stream_parts_in(env, operacion, None, body_len)
}

/// Like [`stream_parts`], with `data` a dict: `fields` first, then `key` holding the
/// streamed bytes (a pushed file: `{"nombre", "de", "contenido"}`).
pub fn stream_parts_in_dict(
    env: &Envelope,
    operacion: &str,
    fields: &[(String, Data)],
    key: &str,
    body_len: u64,
) -> Option<(Vec<u8>, Vec<u8>)> {
    stream_parts_in(env, operacion, Some((fields, key)), body_len)
}

fn stream_parts_in(
    env: &Envelope,
    operacion: &str,
    dict: Option<(&[(String, Data)], &str)>,
    body_len: u64,
) -> Option<(Vec<u8>, Vec<u8>)> {
    use pickle::encode::{put_dict_end, put_dict_head};
    let mut head = vec![0; frame::HEADER_LEN];
    pickle::encode::put_message_head(&mut head, env, operacion);
    if let Some((fields, key)) = dict {
        put_dict_head(&mut head, fields, key);
    }
    pickle::encode::put_bytes_header(&mut head, body_len);
    let mut tail = Vec::with_capacity(24);
    if dict.is_some() {
        put_dict_end(&mut tail);
    }
    pickle::encode::put_message_tail(&mut tail, env, &Data::str("ok"));
    let total = (head.len() - frame::HEADER_LEN) as u64 + body_len + tail.len() as u64;
    head[..frame::HEADER_LEN].copy_from_slice(&frame::header(total)?);
    Some((head, tail))
}
