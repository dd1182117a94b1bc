//! The handle that stops a running child process group (restic, a hook command): cloned into
//! the task record so that Cancel and shutdown reach it from other threads.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::time::{Duration, Instant};

/// How long a cancelled process gets to stop after SIGINT before its group is killed.
const KILL_AFTER: Duration = Duration::from_secs(10);

/// A handle to stop a running restic (its whole process group). Cloned into the task record so
/// that Cancel and shutdown can reach it from other threads.
#[derive(Clone, Debug, Default)]
pub struct CancelHandle {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    pgid: AtomicI32,
}

impl CancelHandle {
    pub fn new() -> Self {
        Self::default()
    }

    /// Stops the running restic with SIGINT (restic then removes its lock), and its whole
    /// process group with SIGKILL if it is still running 10 s later. Later starts are refused.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        let pgid = self.inner.pgid.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: kill(2) with a negative pid signals the process group we created.
            unsafe { libc::kill(-pgid, libc::SIGINT) };
            let inner = Arc::clone(&self.inner);
            let _ = std::thread::Builder::new()
                .name("restic-kill".into())
                .spawn(move || {
                    let deadline = Instant::now() + KILL_AFTER;
                    while Instant::now() < deadline {
                        if inner.pgid.load(Ordering::SeqCst) != pgid {
                            return;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    if inner.pgid.load(Ordering::SeqCst) == pgid {
                        // SAFETY: the group is still ours: the run that owns it has not ended.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                });
        }
    }

    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    pub(crate) fn set_pgid(&self, pgid: i32) {
        self.inner.pgid.store(pgid, Ordering::SeqCst);
        if pgid > 0 && self.is_cancelled() {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGINT) };
        }
    }

    pub(crate) fn kill_group(&self) {
        let pgid = self.inner.pgid.load(Ordering::SeqCst);
        if pgid > 0 {
            // SAFETY: as above.
            unsafe { libc::kill(-pgid, libc::SIGKILL) };
        }
    }
}
