//! The web UI's files as any HTTP client sees them: compressed when asked, revalidated with
//! ETag, open without credentials while the API behind them is not.

use crate::common::*;
use serde_json::json;
use std::io::Read;

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("a valid gzip body");
    out
}

#[test]
fn ui_files_are_gzip_when_accepted_plain_otherwise_and_revalidate_with_304() {
    let d = Daemon::start();
    let gz = d.request("GET", "/", &[("Accept-Encoding", "gzip, deflate, br")], b"");
    assert_eq!(gz.status, 200);
    assert_eq!(gz.header("Content-Encoding"), Some("gzip"));
    assert_eq!(gz.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(gz.header("Vary"), Some("Accept-Encoding"));
    assert!(
        gz.header("Content-Security-Policy")
            .is_some_and(|c| c.contains("script-src 'self'"))
    );
    let etag = gz.header("ETag").expect("an ETag").to_string();
    let html = gunzip(&gz.body);
    assert!(String::from_utf8_lossy(&html).contains("<title>footrest</title>"));

    let plain = d.request("GET", "/", &[], b"");
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("Content-Encoding"), None);
    assert_eq!(plain.body, html, "the same file, uncompressed");
    let refused = d.request("GET", "/", &[("Accept-Encoding", "gzip;q=0")], b"");
    assert_eq!(refused.header("Content-Encoding"), None);

    let again = d.request("GET", "/", &[("If-None-Match", &etag)], b"");
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    let stale = d.request("GET", "/", &[("If-None-Match", "\"0000\"")], b"");
    assert_eq!(stale.status, 200);

    // The module the page loads is there, as JavaScript.
    let js = d.request("GET", "/ui/js/app.js", &[], b"");
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("Content-Type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(d.request("HEAD", "/ui/app.css", &[], b"").status, 200);

    for path in ["/ui/nope.js", "/ui/../config.json", "/ui/", "/index.html"] {
        assert_eq!(d.request("GET", path, &[], b"").status, 404, "{path}");
    }
    let post = d.request("POST", "/", &[("Content-Type", "text/plain")], b"x");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("Allow"), Some("GET, HEAD"));
}

#[test]
fn ui_files_need_no_login_while_the_api_does() {
    // admin / footrest-demo, as in tests/fixtures/backrest-config.json.
    let d = Daemon::start_with(Opts {
        config: Some(json!({
            "modno": 1, "version": 6, "instance": "ui-test",
            "auth": {"disabled": false, "users": [{"name": "admin", "passwordBcrypt":
                "JDJhJDEwJHYzdlp4Ri41cERyb3gvTkUuLldMMHUyd1FPcEhZeVMvQmt6T1h3Qm8yazlhaGJDSXFOWlRD"}]},
        })),
        ..Default::default()
    });
    for path in ["/", "/ui/js/app.js", "/ui/js/api.js", "/ui/app.css"] {
        assert_eq!(d.request("GET", path, &[], b"").status, 200, "{path}");
    }
    let r = d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 401);
}
