//! Operations: one file per `operacion`, each with the same two steps (see
//! [`operation::Operation`]): `parse` the request's `data` into the operation's own
//! arguments, then `run` them against the shared [`context::Context`], giving back one
//! [`Outcome`](crate::reply::Outcome).
//!
//! An operation never touches sockets or the event loop: what it does to other
//! connections it leaves in the context for the loop to deliver, so each can be tested
//! with nothing but a folder. [`dispatch`] stands on top: it picks the operation from a
//! table and turns the outcome into bytes on the queue.

pub mod args;
pub mod context;
pub mod dispatch;
pub mod operation;

mod borrar;
mod clientes;
mod descargar;
mod difundir;
mod duplicar;
mod listar;
mod listar_detalle;
mod mensaje;
mod renombrar;
mod resumen;
mod subir;
mod subir_parte;
mod suscribir;

pub use context::Context;
pub use dispatch::{Dispatch, Farewell, CLOSING};

#[cfg(test)]
mod tests;
