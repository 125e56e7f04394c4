//! The served folder: which names are allowed, what is listed, and opening files safely.
//!
//! A name from a client is one plain path component: no separators, no NUL, not empty,
//! no leading dot (that also rules out `.` and `..`, and hides our own staging files).
//! A symlink is followed only when it lands on a regular file inside the folder.
//!
//! Writes never touch a visible name until they are whole. New bytes go to a hidden
//! staging folder inside the served one (so it is on the same filesystem), and only a
//! finished file is moved into place with one `rename` or `link`, which the kernel does
//! atomically: a reader sees the old file or the new one, never half of one. A crash,
//! a lost connection or a full disk leaves at most a hidden leftover in staging.

use std::cell::Cell;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The hidden staging folder inside the served one. Its leading dot keeps it out of
/// listings and out of reach: no client name may start with a dot.
pub const STAGING: &str = ".almacen-staging";
/// Inside staging: resumable uploads, one file per name, kept across restarts.
const PARTS: &str = "partes";

/// Longest name we accept, in bytes (the usual filesystem limit).
pub const MAX_NAME: usize = 255;

/// Checks that `name` is one plain component. The error is Spanish, for the client.
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
    } else {
        Ok(())
    }
}

/// Why a name could not be served. `mensaje` goes to the client as is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub mensaje: String,
}

impl Refusal {
    pub fn new(mensaje: impl Into<String>) -> Refusal {
        Refusal {
            mensaje: mensaje.into(),
        }
    }
}

/// What [`Storage::list`] found.
#[derive(Debug, Default)]
pub struct Listed {
    /// Every served name, sorted.
    pub names: Vec<String>,
    /// Those of them that are symlinks (their targets can change without the folder's
    /// timestamp changing).
    pub links: Vec<String>,
}

/// One listed file, for the detailed listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub bytes: u64,
    pub modified: i64,
}

#[derive(Debug)]
pub struct Storage {
    root: PathBuf,
    /// Numbers the temporary files of this process.
    temp_counter: Cell<u64>,
}

impl Storage {
    /// Opens the served folder; it must exist and be a directory.
    pub fn open(dir: &Path) -> io::Result<Storage> {
        let root = fs::canonicalize(dir)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"));
        }
        Ok(Storage {
            root,
            temp_counter: Cell::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The folder's modification time: it changes when a name is added, removed or
    /// renamed, which is exactly when a cached `listar` reply goes stale.
    pub fn stamp(&self) -> Option<SystemTime> {
        fs::metadata(&self.root).and_then(|m| m.modified()).ok()
    }

    /// Regular files (and symlinks to regular files inside the folder), sorted by name.
    ///
    /// Names only, so no stat per file: a regular file's type comes with its directory
    /// entry (d_type), and only symlinks need a look at what they point to. With 100,000
    /// files, that per-file stat was two thirds of a `listar` (docs/performance.md).
    pub fn list(&self) -> io::Result<Listed> {
        let mut out = Listed::default();
        self.each_listable(|name, dirent, kind| {
            if kind.is_file() {
                out.names.push(name);
            } else if kind.is_symlink()
                && self
                    .follow_inside(&dirent.path())
                    .is_ok_and(|(_, meta)| meta.is_file())
            {
                out.links.push(name.clone());
                out.names.push(name);
            }
        })?;
        // Names in a folder are unique, so an unstable sort gives the same order, faster.
        out.names.sort_unstable();
        Ok(out)
    }

    /// Like [`Storage::list`], with sizes and modification times.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        self.each_listable(|name, dirent, kind| {
            let meta = if kind.is_file() {
                dirent.metadata().ok()
            } else if kind.is_symlink() {
                self.follow_inside(&dirent.path()).ok().map(|(_, m)| m)
            } else {
                None
            };
            if let Some(meta) = meta.filter(Metadata::is_file) {
                out.push(Entry {
                    name,
                    bytes: meta.len(),
                    modified: unix_seconds(meta.modified().ok()),
                });
            }
        })?;
        out.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Calls `each` with every entry of the folder a client could name (UTF-8, a valid
    /// name), and the entry's type as the directory reports it (no stat).
    fn each_listable(&self, mut each: impl FnMut(String, &fs::DirEntry, fs::FileType)) -> io::Result<()> {
        for dirent in fs::read_dir(&self.root)? {
            let dirent = dirent?;
            let Ok(name) = dirent.file_name().into_string() else {
                continue;
            };
            if check_name(&name).is_err() {
                continue;
            }
            if let Ok(kind) = dirent.file_type() {
                each(name, &dirent, kind);
            }
        }
        Ok(())
    }

    /// Opens a file named by a client, for reading. Returns the file and its length.
    pub fn open_file(&self, name: &str) -> Result<(File, u64), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        let missing = || Refusal::new(format!("no existe el archivo: {name}"));
        let path = self.root.join(name);
        let meta = fs::symlink_metadata(&path).map_err(|_| missing())?;
        let (path, follow) = if meta.file_type().is_symlink() {
            let (real, _) = self.follow_inside(&path).map_err(|_| missing())?;
            (real, true)
        } else {
            (path, false)
        };
        // O_NONBLOCK keeps open() itself from waiting (on a FIFO swapped in behind our
        // back, say); O_NOFOLLOW refuses a symlink that appeared since we looked.
        let mut flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
        if !follow {
            flags |= libc::O_NOFOLLOW;
        }
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(flags)
            .open(&path)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::EMFILE) | Some(libc::ENFILE) => Refusal::new("servidor ocupado, intente de nuevo"),
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
    pub fn is_served_file(&self, name: &str) -> bool {
        if check_name(name).is_err() {
            return false;
        }
        let path = self.root.join(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => self.follow_inside(&path).is_ok_and(|(_, m)| m.is_file()),
            Ok(m) => m.is_file(),
            Err(_) => false,
        }
    }

    /// Whether anything at all (a file, a folder, a dangling link) holds `name`.
    pub fn is_taken(&self, name: &str) -> bool {
        fs::symlink_metadata(self.root.join(name)).is_ok()
    }

    fn staging(&self) -> PathBuf {
        self.root.join(STAGING)
    }

    /// Creates the staging folders if needed and removes leftovers older than `max_age`
    /// (from crashes, or uploads in parts that were abandoned). Returns how many went.
    pub fn prepare_staging(&self, max_age: Duration) -> io::Result<usize> {
        let parts = self.staging().join(PARTS);
        // Private to the server's user: staged bytes are nobody else's business yet.
        fs::DirBuilder::new().recursive(true).mode(0o700).create(&parts)?;
        let now = SystemTime::now();
        let mut removed = 0;
        for dir in [self.staging(), parts] {
            for dirent in fs::read_dir(&dir)?.flatten() {
                let Ok(meta) = dirent.metadata() else { continue };
                let age = meta.modified().ok().and_then(|m| now.duration_since(m).ok());
                if meta.is_file()
                    && age.is_some_and(|a| a > max_age)
                    && fs::remove_file(dirent.path()).is_ok()
                {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }

    /// A new, empty, uniquely named file in staging.
    pub fn temp_file(&self) -> Result<(File, PathBuf), Refusal> {
        loop {
            let n = self.temp_counter.get();
            self.temp_counter.set(n + 1);
            let path = self.staging().join(format!("tmp-{}-{n}", std::process::id()));
            match OpenOptions::new()
                .write(true)
                .read(true)
                .create_new(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&path)
            {
                Ok(f) => return Ok((f, path)),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_refusal(&e)),
            }
        }
    }

    /// Where the bytes of an upload in parts for `name` are kept until it is published.
    pub fn part_path(&self, name: &str) -> PathBuf {
        self.staging().join(PARTS).join(name)
    }

    /// Bytes staged so far for `name` (0 when none).
    pub fn part_len(&self, name: &str) -> u64 {
        fs::metadata(self.part_path(name)).map_or(0, |m| m.len())
    }

    /// Moves a finished staged file to `name`. Without `replace`, an existing name is left
    /// alone: `link` refuses atomically when the name exists, even if another program
    /// created it a moment ago. With `replace`, `rename` swaps the file in one step.
    pub fn publish(&self, staged: &Path, name: &str, replace: bool) -> Result<(), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        let dest = self.root.join(name);
        if replace {
            if fs::symlink_metadata(&dest).is_ok_and(|m| m.is_dir()) {
                return Err(Refusal::new(format!("no es un archivo: {name}")));
            }
            return fs::rename(staged, &dest).map_err(|e| write_refusal(&e));
        }
        match fs::hard_link(staged, &dest) {
            Ok(()) => {
                let _ = fs::remove_file(staged);
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists(name)),
            Err(e) => Err(write_refusal(&e)),
        }
    }

    /// Deletes a served file (a symlink: only the link).
    pub fn remove(&self, name: &str) -> Result<(), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        if !self.is_served_file(name) {
            return Err(Refusal::new(format!("no existe el archivo: {name}")));
        }
        fs::remove_file(self.root.join(name)).map_err(|e| write_refusal(&e))
    }

    /// Renames a served file, never over an existing name.
    pub fn rename(&self, from: &str, to: &str) -> Result<(), Refusal> {
        check_name(from).map_err(Refusal::new)?;
        check_name(to).map_err(Refusal::new)?;
        if !self.is_served_file(from) {
            return Err(Refusal::new(format!("no existe el archivo: {from}")));
        }
        if from == to {
            return Ok(());
        }
        // link + unlink rather than rename: link fails if `to` exists, so nothing is ever
        // overwritten, and no moment exists where the file has no name at all.
        let (src, dst) = (self.root.join(from), self.root.join(to));
        match fs::hard_link(&src, &dst) {
            Ok(()) => fs::remove_file(&src).map_err(|e| write_refusal(&e)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists(to)),
            Err(e) => Err(write_refusal(&e)),
        }
    }

    /// Resolves a symlink and accepts it only if it lands inside the folder.
    fn follow_inside(&self, link: &Path) -> io::Result<(PathBuf, Metadata)> {
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

/// The error for a name that is already used.
pub fn exists(name: &str) -> Refusal {
    Refusal::new(format!("ya existe un archivo llamado {name}"))
}

/// A failed write, explained to the client without leaking paths.
pub fn write_refusal(e: &io::Error) -> Refusal {
    Refusal::new(match e.raw_os_error() {
        Some(libc::ENOSPC) | Some(libc::EDQUOT) => "no hay espacio en el disco del servidor",
        Some(libc::EROFS) => "el disco del servidor es de solo lectura",
        Some(libc::EACCES) | Some(libc::EPERM) => "el servidor no tiene permiso para escribir ahí",
        Some(libc::EMFILE) | Some(libc::ENFILE) => "servidor ocupado, intente de nuevo",
        Some(libc::EISDIR) => "el nombre es una carpeta",
        _ => "no se pudo escribir en el disco del servidor",
    })
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
}
