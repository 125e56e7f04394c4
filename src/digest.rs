//! SHA-256 of files, a bounded slice at a time, and a cache of the digests already known.
//!
//! `resumen` answers with a file's SHA-256, and uploads may carry one to be checked.
//! Hashing 4 GiB takes seconds, and this server has one thread, so, like `duplicar`'s
//! copy, hashing is a small job ([`Hashing`]) that the loop advances by one slice per turn
//! (4 MiB: a few milliseconds with the CPU's SHA instructions). A finished digest is kept
//! in a [`Cache`] keyed by which file it is (device and inode), its size and its times, so
//! asking again for an unchanged file costs one `stat`.

use sha2::{Digest, Sha256};
use std::collections::{HashMap, VecDeque};
use std::fs::{File, Metadata};
use std::io::{self, Read, Seek, SeekFrom};
use std::time::{Duration, SystemTime};

/// A SHA-256 digest.
pub type Sum = [u8; 32];

/// Bytes hashed per turn of the loop.
pub(crate) const SLICE: u64 = 4 * 1024 * 1024;
/// Bytes read per system call.
const BUFFER: usize = 256 * 1024;

/// The digest of bytes in memory (a whole upload, already received).
pub fn of_bytes(bytes: &[u8]) -> Sum {
    Sha256::digest(bytes).into()
}

/// The digest as the protocol writes it: 64 lowercase hex digits.
pub fn hex(sum: &Sum) -> String {
    sum.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads a client's `sha256` field: 64 hex digits, either case.
pub(crate) fn parse_hex(text: &str) -> Result<Sum, String> {
    let bad = || "sha256 debe tener 64 dígitos hexadecimales".to_string();
    let digits = text.as_bytes();
    if digits.len() != 64 {
        return Err(bad());
    }
    let mut sum = [0u8; 32];
    // Digit by digit: `u8::from_str_radix` would also take a sign ("+f").
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8).ok_or_else(bad);
    for (byte, pair) in sum.iter_mut().zip(digits.chunks_exact(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Ok(sum)
}

/// Why hashing a file failed.
#[derive(Debug)]
pub enum HashError {
    /// The file was written, truncated or replaced while it was being read: the digest
    /// would describe no version of it.
    Changed,
    Io(io::Error),
}

impl HashError {
    /// What the client is told.
    pub(crate) fn mensaje(&self) -> &'static str {
        match self {
            HashError::Changed => "el archivo cambió mientras se calculaba su resumen; intente de nuevo",
            HashError::Io(_) => "no se pudo leer el archivo",
        }
    }
}

impl std::fmt::Display for HashError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HashError::Changed => f.write_str("the file changed while being hashed"),
            HashError::Io(e) => write!(f, "read failed: {e}"),
        }
    }
}

/// A file being hashed, one slice per [`step`](Hashing::step).
pub struct Hashing {
    file: File,
    hasher: Sha256,
    done: u64,
    len: u64,
    slice: u64,
    buf: Vec<u8>,
    /// The file as it was when hashing started; it must be the same at the end.
    key: FileKey,
    finished: bool,
}

impl Hashing {
    /// Hashes the whole file, as long as it is now.
    pub fn whole(file: File) -> io::Result<Hashing> {
        let meta = file.metadata()?;
        Hashing::prefix(file, meta.len())
    }

    /// Hashes the first `len` bytes (what is staged of an upload in parts).
    pub(crate) fn prefix(mut file: File, len: u64) -> io::Result<Hashing> {
        let key = FileKey::of(&file.metadata()?);
        file.seek(SeekFrom::Start(0))?;
        Ok(Hashing {
            file,
            hasher: Sha256::new(),
            done: 0,
            len,
            slice: SLICE,
            buf: Vec::new(),
            key,
            finished: false,
        })
    }

    /// Hashes at most `slice` bytes per step (tests use small ones).
    pub fn with_slice(mut self, slice: u64) -> Hashing {
        self.slice = slice.max(1);
        self
    }

    /// Hashes the next slice. `None`: more to do. `Some`: the digest, or why there is
    /// none. Calling again after `Some` is an error, not a second digest.
    pub fn step(&mut self) -> Option<Result<Sum, HashError>> {
        if self.finished {
            return Some(Err(HashError::Io(io::Error::other("hashing already finished"))));
        }
        if self.buf.is_empty() {
            self.buf = vec![0; BUFFER.min(self.len as usize).max(1)];
        }
        let target = self.done.saturating_add(self.slice).min(self.len);
        while self.done < target {
            let want = ((target - self.done) as usize).min(self.buf.len());
            match self.file.read(&mut self.buf[..want]) {
                // The file is shorter than it was: it was truncated under us.
                Ok(0) => return Some(self.end(Err(HashError::Changed))),
                Ok(n) => {
                    self.hasher.update(&self.buf[..n]);
                    self.done += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(self.end(Err(HashError::Io(e)))),
            }
        }
        if self.done < self.len {
            return None;
        }
        let unchanged = match self.file.metadata() {
            Ok(meta) => FileKey::of(&meta) == self.key,
            Err(e) => return Some(self.end(Err(HashError::Io(e)))),
        };
        let sum = self.hasher.finalize_reset().into();
        Some(self.end(if unchanged {
            Ok(sum)
        } else {
            Err(HashError::Changed)
        }))
    }

    fn end(&mut self, result: Result<Sum, HashError>) -> Result<Sum, HashError> {
        self.finished = true;
        self.buf = Vec::new();
        result
    }

    /// Bytes hashed so far, and in all.
    pub(crate) fn progress(&self) -> (u64, u64) {
        (self.done, self.len)
    }

    /// Which file this is, for [`Cache::put`] once the digest is known.
    pub(crate) fn key(&self) -> &FileKey {
        &self.key
    }
}

/// Which file, and which version of it: what a cached digest is valid for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct FileKey {
    /// Device, inode, and when the inode last changed (see [`os_identity`]).
    identity: Option<[i64; 4]>,
    size: u64,
    modified: Option<SystemTime>,
}

impl FileKey {
    pub(crate) fn of(meta: &Metadata) -> FileKey {
        FileKey {
            identity: os_identity(meta),
            size: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// Only files the OS can name beyond their path, with a modification time, are cached.
    fn cacheable(&self) -> bool {
        self.identity.is_some() && self.modified.is_some()
    }
}

/// The file's device and inode, and its ctime (when the inode last changed, which unlike
/// mtime no program can set back), so a file rewritten in place or replaced by a rename
/// gets a new key. `None` where the platform cannot say (Windows); such files are hashed
/// every time instead of trusting name, size and mtime.
fn os_identity(meta: &Metadata) -> Option<[i64; 4]> {
    crate::sys::identity(meta)
}

/// Finished digests, by [`FileKey`], the oldest forgotten first.
#[derive(Debug)]
pub struct Cache {
    sums: HashMap<FileKey, Sum>,
    order: VecDeque<FileKey>,
    capacity: usize,
}

/// A file modified this recently is not cached: two writes within one tick of the file
/// system's clock could leave the same size and times (as `listar`'s cache also assumes).
pub(crate) const SETTLE: Duration = Duration::from_secs(2);

impl Default for Cache {
    fn default() -> Self {
        Cache::new(4096)
    }
}

impl Cache {
    pub(crate) fn new(capacity: usize) -> Cache {
        Cache {
            sums: HashMap::new(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// The digest of the file `meta` describes, if it is known and the file unchanged.
    pub(crate) fn get(&self, meta: &Metadata) -> Option<Sum> {
        self.sums.get(&FileKey::of(meta)).copied()
    }

    /// Remembers a digest computed for `key` (from [`Hashing::key`]), unless the file was
    /// modified too recently (before `now - SETTLE`) to tell versions apart.
    pub(crate) fn put(&mut self, key: FileKey, sum: Sum, now: SystemTime) {
        let settled = key
            .modified
            .is_some_and(|m| now.duration_since(m).is_ok_and(|age| age >= SETTLE));
        if !key.cacheable() || !settled || self.sums.contains_key(&key) {
            return;
        }
        if self.sums.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.sums.remove(&oldest);
            }
        }
        self.order.push_back(key.clone());
        self.sums.insert(key, sum);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sums.len()
    }

    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.sums.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    /// A scratch file that is removed at the end of the test.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(tag: &str, bytes: &[u8]) -> Scratch {
            let path = std::env::temp_dir().join(format!("almacen-digest-{tag}-{}", std::process::id()));
            std::fs::write(&path, bytes).unwrap();
            Scratch(path)
        }

        fn open(&self) -> File {
            File::open(&self.0).unwrap()
        }

        /// Sets the modification time `secs` seconds into the past.
        fn age(&self, secs: u64) {
            let f = std::fs::OpenOptions::new().write(true).open(&self.0).unwrap();
            f.set_modified(SystemTime::now() - Duration::from_secs(secs))
                .unwrap();
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn run(mut h: Hashing) -> (Result<Sum, HashError>, usize) {
        let mut steps = 1;
        loop {
            if let Some(r) = h.step() {
                return (r, steps);
            }
            steps += 1;
        }
    }

    fn content(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 % 251) as u8).collect()
    }

    /// The standard test vectors, written as the protocol writes them.
    #[test]
    fn known_vectors_hash_and_print_as_lowercase_hex() {
        assert_eq!(
            hex(&of_bytes(b"")),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        assert_eq!(
            hex(&of_bytes(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    /// Hex digits parse back in either case; anything else is a Spanish error.
    #[test]
    fn hex_parses_back_and_bad_text_is_refused() {
        let sum = of_bytes(b"abc");
        assert_eq!(parse_hex(&hex(&sum)), Ok(sum));
        assert_eq!(parse_hex(&hex(&sum).to_uppercase()), Ok(sum));
        for bad in [
            "",
            "abc",
            &"g".repeat(64),
            &"ñ".repeat(32),
            &"0".repeat(65),
            &"+1".repeat(32),
        ] {
            assert_eq!(
                parse_hex(bad),
                Err("sha256 debe tener 64 dígitos hexadecimales".into()),
                "{bad}"
            );
        }
    }

    /// A file hashed in small slices, one per step, gives the one-shot digest.
    #[test]
    fn slices_give_the_same_digest_as_one_shot() {
        let bytes = content(100_003);
        let f = Scratch::new("slices", &bytes);
        let (sum, steps) = run(Hashing::whole(f.open()).unwrap().with_slice(10_000));
        assert_eq!(sum.unwrap(), of_bytes(&bytes));
        assert_eq!(steps, 11, "ten full slices and a short one");
        let (empty, steps) = run(Hashing::whole(Scratch::new("empty", b"").open()).unwrap());
        assert_eq!((empty.unwrap(), steps), (of_bytes(b""), 1));
    }

    /// A prefix (the staged part of an upload) hashes only its first bytes.
    #[test]
    fn a_prefix_hashes_only_its_first_bytes() {
        let bytes = content(50_000);
        let f = Scratch::new("prefix", &bytes);
        let (sum, _) = run(Hashing::prefix(f.open(), 12_345).unwrap().with_slice(4096));
        assert_eq!(sum.unwrap(), of_bytes(&bytes[..12_345]));
    }

    /// A file truncated while it is hashed gives `Changed`, and a step after the end is
    /// an error rather than a second, wrong digest.
    #[test]
    fn a_file_cut_short_midway_is_reported_as_changed() {
        let f = Scratch::new("cut", &content(30_000));
        let mut h = Hashing::whole(f.open()).unwrap().with_slice(10_000);
        assert!(h.step().is_none());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&f.0)
            .unwrap()
            .set_len(15_000)
            .unwrap();
        let result = loop {
            if let Some(r) = h.step() {
                break r;
            }
        };
        assert!(matches!(result, Err(HashError::Changed)), "{result:?}");
        assert!(matches!(h.step(), Some(Err(HashError::Io(_)))));
        assert_eq!(h.progress().1, 30_000);
    }

    /// A file rewritten with the same size between start and end is caught by its times.
    #[test]
    fn a_file_rewritten_midway_is_reported_as_changed() {
        let f = Scratch::new("rewrite", &content(20_000));
        f.age(3600);
        let mut h = Hashing::whole(f.open()).unwrap().with_slice(10_000);
        assert!(h.step().is_none());
        std::fs::write(&f.0, content(20_000)).unwrap();
        let result = h.step().unwrap();
        assert!(matches!(result, Err(HashError::Changed)), "{result:?}");
    }

    /// A settled file's digest is found again by its metadata; a recent one is not kept.
    #[test]
    fn the_cache_keeps_settled_files_only() {
        let f = Scratch::new("cache", b"hola");
        let mut cache = Cache::default();
        let h = Hashing::whole(f.open()).unwrap();
        let key = h.key().clone();
        let (sum, _) = run(h);
        cache.put(key, sum.unwrap(), SystemTime::now());
        assert!(cache.is_empty(), "modified just now: not cached");
        f.age(60);
        let h = Hashing::whole(f.open()).unwrap();
        let key = h.key().clone();
        let (sum, _) = run(h);
        cache.put(key, sum.unwrap(), SystemTime::now());
        let meta = std::fs::metadata(&f.0).unwrap();
        if os_identity(&meta).is_some() {
            assert_eq!(cache.get(&meta), Some(of_bytes(b"hola")));
        } else {
            assert!(cache.is_empty(), "no OS identity: never cached");
        }
        std::fs::write(&f.0, b"chau").unwrap();
        f.age(60);
        assert_eq!(
            cache.get(&std::fs::metadata(&f.0).unwrap()),
            None,
            "a new version misses"
        );
    }

    /// A full cache forgets its oldest digest first.
    #[test]
    fn a_full_cache_forgets_the_oldest_first() {
        let files: Vec<Scratch> = (0..3)
            .map(|i| {
                let f = Scratch::new(&format!("evict{i}"), &[i as u8]);
                f.age(60);
                f
            })
            .collect();
        let mut cache = Cache::new(2);
        let now = SystemTime::now();
        for f in &files {
            let meta = std::fs::metadata(&f.0).unwrap();
            cache.put(FileKey::of(&meta), [0; 32], now);
        }
        let meta = |f: &Scratch| std::fs::metadata(&f.0).unwrap();
        let known = |f: &Scratch| cache.get(&meta(f)).is_some();
        if os_identity(&meta(&files[0])).is_some() {
            assert_eq!(cache.len(), 2);
            assert!(!known(&files[0]) && known(&files[1]) && known(&files[2]));
        }
    }
}
