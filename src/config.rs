//! The configuration: Backrest's `Config` message, its validation, and its file on disk.
//!
//! A Backrest config.json is read as is. Sections footrest does not act on (`sync`, fields of
//! newer Backrest versions) are kept in `extra` maps and written back unchanged. The file is
//! written atomically (temp file, fsync, rename, fsync dir), mode 0600, after copying the
//! previous file to `config.json.bak.<timestamp>` the same way (newest 10 complete ones kept).
//!
//! Owned by the API handlers (behind a mutex in `api::State`); the orchestrator reads snapshots.

use crate::proto::{i32n, i64s, is_default, opt_i32n};
use crate::proto_enum;
use crate::schedule;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

pub const CURRENT_VERSION: i32 = 6;
const BACKUPS_KEPT: usize = 10;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Config {
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub modno: i32,
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub version: i32,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub instance: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub repos: Vec<Repo>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plans: Vec<Plan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    /// `sync`, and anything else footrest does not act on: kept as it was.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Repo {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub uri: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub guid: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub password: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub flags: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "prune_policy")]
    pub prune_policy: Option<PrunePolicy>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "check_policy")]
    pub check_policy: Option<CheckPolicy>,
    /// Hooks are kept as written; the hooks module interprets them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Value>,
    #[serde(skip_serializing_if = "is_default", alias = "auto_unlock")]
    pub auto_unlock: bool,
    #[serde(skip_serializing_if = "is_default", alias = "auto_initialize")]
    pub auto_initialize: bool,
    #[serde(skip_serializing_if = "Option::is_none", alias = "command_prefix")]
    pub command_prefix: Option<CommandPrefix>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "forget_policy")]
    pub forget_policy: Option<ForgetPolicy>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Plan {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub repo: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub paths: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub excludes: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub iexcludes: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPolicy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<Value>,
    #[serde(
        rename = "backup_flags",
        alias = "backupFlags",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub backup_flags: Vec<String>,
    #[serde(skip_serializing_if = "is_default", alias = "skip_if_unchanged")]
    pub skip_if_unchanged: bool,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

proto_enum!(
    /// Schedule.Clock.
    Clock {
        Default = 0 => "CLOCK_DEFAULT",
        Local = 1 => "CLOCK_LOCAL",
        Utc = 2 => "CLOCK_UTC",
        LastRunTime = 3 => "CLOCK_LAST_RUN_TIME",
    }
);

/// Schedule: oneof `disabled | cron | maxFrequencyDays | maxFrequencyHours`, and a clock.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Schedule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(
        with = "opt_i32n",
        skip_serializing_if = "Option::is_none",
        alias = "max_frequency_days"
    )]
    pub max_frequency_days: Option<i32>,
    #[serde(
        with = "opt_i32n",
        skip_serializing_if = "Option::is_none",
        alias = "max_frequency_hours"
    )]
    pub max_frequency_hours: Option<i32>,
    #[serde(skip_serializing_if = "is_default")]
    pub clock: Clock,
}

impl Schedule {
    /// True when the schedule never fires (unset, or `disabled`).
    pub fn is_disabled(&self) -> bool {
        self.disabled == Some(true)
            || (self.cron.is_none()
                && self.max_frequency_days.is_none()
                && self.max_frequency_hours.is_none())
    }

    /// The schedule and clock the scheduler evaluates.
    pub fn parse(&self) -> Result<(schedule::Schedule, schedule::Clock), schedule::ScheduleError> {
        let spec = if self.disabled == Some(true) {
            schedule::ScheduleSpec::Disabled
        } else if let Some(c) = &self.cron {
            schedule::ScheduleSpec::Cron(c)
        } else if let Some(d) = self.max_frequency_days {
            schedule::ScheduleSpec::MaxFrequencyDays(d.into())
        } else if let Some(h) = self.max_frequency_hours {
            schedule::ScheduleSpec::MaxFrequencyHours(h.into())
        } else {
            schedule::ScheduleSpec::Disabled
        };
        let clock = match self.clock {
            Clock::Default | Clock::Local => schedule::Clock::Local,
            Clock::Utc => schedule::Clock::Utc,
            Clock::LastRunTime => schedule::Clock::LastRunTime,
        };
        Ok((schedule::Schedule::parse(spec)?, clock))
    }

    /// What config validation says is wrong with this schedule, each message prefixed `what`.
    pub fn problems(&self, what: &str) -> Vec<String> {
        let mut out = Vec::new();
        self.validate(what, &mut out);
        out
    }

    fn validate(&self, what: &str, problems: &mut Vec<String>) {
        let set = [
            self.disabled.is_some(),
            self.cron.is_some(),
            self.max_frequency_days.is_some(),
            self.max_frequency_hours.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set > 1 {
            problems.push(format!(
                "{what}: only one of disabled, cron, maxFrequencyDays, maxFrequencyHours may be set"
            ));
        }
        if set <= 1
            && let Err(e) = self.parse()
        {
            // The schedule module's messages start with "schedule: ".
            let e = e.to_string();
            problems.push(format!(
                "{what}: {}",
                e.strip_prefix("schedule: ").unwrap_or(&e)
            ));
        }
    }
}

/// RetentionPolicy: oneof `policyKeepLastN | policyTimeBucketed | policyKeepAll`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct RetentionPolicy {
    #[serde(
        with = "opt_i32n",
        skip_serializing_if = "Option::is_none",
        alias = "policy_keep_last_n"
    )]
    pub policy_keep_last_n: Option<i32>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        alias = "policy_time_bucketed"
    )]
    pub policy_time_bucketed: Option<TimeBucketedCounts>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "policy_keep_all")]
    pub policy_keep_all: Option<bool>,
}

impl RetentionPolicy {
    /// restic forget's `--keep-*` flags; None when nothing is to be forgotten (keep all/unset).
    /// How many of the newest snapshots the policy keeps whatever their times: a forget over
    /// this many or fewer removes nothing (every rule keeps at least the newest snapshot).
    pub fn always_kept(&self) -> usize {
        let last = self
            .policy_keep_last_n
            .or_else(|| self.policy_time_bucketed.as_ref().map(|b| b.keep_last_n))
            .unwrap_or(0);
        usize::try_from(last).unwrap_or(0).max(1)
    }

    pub fn forget_flags(&self) -> Option<Vec<String>> {
        if self.policy_keep_all == Some(true) {
            return None;
        }
        if let Some(n) = self.policy_keep_last_n {
            return Some(vec!["--keep-last".into(), n.to_string()]);
        }
        let b = self.policy_time_bucketed.as_ref()?;
        let mut flags = Vec::new();
        for (flag, n) in [
            ("--keep-last", b.keep_last_n),
            ("--keep-hourly", b.hourly),
            ("--keep-daily", b.daily),
            ("--keep-weekly", b.weekly),
            ("--keep-monthly", b.monthly),
            ("--keep-yearly", b.yearly),
        ] {
            if n != 0 {
                flags.push(flag.to_string());
                flags.push(n.to_string());
            }
        }
        (!flags.is_empty()).then_some(flags)
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TimeBucketedCounts {
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub hourly: i32,
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub daily: i32,
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub weekly: i32,
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub monthly: i32,
    #[serde(with = "i32n", skip_serializing_if = "is_default")]
    pub yearly: i32,
    #[serde(
        with = "i32n",
        skip_serializing_if = "is_default",
        alias = "keep_last_n"
    )]
    pub keep_last_n: i32,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PrunePolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(
        with = "i64s",
        skip_serializing_if = "is_default",
        alias = "max_unused_bytes"
    )]
    pub max_unused_bytes: i64,
    #[serde(
        with = "crate::proto::f64n",
        skip_serializing_if = "is_default",
        alias = "max_unused_percent"
    )]
    pub max_unused_percent: f64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CheckPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(skip_serializing_if = "Option::is_none", alias = "structure_only")]
    pub structure_only: Option<bool>,
    #[serde(
        with = "crate::proto::opt_f64n",
        skip_serializing_if = "Option::is_none",
        alias = "read_data_subset_percent"
    )]
    pub read_data_subset_percent: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ForgetPolicy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention: Option<RetentionPolicy>,
}

proto_enum!(
    /// CommandPrefix.IONiceLevel.
    IoNice {
        Default = 0 => "IO_DEFAULT",
        BestEffortLow = 1 => "IO_BEST_EFFORT_LOW",
        BestEffortHigh = 2 => "IO_BEST_EFFORT_HIGH",
        Idle = 3 => "IO_IDLE",
    }
);

proto_enum!(
    /// CommandPrefix.CPUNiceLevel.
    CpuNice {
        Default = 0 => "CPU_DEFAULT",
        High = 1 => "CPU_HIGH",
        Low = 2 => "CPU_LOW",
    }
);

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CommandPrefix {
    #[serde(skip_serializing_if = "is_default", alias = "io_nice")]
    pub io_nice: IoNice,
    #[serde(skip_serializing_if = "is_default", alias = "cpu_nice")]
    pub cpu_nice: CpuNice,
}

impl CommandPrefix {
    /// The argv prefix: nice before ionice (docs/COMPATIBILITY.md §6).
    pub fn argv(&self) -> Vec<String> {
        let mut out: Vec<&str> = Vec::new();
        match self.cpu_nice {
            CpuNice::Default => {}
            CpuNice::High => out.extend(["nice", "-n", "-10"]),
            CpuNice::Low => out.extend(["nice", "-n", "10"]),
        }
        match self.io_nice {
            IoNice::Default => {}
            IoNice::Idle => out.extend(["ionice", "-c", "3"]),
            IoNice::BestEffortLow => out.extend(["ionice", "-c", "2", "-n", "7"]),
            IoNice::BestEffortHigh => out.extend(["ionice", "-c", "2", "-n", "0"]),
        }
        out.into_iter().map(String::from).collect()
    }
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Auth {
    #[serde(skip_serializing_if = "is_default")]
    pub disabled: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<User>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct User {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty", alias = "password_bcrypt")]
    pub password_bcrypt: String,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// What GetConfig shows instead of a password hash.
pub const SANITIZED: &str = "********";

impl Config {
    pub fn repo(&self, id: &str) -> Option<&Repo> {
        self.repos.iter().find(|r| r.id == id)
    }

    pub fn plan(&self, id: &str) -> Option<&Plan> {
        self.plans.iter().find(|p| p.id == id)
    }

    /// A copy safe to send to a client: password hashes replaced by `********`.
    pub fn sanitized(&self) -> Config {
        let mut c = self.clone();
        if let Some(auth) = &mut c.auth {
            for u in &mut auth.users {
                if !u.password_bcrypt.is_empty() {
                    u.password_bcrypt = SANITIZED.into();
                }
            }
        }
        // The instance's key pair: as Backrest, only its id is shown (never the private key).
        if let Some(id) = c
            .extra
            .get_mut("sync")
            .and_then(Value::as_object_mut)
            .and_then(|sync| sync.get_mut("identity"))
            .and_then(Value::as_object_mut)
        {
            id.retain(|k, _| k == "keyId" || k == "key_id");
        }
        c
    }

    /// What an API key below `admin` sees of the config (after `sanitized`): repo passwords,
    /// the password in a repo URI's user info and the values of repo environment variables
    /// masked; restic flags (they may carry `--password-command` and the like), hooks (their URLs
    /// and commands carry tokens) and the `sync` section left out. The shape stays a valid
    /// Config.
    pub fn without_secrets(mut self) -> Config {
        for r in &mut self.repos {
            if !r.password.is_empty() {
                r.password = SANITIZED.into();
            }
            r.uri = mask_userinfo(&r.uri);
            r.flags.clear();
            for e in &mut r.env {
                if let Some((name, _)) = e.split_once('=') {
                    *e = format!("{name}={SANITIZED}");
                }
            }
            r.hooks.clear();
        }
        for p in &mut self.plans {
            p.hooks.clear();
            p.backup_flags.clear();
        }
        self.extra.remove("sync");
        self
    }

    /// Puts stored hashes back for users whose hash arrives as `********` (SetConfig).
    ///
    /// Puts the stored `sync.identity` back too (GetConfig shows only its `keyId`): fields that
    /// arrive are laid over the stored ones, and a SetConfig that omits the identity keeps it,
    /// so a client never loses the instance's private key by writing back what it read.
    pub fn restore_sanitized(&mut self, stored: &Config) {
        if let Some(Value::Object(kept)) = stored.extra.get("sync").and_then(|s| s.get("identity"))
        {
            let sync = self
                .extra
                .entry("sync")
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(sync) = sync {
                let mut identity = kept.clone();
                if let Some(Value::Object(sent)) = sync.get("identity") {
                    for (k, v) in sent {
                        identity.insert(k.clone(), v.clone());
                    }
                }
                sync.insert("identity".into(), Value::Object(identity));
            }
        }
        let Some(auth) = &mut self.auth else { return };
        for u in &mut auth.users {
            if u.password_bcrypt == SANITIZED {
                u.password_bcrypt = stored
                    .auth
                    .as_ref()
                    .and_then(|a| a.users.iter().find(|s| s.name == u.name))
                    .map(|s| s.password_bcrypt.clone())
                    .unwrap_or_default();
            }
        }
    }

    /// Every problem with this config, or Ok. Messages name the offending item.
    pub fn validate(&self) -> Result<(), ValidationError> {
        let mut problems = Vec::new();
        if self.instance.chars().count() > 50 {
            problems.push("instance: must be at most 50 characters".to_string());
        }
        if !self.instance.is_empty() && !valid_id(&self.instance) {
            problems.push(format!("instance \"{}\": {}", self.instance, ID_RULE));
        }
        let mut seen = std::collections::HashSet::new();
        for (i, repo) in self.repos.iter().enumerate() {
            let what = if repo.id.is_empty() {
                format!("repos[{i}]")
            } else {
                format!("repo \"{}\"", repo.id)
            };
            check_id(&what, &repo.id, &mut problems);
            if !repo.id.is_empty() && !seen.insert(repo.id.as_str()) {
                problems.push(format!("{what}: duplicate id"));
            }
            if repo.uri.trim().is_empty() {
                problems.push(format!("{what}: uri is required"));
            }
            if repo.guid.is_empty() {
                if !repo.auto_initialize {
                    problems.push(format!(
                        "{what}: guid is required (add the repo with AddRepo, or set autoInitialize)"
                    ));
                }
            } else if repo.guid.len() != 64 || !repo.guid.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(format!("{what}: guid must be 64 hex characters"));
            }
            for e in &repo.env {
                if !e.contains('=') || e.starts_with('=') {
                    problems.push(format!(
                        "{what}: env entry \"{}\" must have the form KEY=VALUE",
                        e.split('=').next().unwrap_or_default()
                    ));
                }
            }
            for f in &repo.flags {
                if crate::words::split_words(f).is_err() {
                    problems.push(format!("{what}: flag {f:?} has an unterminated quote"));
                }
            }
            if let Some(p) = &repo.prune_policy {
                if let Some(s) = &p.schedule {
                    s.validate(&format!("{what}: prunePolicy.schedule"), &mut problems);
                }
                if !(0.0..=100.0).contains(&p.max_unused_percent) {
                    problems.push(format!(
                        "{what}: prunePolicy.maxUnusedPercent must be between 0 and 100"
                    ));
                }
                if p.max_unused_bytes < 0 {
                    problems.push(format!(
                        "{what}: prunePolicy.maxUnusedBytes must not be negative"
                    ));
                }
            }
            if let Some(c) = &repo.check_policy {
                if let Some(s) = &c.schedule {
                    s.validate(&format!("{what}: checkPolicy.schedule"), &mut problems);
                }
                if let Some(p) = c.read_data_subset_percent
                    && !(0.0..=100.0).contains(&p)
                {
                    problems.push(format!(
                        "{what}: checkPolicy.readDataSubsetPercent must be between 0 and 100"
                    ));
                }
            }
            if let Some(f) = &repo.forget_policy {
                if let Some(s) = &f.schedule {
                    s.validate(&format!("{what}: forgetPolicy.schedule"), &mut problems);
                }
                if let Some(r) = &f.retention {
                    r.validate(&format!("{what}: forgetPolicy.retention"), &mut problems);
                }
            }
        }
        let mut seen = std::collections::HashSet::new();
        for (i, plan) in self.plans.iter().enumerate() {
            let what = if plan.id.is_empty() {
                format!("plans[{i}]")
            } else {
                format!("plan \"{}\"", plan.id)
            };
            check_id(&what, &plan.id, &mut problems);
            if !plan.id.is_empty() && !seen.insert(plan.id.as_str()) {
                problems.push(format!("{what}: duplicate id"));
            }
            if plan.repo.is_empty() {
                problems.push(format!("{what}: repo is required"));
            } else if self.repo(&plan.repo).is_none() {
                problems.push(format!("{what}: repo \"{}\" not found", plan.repo));
            }
            let has_path = plan.paths.iter().any(|p| !p.trim().is_empty());
            if !has_path && plan.backup_flags.is_empty() {
                problems.push(format!("{what}: at least one path is required"));
            }
            for flag in &plan.backup_flags {
                if crate::words::split_words(flag).is_err() {
                    problems.push(format!(
                        "{what}: backup flag {flag:?} has an unterminated quote"
                    ));
                }
            }
            if let Some(s) = &plan.schedule {
                s.validate(&format!("{what}: schedule"), &mut problems);
            }
            if let Some(r) = &plan.retention {
                r.validate(&format!("{what}: retention"), &mut problems);
            }
        }
        if let Some(auth) = &self.auth {
            if !auth.disabled && auth.users.is_empty() {
                problems.push(
                    "auth: at least one user is required unless auth is disabled".to_string(),
                );
            }
            let mut seen = std::collections::HashSet::new();
            for u in &auth.users {
                if u.name.is_empty() {
                    problems.push("auth: a user has no name".to_string());
                } else if !seen.insert(u.name.as_str()) {
                    problems.push(format!("auth: duplicate user \"{}\"", u.name));
                }
                if u.password_bcrypt.is_empty() {
                    problems.push(format!("auth: user \"{}\" has no password", u.name));
                }
            }
        }
        crate::hooks::validate_config(self, &mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(problems))
        }
    }
}

impl RetentionPolicy {
    fn validate(&self, what: &str, problems: &mut Vec<String>) {
        let set = [
            self.policy_keep_last_n.is_some(),
            self.policy_time_bucketed.is_some(),
            self.policy_keep_all.is_some(),
        ]
        .iter()
        .filter(|s| **s)
        .count();
        if set > 1 {
            problems.push(format!(
                "{what}: only one of policyKeepLastN, policyTimeBucketed, policyKeepAll may be set"
            ));
        }
        if let Some(n) = self.policy_keep_last_n
            && n < 1
        {
            problems.push(format!("{what}: policyKeepLastN must be at least 1"));
        }
        if let Some(b) = &self.policy_time_bucketed {
            let all = [
                b.hourly,
                b.daily,
                b.weekly,
                b.monthly,
                b.yearly,
                b.keep_last_n,
            ];
            if all.iter().all(|n| *n == 0) {
                problems.push(format!(
                    "{what}: policyTimeBucketed must keep at least one bucket"
                ));
            }
            if all.iter().any(|n| *n < 0) {
                problems.push(format!(
                    "{what}: policyTimeBucketed counts must not be negative"
                ));
            }
        }
    }
}

const ID_RULE: &str = "must contain only letters, digits, '_', '-' and '.'";

/// Ids as Backrest documents them: `^[a-zA-Z0-9_\-\.]+$`.
/// A repo URI with the password of its user info (`rest:https://user:pass@host/`) masked.
fn mask_userinfo(uri: &str) -> String {
    let Some(scheme_end) = uri.find("://") else {
        return uri.to_string();
    };
    let rest = &uri[scheme_end + 3..];
    let host_end = rest.find('/').unwrap_or(rest.len());
    match rest[..host_end].rfind('@') {
        Some(at) => {
            let user = rest[..at].split(':').next().unwrap_or("");
            format!(
                "{}{user}:{SANITIZED}{}",
                &uri[..scheme_end + 3],
                &rest[at..]
            )
        }
        None => uri.to_string(),
    }
}

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

fn check_id(what: &str, id: &str, problems: &mut Vec<String>) {
    if id.is_empty() {
        problems.push(format!("{what}: id is required"));
    } else if !valid_id(id) {
        problems.push(format!("{what}: id {ID_RULE}"));
    } else if id.len() >= 2 && id.starts_with('_') && id.ends_with('_') {
        problems.push(format!("{what}: ids of the form _name_ are reserved"));
    }
}

/// Every problem found by `Config::validate`.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError(pub Vec<String>);

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "invalid config: {}", self.0.join("; "))
    }
}

/// Errors reading or writing the config file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    Read(PathBuf, std::io::Error),
    Parse(PathBuf, serde_json::Error),
    Invalid(PathBuf, ValidationError),
    Write(PathBuf, std::io::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Read(p, e) => write!(f, "reading config {}: {e}", p.display()),
            Self::Parse(p, e) => write!(f, "config {} is not valid JSON: {e}", p.display()),
            Self::Invalid(p, e) => write!(f, "config {}: {e}", p.display()),
            Self::Write(p, e) => write!(f, "writing config {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// The config file and the config it holds.
pub struct ConfigStore {
    path: PathBuf,
}

impl ConfigStore {
    pub fn new(path: PathBuf) -> Self {
        Self { path }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the config; a missing file gives the first-run default (auth disabled, instance =
    /// the sanitized host name), without writing anything.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(default_config()),
            Err(e) => return Err(ConfigError::Read(self.path.clone(), e)),
        };
        let mut config: Config =
            serde_json::from_slice(&bytes).map_err(|e| ConfigError::Parse(self.path.clone(), e))?;
        if config.version == 0 {
            config.version = CURRENT_VERSION;
        }
        config
            .validate()
            .map_err(|e| ConfigError::Invalid(self.path.clone(), e))?;
        Ok(config)
    }

    /// Writes `config` atomically, keeping the previous file as a timestamped backup.
    ///
    /// The backup is itself written atomically, mode 0600 whatever the mode of the file it
    /// copies, so a full disk never leaves an incomplete one. When the new config cannot be
    /// written, the backup just made (a copy of the file that stays) is removed again, and
    /// rotation runs only after a successful save: failed saves never push good backups out.
    pub fn save(&self, config: &Config) -> Result<(), ConfigError> {
        let err = |e| ConfigError::Write(self.path.clone(), e);
        let mut body =
            serde_json::to_vec_pretty(config).map_err(|e| err(std::io::Error::other(e)))?;
        body.push(b'\n');
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(err)?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into());
        let backup = match fs::read(&self.path) {
            Ok(previous) => {
                // Two saves in one millisecond keep two backups.
                let mut stamp = crate::util::now_ms();
                let mut bak = dir.join(format!("{name}.bak.{stamp}"));
                while bak.exists() {
                    stamp += 1;
                    bak = dir.join(format!("{name}.bak.{stamp}"));
                }
                crate::util::write_atomic(&dir, &bak, &previous).map_err(err)?;
                Some(bak)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(e)),
        };
        if let Err(e) = crate::util::write_atomic(&dir, &self.path, &body) {
            if let Some(bak) = backup {
                let _ = fs::remove_file(bak);
            }
            return Err(err(e));
        }
        self.rotate_backups(&dir, &name);
        Ok(())
    }

    /// Keeps the newest [`BACKUPS_KEPT`] complete backups. A backup that does not parse as JSON
    /// (a 0-byte file left by an older version on a full disk) is removed and not counted.
    fn rotate_backups(&self, dir: &Path, name: &str) {
        let prefix = format!("{name}.bak.");
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut baks: Vec<(u64, PathBuf)> = Vec::new();
        for e in entries.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            let Some(stamp) = n.strip_prefix(&prefix).and_then(|s| s.parse().ok()) else {
                continue;
            };
            let complete = fs::read(e.path())
                .ok()
                .is_some_and(|b| serde_json::from_slice::<Value>(&b).is_ok());
            if complete {
                baks.push((stamp, e.path()));
            } else {
                log::warn!("removing incomplete config backup {}", e.path().display());
                let _ = fs::remove_file(e.path());
            }
        }
        baks.sort();
        let excess = baks.len().saturating_sub(BACKUPS_KEPT);
        for (_, p) in baks.into_iter().take(excess) {
            let _ = fs::remove_file(p);
        }
    }
}

/// First-run config: auth disabled, instance from the host name.
pub fn default_config() -> Config {
    Config {
        version: CURRENT_VERSION,
        instance: sanitize_instance(&crate::util::hostname()),
        auth: Some(Auth {
            disabled: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Maps a host name onto the id charset (other characters become '-'), at most 50 characters.
pub fn sanitize_instance(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    if s.is_empty() { "footrest".into() } else { s }
}

/// Why a config change was not applied.
#[derive(Debug)]
pub enum UpdateError {
    Invalid(ValidationError),
    Write(ConfigError),
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::Write(e) => e.fmt(f),
        }
    }
}

/// The live config shared by every thread, and the file it is saved to. Changes go through
/// `update`, which validates, bumps `modno`, saves atomically and only then publishes, then
/// wakes the subscribers (the scheduler).
pub struct SharedConfig {
    store: ConfigStore,
    current: std::sync::Mutex<Config>,
    watchers: std::sync::Mutex<Vec<crossbeam_channel::Sender<()>>>,
}

impl SharedConfig {
    pub fn new(store: ConfigStore, config: Config) -> Self {
        Self {
            store,
            current: std::sync::Mutex::new(config),
            watchers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// A snapshot of the current config.
    pub fn get(&self) -> Config {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads part of the current config without copying all of it.
    pub fn read<T>(&self, f: impl FnOnce(&Config) -> T) -> T {
        f(&self.current.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// A channel that receives a message after each change (coalesced).
    pub fn subscribe(&self) -> crossbeam_channel::Receiver<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    /// Applies `change` to a copy; validates, bumps modno, saves, publishes. Nothing changes,
    /// in memory or on disk, unless every step succeeds.
    pub fn update<E: From<UpdateError>>(
        &self,
        change: impl FnOnce(&mut Config) -> Result<(), E>,
    ) -> Result<Config, E> {
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        change(&mut next)?;
        if next.version == 0 {
            next.version = CURRENT_VERSION;
        }
        next.validate()
            .map_err(|e| E::from(UpdateError::Invalid(e)))?;
        next.modno = guard.modno.wrapping_add(1);
        self.store
            .save(&next)
            .map_err(|e| E::from(UpdateError::Write(e)))?;
        *guard = next.clone();
        drop(guard);
        for w in self
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = w.try_send(());
        }
        Ok(next)
    }
}

#[cfg(test)]
mod tests;
