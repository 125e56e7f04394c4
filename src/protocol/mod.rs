//! The seam between the wire and the operations: one interface for every protocol a
//! connection may speak.
//!
//! A connection holds a [`Codec`] and knows nothing else about protocols. It asks the
//! codec whether a whole frame is at the front of its buffer ([`Codec::check`], pure: a
//! byte slice in, a [`Check`] out), hands a complete one to its handler, and the handler
//! turns it into a request with [`Codec::decode`], the one place where frames become
//! requests. Replies go back through a [`ReplyTo`], which writes them in the protocol the
//! request came in, so no operation ever asks which protocol it is speaking.
//!
//! Two codecs stand side by side:
//! - [`course`]: the course's protocol (4-byte length + a pickled `Mensaje`). Every
//!   connection starts here, and a course client never leaves it.
//! - `v2` (the `proto2` cargo feature, on by default): a JSON header plus raw bytes, which
//!   a client asks for with `hola` ([`negotiate`]). Built without the feature, the server
//!   speaks the course's protocol only, and `hola` is an unknown operation like any other.

pub(crate) mod course;
#[cfg(feature = "proto2")]
pub mod v2;

use crate::message::{Memo, Request};
use crate::pickle::{self, Data, Envelope};
use std::ops::Range;

/// Which protocol a connection is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// The course's: 4-byte length + a pickled `Mensaje`. Every connection starts here.
    #[default]
    Course,
    /// Protocol 2: 4-byte length + a JSON object + raw bytes.
    #[cfg(feature = "proto2")]
    V2,
}

/// How much a peer may make us hold or work through, for every protocol.
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
pub(crate) const MAX_JSON: usize = 1024 * 1024;

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

/// What the front of a read buffer holds, in any protocol.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// A whole frame: `buf[..frame.len]`.
    Complete(Frame),
    /// Not yet a whole frame. `need` is how many bytes the whole frame takes, once that is
    /// known. A caller should not call `check` again before it holds `need` bytes (in
    /// protocol 2, finding `need` means parsing the JSON).
    Incomplete { need: Option<usize> },
    /// The frame cannot be used and the stream cannot be kept in step (it is too large,
    /// or where it ends is unknown): send `bad.reply()`, then close.
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
    #[cfg(feature = "proto2")]
    V2 {
        json: Range<usize>,
        raw: Range<usize>,
        /// The JSON, already parsed by `check` (it had to find `bytes`). An error here
        /// leaves the stream in step: reply with it and carry on.
        header: Result<v2::Header, Bad>,
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

impl Codec {
    /// Looks at the front of `buf` and reports whether a whole frame is there.
    pub fn check(self, buf: &[u8], limits: &Limits) -> Check {
        match self {
            Codec::Course => course::check(buf, limits),
            #[cfg(feature = "proto2")]
            Codec::V2 => v2::frame::check(buf, limits),
        }
    }

    /// Turns a frame found by [`Codec::check`] on `buf` into a request, and says how to
    /// answer it. Course requests go through `memo`, which remembers small requests
    /// already decoded (a client asking `listar` again and again is decoded once).
    pub fn decode<'b>(
        self,
        buf: &'b [u8],
        frame: Frame,
        limits: &Limits,
        memo: &mut Memo,
    ) -> Result<(Request<'b>, ReplyTo), Bad> {
        match frame.body {
            Body::Course { payload } => course::decode(&buf[payload], limits, memo),
            #[cfg(feature = "proto2")]
            Body::V2 { raw, header, .. } => v2::decode(buf, raw, header),
        }
    }
}

/// The Spanish refusal for a request over the size limit, the same in every protocol.
pub(crate) fn too_large(len: u64, max: u64) -> String {
    format!("mensaje demasiado grande ({len} bytes; el máximo es {max}); use subir_parte")
}

/// How to answer one request, and how to reach a subscriber. Replies and pushes are
/// written here, so an operation that holds one never asks which protocol it is speaking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReplyTo {
    /// The course's protocol: wrap the reply like the request (its class, or a dict).
    Course(Envelope),
    /// Protocol 2: echo the request's id (none when it sent none, or a bad one).
    #[cfg(feature = "proto2")]
    V2 { id: Option<u64> },
}

impl ReplyTo {
    /// An answer that echoes nothing of a request (none could be read): the course's
    /// class, or protocol 2 without an id.
    pub(crate) fn bare(codec: Codec) -> ReplyTo {
        match codec {
            Codec::Course => ReplyTo::Course(Envelope::course()),
            #[cfg(feature = "proto2")]
            Codec::V2 => ReplyTo::V2 { id: None },
        }
    }

    /// Which protocol this answer is written in.
    #[cfg(all(test, feature = "proto2"))]
    pub(crate) fn codec(&self) -> Codec {
        match self {
            ReplyTo::Course(_) => Codec::Course,
            #[cfg(feature = "proto2")]
            ReplyTo::V2 { .. } => Codec::V2,
        }
    }

    /// A whole reply frame. In protocol 2 a `data` that is bytes, or a dict with one bytes
    /// field, travels as raw bytes after the JSON.
    pub(crate) fn reply(&self, operacion: &str, data: &Data, estado: &str) -> Vec<u8> {
        match self {
            ReplyTo::Course(env) => crate::message::frame_reply(env, operacion, data, estado),
            #[cfg(feature = "proto2")]
            ReplyTo::V2 { id } => v2::encode::reply(*id, operacion, estado, data),
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
            ReplyTo::Course(env) => crate::message::stream_parts(env, operacion, body_len),
            #[cfg(feature = "proto2")]
            ReplyTo::V2 { id } => Some((v2::encode::stream_head(*id, operacion, body_len), Vec::new())),
        }
    }

    /// A push (a frame nobody asked for) to the subscriber this describes. Protocol 2
    /// marks it `"aviso": true` and gives it no id.
    pub(crate) fn push(&self, operacion: &str, data: &Data) -> Vec<u8> {
        match self {
            ReplyTo::Course(env) => crate::message::ok(env, operacion, data),
            #[cfg(feature = "proto2")]
            ReplyTo::V2 { .. } => v2::encode::push(operacion, data),
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
            ReplyTo::Course(env) => {
                crate::message::stream_parts_in_dict(env, operacion, fields, key, body_len)
            }
            #[cfg(feature = "proto2")]
            ReplyTo::V2 { .. } => Some((v2::encode::push_head(operacion, fields, body_len), Vec::new())),
        }
    }

    /// The same subscriber after its connection switched to `codec`: pushes follow the
    /// protocol the connection speaks now, not the one it subscribed in.
    pub(crate) fn speaking(&self, codec: Codec) -> ReplyTo {
        match codec {
            Codec::Course => self.clone(),
            #[cfg(feature = "proto2")]
            Codec::V2 => ReplyTo::V2 { id: None },
        }
    }
}

/// A frame nobody asked for, for a connection that never subscribed, when its protocol
/// lets a client tell such a frame from a reply: protocol 2 marks it (`aviso`); the
/// course's protocol cannot, so there it is `None`.
pub(crate) fn unasked_notice(codec: Codec, operacion: &str, data: &Data) -> Option<Vec<u8>> {
    match codec {
        Codec::Course => {
            let _ = (operacion, data);
            None
        }
        #[cfg(feature = "proto2")]
        Codec::V2 => Some(v2::encode::push(operacion, data)),
    }
}

/// What a `hola` came to: the reply to queue (in the protocol spoken so far), and the
/// codec the connection reads with from the next frame on.
pub(crate) struct Negotiated {
    pub reply: Vec<u8>,
    pub next: Codec,
}

/// `Some` when `req` asks to change protocols (`hola`). Only the protocols this build
/// speaks can be asked for: without the `proto2` feature nothing is negotiated, and `hola`
/// reaches the operations table, which does not know it. `operations` lists what the
/// server knows, for the reply; it is called only for a `hola`.
pub(crate) fn negotiate(
    codec: Codec,
    req: &Request,
    to: &ReplyTo,
    operations: fn() -> Vec<&'static str>,
    limits: &Limits,
) -> Option<Negotiated> {
    #[cfg(feature = "proto2")]
    if req.operacion == v2::hola::OPERACION {
        return Some(v2::hola::answer(codec, req, to, &operations(), limits));
    }
    let _ = (codec, req, to, operations, limits);
    None
}
