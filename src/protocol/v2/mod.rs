//! Protocol 2: a JSON header plus raw bytes, chosen per connection with `hola`.
//!
//! A connection starts in the course's protocol (4-byte length + pickle). A pickled
//! `Mensaje("hola", {"version": 2})` switches it, from the next frame on, to frames of
//! 4-byte length L + L bytes of a JSON object + the `bytes` raw bytes that object
//! announces (see docs/protocol.md, section 11). Everything here is pure, like `crate::frame`
//! and `crate::pickle`: byte slices in, values out, no sockets.
//!
//! It plugs into the seam in `protocol/mod.rs`: [`frame::check`] finds a whole frame,
//! [`decode`] turns it into a request, [`encode`] writes replies and pushes, and [`hola`]
//! answers the negotiation. The whole room sits behind the `proto2` cargo feature.
//!
//! Operations stay protocol-agnostic: a protocol-2 request becomes the same
//! [`message::Request`] a pickle does (its JSON mapped to the pickle side's `Value`, its
//! raw bytes standing in `data["contenido"]`), and a reply's `Data` is written by either
//! protocol.

pub mod encode;
pub mod frame;
pub mod header;
pub mod hola;

use super::{Bad, ReplyTo};
use crate::message::Request;
use crate::pickle::{self, Envelope, Value};
use serde_pickle::HashableValue;
use std::ops::Range;

pub(crate) use header::Header;

/// The request in a protocol-2 frame whose header `check` already parsed, and how to
/// answer it (echoing the request's id); `buf` is the buffer given to `check`.
pub(crate) fn decode(
    buf: &[u8],
    raw: Range<usize>,
    header: Result<Header, Bad>,
) -> Result<(Request<'_>, ReplyTo), Bad> {
    let header = header?;
    let to = ReplyTo::V2 { id: header.id };
    let raw = header.bytes.map(|_| &buf[raw]);
    match into_request(header, raw) {
        Ok(request) => Ok((request, to)),
        Err((operacion, mensaje, detail)) => Err(Bad {
            to,
            operacion,
            mensaje: mensaje.into(),
            detail: detail.into(),
        }),
    }
}

/// The key under which a request's raw bytes reach the operations.
pub const RAW_KEY: &str = "contenido";

/// A protocol-2 header as the request the operations read. Raw bytes, when the frame
/// has them, stand in `data["contenido"]` exactly as a large pickled bytes value does
/// (a marker in `data`, the bytes in `blob`), so `subir` and `subir_parte` read them
/// the same way in both protocols.
fn into_request(h: Header, raw: Option<&[u8]>) -> Result<Request<'_>, (String, &'static str, &'static str)> {
    let mut data = h.data;
    if let Some(raw) = raw {
        let key = HashableValue::String(RAW_KEY.to_string());
        let mark = Value::Bytes(pickle::decode::blob_mark().to_vec());
        match &mut data {
            Value::None => data = Value::Dict([(key, mark)].into_iter().collect()),
            Value::Dict(map) if !map.contains_key(&key) => {
                map.insert(key, mark);
            }
            Value::Dict(_) => {
                return Err((
                    h.operacion,
                    "mensaje inválido: contenido va en los bytes, no dentro de data",
                    "data has contenido and the frame has raw bytes",
                ))
            }
            _ => {
                return Err((
                    h.operacion,
                    "mensaje inválido: un mensaje con bytes necesita que data sea un objeto",
                    "raw bytes with a data that is not an object",
                ))
            }
        }
        return Ok(Request {
            envelope: Envelope::Dict,
            operacion: h.operacion,
            data,
            estado: h.estado,
            blob: Some(raw),
        });
    }
    Ok(Request {
        envelope: Envelope::Dict,
        operacion: h.operacion,
        data,
        estado: h.estado,
        blob: None,
    })
}

#[cfg(test)]
mod tests;
