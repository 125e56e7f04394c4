//! The command line, declared with clap's derive: `cliente [PUERTO] [HOST]` for the menu,
//! or `cliente [opciones] <subcomando> [args]` for one operation.
//!
//! clap's own words (headings, the help flag, errors) are English, so this file sets
//! every heading and usage line itself and says each error again in Spanish with what
//! to do next. Flags have Spanish names with English aliases (`--puerto`/`--port`).

use almacen::config::{CLAVE_ENV, DEFAULT_HOST, DEFAULT_PORT};
use clap::error::{ContextKind, ErrorKind};
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// How long to wait, by default, while a server sends nothing it owes us.
pub const DEFAULT_WAIT: u64 = 30;

const ROOT_TEMPLATE: &str = "\
{about-with-newline}
Uso:
  cliente [PUERTO] [HOST] [opciones]         el menú interactivo, con avisos
  cliente [opciones] <subcomando> [args]     una operación, y termina
  cliente help <subcomando>                  la ayuda de un subcomando

{all-args}{after-help}";

const SUB_TEMPLATE: &str = "\
{about-with-newline}
Uso: {usage}

{all-args}{after-help}";

const EXAMPLES: &str = "\
Códigos de salida: 0 bien; 1 el servidor respondió con un error (su mensaje va a
stderr), o no respondió como un servidor almacen; 2 un error de uso, de un archivo
local, o no se pudo conectar.

Ejemplos:
  cliente                          # el menú en localhost:3247
  cliente 4000 192.168.1.10        # el menú en otro servidor
  cliente --puerto 4000 listar
  cliente descargar \"mi foto.png\" -o /tmp/
  cliente subir video.mp4 --nombre clase.mp4 --reemplazar
  cliente mensaje todos hola a todos";

#[derive(Parser, Debug)]
#[command(
    name = "cliente",
    version,
    about = "cliente: usa todas las operaciones de un servidor almacen, desde un menú o desde scripts",
    help_template = ROOT_TEMPLATE,
    after_help = EXAMPLES,
    disable_help_flag = true,
    disable_version_flag = true,
    disable_help_subcommand = true,
    subcommand_help_heading = "Subcomandos",
    subcommand_value_name = "SUBCOMANDO"
)]
struct Cli {
    /// Puerto del servidor, para el menú (por omisión 3247)
    #[arg(value_name = "PUERTO", value_parser = port_or_subcommand, help_heading = "Argumentos", display_order = 1)]
    puerto_menu: Option<u16>,
    /// Host del servidor, para el menú (por omisión localhost)
    #[arg(value_name = "HOST", help_heading = "Argumentos", display_order = 2)]
    host_menu: Option<String>,
    #[command(flatten)]
    global: Global,
    /// Muestra la versión
    #[arg(short = 'V', long = "version", alias = "versión", action = clap::ArgAction::Version, help_heading = "Opciones")]
    version: Option<bool>,
    #[command(subcommand)]
    command: Option<Sub>,
}

/// Options that go before or after any subcommand.
#[derive(Args, Debug)]
struct Global {
    /// Puerto del servidor (por omisión 3247)
    #[arg(short, long, visible_alias = "port", value_name = "P", value_parser = port, global = true, help_heading = "Opciones", display_order = 101)]
    puerto: Option<u16>,
    /// Host del servidor (por omisión localhost)
    #[arg(
        long,
        value_name = "H",
        global = true,
        help_heading = "Opciones",
        display_order = 102
    )]
    host: Option<String>,
    /// Nombre que los demás ven (menú y escuchar)
    #[arg(
        long,
        value_name = "A",
        global = true,
        help_heading = "Opciones",
        display_order = 103
    )]
    alias: Option<String>,
    /// Clave para escribir, si el servidor la exige (también en ALMACEN_CLAVE)
    #[arg(
        long,
        visible_alias = "key",
        value_name = "CLAVE",
        global = true,
        help_heading = "Opciones",
        display_order = 104
    )]
    clave: Option<String>,
    /// Segundos de espera sin noticias del servidor antes de rendirse (por omisión 30);
    /// una transferencia que avanza nunca se corta
    #[arg(long, visible_alias = "timeout", value_name = "S", value_parser = clap::value_parser!(u64).range(1..=86_400), global = true, help_heading = "Opciones", display_order = 105)]
    espera: Option<u64>,
    /// Muestra esta ayuda
    #[arg(short = 'h', long = "help", alias = "ayuda", action = clap::ArgAction::Help, global = true, help_heading = "Opciones", display_order = 106)]
    help: Option<bool>,
}

#[derive(Subcommand, Debug)]
enum Sub {
    /// Nombres de los archivos del servidor, uno por línea
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente listar")]
    Listar,
    /// Nombres con tamaño y fecha de modificación
    #[command(name = "listar-detalle", alias = "listar_detalle", help_template = SUB_TEMPLATE, override_usage = "cliente listar-detalle [--bytes]")]
    ListarDetalle {
        /// Tamaños exactos en bytes, en vez de 1.5 KiB, 3.0 MiB…
        #[arg(long, help_heading = "Opciones")]
        bytes: bool,
    },
    /// Descarga un archivo en ./descargas/NOMBRE (o en RUTA). Si una descarga anterior
    /// se interrumpió, la continúa donde quedó
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente descargar NOMBRE [-o RUTA]")]
    Descargar {
        /// Nombre del archivo en el servidor
        #[arg(value_name = "NOMBRE", help_heading = "Argumentos")]
        nombre: String,
        /// Dónde guardarlo: un archivo, o una carpeta que ya existe
        #[arg(
            short = 'o',
            long,
            visible_alias = "output",
            value_name = "RUTA",
            help_heading = "Opciones"
        )]
        salida: Option<PathBuf>,
    },
    /// Sube un archivo local; los de más de 4 MiB van en partes, y una subida
    /// interrumpida se retoma
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente subir RUTA [--nombre N] [--reemplazar]")]
    Subir {
        /// El archivo local
        #[arg(value_name = "RUTA", help_heading = "Argumentos")]
        ruta: PathBuf,
        /// Nombre en el servidor (por omisión, el del archivo local)
        #[arg(long, visible_alias = "name", value_name = "N", help_heading = "Opciones")]
        nombre: Option<String>,
        /// Reemplaza un archivo que ya tenga ese nombre
        #[arg(long, visible_alias = "replace", help_heading = "Opciones")]
        reemplazar: bool,
    },
    /// Copia un archivo en el servidor (con un nombre libre si no se da NUEVO)
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente duplicar NOMBRE [NUEVO]")]
    Duplicar {
        #[arg(
            value_name = "NOMBRE",
            help = "El archivo que se copia",
            help_heading = "Argumentos"
        )]
        nombre: String,
        #[arg(
            value_name = "NUEVO",
            help = "Nombre de la copia",
            help_heading = "Argumentos"
        )]
        nuevo: Option<String>,
    },
    /// Borra un archivo del servidor
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente borrar NOMBRE")]
    Borrar {
        #[arg(
            value_name = "NOMBRE",
            help = "El archivo que se borra",
            help_heading = "Argumentos"
        )]
        nombre: String,
    },
    /// Cambia el nombre de un archivo del servidor (nunca sobre uno que existe)
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente renombrar NOMBRE NUEVO")]
    Renombrar {
        #[arg(value_name = "NOMBRE", help = "Nombre actual", help_heading = "Argumentos")]
        nombre: String,
        #[arg(value_name = "NUEVO", help = "Nombre nuevo", help_heading = "Argumentos")]
        nuevo: String,
    },
    /// Envía un archivo del servidor a todos los clientes suscritos
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente difundir NOMBRE")]
    Difundir {
        #[arg(
            value_name = "NOMBRE",
            help = "El archivo que se envía",
            help_heading = "Argumentos"
        )]
        nombre: String,
    },
    /// Envía un texto a un cliente (por id o alias) o a todos
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente mensaje PARA TEXTO...")]
    Mensaje {
        #[arg(
            value_name = "PARA",
            help = "El id o el alias de un cliente, o todos",
            help_heading = "Argumentos"
        )]
        para: String,
        /// El texto: el resto de las palabras, sin necesidad de comillas
        #[arg(value_name = "TEXTO", required = true, num_args = 1.., trailing_var_arg = true, allow_hyphen_values = true, help_heading = "Argumentos")]
        texto: Vec<String>,
    },
    /// Quién está conectado
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente clientes")]
    Clientes,
    /// Se suscribe, muestra los mensajes y guarda los archivos que llegan en
    /// ./descargas/, hasta que el servidor cierre o Ctrl-C
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente escuchar [--alias A]")]
    Escuchar,
    /// Muestra la ayuda, o la de un subcomando
    #[command(help_template = SUB_TEMPLATE, override_usage = "cliente help [SUBCOMANDO]", alias = "ayuda")]
    Help {
        #[arg(
            value_name = "SUBCOMANDO",
            help = "El subcomando",
            help_heading = "Argumentos"
        )]
        sub: Option<String>,
    },
    /// Escribe en stdout la completación para un shell o la página de manual
    #[command(hide = true, help_template = SUB_TEMPLATE, override_usage = "cliente generar (bash|zsh|fish|powershell|elvish|man)")]
    Generar {
        #[arg(value_name = "QUÉ", value_parser = ["bash", "zsh", "fish", "powershell", "elvish", "man"], help_heading = "Argumentos")]
        que: String,
    },
}

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
    ListarDetalle {
        bytes: bool,
    },
    Descargar {
        name: String,
        out: Option<PathBuf>,
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
    /// The write key, sent with every write.
    pub clave: Option<String>,
    /// How long silence from the server is tolerated while it owes a reply.
    pub wait: Duration,
    pub command: Command,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Invocation),
    /// Text to print on stdout, then exit 0 (help, version, completions, man page).
    Print(String),
}

/// Parses the arguments (without the program name) and the key's environment value.
/// Errors are one Spanish line that says what to do.
pub fn parse<I, T>(args: I, env_clave: Option<String>) -> Result<Parsed, String>
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    let argv = std::iter::once(OsString::from("cliente")).chain(args.into_iter().map(Into::into));
    let mut cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            return Ok(Parsed::Print(e.render().to_string()));
        }
        Err(e) => return Err(spanish(&e)),
    };
    // `help` and `generar` only print some text: no connection, so no settings needed.
    let command = match cli.command.take() {
        Some(Sub::Help { sub }) => return help_for(sub.as_deref()).map(Parsed::Print),
        Some(Sub::Generar { que }) => return Ok(Parsed::Print(generate(&que))),
        sub => command(sub),
    };
    invocation(cli, env_clave, command).map(Parsed::Run)
}

/// The subcommand clap read, in the words the rest of the client uses.
fn command(sub: Option<Sub>) -> Command {
    match sub {
        None => Command::Menu,
        Some(Sub::Listar) => Command::Listar,
        Some(Sub::ListarDetalle { bytes }) => Command::ListarDetalle { bytes },
        Some(Sub::Descargar { nombre, salida }) => Command::Descargar {
            name: nombre,
            out: salida,
        },
        Some(Sub::Subir {
            ruta,
            nombre,
            reemplazar,
        }) => Command::Subir {
            path: ruta,
            name: nombre,
            replace: reemplazar,
        },
        Some(Sub::Duplicar { nombre, nuevo }) => Command::Duplicar {
            name: nombre,
            new: nuevo,
        },
        Some(Sub::Borrar { nombre }) => Command::Borrar { name: nombre },
        Some(Sub::Renombrar { nombre, nuevo }) => Command::Renombrar {
            name: nombre,
            new: nuevo,
        },
        Some(Sub::Difundir { nombre }) => Command::Difundir { name: nombre },
        Some(Sub::Mensaje { para, texto }) => Command::Mensaje {
            to: para,
            text: texto.join(" "),
        },
        Some(Sub::Clientes) => Command::Clientes,
        Some(Sub::Escuchar) => Command::Escuchar,
        Some(Sub::Help { .. } | Sub::Generar { .. }) => unreachable!("parse answers help and generar"),
    }
}

/// Where to connect and how: the menu's HOST and PUERTO or the options (not both), the
/// key from --clave or the environment (never empty), and how long to wait.
fn invocation(cli: Cli, env_clave: Option<String>, command: Command) -> Result<Invocation, String> {
    let g = cli.global;
    if cli.puerto_menu.is_some() && g.puerto.is_some() {
        return Err("el puerto se dio dos veces (como PUERTO y con --puerto)".into());
    }
    if cli.host_menu.is_some() && g.host.is_some() {
        return Err("el host se dio dos veces (como HOST y con --host)".into());
    }
    let clave = match g.clave.or(env_clave) {
        Some(k) if k.is_empty() => return Err(format!("la clave está vacía (en --clave o {CLAVE_ENV})")),
        other => other,
    };
    Ok(Invocation {
        target: Target {
            host: cli
                .host_menu
                .or(g.host)
                .unwrap_or_else(|| DEFAULT_HOST.to_string()),
            port: cli.puerto_menu.or(g.puerto).unwrap_or(DEFAULT_PORT),
        },
        alias: g.alias,
        clave,
        wait: Duration::from_secs(g.espera.unwrap_or(DEFAULT_WAIT)),
        command,
    })
}

/// The names people type for subcommands, for suggestions.
fn subcommand_names() -> Vec<String> {
    Cli::command()
        .get_subcommands()
        .filter(|s| !s.is_hide_set())
        .map(|s| s.get_name().to_string())
        .collect()
}

/// The closest subcommand to a mistyped word, if one is close enough.
pub fn suggest(word: &str) -> Option<String> {
    subcommand_names()
        .into_iter()
        .map(|name| (strsim::jaro(word, &name), name))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, name)| name)
}

fn unknown_subcommand(word: &str) -> String {
    match suggest(word) {
        Some(s) => format!("subcomando desconocido «{word}»; ¿quiso decir «{s}»? (vea cliente --help)"),
        None => format!("subcomando desconocido «{word}» (vea cliente --help)"),
    }
}

/// The menu's PUERTO: a number. A word here is almost always a mistyped subcommand.
fn port_or_subcommand(text: &str) -> Result<u16, String> {
    if !text.is_empty() && !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(unknown_subcommand(text));
    }
    port(text)
}

fn port(text: &str) -> Result<u16, String> {
    match text.parse::<u16>() {
        Ok(p) if p > 0 => Ok(p),
        _ => Err(format!(
            "puerto inválido «{text}»: se espera un número de 1 a 65535"
        )),
    }
}

/// clap's error, said again in Spanish, on one line.
fn spanish(e: &clap::Error) -> String {
    let get = |kind| e.get(kind).map(|v| v.to_string()).unwrap_or_default();
    let arg = get(ContextKind::InvalidArg);
    let value = get(ContextKind::InvalidValue);
    let usage = |why: String| {
        // The offending subcommand's own usage line, when clap names it.
        let line = get(ContextKind::Usage);
        let line = line.trim().trim_start_matches("Usage:").trim();
        if line.is_empty() {
            format!("{why} (vea cliente --help)")
        } else {
            format!("{why}; uso: {line}")
        }
    };
    match e.kind() {
        ErrorKind::InvalidSubcommand => unknown_subcommand(&get(ContextKind::InvalidSubcommand)),
        ErrorKind::UnknownArgument => {
            let suggested = get(ContextKind::SuggestedArg);
            if arg.starts_with('-') {
                if suggested.is_empty() {
                    usage(format!("opción desconocida {arg}"))
                } else {
                    format!("opción desconocida {arg}; ¿quiso decir {suggested}?")
                }
            } else if let Some(s) = suggest(&arg) {
                format!("argumento de más «{arg}»; ¿quiso decir el subcomando «{s}»? (vea cliente --help)")
            } else {
                usage(format!("argumento de más «{arg}»"))
            }
        }
        ErrorKind::ValueValidation => match std::error::Error::source(e) {
            Some(why) if why.to_string().contains('«') => why.to_string(),
            Some(why) => format!(
                "valor inválido «{value}» para {arg}: {}",
                english_range(&why.to_string())
            ),
            None => format!("valor inválido «{value}» para {arg}"),
        },
        ErrorKind::InvalidValue if value.is_empty() => usage(format!("{arg} necesita un valor")),
        ErrorKind::InvalidValue => {
            let valid = get(ContextKind::ValidValue);
            format!("valor inválido «{value}» para {arg}; se acepta: {valid}")
        }
        ErrorKind::MissingRequiredArgument => usage(format!("falta {arg}")),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            usage("falta el subcomando".to_string())
        }
        ErrorKind::TooManyValues | ErrorKind::WrongNumberOfValues | ErrorKind::TooFewValues => {
            usage(format!("número de valores incorrecto para {arg}"))
        }
        ErrorKind::ArgumentConflict => usage(format!(
            "{arg} no se puede usar junto con {}",
            get(ContextKind::PriorArg)
        )),
        ErrorKind::NoEquals => format!("{arg} necesita su valor con =, como {arg}=VALOR"),
        ErrorKind::InvalidUtf8 => "los argumentos deben ser texto válido (UTF-8)".to_string(),
        _ => usage("argumentos inválidos".to_string()),
    }
}

/// clap's range check says "N is not in 1..=86400"; keep the numbers, drop the English.
fn english_range(text: &str) -> String {
    match text.split_once(" is not in ") {
        Some((n, range)) => format!("{n} no está entre {}", range.replace("..=", " y ")),
        None => "no es válido".to_string(),
    }
}

/// `cliente help [SUBCOMANDO]`.
fn help_for(sub: Option<&str>) -> Result<String, String> {
    let mut cmd = Cli::command();
    cmd.build();
    let Some(name) = sub else {
        return Ok(cmd.render_help().to_string());
    };
    match cmd.find_subcommand_mut(name) {
        Some(s) => Ok(s.render_help().to_string()),
        None => Err(unknown_subcommand(name)),
    }
}

/// Shell completions, or the man page, for `cliente generar QUÉ`.
fn generate(what: &str) -> String {
    use clap_complete::Shell;
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    let shell = match what {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "powershell" => Shell::PowerShell,
        "elvish" => Shell::Elvish,
        _ => {
            // clap_mangen writes its section titles in English; they are fixed words,
            // so they are replaced with the Spanish ones.
            let _ = clap_mangen::Man::new(cmd).render(&mut out);
            let page = String::from_utf8_lossy(&out).into_owned();
            return [
                (".SH NAME", ".SH NOMBRE"),
                (".SH SYNOPSIS", ".SH SINOPSIS"),
                (".SH DESCRIPTION", ".SH DESCRIPCIÓN"),
                (".SH OPTIONS", ".SH OPCIONES"),
                (".SH SUBCOMMANDS", ".SH SUBCOMANDOS"),
                (".SH EXTRA", ".SH MÁS"),
                (".SH VERSION", ".SH VERSIÓN"),
                (".SH AUTHORS", ".SH AUTORES"),
                ("<\\fIsubcommands\\fR>", "<\\fISUBCOMANDO\\fR>"),
            ]
            .iter()
            .fold(page, |page, (en, es)| page.replace(en, es));
        }
    };
    clap_complete::generate(shell, &mut cmd, "cliente", &mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(list: &[&str]) -> Result<Invocation, String> {
        match parse(list.iter().copied(), None)? {
            Parsed::Run(inv) => Ok(inv),
            other => panic!("expected a run, got {other:?}"),
        }
    }

    /// clap's own consistency checks on the declared command line.
    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    /// No arguments is the menu on localhost:3247; PUERTO and HOST are positional.
    #[test]
    fn bare_words_are_port_and_host_for_the_menu() {
        let inv = run(&[]).unwrap();
        assert_eq!(inv.command, Command::Menu);
        assert_eq!((inv.target.host.as_str(), inv.target.port), ("localhost", 3247));
        assert_eq!(inv.wait, Duration::from_secs(30));
        let inv = run(&["4000", "10.0.0.1"]).unwrap();
        assert_eq!((inv.target.host.as_str(), inv.target.port), ("10.0.0.1", 4000));
        let inv = run(&["4000", "h", "listar"]).unwrap();
        assert_eq!((inv.target.port, inv.command), (4000, Command::Listar));
    }

    /// Options may come before or after the subcommand, and `--` protects odd names.
    #[test]
    fn options_and_subcommand_words_mix() {
        let inv = run(&["descargar", "-o", "x.bin", "a.bin", "--puerto=9"]).unwrap();
        assert_eq!(inv.target.port, 9);
        assert_eq!(
            inv.command,
            Command::Descargar {
                name: "a.bin".into(),
                out: Some("x.bin".into()),
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

    /// Every Spanish flag has its English alias.
    #[test]
    fn english_aliases_work() {
        let inv = run(&[
            "--port",
            "5",
            "--key",
            "k",
            "--timeout",
            "3",
            "subir",
            "a",
            "--name",
            "b",
            "--replace",
        ])
        .unwrap();
        assert_eq!(inv.target.port, 5);
        assert_eq!(inv.clave.as_deref(), Some("k"));
        assert_eq!(inv.wait, Duration::from_secs(3));
        assert_eq!(
            inv.command,
            Command::Subir {
                path: "a".into(),
                name: Some("b".into()),
                replace: true
            }
        );
        let inv = run(&["descargar", "a", "--output", "x"]).unwrap();
        assert_eq!(
            inv.command,
            Command::Descargar {
                name: "a".into(),
                out: Some("x".into())
            }
        );
    }

    /// The key comes from --clave, or else from the environment.
    #[test]
    fn the_key_comes_from_the_flag_or_the_environment() {
        let from_env =
            |args: &[&str], env: Option<&str>| match parse(args.iter().copied(), env.map(String::from)) {
                Ok(Parsed::Run(inv)) => inv.clave,
                other => panic!("{other:?}"),
            };
        assert_eq!(from_env(&["listar"], Some("e")), Some("e".into()));
        assert_eq!(from_env(&["--clave", "f", "listar"], Some("e")), Some("f".into()));
        assert_eq!(from_env(&["listar"], None), None);
        assert!(parse(["--clave=", "listar"], None).is_err());
    }

    /// Every mistake is a one-line Spanish error that says what to do.
    #[test]
    fn mistakes_are_one_line_spanish_errors() {
        let cases: &[(&[&str], &str)] = &[
            (&["borrar"], "falta"),
            (&["bailar"], "subcomando desconocido «bailar»"),
            (&["descarga", "x"], "¿quiso decir «descargar»?"),
            (&["listar", "x"], "argumento de más «x»"),
            (&["listar", "--continuar"], "opción desconocida --continuar"),
            (&["--nope"], "opción desconocida --nope"),
            (&["99999"], "puerto inválido"),
            (&["-p"], "necesita un valor"),
            (&["mensaje", "3"], "falta"),
            (&["--espera", "0", "listar"], "no está entre"),
            (&["subir", "a", "--reemplazr"], "¿quiso decir --reemplazar?"),
            (&["help", "bailar"], "subcomando desconocido"),
        ];
        for (args, words) in cases {
            let err = run(args).unwrap_err();
            assert!(err.contains(words), "{args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
            for english in ["error:", "Usage", "tip:", "For more information"] {
                assert!(!err.contains(english), "{args:?}: {err}");
            }
        }
    }

    /// `--help`, `help` and `help SUBCOMANDO` print Spanish help, each its own.
    #[test]
    fn help_is_spanish_and_per_subcommand() {
        let text = |args: &[&str]| match parse(args.iter().copied(), None) {
            Ok(Parsed::Print(t)) => t,
            other => panic!("{args:?}: {other:?}"),
        };
        let root = text(&["--help"]);
        assert_eq!(root, text(&["help"]));
        for words in [
            "Uso:",
            "Subcomandos",
            "Opciones",
            "descargar",
            "Códigos de salida",
            "--port",
        ] {
            assert!(root.contains(words), "root help lacks {words:?}:\n{root}");
        }
        let sub = text(&["descargar", "--help"]);
        assert_eq!(sub, text(&["help", "descargar"]));
        assert!(sub.contains("cliente descargar NOMBRE [-o RUTA]"), "{sub}");
        assert!(!sub.contains("mensaje"), "{sub}");
        for english in ["Usage", "Options", "Print help", "Commands", "Arguments"] {
            assert!(
                !root.contains(english) && !sub.contains(english),
                "{english}:\n{root}\n{sub}"
            );
        }
    }

    /// Completions and the man page come out of the same declarations.
    #[test]
    fn completions_and_man_page_are_generated() {
        let text = |what: &str| match parse(["generar", what], None) {
            Ok(Parsed::Print(t)) => t,
            other => panic!("{what}: {other:?}"),
        };
        assert!(text("bash").contains("descargar"));
        assert!(text("zsh").contains("--puerto"));
        let man = text("man");
        assert!(
            man.contains(".SH NOMBRE") && man.contains(".SH OPCIONES"),
            "{man}"
        );
        assert!(!man.contains(".SH NAME"), "{man}");
    }
}
