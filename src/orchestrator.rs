//! The task queue and the worker thread that runs restic, one task at a time.
//!
//! Handler threads enqueue tasks (with an optional `Responder` that answers the waiting HTTP
//! request when the task ends, so no handler thread is pinned by a long backup); the worker
//! thread pops the highest-priority task and runs it. Every state change of a task's operation
//! goes through the operation log. Cancel reaches a queued task through the queue and a running
//! one through its restic `CancelHandle`.

use crate::api::{ApiError, Code};
use crate::config::{Config, Plan, Repo};
use crate::model::{
    BackupProgressEntry, BackupProgressSummary, OpSelector, Operation, OperationBackup,
    OperationForget, OperationIndexSnapshot, OperationStatus, ResticSnapshot,
};
use crate::oplog::OpLog;
use crate::restic::{BackupEvent, CancelHandle, Restic, ResticError, parse_backup_line};
use crate::util::now_ms;
use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Answers the request that waits for a task (Backup). Called exactly once, from the worker.
pub type Responder = Box<dyn FnOnce(Result<(), ApiError>) + Send>;

/// Task priorities (SPEC.md §6): higher runs first.
pub mod priority {
    pub const INTERACTIVE: u8 = 64;
    pub const PRUNE: u8 = 32;
    pub const CHECK: u8 = 16;
    pub const INDEX: u8 = 8;
    pub const FORGET: u8 = 4;
    pub const DEFAULT: u8 = 2;
    pub const STATS: u8 = 0;
}

/// Work the worker thread can do.
#[derive(Clone, Debug, PartialEq)]
pub enum Task {
    Backup { plan_id: String, dry_run: bool },
}

struct Queued {
    seq: u64,
    priority: u8,
    op_id: i64,
    task: Task,
    responder: Option<Responder>,
}

struct Running {
    op_id: i64,
    cancel: CancelHandle,
}

#[derive(Default)]
struct QueueState {
    tasks: Vec<Queued>,
    next_seq: u64,
    running: Option<Running>,
    stopping: bool,
}

/// What the worker needs from the rest of the daemon.
pub struct Env {
    pub config: Arc<Mutex<Config>>,
    pub oplog: Arc<OpLog>,
    pub restic_cmd: String,
}

/// The queue and worker. Shared by handler threads (enqueue, cancel) and the worker thread.
pub struct Orchestrator {
    env: Env,
    state: Mutex<QueueState>,
    wake: Condvar,
    /// Set when the daemon stops while a task runs: its operation ends SYSTEM_CANCELLED.
    shutting_down: AtomicBool,
}

impl Orchestrator {
    pub fn new(env: Env) -> Arc<Self> {
        Arc::new(Self {
            env,
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            shutting_down: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> Config {
        self.env
            .config
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Starts the worker thread.
    pub fn start(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("worker".into())
            .spawn(move || me.worker_loop())
    }

    /// Queues a backup of `plan_id`: a PENDING operation appears at once; `responder` is called
    /// when the backup's flow has finished.
    pub fn enqueue_backup(
        &self,
        plan_id: &str,
        dry_run: bool,
        responder: Option<Responder>,
    ) -> Result<i64, ApiError> {
        let config = self.config();
        let plan = config
            .plan(plan_id)
            .ok_or_else(|| ApiError::not_found(format!("plan \"{plan_id}\" not found")))?;
        let repo = config.repo(&plan.repo).ok_or_else(|| {
            ApiError::not_found(format!(
                "repo \"{}\" of plan \"{plan_id}\" not found",
                plan.repo
            ))
        })?;
        if config.instance.is_empty() {
            return Err(ApiError::precondition("instance is a required field"));
        }
        let mut op = Operation {
            plan_id: plan.id.clone(),
            repo_id: repo.id.clone(),
            repo_guid: repo.guid.clone(),
            instance_id: config.instance.clone(),
            status: OperationStatus::Pending,
            unix_time_start_ms: now_ms(),
            display_message: "waiting to run".into(),
            operation_backup: Some(OperationBackup {
                dry_run,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.env
            .oplog
            .add(&mut op)
            .map_err(|e| ApiError::internal(format!("recording the backup: {e}")))?;
        let mut st = self.lock();
        if st.stopping {
            drop(st);
            self.finish_cancelled(
                op.id,
                OperationStatus::SystemCancelled,
                "footrest is stopping",
            );
            return Err(ApiError::new(Code::Unavailable, "footrest is stopping"));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.tasks.push(Queued {
            seq,
            priority: priority::INTERACTIVE,
            op_id: op.id,
            task: Task::Backup {
                plan_id: plan.id.clone(),
                dry_run,
            },
            responder,
        });
        drop(st);
        self.wake.notify_all();
        Ok(op.id)
    }

    /// Cancels a queued or running operation. Unknown ids are a no-op.
    pub fn cancel(&self, op_id: i64) {
        let mut st = self.lock();
        if let Some(pos) = st.tasks.iter().position(|q| q.op_id == op_id) {
            let q = st.tasks.remove(pos);
            drop(st);
            self.finish_cancelled(
                q.op_id,
                OperationStatus::UserCancelled,
                "cancelled by user request",
            );
            if let Some(r) = q.responder {
                r(Err(ApiError::new(
                    Code::Canceled,
                    "operation cancelled by user request",
                )));
            }
            return;
        }
        if let Some(r) = &st.running
            && r.op_id == op_id
        {
            r.cancel.cancel();
        }
    }

    /// Stops taking tasks; waits up to `grace` for the running task, then stops its restic.
    /// Queued tasks end SYSTEM_CANCELLED and their waiting requests get `unavailable`.
    pub fn shutdown(&self, grace: Duration) {
        let queued: Vec<Queued> = {
            let mut st = self.lock();
            st.stopping = true;
            std::mem::take(&mut st.tasks)
        };
        self.wake.notify_all();
        for q in queued {
            self.finish_cancelled(
                q.op_id,
                OperationStatus::SystemCancelled,
                "footrest stopped before this task ran",
            );
            if let Some(r) = q.responder {
                r(Err(ApiError::new(
                    Code::Unavailable,
                    "footrest is stopping",
                )));
            }
        }
        let deadline = Instant::now() + grace;
        loop {
            let st = self.lock();
            let Some(running) = &st.running else { return };
            if Instant::now() >= deadline {
                self.shutting_down.store(true, Ordering::SeqCst);
                running.cancel.cancel();
                return;
            }
            let (_st, _) = self
                .wake
                .wait_timeout(st, Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Waits until the worker is idle after `shutdown` (its thread then exits).
    fn finish_cancelled(&self, op_id: i64, status: OperationStatus, message: &str) {
        match self.env.oplog.get(op_id) {
            Ok(Some(mut op)) => {
                op.status = status;
                op.display_message = message.to_string();
                if op.unix_time_end_ms == 0 {
                    op.unix_time_end_ms = now_ms();
                }
                if let Err(e) = self.env.oplog.update(&mut op) {
                    log::error!("operation {op_id}: recording cancellation: {e}");
                }
            }
            Ok(None) => {}
            Err(e) => log::error!("operation {op_id}: {e}"),
        }
    }

    fn worker_loop(self: Arc<Self>) {
        loop {
            let q = {
                let mut st = self.lock();
                loop {
                    if st.stopping {
                        return;
                    }
                    let best = st
                        .tasks
                        .iter()
                        .enumerate()
                        .max_by(|(_, a), (_, b)| {
                            a.priority.cmp(&b.priority).then(b.seq.cmp(&a.seq))
                        })
                        .map(|(i, _)| i);
                    if let Some(i) = best {
                        let q = st.tasks.remove(i);
                        st.running = Some(Running {
                            op_id: q.op_id,
                            cancel: CancelHandle::new(),
                        });
                        break q;
                    }
                    st = self.wake.wait(st).unwrap_or_else(|p| p.into_inner());
                }
            };
            let cancel = self
                .lock()
                .running
                .as_ref()
                .map(|r| r.cancel.clone())
                .unwrap_or_default();
            let result = match &q.task {
                Task::Backup { plan_id, dry_run } => {
                    self.run_backup_flow(q.op_id, plan_id, *dry_run, &cancel)
                }
            };
            self.lock().running = None;
            self.wake.notify_all();
            if let Some(r) = q.responder {
                r(result);
            }
        }
    }

    /// SPEC.md §6 steps 2–8: parent, path checks, restic backup, result, forget, index.
    ///
    /// restic costs about a second per start on small machines (it opens the repository and
    /// derives the key each time), so the flow runs it as few times as it can: the parent comes
    /// from the history when it is there, and one `snapshots` listing after the backup serves
    /// both the full snapshot id (restic 0.14 prints a short one) and the index.
    fn run_backup_flow(
        &self,
        op_id: i64,
        plan_id: &str,
        dry_run: bool,
        cancel: &CancelHandle,
    ) -> Result<(), ApiError> {
        let oplog = &self.env.oplog;
        let mut op = match oplog.get(op_id) {
            Ok(Some(op)) => op,
            Ok(None) => return Err(ApiError::not_found(format!("operation {op_id} not found"))),
            Err(e) => return Err(ApiError::internal(e.to_string())),
        };
        op.status = OperationStatus::InProgress;
        op.unix_time_start_ms = now_ms();
        op.display_message.clear();
        self.save(&mut op);

        let config = self.config();
        let target = (|| -> Result<(&Plan, &Repo, Restic), Failure> {
            let plan = config.plan(plan_id).ok_or_else(|| {
                Failure::new(Code::NotFound, format!("plan \"{plan_id}\" not found"))
            })?;
            let repo = config.repo(&plan.repo).ok_or_else(|| {
                Failure::new(Code::NotFound, format!("repo \"{}\" not found", plan.repo))
            })?;
            let restic = Restic::new(&self.env.restic_cmd, repo).map_err(Failure::restic)?;
            Ok((plan, repo, restic))
        })();
        let outcome = target.and_then(|(plan, repo, restic)| {
            let done = self.backup(&mut op, &config, plan, repo, &restic, dry_run, cancel)?;
            Ok((plan, repo, restic, done))
        });
        let (status, message, code, follow_up) = match outcome {
            Ok((plan, repo, restic, (status, mut message, snapshot))) => {
                let mut listing = None;
                if let Some(short) = snapshot {
                    match restic.snapshots(None) {
                        Ok(list) => {
                            let full = list
                                .iter()
                                .find(|x| x.id.starts_with(&short))
                                .map(|x| x.id.clone())
                                .unwrap_or(short);
                            set_snapshot_id(&mut op, &full);
                            listing = Some(list);
                        }
                        Err(e) => {
                            set_snapshot_id(&mut op, &short);
                            message = format!(
                                "snapshot {short} saved, but listing snapshots failed: {e}"
                            );
                        }
                    }
                }
                (
                    status,
                    message,
                    Code::Unknown,
                    listing.map(|l| (plan, repo, restic, l)),
                )
            }
            Err(f) => (f.status, f.message, f.code, None),
        };
        op.status = status;
        op.display_message = message.clone();
        op.unix_time_end_ms = now_ms();
        self.save(&mut op);

        if let Some((plan, repo, restic, mut listing)) = follow_up {
            let removed =
                self.forget_after_backup(&config, plan, repo, &restic, op.flow_id, cancel);
            listing.retain(|s| !removed.contains(&s.id));
            let made_by = Some((op.snapshot_id.as_str(), op.flow_id));
            if let Err(e) = index_into(&self.env.oplog, repo, listing, made_by) {
                log::warn!("repo \"{}\": indexing snapshots: {e}", repo.id);
            }
        }

        match status {
            OperationStatus::Success | OperationStatus::Warning => Ok(()),
            _ => Err(ApiError::new(code, message)),
        }
    }

    /// The plan's newest snapshot that the history knows and has not seen forgotten.
    fn parent_from_history(&self, config: &Config, plan: &Plan, repo: &Repo) -> Option<String> {
        let sel = OpSelector {
            plan_id: Some(plan.id.clone()),
            repo_guid: Some(repo.guid.clone()),
            instance_id: Some(config.instance.clone()),
            ..Default::default()
        };
        let ops = self.env.oplog.query(&sel, 0).ok()?;
        ops.into_iter()
            .filter(|o| {
                o.operation_index_snapshot
                    .as_ref()
                    .is_some_and(|i| !i.forgot)
            })
            .max_by_key(|o| o.unix_time_start_ms)
            .map(|o| o.snapshot_id)
            .filter(|id| id.len() == 64)
    }

    /// Runs `restic backup` for the plan; returns (status, message, new snapshot id, possibly
    /// restic 0.14's short form).
    #[allow(clippy::too_many_arguments)]
    fn backup(
        &self,
        op: &mut Operation,
        config: &Config,
        plan: &Plan,
        repo: &Repo,
        restic: &Restic,
        dry_run: bool,
        cancel: &CancelHandle,
    ) -> Result<(OperationStatus, String, Option<String>), Failure> {
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
                return Err(Failure::new(
                    Code::FailedPrecondition,
                    format!("path {path} does not exist"),
                ));
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
            let words = crate::restic::split_words(flag).map_err(|e| {
                Failure::new(Code::InvalidArgument, format!("backup flag {flag:?}: {e}"))
            })?;
            args.extend(words);
        }
        if dry_run {
            args.push("--dry-run".into());
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
        let parent = match &remembered {
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
            let parent = from_restic()?;
            run = self.run_backup(op, restic, &args, parent.as_deref(), cancel);
        }
        let (code, summary) = match run {
            Ok(done) => done,
            Err(e @ ResticError::Exit { .. }) if !cancel.is_cancelled() => {
                return Err(Failure::new(Code::Unknown, e.to_string()));
            }
            Err(e) => return Err(self.failure(e, cancel)),
        };
        let Some((s, is_dry_run)) = summary else {
            return Err(Failure::new(
                Code::Unknown,
                "no summary event found".to_string(),
            ));
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
        if snapshot_id.is_empty() {
            return Ok((
                status,
                "No snapshot added, possibly due to no changes in the source data.".into(),
                None,
            ));
        }
        Ok((status, message, Some(snapshot_id)))
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
    ) -> Result<(i32, Option<(BackupProgressSummary, bool)>), ResticError> {
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
                BackupEvent::Summary(s, is_dry_run) => summary = Some((s, is_dry_run)),
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

    /// Turns a restic error into the operation's outcome.
    fn failure(&self, e: ResticError, cancel: &CancelHandle) -> Failure {
        match e {
            ResticError::Cancelled => {
                if self.shutting_down.load(Ordering::SeqCst) {
                    Failure {
                        status: OperationStatus::SystemCancelled,
                        code: Code::Unavailable,
                        message: "footrest stopped while this operation ran".into(),
                    }
                } else {
                    Failure {
                        status: OperationStatus::UserCancelled,
                        code: Code::Canceled,
                        message: "cancelled by user request".into(),
                    }
                }
            }
            e if cancel.is_cancelled() => {
                log::debug!("restic ended after cancel: {e}");
                self.failure(ResticError::Cancelled, cancel)
            }
            e if e.is_locked() => Failure::new(
                Code::Unknown,
                format!("repository is locked by another process: {e}"),
            ),
            e => Failure::restic(e),
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
        let mut args = flags;
        args.extend([
            "--tag".into(),
            format!("plan:{},created-by:{}", plan.id, config.instance),
            "--group-by".into(),
            String::new(),
        ]);
        let mut removed_ids = Vec::new();
        match restic.forget(&args, Some(cancel)) {
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
                op.display_message = f.message;
            }
        }
        op.unix_time_end_ms = now_ms();
        self.save(&mut op);
        removed_ids
    }

    fn save(&self, op: &mut Operation) {
        if let Err(e) = self.env.oplog.update(op) {
            log::error!("operation {}: {e}", op.id);
        }
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

/// Up to this many distinct file errors are kept on a backup operation.
const MAX_BACKUP_ERRORS: usize = 20;

/// How a task ended when it did not succeed.
struct Failure {
    status: OperationStatus,
    code: Code,
    message: String,
}

impl Failure {
    fn new(code: Code, message: String) -> Self {
        Self {
            status: OperationStatus::Error,
            code,
            message,
        }
    }

    fn restic(e: ResticError) -> Self {
        let code = match &e {
            ResticError::Spawn { .. } => Code::FailedPrecondition,
            ResticError::BadArgument(_) => Code::InvalidArgument,
            _ => Code::Unknown,
        };
        Self::new(code, e.to_string())
    }
}

/// Records every snapshot of the repo not yet in the history (SUCCESS index-snapshot
/// operations, in the flow of the backup that made it when known) and marks snapshots gone
/// from the repo as forgotten. `snapshots` is the repo's complete current list.
pub fn index_into(
    oplog: &OpLog,
    repo: &Repo,
    snapshots: Vec<ResticSnapshot>,
    made_by: Option<(&str, i64)>,
) -> Result<(), String> {
    let sel = OpSelector {
        repo_guid: Some(repo.guid.clone()),
        ..Default::default()
    };
    let known = oplog.query(&sel, 0).map_err(|e| e.to_string())?;
    let live: HashSet<&str> = snapshots.iter().map(|s| s.id.as_str()).collect();
    let mut indexed = HashSet::new();
    for mut op in known {
        let Some(ix) = &mut op.operation_index_snapshot else {
            continue;
        };
        indexed.insert(op.snapshot_id.clone());
        if !ix.forgot && !live.contains(op.snapshot_id.as_str()) {
            ix.forgot = true;
            oplog.update(&mut op).map_err(|e| e.to_string())?;
        }
    }
    for snap in snapshots {
        if indexed.contains(&snap.id) {
            continue;
        }
        let tag = |prefix: &str| {
            snap.tags
                .iter()
                .find_map(|t| t.strip_prefix(prefix))
                .map(str::to_string)
                .unwrap_or_else(|| "_unassociated_".to_string())
        };
        let flow_id = match made_by {
            Some((id, flow)) if id == snap.id => flow,
            _ => 0,
        };
        let mut op = Operation {
            flow_id,
            repo_id: repo.id.clone(),
            repo_guid: repo.guid.clone(),
            plan_id: tag("plan:"),
            instance_id: tag("created-by:"),
            snapshot_id: snap.id.clone(),
            status: OperationStatus::Success,
            unix_time_start_ms: snap.unix_time_ms,
            unix_time_end_ms: snap.unix_time_ms,
            operation_index_snapshot: Some(OperationIndexSnapshot {
                snapshot: Some(snap),
                forgot: false,
            }),
            ..Default::default()
        };
        oplog.add(&mut op).map_err(|e| e.to_string())?;
    }
    Ok(())
}
