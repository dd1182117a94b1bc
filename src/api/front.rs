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

mod accept;
mod http;
mod relay;
mod socket;

use accept::*;
use http::*;
pub use socket::{bind_internal, generation_path, internal_socket_path, remove_stale_generations};

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
        let settings = crate::settings::get();
        let idle = settings.http_timeout;
        Limits {
            max_clients: settings.http_max_clients.unwrap_or(max_clients),
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

#[cfg(test)]
mod tests;
