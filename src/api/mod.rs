//! HTTP: the listener, the fixed pool of handler threads, routing, and the RPC handlers.
//!
//! The front door (`front`) accepts connections and reads whole requests under size and time
//! limits, then hands them to a tiny_http server on a private Unix socket; `handlers` named threads
//! call `recv()`, check credentials (`auth`) and answer each request. Read-only RPCs are answered
//! on the handler thread; Backup hands its request to the worker (see `orchestrator::Responder`)
//! so a long backup never pins a handler thread.

mod auth;
mod browse;
mod calls;
mod connect;
mod footrest;
mod front;
mod monitor;
mod ops;
mod rpc;
pub mod stream;
pub mod ui;

pub use auth::routes;
pub use connect::{ApiError, Code};
pub use front::Limits;

use crate::config::SharedConfig;
use crate::logstore::LogStore;
use crate::oplog::OpLog;
use crate::orchestrator::Orchestrator;
use std::io::{self, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tiny_http::{Header, Method, Request, Response};

/// Largest request body accepted (configs are a few KB; this leaves ample room).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Deepest JSON nesting accepted in a request. Real messages nest under ten levels; serde_json
/// stops at 128 for values it builds but skips ignored (unknown) fields at any depth.
pub const MAX_JSON_DEPTH: usize = 64;

/// Whether `body`'s JSON nests deeper than `max` (a byte scan that skips strings).
pub fn json_too_deep(body: &[u8], max: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in body {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > max {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// Set when the HTTP side failed for good; the daemon then exits non-zero (see `main`).
static FAILED: AtomicBool = AtomicBool::new(false);

/// Whether the HTTP side failed for good (the process should exit with a failure status so that
/// its supervisor restarts it).
pub fn failed() -> bool {
    FAILED.load(Ordering::SeqCst)
}

/// Records a fatal HTTP failure and asks the daemon to stop (SIGTERM to ourselves).
fn fail(why: &str) {
    if !FAILED.swap(true, Ordering::SeqCst) {
        log::error!("http: {why}; stopping so that the supervisor restarts footrest");
        // SAFETY: plain syscalls with valid arguments.
        unsafe {
            libc::kill(libc::getpid(), libc::SIGTERM);
        }
    }
}

/// One of at most `max` places counted by a static counter (TestHook firings, restic runs for
/// API requests, calls waiting for their tasks); given back when dropped.
pub(crate) struct Slot(&'static std::sync::atomic::AtomicUsize);

impl Slot {
    pub(crate) fn take(count: &'static std::sync::atomic::AtomicUsize, max: usize) -> Option<Slot> {
        count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()
            .map(|_| Slot(count))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Everything the handlers share.
pub struct App {
    pub config: Arc<SharedConfig>,
    pub logs: LogStore,
    pub oplog: Arc<OpLog>,
    pub orchestrator: Arc<Orchestrator>,
    pub restic_cmd: String,
    pub data_dir: PathBuf,
    pub auth: crate::auth::Authenticator,
    /// Event streams, log tails and downloads (their threads and the oplog fan-out).
    pub streams: Arc<stream::Streams>,
    /// The local time zone the scheduler evaluates cron in.
    pub zone: crate::schedule::LocalZone,
    /// What /metrics and /status report.
    pub monitor: Arc<crate::monitor::Monitor>,
    /// Scoped keys for scripts (`Authorization: Bearer ftk_…`).
    pub api_keys: crate::apikeys::ApiKeys,
}

/// The running HTTP side: the front door, the tiny_http server and its handler threads.
pub struct Server {
    shared: Arc<Shared>,
    threads: Vec<JoinHandle<()>>,
    addr: std::net::SocketAddr,
    front: front::Front,
}

/// What the handler threads share: the current tiny_http server (replaced if its accept thread
/// dies) and the shutdown flag.
struct Shared {
    current: Mutex<Listening>,
    /// The first server's socket; each replacement listens on a path of its own next to it.
    base: PathBuf,
    handlers: usize,
    stopping: AtomicBool,
}

/// The tiny_http server handler threads take requests from, and where it listens.
struct Listening {
    server: Arc<tiny_http::Server>,
    path: PathBuf,
    generation: u64,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Listening> {
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn current(&self) -> Arc<tiny_http::Server> {
        Arc::clone(&self.lock().server)
    }

    fn current_path(&self) -> PathBuf {
        self.lock().path.clone()
    }

    /// tiny_http's accept thread ends for good on its first error (an `Err` from `recv`), or
    /// panics when it cannot dup an accepted socket (the front door then finds nobody listening):
    /// start a new server on a socket of its own, and move every handler thread over to it. (Not
    /// the same path: a dropped tiny_http server pokes its own address to wake its accept thread
    /// and then deletes that socket file, which would be the new server's.) `failed` names the
    /// server by its `Arc` or by its socket path. One attempt; Ok when `failed` is no longer the
    /// current server.
    fn replace(&self, failed: Failed<'_>, why: &str) -> io::Result<()> {
        let mut cur = self.lock();
        let same = match failed {
            Failed::Server(s) => Arc::ptr_eq(&cur.server, s),
            Failed::Path(p) => cur.path == p,
        };
        if !same || self.stopping.load(Ordering::SeqCst) {
            return Ok(()); // done already, or shutting down
        }
        let generation = cur.generation + 1;
        let path = front::generation_path(&self.base, generation);
        let server = front::bind_internal(&path).and_then(|l| {
            tiny_http::Server::from_listener(l, None).map_err(|e| io::Error::other(e.to_string()))
        })?;
        log::warn!("http: the internal listener failed ({why}); started a new one");
        let old = std::mem::replace(
            &mut *cur,
            Listening {
                server: Arc::new(server),
                path,
                generation,
            },
        );
        drop(cur);
        for _ in 0..self.handlers {
            old.server.unblock();
        }
        Ok(())
    }

    /// `replace`, retried for up to ten seconds; past that the daemon stops (non-zero exit).
    fn replace_or_fail(&self, failed: &Arc<tiny_http::Server>, why: &str) {
        for _ in 0..100 {
            match self.replace(Failed::Server(failed), why) {
                Ok(()) => return,
                Err(e) => log::debug!("http: restarting the internal listener: {e}"),
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        fail("the internal listener cannot be restarted");
    }
}

/// Which tiny_http server failed: the one a handler thread took requests from, or the one the
/// front door could not reach.
#[derive(Clone, Copy)]
enum Failed<'a> {
    Server(&'a Arc<tiny_http::Server>),
    Path(&'a std::path::Path),
}

impl Server {
    /// Starts the front door on `listener` and `handlers` handler threads.
    pub fn start(app: Arc<App>, listener: TcpListener, handlers: usize) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let socket = front::internal_socket_path(&app.data_dir)?;
        front::remove_stale_generations(&socket);
        let http = tiny_http::Server::from_listener(front::bind_internal(&socket)?, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let handlers = handlers.max(1);
        let shared = Arc::new(Shared {
            current: Mutex::new(Listening {
                server: Arc::new(http),
                path: socket.clone(),
                generation: 0,
            }),
            base: socket,
            handlers,
            stopping: AtomicBool::new(false),
        });
        let mut threads = Vec::new();
        for i in 0..handlers {
            let app = Arc::clone(&app);
            let shared = Arc::clone(&shared);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || handler_loop(&app, &shared))?,
            );
        }
        let limits = Limits::for_this_process(MAX_BODY);
        let for_front = Arc::clone(&shared);
        let for_path = Arc::clone(&shared);
        let for_auth = Arc::clone(&app);
        let hooks = front::Hooks {
            needs_credentials: Box::new(move |path| {
                !auth::is_public(path)
                    && for_auth
                        .config
                        .read(|c| crate::auth::required(c.auth.as_ref()))
            }),
            fatal: Box::new(fail),
            upstream: Box::new(move || for_path.current_path()),
            upstream_down: Box::new(move |path| {
                if let Err(e) = for_front.replace(Failed::Path(path), "nothing listens on it") {
                    log::debug!("http: restarting the internal listener: {e}");
                }
            }),
        };
        let front = front::Front::start(listener, limits, hooks)?;
        Ok(Server {
            shared,
            threads,
            addr,
            front,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops accepting, then every handler thread (one `unblock` wakes one thread), joins them.
    /// Answers still in flight (a Backup the worker answers while it shuts down) reach their
    /// clients until `Stopping::finish`.
    pub fn stop(self) -> Stopping {
        self.shared.stopping.store(true, Ordering::SeqCst);
        self.front.stop_accepting();
        let http = self.shared.current();
        for _ in &self.threads {
            http.unblock();
        }
        for t in self.threads {
            if let Err(p) = t.join() {
                log::error!("a handler thread panicked: {p:?}");
            }
        }
        Stopping {
            front: Some(self.front),
            socket: self.shared.current_path(),
        }
    }
}

/// A stopped server whose last answers may still be on their way (see `Server::stop`).
pub struct Stopping {
    front: Option<front::Front>,
    socket: PathBuf,
}

impl Stopping {
    /// Lets answers in flight finish (a few seconds at most), then closes the front door.
    pub fn finish(mut self) {
        if let Some(f) = self.front.take() {
            f.finish(std::time::Duration::from_secs(3));
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

impl Drop for Stopping {
    fn drop(&mut self) {
        if let Some(f) = self.front.take() {
            f.finish(std::time::Duration::ZERO);
            let _ = std::fs::remove_file(&self.socket);
        }
    }
}

fn handler_loop(app: &Arc<App>, shared: &Shared) {
    loop {
        let http = shared.current();
        match http.recv() {
            Ok(req) => handle(app, req),
            Err(_) if shared.stopping.load(Ordering::SeqCst) => {
                log::debug!("handler thread stopping");
                return;
            }
            // An OS error is tiny_http's accept thread dying; anything else is an `unblock()`
            // that moves this thread to a replaced server.
            Err(e) if e.raw_os_error().is_some() => shared.replace_or_fail(&http, &e.to_string()),
            Err(_) => {}
        }
    }
}

fn header(name: &str, value: &str) -> Header {
    Header::from_bytes(name.as_bytes(), value.as_bytes()).unwrap_or_else(|_| {
        Header::from_bytes(&b"X-Invalid"[..], &b"1"[..]).expect("static header")
    })
}

fn json_response(status: u16, body: Vec<u8>) -> Response<io::Cursor<Vec<u8>>> {
    Response::from_data(body)
        .with_status_code(status)
        .with_header(header("Content-Type", "application/json"))
}

fn respond(req: Request, resp: Response<io::Cursor<Vec<u8>>>) {
    if let Err(e) = req.respond(resp) {
        log::debug!("client went away before the answer: {e}");
    }
}

/// Answers a unary RPC with its result.
/// An answer of at least this many bytes is gzip-compressed for a client that accepts it.
const COMPRESS_FROM: usize = 1024;

pub(crate) fn respond_unary(req: Request, result: Result<Vec<u8>, ApiError>) {
    match result {
        Ok(body) if body.len() >= COMPRESS_FROM && accepts_gzip(&req) => {
            match connect::gzip(&body) {
                Ok(gz) => respond(
                    req,
                    json_response(200, gz).with_header(header("Content-Encoding", "gzip")),
                ),
                Err(_) => respond(req, json_response(200, body)),
            }
        }
        Ok(body) => respond(req, json_response(200, body)),
        Err(e) => respond_error(req, e.code.http_status(), &e),
    }
}

/// Answers 200 with a JSON body read from `body` as it is sent (chunked: its length is not
/// known in advance).
pub(crate) fn respond_stream(req: Request, body: impl io::Read + Send + 'static) {
    let resp = Response::new(
        tiny_http::StatusCode(200),
        vec![header("Content-Type", "application/json")],
        body,
        None,
        None,
    );
    if let Err(e) = req.respond(resp) {
        log::debug!("client went away before the answer: {e}");
    }
}

fn accepts_gzip(req: &Request) -> bool {
    ui::request_header(req, "Accept-Encoding").is_some_and(|v| ui::accepts_gzip(&v))
}

fn respond_error(req: Request, status: u16, e: &ApiError) {
    respond(req, json_response(status, e.body().into_bytes()));
}

fn handle(app: &Arc<App>, req: Request) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    if let Err(why) = auth::check_host(app, &req) {
        let e = ApiError::new(Code::PermissionDenied, why);
        respond_error(req, 403, &e);
        return;
    }
    let caller = if auth::is_public(&path) {
        auth::Caller::Open
    } else {
        match auth::authenticate(app, &req) {
            Ok(c) => c,
            Err(denied) => {
                auth::respond_denied(req, &path, &denied);
                return;
            }
        }
    };
    if let Err(e) = caller.permits(&path) {
        respond_error(req, 403, &e);
        return;
    }
    if let Some((service, method)) = rpc::Service::from_path(&path) {
        handle_rpc(app, req, service, method.to_string(), caller.restricted());
        return;
    }
    if let Some(rest) = path.strip_prefix("/download/") {
        browse::download(app, req, rest);
        return;
    }
    if monitor::is_monitor_path(&path) {
        monitor::serve(app, req, &path);
        return;
    }
    if ui::is_ui_path(&path) {
        ui::serve(req, &path);
        return;
    }
    let e = ApiError::not_found(format!("no such path: {path}"));
    respond_error(req, 404, &e);
}

fn handle_rpc(
    app: &Arc<App>,
    mut req: Request,
    service: rpc::Service,
    method: String,
    restricted: bool,
) {
    if !rpc::exists(service, &method) {
        // HTTP 404 as Backrest's router answers, with the code a Connect client maps it to.
        let e = ApiError::new(Code::Unimplemented, format!("unknown method {method}"));
        respond_error(req, 404, &e);
        return;
    }
    if *req.method() != Method::Post {
        let e = ApiError::new(Code::Unknown, "RPCs must be sent with POST");
        let resp = json_response(405, e.body().into_bytes()).with_header(header("Allow", "POST"));
        respond(req, resp);
        return;
    }
    let get = |name: &'static str| {
        req.headers()
            .iter()
            .find(|h| h.field.equiv(name))
            .map(|h| h.value.as_str().to_string())
    };
    let (ct, pv) = (get("Content-Type"), get("Connect-Protocol-Version"));
    let (encoding, stream_encoding) = (get("Content-Encoding"), get("Connect-Content-Encoding"));
    let streaming = stream::STREAM_METHODS.contains(&method.as_str());
    let checked = if streaming {
        connect::check_unary_headers(Some("application/json"), pv.as_deref())
    } else {
        connect::check_unary_headers(ct.as_deref(), pv.as_deref())
    };
    if let Err((status, e)) = checked {
        respond_error(req, status, &e);
        return;
    }
    if req.body_length().is_some_and(|n| n > MAX_BODY) {
        let e = ApiError::new(
            Code::ResourceExhausted,
            format!("request body is larger than {MAX_BODY} bytes"),
        );
        respond_error(req, 413, &e);
        return;
    }
    let mut body = Vec::new();
    if let Err(e) = req
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
    {
        let e = ApiError::invalid(format!("reading the request body: {e}"));
        respond_error(req, 400, &e);
        return;
    }
    if body.len() > MAX_BODY {
        let e = ApiError::new(
            Code::ResourceExhausted,
            format!("request body is larger than {MAX_BODY} bytes"),
        );
        respond_error(req, 413, &e);
        return;
    }
    if streaming {
        stream::serve(
            app,
            req,
            &method,
            ct.as_deref(),
            stream_encoding.as_deref(),
            &body,
        );
        return;
    }
    let body = match connect::decompress(encoding.as_deref(), body, MAX_BODY) {
        Ok(b) => b,
        Err(e) => {
            respond_error(req, e.code.http_status(), &e);
            return;
        }
    };
    // JSON is UTF-8 (RFC 8259); serde_json does not check the strings of fields it ignores.
    if std::str::from_utf8(&body).is_err() {
        let e = ApiError::invalid("invalid request: the body is not valid UTF-8");
        respond_error(req, 400, &e);
        return;
    }
    if json_too_deep(&body, MAX_JSON_DEPTH) {
        let e = ApiError::invalid(format!(
            "invalid request: JSON nested deeper than {MAX_JSON_DEPTH} levels"
        ));
        respond_error(req, 400, &e);
        return;
    }
    rpc::dispatch(app, req, service, &method, &body, restricted);
}

#[cfg(test)]
mod tests {
    #[test]
    fn json_depth_is_counted_outside_strings() {
        use super::json_too_deep;
        assert!(!json_too_deep(br#"{"a":[{"b":1}]}"#, 3));
        assert!(json_too_deep(br#"{"a":[{"b":[1]}]}"#, 3));
        assert!(!json_too_deep(br#"{"a":"[[[[[[\"[[[["}"#, 1));
        assert!(json_too_deep(&[b'['; 65], 64));
    }

    /// A request sent to the current internal server reaches a handler through `current()`.
    fn round_trip(shared: &super::Shared) {
        use std::io::{Read, Write};
        let path = shared.current_path();
        let server = shared.current();
        let client = std::thread::spawn(move || {
            let mut s = std::os::unix::net::UnixStream::connect(&path).expect("connect");
            s.write_all(b"GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).unwrap();
            out
        });
        let req = server.recv().expect("request");
        req.respond(tiny_http::Response::from_string("ok")).unwrap();
        assert!(client.join().unwrap().starts_with("HTTP/1.1 200"));
    }

    #[test]
    fn a_replaced_internal_server_keeps_its_socket_when_the_old_one_is_dropped() {
        use super::{Failed, Listening, Shared, front};
        use std::sync::{Arc, Mutex, atomic::AtomicBool};
        let dir = std::env::temp_dir().join(format!("ft-replace-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let base = dir.join("http.sock");
        // Left by a killed daemon: removed at start.
        std::fs::write(dir.join("http.sock.7"), b"").unwrap();
        std::fs::write(dir.join("http.sock.x"), b"").unwrap();
        front::remove_stale_generations(&base);
        assert!(!dir.join("http.sock.7").exists());
        assert!(
            dir.join("http.sock.x").exists(),
            "only numbered siblings go"
        );

        let first =
            tiny_http::Server::from_listener(front::bind_internal(&base).unwrap(), None).unwrap();
        let shared = Shared {
            current: Mutex::new(Listening {
                server: Arc::new(first),
                path: base.clone(),
                generation: 0,
            }),
            base: base.clone(),
            handlers: 1,
            stopping: AtomicBool::new(false),
        };
        round_trip(&shared);
        for n in 1..=3u64 {
            let old = shared.current();
            let old_path = shared.current_path();
            // Reported by the front door (by path), then again by a handler (by server): one
            // replacement.
            shared.replace(Failed::Path(&old_path), "test").unwrap();
            shared.replace(Failed::Server(&old), "test").unwrap();
            assert_eq!(shared.current_path(), front::generation_path(&base, n));
            // The old server's drop wakes its own accept thread and removes its own socket,
            // not the new one's.
            drop(old);
            assert!(
                !old_path.exists(),
                "generation {} socket left behind",
                n - 1
            );
            assert!(shared.current_path().exists());
            round_trip(&shared);
        }
        drop(shared);
        assert!(!front::generation_path(&base, 3).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
