//! `footrest hook test <plan|repo> <id> <index>`: fires one hook of the config with sample
//! variables and prints what it did, so users can check a webhook URL or a template.

use super::Settings;
use super::run::{execute_sample, sample_event};
use crate::config::ConfigStore;
use crate::config::hook::Condition;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

pub const USAGE: &str = "\
Usage: footrest hook test <plan|repo> <id> <index> [OPTIONS]

Fires hook number <index> (from 0) of the plan or repo <id> once, with sample variables, and
prints what it sent or ran. Nothing is recorded in the history.

Options:
  --config-file PATH   the config.json [env BACKREST_CONFIG,
                       default $XDG_CONFIG_HOME/footrest/config.json]
  --condition NAME     the event to simulate, e.g. CONDITION_SNAPSHOT_ERROR
                       [default: the hook's first condition]
  -h, --help           print this help
";

/// Runs the `hook` subcommand with the arguments after `hook`.
pub fn main(args: Vec<OsString>) -> ExitCode {
    match parse(args) {
        Ok(None) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Some(t)) => test(&t),
        Err(e) => {
            eprintln!("footrest hook: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

struct TestArgs {
    owner: Owner,
    id: String,
    index: usize,
    config_file: PathBuf,
    condition: Option<Condition>,
}

#[derive(Clone, Copy, PartialEq)]
enum Owner {
    Plan,
    Repo,
}

fn parse(args: Vec<OsString>) -> Result<Option<TestArgs>, String> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut positional = Vec::new();
    let mut config_file = None;
    let mut condition = None;
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("config-file") => {
                config_file = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?))
            }
            Long("condition") => {
                let v = p.value().map_err(|e| e.to_string())?;
                let name = v.to_string_lossy().to_string();
                let full = if name.starts_with("CONDITION_") {
                    name.clone()
                } else {
                    format!("CONDITION_{}", name.to_ascii_uppercase())
                };
                condition = Some(
                    Condition::from_json(&serde_json::Value::String(full))
                        .ok_or_else(|| format!("unknown condition {name:?}"))?,
                );
            }
            Value(v) => positional.push(v.to_string_lossy().into_owned()),
            other => return Err(other.unexpected().to_string()),
        }
    }
    let [verb, owner, id, index] = positional.as_slice() else {
        return Err("expected: test <plan|repo> <id> <index>".into());
    };
    if verb != "test" {
        return Err(format!("unknown hook command {verb:?}"));
    }
    let owner = match owner.as_str() {
        "plan" => Owner::Plan,
        "repo" => Owner::Repo,
        o => return Err(format!("expected plan or repo, not {o:?}")),
    };
    let index = index
        .parse()
        .map_err(|_| format!("the hook index {index:?} is not a number"))?;
    Ok(Some(TestArgs {
        owner,
        id: id.clone(),
        index,
        config_file: config_file.unwrap_or_else(default_config_file),
        condition,
    }))
}

/// docs/COMPATIBILITY.md §5: `BACKREST_CONFIG`, else `$XDG_CONFIG_HOME/footrest/config.json`, else
/// `~/.config/footrest/config.json`.
fn default_config_file() -> PathBuf {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    env("BACKREST_CONFIG")
        .map(PathBuf::from)
        .or_else(|| env("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("footrest/config.json")))
        .unwrap_or_else(|| {
            env("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".config/footrest/config.json")
        })
}

fn test(t: &TestArgs) -> ExitCode {
    let config = match ConfigStore::new(t.config_file.clone())
        .with_hook_check(super::action_problems)
        .load()
    {
        Ok(c) => c,
        Err(e) => {
            eprintln!("footrest hook: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (repo, plan, hooks) = match t.owner {
        Owner::Plan => {
            let Some(plan) = config.plan(&t.id) else {
                eprintln!("footrest hook: plan \"{}\" not found", t.id);
                return ExitCode::FAILURE;
            };
            (config.repo(&plan.repo), Some(plan), &plan.hooks)
        }
        Owner::Repo => {
            let Some(repo) = config.repo(&t.id) else {
                eprintln!("footrest hook: repo \"{}\" not found", t.id);
                return ExitCode::FAILURE;
            };
            let plan = config.plans.iter().find(|p| p.repo == repo.id);
            (Some(repo), plan, &repo.hooks)
        }
    };
    let owner = if t.owner == Owner::Plan {
        "plan"
    } else {
        "repo"
    };
    let Some(parsed) = hooks.parsed().nth(t.index) else {
        eprintln!(
            "footrest hook: {owner} \"{}\" has {} hook(s); there is no hook {}",
            t.id,
            hooks.len(),
            t.index
        );
        return ExitCode::FAILURE;
    };
    let hook = match parsed {
        Ok(h) => h.clone(),
        Err(e) => {
            eprintln!("footrest hook: {owner}/{}/hook/{}: {e}", t.id, t.index);
            return ExitCode::FAILURE;
        }
    };
    let event = sample_event(&hook, t.condition);
    let name = format!(
        "{} hook {owner}/{}/hook/{}",
        hook.action.kind(),
        t.id,
        t.index
    );
    println!("{name}: firing on {event} with sample variables");
    let mut out = std::io::stdout();
    match execute_sample(&hook, event, repo, plan, &Settings::from_env(), &mut out) {
        Ok(_) => {
            println!("{name}: ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{name}: failed: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn arguments_parse() {
        let t = parse(args(&[
            "test",
            "repo",
            "r1",
            "2",
            "--config-file",
            "/c.json",
            "--condition",
            "prune_error",
        ]))
        .unwrap()
        .unwrap();
        assert!(t.owner == Owner::Repo && t.id == "r1" && t.index == 2);
        assert_eq!(t.config_file, PathBuf::from("/c.json"));
        assert_eq!(t.condition, Some(Condition::PruneError));
        assert!(parse(args(&["--help"])).unwrap().is_none());
        assert!(parse(args(&["test", "plan", "p"])).is_err());
        assert!(parse(args(&["test", "host", "p", "0"])).is_err());
        assert!(parse(args(&["test", "plan", "p", "x"])).is_err());
        assert!(parse(args(&["test", "plan", "p", "0", "--condition", "NOPE"])).is_err());
    }
}
