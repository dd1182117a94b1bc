//! Monitoring: Prometheus metrics (`GET /metrics`) and a health summary for home automation and
//! uptime monitors (`GET /status`).
//!
//! Both are rendered from a [`Monitor`] that follows the operation log: built once at start from
//! the index (counts, what runs, snapshots) plus a read of the newest finished operation of each
//! (repo, plan, task type), then kept current by the log's change notifications. A scrape costs
//! what it returns (one line per series), never a walk of the history, and the figures survive a
//! restart because they come from the history.
//!
//! Metric names, types and labels are Backrest's (`backrest_*`, with `repo_id`, `plan_id`,
//! `task_type` and `status`; empty ids are `_unassociated_`), so dashboards made for Backrest
//! work; the timestamps, snapshot counts, repo size and next run are footrest's additions (see
//! docs/COMPATIBILITY.md §10).

use crate::config::Config;
use crate::dashboard;
use crate::model::{OpKind, Operation, OperationStatus};
use crate::oplog::{Change, OpLog};
use crate::schedule::{TimeZone, Timestamp};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

mod exposition;

use exposition::*;

/// What one change of the log tells the monitor, kept small: no whole operation is queued.
#[derive(Clone, Debug)]
struct Event {
    id: i64,
    /// Created (rather than updated) by this change.
    created: bool,
    repo_id: String,
    plan_id: String,
    kind: OpKind,
    status: OperationStatus,
    start_ms: i64,
    end_ms: i64,
    /// (bytes processed, bytes added) from a backup's summary.
    bytes: Option<(i64, i64)>,
    file_warnings: i64,
    forgot: bool,
    repo_size: Option<i64>,
}

impl Event {
    fn of(op: &Operation, created: bool) -> Event {
        let backup = op.operation_backup.as_ref();
        let summary = backup
            .and_then(|b| b.last_status.as_ref())
            .and_then(|s| s.summary.as_ref());
        Event {
            id: op.id,
            created,
            repo_id: op.repo_id.clone(),
            plan_id: op.plan_id.clone(),
            kind: op.kind(),
            status: op.status,
            start_ms: op.unix_time_start_ms,
            end_ms: op.unix_time_end_ms,
            bytes: summary.map(|s| (s.total_bytes_processed, s.data_added)),
            file_warnings: backup.map_or(0, |b| b.errors.len() as i64),
            forgot: op
                .operation_index_snapshot
                .as_ref()
                .is_some_and(|i| i.forgot),
            repo_size: op
                .operation_stats
                .as_ref()
                .and_then(|s| s.stats.as_ref())
                .map(|s| s.total_size),
        }
    }
}

/// A change waiting to be applied.
enum Queued {
    Op(Event),
    Deleted(i64),
}

/// Backrest's task type for an operation kind; None for kinds that are not tasks.
fn task_type(kind: OpKind) -> Option<&'static str> {
    Some(match kind {
        OpKind::Backup => "backup",
        OpKind::Forget => "forget",
        OpKind::Prune => "prune",
        OpKind::Check => "check",
        OpKind::Restore => "restore",
        OpKind::Stats => "stats",
        OpKind::RunCommand => "run_command",
        OpKind::None | OpKind::IndexSnapshot | OpKind::RunHook => return None,
    })
}

/// The `status` label of a finished task, and `backrest_last_task_status`'s value for it.
fn status_label(status: OperationStatus) -> (&'static str, i8) {
    match status {
        OperationStatus::Success | OperationStatus::Warning => ("success", 0),
        OperationStatus::Error => ("failed", 1),
        _ => ("cancelled", -1),
    }
}

fn succeeded(status: OperationStatus) -> bool {
    matches!(status, OperationStatus::Success | OperationStatus::Warning)
}

/// (repo id, plan id, task type).
type TaskKey = (String, String, &'static str);

#[derive(Default)]
struct TaskState {
    runs: BTreeMap<&'static str, u64>,
    /// The newest finished run: (start, id) to order, status, start and end.
    last: Option<Finished>,
    last_success: Option<Finished>,
    /// The success before `last_success`, for when that one turns out to have failed.
    prev_success: Option<Finished>,
}

#[derive(Clone, Copy)]
struct Finished {
    order: (i64, i64),
    status: OperationStatus,
    start_ms: i64,
    end_ms: i64,
}

#[derive(Default)]
struct BackupState {
    bytes_processed: i64,
    bytes_added: i64,
    file_warnings: i64,
    /// The summary these came from: (start, id).
    bytes_from: Option<(i64, i64)>,
    /// The earliest backup's start (the dashboard's "first backup" for overdue).
    first_start_ms: Option<i64>,
}

/// An operation not finished yet: a queued or running task, or a scheduled backup (PENDING).
#[derive(Clone)]
struct Flight {
    repo_id: String,
    plan_id: String,
    kind: OpKind,
    status: OperationStatus,
    start_ms: i64,
}

#[derive(Default)]
struct Tracker {
    /// The newest id the start-up walk saw: a creation at or below it is counted already.
    loaded_max_id: i64,
    in_flight: HashMap<i64, Flight>,
    tasks: BTreeMap<TaskKey, TaskState>,
    backups: BTreeMap<(String, String), BackupState>,
    snapshots: Snapshots,
    /// Repo id → (total size, (start, id) of the stats operation it came from).
    repo_size: BTreeMap<String, (i64, (i64, i64))>,
    /// Operations finished while this process runs, newest last, with their status (see
    /// `apply`).
    recent: std::collections::VecDeque<(i64, OperationStatus)>,
}

/// How many finished operations `Tracker::recent` remembers.
const RECENT: usize = 256;

impl Tracker {
    fn apply(&mut self, e: &Event) {
        if e.kind == OpKind::IndexSnapshot {
            if e.forgot {
                self.snapshots.remove(e.id);
            } else {
                self.snapshots.add(e.id, &e.repo_id, &e.plan_id);
            }
        }
        if !e.status.is_terminal() {
            self.in_flight.insert(
                e.id,
                Flight {
                    repo_id: e.repo_id.clone(),
                    plan_id: e.plan_id.clone(),
                    kind: e.kind,
                    status: e.status,
                    start_ms: e.start_ms,
                },
            );
            return;
        }
        let was_running = self.in_flight.remove(&e.id).is_some();
        if let Some(i) = self.recent.iter().position(|(id, _)| *id == e.id) {
            // Finished before, in this process: its status moved (an end hook that failed, a
            // retry that ended), so its run moves too rather than counting twice.
            let old = self.recent[i].1;
            if old != e.status {
                self.recent[i].1 = e.status;
                self.restate(e, old);
            }
            return;
        }
        let new = if e.created {
            e.id > self.loaded_max_id
        } else {
            was_running
        };
        if new {
            self.finish(e);
            if self.recent.len() >= RECENT {
                self.recent.pop_front();
            }
            self.recent.push_back((e.id, e.status));
        }
    }

    /// A finished operation's status changed from `old` to `e.status`.
    fn restate(&mut self, e: &Event, old: OperationStatus) {
        if let Some(t) = task_type(e.kind) {
            let st = self.task_of(e, t);
            let old = status_label(old).0;
            if let Some(n) = st.runs.get_mut(old) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    st.runs.remove(old);
                }
            }
            *st.runs.entry(status_label(e.status).0).or_default() += 1;
            if !succeeded(e.status) && st.last_success.is_some_and(|l| l.order.1 == e.id) {
                st.last_success = st.prev_success.take();
            }
        }
        self.note_latest(e);
    }

    /// Records a task that has just finished: one more run, and the newest figures.
    fn finish(&mut self, e: &Event) {
        if let Some(t) = task_type(e.kind) {
            let st = self.task_of(e, t);
            *st.runs.entry(status_label(e.status).0).or_default() += 1;
        }
        if e.kind == OpKind::Backup {
            let b = self.backup_of(e);
            b.first_start_ms = Some(b.first_start_ms.map_or(e.start_ms, |f| f.min(e.start_ms)));
        }
        self.note_latest(e);
    }

    fn task_of(&mut self, e: &Event, task_type: &'static str) -> &mut TaskState {
        self.tasks
            .entry((e.repo_id.clone(), e.plan_id.clone(), task_type))
            .or_default()
    }

    fn backup_of(&mut self, e: &Event) -> &mut BackupState {
        self.backups
            .entry((e.repo_id.clone(), e.plan_id.clone()))
            .or_default()
    }

    /// Keeps what a finished operation says (last run, last success, a backup's bytes, a
    /// repo's size) where it is newer than what is known.
    fn note_latest(&mut self, e: &Event) {
        let order = (e.start_ms, e.id);
        if let Some(t) = task_type(e.kind) {
            let st = self.task_of(e, t);
            let f = Finished {
                order,
                status: e.status,
                start_ms: e.start_ms,
                end_ms: e.end_ms,
            };
            if st.last.is_none_or(|l| f.order >= l.order) {
                st.last = Some(f);
            }
            if succeeded(e.status) && st.last_success.is_none_or(|l| f.order >= l.order) {
                if st.last_success.is_some_and(|l| l.order != f.order) {
                    st.prev_success = st.last_success;
                }
                st.last_success = Some(f);
            }
        }
        if e.kind == OpKind::Backup
            && let Some((processed, added)) = e.bytes
        {
            let b = self.backup_of(e);
            if b.bytes_from.is_none_or(|f| order >= f) {
                b.bytes_processed = processed;
                b.bytes_added = added;
                b.file_warnings = e.file_warnings;
                b.bytes_from = Some(order);
            }
        }
        if e.kind == OpKind::Stats
            && succeeded(e.status)
            && let Some(size) = e.repo_size
        {
            let cur = self
                .repo_size
                .entry(e.repo_id.clone())
                .or_insert((size, order));
            if order >= cur.1 {
                *cur = (size, order);
            }
        }
    }

    /// Whether a backup of `plan` runs now.
    fn backup_running(&self, repo: &str, plan: &str) -> bool {
        self.in_flight.values().any(|f| {
            f.kind == OpKind::Backup
                && f.status == OperationStatus::InProgress
                && f.plan_id == plan
                && f.repo_id == repo
        })
    }

    /// The earliest start of a PENDING backup of `plan`: its next scheduled run.
    fn next_run(&self, repo: &str, plan: &str) -> Option<i64> {
        self.in_flight
            .values()
            .filter(|f| {
                f.kind == OpKind::Backup
                    && f.status == OperationStatus::Pending
                    && f.plan_id == plan
                    && f.repo_id == repo
            })
            .map(|f| f.start_ms)
            .min()
    }
}

/// The monitor the daemon keeps (see the module doc).
pub struct Monitor {
    tracker: Mutex<Tracker>,
    /// Changes not applied yet: the log's listener never waits for the tracker.
    queued: Mutex<Vec<Queued>>,
    started_s: f64,
}

impl Monitor {
    /// Subscribes to `oplog`, then builds the state from its history.
    pub fn start(oplog: &Arc<OpLog>) -> Arc<Monitor> {
        let started_s = crate::util::now_ms() as f64 / 1000.0;
        let m = Arc::new(Monitor {
            tracker: Mutex::new(Tracker::default()),
            queued: Mutex::new(Vec::new()),
            started_s,
        });
        let mut t = m.lock_tracker();
        let weak = Arc::downgrade(&m);
        oplog.subscribe(Box::new(move |change| {
            if let Some(m) = weak.upgrade() {
                m.on_change(change);
            }
        }));
        load(&mut t, oplog);
        drop(t);
        m.drain();
        m
    }

    fn lock_tracker(&self) -> std::sync::MutexGuard<'_, Tracker> {
        self.tracker.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn on_change(&self, change: &Change) {
        let events: Vec<Queued> = match change {
            Change::Created(ops) => ops.iter().map(|o| Queued::Op(Event::of(o, true))).collect(),
            Change::Updated(ops) => ops
                .iter()
                .map(|o| Queued::Op(Event::of(o, false)))
                .collect(),
            Change::Deleted(ids) => ids.iter().map(|&id| Queued::Deleted(id)).collect(),
        };
        self.queued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(events);
        self.try_drain();
    }

    /// Applies queued changes unless someone holds the tracker (it drains them then).
    fn try_drain(&self) {
        if let Ok(mut t) = self.tracker.try_lock() {
            apply_queued(&mut t, &self.queued);
        }
    }

    fn drain(&self) {
        let mut t = self.lock_tracker();
        apply_queued(&mut t, &self.queued);
    }

    /// Whether a backup of `plan` (in `repo`) runs now.
    pub fn backup_running(&self, repo: &str, plan: &str) -> bool {
        let mut t = self.lock_tracker();
        apply_queued(&mut t, &self.queued);
        t.backup_running(repo, plan)
    }

    /// The Prometheus text exposition (format 0.0.4) of everything the monitor knows.
    pub fn metrics(&self, config: &Config, restic_version: Option<(u32, u32)>) -> String {
        let mut t = self.lock_tracker();
        apply_queued(&mut t, &self.queued);
        let mut x = Exposition::default();
        let backups: Vec<(&(String, String), &BackupState)> = t
            .backups
            .iter()
            .filter(|(_, b)| b.bytes_from.is_some())
            .collect();
        type Pick = fn(&BackupState) -> i64;
        let per_backup: [(&str, &str, Pick); 3] = [
            (
                "backup_bytes_processed",
                "The total number of bytes processed during a backup",
                |b| b.bytes_processed,
            ),
            (
                "backup_bytes_added",
                "The total number of bytes added during a backup",
                |b| b.bytes_added,
            ),
            (
                "backup_file_warnings",
                "The total number of file warnings during a backup",
                |b| b.file_warnings,
            ),
        ];
        for (name, help, pick) in per_backup {
            x.family(name, "gauge", help);
            for ((repo, plan), b) in &backups {
                x.sample(name, &[("plan_id", plan), ("repo_id", repo)], &pick(b));
            }
        }
        x.family(
            "tasks_duration_secs",
            "gauge",
            "The duration of a task in seconds",
        );
        for ((repo, plan, ty), l) in t.tasks.iter().filter_map(|(k, s)| Some((k, s.last?))) {
            let secs = (l.end_ms - l.start_ms).max(0) as f64 / 1000.0;
            x.sample(
                "tasks_duration_secs",
                &[("plan_id", plan), ("repo_id", repo), ("task_type", ty)],
                &secs,
            );
        }
        x.family(
            "tasks_run_total",
            "counter",
            "The total number of tasks run",
        );
        for ((repo, plan, ty), st) in &t.tasks {
            for (status, n) in &st.runs {
                let labels = [
                    ("plan_id", plan.as_str()),
                    ("repo_id", repo),
                    ("status", status),
                    ("task_type", ty),
                ];
                x.sample("tasks_run_total", &labels, &n);
            }
        }
        x.family("last_task_status", "gauge", "The status of the last task");
        for ((repo, plan, ty), l) in t.tasks.iter().filter_map(|(k, s)| Some((k, s.last?))) {
            let (status, v) = status_label(l.status);
            let labels = [
                ("plan_id", plan.as_str()),
                ("repo_id", repo),
                ("status", status),
                ("task_type", ty),
            ];
            x.sample("last_task_status", &labels, &v);
        }
        type Last = fn(&TaskState) -> Option<Finished>;
        let ends: [(&str, &str, Last); 2] = [
            (
                "last_run_timestamp_seconds",
                "When the last run of a task ended (Unix time)",
                |s| s.last,
            ),
            (
                "last_success_timestamp_seconds",
                "When the last successful run of a task ended (Unix time)",
                |s| s.last_success,
            ),
        ];
        for (name, help, pick) in ends {
            x.family(name, "gauge", help);
            for ((repo, plan, ty), l) in t.tasks.iter().filter_map(|(k, s)| Some((k, pick(s)?))) {
                x.sample(
                    name,
                    &[("plan_id", plan), ("repo_id", repo), ("task_type", ty)],
                    &secs(l.end_ms),
                );
            }
        }
        x.family(
            "snapshots",
            "gauge",
            "Snapshots of the plan in the repo, as the history knows them",
        );
        for ((repo, plan), n) in t.snapshots.counts() {
            x.sample("snapshots", &[("plan_id", plan), ("repo_id", repo)], &n);
        }
        x.family(
            "repo_size_bytes",
            "gauge",
            "The repo's total size at its latest stats run",
        );
        for (repo, (size, _)) in &t.repo_size {
            x.sample("repo_size_bytes", &[("repo_id", repo)], &size);
        }
        x.family(
            "next_run_timestamp_seconds",
            "gauge",
            "When the plan's next scheduled backup is due (Unix time)",
        );
        for plan in &config.plans {
            if let Some(next) = t.next_run(&plan.repo, &plan.id) {
                x.sample(
                    "next_run_timestamp_seconds",
                    &[("plan_id", &plan.id), ("repo_id", &plan.repo)],
                    &secs(next),
                );
            }
        }
        drop(t);
        x.raw_family(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes",
        );
        x.raw_sample("process_resident_memory_bytes", &[], &resident_bytes());
        x.raw_family(
            "process_start_time_seconds",
            "gauge",
            "Start time of the process since unix epoch in seconds",
        );
        x.raw_sample("process_start_time_seconds", &[], &self.started_s);
        x.raw_family(
            "footrest_build_info",
            "gauge",
            "footrest's version and the version of the restic it runs",
        );
        let restic = restic_version.map_or("unknown".into(), |(a, b)| format!("{a}.{b}"));
        let labels = [
            ("restic_version", restic.as_str()),
            ("version", env!("CARGO_PKG_VERSION")),
        ];
        x.raw_sample("footrest_build_info", &labels, &1);
        x.out
    }

    /// GET /status: 200 when every scheduled plan (or the one asked for) is healthy, 503 when
    /// one failed its last backup or is overdue; Err for an unknown plan.
    pub fn status(
        &self,
        config: &Config,
        only_plan: Option<&str>,
        now_ms: i64,
        tz: &TimeZone,
    ) -> Result<(u16, Status), String> {
        if let Some(id) = only_plan
            && !config.plans.iter().any(|p| p.id == id)
        {
            return Err(format!("no plan with id {id:?}"));
        }
        let mut t = self.lock_tracker();
        apply_queued(&mut t, &self.queued);
        let counts = t.snapshots.counts();
        let mut healthy = true;
        let mut plans = Vec::new();
        for plan in config
            .plans
            .iter()
            .filter(|p| only_plan.is_none_or(|id| id == p.id))
        {
            let key = (plan.repo.clone(), plan.id.clone(), "backup");
            let st = t.tasks.get(&key);
            let last = st.and_then(|s| s.last);
            let last_success = st.and_then(|s| s.last_success);
            let b = t.backups.get(&(plan.repo.clone(), plan.id.clone()));
            let overdue = dashboard::overdue_now(
                plan,
                b.and_then(|b| b.first_start_ms),
                last_success.map(|l| l.start_ms),
                now_ms,
                tz,
            );
            let failed = last.is_some_and(|l| l.status == OperationStatus::Error);
            let scheduled = plan.schedule.as_ref().is_some_and(|s| !s.is_disabled());
            let ok = !failed && !overdue;
            if (scheduled || only_plan.is_some()) && !ok {
                healthy = false;
            }
            let state = if failed {
                "failed"
            } else if overdue {
                "overdue"
            } else if last.is_none() {
                "never_run"
            } else {
                "ok"
            };
            let running = t.backup_running(&plan.repo, &plan.id);
            plans.push(PlanStatus {
                bytes_added: b.and_then(|b| b.bytes_from.map(|_| b.bytes_added)),
                healthy: ok,
                id: plan.id.clone(),
                last_run: last.map(|l| iso(l.end_ms)),
                last_status: last.map(|l| l.status.name()),
                last_success: last_success.map(|l| iso(l.end_ms)),
                next_run: t.next_run(&plan.repo, &plan.id).map(iso),
                overdue,
                repo: plan.repo.clone(),
                running,
                scheduled,
                snapshots: counts
                    .get(&(plan.repo.as_str(), plan.id.as_str()))
                    .copied()
                    .unwrap_or(0),
                state,
            });
        }
        let repos = only_plan.is_none().then(|| {
            config
                .repos
                .iter()
                .map(|r| {
                    let newest = |ty: &str| {
                        t.tasks
                            .iter()
                            .filter(|((repo, _, t), _)| repo == &r.id && *t == ty)
                            .filter_map(|(_, s)| s.last)
                            .max_by_key(|l| l.order)
                            .map(|l| TaskResult {
                                status: l.status.name(),
                                time: iso(l.end_ms),
                            })
                    };
                    RepoStatus {
                        id: r.id.clone(),
                        last_check: newest("check"),
                        last_prune: newest("prune"),
                        size_bytes: t.repo_size.get(&r.id).map(|(s, _)| *s),
                    }
                })
                .collect()
        });
        let status = Status {
            healthy,
            plans,
            repos,
            time: iso(now_ms),
        };
        Ok((if healthy { 200 } else { 503 }, status))
    }
}

/// GET /status's answer (see the README); members in alphabetical order.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub healthy: bool,
    pub plans: Vec<PlanStatus>,
    /// Left out for `?plan=ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repos: Option<Vec<RepoStatus>>,
    pub time: String,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct PlanStatus {
    pub bytes_added: Option<i64>,
    pub healthy: bool,
    pub id: String,
    pub last_run: Option<String>,
    pub last_status: Option<&'static str>,
    pub last_success: Option<String>,
    pub next_run: Option<String>,
    pub overdue: bool,
    pub repo: String,
    pub running: bool,
    pub scheduled: bool,
    pub snapshots: i64,
    pub state: &'static str,
}

#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct RepoStatus {
    pub id: String,
    pub last_check: Option<TaskResult>,
    pub last_prune: Option<TaskResult>,
    pub size_bytes: Option<i64>,
}

#[derive(Serialize, Debug)]
pub struct TaskResult {
    pub status: &'static str,
    pub time: String,
}

fn apply_queued(t: &mut Tracker, queued: &Mutex<Vec<Queued>>) {
    let events = std::mem::take(&mut *queued.lock().unwrap_or_else(|p| p.into_inner()));
    for q in &events {
        match q {
            Queued::Op(e) => t.apply(e),
            Queued::Deleted(id) => {
                t.in_flight.remove(id);
                t.snapshots.remove(*id);
            }
        }
    }
}

/// The start-up build: one index walk for counts, what runs and snapshots (aggregated per index
/// group, so nothing is allocated per operation), then a read of the newest finished operation
/// (and newest success) of each group and so of each task and repo.
fn load(t: &mut Tracker, oplog: &OpLog) {
    #[derive(Default)]
    struct Group {
        key: Option<(String, String, OpKind)>,
        runs: [u64; 3],
        newest: Option<(i64, i64)>,
        newest_success: Option<(i64, i64)>,
        first_start: Option<i64>,
        snapshots: Vec<i64>,
    }
    let mut groups: HashMap<u32, Group> = HashMap::new();
    oplog.walk_index(|e| {
        let k = e.key;
        t.loaded_max_id = t.loaded_max_id.max(e.id);
        let g = groups.entry(e.group).or_default();
        if g.key.is_none() {
            g.key = Some((k.repo_id.clone(), k.plan_id.clone(), k.kind));
        }
        if k.kind == OpKind::IndexSnapshot && !e.forgot {
            g.snapshots.push(e.id);
        }
        if !e.status.is_terminal() {
            t.in_flight.insert(
                e.id,
                Flight {
                    repo_id: k.repo_id.clone(),
                    plan_id: k.plan_id.clone(),
                    kind: k.kind,
                    status: e.status,
                    start_ms: e.start_ms,
                },
            );
            return;
        }
        if task_type(k.kind).is_none() {
            return;
        }
        let (label, _) = status_label(e.status);
        g.runs[LABELS.iter().position(|l| *l == label).unwrap_or(2)] += 1;
        let order = (e.start_ms, e.id);
        if g.newest.is_none_or(|n| order > n) {
            g.newest = Some(order);
        }
        if succeeded(e.status) && g.newest_success.is_none_or(|n| order > n) {
            g.newest_success = Some(order);
        }
        if k.kind == OpKind::Backup {
            g.first_start = Some(g.first_start.map_or(e.start_ms, |f| f.min(e.start_ms)));
        }
    });
    let mut ids: Vec<i64> = Vec::new();
    for g in groups.into_values() {
        let Some((repo, plan, kind)) = g.key else {
            continue;
        };
        for id in g.snapshots {
            t.snapshots.add(id, &repo, &plan);
        }
        if let Some(ty) = task_type(kind) {
            let st = t.tasks.entry((repo.clone(), plan.clone(), ty)).or_default();
            for (label, n) in LABELS.iter().zip(g.runs) {
                if n > 0 {
                    *st.runs.entry(label).or_default() += n;
                }
            }
        }
        if let Some(first) = g.first_start {
            let b = t.backups.entry((repo, plan)).or_default();
            b.first_start_ms = Some(b.first_start_ms.map_or(first, |f| f.min(first)));
        }
        ids.extend(g.newest.map(|n| n.1));
        ids.extend(
            g.newest_success
                .filter(|s| Some(*s) != g.newest)
                .map(|s| s.1),
        );
    }
    for op in oplog.get_many(&ids) {
        t.note_latest(&Event::of(&op, false));
    }
}

/// The `status` labels, in `status_label`'s order.
const LABELS: [&str; 3] = ["success", "failed", "cancelled"];

/// Index-snapshot operations not forgotten, and their count per (repo id, plan id), kept as
/// they change (a scrape reads the counts, never the operations).
#[derive(Default)]
struct Snapshots {
    keys: Vec<(String, String)>,
    key_of: HashMap<(String, String), u32>,
    of: HashMap<i64, u32>,
    counts: Vec<i64>,
}

impl Snapshots {
    fn add(&mut self, id: i64, repo: &str, plan: &str) {
        if self.of.contains_key(&id) {
            return;
        }
        let key = (repo.to_string(), plan.to_string());
        let n = match self.key_of.get(&key) {
            Some(n) => *n,
            None => {
                let n = self.keys.len() as u32;
                self.keys.push(key.clone());
                self.key_of.insert(key, n);
                self.counts.push(0);
                n
            }
        };
        self.of.insert(id, n);
        self.counts[n as usize] += 1;
    }

    fn remove(&mut self, id: i64) {
        if let Some(n) = self.of.remove(&id) {
            self.counts[n as usize] -= 1;
        }
    }

    /// (repo id, plan id) → snapshots, for those that have any.
    fn counts(&self) -> BTreeMap<(&str, &str), i64> {
        self.keys
            .iter()
            .zip(&self.counts)
            .filter(|(_, n)| **n > 0)
            .map(|((r, p), n)| ((r.as_str(), p.as_str()), *n))
            .collect()
    }
}

fn iso(ms: i64) -> String {
    Timestamp::from_millisecond(ms).map_or_else(|_| ms.to_string(), |t| t.to_string())
}

#[cfg(test)]
mod tests;
