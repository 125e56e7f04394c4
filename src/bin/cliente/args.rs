//! Command-line arguments: `cliente [PUERTO] [HOST]` for the menu, or a subcommand.

use almacen::config::{DEFAULT_HOST, DEFAULT_PORT};
use std::path::PathBuf;

pub const HELP: &str = "\
cliente: uses every operation of an almacen server, from a menu or from scripts

Usage:
  cliente [PUERTO] [HOST]                 interactive menu (Spanish), with pushes
  cliente [options] <subcommand> [args]   one operation, then exit

Subcommands:
  listar                          names of the files on the server, one per line
  listar-detalle                  names with size and modification time
  descargar NOMBRE [-o RUTA] [--continuar]
                                  download into ./descargas/NOMBRE (or RUTA);
                                  --continuar resumes from the local file's size
  subir RUTA [--nombre N] [--reemplazar]
                                  upload a local file (as N); files over 4 MiB go
                                  in parts, and an interrupted upload resumes
  duplicar NOMBRE [NUEVO]         copy a file on the server (a free name if no NUEVO)
  borrar NOMBRE                   delete a file on the server
  renombrar NOMBRE NUEVO          rename a file on the server
  difundir NOMBRE                 send a file to every subscribed client
  mensaje PARA TEXTO...           send a text to a client id, or to `todos`
  clientes                        who is connected
  escuchar                        subscribe, print messages and save pushed files
                                  into ./descargas/ until the server closes or Ctrl-C

Options:
  -p, --puerto P     server port (default 3247)
      --host H       server host (default localhost)
      --alias A      name shown to others (menu and escuchar)
  -h, --help         show this help
  -V, --version      show the version
  --                 end of options (for names that start with -)

Exit codes: 0 ok, 1 the server answered with an error (its message goes to
stderr), 2 usage, local file or connection problems.

Examples:
  cliente                          # menu on localhost:3247
  cliente 4000 192.168.1.10        # menu on another server
  cliente --puerto 4000 listar
  cliente descargar \"mi foto.png\" -o /tmp/foto.png
  cliente subir video.mp4 --nombre clase.mp4 --reemplazar
  cliente mensaje todos hola a todos
";

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub host: String,
    pub port: u16,
}

/// What to do once connected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Menu,
    Listar,
    ListarDetalle,
    Descargar {
        name: String,
        out: Option<PathBuf>,
        resume: bool,
    },
    Subir {
        path: PathBuf,
        name: Option<String>,
        replace: bool,
    },
    Duplicar {
        name: String,
        new: Option<String>,
    },
    Borrar {
        name: String,
    },
    Renombrar {
        name: String,
        new: String,
    },
    Difundir {
        name: String,
    },
    Mensaje {
        to: String,
        text: String,
    },
    Clientes,
    Escuchar,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub target: Target,
    pub alias: Option<String>,
    pub command: Command,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Invocation),
    Help,
    Version,
}

const SUBCOMMANDS: [&str; 12] = [
    "listar",
    "listar-detalle",
    "listar_detalle",
    "descargar",
    "subir",
    "duplicar",
    "borrar",
    "renombrar",
    "difundir",
    "mensaje",
    "clientes",
    "escuchar",
];

/// Options that belong to one subcommand only, gathered before we know which one it is.
#[derive(Default)]
struct Local {
    out: Option<PathBuf>,
    resume: bool,
    name: Option<String>,
    replace: bool,
}

/// Parses the arguments (without the program name). Errors are one line, in English
/// like the help they point to.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Parsed, String> {
    let mut port: Option<u16> = None;
    let mut host: Option<String> = None;
    let mut alias = None;
    let mut local = Local::default();
    let mut before: Vec<String> = Vec::new();
    let mut command: Option<String> = None;
    let mut rest: Vec<String> = Vec::new();
    let mut options_done = false;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        if options_done || arg == "-" || !arg.starts_with('-') {
            // Before the subcommand, plain words are PUERTO and HOST; the first word
            // that names a subcommand starts it, and everything after is its own.
            if command.is_none() && SUBCOMMANDS.contains(&arg.as_str()) {
                command = Some(arg);
            } else if command.is_none() {
                before.push(arg);
            } else {
                rest.push(arg);
            }
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        // `--opcion=valor` and `--opcion valor` both work.
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "-V" | "--version" => return Ok(Parsed::Version),
            "-p" | "--puerto" | "--port" => port = Some(parse_port(&value()?)?),
            "--host" => host = Some(value()?),
            "--alias" => alias = Some(value()?),
            "-o" | "--salida" => local.out = Some(PathBuf::from(value()?)),
            "--continuar" => local.resume = true,
            "--nombre" => local.name = Some(value()?),
            "--reemplazar" => local.replace = true,
            _ => return Err(format!("unknown option {flag} (see --help)")),
        }
    }

    let mut before = before.into_iter();
    if let Some(p) = before.next() {
        // A first word that is not a number was most likely meant as a subcommand.
        if !p.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("unknown subcommand {p:?} (see --help)"));
        }
        if port.is_some() {
            return Err(format!("port given twice ({p:?} and --puerto)"));
        }
        port = Some(parse_port(&p)?);
    }
    if let Some(h) = before.next() {
        if host.is_some() {
            return Err(format!("host given twice ({h:?} and --host)"));
        }
        host = Some(h);
    }
    if let Some(extra) = before.next() {
        return Err(format!("unknown subcommand {extra:?} (see --help)"));
    }
    let target = Target {
        host: host.unwrap_or_else(|| DEFAULT_HOST.to_string()),
        port: port.unwrap_or(DEFAULT_PORT),
    };
    let command = build(command.as_deref().unwrap_or("menu"), rest, local)?;
    Ok(Parsed::Run(Invocation {
        target,
        alias,
        command,
    }))
}

fn parse_port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "invalid port {text:?}: expected a number from 1 to 65535"
        )),
    }
}

/// Checks the subcommand's words and options and builds the command.
fn build(name: &str, words: Vec<String>, local: Local) -> Result<Command, String> {
    let allowed: &[&str] = match name {
        "descargar" => &["-o", "--continuar"],
        "subir" => &["--nombre", "--reemplazar"],
        _ => &[],
    };
    let given = [
        ("-o", local.out.is_some()),
        ("--continuar", local.resume),
        ("--nombre", local.name.is_some()),
        ("--reemplazar", local.replace),
    ];
    for (flag, set) in given {
        if set && !allowed.contains(&flag) {
            return Err(format!("{flag} does not apply to {name}"));
        }
    }
    let usage = |shape: &str| format!("usage: cliente {name} {shape}");
    let mut words = words.into_iter();
    let mut take = |shape: &str| words.next().ok_or_else(|| usage(shape));
    let command = match name {
        "menu" => Command::Menu,
        "listar" => Command::Listar,
        "listar-detalle" | "listar_detalle" => Command::ListarDetalle,
        "clientes" => Command::Clientes,
        "escuchar" => Command::Escuchar,
        "descargar" => Command::Descargar {
            name: take("NOMBRE [-o RUTA] [--continuar]")?,
            out: local.out,
            resume: local.resume,
        },
        "subir" => Command::Subir {
            path: PathBuf::from(take("RUTA [--nombre N] [--reemplazar]")?),
            name: local.name,
            replace: local.replace,
        },
        "duplicar" => Command::Duplicar {
            name: take("NOMBRE [NUEVO]")?,
            new: words.next(),
        },
        "borrar" => Command::Borrar {
            name: take("NOMBRE")?,
        },
        "renombrar" => Command::Renombrar {
            name: take("NOMBRE NUEVO")?,
            new: take("NOMBRE NUEVO")?,
        },
        "difundir" => Command::Difundir {
            name: take("NOMBRE")?,
        },
        "mensaje" => {
            let to = take("PARA TEXTO...")?;
            // The rest of the words are the text, so quotes are optional.
            let text: Vec<String> = words.by_ref().collect();
            if text.is_empty() {
                return Err(usage("PARA TEXTO..."));
            }
            return Ok(Command::Mensaje {
                to,
                text: text.join(" "),
            });
        }
        other => return Err(format!("unknown subcommand {other:?} (see --help)")),
    };
    if let Some(extra) = words.next() {
        return Err(format!("unexpected argument {extra:?} for {name} (see --help)"));
    }
    Ok(command)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(list: &[&str]) -> Result<Invocation, String> {
        match parse(list.iter().map(|s| s.to_string()))? {
            Parsed::Run(inv) => Ok(inv),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    /// No arguments is the menu on localhost:3247; PUERTO and HOST are positional.
    #[test]
    fn bare_words_are_port_and_host_for_the_menu() {
        let inv = run(&[]).unwrap();
        assert_eq!(inv.command, Command::Menu);
        assert_eq!((inv.target.host.as_str(), inv.target.port), ("localhost", 3247));
        let inv = run(&["4000", "10.0.0.1"]).unwrap();
        assert_eq!((inv.target.host.as_str(), inv.target.port), ("10.0.0.1", 4000));
        let inv = run(&["4000", "h", "listar"]).unwrap();
        assert_eq!((inv.target.port, inv.command), (4000, Command::Listar));
    }

    /// Options may come before or after the subcommand, and `--` protects odd names.
    #[test]
    fn options_and_subcommand_words_mix() {
        let inv = run(&["descargar", "-o", "x.bin", "a.bin", "--puerto=9", "--continuar"]).unwrap();
        assert_eq!(inv.target.port, 9);
        assert_eq!(
            inv.command,
            Command::Descargar {
                name: "a.bin".into(),
                out: Some("x.bin".into()),
                resume: true
            }
        );
        let inv = run(&["borrar", "--", "-raro.txt"]).unwrap();
        assert_eq!(
            inv.command,
            Command::Borrar {
                name: "-raro.txt".into()
            }
        );
        let inv = run(&["--host", "h", "mensaje", "todos", "hola", "a", "todos"]).unwrap();
        assert_eq!(
            inv.command,
            Command::Mensaje {
                to: "todos".into(),
                text: "hola a todos".into()
            }
        );
    }

    /// Every mistake is a one-line error that points at the help.
    #[test]
    fn mistakes_are_one_line_errors() {
        assert!(run(&["borrar"]).unwrap_err().starts_with("usage: cliente borrar"));
        assert!(run(&["bailar"]).unwrap_err().contains("unknown subcommand"));
        assert!(run(&["listar", "x"]).unwrap_err().contains("unexpected argument"));
        assert!(run(&["subir", "a", "--continuar"])
            .unwrap_err()
            .contains("does not apply"));
        assert!(run(&["--nope"]).unwrap_err().contains("unknown option"));
        assert!(run(&["99999"]).unwrap_err().contains("invalid port"));
        assert!(run(&["-p"]).unwrap_err().contains("needs a value"));
        assert!(run(&["mensaje", "3"]).is_err());
        assert_eq!(parse(["--help".to_string()]), Ok(Parsed::Help));
    }
}
