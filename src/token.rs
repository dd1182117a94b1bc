//! HS256 JSON Web Tokens: sign a claims object, verify a token (algorithm, signature in constant
//! time, expiry), and the per-purpose secret files they are signed with.
//!
//! Used by the download links (`/download/<token>/…`, 24 h); small enough for the login tokens
//! to share. Pure functions plus one file read; called from handler threads.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::fmt;
use std::io;
use std::path::Path;

type HmacSha256 = Hmac<Sha256>;

/// Tokens longer than this are refused before any decoding.
pub const MAX_TOKEN_LEN: usize = 4096;
/// Length of a generated secret.
pub const SECRET_LEN: usize = 64;

/// Why a token was refused. The messages say what was wrong and never echo the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not three base64url parts, or a part is not the JSON it must be.
    Malformed,
    /// The header names an algorithm other than HS256.
    Algorithm,
    /// The signature does not match (tampered, or signed with another key).
    Signature,
    /// `exp` is missing or in the past.
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "malformed token",
            Self::Algorithm => "token algorithm must be HS256",
            Self::Signature => "token signature does not match",
            Self::Expired => "token expired",
        })
    }
}

impl std::error::Error for TokenError {}

const HEADER: &[u8] = br#"{"alg":"HS256","typ":"JWT"}"#;

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length; this cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC takes keys of any length"),
    }
}

/// Signs `claims` (a JSON object, e.g. with `exp` in Unix seconds) as an HS256 JWT.
pub fn sign(claims: &Value, key: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(HEADER);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let input = format!("{header}.{payload}");
    let mut m = mac(key);
    m.update(input.as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{input}.{sig}")
}

/// Verifies a token and returns its claims: exactly three parts, header `alg` HS256, the
/// signature (compared in constant time), and a numeric `exp` later than `now_unix`.
pub fn verify(token: &str, key: &[u8], now_unix: i64) -> Result<Value, TokenError> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenError::Malformed);
    };
    let json = |part: &str| -> Result<Value, TokenError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(part)
            .map_err(|_| TokenError::Malformed)?;
        match crate::util::from_json(&bytes) {
            Ok(v @ Value::Object(_)) => Ok(v),
            _ => Err(TokenError::Malformed),
        }
    };
    let header = json(h)?;
    if header.get("alg").and_then(Value::as_str) != Some("HS256") {
        return Err(TokenError::Algorithm);
    }
    let sig = URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| TokenError::Signature)?;
    let mut m = mac(key);
    m.update(h.as_bytes());
    m.update(b".");
    m.update(p.as_bytes());
    m.verify_slice(&sig).map_err(|_| TokenError::Signature)?;
    let claims = json(p)?;
    match claims.get("exp").and_then(Value::as_f64) {
        Some(exp) if exp > now_unix as f64 => Ok(claims),
        _ => Err(TokenError::Expired),
    }
}

/// Reads the secret at `path` (an HMAC key: the login token key, the download-link key),
/// creating it (random, mode 0600) when missing. A key others can read is set to 0600; one
/// shorter than 32 bytes is replaced by a new one (what it signed stops working). Threads that
/// ask at once agree on one key (they take turns); it is written atomically (temp file, fsync,
/// rename, directory fsync), which works on every filesystem a data dir may sit on.
pub fn load_or_create_secret(path: &Path) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::PermissionsExt;
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _turn = TURN.lock().unwrap_or_else(|p| p.into_inner());
    match std::fs::read(path) {
        Ok(s) if s.len() >= 32 => {
            if std::fs::metadata(path)?.permissions().mode() & 0o077 != 0 {
                log::warn!(
                    "{} was readable by others; setting its mode to 0600",
                    path.display()
                );
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
            }
            return Ok(s);
        }
        Ok(_) => log::warn!(
            "{} is shorter than 32 bytes; writing a new key (what the old one signed stops working)",
            path.display()
        ),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let secret = random_secret()?;
    crate::util::write_atomic(dir, path, &secret)?;
    log::info!("created a new key at {}", path.display());
    Ok(secret)
}

fn random_secret() -> io::Result<Vec<u8>> {
    let mut secret = vec![0u8; SECRET_LEN];
    crate::util::random_bytes(&mut secret)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn a_signed_token_verifies_and_returns_its_claims() {
        let t = sign(&json!({"op": "7", "exp": 2000}), KEY);
        assert_eq!(t.split('.').count(), 3);
        let c = verify(&t, KEY, 1999).unwrap();
        assert_eq!(c["op"], "7");
    }

    #[test]
    fn known_vector_from_rfc7515_verifies() {
        // RFC 7515 appendix A.1 (HS256), with its exp moved into the range checked here.
        let key = URL_SAFE_NO_PAD
            .decode("AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow")
            .unwrap();
        let token = "eyJ0eXAiOiJKV1QiLA0KICJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let c = verify(token, &key, 1_300_000_000).unwrap();
        assert_eq!(c["iss"], "joe");
        assert_eq!(verify(token, &key, 1_300_819_380), Err(TokenError::Expired));
    }

    #[test]
    fn tampering_another_key_other_algorithms_and_expiry_are_refused() {
        let t = sign(&json!({"op": "7", "exp": 2000}), KEY);
        let (head, rest) = t.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        let forged = URL_SAFE_NO_PAD.encode(br#"{"op":"8","exp":2000}"#);
        assert_eq!(
            verify(&format!("{head}.{forged}.{sig}"), KEY, 0),
            Err(TokenError::Signature)
        );
        assert_eq!(verify(&t, b"another key", 0), Err(TokenError::Signature));
        assert_eq!(verify(&t, KEY, 2000), Err(TokenError::Expired));
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(
            verify(&format!("{none}.{forged}."), KEY, 0),
            Err(TokenError::Algorithm)
        );
        assert_eq!(verify("a.b", KEY, 0), Err(TokenError::Malformed));
        assert_eq!(verify("", KEY, 0), Err(TokenError::Malformed));
        let no_exp = sign(&json!({"op": "7"}), KEY);
        assert_eq!(verify(&no_exp, KEY, 0), Err(TokenError::Expired));
    }

    #[test]
    fn a_secret_is_created_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("footrest-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("download-secret");
        let _ = std::fs::remove_file(&p);
        let a = load_or_create_secret(&p).unwrap();
        let b = load_or_create_secret(&p).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), SECRET_LEN);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(dir);
    }
}
