//! Python pickles, both ways: a pre-scan that refuses what is unsafe, a decoder on top of
//! serde-pickle, and a small encoder for the replies we send.

pub mod decode;
pub(crate) mod encode;
pub(crate) mod opcodes;
pub(crate) mod scan;

pub(crate) use decode::decode;
pub use decode::Value;
pub use encode::{Data, Envelope};
pub use scan::Limits;
