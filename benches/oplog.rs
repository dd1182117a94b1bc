//! Operation log benchmark (not a test): `cargo bench --bench oplog [-- SIZES...]`.
//!
//! For each history size (default 10k, 100k, 1M operations) it generates a realistic history
//! (about ten plans; each backup run is a backup with progress lines, its index-snapshot
//! operation and two hook runs; forgets, stats, checks and prunes now and then), then measures
//! in a fresh process each:
//! - open time (the daemon's `OpLog::open`) after a clean shutdown (checkpoint present) and
//!   after a crash (no checkpoint: every segment is scanned), and the RSS the open added;
//! - GetOperations `{planId, lastN: 100}`, `{flowId}`, `{modnoGte: <last 100>}`: median of 201;
//! - appends and updates as the daemon does them: terminal ones fsynced, progress in memory.

use footrest::model::{
    BackupProgressEntry, BackupProgressStatusEntry, BackupProgressSummary, OpSelector, Operation,
    OperationBackup, OperationCheck, OperationForget, OperationIndexSnapshot, OperationPrune,
    OperationRunHook, OperationStats, OperationStatus, RepoStats, ResticSnapshot, SnapshotSummary,
};
use footrest::oplog::{OpLog, Options};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn hex(&mut self, len: usize) -> String {
        let mut s = String::new();
        while s.len() < len {
            s.push_str(&format!("{:016x}", self.next()));
        }
        s.truncate(len);
        s
    }
}

const PLANS: u64 = 10;
const T0: i64 = 1_600_000_000_000;

fn base(r: &mut Rng, plan: u64, t: i64) -> Operation {
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

/// Writes about `n` operations; returns how many.
fn generate(dir: &Path, n: usize) -> usize {
    let log = OpLog::open_with(
        dir,
        Options {
            progress_interval: Duration::ZERO,
            sync: false,
            ..Options::default()
        },
    )
    .expect("open");
    let log = std::mem::ManuallyDrop::new(log);
    let mut r = Rng(0x1234_5678_9ABC_DEF1);
    let mut t = T0;
    let mut count = 0;
    let add = |op: &mut Operation, count: &mut usize| {
        log.add(op).expect("add");
        *count += 1;
    };
    while count < n {
        let plan = r.below(PLANS);
        t += 360_000 + r.below(360_000) as i64;
        // A backup with progress, its snapshot, and two hooks.
        let mut b = base(&mut r, plan, t);
        b.operation_backup = Some(OperationBackup::default());
        add(&mut b, &mut count);
        let mut h = base(&mut r, plan, t);
        h.flow_id = b.flow_id;
        h.status = OperationStatus::Success;
        h.operation_run_hook = Some(OperationRunHook {
            parent_op: b.id,
            name: format!("command hook plan/plan{plan}/hook/0"),
            condition: "CONDITION_SNAPSHOT_START".into(),
        });
        add(&mut h, &mut count);
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
            log.update_progress(&mut b).expect("progress");
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
        log.update(&mut b).expect("update");
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
        add(&mut snap, &mut count);
        let mut h2 = h.clone();
        h2.id = 0;
        h2.operation_run_hook = Some(OperationRunHook {
            parent_op: b.id,
            name: format!("command hook plan/plan{plan}/hook/0"),
            condition: "CONDITION_SNAPSHOT_END".into(),
        });
        add(&mut h2, &mut count);
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
            add(&mut f, &mut count);
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
                add(&mut o, &mut count);
            }
            1 => {
                let mut o = base(&mut r, plan, t + 200_000);
                o.plan_id = String::new();
                o.status = OperationStatus::Success;
                o.operation_check = Some(OperationCheck {
                    output_logref: r.hex(16),
                });
                add(&mut o, &mut count);
            }
            2 => {
                let mut o = base(&mut r, plan, t + 200_000);
                o.plan_id = String::new();
                o.status = OperationStatus::Success;
                o.operation_prune = Some(OperationPrune {
                    output_logref: r.hex(16),
                });
                add(&mut o, &mut count);
            }
            _ => {}
        }
    }
    count
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.3}", d.as_secs_f64() * 1000.0)
}

/// In a fresh process: open, RSS, queries. Prints one `key=value` line.
fn measure(dir: &Path) {
    let before = rss_kb();
    let t = Instant::now();
    let log = OpLog::open(dir).expect("open");
    let open = t.elapsed();
    let after = rss_kb();
    let stats = log.stats();
    let mut r = Rng(42);
    let time = |f: &mut dyn FnMut() -> usize| -> (Duration, usize) {
        let mut v = Vec::new();
        let mut n = 0;
        for _ in 0..201 {
            let t = Instant::now();
            n = f();
            v.push(t.elapsed());
        }
        (median(v), n)
    };
    let (plan_q, plan_n) = time(&mut || {
        let sel = OpSelector {
            plan_id: Some(format!("plan{}", r.below(PLANS))),
            ..Default::default()
        };
        log.query(&sel, 100).expect("query").len()
    });
    let max_id = stats.max_id as u64;
    let (flow_q, flow_n) = time(&mut || {
        // Flows begin at a backup: look one up by a random id's flow.
        let id = 1 + r.below(max_id) as i64;
        let flow = log.get(id).ok().flatten().map_or(id, |o| o.flow_id);
        let sel = OpSelector {
            flow_id: Some(flow),
            ..Default::default()
        };
        log.query(&sel, 0).expect("query").len()
    });
    let (modno_q, modno_n) = time(&mut || {
        let sel = OpSelector {
            modno_gte: Some(stats.max_modno - 100),
            ..Default::default()
        };
        log.query(&sel, 0).expect("query").len()
    });
    println!(
        "RESULT open_ms={} rss_added_mb={:.1} ops={} disk_mb={:.1} live_mb={:.1} scanned_mb={:.1} index_mb={:.1} \
         plan_last100_ms={} ({plan_n}) flow_ms={} ({flow_n}) modno_gte_ms={} ({modno_n})",
        ms(open),
        (after.saturating_sub(before)) as f64 / 1024.0,
        stats.operations,
        stats.disk_bytes as f64 / 1048576.0,
        stats.live_bytes as f64 / 1048576.0,
        stats.scanned_bytes as f64 / 1048576.0,
        stats.index_heap_bytes as f64 / 1048576.0,
        ms(plan_q),
        ms(flow_q),
        ms(modno_q),
    );
}

fn writes(dir: &Path) {
    let log = OpLog::open(dir).expect("open");
    let mut r = Rng(7);
    let n = 200;
    let t = Instant::now();
    let mut ops = Vec::new();
    for _ in 0..n {
        let mut op = base(&mut r, 1, T0);
        op.status = OperationStatus::Success;
        op.operation_backup = Some(OperationBackup::default());
        log.add(&mut op).expect("add");
        ops.push(op);
    }
    let add_sync = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for op in &mut ops {
        op.display_message = "updated".into();
        log.update(op).expect("update");
    }
    let update_sync = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    let m = 2000;
    let mut running = Vec::new();
    for _ in 0..m {
        let mut op = base(&mut r, 2, T0);
        op.operation_backup = Some(OperationBackup::default());
        log.add(&mut op).expect("add");
        running.push(op);
    }
    let add_running = m as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for op in &mut running {
        op.display_message = "42%".into();
        log.update_progress(op).expect("progress");
    }
    let progress = m as f64 / t.elapsed().as_secs_f64();
    log.delete(&running.iter().map(|o| o.id).collect::<Vec<_>>())
        .expect("delete");
    println!(
        "RESULT add_fsync_per_s={add_sync:.0} update_fsync_per_s={update_sync:.0} \
         add_running_per_s={add_running:.0} progress_per_s={progress:.0}"
    );
}

fn run_child(args: &[&str]) -> String {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args(args)
        .output()
        .expect("spawn");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or("failed")
        .to_string()
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if args.len() == 2 && args[0] == "--measure" {
        return measure(Path::new(&args[1]));
    }
    if args.len() == 2 && args[0] == "--writes" {
        return writes(Path::new(&args[1]));
    }
    if args.len() == 3 && args[0] == "--generate" {
        let t = Instant::now();
        let n = args[2].parse().unwrap_or(0);
        let count = generate(Path::new(&args[1]), n);
        println!(
            "RESULT {count} operations generated in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        // Leave as a crash would: no final checkpoint, only the last periodic one.
        std::process::exit(0);
    }
    let sizes: Vec<usize> = if args.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        args.iter().filter_map(|a| a.parse().ok()).collect()
    };
    let root = std::env::var_os("FOOTREST_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("footrest-oplog-bench"));
    for n in sizes {
        let dir = root.join(format!("{n}")).join("oplog");
        let _ = std::fs::remove_dir_all(&dir);
        let d = dir.to_string_lossy().to_string();
        println!("{}", run_child(&["--generate", &d, &n.to_string()]));
        println!("  after a crash: {}", run_child(&["--measure", &d]));
        println!("  clean restart: {}", run_child(&["--measure", &d]));
        let _ = std::fs::remove_file(dir.join("index.ckpt"));
        println!("  no checkpoint: {}", run_child(&["--measure", &d]));
        println!("  writes:        {}", run_child(&["--writes", &d]));
        let _ = std::fs::remove_dir_all(root.join(format!("{n}")));
    }
}
