//! The operation log against a plain in-memory model: random adds, updates, progress, deletes,
//! reopenings (with and without the checkpoint) and compactions; every query must agree.

use footrest::model::{
    OpSelector, Operation, OperationBackup, OperationForget, OperationIndexSnapshot,
    OperationStatus,
};
use footrest::oplog::{OpLog, Options};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

mod support;
use support::Rng;

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("footrest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn random_op(r: &mut Rng) -> Operation {
    let mut op = Operation {
        plan_id: format!("plan{}", r.below(4)),
        repo_id: format!("repo{}", r.below(2)),
        instance_id: "host".into(),
        unix_time_start_ms: 1_000_000 + r.below(5000) as i64,
        status: [
            OperationStatus::Pending,
            OperationStatus::InProgress,
            OperationStatus::Success,
            OperationStatus::Error,
        ][r.below(4) as usize],
        display_message: "x".repeat(r.below(300) as usize),
        ..Default::default()
    };
    match r.below(3) {
        0 => op.operation_backup = Some(OperationBackup::default()),
        1 => {
            op.snapshot_id = format!("{:016x}", r.next());
            op.operation_index_snapshot = Some(OperationIndexSnapshot::default());
        }
        _ => op.operation_forget = Some(OperationForget::default()),
    }
    op
}

fn opts() -> Options {
    Options {
        segment_bytes: 16 << 10,
        progress_interval: Duration::from_secs(3600),
        sync: false,
        // Scans at open check the checksums beside them, whatever their size.
        checks_beside_from: 0,
    }
}

fn check(log: &OpLog, model: &BTreeMap<i64, Operation>, r: &mut Rng) {
    let all: Vec<Operation> = model.values().cloned().collect();
    assert_eq!(log.query(&OpSelector::default(), 0).unwrap(), all);
    let some_flow = all
        .get(r.below(all.len().max(1) as u64) as usize)
        .map(|o| o.flow_id);
    let some_snap = all
        .iter()
        .rev()
        .find(|o| !o.snapshot_id.is_empty())
        .map(|o| o.snapshot_id.clone());
    let max_modno = all.iter().map(|o| o.modno).max().unwrap_or(0);
    let sels = [
        OpSelector {
            plan_id: Some("plan1".into()),
            ..Default::default()
        },
        OpSelector {
            repo_id: Some("repo0".into()),
            plan_id: Some("plan2".into()),
            ..Default::default()
        },
        OpSelector {
            flow_id: some_flow,
            ..Default::default()
        },
        OpSelector {
            modno_gte: Some(max_modno - 20),
            ..Default::default()
        },
        OpSelector {
            snapshot_id: some_snap,
            ..Default::default()
        },
    ];
    for sel in &sels {
        for last_n in [0usize, 1, 7] {
            let mut want: Vec<Operation> = all.iter().filter(|o| sel.matches(o)).cloned().collect();
            if last_n > 0 && want.len() > last_n {
                want.sort_by_key(|o| (o.unix_time_start_ms, o.id));
                want.drain(..want.len() - last_n);
                want.sort_by_key(|o| o.id);
            }
            assert_eq!(
                log.query(sel, last_n).unwrap(),
                want,
                "{sel:?} last {last_n}"
            );
        }
    }
}

#[test]
fn random_histories_agree_with_the_model() {
    let dir = temp_dir("model");
    let oplog_dir = dir.join("oplog");
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut model: BTreeMap<i64, Operation> = BTreeMap::new();
    let mut log = OpLog::open_with(&oplog_dir, opts()).unwrap();
    for step in 0..3000 {
        match r.below(100) {
            0..=39 => {
                let mut op = random_op(&mut r);
                if r.below(3) == 0 && !model.is_empty() {
                    let ids: Vec<i64> = model.keys().copied().collect();
                    op.flow_id = model[&ids[r.below(ids.len() as u64) as usize]].flow_id;
                }
                log.add(&mut op).unwrap();
                model.insert(op.id, op);
            }
            40..=64 if !model.is_empty() => {
                let ids: Vec<i64> = model.keys().copied().collect();
                let mut op = model[&ids[r.below(ids.len() as u64) as usize]].clone();
                op.display_message = format!("update {step}");
                op.status = OperationStatus::Success;
                if let Some(s) = op.operation_index_snapshot.as_mut() {
                    s.forgot = r.below(2) == 0;
                }
                log.update(&mut op).unwrap();
                model.insert(op.id, op);
            }
            65..=79 if !model.is_empty() => {
                let ids: Vec<i64> = model.keys().copied().collect();
                let mut op = model[&ids[r.below(ids.len() as u64) as usize]].clone();
                op.display_message = format!("progress {step}");
                log.update_progress(&mut op).unwrap();
                model.insert(op.id, op);
            }
            80..=89 if !model.is_empty() => {
                let ids: Vec<i64> = model.keys().copied().collect();
                let del: Vec<i64> = (0..1 + r.below(3))
                    .map(|_| ids[r.below(ids.len() as u64) as usize])
                    .collect();
                let gone = log.delete(&del).unwrap();
                for id in &gone {
                    assert!(model.remove(id).is_some());
                }
            }
            90..=93 => {
                drop(log);
                if r.below(2) == 0 {
                    let _ = std::fs::remove_file(oplog_dir.join("index.ckpt"));
                }
                log = OpLog::open_with(&oplog_dir, opts()).unwrap();
            }
            94 => log.compact().unwrap(),
            _ => check(&log, &model, &mut r),
        }
    }
    check(&log, &model, &mut r);
    let stats = log.stats();
    eprintln!("{stats:?}");
    assert_eq!(stats.damaged_lines, 0);
    assert_eq!(stats.operations, model.len());
    drop(log);
    let reader = OpLog::open_read_only(&oplog_dir).unwrap();
    check(&reader, &model, &mut r);
    let _ = std::fs::remove_dir_all(&dir);
}
