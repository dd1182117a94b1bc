//! Shared by the operation log benchmarks: the history generator and measuring helpers.

#![allow(dead_code)]

use footrest::model::{
    BackupProgressEntry, BackupProgressStatusEntry, BackupProgressSummary, Operation,
    OperationBackup, OperationCheck, OperationForget, OperationIndexSnapshot, OperationPrune,
    OperationRunHook, OperationStats, OperationStatus, RepoStats, ResticSnapshot, SnapshotSummary,
};
use std::time::Duration;

/// Where a generated history goes.
pub trait Sink {
    fn add(&mut self, op: &mut Operation);
    fn update(&mut self, op: &mut Operation);
    fn update_progress(&mut self, op: &mut Operation);
}

/// The tests' generator (tests/support), shared so that both replay the same sequences.
#[path = "../../tests/support/mod.rs"]
mod support;
pub use support::Rng;

pub const PLANS: u64 = 10;
pub const T0: i64 = 1_600_000_000_000;

pub fn base(r: &mut Rng, plan: u64, t: i64) -> Operation {
    Operation {
        repo_id: format!("repo{}", plan % 3),
        repo_guid: format!("{:064x}", plan % 3),
        plan_id: format!("plan{plan}"),
        instance_id: "pi-zero".into(),
        status: OperationStatus::InProgress,
        unix_time_start_ms: t,
        logref: r.hex(16),
        ..Default::default()
    }
}

fn summary(r: &mut Rng) -> SnapshotSummary {
    SnapshotSummary {
        files_new: r.below(100) as i64,
        files_changed: r.below(1000) as i64,
        files_unmodified: r.below(100_000) as i64,
        dirs_changed: r.below(100) as i64,
        dirs_unmodified: r.below(10_000) as i64,
        data_blobs: r.below(1000) as i64,
        tree_blobs: r.below(100) as i64,
        data_added: r.below(1 << 30) as i64,
        total_files_processed: r.below(100_000) as i64,
        total_bytes_processed: r.below(1 << 40) as i64,
        total_duration: r.below(10_000) as f64 / 7.0,
        ..Default::default()
    }
}

/// Writes about `n` operations into `log`; returns how many.
pub fn generate(log: &mut dyn Sink, n: usize) -> usize {
    let mut r = Rng(0x1234_5678_9ABC_DEF1);
    let mut t = T0;
    let mut count = 0;
    let add = |log: &mut dyn Sink, op: &mut Operation, count: &mut usize| {
        log.add(op);
        *count += 1;
    };
    while count < n {
        let plan = r.below(PLANS);
        t += 360_000 + r.below(360_000) as i64;
        // A backup with progress, its snapshot, and two hooks.
        let mut b = base(&mut r, plan, t);
        b.operation_backup = Some(OperationBackup::default());
        add(log, &mut b, &mut count);
        let mut h = base(&mut r, plan, t);
        h.flow_id = b.flow_id;
        h.status = OperationStatus::Success;
        h.operation_run_hook = Some(OperationRunHook {
            parent_op: b.id,
            name: format!("command hook plan/plan{plan}/hook/0"),
            condition: "CONDITION_SNAPSHOT_START".into(),
        });
        add(log, &mut h, &mut count);
        for p in 0..3 {
            b.operation_backup = Some(OperationBackup {
                last_status: Some(BackupProgressEntry {
                    status: Some(BackupProgressStatusEntry {
                        percent_done: (p + 1) as f64 / 4.0,
                        total_files: 50_000,
                        total_bytes: 1 << 34,
                        files_done: 12_000 * (p + 1),
                        bytes_done: (1 << 32) * (p + 1),
                        current_file: vec![format!("/home/pi/photos/{}.jpg", r.hex(12))],
                    }),
                    summary: None,
                }),
                ..Default::default()
            });
            log.update_progress(&mut b);
        }
        let snap_id = r.hex(64);
        let s = summary(&mut r);
        b.status = OperationStatus::Success;
        b.snapshot_id = snap_id.clone();
        b.unix_time_end_ms = t + 120_000;
        b.display_message = String::new();
        b.operation_backup = Some(OperationBackup {
            last_status: Some(BackupProgressEntry {
                status: None,
                summary: Some(BackupProgressSummary {
                    snapshot_id: snap_id.clone(),
                    files_new: s.files_new,
                    data_added: s.data_added,
                    total_files_processed: s.total_files_processed,
                    total_bytes_processed: s.total_bytes_processed,
                    total_duration: s.total_duration,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        });
        log.update(&mut b);
        let mut snap = base(&mut r, plan, t);
        snap.flow_id = b.flow_id;
        snap.status = OperationStatus::Success;
        snap.snapshot_id = snap_id.clone();
        snap.operation_index_snapshot = Some(OperationIndexSnapshot {
            snapshot: Some(ResticSnapshot {
                id: snap_id.clone(),
                unix_time_ms: t,
                hostname: "pi-zero".into(),
                username: "pi".into(),
                tree: r.hex(64),
                parent: r.hex(64),
                paths: vec!["/home/pi".into(), "/etc".into()],
                tags: vec![format!("plan:plan{plan}"), "created-by:pi-zero".into()],
                summary: Some(s),
            }),
            forgot: false,
        });
        add(log, &mut snap, &mut count);
        let mut h2 = h.clone();
        h2.id = 0;
        h2.operation_run_hook = Some(OperationRunHook {
            parent_op: b.id,
            name: format!("command hook plan/plan{plan}/hook/0"),
            condition: "CONDITION_SNAPSHOT_END".into(),
        });
        add(log, &mut h2, &mut count);
        if r.below(4) == 0 {
            let mut f = base(&mut r, plan, t + 130_000);
            f.flow_id = b.flow_id;
            f.status = OperationStatus::Success;
            f.operation_forget = Some(OperationForget {
                forget: (0..1 + r.below(3))
                    .map(|_| ResticSnapshot {
                        id: r.hex(64),
                        unix_time_ms: t - 86_400_000,
                        ..Default::default()
                    })
                    .collect(),
                policy: None,
            });
            add(log, &mut f, &mut count);
        }
        match r.below(40) {
            0 => {
                let mut o = base(&mut r, plan, t + 200_000);
                o.plan_id = String::new();
                o.status = OperationStatus::Success;
                o.operation_stats = Some(OperationStats {
                    stats: Some(RepoStats {
                        total_size: r.below(1 << 40) as i64,
                        total_uncompressed_size: r.below(1 << 41) as i64,
                        compression_ratio: 1.7,
                        total_blob_count: r.below(1 << 20) as i64,
                        snapshot_count: r.below(1000) as i64,
                    }),
                });
                add(log, &mut o, &mut count);
            }
            1 => {
                let mut o = base(&mut r, plan, t + 200_000);
                o.plan_id = String::new();
                o.status = OperationStatus::Success;
                o.operation_check = Some(OperationCheck {
                    output_logref: r.hex(16),
                });
                add(log, &mut o, &mut count);
            }
            2 => {
                let mut o = base(&mut r, plan, t + 200_000);
                o.plan_id = String::new();
                o.status = OperationStatus::Success;
                o.operation_prune = Some(OperationPrune {
                    output_logref: r.hex(16),
                });
                add(log, &mut o, &mut count);
            }
            _ => {}
        }
    }
    count
}

pub fn rss_kb() -> u64 {
    status_kb("VmRSS:")
}

/// Peak resident memory so far (kB).
#[allow(dead_code)] // not every bench reads it
pub fn peak_kb() -> u64 {
    status_kb("VmHWM:")
}

/// Zeroes the peak so that `peak_kb` measures what follows (Linux: `5` to clear_refs), after
/// handing the heap's free memory back, so that what an earlier step freed but kept does not
/// hide what the next one needs.
#[allow(dead_code)]
pub fn reset_peak() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory.
    unsafe {
        libc::malloc_trim(0);
    }
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_kb(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

pub fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

pub fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}
