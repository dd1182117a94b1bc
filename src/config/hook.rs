//! Backrest's `Hook` message (docs/COMPATIBILITY.md §3, §8) as typed values, parsed from the JSON the config
//! keeps verbatim. The config owns the hook's schema; `hooks` fires them. Field names are accepted in proto3 JSON form (`onError`, `webhookUrl`) and in
//! the original snake_case (`on_error`, `webhook_url`); enums by name or by number.

use serde_json::{Map, Value};
use std::fmt;
use std::time::Duration;

/// When a hook fires (docs/COMPATIBILITY.md §8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Condition {
    AnyError,
    SnapshotStart,
    SnapshotEnd,
    SnapshotError,
    SnapshotWarning,
    SnapshotSuccess,
    SnapshotSkipped,
    PruneStart,
    PruneError,
    PruneSuccess,
    CheckStart,
    CheckError,
    CheckSuccess,
    ForgetStart,
    ForgetError,
    ForgetSuccess,
}

const CONDITIONS: [(Condition, i64, &str); 16] = [
    (Condition::AnyError, 1, "CONDITION_ANY_ERROR"),
    (Condition::SnapshotStart, 2, "CONDITION_SNAPSHOT_START"),
    (Condition::SnapshotEnd, 3, "CONDITION_SNAPSHOT_END"),
    (Condition::SnapshotError, 4, "CONDITION_SNAPSHOT_ERROR"),
    (Condition::SnapshotWarning, 5, "CONDITION_SNAPSHOT_WARNING"),
    (Condition::SnapshotSuccess, 6, "CONDITION_SNAPSHOT_SUCCESS"),
    (Condition::SnapshotSkipped, 7, "CONDITION_SNAPSHOT_SKIPPED"),
    (Condition::PruneStart, 100, "CONDITION_PRUNE_START"),
    (Condition::PruneError, 101, "CONDITION_PRUNE_ERROR"),
    (Condition::PruneSuccess, 102, "CONDITION_PRUNE_SUCCESS"),
    (Condition::CheckStart, 200, "CONDITION_CHECK_START"),
    (Condition::CheckError, 201, "CONDITION_CHECK_ERROR"),
    (Condition::CheckSuccess, 202, "CONDITION_CHECK_SUCCESS"),
    (Condition::ForgetStart, 300, "CONDITION_FORGET_START"),
    (Condition::ForgetError, 301, "CONDITION_FORGET_ERROR"),
    (Condition::ForgetSuccess, 302, "CONDITION_FORGET_SUCCESS"),
];

impl Condition {
    /// The proto enum name, e.g. `CONDITION_SNAPSHOT_START`.
    pub fn name(self) -> &'static str {
        CONDITIONS
            .iter()
            .find(|c| c.0 == self)
            .map_or("CONDITION_UNKNOWN", |c| c.2)
    }

    pub fn number(self) -> i64 {
        CONDITIONS.iter().find(|c| c.0 == self).map_or(0, |c| c.1)
    }

    /// From a proto name or number. CONDITION_UNKNOWN (0) is not a condition.
    pub fn from_json(v: &Value) -> Option<Condition> {
        match v {
            Value::String(s) => CONDITIONS.iter().find(|c| c.2 == s).map(|c| c.0),
            Value::Number(n) => {
                let n = n.as_i64()?;
                CONDITIONS.iter().find(|c| c.1 == n).map(|c| c.0)
            }
            _ => None,
        }
    }

    /// A task starting: Healthchecks gets `/start`.
    pub fn is_start(self) -> bool {
        matches!(
            self,
            Self::SnapshotStart | Self::PruneStart | Self::CheckStart | Self::ForgetStart
        )
    }

    /// Something failed: Healthchecks gets `/fail`, Uptime Kuma `down`, ntfy a high priority.
    pub fn is_error(self) -> bool {
        matches!(
            self,
            Self::AnyError
                | Self::SnapshotError
                | Self::PruneError
                | Self::CheckError
                | Self::ForgetError
        )
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a failing hook does to the task that fired it (docs/COMPATIBILITY.md §8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnError {
    #[default]
    Ignore,
    Cancel,
    Fatal,
    Retry1Minute,
    Retry10Minutes,
    RetryExponentialBackoff,
}

const ON_ERRORS: [(OnError, i64, &str); 6] = [
    (OnError::Ignore, 0, "ON_ERROR_IGNORE"),
    (OnError::Cancel, 1, "ON_ERROR_CANCEL"),
    (OnError::Fatal, 2, "ON_ERROR_FATAL"),
    (OnError::Retry1Minute, 100, "ON_ERROR_RETRY_1MINUTE"),
    (OnError::Retry10Minutes, 101, "ON_ERROR_RETRY_10MINUTES"),
    (
        OnError::RetryExponentialBackoff,
        103,
        "ON_ERROR_RETRY_EXPONENTIAL_BACKOFF",
    ),
];

impl OnError {
    pub fn name(self) -> &'static str {
        ON_ERRORS
            .iter()
            .find(|c| c.0 == self)
            .map_or("ON_ERROR_IGNORE", |c| c.2)
    }

    fn from_json(v: &Value) -> Option<OnError> {
        match v {
            Value::Null => Some(OnError::Ignore),
            Value::String(s) => ON_ERRORS.iter().find(|c| c.2 == s).map(|c| c.0),
            Value::Number(n) => {
                let n = n.as_i64()?;
                ON_ERRORS.iter().find(|c| c.1 == n).map(|c| c.0)
            }
            _ => None,
        }
    }

    pub fn is_retry(self) -> bool {
        self.retry_delay(1).is_some()
    }

    /// The wait before retry number `attempt` (1 for the first retry); None if this policy does
    /// not retry. Exponential backoff: 10 s doubling, at most an hour (Backrest's rule).
    pub fn retry_delay(self, attempt: u32) -> Option<Duration> {
        match self {
            OnError::Retry1Minute => Some(Duration::from_secs(60)),
            OnError::Retry10Minutes => Some(Duration::from_secs(600)),
            OnError::RetryExponentialBackoff => {
                let doublings = attempt.saturating_sub(1).min(20);
                Some(Duration::from_secs(10 << doublings).min(Duration::from_secs(3600)))
            }
            _ => None,
        }
    }
}

/// HTTP method of a generic webhook.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// What a hook does. The first eight are Backrest's; `Ntfy` and `UptimeKuma` are footrest's own
/// (`actionNtfy`, `actionUptimeKuma`), which Backrest does not know.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Command {
        command: String,
    },
    Webhook {
        url: String,
        method: Method,
        template: String,
    },
    Discord {
        url: String,
        template: String,
    },
    Gotify {
        base_url: String,
        token: String,
        template: String,
        title_template: String,
        /// None: Backrest's fixed 5.
        priority: Option<i64>,
    },
    Slack {
        url: String,
        template: String,
    },
    Shoutrrr {
        url: String,
        template: String,
    },
    Healthchecks {
        url: String,
        template: String,
    },
    Telegram {
        bot_token: String,
        chat_id: String,
        template: String,
    },
    Ntfy {
        url: String,
        token: String,
        template: String,
        title_template: String,
        priority: Option<i64>,
    },
    UptimeKuma {
        push_url: String,
        template: String,
    },
}

impl Action {
    /// The handler name Backrest puts in a hook operation's name ("command hook plan/x/hook/0").
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Command { .. } => "command",
            Action::Webhook { .. } => "webhook",
            Action::Discord { .. } => "discord",
            Action::Gotify { .. } => "gotify",
            Action::Slack { .. } => "slack",
            Action::Shoutrrr { .. } => "shoutrrr",
            Action::Healthchecks { .. } => "healthchecks",
            Action::Telegram { .. } => "telegram",
            Action::Ntfy { .. } => "ntfy",
            Action::UptimeKuma { .. } => "uptimekuma",
        }
    }

    /// Every template of the action, with the field it came from.
    pub fn templates(&self) -> Vec<(&'static str, &str)> {
        match self {
            Action::Command { command } => vec![("command", command)],
            Action::Gotify {
                template,
                title_template,
                ..
            }
            | Action::Ntfy {
                template,
                title_template,
                ..
            } => vec![("template", template), ("titleTemplate", title_template)],
            Action::Webhook { template, .. }
            | Action::Discord { template, .. }
            | Action::Slack { template, .. }
            | Action::Shoutrrr { template, .. }
            | Action::Healthchecks { template, .. }
            | Action::Telegram { template, .. }
            | Action::UptimeKuma { template, .. } => vec![("template", template)],
        }
    }
}

/// A repo's or a plan's hooks: the JSON as the config file has it (written back unchanged) and
/// each hook parsed once, when the config is read or changed. A hook that does not parse keeps
/// its reason: validation reports it, firing skips it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hooks(Vec<(Value, Result<Hook, String>)>);

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn clear(&mut self) {
        self.0.clear();
    }

    /// Each hook, parsed or with the reason it does not parse.
    pub fn parsed(&self) -> impl Iterator<Item = &Result<Hook, String>> {
        self.0.iter().map(|(_, h)| h)
    }
}

impl From<Vec<Value>> for Hooks {
    fn from(raw: Vec<Value>) -> Self {
        Hooks(
            raw.into_iter()
                .map(|v| {
                    let h = Hook::parse(&v);
                    (v, h)
                })
                .collect(),
        )
    }
}

impl serde::Serialize for Hooks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|(v, _)| v))
    }
}

impl<'de> serde::Deserialize<'de> for Hooks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Value>::deserialize(d).map(Hooks::from)
    }
}

/// One hook of a repo or plan.
#[derive(Clone, Debug, PartialEq)]
pub struct Hook {
    pub conditions: Vec<Condition>,
    pub on_error: OnError,
    pub action: Action,
}

/// The action keys footrest knows; any other `action…` key is reported as unsupported.
const ACTIONS: [(&str, &str); 10] = [
    ("actionCommand", "action_command"),
    ("actionWebhook", "action_webhook"),
    ("actionDiscord", "action_discord"),
    ("actionGotify", "action_gotify"),
    ("actionSlack", "action_slack"),
    ("actionShoutrrr", "action_shoutrrr"),
    ("actionHealthchecks", "action_healthchecks"),
    ("actionTelegram", "action_telegram"),
    ("actionNtfy", "action_ntfy"),
    ("actionUptimeKuma", "action_uptime_kuma"),
];

impl Hook {
    /// Parses one entry of a repo's or plan's `hooks`. The message names the field at fault.
    pub fn parse(v: &Value) -> Result<Hook, String> {
        let obj = v
            .as_object()
            .ok_or_else(|| "must be an object".to_string())?;
        let mut conditions = Vec::new();
        match field(obj, "conditions", "conditions") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for c in items {
                    let cond =
                        Condition::from_json(c).ok_or_else(|| format!("unknown condition {c}"))?;
                    if !conditions.contains(&cond) {
                        conditions.push(cond);
                    }
                }
            }
            Some(_) => return Err("conditions must be a list".into()),
        }
        let on_error = match field(obj, "onError", "on_error") {
            None => OnError::Ignore,
            Some(v) => OnError::from_json(v).ok_or_else(|| format!("unknown onError {v}"))?,
        };
        let present: Vec<&(&str, &str)> = ACTIONS
            .iter()
            .filter(|(camel, snake)| field(obj, camel, snake).is_some_and(|v| !v.is_null()))
            .collect();
        if let Some(other) = obj
            .keys()
            .find(|k| k.starts_with("action") && !ACTIONS.iter().any(|(c, s)| c == k || s == k))
        {
            return Err(format!("{other} is not supported by footrest"));
        }
        let (camel, snake) = match present.as_slice() {
            [one] => **one,
            [] => return Err("no action (e.g. actionCommand, actionWebhook) is set".into()),
            _ => {
                let names: Vec<&str> = present.iter().map(|a| a.0).collect();
                return Err(format!(
                    "only one action may be set, found {}",
                    names.join(", ")
                ));
            }
        };
        let a = field(obj, camel, snake)
            .and_then(Value::as_object)
            .ok_or_else(|| format!("{camel} must be an object"))?;
        let s = |camel_key: &str, snake_key: &str| -> Result<String, String> {
            match field(a, camel_key, snake_key) {
                None | Some(Value::Null) => Ok(String::new()),
                Some(Value::String(s)) => Ok(s.clone()),
                Some(_) => Err(format!("{camel}.{camel_key} must be a string")),
            }
        };
        let int = |camel_key: &str| -> Result<Option<i64>, String> {
            match field(a, camel_key, camel_key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Number(n)) => n
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("{camel}.{camel_key} must be an integer")),
                Some(Value::String(t)) => t
                    .parse()
                    .map(Some)
                    .map_err(|_| format!("{camel}.{camel_key} must be an integer")),
                Some(_) => Err(format!("{camel}.{camel_key} must be an integer")),
            }
        };
        let template = || s("template", "template");
        let action = match camel {
            "actionCommand" => Action::Command {
                command: s("command", "command")?,
            },
            "actionWebhook" => Action::Webhook {
                url: s("webhookUrl", "webhook_url")?,
                method: match field(a, "method", "method") {
                    None | Some(Value::Null) => Method::Post,
                    Some(Value::String(m)) if m == "GET" => Method::Get,
                    Some(Value::String(m)) if m == "POST" || m == "UNKNOWN" => Method::Post,
                    Some(Value::Number(n)) if n.as_i64() == Some(1) => Method::Get,
                    Some(Value::Number(n)) if matches!(n.as_i64(), Some(0 | 2)) => Method::Post,
                    Some(m) => return Err(format!("actionWebhook.method {m} is not GET or POST")),
                },
                template: template()?,
            },
            "actionDiscord" => Action::Discord {
                url: s("webhookUrl", "webhook_url")?,
                template: template()?,
            },
            "actionGotify" => Action::Gotify {
                base_url: s("baseUrl", "base_url")?,
                token: s("token", "token")?,
                template: template()?,
                title_template: s("titleTemplate", "title_template")?,
                priority: int("priority")?,
            },
            "actionSlack" => Action::Slack {
                url: s("webhookUrl", "webhook_url")?,
                template: template()?,
            },
            "actionShoutrrr" => Action::Shoutrrr {
                url: s("shoutrrrUrl", "shoutrrr_url")?,
                template: template()?,
            },
            "actionHealthchecks" => Action::Healthchecks {
                url: s("webhookUrl", "webhook_url")?,
                template: template()?,
            },
            "actionTelegram" => Action::Telegram {
                bot_token: s("botToken", "bot_token")?,
                chat_id: s("chatId", "chat_id")?,
                template: template()?,
            },
            "actionNtfy" => Action::Ntfy {
                url: s("url", "url")?,
                token: s("token", "token")?,
                template: template()?,
                title_template: s("titleTemplate", "title_template")?,
                priority: int("priority")?,
            },
            _ => Action::UptimeKuma {
                push_url: s("pushUrl", "push_url")?,
                template: template()?,
            },
        };
        Ok(Hook {
            conditions,
            on_error,
            action,
        })
    }

    /// The first of `events` (in the caller's order) that this hook listens to.
    pub fn first_matching(&self, events: &[Condition]) -> Option<Condition> {
        events.iter().copied().find(|e| self.conditions.contains(e))
    }
}

fn field<'a>(obj: &'a Map<String, Value>, camel: &str, snake: &str) -> Option<&'a Value> {
    obj.get(camel).or_else(|| obj.get(snake))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn hooks_parse_from_proto_json_and_snake_case() {
        let h = Hook::parse(&json!({
            "conditions": ["CONDITION_SNAPSHOT_START", 6, "CONDITION_SNAPSHOT_START"],
            "onError": "ON_ERROR_RETRY_EXPONENTIAL_BACKOFF",
            "actionCommand": {"command": "echo hi"}
        }))
        .unwrap();
        assert_eq!(
            h.conditions,
            vec![Condition::SnapshotStart, Condition::SnapshotSuccess]
        );
        assert_eq!(h.on_error, OnError::RetryExponentialBackoff);
        assert_eq!(
            h.action,
            Action::Command {
                command: "echo hi".into()
            }
        );
        let h = Hook::parse(&json!({
            "conditions": [4],
            "on_error": 2,
            "action_gotify": {"base_url": "https://g", "token": "t", "priority": "7"}
        }))
        .unwrap();
        assert_eq!(h.on_error, OnError::Fatal);
        assert!(matches!(
            h.action,
            Action::Gotify {
                priority: Some(7),
                ..
            }
        ));
        let h = Hook::parse(&json!({"actionWebhook": {"webhookUrl": "http://x", "method": "GET"}}))
            .unwrap();
        assert_eq!(h.on_error, OnError::Ignore);
        assert!(matches!(
            h.action,
            Action::Webhook {
                method: Method::Get,
                ..
            }
        ));
    }

    #[test]
    fn bad_hooks_name_what_is_wrong() {
        let e = |v: Value| Hook::parse(&v).unwrap_err();
        assert_eq!(e(json!("x")), "must be an object");
        assert_eq!(
            e(json!({"conditions": ["CONDITION_NOPE"], "actionCommand": {}})),
            "unknown condition \"CONDITION_NOPE\""
        );
        assert_eq!(
            e(json!({"onError": "ON_ERROR_PANIC", "actionCommand": {}})),
            "unknown onError \"ON_ERROR_PANIC\""
        );
        assert_eq!(
            e(json!({"conditions": []})),
            "no action (e.g. actionCommand, actionWebhook) is set"
        );
        assert_eq!(
            e(json!({"actionCommand": {}, "actionDiscord": {}})),
            "only one action may be set, found actionCommand, actionDiscord"
        );
        assert_eq!(
            e(json!({"actionPushover": {"token": "x"}})),
            "actionPushover is not supported by footrest"
        );
        assert_eq!(
            e(json!({"actionCommand": {"command": 5}})),
            "actionCommand.command must be a string"
        );
    }

    #[test]
    fn conditions_match_in_the_callers_order() {
        let h = Hook::parse(&json!({
            "conditions": ["CONDITION_SNAPSHOT_END", "CONDITION_SNAPSHOT_SUCCESS"],
            "actionCommand": {"command": "true"}
        }))
        .unwrap();
        let fired = [
            Condition::SnapshotSkipped,
            Condition::SnapshotSuccess,
            Condition::SnapshotEnd,
        ];
        assert_eq!(h.first_matching(&fired), Some(Condition::SnapshotSuccess));
        assert_eq!(h.first_matching(&[Condition::PruneStart]), None);
    }

    #[test]
    fn retry_delays_follow_backrest() {
        let d = |p: OnError, n| p.retry_delay(n).map(|d| d.as_secs());
        assert_eq!(d(OnError::Retry1Minute, 5), Some(60));
        assert_eq!(d(OnError::Retry10Minutes, 1), Some(600));
        let exp: Vec<_> = (1..=11)
            .map(|n| d(OnError::RetryExponentialBackoff, n).unwrap())
            .collect();
        assert_eq!(exp, [10, 20, 40, 80, 160, 320, 640, 1280, 2560, 3600, 3600]);
        assert_eq!(d(OnError::RetryExponentialBackoff, 1000), Some(3600));
        assert_eq!(d(OnError::Fatal, 1), None);
        assert!(!OnError::Cancel.is_retry());
    }

    #[test]
    fn condition_names_and_numbers_round_trip() {
        for (c, n, name) in CONDITIONS {
            assert_eq!(Condition::from_json(&json!(n)), Some(c));
            assert_eq!(Condition::from_json(&json!(name)), Some(c));
            assert_eq!(c.name(), name);
            assert_eq!(c.number(), n);
        }
        assert_eq!(Condition::from_json(&json!(0)), None);
    }
}
