//! `servidor`: parses the command line, prints the course's banner, runs the loop.

use almacen::config::{self, Parsed};
use almacen::server::Server;
use std::process::ExitCode;

fn main() -> ExitCode {
    return_big_buffers_to_the_os();
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
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

/// Uploads pass through buffers of a few MiB; a server that runs for days should give
/// their memory back to the OS. Where the allocator needs telling (glibc), the platform
/// layer tells it.
fn return_big_buffers_to_the_os() {
    almacen::sys::tune_allocator();
}
