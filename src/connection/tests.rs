//! The state machine over an in-memory stream: every readiness situation, no sockets.

use super::*;
use crate::frame;
use crate::outbox::Chunk;
use std::collections::VecDeque;
use std::io::{self, Read, Write};

/// What the next read returns.
enum Step {
    Data(Vec<u8>),
    WouldBlock,
    Eof,
}

/// An in-memory socket: scripted reads, and a send buffer with limited room.
struct Mock {
    input: VecDeque<Step>,
    output: Vec<u8>,
    room: usize,
}

impl Mock {
    fn new(steps: Vec<Step>) -> Mock {
        Mock {
            input: steps.into(),
            output: Vec::new(),
            room: usize::MAX,
        }
    }
}

impl Read for Mock {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.input.pop_front() {
            None | Some(Step::WouldBlock) => Err(io::ErrorKind::WouldBlock.into()),
            Some(Step::Eof) => Ok(0),
            Some(Step::Data(mut d)) => {
                let n = d.len().min(buf.len());
                buf[..n].copy_from_slice(&d[..n]);
                if n < d.len() {
                    self.input.push_front(Step::Data(d.split_off(n)));
                }
                Ok(n)
            }
        }
    }
}

impl Write for Mock {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = b.len().min(self.room);
        self.room -= n;
        self.output.extend_from_slice(&b[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Transport for Mock {}

/// Replies to each frame with the same payload, upper-cased, framed.
#[derive(Default)]
struct Echo {
    seen: usize,
    invalid: Vec<String>,
}

impl Handler for Echo {
    fn request(&mut self, _: Codec, bytes: &[u8], f: Frame, out: &mut Outbox) -> Flow {
        // The mock speaks the course's protocol: the payload follows the 4-byte prefix.
        let payload = &bytes[frame::HEADER_LEN..f.len];
        self.seen += 1;
        // "later" stands for work whose reply the loop delivers afterwards.
        if payload == b"later" {
            return Flow::Wait;
        }
        out.push(Chunk::bytes(
            frame::encode(&payload.to_ascii_uppercase()).unwrap(),
        ));
        Flow::Done
    }
    fn invalid(&mut self, bad: &Bad, out: &mut Outbox) {
        self.invalid.push(bad.detail.clone());
        out.push(Chunk::bytes(frame::encode(b"TOO BIG").unwrap()));
    }
}

/// The mock's script is the exact sequence of system calls, so these tests read on to
/// WouldBlock; the short-read rule has tests of its own below.
fn tuning() -> Tuning {
    Tuning {
        short_read_drains: false,
        ..Tuning::default()
    }
}

fn peer() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

fn frames(payloads: &[&[u8]]) -> Vec<u8> {
    payloads.iter().flat_map(|p| frame::encode(p).unwrap()).collect()
}

fn run(conn: &mut Connection<Mock>, h: &mut Echo, t: &Tuning) -> bool {
    let mut scratch = vec![0u8; 1024];
    conn.mark_ready(true, true);
    conn.retune(Rc::new(*t));
    conn.service(
        &mut scratch,
        h,
        &mut RequestBudget::new(usize::MAX),
        Instant::now(),
    )
}

/// Pipelined requests in one read are answered in order.
#[test]
fn pipelined_requests_are_answered_in_order() {
    let input = frames(&[b"uno", b"dos", b"tres"]);
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(input)]),
        peer(),
        Instant::now(),
        Rc::new(tuning()),
    );
    let mut h = Echo::default();
    run(&mut conn, &mut h, &tuning());
    assert_eq!(conn.stream.output, frames(&[b"UNO", b"DOS", b"TRES"]));
    assert_eq!(conn.state, State::Open);
}

/// A frame that arrives one byte per read is answered once, when it is whole.
#[test]
fn a_frame_trickled_byte_by_byte_is_answered_once() {
    let input = frames(&[b"lento"]);
    let steps = input
        .iter()
        .flat_map(|b| [Step::Data(vec![*b]), Step::WouldBlock])
        .collect();
    let mut conn = Connection::new(Mock::new(steps), peer(), Instant::now(), Rc::new(tuning()));
    let mut h = Echo::default();
    for _ in 0..input.len() {
        run(&mut conn, &mut h, &tuning());
    }
    assert_eq!(h.seen, 1);
    assert_eq!(conn.stream.output, frames(&[b"LENTO"]));
    assert_eq!(conn.buffered().0, 0, "the read buffer is released once used up");
}

/// Request then half-close: the reply still goes out, then the connection closes.
#[test]
fn half_close_still_gets_its_reply() {
    let steps = vec![Step::Data(frames(&[b"chao"])), Step::Eof];
    let mut conn = Connection::new(Mock::new(steps), peer(), Instant::now(), Rc::new(tuning()));
    let mut h = Echo::default();
    run(&mut conn, &mut h, &tuning());
    assert_eq!(conn.stream.output, frames(&[b"CHAO"]));
    assert_eq!(conn.state, State::Closed);
}

/// A length over the limit gets a last reply, and nothing after it is read.
#[test]
fn a_frame_over_the_limit_gets_a_reply_then_close() {
    let mut input = vec![0xff, 0xff, 0xff, 0xff];
    input.extend(frames(&[b"ignored"]));
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(input)]),
        peer(),
        Instant::now(),
        Rc::new(tuning()),
    );
    let mut h = Echo::default();
    let t = Tuning {
        max_frame: 100,
        ..tuning()
    };
    run(&mut conn, &mut h, &t);
    assert_eq!(h.invalid.len(), 1);
    assert!(h.invalid[0].contains("4294967295"), "{:?}", h.invalid);
    assert_eq!(h.seen, 0);
    assert_eq!(conn.stream.output, frames(&[b"TOO BIG"]));
    assert_eq!(conn.state, State::Closed);
}

/// A client that never reads stops being read from once its queue passes the high-water mark.
#[test]
fn a_client_that_never_reads_is_not_read_from() {
    let many: Vec<&[u8]> = vec![&[b'x'; 100]; 500];
    let mut mock = Mock::new(vec![Step::Data(frames(&many))]);
    mock.room = 0; // the peer's receive window is shut
    let mut conn = Connection::new(mock, peer(), Instant::now(), Rc::new(tuning()));
    let mut h = Echo::default();
    let t = Tuning {
        high_water_chunks: 10,
        ..tuning()
    };
    let more = run(&mut conn, &mut h, &t);
    assert_eq!(h.seen, 11, "stops right after passing the mark");
    assert!(conn.backpressured());
    assert!(!more, "nothing to do until the socket becomes writable");
    // The socket drains: the rest is answered, in order.
    conn.stream.room = usize::MAX;
    while run(&mut conn, &mut h, &t) {}
    assert_eq!(h.seen, 500);
    let expected: Vec<u8> = frames(&vec![&[b'X'; 100][..]; 500]);
    assert_eq!(conn.stream.output, expected);
}

/// When the frame budget runs out with requests still buffered, service asks to come back.
#[test]
fn budget_exhaustion_asks_for_another_turn() {
    let many: Vec<&[u8]> = vec![b"a"; 10];
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(frames(&many))]),
        peer(),
        Instant::now(),
        Rc::new(tuning()),
    );
    let mut h = Echo::default();
    let t = Tuning {
        frames_budget: 3,
        ..tuning()
    };
    assert!(run(&mut conn, &mut h, &t));
    assert_eq!(h.seen, 3);
    let mut turns = 1;
    while run(&mut conn, &mut h, &t) {
        turns += 1;
    }
    assert_eq!(h.seen, 10);
    assert!(turns >= 3);
}

/// A spurious readiness event (nothing to read) changes nothing.
#[test]
fn spurious_events_are_harmless() {
    let mut conn = Connection::new(Mock::new(vec![]), peer(), Instant::now(), Rc::new(tuning()));
    let mut h = Echo::default();
    assert!(!run(&mut conn, &mut h, &tuning()));
    assert_eq!(conn.state, State::Open);
    assert_eq!(h.seen, 0);
}

/// A partial frame that stops advancing is reported as stalled; a complete exchange is not.
#[test]
fn stalled_partial_frames_are_detected() {
    let start = Instant::now();
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(vec![0, 0, 0, 9, 1])]),
        peer(),
        start,
        Rc::new(tuning()),
    );
    let mut h = Echo::default();
    let mut scratch = vec![0u8; 64];
    conn.mark_ready(true, true);
    conn.service(&mut scratch, &mut h, &mut RequestBudget::new(usize::MAX), start);
    let limit = Duration::from_secs(60);
    assert!(!conn.stalled(start + Duration::from_secs(59), limit));
    assert!(conn.stalled(start + Duration::from_secs(61), limit));
}

/// A read error closes the connection at once.
#[test]
fn read_errors_close_the_connection() {
    struct Broken;
    impl Read for Broken {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::ErrorKind::ConnectionReset.into())
        }
    }
    impl Write for Broken {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }
    impl Transport for Broken {}
    struct Never;
    impl Handler for Never {
        fn request(&mut self, _: Codec, _: &[u8], _: Frame, _: &mut Outbox) -> Flow {
            unreachable!()
        }
        fn invalid(&mut self, _: &Bad, _: &mut Outbox) {
            unreachable!()
        }
    }
    let mut conn = Connection::new(Broken, peer(), Instant::now(), Rc::new(tuning()));
    conn.mark_ready(true, false);
    conn.service(
        &mut [0u8; 16],
        &mut Never,
        &mut RequestBudget::new(usize::MAX),
        Instant::now(),
    );
    assert_eq!(conn.state, State::Closed);
}

/// A request whose reply comes later holds the requests behind it until `resume`, so
/// replies keep their order, and a half-close meanwhile does not drop the promised reply.
#[test]
fn waiting_reply_holds_later_requests_in_order() {
    let input = frames(&[b"a", b"later", b"b", b"c"]);
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(input), Step::Eof]),
        peer(),
        Instant::now(),
        Rc::new(tuning()),
    );
    conn.mark_ready(true, false);
    let mut h = Echo::default();
    let t = Tuning::default();
    let more = run(&mut conn, &mut h, &t);
    assert_eq!(conn.stream.output, frames(&[b"A"]));
    assert!(conn.is_waiting());
    assert!(!more, "nothing to do until the promised reply arrives");
    assert_eq!(h.seen, 2);
    // The loop delivers the reply, then resumes the connection.
    conn.outbox.push(Chunk::bytes(frame::encode(b"LATER").unwrap()));
    conn.resume(Instant::now());
    while run(&mut conn, &mut h, &t) {}
    assert_eq!(conn.stream.output, frames(&[b"A", b"LATER", b"B", b"C"]));
    assert_eq!(
        conn.state,
        State::Closed,
        "the peer half-closed; all answered, so we close"
    );
}

/// While a reply is being worked on, a partial frame behind it does not count as stalled.
#[test]
fn waiting_connection_is_not_stalled() {
    let mut input = frames(&[b"later"]);
    input.extend_from_slice(&[0, 0, 0, 9, b'x']);
    let start = Instant::now();
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(input)]),
        peer(),
        start,
        Rc::new(tuning()),
    );
    conn.mark_ready(true, false);
    run(&mut conn, &mut Echo::default(), &tuning());
    let later = start + Duration::from_secs(120);
    assert!(!conn.stalled(later, Duration::from_secs(60)));
}

/// With the short-read rule, a read that fills less than the buffer ends the turn's
/// reading: the read that would only say WouldBlock is saved.
#[test]
fn short_read_saves_the_read_that_would_block() {
    // If the connection read again, it would see this EOF and start closing.
    let steps = vec![Step::Data(frames(&[b"uno"])), Step::Eof];
    let mut conn = Connection::new(Mock::new(steps), peer(), Instant::now(), Rc::new(tuning()));
    let t = Tuning {
        short_read_drains: true,
        ..Tuning::default()
    };
    let more = run(&mut conn, &mut Echo::default(), &t);
    assert_eq!(conn.stream.output, frames(&[b"UNO"]));
    assert_eq!(conn.state, State::Open, "no second read");
    assert!(!more, "nothing to do until the next event");
    assert_eq!(conn.stream.input.len(), 1);
}

/// A half-close reported with the event is read to the end despite the short read:
/// the reply goes out and the connection closes.
#[test]
fn half_close_with_short_read_is_still_read_to_the_end() {
    let steps = vec![Step::Data(frames(&[b"chao"])), Step::Eof];
    let mut conn = Connection::new(Mock::new(steps), peer(), Instant::now(), Rc::new(tuning()));
    let t = Tuning {
        short_read_drains: true,
        ..Tuning::default()
    };
    conn.mark_read_closed();
    run(&mut conn, &mut Echo::default(), &t);
    assert_eq!(conn.stream.output, frames(&[b"CHAO"]));
    assert_eq!(conn.state, State::Closed);
}

/// A large frame is read only when the shared budget has room for all of it; the
/// connection waits (parked) meanwhile, and goes on once room is given back.
#[test]
fn large_frames_wait_for_room_in_the_shared_budget() {
    let big = vec![b'x'; 3 * SMALL_FRAME];
    let input = frames(&[&big]);
    let mut budget = RequestBudget::new(4 * SMALL_FRAME);
    assert!(budget.try_take(2 * SMALL_FRAME), "someone else holds half");
    let mut conn = Connection::new(
        Mock::new(vec![Step::Data(input)]),
        peer(),
        Instant::now(),
        Rc::new(tuning()),
    );
    let mut h = Echo::default();
    let mut scratch = vec![0u8; SMALL_FRAME];
    conn.mark_ready(true, true);
    conn.service(&mut scratch, &mut h, &mut budget, Instant::now());
    assert!(conn.is_parked(), "no room for the whole frame yet");
    assert!(
        conn.buffered().0 <= 2 * SMALL_FRAME,
        "only the first read is held"
    );
    assert!(!conn.stalled(
        Instant::now() + Duration::from_secs(3600),
        Duration::from_secs(60)
    ));
    budget.give_back(2 * SMALL_FRAME);
    assert!(budget.take_freed());
    while conn.service(&mut scratch, &mut h, &mut budget, Instant::now()) {}
    assert_eq!(h.seen, 1, "answered once room was there");
    assert_eq!(budget.used(), 0, "and the room given back");
}

/// A client that announces a large frame, sends a little of it and stops is the
/// client's stall, not ours: with room in the budget it is not parked, and the stall
/// clock runs (a slowloris cannot hide behind the budget).
#[test]
fn a_large_frame_abandoned_early_is_still_timed_out() {
    let mut start = ((4 * SMALL_FRAME) as u32).to_be_bytes().to_vec();
    start.extend_from_slice(b"0123456789");
    let t = Tuning {
        short_read_drains: true,
        ..Tuning::default()
    };
    let now = Instant::now();
    let mut conn = Connection::new(Mock::new(vec![Step::Data(start)]), peer(), now, Rc::new(t));
    let mut budget = RequestBudget::new(64 * SMALL_FRAME);
    let mut scratch = vec![0u8; SMALL_FRAME];
    conn.mark_ready(true, false);
    conn.service(&mut scratch, &mut Echo::default(), &mut budget, now);
    assert!(!conn.is_parked(), "there was room: it is not waiting for us");
    let limit = Duration::from_secs(60);
    assert!(conn.stalled(now + limit + Duration::from_secs(1), limit));
    conn.release(&mut budget);
    assert_eq!(budget.used(), 0);
}

/// A frame that arrives in many small reads is looked at again only once all of it is
/// here, not once per read (in protocol 2, each look parses the JSON header: a client
/// dripping its raw bytes must not make the loop parse it once per byte).
#[test]
fn a_frame_arriving_in_small_reads_is_not_checked_once_per_read() {
    let payload = vec![b'x'; 50_000];
    let whole = frames(&[&payload]);
    let steps: Vec<Step> = whole.chunks(500).map(|c| Step::Data(c.to_vec())).collect();
    let reads = steps.len();
    let mut conn = Connection::new(Mock::new(steps), peer(), Instant::now(), Rc::new(tuning()));
    let mut h = Echo::default();
    while run(&mut conn, &mut h, &tuning()) {}
    assert_eq!(h.seen, 1);
    let checks = conn.checks.get();
    assert!(checks <= 6, "{checks} checks for {reads} reads");
}
