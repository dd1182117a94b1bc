//! Restore (docs/COMPATIBILITY.md §6): one file or directory of a snapshot into a new target directory, as an
//! interactive task on the worker, with restic's progress in `operationRestore.lastStatus`.
//!
//! restic ≥ 0.15 restores `<snap>:<dir(path)>` with `--include /<base(path)>`, which puts the
//! chosen item directly under the target. restic 0.14 has no `<snap>:<subfolder>` syntax and
//! prints no JSON: there footrest restores `<snap> --include <path>` into a staging directory
//! inside the target and moves the item up, so the target looks the same with every version.

use super::{Failure, Orchestrator, Task, TaskError, priority};
use crate::cancel::CancelHandle;
use crate::logstore::{LogWriter, TASK_LOG_CAP};
use crate::model::{
    OpSelector, Operation, OperationRestore, OperationStatus, RestoreProgressEntry, SnapshotId,
};
use crate::restic::{Restic, ResticError};
use crate::util::now_ms;
use serde::Deserialize;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A restore request that has been checked (ids exist, the path is absolute and clean, the
/// target is absolute, new and outside footrest's data directory).
#[derive(Clone, Debug, PartialEq)]
pub struct RestoreSpec {
    pub repo_id: String,
    pub plan_id: String,
    pub snapshot_id: SnapshotId,
    /// An absolute path inside the snapshot, without `..`, `/` for everything.
    pub path: String,
    pub target: PathBuf,
}

impl Orchestrator {
    /// Queues a restore as an interactive task; returns its operation id at once.
    pub fn enqueue_restore(&self, spec: RestoreSpec) -> Result<i64, TaskError> {
        let config = self.config();
        let repo = config
            .repo(&spec.repo_id)
            .ok_or_else(|| TaskError::NotFound(format!("repo \"{}\" not found", spec.repo_id)))?;
        if config.instance.is_empty() {
            return Err(TaskError::Precondition(
                "instance is a required field".into(),
            ));
        }
        // The restore joins the flow of the backup that made the snapshot, as in Backrest.
        let sel = OpSelector {
            snapshot_id: Some(spec.snapshot_id.to_string()),
            repo_guid: Some(repo.guid.clone()),
            ..Default::default()
        };
        let flow_id = self
            .env
            .oplog
            .query(&sel, 0)
            .ok()
            .and_then(|ops| ops.first().map(|o| o.flow_id))
            .unwrap_or(0);
        let mut op = Operation {
            flow_id,
            repo_id: repo.id.clone(),
            repo_guid: repo.guid.clone(),
            plan_id: spec.plan_id.clone(),
            instance_id: config.instance.clone(),
            snapshot_id: spec.snapshot_id.to_string(),
            status: OperationStatus::Pending,
            unix_time_start_ms: now_ms(),
            display_message: "waiting to run".into(),
            operation_restore: Some(OperationRestore {
                path: spec.path.clone(),
                target: spec.target.to_string_lossy().into_owned(),
                last_status: None,
            }),
            ..Default::default()
        };
        self.env
            .oplog
            .add(&mut op)
            .map_err(|e| TaskError::History(format!("recording the restore: {e}")))?;
        self.enqueue(Task::Restore, priority::INTERACTIVE, Some(op.id), None)
    }

    /// Runs a queued restore (worker thread).
    pub(super) fn run_restore(&self, op_id: i64, cancel: &CancelHandle) -> Result<(), TaskError> {
        let mut op = self.start_operation(op_id)?;
        let mut log = match self
            .env
            .logs
            .create(&format!("restore-{op_id}"), TASK_LOG_CAP)
        {
            Ok(l) => {
                op.logref = l.logref().to_string();
                Some(l)
            }
            Err(e) => {
                log::warn!("operation {op_id}: no task log: {e}");
                None
            }
        };
        self.save(&mut op);
        let outcome = self.restore(&mut op, log.as_mut(), cancel);
        let result = match outcome {
            Ok(summary) => {
                op.status = OperationStatus::Success;
                if let Some(r) = &mut op.operation_restore {
                    r.last_status = Some(summary);
                }
                Ok(())
            }
            Err(f) => {
                op.status = f.status;
                op.display_message = f.message();
                if let Some(l) = log.as_mut() {
                    l.line(&f.message());
                }
                Err(f.error)
            }
        };
        if let Some(l) = log
            && let Err(e) = l.finish()
        {
            log::warn!("operation {op_id}: writing the task log: {e}");
        }
        op.unix_time_end_ms = now_ms();
        self.save(&mut op);
        result
    }

    fn restore(
        &self,
        op: &mut Operation,
        mut log: Option<&mut LogWriter>,
        cancel: &CancelHandle,
    ) -> Result<RestoreProgressEntry, Failure> {
        let (path, target) = match &op.operation_restore {
            Some(r) => (r.path.clone(), PathBuf::from(&r.target)),
            None => {
                return Err(Failure::new(TaskError::History(
                    "not a restore operation".into(),
                )));
            }
        };
        // Checked again here: the directory may have appeared since the request was accepted.
        if std::fs::symlink_metadata(&target).is_ok() {
            return Err(Failure::new(TaskError::Precondition(format!(
                "target directory {} already exists",
                target.display()
            ))));
        }
        let config = self.config();
        let repo = config.repo(&op.repo_id).ok_or_else(|| {
            Failure::new(TaskError::NotFound(format!(
                "repo \"{}\" not found",
                op.repo_id
            )))
        })?;
        let restic = Restic::new(&self.env.restic_cmd, repo).map_err(Failure::restic)?;
        let snap = op.snapshot_id.clone();
        let target_s = target.to_string_lossy().into_owned();
        let (dir, base) = split_path(&path);
        let mut args: Vec<String> = vec!["restore".into(), "--json".into()];
        match &base {
            None => args.push(snap.clone()),
            Some(base) => {
                args.push(format!("{snap}:{dir}"));
                args.extend(["--include".into(), format!("/{base}")]);
            }
        }
        args.extend(["--target".into(), target_s.clone()]);
        let mut summary = None;
        let first = self.run_restic_restore(op, &restic, &args, &mut log, &mut summary, cancel);
        match first {
            Ok(()) => {}
            Err(ResticError::Exit { message, .. })
                if base.is_some() && is_old_restic_subfolder_error(&message) =>
            {
                // restic 0.14: no <snap>:<subfolder>. Stage, then move the item up.
                let staging = target.join(format!(".footrest-restore-{}", op.id));
                let legacy: Vec<String> = vec![
                    "restore".into(),
                    "--json".into(),
                    snap.clone(),
                    "--include".into(),
                    path.clone(),
                    "--target".into(),
                    staging.to_string_lossy().into_owned(),
                ];
                let run =
                    self.run_restic_restore(op, &restic, &legacy, &mut log, &mut summary, cancel);
                if let Err(e) = run {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(self.failure(e, cancel));
                }
                let item = staging.join(path.trim_start_matches('/'));
                let dest = target.join(base.as_deref().unwrap_or_default());
                let moved = match std::fs::symlink_metadata(&item) {
                    Ok(_) => std::fs::rename(&item, &dest).map_err(|e| {
                        Failure::new(TaskError::History(format!(
                            "moving {} to {}: {e}",
                            item.display(),
                            dest.display()
                        )))
                    }),
                    Err(_) => Ok(()),
                };
                if let Err(e) = std::fs::remove_dir_all(&staging) {
                    log::warn!("removing {}: {e}", staging.display());
                }
                moved?;
            }
            Err(e) => return Err(self.failure(e, cancel)),
        }
        let restored = match &base {
            Some(b) => target.join(b),
            None => target.clone(),
        };
        if std::fs::symlink_metadata(&restored).is_err() {
            // Nothing matched: leave no empty target behind.
            let _ = std::fs::remove_dir(&target);
            return Err(Failure::new(TaskError::NotFound(format!(
                "path {path} not found in snapshot {}",
                short(&snap)
            ))));
        }
        Ok(summary.unwrap_or_else(|| summary_of_tree(&target)))
    }

    fn run_restic_restore(
        &self,
        op: &mut Operation,
        restic: &Restic,
        args: &[String],
        log: &mut Option<&mut LogWriter>,
        summary: &mut Option<RestoreProgressEntry>,
        cancel: &CancelHandle,
    ) -> Result<(), ResticError> {
        if let Some(l) = log.as_mut() {
            l.line(&format!("restic {}", args.join(" ")));
        }
        let mut last = Instant::now() - Duration::from_secs(1);
        let oplog = std::sync::Arc::clone(&self.env.oplog);
        restic
            .run_with(
                args,
                &[("RESTIC_PROGRESS_FPS", "2")],
                Some(cancel),
                &mut |line| match parse_restore_line(line) {
                    Some(entry) if entry.message_type == "summary" => *summary = Some(entry),
                    Some(entry) => {
                        if last.elapsed() >= Duration::from_millis(250) {
                            last = Instant::now();
                            if let Some(r) = &mut op.operation_restore {
                                r.last_status = Some(entry);
                            }
                            if let Err(e) = oplog.update_progress(op) {
                                log::warn!("operation {}: recording progress: {e}", op.id);
                            }
                        }
                    }
                    None => {
                        if let Some(l) = log.as_mut() {
                            let _ = l.write_all(line.as_bytes());
                            let _ = l.write_all(b"\n");
                        }
                    }
                },
            )
            .map(|_| ())
    }
}

/// restic 0.14's answer to `<snap>:<subfolder>`.
fn is_old_restic_subfolder_error(message: &str) -> bool {
    message.contains("invalid id") && message.contains("no matching ID found for prefix")
}

fn short(id: &str) -> &str {
    &id[..id.len().min(8)]
}

/// `/a/b/c` → (`/a/b`, Some(`c`)); `/a` → (`/`, Some(`a`)); `/` → (`/`, None).
pub fn split_path(path: &str) -> (String, Option<String>) {
    let p = path.trim_end_matches('/');
    match p.rsplit_once('/') {
        Some((dir, base)) if !base.is_empty() => {
            let dir = if dir.is_empty() { "/" } else { dir };
            (dir.to_string(), Some(base.to_string()))
        }
        _ => ("/".to_string(), None),
    }
}

/// A `status` or `summary` line of `restic restore --json` (0.15+); None for anything else.
pub fn parse_restore_line(line: &str) -> Option<RestoreProgressEntry> {
    if !line.trim_start().starts_with('{') {
        return None;
    }
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Raw {
        message_type: String,
        seconds_elapsed: f64,
        percent_done: f64,
        total_files: i64,
        files_restored: i64,
        total_bytes: i64,
        bytes_restored: i64,
    }
    let r: Raw = serde_json::from_str(line).ok()?;
    if r.message_type != "status" && r.message_type != "summary" {
        return None;
    }
    let percent_done = if r.message_type == "summary" {
        1.0
    } else {
        r.percent_done
    };
    Some(RestoreProgressEntry {
        message_type: r.message_type,
        seconds_elapsed: r.seconds_elapsed,
        total_bytes: r.total_bytes,
        bytes_restored: r.bytes_restored,
        total_files: r.total_files,
        files_restored: r.files_restored,
        percent_done,
    })
}

/// A summary counted from the restored files (restic 0.14 prints none).
fn summary_of_tree(root: &Path) -> RestoreProgressEntry {
    let (mut files, mut bytes) = (0i64, 0i64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let Ok(meta) = std::fs::symlink_metadata(&p) else {
            continue;
        };
        if meta.is_dir() {
            if let Ok(rd) = std::fs::read_dir(&p) {
                stack.extend(rd.flatten().map(|e| e.path()));
            }
        } else {
            files += 1;
            if meta.is_file() {
                bytes += meta.len() as i64;
            }
        }
    }
    RestoreProgressEntry {
        message_type: "summary".into(),
        total_files: files,
        files_restored: files,
        total_bytes: bytes,
        bytes_restored: bytes,
        percent_done: 1.0,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_parent_and_name() {
        assert_eq!(split_path("/a/b/c"), ("/a/b".into(), Some("c".into())));
        assert_eq!(split_path("/a"), ("/".into(), Some("a".into())));
        assert_eq!(split_path("/a/b/"), ("/a".into(), Some("b".into())));
        assert_eq!(split_path("/"), ("/".into(), None));
    }

    #[test]
    fn restore_lines_of_new_restic_parse_and_old_text_does_not() {
        let s = parse_restore_line(r#"{"message_type":"status","seconds_elapsed":1,"percent_done":0.5,"total_files":4,"files_restored":2,"total_bytes":100,"bytes_restored":50}"#).unwrap();
        assert_eq!((s.files_restored, s.bytes_restored), (2, 50));
        let s = parse_restore_line(r#"{"message_type":"summary","total_files":2,"files_restored":2,"total_bytes":3,"bytes_restored":3}"#).unwrap();
        assert_eq!(s.message_type, "summary");
        assert_eq!(s.percent_done, 1.0);
        assert!(parse_restore_line("restoring <Snapshot 1e080ce1 of [/src]> to /t").is_none());
        assert!(parse_restore_line(r#"{"message_type":"verbose_status"}"#).is_none());
    }

    #[test]
    fn the_old_restic_subfolder_error_is_recognised() {
        assert!(is_old_restic_subfolder_error(
            "invalid id \"1e08:/src\": no matching ID found for prefix \"1e08:/src\""
        ));
        assert!(!is_old_restic_subfolder_error("Fatal: wrong password"));
    }
}
