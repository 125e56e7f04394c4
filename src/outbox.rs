//! The outgoing queue of one connection: bytes in memory, and file ranges streamed from disk.
//!
//! A reply is queued as chunks. A small reply is one `Bytes` chunk. A download is three:
//! the head of the frame (length, class, `data` key, the bytes' header), the file itself
//! as a `File` chunk, and the tail (`estado`, `ok`, closing opcodes). The file chunk holds
//! only an open file and an offset, so a 1 GiB download costs the same memory as `listar`
//! while it waits for the socket to drain.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, IoSlice, Read, Write};
use std::rc::Rc;

/// What a connection writes to. Tests and fuzzers use in-memory streams; the server uses
/// `mio::net::TcpStream`, which can hand file pages to the kernel directly.
pub trait Transport: Read + Write {
    /// Sends up to `len` bytes of `file` starting at `offset`; returns how many went out.
    /// The default reads into a buffer and writes it: portable, one copy more than sendfile.
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        // If the socket takes less than we read, the rest is read again next time: the
        // file's offset lives in the chunk, not in the kernel.
        crate::sys::send_file_buffered(self, file, offset, len)
    }
}

impl Transport for mio::net::TcpStream {
    fn send_file(&mut self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        // The kernel moves the pages where it can (sendfile on Linux and macOS); the
        // offset is ours, so many sockets can share one file. See src/sys/.
        crate::sys::send_file(self, file, offset, len)
    }
}

/// One piece of the queue.
#[derive(Debug, Clone)]
pub enum Chunk {
    /// Bytes built in memory; `Rc` lets a cached reply or a push be shared by many queues.
    Bytes { data: Rc<Vec<u8>>, pos: usize },
    /// `remaining` bytes of `file` from `offset`. The file is shared, the offset is not.
    File {
        file: Rc<File>,
        offset: u64,
        remaining: u64,
    },
}

impl Chunk {
    pub fn bytes(data: Vec<u8>) -> Chunk {
        Chunk::Bytes {
            data: Rc::new(data),
            pos: 0,
        }
    }

    pub fn shared(data: Rc<Vec<u8>>) -> Chunk {
        Chunk::Bytes { data, pos: 0 }
    }

    pub fn file(file: Rc<File>, offset: u64, len: u64) -> Chunk {
        Chunk::File {
            file,
            offset,
            remaining: len,
        }
    }

    /// Bytes this chunk keeps in memory (shared bytes count for each holder: an upper bound).
    pub fn memory(&self) -> usize {
        match self {
            Chunk::Bytes { data, pos } => data.len() - pos,
            Chunk::File { .. } => 0,
        }
    }

    fn is_done(&self) -> bool {
        match self {
            Chunk::Bytes { data, pos } => *pos >= data.len(),
            Chunk::File { remaining, .. } => *remaining == 0,
        }
    }
}

/// How many in-memory chunks one `writev` gathers: a download's head goes out with the
/// small replies before it.
const MAX_IOVECS: usize = 16;

/// Ring slots an empty queue keeps (see `consume`).
const KEEP_CHUNKS: usize = 4;

/// The queue itself.
#[derive(Debug, Default)]
pub struct Outbox {
    chunks: VecDeque<Chunk>,
    memory: usize,
    /// File chunks queued: each holds an open file.
    files: usize,
}

impl Outbox {
    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    /// Bytes held in memory by queued chunks (not counting file chunks).
    pub fn memory(&self) -> usize {
        self.memory
    }

    /// Queued chunks, file chunks included: each of those holds an open file.
    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    /// File chunks queued: each holds an open file.
    pub fn files(&self) -> usize {
        self.files
    }

    /// Bytes still to send, file ranges included (for the trace log).
    pub fn pending_bytes(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Bytes { data, pos } => (data.len() - pos) as u64,
                Chunk::File { remaining, .. } => *remaining,
            })
            .sum()
    }

    pub fn push(&mut self, chunk: Chunk) {
        if chunk.is_done() {
            return;
        }
        self.files += usize::from(matches!(chunk, Chunk::File { .. }));
        self.memory += chunk.memory();
        self.chunks.push_back(chunk);
    }

    /// Drops chunks from the back until `len` remain (chunks pushed since [`Outbox::len`]
    /// said `len`, none of them started).
    pub fn truncate(&mut self, len: usize) {
        while self.chunks.len() > len {
            if let Some(chunk) = self.chunks.pop_back() {
                self.memory -= chunk.memory();
                self.files -= usize::from(matches!(chunk, Chunk::File { .. }));
            }
        }
    }

    /// Writes from the front of the queue, at most about `budget` bytes, in one system call.
    /// Returns the bytes written; `Ok(0)` means nothing was queued. A file that turns out
    /// shorter than announced is an error: the frame's length would be a lie.
    pub fn write_to<T: Transport>(&mut self, out: &mut T, budget: usize) -> io::Result<usize> {
        let written = match self.chunks.front() {
            None => return Ok(0),
            Some(Chunk::File {
                file,
                offset,
                remaining,
            }) => {
                let want = (*remaining).min(budget.max(1) as u64) as usize;
                let n = out.send_file(file, *offset, want)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "file shrank while it was being sent",
                    ));
                }
                n
            }
            Some(Chunk::Bytes { .. }) => {
                let mut slices: [IoSlice<'_>; MAX_IOVECS] = [IoSlice::new(&[]); MAX_IOVECS];
                let mut count = 0;
                let mut total = 0;
                for chunk in self.chunks.iter().take(MAX_IOVECS) {
                    match chunk {
                        Chunk::Bytes { data, pos } => {
                            slices[count] = IoSlice::new(&data[*pos..]);
                            count += 1;
                            total += data.len() - pos;
                            if total >= budget {
                                break;
                            }
                        }
                        Chunk::File { .. } => break,
                    }
                }
                if count == 1 {
                    // One buffer (a `listar` reply, most replies): a plain write. Linux's
                    // writev copies and checks the iovec array from user memory first; for
                    // one buffer that work buys nothing, and it runs once per request.
                    out.write(&slices[0])?
                } else {
                    out.write_vectored(&slices[..count])?
                }
            }
        };
        self.consume(written);
        Ok(written)
    }

    /// Drops `n` written bytes from the front.
    fn consume(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.chunks.front_mut() else {
                break;
            };
            match front {
                Chunk::Bytes { data, pos } => {
                    let take = n.min(data.len() - *pos);
                    *pos += take;
                    self.memory -= take;
                    n -= take;
                }
                Chunk::File {
                    offset, remaining, ..
                } => {
                    let take = (n as u64).min(*remaining);
                    *offset += take;
                    *remaining -= take;
                    n -= take as usize;
                }
            }
            if front.is_done() {
                if let Some(Chunk::File { .. }) = self.chunks.pop_front() {
                    self.files -= 1;
                }
            }
        }
        if self.chunks.is_empty() && self.chunks.capacity() > KEEP_CHUNKS {
            // Give a grown ring's memory back: an idle connection should cost next to
            // nothing. A small one (128 bytes) is kept, so a client asking in a loop does
            // not pay an allocation and a free per reply.
            self.chunks = VecDeque::new();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sink that takes at most `cap` bytes per call.
    struct Trickle {
        got: Vec<u8>,
        cap: usize,
    }
    impl Read for Trickle {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Ok(0)
        }
    }
    impl Write for Trickle {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            let n = b.len().min(self.cap);
            self.got.extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Transport for Trickle {}

    fn temp_file(contents: &[u8]) -> Rc<File> {
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("almacen-outbox-{}-{n}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        let f = File::open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        Rc::new(f)
    }

    /// Head, file body and tail come out in order, whatever size the socket takes each time.
    #[test]
    fn chunks_come_out_in_order_through_short_writes() {
        let body: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        for cap in [1, 7, 4096, 1 << 20] {
            let mut outbox = Outbox::default();
            outbox.push(Chunk::bytes(b"head".to_vec()));
            outbox.push(Chunk::file(temp_file(&body), 0, body.len() as u64));
            outbox.push(Chunk::bytes(b"tail".to_vec()));
            let mut sink = Trickle { got: Vec::new(), cap };
            let mut calls = 0;
            while !outbox.is_empty() {
                outbox.write_to(&mut sink, 64 * 1024).unwrap();
                calls += 1;
                assert!(calls < 1_000_000);
            }
            assert_eq!(&sink.got[..4], b"head");
            assert_eq!(&sink.got[4..4 + body.len()], &body[..]);
            assert_eq!(&sink.got[4 + body.len()..], b"tail");
            assert_eq!(outbox.memory(), 0);
        }
    }

    /// A file shorter than its announced length stops the stream with an error.
    #[test]
    fn a_file_that_shrank_is_an_error_not_a_short_frame() {
        let mut outbox = Outbox::default();
        outbox.push(Chunk::file(temp_file(b"abc"), 0, 10));
        let mut sink = Trickle {
            got: Vec::new(),
            cap: 100,
        };
        assert_eq!(outbox.write_to(&mut sink, 100).unwrap(), 3);
        let err = outbox.write_to(&mut sink, 100).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }

    /// Memory accounting follows pushes and writes.
    #[test]
    fn memory_counts_only_bytes_still_queued() {
        let mut outbox = Outbox::default();
        outbox.push(Chunk::bytes(vec![1; 10]));
        outbox.push(Chunk::file(temp_file(b"xyz"), 0, 3));
        assert_eq!(outbox.memory(), 10);
        let mut sink = Trickle {
            got: Vec::new(),
            cap: 4,
        };
        outbox.write_to(&mut sink, 100).unwrap();
        assert_eq!(outbox.memory(), 6);
    }

    /// Several small replies queued together come out whole and in order, whether they go
    /// out gathered (`writev`) or one buffer at a time (a plain `write`).
    #[test]
    fn queued_replies_come_out_in_order_one_or_many_per_call() {
        for cap in [1, 5, 1 << 20] {
            let mut outbox = Outbox::default();
            for part in [&b"uno"[..], b"dos", b"tres"] {
                outbox.push(Chunk::bytes(part.to_vec()));
            }
            let mut sink = Trickle { got: Vec::new(), cap };
            while !outbox.is_empty() {
                outbox.write_to(&mut sink, 64 * 1024).unwrap();
            }
            assert_eq!(sink.got, b"unodostres");
            assert_eq!(outbox.memory(), 0);
        }
    }

    /// Taking back what a failed handler queued leaves the earlier chunks and memory count.
    #[test]
    fn truncate_takes_back_the_newest_chunks() {
        let mut out = Outbox::default();
        out.push(Chunk::bytes(vec![1; 10]));
        let before = out.len();
        out.push(Chunk::bytes(vec![2; 20]));
        out.push(Chunk::bytes(vec![3; 30]));
        out.truncate(before);
        assert_eq!((out.len(), out.memory()), (1, 10));
    }
}
