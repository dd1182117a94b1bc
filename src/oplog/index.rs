//! The in-memory index of the operation log: one fixed-size [`Entry`] per live operation,
//! sorted by id, plus the secondary orders the common queries need. No JSON bodies are kept.
//!
//! - `groups`: each distinct (repo id, repo guid, plan, instance, kind) gets a number; an entry
//!   stores that number, and each group lists its entries' positions in id order. Plan, repo and
//!   instance filters walk only the matching groups; GC groups by the same key.
//! - `by_flow`: positions ordered by (flow id, id), so a flow is a binary search.
//! - `zones`: per block of [`ZONE`] positions the largest modno and start time, so `modnoGte`
//!   visits only blocks that changed recently and `lastN` stops once no older block can beat
//!   the N newest found so far.
//!
//! Deleted entries are flagged dead in place (positions stay valid) and dropped by `rebuild`
//! once they are a quarter of the index. Only the owning [`super::OpLog`] touches this, under its lock.

use crate::model::{OpKind, OpSelector, OperationStatus};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

pub const ZONE: usize = 64;

pub const DEAD: u8 = 1;
pub const FORGOT: u8 = 2;
/// The newest state is in memory only (progress not yet written).
pub const HOT: u8 = 4;

/// Where an operation's newest line is, and the fields selectors and GC need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    pub id: i64,
    pub modno: i64,
    pub start_ms: i64,
    pub flow_id: i64,
    pub seg: u32,
    pub off: u32,
    pub len: u32,
    pub group: u32,
    /// A hash of the snapshot id (0: none); queries confirm on the line itself.
    pub snap: u32,
    pub status: u8,
    pub flags: u8,
}

impl Entry {
    pub fn live(&self) -> bool {
        self.flags & DEAD == 0
    }

    pub fn status(&self) -> OperationStatus {
        OperationStatus::from_number(self.status as i64).unwrap_or_default()
    }
}

pub fn snap_hash(snapshot_id: &str) -> u32 {
    if snapshot_id.is_empty() {
        return 0;
    }
    // FNV-1a; 0 is reserved for "no snapshot".
    let mut h: u32 = 0x811c_9dc5;
    for b in snapshot_id.bytes() {
        h = (h ^ b as u32).wrapping_mul(0x0100_0193);
    }
    h.max(1)
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GroupKey {
    pub repo_id: String,
    pub repo_guid: String,
    pub plan_id: String,
    pub instance_id: String,
    pub kind: OpKind,
}

#[derive(Clone, Copy, Debug, Default)]
struct Zone {
    max_modno: i64,
    max_start: i64,
}

#[derive(Default)]
pub struct Index {
    entries: Vec<Entry>,
    dead: usize,
    keys: Vec<GroupKey>,
    key_ids: HashMap<GroupKey, u32>,
    members: Vec<Vec<u32>>,
    by_flow: Vec<u32>,
    zones: Vec<Zone>,
    /// Loading: entries whose id arrived below the largest id seen, merged in by `finish_load`.
    extra: Vec<Entry>,
    extra_pos: HashMap<i64, usize>,
    /// The group last found for each kind.
    last_group: [u32; 10],
}

pub enum Prev {
    /// The id was not in the index.
    None,
    /// The entry it replaced.
    Replaced(Entry),
}

impl Index {
    pub fn len(&self) -> usize {
        self.entries.len() - self.dead
    }

    pub fn entries(&self) -> impl DoubleEndedIterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.live())
    }

    pub fn raw_entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn keys(&self) -> &[GroupKey] {
        &self.keys
    }

    pub fn key(&self, group: u32) -> Option<&GroupKey> {
        self.keys.get(group as usize)
    }

    /// The group number of these fields, interning them when new. Cheap when the group is
    /// known: the scan calls this once per line.
    pub fn group_of(
        &mut self,
        repo_id: &str,
        repo_guid: &str,
        plan_id: &str,
        instance_id: &str,
        kind: OpKind,
    ) -> u32 {
        let same = |k: &GroupKey| {
            k.kind == kind
                && k.plan_id == plan_id
                && k.repo_id == repo_id
                && k.repo_guid == repo_guid
                && k.instance_id == instance_id
        };
        // The last group of the same kind: lines of one flow come together.
        let last = &mut self.last_group[kind as usize];
        if let Some(k) = self.keys.get(*last as usize)
            && same(k)
        {
            return *last;
        }
        let found = if self.keys.len() <= 64 {
            self.keys.iter().position(same).map(|p| p as u32)
        } else {
            None
        };
        let g = found.unwrap_or_else(|| {
            self.intern(GroupKey {
                repo_id: repo_id.to_string(),
                repo_guid: repo_guid.to_string(),
                plan_id: plan_id.to_string(),
                instance_id: instance_id.to_string(),
                kind,
            })
        });
        self.last_group[kind as usize] = g;
        g
    }

    pub fn intern(&mut self, key: GroupKey) -> u32 {
        if let Some(g) = self.key_ids.get(&key) {
            return *g;
        }
        let g = self.keys.len() as u32;
        self.key_ids.insert(key.clone(), g);
        self.keys.push(key);
        self.members.push(Vec::new());
        g
    }

    /// Restores the group table of a checkpoint (before any entry is loaded).
    pub fn set_keys(&mut self, keys: Vec<GroupKey>) {
        self.key_ids = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.clone(), i as u32))
            .collect();
        self.members = vec![Vec::new(); keys.len()];
        self.keys = keys;
    }

    fn pos(&self, id: i64) -> Option<usize> {
        // The newest entries first: a scan and a running task update recent operations.
        let n = self.entries.len();
        if let Some(p) = (n.saturating_sub(8)..n)
            .rev()
            .find(|&p| self.entries[p].id == id)
        {
            return Some(p);
        }
        self.entries.binary_search_by_key(&id, |e| e.id).ok()
    }

    pub fn get(&self, id: i64) -> Option<&Entry> {
        self.pos(id).map(|p| &self.entries[p]).filter(|e| e.live())
    }

    pub fn get_mut(&mut self, id: i64) -> Option<&mut Entry> {
        self.pos(id)
            .map(|p| &mut self.entries[p])
            .filter(|e| e.live())
    }

    pub fn max_id(&self) -> i64 {
        self.entries.last().map_or(0, |e| e.id)
    }

    // ---- loading: many upserts, secondary orders built once at the end ----

    /// Starts from a checkpoint's entries (sorted by id, all live).
    pub fn set_entries(&mut self, entries: Vec<Entry>) {
        self.entries = entries;
        self.dead = 0;
    }

    /// Inserts or replaces while loading. Returns the replaced entry, if any.
    pub fn load_upsert(&mut self, e: Entry) -> Option<Entry> {
        if self.entries.last().is_none_or(|l| l.id < e.id) {
            self.entries.push(e);
            return None;
        }
        if let Some(p) = self.pos(e.id) {
            let old = self.entries[p];
            self.entries[p] = e;
            if !old.live() {
                self.dead -= 1;
                return None;
            }
            return Some(old);
        }
        if let Some(&p) = self.extra_pos.get(&e.id) {
            let old = std::mem::replace(&mut self.extra[p], e);
            if !old.live() {
                return None;
            }
            return Some(old);
        }
        self.extra_pos.insert(e.id, self.extra.len());
        self.extra.push(e);
        None
    }

    /// Deletes while loading. Returns the deleted entry, if it was live.
    pub fn load_delete(&mut self, id: i64) -> Option<Entry> {
        if let Some(p) = self.pos(id) {
            let e = &mut self.entries[p];
            if e.live() {
                e.flags |= DEAD;
                self.dead += 1;
                return Some(*e);
            }
            return None;
        }
        if let Some(&p) = self.extra_pos.get(&id) {
            let e = &mut self.extra[p];
            if e.live() {
                e.flags |= DEAD;
                return Some(*e);
            }
        }
        None
    }

    /// Drops, while loading, every entry whose line is in segment `seg` (one that failed to
    /// read part-way: its entries point at bytes that cannot be read back).
    pub fn drop_segment(&mut self, seg: u32) {
        for e in self.entries.iter_mut().filter(|e| e.seg == seg && e.live()) {
            e.flags |= DEAD;
            self.dead += 1;
        }
        for e in self.extra.iter_mut().filter(|e| e.seg == seg && e.live()) {
            e.flags |= DEAD;
        }
    }

    pub fn finish_load(&mut self) {
        if !self.extra.is_empty() {
            let mut extra = std::mem::take(&mut self.extra);
            self.extra_pos = HashMap::new();
            extra.retain(|e| e.live());
            self.entries.append(&mut extra);
            self.entries.sort_unstable_by_key(|e| e.id);
        }
        self.rebuild();
    }

    /// Drops dead entries and recomputes the secondary orders.
    pub fn rebuild(&mut self) {
        self.entries.retain(|e| e.live());
        self.entries.shrink_to_fit();
        self.dead = 0;
        // Exact sizes: these lists are most of the index's memory.
        let mut counts = vec![0usize; self.members.len()];
        for e in &self.entries {
            if let Some(c) = counts.get_mut(e.group as usize) {
                *c += 1;
            }
        }
        self.members = counts.into_iter().map(Vec::with_capacity).collect();
        for (p, e) in self.entries.iter().enumerate() {
            if let Some(m) = self.members.get_mut(e.group as usize) {
                m.push(p as u32);
            }
        }
        let entries = &self.entries;
        self.by_flow = Vec::new();
        let mut by_flow: Vec<u32> = (0..entries.len() as u32).collect();
        by_flow.sort_unstable_by_key(|&p| {
            let e = &entries[p as usize];
            (e.flow_id, e.id)
        });
        self.by_flow = by_flow;
        self.zones = self
            .entries
            .chunks(ZONE)
            .map(|c| Zone {
                max_modno: c.iter().map(|e| e.modno).max().unwrap_or(0),
                max_start: c.iter().map(|e| e.start_ms).max().unwrap_or(i64::MIN),
            })
            .collect();
    }

    // ---- live changes ----

    fn flow_slot(&self, flow_id: i64, id: i64) -> usize {
        self.by_flow.partition_point(|&p| {
            let e = &self.entries[p as usize];
            (e.flow_id, e.id) < (flow_id, id)
        })
    }

    fn touch_zone(&mut self, p: usize) {
        let z = p / ZONE;
        while self.zones.len() <= z {
            self.zones.push(Zone {
                max_modno: 0,
                max_start: i64::MIN,
            });
        }
        let e = self.entries[p];
        let zone = &mut self.zones[z];
        zone.max_modno = zone.max_modno.max(e.modno);
        zone.max_start = zone.max_start.max(e.start_ms);
    }

    /// Inserts or replaces an entry. Returns what it replaced.
    pub fn upsert(&mut self, e: Entry) -> Prev {
        if self.entries.last().is_none_or(|l| l.id < e.id) {
            let p = self.entries.len();
            self.entries.push(e);
            if let Some(m) = self.members.get_mut(e.group as usize) {
                m.push(p as u32);
            }
            let slot = self.flow_slot(e.flow_id, e.id);
            self.by_flow.insert(slot, p as u32);
            self.touch_zone(p);
            return Prev::None;
        }
        match self.pos(e.id) {
            Some(p) if self.entries[p].live() => {
                let old = self.entries[p];
                if old.group != e.group || old.flow_id != e.flow_id {
                    self.entries[p] = e;
                    self.rebuild();
                } else {
                    self.entries[p] = e;
                    self.touch_zone(p);
                }
                Prev::Replaced(old)
            }
            Some(p) => {
                // A deleted id written again (explicit ids only).
                self.entries[p] = e;
                self.dead -= 1;
                self.rebuild();
                Prev::None
            }
            None => {
                let p = self.entries.partition_point(|x| x.id < e.id);
                self.entries.insert(p, e);
                self.rebuild();
                Prev::None
            }
        }
    }

    /// Flags an entry dead. Returns it if it was live.
    pub fn remove(&mut self, id: i64) -> Option<Entry> {
        let p = self.pos(id)?;
        let e = &mut self.entries[p];
        if !e.live() {
            return None;
        }
        e.flags |= DEAD;
        let old = *e;
        self.dead += 1;
        if self.dead > 1024 && self.dead * 4 > self.entries.len() {
            self.rebuild();
        }
        Some(old)
    }

    // ---- queries ----

    /// Positions (ascending, i.e. by id) of the entries the index says match `sel`, keeping the
    /// `last_n` newest by start time when `last_n > 0`. Snapshot ids are matched by hash only:
    /// the caller confirms on the operation and must pass `last_n = 0` when it filters by one.
    pub fn select(&self, sel: &OpSelector, last_n: usize) -> Vec<usize> {
        let group_ok = self.group_filter(sel);
        let ok = self.matcher(sel, group_ok.as_deref());
        let mut picker = Picker::new(self, last_n);
        let mut visit = |p: usize| -> bool {
            let e = &self.entries[p];
            if picker.done(p) {
                return false;
            }
            if ok(e) {
                picker.push(p, e);
            }
            true
        };
        if !sel.ids.is_empty() {
            let mut ps: Vec<usize> = sel.ids.iter().filter_map(|id| self.pos(*id)).collect();
            ps.sort_unstable();
            ps.dedup();
            for p in ps.into_iter().rev() {
                if !visit(p) {
                    break;
                }
            }
        } else if let Some(f) = sel.flow_id {
            let lo = self.flow_slot(f, i64::MIN);
            let hi = self.flow_slot(f, i64::MAX);
            let mut ps: Vec<usize> = self.by_flow[lo..hi].iter().map(|&p| p as usize).collect();
            ps.sort_unstable();
            for p in ps.into_iter().rev() {
                if !visit(p) {
                    break;
                }
            }
        } else if let Some(m) = sel.modno_gte {
            'zones: for z in (0..self.zones.len()).rev() {
                if self.zones[z].max_modno < m {
                    continue;
                }
                let end = ((z + 1) * ZONE).min(self.entries.len());
                for p in (z * ZONE..end).rev() {
                    if !visit(p) {
                        break 'zones;
                    }
                }
            }
        } else if let Some(g) = &group_ok {
            // Merge the matching groups' position lists, highest position first.
            let lists: Vec<&Vec<u32>> = self
                .members
                .iter()
                .enumerate()
                .filter(|(i, _)| g[*i])
                .map(|(_, m)| m)
                .collect();
            let mut heads: BinaryHeap<(u32, usize, usize)> = lists
                .iter()
                .enumerate()
                .filter(|(_, l)| !l.is_empty())
                .map(|(li, l)| (l[l.len() - 1], li, l.len() - 1))
                .collect();
            while let Some((p, li, i)) = heads.pop() {
                if !visit(p as usize) {
                    break;
                }
                if i > 0 {
                    heads.push((lists[li][i - 1], li, i - 1));
                }
            }
        } else {
            for p in (0..self.entries.len()).rev() {
                if !visit(p) {
                    break;
                }
            }
        }
        picker.finish()
    }

    /// Whether an entry matches `sel` (snapshot ids by hash), given its groups' filter.
    fn matcher<'a>(
        &self,
        sel: &'a OpSelector,
        group_ok: Option<&'a [bool]>,
    ) -> impl Fn(&Entry) -> bool + 'a {
        let snap = sel.snapshot_id.as_deref().map(snap_hash);
        move |e: &Entry| {
            e.live()
                && sel.matches_own_instance()
                && group_ok.is_none_or(|g| g[e.group as usize])
                && sel.flow_id.is_none_or(|f| e.flow_id == f)
                && sel.modno_gte.is_none_or(|m| e.modno >= m)
                && sel.started_from.is_none_or(|t| e.start_ms >= t)
                && sel.started_before.is_none_or(|t| e.start_ms < t)
                && snap.is_none_or(|h| e.snap == h)
                && (sel.ids.is_empty() || sel.ids.contains(&e.id))
        }
    }

    /// The ids [`select`](Self::select) picks with no `last_n`, ascending, of the first `limit`
    /// entries above id `after`: an answer of every match is read a batch at a time, with no
    /// list of all its ids.
    pub fn select_after(&self, sel: &OpSelector, after: i64, limit: usize) -> Vec<i64> {
        let group_ok = self.group_filter(sel);
        let ok = self.matcher(sel, group_ok.as_deref());
        let start = self.entries.partition_point(|e| e.id <= after);
        self.entries[start..]
            .iter()
            .filter(|e| ok(e))
            .take(limit)
            .map(|e| e.id)
            .collect()
    }

    /// Which groups a selector's plan/repo/instance filters allow; None when it has none.
    fn group_filter(&self, sel: &OpSelector) -> Option<Vec<bool>> {
        if sel.plan_id.is_none()
            && sel.repo_id.is_none()
            && sel.repo_guid.is_none()
            && sel.instance_id.is_none()
            && sel.kind.is_none()
        {
            return None;
        }
        Some(
            self.keys
                .iter()
                .map(|k| {
                    sel.plan_id.as_ref().is_none_or(|v| *v == k.plan_id)
                        && sel.repo_id.as_ref().is_none_or(|v| *v == k.repo_id)
                        && sel.repo_guid.as_ref().is_none_or(|v| *v == k.repo_guid)
                        && sel.instance_id.as_ref().is_none_or(|v| *v == k.instance_id)
                        && sel.kind.is_none_or(|v| v == k.kind)
                })
                .collect(),
        )
    }

    /// Approximate heap bytes held by the index.
    pub fn heap_bytes(&self) -> usize {
        self.entries.capacity() * std::mem::size_of::<Entry>()
            + self.by_flow.capacity() * 4
            + self.members.iter().map(|m| m.capacity() * 4).sum::<usize>()
            + self.zones.capacity() * std::mem::size_of::<Zone>()
    }
}

/// Collects selected positions; with `last_n` keeps the newest by (start, id) and tells the
/// walk (which goes from the highest position down) when nothing below can make the cut.
struct Picker {
    last_n: usize,
    all: Vec<usize>,
    heap: BinaryHeap<Reverse<(i64, i64, usize)>>,
    /// prefix_max[z] = the largest start time in zones 0..=z.
    prefix_max: Vec<i64>,
}

impl Picker {
    fn new(index: &Index, last_n: usize) -> Picker {
        let prefix_max = if last_n > 0 {
            let mut m = i64::MIN;
            index
                .zones
                .iter()
                .map(|z| {
                    m = m.max(z.max_start);
                    m
                })
                .collect()
        } else {
            Vec::new()
        };
        Picker {
            last_n,
            all: Vec::new(),
            heap: BinaryHeap::new(),
            prefix_max,
        }
    }

    /// True once no position at or below `p` can be among the newest.
    fn done(&self, p: usize) -> bool {
        if self.last_n == 0 || self.heap.len() < self.last_n {
            return false;
        }
        let Some(Reverse((start, _, _))) = self.heap.peek() else {
            return false;
        };
        // Lower positions have lower ids, so an equal start loses the tie too.
        self.prefix_max
            .get(p / ZONE)
            .is_some_and(|&max| max <= *start)
    }

    fn push(&mut self, p: usize, e: &Entry) {
        if self.last_n == 0 {
            self.all.push(p);
            return;
        }
        let item = Reverse((e.start_ms, e.id, p));
        if self.heap.len() < self.last_n {
            self.heap.push(item);
        } else if self.heap.peek().is_some_and(|min| item < *min) {
            self.heap.pop();
            self.heap.push(item);
        }
    }

    fn finish(self) -> Vec<usize> {
        let mut out = if self.last_n == 0 {
            self.all
        } else {
            self.heap.into_iter().map(|Reverse((_, _, p))| p).collect()
        };
        out.sort_unstable();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, group: u32, start: i64) -> Entry {
        Entry {
            id,
            modno: id,
            start_ms: start,
            flow_id: id - id % 3,
            group,
            status: OperationStatus::Success as u8,
            ..Default::default()
        }
    }

    fn index(n: i64) -> Index {
        let mut ix = Index::default();
        for g in 0..4 {
            ix.intern(GroupKey {
                repo_id: "r".into(),
                repo_guid: String::new(),
                plan_id: format!("p{}", g % 2),
                instance_id: "i".into(),
                kind: if g < 2 {
                    OpKind::Backup
                } else {
                    OpKind::Forget
                },
            });
        }
        for id in 1..=n {
            // Start times wander so the newest are not simply the highest ids.
            ix.upsert(entry(id, (id % 4) as u32, (id * 37) % 1000 + id / 10));
        }
        ix
    }

    fn brute(ix: &Index, sel: &OpSelector, last_n: usize) -> Vec<usize> {
        let keys = ix.keys().to_vec();
        let mut v: Vec<usize> = (0..ix.entries.len())
            .filter(|&p| {
                let e = &ix.entries[p];
                let k = &keys[e.group as usize];
                e.live()
                    && sel.plan_id.as_ref().is_none_or(|x| *x == k.plan_id)
                    && sel.kind.is_none_or(|x| x == k.kind)
                    && sel.flow_id.is_none_or(|f| f == e.flow_id)
                    && sel.modno_gte.is_none_or(|m| e.modno >= m)
                    && sel.started_from.is_none_or(|t| e.start_ms >= t)
                    && sel.started_before.is_none_or(|t| e.start_ms < t)
            })
            .collect();
        if last_n > 0 && v.len() > last_n {
            v.sort_by_key(|&p| (ix.entries[p].start_ms, ix.entries[p].id));
            v.drain(..v.len() - last_n);
            v.sort_unstable();
        }
        v
    }

    #[test]
    fn selections_match_a_full_scan() {
        let mut ix = index(2000);
        for id in (5..2000).step_by(7) {
            ix.remove(id);
        }
        let sels = [
            OpSelector::default(),
            OpSelector {
                plan_id: Some("p1".into()),
                ..Default::default()
            },
            OpSelector {
                flow_id: Some(300),
                ..Default::default()
            },
            OpSelector {
                modno_gte: Some(1900),
                ..Default::default()
            },
            OpSelector {
                plan_id: Some("p0".into()),
                modno_gte: Some(1000),
                ..Default::default()
            },
            OpSelector {
                plan_id: Some("nope".into()),
                ..Default::default()
            },
            OpSelector {
                kind: Some(OpKind::Forget),
                ..Default::default()
            },
            OpSelector {
                plan_id: Some("p1".into()),
                kind: Some(OpKind::Backup),
                started_from: Some(300),
                started_before: Some(700),
                ..Default::default()
            },
            OpSelector {
                started_before: Some(100),
                ..Default::default()
            },
        ];
        for sel in &sels {
            for last_n in [0, 1, 5, 100, 5000] {
                assert_eq!(
                    ix.select(sel, last_n),
                    brute(&ix, sel, last_n),
                    "{sel:?} last {last_n}"
                );
            }
            // Read in batches from a cursor: the same ids, in the same order.
            let all: Vec<i64> = ix
                .select(sel, 0)
                .iter()
                .map(|&p| ix.entries[p].id)
                .collect();
            let (mut batched, mut after) = (Vec::new(), i64::MIN);
            loop {
                let next = ix.select_after(sel, after, 7);
                batched.extend_from_slice(&next);
                match next.last() {
                    Some(&last) if next.len() == 7 => after = last,
                    _ => break,
                }
            }
            assert_eq!(batched, all, "{sel:?} in batches");
        }
    }

    #[test]
    fn changes_of_group_flow_and_out_of_order_ids_keep_orders_right() {
        let mut ix = index(300);
        let mut e = *ix.get(150).unwrap();
        e.group = 3;
        e.flow_id = 7;
        ix.upsert(e);
        ix.upsert(entry(-5, 1, 10_000));
        ix.remove(10);
        let mut revived = entry(10, 2, 5);
        revived.modno = 999;
        ix.upsert(revived);
        for sel in [
            OpSelector {
                plan_id: Some("p1".into()),
                ..Default::default()
            },
            OpSelector {
                flow_id: Some(7),
                ..Default::default()
            },
            OpSelector {
                modno_gte: Some(290),
                ..Default::default()
            },
        ] {
            for last_n in [0, 3] {
                assert_eq!(ix.select(&sel, last_n), brute(&ix, &sel, last_n));
            }
        }
    }

    #[test]
    fn entry_stays_small() {
        assert!(std::mem::size_of::<Entry>() <= 56);
    }
}
