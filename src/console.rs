//! The console: "press Enter to close", read from stdin as one more source of the loop.
//!
//! How stdin reaches the loop is the platform's business (src/sys/): on Unix it is a poll
//! source like any socket; on Windows a small thread reads it and wakes the loop. Here is
//! only what the server makes of it: a line means close; end of file turns the console
//! off for good; and a server running as a background job of its terminal leaves the
//! terminal alone (reading it would stop the whole server) until it is brought back to
//! the foreground.

use crate::sys::{self, StdinRead};
use mio::{Registry, Token};

/// What the console asks of the server.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    /// Nothing to do.
    None,
    /// A line arrived (Enter was pressed): close the server.
    Shutdown,
}

pub struct Console {
    stdin: Option<sys::Stdin>,
    /// We said once that we are in the background; said again only after coming back.
    told_background: bool,
}

/// Said once when the server finds itself a background job of its terminal.
const BACKGROUND: &str = "el servidor está en segundo plano: no lee la consola y sigue atendiendo \
     (para cerrarlo, tráigalo con fg y presione Enter, o use Ctrl-C o kill)";

impl Console {
    /// Watches stdin. Where it cannot be watched (a regular file or /dev/null under CI,
    /// nohup or systemd) the server simply runs without a console.
    pub fn register(registry: &Registry, token: Token) -> Console {
        match sys::Stdin::watch(registry, token) {
            Ok(stdin) => {
                let mut console = Console {
                    stdin: Some(stdin),
                    told_background: false,
                };
                console.note_background();
                console
            }
            Err(e) => {
                log::info!("stdin cannot be watched ({e})");
                log::warn!(
                    "sin consola (la entrada no es una terminal): para cerrar el servidor use Ctrl-C o kill"
                );
                Console {
                    stdin: None,
                    told_background: false,
                }
            }
        }
    }

    /// Warns once if we are a background job now; true if we are.
    fn note_background(&mut self) -> bool {
        let background = self.stdin.as_ref().is_some_and(|s| !s.in_foreground());
        if background && !self.told_background {
            log::warn!("{BACKGROUND}");
        }
        self.told_background = background;
        background
    }

    /// Reads what stdin has. A newline means Enter; end of file turns the console off
    /// for good (a pipe that closed stays "readable" forever, and we must not spin on it).
    pub fn on_readable(&mut self, registry: &Registry) -> Command {
        let mut buf = [0u8; 512];
        while let Some(stdin) = self.stdin.as_mut() {
            match stdin.read(&mut buf) {
                StdinRead::Empty => break,
                StdinRead::NotForeground => {
                    // Typing goes to the shell now. When the job is brought back with
                    // `fg`, the next key pressed wakes us again, and reading works.
                    self.note_background();
                    break;
                }
                StdinRead::Bytes(n) => {
                    if self.told_background {
                        log::info!("back in the foreground: the console works again");
                        self.told_background = false;
                    }
                    if buf[..n].contains(&b'\n') {
                        return Command::Shutdown;
                    }
                }
                StdinRead::End => self.disable(registry, "stdin reached end of file"),
                StdinRead::Failed(e) => {
                    log::info!("reading stdin failed: {e}");
                    self.disable(registry, "reading stdin failed")
                }
            }
        }
        Command::None
    }

    fn disable(&mut self, registry: &Registry, why: &str) {
        log::info!("{why}");
        log::warn!("la consola se cerró; el servidor sigue atendiendo (para cerrarlo use Ctrl-C o kill)");
        if let Some(mut stdin) = self.stdin.take() {
            stdin.unwatch(registry);
        }
    }
}
