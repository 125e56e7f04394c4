//! The interactive menu: a person types choices, pushes show up as they arrive.
//!
//! Two small threads feed one channel: one reads frames from the socket, the other
//! reads lines from stdin. The main thread owns everything else (the writer, the
//! prompts, the downloads folder) and takes events in arrival order. While it waits for
//! a reply, pushes are shown and lines typed ahead are kept for the next prompts; while
//! it waits for a line, pushes are shown and the prompt is drawn again. Blocking reads
//! on plain threads work for any stdin (a terminal, a pipe, a regular file), which
//! readiness polling does not: epoll refuses regular files.

use super::args::Invocation;
use super::call::{check_basic, lacks, Call, Failure, Msg, BASIC_OPS, SERVER_CLOSING};
use super::commands::plural;
use super::conn::{self, Reader, Writer};
use super::pushes::{self, Pushes};
use super::text::{human, printable};
use super::{ops, paste, transfer};
use crate::DOWNLOADS;
use almacen::pickle::Data;
use almacen::storage::check_name;
use std::collections::VecDeque;
use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread;

enum Event {
    Line(String),
    Eof,
    Frame(Msg),
    /// The socket ended: cleanly (None) or with an error.
    Closed(Option<Failure>),
}

const MENU: &str = "
Menú
  1. listar      ver los archivos del servidor
  2. descargar   bajar un archivo a descargas/
  3. subir       enviar un archivo de este computador
  4. duplicar    copiar un archivo en el servidor
  5. borrar      borrar un archivo del servidor
  6. renombrar   cambiar el nombre de un archivo
  7. difundir    enviar un archivo a todos los clientes suscritos
  8. clientes    ver quién está conectado
  9. mensaje     escribir a un cliente o a todos
  0. salir";

struct Menu {
    writer: Writer,
    events: Receiver<Event>,
    /// Lines that arrived while we waited for a reply, oldest first.
    pending: VecDeque<String>,
    eof: bool,
    pushes: Pushes,
    clave: Option<String>,
    /// A prompt is on screen with the cursor after it: anything printed now must start
    /// on a line of its own.
    at_prompt: bool,
}

/// Runs the menu until `salir`, the end of stdin, or the server closing.
pub fn run(inv: &Invocation) -> Result<(), Failure> {
    let mut menu = Menu::open(inv)?;
    if menu.basic() {
        // Nothing to subscribe to: such a server pushes nothing.
        outln!(
            "Conectado a {}:{}, un servidor como el del curso: solo ofrece listar y descargar.",
            inv.target.host,
            inv.target.port
        );
    } else {
        let id = ops::suscribir(&mut menu, inv.alias.as_deref())?;
        outln!(
            "Conectado a {}:{} como cliente {id}. Lo que otros le envíen se guarda en {DOWNLOADS}/.",
            inv.target.host,
            inv.target.port
        );
    }
    // The whole menu once, then a short prompt: results stay on screen instead of
    // scrolling away under a dozen lines after every choice.
    outln!("{MENU}");
    loop {
        let Some(choice) = menu.line("\nOpción (? para ver el menú): ")? else {
            return Ok(());
        };
        let result = match choice.trim().to_lowercase().as_str() {
            "" => continue,
            "?" | "menu" | "menú" | "ayuda" => {
                outln!("{MENU}");
                continue;
            }
            "0" | "salir" => {
                outln!("Hasta luego.");
                return Ok(());
            }
            other => match action(other) {
                Some((name, _)) if menu.basic() && !BASIC_OPS.contains(&name) => {
                    outln!("Error: {}", lacks(name));
                    continue;
                }
                Some((_, act)) => act(&mut menu),
                None => {
                    outln!("Opción no válida: {}", printable(other));
                    outln!("{MENU}");
                    continue;
                }
            },
        };
        match result {
            Ok(()) => {}
            // The server refused, or a local file or an answer was wrong: say so and
            // show the menu again. A lost connection ends the session.
            Err(Stop::Failed(f @ Failure::Server(_))) => {
                outln!("Error: {}", ops::key_hint(f, menu.clave.is_some()))
            }
            Err(Stop::Failed(Failure::Local(m))) => outln!("Error: {m}"),
            Err(Stop::Failed(failure)) => return Err(failure),
            Err(Stop::Eof) => return Ok(()),
        }
    }
}

/// One of the menu's actions: asks its questions, calls the server, shows the result.
type Action = fn(&mut Menu) -> Result<(), Stop>;

/// The action a menu choice names, by number or by name, with its name.
fn action(choice: &str) -> Option<(&'static str, Action)> {
    let act: (&str, Action) = match choice {
        "1" | "listar" => ("listar", listar),
        "2" | "descargar" => ("descargar", descargar),
        "3" | "subir" => ("subir", subir),
        "4" | "duplicar" => ("duplicar", duplicar),
        "5" | "borrar" => ("borrar", borrar),
        "6" | "renombrar" => ("renombrar", renombrar),
        "7" | "difundir" => ("difundir", difundir),
        "8" | "clientes" => ("clientes", clientes),
        "9" | "mensaje" => ("mensaje", mensaje),
        _ => return None,
    };
    Some(act)
}

/// Sends each frame from the socket into the channel, on a thread of its own, until
/// the connection ends.
fn read_frames(mut reader: Reader, events: Sender<Event>) {
    thread::spawn(move || loop {
        let (event, last) = match reader.next() {
            Ok(Some(msg)) => (Event::Frame(msg), false),
            Ok(None) => (Event::Closed(None), true),
            Err(e) => (Event::Closed(Some(e)), true),
        };
        if events.send(event).is_err() || last {
            break;
        }
    });
}

/// Sends each line typed on stdin into the channel, on a thread of its own, until
/// stdin ends.
fn read_lines(events: Sender<Event>) {
    thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match stdin.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => {
                    let _ = events.send(Event::Eof);
                    break;
                }
                Ok(_) => {
                    // A stray invalid byte should not end the session.
                    let line = String::from_utf8_lossy(&buf);
                    let line = line.trim_end_matches(['\n', '\r']).to_string();
                    if events.send(Event::Line(line)).is_err() {
                        break;
                    }
                }
            }
        }
    });
}

/// Why an action ended early.
enum Stop {
    /// Stdin ended in the middle of its questions: the session ends quietly.
    Eof,
    Failed(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Stop {
        Stop::Failed(f)
    }
}

impl Menu {
    /// Connects, and starts the two threads that feed the channel.
    fn open(inv: &Invocation) -> Result<Menu, Failure> {
        let downloads = Path::new(DOWNLOADS);
        let (reader, writer) = conn::connect(&inv.target, downloads, inv.wait)?;
        let (tx, events) = mpsc::channel();
        read_frames(reader, tx.clone());
        read_lines(tx);
        Ok(Menu {
            writer,
            events,
            pending: VecDeque::new(),
            eof: false,
            pushes: Pushes::new(downloads),
            clave: inv.clave.clone(),
            at_prompt: false,
        })
    }

    /// Shows `prompt` and returns the next line; None at the end of stdin.
    fn line(&mut self, prompt: &str) -> Result<Option<String>, Failure> {
        self.prompt(prompt);
        if let Some(line) = self.pending.pop_front() {
            self.at_prompt = false;
            return Ok(Some(line));
        }
        while !self.eof {
            match self.events.recv() {
                Ok(Event::Line(line)) => {
                    self.at_prompt = false;
                    return Ok(Some(line));
                }
                Ok(Event::Eof) => self.eof = true,
                Ok(Event::Frame(msg)) if pushes::is_push(&msg) => {
                    // A file names only its sender's id: look the alias up once, while
                    // nothing else is asked.
                    if self.pushes.needs_lookup(&msg) {
                        if let Ok(peers) = ops::clientes(self) {
                            self.pushes.learn(&peers);
                        }
                    }
                    // The push on its own line, then the prompt again under it.
                    self.own_line();
                    self.pushes.handle(msg);
                    self.prompt(prompt);
                }
                Ok(Event::Frame(msg)) => {
                    self.own_line();
                    eprintln!("mensaje inesperado del servidor: {}", msg.operacion)
                }
                // After the server's goodbye, its close is the end of the session, not a
                // failure.
                Ok(Event::Closed(_)) if self.pushes.server_closing() => {
                    self.own_line();
                    outln!("El servidor cerró la sesión. Hasta luego.");
                    return Ok(None);
                }
                Ok(Event::Closed(e)) => {
                    self.own_line();
                    return Err(closed(e));
                }
                Err(_) => {
                    self.own_line();
                    return Err(closed(None));
                }
            }
        }
        // End the prompt's line, so the shell's prompt starts clean.
        self.own_line();
        Ok(None)
    }

    fn prompt(&mut self, prompt: &str) {
        out!("{prompt}");
        let _ = std::io::stdout().flush();
        self.at_prompt = true;
    }

    /// Ends the prompt's line, if one is waiting, so what comes next starts clean.
    fn own_line(&mut self) {
        if self.at_prompt {
            outln!();
            self.at_prompt = false;
        }
    }

    /// A yes/no question. Enter takes `default`; any answer that is neither is asked again.
    fn yes_no(&mut self, prompt: &str, default: bool) -> Result<bool, Stop> {
        loop {
            let answer = self.ask(prompt)?;
            match answer.to_lowercase().as_str() {
                "" => return Ok(default),
                "s" | "si" | "sí" | "y" | "yes" => return Ok(true),
                "n" | "no" => return Ok(false),
                _ => outln!("Responda s (sí) o n (no)."),
            }
        }
    }

    /// Asks for a line; stdin ending turns into `Stop::Eof`.
    fn ask(&mut self, prompt: &str) -> Result<String, Stop> {
        match self.line(prompt)? {
            Some(line) => Ok(line.trim().to_string()),
            None => Err(Stop::Eof),
        }
    }

    /// Asks for a file name on the server; empty means "never mind".
    fn ask_name(&mut self, prompt: &str) -> Result<Option<String>, Stop> {
        let name = self.ask(prompt)?;
        if name.is_empty() {
            outln!("Cancelado.");
            return Ok(None);
        }
        Ok(Some(name))
    }
}

fn closed(e: Option<Failure>) -> Failure {
    e.unwrap_or_else(|| Failure::Link("el servidor cerró la conexión".into()))
}

impl Call for Menu {
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
        self.writer.send(operacion, &data)?;
        loop {
            match self.events.recv() {
                Ok(Event::Frame(msg)) if pushes::is_push(&msg) => self.pushes.handle(msg),
                Ok(Event::Frame(msg)) => {
                    self.writer.answered();
                    return Ok(msg);
                }
                Ok(Event::Line(line)) => self.pending.push_back(line),
                Ok(Event::Eof) => self.eof = true,
                // After its goodbye, the end of the connection is a shutdown, not a crash.
                Ok(Event::Closed(_)) if self.pushes.server_closing() => {
                    return Err(Failure::Server(SERVER_CLOSING.into()))
                }
                Ok(Event::Closed(e)) => return Err(closed(e)),
                Err(_) => return Err(closed(None)),
            }
        }
    }
}

fn listar(menu: &mut Menu) -> Result<(), Stop> {
    if menu.basic() {
        // Names only: such a server has no listar_detalle.
        let names = ops::listar(menu)?;
        if names.is_empty() {
            outln!("No hay archivos en el servidor.");
        } else {
            outln!("Archivos en el servidor:");
            for name in names {
                outln!("  {}", printable(&name));
            }
        }
        return Ok(());
    }
    let entries = ops::listar_detalle(menu)?;
    if entries.is_empty() {
        outln!("No hay archivos en el servidor.");
    } else {
        outln!("Archivos en el servidor:");
        out!("{}", ops::render_entries(&entries, false));
    }
    Ok(())
}

fn descargar(menu: &mut Menu) -> Result<(), Stop> {
    let Some(name) = menu.ask_name("Nombre del archivo: ")? else {
        return Ok(());
    };
    check_name(&name).map_err(|why| Failure::Local(format!("{}: {why}", printable(&name))))?;
    let dest = Path::new(DOWNLOADS).join(&name);
    if menu.basic() {
        let done = transfer::download_whole(menu, &name, &dest)?;
        outln!("{}", done.report(&name, &dest));
        return Ok(());
    }
    let plan = transfer::plan_download(menu, &name, &dest)?;
    let resume = plan.resumable() > 0
        && menu.yes_no(
            &format!(
                "Hay una descarga interrumpida de {name} ({} de {}). ¿Continuarla? (S/n): ",
                human(plan.resumable()),
                human(plan.total().unwrap_or(0))
            ),
            true,
        )?;
    let done = transfer::download(menu, plan, resume)?;
    outln!("{}", done.report(&name, &dest));
    Ok(())
}

fn subir(menu: &mut Menu) -> Result<(), Stop> {
    let typed = menu.ask("Ruta del archivo local: ")?;
    if typed.is_empty() {
        outln!("Cancelado.");
        return Ok(());
    }
    // Pasted paths come quoted, escaped or with ~: take the reading that exists.
    let path = paste::resolve(&typed, paste::home().as_deref());
    // Check the local file before asking anything else, so a typo costs one question and
    // a script's next lines are not taken as answers to questions about a missing file.
    if !path.is_file() {
        outln!("Error: {}: no existe o no es un archivo", path.display());
        return Ok(());
    }
    let default = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("")
        .to_string();
    let name = menu.ask(&format!("Nombre en el servidor [{default}]: "))?;
    let name = if name.is_empty() { default } else { name };
    check_name(&name).map_err(|why| Failure::Local(format!("{}: {why}", printable(&name))))?;
    let done = match transfer::upload(menu, &path, &name, false) {
        Err(f) if ops::already_exists(&f).is_some() => {
            let question = format!("Ya existe {name} en el servidor. ¿Reemplazarlo? (s/N): ");
            if !menu.yes_no(&question, false)? {
                outln!("No se subió {name}.");
                return Ok(());
            }
            transfer::upload(menu, &path, &name, true)?
        }
        other => other?,
    };
    outln!("Subido {name} ({})", human(done.bytes));
    Ok(())
}

fn duplicar(menu: &mut Menu) -> Result<(), Stop> {
    let Some(name) = menu.ask_name("Nombre del archivo: ")? else {
        return Ok(());
    };
    let new = menu.ask("Nombre de la copia (Enter para uno automático): ")?;
    let copy = ops::duplicar(menu, &name, Some(new.as_str()).filter(|n| !n.is_empty()))?;
    outln!("Copiado {name} como {copy}");
    Ok(())
}

fn borrar(menu: &mut Menu) -> Result<(), Stop> {
    let Some(name) = menu.ask_name("Nombre del archivo: ")? else {
        return Ok(());
    };
    let question = format!(
        "¿Borrar {} del servidor? No se puede deshacer. (s/N): ",
        printable(&name)
    );
    if !menu.yes_no(&question, false)? {
        outln!("No se borró {name}.");
        return Ok(());
    }
    ops::borrar(menu, &name)?;
    outln!("Borrado {name}");
    Ok(())
}

fn renombrar(menu: &mut Menu) -> Result<(), Stop> {
    let Some(name) = menu.ask_name("Nombre del archivo: ")? else {
        return Ok(());
    };
    let Some(new) = menu.ask_name("Nombre nuevo: ")? else {
        return Ok(());
    };
    let new = ops::renombrar(menu, &name, &new)?;
    outln!("Renombrado {name} a {new}");
    Ok(())
}

fn difundir(menu: &mut Menu) -> Result<(), Stop> {
    let Some(name) = menu.ask_name("Nombre del archivo: ")? else {
        return Ok(());
    };
    let n = ops::difundir(menu, &name)?;
    outln!("{name} enviado a {n} {}", plural(n, "cliente", "clientes"));
    Ok(())
}

fn clientes(menu: &mut Menu) -> Result<(), Stop> {
    out!("{}", ops::render_peers(&ops::clientes(menu)?));
    Ok(())
}

fn mensaje(menu: &mut Menu) -> Result<(), Stop> {
    let to = menu.ask("Para (id o alias de un cliente, o todos): ")?;
    let to = ops::recipient(&to)?;
    let text = menu.ask("Texto: ")?;
    if text.is_empty() {
        outln!("Cancelado.");
        return Ok(());
    }
    let n = ops::mensaje(menu, &to, &text)?;
    outln!("Mensaje entregado a {n} {}", plural(n, "cliente", "clientes"));
    Ok(())
}
