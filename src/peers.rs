//! Who is connected: ids, aliases and subscriptions, for the operations that reach other
//! clients (`clientes`, `mensaje`, `difundir`).
//!
//! Slab keys are reused as soon as a client leaves, so they would make poor names for
//! people to type: a message meant for the client that left could reach the next one.
//! Ids here only grow. The event loop keeps this table in step with its slab.

use crate::outbox::Chunk;
use crate::protocol::ReplyTo;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// Longest alias, in characters.
pub const MAX_ALIAS: usize = 40;

/// How much a subscriber may have queued before pushes to it are skipped. A subscriber
/// that does not read must not make the server hold more and more for it; each pushed
/// file costs three chunks (one of them an open file, shared with the other recipients)
/// and no copy of the file, each message one chunk shared by all its recipients.
#[derive(Debug, Clone, Copy)]
pub struct PushLimits {
    pub max_chunks: usize,
    pub max_bytes: usize,
}

impl Default for PushLimits {
    fn default() -> Self {
        PushLimits {
            max_chunks: 48,
            max_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug)]
pub struct Peer {
    /// The slab key of its connection, for delivering pushes.
    pub key: usize,
    pub addr: SocketAddr,
    pub alias: Option<String>,
    /// Set by `suscribir`: how its pushes are written (the class it used to ask, or
    /// protocol 2).
    pub subscribed: Option<ReplyTo>,
    /// What its queue held after it was last serviced, plus pushes queued since.
    pub queued_chunks: usize,
    pub queued_bytes: usize,
}

/// A frame for another connection, queued whole so it never splits one of its frames.
pub struct Push {
    pub key: usize,
    pub id: u64,
    pub chunks: Vec<Chunk>,
}

#[derive(Debug, Default)]
pub struct Peers {
    last_id: u64,
    by_id: BTreeMap<u64, Peer>,
    pub limits: PushLimits,
}

impl Peers {
    /// A new connection: returns its id (1, 2, 3, ...).
    pub fn join(&mut self, key: usize, addr: SocketAddr) -> u64 {
        self.last_id += 1;
        self.by_id.insert(
            self.last_id,
            Peer {
                key,
                addr,
                alias: None,
                subscribed: None,
                queued_chunks: 0,
                queued_bytes: 0,
            },
        );
        self.last_id
    }

    pub fn leave(&mut self, id: u64) {
        self.by_id.remove(&id);
    }

    pub fn get(&self, id: u64) -> Option<&Peer> {
        self.by_id.get(&id)
    }

    pub fn get_mut(&mut self, id: u64) -> Option<&mut Peer> {
        self.by_id.get_mut(&id)
    }

    /// Everyone, by id.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Peer)> {
        self.by_id.iter().map(|(id, p)| (*id, p))
    }

    /// Subscribers other than `except`, by id.
    pub fn subscribers(&self, except: u64) -> Vec<u64> {
        self.by_id
            .iter()
            .filter(|(id, p)| **id != except && p.subscribed.is_some())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Records the size of a connection's queue after the loop serviced it.
    pub fn note_queue(&mut self, id: u64, chunks: usize, bytes: usize) {
        if let Some(p) = self.by_id.get_mut(&id) {
            p.queued_chunks = chunks;
            p.queued_bytes = bytes;
        }
    }

    /// Takes a push for `id` if it is subscribed and its queue has room; the caller then
    /// hands the chunks to the loop. Returns the push, or None when skipped.
    pub fn push_to(&mut self, id: u64, chunks: Vec<Chunk>) -> Option<Push> {
        let limits = self.limits;
        let p = self.by_id.get_mut(&id)?;
        p.subscribed.as_ref()?;
        let bytes: usize = chunks.iter().map(Chunk::memory).sum();
        if p.queued_chunks + chunks.len() > limits.max_chunks || p.queued_bytes + bytes > limits.max_bytes {
            log::debug!(
                "{}: not reading its pushes ({} chunks, {} bytes queued); skipping one",
                p.addr,
                p.queued_chunks,
                p.queued_bytes
            );
            return None;
        }
        p.queued_chunks += chunks.len();
        p.queued_bytes += bytes;
        Some(Push {
            key: p.key,
            id,
            chunks,
        })
    }
}

/// Checks an alias: a short single line of text. The error is Spanish, for the client.
pub fn check_alias(alias: &str) -> Result<(), &'static str> {
    if alias.trim().is_empty() {
        Err("alias vacío")
    } else if alias.chars().count() > MAX_ALIAS {
        Err("alias demasiado largo (máximo 40 caracteres)")
    } else if alias.chars().any(char::is_control) {
        Err("alias inválido: contiene caracteres de control")
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr() -> SocketAddr {
        "127.0.0.1:9".parse().unwrap()
    }

    /// Ids only grow, even when the slab key of a departed client is reused.
    #[test]
    fn ids_are_never_reused() {
        let mut peers = Peers::default();
        let a = peers.join(0, addr());
        peers.leave(a);
        let b = peers.join(0, addr());
        assert!(b > a);
        assert!(peers.get(a).is_none());
    }

    /// Pushes reach subscribers only, and stop once a subscriber's queue is full.
    #[test]
    fn pushes_need_a_subscription_and_room() {
        let mut peers = Peers {
            limits: PushLimits {
                max_chunks: 2,
                max_bytes: 1 << 20,
            },
            ..Peers::default()
        };
        let id = peers.join(4, addr());
        assert!(peers.push_to(id, vec![Chunk::bytes(vec![1])]).is_none());
        peers.get_mut(id).unwrap().subscribed = Some(ReplyTo::Course(crate::pickle::Envelope::course()));
        let push = peers.push_to(id, vec![Chunk::bytes(vec![1])]).unwrap();
        assert_eq!((push.key, push.id), (4, id));
        assert!(peers.push_to(id, vec![Chunk::bytes(vec![2])]).is_some());
        assert!(
            peers.push_to(id, vec![Chunk::bytes(vec![3])]).is_none(),
            "queue is full"
        );
        peers.note_queue(id, 0, 0);
        assert!(
            peers.push_to(id, vec![Chunk::bytes(vec![4])]).is_some(),
            "drained"
        );
    }

    /// Aliases are short, printable single lines.
    #[test]
    fn aliases_are_checked() {
        assert!(check_alias("ana").is_ok());
        assert!(check_alias("  ").is_err());
        assert!(check_alias("a\nb").is_err());
        assert!(check_alias(&"x".repeat(41)).is_err());
    }
}
