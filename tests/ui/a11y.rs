//! Accessibility: every view passes axe-core's checks (no serious or critical violations) at
//! both widths and in both colour schemes, with real data, errors and open panels in them.

use crate::common::{Daemon, Opts, PASSWORD, TempDir, basic_auth};
use crate::scenario::run_scenario;
use crate::setup::small_source;
use serde_json::json;

/// admin / footrest-demo (bcrypt, base64), as in tests/fixtures/backrest-config.json.
const ADMIN_HASH: &str =
    "JDJhJDEwJHYzdlp4Ri41cERyb3gvTkUuLldMMHUyd1FPcEhZeVMvQmt6T1h3Qm8yazlhaGJDSXFOWlRD";

/// A daemon with login on (admin / footrest-demo); API calls through `ok` authenticate.
fn daemon_with_login() -> Daemon {
    let mut d = Daemon::start_with(Opts {
        config: Some(json!({
            "modno": 1, "version": 6, "instance": "ui-test",
            "auth": {"disabled": false, "users": [{"name": "admin", "passwordBcrypt": ADMIN_HASH}]},
        })),
        ..Default::default()
    });
    d.auth = Some(basic_auth("admin", "footrest-demo"));
    d
}

#[test]
fn every_view_passes_accessibility_checks_at_phone_and_desktop_in_light_and_dark() {
    let work = TempDir::new("ui-a11y");
    let source = small_source(work.path());
    let fresh = Daemon::start();
    let d = daemon_with_login();
    d.ok(
        "AddRepo",
        json!({"repo": {"id": "local", "uri": work.path().join("repo"), "password": PASSWORD}}),
    );
    let mut c = d.ok("GetConfig", json!({}));
    c["plans"] = json!([
        {
            "id": "documents", "repo": "local", "paths": [source],
            "schedule": {"cron": "0 2 * * *", "clock": "CLOCK_LOCAL"},
            "hooks": [{
                "conditions": ["CONDITION_SNAPSHOT_END"],
                "actionCommand": {"command": "echo done"},
            }],
        },
        {
            "id": "broken", "repo": "local", "paths": [work.path().join("missing")],
            "schedule": {"disabled": true},
        },
    ]);
    d.ok("SetConfig", c);
    d.ok("Backup", json!({"value": "documents"}));
    // Fails: its only path does not exist. The error shows on the dashboard and operations.
    let _ = d.rpc("Backup", json!({"value": "broken"}));

    let setup_url = format!("http://127.0.0.1:{}", fresh.port);
    run_scenario("accessibility", &d, &[("SETUP_URL", &setup_url)]);
}

#[test]
fn keyboard_reaches_the_login_fields_in_order_and_the_skip_link_moves_focus_to_main() {
    let d = daemon_with_login();
    run_scenario("keyboard", &d, &[]);
}
