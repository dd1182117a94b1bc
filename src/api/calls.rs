//! restic run on a handler thread (AddRepo, CheckRepoExists, ListSnapshots, ListSnapshotFiles),
//! bounded in number and in time, so that a repository that never answers cannot take the API
//! with it: at most [`AT_ONCE`] such calls run at once (more are refused at once, 429
//! `resource_exhausted`), and each is stopped after [`timeout`] (`deadline_exceeded`, naming
//! the repo), so the other handler threads stay free for everything else.

use super::{ApiError, Code, Slot};
use crate::cancel::CancelHandle;
use crate::config::Repo;
use crate::restic::{Restic, ResticError};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::Duration;

/// restic calls on handler threads at once (the pool has 4 threads by default).
pub const AT_ONCE: usize = 2;

static RUNNING: AtomicUsize = AtomicUsize::new(0);

/// The deadline of a restic call made for an API request (`settings::Settings::api_restic_timeout`).
pub fn timeout() -> Duration {
    crate::settings::get().api_restic_timeout
}

/// A restic of `repo` for one API request; derefs to [`Restic`]. Dropping it frees its slot.
pub struct Call {
    restic: Restic,
    repo_id: String,
    timed_out: Arc<AtomicBool>,
    limit: Duration,
    /// Dropped with the call: the watchdog then ends without stopping anything.
    _watchdog: mpsc::Sender<()>,
    _slot: Slot,
}

impl std::ops::Deref for Call {
    type Target = Restic;
    fn deref(&self) -> &Restic {
        &self.restic
    }
}

/// Takes a slot and starts the deadline, or refuses when [`AT_ONCE`] calls are running.
pub fn start(restic_cmd: &str, repo: &Repo) -> Result<Call, ApiError> {
    let restic = Restic::new(restic_cmd, repo).map_err(|e| ApiError::invalid(e.to_string()))?;
    let Some(slot) = Slot::take(&RUNNING, AT_ONCE) else {
        return Err(ApiError::new(
            Code::ResourceExhausted,
            format!(
                "{AT_ONCE} restic calls for API requests are running already; try again when \
                 one has finished (repo \"{}\")",
                repo.id
            ),
        ));
    };
    let cancel = CancelHandle::new();
    let timed_out = Arc::new(AtomicBool::new(false));
    let limit = timeout();
    let (tx, rx) = mpsc::channel::<()>();
    let (c, t) = (cancel.clone(), Arc::clone(&timed_out));
    let spawned = std::thread::Builder::new()
        .name("restic-deadline".into())
        .spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                t.store(true, Ordering::SeqCst);
                c.cancel();
            }
        });
    if let Err(e) = spawned {
        return Err(ApiError::internal(format!("starting a thread: {e}")));
    }
    Ok(Call {
        restic: restic.with_cancel(cancel),
        repo_id: repo.id.clone(),
        timed_out,
        limit,
        _watchdog: tx,
        _slot: slot,
    })
}

impl Call {
    /// The API error for a failed run: `deadline_exceeded` when the deadline stopped it,
    /// else what `map` makes of restic's error.
    pub fn error(&self, e: ResticError, map: impl FnOnce(ResticError) -> ApiError) -> ApiError {
        if self.timed_out.load(Ordering::SeqCst) {
            ApiError::new(
                Code::DeadlineExceeded,
                format!(
                    "repo \"{}\": restic did not finish within {} s and was stopped",
                    self.repo_id,
                    self.limit.as_secs()
                ),
            )
        } else {
            map(e)
        }
    }
}
