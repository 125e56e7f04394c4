//! Windows: folder work by path, a console thread, Ctrl-C through a `mio::Waker`.
//!
//! - **Folders by path.** Windows has no `openat` family in its documented API (the
//!   native `NtCreateFile` takes a root handle, but std does not expose it). The rules
//!   that matter still hold: a name is checked with `symlink_metadata` before use,
//!   reads open the link itself (`FILE_FLAG_OPEN_REPARSE_POINT`) instead of its
//!   target, and creating a symlink needs a privilege ordinary users lack.
//! - **Sharing.** Every file we open lets others read, write *and delete or rename* it
//!   (`FILE_SHARE_DELETE`), so a download in progress never blocks `borrar`,
//!   `renombrar` or `subir reemplazar`. std's default already shares all three; we say
//!   it explicitly because the behaviour depends on it.
//! - **No-overwrite moves.** `MoveFileExW` without `MOVEFILE_REPLACE_EXISTING` fails if
//!   the target exists, atomically, on NTFS and FAT alike.
//! - **The console** cannot be polled: a thread reads it and wakes the loop.
//! - **Stopping**: Ctrl-C, Ctrl-Break and closing the console arrive through the ctrlc
//!   crate's handler thread, which wakes the loop too. (Closing the console gives a
//!   process only until the handler returns: the shutdown may be cut short there.)

use super::{Fault, FileId, Kind, Meta, StdinRead};
use mio::{Registry, Token, Waker};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::windows::ffi::OsStrExt;
use std::os::windows::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use windows_sys::Win32::Storage::FileSystem::{
    MoveFileExW, FILE_FLAG_OPEN_REPARSE_POINT, FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE,
};
#[cfg(test)]
use windows_sys::Win32::Storage::FileSystem::{FILE_FLAG_BACKUP_SEMANTICS, FILE_WRITE_ATTRIBUTES};

const SHARE_ALL: u32 = FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE;

/// A folder, by path.
#[derive(Debug)]
pub struct Dir {
    path: PathBuf,
}

impl Dir {
    pub fn open(path: &Path) -> io::Result<Dir> {
        if !fs::metadata(path)?.is_dir() {
            return Err(io::Error::new(io::ErrorKind::NotADirectory, "not a folder"));
        }
        Ok(Dir {
            path: path.to_path_buf(),
        })
    }

    /// The folder at `path` again, refusing a symlink or junction there
    /// (`NotADirectory`): the served folder swapped for a link must not lead us elsewhere.
    pub fn reopen(path: &Path) -> io::Result<Dir> {
        let meta = fs::symlink_metadata(path)?;
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "a link or a file, not a folder",
            ));
        }
        Ok(Dir {
            path: path.to_path_buf(),
        })
    }

    /// Always the same: by path, the folder is whatever the path names now.
    pub fn id(&self) -> FileId {
        FileId::default()
    }

    /// The plain folder `name`: a symlink or junction is `NotADirectory`.
    pub fn open_folder(&self, name: &str) -> io::Result<Dir> {
        let path = self.path.join(name);
        let meta = fs::symlink_metadata(&path)?;
        if meta.file_type().is_symlink() || !meta.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "a link or a file, not a folder",
            ));
        }
        Ok(Dir { path })
    }

    /// None: Windows offers no documented way for a program to flush a folder's names
    /// (`FlushFileBuffers` wants a file opened for writing). NTFS records every name it
    /// changes in its own journal, which it commits within seconds; until then a power
    /// cut can undo a name (never leave half a file under it). The file's bytes are
    /// still flushed before the name is given.
    pub fn flush_handle(&self) -> io::Result<Option<File>> {
        Ok(None)
    }

    /// Creates `name`. Its permissions are inherited from the served folder's ACL.
    pub fn create_folder(&self, name: &str) -> io::Result<()> {
        fs::create_dir(self.path.join(name))
    }

    pub fn stat(&self, name: &str) -> io::Result<Meta> {
        Ok(meta_of(&fs::symlink_metadata(self.path.join(name))?))
    }

    /// Opens `name` for reading; a link is opened as itself, so it is not a file.
    pub fn open_read(&self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .share_mode(SHARE_ALL)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(self.path.join(name))
    }

    pub fn create_new(&self, name: &str) -> io::Result<File> {
        OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .share_mode(SHARE_ALL)
            .open(self.path.join(name))
    }

    pub fn open_write(&self, name: &str) -> io::Result<File> {
        let path = self.path.join(name);
        if fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "a link, not a file"));
        }
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .share_mode(SHARE_ALL)
            .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
            .open(path)
    }

    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        fs::remove_file(self.path.join(name))
    }

    pub fn link(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
        fs::hard_link(self.path.join(from), to_dir.path.join(to))
    }

    /// Replaces `to` (std uses POSIX semantics where Windows has them, so even a file
    /// open elsewhere is replaced).
    pub fn rename(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
        fs::rename(self.path.join(from), to_dir.path.join(to))
    }

    pub fn rename_noreplace(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
        let wide = |p: &Path| -> Vec<u16> { p.as_os_str().encode_wide().chain(Some(0)).collect() };
        let (src, dst) = (wide(&self.path.join(from)), wide(&to_dir.path.join(to)));
        // SAFETY: both strings are NUL-terminated and live across the call; no flags
        // means "fail if the target exists".
        if unsafe { MoveFileExW(src.as_ptr(), dst.as_ptr(), 0) } == 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn for_each(&self, mut each: impl FnMut(&str, Kind)) -> io::Result<()> {
        for entry in fs::read_dir(&self.path)? {
            let entry = entry?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if let Ok(t) = entry.file_type() {
                each(&name, kind_of(t));
            }
        }
        Ok(())
    }
}

pub fn open_read_path(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).share_mode(SHARE_ALL).open(path)
}

/// Sets the modification time of a file or folder. A folder opens only with
/// `FILE_FLAG_BACKUP_SEMANTICS`, and only the right to write attributes is asked.
#[cfg(test)]
pub fn set_modified(path: &Path, t: std::time::SystemTime) -> io::Result<()> {
    OpenOptions::new()
        .access_mode(FILE_WRITE_ATTRIBUTES)
        .share_mode(SHARE_ALL)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?
        .set_modified(t)
}

/// Which file this is: std has no stable way to ask on Windows, so nothing is known (and
/// digests are not remembered there).
pub fn identity(_meta: &std::fs::Metadata) -> Option<[i64; 4]> {
    None
}

pub fn stat_path(path: &Path) -> io::Result<Meta> {
    Ok(meta_of(&fs::metadata(path)?))
}

/// What `path` itself is, without following a symlink or junction at its end.
pub fn lstat_path(path: &Path) -> io::Result<Meta> {
    Ok(meta_of(&fs::symlink_metadata(path)?))
}

fn kind_of(t: fs::FileType) -> Kind {
    if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Folder
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

fn meta_of(m: &fs::Metadata) -> Meta {
    Meta {
        kind: kind_of(m.file_type()),
        len: m.len(),
        modified: m.modified().ok(),
        id: FileId::default(),
    }
}

/// Windows' positional read moves the file's cursor too; nothing here uses the cursor.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    match file.seek_read(buf, offset) {
        // Reading past the end is an error on Windows (ERROR_HANDLE_EOF), 0 elsewhere.
        Err(e) if e.raw_os_error() == Some(ERROR_HANDLE_EOF) => Ok(0),
        other => other,
    }
}

pub fn write_all_at(file: &File, mut buf: &[u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.seek_write(buf, offset) {
            Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
            Ok(n) => {
                buf = &buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// No SO_REUSEADDR on Windows: there it would let another program take over the port.
pub(super) fn prepare_listener(_: &socket2::Socket) -> io::Result<()> {
    Ok(())
}

// Windows error codes (winerror.h) and Winsock codes we tell apart.
const ERROR_TOO_MANY_OPEN_FILES: i32 = 4;
const ERROR_ACCESS_DENIED: i32 = 5;
const ERROR_NOT_ENOUGH_MEMORY: i32 = 8;
const ERROR_OUTOFMEMORY: i32 = 14;
const ERROR_WRITE_PROTECT: i32 = 19;
const ERROR_SHARING_VIOLATION: i32 = 32;
const ERROR_LOCK_VIOLATION: i32 = 33;
const ERROR_HANDLE_EOF: i32 = 38;
const ERROR_HANDLE_DISK_FULL: i32 = 39;
const ERROR_NOT_SUPPORTED: i32 = 50;
const ERROR_DISK_FULL: i32 = 112;
const ERROR_INVALID_FUNCTION: i32 = 1;
const ERROR_DISK_QUOTA_EXCEEDED: i32 = 1295;
const WSAENOBUFS: i32 = 10055;
const WSAEMFILE: i32 = 10024;

pub(super) fn fault_of_code(code: i32) -> Option<Fault> {
    Some(match code {
        ERROR_DISK_FULL | ERROR_HANDLE_DISK_FULL | ERROR_DISK_QUOTA_EXCEEDED => Fault::DiskFull,
        ERROR_WRITE_PROTECT => Fault::ReadOnly,
        ERROR_ACCESS_DENIED => Fault::Denied,
        ERROR_TOO_MANY_OPEN_FILES | WSAEMFILE => Fault::OutOfDescriptors,
        ERROR_NOT_ENOUGH_MEMORY | ERROR_OUTOFMEMORY | WSAENOBUFS => Fault::OutOfMemory,
        ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION => Fault::InUse,
        _ => return None,
    })
}

/// FAT and exFAT refuse `CreateHardLinkW` with one of these.
pub(super) fn links_unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(ERROR_INVALID_FUNCTION | ERROR_NOT_SUPPORTED)
    ) || e.kind() == io::ErrorKind::Unsupported
}

pub(super) fn replace_blocked_by_open_file(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(ERROR_ACCESS_DENIED | ERROR_SHARING_VIOLATION | ERROR_LOCK_VIOLATION)
    )
}

/// Nothing like RLIMIT_NOFILE limits sockets and file handles on Windows.
pub(super) fn raise_open_file_limit() -> Option<u64> {
    None
}

/// `SOMAXCONN` on Windows is `0x7fffffff`: "the largest sensible backlog".
pub(super) fn listen_backlog() -> i32 {
    i32::MAX
}

pub(super) fn tune_allocator() {}

/// Only Linux pays for growing its descriptor table in a process with threads.
pub(super) fn presize_descriptor_table(_n: usize) {}

/// No sendfile for non-blocking sockets: read a chunk and write it.
pub(super) fn send_file(
    sock: &mut mio::net::TcpStream,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    super::send_file_buffered(sock, file, offset, len)
}

pub(super) fn copy_slice(
    src: &File,
    dst: &File,
    offset: u64,
    want: u64,
    _kernel: &mut bool,
) -> io::Result<u64> {
    super::copy_through_memory(src, dst, offset, want)
}

// ---------------------------------------------------------------------------------------
// The console.
//
// A Windows console handle cannot join an I/O completion port, so mio cannot watch it.
// This is the one place almacen bends the design's "one thread, every source in the
// poller": a small thread blocks in `read` on stdin and hands what it read to the loop,
// waking it through a `mio::Waker`. The loop still does all the work; the thread only
// carries bytes. (It stays blocked in `read` until the process exits; that is harmless.)

#[derive(Default)]
struct Inbox {
    bytes: Vec<u8>,
    ended: bool,
    error: Option<io::Error>,
}

pub struct Stdin {
    inbox: Arc<Mutex<Inbox>>,
}

impl Stdin {
    /// A regular file is no console (the same rule as on Unix): refused. A console, a
    /// pipe or NUL are read by the thread.
    pub fn watch(registry: &Registry, token: Token) -> io::Result<Stdin> {
        use std::os::windows::io::AsHandle;
        let regular = io::stdin()
            .as_handle()
            .try_clone_to_owned()
            .ok()
            .and_then(|h| File::from(h).metadata().ok())
            .is_some_and(|m| m.is_file());
        if regular {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stdin is a regular file",
            ));
        }
        let waker = loop_waker(registry, token, true)?;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let shared = Arc::clone(&inbox);
        std::thread::Builder::new()
            .name("consola".into())
            .spawn(move || {
                let mut buf = [0u8; 512];
                let mut stdin = io::stdin();
                loop {
                    let got = stdin.read(&mut buf);
                    let Ok(mut inbox) = shared.lock() else { return };
                    let last = match got {
                        Ok(0) => {
                            inbox.ended = true;
                            true
                        }
                        Ok(n) => {
                            inbox.bytes.extend_from_slice(&buf[..n]);
                            false
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => {
                            inbox.error = Some(e);
                            true
                        }
                    };
                    drop(inbox);
                    let _ = waker.wake();
                    if last {
                        return;
                    }
                }
            })?;
        Ok(Stdin { inbox })
    }

    /// Windows has no background jobs reading a terminal.
    pub fn in_foreground(&self) -> bool {
        true
    }

    pub fn read(&mut self, buf: &mut [u8]) -> StdinRead {
        let Ok(mut inbox) = self.inbox.lock() else {
            return StdinRead::End;
        };
        if !inbox.bytes.is_empty() {
            let n = inbox.bytes.len().min(buf.len());
            buf[..n].copy_from_slice(&inbox.bytes[..n]);
            inbox.bytes.drain(..n);
            return StdinRead::Bytes(n);
        }
        if let Some(e) = inbox.error.take() {
            return StdinRead::Failed(e);
        }
        if inbox.ended {
            StdinRead::End
        } else {
            StdinRead::Empty
        }
    }

    pub fn unwatch(&mut self, _: &Registry) {}
}

/// The loop's one `Waker`: mio allows a single one per poller, so the console thread and
/// the Ctrl-C handler share it. Whichever registers first makes it (the console, in
/// `Server::bind`); the other takes that one. Its token is the maker's, so the loop
/// looks at both the console and the interrupts on either token.
static LOOP_WAKER: Mutex<Option<Arc<Waker>>> = Mutex::new(None);

/// The loop's waker for another thread (the flusher): the console's or Ctrl-C's when
/// either made it, since a poller takes only one. A wake-up on their token finds their
/// inboxes empty, and the loop's turn gives the waiting jobs their look all the same.
pub fn shared_waker(registry: &Registry, token: Token) -> io::Result<Arc<Waker>> {
    loop_waker(registry, token, false)
}

/// The shared waker: a new one when `fresh` (a new poller), else the current one.
fn loop_waker(registry: &Registry, token: Token, fresh: bool) -> io::Result<Arc<Waker>> {
    let mut slot = LOOP_WAKER
        .lock()
        .map_err(|_| io::Error::other("waker lock poisoned"))?;
    match slot.as_ref() {
        Some(w) if !fresh => Ok(Arc::clone(w)),
        _ => {
            let w = Arc::new(Waker::new(registry, token)?);
            *slot = Some(Arc::clone(&w));
            Ok(w)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Ctrl-C, Ctrl-Break, closing the console.

/// Set by the handler, taken by the loop.
static RAISED: AtomicBool = AtomicBool::new(false);
/// The handler can be installed only once per process; it wakes whatever loop is current.
static INSTALLED: AtomicBool = AtomicBool::new(false);

pub struct Interrupts {
    _private: (),
}

impl Interrupts {
    pub fn install(registry: &Registry, token: Token) -> io::Result<Interrupts> {
        loop_waker(registry, token, false)?;
        if !INSTALLED.swap(true, Ordering::SeqCst) {
            ctrlc::set_handler(|| {
                RAISED.store(true, Ordering::SeqCst);
                if let Ok(slot) = LOOP_WAKER.lock() {
                    if let Some(w) = slot.as_ref() {
                        let _ = w.wake();
                    }
                }
            })
            .map_err(io::Error::other)?;
        }
        Ok(Interrupts { _private: () })
    }

    pub fn drain(&self) -> bool {
        RAISED.swap(false, Ordering::SeqCst)
    }
}

/// `FlushFileBuffers`, through the drive's cache.
pub(super) fn flush_to_disk(file: &File) -> io::Result<()> {
    file.sync_all()
}
