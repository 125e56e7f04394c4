//! The disk's word that a write is stored, fetched by a helper thread: the one call of
//! the write path that the loop cannot make without blocking.
//!
//! When `write()` returns, the bytes sit in the kernel's page cache. Every program sees
//! them, and a crash of this process loses nothing; but a power cut loses whatever the
//! kernel had not written out yet (Linux writes dirty pages out after about 30 seconds).
//! `fsync` asks the kernel to write one file's bytes, or a folder's names, and returns
//! only when the disk says they are stored. ([`crate::sys::flush_to_disk`] is that call:
//! `fsync` on Linux, `F_FULLFSYNC` on macOS, where plain `fsync` stops at the drive's
//! cache, and `FlushFileBuffers` on Windows.)
//!
//! That wait has no readiness to poll for: epoll, kqueue and completion ports say nothing
//! about it, and it lasts from a millisecond to seconds on a busy disk. So the loop never
//! makes the call. It hands a duplicate of the file's handle to a helper thread and goes
//! on serving. When the disk answers, the thread fills the [`Ticket`] and wakes the loop
//! (a `mio::Waker`: a readiness event made by hand), and the job that waits goes on in
//! that turn. (Redis hands its append-only file's `fsync` to a background thread for the
//! same reason, and libuv runs its file calls on a pool of four threads.)
//!
//! There are [`THREADS`] of them, not one: flushes asked at the same time then reach the
//! kernel at the same time, and a journaling filesystem commits them together (ext4
//! writes one journal commit for all the `fsync`s waiting on it). One thread would make
//! eight clients' uploads wait for eight commits in a row. No order is needed between
//! two flushes: each job asks for its folder's flush only after its own file's.

use std::fs::File;
use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

/// What the thread reports for one flush: None until it is done.
type Slot = Arc<Mutex<Option<io::Result<()>>>>;

/// How the thread wakes the loop once a flush is over.
#[derive(Clone)]
pub struct Wake(Arc<dyn Fn() + Send + Sync>);

impl Wake {
    pub fn new(wake: impl Fn() + Send + Sync + 'static) -> Wake {
        Wake(Arc::new(wake))
    }
}

impl std::fmt::Debug for Wake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wake")
    }
}

/// Helper threads: enough for the disk to see several flushes at once.
pub const THREADS: usize = 4;

/// The call that waits for the disk (a parameter only so that tests can make it fail).
type FlushFn = fn(&File) -> io::Result<()>;

/// One flush to do.
#[derive(Debug)]
struct Order {
    file: File,
    /// A folder: some filesystems cannot flush one, and then there is nothing more to do.
    folder: bool,
    done: Slot,
}

/// The flushing threads' mailbox. They end when this is dropped.
#[derive(Debug)]
pub struct Flusher {
    orders: Sender<Order>,
}

/// The answer to one flush, once the disk gave it.
#[derive(Debug)]
pub struct Ticket(Slot);

impl Ticket {
    fn ready(result: io::Result<()>) -> Ticket {
        Ticket(Arc::new(Mutex::new(Some(result))))
    }

    /// A flush that could not even start.
    pub fn failed(e: io::Error) -> Ticket {
        Ticket::ready(Err(e))
    }

    /// True once the flush is over (stored, or failed).
    pub fn is_done(&self) -> bool {
        self.lock().is_some()
    }

    /// The flush's result, once; None while the disk is still at it.
    pub fn take(&mut self) -> Option<io::Result<()>> {
        self.lock().take()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<io::Result<()>>> {
        // The thread only ever stores a value: a poisoned lock still holds a good one.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Flusher {
    /// Starts the threads; `wake` is called after each flush.
    pub fn start(wake: Option<Wake>) -> io::Result<Flusher> {
        Flusher::start_with(wake, crate::sys::flush_to_disk)
    }

    fn start_with(wake: Option<Wake>, flush: FlushFn) -> io::Result<Flusher> {
        let (orders, inbox) = mpsc::channel::<Order>();
        let inbox = Arc::new(Mutex::new(inbox));
        for n in 0..THREADS {
            let (inbox, wake) = (Arc::clone(&inbox), wake.clone());
            std::thread::Builder::new()
                .name(format!("flusher-{n}"))
                .spawn(move || work(&inbox, wake.as_ref(), flush))?;
        }
        Ok(Flusher { orders })
    }

    /// Flushes `file`'s bytes (and its size and times) to the disk.
    pub fn file(&self, file: &File) -> Ticket {
        match file.try_clone() {
            Ok(file) => self.send(file, false),
            Err(e) => Ticket::ready(Err(e)),
        }
    }

    /// Flushes a folder's names to the disk, through a handle on it. None: this OS has
    /// no way to ask (Windows), and the ticket is done at once.
    pub fn folder(&self, handle: io::Result<Option<File>>) -> Ticket {
        match handle {
            Ok(Some(file)) => self.send(file, true),
            Ok(None) => Ticket::ready(Ok(())),
            Err(e) => Ticket::ready(Err(e)),
        }
    }

    fn send(&self, file: File, folder: bool) -> Ticket {
        let done: Slot = Arc::default();
        let order = Order {
            file,
            folder,
            done: Arc::clone(&done),
        };
        match self.orders.send(order) {
            Ok(()) => Ticket(done),
            Err(_) => Ticket::ready(Err(io::Error::other("the flusher thread is gone"))),
        }
    }
}

/// One helper thread: takes the next order, waits for the disk, reports, until the
/// mailbox closes. Every order gets its answer: a flush that panics (a bug, or a
/// platform surprise) is reported as failed, and the thread lives on, so no client is
/// left waiting for an "ok" that never comes.
fn work(inbox: &Mutex<mpsc::Receiver<Order>>, wake: Option<&Wake>, flush: FlushFn) {
    loop {
        let next = inbox
            .lock()
            .map_err(|_| ())
            .and_then(|rx| rx.recv().map_err(|_| ()));
        let Ok(Order { file, folder, done }) = next else {
            return; // the server is gone
        };
        let result = match panic::catch_unwind(AssertUnwindSafe(|| flush(&file))) {
            Ok(Err(e)) if folder && folder_flush_unsupported(&e) => Ok(()),
            Ok(result) => result,
            Err(_) => {
                log::warn!("falló una escritura al disco por un error interno; se informa como no guardada");
                Err(io::Error::other("the flush panicked"))
            }
        };
        // Closed before the answer: on Windows an open handle can stand in the way of
        // the rename that publishes the file.
        drop(file);
        *done.lock().unwrap_or_else(|p| p.into_inner()) = Some(result);
        if let Some(Wake(wake)) = wake {
            wake();
        }
    }
}

/// Some filesystems cannot flush a folder's handle and say so with EINVAL (some network
/// and FUSE filesystems); their names are then as safe as they will ever be.
fn folder_flush_unsupported(e: &io::Error) -> bool {
    matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    /// Waits for a ticket, as the loop does over several turns.
    fn wait(mut ticket: Ticket) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(result) = ticket.take() {
                return result;
            }
            assert!(Instant::now() < deadline, "the flush never ended");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A file and then its folder are flushed, each answered on its own ticket.
    #[test]
    fn file_and_folder_flushes_are_answered() {
        let dir = std::env::temp_dir().join(format!("almacen-flusher-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = File::create(dir.join("a.bin")).unwrap();
        let flusher = Flusher::start(None).unwrap();
        wait(flusher.file(&file)).unwrap();
        let folder = crate::sys::Dir::open(&dir).unwrap();
        wait(flusher.folder(folder.flush_handle())).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A flush that panics is answered as failed, and the threads go on serving: more
    /// panics than there are threads, then a good flush, still gets its answer.
    #[test]
    fn a_panicking_flush_is_answered_and_the_threads_live_on() {
        fn panics_on_empty_files(file: &File) -> io::Result<()> {
            if file.metadata()?.len() == 0 {
                panic!("a flush that fails in an unexpected way");
            }
            Ok(())
        }
        let dir = std::env::temp_dir().join(format!("almacen-flusher-panic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = File::create(dir.join("empty.bin")).unwrap();
        std::fs::write(dir.join("full.bin"), b"bytes").unwrap();
        let full = File::open(dir.join("full.bin")).unwrap();
        let flusher = Flusher::start_with(None, panics_on_empty_files).unwrap();
        for _ in 0..THREADS * 2 {
            assert!(wait(flusher.file(&empty)).is_err());
        }
        wait(flusher.file(&full)).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A ticket read once is empty after: the result is handed over, not copied.
    #[test]
    fn a_ticket_gives_its_result_once() {
        let mut ticket = Ticket::ready(Ok(()));
        assert!(ticket.is_done());
        assert!(ticket.take().is_some());
        assert!(ticket.take().is_none());
    }
}
