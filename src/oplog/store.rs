//! Segment files of the operation log: appending whole lines, reading a line back, scanning,
//! compaction, and the index checkpoint. Used only by [`super::OpLog`] under its lock.
//!
//! Rules that keep every crash point safe:
//! - Lines are appended whole by one `write`; a failed append is cut back off the file (or,
//!   if even that fails, the next append starts with `\n` so the fragment is one damaged line).
//! - The newest line of an id wins; file order is segment number, then offset.
//! - A compacted segment starts with a counters line. It holds every live record of all
//!   segments numbered below it, so those are obsolete the moment it exists under its name:
//!   open deletes (or, read-only, ignores) them. Compaction therefore never loses or
//!   resurrects a record, whichever step a crash interrupts.
//! - The checkpoint is an optimization: it names the segments (number, inode, length) it
//!   covers; any mismatch or a bad checksum and open scans everything instead.

use super::format;
use super::index::{Entry, GroupKey};
use crate::model::OpKind;
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const CHECKPOINT: &str = "index.ckpt";
pub const COMPACT_LOCK: &str = "compact.lock";
pub const WRITER_LOCK: &str = "writer.lock";

pub fn segment_name(n: u32) -> String {
    format!("{n:06}.ndjson")
}

fn parse_segment_name(name: &str) -> Option<u32> {
    let digits = name.strip_suffix(".ndjson")?;
    if digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Segment numbers in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u32>> {
    let mut v = Vec::new();
    for de in fs::read_dir(dir)? {
        let de = de?;
        if let Some(n) = de.file_name().to_str().and_then(parse_segment_name) {
            v.push(n);
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// True when the segment starts with a counters line (it is a compaction's output).
pub fn is_compacted(path: &Path) -> io::Result<bool> {
    let mut f = File::open(path)?;
    let mut buf = [0u8; 160];
    let mut n = 0;
    while n < buf.len() {
        let r = f.read(&mut buf[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    let head = &buf[..n];
    let Some(end) = head.iter().position(|b| *b == b'\n') else {
        return Ok(false);
    };
    Ok(head.starts_with(b"{\"counters\":")
        && format::scan_line(&head[..end]).is_some_and(|l| l.counters.is_some()))
}

/// How many bytes at each end of a segment's covered part its fingerprint reads.
const FINGERPRINT_BYTES: u64 = 4096;

/// A fingerprint of a segment's first `len` bytes: CRC-32 of its first and last 4 KiB. A
/// checkpoint keeps it per segment so that an in-place edit (an editor inserting or removing
/// bytes on an inode the checkpoint still matches by length) is noticed and the log rescanned.
pub fn fingerprint(file: &File, len: u64) -> io::Result<u32> {
    let head = len.min(FINGERPRINT_BYTES);
    let tail = len.saturating_sub(FINGERPRINT_BYTES).max(head);
    let mut buf = vec![0u8; (head + (len - tail)) as usize];
    let (a, b) = buf.split_at_mut(head as usize);
    file.read_exact_at(a, 0)?;
    file.read_exact_at(b, tail)?;
    Ok(format::crc32(&buf))
}

pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub struct Seg {
    pub file: Arc<File>,
    pub len: u64,
    /// Bytes of lines that are some operation's newest line.
    pub live: u64,
    pub ino: u64,
}

pub struct Store {
    pub dir: PathBuf,
    pub segs: BTreeMap<u32, Seg>,
    pub segment_bytes: u64,
    pub writable: bool,
    /// Append handle on the newest segment; reopened after a failure.
    writer: Option<Arc<File>>,
    /// A failed append may have left a fragment past `len` of the newest segment.
    repair: bool,
    /// Segments open could not read (mode 000, a directory in their place): left out of the
    /// index, never written to or compacted over, and numbered around by [`Store::roll`].
    pub unreadable: std::collections::BTreeSet<u32>,
}

/// A compaction taken from the log: see [`Store::plan_compaction`].
pub struct CompactionPlan {
    upto: u32,
    entries: Vec<Entry>,
    counters: (i64, i64),
    /// (segment, handle), in segment order.
    files: Vec<(u32, Arc<File>)>,
    tmp: PathBuf,
}

/// A compaction written and synced, not yet in place.
pub struct Compacted {
    pub upto: u32,
    tmp: PathBuf,
    /// (id, old segment, old offset, new offset, len) of each copied line.
    pub moved: Vec<(i64, u32, u32, u32, u32)>,
    /// Ids whose lines were damaged (not copied), with where they were.
    pub lost: Vec<(i64, u32, u32)>,
    /// Length of the new segment.
    pub len: u64,
}

impl CompactionPlan {
    /// Copies the live lines into the new segment's temp file and syncs it. Runs without the
    /// log's lock: the segments it reads are never written to (only the newest is).
    pub fn write(self) -> R<Compacted> {
        let out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&self.tmp)
            .map_err(err("create", self.tmp.clone()))?;
        let mut w = io::BufWriter::with_capacity(1 << 16, out);
        let head = format::encode_counters(self.counters.0, self.counters.1);
        let mut off = head.len() as u64;
        let mut moved = Vec::with_capacity(self.entries.len());
        let mut lost = Vec::new();
        let result = (|| -> io::Result<()> {
            w.write_all(&head)?;
            for e in &self.entries {
                let read = match self.files.iter().find(|(n, _)| *n == e.seg) {
                    Some((_, f)) => read_line(f, e.off, e.len),
                    None => Err(io::Error::new(io::ErrorKind::NotFound, "segment gone")),
                };
                let mut line = match read {
                    Ok(l) if format::verify_in_place(&l) => l,
                    Ok(_) => {
                        lost.push((e.id, e.seg, e.off));
                        continue;
                    }
                    Err(err) if err.kind() == io::ErrorKind::UnexpectedEof => {
                        lost.push((e.id, e.seg, e.off));
                        continue;
                    }
                    Err(err) => return Err(err),
                };
                line.push(b'\n');
                w.write_all(&line)?;
                let o = u32::try_from(off)
                    .map_err(|_| io::Error::other("compacted segment larger than 4 GiB"))?;
                moved.push((e.id, e.seg, e.off, o, e.len));
                off += line.len() as u64;
            }
            w.flush()?;
            w.get_ref().sync_all()
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&self.tmp);
            return Err(err("write", self.tmp)(e));
        }
        Ok(Compacted {
            upto: self.upto,
            tmp: self.tmp,
            moved,
            lost,
            len: off,
        })
    }
}

/// A compaction in place whose directory entry changes are not yet synced.
pub struct Installed {
    lock: File,
    dir: PathBuf,
}

impl Installed {
    pub fn sync(self) -> R<()> {
        let synced = sync_dir(&self.dir);
        drop(self.lock);
        synced.map_err(err("sync", self.dir))
    }
}

/// One line (without its newline) of `len` bytes including the newline, at `off`.
fn read_line(file: &File, off: u32, len: u32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len.saturating_sub(1) as usize];
    file.read_exact_at(&mut buf, off as u64)?;
    Ok(buf)
}

/// An appended line not yet known to be on disk: the segment it went to (a handle of its own, so
/// that a roll to a new segment meanwhile does not matter).
#[must_use = "the line is not durable until synced"]
pub struct Durable {
    file: Arc<File>,
    path: PathBuf,
    segment: u32,
}

impl Durable {
    pub fn segment(&self) -> u32 {
        self.segment
    }

    /// fsyncs the segment: the line, and every line before it, is on disk when this returns.
    pub fn sync(self) -> R<()> {
        self.file.sync_data().map_err(err("sync", self.path))
    }
}

fn err(action: &'static str, path: PathBuf) -> impl FnOnce(io::Error) -> super::OpLogError {
    move |source| super::OpLogError::Io {
        action,
        path,
        source,
    }
}

type R<T> = Result<T, super::OpLogError>;

impl Store {
    pub fn new(dir: &Path, segment_bytes: u64, writable: bool) -> Store {
        Store {
            dir: dir.to_path_buf(),
            segs: BTreeMap::new(),
            segment_bytes,
            writable,
            writer: None,
            repair: false,
            unreadable: Default::default(),
        }
    }

    pub fn path(&self, n: u32) -> PathBuf {
        self.dir.join(segment_name(n))
    }

    /// Opens a segment for reading and registers it with length `len` (bytes trusted so far).
    pub fn add_segment(&mut self, n: u32, len: u64) -> R<()> {
        let path = self.path(n);
        let file = File::open(&path).map_err(err("open", path.clone()))?;
        let ino = file.metadata().map_err(err("read", path))?.ino();
        self.segs.insert(
            n,
            Seg {
                file: Arc::new(file),
                len,
                live: 0,
                ino,
            },
        );
        Ok(())
    }

    pub fn total_bytes(&self) -> u64 {
        self.segs.values().map(|s| s.len).sum()
    }

    pub fn live_bytes(&self) -> u64 {
        self.segs.values().map(|s| s.live).sum()
    }

    pub fn add_live(&mut self, seg: u32, len: u32) {
        if let Some(s) = self.segs.get_mut(&seg) {
            s.live += len as u64;
        }
    }

    pub fn sub_live(&mut self, seg: u32, len: u32) {
        if let Some(s) = self.segs.get_mut(&seg) {
            s.live = s.live.saturating_sub(len as u64);
        }
    }

    /// Scans complete lines of segment `n` from `from` to its end. Calls `f(line, offset)` for
    /// each (without the `\n`). Returns the end of the last complete line and whether bytes
    /// without a final `\n` follow it.
    pub fn scan(&self, n: u32, from: u64, f: impl FnMut(&[u8], u64)) -> R<(u64, bool)> {
        let Some(seg) = self.segs.get(&n) else {
            return Ok((from, false));
        };
        scan_file(&seg.file, from, f).map_err(err("read", self.path(n)))
    }
}

/// [`Store::scan`] of an open file.
pub fn scan_file(file: &File, from: u64, mut f: impl FnMut(&[u8], u64)) -> io::Result<(u64, bool)> {
    let size = file.metadata()?.len();
    let mut buf = vec![0u8; 1 << 20];
    let mut have = 0usize; // bytes in buf not yet consumed, starting at buf[0]
    let mut pos = from; // file offset of buf[0]
    let mut read_at = from;
    loop {
        if have == buf.len() {
            // A line longer than the buffer: grow it.
            buf.resize(buf.len() * 2, 0);
        }
        let want = (buf.len() - have).min((size.saturating_sub(read_at)) as usize);
        if want == 0 {
            break;
        }
        let got = file.read_at(&mut buf[have..have + want], read_at)?;
        if got == 0 {
            break;
        }
        read_at += got as u64;
        have += got;
        let mut start = 0;
        while let Some(nl) = memchr::memchr(b'\n', &buf[start..have]) {
            let end = start + nl;
            f(&buf[start..end], pos + start as u64);
            start = end + 1;
        }
        buf.copy_within(start..have, 0);
        pos += start as u64;
        have -= start;
    }
    Ok((pos, have > 0))
}

/// The checksum verdicts of a segment's complete lines from `from`, for a scan that runs
/// beside: the file's inode (8 bytes), then 4 bytes a line, its length with the top bit set when
/// its checksum holds (the scan trusts a verdict only for that file and a line of that length).
pub fn line_checks(path: &Path, from: u64) -> io::Result<Vec<u8>> {
    let file = File::open(path)?;
    let mut out = file.metadata()?.ino().to_le_bytes().to_vec();
    scan_file(&file, from, |line, _| {
        let ok = u32::from(super::format::verify_in_place(line)) << 31;
        out.extend_from_slice(&(line.len() as u32 & !(1 << 31) | ok).to_le_bytes());
    })?;
    Ok(out)
}

impl Store {
    /// Reads one line (without its `\n`).
    pub fn read(&self, seg: u32, off: u32, len: u32) -> io::Result<Vec<u8>> {
        let s = self
            .segs
            .get(&seg)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "segment gone"))?;
        read_line(&s.file, off, len)
    }

    pub fn newest(&self) -> Option<u32> {
        self.segs.keys().next_back().copied()
    }

    /// Cuts a torn last line off the newest segment (writer only).
    pub fn cut(&mut self, n: u32, len: u64) -> R<()> {
        let path = self.path(n);
        let f = OpenOptions::new()
            .write(true)
            .open(&path)
            .map_err(err("open", path.clone()))?;
        f.set_len(len).map_err(err("truncate", path))?;
        if let Some(s) = self.segs.get_mut(&n) {
            s.len = len;
        }
        Ok(())
    }

    /// The newest segment may end in a fragment: cut it (or end it) before the next append.
    pub fn needs_repair(&mut self) {
        self.repair = true;
    }

    /// Creates the next segment and makes it the one appended to.
    fn roll(&mut self) -> R<()> {
        let above = self
            .newest()
            .into_iter()
            .chain(self.unreadable.last().copied())
            .max();
        let n = above.map_or(1, |n| n + 1);
        let path = self.path(n);
        let f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&path)
            .map_err(err("create", path.clone()))?;
        sync_dir(&self.dir).map_err(err("sync", self.dir.clone()))?;
        self.add_segment(n, 0)?;
        self.writer = Some(Arc::new(f));
        self.repair = false;
        Ok(())
    }

    /// Makes sure the next append starts a fresh segment (compaction seals the current one).
    pub fn seal(&mut self) -> R<()> {
        if self.newest().is_some_and(|n| self.segs[&n].len > 0) {
            self.roll()?;
        }
        Ok(())
    }

    /// Appends one whole line; returns (segment, offset) and, with `sync`, what makes it durable:
    /// the caller runs [`Durable::sync`] once it has let go of the log's lock.
    /// On failure nothing of it remains in the file (see the module doc) and the error says why.
    pub fn append(&mut self, line: &[u8], sync: bool) -> R<(u32, u32, Option<Durable>)> {
        if !self.writable {
            return Err(super::OpLogError::ReadOnly);
        }
        // Lines go after every line of every segment, readable or not, so that the newest
        // line of an id still wins once an unreadable segment can be read again.
        let behind = self
            .unreadable
            .last()
            .is_some_and(|u| self.newest().is_none_or(|n| n < *u));
        let newest = match self.newest() {
            Some(n) if !behind => n,
            _ => {
                self.writer = None;
                self.roll()?;
                self.newest().unwrap_or(1)
            }
        };
        let len = self.segs.get(&newest).map_or(0, |s| s.len);
        let n = if len > 0 && len + line.len() as u64 > self.segment_bytes {
            self.roll()?;
            self.newest().unwrap_or(newest)
        } else {
            newest
        };
        let path = self.path(n);
        if self.writer.is_none() {
            let f = OpenOptions::new()
                .append(true)
                .open(&path)
                .map_err(err("open", path.clone()))?;
            self.writer = Some(Arc::new(f));
        }
        let mut start = self.segs.get(&n).map_or(0, |s| s.len);
        let Some(handle) = self.writer.clone() else {
            return Err(super::OpLogError::ReadOnly);
        };
        let mut w: &File = &handle;
        let mut prefix_newline = false;
        if self.repair {
            let actual = w.metadata().map_err(err("write", path.clone()))?.len();
            if actual > start && w.set_len(start).is_err() {
                // Cannot cut the fragment: end it, so it becomes one damaged line.
                prefix_newline = true;
                start = actual;
            }
        }
        let res = if prefix_newline {
            let mut v = Vec::with_capacity(line.len() + 1);
            v.push(b'\n');
            v.extend_from_slice(line);
            w.write_all(&v)
        } else {
            w.write_all(line)
        };
        if let Err(e) = res {
            self.repair = w.set_len(start).is_err();
            if let Some(s) = self.segs.get_mut(&n) {
                s.len = start;
            }
            if self.repair {
                // The handle may be the problem (a remount): open it again next time.
                self.writer = None;
            }
            return Err(err("write", path)(e));
        }
        self.repair = false;
        let off = start + prefix_newline as u64;
        if let Some(s) = self.segs.get_mut(&n) {
            s.len = off + line.len() as u64;
        }
        let off = u32::try_from(off).map_err(|_| {
            err("write", path.clone())(io::Error::other("segment larger than 4 GiB"))
        })?;
        let durable = sync.then(|| Durable {
            file: handle,
            path,
            segment: n,
        });
        Ok((n, off, durable))
    }

    /// Starts a compaction of the segments numbered `<= upto` (the caller holds the log's lock
    /// and knows none runs): what it copies (`entries`, the live ones there, sorted by id) and
    /// handles of those segments of its own, so that the copying needs no lock.
    pub fn plan_compaction(
        &self,
        upto: u32,
        entries: Vec<Entry>,
        counters: (i64, i64),
    ) -> CompactionPlan {
        CompactionPlan {
            upto,
            entries,
            counters,
            files: self
                .segs
                .range(..=upto)
                .map(|(n, s)| (*n, Arc::clone(&s.file)))
                .collect(),
            tmp: self.dir.join(format!("{}.tmp", segment_name(upto))),
        }
    }

    /// Puts a written compaction in place (the caller holds the log's lock again): the new
    /// segment `upto` replaces every segment numbered `<= upto`. The directory is synced by
    /// [`Installed::sync`], after the caller has let go of the lock.
    pub fn install(&mut self, c: &Compacted) -> R<Installed> {
        // Readers in other processes list and open segments under a shared lock on this file.
        let lock_path = self.dir.join(COMPACT_LOCK);
        let lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(err("open", lock_path.clone()))?;
        lock.lock().map_err(err("lock", lock_path))?;
        let _ = fs::remove_file(self.dir.join(CHECKPOINT));
        let dest = self.path(c.upto);
        if let Err(e) = fs::rename(&c.tmp, &dest) {
            let _ = fs::remove_file(&c.tmp);
            return Err(err("rename", c.tmp.clone())(e));
        }
        let old: Vec<u32> = self.segs.range(..=c.upto).map(|(n, _)| *n).collect();
        for n in old {
            self.segs.remove(&n);
            if n != c.upto {
                // Obsolete now; open removes any left by a crash here.
                let _ = fs::remove_file(self.path(n));
            }
        }
        self.add_segment(c.upto, c.len)?;
        Ok(Installed {
            lock,
            dir: self.dir.clone(),
        })
    }

    /// Writes the checkpoint of `entries` (no hot ones) covering every segment as it is now.
    pub fn write_checkpoint(
        &self,
        keys: &[GroupKey],
        count: usize,
        entries: impl Iterator<Item = Entry>,
        counters: (i64, i64),
    ) -> io::Result<()> {
        let tmp = self.dir.join(format!("{CHECKPOINT}.tmp"));
        let mut w = CrcWriter {
            inner: io::BufWriter::with_capacity(1 << 16, File::create(&tmp)?),
            crc: !0,
        };
        w.put(MAGIC)?;
        w.put(&counters.0.to_le_bytes())?;
        w.put(&counters.1.to_le_bytes())?;
        w.put(&(self.segs.len() as u32).to_le_bytes())?;
        for (n, s) in &self.segs {
            w.put(&n.to_le_bytes())?;
            w.put(&s.len.to_le_bytes())?;
            w.put(&s.live.to_le_bytes())?;
            w.put(&s.ino.to_le_bytes())?;
            w.put(&fingerprint(&s.file, s.len)?.to_le_bytes())?;
        }
        w.put(&(keys.len() as u32).to_le_bytes())?;
        for k in keys {
            for s in [&k.repo_id, &k.repo_guid, &k.plan_id, &k.instance_id] {
                w.put(&(s.len() as u32).to_le_bytes())?;
                w.put(s.as_bytes())?;
            }
            w.put(&[kind_number(k.kind)])?;
        }
        w.put(&(count as u64).to_le_bytes())?;
        let mut written = 0;
        for e in entries {
            let mut b = [0u8; ENTRY_BYTES];
            for (i, v) in [e.id, e.modno, e.start_ms, e.flow_id].iter().enumerate() {
                b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
            for (i, v) in [e.seg, e.off, e.len, e.group, e.snap].iter().enumerate() {
                b[32 + i * 4..36 + i * 4].copy_from_slice(&v.to_le_bytes());
            }
            b[52] = e.status;
            // Progress held in memory is gone after a restart: the line on disk is the newest.
            b[53] = e.flags & !super::index::HOT;
            w.put(&b)?;
            written += 1;
        }
        if written != count {
            return Err(io::Error::other("index changed while written"));
        }
        let crc = !w.crc;
        w.inner.write_all(&crc.to_le_bytes())?;
        // No fsync: the checkpoint only saves time. If a power cut leaves it short or stale,
        // its checksum or its segment table no longer fits and open scans the segments.
        w.inner.into_inner().map_err(|e| e.into_error())?;
        fs::rename(&tmp, self.dir.join(CHECKPOINT))
    }
}

struct CrcWriter<W> {
    inner: W,
    crc: u32,
}

impl<W: Write> CrcWriter<W> {
    fn put(&mut self, b: &[u8]) -> io::Result<()> {
        self.crc = format::crc32_update(self.crc, b);
        self.inner.write_all(b)
    }
}

const MAGIC: &[u8; 8] = b"FRIDX\x02\0\n";
const ENTRY_BYTES: usize = 4 * 8 + 5 * 4 + 2;

/// One segment as a checkpoint saw it.
pub struct CheckpointSeg {
    pub n: u32,
    /// Bytes the checkpoint covers; open scans from here.
    pub len: u64,
    /// Bytes of live lines in it.
    pub live: u64,
    pub ino: u64,
    /// [`fingerprint`] of the covered bytes.
    pub fingerprint: u32,
}

pub struct Checkpoint {
    pub counters: (i64, i64),
    pub segs: Vec<CheckpointSeg>,
    pub keys: Vec<GroupKey>,
    pub entries: Vec<Entry>,
}

fn kind_number(k: OpKind) -> u8 {
    OpKind::NUMBERED.iter().position(|x| *x == k).unwrap_or(0) as u8
}

/// Reads the checkpoint body while computing its CRC.
struct Reader<R> {
    inner: R,
    crc: u32,
}

impl<R: Read> Reader<R> {
    fn bytes<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.inner.read_exact(&mut b).ok()?;
        self.crc = format::crc32_update(self.crc, &b);
        Some(b)
    }
    fn u8(&mut self) -> Option<u8> {
        self.bytes::<1>().map(|b| b[0])
    }
    fn u32(&mut self) -> Option<u32> {
        self.bytes::<4>().map(u32::from_le_bytes)
    }
    fn u64(&mut self) -> Option<u64> {
        self.bytes::<8>().map(u64::from_le_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.bytes::<8>().map(i64::from_le_bytes)
    }
    fn string(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        if n > 1 << 20 {
            return None;
        }
        let mut v = vec![0u8; n];
        self.inner.read_exact(&mut v).ok()?;
        self.crc = format::crc32_update(self.crc, &v);
        String::from_utf8(v).ok()
    }
}

/// Reads the checkpoint; None when it is missing, damaged or of another version. Streams the
/// file so that opening holds no second copy of the index.
pub fn read_checkpoint(dir: &Path) -> Option<Checkpoint> {
    let f = File::open(dir.join(CHECKPOINT)).ok()?;
    let size = f.metadata().ok()?.len();
    let body = size.checked_sub(4)?;
    let mut buf = io::BufReader::with_capacity(1 << 16, f);
    let mut c = Reader {
        inner: (&mut buf).take(body),
        crc: !0,
    };
    if c.bytes::<8>()? != *MAGIC {
        return None;
    }
    let counters = (c.i64()?, c.i64()?);
    let nsegs = c.u32()? as usize;
    let mut segs = Vec::with_capacity(nsegs.min(1 << 16));
    for _ in 0..nsegs {
        segs.push(CheckpointSeg {
            n: c.u32()?,
            len: c.u64()?,
            live: c.u64()?,
            ino: c.u64()?,
            fingerprint: c.u32()?,
        });
    }
    let nkeys = c.u32()? as usize;
    let mut keys = Vec::with_capacity(nkeys.min(1 << 16));
    for _ in 0..nkeys {
        keys.push(GroupKey {
            repo_id: c.string()?,
            repo_guid: c.string()?,
            plan_id: c.string()?,
            instance_id: c.string()?,
            kind: *OpKind::NUMBERED.get(c.u8()? as usize)?,
        });
    }
    let n = c.u64()?;
    // The count must fit what is left of the file before anything is allocated for it.
    if n.checked_mul(ENTRY_BYTES as u64)? > body {
        return None;
    }
    let mut entries = Vec::with_capacity(n as usize);
    let mut block = vec![0u8; 4096 * ENTRY_BYTES];
    let mut left = n as usize;
    while left > 0 {
        let k = left.min(4096);
        let bytes = &mut block[..k * ENTRY_BYTES];
        c.inner.read_exact(bytes).ok()?;
        c.crc = format::crc32_update(c.crc, bytes);
        for b in bytes.chunks_exact(ENTRY_BYTES) {
            let i64_at = |i: usize| {
                let mut a = [0u8; 8];
                a.copy_from_slice(&b[i..i + 8]);
                i64::from_le_bytes(a)
            };
            let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
            let e = Entry {
                id: i64_at(0),
                modno: i64_at(8),
                start_ms: i64_at(16),
                flow_id: i64_at(24),
                seg: u32_at(32),
                off: u32_at(36),
                len: u32_at(40),
                group: u32_at(44),
                snap: u32_at(48),
                status: b[52],
                flags: b[53],
            };
            if e.group as usize >= keys.len()
                || entries.last().is_some_and(|l: &Entry| l.id >= e.id)
            {
                return None;
            }
            entries.push(e);
        }
        left -= k;
    }
    let crc = !c.crc;
    let mut tail = [0u8; 4];
    buf.read_exact(&mut tail).ok()?;
    if u32::from_le_bytes(tail) != crc {
        return None;
    }
    Some(Checkpoint {
        counters,
        segs,
        keys,
        entries,
    })
}
