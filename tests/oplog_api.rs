//! The operation log's API: ids, modnos, queries, deletes, reopening, startup rules, locks.

use footrest::model::{OpSelector, Operation, OperationBackup, OperationStatus};
use footrest::oplog::{self, Change, OpLog};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("footrest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn backup(plan: &str, start: i64, status: OperationStatus) -> Operation {
    Operation {
        plan_id: plan.into(),
        repo_id: "repo1".into(),
        instance_id: "host".into(),
        status,
        unix_time_start_ms: start,
        operation_backup: Some(OperationBackup::default()),
        ..Default::default()
    }
}

#[test]
fn ids_modnos_and_flows_are_assigned() {
    let dir = temp_dir("ids");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    let mut a = backup("p", 10, OperationStatus::Success);
    log.add(&mut a).unwrap();
    assert_eq!((a.id, a.modno, a.flow_id), (1, 1, 1));
    let mut b = backup("p", 20, OperationStatus::Pending);
    b.flow_id = a.flow_id;
    log.add(&mut b).unwrap();
    assert_eq!((b.id, b.modno, b.flow_id), (2, 2, 1));
    b.status = OperationStatus::Success;
    log.update(&mut b).unwrap();
    assert_eq!(b.modno, 3);
    let mut missing = backup("p", 1, OperationStatus::Success);
    missing.id = 99;
    let err = log.update(&mut missing).unwrap_err();
    assert_eq!(err.to_string(), "operation 99 not found");
    assert_eq!(log.get(2).unwrap().unwrap(), b);
    drop(log);

    let log = OpLog::open(&dir.join("oplog")).unwrap();
    assert_eq!(log.get(2).unwrap().unwrap(), b);
    let mut c = backup("q", 5, OperationStatus::Success);
    log.add(&mut c).unwrap();
    assert_eq!((c.id, c.modno), (3, 4));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn queries_filter_and_keep_the_newest() {
    let dir = temp_dir("query");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    for i in 0..30 {
        let plan = if i % 3 == 0 { "a" } else { "b" };
        // Start times not in id order: the newest by start are not the highest ids.
        let mut op = backup(plan, 1000 - i * 7 % 13, OperationStatus::Success);
        log.add(&mut op).unwrap();
    }
    let all = log.query(&OpSelector::default(), 0).unwrap();
    assert_eq!(all.len(), 30);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let sel = OpSelector {
        plan_id: Some("a".into()),
        ..Default::default()
    };
    let a = log.query(&sel, 0).unwrap();
    assert_eq!(a.len(), 10);
    let last = log.query(&sel, 3).unwrap();
    let mut want = a.clone();
    want.sort_by_key(|o| (o.unix_time_start_ms, o.id));
    let mut want: Vec<i64> = want[want.len() - 3..].iter().map(|o| o.id).collect();
    want.sort();
    assert_eq!(last.iter().map(|o| o.id).collect::<Vec<_>>(), want);
    let since = log
        .query(
            &OpSelector {
                modno_gte: Some(28),
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(
        since.iter().map(|o| o.id).collect::<Vec<_>>(),
        vec![28, 29, 30]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn deletes_survive_reopening_and_ids_are_not_reused() {
    let dir = temp_dir("delete");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    for i in 0..5 {
        log.add(&mut backup("p", i, OperationStatus::Success))
            .unwrap();
    }
    assert_eq!(log.delete(&[5, 2, 42, 2]).unwrap(), vec![2, 5]);
    drop(log);
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    let ids: Vec<i64> = log
        .query(&OpSelector::default(), 0)
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    assert_eq!(ids, vec![1, 3, 4]);
    let mut op = backup("p", 9, OperationStatus::Success);
    log.add(&mut op).unwrap();
    assert_eq!(op.id, 6);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn startup_rules_delete_pending_and_fail_running() {
    let dir = temp_dir("recover");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    let mut pending = backup("p", 100, OperationStatus::Pending);
    let mut running = backup("p", 200, OperationStatus::InProgress);
    let mut done = backup("p", 50, OperationStatus::UserCancelled);
    log.add(&mut pending).unwrap();
    log.add(&mut running).unwrap();
    log.add(&mut done).unwrap();
    drop(log);
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    let failed = log.recover_interrupted().unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].id, running.id);
    assert_eq!(failed[0].status, OperationStatus::Error);
    assert_eq!(failed[0].display_message, oplog::INTERRUPTED_MESSAGE);
    assert_eq!(failed[0].unix_time_end_ms, 200);
    assert!(log.get(pending.id).unwrap().is_none());
    assert_eq!(log.get(done.id).unwrap().unwrap(), done);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn listeners_see_every_change() {
    let dir = temp_dir("listen");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    log.subscribe(Box::new(move |c: &Change| {
        s.lock().unwrap().push(c.clone())
    }));
    let mut op = backup("p", 1, OperationStatus::InProgress);
    log.add(&mut op).unwrap();
    op.status = OperationStatus::Success;
    log.update(&mut op).unwrap();
    log.delete(&[op.id]).unwrap();
    let seen = seen.lock().unwrap();
    assert!(matches!(&seen[0], Change::Created(v) if v[0].modno == 1));
    assert!(matches!(&seen[1], Change::Updated(v) if v[0].status == OperationStatus::Success));
    assert_eq!(seen[2], Change::Deleted(vec![op.id]));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_log_is_shared_between_threads() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<OpLog>();
}

#[test]
fn second_daemon_is_refused() {
    let dir = temp_dir("lock");
    let _held = oplog::lock_data_dir(&dir).unwrap();
    let err = oplog::lock_data_dir(&dir).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("another footrest is running on {}", dir.display())
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn reader_opens_while_the_writer_holds_the_log() {
    let dir = temp_dir("reader");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    log.add(&mut backup("p", 1, OperationStatus::Success))
        .unwrap();
    let reader = OpLog::open_read_only(&dir.join("oplog")).unwrap();
    assert_eq!(reader.query(&OpSelector::default(), 0).unwrap().len(), 1);
    assert!(
        reader
            .add(&mut backup("p", 1, OperationStatus::Success))
            .is_err()
    );
    assert!(OpLog::open(&dir.join("oplog")).is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

fn dir_bytes(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|d| d.path().extension().is_some_and(|e| e == "ndjson"))
        .map(|d| d.metadata().unwrap().len())
        .sum()
}

#[test]
fn progress_is_served_from_memory_and_written_at_a_bounded_rate() {
    use footrest::oplog::Options;
    let dir = temp_dir("progress");
    let oplog_dir = dir.join("oplog");
    let opts = Options {
        progress_interval: std::time::Duration::from_secs(3600),
        ..Options::default()
    };
    let log = OpLog::open_with(&oplog_dir, opts.clone()).unwrap();
    let mut op = backup("p", 1, OperationStatus::InProgress);
    log.add(&mut op).unwrap();
    let size = dir_bytes(&oplog_dir);
    for i in 0..500 {
        op.display_message = format!("{i} files");
        log.update_progress(&mut op).unwrap();
    }
    assert_eq!(dir_bytes(&oplog_dir), size, "progress lines were written");
    assert_eq!(op.modno, 501);
    assert_eq!(log.get(op.id).unwrap().unwrap(), op);
    let sel = OpSelector {
        modno_gte: Some(501),
        ..Default::default()
    };
    assert_eq!(log.query(&sel, 0).unwrap(), vec![op.clone()]);
    // A reader sees what is on disk: the operation as it started.
    let reader = OpLog::open_read_only(&oplog_dir).unwrap();
    assert_eq!(reader.get(op.id).unwrap().unwrap().modno, 1);
    drop(reader);
    op.status = OperationStatus::Success;
    log.update(&mut op).unwrap();
    assert!(dir_bytes(&oplog_dir) > size);
    drop(log);
    let log = OpLog::open_with(&oplog_dir, opts).unwrap();
    assert_eq!(log.get(op.id).unwrap().unwrap(), op);
    let mut next = backup("p", 2, OperationStatus::Success);
    log.add(&mut next).unwrap();
    assert_eq!(next.modno, op.modno + 1, "modnos never go back");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn snapshot_and_flow_queries() {
    use footrest::model::OperationIndexSnapshot;
    let dir = temp_dir("snapq");
    let log = OpLog::open(&dir.join("oplog")).unwrap();
    let mut b = backup("p", 10, OperationStatus::Success);
    log.add(&mut b).unwrap();
    let mut snap = Operation {
        flow_id: b.flow_id,
        plan_id: "p".into(),
        snapshot_id: "ab".repeat(32),
        status: OperationStatus::Success,
        unix_time_start_ms: 11,
        operation_index_snapshot: Some(OperationIndexSnapshot::default()),
        ..Default::default()
    };
    log.add(&mut snap).unwrap();
    log.add(&mut backup("q", 12, OperationStatus::Success))
        .unwrap();
    let by_snap = log
        .query(
            &OpSelector {
                snapshot_id: Some("ab".repeat(32)),
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(by_snap, vec![snap.clone()]);
    let by_flow = log
        .query(
            &OpSelector {
                flow_id: Some(b.flow_id),
                ..Default::default()
            },
            0,
        )
        .unwrap();
    assert_eq!(by_flow, vec![b, snap]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn ops_cli_lists_filters_and_explains() {
    let dir = temp_dir("cli");
    {
        let log = OpLog::open(&dir.join("oplog")).unwrap();
        for i in 0..5 {
            let mut op = backup(
                if i % 2 == 0 { "even" } else { "odd" },
                1_700_000_000_000 + i * 60_000,
                OperationStatus::Success,
            );
            op.unix_time_end_ms = op.unix_time_start_ms + 90_000;
            op.display_message = format!("run {i}");
            log.add(&mut op).unwrap();
        }
    }
    let run = |args: &[&str]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        oplog::ops_cli(&args, &dir, &mut out).map(|()| String::from_utf8(out).unwrap())
    };
    let table = run(&[]).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 6);
    assert!(
        lines[0].starts_with("ID  FLOW  START (UTC)"),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].contains("2023-11-14 22:13:20  1m30s  SUCCESS  backup  even  repo1"),
        "{}",
        lines[1]
    );
    let json = run(&["--plan", "even", "--last", "2", "--json"]).unwrap();
    let ids: Vec<i64> = json
        .lines()
        .map(|l| serde_json::from_str::<Operation>(l).unwrap().id)
        .collect();
    assert_eq!(ids, vec![3, 5]);
    assert_eq!(
        run(&["--modno-gte", "5", "--json"])
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert_eq!(
        run(&["--flow", "zz"]).unwrap_err(),
        "--flow: \"zz\" is not a number"
    );
    let other = temp_dir("cli-empty");
    let mut out = Vec::new();
    let err = oplog::ops_cli(&[], &other, &mut out).unwrap_err();
    assert_eq!(
        err,
        format!("no operation log in {}", other.join("oplog").display())
    );
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

mod gc {
    use super::*;
    use footrest::model::{
        OperationCheck, OperationForget, OperationIndexSnapshot, OperationRunHook, OperationStats,
    };

    const DAY: i64 = 24 * 3600 * 1000;
    const NOW: i64 = 1_800_000_000_000;

    fn op(plan: &str, age_days: f64, status: OperationStatus) -> Operation {
        Operation {
            plan_id: plan.into(),
            repo_id: "r".into(),
            instance_id: "i".into(),
            status,
            unix_time_start_ms: NOW - (age_days * DAY as f64) as i64,
            ..Default::default()
        }
    }

    #[test]
    fn gc_keeps_exactly_the_spec_limits() {
        let dir = temp_dir("gc");
        let log = OpLog::open(&dir.join("oplog")).unwrap();
        let mut keep = Vec::new();
        let mut add = |mut o: Operation, kept: bool| -> Operation {
            log.add(&mut o).unwrap();
            if kept {
                keep.push(o.id);
            }
            o
        };
        // Backups (others: 100 / 30 d): 150 recent -> the 100 newest.
        for i in 0..150 {
            let mut o = op("a", 20.0 - i as f64 * 0.1, OperationStatus::Success);
            o.operation_backup = Some(OperationBackup::default());
            add(o, i >= 50);
        }
        // 10 old backups of plan b -> only the newest of them.
        for i in 0..10 {
            let mut o = op("b", 100.0 - i as f64, OperationStatus::Error);
            o.operation_backup = Some(OperationBackup::default());
            add(o, i == 9);
        }
        // Checks (12 / 365 d): 20 within a year -> 12; 3 older -> none.
        for i in 0..23 {
            let mut o = op("", 400.0 - i as f64 * 17.0, OperationStatus::Success);
            o.operation_check = Some(OperationCheck::default());
            add(o, i >= 11);
        }
        // Stats (100 / 365 d): 50 at 200 days -> all.
        for _ in 0..50 {
            let mut o = op("", 200.0, OperationStatus::Success);
            o.operation_stats = Some(OperationStats::default());
            add(o, true);
        }
        // Forgets (30 / 30 d): 40 within 10 days -> 30.
        for i in 0..40 {
            let mut o = op("a", 10.0 - i as f64 * 0.1, OperationStatus::Success);
            o.operation_forget = Some(OperationForget::default());
            add(o, i >= 10);
        }
        // A two-year-old flow whose snapshot is still in the repo: kept whole.
        let mut b = op("c", 700.0, OperationStatus::Success);
        b.operation_backup = Some(OperationBackup::default());
        let b = add(b, true);
        let mut s = op("c", 700.0, OperationStatus::Success);
        s.flow_id = b.flow_id;
        s.snapshot_id = "1".repeat(64);
        s.operation_index_snapshot = Some(OperationIndexSnapshot::default());
        add(s, true);
        // A recent flow whose snapshot was forgotten: deleted whole, hooks included.
        let mut b = op("c", 1.0, OperationStatus::Success);
        b.operation_backup = Some(OperationBackup::default());
        let b = add(b, false);
        let mut h = op("c", 1.0, OperationStatus::Success);
        h.flow_id = b.flow_id;
        h.operation_run_hook = Some(OperationRunHook::default());
        add(h, false);
        let mut s = op("c", 1.0, OperationStatus::Success);
        s.flow_id = b.flow_id;
        s.snapshot_id = "2".repeat(64);
        s.operation_index_snapshot = Some(OperationIndexSnapshot {
            forgot: true,
            ..Default::default()
        });
        add(s, false);
        // Pending and running operations are never collected, however old.
        for st in [OperationStatus::Pending, OperationStatus::InProgress] {
            for _ in 0..3 {
                let mut o = op("a", 900.0, st);
                o.operation_backup = Some(OperationBackup::default());
                add(o, true);
            }
        }
        // The same plan in another repo is another group.
        let mut o = op("a", 300.0, OperationStatus::Success);
        o.repo_id = "other".into();
        o.operation_backup = Some(OperationBackup::default());
        add(o, true);

        let total = log.stats().operations;
        let report = log.gc(NOW).unwrap();
        let left: Vec<i64> = log
            .query(&OpSelector::default(), 0)
            .unwrap()
            .iter()
            .map(|o| o.id)
            .collect();
        keep.sort();
        assert_eq!(left, keep);
        assert_eq!(report.deleted, total - keep.len());
        assert_eq!(report.kept, keep.len());
        assert_eq!(
            log.gc(NOW).unwrap().deleted,
            0,
            "a second run changes nothing"
        );
        drop(log);
        let log = OpLog::open(&dir.join("oplog")).unwrap();
        assert_eq!(log.stats().operations, keep.len());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn a_compaction_cut_short_before_removing_old_segments_loses_and_revives_nothing() {
    use footrest::oplog::Options;
    let dir = temp_dir("compact-crash");
    let oplog_dir = dir.join("oplog");
    let opts = Options {
        segment_bytes: 4 << 10,
        sync: false,
        ..Options::default()
    };
    let log = OpLog::open_with(&oplog_dir, opts.clone()).unwrap();
    let mut ops = Vec::new();
    for i in 0..60 {
        let mut op = backup("p", i, OperationStatus::InProgress);
        op.display_message = "x".repeat(100);
        log.add(&mut op).unwrap();
        ops.push(op);
    }
    for op in ops.iter_mut().step_by(2) {
        op.status = OperationStatus::Success;
        log.update(op).unwrap();
    }
    // Deleted: their lines stay in old segments; the tombstones go with compaction.
    let deleted: Vec<i64> = ops.iter().skip(1).step_by(3).map(|o| o.id).collect();
    log.delete(&deleted).unwrap();
    let want = log.query(&OpSelector::default(), 0).unwrap();
    let before: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&oplog_dir)
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    log.compact().unwrap();
    assert_eq!(log.query(&OpSelector::default(), 0).unwrap(), want);
    drop(log);
    // Put back every old segment compaction removed, as if it had died before the unlinks.
    let mut restored = 0;
    for (p, data) in &before {
        if !p.exists() {
            std::fs::write(p, data).unwrap();
            restored += 1;
        }
    }
    assert!(restored > 0);
    let _ = std::fs::remove_file(oplog_dir.join("index.ckpt"));
    let log = OpLog::open_with(&oplog_dir, opts).unwrap();
    assert_eq!(log.query(&OpSelector::default(), 0).unwrap(), want);
    assert_eq!(log.stats().damaged_lines, 0);
    drop(log);
    for (p, _) in &before {
        assert!(
            !p.exists() || std::fs::read(p).unwrap().starts_with(b"{\"counters\""),
            "{} left behind",
            p.display()
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
