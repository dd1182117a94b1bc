//! What restic prints, understood: backup progress and summary lines, snapshot and forget
//! listings, and restic's RFC 3339 times (for every restic version in use).

use super::*;

/// One line of `restic backup --json`.
#[derive(Debug, PartialEq)]
pub enum BackupEvent {
    Status(BackupProgressStatusEntry),
    /// The summary, whether it was a dry run, and when the backup started (restic ≥ 0.17:
    /// the new snapshot's own time).
    Summary(BackupProgressSummary, bool, Option<i64>),
    Error(BackupProgressError),
    ExitError(i32, String),
    /// Not JSON, or a message type footrest does not use: goes to the log.
    Other(String),
}

#[derive(Deserialize)]
#[serde(tag = "message_type", rename_all = "snake_case")]
pub(super) enum RawBackupLine {
    Status {
        #[serde(default)]
        percent_done: f64,
        #[serde(default)]
        total_files: i64,
        #[serde(default)]
        total_bytes: i64,
        #[serde(default)]
        files_done: i64,
        #[serde(default)]
        bytes_done: i64,
        #[serde(default)]
        current_files: Vec<String>,
    },
    Summary(RawSummary),
    Error {
        #[serde(default)]
        error: Option<RawErrorBody>,
        #[serde(default)]
        during: String,
        #[serde(default)]
        item: String,
    },
    ExitError {
        #[serde(default)]
        code: i32,
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Deserialize, Default)]
pub(super) struct RawErrorBody {
    #[serde(default)]
    message: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawSummary {
    files_new: i64,
    files_changed: i64,
    files_unmodified: i64,
    dirs_new: i64,
    dirs_changed: i64,
    dirs_unmodified: i64,
    data_blobs: i64,
    tree_blobs: i64,
    data_added: i64,
    total_files_processed: i64,
    total_bytes_processed: i64,
    total_duration: f64,
    snapshot_id: String,
    dry_run: bool,
    backup_start: String,
    backup_end: String,
}

impl RawSummary {
    /// The snapshot summary; the duration from restic's start and end times when it printed
    /// sane ones (0.17+), else its own figure (never negative: 0.18 prints garbage for a
    /// skipped backup).
    pub(super) fn into_summary(self) -> SnapshotSummary {
        let duration = match (
            parse_rfc3339_ms(&self.backup_start),
            parse_rfc3339_ms(&self.backup_end),
        ) {
            (Some(a), Some(b)) if b >= a => (b - a) as f64 / 1000.0,
            _ => self.total_duration.max(0.0),
        };
        SnapshotSummary {
            files_new: self.files_new,
            files_changed: self.files_changed,
            files_unmodified: self.files_unmodified,
            dirs_new: self.dirs_new,
            dirs_changed: self.dirs_changed,
            dirs_unmodified: self.dirs_unmodified,
            data_blobs: self.data_blobs,
            tree_blobs: self.tree_blobs,
            data_added: self.data_added,
            total_files_processed: self.total_files_processed,
            total_bytes_processed: self.total_bytes_processed,
            total_duration: duration,
        }
    }
}

/// Parses one stdout line of `restic backup --json`.
pub fn parse_backup_line(line: &str) -> BackupEvent {
    if !line.trim_start().starts_with('{') {
        return BackupEvent::Other(line.to_string());
    }
    match serde_json::from_str::<RawBackupLine>(line) {
        Ok(RawBackupLine::Status {
            percent_done,
            total_files,
            total_bytes,
            files_done,
            bytes_done,
            current_files,
        }) => BackupEvent::Status(BackupProgressStatusEntry {
            percent_done,
            total_files,
            total_bytes,
            files_done,
            bytes_done,
            current_file: current_files,
        }),
        Ok(RawBackupLine::Summary(s)) => {
            let dry_run = s.dry_run;
            let snapshot_id = s.snapshot_id.clone();
            let start = parse_rfc3339_ms(&s.backup_start);
            BackupEvent::Summary(
                BackupProgressSummary::of_snapshot(s.into_summary(), snapshot_id),
                dry_run,
                start,
            )
        }
        Ok(RawBackupLine::Error {
            error,
            during,
            item,
        }) => BackupEvent::Error(BackupProgressError {
            item,
            during,
            message: error.map(|e| e.message).unwrap_or_default(),
        }),
        Ok(RawBackupLine::ExitError { code, message }) => BackupEvent::ExitError(code, message),
        Ok(RawBackupLine::Unknown) | Err(_) => BackupEvent::Other(line.to_string()),
    }
}

/// A snapshot as `restic snapshots --json` prints it.
#[derive(Deserialize, Default)]
#[serde(default)]
pub(super) struct RawSnapshot {
    id: String,
    time: String,
    hostname: String,
    username: String,
    tree: String,
    parent: String,
    paths: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    summary: Option<RawSummary>,
}

impl RawSnapshot {
    pub(super) fn into_snapshot(self) -> ResticSnapshot {
        let summary = self.summary.map(RawSummary::into_summary);
        ResticSnapshot {
            unix_time_ms: parse_rfc3339_ms(&self.time).unwrap_or(0),
            id: self.id,
            hostname: self.hostname,
            username: self.username,
            tree: self.tree,
            parent: self.parent,
            paths: self.paths.unwrap_or_default(),
            tags: self.tags.unwrap_or_default(),
            summary,
        }
    }
}

/// Parses `restic forget --json`: groups with `remove` lists. Only the first JSON document is
/// read (with `--prune`, restic prints prune's text log after it).
pub fn parse_forget(out: &str) -> Result<Vec<ResticSnapshot>, ResticError> {
    #[derive(Deserialize)]
    struct Group {
        #[serde(default)]
        remove: Option<Vec<RawSnapshot>>,
    }
    let start = out.find('[').unwrap_or(0);
    let mut stream = serde_json::Deserializer::from_str(&out[start..]).into_iter::<Vec<Group>>();
    let groups = match stream.next() {
        Some(Ok(g)) => g,
        Some(Err(e)) => return Err(ResticError::Output(format!("forget: {e}"))),
        None => Vec::new(),
    };
    Ok(groups
        .into_iter()
        .flat_map(|g| g.remove.unwrap_or_default())
        .map(RawSnapshot::into_snapshot)
        .collect())
}

/// Parses RFC 3339 timestamps as restic prints them (`2024-05-01T10:00:00.123456789+02:00`).
/// By hand, not with jiff's parser: the daemon links only jiff's time zone code, and its RFC 3339
/// parser would add 8 KB to the x86_64 musl binary (measured: 2,497,352 -> 2,505,528 bytes).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut ms = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        let frac = &s[start..i];
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        ms = digits.parse().ok()?;
    }
    let offset_min = match b.get(i)? {
        b'Z' | b'z' => 0,
        sign @ (b'+' | b'-') => {
            let oh = num(i + 1..i + 3)?;
            let om = num(i + 4..i + 6)?;
            let o = oh * 60 + om;
            if *sign == b'-' { -o } else { o }
        }
        _ => return None,
    };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    let secs = days * 86400 + h * 3600 + mi * 60 + sec - offset_min * 60;
    Some(secs * 1000 + ms)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(super) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}
