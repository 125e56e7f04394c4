//! Moving file contents: uploads (whole, or in resumable parts) and downloads in ranges.
//!
//! Both sides work in pieces of a few MiB, so memory stays flat whatever the file size,
//! each frame stays far under the server's frame limit, and an interruption costs at
//! most one piece.

use super::conn::{local_io, Call, Failure};
use super::ops;
use super::progress::{self, Progress};
use almacen::pickle::{Data, Value};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

/// Bytes per `subir_parte` and per ranged `descargar`. Files up to this size are
/// uploaded with one `subir`.
pub const PIECE: u64 = 4 * 1024 * 1024;

/// How an upload went.
#[derive(Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub bytes: u64,
    /// The bytes the server already had from an earlier, interrupted upload.
    pub resumed_from: Option<u64>,
}

/// Uploads the local file at `path` as `name`.
pub fn upload(link: &mut dyn Call, path: &Path, name: &str, replace: bool) -> Result<Uploaded, Failure> {
    let mut file = File::open(path).map_err(|e| local_io(path, &e))?;
    let meta = file.metadata().map_err(|e| local_io(path, &e))?;
    if !meta.is_file() {
        return Err(Failure::Local(format!("{}: no es un archivo", path.display())));
    }
    let size = meta.len();
    if size <= PIECE {
        let content = read_piece(&mut file, size as usize, path)?;
        let data = Data::dict([
            ("nombre", Data::str(name)),
            ("contenido", Data::Bytes(content)),
            ("reemplazar", Data::Bool(replace)),
        ]);
        link.ask("subir", data)?;
        return Ok(Uploaded {
            bytes: size,
            resumed_from: None,
        });
    }

    // Asking without `contenido` tells how much an earlier attempt left staged. It can
    // only be ours if it is no longer than this file; otherwise start over (desde 0
    // makes the server drop what it had).
    let staged = received(&link.ask("subir_parte", Data::dict([("nombre", Data::str(name))]))?)?;
    let mut at = if staged > 0 && staged <= size { staged } else { 0 };
    let resumed_from = (at > 0).then_some(at);
    if at > 0 {
        eprintln!("retomando la subida de {name}: el servidor ya tiene {at} de {size} bytes (desde {at})");
    }
    file.seek(SeekFrom::Start(at)).map_err(|e| local_io(path, &e))?;
    let mut progress = Progress::new("subiendo", Some(size), at);
    loop {
        let len = PIECE.min(size - at);
        let content = read_piece(&mut file, len as usize, path)?;
        let last = at + len == size;
        let data = Data::dict([
            ("nombre", Data::str(name)),
            ("contenido", Data::Bytes(content)),
            ("desde", Data::Int(at as i64)),
            ("fin", Data::Bool(last)),
            ("reemplazar", Data::Bool(replace)),
        ]);
        let now = received(&link.ask("subir_parte", data)?)?;
        if now != at + len {
            return Err(Failure::Link(format!(
                "el servidor dice tener {now} bytes de {name}; se esperaban {}",
                at + len
            )));
        }
        at = now;
        progress.update(at);
        if last {
            return Ok(Uploaded {
                bytes: size,
                resumed_from,
            });
        }
    }
}

fn received(reply: &Value) -> Result<u64, Failure> {
    ops::int(reply, "recibidos")
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| Failure::Link("respuesta inesperada del servidor a subir_parte".into()))
}

fn read_piece(file: &mut File, len: usize, path: &Path) -> Result<Vec<u8>, Failure> {
    let mut buf = vec![0; len];
    file.read_exact(&mut buf).map_err(|e| {
        // The file shrank while we read it: say so rather than send a short upload.
        local_io(path, &e)
    })?;
    Ok(buf)
}

/// How a download went.
#[derive(Debug, PartialEq, Eq)]
pub struct Downloaded {
    /// Size of the local file at the end.
    pub bytes: u64,
    /// Where it started (the local size, when resuming).
    pub from: u64,
}

/// Downloads `name` into `dest` in ranges. With `resume`, keeps what `dest` already
/// holds and asks only for the rest; otherwise `dest` is replaced. Nothing is created
/// until the server has answered the first range, so a refused download leaves no
/// empty file behind.
pub fn download(link: &mut dyn Call, name: &str, dest: &Path, resume: bool) -> Result<Downloaded, Failure> {
    let from = if resume {
        match fs::metadata(dest) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(local_io(dest, &e)),
        }
    } else {
        0
    };
    // The total only feeds the progress line, so only ask for it when one is shown.
    let total = if progress::wanted() {
        ops::listar_detalle(link)
            .ok()
            .and_then(|entries| entries.into_iter().find(|e| e.name == name))
            .map(|e| e.bytes)
    } else {
        None
    };
    let mut progress = Progress::new("descargando", total, from);
    let mut at = from;
    let mut file: Option<File> = None;
    loop {
        let data = Data::dict([
            ("nombre", Data::str(name)),
            ("desde", Data::Int(at as i64)),
            ("largo", Data::Int(PIECE as i64)),
        ]);
        let piece = match link.ask("descargar", data)? {
            Value::Bytes(b) => b,
            _ => {
                return Err(Failure::Link(
                    "respuesta inesperada del servidor a descargar".into(),
                ))
            }
        };
        let out = match &mut file {
            Some(f) => f,
            None => file.insert(open_dest(dest, resume)?),
        };
        out.write_all(&piece).map_err(|e| local_io(dest, &e))?;
        at += piece.len() as u64;
        progress.update(at);
        // A short piece is the end of the file.
        if (piece.len() as u64) < PIECE {
            return Ok(Downloaded { bytes: at, from });
        }
    }
}

fn open_dest(dest: &Path, resume: bool) -> Result<File, Failure> {
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| local_io(parent, &e))?;
    }
    let mut options = OpenOptions::new();
    if resume {
        options.append(true).create(true);
    } else {
        options.write(true).create(true).truncate(true);
    }
    options.open(dest).map_err(|e| local_io(dest, &e))
}
