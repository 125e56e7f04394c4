//! `descargar`: a file's bytes, streamed from disk as the socket drains.
//!
//! `data` is a name, or `{"nombre", "desde", "largo"}` for a range. A small file goes
//! inline in the reply; a bigger one is streamed (the reply's frame is queued as head,
//! file, tail), so memory does not grow with the file.

use super::args;
use super::context::Context;
use super::operation::Operation;
use crate::message::Request;
use crate::pickle::{Data, Value};
use crate::reply::{Caller, Outcome};
use crate::storage::Refusal;
use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::rc::Rc;

/// Files up to this size are read into the reply and leave in one write with its head.
pub const INLINE_MAX: u64 = 64 * 1024;

/// What was asked for: a name and a byte range.
pub struct Descargar<'r> {
    name: &'r str,
    from: u64,
    len: Option<u64>,
}

impl fmt::Display for Descargar<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.name)?;
        if self.from > 0 || self.len.is_some() {
            write!(f, " desde {}", self.from)?;
        }
        if let Some(len) = self.len {
            write!(f, " largo {len}")?;
        }
        Ok(())
    }
}

impl<'r> Operation<'r> for Descargar<'r> {
    fn parse(req: &'r Request<'_>) -> Result<Self, Refusal> {
        let name = args::name_or_dict(&req.data)?;
        let (from, len) = match &req.data {
            Value::Dict(_) => (args::count(&req.data, "desde")?, args::count(&req.data, "largo")?),
            _ => (None, None),
        };
        Ok(Descargar {
            name,
            from: from.unwrap_or(0),
            len,
        })
    }

    fn run(self, ctx: &mut Context, _: &Caller) -> Outcome {
        let (file, size) = match ctx.storage.open_file(self.name) {
            Ok(f) => f,
            Err(refusal) => return Outcome::Refused(refusal),
        };
        if self.from > size {
            let msg = format!("desde ({}) pasa el final del archivo ({size} bytes)", self.from);
            return Outcome::refused(msg);
        }
        let len = self.len.unwrap_or(u64::MAX).min(size - self.from);
        if len > INLINE_MAX {
            let file = Rc::new(file);
            let offset = self.from;
            return Outcome::Stream { file, offset, len };
        }
        let mut buf = Vec::with_capacity(len as usize);
        let read = (&file)
            .seek(SeekFrom::Start(self.from))
            .and_then(|_| (&file).take(len).read_to_end(&mut buf));
        match read {
            // Whatever we managed to read is what we announce: the frame never lies.
            Ok(_) => Outcome::Ok(Data::Bytes(buf)),
            Err(e) => {
                log::warn!(
                    "no se pudo leer {:?}: {}",
                    self.name,
                    crate::spanish::io_error(&e)
                );
                Outcome::refused("no se pudo leer el archivo")
            }
        }
    }
}
