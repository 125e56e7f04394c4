//! Server-wide state that the operations share, and what they leave for the loop.
//!
//! Operations never touch sockets. What they do to other connections (a pushed file, a
//! message) and the replies that jobs finish later wait here until the loop collects
//! them with [`Context::take_deliveries`], after the turn.

use crate::copy_name::CopyHints;
use crate::digest;
use crate::jobs::{Delay, Ended, Env, Job, Jobs, Requester};
use crate::listing::Listing;
use crate::locks::NameLocks;
use crate::message::Memo;
use crate::outbox::Chunk;
use crate::peers::{Peers, Push};
use crate::protocol::{Limits, ReplyTo};
use crate::reply::{Caller, Outcome};
use crate::storage::{Refusal, Storage};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct Context {
    pub storage: Storage,
    /// What a request may be, in either protocol (the largest frame, the pre-scan's
    /// limits); `hola`'s reply tells clients.
    pub limits: Limits,
    /// Refuse every operation that writes.
    pub read_only: bool,
    /// With a key set, writes must carry it as `"clave"`.
    pub clave: Option<String>,
    /// The last `listar` reply, reused until the folder changes.
    pub listing: Listing,
    /// Small requests already decoded, by their exact bytes.
    pub memo: Memo,
    /// Who is connected, and who subscribed.
    pub peers: Peers,
    /// Names being written by someone (an upload in parts, a copy).
    pub locks: NameLocks,
    /// Long work in progress.
    pub jobs: Jobs,
    /// Where `duplicar` last left off naming copies of each file.
    pub copy_hints: CopyHints,
    /// SHA-256 digests already computed, by file identity, size and time.
    pub digests: digest::Cache,
    /// Frames for other connections, for the loop to queue after this turn.
    pushes: Vec<Push>,
    /// Jobs that ended, whose replies the loop delivers.
    ended: Vec<Ended>,
    /// Whole uploads waiting for another writer of their name to finish, in arrival order.
    queued: Vec<Queued>,
    /// Wrong write keys given so far, by connection (see [`Context::wrong_key`]).
    wrong_keys: HashMap<u64, u32>,
}

/// How long the first wrong key's refusal is held back; each next one waits twice as
/// long, up to [`WRONG_KEY_DELAY_MAX`].
pub const WRONG_KEY_DELAY: Duration = Duration::from_millis(250);
pub const WRONG_KEY_DELAY_MAX: Duration = Duration::from_secs(2);
/// Wrong keys a connection may give; the last refusal closes it. Five refusals take
/// 250 + 500 + 1000 + 2000 + 2000 ms: under one guess a second per connection.
pub const WRONG_KEYS_MAX: u32 = 5;

/// A `subir` whose bytes are staged, waiting for the name to be free before it may
/// publish: then its own rule applies (`reemplazar` false: the name must still be free).
struct Queued {
    name: String,
    replace: bool,
    job: Box<dyn Job>,
    to: Requester,
}

/// Chunks for one connection, queued whole after whatever it already has.
pub struct Delivery {
    pub key: usize,
    /// The connection's id: a recipient that left and whose slot was reused is skipped.
    pub id: u64,
    pub chunks: Vec<Chunk>,
    /// This is the reply a `Later` promised: the connection may read requests again.
    pub resumes: bool,
    /// After this, the connection reads no more requests and closes once its replies
    /// are out (it gave too many wrong keys).
    pub closes: bool,
}

impl Context {
    pub fn new(storage: Storage, max_frame: usize) -> Context {
        Context {
            storage,
            limits: Limits::new(max_frame),
            read_only: false,
            clave: None,
            listing: Listing::default(),
            memo: Memo::default(),
            peers: Peers::default(),
            locks: NameLocks::default(),
            jobs: Jobs::default(),
            copy_hints: CopyHints::default(),
            digests: digest::Cache::default(),
            pushes: Vec::new(),
            ended: Vec::new(),
            queued: Vec::new(),
            wrong_keys: HashMap::new(),
        }
    }

    /// A connection left: release what it held (its id, the names it was writing, its
    /// jobs). Staged parts of an upload stay, so it can be resumed.
    pub fn forget(&mut self, id: u64) {
        self.peers.leave(id);
        self.wrong_keys.remove(&id);
        self.locks.release_owner(id);
        for name in self.jobs.cancel_owner(id) {
            // A cancelled copy never appeared: its copy number is free again.
            self.copy_hints.released(&name);
        }
        for mut q in self.queued.extract_if(.., |q| q.to.id == id) {
            q.job.cancel();
        }
        self.start_queued();
    }

    /// Runs `job` (a staged `subir` of `name`) for `caller` once nobody else holds
    /// `name`: two whole uploads of one name publish one after the other, in the order
    /// they arrived, and the later wins (or, without `replace`, hears "ya existe").
    pub fn submit_after(&mut self, name: &str, replace: bool, job: Box<dyn Job>, caller: &Caller) -> Outcome {
        log::debug!("{}: {name:?} waits for another writer to finish", caller.peer);
        self.queued.push(Queued {
            name: name.to_string(),
            replace,
            job,
            to: Requester {
                key: caller.key,
                id: caller.id,
                to: caller.to.clone(),
                op: caller.op,
            },
        });
        Outcome::Later
    }

    /// True when a whole upload of `name` is already waiting its turn.
    pub fn is_queued(&self, name: &str) -> bool {
        self.queued.iter().any(|q| q.name == name)
    }

    /// Starts the first waiting upload of each name that nobody holds any more.
    fn start_queued(&mut self) {
        let mut i = 0;
        while i < self.queued.len() {
            let free = !self.locks.is_held(&self.queued[i].name);
            let first = !self.queued[..i].iter().any(|q| q.name == self.queued[i].name);
            if !(free && first) {
                i += 1;
                continue;
            }
            let mut q = self.queued.remove(i);
            if !q.replace && self.storage.is_taken(&q.name) {
                // The writer before it published the name: its own rule says no.
                q.job.cancel();
                let refusal = super::args::exists_hint(&q.name, &q.to.to);
                self.ended.push(Ended {
                    to: q.to,
                    result: Err(refusal),
                    held: None,
                });
                continue;
            }
            self.locks.hold(&q.name, q.to.id);
            self.jobs.submit(q.job, q.to);
        }
    }

    /// `caller` gave a wrong write key. Guessing must be slow, but only for the guesser:
    /// a penalty per connection, never global, so someone guessing cannot lock out the
    /// holder of the key on another connection. The refusal is held back (never by
    /// sleeping: the reply waits in a [`Delay`] job, and the connection reads no further
    /// request meanwhile, pipelined or not), twice as long each time, and the
    /// [`WRONG_KEYS_MAX`]th closes the connection.
    pub fn wrong_key(&mut self, caller: &Caller) -> Outcome {
        let count = self.wrong_keys.entry(caller.id).or_insert(0);
        *count += 1;
        let n = *count;
        let delay = WRONG_KEY_DELAY
            .saturating_mul(1 << (n - 1).min(16))
            .min(WRONG_KEY_DELAY_MAX);
        let refusal = if n >= WRONG_KEYS_MAX {
            log::warn!(
                "{}: {n} claves incorrectas en una conexión; se cierra",
                caller.peer
            );
            Refusal::new("clave incorrecta; demasiados intentos, se cierra la conexión")
        } else {
            Refusal::new("clave incorrecta")
        };
        log::debug!(
            "{}: wrong key number {n}, answered in {} ms",
            caller.peer,
            delay.as_millis()
        );
        let job = Delay::refusing(Instant::now() + delay, refusal);
        self.submit(Box::new(job), caller)
    }

    /// `id` gave the right key: its earlier mistakes are forgiven.
    pub fn right_key(&mut self, id: u64) {
        self.wrong_keys.remove(&id);
    }

    /// The earliest moment a job waits for: the loop must wake by then.
    pub fn next_wake(&self) -> Option<Instant> {
        self.jobs.next_wake()
    }

    /// Runs `job` for `caller`, between events; its reply is promised.
    pub fn submit(&mut self, job: Box<dyn Job>, caller: &Caller) -> Outcome {
        let to = Requester {
            key: caller.key,
            id: caller.id,
            to: caller.to.clone(),
            op: caller.op,
        };
        self.jobs.submit(job, to);
        Outcome::Later
    }

    /// Runs a small job to its end inside the request.
    pub fn run_now(&mut self, job: Box<dyn Job>) -> Outcome {
        let mut env = Env {
            storage: &self.storage,
            digests: &mut self.digests,
        };
        Outcome::from(Jobs::run_now(job, &mut env))
    }

    /// True while jobs are in progress (running, or waiting for the disk).
    pub fn has_work(&self) -> bool {
        !self.jobs.is_empty()
    }

    /// True when some job can go on now. Jobs that only wait for the disk cannot: the
    /// loop may sleep in `poll` then (the flusher thread wakes it).
    pub fn can_work_now(&self) -> bool {
        !self.jobs.all_waiting()
    }

    /// Replies with `data` once the served folder's names are on the disk (after a
    /// change of names: a deletion or a rename), keeping `holds` off-limits until then.
    pub fn settle(&mut self, data: crate::pickle::Data, holds: &str, caller: &Caller) -> Outcome {
        let job = crate::jobs::Settle::new(&self.storage, data, Some(holds.to_string()));
        self.locks.hold(holds, caller.id);
        self.submit(Box::new(job), caller)
    }

    /// Gives the job whose turn it is its slice of time.
    pub fn work(&mut self) {
        let mut env = Env {
            storage: &self.storage,
            digests: &mut self.digests,
        };
        if let Some(ended) = self.jobs.step(&mut env) {
            self.end_job(ended);
        }
    }

    /// Abandons every job (the server is closing); each requester is told `why`.
    pub fn cancel_jobs(&mut self, why: &str) {
        for mut q in std::mem::take(&mut self.queued) {
            q.job.cancel();
            self.ended.push(Ended {
                result: Err(q.job.abandoned(why)),
                to: q.to,
                held: None,
            });
        }
        for ended in self.jobs.cancel_all(why) {
            self.end_job(ended);
        }
    }

    fn end_job(&mut self, ended: Ended) {
        if let Some(name) = &ended.held {
            self.locks.release(name);
            if ended.result.is_err() {
                // Never published: its copy number is free again.
                self.copy_hints.released(name);
            }
        }
        if ended.result.is_ok() {
            self.changed();
        }
        self.ended.push(ended);
        self.start_queued();
    }

    /// Sends a frame to each subscriber in `to`, built once per class they subscribed
    /// with and shared by all of them: a 64 KiB text to 1,000 subscribers is 64 KiB in
    /// memory, not 64 MB. Every frame is built before any is queued, so an error means
    /// nobody got anything. Returns how many were queued.
    pub fn fan_out(
        &mut self,
        to: Vec<u64>,
        from: SocketAddr,
        what: &str,
        mut build: impl FnMut(&ReplyTo) -> Result<Vec<Chunk>, Refusal>,
    ) -> Result<i64, Refusal> {
        let mut built: Vec<(ReplyTo, Vec<Chunk>)> = Vec::new();
        let mut frames = Vec::new();
        for id in to {
            let Some(env) = self.peers.get(id).and_then(|p| p.subscribed.clone()) else {
                continue;
            };
            let chunks = match built.iter().find(|(e, _)| *e == env) {
                Some((_, chunks)) => chunks.clone(),
                None => {
                    let chunks = build(&env)?;
                    built.push((env, chunks.clone()));
                    chunks
                }
            };
            frames.push((id, chunks));
        }
        Ok(self.push_all(frames, from, what))
    }

    /// Queues whole frames for other connections; returns how many were queued. A
    /// subscriber whose queue is full is skipped (and counted once in the log, not once
    /// per frame).
    fn push_all(&mut self, frames: Vec<(u64, Vec<Chunk>)>, from: SocketAddr, what: &str) -> i64 {
        let (mut queued, mut skipped) = (0, 0);
        for (id, chunks) in frames {
            match self.peers.push_to(id, chunks) {
                Some(push) => {
                    self.pushes.push(push);
                    queued += 1;
                }
                None => skipped += 1,
            }
        }
        if skipped > 0 {
            log::warn!("{from}: {skipped} suscriptores no están leyendo; no se les envió el {what}");
        }
        queued
    }

    /// What the loop must queue on other connections now: pushes first, then the replies
    /// of jobs that ended.
    pub fn take_deliveries(&mut self) -> Vec<Delivery> {
        let mut out: Vec<Delivery> = std::mem::take(&mut self.pushes)
            .into_iter()
            .map(|p| Delivery {
                key: p.key,
                id: p.id,
                chunks: p.chunks,
                resumes: false,
                closes: false,
            })
            .collect();
        for ended in std::mem::take(&mut self.ended) {
            let Requester { key, id, to, op } = ended.to;
            let frame = match ended.result {
                Ok(data) => to.ok(op, &data),
                Err(r) => {
                    log::info!("{op} for client {id} refused: {}", r.mensaje);
                    to.error(op, &r.mensaje)
                }
            };
            log::debug!("{op}: promised reply of {} B ready for client {id}", frame.len());
            out.push(Delivery {
                key,
                id,
                chunks: vec![Chunk::bytes(frame)],
                resumes: true,
                closes: self.wrong_keys.get(&id).is_some_and(|&n| n >= WRONG_KEYS_MAX),
            });
        }
        out
    }

    /// The folder could not be read: says so on the console, and to the client.
    pub fn unreadable_folder(&self, e: &std::io::Error) -> Outcome {
        let why = crate::spanish::io_error(e);
        log::warn!(
            "no se pudo leer la carpeta {}: {why}",
            self.storage.root().display()
        );
        Outcome::refused("no se pudo leer la carpeta")
    }

    /// Marks the folder as changed: a remembered listing is no longer true.
    pub fn changed(&mut self) {
        self.listing.clear();
    }
}
