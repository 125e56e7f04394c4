//! Logging that never blocks the event loop: env_logger formats each line, a bounded queue
//! carries it to a writer thread, and a stalled stderr costs dropped lines, not a frozen server.
//!
//! Why: stderr is whatever the operator gave us. A pipe into a log reader that got stuck, a
//! terminal paused with Ctrl-S, a container runtime whose log driver blocks: in each case
//! `write(2)` on fd 2 sleeps once the kernel's buffer (64 KiB for a Linux pipe) is full. The
//! loop is one thread, so a `log::warn!` that sleeps means no client is served again until
//! someone reads. Here the loop only formats the line and hands it over with `try_send`, which
//! never waits: when the queue is full the line is counted and dropped. A separate thread does
//! the writing and may sleep as long as the reader likes. Once it has caught up (the queue is
//! empty) it writes one more line saying how many were lost.
//!
//! RUST_LOG, RUST_LOG_STYLE and the line format are env_logger's own: only its output target
//! changes, from stderr to [`Sink`]. docs/architecture.md ("Logging never blocks the loop")
//! says why this is a thread and not stderr as a non-blocking poll source.

use std::io::{self, Write};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Lines that may wait for the writer thread. A pipe holds about 500 of our lines, so this
/// is two more pipes' worth of slack before anything is lost.
pub(crate) const QUEUE_LINES: usize = 1024;
/// Bytes that may wait, whatever the lines' lengths: the queue's memory stays under this.
pub(crate) const QUEUE_BYTES: usize = 256 * 1024;
/// How long [`Guard`] waits at exit for queued lines to reach stderr.
const EXIT_FLUSH: Duration = Duration::from_secs(2);

/// What travels from the loop to the writer thread.
enum Item {
    Line(Vec<u8>),
    /// Write everything queued before this (and the loss count), then answer.
    Flush(SyncSender<()>),
}

/// Counters both sides share.
#[derive(Default)]
struct Shared {
    /// Lines dropped since the last notice was written.
    dropped: AtomicU64,
    /// Bytes of the lines now in the queue.
    queued: AtomicUsize,
}

/// The loop's end of the queue: env_logger writes each formatted line into it. Writing
/// never blocks; a line that does not fit is counted as lost instead.
#[derive(Clone)]
pub(crate) struct Sink {
    tx: SyncSender<Item>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

/// The writer thread's end of the queue.
pub(crate) struct Drain {
    rx: Receiver<Item>,
    shared: Arc<Shared>,
}

/// A queue of at most `lines` lines and `bytes` bytes.
pub(crate) fn channel(lines: usize, bytes: usize) -> (Sink, Drain) {
    let (tx, rx) = mpsc::sync_channel(lines);
    let shared = Arc::new(Shared::default());
    let sink = Sink {
        tx,
        shared: Arc::clone(&shared),
        max_bytes: bytes,
    };
    (sink, Drain { rx, shared })
}

impl Sink {
    /// Queues one line. False when it was dropped (and counted) because the queue is full.
    pub(crate) fn offer(&self, line: &[u8]) -> bool {
        let len = line.len();
        let before = self.shared.queued.fetch_add(len, Ordering::Relaxed);
        if before + len > self.max_bytes {
            self.shared.queued.fetch_sub(len, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        match self.tx.try_send(Item::Line(line.to_vec())) {
            Ok(()) => true,
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.shared.queued.fetch_sub(len, Ordering::Relaxed);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Lines lost that no notice has reported yet.
    #[cfg(test)]
    pub(crate) fn unreported(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Waits up to `limit` for every line queued so far (and the loss notice, if any) to be
    /// written. False when stderr stayed stalled that long. Only for the end of the program:
    /// this is the one call here that waits.
    pub(crate) fn flush_within(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        let (ack_tx, ack_rx) = mpsc::sync_channel(1);
        let mut item = Item::Flush(ack_tx);
        loop {
            match self.tx.try_send(item) {
                Ok(()) => break,
                Err(TrySendError::Disconnected(_)) => return false,
                Err(TrySendError::Full(back)) => {
                    if Instant::now() >= deadline {
                        return false;
                    }
                    item = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        ack_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .is_ok()
    }
}

impl Write for Sink {
    /// env_logger formats a whole record, then hands it over in one `write_all`: one call
    /// here is one line. It always "succeeds": a lost line is counted, not an error.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.offer(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drain {
    /// The writer thread's body: writes each queued line to `out`, and whenever it has
    /// caught up, the notice `notice(n)` for the `n` lines lost meanwhile. Returns when every
    /// [`Sink`] is gone. Write errors (stderr closed, EPIPE) lose the line quietly: there is
    /// nowhere left to report them.
    pub(crate) fn run(self, out: &mut dyn Write, notice: &dyn Fn(u64) -> Vec<u8>) {
        let report = |out: &mut dyn Write| {
            let lost = self.shared.dropped.swap(0, Ordering::Relaxed);
            if lost > 0 {
                let _ = out.write_all(&notice(lost));
                let _ = out.flush();
            }
        };
        loop {
            let item = match self.rx.try_recv() {
                Ok(item) => item,
                Err(TryRecvError::Empty) => {
                    // Caught up: the reader is taking lines again, so now is the moment
                    // to say what it missed.
                    report(out);
                    match self.rx.recv() {
                        Ok(item) => item,
                        Err(_) => return,
                    }
                }
                Err(TryRecvError::Disconnected) => {
                    report(out);
                    return;
                }
            };
            match item {
                Item::Line(line) => {
                    let _ = out.write_all(&line);
                    let _ = out.flush();
                    self.shared.queued.fetch_sub(line.len(), Ordering::Relaxed);
                }
                Item::Flush(ack) => {
                    report(out);
                    let _ = ack.send(());
                }
            }
        }
    }
}

/// Keeps the writer's queue reachable so that, when `main` returns, what is still queued
/// gets its chance to reach stderr (for at most two seconds, so a stalled stderr cannot
/// hold the exit).
pub struct Guard {
    sink: Option<Sink>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(sink) = self.sink.take() {
            sink.flush_within(EXIT_FLUSH);
        }
    }
}

/// Installs the global logger: env_logger's filter (RUST_LOG, default `warn`) and format,
/// with lines going through the queue to a writer thread. Keep the guard until the end of
/// `main`. If the thread cannot be started, logging falls back to plain blocking stderr.
pub fn init() -> Guard {
    let color = color_choice();
    let (sink, drain) = channel(QUEUE_LINES, QUEUE_BYTES);
    let notices = notice_logger(color);
    let spawned = std::thread::Builder::new()
        .name("log writer".into())
        .spawn(move || {
            let mut out = anstream::AutoStream::new(io::stderr(), color);
            drain.run(&mut out, &|lost| notices(lost));
        });
    let mut builder = builder(color);
    if spawned.is_err() {
        builder.init();
        return Guard { sink: None };
    }
    builder
        .target(env_logger::Target::Pipe(Box::new(sink.clone())))
        .init();
    Guard { sink: Some(sink) }
}

/// env_logger set up as the server always had it, minus the target.
fn builder(color: anstream::ColorChoice) -> env_logger::Builder {
    let mut b = env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn"));
    b.write_style(write_style(color));
    b
}

/// Colours as env_logger would pick them for stderr (RUST_LOG_STYLE, NO_COLOR, a terminal
/// or not). Written to a pipe of ours, env_logger would never colour, so it is decided here;
/// the writer thread's `AutoStream` then adapts the escapes to the console (on Windows too).
fn color_choice() -> anstream::ColorChoice {
    use anstream::ColorChoice;
    match std::env::var("RUST_LOG_STYLE").as_deref() {
        Ok("always") => ColorChoice::Always,
        Ok("never") => ColorChoice::Never,
        _ => anstream::AutoStream::choice(&io::stderr()),
    }
}

fn write_style(color: anstream::ColorChoice) -> env_logger::WriteStyle {
    match color {
        anstream::ColorChoice::Never => env_logger::WriteStyle::Never,
        _ => env_logger::WriteStyle::Always,
    }
}

/// The loss notice, formatted by an env_logger of its own: same format as every other line,
/// but no filter, so RUST_LOG=error or a per-module filter cannot hide that lines went missing.
fn notice_logger(color: anstream::ColorChoice) -> impl Fn(u64) -> Vec<u8> {
    let buf = Arc::new(Mutex::new(Vec::new()));
    let logger = builder(color)
        .filter_level(log::LevelFilter::Trace)
        .target(env_logger::Target::Pipe(Box::new(SharedBuf(Arc::clone(&buf)))))
        .build();
    move |lost| {
        let (verb, lines) = if lost == 1 {
            ("perdió", "línea")
        } else {
            ("perdieron", "líneas")
        };
        let args = format_args!("se {verb} {lost} {lines} del registro: nadie leía stderr");
        log::Log::log(
            &logger,
            &log::Record::builder()
                .level(log::Level::Warn)
                .target(module_path!())
                .args(args)
                .build(),
        );
        std::mem::take(&mut *buf.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// A `Write` into a buffer someone else also holds (where the notice logger leaves its line).
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::Receiver;

    /// A stderr whose reader is stalled until the test says go: the first write waits.
    struct Gated {
        /// Told when the first write starts; that write then waits for `gate`.
        stuck: mpsc::Sender<()>,
        gate: Option<Receiver<()>>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl Write for Gated {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if let Some(gate) = self.gate.take() {
                let _ = self.stuck.send(());
                let _ = gate.recv();
            }
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn notice(lost: u64) -> Vec<u8> {
        format!("LOST {lost}\n").into_bytes()
    }

    /// With nobody draining, lines past the queue's size are dropped and counted at once.
    #[test]
    fn lines_past_a_full_queue_are_counted_not_waited_for() {
        let (sink, _drain) = channel(4, 1 << 20);
        let kept = (0..10)
            .filter(|i| sink.offer(format!("line {i}\n").as_bytes()))
            .count();
        assert_eq!(kept, 4);
        assert_eq!(sink.unreported(), 6);
    }

    /// The byte budget holds even when few, long lines would fit the line count.
    #[test]
    fn the_byte_budget_drops_what_the_line_count_would_let_in() {
        let (sink, _drain) = channel(100, 1000);
        assert!(sink.offer(&[b'a'; 600]));
        assert!(!sink.offer(&[b'b'; 600]));
        assert!(sink.offer(&[b'c'; 400]));
        assert_eq!(sink.unreported(), 1);
    }

    /// A stalled writer loses the overflow; once it drains, one notice gives the exact count,
    /// after every line that was kept, and the counter starts again from zero.
    #[test]
    fn a_drained_queue_reports_the_lost_lines_once() {
        let (sink, drain) = channel(8, 1 << 20);
        let (open, gate) = mpsc::channel();
        let (stuck, is_stuck) = mpsc::channel();
        let written = Arc::new(Mutex::new(Vec::new()));
        let mut out = Gated {
            stuck,
            gate: Some(gate),
            written: Arc::clone(&written),
        };
        let writer = std::thread::spawn(move || drain.run(&mut out, &notice));
        // The writer takes line 0 and sticks in its write; then 8 more fit, and 91 are lost.
        assert!(sink.offer(b"line 0\n"));
        is_stuck
            .recv_timeout(Duration::from_secs(10))
            .expect("the writer takes the first line");
        let kept = 1
            + (1..100)
                .filter(|i| sink.offer(format!("line {i}\n").as_bytes()))
                .count();
        let lost = 100 - kept as u64;
        assert_eq!(kept, 9);
        assert_eq!(sink.unreported(), lost);
        open.send(()).unwrap();
        assert!(sink.flush_within(Duration::from_secs(10)));
        let text = String::from_utf8(written.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), kept + 1, "{text}");
        assert_eq!(lines[kept], format!("LOST {lost}"));
        assert_eq!(sink.unreported(), 0);
        // Nothing lost since: a second flush adds no notice.
        assert!(sink.offer(b"after\n"));
        assert!(sink.flush_within(Duration::from_secs(10)));
        assert!(written.lock().unwrap().ends_with(b"after\n"));
        drop(sink);
        writer.join().unwrap();
    }

    /// The notice looks like any other line of the log, and names the count.
    #[test]
    fn the_notice_has_env_loggers_format() {
        let line = String::from_utf8(notice_logger(anstream::ColorChoice::Never)(42)).unwrap();
        assert!(line.starts_with('['), "{line}");
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains("almacen::logsink]"), "{line}");
        assert!(
            line.ends_with("se perdieron 42 líneas del registro: nadie leía stderr\n"),
            "{line}"
        );
        let one = String::from_utf8(notice_logger(anstream::ColorChoice::Never)(1)).unwrap();
        assert!(
            one.ends_with("] se perdió 1 línea del registro: nadie leía stderr\n"),
            "{one}"
        );
    }
}
