//! restic's life is tied to the daemon's.
//!
//! Every restic footrest starts runs in its own process group, asks the kernel for SIGINT when
//! the thread that started it goes away (PR_SET_PDEATHSIG: restic stops on SIGINT and removes
//! its lock), and carries `FOOTREST_RESTIC_OF=<data dir>` in its environment, which everything it
//! starts inherits. A daemon killed with SIGKILL thus takes its restic with it; what survives
//! (a wrapper from `commandPrefix` that forked, a restic that ignores the signal) is found at the
//! next start by that marker in `/proc/<pid>/environ`, stopped, and waited for before footrest
//! unlocks the repos: `restic unlock` only removes locks whose process is gone.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The environment variable that marks a process as started for a footrest data dir.
pub const MARKER: &str = "FOOTREST_RESTIC_OF";

static OWNER: OnceLock<String> = OnceLock::new();

/// Names the data dir whose daemon this process is; restic started from now on carries it.
/// Set once, at startup, before any restic runs.
pub fn set_owner(data_dir: &Path) {
    let _ = OWNER.set(owner_key(data_dir));
}

fn owner_key(data_dir: &Path) -> String {
    std::fs::canonicalize(data_dir)
        .unwrap_or_else(|_| data_dir.to_path_buf())
        .to_string_lossy()
        .into_owned()
}

/// Prepares `cmd` to run as a child that does not outlive the daemon: its own process group
/// (cancelling stops it and what it started), SIGINT on the parent's death, and the marker.
pub fn bind_to_daemon(cmd: &mut Command) {
    if let Some(owner) = OWNER.get() {
        cmd.env(MARKER, owner);
    }
    cmd.process_group(0);
    // SAFETY: getppid, prctl and raise are async-signal-safe; nothing allocates in the child.
    let parent = unsafe { libc::getpid() };
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGINT as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            // The daemon may have died between fork and prctl: then no signal will come.
            if libc::getppid() != parent {
                return Err(std::io::Error::other(
                    "footrest exited while starting restic",
                ));
            }
            Ok(())
        });
    }
}

/// A process left from an earlier run of the daemon on the same data dir.
#[derive(Debug, Clone, PartialEq)]
pub struct Leftover {
    pub pid: i32,
    pub pgid: i32,
    /// Its `RESTIC_REPOSITORY`, when it has one.
    pub repository: Option<String>,
}

/// Processes carrying the marker of `data_dir`, other than this one.
pub fn leftovers(data_dir: &Path) -> Vec<Leftover> {
    leftovers_in(Path::new("/proc"), &owner_key(data_dir))
}

fn leftovers_in(proc_dir: &Path, owner: &str) -> Vec<Leftover> {
    let me = std::process::id() as i32;
    let Ok(entries) = std::fs::read_dir(proc_dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Unreadable for processes of other users: those are not ours.
        let Ok(environ) = std::fs::read(e.path().join("environ")) else {
            continue;
        };
        let mut marked = false;
        let mut repository = None;
        for var in environ.split(|b| *b == 0) {
            let var = String::from_utf8_lossy(var);
            if let Some(v) = var.strip_prefix(MARKER).and_then(|r| r.strip_prefix('=')) {
                marked = v == owner;
            } else if let Some(v) = var.strip_prefix("RESTIC_REPOSITORY=") {
                repository = Some(v.to_string());
            }
        }
        if !marked {
            continue;
        }
        let pgid = unsafe { libc::getpgid(pid) };
        if pgid > 0 {
            found.push(Leftover {
                pid,
                pgid,
                repository,
            });
        }
    }
    found
}

/// Stops leftovers: SIGINT to each group (restic removes its lock), then SIGKILL to what is
/// still there after `grace`. Returns once all are gone, or after `grace` twice over with the
/// pids that would not go.
pub fn stop_leftovers(found: &[Leftover], grace: Duration) -> Vec<i32> {
    let alive = |l: &&Leftover| unsafe { libc::kill(l.pid, 0) } == 0 && !is_zombie(l.pid);
    let signal_groups = |sig: i32| {
        let mut groups: Vec<i32> = found.iter().map(|l| l.pgid).collect();
        groups.sort_unstable();
        groups.dedup();
        for g in groups {
            // SAFETY: a plain syscall; a group that no longer exists gives ESRCH.
            unsafe { libc::kill(-g, sig) };
        }
    };
    let wait_gone = |until: Instant| loop {
        let left: Vec<i32> = found.iter().filter(alive).map(|l| l.pid).collect();
        if left.is_empty() || Instant::now() >= until {
            return left;
        }
        // Not our children: nothing to wait on but their entries in /proc.
        std::thread::sleep(Duration::from_millis(20));
    };
    signal_groups(libc::SIGINT);
    if wait_gone(Instant::now() + grace).is_empty() {
        return Vec::new();
    }
    signal_groups(libc::SIGKILL);
    wait_gone(Instant::now() + grace)
}

/// A zombie keeps its /proc entry until its parent reaps it; it holds nothing any more.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit(')')
                .next()
                .and_then(|r| r.split_whitespace().next())
                .map(|st| st == "Z" || st == "X")
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Stdio;

    #[test]
    fn a_marked_process_is_found_and_stopped_with_its_group() {
        let dir = std::env::temp_dir().join(format!("footrest-children-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let owner = owner_key(&dir);
        // A shell that ignores SIGINT and waits on a child: only SIGKILL to the group ends both.
        let mut child = Command::new("sh")
            .args(["-c", "trap '' INT; sleep 600 & wait"])
            .env(MARKER, &owner)
            .env("RESTIC_REPOSITORY", "/srv/repo")
            .process_group(0)
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let found = loop {
            // The forked sleep inherits the marker too; wait until both are visible.
            let f = leftovers_in(Path::new("/proc"), &owner);
            if f.len() >= 2 {
                break f;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(found.iter().all(|l| l.pgid == pid), "{found:?}");
        assert_eq!(found[0].repository.as_deref(), Some("/srv/repo"));
        let reaper = std::thread::spawn(move || child.wait());
        let left = stop_leftovers(&found, Duration::from_millis(300));
        assert!(left.is_empty(), "still running: {left:?}");
        reaper.join().unwrap().unwrap();
        assert!(leftovers_in(Path::new("/proc"), &owner).is_empty());
        assert!(leftovers_in(Path::new("/proc"), "/some/other/dir").is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
