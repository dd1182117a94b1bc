//! Tests of `api::front`.

use super::*;

fn limits() -> Limits {
    Limits {
        max_clients: 8,
        max_active: 2,
        max_request_line: 64,
        max_head: 256,
        max_body: 1000,
        idle: Duration::from_secs(1),
        request_deadline: Duration::from_secs(2),
        body_budget: 4096,
    }
}

#[test]
fn chunked_bodies_decode_as_they_arrive_and_bad_framing_is_refused() {
    let raw = b"4;ext=1\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
    // Arriving a byte at a time decodes the same as arriving whole.
    let mut out = Vec::new();
    let mut have = Vec::new();
    let mut done = false;
    for b in raw {
        have.push(*b);
        let (used, d) = dechunk(&have, &mut out, 100).unwrap();
        have.drain(..used);
        if d {
            done = true;
            break;
        }
    }
    assert!(done);
    assert_eq!(out, br#"{"a":1}"#);
    let mut whole = Vec::new();
    assert_eq!(
        dechunk(raw, &mut whole, 100).unwrap(),
        (raw.len() - 4, true)
    );
    assert_eq!(whole, out);
    for bad in [&b"zz\r\n"[..], b"2\r\n{}XX0\r\n\r\n", b"-1\r\n"] {
        assert_eq!(
            dechunk(bad, &mut Vec::new(), 100).unwrap_err().0,
            400,
            "{bad:?}"
        );
    }
    let big = b"ff\r\n";
    assert_eq!(dechunk(big, &mut Vec::new(), 100).unwrap_err().0, 413);
}

#[test]
fn answers_carry_exactly_one_connection_header_once_their_head_is_whole() {
    let start = b"HTTP/1.1 200 OK\r\nContent-Type: application/connect+json\r\nconnection";
    let rest = b": close\r\nTransfer-Encoding: chunked\r\nKeep-Alive: x\r\n\r\n5\r\nhello";
    let mut r = start.to_vec();
    assert_eq!(
        rewrite_answer_head(&mut r, false, 28),
        None,
        "incomplete head left alone"
    );
    r.extend_from_slice(rest);
    assert_eq!(rewrite_answer_head(&mut r, false, 28), Some(false));
    assert_eq!(
        String::from_utf8(r).unwrap(),
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Type: application/connect+json\r\n\
         Transfer-Encoding: chunked\r\n\r\n5\r\nhello"
    );
    // Kept alive when asked and the answer is framed (chunked here) ...
    let mut r = [&start[..], &rest[..]].concat();
    assert_eq!(rewrite_answer_head(&mut r, true, 28), Some(true));
    let text = String::from_utf8(r).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nKeep-Alive: timeout=28\r\n"),
        "{text}"
    );
    assert_eq!(text.to_ascii_lowercase().matches("connection:").count(), 1);
    // ... and not when only the end of the connection would tell where it ends.
    let mut r = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nhello".to_vec();
    assert_eq!(rewrite_answer_head(&mut r, true, 28), Some(false));
    let mut r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello".to_vec();
    assert_eq!(rewrite_answer_head(&mut r, true, 28), Some(true));
}

#[test]
fn heads_are_rewritten_with_close_and_the_peer() {
    let raw = b"POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nX-Footrest-Peer: 6.6.6.6\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n";
    let (h, cont) = parse_head(raw, "10.1.2.3").unwrap();
    assert!(cont);
    assert_eq!(h.content_length, 2);
    let text = String::from_utf8(h.rewritten).unwrap();
    assert_eq!(
        text,
        "POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\nX-Footrest-Peer: 10.1.2.3\r\n\r\n"
    );
}

#[test]
fn bad_heads_get_the_right_status() {
    let l = limits();
    let status = |raw: &[u8]| check_head(raw, &l, "p").err().map(|(s, _)| s);
    assert_eq!(status(&[b'G'; 100]), Some(414));
    let long_url = format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(100));
    assert_eq!(status(long_url.as_bytes()), Some(414));
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(300));
    assert_eq!(status(big.as_bytes()), Some(431));
    assert_eq!(status(b"GET / HTTP/1.1\r\nX: \xff\r\n\r\n"), Some(400));
    assert_eq!(status(b"GET / HTTP/2.0\r\n\r\n"), Some(505));
    assert_eq!(status(b"GET  / HTTP/1.1\r\n\r\n"), Some(400));
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
        Some(501)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"),
        None
    );
    assert_eq!(status(b"GET / HTTP/1.1\r\n folded\r\n\r\n"), Some(400));
    assert!(matches!(
        check_head(b"GET / HTTP/1.1\r\nHost: x\r\n", &l, "p"),
        Ok(None)
    ));
    assert!(matches!(
        check_head(b"GET / HTTP/1.1\r\n\r\n", &l, "p"),
        Ok(Some(_))
    ));
}
