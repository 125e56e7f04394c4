//! The encoder: writes reply values as protocol-4 pickles, the way CPython would read them.
//!
//! We only ever *write* a handful of shapes (a `Mensaje` instance or a dict holding str,
//! bytes, ints, lists and dicts), so a small writer is simpler and faster than a general
//! serializer. Protocol 4 without FRAME or MEMOIZE is valid: both are optional for readers.

use super::opcodes::{
    APPENDS, BINBYTES, BINBYTES8, BININT, BINUNICODE, BINUNICODE8, BUILD, EMPTY_DICT, EMPTY_LIST,
    EMPTY_TUPLE, LONG1, MARK, NEWFALSE, NEWOBJ, NEWTRUE, NONE, PROTO, SETITEMS, SHORT_BINBYTES,
    SHORT_BINUNICODE, STACK_GLOBAL, STOP,
};
use std::sync::Arc;

/// A value the server sends back. Owned and plain, so replies can be built anywhere.
#[derive(Debug, Clone, PartialEq)]
pub enum Data {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Data>),
    /// Keys are always str in our protocol, and their order is kept.
    Dict(Vec<(String, Data)>),
}

impl Data {
    /// A dict from `(key, value)` pairs, for terse reply building.
    pub fn dict<const N: usize>(pairs: [(&str, Data); N]) -> Data {
        Data::Dict(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
    }

    pub fn str(s: impl Into<String>) -> Data {
        Data::Str(s.into())
    }
}

/// How the reply is wrapped: an instance of the request's class, or a plain dict.
///
/// Every request carries one and every reply is written with it, so the names are shared
/// (`Arc<str>`): a copy is a reference count, not two allocations per request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Envelope {
    /// `module.name`, rebuilt with NEWOBJ and BUILD so Python gets attributes back.
    Instance { module: Arc<str>, name: Arc<str> },
    /// `{"operacion": …, "data": …, "estado": …}` for clients that sent a dict.
    Dict,
}

impl Envelope {
    /// The course client runs as a script, so its class lives in `__main__`.
    pub fn course() -> Envelope {
        Envelope::Instance {
            module: "__main__".into(),
            name: "Mensaje".into(),
        }
    }
}

/// Items per APPENDS/SETITEMS (CPython uses the same number).
const BATCH: usize = 1000;

fn put_str(out: &mut Vec<u8>, s: &str) {
    let b = s.as_bytes();
    if b.len() < 256 {
        out.push(SHORT_BINUNICODE);
        out.push(b.len() as u8);
    } else if let Ok(n) = u32::try_from(b.len()) {
        out.push(BINUNICODE);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(BINUNICODE8);
        out.extend_from_slice(&(b.len() as u64).to_le_bytes());
    }
    out.extend_from_slice(b);
}

/// Writes the opcode and length that introduce `len` bytes of a `bytes` object.
pub(crate) fn put_bytes_header(out: &mut Vec<u8>, len: u64) {
    if len < 256 {
        out.push(SHORT_BINBYTES);
        out.push(len as u8);
    } else if let Ok(n) = u32::try_from(len) {
        out.push(BINBYTES);
        out.extend_from_slice(&n.to_le_bytes());
    } else {
        out.push(BINBYTES8);
        out.extend_from_slice(&len.to_le_bytes());
    }
}

fn put_int(out: &mut Vec<u8>, v: i64) {
    if let Ok(small) = i32::try_from(v) {
        out.push(BININT);
        out.extend_from_slice(&small.to_le_bytes());
    } else {
        // LONG1: little-endian two's complement; eight bytes always hold an i64.
        out.push(LONG1);
        out.push(8);
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Appends the pickle opcodes for one value.
pub(crate) fn put_data(out: &mut Vec<u8>, d: &Data) {
    match d {
        Data::None => out.push(NONE),
        Data::Bool(true) => out.push(NEWTRUE),
        Data::Bool(false) => out.push(NEWFALSE),
        Data::Int(v) => put_int(out, *v),
        Data::Str(s) => put_str(out, s),
        Data::Bytes(b) => {
            put_bytes_header(out, b.len() as u64);
            out.extend_from_slice(b);
        }
        // Items go in batches, as CPython writes them, so no reader ever holds more than
        // a batch on its stack at once (our own pre-scan caps that).
        Data::List(items) => {
            out.push(EMPTY_LIST);
            for batch in items.chunks(BATCH) {
                out.push(MARK);
                for item in batch {
                    put_data(out, item);
                }
                out.push(APPENDS);
            }
        }
        Data::Dict(pairs) => {
            out.push(EMPTY_DICT);
            for batch in pairs.chunks(BATCH) {
                out.push(MARK);
                for (k, v) in batch {
                    put_str(out, k);
                    put_data(out, v);
                }
                out.push(SETITEMS);
            }
        }
    }
}

/// Opens a dict, writes `fields`, and ends with the key `last` so that the caller's value
/// for it comes next (a streamed bytes body, say). Close with [`put_dict_end`].
pub(crate) fn put_dict_head(out: &mut Vec<u8>, fields: &[(String, Data)], last: &str) {
    out.push(EMPTY_DICT);
    out.push(MARK);
    for (k, v) in fields {
        put_str(out, k);
        put_data(out, v);
    }
    put_str(out, last);
}

/// Closes a dict opened with [`put_dict_head`], once its last value is written.
pub(crate) fn put_dict_end(out: &mut Vec<u8>) {
    out.push(SETITEMS);
}

/// Everything of a message up to (and including) the key `data`: protocol, class,
/// the attribute dict, `operacion`.
pub(crate) fn put_message_head(out: &mut Vec<u8>, env: &Envelope, operacion: &str) {
    out.push(PROTO);
    out.push(4);
    if let Envelope::Instance { module, name } = env {
        put_str(out, module);
        put_str(out, name);
        out.push(STACK_GLOBAL);
        out.push(EMPTY_TUPLE);
        out.push(NEWOBJ);
    }
    out.push(EMPTY_DICT);
    out.push(MARK);
    put_str(out, "operacion");
    put_str(out, operacion);
    put_str(out, "data");
}

/// Everything of a message after the `data` value: `estado`, and the closing opcodes.
pub(crate) fn put_message_tail(out: &mut Vec<u8>, env: &Envelope, estado: &Data) {
    put_str(out, "estado");
    put_data(out, estado);
    out.push(SETITEMS);
    if matches!(env, Envelope::Instance { .. }) {
        out.push(BUILD);
    }
    out.push(STOP);
}
