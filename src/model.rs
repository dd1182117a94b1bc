//! Operation history types shared by the API, the operation log and the orchestrator.
//!
//! These are Backrest's `v1` protobuf messages (operations.proto, restic.proto) written once with
//! serde attributes that produce proto3 JSON (see `proto`). The operation log stores exactly this
//! JSON, one operation per line, so a user's history can be read with `jq`.

use crate::proto::{i64s, is_default, vec_i64s};
use crate::proto_enum;
use serde::{Deserialize, Serialize};

proto_enum!(
    /// OperationStatus (operations.proto).
    OperationStatus {
        Unknown = 0 => "STATUS_UNKNOWN",
        Pending = 1 => "STATUS_PENDING",
        InProgress = 2 => "STATUS_INPROGRESS",
        Success = 3 => "STATUS_SUCCESS",
        Error = 4 => "STATUS_ERROR",
        SystemCancelled = 5 => "STATUS_SYSTEM_CANCELLED",
        UserCancelled = 6 => "STATUS_USER_CANCELLED",
        Warning = 7 => "STATUS_WARNING",
    }
);

impl OperationStatus {
    /// A terminal status never changes again (except by a user's ClearHistory).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Success
                | Self::Error
                | Self::SystemCancelled
                | Self::UserCancelled
                | Self::Warning
        )
    }
}

/// A snapshot id as restic prints it: 8 to 64 hex digits (a short id or the full one), kept in
/// lower case. The one check every RPC and task that takes a snapshot id uses.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SnapshotId(String);

impl SnapshotId {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.is_empty() {
            return Err("snapshotId is required".into());
        }
        if !(8..=64).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!(
                "snapshotId {s:?} is not a snapshot id (8 to 64 hex digits)"
            ));
        }
        Ok(Self(s.to_ascii_lowercase()))
    }
}

impl std::ops::Deref for SnapshotId {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of the history: a backup, a forget, an indexed snapshot, ...
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Operation {
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub id: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default")]
    pub modno: i64,
    #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "flow_id")]
    pub flow_id: i64,
    #[serde(skip_serializing_if = "String::is_empty", alias = "repo_id")]
    pub repo_id: String,
    #[serde(skip_serializing_if = "String::is_empty", alias = "repo_guid")]
    pub repo_guid: String,
    #[serde(skip_serializing_if = "String::is_empty", alias = "plan_id")]
    pub plan_id: String,
    #[serde(skip_serializing_if = "String::is_empty", alias = "instance_id")]
    pub instance_id: String,
    #[serde(skip_serializing_if = "String::is_empty", alias = "snapshot_id")]
    pub snapshot_id: String,
    #[serde(skip_serializing_if = "is_default")]
    pub status: OperationStatus,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "unix_time_start_ms"
    )]
    pub unix_time_start_ms: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "unix_time_end_ms"
    )]
    pub unix_time_end_ms: i64,
    #[serde(skip_serializing_if = "String::is_empty", alias = "display_message")]
    pub display_message: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub logref: String,
    // oneof op
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_backup")]
    pub operation_backup: Option<OperationBackup>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        alias = "operation_index_snapshot"
    )]
    pub operation_index_snapshot: Option<OperationIndexSnapshot>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_forget")]
    pub operation_forget: Option<OperationForget>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_prune")]
    pub operation_prune: Option<OperationPrune>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_restore")]
    pub operation_restore: Option<OperationRestore>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_stats")]
    pub operation_stats: Option<OperationStats>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_run_hook")]
    pub operation_run_hook: Option<OperationRunHook>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "operation_check")]
    pub operation_check: Option<OperationCheck>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        alias = "operation_run_command"
    )]
    pub operation_run_command: Option<OperationRunCommand>,
}

/// The kind of an operation: which member of the `op` oneof is set.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpKind {
    None,
    Backup,
    IndexSnapshot,
    Forget,
    Prune,
    Restore,
    Stats,
    RunHook,
    Check,
    RunCommand,
}

impl OpKind {
    /// Every kind, numbered in the order of the proto's oneof, with 0 for none: backup, index
    /// snapshot, forget, prune, restore, stats, run hook, check, run command. The oplog's index
    /// stores these numbers.
    pub const NUMBERED: [OpKind; 10] = [
        OpKind::None,
        OpKind::Backup,
        OpKind::IndexSnapshot,
        OpKind::Forget,
        OpKind::Prune,
        OpKind::Restore,
        OpKind::Stats,
        OpKind::RunHook,
        OpKind::Check,
        OpKind::RunCommand,
    ];

    /// The kind from which `operation_*` members are present, in the oneof's order.
    pub fn from_present(present: [bool; 9]) -> OpKind {
        present
            .iter()
            .position(|p| *p)
            .map_or(OpKind::None, |i| OpKind::NUMBERED[i + 1])
    }
}

impl Operation {
    /// Every task log this operation names (its own and its output logs).
    pub fn logrefs(&self) -> impl Iterator<Item = &str> {
        [
            Some(self.logref.as_str()),
            self.operation_prune
                .as_ref()
                .map(|p| p.output_logref.as_str()),
            self.operation_check
                .as_ref()
                .map(|c| c.output_logref.as_str()),
            self.operation_run_command
                .as_ref()
                .map(|c| c.output_logref.as_str()),
        ]
        .into_iter()
        .flatten()
        .filter(|r| !r.is_empty())
    }

    pub fn kind(&self) -> OpKind {
        OpKind::from_present([
            self.operation_backup.is_some(),
            self.operation_index_snapshot.is_some(),
            self.operation_forget.is_some(),
            self.operation_prune.is_some(),
            self.operation_restore.is_some(),
            self.operation_stats.is_some(),
            self.operation_run_hook.is_some(),
            self.operation_check.is_some(),
            self.operation_run_command.is_some(),
        ])
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationBackup {
    #[serde(skip_serializing_if = "Option::is_none", alias = "last_status")]
    pub last_status: Option<BackupProgressEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<BackupProgressError>,
    #[serde(skip_serializing_if = "is_default", alias = "dry_run")]
    pub dry_run: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationIndexSnapshot {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<ResticSnapshot>,
    #[serde(skip_serializing_if = "is_default")]
    pub forgot: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationForget {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub forget: Vec<ResticSnapshot>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<crate::config::RetentionPolicy>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationPrune {
    #[serde(skip_serializing_if = "String::is_empty", alias = "output_logref")]
    pub output_logref: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationCheck {
    #[serde(skip_serializing_if = "String::is_empty", alias = "output_logref")]
    pub output_logref: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationRunCommand {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub command: String,
    #[serde(skip_serializing_if = "String::is_empty", alias = "output_logref")]
    pub output_logref: String,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "output_size_bytes"
    )]
    pub output_size_bytes: i64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationRestore {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub path: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none", alias = "last_status")]
    pub last_status: Option<RestoreProgressEntry>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationStats {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<RepoStats>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationRunHook {
    #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "parent_op")]
    pub parent_op: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub condition: String,
}

/// A snapshot as restic.proto describes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResticSnapshot {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "unix_time_ms"
    )]
    pub unix_time_ms: i64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub hostname: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub username: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub tree: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub parent: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SnapshotSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResticSnapshotList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub snapshots: Vec<ResticSnapshot>,
}

macro_rules! summary_struct {
    ($(#[$m:meta])* $name:ident { $($extra:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
        #[serde(default, rename_all = "camelCase")]
        pub struct $name {
            $($extra)*
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "files_new")]
            pub files_new: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "files_changed")]
            pub files_changed: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "files_unmodified")]
            pub files_unmodified: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "dirs_new")]
            pub dirs_new: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "dirs_changed")]
            pub dirs_changed: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "dirs_unmodified")]
            pub dirs_unmodified: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "data_blobs")]
            pub data_blobs: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "tree_blobs")]
            pub tree_blobs: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "data_added")]
            pub data_added: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "total_files_processed")]
            pub total_files_processed: i64,
            #[serde(with = "i64s", skip_serializing_if = "is_default", alias = "total_bytes_processed")]
            pub total_bytes_processed: i64,
            #[serde(skip_serializing_if = "is_default", alias = "total_duration")]
            pub total_duration: f64,
        }
    };
}

summary_struct!(
    /// The summary restic ≥ 0.17 stores in a snapshot.
    SnapshotSummary {}
);

summary_struct!(
    /// The `summary` line of `restic backup --json`, with the snapshot it made.
    BackupProgressSummary {
        #[serde(skip_serializing_if = "String::is_empty", alias = "snapshot_id")]
        pub snapshot_id: String,
    }
);

impl BackupProgressSummary {
    /// A backup's summary line: the snapshot summary and the id of the snapshot it made.
    pub fn of_snapshot(s: SnapshotSummary, snapshot_id: String) -> Self {
        Self {
            snapshot_id,
            files_new: s.files_new,
            files_changed: s.files_changed,
            files_unmodified: s.files_unmodified,
            dirs_new: s.dirs_new,
            dirs_changed: s.dirs_changed,
            dirs_unmodified: s.dirs_unmodified,
            data_blobs: s.data_blobs,
            tree_blobs: s.tree_blobs,
            data_added: s.data_added,
            total_files_processed: s.total_files_processed,
            total_bytes_processed: s.total_bytes_processed,
            total_duration: s.total_duration,
        }
    }

    /// The inverse of `of_snapshot`: what restic ≥ 0.17 stores in the snapshot.
    pub fn snapshot_summary(&self) -> SnapshotSummary {
        SnapshotSummary {
            files_new: self.files_new,
            files_changed: self.files_changed,
            files_unmodified: self.files_unmodified,
            dirs_new: self.dirs_new,
            dirs_changed: self.dirs_changed,
            dirs_unmodified: self.dirs_unmodified,
            data_blobs: self.data_blobs,
            tree_blobs: self.tree_blobs,
            data_added: self.data_added,
            total_files_processed: self.total_files_processed,
            total_bytes_processed: self.total_bytes_processed,
            total_duration: self.total_duration,
        }
    }
}

/// oneof entry { status, summary }.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackupProgressEntry {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<BackupProgressStatusEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<BackupProgressSummary>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackupProgressStatusEntry {
    #[serde(skip_serializing_if = "is_default", alias = "percent_done")]
    pub percent_done: f64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_files"
    )]
    pub total_files: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_bytes"
    )]
    pub total_bytes: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "files_done"
    )]
    pub files_done: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "bytes_done"
    )]
    pub bytes_done: i64,
    #[serde(skip_serializing_if = "Vec::is_empty", alias = "current_file")]
    pub current_file: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BackupProgressError {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub item: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub during: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub message: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RestoreProgressEntry {
    #[serde(skip_serializing_if = "String::is_empty", alias = "message_type")]
    pub message_type: String,
    #[serde(skip_serializing_if = "is_default", alias = "seconds_elapsed")]
    pub seconds_elapsed: f64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_bytes"
    )]
    pub total_bytes: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "bytes_restored"
    )]
    pub bytes_restored: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_files"
    )]
    pub total_files: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "files_restored"
    )]
    pub files_restored: i64,
    #[serde(skip_serializing_if = "is_default", alias = "percent_done")]
    pub percent_done: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RepoStats {
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_size"
    )]
    pub total_size: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_uncompressed_size"
    )]
    pub total_uncompressed_size: i64,
    #[serde(skip_serializing_if = "is_default", alias = "compression_ratio")]
    pub compression_ratio: f64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "total_blob_count"
    )]
    pub total_blob_count: i64,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "snapshot_count"
    )]
    pub snapshot_count: i64,
}

/// OpSelector: all given filters must match.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OpSelector {
    #[serde(with = "vec_i64s", skip_serializing_if = "Vec::is_empty")]
    pub ids: Vec<i64>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "instance_id")]
    pub instance_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "repo_guid")]
    pub repo_guid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "plan_id")]
    pub plan_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "snapshot_id")]
    pub snapshot_id: Option<String>,
    #[serde(
        with = "crate::proto::opt_i64s",
        skip_serializing_if = "Option::is_none",
        alias = "flow_id"
    )]
    pub flow_id: Option<i64>,
    #[serde(
        with = "crate::proto::opt_i64s",
        skip_serializing_if = "Option::is_none",
        alias = "modno_gte"
    )]
    pub modno_gte: Option<i64>,
    /// Every operation footrest keeps is its own (no multihost sync), so its original instance
    /// key id is empty: `""` matches every operation, any other value none.
    #[serde(
        skip_serializing_if = "Option::is_none",
        alias = "original_instance_keyid"
    )]
    pub original_instance_keyid: Option<String>,
    /// Not part of Backrest's selector: used by RemoveRepo to drop a repo's history by id.
    #[serde(skip)]
    pub repo_id: Option<String>,
    /// Not part of Backrest's selector: the kind of operation (evaluated on the index), for
    /// footrest's own lookups that need one kind out of a long history.
    #[serde(skip)]
    pub kind: Option<OpKind>,
    /// Not part of Backrest's selector: operations started at or after this time (ms),
    /// evaluated on the index.
    #[serde(skip)]
    pub started_from: Option<i64>,
    /// Not part of Backrest's selector: operations started before this time (ms), evaluated on
    /// the index.
    #[serde(skip)]
    pub started_before: Option<i64>,
}

impl OpSelector {
    pub fn matches(&self, op: &Operation) -> bool {
        (self.ids.is_empty() || self.ids.contains(&op.id))
            && self
                .instance_id
                .as_ref()
                .is_none_or(|v| *v == op.instance_id)
            && self.repo_guid.as_ref().is_none_or(|v| *v == op.repo_guid)
            && self.plan_id.as_ref().is_none_or(|v| *v == op.plan_id)
            && self
                .snapshot_id
                .as_ref()
                .is_none_or(|v| *v == op.snapshot_id)
            && self.flow_id.is_none_or(|v| v == op.flow_id)
            && self.modno_gte.is_none_or(|v| op.modno >= v)
            && self.repo_id.as_ref().is_none_or(|v| *v == op.repo_id)
            && self.kind.is_none_or(|k| k == op.kind())
            && self.started_from.is_none_or(|t| op.unix_time_start_ms >= t)
            && self
                .started_before
                .is_none_or(|t| op.unix_time_start_ms < t)
            && self.matches_own_instance()
    }

    /// The `originalInstanceKeyid` filter: footrest's operations all have an empty one.
    pub fn matches_own_instance(&self) -> bool {
        self.original_instance_keyid
            .as_deref()
            .is_none_or(str::is_empty)
    }

    /// The JSON keys of Backrest's OpSelector (proto3 JSON and original field names).
    pub const KEYS: &[&str] = &[
        "ids",
        "instanceId",
        "instance_id",
        "originalInstanceKeyid",
        "original_instance_keyid",
        "repoGuid",
        "repo_guid",
        "planId",
        "plan_id",
        "snapshotId",
        "snapshot_id",
        "flowId",
        "flow_id",
        "modnoGte",
        "modno_gte",
    ];

    pub fn is_empty(&self) -> bool {
        *self == OpSelector::default()
    }

    /// `ids` name operations exactly; combined with other filters they are refused.
    pub fn check(&self) -> Result<(), String> {
        let others = OpSelector {
            ids: Vec::new(),
            ..self.clone()
        };
        if !self.ids.is_empty() && !others.is_empty() {
            return Err("selector: ids cannot be combined with other filters".into());
        }
        Ok(())
    }
}

/// OperationEvent (GetOperationEvents): oneof keepAlive | created | updated | deleted.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationEvent {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<Empty>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_operations: Option<OperationList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_operations: Option<OperationList>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_operations: Option<Int64List>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OperationList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<Operation>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Int64List {
    #[serde(with = "vec_i64s", skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<i64>,
}

/// `types.StringValue`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StringValue {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub value: String,
}

/// `types.StringList`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StringList {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
}

/// `ScheduleTaskResponse` / `RunCommandResponse`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OperationIdResponse {
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "operation_id"
    )]
    pub operation_id: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_round_trips_as_proto3_json() {
        let op = Operation {
            id: 42,
            modno: 7,
            flow_id: 42,
            plan_id: "nightly".into(),
            status: OperationStatus::Success,
            unix_time_start_ms: 1_700_000_000_000,
            operation_backup: Some(OperationBackup {
                last_status: Some(BackupProgressEntry {
                    summary: Some(BackupProgressSummary {
                        snapshot_id: "ab".repeat(32),
                        data_added: 10,
                        total_duration: 1.5,
                        ..Default::default()
                    }),
                    status: None,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let json = serde_json::to_value(&op).unwrap();
        assert_eq!(json["id"], "42");
        assert_eq!(json["status"], "STATUS_SUCCESS");
        assert_eq!(
            json["operationBackup"]["lastStatus"]["summary"]["dataAdded"],
            "10"
        );
        assert!(
            json.get("snapshotId").is_none(),
            "empty strings are omitted"
        );
        let back: Operation = serde_json::from_value(json).unwrap();
        assert_eq!(back, op);
    }

    #[test]
    fn status_accepts_name_or_number() {
        let op: Operation = serde_json::from_str(r#"{"status":3}"#).unwrap();
        assert_eq!(op.status, OperationStatus::Success);
        let op: Operation = serde_json::from_str(r#"{"status":"STATUS_ERROR"}"#).unwrap();
        assert_eq!(op.status, OperationStatus::Error);
        assert!(serde_json::from_str::<Operation>(r#"{"status":"NOPE"}"#).is_err());
    }

    #[test]
    fn snake_case_input_is_accepted() {
        let sel: OpSelector =
            serde_json::from_str(r#"{"plan_id":"p","flow_id":"3","modno_gte":2}"#).unwrap();
        assert_eq!(sel.plan_id.as_deref(), Some("p"));
        assert_eq!(sel.flow_id, Some(3));
        assert_eq!(sel.modno_gte, Some(2));
    }

    #[test]
    fn selector_written_with_empty_optional_fields() {
        let sel = OpSelector {
            plan_id: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(serde_json::to_string(&sel).unwrap(), r#"{"planId":""}"#);
    }
}
