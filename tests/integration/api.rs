//! The Connect wire rules (docs/COMPATIBILITY.md §1) as a client sees them.

use crate::common::*;
use serde_json::json;

#[test]
fn get_on_an_rpc_path_is_405_with_allow_post() {
    let d = Daemon::start();
    let r = d.request("GET", "/v1.Backrest/GetConfig", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("Allow"), Some("POST"));
    assert_eq!(r.header("Content-Type"), Some("application/json"));
    assert!(r.json()["code"].is_string());
}

#[test]
fn non_json_content_types_are_415_naming_json() {
    let d = Daemon::start();
    for ct in [
        "application/proto",
        "text/plain",
        "application/x-www-form-urlencoded",
    ] {
        let r = d.request(
            "POST",
            "/v1.Backrest/GetConfig",
            &[("Content-Type", ct)],
            b"{}",
        );
        assert_eq!(r.status, 415, "{ct}");
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("application/json")
        );
    }
    let r = d.request("POST", "/v1.Backrest/GetConfig", &[], b"{}");
    assert_eq!(r.status, 415, "no content type");
    let r = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[("Content-Type", "application/json; charset=utf-8")],
        b"{}",
    );
    assert_eq!(r.status, 200);
}

#[test]
fn empty_body_is_invalid_argument() {
    let d = Daemon::start();
    let r = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[("Content-Type", "application/json")],
        b"",
    );
    assert_eq!(r.status, 400);
    let v = r.json();
    assert_eq!(v["code"], "invalid_argument");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("zero-length payload")
    );
}

#[test]
fn connect_protocol_version_other_than_1_is_rejected() {
    let d = Daemon::start();
    let ok = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[
            ("Content-Type", "application/json"),
            ("Connect-Protocol-Version", "1"),
        ],
        b"{}",
    );
    assert_eq!(ok.status, 200);
    let bad = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[
            ("Content-Type", "application/json"),
            ("Connect-Protocol-Version", "2"),
        ],
        b"{}",
    );
    assert_eq!(bad.status, 400);
    assert_eq!(bad.json()["code"], "invalid_argument");
}

#[test]
fn unknown_method_is_404_with_connects_unimplemented_code() {
    let d = Daemon::start();
    let (status, v) = d.rpc("NoSuchMethod", json!({}));
    assert_eq!(status, 404);
    assert_eq!(v["code"], "unimplemented");
    assert!(v["message"].as_str().unwrap().contains("NoSuchMethod"));
}

#[test]
fn a_body_over_the_limit_is_refused_before_it_is_read() {
    let d = Daemon::start();
    // Announce 16 MB but send nothing: the answer must come from the header alone.
    let r = d.request(
        "POST",
        "/v1.Backrest/SetConfig",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", "16777216"),
        ],
        b"",
    );
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "resource_exhausted");
}

#[test]
fn unknown_fields_are_ignored_and_int64_fields_are_strings() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1", "someFutureField": 1}));
    let ops =
        s.d.operations(json!({"selector": {}, "lastN": "1", "extra": true}));
    assert_eq!(ops.len(), 1);
    assert!(ops[0]["id"].is_string());
    assert!(ops[0]["unixTimeStartMs"].is_string());
    assert!(ops[0]["modno"].is_string());
}

fn gzip(data: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(data).unwrap();
    gz.finish().unwrap()
}

fn gunzip(data: &[u8]) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(data)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// connect-python and connect-go clients compress requests and accept compressed answers.
#[test]
fn gzip_requests_answers_and_stream_envelopes_work_as_connect_clients_send_them() {
    let d = Daemon::start();
    let ct = ("Content-Type", "application/json");
    // A gzip request body.
    let r = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[ct, ("Content-Encoding", "gzip")],
        &gzip(b"{}"),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("Content-Encoding"),
        None,
        "small answers go as they are"
    );
    assert!(r.json().is_object());
    // A larger answer comes back compressed when accepted, and only then.
    let body = br#"{"value": "/usr/bin/"}"#;
    let plain = d.request("POST", "/v1.Backrest/PathAutocomplete", &[ct], body);
    assert_eq!(plain.status, 200);
    assert!(plain.body.len() >= 1024, "/usr/bin lists enough names");
    assert_eq!(plain.header("Content-Encoding"), None);
    let r = d.request(
        "POST",
        "/v1.Backrest/PathAutocomplete",
        &[
            ct,
            ("Content-Encoding", "gzip"),
            ("Accept-Encoding", "br, gzip"),
        ],
        &gzip(body),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gunzip(&r.body), plain.body);
    // An unknown coding is Connect's unimplemented, naming what works.
    let r = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[ct, ("Content-Encoding", "br")],
        b"{}",
    );
    assert_eq!(r.json()["code"], "unimplemented");
    assert!(r.json()["message"].as_str().unwrap().contains("gzip"));
    // A compressed stream envelope is read: GetLogs answers about the ref it names.
    let msg = gzip(br#"{"ref": "no-such-log"}"#);
    let mut env = vec![1u8];
    env.extend_from_slice(&(msg.len() as u32).to_be_bytes());
    env.extend_from_slice(&msg);
    let r = d.request(
        "POST",
        "/v1.Backrest/GetLogs",
        &[
            ("Content-Type", "application/connect+json"),
            ("Connect-Content-Encoding", "gzip"),
        ],
        &env,
    );
    assert_eq!(r.status, 200);
    // The first envelope's message: Backrest's "… not found" text as bytes (base64 in JSON).
    use base64::Engine;
    let len = u32::from_be_bytes([r.body[1], r.body[2], r.body[3], r.body[4]]) as usize;
    let first: serde_json::Value = serde_json::from_slice(&r.body[5..5 + len]).unwrap();
    let text = base64::engine::general_purpose::STANDARD
        .decode(first["value"].as_str().unwrap())
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("no-such-log"),
        "the ref was read from the envelope: {text}"
    );
}

/// Go's HTTP client (and so connect-go and Backrest's own tools) sends a body of unknown length
/// chunked.
#[test]
fn chunked_request_bodies_are_read_like_any_other() {
    let d = Daemon::start();
    let head = |path: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
    };
    let mut req = head("/v1.Backrest/PathAutocomplete").into_bytes();
    req.extend_from_slice(
        b"6;note=x\r\n{\"valu\r\n5\r\ne\": \"\r\n6\r\n/usr\"}\r\n0\r\nX-Checksum: 1\r\n\r\n",
    );
    let r = raw_request(d.port, &req);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let plain = d.request(
        "POST",
        "/v1.Backrest/PathAutocomplete",
        &[("Content-Type", "application/json")],
        br#"{"value": "/usr"}"#,
    );
    assert_eq!(r.body, plain.body);
    // Larger than the body limit once decoded: refused, whatever the chunks add up to.
    let mut big = head("/v1.Backrest/SetConfig").into_bytes();
    let piece = vec![b' '; 1 << 20];
    for _ in 0..5 {
        big.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        big.extend_from_slice(&piece);
        big.extend_from_slice(b"\r\n");
    }
    big.extend_from_slice(b"0\r\n\r\n");
    let r = raw_request(d.port, &big);
    assert_eq!(r.status, 413);
}

/// Sends raw bytes and reads the answer (the connection closes after it).
fn raw_request(port: u16, bytes: &[u8]) -> HttpResponse {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    // The daemon may answer (413) and close before it has read everything.
    let _ = s.write_all(bytes);
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    parse_response(&out)
}

/// A long history is streamed to GetOperations as it is read (chunked), and is the same
/// canonical answer a short one gets.
#[test]
fn get_operations_streams_a_long_history_and_answers_it_whole() {
    use footrest::model::{Operation, OperationBackup, OperationStatus};
    let dir = TempDir::new("longhistory");
    {
        let log = footrest::oplog::OpLog::open(&dir.path().join("data").join("oplog")).unwrap();
        // Recent, and few enough per plan that the history's bounds keep them all.
        let now = footrest::util::now_ms();
        for i in 0..1000 {
            let start = now - (1000 - i) * 60_000;
            let mut op = Operation {
                plan_id: format!("plan{}", i % 20),
                repo_id: "repo1".into(),
                status: OperationStatus::Success,
                unix_time_start_ms: start,
                unix_time_end_ms: start + 5_000,
                operation_backup: Some(OperationBackup::default()),
                ..Default::default()
            };
            log.add(&mut op).unwrap();
        }
    }
    let d = Daemon::spawn(dir, &Opts::default());
    let all = d.request(
        "POST",
        "/v1.Backrest/GetOperations",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(all.status, 200);
    assert_eq!(all.header("Transfer-Encoding"), Some("chunked"));
    let v: serde_json::Value = serde_json::from_slice(&all.body).unwrap();
    let ops = v["operations"].as_array().unwrap();
    assert_eq!(ops.len(), 1000);
    let ids: Vec<i64> = ops
        .iter()
        .map(|o| o["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids ascending");
    // One plan's: the same operations as in the whole answer.
    let plan1 = d.operations(json!({"selector": {"planId": "plan1"}}));
    assert_eq!(plan1.len(), 50);
    for o in &plan1 {
        assert!(ops.contains(o));
    }
    // A short answer is one JSON document with a length, as before.
    let few = d.request(
        "POST",
        "/v1.Backrest/GetOperations",
        &[("Content-Type", "application/json")],
        br#"{"selector": {"planId": "plan2"}, "lastN": "10"}"#,
    );
    assert!(few.header("Content-Length").is_some());
    let v: serde_json::Value = serde_json::from_slice(&few.body).unwrap();
    assert_eq!(v["operations"].as_array().unwrap().len(), 10);
    // Nothing matches: the empty message.
    let none = d.request(
        "POST",
        "/v1.Backrest/GetOperations",
        &[("Content-Type", "application/json")],
        br#"{"selector": {"planId": "nope"}}"#,
    );
    assert_eq!(none.body, b"{}");
}

/// Reads one answer off a kept-alive connection: head, then a body framed by its
/// Content-Length or chunks. Returns (status, headers, body).
fn read_answer(r: &mut std::io::BufReader<std::net::TcpStream>) -> (u16, Vec<String>, Vec<u8>) {
    use std::io::{BufRead, Read};
    let mut status = String::new();
    r.read_line(&mut status).unwrap();
    let code = status.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        let l = l.trim_end().to_string();
        if l.is_empty() {
            break;
        }
        headers.push(l.to_ascii_lowercase());
    }
    let mut body = Vec::new();
    if headers
        .iter()
        .any(|h| h.starts_with("transfer-encoding:") && h.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            r.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Some(len) = headers
        .iter()
        .find_map(|h| h.strip_prefix("content-length:"))
    {
        body.resize(len.trim().parse().unwrap(), 0);
        r.read_exact(&mut body).unwrap();
    }
    (code, headers, body)
}

/// Home Assistant, Node-RED and browsers reuse connections: answers keep the connection open
/// for the next request unless the client asks to close it.
#[test]
fn connections_are_kept_alive_between_requests_until_the_client_closes() {
    use std::io::{Read, Write};
    let d = Daemon::start();
    let s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let mut r = std::io::BufReader::new(s);
    let send = |r: &mut std::io::BufReader<std::net::TcpStream>,
                path: &str,
                body: &str,
                extra: &str| {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{extra}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        r.get_mut().write_all(req.as_bytes()).unwrap();
    };
    for (path, body) in [
        ("/v1.Backrest/GetConfig", "{}"),
        ("/v1.Backrest/GetOperations", "{}"),
        ("/v1.Backrest/NoSuchMethod", "{}"),
        ("/v1.Backrest/PathAutocomplete", r#"{"value": "/"}"#),
    ] {
        send(&mut r, path, body, "");
        let (status, headers, body) = read_answer(&mut r);
        assert!(status == 200 || status == 404, "{path}: {status}");
        assert!(
            headers.contains(&"connection: keep-alive".to_string()),
            "{path}: {headers:?}"
        );
        assert_eq!(
            headers
                .iter()
                .filter(|h| h.starts_with("connection:"))
                .count(),
            1
        );
        assert!(
            serde_json::from_slice::<serde_json::Value>(&body).is_ok(),
            "{path}"
        );
    }
    // The client's close ends it after the answer.
    send(
        &mut r,
        "/v1.Backrest/GetConfig",
        "{}",
        "Connection: close\r\n",
    );
    let (status, headers, _) = read_answer(&mut r);
    assert_eq!(status, 200);
    assert!(
        headers.contains(&"connection: close".to_string()),
        "{headers:?}"
    );
    let mut rest = Vec::new();
    assert_eq!(
        r.read_to_end(&mut rest).unwrap(),
        0,
        "closed after the answer"
    );
    // HTTP/1.0 closes unless it asks for keep-alive.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    s.write_all(
        b"POST /v1.Backrest/GetConfig HTTP/1.0\r\nContent-Type: application/json\r\n\
          Content-Length: 2\r\n\r\n{}",
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );
}
