//! Indexing: the repository's snapshots as index-snapshot operations in the history.

use crate::config::Repo;
use crate::model::{
    OpKind, OpSelector, Operation, OperationIndexSnapshot, OperationStatus, ResticSnapshot,
};
use crate::oplog::OpLog;
use std::collections::{HashMap, HashSet};

/// Records every snapshot of the repo not yet in the history (SUCCESS index-snapshot
/// operations, in the flow of the backup that made it when known) and marks snapshots gone
/// from the repo as forgotten. `snapshots` is the repo's complete current list.
pub fn index_into(
    oplog: &OpLog,
    repo: &Repo,
    snapshots: Vec<ResticSnapshot>,
    made_by: Option<(&str, i64)>,
) -> Result<(), String> {
    let sel = OpSelector {
        repo_guid: Some(repo.guid.clone()),
        kind: Some(OpKind::IndexSnapshot),
        ..Default::default()
    };
    // The repo's index-snapshot operations, read a batch at a time: memory follows the
    // snapshots, not the history.
    let known = oplog.select_ids(&sel, 0).map_err(|e| e.to_string())?;
    let live: HashMap<&str, &ResticSnapshot> =
        snapshots.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut indexed = HashSet::new();
    for mut op in known.chunks(256).flat_map(|ids| oplog.get_many(ids)) {
        let Some(ix) = &mut op.operation_index_snapshot else {
            continue;
        };
        indexed.insert(op.snapshot_id.clone());
        match live.get(op.snapshot_id.as_str()) {
            None if !ix.forgot => {
                ix.forgot = true;
                oplog.update(&mut op).map_err(|e| e.to_string())?;
            }
            // An entry built from a backup's report (no tree id): restic's own record
            // replaces it.
            Some(listed) if ix.snapshot.as_ref().is_some_and(|s| s.tree.is_empty()) => {
                let mut listed = (*listed).clone();
                let old = ix.snapshot.take();
                if listed.summary.is_none() {
                    listed.summary = old.and_then(|s| s.summary);
                }
                op.unix_time_start_ms = listed.unix_time_ms;
                op.unix_time_end_ms = listed.unix_time_ms;
                ix.snapshot = Some(listed);
                oplog.update(&mut op).map_err(|e| e.to_string())?;
            }
            _ => {}
        }
    }
    for snap in snapshots {
        if indexed.contains(&snap.id) {
            continue;
        }
        let flow_id = match made_by {
            Some((id, flow)) if id == snap.id => flow,
            _ => 0,
        };
        add_index_op(oplog, repo, snap, flow_id)?;
    }
    Ok(())
}

/// Records one new snapshot (the one a backup just made) unless the history has it already.
/// Reads only that snapshot's entries, not the repo's whole history.
pub fn index_one(
    oplog: &OpLog,
    repo: &Repo,
    snap: ResticSnapshot,
    flow_id: i64,
) -> Result<(), String> {
    let sel = OpSelector {
        repo_guid: Some(repo.guid.clone()),
        snapshot_id: Some(snap.id.clone()),
        kind: Some(OpKind::IndexSnapshot),
        ..Default::default()
    };
    let known = oplog.query(&sel, 0).map_err(|e| e.to_string())?;
    if known.iter().any(|o| o.operation_index_snapshot.is_some()) {
        return Ok(());
    }
    add_index_op(oplog, repo, snap, flow_id)
}

/// A plan's snapshots in a repo that the history knows and has not seen forgotten, as (start,
/// operation id) of their index-snapshot operations: from the index alone, no line read.
pub fn known_plan_snapshots(
    oplog: &OpLog,
    instance: &str,
    plan_id: &str,
    repo_guid: &str,
) -> Vec<(i64, i64)> {
    let sel = OpSelector {
        plan_id: Some(plan_id.to_string()),
        repo_guid: Some(repo_guid.to_string()),
        instance_id: Some(instance.to_string()),
        kind: Some(OpKind::IndexSnapshot),
        ..Default::default()
    };
    let mut known = Vec::new();
    oplog.walk_selected(&sel, |e| {
        if !e.forgot {
            known.push((e.start_ms, e.id));
        }
    });
    known
}

/// Marks the given snapshots (removed by a forget footrest ran) as forgotten in the history.
pub fn mark_forgotten(oplog: &OpLog, repo: &Repo, ids: &[String]) -> Result<(), String> {
    for id in ids {
        let sel = OpSelector {
            repo_guid: Some(repo.guid.clone()),
            snapshot_id: Some(id.clone()),
            kind: Some(OpKind::IndexSnapshot),
            ..Default::default()
        };
        for mut op in oplog.query(&sel, 0).map_err(|e| e.to_string())? {
            if let Some(ix) = &mut op.operation_index_snapshot
                && !ix.forgot
            {
                ix.forgot = true;
                oplog.update(&mut op).map_err(|e| e.to_string())?;
            }
        }
    }
    Ok(())
}

fn add_index_op(
    oplog: &OpLog,
    repo: &Repo,
    snap: ResticSnapshot,
    flow_id: i64,
) -> Result<(), String> {
    let tag = |prefix: &str| {
        snap.tags
            .iter()
            .find_map(|t| t.strip_prefix(prefix))
            .map(str::to_string)
            .unwrap_or_else(|| "_unassociated_".to_string())
    };
    let mut op = Operation {
        flow_id,
        repo_id: repo.id.clone(),
        repo_guid: repo.guid.clone(),
        plan_id: tag("plan:"),
        instance_id: tag("created-by:"),
        snapshot_id: snap.id.clone(),
        status: OperationStatus::Success,
        unix_time_start_ms: snap.unix_time_ms,
        unix_time_end_ms: snap.unix_time_ms,
        operation_index_snapshot: Some(OperationIndexSnapshot {
            snapshot: Some(snap),
            forgot: false,
        }),
        ..Default::default()
    };
    oplog.add(&mut op).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OperationBackup, OperationRunHook};

    fn snap(n: usize) -> ResticSnapshot {
        let plan = if n.is_multiple_of(3) { "q" } else { "p" };
        ResticSnapshot {
            id: format!("{n:064x}"),
            unix_time_ms: 1_000_000 + n as i64 * 1000,
            tree: "7".repeat(64),
            tags: vec![format!("plan:{plan}"), "created-by:host".into()],
            ..Default::default()
        }
    }

    /// The index step, the retention count and the parent lookup cost what they find: the
    /// repo's index-snapshot operations are read (the parent lookup reads one line, the count
    /// none), however many backups and hook runs lie around them.
    #[test]
    fn snapshot_lookups_read_only_index_snapshot_operations_however_long_the_history() {
        let dir = std::env::temp_dir().join(format!("footrest-ix-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = OpLog::open(&dir).unwrap();
        let guid = "a".repeat(64);
        let repo: Repo = serde_json::from_value(serde_json::json!({
            "id": "r", "uri": "/x", "guid": guid,
        }))
        .unwrap();
        let base = Operation {
            plan_id: "p".into(),
            repo_id: "r".into(),
            repo_guid: guid.clone(),
            instance_id: "host".into(),
            status: OperationStatus::Success,
            ..Default::default()
        };
        for i in 0..2000 {
            let mut backup = Operation {
                unix_time_start_ms: i,
                operation_backup: Some(OperationBackup::default()),
                ..base.clone()
            };
            log.add(&mut backup).unwrap();
            let mut hook = Operation {
                flow_id: backup.id,
                operation_run_hook: Some(OperationRunHook::default()),
                ..base.clone()
            };
            log.add(&mut hook).unwrap();
        }
        let snaps: Vec<ResticSnapshot> = (0..30).map(snap).collect();
        let lines = || log.stats().lines_read;

        let before = lines();
        index_into(&log, &repo, snaps[..25].to_vec(), None).unwrap();
        assert_eq!(lines() - before, 0, "nothing indexed yet: nothing to read");
        // Snapshot 0 is gone from the repo, 25..30 are new.
        let before = lines();
        index_into(&log, &repo, snaps[1..].to_vec(), None).unwrap();
        assert_eq!(
            lines() - before,
            25,
            "the 25 index-snapshot operations only"
        );
        let forgotten = log
            .query(
                &OpSelector {
                    snapshot_id: Some(snaps[0].id.clone()),
                    ..Default::default()
                },
                0,
            )
            .unwrap();
        assert!(
            forgotten[0]
                .operation_index_snapshot
                .as_ref()
                .unwrap()
                .forgot
        );

        let before = lines();
        let known = known_plan_snapshots(&log, "host", "p", &guid);
        assert_eq!(lines() - before, 0, "counted on the index");
        let want: Vec<usize> = (1..30).filter(|n| n % 3 != 0).collect();
        assert_eq!(known.len(), want.len());
        let newest = |log: &OpLog| {
            let (_, id) = known_plan_snapshots(log, "host", "p", &guid)
                .into_iter()
                .max()
                .unwrap();
            log.get(id).unwrap().unwrap().snapshot_id
        };
        let before = lines();
        assert_eq!(newest(&log), snaps[29].id);
        assert_eq!(lines() - before, 1, "the parent lookup reads one line");

        // Recording one snapshot again, or its forget, reads that snapshot's line alone.
        let before = lines();
        let count = log.stats().operations;
        index_one(&log, &repo, snaps[29].clone(), 0).unwrap();
        assert_eq!((lines() - before, log.stats().operations), (1, count));
        let before = lines();
        mark_forgotten(&log, &repo, std::slice::from_ref(&snaps[29].id)).unwrap();
        assert_eq!(lines() - before, 1);
        assert_eq!(newest(&log), snaps[28].id);
        drop(log);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
