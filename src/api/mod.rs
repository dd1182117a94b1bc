//! HTTP: the listener, the fixed pool of handler threads, routing, and the RPC handlers.
//!
//! A tiny_http server accepts connections; `handlers` named threads call `recv()` and answer
//! each request. Read-only RPCs are answered on the handler thread; Backup hands its request to
//! the worker (see `orchestrator::Responder`) so a long backup never pins a handler thread.

mod browse;
mod connect;
mod ops;
mod rpc;
pub mod stream;

pub use connect::{ApiError, Code};

use crate::config::SharedConfig;
use crate::logstore::LogStore;
use crate::oplog::OpLog;
use crate::orchestrator::Orchestrator;
use std::io::{self, Read};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_http::{Header, Method, Request, Response};

/// Largest request body accepted (configs are a few KB; this leaves ample room).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Idle and slow clients are dropped after this long without progress.
pub const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything the handlers share.
pub struct App {
    pub config: Arc<SharedConfig>,
    pub logs: LogStore,
    pub oplog: Arc<OpLog>,
    pub orchestrator: Arc<Orchestrator>,
    pub restic_cmd: String,
    pub data_dir: PathBuf,
    /// Event streams, log tails and downloads (their threads and the oplog fan-out).
    pub streams: Arc<stream::Streams>,
}

/// The running HTTP side: the tiny_http server and its handler threads.
pub struct Server {
    http: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
    addr: std::net::SocketAddr,
}

impl Server {
    /// Binds and starts `handlers` handler threads.
    pub fn start(app: Arc<App>, listener: TcpListener, handlers: usize) -> io::Result<Server> {
        set_socket_timeouts(&listener, SOCKET_TIMEOUT)?;
        let addr = listener.local_addr()?;
        let http = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let http = Arc::new(http);
        let mut threads = Vec::new();
        for i in 0..handlers.max(1) {
            let http = Arc::clone(&http);
            let app = Arc::clone(&app);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("http-{i}"))
                    .spawn(move || handler_loop(&app, &http))?,
            );
        }
        Ok(Server {
            http,
            threads,
            addr,
        })
    }

    pub fn addr(&self) -> std::net::SocketAddr {
        self.addr
    }

    /// Stops every handler thread (one `unblock` wakes one thread) and joins them.
    pub fn stop(self) {
        for _ in &self.threads {
            self.http.unblock();
        }
        for t in self.threads {
            if let Err(p) = t.join() {
                log::error!("a handler thread panicked: {p:?}");
            }
        }
    }
}

/// Sets SO_RCVTIMEO/SO_SNDTIMEO on the listening socket; Linux copies them to accepted sockets,
/// so a client that stops sending cannot hold a connection thread forever.
fn set_socket_timeouts(listener: &TcpListener, t: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: a valid socket fd and a correctly sized timeval.
        let rc = unsafe {
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::SOL_SOCKET,
                opt,
                (&tv as *const libc::timeval).cast(),
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

fn handler_loop(app: &Arc<App>, http: &tiny_http::Server) {
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
    if let Some(rest) = path.strip_prefix("/download/") {
        browse::download(app, req, rest);
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
        stream::serve(app, req, &method, ct.as_deref(), &body);
        return;
    }
    rpc::dispatch(app, req, service, &method, &body);
}
