//! almacen: a single-threaded, readiness-based file server for the IIC2233 course's
//! "Sistema de almacenamiento" protocol (4-byte length + pickled `Mensaje`).
//!
//! Start reading at `server.rs` (the loop), then `connection.rs` (one client's state
//! machine), `frame.rs` and `pickle/` (pure parsing), and `ops/` (what each request does).

pub mod config;
pub mod connection;
pub mod console;
pub mod frame;
pub mod message;
pub mod ops;
pub mod outbox;
pub mod peers;
pub mod pickle;
pub mod server;
pub mod signals;
pub mod storage;
pub mod sys;
#[doc(hidden)]
pub mod testkit;
