//! Hooks (docs/COMPATIBILITY.md §8): commands and notifications fired by backups, prunes, checks and forgets.
//!
//! Owns: the checks of a hook's action that need its sender ([`action_problems`], which the
//! daemon hands to the config store: the hook's typed form and shape are `config::hook`'s), the
//! variables templates see ([`vars`]), the
//! senders ([`command`], [`send`], [`shoutrrr`], over [`http`]), and [`run::fire`], which runs the
//! hooks that match an event — repo hooks first, then plan hooks — each recorded as an
//! `operationRunHook` operation with its own log, and tells the caller what the hooks' `onError`
//! policies ask of the task (go on, cancel, fail, retry later).
//!
//! Runs on the worker thread (the orchestrator fires hooks around its tasks, one hook at a time,
//! each bounded by a timeout) and in the `footrest hook test` command ([`cli`]). Secrets —
//! tokens and webhook URLs, which carry keys — never reach logs, errors or operation messages:
//! a URL is shown as `scheme://host[:port]` only.

pub mod cli;
pub mod command;
pub mod http;
pub mod run;
pub mod send;
pub mod shoutrrr;
pub mod url;
pub mod vars;

pub use crate::config::hook::{Action, Condition, Hook, Method, OnError};
pub use run::{Outcome, fire};
pub use vars::Vars;

use std::fmt;
use std::time::Duration;

/// Why one hook failed. Messages are short and hold no secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum HookError {
    /// A template could not be parsed or rendered; the error has its `line:col`.
    Template {
        field: &'static str,
        error: crate::template::Error,
    },
    /// The hook's settings cannot work (an empty URL, an unsupported Shoutrrr service).
    Config(String),
    /// An HTTP hook's request failed.
    Http(http::HttpError),
    /// A command hook failed: its exit status, a signal, a timeout.
    Command(String),
}

impl fmt::Display for HookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Template { field, error } => write!(f, "rendering {field}: {error}"),
            Self::Config(m) | Self::Command(m) => f.write_str(m),
            Self::Http(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for HookError {}

/// Timeouts and endpoints, from the environment (see README, "Hooks").
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// A whole HTTP exchange (`FOOTREST_HOOK_HTTP_TIMEOUT`, seconds, default 30).
    pub http_timeout: Duration,
    /// Connecting (10 s, or the HTTP timeout when shorter).
    pub connect_timeout: Duration,
    /// A command hook (`FOOTREST_HOOK_COMMAND_TIMEOUT`, seconds, default 3600).
    pub command_timeout: Duration,
    /// Multiplies retry delays (`FOOTREST_HOOK_RETRY_SCALE`, default 1; tests use a small one).
    pub retry_scale: f64,
    /// Telegram's Bot API (`FOOTREST_TELEGRAM_API`, default `https://api.telegram.org`).
    pub telegram_api: String,
    /// Discord, for `discord://` Shoutrrr URLs (`FOOTREST_DISCORD_API`).
    pub discord_api: String,
    /// Slack's incoming webhooks, for `slack://` Shoutrrr URLs (`FOOTREST_SLACK_API`).
    pub slack_api: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            http_timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            command_timeout: Duration::from_secs(3600),
            retry_scale: 1.0,
            telegram_api: "https://api.telegram.org".into(),
            discord_api: "https://discord.com".into(),
            slack_api: "https://hooks.slack.com".into(),
        }
    }
}

impl Settings {
    /// The defaults, with any of the environment variables above applied. A value that does not
    /// parse is reported and ignored.
    pub fn from_env() -> Settings {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let mut s = Settings::default();
        let secs = |key: &str| -> Option<Duration> {
            let v = env(key)?;
            match crate::util::parse_f64(&v).ok_or(()) {
                Ok(n) if n > 0.0 && n < 1e9 => Some(Duration::from_secs_f64(n)),
                _ => {
                    log::warn!("{key}={v:?} is not a positive number of seconds; ignored");
                    None
                }
            }
        };
        if let Some(d) = secs("FOOTREST_HOOK_HTTP_TIMEOUT") {
            s.http_timeout = d;
            s.connect_timeout = s.connect_timeout.min(d);
        }
        if let Some(d) = secs("FOOTREST_HOOK_COMMAND_TIMEOUT") {
            s.command_timeout = d;
        }
        if let Some(v) = env("FOOTREST_HOOK_RETRY_SCALE") {
            match crate::util::parse_f64(&v).ok_or(()) {
                Ok(n) if n > 0.0 && n <= 1e6 => s.retry_scale = n,
                _ => {
                    log::warn!("FOOTREST_HOOK_RETRY_SCALE={v:?} is not a positive number; ignored")
                }
            }
        }
        for (key, field) in [
            ("FOOTREST_TELEGRAM_API", &mut s.telegram_api),
            ("FOOTREST_DISCORD_API", &mut s.discord_api),
            ("FOOTREST_SLACK_API", &mut s.slack_api),
        ] {
            if let Some(v) = env(key).filter(|v| !v.trim().is_empty()) {
                *field = v.trim().trim_end_matches('/').to_string();
            }
        }
        s
    }

    pub fn http_timeouts(&self) -> http::Timeouts {
        http::Timeouts {
            connect: self.connect_timeout,
            total: self.http_timeout,
        }
    }

    /// The wait before retry number `attempt` under `policy`, scaled.
    pub fn retry_delay(&self, policy: OnError, attempt: u32) -> Option<Duration> {
        policy
            .retry_delay(attempt)
            .map(|d| Duration::from_secs_f64((d.as_secs_f64() * self.retry_scale).max(0.001)))
    }
}

/// What would stop a parsed hook's action from working when fired: unusable URLs, missing
/// tokens, templates that do not parse.
pub fn action_problems(h: &Hook) -> Vec<String> {
    let mut out = Vec::new();
    let url = |field: &str, u: &str, out: &mut Vec<String>| {
        if let Err(e) = send::check_http_url(field, u) {
            out.push(e.to_string());
        }
    };
    match &h.action {
        Action::Command { command } if command.trim().is_empty() => {
            out.push("actionCommand.command is empty".into())
        }
        Action::Command { .. } => {}
        Action::Webhook { url: u, .. }
        | Action::Discord { url: u, .. }
        | Action::Slack { url: u, .. }
        | Action::Healthchecks { url: u, .. } => url("webhookUrl", u, &mut out),
        Action::Gotify {
            base_url, token, ..
        } => {
            url("baseUrl", base_url, &mut out);
            if token.is_empty() {
                out.push("actionGotify.token is empty".into());
            }
        }
        Action::Telegram {
            bot_token, chat_id, ..
        } => {
            if bot_token.is_empty() {
                out.push("actionTelegram.botToken is empty".into());
            }
            if chat_id.is_empty() {
                out.push("actionTelegram.chatId is empty".into());
            }
        }
        Action::Ntfy { url: u, .. } => {
            url("url", u, &mut out);
            let topic = u
                .split(['?', '#'])
                .next()
                .and_then(|b| b.split_once("://"))
                .is_some_and(|(_, rest)| rest.trim_end_matches('/').contains('/'));
            if out.is_empty() && !topic {
                out.push("actionNtfy.url must name the topic, e.g. https://ntfy.sh/mytopic".into());
            }
        }
        Action::UptimeKuma { push_url, .. } => url("pushUrl", push_url, &mut out),
        Action::Shoutrrr { url: u, .. } => {
            if let Err(e) = shoutrrr::check(u) {
                out.push(e);
            }
        }
    }
    for (field, t) in h.action.templates() {
        if t.trim_matches(' ').is_empty() {
            continue;
        }
        if let Err(e) = crate::template::Template::parse(t) {
            out.push(format!("{field}: {e}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_come_from_the_environment() {
        let env = |k: &str| match k {
            "FOOTREST_HOOK_HTTP_TIMEOUT" => Some("2.5".to_string()),
            "FOOTREST_HOOK_COMMAND_TIMEOUT" => Some("nope".to_string()),
            "FOOTREST_HOOK_RETRY_SCALE" => Some("0.01".to_string()),
            "FOOTREST_TELEGRAM_API" => Some("http://127.0.0.1:1/".to_string()),
            _ => None,
        };
        let s = Settings::from_lookup(&env);
        assert_eq!(s.http_timeout, Duration::from_millis(2500));
        assert_eq!(s.connect_timeout, Duration::from_millis(2500));
        assert_eq!(s.command_timeout, Duration::from_secs(3600));
        assert_eq!(s.telegram_api, "http://127.0.0.1:1");
        assert_eq!(
            s.retry_delay(OnError::Retry1Minute, 1),
            Some(Duration::from_millis(600))
        );
        assert_eq!(s.retry_delay(OnError::Ignore, 1), None);
    }

    #[test]
    fn config_problems_name_the_owner_the_hook_and_the_field() {
        let config: crate::config::Config = serde_json::from_value(json!({
            "repos": [{"id": "r", "uri": "/x", "autoInitialize": true, "hooks": [
                {"conditions": ["CONDITION_PRUNE_ERROR"], "actionDiscord": {"webhookUrl": ""}},
                {"conditions": ["CONDITION_ANY_ERROR"], "actionShoutrrr": {"shoutrrrUrl": "pushover://x@y"}}
            ]}],
            "plans": [{"id": "p", "repo": "r", "paths": ["/"], "hooks": [
                {"conditions": ["CONDITION_SNAPSHOT_START"], "actionCommand": {"command": "echo {{ .Plan.Id"}},
                {"actionCommand": {"command": "true"}},
                {"conditions": ["CONDITION_SNAPSHOT_END"], "actionGotify": {"baseUrl": "https://g", "token": "t", "titleTemplate": "{{ end }}"}},
                {"conditions": ["CONDITION_SNAPSHOT_END"], "actionNtfy": {"url": "https://ntfy.sh"}},
                {"conditions": ["CONDITION_SNAPSHOT_END"], "onError": "ON_ERROR_CANCEL", "actionHealthchecks": {"webhookUrl": "https://hc-ping.com/abc"}}
            ]}]
        }))
        .unwrap();
        let hook_lines = |checked: Option<crate::config::HookCheck>| -> Vec<String> {
            let e = config.validate_with(checked).unwrap_err();
            e.0.into_iter().filter(|m| m.contains(": hooks[")).collect()
        };
        // Without the senders' checks the config sees only the hooks' shape.
        assert_eq!(
            hook_lines(None),
            ["plan \"p\": hooks[1]: no conditions: the hook would never run"]
        );
        assert_eq!(
            hook_lines(Some(action_problems)),
            vec![
                "repo \"r\": hooks[0]: webhookUrl is empty",
                "repo \"r\": hooks[1]: shoutrrrUrl: service \"pushover\" is not supported by footrest (supported: ntfy, gotify, discord, telegram, slack, generic)",
                "plan \"p\": hooks[0]: command: template:1:6: unclosed action",
                "plan \"p\": hooks[1]: no conditions: the hook would never run",
                "plan \"p\": hooks[2]: titleTemplate: template:1:4: unexpected {{end}}",
                "plan \"p\": hooks[3]: actionNtfy.url must name the topic, e.g. https://ntfy.sh/mytopic",
            ]
        );
    }
}
