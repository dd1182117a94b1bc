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
