//! Moving file contents: uploads (whole, or in resumable parts) and downloads in ranges.
//!
//! Both sides work in pieces of a few MiB, so memory stays flat whatever the file size,
//! each frame stays far under the server's frame limit, and an interruption costs at
//! most one piece.
//!
//! A download is written under a hidden partial name beside its destination and renamed
//! into place only when complete and checked, so nothing partial ever sits under the
//! final name. The partial's name carries the server file's size and modification time
//! (`.foto.png.68400-1700000000.parcial`): a later run finds it only if the server still
//! has that same version, and then asks just for the rest.
//!
//! SHA-256 ties both ends together. After a download (resumed or not) the local bytes are
//! hashed and compared with the server's `resumen`. Uploads carry the whole file's
//! `sha256`, which the server checks before publishing, and a resumed upload proves with
//! `sha256_previo` that the bytes the server staged are the start of this file. Those
//! fields are protocol 2's; with a server that only speaks the course's protocol the
//! client still asks `resumen` where it helps, and goes on without the check (saying so
//! at debug level) when the server does not know it.

use super::call::{is_server_closing, local_io, Call, Failure};
use super::ops::{self, Entry};
use super::progress::Progress;
use super::text::human;
use almacen::digest::{self, Hashing};
use almacen::pickle::decode::get;
use almacen::pickle::{Data, Value};
use sha2::{Digest, Sha256};
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

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
    let (file, size) = open_upload(path)?;
    if size <= PIECE {
        return upload_whole(link, file, size, path, name, replace);
    }
    let mut parts = Parts::begin(link, file, path, name, size, replace)?;
    while !parts.send_next()? {}
    parts.check_staged_start()?;
    Ok(Uploaded {
        bytes: size,
        resumed_from: parts.resumed_from,
    })
}

/// Opens the file to upload and tells its size; anything but a regular file is refused.
fn open_upload(path: &Path) -> Result<(File, u64), Failure> {
    let file = File::open(path).map_err(|e| local_io(path, &e))?;
    let meta = file.metadata().map_err(|e| local_io(path, &e))?;
    if !meta.is_file() {
        return Err(Failure::Local(format!("{}: no es un archivo", path.display())));
    }
    Ok((file, meta.len()))
}

/// A file of at most one piece goes in a single `subir`.
fn upload_whole(
    link: &mut dyn Call,
    mut file: File,
    size: u64,
    path: &Path,
    name: &str,
    replace: bool,
) -> Result<Uploaded, Failure> {
    let content = read_piece(&mut file, size as usize, path)?;
    let sha = digest::hex(&digest::of_bytes(&content));
    let mut fields = vec![
        ("nombre", Data::str(name)),
        ("contenido", Data::Bytes(content)),
        ("reemplazar", Data::Bool(replace)),
    ];
    if link.protocol2() {
        fields.push(("sha256", Data::str(sha)));
    }
    let data = ops::write_request(link, fields);
    link.ask("subir", data)?;
    Ok(Uploaded {
        bytes: size,
        resumed_from: None,
    })
}

/// An upload in parts under way: where it is in the file, and the digest so far.
struct Parts<'a> {
    link: &'a mut dyn Call,
    file: File,
    path: &'a Path,
    name: &'a str,
    size: u64,
    replace: bool,
    /// The connection speaks protocol 2, so the server checks the digests we send.
    v2: bool,
    /// How many bytes the server holds.
    at: u64,
    /// The bytes the server already had from an earlier, interrupted upload.
    resumed_from: Option<u64>,
    /// The whole file's digest grows piece by piece; when resuming, it starts with the
    /// staged prefix, read here once and never sent.
    whole: Sha256,
    /// Protocol 2: the digest of what the server holds, sent with the first piece.
    previo: Option<String>,
    progress: Progress,
}

impl<'a> Parts<'a> {
    /// Asks what an earlier attempt left staged and gets ready to go on from there.
    fn begin(
        link: &'a mut dyn Call,
        mut file: File,
        path: &'a Path,
        name: &'a str,
        size: u64,
        replace: bool,
    ) -> Result<Parts<'a>, Failure> {
        // Asking without `contenido` tells how much an earlier attempt left staged. It can
        // only be ours if it is no longer than this file; otherwise start over (desde 0
        // makes the server drop what it had).
        let ask = ops::write_request(link, [("nombre", Data::str(name))]);
        let staged = received(&link.ask("subir_parte", ask)?)?;
        let at = if staged > 0 && staged <= size { staged } else { 0 };
        let v2 = link.protocol2();
        let mut whole = Sha256::new();
        let mut previo = None;
        if at > 0 {
            eprintln!(
                "retomando la subida de {name}: el servidor ya tiene {} de {} (desde el byte {at})",
                human(at),
                human(size)
            );
            hash_prefix(&mut file, at, &mut whole, path)?;
            if v2 {
                previo = Some(hex_of(&whole));
            }
        }
        file.seek(SeekFrom::Start(at)).map_err(|e| local_io(path, &e))?;
        Ok(Parts {
            link,
            file,
            path,
            name,
            size,
            replace,
            v2,
            at,
            resumed_from: (at > 0).then_some(at),
            whole,
            previo,
            progress: Progress::new("subiendo", Some(size), at),
        })
    }

    /// Sends the next piece; true once the last one is through.
    fn send_next(&mut self) -> Result<bool, Failure> {
        let len = PIECE.min(self.size - self.at);
        let content = read_piece(&mut self.file, len as usize, self.path)?;
        let last = self.at + len == self.size;
        let mut next = self.whole.clone();
        next.update(&content);
        let proving = self.previo.take();
        let data = self.piece_request(content, last, proving.as_deref(), &next);
        let now = match self.link.ask("subir_parte", data) {
            Ok(reply) => received(&reply)?,
            Err(Failure::Server(m)) if proving.is_some() && m.contains("sha256_previo") => {
                self.start_over(&m)?;
                return Ok(false);
            }
            Err(f) => return Err(f),
        };
        self.whole = next;
        if now != self.at + len {
            return Err(Failure::Link(format!(
                "el servidor dice tener {now} bytes de {}; se esperaban {}",
                self.name,
                self.at + len
            )));
        }
        self.at = now;
        self.progress.update(self.at);
        Ok(last)
    }

    /// One `subir_parte` with `content` at the current offset. The first piece of a resumed
    /// upload proves what the server holds (`proving`); the last carries the whole file's
    /// digest (`next`, the digest with this piece in it) in protocol 2.
    fn piece_request(&self, content: Vec<u8>, last: bool, proving: Option<&str>, next: &Sha256) -> Data {
        let mut fields = vec![
            ("nombre", Data::str(self.name)),
            ("contenido", Data::Bytes(content)),
            ("desde", Data::Int(self.at as i64)),
            ("fin", Data::Bool(last)),
            ("reemplazar", Data::Bool(self.replace)),
        ];
        if let Some(p) = proving {
            fields.push(("sha256_previo", Data::str(p)));
        }
        if last && self.v2 {
            fields.push(("sha256", Data::str(hex_of(next))));
        }
        ops::write_request(&*self.link, fields)
    }

    /// What the server staged is not the start of this file (another upload of the same
    /// name left it): start over, which makes the server drop it.
    fn start_over(&mut self, refusal: &str) -> Result<(), Failure> {
        log::debug!("the server refused sha256_previo: {refusal}");
        eprintln!(
            "lo que el servidor tenía de {} no es el comienzo de este archivo; \
             se sube desde el principio",
            self.name
        );
        self.at = 0;
        self.resumed_from = None;
        self.whole = Sha256::new();
        self.file
            .seek(SeekFrom::Start(0))
            .map_err(|e| local_io(self.path, &e))?;
        self.progress = Progress::new("subiendo", Some(self.size), 0);
        Ok(())
    }

    /// In the course's protocol the server took the staged bytes on trust: ask what it
    /// now holds, as protocol 2's sha256 would have checked.
    fn check_staged_start(&mut self) -> Result<(), Failure> {
        if self.resumed_from.is_none() || self.v2 {
            return Ok(());
        }
        self.progress.finish();
        let local = hex_of(&self.whole);
        if let Compared::Differs { .. } = compare(self.link, self.name, &local)? {
            return Err(Failure::Reply(format!(
                "{} quedó publicado, pero no coincide con {} (su sha256 es otro): \
                 lo que el servidor tenía de antes no era de este archivo; súbalo de \
                 nuevo con --reemplazar",
                self.name,
                self.path.display()
            )));
        }
        Ok(())
    }
}

/// A digest so far, as the protocol writes it (the hasher goes on).
fn hex_of(hasher: &Sha256) -> String {
    let sum: digest::Sum = hasher.clone().finalize().into();
    digest::hex(&sum)
}

/// Feeds the first `len` bytes of `file` to `hasher`, a slice at a time.
fn hash_prefix(file: &mut File, len: u64, hasher: &mut Sha256, path: &Path) -> Result<(), Failure> {
    file.seek(SeekFrom::Start(0)).map_err(|e| local_io(path, &e))?;
    let mut buf = vec![0; 256 * 1024];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(left as usize);
        file.read_exact(&mut buf[..want])
            .map_err(|e| local_io(path, &e))?;
        hasher.update(&buf[..want]);
        left -= want as u64;
    }
    Ok(())
}

/// The SHA-256 of a whole local file, read in slices (never all in memory).
fn hash_file(path: &Path) -> Result<String, Failure> {
    let file = File::open(path).map_err(|e| local_io(path, &e))?;
    let mut hashing = Hashing::whole(file)
        .map_err(|e| local_io(path, &e))?
        .with_slice(u64::MAX);
    loop {
        match hashing.step() {
            None => continue,
            Some(Ok(sum)) => return Ok(digest::hex(&sum)),
            Some(Err(digest::HashError::Io(e))) => return Err(local_io(path, &e)),
            Some(Err(digest::HashError::Changed)) => {
                return Err(Failure::Local(format!(
                    "{}: el archivo cambió mientras se leía",
                    path.display()
                )))
            }
        }
    }
}

/// What `resumen` says of a file, beside the local digest.
enum Compared {
    Same,
    /// The digests differ; the server's version is this size and modification time.
    Differs {
        bytes: u64,
        modified: i64,
    },
    /// The server has no `resumen` (an older almacen, or the course's server).
    Unavailable,
}

/// Asks `resumen` for `name` and compares its sha256 with `local`. In protocol 2 every
/// refusal is a failure; in the course's protocol a refusal means the server does not
/// know `resumen`, and the check is skipped.
fn compare(link: &mut dyn Call, name: &str, local: &str) -> Result<Compared, Failure> {
    let reply = match link.ask("resumen", Data::str(name)) {
        Ok(reply) => reply,
        Err(Failure::Server(m)) if !link.protocol2() => {
            log::debug!("no sha256 check for {name}: the server answered resumen with {m:?}");
            return Ok(Compared::Unavailable);
        }
        Err(f) => return Err(f),
    };
    let odd = || Failure::Reply("respuesta inesperada del servidor a resumen".into());
    let remote = match get(&reply, "sha256") {
        Some(Value::String(s)) => s.to_ascii_lowercase(),
        _ => return Err(odd()),
    };
    if remote == local {
        log::debug!("sha256 of {name} matches the server's: {local}");
        return Ok(Compared::Same);
    }
    let bytes = ops::int(&reply, "bytes").and_then(|n| u64::try_from(n).ok());
    let modified = ops::int(&reply, "modificado");
    match (bytes, modified) {
        (Some(bytes), Some(modified)) => Ok(Compared::Differs { bytes, modified }),
        _ => Err(odd()),
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
    /// Size of the file at the end.
    pub bytes: u64,
    /// Where it started: the bytes an earlier, interrupted run had already saved.
    pub from: u64,
}

impl Downloaded {
    /// The line that tells the person where `name` went and how big it is, and where a
    /// resumed download took up again. The menu and the subcommand print the same.
    pub fn report(&self, name: &str, dest: &Path) -> String {
        if self.from > 0 {
            format!(
                "Descargado {name} en {} ({}; se continuó desde {})",
                dest.display(),
                human(self.bytes),
                human(self.from)
            )
        } else {
            format!("Descargado {name} en {} ({})", dest.display(), human(self.bytes))
        }
    }
}

/// What is known before a download starts: the server's version of the file, and what
/// an interrupted earlier run left beside the destination.
#[derive(Debug)]
pub struct Plan {
    name: String,
    dest: PathBuf,
    /// The server's size and modification time, when its listing has the file.
    version: Option<Entry>,
    /// The partial file for that version, and its size, when one is there.
    pub partial: Option<(PathBuf, u64)>,
    /// Partial files of other versions: useless now.
    stale: Vec<PathBuf>,
}

impl Plan {
    /// The server's size of the file, if known.
    pub fn total(&self) -> Option<u64> {
        self.version.as_ref().map(|v| v.bytes)
    }

    /// Bytes an earlier run saved for this same version (0 if none).
    pub fn resumable(&self) -> u64 {
        self.partial.as_ref().map_or(0, |p| p.1)
    }
}

/// The hidden partial name for `dest` and a version: `.NAME.BYTES-MTIME.parcial`.
fn partial_path(dest: &Path, version: Option<&Entry>) -> PathBuf {
    let file = dest
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stamp = match version {
        Some(v) => format!("{}-{}", v.bytes, v.modified),
        None => "x".to_string(),
    };
    // File names are limited to 255 bytes; a long name gives up some of its own tail.
    let room = 255usize.saturating_sub(stamp.len() + ".parcial".len() + 3);
    let mut cut = file.len().min(room);
    while !file.is_char_boundary(cut) {
        cut -= 1;
    }
    dest.with_file_name(format!(".{}.{stamp}.parcial", &file[..cut]))
}

/// Looks at the server's listing and at what lies beside `dest`.
pub fn plan_download(link: &mut dyn Call, name: &str, dest: &Path) -> Result<Plan, Failure> {
    let version = ops::listar_detalle(link)?.into_iter().find(|e| e.name == name);
    let partial = partial_path(dest, version.as_ref());
    let mut plan = Plan {
        name: name.to_string(),
        dest: dest.to_path_buf(),
        version,
        partial: None,
        stale: Vec::new(),
    };
    // Other versions' partials share the prefix `.NAME.` and end in `.parcial`.
    let file = partial
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let prefix = file.rsplitn(3, '.').last().unwrap_or_default().to_string();
    let dir = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if let Ok(entries) = fs::read_dir(dir) {
        for entry in entries.flatten() {
            let found = entry.file_name().to_string_lossy().into_owned();
            if found == file {
                let len = entry.metadata().map_or(0, |m| m.len());
                let fits = plan.version.as_ref().is_some_and(|v| len <= v.bytes);
                if fits {
                    plan.partial = Some((entry.path(), len));
                } else {
                    plan.stale.push(entry.path());
                }
            } else if is_partial_of(&found, &prefix) {
                plan.stale.push(entry.path());
            }
        }
    }
    Ok(plan)
}

/// Whether `found` is a partial download named from `prefix` (`.NAME`), of any version.
fn is_partial_of(found: &str, prefix: &str) -> bool {
    let stamp = found
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".parcial"));
    match stamp {
        Some("x") => true,
        Some(s) => !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit() || b == b'-'),
        None => false,
    }
}

/// Downloads by `plan` in ranges. With `resume`, keeps the partial bytes an earlier run
/// saved and asks only for the rest; otherwise starts from zero. The file is renamed into
/// place only once its size matches the server's and the server's version did not change
/// meanwhile. Nothing is created until the server has answered the first range, so a
/// refused download leaves nothing behind.
pub fn download(link: &mut dyn Call, plan: Plan, resume: bool) -> Result<Downloaded, Failure> {
    for old in &plan.stale {
        let _ = fs::remove_file(old);
    }
    let temp = partial_path(&plan.dest, plan.version.as_ref());
    let from = if resume { plan.resumable() } else { 0 };
    if from == 0 {
        let _ = fs::remove_file(&temp);
    }
    let at = fetch_ranges(link, &plan, &temp, from).map_err(|f| cut_short(f, &plan, &temp))?;
    check_same_version(link, &plan, &temp, at)?;
    check_digest(link, &plan, &temp)?;
    fs::rename(&temp, &plan.dest).map_err(|e| local_io(&plan.dest, &e))?;
    Ok(Downloaded { bytes: at, from })
}

/// A download the server cut (it shut down, crashed, or the network dropped): what was
/// kept and how to go on, in one line. The partial stays beside the destination, and
/// the same command finds it and asks only for the rest. A refusal (no such file) or a
/// local problem is not a cut and is returned as it is.
fn cut_short(failure: Failure, plan: &Plan, temp: &Path) -> Failure {
    let kept = fs::metadata(temp).map_or(0, |m| m.len());
    let of = plan
        .total()
        .map_or(String::new(), |t| format!(" de {}", human(t)));
    let again = "ejecute el mismo comando (en el menú, descargar otra vez) para continuar desde ahí";
    let name = &plan.name;
    if is_server_closing(&failure) {
        return Failure::Link(format!(
            "el servidor se cerró a mitad de la descarga de {name} (lo detuvieron; avisó antes \
             de irse): se guardaron {}{of}; cuando vuelva a estar en marcha, {again}",
            human(kept)
        ));
    }
    match failure {
        Failure::Link(why) | Failure::Reply(why) => Failure::Link(format!(
            "la descarga de {name} se cortó sin aviso del servidor ({why}): se guardaron \
             {}{of}; {again}",
            human(kept)
        )),
        other => other,
    }
}

/// Asks for the file a range at a time from byte `from` on, appending each to the
/// partial file at `temp` (made on the first answer), until a short range says the file
/// ended. Returns the partial's size, its bytes safely on disk.
fn fetch_ranges(link: &mut dyn Call, plan: &Plan, temp: &Path, from: u64) -> Result<u64, Failure> {
    let mut progress = Progress::new("descargando", plan.total(), from);
    let mut at = from;
    let mut file: Option<File> = None;
    loop {
        let data = Data::dict([
            ("nombre", Data::str(plan.name.as_str())),
            ("desde", Data::Int(at as i64)),
            ("largo", Data::Int(PIECE as i64)),
        ]);
        let piece = match link.ask("descargar", data)? {
            Value::Bytes(b) => b,
            _ => {
                return Err(Failure::Reply(
                    "respuesta inesperada del servidor a descargar".into(),
                ))
            }
        };
        let out = match &mut file {
            Some(f) => f,
            None => file.insert(open_partial(temp, from > 0)?),
        };
        out.write_all(&piece).map_err(|e| local_io(temp, &e))?;
        at += piece.len() as u64;
        progress.update(at);
        // A short piece is the end of the file.
        if (piece.len() as u64) < PIECE {
            break;
        }
    }
    progress.finish();
    let file = file.expect("at least one piece was written");
    file.sync_all().map_err(|e| local_io(temp, &e))?;
    Ok(at)
}

/// Downloads `name` whole, with one `descargar` that carries just the name: all a server
/// like the course's understands. It has no ranges (nothing to resume) and no `resumen`
/// (nothing to check against), which is said once. The bytes land under the partial name
/// first, or come already on disk when the reader spilled a large reply, and are renamed
/// into place only when all of them arrived.
pub fn download_whole(link: &mut dyn Call, name: &str, dest: &Path) -> Result<Downloaded, Failure> {
    let msg = link.call("descargar", Data::str(name))?;
    if msg.estado != "ok" {
        return Err(match msg.data {
            Value::String(words) => Failure::Server(words),
            // The course's server says only estado="error", for a name it does not have.
            _ => Failure::Server(format!(
                "el servidor no entregó {name}: no lo tiene (vea los nombres con listar)"
            )),
        });
    }
    let temp = partial_path(dest, None);
    let bytes = match (msg.spill, msg.data) {
        (Some(spill), _) => {
            let len = fs::metadata(spill.path())
                .map_err(|e| local_io(spill.path(), &e))?
                .len();
            // The spill sits in descargas/; a destination elsewhere (-o on another disk)
            // may not take a rename, and gets a copy.
            if fs::rename(spill.path(), &temp).is_err() {
                fs::copy(spill.path(), &temp).map_err(|e| local_io(&temp, &e))?;
            } else {
                spill.keep();
            }
            len
        }
        (None, Value::Bytes(content)) => {
            let mut file = open_partial(&temp, false)?;
            file.write_all(&content).map_err(|e| local_io(&temp, &e))?;
            content.len() as u64
        }
        _ => {
            return Err(Failure::Reply(
                "respuesta inesperada del servidor a descargar".into(),
            ))
        }
    };
    File::open(&temp)
        .and_then(|f| f.sync_all())
        .map_err(|e| local_io(&temp, &e))?;
    fs::rename(&temp, dest).map_err(|e| local_io(dest, &e))?;
    unchecked_once();
    Ok(Downloaded { bytes, from: 0 })
}

/// Says, once per run, that downloads go unchecked: the server has no `resumen`.
fn unchecked_once() {
    static SAID: std::sync::Once = std::sync::Once::new();
    SAID.call_once(|| {
        eprintln!("(sin verificar el sha256: este servidor no ofrece resumen)");
    });
}

/// The same version from start to end: same size now (`at`), and same size and time in
/// the listing as when we began. A file replaced meanwhile would mix two versions.
fn check_same_version(link: &mut dyn Call, plan: &Plan, temp: &Path, at: u64) -> Result<(), Failure> {
    let Some(version) = &plan.version else {
        return Ok(());
    };
    let now = ops::listar_detalle(link)?
        .into_iter()
        .find(|e| e.name == plan.name);
    if at != version.bytes || now.as_ref() != Some(version) {
        let _ = fs::remove_file(temp);
        return Err(changed(&plan.name));
    }
    Ok(())
}

/// The bytes themselves: the server's digest of its file against ours of what arrived
/// (a resumed download included, whose first part came in an earlier run).
fn check_digest(link: &mut dyn Call, plan: &Plan, temp: &Path) -> Result<(), Failure> {
    let name = plan.name.as_str();
    let local = hash_file(temp)?;
    let Compared::Differs { bytes, modified } = compare(link, name, &local)? else {
        return Ok(());
    };
    // Either way the partial is of no use: it is of an old version, or some of its
    // bytes are wrong and nobody knows which, so resuming from it would keep them.
    let _ = fs::remove_file(temp);
    let same_version = plan
        .version
        .as_ref()
        .is_some_and(|v| v.bytes == bytes && v.modified == modified);
    if !same_version {
        return Err(changed(name));
    }
    Err(Failure::Reply(format!(
        "{name} llegó dañado: el sha256 de lo recibido no coincide con el del servidor; \
         se descartó lo descargado, vuelva a descargarlo"
    )))
}

/// The server's file changed while we downloaded it.
fn changed(name: &str) -> Failure {
    Failure::Local(format!(
        "{name} cambió en el servidor durante la descarga; vuelva a descargarlo"
    ))
}

fn open_partial(path: &Path, resume: bool) -> Result<File, Failure> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| local_io(parent, &e))?;
    }
    let mut options = OpenOptions::new();
    if resume {
        options.append(true);
    } else {
        options.write(true).create(true).truncate(true);
    }
    options.open(path).map_err(|e| match e.kind() {
        // The partial vanished between the plan and now: say it plainly.
        ErrorKind::NotFound if resume => Failure::Local(format!(
            "{}: la descarga interrumpida ya no está; vuelva a intentarlo",
            path.display()
        )),
        _ => local_io(path, &e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partial's name carries the version, stays hidden, and fits in 255 bytes.
    #[test]
    fn partial_names_carry_the_version() {
        let v = Entry {
            name: "foto.png".into(),
            bytes: 68_400,
            modified: 1_700_000_000,
        };
        let p = partial_path(Path::new("descargas/foto.png"), Some(&v));
        assert_eq!(p, Path::new("descargas/.foto.png.68400-1700000000.parcial"));
        let long = "ñ".repeat(127);
        let p = partial_path(Path::new(&long), Some(&v));
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(name.len() <= 255 && name.ends_with(".parcial"), "{name}");
    }

    /// Another version's partial is recognised; a partial of another file is not.
    #[test]
    fn stale_partials_are_only_this_files() {
        assert!(is_partial_of(".foto.png.10-20.parcial", ".foto.png"));
        assert!(is_partial_of(".foto.png.x.parcial", ".foto.png"));
        assert!(!is_partial_of(".foto.png.bak.10-20.parcial", ".foto.png"));
        assert!(!is_partial_of(".foto.png", ".foto.png"));
    }
}
