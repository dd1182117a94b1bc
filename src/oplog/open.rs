//! Opening the log: the checkpoint when it matches the segments, else a scan of every segment;
//! segments that went missing or cannot be read are reported, and operations a crash left
//! unfinished are found and recovered.

use super::*;

/// What a scan of segment lines gathers besides the index.
#[derive(Default)]
pub(super) struct Scan {
    max_id: i64,
    max_modno: i64,
    damaged: u64,
    live: BTreeMap<u32, i64>,
}

impl Scan {
    /// `verified`: the line's checksum verdict when already known.
    pub(super) fn line(
        &mut self,
        index: &mut Index,
        seg: u32,
        off: u64,
        line: &[u8],
        verified: Option<bool>,
    ) {
        if line.is_empty() {
            return;
        }
        let Some(s) = format::scan_checked(line, verified) else {
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

/// One segment's checksum verdicts, set by the thread beside the scan (see
/// [`store::line_checks`]); the scan takes them out.
type Checks = std::sync::OnceLock<Mutex<Vec<u8>>>;

/// A segment's verdicts (see [`store::line_checks`]) read in step with its lines: used only for
/// the file they were made from, and only while each line has the length its verdict was made
/// for (after one that does not, the scan checks the rest itself).
struct Verdicts<'a> {
    lines: std::slice::ChunksExact<'a, u8>,
    trusted: bool,
}

impl<'a> Verdicts<'a> {
    fn new(list: &'a [u8], ino: Option<u64>) -> Self {
        let (made_for, lines) = list.split_at(list.len().min(8));
        Verdicts {
            lines: lines.chunks_exact(4),
            trusted: ino.is_some_and(|i| made_for == i.to_le_bytes()),
        }
    }

    /// The checksum verdict of the next line, when it can be trusted.
    fn of(&mut self, line: &[u8]) -> Option<bool> {
        let v = self
            .lines
            .next()
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]));
        self.trusted &= v.is_some_and(|v| (v & !(1 << 31)) as usize == line.len());
        v.filter(|_| self.trusted).map(|v| v >> 31 == 1)
    }
}

/// Sets every list not set yet to empty when the checking thread ends.
struct FillRest<'a>(&'a [Checks]);

impl Drop for FillRest<'_> {
    fn drop(&mut self) {
        for list in self.0 {
            let _ = list.set(Mutex::new(Vec::new()));
        }
    }
}

/// [`StopChecks`]: the scan is over, the checks beside it stop.
const CHECKS_STOP: usize = usize::MAX / 2;

/// Stops the checksum checks running beside the scan when the scan ends (also early).
struct StopChecks<'a>(&'a AtomicUsize, &'a std::thread::Thread);

impl Drop for StopChecks<'_> {
    fn drop(&mut self) {
        self.0.store(CHECKS_STOP, Ordering::Release);
        self.1.unpark();
    }
}

pub(super) fn entry_of(index: &mut Index, op: &Operation, seg: u32, off: u32, len: u32) -> Entry {
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

/// Whether a checkpoint describes the segments now in the directory: its segments must be the
/// oldest ones, the same files (inode), at least as long as it covered, with the same bytes at
/// both ends of what it covered (an edit in place shifts them).
pub(super) fn checkpoint_fits(dir: &Path, cp: &store::Checkpoint, nums: &[u32]) -> bool {
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
pub(super) struct Lost {
    pub(super) segments: usize,
    pub(super) operations: u64,
}

/// Finds segments that should be there and are not: a gap in the numbers (segments are
/// numbered without gaps from 1, or from the newest compacted one), one the checkpoint names
/// that is gone or shorter than it covered, an empty one before the newest. Each is warned
/// about, naming how many operations the checkpoint placed in it. Nothing is changed on disk.
pub(super) fn report_lost_segments(
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

impl OpLog {
    pub(super) fn open_inner(
        dir: &Path,
        writable: bool,
        opts: Options,
    ) -> Result<OpLog, OpLogError> {
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
            compacting: false,
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
        // With more than a little to scan and a second core, the line checksums are verified
        // beside the scan, a segment ahead (the scan rereads each file from the page cache).
        let jobs: Vec<(PathBuf, u64)> = from
            .iter()
            .map(|(n, start)| (st.store.path(*n), *start))
            .collect();
        let to_scan: u64 = jobs
            .iter()
            .map(|(path, start)| fs::metadata(path).map_or(0, |m| m.len().saturating_sub(*start)))
            .sum();
        // SAFETY: sysconf only reads a system value.
        let cores = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
        let lists: Vec<Checks> = jobs.iter().map(|_| Checks::default()).collect();
        // Segments the scan has taken: the checks run at most two ahead (their memory stays
        // small), and stop when the scan ends early.
        let taken = AtomicUsize::new(0);
        std::thread::scope(|s| -> Result<(), OpLogError> {
            let worker = (to_scan > opts.checks_beside_from && cores > 1)
                .then(|| {
                    std::thread::Builder::new().spawn_scoped(s, || {
                        // However it ends (also by a panic), no list is left for the scan to
                        // wait for: the rest are empty, and the scan checks those itself.
                        let _rest = FillRest(&lists);
                        for (i, ((path, start), list)) in jobs.iter().zip(&lists).enumerate() {
                            while i > taken.load(Ordering::Acquire) + 1 {
                                std::thread::park();
                            }
                            if taken.load(Ordering::Acquire) == CHECKS_STOP {
                                break;
                            }
                            // Any failure: an empty list; the scan checks that segment itself.
                            let v = store::line_checks(path, *start).unwrap_or_default();
                            let _ = list.set(Mutex::new(v));
                        }
                    })
                })
                .and_then(Result::ok)
                .map(|h| h.thread().clone());
            let _stop = worker.as_ref().map(|t| StopChecks(&taken, t));
            for (i, (&n, &start)) in from.iter().enumerate() {
                let verdicts: Vec<u8> = match &worker {
                    Some(t) => {
                        // Taken out of the list: it is freed once this segment is scanned.
                        let v = std::mem::take(
                            &mut *lists[i].wait().lock().unwrap_or_else(|e| e.into_inner()),
                        );
                        taken.store(i + 1, Ordering::Release);
                        t.unpark();
                        v
                    }
                    None => Vec::new(),
                };
                let scanned = st.store.add_segment(n, start).and_then(|()| {
                    let State { index, store, .. } = &mut st;
                    let ino = store.segs.get(&n).map(|s| s.ino);
                    let mut verdicts = Verdicts::new(&verdicts, ino);
                    store.scan(n, start, |line, off| {
                        scan.line(index, n, off, line, verdicts.of(line))
                    })
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
            Ok(())
        })?;
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
            lines_read: AtomicUsize::new(0),
            checkpointing: Mutex::new(()),
            lost,
            _writer_lock: writer_lock,
        };
        if writable && log.read_state().scanned_bytes > (1 << 20) {
            // Make the next open fast; failing only costs that.
            let _ = log.checkpoint();
        }
        Ok(log)
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
}
