//! Per-task logs (`logref`): restic's output of one task, readable while it runs and after.
//!
//! Each log is a file `<data>/tasklogs/<ref>.log`. A log is capped: the first half of the cap
//! is written as it comes, the last half is kept in memory as a ring while the task runs and
//! appended after a marker line saying how much was cut when the task ends — so both how a
//! task started and how it ended survive. A `<ref>.log` without its `.live` marker is complete.
//!
//! Written by the worker thread (one writer per log), read by handler threads.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// Cap for task logs (docs/COMPATIBILITY.md §6).
pub const TASK_LOG_CAP: usize = 64 * 1024;
/// Cap for RunCommand output.
pub const COMMAND_LOG_CAP: usize = 2 * 1024 * 1024;
/// Logs not owned by a kept operation expire after this long.
pub const LOG_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

/// The directory of task logs.
#[derive(Clone, Debug)]
pub struct LogStore {
    dir: PathBuf,
}

/// usize, not u64: 32-bit MIPS has no 64-bit atomics.
static SEQ: AtomicUsize = AtomicUsize::new(0);

impl LogStore {
    /// Opens the directory (the daemon, holding the data dir lock). `.live` markers left by a
    /// previous run are removed: no writer survives a restart, and a marker without one would
    /// make a log look live forever (GetLogs would tail it until shutdown).
    pub fn open(dir: &Path) -> io::Result<LogStore> {
        fs::create_dir_all(dir)?;
        for e in fs::read_dir(dir)?.flatten() {
            if e.file_name().to_string_lossy().ends_with(".live") {
                let _ = fs::remove_file(e.path());
            }
        }
        Ok(LogStore {
            dir: dir.to_path_buf(),
        })
    }

    /// A new log named after its task; the ref is unique and safe as a file name.
    pub fn create(&self, name: &str, cap: usize) -> io::Result<LogWriter> {
        let clean: String = name
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let logref = format!(
            "{clean}-{}-{}",
            crate::util::now_ms(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let path = self
            .path(&logref)
            .ok_or_else(|| io::Error::other("bad log name"))?;
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)?;
        File::create(self.live_marker(&logref))?;
        Ok(LogWriter {
            logref,
            file,
            head_left: cap / 2,
            tail: VecDeque::new(),
            tail_cap: cap - cap / 2,
            cut: 0,
            size: 0,
            done_marker: self.live_marker_path(&path),
        })
    }

    /// The file of a ref, or None if the ref is not one of ours (e.g. contains `/` or `..`).
    pub fn path(&self, logref: &str) -> Option<PathBuf> {
        let ok = !logref.is_empty()
            && logref.len() <= 100
            && logref
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        ok.then(|| self.dir.join(format!("{logref}.log")))
    }

    fn live_marker(&self, logref: &str) -> PathBuf {
        self.dir.join(format!("{logref}.live"))
    }

    fn live_marker_path(&self, log: &Path) -> PathBuf {
        log.with_extension("live")
    }

    /// The log's content so far; `None` for an unknown ref.
    pub fn read(&self, logref: &str) -> Option<Vec<u8>> {
        fs::read(self.path(logref)?).ok()
    }

    /// True while the task that writes the log is running.
    pub fn is_live(&self, logref: &str) -> bool {
        self.path(logref)
            .is_some_and(|p| self.live_marker_path(&p).exists())
    }

    /// Refs of the finished logs older than `max_age`: the ones `expire` may remove.
    pub fn stale(&self, max_age: Duration) -> Vec<String> {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        let mut stale = Vec::new();
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(logref) = name.strip_suffix(".log") else {
                continue;
            };
            if self.is_live(logref) {
                continue;
            }
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| now.duration_since(m).ok())
                .is_some_and(|age| age > max_age);
            if old {
                stale.push(logref.to_string());
            }
        }
        stale
    }

    /// Removes logs older than `max_age` for which `keep` is false; returns how many.
    pub fn expire(&self, keep: &dyn Fn(&str) -> bool, max_age: Duration) -> usize {
        let mut removed = 0;
        for logref in self.stale(max_age) {
            if keep(&logref) {
                continue;
            }
            if let Some(p) = self.path(&logref)
                && fs::remove_file(&p).is_ok()
            {
                removed += 1;
            }
        }
        removed
    }

    /// The operation a ref was made for (refs start `op<id>-`), if any.
    pub fn owner(logref: &str) -> Option<i64> {
        logref.strip_prefix("op")?.split('-').next()?.parse().ok()
    }

    /// Removes a log now (its operation was deleted).
    pub fn remove(&self, logref: &str) {
        if let Some(p) = self.path(logref) {
            let _ = fs::remove_file(&p);
            let _ = fs::remove_file(self.live_marker_path(&p));
        }
    }
}

/// Writes one task's log; `finish` (or drop) completes it.
pub struct LogWriter {
    logref: String,
    file: File,
    head_left: usize,
    tail: VecDeque<u8>,
    tail_cap: usize,
    cut: u64,
    size: u64,
    done_marker: PathBuf,
}

impl LogWriter {
    pub fn logref(&self) -> &str {
        &self.logref
    }

    /// Bytes written so far, cut or not.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a line (a newline is added).
    pub fn line(&mut self, text: &str) {
        let _ = self.write_all(text.as_bytes());
        let _ = self.write_all(b"\n");
    }

    fn finish_inner(&mut self) -> io::Result<()> {
        if !self.tail.is_empty() {
            if self.cut > 0 {
                writeln!(self.file, "[… {} bytes cut …]", self.cut)?;
            }
            let (a, b) = self.tail.as_slices();
            self.file.write_all(a)?;
            self.file.write_all(b)?;
            self.tail.clear();
        }
        self.file.flush()?;
        let _ = fs::remove_file(&self.done_marker);
        Ok(())
    }

    /// Completes the log: the kept tail is appended after the cut marker.
    pub fn finish(mut self) -> io::Result<()> {
        self.finish_inner()
    }
}

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.size += buf.len() as u64;
        let head = buf.len().min(self.head_left);
        if head > 0 {
            self.file.write_all(&buf[..head])?;
            self.head_left -= head;
        }
        for b in &buf[head..] {
            if self.tail.len() == self.tail_cap {
                self.tail.pop_front();
                self.cut += 1;
            }
            self.tail.push_back(*b);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for LogWriter {
    fn drop(&mut self) {
        if self.done_marker.exists() {
            let _ = self.finish_inner();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (LogStore, PathBuf) {
        let dir = std::env::temp_dir().join(format!(
            "footrest-logstore-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        (LogStore::open(&dir).unwrap(), dir)
    }

    #[test]
    fn a_log_is_readable_while_written_and_complete_after() {
        let (s, dir) = store();
        let mut w = s.create("prune", TASK_LOG_CAP).unwrap();
        let r = w.logref().to_string();
        w.line("first");
        w.flush().unwrap();
        assert_eq!(s.read(&r).unwrap(), b"first\n");
        assert!(s.is_live(&r));
        w.line("second");
        w.finish().unwrap();
        assert_eq!(s.read(&r).unwrap(), b"first\nsecond\n");
        assert!(!s.is_live(&r));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn an_overlong_log_keeps_its_head_and_tail() {
        let (s, dir) = store();
        let mut w = s.create("check", 100).unwrap();
        let r = w.logref().to_string();
        for i in 0..100 {
            w.line(&format!("line {i:03}"));
        }
        w.finish().unwrap();
        let text = String::from_utf8(s.read(&r).unwrap()).unwrap();
        assert!(text.starts_with("line 000\n"), "{text}");
        assert!(text.ends_with("line 099\n"), "{text}");
        assert!(text.contains("bytes cut"), "{text}");
        assert!(text.len() < 200);
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_ref_names_the_operation_that_owns_it() {
        assert_eq!(LogStore::owner("op42-prune-1700000000000-3"), Some(42));
        assert_eq!(LogStore::owner("prune-1700000000000-3"), None);
        let (s, dir) = store();
        let w = s.create("op7-check", 100).unwrap();
        assert_eq!(LogStore::owner(w.logref()), Some(7));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn a_log_left_live_by_a_killed_daemon_is_complete_after_a_restart() {
        let (s, dir) = store();
        let w = s.create("backup", TASK_LOG_CAP).unwrap();
        let r = w.logref().to_string();
        std::mem::forget(w); // as if the process died
        assert!(s.is_live(&r));
        let s = LogStore::open(&dir).unwrap();
        assert!(!s.is_live(&r));
        assert!(s.read(&r).is_some());
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn refs_that_could_escape_the_directory_are_refused() {
        let (s, dir) = store();
        assert!(s.path("../etc/passwd").is_none());
        assert!(s.path("a/b").is_none());
        assert!(s.path("").is_none());
        assert!(s.read("nope").is_none());
        let _ = fs::remove_dir_all(dir);
    }
}
