//! GetSummaryDashboard: per repo and per plan, the last 30 days of backups at a glance, computed
//! from the operation history alone (no restic run).
//!
//! Definitions (README "Summary dashboard" says the same for users):
//! - Counted backups are backup operations that are not dry runs and started in the last 30 days:
//!   SUCCESS, WARNING and ERROR are counted as such; cancelled ones are not counted.
//! - Bytes scanned / added are the restic summary's `totalBytesProcessed` / `dataAdded` of those
//!   backups; the averages are over the backups that have a summary.
//! - `totalSnapshots`: index-snapshot operations not marked forgotten.
//! - `nextBackupTimeMs`: the start time of the PENDING (scheduled) backup of the plan; for a
//!   repo, the earliest among its plans.
//! - `recentBackups`: the newest 60 counted or running backups, oldest first.
//! - `historyLast30days`: one bucket per local calendar day, oldest first.
//! - A day is `overdue` for a plan when its schedule expected a backup by the end of that day
//!   (by now, for today) and no backup of the plan succeeded (SUCCESS or WARNING) that day:
//!   for a cron schedule, the expression matched a time on that day; for a frequency of N
//!   hours or days, the last successful backup (or the plan's first backup when none
//!   succeeded) was more than N hours or days before the end of the day. Days before the plan's
//!   first backup in the history, and plans without a schedule, are never overdue. A repo's
//!   day is overdue when one of its plans' is.
//!
//! Runs on a handler thread; `summarize` is pure (time and zone are passed in).

use crate::config::{Config, Plan};
use crate::model::{OpKind, Operation, OperationStatus};
use crate::oplog::OpLog;
use crate::proto::{i64s, is_default, vec_i64s};
use crate::schedule::{Schedule, TimeZone, Timestamp};
use serde::Serialize;
use std::collections::HashMap;

const DAY_MS: i64 = 24 * 3600 * 1000;
/// How far back the dashboard looks.
pub const DAYS: usize = 30;
/// Backups in `recentBackups`.
pub const RECENT: usize = 60;

#[derive(Serialize, Default, Debug)]
#[serde(rename_all = "camelCase")]
pub struct SummaryDashboardResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repo_summaries: Vec<Summary>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan_summaries: Vec<Summary>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub config_path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub data_path: String,
}

#[derive(Serialize, Default, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub backups_failed_30days: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub backups_warning_last_30days: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub backups_success_last_30days: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub bytes_scanned_last_30days: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub bytes_added_last_30days: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub total_snapshots: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub bytes_scanned_avg: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub bytes_added_avg: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub next_backup_time_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recent_backups: Option<BackupChart>,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub protected_bytes: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub history_last_30days: Vec<DayBucket>,
}

#[derive(Serialize, Default, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct BackupChart {
    #[serde(with = "vec_i64s", skip_serializing_if = "Vec::is_empty")]
    pub flow_id: Vec<i64>,
    #[serde(with = "vec_i64s", skip_serializing_if = "Vec::is_empty")]
    pub timestamp_ms: Vec<i64>,
    #[serde(with = "vec_i64s", skip_serializing_if = "Vec::is_empty")]
    pub duration_ms: Vec<i64>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<OperationStatus>,
    #[serde(with = "vec_i64s", skip_serializing_if = "Vec::is_empty")]
    pub bytes_added: Vec<i64>,
}

#[derive(Serialize, Default, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DayBucket {
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub timestamp_ms: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub bytes_added: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub bytes_scanned: i64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status_counts: Vec<StatusCount>,
    #[serde(skip_serializing_if = "is_default")]
    pub overdue: bool,
}

#[derive(Serialize, Default, Debug, Clone, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct StatusCount {
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub count: i64,
    #[serde(skip_serializing_if = "is_default")]
    pub status: OperationStatus,
}

/// Local midnights: `DAYS + 1` boundaries, the last one the end of today.
fn day_bounds(now_ms: i64, tz: &TimeZone) -> Vec<i64> {
    let fallback = || {
        let today = now_ms - now_ms.rem_euclid(DAY_MS);
        (0..=DAYS as i64)
            .map(|i| today + (i + 1 - DAYS as i64) * DAY_MS)
            .collect()
    };
    let Ok(now) = Timestamp::from_millisecond(now_ms) else {
        return fallback();
    };
    let Ok(today) = now.to_zoned_datetime(tz.clone()).start_of_day() else {
        return fallback();
    };
    let mut bounds = Vec::with_capacity(DAYS + 1);
    for i in 0..=DAYS as i64 {
        let offset = i + 1 - DAYS as i64;
        match today
            .checked_add(jiff::Span::new().days(offset))
            .and_then(|z| z.start_of_day())
        {
            Ok(z) => bounds.push(z.timestamp().as_millisecond()),
            Err(_) => return fallback(),
        }
    }
    bounds
}

fn is_counted_backup(op: &Operation) -> bool {
    op.kind() == OpKind::Backup && !op.operation_backup.as_ref().is_some_and(|b| b.dry_run)
}

fn succeeded(op: &Operation) -> bool {
    matches!(
        op.status,
        OperationStatus::Success | OperationStatus::Warning
    )
}

/// (bytes scanned, bytes added) of a finished backup, when restic reported them.
fn bytes_of(op: &Operation) -> Option<(i64, i64)> {
    let s = op
        .operation_backup
        .as_ref()?
        .last_status
        .as_ref()?
        .summary
        .as_ref()?;
    Some((s.total_bytes_processed, s.data_added))
}

/// Summary over `ops` (already filtered to one repo or plan). `overdue[i]` marks day i.
fn summary_of(
    id: &str,
    ops: &[&Operation],
    now_ms: i64,
    bounds: &[i64],
    overdue: &[bool],
) -> Summary {
    let since = bounds[0];
    let mut s = Summary {
        id: id.to_string(),
        ..Default::default()
    };
    let mut days: Vec<DayBucket> = bounds[..DAYS]
        .iter()
        .enumerate()
        .map(|(i, t)| DayBucket {
            timestamp_ms: *t,
            overdue: overdue.get(i).copied().unwrap_or(false),
            ..Default::default()
        })
        .collect();
    let mut day_counts: Vec<Vec<(OperationStatus, i64)>> = vec![Vec::new(); DAYS];
    let (mut with_bytes, mut scanned, mut added) = (0i64, 0i64, 0i64);
    let mut recent: Vec<&Operation> = Vec::new();
    for op in ops {
        match op.kind() {
            // Snapshots are counted from the index (see `gather`).
            OpKind::IndexSnapshot | OpKind::Stats => continue,
            _ if !is_counted_backup(op) => continue,
            _ => {}
        }
        if op.status == OperationStatus::Pending {
            if s.next_backup_time_ms == 0 || op.unix_time_start_ms < s.next_backup_time_ms {
                s.next_backup_time_ms = op.unix_time_start_ms;
            }
            continue;
        }
        if op.unix_time_start_ms < since || op.unix_time_start_ms >= bounds[DAYS] {
            continue;
        }
        match op.status {
            OperationStatus::Success => s.backups_success_last_30days += 1,
            OperationStatus::Warning => s.backups_warning_last_30days += 1,
            OperationStatus::Error => s.backups_failed_30days += 1,
            OperationStatus::InProgress => {
                recent.push(op);
                continue;
            }
            _ => continue,
        }
        recent.push(op);
        let day = bounds[..DAYS]
            .iter()
            .rposition(|b| *b <= op.unix_time_start_ms)
            .unwrap_or(0);
        match day_counts[day].iter_mut().find(|(st, _)| *st == op.status) {
            Some((_, n)) => *n += 1,
            None => day_counts[day].push((op.status, 1)),
        }
        if let Some((sc, ad)) = bytes_of(op) {
            with_bytes += 1;
            scanned += sc;
            added += ad;
            days[day].bytes_scanned += sc;
            days[day].bytes_added += ad;
        }
    }
    s.bytes_scanned_last_30days = scanned;
    s.bytes_added_last_30days = added;
    if with_bytes > 0 {
        s.bytes_scanned_avg = scanned / with_bytes;
        s.bytes_added_avg = added / with_bytes;
    }
    for (bucket, mut counts) in days.iter_mut().zip(day_counts) {
        counts.sort_by_key(|(st, _)| *st as i32);
        bucket.status_counts = counts
            .into_iter()
            .map(|(status, count)| StatusCount { count, status })
            .collect();
    }
    s.history_last_30days = days;
    recent.sort_by_key(|o| (o.unix_time_start_ms, o.id));
    let skip = recent.len().saturating_sub(RECENT);
    if recent.len() > skip {
        let mut chart = BackupChart::default();
        for op in &recent[skip..] {
            chart.flow_id.push(op.flow_id);
            chart.timestamp_ms.push(op.unix_time_start_ms);
            let end = if op.unix_time_end_ms > 0 {
                op.unix_time_end_ms
            } else {
                now_ms
            };
            chart.duration_ms.push((end - op.unix_time_start_ms).max(0));
            chart.status.push(op.status);
            chart
                .bytes_added
                .push(bytes_of(op).map_or(0, |(_, added)| added));
        }
        s.recent_backups = Some(chart);
    }
    s
}

/// Which of the 30 days were overdue for `plan` (see the module doc).
fn overdue_days(
    plan: &Plan,
    ops: &[&Operation],
    now_ms: i64,
    bounds: &[i64],
    tz: &TimeZone,
) -> Vec<bool> {
    let mut out = vec![false; DAYS];
    let Some((schedule, clock)) = plan_schedule(plan) else {
        return out;
    };
    let backups: Vec<&&Operation> = ops
        .iter()
        .filter(|o| is_counted_backup(o) && o.status != OperationStatus::Pending)
        .collect();
    let Some(first) = backups.iter().map(|o| o.unix_time_start_ms).min() else {
        return out;
    };
    let mut successes: Vec<i64> = backups
        .iter()
        .filter(|o| succeeded(o))
        .map(|o| o.unix_time_start_ms)
        .collect();
    successes.sort_unstable();
    for (i, flag) in out.iter_mut().enumerate() {
        let (start, end) = (bounds[i], bounds[i + 1]);
        let checkpoint = end.min(now_ms);
        if successes.iter().any(|t| *t >= start && *t < end) {
            continue;
        }
        let last = successes.iter().rev().find(|t| **t < checkpoint).copied();
        *flag = expected_by(&schedule, clock, first, last, start, checkpoint, tz);
    }
    out
}

/// A plan's parsed schedule, unless it has none or it is disabled.
fn plan_schedule(plan: &Plan) -> Option<(Schedule, crate::schedule::Clock)> {
    plan.schedule
        .as_ref()
        .filter(|s| !s.is_disabled())
        .and_then(|s| s.parse().ok())
}

/// Whether the schedule expected a backup in the day that starts at `start`, by `checkpoint`
/// (its end, or now for today), for a plan whose first counted backup started at `first` and
/// whose newest success before `checkpoint` started at `last` (none that day).
fn expected_by(
    schedule: &Schedule,
    clock: crate::schedule::Clock,
    first: i64,
    last: Option<i64>,
    start: i64,
    checkpoint: i64,
    tz: &TimeZone,
) -> bool {
    if checkpoint <= first || start > checkpoint {
        return false;
    }
    match schedule {
        Schedule::Disabled => false,
        Schedule::Cron(_) => {
            let base = start.max(first) - 1;
            Timestamp::from_millisecond(base)
                .ok()
                .and_then(|b| schedule.next_run(clock, b, None, tz))
                .is_some_and(|next| next.as_millisecond() <= checkpoint)
        }
        Schedule::MaxFrequencyDays(n) => {
            last.unwrap_or(first) + i64::from(*n) * DAY_MS <= checkpoint
        }
        Schedule::MaxFrequencyHours(n) => {
            last.unwrap_or(first) + i64::from(*n) * 3600 * 1000 <= checkpoint
        }
    }
}

/// Whether `plan` is overdue now: today's flag of `historyLast30days`, from the start of its
/// first counted backup and of its newest successful one.
pub fn overdue_now(
    plan: &Plan,
    first_backup_ms: Option<i64>,
    last_success_ms: Option<i64>,
    now_ms: i64,
    tz: &TimeZone,
) -> bool {
    let (Some((schedule, clock)), Some(first)) = (plan_schedule(plan), first_backup_ms) else {
        return false;
    };
    let today = day_bounds(now_ms, tz)[DAYS - 1];
    if last_success_ms.is_some_and(|t| t >= today) {
        return false;
    }
    expected_by(&schedule, clock, first, last_success_ms, today, now_ms, tz)
}

/// Snapshots per (repo id, repo guid, plan id): index-snapshot operations not forgotten.
pub type SnapshotCounts = HashMap<(String, String, String), i64>;

/// What [`summarize`] needs from a history, read as the answer needs it rather than as the
/// history grows: the index is walked once (counting snapshots, choosing ids), then only the
/// chosen operations are read — those that started in the window or are scheduled, and per plan
/// or repo the few older ones the summary depends on (its first backup, its newest success before
/// the window, its newest successful stats).
pub fn gather(oplog: &OpLog, now_ms: i64, tz: &TimeZone) -> (Vec<Operation>, SnapshotCounts) {
    let since = day_bounds(now_ms, tz)[0];
    // Keyed by the walk's group numbers: no allocation per entry, memory per group.
    let mut keys: HashMap<u32, (String, String, String)> = HashMap::new();
    let mut counts: HashMap<u32, i64> = HashMap::new();
    let mut stats: HashMap<u32, (i64, i64)> = HashMap::new();
    // Per backup group, the earliest and the newest successful backups before the window, a
    // few of each: a dry run among them is passed over once read.
    let mut older: HashMap<u32, (Few, Few)> = HashMap::new();
    let mut want: Vec<i64> = Vec::new();
    oplog.walk_index(|e| {
        let k = e.key;
        let mut remember = || {
            keys.entry(e.group)
                .or_insert_with(|| (k.repo_id.clone(), k.repo_guid.clone(), k.plan_id.clone()));
        };
        match k.kind {
            OpKind::IndexSnapshot if !e.forgot => {
                remember();
                *counts.entry(e.group).or_default() += 1;
            }
            OpKind::Stats if e.status == OperationStatus::Success => {
                let newest = stats.entry(e.group).or_insert((e.start_ms, e.id));
                if (e.start_ms, e.id) > *newest {
                    *newest = (e.start_ms, e.id);
                }
            }
            OpKind::Backup if e.status == OperationStatus::Pending || e.start_ms >= since => {
                want.push(e.id);
            }
            OpKind::Backup => {
                remember();
                let (first, last_ok) = older.entry(e.group).or_default();
                first.keep((e.start_ms, e.id), |new, old| new < old);
                if matches!(
                    e.status,
                    OperationStatus::Success | OperationStatus::Warning
                ) {
                    last_ok.keep((e.start_ms, e.id), |new, old| new > old);
                }
            }
            _ => {} // nothing else is summarized
        }
    });
    want.extend(stats.into_values().map(|(_, id)| id));
    let mut ops = oplog.get_many(&want);
    // Per plan (its backups may sit in several groups: repo guids, instances).
    let mut per_plan: HashMap<&str, (Picks, Picks)> = HashMap::new();
    for (g, (first, last_ok)) in &older {
        let plan = keys[g].2.as_str();
        let (f, l) = per_plan.entry(plan).or_default();
        f.extend_from_slice(&first.0);
        l.extend_from_slice(&last_ok.0);
    }
    for (plan, (mut first, mut last_ok)) in per_plan {
        first.sort_unstable();
        last_ok.sort_unstable_by(|a, b| b.cmp(a));
        for (candidates, all_dry) in [(first, true), (last_ok, false)] {
            let read = oplog.get_many(&candidates.iter().map(|(_, id)| *id).collect::<Vec<_>>());
            let counted = read.iter().position(is_counted_backup);
            match counted {
                Some(i) => ops.extend(read.into_iter().take(i + 1)),
                None if candidates.len() < FEW => ops.extend(read),
                // Every candidate a dry run: rare enough to read the plan's older backups.
                None => ops.extend(older_backups(oplog, plan, since, all_dry)),
            }
        }
    }
    let mut snapshot_counts = SnapshotCounts::new();
    for (g, n) in counts {
        *snapshot_counts.entry(keys[&g].clone()).or_default() += n;
    }
    (ops, snapshot_counts)
}

/// (start, id) pairs of candidate operations.
type Picks = Vec<(i64, i64)>;

/// How many candidates per group [`gather`] keeps for each older pick.
const FEW: usize = 4;

/// The [`FEW`] best (start, id) pairs seen, by `better`.
#[derive(Default)]
struct Few(Vec<(i64, i64)>);

impl Few {
    fn keep(&mut self, item: (i64, i64), better: impl Fn(&(i64, i64), &(i64, i64)) -> bool) {
        if self.0.len() < FEW {
            self.0.push(item);
        } else if let Some(worst) =
            (0..FEW).reduce(|a, b| if better(&self.0[a], &self.0[b]) { b } else { a })
            && better(&item, &self.0[worst])
        {
            self.0[worst] = item;
        }
    }
}

/// The first (`first`) or the newest successful counted backup of `plan` before `since`, read
/// the slow way.
fn older_backups(oplog: &OpLog, plan: &str, since: i64, first: bool) -> Option<Operation> {
    let sel = crate::model::OpSelector {
        plan_id: Some(plan.to_string()),
        kind: Some(crate::model::OpKind::Backup),
        started_before: Some(since),
        ..Default::default()
    };
    let ops = oplog.query(&sel, 0).ok()?;
    let it = ops.into_iter().filter(is_counted_backup);
    if first {
        it.min_by_key(|o| (o.unix_time_start_ms, o.id))
    } else {
        it.filter(succeeded)
            .max_by_key(|o| (o.unix_time_start_ms, o.id))
    }
}

/// The dashboard's repo and plan summaries, in config order. `counts` gives the snapshot
/// totals (see [`gather`]); index-snapshot operations in `ops` are not counted again.
pub fn summarize(
    config: &Config,
    ops: &[Operation],
    counts: &SnapshotCounts,
    now_ms: i64,
    tz: &TimeZone,
) -> (Vec<Summary>, Vec<Summary>) {
    let bounds = day_bounds(now_ms, tz);
    let mut plan_overdue = Vec::new();
    let mut plans = Vec::new();
    for plan in &config.plans {
        let mine: Vec<&Operation> = ops.iter().filter(|o| o.plan_id == plan.id).collect();
        let overdue = overdue_days(plan, &mine, now_ms, &bounds, tz);
        let mut s = summary_of(&plan.id, &mine, now_ms, &bounds, &overdue);
        s.total_snapshots = counts
            .iter()
            .filter(|((_, _, p), _)| *p == plan.id)
            .map(|(_, n)| n)
            .sum();
        plans.push(s);
        plan_overdue.push((plan.repo.clone(), overdue));
    }
    let mut repos = Vec::new();
    for repo in &config.repos {
        let mine: Vec<&Operation> = ops
            .iter()
            .filter(|o| o.repo_id == repo.id && (repo.guid.is_empty() || o.repo_guid == repo.guid))
            .collect();
        let mut overdue = vec![false; DAYS];
        for (_, days) in plan_overdue.iter().filter(|(r, _)| *r == repo.id) {
            for (a, b) in overdue.iter_mut().zip(days) {
                *a |= *b;
            }
        }
        let mut s = summary_of(&repo.id, &mine, now_ms, &bounds, &overdue);
        s.total_snapshots = counts
            .iter()
            .filter(|((r, g, _), _)| *r == repo.id && (repo.guid.is_empty() || *g == repo.guid))
            .map(|(_, n)| n)
            .sum();
        s.protected_bytes = mine
            .iter()
            .filter(|o| o.status == OperationStatus::Success)
            .filter_map(|o| {
                let stats = o.operation_stats.as_ref()?.stats.as_ref()?;
                Some((o.unix_time_start_ms, stats.total_size))
            })
            .max_by_key(|(t, _)| *t)
            .map_or(0, |(_, size)| size);
        repos.push(s);
    }
    (repos, plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{BackupProgressEntry, BackupProgressSummary, OperationBackup};

    const NOW: i64 = 1_800_000_000_000; // 2027-01-15T08:00:00Z

    /// What `gather` counts from the index, counted from whole operations.
    fn counts_of(ops: &[Operation]) -> SnapshotCounts {
        let mut c = SnapshotCounts::new();
        for o in ops.iter().filter(|o| o.kind() == OpKind::IndexSnapshot) {
            if !o
                .operation_index_snapshot
                .as_ref()
                .is_some_and(|i| i.forgot)
            {
                *c.entry((o.repo_id.clone(), o.repo_guid.clone(), o.plan_id.clone()))
                    .or_default() += 1;
            }
        }
        c
    }

    /// The summaries from what `gather` reads equal those from the whole history, and
    /// `gather` reads no more when much more history lies before the window.
    #[test]
    fn gathering_reads_the_window_and_gives_the_summaries_of_the_whole_history() {
        use crate::model::{OperationIndexSnapshot, OperationStats, RepoStats};
        let dir = std::env::temp_dir().join(format!("footrest-dash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut read_counts = Vec::new();
        for years in [1i64, 4] {
            let log = crate::oplog::OpLog::open_with(
                &dir.join(years.to_string()),
                crate::oplog::Options {
                    sync: false,
                    ..Default::default()
                },
            )
            .unwrap();
            let mut seed = 0x9E37_79B9_7F4A_7C15u64;
            let mut rnd = |n: u64| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                seed % n
            };
            let span = years * 365 * DAY_MS;
            let mut t = NOW - span;
            // Plan q starts with more dry runs than `gather` keeps candidates: its first counted
            // backup is found the slow way.
            for _ in 0..FEW + 1 {
                let mut op = backup(0, "q", t, OperationStatus::Success, 5);
                op.operation_backup.as_mut().unwrap().dry_run = true;
                log.add(&mut op).unwrap();
                t += 3600 * 1000;
            }
            while t < NOW {
                let plan = ["p", "q"][rnd(2) as usize];
                let status = [
                    OperationStatus::Success,
                    OperationStatus::Success,
                    OperationStatus::Warning,
                    OperationStatus::Error,
                ][rnd(4) as usize];
                let mut op = backup(0, plan, t, status, 1 + rnd(1000) as i64);
                if rnd(10) == 0 {
                    op.operation_backup.as_mut().unwrap().dry_run = true;
                }
                log.add(&mut op).unwrap();
                let mut ix = Operation {
                    plan_id: plan.into(),
                    repo_id: "r".into(),
                    status: OperationStatus::Success,
                    unix_time_start_ms: t,
                    operation_index_snapshot: Some(OperationIndexSnapshot {
                        forgot: rnd(3) == 0,
                        ..Default::default()
                    }),
                    ..Default::default()
                };
                log.add(&mut ix).unwrap();
                if rnd(20) == 0 {
                    let mut st = Operation {
                        repo_id: "r".into(),
                        plan_id: "_system_".into(),
                        status: OperationStatus::Success,
                        unix_time_start_ms: t,
                        operation_stats: Some(OperationStats {
                            stats: Some(RepoStats {
                                total_size: t / 1000,
                                ..Default::default()
                            }),
                        }),
                        ..Default::default()
                    };
                    log.add(&mut st).unwrap();
                }
                t += (6 + rnd(12) as i64) * 3600 * 1000;
            }
            let mut pending = backup(0, "p", NOW + 3_600_000, OperationStatus::Pending, 0);
            log.add(&mut pending).unwrap();
            let all = log.query(&crate::model::OpSelector::default(), 0).unwrap();
            let mut c: Config = serde_json::from_value(serde_json::json!({
                "instance": "i",
                "repos": [{"id": "r", "uri": "/x"}],
                "plans": [
                    {"id": "p", "repo": "r", "paths": ["/x"], "schedule": {"maxFrequencyDays": 1}},
                    {"id": "q", "repo": "r", "paths": ["/x"], "schedule": {"cron": "0 3 * * *"}},
                ],
            }))
            .unwrap();
            c.plans.sort_by(|a, b| a.id.cmp(&b.id));
            let tz = TimeZone::UTC;
            let whole = summarize(&c, &all, &counts_of(&all), NOW, &tz);
            let (ops, counts) = gather(&log, NOW, &tz);
            assert_eq!(
                summarize(&c, &ops, &counts, NOW, &tz),
                whole,
                "{years} years"
            );
            assert!(whole.0[0].total_snapshots > 0 && whole.0[0].protected_bytes > 0);
            read_counts.push(ops.len());
            drop(log);
        }
        // The operations read follow the window, not the history: within a few extra.
        assert!(
            read_counts[1] <= read_counts[0] + 8,
            "read {read_counts:?} for 1 and 4 years of history"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    fn backup(id: i64, plan: &str, start: i64, status: OperationStatus, added: i64) -> Operation {
        Operation {
            id,
            flow_id: id,
            plan_id: plan.into(),
            repo_id: "r".into(),
            status,
            unix_time_start_ms: start,
            unix_time_end_ms: if status == OperationStatus::Pending {
                0
            } else {
                start + 1000
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

    fn config(schedule: serde_json::Value) -> Config {
        serde_json::from_value(serde_json::json!({
            "instance": "i",
            "repos": [{"id": "r", "uri": "/x"}],
            "plans": [{"id": "p", "repo": "r", "paths": ["/x"], "schedule": schedule}],
        }))
        .unwrap()
    }

    #[test]
    fn counts_bytes_and_next_run_come_from_the_history() {
        let c = config(serde_json::json!({"disabled": true}));
        let ops = vec![
            backup(1, "p", NOW - 3 * DAY_MS, OperationStatus::Success, 100),
            backup(2, "p", NOW - 2 * DAY_MS, OperationStatus::Warning, 50),
            backup(3, "p", NOW - DAY_MS, OperationStatus::Error, 0),
            backup(4, "p", NOW - 40 * DAY_MS, OperationStatus::Error, 0),
            backup(5, "p", NOW + 3_600_000, OperationStatus::Pending, 0),
        ];
        let (repos, plans) = summarize(&c, &ops, &counts_of(&ops), NOW, &TimeZone::UTC);
        for s in [&repos[0], &plans[0]] {
            assert_eq!(s.backups_success_last_30days, 1);
            assert_eq!(s.backups_warning_last_30days, 1);
            assert_eq!(s.backups_failed_30days, 1, "the 40-day-old error is out");
            assert_eq!(s.bytes_added_last_30days, 150);
            assert_eq!(s.bytes_scanned_last_30days, 1500);
            assert_eq!(s.bytes_added_avg, 75);
            assert_eq!(s.next_backup_time_ms, NOW + 3_600_000);
            assert_eq!(s.history_last_30days.len(), DAYS);
            let chart = s.recent_backups.as_ref().unwrap();
            assert_eq!(chart.flow_id, [1, 2, 3]);
            assert_eq!(chart.bytes_added, [100, 50, 0]);
            let today = &s.history_last_30days[DAYS - 1];
            assert_eq!(today.timestamp_ms, NOW - 8 * 3_600_000);
            let three_ago = &s.history_last_30days[DAYS - 4];
            assert_eq!(three_ago.bytes_added, 100);
            assert_eq!(three_ago.status_counts[0].status, OperationStatus::Success);
            assert!(!three_ago.overdue, "no schedule, never overdue");
        }
    }

    #[test]
    fn a_daily_plan_is_overdue_on_days_without_a_success() {
        let c = config(serde_json::json!({"cron": "0 3 * * *", "clock": "CLOCK_UTC"}));
        let ops = vec![
            backup(1, "p", NOW - 5 * DAY_MS, OperationStatus::Success, 1),
            backup(2, "p", NOW - 4 * DAY_MS, OperationStatus::Error, 0),
            backup(3, "p", NOW - 3 * DAY_MS, OperationStatus::Success, 1),
            // nothing 2 days ago, yesterday or today
        ];
        let (repos, plans) = summarize(&c, &ops, &counts_of(&ops), NOW, &TimeZone::UTC);
        let days: Vec<bool> = plans[0]
            .history_last_30days
            .iter()
            .map(|d| d.overdue)
            .collect();
        assert!(
            !days[..DAYS - 6].iter().any(|d| *d),
            "before the first backup"
        );
        assert_eq!(&days[DAYS - 6..], [false, true, false, true, true, true]);
        let repo_days: Vec<bool> = repos[0]
            .history_last_30days
            .iter()
            .map(|d| d.overdue)
            .collect();
        assert_eq!(repo_days, days);
    }

    #[test]
    fn a_frequency_plan_is_overdue_once_its_interval_has_passed() {
        let c = config(serde_json::json!({"maxFrequencyDays": 2}));
        let ops = vec![backup(
            1,
            "p",
            NOW - 4 * DAY_MS,
            OperationStatus::Success,
            1,
        )];
        let (_, plans) = summarize(&c, &ops, &counts_of(&ops), NOW, &TimeZone::UTC);
        let days: Vec<bool> = plans[0]
            .history_last_30days
            .iter()
            .map(|d| d.overdue)
            .collect();
        // success at day -4 08:00; due by day -2 08:00: days -2, -1 and today are overdue.
        assert_eq!(&days[DAYS - 5..], [false, false, true, true, true]);
    }
}
