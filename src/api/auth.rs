//! Authentication at the HTTP edge: which paths are open, checking a request's credentials,
//! answering refusals, and the Authentication service's RPCs (Login, HashPassword).
//! Runs on the handler threads; the rules and state live in `crate::auth`.

use super::connect::{decode, encode};
use super::{ApiError, App, Code, header, json_response, respond, respond_unary, rpc};
use crate::auth::Denied;
use serde::Deserialize;
use tiny_http::Request;

/// Every path the router answers, with whether it is open without credentials. The router and
/// this list are built from the same method lists (`rpc::BACKREST_METHODS`, …), so a test that
/// walks this list covers every route.
pub fn routes() -> Vec<(String, bool)> {
    let mut out = vec![("/".to_string(), true)];
    for a in super::ui::ASSETS {
        out.push((a.path.to_string(), true));
    }
    for m in rpc::BACKREST_METHODS.iter().chain(rpc::BACKREST_PENDING) {
        out.push((format!("/v1.Backrest/{m}"), false));
    }
    for m in rpc::FOOTREST_METHODS {
        out.push((format!("/v1.Footrest/{m}"), false));
    }
    for m in rpc::AUTH_METHODS {
        out.push((format!("/v1.Authentication/{m}"), true));
    }
    for p in ["/metrics", "/status"] {
        out.push((p.to_string(), false));
    }
    out
}

/// Paths open without credentials: the Authentication service, download links (they carry
/// their own signed token) and the UI's files. Everything else — including unknown paths, so
/// that routes cannot be probed — needs credentials when auth is on.
pub fn is_public(path: &str) -> bool {
    super::ui::is_ui_path(path)
        || path.starts_with("/v1.Authentication/")
        || path.starts_with("/download/")
}

/// The client's address as the front door saw it.
fn peer(req: &Request) -> String {
    header_value(req, super::front::PEER_HEADER)
        .or_else(|| req.remote_addr().map(|a| a.ip().to_string()))
        .unwrap_or_else(|| "local".into())
}

fn header_value(req: &Request, name: &str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
        .map(|h| h.value.as_str().to_string())
}

fn now_unix() -> i64 {
    crate::util::now_ms() / 1000
}

fn auth_config(app: &App) -> Option<crate::config::Auth> {
    app.config.read(|c| c.auth.clone())
}

/// Who a request comes from.
pub(super) enum Caller {
    /// Auth is off: anyone may do anything.
    Open,
    User,
    /// An API key (`crate::apikeys`).
    Key {
        name: String,
        scope: crate::apikeys::Scope,
    },
}

impl Caller {
    /// Whether this caller may call `path`; a refusal names the key and its scope.
    pub(super) fn permits(&self, path: &str) -> Result<(), ApiError> {
        match self {
            Caller::Key { name, scope } if !scope.allows(path) => Err(ApiError::new(
                Code::PermissionDenied,
                format!(
                    "API key {name:?} has scope {:?}, which does not allow {path}",
                    scope.name()
                ),
            )),
            _ => Ok(()),
        }
    }

    /// An API key below `admin`: GetConfig hides secrets from it.
    pub(super) fn restricted(&self) -> bool {
        matches!(self, Caller::Key { scope, .. } if *scope != crate::apikeys::Scope::Admin)
    }
}

/// Checks a request's credentials when auth is on: a user's password or token, or an API key
/// (`Bearer ftk_…`, one SHA-256, no bcrypt).
pub(super) fn authenticate(app: &App, req: &Request) -> Result<Caller, Denied> {
    let auth = auth_config(app);
    if !crate::auth::required(auth.as_ref()) {
        return Ok(Caller::Open);
    }
    let authorization = header_value(req, "Authorization");
    if let Some(key) = authorization.as_deref().and_then(|v| {
        let (scheme, rest) = v.trim().split_once(' ')?;
        let rest = rest.trim();
        (scheme.eq_ignore_ascii_case("bearer") && rest.starts_with(crate::apikeys::PREFIX))
            .then_some(rest)
    }) {
        return match app.api_keys.check(key) {
            Some((name, scope)) => Ok(Caller::Key { name, scope }),
            None => Err(Denied::Unauthenticated("invalid API key")),
        };
    }
    app.auth
        .check(
            auth.as_ref(),
            authorization.as_deref(),
            &peer(req),
            now_unix(),
        )
        .map(|_| Caller::User)
}

/// 401 (unauthenticated) or 429 (resource_exhausted, with Retry-After).
pub(super) fn respond_denied(req: Request, path: &str, denied: &Denied) {
    log::debug!("auth: {path} from {}: {denied}", peer(&req));
    let (status, code) = match denied {
        Denied::Unauthenticated(_) => (401, Code::Unauthenticated),
        Denied::Throttled { .. } | Denied::Busy { .. } => (429, Code::ResourceExhausted),
    };
    let e = ApiError::new(code, denied.to_string());
    let mut resp = json_response(status, e.body().into_bytes());
    match denied.retry_after_secs() {
        Some(s) => resp = resp.with_header(header("Retry-After", &s.to_string())),
        // Bearer, not Basic: a Basic challenge makes browsers pop up their own login dialog
        // over the UI.
        None => resp = resp.with_header(header("WWW-Authenticate", "Bearer realm=\"footrest\"")),
    }
    respond(req, resp);
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct LoginRequest {
    username: String,
    password: String,
}

/// Authentication/Login: `{username, password}` → `{token}`.
pub(super) fn login(app: &App, req: Request, body: &[u8]) {
    let r: LoginRequest = match decode(body) {
        Ok(r) => r,
        Err(e) => return respond_unary(req, Err(e)),
    };
    let auth = auth_config(app);
    match app.auth.login(
        auth.as_ref(),
        &r.username,
        &r.password,
        &peer(&req),
        now_unix(),
    ) {
        Ok(token) => {
            log::info!(
                "auth: user \"{}\" logged in from {}",
                r.username,
                peer(&req)
            );
            respond_unary(req, encode(&serde_json::json!({ "token": token })));
        }
        Err(d) => respond_denied(req, "/v1.Authentication/Login", &d),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct StringValue {
    value: String,
}

/// Authentication/HashPassword: `{value}` → `{value: base64(bcrypt)}`.
pub(super) fn hash_password(app: &App, req: Request, body: &[u8]) {
    let r: StringValue = match decode(body) {
        Ok(r) => r,
        Err(e) => return respond_unary(req, Err(e)),
    };
    if let Err(d) = app.auth.allow_hash(&peer(&req), std::time::Instant::now()) {
        return respond_denied(req, "/v1.Authentication/HashPassword", &d);
    }
    let result = crate::auth::hash_password(&r.value)
        .map_err(|e| match e {
            crate::auth::AuthError::EmptyPassword | crate::auth::AuthError::PasswordTooLong => {
                ApiError::invalid(e.to_string())
            }
            _ => ApiError::internal(e.to_string()),
        })
        .and_then(|h| encode(&serde_json::json!({ "value": h })));
    respond_unary(req, result);
}

/// Whether `host` (a `Host` header value or an `Origin`'s host, port allowed) names this
/// machine: an IP literal (a rebinding attack needs a DNS name), `localhost` or a name under
/// `.localhost`, or one of `extra` (the daemon's own names, `--allow-host`,
/// `FOOTREST_ALLOWED_HOSTS`).
pub fn host_allowed(host: &str, extra: &[String]) -> bool {
    let host = host.trim();
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || extra.iter().any(|e| e.eq_ignore_ascii_case(&name))
}

/// DNS rebinding: without auth, a `Host` that is not this machine's is refused; an `Origin`
/// (sent by browsers) whose host is not allowed is refused on POST whether or not auth is on.
pub(super) fn check_host(app: &App, req: &Request) -> Result<(), String> {
    // The names allowed beside IPs and localhost (see `daemon::own_host_names`).
    let extra = &crate::settings::get().allowed_hosts;
    let how = "; to allow it, start footrest with --allow-host NAME or add it to \
               FOOTREST_ALLOWED_HOSTS (comma-separated)";
    if !crate::auth::required(auth_config(app).as_ref())
        && let Some(h) = header_value(req, "Host")
        && !host_allowed(&h, extra)
    {
        return Err(format!("host {h:?} is not this machine's{how}"));
    }
    if *req.method() == tiny_http::Method::Post
        && let Some(o) = header_value(req, "Origin")
    {
        let host = o.split_once("://").map(|(_, r)| r).unwrap_or("");
        if !host_allowed(host, extra) {
            return Err(format!("origin {o:?} is not allowed{how}"));
        }
    }
    Ok(())
}
