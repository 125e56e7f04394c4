//! The event loop: one thread, one `mio::Poll`, a slab of connections.
//!
//! Every source the server cares about (the listening socket, each client, stdin, the
//! signal pipe) is registered with one `Poll` under a `Token`. `poll()` sleeps until some
//! of them are ready, and the loop visits just those. Nothing here ever blocks: a socket
//! that is not ready says `WouldBlock` and we move on to the next.

use crate::config::Config;
use crate::connection::{Connection, RequestBudget, State, Tuning};
use crate::console::{Command, Console};
use crate::frame;
use crate::message;
use crate::ops::{Context, Dispatch, Farewell, CLOSING};
use crate::outbox::Chunk;
use crate::pickle::{Data, Envelope};
use crate::signals::Signals;
use crate::storage::Storage;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use slab::Slab;
use std::fmt;
use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const CONSOLE: Token = Token(1);
const SIGNALS: Token = Token(2);
/// The flusher thread's wake-up: a write is on the disk.
const FLUSHED: Token = Token(3);
/// Connection tokens are slab keys shifted past the fixed tokens above.
const FIRST_CLIENT: usize = 4;

/// How long accept() rests after the process ran out of file descriptors.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);
/// How often stalled partial frames are looked for.
const SWEEP_EVERY: Duration = Duration::from_secs(1);
/// Bytes one read may bring in; shared by all connections (there is only one thread).
const SCRATCH: usize = 64 * 1024;
/// How long a shutdown waits for goodbyes and queued replies to reach their clients.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);
/// A client turned away (server full) keeps its socket this long after our error frame,
/// for its request to arrive and be dropped (see `admit`).
const TURNED_AWAY_LINGER: Duration = Duration::from_secs(5);
/// How many turned-away sockets are kept at once; past that they are closed at once (each
/// holds a descriptor, and a full server may be full for want of descriptors).
const TURNED_AWAY_MAX: usize = 8;
/// How often turned-away sockets are read while any is kept.
const TURNED_AWAY_TICK: Duration = Duration::from_millis(50);
/// Staged leftovers older than this are removed at start.
const STAGING_MAX_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// Why the server could not start. Each is one line for stderr.
#[derive(Debug)]
pub enum StartError {
    Folder(std::path::PathBuf, io::Error),
    Resolve(String),
    Bind(SocketAddr, io::Error),
    Setup(io::Error),
    /// The staging folder is a symlink or not a plain folder: never used, never followed.
    Staging(std::path::PathBuf),
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::spanish::{io_error, shell_word};
        match self {
            StartError::Folder(p, e) if e.kind() == ErrorKind::NotFound => write!(
                f,
                "no existe la carpeta {0}: créela con `mkdir {1}` o elija otra con --dir CARPETA",
                p.display(),
                shell_word(&p.display().to_string())
            ),
            StartError::Folder(p, e) => write!(f, "no se puede compartir la carpeta {}: {}", p.display(), io_error(e)),
            StartError::Resolve(h) => write!(
                f,
                "no se encontró el host {h:?}: use una dirección como 127.0.0.1 o 0.0.0.0, o un nombre que exista"
            ),
            StartError::Bind(a, e) if e.kind() == ErrorKind::AddrInUse => write!(
                f,
                "el puerto {} ya está en uso en {}: cierre el otro programa o elija otro puerto (0 elige uno libre)",
                a.port(),
                a.ip()
            ),
            StartError::Bind(a, e) if e.kind() == ErrorKind::AddrNotAvailable => write!(
                f,
                "la dirección {} no es de este computador: use 0.0.0.0 para escuchar en todas sus direcciones",
                a.ip()
            ),
            StartError::Bind(a, e) if e.kind() == ErrorKind::PermissionDenied => write!(
                f,
                "no hay permiso para escuchar en el puerto {}: los puertos bajo 1024 suelen estar reservados; use otro, como 3247",
                a.port()
            ),
            StartError::Bind(a, e) => write!(f, "no se puede escuchar en {a}: {}", io_error(e)),
            StartError::Setup(e) => write!(f, "no se pudo preparar el bucle de eventos: {}", io_error(e)),
            StartError::Staging(p) => write!(
                f,
                "{} no es una carpeta común (¿un enlace simbólico?); el servidor no la usará: bórrela o muévala y vuelva a iniciarlo",
                p.display()
            ),
        }
    }
}

/// One client: its connection state machine plus what the loop tracks about it.
struct Client {
    conn: Connection<TcpStream>,
    /// Its id in `ctx.peers` (ids are never reused; slab keys are).
    id: u64,
    peer: SocketAddr,
    /// What we last told the poller we want to hear about.
    interest: Interest,
}

pub struct Server {
    poll: Poll,
    listener: TcpListener,
    local: SocketAddr,
    clients: Slab<Client>,
    ctx: Context,
    /// Every connection's budgets and limits (each holds this same one).
    tuning: Rc<Tuning>,
    max_clients: usize,
    frame_timeout: Duration,
    console: Console,
    signals: Option<Signals>,
    /// While set, accept() waits for file descriptors to free up.
    accept_paused_until: Option<Instant>,
    /// Clients to visit this turn: those an event named, and those with work left that no
    /// event will announce (a budget ran out). A key may be pushed twice; a turn visits it
    /// once. This list is the one record of who is due: clients carry no flag of it.
    ready: Vec<usize>,
    /// Room for large requests, shared by every client.
    budget: RequestBudget,
    /// Clients whose large request waits for room in `budget`: the one record of who is
    /// parked. They go back to `ready` when room is given back.
    parked: Vec<usize>,
    scratch: Box<[u8]>,
    /// Clients told "servidor lleno", with our side of their socket shut, and when to
    /// close them.
    turned_away: Vec<(TcpStream, Instant)>,
}

/// The poller's name for a client.
fn token(key: usize) -> Token {
    Token(key + FIRST_CLIENT)
}

impl Server {
    /// Opens the folder, binds the port and registers every source. Nothing is served
    /// until [`Server::run`].
    pub fn bind(config: &Config) -> Result<Server, StartError> {
        let storage = Storage::open(&config.dir).map_err(|e| StartError::Folder(config.dir.clone(), e))?;
        let addr = resolve(&config.host, config.port)?;
        let mut listener = crate::sys::bind_listener(addr).map_err(|e| StartError::Bind(addr, e))?;
        let local = listener.local_addr().map_err(StartError::Setup)?;
        let poll = Poll::new().map_err(StartError::Setup)?;
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(StartError::Setup)?;
        let console = Console::register(poll.registry(), CONSOLE);
        let signals = match Signals::install(poll.registry(), SIGNALS) {
            Ok(s) => Some(s),
            Err(e) => {
                log::warn!(
                    "no se pueden atender las señales de cierre ({}); Ctrl-C cerrará el servidor de golpe",
                    crate::spanish::io_error(&e)
                );
                None
            }
        };
        let tuning = Rc::new(Tuning {
            max_frame: config.max_frame,
            ..Tuning::default()
        });
        let ctx = shared_state(config, storage)?;
        let waker = crate::sys::shared_waker(poll.registry(), FLUSHED).map_err(StartError::Setup)?;
        ctx.storage.wake_with(crate::flusher::Wake::new(move || {
            let _ = waker.wake();
        }));
        let max_clients = config.max_clients.min(client_ceiling());
        if max_clients < config.max_clients {
            log::info!("the open-file limit allows {max_clients} clients at once");
        }
        Ok(Server {
            poll,
            listener,
            local,
            clients: Slab::new(),
            ctx,
            tuning,
            max_clients,
            frame_timeout: config.frame_timeout,
            console,
            signals,
            accept_paused_until: None,
            ready: Vec::new(),
            budget: RequestBudget::new(config.max_buffered.max(config.max_frame + frame::HEADER_LEN)),
            parked: Vec::new(),
            scratch: vec![0; SCRATCH].into_boxed_slice(),
            turned_away: Vec::new(),
        })
    }

    /// The address actually bound (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// Runs until Enter on the console, SIGINT or SIGTERM.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        loop {
            let timeout = self.next_timeout(Instant::now());
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == ErrorKind::Interrupted {
                    continue; // a signal interrupted the wait; its byte is in the pipe
                }
                return Err(e);
            }
            let now = Instant::now();
            let mut shutdown = false;
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(now),
                    // Either wake-up may carry news for both: on Windows the console
                    // thread and the Ctrl-C handler share one mio::Waker (src/sys/).
                    CONSOLE | SIGNALS => {
                        shutdown |= self.console.on_readable(self.poll.registry()) == Command::Shutdown;
                        shutdown |= self.signals.as_ref().is_some_and(Signals::drain);
                    }
                    // A write is on the disk: its job goes on below, in this turn.
                    FLUSHED => {}
                    Token(t) => self.note_event(t, event),
                }
            }
            let mut turn = std::mem::take(&mut self.ready);
            turn.sort_unstable();
            turn.dedup();
            for key in turn {
                self.service(key, now);
            }
            if self.budget.take_freed() {
                // Room for large requests: the clients waiting for it go on (no event
                // will tell them, their bytes are already waiting in the kernel).
                self.ready.append(&mut self.parked);
            }
            if self.ctx.has_work() {
                // Long jobs (copies) advance one slice per turn, between events.
                self.ctx.work();
                self.deliver(now);
            }
            if self.accept_paused_until.is_some_and(|t| now >= t) {
                self.accept(now);
            }
            if !self.turned_away.is_empty() {
                self.drain_turned_away(now);
            }
            if now.duration_since(last_sweep) >= SWEEP_EVERY {
                self.close_stalled(now);
                last_sweep = now;
            }
            if shutdown {
                self.shut_down(&mut events);
                return Ok(());
            }
        }
    }

    /// Records a client's event and schedules it. Nothing closes a client while events are
    /// read, and a closed client is deregistered before the next poll, so a token always
    /// finds its client; one that does not is ignored all the same, as a defence.
    fn note_event(&mut self, t: usize, event: &mio::event::Event) {
        let Some(key) = t.checked_sub(FIRST_CLIENT) else {
            return;
        };
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        log::trace!(
            "{}: event{}{}{}",
            client.peer,
            if event.is_readable() { " readable" } else { "" },
            if event.is_writable() { " writable" } else { "" },
            if event.is_read_closed() || event.is_error() {
                " read-closed"
            } else {
                ""
            },
        );
        client.conn.mark_ready(
            event.is_readable(),
            event.is_writable() || event.is_write_closed(),
        );
        if event.is_read_closed() || event.is_error() {
            client.conn.mark_read_closed();
        }
        self.ready.push(key);
    }

    fn next_timeout(&self, now: Instant) -> Option<Duration> {
        // Jobs that wait for the disk need no turn: the flusher's wake-up brings one.
        if !self.ready.is_empty() || self.ctx.can_work_now() {
            return Some(Duration::ZERO);
        }
        let mut timeout = None;
        if !self.clients.is_empty() {
            timeout = Some(SWEEP_EVERY);
        }
        if !self.turned_away.is_empty() {
            timeout = Some(timeout.map_or(TURNED_AWAY_TICK, |t: Duration| t.min(TURNED_AWAY_TICK)));
        }
        // A job waiting for the clock (a held refusal) is woken by the timeout alone.
        for until in [self.accept_paused_until, self.ctx.next_wake()]
            .into_iter()
            .flatten()
        {
            let wait = until.saturating_duration_since(now);
            timeout = Some(timeout.map_or(wait, |t: Duration| t.min(wait)));
        }
        timeout
    }

    /// Accepts every pending connection (the listener is edge-triggered too).
    fn accept(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now < t) {
            return;
        }
        self.accept_paused_until = None;
        loop {
            let (stream, peer) = match self.listener.accept() {
                Ok(pair) => pair,
                Err(e) if e.kind() == ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e)
                    if matches!(
                        crate::sys::fault(&e),
                        crate::sys::Fault::OutOfDescriptors | crate::sys::Fault::OutOfMemory
                    ) =>
                {
                    // Out of descriptors: the connection waits in the kernel's backlog. We try
                    // again after a short rest (on the poll timeout, so without spinning).
                    log::warn!(
                        "no quedan descriptores para aceptar conexiones ({}); nuevas conexiones en pausa por {} ms",
                        crate::spanish::io_error(&e),
                        ACCEPT_PAUSE.as_millis()
                    );
                    self.accept_paused_until = Some(now + ACCEPT_PAUSE);
                    return;
                }
                Err(e) => {
                    // ECONNABORTED and friends: that one connection is gone, others may wait.
                    log::debug!("accept: {e}");
                    continue;
                }
            };
            self.admit(stream, peer, now);
        }
    }

    /// Registers a new client, or turns it away when the server is full.
    fn admit(&mut self, mut stream: TcpStream, peer: SocketAddr, now: Instant) {
        if self.clients.len() >= self.max_clients {
            log::warn!(
                "{peer}: rechazado, ya hay {} clientes conectados",
                self.clients.len()
            );
            let reply = message::error(&Envelope::course(), "", "servidor lleno, intente más tarde");
            let _ = stream.write(&reply);
            // Closing now would not do: a client that writes its request before reading
            // (the course's does) would hit a closed socket, and the OS answers bytes that
            // nobody will read with a reset, which can destroy our reply before the client
            // reads it. So we end only our side (the client reads the reply, then the
            // end), and keep reading and dropping what it sends for a while.
            if self.turned_away.len() < TURNED_AWAY_MAX && stream.shutdown(std::net::Shutdown::Write).is_ok()
            {
                self.turned_away.push((stream, now + TURNED_AWAY_LINGER));
            }
            return;
        }
        // Replies go out as soon as they are written: no waiting to fill a segment.
        if let Err(e) = stream.set_nodelay(true) {
            log::debug!("{peer}: TCP_NODELAY: {e}");
        }
        let entry = self.clients.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, token(key), Interest::READABLE)
        {
            log::warn!(
                "{peer}: no se pudo registrar la conexión: {}",
                crate::spanish::io_error(&e)
            );
            return;
        }
        entry.insert(Client {
            conn: Connection::new(stream, peer, now, Rc::clone(&self.tuning)),
            id: self.ctx.peers.join(key, peer),
            peer,
            interest: Interest::READABLE,
        });
        log::info!("{peer} connected ({} clients)", self.clients.len());
    }

    /// Reads and drops what turned-away clients send; closes each once it closed its
    /// side, or its time is up.
    fn drain_turned_away(&mut self, now: Instant) {
        let scratch = &mut self.scratch;
        self.turned_away.retain_mut(|(stream, until)| {
            // A bounded number of reads per turn: a client pushing a large upload at us
            // must not keep the loop here.
            for _ in 0..16 {
                match stream.read(scratch) {
                    Ok(0) => return false,
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return false,
                }
            }
            now < *until
        });
    }

    /// Lets one client do its work, then settles its registration. A key whose client is
    /// gone (closed earlier in this turn) is skipped: events are hints.
    fn service(&mut self, key: usize, now: Instant) {
        let Some(client) = self.clients.get_mut(key) else {
            return;
        };
        let mut dispatch = Dispatch {
            ctx: &mut self.ctx,
            id: client.id,
            key,
            peer: client.peer,
        };
        let more = client
            .conn
            .service(&mut self.scratch, &mut dispatch, &mut self.budget, now);
        let (chunks, bytes) = client.conn.queued();
        self.ctx.peers.note_queue(client.id, chunks, bytes);
        if client.conn.state() == State::Closed {
            self.close(key);
            self.deliver(now);
            return;
        }
        if matches!(
            client.conn.state(),
            State::Closing | State::Waiting { input_ended: true }
        ) {
            // The peer will send nothing more (Ctrl-C closes its socket, and the kernel
            // tells us with a read of 0 bytes), though we may still owe it replies. It can
            // send no further piece, so its uploads in parts let go of their names now:
            // a retry straight away resumes instead of being told the name is busy.
            self.ctx.locks.release_parts_of(client.id);
        }
        let (_, queued) = client.conn.buffered();
        let inbuf = client.conn.unread();
        log::debug!("{}: read buffer {inbuf} B, queue {queued} B", client.peer);
        if client.conn.is_parked() && !self.parked.contains(&key) {
            self.parked.push(key);
        }
        if !self.sync_interest(key) {
            return;
        }
        if more {
            self.ready.push(key);
        }
        self.deliver(now);
    }

    /// Tells the poller what a client wants to hear about now: READABLE always, and
    /// WRITABLE only while something is queued (an idle socket is always writable, and
    /// hearing that on every wake-up would be pure noise). Returns false if the client
    /// had to be closed.
    fn sync_interest(&mut self, key: usize) -> bool {
        let Some(client) = self.clients.get_mut(key) else {
            return false;
        };
        let wanted = if client.conn.wants_write() {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        if wanted == client.interest {
            return true;
        }
        let registered = self
            .poll
            .registry()
            .reregister(client.conn.stream_mut(), token(key), wanted);
        if let Err(e) = registered {
            log::debug!("{}: reregister: {e}", client.peer);
            self.close(key);
            return false;
        }
        client.interest = wanted;
        true
    }

    /// Closes cleanly: no new connections, jobs abandoned (their staged bytes removed,
    /// their requesters told), a goodbye pushed to every subscriber, then a short grace
    /// period in which queues drain before every connection is closed. Uploads in parts
    /// stay staged, to be resumed after a restart.
    fn shut_down(&mut self, events: &mut Events) {
        log::info!("shutting down with {} clients connected", self.clients.len());
        let _ = self.poll.registry().deregister(&mut self.listener);
        let now = Instant::now();
        self.ctx.cancel_jobs(CLOSING);
        self.deliver(now);
        self.answer_and_say_goodbye(now);
        self.drain_for_grace(events, now + SHUTDOWN_GRACE);
        if !self.clients.is_empty() {
            log::info!(
                "closing {} clients whose queues did not drain in time",
                self.clients.len()
            );
        }
        for key in self.clients.iter().map(|(k, _)| k).collect::<Vec<_>>() {
            self.close(key);
        }
    }

    /// The last turn: requests that already arrived get an error reply rather than
    /// silence, subscribers get a `cierre` push, and nothing more is read.
    fn answer_and_say_goodbye(&mut self, now: Instant) {
        // Error replies are small: answer every request already buffered, not a budget's worth.
        let last_turn = Rc::new(Tuning {
            frames_budget: usize::MAX,
            high_water_bytes: usize::MAX,
            high_water_chunks: usize::MAX,
            max_open_files: usize::MAX,
            ..*self.tuning
        });
        for (_, client) in self.clients.iter_mut() {
            if !client.conn.is_waiting() {
                let mut farewell = Farewell {
                    limits: self.tuning.limits(),
                    peer: client.peer,
                };
                client.conn.mark_ready(true, false);
                client.conn.retune(Rc::clone(&last_turn));
                client
                    .conn
                    .service(&mut self.scratch, &mut farewell, &mut self.budget, now);
            }
            let bye = match self.ctx.peers.get(client.id).and_then(|p| p.subscribed.as_ref()) {
                Some(env) => Some(env.push("cierre", &Data::str(CLOSING))),
                // Protocol 2 marks pushes (`aviso`), so a client that did not subscribe can
                // be told too, and a download cut short by the shutdown reads as one.
                None => crate::protocol::unasked_notice(client.conn.codec(), "cierre", &Data::str(CLOSING)),
            };
            if let Some(bye) = bye {
                client.conn.enqueue([Chunk::bytes(bye)]);
            }
            client.conn.stop_reading(&mut self.budget);
        }
    }

    /// Writes queued bytes until every queue is empty or `deadline` passes.
    fn drain_for_grace(&mut self, events: &mut Events, deadline: Instant) {
        loop {
            let now = Instant::now();
            let keys: Vec<usize> = self.clients.iter().map(|(k, _)| k).collect();
            // A connection that used its whole budget while still writable gets no new
            // event: come straight back to it.
            let mut more = false;
            for key in keys {
                let client = &mut self.clients[key];
                if client.conn.drain(self.tuning.write_budget) {
                    self.close(key);
                } else if client.conn.can_write() {
                    more = true;
                } else {
                    self.sync_interest(key);
                }
            }
            if self.clients.is_empty() || now >= deadline {
                return;
            }
            let wait = if more { Duration::ZERO } else { deadline - now };
            let _ = self.poll.poll(events, Some(wait));
            for event in events.iter() {
                if let Some(client) = event
                    .token()
                    .0
                    .checked_sub(FIRST_CLIENT)
                    .and_then(|k| self.clients.get_mut(k))
                {
                    client.conn.mark_ready(false, true);
                }
            }
        }
    }

    /// Queues what operations left for other connections: pushes (a message, a file) and
    /// promised replies that are now ready. Each goes in whole, after whatever the
    /// recipient already has queued, so frames never interleave.
    fn deliver(&mut self, now: Instant) {
        for delivery in self.ctx.take_deliveries() {
            let Some(client) = self.clients.get_mut(delivery.key).filter(|c| c.id == delivery.id) else {
                continue;
            };
            client.conn.enqueue(delivery.chunks);
            if delivery.resumes {
                client.conn.resume(now);
            }
            if delivery.closes {
                // Its last reply goes out, then it closes: nothing more is read.
                client.conn.stop_reading(&mut self.budget);
            }
            self.ready.push(delivery.key);
        }
    }

    fn close(&mut self, key: usize) {
        let mut client = self.clients.remove(key);
        client.conn.release(&mut self.budget);
        self.ctx.forget(client.id);
        let _ = self.poll.registry().deregister(client.conn.stream_mut());
        log::info!("{} disconnected ({} clients)", client.peer, self.clients.len());
    }

    /// Closes connections whose unfinished frame stopped advancing (slowloris).
    fn close_stalled(&mut self, now: Instant) {
        let limit = self.frame_timeout;
        let stalled: Vec<usize> = self
            .clients
            .iter()
            .filter(|(_, c)| c.conn.stalled(now, limit))
            .map(|(k, _)| k)
            .collect();
        for key in stalled {
            log::warn!(
                "{}: pedido detenido por {} s; se cierra la conexión",
                self.clients[key].peer,
                limit.as_secs()
            );
            self.close(key);
        }
    }
}

/// What the operations share, with the staging folder ready (or the server read-only,
/// when it cannot be made ready; or not started, when it is not a plain folder).
fn shared_state(config: &Config, storage: Storage) -> Result<Context, StartError> {
    let mut ctx = Context::new(storage, config.max_frame);
    ctx.read_only = config.read_only;
    ctx.clave = config.clave.clone();
    if ctx.read_only {
        return Ok(ctx);
    }
    match ctx.storage.prepare_staging(STAGING_MAX_AGE) {
        Ok(0) => {}
        Ok(n) => log::info!(
            "removed {n} staged leftovers (writes a crash cut short, or parts untouched for a day)"
        ),
        Err(e) if e.kind() == ErrorKind::NotADirectory => {
            return Err(StartError::Staging(ctx.storage.staging_path()));
        }
        Err(e) => {
            log::warn!(
                "no se pudo preparar la carpeta de preparación ({}); el servidor queda en modo solo lectura",
                crate::spanish::io_error(&e)
            );
            ctx.read_only = true;
        }
    }
    Ok(ctx)
}

/// Resolves the host, preferring IPv4: the course client connects over AF_INET, and
/// `localhost` may resolve to `::1` first.
fn resolve(host: &str, port: u16) -> Result<SocketAddr, StartError> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|_| StartError::Resolve(host.to_string()))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| StartError::Resolve(host.to_string()))
}

/// The open-file limit, raised as far as the OS lets it; the bench and the tests use it
/// too. It lives in the platform layer (src/sys/).
pub use crate::sys::{presize_descriptor_table, raise_open_file_limit, tune_allocator};

/// How many clients the open-file limit leaves room for, once raised. Each client holds
/// its socket and at most one open file (a download opens its file only when it reaches
/// the front of its queue), and a reserve stays free for accepting, for the loop, and for
/// files being written.
fn client_ceiling() -> usize {
    let Some(limit) = raise_open_file_limit() else {
        return usize::MAX;
    };
    let fds = usize::try_from(limit).unwrap_or(usize::MAX);
    let reserve = (fds / 16).clamp(16, 1024).min(fds / 2);
    (fds.saturating_sub(reserve) / 2).max(1)
}
