//! The protocol-2 frame: 4 bytes of big-endian length L, L bytes of a UTF-8 JSON object,
//! then exactly the `bytes` raw bytes that object announces (L does not count them).
//!
//! Pure over byte slices, like the course's `crate::frame`. What a hostile peer could use
//! to make us hold or work is checked as early as it can be: L against `max_json` from
//! the prefix alone, nesting and item counts before the JSON is parsed, and `bytes`
//! against `max_frame` as soon as the JSON is read, before any raw byte is kept.

use super::header::{self, bad};
use crate::protocol::{too_large, Bad, Body, Check, Frame, Limits, ReplyTo};

/// How many bytes the length prefix takes on the wire.
pub const PREFIX_LEN: usize = 4;

/// Looks at the front of `buf` and reports whether a whole protocol-2 frame is there.
///
/// Finding where a frame ends means reading its JSON, so a caller waiting for raw bytes
/// should call again only once it holds the `need` bytes it was told (a peer sending its
/// raw bytes one at a time would otherwise make us parse the JSON once per byte).
pub(crate) fn check(buf: &[u8], limits: &Limits) -> Check {
    let Some(prefix) = buf.first_chunk::<PREFIX_LEN>() else {
        return Check::Incomplete { need: None };
    };
    let json_len = u32::from_be_bytes(*prefix) as u64;
    if json_len > limits.max_json as u64 {
        return Check::Invalid(bad(
            format!(
                "encabezado JSON demasiado grande ({json_len} bytes; el máximo es {})",
                limits.max_json
            ),
            format!(
                "JSON of {json_len} bytes is over the {} byte limit",
                limits.max_json
            ),
        ));
    }
    let json_end = PREFIX_LEN + json_len as usize;
    if buf.len() < json_end {
        return Check::Incomplete { need: Some(json_end) };
    }
    let parsed = match header::parse(&buf[PREFIX_LEN..json_end], limits) {
        Ok(p) => p,
        Err(b) => return Check::Invalid(b),
    };
    let raw_len = parsed.bytes.unwrap_or(0);
    let total = usize::try_from(raw_len)
        .ok()
        .and_then(|n| json_end.checked_add(n));
    let total = match total {
        Some(t) if raw_len <= limits.max_frame as u64 => t,
        _ => {
            let (id, operacion) = parsed.who();
            return Check::Invalid(Bad {
                to: ReplyTo::V2 { id },
                operacion,
                mensaje: too_large(raw_len, limits.max_frame as u64),
                detail: format!("{raw_len} raw bytes are over the {} byte limit", limits.max_frame),
            });
        }
    };
    if buf.len() < total {
        return Check::Incomplete { need: Some(total) };
    }
    Check::Complete(Frame {
        len: total,
        body: Body::V2 {
            json: PREFIX_LEN..json_end,
            raw: json_end..total,
            header: parsed.header,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::super::encode::frame_json;
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_frame: 1000,
            max_json: 200,
            ..Limits::new(1000)
        }
    }

    /// A request with raw bytes: prefix, JSON, bytes.
    fn upload(raw: &[u8]) -> Vec<u8> {
        let json = format!(
            r#"{{"id": 1, "operacion": "subir", "data": {{"nombre": "a"}}, "bytes": {}}}"#,
            raw.len()
        );
        let mut f = frame_json(json.as_bytes());
        f.extend_from_slice(raw);
        f
    }

    /// A frame split at every byte offset is incomplete until its last byte, then complete,
    /// with `need` exact once the prefix (then the JSON) has arrived.
    #[test]
    fn every_split_point_is_incomplete_until_the_last_byte() {
        let whole = upload(b"hola mundo");
        let json_end = whole.len() - 10;
        for cut in 0..whole.len() {
            let need = match check(&whole[..cut], &limits()) {
                Check::Incomplete { need } => need,
                other => panic!("cut at {cut}: {other:?}"),
            };
            let want = match cut {
                c if c < PREFIX_LEN => None,
                c if c < json_end => Some(json_end),
                _ => Some(whole.len()),
            };
            assert_eq!(need, want, "cut at {cut}");
        }
        let Check::Complete(f) = check(&whole, &limits()) else {
            panic!()
        };
        assert_eq!(f.len, whole.len());
        let Body::V2 { json, raw, header } = f.body else {
            panic!()
        };
        assert_eq!((json.start, json.end, raw.end), (4, json_end, whole.len()));
        assert_eq!(&whole[raw], b"hola mundo");
        assert_eq!(header.unwrap().bytes, Some(10));
    }

    /// Two frames back to back come out one at a time; the raw bytes of the first are not
    /// mistaken for the second.
    #[test]
    fn two_frames_in_one_buffer_come_out_one_by_one() {
        let mut buf = upload(&[0, 0, 0, 9]);
        let second = frame_json(br#"{"id": 2, "operacion": "listar"}"#);
        buf.extend_from_slice(&second);
        let Check::Complete(f) = check(&buf, &limits()) else {
            panic!()
        };
        let Check::Complete(g) = check(&buf[f.len..], &limits()) else {
            panic!()
        };
        assert_eq!(g.len, second.len());
    }

    /// JSON longer than `max_json` is refused from the prefix alone.
    #[test]
    fn json_over_the_limit_is_refused_from_the_prefix_alone() {
        let Check::Invalid(b) = check(&[0, 0, 0, 201], &limits()) else {
            panic!()
        };
        assert_eq!(
            b.mensaje,
            "encabezado JSON demasiado grande (201 bytes; el máximo es 200)"
        );
        let Check::Invalid(_) = check(&[0xff; 4], &limits()) else {
            panic!()
        };
        assert_eq!(
            check(&[0, 0, 0, 200], &limits()),
            Check::Incomplete { need: Some(204) }
        );
    }

    /// `bytes` over the limit is refused once the JSON is read, before any raw byte
    /// arrives, echoing the request's id and operacion.
    #[test]
    fn bytes_over_the_limit_are_refused_before_any_raw_byte() {
        let f = frame_json(br#"{"id": 4, "operacion": "subir", "bytes": 1001}"#);
        let Check::Invalid(b) = check(&f, &limits()) else {
            panic!()
        };
        assert_eq!(b.to, ReplyTo::V2 { id: Some(4) });
        assert_eq!(b.operacion, "subir");
        assert_eq!(
            b.mensaje,
            "mensaje demasiado grande (1001 bytes; el máximo es 1000); use subir_parte"
        );
        let f = frame_json(br#"{"operacion": "subir", "bytes": 18446744073709551615}"#);
        assert!(matches!(check(&f, &limits()), Check::Invalid(_)));
        let f = frame_json(br#"{"operacion": "subir", "bytes": 1000}"#);
        assert_eq!(
            check(&f, &limits()),
            Check::Incomplete {
                need: Some(f.len() + 1000)
            }
        );
    }

    /// Empty JSON (L = 0) is fatal: with no object there is no knowing what follows.
    #[test]
    fn zero_length_json_is_fatal() {
        assert!(matches!(check(&[0, 0, 0, 0], &limits()), Check::Invalid(_)));
    }

    /// A soft error still delimits the frame: the raw bytes it announced are skipped.
    #[test]
    fn a_soft_error_still_delimits_the_frame() {
        let mut f = frame_json(br#"{"id": 9, "operacion": 5, "bytes": 3}"#);
        f.extend_from_slice(b"abc");
        let Check::Complete(frame) = check(&f, &limits()) else {
            panic!()
        };
        assert_eq!(frame.len, f.len());
        let Body::V2 { header: Err(b), .. } = frame.body else {
            panic!()
        };
        assert_eq!(b.to, ReplyTo::V2 { id: Some(9) });
    }
}
