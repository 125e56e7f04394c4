//! Finding a large `bytes` value from the first bytes of a pickle, so its body can go
//! straight to disk.
//!
//! A pushed file arrives as one frame holding the whole file. Reading it into memory
//! (and then letting the decoder copy it once more) would cost twice the file's size,
//! for every subscriber. Instead the reader looks at the frame's head, walks its opcodes
//! up to the first `bytes` value too large to be anything but file contents, and streams
//! those bytes to a file. What remains (the head before it, the small tail after it) is
//! a valid pickle once an empty `bytes` stands in for the body, and is decoded as usual.
//!
//! The walk knows the opcodes a plain-data pickle can hold. Anything else ends it
//! without a result, and the caller falls back to reading the frame whole.
//!
//! A body that went to disk is held by a `Spill`, which removes its hidden file when
//! dropped unless someone kept it.

use std::fs;
use std::path::{Path, PathBuf};

/// A bytes value that was written to a hidden file instead of memory. The file is
/// removed when this is dropped, unless it was taken with [`Spill::keep`].
#[derive(Debug)]
pub struct Spill {
    path: Option<PathBuf>,
}

impl Spill {
    /// Takes charge of the hidden file at `path`: from now on, dropping this removes it.
    pub fn new(path: PathBuf) -> Spill {
        Spill { path: Some(path) }
    }

    /// Where the bytes are.
    pub fn path(&self) -> &Path {
        self.path.as_deref().expect("a spill's file is there until kept")
    }

    /// Takes the file: from now on the caller owns it (renames or removes it).
    pub fn keep(mut self) -> PathBuf {
        self.path.take().expect("a spill is kept once")
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if let Some(p) = self.path.take() {
            let _ = fs::remove_file(p);
        }
    }
}

/// Where a large bytes value sits in a pickle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Found {
    /// Offset of its opcode.
    pub opcode_at: usize,
    /// Offset of its first byte of contents.
    pub body_at: usize,
    /// How many bytes of contents it announces.
    pub len: u64,
}

/// Walks `head` (the start of a pickle) and returns the first bytes value of at least
/// `min` bytes, or None when there is none in `head` or an unknown opcode comes first.
pub fn find_large_bytes(head: &[u8], min: u64) -> Option<Found> {
    let mut at = 0;
    loop {
        let op = *head.get(at)?;
        let arg = at + 1;
        // Little-endian unsigned length of `n` bytes right after the opcode.
        let le = |n: usize| -> Option<u64> {
            let bytes = head.get(arg..arg + n)?;
            Some(bytes.iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
        };
        let next = match op {
            // No argument: MARK, STOP-less containers, constants, building.
            b'(' | b')' | b']' | b'}' | b'N' | 0x88 | 0x89 | 0x93 | 0x81 | b'b' | b's' | b'u' | b'a'
            | b'e' | b't' | 0x85 | 0x86 | 0x87 | 0x94 | b'0' => arg,
            // PROTO, BININT1, BINPUT, BINGET: one byte.
            0x80 | b'K' | b'q' | b'h' => arg + 1,
            // BININT2: two bytes.
            b'M' => arg + 2,
            // BININT, LONG_BINPUT, LONG_BINGET: four bytes.
            b'J' | b'r' | b'j' => arg + 4,
            // FRAME, BINFLOAT: eight bytes.
            0x95 | b'G' => arg + 8,
            // Lengths followed by that many bytes: LONG1, SHORT_BINUNICODE, BINUNICODE,
            // BINUNICODE8.
            0x8a | 0x8c => arg + 1 + le(1)? as usize,
            b'X' => arg + 4 + usize::try_from(le(4)?).ok()?,
            0x8d => arg + 8 + usize::try_from(le(8)?).ok()?,
            // The bytes opcodes: SHORT_BINBYTES, BINBYTES, BINBYTES8.
            b'C' | b'B' | 0x8e => {
                let width = match op {
                    b'C' => 1,
                    b'B' => 4,
                    _ => 8,
                };
                let len = le(width)?;
                let body_at = arg + width;
                if len >= min {
                    return Some(Found {
                        opcode_at: at,
                        body_at,
                        len,
                    });
                }
                body_at + usize::try_from(len).ok()?
            }
            // STOP, or anything we do not know: no large bytes here.
            _ => return None,
        };
        at = next;
    }
}

/// The pickle with the large value's body cut out: `head` up to its opcode, an empty
/// bytes value, then `tail` (everything after the body).
pub fn skeleton(head: &[u8], found: &Found, tail: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(found.opcode_at + 2 + tail.len());
    out.extend_from_slice(&head[..found.opcode_at]);
    out.extend_from_slice(&[b'C', 0]);
    out.extend_from_slice(tail);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use almacen::message;
    use almacen::pickle::{decode::get, Data, Envelope, Limits, Value};

    /// The server's own push frame: the body is found, and the skeleton decodes to the
    /// same fields with empty contents.
    #[test]
    fn a_pushed_file_is_found_and_its_skeleton_decodes() {
        let fields = [
            ("nombre".to_string(), Data::str("video.mp4")),
            ("de".to_string(), Data::Int(7)),
        ];
        let len = 5_000_000;
        let (head, tail) =
            message::stream_parts_in_dict(&Envelope::course(), "archivo", &fields, "contenido", len).unwrap();
        let payload = &head[4..];
        let found = find_large_bytes(payload, 1 << 20).unwrap();
        assert_eq!(found.len, len);
        assert_eq!(found.body_at, payload.len());
        let skeleton = skeleton(payload, &found, &tail);
        let msg = message::parse(&skeleton, Limits::default()).unwrap();
        assert_eq!(msg.operacion, "archivo");
        assert_eq!(get(&msg.data, "nombre"), Some(&Value::String("video.mp4".into())));
        assert_eq!(get(&msg.data, "contenido"), Some(&Value::Bytes(vec![])));
    }

    /// Small bytes values are stepped over; a head with none large, or with an opcode
    /// outside plain data, gives nothing.
    #[test]
    fn small_values_and_unknown_opcodes_give_nothing() {
        let small = message::ok(&Envelope::Dict, "descargar", &Data::Bytes(vec![1; 300]));
        assert_eq!(find_large_bytes(&small[4..], 1000), None);
        let found = find_large_bytes(&small[4..], 300).unwrap();
        assert_eq!(found.len, 300);
        // A REDUCE-based pickle (0x52 'R') is not plain data.
        assert_eq!(find_large_bytes(&[0x80, 4, b'R'], 1), None);
        // A head cut short in the middle of a string is not an answer either.
        assert_eq!(find_large_bytes(&[0x80, 4, 0x8c, 200, b'a'], 1), None);
    }
}
