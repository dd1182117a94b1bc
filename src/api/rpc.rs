//! The RPC handlers: decode the request message, validate, act, encode the answer.

use super::connect::{decode, encode};
use super::{ApiError, App, Code, respond_unary};
use crate::config::{Config, Repo, valid_id};
use crate::model::{OpSelector, Operation, OperationIdResponse, ResticSnapshotList, SnapshotId};
use crate::orchestrator::{Task, priority};
use crate::proto::{i64s, is_default};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use tiny_http::Request;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Service {
    Backrest,
    Authentication,
    /// footrest's own RPCs, which Backrest does not have.
    Footrest,
}

impl Service {
    /// The service and method an RPC path names (`/v1.Backrest/GetConfig`).
    pub fn from_path(path: &str) -> Option<(Service, &str)> {
        let (service, method) = path.strip_prefix("/v1.")?.split_once('/')?;
        let service = match service {
            "Backrest" => Service::Backrest,
            "Authentication" => Service::Authentication,
            "Footrest" => Service::Footrest,
            _ => return None,
        };
        Some((service, method))
    }
}

/// Every method footrest answers, per service. The router and the auth checks use this list.
pub const BACKREST_METHODS: &[&str] = &[
    "GetConfig",
    "SetConfig",
    "AddRepo",
    "RemoveRepo",
    "CheckRepoExists",
    "Backup",
    "GetOperations",
    "ListSnapshots",
    "Cancel",
    "DoRepoTask",
    "Forget",
    "Restore",
    "GetOperationEvents",
    "ListSnapshotFiles",
    "GetLogs",
    "RunCommand",
    "GetDownloadURL",
    "ClearHistory",
    "PathAutocomplete",
    "GetSummaryDashboard",
];

/// Backrest methods footrest does not answer yet: 501 unimplemented rather than 404.
pub const BACKREST_PENDING: &[&str] = &[];

/// The Authentication service's methods (open without credentials).
pub const AUTH_METHODS: &[&str] = &["Login", "HashPassword"];

/// footrest's own service (`/v1.Footrest/…`), for its web UI; credentials as for Backrest's.
pub const FOOTREST_METHODS: &[&str] = &[
    "PreviewSchedule",
    "TestHook",
    "CreateApiKey",
    "ListApiKeys",
    "RevokeApiKey",
];

pub fn exists(service: Service, method: &str) -> bool {
    match service {
        Service::Backrest => {
            BACKREST_METHODS.contains(&method) || BACKREST_PENDING.contains(&method)
        }
        Service::Authentication => AUTH_METHODS.contains(&method),
        Service::Footrest => FOOTREST_METHODS.contains(&method),
    }
}

/// `restricted`: the caller is an API key below `admin`, whose GetConfig hides secrets.
pub fn dispatch(
    app: &Arc<App>,
    req: Request,
    service: Service,
    method: &str,
    body: &[u8],
    restricted: bool,
) {
    match (service, method) {
        (Service::Backrest, "Backup") => return backup(app, req, body),
        (Service::Backrest, "DoRepoTask") => return do_repo_task(app, req, body),
        (Service::Backrest, "Forget") => return forget(app, req, body),
        (Service::Backrest, "GetOperations") => return get_operations(app, req, body),
        _ => {}
    }
    match (service, method) {
        (Service::Authentication, "Login") => return super::auth::login(app, req, body),
        (Service::Authentication, "HashPassword") => {
            return super::auth::hash_password(app, req, body);
        }
        _ => {}
    }
    let result = match (service, method) {
        (Service::Backrest, "GetConfig") => decode::<Value>(body).and_then(|_| {
            let c = current_config(app).sanitized();
            encode(&if restricted { c.without_secrets() } else { c })
        }),
        (Service::Backrest, "SetConfig") => set_config(app, body),
        (Service::Backrest, "AddRepo") => add_repo(app, body),
        (Service::Backrest, "RemoveRepo") => remove_repo(app, body),
        (Service::Backrest, "CheckRepoExists") => check_repo_exists(app, body),
        (Service::Backrest, "ListSnapshots") => list_snapshots(app, body),
        (Service::Backrest, "Cancel") => cancel(app, body),
        (Service::Backrest, "ListSnapshotFiles") => super::browse::list_snapshot_files(app, body),
        (Service::Backrest, "PathAutocomplete") => super::browse::path_autocomplete(body),
        (Service::Backrest, "GetDownloadURL") => super::browse::get_download_url(app, body),
        (Service::Backrest, "Restore") => super::ops::restore(app, body),
        (Service::Backrest, "RunCommand") => super::ops::run_command(app, body),
        (Service::Backrest, "ClearHistory") => super::ops::clear_history(app, body),
        (Service::Backrest, "GetSummaryDashboard") => super::ops::summary_dashboard(app, body),
        (Service::Footrest, "PreviewSchedule") => super::footrest::preview_schedule(app, body),
        (Service::Footrest, "TestHook") => super::footrest::test_hook(app, body),
        (Service::Footrest, "CreateApiKey") => super::footrest::create_api_key(app, body),
        (Service::Footrest, "ListApiKeys") => super::footrest::list_api_keys(app, body),
        (Service::Footrest, "RevokeApiKey") => super::footrest::revoke_api_key(app, body),
        _ => Err(ApiError::new(
            Code::Unimplemented,
            format!("{method} is not implemented by this version of footrest"),
        )),
    };
    respond_unary(req, result);
}

fn current_config(app: &App) -> Config {
    app.config.get()
}

fn update_config(
    app: &App,
    change: impl FnOnce(&mut Config) -> Result<(), ApiError>,
) -> Result<Config, ApiError> {
    app.config.update(change)
}

fn set_config(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut incoming: Config = decode(body)?;
    let saved = update_config(app, |current| {
        if incoming.modno != current.modno {
            return Err(ApiError::precondition(
                "config modno mismatch, reload and try again",
            ));
        }
        incoming.restore_sanitized(current);
        *current = incoming;
        Ok(())
    })?;
    encode(&saved.sanitized())
}

/// AddRepo accepts Backrest's `{repo: Repo}` and the bare `Repo` older clients send.
fn repo_from_body(body: &[u8]) -> Result<Repo, ApiError> {
    let v: Value = decode(body)?;
    let repo_v = match v.get("repo") {
        Some(r) if r.is_object() => r.clone(),
        _ => v,
    };
    // Read back from bytes, not with from_value: the Repo decoder for byte input is in the binary
    // already (a Config holds repos), one for `Value` input would cost 15 KB more.
    let bytes = serde_json::to_vec(&repo_v).map_err(|e| ApiError::internal(e.to_string()))?;
    crate::util::from_json(&bytes).map_err(|e| ApiError::invalid(format!("invalid repo: {e}")))
}

fn add_repo(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut repo = repo_from_body(body)?;
    if !valid_id(&repo.id) {
        return Err(ApiError::invalid(format!(
            "repo id {:?} must be non-empty and contain only letters, digits, '_', '-' and '.'",
            repo.id
        )));
    }
    if repo.uri.trim().is_empty() {
        return Err(ApiError::invalid(format!(
            "repo \"{}\": uri is required",
            repo.id
        )));
    }
    let current = current_config(app);
    if current.instance.is_empty() {
        return Err(ApiError::precondition("instance is a required field"));
    }
    // Validate everything but the guid before touching the repository.
    let mut trial = current.clone();
    let mut probe = repo.clone();
    probe.guid = "0".repeat(64);
    match trial.repos.iter_mut().find(|r| r.id == repo.id) {
        Some(r) => *r = probe,
        None => trial.repos.push(probe),
    }
    app.config
        .validate(&trial)
        .map_err(|e| ApiError::invalid(e.to_string()))?;

    let restic = super::calls::start(&app.restic_cmd, &repo)?;
    let guid = match restic.repo_id() {
        Ok(id) => id,
        Err(e) if e.is_repo_missing() => {
            log::info!(
                "repo \"{}\": no repository at its uri, initializing",
                repo.id
            );
            restic.init().map_err(|e| {
                restic.error(e, |e| {
                    super::connect::restic_error("initializing the repository", e)
                })
            })?;
            restic.repo_id().map_err(|e| {
                restic.error(e, |e| {
                    super::connect::restic_error("reading the new repository's config", e)
                })
            })?
        }
        Err(e) => {
            return Err(restic.error(e, |e| {
                super::connect::restic_error("opening the repository", e)
            }));
        }
    };
    if !repo.guid.is_empty() && repo.guid != guid {
        return Err(ApiError::precondition(format!(
            "repo \"{}\": the repository at this uri has guid {guid}, not {}",
            repo.id, repo.guid
        )));
    }
    repo.guid = guid;
    let saved = update_config(app, |c| {
        if let Some(existing) = c.repos.iter().find(|r| r.id == repo.id)
            && !existing.guid.is_empty()
            && existing.guid != repo.guid
        {
            return Err(ApiError::precondition(format!(
                "repo \"{}\" already exists with a different repository (guid {})",
                repo.id, existing.guid
            )));
        }
        match c.repos.iter_mut().find(|r| r.id == repo.id) {
            Some(r) => *r = repo.clone(),
            None => c.repos.push(repo.clone()),
        }
        Ok(())
    })?;
    if let Ok(snaps) = restic.snapshots(None)
        && let Some(r) = saved.repo(&repo.id)
        && let Err(e) = crate::orchestrator::index_into(&app.oplog, r, snaps, None)
    {
        log::warn!("repo \"{}\": indexing snapshots: {e}", repo.id);
    }
    encode(&saved.sanitized())
}

/// A string id sent as `{value}` (types.StringValue) or under a named field.
fn string_arg(body: &[u8], names: &[&str]) -> Result<String, ApiError> {
    let v: Value = decode(body)?;
    for n in names.iter().chain(["value"].iter()) {
        match v.get(*n) {
            Some(Value::String(s)) => return Ok(s.clone()),
            Some(Value::Null) | None => {}
            Some(other) => {
                return Err(ApiError::invalid(format!(
                    "{n} must be a string, got {other}"
                )));
            }
        }
    }
    Err(ApiError::invalid(format!(
        "{} is required",
        names.first().unwrap_or(&"value")
    )))
}

fn remove_repo(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let repo_id = string_arg(body, &["repoId", "repo_id"])?;
    let mut guid = String::new();
    let current = app.config.get();
    // As Backrest: an id not in the config changes nothing there and still clears what the
    // history holds under it (the history of a repo a SetConfig already dropped).
    let saved = if current.repo(&repo_id).is_none() {
        current
    } else {
        update_config(app, |c| {
            let Some(pos) = c.repos.iter().position(|r| r.id == repo_id) else {
                return Err(ApiError::not_found(format!("repo \"{repo_id}\" not found")));
            };
            let users: Vec<&str> = c
                .plans
                .iter()
                .filter(|p| p.repo == repo_id)
                .map(|p| p.id.as_str())
                .collect();
            if !users.is_empty() {
                return Err(ApiError::precondition(format!(
                    "repo \"{repo_id}\" is used by plan(s) {}; remove them first",
                    users.join(", ")
                )));
            }
            guid = c.repos.remove(pos).guid;
            Ok(())
        })?
    };
    let sel = OpSelector {
        repo_id: Some(repo_id.clone()),
        ..Default::default()
    };
    // Chosen on the index: no operation is read.
    let mut ids = Vec::new();
    app.oplog.walk_selected(&sel, |e| {
        let g = &e.key.repo_guid;
        if guid.is_empty() || *g == guid || g.is_empty() {
            ids.push(e.id);
        }
    });
    if let Err(e) = app.oplog.delete(&ids) {
        log::error!("repo \"{repo_id}\" removed, but deleting its history failed: {e}");
    }
    encode(&saved.sanitized())
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct CheckRepoExistsResponse {
    #[serde(skip_serializing_if = "is_default")]
    exists: bool,
    #[serde(skip_serializing_if = "String::is_empty")]
    error: String,
    #[serde(skip_serializing_if = "is_default")]
    host_key_untrusted: bool,
}

fn check_repo_exists(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let repo = repo_from_body(body)?;
    if repo.uri.trim().is_empty() {
        return Err(ApiError::invalid("repo uri is required"));
    }
    let restic = super::calls::start(&app.restic_cmd, &repo)?;
    let resp = match restic.repo_id() {
        Ok(_) => CheckRepoExistsResponse {
            exists: true,
            ..Default::default()
        },
        Err(e) if e.is_repo_missing() => CheckRepoExistsResponse::default(),
        Err(e) => {
            return Err(restic.error(e, |e| {
                super::connect::restic_error("checking the repository", e)
            }));
        }
    };
    encode(&resp)
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct BackupRequest {
    value: String,
    #[serde(alias = "dry_run")]
    dry_run: bool,
}

fn backup(app: &Arc<App>, req: Request, body: &[u8]) {
    let parsed: Result<BackupRequest, ApiError> = decode(body);
    let r = match parsed {
        Ok(r) => r,
        Err(e) => return respond_unary(req, Err(e)),
    };
    if r.value.is_empty() {
        return respond_unary(
            req,
            Err(ApiError::invalid("value (the plan id) is required")),
        );
    }
    let task = Task::Backup {
        plan_id: r.value,
        dry_run: r.dry_run,
    };
    run_and_answer(app, req, task, false);
}

static WAITING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Calls that wait for their task (Backup, DoRepoTask, Forget) at once
/// (`settings::Settings::max_waiting`). Each holds one of the front door's request slots while
/// it waits, so together with the streams' cap this leaves slots for everything else.
fn max_waiting() -> usize {
    crate::settings::get().max_waiting
}

/// Queues `task` at interactive priority; the worker answers `req` when it has finished, so
/// no handler thread waits. The answer is `{}`, or `{"operationId"}` with `with_op_id`. Past
/// [`MAX_WAITING`] waiting calls the task is not queued: 429 `resource_exhausted`.
fn run_and_answer(app: &Arc<App>, req: Request, task: Task, with_op_id: bool) {
    let max = max_waiting();
    // Held by the responder: given back with the answer (or with a task that ends without one).
    let Some(waiting) = super::Slot::take(&WAITING, max) else {
        let e = ApiError::new(
            Code::ResourceExhausted,
            format!(
                "{max} calls are already waiting for their tasks to finish; this task was not \
                 queued (retry when one has finished)"
            ),
        );
        return respond_unary(req, Err(e));
    };
    // The request goes to the worker with the responder; it comes back here only if the task
    // could not be queued (the responder is then dropped unused).
    let slot = Arc::new(std::sync::Mutex::new(Some(req)));
    let for_worker = Arc::clone(&slot);
    let responder: crate::orchestrator::Responder = Box::new(move |op_id, result| {
        let _waiting = waiting;
        if let Some(req) = for_worker.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let answer = match result {
                Ok(()) if with_op_id => encode(&OperationIdResponse {
                    operation_id: op_id,
                }),
                Ok(()) => Ok(b"{}".to_vec()),
                Err(e) => Err(e.into()),
            };
            respond_unary(req, answer);
        }
    });
    let queued = app
        .orchestrator
        .enqueue(task, priority::INTERACTIVE, None, Some(responder));
    if let Err(e) = queued
        && let Some(req) = slot.lock().unwrap_or_else(|p| p.into_inner()).take()
    {
        respond_unary(req, Err(e.into()));
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct DoRepoTaskRequest {
    #[serde(alias = "repo_id")]
    repo_id: String,
    task: RepoTask,
}

crate::proto_enum!(
    /// DoRepoTaskRequest.Task; TASK_FORGET is footrest's: the repo's forget policy.
    RepoTask {
        None = 0 => "TASK_NONE",
        IndexSnapshots = 1 => "TASK_INDEX_SNAPSHOTS",
        Prune = 2 => "TASK_PRUNE",
        Check = 3 => "TASK_CHECK",
        Stats = 4 => "TASK_STATS",
        Unlock = 5 => "TASK_UNLOCK",
        Forget = 6 => "TASK_FORGET",
    }
);

fn do_repo_task(app: &Arc<App>, req: Request, body: &[u8]) {
    let r: DoRepoTaskRequest = match decode(body) {
        Ok(r) => r,
        Err(e) => return respond_unary(req, Err(e)),
    };
    if app.config.get().repo(&r.repo_id).is_none() {
        let e = ApiError::not_found(format!("repo \"{}\" not found", r.repo_id));
        return respond_unary(req, Err(e));
    }
    let repo_id = r.repo_id;
    let task = match r.task {
        RepoTask::None => {
            return respond_unary(req, Err(ApiError::invalid("task is required")));
        }
        RepoTask::IndexSnapshots => Task::IndexSnapshots { repo_id },
        RepoTask::Prune => Task::Prune { repo_id },
        RepoTask::Check => Task::Check { repo_id },
        RepoTask::Stats => Task::Stats { repo_id },
        RepoTask::Unlock => Task::Unlock { repo_id },
        RepoTask::Forget => Task::Forget {
            repo_id,
            plan_id: None,
            snapshot_id: None,
        },
    };
    run_and_answer(app, req, task, true);
}

/// Unknown keys are refused: a misspelled `snapshotId` beside a `planId` would otherwise run the
/// plan's whole retention policy instead of forgetting one snapshot.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
struct ForgetRequest {
    #[serde(alias = "repo_id")]
    repo_id: String,
    #[serde(alias = "plan_id")]
    plan_id: String,
    #[serde(alias = "snapshot_id")]
    snapshot_id: String,
}

fn forget(app: &Arc<App>, req: Request, body: &[u8]) {
    let r: ForgetRequest = match decode(body) {
        Ok(r) => r,
        Err(e) => return respond_unary(req, Err(e)),
    };
    let config = app.config.get();
    let check = || -> Result<Option<SnapshotId>, ApiError> {
        let repo = config
            .repo(&r.repo_id)
            .ok_or_else(|| ApiError::not_found(format!("repo \"{}\" not found", r.repo_id)))?;
        if !r.plan_id.is_empty() {
            let plan = config
                .plan(&r.plan_id)
                .ok_or_else(|| ApiError::not_found(format!("plan \"{}\" not found", r.plan_id)))?;
            if plan.repo != repo.id {
                return Err(ApiError::invalid(format!(
                    "plan \"{}\" backs up to repo \"{}\", not \"{}\"",
                    plan.id, plan.repo, repo.id
                )));
            }
        }
        // Only an absent id means "by the plan's policy": a blank one is a bad id, not a
        // reason to forget more than was asked.
        if r.snapshot_id.is_empty() && r.plan_id.is_empty() {
            return Err(ApiError::invalid("planId or snapshotId is required"));
        }
        if r.snapshot_id.is_empty() {
            return Ok(None);
        }
        super::browse::snapshot_id(&r.snapshot_id).map(Some)
    };
    let snapshot_id = match check() {
        Ok(id) => id,
        Err(e) => return respond_unary(req, Err(e)),
    };
    let task = Task::Forget {
        repo_id: r.repo_id,
        plan_id: (!r.plan_id.is_empty()).then_some(r.plan_id),
        snapshot_id,
    };
    run_and_answer(app, req, task, true);
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct GetOperationsRequest {
    selector: Option<OpSelector>,
    #[serde(alias = "last_n", with = "i64s")]
    last_n: i64,
}

#[derive(Serialize)]
struct OperationsResponse {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    operations: Vec<Operation>,
}

/// Answers of more operations than this are streamed as they are read (chunked), so that
/// memory stays one batch however much history matches.
const STREAM_OPERATIONS_FROM: usize = 256;

fn get_operations(app: &Arc<App>, req: Request, body: &[u8]) {
    let selected = (|| {
        let r: GetOperationsRequest = decode(body)?;
        let sel = r.selector.unwrap_or_default();
        sel.check().map_err(ApiError::invalid)?;
        if r.last_n < 0 {
            return Err(ApiError::invalid("lastN must not be negative"));
        }
        // Every match: the first batch now, the rest as the answer is written (no list of all
        // the ids is held).
        let ids = if r.last_n == 0 {
            app.oplog
                .select_ids_after(&sel, i64::MIN, STREAM_OPERATIONS_FROM + 1)
        } else {
            app.oplog
                .select_ids(&sel, r.last_n as usize)
                .map_err(|e| ApiError::internal(e.to_string()))?
        };
        Ok((sel, ids, r.last_n == 0))
    })();
    let (sel, ids, every) = match selected {
        Ok(s) => s,
        Err(e) => return respond_unary(req, Err(e)),
    };
    if ids.len() <= STREAM_OPERATIONS_FROM {
        let operations: Vec<Operation> = app
            .oplog
            .get_many(&ids)
            .into_iter()
            .filter(|o| sel.matches(o))
            .collect();
        return respond_unary(req, encode(&OperationsResponse { operations }));
    }
    let body = OperationsBody {
        until: app.oplog.max_id(),
        oplog: Arc::clone(&app.oplog),
        sel,
        after: ids.last().copied().filter(|_| every),
        ids: ids.into_iter(),
        out: Vec::new(),
        at: 0,
        wrote_any: false,
        done: false,
    };
    super::respond_stream(req, body);
}

/// A GetOperations answer written as its operations are read, a batch at a time.
struct OperationsBody {
    oplog: Arc<crate::oplog::OpLog>,
    sel: OpSelector,
    /// Every match is asked for: once `ids` is used up, the next batch is the matches above
    /// this id (None: `ids` is the whole answer).
    after: Option<i64>,
    /// The newest id when the answer began: operations added while it is written are left
    /// out, as a shorter answer would not have them.
    until: i64,
    ids: std::vec::IntoIter<i64>,
    out: Vec<u8>,
    at: usize,
    wrote_any: bool,
    done: bool,
}

impl std::io::Read for OperationsBody {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            if self.done {
                return Ok(0);
            }
            self.out.clear();
            self.at = 0;
            if self.ids.len() == 0
                && let Some(after) = self.after
            {
                let mut next = self.oplog.select_ids_after(&self.sel, after, 64);
                self.after = next.last().copied().filter(|id| *id < self.until);
                next.retain(|id| *id <= self.until);
                self.ids = next.into_iter();
            }
            let batch: Vec<i64> = self.ids.by_ref().take(64).collect();
            if batch.is_empty() {
                // proto3 JSON leaves an empty repeated field out.
                let end: &[u8] = if self.wrote_any { b"]}" } else { b"{}" };
                self.out.extend_from_slice(end);
                self.done = true;
                continue;
            }
            // An operation deleted since it was selected is left out.
            for op in self.oplog.get_many(&batch) {
                if !self.sel.matches(&op) {
                    continue;
                }
                let sep: &[u8] = if self.wrote_any {
                    b","
                } else {
                    b"{\"operations\":["
                };
                self.out.extend_from_slice(sep);
                self.wrote_any = true;
                serde_json::to_writer(&mut self.out, &op).map_err(std::io::Error::other)?;
            }
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct ListSnapshotsRequest {
    #[serde(alias = "repo_id")]
    repo_id: String,
    #[serde(alias = "plan_id")]
    plan_id: String,
}

fn list_snapshots(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: ListSnapshotsRequest = decode(body)?;
    let config = current_config(app);
    if r.repo_id.is_empty() {
        return Err(ApiError::invalid("repoId is required"));
    }
    let repo = config
        .repo(&r.repo_id)
        .ok_or_else(|| ApiError::not_found(format!("repo \"{}\" not found", r.repo_id)))?;
    let filter = if r.plan_id.is_empty() {
        None
    } else {
        if config.plan(&r.plan_id).is_none() {
            return Err(ApiError::not_found(format!(
                "plan \"{}\" not found",
                r.plan_id
            )));
        }
        Some(format!("plan:{}", r.plan_id))
    };
    let restic = super::calls::start(&app.restic_cmd, repo)?;
    let mut snapshots = restic
        .snapshots(filter.as_deref())
        .map_err(|e| restic.error(e, |e| super::connect::restic_error("listing snapshots", e)))?;
    snapshots.sort_by_key(|s| s.unix_time_ms);
    encode(&ResticSnapshotList { snapshots })
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct CancelRequest {
    #[serde(alias = "operation_id", with = "i64s")]
    operation_id: i64,
    #[serde(with = "i64s")]
    value: i64,
}

fn cancel(app: &App, body: &[u8]) -> Result<Vec<u8>, ApiError> {
    let r: CancelRequest = decode(body)?;
    let id = if r.operation_id != 0 {
        r.operation_id
    } else {
        r.value
    };
    if id <= 0 {
        return Err(ApiError::invalid("operationId is required"));
    }
    if let Ok(Some(op)) = app.oplog.get(id)
        && op.status.is_terminal()
    {
        log::debug!("cancel of operation {id}: already {}", op.status.name());
    }
    app.orchestrator.cancel(id);
    encode(&serde_json::json!({}))
}
