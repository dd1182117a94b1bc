//! The plan editor refuses what the daemon refuses, shows why next to the field, and leaves
//! the config alone.

use crate::common::{Daemon, PASSWORD, TempDir, int};
use crate::scenario::run_scenario;
use serde_json::json;

#[test]
fn invalid_cron_shows_error_next_to_schedule_and_saves_nothing() {
    let work = TempDir::new("ui-cron");
    let source = work.path().join("source");
    std::fs::create_dir_all(&source).unwrap();
    let d = Daemon::start();
    let mut c = d.ok("GetConfig", json!({}));
    c["instance"] = json!("ui-test");
    c["auth"] = json!({"disabled": true});
    d.ok("SetConfig", c);
    d.ok(
        "AddRepo",
        json!({"repo": {"id": "local", "uri": work.path().join("repo"), "password": PASSWORD}}),
    );
    let mut c = d.ok("GetConfig", json!({}));
    c["plans"] = json!([{
        "id": "documents", "repo": "local", "paths": [source],
        "schedule": {"cron": "0 2 * * *", "clock": "CLOCK_LOCAL"},
    }]);
    d.ok("SetConfig", c);

    let before = std::fs::read(d.config_path()).unwrap();
    let modno = int(&d.ok("GetConfig", json!({}))["modno"]);
    assert!(modno > 0);

    run_scenario("invalid-cron", &d, &[]);

    assert!(
        std::fs::read(d.config_path()).unwrap() == before,
        "config.json is byte for byte what it was"
    );
    let after = d.ok("GetConfig", json!({}));
    assert_eq!(int(&after["modno"]), modno, "modno unchanged");
    assert_eq!(
        after["plans"][0]["schedule"]["cron"], "0 2 * * *",
        "{after}"
    );
}
