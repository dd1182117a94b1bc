//! RunCommand: any restic subcommand a user types, against one repo, beside the task queue
//! (as in Backrest: a `snapshots` or `check` must not wait behind a long backup, and restic's
//! own repository locks keep it safe). Output (stdout and stderr, interleaved) goes to a log
//! capped at `COMMAND_LOG_CAP`; the operation records its size.
//!
//! Each command runs on its own named thread (at most [`MAX_COMMANDS`] at once). Cancel and
//! shutdown reach them through the registry here.

use super::{Orchestrator, TaskError};
use crate::cancel::CancelHandle;
use crate::logstore::COMMAND_LOG_CAP;
use crate::model::{OpKind, OpSelector, Operation, OperationRunCommand, OperationStatus};
use crate::restic::Restic;
use crate::util::now_ms;
use crate::words::split_words;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Commands running at once; more are refused with `resource_exhausted`.
pub const MAX_COMMANDS: usize = 2;
/// Commands of one repo started within this long of the previous one share its flow.
pub const FLOW_WINDOW_MS: i64 = 30 * 60 * 1000;

struct RunningCommand {
    op_id: i64,
    cancel: CancelHandle,
    thread: Option<JoinHandle<()>>,
}

/// Commands now running. One daemon per process, so one registry.
static RUNNING: Mutex<Vec<RunningCommand>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<RunningCommand>> {
    RUNNING.lock().unwrap_or_else(|p| p.into_inner())
}

/// Stops the command of `op_id` if one runs; true when it did.
pub fn cancel_command(op_id: i64) -> bool {
    let list = running();
    match list.iter().find(|c| c.op_id == op_id) {
        Some(c) => {
            c.cancel.cancel();
            true
        }
        None => false,
    }
}

/// Stops every running command and waits for their threads (shutdown).
pub fn stop_commands() {
    let threads: Vec<JoinHandle<()>> = {
        let mut list = running();
        for c in list.iter() {
            c.cancel.cancel();
        }
        list.iter_mut().filter_map(|c| c.thread.take()).collect()
    };
    for t in threads {
        if t.join().is_err() {
            log::error!("a command thread panicked");
        }
    }
}

impl Orchestrator {
    /// Starts `restic <command>` on the repo; returns the operation id at once.
    pub fn run_command(self: &Arc<Self>, repo_id: &str, command: &str) -> Result<i64, TaskError> {
        let config = self.config();
        let repo = config
            .repo(repo_id)
            .ok_or_else(|| TaskError::NotFound(format!("repo \"{repo_id}\" not found")))?
            .clone();
        if config.instance.is_empty() {
            return Err(TaskError::Precondition(
                "instance is a required field".into(),
            ));
        }
        let args = split_words(command)
            .map_err(|e| TaskError::Invalid(format!("command {command:?}: {e}")))?;
        if args.is_empty() {
            return Err(TaskError::Invalid("command is required".into()));
        }
        let restic = Restic::new(&self.env.restic_cmd, &repo)
            .map_err(|e| TaskError::Precondition(e.to_string()))?;
        let mut list = running();
        list.retain(|c| c.thread.as_ref().is_some_and(|t| !t.is_finished()));
        if list.len() >= MAX_COMMANDS {
            return Err(TaskError::Limit(format!(
                "{MAX_COMMANDS} commands are running already; wait for one to finish"
            )));
        }
        let log = self
            .env
            .logs
            .create("command", COMMAND_LOG_CAP)
            .map_err(|e| TaskError::History(format!("creating the command's log: {e}")))?;
        let now = now_ms();
        let mut op = Operation {
            flow_id: self.command_flow(&repo.guid, &config.instance, now),
            repo_id: repo.id.clone(),
            repo_guid: repo.guid.clone(),
            instance_id: config.instance.clone(),
            status: OperationStatus::InProgress,
            unix_time_start_ms: now,
            operation_run_command: Some(OperationRunCommand {
                command: command.to_string(),
                output_logref: log.logref().to_string(),
                output_size_bytes: 0,
            }),
            ..Default::default()
        };
        self.env
            .oplog
            .add(&mut op)
            .map_err(|e| TaskError::History(format!("recording the command: {e}")))?;
        let op_id = op.id;
        let cancel = CancelHandle::new();
        let me = Arc::clone(self);
        let c2 = cancel.clone();
        let thread = std::thread::Builder::new()
            .name("command".into())
            .spawn(move || me.command_thread(op, restic, args, log, c2));
        match thread {
            Ok(t) => {
                list.push(RunningCommand {
                    op_id,
                    cancel,
                    thread: Some(t),
                });
                Ok(op_id)
            }
            Err(e) => {
                drop(list);
                let message = format!("starting the command: {e}");
                self.finish_cancelled(op_id, OperationStatus::Error, &message);
                Err(TaskError::Limit(message))
            }
        }
    }

    /// The flow of the repo's newest command when it started within FLOW_WINDOW_MS, else 0
    /// (a new flow).
    fn command_flow(&self, guid: &str, instance: &str, now: i64) -> i64 {
        let sel = OpSelector {
            repo_guid: Some(guid.to_string()),
            instance_id: Some(instance.to_string()),
            kind: Some(OpKind::RunCommand),
            ..Default::default()
        };
        // The newest by start time: one line read.
        let Ok(ops) = self.env.oplog.query(&sel, 1) else {
            return 0;
        };
        ops.iter()
            .max_by_key(|o| o.unix_time_start_ms)
            .filter(|o| now - o.unix_time_start_ms < FLOW_WINDOW_MS)
            .map_or(0, |o| o.flow_id)
    }

    fn command_thread(
        &self,
        mut op: Operation,
        restic: Restic,
        args: Vec<String>,
        mut log: crate::logstore::LogWriter,
        cancel: CancelHandle,
    ) {
        let mut last = Instant::now();
        let oplog = Arc::clone(&self.env.oplog);
        let result = restic.run_bytes(&args, Some(&cancel), true, &mut |data| {
            log.write_all(data)?;
            if last.elapsed() >= Duration::from_secs(1) {
                last = Instant::now();
                if let Some(c) = &mut op.operation_run_command {
                    c.output_size_bytes = log.size() as i64;
                }
                if let Err(e) = oplog.update_progress(&mut op) {
                    log::warn!("operation {}: recording progress: {e}", op.id);
                }
            }
            Ok(())
        });
        let (status, message) = match result {
            Ok(_) => (OperationStatus::Success, String::new()),
            Err(e) => {
                let f = self.failure(e, &cancel);
                (f.status, f.message())
            }
        };
        if !message.is_empty() && !matches!(status, OperationStatus::Error) {
            log.line(&format!("[{message}]"));
        }
        if let Some(c) = &mut op.operation_run_command {
            c.output_size_bytes = log.size() as i64;
        }
        if let Err(e) = log.finish() {
            log::warn!("operation {}: writing the command's log: {e}", op.id);
        }
        op.status = status;
        op.display_message = message;
        op.unix_time_end_ms = now_ms();
        self.save(&mut op);
        running().retain(|c| c.op_id != op.id);
    }
}
