//! `servidor`: parses the command line, prints the course's banner, runs the loop.

use almacen::config::{self, Parsed};
use almacen::server::Server;
use std::process::ExitCode;

fn main() -> ExitCode {
    return_big_buffers_to_the_os();
    // env_logger's filter and format, written by a thread of its own: a stalled stderr
    // loses log lines (and says how many) instead of freezing the loop. Held to the end
    // so queued lines get out when main returns.
    let _log = almacen::logsink::init();
    let config = match config::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Help) => {
            print!("{}", config::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Parsed::Version) => {
            println!("servidor {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("servidor: {e}");
            return ExitCode::from(2);
        }
    };
    let server = match Server::bind(&config) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("servidor: {e}");
            return ExitCode::FAILURE;
        }
    };
    // The course's own two lines, word for word (with the real port when 0 was asked).
    println!(
        "Servidor escuchando en {} : {}",
        config.host,
        server.local_addr().port()
    );
    println!("Presione enter para cerrar");
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("servidor: event loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Uploads pass through buffers of a few MiB. glibc's allocator raises its threshold for
/// serving big blocks with `mmap` each time one is freed, and then keeps later big blocks
/// in its heap, where freed memory mostly stays with the process. A server that runs for
/// days should give it back: a fixed threshold keeps every block over 256 KiB in its own
/// mapping, returned to the kernel the moment it is freed.
fn return_big_buffers_to_the_os() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator settings; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}
