//! The course's protocol: 4 bytes of big-endian length, then a pickled
//! `Mensaje(operacion, data, estado)`. Every connection starts here.
//!
//! Like everything under `protocol/`, this is pure: [`check`] looks at a byte slice and
//! says whether a whole frame is at its front, [`decode`] turns that frame's payload
//! into a request. No sockets, no buffers of its own, so every edge case is a one-line
//! test on a `&[u8]`.

use super::{too_large, Bad, Body, Check, Frame, Limits, ReplyTo};
use crate::frame::{self, HEADER_LEN};
use crate::message::{BadRequest, Memo, Request};
use crate::pickle::Envelope;

/// Looks at the front of `buf` and reports whether a whole frame of at most
/// `limits.max_frame` payload bytes is there. The size check happens as soon as the
/// four prefix bytes arrive, before a single payload byte is buffered: the peer will keep
/// sending the body of a frame we refuse, so the stream cannot be resynchronised and the
/// refusal is [`Check::Invalid`].
pub(crate) fn check(buf: &[u8], limits: &Limits) -> Check {
    let Some(len) = frame::announced(buf) else {
        return Check::Incomplete { need: None };
    };
    if len > limits.max_frame as u64 {
        return Check::Invalid(Bad {
            to: ReplyTo::Course(Envelope::course()),
            operacion: String::new(),
            mensaje: too_large(len, limits.max_frame as u64),
            detail: format!("frame of {len} bytes is over the {} byte limit", limits.max_frame),
        });
    }
    let total = HEADER_LEN + len as usize;
    if buf.len() < total {
        return Check::Incomplete { need: Some(total) };
    }
    Check::Complete(Frame {
        len: total,
        body: Body::Course {
            payload: HEADER_LEN..total,
        },
    })
}

/// The request in a course frame's payload, and how to answer it: in the request's own
/// class (the course's `Mensaje`), or as a dict when it came as one.
pub(crate) fn decode<'p>(
    payload: &'p [u8],
    limits: &Limits,
    memo: &mut Memo,
) -> Result<(Request<'p>, ReplyTo), Bad> {
    let req = match memo.lookup(payload) {
        Some(req) => req,
        None => memo.parse(payload, limits.pickle)?,
    };
    let to = ReplyTo::Course(req.envelope.clone());
    Ok((req, to))
}

impl From<BadRequest> for Bad {
    fn from(b: BadRequest) -> Bad {
        Bad {
            to: ReplyTo::Course(b.envelope),
            operacion: b.operacion,
            mensaje: b.mensaje,
            detail: b.detail,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(payload: &[u8]) -> Vec<u8> {
        frame::encode(payload).unwrap()
    }

    fn limits(max_frame: usize) -> Limits {
        Limits::new(max_frame)
    }

    /// A frame split at every byte offset is incomplete until its last byte, then complete.
    #[test]
    fn every_split_point_is_incomplete_until_the_last_byte() {
        let whole = frame(b"hola mundo");
        for cut in 0..whole.len() {
            match check(&whole[..cut], &limits(1024)) {
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
        let Check::Complete(f) = check(&whole, &limits(1024)) else {
            panic!("the whole frame")
        };
        assert_eq!(f.len, whole.len());
        assert_eq!(f.body, Body::Course { payload: 4..14 });
    }

    /// Two frames back to back are read one at a time, each with its own length.
    #[test]
    fn two_frames_in_one_buffer_come_out_one_by_one() {
        let mut buf = frame(b"uno");
        buf.extend(frame(b"dos!"));
        let Check::Complete(first) = check(&buf, &limits(64)) else {
            panic!()
        };
        assert_eq!(&buf[HEADER_LEN..first.len], b"uno");
        let rest = &buf[first.len..];
        let Check::Complete(second) = check(rest, &limits(64)) else {
            panic!()
        };
        assert_eq!(&rest[HEADER_LEN..second.len], b"dos!");
    }

    /// A length over the limit is refused from the prefix alone, with the Spanish reason.
    #[test]
    fn length_over_the_limit_is_refused_from_the_prefix_alone() {
        let Check::Invalid(bad) = check(&[0xff, 0xff, 0xff, 0xff], &limits(1 << 20)) else {
            panic!("refused")
        };
        assert!(
            bad.mensaje
                .starts_with("mensaje demasiado grande (4294967295 bytes"),
            "{}",
            bad.mensaje
        );
        assert!(matches!(check(&[0, 0, 0, 11], &limits(10)), Check::Invalid(_)));
        assert_eq!(
            check(&[0, 0, 0, 10], &limits(10)),
            Check::Incomplete { need: Some(14) }
        );
    }

    /// A zero-length frame is a complete (empty) frame, not a stall.
    #[test]
    fn zero_length_frame_is_complete() {
        let Check::Complete(f) = check(&[0, 0, 0, 0], &limits(10)) else {
            panic!()
        };
        assert_eq!(f.len, HEADER_LEN);
    }
}
