//! What Linux and macOS share: a held folder handle and the `*at` calls, stdin as a poll
//! source, SIGINT/SIGTERM through a self-pipe, errno.
//!
//! The folder work goes through rustix, which wraps each system call safely (no raw
//! pointers, `OwnedFd` instead of integers). libc is left only for what rustix does not
//! offer: installing a signal handler, and errno inside it.

use super::{Fault, FileId, Kind, Meta, StdinRead};
use mio::unix::pipe;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token, Waker};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags};
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// A folder held open. Every name is looked up relative to it, so a folder renamed or
/// a symlink planted along the path after we opened it changes nothing for us.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    id: FileId,
}

/// Permissions of the files we create (before the umask): like any program's.
const FILE_MODE: u32 = 0o666;
/// Folders we create (staging) are private to the server's user: staged bytes are
/// nobody else's business yet.
const PRIVATE_FOLDER: u32 = 0o700;

impl Dir {
    /// Opens a folder by path (the served folder, named by the operator: links in this
    /// path are followed, as the operator meant them).
    pub fn open(path: &Path) -> io::Result<Dir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Dir::from_fd(fd)
    }

    /// Opens the folder at `path` again, refusing a symlink in its last step
    /// (`NotADirectory`): the served folder swapped for a link while serving must not
    /// lead us anywhere else. (The path was resolved to its canonical form at start, so
    /// the operator's own links are already behind us.)
    pub fn reopen(path: &Path) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::open(path, flags, Mode::empty()) {
            Ok(fd) => Dir::from_fd(fd),
            Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::MLINK => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "a symbolic link, not a folder",
            )),
            Err(e) => Err(e.into()),
        }
    }

    fn from_fd(fd: OwnedFd) -> io::Result<Dir> {
        let id = meta_of(&rustix::fs::fstat(&fd)?).id;
        Ok(Dir { fd, id })
    }

    /// Which folder this is (to notice when its path names another one).
    pub fn id(&self) -> FileId {
        self.id
    }

    /// Opens the folder `name` inside this one, refusing a symlink or anything that is
    /// not a plain folder (`NotADirectory`). `NotFound` when nothing holds the name.
    pub fn open_folder(&self, name: &str) -> io::Result<Dir> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        match rustix::fs::openat(&self.fd, name, flags, Mode::empty()) {
            Ok(fd) => Dir::from_fd(fd),
            // O_NOFOLLOW on a symlink: ELOOP (FreeBSD says EMLINK).
            Err(e) if e == rustix::io::Errno::LOOP || e == rustix::io::Errno::MLINK => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                "a symbolic link, not a folder",
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// A handle to flush the folder's names with (`fsync` on a folder's descriptor
    /// writes its entries: a name just linked or renamed into it survives a power cut).
    pub fn flush_handle(&self) -> io::Result<Option<File>> {
        Ok(Some(File::from(self.fd.try_clone()?)))
    }

    /// Creates the private folder `name` inside this one.
    pub fn create_folder(&self, name: &str) -> io::Result<()> {
        rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(PRIVATE_FOLDER as _))?;
        Ok(())
    }

    /// What `name` holds, without following a symlink.
    pub fn stat(&self, name: &str) -> io::Result<Meta> {
        Ok(meta_of(&rustix::fs::statat(
            &self.fd,
            name,
            AtFlags::SYMLINK_NOFOLLOW,
        )?))
    }

    /// Opens `name` for reading; a symlink is refused (`O_NOFOLLOW`). `O_NONBLOCK` keeps
    /// the open itself from waiting on a FIFO swapped in behind our back.
    pub fn open_read(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(&self.fd, name, flags, Mode::empty())?.into())
    }

    /// Creates `name`, which must not exist, for reading and writing.
    pub fn create_new(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(FILE_MODE as _))?.into())
    }

    /// Opens `name` for writing, creating it if missing; never through a symlink.
    pub fn open_write(&self, name: &str) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        Ok(rustix::fs::openat(&self.fd, name, flags, Mode::from_raw_mode(FILE_MODE as _))?.into())
    }

    /// Removes the name `name` (a symlink: only the link).
    pub fn remove_file(&self, name: &str) -> io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty())?;
        Ok(())
    }

    /// Gives the file `from` a second name `to` in `to_dir`; `AlreadyExists` if taken.
    /// A symlink is linked as itself, never followed.
    pub fn link(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
        rustix::fs::linkat(&self.fd, from, &to_dir.fd, to, AtFlags::empty())?;
        Ok(())
    }

    /// Moves `from` to `to` in `to_dir`, replacing what `to` held, in one step.
    pub fn rename(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
        rustix::fs::renameat(&self.fd, from, &to_dir.fd, to)?;
        Ok(())
    }

    /// Moves `from` to `to` in `to_dir` only if `to` is free, in one step
    /// (`renameat2(RENAME_NOREPLACE)` on Linux, `renameatx_np(RENAME_EXCL)` on macOS).
    pub fn rename_noreplace(&self, from: &str, to_dir: &Dir, to: &str) -> io::Result<()> {
        rename_noreplace(&self.fd, from, &to_dir.fd, to)
    }

    /// Calls `each` with every UTF-8 name in the folder (but `.` and `..`) and what it
    /// holds, as the folder's entry tells (no stat, except where the filesystem keeps
    /// no type in its entries).
    pub fn for_each(&self, mut each: impl FnMut(&str, Kind)) -> io::Result<()> {
        let mut dir = rustix::fs::Dir::read_from(&self.fd)?;
        while let Some(entry) = dir.read() {
            let entry = entry?;
            let Ok(name) = entry.file_name().to_str() else {
                continue;
            };
            if name == "." || name == ".." {
                continue;
            }
            let kind = match entry.file_type() {
                FileType::Unknown => match self.stat(name) {
                    Ok(m) => m.kind,
                    Err(_) => continue,
                },
                t => kind_of(t),
            };
            each(name, kind);
        }
        Ok(())
    }
}

#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
))]
fn rename_noreplace(from_dir: &OwnedFd, from: &str, to_dir: &OwnedFd, to: &str) -> io::Result<()> {
    rustix::fs::renameat_with(from_dir, from, to_dir, to, RenameFlags::NOREPLACE)?;
    Ok(())
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
fn rename_noreplace(_: &OwnedFd, _: &str, _: &OwnedFd, _: &str) -> io::Result<()> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "no atomic no-overwrite rename on this system",
    ))
}

/// Opens a file by path for reading (a symlink's target, already checked to be inside
/// the served folder).
pub fn open_read_path(path: &Path) -> io::Result<File> {
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    Ok(rustix::fs::open(path, flags, Mode::empty())?.into())
}

/// Sets the modification time of a file or folder (tests age folders with it).
#[cfg(test)]
pub fn set_modified(path: &Path, t: SystemTime) -> io::Result<()> {
    File::open(path)?.set_modified(t)
}

/// What `path` holds, following symlinks.
/// Which file this is, and which change of its metadata: device, inode, and the time its
/// inode last changed. A file rewritten in place or swapped for another shows a new one.
pub fn identity(meta: &std::fs::Metadata) -> Option<[i64; 4]> {
    use std::os::unix::fs::MetadataExt;
    Some([
        meta.dev() as i64,
        meta.ino() as i64,
        meta.ctime(),
        meta.ctime_nsec(),
    ])
}

pub fn stat_path(path: &Path) -> io::Result<Meta> {
    Ok(meta_of(&rustix::fs::stat(path)?))
}

/// What `path` itself is, without following a symlink at its end.
pub fn lstat_path(path: &Path) -> io::Result<Meta> {
    Ok(meta_of(&rustix::fs::lstat(path)?))
}

fn kind_of(t: FileType) -> Kind {
    match t {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Folder,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

// The field types differ between Linux and macOS (st_dev is an i32 there): the casts
// are needed on one and no-ops on the other.
#[allow(clippy::unnecessary_cast)]
fn meta_of(st: &rustix::fs::Stat) -> Meta {
    let secs = st.st_mtime as i64;
    let nanos = st.st_mtime_nsec as u32;
    let modified = if secs >= 0 {
        SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs as u64, nanos))
    } else {
        SystemTime::UNIX_EPOCH.checked_sub(Duration::from_secs(secs.unsigned_abs()))
    };
    Meta {
        kind: kind_of(FileType::from_raw_mode(st.st_mode as _)),
        len: st.st_size as u64,
        modified,
        id: FileId {
            device: st.st_dev as u64,
            inode: st.st_ino as u64,
        },
    }
}

/// Reads at `offset`, leaving the file's own position alone.
pub fn read_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<usize> {
    file.read_at(buf, offset)
}

/// Writes all of `buf` at `offset`.
pub fn write_all_at(file: &File, buf: &[u8], offset: u64) -> io::Result<()> {
    file.write_all_at(buf, offset)
}

/// Unix listeners may be rebound at once after a restart (SO_REUSEADDR), as mio does.
pub(super) fn prepare_listener(socket: &socket2::Socket) -> io::Result<()> {
    socket.set_reuse_address(true)
}

pub(super) fn fault_of_code(code: i32) -> Option<Fault> {
    Some(match code {
        libc::ENOSPC | libc::EDQUOT => Fault::DiskFull,
        libc::EROFS => Fault::ReadOnly,
        libc::EACCES | libc::EPERM => Fault::Denied,
        libc::EMFILE | libc::ENFILE => Fault::OutOfDescriptors,
        libc::ENOBUFS | libc::ENOMEM => Fault::OutOfMemory,
        libc::EISDIR => Fault::IsFolder,
        _ => return None,
    })
}

/// Linux answers EPERM for a link on FAT and exFAT; macOS, ENOTSUP (a number of its
/// own there, the same as EOPNOTSUPP on Linux).
pub(super) fn links_unsupported(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| [libc::EPERM, libc::EOPNOTSUPP, libc::ENOTSUP, libc::ENOSYS].contains(&c))
}

pub(super) fn replace_blocked_by_open_file(_: &io::Error) -> bool {
    false
}

/// The open-file limit: the soft limit raised to `cap(hard)`.
pub(super) fn raise_nofile(cap: impl Fn(Option<u64>) -> u64) -> Option<u64> {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let lim = getrlimit(Resource::Nofile);
    let target = cap(lim.maximum);
    let current = lim.current.unwrap_or(u64::MAX);
    if current < target {
        let raised = Rlimit {
            current: Some(target),
            maximum: lim.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            return Some(target);
        }
    }
    Some(current)
}

// ---------------------------------------------------------------------------------------
// The console.

/// stdin, watched by the poller.
///
/// We never set O_NONBLOCK on fd 0: that flag lives in the open file description, which
/// the shell shares, and a shell whose terminal was left non-blocking misbehaves after we
/// exit. Instead, before each read we ask `poll(2)` with a zero timeout whether a read
/// would block. That drains what is there (mio is edge-triggered) without ever waiting.
///
/// A background job (`servidor &`) that reads its terminal is stopped by SIGTTIN. So we
/// read only while our process group is the terminal's foreground group, and ignore
/// SIGTTIN, so that a job sent to the background between that check and the read gets
/// EIO instead of being stopped.
pub struct Stdin {
    _private: (),
}

impl Stdin {
    /// Registers stdin with the poller. A regular file is no console (kqueue would take
    /// it, epoll would not: refused on both, as on Windows), and epoll refuses /dev/null
    /// (EPERM), as happens under CI, nohup or systemd: those are errors here.
    pub fn watch(registry: &Registry, token: Token) -> io::Result<Stdin> {
        if rustix::fs::fstat(io::stdin().as_fd()).is_ok_and(|st| meta_of(&st).kind == Kind::File) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "stdin is a regular file",
            ));
        }
        let fd = io::stdin().as_raw_fd();
        registry.register(&mut SourceFd(&fd), token, Interest::READABLE)?;
        // SAFETY: SIG_IGN is a valid disposition; no handler code runs.
        unsafe { libc::signal(libc::SIGTTIN, libc::SIG_IGN) };
        Ok(Stdin { _private: () })
    }

    /// Whether reading the console is allowed now: true unless stdin is a terminal whose
    /// foreground process group is not ours.
    pub fn in_foreground(&self) -> bool {
        match rustix::termios::tcgetpgrp(io::stdin().as_fd()) {
            Ok(group) => group == rustix::process::getpgrp(),
            Err(_) => true, // not a terminal: no job control applies
        }
    }

    /// Reads what is there without waiting.
    pub fn read(&mut self, buf: &mut [u8]) -> StdinRead {
        use rustix::event::{poll, PollFd, PollFlags};
        let stdin = io::stdin();
        let fd = stdin.as_fd();
        loop {
            if !self.in_foreground() {
                return StdinRead::NotForeground;
            }
            let mut fds = [PollFd::new(&fd, PollFlags::IN)];
            match poll(&mut fds, Some(&rustix::event::Timespec::default())) {
                Ok(0) => return StdinRead::Empty,
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return StdinRead::Failed(e.into()),
            }
            return match rustix::io::read(fd, &mut *buf) {
                Ok(0) => StdinRead::End,
                Ok(n) => StdinRead::Bytes(n),
                Err(rustix::io::Errno::INTR) => continue,
                Err(rustix::io::Errno::AGAIN) => StdinRead::Empty,
                Err(rustix::io::Errno::IO) if !self.in_foreground() => StdinRead::NotForeground,
                Err(e) => StdinRead::Failed(e.into()),
            };
        }
    }

    pub fn unwatch(&mut self, registry: &Registry) {
        let fd = io::stdin().as_raw_fd();
        let _ = registry.deregister(&mut SourceFd(&fd));
    }
}

// ---------------------------------------------------------------------------------------
// Signals: the self-pipe trick.
//
// A signal handler may do almost nothing safely; `write(2)` is one of the few things it
// may do. So the handler writes one byte into a pipe, and the pipe's other end sits in
// the event loop like any socket. The loop wakes up, sees the byte, and shuts down at a
// point where everything is in a consistent state.

/// The write end of the pipe, for the handler (which cannot take arguments).
static WRITE_FD: AtomicI32 = AtomicI32::new(-1);

extern "C" fn on_signal(_: libc::c_int) {
    // The interrupted code may be about to read errno: put it back as it was.
    let saved = errno::get();
    let fd = WRITE_FD.load(Ordering::Relaxed);
    if fd >= 0 {
        let byte = 1u8;
        // If the pipe is full a byte is already waiting: losing this one is fine.
        // SAFETY: write(2) is async-signal-safe; the buffer is one byte on our stack.
        unsafe { libc::write(fd, (&byte as *const u8).cast(), 1) };
    }
    errno::set(saved);
}

/// errno's location differs by C library.
mod errno {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn location() -> *mut libc::c_int {
        // SAFETY: returns the calling thread's errno slot.
        unsafe { libc::__errno_location() }
    }
    #[cfg(any(target_os = "macos", target_os = "ios", target_os = "freebsd"))]
    fn location() -> *mut libc::c_int {
        // SAFETY: returns the calling thread's errno slot.
        unsafe { libc::__error() }
    }
    #[cfg(any(target_os = "netbsd", target_os = "openbsd"))]
    fn location() -> *mut libc::c_int {
        // SAFETY: returns the calling thread's errno slot.
        unsafe { libc::__errno() }
    }

    pub fn get() -> libc::c_int {
        // SAFETY: the slot is valid for the whole life of the thread.
        unsafe { *location() }
    }

    pub fn set(value: libc::c_int) {
        // SAFETY: as above.
        unsafe { *location() = value }
    }
}

/// SIGINT and SIGTERM, as a readable source.
pub struct Interrupts {
    read: pipe::Receiver,
    _write: pipe::Sender,
}

impl Interrupts {
    /// Installs handlers for SIGINT and SIGTERM and registers the pipe's read end. Both
    /// ends are non-blocking and close-on-exec (mio's `pipe::new`).
    pub fn install(registry: &Registry, token: Token) -> io::Result<Interrupts> {
        let (write, mut read) = pipe::new()?;
        WRITE_FD.store(write.as_raw_fd(), Ordering::Relaxed);
        for sig in [libc::SIGINT, libc::SIGTERM] {
            // SAFETY: a zeroed sigaction is a valid starting point; we fill in a handler
            // that only calls async-signal-safe functions.
            let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
            action.sa_sigaction = on_signal as *const () as usize;
            action.sa_flags = libc::SA_RESTART;
            // SAFETY: plain calls on a struct we own.
            unsafe { libc::sigemptyset(&mut action.sa_mask) };
            if unsafe { libc::sigaction(sig, &action, std::ptr::null_mut()) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        registry.register(&mut read, token, Interest::READABLE)?;
        Ok(Interrupts { read, _write: write })
    }

    /// Empties the pipe. Returns true if a signal arrived.
    pub fn drain(&self) -> bool {
        let mut got = false;
        let mut buf = [0u8; 64];
        loop {
            match (&self.read).read(&mut buf) {
                Ok(0) => return got,
                Ok(_) => got = true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return got, // WouldBlock: drained
            }
        }
    }
}

impl Drop for Interrupts {
    fn drop(&mut self) {
        // The handlers stay installed; make them write nowhere once the pipe is gone.
        WRITE_FD.store(-1, Ordering::Relaxed);
    }
}

/// A way for another thread to wake the loop out of `poll` (an eventfd on Linux, a user
/// event on kqueue). The flusher thread is its only user on Unix.
pub fn shared_waker(registry: &Registry, token: Token) -> io::Result<Arc<Waker>> {
    Ok(Arc::new(Waker::new(registry, token)?))
}
