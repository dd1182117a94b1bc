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

mod common;

use common::{PLANS, Rng, Sink, T0, base, median, ms, peak_kb, reset_peak, rss_kb};
use footrest::model::{OpSelector, Operation, OperationBackup, OperationStatus};
use footrest::oplog::{OpLog, Options};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

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
    // GetSummaryDashboard's reads: 30 days back from just after the newest operation.
    let now = log
        .query(&OpSelector::default(), 1)
        .expect("query")
        .first()
        .map_or(T0, |o| o.unix_time_start_ms + 3_600_000);
    let tz = footrest::schedule::TimeZone::UTC;
    reset_peak();
    let rss_before_dash = rss_kb();
    let (dash, dash_n) = time(&mut || footrest::dashboard::gather(&log, now, &tz).0.len());
    let dash_peak_mb = peak_kb().saturating_sub(rss_before_dash) as f64 / 1024.0;
    // GetOperations without lastN, as the RPC answers it: 64 ids at a time from the index, their
    // operations read and encoded into the answer's stream (here counted). Once, timed.
    reset_peak();
    let rss_before_all = rss_kb();
    let t = Instant::now();
    let (mut all_n, mut all_bytes, mut cursor) = (0usize, 0usize, i64::MIN);
    loop {
        let batch = log.select_ids_after(&OpSelector::default(), cursor, 64);
        for op in log.get_many(&batch) {
            all_bytes += serde_json::to_vec(&op).expect("json").len();
            all_n += 1;
        }
        match batch.last() {
            Some(&last) => cursor = last,
            None => break,
        }
    }
    let all_ms = t.elapsed();
    let all_peak_mb = peak_kb().saturating_sub(rss_before_all) as f64 / 1024.0;
    // /metrics and /status: the monitor is built once at start, then each answer is rendered
    // from its state.
    let log = std::sync::Arc::new(log);
    let t = Instant::now();
    let monitor = footrest::monitor::Monitor::start(&log);
    let monitor_build = t.elapsed();
    let config: footrest::config::Config = serde_json::from_value(serde_json::json!({
        "instance": "bench",
        "repos": (0..3).map(|r| serde_json::json!({"id": format!("repo{r}"), "uri": "/x"})).collect::<Vec<_>>(),
        "plans": (0..PLANS).map(|p| serde_json::json!({"id": format!("plan{p}"), "repo": format!("repo{}", p % 3),
            "paths": ["/x"], "schedule": {"maxFrequencyHours": 1}})).collect::<Vec<_>>(),
    }))
    .expect("config");
    let (scrape, scrape_bytes) = time(&mut || monitor.metrics(&config, Some((0, 14))).len());
    let (status, _) = time(&mut || {
        serde_json::to_vec(&monitor.status(&config, None, now, &tz).expect("status").1)
            .expect("json")
            .len()
    });
    println!(
        "RESULT open_ms={} rss_added_mb={:.1} ops={} disk_mb={:.1} live_mb={:.1} scanned_mb={:.1} index_mb={:.1} \
         plan_last100_ms={} ({plan_n}) flow_ms={} ({flow_n}) modno_gte_ms={} ({modno_n}) \
         dashboard_ms={} ({dash_n} read) dashboard_peak_added_mb={dash_peak_mb:.1} \
         getops_all_ms={} ({} ops, {:.0} MB) getops_all_peak_added_mb={all_peak_mb:.1} \
         monitor_build_ms={} metrics_ms={} ({scrape_bytes} bytes) status_ms={}",
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
        ms(dash),
        ms(all_ms),
        all_n,
        all_bytes as f64 / 1048576.0,
        ms(monitor_build),
        ms(scrape),
        ms(status),
    );
}

/// `get` latencies (sorted) of one existing operation until `stop` is set, or `max` calls.
fn read_latencies(log: &OpLog, stop: &AtomicBool, max: usize) -> Vec<Duration> {
    let id = log.select_ids(&OpSelector::default(), 1).expect("ids")[0];
    let mut out = Vec::new();
    while !stop.load(Ordering::Relaxed) && out.len() < max {
        let t = Instant::now();
        std::hint::black_box(log.get(id).expect("get"));
        out.push(t.elapsed());
    }
    out.sort_unstable();
    out
}

fn quantiles(v: &[Duration]) -> String {
    let at = |q: f64| v[((v.len() - 1) as f64 * q) as usize].as_secs_f64() * 1e6;
    format!(
        "p50={:.0}us p99={:.0}us max={:.0}us",
        at(0.5),
        at(0.99),
        at(1.0)
    )
}

fn writes(dir: &Path) {
    let log = OpLog::open(dir).expect("open");
    let mut r = Rng(7);
    let n = 200;
    // Readers beside fsync'd writes: the fsync runs after the log's lock is released, so a
    // reader never waits for the disk and its latency stays near the idle figure.
    let idle = read_latencies(&log, &AtomicBool::new(false), 20_000);
    let stop = AtomicBool::new(false);
    let (add_sync, update_sync, during) = std::thread::scope(|s| {
        let reader = s.spawn(|| read_latencies(&log, &stop, usize::MAX));
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
        stop.store(true, Ordering::Relaxed);
        (add_sync, update_sync, reader.join().expect("reader"))
    });
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
         add_running_per_s={add_running:.0} progress_per_s={progress:.0} \
         get_idle[{}] get_beside_fsync_writes[{}]",
        quantiles(&idle),
        quantiles(&during)
    );
}

impl Sink for OpLog {
    fn add(&mut self, op: &mut Operation) {
        OpLog::add(self, op).expect("add");
    }
    fn update(&mut self, op: &mut Operation) {
        OpLog::update(self, op).expect("update");
    }
    fn update_progress(&mut self, op: &mut Operation) {
        OpLog::update_progress(self, op).expect("progress");
    }
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
    if args.len() == 2 && args[0] == "--open" {
        // For a profiler: the open alone.
        let t = Instant::now();
        let log = OpLog::open(Path::new(&args[1])).expect("open");
        println!(
            "RESULT open_ms={} ops={}",
            ms(t.elapsed()),
            log.stats().operations
        );
        return;
    }
    if args.len() == 2 && args[0] == "--writes" {
        return writes(Path::new(&args[1]));
    }
    if args.len() == 3 && args[0] == "--generate" {
        let t = Instant::now();
        let n = args[2].parse().unwrap_or(0);
        let log = OpLog::open_with(
            Path::new(&args[1]),
            Options {
                progress_interval: Duration::ZERO,
                sync: false,
                ..Options::default()
            },
        )
        .expect("open");
        // Left open at exit, as a crash would: no final checkpoint, only the last periodic one.
        let mut log = std::mem::ManuallyDrop::new(log);
        let count = common::generate(&mut *log, n);
        println!(
            "RESULT {count} operations generated in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        std::process::exit(0);
    }
    // `cargo test --all-targets` runs bench binaries without `--bench`: only check they build.
    if !std::env::args().any(|a| a == "--bench") {
        return;
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
