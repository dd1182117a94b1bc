//! HTTP: the listener, the fixed pool of handler threads, routing, and the RPC handlers.
//!
//! The front door (`front`) accepts connections and reads whole requests under size and time
//! limits, then hands them to a tiny_http server on a private Unix socket; `handlers` named threads
//! call `recv()`, check credentials (`auth`) and answer each request. Read-only RPCs are answered
//! on the handler thread; Backup hands its request to the worker (see `orchestrator::Responder`)
//! so a long backup never pins a handler thread.

mod auth;
mod connect;
mod front;
mod rpc;

pub use auth::routes;
pub use connect::{ApiError, Code};
pub use front::Limits;

use crate::config::{Config, ConfigStore};
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

/// Everything the handlers share.
pub struct App {
    pub store: ConfigStore,
    pub config: Arc<Mutex<Config>>,
    pub oplog: Arc<OpLog>,
    pub orchestrator: Arc<Orchestrator>,
    pub restic_cmd: String,
    pub data_dir: PathBuf,
    pub auth: crate::auth::Authenticator,
}

/// The running HTTP side: the tiny_http server and its handler threads.
pub struct Server {
    http: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
    addr: std::net::SocketAddr,
    front: front::Front,
    stopping: Arc<AtomicBool>,
    socket: PathBuf,
}

impl Server {
    /// Starts the front door on `listener` and `handlers` handler threads.
    pub fn start(app: Arc<App>, listener: TcpListener, handlers: usize) -> io::Result<Server> {
        let addr = listener.local_addr()?;
        let (unix, socket) = front::internal_listener(&app.data_dir)?;
        let http = tiny_http::Server::from_listener(unix, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let http = Arc::new(http);
        let stopping = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for i in 0..handlers.max(1) {
            let http = Arc::clone(&http);
            let app = Arc::clone(&app);
            let stopping = Arc::clone(&stopping);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || handler_loop(&app, &http, &stopping))?,
            );
        }
        let limits = Limits::for_this_process(MAX_BODY);
        let front = front::Front::start(listener, socket.clone(), limits, Box::new(fail))?;
        Ok(Server {
            http,
            threads,
            addr,
            front,
            stopping,
            socket,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops every handler thread (one `unblock` wakes one thread) and joins them.
    pub fn stop(self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.front.stop();
        for _ in &self.threads {
            self.http.unblock();
        }
        for t in self.threads {
            if let Err(p) = t.join() {
                log::error!("a handler thread panicked: {p:?}");
            }
        }
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn handler_loop(app: &Arc<App>, http: &tiny_http::Server, stopping: &AtomicBool) {
    loop {
        match http.recv() {
            Ok(req) => {
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    handle(app, req);
                }));
                if result.is_err() {
                    log::error!("a request handler panicked; the request was answered 500");
                }
            }
            // `unblock()` (shutdown) and a dead listener both end up here.
            Err(e) => {
                if !stopping.load(Ordering::SeqCst) {
                    fail(&format!("the request queue failed: {e}"));
                }
                log::debug!("handler thread stopping: {e}");
                return;
            }
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
pub(crate) fn respond_unary(req: Request, result: Result<Vec<u8>, ApiError>) {
    match result {
        Ok(body) => respond(req, json_response(200, body)),
        Err(e) => respond_error(req, e.code.http_status(), &e),
    }
}

fn respond_error(req: Request, status: u16, e: &ApiError) {
    respond(req, json_response(status, e.body().into_bytes()));
}

fn handle(app: &Arc<App>, req: Request) {
    let path = req.url().split('?').next().unwrap_or("").to_string();
    if !auth::is_public(&path)
        && let Err(denied) = auth::authenticate(app, &req)
    {
        auth::respond_denied(req, &path, &denied);
        return;
    }
    if let Some(method) = path
        .strip_prefix("/v1.Backrest/")
        .or_else(|| path.strip_prefix("/v1.Authentication/"))
    {
        let service = if path.starts_with("/v1.Backrest/") {
            rpc::Service::Backrest
        } else {
            rpc::Service::Authentication
        };
        handle_rpc(app, req, service, method.to_string());
        return;
    }
    match path.as_str() {
        "/" => {
            let body = format!(
                "footrest {}\nBackrest-compatible API at POST /v1.Backrest/<Method>\n",
                env!("CARGO_PKG_VERSION")
            );
            respond(
                req,
                Response::from_data(body.into_bytes())
                    .with_header(header("Content-Type", "text/plain; charset=utf-8")),
            );
        }
        _ => {
            let e = ApiError::not_found(format!("no such path: {path}"));
            respond_error(req, 404, &e);
        }
    }
}

fn handle_rpc(app: &Arc<App>, mut req: Request, service: rpc::Service, method: String) {
    if !rpc::exists(service, &method) {
        let e = ApiError::not_found(format!("unknown method {method}"));
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
    if let Err((status, e)) = connect::check_unary_headers(ct.as_deref(), pv.as_deref()) {
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
    rpc::dispatch(app, req, service, &method, &body);
}
