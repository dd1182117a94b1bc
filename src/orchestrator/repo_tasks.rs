//! Repository tasks: forget, prune, check, stats, index snapshots, unlock (docs/COMPATIBILITY.md §6).
//!
//! Run by the worker thread. Each task with an operation moves it PENDING → INPROGRESS → a
//! terminal status; prune and check keep restic's output in a task log (`logref`).

use super::{Failure, Orchestrator, Task, TaskCtx, TaskError, index_into};
use crate::cancel::CancelHandle;
use crate::config::Repo;
use crate::logstore::{LogWriter, TASK_LOG_CAP};
use crate::model::{Operation, OperationStatus, RepoStats, ResticSnapshot};
use crate::restic::{Restic, ResticError};
use crate::util::now_ms;
use serde::Deserialize;

/// What a task reports when it ends well.
struct Done {
    message: String,
}

impl Orchestrator {
    /// Runs every task but backups (see `backup.rs`).
    pub(super) fn run_repo_task(
        &self,
        op_id: i64,
        task: &Task,
        cancel: &CancelHandle,
    ) -> Result<(), TaskError> {
        let config = self.config();
        let mut op = self.begin(op_id);
        let result = (|| {
            let repo_id = task.repo_id(&config).unwrap_or_default();
            let repo = config.repo(repo_id).ok_or_else(|| {
                Failure::new(TaskError::NotFound(format!("repo \"{repo_id}\" not found")))
            })?;
            let restic = Restic::new(&self.env.restic_cmd, repo).map_err(Failure::restic)?;
            let unlocks_first = !matches!(
                task,
                Task::Unlock { .. } | Task::Stats { .. } | Task::IndexSnapshots { .. }
            );
            if repo.auto_unlock
                && unlocks_first
                && let Err(e) = restic.unlock()
            {
                log::warn!("repo \"{}\": unlock before task: {e}", repo.id);
            }
            self.repo_task_start_hooks(task, &config, repo, op.as_ref(), cancel)?;
            match task {
                Task::Forget {
                    plan_id,
                    snapshot_id,
                    ..
                } => self.forget(
                    TaskCtx {
                        config: &config,
                        repo,
                        restic: &restic,
                        cancel,
                    },
                    plan_id.as_deref(),
                    snapshot_id.as_deref(),
                    op.as_mut(),
                ),
                Task::Prune { .. } => self.prune(repo, &restic, op.as_mut(), cancel),
                Task::Check { .. } => self.check(repo, &restic, op.as_mut(), cancel),
                Task::Stats { .. } => self.stats(&restic, op.as_mut(), cancel),
                Task::IndexSnapshots { .. } => {
                    let snapshots = restic
                        .snapshots(None)
                        .map_err(|e| self.failure(e, cancel))?;
                    index_into(&self.env.oplog, repo, snapshots, None)
                        .map_err(|e| Failure::new(TaskError::History(e)))?;
                    Ok(Done {
                        message: String::new(),
                    })
                }
                Task::Unlock { .. } => {
                    // Errors are only reported: a failed unlock must not block anything else.
                    match restic.unlock() {
                        Ok(()) => Ok(Done {
                            message: String::new(),
                        }),
                        Err(e) => {
                            log::warn!("repo \"{}\": unlock: {e}", repo.id);
                            Ok(Done {
                                message: format!("unlock: {e}"),
                            })
                        }
                    }
                }
                Task::Backup { .. } | Task::Restore => Err(Failure::new(TaskError::History(
                    "a backup is not a repo task".into(),
                ))),
            }
        })();
        let (status, message, error) = match result {
            Ok(done) => (OperationStatus::Success, done.message, None),
            Err(f) => (f.status, f.message(), Some(f.error)),
        };
        if let Some(op) = op.as_mut() {
            op.status = status;
            op.display_message = message.clone();
            op.unix_time_end_ms = now_ms();
            self.save(op);
        }
        let (status, error) = match self.repo_task_end_hooks(task, &config, op.as_mut(), cancel) {
            Some(f) => (f.status, Some(f.error)),
            None => (status, error),
        };
        if status == OperationStatus::Success
            && let Task::Prune { repo_id } = task
        {
            // Backrest refreshes the repo's stats after a prune.
            let stats = Task::Stats {
                repo_id: repo_id.clone(),
            };
            if let Err(e) = self.enqueue(stats.clone(), stats.priority(), None, None) {
                log::warn!("repo \"{repo_id}\": queueing stats after prune: {e}");
            }
        }
        match status {
            OperationStatus::Success => Ok(()),
            _ => Err(error.unwrap_or_else(|| TaskError::restic_failed(message))),
        }
    }

    /// Marks the task's operation INPROGRESS; None for tasks without one.
    fn begin(&self, op_id: i64) -> Option<Operation> {
        if op_id == 0 {
            return None;
        }
        match self.start_operation(op_id) {
            Ok(mut op) => {
                self.save(&mut op);
                Some(op)
            }
            Err(e) => {
                log::error!("operation {op_id}: {e}");
                None
            }
        }
    }

    /// A task log for restic's output, its ref recorded on the operation.
    fn task_log(&self, name: &str, op: Option<&mut Operation>) -> Option<LogWriter> {
        // The owner's id leads the ref, so housekeeping can tell a kept log from an orphan.
        let name = match &op {
            Some(op) => format!("op{}-{name}", op.id),
            None => name.to_string(),
        };
        match self.env.logs.create(&name, TASK_LOG_CAP) {
            Ok(w) => {
                if let Some(op) = op {
                    op.logref = w.logref().to_string();
                    self.save(op);
                }
                Some(w)
            }
            Err(e) => {
                log::warn!("creating the {name} log: {e}");
                None
            }
        }
    }

    /// Runs restic with its output going to `log`; a failure is also written there.
    fn run_logged(
        &self,
        restic: &Restic,
        args: &[String],
        log: &mut Option<LogWriter>,
        cancel: &CancelHandle,
    ) -> Result<(), Failure> {
        let result = restic.run_with(args, &[], Some(cancel), &mut |line| {
            if let Some(w) = log.as_mut() {
                w.line(line);
            }
        });
        let failure = match result {
            Ok(_) => None,
            Err(e @ ResticError::Exit { .. }) if !cancel.is_cancelled() => Some(Failure::restic(e)),
            Err(e) => Some(self.failure(e, cancel)),
        };
        if let Some(w) = log.take() {
            let mut w = w;
            if let Some(f) = &failure {
                w.line(&f.message());
            }
            if let Err(e) = w.finish() {
                log::warn!("finishing a task log: {e}");
            }
        }
        failure.map_or(Ok(()), Err)
    }

    fn prune(
        &self,
        repo: &Repo,
        restic: &Restic,
        mut op: Option<&mut Operation>,
        cancel: &CancelHandle,
    ) -> Result<Done, Failure> {
        let policy = repo.prune_policy.clone().unwrap_or_default();
        let max_unused = if policy.max_unused_bytes > 0 {
            policy.max_unused_bytes.to_string()
        } else if policy.max_unused_percent > 0.0 {
            format!("{}%", policy.max_unused_percent)
        } else {
            "25%".to_string()
        };
        let mut log = self.task_log("prune", op.as_deref_mut());
        if let (Some(op), Some(w)) = (op, &log) {
            op.operation_prune
                .get_or_insert_with(Default::default)
                .output_logref = w.logref().to_string();
            self.save(op);
        }
        let args = vec!["prune".to_string(), "--max-unused".into(), max_unused];
        self.run_logged(restic, &args, &mut log, cancel)?;
        Ok(Done {
            message: String::new(),
        })
    }

    fn check(
        &self,
        repo: &Repo,
        restic: &Restic,
        mut op: Option<&mut Operation>,
        cancel: &CancelHandle,
    ) -> Result<Done, Failure> {
        let policy = repo.check_policy.clone().unwrap_or_default();
        let mut args = vec!["check".to_string()];
        if policy.structure_only != Some(true)
            && let Some(p) = policy.read_data_subset_percent
            && p > 0.0
        {
            args.push(format!("--read-data-subset={p}%"));
        }
        let mut log = self.task_log("check", op.as_deref_mut());
        if let (Some(op), Some(w)) = (op, &log) {
            op.operation_check
                .get_or_insert_with(Default::default)
                .output_logref = w.logref().to_string();
            self.save(op);
        }
        self.run_logged(restic, &args, &mut log, cancel)?;
        Ok(Done {
            message: String::new(),
        })
    }

    fn stats(
        &self,
        restic: &Restic,
        op: Option<&mut Operation>,
        cancel: &CancelHandle,
    ) -> Result<Done, Failure> {
        let out = restic
            .output(&["stats", "--json", "--mode=raw-data"], Some(cancel))
            .map_err(|e| self.failure(e, cancel))?;
        let stats = parse_stats(&out).map_err(|e| Failure::new(TaskError::restic_failed(e)))?;
        if let Some(op) = op {
            op.operation_stats
                .get_or_insert_with(Default::default)
                .stats = Some(stats);
        }
        Ok(Done {
            message: String::new(),
        })
    }

    /// Forgets one snapshot, a plan's snapshots by its retention, or the repo's snapshots by
    /// the repo's forget policy; then brings the index up to date.
    fn forget(
        &self,
        ctx: TaskCtx,
        plan_id: Option<&str>,
        snapshot_id: Option<&str>,
        op: Option<&mut Operation>,
    ) -> Result<Done, Failure> {
        let TaskCtx {
            config,
            repo,
            restic,
            cancel,
        } = ctx;
        let removed: Vec<ResticSnapshot> = if let Some(id) = snapshot_id {
            let before = restic
                .snapshots(None)
                .map_err(|e| self.failure(e, cancel))?;
            let Some(snap) = before.into_iter().find(|s| s.id.starts_with(id)) else {
                return Err(Failure::new(TaskError::NotFound(format!(
                    "snapshot {id} not found in repo \"{}\"",
                    repo.id
                ))));
            };
            // restic 0.14 prints nothing for a forget by id; the snapshot is what was removed.
            restic
                .forget(std::slice::from_ref(&snap.id), Some(cancel))
                .map_err(|e| self.failure(e, cancel))?;
            vec![snap]
        } else {
            let (retention, filter) = match plan_id {
                Some(p) => {
                    let plan = config.plan(p).ok_or_else(|| {
                        Failure::new(TaskError::NotFound(format!("plan \"{p}\" not found")))
                    })?;
                    let filter = vec![
                        "--tag".to_string(),
                        format!("plan:{},created-by:{}", plan.id, config.instance),
                        "--group-by".into(),
                        String::new(),
                    ];
                    (plan.retention.clone(), filter)
                }
                None => (
                    repo.forget_policy
                        .as_ref()
                        .and_then(|f| f.retention.clone()),
                    vec!["--group-by".to_string(), "tags".into()],
                ),
            };
            let Some(mut args) = retention.and_then(|r| r.forget_flags()) else {
                return Err(Failure::new(TaskError::Precondition(match plan_id {
                    Some(p) => {
                        format!("plan \"{p}\" has no retention policy that forgets anything")
                    }
                    None => format!("repo \"{}\" has no forget policy", repo.id),
                })));
            };
            args.extend(filter);
            restic
                .forget(&args, Some(cancel))
                .map_err(|e| self.failure(e, cancel))?
        };
        let count = removed.len();
        if let Some(op) = op
            && let Some(f) = &mut op.operation_forget
        {
            f.forget = removed;
        }
        let snapshots = restic
            .snapshots(None)
            .map_err(|e| self.failure(e, cancel))?;
        index_into(&self.env.oplog, repo, snapshots, None)
            .map_err(|e| Failure::new(TaskError::History(e)))?;
        Ok(Done {
            message: if count == 0 {
                "nothing to forget".into()
            } else {
                String::new()
            },
        })
    }
}

/// Parses `restic stats --json --mode=raw-data` (0.14 lacks the compression fields).
pub fn parse_stats(out: &str) -> Result<RepoStats, String> {
    #[derive(Deserialize, Default)]
    #[serde(default)]
    struct Raw {
        total_size: i64,
        total_uncompressed_size: i64,
        compression_ratio: f64,
        total_blob_count: i64,
        snapshots_count: i64,
    }
    let line = out
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| "stats: restic printed no JSON".to_string())?;
    let r: Raw = serde_json::from_str(line).map_err(|e| format!("stats: {e}"))?;
    Ok(RepoStats {
        total_size: r.total_size,
        total_uncompressed_size: r.total_uncompressed_size,
        compression_ratio: r.compression_ratio,
        total_blob_count: r.total_blob_count,
        snapshot_count: r.snapshots_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_of_both_restic_generations_parse() {
        let old = r#"{"total_size":301181,"total_file_count":0,"total_blob_count":6,"snapshots_count":2}"#;
        let s = parse_stats(old).unwrap();
        assert_eq!(
            (s.total_size, s.snapshot_count, s.total_blob_count),
            (301181, 2, 6)
        );
        let new = r#"{"total_size":301181,"total_uncompressed_size":301956,"compression_ratio":1.0025,"compression_progress":100,"total_blob_count":6,"snapshots_count":1}"#;
        let s = parse_stats(new).unwrap();
        assert_eq!(s.total_uncompressed_size, 301956);
        assert!(parse_stats("no json").is_err());
    }
}
