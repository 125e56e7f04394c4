//! The decoder: pre-scan first, then `serde-pickle` turns the (now harmless) bytes into values.

use super::opcodes;
use super::scan::{self, Limits, ScanError};
use std::fmt;

pub use serde_pickle::{HashableValue, Value};

/// A payload that decoded: the value, and the class it was an instance of (if any).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decoded {
    pub value: Value,
    /// Where the large bytes value (if any) sits in the payload. In `value` it is
    /// replaced by [`blob_mark`], so the decoder never copies it.
    pub blob: Option<std::ops::Range<usize>>,
    /// `(module, name)` when the root was built from a `Mensaje` class.
    pub class: Option<(String, String)>,
    pub protocol: u8,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum DecodeError {
    /// The pre-scan refused it: unsafe or malformed.
    Refused(ScanError),
    /// It looked safe, but serde-pickle could not make a value of it.
    Malformed(String),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Refused(e) => write!(f, "refused by pre-scan: {e}"),
            DecodeError::Malformed(e) => write!(f, "malformed pickle: {e}"),
        }
    }
}

/// Decodes one pickle. Instances come back as their attribute dict: serde-pickle reads
/// NEWOBJ + BUILD (and protocol 0's `copy_reg._reconstructor` + BUILD) as "the state".
pub(crate) fn decode(payload: &[u8], limits: Limits) -> Result<Decoded, DecodeError> {
    let scan = scan::scan(payload, limits).map_err(DecodeError::Refused)?;
    let options = serde_pickle::DeOptions::new().replace_unresolved_globals();
    // A 4 MiB upload would otherwise be copied by the decoder and again into the value:
    // decode a copy of the payload with the big bytes swapped for a short marker, and
    // let the request point into the payload for them.
    let spliced;
    let input = match &scan.blob {
        Some(blob) => {
            let mark = blob_mark();
            let mut p = Vec::with_capacity(payload.len() - blob.opcode.len() + mark.len() + 2);
            p.extend_from_slice(&payload[..blob.opcode.start]);
            p.push(opcodes::SHORT_BINBYTES);
            p.push(mark.len() as u8);
            p.extend_from_slice(mark);
            p.extend_from_slice(&payload[blob.opcode.end..]);
            spliced = p;
            &spliced[..]
        }
        None => payload,
    };
    let value =
        serde_pickle::value_from_slice(input, options).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    Ok(Decoded {
        value,
        blob: scan.blob.map(|b| b.data),
        class: scan.class,
        protocol: scan.protocol,
    })
}

/// Stands in for a large bytes value in a decoded request (see [`Decoded::blob`]). It ends
/// in 16 random bytes chosen when the process starts, so a client cannot send a value that
/// would be mistaken for it.
pub(crate) fn blob_mark() -> &'static [u8] {
    static MARK: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MARK.get_or_init(|| {
        let mut mark = b"\0almacen:".to_vec();
        let mut random = [0u8; 16];
        let filled = std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random));
        if filled.is_err() {
            // No /dev/urandom (a very bare chroot): the clock and pid are still unknown
            // to a client.
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos());
            random = (t ^ ((std::process::id() as u128) << 64)).to_le_bytes();
        }
        mark.extend_from_slice(&random);
        mark
    })
}

/// Looks up a str key in a decoded dict.
pub fn get<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    match value {
        Value::Dict(map) => map.get(&HashableValue::String(key.to_string())),
        _ => None,
    }
}
