//! Authentication (docs/COMPATIBILITY.md §4) as a client sees it: every route of the router, Basic and
//! tokens, the credential cache, the slowdown of failed attempts, HashPassword and the CLI.

use crate::common::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

/// admin / footrest-demo, as in tests/fixtures/backrest-config.json.
const ADMIN_HASH: &str =
    "JDJhJDEwJHYzdlp4Ri41cERyb3gvTkUuLldMMHUyd1FPcEhZeVMvQmt6T1h3Qm8yazlhaGJDSXFOWlRD";
const ADMIN_PW: &str = "footrest-demo";

fn config_with_users(users: Value, disabled: bool) -> Value {
    // modno 5: a stray SetConfig `{}` (modno 0) from the route walk is refused, not applied.
    json!({
        "modno": 5,
        "version": 6,
        "instance": "auth-test",
        "auth": {"disabled": disabled, "users": users},
    })
}

fn auth_daemon(users: Value) -> Daemon {
    Daemon::start_with(Opts {
        config: Some(config_with_users(users, false)),
        ..Default::default()
    })
}

/// POST `{}` (or `body`) to `path` with an optional Authorization header.
fn call(d: &Daemon, path: &str, authorization: Option<&str>, body: &str) -> HttpResponse {
    let mut headers = vec![("Content-Type", "application/json")];
    if let Some(a) = authorization {
        headers.push(("Authorization", a));
    }
    d.request("POST", path, &headers, body.as_bytes())
}

fn login(d: &Daemon, user: &str, password: &str) -> HttpResponse {
    call(
        d,
        "/v1.Authentication/Login",
        None,
        &json!({"username": user, "password": password}).to_string(),
    )
}

fn token_of(d: &Daemon, user: &str, password: &str) -> String {
    let r = login(d, user, password);
    assert_eq!(r.status, 200, "login: {:?}\n{}", r.json(), d.log());
    r.json()["token"].as_str().unwrap().to_string()
}

fn jwt_secret(d: &Daemon) -> [u8; 64] {
    std::fs::read(d.data_dir().join("jwt-secret"))
        .unwrap()
        .try_into()
        .unwrap()
}

fn protected_routes() -> Vec<String> {
    let routes: Vec<String> = footrest::api::routes()
        .into_iter()
        .filter(|(_, public)| !public)
        .map(|(p, _)| p)
        .collect();
    assert!(routes.len() >= 20, "{routes:?}");
    routes
}

fn assert_unauthenticated(r: &HttpResponse, what: &str, path: &str) {
    assert_eq!(r.status, 401, "{what} on {path}: {:?}", r.json());
    assert_eq!(r.json()["code"], "unauthenticated", "{what} on {path}");
}

#[test]
fn every_protected_route_needs_good_credentials() {
    let bob_hash = footrest::auth::hash_password("bob-pass").unwrap();
    let mut d = auth_daemon(json!([
        {"name": "admin", "passwordBcrypt": ADMIN_HASH},
        {"name": "bob", "passwordBcrypt": bob_hash},
    ]));
    let admin_token = token_of(&d, "admin", ADMIN_PW);
    let bob_token = token_of(&d, "bob", "bob-pass");
    let keys = footrest::auth::Authenticator::with_secret(jwt_secret(&d)).unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = format!("Bearer {}", keys.sign_token("admin", ADMIN_HASH, now - 10));
    let ghost = format!(
        "Bearer {}",
        keys.sign_token("ghost", ADMIN_HASH, now + 3600)
    );
    let parts: Vec<&str> = admin_token.split('.').collect();
    let forged_claims = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":99999999999}"#);
    let tampered = format!("Bearer {}.{forged_claims}.{}", parts[0], parts[2]);
    let mut bad_sig = parts[2].to_string();
    bad_sig.replace_range(0..1, if bad_sig.starts_with('A') { "B" } else { "A" });
    let bad_signature = format!("Bearer {}.{}.{bad_sig}", parts[0], parts[1]);
    let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let alg_none = format!("Bearer {none_header}.{}.", parts[1]);
    let alg_none_signed = format!("Bearer {none_header}.{}.{}", parts[1], parts[2]);
    let good_basic = basic_auth("admin", ADMIN_PW);
    let good_bearer = format!("Bearer {admin_token}");
    let bob_bearer = format!("Bearer {bob_token}");

    for path in protected_routes() {
        assert_unauthenticated(&call(&d, &path, None, "{}"), "no credentials", &path);
        for (what, a) in [
            ("an expired token", &expired),
            ("a token of an unknown user", &ghost),
            ("a tampered token", &tampered),
            ("a bad signature", &bad_signature),
            ("alg none", &alg_none),
            ("alg none with a signature", &alg_none_signed),
            ("a malformed header", &"Basic !!!".to_string()),
            ("another scheme", &"Digest username=admin".to_string()),
        ] {
            assert_unauthenticated(&call(&d, &path, Some(a), "{}"), what, &path);
        }
        for (what, a) in [
            ("Basic", &good_basic),
            ("a Login token", &good_bearer),
            ("bob's token", &bob_bearer),
        ] {
            let r = call(&d, &path, Some(a), "{}");
            assert!(
                r.status != 401 && r.status != 429,
                "{what} on {path}: {} {:?}\n{}",
                r.status,
                r.json(),
                d.log()
            );
        }
    }
    // Unknown paths are not revealed without credentials.
    assert_unauthenticated(&call(&d, "/nope", None, "{}"), "no credentials", "/nope");
    assert_unauthenticated(
        &call(&d, "/v1.Backrest/NoSuchMethod", None, "{}"),
        "no credentials",
        "NoSuchMethod",
    );
    assert_eq!(call(&d, "/nope", Some(&good_basic), "{}").status, 404);
    // Public routes answer without credentials.
    assert_eq!(d.request("GET", "/", &[], b"").status, 200);

    // Bob is removed: his still-unexpired token stops working everywhere.
    d.auth = Some(good_basic.clone());
    let mut config = d.ok("GetConfig", json!({}));
    config["auth"]["users"] = json!([{"name": "admin", "passwordBcrypt": "********"}]);
    d.ok("SetConfig", config);
    for path in protected_routes() {
        assert_unauthenticated(
            &call(&d, &path, Some(&bob_bearer), "{}"),
            "a deleted user's token",
            &path,
        );
    }
    assert_ne!(
        call(&d, &protected_routes()[0], Some(&good_bearer), "{}").status,
        401
    );

    // Wrong passwords: 401 until the address is slowed down, then 429; never in.
    let wrong = basic_auth("admin", "not-the-password");
    let mut statuses = Vec::new();
    for path in protected_routes() {
        let r = call(&d, &path, Some(&wrong), "{}");
        if r.status == 429 {
            assert!(r.header("Retry-After").is_some(), "{path}");
            assert_eq!(r.json()["code"], "resource_exhausted");
        } else {
            assert_unauthenticated(&r, "a wrong password", &path);
        }
        statuses.push(r.status);
    }
    assert_eq!(statuses[0], 401);
    let log = d.log();
    for secret in [
        ADMIN_PW,
        "bob-pass",
        "not-the-password",
        admin_token.as_str(),
    ] {
        assert!(!log.contains(secret), "the log shows a secret: {secret}");
    }
}

#[test]
fn auth_disabled_leaves_every_route_open() {
    let d = Daemon::start_with(Opts {
        config: Some(config_with_users(
            json!([{"name": "admin", "passwordBcrypt": ADMIN_HASH}]),
            true,
        )),
        ..Default::default()
    });
    for path in protected_routes() {
        let r = call(&d, &path, None, "{}");
        assert!(r.status != 401, "{path}: {:?}", r.json());
    }
    // No config at all (first run): open too.
    let d = Daemon::start();
    assert_eq!(call(&d, "/v1.Backrest/GetConfig", None, "{}").status, 200);
}

/// The cache: 200 Basic-auth requests cost about what 200 unauthenticated ones do, not 200
/// bcrypts.
#[test]
fn basic_auth_is_cached() {
    let open = Daemon::start();
    let locked = auth_daemon(json!([{"name": "admin", "passwordBcrypt": ADMIN_HASH}]));
    let basic = basic_auth("admin", ADMIN_PW);
    let run = |d: &Daemon, a: Option<&str>| {
        let t = Instant::now();
        for _ in 0..200 {
            let r = call(d, "/v1.Backrest/GetOperations", a, "{}");
            assert_eq!(r.status, 200, "{:?}", r.json());
        }
        t.elapsed()
    };
    run(&locked, Some(&basic)); // warm: one bcrypt
    let t_open = run(&open, None);
    let t_auth = run(&locked, Some(&basic));
    eprintln!("200 requests: no auth {t_open:?}, Basic auth {t_auth:?}");
    assert!(
        // 200 bcrypts would take over 10 s; the margin is for a loaded CI machine.
        t_auth < t_open * 4 + Duration::from_secs(1),
        "no auth {t_open:?}, Basic {t_auth:?}"
    );
}

#[test]
fn wrong_passwords_from_one_address_are_slowed_down() {
    let d = auth_daemon(json!([{"name": "admin", "passwordBcrypt": ADMIN_HASH}]));
    let token = token_of(&d, "admin", ADMIN_PW);
    let wrong = basic_auth("admin", "guess");
    let t = Instant::now();
    let mut refused_early = 0;
    let mut retry_after = 0;
    for i in 0..20 {
        let r = call(&d, "/v1.Backrest/GetConfig", Some(&wrong), "{}");
        match r.status {
            401 => assert!(refused_early == 0, "attempt {i}: 401 after a 429"),
            429 => {
                refused_early += 1;
                retry_after = r.header("Retry-After").unwrap().parse::<u64>().unwrap();
                assert!(retry_after >= 1);
            }
            s => panic!("attempt {i}: status {s}"),
        }
    }
    let elapsed = t.elapsed();
    eprintln!("20 wrong passwords: {elapsed:?}, {refused_early} refused without a check");
    assert!(
        refused_early >= 13,
        "only {refused_early} of 20 were slowed down"
    );
    // The right password is refused too while the address is slowed down (a guess that hits
    // would otherwise get through) …
    let r = call(
        &d,
        "/v1.Backrest/GetConfig",
        Some(&basic_auth("admin", ADMIN_PW)),
        "{}",
    );
    assert_eq!(r.status, 429);
    assert_eq!(login(&d, "admin", ADMIN_PW).status, 429);
    // … but a token still works.
    let r = call(
        &d,
        "/v1.Backrest/GetConfig",
        Some(&format!("Bearer {token}")),
        "{}",
    );
    assert_eq!(r.status, 200);
    // After the pause, the right password gets in and clears the record.
    std::thread::sleep(Duration::from_secs(retry_after));
    let r = call(
        &d,
        "/v1.Backrest/GetConfig",
        Some(&basic_auth("admin", ADMIN_PW)),
        "{}",
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
}

#[test]
fn login_and_hash_password() {
    let d = auth_daemon(json!([{"name": "admin", "passwordBcrypt": ADMIN_HASH}]));
    // Failures all read "invalid password", for unknown users too, and cost the same.
    let time = |user: &str| {
        let t = Instant::now();
        let r = login(&d, user, "wrong");
        assert_eq!(r.status, 401);
        assert_eq!(r.json()["code"], "unauthenticated");
        assert_eq!(r.json()["message"], "invalid password");
        t.elapsed()
    };
    let wrong_pw = time("admin").min(time("admin"));
    let unknown = time("nobody").min(time("nobody"));
    eprintln!("failed login: wrong password {wrong_pw:?}, unknown user {unknown:?}");
    assert!(
        unknown * 3 > wrong_pw,
        "an unknown user is answered much faster ({unknown:?} vs {wrong_pw:?})"
    );
    // HashPassword gives Backrest's encoding, which Login then accepts.
    let r = call(
        &d,
        "/v1.Authentication/HashPassword",
        None,
        r#"{"value":"n3w-pass"}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let hash = r.json()["value"].as_str().unwrap().to_string();
    assert!(footrest::auth::verify_password("n3w-pass", &hash));
    let r = call(
        &d,
        "/v1.Authentication/HashPassword",
        None,
        r#"{"value":""}"#,
    );
    assert_eq!(r.status, 400);
    let mut d = d;
    d.auth = Some(basic_auth("admin", ADMIN_PW));
    let mut config = d.ok("GetConfig", json!({}));
    config["auth"]["users"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "carol", "passwordBcrypt": hash}));
    d.ok("SetConfig", config);
    let t = token_of(&d, "carol", "n3w-pass");
    let bearer = format!("Bearer {t}");
    let with_token = |d: &Daemon| call(d, "/v1.Backrest/GetConfig", Some(&bearer), "{}");
    assert_eq!(with_token(&d).status, 200);

    // A new password for carol revokes the token she got with the old one.
    let mut config = d.ok("GetConfig", json!({}));
    config["auth"]["users"][1]["passwordBcrypt"] =
        footrest::auth::hash_password("an0ther").unwrap().into();
    d.ok("SetConfig", config);
    let r = with_token(&d);
    assert_unauthenticated(&r, "a token from before the password change", "GetConfig");
    assert!(
        r.json()["message"]
            .as_str()
            .unwrap()
            .contains("password changed"),
        "{:?}",
        r.json()
    );
    // A token from the new password works, until carol is removed.
    let t = token_of(&d, "carol", "an0ther");
    let fresh = format!("Bearer {t}");
    assert_eq!(
        call(&d, "/v1.Backrest/GetConfig", Some(&fresh), "{}").status,
        200
    );
    let mut config = d.ok("GetConfig", json!({}));
    config["auth"]["users"].as_array_mut().unwrap().truncate(1);
    d.ok("SetConfig", config);
    assert_unauthenticated(
        &call(&d, "/v1.Backrest/GetConfig", Some(&fresh), "{}"),
        "a removed user's token",
        "GetConfig",
    );
}

#[test]
fn hash_password_cli_and_secret_files() {
    use std::io::Write;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_footrest"))
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"cli-pass\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(footrest::auth::verify_password("cli-pass", &hash));

    let d = auth_daemon(json!([{"name": "ops", "passwordBcrypt": hash}]));
    let token = token_of(&d, "ops", "cli-pass");
    let mode = |p: std::path::PathBuf| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(d.data_dir().join("jwt-secret")), 0o600);
    assert_eq!(mode(d.data_dir().join("http.sock")), 0o600);
    let mut d = d;
    d.auth = Some(format!("Bearer {token}"));
    let c = d.ok("GetConfig", json!({}));
    assert_eq!(c["auth"]["users"][0]["passwordBcrypt"], "********");
    d.ok("SetConfig", c);
    assert_eq!(mode(d.config_path()), 0o600);
    // A restart keeps the key: the token still works.
    let dir = d.kill();
    let mut d = Daemon::spawn(dir, &Opts::default());
    d.auth = Some(format!("Bearer {token}"));
    d.ok("GetConfig", json!({}));
}

/// A large body without any credentials is refused from its head, before the body is read, so
/// it takes none of the buffer that clients with credentials share.
#[test]
fn a_large_body_without_credentials_is_refused_before_it_is_read() {
    use std::io::{Read, Write};
    let d = auth_daemon(json!([{"name": "admin", "passwordBcrypt": ADMIN_HASH}]));
    let head = |auth: &str| {
        format!(
            "POST /v1.Backrest/SetConfig HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\
             Content-Type: application/json\r\n{auth}Content-Length: {}\r\n\r\n",
            1 << 20
        )
    };
    // Only the head is sent: the answer comes without the body.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head("").as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(out.starts_with("HTTP/1.1 401"), "{out}");
    assert!(out.contains("unauthenticated"), "{out}");
    // With credentials the body is read as usual (and judged as the request it is).
    let basic = basic_auth("admin", ADMIN_PW);
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(head(&format!("Authorization: {basic}\r\n")).as_bytes())
        .unwrap();
    s.write_all(&vec![b' '; 1 << 20]).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    assert!(
        out.starts_with("HTTP/1.1 400"),
        "a blank body is a bad request: {out}"
    );
    // Open paths and small bodies are as before.
    assert_eq!(call(&d, "/v1.Backrest/GetConfig", None, "{}").status, 401);
}

/// API keys: made by a user, scoped on every route of the router, hidden from GetConfig and the
/// config file, checked after a restart, dead once revoked.
#[test]
fn api_keys_are_scoped_on_every_route_and_die_when_revoked() {
    let work = TempDir::new("keys");
    let mut d = auth_daemon(json!([{"name": "admin", "passwordBcrypt": ADMIN_HASH}]));
    let admin = basic_auth("admin", ADMIN_PW);
    d.auth = Some(admin.clone());
    let create = |name: &str, scope: &str| -> String {
        let r = call(
            &d,
            "/v1.Footrest/CreateApiKey",
            Some(&admin),
            &json!({"name": name, "scope": scope}).to_string(),
        );
        assert_eq!(r.status, 200, "{:?}", r.json());
        assert_eq!(r.json()["scope"], scope);
        format!("Bearer {}", r.json()["key"].as_str().unwrap())
    };
    let read = create("grafana", "read");
    let backup = create("cron", "backup");
    let full = create("ops", "admin");
    let r = call(
        &d,
        "/v1.Footrest/CreateApiKey",
        Some(&admin),
        r#"{"name":"x","scope":"root"}"#,
    );
    assert_eq!(r.status, 400, "{:?}", r.json());
    assert!(r.json()["message"].as_str().unwrap().contains("root"));
    let r = call(
        &d,
        "/v1.Footrest/CreateApiKey",
        Some(&admin),
        r#"{"name":"grafana","scope":"read"}"#,
    );
    assert_eq!(r.status, 409, "a second key of the same name");

    let read_ok = [
        "/v1.Backrest/GetConfig",
        "/v1.Backrest/GetOperations",
        "/v1.Backrest/GetOperationEvents",
        "/v1.Backrest/GetSummaryDashboard",
        "/metrics",
        "/status",
    ];
    let backup_ok = ["/v1.Backrest/Backup", "/v1.Backrest/Cancel"];
    for path in protected_routes() {
        // Event streams stay open: a request that gets in is enough to see.
        if path.ends_with("GetOperationEvents") || path.ends_with("GetLogs") {
            continue;
        }
        for (who, key, allowed) in [
            ("read", &read, read_ok.contains(&path.as_str())),
            (
                "backup",
                &backup,
                read_ok.contains(&path.as_str()) || backup_ok.contains(&path.as_str()),
            ),
            ("admin", &full, true),
        ] {
            let r = call(&d, &path, Some(key), "{}");
            if allowed {
                assert!(
                    r.status != 401 && r.status != 403,
                    "{who} key on {path}: {} {:?}",
                    r.status,
                    r.json()
                );
            } else {
                assert_eq!(r.status, 403, "{who} key on {path}: {:?}", r.json());
                assert_eq!(r.json()["code"], "permission_denied");
            }
        }
    }
    for path in ["/metrics", "/status"] {
        let r = d.request("GET", path, &[("Authorization", &read)], b"");
        assert_eq!(r.status, 200, "{path}");
    }

    // A read key's GetConfig hides what a script need not see.
    add_repo(&d, "repo1", &work.path().join("repo"));
    let seen = call(&d, "/v1.Backrest/GetConfig", Some(&read), "{}").json();
    assert_eq!(seen["repos"][0]["password"], "********", "{seen}");
    let as_admin = call(&d, "/v1.Backrest/GetConfig", Some(&admin), "{}").json();
    assert_eq!(as_admin["repos"][0]["password"], PASSWORD);
    assert!(
        !as_admin.to_string().contains("grafana"),
        "keys are not in the config"
    );
    let file = std::fs::read_to_string(d.config_path()).unwrap();
    assert!(!file.contains("grafana"));
    let keys = std::fs::read_to_string(d.data_dir().join("api-keys.json")).unwrap();
    assert!(
        !keys.contains(&read["Bearer ftk_".len()..]),
        "only hashes are stored"
    );

    let listed = call(&d, "/v1.Footrest/ListApiKeys", Some(&admin), "{}").json();
    let names: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["grafana", "cron", "ops"]);
    assert!(!listed.to_string().contains("ftk_"));

    // Revoked: refused at once; the others still work, also after a restart.
    let r = call(
        &d,
        "/v1.Footrest/RevokeApiKey",
        Some(&full),
        r#"{"name":"grafana"}"#,
    );
    assert_eq!(r.status, 200, "{:?}", r.json());
    let r = call(&d, "/v1.Backrest/GetOperations", Some(&read), "{}");
    assert_unauthenticated(&r, "a revoked key", "GetOperations");
    d.stop();
    let d = Daemon::spawn(d.kill(), &Opts::default());
    assert_eq!(
        call(&d, "/v1.Backrest/GetOperations", Some(&backup), "{}").status,
        200
    );
    assert_unauthenticated(
        &call(&d, "/v1.Backrest/GetOperations", Some(&read), "{}"),
        "a revoked key after a restart",
        "GetOperations",
    );
    let r = call(
        &d,
        "/v1.Footrest/RevokeApiKey",
        Some(&full),
        r#"{"name":"nope"}"#,
    );
    assert_eq!(r.status, 404);
}
