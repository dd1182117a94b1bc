//! Backrest's hook helpers (the methods of its `HookVars`) as plain functions over JSON values,
//! [`HookMethods`] to register them all, and Backrest's default summary templates, so that hook
//! bodies written for Backrest render the same text here.
//!
//! Facts taken from Backrest's source (formats and template text only):
//! - `internal/orchestrator/tasks/hookvars.go` at 8102bf8e65b0059e80060ed33e97f99c70b0cb96:
//!   `EventName`, `FormatTime` (RFC 3339), `FormatDuration` (truncated to ms, Go's
//!   `Duration.String`), `FormatSizeBytes` (powers of 1000, `%.3f`), `IsError` (only ANY_ERROR
//!   and SNAPSHOT_ERROR), `JsonMarshal`, `Summary` and its three templates.
//! - `internal/hook/hookutil/templateutil.go` at 4d0d13e39802fcf18186723372608d96b9bd58b0:
//!   a template that is blank after trimming spaces means `{{ .Summary }}`.
//! - `ShellEscape` is `shellescape.Quote` from alessio/shellescape `shellescape.go` at
//!   effa65e96ae543fc1248742f2529b49347157428.
//!
//! The data mirrors Backrest's `HookVars`, with Go's field names: `Task` (string), `Event` (the
//! condition's name, e.g. `"CONDITION_SNAPSHOT_END"`, which is what Go prints for it; a number is
//! accepted too), `Repo` and `Plan` (objects with `Id`, `Paths`, ... or null), `SnapshotId`,
//! `SnapshotStats` (restic's summary with `FilesNew`, `DataAdded`, `TotalDuration`, ... or null),
//! `CurTime` (an RFC 3339 string), `Duration` (a string from [`go_duration`], which is what Go
//! prints, or integer nanoseconds) and `Error` (string). `JsonMarshal` writes whatever keys the
//! value has, so a caller wanting Backrest's JSON keys puts those in the value it passes.

use super::{Error, Methods, Template};
use serde_json::Value;

/// What Backrest renders for a hook whose template is blank.
pub const DEFAULT_TEMPLATE: &str = "{{ .Summary }}";

/// `.Summary` for SNAPSHOT_START.
pub const SUMMARY_SNAPSHOT_START: &str = r#"
Backrest Notification for Snapshot Start
Task: "{{ .Task }}" at {{ .FormatTime .CurTime }}
Event: {{ .EventName .Event }}
Repo: {{ .Repo.Id }} 
Plan: {{ .Plan.Id }} 
Paths: 
{{ range .Plan.Paths -}}
 - {{ . }}
{{ end }}"#;

/// `.Summary` for SNAPSHOT_END, SNAPSHOT_WARNING and SNAPSHOT_SUCCESS.
pub const SUMMARY_SNAPSHOT_END: &str = "
Backrest Snapshot Notification
Task: {{ .Task }} at {{ .FormatTime .CurTime }}
Event: {{ .EventName .Event }}
Snapshot: {{ .SnapshotId }}
{{ if .Error -}}
Error: {{ .Error }}
{{ else -}}
{{ if .SnapshotStats -}}

Overview:
- Data added: {{ .FormatSizeBytes .SnapshotStats.DataAdded }}
- Total files processed: {{ .SnapshotStats.TotalFilesProcessed }}
- Total bytes processed: {{ .FormatSizeBytes .SnapshotStats.TotalBytesProcessed }}

Backup Statistics:
- Files new: {{ .SnapshotStats.FilesNew }}
- Files changed: {{ .SnapshotStats.FilesChanged }}
- Files unmodified: {{ .SnapshotStats.FilesUnmodified }}
- Dirs new: {{ .SnapshotStats.DirsNew }}
- Dirs changed: {{ .SnapshotStats.DirsChanged }}
- Dirs unmodified: {{ .SnapshotStats.DirsUnmodified }}
- Data blobs: {{ .SnapshotStats.DataBlobs }}
- Tree blobs: {{ .SnapshotStats.TreeBlobs }}
- Total duration: {{ .SnapshotStats.TotalDuration }}s
{{ end }}
{{ end }}";

/// `.Summary` for every other event.
pub const SUMMARY_DEFAULT: &str = "
{{ if .Error -}}
Backrest Error
Task: {{ .Task }} at {{ .FormatTime .CurTime }}
Event: {{ .EventName .Event }}
Repo: {{ .Repo.Id }}
Error: {{ .Error }}
{{ else -}}
Backrest Notification
Task: {{ .Task }} at {{ .FormatTime .CurTime }}
Event: {{ .EventName .Event }}
{{ end }}
";

/// Hook conditions: number, proto name, Backrest's event name.
const CONDITIONS: [(i64, &str, &str); 16] = [
    (1, "CONDITION_ANY_ERROR", "error"),
    (2, "CONDITION_SNAPSHOT_START", "snapshot start"),
    (3, "CONDITION_SNAPSHOT_END", "snapshot end"),
    (4, "CONDITION_SNAPSHOT_ERROR", "snapshot error"),
    (5, "CONDITION_SNAPSHOT_WARNING", "snapshot warning"),
    (6, "CONDITION_SNAPSHOT_SUCCESS", "snapshot success"),
    (7, "CONDITION_SNAPSHOT_SKIPPED", "snapshot skipped"),
    (100, "CONDITION_PRUNE_START", "prune start"),
    (101, "CONDITION_PRUNE_ERROR", "prune error"),
    (102, "CONDITION_PRUNE_SUCCESS", "prune success"),
    (200, "CONDITION_CHECK_START", "check start"),
    (201, "CONDITION_CHECK_ERROR", "check error"),
    (202, "CONDITION_CHECK_SUCCESS", "check success"),
    (300, "CONDITION_FORGET_START", "forget start"),
    (301, "CONDITION_FORGET_ERROR", "forget error"),
    (302, "CONDITION_FORGET_SUCCESS", "forget success"),
];

/// Backrest's methods on the root value: `Summary EventName FormatTime FormatDuration
/// FormatSizeBytes IsError ShellEscape JsonMarshal`.
#[derive(Debug, Clone, Copy, Default)]
pub struct HookMethods;

impl Methods for HookMethods {
    fn call(&self, name: &str, root: &Value, args: &[Value]) -> Option<Result<Value, String>> {
        let want = match name {
            "Summary" => 0,
            "EventName" | "IsError" | "FormatTime" | "FormatDuration" | "FormatSizeBytes"
            | "ShellEscape" | "JsonMarshal" => 1,
            _ => return None,
        };
        if args.len() != want {
            return Some(Err(format!(
                "wrong number of args for {name}: want {want} got {}",
                args.len()
            )));
        }
        let str_arg = |what: &str| match &args[0] {
            Value::String(s) => Ok(s.as_str()),
            v => Err(format!(
                "wrong type for value; expected {what}; got {}",
                super::format::go_type(v)
            )),
        };
        Some(match name {
            "Summary" => summary(root).map(Value::from).map_err(|e| e.to_string()),
            "EventName" => Ok(event_name(&args[0]).into()),
            "IsError" => Ok(is_error(&args[0]).into()),
            "FormatTime" => str_arg("time.Time")
                .and_then(|s| format_time(s).ok_or_else(|| format!("not an RFC 3339 time: {s:?}")))
                .map(Value::from),
            "FormatDuration" => format_duration(&args[0])
                .ok_or_else(|| format!("not a duration: {}", args[0]))
                .map(Value::from),
            "FormatSizeBytes" => Ok(format_size_bytes(&args[0]).into()),
            "ShellEscape" => str_arg("string").map(|s| shell_escape(s).into()),
            _ => Ok(json_marshal(&args[0]).into()),
        })
    }
}

/// Renders a hook's template the way Backrest does: blank (after trimming spaces) means
/// [`DEFAULT_TEMPLATE`].
pub fn render(template: &str, vars: &Value) -> Result<String, Error> {
    let src = if template.trim_matches(' ').is_empty() {
        DEFAULT_TEMPLATE
    } else {
        template
    };
    super::render(src, vars, &HookMethods)
}

/// `.Summary`: the default message for the event in `vars["Event"]`.
pub fn summary(vars: &Value) -> Result<String, Error> {
    let src = match vars.get("Event").and_then(condition) {
        Some(2) => SUMMARY_SNAPSHOT_START,
        Some(3 | 5 | 6) => SUMMARY_SNAPSHOT_END,
        _ => SUMMARY_DEFAULT,
    };
    Template::parse(src)?.render(vars, &HookMethods)
}

/// A condition's number, from its number or its proto name.
pub fn condition(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => CONDITIONS.iter().find(|c| c.1 == s).map(|c| c.0),
        _ => None,
    }
}

/// `.EventName`: "snapshot end", "prune success", ...; "unknown" otherwise.
pub fn event_name(cond: &Value) -> &'static str {
    let n = condition(cond);
    CONDITIONS
        .iter()
        .find(|c| Some(c.0) == n)
        .map_or("unknown", |c| c.2)
}

/// `.IsError`: true for ANY_ERROR and SNAPSHOT_ERROR only, as in Backrest.
pub fn is_error(cond: &Value) -> bool {
    matches!(condition(cond), Some(1 | 4))
}

/// `.FormatTime`: Go's `time.RFC3339` layout, seconds precision, `Z` for a zero offset. Takes
/// an RFC 3339 timestamp (fractional seconds allowed) and keeps its offset.
pub fn format_time(t: &str) -> Option<String> {
    let (date, rest) = (t.get(..19)?, &t[19..]);
    let zone = rest
        .strip_prefix('.')
        .map_or(rest, |f| f.trim_start_matches(|c: char| c.is_ascii_digit()));
    let offset = zone.len() == 6 && shaped(zone, b"+dd:dd");
    let zone = match zone {
        "Z" | "z" => "Z",
        z if offset && &z[1..] == "00:00" => "Z",
        z if offset => z,
        _ => return None,
    };
    shaped(date, b"dddd-dd-ddTdd:dd:dd").then(|| format!("{}T{}{zone}", &date[..10], &date[11..]))
}

/// Whether `s` has the shape of `pattern`: `d` a digit, `T` a date-time separator, `+` a sign.
fn shaped(s: &str, pattern: &[u8]) -> bool {
    s.len() == pattern.len()
        && s.bytes().zip(pattern).all(|(c, p)| match p {
            b'd' => c.is_ascii_digit(),
            b'T' => b"Tt ".contains(&c),
            b'+' => c == b'+' || c == b'-',
            _ => c == *p,
        })
}

/// `.FormatDuration`: truncated to milliseconds, then Go's `Duration.String` ("1m30.5s").
/// Takes integer nanoseconds (Go's unit) or a string in the form [`go_duration`] writes.
pub fn format_duration(d: &Value) -> Option<String> {
    let s = match d {
        Value::Number(n) => return n.as_i64().map(|n| go_duration(n - n % 1_000_000)),
        Value::String(s) => s.as_str(),
        _ => return None,
    };
    // Cutting the digits below a millisecond off Go's own form is the same truncation.
    let (num, unit) = ["ns", "µs", "us", "ms", "s"]
        .iter()
        .find_map(|u| Some((s.strip_suffix(u)?, *u)))?;
    let (head, frac) = num.split_once('.').unwrap_or((num, ""));
    let valid = head.bytes().all(|b| b"0123456789hm-".contains(&b))
        && frac.bytes().all(|b| b.is_ascii_digit());
    if !valid || head.is_empty() {
        return None;
    }
    let frac = frac[..frac.len().min(3)].trim_end_matches('0');
    match unit {
        "ms" => Some(format!("{head}ms")),
        "s" if !frac.is_empty() => Some(format!("{head}.{frac}s")),
        "s" => Some(format!("{head}s")),
        _ => Some("0s".into()),
    }
}

/// Go's `time.Duration.String` for `nanos` nanoseconds: "0s", "1.5ms", "2h0m5s".
pub fn go_duration(nanos: i64) -> String {
    let (sign, u) = (if nanos < 0 { "-" } else { "" }, nanos.unsigned_abs());
    let (unit, scale, width) = match u {
        0 => return "0s".into(),
        1..1_000 => ("ns", 1, 0),
        1_000..1_000_000 => ("µs", 1_000, 3),
        1_000_000..1_000_000_000 => ("ms", 1_000_000, 6),
        _ => ("s", 1_000_000_000, 9),
    };
    let (whole, part) = (u / scale, format!(".{:0width$}", u % scale));
    let part = part.trim_end_matches('0').trim_end_matches('.');
    let (h, m, s) = (whole / 3600, whole / 60 % 60, whole % 60);
    match (unit, h, m) {
        ("s", 0, 0) => format!("{sign}{s}{part}s"),
        ("s", 0, m) => format!("{sign}{m}m{s}{part}s"),
        ("s", h, m) => format!("{sign}{h}h{m}m{s}{part}s"),
        _ => format!("{sign}{whole}{part}{unit}"),
    }
}

/// `.FormatSizeBytes`: powers of 1000 with three decimals, "1.500 MB". Like Backrest, only
/// integers count; anything else is 0. Stops at PB (Backrest would index past its table).
pub fn format_size_bytes(v: &Value) -> String {
    const UNITS: [&str; 6] = ["B", "KB", "MB", "GB", "TB", "PB"];
    let (mut size, mut i) = (v.as_i64().unwrap_or(0) as f64, 0);
    while size > 1000.0 && i + 1 < UNITS.len() {
        (size, i) = (size / 1000.0, i + 1);
    }
    format!("{size:.3} {}", UNITS[i])
}

/// `.ShellEscape`: one POSIX shell word. Safe strings stay bare, others go in single quotes.
pub fn shell_escape(s: &str) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"_@%+=:,./-".contains(&b);
    match s {
        "" => "''".into(),
        s if s.bytes().all(safe) => s.into(),
        s => format!("'{}'", s.replace('\'', r#"'"'"'"#)),
    }
}

/// `.JsonMarshal`: compact JSON as Go's `encoding/json` (1.22+) writes it: keys sorted, `<>&`
/// and U+2028/U+2029 escaped, floats without a needless `.0`.
pub fn json_marshal(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => {
            let f = n.as_f64().unwrap_or(0.0);
            if f == 0.0 || (1e-6..1e21).contains(&f.abs()) {
                return format!("{f}");
            }
            let e = format!("{f:e}");
            let (m, x) = super::format::split_exp(&e);
            if x < 0 {
                format!("{m}e{x}")
            } else {
                format!("{m}e+{x:02}")
            }
        }
        Value::String(s) => {
            let q = serde_json::to_string(s).unwrap_or_default();
            q.replace('<', "\\u003c")
                .replace('>', "\\u003e")
                .replace('&', "\\u0026")
                .replace('\u{2028}', "\\u2028")
                .replace('\u{2029}', "\\u2029")
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(json_marshal).collect::<Vec<_>>().join(",")
        ),
        Value::Object(m) => {
            let mut entries: Vec<_> = m.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            let fields: Vec<String> = entries
                .into_iter()
                .map(|(k, x)| {
                    format!(
                        "{}:{}",
                        json_marshal(&Value::String(k.clone())),
                        json_marshal(x)
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        v => v.to_string(),
    }
}
