//! Stopping from outside: SIGINT and SIGTERM on Unix; Ctrl-C, Ctrl-Break and closing the
//! console on Windows. Each arrives as a readable event of the loop (src/sys/ says how),
//! so the server shuts down at a point where everything is in a consistent state.

use crate::sys;
use mio::{Registry, Token};
use std::io;

pub struct Signals {
    inner: sys::Interrupts,
}

impl Signals {
    /// Installs the handlers and registers their wake-up with the poller.
    pub fn install(registry: &Registry, token: Token) -> io::Result<Signals> {
        Ok(Signals {
            inner: sys::Interrupts::install(registry, token)?,
        })
    }

    /// Takes what arrived. Returns true if a stop was asked for.
    pub fn drain(&self) -> bool {
        self.inner.drain()
    }
}
