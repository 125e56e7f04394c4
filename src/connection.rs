//! One client's state machine: a partial-frame read buffer, an outgoing queue, and what we
//! currently believe about the socket's readiness.
//!
//! mio delivers *edge-triggered* events: "this socket became readable" is said once, not
//! again and again while data waits. So the rule is to keep reading until the kernel says
//! `WouldBlock` ("nothing more right now; I will tell you when there is"; on Unix a short
//! read says the same, see [`Tuning::short_read_drains`]), and to remember in `Readiness`
//! that we have not heard that yet. When we stop early on purpose
//! (to be fair to other clients, or because this client is not reading its replies), those
//! flags stay set and the loop comes back to us without waiting for a new event.

use crate::outbox::{Chunk, Outbox, Transport};
use crate::protocol::{Bad, Check, Codec, Frame, Limits};
use crate::sys::SHORT_READ_DRAINS;
use std::io::ErrorKind;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// What a connection does with the frames it reads. The server's implementation runs the
/// operations; tests and fuzzers plug in their own.
pub trait Handler {
    /// A complete frame arrived, in the protocol `codec` (`frame` says where its parts
    /// sit in `bytes`): queue exactly one reply for it now, or say [`Flow::Wait`] when
    /// the reply will come later (from work the loop finishes between events). Replies
    /// keep the order of requests, so no other frame is handled meanwhile.
    fn request(&mut self, codec: Codec, bytes: &[u8], frame: Frame, out: &mut Outbox) -> Flow;
    /// A frame the stream cannot get past (over the size limit, or a header whose end
    /// cannot be found): queue a last reply before we close.
    fn invalid(&mut self, bad: &Bad, out: &mut Outbox);
}

/// What a handler did with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// The reply is queued.
    Done,
    /// The reply comes later; hold further requests until [`Connection::resume`].
    Wait,
    /// The reply is queued, and from the next frame on both sides speak this protocol
    /// (the `hola` negotiation).
    Switch(Codec),
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
    /// ...or more than this many chunks...
    pub high_water_chunks: usize,
    /// ...or this many open files. A download opens its file when its request is
    /// handled, so with 1 here pipelined downloads wait, unopened, until the one before
    /// them has been sent: a client cannot hold hundreds of descriptors.
    pub max_open_files: usize,
    /// The pickle pre-scan's limits (protocol 2's JSON uses the same depth and counts).
    pub pickle: crate::pickle::Limits,
    /// A read that fills less than the buffer means the socket is drained, so we need
    /// not read again until the next event (see [`crate::sys::SHORT_READ_DRAINS`]).
    pub short_read_drains: bool,
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
            max_open_files: 1,
            pickle: crate::pickle::Limits::default(),
            short_read_drains: SHORT_READ_DRAINS,
        }
    }
}

impl Tuning {
    /// The frame limits of both protocols.
    pub fn limits(&self) -> Limits {
        Limits {
            pickle: self.pickle,
            ..Limits::new(self.max_frame)
        }
    }
}

/// Where a connection is in its life. Handlers never remove a connection; they move it
/// along, and the event loop deregisters and drops it once it reads `Closed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Reading requests and writing replies.
    Open,
    /// A request's reply is being worked on (a job); later requests wait their turn.
    /// `input_ended` remembers that the peer half-closed meanwhile.
    Waiting { input_ended: bool },
    /// No more input will be read (the peer half-closed, or sent something we cannot
    /// follow). Buffered requests are still answered and the queue drains, then we close.
    Closing,
    /// Done: the loop drops it.
    Closed,
}

/// What the poller told us and we have not yet used up. Events are edge-triggered: each
/// is said once, so we remember it until a read or write says `WouldBlock`.
#[derive(Debug, Clone, Copy, Default)]
struct Readiness {
    read: bool,
    write: bool,
    /// The peer shut down its side (or the socket has an error): read on to the end,
    /// even after a short read.
    read_closed: bool,
}

/// Bytes all connections together may hold in large request frames that are still
/// arriving. A frame over [`SMALL_FRAME`] is read only once its whole size fits here;
/// until then it waits in the kernel (TCP tells the sender to slow down), while small
/// requests keep flowing. Forty clients each sending 15 MiB of a 16 MiB frame and then
/// stalling cannot make the server hold 600 MiB.
#[derive(Debug)]
pub struct RequestBudget {
    cap: usize,
    used: usize,
    /// Something was given back since the loop last asked: parked connections may go on.
    freed: bool,
}

/// Frames up to this size are always read (a request's first read brings in this much).
/// It is also the most a connection reads while its reply is being worked on, and the
/// size above which an emptied read buffer is trimmed.
pub const SMALL_FRAME: usize = 64 * 1024;

impl RequestBudget {
    pub fn new(cap: usize) -> RequestBudget {
        RequestBudget {
            cap,
            used: 0,
            freed: false,
        }
    }

    fn try_take(&mut self, n: usize) -> bool {
        let fits = self.used + n <= self.cap;
        if fits {
            self.used += n;
        }
        fits
    }

    fn give_back(&mut self, n: usize) {
        if n > 0 {
            self.used -= n;
            self.freed = true;
        }
    }

    /// True once after bytes were given back.
    pub fn take_freed(&mut self) -> bool {
        std::mem::take(&mut self.freed)
    }

    /// Bytes held now.
    pub fn used(&self) -> usize {
        self.used
    }
}

pub struct Connection<S> {
    stream: S,
    /// Who is on the other end (for the log).
    peer: SocketAddr,
    state: State,
    ready: Readiness,
    /// Bytes of frames not yet handled. Empty and unallocated while idle: the buffer is
    /// created when a partial frame has to wait, and freed when it is used up.
    inbuf: Vec<u8>,
    outbox: Outbox,
    /// When bytes last arrived (for stalled partial frames).
    last_read: Instant,
    /// Bytes of the [`RequestBudget`] held for the large frame being read.
    reserved: usize,
    /// The protocol this connection speaks (the course's, until `hola` says otherwise).
    codec: Codec,
    /// How many bytes the frame at the front of `inbuf` takes, once known: no need to look
    /// at it again (in protocol 2, parse its header again) until that many have arrived.
    need: Option<usize>,
    /// Its budgets and limits (shared by every connection of the server, hence the Rc).
    tuning: Rc<Tuning>,
    /// How many times the front frame was checked (the tests count re-parsing).
    #[cfg(test)]
    checks: std::cell::Cell<usize>,
}

impl<S: Transport> Connection<S> {
    pub fn new(stream: S, peer: SocketAddr, now: Instant, tuning: Rc<Tuning>) -> Self {
        Connection {
            stream,
            peer,
            state: State::Open,
            ready: Readiness {
                // A new socket starts writable; what it has to say comes with an event.
                write: true,
                ..Readiness::default()
            },
            inbuf: Vec::new(),
            outbox: Outbox::default(),
            last_read: now,
            reserved: 0,
            codec: Codec::default(),
            need: None,
            tuning,
            #[cfg(test)]
            checks: std::cell::Cell::new(0),
        }
    }

    /// Changes its budgets and limits (the server's last turn lifts the per-wake-up caps).
    pub fn retune(&mut self, tuning: Rc<Tuning>) {
        self.tuning = tuning;
    }

    /// Records what an event told us. Events are hints: the next read or write says
    /// what is really true, so a spurious event costs one `WouldBlock` and nothing else.
    pub fn mark_ready(&mut self, readable: bool, writable: bool) {
        self.ready.read |= readable;
        self.ready.write |= writable;
    }

    /// The event also said the peer closed its side, or the socket has an error.
    pub fn mark_read_closed(&mut self) {
        self.ready.read = true;
        self.ready.read_closed = true;
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Queues chunks from elsewhere (a push, a promised reply), whole, after whatever is
    /// already queued.
    pub fn enqueue(&mut self, chunks: impl IntoIterator<Item = Chunk>) {
        for chunk in chunks {
            self.outbox.push(chunk);
        }
    }

    /// Chunks and bytes queued now (for the push limits).
    pub fn queued(&self) -> (usize, usize) {
        (self.outbox.len(), self.outbox.memory())
    }

    /// Does as much as the budgets allow: write what is queued, read and handle requests,
    /// write their replies. Returns true when work is left that no event will announce
    /// (a budget ran out while the socket was still ready), so the loop must come back.
    pub fn service<H: Handler>(
        &mut self,
        scratch: &mut [u8],
        h: &mut H,
        budget: &mut RequestBudget,
        now: Instant,
    ) -> bool {
        let mut write_budget = self.tuning.write_budget;
        self.flush(&mut write_budget);
        if self.state != State::Closed {
            self.read_and_handle(scratch, h, budget, now);
            // A large frame whose start arrived asks for its room now, even if the read
            // ended early: until it is refused it is the client's to finish, and the
            // stall clock must run for it.
            self.admit(budget);
        }
        self.flush(&mut write_budget);
        if self.state == State::Closing && self.outbox.is_empty() && !self.has_complete_frame() {
            if !self.inbuf.is_empty() {
                log::debug!(
                    "{}: dropping {} B of an unfinished frame",
                    self.peer,
                    self.inbuf.len()
                );
            }
            self.state = State::Closed;
        }
        if self.state == State::Closed {
            self.release(budget);
            return false;
        }
        if self.holding() {
            // The stall clock measures the client, so it restarts while we hold input.
            self.last_read = now;
        }
        let can_take_more = !self.backpressured() && !self.is_waiting() && !self.is_parked();
        (self.ready.write && !self.outbox.is_empty())
            || (can_take_more
                && (self.has_complete_frame() || (self.state == State::Open && self.ready.read)))
    }

    /// True while the queue is over its high-water mark: we stop reading requests until
    /// the client reads its replies. A client that never reads cannot make us buffer more.
    pub fn backpressured(&self) -> bool {
        over_high_water(&self.outbox, &self.tuning)
    }

    /// True while a large frame waits for room in the [`RequestBudget`].
    pub fn is_parked(&self) -> bool {
        self.reserved == 0 && self.large_frame_pending().is_some()
    }

    /// We are the ones holding input back, not the client stalling: a complete frame
    /// waits its turn, the queue is full, a reply is being worked on, or the budget is.
    fn holding(&self) -> bool {
        self.is_waiting() || self.backpressured() || self.has_complete_frame() || self.is_parked()
    }

    /// The reply a [`Flow::Wait`] promised is now queued: go back to handling requests
    /// (the loop must then schedule this connection, as no event will announce it).
    pub fn resume(&mut self, now: Instant) {
        if let State::Waiting { input_ended } = self.state {
            self.state = if input_ended { State::Closing } else { State::Open };
        }
        // The time spent waiting on our own work is not the client's stall.
        self.last_read = now;
    }

    /// Reads no more requests (the server is shutting down); what is queued still goes out.
    pub fn stop_reading(&mut self, budget: &mut RequestBudget) {
        if self.state != State::Closed {
            self.state = State::Closing;
        }
        self.inbuf = Vec::new();
        self.release(budget);
    }

    /// Gives back what this connection holds of the request budget (it is closing).
    pub fn release(&mut self, budget: &mut RequestBudget) {
        budget.give_back(std::mem::take(&mut self.reserved));
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
        self.ready.write && !self.outbox.is_empty()
    }

    /// True while a promised reply is being worked on.
    pub fn is_waiting(&self) -> bool {
        matches!(self.state, State::Waiting { .. })
    }

    /// True when the connection wants to hear about writability (its queue is not empty).
    pub fn wants_write(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// A partial frame that has made no progress for `limit` (slowloris).
    pub fn stalled(&self, now: Instant, limit: Duration) -> bool {
        !self.holding() && !self.inbuf.is_empty() && now.saturating_duration_since(self.last_read) >= limit
    }

    /// Bytes held by this connection's own buffers (for logs and tests).
    pub fn buffered(&self) -> (usize, usize) {
        (self.inbuf.capacity(), self.outbox.memory())
    }

    /// The protocol this connection speaks now.
    pub fn codec(&self) -> Codec {
        self.codec
    }

    /// Bytes received and not yet taken as a frame (a partial one, or frames waiting for
    /// their turn): what tells a client that is stuck halfway through a request.
    pub fn unread(&self) -> usize {
        self.inbuf.len()
    }

    /// What the front of `inbuf` holds, without looking at it again while the bytes it
    /// is known to need have not all arrived.
    fn front(&self) -> Check {
        match self.need {
            // Every frame starts with its length: an empty buffer holds none.
            _ if self.inbuf.is_empty() => Check::Incomplete { need: None },
            Some(need) if self.inbuf.len() < need => Check::Incomplete { need: Some(need) },
            _ => {
                #[cfg(test)]
                self.checks.set(self.checks.get() + 1);
                self.codec.check(&self.inbuf, &self.tuning.limits())
            }
        }
    }

    /// True while the front frame is known to need more bytes than have arrived: no need
    /// to look at it (in protocol 2, to parse its JSON header) again yet.
    fn short_of_need(&self) -> bool {
        self.need.is_some_and(|need| self.inbuf.len() < need)
    }

    /// Notes what the front frame needs, after the front of `inbuf` changed.
    fn refresh_need(&mut self) {
        self.need = None;
        if let Check::Incomplete { need } = self.front() {
            self.need = need;
        }
    }

    fn has_complete_frame(&self) -> bool {
        !matches!(self.front(), Check::Incomplete { .. })
    }

    fn flush(&mut self, budget: &mut usize) {
        while self.ready.write && !self.outbox.is_empty() && *budget > 0 && self.state != State::Closed {
            match self.outbox.write_to(&mut self.stream, *budget) {
                Ok(0) => {
                    // The socket accepted nothing yet reported no error: treat it as gone.
                    self.state = State::Closed;
                }
                Ok(n) => {
                    *budget = budget.saturating_sub(n);
                    if log::log_enabled!(log::Level::Trace) {
                        let left = self.outbox.pending_bytes();
                        log::trace!("{}: wrote {n} B, {left} B left", self.peer);
                    }
                }
                // The kernel's send buffer is full. We will ask for WRITABLE and come back.
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.ready.write = false,
                // A signal arrived during the call; nothing was lost, just try again.
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("{}: write failed: {e}", self.peer);
                    self.state = State::Closed;
                }
            }
        }
    }

    /// Hands the complete frames at the front of `data` to the handler, and notes a
    /// promised reply. Returns the bytes used, or None after a frame over the limit.
    fn handle_frames<H: Handler>(
        &mut self,
        from_scratch: Option<&[u8]>,
        h: &mut H,
        frames: &mut usize,
    ) -> Option<usize> {
        let data = from_scratch.unwrap_or(&self.inbuf);
        let taken = take_frames(
            data,
            &mut self.outbox,
            h,
            &self.tuning,
            self.peer,
            &mut self.codec,
            frames,
        );
        #[cfg(test)]
        self.checks.set(self.checks.get() + taken.checked);
        if taken.too_large {
            self.stop_reading_after_bad_frame();
            return None;
        }
        if taken.waiting {
            self.state = State::Waiting { input_ended: false };
        }
        Some(taken.consumed)
    }

    fn read_and_handle<H: Handler>(
        &mut self,
        scratch: &mut [u8],
        h: &mut H,
        budget: &mut RequestBudget,
        now: Instant,
    ) {
        let mut read = 0;
        let mut frames = 0;
        loop {
            // First answer whatever complete frames are already buffered.
            if !self.answer_buffered(h, budget, &mut frames) {
                return;
            }
            // A large frame at the front asks for its room before it may grow.
            self.admit(budget);
            if !self.may_read(read, frames) {
                return;
            }
            match self.stream.read(scratch) {
                // A read of 0 bytes is how the kernel says "end of file": the peer will send
                // nothing more (it closed, or shut down its writing side). We still answer
                // what it already asked.
                Ok(0) => self.input_ended(),
                Ok(n) => {
                    log::trace!("{}: read {n} B", self.peer);
                    read += n;
                    self.last_read = now;
                    if n < scratch.len() && self.tuning.short_read_drains && !self.ready.read_closed {
                        // The kernel gave us less than we asked for: it had no more. The
                        // next arrival brings a new event, so we save the read that would
                        // only say WouldBlock.
                        self.ready.read = false;
                    }
                    if !self.take_read(&scratch[..n], h, &mut frames) {
                        return self.release(budget);
                    }
                }
                // Nothing more to read until the next readable event.
                Err(e) if e.kind() == ErrorKind::WouldBlock => self.ready.read = false,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    log::debug!("{}: read failed: {e}", self.peer);
                    self.state = State::Closed;
                    return;
                }
            }
        }
    }

    /// Hands buffered complete frames to the handler. Returns false after a frame over
    /// the limit (nothing more may be read).
    fn answer_buffered<H: Handler>(
        &mut self,
        h: &mut H,
        budget: &mut RequestBudget,
        frames: &mut usize,
    ) -> bool {
        if self.inbuf.is_empty() || self.is_waiting() || self.short_of_need() {
            return true;
        }
        let Some(consumed) = self.handle_frames(None, h, frames) else {
            self.release(budget);
            return false;
        };
        self.inbuf.drain(..consumed);
        if consumed > 0 {
            // The large frame we held budget for (always the front one) is done.
            self.release(budget);
            self.refresh_need();
        }
        self.shrink_inbuf();
        true
    }

    /// Whether to read more now: the input is open, the socket may have bytes, and no
    /// budget or limit says stop. It only looks; admission is [`Connection::admit`]'s.
    fn may_read(&self, read: usize, frames: usize) -> bool {
        let open = matches!(self.state, State::Open | State::Waiting { input_ended: false });
        // While a reply is being worked on, we still read (to notice a client that
        // resets), but only a little.
        let waiting_full = self.is_waiting() && self.inbuf.len() >= SMALL_FRAME;
        open && !waiting_full
            && self.ready.read
            && read < self.tuning.read_budget
            && frames < self.tuning.frames_budget
            && !self.backpressured()
            && !self.is_parked()
    }

    /// The peer shut down its sending side.
    fn input_ended(&mut self) {
        log::trace!("{}: read 0 B: the peer closed its side", self.peer);
        self.ready.read = false;
        self.state = match self.state {
            State::Waiting { .. } => State::Waiting { input_ended: true },
            _ => State::Closing,
        };
    }

    /// Takes bytes just read. Returns false after a frame over the limit.
    fn take_read<H: Handler>(&mut self, bytes: &[u8], h: &mut H, frames: &mut usize) -> bool {
        if !self.inbuf.is_empty() || self.is_waiting() {
            self.keep(bytes);
            return true;
        }
        // The common case: handle frames straight from the shared scratch buffer and
        // keep only the leftover partial frame.
        let Some(consumed) = self.handle_frames(Some(bytes), h, frames) else {
            return false;
        };
        self.keep(&bytes[consumed..]);
        true
    }

    /// A large frame at the front may grow only with room in the [`RequestBudget`]: takes
    /// that room if it is free. If it is not, the connection stays parked (see
    /// [`Connection::is_parked`]) and the loop brings it back when room is given back.
    fn admit(&mut self, budget: &mut RequestBudget) {
        if self.reserved > 0 {
            return;
        }
        let Some(total) = self.large_frame_pending() else {
            return;
        };
        if !budget.try_take(total) {
            log::debug!(
                "{}: a {total} B request waits for room ({} B of large requests buffered)",
                self.peer,
                budget.used()
            );
            return;
        }
        self.reserved = total;
        // Room for the whole frame in one step, so a 4 MiB upload is not copied by
        // repeated doubling (and does not end up in an 8 MiB buffer).
        self.inbuf.reserve_exact(total - self.inbuf.len());
    }

    /// Appends bytes of an unfinished frame.
    fn keep(&mut self, bytes: &[u8]) {
        let fresh = self.inbuf.is_empty();
        self.inbuf.extend_from_slice(bytes);
        // A frame whose size is known is looked at again only once all of it is here: a
        // client dripping a large frame a byte at a time must not make us parse its
        // header once per byte.
        if fresh || !self.short_of_need() {
            self.refresh_need();
        }
        if let Some(total) = self.need.filter(|n| *n <= SMALL_FRAME) {
            self.inbuf.reserve_exact(total - self.inbuf.len());
        }
    }

    /// The whole size of a frame over [`SMALL_FRAME`] still arriving at the front of
    /// `inbuf`.
    fn large_frame_pending(&self) -> Option<usize> {
        match self.front() {
            Check::Incomplete { need: Some(total) } if total > SMALL_FRAME => Some(total),
            _ => None,
        }
    }

    /// Returns memory once a large frame has been handled: an idle connection keeps no
    /// buffer, and a small leftover does not pin a big one.
    fn shrink_inbuf(&mut self) {
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
            return;
        }
        // Keep the room reserved for a frame that is still arriving.
        let needed = match self.front() {
            Check::Incomplete { need: Some(total) } if self.reserved > 0 => total,
            _ => self.inbuf.len(),
        };
        if self.inbuf.capacity() > SMALL_FRAME && needed < self.inbuf.capacity() / 4 {
            self.inbuf.shrink_to(needed);
        }
    }

    /// After a frame we cannot skip, the byte stream has lost its framing: read nothing
    /// more, let the error reply go out, then close.
    fn stop_reading_after_bad_frame(&mut self) {
        self.inbuf = Vec::new();
        self.need = None;
        self.state = State::Closing;
    }
}

fn over_high_water(outbox: &Outbox, t: &Tuning) -> bool {
    outbox.memory() > t.high_water_bytes
        || outbox.len() > t.high_water_chunks
        || outbox.files() >= t.max_open_files
}

struct Taken {
    consumed: usize,
    /// Frames looked at (for the tests' count of re-parsing).
    #[cfg_attr(not(test), allow(dead_code))]
    checked: usize,
    too_large: bool,
    /// The last frame handled asked us to wait for its reply.
    waiting: bool,
}

/// Hands every complete frame at the front of `data` to the handler, within the budgets.
/// A `hola` may switch the protocol between two frames of the same read.
fn take_frames<H: Handler>(
    data: &[u8],
    outbox: &mut Outbox,
    h: &mut H,
    t: &Tuning,
    peer: SocketAddr,
    codec: &mut Codec,
    frames: &mut usize,
) -> Taken {
    let mut taken = Taken {
        consumed: 0,
        checked: 0,
        too_large: false,
        waiting: false,
    };
    while *frames < t.frames_budget && !over_high_water(outbox, t) {
        let rest = &data[taken.consumed..];
        taken.checked += 1;
        match codec.check(rest, &t.limits()) {
            Check::Complete(frame) => {
                let len = frame.len;
                // The payload, as docs/architecture.md counts it: the prefix is not news.
                log::debug!("{peer}: frame of {} B", len - crate::frame::HEADER_LEN);
                let flow = h.request(*codec, &rest[..len], frame, outbox);
                taken.consumed += len;
                *frames += 1;
                match flow {
                    Flow::Done => {}
                    Flow::Switch(to) => {
                        log::debug!("{peer}: from the next frame on, protocol {to:?}");
                        *codec = to;
                    }
                    Flow::Wait => {
                        taken.waiting = true;
                        break;
                    }
                }
            }
            Check::Incomplete { .. } => break,
            Check::Invalid(bad) => {
                h.invalid(&bad, outbox);
                taken.too_large = true;
                break;
            }
        }
    }
    taken
}

#[cfg(test)]
mod tests;
