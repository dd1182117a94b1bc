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

mod format;
mod gc;
mod index;
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
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};
use store::Store;

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
}

impl Default for Options {
    fn default() -> Options {
        Options {
            segment_bytes: 8 << 20,
            progress_interval: Duration::from_secs(10),
            sync: true,
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
}

/// The operation log. See the module doc.
pub struct OpLog {
    dir: PathBuf,
    writable: bool,
    opts: Options,
    state: RwLock<State>,
    listeners: RwLock<Vec<Listener>>,
    damaged: AtomicUsize,
    /// What open found missing (see [`report_lost_segments`]).
    lost: Lost,
    /// Held for the log's lifetime: one writer per directory.
    _writer_lock: Option<File>,
}

fn entry_of(index: &mut Index, op: &Operation, seg: u32, off: u32, len: u32) -> Entry {
    let group = index.group_of(
        &op.repo_id,
        &op.repo_guid,
        &op.plan_id,
        &op.instance_id,
        op.kind(),
    );
    let forgot = op
        .operation_index_snapshot
        .as_ref()
        .is_some_and(|s| s.forgot);
    Entry {
        id: op.id,
        modno: op.modno,
        start_ms: op.unix_time_start_ms,
        flow_id: op.flow_id,
        seg,
        off,
        len,
        group,
        snap: index::snap_hash(&op.snapshot_id),
        status: op.status.number() as u8,
        flags: if forgot { index::FORGOT } else { 0 },
    }
}

/// What a scan of segment lines gathers besides the index.
#[derive(Default)]
struct Scan {
    max_id: i64,
    max_modno: i64,
    damaged: u64,
    live: BTreeMap<u32, i64>,
}

impl Scan {
    fn line(&mut self, index: &mut Index, seg: u32, off: u64, line: &[u8]) {
        if line.is_empty() {
            return;
        }
        let Some(s) = format::scan_line(line) else {
            self.damaged += 1;
            return;
        };
        if let Some(c) = &s.counters {
            self.max_id = self.max_id.max(c.id);
            self.max_modno = self.max_modno.max(c.modno);
            return;
        }
        self.max_modno = self.max_modno.max(s.modno);
        if s.is_tombstone() {
            for id in &s.deleted {
                self.max_id = self.max_id.max(*id);
                if let Some(old) = index.load_delete(*id) {
                    *self.live.entry(old.seg).or_default() -= old.len as i64;
                }
            }
            return;
        }
        let (Ok(off), Ok(len)) = (u32::try_from(off), u32::try_from(line.len() + 1)) else {
            self.damaged += 1;
            return;
        };
        self.max_id = self.max_id.max(s.id);
        let group = index.group_of(
            &s.repo_id,
            &s.repo_guid,
            &s.plan_id,
            &s.instance_id,
            s.kind(),
        );
        let forgot = s
            .operation_index_snapshot
            .as_ref()
            .is_some_and(|x| x.forgot);
        let e = Entry {
            id: s.id,
            modno: s.modno,
            start_ms: s.unix_time_start_ms,
            flow_id: s.flow_id,
            seg,
            off,
            len,
            group,
            snap: index::snap_hash(&s.snapshot_id),
            status: s.status.number() as u8,
            flags: if forgot { index::FORGOT } else { 0 },
        };
        if let Some(old) = index.load_upsert(e) {
            *self.live.entry(old.seg).or_default() -= old.len as i64;
        }
        *self.live.entry(seg).or_default() += len as i64;
    }
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

    fn open_inner(dir: &Path, writable: bool, opts: Options) -> Result<OpLog, OpLogError> {
        let mut writer_lock = None;
        let mut _reader_lock = None;
        if writable {
            fs::create_dir_all(dir).map_err(io_err("create", dir))?;
            let f = try_lock_file(&dir.join(store::WRITER_LOCK), dir.parent().unwrap_or(dir))?;
            // Exists before any reader looks for it (see `store::COMPACT_LOCK`).
            let _ = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(dir.join(store::COMPACT_LOCK));
            writer_lock = Some(f);
        } else {
            fs::metadata(dir).map_err(io_err("open", dir))?;
            // Compaction swaps files under the exclusive lock; hold it shared while listing
            // and opening segments. The open handles stay valid after that.
            if let Ok(f) = File::open(dir.join(store::COMPACT_LOCK))
                && f.lock_shared().is_ok()
            {
                _reader_lock = Some(f);
            }
        }

        let mut nums = store::list_segments(dir).map_err(io_err("read", dir))?;
        // Segments below the newest compacted one are obsolete (a crash mid-compaction).
        let mut base = 0;
        let mut first_is_compacted = false;
        for (i, n) in nums.iter().enumerate().rev() {
            if store::is_compacted(&dir.join(store::segment_name(*n))).unwrap_or(false) {
                base = i;
                first_is_compacted = true;
                break;
            }
        }
        if writable {
            for n in &nums[..base] {
                let _ = fs::remove_file(dir.join(store::segment_name(*n)));
            }
            if let Ok(rd) = fs::read_dir(dir) {
                for de in rd.flatten() {
                    if de.file_name().to_string_lossy().ends_with(".tmp") {
                        let _ = fs::remove_file(de.path());
                    }
                }
            }
        }
        nums.drain(..base);

        let mut st = State {
            index: Index::default(),
            store: Store::new(dir, opts.segment_bytes, writable),
            max_id: 0,
            max_modno: 0,
            hot: HashMap::new(),
            written_at: HashMap::new(),
            since_checkpoint: 0,
            scanned_bytes: 0,
            segments_seen: 0,
        };
        let mut scan = Scan::default();
        let mut from: BTreeMap<u32, u64> = nums.iter().map(|n| (*n, 0)).collect();
        let cp = store::read_checkpoint(dir);
        let lost = report_lost_segments(dir, &nums, first_is_compacted, cp.as_ref());
        if let Some(cp) = &cp {
            // Ids and modnos handed out never go back, whether or not the rest still fits.
            scan.max_id = cp.counters.0;
            scan.max_modno = cp.counters.1;
        }
        if let Some(cp) = cp.filter(|cp| checkpoint_fits(dir, cp, &nums)) {
            st.index.set_keys(cp.keys);
            st.index.set_entries(cp.entries);
            scan.max_id = cp.counters.0;
            scan.max_modno = cp.counters.1;
            for seg in &cp.segs {
                from.insert(seg.n, seg.len);
                scan.live.insert(seg.n, seg.live as i64);
            }
        }
        let newest = nums.last().copied();
        for (&n, &start) in &from {
            let scanned = st.store.add_segment(n, start).and_then(|()| {
                let State { index, store, .. } = &mut st;
                store.scan(n, start, |line, off| scan.line(index, n, off, line))
            });
            let (end, torn) = match scanned {
                Ok(r) => r,
                Err(e) => {
                    // Start anyway and serve the rest: the history is worth more than this
                    // file. A partial scan's entries point into it; drop them.
                    log::warn!(
                        "{e}: its operations are left out of the history until it can be read \
                         (footrest writes to new segments and does not compact meanwhile)"
                    );
                    st.store.segs.remove(&n);
                    st.store.unreadable.insert(n);
                    st.index.drop_segment(n);
                    continue;
                }
            };
            st.scanned_bytes += end - start;
            let size = if torn && Some(n) == newest {
                if writable {
                    log::warn!("{}: cut a torn last line", st.store.path(n).display());
                    if let Err(e) = st.store.cut(n, end) {
                        // The next append cuts it, or ends it as one damaged line.
                        log::warn!("{e}");
                        st.store.needs_repair();
                    }
                }
                end
            } else {
                if torn {
                    scan.damaged += 1;
                }
                let p = st.store.path(n);
                match st.store.segs.get(&n) {
                    Some(s) => s.file.metadata().map_err(io_err("read", &p))?.len(),
                    None => end,
                }
            };
            if let Some(s) = st.store.segs.get_mut(&n) {
                s.len = size;
            }
        }
        st.index.finish_load();
        // Loading grew and dropped buffers; hand what is free back to the system.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: malloc_trim only releases free heap memory.
        unsafe {
            libc::malloc_trim(0);
        }
        for (n, live) in &scan.live {
            if let Some(s) = st.store.segs.get_mut(n) {
                s.live = (*live).max(0) as u64;
            }
        }
        st.max_id = scan.max_id.max(st.index.max_id());
        st.max_modno = scan.max_modno;
        // The ids and modnos in unreadable segments are unknown: skip past as many as they
        // could hold (a line is at least 32 bytes), so none is handed out twice.
        let unseen: i64 = st
            .store
            .unreadable
            .iter()
            .map(|n| {
                let size = fs::metadata(st.store.path(*n)).map_or(0, |m| m.len());
                (size.max(opts.segment_bytes) / 32 + 1) as i64
            })
            .sum();
        st.max_id += unseen;
        st.max_modno += unseen;
        if writable
            && st.index.entries().any(|e| {
                matches!(
                    e.status(),
                    OperationStatus::Pending | OperationStatus::InProgress
                )
            })
        {
            // A crash may have lost progress whose modnos clients already saw (progress
            // reaches the disk at most every `progress_interval`): never hand those out again.
            st.max_modno += MODNO_GAP;
        }
        if scan.damaged > 0 {
            log::warn!(
                "{}: skipped {} damaged line(s); the operations they held are missing",
                dir.display(),
                scan.damaged
            );
        }
        let log = OpLog {
            dir: dir.to_path_buf(),
            writable,
            opts,
            state: RwLock::new(st),
            listeners: RwLock::new(Vec::new()),
            damaged: AtomicUsize::new(scan.damaged as usize),
            lost,
            _writer_lock: writer_lock,
        };
        if writable {
            let mut st = log.write_state();
            if st.scanned_bytes > (1 << 20) {
                // Make the next open fast; failing only costs that.
                let _ = log.checkpoint(&mut st);
            }
        }
        Ok(log)
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

    /// Appends the line of `op` and points the index at it.
    fn write_op(&self, st: &mut State, op: &Operation) -> Result<(), OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let line = format::encode_op(op);
        let sync = self.opts.sync && op.status.is_terminal();
        let (seg, off) = st.store.append(&line, sync).inspect_err(|e| {
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
        Ok(())
    }

    /// Housekeeping after a write: checkpoint and compaction when due. Their failures are
    /// logged, never the caller's.
    fn after_write(&self, st: &mut State) {
        if st.store.segs.len() != st.segments_seen {
            // A segment was started: the older ones may now be worth compacting.
            if let Err(e) = self.maybe_compact(st) {
                log::warn!("operation log compaction: {e}");
            }
            st.segments_seen = st.store.segs.len();
        }
        // The tail open must scan stays small (about 30 bytes per operation, at least 1 MiB)
        // while the checkpoint (about 54 bytes per operation) is written at most about twice
        // per byte of appended log.
        let ckpt_due = st.since_checkpoint > (1u64 << 20).max((st.index.len() as u64) * 32);
        if ckpt_due && let Err(e) = self.checkpoint(st) {
            log::warn!("operation log checkpoint: {e}");
        }
    }

    /// Startup rules (docs/COMPATIBILITY.md §6): PENDING operations are deleted; INPROGRESS ones
    /// become ERROR with [`INTERRUPTED_MESSAGE`] and end = start. Returns the operations turned
    /// to ERROR (their repos need `restic unlock`). [`OpLog::interrupted`] and
    /// [`OpLog::recover`] are the two halves, for a caller that must retry the second.
    pub fn recover_interrupted(&self) -> Result<Vec<Operation>, OpLogError> {
        let found = self.interrupted();
        self.recover(&found)
    }

    /// The operations a restart interrupted: (PENDING ids, INPROGRESS ids).
    pub fn interrupted(&self) -> Interrupted {
        let st = self.read_state();
        let mut found = Interrupted::default();
        for e in st.index.entries() {
            match e.status() {
                OperationStatus::Pending => found.pending.push(e.id),
                OperationStatus::InProgress => found.running.push(e.id),
                _ => {}
            }
        }
        found
    }

    /// Applies the startup rules to `found` (from [`OpLog::interrupted`] at startup, so that a
    /// retry never touches an operation started since). Idempotent: what is already resolved
    /// is left alone. Returns the operations turned to ERROR.
    pub fn recover(&self, found: &Interrupted) -> Result<Vec<Operation>, OpLogError> {
        let pending: Vec<i64> = found
            .pending
            .iter()
            .copied()
            .filter(|id| self.get(*id).ok().flatten().is_some())
            .collect();
        if !pending.is_empty() {
            self.delete(&pending)?;
        }
        let mut out = Vec::new();
        for &id in &found.running {
            let Some(mut op) = self.get(id)? else {
                continue;
            };
            if op.status != OperationStatus::InProgress {
                continue;
            }
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
        self.write_op(&mut st, &new)?;
        st.max_id = st.max_id.max(new.id);
        st.max_modno = new.modno;
        *op = new;
        self.notify(&Change::Created(vec![op.clone()]));
        self.after_write(&mut st);
        Ok(())
    }

    /// Replaces the operation with `op.id` (which must exist), with the next modno.
    /// A terminal operation is on disk (fsynced) when this returns.
    pub fn update(&self, op: &mut Operation) -> Result<(), OpLogError> {
        let mut st = self.write_state();
        if st.index.get(op.id).is_none() {
            return Err(OpLogError::NotFound(op.id));
        }
        let mut new = op.clone();
        new.modno = st.max_modno + 1;
        self.write_op(&mut st, &new)?;
        st.max_modno = new.modno;
        *op = new;
        self.notify(&Change::Updated(vec![op.clone()]));
        self.after_write(&mut st);
        Ok(())
    }

    /// Progress of a running operation: like [`update`](Self::update), but its line reaches the
    /// disk at most once per [`Options::progress_interval`] (and with the next `update`); get and
    /// query serve the newest from memory meanwhile.
    pub fn update_progress(&self, op: &mut Operation) -> Result<(), OpLogError> {
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
        if due {
            self.write_op(&mut st, &new)?;
        } else {
            let mut e = entry_of(&mut st.index, &new, cur.seg, cur.off, cur.len);
            e.flags |= HOT;
            st.index.upsert(e);
            st.hot.insert(new.id, new.clone());
        }
        st.max_modno = new.modno;
        *op = new;
        self.notify(&Change::Updated(vec![op.clone()]));
        self.after_write(&mut st);
        Ok(())
    }

    fn read_op(&self, st: &State, e: &Entry) -> Option<Operation> {
        if e.flags & HOT != 0
            && let Some(op) = st.hot.get(&e.id)
        {
            return Some(op.clone());
        }
        let op = st
            .store
            .read(e.seg, e.off, e.len)
            .ok()
            .and_then(|line| format::decode_op(&line))
            .filter(|op| op.id == e.id);
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

    /// Calls `f` with what the index knows of every live operation, without reading any line
    /// (under the read lock: `f` must be cheap). For summaries that pick a few operations out
    /// of a long history before reading them with [`OpLog::get_many`].
    pub fn walk_index(&self, mut f: impl FnMut(&IndexFacts)) {
        let st = self.read_state();
        let keys = st.index.keys();
        for e in st.index.entries() {
            let Some(key) = keys.get(e.group as usize) else {
                continue;
            };
            f(&IndexFacts {
                group: e.group,
                id: e.id,
                start_ms: e.start_ms,
                status: e.status(),
                forgot: e.flags & index::FORGOT != 0,
                key,
            });
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
            return Ok(gone);
        }
        let modno = st.max_modno + 1;
        let chunks: Vec<&[i64]> = gone.chunks(2048).collect();
        for (i, chunk) in chunks.iter().enumerate() {
            let line = format::encode_tombstone(chunk, modno);
            let sync = self.opts.sync && i + 1 == chunks.len();
            st.store.append(&line, sync).inspect_err(|e| {
                log::error!("deleting {} operation(s): {e}", chunk.len());
            })?;
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
        if let Err(e) = self.maybe_compact(&mut st) {
            log::warn!("operation log compaction: {e}");
        }
        st.segments_seen = st.store.segs.len();
        self.after_write(&mut st);
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

    /// Rewrites every segment but the one being appended to into one, without the records
    /// that are no longer any operation's newest. Runs on its own when half of the older
    /// segments is dead; this forces it.
    pub fn compact(&self) -> Result<(), OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let mut st = self.write_state();
        st.store.seal()?;
        let sealed: Vec<u32> = st.store.segs.keys().copied().collect();
        if sealed.len() >= 2 {
            let upto = sealed[sealed.len() - 2];
            self.compact_upto(&mut st, upto)?;
        }
        Ok(())
    }

    /// Compacts the longest run of oldest segments that is at least half dead, when the dead
    /// part is worth half a segment.
    fn maybe_compact(&self, st: &mut State) -> Result<(), OpLogError> {
        let newest = st.store.newest();
        let mut best = None;
        let (mut live, mut total) = (0u64, 0u64);
        for (n, s) in &st.store.segs {
            if Some(*n) == newest {
                break;
            }
            live += s.live;
            total += s.len;
            let dead = total - live.min(total);
            if dead >= live && dead >= self.opts.segment_bytes / 2 {
                best = Some(*n);
            }
        }
        match best {
            Some(upto) => self.compact_upto(st, upto),
            None => Ok(()),
        }
    }

    fn compact_upto(&self, st: &mut State, upto: u32) -> Result<(), OpLogError> {
        if let Some(n) = st.store.unreadable.first() {
            // A compacted segment makes every lower-numbered one obsolete at the next open:
            // never while one of them holds records that could not be read.
            log::debug!(
                "compaction skipped while {} is unreadable",
                st.store.path(*n).display()
            );
            return Ok(());
        }
        let entries: Vec<Entry> = st
            .index
            .entries()
            .filter(|e| e.seg <= upto)
            .copied()
            .collect();
        let (moved, lost) = st
            .store
            .compact(upto, &entries, (st.max_id, st.max_modno))?;
        st.index.relocate(&moved);
        if !lost.is_empty() {
            // Their lines were damaged: they are gone with the old segments.
            log::warn!(
                "{}: compaction dropped {} damaged operation(s)",
                self.dir.display(),
                lost.len()
            );
            self.damaged.fetch_add(lost.len(), Ordering::Relaxed);
            for id in &lost {
                st.index.remove(*id);
                st.hot.remove(id);
            }
        }
        self.checkpoint(st)
    }

    /// Writes the progress kept in memory and a checkpoint of the index.
    fn checkpoint(&self, st: &mut State) -> Result<(), OpLogError> {
        let hot: Vec<Operation> = st.hot.values().cloned().collect();
        for op in &hot {
            self.write_op(st, op)?;
        }
        st.store
            .write_checkpoint(
                st.index.keys(),
                st.index.len(),
                st.index.entries(),
                (st.max_id, st.max_modno),
            )
            .map_err(io_err("write", &self.dir.join(store::CHECKPOINT)))?;
        st.since_checkpoint = 0;
        Ok(())
    }

    /// Writes what is only in memory (progress) and the index checkpoint; the daemon calls it
    /// at shutdown (dropping the log does it too).
    pub fn flush(&self) -> Result<(), OpLogError> {
        if !self.writable {
            return Ok(());
        }
        let mut st = self.write_state();
        self.checkpoint(&mut st)
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

/// Whether a checkpoint describes the segments now in the directory: its segments must be the
/// oldest ones, the same files (inode), at least as long as it covered, with the same bytes at
/// both ends of what it covered (an edit in place shifts them).
fn checkpoint_fits(dir: &Path, cp: &store::Checkpoint, nums: &[u32]) -> bool {
    use std::os::unix::fs::MetadataExt;
    if cp.segs.len() > nums.len() {
        return false;
    }
    let fits = cp.segs.iter().zip(nums).all(|(seg, m)| {
        if seg.n != *m {
            return false;
        }
        let Ok(f) = File::open(dir.join(store::segment_name(seg.n))) else {
            return false;
        };
        f.metadata()
            .is_ok_and(|md| md.ino() == seg.ino && md.len() >= seg.len)
            && store::fingerprint(&f, seg.len).is_ok_and(|fp| fp == seg.fingerprint)
    });
    if !fits {
        log::info!(
            "{}: the index checkpoint no longer matches the segments; scanning them all",
            dir.display()
        );
    }
    fits
}

/// What open found missing from the log.
#[derive(Clone, Copy, Debug, Default)]
struct Lost {
    segments: usize,
    operations: u64,
}

/// Finds segments that should be there and are not: a gap in the numbers (segments are
/// numbered without gaps from 1, or from the newest compacted one), one the checkpoint names
/// that is gone or shorter than it covered, an empty one before the newest. Each is warned
/// about, naming how many operations the checkpoint placed in it. Nothing is changed on disk.
fn report_lost_segments(
    dir: &Path,
    nums: &[u32],
    first_is_compacted: bool,
    cp: Option<&store::Checkpoint>,
) -> Lost {
    use std::os::unix::fs::MetadataExt;
    let first = match (nums.first(), first_is_compacted) {
        (Some(n), true) => *n,
        _ => 1,
    };
    let cp_segs = cp.map_or(&[][..], |c| &c.segs[..]);
    let last = nums
        .last()
        .copied()
        .into_iter()
        .chain(cp_segs.iter().map(|s| s.n))
        .max();
    let Some(last) = last else {
        return Lost::default();
    };
    // segment -> (what happened, bytes left of it)
    let mut found: BTreeMap<u32, (String, u64)> = BTreeMap::new();
    for n in first..=last {
        if nums.binary_search(&n).is_err() {
            found.insert(n, ("is missing".into(), 0));
        }
    }
    let newest = nums.last().copied();
    for &n in nums {
        let Ok(md) = fs::metadata(dir.join(store::segment_name(n))) else {
            continue;
        };
        // A different inode is a replaced file (compaction renames its output into place).
        let covered = cp_segs
            .iter()
            .find(|s| s.n == n && s.ino == md.ino())
            .map(|s| s.len);
        match covered {
            Some(c) if md.len() < c => {
                let what = format!(
                    "is shorter than the index recorded ({} of {c} bytes)",
                    md.len()
                );
                found.insert(n, (what, md.len()));
            }
            _ if md.len() == 0 && Some(n) != newest => {
                found.insert(n, ("is empty".into(), 0));
            }
            _ => {}
        }
    }
    let mut lost = Lost::default();
    for (n, (what, kept)) in &found {
        lost.segments += 1;
        let name = dir.join(store::segment_name(*n));
        let known = cp_segs.iter().any(|s| s.n == *n);
        match cp.filter(|_| known) {
            Some(cp) => {
                let k = cp
                    .entries
                    .iter()
                    .filter(|e| e.seg == *n && e.off as u64 + e.len as u64 > *kept)
                    .count() as u64;
                lost.operations += k;
                log::warn!(
                    "{} {what}: {k} operation(s) recorded in it are missing from the history",
                    name.display()
                );
            }
            None => log::warn!(
                "{} {what}: the operations recorded in it are missing from the history",
                name.display()
            ),
        }
    }
    lost
}
