//! Config RPCs: reading a Backrest config, validation, atomic saves, repos.

use crate::common::*;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;

fn fixture() -> Value {
    serde_json::from_str(include_str!("../fixtures/backrest-config.json")).unwrap()
}

#[test]
fn first_run_serves_defaults_and_writes_nothing_until_a_change() {
    let d = Daemon::start();
    let c = d.ok("GetConfig", json!({}));
    assert_eq!(c["auth"]["disabled"], true);
    assert_eq!(c["version"], 6);
    let instance = c["instance"].as_str().unwrap();
    assert!(!instance.is_empty());
    assert!(
        instance
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
    );
    assert!(
        !d.config_path().exists(),
        "first run must not write a config"
    );

    let mut c2 = c.clone();
    c2["instance"] = json!("my-pi");
    let saved = d.ok("SetConfig", c2);
    assert_eq!(saved["instance"], "my-pi");
    assert_eq!(saved["modno"], 1);
    let meta = std::fs::metadata(d.config_path()).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

#[test]
fn a_backrest_config_is_served_sanitized_and_kept_on_rewrite() {
    let mut d = Daemon::start_with(Opts {
        config: Some(fixture()),
        ..Default::default()
    });
    // The fixture's user (tests/fixtures/README.md).
    d.auth = Some(basic_auth("admin", "footrest-demo"));
    let c = d.ok("GetConfig", json!({}));
    assert_eq!(c["instance"], "nas-pi");
    assert_eq!(c["auth"]["users"][0]["passwordBcrypt"], "********");
    assert_eq!(c["plans"][0]["backup_flags"][0], "--one-file-system");
    assert_eq!(
        c["repos"][0]["prunePolicy"]["schedule"]["clock"],
        "CLOCK_LAST_RUN_TIME"
    );

    // A client sends back what it got (sanitized); the stored hash and `sync` survive.
    let mut edited = c.clone();
    edited["plans"][1]["paths"] = json!(["/config", "/share"]);
    let saved = d.ok("SetConfig", edited);
    assert_eq!(saved["modno"], 8);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(d.config_path()).unwrap()).unwrap();
    assert_eq!(on_disk["sync"], fixture()["sync"]);
    assert_eq!(
        on_disk["auth"]["users"][0]["passwordBcrypt"],
        fixture()["auth"]["users"][0]["passwordBcrypt"]
    );
    assert_eq!(on_disk["plans"][1]["paths"], json!(["/config", "/share"]));
    let baks: Vec<_> = std::fs::read_dir(d.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("config.json.bak.")
        })
        .collect();
    assert_eq!(baks.len(), 1, "the previous file is kept as a backup");
}

/// Each bad request gets its code, and the config file stays byte-for-byte the same.
#[test]
fn bad_input_gets_the_right_code_and_leaves_the_config_file_unchanged() {
    let s = setup_with_plan(json!({}));
    let d = &s.d;
    let before = std::fs::read(d.config_path()).unwrap();
    let current = d.ok("GetConfig", json!({}));

    let raw = |body: &[u8], ct: &str| {
        d.request(
            "POST",
            "/v1.Backrest/SetConfig",
            &[("Content-Type", ct)],
            body,
        )
    };
    let r = raw(b"{\"instance\": ", "application/json");
    assert_eq!(
        (r.status, r.json()["code"].clone()),
        (400, json!("invalid_argument")),
        "invalid JSON"
    );
    let r = raw(b"", "application/json");
    assert_eq!(r.status, 400, "empty body");
    let r = raw(b"{}", "text/plain");
    assert_eq!(r.status, 415, "wrong content type");
    let r = d.request("GET", "/v1.Backrest/SetConfig", &[], b"");
    assert_eq!(r.status, 405, "GET");

    let mut wrong_type = current.clone();
    wrong_type["plans"] = json!("not a list");
    let (st, v) = d.rpc("SetConfig", wrong_type);
    assert_eq!(
        (st, v["code"].as_str().unwrap()),
        (400, "invalid_argument"),
        "{v}"
    );

    let mut wrong_type2 = current.clone();
    wrong_type2["modno"] = json!({"x": 1});
    assert_eq!(d.rpc("SetConfig", wrong_type2).0, 400);

    let mut stale = current.clone();
    stale["modno"] = json!(current["modno"].as_i64().unwrap() - 1);
    stale["instance"] = json!("changed");
    let (st, v) = d.rpc("SetConfig", stale);
    assert_eq!(st, 400);
    assert_eq!(v["code"], "failed_precondition");
    assert!(v["message"].as_str().unwrap().contains("modno mismatch"));

    let mut bad_ids = current.clone();
    bad_ids["plans"][0]["id"] = json!("has space");
    bad_ids["repos"][0]["id"] = json!("also/bad");
    let (st, v) = d.rpc("SetConfig", bad_ids);
    assert_eq!((st, v["code"].as_str().unwrap()), (400, "invalid_argument"));
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("\"has space\"") && msg.contains("\"also/bad\""),
        "every problem listed: {msg}"
    );

    let mut missing_repo = current.clone();
    missing_repo["plans"][0]["repo"] = json!("nope");
    let (st, v) = d.rpc("SetConfig", missing_repo);
    assert_eq!(st, 400);
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("repo \"nope\" not found"),
        "{v}"
    );

    let (st, v) = d.rpc("Backup", json!({"value": "no-such-plan"}));
    assert_eq!((st, v["code"].as_str().unwrap()), (404, "not_found"));
    assert!(v["message"].as_str().unwrap().contains("no-such-plan"));

    let (st, _) = d.rpc(
        "AddRepo",
        json!({"repo": {"id": "bad id", "uri": "/tmp/x"}}),
    );
    assert_eq!(st, 400);
    let (st, v) = d.rpc("RemoveRepo", json!({"value": "repo1"}));
    assert_eq!(
        (st, v["code"].as_str().unwrap()),
        (400, "failed_precondition"),
        "repo in use"
    );

    assert_eq!(
        std::fs::read(d.config_path()).unwrap(),
        before,
        "config file untouched"
    );
    assert_eq!(
        d.ok("GetConfig", json!({})),
        current,
        "config in memory untouched"
    );
}

#[test]
fn add_repo_initializes_a_new_repository_and_adopts_an_existing_one() {
    let work = TempDir::new("repos");
    let d = Daemon::start();
    let fresh = work.path().join("fresh");
    let c = add_repo(&d, "fresh", &fresh);
    let guid = c["repos"][0]["guid"].as_str().unwrap().to_string();
    assert_eq!(guid.len(), 64);
    assert!(fresh.join("config").exists(), "restic init ran");
    assert_eq!(c["repos"][0]["password"], PASSWORD);

    // An existing repository, made outside footrest, with a snapshot in it.
    let existing = work.path().join("existing");
    let out = restic(&existing, &["init"]);
    assert!(out.status.success());
    let src = work.path().join("src");
    make_source(&src);
    assert!(
        restic(&existing, &["backup", src.to_str().unwrap()])
            .status
            .success()
    );
    let cat = restic(&existing, &["cat", "config"]);
    let id = serde_json::from_slice::<Value>(&cat.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let c = add_repo(&d, "existing", &existing);
    assert_eq!(
        c["repos"][1]["guid"],
        id.as_str(),
        "guid is the repository's config id"
    );
    // Its snapshot is indexed into the history.
    let ops = d.operations(json!({"selector": {"repoGuid": id}}));
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["planId"], "_unassociated_");

    // A wrong password is reported, and nothing is added.
    let (st, v) = d.rpc(
        "AddRepo",
        json!({"repo": {"id": "wrongpw", "uri": existing.to_str().unwrap(), "password": "nope"}}),
    );
    assert_eq!(st, 403, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("wrong password"),
        "{v}"
    );
    assert_eq!(
        d.ok("GetConfig", json!({}))["repos"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[test]
fn check_repo_exists_tells_present_from_missing() {
    let work = TempDir::new("check");
    let d = Daemon::start();
    let repo = work.path().join("r");
    let v = d.ok(
        "CheckRepoExists",
        json!({"repo": {"id": "r", "uri": repo.to_str().unwrap(), "password": PASSWORD}}),
    );
    assert_eq!(
        v.get("exists"),
        None,
        "false is omitted in proto3 JSON: {v}"
    );
    assert!(restic(&repo, &["init"]).status.success());
    let v = d.ok(
        "CheckRepoExists",
        json!({"repo": {"id": "r", "uri": repo.to_str().unwrap(), "password": PASSWORD}}),
    );
    assert_eq!(v["exists"], true);
    // A wrong password is an error, as Backrest answers it (not "exists").
    let (status, e) = d.rpc(
        "CheckRepoExists",
        json!({"repo": {"id": "r", "uri": repo.to_str().unwrap(), "password": "wrong"}}),
    );
    assert_ne!(status, 200, "{e}");
    assert!(e["message"].as_str().unwrap().contains("password"), "{e}");
}

#[test]
fn remove_repo_drops_the_repo_and_its_history_but_not_its_data() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    assert!(!s.d.operations(json!({})).is_empty());
    set_plans(&s.d, vec![]);
    // An unknown id is not an error (as Backrest): nothing changes.
    let before = s.d.ok("GetConfig", json!({}));
    let v = s.d.ok("RemoveRepo", json!({"value": "nope"}));
    assert_eq!(v, before);
    assert!(!s.d.operations(json!({})).is_empty());
    let c = s.d.ok("RemoveRepo", json!({"value": "repo1"}));
    assert!(c.get("repos").is_none());
    assert!(
        s.d.operations(json!({})).is_empty(),
        "history of the repo is gone"
    );
    assert_eq!(snapshot_ids(&s.repo).len(), 1, "repository data untouched");
}

#[test]
fn the_instance_private_key_never_leaves_the_daemon_and_survives_a_set_config() {
    let config = json!({"instance": "keyhost", "version": 6, "auth": {"disabled": true},
        "sync": {"identity": {"keyId": "kid-1", "ed25519priv": "PRIVATE-KEY-BYTES", "ed25519pub": "PUB"}}});
    let d = Daemon::start_with(Opts {
        config: Some(config.clone()),
        ..Default::default()
    });
    let shown = d.ok("GetConfig", json!({}));
    assert_eq!(
        shown["sync"]["identity"],
        json!({"keyId": "kid-1"}),
        "{shown}"
    );
    // Write back what was read, then a config without sync at all: the key stays on disk.
    let saved = d.ok("SetConfig", shown.clone());
    assert!(!saved.to_string().contains("PRIVATE-KEY-BYTES"), "{saved}");
    let on_disk: Value = serde_json::from_slice(&std::fs::read(d.config_path()).unwrap()).unwrap();
    assert_eq!(
        on_disk["sync"]["identity"]["ed25519priv"],
        "PRIVATE-KEY-BYTES"
    );
    let mut without = d.ok("GetConfig", json!({}));
    without.as_object_mut().unwrap().remove("sync");
    d.ok("SetConfig", without);
    let on_disk: Value = serde_json::from_slice(&std::fs::read(d.config_path()).unwrap()).unwrap();
    assert_eq!(
        on_disk["sync"]["identity"]["ed25519priv"],
        "PRIVATE-KEY-BYTES"
    );
    assert_eq!(on_disk["sync"]["identity"]["ed25519pub"], "PUB");
}
