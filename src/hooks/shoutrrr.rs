//! The subset of Shoutrrr URLs (the notification library Backrest's `actionShoutrrr` uses) that
//! footrest sends itself: `ntfy://`, `gotify://`, `discord://`, `telegram://`, `slack://` and
//! `generic://` / `generic+https://` / `generic+http://`. Any other service is refused with a
//! message naming it.

use super::http::Request;
use super::send;
use super::url::{self, Url};
use super::{HookError, Settings};
use crate::config::hook::Condition;
use serde_json::json;

/// The services footrest understands, for messages.
pub const SERVICES: &str = "ntfy, gotify, discord, telegram, slack, generic";

/// Checks a Shoutrrr URL without sending anything (config validation).
pub fn check(u: &str) -> Result<(), String> {
    requests(u, Condition::SnapshotEnd, "test", &Settings::default())
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// The requests that deliver `text` for a Shoutrrr URL.
pub fn requests(
    u: &str,
    event: Condition,
    text: &str,
    settings: &Settings,
) -> Result<Vec<Request>, HookError> {
    let bad = |m: String| HookError::Config(format!("shoutrrrUrl: {m}"));
    if u.trim().is_empty() {
        return Err(bad("is empty".into()));
    }
    let p = Url::parse(u).map_err(|e| bad(e.to_string()))?;
    let tls = !matches!(p.param("disabletls"), Some("yes" | "true" | "1"));
    let scheme = if tls { "https" } else { "http" };
    let title = p.param("title").unwrap_or_default().to_string();
    let mut req = match p.scheme.as_str() {
        "ntfy" => {
            let topic = p.path.trim_matches('/');
            if topic.is_empty() || topic.contains('/') {
                return Err(bad("ntfy://[user:password@]host/topic".into()));
            }
            let scheme = match p.param("scheme") {
                Some("http") => "http",
                Some("https") | None => "https",
                Some(_) => return Err(bad("ntfy scheme must be http or https".into())),
            };
            let host = if p.host.is_empty() {
                "ntfy.sh".to_string()
            } else {
                p.authority()
            };
            let priority = match p.param("priority") {
                None => {
                    if event.is_error() {
                        4
                    } else {
                        3
                    }
                }
                Some(v) => ntfy_priority(v).ok_or_else(|| bad(format!("ntfy priority {v:?}")))?,
            };
            let tags: Vec<String> = p
                .param("tags")
                .map(|t| {
                    t.split(',')
                        .map(str::to_string)
                        .filter(|t| !t.is_empty())
                        .collect()
                })
                .unwrap_or_default();
            let mut r = send::ntfy(
                &format!("{scheme}://{host}"),
                &url::decode(topic),
                &title,
                text,
                priority,
                &tags,
            );
            match (p.user.is_empty(), p.password.as_deref()) {
                (true, Some(token)) if !token.is_empty() => {
                    r = r.header("Authorization", format!("Bearer {token}"));
                    r.secrets.push(token.to_string());
                }
                (false, password) => {
                    let password = password.unwrap_or_default();
                    let creds = url::base64(format!("{}:{password}", p.user).as_bytes());
                    r = r.header("Authorization", format!("Basic {creds}"));
                    r.secrets.extend([creds, password.to_string()]);
                }
                _ => {}
            }
            r
        }
        "gotify" => {
            let path = p.path.trim_end_matches('/');
            let Some((prefix, token)) = path.rsplit_once('/').filter(|(_, t)| !t.is_empty()) else {
                return Err(bad("gotify://host[/path]/token".into()));
            };
            if p.host.is_empty() {
                return Err(bad("gotify://host[/path]/token".into()));
            }
            let priority = match p.param("priority") {
                None => 5,
                Some(v) => v
                    .parse()
                    .map_err(|_| bad(format!("gotify priority {v:?}")))?,
            };
            let title = if title.is_empty() {
                "Backrest Event".to_string()
            } else {
                title
            };
            let base = format!("{scheme}://{}{prefix}", p.authority());
            send::gotify(&base, &url::decode(token), &title, text, priority)
        }
        "discord" => {
            let (token, id) = (p.user.as_str(), p.host.as_str());
            if token.is_empty() || id.is_empty() {
                return Err(bad("discord://token@webhookid".into()));
            }
            let mut body = json!({"content": send::truncate(text, send::DISCORD_MAX)});
            if let Some(name) = p.param("username") {
                body["username"] = json!(name);
            }
            let u = format!(
                "{}/api/webhooks/{id}/{token}",
                settings.discord_api.trim_end_matches('/')
            );
            let mut r = Request::json(u, &body);
            r.secrets.push(token.to_string());
            r
        }
        "telegram" => {
            let token = match p.password.as_deref() {
                Some(pw) if !p.user.is_empty() => format!("{}:{pw}", p.user),
                _ => return Err(bad("telegram://token@telegram?chats=@channel,id".into())),
            };
            let chats: Vec<&str> = p
                .param("chats")
                .or_else(|| p.param("channels"))
                .map(|c| c.split(',').filter(|c| !c.is_empty()).collect())
                .unwrap_or_default();
            if chats.is_empty() {
                return Err(bad("telegram needs chats=…".into()));
            }
            let mode = match p.param("parsemode").map(str::to_ascii_lowercase).as_deref() {
                None | Some("none") | Some("") => None,
                Some("html") => Some("HTML"),
                Some("markdown") => Some("Markdown"),
                Some("markdownv2") => Some("MarkdownV2"),
                Some(m) => return Err(bad(format!("telegram parsemode {m:?}"))),
            };
            let reqs = chats
                .iter()
                .map(|c| {
                    let mut r = send::telegram(&settings.telegram_api, &token, c, text, mode);
                    r.secrets.push(u.to_string());
                    r
                })
                .collect();
            return Ok(reqs);
        }
        "slack" => {
            let parts: Vec<String> = if p.host == "webhook" {
                // slack://hook:A-B-C@webhook
                p.password
                    .as_deref()
                    .unwrap_or_default()
                    .split('-')
                    .map(str::to_string)
                    .collect()
            } else {
                // slack://A/B/C (the older form)
                std::iter::once(p.host.clone())
                    .chain(p.path.split('/').map(str::to_string))
                    .filter(|s| !s.is_empty())
                    .collect()
            };
            if parts.len() != 3 || parts.iter().any(|s| s.is_empty()) {
                return Err(bad(
                    "slack://hook:T…-B…-X…@webhook (bot tokens are not supported)".into(),
                ));
            }
            let u = format!(
                "{}/services/{}",
                settings.slack_api.trim_end_matches('/'),
                parts.join("/")
            );
            let mut r = send::slack(u, text);
            r.secrets.extend(parts);
            r
        }
        s @ ("generic" | "generic+https" | "generic+http") => {
            let scheme = match s {
                "generic+http" => "http",
                "generic+https" => "https",
                _ => scheme,
            };
            if p.host.is_empty() {
                return Err(bad("generic+https://host/path".into()));
            }
            const OWN: [&str; 6] = [
                "template",
                "contenttype",
                "disabletls",
                "title",
                "messagekey",
                "titlekey",
            ];
            let rest: Vec<String> = p
                .query
                .iter()
                .filter(|(k, _)| !OWN.contains(&k.to_ascii_lowercase().as_str()))
                .map(|(k, v)| format!("{}={}", url::encode(k), url::encode(v)))
                .collect();
            let creds = match (&p.user, &p.password) {
                (u, None) if u.is_empty() => String::new(),
                (u, pw) => format!(
                    "{}:{}@",
                    url::encode(u),
                    url::encode(pw.as_deref().unwrap_or_default())
                ),
            };
            let mut target = format!("{scheme}://{creds}{}{}", p.authority(), p.path);
            if !rest.is_empty() {
                target.push('?');
                target.push_str(&rest.join("&"));
            }
            match p.param("template").map(str::to_ascii_lowercase).as_deref() {
                Some("json") => {
                    let mk = p.param("messagekey").unwrap_or("message");
                    let tk = p.param("titlekey").unwrap_or("title");
                    let mut body = serde_json::Map::new();
                    if !title.is_empty() {
                        body.insert(tk.to_string(), json!(title));
                    }
                    body.insert(mk.to_string(), json!(text));
                    Request::json(target, &serde_json::Value::Object(body))
                }
                None | Some("") => {
                    let ct = p
                        .param("contenttype")
                        .unwrap_or("text/plain; charset=utf-8");
                    Request::post(target, ct, text.to_string())
                }
                Some(t) => return Err(bad(format!("generic template {t:?} (only json)"))),
            }
        }
        other => {
            return Err(bad(format!(
                "service {other:?} is not supported by footrest (supported: {SERVICES})"
            )));
        }
    };
    req.secrets.push(u.to_string());
    Ok(vec![req])
}

/// ntfy priorities by number or name.
fn ntfy_priority(v: &str) -> Option<i64> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "min" => Some(1),
        "2" | "low" => Some(2),
        "3" | "default" => Some(3),
        "4" | "high" => Some(4),
        "5" | "max" | "urgent" => Some(5),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn settings() -> Settings {
        Settings {
            telegram_api: "http://tg.test".into(),
            discord_api: "http://dc.test".into(),
            slack_api: "http://sl.test".into(),
            ..Settings::default()
        }
    }

    fn one(u: &str, e: Condition) -> Request {
        let mut r = requests(u, e, "msg", &settings()).unwrap();
        assert_eq!(r.len(), 1);
        r.remove(0)
    }

    fn body(r: &Request) -> Value {
        serde_json::from_slice(&r.body.as_ref().unwrap().1).unwrap()
    }

    #[test]
    fn ntfy_urls() {
        let r = one(
            "ntfy://ntfy.example/alerts?title=Backup&priority=max&tags=floppy_disk",
            Condition::SnapshotEnd,
        );
        assert_eq!(r.url, "https://ntfy.example/");
        assert_eq!(
            body(&r),
            json!({"topic": "alerts", "message": "msg", "title": "Backup", "priority": 5, "tags": ["floppy_disk"]})
        );
        let r = one(
            "ntfy://u:p@127.0.0.1:8080/t?scheme=http",
            Condition::SnapshotError,
        );
        assert_eq!(r.url, "http://127.0.0.1:8080/");
        assert_eq!(body(&r)["priority"], 4);
        assert!(
            r.headers
                .contains(&("Authorization".into(), "Basic dTpw".into()))
        );
        let r = one("ntfy://:tk_secret@ntfy.sh/t", Condition::SnapshotEnd);
        assert!(
            r.headers
                .contains(&("Authorization".into(), "Bearer tk_secret".into()))
        );
    }

    #[test]
    fn gotify_discord_telegram_slack_urls() {
        let r = one(
            "gotify://g.example:8443/sub/AppToken?title=T&priority=2&disabletls=yes",
            Condition::SnapshotEnd,
        );
        assert_eq!(r.url, "http://g.example:8443/sub/message?token=AppToken");
        assert_eq!(
            body(&r),
            json!({"message": "msg", "title": "T", "priority": 2})
        );
        let r = one(
            "discord://tok3n@12345?username=footrest",
            Condition::SnapshotEnd,
        );
        assert_eq!(r.url, "http://dc.test/api/webhooks/12345/tok3n");
        assert_eq!(body(&r), json!({"content": "msg", "username": "footrest"}));
        let all = requests("telegram://110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw@telegram?chats=@chan,-100123&parsemode=HTML", Condition::SnapshotEnd, "m", &settings()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(
            all[0].url,
            "http://tg.test/bot110201543:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/sendMessage"
        );
        assert_eq!(
            body(&all[1]),
            json!({"chat_id": "-100123", "text": "m", "parse_mode": "HTML"})
        );
        let r = one(
            "slack://hook:T000-B000-XXXX@webhook",
            Condition::SnapshotEnd,
        );
        assert_eq!(r.url, "http://sl.test/services/T000/B000/XXXX");
        assert_eq!(body(&r), json!({"text": "msg"}));
        let r = one("slack://T000/B000/XXXX", Condition::SnapshotEnd);
        assert_eq!(r.url, "http://sl.test/services/T000/B000/XXXX");
    }

    #[test]
    fn generic_urls() {
        let r = one(
            "generic+http://127.0.0.1:9/hook?x=1&contenttype=text/x-log",
            Condition::SnapshotEnd,
        );
        assert_eq!(r.url, "http://127.0.0.1:9/hook?x=1");
        assert_eq!(r.body, Some(("text/x-log".into(), b"msg".to_vec())));
        let r = one(
            "generic://h.example/p?template=json&title=T&messagekey=text",
            Condition::SnapshotEnd,
        );
        assert_eq!(r.url, "https://h.example/p");
        assert_eq!(body(&r), json!({"title": "T", "text": "msg"}));
        let r = one("generic+https://u:pw@h.example/p", Condition::SnapshotEnd);
        assert_eq!(r.url, "https://u:pw@h.example/p");
    }

    #[test]
    fn unsupported_and_malformed_urls_are_refused() {
        assert_eq!(
            check("pushover://shoutrrr:tok@user/").unwrap_err(),
            "shoutrrrUrl: service \"pushover\" is not supported by footrest (supported: ntfy, gotify, discord, telegram, slack, generic)"
        );
        assert!(check("telegram://nope@telegram").is_err());
        assert!(check("discord://12345").is_err());
        assert!(check("").is_err());
        assert!(check("ntfy://host/").is_err());
        assert!(check("ntfy://host/a").is_ok());
    }
}
