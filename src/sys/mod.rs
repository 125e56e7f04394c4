//! The platform layer: the one place in almacen that names an operating system.
//!
//! Everything above this module is written once, for every OS. What differs lives in
//! one file per family, behind the same small API:
//!
//! - `unix.rs`: what Linux and macOS share (a held folder handle with openat and
//!   friends through rustix, stdin as a poll source, the self-pipe for signals, rlimit);
//! - `linux.rs`: `sendfile(2)`, `copy_file_range(2)`, `somaxconn`, glibc's `mallopt`;
//! - `macos.rs`: the BSD `sendfile(2)`, `kern.maxfilesperproc` and `OPEN_MAX`;
//! - `other_unix.rs`: the portable fallbacks for any other Unix;
//! - `windows.rs`: path-based folder work, a console thread and Ctrl-C through a
//!   `mio::Waker`, Windows error codes.
//!
//! The API, in one place:
//!
//! | what | Linux | macOS | Windows |
//! | --- | --- | --- | --- |
//! | [`send_file`] | `sendfile` | BSD `sendfile` | read into a buffer, then write |
//! | [`copy_slice`] | `copy_file_range` | read/write | read/write |
//! | [`Dir`] | held fd, `*at` calls | held fd, `*at` calls | paths |
//! | [`raise_open_file_limit`] | soft → hard | soft → `maxfilesperproc` | no such limit |
//! | [`Stdin`] | poll source | poll source | thread + `Waker` |
//! | [`Interrupts`] | SIGINT, SIGTERM | SIGINT, SIGTERM | Ctrl-C, Ctrl-Break, close |
//! | [`shared_waker`] | eventfd | kqueue user event | the console's `Waker`, shared |
//! | [`flush_to_disk`] | `fsync` | `F_FULLFSYNC`, else `fsync` | `FlushFileBuffers` |
//! | [`Dir::flush_handle`] | `fsync` on the folder | `F_FULLFSYNC` on the folder | none (NTFS journal) |
//! | [`fault`] | errno | errno | Windows and Winsock codes |

use std::fs::File;
use std::io::{self, Write};
use std::net::SocketAddr;
use std::time::SystemTime;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as os;

#[cfg(target_os = "macos")]
mod macos;
#[cfg(target_os = "macos")]
use macos as os;

#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
mod other_unix;
#[cfg(all(unix, not(any(target_os = "linux", target_os = "macos"))))]
use other_unix as os;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;
#[cfg(windows)]
use windows as os;

#[cfg(test)]
pub use imp::set_modified;
pub use imp::{
    identity, lstat_path, open_read_path, read_at, shared_waker, stat_path, write_all_at, Dir, Interrupts,
    Stdin,
};

/// Whether a read that returns less than was asked for proves the socket is drained,
/// so that waiting for the next readiness event is safe. It holds where mio's readiness
/// is edge-triggered on the socket's queue (epoll, kqueue): new bytes always bring a new
/// event. mio's Windows backend emulates readiness, and there we read on to WouldBlock.
pub const SHORT_READ_DRAINS: bool = cfg!(unix);

/// What kind of thing a name holds. Symlinks are never followed to find out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    File,
    Folder,
    Symlink,
    /// A FIFO, a socket, a device: nothing we serve.
    Other,
}

/// Which file or folder this is, to notice when a path starts naming another one.
/// (Windows works by path, so there it is always the same.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileId {
    pub device: u64,
    pub inode: u64,
}

/// What the platform tells about a name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub len: u64,
    pub modified: Option<SystemTime>,
    pub id: FileId,
}

/// What a failed system call means for us, whatever OS reported it and however it
/// spells it (errno, a Windows error code, a Winsock code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// No space left, or a quota ran out.
    DiskFull,
    ReadOnly,
    Denied,
    /// This process or the whole system ran out of file descriptors (or handles).
    OutOfDescriptors,
    /// The kernel ran out of buffers or memory for sockets.
    OutOfMemory,
    /// Windows: another program holds the file open without sharing it.
    #[cfg_attr(not(windows), allow(dead_code))]
    InUse,
    IsFolder,
    Other,
}

/// Classifies an error from any call in this module, or from std.
pub fn fault(e: &io::Error) -> Fault {
    if let Some(f) = e.raw_os_error().and_then(os_fault) {
        return f;
    }
    match e.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => Fault::DiskFull,
        io::ErrorKind::ReadOnlyFilesystem => Fault::ReadOnly,
        io::ErrorKind::PermissionDenied => Fault::Denied,
        io::ErrorKind::IsADirectory => Fault::IsFolder,
        io::ErrorKind::OutOfMemory => Fault::OutOfMemory,
        _ => Fault::Other,
    }
}

fn os_fault(code: i32) -> Option<Fault> {
    imp::fault_of_code(code)
}

/// Whether a failed hard link means this filesystem has none (FAT, exFAT), so that a
/// no-overwrite move must do instead.
pub fn links_unsupported(e: &io::Error) -> bool {
    imp::links_unsupported(e)
}

/// Whether a failed replace means the file being replaced is open elsewhere: Windows
/// refuses to replace a file open without delete sharing (and wine even with it). Never
/// the case on Unix, where a rename does not care who has the file open.
pub fn replace_blocked_by_open_file(e: &io::Error) -> bool {
    imp::replace_blocked_by_open_file(e)
}

/// Waits until the disk says `file`'s bytes (or, for a folder's handle, its names) are
/// stored, so that a power cut cannot take them back. It blocks, so only the flusher's
/// threads call it. macOS's `F_FULLFSYNC` goes through the drive's own cache, but some
/// filesystems (SMB shares, some FUSE ones) do not know it and refuse; there the plain
/// `fsync` they do know is the best anyone can ask for.
pub fn flush_to_disk(file: &File) -> io::Result<()> {
    os::flush_to_disk(file)
}

/// Whether a failed `F_FULLFSYNC` means only "this filesystem does not do that" (SMB and
/// FUSE mounts answer ENOTSUP, EINVAL or ENOTTY: the OS passes the codes it uses), so
/// that plain `fsync` is worth a try. Any other failure (EIO, ENOSPC) is the disk's real
/// answer.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
fn full_flush_unknown(e: &io::Error, unknown_codes: &[i32]) -> bool {
    e.kind() == io::ErrorKind::Unsupported
        || e.raw_os_error().is_some_and(|code| unknown_codes.contains(&code))
}

/// Sends up to `len` bytes of `file` from `offset` into a non-blocking socket; returns
/// how many went out. Linux and macOS hand the pages to the kernel (`sendfile`);
/// elsewhere this reads into a buffer and writes it.
pub fn send_file(sock: &mut mio::net::TcpStream, file: &File, offset: u64, len: usize) -> io::Result<usize> {
    if len == 0 {
        return Ok(0);
    }
    os::send_file(sock, file, offset, len)
}

/// The portable way to send a file range: read a chunk at `offset`, write it. If the
/// writer takes less than was read, the rest is simply read again next time (the offset
/// belongs to the caller, not to the file).
pub fn send_file_buffered<W: Write + ?Sized>(
    out: &mut W,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut buf = [0u8; 32 * 1024];
    let want = len.min(buf.len());
    let got = loop {
        match read_at(file, &mut buf[..want], offset) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => break other?,
        }
    };
    if got == 0 {
        return Ok(0);
    }
    out.write(&buf[..got])
}

/// Copies up to `want` bytes from `src` to `dst`, both at `offset`. Returns the bytes
/// copied (0 at the end of the source). `kernel` starts true; Linux clears it once the
/// kernel says it cannot copy between these two files, and plain reads and writes take
/// over from then on. Other systems always read and write.
pub fn copy_slice(src: &File, dst: &File, offset: u64, want: u64, kernel: &mut bool) -> io::Result<u64> {
    os::copy_slice(src, dst, offset, want, kernel)
}

/// Buffer for copies through memory.
const COPY_BUFFER: usize = 256 * 1024;

/// The portable copy: read a buffer, write it, until `want` bytes or the source's end.
fn copy_through_memory(src: &File, dst: &File, offset: u64, want: u64) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER.min(want as usize)];
    let mut moved = 0u64;
    while moved < want {
        let room = buf.len().min((want - moved) as usize);
        let n = match read_at(src, &mut buf[..room], offset + moved) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        write_all_at(dst, &buf[..n], offset + moved)?;
        moved += n as u64;
    }
    Ok(moved)
}

/// Raises this process's soft open-file limit as far as the OS lets it, as most servers
/// do (the common default of 1,024 is far below what a kernel allows). Returns the limit
/// now in force, or None where there is no such limit to read (Windows).
pub fn raise_open_file_limit() -> Option<u64> {
    os::raise_open_file_limit()
}

/// Grows this process's table of descriptors, now, to hold about `n` of them (never past
/// the open-file limit). Call it while the process has one thread.
///
/// Linux grows the table as descriptors are opened, doubling it each time it is full. In
/// a process with more than one thread, each doubling waits for an RCU grace period (tens
/// of milliseconds on a VM), and meanwhile the loop accepts nobody: a burst of thousands of
/// connections then overflows even a 4,096-long listen queue. The log writer thread makes
/// us such a process, so the table is sized before it starts. Elsewhere this does nothing.
pub fn presize_descriptor_table(n: usize) {
    os::presize_descriptor_table(n)
}

/// The listen backlog we ask for: the most the OS allows. Linux clamps to
/// `net.core.somaxconn` (we read it, to log the real figure); macOS clamps to
/// `kern.ipc.somaxconn`; Windows reads `SOMAXCONN` (`i32::MAX`) as "the largest sensible".
pub fn listen_backlog() -> i32 {
    os::listen_backlog()
}

/// Binds a non-blocking listening socket with the backlog of [`listen_backlog`] (mio's
/// own `bind` asks for 128, and a burst of connections overflows that: each dropped SYN
/// costs its client a one-second retransmit). socket2 marks it close-on-exec on Unix and
/// not inheritable on Windows.
pub fn bind_listener(addr: SocketAddr) -> io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    imp::prepare_listener(&socket)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let backlog = listen_backlog();
    socket.listen(backlog)?;
    log::debug!("listening on {addr} with a backlog of {backlog}");
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// Allocator settings for a long-running server; call once, before any thread starts.
/// Only glibc needs any (see linux.rs).
pub fn tune_allocator() {
    os::tune_allocator()
}

/// What one look at the console found.
#[derive(Debug)]
pub enum StdinRead {
    /// Bytes were read into the buffer.
    Bytes(usize),
    /// Nothing to read right now.
    Empty,
    /// End of file: the console is gone for good.
    End,
    /// Unix: we are a background job of the terminal; reading would stop us (SIGTTIN).
    #[cfg_attr(windows, allow(dead_code))]
    NotForeground,
    Failed(io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only "this filesystem cannot do a full flush" sends macOS back to plain fsync; a
    /// real disk error (EIO, a full disk) is the answer.
    #[test]
    fn only_an_unknown_full_flush_falls_back_to_fsync() {
        const UNKNOWN: &[i32] = &[45, 22];
        assert!(full_flush_unknown(
            &io::Error::from(io::ErrorKind::Unsupported),
            UNKNOWN
        ));
        assert!(full_flush_unknown(&io::Error::from_raw_os_error(45), UNKNOWN));
        assert!(full_flush_unknown(&io::Error::from_raw_os_error(22), UNKNOWN));
        assert!(!full_flush_unknown(&io::Error::from_raw_os_error(5), UNKNOWN)); // EIO
        assert!(!full_flush_unknown(
            &io::Error::from(io::ErrorKind::StorageFull),
            UNKNOWN
        ));
    }

    /// Errors mean the same whatever the OS calls them; unknown ones are `Other`.
    #[test]
    fn errors_are_classified_portably() {
        use io::ErrorKind as K;
        assert_eq!(fault(&io::Error::from(K::StorageFull)), Fault::DiskFull);
        assert_eq!(fault(&io::Error::from(K::PermissionDenied)), Fault::Denied);
        assert_eq!(fault(&io::Error::from(K::ReadOnlyFilesystem)), Fault::ReadOnly);
        assert_eq!(fault(&io::Error::other("x")), Fault::Other);
    }

    /// Copies through memory stop at the source's end, at any offset.
    #[test]
    fn copies_through_memory_stop_at_the_end() {
        let dir = std::env::temp_dir().join(format!("almacen-sys-copy-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(dir.join("a"), &data).unwrap();
        let src = File::open(dir.join("a")).unwrap();
        let dst = File::create(dir.join("b")).unwrap();
        let mut kernel = true;
        let first = copy_slice(&src, &dst, 0, 100_000, &mut kernel).unwrap();
        assert_eq!(first, 100_000);
        assert_eq!(copy_through_memory(&src, &dst, first, 1 << 30).unwrap(), 200_000);
        assert_eq!(copy_slice(&src, &dst, 300_000, 10, &mut kernel).unwrap(), 0);
        drop((src, dst)); // Windows removes no folder with a file open in it
        assert!(std::fs::read(dir.join("b")).unwrap() == data);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
