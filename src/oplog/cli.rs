//! `footrest ops`: lists operations from the data directory without the daemon, as JSON lines
//! or a table. It opens the log read-only, so it is safe while the daemon runs.

use super::OpLog;
use crate::model::{OpKind, OpSelector, Operation, OperationStatus};
use std::io::Write;
use std::path::Path;

const USAGE: &str = "usage: footrest ops [--plan ID] [--repo ID] [--instance ID] [--flow ID] \
[--snapshot ID] [--last N] [--modno-gte N] [--json | --stats]";

struct Args {
    sel: OpSelector,
    last_n: usize,
    json: bool,
    stats: bool,
}

fn parse(args: &[String]) -> Result<Option<Args>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args.iter());
    let mut a = Args {
        sel: OpSelector::default(),
        last_n: 0,
        json: false,
        stats: false,
    };
    let text = |p: &mut lexopt::Parser, name: &str| -> Result<String, String> {
        p.value()
            .map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| format!("{name}: not valid UTF-8"))
    };
    let number = |p: &mut lexopt::Parser, name: &str| -> Result<i64, String> {
        let v = text(p, name)?;
        v.parse()
            .map_err(|_| format!("{name}: \"{v}\" is not a number"))
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Long("plan") => a.sel.plan_id = Some(text(&mut p, "--plan")?),
            Long("repo") => a.sel.repo_id = Some(text(&mut p, "--repo")?),
            Long("instance") => a.sel.instance_id = Some(text(&mut p, "--instance")?),
            Long("snapshot") => a.sel.snapshot_id = Some(text(&mut p, "--snapshot")?),
            Long("flow") => a.sel.flow_id = Some(number(&mut p, "--flow")?),
            Long("modno-gte") => a.sel.modno_gte = Some(number(&mut p, "--modno-gte")?),
            Long("last") => {
                let n = number(&mut p, "--last")?;
                a.last_n = usize::try_from(n).map_err(|_| format!("--last: {n} is negative"))?;
            }
            Long("json") => a.json = true,
            Long("stats") => a.stats = true,
            Short('h') | Long("help") => return Ok(None),
            other => return Err(format!("{}\n{USAGE}", other.unexpected())),
        }
    }
    Ok(Some(a))
}

/// Runs `footrest ops` with the arguments after `ops`, reading `<data_dir>/oplog`.
pub fn ops_cli(args: &[String], data_dir: &Path, out: &mut dyn Write) -> Result<(), String> {
    let Some(a) = parse(args)? else {
        return writeln!(out, "{USAGE}").map_err(|e| e.to_string());
    };
    let dir = data_dir.join("oplog");
    if !dir.is_dir() {
        return Err(format!("no operation log in {}", dir.display()));
    }
    let log = OpLog::open_read_only(&dir).map_err(|e| e.to_string())?;
    if a.stats {
        let s = log.stats();
        return writeln!(
            out,
            "operations: {}\nsegments: {}\ndisk bytes: {}\nlive bytes: {}\n\
             damaged lines: {}\nlost segments: {} ({} operations known lost)\n\
             index bytes: {}\nlast id: {}\nlast modno: {}",
            s.operations,
            s.segments,
            s.disk_bytes,
            s.live_bytes,
            s.damaged_lines,
            s.lost_segments,
            s.lost_operations,
            s.index_heap_bytes,
            s.max_id,
            s.max_modno
        )
        .map_err(|e| format!("writing the output: {e}"));
    }
    let print = |ids: &[i64], out: &mut dyn Write| {
        let ops: Vec<Operation> = log
            .get_many(ids)
            .into_iter()
            .filter(|o| a.sel.matches(o))
            .collect();
        write_json(&ops, out)
    };
    if a.json && a.last_n == 0 {
        // Every match, 256 ids at a time from the index: memory does not grow with the history.
        let mut after = i64::MIN;
        loop {
            let ids = log.select_ids_after(&a.sel, after, 256);
            print(&ids, out).map_err(|e| format!("writing the output: {e}"))?;
            match ids.last() {
                Some(&last) => after = last,
                None => return Ok(()),
            }
        }
    }
    let ids = log
        .select_ids(&a.sel, a.last_n)
        .map_err(|e| e.to_string())?;
    let written = if a.json {
        // A batch at a time (the ids of the `--last` asked for are held).
        ids.chunks(256).try_for_each(|chunk| print(chunk, out))
    } else {
        // The table's columns are sized to their widest cell: it needs every row.
        let ops: Vec<Operation> = log
            .get_many(&ids)
            .into_iter()
            .filter(|o| a.sel.matches(o))
            .collect();
        write_table(&ops, out)
    };
    written.map_err(|e| format!("writing the output: {e}"))
}

fn write_json(ops: &[Operation], out: &mut dyn Write) -> std::io::Result<()> {
    for op in ops {
        // To a Vec first: the daemon's encoder for Vec output serves here too (a second one for
        // `dyn Write` output would cost 9 KB).
        let mut line = serde_json::to_vec(op)?;
        line.push(b'\n');
        out.write_all(&line)?;
    }
    Ok(())
}

fn kind_name(k: OpKind) -> &'static str {
    match k {
        OpKind::None => "-",
        OpKind::Backup => "backup",
        OpKind::IndexSnapshot => "snapshot",
        OpKind::Forget => "forget",
        OpKind::Prune => "prune",
        OpKind::Restore => "restore",
        OpKind::Stats => "stats",
        OpKind::RunHook => "hook",
        OpKind::Check => "check",
        OpKind::RunCommand => "command",
    }
}

fn status_name(s: OperationStatus) -> &'static str {
    s.name().strip_prefix("STATUS_").unwrap_or(s.name())
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
pub fn format_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn duration(op: &Operation) -> String {
    if op.unix_time_end_ms == 0 || op.unix_time_end_ms < op.unix_time_start_ms {
        return "-".into();
    }
    let s = (op.unix_time_end_ms - op.unix_time_start_ms) / 1000;
    if s >= 3600 {
        format!("{}h{:02}m", s / 3600, s % 3600 / 60)
    } else if s >= 60 {
        format!("{}m{:02}s", s / 60, s % 60)
    } else {
        format!("{s}s")
    }
}

fn write_table(ops: &[Operation], out: &mut dyn Write) -> std::io::Result<()> {
    let header = [
        "ID",
        "FLOW",
        "START (UTC)",
        "TOOK",
        "STATUS",
        "TYPE",
        "PLAN",
        "REPO",
        "SNAPSHOT",
        "MESSAGE",
    ];
    let rows: Vec<[String; 10]> = ops
        .iter()
        .map(|op| {
            let msg: String = op
                .display_message
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .take(60)
                .collect();
            [
                op.id.to_string(),
                op.flow_id.to_string(),
                if op.unix_time_start_ms == 0 {
                    "-".into()
                } else {
                    format_utc(op.unix_time_start_ms)
                },
                duration(op),
                status_name(op.status).to_string(),
                kind_name(op.kind()).to_string(),
                op.plan_id.clone(),
                op.repo_id.clone(),
                op.snapshot_id.chars().take(8).collect(),
                msg,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[&str]| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.extend(std::iter::repeat_n(' ', w - c.chars().count() + 2));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(&header))?;
    for r in &rows {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        writeln!(out, "{}", line(&cells))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(format_utc(0), "1970-01-01 00:00:00");
        assert_eq!(format_utc(1_700_000_000_000), "2023-11-14 22:13:20");
        assert_eq!(format_utc(951_782_400_000), "2000-02-29 00:00:00");
    }

    #[test]
    fn bad_arguments_are_named() {
        let e = parse(&["--last".into(), "x".into()]).err().unwrap();
        assert_eq!(e, "--last: \"x\" is not a number");
        assert!(parse(&["--nope".into()]).is_err());
    }
}
