//! Long work, done a slice at a time between events.
//!
//! This server has one thread. A request whose work takes seconds (copying 4 GiB) cannot
//! be done inside its turn: every other client would freeze. So such work becomes a job.
//! The operation submits it and answers [`Outcome::Later`](crate::reply::Outcome); the
//! loop then calls [`Jobs::step`] once per turn, which advances one job for about a
//! millisecond, and when a job ends its reply is queued like any other.
//!
//! Some jobs do no work of their own for a while: they wait for the disk to confirm a
//! write ([`Publish`], [`Settle`], [`StorePiece`]). Such a job says it is [`Job::waiting`]; it gets no
//! turn then, and while every job waits the loop may sleep in `poll`.

mod copy;
mod delay;
mod piece;
mod publish;
mod verify;

pub use copy::FileCopy;
pub use delay::Delay;
pub use piece::StorePiece;
pub use publish::{Publish, Settle};
pub use verify::{Summary, Then, Verify};

use crate::digest;
use crate::pickle::Data;
use crate::protocol::ReplyTo;
use crate::storage::{Refusal, Storage};
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// How long one turn of the loop may spend on a job. Small enough that accepts and small
/// replies keep a p99 of a few milliseconds while a large copy runs.
pub const SLICE_TIME: Duration = Duration::from_millis(1);

/// What jobs may touch besides their own files.
pub struct Env<'a> {
    pub storage: &'a Storage,
    /// Digests of files already hashed, by file identity, size and time.
    pub digests: &'a mut digest::Cache,
}

/// How a job's slice ended.
pub enum Step {
    /// The reply's data, or why it failed.
    Done(Result<Data, Refusal>),
    /// This part is done, and another job goes on for the same requester (a check
    /// first, then the work it allows).
    Next(Box<dyn Job>),
}

/// A piece of long work.
pub trait Job {
    /// Works until `deadline` (or the end). `None` while more remains.
    fn step(&mut self, env: &mut Env<'_>, deadline: Instant) -> Option<Step>;
    /// Abandons the job: nothing is published, staged bytes are removed.
    fn cancel(&mut self);
    /// The name this job holds while it runs (released when it ends), if any.
    fn holds(&self) -> Option<&str>;
    /// Bytes done so far (the tests watch jobs take turns through it).
    #[cfg_attr(not(test), allow(dead_code))]
    fn progress(&self) -> u64;
    /// True while the job waits for something outside the loop (the flusher thread):
    /// a turn would find nothing to do.
    fn waiting(&self) -> bool {
        false
    }
    /// When a job that is [`Job::waiting`] for the clock (not for the disk) can go on:
    /// the loop wakes by then.
    fn wake_at(&self) -> Option<Instant> {
        None
    }
    /// What the requester hears when the server closes before the job ends: `why` for
    /// work that leaves nothing behind.
    fn abandoned(&self, why: &str) -> Refusal {
        Refusal::new(why)
    }
}

/// Where a job's reply goes.
#[derive(Debug, Clone)]
pub struct Requester {
    pub key: usize,
    pub id: u64,
    pub to: ReplyTo,
    pub op: &'static str,
}

/// A job that ended, with its requester.
pub struct Ended {
    pub to: Requester,
    pub result: Result<Data, Refusal>,
    /// The name it held, now free.
    pub held: Option<String>,
}

struct Pending {
    job: Box<dyn Job>,
    to: Requester,
}

/// Jobs in progress, advanced in turn.
#[derive(Default)]
pub struct Jobs {
    queue: VecDeque<Pending>,
}

impl Jobs {
    pub fn submit(&mut self, job: Box<dyn Job>, to: Requester) {
        self.queue.push_back(Pending { job, to });
    }

    /// True when no job is in progress.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// True when every job in progress waits for the disk: no turn would do anything.
    pub fn all_waiting(&self) -> bool {
        self.queue.iter().all(|p| p.job.waiting())
    }

    /// Advances the job whose turn it is, for up to [`SLICE_TIME`]. One job per turn,
    /// however many are running, so they share the time fairly and never starve the
    /// clients; jobs that wait for the disk are passed over. Returns the job if it ended.
    pub fn step(&mut self, env: &mut Env<'_>) -> Option<Ended> {
        let next = self.queue.iter().position(|p| !p.job.waiting())?;
        let mut p = self.queue.remove(next)?;
        match p.job.step(env, Instant::now() + SLICE_TIME) {
            None => {
                self.queue.push_back(p);
                None
            }
            Some(Step::Next(job)) => {
                self.queue.push_back(Pending { job, to: p.to });
                None
            }
            Some(Step::Done(result)) => Some(Ended {
                held: p.job.holds().map(str::to_string),
                to: p.to,
                result,
            }),
        }
    }

    /// Runs `job` to its end at once (small work, answered inside its request). A job
    /// that waits for the disk would make this spin until the disk answers: the server
    /// never runs one so (unit tests do, where spinning is harmless).
    pub fn run_now(mut job: Box<dyn Job>, env: &mut Env<'_>) -> Result<Data, Refusal> {
        loop {
            match job.step(env, Instant::now() + SLICE_TIME) {
                None => {}
                Some(Step::Next(next)) => job = next,
                Some(Step::Done(result)) => return result,
            }
        }
    }

    /// Drops the jobs of a connection that left (their staged bytes go with them).
    pub fn cancel_owner(&mut self, id: u64) -> Vec<String> {
        let mut freed = Vec::new();
        self.queue.retain_mut(|p| {
            if p.to.id != id {
                return true;
            }
            p.job.cancel();
            freed.extend(p.job.holds().map(str::to_string));
            false
        });
        freed
    }

    /// Abandons every job (the server is closing); each requester gets `why`.
    pub fn cancel_all(&mut self, why: &str) -> Vec<Ended> {
        self.queue
            .drain(..)
            .map(|mut p| {
                p.job.cancel();
                Ended {
                    held: p.job.holds().map(str::to_string),
                    to: p.to,
                    result: Err(p.job.abandoned(why)),
                }
            })
            .collect()
    }

    /// The earliest moment a job waits for (see [`Job::wake_at`]).
    pub fn next_wake(&self) -> Option<Instant> {
        self.queue.iter().filter_map(|p| p.job.wake_at()).min()
    }

    /// Progress of each job, in queue order.
    #[cfg(test)]
    pub fn progress(&self) -> Vec<u64> {
        self.queue.iter().map(|p| p.job.progress()).collect()
    }
}
