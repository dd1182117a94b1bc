//! footrest's own service, `/v1.Footrest/…`: PreviewSchedule and TestHook.

use crate::common::*;
use crate::hooks::Recorder;
use serde_json::{Value, json};

/// POSTs `body` to `/v1.Footrest/<method>` with the daemon's credentials, if any.
fn footrest(d: &Daemon, method: &str, body: Value) -> (u16, Value) {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = &d.auth {
        headers.push(("Authorization", a));
    }
    let r = d.request(
        "POST",
        &format!("/v1.Footrest/{method}"),
        &headers,
        body.to_string().as_bytes(),
    );
    (r.status, r.json())
}

fn millis(v: &Value) -> Vec<i64> {
    v.as_array()
        .unwrap_or_else(|| panic!("not a list: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("int64 as a string: {s}"))
                .parse()
                .unwrap()
        })
        .collect()
}

#[test]
fn preview_schedule_lists_the_next_cron_runs_in_the_daemons_time_zone() {
    // Kolkata: a half-hour offset and no daylight saving, so the expected runs are easy to
    // compute here and cannot match by accident in UTC.
    let d = Daemon::start_with(Opts {
        env: vec![("TZ".into(), "Asia/Kolkata".into())],
        ..Default::default()
    });
    let before = jiff::Timestamp::now();
    let (status, v) = footrest(
        &d,
        "PreviewSchedule",
        json!({"schedule": {"cron": "30 2 * * mon-fri"}, "count": 3}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["description"], "At 02:30 on weekdays");
    assert_eq!(v["timezone"], "Asia/Kolkata");

    let tz = jiff::tz::TimeZone::get("Asia/Kolkata").unwrap();
    let mut want = Vec::new();
    let mut day = tz.to_datetime(before).date();
    while want.len() < 3 {
        let weekday = day.weekday().to_monday_one_offset();
        let at = tz.to_timestamp(day.at(2, 30, 0, 0)).unwrap();
        if weekday <= 5 && at > before {
            want.push(at.as_millisecond());
        }
        day = day.tomorrow().unwrap();
    }
    assert_eq!(millis(&v["nextRunsMs"]), want, "{v}");

    // CLOCK_UTC evaluates the same expression in UTC; count is clamped to 20.
    let (status, v) = footrest(
        &d,
        "PreviewSchedule",
        json!({"schedule": {"cron": "0 * * * *", "clock": "CLOCK_UTC"}, "count": 500}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["timezone"], "UTC");
    assert_eq!(v["description"], "Every hour at :00 (UTC)");
    let runs = millis(&v["nextRunsMs"]);
    assert_eq!(runs.len(), 20);
    assert!(runs.iter().all(|ms| ms % 3_600_000 == 0), "{runs:?}");

    let (status, v) = footrest(
        &d,
        "PreviewSchedule",
        json!({"schedule": {"maxFrequencyHours": 6, "clock": "CLOCK_LAST_RUN_TIME"}}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["description"],
        "Every 6 hours after the last run (no last run known: counted from now)"
    );
    let runs = millis(&v["nextRunsMs"]);
    assert_eq!(runs.len(), 3, "the default count");
    assert_eq!(runs[1] - runs[0], 6 * 3_600_000);

    let (status, v) = footrest(
        &d,
        "PreviewSchedule",
        json!({"schedule": {"disabled": true}}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["description"], "Disabled");
    assert!(v.get("nextRunsMs").is_none_or(|r| r == &json!([])), "{v}");
}

#[test]
fn preview_schedule_refuses_an_invalid_schedule_with_the_config_validation_message() {
    let d = Daemon::start();
    let (status, v) = footrest(
        &d,
        "PreviewSchedule",
        json!({"schedule": {"cron": "61 * * * *"}}),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], "invalid_argument");
    assert_eq!(
        v["message"],
        "schedule: cron: minute field: 61 is out of range 0-59"
    );
    // SetConfig says the same about the same schedule in a plan.
    let mut c = d.ok("GetConfig", json!({}));
    c["repos"] = json!([{"id": "r", "uri": "/tmp/none", "guid": "0".repeat(64)}]);
    c["plans"] =
        json!([{"id": "p", "repo": "r", "paths": ["/"], "schedule": {"cron": "61 * * * *"}}]);
    let (status, v) = d.rpc("SetConfig", c);
    assert_eq!(status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("plan \"p\": schedule: cron: minute field: 61 is out of range 0-59"),
        "{v}"
    );

    let (status, v) = footrest(
        &d,
        "PreviewSchedule",
        json!({"schedule": {"maxFrequencyDays": -2}}),
    );
    assert_eq!(status, 400, "{v}");
    assert_eq!(
        v["message"],
        "schedule: maxFrequencyDays must be at least 1, got -2"
    );
}

fn config_with_plan(extra: Value) -> Value {
    let mut c = json!({
        "instance": "rpc-test",
        "repos": [{"id": "r1", "uri": "/tmp/none", "guid": "0".repeat(64)}],
        "plans": [{"id": "p1", "repo": "r1", "paths": ["/"]}],
    });
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        c.extend(extra.clone());
    }
    c
}

#[test]
fn test_hook_delivers_the_rendered_webhook_template_and_reports_the_answer() {
    let rec = Recorder::start();
    let d = Daemon::start_with(Opts {
        config: Some(config_with_plan(json!({}))),
        env: vec![("NO_PROXY".into(), "127.0.0.1".into())],
        ..Default::default()
    });
    // Not in the config: the UI tests an edit before saving it.
    let hook = json!({
        "conditions": ["CONDITION_SNAPSHOT_ERROR"],
        "actionWebhook": {
            "webhookUrl": rec.url("/hook?key=SECRETKEY"),
            "method": "POST",
            "template": "{{ .Plan.Id }} in {{ .Repo.Id }}: {{ .Error }}",
        },
    });
    let (status, v) = footrest(&d, "TestHook", json!({"hook": hook, "planId": "p1"}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["message"], "webhook answered 200 OK");
    assert!(v["durationMs"].as_str().unwrap().parse::<i64>().unwrap() >= 0);
    let seen = rec.take();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0].method, "POST");
    assert_eq!(
        seen[0].body,
        "p1 in r1: this is a test error sent by footrest hook test"
    );
    assert!(!d.log().contains("SECRETKEY"), "{}", d.log());

    // The context must exist.
    let (status, v) = footrest(&d, "TestHook", json!({"hook": hook, "repoId": "nope"}));
    assert_eq!(status, 404, "{v}");
    assert_eq!(v["code"], "not_found");
    assert_eq!(v["message"], "repo \"nope\" not found");
    // A malformed hook is refused before anything is sent.
    for bad in [
        json!({"conditions": ["CONDITION_SNAPSHOT_END"], "actionWebhook": {"webhookUrl": ""}}),
        json!({"conditions": ["CONDITION_NOPE"], "actionCommand": {"command": "true"}}),
        json!("not a hook"),
    ] {
        let (status, v) = footrest(&d, "TestHook", json!({"hook": bad}));
        assert_eq!(status, 400, "{bad}: {v}");
        assert_eq!(v["code"], "invalid_argument", "{bad}: {v}");
    }
    assert!(rec.take().is_empty());
}

#[test]
fn test_hook_reports_a_failing_commands_exit_status_and_output() {
    let d = Daemon::start();
    let hook = json!({
        "conditions": ["CONDITION_SNAPSHOT_END"],
        "actionCommand": {"command": "echo 'disk full' >&2\nexit 3"},
    });
    let (status, v) = footrest(&d, "TestHook", json!({"hook": hook}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["message"], "command exited with status 3: disk full");

    let hook = json!({
        "conditions": ["CONDITION_SNAPSHOT_END"],
        "actionCommand": {"command": "test -n '{{ .SnapshotId }}'"},
    });
    let (status, v) = footrest(&d, "TestHook", json!({"hook": hook}));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["message"], "command exited with status 0");
}

#[test]
fn footrest_rpcs_need_credentials_when_auth_is_on() {
    // The route list the auth tests walk has them, as protected routes.
    let routes = footrest::api::routes();
    for path in ["/v1.Footrest/PreviewSchedule", "/v1.Footrest/TestHook"] {
        assert!(routes.contains(&(path.to_string(), false)), "{routes:?}");
    }
    let hash = footrest::auth::hash_password("rpc-pass").unwrap();
    let mut d = Daemon::start_with(Opts {
        config: Some(config_with_plan(json!({
            "auth": {"users": [{"name": "admin", "passwordBcrypt": hash}]},
        }))),
        ..Default::default()
    });
    let preview = json!({"schedule": {"cron": "@daily"}});
    let hook = json!({"hook": {"conditions": ["CONDITION_SNAPSHOT_END"], "actionCommand": {"command": "true"}}});
    for (method, body) in [("PreviewSchedule", &preview), ("TestHook", &hook)] {
        let (status, v) = footrest(&d, method, body.clone());
        assert_eq!(status, 401, "{method}: {v}");
        assert_eq!(v["code"], "unauthenticated");
    }
    d.auth = Some(basic_auth("admin", "rpc-pass"));
    let (status, v) = footrest(&d, "PreviewSchedule", preview);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["description"], "At 00:00 every day");
    let (status, v) = footrest(&d, "TestHook", hook);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ok"], true, "{v}");
}
