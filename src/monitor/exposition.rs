//! Prometheus's text format: metric families with their help and type lines, label escaping,
//! and the process figures (resident memory).

use super::*;

/// A text exposition being written. `family` and `sample` prefix `backrest_`; label names are
/// given sorted (as Prometheus' Go client writes them), empty ids become `_unassociated_`.
#[derive(Default)]
pub(super) struct Exposition {
    pub(super) out: String,
}

impl Exposition {
    pub(super) fn family(&mut self, name: &str, kind: &str, help: &str) {
        self.raw_family(&format!("backrest_{name}"), kind, help);
    }

    pub(super) fn sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: &dyn std::fmt::Display,
    ) {
        let labels: Vec<(&str, &str)> = labels
            .iter()
            .map(|&(k, v)| match k {
                "repo_id" | "plan_id" => (k, or_unassociated(v)),
                _ => (k, v),
            })
            .collect();
        self.raw_sample(&format!("backrest_{name}"), &labels, value);
    }

    pub(super) fn raw_family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    pub(super) fn raw_sample(
        &mut self,
        name: &str,
        labels: &[(&str, &str)],
        value: &dyn std::fmt::Display,
    ) {
        self.out.push_str(name);
        for (i, (k, v)) in labels.iter().enumerate() {
            self.out.push(if i == 0 { '{' } else { ',' });
            let _ = write!(self.out, "{k}=\"{}\"", escape(v));
        }
        if !labels.is_empty() {
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

pub(super) fn or_unassociated(id: &str) -> &str {
    if id.is_empty() { "_unassociated_" } else { id }
}

/// A label value as the text format writes it: backslash, quote and newline escaped.
pub(super) fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

pub(super) fn secs(ms: i64) -> String {
    format!("{}", ms as f64 / 1000.0)
}

/// This process's resident set, from /proc (0 where there is none).
pub(super) fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}
