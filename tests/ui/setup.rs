//! Data the scenarios start from, set up through the API.

use crate::common::{Daemon, PASSWORD};
use serde_json::json;
use std::path::{Path, PathBuf};

/// A small source tree under `dir`: `a.txt` and `sub/b.txt`.
pub fn small_source(dir: &Path) -> PathBuf {
    let source = dir.join("source");
    std::fs::create_dir_all(source.join("sub")).unwrap();
    std::fs::write(source.join("a.txt"), b"a small file\n").unwrap();
    std::fs::write(source.join("sub/b.txt"), b"another one\n").unwrap();
    source
}

/// A daemon past its first run (instance "ui-test", no login) with repo "local" under `dir`
/// and plan "documents" backing up `source` at 02:00 every day.
pub fn daemon_with_plan(dir: &Path, source: &Path) -> Daemon {
    let d = Daemon::start();
    let mut c = d.ok("GetConfig", json!({}));
    c["instance"] = json!("ui-test");
    c["auth"] = json!({"disabled": true});
    d.ok("SetConfig", c);
    d.ok(
        "AddRepo",
        json!({"repo": {"id": "local", "uri": dir.join("repo"), "password": PASSWORD}}),
    );
    let mut c = d.ok("GetConfig", json!({}));
    c["plans"] = json!([{
        "id": "documents", "repo": "local", "paths": [source],
        "schedule": {"cron": "0 2 * * *", "clock": "CLOCK_LOCAL"},
    }]);
    d.ok("SetConfig", c);
    d
}
