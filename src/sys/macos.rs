//! macOS: the BSD `sendfile(2)`, an open-file limit bounded by `kern.maxfilesperproc`
//! and `OPEN_MAX`, and `kern.ipc.somaxconn` for the backlog.
//!
//! Checked here only by compiling (clippy for both Mac targets in CI), so every path is
//! kept small and plain.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `OPEN_MAX` from <sys/syslimits.h>: macOS refuses a soft open-file limit above it
/// with EINVAL in some versions, whatever the hard limit says.
const OPEN_MAX: u64 = 10_240;

/// macOS's sendfile takes the file first, the socket second, and the length in and out
/// through a pointer: on a non-blocking socket it can fail with EAGAIN *and* have sent
/// part of the range, which `sent` then says.
pub(super) fn send_file(
    sock: &mut mio::net::TcpStream,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut sent = len as libc::off_t;
    // SAFETY: both descriptors are open for the whole call; `sent` is ours; no headers.
    let rc = unsafe {
        libc::sendfile(
            file.as_raw_fd(),
            sock.as_raw_fd(),
            offset as libc::off_t,
            &mut sent,
            std::ptr::null_mut(),
            0,
        )
    };
    if rc == 0 {
        return Ok(sent as usize);
    }
    let e = io::Error::last_os_error();
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted if sent > 0 => Ok(sent as usize),
        _ => Err(e),
    }
}

/// No `copy_file_range` on macOS: reads and writes.
pub(super) fn copy_slice(
    src: &File,
    dst: &File,
    offset: u64,
    want: u64,
    _kernel: &mut bool,
) -> io::Result<u64> {
    super::copy_through_memory(src, dst, offset, want)
}

/// The hard limit is often "unlimited" on macOS, and asking for that fails: the most a
/// process may have is `kern.maxfilesperproc`, and some versions also cap at `OPEN_MAX`.
pub(super) fn raise_open_file_limit() -> Option<u64> {
    let per_process = sysctl_u64(c"kern.maxfilesperproc").unwrap_or(OPEN_MAX);
    let raised = super::unix::raise_nofile(|hard| hard.unwrap_or(u64::MAX).min(per_process));
    match raised {
        Some(n) if n < OPEN_MAX => super::unix::raise_nofile(|hard| hard.unwrap_or(u64::MAX).min(OPEN_MAX)),
        other => other,
    }
}

/// macOS clamps the backlog to `kern.ipc.somaxconn` itself; ask for the most.
pub(super) fn listen_backlog() -> i32 {
    sysctl_u64(c"kern.ipc.somaxconn")
        .and_then(|n| i32::try_from(n).ok())
        .filter(|n| *n > 0)
        .unwrap_or(i32::MAX)
}

/// macOS's allocator needs no tuning.
pub(super) fn tune_allocator() {}

/// Only Linux pays for growing its descriptor table in a process with threads.
pub(super) fn presize_descriptor_table(_n: usize) {}

/// Reads an integer sysctl (they are 32-bit ints on macOS).
fn sysctl_u64(name: &std::ffi::CStr) -> Option<u64> {
    let mut value: libc::c_int = 0;
    let mut size = std::mem::size_of::<libc::c_int>();
    // SAFETY: `value` and `size` are ours and sized for an int; no new value is set.
    let rc = unsafe {
        libc::sysctlbyname(
            name.as_ptr(),
            (&mut value as *mut libc::c_int).cast(),
            &mut size,
            std::ptr::null_mut(),
            0,
        )
    };
    (rc == 0 && value > 0).then_some(value as u64)
}

/// `F_FULLFSYNC` (std's `sync_all` on macOS), which asks the drive to empty its cache too;
/// where the filesystem does not know it, plain `fsync`.
pub(super) fn flush_to_disk(file: &File) -> io::Result<()> {
    match file.sync_all() {
        Err(e)
            if super::full_flush_unknown(
                &e,
                &[libc::ENOTSUP, libc::EOPNOTSUPP, libc::EINVAL, libc::ENOTTY],
            ) =>
        {
            Ok(rustix::fs::fsync(file)?)
        }
        other => other,
    }
}
