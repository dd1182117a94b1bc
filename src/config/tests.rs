//! Tests of `config`.

use super::*;

#[test]
fn a_restricted_view_masks_every_secret_and_stays_a_config() {
    let c: Config = serde_json::from_value(serde_json::json!({
        "instance": "i",
        "repos": [{"id": "r", "uri": "rest:https://u:hunter2@nas:8000/r", "password": "pw",
                   "env": ["AWS_SECRET_ACCESS_KEY=abc"], "flags": ["--password-command=cat /k"],
                   "hooks": [{"actionWebhook": {"webhookUrl": "https://x/token"}}]}],
        "plans": [{"id": "p", "repo": "r", "paths": ["/x"], "backupFlags": ["--password-file=/k"]}],
    }))
    .unwrap();
    let v = c.without_secrets();
    let text = serde_json::to_string(&v).unwrap();
    for secret in ["hunter2", "pw\"", "abc", "/k", "token"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
    assert_eq!(v.repos[0].uri, "rest:https://u:********@nas:8000/r");
    assert_eq!(v.repos[0].env, ["AWS_SECRET_ACCESS_KEY=********"]);
    assert_eq!(mask_userinfo("/srv/repo"), "/srv/repo");
    assert_eq!(mask_userinfo("sftp://host/x@y"), "sftp://host/x@y");
}

const FIXTURE: &str = include_str!("../../tests/fixtures/backrest-config.json");

#[test]
fn backrest_config_is_read_and_written_back_without_loss() {
    let config: Config = serde_json::from_str(FIXTURE).unwrap();
    assert_eq!(config.repos.len(), 2);
    assert_eq!(config.plans[0].backup_flags, vec!["--one-file-system"]);
    assert_eq!(
        config.repos[0].command_prefix.as_ref().unwrap().io_nice,
        IoNice::Idle
    );
    config.validate().unwrap();
    let mut original: Value = serde_json::from_str(FIXTURE).unwrap();
    // proto3 JSON omits default values, as Backrest itself does when it writes the file.
    original["auth"].as_object_mut().unwrap().remove("disabled");
    let written = serde_json::to_value(&config).unwrap();
    assert_eq!(
        written, original,
        "every field, known or not, survives a rewrite"
    );
}

#[test]
fn fractional_percentages_of_backrest_configs_load_and_round_trip() {
    let text = r#"{"instance":"x","version":6,"repos":[{"id":"r","uri":"/tmp/r","guid":"abababababababababababababababababababababababababababababababab",
        "prunePolicy":{"maxUnusedPercent":12.5},"checkPolicy":{"readDataSubsetPercent":"5.5"}}]}"#;
    let config: Config = serde_json::from_str(text).unwrap();
    config.validate().unwrap();
    let repo = &config.repos[0];
    assert_eq!(repo.prune_policy.as_ref().unwrap().max_unused_percent, 12.5);
    assert_eq!(
        repo.check_policy.as_ref().unwrap().read_data_subset_percent,
        Some(5.5)
    );
    let v = serde_json::to_value(&config).unwrap();
    assert_eq!(v["repos"][0]["prunePolicy"]["maxUnusedPercent"], 12.5);
    assert_eq!(v["repos"][0]["checkPolicy"]["readDataSubsetPercent"], 5.5);
    let whole: Config = serde_json::from_str(
        r#"{"instance":"x","repos":[{"id":"r","uri":"/tmp/r","prunePolicy":{"maxUnusedPercent":10}}]}"#,
    )
    .unwrap();
    let v = serde_json::to_value(&whole).unwrap();
    assert_eq!(
        v["repos"][0]["prunePolicy"]["maxUnusedPercent"],
        Value::from(10),
        "whole values stay integers"
    );
    let bad: Result<Config, _> = serde_json::from_str(
        r#"{"instance":"x","repos":[{"id":"r","uri":"/tmp/r","prunePolicy":{"maxUnusedPercent":"lots"}}]}"#,
    );
    assert!(
        bad.unwrap_err()
            .to_string()
            .contains("\"lots\" is not a number")
    );
}

#[test]
fn validation_lists_every_problem() {
    let config: Config = serde_json::from_str(
        r#"{"instance":"x","repos":[{"id":"bad id!","uri":""}],
            "plans":[{"id":"p","repo":"nope","paths":[]},{"id":"_sys_","repo":"nope","paths":["/"]}]}"#,
    )
    .unwrap();
    let err = config.validate().unwrap_err();
    let all = err.to_string();
    for needle in [
        "repo \"bad id!\": id must contain only",
        "uri is required",
        "guid is required",
        "plan \"p\": repo \"nope\" not found",
        "plan \"p\": at least one path is required",
        "plan \"_sys_\": ids of the form _name_ are reserved",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in {all}");
    }
}

#[test]
fn schedule_problems_name_the_schedule_and_the_field() {
    let config: Config = serde_json::from_str(
        r#"{"instance":"x","repos":[{"id":"r","uri":"/r","autoInitialize":true}],
            "plans":[{"id":"p","repo":"r","paths":["/"],"schedule":{"cron":"61 * * * *"}},
                     {"id":"q","repo":"r","paths":["/"],"schedule":{"maxFrequencyDays":0}},
                     {"id":"ok","repo":"r","paths":["/"],"schedule":{"cron":"*/15 1-5/2 1,15 jan-mar mon-fri","clock":"CLOCK_UTC"}}]}"#,
    )
    .unwrap();
    let all = config.validate().unwrap_err().to_string();
    assert!(
        all.contains("plan \"p\": schedule: cron: minute field: 61 is out of range 0-59"),
        "{all}"
    );
    assert!(
        all.contains("plan \"q\": schedule: maxFrequencyDays must be at least 1"),
        "{all}"
    );
    assert!(!all.contains("plan \"ok\""), "{all}");
}

#[test]
fn retention_maps_to_forget_flags() {
    let keep_last = RetentionPolicy {
        policy_keep_last_n: Some(3),
        ..Default::default()
    };
    assert_eq!(keep_last.forget_flags().unwrap(), ["--keep-last", "3"]);
    let buckets = RetentionPolicy {
        policy_time_bucketed: Some(TimeBucketedCounts {
            daily: 7,
            keep_last_n: 2,
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        buckets.forget_flags().unwrap(),
        ["--keep-last", "2", "--keep-daily", "7"]
    );
    let all = RetentionPolicy {
        policy_keep_all: Some(true),
        ..Default::default()
    };
    assert_eq!(all.forget_flags(), None);
}

#[test]
fn sanitized_config_hides_hashes_and_set_config_restores_them() {
    let stored: Config = serde_json::from_str(FIXTURE).unwrap();
    let mut shown = stored.sanitized();
    assert_eq!(
        shown.auth.as_ref().unwrap().users[0].password_bcrypt,
        SANITIZED
    );
    shown.restore_sanitized(&stored);
    assert_eq!(shown, stored);
}

#[test]
fn the_instance_private_key_is_never_shown_and_survives_a_set_config_without_it() {
    let text = r#"{"instance":"x","sync":{"identity":{"keyId":"k1","ed25519priv":"PRIV","ed25519pub":"PUB"}}}"#;
    let stored: Config = serde_json::from_str(text).unwrap();
    let shown = stored.sanitized();
    let v = serde_json::to_value(&shown).unwrap();
    assert_eq!(v["sync"]["identity"], serde_json::json!({"keyId": "k1"}));
    assert!(!serde_json::to_string(&shown).unwrap().contains("PRIV"));
    // Written back as read: the stored key pair returns.
    let mut back = shown.clone();
    back.restore_sanitized(&stored);
    assert_eq!(back, stored);
    // A SetConfig that leaves the identity (or all of sync) out keeps it.
    let mut without: Config = serde_json::from_str(r#"{"instance":"x"}"#).unwrap();
    without.restore_sanitized(&stored);
    let v = serde_json::to_value(&without).unwrap();
    assert_eq!(v["sync"]["identity"]["ed25519priv"], "PRIV");
    assert_eq!(v["sync"]["identity"]["ed25519pub"], "PUB");
}

#[test]
fn host_names_become_valid_instance_ids() {
    assert_eq!(sanitize_instance("my pi.local"), "my-pi.local");
    assert!(valid_id(&sanitize_instance("ünïcode host")));
}
