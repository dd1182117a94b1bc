//! The task queue and the worker thread that runs restic, one task at a time.
//!
//! Handler threads enqueue tasks (with an optional `Responder` that answers the waiting HTTP
//! request when the task ends, so no handler thread is pinned by a long backup); the worker
//! thread pops the highest-priority task and runs it. Every state change of a task's operation
//! goes through the operation log. Cancel reaches a queued task through the queue and a running
//! one through its restic `CancelHandle`.

mod backup;
mod error;
mod hooks;
mod index;
mod repo_tasks;
mod restore;
mod run_command;
pub mod scheduler;

pub use error::TaskError;
pub use index::{index_into, index_one, known_plan_snapshots, mark_forgotten};
pub use restore::RestoreSpec;

use crate::cancel::CancelHandle;
use crate::config::{Config, SharedConfig};
use crate::model::{Operation, OperationBackup, OperationForget, OperationStatus, SnapshotId};
use crate::oplog::OpLog;
use crate::restic::{ResticError, ResticKind};
use crate::util::now_ms;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Answers the request that waits for a task (Backup). Called exactly once, from the worker.
pub type Responder = Box<dyn FnOnce(i64, Result<(), TaskError>) + Send>;

/// Task priorities (docs/COMPATIBILITY.md §6): higher runs first.
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
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Task {
    Backup {
        plan_id: String,
        dry_run: bool,
    },
    /// One snapshot, a plan's retention (tag filter), or the repo's forget policy.
    Forget {
        repo_id: String,
        plan_id: Option<String>,
        snapshot_id: Option<SnapshotId>,
    },
    Prune {
        repo_id: String,
    },
    Check {
        repo_id: String,
    },
    Stats {
        repo_id: String,
    },
    IndexSnapshots {
        repo_id: String,
    },
    Unlock {
        repo_id: String,
    },
    /// The operation carries what to restore and where.
    Restore,
}

impl Task {
    /// The priority of the task when it was not asked for by a user (docs/COMPATIBILITY.md §6).
    pub fn priority(&self) -> u8 {
        match self {
            Task::Backup { .. } => priority::DEFAULT,
            Task::Forget { .. } => priority::FORGET,
            Task::Prune { .. } => priority::PRUNE,
            Task::Check { .. } => priority::CHECK,
            Task::Stats { .. } => priority::STATS,
            Task::IndexSnapshots { .. } => priority::INDEX,
            Task::Unlock { .. } | Task::Restore => priority::INTERACTIVE,
        }
    }

    pub fn repo_id<'a>(&'a self, config: &'a Config) -> Option<&'a str> {
        match self {
            Task::Backup { plan_id, .. } => config.plan(plan_id).map(|p| p.repo.as_str()),
            Task::Forget { repo_id, .. }
            | Task::Prune { repo_id }
            | Task::Check { repo_id }
            | Task::Stats { repo_id }
            | Task::IndexSnapshots { repo_id }
            | Task::Unlock { repo_id } => Some(repo_id),
            Task::Restore => None,
        }
    }

    /// The PENDING operation that stands for this task in the history; None for tasks that
    /// have none (index, unlock). Fails when the plan or repo it names does not exist.
    pub fn pending_operation(
        &self,
        config: &Config,
        start_ms: i64,
    ) -> Result<Option<Operation>, TaskError> {
        if config.instance.is_empty() {
            return Err(TaskError::Precondition(
                "instance is a required field".into(),
            ));
        }
        let (plan_id, repo_id) = match self {
            Task::Backup { plan_id, .. } => {
                let plan = config
                    .plan(plan_id)
                    .ok_or_else(|| TaskError::NotFound(format!("plan \"{plan_id}\" not found")))?;
                (plan.id.clone(), plan.repo.clone())
            }
            Task::Forget {
                repo_id, plan_id, ..
            } => {
                if let Some(p) = plan_id
                    && config.plan(p).is_none()
                {
                    return Err(TaskError::NotFound(format!("plan \"{p}\" not found")));
                }
                (plan_id.clone().unwrap_or_default(), repo_id.clone())
            }
            Task::Prune { repo_id } | Task::Check { repo_id } | Task::Stats { repo_id } => {
                (String::new(), repo_id.clone())
            }
            // A restore records its own operation (see `enqueue_restore`).
            Task::Restore => return Ok(None),
            Task::IndexSnapshots { repo_id } | Task::Unlock { repo_id } => {
                if config.repo(repo_id).is_none() {
                    return Err(TaskError::NotFound(format!("repo \"{repo_id}\" not found")));
                }
                return Ok(None);
            }
        };
        let repo = config
            .repo(&repo_id)
            .ok_or_else(|| TaskError::NotFound(format!("repo \"{repo_id}\" not found")))?;
        let mut op = Operation {
            plan_id,
            repo_id: repo.id.clone(),
            repo_guid: repo.guid.clone(),
            instance_id: config.instance.clone(),
            status: OperationStatus::Pending,
            unix_time_start_ms: start_ms,
            ..Default::default()
        };
        match self {
            Task::Backup { dry_run, .. } => {
                op.operation_backup = Some(OperationBackup {
                    dry_run: *dry_run,
                    ..Default::default()
                })
            }
            Task::Forget { plan_id, .. } => {
                let policy = match plan_id {
                    Some(p) => config.plan(p).and_then(|p| p.retention.clone()),
                    None => repo
                        .forget_policy
                        .as_ref()
                        .and_then(|f| f.retention.clone()),
                };
                op.operation_forget = Some(OperationForget {
                    forget: Vec::new(),
                    policy,
                })
            }
            Task::Prune { .. } => op.operation_prune = Some(Default::default()),
            Task::Check { .. } => op.operation_check = Some(Default::default()),
            Task::Stats { .. } => op.operation_stats = Some(Default::default()),
            Task::IndexSnapshots { .. } | Task::Unlock { .. } | Task::Restore => {}
        }
        Ok(Some(op))
    }
}

struct Queued {
    seq: u64,
    priority: u8,
    op_id: i64,
    task: Task,
    responder: Option<Responder>,
    /// A retry waits until then (hooks' RETRY policies).
    not_before: Option<Instant>,
    /// How often the task has been retried.
    retries: u32,
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
    /// Set by the running task when a hook asks for it to be retried.
    retry: Option<crate::hooks::OnError>,
}

/// What the worker needs from the rest of the daemon.
pub struct Env {
    pub config: Arc<SharedConfig>,
    pub logs: crate::logstore::LogStore,
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
    done: Mutex<Vec<crossbeam_channel::Sender<Task>>>,
    /// Final states the history could not take (a full disk), with the error: written again
    /// before each task and every [`UNSAVED_RETRY`] while idle.
    unsaved: Mutex<Vec<(Operation, String)>>,
}

/// How often the worker, while idle, retries writing final states the history refused.
const UNSAVED_RETRY: Duration = Duration::from_secs(5);

impl Orchestrator {
    pub fn new(env: Env) -> Arc<Self> {
        Arc::new(Self {
            env,
            state: Mutex::new(QueueState::default()),
            wake: Condvar::new(),
            shutting_down: AtomicBool::new(false),
            done: Mutex::new(Vec::new()),
            unsaved: Mutex::new(Vec::new()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn config(&self) -> Config {
        self.env.config.get()
    }

    /// Starts the worker thread.
    pub fn start(self: &Arc<Self>) -> std::io::Result<JoinHandle<()>> {
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("worker".into())
            .spawn(move || me.worker_loop())
    }

    /// Queues a backup of `plan_id` asked for by a user: a PENDING operation appears at once;
    /// `responder` is called when the backup's flow has finished.
    pub fn enqueue_backup(
        &self,
        plan_id: &str,
        dry_run: bool,
        responder: Option<Responder>,
    ) -> Result<i64, TaskError> {
        let task = Task::Backup {
            plan_id: plan_id.to_string(),
            dry_run,
        };
        self.enqueue(task, priority::INTERACTIVE, None, responder)
    }

    /// Queues a task. `op_id` names its existing PENDING operation (made by the scheduler);
    /// without one, a PENDING operation is recorded now (for tasks that have one). Returns the
    /// operation's id (0 for tasks without an operation).
    pub fn enqueue(
        &self,
        task: Task,
        priority: u8,
        op_id: Option<i64>,
        responder: Option<Responder>,
    ) -> Result<i64, TaskError> {
        let op_id = match op_id {
            Some(id) => id,
            None => match task.pending_operation(&self.config(), now_ms())? {
                Some(mut op) => {
                    op.display_message = "waiting to run".into();
                    self.env
                        .oplog
                        .add(&mut op)
                        .map_err(|e| TaskError::History(format!("recording the task: {e}")))?;
                    op.id
                }
                None => 0,
            },
        };
        let mut st = self.lock();
        if st.stopping {
            drop(st);
            if op_id != 0 {
                self.finish_cancelled(
                    op_id,
                    OperationStatus::SystemCancelled,
                    "footrest is stopping",
                );
            }
            return Err(TaskError::Stopping("footrest is stopping".into()));
        }
        let seq = st.next_seq;
        st.next_seq += 1;
        st.tasks.push(Queued {
            seq,
            priority,
            op_id,
            task,
            responder,
            not_before: None,
            retries: 0,
        });
        drop(st);
        self.wake.notify_all();
        Ok(op_id)
    }

    /// A channel that receives every task after it has run (the scheduler reschedules it).
    pub fn subscribe_done(&self) -> crossbeam_channel::Receiver<Task> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.done.lock().unwrap_or_else(|p| p.into_inner()).push(tx);
        rx
    }

    /// The tasks waiting in the queue, highest priority first (for tests and diagnostics).
    pub fn queued(&self) -> Vec<(u8, i64, Task)> {
        let st = self.lock();
        let mut v: Vec<(u8, u64, i64, Task)> = st
            .tasks
            .iter()
            .map(|q| (q.priority, q.seq, q.op_id, q.task.clone()))
            .collect();
        v.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        v.into_iter().map(|(p, _, id, t)| (p, id, t)).collect()
    }

    /// Cancels a queued or running operation. Unknown ids are a no-op.
    pub fn cancel(&self, op_id: i64) {
        if op_id == 0 || run_command::cancel_command(op_id) {
            return;
        }
        let mut st = self.lock();
        if let Some(pos) = st.tasks.iter().position(|q| q.op_id == op_id) {
            let q = st.tasks.remove(pos);
            drop(st);
            let task = q.task.clone();
            self.drop_queued(
                q,
                OperationStatus::UserCancelled,
                "cancelled by user request",
                TaskError::Cancelled("operation cancelled by user request".into()),
            );
            self.notify_done(&task);
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
        run_command::stop_commands();
        self.wake.notify_all();
        for q in queued {
            self.drop_queued_at_stop(q);
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

    /// Ends a task that leaves the queue without running: its operation (if any) gets
    /// `status` and `message`, and a request waiting for it gets `answer`.
    fn drop_queued(&self, q: Queued, status: OperationStatus, message: &str, answer: TaskError) {
        if q.op_id != 0 {
            self.finish_cancelled(q.op_id, status, message);
        }
        if let Some(r) = q.responder {
            r(q.op_id, Err(answer));
        }
    }

    /// `drop_queued` for a task the daemon's stop leaves unrun.
    fn drop_queued_at_stop(&self, q: Queued) {
        self.drop_queued(
            q,
            OperationStatus::SystemCancelled,
            "footrest stopped before this task ran",
            TaskError::Stopping("footrest is stopping".into()),
        );
    }

    /// Records a terminal cancelled status on an operation that did not run to its end.
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
            if self.has_unsaved() {
                self.retry_unsaved();
            }
            let q = {
                let mut st = self.lock();
                loop {
                    if st.stopping {
                        return;
                    }
                    let now = Instant::now();
                    let best = st
                        .tasks
                        .iter()
                        .enumerate()
                        .filter(|(_, q)| q.not_before.is_none_or(|t| t <= now))
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
                    let retry = self.has_unsaved().then_some(UNSAVED_RETRY);
                    let due = st
                        .tasks
                        .iter()
                        .filter_map(|q| q.not_before)
                        .min()
                        .map(|t| t.saturating_duration_since(now));
                    st = match due.into_iter().chain(retry).min() {
                        Some(wait) => {
                            let (st, _) = self
                                .wake
                                .wait_timeout(st, wait)
                                .unwrap_or_else(|p| p.into_inner());
                            st
                        }
                        None => self.wake.wait(st).unwrap_or_else(|p| p.into_inner()),
                    };
                    if retry.is_some() {
                        // Not under the queue's lock: a write may wait for the disk.
                        drop(st);
                        self.retry_unsaved();
                        st = self.lock();
                    }
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
                Task::Restore => self.run_restore(q.op_id, &cancel),
                other => self.run_repo_task(q.op_id, other, &cancel),
            };
            let retry = {
                let mut st = self.lock();
                st.running = None;
                st.retry.take()
            };
            self.wake.notify_all();
            if let Some(policy) = retry {
                self.retry_later(q, policy);
                continue;
            }
            let result = match (result, self.unsaved_error(q.op_id)) {
                (Ok(()), Some(e)) => Err(TaskError::Limit(format!(
                    "the task finished but its record could not be written to the history \
                         ({e}); footrest writes it once the data directory has room again"
                ))),
                (result, _) => result,
            };
            if let Some(r) = q.responder {
                r(q.op_id, result);
            }
            self.notify_done(&q.task);
        }
    }

    /// Tells the subscribers (the scheduler) that a task is over.
    fn notify_done(&self, task: &Task) {
        for tx in self.done.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            let _ = tx.send(task.clone());
        }
    }

    /// Turns a restic error into the operation's outcome.
    fn failure(&self, e: ResticError, cancel: &CancelHandle) -> Failure {
        match e {
            ResticError::Cancelled => {
                if self.shutting_down.load(Ordering::SeqCst) {
                    Failure {
                        status: OperationStatus::SystemCancelled,
                        error: TaskError::Stopping(
                            "footrest stopped while this operation ran".into(),
                        ),
                    }
                } else {
                    Failure {
                        status: OperationStatus::UserCancelled,
                        error: TaskError::Cancelled("cancelled by user request".into()),
                    }
                }
            }
            e if cancel.is_cancelled() => {
                log::debug!("restic ended after cancel: {e}");
                self.failure(ResticError::Cancelled, cancel)
            }
            e if e.is_locked() => Failure::new(TaskError::Restic(
                ResticKind::Locked,
                format!("repository is locked by another process: {e}"),
            )),
            e => Failure::restic(e),
        }
    }

    /// A queued task's operation, moved to INPROGRESS (in memory: the caller saves it).
    fn start_operation(&self, op_id: i64) -> Result<Operation, TaskError> {
        let mut op = match self.env.oplog.get(op_id) {
            Ok(Some(op)) => op,
            Ok(None) => return Err(TaskError::NotFound(format!("operation {op_id} not found"))),
            Err(e) => return Err(TaskError::History(e.to_string())),
        };
        op.status = OperationStatus::InProgress;
        op.unix_time_start_ms = now_ms();
        op.display_message.clear();
        Ok(op)
    }

    /// Writes `op`. A final state the history refuses is kept and written again later (see
    /// `unsaved`); a newer successful write of the same operation replaces it.
    fn save(&self, op: &mut Operation) {
        let written = self.env.oplog.update(op);
        let mut unsaved = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
        unsaved.retain(|(u, _)| u.id != op.id);
        if let Err(e) = written {
            log::error!("operation {}: {e}", op.id);
            if op.status.is_terminal() {
                unsaved.push((op.clone(), e.to_string()));
            }
        }
    }

    /// Why the final state of operation `id` is not in the history yet, if it is not.
    fn unsaved_error(&self, id: i64) -> Option<String> {
        let unsaved = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
        unsaved
            .iter()
            .find(|(u, _)| u.id == id)
            .map(|(_, e)| e.clone())
    }

    fn has_unsaved(&self) -> bool {
        !self
            .unsaved
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_empty()
    }

    /// Writes the final states the history refused earlier; keeps those it still refuses.
    fn retry_unsaved(&self) {
        let pending = std::mem::take(&mut *self.unsaved.lock().unwrap_or_else(|p| p.into_inner()));
        for (mut op, _) in pending {
            match self.env.oplog.update(&mut op) {
                Ok(()) => log::info!("operation {}: its final state is recorded now", op.id),
                Err(e) => {
                    let mut unsaved = self.unsaved.lock().unwrap_or_else(|p| p.into_inner());
                    // A write since (by `save`) is newer than this copy.
                    if !unsaved.iter().any(|(u, _)| u.id == op.id) {
                        unsaved.push((op, e.to_string()));
                    }
                }
            }
        }
    }
}

/// What a running task works with: the config it started with, its repo, the restic for that
/// repo and its cancel handle.
#[derive(Clone, Copy)]
struct TaskCtx<'a> {
    config: &'a Config,
    repo: &'a crate::config::Repo,
    restic: &'a crate::restic::Restic,
    cancel: &'a CancelHandle,
}

/// How a task ended when it did not succeed: the status its operation records, and why.
struct Failure {
    status: OperationStatus,
    error: TaskError,
}

impl Failure {
    fn new(error: TaskError) -> Self {
        Self {
            status: OperationStatus::Error,
            error,
        }
    }

    fn restic(e: ResticError) -> Self {
        Self::new(e.into())
    }

    fn message(&self) -> String {
        self.error.to_string()
    }
}
