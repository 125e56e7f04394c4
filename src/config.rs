//! Command-line arguments: `servidor [PORT] [HOST] [options]`.

use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_PORT: u16 = 3247;
pub const DEFAULT_HOST: &str = "localhost";

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub port: u16,
    pub host: String,
    pub dir: PathBuf,
    pub max_frame: usize,
    pub max_clients: usize,
    pub frame_timeout: Duration,
    /// Refuse every operation that writes to the folder.
    pub read_only: bool,
    /// Bytes all clients together may hold in large requests still arriving.
    pub max_buffered: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            port: DEFAULT_PORT,
            host: DEFAULT_HOST.to_string(),
            dir: PathBuf::from("archivos"),
            max_frame: 16 * 1024 * 1024,
            max_clients: 10_000,
            frame_timeout: Duration::from_secs(60),
            read_only: false,
            max_buffered: 64 * 1024 * 1024,
        }
    }
}

pub const HELP: &str = "\
servidor: serves the files of a folder to the IIC2233 course's clients

Usage: servidor [PORT] [HOST] [options]

  PORT                   port to listen on (default 3247; 0 picks a free one)
  HOST                   address or name to bind (default localhost)

Options:
  -d, --dir DIR          folder to serve (default ./archivos)
      --max-frame BYTES  largest request a client may send (default 16777216)
      --max-clients N    most clients at once (default 10000; kept below the
                         open-file limit)
      --frame-timeout S  close a connection whose unfinished request has not
                         advanced for S seconds (default 60)
      --read-only        refuse uploads, copies, deletes and renames
      --max-buffered BYTES  room for large requests still arriving, all clients
                         together (default 67108864); past it they wait
  -h, --help             show this help
  -V, --version          show the version

Press Enter, Ctrl-C, or send SIGTERM to stop it.
Logging: RUST_LOG=info shows each connection and request; debug and trace add more.
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Config),
    Help,
    Version,
}

/// Parses the arguments (without the program name). Errors are one line for stderr.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, String> {
    let mut cfg = Config::default();
    let mut positional = 0;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "-d" | "--dir" => cfg.dir = PathBuf::from(value(&arg)?),
            "--read-only" => cfg.read_only = true,
            "--max-frame" => cfg.max_frame = number(&arg, &value(&arg)?, 1, u32::MAX as u64)? as usize,
            "--max-buffered" => cfg.max_buffered = number(&arg, &value(&arg)?, 1, u64::MAX >> 1)? as usize,
            "--max-clients" => cfg.max_clients = number(&arg, &value(&arg)?, 1, 1 << 24)? as usize,
            "--frame-timeout" => {
                cfg.frame_timeout = Duration::from_secs(number(&arg, &value(&arg)?, 1, 86_400)?)
            }
            s if s.starts_with('-') && s.len() > 1 => return Err(format!("unknown option {s} (see --help)")),
            s => {
                match positional {
                    0 => {
                        cfg.port = s
                            .parse()
                            .map_err(|_| format!("invalid port {s:?}: expected a number from 0 to 65535"))?
                    }
                    1 => cfg.host = s.to_string(),
                    _ => return Err(format!("unexpected argument {s:?} (see --help)")),
                }
                positional += 1;
            }
        }
    }
    Ok(Parsed::Run(cfg))
}

fn number(name: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "{name} expects a number from {min} to {max}, not {text:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    /// No arguments means port 3247 on localhost, serving ./archivos.
    #[test]
    fn defaults_match_the_course() {
        let Parsed::Run(c) = args(&[]).unwrap() else {
            panic!()
        };
        assert_eq!((c.port, c.host.as_str()), (3247, "localhost"));
        assert_eq!(c.dir, PathBuf::from("archivos"));
    }

    /// Port and host are positional, as in the course's `servidor.py PORT HOST`.
    #[test]
    fn port_and_host_are_positional() {
        let Parsed::Run(c) = args(&["8000", "0.0.0.0", "--dir", "x"]).unwrap() else {
            panic!()
        };
        assert_eq!((c.port, c.host.as_str()), (8000, "0.0.0.0"));
        assert_eq!(c.dir, PathBuf::from("x"));
        assert!(!c.read_only);
        let Parsed::Run(c) = args(&["--read-only"]).unwrap() else {
            panic!()
        };
        assert!(c.read_only);
    }

    /// A bad port or an unknown flag is a one-line error, not a panic.
    #[test]
    fn bad_arguments_are_one_line_errors() {
        assert!(args(&["99999"]).unwrap_err().contains("invalid port"));
        assert!(args(&["abc"]).unwrap_err().contains("invalid port"));
        assert!(args(&["--nope"]).unwrap_err().contains("unknown option"));
        assert!(args(&["--dir"]).unwrap_err().contains("needs a value"));
        assert!(args(&["--max-clients", "0"]).is_err());
        assert!(args(&["1", "h", "extra"]).is_err());
    }
}
