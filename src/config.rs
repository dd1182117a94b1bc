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

pub mod hook;
mod store;
mod validate;

use hook::Hooks;
pub use store::{
    ConfigError, ConfigStore, SharedConfig, UpdateError, default_config, sanitize_instance,
};
pub use validate::{HookCheck, ValidationError, valid_id};

pub const CURRENT_VERSION: i32 = 6;

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
    /// Kept as written, and parsed once (`hook::Hooks`); the hooks module fires them.
    #[serde(skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
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
    #[serde(skip_serializing_if = "Hooks::is_empty")]
    pub hooks: Hooks,
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
}

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

#[cfg(test)]
mod tests;
