//! Names someone is writing: an upload in parts, or a copy. While a name is held, other
//! connections are refused it, so two writers never race to publish the same name.

use crate::storage::Refusal;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// An upload in parts whose writer sent nothing for this long gives up its name: its
/// connection may be dead without the server knowing (a cable pulled, a laptop closed),
/// and someone else may then resume it from what is staged.
pub const PARTS_IDLE: Duration = Duration::from_secs(120);

/// A name someone is writing.
#[derive(Debug, Clone, Copy)]
struct Hold {
    /// The writer's connection id.
    owner: u64,
    /// When the writer last sent a part (`None` for a copy, which never goes quiet).
    touched: Option<Instant>,
}

#[derive(Debug, Default)]
pub struct NameLocks {
    held: HashMap<String, Hold>,
}

impl NameLocks {
    /// Holds `name` for a copy until [`NameLocks::release`].
    pub fn hold(&mut self, name: &str, owner: u64) {
        let hold = Hold { owner, touched: None };
        self.held.insert(name.to_string(), hold);
    }

    /// Holds `name` for an upload in parts, noting that its writer is active now (or
    /// takes it over from a writer gone quiet).
    pub fn touch(&mut self, name: &str, owner: u64, now: Instant) {
        let hold = Hold {
            owner,
            touched: Some(now),
        };
        self.held.insert(name.to_string(), hold);
    }

    pub fn release(&mut self, name: &str) {
        self.held.remove(name);
    }

    /// A connection left: everything it held is free.
    pub fn release_owner(&mut self, owner: u64) {
        self.held.retain(|_, h| h.owner != owner);
    }

    /// A connection's input ended: the uploads in parts it was writing are free (it can
    /// send no more pieces). Names held until a job ends (a copy, a publish) stay held.
    pub fn release_parts_of(&mut self, owner: u64) {
        self.held.retain(|_, h| h.owner != owner || h.touched.is_none());
    }

    /// Whether anyone holds `name` (quiet or not).
    pub fn is_held(&self, name: &str) -> bool {
        self.held.contains_key(name)
    }

    /// True when someone else holds `name` for a job that ends by itself (a publish, a
    /// copy, a folder flush), not for an upload in parts that waits on its client.
    pub fn held_by_job(&self, name: &str, me: u64) -> bool {
        self.held
            .get(name)
            .is_some_and(|h| h.owner != me && h.touched.is_none())
    }

    /// Refuses `name` when someone else is writing it.
    pub fn check_free(&self, name: &str, me: u64) -> Result<(), Refusal> {
        match self.held.get(name) {
            Some(h) if h.owner != me && h.touched.is_none_or(|t| t.elapsed() < PARTS_IDLE) => {
                Err(Refusal::new(format!(
                    "{name} se está escribiendo desde otra conexión; intente más tarde"
                )))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A name held by an upload in parts is freed for others once its writer goes quiet;
    /// a copy's name is held until the copy ends.
    #[test]
    fn quiet_part_uploads_give_up_their_name_but_copies_do_not() {
        let mut locks = NameLocks::default();
        let now = Instant::now();
        locks.touch("activo", 1, now);
        let long_ago = now.checked_sub(PARTS_IDLE + Duration::from_secs(1)).unwrap();
        locks.touch("callado", 1, long_ago);
        locks.hold("copia", 1);
        assert!(locks.check_free("activo", 2).is_err());
        assert!(locks.check_free("activo", 1).is_ok(), "its own writer may go on");
        assert!(locks.check_free("callado", 2).is_ok());
        assert!(locks.check_free("copia", 2).is_err());
        locks.release_owner(1);
        assert!(
            locks.check_free("activo", 2).is_ok(),
            "released when the writer leaves"
        );
        assert!(!locks.is_held("copia"));
    }
}
