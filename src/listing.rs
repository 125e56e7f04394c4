//! The folder's listing, remembered between requests: the course client asks `listar`
//! before every action, and reading a big folder again each time would cost far more
//! than the answer.
//!
//! The remembered reply is the encoded frame itself, so a repeat is one shared buffer
//! queued on the socket. It is trusted while the folder's own modification time (which
//! changes when a name is added, removed or renamed) stays the same. Symlinks are the
//! exception: the target of a link can vanish without the folder changing, so each
//! listed link is looked at again whenever the folder's time is.

use crate::pickle::Envelope;
use crate::storage::Storage;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// A folder's timestamp can only be trusted as a version once the clock has moved past
/// it: two changes within one tick of the filesystem's clock would share a timestamp.
const SETTLE: Duration = Duration::from_secs(2);

/// How long a confirmed reply is reused without looking at the folder again. Reading the
/// folder's timestamp is a stat by path, and on the bench's 2-core VM it was a quarter of
/// the server's CPU per cached `listar` (~4.5 of ~18 µs; docs/performance.md). A client
/// asking in a loop now costs one stat per millisecond, not one per request. The price: a
/// change made by another program shows up in `listar` up to this much later.
pub const RECHECK: Duration = Duration::from_millis(1);

/// One remembered reply.
struct Cached {
    stamp: SystemTime,
    envelope: Envelope,
    frame: Rc<Vec<u8>>,
    /// Listed names that are symlinks: checked again at every recheck.
    links: Vec<String>,
}

#[derive(Default)]
pub struct Listing {
    cached: Option<Cached>,
    /// When the folder (and its links) was last seen to match `cached`.
    confirmed: Option<Instant>,
}

impl Listing {
    /// Forgets the reply (we just changed the folder ourselves).
    pub fn clear(&mut self) {
        self.cached = None;
        self.confirmed = None;
    }

    /// The remembered reply, when it was built for this envelope and the folder has not
    /// changed since (or was confirmed unchanged less than [`RECHECK`] ago).
    pub fn get(&mut self, storage: &Storage, envelope: &Envelope, now: Instant) -> Option<Rc<Vec<u8>>> {
        let cached = self.cached.as_ref()?;
        if cached.envelope != *envelope {
            return None;
        }
        let recent = self
            .confirmed
            .is_some_and(|at| now.saturating_duration_since(at) < RECHECK);
        if !recent {
            let same = storage.stamp() == Some(cached.stamp)
                && cached.links.iter().all(|l| storage.is_served_file(l));
            if !same {
                self.clear();
                return None;
            }
            self.confirmed = Some(now);
        }
        self.cached.as_ref().map(|c| Rc::clone(&c.frame))
    }

    /// Remembers `frame` as the reply for the folder as it was at `stamp` (read before
    /// the listing), if that stamp has settled.
    pub fn store(
        &mut self,
        stamp: Option<SystemTime>,
        envelope: &Envelope,
        frame: &Rc<Vec<u8>>,
        links: Vec<String>,
        now: Instant,
    ) {
        let settled = stamp
            .and_then(|s| SystemTime::now().duration_since(s).ok())
            .is_some_and(|age| age >= SETTLE);
        self.cached = match stamp {
            Some(stamp) if settled => Some(Cached {
                stamp,
                envelope: envelope.clone(),
                frame: Rc::clone(frame),
                links,
            }),
            _ => None,
        };
        self.confirmed = self.cached.as_ref().map(|_| now);
    }

    /// True while a reply is remembered.
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }
}
