//! Authentication (docs/COMPATIBILITY.md §4): users' bcrypt hashes in Backrest's encoding, HTTP Basic with a
//! cache of verified credentials, HS256 tokens from Login signed with `<data>/jwt-secret`, and a
//! per-client slowdown for failed attempts.
//!
//! One `Authenticator` lives for the daemon's lifetime; the HTTP handler threads call it
//! concurrently. Its tables sit behind mutexes that are held only for lookups: a bcrypt never runs
//! under a lock. `footrest hash-password` uses [`hash_password`] alone.
//!
//! Costs: a bcrypt verification is tens of milliseconds on a PC and seconds on a Pi Zero, so
//! - a verified (user, password) pair is remembered for [`CACHE_TTL`] under an HMAC of the pair
//!   with a per-process random key (the cache never holds a password), bound to the stored hash
//!   it was checked against (a changed or removed user invalidates it at once);
//! - an unknown user costs the same bcrypt as a wrong password (a dummy hash of the same cost);
//! - after [`FREE_FAILURES`] consecutive failures a client address is refused for an exponentially
//!   growing time (2 s, 4 s, … [`MAX_BLOCK`]) without any bcrypt; a success clears its record.
//!   Refusals are immediate (429 + Retry-After): no handler thread sleeps.
//! - across all clients, one bcrypt runs at a time (one more request may wait for it, up to
//!   [`CHECK_WAIT`]; more are refused at once), and failed checks draw on one bucket of
//!   [`GLOBAL_FAILURES_PER_MINUTE`]: rotating addresses neither guess faster than that nor
//!   take more than two handler threads. Tokens and remembered credentials need no bcrypt, so
//!   their users are not slowed by a flood.

use crate::config::Auth;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

type HmacSha256 = Hmac<Sha256>;

/// Go's `bcrypt.DefaultCost`, which Backrest uses.
pub const BCRYPT_COST: u32 = 10;
/// bcrypt reads at most 72 bytes; longer passwords are refused rather than silently truncated.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// Login tokens are valid this long.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);
/// How long a verified Basic credential is remembered.
pub const CACHE_TTL: Duration = Duration::from_secs(5 * 60);
/// At most this many remembered credentials (a home server has a handful of users).
pub const CACHE_MAX: usize = 64;
/// Failed attempts a client may make before it is slowed down.
pub const FREE_FAILURES: u32 = 5;
/// The longest a client is refused after failures.
pub const MAX_BLOCK: Duration = Duration::from_secs(300);
/// A client's failure record is forgotten after this long without a failure.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// At most this many client records; the stalest is dropped first.
const CLIENTS_MAX: usize = 1024;
/// HashPassword is open (as in Backrest) but each call costs a bcrypt: at most this many per
/// client per minute.
pub const HASHES_PER_MINUTE: u32 = 10;
/// Failed password checks allowed per minute across all clients (also the burst).
pub const GLOBAL_FAILURES_PER_MINUTE: u32 = 60;
/// How long a password check waits for the one running before it is refused.
pub const CHECK_WAIT: Duration = Duration::from_secs(1);
/// Size of the HS256 key in `<data>/jwt-secret`.
const SECRET_LEN: usize = 64;

/// Why a request is refused; the message is what the client sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Denied {
    /// No usable credentials (401, Connect `unauthenticated`).
    Unauthenticated(&'static str),
    /// Too many failures from this client (429, `resource_exhausted`, `Retry-After`).
    Throttled { retry_after: Duration },
    /// Too many password checks from all clients together (429, `resource_exhausted`).
    Busy { retry_after: Duration },
}

impl Denied {
    /// Whole seconds for a `Retry-After` header (at least 1).
    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            Denied::Throttled { retry_after } | Denied::Busy { retry_after } => {
                Some(retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0))
                    .map(|s| s.max(1))
            }
            Denied::Unauthenticated(_) => None,
        }
    }
}

impl fmt::Display for Denied {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Denied::Unauthenticated(m) => f.write_str(m),
            Denied::Throttled { .. } => write!(
                f,
                "too many failed attempts from this address; retry in {} s",
                self.retry_after_secs().unwrap_or(1)
            ),
            Denied::Busy { .. } => write!(
                f,
                "too many password checks right now; retry in {} s (tokens from Login are not \
                 affected)",
                self.retry_after_secs().unwrap_or(1)
            ),
        }
    }
}

/// A failure to set up authentication or to hash a password.
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthError {
    Secret(PathBuf, std::io::Error),
    Random(std::io::Error),
    PasswordTooLong,
    EmptyPassword,
    Bcrypt(String),
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            AuthError::Secret(p, e) => write!(f, "token key {}: {e}", p.display()),
            AuthError::Random(e) => write!(f, "reading /dev/urandom: {e}"),
            AuthError::PasswordTooLong => write!(
                f,
                "password is longer than {MAX_PASSWORD_BYTES} bytes (bcrypt's limit)"
            ),
            AuthError::EmptyPassword => f.write_str("password is empty"),
            AuthError::Bcrypt(e) => write!(f, "bcrypt: {e}"),
        }
    }
}

impl std::error::Error for AuthError {}

/// Whether requests need credentials: `auth` set, not disabled, with users.
/// (`disabled: false` without users is rejected by config validation.)
pub fn required(auth: Option<&Auth>) -> bool {
    auth.is_some_and(|a| !a.disabled && !a.users.is_empty())
}

/// Fills `buf` from the kernel's CSPRNG.
fn random_bytes(buf: &mut [u8]) -> Result<(), AuthError> {
    crate::util::random_bytes(buf).map_err(AuthError::Random)
}

/// Hashes a password the way Backrest stores it: base64 (standard) of a `$2a$10$…` bcrypt string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(AuthError::PasswordTooLong);
    }
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let parts = bcrypt::hash_with_salt(password, BCRYPT_COST, salt)
        .map_err(|e| AuthError::Bcrypt(e.to_string()))?;
    Ok(STANDARD.encode(parts.format_for_version(bcrypt::Version::TwoA)))
}

/// The bcrypt string inside a stored `passwordBcrypt`: base64 as Backrest writes it, or (for a
/// hand-edited config) the bare `$2…$` string.
pub fn decode_stored_hash(stored: &str) -> Option<String> {
    let stored = stored.trim();
    if stored.starts_with("$2") {
        return Some(stored.to_string());
    }
    let bytes = STANDARD.decode(stored).ok()?;
    let s = String::from_utf8(bytes).ok()?;
    s.starts_with("$2").then_some(s)
}

/// The cost of a `$2a$NN$…` string.
fn bcrypt_cost(hash: &str) -> Option<u32> {
    hash.get(4..6)?.parse().ok()
}

/// Checks a password against a stored (Backrest-encoded) hash. Costs one bcrypt.
/// A password longer than bcrypt reads is refused after the same bcrypt, so that its length
/// reveals nothing about the user.
pub fn verify_password(password: &str, stored: &str) -> bool {
    let Some(h) = decode_stored_hash(stored) else {
        return false;
    };
    let ok = bcrypt::verify(first_72(password), &h).unwrap_or(false);
    ok && password.len() <= MAX_PASSWORD_BYTES
}

/// At most the first 72 bytes of `password` (a char boundary at or below), as bcrypt reads it.
fn first_72(password: &str) -> &str {
    &password[..crate::util::char_floor(password, MAX_PASSWORD_BYTES)]
}

/// Credentials as sent in an `Authorization` header.
#[derive(PartialEq, Eq)]
pub enum Credentials {
    Basic { user: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Credentials::Basic { user, .. } => write!(f, "Basic({user:?}, <password>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<token>)"),
        }
    }
}

/// Parses an `Authorization` header value.
pub fn parse_authorization(value: &str) -> Result<Credentials, Denied> {
    let value = value.trim();
    let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = STANDARD
            .decode(rest)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(Denied::Unauthenticated("malformed Basic credentials"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or(Denied::Unauthenticated("malformed Basic credentials"))?;
        Ok(Credentials::Basic {
            user: user.to_string(),
            password: password.to_string(),
        })
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Ok(Credentials::Bearer(rest.to_string()))
    } else {
        Err(Denied::Unauthenticated(
            "unsupported authorization scheme (use Basic or Bearer)",
        ))
    }
}

/// The key a client's failures are counted under: its IP address, or its IPv6 /64 (one host
/// usually owns a whole /64).
pub fn client_key(peer: &str) -> String {
    match peer.parse::<IpAddr>() {
        Ok(IpAddr::V4(a)) => a.to_string(),
        Ok(IpAddr::V6(a)) => match a.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let s = a.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
        },
        Err(_) => peer.chars().take(64).collect(),
    }
}

struct CacheEntry {
    user: String,
    /// The stored hash the password was verified against.
    stored: String,
    expires: Instant,
}

#[derive(Default)]
struct ClientRecord {
    failures: u32,
    last_failure: Option<Instant>,
    blocked_until: Option<Instant>,
    hash_window: Option<Instant>,
    hashes: u32,
}

/// The daemon's authentication state. See the module doc.
pub struct Authenticator {
    secret: [u8; SECRET_LEN],
    cache_key: [u8; 32],
    cache: Mutex<HashMap<[u8; 32], CacheEntry>>,
    clients: Mutex<HashMap<String, ClientRecord>>,
    dummies: Mutex<HashMap<u32, String>>,
    checks: Mutex<Checks>,
    check_done: Condvar,
}

/// The global bound on password checks (see the module doc).
struct Checks {
    running: bool,
    waiting: bool,
    /// Failures left in the bucket, refilled continuously.
    failures_left: f64,
    refilled: Instant,
}

/// The right to run one bcrypt; dropping it lets the next check in.
struct CheckSlot<'a>(&'a Authenticator);

impl Drop for CheckSlot<'_> {
    fn drop(&mut self) {
        self.0.lock_checks().running = false;
        self.0.check_done.notify_one();
    }
}

impl Authenticator {
    /// Loads `<data>/jwt-secret`, creating it (0600, 64 random bytes) when missing or too short.
    pub fn open(data_dir: &Path) -> Result<Authenticator, AuthError> {
        let secret = load_or_create_secret(&data_dir.join("jwt-secret"))?;
        Self::with_secret(secret)
    }

    /// An authenticator with a given token key (tests).
    pub fn with_secret(secret: [u8; SECRET_LEN]) -> Result<Authenticator, AuthError> {
        let mut cache_key = [0u8; 32];
        random_bytes(&mut cache_key)?;
        Ok(Authenticator {
            secret,
            cache_key,
            cache: Mutex::new(HashMap::new()),
            clients: Mutex::new(HashMap::new()),
            dummies: Mutex::new(HashMap::new()),
            checks: Mutex::new(Checks {
                running: false,
                waiting: false,
                failures_left: f64::from(GLOBAL_FAILURES_PER_MINUTE),
                refilled: Instant::now(),
            }),
            check_done: Condvar::new(),
        })
    }

    /// Checks a request's `Authorization` header. Ok(None) when auth is not required,
    /// Ok(Some(user)) when the credentials are good.
    pub fn check(
        &self,
        auth: Option<&Auth>,
        authorization: Option<&str>,
        client: &str,
        now_unix: i64,
    ) -> Result<Option<String>, Denied> {
        let Some(auth) = auth.filter(|a| required(Some(a))) else {
            return Ok(None);
        };
        let Some(value) = authorization else {
            return Err(Denied::Unauthenticated("authentication required"));
        };
        match parse_authorization(value)? {
            Credentials::Basic { user, password } => self
                .verify_basic(auth, &user, &password, client, Instant::now())
                .map(Some),
            Credentials::Bearer(token) => self.verify_token(auth, &token, now_unix).map(Some),
        }
    }

    /// Login: checks a username and password (same rules and slowdown as Basic) and returns a
    /// signed token valid for [`TOKEN_LIFETIME`].
    pub fn login(
        &self,
        auth: Option<&Auth>,
        user: &str,
        password: &str,
        client: &str,
        now_unix: i64,
    ) -> Result<String, Denied> {
        let auth = auth
            .filter(|a| !a.users.is_empty())
            .ok_or(Denied::Unauthenticated("invalid password"))?;
        self.verify_basic(auth, user, password, client, Instant::now())?;
        let stored = auth
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.password_bcrypt.as_str())
            .unwrap_or("");
        Ok(self.sign_token(user, stored, now_unix + TOKEN_LIFETIME.as_secs() as i64))
    }

    /// Verifies a user's password: the cache first, else one bcrypt (a dummy one for an unknown
    /// user), with the per-client slowdown. Failures all read "invalid password".
    fn verify_basic(
        &self,
        auth: &Auth,
        user: &str,
        password: &str,
        client: &str,
        now: Instant,
    ) -> Result<String, Denied> {
        const INVALID: Denied = Denied::Unauthenticated("invalid password");
        let client = client_key(client);
        if let Some(left) = self.blocked_for(&client, now) {
            return Err(Denied::Throttled { retry_after: left });
        }
        let stored = auth
            .users
            .iter()
            .find(|u| u.name == user)
            .map(|u| u.password_bcrypt.clone());
        let key = self.cache_key_for(user, password);
        if let Some(stored) = &stored {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(e) = cache.get(&key)
                && e.user == user
                && &e.stored == stored
                && e.expires > now
            {
                return Ok(user.to_string());
            }
        }
        let slot = self.check_slot(now)?;
        let ok = match &stored {
            Some(s) => {
                let ok = verify_password(password, s);
                if !ok && decode_stored_hash(s).is_none() {
                    log::warn!(
                        "auth: user \"{user}\" has a passwordBcrypt that is not a bcrypt hash"
                    );
                }
                ok
            }
            None => {
                // Same work as a wrong password, so timing does not reveal which users exist.
                let cost = auth
                    .users
                    .iter()
                    .find_map(|u| decode_stored_hash(&u.password_bcrypt))
                    .and_then(|h| bcrypt_cost(&h))
                    .unwrap_or(BCRYPT_COST);
                let dummy = self.dummy_hash(cost);
                let _ = bcrypt::verify(first_72(password), &dummy);
                false
            }
        };
        drop(slot);
        if !ok {
            self.record_failure(&client, now);
            return Err(INVALID);
        }
        self.record_success(&client);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|_, e| e.expires > now);
        if cache.len() >= CACHE_MAX
            && let Some(oldest) = cache.iter().min_by_key(|(_, e)| e.expires).map(|(k, _)| *k)
        {
            cache.remove(&oldest);
        }
        cache.insert(
            key,
            CacheEntry {
                user: user.to_string(),
                stored: stored.unwrap_or_default(),
                expires: now + CACHE_TTL,
            },
        );
        Ok(user.to_string())
    }

    fn lock_checks(&self) -> std::sync::MutexGuard<'_, Checks> {
        self.checks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits (at most [`CHECK_WAIT`], and only as the one waiter) for the right to run a
    /// bcrypt, or says how long to wait when the global failure bucket is empty.
    fn check_slot(&self, now: Instant) -> Result<CheckSlot<'_>, Denied> {
        let per_sec = f64::from(GLOBAL_FAILURES_PER_MINUTE) / 60.0;
        let mut c = self.lock_checks();
        let elapsed = now.saturating_duration_since(c.refilled).as_secs_f64();
        c.failures_left =
            (c.failures_left + elapsed * per_sec).min(f64::from(GLOBAL_FAILURES_PER_MINUTE));
        c.refilled = c.refilled.max(now);
        if c.failures_left < 1.0 {
            let retry_after = Duration::from_secs_f64((1.0 - c.failures_left) / per_sec);
            return Err(Denied::Busy { retry_after });
        }
        if c.running {
            if c.waiting {
                return Err(Denied::Busy {
                    retry_after: Duration::from_secs(1),
                });
            }
            c.waiting = true;
            let (g, _) = self
                .check_done
                .wait_timeout_while(c, CHECK_WAIT, |c| c.running)
                .unwrap_or_else(|p| p.into_inner());
            c = g;
            c.waiting = false;
            if c.running {
                return Err(Denied::Busy {
                    retry_after: Duration::from_secs(1),
                });
            }
        }
        c.running = true;
        Ok(CheckSlot(self))
    }

    /// Takes one failure from the global bucket.
    fn spend_failure(&self) {
        let mut c = self.lock_checks();
        c.failures_left = (c.failures_left - 1.0).max(0.0);
    }

    fn cache_key_for(&self, user: &str, password: &str) -> [u8; 32] {
        let mut mac = HmacSha256::new_from_slice(&self.cache_key).expect("any key length");
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(password.as_bytes());
        mac.finalize().into_bytes().into()
    }

    /// A bcrypt string of the given cost to verify unknown users against (made once per cost).
    fn dummy_hash(&self, cost: u32) -> String {
        let cost = cost.clamp(4, 31);
        if let Some(h) = self
            .dummies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&cost)
        {
            return h.clone();
        }
        let h = bcrypt::hash_with_salt("footrest: no such user", cost, [7u8; 16])
            .map(|p| p.format_for_version(bcrypt::Version::TwoA))
            .unwrap_or_default();
        self.dummies
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cost, h.clone());
        h
    }

    fn blocked_for(&self, client: &str, now: Instant) -> Option<Duration> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let until = clients.get(client)?.blocked_until?;
        (until > now).then(|| until - now)
    }

    fn record_failure(&self, client: &str, now: Instant) {
        self.spend_failure();
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let rec = client_record(&mut clients, client, now);
        if rec
            .last_failure
            .is_some_and(|t| now.duration_since(t) > FORGET_AFTER)
        {
            rec.failures = 0;
        }
        rec.failures = rec.failures.saturating_add(1);
        rec.last_failure = Some(now);
        if rec.failures > FREE_FAILURES {
            let exp = (rec.failures - FREE_FAILURES).min(16);
            let block = Duration::from_secs(1u64 << exp).min(MAX_BLOCK);
            rec.blocked_until = Some(now + block);
            log::warn!(
                "auth: {} failed attempts from {client}; refusing it for {} s",
                rec.failures,
                block.as_secs()
            );
        }
    }

    fn record_success(&self, client: &str) {
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(rec) = clients.get_mut(client) {
            rec.failures = 0;
            rec.last_failure = None;
            rec.blocked_until = None;
        }
    }

    /// Counts a HashPassword call against the client's budget.
    pub fn allow_hash(&self, client: &str, now: Instant) -> Result<(), Denied> {
        let client = client_key(client);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let rec = client_record(&mut clients, &client, now);
        let window = Duration::from_secs(60);
        match rec.hash_window {
            Some(start) if now.duration_since(start) < window => {
                if rec.hashes >= HASHES_PER_MINUTE {
                    return Err(Denied::Throttled {
                        retry_after: window - now.duration_since(start),
                    });
                }
                rec.hashes += 1;
            }
            _ => {
                rec.hash_window = Some(now);
                rec.hashes = 1;
            }
        }
        Ok(())
    }

    /// An HS256 JWT `{sub, iat, exp, pwv}`. `pwv` is bound to the user's stored password
    /// hash (see [`Self::password_version`]): a new password revokes the user's tokens.
    pub fn sign_token(&self, user: &str, stored_hash: &str, exp_unix: i64) -> String {
        let claims = serde_json::json!({
            "sub": user,
            "iat": exp_unix - TOKEN_LIFETIME.as_secs() as i64,
            "exp": exp_unix,
            "pwv": self.password_version(user, stored_hash),
        });
        crate::token::sign(&claims, &self.secret)
    }

    /// A tag of (user, stored hash) under the instance secret: says nothing about the hash, and
    /// changes with it.
    fn password_version(&self, user: &str, stored_hash: &str) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.secret).expect("any key length");
        mac.update(b"footrest password version\0");
        mac.update(&(user.len() as u64).to_be_bytes());
        mac.update(user.as_bytes());
        mac.update(stored_hash.as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..12])
    }

    /// Checks a token: three parts, header alg exactly HS256, signature (constant-time), exp in
    /// the future, and a `sub` that is still a configured user.
    pub fn verify_token(&self, auth: &Auth, token: &str, now_unix: i64) -> Result<String, Denied> {
        const BAD: Denied = Denied::Unauthenticated("invalid token");
        let claims = crate::token::verify(token, &self.secret, now_unix).map_err(|e| match e {
            crate::token::TokenError::Expired => Denied::Unauthenticated("token expired"),
            _ => BAD,
        })?;
        let sub = claims.get("sub").and_then(|s| s.as_str()).ok_or(BAD)?;
        let Some(user) = auth.users.iter().find(|u| u.name == sub) else {
            return Err(Denied::Unauthenticated("token of an unknown user"));
        };
        let pwv = claims.get("pwv").and_then(|v| v.as_str());
        if pwv != Some(self.password_version(sub, &user.password_bcrypt).as_str()) {
            return Err(Denied::Unauthenticated(
                "token revoked: the user's password changed since login",
            ));
        }
        Ok(sub.to_string())
    }
}

fn client_record<'a>(
    clients: &'a mut HashMap<String, ClientRecord>,
    client: &str,
    now: Instant,
) -> &'a mut ClientRecord {
    if !clients.contains_key(client) && clients.len() >= CLIENTS_MAX {
        let stale = |r: &ClientRecord| {
            r.blocked_until.is_none_or(|b| b <= now)
                && r.last_failure
                    .is_none_or(|t| now.duration_since(t) > FORGET_AFTER)
                && r.hash_window
                    .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
        };
        clients.retain(|_, r| !stale(r));
        if clients.len() >= CLIENTS_MAX {
            let oldest = clients
                .iter()
                .min_by_key(|(_, r)| r.last_failure.or(r.hash_window))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                clients.remove(&k);
            }
        }
    }
    clients.entry(client.to_string()).or_default()
}

/// The token key (`token::load_or_create_secret`), folded into our fixed size: any length from
/// 32 bytes on is a fine HMAC key.
fn load_or_create_secret(path: &Path) -> Result<[u8; SECRET_LEN], AuthError> {
    let bytes = crate::token::load_or_create_secret(path)
        .map_err(|e| AuthError::Secret(path.to_path_buf(), e))?;
    let mut secret = [0u8; SECRET_LEN];
    if bytes.len() == SECRET_LEN {
        secret.copy_from_slice(&bytes);
    } else {
        let mut mac = HmacSha256::new_from_slice(&bytes).expect("any key length");
        mac.update(b"footrest jwt-secret a");
        secret[..32].copy_from_slice(&mac.finalize().into_bytes());
        let mut mac = HmacSha256::new_from_slice(&bytes).expect("any key length");
        mac.update(b"footrest jwt-secret b");
        secret[32..].copy_from_slice(&mac.finalize().into_bytes());
    }
    Ok(secret)
}

#[cfg(test)]
mod tests;
