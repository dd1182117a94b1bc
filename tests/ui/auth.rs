//! First run (setup form) and the login gate, checked in the browser and then against the
//! daemon's config file and API.

use crate::common::{Daemon, http};
use crate::scenario::{artifacts_dir, run_scenario};
use serde_json::Value;

fn config_on_disk(d: &Daemon) -> Value {
    let text = std::fs::read_to_string(d.config_path()).expect("setup wrote config.json");
    serde_json::from_str(&text).expect("config.json is JSON")
}

/// GetConfig with `authorization` (or none): the HTTP status.
fn get_config_status(d: &Daemon, authorization: Option<&str>) -> u16 {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    http(d.port, "POST", "/v1.Backrest/GetConfig", &headers, b"{}").status
}

#[test]
fn first_run_creates_a_user_and_wrong_password_is_rejected_and_logout_returns_to_the_gate() {
    let d = Daemon::start();
    assert!(
        !d.config_path().exists(),
        "a fresh daemon has no config.json"
    );
    let config = d.config_path().to_string_lossy().into_owned();
    let out = run_scenario("auth", &d, &[("FOOTREST_CONFIG", &config)]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let token = stdout
        .lines()
        .find_map(|l| l.strip_prefix("TOKEN="))
        .expect("the scenario prints the browser's token")
        .trim()
        .to_string();

    let c = config_on_disk(&d);
    assert_eq!(c["instance"], "ui-test", "{c}");
    assert_ne!(c["auth"]["disabled"], true, "{c}");
    let users = c["auth"]["users"].as_array().expect("auth.users");
    assert_eq!(users.len(), 1, "{c}");
    assert_eq!(users[0]["name"], "alice");
    let stored = users[0]["passwordBcrypt"].as_str().expect("passwordBcrypt");
    use base64::Engine;
    let hash = base64::engine::general_purpose::STANDARD
        .decode(stored)
        .expect("passwordBcrypt is base64");
    let hash = String::from_utf8(hash).expect("a bcrypt string");
    assert!(hash.starts_with("$2"), "a bcrypt hash: {hash}");
    assert!(bcrypt::verify("correct horse battery", &hash).unwrap());
    assert!(!bcrypt::verify("short", &hash).unwrap());
    assert!(
        !std::fs::read_to_string(d.config_path())
            .unwrap()
            .contains("correct horse battery"),
        "the password itself is not on disk"
    );

    assert_eq!(get_config_status(&d, None), 401, "no token: refused");
    assert_eq!(
        get_config_status(&d, Some("Bearer not-a-token")),
        401,
        "a made-up token: refused"
    );
    assert_eq!(
        get_config_status(&d, Some(&format!("Bearer {token}"))),
        200,
        "the token the browser stored works"
    );

    let dir = artifacts_dir("auth");
    for preset in ["phone", "desktop"] {
        for scheme in ["light", "dark"] {
            let shot = dir.join(format!("{preset}-{scheme}-login.png"));
            let png = std::fs::read(&shot).unwrap_or_else(|e| panic!("{}: {e}", shot.display()));
            assert!(png.starts_with(b"\x89PNG"));
        }
    }
}

#[test]
fn first_run_without_a_login_saves_auth_disabled_and_shows_no_gate() {
    let d = Daemon::start();
    assert!(
        !d.config_path().exists(),
        "a fresh daemon has no config.json"
    );
    let config = d.config_path().to_string_lossy().into_owned();
    run_scenario("setup-no-login", &d, &[("FOOTREST_CONFIG", &config)]);
    let c = config_on_disk(&d);
    assert_eq!(c["instance"], "ui-test", "{c}");
    assert_eq!(c["auth"]["disabled"], true, "{c}");
    assert!(
        c["auth"]["users"].as_array().is_none_or(|u| u.is_empty()),
        "{c}"
    );
    assert_eq!(get_config_status(&d, None), 200, "no token needed");
}

#[test]
fn api_keys_are_created_used_and_revoked_from_settings() {
    use crate::common::{Opts, basic_auth};
    // admin / footrest-demo (bcrypt, base64), as in tests/fixtures/backrest-config.json.
    let hash = "JDJhJDEwJHYzdlp4Ri41cERyb3gvTkUuLldMMHUyd1FPcEhZeVMvQmt6T1h3Qm8yazlhaGJDSXFOWlRD";
    let d = Daemon::start_with(Opts {
        config: Some(serde_json::json!({
            "modno": 1, "version": 6, "instance": "ui-test",
            "auth": {"users": [{"name": "admin", "passwordBcrypt": hash}]},
        })),
        ..Default::default()
    });
    let out = run_scenario("api-keys", &d, &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let key = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KEY="))
        .expect("the scenario prints the key")
        .trim()
        .to_string();
    assert_eq!(
        get_config_status(&d, Some(&format!("Bearer {key}"))),
        401,
        "revoked"
    );
    let admin = basic_auth("admin", "footrest-demo");
    let listed = http(
        d.port,
        "POST",
        "/v1.Footrest/ListApiKeys",
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &admin),
        ],
        b"{}",
    );
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["keys"], serde_json::json!([]));
}
