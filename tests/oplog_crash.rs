//! The operation log under crashes, damaged files, a full disk and a concurrent reader.
//!
//! Child processes are this test binary run again with `FOOTREST_OPLOG_CHILD` set: the
//! `child` test then plays the daemon instead of being a no-op.

use footrest::model::{
    OpSelector, Operation, OperationBackup, OperationIndexSnapshot, OperationStatus,
};
use footrest::oplog::{self, OpLog, Options};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::Rng;

const CHILD: &str = "FOOTREST_OPLOG_CHILD";

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("footrest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn spawn_child(mode: &str, dir: &Path, seed: u64) -> Command {
    let mut c = Command::new(std::env::current_exe().unwrap());
    c.args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, mode)
        .env("FOOTREST_OPLOG_DIR", dir)
        .env("FOOTREST_OPLOG_SEED", seed.to_string());
    c
}

fn small_segments() -> Options {
    Options {
        segment_bytes: 8 << 10,
        progress_interval: Duration::from_millis(20),
        sync: true,
        ..Options::default()
    }
}

fn random_op(r: &mut Rng, status: OperationStatus) -> Operation {
    let mut op = Operation {
        plan_id: format!("plan{}", r.below(3)),
        repo_id: "repo".into(),
        instance_id: "host".into(),
        status,
        unix_time_start_ms: 1_700_000_000_000 + r.below(1_000_000) as i64,
        display_message: "m".repeat(r.below(200) as usize),
        ..Default::default()
    };
    if r.below(4) == 0 {
        op.snapshot_id = format!("{:016x}", r.next());
        op.operation_index_snapshot = Some(OperationIndexSnapshot::default());
    } else {
        op.operation_backup = Some(OperationBackup::default());
    }
    op
}

/// The child of the crash torture: writes forever, reporting on stdout
/// `W <json>` before a write (the exact operation it will store), `T <id>` once a terminal
/// write returned, `X <ids>` before a delete and `D <ids>` after it.
fn torture_child(dir: &Path, seed: u64) {
    let log = OpLog::open_with(dir, small_segments()).unwrap();
    log.recover_interrupted().unwrap();
    let mut out = std::io::stdout().lock();
    // The test harness has begun a line ("test child ... ").
    writeln!(out).unwrap();
    let mut r = Rng(seed | 1);
    let mut live: Vec<i64> = log
        .query(&OpSelector::default(), 0)
        .unwrap()
        .iter()
        .map(|o| o.id)
        .collect();
    loop {
        let stats = log.stats();
        let action = r.below(100);
        if action < 40 || live.is_empty() {
            let status = [
                OperationStatus::Pending,
                OperationStatus::InProgress,
                OperationStatus::Success,
                OperationStatus::Warning,
            ][r.below(4) as usize];
            let mut op = random_op(&mut r, status);
            let mut want = op.clone();
            want.id = stats.max_id + 1;
            want.flow_id = want.id;
            want.modno = stats.max_modno + 1;
            writeln!(out, "W {}", serde_json::to_string(&want).unwrap()).unwrap();
            out.flush().unwrap();
            log.add(&mut op).unwrap();
            assert_eq!(op, want);
            writeln!(out, "M {}", op.modno).unwrap();
            if op.status.is_terminal() {
                writeln!(out, "T {}", op.id).unwrap();
            }
            live.push(op.id);
        } else if action < 85 {
            let progress = action < 65;
            // Progress goes to recent operations, as a running backup's does.
            let pick = if progress {
                live.len() - 1 - r.below(live.len().min(3) as u64) as usize
            } else {
                r.below(live.len() as u64) as usize
            };
            let mut op = log.get(live[pick]).unwrap().unwrap();
            op.status = if progress {
                OperationStatus::InProgress
            } else {
                [OperationStatus::Success, OperationStatus::Error][r.below(2) as usize]
            };
            op.display_message = format!("step {}", r.below(1_000_000));
            op.modno = stats.max_modno + 1;
            writeln!(out, "W {}", serde_json::to_string(&op).unwrap()).unwrap();
            out.flush().unwrap();
            let mut sent = op.clone();
            if progress {
                log.update_progress(&mut sent).unwrap();
            } else {
                log.update(&mut sent).unwrap();
            }
            assert_eq!(sent, op);
            writeln!(out, "M {}", op.modno).unwrap();
            if op.status.is_terminal() {
                writeln!(out, "T {}", op.id).unwrap();
            }
        } else if action < 97 {
            let n = 1 + r.below(3) as usize;
            let ids: Vec<i64> = (0..n)
                .map(|_| live[r.below(live.len() as u64) as usize])
                .collect();
            let list = |v: &[i64]| {
                v.iter()
                    .map(|i| i.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            writeln!(out, "X {}", list(&ids)).unwrap();
            out.flush().unwrap();
            let gone = log.delete(&ids).unwrap();
            writeln!(out, "D {}", list(&gone)).unwrap();
            live.retain(|i| !gone.contains(i));
        } else {
            log.compact().unwrap();
        }
        out.flush().unwrap();
    }
}

#[derive(Default)]
struct Reports {
    /// Every version written or about to be written, per id.
    versions: HashMap<i64, Vec<Operation>>,
    /// The version a terminal write confirmed, per id (None once a later write began).
    durable: HashMap<i64, usize>,
    deleting: HashSet<i64>,
    deleted: HashSet<i64>,
    /// The largest modno a write returned.
    max_modno: i64,
}

impl Reports {
    fn read(&mut self, text: &str) {
        let complete = text.rfind('\n').map_or("", |p| &text[..p]);
        for line in complete.lines() {
            let Some((tag, rest)) = line.split_once(' ') else {
                continue;
            };
            let ids = || -> Vec<i64> {
                rest.split(',')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.parse().unwrap())
                    .collect()
            };
            match tag {
                "W" => {
                    let op: Operation = serde_json::from_str(rest).unwrap();
                    self.versions.entry(op.id).or_default().push(op);
                }
                "T" => {
                    let id: i64 = rest.parse().unwrap();
                    self.durable.insert(id, self.versions[&id].len() - 1);
                }
                "M" => self.max_modno = self.max_modno.max(rest.parse().unwrap()),
                "X" => self.deleting.extend(ids()),
                "D" => {
                    for id in ids() {
                        self.deleted.insert(id);
                    }
                    self.deleting.clear();
                }
                _ => {}
            }
        }
    }
}

/// What recovery makes of an interrupted version.
fn recovered(v: &Operation) -> Operation {
    let mut r = v.clone();
    r.status = OperationStatus::Error;
    r.display_message = oplog::INTERRUPTED_MESSAGE.into();
    r.unix_time_end_ms = r.unix_time_start_ms;
    r
}

fn same_but_modno(a: &Operation, b: &Operation) -> bool {
    let mut a = a.clone();
    a.modno = b.modno;
    a == *b
}

#[test]
fn crash_torture_keeps_every_finished_operation() {
    let dir = temp_dir("torture").join("oplog");
    let mut reports = Reports::default();
    let mut r = Rng(0xDEAD_BEEF_1234_5678);
    let started = Instant::now();
    let mut runs = 0;
    let mut reported = 0;
    while runs < 200 && started.elapsed() < Duration::from_secs(15) {
        runs += 1;
        let mut c = spawn_child("torture", &dir, r.next())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(5 + r.below(40)));
        c.kill().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut c.stdout.take().unwrap(), &mut text).unwrap();
        c.wait().unwrap();
        reported += text.lines().count();
        reports.read(&text);

        // What the next daemon start sees, and what it makes of it.
        let log = reopen_with(&dir, small_segments());
        assert_eq!(log.stats().damaged_lines, 0, "run {runs}");
        assert!(
            log.stats().max_modno >= reports.max_modno,
            "run {runs}: modno {} was handed out, the counter is at {}",
            reports.max_modno,
            log.stats().max_modno
        );
        log.recover_interrupted().unwrap();
        let ops = by_id(&log);
        drop(log);
        for (id, op) in &ops {
            assert!(!reports.deleted.contains(id), "run {runs}: {id} came back");
            assert!(
                op.status.is_terminal(),
                "run {runs}: {id} left {:?}",
                op.status
            );
            let versions = reports
                .versions
                .get(id)
                .unwrap_or_else(|| panic!("run {runs}: {id} was never written"));
            // Its state is a version written at or after the last durable one.
            let from = reports.durable.get(id).copied().unwrap_or(0);
            let ok = versions[from..].iter().any(|v| {
                *v == *op
                    || (v.status == OperationStatus::InProgress
                        && same_but_modno(&recovered(v), op))
            });
            assert!(
                ok,
                "run {runs}: {id} is {op:?}, written {:?}",
                &versions[from..]
            );
        }
        for (id, v) in &reports.durable {
            if reports.deleted.contains(id) || reports.deleting.contains(id) {
                continue;
            }
            assert!(
                ops.contains_key(id),
                "run {runs}: finished {id} (version {v}) lost"
            );
        }
        // Recovery rewrote some; take the log's state as the new baseline.
        reports.deleting.clear();
        reports.versions.clear();
        reports.durable.clear();
        for (id, op) in ops {
            reports.versions.insert(id, vec![op]);
            reports.durable.insert(id, 0);
        }
    }
    let log = OpLog::open_read_only(&dir).unwrap();
    eprintln!("{runs} runs, {} reports read, {:?}", reported, log.stats());
    assert!(runs >= 50, "only {runs} runs");
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

/// Plays the daemon with a file size limit, for the disk-full test.
fn disk_full_child(dir: &Path) {
    // SAFETY: setting a signal disposition and a resource limit of this process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let set_limit = |bytes: u64| {
        let lim = libc::rlimit {
            rlim_cur: bytes as libc::rlim_t,
            rlim_max: libc::RLIM_INFINITY,
        };
        // SAFETY: a valid rlimit struct for this process.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
    };
    let opts = Options {
        segment_bytes: 1 << 20,
        ..Options::default()
    };
    let log = OpLog::open_with(dir, opts.clone()).unwrap();
    let mut r = Rng(7);
    let mut kept = Vec::new();
    set_limit(48 << 10);
    let err = loop {
        let mut op = random_op(&mut r, OperationStatus::Success);
        match log.add(&mut op) {
            Ok(()) => kept.push(op),
            Err(e) => break e,
        }
        assert!(kept.len() < 10_000, "the limit never hit");
    };
    let msg = err.to_string();
    assert!(msg.starts_with("cannot write "), "{msg}");
    assert!(msg.contains("000001.ndjson"), "{msg}");
    assert!(msg.contains("too large"), "{msg}");
    // Updates fail the same way and change nothing.
    let mut first = kept[0].clone();
    first.display_message = "changed".into();
    assert!(log.update(&mut first).is_err());
    assert_eq!(log.get(kept[0].id).unwrap().unwrap(), kept[0]);
    assert!(log.delete(&[kept[1].id]).is_err());
    assert_eq!(log.query(&OpSelector::default(), 0).unwrap(), kept);

    // Space comes back: writing resumes.
    set_limit(u64::MAX);
    let mut op = random_op(&mut r, OperationStatus::Success);
    log.add(&mut op).unwrap();
    assert_eq!(op.id, kept.last().unwrap().id + 1);
    kept.push(op);
    drop(log);
    let log = OpLog::open_with(dir, opts).unwrap();
    assert_eq!(log.stats().damaged_lines, 0);
    assert_eq!(log.query(&OpSelector::default(), 0).unwrap(), kept);
    println!("DISK-FULL-OK {} kept", kept.len());
}

#[test]
fn disk_full_fails_the_write_and_damages_nothing() {
    let dir = temp_dir("diskfull").join("oplog");
    let out = spawn_child("disk-full", &dir, 0).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("DISK-FULL-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_second_daemon_process_is_refused() {
    let data = temp_dir("second-daemon");
    let _held = oplog::lock_data_dir(&data).unwrap();
    let out = spawn_child("second-daemon", &data, 0).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!(
            "REFUSED another footrest is running on {}",
            data.display()
        )),
        "{stdout}"
    );
    drop(_held);
    let out = spawn_child("second-daemon", &data, 0).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("LOCKED"));
    let _ = std::fs::remove_dir_all(&data);
}

/// The child side of the tests above; a no-op in a normal test run.
#[test]
fn child() {
    let Ok(mode) = std::env::var(CHILD) else {
        return;
    };
    let dir = PathBuf::from(std::env::var("FOOTREST_OPLOG_DIR").unwrap());
    let seed: u64 = std::env::var("FOOTREST_OPLOG_SEED")
        .unwrap()
        .parse()
        .unwrap();
    match mode.as_str() {
        "torture" => torture_child(&dir, seed),
        "disk-full" => disk_full_child(&dir),
        "second-daemon" => match oplog::lock_data_dir(&dir) {
            Ok(_) => println!("LOCKED"),
            Err(e) => println!("REFUSED {e}"),
        },
        other => panic!("unknown child mode {other}"),
    }
}

/// Opens for writing again. Children that other tests spawn meanwhile inherit our descriptors
/// (and so our locks) between their fork and their exec: wait that out.
/// Every operation of the log, by id.
fn by_id(log: &OpLog) -> BTreeMap<i64, Operation> {
    log.query(&OpSelector::default(), 0)
        .unwrap()
        .into_iter()
        .map(|o| (o.id, o))
        .collect()
}

fn reopen(dir: &Path) -> OpLog {
    reopen_with(dir, Options::default())
}

fn reopen_with(dir: &Path, opts: Options) -> OpLog {
    for _ in 0..200 {
        match OpLog::open_with(dir, opts.clone()) {
            Err(oplog::OpLogError::Locked { .. }) => std::thread::sleep(Duration::from_millis(5)),
            other => return other.unwrap(),
        }
    }
    panic!("{} stays locked", dir.display());
}

fn segments(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.extension().is_some_and(|e| e == "ndjson"))
        .collect();
    v.sort();
    v
}

/// Writes `n` finished operations, one line each, and returns them with the byte range
/// (file, start, end including the newline) of each line.
fn one_line_each(dir: &Path, n: usize) -> Vec<(Operation, PathBuf, u64, u64)> {
    let log = OpLog::open_with(
        dir,
        Options {
            segment_bytes: 32 << 10,
            sync: false,
            ..Options::default()
        },
    )
    .unwrap();
    let mut r = Rng(99);
    let mut ops = Vec::new();
    for _ in 0..n {
        let mut op = random_op(&mut r, OperationStatus::Success);
        log.add(&mut op).unwrap();
        ops.push(op);
    }
    drop(log);
    let mut placed = Vec::new();
    let mut it = ops.into_iter();
    for seg in segments(dir) {
        let data = std::fs::read(&seg).unwrap();
        let mut start = 0;
        for (i, b) in data.iter().enumerate() {
            if *b == b'\n' {
                let op = it.next().unwrap();
                placed.push((op, seg.clone(), start as u64, i as u64 + 1));
                start = i + 1;
            }
        }
    }
    assert!(it.next().is_none());
    placed
}

#[test]
fn damaged_bytes_cost_only_the_lines_they_hit() {
    let mut r = Rng(0x5EED);
    for round in 0..12 {
        let dir = temp_dir(&format!("corrupt{round}")).join("oplog");
        let placed = one_line_each(&dir, 300);
        let keep_checkpoint = round % 3 == 0;
        if !keep_checkpoint {
            std::fs::remove_file(dir.join("index.ckpt")).unwrap();
        }
        let segs = segments(&dir);
        let originals: HashSet<Vec<u8>> = segs
            .iter()
            .flat_map(|s| {
                std::fs::read(s)
                    .unwrap()
                    .split(|b| *b == b'\n')
                    .map(|l| l.to_vec())
                    .collect::<Vec<_>>()
            })
            .collect();
        // Flip bytes, and sometimes truncate the newest segment.
        let mut hits: Vec<(PathBuf, u64)> = Vec::new();
        for _ in 0..1 + r.below(8) {
            let seg = &segs[r.below(segs.len() as u64) as usize];
            let mut data = std::fs::read(seg).unwrap();
            let at = r.below(data.len() as u64) as usize;
            data[at] ^= 1 + r.below(255) as u8;
            std::fs::write(seg, &data).unwrap();
            hits.push((seg.clone(), at as u64));
        }
        let newest = segs.last().unwrap().clone();
        let mut cut_at = u64::MAX;
        if !keep_checkpoint && round % 2 == 0 {
            let len = std::fs::metadata(&newest).unwrap().len();
            cut_at = r.below(len);
            let f = std::fs::OpenOptions::new()
                .write(true)
                .open(&newest)
                .unwrap();
            f.set_len(cut_at).unwrap();
        }
        // The damaged lines, counted as open must count them.
        let mut want_damaged = 0;
        for seg in &segs {
            let data = std::fs::read(seg).unwrap();
            let complete = data.iter().rposition(|b| *b == b'\n').map_or(0, |p| p + 1);
            for line in data[..complete].split(|b| *b == b'\n') {
                if !line.is_empty() && !originals.contains(line) {
                    want_damaged += 1;
                }
            }
            if *seg != newest && complete < data.len() {
                want_damaged += 1;
            }
        }

        // Half the rounds check the checksums beside the scan, as a large scan does.
        let log = reopen_with(
            &dir,
            Options {
                checks_beside_from: if round % 4 < 2 { 0 } else { u64::MAX },
                ..Options::default()
            },
        );
        let got = by_id(&log);
        let mut missing = 0;
        for (i, (op, seg, start, end)) in placed.iter().enumerate() {
            let hit = hits.iter().any(|(s, at)| {
                s == seg
                    && ((*start..*end).contains(at)
                    // A flipped newline before it merges this line into the one before.
                    || (i > 0 && placed[i - 1].1 == *seg && *at + 1 == *start))
            });
            let cut = *seg == newest && *end > cut_at;
            match got.get(&op.id) {
                Some(g) => assert_eq!(g, op, "round {round}: operation {} changed", op.id),
                None => {
                    assert!(hit || cut, "round {round}: undamaged {} lost", op.id);
                    missing += 1;
                }
            }
        }
        assert!(got.len() + missing == placed.len());
        let damaged = log.stats().damaged_lines;
        if keep_checkpoint {
            // Found when read rather than at open: one per damaged operation read.
            assert!(damaged as usize <= missing, "round {round}");
        } else {
            assert_eq!(damaged, want_damaged, "round {round}");
        }
        drop(log);
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}

#[test]
fn readers_always_parse_while_the_daemon_writes() {
    let data = temp_dir("concurrent");
    let dir = data.join("oplog");
    let log = std::sync::Arc::new(
        OpLog::open_with(
            &dir,
            Options {
                segment_bytes: 16 << 10,
                progress_interval: Duration::from_millis(1),
                sync: false,
                ..Options::default()
            },
        )
        .unwrap(),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writer = {
        let (log, stop) = (log.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut r = Rng(3);
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let mut op = random_op(&mut r, OperationStatus::InProgress);
                log.add(&mut op).unwrap();
                op.display_message = "progress".into();
                log.update_progress(&mut op).unwrap();
                op.status = OperationStatus::Success;
                log.update(&mut op).unwrap();
                if r.below(3) == 0 {
                    log.delete(&[op.id - r.below(20) as i64]).unwrap();
                }
                if r.below(200) == 0 {
                    log.compact().unwrap();
                }
                n += 1;
            }
            n
        })
    };
    let started = Instant::now();
    let mut reads = 0;
    let mut last_seen = 0;
    while started.elapsed() < Duration::from_secs(3) {
        let mut out = Vec::new();
        oplog::ops_cli(&["--json".into()], &data, &mut out).unwrap();
        let mut prev = 0;
        let mut count = 0;
        for line in BufReader::new(&out[..]).lines() {
            let op: Operation = serde_json::from_str(&line.unwrap()).unwrap();
            assert!(op.id > prev, "ids out of order");
            assert!(op.status.is_terminal() || op.status == OperationStatus::InProgress);
            prev = op.id;
            count += 1;
        }
        last_seen = last_seen.max(prev);
        let _ = count;
        reads += 1;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let written = writer.join().unwrap();
    assert!(
        reads > 10 && written > 100,
        "{reads} reads, {written} writes"
    );
    assert!(last_seen > 0);
    drop(log);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_segment_edited_in_place_is_rescanned_not_trusted() {
    let dir = temp_dir("edited").join("oplog");
    let placed = one_line_each(&dir, 300);
    assert!(dir.join("index.ckpt").exists());
    let segs = segments(&dir);
    assert!(segs.len() >= 2, "{segs:?}");
    // An editor saving in place: same inode, a note inserted at the top, everything shifted.
    let first = &segs[0];
    let data = std::fs::read(first).unwrap();
    let mut f = std::fs::OpenOptions::new().write(true).open(first).unwrap();
    f.write_all(b"# checked by hand\n").unwrap();
    f.write_all(&data).unwrap();
    drop(f);

    let log = reopen(&dir);
    let got = by_id(&log);
    assert_eq!(got.len(), placed.len(), "records vanished after an edit");
    for (op, ..) in &placed {
        assert_eq!(got.get(&op.id), Some(op));
    }
    let stats = log.stats();
    assert_eq!(
        stats.damaged_lines, 1,
        "the inserted note is one damaged line"
    );
    assert_eq!(stats.lost_segments, 0);
    drop(log);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap());
}

#[test]
fn a_missing_or_emptied_segment_is_counted_and_the_rest_kept() {
    for with_checkpoint in [true, false] {
        let dir = temp_dir(&format!("lostseg{with_checkpoint}")).join("oplog");
        let placed = one_line_each(&dir, 400);
        if !with_checkpoint {
            std::fs::remove_file(dir.join("index.ckpt")).unwrap();
        }
        let segs = segments(&dir);
        assert!(segs.len() >= 4, "{segs:?}");
        // The second segment deleted, the third emptied (a failed copy, a careless cleanup).
        std::fs::remove_file(&segs[1]).unwrap();
        std::fs::File::create(&segs[2]).unwrap();
        let gone: HashSet<i64> = placed
            .iter()
            .filter(|(_, seg, ..)| *seg == segs[1] || *seg == segs[2])
            .map(|(op, ..)| op.id)
            .collect();
        assert!(!gone.is_empty());

        let log = reopen(&dir);
        let got = by_id(&log);
        for (op, ..) in &placed {
            if !gone.contains(&op.id) {
                assert_eq!(got.get(&op.id), Some(op), "an untouched record was lost");
            }
        }
        assert_eq!(got.len(), placed.len() - gone.len());
        let stats = log.stats();
        assert_eq!(stats.lost_segments, 2, "with_checkpoint={with_checkpoint}");
        let want = if with_checkpoint {
            gone.len() as u64
        } else {
            0
        };
        assert_eq!(
            stats.lost_operations, want,
            "with_checkpoint={with_checkpoint}"
        );
        // Writing goes on, and the next open reports the gap again rather than forgetting it.
        let mut op = placed[0].0.clone();
        op.id = 0;
        log.add(&mut op).unwrap();
        drop(log);
        let log = reopen(&dir);
        assert_eq!(log.stats().lost_segments, 2);
        drop(log);
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }
}

#[test]
fn an_unreadable_segment_is_left_out_and_comes_back_when_readable() {
    let dir0 = temp_dir("unreadable");
    for which in ["middle", "newest"] {
        let dir = dir0.join(which).join("oplog");
        let placed = one_line_each(&dir, 400);
        let segs = segments(&dir);
        assert!(segs.len() >= 3, "{segs:?}");
        let bad = if which == "middle" {
            segs[1].clone()
        } else {
            segs.last().unwrap().clone()
        };
        // A directory where the segment should be (a botched restore of the SD card).
        let aside = bad.with_extension("aside");
        std::fs::rename(&bad, &aside).unwrap();
        std::fs::create_dir(&bad).unwrap();

        let log = reopen(&dir);
        let got = by_id(&log);
        for (op, seg, ..) in &placed {
            if *seg == bad {
                assert!(!got.contains_key(&op.id));
            } else {
                assert_eq!(
                    got.get(&op.id),
                    Some(op),
                    "{which}: a readable record was lost"
                );
            }
        }
        // Writing goes on, past every segment, and compaction leaves the old ones alone.
        let mut new = placed[0].0.clone();
        new.id = 0;
        log.add(&mut new).unwrap();
        log.compact().unwrap();
        drop(log);
        let after = segments(&dir);
        assert!(
            after.contains(&bad) && after.last().unwrap() > &bad,
            "{which}: {after:?}"
        );

        std::fs::remove_dir(&bad).unwrap();
        std::fs::rename(&aside, &bad).unwrap();
        let log = reopen(&dir);
        let got = by_id(&log);
        assert_eq!(got.len(), placed.len() + 1, "{which}");
        for (op, ..) in &placed {
            assert_eq!(got.get(&op.id), Some(op), "{which}: not back once readable");
        }
        assert_eq!(got.get(&new.id).map(|o| &o.plan_id), Some(&new.plan_id));
        drop(log);
    }
    let _ = std::fs::remove_dir_all(&dir0);
}
