//! `cliente`: a client for almacen servers, as an interactive menu or as subcommands.
//!
//! `args` reads the command line, `conn` speaks the framed protocol (with `spill` for
//! large pushed files), `ops` and `transfer` are the operations, `commands` and `menu`
//! are the two ways of using them (`paste` reads the paths people paste into the menu),
//! `pushes` handles what the server sends unasked, and `progress` draws the progress line.
//! Below them all, `call` holds what they share (the `Call` trait, a reply, why a call
//! failed) and `text` formats sizes and untrusted names. Imports only point down: from
//! the menu and the subcommands to the operations, the connection and pushes, then to
//! `call` and `text`, never back up.

/// `print!` and `println!` for what the client shows on stdout: when whoever reads it has
/// gone (`cliente listar | head -1`), the program ends quietly instead of panicking on
/// the broken pipe.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::text::out(format_args!($($arg)*))
    };
}

macro_rules! outln {
    () => {
        $crate::text::out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::text::out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

mod args;
mod call;
mod commands;
mod conn;
mod menu;
mod ops;
mod paste;
mod progress;
mod pushes;
mod spill;
mod text;
mod transfer;

use args::{Command, Parsed};
use std::process::ExitCode;

/// Where downloads and pushed files go, relative to the current directory, as with the
/// course's client.
pub const DOWNLOADS: &str = "descargas";

fn main() -> ExitCode {
    // Silent unless RUST_LOG asks: `RUST_LOG=debug cliente ...` shows which protocol the
    // connection agreed on and which checks a server without them let pass.
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off")).init();
    let env_clave = std::env::var(almacen::config::CLAVE_ENV).ok();
    let inv = match args::parse(std::env::args_os().skip(1), env_clave) {
        Ok(Parsed::Run(inv)) => inv,
        Ok(Parsed::Print(text)) => {
            out!("{text}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("cliente: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match inv.command {
        Command::Menu => menu::run(&inv),
        _ => commands::run(&inv),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("cliente: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
