//! Running hooks: one hook ([`execute`]), and every hook of a repo and plan that matches an
//! event, recorded in the history ([`fire`]).

use super::http;
use super::send;
use super::vars::{Vars, now_rfc3339};
use super::{HookError, Settings, command};
use crate::cancel::CancelHandle;
use crate::config::hook::{Action, Condition, Hook, OnError};
use crate::config::{Plan, Repo};
use crate::logstore::{LogStore, TASK_LOG_CAP};
use crate::model::{Operation, OperationRunHook, OperationStatus};
use crate::oplog::OpLog;
use crate::util::now_ms;
use serde_json::Value;
use std::io::Write;

/// What the hooks of one firing ask of the task that fired them.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Go on: every hook succeeded, or failed with `ON_ERROR_IGNORE`.
    Continue,
    /// `ON_ERROR_CANCEL`: the task ends USER_CANCELLED; later hooks were skipped.
    Cancel { hook: String, error: String },
    /// `ON_ERROR_FATAL`: the task ends ERROR; later hooks were skipped.
    Fatal { hook: String, error: String },
    /// A `ON_ERROR_RETRY_*` policy: the task goes back to PENDING and runs again later.
    Retry {
        hook: String,
        error: String,
        policy: OnError,
    },
}

/// Runs one hook for `event` over `vars` (the template data), writing what it does to `log`.
/// Ok holds the status codes the hook's HTTP requests were answered with (none for a command).
pub fn execute(
    hook: &Hook,
    event: Condition,
    vars: &Value,
    settings: &Settings,
    log: &mut dyn Write,
    cancel: Option<&CancelHandle>,
) -> Result<Vec<u16>, HookError> {
    if let Action::Command { command } = &hook.action {
        let script = send::render_field("command", command, vars)?;
        return command::run(&script, settings.command_timeout, log, cancel).map(|()| Vec::new());
    }
    let mut answered = Vec::new();
    let (message, requests) = send::requests(&hook.action, event, vars, settings)?;
    if !message.is_empty() {
        let _ = writeln!(log, "[message]");
        for line in message.lines() {
            let _ = writeln!(log, "  {line}");
        }
    }
    for req in &requests {
        let started = std::time::Instant::now();
        let _ = writeln!(log, "{} {}", hook.action.kind(), req.describe());
        match http::send(req, settings.http_timeouts()) {
            Ok(code) => {
                let _ = writeln!(
                    log,
                    "answered status {code} in {} ms",
                    started.elapsed().as_millis()
                );
                answered.push(code);
            }
            Err(e) => {
                let _ = writeln!(log, "{e}");
                return Err(HookError::Http(e));
            }
        }
    }
    Ok(answered)
}

/// The event a test firing simulates: `requested`, else the hook's first condition, else
/// SNAPSHOT_END.
pub fn sample_event(hook: &Hook, requested: Option<Condition>) -> Condition {
    requested
        .or_else(|| hook.conditions.first().copied())
        .unwrap_or(Condition::SnapshotEnd)
}

/// Fires `hook` once for `event` with sample variables (a plausible snapshot, an error for the
/// error events) and the given repo and plan, outside any task and unrecorded: what `footrest
/// hook test` and the TestHook RPC do.
pub fn execute_sample(
    hook: &Hook,
    event: Condition,
    repo: Option<&Repo>,
    plan: Option<&Plan>,
    settings: &Settings,
    log: &mut dyn Write,
) -> Result<Vec<u16>, HookError> {
    let repo_id = repo.map_or("", |r| r.id.as_str());
    let plan_id = plan.map_or("", |p| p.id.as_str());
    let task = match event {
        Condition::PruneStart | Condition::PruneError | Condition::PruneSuccess => {
            format!("prune repo \"{repo_id}\"")
        }
        Condition::CheckStart | Condition::CheckError | Condition::CheckSuccess => {
            format!("check repo \"{repo_id}\"")
        }
        Condition::ForgetStart | Condition::ForgetError | Condition::ForgetSuccess => {
            format!("forget for plan \"{plan_id}\" in repo \"{repo_id}\"")
        }
        _ => format!("backup for plan \"{plan_id}\""),
    };
    let data = super::vars::sample(event, &task).to_value(event, repo, plan, &now_rfc3339());
    execute(hook, event, &data, settings, log, None)
}

/// Where the hooks fire: the task's repo and plan and its operation (the hook operations join
/// its flow and name it as their parent).
pub struct Firing<'a> {
    pub instance: &'a str,
    pub repo: &'a Repo,
    pub plan: Option<&'a Plan>,
    pub parent: &'a Operation,
}

/// Runs the hooks of `firing`'s repo, then of its plan, that listen to one of `events` — each
/// hook at most once, for the first of `events` it listens to — and records each run as an
/// `operationRunHook` operation in the parent's flow, with its own log. Stops at the first hook
/// whose failure policy is not IGNORE.
pub fn fire(
    oplog: &OpLog,
    logs: &LogStore,
    firing: &Firing,
    events: &[Condition],
    vars: &Vars,
    settings: &Settings,
    cancel: Option<&CancelHandle>,
) -> Outcome {
    let mut all: Vec<(String, &Result<Hook, String>)> = firing
        .repo
        .hooks
        .parsed()
        .enumerate()
        .map(|(i, h)| (format!("repo/{}/hook/{i}", firing.repo.id), h))
        .collect();
    if let Some(plan) = firing.plan {
        all.extend(
            plan.hooks
                .parsed()
                .enumerate()
                .map(|(i, h)| (format!("plan/{}/hook/{i}", plan.id), h)),
        );
    }
    let now = now_rfc3339();
    for (name, parsed) in all {
        let hook = match parsed {
            Ok(h) => h,
            Err(e) => {
                // Config::validate refuses such hooks; one read from an old file is skipped.
                log::warn!("hook {name}: {e}; skipped");
                continue;
            }
        };
        let Some(event) = hook.first_matching(events) else {
            continue;
        };
        let title = format!("{} hook {name}", hook.action.kind());
        let data = vars.to_value(event, Some(firing.repo), firing.plan, &now);
        let one = OneRun {
            hook,
            title: &title,
            event,
            data: &data,
        };
        let error = run_recorded(oplog, logs, firing, &one, settings, cancel);
        let Some(error) = error else { continue };
        log::warn!("{title} ({event}): {error}");
        let (hook_name, error) = (title.clone(), error);
        match hook.on_error {
            OnError::Ignore => {}
            OnError::Cancel => {
                return Outcome::Cancel {
                    hook: hook_name,
                    error,
                };
            }
            OnError::Fatal => {
                return Outcome::Fatal {
                    hook: hook_name,
                    error,
                };
            }
            policy => {
                return Outcome::Retry {
                    hook: hook_name,
                    error,
                    policy,
                };
            }
        }
    }
    Outcome::Continue
}

/// One hook to run for one event: its operation's title and the template data.
struct OneRun<'a> {
    hook: &'a Hook,
    title: &'a str,
    event: Condition,
    data: &'a Value,
}

/// Runs one hook as an operation; returns its error, if any.
fn run_recorded(
    oplog: &OpLog,
    logs: &LogStore,
    firing: &Firing,
    one: &OneRun,
    settings: &Settings,
    cancel: Option<&CancelHandle>,
) -> Option<String> {
    let OneRun {
        hook,
        title,
        event,
        data,
    } = *one;
    let parent = firing.parent;
    let mut op = Operation {
        flow_id: parent.flow_id,
        plan_id: parent.plan_id.clone(),
        repo_id: firing.repo.id.clone(),
        repo_guid: firing.repo.guid.clone(),
        instance_id: firing.instance.to_string(),
        status: OperationStatus::InProgress,
        unix_time_start_ms: now_ms(),
        display_message: format!("running {title} triggered by {event}"),
        operation_run_hook: Some(OperationRunHook {
            parent_op: parent.id,
            name: title.to_string(),
            condition: event.name().to_string(),
        }),
        ..Default::default()
    };
    let mut writer = match logs.create("hook", TASK_LOG_CAP) {
        Ok(w) => {
            op.logref = w.logref().to_string();
            Some(w)
        }
        Err(e) => {
            log::warn!("{title}: creating its log: {e}");
            None
        }
    };
    let recorded = match oplog.add(&mut op) {
        Ok(()) => true,
        Err(e) => {
            log::error!("{title}: recording the hook run: {e}");
            false
        }
    };
    let mut sink = std::io::sink();
    let log: &mut dyn Write = match writer.as_mut() {
        Some(w) => w,
        None => &mut sink,
    };
    let _ = writeln!(log, "triggering condition: {event}");
    let result = execute(hook, event, data, settings, log, cancel);
    let error = result.err().map(|e| e.to_string());
    if let Some(e) = &error {
        let _ = writeln!(log, "error: {e}");
    }
    if let Some(w) = writer
        && let Err(e) = w.finish()
    {
        log::warn!("{title}: finishing its log: {e}");
    }
    op.unix_time_end_ms = now_ms();
    match &error {
        None => {
            op.status = OperationStatus::Success;
            op.display_message.clear();
        }
        // A CANCEL hook that fails has done its job (told the task not to run), as in Backrest.
        Some(e) if hook.on_error == OnError::Cancel => {
            op.status = OperationStatus::Success;
            op.display_message = format!("{e}; the task is cancelled");
        }
        Some(e) => {
            op.status = OperationStatus::Error;
            op.display_message = e.clone();
        }
    }
    if recorded && let Err(e) = oplog.update(&mut op) {
        log::error!("{title}: recording the hook run: {e}");
    }
    error
}
