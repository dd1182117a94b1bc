//! The operation log: every operation's history, kept as newline-delimited JSON in
//! `<data>/oplog/`, and the daemon's data-directory lock.
//!
//! Owned by the daemon through one `Arc<OpLog>`: handler threads query it (a shared lock), the
//! worker and the orchestrator write it (an exclusive lock, held for one append). Listeners
//! registered with [`OpLog::subscribe`] are called while the write lock is held, so they see
//! changes in modno order; they must be cheap and must not call back into the log.
//!
//! # On disk
//!
//! ```text
//! <data>/footrest.lock       the daemon's lock (flock, exclusive, for its lifetime)
//! <data>/oplog/000001.ndjson segments: append-only, one JSON object per line, a new one past
//! <data>/oplog/000002.ndjson   `Options::segment_bytes` (8 MiB)
//! <data>/oplog/index.ckpt    checkpoint of the in-memory index (optional, rebuilt if bad)
//! <data>/oplog/writer.lock   held exclusively by the one process that writes
//! <data>/oplog/compact.lock  exclusive while compaction swaps files; readers take it shared
//! ```
//!
//! A line is an operation in the API's proto3 JSON, a tombstone `{"deleted":["3"],...}` or a
//! counters line, each ending in a `"crc32"` member (see `format`). The newest line of an id
//! wins. Open scans the segments (or loads the checkpoint and scans only what follows it) into
//! a compact index (see `index`): about 64 bytes per operation, no JSON kept in memory; queries
//! pick entries from the index and read only the lines they return.
//!
//! # Durability
//!
//! A terminal record is fsynced before `add`/`update` return; deletes are fsynced too. Progress
//! of a running operation ([`OpLog::update_progress`]) reaches the disk at most once per
//! [`Options::progress_interval`]; the newest is served from memory. A crash can lose only
//! progress and non-terminal states, which the startup rules then resolve.
//!
//! Open never refuses a damaged log: a torn last line is cut, a line whose checksum fails is
//! skipped and counted (one warning), and a failed write leaves no fragment behind, so writing
//! resumes when the disk has room again.

mod compact;
mod format;
mod gc;
mod index;
mod open;

use open::{Lost, entry_of};
mod store;

pub mod cli;

pub use cli::ops_cli;
pub use gc::{GcReport, gc_limits};
pub use index::GroupKey;

use crate::model::{OpSelector, Operation, OperationStatus};
use index::{Entry, HOT, Index, Prev};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
// usize counters: 32-bit MIPS has no 64-bit atomics.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use store::{Durable, Store};

/// The message recovery writes on operations a restart interrupted (docs/COMPATIBILITY.md §6).
pub const INTERRUPTED_MESSAGE: &str = "Operation was incomplete when orchestrator was restarted.";

/// How far the modno counter jumps when a log with unfinished operations is opened: more than
/// the progress updates a crash can lose (restic reports 2 a second, written every 10 s).
const MODNO_GAP: i64 = 10_000;

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
    let file = try_lock_file(&data.join("footrest.lock"), data)?;
    // The pid helps a user find the holder; failing to write it changes nothing.
    let _ = file.set_len(0);
    let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
    Ok(file)
}

/// Opens (creating) `path` and takes an exclusive lock on it without waiting. On a read-only
/// file system an existing lock file is locked through a read-only handle (flock allows it),
/// so a daemon can still start and serve history there.
fn try_lock_file(path: &Path, data_dir: &Path) -> Result<File, OpLogError> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .or_else(|e| File::open(path).map_err(|_| e))
        .map_err(io_err("open", path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(OpLogError::Locked {
            data_dir: data_dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io_err("lock", path)(e)),
    }
}

/// Tuning of a writable log; the defaults are what the daemon uses.
#[derive(Clone, Debug)]
pub struct Options {
    /// A new segment is started past this size.
    pub segment_bytes: u64,
    /// The least time between two progress lines of one operation.
    pub progress_interval: Duration,
    /// fsync terminal records and deletes. Off only for generating test and benchmark data.
    pub sync: bool,
    /// A scan at open of more bytes than this, with a second core, checks the line checksums
    /// on a second thread beside it.
    pub checks_beside_from: u64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            segment_bytes: 8 << 20,
            progress_interval: Duration::from_secs(10),
            sync: true,
            checks_beside_from: 8 << 20,
        }
    }
}

/// What the index holds about one operation (see [`OpLog::walk_index`]).
pub struct IndexFacts<'a> {
    /// The number of `key` in this walk: equal keys, equal numbers.
    pub group: u32,
    pub id: i64,
    pub start_ms: i64,
    pub status: OperationStatus,
    /// An index-snapshot operation whose snapshot was forgotten.
    pub forgot: bool,
    /// Repo id and guid, plan, instance and kind.
    pub key: &'a index::GroupKey,
}

impl<'a> IndexFacts<'a> {
    fn of(keys: &'a [index::GroupKey], e: &Entry) -> Option<IndexFacts<'a>> {
        Some(IndexFacts {
            group: e.group,
            id: e.id,
            start_ms: e.start_ms,
            status: e.status(),
            forgot: e.flags & index::FORGOT != 0,
            key: keys.get(e.group as usize)?,
        })
    }
}

/// Operations a restart interrupted (see [`OpLog::interrupted`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Interrupted {
    pub pending: Vec<i64>,
    pub running: Vec<i64>,
}

/// Figures about an open log (`footrest ops --stats` and the benchmark print them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpLogStats {
    pub operations: usize,
    pub segments: usize,
    pub disk_bytes: u64,
    pub live_bytes: u64,
    pub damaged_lines: u64,
    pub index_heap_bytes: usize,
    pub max_id: i64,
    pub max_modno: i64,
    /// Bytes of segments open had to scan (all of them without a usable checkpoint).
    pub scanned_bytes: u64,
    /// Segments open found missing, emptied or cut short (see [`OpLog::open_with`]).
    pub lost_segments: usize,
    /// Operations the checkpoint placed in those segments (0 when there was no checkpoint).
    pub lost_operations: u64,
    /// Operation lines read from the segments since open (what a lookup costs).
    pub lines_read: u64,
}

struct State {
    index: Index,
    store: Store,
    max_id: i64,
    max_modno: i64,
    /// Operations whose newest state (progress) is in memory only.
    hot: HashMap<i64, Operation>,
    /// When each running operation's line was last written.
    written_at: HashMap<i64, Instant>,
    /// Bytes appended since the checkpoint was written.
    since_checkpoint: u64,
    scanned_bytes: u64,
    /// The number of segments when compaction was last considered.
    segments_seen: usize,
    /// A compaction is being copied (without the lock); no second one starts.
    compacting: bool,
}

/// What a write leaves for after the lock: the fsyncs of its terminal lines, and the checkpoint
/// and compaction that fell due. Readers never wait for the fsyncs or the compaction's copy.
#[must_use]
#[derive(Default)]
struct AfterLock {
    durable: Vec<Durable>,
    housekeeping: Housekeeping,
}

/// What fell due with a write: a compaction, a checkpoint.
#[derive(Default)]
struct Housekeeping {
    compaction: Option<store::CompactionPlan>,
    checkpoint: bool,
}

impl AfterLock {
    fn with(durable: Option<Durable>, housekeeping: Housekeeping) -> Self {
        AfterLock {
            durable: durable.into_iter().collect(),
            housekeeping,
        }
    }

    /// Syncs (its error is the caller's), then writes the checkpoint and compacts when due
    /// (their errors are only logged).
    fn finish(self, log: &OpLog) -> Result<(), OpLogError> {
        let synced = self.durable.into_iter().try_for_each(Durable::sync);
        if self.housekeeping.checkpoint
            && let Err(e) = log.checkpoint_shared(false)
        {
            log::warn!("operation log checkpoint: {e}");
        }
        if let Some(plan) = self.housekeeping.compaction
            && let Err(e) = log.run_compaction(plan)
        {
            log::warn!("operation log compaction: {e}");
        }
        synced
    }
}

/// The operation log. See the module doc.
pub struct OpLog {
    dir: PathBuf,
    writable: bool,
    opts: Options,
    state: RwLock<State>,
    listeners: RwLock<Vec<Listener>>,
    damaged: AtomicUsize,
    /// Lines read since open (see [`OpLogStats::lines_read`]).
    lines_read: AtomicUsize,
    /// Held while a checkpoint is written (under the shared lock): one at a time.
    checkpointing: Mutex<()>,
    /// What open found missing (see [`report_lost_segments`]).
    lost: Lost,
    /// Held for the log's lifetime: one writer per directory.
    _writer_lock: Option<File>,
}

impl OpLog {
    /// Opens (creating) the log in `dir` (= `<data>/oplog`) for the daemon, the single writer.
    pub fn open(dir: &Path) -> Result<OpLog, OpLogError> {
        Self::open_with(dir, Options::default())
    }

    /// [`open`](Self::open) with other options (tests, benchmarks).
    pub fn open_with(dir: &Path, opts: Options) -> Result<OpLog, OpLogError> {
        Self::open_inner(dir, true, opts)
    }

    /// Opens for reading only (the `footrest ops` CLI); safe while a daemon writes.
    pub fn open_read_only(dir: &Path) -> Result<OpLog, OpLogError> {
        Self::open_inner(dir, false, Options::default())
    }

    fn write_state(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    fn read_state(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn notify(&self, change: &Change) {
        let listeners = self.listeners.read().unwrap_or_else(|e| e.into_inner());
        for l in listeners.iter() {
            l(change);
        }
    }

    /// Appends the line of `op` and points the index at it. A terminal operation's line comes
    /// back as [`Durable`]: the caller syncs it after letting go of the lock.
    fn write_op(&self, st: &mut State, op: &Operation) -> Result<Option<Durable>, OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let line = format::encode_op(op);
        let sync = self.opts.sync && op.status.is_terminal();
        let (seg, off, durable) = st.store.append(&line, sync).inspect_err(|e| {
            log::error!("operation {}: {e}", op.id);
        })?;
        let len = line.len() as u32;
        let e = entry_of(&mut st.index, op, seg, off, len);
        if let Prev::Replaced(old) = st.index.upsert(e) {
            st.store.sub_live(old.seg, old.len);
        }
        st.store.add_live(seg, len);
        st.since_checkpoint += len as u64;
        st.hot.remove(&op.id);
        if op.status.is_terminal() {
            st.written_at.remove(&op.id);
        } else {
            st.written_at.insert(op.id, Instant::now());
        }
        Ok(durable)
    }

    /// Housekeeping after a write: what falls due (a compaction, a checkpoint) runs once the
    /// write lock is released. Their failures are logged, never the caller's.
    fn after_write(&self, st: &mut State) -> Housekeeping {
        let mut plan = None;
        if st.store.segs.len() != st.segments_seen {
            // A segment was started: the older ones may now be worth compacting.
            plan = self.maybe_compact(st);
            st.segments_seen = st.store.segs.len();
        }
        // The tail open must scan stays small (about 30 bytes per operation, at least 1 MiB)
        // while the checkpoint (about 54 bytes per operation) is written at most about twice
        // per byte of appended log.
        let ckpt_due = st.since_checkpoint > (1u64 << 20).max((st.index.len() as u64) * 32);
        let mut checkpoint = false;
        if ckpt_due {
            // The index must point at lines on disk first; the file is written after the lock.
            match self.flush_hot(st) {
                Ok(()) => {
                    st.since_checkpoint = 0;
                    checkpoint = true;
                }
                Err(e) => log::warn!("operation log checkpoint: {e}"),
            }
        }
        Housekeeping {
            compaction: plan,
            checkpoint,
        }
    }

    /// Adds an operation: assigns its id (max+1) when 0, its modno, and its flow id (= id) when 0.
    /// A terminal operation is on disk (fsynced) when this returns; the fsync runs after the
    /// lock is released, so readers never wait for the disk.
    pub fn add(&self, op: &mut Operation) -> Result<(), OpLogError> {
        self.add_locked(op)?.finish(self)
    }

    fn add_locked(&self, op: &mut Operation) -> Result<AfterLock, OpLogError> {
        let mut st = self.write_state();
        let mut new = op.clone();
        if new.id == 0 {
            new.id = st.max_id + 1;
        }
        if new.flow_id == 0 {
            new.flow_id = new.id;
        }
        new.modno = st.max_modno + 1;
        let durable = self.write_op(&mut st, &new)?;
        st.max_id = st.max_id.max(new.id);
        st.max_modno = new.modno;
        *op = new;
        self.notify(&Change::Created(vec![op.clone()]));
        let due = self.after_write(&mut st);
        Ok(AfterLock::with(durable, due))
    }

    /// Replaces the operation with `op.id` (which must exist), with the next modno.
    /// A terminal operation is on disk (fsynced) when this returns (synced outside the lock).
    pub fn update(&self, op: &mut Operation) -> Result<(), OpLogError> {
        self.update_locked(op)?.finish(self)
    }

    fn update_locked(&self, op: &mut Operation) -> Result<AfterLock, OpLogError> {
        let mut st = self.write_state();
        if st.index.get(op.id).is_none() {
            return Err(OpLogError::NotFound(op.id));
        }
        let mut new = op.clone();
        new.modno = st.max_modno + 1;
        let durable = self.write_op(&mut st, &new)?;
        st.max_modno = new.modno;
        *op = new;
        self.notify(&Change::Updated(vec![op.clone()]));
        let due = self.after_write(&mut st);
        Ok(AfterLock::with(durable, due))
    }

    /// Progress of a running operation: like [`update`](Self::update), but its line reaches the
    /// disk at most once per [`Options::progress_interval`] (and with the next `update`); get and
    /// query serve the newest from memory meanwhile.
    pub fn update_progress(&self, op: &mut Operation) -> Result<(), OpLogError> {
        self.update_progress_locked(op)?.finish(self)
    }

    fn update_progress_locked(&self, op: &mut Operation) -> Result<AfterLock, OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let mut st = self.write_state();
        let Some(cur) = st.index.get(op.id).copied() else {
            return Err(OpLogError::NotFound(op.id));
        };
        let mut new = op.clone();
        new.modno = st.max_modno + 1;
        let due = new.status.is_terminal()
            || st
                .written_at
                .get(&new.id)
                .is_none_or(|t| t.elapsed() >= self.opts.progress_interval);
        let mut durable = None;
        if due {
            durable = self.write_op(&mut st, &new)?;
        } else {
            let mut e = entry_of(&mut st.index, &new, cur.seg, cur.off, cur.len);
            e.flags |= HOT;
            st.index.upsert(e);
            st.hot.insert(new.id, new.clone());
        }
        st.max_modno = new.modno;
        *op = new;
        self.notify(&Change::Updated(vec![op.clone()]));
        let due = self.after_write(&mut st);
        Ok(AfterLock::with(durable, due))
    }

    fn read_op(&self, st: &State, e: &Entry) -> Option<Operation> {
        if e.flags & HOT != 0
            && let Some(op) = st.hot.get(&e.id)
        {
            return Some(op.clone());
        }
        self.lines_read.fetch_add(1, Ordering::Relaxed);
        let op = Self::line_op(st, e);
        if op.is_none() {
            self.damaged.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "{}: the line of operation {} is damaged; skipped",
                st.store.path(e.seg).display(),
                e.id
            );
        }
        op
    }

    /// The operation of `e`'s line on disk; None when it cannot be read or is damaged.
    fn line_op(st: &State, e: &Entry) -> Option<Operation> {
        st.store
            .read(e.seg, e.off, e.len)
            .ok()
            .and_then(|line| format::decode_op(&line))
            .filter(|op| op.id == e.id)
    }

    pub fn get(&self, id: i64) -> Result<Option<Operation>, OpLogError> {
        let st = self.read_state();
        Ok(st.index.get(id).and_then(|e| self.read_op(&st, e)))
    }

    /// All operations matching `sel`; with `last_n > 0` only the `last_n` newest by start time.
    /// Sorted by id ascending.
    pub fn query(&self, sel: &OpSelector, last_n: usize) -> Result<Vec<Operation>, OpLogError> {
        let st = self.read_state();
        let entries = st.index.raw_entries();
        if sel.snapshot_id.is_some() {
            // The index matches snapshot ids by hash: confirm before picking the newest.
            let mut ops: Vec<Operation> = st
                .index
                .select(sel, 0)
                .into_iter()
                .filter_map(|p| self.read_op(&st, &entries[p]))
                .filter(|op| sel.matches(op))
                .collect();
            if last_n > 0 && ops.len() > last_n {
                ops.sort_by_key(|o| (o.unix_time_start_ms, o.id));
                ops.drain(..ops.len() - last_n);
                ops.sort_by_key(|o| o.id);
            }
            return Ok(ops);
        }
        Ok(st
            .index
            .select(sel, last_n)
            .into_iter()
            .filter_map(|p| self.read_op(&st, &entries[p]))
            .filter(|op| sel.matches(op))
            .collect())
    }

    /// The ids [`OpLog::query`] would return, from the index alone, in the same order. A
    /// snapshot id is matched on the index by hash: the caller checks `sel.matches` on what it
    /// reads (with `last_n` as well, the newest are picked after that check, by a query).
    pub fn select_ids(&self, sel: &OpSelector, last_n: usize) -> Result<Vec<i64>, OpLogError> {
        if sel.snapshot_id.is_some() && last_n > 0 {
            return Ok(self.query(sel, last_n)?.into_iter().map(|o| o.id).collect());
        }
        let st = self.read_state();
        let entries = st.index.raw_entries();
        Ok(st
            .index
            .select(sel, last_n)
            .into_iter()
            .map(|p| entries[p].id)
            .collect())
    }

    /// The ids [`OpLog::select_ids`] returns with no `last_n`, from the first above id `after`,
    /// at most `limit` of them: a long answer is read a batch at a time.
    pub fn select_ids_after(&self, sel: &OpSelector, after: i64, limit: usize) -> Vec<i64> {
        self.read_state().index.select_after(sel, after, limit)
    }

    /// Calls `f` with what the index knows of every live operation, without reading any line
    /// (under the read lock: `f` must be cheap). For summaries that pick a few operations out
    /// of a long history before reading them with [`OpLog::get_many`].
    pub fn walk_index(&self, mut f: impl FnMut(&IndexFacts)) {
        let st = self.read_state();
        let keys = st.index.keys();
        for e in st.index.entries() {
            if let Some(facts) = IndexFacts::of(keys, e) {
                f(&facts);
            }
        }
    }

    /// [`walk_index`](Self::walk_index) over only the entries `sel` selects (ascending by id),
    /// found through the index's group lists: a lookup of one plan's or one kind's operations
    /// costs what it finds, not the history. A snapshot id is matched by its hash.
    pub fn walk_selected(&self, sel: &OpSelector, mut f: impl FnMut(&IndexFacts)) {
        let st = self.read_state();
        let (keys, entries) = (st.index.keys(), st.index.raw_entries());
        for p in st.index.select(sel, 0) {
            if let Some(facts) = IndexFacts::of(keys, &entries[p]) {
                f(&facts);
            }
        }
    }

    /// The operations with these ids that exist, in the order given.
    pub fn get_many(&self, ids: &[i64]) -> Vec<Operation> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(256) {
            let st = self.read_state();
            out.extend(
                chunk
                    .iter()
                    .filter_map(|id| st.index.get(*id).and_then(|e| self.read_op(&st, e))),
            );
        }
        out
    }

    /// Calls `f` with every operation, one at a time, so memory does not grow with the history.
    /// The read lock is taken per batch of ids, never across the whole walk.
    pub fn for_each(&self, mut f: impl FnMut(&Operation)) {
        let ids: Vec<i64> = {
            let st = self.read_state();
            st.index.raw_entries().iter().map(|e| e.id).collect()
        };
        for chunk in ids.chunks(256) {
            let st = self.read_state();
            for &id in chunk {
                if let Some(op) = st.index.get(id).and_then(|e| self.read_op(&st, e)) {
                    f(&op);
                }
            }
        }
    }

    /// Deletes the given ids (ClearHistory, RemoveRepo, GC); returns the ids that existed and
    /// are now gone. The deletion is on disk when this returns.
    pub fn delete(&self, ids: &[i64]) -> Result<Vec<i64>, OpLogError> {
        let (gone, after) = self.delete_locked(ids)?;
        after.finish(self)?;
        Ok(gone)
    }

    /// `delete` under the lock; returns what to sync: one per segment the tombstones went to.
    fn delete_locked(&self, ids: &[i64]) -> Result<(Vec<i64>, AfterLock), OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let mut st = self.write_state();
        let mut gone: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|id| st.index.get(*id).is_some())
            .collect();
        gone.sort_unstable();
        gone.dedup();
        if gone.is_empty() {
            return Ok((gone, AfterLock::default()));
        }
        let modno = st.max_modno + 1;
        let mut durable: Vec<Durable> = Vec::new();
        let chunks: Vec<&[i64]> = gone.chunks(2048).collect();
        for chunk in &chunks {
            let line = format::encode_tombstone(chunk, modno);
            let (seg, _, d) = st.store.append(&line, self.opts.sync).inspect_err(|e| {
                log::error!("deleting {} operation(s): {e}", chunk.len());
            })?;
            if let Some(d) = d
                && durable.last().is_none_or(|last| last.segment() != seg)
            {
                durable.push(d);
            }
            st.since_checkpoint += line.len() as u64;
            for id in *chunk {
                if let Some(old) = st.index.remove(*id) {
                    st.store.sub_live(old.seg, old.len);
                }
                st.hot.remove(id);
                st.written_at.remove(id);
            }
        }
        st.max_modno = modno;
        self.notify(&Change::Deleted(gone.clone()));
        let compaction = self.maybe_compact(&mut st);
        st.segments_seen = st.store.segs.len();
        let mut housekeeping = self.after_write(&mut st);
        housekeeping.compaction = housekeeping.compaction.or(compaction);
        Ok((
            gone,
            AfterLock {
                durable,
                housekeeping,
            },
        ))
    }

    /// Registers a listener called with every change, synchronously after the write and in
    /// modno order. It must be cheap (push into a channel) and must not call back into the log.
    pub fn subscribe(&self, f: Box<dyn Fn(&Change) + Send + Sync>) {
        self.listeners
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(f);
    }

    /// Garbage collection with the limits of docs/COMPATIBILITY.md §6 (see [`gc_limits`]); the orchestrator runs it
    /// at startup and daily. Compacts the segments afterwards when that frees enough.
    pub fn gc(&self, now_ms: i64) -> Result<GcReport, OpLogError> {
        let ids = {
            let st = self.read_state();
            gc::select(&st.index, now_ms)
        };
        // The task logs of what goes: the caller removes them with the operations.
        let mut logrefs = Vec::new();
        for id in &ids {
            if let Ok(Some(op)) = self.get(*id) {
                logrefs.extend(op.logrefs().map(str::to_string));
            }
        }
        let deleted = self.delete(&ids)?;
        let st = self.read_state();
        Ok(GcReport {
            deleted: deleted.len(),
            kept: st.index.len(),
            logrefs,
        })
    }

    /// Writes what is only in memory (progress) and the index checkpoint (readers go on while
    /// it is written); the daemon calls it at shutdown (dropping the log does it too).
    pub fn flush(&self) -> Result<(), OpLogError> {
        if !self.writable {
            return Ok(());
        }
        self.checkpoint()
    }

    /// The highest operation id handed out so far.
    pub fn max_id(&self) -> i64 {
        self.read_state().max_id
    }

    pub fn stats(&self) -> OpLogStats {
        let st = self.read_state();
        OpLogStats {
            operations: st.index.len(),
            segments: st.store.segs.len(),
            disk_bytes: st.store.total_bytes(),
            live_bytes: st.store.live_bytes(),
            damaged_lines: self.damaged.load(Ordering::Relaxed) as u64,
            index_heap_bytes: st.index.heap_bytes(),
            max_id: st.max_id,
            max_modno: st.max_modno,
            scanned_bytes: st.scanned_bytes,
            lost_segments: self.lost.segments,
            lost_operations: self.lost.operations,
            lines_read: self.lines_read.load(Ordering::Relaxed) as u64,
        }
    }
}

impl Drop for OpLog {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::warn!("operation log: {e}");
        }
    }
}
