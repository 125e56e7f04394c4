//! Fuzz target: the frame decoder, the pickle pre-scan and message decoding, on any bytes.
//! Whatever decodes must also survive our own reply encoder and decode back the same.
#![no_main]

use almacen::frame;
use almacen::message;
use almacen::pickle::{Data, Limits};
use almacen::protocol::{self, Check, Codec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The codec on the raw bytes, as if they came off a socket.
    match Codec::Course.check(data, &protocol::Limits::new(1 << 20)) {
        Check::Complete(f) => assert!(f.len <= data.len()),
        Check::Incomplete { need: Some(n) } => assert!(n > data.len()),
        Check::Incomplete { need: None } => assert!(data.len() < frame::HEADER_LEN),
        Check::Invalid(bad) => assert!(frame::announced(data).is_some_and(|len| len > 1 << 20), "{bad:?}"),
    }
    // The payload decoder on the same bytes.
    match message::parse(data, Limits::default()) {
        Ok(req) => {
            let reply = message::ok(&req.envelope, &req.operacion, &Data::str("x"));
            let back = message::parse(&reply[frame::HEADER_LEN..], Limits::default())
                .expect("our own reply decodes");
            assert_eq!(back.envelope, req.envelope);
            assert_eq!(back.operacion, req.operacion);
        }
        Err(bad) => assert!(!bad.mensaje.is_empty()),
    }
});
