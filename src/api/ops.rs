//! RPCs that start or clear operations and summarize them: Restore, RunCommand, ClearHistory,
//! GetSummaryDashboard. Each validates its whole request before anything is queued, run or
//! deleted.

use super::browse::{clean_path, snapshot_id};
use super::connect::{decode, encode};
use super::{ApiError, App};
use crate::config::valid_id;
use crate::model::{OpSelector, OperationIdResponse};
use crate::orchestrator::RestoreSpec;
use serde::Deserialize;
use serde_json::json;
use std::path::{Component, Path, PathBuf};

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RestoreRequest {
    #[serde(alias = "plan_id")]
    plan_id: String,
    #[serde(alias = "repo_id")]
    repo_id: String,
    #[serde(alias = "snapshot_id")]
    snapshot_id: String,
    path: String,
    target: String,
}

/// The default target: `$HOME/Downloads/restic-restore-<local time>`, as Backrest.
fn default_target() -> Result<PathBuf, ApiError> {
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ApiError::invalid("target is required (HOME is not set for footrest)"))?;
    // Formatted by hand: jiff's strftime costs tens of KB of binary for this one name.
    let t = jiff::Timestamp::now()
        .to_zoned_datetime(crate::schedule::local_time_zone())
        .datetime();
    let stamp = format!(
        "{:04}-{:02}-{:02}T{:02}-{:02}-{:02}",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    );
    Ok(Path::new(&home)
        .join("Downloads")
        .join(format!("restic-restore-{stamp}")))
}

/// `path` with `.` dropped and every existing prefix resolved through symlinks, so that a
/// link cannot hide that a target lies inside another directory.
fn resolved(path: &Path) -> PathBuf {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while std::fs::symlink_metadata(&existing).is_err() {
        match (existing.file_name(), existing.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                existing = parent.to_path_buf();
            }
            _ => break,
        }
    }
    let mut out = existing.canonicalize().unwrap_or(existing);
    for name in rest.into_iter().rev() {
        out.push(name);
    }
    out
}

/// The target of a restore: absolute, without `..`, not there yet, outside the data dir.
fn restore_target(app: &App, raw: &str) -> Result<PathBuf, ApiError> {
    let target = if raw.trim().is_empty() {
        default_target()?
    } else {
        PathBuf::from(raw)
    };
    if raw.contains('\0') {
        return Err(ApiError::invalid("target must not contain NUL"));
    }
    if !target.is_absolute() {
        return Err(ApiError::invalid(format!(
            "target {raw:?} must be an absolute path"
        )));
    }
    if target.components().any(|c| c == Component::ParentDir) {
        return Err(ApiError::invalid(format!(
            "target {raw:?} must not contain \"..\""
        )));
    }
    if std::fs::symlink_metadata(&target).is_ok() {
        return Err(ApiError::precondition(format!(
            "target directory {} already exists",
            target.display()
        )));
    }
    let data = resolved(&app.data_dir);
    if resolved(&target).starts_with(&data) {
        return Err(ApiError::invalid(format!(
            "target {} is inside footrest's data directory {}",
            target.display(),
            app.data_dir.display()
        )));
    }
    Ok(target)
}

pub fn restore(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: RestoreRequest = decode(body)?;
    if r.repo_id.is_empty() {
        return Err(ApiError::invalid("repoId is required"));
    }
    if !r.plan_id.is_empty() && !valid_id(&r.plan_id) {
        return Err(ApiError::invalid(format!(
            "planId {:?} is not a valid id",
            r.plan_id
        )));
    }
    let snapshot = snapshot_id(&r.snapshot_id)?;
    let path = clean_path("path", &r.path)?;
    if app.config.get().repo(&r.repo_id).is_none() {
        return Err(ApiError::not_found(format!(
            "repo \"{}\" not found",
            r.repo_id
        )));
    }
    let target = restore_target(app, &r.target)?;
    let id = app.orchestrator.enqueue_restore(RestoreSpec {
        repo_id: r.repo_id,
        plan_id: r.plan_id,
        snapshot_id: snapshot,
        path,
        target,
    })?;
    encode(&OperationIdResponse { operation_id: id })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct RunCommandRequest {
    #[serde(alias = "repo_id")]
    repo_id: String,
    command: String,
}

pub fn run_command(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: RunCommandRequest = decode(body)?;
    if r.repo_id.is_empty() {
        return Err(ApiError::invalid("repoId is required"));
    }
    if r.command.trim().is_empty() {
        return Err(ApiError::invalid("command is required"));
    }
    let id = app.orchestrator.run_command(&r.repo_id, &r.command)?;
    encode(&OperationIdResponse { operation_id: id })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ClearHistoryRequest {
    selector: Option<OpSelector>,
    #[serde(alias = "only_failed")]
    only_failed: bool,
}

/// Deletes the matching finished operations and their logs. Pending and running operations
/// are kept (their tasks still write to them). The request is checked strictly before anything
/// is deleted: it must be an object whose keys are known, with a selector that sets at least
/// one known field (as Backrest, "empty selector" otherwise), so a typo never clears the whole
/// history.
pub fn clear_history(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    check_clear_history(body)?;
    let r: ClearHistoryRequest = decode(body)?;
    let sel = r.selector.unwrap_or_default();
    sel.check().map_err(ApiError::invalid)?;
    let ops = app
        .oplog
        .query(&sel, 0)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let doomed: Vec<_> = ops
        .into_iter()
        .filter(|o| o.status.is_terminal())
        .filter(|o| !r.only_failed || o.status == crate::model::OperationStatus::Error)
        .collect();
    let ids: Vec<i64> = doomed.iter().map(|o| o.id).collect();
    app.oplog
        .delete(&ids)
        .map_err(|e| ApiError::internal(format!("deleting operations: {e}")))?;
    for op in &doomed {
        let refs = [
            Some(&op.logref),
            op.operation_prune.as_ref().map(|p| &p.output_logref),
            op.operation_check.as_ref().map(|c| &c.output_logref),
            op.operation_run_command.as_ref().map(|c| &c.output_logref),
        ];
        for r in refs.into_iter().flatten().filter(|r| !r.is_empty()) {
            app.logs.remove(r);
        }
    }
    log::info!("ClearHistory: deleted {} operation(s)", ids.len());
    encode(&json!({}))
}

pub fn summary_dashboard(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let _: serde_json::Value = decode(body)?;
    let config = app.config.get();
    let tz = crate::schedule::local_time_zone();
    let now = crate::util::now_ms();
    let (ops, counts) = crate::dashboard::gather(&app.oplog, now, &tz);
    let (repo_summaries, plan_summaries) =
        crate::dashboard::summarize(&config, &ops, &counts, now, &tz);
    encode(&crate::dashboard::SummaryDashboardResponse {
        repo_summaries,
        plan_summaries,
        config_path: app.config.path().display().to_string(),
        data_path: app.data_dir.display().to_string(),
    })
}

/// The shape checks of a ClearHistory request (see `clear_history`).
fn check_clear_history(body: &[u8]) -> Result<(), ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    let v: serde_json::Value = crate::util::from_json(text)
        .map_err(|e| ApiError::invalid(format!("invalid request body: {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::invalid("request must be a JSON object"))?;
    if let Some(k) = obj
        .keys()
        .find(|k| !["selector", "onlyFailed", "only_failed"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!(
            "unknown field \"{k}\" in ClearHistory request"
        )));
    }
    let sel = match obj.get("selector") {
        None | Some(serde_json::Value::Null) => return Err(ApiError::invalid("empty selector")),
        Some(serde_json::Value::Object(m)) => m,
        Some(_) => return Err(ApiError::invalid("selector must be an object")),
    };
    if let Some(k) = sel.keys().find(|k| !OpSelector::KEYS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!(
            "unknown field \"{k}\" in selector"
        )));
    }
    let set = sel.iter().any(|(k, v)| match v {
        serde_json::Value::Null => false,
        // An empty id list selects nothing in proto3 JSON (repeated fields have no presence).
        serde_json::Value::Array(a) => !(k == "ids" && a.is_empty()),
        _ => true,
    });
    if !set {
        return Err(ApiError::invalid("empty selector"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolving_follows_links_of_the_existing_prefix() {
        let dir = std::env::temp_dir().join(format!("footrest-ops-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        std::os::unix::fs::symlink(dir.join("data"), dir.join("alias")).unwrap();
        let r = resolved(&dir.join("alias/new/x"));
        assert!(
            r.starts_with(resolved(&dir.join("data"))),
            "{}",
            r.display()
        );
        assert!(r.ends_with("new/x"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
