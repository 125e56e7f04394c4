//! SIGINT and SIGTERM as a readable source: the self-pipe trick.
//!
//! A signal handler may do almost nothing safely; `write(2)` is one of the few things it
//! may do. So the handler writes one byte into a pipe, and the pipe's other end sits in
//! the event loop like any socket. The loop wakes up, sees the byte, and shuts down at a
//! point where everything is in a consistent state.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicI32, Ordering};

/// The write end of the pipe, for the handler (which cannot take arguments).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // If the pipe is full a byte is already waiting: losing this one is fine.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
}

pub struct Signals {
    read: OwnedFd,
    _write: OwnedFd,
}

impl Signals {
    /// Installs handlers for SIGINT and SIGTERM and registers the pipe's read end.
    pub fn install(registry: &Registry, token: Token) -> io::Result<Signals> {
        let mut fds = [0; 2];
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            unsafe { libc::sigemptyset(&mut action.sa_mask) };
            if unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        registry.register(&mut SourceFd(&read.as_raw_fd()), token, Interest::READABLE)?;
        Ok(Signals { read, _write: write })
    }

    /// Empties the pipe. Returns true if a signal arrived.
    pub fn drain(&self) -> bool {
        let mut got = false;
        let mut buf = [0u8; 64];
        loop {
            let n = unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n > 0 {
                got = true;
                continue;
            }
            if n < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return got; // WouldBlock (drained) or EOF
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        // The handlers stay installed; make them write nowhere once the pipe is gone.
        WRITE_FD.store(-1, Ordering::Relaxed);
    }
}
