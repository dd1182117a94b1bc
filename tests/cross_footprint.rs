//! The footprint budget: the static x86_64 musl release binary, with the default `tls` feature,
//! stays within 2.5 MB (2,500,000 bytes; BENCHMARKS.md, Footprint). It is built with
//! cross/build.sh, the same route as the release binaries, into its own target dir (a few minutes
//! the first time, std included, cached after). The build downloads and compiles a toolchain's
//! std, so it is opt-in: it runs with FOOTREST_CROSS=1, which tests/run.sh (CI) sets.
//!
//! Also holds `seed_history`, an ignored test that cross/footprint.sh runs to write a 10k-operation
//! history through the oplog's own API.

use footrest::model::{Operation, OperationBackup, OperationIndexSnapshot, OperationStatus};
use footrest::oplog::OpLog;
use std::path::PathBuf;
use std::process::Command;

const BUDGET: u64 = 2_500_000;

#[test]
fn x86_64_musl_binary_fits_the_size_budget() {
    if std::env::var_os("FOOTREST_CROSS").is_none_or(|v| v != "1") {
        eprintln!("skipped: the cross build runs with FOOTREST_CROSS=1 (tests/run.sh sets it)");
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let target_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir")
        .join("footprint");
    let out = Command::new("bash")
        .arg(root.join("cross/build.sh"))
        .args(["--no-check", "x86_64"])
        .env("CARGO_TARGET_DIR", &target_dir)
        .output()
        .expect("cross/build.sh runs");
    assert!(
        out.status.success(),
        "cross/build.sh failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bin = target_dir.join("cross/x86_64-unknown-linux-musl/footrest");
    let size = std::fs::metadata(&bin).unwrap().len();
    eprintln!(
        "x86_64 musl, tls: {size} bytes ({:.2} MiB), budget {BUDGET}",
        size as f64 / 1048576.0
    );
    assert!(
        size <= BUDGET,
        "the x86_64 musl binary is {size} bytes, over the {BUDGET}-byte budget"
    );
    let file = Command::new("file").arg(&bin).output();
    if let Ok(f) = file {
        let text = String::from_utf8_lossy(&f.stdout);
        assert!(text.contains("statically linked"), "{text}");
        assert!(
            text.contains("stripped") && !text.contains("not stripped"),
            "{text}"
        );
    }
}

/// Writes FOOTREST_SEED_COUNT operations into the data dir FOOTREST_SEED_DIR/data: finished
/// backups, each with the index-snapshot operation of its snapshot in the same flow, as a backup
/// run leaves them. History GC keeps flows whose snapshot is still in the repository, so the
/// daemon keeps all of them at startup (backups alone would be cut to the last 100 of 30 days).
#[test]
#[ignore = "a tool for cross/footprint.sh"]
fn seed_history() {
    let dir = PathBuf::from(std::env::var_os("FOOTREST_SEED_DIR").expect("FOOTREST_SEED_DIR"));
    let count: i64 = std::env::var("FOOTREST_SEED_COUNT")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(10_000);
    let log = OpLog::open(&dir.join("data/oplog")).unwrap();
    let start = 1_700_000_000_000i64;
    for i in 0..count / 2 {
        let base = Operation {
            plan_id: format!("plan{}", i % 4),
            repo_id: "repo1".into(),
            instance_id: "footprint".into(),
            snapshot_id: format!("{:064x}", i),
            status: OperationStatus::Success,
            unix_time_start_ms: start + i * 3_600_000,
            unix_time_end_ms: start + i * 3_600_000 + 42_000,
            ..Default::default()
        };
        let mut backup = Operation {
            operation_backup: Some(OperationBackup::default()),
            ..base.clone()
        };
        log.add(&mut backup).unwrap();
        let mut index = Operation {
            flow_id: backup.flow_id,
            operation_index_snapshot: Some(OperationIndexSnapshot::default()),
            ..base
        };
        log.add(&mut index).unwrap();
    }
}
