//! A file copied under a new name, a slice at a time (the job behind `duplicar`).
//!
//! The kernel moves the bytes (`copy_file_range`, which on filesystems that can share
//! blocks does not even copy them); plain reads and writes are the fallback. The copy is
//! written to staging and published atomically like an upload, and only if the source
//! is still the version we started from: a copy of a file that changed under us would
//! match neither version, and we would be publishing a lie. Like an upload, it is
//! published once its bytes are on the disk, and answered once its name is
//! ([`Publish`]).

use super::{Env, Job, Publish, Step};
use crate::pickle::Data;
use crate::storage::{self, Refusal, Staged, Storage};
use crate::sys::{self, FileId};
use std::fs::{File, Metadata};
use std::io;
use std::time::{Instant, SystemTime};

/// Bytes moved per system call; the deadline is checked between them.
const STEP: u64 = 256 * 1024;

/// What identifies one version of a file, as far as we can tell from outside.
///
/// Size and mtime alone are not enough: a program that rewrites a file in place and
/// puts its mtime back (`rsync --inplace -t`, `touch -r`) leaves both as they were.
/// The inode's change time (ctime) cannot be set back by any program, so where the OS
/// gives us one ([`sys::identity`], the same the digest cache trusts) it is part of
/// the version too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Version {
    len: u64,
    modified: Option<SystemTime>,
    /// Device, inode and ctime; `None` where the OS cannot say (Windows).
    identity: Option<[i64; 4]>,
}

impl Version {
    fn of(meta: &Metadata) -> Version {
        Version {
            len: meta.len(),
            modified: meta.modified().ok(),
            identity: sys::identity(meta),
        }
    }
}

/// A copy in progress.
pub struct FileCopy {
    source: String,
    src: File,
    dst: File,
    /// The staged file, until it is published or removed.
    tmp: Option<Staged>,
    target: String,
    done: u64,
    /// The source as it was when the copy started: the file we read, and which file
    /// its name named (its inode, where the OS has one).
    version: Version,
    named: Option<FileId>,
    /// Still trying the kernel's own copy (false once it said it cannot here).
    kernel: bool,
}

impl FileCopy {
    /// Starts copying `source` (already open as `src`) to a staged file that will be
    /// published as `target`.
    pub fn start(storage: &Storage, source: &str, src: File, target: &str) -> Result<FileCopy, Refusal> {
        let meta = src.metadata().map_err(|e| storage::write_refusal(&e))?;
        let (dst, tmp) = storage.temp_file()?;
        Ok(FileCopy {
            source: source.to_string(),
            src,
            dst,
            tmp: Some(tmp),
            target: target.to_string(),
            done: 0,
            version: Version::of(&meta),
            named: storage.meta(source).map(|m| m.id),
            kernel: true,
        })
    }

    /// Bytes to copy in all.
    pub fn size(&self) -> u64 {
        self.version.len
    }

    fn copy_slice(&mut self, want: u64) -> io::Result<u64> {
        sys::copy_slice(&self.src, &self.dst, self.done, want, &mut self.kernel)
    }

    /// True when the source is still the version the copy started from, both the file
    /// we read (it may have been truncated or rewritten) and the file its name now
    /// names (it may have been replaced).
    fn source_unchanged(&self, storage: &Storage) -> bool {
        let read = self.src.metadata().map(|m| Version::of(&m));
        let named = storage
            .open_file(&self.source)
            .map(|(f, _)| f.metadata().map(|m| Version::of(&m)));
        // The same name may now name another file of the same size and time (`cp -p`).
        let same_file = storage.meta(&self.source).map(|m| m.id) == self.named;
        matches!(read, Ok(v) if v == self.version)
            && matches!(named, Ok(Ok(v)) if v == self.version)
            && same_file
    }

    /// The copy is complete: it goes on to the disk and into the folder if the source is
    /// still what was copied.
    fn finish(&mut self, storage: &Storage) -> Step {
        let Some(tmp) = self.tmp.take() else {
            return Step::Done(Err(Refusal::new("copia cancelada")));
        };
        let complete = self.done == self.version.len;
        if !complete || !self.source_unchanged(storage) {
            log::info!(
                "copy of {:?} to {:?} abandoned: the source changed while it was copied",
                self.source,
                self.target
            );
            let _ = tmp.remove();
            return Step::Done(Err(Refusal::new(format!(
                "{} cambió mientras se copiaba; no se publicó la copia, intente de nuevo",
                self.source
            ))));
        }
        let reply = Data::dict([("nombre", Data::str(self.target.as_str()))]);
        let publish = Publish::new(storage, &self.dst, tmp, &self.target, false, reply);
        Step::Next(Box::new(
            publish.noting(format!("copied {} bytes to {:?}", self.done, self.target)),
        ))
    }
}

impl Job for FileCopy {
    fn step(&mut self, env: &mut Env<'_>, deadline: Instant) -> Option<Step> {
        self.advance(env.storage, deadline)
    }

    fn cancel(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = tmp.remove();
        }
    }

    fn holds(&self) -> Option<&str> {
        Some(&self.target)
    }

    fn progress(&self) -> u64 {
        self.done
    }
}

impl FileCopy {
    fn advance(&mut self, storage: &Storage, deadline: Instant) -> Option<Step> {
        loop {
            let want = (self.version.len - self.done).min(STEP);
            let moved = if want == 0 { Ok(0) } else { self.copy_slice(want) };
            match moved {
                // Done, or the source ended early (it shrank): publish checks which.
                Ok(0) => return Some(self.finish(storage)),
                Ok(n) => self.done += n,
                Err(e) => {
                    log::warn!(
                        "no se pudo copiar a {:?}: {}",
                        self.target,
                        crate::spanish::io_error(&e)
                    );
                    self.cancel();
                    return Some(Step::Done(Err(storage::write_refusal(&e))));
                }
            }
            if self.done >= self.version.len {
                return Some(self.finish(storage));
            }
            if Instant::now() >= deadline {
                return None;
            }
        }
    }
}

impl Drop for FileCopy {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use std::time::Duration;

    fn folder(tag: &str) -> (PathBuf, Storage) {
        let root = std::env::temp_dir().join(format!("almacen-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let storage = Storage::open(&root).unwrap();
        storage.prepare_staging(Duration::from_secs(60)).unwrap();
        (root, storage)
    }

    /// Runs what follows a finished copy (the disk's word, the publishing) to its end.
    fn settle(step: Step, storage: &Storage) -> Result<Data, Refusal> {
        let mut digests = crate::digest::Cache::default();
        let mut env = Env {
            storage,
            digests: &mut digests,
        };
        match step {
            Step::Done(result) => result,
            Step::Next(job) => super::super::Jobs::run_now(job, &mut env),
        }
    }

    /// A copy bigger than one turn's work takes several steps, and its name appears
    /// only at the end.
    #[test]
    fn big_copy_advances_in_steps_and_publishes_at_the_end() {
        let (root, storage) = folder("dup");
        let len = 3 * STEP + 5;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("a.bin"), &data).unwrap();
        let (src, _) = storage.open_file("a.bin").unwrap();
        let mut copy = FileCopy::start(&storage, "a.bin", src, "b.bin").unwrap();
        let mut steps = 1;
        // A deadline already past: one system call's worth per step.
        let last = loop {
            if let Some(step) = copy.advance(&storage, Instant::now()) {
                break step;
            }
            assert!(!root.join("b.bin").exists(), "not visible before the last step");
            steps += 1;
        };
        assert_eq!(steps, 4);
        assert!(
            !root.join("b.bin").exists(),
            "not visible before it is on the disk"
        );
        settle(last, &storage).unwrap();
        assert!(std::fs::read(root.join("b.bin")).unwrap() == data);
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A source rewritten in place mid-copy, same size and its mtime put back (as
    /// `rsync --inplace -t` does), is not published: the copy would be old head, new tail.
    /// Unix only: Windows gives no ctime through std, so there the copy still trusts
    /// size and mtime (see docs/security.md).
    #[test]
    #[cfg(unix)]
    fn source_rewritten_in_place_mid_copy_publishes_nothing() {
        use std::io::{Seek, SeekFrom, Write};
        let (root, storage) = folder("dup-inplace");
        let path = root.join("a.bin");
        std::fs::write(&path, vec![1u8; (3 * STEP) as usize]).unwrap();
        let (src, _) = storage.open_file("a.bin").unwrap();
        let before = std::fs::metadata(&path).unwrap();
        let mut copy = FileCopy::start(&storage, "a.bin", src, "b.bin").unwrap();
        assert!(copy.advance(&storage, Instant::now()).is_none());
        // Rewrite the head and the tail, keep the size, put the mtime back. The kernel's
        // clock for inode times is coarse, so repeat until the ctime shows the change
        // (the only thing a rewriter cannot put back).
        loop {
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all(&[2u8; 8]).unwrap();
            f.seek(SeekFrom::End(-8)).unwrap();
            f.write_all(&[2u8; 8]).unwrap();
            f.set_modified(before.modified().unwrap()).unwrap();
            drop(f);
            let now = std::fs::metadata(&path).unwrap();
            assert_eq!(now.len(), before.len());
            assert_eq!(now.modified().unwrap(), before.modified().unwrap());
            if sys::identity(&now) != sys::identity(&before) {
                break;
            }
        }
        let result = loop {
            if let Some(r) = copy.advance(&storage, Instant::now()) {
                break r;
            }
        };
        let refusal = settle(result, &storage).unwrap_err();
        assert!(refusal.mensaje.contains("cambió"), "{}", refusal.mensaje);
        assert!(!root.join("b.bin").exists(), "no copy matching no version");
        std::fs::remove_dir_all(&root).unwrap();
    }

    /// A source truncated in the middle of a copy is not published: the reply says so
    /// and no name appears.
    #[test]
    fn source_truncated_mid_copy_publishes_nothing() {
        let (root, storage) = folder("dup-lie");
        std::fs::write(root.join("a.bin"), vec![7u8; (3 * STEP) as usize]).unwrap();
        let (src, _) = storage.open_file("a.bin").unwrap();
        let mut copy = FileCopy::start(&storage, "a.bin", src, "b.bin").unwrap();
        assert!(copy.advance(&storage, Instant::now()).is_none());
        std::fs::OpenOptions::new()
            .write(true)
            .open(root.join("a.bin"))
            .unwrap()
            .set_len(STEP + 10)
            .unwrap();
        let result = loop {
            if let Some(r) = copy.advance(&storage, Instant::now()) {
                break r;
            }
        };
        let refusal = settle(result, &storage).unwrap_err();
        assert!(refusal.mensaje.contains("cambió"), "{}", refusal.mensaje);
        assert!(!root.join("b.bin").exists());
        let staged = std::fs::read_dir(root.join(storage::STAGING)).unwrap().flatten();
        assert!(
            staged
                .filter(|e| e.file_name().to_string_lossy().starts_with("tmp-"))
                .count()
                == 0,
            "staged bytes removed"
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
