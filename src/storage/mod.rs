//! The served folder: which names are allowed, what is listed, and opening files safely.
//!
//! A name from a client is one plain path component: no separators, no NUL, not empty,
//! no leading dot (that also rules out `.` and `..`, and hides our own staging files).
//! The rules are the same on every OS and refuse what Windows cannot store (see
//! [`check_name`]), so a served folder can move between machines.
//! A symlink is followed only when it lands on a regular file inside the folder.
//!
//! All work happens relative to a handle held open on the folder (openat, linkat,
//! renameat, unlinkat: src/sys/), never by re-walking a path. The folder's path is looked
//! at again now and then: a folder removed, or swapped for a link, is noticed, and
//! nothing outside the folder the server started with is ever served.
//!
//! Reading is all a `listar` or a `descargar` needs, and all this file holds; writing
//! (staging, atomic and durable publishing, uploads in parts) is [`writes`]'s.

mod writes;

use crate::flusher::{Flusher, Ticket, Wake};
use crate::sys::{self, Dir, Fault, Kind};
use std::cell::{Cell, OnceCell, RefCell};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};
pub(crate) use writes::{exists, write_refusal, Staged};

/// The hidden staging folder inside the served one. Its leading dot keeps it out of
/// listings and out of reach: no client name may start with a dot.
pub const STAGING: &str = ".almacen-staging";
/// Inside staging: resumable uploads, one file per name, kept across restarts.
const PARTS: &str = "partes";
/// Inside staging: the file a running server holds locked.
const CLAIM: &str = "en-uso";
/// Staged files of whole uploads and copies start so; nothing ever resumes them.
const TEMP_PREFIX: &str = "tmp-";

/// Longest name we accept, in bytes (the usual filesystem limit).
pub(crate) const MAX_NAME: usize = 255;

/// Characters Windows forbids in a name (besides `/`, `\` and control characters).
const WINDOWS_FORBIDDEN: [char; 7] = ['<', '>', ':', '"', '|', '?', '*'];

/// Checks that `name` is one plain component that every OS can store. The error is
/// Spanish, for the client.
pub fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("nombre vacío")
    } else if name.len() > MAX_NAME {
        Err("nombre demasiado largo")
    } else if name.contains(['/', '\\']) {
        Err("nombre inválido: no puede tener / ni \\")
    } else if name.contains('\0') {
        Err("nombre inválido: contiene un byte nulo")
    } else if name.starts_with('.') {
        Err("nombre inválido: no puede empezar con un punto")
    } else if name.chars().any(char::is_control) {
        Err("nombre inválido: contiene caracteres de control")
    } else if name.contains(WINDOWS_FORBIDDEN) {
        Err("nombre inválido: no puede tener < > : \" | ? *")
    } else if name.ends_with(['.', ' ']) {
        Err("nombre inválido: no puede terminar en punto ni en espacio")
    } else if is_windows_device(name) {
        Err("nombre inválido: CON, PRN, AUX, NUL, COM1 a COM9 y LPT1 a LPT9 están reservados")
    } else {
        Ok(())
    }
}

/// Windows reserves device names, in any case, with or without an extension
/// (`con.txt`, `Com1.tar.gz`), and with spaces before the extension (`NUL .txt`).
/// It also counts the superscript digits ¹ ² ³ as digits here.
fn is_windows_device(name: &str) -> bool {
    let stem = name.split('.').next().unwrap_or(name).trim_end_matches(' ');
    let upper = stem.to_ascii_uppercase();
    match upper.as_str() {
        "CON" | "PRN" | "AUX" | "NUL" => true,
        _ => {
            let Some(rest) = upper.strip_prefix("COM").or_else(|| upper.strip_prefix("LPT")) else {
                return false;
            };
            matches!(
                rest,
                "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "¹" | "²" | "³"
            )
        }
    }
}

/// Why a name could not be served. `mensaje` goes to the client as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub mensaje: String,
}

impl Refusal {
    pub(crate) fn new(mensaje: impl Into<String>) -> Refusal {
        Refusal {
            mensaje: mensaje.into(),
        }
    }
}

/// What [`Storage::list`] found.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    /// Every served name, sorted.
    pub names: Vec<String>,
    /// Those of them that are symlinks (their targets can change without the folder's
    /// timestamp changing).
    pub links: Vec<String>,
}

/// One listed file, for the detailed listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub name: String,
    pub bytes: u64,
    pub modified: i64,
}

#[derive(Debug)]
pub struct Storage {
    /// The folder's canonical path: for the log, and to check where symlinks land.
    root: PathBuf,
    /// The handle everything is done through.
    dir: RefCell<Rc<Dir>>,
    /// The staging folder's handle, once opened (dropped to reopen it when it vanished).
    staging: RefCell<Option<Rc<Dir>>>,
    /// Numbers the temporary files of this process.
    temp_counter: Cell<u64>,
    /// Whether this filesystem takes `Poema.txt` and `poema.txt` as one name.
    case_insensitive: Cell<bool>,
    /// Whether hard links work here (not on FAT and exFAT).
    hard_links: Cell<bool>,
    /// The thread that waits for the disk, started at the first write.
    flusher: OnceCell<Flusher>,
    /// How that thread wakes the loop.
    wake: RefCell<Option<Wake>>,
    /// The locked file in staging, while this server writes here.
    claim: RefCell<Option<File>>,
    /// The folder's path names no plain folder now (removed, or swapped for a link):
    /// operations are refused until one is back.
    gone: Cell<bool>,
    /// When [`Storage::check_present`] last looked at the path.
    looked: Cell<Option<Instant>>,
}

/// How long a look at the served folder's path is trusted before the next request looks
/// again. A stat by path per request was a quarter of a cached `listar`'s CPU
/// (docs/performance.md); once a millisecond costs nothing, and a folder removed or
/// swapped is noticed within that millisecond.
const PRESENT_RECHECK: Duration = Duration::from_millis(1);

/// What a client hears while the served folder is gone.
pub(crate) const FOLDER_GONE: &str =
    "la carpeta del servidor ya no está (se borró, se movió o se cambió por un enlace); \
     avise a quien administra el servidor e intente más tarde";

impl Storage {
    /// Opens the served folder; it must exist and be a directory.
    pub fn open(dir: &Path) -> io::Result<Storage> {
        let root = fs::canonicalize(dir)?;
        let handle = Dir::open(&root)?;
        let case_insensitive = case_insensitive(&handle, &root);
        Ok(Storage {
            root,
            dir: RefCell::new(Rc::new(handle)),
            staging: RefCell::new(None),
            temp_counter: Cell::new(0),
            case_insensitive: Cell::new(case_insensitive),
            hard_links: Cell::new(true),
            flusher: OnceCell::new(),
            wake: RefCell::new(None),
            claim: RefCell::new(None),
            gone: Cell::new(false),
            looked: Cell::new(None),
        })
    }

    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The handle on the served folder.
    fn dir(&self) -> Rc<Dir> {
        Rc::clone(&self.dir.borrow())
    }

    /// The folder's modification time: it changes when a name is added, removed or
    /// renamed, which is exactly when a cached `listar` reply goes stale.
    ///
    /// Looked up by path, which also tells whether the path still names the folder we
    /// hold: if someone removed the folder and made a new one in its place, the held
    /// handle points at the dead one, and we switch to the new one. `None` while the
    /// path names no plain folder (see [`Storage::check_present`]).
    pub(crate) fn stamp(&self) -> Option<SystemTime> {
        self.look().ok().flatten()
    }

    /// Refuses while the served folder is gone: removed (`rm -rf`), moved away, or
    /// swapped for a symlink. A held handle on a removed folder reads as empty without an
    /// error, and one on a folder moved away still works, so without this check `listar`
    /// would answer an empty list, or the old folder under its new name. The path is
    /// looked at once per [`PRESENT_RECHECK`] at most; when a plain folder is back at
    /// it, serving resumes.
    pub(crate) fn check_present(&self) -> Result<(), Refusal> {
        let now = Instant::now();
        let recent = self
            .looked
            .get()
            .is_some_and(|at| now.saturating_duration_since(at) < PRESENT_RECHECK);
        if recent && !self.gone.get() {
            return Ok(());
        }
        self.looked.set(Some(now));
        self.look().map(|_| ()).map_err(|()| Refusal::new(FOLDER_GONE))
    }

    /// Looks at the path (never following a link at its end): switches to a new plain
    /// folder found there, and notes when there is none. Returns its modification time.
    fn look(&self) -> Result<Option<SystemTime>, ()> {
        let meta = match sys::lstat_path(&self.root) {
            Ok(meta) if meta.kind == Kind::Folder => meta,
            Ok(_) => return self.lost("ya no es una carpeta (¿un enlace simbólico?)"),
            Err(e) => return self.lost(&crate::spanish::io_error(&e)),
        };
        if meta.id != self.dir.borrow().id() && !self.reopen() {
            return self.lost("no se pudo abrir de nuevo");
        }
        if self.gone.replace(false) {
            log::info!("{} is back; serving it again", self.root.display());
        }
        Ok(meta.modified)
    }

    /// The path names no folder we may serve: one warning line, however many requests
    /// notice it.
    fn lost<T>(&self, why: &str) -> Result<T, ()> {
        if !self.gone.replace(true) {
            log::warn!(
                "la carpeta {} ya no está disponible ({why}); se rechazan los pedidos hasta que vuelva",
                self.root.display()
            );
        }
        Err(())
    }

    /// Opens the folder again by its path (it was replaced), and forgets staging. A
    /// symlink there is refused: the root was resolved at start, so only someone
    /// swapping the folder while we serve puts one there, and following it would serve
    /// (and write into) a folder the operator never named.
    fn reopen(&self) -> bool {
        match Dir::reopen(&self.root) {
            Ok(d) => {
                log::info!("{} was replaced; serving the new folder", self.root.display());
                *self.dir.borrow_mut() = Rc::new(d);
                self.staging.borrow_mut().take();
                true
            }
            Err(e) => {
                log::debug!("cannot reopen {}: {e}", self.root.display());
                false
            }
        }
    }

    /// Regular files (and symlinks to regular files inside the folder), sorted by name.
    ///
    /// Names only, so no stat per file: a regular file's type comes with its directory
    /// entry (d_type), and only symlinks need a look at what they point to. With 100,000
    /// files, that per-file stat was two thirds of a `listar` (docs/performance.md).
    pub(crate) fn list(&self) -> io::Result<Listed> {
        let mut out = Listed::default();
        self.each_listable(|name, kind| {
            if kind == Kind::File {
                out.names.push(name.to_string());
            } else if kind == Kind::Symlink
                && self
                    .follow_inside(&self.root.join(name))
                    .is_ok_and(|(_, meta)| meta.is_file())
            {
                out.links.push(name.to_string());
                out.names.push(name.to_string());
            }
        })?;
        // Names in a folder are unique, so an unstable sort gives the same order, faster.
        out.names.sort_unstable();
        Ok(out)
    }

    /// Like [`Storage::list`], with sizes and modification times.
    pub(crate) fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        let dir = self.dir();
        self.each_listable(|name, kind| {
            let meta = match kind {
                Kind::File => dir.stat(name).ok().map(|m| (m.len, m.modified)),
                Kind::Symlink => self
                    .follow_inside(&self.root.join(name))
                    .ok()
                    .filter(|(_, m)| m.is_file())
                    .map(|(_, m)| (m.len(), m.modified().ok())),
                _ => None,
            };
            if let Some((bytes, modified)) = meta {
                out.push(Entry {
                    name: name.to_string(),
                    bytes,
                    modified: unix_seconds(modified),
                });
            }
        })?;
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Calls `each` with every entry of the folder a client could name (UTF-8, a valid
    /// name), and the entry's type as the directory reports it (no stat).
    fn each_listable(&self, mut each: impl FnMut(&str, Kind)) -> io::Result<()> {
        self.dir().for_each(|name, kind| {
            if check_name(name).is_ok() {
                each(name, kind);
            }
        })
    }

    /// Opens a file named by a client, for reading. Returns the file and its length.
    pub(crate) fn open_file(&self, name: &str) -> Result<(File, u64), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        let missing = || Refusal::new(format!("no existe el archivo: {name}"));
        let dir = self.dir();
        let kind = dir.stat(name).map_err(|_| missing())?.kind;
        // A plain name opens relative to the held folder, refusing a symlink that
        // appeared since we looked (O_NOFOLLOW); a symlink opens where it was checked
        // to land.
        let opened = if kind == Kind::Symlink {
            let (real, _) = self.follow_inside(&self.root.join(name)).map_err(|_| missing())?;
            sys::open_read_path(&real)
        } else {
            dir.open_read(name)
        };
        let file = opened.map_err(|e| match sys::fault(&e) {
            Fault::OutOfDescriptors => Refusal::new("servidor ocupado, intente de nuevo"),
            _ => missing(),
        })?;
        let meta = file.metadata().map_err(|_| missing())?;
        if !meta.is_file() {
            return Err(Refusal::new(format!("no es un archivo: {name}")));
        }
        Ok((file, meta.len()))
    }

    /// Whether `name` is something a client can use: a listed file (a regular file, or a
    /// symlink that lands on one inside the folder).
    pub(crate) fn is_served_file(&self, name: &str) -> bool {
        if check_name(name).is_err() {
            return false;
        }
        match self.dir().stat(name) {
            Ok(m) if m.kind == Kind::Symlink => self
                .follow_inside(&self.root.join(name))
                .is_ok_and(|(_, m)| m.is_file()),
            Ok(m) => m.kind == Kind::File,
            Err(_) => false,
        }
    }

    /// Whether anything at all (a file, a folder, a dangling link) holds `name`.
    pub(crate) fn is_taken(&self, name: &str) -> bool {
        self.dir().stat(name).is_ok()
    }

    /// Resolves a symlink and accepts it only if it lands inside the folder.
    fn follow_inside(&self, link: &Path) -> io::Result<(PathBuf, fs::Metadata)> {
        let real = fs::canonicalize(link)?;
        // Inside the folder, and not into a hidden corner of it (such as our staging area).
        let inside = match real.strip_prefix(&self.root) {
            Ok(rel) => {
                rel.components().next().is_some()
                    && rel
                        .components()
                        .all(|c| !c.as_os_str().to_string_lossy().starts_with('.'))
            }
            Err(_) => false,
        };
        if !inside {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "outside the folder",
            ));
        }
        let meta = fs::metadata(&real)?;
        Ok((real, meta))
    }
}

/// Whether the filesystem under `dir` takes names without regard to case: the folder's
/// own name, upper-cased, is looked up from its parent. (A folder whose name has no
/// letters cannot tell, and is taken as case-sensitive: writes are then guarded by
/// `link` and no-overwrite renames alone, which on a case-insensitive filesystem still
/// refuse another spelling of a taken name.)
fn case_insensitive(dir: &Dir, root: &Path) -> bool {
    let (Some(parent), Some(name)) = (root.parent(), root.file_name().and_then(|n| n.to_str())) else {
        return false;
    };
    let flipped: String = name
        .chars()
        .map(|c| {
            if c.is_lowercase() {
                c.to_uppercase().next().unwrap_or(c)
            } else {
                c.to_lowercase().next().unwrap_or(c)
            }
        })
        .collect();
    if flipped == name {
        return false;
    }
    sys::stat_path(&parent.join(flipped)).is_ok_and(|m| m.kind == Kind::Folder && m.id == dir.id())
}

fn unix_seconds(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every kind of bad name is refused; plain names with spaces and accents pass.
    #[test]
    fn names_must_be_one_plain_component() {
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "/etc/passwd",
            "a/b",
            "a\\b",
            "a\0b",
            ".oculto",
            "a\nb",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
        assert!(check_name(&"x".repeat(256)).is_err());
        for good in ["poema.txt", "mi archivo.txt", "canción.mp3", "x", "a..b", "ñandú"] {
            assert!(check_name(good).is_ok(), "{good:?} should pass");
        }
    }

    /// Windows' reserved device names are refused in any case and with any extension;
    /// names that only start like them pass.
    #[test]
    fn windows_device_names_are_reserved_everywhere() {
        for bad in [
            "CON", "con", "Con.txt", "PRN.a.b", "aux", "NUL", "com1", "COM9.log", "lpt1", "LPT9", "COM²",
            "con .txt",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["CONSOLA", "com0", "COM10", "lpt", "nula.txt", "auxilio", "xcon"] {
            assert!(check_name(good).is_ok(), "{good:?} should pass");
        }
    }
}
