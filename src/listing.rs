//! The folder's listing, remembered between requests: the course client asks `listar`
//! before every action, and reading a big folder again each time would cost far more
//! than the answer.
//!
//! What is remembered is the list of names, and the reply already encoded for the last
//! client's class, so a repeat is one shared buffer queued on the socket. (Protocol 2
//! replies carry the request's id, so for them the list's JSON is kept instead, and only
//! the few bytes around it are written per request.) It is all trusted while the folder's
//! own modification time, which changes when a name is added, removed or renamed, stays
//! the same. Symlinks are the exception: the target of a link can vanish without the
//! folder changing, so each listed link is looked at again whenever the folder's time is.

use crate::pickle::{Data, Envelope};
#[cfg(feature = "proto2")]
use crate::protocol::v2::encode;
use crate::protocol::ReplyTo;
use crate::storage::Storage;
use std::rc::Rc;
use std::time::{Duration, Instant, SystemTime};

/// A folder's timestamp can only be trusted as a version once the clock has moved past
/// it: two changes within one tick of the filesystem's clock would share a timestamp.
const SETTLE: Duration = Duration::from_secs(2);

/// How long a confirmed listing is reused without looking at the folder again. Reading
/// the folder's timestamp is a stat by path, and on the bench's 2-core VM it was a quarter
/// of the server's CPU per cached `listar` (~4.5 of ~18 µs; docs/performance.md). A client
/// asking in a loop now costs one stat per millisecond, not one per request. The price: a
/// change made by another program shows up in `listar` up to this much later.
pub const RECHECK: Duration = Duration::from_millis(1);

/// One remembered listing.
struct Cached {
    stamp: SystemTime,
    names: Data,
    /// Listed names that are symlinks: checked again at every recheck.
    links: Vec<String>,
    /// The course reply for the last class that asked.
    frame: Option<(Envelope, Rc<Vec<u8>>)>,
    /// The names as protocol-2 JSON.
    #[cfg(feature = "proto2")]
    json: Option<Vec<u8>>,
}

#[derive(Default)]
pub struct Listing {
    cached: Option<Cached>,
    /// When the folder (and its links) was last seen to match `cached`.
    confirmed: Option<Instant>,
}

impl Listing {
    /// Forgets the listing (we just changed the folder ourselves).
    pub fn clear(&mut self) {
        self.cached = None;
        self.confirmed = None;
    }

    /// The reply to `listar` from the remembered listing, written for `to`, when the
    /// folder has not changed since (or was confirmed unchanged less than [`RECHECK`] ago).
    pub fn get(&mut self, storage: &Storage, to: &ReplyTo, op: &str, now: Instant) -> Option<Rc<Vec<u8>>> {
        let cached = self.cached.as_ref()?;
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
        let cached = self.cached.as_mut()?;
        match to {
            ReplyTo::Course(env) => {
                if cached.frame.as_ref().is_none_or(|(e, _)| e != env) {
                    let frame = Rc::new(to.ok(op, &cached.names));
                    cached.frame = Some((env.clone(), frame));
                }
                cached.frame.as_ref().map(|(_, f)| Rc::clone(f))
            }
            #[cfg(feature = "proto2")]
            ReplyTo::V2 { id } => {
                if cached.json.is_none() {
                    cached.json = encode::data_json(&cached.names);
                }
                let json = cached.json.as_deref()?;
                Some(Rc::new(encode::reply_with_data_json(*id, op, "ok", json)))
            }
        }
    }

    /// Remembers `names` as the folder as it was at `stamp` (read before the listing), if
    /// that stamp has settled. Returns false when it has not (nothing is remembered).
    pub fn store(
        &mut self,
        stamp: Option<SystemTime>,
        names: Data,
        links: Vec<String>,
        now: Instant,
    ) -> bool {
        let settled = stamp
            .and_then(|s| SystemTime::now().duration_since(s).ok())
            .is_some_and(|age| age >= SETTLE);
        self.cached = match stamp {
            Some(stamp) if settled => Some(Cached {
                stamp,
                names,
                links,
                frame: None,
                #[cfg(feature = "proto2")]
                json: None,
            }),
            _ => None,
        };
        self.confirmed = self.cached.as_ref().map(|_| now);
        self.cached.is_some()
    }

    /// True while a listing is remembered.
    #[cfg(test)]
    pub fn is_cached(&self) -> bool {
        self.cached.is_some()
    }
}
