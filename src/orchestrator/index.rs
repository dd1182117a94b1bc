//! Indexing: the repository's snapshots as index-snapshot operations in the history.

use crate::config::Repo;
use crate::model::{
    OpSelector, Operation, OperationIndexSnapshot, OperationStatus, ResticSnapshot,
};
use crate::oplog::OpLog;
use std::collections::HashSet;

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
    let live: HashSet<&str> = snapshots.iter().map(|s| s.id.as_str()).collect();
    let mut indexed = HashSet::new();
    for mut op in known {
        let Some(ix) = &mut op.operation_index_snapshot else {
            continue;
        };
        indexed.insert(op.snapshot_id.clone());
        if !ix.forgot && !live.contains(op.snapshot_id.as_str()) {
            ix.forgot = true;
            oplog.update(&mut op).map_err(|e| e.to_string())?;
        }
    }
    for snap in snapshots {
        if indexed.contains(&snap.id) {
            continue;
        }
        let tag = |prefix: &str| {
            snap.tags
                .iter()
                .find_map(|t| t.strip_prefix(prefix))
                .map(str::to_string)
                .unwrap_or_else(|| "_unassociated_".to_string())
        };
        let flow_id = match made_by {
            Some((id, flow)) if id == snap.id => flow,
            _ => 0,
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
        oplog.add(&mut op).map_err(|e| e.to_string())?;
    }
    Ok(())
}
