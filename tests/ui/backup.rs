//! Backups and restores driven through the UI against real restic, checked byte for byte on
//! disk; the dashboard and operations views with a backup in them, at both widths and in both
//! colour schemes.

use crate::common::{Daemon, TempDir};
use crate::scenario::{artifacts_dir, run_scenario};
use crate::setup::{daemon_with_plan, small_source};
use serde_json::json;
use std::io::Read;
use std::path::Path;

/// Big enough that restic 0.14 takes a few seconds on it (so its progress shows on the
/// dashboard), small enough to keep the test well under a minute.
const BIG_FILE: u64 = 256 << 20;

/// The file the scenario restores and downloads, below the source dir.
const NESTED: &str = "docs/notes/2024/plan.txt";

/// A source tree: nested dirs with a few small files of known content, and one big file of
/// random bytes.
fn make_source(dir: &Path) {
    for (rel, text) in [
        (
            "readme.txt",
            "the source of a footrest UI test\n".to_string(),
        ),
        ("docs/todo.txt", "1. back up\n2. restore\n".to_string()),
        (
            NESTED,
            (1..=200)
                .map(|i| format!("line {i}: the quick brown fox\n"))
                .collect(),
        ),
        ("docs/notes/empty.txt", String::new()),
    ] {
        let p = dir.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    std::fs::create_dir_all(dir.join("media")).unwrap();
    let mut random = std::fs::File::open("/dev/urandom").unwrap().take(BIG_FILE);
    let mut big = std::fs::File::create(dir.join("media/big.bin")).unwrap();
    assert_eq!(std::io::copy(&mut random, &mut big).unwrap(), BIG_FILE);
}

#[test]
fn first_run_to_a_backup_with_live_progress_and_a_restored_and_downloaded_file() {
    let work = TempDir::new("ui-backup");
    let source = work.path().join("source");
    make_source(&source);
    let file = source.join(NESTED);
    let repo = work.path().join("repo");
    let target = work.path().join("restored");
    let downloaded = work.path().join("downloaded.txt");
    let d = Daemon::start();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    run_scenario(
        "first-run-to-restored-file",
        &d,
        &[
            ("REPO_PATH", &s(&repo)),
            ("SOURCE", &s(&source)),
            ("FILE", &s(&file)),
            ("RESTORE_TARGET", &s(&target)),
            ("DOWNLOAD_TO", &s(&downloaded)),
        ],
    );

    let want = std::fs::read(&file).unwrap();
    // The chosen item lands directly under the target, alone.
    let restored = target.join("plan.txt");
    assert_eq!(
        std::fs::read(&restored).unwrap_or_else(|e| panic!("{}: {e}", restored.display())),
        want,
        "the restored file has the source's bytes"
    );
    let names: Vec<_> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert_eq!(names, ["plan.txt"], "only the chosen file was restored");
    assert_eq!(
        std::fs::read(&downloaded).unwrap(),
        want,
        "the downloaded file has the source's bytes"
    );
    assert!(
        repo.join("config").is_file(),
        "the repo editor initialised a restic repository at {}",
        repo.display()
    );
    let png = std::fs::read(
        artifacts_dir("first-run-to-restored-file").join("desktop-dashboard-backup-running.png"),
    )
    .expect("a screenshot of the running backup");
    assert!(png.starts_with(b"\x89PNG"));
}

#[test]
fn dashboard_and_operations_with_a_backup_at_phone_and_desktop_widths_in_light_and_dark() {
    let work = TempDir::new("ui-shots");
    let source = small_source(work.path());
    let d = daemon_with_plan(work.path(), &source);
    d.ok("Backup", json!({"value": "documents"}));

    run_scenario("dashboard-and-operations-screenshots", &d, &[]);
    let dir = artifacts_dir("dashboard-and-operations-screenshots");
    for preset in ["phone", "desktop"] {
        for scheme in ["light", "dark"] {
            for view in ["dashboard", "operations"] {
                let shot = dir.join(format!("{preset}-{scheme}-{view}.png"));
                let png =
                    std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
                assert!(png.starts_with(b"\x89PNG"), "{}", shot.display());
            }
        }
    }
}
