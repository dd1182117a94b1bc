//! The config file on a full disk.
//!
//! The child process is this test binary run again with `FOOTREST_CONFIG_CHILD` set: the
//! `child` test then saves configs under a file size limit instead of being a no-op.

use footrest::config::{Config, ConfigStore};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const CHILD: &str = "FOOTREST_CONFIG_CHILD";

fn backups(dir: &Path) -> Vec<(String, Vec<u8>, u32)> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.file_name().to_string_lossy().contains(".bak."))
        .map(|e| {
            let meta = e.metadata().unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
                meta.permissions().mode() & 0o777,
            )
        })
        .collect();
    v.sort();
    v
}

fn config_of(size: usize, modno: i32) -> Config {
    let mut c: Config =
        serde_json::from_str(r#"{"instance": "host", "auth": {"disabled": true}}"#).unwrap();
    c.modno = modno;
    c.extra.insert(
        "padding".into(),
        serde_json::Value::String("x".repeat(size)),
    );
    c
}

fn set_file_size_limit(bytes: u64) {
    let lim = libc::rlimit {
        rlim_cur: bytes as libc::rlim_t,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: a valid rlimit struct for this process.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_FSIZE, &lim) }, 0);
}

fn full_disk_child(dir: &Path) {
    // SAFETY: setting a signal disposition of this process.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    let path = dir.join("config.json");
    let store = ConfigStore::new(path.clone());
    for modno in 1..=3 {
        store.save(&config_of(1000, modno)).unwrap();
    }
    // Left by an older version on a full disk: incomplete, and older than every good backup.
    for stamp in 1..=12 {
        std::fs::write(dir.join(format!("config.json.bak.{stamp}")), b"").unwrap();
    }
    let good = backups(dir)
        .into_iter()
        .filter(|b| !b.1.is_empty())
        .collect::<Vec<_>>();
    assert_eq!(good.len(), 2);
    let current = std::fs::read(&path).unwrap();

    // No room even for the backup of the current file.
    set_file_size_limit(500);
    for modno in 10..25 {
        let e = store.save(&config_of(100, modno)).unwrap_err().to_string();
        assert!(e.contains("config.json"), "{e}");
    }
    // Room for the backup, not for the bigger new config.
    set_file_size_limit(4000);
    for modno in 30..45 {
        store.save(&config_of(8000, modno)).unwrap_err();
    }
    assert_eq!(std::fs::read(&path).unwrap(), current);
    let after: Vec<_> = backups(dir);
    assert_eq!(after.len(), 14, "failed saves left files: {after:?}");
    assert!(
        after.iter().all(|b| !b.0.starts_with('.')),
        "temp files left: {after:?}"
    );

    // Space comes back; the file being copied is world-readable.
    set_file_size_limit(u64::MAX);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    store.save(&config_of(1000, 50)).unwrap();
    assert_eq!(store.load().unwrap().modno, 50);
    let after = backups(dir);
    let names: Vec<_> = after.iter().map(|b| b.0.clone()).collect();
    assert_eq!(after.len(), 3, "incomplete backups not removed: {names:?}");
    for (name, body, mode) in &after {
        assert!(
            serde_json::from_slice::<serde_json::Value>(body).is_ok(),
            "{name}"
        );
        assert_eq!(*mode, 0o600, "{name}");
    }
    assert!(good.iter().all(|g| names.contains(&g.0)), "{names:?}");
    assert_eq!(after.last().unwrap().1, current);
    println!("CONFIG-FULL-DISK-OK");
}

#[test]
fn config_save_on_a_full_disk_leaves_no_incomplete_backup_and_keeps_good_ones() {
    let dir = std::env::temp_dir().join(format!("footrest-configfull-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &dir)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("CONFIG-FULL-DISK-OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The child side of the test above; a no-op in a normal test run.
#[test]
fn child() {
    let Some(dir) = std::env::var_os(CHILD) else {
        return;
    };
    full_disk_child(&PathBuf::from(dir));
}
