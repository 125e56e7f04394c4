//! The served folder: which names are allowed, what is listed, and opening files safely.
//!
//! A name from a client is one plain path component: no separators, no NUL, not empty,
//! no leading dot (that also rules out `.` and `..`, and hides our own staging files).
//! A symlink is followed only when it lands on a regular file inside the folder.

use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

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
    fn new(mensaje: impl Into<String>) -> Refusal {
        Refusal {
            mensaje: mensaje.into(),
        }
    }
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
}

impl Storage {
    /// Opens the served folder; it must exist and be a directory.
    pub fn open(dir: &Path) -> io::Result<Storage> {
        let root = fs::canonicalize(dir)?;
        if !fs::metadata(&root)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a directory"));
        }
        Ok(Storage { root })
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
    pub fn list(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        for dirent in fs::read_dir(&self.root)? {
            let dirent = dirent?;
            let Some(name) = listable_name(&dirent) else {
                continue;
            };
            let Ok(kind) = dirent.file_type() else {
                continue;
            };
            let served = kind.is_file()
                || (kind.is_symlink()
                    && self
                        .follow_inside(&dirent.path())
                        .is_ok_and(|(_, meta)| meta.is_file()));
            if served {
                out.push(name);
            }
        }
        // Names in a folder are unique, so an unstable sort gives the same order, faster.
        out.sort_unstable();
        Ok(out)
    }

    /// Like [`Storage::list`], with sizes and modification times.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        let mut out = Vec::new();
        for dirent in fs::read_dir(&self.root)? {
            let dirent = dirent?;
            let Some(name) = listable_name(&dirent) else {
                continue;
            };
            let Ok(kind) = dirent.file_type() else {
                continue;
            };
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
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
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

fn unix_seconds(t: Option<SystemTime>) -> i64 {
    t.and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64)
}

/// The entry's name, when a client could ask for it: UTF-8 (a Python str) and valid.
fn listable_name(dirent: &fs::DirEntry) -> Option<String> {
    let name = dirent.file_name().into_string().ok()?;
    check_name(&name).is_ok().then_some(name)
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
