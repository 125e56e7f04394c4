//! `listar`: the names in the folder, as a list of str.

use super::reply_error;
use crate::message::{self, Request};
use crate::outbox::{Chunk, Outbox};
use crate::pickle::{Data, Envelope};
use std::rc::Rc;
use std::time::{Duration, SystemTime};

/// The encoded reply for one folder state and one envelope.
#[derive(Default)]
pub struct Cache {
    entry: Option<(SystemTime, Envelope, Rc<Vec<u8>>)>,
}

impl Cache {
    /// Forgets the reply (we just changed the folder ourselves).
    pub fn clear(&mut self) {
        self.entry = None;
    }
}

/// A folder's timestamp can only be trusted as a version once the clock has moved past
/// it: two changes within one tick of the filesystem's clock would share a timestamp.
const SETTLE: Duration = Duration::from_secs(2);

pub fn run(req: &Request, ctx: &mut super::Context, out: &mut Outbox) {
    let stamp = ctx.storage.stamp();
    if let (Some(stamp), Some((cached, env, frame))) = (stamp, &ctx.list_cache.entry) {
        if *cached == stamp && *env == req.envelope {
            log::debug!("listar: cached reply, {} bytes", frame.len());
            out.push(Chunk::shared(Rc::clone(frame)));
            return;
        }
    }
    let names = match ctx.storage.list() {
        Ok(names) => names,
        Err(e) => {
            log::warn!("cannot list {}: {e}", ctx.storage.root().display());
            return reply_error(out, &req.envelope, &req.operacion, "no se pudo leer la carpeta");
        }
    };
    let data = Data::List(names.into_iter().map(Data::Str).collect());
    let frame = Rc::new(message::ok(&req.envelope, &req.operacion, &data));
    let settled = stamp
        .and_then(|s| SystemTime::now().duration_since(s).ok())
        .is_some_and(|age| age >= SETTLE);
    ctx.list_cache.entry = match stamp {
        Some(stamp) if settled => Some((stamp, req.envelope.clone(), Rc::clone(&frame))),
        _ => None,
    };
    out.push(Chunk::shared(frame));
}
