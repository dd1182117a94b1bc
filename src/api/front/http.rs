//! HTTP/1.1 on the client side of the front door: request heads (parse and check), chunked
//! bodies, and the answer head rewritten for keep-alive; our own error answers.

use super::*;

pub(super) struct Head {
    /// Bytes of the head in `buf` (through the blank line).
    pub(super) len: usize,
    pub(super) content_length: usize,
    /// The head as forwarded.
    pub(super) rewritten: Vec<u8>,
    /// A `Transfer-Encoding: chunked` body, decoded as it arrives (`buf` then keeps only the
    /// head and what is not decoded yet); forwarded with a Content-Length.
    pub(super) chunked: Option<Dechunked>,
    /// HTTP/1.1 without `Connection: close`, or HTTP/1.0 with `Connection: keep-alive`.
    pub(super) keep_alive: bool,
    /// The target without its query.
    pub(super) path: String,
    /// The request has an `Authorization` header (not checked here).
    pub(super) has_authorization: bool,
}

impl Head {
    /// Body bytes this request needs buffered now, with `tail` undecoded bytes after the head.
    pub(super) fn need(&self, tail: usize, max_body: usize) -> usize {
        match &self.chunked {
            None => self.content_length,
            Some(d) => {
                let want = d.body.len() + tail + 16 * 1024;
                (want.div_ceil(CHUNKED_STEP) * CHUNKED_STEP).min(max_body + 64 * 1024)
            }
        }
    }

    pub(super) fn complete(&self, buf_len: usize) -> bool {
        match &self.chunked {
            None => buf_len >= self.len + self.content_length,
            Some(d) => d.done,
        }
    }
}

#[derive(Default)]
pub(super) struct Dechunked {
    pub(super) body: Vec<u8>,
    pub(super) done: bool,
}

/// Budget steps for chunked bodies, whose size is known only at their end.
pub(super) const CHUNKED_STEP: usize = 256 * 1024;

/// Decodes the chunks complete in `raw` into `out` and returns how many bytes of `raw` they
/// took, and whether the last chunk (and the trailers after it) are in.
pub(super) fn dechunk(
    raw: &[u8],
    out: &mut Vec<u8>,
    max: usize,
) -> Result<(usize, bool), (u16, ApiError)> {
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

/// Looks for a complete head in `buf` and checks it. Ok(None): not complete yet.
pub(super) fn check_head(
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

pub(super) fn too_large_head(limits: &Limits) -> (u16, ApiError) {
    (
        431,
        ApiError::new(
            Code::ResourceExhausted,
            format!("request headers are larger than {} bytes", limits.max_head),
        ),
    )
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Parses and rewrites a complete head (ending in the blank line). Returns the head and whether
/// the client asked for `100-continue`.
///
/// By hand, not with httparse: the binary links only httparse's response parser (through ureq),
/// and its request parser measured 1.3 KB more than this.
pub(super) fn parse_head(head: &[u8], peer: &str) -> Result<(Head, bool), (u16, ApiError)> {
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

pub(super) fn reason(status: u16) -> &'static str {
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
pub(super) fn rewrite_answer_head(
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

pub(super) fn error_response(status: u16, e: &ApiError) -> Vec<u8> {
    let body = e.body();
    format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        reason(status),
        body.len()
    )
    .into_bytes()
}
