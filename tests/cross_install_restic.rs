//! `footrest install-restic` against a local HTTP server that serves a real restic binary,
//! bzip2-compressed, and a SHA256SUMS file: the success path installs a restic that runs, a bad
//! checksum or a missing file installs nothing.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock};

const VERSION: &str = "0.18.0";

fn tmp(tag: &str) -> PathBuf {
    let base = std::env::var_os("CARGO_TARGET_TMPDIR")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let p = base.join(format!("install-restic-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&p);
    std::fs::create_dir_all(&p).unwrap();
    p
}

fn restic_path() -> PathBuf {
    let r = std::env::var("FOOTREST_TEST_RESTIC").unwrap_or_else(|_| "restic".into());
    if r.contains('/') {
        return PathBuf::from(r);
    }
    let out = Command::new("sh")
        .args(["-c", "command -v restic"])
        .output()
        .unwrap();
    PathBuf::from(String::from_utf8(out.stdout).unwrap().trim())
}

/// The real restic, compressed once with the bzip2 CLI (as restic's releases are), and its hash.
fn archive() -> &'static (Vec<u8>, String) {
    static A: OnceLock<(Vec<u8>, String)> = OnceLock::new();
    A.get_or_init(|| {
        let restic = restic_path();
        let out = Command::new("bzip2")
            .args(["-c", "-9"])
            .arg(&restic)
            .output()
            .expect("bzip2 runs");
        assert!(out.status.success());
        let sum = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(&out.stdout)?;
                c.wait_with_output()
            })
            .unwrap();
        let hash = String::from_utf8(sum.stdout).unwrap()[..64].to_string();
        (out.stdout, hash)
    })
}

fn asset() -> String {
    footrest::install_restic::asset_name(VERSION).unwrap()
}

/// A tiny HTTP/1.1 file server on 127.0.0.1: path → body; anything else is a 404.
/// Returns the base URL and the list of requested paths.
fn serve(files: Vec<(String, Vec<u8>)>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { break };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            if reader.read_line(&mut line).is_err() {
                continue;
            }
            let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            seen2.lock().unwrap().push(path.clone());
            let found = files.iter().find(|(p, _)| *p == path);
            let (status, body): (&str, &[u8]) = match found {
                Some((_, b)) => ("200 OK", b),
                None => ("404 Not Found", b"not found"),
            };
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(body);
        }
    });
    (format!("http://127.0.0.1:{port}/rel/"), seen)
}

fn install(base: &str, data: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_footrest"))
        .args(["install-restic", "--version", VERSION, "--base-url", base])
        .arg("--data-dir")
        .arg(data)
        .output()
        .unwrap()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v = Vec::new();
    for e in walk(dir) {
        v.push(e.strip_prefix(dir).unwrap().display().to_string());
    }
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn installs_a_verified_restic_that_runs() {
    let (bz2, hash) = archive();
    let sums = format!(
        "{}  restic_{VERSION}_linux_other.bz2\n{hash}  {}\n",
        "0".repeat(64),
        asset()
    );
    let (base, seen) = serve(vec![
        ("/rel/SHA256SUMS".into(), sums.into_bytes()),
        (format!("/rel/{}", asset()), bz2.clone()),
    ]);
    let data = tmp("ok");
    let out = install(&base, &data);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = data.join("bin/restic");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        installed.display().to_string()
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&installed).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o755);
    assert_eq!(
        std::fs::read(&installed).unwrap(),
        std::fs::read(restic_path()).unwrap(),
        "unpacked byte for byte"
    );
    let v = Command::new(&installed).arg("version").output().unwrap();
    assert!(v.status.success());
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("restic "));
    assert_eq!(files_in(&data), ["bin", "bin/restic"], "no temp files left");
    assert_eq!(
        *seen.lock().unwrap(),
        ["/rel/SHA256SUMS".to_string(), format!("/rel/{}", asset())]
    );

    // Again over an installed one: replaced in place.
    let out = install(&base, &data);
    assert!(out.status.success());
    assert_eq!(files_in(&data), ["bin", "bin/restic"]);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn bad_checksum_installs_nothing() {
    let (bz2, hash) = archive();
    // One hex digit off.
    let mut wrong = hash.clone().into_bytes();
    wrong[10] = if wrong[10] == b'a' { b'b' } else { b'a' };
    let wrong = String::from_utf8(wrong).unwrap();
    let (base, _) = serve(vec![
        (
            "/rel/SHA256SUMS".into(),
            format!("{wrong}  {}\n", asset()).into_bytes(),
        ),
        (format!("/rel/{}", asset()), bz2.clone()),
    ]);
    let data = tmp("bad");
    let out = install(&base, &data);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(err.contains(&wrong) && err.contains(hash.as_str()), "{err}");
    assert!(!data.join("bin/restic").exists());
    assert!(files_in(&data).is_empty(), "left {:?}", files_in(&data));
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn missing_checksum_or_archive_installs_nothing() {
    let (bz2, hash) = archive();
    // SHA256SUMS without our file.
    let (base, seen) = serve(vec![
        (
            "/rel/SHA256SUMS".into(),
            format!("{hash}  restic_{VERSION}_linux_other.bz2\n").into_bytes(),
        ),
        (format!("/rel/{}", asset()), bz2.clone()),
    ]);
    let data = tmp("nosum");
    let out = install(&base, &data);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("SHA256SUMS has no entry"), "{err}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the archive is not fetched");
    assert!(files_in(&data).is_empty());

    // The archive is missing: a 404.
    let (base, _) = serve(vec![(
        "/rel/SHA256SUMS".into(),
        format!("{hash}  {}\n", asset()).into_bytes(),
    )]);
    let out = install(&base, &data);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("404"), "{err}");
    assert!(files_in(&data).is_empty());

    // Not bzip2 at all, with a matching hash: the unpack step refuses it.
    let junk = b"this is not bzip2".to_vec();
    let junk_hash = {
        let mut c = Command::new("sha256sum")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        c.stdin.take().unwrap().write_all(&junk).unwrap();
        let mut s = String::new();
        c.stdout.take().unwrap().read_to_string(&mut s).unwrap();
        c.wait().unwrap();
        s[..64].to_string()
    };
    let (base, _) = serve(vec![
        (
            "/rel/SHA256SUMS".into(),
            format!("{junk_hash}  {}\n", asset()).into_bytes(),
        ),
        (format!("/rel/{}", asset()), junk),
    ]);
    let out = install(&base, &data);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("unpacking restic failed"), "{err}");
    assert!(!data.join("bin/restic").exists());
    assert_eq!(files_in(&data), ["bin"], "only the empty bin dir");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn bad_version_is_a_usage_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_footrest"))
        .args(["install-restic", "--version", "../1.2.3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad restic version"));
}
