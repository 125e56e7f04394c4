//! `duplicar`: copies a file under a new name, in slices between events.
//!
//! Copying 4 GiB takes seconds, and this server has one thread: a copy done in one go
//! would freeze every other client. So the copy is a small job that the loop advances by
//! one bounded slice per turn, and the requester's reply is promised (`Flow::Wait`) until
//! it is done. The kernel moves the bytes (`copy_file_range`, which on filesystems that
//! can share blocks does not even copy them); plain reads and writes are the fallback.
//! The copy is written to staging and published atomically like an upload.

use super::{args, Caller, Context, Finished};
use crate::connection::Flow;
use crate::message::{self, Request};
use crate::outbox::{Chunk, Outbox};
use crate::pickle::{Data, Envelope};
use crate::storage::{self, check_name, Refusal, Staged, Storage};
use std::fs::File;
use std::io;

/// Bytes copied per turn of the loop: a few milliseconds of work.
const SLICE: u64 = 8 * 1024 * 1024;
/// Files up to this size are copied inside the request, and answered at once.
const INLINE: u64 = 1024 * 1024;

pub fn run(req: &Request, ctx: &mut Context, caller: &Caller, out: &mut Outbox) -> Flow {
    let (env, op) = (&req.envelope, req.operacion.as_str());
    match start(req, ctx, caller) {
        Err(msg) => {
            super::reply_error(out, env, op, &msg);
            Flow::Done
        }
        Ok(mut copy) if copy.len <= INLINE => {
            // Small files: one slice does it, so reply at once.
            let result = copy.step(&ctx.storage).unwrap_or(Ok(()));
            out.push(Chunk::bytes(ctx.end_copy(copy, result).reply));
            Flow::Done
        }
        Ok(copy) => {
            // Everything else waits its turn with the other copies (see Context::work).
            log::debug!("{}: copying {} bytes to {:?}", caller.peer, copy.len, copy.target);
            ctx.copies.push_back(copy);
            Flow::Wait
        }
    }
}

fn start(req: &Request, ctx: &mut Context, caller: &Caller) -> Result<Copy, String> {
    let name = args::name_or_dict(&req.data)?;
    let new = match args::field(&req.data, "nuevo") {
        Some(_) => Some(args::name(&req.data, "nuevo")?.to_string()),
        None => None,
    };
    ctx.check_free(name, caller.id)?;
    let (src, len) = ctx.storage.open_file(name)?;
    let target = match new {
        Some(n) => {
            ctx.check_free(&n, caller.id)?;
            if ctx.storage.is_taken(&n) {
                return Err(storage::exists(&n).into());
            }
            n
        }
        None => free_copy_name(name, |n| ctx.storage.is_taken(n) || ctx.busy.contains_key(n))?,
    };
    let (dst, tmp) = ctx.storage.temp_file()?;
    let busy = super::Busy {
        owner: caller.id,
        touched: None,
    };
    ctx.busy.insert(target.clone(), busy);
    Ok(Copy {
        owner: caller.id,
        key: caller.key,
        envelope: req.envelope.clone(),
        op: req.operacion.clone(),
        src,
        dst,
        tmp: Some(tmp),
        target,
        done: 0,
        len,
        kernel: true,
    })
}

/// `poema.txt` → `poema (copia).txt`, then `poema (copia 2).txt`, and so on.
fn free_copy_name(name: &str, taken: impl Fn(&str) -> bool) -> Result<String, String> {
    let (stem, ext) = match name.rfind('.') {
        Some(i) if i > 0 => name.split_at(i),
        _ => (name, ""),
    };
    for n in 1..10_000 {
        let candidate = if n == 1 {
            format!("{stem} (copia){ext}")
        } else {
            format!("{stem} (copia {n}){ext}")
        };
        check_name(&candidate)?;
        if !taken(&candidate) {
            return Ok(candidate);
        }
    }
    Err("hay demasiadas copias de ese archivo".into())
}

/// A copy in progress.
pub struct Copy {
    owner: u64,
    key: usize,
    envelope: Envelope,
    op: String,
    src: File,
    dst: File,
    /// The staged file, until it is published or removed.
    tmp: Option<Staged>,
    target: String,
    done: u64,
    len: u64,
    /// Still trying `copy_file_range` (false once the kernel said it cannot here).
    kernel: bool,
}

impl Copy {
    pub fn owner(&self) -> u64 {
        self.owner
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Bytes copied so far.
    pub fn progress(&self) -> u64 {
        self.done
    }

    /// Copies one slice. Returns None while there is more to do, or the outcome: the
    /// copy published under its new name, or why not.
    pub fn step(&mut self, storage: &Storage) -> Option<Result<(), Refusal>> {
        let want = (self.len - self.done).min(SLICE);
        let moved = if want == 0 { Ok(0) } else { self.copy_slice(want) };
        match moved {
            // The source ended early (it shrank while we copied): publish what it held.
            Ok(0) => Some(self.publish(storage)),
            Ok(n) => {
                self.done += n;
                (self.done >= self.len).then(|| self.publish(storage))
            }
            Err(e) => {
                log::warn!("copy to {:?} failed: {e}", self.target);
                self.cancel();
                Some(Err(storage::write_refusal(&e)))
            }
        }
    }

    fn copy_slice(&mut self, want: u64) -> io::Result<u64> {
        crate::sys::copy_slice(&self.src, &self.dst, self.done, want, &mut self.kernel)
    }

    fn publish(&mut self, storage: &Storage) -> Result<(), Refusal> {
        let Some(tmp) = self.tmp.take() else {
            return Err(Refusal::new("copia cancelada"));
        };
        let result = storage.publish(&tmp, &self.target, false);
        if result.is_err() {
            let _ = tmp.remove();
        }
        result
    }

    /// Abandons the copy: the staged bytes go, nothing is published.
    pub fn cancel(&mut self) {
        if let Some(tmp) = self.tmp.take() {
            let _ = tmp.remove();
        }
    }

    /// The reply for the requester.
    pub fn finish(self, result: Result<(), Refusal>) -> Finished {
        let reply = match result {
            Ok(()) => {
                log::info!("copied {} bytes to {:?}", self.done, self.target);
                let data = Data::dict([("nombre", Data::Str(self.target.clone()))]);
                message::ok(&self.envelope, &self.op, &data)
            }
            Err(r) => message::error(&self.envelope, &self.op, &r.mensaje),
        };
        Finished {
            key: self.key,
            id: self.owner,
            reply,
        }
    }
}

impl Drop for Copy {
    fn drop(&mut self) {
        self.cancel();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies are named like a file manager would, skipping names in use.
    #[test]
    fn copy_names_count_up_and_keep_the_extension() {
        let taken = ["poema (copia).txt", "poema (copia 2).txt"];
        assert_eq!(
            free_copy_name("poema.txt", |n| taken.contains(&n)).unwrap(),
            "poema (copia 3).txt"
        );
        assert_eq!(free_copy_name("notas", |_| false).unwrap(), "notas (copia)");
        assert_eq!(free_copy_name("a.tar.gz", |_| false).unwrap(), "a.tar (copia).gz");
        assert!(free_copy_name(&"x".repeat(250), |_| false).is_err());
    }

    /// A copy bigger than a slice takes several steps, and its name appears only at the end.
    #[test]
    fn big_copy_advances_in_slices_and_publishes_at_the_end() {
        let root = std::env::temp_dir().join(format!("almacen-dup-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let len = 2 * SLICE + 5;
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("a.bin"), &data).unwrap();
        let storage = Storage::open(&root).unwrap();
        storage
            .prepare_staging(std::time::Duration::from_secs(60))
            .unwrap();
        let (src, len) = storage.open_file("a.bin").unwrap();
        let (dst, tmp) = storage.temp_file().unwrap();
        let mut copy = Copy {
            owner: 1,
            key: 0,
            envelope: Envelope::course(),
            op: "duplicar".into(),
            src,
            dst,
            tmp: Some(tmp),
            target: "b.bin".into(),
            done: 0,
            len,
            kernel: true,
        };
        let mut steps = 1;
        while copy.step(&storage).is_none() {
            assert!(!root.join("b.bin").exists(), "not visible before the last slice");
            steps += 1;
        }
        assert_eq!(steps, 3);
        assert!(std::fs::read(root.join("b.bin")).unwrap() == data);
        drop(copy); // Windows removes no folder with a file open in it
        std::fs::remove_dir_all(&root).unwrap();
    }
}
