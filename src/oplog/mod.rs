//! The operation log: every operation's history, kept as newline-delimited JSON in
//! `<data>/oplog/`, and the daemon's data-directory lock.
//!
//! Owned by the daemon through one `Arc<OpLog>`: handler threads query it, the worker and the
//! orchestrator write it. Methods take `&self`; writes are serialized by an internal lock and
//! listeners registered with [`OpLog::subscribe`] are called while it is held, so they see
//! changes in modno order and must not call back into the log.

mod format;

use crate::model::{OpSelector, Operation, OperationStatus};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

/// The message recovery writes on operations a restart interrupted (SPEC.md §6).
pub const INTERRUPTED_MESSAGE: &str = "Operation was incomplete when orchestrator was restarted.";

/// How often progress of one running operation may reach the disk.
pub const PROGRESS_INTERVAL: Duration = Duration::from_secs(10);

/// Errors of the operation log. Messages name the file or the operation that was wrong.
#[non_exhaustive]
#[derive(Debug)]
pub enum OpLogError {
    /// An I/O error on a file of the log: what was being done, the path, the cause.
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    /// Another daemon holds the data directory.
    Locked { data_dir: PathBuf },
    /// An update or progress for an id the log does not hold.
    NotFound(i64),
    /// A write on a log opened with [`OpLog::open_read_only`].
    ReadOnly,
}

impl fmt::Display for OpLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpLogError::Io {
                action,
                path,
                source,
            } => write!(f, "cannot {action} {}: {source}", path.display()),
            OpLogError::Locked { data_dir } => {
                write!(f, "another footrest is running on {}", data_dir.display())
            }
            OpLogError::NotFound(id) => write!(f, "operation {id} not found"),
            OpLogError::ReadOnly => f.write_str("operation log is open read-only"),
        }
    }
}

impl std::error::Error for OpLogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpLogError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

fn io_err<'a>(action: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> OpLogError + 'a {
    move |source| OpLogError::Io {
        action,
        path: path.to_path_buf(),
        source,
    }
}

/// A change to the log, as GetOperationEvents streams it.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Created(Vec<Operation>),
    Updated(Vec<Operation>),
    Deleted(Vec<i64>),
}

type Listener = Box<dyn Fn(&Change) + Send + Sync>;

/// Takes the exclusive daemon lock `<data>/footrest.lock`; keep the returned file for the
/// process lifetime (the lock ends when it is closed).
pub fn lock_data_dir(data: &Path) -> Result<File, OpLogError> {
    fs::create_dir_all(data).map_err(io_err("create", data))?;
    let path = data.join("footrest.lock");
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io_err("open", &path))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => {
            return Err(OpLogError::Locked {
                data_dir: data.to_path_buf(),
            });
        }
        Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
    }
    // The pid helps a user find the holder; failing to write it changes nothing.
    let _ = file.set_len(0);
    let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
    Ok(file)
}

const SEGMENT: &str = "000001.ndjson";

struct State {
    ops: BTreeMap<i64, Operation>,
    max_id: i64,
    max_modno: i64,
    /// The active segment, opened for appending; None when read-only.
    writer: Option<File>,
    /// Running operations whose newest progress is only in memory, and when each was last written.
    progress_written: HashMap<i64, Instant>,
    damaged: u64,
}

/// The operation log. See the module doc.
pub struct OpLog {
    dir: PathBuf,
    writable: bool,
    state: RwLock<State>,
    listeners: RwLock<Vec<Listener>>,
    /// Held for the log's lifetime: one writer per directory.
    _writer_lock: Mutex<Option<File>>,
}

impl OpLog {
    /// Opens (creating) the log in `dir` (= `<data>/oplog`) for the daemon, the single writer.
    pub fn open(dir: &Path) -> Result<OpLog, OpLogError> {
        Self::open_inner(dir, true)
    }

    /// Opens for reading only (the `footrest ops` CLI); safe while a daemon writes.
    pub fn open_read_only(dir: &Path) -> Result<OpLog, OpLogError> {
        Self::open_inner(dir, false)
    }

    fn open_inner(dir: &Path, writable: bool) -> Result<OpLog, OpLogError> {
        let mut lock = None;
        if writable {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            let lpath = dir.join("writer.lock");
            let f = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&lpath)
                .map_err(io_err("open", &lpath))?;
            match f.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(OpLogError::Locked {
                        data_dir: dir.parent().unwrap_or(dir).to_path_buf(),
                    });
                }
                Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &lpath)(e)),
            }
            lock = Some(f);
        }
        let path = dir.join(SEGMENT);
        let mut data = Vec::new();
        match File::open(&path) {
            Ok(mut f) => {
                f.read_to_end(&mut data).map_err(io_err("read", &path))?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("open", &path)(e)),
        }
        let mut state = State {
            ops: BTreeMap::new(),
            max_id: 0,
            max_modno: 0,
            writer: None,
            progress_written: HashMap::new(),
            damaged: 0,
        };
        let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
        for line in data[..complete].split(|b| *b == b'\n') {
            if line.is_empty() {
                continue;
            }
            let Some(scan) = format::scan_line(line) else {
                state.damaged += 1;
                continue;
            };
            if let Some(c) = &scan.counters {
                state.max_id = state.max_id.max(c.id);
                state.max_modno = state.max_modno.max(c.modno);
            } else if scan.is_tombstone() {
                state.max_modno = state.max_modno.max(scan.modno);
                for id in &scan.deleted {
                    state.max_id = state.max_id.max(*id);
                    state.ops.remove(id);
                }
            } else if let Some(op) = format::decode_op(line) {
                state.max_id = state.max_id.max(op.id);
                state.max_modno = state.max_modno.max(op.modno);
                state.ops.insert(op.id, op);
            } else {
                state.damaged += 1;
            }
        }
        if state.damaged > 0 {
            log::warn!(
                "{}: skipped {} damaged line(s)",
                path.display(),
                state.damaged
            );
        }
        if writable {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .map_err(io_err("open", &path))?;
            if complete < data.len() {
                log::warn!(
                    "{}: cut a torn last line of {} bytes",
                    path.display(),
                    data.len() - complete
                );
                f.set_len(complete as u64)
                    .map_err(io_err("truncate", &path))?;
            }
            state.writer = Some(f);
        }
        Ok(OpLog {
            dir: dir.to_path_buf(),
            writable,
            state: RwLock::new(state),
            listeners: RwLock::new(Vec::new()),
            _writer_lock: Mutex::new(lock),
        })
    }

    fn write_state(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read_state(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, change: &Change) {
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for l in listeners.iter() {
            l(change);
        }
    }

    fn append(&self, state: &mut State, line: &[u8], sync: bool) -> Result<(), OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let path = self.dir.join(SEGMENT);
        let Some(f) = state.writer.as_mut() else {
            return Err(OpLogError::ReadOnly);
        };
        let before = f.metadata().map_err(io_err("write", &path))?.len();
        if let Err(e) = f.write_all(line) {
            // Leave no partial line behind for the next append to glue onto.
            let _ = f.set_len(before);
            return Err(io_err("write", &path)(e));
        }
        if sync {
            f.sync_data().map_err(io_err("sync", &path))?;
        }
        Ok(())
    }

    /// Startup rules (SPEC.md §6): PENDING operations are deleted; INPROGRESS ones become ERROR
    /// with [`INTERRUPTED_MESSAGE`] and end = start. Returns the operations turned to ERROR.
    pub fn recover_interrupted(&self) -> Result<Vec<Operation>, OpLogError> {
        let (pending, running): (Vec<i64>, Vec<Operation>) = {
            let st = self.read_state();
            let pending = st
                .ops
                .values()
                .filter(|o| o.status == OperationStatus::Pending)
                .map(|o| o.id)
                .collect();
            let running = st
                .ops
                .values()
                .filter(|o| o.status == OperationStatus::InProgress)
                .cloned()
                .collect();
            (pending, running)
        };
        if !pending.is_empty() {
            self.delete(&pending)?;
        }
        let mut out = Vec::new();
        for mut op in running {
            op.status = OperationStatus::Error;
            op.display_message = INTERRUPTED_MESSAGE.to_string();
            op.unix_time_end_ms = op.unix_time_start_ms;
            self.update(&mut op)?;
            out.push(op);
        }
        Ok(out)
    }

    /// Adds an operation: assigns its id (max+1) when 0, its modno, and its flow id (= id) when 0.
    /// A terminal operation is on disk (fsynced) when this returns.
    pub fn add(&self, op: &mut Operation) -> Result<(), OpLogError> {
        let mut st = self.write_state();
        let mut new = op.clone();
        if new.id == 0 {
            new.id = st.max_id + 1;
        }
        if new.flow_id == 0 {
            new.flow_id = new.id;
        }
        new.modno = st.max_modno + 1;
        let line = format::encode_op(&new);
        self.append(&mut st, &line, new.status.is_terminal())?;
        st.max_id = st.max_id.max(new.id);
        st.max_modno = new.modno;
        if !new.status.is_terminal() {
            st.progress_written.insert(new.id, Instant::now());
        }
        st.ops.insert(new.id, new.clone());
        *op = new;
        self.notify(&Change::Created(vec![op.clone()]));
        Ok(())
    }

    /// Replaces the operation with `op.id` (which must exist), with the next modno.
    /// A terminal operation is on disk (fsynced) when this returns.
    pub fn update(&self, op: &mut Operation) -> Result<(), OpLogError> {
        let mut st = self.write_state();
        if !st.ops.contains_key(&op.id) {
            return Err(OpLogError::NotFound(op.id));
        }
        let mut new = op.clone();
        new.modno = st.max_modno + 1;
        let line = format::encode_op(&new);
        self.append(&mut st, &line, new.status.is_terminal())?;
        st.max_modno = new.modno;
        if new.status.is_terminal() {
            st.progress_written.remove(&new.id);
        } else {
            st.progress_written.insert(new.id, Instant::now());
        }
        st.ops.insert(new.id, new.clone());
        *op = new;
        self.notify(&Change::Updated(vec![op.clone()]));
        Ok(())
    }

    /// Progress of a running operation: like [`update`](Self::update), but the line reaches the
    /// disk at most once per [`PROGRESS_INTERVAL`] per operation; get and query serve the newest.
    pub fn update_progress(&self, op: &mut Operation) -> Result<(), OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let mut st = self.write_state();
        if !st.ops.contains_key(&op.id) {
            return Err(OpLogError::NotFound(op.id));
        }
        let mut new = op.clone();
        new.modno = st.max_modno + 1;
        let due = st
            .progress_written
            .get(&new.id)
            .is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL);
        if due || new.status.is_terminal() {
            let line = format::encode_op(&new);
            self.append(&mut st, &line, new.status.is_terminal())?;
            st.progress_written.insert(new.id, Instant::now());
        }
        st.max_modno = new.modno;
        st.ops.insert(new.id, new.clone());
        *op = new;
        self.notify(&Change::Updated(vec![op.clone()]));
        Ok(())
    }

    pub fn get(&self, id: i64) -> Result<Option<Operation>, OpLogError> {
        Ok(self.read_state().ops.get(&id).cloned())
    }

    /// All operations matching `sel`; with `last_n > 0` only the `last_n` newest by start time.
    /// Sorted by id ascending.
    pub fn query(&self, sel: &OpSelector, last_n: usize) -> Result<Vec<Operation>, OpLogError> {
        let st = self.read_state();
        let mut out: Vec<Operation> = st
            .ops
            .values()
            .filter(|o| sel.matches(o))
            .cloned()
            .collect();
        if last_n > 0 && out.len() > last_n {
            out.sort_by_key(|o| (o.unix_time_start_ms, o.id));
            out.drain(..out.len() - last_n);
            out.sort_by_key(|o| o.id);
        }
        Ok(out)
    }

    /// Deletes the given ids; returns the ids that existed and are now gone.
    pub fn delete(&self, ids: &[i64]) -> Result<Vec<i64>, OpLogError> {
        let mut st = self.write_state();
        let mut gone: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| st.ops.contains_key(id))
            .collect();
        gone.sort_unstable();
        gone.dedup();
        if gone.is_empty() {
            return Ok(gone);
        }
        let modno = st.max_modno + 1;
        let line = format::encode_tombstone(&gone, modno);
        self.append(&mut st, &line, true)?;
        st.max_modno = modno;
        for id in &gone {
            st.ops.remove(id);
            st.progress_written.remove(id);
        }
        self.notify(&Change::Deleted(gone.clone()));
        Ok(gone)
    }

    /// Registers a listener called with every change, synchronously after the write and in
    /// modno order. It must be cheap (push into a channel) and must not call back into the log.
    pub fn subscribe(&self, f: Box<dyn Fn(&Change) + Send + Sync>) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// Damaged lines skipped since open.
    pub fn damaged_lines(&self) -> u64 {
        self.read_state().damaged
    }
}
