//! `cargo run --release --example bench`: measures servidor on loopback beside the machine's
//! own limit (a minimal sendfile server inside the bench) and beside redis-server, in one run.
//! See run.rs and docs/performance.md.
//!
//! The bench runs on Linux only: it reads /proc for memory and CPU, and its reference server
//! uses Linux's sendfile. Elsewhere it builds (so `cargo test` builds every example on every
//! OS) and says so when run.

#[cfg(target_os = "linux")]
mod load;
#[cfg(target_os = "linux")]
mod plot;
#[cfg(target_os = "linux")]
mod reference;
#[cfg(target_os = "linux")]
mod run;
#[cfg(target_os = "linux")]
mod setup;

#[cfg(target_os = "linux")]
fn main() -> std::process::ExitCode {
    run::main()
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    eprintln!("bench: runs on Linux only (it reads /proc and compares with Linux's sendfile)");
    std::process::ExitCode::FAILURE
}
