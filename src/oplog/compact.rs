//! Compaction (live records rewritten into one new segment) and the index checkpoint.

use super::*;

impl OpLog {
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
    pub(super) fn maybe_compact(&self, st: &mut State) -> Result<(), OpLogError> {
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

    pub(super) fn compact_upto(&self, st: &mut State, upto: u32) -> Result<(), OpLogError> {
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
    pub(super) fn checkpoint(&self, st: &mut State) -> Result<(), OpLogError> {
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
}
