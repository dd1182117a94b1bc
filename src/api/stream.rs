//! Long answers: Connect server streaming (GetOperationEvents, GetLogs; docs/COMPATIBILITY.md §1) and the
//! chunked HTTP bodies of downloads.
//!
//! A long answer never runs on the handler pool. The handler checks the request, takes a slot
//! (at most `settings::MAX_STREAMS` (`FOOTREST_MAX_STREAMS`) at once; past that the client gets `resource_exhausted`), and moves
//! the tiny_http request to a named short-lived thread that owns the connection's writer
//! (`Request::into_writer`) and writes the response itself: headers, then HTTP/1.1 chunks, each
//! flushed, so every envelope reaches the client when it is written.
//!
//! Operation events come from one oplog listener (the [`Hub`]) that fans each change out to the
//! subscribed streams through bounded queues with `try_send` only: the worker that writes the
//! oplog never waits for a client. A stream whose queue overflows (its client reads too slowly
//! or not at all) is dropped and ends with a `resource_exhausted` end-of-stream envelope.

use super::connect::Code;
use super::{ApiError, App};
use crate::model::{Empty, Int64List, OperationEvent, OperationList};
use crate::oplog::{Change, OpLog};
use base64::Engine;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use serde::Serialize;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use tiny_http::{HTTPVersion, Request};

/// How often an idle event stream sends `keepAlive`. A client that went away (a browser tab
/// closed, a page left) is noticed at the next write, so this also bounds how long its slot stays
/// taken.
pub const KEEPALIVE: Duration = Duration::from_secs(10);
/// Changes queued for one event stream before it counts as overflowed.
pub const EVENT_QUEUE: usize = 256;
/// How often a live log is checked for new bytes.
const LOG_POLL: Duration = Duration::from_millis(200);
/// Largest piece of a log sent in one envelope.
const LOG_CHUNK: usize = 32 * 1024;

pub const CONNECT_STREAM_TYPE: &str = "application/connect+json";

/// The streaming side of the API: the slot count, the oplog fan-out and the stream threads.
pub struct Streams {
    active: Arc<AtomicUsize>,
    max: usize,
    hub: Arc<Hub>,
    stopping: Arc<AtomicBool>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

/// Fans oplog changes out to event streams. Called on the thread that writes the oplog, with
/// the oplog's lock held: it only clones an `Arc` into bounded queues.
pub struct Hub {
    subscribers: Mutex<Vec<Subscriber>>,
    next_id: AtomicUsize,
}

struct Subscriber {
    id: u64,
    tx: Sender<Arc<Change>>,
    overflowed: Arc<AtomicBool>,
}

/// One event stream's end of the hub.
pub struct Subscription {
    id: u64,
    pub rx: Receiver<Arc<Change>>,
    overflowed: Arc<AtomicBool>,
    hub: Arc<Hub>,
}

impl Subscription {
    /// True when changes were dropped because the queue was full.
    pub fn overflowed(&self) -> bool {
        self.overflowed.load(Ordering::SeqCst)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.lock().retain(|s| s.id != self.id);
    }
}

impl Hub {
    pub fn new() -> Arc<Hub> {
        Arc::new(Hub {
            subscribers: Mutex::new(Vec::new()),
            next_id: AtomicUsize::new(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Subscriber>> {
        self.subscribers.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new subscriber with a queue of `capacity` changes.
    pub fn subscribe(self: &Arc<Self>, capacity: usize) -> Subscription {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) as u64;
        let overflowed = Arc::new(AtomicBool::new(false));
        self.lock().push(Subscriber {
            id,
            tx,
            overflowed: Arc::clone(&overflowed),
        });
        Subscription {
            id,
            rx,
            overflowed,
            hub: Arc::clone(self),
        }
    }

    /// Offers a change to every subscriber without waiting. A full queue marks its subscriber
    /// overflowed and removes it (its stream then ends with `resource_exhausted`).
    pub fn publish(&self, change: &Change) {
        let mut subs = self.lock();
        if subs.is_empty() {
            return;
        }
        let change = Arc::new(change.clone());
        subs.retain(|s| match s.tx.try_send(Arc::clone(&change)) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                s.overflowed.store(true, Ordering::SeqCst);
                false
            }
            Err(TrySendError::Disconnected(_)) => false,
        });
    }

    /// Ends every subscription (shutdown): their streams finish normally.
    fn close_all(&self) {
        self.lock().clear();
    }
}

impl Streams {
    /// Subscribes the hub to `oplog`.
    pub fn new(oplog: &OpLog) -> Arc<Streams> {
        let hub = Hub::new();
        let for_listener = Arc::clone(&hub);
        oplog.subscribe(Box::new(move |c| for_listener.publish(c)));
        Arc::new(Streams {
            active: Arc::new(AtomicUsize::new(0)),
            max: crate::settings::get().max_streams,
            hub,
            stopping: Arc::new(AtomicBool::new(false)),
            threads: Mutex::new(Vec::new()),
        })
    }

    /// Runs `body` on a new stream thread when a slot is free; otherwise gives the request
    /// back with the error to answer.
    pub fn spawn(
        &self,
        name: &str,
        req: Request,
        body: impl FnOnce(Request, &StreamCtx) + Send + 'static,
    ) -> Result<(), Box<(Request, ApiError)>> {
        let busy = || {
            ApiError::new(
                Code::ResourceExhausted,
                format!("too many streams open (at most {})", self.max),
            )
        };
        if self.stopping.load(Ordering::SeqCst) {
            return Err(Box::new((
                req,
                ApiError::new(Code::Unavailable, "footrest is stopping"),
            )));
        }
        let taken = self
            .active
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                (n < self.max).then_some(n + 1)
            });
        if taken.is_err() {
            return Err(Box::new((req, busy())));
        }
        let ctx = StreamCtx {
            stopping: Arc::clone(&self.stopping),
            hub: Arc::clone(&self.hub),
        };
        let active = Arc::clone(&self.active);
        // The request moves into the thread only once it is surely started.
        let slot = Arc::new(Mutex::new(Some(req)));
        let in_thread = Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                struct Release(Arc<AtomicUsize>);
                impl Drop for Release {
                    fn drop(&mut self) {
                        self.0.fetch_sub(1, Ordering::SeqCst);
                    }
                }
                let _release = Release(active);
                let req = in_thread.lock().unwrap_or_else(|p| p.into_inner()).take();
                if let Some(req) = req {
                    body(req, &ctx);
                }
            });
        match spawned {
            Ok(handle) => {
                let mut threads = self.threads.lock().unwrap_or_else(|p| p.into_inner());
                threads.retain(|t| !t.is_finished());
                threads.push(handle);
                Ok(())
            }
            Err(e) => {
                self.active.fetch_sub(1, Ordering::SeqCst);
                let req = slot.lock().unwrap_or_else(|p| p.into_inner()).take();
                match req {
                    Some(req) => Err(Box::new((
                        req,
                        ApiError::new(Code::Unavailable, format!("starting a stream: {e}")),
                    ))),
                    None => Ok(()),
                }
            }
        }
    }

    /// Ends every stream (event streams at once, log tails within a poll, downloads when
    /// their current write returns) and joins their threads.
    pub fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.hub.close_all();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            if t.join().is_err() {
                log::error!("a stream thread panicked");
            }
        }
    }

    /// Streams open now.
    pub fn active(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }
}

/// What a stream thread may look at.
pub struct StreamCtx {
    pub stopping: Arc<AtomicBool>,
    pub hub: Arc<Hub>,
}

impl StreamCtx {
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }
}

/// An HTTP/1.1 chunked body (or, for an HTTP/1.0 client, the raw body ended by closing).
pub struct ChunkedBody {
    out: Box<dyn Write + Send>,
    chunked: bool,
}

impl ChunkedBody {
    /// Writes the status line and headers; the body follows with `write`/`flush`.
    pub fn start(req: Request, status: u16, headers: &[(&str, &str)]) -> io::Result<ChunkedBody> {
        let chunked = *req.http_version() >= HTTPVersion(1, 1);
        let version = if chunked { "1.1" } else { "1.0" };
        let mut out = req.into_writer();
        let mut head = format!("HTTP/{version} {status} {}\r\n", reason(status));
        for (k, v) in headers {
            // Header values come from our own code; a CR or LF would split the response.
            let v: String = v.chars().filter(|c| *c != '\r' && *c != '\n').collect();
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if chunked {
            head.push_str("Transfer-Encoding: chunked\r\n");
        }
        head.push_str("Connection: close\r\nCache-Control: no-store\r\n\r\n");
        out.write_all(head.as_bytes())?;
        out.flush()?;
        Ok(ChunkedBody { out, chunked })
    }

    /// Ends the body (the zero-length chunk).
    pub fn finish(mut self) -> io::Result<()> {
        if self.chunked {
            self.out.write_all(b"0\r\n\r\n")?;
        }
        self.out.flush()
    }
}

impl Write for ChunkedBody {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.chunked {
            self.out
                .write_all(format!("{:x}\r\n", buf.len()).as_bytes())?;
            self.out.write_all(buf)?;
            self.out.write_all(b"\r\n")?;
        } else {
            self.out.write_all(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// A Connect envelope: flag byte, big-endian length, payload.
pub fn envelope(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(5 + payload.len());
    v.push(flags);
    v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    v.extend_from_slice(payload);
    v
}

/// The end-of-stream envelope (flag 0x02): `{}` or `{"error":{"code","message"}}`.
pub fn end_envelope(error: Option<&ApiError>) -> Vec<u8> {
    let payload = match error {
        None => b"{}".to_vec(),
        Some(e) => serde_json::json!({"error": {"code": e.code.name(), "message": e.message}})
            .to_string()
            .into_bytes(),
    };
    envelope(0x02, &payload)
}

/// The single request message of a server-streaming call, from its envelope.
pub fn decode_request_envelope(
    body: &[u8],
    encoding: Option<&str>,
) -> Result<serde_json::Value, ApiError> {
    if body.len() < 5 {
        return Err(ApiError::invalid(
            "a streaming request is one Connect envelope (flag byte, 4-byte length, message)",
        ));
    }
    let flags = body[0];
    let compressed = flags & 0x01 != 0;
    if flags & !0x01 != 0 {
        return Err(ApiError::invalid(format!(
            "unexpected envelope flags {flags:#04x}"
        )));
    }
    let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
    if body.len() - 5 != len {
        return Err(ApiError::invalid(format!(
            "envelope says {len} bytes, {} were sent",
            body.len() - 5
        )));
    }
    if !compressed {
        return super::connect::decode(&body[5..]);
    }
    if encoding.is_none_or(|e| e.trim().eq_ignore_ascii_case("identity")) {
        return Err(ApiError::invalid(
            "the envelope is marked compressed but Connect-Content-Encoding names no compression",
        ));
    }
    let raw = super::connect::decompress(encoding, body[5..].to_vec(), super::MAX_BODY)?;
    super::connect::decode(&raw)
}

/// Whether a content type is Connect's streaming JSON.
pub fn is_stream_content_type(ct: Option<&str>) -> bool {
    let ct = ct.unwrap_or("");
    let mut parts = ct.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    mime == CONNECT_STREAM_TYPE
        && parts.all(|p| {
            let p = p.trim().to_ascii_lowercase();
            !p.starts_with("charset=") || p == "charset=utf-8"
        })
}

/// Methods answered as server streams.
pub const STREAM_METHODS: &[&str] = &["GetOperationEvents", "GetLogs"];

/// Serves a streaming RPC: the body has been read; `ct` is the request's content type.
pub fn serve(
    app: &Arc<App>,
    req: Request,
    method: &str,
    ct: Option<&str>,
    encoding: Option<&str>,
    body: &[u8],
) {
    if !is_stream_content_type(ct) {
        let e = ApiError::new(
            Code::Unknown,
            format!(
                "unsupported content type {:?}: {method} is a server-streaming RPC, send {CONNECT_STREAM_TYPE}",
                ct.unwrap_or("none")
            ),
        );
        super::respond_error(req, 415, &e);
        return;
    }
    let msg = decode_request_envelope(body, encoding);
    let app2 = Arc::clone(app);
    let started = match method {
        "GetOperationEvents" => {
            app.streams
                .spawn("stream-events", req, move |req, ctx| match msg {
                    Ok(_) => operation_events(req, ctx),
                    Err(e) => end_only(req, &e),
                })
        }
        _ => app.streams.spawn("stream-logs", req, move |req, ctx| {
            match msg.and_then(|m| log_ref(&m)) {
                Ok(logref) => tail_log(&app2, req, ctx, &logref),
                Err(e) => end_only(req, &e),
            }
        }),
    };
    if let Err(refused) = started {
        let (req, e) = *refused;
        // Past the cap the answer is still a stream: errors only in the end envelope.
        end_only(req, &e);
    }
}

fn stream_headers() -> [(&'static str, &'static str); 1] {
    [("Content-Type", CONNECT_STREAM_TYPE)]
}

/// A stream that is only its end envelope (an error before anything was sent).
fn end_only(req: Request, e: &ApiError) {
    let result = ChunkedBody::start(req, 200, &stream_headers()).and_then(|mut b| {
        b.write_all(&end_envelope(Some(e)))?;
        b.finish()
    });
    if let Err(err) = result {
        log::debug!("stream: client went away before the error: {err}");
    }
}

fn send_message<T: Serialize>(body: &mut ChunkedBody, msg: &T) -> io::Result<()> {
    let payload = serde_json::to_vec(msg).map_err(io::Error::other)?;
    body.write_all(&envelope(0, &payload))?;
    body.flush()
}

/// The OperationEvent a change becomes.
pub fn event_of(change: &Change) -> OperationEvent {
    match change {
        Change::Created(ops) => OperationEvent {
            created_operations: Some(OperationList {
                operations: ops.clone(),
            }),
            ..Default::default()
        },
        Change::Updated(ops) => OperationEvent {
            updated_operations: Some(OperationList {
                operations: ops.clone(),
            }),
            ..Default::default()
        },
        Change::Deleted(ids) => OperationEvent {
            deleted_operations: Some(Int64List {
                values: ids.clone(),
            }),
            ..Default::default()
        },
    }
}

fn operation_events(req: Request, ctx: &StreamCtx) {
    let sub = ctx.hub.subscribe(EVENT_QUEUE);
    let mut body = match ChunkedBody::start(req, 200, &stream_headers()) {
        Ok(b) => b,
        Err(e) => return log::debug!("event stream: {e}"),
    };
    let end = loop {
        match sub.rx.recv_timeout(KEEPALIVE) {
            Ok(change) => {
                if let Err(e) = send_message(&mut body, &event_of(&change)) {
                    return log::debug!("event stream: client went away: {e}");
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                let ka = OperationEvent {
                    keep_alive: Some(Empty {}),
                    ..Default::default()
                };
                if let Err(e) = send_message(&mut body, &ka) {
                    return log::debug!("event stream: client went away: {e}");
                }
            }
            Err(RecvTimeoutError::Disconnected) if sub.overflowed() => {
                log::info!("event stream: the client read too slowly and was dropped");
                break Some(ApiError::new(
                    Code::ResourceExhausted,
                    format!(
                        "overflow: more than {EVENT_QUEUE} events were waiting for this client; reconnect and reload"
                    ),
                ));
            }
            Err(RecvTimeoutError::Disconnected) => {
                break ctx
                    .is_stopping()
                    .then(|| ApiError::new(Code::Unavailable, "footrest is stopping"));
            }
        }
    };
    drop(sub);
    let result = body
        .write_all(&end_envelope(end.as_ref()))
        .and_then(|()| body.finish());
    if let Err(e) = result {
        log::debug!("event stream: {e}");
    }
}

fn log_ref(msg: &serde_json::Value) -> Result<String, ApiError> {
    match msg.get("ref").or_else(|| msg.get("value")) {
        Some(serde_json::Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(ApiError::invalid("ref (the log's logref) is required")),
    }
}

#[derive(Serialize)]
struct BytesValue {
    value: String,
}

/// Sends the log from the start, then what is appended while its task runs, then ends.
fn tail_log(app: &App, req: Request, ctx: &StreamCtx, logref: &str) {
    let file = app
        .logs
        .path(logref)
        .and_then(|p| std::fs::File::open(p).ok());
    let mut body = match ChunkedBody::start(req, 200, &stream_headers()) {
        Ok(b) => b,
        Err(e) => return log::debug!("log stream: {e}"),
    };
    let Some(mut file) = file else {
        // As Backrest: the stream says so in its one message and ends without an error (its UI
        // shows the message in place of the log).
        let text = format!("file associated with log {logref} not found, it may have expired.");
        let msg = BytesValue {
            value: base64::engine::general_purpose::STANDARD.encode(text),
        };
        let sent = send_message(&mut body, &msg)
            .and_then(|()| body.write_all(&end_envelope(None)))
            .and_then(|()| body.finish());
        if let Err(e) = sent {
            log::debug!("log stream: {e}");
        }
        return;
    };
    let mut offset = 0u64;
    let mut buf = vec![0u8; LOG_CHUNK];
    let result = (|| -> io::Result<Option<ApiError>> {
        loop {
            // Checked before reading: a writer finishes its bytes before it drops the marker.
            let live = app.logs.is_live(logref);
            loop {
                file.seek(SeekFrom::Start(offset))?;
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                offset += n as u64;
                let msg = BytesValue {
                    value: base64::engine::general_purpose::STANDARD.encode(&buf[..n]),
                };
                send_message(&mut body, &msg)?;
            }
            if !live {
                return Ok(None);
            }
            if ctx.is_stopping() {
                return Ok(Some(ApiError::new(
                    Code::Unavailable,
                    "footrest is stopping",
                )));
            }
            std::thread::sleep(LOG_POLL);
        }
    })();
    let end = match result {
        Ok(end) => end,
        Err(e) => return log::debug!("log stream: client went away: {e}"),
    };
    let result = body
        .write_all(&end_envelope(end.as_ref()))
        .and_then(|()| body.finish());
    if let Err(e) = result {
        log::debug!("log stream: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Operation;

    #[test]
    fn envelopes_are_flag_length_payload() {
        assert_eq!(envelope(0, b"{}"), [0, 0, 0, 0, 2, b'{', b'}']);
        let end = end_envelope(Some(&ApiError::new(Code::ResourceExhausted, "overflow")));
        assert_eq!(end[0], 2);
        let v: serde_json::Value = serde_json::from_slice(&end[5..]).unwrap();
        assert_eq!(v["error"]["code"], "resource_exhausted");
        assert_eq!(end_envelope(None), [2, 0, 0, 0, 2, b'{', b'}']);
    }

    #[test]
    fn request_envelopes_are_checked_and_gzip_payloads_inflated() {
        assert!(decode_request_envelope(&[0, 0, 0, 0, 2, b'{', b'}'], None).is_ok());
        assert!(decode_request_envelope(b"{}", None).is_err());
        assert!(decode_request_envelope(&[0, 0, 0, 0, 9, b'{', b'}'], None).is_err());
        // Marked compressed without a compression named: refused.
        let e = decode_request_envelope(&[1, 0, 0, 0, 2, b'{', b'}'], None).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        let gz = crate::api::connect::gzip(br#"{"logref":"x"}"#).unwrap();
        let mut env = vec![1];
        env.extend_from_slice(&(gz.len() as u32).to_be_bytes());
        env.extend_from_slice(&gz);
        let v = decode_request_envelope(&env, Some("gzip")).unwrap();
        assert_eq!(v["logref"], "x");
        let e = decode_request_envelope(&env, Some("br")).unwrap_err();
        assert_eq!(e.code, Code::Unimplemented);
        assert!(is_stream_content_type(Some("application/connect+json")));
        assert!(!is_stream_content_type(Some("application/json")));
    }

    #[test]
    fn a_full_queue_drops_its_subscriber_without_blocking() {
        let hub = Hub::new();
        let slow = hub.subscribe(2);
        let fast = hub.subscribe(100);
        let change = Change::Deleted(vec![1]);
        for _ in 0..5 {
            hub.publish(&change); // never blocks, however full `slow` is
        }
        assert!(slow.overflowed());
        assert!(!fast.overflowed());
        assert_eq!(slow.rx.try_iter().count(), 2);
        assert!(matches!(
            slow.rx.try_recv(),
            Err(crossbeam_channel::TryRecvError::Disconnected)
        ));
        assert_eq!(fast.rx.try_iter().count(), 5);
        drop(fast);
        assert!(hub.lock().is_empty());
    }

    #[test]
    fn changes_become_operation_events() {
        let op = Operation {
            id: 3,
            ..Default::default()
        };
        let v = serde_json::to_value(event_of(&Change::Created(vec![op]))).unwrap();
        assert_eq!(v["createdOperations"]["operations"][0]["id"], "3");
        let v = serde_json::to_value(event_of(&Change::Deleted(vec![4]))).unwrap();
        assert_eq!(v["deletedOperations"]["values"][0], "4");
        let ka = OperationEvent {
            keep_alive: Some(Empty {}),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&ka).unwrap(), r#"{"keepAlive":{}}"#);
    }
}
