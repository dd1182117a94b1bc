//! Why a task was refused or did not succeed, in the orchestrator's own terms. The API turns
//! each kind into a Connect code in one place (`impl From<TaskError> for api::ApiError`).

use crate::restic::{ResticError, ResticKind};
use std::fmt;

/// A task that could not be queued, or that ended without success. Each kind carries the
/// message the operation records and the caller sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskError {
    /// The plan, repo or operation it names does not exist.
    NotFound(String),
    /// An argument or setting the task cannot run with (a bad flag or id).
    Invalid(String),
    /// Something the task needs is missing (the instance name, a backup path, restic itself).
    Precondition(String),
    /// A limit was reached: too many waiting tasks, or no room for the history.
    Limit(String),
    /// footrest is stopping, or stopped while the task ran.
    Stopping(String),
    /// A user or a hook cancelled it.
    Cancelled(String),
    /// restic failed; the kind says how.
    Restic(ResticKind, String),
    /// A hook failed and its policy stopped the task.
    Hook(String),
    /// The history or a task log could not be read or written.
    History(String),
}

impl TaskError {
    pub fn message(&self) -> &str {
        match self {
            Self::NotFound(m)
            | Self::Invalid(m)
            | Self::Precondition(m)
            | Self::Limit(m)
            | Self::Stopping(m)
            | Self::Cancelled(m)
            | Self::Restic(_, m)
            | Self::Hook(m)
            | Self::History(m) => m,
        }
    }

    /// restic ran but what it did is not what the task needed (no summary, unreadable output).
    pub fn restic_failed(message: impl Into<String>) -> Self {
        Self::Restic(ResticKind::Failed, message.into())
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for TaskError {}

impl From<ResticError> for TaskError {
    fn from(e: ResticError) -> Self {
        Self::Restic(e.kind(), e.to_string())
    }
}
