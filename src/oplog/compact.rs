//! Compaction (live records rewritten into one new segment) and the index checkpoint.
//!
//! A compaction is planned under the log's lock (which segments, which records), copied and
//! synced without it (only the newest segment is ever written to, and it is never compacted),
//! then put in place under the lock again: records written or deleted meanwhile keep their new
//! place, only the copies of records still where the plan found them are used.

use super::*;
use store::{CompactionPlan, Installed};

impl OpLog {
    /// Rewrites every segment but the one being appended to into one, without the records
    /// that are no longer any operation's newest. Runs on its own when half of the older
    /// segments is dead; this forces it.
    pub fn compact(&self) -> Result<(), OpLogError> {
        if !self.writable {
            return Err(OpLogError::ReadOnly);
        }
        let plan = {
            let mut st = self.write_state();
            st.store.seal()?;
            let sealed: Vec<u32> = st.store.segs.keys().copied().collect();
            if sealed.len() < 2 {
                return Ok(());
            }
            let upto = sealed[sealed.len() - 2];
            self.plan_upto(&mut st, upto)
        };
        match plan {
            Some(p) => self.run_compaction(p),
            None => Ok(()),
        }
    }

    /// Plans a compaction of the longest run of oldest segments that is at least half dead,
    /// when the dead part is worth half a segment.
    pub(super) fn maybe_compact(&self, st: &mut State) -> Option<CompactionPlan> {
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
        best.and_then(|upto| self.plan_upto(st, upto))
    }

    /// The plan for segments `<= upto`, unless a compaction runs already or a segment cannot
    /// be read.
    fn plan_upto(&self, st: &mut State, upto: u32) -> Option<CompactionPlan> {
        if st.compacting {
            return None;
        }
        if let Some(n) = st.store.unreadable.first() {
            // A compacted segment makes every lower-numbered one obsolete at the next open:
            // never while one of them holds records that could not be read.
            log::debug!(
                "compaction skipped while {} is unreadable",
                st.store.path(*n).display()
            );
            return None;
        }
        let entries: Vec<Entry> = st
            .index
            .entries()
            .filter(|e| e.seg <= upto)
            .copied()
            .collect();
        st.compacting = true;
        Some(
            st.store
                .plan_compaction(upto, entries, (st.max_id, st.max_modno)),
        )
    }

    /// Copies and syncs without the lock, then puts the result in place under it.
    #[inline(never)]
    pub(super) fn run_compaction(&self, plan: CompactionPlan) -> Result<(), OpLogError> {
        let written = plan.write();
        let mut st = self.write_state();
        st.compacting = false;
        let c = written?;
        let installed: Installed = st.store.install(&c)?;
        let mut live = 0u64;
        for &(id, seg, off, new_off, len) in &c.moved {
            if let Some(e) = st.index.get_mut(id)
                && e.seg == seg
                && e.off == off
            {
                e.seg = c.upto;
                e.off = new_off;
                live += u64::from(len);
            }
        }
        if let Some(s) = st.store.segs.get_mut(&c.upto) {
            s.live = live;
        }
        let mut dropped = 0;
        for &(id, seg, off) in &c.lost {
            // Their lines were damaged: they are gone with the old segments.
            if st
                .index
                .get(id)
                .is_some_and(|e| e.seg == seg && e.off == off)
            {
                st.index.remove(id);
                st.hot.remove(&id);
                dropped += 1;
            }
        }
        if dropped > 0 {
            log::warn!(
                "{}: compaction dropped {dropped} damaged operation(s)",
                self.dir.display()
            );
            self.damaged.fetch_add(dropped, Ordering::Relaxed);
        }
        st.segments_seen = st.store.segs.len();
        drop(st);
        installed.sync()?;
        // The old checkpoint went with the old segments (install removed it).
        self.checkpoint()
    }

    /// Writes the progress kept in memory, if any (under the write lock), then a checkpoint of
    /// the index (under the shared lock: readers go on while it is written). At shutdown, after
    /// a compaction and after a scan at open.
    pub(super) fn checkpoint(&self) -> Result<(), OpLogError> {
        if !self.read_state().hot.is_empty() {
            let mut st = self.write_state();
            self.flush_hot(&mut st)?;
            st.since_checkpoint = 0;
        }
        self.checkpoint_shared(true)
    }

    /// Writes the progress kept in memory, so that the index points at lines on disk.
    pub(super) fn flush_hot(&self, st: &mut State) -> Result<(), OpLogError> {
        let hot: Vec<Operation> = st.hot.values().cloned().collect();
        for op in &hot {
            // Progress lines: never synced (only terminal lines are).
            let _ = self.write_op(st, op)?;
        }
        Ok(())
    }

    /// Writes the checkpoint of the index as `st` has it; readers may hold the lock too. An
    /// entry whose newest state (progress) is only in memory is written as its line on disk
    /// has it: that line is what a restart reads.
    pub(super) fn write_checkpoint(&self, st: &State) -> Result<(), OpLogError> {
        let on_disk = |e: &Entry| -> Entry {
            if e.flags & HOT == 0 {
                return *e;
            }
            match Self::line_op(st, e) {
                Some(op) => Entry {
                    modno: op.modno,
                    start_ms: op.unix_time_start_ms,
                    flow_id: op.flow_id,
                    snap: index::snap_hash(&op.snapshot_id),
                    status: op.status.number() as u8,
                    flags: e.flags & !HOT,
                    ..*e
                },
                None => Entry {
                    flags: e.flags & !HOT,
                    ..*e
                },
            }
        };
        st.store
            .write_checkpoint(
                st.index.keys(),
                st.index.len(),
                st.index.entries().map(on_disk),
                (st.max_id, st.max_modno),
            )
            .map_err(io_err("write", &self.dir.join(store::CHECKPOINT)))
    }

    /// Writes the checkpoint under the shared lock, so readers go on and only writers wait
    /// (progress held only in memory is recorded as its line on disk has it). One is written at
    /// a time: with `wait` after the one being written (this one is newer), else it is skipped
    /// while another is being written (the periodic one).
    pub(super) fn checkpoint_shared(&self, wait: bool) -> Result<(), OpLogError> {
        use std::sync::TryLockError;
        let _one = match self.checkpointing.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) if wait => {
                self.checkpointing.lock().unwrap_or_else(|e| e.into_inner())
            }
            Err(TryLockError::WouldBlock) => return Ok(()),
        };
        self.write_checkpoint(&self.read_state())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{OperationBackup, OperationStatus};

    fn op(plan: &str, message: &str) -> Operation {
        Operation {
            plan_id: plan.into(),
            repo_id: "repo1".into(),
            instance_id: "host".into(),
            status: OperationStatus::Success,
            display_message: message.into(),
            operation_backup: Some(OperationBackup::default()),
            ..Default::default()
        }
    }

    /// The periodic checkpoint is written after the write lock is released (readers go on), with
    /// the progress held in memory written first: a crash right after it reopens from it,
    /// scanning only the tail, with the newest progress.
    #[test]
    fn the_periodic_checkpoint_written_beside_readers_reopens_with_the_newest_progress() {
        let dir = std::env::temp_dir().join(format!("footrest-ckpt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = OpLog::open(&dir).unwrap();
        let mut running = op("p", "10%");
        running.status = OperationStatus::InProgress;
        log.add(&mut running).unwrap();
        running.display_message = "55%".into();
        log.update_progress(&mut running).unwrap(); // kept in memory (progress interval)
        let big = "x".repeat(2000);
        for _ in 0..700 {
            log.add(&mut op("p", &big)).unwrap(); // 1.4 MB: a checkpoint falls due
        }
        let expected = log.get(running.id).unwrap();
        assert_eq!(
            expected.as_ref().map(|o| o.display_message.as_str()),
            Some("55%")
        );
        std::mem::forget(log); // a crash: no final checkpoint
        let reopened = OpLog::open_read_only(&dir).unwrap();
        assert!(
            reopened.stats().scanned_bytes < 1 << 20,
            "opened from the periodic checkpoint: {} bytes scanned",
            reopened.stats().scanned_bytes
        );
        assert_eq!(reopened.get(running.id).unwrap(), expected);
        assert_eq!(reopened.stats().operations, 701);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The checkpoint at shutdown (and after a compaction or a scan at open) is written beside
    /// a reader that holds the log: it never needs the write lock once progress is on disk.
    #[test]
    fn the_shutdown_checkpoint_is_written_while_a_reader_holds_the_log() {
        let dir = std::env::temp_dir().join(format!("footrest-ckpt2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = OpLog::open(&dir).unwrap();
        let big = "x".repeat(1000);
        for _ in 0..300 {
            log.add(&mut op("p", &big)).unwrap();
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            let reader = log.read_state(); // a reader in the middle of a long answer
            let log = &log;
            s.spawn(move || tx.send(log.flush().map_err(|e| e.to_string())));
            let done = rx.recv_timeout(Duration::from_secs(30));
            drop(reader);
            assert_eq!(done, Ok(Ok(())), "the checkpoint waited for the reader");
        });
        std::mem::forget(log); // no second checkpoint at drop
        let reopened = OpLog::open_read_only(&dir).unwrap();
        assert_eq!(
            reopened.stats().scanned_bytes,
            0,
            "opened from that checkpoint"
        );
        assert_eq!(reopened.stats().operations, 300);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Progress that is only in memory when a checkpoint is written (it may arrive between the
    /// flush and the checkpoint) is checkpointed as its line on disk has it: after a crash the
    /// index and the lines agree.
    #[test]
    fn a_checkpoint_beside_progress_in_memory_records_the_line_on_disk() {
        let dir = std::env::temp_dir().join(format!("footrest-ckpt3-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = OpLog::open(&dir).unwrap();
        let mut running = op("p", "10%");
        running.status = OperationStatus::InProgress;
        log.add(&mut running).unwrap();
        let on_disk = running.clone();
        running.display_message = "55%".into();
        log.update_progress(&mut running).unwrap(); // kept in memory (progress interval)
        assert!(running.modno > on_disk.modno);
        log.write_checkpoint(&log.read_state()).unwrap();
        std::mem::forget(log); // a crash: the progress is lost, the checkpoint stays
        let reopened = OpLog::open_read_only(&dir).unwrap();
        assert_eq!(
            reopened.stats().scanned_bytes,
            0,
            "opened from that checkpoint"
        );
        assert_eq!(reopened.get(on_disk.id).unwrap().as_ref(), Some(&on_disk));
        let newer = |m| OpSelector {
            modno_gte: Some(m),
            ..Default::default()
        };
        assert_eq!(
            reopened.select_ids(&newer(on_disk.modno), 0).unwrap(),
            [on_disk.id]
        );
        assert!(
            reopened
                .select_ids(&newer(running.modno), 0)
                .unwrap()
                .is_empty(),
            "the index has the line's modno, not the lost progress's"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The copy runs without the lock: what is written or deleted while it runs keeps its new
    /// state, in memory and after reopening, and the records nothing touched move intact.
    #[test]
    fn writes_and_deletes_during_a_compaction_keep_their_new_state() {
        let dir = std::env::temp_dir().join(format!("footrest-compact-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let opts = Options {
            segment_bytes: 4096,
            ..Options::default()
        };
        let log = OpLog::open_with(&dir, opts.clone()).unwrap();
        let mut ops: Vec<Operation> = (0..60)
            .map(|i| {
                let mut o = op("p", &format!("first {i}"));
                log.add(&mut o).unwrap();
                o
            })
            .collect();
        let plan = {
            let mut st = log.write_state();
            st.store.seal().unwrap();
            let upto = *st.store.segs.keys().next_back().unwrap() - 1;
            log.plan_upto(&mut st, upto).expect("a plan")
        };
        // While the plan is out: a second one is refused, and the log takes writes and deletes.
        assert!(log.plan_upto(&mut log.write_state(), 1).is_none());
        for o in ops.iter_mut().take(10) {
            o.display_message = format!("updated {}", o.id);
            log.update(o).unwrap();
        }
        let deleted: Vec<i64> = ops[10..20].iter().map(|o| o.id).collect();
        log.delete(&deleted).unwrap();
        log.run_compaction(plan).unwrap();

        let check = |log: &OpLog| {
            for o in &ops[..10] {
                assert_eq!(log.get(o.id).unwrap().as_ref(), Some(o), "updated {}", o.id);
            }
            for id in &deleted {
                assert_eq!(log.get(*id).unwrap(), None, "deleted {id}");
            }
            for o in &ops[20..] {
                assert_eq!(
                    log.get(o.id).unwrap().as_ref(),
                    Some(o),
                    "untouched {}",
                    o.id
                );
            }
        };
        check(&log);
        assert_eq!(log.stats().damaged_lines, 0);
        drop(log);
        let reopened = OpLog::open_with(&dir, opts.clone()).unwrap();
        check(&reopened);
        drop(reopened);
        let _ = std::fs::remove_file(dir.join(store::CHECKPOINT));
        check(&OpLog::open_with(&dir, opts).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
