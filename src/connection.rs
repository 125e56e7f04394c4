//! One client's state machine: a partial-frame read buffer, an outgoing queue, and what we
//! currently believe about the socket's readiness.
//!
//! mio delivers *edge-triggered* events: "this socket became readable" is said once, not
//! again and again while data waits. So the rule is to keep reading until the kernel says
//! `WouldBlock` ("nothing more right now; I will tell you when there is"), and to remember
//! in `readable`/`writable` that we have not heard that yet. When we stop early on purpose
//! (to be fair to other clients, or because this client is not reading its replies), those
//! flags stay set and the loop comes back to us without waiting for a new event.

use crate::frame::{self, Check};
use crate::outbox::{Outbox, Transport};
use std::io::ErrorKind;
use std::time::{Duration, Instant};

/// What a connection does with the frames it reads. The server's implementation runs the
/// operations; tests and fuzzers plug in their own.
pub trait Handler {
    /// A complete frame's payload arrived: queue exactly one reply for it now, or say
    /// [`Flow::Wait`] when the reply will come later (from work the loop finishes between
    /// events). Replies keep the order of requests, so no other frame is handled meanwhile.
    fn request(&mut self, payload: &[u8], out: &mut Outbox) -> Flow;
    /// A length prefix over the limit arrived: queue a last reply before we close.
    fn too_large(&mut self, len: u64, out: &mut Outbox);
}

/// What a handler did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The reply is queued.
    Done,
    /// The reply comes later; hold further requests until [`Connection::resume`].
    Wait,
}

/// Per-wake-up budgets and limits.
#[derive(Debug, Clone, Copy)]
pub struct Tuning {
    /// Largest payload a frame may announce.
    pub max_frame: usize,
    /// Bytes read from one connection per wake-up before others get their turn.
    pub read_budget: usize,
    /// Bytes written to one connection per wake-up (so a 1 GiB download cannot starve a
    /// `listar` on another connection).
    pub write_budget: usize,
    /// Requests handled per wake-up.
    pub frames_budget: usize,
    /// While the queue holds more than this many bytes in memory, we stop reading requests.
    pub high_water_bytes: usize,
    /// ...or more than this many chunks (each file chunk holds an open file).
    pub high_water_chunks: usize,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            max_frame: 16 * 1024 * 1024,
            read_budget: 256 * 1024,
            write_budget: 512 * 1024,
            frames_budget: 64,
            high_water_bytes: 256 * 1024,
            high_water_chunks: 32,
        }
    }
}

/// Where a connection is in its life. Handlers never remove a connection; they move it
/// along, and the event loop deregisters and drops it once it reads `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reading requests and writing replies.
    Open,
    /// No more input will be read (the peer half-closed, or sent something we cannot
    /// follow). Buffered requests are still answered and the queue drains, then we close.
    Closing,
    /// Done: the loop drops it.
    Closed,
}

pub struct Connection<S> {
    pub stream: S,
    pub state: State,
    /// Bytes of frames not yet handled. Empty and unallocated while idle: the buffer is
    /// created when a partial frame has to wait, and freed when it is used up.
    inbuf: Vec<u8>,
    pub outbox: Outbox,
    /// A request's reply is still being worked on; later requests wait their turn.
    waiting: bool,
    /// We have not yet seen WouldBlock on read since the last readable event.
    readable: bool,
    /// Likewise for writes. A new socket starts writable.
    writable: bool,
    /// When bytes last arrived (for stalled partial frames).
    last_read: Instant,
    /// We are the ones holding input back (a complete frame waits for its turn, the queue
    /// is over its high-water mark, or a reply is being worked on): not the client's stall.
    held: bool,
}

impl<S: Transport> Connection<S> {
    pub fn new(stream: S, now: Instant) -> Self {
        Connection {
            stream,
            state: State::Open,
            inbuf: Vec::new(),
            outbox: Outbox::default(),
            waiting: false,
            readable: false,
            writable: true,
            last_read: now,
            held: false,
        }
    }

    /// Records what an event told us. Events are hints: the next read or write says
    /// what is really true, so a spurious event costs one `WouldBlock` and nothing else.
    pub fn mark_ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        self.writable |= writable;
    }

    /// Does as much as the budgets allow: write what is queued, read and handle requests,
    /// write their replies. Returns true when work is left that no event will announce
    /// (a budget ran out while the socket was still ready), so the loop must come back.
    pub fn service<H: Handler>(&mut self, scratch: &mut [u8], h: &mut H, t: &Tuning, now: Instant) -> bool {
        let mut write_budget = t.write_budget;
        self.flush(&mut write_budget);
        if self.state != State::Closed {
            self.read_and_handle(scratch, h, t, now);
        }
        self.flush(&mut write_budget);
        if self.state == State::Closing
            && self.outbox.is_empty()
            && !self.waiting
            && !self.has_complete_frame(t)
        {
            if !self.inbuf.is_empty() {
                log::debug!("dropping {} bytes of an unfinished frame", self.inbuf.len());
            }
            self.state = State::Closed;
        }
        if self.state == State::Closed {
            return false;
        }
        self.held = self.waiting || self.backpressured(t) || self.has_complete_frame(t);
        if self.held {
            // The stall clock measures the client, so it restarts while we hold input.
            self.last_read = now;
        }
        let can_take_more = !self.backpressured(t) && !self.waiting;
        (self.writable && !self.outbox.is_empty())
            || (can_take_more && (self.has_complete_frame(t) || (self.state == State::Open && self.readable)))
    }

    /// True while the queue is over its high-water mark: we stop reading requests until
    /// the client reads its replies. A client that never reads cannot make us buffer more.
    pub fn backpressured(&self, t: &Tuning) -> bool {
        over_high_water(&self.outbox, t)
    }

    /// The reply a [`Flow::Wait`] promised is now queued: go back to handling requests
    /// (the loop must then schedule this connection, as no event will announce it).
    pub fn resume(&mut self, now: Instant) {
        self.waiting = false;
        // The time spent waiting on our own work is not the client's stall.
        self.last_read = now;
    }

    /// Reads no more requests (the server is shutting down); what is queued still goes out.
    pub fn stop_reading(&mut self) {
        if self.state == State::Open {
            self.state = State::Closing;
        }
        self.inbuf = Vec::new();
    }

    /// Writes what is queued, within `budget`. True once there is nothing left to send
    /// (or the peer is gone).
    pub fn drain(&mut self, budget: usize) -> bool {
        let mut budget = budget;
        self.flush(&mut budget);
        self.state == State::Closed || self.outbox.is_empty()
    }

    /// True when bytes are queued and the socket has not said WouldBlock since.
    pub fn can_write(&self) -> bool {
        self.writable && !self.outbox.is_empty()
    }

    /// True while a promised reply is being worked on.
    pub fn is_waiting(&self) -> bool {
        self.waiting
    }

    /// True when the connection wants to hear about writability (its queue is not empty).
    pub fn wants_write(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// A partial frame that has made no progress for `limit` (slowloris).
    pub fn stalled(&self, now: Instant, limit: Duration) -> bool {
        !self.held && !self.inbuf.is_empty() && now.saturating_duration_since(self.last_read) >= limit
    }

    /// Bytes held by this connection's own buffers (for logs and tests).
    pub fn buffered(&self) -> (usize, usize) {
        (self.inbuf.capacity(), self.outbox.memory())
    }

    fn has_complete_frame(&self, t: &Tuning) -> bool {
        matches!(frame::check(&self.inbuf, t.max_frame), Check::Complete { .. })
    }

    fn flush(&mut self, budget: &mut usize) {
        while self.writable && !self.outbox.is_empty() && *budget > 0 && self.state != State::Closed {
            match self.outbox.write_to(&mut self.stream, *budget) {
                Ok(0) => {
                    // The socket accepted nothing yet reported no error: treat it as gone.
                    self.state = State::Closed;
                }
                Ok(n) => *budget = budget.saturating_sub(n),
                // The kernel's send buffer is full. We will ask for WRITABLE and come back.
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.writable = false,
                // A signal arrived during the call; nothing was lost, just try again.
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("write failed: {e}");
                    self.state = State::Closed;
                }
            }
        }
    }

    fn read_and_handle<H: Handler>(&mut self, scratch: &mut [u8], h: &mut H, t: &Tuning, now: Instant) {
        let mut read = 0;
        let mut frames = 0;
        loop {
            // First answer whatever complete frames are already buffered.
            if !self.inbuf.is_empty() && !self.waiting {
                let taken = take_frames(&self.inbuf, &mut self.outbox, h, t, &mut frames);
                if taken.too_large {
                    self.stop_reading_after_bad_frame();
                    return;
                }
                self.waiting = taken.waiting;
                self.inbuf.drain(..taken.consumed);
                self.shrink_inbuf(t);
            }
            if self.state != State::Open
                || (self.waiting && self.inbuf.len() >= WAITING_READ_MAX)
                || !self.readable
                || read >= t.read_budget
                || frames >= t.frames_budget
                || self.backpressured(t)
            {
                return;
            }
            match self.stream.read(scratch) {
                // A read of 0 bytes is how the kernel says "end of file": the peer will send
                // nothing more (it closed, or shut down its writing side). We still answer
                // what it already asked.
                Ok(0) => {
                    self.readable = false;
                    self.state = State::Closing;
                }
                Ok(n) => {
                    read += n;
                    self.last_read = now;
                    if self.inbuf.is_empty() && !self.waiting {
                        // The common case: handle frames straight from the shared scratch
                        // buffer and keep only the leftover partial frame.
                        let taken = take_frames(&scratch[..n], &mut self.outbox, h, t, &mut frames);
                        if taken.too_large {
                            self.stop_reading_after_bad_frame();
                            return;
                        }
                        self.waiting = taken.waiting;
                        self.keep(&scratch[taken.consumed..n], t);
                    } else {
                        self.keep(&scratch[..n], t);
                    }
                }
                // Nothing more to read until the next readable event.
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.readable = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("read failed: {e}");
                    self.state = State::Closed;
                    return;
                }
            }
        }
    }

    /// Appends bytes of an unfinished frame. Once its length prefix is known, room for the
    /// whole frame is reserved in one step, so a 4 MiB upload is not copied by repeated
    /// doubling (and does not end up in an 8 MiB buffer).
    fn keep(&mut self, bytes: &[u8], t: &Tuning) {
        self.inbuf.extend_from_slice(bytes);
        if let Check::Incomplete { need: Some(total) } = frame::check(&self.inbuf, t.max_frame) {
            self.inbuf.reserve_exact(total - self.inbuf.len());
        }
    }

    /// Returns memory once a large frame has been handled: an idle connection keeps no
    /// buffer, and a small leftover does not pin a big one.
    fn shrink_inbuf(&mut self, t: &Tuning) {
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
            return;
        }
        // Keep the room reserved for a frame that is still arriving.
        let needed = match frame::check(&self.inbuf, t.max_frame) {
            Check::Incomplete { need: Some(total) } => total,
            _ => self.inbuf.len(),
        };
        if self.inbuf.capacity() > SHRINK_ABOVE && needed < self.inbuf.capacity() / 4 {
            self.inbuf.shrink_to(needed);
        }
    }

    /// After a frame we cannot skip, the byte stream has lost its framing: read nothing
    /// more, let the error reply go out, then close.
    fn stop_reading_after_bad_frame(&mut self) {
        self.inbuf = Vec::new();
        self.state = State::Closing;
    }
}

fn over_high_water(outbox: &Outbox, t: &Tuning) -> bool {
    outbox.memory() > t.high_water_bytes || outbox.len() > t.high_water_chunks
}

/// A read buffer bigger than this is trimmed when mostly empty.
const SHRINK_ABOVE: usize = 64 * 1024;
/// While a reply is being worked on, we still read (to notice a client that resets), but
/// only this much.
const WAITING_READ_MAX: usize = 64 * 1024;

struct Taken {
    consumed: usize,
    too_large: bool,
    /// The last frame handled asked us to wait for its reply.
    waiting: bool,
}

/// Hands every complete frame at the front of `data` to the handler, within the budgets.
fn take_frames<H: Handler>(
    data: &[u8],
    outbox: &mut Outbox,
    h: &mut H,
    t: &Tuning,
    frames: &mut usize,
) -> Taken {
    let mut consumed = 0;
    loop {
        if *frames >= t.frames_budget || over_high_water(outbox, t) {
            break;
        }
        match frame::check(&data[consumed..], t.max_frame) {
            Check::Complete { len } => {
                let start = consumed + frame::HEADER_LEN;
                log::debug!("frame of {len} bytes");
                let flow = h.request(&data[start..start + len], outbox);
                consumed = start + len;
                *frames += 1;
                if flow == Flow::Wait {
                    return Taken {
                        consumed,
                        too_large: false,
                        waiting: true,
                    };
                }
            }
            Check::Incomplete { .. } => break,
            Check::TooLarge { len } => {
                h.too_large(len, outbox);
                return Taken {
                    consumed,
                    too_large: true,
                    waiting: false,
                };
            }
        }
    }
    Taken {
        consumed,
        too_large: false,
        waiting: false,
    }
}

#[cfg(test)]
mod tests;
