//! GET /metrics and GET /status against the real daemon and real restic; /metrics is read by
//! the Prometheus project's own Python text parser (prometheus_client), not by our code.

use crate::common::*;
use serde_json::{Value, json};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// A Python with `prometheus_client` (tests/run.sh makes one in target/test-deps/py).
fn python() -> String {
    if let Ok(p) = std::env::var("FOOTREST_TEST_PYTHON") {
        return p;
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/test-deps/py/bin/python");
    if venv.exists() {
        return venv.display().to_string();
    }
    let ok = Command::new("python3")
        .args(["-c", "import prometheus_client"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "the metrics tests need Python with prometheus_client: run `bash tests/run.sh --deps-only`"
    );
    "python3".into()
}

const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
text = sys.stdin.read()
out = []
for fam in text_string_to_metric_families(text):
    out.append({"name": fam.name, "type": fam.type, "help": fam.documentation,
                "samples": [{"name": s.name, "labels": s.labels, "value": s.value} for s in fam.samples]})
names = [f["name"] for f in out]
assert len(names) == len(set(names)), "a family appears twice: %r" % names
print(json.dumps(out))
"#;

/// /metrics as prometheus_client parses it: family name → (type, samples).
fn scrape(d: &Daemon) -> Vec<Value> {
    let r = d.request("GET", "/metrics", &[], b"");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert!(
        r.header("Content-Type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.header("Content-Type")
    );
    let mut child = Command::new(python())
        .args(["-c", PARSE])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&r.body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "prometheus_client refused /metrics: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&r.body)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

/// The value of the one sample of `name` whose labels include `labels`.
fn sample(families: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = families
        .iter()
        .flat_map(|f| f["samples"].as_array().unwrap().iter())
        .filter(|s| s["name"] == name)
        .filter(|s| labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .map(|s| s["value"].as_f64().unwrap())
        .collect();
    assert!(found.len() <= 1, "{name} {labels:?}: {found:?}");
    found.first().copied()
}

fn family_type(families: &[Value], name: &str) -> String {
    families
        .iter()
        .find(|f| f["name"] == name)
        .unwrap_or_else(|| panic!("no family {name}"))["type"]
        .as_str()
        .unwrap()
        .to_string()
}

fn status(d: &Daemon, query: &str) -> (u16, Value) {
    let r = d.request("GET", &format!("/status{query}"), &[], b"");
    (r.status, r.json())
}

#[test]
fn metrics_use_backrests_names_parse_with_prometheus_client_and_survive_a_restart() {
    let work = TempDir::new("metrics");
    let src = work.path().join("src");
    make_source(&src);
    let opts = Opts::default();
    let mut d = Daemon::start_with(Opts::default());
    add_repo(&d, "repo1", &work.path().join("repo"));
    let missing = work.path().join("not-there");
    set_plans(
        &d,
        vec![
            json!({"id": "good", "repo": "repo1", "paths": [src.to_str().unwrap()],
                   "schedule": {"maxFrequencyDays": 1}}),
            json!({"id": "bad", "repo": "repo1", "paths": [missing.to_str().unwrap()]}),
        ],
    );
    // Nothing has run: the families are there, empty, and parse.
    let before = scrape(&d);
    assert_eq!(family_type(&before, "backrest_tasks_run"), "counter");
    assert_eq!(sample(&before, "backrest_tasks_run_total", &[]), None);
    assert!(sample(&before, "process_resident_memory_bytes", &[]).unwrap() > 0.0);

    d.ok("Backup", json!({"value": "good"}));
    d.ok("Backup", json!({"value": "good"}));
    let (code, _) = d.rpc("Backup", json!({"value": "bad"}));
    assert_ne!(code, 200, "a backup of a missing path fails");

    let check = |families: &[Value]| {
        let good = [
            ("repo_id", "repo1"),
            ("plan_id", "good"),
            ("task_type", "backup"),
        ];
        let runs = [good.as_slice(), &[("status", "success")]].concat();
        assert_eq!(
            sample(families, "backrest_tasks_run_total", &runs),
            Some(2.0)
        );
        assert_eq!(
            sample(families, "backrest_last_task_status", &runs),
            Some(0.0)
        );
        let bad = [
            ("repo_id", "repo1"),
            ("plan_id", "bad"),
            ("task_type", "backup"),
            ("status", "failed"),
        ];
        assert_eq!(
            sample(families, "backrest_tasks_run_total", &bad),
            Some(1.0)
        );
        assert_eq!(
            sample(families, "backrest_last_task_status", &bad),
            Some(1.0)
        );
        let plan = [("repo_id", "repo1"), ("plan_id", "good")];
        assert!(sample(families, "backrest_backup_bytes_processed", &plan).unwrap() > 0.0);
        assert!(sample(families, "backrest_backup_bytes_added", &plan).is_some());
        assert_eq!(
            sample(families, "backrest_backup_file_warnings", &plan),
            Some(0.0)
        );
        assert_eq!(sample(families, "backrest_snapshots", &plan), Some(2.0));
        assert!(sample(families, "backrest_tasks_duration_secs", &good).unwrap() >= 0.0);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        let last_ok = sample(families, "backrest_last_success_timestamp_seconds", &good).unwrap();
        assert!(
            now - last_ok < 600.0 && last_ok <= now + 1.0,
            "{last_ok} vs {now}"
        );
        assert_eq!(
            sample(
                families,
                "backrest_last_success_timestamp_seconds",
                &[("plan_id", "bad")]
            ),
            None,
            "the bad plan never succeeded"
        );
        assert!(
            sample(
                families,
                "backrest_last_run_timestamp_seconds",
                &[("plan_id", "bad")]
            )
            .is_some()
        );
        // The scheduled plan's next run is a day after its last backup.
        let next = sample(families, "backrest_next_run_timestamp_seconds", &plan).unwrap();
        assert!(next > now + 23.0 * 3600.0, "{next}");
        for (name, ty) in [
            ("backrest_backup_bytes_processed", "gauge"),
            ("backrest_backup_bytes_added", "gauge"),
            ("backrest_backup_file_warnings", "gauge"),
            ("backrest_tasks_duration_secs", "gauge"),
            ("backrest_tasks_run", "counter"),
            ("backrest_last_task_status", "gauge"),
            ("process_start_time_seconds", "gauge"),
        ] {
            assert_eq!(family_type(families, name), ty, "{name}");
        }
        let info = families
            .iter()
            .find(|f| f["name"] == "footrest_build_info")
            .unwrap();
        let v = info["samples"][0]["labels"]["restic_version"]
            .as_str()
            .unwrap();
        assert_eq!(v, format!("0.{}", restic_minor()));
    };
    let first = scrape(&d);
    check(&first);
    let started = sample(&first, "process_start_time_seconds", &[]).unwrap();

    // Rebuilt from the history after a restart (Backrest's start empty).
    d.stop();
    let d = Daemon::spawn(d.kill(), &opts);
    let again = scrape(&d);
    check(&again);
    assert!(sample(&again, "process_start_time_seconds", &[]).unwrap() >= started);
}

#[test]
fn status_is_503_when_a_scheduled_plan_failed_and_answers_one_plan() {
    let work = TempDir::new("status");
    let src = work.path().join("src");
    make_source(&src);
    let d = Daemon::start();
    add_repo(&d, "repo1", &work.path().join("repo"));
    let missing = work.path().join("not-there");
    let good = json!({"id": "good", "repo": "repo1", "paths": [src.to_str().unwrap()],
                      "schedule": {"maxFrequencyDays": 1}});
    let bad = json!({"id": "bad", "repo": "repo1", "paths": [missing.to_str().unwrap()],
                     "schedule": {"maxFrequencyDays": 1}});
    set_plans(&d, vec![good.clone(), bad.clone()]);

    let (code, s) = status(&d, "");
    assert_eq!(code, 200, "nothing has run yet: {s}");
    assert_eq!(s["plans"][0]["state"], "never_run");

    d.ok("Backup", json!({"value": "good"}));
    let (code, s) = status(&d, "");
    assert_eq!(code, 200, "{s}");
    let g = &s["plans"][0];
    assert_eq!(g["id"], "good");
    assert_eq!(g["state"], "ok");
    assert_eq!(g["lastStatus"], "STATUS_SUCCESS");
    assert_eq!(g["snapshots"], 1);
    assert!(g["lastSuccess"].as_str().unwrap().ends_with('Z'), "{g}");
    assert!(g["nextRun"].is_string(), "{g}");
    assert!(g["bytesAdded"].as_i64().unwrap() > 0);
    assert_eq!(s["repos"][0]["id"], "repo1");

    let (code, _) = d.rpc("Backup", json!({"value": "bad"}));
    assert_ne!(code, 200);
    let (code, s) = status(&d, "");
    assert_eq!(code, 503, "a scheduled plan failed: {s}");
    assert_eq!(s["healthy"], false);
    assert_eq!(s["plans"][1]["state"], "failed");
    assert_eq!(s["plans"][1]["lastStatus"], "STATUS_ERROR");

    let (code, s) = status(&d, "?plan=good");
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["plans"].as_array().unwrap().len(), 1);
    assert_eq!(status(&d, "?plan=bad").0, 503);
    let (code, s) = status(&d, "?plan=nope");
    assert_eq!(code, 404);
    assert!(s["message"].as_str().unwrap().contains("nope"));

    // A failed plan that is not scheduled does not make the whole daemon unhealthy.
    let mut unscheduled = bad.clone();
    unscheduled.as_object_mut().unwrap().remove("schedule");
    set_plans(&d, vec![good, unscheduled]);
    assert_eq!(status(&d, "").0, 200);
    assert_eq!(
        status(&d, "?plan=bad").0,
        503,
        "asked for by name, it is judged"
    );

    let r = d.request("POST", "/status", &[], b"");
    assert_eq!(r.status, 405);
}

#[test]
fn metrics_and_status_need_credentials_when_auth_is_on() {
    let hash = footrest::auth::hash_password("secret1").unwrap();
    let d = Daemon::start_with(Opts {
        config: Some(json!({"version": 6, "instance": "m",
                            "auth": {"users": [{"name": "admin", "passwordBcrypt": hash}]}})),
        ..Default::default()
    });
    for path in ["/metrics", "/status"] {
        let r = d.request("GET", path, &[], b"");
        assert_eq!(r.status, 401, "{path}");
        let auth = basic_auth("admin", "secret1");
        let r = d.request("GET", path, &[("Authorization", &auth)], b"");
        assert_eq!(
            r.status,
            200,
            "{path}: {}",
            String::from_utf8_lossy(&r.body)
        );
    }
}
