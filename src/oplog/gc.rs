//! Garbage collection of the history (docs/COMPATIBILITY.md §6), decided on the index alone.
//!
//! - A flow with an index-snapshot operation whose snapshot is still in the repo is kept whole
//!   (the UI browses snapshots through it, and indexing would otherwise add it again).
//! - A flow whose snapshots are all forgotten is deleted whole.
//! - Every other finished operation is grouped by (repo, plan, instance, operation type); each
//!   group keeps its newest operation always, never more than `keep_max`, and of the rest only
//!   those younger than `max_age`.
//! - Pending and running operations are never collected.

use super::index::{FORGOT, Index};
use crate::model::OpKind;
use std::collections::HashMap;

const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// What one GC run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    pub deleted: usize,
    pub kept: usize,
    /// Task logs of the deleted operations.
    pub logrefs: Vec<String>,
}

/// (keep_max, max_age_ms) for an operation type: stats 100/365 d, check 12/365 d, prune
/// 12/365 d, forget 30/30 d, others 100/30 d.
pub fn gc_limits(kind: OpKind) -> (usize, i64) {
    match kind {
        OpKind::Stats => (100, 365 * DAY_MS),
        OpKind::Check | OpKind::Prune => (12, 365 * DAY_MS),
        OpKind::Forget => (30, 30 * DAY_MS),
        _ => (100, 30 * DAY_MS),
    }
}

/// The ids GC deletes at `now_ms`.
pub fn select(index: &Index, now_ms: i64) -> Vec<i64> {
    // flow -> has a snapshot still in the repo
    let mut snapshot_flows: HashMap<i64, bool> = HashMap::new();
    for e in index.entries() {
        if index
            .key(e.group)
            .is_some_and(|k| k.kind == OpKind::IndexSnapshot)
        {
            *snapshot_flows.entry(e.flow_id).or_default() |= e.flags & FORGOT == 0;
        }
    }
    let mut doomed = Vec::new();
    let mut groups: HashMap<u32, Vec<(i64, i64)>> = HashMap::new();
    for e in index.entries() {
        match snapshot_flows.get(&e.flow_id) {
            Some(true) => continue,
            Some(false) => doomed.push(e.id),
            None if e.status().is_terminal() => {
                groups.entry(e.group).or_default().push((e.start_ms, e.id));
            }
            None => {}
        }
    }
    for (g, mut ops) in groups {
        let kind = index.key(g).map_or(OpKind::None, |k| k.kind);
        let (keep_max, max_age) = gc_limits(kind);
        ops.sort_unstable_by(|a, b| b.cmp(a));
        for (i, (start, id)) in ops.into_iter().enumerate() {
            if i > 0 && (i >= keep_max || start < now_ms.saturating_sub(max_age)) {
                doomed.push(id);
            }
        }
    }
    doomed.sort_unstable();
    doomed
}
