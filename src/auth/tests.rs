//! Tests of `auth`.

use super::*;
use crate::config::User;
use std::fs;
use std::os::unix::fs::PermissionsExt;

/// The fixture's user: admin / footrest-demo (tests/fixtures/README.md).
const ADMIN_HASH: &str =
    "JDJhJDEwJHYzdlp4Ri41cERyb3gvTkUuLldMMHUyd1FPcEhZeVMvQmt6T1h3Qm8yazlhaGJDSXFOWlRD";

fn auth_with(users: &[(&str, &str)]) -> Auth {
    Auth {
        disabled: false,
        users: users
            .iter()
            .map(|(n, h)| User {
                name: n.to_string(),
                password_bcrypt: h.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn basic(user: &str, pw: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{user}:{pw}")))
}

#[test]
fn backrest_encoded_hashes_verify() {
    assert!(verify_password("footrest-demo", ADMIN_HASH));
    assert!(!verify_password("footrest-dem0", ADMIN_HASH));
    assert!(!verify_password("footrest-demo", "bm90IGEgaGFzaA=="));
    let h = hash_password("s3cret").unwrap();
    assert!(decode_stored_hash(&h).unwrap().starts_with("$2a$10$"));
    assert!(verify_password("s3cret", &h));
    assert!(matches!(
        hash_password(&"x".repeat(73)),
        Err(AuthError::PasswordTooLong)
    ));
}

#[test]
fn basic_is_cached_and_bound_to_the_stored_hash() {
    let a = Authenticator::with_secret([1; 64]).unwrap();
    let auth = auth_with(&[("admin", ADMIN_HASH)]);
    let h = basic("admin", "footrest-demo");
    assert_eq!(
        a.check(Some(&auth), Some(&h), "10.0.0.1", 0),
        Ok(Some("admin".into()))
    );
    let t = Instant::now();
    for _ in 0..100 {
        a.check(Some(&auth), Some(&h), "10.0.0.1", 0).unwrap();
    }
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );
    // The user's hash changes: the cached entry no longer counts.
    let changed = auth_with(&[("admin", &hash_password("other").unwrap())]);
    assert!(a.check(Some(&changed), Some(&h), "10.0.0.1", 0).is_err());
}

#[test]
fn failures_block_a_client_then_success_clears_it() {
    let a = Authenticator::with_secret([1; 64]).unwrap();
    // A cheap hash keeps this test fast.
    let cheap = STANDARD.encode(
        bcrypt::hash_with_salt("pw", 4, [3; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA),
    );
    let auth = auth_with(&[("u", &cheap)]);
    let bad = basic("u", "nope");
    for i in 0..FREE_FAILURES {
        assert_eq!(
            a.check(Some(&auth), Some(&bad), "10.0.0.2", 0),
            Err(Denied::Unauthenticated("invalid password")),
            "attempt {i}"
        );
    }
    assert!(a.check(Some(&auth), Some(&bad), "10.0.0.2", 0).is_err());
    let err = a
        .check(Some(&auth), Some(&basic("u", "pw")), "10.0.0.2", 0)
        .unwrap_err();
    assert!(matches!(err, Denied::Throttled { .. }), "{err:?}");
    assert!(err.retry_after_secs().unwrap() >= 1);
    // Another address is unaffected; a token still works from the blocked one.
    assert!(
        a.check(Some(&auth), Some(&basic("u", "pw")), "10.0.0.3", 0)
            .is_ok()
    );
    let token = a.sign_token("u", &cheap, 100);
    assert!(
        a.check(Some(&auth), Some(&format!("Bearer {token}")), "10.0.0.2", 0)
            .is_ok()
    );
    // IPv6 addresses of one /64 share a record.
    assert_eq!(client_key("2001:db8::1"), client_key("2001:db8::2"));
    assert_eq!(client_key("::ffff:10.0.0.2"), "10.0.0.2");
}

#[test]
fn tokens_check_alg_signature_expiry_and_user() {
    let a = Authenticator::with_secret([9; 64]).unwrap();
    let auth = auth_with(&[("admin", ADMIN_HASH)]);
    let t = a.sign_token("admin", ADMIN_HASH, 1000);
    assert_eq!(a.verify_token(&auth, &t, 999), Ok("admin".into()));
    let changed = auth_with(&[("admin", &hash_password("new one").unwrap())]);
    assert_eq!(
        a.verify_token(&changed, &t, 999),
        Err(Denied::Unauthenticated(
            "token revoked: the user's password changed since login"
        )),
        "a new password revokes the token"
    );
    assert!(a.verify_token(&auth, &t, 1000).is_err(), "expired");
    let other = Authenticator::with_secret([8; 64]).unwrap();
    assert!(other.verify_token(&auth, &t, 0).is_err(), "other key");
    let gone = auth_with(&[("bob", ADMIN_HASH)]);
    assert!(a.verify_token(&gone, &t, 0).is_err(), "deleted user");
    // alg none, with or without a signature.
    let parts: Vec<&str> = t.split('.').collect();
    let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    assert!(
        a.verify_token(&auth, &format!("{none}.{}.", parts[1]), 0)
            .is_err()
    );
    assert!(
        a.verify_token(&auth, &format!("{none}.{}.{}", parts[1], parts[2]), 0)
            .is_err()
    );
    // A changed payload with the old signature.
    let forged = URL_SAFE_NO_PAD.encode(br#"{"sub":"admin","exp":99999999999}"#);
    assert!(
        a.verify_token(&auth, &format!("{}.{forged}.{}", parts[0], parts[2]), 0)
            .is_err()
    );
    for junk in ["", ".", "..", "a.b.c", "a.b.c.d", &"x".repeat(5000)] {
        assert!(a.verify_token(&auth, junk, 0).is_err(), "{junk:?}");
    }
}

/// A password over bcrypt's 72 bytes costs one bcrypt whether or not the user exists.
#[test]
fn long_passwords_cost_the_same_for_known_and_unknown_users() {
    let a = Authenticator::with_secret([5; 64]).unwrap();
    let h = STANDARD.encode(
        bcrypt::hash_with_salt("pw", 8, [3; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA),
    );
    let auth = auth_with(&[("u", &h)]);
    let long = "p".repeat(100);
    // Rounds interleaved, medians compared: skipping bcrypt would be 1000x faster, so a
    // factor of 4 tells the two apart however loaded the machine is.
    let cases = [
        ("u", "wrong"),
        ("u", long.as_str()),
        ("nobody", long.as_str()),
    ];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); cases.len()];
    for round in 0..7 {
        for (i, (user, pw)) in cases.iter().enumerate() {
            let started = Instant::now();
            let r = a.check(
                Some(&auth),
                Some(&basic(user, pw)),
                &format!("10.1.{round}.{i}"),
                0,
            );
            assert!(r.is_err());
            times[i].push(started.elapsed());
        }
    }
    let median = |t: &mut Vec<Duration>| {
        t.sort();
        t[t.len() / 2]
    };
    let wrong = median(&mut times[0]);
    let known_long = median(&mut times[1]);
    let unknown_long = median(&mut times[2]);
    for (what, t) in [("known user", known_long), ("unknown user", unknown_long)] {
        assert!(
            t * 4 > wrong,
            "{what}, 100-byte password: {t:?} against {wrong:?} for a wrong one"
        );
    }
}

#[test]
fn wrong_passwords_from_many_addresses_are_bounded_globally_and_tokens_still_work() {
    let a = Authenticator::with_secret([6; 64]).unwrap();
    let h = STANDARD.encode(
        bcrypt::hash_with_salt("right", 4, [4; 16])
            .unwrap()
            .format_for_version(bcrypt::Version::TwoA),
    );
    let auth = auth_with(&[("u", &h)]);
    let now = Instant::now();
    // Every guess from a new address: no address ever reaches its own limit.
    for i in 0..GLOBAL_FAILURES_PER_MINUTE {
        let r = a.verify_basic(
            &auth,
            "u",
            "guess",
            &format!("10.2.{}.{}", i / 200, i % 200),
            now,
        );
        assert_eq!(
            r,
            Err(Denied::Unauthenticated("invalid password")),
            "guess {i}"
        );
    }
    // The bucket is empty: the next check is refused before any bcrypt, whatever it is.
    for (pw, client) in [("guess", "10.3.0.1"), ("right", "10.3.0.2")] {
        match a.verify_basic(&auth, "u", pw, client, now) {
            Err(d @ Denied::Busy { .. }) => {
                assert_eq!(d.retry_after_secs(), Some(1));
                assert!(d.to_string().starts_with("too many password checks"), "{d}");
            }
            other => panic!("{pw}: {other:?}"),
        }
    }
    // Users with a token are not affected.
    let token = a.sign_token("u", &h, 2_000_000_000);
    assert_eq!(a.verify_token(&auth, &token, 1_900_000_000), Ok("u".into()));
    // The bucket refills at its rate: a second later one check runs again.
    let later = now + Duration::from_secs(1);
    assert_eq!(
        a.verify_basic(&auth, "u", "right", "10.3.0.2", later),
        Ok("u".into())
    );
}

#[test]
fn one_bcrypt_runs_at_a_time_with_one_waiter_and_the_rest_refused() {
    let a = std::sync::Arc::new(Authenticator::with_secret([7; 64]).unwrap());
    let now = Instant::now();
    let first = a.check_slot(now).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let a2 = std::sync::Arc::clone(&a);
    let waiter = std::thread::spawn(move || {
        let got = a2.check_slot(now).map(|_slot| ());
        tx.send(()).unwrap();
        got
    });
    // The waiter is waiting once the flag is set; a third check is refused at once.
    while !a.lock_checks().waiting {
        std::thread::yield_now();
    }
    assert!(matches!(a.check_slot(now), Err(Denied::Busy { .. })));
    assert!(
        rx.try_recv().is_err(),
        "the waiter went ahead of the running check"
    );
    drop(first);
    assert_eq!(waiter.join().unwrap(), Ok(()));
    // Free again.
    drop(a.check_slot(now).unwrap());
}

#[test]
fn auth_disabled_or_absent_is_open() {
    let a = Authenticator::with_secret([1; 64]).unwrap();
    assert_eq!(a.check(None, None, "x", 0), Ok(None));
    let mut auth = auth_with(&[("admin", ADMIN_HASH)]);
    auth.disabled = true;
    assert_eq!(a.check(Some(&auth), None, "x", 0), Ok(None));
    auth.disabled = false;
    assert!(a.check(Some(&auth), None, "x", 0).is_err());
    assert!(a.check(Some(&auth), Some("Digest abc"), "x", 0).is_err());
    assert!(a.check(Some(&auth), Some("Basic !!!"), "x", 0).is_err());
}

#[test]
fn secret_file_is_created_0600_and_reused() {
    let dir = std::env::temp_dir().join(format!("footrest-auth-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    let p = dir.join("jwt-secret");
    let s1 = load_or_create_secret(&p).unwrap();
    assert_eq!(
        fs::metadata(&p).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(fs::read(&p).unwrap().len(), SECRET_LEN);
    assert_eq!(load_or_create_secret(&p).unwrap(), s1);
    fs::write(&p, b"short").unwrap();
    assert_ne!(load_or_create_secret(&p).unwrap(), s1);
    let _ = fs::remove_dir_all(&dir);
}
