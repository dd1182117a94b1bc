//! The Connect protocol's unary JSON codec (docs/COMPATIBILITY.md §1): request checks, error bodies, codes.
//!
//! Pure functions over a request's method, headers and body so that the rules are unit-tested
//! without sockets; `api::serve` applies them to tiny_http requests.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt;

/// Connect error codes with their HTTP statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Canceled,
    Unknown,
    InvalidArgument,
    DeadlineExceeded,
    NotFound,
    AlreadyExists,
    PermissionDenied,
    ResourceExhausted,
    FailedPrecondition,
    Aborted,
    OutOfRange,
    Unimplemented,
    Internal,
    Unavailable,
    DataLoss,
    Unauthenticated,
}

impl Code {
    pub fn name(self) -> &'static str {
        match self {
            Self::Canceled => "canceled",
            Self::Unknown => "unknown",
            Self::InvalidArgument => "invalid_argument",
            Self::DeadlineExceeded => "deadline_exceeded",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::PermissionDenied => "permission_denied",
            Self::ResourceExhausted => "resource_exhausted",
            Self::FailedPrecondition => "failed_precondition",
            Self::Aborted => "aborted",
            Self::OutOfRange => "out_of_range",
            Self::Unimplemented => "unimplemented",
            Self::Internal => "internal",
            Self::Unavailable => "unavailable",
            Self::DataLoss => "data_loss",
            Self::Unauthenticated => "unauthenticated",
        }
    }

    pub fn http_status(self) -> u16 {
        match self {
            Self::Canceled => 499,
            Self::Unknown => 500,
            Self::InvalidArgument => 400,
            Self::DeadlineExceeded => 504,
            Self::NotFound => 404,
            Self::AlreadyExists => 409,
            Self::PermissionDenied => 403,
            Self::ResourceExhausted => 429,
            Self::FailedPrecondition => 400,
            Self::Aborted => 409,
            Self::OutOfRange => 400,
            Self::Unimplemented => 501,
            Self::Internal => 500,
            Self::Unavailable => 503,
            Self::DataLoss => 500,
            Self::Unauthenticated => 401,
        }
    }
}

/// An RPC failure as the client sees it: a Connect code and a message naming the problem.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(Code::InvalidArgument, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(Code::NotFound, message)
    }

    pub fn precondition(message: impl Into<String>) -> Self {
        Self::new(Code::FailedPrecondition, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Code::Internal, message)
    }

    /// The JSON body of an error response.
    pub fn body(&self) -> String {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            message: &'a str,
        }
        serde_json::to_string(&Body {
            code: self.code.name(),
            message: &self.message,
        })
        .unwrap_or_else(|_| String::from(r#"{"code":"internal"}"#))
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "{}: {}", self.code.name(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<crate::config::UpdateError> for ApiError {
    fn from(e: crate::config::UpdateError) -> Self {
        match e {
            crate::config::UpdateError::Invalid(v) => ApiError::invalid(v.to_string()),
            crate::config::UpdateError::Write(w) => ApiError::internal(w.to_string()),
        }
    }
}

/// The one place a restic failure gets its Connect code, for tasks and browse calls alike.
impl From<crate::restic::ResticKind> for Code {
    fn from(k: crate::restic::ResticKind) -> Self {
        use crate::restic::ResticKind as K;
        match k {
            K::NotStarted => Code::FailedPrecondition,
            K::BadArgument => Code::InvalidArgument,
            K::WrongPassword => Code::PermissionDenied,
            K::NoSuchObject => Code::NotFound,
            K::Locked | K::Failed => Code::Unknown,
        }
    }
}

/// A task's failure as the client sees it (docs/ARCHITECTURE.md, "Errors").
impl From<crate::orchestrator::TaskError> for ApiError {
    fn from(e: crate::orchestrator::TaskError) -> Self {
        use crate::orchestrator::TaskError as E;
        let code = match &e {
            E::NotFound(_) => Code::NotFound,
            E::Invalid(_) => Code::InvalidArgument,
            E::Precondition(_) => Code::FailedPrecondition,
            E::Limit(_) => Code::ResourceExhausted,
            E::Stopping(_) => Code::Unavailable,
            E::Cancelled(_) => Code::Canceled,
            E::Restic(kind, _) => Code::from(*kind),
            E::Hook(_) => Code::Aborted,
            E::History(_) => Code::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

/// A restic failure of a call that names what it was doing (`what: restic's words`).
pub fn restic_error(what: &str, e: crate::restic::ResticError) -> ApiError {
    ApiError::new(e.kind().into(), format!("{what}: {e}"))
}

/// What a unary request must satisfy before its body is decoded.
pub fn check_unary_headers(
    content_type: Option<&str>,
    protocol_version: Option<&str>,
) -> Result<(), (u16, ApiError)> {
    if let Some(v) = protocol_version
        && v.trim() != "1"
    {
        return Err((
            400,
            ApiError::invalid(format!("connect-protocol-version must be \"1\", got {v:?}")),
        ));
    }
    let ct = content_type.unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if mime == "application/json" {
        let charset_ok = ct.split(';').skip(1).all(|p| {
            let p = p.trim().to_ascii_lowercase();
            !p.starts_with("charset=") || p == "charset=utf-8" || p == "charset=\"utf-8\""
        });
        if charset_ok {
            return Ok(());
        }
    }
    let shown = if ct.is_empty() { "none" } else { ct };
    Err((
        415,
        ApiError::new(
            Code::Unknown,
            format!(
                "unsupported content type {shown:?}: footrest accepts application/json (Connect JSON encoding)"
            ),
        ),
    ))
}

/// The body of a request sent with `Content-Encoding` (or a stream envelope's payload with
/// `Connect-Content-Encoding`): gzip is inflated up to `max` bytes, identity passes through,
/// anything else is Connect's `unimplemented` naming what is supported.
pub fn decompress(encoding: Option<&str>, body: Vec<u8>, max: usize) -> Result<Vec<u8>, ApiError> {
    use std::io::Read;
    let enc = encoding.unwrap_or("").trim().to_ascii_lowercase();
    match enc.as_str() {
        "" | "identity" => Ok(body),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(max as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| ApiError::invalid(format!("invalid gzip body: {e}")))?;
            if out.len() > max {
                return Err(ApiError::new(
                    Code::ResourceExhausted,
                    format!("request body is larger than {max} bytes once decompressed"),
                ));
            }
            Ok(out)
        }
        other => Err(ApiError::new(
            Code::Unimplemented,
            format!("unknown compression {other:?}: footrest accepts gzip and identity"),
        )),
    }
}

/// gzip at a fast level: answers are JSON, which compresses well even so.
pub fn gzip(data: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Write;
    let mut gz = flate2::write::GzEncoder::new(
        Vec::with_capacity(data.len() / 4),
        flate2::Compression::fast(),
    );
    gz.write_all(data)?;
    gz.finish()
}

/// Decodes a request body into a message. Unknown fields are ignored; an empty body is an error.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(ApiError::invalid(
            "zero-length payload is not a valid JSON object",
        ));
    }
    crate::util::from_json(body).map_err(|e| ApiError::invalid(format!("invalid request: {e}")))
}

/// Encodes a response message.
pub fn encode<T: Serialize>(msg: &T) -> Result<Vec<u8>, ApiError> {
    serde_json::to_vec(msg).map_err(|e| ApiError::internal(format!("encoding response: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_bodies_are_inflated_within_the_limit_and_unknown_codings_refused() {
        let gz = gzip(br#"{"value":"plan1"}"#).unwrap();
        assert_eq!(
            decompress(Some("gzip"), gz.clone(), 100).unwrap(),
            br#"{"value":"plan1"}"#
        );
        assert_eq!(
            decompress(Some("GZIP"), gz, 100).unwrap(),
            br#"{"value":"plan1"}"#
        );
        assert_eq!(decompress(None, b"{}".to_vec(), 100).unwrap(), b"{}");
        assert_eq!(
            decompress(Some("identity"), b"{}".to_vec(), 100).unwrap(),
            b"{}"
        );
        let bomb = gzip(&vec![b' '; 10_000]).unwrap();
        let e = decompress(Some("gzip"), bomb, 1000).unwrap_err();
        assert_eq!(e.code, Code::ResourceExhausted);
        let e = decompress(Some("gzip"), b"not gzip".to_vec(), 1000).unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        let e = decompress(Some("br"), b"x".to_vec(), 1000).unwrap_err();
        assert_eq!(e.code, Code::Unimplemented);
        assert!(e.message.contains("gzip"));
        // What answers go compressed for (the UI's files use the same check).
        use super::super::ui::accepts_gzip;
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip("deflate;q=1.0, GZip;q=0.5"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("br"));
    }

    #[test]
    fn error_body_has_code_and_message() {
        let e = ApiError::not_found("plan \"x\" not found");
        assert_eq!(
            e.body(),
            r#"{"code":"not_found","message":"plan \"x\" not found"}"#
        );
        assert_eq!(e.code.http_status(), 404);
        assert_eq!(Code::Canceled.http_status(), 499);
    }

    #[test]
    fn json_content_types_are_accepted_others_are_415() {
        assert!(check_unary_headers(Some("application/json"), None).is_ok());
        assert!(check_unary_headers(Some("application/json; charset=utf-8"), Some("1")).is_ok());
        assert_eq!(
            check_unary_headers(Some("application/proto"), None)
                .unwrap_err()
                .0,
            415
        );
        assert_eq!(check_unary_headers(None, None).unwrap_err().0, 415);
        assert_eq!(
            check_unary_headers(Some("application/json; charset=latin1"), None)
                .unwrap_err()
                .0,
            415
        );
        assert_eq!(
            check_unary_headers(Some("application/json"), Some("2"))
                .unwrap_err()
                .0,
            400
        );
    }

    #[test]
    fn empty_body_is_invalid_argument() {
        let e = decode::<serde_json::Value>(b"").unwrap_err();
        assert_eq!(e.code, Code::InvalidArgument);
        assert!(e.message.contains("zero-length payload"));
    }
}
