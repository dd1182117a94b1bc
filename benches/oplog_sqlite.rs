//! SQLite baseline for the operation log benchmark (Backrest keeps its history in SQLite):
//! `cargo bench --features bench-sqlite --bench oplog_sqlite [-- SIZES...]`.
//!
//! The same generated history goes into one table holding each operation's newest JSON, with
//! the indexes the three queries need (WAL journal, `synchronous=NORMAL` while generating,
//! `FULL` for the write figures). Queries return parsed operations, as the oplog's do.

mod common;

use common::{PLANS, Rng, Sink, T0, base, median, ms, rss_kb};
use footrest::model::{Operation, OperationBackup, OperationStatus};
use rusqlite::{Connection, params};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Db {
    conn: Connection,
    max_id: i64,
    modno: i64,
}

impl Db {
    fn open(path: &Path) -> Db {
        let conn = Connection::open(path).expect("open");
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             CREATE TABLE IF NOT EXISTS operations (
                 id INTEGER PRIMARY KEY, modno INTEGER NOT NULL, flow_id INTEGER NOT NULL,
                 plan_id TEXT NOT NULL, repo_id TEXT NOT NULL, instance_id TEXT NOT NULL,
                 snapshot_id TEXT NOT NULL, start_ms INTEGER NOT NULL, status INTEGER NOT NULL,
                 json TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS by_plan ON operations (plan_id, start_ms);
             CREATE INDEX IF NOT EXISTS by_flow ON operations (flow_id);
             CREATE INDEX IF NOT EXISTS by_modno ON operations (modno);",
        )
        .expect("schema");
        let (max_id, modno) = conn
            .query_row(
                "SELECT COALESCE(MAX(id), 0), COALESCE(MAX(modno), 0) FROM operations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("max");
        Db {
            conn,
            max_id,
            modno,
        }
    }

    fn put(&mut self, op: &Operation) {
        self.conn
            .execute(
                "INSERT OR REPLACE INTO operations VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10)",
                params![
                    op.id,
                    op.modno,
                    op.flow_id,
                    op.plan_id,
                    op.repo_id,
                    op.instance_id,
                    op.snapshot_id,
                    op.unix_time_start_ms,
                    op.status.number(),
                    serde_json::to_string(op).expect("json"),
                ],
            )
            .expect("put");
    }

    fn query(&self, sql: &str, p: impl rusqlite::Params) -> Vec<Operation> {
        let mut st = self.conn.prepare_cached(sql).expect("prepare");
        let rows = st.query_map(p, |r| r.get::<_, String>(0)).expect("query");
        let mut v: Vec<Operation> = rows
            .map(|j| serde_json::from_str(&j.expect("row")).expect("parse"))
            .collect();
        v.sort_by_key(|o| o.id);
        v
    }
}

impl Sink for Db {
    fn add(&mut self, op: &mut Operation) {
        self.max_id += 1;
        self.modno += 1;
        op.id = self.max_id;
        if op.flow_id == 0 {
            op.flow_id = op.id;
        }
        op.modno = self.modno;
        self.put(op);
    }
    fn update(&mut self, op: &mut Operation) {
        self.modno += 1;
        op.modno = self.modno;
        self.put(op);
    }
    fn update_progress(&mut self, op: &mut Operation) {
        self.update(op);
    }
}

fn measure(path: &Path) {
    let before = rss_kb();
    let t = Instant::now();
    let db = Db::open(path);
    let open = t.elapsed();
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
        db.query(
            "SELECT json FROM operations WHERE plan_id = ?1 ORDER BY start_ms DESC, id DESC LIMIT 100",
            [format!("plan{}", r.below(PLANS))],
        )
        .len()
    });
    let max_id = db.max_id as u64;
    let (flow_q, flow_n) = time(&mut || {
        let id = 1 + r.below(max_id) as i64;
        let flow: i64 = db
            .conn
            .query_row("SELECT flow_id FROM operations WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .unwrap_or(id);
        db.query("SELECT json FROM operations WHERE flow_id = ?1", [flow])
            .len()
    });
    let (modno_q, modno_n) = time(&mut || {
        db.query(
            "SELECT json FROM operations WHERE modno >= ?1",
            [db.modno - 100],
        )
        .len()
    });
    let after = rss_kb();
    let size: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "RESULT open_ms={} rss_added_mb_after_queries={:.1} disk_mb={:.1} \
         plan_last100_ms={} ({plan_n}) flow_ms={} ({flow_n}) modno_gte_ms={} ({modno_n})",
        ms(open),
        after.saturating_sub(before) as f64 / 1024.0,
        size as f64 / 1048576.0,
        ms(plan_q),
        ms(flow_q),
        ms(modno_q),
    );
}

fn writes(path: &Path) {
    let mut db = Db::open(path);
    db.conn
        .execute_batch("PRAGMA synchronous=FULL;")
        .expect("pragma");
    let mut r = Rng(7);
    let n = 200;
    let mut ops = Vec::new();
    let t = Instant::now();
    for _ in 0..n {
        let mut op = base(&mut r, 1, T0);
        op.status = OperationStatus::Success;
        op.operation_backup = Some(OperationBackup::default());
        db.add(&mut op);
        ops.push(op);
    }
    let add = n as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for op in &mut ops {
        op.display_message = "updated".into();
        db.update(op);
    }
    let update = n as f64 / t.elapsed().as_secs_f64();
    println!("RESULT add_fsync_per_s={add:.0} update_fsync_per_s={update:.0}");
}

fn run_child(args: &[&str]) -> String {
    let out = Command::new(std::env::current_exe().expect("exe"))
        .args(args)
        .output()
        .expect("spawn");
    String::from_utf8_lossy(&out.stdout)
        .lines()
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
        .unwrap_or_else(|| std::env::temp_dir().join("footrest-oplog-bench-sqlite"));
    for n in sizes {
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("dir");
        let path = root.join("history.sqlite");
        let t = Instant::now();
        let mut db = Db::open(&path);
        db.conn
            .execute_batch("PRAGMA synchronous=NORMAL; BEGIN;")
            .expect("begin");
        let count = common::generate(&mut db, n);
        db.conn.execute_batch("COMMIT;").expect("commit");
        drop(db);
        println!(
            "{count} operations generated in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        let p = path.to_string_lossy().to_string();
        println!("  open+queries:  {}", run_child(&["--measure", &p]));
        println!("  writes:        {}", run_child(&["--writes", &p]));
    }
    let _ = std::fs::remove_dir_all(&root);
}
