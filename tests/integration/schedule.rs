//! The orchestrator: schedules, retention, repo tasks, cancel, and recovery after a crash.

use crate::common::*;
use footrest::config::{ConfigStore, SharedConfig};
use footrest::logstore::LogStore;
use footrest::model::{OpSelector, Operation, OperationStatus};
use footrest::oplog::OpLog;
use footrest::orchestrator::scheduler::{self, WallClock};
use footrest::orchestrator::{Env, Orchestrator};
use footrest::schedule::{TimeZone, Timestamp};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn ops_of(d: &Daemon, sel: Value) -> Vec<Value> {
    d.operations(json!({ "selector": sel }))
}

/// A wall clock the test sets; the scheduler looks again each time it is moved.
#[derive(Clone)]
struct TestClock {
    ms: Arc<Mutex<i64>>,
    moved: (
        crossbeam_channel::Sender<()>,
        crossbeam_channel::Receiver<()>,
    ),
}

impl TestClock {
    fn at(ms: i64) -> TestClock {
        TestClock {
            ms: Arc::new(Mutex::new(ms)),
            moved: crossbeam_channel::unbounded(),
        }
    }

    fn set(&self, ms: i64) {
        *self.ms.lock().unwrap() = ms;
        self.moved.0.send(()).unwrap();
    }
}

impl WallClock for TestClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millisecond(*self.ms.lock().unwrap()).unwrap()
    }

    fn moved(&self) -> crossbeam_channel::Receiver<()> {
        self.moved.1.clone()
    }
}

/// Polls `f` until it gives a value, for at most `limit`.
fn wait_until<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The scheduler and the worker, on a wall clock the test sets (no waiting for a real minute):
/// two plans and a prune due at the same minute show as PENDING, do not run while the clock is
/// before it, then run unattended one at a time when it gets there, the prune (priority 32)
/// before the backups (priority 2), with real restic; each is then scheduled for the next minute.
#[test]
fn scheduled_tasks_run_unattended_at_their_time_one_at_a_time_in_priority_order() {
    let work = TempDir::new("sched");
    let src = work.path().join("src");
    make_source(&src);
    let repo = work.path().join("repo");
    let init = restic(&repo, &["init"]);
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let cat = restic(&repo, &["cat", "config"]);
    let guid = serde_json::from_slice::<Value>(&cat.stdout).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let every_minute = json!({"cron": "* * * * *"});
    let config = json!({
        "version": 6,
        "modno": 1,
        "instance": "sched-test",
        "auth": {"disabled": true},
        "repos": [{"id": "repo1", "uri": repo, "password": PASSWORD, "guid": guid,
                   "prunePolicy": {"schedule": every_minute}}],
        "plans": [
            {"id": "a", "repo": "repo1", "paths": [src], "schedule": every_minute},
            {"id": "b", "repo": "repo1", "paths": [src], "schedule": every_minute},
        ],
    });
    let path = work.path().join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    let store = ConfigStore::new(path);
    let loaded = store.load().unwrap();
    let oplog = Arc::new(OpLog::open(&work.path().join("oplog")).unwrap());
    let orch = Orchestrator::new(Env {
        config: Arc::new(SharedConfig::new(store, loaded)),
        logs: LogStore::open(&work.path().join("tasklogs")).unwrap(),
        oplog: Arc::clone(&oplog),
        restic_cmd: restic_bin(),
    });
    let worker = orch.start().unwrap();
    let real_now = Timestamp::now().as_millisecond();
    let minute = (real_now / 60_000 + 1) * 60_000;
    let clock = TestClock::at(minute - 1_000);
    let sched =
        scheduler::start_with_clock(Arc::clone(&orch), TimeZone::UTC, Box::new(clock.clone()))
            .unwrap();
    let ops = || oplog.query(&OpSelector::default(), 0).unwrap();
    let pending = wait_until("three PENDING operations", Duration::from_secs(10), || {
        let p: Vec<Operation> = ops()
            .into_iter()
            .filter(|o| o.status == OperationStatus::Pending)
            .collect();
        (p.len() == 3).then_some(p)
    });
    assert!(
        pending.iter().all(|o| o.unix_time_start_ms == minute),
        "all three are due at the minute: {pending:?}"
    );
    assert!(
        orch.queued().is_empty(),
        "nothing is queued before its time"
    );

    clock.set(minute + 1_000);
    let done = |o: &&Operation| o.status == OperationStatus::Success;
    let (backups, prunes) = wait_until("the scheduled runs", Duration::from_secs(150), || {
        let all = ops();
        let backups: Vec<Operation> = all
            .iter()
            .filter(|o| o.operation_backup.is_some())
            .filter(done)
            .cloned()
            .collect();
        let prunes: Vec<Operation> = all
            .iter()
            .filter(|o| o.operation_prune.is_some())
            .filter(done)
            .cloned()
            .collect();
        let ran = |p: &str| backups.iter().any(|o| o.plan_id == p);
        (ran("a") && ran("b") && !prunes.is_empty()).then_some((backups, prunes))
    });
    let span = |o: &Operation| (o.unix_time_start_ms, o.unix_time_end_ms);
    let prune = span(&prunes[0]);
    let (a, b) = (span(&backups[0]), span(&backups[1]));
    assert!(
        prune.1 <= a.0 && prune.1 <= b.0,
        "prune first: {prune:?} {a:?} {b:?}"
    );
    assert!(
        a.1 <= b.0 || b.1 <= a.0,
        "backups do not overlap: {a:?} {b:?}"
    );
    assert_eq!(snapshot_ids(&repo).len(), 2);
    wait_until(
        "the next PENDING operations",
        Duration::from_secs(30),
        || {
            let next = ops()
                .iter()
                .filter(|o| {
                    o.status == OperationStatus::Pending && o.unix_time_start_ms == minute + 60_000
                })
                .count();
            (next == 3).then_some(())
        },
    );
    sched.stop();
    orch.shutdown(Duration::from_secs(5));
    worker.join().unwrap();
}

/// Snapshots made at chosen times (restic backup --time), then a plan forget by its
/// time-bucketed retention keeps exactly what restic's bucket rules say.
#[test]
fn time_bucketed_retention_keeps_the_right_snapshots() {
    let s =
        setup_with_plan(json!({"retention": {"policyTimeBucketed": {"daily": 2, "monthly": 3}}}));
    let instance = s.d.ok("GetConfig", json!({}))["instance"]
        .as_str()
        .unwrap()
        .to_string();
    let times = [
        "2026-01-01 10:00:00",
        "2026-01-15 10:00:00",
        "2026-02-01 10:00:00",
        "2026-02-10 10:00:00",
        "2026-03-01 10:00:00",
        "2026-03-01 12:00:00",
    ];
    for t in times {
        let out = restic(
            &s.repo,
            &[
                "backup",
                s.src.to_str().unwrap(),
                "--time",
                t,
                "--tag",
                "plan:plan1",
                "--tag",
                &format!("created-by:{instance}"),
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let v =
        s.d.ok("Forget", json!({"repoId": "repo1", "planId": "plan1"}));
    let op_id = v["operationId"].clone();
    let out = restic(&s.repo, &["snapshots", "--json", "--no-lock"]);
    let left: Vec<String> = serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["time"].as_str().unwrap()[..16].to_string())
        .collect();
    let mut left = left;
    left.sort();
    assert_eq!(
        left,
        ["2026-01-15T10:00", "2026-02-10T10:00", "2026-03-01T12:00"]
    );
    let op = &s.d.operations(json!({"selector": {"ids": [op_id]}}))[0];
    assert_eq!(op["status"], "STATUS_SUCCESS");
    assert_eq!(op["operationForget"]["forget"].as_array().unwrap().len(), 3);
    assert_eq!(
        op["operationForget"]["policy"]["policyTimeBucketed"]["daily"],
        2
    );
}

#[test]
fn prune_check_and_stats_via_do_repo_task_keep_their_output() {
    let s = setup_with_plan(json!({"retention": {"policyKeepLastN": 1}}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    std::fs::write(s.src.join("more.bin"), pseudo_random(100_000, 3)).unwrap();
    s.d.ok("Backup", json!({"value": "plan1"}));

    let v = s.d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_PRUNE"}),
    );
    let prune =
        &s.d.operations(json!({"selector": {"ids": [v["operationId"]]}}))[0];
    assert_eq!(prune["status"], "STATUS_SUCCESS", "{prune}");
    let logref = prune["operationPrune"]["outputLogref"].as_str().unwrap();
    let log = std::fs::read_to_string(
        s.d.data_dir()
            .join("tasklogs")
            .join(format!("{logref}.log")),
    )
    .unwrap();
    assert!(
        log.contains("unused") || log.contains("pack"),
        "prune output in its log: {log}"
    );

    let v = s.d.ok("DoRepoTask", json!({"repoId": "repo1", "task": 3}));
    let check =
        &s.d.operations(json!({"selector": {"ids": [v["operationId"]]}}))[0];
    assert_eq!(check["status"], "STATUS_SUCCESS");
    let logref = check["operationCheck"]["outputLogref"].as_str().unwrap();
    let log = std::fs::read_to_string(
        s.d.data_dir()
            .join("tasklogs")
            .join(format!("{logref}.log")),
    )
    .unwrap();
    assert!(log.contains("no errors were found"), "{log}");

    // A prune queues stats; DoRepoTask stats records them too.
    let v = s.d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_STATS"}),
    );
    let stats =
        &s.d.operations(json!({"selector": {"ids": [v["operationId"]]}}))[0];
    let st = &stats["operationStats"]["stats"];
    assert!(int(&st["totalSize"]) > 100_000, "{stats}");
    assert_eq!(int(&st["snapshotCount"]), 1);
    let all_stats =
        s.d.operations(json!({}))
            .into_iter()
            .filter(|o| o.get("operationStats").is_some())
            .count();
    assert!(all_stats >= 1);

    let v = s.d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_UNLOCK"}),
    );
    assert!(
        v.get("operationId").is_none(),
        "unlock has no operation: {v}"
    );
    let (st, e) = s.d.rpc(
        "DoRepoTask",
        json!({"repoId": "nope", "task": "TASK_PRUNE"}),
    );
    assert_eq!((st, e["code"].as_str().unwrap()), (404, "not_found"));
    let (st, _) = s.d.rpc(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_BOGUS"}),
    );
    assert_eq!(st, 400);
}

#[test]
fn forget_of_one_snapshot_removes_it_and_marks_the_index() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let ids = snapshot_ids(&s.repo);
    let (st, _) = s.d.rpc(
        "Forget",
        json!({"repoId": "repo1", "snapshotId": "not-hex!"}),
    );
    assert_eq!(st, 400);
    // A misspelled key beside a planId is refused, not read as "the plan's whole policy".
    let (st, e) = s.d.rpc(
        "Forget",
        json!({"repoId": "repo1", "planId": "plan1", "snapshotID": ids[0]}),
    );
    assert_eq!((st, e["code"].as_str().unwrap()), (400, "invalid_argument"));
    assert!(e["message"].as_str().unwrap().contains("snapshotID"), "{e}");
    assert_eq!(snapshot_ids(&s.repo), ids);
    s.d.ok("Forget", json!({"repoId": "repo1", "snapshotId": ids[0]}));
    assert_eq!(snapshot_ids(&s.repo), vec![ids[1].clone()]);
    let ix = s.d.operations(json!({"selector": {"snapshotId": ids[0]}}));
    let ix = ix
        .iter()
        .find(|o| o.get("operationIndexSnapshot").is_some())
        .unwrap();
    assert_eq!(ix["operationIndexSnapshot"]["forgot"], true);
}

fn big_source(s: &Setup, files: u64) {
    for i in 0..files {
        std::fs::write(
            s.src.join(format!("big{i}.bin")),
            pseudo_random(40 << 20, i + 100),
        )
        .unwrap();
    }
}

fn running_backup(d: &Daemon, plan: &str) -> Value {
    d.wait_for("a running backup", Duration::from_secs(120), || {
        let ops = ops_of(d, json!({"planId": plan}));
        if let Some(done) = ops.iter().find(|o| {
            o["status"]
                .as_str()
                .is_some_and(|s| s != "STATUS_INPROGRESS" && s != "STATUS_PENDING")
        }) {
            panic!("the backup ended before it could be seen running: {done}");
        }
        ops.into_iter()
            .find(|o| {
                o["status"] == "STATUS_INPROGRESS" && o["operationBackup"]["lastStatus"].is_object()
            })
            .map(|o| o["id"].clone())
    })
}

#[test]
fn cancelling_a_queued_backup_answers_its_waiting_call_and_leaves_no_restic_behind() {
    let s = setup_with_plan(json!({}));
    big_source(&s, 6);
    let mut c = s.d.ok("GetConfig", json!({}));
    c["plans"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "plan2", "repo": "repo1", "paths": [s.src.join("hello.txt")]}));
    s.d.ok("SetConfig", c);
    let port = s.d.port;
    let call = |plan: &str| backup_in_background(port, plan);
    let first = call("plan1");
    let running = running_backup(&s.d, "plan1");
    let second = call("plan2");
    let queued =
        s.d.wait_for("a queued backup", Duration::from_secs(10), || {
            ops_of(&s.d, json!({"planId": "plan2"}))
                .into_iter()
                .find(|o| o["status"] == "STATUS_PENDING")
                .map(|o| o["id"].clone())
        });
    s.d.ok("Cancel", json!({"operationId": queued}));
    let r2 = second.join().unwrap();
    assert_eq!(
        (r2.status, r2.json()["code"].as_str().unwrap().to_string()),
        (499, "canceled".to_string())
    );
    let op = &ops_of(&s.d, json!({"ids": [queued]}))[0];
    assert_eq!(op["status"], "STATUS_USER_CANCELLED");

    s.d.ok("Cancel", json!({"value": running}));
    let r1 = first.join().unwrap();
    assert_eq!(r1.status, 499);
    let op = &ops_of(&s.d, json!({"ids": [running]}))[0];
    assert_eq!(op["status"], "STATUS_USER_CANCELLED");
    // Nothing the daemon started is left running.
    let strays: Vec<u32> = descendants(s.d.pid());
    assert!(strays.is_empty(), "no restic left running: {strays:?}");
    assert_eq!(lock_count(&s.repo), 0, "restic removed its lock on SIGINT");
}

#[test]
fn after_kill_9_mid_backup_the_operation_is_an_error_the_repo_is_unlocked_and_backups_work() {
    let s = setup_with_plan(json!({}));
    big_source(&s, 8);
    let port = s.d.port;
    let _call = backup_in_background(port, "plan1");
    let id = running_backup(&s.d, "plan1");
    // Kill the daemon and its restic the way a power cut or OOM killer would: all at once.
    // The daemon is stopped first so that nothing reacts in between (restic would get the
    // daemon's death signal, SIGINT, and remove its lock before our SIGKILL reached it).
    let restics: Vec<u32> = descendants(s.d.pid());
    signal(s.d.pid(), libc::SIGSTOP);
    for pid in &restics {
        signal(*pid, 9);
    }
    let Setup { d, repo, src, work } = s;
    let dir = d.kill();
    // restic treats a lock as stale once its process is gone: wait until it is reaped.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while restics
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "killed restic not reaped"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(lock_count(&repo) > 0, "a killed restic leaves its lock");

    let d = Daemon::spawn(dir, &Opts::default());
    let op = d.wait_for("the interrupted op", Duration::from_secs(20), || {
        ops_of(&d, json!({"ids": [id]})).into_iter().next()
    });
    assert_eq!(op["status"], "STATUS_ERROR");
    assert_eq!(
        op["displayMessage"],
        "Operation was incomplete when orchestrator was restarted."
    );
    d.wait_for("the stale lock removed", Duration::from_secs(30), || {
        (lock_count(&repo) == 0).then_some(())
    });
    for i in 0..8 {
        std::fs::remove_file(src.join(format!("big{i}.bin"))).unwrap();
    }
    d.ok("Backup", json!({"value": "plan1"}));
    assert_eq!(snapshot_ids(&repo).len(), 1);
    drop(work);
}

/// True once `pid` has exited (an unreaped zombie holds nothing any more).
fn gone(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().next())
            .is_some_and(|st| st == "Z" || st == "X"),
    }
}

fn wait_gone(pids: &[u32], what: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !pids.iter().all(|p| gone(*p)) {
        assert!(
            std::time::Instant::now() < deadline,
            "{what}: {pids:?} still running"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A repo with one 40 MiB snapshot, and a daemon whose restic is `wrapper` (a script around the
/// real restic) and whose check reads all data at 1 KiB/s: a check that holds its lock for
/// hours. The wrappers send its output to /dev/null, as a long prune that prints nothing for
/// hours would be: no broken pipe stops it when footrest goes.
struct SlowCheck {
    d: Daemon,
    repo: std::path::PathBuf,
    work: TempDir,
    opts: Opts,
}

fn slow_check(wrapper_body: &str) -> SlowCheck {
    let work = TempDir::new("slowcheck");
    let wrapper = shell_script(
        &work.path().join("restic-wrapper"),
        &format!("restic='{}'\n{wrapper_body}\n", restic_bin()),
    );
    let opts = Opts {
        restic: wrapper,
        ..Default::default()
    };
    let src = work.path().join("src");
    make_source(&src);
    std::fs::write(src.join("big.bin"), pseudo_random(40 << 20, 7)).unwrap();
    let d = Daemon::spawn(TempDir::new("slowcheck-daemon"), &opts);
    let repo = work.path().join("repo");
    let mut c = add_repo(&d, "repo1", &repo);
    c["repos"][0]["checkPolicy"] = json!({"readDataSubsetPercent": 100});
    c["plans"] = json!([{"id": "plan1", "repo": "repo1", "paths": [src]}]);
    d.ok("SetConfig", c);
    d.ok("Backup", json!({"value": "plan1"}));
    let port = d.port;
    std::thread::spawn(move || {
        http(
            port,
            "POST",
            "/v1.Backrest/DoRepoTask",
            &[("Content-Type", "application/json")],
            br#"{"repoId":"repo1","task":"TASK_CHECK"}"#,
        )
    });
    d.wait_for("the check's lock", Duration::from_secs(30), || {
        (lock_count(&repo) > 0).then_some(())
    });
    SlowCheck {
        d,
        repo,
        work,
        opts,
    }
}

fn interrupted_check(d: &Daemon) -> Value {
    ops_of(d, json!({"repoId": "repo1"}))
        .into_iter()
        .find(|o| o["operationCheck"].is_object())
        .expect("the check operation")
}

/// SIGKILL to footrest alone (the OOM killer, `kill -9`): its restic stops too (the kernel
/// sends it SIGINT), and after a restart the repo takes an exclusive task (prune) at once.
#[test]
fn a_killed_daemon_takes_its_restic_with_it_and_the_repo_stays_usable() {
    let s = slow_check(
        r#"[ "$1" = check ] && exec "$restic" "$@" --limit-download 1 >/dev/null 2>&1
exec "$restic" "$@""#,
    );
    let restics: Vec<u32> = descendants(s.d.pid());
    assert_eq!(restics.len(), 1, "{restics:?}");
    let dir = s.d.kill();
    // Fully reaped, not a zombie: restic counts a zombie's lock as held (signal 0 succeeds).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while restics
        .iter()
        .any(|p| std::path::Path::new(&format!("/proc/{p}")).exists())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "restic still running after its daemon was killed: {restics:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // restic may leave its lock behind (it was stopped mid-request); the restart removes it,
    // which `restic unlock` does only for locks of processes that are gone.
    let d = Daemon::spawn(dir, &s.opts);
    assert_eq!(interrupted_check(&d)["status"], "STATUS_ERROR");
    d.wait_for("no lock left", Duration::from_secs(30), || {
        (lock_count(&s.repo) == 0).then_some(())
    });
    d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_PRUNE"}),
    );
    drop(s.work);
}

/// A `commandPrefix`-style wrapper that forks restic (and ignores SIGINT itself) keeps restic
/// alive after footrest is killed. The next start stops that restic before it unlocks, so the
/// lock goes and the repo works (a lock of a live process survives `restic unlock`).
#[test]
fn restic_left_running_by_a_killed_daemon_is_stopped_at_the_next_start_before_unlocking() {
    let s = slow_check(
        r#"if [ "$1" = check ]; then
  trap '' INT
  "$restic" "$@" --limit-download 1 >/dev/null 2>&1
else
  exec "$restic" "$@"
fi"#,
    );
    let started: Vec<u32> = descendants(s.d.pid());
    assert_eq!(started.len(), 2, "the wrapper and its restic: {started:?}");
    let dir = s.d.kill();
    // The wrapper ignores the kernel's SIGINT and its restic gets none: both run on.
    assert!(started.iter().all(|p| !gone(*p)), "{started:?}");

    let d = Daemon::spawn(dir, &s.opts);
    assert!(
        d.log().contains("an earlier footrest left running"),
        "{}",
        d.log()
    );
    wait_gone(&started, "the leftovers after the restart");
    assert_eq!(interrupted_check(&d)["status"], "STATUS_ERROR");
    d.wait_for("no lock left", Duration::from_secs(30), || {
        (lock_count(&s.repo) == 0).then_some(())
    });
    d.ok(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_PRUNE"}),
    );
    drop(s.work);
}

#[test]
fn sigterm_mid_backup_stops_within_the_grace_period_and_says_why() {
    let work = TempDir::new("term");
    let src = work.path().join("src");
    make_source(&src);
    for i in 0..8 {
        std::fs::write(
            src.join(format!("big{i}.bin")),
            pseudo_random(40 << 20, i + 200),
        )
        .unwrap();
    }
    let mut d = Daemon::start_with(Opts {
        args: vec!["--shutdown-grace".into(), "1".into()],
        ..Default::default()
    });
    let repo = work.path().join("repo");
    add_repo(&d, "repo1", &repo);
    set_plans(
        &d,
        vec![json!({"id": "plan1", "repo": "repo1", "paths": [src]})],
    );
    let port = d.port;
    let call = backup_in_background(port, "plan1");
    let id = running_backup(&d, "plan1");
    let t = std::time::Instant::now();
    let status = d.stop();
    assert!(status.success(), "exit 0: {status:?}");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "stopped in {:?}",
        t.elapsed()
    );
    let r = call.join().unwrap();
    assert!(
        r.status == 503 || r.status == 499,
        "the waiting call is answered: {}",
        r.status
    );
    let d = Daemon::spawn(
        std::mem::replace(&mut d.dir, TempDir(Default::default())),
        &Opts::default(),
    );
    let op = &ops_of(&d, json!({"ids": [id]}))[0];
    assert_eq!(op["status"], "STATUS_SYSTEM_CANCELLED", "{op}");
    assert!(
        op["displayMessage"]
            .as_str()
            .unwrap()
            .contains("footrest stopped"),
        "{op}"
    );
    assert_eq!(lock_count(&repo), 0);
}

#[test]
fn a_task_on_a_repo_locked_by_another_process_reports_the_lock() {
    let s = setup_with_plan(json!({}));
    // Another restic holds a lock: a backup from stdin that waits for data which never comes.
    let mut other = std::process::Command::new(restic_bin())
        .args(["backup", "--stdin", "--stdin-filename", "held"])
        .env("RESTIC_REPOSITORY", &s.repo)
        .env("RESTIC_PASSWORD", PASSWORD)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    s.d.wait_for("the other restic's lock", Duration::from_secs(20), || {
        (lock_count(&s.repo) > 0).then_some(())
    });
    let (st, v) = s.d.rpc(
        "DoRepoTask",
        json!({"repoId": "repo1", "task": "TASK_PRUNE"}),
    );
    let _ = other.kill();
    let _ = other.wait();
    assert_eq!(st, 500, "{v}");
    assert!(v["message"].as_str().unwrap().contains("locked"), "{v}");
}

#[test]
fn the_ops_cli_reads_the_history_while_the_daemon_runs() {
    let s = setup_with_plan(json!({}));
    s.d.ok("Backup", json!({"value": "plan1"}));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_footrest"))
        .arg("--data-dir")
        .arg(s.d.data_dir())
        .args(["ops", "--plan", "plan1", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "the backup and its index: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|o| o["status"] == "STATUS_SUCCESS" && o.get("operationBackup").is_some())
    );
    let table = std::process::Command::new(env!("CARGO_BIN_EXE_footrest"))
        .arg("--data-dir")
        .arg(s.d.data_dir())
        .arg("ops")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&table.stdout).contains("plan1"));
}

/// After a crash on a full disk the repair of the history cannot be written: footrest starts
/// anyway, serves the history as it is, and finishes the repair once space returns.
#[test]
fn a_full_disk_after_a_crash_does_not_stop_the_daemon_and_the_repair_finishes_later() {
    use footrest::model::{Operation, OperationBackup, OperationStatus};
    let dir = TempDir::new("fullstart");
    let oplog_dir = dir.path().join("data").join("oplog");
    let id = {
        let log = footrest::oplog::OpLog::open(&oplog_dir).unwrap();
        let mut op = Operation {
            plan_id: "plan1".into(),
            repo_id: "repo1".into(),
            status: OperationStatus::InProgress,
            unix_time_start_ms: 1_700_000_000_000,
            // Long enough that the segment is bigger than anything else startup writes.
            display_message: "x".repeat(4000),
            operation_backup: Some(OperationBackup::default()),
            ..Default::default()
        };
        log.add(&mut op).unwrap();
        op.id
    };
    let segment = oplog_dir.join("000001.ndjson");
    let size = std::fs::metadata(&segment).unwrap().len();
    let d = Daemon::spawn(
        dir,
        &Opts {
            fsize: Some(size),
            ..Opts::default()
        },
    );
    // Serving: the history as it was, with the operation not yet repaired.
    let op = ops_of(&d, json!({"ids": [id]})).remove(0);
    assert_eq!(op["status"], "STATUS_INPROGRESS");
    assert!(
        d.log()
            .contains("cannot mark the operations a restart interrupted"),
        "{}",
        d.log()
    );
    // Space comes back.
    set_fsize(d.pid(), None);
    let op = d.wait_for("the repair written", Duration::from_secs(30), || {
        ops_of(&d, json!({"ids": [id]}))
            .into_iter()
            .find(|o| o["status"] == "STATUS_ERROR")
    });
    assert_eq!(
        op["displayMessage"],
        "Operation was incomplete when orchestrator was restarted."
    );
}

fn set_fsize(pid: u32, limit: Option<u64>) {
    let v = limit.map_or(libc::RLIM_INFINITY, |n| n as libc::rlim_t);
    let r = libc::rlimit {
        rlim_cur: v,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit for a child process of ours.
    let rc = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_FSIZE,
            &r,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(rc, 0, "prlimit: {}", std::io::Error::last_os_error());
}

/// The disk fills while a backup runs: the Backup call says its record could not be written
/// (not a plain success), and the final state is written once space returns.
#[test]
fn a_full_disk_at_a_backups_end_is_reported_and_the_record_written_when_space_returns() {
    let s = setup_with_plan(json!({}));
    big_source(&s, 3);
    // footrest ignores SIGXFSZ: past the limit its writes fail as on a full disk.
    let d = &s.d;
    let port = d.port;
    let call = backup_in_background(port, "plan1");
    let id = running_backup(d, "plan1");
    // restic was started before the limit: only the daemon's own writes are refused.
    let segments: Vec<_> = std::fs::read_dir(d.data_dir().join("oplog"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "ndjson"))
        .collect();
    let newest = segments.iter().max().unwrap();
    set_fsize(d.pid(), Some(std::fs::metadata(newest).unwrap().len()));
    let answer = call.join().unwrap();
    assert_eq!(
        answer.status,
        429,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let e = answer.json();
    assert_eq!(e["code"], "resource_exhausted");
    assert!(
        e["message"]
            .as_str()
            .unwrap()
            .contains("could not be written"),
        "{e}"
    );
    assert_eq!(
        snapshot_ids(&s.repo).len(),
        1,
        "the snapshot itself was saved"
    );
    let op = ops_of(d, json!({"ids": [id]})).remove(0);
    assert_eq!(
        op["status"], "STATUS_INPROGRESS",
        "nothing newer reached the disk"
    );

    set_fsize(d.pid(), None);
    let op = d.wait_for("the final state written", Duration::from_secs(30), || {
        ops_of(d, json!({"ids": [id]}))
            .into_iter()
            .find(|o| o["status"] == "STATUS_SUCCESS")
    });
    assert_eq!(op["snapshotId"], snapshot_ids(&s.repo)[0]);
}
