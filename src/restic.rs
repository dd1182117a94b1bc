//! Building restic command lines and environments, running restic, parsing its output.
//!
//! restic is always run with `Command::new(..).args(..)`, never through a shell, in its own
//! process group so that cancelling stops it and anything it started, and bound to the daemon's
//! life (`children`). Secrets reach it only
//! through the environment (`RESTIC_PASSWORD`, the repo's `env`), never argv.
//!
//! Supports restic 0.14 (plain-text fatal errors, exit code 1 for everything, 8-char snapshot ids
//! in the backup summary) and 0.17+ (JSON `exit_error` lines, exit codes 10/11/12, full ids).
//! Called from the worker thread and, for read-only commands, from handler threads.

use crate::cancel::CancelHandle;
use crate::config::Repo;
use crate::model::{
    BackupProgressError, BackupProgressStatusEntry, BackupProgressSummary, ResticSnapshot,
    SnapshotSummary,
};
use crate::words::split_words;
use serde::Deserialize;
use std::collections::VecDeque;
use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod output;

use output::RawSnapshot;
pub use output::{BackupEvent, parse_backup_line, parse_forget, parse_rfc3339_ms};

/// How much of restic's stderr is kept to explain a failure.
const STDERR_KEPT: usize = 8 * 1024;
/// How much of restic's output goes into an operation's error message (docs/COMPATIBILITY.md §6).
const MESSAGE_MAX: usize = 1000;

/// Errors from running restic. Messages are short and never contain secrets.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ResticError {
    /// restic could not be started at all.
    Spawn { cmd: String, error: String },
    /// restic ran and exited non-zero; `message` is what it said about why.
    Exit { code: i32, message: String },
    /// restic was killed by a signal it did not ask for.
    Signal { signal: i32, message: String },
    /// restic was stopped because a user or the daemon asked.
    Cancelled,
    /// restic's output could not be understood.
    Output(String),
    /// An argument footrest was asked to pass is unusable.
    BadArgument(String),
}

/// What a restic error means for the caller, whatever asked for it (a task or a browse call).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResticKind {
    /// restic could not be started.
    NotStarted,
    /// footrest was asked to pass an unusable argument.
    BadArgument,
    /// The repository password is wrong.
    WrongPassword,
    /// The snapshot, file or id asked for does not exist.
    NoSuchObject,
    /// Another process holds the repository's lock.
    Locked,
    /// Any other failure.
    Failed,
}

impl ResticError {
    pub fn kind(&self) -> ResticKind {
        match self {
            Self::Spawn { .. } => ResticKind::NotStarted,
            Self::BadArgument(_) => ResticKind::BadArgument,
            Self::Exit { message, .. }
                if message.contains("no matching ID found")
                    || message.contains("not found in snapshot")
                    || message.contains("invalid id") =>
            {
                ResticKind::NoSuchObject
            }
            e if e.is_wrong_password() => ResticKind::WrongPassword,
            e if e.is_locked() => ResticKind::Locked,
            _ => ResticKind::Failed,
        }
    }

    /// Exit code 10 (0.17+) or the 0.14 text for a repository that is not there.
    pub fn is_repo_missing(&self) -> bool {
        match self {
            Self::Exit { code: 10, .. } => true,
            Self::Exit { code: 1, message } => {
                message.contains("Is there a repository at the following location?")
                    || message.contains("unable to open config file")
                    || message.contains("repository does not exist")
            }
            _ => false,
        }
    }

    /// Exit code 11 (0.17+) or the 0.14 text for a repository locked by another process.
    pub fn is_locked(&self) -> bool {
        match self {
            Self::Exit { code: 11, .. } => true,
            Self::Exit { message, .. } => message.contains("repository is already locked"),
            _ => false,
        }
    }

    /// Exit code 12 (0.17+) or the 0.14 text for a wrong password.
    pub fn is_wrong_password(&self) -> bool {
        match self {
            Self::Exit { code: 12, .. } => true,
            Self::Exit { message, .. } => message.contains("wrong password"),
            _ => false,
        }
    }
}

impl fmt::Display for ResticError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Spawn { cmd, error } => write!(f, "could not run restic ({cmd}): {error}"),
            Self::Exit { code, message } if message.is_empty() => {
                write!(f, "restic exited with status {code}")
            }
            Self::Exit { code, message } => {
                write!(f, "restic exited with status {code}: {message}")
            }
            Self::Signal { signal, message } if message.is_empty() => {
                write!(f, "restic was killed by signal {signal}")
            }
            Self::Signal { signal, message } => {
                write!(f, "restic was killed by signal {signal}: {message}")
            }
            Self::Cancelled => f.write_str("restic was stopped"),
            Self::Output(m) => write!(f, "unexpected restic output: {m}"),
            Self::BadArgument(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for ResticError {}

/// How to run restic for one repository.
#[derive(Clone, Debug)]
pub struct Restic {
    /// The restic command (`--restic-cmd`), shell-split (e.g. a wrapper with arguments).
    pub cmd: Vec<String>,
    pub repo: Repo,
    /// Stops every run of this value that is not given its own handle (see `with_cancel`).
    cancel: Option<CancelHandle>,
}

impl Restic {
    pub fn new(restic_cmd: &str, repo: &Repo) -> Result<Self, ResticError> {
        let cmd = split_words(restic_cmd)
            .map_err(|e| ResticError::BadArgument(format!("restic command: {e}")))?;
        if cmd.is_empty() {
            return Err(ResticError::BadArgument("restic command is empty".into()));
        }
        Ok(Self {
            cmd,
            repo: repo.clone(),
            cancel: None,
        })
    }

    /// The same restic, with `cancel` stopping each of its runs that has no handle of its own.
    pub fn with_cancel(mut self, cancel: CancelHandle) -> Self {
        self.cancel = Some(cancel);
        self
    }

    /// The full command: prefix (nice/ionice), restic, args, repo flags; env with secrets.
    pub fn command(&self, args: &[String]) -> Result<Command, ResticError> {
        let mut argv: Vec<String> = self
            .repo
            .command_prefix
            .as_ref()
            .map(|p| p.argv())
            .unwrap_or_default();
        argv.extend(self.cmd.iter().cloned());
        argv.extend(args.iter().cloned());
        for flag in &self.repo.flags {
            let expanded = expand_env(flag, &|k| std::env::var(k).ok());
            argv.extend(split_words(&expanded).map_err(|e| {
                ResticError::BadArgument(format!("repo \"{}\" flag: {e}", self.repo.id))
            })?);
        }
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..]);
        if !self.repo.password.is_empty() {
            cmd.env("RESTIC_PASSWORD", &self.repo.password)
                .env("RESTIC_PASSWORD_FILE", "")
                .env("RESTIC_PASSWORD_COMMAND", "");
        }
        for entry in &self.repo.env {
            if let Some((k, v)) = entry.split_once('=') {
                cmd.env(k, expand_env(v, &|k| std::env::var(k).ok()));
            }
        }
        cmd.env("RESTIC_REPOSITORY", &self.repo.uri);
        cmd.stdin(Stdio::null());
        crate::children::bind_to_daemon(&mut cmd);
        Ok(cmd)
    }

    /// Runs restic to completion and returns its stdout. Non-zero exit is an error carrying
    /// restic's own explanation.
    pub fn output(
        &self,
        args: &[&str],
        cancel: Option<&CancelHandle>,
    ) -> Result<String, ResticError> {
        let mut out = String::new();
        self.run(args, cancel, &mut |line| {
            out.push_str(line);
            out.push('\n');
        })?;
        Ok(out)
    }

    /// Runs restic, calling `on_line` for each stdout line as it arrives.
    pub fn run(
        &self,
        args: &[&str],
        cancel: Option<&CancelHandle>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<i32, ResticError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        self.run_with(&args, &[], cancel, on_line)
    }

    /// `run` with extra environment entries. Returns the exit code when it is 0 or 3 (partial
    /// backup); every other outcome is an error.
    pub fn run_with(
        &self,
        args: &[String],
        env: &[(&str, &str)],
        cancel: Option<&CancelHandle>,
        on_line: &mut dyn FnMut(&str),
    ) -> Result<i32, ResticError> {
        let cancel = cancel.or(self.cancel.as_ref());
        let mut cmd = self.command(args)?;
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let shown = self.cmd.join(" ");
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(ResticError::Cancelled);
        }
        let mut child = cmd.spawn().map_err(|e| ResticError::Spawn {
            cmd: shown.clone(),
            error: e.to_string(),
        })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let guard = ChildGuard::new(&mut child, cancel);
        let stderr_thread = std::thread::Builder::new()
            .name("restic-stderr".into())
            .spawn(move || read_tail(stderr))
            .ok();
        let mut exit_error: Option<(i32, String)> = None;
        if let Some(stdout) = stdout {
            let mut reader = BufReader::new(stdout);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf);
                        let line = line.trim_end_matches(['\n', '\r']);
                        on_line(line);
                    }
                }
            }
        }
        let status = guard.wait();
        let stderr_text = stderr_thread
            .and_then(|t| t.join().ok())
            .unwrap_or_default();
        for line in stderr_text.lines() {
            if let Some((code, msg)) = parse_exit_error(line) {
                exit_error = Some((code, msg));
            }
        }
        let status = status.map_err(|e| ResticError::Spawn {
            cmd: shown,
            error: e.to_string(),
        })?;
        if cancel.is_some_and(|c| c.is_cancelled()) && !status.success() {
            return Err(ResticError::Cancelled);
        }
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(0),
            (Some(3), _) => Ok(3),
            (Some(code), _) => {
                let message = match exit_error {
                    Some((_, m)) => m,
                    None => explain(&stderr_text),
                };
                Err(ResticError::Exit { code, message })
            }
            (None, Some(signal)) => Err(ResticError::Signal {
                signal,
                message: explain(&stderr_text),
            }),
            (None, None) => Err(ResticError::Output("restic ended without a status".into())),
        }
    }

    /// restic's version as (major, minor), read once per restic command and cached.
    pub fn version(&self) -> Option<(u32, u32)> {
        type Known = (Vec<String>, Option<(u32, u32)>);
        static CACHE: std::sync::Mutex<Vec<Known>> = std::sync::Mutex::new(Vec::new());
        let mut cache = CACHE.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, v)) = cache.iter().find(|(c, _)| *c == self.cmd) {
            return *v;
        }
        let out = Command::new(&self.cmd[0])
            .args(&self.cmd[1..])
            .arg("version")
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok();
        let v = out.and_then(|o| parse_version(&String::from_utf8_lossy(&o.stdout)));
        cache.push((self.cmd.clone(), v));
        v
    }

    /// True when restic is at least `major.minor` (unknown versions count as old).
    pub fn version_at_least(&self, major: u32, minor: u32) -> bool {
        self.version().is_some_and(|v| v >= (major, minor))
    }

    /// Runs restic, handing its stdout to `on_data` in chunks as they arrive (bytes, not lines:
    /// `dump` output is binary). With `merge_stderr`, stderr goes to `on_data` too, interleaved
    /// as restic writes it (RunCommand shows a user everything restic said). An error from
    /// `on_data` (the receiver went away) stops restic's process group. Exit codes as `run_with`.
    pub fn run_bytes(
        &self,
        args: &[String],
        cancel: Option<&CancelHandle>,
        merge_stderr: bool,
        on_data: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
    ) -> Result<i32, ResticError> {
        let cancel = cancel.or(self.cancel.as_ref());
        let mut cmd = self.command(args)?;
        let shown = self.cmd.join(" ");
        let spawn_err = |e: std::io::Error| ResticError::Spawn {
            cmd: shown.clone(),
            error: e.to_string(),
        };
        let mut merged_reader = None;
        if merge_stderr {
            let (reader, writer) = std::io::pipe().map_err(spawn_err)?;
            cmd.stdout(writer.try_clone().map_err(spawn_err)?)
                .stderr(writer);
            merged_reader = Some(reader);
        } else {
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        }
        if cancel.is_some_and(|c| c.is_cancelled()) {
            return Err(ResticError::Cancelled);
        }
        let mut child = cmd.spawn().map_err(spawn_err)?;
        // The parent's copies of the pipe's write end went away with `cmd`'s Stdio when
        // spawned: drop the command so that the reader sees end-of-file when restic exits.
        drop(cmd);
        let stdout: Option<Box<dyn Read + Send>> = match merged_reader {
            Some(r) => Some(Box::new(r)),
            None => child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn Read + Send>),
        };
        let stderr = child.stderr.take();
        let guard = ChildGuard::new(&mut child, cancel);
        let stderr_thread = stderr.and_then(|pipe| {
            std::thread::Builder::new()
                .name("restic-stderr".into())
                .spawn(move || read_tail(Some(pipe)))
                .ok()
        });
        let mut tail: VecDeque<u8> = VecDeque::new();
        let mut receiver_error = None;
        if let Some(mut out) = stdout {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                match out.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        if merge_stderr {
                            tail.extend(&buf[..n]);
                            let excess = tail.len().saturating_sub(STDERR_KEPT);
                            tail.drain(..excess);
                        }
                        if let Err(e) = on_data(&buf[..n]) {
                            receiver_error = Some(e);
                            break;
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => break,
                }
            }
        }
        if let Some(e) = receiver_error {
            drop(guard); // kills the group and reaps restic
            let _ = stderr_thread.map(|t| t.join());
            return Err(ResticError::Output(format!(
                "stopped: the receiver of restic's output failed: {e}"
            )));
        }
        let status = guard.wait().map_err(spawn_err)?;
        let stderr_text = match stderr_thread {
            Some(t) => t.join().unwrap_or_default(),
            None => String::from_utf8_lossy(tail.make_contiguous()).into_owned(),
        };
        if cancel.is_some_and(|c| c.is_cancelled()) && !status.success() {
            return Err(ResticError::Cancelled);
        }
        let exit_message = || {
            stderr_text
                .lines()
                .rev()
                .find_map(parse_exit_error)
                .map(|(_, m)| m)
                .unwrap_or_else(|| explain(&stderr_text))
        };
        match (status.code(), status.signal()) {
            (Some(0), _) => Ok(0),
            (Some(3), _) => Ok(3),
            (Some(code), _) => Err(ResticError::Exit {
                code,
                message: exit_message(),
            }),
            (None, Some(signal)) => Err(ResticError::Signal {
                signal,
                message: explain(&stderr_text),
            }),
            (None, None) => Err(ResticError::Output("restic ended without a status".into())),
        }
    }

    /// The repository's config id (the guid), via `restic cat config`.
    pub fn repo_id(&self) -> Result<String, ResticError> {
        let out = self.output(&["cat", "config", "--json", "--no-lock"], None)?;
        #[derive(Deserialize)]
        struct RepoConfig {
            id: String,
        }
        let c: RepoConfig = serde_json::from_str(&out)
            .map_err(|e| ResticError::Output(format!("cat config: {e}")))?;
        if c.id.len() != 64 || !c.id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(ResticError::Output(format!(
                "cat config: repository id {:?} is not 64 hex characters",
                c.id
            )));
        }
        Ok(c.id)
    }

    /// `restic init`.
    pub fn init(&self) -> Result<(), ResticError> {
        self.output(&["init"], None).map(|_| ())
    }

    /// `restic unlock`.
    pub fn unlock(&self) -> Result<(), ResticError> {
        self.output(&["unlock"], None).map(|_| ())
    }

    /// `restic snapshots --json`, optionally filtered by a tag set (`a,b` = both).
    pub fn snapshots(&self, tags: Option<&str>) -> Result<Vec<ResticSnapshot>, ResticError> {
        let mut args = vec!["snapshots", "--json", "--no-lock"];
        if let Some(t) = tags {
            args.extend(["--tag", t]);
        }
        let out = self.output(&args, None)?;
        let raw: Vec<RawSnapshot> = serde_json::from_str(out.trim())
            .map_err(|e| ResticError::Output(format!("snapshots: {e}")))?;
        Ok(raw.into_iter().map(RawSnapshot::into_snapshot).collect())
    }

    /// `restic snapshots --json` of the given ids (full or short) only.
    pub fn snapshots_by_id(&self, ids: &[&str]) -> Result<Vec<ResticSnapshot>, ResticError> {
        let mut args = vec!["snapshots", "--json", "--no-lock"];
        args.extend(ids);
        let out = self.output(&args, None)?;
        let raw: Vec<RawSnapshot> = serde_json::from_str(out.trim())
            .map_err(|e| ResticError::Output(format!("snapshots: {e}")))?;
        Ok(raw.into_iter().map(RawSnapshot::into_snapshot).collect())
    }

    /// The full id of a snapshot named by a short one, read from a local repository's
    /// `snapshots/` directory (each file there is named by its snapshot's full id) without
    /// starting restic. None for other backends or when the prefix is not unique.
    pub fn local_full_id(&self, short: &str) -> Option<String> {
        let uri = &self.repo.uri;
        let dir = uri.strip_prefix("local:").unwrap_or(uri);
        if !dir.starts_with('/') || short.is_empty() {
            return None;
        }
        let mut found = None;
        for entry in std::fs::read_dir(Path::new(dir).join("snapshots")).ok()? {
            let name = entry.ok()?.file_name().into_string().ok()?;
            if name.len() == 64
                && name.starts_with(short)
                && name.bytes().all(|b| b.is_ascii_hexdigit())
                && found.replace(name).is_some()
            {
                return None;
            }
        }
        found
    }

    /// `restic forget --json`; returns the snapshots it removed.
    pub fn forget(
        &self,
        args: &[String],
        cancel: Option<&CancelHandle>,
    ) -> Result<Vec<ResticSnapshot>, ResticError> {
        let mut full = vec!["forget".to_string(), "--json".to_string()];
        full.extend(args.iter().cloned());
        let mut out = String::new();
        self.run_with(&full, &[], cancel, &mut |l| {
            out.push_str(l);
            out.push('\n');
        })?;
        parse_forget(&out)
    }
}

/// `restic 0.14.0 compiled with go1.19.8 on linux/amd64` → (0, 14).
fn parse_version(s: &str) -> Option<(u32, u32)> {
    let v = s.split_whitespace().nth(1)?;
    let mut parts = v.split('.');
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Kills the child's process group if the run is abandoned (panic, early return).
struct ChildGuard<'a> {
    child: &'a mut Child,
    cancel: CancelHandle,
    done: bool,
}

impl<'a> ChildGuard<'a> {
    fn new(child: &'a mut Child, cancel: Option<&CancelHandle>) -> Self {
        let cancel = cancel.cloned().unwrap_or_default();
        cancel.set_pgid(child.id() as i32);
        Self {
            child,
            cancel,
            done: false,
        }
    }

    fn wait(mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait();
        self.done = true;
        self.cancel.set_pgid(0);
        status
    }
}

impl Drop for ChildGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.cancel.kill_group();
            let _ = self.child.wait();
            self.cancel.set_pgid(0);
        }
    }
}

/// Reads everything, keeping the head and the tail (at most STDERR_KEPT bytes).
fn read_tail(pipe: Option<std::process::ChildStderr>) -> String {
    let Some(mut pipe) = pipe else {
        return String::new();
    };
    let mut tail: VecDeque<u8> = VecDeque::new();
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend(&buf[..n]);
                while tail.len() > STDERR_KEPT {
                    tail.pop_front();
                }
            }
        }
    }
    String::from_utf8_lossy(tail.make_contiguous()).into_owned()
}

/// restic ≥ 0.17 prints `{"message_type":"exit_error","code":N,"message":"..."}` on stderr.
fn parse_exit_error(line: &str) -> Option<(i32, String)> {
    #[derive(Deserialize)]
    struct ExitError {
        message_type: String,
        #[serde(default)]
        code: i32,
        #[serde(default)]
        message: String,
    }
    let e: ExitError = serde_json::from_str(line.trim()).ok()?;
    (e.message_type == "exit_error").then_some((e.code, e.message))
}

/// The useful part of restic's stderr: the text, at most MESSAGE_MAX bytes, its end kept.
fn explain(stderr: &str) -> String {
    let text: String = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !l.starts_with('{'))
        .collect::<Vec<_>>()
        .join("\n");
    truncate_start(text.trim(), MESSAGE_MAX)
}

/// Keeps the last `max` bytes (on a char boundary), marking the cut.
pub fn truncate_start(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// Expands `${VAR}` (and `$VAR`) from `lookup`; unknown variables become empty, as in a shell.
pub fn expand_env(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(inner) = after.strip_prefix('{') {
            if let Some(end) = inner.find('}') {
                out.push_str(&lookup(&inner[..end]).unwrap_or_default());
                rest = &inner[end + 1..];
                continue;
            }
        } else {
            let len = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            if len > 0 && !after.starts_with(|c: char| c.is_ascii_digit()) {
                out.push_str(&lookup(&after[..len]).unwrap_or_default());
                rest = &after[len..];
                continue;
            }
        }
        out.push('$');
        rest = after;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests;
