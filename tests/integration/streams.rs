//! Connect server streaming (GetOperationEvents, GetLogs) read as raw envelopes off the socket,
//! and RunCommand and ClearHistory, whose output and logs the streams carry.

use crate::common::*;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// A client of one server stream: the raw HTTP/1.1 response, de-chunked as it arrives.
pub struct StreamClient {
    reader: BufReader<TcpStream>,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    left_in_chunk: usize,
    done: bool,
}

/// Sends `msg` as one Connect envelope to a streaming RPC and reads the response head.
pub fn open_stream(port: u16, method: &str, msg: &Value) -> StreamClient {
    let s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    open_stream_on(s, method, msg)
}

pub fn open_stream_on(mut s: TcpStream, method: &str, msg: &Value) -> StreamClient {
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let payload = msg.to_string().into_bytes();
    let mut body = vec![0u8];
    body.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    body.extend_from_slice(&payload);
    let head = format!(
        "POST /v1.Backrest/{method} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/connect+json\r\nConnect-Protocol-Version: 1\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(&body).unwrap();
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        reader.read_line(&mut l).unwrap();
        let l = l.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    StreamClient {
        reader,
        status,
        headers,
        left_in_chunk: 0,
        done: false,
    }
}

impl StreamClient {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn read_body(&mut self, out: &mut [u8]) -> std::io::Result<()> {
        let mut filled = 0;
        while filled < out.len() {
            if self.done {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            if self.left_in_chunk == 0 {
                let mut l = String::new();
                self.reader.read_line(&mut l)?;
                if l.is_empty() {
                    return Err(std::io::ErrorKind::UnexpectedEof.into());
                }
                let size = usize::from_str_radix(l.trim(), 16).expect("chunk size");
                if size == 0 {
                    self.done = true;
                    continue;
                }
                self.left_in_chunk = size;
            }
            let n = (out.len() - filled).min(self.left_in_chunk);
            self.reader.read_exact(&mut out[filled..filled + n])?;
            filled += n;
            self.left_in_chunk -= n;
            if self.left_in_chunk == 0 {
                let mut crlf = [0u8; 2];
                self.reader.read_exact(&mut crlf)?;
            }
        }
        Ok(())
    }

    /// The next envelope: (flags, JSON payload).
    pub fn next(&mut self) -> (u8, Value) {
        let mut head = [0u8; 5];
        self.read_body(&mut head).expect("an envelope");
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut payload = vec![0u8; len];
        self.read_body(&mut payload).expect("an envelope's payload");
        (
            head[0],
            serde_json::from_slice(&payload).expect("JSON payload"),
        )
    }

    /// True when the body has ended (the terminating chunk was read).
    pub fn at_end(&mut self) -> bool {
        let mut b = [0u8; 1];
        self.read_body(&mut b).is_err() && self.done
    }
}

fn b64decode(s: &str) -> Vec<u8> {
    let table = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|b| *b != b'=').collect();
    let mut out = Vec::new();
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= table(*c) << (18 - 6 * i);
        }
        let take = chunk.len() * 6 / 8;
        out.extend_from_slice(&n.to_be_bytes()[1..1 + take]);
    }
    out
}

/// Reads a GetLogs stream to its end: (the log's bytes, the end envelope).
pub fn read_log_to_end(c: &mut StreamClient) -> (Vec<u8>, Value) {
    let mut text = Vec::new();
    loop {
        let (flags, v) = c.next();
        if flags == 2 {
            return (text, v);
        }
        text.extend(b64decode(v["value"].as_str().expect("bytes value")));
    }
}

fn op_by_id(d: &Daemon, id: &str) -> Value {
    d.operations(json!({"selector": {"ids": [id]}}))
        .into_iter()
        .next()
        .expect("the operation")
}

fn wait_done(d: &Daemon, id: &str) -> Value {
    d.wait_for("the operation to end", Duration::from_secs(120), || {
        let op = op_by_id(d, id);
        let st = op["status"].as_str().unwrap_or("").to_string();
        (st != "STATUS_INPROGRESS" && st != "STATUS_PENDING").then_some(op)
    })
}

#[test]
fn operation_events_show_a_backup_created_then_updated_in_order_and_end_on_shutdown() {
    let mut s = setup_with_plan(json!({}));
    let mut events = open_stream(s.d.port, "GetOperationEvents", &json!({}));
    assert_eq!(events.status, 200);
    assert_eq!(
        events.header("Content-Type"),
        Some("application/connect+json")
    );
    s.d.ok("Backup", json!({"value": "plan1"}));
    let backup_id =
        s.d.operations(json!({"selector": {"planId": "plan1"}}))
            .iter()
            .find(|o| o.get("operationBackup").is_some())
            .map(|o| o["id"].as_str().unwrap().to_string())
            .unwrap();
    let mut seen = Vec::new(); // (kind, status, modno) of the backup's events
    let mut index_created = false;
    while !index_created
        || seen
            .last()
            .map(|(_, st, _): &(String, String, i64)| st.as_str())
            != Some("STATUS_SUCCESS")
    {
        let (flags, ev) = events.next();
        assert_eq!(flags, 0, "{ev}");
        for (kind, key) in [
            ("created", "createdOperations"),
            ("updated", "updatedOperations"),
        ] {
            for op in ev[key]["operations"].as_array().into_iter().flatten() {
                if op["id"] == backup_id.as_str() {
                    let modno = op["modno"].as_str().unwrap().parse().unwrap();
                    seen.push((
                        kind.to_string(),
                        op["status"].as_str().unwrap().to_string(),
                        modno,
                    ));
                }
                if kind == "created" && op.get("operationIndexSnapshot").is_some() {
                    index_created = true;
                }
            }
        }
    }
    assert_eq!(seen[0].0, "created", "{seen:?}");
    assert_eq!(seen[0].1, "STATUS_PENDING");
    assert!(seen[1..].iter().all(|(k, _, _)| k == "updated"), "{seen:?}");
    assert!(seen.iter().any(|(_, st, _)| st == "STATUS_INPROGRESS"));
    assert!(
        seen.windows(2).all(|w| w[0].2 < w[1].2),
        "events arrive in modno order: {seen:?}"
    );
    // Deletes are events too.
    let (flags, _) = {
        s.d.ok("ClearHistory", json!({"selector": {"ids": [backup_id]}}));
        loop {
            let (flags, ev) = events.next();
            if ev.get("deletedOperations").is_some() {
                assert_eq!(ev["deletedOperations"]["values"], json!([backup_id]));
                break (flags, ev);
            }
        }
    };
    assert_eq!(flags, 0);
    // Shutdown ends the stream with its end-of-stream envelope.
    let status = s.d.stop();
    assert!(status.success());
    let (flags, end) = loop {
        let (flags, v) = events.next();
        if flags == 2 {
            break (flags, v);
        }
    };
    assert_eq!(flags, 2);
    assert_eq!(end["error"]["code"], "unavailable", "{end}");
    assert!(events.at_end());
}

#[test]
fn a_client_that_never_reads_does_not_stall_a_backup() {
    let s = setup_with_plan(json!({}));
    // Big enough to produce progress events for a while.
    std::fs::write(s.src.join("big.bin"), pseudo_random(48 << 20, 3)).unwrap();
    let sock = TcpStream::connect(("127.0.0.1", s.d.port)).unwrap();
    let _idle = open_stream_on(sock, "GetOperationEvents", &json!({}));
    let _idle2 = open_stream(s.d.port, "GetOperationEvents", &json!({}));
    // The idle clients never read another byte.
    let t = std::time::Instant::now();
    s.d.ok("Backup", json!({"value": "plan1"}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    assert!(t.elapsed() < Duration::from_secs(90), "{:?}", t.elapsed());
    assert_eq!(snapshot_ids(&s.repo).len(), 2);
}

#[test]
fn streams_beyond_the_cap_end_at_once_with_resource_exhausted() {
    let d = Daemon::start_with(Opts {
        env: vec![("FOOTREST_MAX_STREAMS".into(), "1".into())],
        ..Default::default()
    });
    let first = open_stream(d.port, "GetOperationEvents", &json!({}));
    let mut second = open_stream(d.port, "GetOperationEvents", &json!({}));
    assert_eq!(
        second.status, 200,
        "stream errors travel in the end envelope"
    );
    let (flags, end) = second.next();
    assert_eq!(flags, 2);
    assert_eq!(end["error"]["code"], "resource_exhausted", "{end}");
    // Unary JSON to a streaming method is refused before any stream starts.
    let r = d.request(
        "POST",
        "/v1.Backrest/GetLogs",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 415);
    assert_eq!(first.status, 200);
}

/// A restic that stops before exiting after `prune` until the test opens a gate (so that the
/// task is surely running while its log is read), then says so. Everything else is real restic.
fn gated_restic(dir: &std::path::Path) -> (String, std::path::PathBuf) {
    let gate = dir.join("gate");
    let script = shell_script(
        &dir.join("restic-gated.sh"),
        &format!(
            "\"{}\" \"$@\"\nrc=$?\nif [ \"$1\" = prune ]; then\n  while [ ! -e \"{}\" ]; do sleep 0.05; done\n  echo 'gate opened'\nfi\nexit $rc\n",
            restic_bin(),
            gate.display()
        ),
    );
    (script, gate)
}

#[test]
fn get_logs_tails_a_running_prune_and_replays_it_after() {
    let work = TempDir::new("logs");
    let (restic, gate) = gated_restic(work.path());
    let src = work.path().join("src");
    make_source(&src);
    let d = Daemon::start_with(Opts {
        restic,
        ..Default::default()
    });
    add_repo(&d, "repo1", &work.path().join("repo"));
    set_plans(
        &d,
        vec![json!({"id": "plan1", "repo": "repo1", "paths": [src.to_str().unwrap()]})],
    );
    d.ok("Backup", json!({"value": "plan1"}));
    let r = d.ok("RunCommand", json!({"repoId": "repo1", "command": "prune"}));
    let id = r["operationId"].as_str().unwrap().to_string();
    let op = op_by_id(&d, &id);
    assert_eq!(op["status"], "STATUS_INPROGRESS");
    let logref = op["operationRunCommand"]["outputLogref"]
        .as_str()
        .unwrap()
        .to_string();
    let mut live = open_stream(d.port, "GetLogs", &json!({"ref": logref}));
    assert_eq!(live.status, 200);
    // restic's own prune output arrives while the task still runs.
    let mut text = Vec::new();
    while !String::from_utf8_lossy(&text).contains("snapshots") {
        let (flags, v) = live.next();
        assert_eq!(flags, 0, "the log ended early: {v}");
        text.extend(b64decode(v["value"].as_str().unwrap()));
    }
    assert_eq!(op_by_id(&d, &id)["status"], "STATUS_INPROGRESS");
    std::fs::write(&gate, b"").unwrap();
    let (rest, end) = read_log_to_end(&mut live);
    text.extend(rest);
    assert_eq!(end, json!({}));
    let text = String::from_utf8(text).unwrap();
    assert!(text.ends_with("gate opened\n"), "{text}");
    let op = wait_done(&d, &id);
    assert_eq!(op["status"], "STATUS_SUCCESS", "{op}");
    assert_eq!(
        op["operationRunCommand"]["outputSizeBytes"],
        text.len().to_string()
    );
    // After the task: the whole log, then the end.
    let mut after = open_stream(d.port, "GetLogs", &json!({"ref": logref}));
    let (again, end) = read_log_to_end(&mut after);
    assert_eq!(String::from_utf8(again).unwrap(), text);
    assert_eq!(end, json!({}));
}

#[test]
fn run_command_logs_output_and_failures_and_clear_history_removes_them() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let snap = snapshot_ids(&s.repo)[0].clone();
    let ok = s.d.ok(
        "RunCommand",
        json!({"repoId": "repo1", "command": "snapshots --json"}),
    );
    let ok_id = ok["operationId"].as_str().unwrap().to_string();
    let bad = s.d.ok(
        "RunCommand",
        json!({"repoId": "repo1", "command": "snapshots --no-such-flag"}),
    );
    let bad_id = bad["operationId"].as_str().unwrap().to_string();
    let ok_op = wait_done(&s.d, &ok_id);
    let bad_op = wait_done(&s.d, &bad_id);
    assert_eq!(ok_op["status"], "STATUS_SUCCESS", "{ok_op}");
    assert_eq!(ok_op["operationRunCommand"]["command"], "snapshots --json");
    assert_eq!(bad_op["status"], "STATUS_ERROR", "{bad_op}");
    assert!(
        bad_op["displayMessage"]
            .as_str()
            .unwrap()
            .contains("no-such-flag"),
        "{bad_op}"
    );
    assert_eq!(
        ok_op["flowId"], bad_op["flowId"],
        "commands in a row share a flow"
    );
    let read = |op: &Value| {
        let logref = op["operationRunCommand"]["outputLogref"].as_str().unwrap();
        let mut c = open_stream(s.d.port, "GetLogs", &json!({"ref": logref}));
        let (bytes, end) = read_log_to_end(&mut c);
        (String::from_utf8(bytes).unwrap(), end)
    };
    let (out, _) = read(&ok_op);
    assert!(out.contains(&snap), "{out}");
    let (out, _) = read(&bad_op);
    assert!(out.contains("unknown flag"), "{out}");
    assert!(
        ok_op["operationRunCommand"]["outputSizeBytes"]
            .as_str()
            .unwrap()
            .parse::<usize>()
            .unwrap()
            > 64
    );
    // Bad input changes nothing.
    let (status, v) = s.d.rpc(
        "RunCommand",
        json!({"repoId": "nope", "command": "snapshots"}),
    );
    assert_eq!((status, v["code"].as_str()), (404, Some("not_found")));
    let (status, v) =
        s.d.rpc("RunCommand", json!({"repoId": "repo1", "command": "'open"}));
    assert_eq!(
        (status, v["code"].as_str()),
        (400, Some("invalid_argument")),
        "{v}"
    );
    let (status, _) = s.d.rpc(
        "ClearHistory",
        json!({"selector": {"ids": ["1"], "planId": "x"}}),
    );
    assert_eq!(status, 400);
    // onlyFailed takes the failed command and its log, nothing else.
    let before = s.d.operations(json!({})).len();
    // What Backrest's UI sends to clear failed operations: a selector that sets one field.
    s.d.ok(
        "ClearHistory",
        json!({"selector": {"originalInstanceKeyid": ""}, "onlyFailed": true}),
    );
    let after = s.d.operations(json!({}));
    assert_eq!(after.len(), before - 1);
    assert!(after.iter().all(|o| o["id"] != bad_id.as_str()));
    // The log went with it: as Backrest, the stream says so and ends without an error.
    let (out, end) = read(&bad_op);
    assert!(end.get("error").is_none(), "{end}");
    assert!(out.contains("not found, it may have expired"), "{out}");
    let (out, _) = read(&ok_op);
    assert!(out.contains(&snap));
    // A selector clears the matching operations.
    s.d.ok("ClearHistory", json!({"selector": {"planId": "plan1"}}));
    assert!(
        s.d.operations(json!({"selector": {"planId": "plan1"}}))
            .is_empty()
    );
    assert_eq!(
        s.d.operations(json!({})).len(),
        1,
        "the command had no plan"
    );
}

/// One `Connection` header per answer, also on streams (two conflicting ones confuse proxies
/// and some HTTP clients).
#[test]
fn stream_and_unary_answers_carry_one_connection_header() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    let count = |head: &str| {
        head.lines()
            .filter(|l| l.to_ascii_lowercase().starts_with("connection:"))
            .count()
    };
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let env = [0u8, 0, 0, 0, 2, b'{', b'}'];
    let mut req = format!(
        "POST /v1.Backrest/GetOperationEvents HTTP/1.1\r\nHost: localhost\r\n\
         Content-Type: application/connect+json\r\nContent-Length: {}\r\n\r\n",
        env.len()
    )
    .into_bytes();
    req.extend_from_slice(&env);
    s.write_all(&req).unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut b).unwrap(), 1, "the stream's head arrives");
        head.push(b[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(count(&head), 1, "{head}");
    let r = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    let unary = r
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("connection"))
        .count();
    assert_eq!(unary, 1);
}
