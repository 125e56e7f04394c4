//! `servidor`: parses the command line, prints the course's banner, runs the loop.

use almacen::config::{self, Config, Parsed};
use almacen::server::Server;
use std::net::{IpAddr, SocketAddr};
use std::process::ExitCode;

fn main() -> ExitCode {
    return_big_buffers_to_the_os();
    let config = match read_config() {
        Ok(config) => config,
        Err(code) => return code,
    };
    // Room for every client's socket and open file, while this is the only thread (see
    // sys::presize_descriptor_table).
    almacen::server::presize_descriptor_table(config.max_clients.saturating_mul(2) + 1024);
    // env_logger's filter and format, written by a thread of its own: a stalled stderr
    // loses log lines (and says how many) instead of freezing the loop. Held to the end
    // so queued lines get out when main returns.
    let _log = almacen::logsink::init();
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
    let local = server.local_addr();
    if local.ip().is_unspecified() {
        print_reachable_addresses(local);
    }
    warn_if_anyone_can_write(&config, local);
    warn_if_key_is_short(&config);
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!(
                "servidor: el bucle de eventos falló: {}",
                almacen::spanish::io_error(&e)
            );
            ExitCode::FAILURE
        }
    }
}

/// The command line, and the key from the environment when none was given. `Err` is the
/// exit code to leave with, after help, the version, or a usage error.
fn read_config() -> Result<Config, ExitCode> {
    // args_os: a folder name need not be UTF-8, and must not panic when it is not.
    let mut config = match config::parse(std::env::args_os().skip(1)) {
        Ok(Parsed::Run(c)) => c,
        Ok(Parsed::Help) => {
            print!("{}", config::HELP);
            return Err(ExitCode::SUCCESS);
        }
        Ok(Parsed::Version) => {
            println!("servidor {}", env!("CARGO_PKG_VERSION"));
            return Err(ExitCode::SUCCESS);
        }
        Err(e) => {
            eprintln!("servidor: {e}");
            return Err(ExitCode::from(2));
        }
    };
    if config.clave.is_none() {
        config.clave = config::clave_from_env(std::env::var_os(config::CLAVE_ENV)).map_err(|e| {
            eprintln!("servidor: {e}");
            ExitCode::from(2)
        })?;
    }
    Ok(config)
}

/// Bound to every address (0.0.0.0 or ::), the banner's host says nothing a person on
/// another computer can type. List this machine's own addresses of that family instead,
/// read from its network interfaces with the if-addrs crate (getifaddrs on Unix,
/// GetAdaptersAddresses on Windows), loopback last. Link-local IPv6 addresses need a zone
/// to be used, so they are left out.
fn print_reachable_addresses(local: SocketAddr) {
    let mut found: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .map(|i| i.ip())
        .filter(|ip| ip.is_ipv4() == local.is_ipv4() && !ip.is_loopback())
        .filter(|ip| !matches!(ip, IpAddr::V6(v6) if v6.is_unicast_link_local()))
        .collect();
    found.sort();
    found.dedup();
    let port = local.port();
    println!("Los clientes pueden conectarse a:");
    for ip in found {
        println!("  {ip} : {port}");
    }
    let loopback = if local.is_ipv4() { "127.0.0.1" } else { "::1" };
    println!("  {loopback} : {port} (desde este mismo computador)");
}

/// Reachable beyond this computer and writable by anyone: say so once, and how to guard it.
fn warn_if_anyone_can_write(config: &Config, local: SocketAddr) {
    if local.ip().is_loopback() || config.read_only || config.clave.is_some() {
        return;
    }
    eprintln!(
        "servidor: aviso: cualquiera que llegue al puerto {} puede subir, duplicar, borrar \
         y renombrar archivos. Para exigir una clave al escribir use --clave CLAVE (o la \
         variable {}); para que nadie escriba, --read-only.",
        local.port(),
        config::CLAVE_ENV
    );
}

/// Keys shorter than this are worth a warning: see docs/security.md for how fast a
/// guesser can go.
const SHORT_KEY: usize = 12;

/// A short write key can be found by trying: say so at start, and what to do.
fn warn_if_key_is_short(config: &Config) {
    let Some(clave) = &config.clave else {
        return;
    };
    let chars = clave.chars().count();
    if chars < SHORT_KEY {
        eprintln!(
            "servidor: aviso: la clave tiene solo {chars} caracteres; una clave corta se puede \
             adivinar probando muchas. Use al menos {SHORT_KEY} caracteres, por ejemplo \
             varias palabras al azar."
        );
    }
}

/// Uploads pass through buffers of a few MiB; a server that runs for days should give
/// their memory back to the OS. Where the allocator needs telling (glibc), the platform
/// layer tells it.
fn return_big_buffers_to_the_os() {
    almacen::server::tune_allocator();
}
