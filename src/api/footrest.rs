//! footrest's own RPCs (`/v1.Footrest/…`), which Backrest does not have: previewing a schedule
//! and test-firing a hook, for the web UI's editors. Both run on the handler thread that received
//! the request; TestHook is bounded in time and in how many run at once, so the handler pool and
//! the worker (backups) are never held up by it.

use super::connect::{decode, encode};
use super::{ApiError, App, Code, Slot};
use crate::config::Schedule;
use crate::hooks::{self, Hook};
use crate::proto::i64s;
use crate::schedule::{Clock, Timestamp, describe};
use serde::{Deserialize, Serialize};
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

/// Next runs a preview lists by default, and at most.
const DEFAULT_COUNT: i64 = 3;
const MAX_COUNT: i64 = 20;
/// Test firings at once; more would hold handler threads that other requests need.
const MAX_TEST_HOOKS: usize = 2;
/// A command hook fired from the API stops after this (or the configured command timeout, when
/// shorter): a client waits for the answer.
const TEST_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How much of a failed command's output the answer quotes.
const OUTPUT_TAIL_LINES: usize = 5;
const OUTPUT_TAIL_BYTES: usize = 1000;

#[derive(Deserialize, Default)]
#[serde(default)]
struct PreviewScheduleRequest {
    schedule: Option<Schedule>,
    #[serde(with = "i64s")]
    count: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PreviewScheduleResponse {
    description: String,
    /// Unix milliseconds, as strings (int64).
    next_runs_ms: Vec<String>,
    timezone: String,
}

/// Footrest/PreviewSchedule: `{schedule, count}` → `{description, nextRunsMs, timezone}`.
pub(super) fn preview_schedule(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: PreviewScheduleRequest = decode(body)?;
    let spec = r
        .schedule
        .ok_or_else(|| ApiError::invalid("schedule is required"))?;
    let problems = spec.problems("schedule");
    if !problems.is_empty() {
        return Err(ApiError::invalid(problems.join("; ")));
    }
    let (schedule, clock) = spec.parse().map_err(|e| ApiError::invalid(e.to_string()))?;
    let count = if r.count == 0 {
        DEFAULT_COUNT
    } else {
        r.count.clamp(1, MAX_COUNT)
    };
    let (tz, timezone) = match clock {
        Clock::Utc => (crate::schedule::TimeZone::UTC, "UTC".to_string()),
        Clock::Local | Clock::LastRunTime => (app.zone.tz.clone(), app.zone.name.clone()),
    };
    let runs = describe::next_runs(&schedule, clock, Timestamp::now(), &tz, count as usize);
    encode(&PreviewScheduleResponse {
        description: describe::describe(&schedule, clock),
        next_runs_ms: runs
            .iter()
            .map(|t| t.as_millisecond().to_string())
            .collect(),
        timezone,
    })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct TestHookRequest {
    hook: Option<serde_json::Value>,
    #[serde(alias = "plan_id")]
    plan_id: String,
    #[serde(alias = "repo_id")]
    repo_id: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TestHookResponse {
    ok: bool,
    message: String,
    #[serde(with = "i64s")]
    duration_ms: i64,
}

/// Counts the test firings in progress.
static TEST_HOOKS: AtomicUsize = AtomicUsize::new(0);

/// Footrest/TestHook: `{hook, planId?, repoId?}` → `{ok, message, durationMs}`. Fires the hook
/// once with sample variables, as `footrest hook test` does; nothing is recorded.
pub(super) fn test_hook(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: TestHookRequest = decode(body)?;
    let raw = r
        .hook
        .ok_or_else(|| ApiError::invalid("hook is required"))?;
    let hook = Hook::parse(&raw).map_err(|e| ApiError::invalid(format!("hook: {e}")))?;
    // A hook without conditions yet (an edit in progress) can still be tried.
    let problems = hooks::action_problems(&hook);
    if !problems.is_empty() {
        return Err(ApiError::invalid(format!("hook: {}", problems.join("; "))));
    }
    let config = app.config.get();
    let plan = match r.plan_id.as_str() {
        "" => None,
        id => Some(
            config
                .plan(id)
                .ok_or_else(|| ApiError::not_found(format!("plan \"{id}\" not found")))?,
        ),
    };
    let repo = match (r.repo_id.as_str(), plan) {
        ("", Some(p)) => config.repo(&p.repo),
        ("", None) => None,
        (id, _) => Some(
            config
                .repo(id)
                .ok_or_else(|| ApiError::not_found(format!("repo \"{id}\" not found")))?,
        ),
    };
    let Some(_slot) = Slot::take(&TEST_HOOKS, MAX_TEST_HOOKS) else {
        return Err(ApiError::new(
            Code::ResourceExhausted,
            format!("{MAX_TEST_HOOKS} hook tests are already running; try again when they end"),
        ));
    };
    let mut settings = crate::settings::get().hooks.clone();
    settings.command_timeout = settings.command_timeout.min(TEST_COMMAND_TIMEOUT);
    let event = hooks::run::sample_event(&hook, None);
    let kind = hook.action.kind();
    let started = Instant::now();
    let mut log = Vec::new();
    let result = hooks::run::execute_sample(&hook, event, repo, plan, &settings, &mut log);
    let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
    // Neither the hook's log nor its output is logged here: either may hold secrets.
    let (ok, message) = match result {
        Ok(codes) if codes.is_empty() => (true, format!("{kind} exited with status 0")),
        Ok(codes) => {
            let codes: Vec<String> = codes.into_iter().map(status_text).collect();
            (true, format!("{kind} answered {}", codes.join(", ")))
        }
        Err(e @ hooks::HookError::Command(_)) => {
            let tail = output_tail(&log);
            if tail.is_empty() {
                (false, format!("{kind} {e}"))
            } else {
                (false, format!("{kind} {e}: {tail}"))
            }
        }
        Err(e) => (false, format!("{kind}: {e}")),
    };
    log::info!(
        "test firing of a {kind} hook on {event}: {} in {duration_ms} ms",
        if ok { "ok" } else { "failed" }
    );
    encode(&TestHookResponse {
        ok,
        message,
        duration_ms,
    })
}

/// "200 OK"; the bare number for codes without a well-known reason.
fn status_text(code: u16) -> String {
    let reason = match code {
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        _ => return code.to_string(),
    };
    format!("{code} {reason}")
}

/// The last lines the command printed (stdout and stderr together), from the hook's log.
fn output_tail(log: &[u8]) -> String {
    let text = String::from_utf8_lossy(log);
    let lines: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("[output] "))
        .collect();
    let tail = lines[lines.len().saturating_sub(OUTPUT_TAIL_LINES)..].join("\n");
    if tail.len() <= OUTPUT_TAIL_BYTES {
        return tail;
    }
    let mut start = tail.len() - OUTPUT_TAIL_BYTES;
    while !tail.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &tail[start..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_tail_keeps_the_last_lines_of_output() {
        let log = b"[script] sh\n[script] echo\n[output] one\n[output] two\n";
        assert_eq!(output_tail(log), "one\ntwo");
        let many: String = (0..9).map(|i| format!("[output] {i}\n")).collect();
        assert_eq!(output_tail(many.as_bytes()), "4\n5\n6\n7\n8");
        let long = format!("[output] {}\n", "é".repeat(800));
        let t = output_tail(long.as_bytes());
        assert!(t.starts_with('…') && t.len() <= OUTPUT_TAIL_BYTES + '…'.len_utf8());
        assert_eq!(output_tail(b"exited with status 0\n"), "");
    }

    #[test]
    fn test_slots_are_bounded_and_given_back() {
        let a = Slot::take(&TEST_HOOKS, MAX_TEST_HOOKS).unwrap();
        let b = Slot::take(&TEST_HOOKS, MAX_TEST_HOOKS).unwrap();
        assert!(Slot::take(&TEST_HOOKS, MAX_TEST_HOOKS).is_none());
        drop(a);
        let c = Slot::take(&TEST_HOOKS, MAX_TEST_HOOKS).unwrap();
        drop((b, c));
        assert!(Slot::take(&TEST_HOOKS, MAX_TEST_HOOKS).is_some());
    }
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct CreateApiKeyRequest {
    name: String,
    scope: String,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CreateApiKeyResponse {
    name: String,
    scope: crate::apikeys::Scope,
    /// The key itself: shown here once, never again.
    key: String,
    #[serde(with = "i64s")]
    created_ms: i64,
}

#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
struct ApiKeyName {
    name: String,
}

fn key_error(e: crate::apikeys::KeyError) -> ApiError {
    use crate::apikeys::KeyError;
    match e {
        KeyError::Invalid(m) => ApiError::invalid(m),
        KeyError::NotFound(m) => ApiError::not_found(m),
        KeyError::Exists(m) => ApiError::new(Code::AlreadyExists, m),
        KeyError::Io(m) => ApiError::internal(m),
    }
}

/// CreateApiKey `{name, scope}` (scope `read`, `backup` or `admin`) → the new key, once.
pub(super) fn create_api_key(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: CreateApiKeyRequest = decode(body)?;
    let scope = crate::apikeys::Scope::parse(&r.scope).ok_or_else(|| {
        ApiError::invalid(format!(
            "scope {:?}: expected \"read\", \"backup\" or \"admin\"",
            r.scope
        ))
    })?;
    let now = crate::util::now_ms();
    let key = app
        .api_keys
        .create(&r.name, scope, now)
        .map_err(key_error)?;
    log::info!("API key {:?} ({}) created", r.name, scope.name());
    encode(&CreateApiKeyResponse {
        name: r.name,
        scope,
        key,
        created_ms: now,
    })
}

/// ListApiKeys `{}` → `{keys: [{name, scope, createdMs}]}` (never a key or its hash).
pub(super) fn list_api_keys(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    decode::<serde_json::Value>(body)?;
    #[derive(Serialize)]
    struct ListApiKeysResponse {
        keys: Vec<crate::apikeys::KeyInfo>,
    }
    let keys = app.api_keys.list().map_err(key_error)?;
    encode(&ListApiKeysResponse { keys })
}

/// RevokeApiKey `{name}`: the key stops working at once.
pub(super) fn revoke_api_key(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: ApiKeyName = decode(body)?;
    app.api_keys.revoke(&r.name).map_err(key_error)?;
    log::info!("API key {:?} revoked", r.name);
    Ok(b"{}".to_vec())
}
