//! Indexing: the repository's snapshots as index-snapshot operations in the history.

use crate::config::Repo;
use crate::model::{
    OpSelector, Operation, OperationIndexSnapshot, OperationStatus, ResticSnapshot,
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
        ..Default::default()
    };
    let known = oplog.query(&sel, 0).map_err(|e| e.to_string())?;
    let live: HashMap<&str, &ResticSnapshot> =
        snapshots.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut indexed = HashSet::new();
    for mut op in known {
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
        ..Default::default()
    };
    let known = oplog.query(&sel, 0).map_err(|e| e.to_string())?;
    if known.iter().any(|o| o.operation_index_snapshot.is_some()) {
        return Ok(());
    }
    add_index_op(oplog, repo, snap, flow_id)
}

/// Marks the given snapshots (removed by a forget footrest ran) as forgotten in the history.
pub fn mark_forgotten(oplog: &OpLog, repo: &Repo, ids: &[String]) -> Result<(), String> {
    for id in ids {
        let sel = OpSelector {
            repo_guid: Some(repo.guid.clone()),
            snapshot_id: Some(id.clone()),
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
