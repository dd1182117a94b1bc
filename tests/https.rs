//! HTTPS against the system's CA certificates (src/ca.rs): a local `openssl s_server` with a
//! certificate from a throwaway CA, trusted through SSL_CERT_FILE. Its own test binary, with one
//! test, because it sets the process environment. Skipped when `openssl` is not installed or the
//! build has no `tls` feature.

use footrest::hooks::http::{HttpError, Request, Timeouts, send};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a localhost certificate it signed, in `dir`: ca.pem, leaf.pem, leaf.key.
fn make_certs(dir: &Path, ca: &str) {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    let mut a = vec![
        "req",
        "-x509",
        "-days",
        "2",
        "-subj",
        "/CN=footrest test CA",
    ];
    a.extend(ec);
    a.extend(["-keyout", "ca.key", "-out", ca]);
    openssl(dir, &a);
    let mut a = vec!["req", "-new", "-subj", "/CN=localhost"];
    a.extend(ec);
    a.extend(["-keyout", "leaf.key", "-out", "leaf.csr"]);
    openssl(dir, &a);
    std::fs::write(dir.join("ext"), "subjectAltName=DNS:localhost\n").unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "leaf.csr",
            "-CA",
            ca,
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext",
            "-out",
            "leaf.pem",
        ],
    );
}

#[test]
fn https_uses_the_system_ca_bundle() {
    if !cfg!(feature = "tls") {
        eprintln!("skipped: built without the tls feature");
        return;
    }
    if Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: openssl is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("footrest-https-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    make_certs(&dir, "ca.pem");
    let other = dir.join("other");
    std::fs::create_dir_all(&other).unwrap();
    make_certs(&other, "ca.pem");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args([
            "s_server", "-quiet", "-www", "-cert", "leaf.pem", "-key", "leaf.key",
        ])
        .args(["-accept", &format!("127.0.0.1:{port}")])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server starts");
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "s_server did not listen"
        );
        std::thread::sleep(Duration::from_millis(20));
    }

    let url = format!("https://localhost:{port}/");
    let t = Timeouts {
        connect: Duration::from_secs(5),
        total: Duration::from_secs(10),
    };
    let set = |v: &Path| {
        // SAFETY: the only test of this binary; no other thread reads the environment now.
        unsafe { std::env::set_var("SSL_CERT_FILE", v) }
    };
    set(&dir.join("ca.pem"));
    let trusted = send(&Request::get(url.clone()), t);
    set(&other.join("ca.pem"));
    let untrusted = send(&Request::get(url.clone()), t);
    set(&dir.join("missing.pem"));
    let missing = send(&Request::get(url.clone()), t);

    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);

    assert_eq!(trusted.unwrap(), 200);
    match untrusted {
        Err(HttpError::Connect { reason, .. }) => {
            assert!(reason.to_lowercase().contains("certificate"), "{reason}")
        }
        other => panic!("a server from another CA: {other:?}"),
    }
    match missing {
        Err(e @ HttpError::Connect { .. }) => {
            let msg = e.to_string();
            assert!(
                msg.contains("missing.pem") && msg.contains("CA certificates"),
                "{msg}"
            );
        }
        other => panic!("no CA file: {other:?}"),
    }
}
