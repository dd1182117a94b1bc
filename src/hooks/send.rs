//! What each HTTP hook sends (docs/COMPATIBILITY.md §8): the rendered message turned into requests. Pure
//! functions, so the exact method, URL, headers and body of every sender are unit-tested.

use super::http::Request;
use super::shoutrrr;
use super::url::{self, Url};
use super::{HookError, Settings};
use crate::config::hook::{Action, Condition, Method};
use crate::template::backrest::render;
use serde_json::{Value, json};

/// Discord refuses messages longer than this (characters).
pub const DISCORD_MAX: usize = 2000;
/// Telegram refuses messages longer than this (characters).
pub const TELEGRAM_MAX: usize = 4096;
/// Uptime Kuma keeps a short message per beat.
const KUMA_MAX: usize = 250;

/// Renders `template` (blank = `{{ .Summary }}`), naming the field on failure.
pub fn render_field(
    field: &'static str,
    template: &str,
    vars: &Value,
) -> Result<String, HookError> {
    render(template, vars).map_err(|error| HookError::Template { field, error })
}

/// Renders a title template; blank means `default`.
fn render_title(template: &str, default: &str, vars: &Value) -> Result<String, HookError> {
    if template.trim_matches(' ').is_empty() {
        return Ok(default.to_string());
    }
    render_field("titleTemplate", template, vars)
}

/// The requests an HTTP hook sends for `event` (several for a Shoutrrr Telegram URL with many
/// chats). Returns the rendered message too, for the hook's log.
pub fn requests(
    action: &Action,
    event: Condition,
    vars: &Value,
    settings: &Settings,
) -> Result<(String, Vec<Request>), HookError> {
    let text = |t: &str| render_field("template", t, vars);
    let config = |m: String| HookError::Config(m);
    Ok(match action {
        Action::Command { .. } => return Err(config("a command hook sends no request".into())),
        Action::Webhook {
            url,
            method,
            template,
        } => {
            check_http_url("webhookUrl", url)?;
            match method {
                Method::Get => (String::new(), vec![Request::get(url.clone())]),
                Method::Post => {
                    let body = text(template)?;
                    let ct = if serde_json::from_str::<Value>(&body).is_ok() {
                        "application/json"
                    } else {
                        "text/plain; charset=utf-8"
                    };
                    (body.clone(), vec![Request::post(url.clone(), ct, body)])
                }
            }
        }
        Action::Discord { url, template } => {
            check_http_url("webhookUrl", url)?;
            let body = text(template)?;
            (body.clone(), vec![discord(url.clone(), &body)])
        }
        Action::Slack { url, template } => {
            check_http_url("webhookUrl", url)?;
            let body = text(template)?;
            (body.clone(), vec![slack(url.clone(), &body)])
        }
        Action::Gotify {
            base_url,
            token,
            template,
            title_template,
            priority,
        } => {
            check_http_url("baseUrl", base_url)?;
            let body = text(template)?;
            let title = render_title(title_template, "Backrest Event", vars)?;
            let req = gotify(base_url, token, &title, &body, priority.unwrap_or(5));
            (body, vec![req])
        }
        Action::Healthchecks { url, template } => {
            check_http_url("webhookUrl", url)?;
            let body = text(template)?;
            let ping = format!(
                "{}{}",
                url.trim_end_matches('/'),
                healthchecks_suffix(event)
            );
            let req = Request::post(ping, "text/plain; charset=utf-8", body.clone());
            (body, vec![req])
        }
        Action::Telegram {
            bot_token,
            chat_id,
            template,
        } => {
            if bot_token.is_empty() || chat_id.is_empty() {
                return Err(config("actionTelegram needs botToken and chatId".into()));
            }
            let body = text(template)?;
            let req = telegram(
                &settings.telegram_api,
                bot_token,
                chat_id,
                &body,
                Some("HTML"),
            );
            (body, vec![req])
        }
        Action::Ntfy {
            url,
            token,
            template,
            title_template,
            priority,
        } => {
            check_http_url("url", url)?;
            let body = text(template)?;
            let title = render_title(title_template, "", vars)?;
            let (server, topic) = split_topic(url)?;
            let priority = priority.unwrap_or(if event.is_error() { 4 } else { 3 });
            let mut req = ntfy(&server, &topic, &title, &body, priority, &[]);
            if !token.is_empty() {
                req = req.header("Authorization", format!("Bearer {token}"));
                req.secrets.push(token.clone());
            }
            (body, vec![req])
        }
        Action::UptimeKuma { push_url, template } => {
            check_http_url("pushUrl", push_url)?;
            let body = text(template)?;
            let req = uptime_kuma(push_url, event, &body);
            (body, vec![req])
        }
        Action::Shoutrrr { url, template } => {
            let body = text(template)?;
            let reqs = shoutrrr::requests(url, event, &body, settings)?;
            (body, reqs)
        }
    })
}

/// Refuses what cannot be an http(s) URL, without showing it.
pub fn check_http_url(field: &str, u: &str) -> Result<(), HookError> {
    let ok = Url::parse(u)
        .ok()
        .filter(|p| matches!(p.scheme.as_str(), "http" | "https") && !p.host.is_empty());
    match ok {
        Some(_) => Ok(()),
        None if u.trim().is_empty() => Err(HookError::Config(format!("{field} is empty"))),
        None => Err(HookError::Config(format!(
            "{field} must be an http:// or https:// URL"
        ))),
    }
}

/// Cuts `text` to `max` characters, marking the cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

pub fn discord(url: String, text: &str) -> Request {
    Request::json(url, &json!({"content": truncate(text, DISCORD_MAX)}))
}

/// Slack: a message that is already JSON (blocks, attachments) is sent as is.
pub fn slack(url: String, text: &str) -> Request {
    if serde_json::from_str::<Value>(text).is_ok_and(|v| v.is_object()) {
        return Request::post(url, "application/json", text.to_string());
    }
    Request::json(url, &json!({"text": text}))
}

pub fn gotify(base_url: &str, token: &str, title: &str, message: &str, priority: i64) -> Request {
    let u = format!(
        "{}/message?token={}",
        base_url.trim_end_matches('/'),
        url::encode(token)
    );
    let mut req = Request::json(
        u,
        &json!({"message": message, "title": title, "priority": priority}),
    );
    req.secrets.push(token.to_string());
    req
}

pub fn telegram(
    api: &str,
    token: &str,
    chat: &str,
    text: &str,
    parse_mode: Option<&str>,
) -> Request {
    let mut body = json!({"chat_id": chat, "text": truncate(text, TELEGRAM_MAX)});
    if let Some(m) = parse_mode {
        body["parse_mode"] = json!(m);
    }
    let mut req = Request::json(
        format!("{}/bot{token}/sendMessage", api.trim_end_matches('/')),
        &body,
    );
    req.secrets.push(token.to_string());
    req
}

/// ntfy's JSON publishing: POST to the server root with the topic in the body, so titles and
/// messages may hold any characters.
pub fn ntfy(
    server: &str,
    topic: &str,
    title: &str,
    message: &str,
    priority: i64,
    tags: &[String],
) -> Request {
    let mut body = json!({"topic": topic, "message": message, "priority": priority.clamp(1, 5)});
    if !title.is_empty() {
        body["title"] = json!(title);
    }
    if !tags.is_empty() {
        body["tags"] = json!(tags);
    }
    let mut req = Request::json(format!("{}/", server.trim_end_matches('/')), &body);
    req.secrets.push(topic.to_string());
    req
}

/// `https://ntfy.sh/alerts` → (`https://ntfy.sh`, `alerts`).
fn split_topic(u: &str) -> Result<(String, String), HookError> {
    let base = u
        .split(['?', '#'])
        .next()
        .unwrap_or_default()
        .trim_end_matches('/');
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", base));
    match rest.rsplit_once('/') {
        Some((server, topic)) if !topic.is_empty() => {
            Ok((format!("{scheme}://{server}"), url::decode(topic)))
        }
        _ => Err(HookError::Config(
            "url must name the topic, e.g. https://ntfy.sh/mytopic".into(),
        )),
    }
}

/// Healthchecks' ping endpoints: `/start`, `/fail`, `/log` (SNAPSHOT_END), or the bare URL.
pub fn healthchecks_suffix(event: Condition) -> &'static str {
    if event.is_start() {
        "/start"
    } else if event.is_error() {
        "/fail"
    } else if event == Condition::SnapshotEnd {
        "/log"
    } else {
        ""
    }
}

/// Uptime Kuma push monitors: GET with `status=up|down` and a short message; any query the push
/// URL already has (the UI shows `?status=up&msg=OK&ping=`) is replaced.
pub fn uptime_kuma(push_url: &str, event: Condition, text: &str) -> Request {
    let base = push_url.split(['?', '#']).next().unwrap_or_default();
    let status = if event.is_error() { "down" } else { "up" };
    let msg = truncate(text.trim(), KUMA_MAX);
    Request::get(format!(
        "{base}?status={status}&msg={}&ping=",
        url::encode(&msg)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::hook::Hook;
    use serde_json::json;

    fn vars(event: Condition) -> Value {
        json!({"Task": "backup for plan \"p\"", "Event": event.name(), "Repo": {"Id": "r"},
               "Plan": {"Id": "p", "Paths": ["/a"]}, "SnapshotId": "", "SnapshotStats": null,
               "CurTime": "2024-01-02T03:04:05Z", "Duration": "1s", "Error": "boom"})
    }

    fn reqs(hook: Value, event: Condition) -> Vec<Request> {
        let h = Hook::parse(&hook).unwrap();
        let s = Settings {
            telegram_api: "http://tg.test".into(),
            ..Settings::default()
        };
        requests(&h.action, event, &vars(event), &s).unwrap().1
    }

    fn body(r: &Request) -> Value {
        serde_json::from_slice(&r.body.as_ref().unwrap().1).unwrap()
    }

    #[test]
    fn discord_slack_and_webhooks() {
        let r = reqs(
            json!({"actionDiscord": {"webhookUrl": "https://d/api/webhooks/1/k", "template": "hi {{ .Plan.Id }}"}}),
            Condition::SnapshotStart,
        );
        assert_eq!(
            (r[0].method, r[0].url.as_str()),
            (
                crate::hooks::http::Method::Post,
                "https://d/api/webhooks/1/k"
            )
        );
        assert_eq!(body(&r[0]), json!({"content": "hi p"}));
        let r = reqs(
            json!({"actionSlack": {"webhookUrl": "https://s/x", "template": "plain"}}),
            Condition::SnapshotStart,
        );
        assert_eq!(body(&r[0]), json!({"text": "plain"}));
        let r = reqs(
            json!({"actionSlack": {"webhookUrl": "https://s/x", "template": "{\"blocks\": []}"}}),
            Condition::SnapshotStart,
        );
        assert_eq!(body(&r[0]), json!({"blocks": []}));
        let r = reqs(
            json!({"actionWebhook": {"webhookUrl": "http://w/h", "template": "{\"e\": \"{{ .EventName .Event }}\"}"}}),
            Condition::PruneError,
        );
        assert_eq!(r[0].body.as_ref().unwrap().0, "application/json");
        assert_eq!(body(&r[0]), json!({"e": "prune error"}));
        let r = reqs(
            json!({"actionWebhook": {"webhookUrl": "http://w/h", "template": "text"}}),
            Condition::PruneError,
        );
        assert_eq!(r[0].body.as_ref().unwrap().0, "text/plain; charset=utf-8");
        let r = reqs(
            json!({"actionWebhook": {"webhookUrl": "http://w/h?a=1", "method": "GET"}}),
            Condition::PruneError,
        );
        assert_eq!(
            (r[0].method, r[0].url.as_str(), r[0].body.is_none()),
            (crate::hooks::http::Method::Get, "http://w/h?a=1", true)
        );
        let long = "x".repeat(3000);
        assert_eq!(
            discord("http://d".into(), &long).body_text().len(),
            "{\"content\":\"\"}".len() + 1999 + "…".len()
        );
    }

    #[test]
    fn gotify_telegram_and_healthchecks() {
        let r = reqs(
            json!({"actionGotify": {"baseUrl": "https://g/", "token": "a b", "template": "m", "titleTemplate": "t {{ .Plan.Id }}"}}),
            Condition::SnapshotError,
        );
        assert_eq!(r[0].url, "https://g/message?token=a%20b");
        assert_eq!(
            body(&r[0]),
            json!({"message": "m", "title": "t p", "priority": 5})
        );
        let r = reqs(
            json!({"actionGotify": {"baseUrl": "https://g", "token": "k", "template": "m", "priority": 8}}),
            Condition::SnapshotError,
        );
        assert_eq!(
            body(&r[0]),
            json!({"message": "m", "title": "Backrest Event", "priority": 8})
        );
        let r = reqs(
            json!({"actionTelegram": {"botToken": "123:AB", "chatId": "-42", "template": "<b>{{ .Error }}</b>"}}),
            Condition::AnyError,
        );
        assert_eq!(r[0].url, "http://tg.test/bot123:AB/sendMessage");
        assert_eq!(
            body(&r[0]),
            json!({"chat_id": "-42", "text": "<b>boom</b>", "parse_mode": "HTML"})
        );
        assert_eq!(r[0].describe(), "POST http://tg.test");
        let hc = |e| {
            reqs(
                json!({"actionHealthchecks": {"webhookUrl": "https://hc/uuid/", "template": "x"}}),
                e,
            )[0]
            .url
            .clone()
        };
        assert_eq!(hc(Condition::SnapshotStart), "https://hc/uuid/start");
        assert_eq!(hc(Condition::CheckStart), "https://hc/uuid/start");
        assert_eq!(hc(Condition::SnapshotError), "https://hc/uuid/fail");
        assert_eq!(hc(Condition::AnyError), "https://hc/uuid/fail");
        assert_eq!(hc(Condition::SnapshotEnd), "https://hc/uuid/log");
        assert_eq!(hc(Condition::SnapshotSuccess), "https://hc/uuid");
        assert_eq!(hc(Condition::SnapshotWarning), "https://hc/uuid");
        assert_eq!(hc(Condition::SnapshotSkipped), "https://hc/uuid");
    }

    #[test]
    fn ntfy_and_uptime_kuma() {
        let r = reqs(
            json!({"actionNtfy": {"url": "https://ntfy.sh/my-topic", "token": "tk_1", "template": "m", "titleTemplate": "{{ .Plan.Id }}"}}),
            Condition::SnapshotError,
        );
        assert_eq!(r[0].url, "https://ntfy.sh/");
        assert_eq!(
            body(&r[0]),
            json!({"topic": "my-topic", "message": "m", "title": "p", "priority": 4})
        );
        assert!(
            r[0].headers
                .contains(&("Authorization".into(), "Bearer tk_1".into()))
        );
        let r = reqs(
            json!({"actionNtfy": {"url": "http://n:8080/t", "template": "m"}}),
            Condition::SnapshotSuccess,
        );
        assert_eq!(
            body(&r[0]),
            json!({"topic": "t", "message": "m", "priority": 3})
        );
        let k = |e| {
            reqs(json!({"actionUptimeKuma": {"pushUrl": "https://k/api/push/Ab1?status=up&msg=OK&ping=", "template": "done {{ .Plan.Id }}"}}), e)[0].url.clone()
        };
        assert_eq!(
            k(Condition::SnapshotSuccess),
            "https://k/api/push/Ab1?status=up&msg=done%20p&ping="
        );
        assert_eq!(
            k(Condition::SnapshotError),
            "https://k/api/push/Ab1?status=down&msg=done%20p&ping="
        );
    }

    #[test]
    fn template_and_url_problems_are_hook_errors() {
        let h = Hook::parse(&json!({"actionDiscord": {"webhookUrl": "https://d/x", "template": "{{ .Nope.Deeper }}"}})).unwrap();
        let v = vars(Condition::SnapshotStart);
        let mut v2 = v.clone();
        v2["Nope"] = Value::Null;
        let e = requests(
            &h.action,
            Condition::SnapshotStart,
            &v2,
            &Settings::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "rendering template: template:1:4: nil pointer evaluating .Nope.Deeper"
        );
        let h =
            Hook::parse(&json!({"actionDiscord": {"webhookUrl": "discord.com/api/webhooks/x"}}))
                .unwrap();
        let e = requests(
            &h.action,
            Condition::SnapshotStart,
            &v,
            &Settings::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "webhookUrl must be an http:// or https:// URL"
        );
    }
}
