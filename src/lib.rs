//! almacen: a single-threaded, readiness-based file server for the IIC2233 course's
//! "Sistema de almacenamiento" protocol (4-byte length + pickled `Mensaje`).
//!
//! Read `examples/servidor_minimo.rs` first: the same lesson in one file. Then follow
//! the reading path at the top of docs/architecture.md: `server.rs` (the loop),
//! `connection.rs` (one client's state machine), `protocol/` (the one seam between the
//! wire and the operations: pure frame checks and decoding), and `ops/` (what each
//! request does: `operation.rs` for the shape, `dispatch.rs` for the table, then any one
//! operation).

pub mod config;
mod connection;
mod console;
pub mod copy_name;
pub mod digest;
mod flusher;
pub mod frame;
mod jobs;
mod listing;
mod locks;
pub mod logsink;
pub mod message;
mod ops;
mod outbox;
mod peers;
pub mod pickle;
pub mod protocol;
mod reply;
pub mod server;
mod signals;
pub mod spanish;
pub mod storage;
mod sys;
// The in-memory harness: for the unit tests, and for the fuzz targets (feature `testkit`).
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
