//! Repo passwords stay out of restic's argv, the daemon's logs (at debug level), error messages
//! and operations.

use crate::common::*;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

/// Every argv restic was started with (the wrapper records them) and, while a backup runs, the
/// live `/proc/<pid>/cmdline` of the daemon's descendants.
#[test]
fn repo_passwords_never_reach_argv_logs_or_messages() {
    let work = TempDir::new("secrets");
    let argv_log = work.path().join("argv.log");
    let wrapper = restic_wrapper(
        &work.path().join("restic-wrapper"),
        &format!("printf '%s\\n' \"$*\" >> '{}'", argv_log.display()),
    );
    let src = work.path().join("src");
    make_source(&src);
    // Enough data that the backup runs for a moment while /proc is sampled.
    std::fs::write(src.join("big.bin"), pseudo_random(32 << 20, 3)).unwrap();

    let d = Daemon::start_with(Opts {
        restic: wrapper,
        ..Default::default()
    });
    add_repo(&d, "repo1", &work.path().join("repo"));
    // A second repo whose password is wrong: its failure messages must not echo it.
    let wrong_pw = "wrong-pw-9f8e7d";
    let (status, v) = d.rpc(
        "AddRepo",
        json!({"repo": {"id": "repo2", "uri": work.path().join("repo").to_str().unwrap(),
                         "password": wrong_pw}}),
    );
    assert_ne!(status, 200);
    assert!(!v.to_string().contains(wrong_pw), "{v}");
    set_plans(
        &d,
        vec![json!({"id": "plan1", "repo": "repo1", "paths": [src.to_str().unwrap()]})],
    );

    let daemon_pid = d.child.as_ref().unwrap().id();
    let sampler = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for _ in 0..400 {
            for pid in descendants(daemon_pid) {
                if let Ok(c) = std::fs::read(format!("/proc/{pid}/cmdline")) {
                    seen.push(String::from_utf8_lossy(&c).replace('\0', " "));
                }
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        seen
    });
    d.ok("Backup", json!({"value": "plan1"}));
    let seen = sampler.join().unwrap();

    let argv = std::fs::read_to_string(&argv_log).unwrap();
    assert!(argv.lines().any(|l| l.starts_with("backup")), "{argv}");
    assert!(
        !argv.contains(PASSWORD),
        "restic argv shows the password:\n{argv}"
    );
    assert!(!argv.contains(wrong_pw));
    eprintln!("sampled {} live command lines", seen.len());
    for c in &seen {
        assert!(
            !c.contains(PASSWORD),
            "a live cmdline shows the password: {c}"
        );
    }
    let ops = d.operations(json!({}));
    let all = serde_json::to_string(&ops).unwrap();
    assert!(!all.contains(PASSWORD) && !all.contains(wrong_pw));
    let log = d.log();
    assert!(log.contains("DEBUG"), "the daemon logs at debug level");
    assert!(!log.contains(PASSWORD), "the log shows the password");
    assert!(!log.contains(wrong_pw), "the log shows the password");
    let mode = std::fs::metadata(d.config_path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}
