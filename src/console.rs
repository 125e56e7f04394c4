//! The console: stdin as one more readable source in the loop, for "press Enter to close".
//!
//! We never set O_NONBLOCK on fd 0: that flag lives in the open file description, which
//! the shell shares, and a shell whose terminal was left non-blocking misbehaves after we
//! exit. Instead, before each read we ask `poll(2)` with a zero timeout whether a read
//! would block. That drains what is there (mio is edge-triggered) without ever waiting.

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};
use std::io;

const STDIN: i32 = 0;

/// What the console asks of the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Nothing to do.
    None,
    /// A line arrived (Enter was pressed): close the server.
    Shutdown,
}

pub struct Console {
    active: bool,
}

impl Console {
    /// Registers stdin. epoll refuses regular files and /dev/null (EPERM), as happens under
    /// CI, nohup or systemd: then the server simply runs without a console.
    pub fn register(registry: &Registry, token: Token) -> Console {
        match registry.register(&mut SourceFd(&STDIN), token, Interest::READABLE) {
            Ok(()) => Console { active: true },
            Err(e) => {
                log::warn!(
                    "stdin cannot be watched ({e}); running without a console: stop with Ctrl-C or SIGTERM"
                );
                Console { active: false }
            }
        }
    }

    pub fn is_active(&self) -> bool {
        self.active
    }

    /// Reads what stdin has. A newline means Enter; end of file turns the console off
    /// for good (a pipe that closed stays "readable" forever, and we must not spin on it).
    pub fn on_readable(&mut self, registry: &Registry) -> Command {
        let mut buf = [0u8; 512];
        while self.active {
            let mut pfd = libc::pollfd {
                fd: STDIN,
                events: libc::POLLIN,
                revents: 0,
            };
            let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
            if ready == 0 {
                break; // nothing more to read right now
            }
            if ready < 0 {
                if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.disable(registry, "poll on stdin failed");
                break;
            }
            let n = unsafe { libc::read(STDIN, buf.as_mut_ptr().cast(), buf.len()) };
            match n {
                0 => self.disable(registry, "stdin reached end of file"),
                n if n < 0 => {
                    let e = io::Error::last_os_error();
                    match e.kind() {
                        io::ErrorKind::Interrupted => continue,
                        io::ErrorKind::WouldBlock => break,
                        _ => self.disable(registry, "reading stdin failed"),
                    }
                }
                n => {
                    if buf[..n as usize].contains(&b'\n') {
                        return Command::Shutdown;
                    }
                }
            }
        }
        Command::None
    }

    fn disable(&mut self, registry: &Registry, why: &str) {
        log::warn!("{why}; the console is off, the server keeps serving (stop it with Ctrl-C or SIGTERM)");
        let _ = registry.deregister(&mut SourceFd(&STDIN));
        self.active = false;
    }
}
