//! A piece of an upload in parts, written to its staged file and waiting for the disk
//! before its "ok": that reply says how many bytes the server holds, and a client resumes
//! from that figure, so a power cut must not take any of them back.
//!
//! Like [`super::Publish`], it waits without taking turns ([`Job::waiting`]). It waits on
//! the file's flush and, for the piece that made the file, on its folder's flush too (a
//! new name is stored by its folder, not by the file). The two can go together: neither
//! means anything to a client before both are done.

use super::{Env, Job, Step};
use crate::flusher::Ticket;
use crate::pickle::Data;
use crate::storage::{self, Refusal, Staged, Storage};
use std::fs::File;
use std::time::Instant;

pub struct StorePiece {
    flushing: Vec<Ticket>,
    /// The staged file, to cut back to `from` if the disk refuses: the staged size then
    /// stays what the client was last told, and a retry of this piece fits.
    part: File,
    from: u64,
    /// Where this piece ended: the staged size it left.
    end: u64,
    /// The reply, once the piece is on the disk.
    reply: Option<Data>,
}

impl StorePiece {
    /// Starts flushing `part` (the staged file `staged`, just written from `from` on) and,
    /// when the piece began the file (`from` 0), the folder that holds its name.
    pub fn new(
        storage: &Storage,
        part: File,
        staged: &Staged,
        from: u64,
        end: u64,
        reply: Data,
    ) -> StorePiece {
        let mut flushing = vec![storage.flush_file(&part)];
        if from == 0 {
            flushing.push(storage.flush_staged_folder(staged));
        }
        StorePiece {
            flushing,
            part,
            from,
            end,
            reply: Some(reply),
        }
    }
}

impl Job for StorePiece {
    fn step(&mut self, _env: &mut Env<'_>, _deadline: Instant) -> Option<Step> {
        if self.waiting() {
            return None;
        }
        let failed = self
            .flushing
            .iter_mut()
            .filter_map(Ticket::take)
            .find_map(Result::err);
        Some(Step::Done(match failed {
            None => Ok(self.reply.take().unwrap_or(Data::None)),
            Some(e) => {
                // Cut back only what this piece wrote: if the flush took so long that
                // another client took the name over and wrote on, its bytes stay.
                if self.part.metadata().is_ok_and(|m| m.len() == self.end) {
                    let _ = self.part.set_len(self.from);
                }
                Err(storage::write_refusal(&e))
            }
        }))
    }

    fn waiting(&self) -> bool {
        self.flushing.iter().any(|t| !t.is_done())
    }

    /// The bytes stay staged: asking without `contenido` tells how many there are.
    fn cancel(&mut self) {}

    fn abandoned(&self, _why: &str) -> Refusal {
        Refusal::new(
            "el servidor se cerró antes de que el disco confirmara esta parte; pregunte \
             cuántos bytes tiene (subir_parte sin contenido) y siga desde ahí",
        )
    }

    fn holds(&self) -> Option<&str> {
        None
    }

    fn progress(&self) -> u64 {
        0
    }
}
