//! Tests of `monitor`.

use super::*;
use crate::model::{
    BackupProgressEntry, BackupProgressSummary, OperationBackup, OperationIndexSnapshot,
    OperationStats, RepoStats,
};
use crate::oplog::Options;
use serde_json::{Value, json};

const HOUR: i64 = 3600 * 1000;
const NOW: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

fn log(tag: &str) -> (Arc<OpLog>, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!("footrest-mon-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = Options {
        sync: false,
        ..Default::default()
    };
    (Arc::new(OpLog::open_with(&dir, opts).unwrap()), dir)
}

fn backup(plan: &str, start: i64, status: OperationStatus, added: i64) -> Operation {
    Operation {
        plan_id: plan.into(),
        repo_id: "r".into(),
        status,
        unix_time_start_ms: start,
        unix_time_end_ms: if status.is_terminal() {
            start + 90_000
        } else {
            0
        },
        operation_backup: Some(OperationBackup {
            last_status: (added > 0).then(|| BackupProgressEntry {
                status: None,
                summary: Some(BackupProgressSummary {
                    data_added: added,
                    total_bytes_processed: added * 10,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn config(schedule: Value) -> Config {
    serde_json::from_value(json!({
        "instance": "i",
        "repos": [{"id": "r", "uri": "/x"}],
        "plans": [{"id": "p", "repo": "r", "paths": ["/x"], "schedule": schedule}],
    }))
    .unwrap()
}

/// The metrics without the process's own lines (they differ between two monitors).
fn series(m: &Monitor, c: &Config) -> String {
    m.metrics(c, Some((0, 18)))
        .lines()
        .filter(|l| !l.starts_with("process_"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn value(text: &str, prefix: &str) -> Option<String> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
}

/// What the monitor learns from changes as they happen equals what a new one (a restart)
/// rebuilds from the history, and progress updates of a running task count it once.
#[test]
fn live_changes_and_a_rebuild_from_history_agree() {
    let (oplog, dir) = log("agree");
    let live = Monitor::start(&oplog);
    let c = config(json!({"maxFrequencyHours": 1}));
    // A backup that runs with progress, then succeeds.
    let mut op = backup("p", NOW - 5 * HOUR, OperationStatus::Pending, 0);
    oplog.add(&mut op).unwrap();
    op.status = OperationStatus::InProgress;
    oplog.update(&mut op).unwrap();
    for _ in 0..3 {
        oplog.update_progress(&mut op).unwrap();
    }
    let mut done = backup("p", NOW - 5 * HOUR, OperationStatus::Success, 7);
    done.id = op.id;
    done.modno = op.modno;
    oplog.update(&mut done).unwrap();
    // Updated again once finished (a hook's status, a forget mark): not a new run.
    oplog.update(&mut done).unwrap();
    // A newer success that an end hook then turns into an error: the run moves from success
    // to failed, and the last success is the one before again.
    let mut hooked = backup("p", NOW - 4 * HOUR, OperationStatus::InProgress, 0);
    oplog.add(&mut hooked).unwrap();
    hooked.status = OperationStatus::Success;
    hooked.unix_time_end_ms = hooked.unix_time_start_ms + 90_000;
    oplog.update(&mut hooked).unwrap();
    hooked.status = OperationStatus::Error;
    oplog.update(&mut hooked).unwrap();
    // A failure, a cancel, a forget, a stats run, snapshots (one forgotten, one deleted).
    oplog
        .add(&mut backup("p", NOW - 2 * HOUR, OperationStatus::Error, 0))
        .unwrap();
    oplog
        .add(&mut backup(
            "",
            NOW - HOUR,
            OperationStatus::UserCancelled,
            0,
        ))
        .unwrap();
    let mut forget = Operation {
        repo_id: "r".into(),
        plan_id: "p".into(),
        status: OperationStatus::Success,
        unix_time_start_ms: NOW - HOUR,
        unix_time_end_ms: NOW - HOUR + 2000,
        operation_forget: Some(Default::default()),
        ..Default::default()
    };
    oplog.add(&mut forget).unwrap();
    let mut stats = Operation {
        repo_id: "r".into(),
        status: OperationStatus::Success,
        unix_time_start_ms: NOW - HOUR,
        unix_time_end_ms: NOW - HOUR + 1000,
        operation_stats: Some(OperationStats {
            stats: Some(RepoStats {
                total_size: 12345,
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    oplog.add(&mut stats).unwrap();
    let mut snaps = Vec::new();
    for i in 0..3 {
        let mut s = Operation {
            repo_id: "r".into(),
            plan_id: "p".into(),
            snapshot_id: format!("{i:064x}"),
            status: OperationStatus::Success,
            unix_time_start_ms: NOW - 3 * HOUR + i,
            operation_index_snapshot: Some(OperationIndexSnapshot::default()),
            ..Default::default()
        };
        oplog.add(&mut s).unwrap();
        snaps.push(s);
    }
    snaps[0].operation_index_snapshot.as_mut().unwrap().forgot = true;
    oplog.update(&mut snaps[0]).unwrap();
    oplog.delete(&[snaps[1].id]).unwrap();
    // Scheduled next.
    oplog
        .add(&mut backup("p", NOW + HOUR, OperationStatus::Pending, 0))
        .unwrap();

    let text = series(&live, &c);
    let ok = "backrest_tasks_run_total{plan_id=\"p\",repo_id=\"r\",status=\"success\",task_type=\"backup\"}";
    assert_eq!(value(&text, ok).as_deref(), Some("1"), "{text}");
    let failed = "backrest_tasks_run_total{plan_id=\"p\",repo_id=\"r\",status=\"failed\",task_type=\"backup\"}";
    assert_eq!(value(&text, failed).as_deref(), Some("2"));
    let cancelled = "backrest_last_task_status{plan_id=\"_unassociated_\",repo_id=\"r\",status=\"cancelled\",task_type=\"backup\"}";
    assert_eq!(value(&text, cancelled).as_deref(), Some("-1"));
    let last = "backrest_last_task_status{plan_id=\"p\",repo_id=\"r\",status=\"failed\",task_type=\"backup\"}";
    assert_eq!(
        value(&text, last).as_deref(),
        Some("1"),
        "the newest backup failed"
    );
    assert_eq!(
        value(&text, "backrest_backup_bytes_added{").as_deref(),
        Some("7")
    );
    assert_eq!(
        value(&text, "backrest_backup_bytes_processed{").as_deref(),
        Some("70")
    );
    assert_eq!(value(&text, "backrest_snapshots{").as_deref(), Some("1"));
    assert_eq!(
        value(&text, "backrest_repo_size_bytes{").as_deref(),
        Some("12345")
    );
    assert_eq!(
        value(
            &text,
            "backrest_tasks_duration_secs{plan_id=\"p\",repo_id=\"r\",task_type=\"forget\"}"
        )
        .as_deref(),
        Some("2")
    );
    assert_eq!(
        value(&text, "backrest_next_run_timestamp_seconds{").as_deref(),
        Some(format!("{}", (NOW + HOUR) / 1000).as_str())
    );
    assert_eq!(
        value(&text, "backrest_last_success_timestamp_seconds{plan_id=\"p\",repo_id=\"r\",task_type=\"backup\"}").as_deref(),
        Some(format!("{}", (NOW - 5 * HOUR + 90_000) / 1000).as_str())
    );

    let rebuilt = Monitor::start(&oplog);
    assert_eq!(series(&rebuilt, &c), text);
    let _ = std::fs::remove_dir_all(dir);
}

/// /status as JSON, with its HTTP status.
fn answer(m: &Monitor, c: &Config, plan: Option<&str>) -> (u16, Value) {
    let (code, s) = m.status(c, plan, NOW, &TimeZone::UTC).unwrap();
    (code, serde_json::to_value(s).unwrap())
}

#[test]
fn status_says_overdue_as_the_dashboard_does_and_answers_503() {
    let (oplog, dir) = log("overdue");
    let m = Monitor::start(&oplog);
    let tz = TimeZone::UTC;
    let hourly = config(json!({"maxFrequencyHours": 1}));
    let (code, s) = answer(&m, &hourly, None);
    assert_eq!(
        (code, s["plans"][0]["state"].as_str()),
        (200, Some("never_run"))
    );

    // Yesterday evening: an hourly plan is overdue today (no success today, one expected).
    let mut evening = backup("p", NOW - 10 * HOUR, OperationStatus::Success, 5);
    oplog.add(&mut evening).unwrap();
    let (code, s) = answer(&m, &hourly, None);
    assert_eq!(code, 503, "{s}");
    assert_eq!(s["plans"][0]["state"], "overdue");
    assert_eq!(s["plans"][0]["overdue"], true);
    // Daily: the same backup is recent enough.
    let daily = config(json!({"maxFrequencyDays": 1}));
    let (code, s) = answer(&m, &daily, None);
    assert_eq!(code, 200, "{s}");
    assert_eq!(s["plans"][0]["state"], "ok");
    assert_eq!(s["plans"][0]["lastSuccess"], "2027-01-14T22:01:30Z");
    // Without a schedule, never overdue; unknown plan 404.
    let (code, _) = answer(&m, &config(json!({"disabled": true})), None);
    assert_eq!(code, 200);
    assert!(m.status(&daily, Some("q"), NOW, &tz).is_err());

    // Today's backup succeeded: not overdue, as the dashboard's today flag.
    oplog
        .add(&mut backup(
            "p",
            NOW - 10 * 60_000,
            OperationStatus::Success,
            5,
        ))
        .unwrap();
    let (code, s) = answer(&m, &hourly, None);
    assert_eq!(code, 200, "{s}");
    let (_, plans) = {
        let ops = oplog.query(&Default::default(), 0).unwrap();
        let (counts, _) = (dashboard::gather(&oplog, NOW, &tz).1, ());
        dashboard::summarize(&hourly, &ops, &counts, NOW, &tz)
    };
    assert!(!plans[0].history_last_30days.last().unwrap().overdue);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn label_values_are_escaped_for_the_text_format() {
    assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    assert_eq!(or_unassociated(""), "_unassociated_");
}
