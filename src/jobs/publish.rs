//! Publishing that survives a power cut: a staged file's bytes reach the disk before its
//! name appears in the folder, and the name reaches the disk before the client hears "ok".
//!
//! [`Publish`] waits for the file's flush, then links the file into the folder (one
//! atomic step, as always), then hands over to [`Settle`], which waits for the folder's
//! flush and gives the reply. `borrar` and `renombrar` use `Settle` alone: their change is
//! a name, made at once, and only the folder needs the disk's word. Both wait without
//! taking turns: [`Job::waiting`] tells the loop there is nothing to do until the
//! flusher thread answers.

use super::{Env, Job, Step};
use crate::flusher::Ticket;
use crate::pickle::Data;
use crate::storage::{self, Refusal, Staged, Storage};
use std::fs::File;
use std::time::Instant;

/// A finished staged file, waiting for the disk before it is published as `target`.
pub struct Publish {
    staged: Option<Staged>,
    target: String,
    replace: bool,
    flushing: Ticket,
    /// The reply, once the write is on the disk.
    reply: Option<Data>,
    /// Whether the staged file stays when the write is abandoned (an upload in parts can
    /// be resumed; a whole upload or a copy cannot).
    keep_staged: bool,
    /// The INFO line for the log, once stored.
    note: String,
}

impl Publish {
    /// Starts flushing `file` (the staged file, still open) and will publish `staged` as
    /// `target` (over an existing file only with `replace`), then reply `reply`.
    pub fn new(
        storage: &Storage,
        file: &File,
        staged: Staged,
        target: &str,
        replace: bool,
        reply: Data,
    ) -> Publish {
        Publish {
            flushing: storage.flush_file(file),
            staged: Some(staged),
            target: target.to_string(),
            replace,
            reply: Some(reply),
            keep_staged: false,
            note: format!("stored {target:?}"),
        }
    }

    /// Leaves the staged file in place if this write is abandoned or refused.
    pub fn keeping_staged(mut self) -> Publish {
        self.keep_staged = true;
        self
    }

    /// What the log says once the write is on the disk.
    pub fn noting(mut self, note: String) -> Publish {
        self.note = note;
        self
    }

    fn discard(&mut self) {
        if let Some(staged) = self.staged.take() {
            if !self.keep_staged {
                staged.discard();
            }
        }
    }
}

impl Job for Publish {
    fn step(&mut self, env: &mut Env<'_>, _deadline: Instant) -> Option<Step> {
        let flushed = self.flushing.take()?;
        let Some(staged) = self.staged.as_ref() else {
            // Only a cancelled job has no staged file, and those are not stepped.
            return Some(Step::Done(Err(Refusal::new("la escritura se canceló"))));
        };
        let published = flushed
            .map_err(|e| storage::write_refusal(&e))
            .and_then(|()| env.storage.publish(staged, &self.target, self.replace));
        if let Err(refusal) = published {
            self.discard();
            return Some(Step::Done(Err(refusal)));
        }
        self.staged = None; // published: nothing left to discard
        let reply = self.reply.take().unwrap_or(Data::None);
        let settle = Settle::new(env.storage, reply, Some(self.target.clone()));
        Some(Step::Next(Box::new(
            settle.noting(std::mem::take(&mut self.note)),
        )))
    }

    fn waiting(&self) -> bool {
        !self.flushing.is_done()
    }

    fn cancel(&mut self) {
        self.discard();
    }

    fn holds(&self) -> Option<&str> {
        Some(&self.target)
    }

    fn progress(&self) -> u64 {
        0
    }
}

/// A change already made in the folder, waiting for the folder's flush to reply.
pub struct Settle {
    flushing: Ticket,
    reply: Option<Data>,
    /// The name it keeps others off until the change is on the disk.
    name: Option<String>,
    note: Option<String>,
}

impl Settle {
    /// Starts flushing the served folder; `reply` goes out when the disk has its names.
    pub fn new(storage: &Storage, reply: Data, holds: Option<String>) -> Settle {
        Settle {
            flushing: storage.flush_folder(),
            reply: Some(reply),
            name: holds,
            note: None,
        }
    }

    /// What the log says once the change is on the disk.
    pub fn noting(mut self, note: String) -> Settle {
        self.note = Some(note);
        self
    }
}

impl Job for Settle {
    fn step(&mut self, _env: &mut Env<'_>, _deadline: Instant) -> Option<Step> {
        let flushed = self.flushing.take()?;
        Some(Step::Done(match flushed {
            Ok(()) => {
                if let Some(note) = &self.note {
                    log::info!("{note} (on disk)");
                }
                Ok(self.reply.take().unwrap_or(Data::None))
            }
            Err(e) => {
                log::warn!(
                    "el disco no confirmó un cambio en la carpeta: {}",
                    crate::spanish::io_error(&e)
                );
                Err(Refusal::new(format!(
                    "el cambio se hizo, pero el disco no confirmó que quedó guardado ({}); \
                     revise la carpeta antes de seguir",
                    crate::spanish::io_error(&e)
                )))
            }
        }))
    }

    fn waiting(&self) -> bool {
        !self.flushing.is_done()
    }

    /// The change is made already; only the reply is dropped.
    fn cancel(&mut self) {}

    /// The change is visible already: saying it failed would be false.
    fn abandoned(&self, _why: &str) -> Refusal {
        Refusal::new(
            "el cambio se hizo, pero el servidor se cerró antes de que el disco confirmara que quedó guardado",
        )
    }

    fn holds(&self) -> Option<&str> {
        self.name.as_deref()
    }

    fn progress(&self) -> u64 {
        0
    }
}
