//! Any other Unix (the BSDs, illumos): the portable fallbacks. Not a target CI checks;
//! kept so that nothing above this layer has to know.

use std::fs::File;
use std::io;

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

pub(super) fn raise_open_file_limit() -> Option<u64> {
    super::unix::raise_nofile(|hard| hard.unwrap_or(1 << 16))
}

/// The kernel clamps to its own maximum.
pub(super) fn listen_backlog() -> i32 {
    i32::MAX
}

pub(super) fn tune_allocator() {}

/// Only Linux pays for growing its descriptor table in a process with threads.
pub(super) fn presize_descriptor_table(_n: usize) {}

/// `fsync`, all the portable Unix has.
pub(super) fn flush_to_disk(file: &File) -> io::Result<()> {
    file.sync_all()
}
