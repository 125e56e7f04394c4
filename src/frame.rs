//! The length-prefix codec: 4 bytes of big-endian length, then that many bytes of payload.
//!
//! Everything here is pure: it looks at a byte slice and says what is in it. No sockets,
//! no buffers of its own, so every edge case is a one-line test on a `&[u8]`.

/// How many bytes the length prefix takes on the wire.
pub const HEADER_LEN: usize = 4;

/// What the front of a read buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Check {
    /// A whole frame: its payload is `buf[HEADER_LEN..HEADER_LEN + len]`.
    Complete { len: usize },
    /// Not yet a whole frame. `need` is how many bytes the whole frame takes
    /// (prefix included), when the prefix has arrived.
    Incomplete { need: Option<usize> },
    /// The prefix announces more than `max` bytes. The frame cannot be buffered, and
    /// because the peer will keep sending its body, the stream cannot be resynchronised.
    TooLarge { len: u64 },
}

/// Looks at the front of `buf` and reports whether a whole frame of at most `max`
/// payload bytes is there. The size check happens as soon as the four prefix bytes
/// arrive, before a single payload byte is buffered.
pub fn check(buf: &[u8], max: usize) -> Check {
    let Some(prefix) = buf.first_chunk::<HEADER_LEN>() else {
        return Check::Incomplete { need: None };
    };
    let len = u32::from_be_bytes(*prefix) as u64;
    if len > max as u64 {
        return Check::TooLarge { len };
    }
    let len = len as usize;
    if buf.len() - HEADER_LEN >= len {
        Check::Complete { len }
    } else {
        Check::Incomplete {
            need: Some(HEADER_LEN + len),
        }
    }
}

/// The prefix for a payload of `len` bytes, or `None` when `len` does not fit in 32 bits.
pub fn header(len: u64) -> Option<[u8; HEADER_LEN]> {
    u32::try_from(len).ok().map(u32::to_be_bytes)
}

/// Wraps a payload into a whole frame (used for small replies built in memory).
pub fn encode(payload: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len());
    out.extend_from_slice(&header(payload.len() as u64)?);
    out.extend_from_slice(payload);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        encode(payload).unwrap()
    }

    /// A frame split at every byte offset is incomplete until its last byte, then complete.
    #[test]
    fn every_split_point_is_incomplete_until_the_last_byte() {
        let whole = frame(b"hola mundo");
        for cut in 0..whole.len() {
            match check(&whole[..cut], 1024) {
                Check::Incomplete { need } => {
                    if cut >= HEADER_LEN {
                        assert_eq!(need, Some(whole.len()));
                    } else {
                        assert_eq!(need, None);
                    }
                }
                other => panic!("cut at {cut}: {other:?}"),
            }
        }
        assert_eq!(check(&whole, 1024), Check::Complete { len: 10 });
    }

    /// Two frames back to back are read one at a time, each with its own length.
    #[test]
    fn two_frames_in_one_buffer_come_out_one_by_one() {
        let mut buf = frame(b"uno");
        buf.extend(frame(b"dos!"));
        let Check::Complete { len } = check(&buf, 64) else {
            panic!()
        };
        assert_eq!(&buf[HEADER_LEN..HEADER_LEN + len], b"uno");
        let rest = &buf[HEADER_LEN + len..];
        assert_eq!(check(rest, 64), Check::Complete { len: 4 });
        assert_eq!(&rest[HEADER_LEN..], b"dos!");
    }

    /// A length over the limit is refused from the prefix alone.
    #[test]
    fn length_over_the_limit_is_refused_from_the_prefix_alone() {
        assert_eq!(
            check(&[0xff, 0xff, 0xff, 0xff], 1 << 20),
            Check::TooLarge { len: 0xffff_ffff }
        );
        assert_eq!(check(&[0, 0, 0, 11], 10), Check::TooLarge { len: 11 });
        assert_eq!(check(&[0, 0, 0, 10], 10), Check::Incomplete { need: Some(14) });
    }

    /// A zero-length frame is a complete (empty) frame, not a stall.
    #[test]
    fn zero_length_frame_is_complete() {
        assert_eq!(check(&[0, 0, 0, 0], 10), Check::Complete { len: 0 });
    }

    /// Lengths that need more than 32 bits have no prefix.
    #[test]
    fn header_refuses_lengths_over_four_gib() {
        assert_eq!(header(5), Some([0, 0, 0, 5]));
        assert_eq!(header(u32::MAX as u64 + 1), None);
    }
}
