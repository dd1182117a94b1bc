//! The scheduler: turns every plan's and repo's schedule into queued tasks on time.
//!
//! Each scheduled task is visible in the history as a PENDING operation whose start time is
//! its next run. The scheduler thread sleeps until the next due time, a config change, a task
//! finishing (LAST_RUN_TIME schedules count from its end), or a minute passing — then checks
//! whether the wall clock jumped (NTP setting the clock of a board without RTC) and reschedules
//! everything if it moved by more than 30 s against the monotonic clock.
//!
//! The logic (`Planner`) takes `now` as a parameter and is tested without sleeping.

use super::{Orchestrator, Task};
use crate::config::{Config, Schedule as ScheduleConfig};
use crate::model::{OpKind, OpSelector, OperationStatus};
use crate::oplog::OpLog;
use crate::schedule::{Clock, Schedule, TimeZone, Timestamp};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How far the wall clock may move against the monotonic clock before everything is
/// rescheduled (docs/COMPATIBILITY.md §7).
const CLOCK_JUMP: Duration = Duration::from_secs(30);
/// The scheduler looks at the clock at least this often.
const TICK: Duration = Duration::from_secs(60);
/// History garbage collection runs at startup and this often.
const HOUSEKEEPING: Duration = Duration::from_secs(24 * 3600);

/// Bounds the history (docs/COMPATIBILITY.md §6) and removes the task logs of what went, and logs
/// older than 14 days that no operation owns any more.
pub fn housekeeping(oplog: &OpLog, logs: &crate::logstore::LogStore, now_ms: i64) {
    match oplog.gc(now_ms) {
        Ok(report) => {
            for r in &report.logrefs {
                logs.remove(r);
            }
            if report.deleted > 0 {
                log::info!(
                    "history: removed {} old operations, {} kept",
                    report.deleted,
                    report.kept
                );
            }
        }
        Err(e) => log::warn!("history garbage collection: {e}"),
    }
    // A log is kept while any operation names it: backups' logs are named after their
    // operation, but hook, command and restore logs are not, so the history is walked for the
    // refs it holds (only when some log is old enough to go).
    let stale: std::collections::HashSet<String> = logs
        .stale(crate::logstore::LOG_MAX_AGE)
        .into_iter()
        .collect();
    if stale.is_empty() {
        return;
    }
    let mut referenced = std::collections::HashSet::new();
    oplog.for_each(|op| {
        for r in op.logrefs() {
            if stale.contains(r) {
                referenced.insert(r.to_string());
            }
        }
    });
    let owned = |logref: &str| {
        referenced.contains(logref)
            || crate::logstore::LogStore::owner(logref)
                .is_some_and(|id| matches!(oplog.get(id), Ok(Some(_))))
    };
    let removed = logs.expire(&owned, crate::logstore::LOG_MAX_AGE);
    if removed > 0 {
        log::info!("task logs: removed {removed} expired logs");
    }
}

/// What is scheduled: a plan's backup or a repo's prune, check or forget.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Key {
    Backup(String),
    Prune(String),
    Check(String),
    Forget(String),
}

impl Key {
    fn task(&self) -> Task {
        match self {
            Key::Backup(p) => Task::Backup {
                plan_id: p.clone(),
                dry_run: false,
            },
            Key::Prune(r) => Task::Prune { repo_id: r.clone() },
            Key::Check(r) => Task::Check { repo_id: r.clone() },
            Key::Forget(r) => Task::Forget {
                repo_id: r.clone(),
                plan_id: None,
                snapshot_id: None,
            },
        }
    }

    fn of_task(task: &Task) -> Option<Key> {
        match task {
            Task::Backup {
                plan_id,
                dry_run: false,
            } => Some(Key::Backup(plan_id.clone())),
            Task::Prune { repo_id } => Some(Key::Prune(repo_id.clone())),
            Task::Check { repo_id } => Some(Key::Check(repo_id.clone())),
            Task::Forget {
                repo_id,
                plan_id: None,
                snapshot_id: None,
            } => Some(Key::Forget(repo_id.clone())),
            _ => None,
        }
    }
}

/// Every enabled schedule in the config.
pub fn schedules(config: &Config) -> Vec<(Key, ScheduleConfig)> {
    let mut out = Vec::new();
    let enabled = |s: &Option<ScheduleConfig>| s.as_ref().filter(|s| !s.is_disabled()).cloned();
    for plan in &config.plans {
        if let Some(s) = enabled(&plan.schedule) {
            out.push((Key::Backup(plan.id.clone()), s));
        }
    }
    for repo in &config.repos {
        if let Some(s) = enabled(&repo.prune_policy.as_ref().and_then(|p| p.schedule.clone())) {
            out.push((Key::Prune(repo.id.clone()), s));
        }
        if let Some(s) = enabled(&repo.check_policy.as_ref().and_then(|p| p.schedule.clone())) {
            out.push((Key::Check(repo.id.clone()), s));
        }
        let forget = repo.forget_policy.as_ref();
        let forgets_something = forget
            .and_then(|f| f.retention.as_ref())
            .and_then(|r| r.forget_flags())
            .is_some();
        if forgets_something && let Some(s) = enabled(&forget.and_then(|f| f.schedule.clone())) {
            out.push((Key::Forget(repo.id.clone()), s));
        }
    }
    out
}

#[derive(Debug)]
struct Entry {
    spec: ScheduleConfig,
    /// The PENDING operation showing the next run (0: none).
    op_id: i64,
    due: Option<Timestamp>,
    /// Queued or running: not scheduled again until it has finished.
    in_flight: bool,
}

/// The scheduler's state and logic, without threads or clocks.
pub struct Planner {
    entries: HashMap<Key, Entry>,
    tz: TimeZone,
}

impl Planner {
    pub fn new(tz: TimeZone) -> Planner {
        Planner {
            entries: HashMap::new(),
            tz,
        }
    }

    /// Brings the entries in line with the config: new schedules get a due time and a PENDING
    /// operation, changed ones are recomputed, removed ones lose their operation.
    pub fn reconcile(&mut self, config: &Config, oplog: &OpLog, now: Timestamp) {
        let wanted: HashMap<Key, ScheduleConfig> = schedules(config).into_iter().collect();
        let gone: Vec<Key> = self
            .entries
            .keys()
            .filter(|k| !wanted.contains_key(*k))
            .cloned()
            .collect();
        for key in gone {
            if let Some(e) = self.entries.get(&key)
                && !e.in_flight
            {
                delete_pending(oplog, e.op_id);
                self.entries.remove(&key);
            }
        }
        for (key, spec) in wanted {
            let stale = match self.entries.get(&key) {
                None => true,
                Some(e) => !e.in_flight && e.spec != spec,
            };
            if stale {
                let op_id = self.entries.get(&key).map_or(0, |e| e.op_id);
                self.entries.insert(
                    key.clone(),
                    Entry {
                        spec,
                        op_id,
                        due: None,
                        in_flight: false,
                    },
                );
                self.recompute(&key, config, oplog, now);
            }
        }
    }

    /// Computes an entry's next run and shows it as a PENDING operation.
    fn recompute(&mut self, key: &Key, config: &Config, oplog: &OpLog, now: Timestamp) {
        let Some(entry) = self.entries.get_mut(key) else {
            return;
        };
        let due = match entry.spec.parse() {
            Ok((schedule, clock)) => {
                let last = match clock {
                    Clock::LastRunTime => last_run_end(config, oplog, key),
                    _ => None,
                };
                next_run(&schedule, clock, now, last, &self.tz)
            }
            Err(e) => {
                log::warn!("{key:?}: {e}");
                None
            }
        };
        entry.due = due;
        let Some(due) = due else {
            delete_pending(oplog, entry.op_id);
            entry.op_id = 0;
            return;
        };
        let start_ms = due.as_millisecond();
        if entry.op_id != 0
            && let Ok(Some(mut op)) = oplog.get(entry.op_id)
            && op.status == OperationStatus::Pending
        {
            if op.unix_time_start_ms != start_ms {
                op.unix_time_start_ms = start_ms;
                if let Err(e) = oplog.update(&mut op) {
                    log::warn!("{key:?}: updating the scheduled operation: {e}");
                }
            }
            return;
        }
        match key.task().pending_operation(config, start_ms) {
            Ok(Some(mut op)) => {
                op.display_message = "scheduled".into();
                match oplog.add(&mut op) {
                    Ok(()) => entry.op_id = op.id,
                    Err(e) => {
                        log::warn!("{key:?}: recording the scheduled operation: {e}");
                        entry.op_id = 0;
                    }
                }
            }
            Ok(None) => entry.op_id = 0,
            Err(e) => {
                log::warn!("{key:?}: {e}");
                entry.due = None;
            }
        }
    }

    /// The tasks due at `now`, marked in flight; each with its PENDING operation id. Highest
    /// priority first, so that the worker, which may start the first one before the rest are
    /// queued, still runs them in priority order.
    pub fn take_due(&mut self, now: Timestamp) -> Vec<(Key, i64)> {
        let mut due: Vec<(std::cmp::Reverse<u8>, Timestamp, Key, i64)> = Vec::new();
        for (key, e) in self.entries.iter_mut() {
            if !e.in_flight && e.due.is_some_and(|d| d <= now) {
                e.in_flight = true;
                let priority = std::cmp::Reverse(key.task().priority());
                due.push((priority, e.due.unwrap_or(now), key.clone(), e.op_id));
            }
        }
        due.sort();
        due.into_iter().map(|(_, _, k, id)| (k, id)).collect()
    }

    /// A task has run (or could not be queued): schedule its next run.
    pub fn finished(&mut self, key: &Key, config: &Config, oplog: &OpLog, now: Timestamp) {
        if let Some(e) = self.entries.get_mut(key)
            && e.in_flight
        {
            // The scheduled run used up its PENDING operation. (A run asked for through the
            // API leaves the scheduled one in place; it is only moved, for LAST_RUN_TIME.)
            e.in_flight = false;
            e.op_id = 0;
        }
        // The config may have changed while the task ran.
        self.reconcile(config, oplog, now);
        if self.entries.contains_key(key) {
            self.recompute(key, config, oplog, now);
        }
    }

    /// Recomputes every entry that is not running (after a wall-clock jump).
    pub fn recompute_all(&mut self, config: &Config, oplog: &OpLog, now: Timestamp) {
        let keys: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| !e.in_flight)
            .map(|(k, _)| k.clone())
            .collect();
        for k in keys {
            self.recompute(&k, config, oplog, now);
        }
    }

    /// The earliest due time of an entry that is not running.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.entries
            .values()
            .filter(|e| !e.in_flight)
            .filter_map(|e| e.due)
            .min()
    }

    /// The next run of a key, for the dashboard and tests.
    pub fn due(&self, key: &Key) -> Option<Timestamp> {
        self.entries.get(key).and_then(|e| e.due)
    }
}

fn next_run(
    schedule: &Schedule,
    clock: Clock,
    now: Timestamp,
    last: Option<Timestamp>,
    tz: &TimeZone,
) -> Option<Timestamp> {
    schedule.next_run(clock, now, last, tz)
}

fn delete_pending(oplog: &OpLog, op_id: i64) {
    if op_id == 0 {
        return;
    }
    if let Ok(Some(op)) = oplog.get(op_id)
        && op.status == OperationStatus::Pending
        && let Err(e) = oplog.delete(&[op_id])
    {
        log::warn!("deleting scheduled operation {op_id}: {e}");
    }
}

/// The end of the last completed run of a scheduled task (dry runs do not count). Tasks run
/// one at a time, so the newest start is the newest end: the index picks the candidates and
/// only the newest are read (until one is not a dry run), however long the history.
fn last_run_end(config: &Config, oplog: &OpLog, key: &Key) -> Option<Timestamp> {
    let (kind, plan, guid) = match key {
        Key::Backup(p) => (OpKind::Backup, Some(p.as_str()), None),
        Key::Prune(r) | Key::Check(r) | Key::Forget(r) => {
            let guid = config.repo(r)?.guid.clone();
            let kind = match key {
                Key::Prune(_) => OpKind::Prune,
                Key::Check(_) => OpKind::Check,
                _ => OpKind::Forget,
            };
            // A scheduled forget is the repo's, not a plan's retention after a backup.
            (
                kind,
                matches!(key, Key::Forget(_)).then_some(""),
                Some(guid),
            )
        }
    };
    let sel = OpSelector {
        kind: Some(kind),
        plan_id: plan.map(str::to_string),
        repo_guid: guid,
        ..Default::default()
    };
    let mut candidates: Vec<(i64, i64)> = Vec::new();
    oplog.walk_selected(&sel, |e| {
        if e.status.is_terminal() {
            candidates.push((e.start_ms, e.id));
        }
    });
    candidates.sort_unstable();
    candidates
        .iter()
        .rev()
        .filter_map(|(_, id)| oplog.get(*id).ok().flatten())
        .find(|o| !o.operation_backup.as_ref().is_some_and(|b| b.dry_run))
        .and_then(|o| Timestamp::from_millisecond(o.unix_time_end_ms).ok())
}

/// The scheduler thread's handle.
pub struct SchedulerThread {
    stop: crossbeam_channel::Sender<()>,
    handle: std::thread::JoinHandle<()>,
}

impl SchedulerThread {
    pub fn stop(self) {
        let _ = self.stop.send(());
        if self.handle.join().is_err() {
            log::error!("the scheduler thread panicked");
        }
    }
}

/// The wall clock the scheduler plans by: the system's, or one a test sets.
pub trait WallClock: Send + 'static {
    fn now(&self) -> Timestamp;

    /// Fires when the clock is set other than by time passing (a test moving its clock), so
    /// that the scheduler looks again at once. The system clock never fires: its jumps are
    /// found by comparing it with the monotonic clock.
    fn moved(&self) -> crossbeam_channel::Receiver<()> {
        crossbeam_channel::never()
    }
}

/// The system's wall clock.
pub struct SystemClock;

impl WallClock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Starts the scheduler thread on the system clock.
pub fn start(orch: Arc<Orchestrator>, tz: TimeZone) -> std::io::Result<SchedulerThread> {
    start_with_clock(orch, tz, Box::new(SystemClock))
}

/// Starts the scheduler thread on `clock`.
pub fn start_with_clock(
    orch: Arc<Orchestrator>,
    tz: TimeZone,
    clock: Box<dyn WallClock>,
) -> std::io::Result<SchedulerThread> {
    let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(1);
    let config_rx = orch.env.config.subscribe();
    let done_rx = orch.subscribe_done();
    let handle = std::thread::Builder::new()
        .name("scheduler".into())
        .spawn(move || {
            let oplog = Arc::clone(&orch.env.oplog);
            let mut planner = Planner::new(tz);
            housekeeping(&oplog, &orch.env.logs, crate::util::now_ms());
            let mut next_housekeeping = Instant::now() + HOUSEKEEPING;
            planner.reconcile(&orch.env.config.get(), &oplog, clock.now());
            let moved = clock.moved();
            let mut mono = Instant::now();
            let mut wall = clock.now();
            loop {
                for (key, op_id) in planner.take_due(clock.now()) {
                    let task = key.task();
                    let op = (op_id != 0).then_some(op_id);
                    log::info!("running scheduled {key:?}");
                    if let Err(e) = orch.enqueue(task.clone(), task.priority(), op, None) {
                        log::warn!("{key:?}: could not queue the scheduled task: {e}");
                        planner.finished(&key, &orch.env.config.get(), &oplog, clock.now());
                    }
                }
                let wait = planner
                    .next_due()
                    .map(|d| {
                        let ms = d.as_millisecond() - clock.now().as_millisecond();
                        Duration::from_millis(ms.max(0) as u64)
                    })
                    .unwrap_or(TICK)
                    .min(TICK);
                crossbeam_channel::select! {
                    recv(stop_rx) -> _ => return,
                    recv(config_rx) -> msg => {
                        if msg.is_err() { return; }
                        planner.reconcile(&orch.env.config.get(), &oplog, clock.now());
                    }
                    recv(done_rx) -> task => {
                        let Ok(task) = task else { return };
                        if let Some(key) = Key::of_task(&task) {
                            planner.finished(&key, &orch.env.config.get(), &oplog, clock.now());
                        }
                    }
                    recv(moved) -> _ => {}
                    default(wait) => {}
                }
                let mono_now = Instant::now();
                let mono_elapsed = mono_now.duration_since(mono);
                let now = clock.now();
                let went_back = now < wall;
                let wall_elapsed = Duration::from_millis(
                    (now.as_millisecond() - wall.as_millisecond()).max(0) as u64,
                );
                let drift = mono_elapsed.abs_diff(wall_elapsed);
                if drift > CLOCK_JUMP || went_back {
                    log::warn!("the wall clock jumped; rescheduling everything");
                    planner.recompute_all(&orch.env.config.get(), &oplog, now);
                }
                mono = mono_now;
                wall = now;
                if mono >= next_housekeeping {
                    housekeeping(&oplog, &orch.env.logs, crate::util::now_ms());
                    next_housekeeping = Instant::now() + HOUSEKEEPING;
                }
            }
        })?;
    Ok(SchedulerThread {
        stop: stop_tx,
        handle,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Plan, Repo};
    use crate::model::OpSelector;

    fn oplog() -> (OpLog, std::path::PathBuf) {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "footrest-sched-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        (OpLog::open(&dir).unwrap(), dir)
    }

    #[test]
    fn the_last_run_is_the_newest_finished_run_that_was_not_a_dry_run() {
        use crate::model::{Operation, OperationBackup, OperationPrune};
        let (log, dir) = oplog();
        let config: Config = serde_json::from_value(serde_json::json!({
            "instance": "i",
            "repos": [{"id": "r", "uri": "/x", "guid": "g".repeat(64)}],
            "plans": [{"id": "p", "repo": "r", "paths": ["/x"]}],
        }))
        .unwrap();
        let backup = |plan: &str, start: i64, status, dry_run| Operation {
            plan_id: plan.into(),
            repo_id: "r".into(),
            repo_guid: "g".repeat(64),
            status,
            unix_time_start_ms: start,
            unix_time_end_ms: start + 10,
            operation_backup: Some(OperationBackup {
                dry_run,
                ..Default::default()
            }),
            ..Default::default()
        };
        use OperationStatus::{Error, InProgress, Success};
        for mut op in [
            backup("p", 1_000, Success, false),
            backup("p", 2_000, Error, false), // failed runs count: they ran
            backup("p", 3_000, Success, true), // a dry run does not
            backup("p", 4_000, InProgress, false), // not finished
            backup("other", 5_000, Success, false),
        ] {
            log.add(&mut op).unwrap();
        }
        let key = Key::Backup("p".into());
        assert_eq!(
            last_run_end(&config, &log, &key).map(|t| t.as_millisecond()),
            Some(2_010)
        );
        assert_eq!(last_run_end(&config, &log, &Key::Prune("r".into())), None);
        let mut prune = Operation {
            repo_id: "r".into(),
            repo_guid: "g".repeat(64),
            status: Success,
            unix_time_start_ms: 6_000,
            unix_time_end_ms: 6_500,
            operation_prune: Some(OperationPrune::default()),
            ..Default::default()
        };
        log.add(&mut prune).unwrap();
        assert_eq!(
            last_run_end(&config, &log, &Key::Prune("r".into())).map(|t| t.as_millisecond()),
            Some(6_500)
        );
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The lookup walks only the plan's backups on the index and reads the newest of them.
    #[test]
    fn the_last_run_lookup_reads_one_line_however_long_the_history() {
        use crate::model::{Operation, OperationBackup, OperationRunHook};
        let (log, dir) = oplog();
        let config: Config = serde_json::from_value(serde_json::json!({
            "instance": "i",
            "repos": [{"id": "r", "uri": "/x"}],
            "plans": [{"id": "p", "repo": "r", "paths": ["/x"]}],
        }))
        .unwrap();
        for i in 0..3000 {
            let mut op = Operation {
                plan_id: if i % 3 == 0 { "p" } else { "other" }.into(),
                repo_id: "r".into(),
                status: OperationStatus::Success,
                unix_time_start_ms: i,
                unix_time_end_ms: i + 1,
                ..Default::default()
            };
            if i % 2 == 0 {
                op.operation_backup = Some(OperationBackup::default());
            } else {
                op.operation_run_hook = Some(OperationRunHook::default());
            }
            log.add(&mut op).unwrap();
        }
        let before = log.stats().lines_read;
        let end = last_run_end(&config, &log, &Key::Backup("p".into()));
        assert_eq!(end.map(|t| t.as_millisecond()), Some(2995));
        assert_eq!(log.stats().lines_read - before, 1);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn housekeeping_keeps_hook_command_and_restore_logs_of_kept_operations_and_removes_orphans() {
        use crate::model::{Operation, OperationRestore, OperationRunCommand, OperationRunHook};
        let (log, dir) = oplog();
        let logs = crate::logstore::LogStore::open(&dir.join("tasklogs")).unwrap();
        let make = |name: &str| {
            let mut w = logs.create(name, 1 << 16).unwrap();
            w.line(&format!("{name} output"));
            let r = w.logref().to_string();
            w.finish().unwrap();
            r
        };
        let (hook, command, restore, orphan) =
            (make("hook"), make("command"), make("restore"), make("hook"));
        let now = crate::util::now_ms();
        let base = Operation {
            repo_id: "r".into(),
            instance_id: "host".into(),
            status: OperationStatus::Success,
            unix_time_start_ms: now,
            ..Default::default()
        };
        let ops = [
            Operation {
                logref: hook.clone(),
                operation_run_hook: Some(OperationRunHook::default()),
                ..base.clone()
            },
            Operation {
                operation_run_command: Some(OperationRunCommand {
                    output_logref: command.clone(),
                    ..Default::default()
                }),
                ..base.clone()
            },
            Operation {
                logref: restore.clone(),
                operation_restore: Some(OperationRestore::default()),
                ..base.clone()
            },
        ];
        for mut op in ops {
            log.add(&mut op).unwrap();
        }
        // Every log is past the age at which an unowned one goes.
        let month_ago = std::time::SystemTime::now() - Duration::from_secs(30 * 24 * 3600);
        for r in [&hook, &command, &restore, &orphan] {
            let f = std::fs::File::options()
                .write(true)
                .open(logs.path(r).unwrap())
                .unwrap();
            f.set_modified(month_ago).unwrap();
        }
        housekeeping(&log, &logs, now);
        for r in [&hook, &command, &restore] {
            assert!(
                logs.read(r).is_some(),
                "log {r} of a kept operation was removed"
            );
        }
        assert!(logs.read(&orphan).is_none(), "orphan log {orphan} kept");
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn config(schedule: ScheduleConfig) -> Config {
        Config {
            instance: "host".into(),
            repos: vec![Repo {
                id: "r".into(),
                uri: "/r".into(),
                guid: "a".repeat(64),
                ..Default::default()
            }],
            plans: vec![Plan {
                id: "p".into(),
                repo: "r".into(),
                paths: vec!["/".into()],
                schedule: Some(schedule),
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn hours(n: i32) -> ScheduleConfig {
        ScheduleConfig {
            max_frequency_hours: Some(n),
            ..Default::default()
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_scheduled_backup_shows_as_a_pending_operation_at_its_next_run() {
        let (log, dir) = oplog();
        let mut p = Planner::new(TimeZone::UTC);
        let now = ts("2026-01-01T00:00:00Z");
        p.reconcile(&config(hours(6)), &log, now);
        let due = p.due(&Key::Backup("p".into())).unwrap();
        assert_eq!(due, ts("2026-01-01T06:00:00Z"));
        let ops = log.query(&OpSelector::default(), 0).unwrap();
        assert_eq!(ops.len(), 1);
        assert_eq!(ops[0].status, OperationStatus::Pending);
        assert_eq!(ops[0].unix_time_start_ms, due.as_millisecond());
        assert!(ops[0].operation_backup.is_some());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn an_unchanged_config_keeps_the_due_time_a_changed_one_reschedules() {
        let (log, dir) = oplog();
        let mut p = Planner::new(TimeZone::UTC);
        let t0 = ts("2026-01-01T00:00:00Z");
        p.reconcile(&config(hours(6)), &log, t0);
        p.reconcile(&config(hours(6)), &log, ts("2026-01-01T05:00:00Z"));
        assert_eq!(
            p.due(&Key::Backup("p".into())),
            Some(ts("2026-01-01T06:00:00Z"))
        );
        p.reconcile(&config(hours(2)), &log, ts("2026-01-01T05:00:00Z"));
        assert_eq!(
            p.due(&Key::Backup("p".into())),
            Some(ts("2026-01-01T07:00:00Z"))
        );
        assert_eq!(
            log.query(&OpSelector::default(), 0).unwrap().len(),
            1,
            "one PENDING op, moved"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_removed_schedule_drops_its_pending_operation() {
        let (log, dir) = oplog();
        let mut p = Planner::new(TimeZone::UTC);
        let now = ts("2026-01-01T00:00:00Z");
        p.reconcile(&config(hours(6)), &log, now);
        let disabled = ScheduleConfig {
            disabled: Some(true),
            ..Default::default()
        };
        p.reconcile(&config(disabled), &log, now);
        assert!(log.query(&OpSelector::default(), 0).unwrap().is_empty());
        assert_eq!(p.next_due(), None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn due_tasks_are_taken_once_and_rescheduled_after_they_finish() {
        let (log, dir) = oplog();
        let mut p = Planner::new(TimeZone::UTC);
        let cron = ScheduleConfig {
            cron: Some("0 * * * *".into()),
            clock: crate::config::Clock::Utc,
            ..Default::default()
        };
        let c = config(cron);
        p.reconcile(&c, &log, ts("2026-01-01T00:30:00Z"));
        assert!(p.take_due(ts("2026-01-01T00:59:59Z")).is_empty());
        let due = p.take_due(ts("2026-01-01T01:00:00Z"));
        assert_eq!(due.len(), 1);
        assert!(due[0].1 > 0, "the PENDING op goes with the task");
        assert!(
            p.take_due(ts("2026-01-01T01:00:30Z")).is_empty(),
            "in flight: not twice"
        );
        p.finished(&due[0].0, &c, &log, ts("2026-01-01T01:05:00Z"));
        assert_eq!(
            p.due(&Key::Backup("p".into())),
            Some(ts("2026-01-01T02:00:00Z"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_run_asked_for_by_a_user_keeps_the_one_scheduled_pending_operation() {
        let (log, dir) = oplog();
        let mut p = Planner::new(TimeZone::UTC);
        let c = config(hours(6));
        p.reconcile(&c, &log, ts("2026-01-01T00:00:00Z"));
        p.finished(
            &Key::Backup("p".into()),
            &c,
            &log,
            ts("2026-01-01T01:00:00Z"),
        );
        p.finished(
            &Key::Backup("p".into()),
            &c,
            &log,
            ts("2026-01-01T02:00:00Z"),
        );
        let pending: Vec<_> = log
            .query(&OpSelector::default(), 0)
            .unwrap()
            .into_iter()
            .filter(|o| o.status == OperationStatus::Pending)
            .collect();
        assert_eq!(pending.len(), 1, "{pending:?}");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn last_run_time_counts_from_the_end_of_the_last_real_run() {
        let (log, dir) = oplog();
        let mut done = crate::model::Operation {
            plan_id: "p".into(),
            repo_id: "r".into(),
            status: OperationStatus::Success,
            unix_time_start_ms: ts("2026-01-01T00:00:00Z").as_millisecond(),
            unix_time_end_ms: ts("2026-01-01T00:10:00Z").as_millisecond(),
            operation_backup: Some(Default::default()),
            ..Default::default()
        };
        log.add(&mut done).unwrap();
        let mut dry = done.clone();
        dry.id = 0;
        dry.unix_time_end_ms = ts("2026-01-01T03:00:00Z").as_millisecond();
        dry.operation_backup = Some(crate::model::OperationBackup {
            dry_run: true,
            ..Default::default()
        });
        log.add(&mut dry).unwrap();
        let mut p = Planner::new(TimeZone::UTC);
        let mut s = hours(6);
        s.clock = crate::config::Clock::LastRunTime;
        p.reconcile(&config(s), &log, ts("2026-01-01T04:00:00Z"));
        assert_eq!(
            p.due(&Key::Backup("p".into())),
            Some(ts("2026-01-01T06:10:00Z"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn repo_policies_are_scheduled_with_their_own_keys() {
        let mut c = config(hours(1));
        c.repos[0].prune_policy = Some(crate::config::PrunePolicy {
            schedule: Some(hours(24)),
            ..Default::default()
        });
        c.repos[0].check_policy = Some(crate::config::CheckPolicy {
            schedule: Some(hours(48)),
            ..Default::default()
        });
        c.repos[0].forget_policy = Some(crate::config::ForgetPolicy {
            schedule: Some(hours(12)),
            retention: None,
        });
        let keys: Vec<Key> = schedules(&c).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            keys,
            vec![
                Key::Backup("p".into()),
                Key::Prune("r".into()),
                Key::Check("r".into())
            ],
            "a forget schedule without a retention that forgets anything is not scheduled"
        );
    }
}
