//! Linux: the kernel moves the bytes (`sendfile`, `copy_file_range`), the backlog is
//! `net.core.somaxconn`, and glibc's allocator gets one setting.

use std::fs::File;
use std::io;

/// sendfile(2) moves pages from the page cache into the socket without passing through
/// user space. The offset is ours, so many sockets can share one open file.
pub(super) fn send_file(
    sock: &mut mio::net::TcpStream,
    file: &File,
    offset: u64,
    len: usize,
) -> io::Result<usize> {
    let mut off = offset;
    Ok(rustix::fs::sendfile(&*sock, file, Some(&mut off), len)?)
}

/// `copy_file_range(2)`: the kernel copies, and on filesystems that can share blocks
/// (XFS, Btrfs) it does not even copy. Plain reads and writes take over where it cannot.
pub(super) fn copy_slice(
    src: &File,
    dst: &File,
    offset: u64,
    want: u64,
    kernel: &mut bool,
) -> io::Result<u64> {
    use rustix::io::Errno;
    if !*kernel {
        return super::copy_through_memory(src, dst, offset, want);
    }
    let (mut off_in, mut off_out) = (offset, offset);
    let mut moved = 0u64;
    while moved < want {
        let chunk = usize::try_from(want - moved).unwrap_or(usize::MAX);
        match rustix::fs::copy_file_range(src, Some(&mut off_in), dst, Some(&mut off_out), chunk) {
            Ok(0) => break,
            Ok(n) => moved += n as u64,
            Err(Errno::INTR) => continue,
            // Not possible between these files (another filesystem, an old kernel):
            // copy through memory from here on.
            Err(Errno::XDEV | Errno::NOSYS | Errno::INVAL | Errno::OPNOTSUPP) if moved == 0 => {
                *kernel = false;
                return super::copy_through_memory(src, dst, offset, want);
            }
            Err(_) if moved > 0 => break,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(moved)
}

/// The soft limit goes up to the hard one (Linux's hard limit is finite: `nr_open`).
pub(super) fn raise_open_file_limit() -> Option<u64> {
    super::unix::raise_nofile(|hard| hard.unwrap_or(1 << 20))
}

/// Linux silently clamps a larger backlog to `net.core.somaxconn` (4,096 since 5.4):
/// reading it makes the log say the real figure.
pub(super) fn listen_backlog() -> i32 {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(4096)
}

pub(super) fn presize_descriptor_table(n: usize) {
    let limit = super::raise_open_file_limit().map_or(n, |l| usize::try_from(l).unwrap_or(n));
    let top = n.min(limit).saturating_sub(1);
    if top < 256 {
        return; // the table starts that big
    }
    // Asking for a descriptor at least `top` makes the kernel size the table for it in one
    // step; the table keeps its size when that descriptor is closed again.
    if let Ok(null) = std::fs::File::open("/dev/null") {
        if let Ok(high) = rustix::io::fcntl_dupfd_cloexec(&null, top as i32) {
            drop(high);
        }
    }
}

/// Uploads pass through buffers of a few MiB. glibc's allocator raises its threshold for
/// serving big blocks with `mmap` each time one is freed, and then keeps later big blocks
/// in its heap, where freed memory mostly stays with the process. A server that runs for
/// days should give it back: a fixed threshold keeps every block over 256 KiB in its own
/// mapping, returned to the kernel the moment it is freed. (musl has no such setting.)
pub(super) fn tune_allocator() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes allocator settings; called before any thread starts.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
    }
}

/// `fsync`: Linux's waits for the drive, its cache included (a flush request).
pub(super) fn flush_to_disk(file: &File) -> io::Result<()> {
    file.sync_all()
}

#[cfg(test)]
mod tests {
    /// The backlog asked for is the kernel's own maximum.
    #[test]
    fn backlog_is_somaxconn() {
        let proc = std::fs::read_to_string("/proc/sys/net/core/somaxconn").unwrap();
        assert_eq!(super::listen_backlog(), proc.trim().parse::<i32>().unwrap());
    }
}
