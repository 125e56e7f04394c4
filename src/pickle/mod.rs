//! Python pickles, both ways: a pre-scan that refuses what is unsafe, a decoder on top of
//! serde-pickle, and a small encoder for the replies we send.

pub mod decode;
pub mod encode;
pub mod opcodes;
pub mod scan;

pub use decode::{decode, DecodeError, Decoded, Value};
pub use encode::{Data, Envelope};
pub use scan::Limits;
