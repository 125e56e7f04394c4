//! Command-line arguments: `servidor [PUERTO] [HOST] [opciones]`, parsed with lexopt.
//!
//! lexopt is a few hundred lines with no dependencies, so the minimal server stays
//! minimal, and it gets the details right that a hand-written loop tends to miss:
//! `--dir=x` and `--dir x`, `-dx` and `-d x`, and paths that are not valid UTF-8 (which
//! are fine on Linux and must reach the folder untouched). Everything the user reads
//! here (help and usage errors) is Spanish.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_PORT: u16 = 3247;
pub const DEFAULT_HOST: &str = "localhost";
/// The environment variable that may hold the write key (`--clave` wins over it).
pub const CLAVE_ENV: &str = "ALMACEN_CLAVE";

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
    /// The write key: when set, every write must be the dict form of its request with
    /// `"clave": K`. Reads stay open.
    pub clave: Option<String>,
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
            clave: None,
            max_buffered: 64 * 1024 * 1024,
        }
    }
}

pub const HELP: &str = "\
servidor: comparte los archivos de una carpeta con los clientes del curso IIC2233

Uso: servidor [PUERTO] [HOST] [opciones]

  PUERTO                 puerto donde escuchar (por omisión 3247; 0 elige uno libre)
  HOST                   dirección o nombre donde escuchar (por omisión localhost;
                         0.0.0.0 para aceptar clientes de otros computadores)

Opciones:
  -d, --dir CARPETA      carpeta que se comparte (por omisión ./archivos)
      --max-frame TAMAÑO el pedido más grande que un cliente puede enviar
                         (por omisión 16MiB; acepta 512KiB, 16MiB, 1GiB o bytes)
      --max-clients N    máximo de clientes a la vez (por omisión 10000; se ajusta
                         al límite de archivos abiertos)
      --frame-timeout S  cierra una conexión cuyo pedido a medias no avanza en S
                         segundos (por omisión 60)
      --read-only        rechaza subir, duplicar, borrar y renombrar
      --max-buffered TAMAÑO  espacio para pedidos grandes que aún llegan, entre
                         todos los clientes (por omisión 64MiB); los demás esperan
      --clave CLAVE      exige esta clave para escribir (subir, duplicar, borrar,
                         renombrar); leer sigue abierto. También se puede dar en la
                         variable de entorno ALMACEN_CLAVE, que no se ve en `ps`
  -h, --help             muestra esta ayuda
  -V, --version          muestra la versión

Para detenerlo: Enter, Ctrl-C o SIGTERM.
Registro: RUST_LOG=info muestra cada conexión y pedido (esas líneas van en inglés);
debug y trace agregan más detalle.
";

/// What the command line asks for.
#[derive(Debug, PartialEq)]
pub enum Parsed {
    Run(Config),
    Help,
    Version,
}

/// Parses the arguments (without the program name). Errors are one Spanish line for
/// stderr. The write key is taken from the arguments only; see [`clave_from_env`].
pub fn parse<I>(args: I) -> Result<Parsed, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    use lexopt::prelude::*;
    let mut cfg = Config::default();
    let mut positional = 0;
    let mut parser = lexopt::Parser::from_args(args);
    while let Some(arg) = parser.next().map_err(spanish)? {
        match arg {
            Short('h') | Long("help") | Long("ayuda") => return Ok(Parsed::Help),
            Short('V') | Long("version") | Long("versión") => return Ok(Parsed::Version),
            Short('d') | Long("dir") => cfg.dir = PathBuf::from(parser.value().map_err(spanish)?),
            Long("read-only") | Long("solo-lectura") => cfg.read_only = true,
            Long("max-buffered") => {
                let text = text_value(&mut parser, "--max-buffered")?;
                cfg.max_buffered = size("--max-buffered", &text, 1, u64::MAX >> 1)? as usize;
            }
            Long("max-frame") => {
                let text = text_value(&mut parser, "--max-frame")?;
                cfg.max_frame = size("--max-frame", &text, 1, u32::MAX as u64)? as usize;
                if cfg.max_frame < MIN_FRAME {
                    return Err(format!(
                        "--max-frame {} es muy poco: no cabe ni un pedido (renombrar con dos \
                         nombres largos ocupa unos 600 bytes); use al menos 1KiB (sin \
                         --max-frame, el máximo es 16MiB)",
                        text.trim()
                    ));
                }
            }
            Long("max-clients") => {
                let text = text_value(&mut parser, "--max-clients")?;
                cfg.max_clients = number("--max-clients", &text, 1, 1 << 24)? as usize;
            }
            Long("frame-timeout") => {
                let text = text_value(&mut parser, "--frame-timeout")?;
                cfg.frame_timeout = Duration::from_secs(number("--frame-timeout", &text, 1, 86_400)?);
            }
            Long("clave") | Long("key") => {
                let text = text_value(&mut parser, "--clave")?;
                cfg.clave = Some(check_clave(text)?);
            }
            Value(value) => {
                let Ok(text) = value.into_string() else {
                    return Err("el puerto y el host deben ser texto válido (UTF-8)".into());
                };
                match positional {
                    0 => cfg.port = port(&text)?,
                    1 => cfg.host = text,
                    _ => return Err(format!("argumento de más: {text:?} (vea --help)")),
                }
                positional += 1;
            }
            other => return Err(spanish(other.unexpected())),
        }
    }
    Ok(Parsed::Run(cfg))
}

/// The key from the environment variable's value, for when `--clave` was not given.
pub fn clave_from_env(value: Option<OsString>) -> Result<Option<String>, String> {
    match value {
        None => Ok(None),
        Some(v) => match v.into_string() {
            Ok(text) => check_clave(text)
                .map(Some)
                .map_err(|e| format!("{CLAVE_ENV}: {e}")),
            Err(_) => Err(format!("{CLAVE_ENV}: la clave debe ser texto válido (UTF-8)")),
        },
    }
}

fn check_clave(text: String) -> Result<String, String> {
    if text.is_empty() {
        return Err("la clave no puede estar vacía".into());
    }
    Ok(text)
}

fn text_value(parser: &mut lexopt::Parser, name: &str) -> Result<String, String> {
    parser
        .value()
        .map_err(spanish)?
        .into_string()
        .map_err(|_| format!("{name} espera texto válido (UTF-8)"))
}

fn port(text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("puerto inválido {text:?}: se espera un número de 0 a 65535"))
}

/// The smallest `--max-frame` that still carries every request but an upload's contents:
/// two names of 255 bytes (renombrar, duplicar), a key, and the envelope around them.
/// Below it, a server would start and then refuse ordinary requests as too large.
pub(crate) const MIN_FRAME: usize = 1024;

fn number(name: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    match text.trim().parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(format!("{name} espera un número de {min} a {max}, no {text:?}")),
    }
}

/// A size such as `16777216`, `16MiB`, `16M`, `512 KiB` or `1G`. K, M and G (with or
/// without "iB") are powers of 1024; KB, MB and GB are powers of 1000. Case is ignored.
pub(crate) fn size(name: &str, text: &str, min: u64, max: u64) -> Result<u64, String> {
    let bad = || format!("{name} espera un tamaño de {min} a {max} bytes, como 16MiB o 512KiB, no {text:?}");
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (digits, unit) = trimmed.split_at(split);
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let factor: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1_000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(factor) {
        Some(bytes) if (min..=max).contains(&bytes) => Ok(bytes),
        _ => Err(bad()),
    }
}

/// lexopt's errors, said in Spanish.
fn spanish(e: lexopt::Error) -> String {
    match e {
        lexopt::Error::MissingValue { option: Some(o) } => format!("{o} necesita un valor"),
        lexopt::Error::MissingValue { option: None } => "falta un valor".into(),
        lexopt::Error::UnexpectedOption(o) => format!("opción desconocida {o} (vea --help)"),
        lexopt::Error::UnexpectedArgument(a) => {
            format!("argumento inesperado {:?} (vea --help)", a.to_string_lossy())
        }
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} no lleva valor"),
        lexopt::Error::NonUnicodeValue(v) => {
            format!("{:?} no es texto válido (UTF-8)", v.to_string_lossy())
        }
        lexopt::Error::ParsingFailed { value, .. } => format!("valor inválido {value:?}"),
        other => format!("argumentos inválidos: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, String> {
        parse(list.iter().map(|s| s.to_string()))
    }

    fn run(list: &[&str]) -> Config {
        match args(list) {
            Ok(Parsed::Run(c)) => c,
            other => panic!("{list:?}: {other:?}"),
        }
    }

    /// No arguments means port 3247 on localhost, serving ./archivos, with no key.
    #[test]
    fn defaults_match_the_course() {
        let c = run(&[]);
        assert_eq!((c.port, c.host.as_str()), (3247, "localhost"));
        assert_eq!(c.dir, PathBuf::from("archivos"));
        assert_eq!(c.clave, None);
    }

    /// Port and host are positional, as in the course's `servidor.py PORT HOST`.
    #[test]
    fn port_and_host_are_positional() {
        let c = run(&["8000", "0.0.0.0", "--dir", "x"]);
        assert_eq!((c.port, c.host.as_str()), (8000, "0.0.0.0"));
        assert_eq!(c.dir, PathBuf::from("x"));
        assert!(!c.read_only);
        assert!(run(&["--read-only"]).read_only);
    }

    /// `--dir=x`, `-dx`, `-d x` and `--dir x` all name the folder.
    #[test]
    fn every_usual_option_form_is_accepted() {
        for form in [&["--dir=x"][..], &["-dx"], &["-d", "x"], &["--dir", "x"]] {
            assert_eq!(run(form).dir, PathBuf::from("x"), "{form:?}");
        }
        assert_eq!(run(&["--max-clients=7"]).max_clients, 7);
        assert_eq!(run(&["--clave=secreta"]).clave.as_deref(), Some("secreta"));
        assert_eq!(run(&["--key", "k"]).clave.as_deref(), Some("k"));
    }

    /// Sizes take units, binary for K/M/G and KiB/MiB/GiB, decimal for KB/MB/GB.
    #[test]
    fn sizes_take_units() {
        assert_eq!(run(&["--max-frame", "16MiB"]).max_frame, 16 << 20);
        assert_eq!(run(&["--max-frame=512KiB"]).max_frame, 512 << 10);
        assert_eq!(run(&["--max-frame", "1G"]).max_frame, 1 << 30);
        assert_eq!(run(&["--max-frame", "2mb"]).max_frame, 2_000_000);
        assert_eq!(run(&["--max-frame", "6000000"]).max_frame, 6_000_000);
        assert_eq!(run(&["--max-frame", "16 MiB"]).max_frame, 16 << 20);
        for bad in ["16XB", "MiB", "", "0", "5GiB", "-1", "99999999999999999999G"] {
            let err = args(&["--max-frame", bad]).unwrap_err();
            assert!(err.contains("16MiB"), "{bad}: {err}");
        }
    }

    /// A bad port or an unknown flag is a one-line Spanish error, not a panic.
    #[test]
    fn bad_arguments_are_one_line_errors() {
        assert!(args(&["99999"]).unwrap_err().contains("puerto inválido"));
        assert!(args(&["abc"]).unwrap_err().contains("puerto inválido"));
        assert!(args(&["--nope"])
            .unwrap_err()
            .contains("opción desconocida --nope"));
        assert!(args(&["--dir"]).unwrap_err().contains("necesita un valor"));
        assert!(args(&["--read-only=si"]).unwrap_err().contains("no lleva valor"));
        assert!(args(&["--max-clients", "0"]).is_err());
        assert!(args(&["1", "h", "extra"]).unwrap_err().contains("de más"));
        assert!(args(&["--clave="]).unwrap_err().contains("vacía"));
    }

    /// The environment's key is used as given; an empty one is a mistake, not "no key".
    #[test]
    fn the_key_may_come_from_the_environment() {
        assert_eq!(clave_from_env(None), Ok(None));
        assert_eq!(clave_from_env(Some("k".into())), Ok(Some("k".into())));
        assert!(clave_from_env(Some("".into())).unwrap_err().contains(CLAVE_ENV));
    }
}
