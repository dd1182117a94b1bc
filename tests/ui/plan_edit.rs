//! The plan editor refuses what the daemon refuses, shows why next to the field, and leaves
//! the config alone.

use crate::common::{TempDir, int};
use crate::scenario::run_scenario;
use crate::setup::{daemon_with_plan, small_source};
use serde_json::json;

#[test]
fn invalid_cron_shows_error_next_to_schedule_and_saves_nothing() {
    let work = TempDir::new("ui-cron");
    let source = small_source(work.path());
    let d = daemon_with_plan(work.path(), &source);

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
