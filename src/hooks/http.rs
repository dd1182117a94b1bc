//! One HTTP request of a hook, through ureq: a timeout on connecting and on the whole exchange,
//! success = 2xx, and errors that never carry a URL's secret parts (path, query, credentials).
//!
//! HTTPS needs the `tls` cargo feature (rustls); plain `http://` works without it. Proxies come
//! from the usual environment variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`, `NO_PROXY`).

use super::url::{self, Url};
use std::fmt;
use std::time::{Duration, Instant};

/// How much of an error answer's body is read and how much of it is shown.
const ERROR_BODY_READ: u64 = 16 * 1024;
const ERROR_BODY_SHOWN: usize = 300;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
        }
    }
}

/// A request a hook sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    pub url: String,
    pub headers: Vec<(String, String)>,
    /// Content type and bytes; POST only.
    pub body: Option<(String, Vec<u8>)>,
    /// Values besides the URL's own parts that must never be shown (tokens sent in headers).
    pub secrets: Vec<String>,
}

impl Request {
    pub fn get(url: String) -> Request {
        Request {
            method: Method::Get,
            url,
            headers: Vec::new(),
            body: None,
            secrets: Vec::new(),
        }
    }

    pub fn post(url: String, content_type: &str, body: impl Into<Vec<u8>>) -> Request {
        Request {
            method: Method::Post,
            url,
            headers: Vec::new(),
            body: Some((content_type.to_string(), body.into())),
            secrets: Vec::new(),
        }
    }

    pub fn json(url: String, body: &serde_json::Value) -> Request {
        Request::post(url, "application/json", body.to_string())
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Request {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    /// What the logs may say about this request: `POST https://host`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.method.as_str(), url::redact(&self.url))
    }

    pub fn body_text(&self) -> String {
        self.body
            .as_ref()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    }
}

/// Why a request failed. Messages are short and name the target only as `scheme://host`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HttpError {
    /// The URL cannot be used.
    BadUrl(String),
    /// An `https://` URL, and footrest was built without the `tls` feature.
    TlsUnavailable(String),
    /// No complete answer within the timeout.
    Timeout { target: String, after: Duration },
    /// The connection could not be made or broke.
    Connect { target: String, reason: String },
    /// The server answered with a status other than 2xx.
    Status {
        target: String,
        code: u16,
        body: String,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadUrl(m) => write!(f, "bad url: {m}"),
            Self::TlsUnavailable(t) => write!(
                f,
                "{t}: https needs footrest built with the tls feature (use an http:// URL)"
            ),
            Self::Timeout { target, after } => write!(
                f,
                "timeout: {target} did not answer within {}",
                crate::template::backrest::go_duration(after.as_nanos() as i64)
            ),
            Self::Connect { target, reason } => write!(f, "{target}: {reason}"),
            Self::Status { target, code, body } if body.is_empty() => {
                write!(f, "{target} answered status {code}")
            }
            Self::Status { target, code, body } => {
                write!(f, "{target} answered status {code}: {body}")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// Timeouts for one request.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    pub total: Duration,
}

/// Sends `req`; Ok(status) for a 2xx answer.
pub fn send(req: &Request, timeouts: Timeouts) -> Result<u16, HttpError> {
    let target = url::redact(&req.url);
    let parsed = Url::parse(&req.url).map_err(HttpError::BadUrl)?;
    if !matches!(parsed.scheme.as_str(), "http" | "https") {
        return Err(HttpError::BadUrl(format!(
            "{target}: only http:// and https:// URLs can be sent to"
        )));
    }
    if parsed.host.is_empty() {
        return Err(HttpError::BadUrl(format!("{target}: no host")));
    }
    if parsed.scheme == "https" && !cfg!(feature = "tls") {
        return Err(HttpError::TlsUnavailable(target));
    }
    let mut secrets: Vec<String> = req.secrets.clone();
    secrets.push(req.url.clone());
    if let Some(rest) = req.url.split_once("://").map(|x| x.1)
        && let Some(i) = rest.find(['/', '?'])
    {
        secrets.push(rest[i..].to_string());
    }
    // Credentials in the URL become a Basic header: ureq does not send userinfo itself.
    let mut headers = req.headers.clone();
    let mut address = req.url.clone();
    if !parsed.user.is_empty() || parsed.password.is_some() {
        let password = parsed.password.clone().unwrap_or_default();
        secrets.extend([parsed.user.clone(), password.clone()]);
        let creds = url::base64(format!("{}:{password}", parsed.user).as_bytes());
        headers.push(("Authorization".into(), format!("Basic {creds}")));
        let (scheme, rest) = req.url.split_once("://").unwrap_or_default();
        let at = rest.find(['/', '?']).unwrap_or(rest.len());
        let host_part = rest[..at].rsplit_once('@').map_or(&rest[..at], |x| x.1);
        address = format!("{scheme}://{host_part}{}", &rest[at..]);
    }
    secrets.retain(|s| s.len() >= 4);
    let scrub = |text: &str| scrub(text, &secrets);

    let config = ureq::Agent::config_builder();
    #[cfg(feature = "tls")]
    let config = config.tls_config(crate::ca::tls_config(parsed.scheme == "https").map_err(
        |e| HttpError::Connect {
            target: target.clone(),
            reason: e.to_string(),
        },
    )?);
    let agent: ureq::Agent = config
        .timeout_global(Some(timeouts.total))
        .timeout_connect(Some(timeouts.connect.min(timeouts.total)))
        .http_status_as_error(false)
        .user_agent(concat!("footrest/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let started = Instant::now();
    let result = match (&req.method, &req.body) {
        (Method::Post, body) => {
            let mut r = agent.post(&address);
            for (k, v) in &headers {
                r = r.header(k, v);
            }
            match body {
                Some((ct, data)) => r.content_type(ct).send(&data[..]),
                None => r.send(&[][..]),
            }
        }
        (Method::Get, _) => {
            let mut r = agent.get(&address);
            for (k, v) in &headers {
                r = r.header(k, v);
            }
            r.call()
        }
    };
    let mut resp = match result {
        Ok(r) => r,
        Err(e) => return Err(map_error(e, &target, timeouts, started, &scrub)),
    };
    let code = resp.status().as_u16();
    if (200..300).contains(&code) {
        return Ok(code);
    }
    let body = resp
        .body_mut()
        .with_config()
        .limit(ERROR_BODY_READ)
        .read_to_vec()
        .unwrap_or_default();
    Err(HttpError::Status {
        target,
        code,
        body: scrub(&snippet(&body)),
    })
}

fn map_error(
    e: ureq::Error,
    target: &str,
    timeouts: Timeouts,
    started: Instant,
    scrub: &dyn Fn(&str) -> String,
) -> HttpError {
    let connect = |reason: String| HttpError::Connect {
        target: target.to_string(),
        reason,
    };
    match e {
        ureq::Error::Timeout(_) => HttpError::Timeout {
            target: target.to_string(),
            after: timeouts.total.min(started.elapsed().max(timeouts.connect)),
        },
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::TimedOut => HttpError::Timeout {
            target: target.to_string(),
            after: started.elapsed(),
        },
        ureq::Error::HostNotFound => connect("host not found".into()),
        ureq::Error::ConnectionFailed => connect("connection failed".into()),
        ureq::Error::Io(io) => connect(scrub(&io.to_string())),
        ureq::Error::BadUri(_) | ureq::Error::Http(_) => {
            HttpError::BadUrl(format!("{target}: not a valid request URL"))
        }
        ureq::Error::TlsRequired => HttpError::TlsUnavailable(target.to_string()),
        ureq::Error::TooManyRedirects | ureq::Error::RedirectFailed => {
            connect("too many or bad redirects".into())
        }
        other => connect(scrub(&other.to_string())),
    }
}

/// The start of an answer's body, on one line, without control characters.
fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(ERROR_BODY_SHOWN)
        .collect();
    if text.chars().count() > ERROR_BODY_SHOWN {
        out.push('…');
    }
    out.trim().to_string()
}

/// Replaces every occurrence of a secret in `text` with `****`, longest secrets first.
pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut sorted: Vec<&String> = secrets.iter().filter(|s| !s.is_empty()).collect();
    sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in sorted {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "****");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn timeouts(secs: u64) -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(secs),
            total: Duration::from_secs(secs),
        }
    }

    /// A one-shot server: answers `response` to the first request and hands back its bytes.
    fn serve_once(response: String) -> (u16, std::thread::JoinHandle<String>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            loop {
                let n = s.read(&mut chunk).unwrap_or(0);
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if buf.len() >= end + 4 + len {
                        break;
                    }
                }
                if n == 0 {
                    break;
                }
            }
            s.write_all(response.as_bytes()).unwrap();
            String::from_utf8_lossy(&buf).into_owned()
        });
        (port, t)
    }

    #[test]
    fn a_post_sends_body_headers_and_basic_credentials() {
        let (port, t) = serve_once("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n".into());
        let req = Request::post(
            format!("http://me:s3cret@127.0.0.1:{port}/hook/key?x=1"),
            "text/plain",
            "hello",
        )
        .header("X-Test", "1");
        assert_eq!(send(&req, timeouts(5)), Ok(204));
        let seen = t.join().unwrap();
        assert!(
            seen.starts_with("POST /hook/key?x=1 HTTP/1.1\r\n"),
            "{seen}"
        );
        assert!(
            seen.contains("authorization: Basic bWU6czNjcmV0\r\n")
                || seen.contains("Authorization: Basic bWU6czNjcmV0\r\n"),
            "{seen}"
        );
        assert!(
            seen.to_ascii_lowercase()
                .contains("content-type: text/plain\r\n"),
            "{seen}"
        );
        assert!(
            seen.to_ascii_lowercase().contains("x-test: 1\r\n"),
            "{seen}"
        );
        assert!(seen.ends_with("\r\n\r\nhello"), "{seen}");
    }

    #[test]
    fn errors_name_the_host_only() {
        let body = "no hook at /hook/SECRETKEY\there\n";
        let (port, t) = serve_once(format!(
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ));
        let req = Request::get(format!("http://127.0.0.1:{port}/hook/SECRETKEY"));
        let e = send(&req, timeouts(5)).unwrap_err().to_string();
        t.join().unwrap();
        assert_eq!(
            e,
            format!("http://127.0.0.1:{port} answered status 404: no hook at **** here")
        );
        assert_eq!(req.describe(), format!("GET http://127.0.0.1:{port}"));
    }

    #[test]
    fn a_server_that_never_answers_times_out() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let t = std::thread::spawn(move || {
            let (s, _) = l.accept().unwrap();
            std::thread::sleep(Duration::from_secs(3));
            drop(s);
        });
        let req = Request::post(format!("http://127.0.0.1:{port}/k"), "text/plain", "x");
        let started = Instant::now();
        let e = send(
            &req,
            Timeouts {
                connect: Duration::from_secs(5),
                total: Duration::from_millis(500),
            },
        )
        .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(2));
        assert!(matches!(e, HttpError::Timeout { .. }), "{e:?}");
        assert!(
            e.to_string().starts_with(&format!(
                "timeout: http://127.0.0.1:{port} did not answer within"
            )),
            "{e}"
        );
        t.join().unwrap();
    }

    #[test]
    fn unusable_urls_are_refused_before_sending() {
        let e = send(&Request::get("ftp://host/x".into()), timeouts(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "bad url: ftp://host: only http:// and https:// URLs can be sent to"
        );
        let e = send(&Request::get("nonsense".into()), timeouts(1)).unwrap_err();
        assert!(matches!(e, HttpError::BadUrl(_)));
        let refused = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = send(
            &Request::get(format!("http://127.0.0.1:{refused}/tok")),
            timeouts(2),
        )
        .unwrap_err();
        assert!(matches!(e, HttpError::Connect { .. }), "{e:?}");
        assert!(!e.to_string().contains("tok"), "{e}");
    }

    #[test]
    fn scrub_hides_every_secret() {
        let s = vec!["abc123".to_string(), "abc".to_string()];
        assert_eq!(scrub("token abc123 and abc", &s), "token **** and ****");
    }
}
