//! Protocol 2: a JSON header plus raw bytes, chosen per connection with `hola`.
//!
//! A connection starts in the course's protocol (4-byte length + pickle). A pickled
//! `Mensaje("hola", {"version": 2})` switches it, from the next frame on, to frames of
//! 4-byte length L + L bytes of a JSON object + the `bytes` raw bytes that object
//! announces (see docs/protocol.md, section 11). Everything here is pure, like `crate::frame`
//! and `crate::pickle`: byte slices in, values out, no sockets.
//!
//! The pieces a connection needs, whatever protocol it speaks:
//! - [`Codec`] says which protocol the connection reads; [`Codec::check`] finds a whole
//!   frame at the front of a buffer and [`Frame::decode`] turns it into a request.
//! - [`ReplyTo`] says how to answer one request (the course's class, or protocol 2's id),
//!   and writes the replies, streamed replies and pushes.
//! - [`hola`] recognises the negotiation and builds its reply.
//!
//! Operations stay protocol-agnostic: a protocol-2 request becomes the same
//! [`message::Request`] a pickle does (its JSON mapped to the pickle side's `Value`, its
//! raw bytes standing in `data["contenido"]`), and a reply's `Data` is written by either
//! protocol.

pub mod encode;
pub mod frame;
pub mod header;
pub mod hola;

use crate::message::{self, Request};
use crate::pickle::{self, Data, Envelope, Value};
use serde_pickle::HashableValue;
use std::ops::Range;

pub use header::Header;

/// Which protocol a connection is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// The course's: 4-byte length + a pickled `Mensaje`. Every connection starts here.
    #[default]
    Course,
    /// Protocol 2: 4-byte length + a JSON object + raw bytes.
    V2,
}

/// How much a peer may make us hold or work through, for both protocols.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The course's largest payload; in protocol 2, the most raw bytes after the JSON.
    pub max_frame: usize,
    /// Protocol 2: the most bytes of JSON in one frame. Bytes travel raw, so a request's
    /// JSON is small; this keeps what is parsed (and re-parsed while the raw bytes
    /// arrive) far below `max_frame`.
    pub max_json: usize,
    /// The pickle pre-scan's limits. The JSON pre-scan uses the same `max_depth` and
    /// `max_items`, so both protocols refuse the same shapes.
    pub pickle: pickle::Limits,
}

/// Default for [`Limits::max_json`]: a 64 KiB `mensaje` text escaped as `\uXXXX` still fits.
pub const MAX_JSON: usize = 1024 * 1024;

impl Limits {
    /// The server's limits for a `--max-frame` of `max_frame`.
    pub fn new(max_frame: usize) -> Limits {
        Limits {
            max_frame,
            max_json: MAX_JSON.min(max_frame),
            pickle: pickle::Limits::default(),
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits::new(crate::config::Config::default().max_frame)
    }
}

/// What the front of a read buffer holds, in either protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A whole frame: `buf[..frame.len]`.
    Complete(Frame),
    /// Not yet a whole frame. `need` is how many bytes the whole frame takes, once that is
    /// known. In protocol 2, finding it means parsing the JSON: a caller should not call
    /// `check` again before it holds `need` bytes (see [`frame::check`]).
    Incomplete { need: Option<usize> },
    /// The frame cannot be used and the stream cannot be kept in step (it is too large,
    /// or its JSON cannot be read, so where it ends is unknown): send `bad.reply()`,
    /// then close.
    Invalid(Bad),
}

/// A whole frame at the front of a buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// Bytes it takes, prefix and raw bytes included.
    pub len: usize,
    pub body: Body,
}

/// Where a frame's parts are, as offsets into the buffer given to `check`.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Course {
        payload: Range<usize>,
    },
    V2 {
        json: Range<usize>,
        raw: Range<usize>,
        /// The JSON, already parsed by `check` (it had to find `bytes`). An error here
        /// leaves the stream in step: reply with it and carry on.
        header: Result<Header, Bad>,
    },
}

/// A frame or request that is not usable, with what to tell the client.
#[derive(Debug, Clone, PartialEq)]
pub struct Bad {
    /// How to wrap the error reply.
    pub to: ReplyTo,
    /// The `operacion` to echo, when one could be read.
    pub operacion: String,
    /// Short Spanish text for the client.
    pub mensaje: String,
    /// English detail for the log.
    pub detail: String,
}

impl Bad {
    /// The error reply, a whole frame.
    pub fn reply(&self) -> Vec<u8> {
        self.to.error(&self.operacion, &self.mensaje)
    }
}

impl From<message::BadRequest> for Bad {
    fn from(b: message::BadRequest) -> Bad {
        Bad {
            to: ReplyTo::Course(b.envelope),
            operacion: b.operacion,
            mensaje: b.mensaje,
            detail: b.detail,
        }
    }
}

/// A decoded request and how to answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming<'p> {
    /// For protocol 2, `request.envelope` is a placeholder (`Envelope::Dict`): answer
    /// through `to`.
    pub request: Request<'p>,
    pub to: ReplyTo,
}

impl Codec {
    /// Looks at the front of `buf` and reports whether a whole frame is there.
    pub fn check(self, buf: &[u8], limits: &Limits) -> Check {
        match self {
            Codec::Course => course_check(buf, limits),
            Codec::V2 => frame::check(buf, limits),
        }
    }

    /// Turns a frame found by [`Codec::check`] on `buf` into a request.
    pub fn decode<'p>(self, buf: &'p [u8], frame: Frame, limits: &Limits) -> Result<Incoming<'p>, Bad> {
        frame.decode(buf, limits)
    }
}

fn course_check(buf: &[u8], limits: &Limits) -> Check {
    use crate::frame::{self as course, Check as C};
    match course::check(buf, limits.max_frame) {
        C::Complete { len } => Check::Complete(Frame {
            len: course::HEADER_LEN + len,
            body: Body::Course {
                payload: course::HEADER_LEN..course::HEADER_LEN + len,
            },
        }),
        C::Incomplete { need } => Check::Incomplete { need },
        C::TooLarge { len } => Check::Invalid(Bad {
            to: ReplyTo::Course(Envelope::course()),
            operacion: String::new(),
            mensaje: too_large(len, limits.max_frame as u64),
            detail: format!("frame of {len} bytes is over the {} byte limit", limits.max_frame),
        }),
    }
}

/// The Spanish refusal for a request over the size limit, the same in both protocols.
pub(crate) fn too_large(len: u64, max: u64) -> String {
    format!("mensaje demasiado grande ({len} bytes; el máximo es {max}); use subir_parte")
}

impl Frame {
    /// The request in this frame; `buf` is the buffer given to `check`.
    pub fn decode<'p>(self, buf: &'p [u8], limits: &Limits) -> Result<Incoming<'p>, Bad> {
        match self.body {
            Body::Course { payload } => {
                let request = message::parse(&buf[payload], limits.pickle)?;
                let to = ReplyTo::Course(request.envelope.clone());
                Ok(Incoming { request, to })
            }
            Body::V2 { raw, header, .. } => {
                let header = header?;
                let to = ReplyTo::V2 { id: header.id };
                let raw = header.bytes.map(|_| &buf[raw]);
                match into_request(header, raw) {
                    Ok(request) => Ok(Incoming { request, to }),
                    Err((operacion, mensaje, detail)) => Err(Bad {
                        to,
                        operacion,
                        mensaje: mensaje.into(),
                        detail: detail.into(),
                    }),
                }
            }
        }
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

/// How to answer one request, and how to reach a subscriber: what `Envelope` is for the
/// course's protocol, extended with protocol 2. Replies and pushes are written here, so
/// an operation that holds one never asks which protocol it is speaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// The course's protocol: wrap the reply like the request (its class, or a dict).
    Course(Envelope),
    /// Protocol 2: echo the request's id (none when it sent none, or a bad one).
    V2 { id: Option<u64> },
}

impl ReplyTo {
    /// Which protocol this answer is written in.
    pub fn codec(&self) -> Codec {
        match self {
            ReplyTo::Course(_) => Codec::Course,
            ReplyTo::V2 { .. } => Codec::V2,
        }
    }

    /// A whole reply frame. In protocol 2 a `data` that is bytes, or a dict with one bytes
    /// field, travels as raw bytes after the JSON (see [`encode::reply`]).
    pub fn reply(&self, operacion: &str, data: &Data, estado: &str) -> Vec<u8> {
        match self {
            ReplyTo::Course(env) => message::frame_reply(env, operacion, data, estado),
            ReplyTo::V2 { id } => encode::reply(*id, operacion, estado, data),
        }
    }

    /// `estado="ok"` with `data`.
    pub fn ok(&self, operacion: &str, data: &Data) -> Vec<u8> {
        self.reply(operacion, data, "ok")
    }

    /// `estado="error"` with a short Spanish message in `data`.
    pub fn error(&self, operacion: &str, mensaje: &str) -> Vec<u8> {
        self.reply(operacion, &Data::str(mensaje), "error")
    }

    /// A streamed `ok` reply whose data is `body_len` bytes (a download): the frame's head
    /// and tail, for the body to travel between them (with sendfile). In protocol 2 the
    /// tail is empty. `None` when the course's 32-bit prefix cannot hold the frame.
    pub fn stream_parts(&self, operacion: &str, body_len: u64) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            ReplyTo::Course(env) => message::stream_parts(env, operacion, body_len),
            ReplyTo::V2 { id } => Some((encode::stream_head(*id, operacion, body_len), Vec::new())),
        }
    }

    /// A push (a frame nobody asked for) to the subscriber this describes. Protocol 2
    /// marks it `"aviso": true` and gives it no id.
    pub fn push(&self, operacion: &str, data: &Data) -> Vec<u8> {
        match self {
            ReplyTo::Course(env) => message::ok(env, operacion, data),
            ReplyTo::V2 { .. } => encode::push(operacion, data),
        }
    }

    /// A streamed push whose `data` is `fields` plus `key` holding `body_len` bytes (a
    /// pushed file). In protocol 2 the bytes follow the JSON and `key` is implied.
    pub fn push_parts_in_dict(
        &self,
        operacion: &str,
        fields: &[(String, Data)],
        key: &str,
        body_len: u64,
    ) -> Option<(Vec<u8>, Vec<u8>)> {
        match self {
            ReplyTo::Course(env) => message::stream_parts_in_dict(env, operacion, fields, key, body_len),
            ReplyTo::V2 { .. } => Some((encode::push_head(operacion, fields, body_len), Vec::new())),
        }
    }
}

#[cfg(test)]
mod tests;
