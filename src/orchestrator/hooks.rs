//! Hooks around the worker's tasks (docs/COMPATIBILITY.md §6, §8), and the retry of a task
//! whose hook asked for one. Runs on the worker thread.
//!
//! Which events fire, as in Backrest: a backup fires SNAPSHOT_START before it runs; after it,
//! SNAPSHOT_SKIPPED (no new snapshot), then SNAPSHOT_SUCCESS or SNAPSHOT_WARNING, then
//! SNAPSHOT_END — or, when it failed, SNAPSHOT_ERROR, ANY_ERROR, SNAPSHOT_END. Prune, check and
//! forget fire their START, then SUCCESS, or ERROR and ANY_ERROR. Each hook runs once per
//! firing, for the first of these events it listens to. Dry runs and cancelled tasks fire none.
//!
//! What a failing hook does to its task (its `onError`): CANCEL ends the task USER_CANCELLED,
//! FATAL ends it ERROR, RETRY_* puts it back in the queue as PENDING "waiting for retry, current
//! backoff delay: …" — from START hooks and from SUCCESS/WARNING/END hooks alike. The hooks of
//! a task that already failed cannot change its outcome.
//!
//! A waiting retry lives in the queue, in memory, with the operation showing its next attempt
//! as its start time. It is not resumed after a restart: a stopping daemon ends it
//! SYSTEM_CANCELLED like every queued task, a crashed one leaves a PENDING operation that
//! startup drops (docs/COMPATIBILITY.md §6); a scheduled task then runs at its next scheduled time, with the
//! backoff starting over. Persisting it would mean resuming a half-done flow (the hooks that
//! already ran) after an unknown time; the schedule is the sensible recomputation.

use super::{Failure, Orchestrator, Queued, Task, TaskError};
use crate::cancel::CancelHandle;
use crate::config::{Config, Plan, Repo};
use crate::hooks::run::Firing;
use crate::hooks::{self, Condition, OnError, Outcome, Vars};
use crate::model::{Operation, OperationStatus};
use crate::template::backrest::go_duration;
use crate::util::now_ms;
use std::time::{Duration, Instant};

/// Backrest's name for a plan's backup task (the hooks' `.Task`).
fn backup_task_name(plan_id: &str) -> String {
    format!("backup for plan \"{plan_id}\"")
}

/// For repo tasks with hooks: the task's name and its start, error and success events.
fn repo_task_events(task: &Task) -> Option<(String, [Condition; 3])> {
    use Condition::*;
    match task {
        Task::Prune { repo_id } => Some((
            format!("prune repo \"{repo_id}\""),
            [PruneStart, PruneError, PruneSuccess],
        )),
        Task::Check { repo_id } => Some((
            format!("check repo \"{repo_id}\""),
            [CheckStart, CheckError, CheckSuccess],
        )),
        Task::Forget {
            repo_id,
            plan_id,
            snapshot_id: None,
        } => Some((
            match plan_id {
                Some(p) => format!("forget for plan \"{p}\" in repo \"{repo_id}\""),
                None => format!("forget repo \"{repo_id}\""),
            },
            [ForgetStart, ForgetError, ForgetSuccess],
        )),
        _ => None,
    }
}

/// Where hooks fire: a task's operation, its repo and plan.
fn at<'a>(
    config: &'a Config,
    parent: &'a Operation,
    repo: &'a Repo,
    plan: Option<&'a Plan>,
) -> Firing<'a> {
    Firing {
        instance: &config.instance,
        repo,
        plan,
        parent,
    }
}

fn running_for(op: &Operation) -> Duration {
    Duration::from_millis((now_ms() - op.unix_time_start_ms).max(0) as u64)
}

impl Orchestrator {
    /// Fires the hooks of `firing`'s repo and plan that listen to `events`.
    fn fire_hooks(
        &self,
        firing: Firing,
        events: &[Condition],
        vars: &Vars,
        cancel: &CancelHandle,
    ) -> Outcome {
        let no_hooks =
            firing.repo.hooks.is_empty() && firing.plan.is_none_or(|p| p.hooks.is_empty());
        if no_hooks {
            return Outcome::Continue;
        }
        let settings = crate::settings::get().hooks.clone();
        hooks::fire(
            &self.env.oplog,
            &self.env.logs,
            &firing,
            events,
            vars,
            &settings,
            Some(cancel),
        )
    }

    /// What an outcome does to the task: None to go on. A retry is remembered for the worker
    /// loop, which re-queues the task, unless `can_retry` is false (a step inside another task).
    fn halt(&self, outcome: Outcome, stage: &str, can_retry: bool) -> Option<Failure> {
        match outcome {
            Outcome::Continue => None,
            Outcome::Cancel { hook, error } => Some(Failure {
                status: OperationStatus::UserCancelled,
                error: TaskError::Cancelled(format!("cancelled by {hook} ({stage}): {error}")),
            }),
            Outcome::Fatal { hook, error } => Some(Failure::new(TaskError::Hook(format!(
                "{stage} hook failed: {hook}: {error}"
            )))),
            Outcome::Retry { hook, error, .. } if !can_retry => {
                Some(Failure::new(TaskError::Hook(format!(
                    "{stage} hook failed: {hook}: {error} (its retry policy applies to whole tasks only)"
                ))))
            }
            Outcome::Retry {
                hook,
                error,
                policy,
            } => {
                self.lock().retry = Some(policy);
                Some(Failure {
                    status: OperationStatus::Pending,
                    error: TaskError::Hook(format!("{stage} hook failed: {hook}: {error}")),
                })
            }
        }
    }

    /// SNAPSHOT_START, before a backup runs (docs/COMPATIBILITY.md §6).
    pub(super) fn snapshot_start_hooks(
        &self,
        op: &Operation,
        config: &Config,
        plan: &Plan,
        repo: &Repo,
        dry_run: bool,
        cancel: &CancelHandle,
    ) -> Result<(), Failure> {
        if dry_run {
            return Ok(());
        }
        let mut vars = Vars::new(backup_task_name(&plan.id));
        vars.duration = running_for(op);
        let events = [Condition::SnapshotStart];
        let outcome = self.fire_hooks(at(config, op, repo, Some(plan)), &events, &vars, cancel);
        match self.halt(outcome, "snapshot start", true) {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// The hooks at the end of a backup (docs/COMPATIBILITY.md §6), after its operation has its final
    /// status. When they stop or retry the backup, the operation is updated and the new outcome
    /// returned.
    pub(super) fn snapshot_end_hooks(
        &self,
        op: &mut Operation,
        config: &Config,
        dry_run: bool,
        cancel: &CancelHandle,
    ) -> Option<Failure> {
        if dry_run {
            return None;
        }
        let plan = config.plan(&op.plan_id)?;
        let repo = config.repo(&plan.repo)?;
        let backup = op.operation_backup.as_ref();
        let mut vars = Vars::new(backup_task_name(&plan.id));
        vars.snapshot_id = op.snapshot_id.clone();
        vars.stats = backup
            .and_then(|b| b.last_status.as_ref())
            .and_then(|l| l.summary.clone());
        vars.duration = running_for(op);
        let events: Vec<Condition> = match op.status {
            OperationStatus::Success | OperationStatus::Warning => {
                let mut e = Vec::new();
                if op.snapshot_id.is_empty() {
                    e.push(Condition::SnapshotSkipped);
                }
                if op.status == OperationStatus::Success {
                    e.push(Condition::SnapshotSuccess);
                } else {
                    e.push(Condition::SnapshotWarning);
                    let n = backup.map_or(0, |b| b.errors.len());
                    vars.error =
                        format!("partial backup, {n} files may not have been read completely.");
                }
                e.push(Condition::SnapshotEnd);
                e
            }
            OperationStatus::Error => {
                vars.error = op.display_message.clone();
                vec![
                    Condition::SnapshotError,
                    Condition::AnyError,
                    Condition::SnapshotEnd,
                ]
            }
            _ => return None,
        };
        let outcome = self.fire_hooks(at(config, op, repo, Some(plan)), &events, &vars, cancel);
        if op.status == OperationStatus::Error {
            return None;
        }
        let f = self.halt(outcome, "snapshot end", true)?;
        self.apply(op, &f);
        Some(f)
    }

    /// The START hooks of a prune, check or forget, before it runs.
    pub(super) fn repo_task_start_hooks(
        &self,
        task: &Task,
        config: &Config,
        repo: &Repo,
        op: Option<&Operation>,
        cancel: &CancelHandle,
    ) -> Result<(), Failure> {
        let (Some(op), Some((name, [start, _, _]))) = (op, repo_task_events(task)) else {
            return Ok(());
        };
        let plan = config.plan(&op.plan_id);
        let mut vars = Vars::new(name);
        vars.duration = running_for(op);
        let outcome = self.fire_hooks(at(config, op, repo, plan), &[start], &vars, cancel);
        let stage = start
            .name()
            .trim_start_matches("CONDITION_")
            .to_ascii_lowercase();
        match self.halt(outcome, &stage.replace('_', " "), true) {
            Some(f) => Err(f),
            None => Ok(()),
        }
    }

    /// The SUCCESS or ERROR hooks of a prune, check or forget, after its operation has its final
    /// status; like [`Self::snapshot_end_hooks`].
    pub(super) fn repo_task_end_hooks(
        &self,
        task: &Task,
        config: &Config,
        op: Option<&mut Operation>,
        cancel: &CancelHandle,
    ) -> Option<Failure> {
        let op = op?;
        let (name, [_, error, success]) = repo_task_events(task)?;
        let repo = config.repo(task.repo_id(config)?)?;
        let plan = config.plan(&op.plan_id);
        let mut vars = Vars::new(name);
        vars.duration = running_for(op);
        let events = match op.status {
            OperationStatus::Success => vec![success],
            OperationStatus::Error => {
                vars.error = op.display_message.clone();
                vec![error, Condition::AnyError]
            }
            _ => return None,
        };
        let outcome = self.fire_hooks(at(config, op, repo, plan), &events, &vars, cancel);
        if op.status == OperationStatus::Error {
            return None;
        }
        let stage = success
            .name()
            .trim_start_matches("CONDITION_")
            .to_ascii_lowercase();
        let f = self.halt(outcome, &stage.replace('_', " "), true)?;
        self.apply(op, &f);
        Some(f)
    }

    /// FORGET hooks of the forget that follows a backup (a step of the backup's flow, so a retry
    /// policy cannot re-queue it: it counts as FATAL). `op` is the forget's operation; `done` is
    /// None before the forget runs.
    pub(super) fn inline_forget_hooks(
        &self,
        config: &Config,
        plan: &Plan,
        repo: &Repo,
        op: &mut Operation,
        done: Option<OperationStatus>,
        cancel: &CancelHandle,
    ) -> Option<Failure> {
        let mut vars = Vars::new(format!(
            "forget for plan \"{}\" in repo \"{}\"",
            plan.id, repo.id
        ));
        vars.duration = running_for(op);
        let (events, stage) = match done {
            None => (vec![Condition::ForgetStart], "forget start"),
            Some(OperationStatus::Success) => (vec![Condition::ForgetSuccess], "forget success"),
            Some(OperationStatus::Error) => {
                vars.error = op.display_message.clone();
                (
                    vec![Condition::ForgetError, Condition::AnyError],
                    "forget error",
                )
            }
            Some(_) => return None,
        };
        let outcome = self.fire_hooks(at(config, op, repo, Some(plan)), &events, &vars, cancel);
        if done == Some(OperationStatus::Error) {
            return None;
        }
        let f = self.halt(outcome, stage, false)?;
        self.apply(op, &f);
        Some(f)
    }

    /// Records a hook's verdict on a task's operation.
    fn apply(&self, op: &mut Operation, f: &Failure) {
        op.status = f.status;
        op.display_message = f.message();
        op.unix_time_end_ms = now_ms();
        self.save(op);
    }

    /// Puts a task whose hook asked for a retry back in the queue, to run after the policy's
    /// backoff; its operation waits as PENDING with the delay in its message and the next
    /// attempt as its start time. The waiting request (Backup) is answered when a later attempt
    /// ends.
    pub(super) fn retry_later(&self, mut q: Queued, policy: OnError) {
        let attempt = q.retries + 1;
        let delay = crate::settings::get()
            .hooks
            .retry_delay(policy, attempt)
            .unwrap_or(Duration::from_secs(60));
        let message = format!(
            "waiting for retry, current backoff delay: {}",
            go_duration(delay.as_nanos().min(i64::MAX as u128) as i64)
        );
        log::info!(
            "operation {}: {message} ({}, attempt {attempt})",
            q.op_id,
            policy.name()
        );
        if q.op_id != 0
            && let Ok(Some(mut op)) = self.env.oplog.get(q.op_id)
        {
            op.status = OperationStatus::Pending;
            op.display_message = message;
            op.unix_time_start_ms = now_ms() + delay.as_millis() as i64;
            op.unix_time_end_ms = 0;
            self.save(&mut op);
        }
        q.retries = attempt;
        q.not_before = Some(Instant::now() + delay);
        let mut st = self.lock();
        if st.stopping {
            drop(st);
            self.drop_queued_at_stop(q);
            return;
        }
        q.seq = st.next_seq;
        st.next_seq += 1;
        st.tasks.push(q);
        drop(st);
        self.wake.notify_all();
    }
}
