//! The length prefix both protocols put before every frame: 4 bytes of big-endian length.
//!
//! Pure, like all parsing here: it looks at a byte slice and says what is in it. What the
//! length counts, and how large it may be, is each protocol's own business (`protocol/`).

/// How many bytes the length prefix takes on the wire.
pub const HEADER_LEN: usize = 4;

/// The payload length announced by the prefix at the front of `buf`, once its four bytes
/// have arrived. Whether that is too large, or complete, is the protocol's to say.
pub fn announced(buf: &[u8]) -> Option<u64> {
    buf.first_chunk::<HEADER_LEN>()
        .map(|p| u32::from_be_bytes(*p) as u64)
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

    /// The length is known only once all four prefix bytes are there.
    #[test]
    fn the_length_is_announced_once_the_prefix_is_whole() {
        assert_eq!(announced(&[0, 0, 1]), None);
        assert_eq!(announced(&[0, 0, 1, 2, 9]), Some(258));
        assert_eq!(announced(&encode(b"hola").unwrap()), Some(4));
    }

    /// Lengths that need more than 32 bits have no prefix.
    #[test]
    fn header_refuses_lengths_over_four_gib() {
        assert_eq!(header(5), Some([0, 0, 0, 5]));
        assert_eq!(header(u32::MAX as u64 + 1), None);
    }
}
