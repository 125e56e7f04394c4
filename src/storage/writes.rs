//! Writing into the served folder: staging, publishing atomically and durably, uploads
//! in parts, removing and renaming.
//!
//! Nothing in the staging folder is ever reached through a symlink: if the staging
//! folder itself is a link, the server refuses to start; if one is planted later, writes
//! fail instead of following it.
//!
//! Writes never touch a visible name until they are whole. New bytes go to a hidden
//! staging folder inside the served one (so it is on the same filesystem), and only a
//! finished file is moved into place with one `rename` or `link`, which the kernel does
//! atomically: a reader sees the old file or the new one, never half of one. A crash,
//! a lost connection or a full disk leaves at most a hidden leftover in staging. Where
//! the filesystem has no hard links (FAT, exFAT), a no-overwrite move does the same job.
//!
//! Atomic is not yet durable: until the kernel writes its page cache out, a power cut
//! can take back a file that every client already saw. So a published write goes in
//! three steps, and only the last one lets the client hear "ok" (`jobs::Publish`): the
//! file's bytes are flushed to the disk, then its name is linked into the folder, then
//! the folder is flushed, so that the name is on the disk too. The flushes wait for the
//! disk, which the loop must never do; [`crate::flusher`] does them on helper threads.
//!
//! A restart leaves nothing half-written: staged files of whole uploads and copies are
//! never resumed, so the server removes them all when it starts. It holds a lock on a
//! file in staging while it runs, so that a second server started on the same folder
//! leaves the first one's files alone.
//!
//! On case-insensitive filesystems (the default on macOS and Windows), `Poema.txt` and
//! `poema.txt` are one name. No write ever lands on the other spelling silently: a new
//! name is refused as taken, and `reemplazar` is refused when the existing file is
//! spelled differently.

use super::*;

/// A file in the staging folder, named relative to the staging folder's own handle, so
/// that removing or publishing it never walks a path again.
pub(crate) struct Staged {
    dir: Rc<Dir>,
    name: String,
}

impl Staged {
    /// Removes the staged file (a missing one is fine: it is gone either way).
    pub(crate) fn remove(&self) -> io::Result<()> {
        match self.dir.remove_file(&self.name) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            other => other,
        }
    }

    /// Removes the staged file of a write that will not be published; a failure only
    /// leaves a leftover for the next start, so it is logged, not returned.
    pub(crate) fn discard(&self) {
        if let Err(e) = self.remove() {
            log::warn!("no se pudo borrar {self:?}: {}", crate::spanish::io_error(&e));
        }
    }

    /// Its name inside staging.
    #[cfg(all(test, unix))]
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

impl std::fmt::Debug for Staged {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", STAGING, self.name)
    }
}

impl Storage {
    /// Where staging is, for messages.
    pub(crate) fn staging_path(&self) -> PathBuf {
        self.root.join(STAGING)
    }

    /// The staging folder's handle, creating the folder if it is missing. A symlink or
    /// anything but a plain folder is `NotADirectory`, and is never followed.
    pub(super) fn staging(&self) -> io::Result<Rc<Dir>> {
        if let Some(d) = self.staging.borrow().as_ref() {
            return Ok(Rc::clone(d));
        }
        let d = Rc::new(open_or_create(&self.dir(), STAGING)?);
        *self.staging.borrow_mut() = Some(Rc::clone(&d));
        Ok(d)
    }

    /// The folder of uploads in parts, inside staging, created if missing.
    pub(super) fn parts(&self) -> io::Result<Rc<Dir>> {
        Ok(Rc::new(open_or_create(&*self.staging()?, PARTS)?))
    }

    /// Runs `op` in staging (or in its parts folder); if staging vanished meanwhile
    /// (someone removed it, or the whole folder), opens it again, recreating it, and
    /// tries once more.
    pub(super) fn in_staging<T>(
        &self,
        parts: bool,
        op: impl Fn(&Dir) -> io::Result<T>,
    ) -> io::Result<(T, Rc<Dir>)> {
        let mut retried = false;
        loop {
            let dir = if parts { self.parts() } else { self.staging() };
            let result = dir.and_then(|d| op(&d).map(|t| (t, d)));
            match result {
                Err(e) if e.kind() == io::ErrorKind::NotFound && !retried => {
                    retried = true;
                    self.staging.borrow_mut().take();
                    self.stamp(); // notices a replaced served folder
                }
                Err(e) if e.kind() == io::ErrorKind::NotADirectory => {
                    log::warn!(
                        "{} no es una carpeta común (¿un enlace simbólico?); no se escribe en ella",
                        self.staging_path().display()
                    );
                    return Err(e);
                }
                other => return other,
            }
        }
    }

    /// Creates the staging folders if needed, claims them for this server, and removes
    /// what a crash left: every staged file of a whole upload or a copy (nothing resumes
    /// them), and anything older than `max_age` (uploads in parts that were abandoned;
    /// younger ones wait to be resumed). Returns how many went.
    ///
    /// While another server holds the claim (two servers on one folder), its staged
    /// files may be in use: then only those older than `max_age` go.
    ///
    /// A staging folder that is a symlink, or anything but a plain folder, is an error
    /// of kind `NotADirectory`: the server must not start on it. Only plain files are
    /// removed, each by name relative to its own folder, so nothing outside the served
    /// folder can ever be touched.
    pub(crate) fn prepare_staging(&self, max_age: Duration) -> io::Result<usize> {
        self.staging.borrow_mut().take();
        let staging = self.staging()?;
        let parts = self.parts()?;
        let sole = self.claim(&staging);
        let now = SystemTime::now();
        let mut removed = 0;
        // Temporary files sit in staging itself; parts wait in their own folder.
        for (dir, temps_go) in [(&*staging, sole), (&*parts, false)] {
            let mut names = Vec::new();
            dir.for_each(|name, kind| {
                if kind == Kind::File && name != CLAIM {
                    names.push(name.to_string());
                }
            })?;
            for name in names {
                let Ok(meta) = dir.stat(&name) else { continue };
                let age = meta.modified.and_then(|m| now.duration_since(m).ok());
                let orphan = temps_go && name.starts_with(TEMP_PREFIX);
                if meta.kind == Kind::File
                    && (orphan || age.is_some_and(|a| a > max_age))
                    && dir.remove_file(&name).is_ok()
                {
                    removed += 1;
                }
            }
        }
        self.case_insensitive
            .set(case_insensitive(&self.dir(), &self.root));
        Ok(removed)
    }

    /// Locks the claim file in `staging` for as long as this server runs. False when
    /// another process holds it, or when the lock cannot be had at all (a network
    /// filesystem without locks): then another server may be writing here.
    pub(super) fn claim(&self, staging: &Dir) -> bool {
        let file = match staging.open_write(CLAIM) {
            Ok(f) => f,
            Err(e) => {
                log::debug!("cannot open {CLAIM} in staging ({e}); removing only old leftovers");
                return false;
            }
        };
        match file.try_lock() {
            Ok(()) => {
                *self.claim.borrow_mut() = Some(file);
                true
            }
            Err(fs::TryLockError::WouldBlock) => {
                log::warn!(
                    "otro servidor escribe en {}: sus archivos a medias no se borran",
                    self.root.display()
                );
                false
            }
            Err(fs::TryLockError::Error(e)) => {
                log::debug!("cannot lock {CLAIM} ({e}); removing only old leftovers");
                false
            }
        }
    }

    /// Flushes `file` to the disk on the flusher thread.
    pub(crate) fn flush_file(&self, file: &File) -> Ticket {
        match self.flusher() {
            Ok(f) => f.file(file),
            Err(e) => Ticket::failed(e),
        }
    }

    /// Flushes the served folder's names to the disk on the flusher thread.
    pub(crate) fn flush_folder(&self) -> Ticket {
        self.flush_names(&self.dir())
    }

    /// Flushes the names of the staging folder that holds `staged` (a new part's name).
    pub(crate) fn flush_staged_folder(&self, staged: &Staged) -> Ticket {
        self.flush_names(&staged.dir)
    }

    pub(super) fn flush_names(&self, dir: &Dir) -> Ticket {
        match self.flusher() {
            Ok(f) => f.folder(dir.flush_handle()),
            Err(e) => Ticket::failed(e),
        }
    }

    /// How the flusher thread wakes the loop (before the first write). Without it, the
    /// loop finds out about a finished flush only on its next wake-up.
    pub(crate) fn wake_with(&self, wake: Wake) {
        *self.wake.borrow_mut() = Some(wake);
    }

    pub(super) fn flusher(&self) -> io::Result<&Flusher> {
        if let Some(f) = self.flusher.get() {
            return Ok(f);
        }
        let started = Flusher::start(self.wake.borrow().clone())?;
        Ok(self.flusher.get_or_init(|| started))
    }

    /// A new, empty, uniquely named file in staging.
    pub(crate) fn temp_file(&self) -> Result<(File, Staged), Refusal> {
        loop {
            let n = self.temp_counter.get();
            self.temp_counter.set(n + 1);
            let name = format!("{TEMP_PREFIX}{}-{n}", std::process::id());
            match self.in_staging(false, |d| d.create_new(&name)) {
                Ok((f, dir)) => return Ok((f, Staged { dir, name })),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(write_refusal(&e)),
            }
        }
    }

    /// Opens (creating it if needed) the staged bytes of an upload in parts for `name`.
    pub(crate) fn open_part(&self, name: &str) -> Result<(File, Staged), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        let (file, dir) = self
            .in_staging(true, |d| d.open_write(name))
            .map_err(|e| write_refusal(&e))?;
        Ok((
            file,
            Staged {
                dir,
                name: name.to_string(),
            },
        ))
    }

    /// The staged bytes of an upload in parts for `name`, for reading (to hash them).
    pub(crate) fn read_part(&self, name: &str) -> Result<File, Refusal> {
        check_name(name).map_err(Refusal::new)?;
        self.in_staging(true, |d| d.open_read(name))
            .map(|(file, _)| file)
            .map_err(|e| write_refusal(&e))
    }

    /// What the folder says about `name` itself (a symlink is not followed).
    pub(crate) fn meta(&self, name: &str) -> Option<sys::Meta> {
        check_name(name).ok()?;
        self.dir().stat(name).ok()
    }

    /// Bytes staged so far for `name` (0 when none).
    pub(crate) fn part_len(&self, name: &str) -> u64 {
        self.part_meta(name).map_or(0, |m| m.len)
    }

    /// Whether an upload in parts for `name` has anything staged (even 0 bytes).
    pub(crate) fn has_part(&self, name: &str) -> bool {
        self.part_meta(name).is_some()
    }

    pub(super) fn part_meta(&self, name: &str) -> Option<sys::Meta> {
        check_name(name).ok()?;
        self.parts()
            .ok()?
            .stat(name)
            .ok()
            .filter(|m| m.kind == Kind::File)
    }

    /// Moves a finished staged file to `name`. Without `replace`, an existing name is left
    /// alone: `link` refuses atomically when the name exists, even if another program
    /// created it a moment ago. With `replace`, `rename` swaps the file in one step.
    pub(crate) fn publish(&self, staged: &Staged, name: &str, replace: bool) -> Result<(), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        let dir = self.dir();
        if replace {
            match dir.stat(name) {
                Ok(m) if m.kind == Kind::Folder => {
                    return Err(Refusal::new(format!("no es un archivo: {name}")))
                }
                Ok(_) => self.check_same_spelling(name)?,
                Err(_) => {}
            }
            return staged.dir.rename(&staged.name, &dir, name).map_err(|e| {
                if sys::replace_blocked_by_open_file(&e) {
                    Refusal::new(format!(
                        "no se pudo reemplazar {name}: está abierto en el servidor (quizás se está descargando); intente de nuevo cuando termine"
                    ))
                } else {
                    write_refusal(&e)
                }
            });
        }
        self.move_new(&staged.dir, &staged.name, &dir, name, false)
    }

    /// Deletes a served file (a symlink: only the link).
    pub(crate) fn remove(&self, name: &str) -> Result<(), Refusal> {
        check_name(name).map_err(Refusal::new)?;
        if !self.is_served_file(name) {
            return Err(Refusal::new(format!("no existe el archivo: {name}")));
        }
        self.dir().remove_file(name).map_err(|e| write_refusal(&e))
    }

    /// Renames a served file, never over an existing name.
    pub(crate) fn rename(&self, from: &str, to: &str) -> Result<(), Refusal> {
        check_name(from).map_err(Refusal::new)?;
        check_name(to).map_err(Refusal::new)?;
        if !self.is_served_file(from) {
            return Err(Refusal::new(format!("no existe el archivo: {from}")));
        }
        if from == to {
            return Ok(());
        }
        let dir = self.dir();
        self.move_new(&dir, from, &dir, to, true)
    }

    /// Moves `from` to `to`, never over an existing name. link + unlink where hard links
    /// exist: link fails if `to` exists, so nothing is ever overwritten, and no moment
    /// exists where the file has no name at all. Where they do not (FAT, exFAT), a
    /// no-overwrite rename does the same in one step.
    ///
    /// `old_name_matters`: a rename that leaves the old name behind failed (the client
    /// would see two files); a staged file left behind is only a leftover for clean-up.
    pub(super) fn move_new(
        &self,
        from_dir: &Dir,
        from: &str,
        to_dir: &Dir,
        to: &str,
        old_name_matters: bool,
    ) -> Result<(), Refusal> {
        if self.hard_links.get() {
            match from_dir.link(from, to_dir, to) {
                Ok(()) => {
                    return match from_dir.remove_file(from) {
                        Err(e) if old_name_matters => Err(write_refusal(&e)),
                        Err(e) => {
                            log::warn!(
                                "se publicó {to:?} pero no se pudo borrar su archivo temporal: {}",
                                crate::spanish::io_error(&e)
                            );
                            Ok(())
                        }
                        Ok(()) => Ok(()),
                    };
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists(to)),
                Err(e) if sys::links_unsupported(&e) => {
                    log::info!("no hard links on this filesystem ({e}); using no-overwrite renames");
                    self.hard_links.set(false);
                }
                Err(e) => return Err(write_refusal(&e)),
            }
        }
        match from_dir.rename_noreplace(from, to_dir, to) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(exists(to)),
            Err(e) => Err(write_refusal(&e)),
        }
    }

    /// On a case-insensitive filesystem, `name` may reach a file stored under another
    /// spelling (`Poema.txt` for `poema.txt`). Replacing that one would overwrite a file
    /// the client did not name: refused.
    pub(super) fn check_same_spelling(&self, name: &str) -> Result<(), Refusal> {
        if !self.case_insensitive.get() {
            return Ok(());
        }
        let mut stored = Vec::new();
        let _ = self.dir().for_each(|n, _| {
            if n == name || n.to_lowercase() == name.to_lowercase() {
                stored.push(n.to_string());
            }
        });
        match other_spelling(name, &stored) {
            Some(other) => Err(Refusal::new(format!(
                "ya existe un archivo llamado {other}: en el disco del servidor {name} es el mismo nombre (no distingue mayúsculas)"
            ))),
            None => Ok(()),
        }
    }

    /// Test hook: behave as on a filesystem without hard links (FAT, exFAT).
    #[doc(hidden)]
    #[cfg(test)]
    pub(crate) fn assume_no_hard_links(&self) {
        self.hard_links.set(false);
    }
}

/// Opens the plain folder `name` in `parent`, creating it (private) if it is missing.
pub(super) fn open_or_create(parent: &Dir, name: &str) -> io::Result<Dir> {
    match parent.open_folder(name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            match parent.create_folder(name) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
            parent.open_folder(name)
        }
        other => other,
    }
}

/// Among the names stored in the folder that a case-insensitive filesystem takes as
/// `name`, one spelled differently, if `name` itself is not stored.
pub(super) fn other_spelling(name: &str, stored: &[String]) -> Option<String> {
    if stored.iter().any(|s| s == name) {
        return None;
    }
    stored
        .iter()
        .find(|s| s.to_lowercase() == name.to_lowercase())
        .cloned()
}

/// The error for a name that is already used.
pub(crate) fn exists(name: &str) -> Refusal {
    Refusal::new(format!("ya existe un archivo llamado {name}"))
}

/// A failed write, explained to the client without leaking paths.
pub(crate) fn write_refusal(e: &io::Error) -> Refusal {
    Refusal::new(match sys::fault(e) {
        Fault::DiskFull => "no hay espacio en el disco del servidor",
        Fault::ReadOnly => "el disco del servidor es de solo lectura",
        Fault::Denied => "el servidor no tiene permiso para escribir ahí",
        Fault::OutOfDescriptors => "servidor ocupado, intente de nuevo",
        Fault::IsFolder => "el nombre es una carpeta",
        Fault::InUse => "otro programa del servidor tiene abierto ese archivo; intente más tarde",
        Fault::OutOfMemory | Fault::Other => "no se pudo escribir en el disco del servidor",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A staged file is removed through the staging folder's handle, even after the served
    /// folder was renamed away: no path is walked again.
    #[cfg(unix)] // Windows works by path (src/sys/windows.rs says why)
    #[test]
    fn staged_files_are_reached_through_the_handle() {
        let dir = std::env::temp_dir().join(format!("almacen-handle-{}", std::process::id()));
        let moved = dir.with_extension("movida");
        let _ = (std::fs::remove_dir_all(&dir), std::fs::remove_dir_all(&moved));
        std::fs::create_dir_all(&dir).unwrap();
        let storage = Storage::open(&dir).unwrap();
        let (_, staged) = storage.temp_file().unwrap();
        std::fs::rename(&dir, &moved).unwrap();
        let path = moved.join(STAGING).join(staged.name());
        assert!(path.exists());
        staged.remove().unwrap();
        assert!(!path.exists());
        std::fs::remove_dir_all(&moved).unwrap();
    }

    /// Another spelling of a stored name is found only when the exact name is not stored.
    #[test]
    fn another_spelling_is_found_only_without_the_exact_name() {
        let stored = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
        assert_eq!(
            other_spelling("poema.txt", &stored(&["Poema.txt"])).as_deref(),
            Some("Poema.txt")
        );
        assert_eq!(
            other_spelling("POEMA.TXT", &stored(&["poema.txt"])).as_deref(),
            Some("poema.txt")
        );
        assert_eq!(
            other_spelling("poema.txt", &stored(&["poema.txt", "Poema.txt"])),
            None
        );
        assert_eq!(
            other_spelling("canción.txt", &stored(&["CANCIÓN.TXT"])).as_deref(),
            Some("CANCIÓN.TXT")
        );
        assert_eq!(other_spelling("nuevo.txt", &stored(&[])), None);
    }

    fn scratch(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("almacen-storage-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// Without hard links (FAT, exFAT), publishing and renaming fall back to a no-overwrite
    /// move: a new name appears whole, and a taken one is never overwritten.
    #[test]
    fn without_hard_links_moves_still_never_overwrite() {
        use std::io::Write;
        let dir = scratch("nolinks");
        fs::write(dir.join("tomado.txt"), b"original").unwrap();
        let storage = Storage::open(&dir).unwrap();
        storage.assume_no_hard_links();
        let (mut f, staged) = storage.temp_file().unwrap();
        f.write_all(b"nuevo").unwrap();
        drop(f); // Windows removes no folder with a file open in it
        let refused = storage.publish(&staged, "tomado.txt", false).unwrap_err();
        assert!(refused.mensaje.contains("ya existe"), "{}", refused.mensaje);
        assert_eq!(fs::read(dir.join("tomado.txt")).unwrap(), b"original");
        storage.publish(&staged, "libre.txt", false).unwrap();
        assert_eq!(fs::read(dir.join("libre.txt")).unwrap(), b"nuevo");
        assert!(storage.rename("libre.txt", "tomado.txt").is_err());
        storage.rename("libre.txt", "otro.txt").unwrap();
        assert_eq!(storage.list().unwrap().names, ["otro.txt", "tomado.txt"]);
        fs::remove_dir_all(&dir).unwrap();
    }
}
