//! The line format of the operation log segments.
//!
//! Every line is one JSON object ending in a checksum member, so `jq` and `grep` still work on a
//! user's history while a flipped bit anywhere in the line is detected:
//!
//! ```text
//! {"id":"7","modno":"12",...,"crc32":"89abcdef"}
//! {"deleted":["3","4"],"modno":"13","crc32":"01234567"}
//! {"counters":{"id":"9","modno":"20"},"crc32":"76543210"}
//! ```
//!
//! The checksum is CRC-32 (IEEE) of the line's bytes before `,"crc32":`. A line is an operation
//! (the API's proto3 JSON), a tombstone for deleted ids, or the counters compaction writes so the
//! id and modno counters never go back when the records that carried them are gone.

use crate::model::{OpKind, Operation, OperationStatus};
use serde::Deserialize;
use serde::de::IgnoredAny;
use std::borrow::Cow;

const SUFFIX_PREFIX: &[u8] = b",\"crc32\":\"";
/// `,"crc32":"` + 8 hex digits + `"}`.
const SUFFIX_LEN: usize = SUFFIX_PREFIX.len() + 8 + 2;

/// CRC-32 (IEEE 802.3), by crc32fast (in the build already for gzip).
pub fn crc32(data: &[u8]) -> u32 {
    // A new Hasher detects the CPU's features each time; a copy of one does not (the scan
    // checks every line).
    static FRESH: std::sync::OnceLock<crc32fast::Hasher> = std::sync::OnceLock::new();
    let mut h = FRESH.get_or_init(crc32fast::Hasher::new).clone();
    h.update(data);
    h.finalize()
}

/// Continues a CRC-32 over more data; start from `!0` and invert the end result.
pub fn crc32_update(c: u32, data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new_with_initial(!c);
    h.update(data);
    !h.finalize()
}

/// Closes a JSON object body (everything but its final `}`) with the checksum member and `\n`.
fn seal(mut body: Vec<u8>) -> Vec<u8> {
    let crc = crc32(&body);
    body.extend_from_slice(SUFFIX_PREFIX);
    body.extend_from_slice(format!("{crc:08x}\"}}\n").as_bytes());
    body
}

/// The line for an operation. Operations always carry an id, so their JSON is never `{}`.
pub fn encode_op(op: &Operation) -> Vec<u8> {
    let mut body = match serde_json::to_vec(op) {
        Ok(v) => v,
        // Serializing plain structs of strings and numbers into memory cannot fail; an empty
        // object keeps the line well-formed if it ever did.
        Err(_) => b"{}".to_vec(),
    };
    body.pop();
    if body.len() == 1 {
        // `{` alone: keep the member list well-formed.
        body.extend_from_slice(b"\"id\":\"0\"");
    }
    seal(body)
}

/// The tombstone line for deleted ids; `modno` is the counter value the deletion used.
pub fn encode_tombstone(ids: &[i64], modno: i64) -> Vec<u8> {
    let mut s = String::from("{\"deleted\":[");
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push('"');
        s.push_str(&id.to_string());
        s.push('"');
    }
    s.push_str(&format!("],\"modno\":\"{modno}\""));
    seal(s.into_bytes())
}

/// The counters line written at the start of a compacted segment.
pub fn encode_counters(max_id: i64, max_modno: i64) -> Vec<u8> {
    seal(format!("{{\"counters\":{{\"id\":\"{max_id}\",\"modno\":\"{max_modno}\"}}").into_bytes())
}

/// Checks a line's checksum without copying it.
pub fn verify_in_place(line: &[u8]) -> bool {
    if line.len() < SUFFIX_LEN + 2 {
        return false;
    }
    let cut = line.len() - SUFFIX_LEN;
    let (body, suffix) = line.split_at(cut);
    if !suffix.starts_with(SUFFIX_PREFIX) || !suffix.ends_with(b"\"}") {
        return false;
    }
    let mut want = 0u32;
    for &h in &suffix[SUFFIX_PREFIX.len()..SUFFIX_PREFIX.len() + 8] {
        let d = match h {
            b'0'..=b'9' => h - b'0',
            b'a'..=b'f' => h - b'a' + 10,
            b'A'..=b'F' => h - b'A' + 10,
            _ => return false,
        };
        want = want << 4 | u32::from(d);
    }
    crc32(body) == want
}

/// Decodes a verified operation line (without its `\n`).
pub fn decode_op(line: &[u8]) -> Option<Operation> {
    if !verify_in_place(line) {
        return None;
    }
    // The checksum member is an unknown field to Operation, which ignores it.
    crate::util::from_json(line).ok()
}

/// What the scan needs from any line: the index fields of an operation, or a tombstone, or counters.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub struct ScanLine<'a> {
    #[serde(with = "crate::proto::i64s")]
    pub id: i64,
    #[serde(with = "crate::proto::i64s")]
    pub modno: i64,
    #[serde(with = "crate::proto::i64s")]
    pub flow_id: i64,
    #[serde(borrow)]
    pub repo_id: Cow<'a, str>,
    #[serde(borrow)]
    pub repo_guid: Cow<'a, str>,
    #[serde(borrow)]
    pub plan_id: Cow<'a, str>,
    #[serde(borrow)]
    pub instance_id: Cow<'a, str>,
    #[serde(borrow)]
    pub snapshot_id: Cow<'a, str>,
    pub status: OperationStatus,
    #[serde(with = "crate::proto::i64s")]
    pub unix_time_start_ms: i64,
    pub operation_backup: Option<IgnoredAny>,
    pub operation_index_snapshot: Option<ScanIndexSnapshot>,
    pub operation_forget: Option<IgnoredAny>,
    pub operation_prune: Option<IgnoredAny>,
    pub operation_restore: Option<IgnoredAny>,
    pub operation_stats: Option<IgnoredAny>,
    pub operation_run_hook: Option<IgnoredAny>,
    pub operation_check: Option<IgnoredAny>,
    pub operation_run_command: Option<IgnoredAny>,
    #[serde(with = "crate::proto::vec_i64s")]
    pub deleted: Vec<i64>,
    pub counters: Option<ScanCounters>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScanIndexSnapshot {
    pub forgot: bool,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct ScanCounters {
    #[serde(with = "crate::proto::i64s")]
    pub id: i64,
    #[serde(with = "crate::proto::i64s")]
    pub modno: i64,
}

impl ScanLine<'_> {
    pub fn is_tombstone(&self) -> bool {
        !self.deleted.is_empty() || (self.id == 0 && self.counters.is_none())
    }

    pub fn kind(&self) -> OpKind {
        OpKind::from_present([
            self.operation_backup.is_some(),
            self.operation_index_snapshot.is_some(),
            self.operation_forget.is_some(),
            self.operation_prune.is_some(),
            self.operation_restore.is_some(),
            self.operation_stats.is_some(),
            self.operation_run_hook.is_some(),
            self.operation_check.is_some(),
            self.operation_run_command.is_some(),
        ])
    }
}

/// Parses a line (without its `\n`) for the scan; None when damaged.
///
/// Operations are written with the index fields first and the `operation*` member last (the
/// field order of `model::Operation`), so the fast path stops reading at that member: the
/// bodies (snapshots, progress, summaries) are most of every line and the index needs none of
/// them. Anything unusual (escaped strings, other field orders) takes the full parse.
pub fn scan_line(line: &[u8]) -> Option<ScanLine<'_>> {
    scan_checked(line, None)
}

/// [`scan_line`] with the checksum's verdict when it is known already.
pub fn scan_checked(line: &[u8], verified: Option<bool>) -> Option<ScanLine<'_>> {
    if !verified.unwrap_or_else(|| verify_in_place(line)) {
        return None;
    }
    // Anything unusual: the full parse (which reads the operation's body too, to no use).
    scan_written(line).or_else(|| crate::util::from_json(line).ok())
}

/// The scan of a line as footrest writes it, without a JSON parser: `{"key":"value",...` with
/// string values free of escapes, up to the `operation*` member. None for anything else (a
/// tombstone, counters, an escape, a value that is not a string), which the parser then reads.
fn scan_written(line: &[u8]) -> Option<ScanLine<'_>> {
    let mut out = ScanLine::default();
    let mut p = 1;
    if line.first() != Some(&b'{') {
        return None;
    }
    loop {
        // "key":
        if line.get(p) != Some(&b'"') {
            return None;
        }
        // Keys are short: a plain loop beats memchr's setup.
        let k_end = p + 1 + line.get(p + 1..)?.iter().position(|&b| b == b'"')?;
        let key = &line[p + 1..k_end];
        if line.get(k_end + 1) != Some(&b':') {
            return None;
        }
        let v = k_end + 2;
        if key.starts_with(b"operation") {
            if out.id == 0 || line.get(v) != Some(&b'{') {
                return None;
            }
            match key {
                b"operationBackup" => out.operation_backup = Some(IgnoredAny),
                b"operationIndexSnapshot" => {
                    // A forgotten snapshot's flag is the last member footrest writes.
                    let body = &line[..line.len().saturating_sub(SUFFIX_LEN)];
                    if body.ends_with(b"\"forgot\":true}") {
                        return None; // the parser reads the flag
                    }
                    out.operation_index_snapshot = Some(ScanIndexSnapshot::default());
                }
                b"operationForget" => out.operation_forget = Some(IgnoredAny),
                b"operationPrune" => out.operation_prune = Some(IgnoredAny),
                b"operationRestore" => out.operation_restore = Some(IgnoredAny),
                b"operationStats" => out.operation_stats = Some(IgnoredAny),
                b"operationRunHook" => out.operation_run_hook = Some(IgnoredAny),
                b"operationCheck" => out.operation_check = Some(IgnoredAny),
                b"operationRunCommand" => out.operation_run_command = Some(IgnoredAny),
                _ => return None,
            }
            return Some(out);
        }
        // "value" (a string without escapes)
        if line.get(v) != Some(&b'"') {
            return None;
        }
        let v_end = v + 1 + memchr::memchr(b'"', line.get(v + 1..)?)?;
        let raw = &line[v + 1..v_end];
        if raw.contains(&b'\\') {
            return None; // an escape
        }
        // Only the values kept are checked as UTF-8 (the line's checksum is already verified);
        // ids and names are ASCII, which needs no call into the full check.
        let text = || {
            if raw.is_ascii() {
                // SAFETY: ASCII bytes are valid UTF-8.
                Some(Cow::Borrowed(unsafe { std::str::from_utf8_unchecked(raw) }))
            } else {
                std::str::from_utf8(raw).ok().map(Cow::Borrowed)
            }
        };
        match key {
            b"id" => out.id = decimal(raw)?,
            b"modno" => out.modno = decimal(raw)?,
            b"flowId" => out.flow_id = decimal(raw)?,
            b"unixTimeStartMs" => out.unix_time_start_ms = decimal(raw)?,
            b"repoId" => out.repo_id = text()?,
            b"repoGuid" => out.repo_guid = text()?,
            b"planId" => out.plan_id = text()?,
            b"instanceId" => out.instance_id = text()?,
            b"snapshotId" => out.snapshot_id = text()?,
            b"status" => out.status = OperationStatus::from_name(&text()?)?,
            b"deleted" | b"counters" => return None,
            _ => {}
        }
        match line.get(v_end + 1) {
            Some(b',') => p = v_end + 2,
            // A line with no operation* member: the parser decides what it is.
            _ => return None,
        }
    }
}

/// A decimal int64 as proto3 JSON writes it in a string (`-` allowed, no leading `+`).
fn decimal(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, b),
    };
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    let mut n: i64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fields the index takes from a scanned line, to compare two scans.
    fn facts(s: &ScanLine) -> String {
        format!(
            "{} {} {} {} {} {} {} {} {:?} {} {:?} {} {:?} {:?}",
            s.id,
            s.modno,
            s.flow_id,
            s.repo_id,
            s.repo_guid,
            s.plan_id,
            s.instance_id,
            s.snapshot_id,
            s.status,
            s.unix_time_start_ms,
            s.kind(),
            s.operation_index_snapshot
                .as_ref()
                .is_some_and(|x| x.forgot),
            s.deleted,
            s.counters.as_ref().map(|c| (c.id, c.modno)),
        )
    }

    /// The parser's reading of a line.
    fn parsed(line: &[u8]) -> ScanLine<'_> {
        serde_json::from_slice(line).unwrap()
    }

    #[test]
    fn the_shortcut_reads_written_lines_as_the_parser_does_and_leaves_the_rest_to_it() {
        use crate::model::{OperationBackup, OperationIndexSnapshot, OperationStatus};
        let base = Operation {
            id: 41,
            modno: 7,
            flow_id: 40,
            repo_id: "repo1".into(),
            repo_guid: "ab".repeat(32),
            plan_id: "plan-1".into(),
            instance_id: "pi".into(),
            status: OperationStatus::Success,
            unix_time_start_ms: 1_700_000_000_123,
            display_message: "done".into(),
            operation_backup: Some(OperationBackup::default()),
            ..Default::default()
        };
        let mut cases = vec![base.clone()];
        let mut o = base.clone();
        o.display_message = "a \"quoted\" message\nwith a newline".into();
        cases.push(o);
        let mut o = base.clone();
        o.plan_id = "plän".into();
        o.status = OperationStatus::InProgress;
        cases.push(o);
        for forgot in [false, true] {
            let mut o = base.clone();
            o.operation_backup = None;
            o.snapshot_id = "cd".repeat(32);
            o.operation_index_snapshot = Some(OperationIndexSnapshot {
                forgot,
                ..Default::default()
            });
            cases.push(o);
        }
        let mut o = base.clone();
        o.operation_backup = None;
        cases.push(o);
        let mut lines: Vec<Vec<u8>> = cases.iter().map(encode_op).collect();
        lines.push(encode_tombstone(&[3, 4], 9));
        lines.push(encode_counters(12, 34));
        let mut shortcut = 0;
        for line in &lines {
            let line = &line[..line.len() - 1];
            let want = facts(&parsed(line));
            if let Some(fast) = scan_written(line) {
                shortcut += 1;
                assert_eq!(facts(&fast), want, "{}", String::from_utf8_lossy(line));
            }
            assert_eq!(facts(&scan_line(line).unwrap()), want);
        }
        // The plain lines took the shortcut; escapes, a forgotten snapshot, a line without an
        // operation* member, tombstones and counters did not.
        assert_eq!(shortcut, 3);
        assert_eq!(decimal(b"-12"), Some(-12));
        assert_eq!(decimal(b"9223372036854775807"), Some(i64::MAX));
        for bad in [&b""[..], b"-", b"12a", b"+1", b"99999999999999999999"] {
            assert_eq!(decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn crc_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        let long: Vec<u8> = (0..1000u32).map(|i| (i * 7) as u8).collect();
        // Bit by bit, as the standard defines it.
        let mut c = !0u32;
        for &b in &long {
            c ^= u32::from(b);
            for _ in 0..8 {
                c = if c & 1 != 0 {
                    0xEDB8_8320 ^ (c >> 1)
                } else {
                    c >> 1
                };
            }
        }
        assert_eq!(crc32(&long), !c);
        // In pieces, as the segment writer sums a line.
        let (a, b) = long.split_at(333);
        assert_eq!(!crc32_update(crc32_update(!0, a), b), !c);
    }

    #[test]
    fn op_line_round_trips_and_detects_a_flip() {
        let op = Operation {
            id: 3,
            modno: 9,
            flow_id: 3,
            plan_id: "p\"lan".into(),
            status: OperationStatus::Success,
            ..Default::default()
        };
        let line = encode_op(&op);
        assert_eq!(*line.last().unwrap(), b'\n');
        let body = &line[..line.len() - 1];
        assert_eq!(decode_op(body).unwrap(), op);
        let v: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(v["id"], "3");
        let scan = scan_line(body).unwrap();
        assert_eq!(scan.plan_id, "p\"lan");
        assert!(!scan.is_tombstone());
        for i in 0..body.len() {
            let mut bad = body.to_vec();
            bad[i] ^= 0x04;
            assert!(decode_op(&bad).is_none(), "flip at {i} undetected");
        }
    }

    #[test]
    fn fast_scan_agrees_with_the_full_parse() {
        use crate::model::{OperationIndexSnapshot, ResticSnapshot};
        for forgot in [false, true] {
            let op = Operation {
                id: 12,
                modno: 40,
                flow_id: 11,
                plan_id: "plan".into(),
                repo_id: "repo".into(),
                instance_id: "host".into(),
                snapshot_id: "ab".repeat(32),
                status: OperationStatus::Success,
                unix_time_start_ms: 1_700_000_000_000,
                display_message: "done \"quoted\"".into(),
                operation_index_snapshot: Some(OperationIndexSnapshot {
                    snapshot: Some(ResticSnapshot {
                        id: "ab".repeat(32),
                        tags: vec!["forgot".into()],
                        ..Default::default()
                    }),
                    forgot,
                }),
                ..Default::default()
            };
            let line = encode_op(&op);
            let body = &line[..line.len() - 1];
            let fast = scan_line(body).unwrap();
            let full: ScanLine = serde_json::from_slice(body).unwrap();
            assert_eq!(fast.id, full.id);
            assert_eq!(fast.modno, full.modno);
            assert_eq!(fast.flow_id, full.flow_id);
            assert_eq!(fast.plan_id, full.plan_id);
            assert_eq!(fast.snapshot_id, full.snapshot_id);
            assert_eq!(fast.status, full.status);
            assert_eq!(fast.unix_time_start_ms, full.unix_time_start_ms);
            assert_eq!(fast.kind(), OpKind::IndexSnapshot);
            assert_eq!(
                fast.operation_index_snapshot.unwrap().forgot,
                full.operation_index_snapshot.unwrap().forgot
            );
        }
        // Escaped strings take the full parse.
        let op = Operation {
            id: 1,
            plan_id: "a\"b".into(),
            operation_backup: Some(Default::default()),
            ..Default::default()
        };
        let line = encode_op(&op);
        let s = scan_line(&line[..line.len() - 1]).unwrap();
        assert_eq!(s.plan_id, "a\"b");
        assert_eq!(s.kind(), OpKind::Backup);
    }

    #[test]
    fn tombstone_and_counters_lines() {
        let t = encode_tombstone(&[4, 5], 77);
        let s = scan_line(&t[..t.len() - 1]).unwrap();
        assert_eq!(s.deleted, vec![4, 5]);
        assert_eq!(s.modno, 77);
        assert!(s.is_tombstone());
        let c = encode_counters(10, 20);
        let s = scan_line(&c[..c.len() - 1]).unwrap();
        let counters = s.counters.as_ref().unwrap();
        assert_eq!((counters.id, counters.modno), (10, 20));
        assert!(!s.is_tombstone());
    }
}
