//! A reply held back until a moment has passed: how a connection that gives wrong write
//! keys is slowed down. The loop has one thread and must never sleep, so the reply
//! waits here as a job that asks for no turn ([`Job::waiting`]) until its time comes,
//! and the loop's poll timeout wakes it then ([`Job::wake_at`]).

use super::{Env, Job, Step};
use crate::storage::Refusal;
use std::time::Instant;

pub struct Delay {
    until: Instant,
    refusal: Option<Refusal>,
}

impl Delay {
    /// Answers `refusal` once `until` has passed.
    pub fn refusing(until: Instant, refusal: Refusal) -> Delay {
        Delay {
            until,
            refusal: Some(refusal),
        }
    }
}

impl Job for Delay {
    fn step(&mut self, _env: &mut Env<'_>, _deadline: Instant) -> Option<Step> {
        if self.waiting() {
            return None;
        }
        let refusal = self
            .refusal
            .take()
            .unwrap_or_else(|| Refusal::new("clave incorrecta"));
        Some(Step::Done(Err(refusal)))
    }

    fn waiting(&self) -> bool {
        Instant::now() < self.until
    }

    fn wake_at(&self) -> Option<Instant> {
        Some(self.until)
    }

    fn cancel(&mut self) {}

    fn holds(&self) -> Option<&str> {
        None
    }

    fn progress(&self) -> u64 {
        0
    }
}
