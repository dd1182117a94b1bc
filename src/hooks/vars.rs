//! The variables a hook's template sees, shaped like Backrest's `HookVars` (Go field names):
//! `Task Event Repo Plan SnapshotId SnapshotStats CurTime Duration Error`.
//!
//! `Repo` and `Plan` carry their settings, but not the repo's `Password` and `Env` (which hold
//! secrets): a message template must not be able to leak them.

use crate::config::hook::Condition;
use crate::config::{Plan, Repo};
use crate::model::BackupProgressSummary;
use crate::template::backrest::go_duration;
use serde_json::{Value, json};
use std::time::Duration;

/// What the task that fires the hooks knows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Vars {
    /// Backrest's task name, e.g. `backup for plan "nightly"`.
    pub task: String,
    pub snapshot_id: String,
    /// The backup's summary, for the events at its end.
    pub stats: Option<BackupProgressSummary>,
    pub error: String,
    /// How long the task has been running.
    pub duration: Duration,
}

impl Vars {
    pub fn new(task: impl Into<String>) -> Vars {
        Vars {
            task: task.into(),
            ..Default::default()
        }
    }

    /// The template data for one hook firing on `event`; `now` is an RFC 3339 time.
    pub fn to_value(
        &self,
        event: Condition,
        repo: Option<&Repo>,
        plan: Option<&Plan>,
        now: &str,
    ) -> Value {
        json!({
            "Task": self.task,
            "Event": event.name(),
            "Repo": repo.map_or(Value::Null, repo_value),
            "Plan": plan.map_or(Value::Null, plan_value),
            "SnapshotId": self.snapshot_id,
            "SnapshotStats": self.stats.as_ref().map_or(Value::Null, stats_value),
            "CurTime": now,
            "Duration": go_duration(self.duration.as_nanos().min(i64::MAX as u128) as i64),
            "Error": self.error,
        })
    }
}

fn repo_value(r: &Repo) -> Value {
    json!({
        "Id": r.id,
        "Uri": r.uri,
        "Guid": r.guid,
        "Flags": r.flags,
        "AutoUnlock": r.auto_unlock,
        "AutoInitialize": r.auto_initialize,
    })
}

fn plan_value(p: &Plan) -> Value {
    json!({
        "Id": p.id,
        "Repo": p.repo,
        "Paths": p.paths,
        "Excludes": p.excludes,
        "Iexcludes": p.iexcludes,
        "BackupFlags": p.backup_flags,
        "SkipIfUnchanged": p.skip_if_unchanged,
    })
}

/// restic's summary under the names of Backrest's `restic.BackupProgressEntry`.
fn stats_value(s: &BackupProgressSummary) -> Value {
    json!({
        "MessageType": "summary",
        "FilesNew": s.files_new,
        "FilesChanged": s.files_changed,
        "FilesUnmodified": s.files_unmodified,
        "DirsNew": s.dirs_new,
        "DirsChanged": s.dirs_changed,
        "DirsUnmodified": s.dirs_unmodified,
        "DataBlobs": s.data_blobs,
        "TreeBlobs": s.tree_blobs,
        "DataAdded": s.data_added,
        "TotalFilesProcessed": s.total_files_processed,
        "TotalBytesProcessed": s.total_bytes_processed,
        "TotalDuration": s.total_duration,
        "SnapshotId": s.snapshot_id,
    })
}

/// The current time in the local time zone as RFC 3339 with seconds (`CurTime`).
pub fn now_rfc3339() -> String {
    let tz = crate::schedule::local_time_zone();
    let now = crate::schedule::Timestamp::now();
    let d = tz.to_datetime(now);
    let off = tz.to_offset(now).seconds();
    let (sign, off) = if off < 0 { ('-', -off) } else { ('+', off) };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        d.year(),
        d.month(),
        d.day(),
        d.hour(),
        d.minute(),
        d.second(),
        off / 3600,
        off / 60 % 60
    )
}

/// Variables for `footrest hook test`: a plausible snapshot for the end events, an error for
/// the error events.
pub fn sample(event: Condition, task: &str) -> Vars {
    let mut v = Vars::new(task);
    v.duration = Duration::from_millis(83_250);
    if matches!(
        event,
        Condition::SnapshotEnd | Condition::SnapshotSuccess | Condition::SnapshotWarning
    ) {
        v.snapshot_id = "4e1f2a9b7c3d5e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f".into();
        v.stats = Some(BackupProgressSummary {
            files_new: 12,
            files_changed: 3,
            files_unmodified: 1520,
            dirs_new: 1,
            dirs_changed: 4,
            dirs_unmodified: 210,
            data_blobs: 15,
            tree_blobs: 6,
            data_added: 4_718_592,
            total_files_processed: 1535,
            total_bytes_processed: 734_003_200,
            total_duration: 81.9,
            snapshot_id: v.snapshot_id.clone(),
        });
    }
    if event == Condition::SnapshotWarning {
        v.error = "partial backup, 1 files may not have been read completely.".into();
    }
    if event.is_error() {
        v.error = "this is a test error sent by footrest hook test".into();
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::backrest::render;

    #[test]
    fn backrests_default_summary_renders_from_these_vars() {
        let repo = Repo {
            id: "b2".into(),
            uri: "s3:bucket/x".into(),
            password: "hunter2".into(),
            env: vec!["AWS_SECRET_ACCESS_KEY=zzz".into()],
            ..Default::default()
        };
        let plan = Plan {
            id: "nightly".into(),
            repo: "b2".into(),
            paths: vec!["/home".into()],
            ..Default::default()
        };
        let v = sample(Condition::SnapshotSuccess, "backup for plan \"nightly\"").to_value(
            Condition::SnapshotSuccess,
            Some(&repo),
            Some(&plan),
            "2024-05-01T10:20:30+02:00",
        );
        let text = render("", &v).unwrap();
        assert!(text.starts_with("\nBackrest Snapshot Notification\nTask: backup for plan \"nightly\" at 2024-05-01T10:20:30+02:00\nEvent: snapshot success\n"), "{text}");
        assert!(text.contains("- Data added: 4.719 MB\n"), "{text}");
        assert!(text.contains("- Total duration: 81.9s\n"), "{text}");
        let all = render("{{ .JsonMarshal .Repo }} {{ .Repo.Password }}", &v).unwrap();
        assert!(!all.contains("hunter2") && !all.contains("zzz"), "{all}");
        assert_eq!(
            render("{{ .Duration }} {{ .FormatDuration .Duration }}", &v).unwrap(),
            "1m23.25s 1m23.25s"
        );
        let start = render(
            "",
            &sample(Condition::SnapshotStart, "t").to_value(
                Condition::SnapshotStart,
                Some(&repo),
                Some(&plan),
                "2024-05-01T10:20:30Z",
            ),
        )
        .unwrap();
        assert!(start.contains("Paths: \n- /home\n"), "{start}");
    }

    #[test]
    fn now_is_rfc3339_that_format_time_accepts() {
        let now = now_rfc3339();
        assert!(
            crate::template::backrest::format_time(&now).is_some(),
            "{now}"
        );
    }
}
