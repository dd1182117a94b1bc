//! The backup flow and its history, through the documented API.

use crate::common::*;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;

fn is_full_id(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The two commands of Backrest's API page, verbatim, with curl, on port 9898.
#[test]
fn documented_curl_commands_run_a_backup_and_list_its_history() {
    let work = TempDir::new("seed");
    let src = work.path().join("src");
    make_source(&src);
    let d = Daemon::start_with(Opts {
        bind: "127.0.0.1:9898".into(),
        ..Default::default()
    });
    add_repo(&d, "repo1", &work.path().join("repo"));
    set_plans(
        &d,
        vec![json!({"id": "YOUR_PLAN_ID", "repo": "repo1", "paths": [src.to_str().unwrap()]})],
    );

    let curl = |cmd: &str| -> (String, String) {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("{cmd} -s -w '\\n%{{http_code}}'"))
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (body, code) = text.rsplit_once('\n').unwrap();
        (body.to_string(), code.to_string())
    };
    let (body, code) = curl(
        r#"curl -X POST 'localhost:9898/v1.Backrest/Backup' --data '{"value": "YOUR_PLAN_ID"}' -H 'Content-Type: application/json'"#,
    );
    assert_eq!(code, "200", "{body}\n{}", d.log());
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({}));
    let snaps = snapshot_ids(&work.path().join("repo"));
    assert_eq!(snaps.len(), 1, "the snapshot exists when Backup answers");

    let (body, code) = curl(
        r#"curl -X POST 'localhost:9898/v1.Backrest/GetOperations' --data '{}' -H 'Content-Type: application/json'"#,
    );
    assert_eq!(code, "200");
    let all: Value = serde_json::from_str(&body).unwrap();
    let (body, code) = curl(
        r#"curl -X POST 'localhost:9898/v1.Backrest/GetOperations' --data '{"selector": {"planId": "YOUR_PLAN_ID"}}' -H 'Content-Type: application/json'"#,
    );
    assert_eq!(code, "200");
    let by_plan: Value = serde_json::from_str(&body).unwrap();
    for v in [&all, &by_plan] {
        let ops = v["operations"].as_array().unwrap();
        let backup = ops
            .iter()
            .find(|o| o.get("operationBackup").is_some())
            .expect("backup op");
        assert_eq!(backup["status"], "STATUS_SUCCESS");
        assert!(is_full_id(&backup["snapshotId"]), "{backup}");
        assert_eq!(backup["snapshotId"], snaps[0].as_str());
        assert_eq!(backup["planId"], "YOUR_PLAN_ID");
        assert!(backup["id"].is_string() && backup["unixTimeStartMs"].is_string());
        let summary = &backup["operationBackup"]["lastStatus"]["summary"];
        assert!(summary["totalBytesProcessed"].is_string(), "{summary}");
        assert!(
            summary["filesNew"]
                .as_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                >= 2
        );
        let index = ops
            .iter()
            .find(|o| o.get("operationIndexSnapshot").is_some())
            .expect("index-snapshot op");
        assert_eq!(index["status"], "STATUS_SUCCESS");
        assert_eq!(index["snapshotId"], backup["snapshotId"]);
        assert_eq!(index["flowId"], backup["flowId"], "same flow as the backup");
        assert_eq!(
            index["operationIndexSnapshot"]["snapshot"]["id"],
            backup["snapshotId"]
        );
    }
}

#[test]
fn backup_of_a_missing_path_fails_naming_the_path() {
    let s = setup_with_plan(json!({}));
    let missing = s.work.path().join("not-there");
    let mut config = s.d.ok("GetConfig", json!({}));
    config["plans"][0]["paths"] = json!([s.src.to_str().unwrap(), missing.to_str().unwrap()]);
    s.d.ok("SetConfig", config);
    let (status, v) = s.d.rpc("Backup", json!({"value": "plan1"}));
    assert_eq!(status, 400, "{v}");
    assert_eq!(v["code"], "failed_precondition");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains(missing.to_str().unwrap()) && msg.contains("does not exist"),
        "{msg}"
    );
    let ops = s.d.operations(json!({"selector": {"planId": "plan1"}}));
    assert_eq!(ops.len(), 1);
    assert_eq!(ops[0]["status"], "STATUS_ERROR");
    assert_eq!(ops[0]["displayMessage"], msg);
    assert!(snapshot_ids(&s.repo).is_empty());
}

#[test]
fn restic_failures_end_in_error_with_restics_message() {
    let s = setup_with_plan(json!({"backup_flags": ["--no-such-flag"]}));
    let (status, v) = s.d.rpc("Backup", json!({"value": "plan1"}));
    assert_eq!(status, 500, "{v}");
    let msg = v["message"].as_str().unwrap();
    assert!(
        msg.contains("restic exited with status 1") && msg.contains("no-such-flag"),
        "{msg}"
    );
    let op = &s.d.operations(json!({"selector": {"planId": "plan1"}}))[0];
    assert_eq!(op["status"], "STATUS_ERROR");
    assert_eq!(op["displayMessage"], msg);
}

#[test]
fn keep_last_one_leaves_one_snapshot_and_the_forget_lists_the_other() {
    let s = setup_with_plan(json!({"retention": {"policyKeepLastN": 1}}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let first = snapshot_ids(&s.repo);
    assert_eq!(first.len(), 1);
    std::fs::write(s.src.join("new.txt"), b"changed").unwrap();
    s.d.ok("Backup", json!({"value": "plan1"}));
    let left = snapshot_ids(&s.repo);
    assert_eq!(left.len(), 1, "one snapshot left");
    assert_ne!(left[0], first[0], "the newest is kept");

    let ops = s.d.operations(json!({"selector": {"planId": "plan1"}}));
    let backups: Vec<&Value> = ops
        .iter()
        .filter(|o| o.get("operationBackup").is_some())
        .collect();
    assert_eq!(backups.len(), 2);
    let forgets: Vec<&Value> = ops
        .iter()
        .filter(|o| o.get("operationForget").is_some())
        .collect();
    assert_eq!(forgets.len(), 2, "a forget after each backup");
    let last = forgets.last().unwrap();
    assert_eq!(last["status"], "STATUS_SUCCESS");
    assert_eq!(
        last["flowId"], backups[1]["flowId"],
        "forget runs in the backup's flow"
    );
    assert_eq!(
        last["operationForget"]["forget"][0]["id"],
        first[0].as_str()
    );
    assert_eq!(last["operationForget"]["policy"]["policyKeepLastN"], 1);
    // The index marks the forgotten snapshot.
    let forgot = ops
        .iter()
        .find(|o| o["snapshotId"] == first[0].as_str() && o.get("operationIndexSnapshot").is_some())
        .unwrap();
    assert_eq!(forgot["operationIndexSnapshot"]["forgot"], true);
}

#[test]
fn progress_of_a_large_backup_is_visible_while_it_runs() {
    let s = setup_with_plan(json!({}));
    // A few hundred MB of incompressible data, in files so restic reports files as it goes.
    for i in 0..6 {
        std::fs::write(
            s.src.join(format!("big{i}.bin")),
            pseudo_random(50 << 20, i + 1),
        )
        .unwrap();
    }
    let port = s.d.port;
    let backup = backup_in_background(port, "plan1");
    let progress = |d: &Daemon| -> Option<i64> {
        let ops = d.operations(json!({"selector": {"planId": "plan1"}}));
        let op = ops.iter().find(|o| o["status"] == "STATUS_INPROGRESS")?;
        op["operationBackup"]["lastStatus"]["status"]["bytesDone"]
            .as_str()?
            .parse()
            .ok()
    };
    let first = s.d.wait_for("progress", Duration::from_secs(120), || {
        progress(&s.d).filter(|b| *b > 0)
    });
    let later = s.d.wait_for("more progress", Duration::from_secs(120), || {
        match progress(&s.d) {
            Some(b) if b > first => Some(Some(b)),
            Some(_) => None,
            None => Some(None), // finished before a second sample: then it must have succeeded
        }
    });
    let r = backup.join().unwrap();
    assert_eq!(r.status, 200);
    if later.is_none() {
        panic!("the backup finished before bytesDone grew past {first}; make the source larger");
    }
}

#[test]
fn cancelling_a_running_backup_ends_it_user_cancelled_and_the_next_backup_works() {
    let s = setup_with_plan(json!({}));
    for i in 0..8 {
        std::fs::write(
            s.src.join(format!("big{i}.bin")),
            pseudo_random(40 << 20, i + 10),
        )
        .unwrap();
    }
    let port = s.d.port;
    let backup = backup_in_background(port, "plan1");
    let id =
        s.d.wait_for("a running backup", Duration::from_secs(60), || {
            let ops = s.d.operations(json!({"selector": {"planId": "plan1"}}));
            ops.iter()
                .find(|o| {
                    o["status"] == "STATUS_INPROGRESS"
                        && o["operationBackup"]["lastStatus"].is_object()
                })
                .map(|o| o["id"].clone())
        });
    s.d.ok("Cancel", json!({"operationId": id}));
    let r = backup.join().unwrap();
    assert_eq!(r.status, 499, "the waiting Backup call reports the cancel");
    assert_eq!(r.json()["code"], "canceled");
    let op = &s.d.operations(json!({"selector": {"ids": [id]}}))[0];
    assert_eq!(op["status"], "STATUS_USER_CANCELLED");
    assert!(
        op["displayMessage"]
            .as_str()
            .unwrap()
            .contains("cancelled by user request")
    );
    assert!(snapshot_ids(&s.repo).is_empty());
    // No restic left running, the repo is not locked: the next backup succeeds.
    for i in 0..8 {
        std::fs::remove_file(s.src.join(format!("big{i}.bin"))).unwrap();
    }
    s.d.ok("Backup", json!({"value": "plan1"}));
    assert_eq!(snapshot_ids(&s.repo).len(), 1);
}

#[test]
fn get_operations_filters_by_every_selector_field_and_last_n() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    std::fs::write(s.src.join("x"), b"x").unwrap();
    s.d.ok("Backup", json!({"value": "plan1"}));
    let all = s.d.operations(json!({}));
    assert_eq!(
        all.len(),
        4,
        "two backups and two index operations: {all:?}"
    );
    let ids: Vec<i64> = all
        .iter()
        .map(|o| o["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "sorted by id");

    let b = &all[2];
    let by = |sel: Value| s.d.operations(json!({"selector": sel}));
    assert_eq!(
        by(json!({"flowId": b["flowId"]})).len(),
        2,
        "backup + its index"
    );
    assert_eq!(by(json!({"ids": [b["id"]]}))[0]["id"], b["id"]);
    assert_eq!(by(json!({"snapshotId": b["snapshotId"]})).len(), 2);
    assert_eq!(by(json!({"repoGuid": b["repoGuid"]})).len(), 4);
    assert_eq!(by(json!({"instanceId": b["instanceId"]})).len(), 4);
    assert_eq!(by(json!({"planId": "other"})).len(), 0);
    let modno: i64 = all[3]["modno"].as_str().unwrap().parse().unwrap();
    assert_eq!(by(json!({"modnoGte": modno.to_string()})).len(), 1);
    let last2 = s.d.operations(json!({"lastN": 2}));
    assert_eq!(last2.len(), 2);
    assert_eq!(last2[1]["id"], all[3]["id"]);
    let (st, v) = s.d.rpc(
        "GetOperations",
        json!({"selector": {"ids": ["1"], "planId": "plan1"}}),
    );
    assert_eq!((st, v["code"].as_str().unwrap()), (400, "invalid_argument"));
}

#[test]
fn list_snapshots_returns_full_ids_filtered_by_plan() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let v = s.d.ok(
        "ListSnapshots",
        json!({"repoId": "repo1", "planId": "plan1"}),
    );
    let snaps = v["snapshots"].as_array().unwrap();
    assert_eq!(snaps.len(), 1);
    assert!(is_full_id(&snaps[0]["id"]));
    assert!(snaps[0]["unixTimeMs"].is_string());
    assert!(
        snaps[0]["tags"]
            .as_array()
            .unwrap()
            .contains(&json!("plan:plan1"))
    );
    let (st, _) = s.d.rpc("ListSnapshots", json!({"repoId": "nope"}));
    assert_eq!(st, 404);
}

#[test]
fn second_backup_uses_the_first_as_parent_and_excludes_apply() {
    let s = setup_with_plan(json!({"excludes": ["*.skip"]}));
    std::fs::write(s.src.join("a.skip"), b"secret").unwrap();
    s.d.ok("Backup", json!({"value": "plan1"}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let out = restic(&s.repo, &["snapshots", "--json", "--no-lock"]);
    let snaps: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snaps[1]["parent"], snaps[0]["id"]);
    let tags = snaps[0]["tags"].as_array().unwrap();
    assert!(tags.contains(&json!("plan:plan1")));
    assert!(
        tags.iter()
            .any(|t| t.as_str().unwrap().starts_with("created-by:"))
    );
    let ls = restic(&s.repo, &["ls", "latest", "--no-lock"]);
    let listing = String::from_utf8_lossy(&ls.stdout);
    assert!(
        listing.contains("hello.txt") && !listing.contains("a.skip"),
        "{listing}"
    );
}

#[test]
fn dry_run_backup_saves_nothing() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1", "dryRun": true}));
    assert!(snapshot_ids(&s.repo).is_empty());
    let ops = s.d.operations(json!({"selector": {"planId": "plan1"}}));
    assert_eq!(ops.len(), 1);
    assert_eq!(
        ops[0]["displayMessage"],
        "Dry run backup, not saved in repo"
    );
    assert_eq!(ops[0]["operationBackup"]["dryRun"], true);
    assert!(ops[0].get("snapshotId").is_none());
}

#[test]
fn a_parent_forgotten_outside_footrest_does_not_break_the_next_backup() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let first = snapshot_ids(&s.repo);
    let out = restic(&s.repo, &["forget", &first[0]]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.d.ok("Backup", json!({"value": "plan1"}));
    let now = snapshot_ids(&s.repo);
    assert_eq!(now.len(), 1);
    assert_ne!(now[0], first[0]);
    let ops =
        s.d.operations(json!({"selector": {"snapshotId": first[0]}}));
    let ix = ops
        .iter()
        .find(|o| o.get("operationIndexSnapshot").is_some())
        .unwrap();
    assert_eq!(
        ix["operationIndexSnapshot"]["forgot"], true,
        "the index notices the removal"
    );
}

#[test]
fn skip_if_unchanged_adds_no_snapshot_when_nothing_changed() {
    // restic compares every directory up to `/`, so the source lives where no other test
    // writes between the two backups.
    let (_quiet, quiet) = quiet_dir("skip");
    let src = quiet.path().join("a/src");
    make_source(&src);
    let work = TempDir::new("skip");
    let repo = work.path().join("repo");
    let d = Daemon::start();
    add_repo(&d, "repo1", &repo);
    set_plans(
        &d,
        vec![json!({"id": "plan1", "repo": "repo1", "paths": [src], "skipIfUnchanged": true})],
    );
    d.ok("Backup", json!({"value": "plan1"}));
    d.ok("Backup", json!({"value": "plan1"}));
    let ops = d.operations(json!({"selector": {"planId": "plan1"}}));
    assert_eq!(
        snapshot_ids(&repo).len(),
        1,
        "the unchanged second backup left no snapshot: {ops:?}"
    );
    let last = ops
        .iter()
        .rev()
        .find(|o| o.get("operationBackup").is_some())
        .unwrap();
    assert_eq!(last["status"], "STATUS_SUCCESS");
    assert_eq!(
        last["displayMessage"],
        "No snapshot added, possibly due to no changes in the source data."
    );
    assert!(last.get("snapshotId").is_none());
    std::fs::write(src.join("changed.txt"), b"new").unwrap();
    d.ok("Backup", json!({"value": "plan1"}));
    assert_eq!(snapshot_ids(&repo).len(), 2, "a change is backed up");
}

/// restic's own record of a snapshot, from `restic snapshots --json`.
fn listed_snapshot(repo: &std::path::Path, id: &str) -> Value {
    let out = restic(repo, &["snapshots", "--json", "--no-lock", id]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v[0].clone()
}

fn index_op_of(d: &Daemon, id: &str) -> Value {
    d.operations(json!({"selector": {"snapshotId": id}}))
        .into_iter()
        .find(|o| o.get("operationIndexSnapshot").is_some())
        .unwrap_or_else(|| panic!("no index entry for {id}\n{}", d.log()))
}

#[test]
fn the_index_entry_a_backup_answers_with_matches_what_restic_recorded() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    std::fs::write(s.src.join("new.txt"), b"changed").unwrap();
    s.d.ok("Backup", json!({"value": "plan1"}));
    let ops = s.d.operations(json!({"selector": {"planId": "plan1"}}));
    let backup = ops
        .iter()
        .rfind(|o| o.get("operationBackup").is_some())
        .unwrap();
    let id = backup["snapshotId"].as_str().unwrap().to_string();
    assert!(is_full_id(&backup["snapshotId"]), "{backup}");
    let entry = index_op_of(&s.d, &id);
    assert_eq!(
        entry["flowId"], backup["flowId"],
        "indexed in the backup's flow"
    );
    let ours = &entry["operationIndexSnapshot"]["snapshot"];
    let listed = listed_snapshot(&s.repo, &id);
    assert_eq!(ours["id"], listed["id"]);
    for (a, b) in [
        ("hostname", "hostname"),
        ("username", "username"),
        ("paths", "paths"),
        ("tags", "tags"),
        ("parent", "parent"),
    ] {
        assert_eq!(ours[a], listed[b], "{a}: ours {ours}\nrestic's {listed}");
    }
    let listed_ms = footrest::restic::parse_rfc3339_ms(listed["time"].as_str().unwrap()).unwrap();
    let ours_ms = int(&ours["unixTimeMs"]);
    if restic_minor() >= 17 {
        assert_eq!(
            ours_ms, listed_ms,
            "restic >= 0.17 reports the snapshot's time"
        );
    } else {
        assert!(
            (ours_ms - listed_ms).abs() < 3000,
            "estimated time {ours_ms} vs {listed_ms}"
        );
    }
    assert_eq!(
        int(&ours["summary"]["filesNew"]),
        1,
        "the backup's summary is kept on the entry: {ours}"
    );

    // A full listing (the index task) replaces the entry with restic's own record.
    s.d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_INDEX_SNAPSHOTS"}),
    );
    let entry = index_op_of(&s.d, &id);
    let ours = &entry["operationIndexSnapshot"]["snapshot"];
    assert_eq!(ours["tree"], listed["tree"]);
    assert_eq!(int(&ours["unixTimeMs"]), listed_ms);
    assert_eq!(int(&entry["unixTimeStartMs"]), listed_ms);
    assert_eq!(int(&ours["summary"]["filesNew"]), 1);
    let all = s.d.operations(json!({"selector": {"snapshotId": id}}));
    assert_eq!(
        all.iter()
            .filter(|o| o.get("operationIndexSnapshot").is_some())
            .count(),
        1,
        "indexed once"
    );
}

#[test]
fn a_backup_with_a_known_parent_starts_restic_only_for_the_backup() {
    let work = TempDir::new("count");
    let calls = work.path().join("calls");
    let wrapper = restic_wrapper(
        &work.path().join("restic-wrapper"),
        &format!("printf '%s\\n' \"$1\" >> '{}'", calls.display()),
    );
    let src = work.path().join("src");
    make_source(&src);
    let repo = work.path().join("repo");
    let d = Daemon::start_with(Opts {
        restic: wrapper,
        ..Default::default()
    });
    add_repo(&d, "repo1", &repo);
    set_plans(
        &d,
        vec![
            json!({"id": "plan1", "repo": "repo1", "paths": [src.to_str().unwrap()],
                    "retention": {"policyKeepLastN": 5}}),
        ],
    );
    d.ok("Backup", json!({"value": "plan1"}));
    std::fs::write(src.join("new.txt"), b"changed").unwrap();
    let before = std::fs::read_to_string(&calls).unwrap().lines().count();
    d.ok("Backup", json!({"value": "plan1"}));
    let text = std::fs::read_to_string(&calls).unwrap();
    let during: Vec<&str> = text.lines().skip(before).collect();
    assert_eq!(
        during,
        ["backup"],
        "one restic start: no listing, and no restic forget while keep-last 5 keeps both"
    );
    let ops = d.operations(json!({"selector": {"planId": "plan1"}}));
    let id = ops
        .iter()
        .rfind(|o| o.get("operationBackup").is_some())
        .unwrap()["snapshotId"]
        .clone();
    assert!(
        is_full_id(&id),
        "full id without another restic start: {id}"
    );
    let (status, body) = d.rpc(
        "ListSnapshots",
        json!({"repoId": "repo1", "planId": "plan1"}),
    );
    assert_eq!(status, 200, "{body}");
    assert!(
        body["snapshots"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == id)
    );
}

#[test]
fn retention_forget_follows_each_backup_and_removes_once_past_the_policy() {
    let s = setup_with_plan(json!({"retention": {"policyKeepLastN": 2}}));
    for i in 0..3 {
        std::fs::write(s.src.join(format!("f{i}.txt")), format!("{i}")).unwrap();
        s.d.ok("Backup", json!({"value": "plan1"}));
    }
    let ops = s.d.operations(json!({"selector": {"planId": "plan1"}}));
    let forgets: Vec<&Value> = ops
        .iter()
        .filter(|o| o.get("operationForget").is_some())
        .collect();
    assert_eq!(forgets.len(), 3, "a forget recorded after each backup");
    let removed: Vec<usize> = forgets
        .iter()
        .map(|f| {
            f["operationForget"]["forget"]
                .as_array()
                .map_or(0, |a| a.len())
        })
        .collect();
    assert_eq!(
        removed,
        [0, 0, 1],
        "the first snapshot goes once there are three"
    );
    assert!(forgets.iter().all(|f| f["status"] == "STATUS_SUCCESS"));
    assert_eq!(snapshot_ids(&s.repo).len(), 2);
}

#[test]
fn clear_history_refuses_an_empty_or_misspelled_selector_and_deletes_nothing() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let before = s.d.operations(json!({}));
    assert!(before.len() >= 2, "a backup and its index entry");
    let refused = [
        (json!({}), "empty selector"),
        (json!({"selector": {}}), "empty selector"),
        (json!({"selector": null}), "empty selector"),
        (json!({"selector": {"ids": []}}), "empty selector"),
        (json!({"selector": {"planid": "plan1"}}), "planid"),
        (
            json!({"selector": {"planId": "plan1"}, "onlyFaild": true}),
            "onlyFaild",
        ),
        (json!([]), "object"),
        (json!({"selector": []}), "object"),
    ];
    for (body, names) in refused {
        let (status, v) = s.d.rpc("ClearHistory", body.clone());
        assert_eq!(
            (status, v["code"].as_str()),
            (400, Some("invalid_argument")),
            "{body}: {v}"
        );
        assert!(
            v["message"].as_str().unwrap().contains(names),
            "{body}: {v}"
        );
    }
    let r = s.d.request(
        "POST",
        "/v1.Backrest/ClearHistory",
        &[("Content-Type", "application/json")],
        b"",
    );
    assert_eq!(r.status, 400, "an empty body: {}", r.json());
    assert_eq!(s.d.operations(json!({})), before, "nothing was deleted");
    // A real selector still clears what it names.
    s.d.ok("ClearHistory", json!({"selector": {"planId": "plan1"}}));
    assert!(
        s.d.operations(json!({"selector": {"planId": "plan1"}}))
            .is_empty()
    );
}
