//! The subcommands: connect, do one operation, print its result, exit with a code that
//! says how it went.

use super::args::{Command, Invocation};
use super::call::{check_basic, lacks, Call, Failure, Msg, SERVER_CLOSING};
use super::conn::{self, Reader, Writer};
use super::pushes::{self, Pushes};
use super::text::{human, printable};
use super::{ops, transfer};
use crate::DOWNLOADS;
use almacen::pickle::Data;
use almacen::storage::check_name;
use std::path::{Path, PathBuf};

/// Runs one subcommand (anything but the menu).
pub fn run(inv: &Invocation) -> Result<(), Failure> {
    // Check what can be checked before connecting: a usage mistake is not worth a
    // round trip, and must not depend on whether a server is up.
    let plan = Plan::check(&inv.command)?;
    let mut link = Direct::connect(inv)?;
    let have_key = inv.clave.is_some();
    if link.basic() {
        if let Some(what) = beyond_basic(&inv.command) {
            return Err(lacks(what));
        }
    }
    match &inv.command {
        Command::Menu => unreachable!("the menu is not a subcommand"),
        Command::Listar => {
            for name in ops::listar(&mut link)? {
                outln!("{name}");
            }
        }
        Command::ListarDetalle { bytes } => {
            out!(
                "{}",
                ops::render_entries(&ops::listar_detalle(&mut link)?, *bytes)
            )
        }
        Command::Clientes => out!("{}", ops::render_peers(&ops::clientes(&mut link)?)),
        Command::Descargar { name, .. } => {
            descargar(&mut link, name, plan.dest.as_deref().expect("checked"))?
        }
        Command::Subir { path, replace, .. } => {
            let name = plan.name.as_deref().expect("checked");
            subir(&mut link, path, name, *replace, have_key)?
        }
        Command::Duplicar { name, new } => {
            let copy =
                ops::duplicar(&mut link, name, new.as_deref()).map_err(|f| ops::key_hint(f, have_key))?;
            outln!("Copiado {name} como {copy}");
        }
        Command::Borrar { name } => {
            ops::borrar(&mut link, name).map_err(|f| ops::key_hint(f, have_key))?;
            outln!("Borrado {name}");
        }
        Command::Renombrar { name, new } => {
            let new = ops::renombrar(&mut link, name, new).map_err(|f| ops::key_hint(f, have_key))?;
            outln!("Renombrado {name} a {new}");
        }
        Command::Difundir { name } => {
            let n = ops::difundir(&mut link, name)?;
            outln!("{name} enviado a {n} {}", plural(n, "cliente", "clientes"));
        }
        Command::Mensaje { to, text } => {
            let n = ops::mensaje(&mut link, &ops::recipient(to)?, text)?;
            outln!("Mensaje entregado a {n} {}", plural(n, "cliente", "clientes"));
        }
        Command::Escuchar => listen(&mut link, inv.alias.as_deref())?,
    }
    Ok(())
}

/// The command's name when a server like the course's cannot do it.
fn beyond_basic(command: &Command) -> Option<&'static str> {
    Some(match command {
        Command::Menu | Command::Listar | Command::Descargar { .. } => return None,
        Command::ListarDetalle { .. } => "listar-detalle",
        Command::Clientes => "clientes",
        Command::Subir { .. } => "subir",
        Command::Duplicar { .. } => "duplicar",
        Command::Borrar { .. } => "borrar",
        Command::Renombrar { .. } => "renombrar",
        Command::Difundir { .. } => "difundir",
        Command::Mensaje { .. } => "mensaje",
        Command::Escuchar => "escuchar",
    })
}

/// `descargar`: goes on from what an interrupted run saved, saying so, and tells where
/// the file went.
fn descargar(link: &mut Direct, name: &str, dest: &Path) -> Result<(), Failure> {
    if link.basic() {
        let done = transfer::download_whole(link, name, dest)?;
        outln!("{}", done.report(name, dest));
        return Ok(());
    }
    let job = transfer::plan_download(link, name, dest)?;
    let resume = job.resumable() > 0;
    if resume {
        eprintln!(
            "retomando la descarga de {name}: ya hay {} de {}",
            human(job.resumable()),
            human(job.total().unwrap_or(0))
        );
    }
    let done = transfer::download(link, job, resume)?;
    outln!("{}", done.report(name, dest));
    Ok(())
}

/// `subir`: a name already taken is refused with the option that replaces it.
fn subir(link: &mut Direct, path: &Path, name: &str, replace: bool, have_key: bool) -> Result<(), Failure> {
    let done = transfer::upload(link, path, name, replace).map_err(|f| match ops::already_exists(&f) {
        Some(m) => Failure::Server(format!("{m} (use --reemplazar para sobrescribirlo)")),
        None => ops::key_hint(f, have_key),
    })?;
    outln!("Subido {name} ({})", human(done.bytes));
    Ok(())
}

/// What a subcommand needs that comes from the command line alone.
struct Plan {
    /// Where a download goes.
    dest: Option<PathBuf>,
    /// The name an upload takes on the server.
    name: Option<String>,
}

impl Plan {
    fn check(command: &Command) -> Result<Plan, Failure> {
        let usage = |what: &str, why: &str| Failure::Local(format!("{what}: {why}"));
        let mut plan = Plan {
            dest: None,
            name: None,
        };
        match command {
            Command::Descargar { name, out } => {
                plan.dest = Some(match out {
                    // Into an existing folder, under the file's own name.
                    Some(path) if path.is_dir() => {
                        check_name(name).map_err(|why| usage(&printable(name), why))?;
                        path.join(name)
                    }
                    Some(path) => {
                        check_out(path)?;
                        path.clone()
                    }
                    // The name becomes a path under descargas/: it must be one plain
                    // component, exactly what the server accepts.
                    None => {
                        check_name(name).map_err(|why| usage(&printable(name), why))?;
                        Path::new(DOWNLOADS).join(name)
                    }
                });
            }
            Command::Subir { path, name, .. } => {
                let name = match name {
                    Some(n) => n.clone(),
                    None => path
                        .file_name()
                        .and_then(|n| n.to_str())
                        .map(str::to_string)
                        .ok_or_else(|| usage(&path.display().to_string(), "no tiene un nombre de archivo"))?,
                };
                check_name(&name).map_err(|why| usage(&printable(&name), why))?;
                plan.name = Some(name);
            }
            Command::Mensaje { to, .. } => {
                ops::recipient(to)?;
            }
            _ => {}
        }
        Ok(plan)
    }
}

/// `-o RUTA` that is not an existing folder: a file whose folder must exist. Making
/// folders silently hides typos (`-o /tmp/nodir/x.txt`), so a missing one is an error
/// that says how to make it.
fn check_out(path: &Path) -> Result<(), Failure> {
    let text = path.to_string_lossy();
    if text.ends_with('/') || text.ends_with(std::path::MAIN_SEPARATOR) {
        return Err(Failure::Local(format!(
            "la carpeta {} no existe: créela (mkdir {}) o elija otra con -o",
            path.display(),
            almacen::spanish::shell_word(&text)
        )));
    }
    match path.parent().filter(|p| !p.as_os_str().is_empty()) {
        Some(parent) if !parent.is_dir() => Err(Failure::Local(format!(
            "la carpeta {} no existe: créela (mkdir {}) o elija otra con -o",
            parent.display(),
            almacen::spanish::shell_word(&parent.to_string_lossy())
        ))),
        _ => Ok(()),
    }
}

/// Request and reply on one thread: for the subcommands.
struct Direct {
    reader: Reader,
    writer: Writer,
    pushes: Pushes,
    clave: Option<String>,
    /// The server said it is shutting down (a `cierre` push): the end of the connection
    /// that follows is that, not a crash.
    closing: bool,
}

impl Direct {
    /// Connects to the server `inv` names; pushes that arrive go to the downloads folder.
    fn connect(inv: &Invocation) -> Result<Direct, Failure> {
        let downloads = Path::new(DOWNLOADS);
        let (reader, writer) = conn::connect(&inv.target, downloads, inv.wait)?;
        Ok(Direct {
            reader,
            writer,
            pushes: Pushes::new(downloads),
            clave: inv.clave.clone(),
            closing: false,
        })
    }
}

impl Call for Direct {
    fn clave(&self) -> Option<&str> {
        self.clave.as_deref()
    }

    fn protocol2(&self) -> bool {
        self.writer.protocol2()
    }

    fn basic(&self) -> bool {
        self.writer.basic()
    }

    fn call(&mut self, operacion: &str, data: Data) -> Result<Msg, Failure> {
        check_basic(self.basic(), operacion)?;
        let closing = |f: Failure, said: bool| {
            if said {
                Failure::Server(SERVER_CLOSING.into())
            } else {
                f
            }
        };
        self.writer
            .send(operacion, &data)
            .map_err(|f| closing(f, self.closing))?;
        loop {
            match self.reader.next().map_err(|f| closing(f, self.closing))? {
                None => {
                    let lost = Failure::Link("el servidor cerró la conexión".into());
                    return Err(closing(lost, self.closing));
                }
                // Not subscribed, the goodbye is only the reason for what comes next.
                Some(msg) if pushes::is_push(&msg) && msg.operacion == "cierre" => self.closing = true,
                Some(msg) if pushes::is_push(&msg) => self.pushes.handle(msg),
                Some(msg) => {
                    self.writer.answered();
                    return Ok(msg);
                }
            }
        }
    }
}

/// `escuchar`: subscribe, then print and save pushes until the server closes.
fn listen(link: &mut Direct, alias: Option<&str>) -> Result<(), Failure> {
    let id = ops::suscribir(link, alias)?;
    outln!("Suscrito como cliente {id}; esperando mensajes y archivos (Ctrl-C para salir)");
    loop {
        match link.reader.next()? {
            None => {
                eprintln!("El servidor cerró la conexión");
                return Ok(());
            }
            Some(msg) if pushes::is_push(&msg) => {
                // A file names only its sender's id: look the alias up once.
                if link.pushes.needs_lookup(&msg) {
                    if let Ok(peers) = ops::clientes(link) {
                        link.pushes.learn(&peers);
                    }
                }
                link.pushes.handle(msg)
            }
            // Nothing else is expected: we asked nothing more.
            Some(msg) => eprintln!("mensaje inesperado del servidor: {}", msg.operacion),
        }
    }
}

pub fn plural<'a>(n: i64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}
