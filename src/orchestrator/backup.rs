//! The backup flow (docs/COMPATIBILITY.md §6): parent, path checks, `restic backup` with
//! progress, the result, the plan's retention, and the index of the new snapshot.

use super::{
    Failure, Orchestrator, TaskCtx, TaskError, index_one, known_plan_snapshots, mark_forgotten,
};
use crate::cancel::CancelHandle;
use crate::config::{Config, Plan, Repo};
use crate::model::{
    BackupProgressEntry, BackupProgressSummary, Operation, OperationForget, OperationStatus,
    ResticSnapshot,
};
use crate::restic::{BackupEvent, Restic, ResticError, parse_backup_line};
use crate::util::now_ms;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

const NOTHING_NEW: &str = "No snapshot added, possibly due to no changes in the source data.";

/// restic's summary of a backup, whether it was a dry run, and the snapshot's time.
type Summary = (BackupProgressSummary, bool, Option<i64>);

/// Up to this many distinct file errors are kept on a backup operation.
const MAX_BACKUP_ERRORS: usize = 20;

impl Orchestrator {
    /// docs/COMPATIBILITY.md §6: parent, path checks, restic backup, result, forget, index.
    ///
    /// restic costs about a second per start on small machines (it opens the repository and
    /// derives the key each time), so the flow runs it as few times as it can: the parent comes
    /// from the history when it is there, the new snapshot's index entry is built from what the
    /// backup reported (`new_snapshot`), and the retention forget runs only when the policy can
    /// remove something.
    pub(super) fn run_backup_flow(
        &self,
        op_id: i64,
        plan_id: &str,
        dry_run: bool,
        cancel: &CancelHandle,
    ) -> Result<(), TaskError> {
        let mut op = self.start_operation(op_id)?;
        self.save(&mut op);

        let config = self.config();
        let target = (|| -> Result<(&Plan, &Repo, Restic), Failure> {
            let plan = config.plan(plan_id).ok_or_else(|| {
                Failure::new(TaskError::NotFound(format!("plan \"{plan_id}\" not found")))
            })?;
            let repo = config.repo(&plan.repo).ok_or_else(|| {
                Failure::new(TaskError::NotFound(format!(
                    "repo \"{}\" not found",
                    plan.repo
                )))
            })?;
            let restic = Restic::new(&self.env.restic_cmd, repo).map_err(Failure::restic)?;
            Ok((plan, repo, restic))
        })();
        let outcome = target.and_then(|(plan, repo, restic)| {
            self.snapshot_start_hooks(&op, &config, plan, repo, dry_run, cancel)?;
            let ctx = TaskCtx {
                config: &config,
                repo,
                restic: &restic,
                cancel,
            };
            let done = self.backup(&mut op, ctx, plan, dry_run)?;
            Ok((plan, repo, restic, done))
        });
        let (status, message, error, follow_up) = match outcome {
            Ok((plan, repo, restic, (status, mut message, saved))) => {
                let mut made = None;
                if let Some(saved) = saved {
                    match self.new_snapshot(&config, plan, &restic, &op, &saved) {
                        Ok(snap) => {
                            set_snapshot_id(&mut op, &snap.id);
                            made = Some(snap);
                        }
                        Err(e) => {
                            set_snapshot_id(&mut op, &saved.id);
                            message = format!(
                                "snapshot {} saved, but listing snapshots failed: {e}",
                                saved.id
                            );
                        }
                    }
                }
                (
                    status,
                    message,
                    None,
                    made.map(|snap| (plan, repo, restic, snap)),
                )
            }
            Err(f) => (f.status, f.message(), Some(f.error), None),
        };
        op.status = status;
        op.display_message = message.clone();
        op.unix_time_end_ms = now_ms();
        self.save(&mut op);

        if let Some((plan, repo, restic, snap)) = follow_up {
            if let Err(e) = index_one(&self.env.oplog, repo, snap, op.flow_id) {
                log::warn!("repo \"{}\": indexing the new snapshot: {e}", repo.id);
            }
            let removed =
                self.forget_after_backup(&config, plan, repo, &restic, op.flow_id, cancel);
            if let Err(e) = mark_forgotten(&self.env.oplog, repo, &removed) {
                log::warn!("repo \"{}\": recording forgotten snapshots: {e}", repo.id);
            }
        }

        let (status, error) = match self.snapshot_end_hooks(&mut op, &config, dry_run, cancel) {
            Some(f) => (f.status, Some(f.error)),
            None => (status, error),
        };
        match status {
            OperationStatus::Success | OperationStatus::Warning => Ok(()),
            _ => Err(error.unwrap_or_else(|| TaskError::restic_failed(message))),
        }
    }

    fn known_plan_snapshots(&self, config: &Config, plan: &Plan, repo: &Repo) -> Vec<(i64, i64)> {
        known_plan_snapshots(&self.env.oplog, &config.instance, &plan.id, &repo.guid)
    }

    /// The plan's newest snapshot that the history knows and has not seen forgotten: one line
    /// read (the next newest when that one cannot be read).
    fn parent_from_history(&self, config: &Config, plan: &Plan, repo: &Repo) -> Option<String> {
        let mut known = self.known_plan_snapshots(config, plan, repo);
        known.sort_unstable();
        let op = known
            .iter()
            .rev()
            .find_map(|(_, id)| self.env.oplog.get(*id).ok().flatten())?;
        Some(op.snapshot_id).filter(|id| id.len() == 64)
    }

    /// Runs `restic backup` for the plan; returns (status, message, new snapshot id, possibly
    /// restic 0.14's short form).
    fn backup(
        &self,
        op: &mut Operation,
        ctx: TaskCtx,
        plan: &Plan,
        dry_run: bool,
    ) -> Result<(OperationStatus, String, Option<Saved>), Failure> {
        let TaskCtx {
            config,
            repo,
            restic,
            cancel,
        } = ctx;
        if repo.auto_unlock
            && let Err(e) = restic.unlock()
        {
            log::warn!("repo \"{}\": unlock before backup: {e}", repo.id);
        }
        for path in &plan.paths {
            if path.trim().is_empty() {
                continue;
            }
            if std::fs::symlink_metadata(Path::new(path)).is_err() {
                return Err(Failure::new(TaskError::Precondition(format!(
                    "path {path} does not exist"
                ))));
            }
        }
        let mut args: Vec<String> = vec!["backup".into(), "--json".into()];
        args.extend(plan.paths.iter().filter(|p| !p.trim().is_empty()).cloned());
        args.extend([
            "--exclude-caches".into(),
            "--tag".into(),
            format!("plan:{}", plan.id),
            "--tag".into(),
            format!("created-by:{}", config.instance),
        ]);
        for x in &plan.excludes {
            args.extend(["--exclude".into(), x.clone()]);
        }
        for x in &plan.iexcludes {
            args.extend(["--iexclude".into(), x.clone()]);
        }
        for flag in &plan.backup_flags {
            let words = crate::words::split_words(flag).map_err(|e| {
                Failure::new(TaskError::Invalid(format!("backup flag {flag:?}: {e}")))
            })?;
            args.extend(words);
        }
        if dry_run {
            args.push("--dry-run".into());
        }
        let skip_natively = plan.skip_if_unchanged && restic.version_at_least(0, 17);
        if skip_natively {
            args.push("--skip-if-unchanged".into());
        }
        let from_restic = || -> Result<Option<String>, Failure> {
            let tags = format!("plan:{},created-by:{}", plan.id, config.instance);
            Ok(restic
                .snapshots(Some(&tags))
                .map_err(|e| self.failure(e, cancel))?
                .into_iter()
                .max_by_key(|s| s.unix_time_ms)
                .map(|s| s.id))
        };
        let remembered = self.parent_from_history(config, plan, repo);
        let mut parent = match &remembered {
            Some(p) => Some(p.clone()),
            None => from_restic()?,
        };
        let mut run = self.run_backup(op, restic, &args, parent.as_deref(), cancel);
        if let (Err(ResticError::Exit { message, .. }), Some(p)) = (&run, &remembered)
            && message.contains(&p[..8])
        {
            // The history named a parent that is gone from the repository: ask restic.
            log::info!(
                "plan \"{}\": parent {} is gone, looking it up again",
                plan.id,
                &p[..8]
            );
            if let Err(e) = mark_forgotten(&self.env.oplog, repo, std::slice::from_ref(p)) {
                log::warn!("repo \"{}\": recording the forgotten parent: {e}", repo.id);
            }
            parent = from_restic()?;
            run = self.run_backup(op, restic, &args, parent.as_deref(), cancel);
        }
        let had_parent = parent.is_some();
        let (code, summary) = match run {
            Ok(done) => done,
            Err(e @ ResticError::Exit { .. }) if !cancel.is_cancelled() => {
                return Err(Failure::restic(e));
            }
            Err(e) => return Err(self.failure(e, cancel)),
        };
        let Some((s, is_dry_run, start_ms)) = summary else {
            return Err(Failure::new(TaskError::restic_failed(
                "no summary event found",
            )));
        };
        let snapshot_id = s.snapshot_id.clone();
        let b = op.operation_backup.get_or_insert_with(Default::default);
        b.last_status = Some(BackupProgressEntry {
            status: None,
            summary: Some(s),
        });
        if dry_run || is_dry_run {
            // restic 0.14 prints a snapshot id even for a dry run; nothing was saved.
            return Ok((
                OperationStatus::Success,
                "Dry run backup, not saved in repo".into(),
                None,
            ));
        }
        let (status, message) = if code == 3 {
            (
                OperationStatus::Warning,
                "Partial backup, some files may not have been read completely.".to_string(),
            )
        } else {
            (OperationStatus::Success, String::new())
        };
        let unchanged = op
            .operation_backup
            .as_ref()
            .and_then(|b| b.last_status.as_ref())
            .and_then(|l| l.summary.as_ref())
            .is_some_and(|s| {
                s.files_new == 0 && s.files_changed == 0 && s.dirs_new == 0 && s.dirs_changed == 0
            });
        if plan.skip_if_unchanged && !skip_natively && unchanged && had_parent && code == 0 {
            // restic before 0.17 has no --skip-if-unchanged: drop the identical snapshot.
            match restic.forget(std::slice::from_ref(&snapshot_id), Some(cancel)) {
                Ok(_) => return Ok((status, NOTHING_NEW.into(), None)),
                Err(e) => log::warn!(
                    "plan \"{}\": removing the unchanged snapshot {snapshot_id}: {e}",
                    plan.id
                ),
            }
        }
        if snapshot_id.is_empty() {
            return Ok((status, NOTHING_NEW.into(), None));
        }
        let saved = Saved {
            id: snapshot_id,
            start_ms,
            parent,
        };
        Ok((status, message, Some(saved)))
    }

    /// One `restic backup` run: progress into the operation, file errors collected. Returns
    /// restic's exit code (0 or 3) and its summary.
    fn run_backup(
        &self,
        op: &mut Operation,
        restic: &Restic,
        args: &[String],
        parent: Option<&str>,
        cancel: &CancelHandle,
    ) -> Result<(i32, Option<Summary>), ResticError> {
        let mut args = args.to_vec();
        if let Some(p) = parent {
            args.extend(["--parent".into(), p.to_string()]);
        }
        let mut summary = None;
        let mut exit_message = None;
        let mut last_progress = Instant::now() - Duration::from_secs(1);
        let oplog = Arc::clone(&self.env.oplog);
        let result = restic.run_with(
            &args,
            &[("RESTIC_PROGRESS_FPS", "2")],
            Some(cancel),
            &mut |line| match parse_backup_line(line) {
                BackupEvent::Status(s) => {
                    // The oplog keeps the newest progress in memory and persists it at a
                    // bounded rate; this only avoids churning the modno needlessly.
                    if last_progress.elapsed() >= Duration::from_millis(250) {
                        last_progress = Instant::now();
                        let b = op.operation_backup.get_or_insert_with(Default::default);
                        b.last_status = Some(BackupProgressEntry {
                            status: Some(s),
                            summary: None,
                        });
                        if let Err(e) = oplog.update_progress(op) {
                            log::warn!("operation {}: recording progress: {e}", op.id);
                        }
                    }
                }
                BackupEvent::Summary(s, is_dry_run, start) => {
                    // restic 0.14 prints no start time: the summary arrives at the end, after
                    // its total duration.
                    let start =
                        start.unwrap_or_else(|| now_ms() - (s.total_duration * 1000.0) as i64);
                    summary = Some((s, is_dry_run, Some(start)))
                }
                BackupEvent::Error(e) => {
                    let b = op.operation_backup.get_or_insert_with(Default::default);
                    if b.errors.len() < MAX_BACKUP_ERRORS && !b.errors.contains(&e) {
                        b.errors.push(e);
                    }
                }
                BackupEvent::ExitError(_, m) => exit_message = Some(m),
                BackupEvent::Other(text) => log::debug!("restic: {text}"),
            },
        );
        match result {
            Ok(code) => Ok((code, summary)),
            Err(ResticError::Exit { code, message }) => Err(ResticError::Exit {
                code,
                message: exit_message.unwrap_or(message),
            }),
            Err(e) => Err(e),
        }
    }

    /// Applies the plan's retention after a backup (same flow), unless the repo has its own
    /// enabled forget schedule.
    fn forget_after_backup(
        &self,
        config: &Config,
        plan: &Plan,
        repo: &Repo,
        restic: &Restic,
        flow_id: i64,
        cancel: &CancelHandle,
    ) -> Vec<String> {
        let Some(retention) = &plan.retention else {
            return Vec::new();
        };
        let Some(flags) = retention.forget_flags() else {
            return Vec::new();
        };
        let repo_schedule_on = repo
            .forget_policy
            .as_ref()
            .and_then(|f| f.schedule.as_ref())
            .is_some_and(|s| !s.is_disabled());
        if repo_schedule_on {
            return Vec::new();
        }
        // With no more snapshots than the policy always keeps, restic would remove nothing:
        // the forget is recorded (and its hooks run) without starting restic.
        let nothing_to_remove =
            self.known_plan_snapshots(config, plan, repo).len() <= retention.always_kept();
        let mut op = Operation {
            flow_id,
            plan_id: plan.id.clone(),
            repo_id: repo.id.clone(),
            repo_guid: repo.guid.clone(),
            instance_id: config.instance.clone(),
            status: OperationStatus::InProgress,
            unix_time_start_ms: now_ms(),
            operation_forget: Some(OperationForget {
                forget: Vec::new(),
                policy: Some(retention.clone()),
            }),
            ..Default::default()
        };
        if let Err(e) = self.env.oplog.add(&mut op) {
            log::error!("recording forget: {e}");
            return Vec::new();
        }
        if let Some(f) = self.inline_forget_hooks(config, plan, repo, &mut op, None, cancel) {
            log::info!("plan \"{}\": forget skipped: {}", plan.id, f.message());
            return Vec::new();
        }
        let mut args = flags;
        args.extend([
            "--tag".into(),
            format!("plan:{},created-by:{}", plan.id, config.instance),
            "--group-by".into(),
            String::new(),
        ]);
        let mut removed_ids = Vec::new();
        let result = if nothing_to_remove {
            Ok(Vec::new())
        } else {
            restic.forget(&args, Some(cancel))
        };
        match result {
            Ok(removed) => {
                op.status = OperationStatus::Success;
                removed_ids = removed.iter().map(|s| s.id.clone()).collect();
                if let Some(f) = &mut op.operation_forget {
                    f.forget = removed;
                }
            }
            Err(e) => {
                let f = self.failure(e, cancel);
                op.status = f.status;
                op.display_message = f.message();
            }
        }
        op.unix_time_end_ms = now_ms();
        self.save(&mut op);
        let done = Some(op.status);
        self.inline_forget_hooks(config, plan, repo, &mut op, done, cancel);
        removed_ids
    }
}

/// What `restic backup` reported of the snapshot it saved.
struct Saved {
    /// Full (restic ≥ 0.17) or short (0.14) id.
    id: String,
    /// The snapshot's time: restic ≥ 0.17 reports it; for 0.14 it is estimated from the
    /// summary's duration.
    start_ms: Option<i64>,
    /// The parent footrest passed; None when restic chose one itself.
    parent: Option<String>,
}

/// Backup flags that change what restic records in the snapshot (host, time, tags, sources):
/// with one of these the new snapshot is read back from restic instead of built here.
fn flags_change_snapshot(plan: &Plan) -> bool {
    const SHAPING: [&str; 6] = ["--host", "-H", "--time", "--tag", "--stdin", "--files-from"];
    plan.backup_flags.iter().any(|f| {
        crate::words::split_words(f)
            .unwrap_or_default()
            .iter()
            .any(|w| SHAPING.iter().any(|p| w.starts_with(p)))
    })
}

impl Orchestrator {
    /// The snapshot the backup just saved, as its index entry.
    ///
    /// Without another restic start where possible: the full id comes from the backup summary
    /// (restic ≥ 0.17) or, for restic 0.14's short id, from a local repository's `snapshots/`
    /// directory; host, user, paths, tags and parent are what footrest passed; the time is the
    /// summary's. Such an entry has no tree id (restic does not report it); the next full
    /// listing of the repo (an index, forget or prune task) fills it in. Otherwise (a remote
    /// repository with restic 0.14, flags that shape the snapshot, no parent passed) one
    /// `restic snapshots <id>` reads it back.
    fn new_snapshot(
        &self,
        config: &Config,
        plan: &Plan,
        restic: &Restic,
        op: &Operation,
        saved: &Saved,
    ) -> Result<ResticSnapshot, ResticError> {
        let full = if saved.id.len() == 64 {
            Some(saved.id.clone())
        } else {
            restic.local_full_id(&saved.id)
        };
        let summary = op
            .operation_backup
            .as_ref()
            .and_then(|b| b.last_status.as_ref())
            .and_then(|l| l.summary.as_ref());
        if let (Some(id), Some(time), Some(parent), false) = (
            full,
            saved.start_ms,
            &saved.parent,
            flags_change_snapshot(plan),
        ) {
            let mut paths: Vec<String> = plan
                .paths
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| crate::util::absolute_clean(p))
                .collect();
            paths.sort();
            return Ok(ResticSnapshot {
                id,
                unix_time_ms: time,
                hostname: crate::util::hostname(),
                username: crate::util::username(),
                tree: String::new(),
                parent: parent.clone(),
                paths,
                tags: vec![
                    format!("plan:{}", plan.id),
                    format!("created-by:{}", config.instance),
                ],
                summary: summary.map(BackupProgressSummary::snapshot_summary),
            });
        }
        let listed = restic.snapshots_by_id(&[&saved.id])?;
        let mut snap = listed
            .into_iter()
            .find(|s| s.id.starts_with(&saved.id))
            .ok_or_else(|| ResticError::Output(format!("snapshot {} not listed", saved.id)))?;
        if snap.summary.is_none() {
            snap.summary = summary.map(BackupProgressSummary::snapshot_summary);
        }
        Ok(snap)
    }
}

fn set_snapshot_id(op: &mut Operation, id: &str) {
    op.snapshot_id = id.to_string();
    if let Some(s) = op
        .operation_backup
        .as_mut()
        .and_then(|b| b.last_status.as_mut())
        .and_then(|l| l.summary.as_mut())
    {
        s.snapshot_id = id.to_string();
    }
}
