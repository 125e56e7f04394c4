//! Jobs that read a whole file through SHA-256, a slice at a time: `resumen`'s digest
//! ([`Summary`]), and the checks of protocol 2's `sha256` and `sha256_previo` on uploads
//! in parts ([`Verify`]), which let the work they guard go on only when the bytes match.

use super::{Env, Job, Step};
use crate::digest::{self, HashError, Hashing, Sum};
use crate::pickle::Data;
use crate::storage::Refusal;
use std::fs::File;
use std::time::{Instant, SystemTime};

/// Bytes hashed between two looks at the clock.
const STEP: u64 = 1024 * 1024;

/// Hashes until the end or `deadline`.
fn advance(hashing: &mut Hashing, deadline: Instant) -> Option<Result<Sum, HashError>> {
    loop {
        if let Some(result) = hashing.step() {
            return Some(result);
        }
        if Instant::now() >= deadline {
            return None;
        }
    }
}

/// `resumen`: a file's name, size, time and SHA-256. The digest is remembered by the
/// file's identity, size and time, so asking again costs nothing.
pub struct Summary {
    name: String,
    hashing: Hashing,
    size: u64,
    modified: Option<SystemTime>,
}

impl Summary {
    /// The summary of `file` (open as `name`): at once when its digest is remembered,
    /// or else a job that computes it.
    pub fn of(name: &str, file: File, digests: &digest::Cache) -> Result<Result<Data, Summary>, Refusal> {
        let meta = file
            .metadata()
            .map_err(|_| Refusal::new("no se pudo leer el archivo"))?;
        let (size, modified) = (meta.len(), meta.modified().ok());
        if let Some(sum) = digests.get(&meta) {
            return Ok(Ok(summary_data(name, size, modified, &sum)));
        }
        let hashing = Hashing::whole(file)
            .map_err(|_| Refusal::new("no se pudo leer el archivo"))?
            .with_slice(STEP);
        Ok(Err(Summary {
            name: name.to_string(),
            hashing,
            size,
            modified,
        }))
    }
}

/// `{"nombre", "bytes", "modificado", "sha256"}`.
fn summary_data(name: &str, size: u64, modified: Option<SystemTime>, sum: &Sum) -> Data {
    let secs = modified
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_secs() as i64);
    Data::dict([
        ("nombre", Data::str(name)),
        ("bytes", Data::Int(size.min(i64::MAX as u64) as i64)),
        ("modificado", Data::Int(secs)),
        ("sha256", Data::str(digest::hex(sum))),
    ])
}

impl Job for Summary {
    fn step(&mut self, env: &mut Env<'_>, deadline: Instant) -> Option<Step> {
        let result = advance(&mut self.hashing, deadline)?;
        Some(Step::Done(match result {
            Ok(sum) => {
                env.digests
                    .put(self.hashing.key().clone(), sum, SystemTime::now());
                log::info!("sha256 of {:?} ({} B) computed", self.name, self.size);
                Ok(summary_data(&self.name, self.size, self.modified, &sum))
            }
            Err(e) => {
                log::info!("sha256 of {:?} failed: {e}", self.name);
                Err(Refusal::new(e.mensaje()))
            }
        }))
    }

    fn cancel(&mut self) {}

    fn holds(&self) -> Option<&str> {
        None
    }

    fn progress(&self) -> u64 {
        self.hashing.progress().0
    }
}

/// What a successful check lets happen, run once the bytes matched.
pub type Then = Box<dyn FnOnce(&mut Env<'_>) -> Step>;

/// Hashes a file (or its first bytes) and compares with the digest the client sent.
/// On a match, `then` runs; on a mismatch, the client gets `mismatch` and nothing else
/// happens.
pub struct Verify {
    hashing: Hashing,
    expect: Sum,
    mismatch: String,
    then: Option<Then>,
}

impl Verify {
    pub fn new(hashing: Hashing, expect: Sum, mismatch: String, then: Then) -> Verify {
        Verify {
            hashing: hashing.with_slice(STEP),
            expect,
            mismatch,
            then: Some(then),
        }
    }
}

impl Job for Verify {
    fn step(&mut self, env: &mut Env<'_>, deadline: Instant) -> Option<Step> {
        let result = advance(&mut self.hashing, deadline)?;
        Some(match result {
            Ok(sum) if sum == self.expect => match self.then.take() {
                Some(then) => then(env),
                None => Step::Done(Err(Refusal::new("verificación repetida"))),
            },
            Ok(sum) => {
                log::info!("sha256 mismatch: got {}", digest::hex(&sum));
                Step::Done(Err(Refusal::new(std::mem::take(&mut self.mismatch))))
            }
            Err(e) => Step::Done(Err(Refusal::new(e.mensaje()))),
        })
    }

    fn cancel(&mut self) {
        self.then = None;
    }

    fn holds(&self) -> Option<&str> {
        None
    }

    fn progress(&self) -> u64 {
        self.hashing.progress().0
    }
}
