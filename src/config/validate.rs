//! The rules a config must satisfy before footrest saves or runs it; every problem is named
//! with where it is (repo, plan, field).

use super::*;
use crate::config::hook::{Hook, Hooks};

/// The checks of a hook's action that need its sender (URLs it can reach, service URLs it
/// understands, templates): the hooks module gives them (`hooks::action_problems`) to the
/// config store, so that config does not depend on the senders.
pub type HookCheck = fn(&Hook) -> Vec<String>;

/// Adds the problems of one owner's hooks: unknown conditions or policies, a missing or doubled
/// action (their shape), then what `check` finds.
fn hook_problems(owner: &str, hooks: &Hooks, check: Option<HookCheck>, problems: &mut Vec<String>) {
    for (i, parsed) in hooks.parsed().enumerate() {
        let what = format!("{owner}: hooks[{i}]");
        match parsed {
            Ok(h) => {
                if h.conditions.is_empty() {
                    problems.push(format!("{what}: no conditions: the hook would never run"));
                }
                for p in check.map(|c| c(h)).unwrap_or_default() {
                    problems.push(format!("{what}: {p}"));
                }
            }
            Err(e) => problems.push(format!("{what}: {e}")),
        }
    }
}

pub(super) const ID_RULE: &str = "must contain only letters, digits, '_', '-' and '.'";

pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

pub(super) fn check_id(what: &str, id: &str, problems: &mut Vec<String>) {
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

impl Config {
    /// Every problem with this config, or Ok. Messages name the offending item.
    /// The config's own rules, hooks checked for their shape only; the store adds the checks
    /// of hook actions (`ConfigStore::validate`), which is what loading and saving apply.
    pub fn validate(&self) -> Result<(), ValidationError> {
        self.validate_with(None)
    }

    /// `validate`, with `hook_check` run on every hook whose shape is right.
    pub fn validate_with(&self, hook_check: Option<HookCheck>) -> Result<(), ValidationError> {
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
        for repo in &self.repos {
            hook_problems(
                &format!("repo \"{}\"", repo.id),
                &repo.hooks,
                hook_check,
                &mut problems,
            );
        }
        for plan in &self.plans {
            hook_problems(
                &format!("plan \"{}\"", plan.id),
                &plan.hooks,
                hook_check,
                &mut problems,
            );
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ValidationError(problems))
        }
    }
}

impl Schedule {
    pub(super) fn validate(&self, what: &str, problems: &mut Vec<String>) {
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
