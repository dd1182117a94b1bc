//! Hooks around real backups, prunes and checks: what each HTTP hook sends (to a recording
//! server in the test), command hooks and their onError policies, timeouts, and `footrest hook
//! test`.

use crate::common::*;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A request the recording server received.
#[derive(Clone, Debug)]
pub(crate) struct Seen {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|_| panic!("not JSON: {self:?}"))
    }

    fn content_type(&self) -> &str {
        self.headers.get("content-type").map_or("", |s| s.as_str())
    }
}

/// An HTTP server on 127.0.0.1 that records every request and answers 200 — or never answers
/// requests whose path starts with `/hang`.
pub(crate) struct Recorder {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Recorder {
    pub fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(s) = s else { return };
                let seen = Arc::clone(&seen2);
                std::thread::spawn(move || handle(s, &seen));
            }
        });
        Recorder { port, seen }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub fn take(&self) -> Vec<Seen> {
        std::mem::take(&mut *self.seen.lock().unwrap())
    }
}

fn handle(s: TcpStream, seen: &Mutex<Vec<Seen>>) {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if r.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    r.read_exact(&mut body).unwrap();
    let hang = target.starts_with("/hang");
    seen.lock().unwrap().push(Seen {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    });
    if hang {
        std::thread::sleep(Duration::from_secs(30));
        return;
    }
    let mut s = s;
    let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}

/// A daemon with the given environment, repo "repo1" (with `repo_hooks`) and plan "hookplan" over
/// a small source tree (with `plan`'s fields).
struct Setup {
    d: Daemon,
    src: std::path::PathBuf,
    repo: std::path::PathBuf,
    _work: TempDir,
}

fn setup(env: &[(&str, String)], repo_hooks: Value, plan: Value) -> Setup {
    setup_in(TempDir::new("hooks"), env, repo_hooks, plan)
}

fn setup_in(work: TempDir, env: &[(&str, String)], repo_hooks: Value, plan: Value) -> Setup {
    let src = work.path().join("src");
    make_source(&src);
    let repo = work.path().join("repo");
    let mut env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    env.push(("NO_PROXY".into(), "127.0.0.1,localhost".into()));
    let d = Daemon::start_with(Opts {
        env,
        ..Default::default()
    });
    let mut c = add_repo(&d, "repo1", &repo);
    c["repos"][0]["hooks"] = repo_hooks;
    let mut p = json!({"id": "hookplan", "repo": "repo1", "paths": [src.to_str().unwrap()]});
    for (k, v) in plan.as_object().unwrap() {
        p[k] = v.clone();
    }
    c["plans"] = json!([p]);
    d.ok("SetConfig", c);
    Setup {
        d,
        src,
        repo,
        _work: work,
    }
}

fn plan_ops(d: &Daemon) -> Vec<Value> {
    d.operations(json!({"selector": {"planId": "hookplan"}}))
}

fn backups(d: &Daemon) -> Vec<Value> {
    plan_ops(d)
        .into_iter()
        .filter(|o| o.get("operationBackup").is_some())
        .collect()
}

/// The hook operations whose parent is `parent`, in id order.
fn hook_ops(d: &Daemon, parent: &Value) -> Vec<Value> {
    d.operations(json!({"selector": {"flowId": parent["flowId"]}}))
        .into_iter()
        .filter(|o| o["operationRunHook"]["parentOp"] == parent["id"])
        .collect()
}

fn hook_log(d: &Daemon, op: &Value) -> String {
    let logref = op["logref"].as_str().expect("a hook op has a log");
    std::fs::read_to_string(d.data_dir().join("tasklogs").join(format!("{logref}.log"))).unwrap()
}

fn command(conditions: &[&str], on_error: &str, script: String) -> Value {
    json!({"conditions": conditions, "onError": on_error, "actionCommand": {"command": script}})
}

const START: &str = "CONDITION_SNAPSHOT_START";

/// Every HTTP hook type, through a real backup that succeeds, one skipped for no changes, one
/// with unreadable files (WARNING) and one that fails: each hook sends the right method, URL,
/// headers and body for each event, and no secret reaches a log or an operation.
#[test]
fn http_hooks_send_the_right_requests_for_every_backup_outcome() {
    let rec = Recorder::start();
    let u = |p: &str| rec.url(p);
    let events = json!([
        "CONDITION_SNAPSHOT_START",
        "CONDITION_SNAPSHOT_SUCCESS",
        "CONDITION_SNAPSHOT_WARNING",
        "CONDITION_SNAPSHOT_ERROR",
        "CONDITION_SNAPSHOT_SKIPPED"
    ]);
    let t = "{{ .EventName .Event }} {{ .Plan.Id }}";
    let hook = |action: &str, body: Value| {
        let mut h = json!({"conditions": events});
        h[action] = body;
        h
    };
    let port = rec.port;
    let hooks = json!([
        hook("actionWebhook", json!({"webhookUrl": u("/wh/post?k=SECRET1"), "method": "POST",
            "template": "{\"event\": \"{{ .EventName .Event }}\", \"snapshot\": \"{{ .SnapshotId }}\"}"})),
        hook("actionWebhook", json!({"webhookUrl": u("/wh/get/SECRET2"), "method": "GET"})),
        hook("actionDiscord", json!({"webhookUrl": u("/discord/1/SECRET3")})),
        hook("actionSlack", json!({"webhookUrl": u("/slack/SECRET4"), "template": t})),
        hook("actionGotify", json!({"baseUrl": u("/gotify/"), "token": "SECRET5", "template": t,
            "titleTemplate": "footrest {{ .Plan.Id }}"})),
        hook("actionHealthchecks", json!({"webhookUrl": u("/hc/SECRET6"), "template": t})),
        {"conditions": ["CONDITION_SNAPSHOT_END"], "actionHealthchecks": {"webhookUrl": u("/hcend/SECRET7"), "template": t}},
        hook("actionTelegram", json!({"botToken": "111:SECRET8", "chatId": "-42", "template": t})),
        hook("actionNtfy", json!({"url": u("/ntfy/SECRET9"), "token": "tk_SECRET10", "template": t,
            "titleTemplate": "{{ .Plan.Id }}"})),
        hook("actionUptimeKuma", json!({"pushUrl": u("/kuma/api/push/SECRET11?status=up&msg=OK&ping="), "template": t})),
        hook("actionShoutrrr", json!({"shoutrrrUrl": format!("generic+http://127.0.0.1:{port}/generic/SECRET12?a=1&template=json&title=T"), "template": t})),
        hook("actionShoutrrr", json!({"shoutrrrUrl": format!("ntfy://127.0.0.1:{port}/SECRET13?scheme=http&title=Backup"), "template": t})),
        hook("actionShoutrrr", json!({"shoutrrrUrl": format!("gotify://127.0.0.1:{port}/sgotify/SECRET14?disabletls=yes"), "template": t})),
        hook("actionShoutrrr", json!({"shoutrrrUrl": "discord://SECRET15@999", "template": t})),
        hook("actionShoutrrr", json!({"shoutrrrUrl": "telegram://222:SECRET16@telegram?chats=@chan", "template": t})),
        hook("actionShoutrrr", json!({"shoutrrrUrl": "slack://hook:TA-BB-SECRET17@webhook", "template": t})),
    ]);
    let env = [
        ("FOOTREST_TELEGRAM_API", u("/tg")),
        ("FOOTREST_DISCORD_API", u("/dapi")),
        ("FOOTREST_SLACK_API", u("/sapi")),
    ];
    // restic records the source's parent directories too: keep them out of the shared temp
    // dir, whose time changes whenever anything (restic included) makes a file there.
    let (_quiet, stable) = quiet_dir("hooks-http");
    let s = setup_in(
        stable,
        &env,
        json!([]),
        json!({"hooks": hooks, "skipIfUnchanged": true}),
    );
    let src = s.src.to_str().unwrap().to_string();

    // What every hook sends for one event, keyed by the hook's own path.
    let check = |event: &str, seen: &[Seen], snapshot: &str| {
        let by_path =
            |p: &str| -> Vec<&Seen> { seen.iter().filter(|r| r.target.starts_with(p)).collect() };
        let one = |p: &str| -> &Seen {
            let v = by_path(p);
            assert_eq!(v.len(), 1, "{event}: one request to {p}: {seen:#?}");
            v[0]
        };
        let text = format!("{event} hookplan");
        let r = one("/wh/post");
        assert_eq!(
            (r.method.as_str(), r.target.as_str()),
            ("POST", "/wh/post?k=SECRET1")
        );
        assert_eq!(r.content_type(), "application/json");
        assert_eq!(r.json(), json!({"event": event, "snapshot": snapshot}));
        let r = one("/wh/get");
        assert_eq!((r.method.as_str(), r.body.as_str()), ("GET", ""));
        let r = one("/discord/1/SECRET3");
        assert_eq!(
            (r.method.as_str(), r.content_type()),
            ("POST", "application/json")
        );
        let content = r.json()["content"].as_str().unwrap().to_string();
        if event == "snapshot start" {
            assert!(content.starts_with("\nBackrest Notification for Snapshot Start\nTask: \"backup for plan \"hookplan\"\" at "), "{content}");
            assert!(
                content.contains("Plan: hookplan \nPaths: \n- /"),
                "{content}"
            );
        } else if event == "snapshot success" {
            assert!(
                content.starts_with(
                    "\nBackrest Snapshot Notification\nTask: backup for plan \"hookplan\" at "
                ),
                "{content}"
            );
            assert!(
                content.contains(&format!("Event: snapshot success\nSnapshot: {snapshot}\n")),
                "{content}"
            );
            assert!(
                content.contains("- Data added: ") && content.contains("- Files new: 2\n"),
                "{content}"
            );
        } else if event == "snapshot error" {
            assert!(content.starts_with("\nBackrest Error\n"), "{content}");
            assert!(
                content.contains("Error: path /nonexistent/footrest does not exist\n"),
                "{content}"
            );
        }
        assert_eq!(one("/slack/SECRET4").json(), json!({"text": text}));
        let r = one("/gotify/message");
        assert_eq!(r.target, "/gotify/message?token=SECRET5");
        assert_eq!(
            r.json(),
            json!({"message": text, "title": "footrest hookplan", "priority": 5})
        );
        let hc = by_path("/hc/SECRET6");
        assert_eq!(hc.len(), 1, "{seen:#?}");
        let want = match event {
            "snapshot start" => "/hc/SECRET6/start",
            "snapshot error" => "/hc/SECRET6/fail",
            _ => "/hc/SECRET6",
        };
        assert_eq!(
            (hc[0].method.as_str(), hc[0].target.as_str()),
            ("POST", want)
        );
        assert_eq!(hc[0].content_type(), "text/plain; charset=utf-8");
        assert_eq!(hc[0].body, text);
        let end = by_path("/hcend/");
        if event == "snapshot start" {
            assert!(end.is_empty());
        } else {
            assert_eq!(end.len(), 1);
            assert_eq!(end[0].target, "/hcend/SECRET7/log");
            assert_eq!(end[0].body, "snapshot end hookplan");
        }
        let r = one("/tg/bot111:SECRET8/sendMessage");
        assert_eq!(
            r.json(),
            json!({"chat_id": "-42", "text": text, "parse_mode": "HTML"})
        );
        let r = one("/ntfy/");
        assert_eq!(r.target, "/ntfy/");
        let priority = if event == "snapshot error" { 4 } else { 3 };
        assert_eq!(
            r.json(),
            json!({"topic": "SECRET9", "message": text, "title": "hookplan", "priority": priority})
        );
        assert_eq!(r.headers["authorization"], "Bearer tk_SECRET10");
        let r = one("/kuma/api/push/SECRET11");
        let status = if event == "snapshot error" {
            "down"
        } else {
            "up"
        };
        assert_eq!(
            (r.method.as_str(), r.target.clone()),
            (
                "GET",
                format!(
                    "/kuma/api/push/SECRET11?status={status}&msg={}&ping=",
                    text.replace(' ', "%20")
                )
            )
        );
        let r = one("/generic/SECRET12");
        assert_eq!(r.target, "/generic/SECRET12?a=1");
        assert_eq!(r.json(), json!({"title": "T", "message": text}));
        let r = seen
            .iter()
            .find(|r| r.target == "/" && r.body.contains("SECRET13"))
            .expect("shoutrrr ntfy");
        assert_eq!(
            r.json(),
            json!({"topic": "SECRET13", "message": text, "title": "Backup", "priority": priority})
        );
        let r = one("/sgotify/message");
        assert_eq!(r.target, "/sgotify/message?token=SECRET14");
        assert_eq!(
            r.json(),
            json!({"message": text, "title": "Backrest Event", "priority": 5})
        );
        assert_eq!(
            one("/dapi/api/webhooks/999/SECRET15").json(),
            json!({"content": text})
        );
        assert_eq!(
            one("/tg/bot222:SECRET16/sendMessage").json(),
            json!({"chat_id": "@chan", "text": text})
        );
        assert_eq!(
            one("/sapi/services/TA/BB/SECRET17").json(),
            json!({"text": text})
        );
        // 16 hooks; the END-only healthchecks hook does not fire on start.
        let want = if event == "snapshot start" { 15 } else { 16 };
        assert_eq!(seen.len(), want, "{event}: {seen:#?}");
    };
    // 1. A backup that makes a snapshot: START, then SUCCESS (END for the END-only hook).
    s.d.ok("Backup", json!({"value": "hookplan"}));
    let seen = rec.take();
    let b = &backups(&s.d)[0];
    assert_eq!(b["status"], "STATUS_SUCCESS");
    let snap = b["snapshotId"].as_str().unwrap().to_string();
    let (start, end): (Vec<Seen>, Vec<Seen>) = split_start_end(&seen);
    check("snapshot start", &start, "");
    check("snapshot success", &end, &snap);
    let hooks_run = hook_ops(&s.d, b);
    assert_eq!(hooks_run.len(), 31, "{hooks_run:#?}");
    for h in &hooks_run {
        assert_eq!(h["status"], "STATUS_SUCCESS", "{h}");
        assert_eq!(h["flowId"], b["flowId"]);
        assert_eq!(h["planId"], "hookplan");
        let log = hook_log(&s.d, h);
        assert!(log.contains("answered status 200"), "{log}");
        assert!(!log.contains("SECRET"), "a hook log shows a secret: {log}");
    }
    assert_eq!(
        hooks_run[0]["operationRunHook"]["name"],
        "webhook hook plan/hookplan/hook/0"
    );
    assert_eq!(hooks_run[0]["operationRunHook"]["condition"], START);
    assert_eq!(
        hooks_run[2]["operationRunHook"]["name"],
        "discord hook plan/hookplan/hook/2"
    );
    assert_eq!(
        hooks_run[15]["operationRunHook"]["condition"],
        "CONDITION_SNAPSHOT_SUCCESS"
    );

    // 2. Nothing changed: SKIPPED.
    s.d.ok("Backup", json!({"value": "hookplan"}));
    let seen = rec.take();
    let (start, end) = split_start_end(&seen);
    check("snapshot start", &start, "");
    check("snapshot skipped", &end, "");

    // 3. An unreadable file: WARNING.
    let mut c = s.d.ok("GetConfig", json!({}));
    c["plans"][0]["paths"] = json!([src, "/proc/self/mem"]);
    s.d.ok("SetConfig", c);
    s.d.ok("Backup", json!({"value": "hookplan"}));
    let seen = rec.take();
    let warned = backups(&s.d)
        .into_iter()
        .find(|o| o["status"] == "STATUS_WARNING")
        .expect("a WARNING backup");
    let (start, end) = split_start_end(&seen);
    check("snapshot start", &start, "");
    check(
        "snapshot warning",
        &end,
        warned["snapshotId"].as_str().unwrap(),
    );

    // 4. A path that does not exist: ERROR.
    let mut c = s.d.ok("GetConfig", json!({}));
    c["plans"][0]["paths"] = json!(["/nonexistent/footrest"]);
    s.d.ok("SetConfig", c);
    let (status, _) = s.d.rpc("Backup", json!({"value": "hookplan"}));
    assert_ne!(status, 200);
    let seen = rec.take();
    let (start, end) = split_start_end(&seen);
    check("snapshot start", &start, "");
    check("snapshot error", &end, "");

    for o in s.d.operations(json!({})) {
        assert!(!o.to_string().contains("SECRET"), "{o}");
    }
    let log = s.d.log();
    assert!(
        !log.contains("SECRET"),
        "the daemon log shows a secret:\n{log}"
    );
}

/// The requests of one backup: those of its start hooks and those of its end hooks. Each
/// carries its event, but for the GET webhook, whose first request is the start one.
fn split_start_end(seen: &[Seen]) -> (Vec<Seen>, Vec<Seen>) {
    let mut gets = 0;
    seen.iter().cloned().partition(|r| {
        if r.target.starts_with("/wh/get") {
            gets += 1;
            return gets == 1;
        }
        r.body.contains("snapshot start")
            || r.body.contains("Snapshot Start")
            || r.target.contains("msg=snapshot%20start")
            || r.target.ends_with("/start")
    })
}

/// A start hook runs before the backup (no snapshot yet), repo hooks before plan hooks, with
/// the template's variables; an end hook gets Backrest's summary of the real backup.
#[test]
fn command_hooks_run_in_order_around_the_backup() {
    let work = TempDir::new("cmdhooks");
    let out = work.path().join("out.txt");
    let o = out.to_str().unwrap();
    let summary = work.path().join("summary.txt");
    let repo_hook = command(
        &[START],
        "ON_ERROR_IGNORE",
        format!("echo \"repo {{{{ .Repo.Id }}}}\" >> {o}"),
    );
    let plan_hooks = json!([
        command(
            &[START],
            "ON_ERROR_IGNORE",
            format!(
                "echo \"plan {{{{ .Plan.Id }}}} {{{{ .EventName .Event }}}} $(ls {{{{ .Repo.Uri }}}}/snapshots | wc -l)\" >> {o}"
            )
        ),
        command(
            &["CONDITION_SNAPSHOT_END"],
            "ON_ERROR_IGNORE",
            format!(
                "#!/bin/sh\ncat > {} <<'EOF'\n{{{{ .Summary }}}}\nEOF\necho done",
                summary.display()
            )
        ),
        command(
            &["CONDITION_FORGET_START", "CONDITION_FORGET_SUCCESS"],
            "ON_ERROR_IGNORE",
            format!("echo '{{{{ .Task }}}}: {{{{ .EventName .Event }}}}' >> {o}")
        ),
    ]);
    let s = setup(
        &[],
        json!([repo_hook]),
        json!({"hooks": plan_hooks, "retention": {"policyKeepLastN": 1}}),
    );
    s.d.ok("Backup", json!({"value": "hookplan"}));
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "repo repo1\nplan hookplan snapshot start 0\n\
         forget for plan \"hookplan\" in repo \"repo1\": forget start\n\
         forget for plan \"hookplan\" in repo \"repo1\": forget success\n"
    );
    let snap = snapshot_ids(&s.repo);
    let summary = std::fs::read_to_string(&summary).unwrap();
    assert!(
        summary.starts_with(
            "\nBackrest Snapshot Notification\nTask: backup for plan \"hookplan\" at "
        ),
        "{summary}"
    );
    assert!(
        summary.contains(&format!("Event: snapshot end\nSnapshot: {}\n", snap[0])),
        "{summary}"
    );
    for line in [
        "- Files new: 2\n",
        "- Dirs new: ",
        "- Total files processed: 2\n",
        "- Data added: ",
        "- Total duration: ",
    ] {
        assert!(summary.contains(line), "{line:?} in {summary}");
    }
    let b = &backups(&s.d)[0];
    let h = hook_ops(&s.d, b);
    let names: Vec<&str> = h
        .iter()
        .map(|o| o["operationRunHook"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "command hook repo/repo1/hook/0",
            "command hook plan/hookplan/hook/0",
            "command hook plan/hookplan/hook/1"
        ]
    );
    assert!(h.iter().all(|o| o["status"] == "STATUS_SUCCESS"));
    assert_eq!(
        h[2]["operationRunHook"]["condition"],
        "CONDITION_SNAPSHOT_END"
    );
    let log = hook_log(&s.d, &h[2]);
    assert!(
        log.starts_with("triggering condition: CONDITION_SNAPSHOT_END\n[script] /bin/sh\n"),
        "{log}"
    );
    assert!(
        log.contains("[output] done\nexited with status 0\n"),
        "{log}"
    );
}

/// CANCEL: the backup ends USER_CANCELLED without running and later hooks are skipped.
#[test]
fn a_failing_cancel_hook_cancels_the_backup_and_skips_later_hooks() {
    let work = TempDir::new("cancelhook");
    let marker = work.path().join("later");
    let hooks = json!([
        command(&[START], "ON_ERROR_CANCEL", "echo not now; exit 1".into()),
        command(
            &[START, "CONDITION_SNAPSHOT_END"],
            "ON_ERROR_IGNORE",
            format!("touch {}", marker.display())
        ),
    ]);
    let s = setup(&[], json!([]), json!({"hooks": hooks}));
    let (status, body) = s.d.rpc("Backup", json!({"value": "hookplan"}));
    assert_eq!(status, 499, "{body}");
    assert_eq!(body["code"], "canceled");
    let b = &backups(&s.d)[0];
    assert_eq!(b["status"], "STATUS_USER_CANCELLED", "{b}");
    assert_eq!(
        b["displayMessage"],
        "cancelled by command hook plan/hookplan/hook/0 (snapshot start): exited with status 1"
    );
    assert!(snapshot_ids(&s.repo).is_empty());
    assert!(!marker.exists(), "the later hook was skipped");
    let h = hook_ops(&s.d, b);
    assert_eq!(h.len(), 1, "{h:#?}");
    assert!(hook_log(&s.d, &h[0]).contains("[output] not now\n"));
}

/// FATAL: the backup ends ERROR without running.
#[test]
fn a_failing_fatal_hook_fails_the_backup() {
    let hooks = json!([command(&[START], "ON_ERROR_FATAL", "exit 2".into())]);
    let s = setup(&[], json!([]), json!({"hooks": hooks}));
    let (status, body) = s.d.rpc("Backup", json!({"value": "hookplan"}));
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("aborted")),
        "{body}"
    );
    let b = &backups(&s.d)[0];
    assert_eq!(b["status"], "STATUS_ERROR");
    assert_eq!(
        b["displayMessage"],
        "snapshot start hook failed: command hook plan/hookplan/hook/0: exited with status 2"
    );
    assert!(snapshot_ids(&s.repo).is_empty());
    let h = hook_ops(&s.d, b);
    assert_eq!(h[0]["status"], "STATUS_ERROR");
    assert_eq!(h[0]["displayMessage"], "exited with status 2");
}

/// IGNORE: the backup succeeds; the hook's operation shows the failure.
#[test]
fn a_failing_ignore_hook_leaves_the_backup_successful() {
    let hooks = json!([command(&[START], "ON_ERROR_IGNORE", "exit 5".into())]);
    let s = setup(&[], json!([]), json!({"hooks": hooks}));
    s.d.ok("Backup", json!({"value": "hookplan"}));
    let b = &backups(&s.d)[0];
    assert_eq!(b["status"], "STATUS_SUCCESS");
    assert_eq!(snapshot_ids(&s.repo).len(), 1);
    let h = hook_ops(&s.d, b);
    assert_eq!(h.len(), 1);
    assert_eq!(h[0]["status"], "STATUS_ERROR");
    assert_eq!(h[0]["displayMessage"], "exited with status 5");
}

/// RETRY: the backup goes back to PENDING with the backoff in its message, and a later attempt
/// (the hook now succeeds) makes the snapshot; the waiting Backup call answers then.
#[test]
fn a_retry_hook_makes_the_backup_pending_then_it_succeeds() {
    let work = TempDir::new("retryhook");
    let marker = work.path().join("first-attempt");
    let script = format!(
        "if [ -e {m} ]; then exit 0; fi\ntouch {m}\necho not yet\nexit 1",
        m = marker.display()
    );
    let hooks = json!([command(
        &[START],
        "ON_ERROR_RETRY_EXPONENTIAL_BACKOFF",
        script
    )]);
    // 10 s × 0.2: the first retry waits 2 s.
    let s = setup(
        &[("FOOTREST_HOOK_RETRY_SCALE", "0.2".into())],
        json!([]),
        json!({"hooks": hooks}),
    );
    let port = s.d.port;
    let t0 = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let call = std::thread::spawn(move || {
        let r = http(
            port,
            "POST",
            "/v1.Backrest/Backup",
            &[("Content-Type", "application/json")],
            br#"{"value":"hookplan"}"#,
        );
        (r.status, Instant::now())
    });
    let pending = s.d.wait_for(
        "the backup waiting for its retry",
        Duration::from_secs(30),
        || {
            backups(&s.d).into_iter().find(|o| {
                o["status"] == "STATUS_PENDING" && o["displayMessage"] != "waiting to run"
            })
        },
    );
    assert_eq!(
        pending["displayMessage"],
        "waiting for retry, current backoff delay: 2s"
    );
    assert!(
        int(&pending["unixTimeStartMs"]) > t0 + 1000,
        "the next attempt's time: {pending}"
    );
    assert!(snapshot_ids(&s.repo).is_empty());
    let (status, answered) = call.join().unwrap();
    assert_eq!(status, 200);
    let b = backups(&s.d);
    assert_eq!(b.len(), 1, "the retry reuses the operation: {b:#?}");
    assert_eq!(b[0]["status"], "STATUS_SUCCESS");
    assert_eq!(snapshot_ids(&s.repo).len(), 1);
    assert!(answered.elapsed() < Duration::from_secs(30));
    let h = hook_ops(&s.d, &b[0]);
    let st: Vec<&str> = h.iter().map(|o| o["status"].as_str().unwrap()).collect();
    assert_eq!(st, ["STATUS_ERROR", "STATUS_SUCCESS"], "{h:#?}");
}

/// A backup waiting for its retry can be cancelled: it ends USER_CANCELLED and its waiting
/// Backup call is answered.
#[test]
fn cancelling_a_backup_waiting_for_its_retry_answers_its_call() {
    let hooks = json!([command(
        &[START],
        "ON_ERROR_RETRY_10MINUTES",
        "exit 1".into()
    )]);
    let s = setup(&[], json!([]), json!({"hooks": hooks}));
    let port = s.d.port;
    let call = backup_in_background(port, "hookplan");
    let pending = s.d.wait_for(
        "the backup waiting for its retry",
        Duration::from_secs(30),
        || {
            backups(&s.d)
                .into_iter()
                .find(|o| o["displayMessage"] == "waiting for retry, current backoff delay: 10m0s")
        },
    );
    assert_eq!(pending["status"], "STATUS_PENDING");
    s.d.ok("Cancel", json!({"operationId": pending["id"]}));
    let r = call.join().unwrap();
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (499, json!("canceled"))
    );
    let b = &backups(&s.d)[0];
    assert_eq!(b["status"], "STATUS_USER_CANCELLED");
    assert_eq!(b["displayMessage"], "cancelled by user request");
}

/// A hook target that never answers fails its hook after the timeout and the backup goes on;
/// a command hook past its timeout is stopped.
#[test]
fn hooks_that_never_finish_time_out_and_the_backup_goes_on() {
    let rec = Recorder::start();
    let hooks = json!([
        {"conditions": [START], "actionDiscord": {"webhookUrl": rec.url("/hang/SECRET")}},
        command(&[START], "ON_ERROR_IGNORE", "sleep 30".into()),
    ]);
    let env = [
        ("FOOTREST_HOOK_HTTP_TIMEOUT", "1".to_string()),
        ("FOOTREST_HOOK_COMMAND_TIMEOUT", "1".to_string()),
    ];
    let s = setup(&env, json!([]), json!({"hooks": hooks}));
    let started = Instant::now();
    s.d.ok("Backup", json!({"value": "hookplan"}));
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    let b = &backups(&s.d)[0];
    assert_eq!(b["status"], "STATUS_SUCCESS");
    let h = hook_ops(&s.d, b);
    assert_eq!(h[0]["status"], "STATUS_ERROR");
    assert_eq!(
        h[0]["displayMessage"],
        format!(
            "timeout: http://127.0.0.1:{} did not answer within 1s",
            rec.port
        )
    );
    assert_eq!(h[1]["status"], "STATUS_ERROR");
    assert_eq!(h[1]["displayMessage"], "timed out after 1s");
    assert_eq!(rec.take().len(), 1);
}

/// Prune and check fire their hooks; a FATAL CHECK_START hook fails the check.
#[test]
fn prune_and_check_fire_their_hooks() {
    let work = TempDir::new("repohooks");
    let out = work.path().join("events");
    let o = out.to_str().unwrap();
    let log_event = |conds: &[&str]| {
        command(
            conds,
            "ON_ERROR_IGNORE",
            format!("echo '{{{{ .Task }}}}: {{{{ .EventName .Event }}}}' >> {o}"),
        )
    };
    let repo_hooks = json!([
        log_event(&[
            "CONDITION_PRUNE_START",
            "CONDITION_PRUNE_SUCCESS",
            "CONDITION_PRUNE_ERROR"
        ]),
        command(
            &["CONDITION_CHECK_START"],
            "ON_ERROR_FATAL",
            "exit 7".into()
        ),
        log_event(&["CONDITION_CHECK_ERROR", "CONDITION_ANY_ERROR"]),
    ]);
    let s = setup(&[], repo_hooks, json!({}));
    s.d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_PRUNE"}),
    );
    let (status, body) = s.d.rpc(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_CHECK"}),
    );
    assert_eq!(status, 409, "{body}");
    let ops = s.d.operations(json!({}));
    let check = ops
        .iter()
        .find(|o| o.get("operationCheck").is_some())
        .unwrap();
    assert_eq!(check["status"], "STATUS_ERROR", "{check}");
    assert_eq!(
        check["displayMessage"],
        "check start hook failed: command hook repo/repo1/hook/1: exited with status 7"
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text,
        "prune repo \"repo1\": prune start\nprune repo \"repo1\": prune success\ncheck repo \"repo1\": check error\n"
    );
}

/// SetConfig refuses a hook that cannot work, naming it.
#[test]
fn a_bad_hook_is_refused_by_set_config() {
    let s = setup(&[], json!([]), json!({}));
    let mut c = s.d.ok("GetConfig", json!({}));
    c["plans"][0]["hooks"] = json!([
        {"conditions": [START], "actionCommand": {"command": "echo {{ .Plan.Id "}},
        {"conditions": ["CONDITION_SOMETIMES"], "actionCommand": {"command": "true"}},
    ]);
    let (status, body) = s.d.rpc("SetConfig", c);
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("invalid_argument")),
        "{body}"
    );
    let m = body["message"].as_str().unwrap();
    assert!(
        m.contains("plan \"hookplan\": hooks[0]: command: template:1:6: "),
        "{m}"
    );
    assert!(
        m.contains("plan \"hookplan\": hooks[1]: unknown condition \"CONDITION_SOMETIMES\""),
        "{m}"
    );
}

/// `footrest hook test` fires one hook with sample variables and says how it went.
#[test]
fn hook_test_command_fires_one_hook() {
    let rec = Recorder::start();
    let work = TempDir::new("hooktest");
    let config = work.path().join("config.json");
    let c = json!({
        "instance": "test",
        "repos": [{"id": "r", "uri": "/tmp/none", "guid": "0".repeat(64), "hooks": [
            {"conditions": ["CONDITION_PRUNE_ERROR"], "actionWebhook": {"webhookUrl": rec.url("/hook/KEY"), "template": "{{ .Task }}: {{ .Error }}"}}
        ]}],
        "plans": [{"id": "p", "repo": "r", "paths": ["/"], "hooks": [
            {"conditions": ["CONDITION_SNAPSHOT_SUCCESS"], "actionDiscord": {"webhookUrl": rec.url("/hang/KEY")}}
        ]}]
    });
    std::fs::write(&config, serde_json::to_vec(&c).unwrap()).unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_footrest"))
            .args(args)
            .arg("--config-file")
            .arg(&config)
            .env("FOOTREST_HOOK_HTTP_TIMEOUT", "1")
            .env("NO_PROXY", "127.0.0.1")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = run(&["hook", "test", "repo", "r", "0"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with(
            "webhook hook repo/r/hook/0: firing on CONDITION_PRUNE_ERROR with sample variables\n"
        ),
        "{out}"
    );
    assert!(out.ends_with("webhook hook repo/r/hook/0: ok\n"), "{out}");
    assert!(!out.contains("KEY"), "{out}");
    let seen = rec.take();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body,
        "prune repo \"r\": this is a test error sent by footrest hook test"
    );
    let (code, out) = run(&["hook", "test", "plan", "p", "0"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("discord hook plan/p/hook/0: failed: timeout: http://127.0.0.1:"),
        "{out}"
    );
    let body: Value = serde_json::from_str(&rec.take()[0].body).unwrap();
    assert!(
        body["content"]
            .as_str()
            .unwrap()
            .contains("Backrest Snapshot Notification"),
        "{body}"
    );
    let (code, _) = run(&["hook", "test", "plan", "p", "3"]);
    assert_eq!(code, Some(1));
}
