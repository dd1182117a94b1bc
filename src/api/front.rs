//! The front door: owns the public TCP listener. One thread (`http-front`) accepts connections,
//! reads each request *in full* — URL, header and body capped, with idle and total deadlines — and
//! only then hands it to tiny_http over a private Unix socket, relaying the answer back.
//!
//! Why: tiny_http spawns one thread per connection without bound, has no header or URL limit,
//! and its accept thread dies on the first `accept()` error (EMFILE, or EAGAIN when the
//! listening socket has a receive timeout). A tiny_http `Request` cannot be built from a socket
//! we accepted ourselves (`Listener` is a closed enum), so the front door proxies instead:
//! - slow or idle clients cost one fd and a small buffer here, never a thread; a handler thread
//!   only ever sees a complete request arriving at memory speed (slowloris and trickled bodies
//!   pin nothing);
//! - at most `max_active` requests are inside tiny_http at once, so its thread pool is bounded;
//! - at most `max_clients` connections are open; past that the oldest one still sending its
//!   request is closed to make room (an attacker's idle sockets are older than a real client's);
//! - accept errors never stop the loop: EMFILE/ENFILE close the oldest unfinished connection (or
//!   a reserved spare fd is used to accept and drop one), transient errors are retried; only a
//!   persistent unexpected error stops the daemon, with a non-zero exit (see `api::failed`);
//! - buffered request bodies share one budget, so memory stays bounded however many clients
//!   send large bodies at once.
//!
//! Each forwarded request carries `Connection: close` and `X-Footrest-Peer: <client ip>` (a
//! client's own `X-Footrest-Peer` is dropped): tiny_http ends each answer by closing the Unix
//! connection. Towards the client, the connection is kept alive after an answer whose length its
//! head gives (Content-Length or chunked) unless the client asked to close (HTTP/1.1 default;
//! HTTP/1.0 only with `Connection: keep-alive`); it then reads the next request like a new
//! connection, and an idle one is closed after the idle timeout (`Keep-Alive: timeout` says so a
//! little earlier). Our own error answers close the connection. The Unix socket is
//! `<data>/http.sock`, mode 0600; a tiny_http server started in place of a failed one listens on
//! `<data>/http.sock.<n>` (a dropped tiny_http server removes its own socket file, so each one
//! needs a path of its own).

use super::ApiError;
use super::connect::Code;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The header carrying the client's address to the handlers.
pub const PEER_HEADER: &str = "X-Footrest-Peer";

/// Bounds of the front door. See `Limits::for_this_process`.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Client connections open at once.
    pub max_clients: usize,
    /// Requests inside tiny_http at once (each is one of its connection threads).
    pub max_active: usize,
    /// Longest request line (method, target, version): past it, 414.
    pub max_request_line: usize,
    /// Largest request head (request line and headers): past it, 431.
    pub max_head: usize,
    /// Largest body: past it, 413 before reading it.
    pub max_body: usize,
    /// A connection that makes no progress this long is closed.
    pub idle: Duration,
    /// A whole request must have arrived within this long.
    pub request_deadline: Duration,
    /// Bytes of request bodies buffered at once (beyond `SMALL_BODY` each).
    pub body_budget: usize,
}

/// Bodies up to this size are read without asking the shared budget.
const SMALL_BODY: usize = 16 * 1024;
/// Answer bytes buffered per connection before we stop reading from tiny_http.
const RESPONSE_BUFFER: usize = 64 * 1024;
/// After our last byte, how long a connection is drained before it is closed (so that a client
/// still sending gets our answer rather than a reset).
const LINGER: Duration = Duration::from_secs(2);
/// Fds kept free for everything else the daemon opens (oplog, logs, restic pipes, config).
const FD_RESERVE: u64 = 64;

impl Limits {
    /// Limits derived from the process's fd limit (`RLIMIT_NOFILE`), with overrides from
    /// `FOOTREST_HTTP_TIMEOUT_MS` (idle timeout) and `FOOTREST_HTTP_MAX_CLIENTS`.
    pub fn for_this_process(max_body: usize) -> Limits {
        let nofile = nofile_limit();
        let spare = nofile.saturating_sub(FD_RESERVE);
        // A forwarded request holds three fds (client, our end and tiny_http's end of the Unix
        // socket); a connection still sending holds one.
        // Up to 48: 16 streams and 16 calls waiting for their tasks leave 16 for the rest.
        let max_active = (spare / 8).clamp(2, 48) as usize;
        let max_clients = (spare.saturating_sub(3 * max_active as u64)).clamp(4, 512) as usize;
        let env_num = crate::util::env_number;
        let idle = env_num("FOOTREST_HTTP_TIMEOUT_MS")
            .map(Duration::from_millis)
            .unwrap_or(Duration::from_secs(30));
        Limits {
            max_clients: env_num("FOOTREST_HTTP_MAX_CLIENTS")
                .map(|n| n.max(1) as usize)
                .unwrap_or(max_clients),
            max_active,
            max_request_line: 8 * 1024,
            max_head: 16 * 1024,
            max_body,
            idle,
            request_deadline: idle * 2,
            body_budget: 8 * 1024 * 1024,
        }
    }
}

/// Where the private Unix socket tiny_http listens on lives: `<data>/http.sock`, or a file in
/// the temp dir when that path is too long for a socket address (with room for the `.<n>` of
/// `generation_path`).
pub fn internal_socket_path(data_dir: &std::path::Path) -> io::Result<PathBuf> {
    std::fs::create_dir_all(data_dir)?;
    let path = data_dir.join("http.sock");
    if path.as_os_str().len() <= 90 {
        return Ok(path);
    }
    let mut r = [0u8; 8];
    crate::auth::random_bytes(&mut r).map_err(|e| io::Error::other(e.to_string()))?;
    let tag = crate::util::hex(&r);
    Ok(std::env::temp_dir().join(format!("footrest-{}-{tag}.sock", std::process::id())))
}

/// The socket of the `n`th tiny_http server on `base`: `base` itself for the first, `base.<n>`
/// for each one started after a failure.
pub fn generation_path(base: &std::path::Path, n: u64) -> PathBuf {
    if n == 0 {
        return base.to_path_buf();
    }
    let mut s = base.as_os_str().to_owned();
    s.push(format!(".{n}"));
    PathBuf::from(s)
}

/// Removes the sockets of replaced servers a killed daemon left next to `base`.
pub fn remove_stale_generations(base: &std::path::Path) {
    let (Some(dir), Some(name)) = (base.parent(), base.file_name().and_then(|n| n.to_str())) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let file = e.file_name();
        let Some(rest) = file.to_str().and_then(|f| f.strip_prefix(name)) else {
            continue;
        };
        if rest
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Binds the private socket (mode 0600), replacing a stale one.
pub fn bind_internal(path: &std::path::Path) -> io::Result<std::os::unix::net::UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    // Left by a killed daemon or a failed listener (the data dir lock says no other daemon
    // uses it).
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

fn nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        // rlim_t is 32 bits on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        u64::from(r.rlim_cur)
    } else {
        1024
    }
}

/// What the front door calls when things break beyond its reach.
pub struct Hooks {
    pub fatal: Box<dyn Fn(&str) + Send>,
    /// Where tiny_http listens now (it moves when a failed server is replaced).
    pub upstream: Box<dyn Fn() -> PathBuf + Send>,
    /// Nothing listens on this path: start a new server in place of the one that did.
    pub upstream_down: Box<dyn Fn(&std::path::Path) + Send>,
    /// Whether a request for this path (no query) needs credentials now (auth on, a path that
    /// is not open). A large body without any `Authorization` header is then refused before it
    /// is buffered.
    pub needs_credentials: Box<dyn Fn(&str) -> bool + Send>,
}

/// The running front door.
pub struct Front {
    stop: Arc<AtomicBool>,
    draining: Arc<AtomicBool>,
    wake: UnixStream,
    thread: Option<JoinHandle<()>>,
}

impl Front {
    /// Starts the front thread on `listener`, forwarding to the Unix socket `hooks.upstream`
    /// names. `hooks.fatal` runs if the listener fails for good; `hooks.upstream_down` when
    /// nothing listens on that socket any more (tiny_http's accept thread died: it panics when it
    /// cannot dup an accepted socket) — it should start a new one.
    pub fn start(listener: TcpListener, limits: Limits, hooks: Hooks) -> io::Result<Front> {
        let upstream = (hooks.upstream)();
        listener.set_nonblocking(true)?;
        let (wake_rx, wake) = UnixStream::pair()?;
        wake_rx.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let draining = Arc::new(AtomicBool::new(false));
        let draining2 = Arc::clone(&draining);
        log::debug!(
            "http: at most {} connections, {} requests in flight, idle timeout {:?}",
            limits.max_clients,
            limits.max_active,
            limits.idle
        );
        let thread = std::thread::Builder::new()
            .name("http-front".into())
            .spawn(move || {
                let mut front = Loop {
                    listener: Some(listener),
                    draining: draining2,
                    upstream,
                    limits,
                    conns: Vec::new(),
                    stop: stop2,
                    wake: wake_rx,
                    spare: open_spare(),
                    budget_used: 0,
                    accept_errors: 0,
                    last_evict_log: None,
                    last_repair: None,
                    fd_ceiling: None,
                    hooks,
                };
                front.run();
            })?;
        Ok(Front {
            stop,
            draining,
            wake,
            thread: Some(thread),
        })
    }

    /// Closes the listener and every connection without a request in flight; requests in
    /// flight still get their answers (e.g. a Backup the worker answers while shutting down).
    pub fn stop_accepting(&self) {
        self.draining.store(true, Ordering::SeqCst);
        let _ = (&self.wake).write(&[1]);
    }

    /// Waits up to `wait` for the answers in flight, then closes everything and joins.
    pub fn finish(mut self, wait: Duration) {
        self.stop_accepting();
        let deadline = Instant::now() + wait;
        while Instant::now() < deadline && self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.stop.store(true, Ordering::SeqCst);
        let _ = (&self.wake).write(&[1]);
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            log::error!("the http-front thread panicked");
        }
    }
}

fn open_spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

enum State {
    /// Receiving the request. `head` is set once the head has been parsed.
    Reading {
        buf: Vec<u8>,
        head: Option<Head>,
        reserved: usize,
    },
    /// A complete request waiting for a slot in tiny_http. `reserved`: its share of the body
    /// budget, held until the request is written to tiny_http.
    Queued {
        request: Vec<u8>,
        reserved: usize,
        keep_alive: bool,
    },
    /// Handed over: writing the request to tiny_http, relaying its answer.
    Forwarding {
        up: UnixStream,
        request: Vec<u8>,
        reserved: usize,
        sent: usize,
        response: Vec<u8>,
        response_sent: usize,
        /// Bytes received from tiny_http so far.
        relayed: usize,
        up_done: bool,
        /// The answer's head is not complete yet: nothing is sent until it is rewritten.
        head_open: bool,
        /// The client asked to keep the connection open.
        keep_alive: bool,
        /// The answer allows it (its length is known from its head): once it is out, the
        /// connection reads the client's next request.
        reusable: bool,
    },
    /// Writing an answer of our own (an error), then draining.
    Answering { out: Vec<u8>, sent: usize },
    /// Our last byte is out: read and discard what the client still sends, for a while.
    Draining { until: Instant },
}

struct Head {
    /// Bytes of the head in `buf` (through the blank line).
    len: usize,
    content_length: usize,
    /// The head as forwarded.
    rewritten: Vec<u8>,
    /// A `Transfer-Encoding: chunked` body, decoded as it arrives (`buf` then keeps only the
    /// head and what is not decoded yet); forwarded with a Content-Length.
    chunked: Option<Dechunked>,
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    keep_alive: bool,
    /// The target without its query.
    path: String,
    /// The request has an `Authorization` header (not checked here).
    has_authorization: bool,
}

#[derive(Default)]
struct Dechunked {
    body: Vec<u8>,
    done: bool,
}

/// Budget steps for chunked bodies, whose size is known only at their end.
const CHUNKED_STEP: usize = 256 * 1024;

impl Head {
    /// Body bytes this request needs buffered now, with `tail` undecoded bytes after the head.
    fn need(&self, tail: usize, max_body: usize) -> usize {
        match &self.chunked {
            None => self.content_length,
            Some(d) => {
                let want = d.body.len() + tail + 16 * 1024;
                (want.div_ceil(CHUNKED_STEP) * CHUNKED_STEP).min(max_body + 64 * 1024)
            }
        }
    }

    fn complete(&self, buf_len: usize) -> bool {
        match &self.chunked {
            None => buf_len >= self.len + self.content_length,
            Some(d) => d.done,
        }
    }
}

/// Decodes the chunks complete in `raw` into `out` and returns how many bytes of `raw` they
/// took, and whether the last chunk (and the trailers after it) are in.
fn dechunk(raw: &[u8], out: &mut Vec<u8>, max: usize) -> Result<(usize, bool), (u16, ApiError)> {
    let bad = |m: &str| (400, ApiError::invalid(m.to_string()));
    let mut pos = 0;
    loop {
        let rest = &raw[pos..];
        let Some(eol) = find(rest, b"\r\n") else {
            if rest.len() > 1024 {
                return Err(bad("malformed chunked body: a chunk size line is too long"));
            }
            return Ok((pos, false));
        };
        let size = std::str::from_utf8(&rest[..eol])
            .ok()
            .and_then(|l| l.split(';').next())
            .map(str::trim)
            .filter(|h| !h.is_empty() && h.len() <= 15)
            .and_then(|h| usize::from_str_radix(h, 16).ok())
            .ok_or_else(|| bad("malformed chunked body: bad chunk size"))?;
        if size == 0 {
            // Trailers, then the empty line that ends the body.
            let mut p = eol + 2;
            loop {
                let Some(e) = find(&rest[p..], b"\r\n") else {
                    if rest.len() - p > 8192 {
                        return Err(bad("malformed chunked body: trailers too long"));
                    }
                    return Ok((pos, false));
                };
                if e == 0 {
                    return Ok((pos + p + 2, true));
                }
                p += e + 2;
            }
        }
        if out.len() + size > max {
            return Err((
                413,
                ApiError::new(
                    Code::ResourceExhausted,
                    format!("request body is larger than {max} bytes"),
                ),
            ));
        }
        let end = eol + 2 + size;
        if rest.len() < end + 2 {
            return Ok((pos, false));
        }
        if &rest[end..end + 2] != b"\r\n" {
            return Err(bad(
                "malformed chunked body: a chunk is not followed by CRLF",
            ));
        }
        out.extend_from_slice(&rest[eol + 2..end]);
        pos += end + 2;
    }
}

struct Conn {
    client: TcpStream,
    peer: String,
    state: State,
    opened: Instant,
    progress: Instant,
    closed: bool,
}

impl Conn {
    fn is_unfinished_request(&self) -> bool {
        matches!(self.state, State::Reading { .. } | State::Draining { .. })
    }
}

struct Loop {
    /// None once draining.
    listener: Option<TcpListener>,
    draining: Arc<AtomicBool>,
    upstream: PathBuf,
    limits: Limits,
    conns: Vec<Conn>,
    stop: Arc<AtomicBool>,
    wake: UnixStream,
    spare: Option<std::fs::File>,
    budget_used: usize,
    accept_errors: u32,
    last_evict_log: Option<Instant>,
    last_repair: Option<Instant>,
    /// Client connections that fit in the fds actually left, learned from EMFILE (expires).
    fd_ceiling: Option<(usize, Instant)>,
    hooks: Hooks,
}

/// What a poll entry belongs to.
#[derive(Clone, Copy)]
enum Slot {
    Wake,
    Listener,
    Client(usize),
    Upstream(usize),
}

impl Loop {
    fn run(&mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::new();
        let mut slots: Vec<Slot> = Vec::new();
        while !self.stop.load(Ordering::SeqCst) {
            if self.draining.load(Ordering::SeqCst) {
                if self.listener.take().is_some() {
                    self.start_shutdown();
                }
                if self.conns.is_empty() {
                    break;
                }
            }
            self.dispatch_queued();
            fds.clear();
            slots.clear();
            let mut push = |fd: RawFd, events: libc::c_short, slot: Slot| {
                fds.push(libc::pollfd {
                    fd,
                    events,
                    revents: 0,
                });
                slots.push(slot);
            };
            push(self.wake.as_raw_fd(), libc::POLLIN, Slot::Wake);
            if let Some(l) = &self.listener {
                push(l.as_raw_fd(), libc::POLLIN, Slot::Listener);
            }
            let budget_used = self.budget_used;
            for (i, c) in self.conns.iter().enumerate() {
                let fd = c.client.as_raw_fd();
                match &c.state {
                    State::Reading { head, reserved, .. } => {
                        // A large body waits (unpolled) until the shared budget has room;
                        // checked again on every turn.
                        let waiting_for_budget = head.as_ref().is_some_and(|h| {
                            let need = h.need(0, self.limits.max_body);
                            need > SMALL_BODY
                                && *reserved < need
                                && budget_used + (need - *reserved) > self.limits.body_budget
                        });
                        if !waiting_for_budget {
                            push(fd, libc::POLLIN, Slot::Client(i));
                        }
                    }
                    State::Queued { .. } => {}
                    State::Forwarding {
                        up,
                        request,
                        sent,
                        response,
                        response_sent,
                        up_done,
                        ..
                    } => {
                        let mut up_events = 0;
                        if sent < &request.len() {
                            up_events |= libc::POLLOUT;
                        }
                        if !up_done && response.len() - response_sent < RESPONSE_BUFFER {
                            up_events |= libc::POLLIN;
                        }
                        if up_events != 0 {
                            push(up.as_raw_fd(), up_events, Slot::Upstream(i));
                        }
                        let client_events = if response_sent < &response.len() {
                            libc::POLLOUT
                        } else {
                            0
                        };
                        // Polled even without events: POLLHUP/POLLERR tell that the client left.
                        push(fd, client_events, Slot::Client(i));
                    }
                    State::Answering { .. } => push(fd, libc::POLLOUT, Slot::Client(i)),
                    State::Draining { .. } => push(fd, libc::POLLIN, Slot::Client(i)),
                }
            }
            let timeout = self.poll_timeout();
            // SAFETY: `fds` is a valid array of pollfd for its length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    log::error!("http: poll failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
                continue;
            }
            for (pfd, slot) in fds.iter().zip(slots.iter()) {
                if pfd.revents == 0 {
                    continue;
                }
                match *slot {
                    Slot::Wake => {
                        let mut b = [0u8; 16];
                        let _ = (&self.wake).read(&mut b);
                    }
                    Slot::Listener => self.accept_some(),
                    Slot::Client(i) => self.on_client(i, pfd.revents),
                    Slot::Upstream(i) => self.on_upstream(i, pfd.revents),
                }
            }
            self.sweep_deadlines();
            self.remove_closed();
        }
        for c in &self.conns {
            let _ = c.client.shutdown(Shutdown::Both);
        }
        self.conns.clear();
    }

    fn poll_timeout(&self) -> libc::c_int {
        let now = Instant::now();
        let mut next: Option<Instant> = None;
        let mut retry_soon = false;
        for c in &self.conns {
            let d = match &c.state {
                State::Reading { .. } => Some(
                    (c.progress + self.limits.idle).min(c.opened + self.limits.request_deadline),
                ),
                State::Answering { .. } => Some(c.progress + self.limits.idle),
                State::Forwarding {
                    response,
                    response_sent,
                    ..
                } if response_sent < &response.len() => Some(c.progress + self.limits.idle),
                State::Forwarding { .. } => None,
                State::Draining { until } => Some(*until),
                State::Queued { .. } => {
                    retry_soon = true;
                    None
                }
            };
            if let Some(d) = d {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        let mut ms = match next {
            Some(d) => d.saturating_duration_since(now).as_millis().min(60_000) as libc::c_int + 1,
            None => -1,
        };
        if retry_soon && !(0..=50).contains(&ms) {
            ms = 50;
        }
        ms
    }

    /// Draining begins: connections without a request in flight are closed (queued ones are
    /// told 503).
    fn start_shutdown(&mut self) {
        for i in 0..self.conns.len() {
            match self.conns[i].state {
                State::Reading { .. } => self.close(i),
                State::Queued { .. } => {
                    let e = ApiError::new(Code::Unavailable, "footrest is shutting down");
                    self.answer(i, 503, &e);
                }
                _ => {}
            }
        }
        self.remove_closed();
    }

    fn accept_some(&mut self) {
        for _ in 0..64 {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((sock, addr)) => {
                    self.accept_errors = 0;
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    if self.open_count() >= self.client_cap() && !self.evict_oldest() {
                        // Every slot is busy with a request in flight: refuse this one.
                        let e = ApiError::new(Code::Unavailable, "server busy, retry later");
                        let _ = (&sock).write(&error_response(503, &e));
                        continue;
                    }
                    let now = Instant::now();
                    self.conns.push(Conn {
                        client: sock,
                        peer: addr.ip().to_string(),
                        state: State::Reading {
                            buf: Vec::new(),
                            head: None,
                            reserved: 0,
                        },
                        opened: now,
                        progress: now,
                        closed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(0);
                    match code {
                        libc::EINTR | libc::ECONNABORTED | libc::EPROTO | libc::EPERM => continue,
                        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                            self.out_of_fds(&e);
                            return;
                        }
                        _ => {
                            self.accept_errors += 1;
                            log::error!("http: accept failed: {e}");
                            if self.accept_errors >= 50 {
                                (self.hooks.fatal)(&format!("the listener keeps failing: {e}"));
                                self.stop.store(true, Ordering::SeqCst);
                            } else {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// accept() failed for lack of fds or memory: make room by closing the oldest unfinished
    /// connection, or take the pending connection with the spare fd and close it at once.
    fn out_of_fds(&mut self, e: &io::Error) {
        let now = Instant::now();
        if self
            .last_evict_log
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
        {
            log::warn!(
                "http: accept failed ({e}) with {} connections open; closing the oldest",
                self.conns.len()
            );
            self.last_evict_log = Some(now);
        }
        let before = self.open_count();
        self.lower_ceiling();
        if self.open_count() < before {
            return;
        }
        self.spare = None;
        if let Some(Ok((sock, _))) = self.listener.as_ref().map(|l| l.accept()) {
            drop(sock);
        }
        self.spare = open_spare();
        if self.spare.is_none() {
            // Nothing could be freed: do not spin on a listener that stays readable.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the connection that has been sending its request the longest (indices stay valid
    /// until `remove_closed`). False when every connection has a request in flight.
    fn evict_oldest(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.closed && c.is_unfinished_request())
            .min_by_key(|(_, c)| c.opened)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                let now = Instant::now();
                if self
                    .last_evict_log
                    .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
                {
                    log::warn!(
                        "http: {} connections open (limit {}); closing the slowest clients",
                        self.conns.len(),
                        self.limits.max_clients
                    );
                    self.last_evict_log = Some(now);
                }
                self.close(i);
                true
            }
            None => false,
        }
    }

    /// How many client connections may be open now.
    fn client_cap(&self) -> usize {
        match self.fd_ceiling {
            Some((n, at)) if at.elapsed() < Duration::from_secs(60) => {
                n.min(self.limits.max_clients)
            }
            _ => self.limits.max_clients,
        }
    }

    /// Out of fds: from now on (for a minute) keep the connections to what fits with room for
    /// the requests in flight (three fds each), and close the oldest unfinished ones down to it.
    fn lower_ceiling(&mut self) {
        let room = 3 * self.limits.max_active + 2;
        let ceiling = self.open_count().saturating_sub(room).max(1);
        self.fd_ceiling = Some((ceiling, Instant::now()));
        while self.open_count() > ceiling && self.evict_oldest() {}
        self.remove_closed();
    }

    fn open_count(&self) -> usize {
        self.conns.iter().filter(|c| !c.closed).count()
    }

    /// Gives back a connection's share of the body budget.
    fn release(&mut self, i: usize) {
        match &mut self.conns[i].state {
            State::Reading { reserved, .. }
            | State::Queued { reserved, .. }
            | State::Forwarding { reserved, .. } => {
                self.budget_used -= *reserved;
                *reserved = 0;
            }
            _ => {}
        }
    }

    /// Marks a connection closed; its fd is released by `remove_closed`.
    fn close(&mut self, i: usize) {
        self.release(i);
        self.conns[i].closed = true;
    }

    fn remove_closed(&mut self) {
        self.conns.retain(|c| !c.closed);
    }

    /// Sends one of our own answers and moves to draining.
    fn answer(&mut self, i: usize, status: u16, e: &ApiError) {
        log::debug!(
            "http: {} from {}: {}",
            status,
            self.conns[i].peer,
            e.message
        );
        self.release(i);
        self.conns[i].state = State::Answering {
            out: error_response(status, e),
            sent: 0,
        };
        self.conns[i].progress = Instant::now();
    }

    fn start_draining(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let _ = c.client.shutdown(Shutdown::Write);
        c.state = State::Draining {
            until: Instant::now() + LINGER,
        };
    }

    fn on_client(&mut self, i: usize, revents: libc::c_short) {
        if self.conns[i].closed {
            return;
        }
        let broken = revents & (libc::POLLERR | libc::POLLNVAL) != 0;
        match &mut self.conns[i].state {
            State::Reading { .. } => {
                if broken {
                    return self.close(i);
                }
                self.read_request(i);
            }
            State::Queued { .. } => {}
            State::Forwarding { .. } => {
                if broken || revents & libc::POLLHUP != 0 {
                    return self.close(i);
                }
                if revents & libc::POLLOUT != 0 {
                    self.write_response(i);
                }
            }
            State::Answering { .. } => {
                if broken {
                    return self.close(i);
                }
                let c = &mut self.conns[i];
                let State::Answering { out, sent } = &mut c.state else {
                    return;
                };
                match (&c.client).write(&out[*sent..]) {
                    Ok(n) => {
                        *sent += n;
                        c.progress = Instant::now();
                        if *sent >= out.len() {
                            self.start_draining(i);
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => self.close(i),
                }
            }
            State::Draining { .. } => {
                let mut scratch = [0u8; 16 * 1024];
                for _ in 0..64 {
                    match (&self.conns[i].client).read(&mut scratch) {
                        Ok(0) => return self.close(i),
                        Ok(_) => {}
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                        Err(_) => return self.close(i),
                    }
                }
            }
        }
    }

    fn read_request(&mut self, i: usize) {
        let limits = self.limits.clone();
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let State::Reading {
                buf,
                head,
                reserved,
            } = &mut self.conns[i].state
            else {
                return;
            };
            // How much may be read now: the rest of the head (one byte past the cap, to notice
            // it), or the rest of the body when it is small or budgeted.
            let want = match head {
                None => (limits.max_head + 1).saturating_sub(buf.len()),
                Some(h) => {
                    let need = h.need(buf.len() - h.len, limits.max_body);
                    if need > SMALL_BODY && *reserved < need {
                        let more = need - *reserved;
                        if self.budget_used + more > limits.body_budget {
                            return; // waits for budget; its deadline still runs
                        }
                        self.budget_used += more;
                        *reserved = need;
                        if h.chunked.is_none() {
                            // Room for the body and the rewritten head, so that no copy is made.
                            buf.reserve(need + 256);
                        }
                    }
                    match &h.chunked {
                        None => (h.len + h.content_length).saturating_sub(buf.len()),
                        Some(d) if d.done => 0,
                        Some(_) => chunk.len(),
                    }
                }
            };
            if want == 0 {
                break;
            }
            let take = want.min(chunk.len());
            let n = match (&self.conns[i].client).read(&mut chunk[..take]) {
                Ok(0) => return self.close(i), // the client gave up
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => return self.close(i),
            };
            self.conns[i].progress = Instant::now();
            let c = &mut self.conns[i];
            let State::Reading { buf, head, .. } = &mut c.state else {
                return;
            };
            buf.extend_from_slice(&chunk[..n]);
            if head.is_none() {
                match check_head(buf, &limits, &c.peer) {
                    Ok(None) => {}
                    Ok(Some((h, expect_continue))) => {
                        if h.content_length > limits.max_body {
                            let e = ApiError::new(
                                Code::ResourceExhausted,
                                format!("request body is larger than {} bytes", limits.max_body),
                            );
                            return self.answer(i, 413, &e);
                        }
                        let large = h.content_length > SMALL_BODY || h.chunked.is_some();
                        if large && !h.has_authorization && (self.hooks.needs_credentials)(&h.path)
                        {
                            // Refused before the body takes any of the shared budget: a client
                            // without credentials cannot make real ones wait.
                            let e = ApiError::new(
                                Code::Unauthenticated,
                                "authentication required (the body was not read)",
                            );
                            return self.answer(i, 401, &e);
                        }
                        let State::Reading { buf, head, .. } = &mut self.conns[i].state else {
                            return;
                        };
                        if h.chunked.is_none() {
                            buf.truncate(h.len + h.content_length);
                        }
                        let complete = h.chunked.is_none() && buf.len() >= h.len + h.content_length;
                        *head = Some(h);
                        if expect_continue && !complete {
                            // Best effort: curl otherwise waits a second before sending.
                            let _ = (&self.conns[i].client).write(b"HTTP/1.1 100 Continue\r\n\r\n");
                        }
                    }
                    Err((status, e)) => return self.answer(i, status, &e),
                }
            }
            let State::Reading {
                buf, head: Some(h), ..
            } = &mut self.conns[i].state
            else {
                continue;
            };
            if let Some(d) = &mut h.chunked
                && !d.done
            {
                match dechunk(&buf[h.len..], &mut d.body, limits.max_body) {
                    Ok((used, done)) => {
                        buf.drain(h.len..h.len + used);
                        d.done = done;
                        if done {
                            // Bytes after the body (a pipelined request) were read with it and
                            // are dropped: the connection then closes after the answer.
                            if buf.len() > h.len {
                                h.keep_alive = false;
                            }
                            buf.truncate(h.len);
                        }
                    }
                    Err((status, e)) => return self.answer(i, status, &e),
                }
            }
            if self.request_complete(i) {
                break;
            }
        }
        if self.request_complete(i) {
            let State::Reading {
                buf: mut request,
                head: Some(h),
                reserved,
            } = std::mem::replace(
                &mut self.conns[i].state,
                State::Queued {
                    request: Vec::new(),
                    reserved: 0,
                    keep_alive: false,
                },
            )
            else {
                return;
            };
            let keep_alive = h.keep_alive;
            match h.chunked {
                None => {
                    request.splice(..h.len, h.rewritten);
                }
                Some(d) => {
                    // The rewritten head ends in its blank line: the length goes before it.
                    let mut head = h.rewritten;
                    let at = head.len() - 2;
                    let length = format!("Content-Length: {}\r\n", d.body.len());
                    head.splice(at..at, length.into_bytes());
                    request = head;
                    request.extend_from_slice(&d.body);
                }
            }
            self.conns[i].state = State::Queued {
                request,
                reserved,
                keep_alive,
            };
        }
    }

    fn request_complete(&self, i: usize) -> bool {
        match &self.conns[i].state {
            State::Reading {
                buf, head: Some(h), ..
            } => h.complete(buf.len()),
            _ => false,
        }
    }

    fn active(&self) -> usize {
        self.conns
            .iter()
            .filter(|c| !c.closed && matches!(c.state, State::Forwarding { .. }))
            .count()
    }

    /// Hands queued requests to tiny_http, oldest first, while slots are free.
    fn dispatch_queued(&mut self) {
        if self.listener.is_none() {
            return; // draining: the handlers are gone
        }
        let mut active = self.active();
        if active >= self.limits.max_active {
            return;
        }
        let mut order: Vec<usize> = (0..self.conns.len())
            .filter(|&i| matches!(self.conns[i].state, State::Queued { .. }))
            .collect();
        order.sort_by_key(|&i| self.conns[i].opened);
        if !order.is_empty() {
            self.upstream = (self.hooks.upstream)();
        }
        for i in order {
            if active >= self.limits.max_active {
                break;
            }
            let up = match UnixStream::connect(&self.upstream).and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(s)
            }) {
                Ok(s) => s,
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(0);
                    if matches!(code, libc::EMFILE | libc::ENFILE) {
                        // Make room (our end and tiny_http's two), retry on the next turn.
                        self.lower_ceiling();
                        return;
                    }
                    if matches!(code, libc::ECONNREFUSED | libc::ENOENT) {
                        let now_at = (self.hooks.upstream)();
                        if now_at != self.upstream {
                            // A handler thread has replaced the server already.
                            self.upstream = now_at;
                            return;
                        }
                        // Nobody listens: have the listener replaced (at most every 200 ms),
                        // with a few fds freed for it, and retry.
                        let now = Instant::now();
                        if self
                            .last_repair
                            .is_none_or(|t| now.duration_since(t) > Duration::from_millis(200))
                        {
                            // Again within 2 s: the new listener died too, most likely for
                            // want of fds that new clients keep taking. Cap the clients to
                            // leave room for it, as when our own accept runs out.
                            let again = self
                                .last_repair
                                .is_some_and(|t| now.duration_since(t) < Duration::from_secs(2));
                            self.last_repair = Some(now);
                            if again {
                                self.lower_ceiling();
                            } else {
                                self.evict_oldest();
                                self.evict_oldest();
                                self.remove_closed();
                            }
                            (self.hooks.upstream_down)(&self.upstream);
                            self.upstream = (self.hooks.upstream)();
                        }
                        return;
                    }
                    if matches!(code, libc::EAGAIN | libc::ENOBUFS) {
                        // A full backlog, or the listener being replaced: retried next turn
                        // until the request has waited `idle` (see `sweep_deadlines`).
                        return;
                    }
                    log::error!("http: cannot reach the request handlers: {e}");
                    let err = ApiError::new(Code::Unavailable, "request handlers unavailable");
                    self.answer(i, 503, &err);
                    continue;
                }
            };
            let State::Queued {
                request,
                reserved,
                keep_alive,
            } = std::mem::replace(
                &mut self.conns[i].state,
                State::Draining {
                    until: Instant::now(),
                },
            )
            else {
                continue;
            };
            self.conns[i].state = State::Forwarding {
                up,
                request,
                reserved,
                sent: 0,
                response: Vec::new(),
                response_sent: 0,
                relayed: 0,
                up_done: false,
                head_open: true,
                keep_alive,
                reusable: false,
            };
            self.conns[i].progress = Instant::now();
            active += 1;
        }
    }

    fn on_upstream(&mut self, i: usize, revents: libc::c_short) {
        if self.conns[i].closed {
            return;
        }
        let State::Forwarding {
            up,
            request,
            reserved,
            sent,
            response,
            response_sent,
            relayed,
            up_done,
            head_open,
            keep_alive,
            reusable,
        } = &mut self.conns[i].state
        else {
            return;
        };
        let keep_secs = self.limits.idle.as_secs().saturating_sub(2).max(1);
        if revents & libc::POLLOUT != 0 && *sent < request.len() {
            match up.write(&request[*sent..]) {
                Ok(n) => {
                    *sent += n;
                    if *sent >= request.len() {
                        *request = Vec::new();
                        self.budget_used -= *reserved;
                        *reserved = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => *up_done = true,
            }
        }
        let mut fresh = false;
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !*up_done {
            if *response_sent == response.len() {
                response.clear();
                *response_sent = 0;
                // An answer that went quiet (an event stream between events) is not a stuck
                // client: the idle clock restarts when new bytes arrive for it.
                fresh = true;
            }
            let mut chunk = [0u8; 16 * 1024];
            while response.len() - *response_sent < RESPONSE_BUFFER {
                match up.read(&mut chunk) {
                    Ok(0) => {
                        *up_done = true;
                        break;
                    }
                    Ok(n) => {
                        response.extend_from_slice(&chunk[..n]);
                        *relayed += n;
                        if *head_open
                            && let Some(r) = rewrite_answer_head(response, *keep_alive, keep_secs)
                        {
                            *head_open = false;
                            *reusable = r;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        *up_done = true;
                        break;
                    }
                }
            }
            fresh &= !response.is_empty();
        }
        if fresh {
            self.conns[i].progress = Instant::now();
        }
        self.write_response(i);
    }

    fn write_response(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let State::Forwarding {
            response,
            response_sent,
            relayed,
            up_done,
            head_open,
            reusable,
            ..
        } = &mut c.state
        else {
            return;
        };
        if *up_done && *relayed == 0 {
            // tiny_http closed without a word (its listener died with the request in its
            // backlog): tell the client to retry rather than drop the connection.
            let e = ApiError::new(Code::Unavailable, "request handlers restarting, retry");
            return self.answer(i, 503, &e);
        }
        if *head_open && !*up_done {
            return; // until the whole head is here to be rewritten
        }
        while *response_sent < response.len() {
            match (&c.client).write(&response[*response_sent..]) {
                Ok(n) => {
                    *response_sent += n;
                    c.progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(i),
            }
        }
        if *up_done {
            if *reusable {
                // The whole answer is out: read the client's next request on this connection.
                c.state = State::Reading {
                    buf: Vec::new(),
                    head: None,
                    reserved: 0,
                };
                c.opened = Instant::now();
                c.progress = c.opened;
                return;
            }
            self.start_draining(i);
        }
    }

    fn sweep_deadlines(&mut self) {
        let now = Instant::now();
        for i in 0..self.conns.len() {
            let c = &self.conns[i];
            if c.closed {
                continue;
            }
            let idle = now.duration_since(c.progress) >= self.limits.idle;
            match &c.state {
                State::Reading { buf, .. } => {
                    let late = now.duration_since(c.opened) >= self.limits.request_deadline;
                    if buf.is_empty() && idle {
                        self.close(i); // an idle keep-alive or a port scan: no answer needed
                    } else if idle || late {
                        let e = ApiError::new(
                            Code::DeadlineExceeded,
                            "the request did not arrive in time",
                        );
                        self.answer(i, 408, &e);
                    }
                }
                State::Answering { .. } if idle => self.close(i),
                State::Forwarding {
                    response,
                    response_sent,
                    ..
                } if idle && response_sent < &response.len() => self.close(i),
                State::Draining { until } if now >= *until => self.close(i),
                State::Queued { .. } if idle => {
                    let e = ApiError::new(Code::Unavailable, "request handlers unavailable");
                    self.answer(i, 503, &e);
                }
                _ => {}
            }
        }
    }
}

/// Looks for a complete head in `buf` and checks it. Ok(None): not complete yet.
fn check_head(
    buf: &[u8],
    limits: &Limits,
    peer: &str,
) -> Result<Option<(Head, bool)>, (u16, ApiError)> {
    let too_long_line = || {
        (
            414,
            ApiError::new(
                Code::ResourceExhausted,
                format!(
                    "request line is longer than {} bytes",
                    limits.max_request_line
                ),
            ),
        )
    };
    let line_end = find(buf, b"\r\n");
    match line_end {
        None if buf.len() > limits.max_request_line => return Err(too_long_line()),
        Some(n) if n > limits.max_request_line => return Err(too_long_line()),
        _ => {}
    }
    let Some(end) = find(buf, b"\r\n\r\n") else {
        if buf.len() > limits.max_head {
            return Err(too_large_head(limits));
        }
        return Ok(None);
    };
    let len = end + 4;
    if len > limits.max_head {
        return Err(too_large_head(limits));
    }
    parse_head(&buf[..len], peer).map(Some)
}

fn too_large_head(limits: &Limits) -> (u16, ApiError) {
    (
        431,
        ApiError::new(
            Code::ResourceExhausted,
            format!("request headers are larger than {} bytes", limits.max_head),
        ),
    )
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses and rewrites a complete head (ending in the blank line). Returns the head and whether
/// the client asked for `100-continue`.
fn parse_head(head: &[u8], peer: &str) -> Result<(Head, bool), (u16, ApiError)> {
    let bad = |m: &str| (400, ApiError::invalid(m.to_string()));
    let text = std::str::from_utf8(head)
        .ok()
        .filter(|t| t.is_ascii())
        .ok_or_else(|| bad("request head must be ASCII"))?;
    let mut lines = text[..text.len() - 4].split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    let is_token = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
    };
    if !is_token(method) {
        return Err(bad("malformed request method"));
    }
    if target.is_empty() || target.bytes().any(|b| b.is_ascii_control()) {
        return Err(bad("malformed request target"));
    }
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err((
            505,
            ApiError::invalid(format!("unsupported protocol version {version:?}")),
        ));
    }
    let mut out = String::with_capacity(head.len() + 64);
    out.push_str(request_line);
    out.push_str("\r\n");
    let mut content_length: Option<usize> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    let (mut connection_close, mut connection_keep) = (false, false);
    let mut has_authorization = false;
    for line in lines {
        if line.starts_with([' ', '\t']) {
            return Err(bad("folded header lines are not supported"));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header line"))?;
        if !is_token(name) {
            return Err(bad("malformed header name"));
        }
        if line.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(bad("control characters in a header"));
        }
        let value = value.trim();
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "content-length" => {
                let n: usize = value
                    .parse()
                    .ok()
                    .filter(|_| !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| bad("malformed Content-Length"))?;
                if content_length.is_some_and(|c| c != n) {
                    return Err(bad("conflicting Content-Length headers"));
                }
                content_length = Some(n);
                continue; // re-added once below
            }
            "transfer-encoding" => {
                if !value.eq_ignore_ascii_case("chunked") || chunked {
                    return Err((
                        501,
                        ApiError::new(
                            Code::Unimplemented,
                            format!(
                                "Transfer-Encoding {value:?} is not supported; send chunked or \
                                 Content-Length"
                            ),
                        ),
                    ));
                }
                chunked = true;
                continue;
            }
            "expect" => {
                if value.eq_ignore_ascii_case("100-continue") {
                    expect_continue = true;
                } else {
                    return Err((417, ApiError::invalid("unsupported Expect header")));
                }
                continue;
            }
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        connection_close = true;
                    } else if token.eq_ignore_ascii_case("keep-alive") {
                        connection_keep = true;
                    }
                }
                continue;
            }
            "keep-alive" | "proxy-connection" | "te" | "upgrade" => continue,
            "authorization" => has_authorization = true,
            _ if lower == PEER_HEADER.to_ascii_lowercase() => continue,
            _ => {}
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    if chunked && content_length.is_some() {
        // Which one frames the body is where request smuggling lives: neither is guessed.
        return Err(bad("both Content-Length and Transfer-Encoding: chunked"));
    }
    let content_length = content_length.unwrap_or(0);
    if content_length > 0 {
        out.push_str(&format!("Content-Length: {content_length}\r\n"));
    }
    out.push_str("Connection: close\r\n");
    out.push_str(&format!("{PEER_HEADER}: {peer}\r\n\r\n"));
    Ok((
        Head {
            len: head.len(),
            content_length,
            rewritten: out.into_bytes(),
            chunked: chunked.then(Dechunked::default),
            keep_alive: !connection_close && (version == "HTTP/1.1" || connection_keep),
            path: target.split('?').next().unwrap_or("").to_string(),
            has_authorization,
        },
        expect_continue,
    ))
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        414 => "URI Too Long",
        417 => "Expectation Failed",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Error",
    }
}

/// A complete HTTP/1.1 answer with a Connect error body; the connection closes after it.
/// tiny_http drops a `Connection` header set on a response, yet it closes the connection after
/// each forwarded request: say so to the client, right after the status line, so that clients
/// do not send their next request on a connection that is about to close.
/// Once the answer's head is complete in `response`: drops its `Connection` and `Keep-Alive`
/// headers and adds one `Connection` of ours: `keep-alive` (with `Keep-Alive: timeout=…`) when
/// the client asked for it and the head gives the answer's length, else `close`. None while the
/// head is incomplete; else whether the connection stays open.
fn rewrite_answer_head(
    response: &mut Vec<u8>,
    keep_alive: bool,
    timeout_secs: u64,
) -> Option<bool> {
    let end = find(response, b"\r\n\r\n")?;
    let first = find(response, b"\r\n")?;
    let lines: Vec<&[u8]> = response[first + 2..end + 2]
        .split_inclusive(|b| *b == b'\n')
        .collect();
    let name_is = |line: &[u8], name: &[u8]| {
        line.split(|b| *b == b':')
            .next()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    };
    let chunked = lines.iter().any(|l| {
        name_is(l, b"transfer-encoding")
            && String::from_utf8_lossy(l)
                .to_ascii_lowercase()
                .contains("chunked")
    });
    let framed = chunked || lines.iter().any(|l| name_is(l, b"content-length"));
    let reuse = keep_alive && framed;
    let mut head: Vec<u8> = Vec::with_capacity(end + 64);
    head.extend_from_slice(&response[..first + 2]);
    if reuse {
        head.extend_from_slice(
            format!("Connection: keep-alive\r\nKeep-Alive: timeout={timeout_secs}\r\n").as_bytes(),
        );
    } else {
        head.extend_from_slice(b"Connection: close\r\n");
    }
    for line in lines {
        if !name_is(line, b"connection") && !name_is(line, b"keep-alive") {
            head.extend_from_slice(line);
        }
    }
    response.splice(..end + 2, head);
    Some(reuse)
}

fn error_response(status: u16, e: &ApiError) -> Vec<u8> {
    let body = e.body();
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}

#[cfg(test)]
mod tests;
