//! Broken and malicious clients: slow and idle connections, oversized and malformed requests,
//! file-descriptor exhaustion. The daemon must keep answering a normal client promptly, with a
//! bounded number of threads and bounded memory.

use crate::common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A field of /proc/<pid>/status (Threads, VmRSS, VmHWM …) as a number.
fn proc_status(pid: u32, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    s.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn pid(d: &Daemon) -> u32 {
    d.child.as_ref().unwrap().id()
}

fn get_config(d: &Daemon) -> HttpResponse {
    d.request(
        "POST",
        "/v1.Backrest/GetConfig",
        &[("Content-Type", "application/json")],
        b"{}",
    )
}

/// Sends raw bytes (from another thread, ignoring write errors: the server may answer and close
/// before it has read everything) and returns the status line and body of the answer.
fn raw(port: u16, bytes: Vec<u8>) -> (u16, String) {
    // Under a flood the kernel may refuse a connection outright: that is "no answer" too.
    let s = match TcpStream::connect(("127.0.0.1", port)) {
        Ok(s) => s,
        Err(e) => return (0, format!("connect: {e}")),
    };
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut w = s.try_clone().unwrap();
    let writer = std::thread::spawn(move || {
        let _ = w.write_all(&bytes);
    });
    let mut out = Vec::new();
    let mut r = &s;
    let _ = r.read_to_end(&mut out);
    drop(s);
    let _ = writer.join();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0); // no answer: the connection was closed
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    let mut v = format!(
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    v.extend_from_slice(body);
    v
}

#[test]
fn slow_and_idle_clients_do_not_starve_a_normal_client() {
    let d = Daemon::start_with(Opts {
        env: vec![("FOOTREST_HTTP_TIMEOUT_MS".into(), "3000".into())],
        ..Default::default()
    });
    assert_eq!(get_config(&d).status, 200);
    let threads_before = proc_status(pid(&d), "Threads");

    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", d.port)).unwrap())
        .collect();
    let mut tricklers: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", d.port)).unwrap();
            s.write_all(
                b"POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
            )
            .unwrap();
            s
        })
        .collect();
    let stop = Arc::new(AtomicBool::new(false));
    let trickle = {
        let stop = Arc::clone(&stop);
        let mut socks: Vec<TcpStream> = tricklers.iter().map(|s| s.try_clone().unwrap()).collect();
        std::thread::spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                for s in &mut socks {
                    let _ = s.write(b" ");
                }
                std::thread::sleep(Duration::from_secs(1));
            }
        })
    };
    std::thread::sleep(Duration::from_millis(300));

    let mut worst = Duration::ZERO;
    for _ in 0..10 {
        let t = Instant::now();
        let r = get_config(&d);
        worst = worst.max(t.elapsed());
        assert_eq!(r.status, 200);
    }
    let threads_during = proc_status(pid(&d), "Threads");
    eprintln!(
        "320 slow connections: normal client worst latency {worst:?}; threads {threads_before} before, {threads_during} during"
    );
    assert!(worst < Duration::from_secs(1), "{worst:?}");
    assert!(
        threads_during <= threads_before + 4,
        "{threads_before} threads before, {threads_during} during"
    );

    // Idle connections are closed by the idle timeout (3 s here) …
    let t = Instant::now();
    for mut s in idle {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 64];
        match s.read(&mut b) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("an idle connection was not closed: {other:?}"),
        }
    }
    // … and tricklers get 408 at the request deadline (2 × the idle timeout).
    for s in &mut tricklers {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut b = [0u8; 256];
        let n = s.read(&mut b).unwrap_or(0);
        let text = String::from_utf8_lossy(&b[..n]);
        assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    }
    eprintln!(
        "idle and trickling connections closed after {:?}",
        t.elapsed()
    );
    stop.store(true, Ordering::SeqCst);
    trickle.join().unwrap();
    assert_eq!(get_config(&d).status, 200);
}

#[test]
fn oversized_and_malformed_requests_get_a_clear_4xx() {
    let d = Daemon::start();
    let port = d.port;

    // 16 MB body, actually sent.
    let (status, body) = raw(port, post("/v1.Backrest/SetConfig", &vec![b' '; 16 << 20]));
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("resource_exhausted"), "{body}");
    // 100 KB header.
    let big = format!(
        "GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: {}\r\n\r\n",
        "a".repeat(100 * 1024)
    );
    assert_eq!(raw(port, big.into_bytes()).0, 431);
    // 10 KB URL.
    let long = format!(
        "GET /{} HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "a".repeat(10 * 1024)
    );
    assert_eq!(raw(port, long.into_bytes()).0, 414);
    // Malformed heads.
    for (what, bytes, want) in [
        ("binary junk", b"\x00\x01\x02\xff\r\n\r\n".to_vec(), 400),
        ("HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec(), 505),
        ("no colon", b"GET / HTTP/1.1\r\nHost x\r\n\r\n".to_vec(), 400),
        (
            "non-ASCII header",
            b"GET / HTTP/1.1\r\nX: \xc3\xa9\r\n\r\n".to_vec(),
            400,
        ),
        (
            "two lengths",
            b"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}".to_vec(),
            400,
        ),
        (
            "gzip transfer coding",
            b"POST /v1.Backrest/GetConfig HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(),
            501,
        ),
        (
            "chunked and a length",
            b"POST /v1.Backrest/GetConfig HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 7\r\n\r\n2\r\n{}\r\n0\r\n\r\n"
                .to_vec(),
            400,
        ),
        (
            "broken chunk",
            b"POST /v1.Backrest/GetConfig HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX"
                .to_vec(),
            400,
        ),
    ] {
        let (status, body) = raw(port, bytes);
        assert_eq!(status, want, "{what}: {body}");
    }

    // Bodies that are not good JSON messages, against typed and untyped requests.
    let deep_array = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let deep_object = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("10k nested arrays", deep_array.into_bytes()),
        ("10k nested objects", deep_object.into_bytes()),
        ("invalid UTF-8", b"{\"value\":\"\xff\xfe\"}".to_vec()),
        ("NaN", b"{\"lastN\": NaN, \"value\": NaN}".to_vec()),
        ("a huge number", b"{\"lastN\": 1e999999}".to_vec()),
        ("truncated", b"{\"lastN\": ".to_vec()),
    ];
    for method in ["GetOperations", "SetConfig", "Backup", "GetConfig"] {
        for (what, body) in &bodies {
            let r = d.request(
                "POST",
                &format!("/v1.Backrest/{method}"),
                &[("Content-Type", "application/json")],
                body,
            );
            assert_eq!(r.status, 400, "{method} with {what}: {:?}", r.json());
            assert_eq!(r.json()["code"], "invalid_argument", "{method} {what}");
        }
    }
    // Duplicate keys in a typed message are refused.
    for (path, body) in [
        ("/v1.Backrest/GetOperations", r#"{"lastN":"1","lastN":"2"}"#),
        ("/v1.Backrest/Backup", r#"{"value":"a","value":"b"}"#),
        (
            "/v1.Authentication/Login",
            r#"{"username":"a","username":"b","password":"x"}"#,
        ),
    ] {
        let r = d.request(
            "POST",
            path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        assert_eq!(r.status, 400, "{path} {body}: {:?}", r.json());
        assert!(
            r.json()["message"]
                .as_str()
                .unwrap()
                .contains("duplicate field"),
            "{path}: {:?}",
            r.json()
        );
    }

    // Unharmed, and memory did not follow the 16 MB body.
    assert_eq!(get_config(&d).status, 200);
    assert!(d.child.as_ref().unwrap().id() > 0);
    let peak_kb = proc_status(pid(&d), "VmHWM");
    eprintln!("peak RSS after hostile input: {peak_kb} kB");
    assert!(peak_kb < 32 * 1024, "peak RSS {peak_kb} kB");
}

/// With few file descriptors, a flood of connections must not leave a live daemon that no
/// longer accepts. Twice: with the connection bound derived from the fd limit (accept never
/// fails), and with that bound lifted so that accept() really runs into EMFILE.
#[test]
fn fd_exhaustion_then_recovery() {
    for lifted in [false, true] {
        let mut env = vec![("FOOTREST_HTTP_TIMEOUT_MS".to_string(), "5000".to_string())];
        if lifted {
            env.push(("FOOTREST_HTTP_MAX_CLIENTS".into(), "1000".into()));
        }
        let mut d = Daemon::start_with(Opts {
            nofile: Some(64),
            env,
            ..Default::default()
        });
        let flood: Vec<TcpStream> = (0..200)
            .filter_map(|_| {
                TcpStream::connect_timeout(
                    &format!("127.0.0.1:{}", d.port).parse().unwrap(),
                    Duration::from_millis(200),
                )
                .ok()
            })
            .collect();
        // While the flood is open, a normal client still gets in (the oldest idle connections
        // make room).
        let t = Instant::now();
        let mut ok = false;
        while t.elapsed() < Duration::from_secs(15) {
            let (status, _) = raw(d.port, post("/v1.Backrest/GetConfig", b"{}"));
            if status == 200 {
                ok = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            ok,
            "lifted={lifted}: no answer during the flood\n{}",
            d.log()
        );
        eprintln!(
            "lifted={lifted}: {} flood connections, answered after {:?}",
            flood.len(),
            t.elapsed()
        );
        drop(flood);
        std::thread::sleep(Duration::from_millis(300));
        for _ in 0..20 {
            let (status, body) = raw(d.port, post("/v1.Backrest/GetConfig", b"{}"));
            assert_eq!(status, 200, "lifted={lifted}: {body}\n{}", d.log());
        }
        assert!(
            d.child.as_mut().unwrap().try_wait().unwrap().is_none(),
            "the daemon exited\n{}",
            d.log()
        );
        if lifted {
            assert!(
                d.log().contains("accept failed"),
                "EMFILE was not reached:\n{}",
                d.log()
            );
        }
    }
}

/// SIGTERM while a client waits on a Backup: the daemon stops accepting, but the waiting
/// client still gets its answer once the backup ends (within the grace period).
#[test]
fn sigterm_during_a_backup_still_answers_the_waiting_client() {
    let work = TempDir::new("sigterm");
    let wrapper = restic_wrapper(
        &work.path().join("slow-restic"),
        "if [ \"$1\" = backup ]; then sleep 2; fi",
    );
    let opts = Opts {
        restic: wrapper,
        ..Default::default()
    };
    let Setup {
        mut d, work: _work, ..
    } = setup_with(work, opts, serde_json::json!({}));
    let port = d.port;
    let waiting =
        std::thread::spawn(move || raw(port, post("/v1.Backrest/Backup", br#"{"value":"plan1"}"#)));
    d.wait_for("the backup to start", Duration::from_secs(10), || {
        d.operations(serde_json::json!({}))
            .iter()
            .any(|o| o["status"] == "STATUS_INPROGRESS" && o.get("operationBackup").is_some())
            .then_some(())
    });
    let status = d.stop();
    let (code, body) = waiting.join().unwrap();
    assert_eq!(
        code,
        200,
        "the waiting client got {code} {body}\n{}",
        d.log()
    );
    assert!(status.success(), "{status:?}");
    // The listener is closed.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// Large bodies share one buffer budget (8 MiB): six 3 MiB requests at once are read two or so
/// at a time, and every one is answered.
#[test]
fn large_bodies_wait_for_the_buffer_budget_and_all_get_answers() {
    let d = Daemon::start();
    let port = d.port;
    let senders: Vec<_> = (0..6)
        .map(|_| {
            std::thread::spawn(move || {
                let mut body = vec![b' '; 3 << 20];
                body.extend_from_slice(b"{}");
                raw(port, post("/v1.Backrest/GetOperations", &body))
            })
        })
        .collect();
    for s in senders {
        let (status, body) = s.join().unwrap();
        assert_eq!(status, 200, "{body}");
    }
    let peak_kb = proc_status(pid(&d), "VmHWM");
    eprintln!("peak RSS after 6 × 3 MiB bodies: {peak_kb} kB");
    // The front door holds at most 8 MiB of bodies; the handlers hold a few more copies.
    assert!(peak_kb < 40 * 1024, "peak RSS {peak_kb} kB");
}

#[test]
fn foreign_host_and_origin_are_refused_without_auth() {
    let d = Daemon::start();
    let req = |host: &str, origin: Option<&str>| {
        let o = origin
            .map(|o| format!("Origin: {o}\r\n"))
            .unwrap_or_default();
        raw(
            d.port,
            format!(
                "POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: {host}\r\n{o}Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
        )
    };
    let (s, body) = req("attacker.example", None);
    assert_eq!(s, 403, "{body}");
    assert!(
        body.contains("--allow-host") && body.contains("FOOTREST_ALLOWED_HOSTS"),
        "{body}"
    );
    assert_eq!(req(&format!("127.0.0.1:{}", d.port), None).0, 200);
    assert_eq!(req(&format!("localhost:{}", d.port), None).0, 200);
    assert_eq!(req("[::1]", None).0, 200);
    let (s, body) = req("localhost", Some("http://attacker.example"));
    assert_eq!(s, 403, "{body}");
    assert_eq!(req("localhost", Some("http://localhost:9898")).0, 200);
    drop(d);
    let d = Daemon::start_with(Opts {
        env: vec![(
            "FOOTREST_ALLOWED_HOSTS".into(),
            "nas.lan, backup.home".into(),
        )],
        ..Default::default()
    });
    let (s, body) = raw(
        d.port,
        b"POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: NAS.lan:9898\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}".to_vec(),
    );
    assert_eq!(s, 200, "{body}");
    drop(d);
    // Names given with --allow-host (repeated or comma-separated), and this machine's own name
    // (also under .local, as mDNS announces it).
    let d = Daemon::start_with(Opts {
        args: vec![
            "--allow-host".into(),
            "pi.lan,media.home".into(),
            "--allow-host".into(),
            "backup.example.org.".into(),
        ],
        ..Default::default()
    });
    let host = |h: &str| {
        raw(
            d.port,
            format!(
                "POST /v1.Backrest/GetConfig HTTP/1.1\r\nHost: {h}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
            )
            .into_bytes(),
        )
        .0
    };
    for allowed in ["pi.lan", "media.home:9898", "backup.example.org"] {
        assert_eq!(host(allowed), 200, "{allowed}");
    }
    let me = footrest::util::hostname();
    if !me.is_empty() {
        assert_eq!(host(&me), 200, "{me}");
        assert_eq!(host(&format!("{me}.local:80")), 200, "{me}.local");
    }
    assert_eq!(host("attacker.example"), 403);
}

/// A repository that never answers (a dead NAS, a hung rest-server): the restic calls made for
/// API requests are bounded in number and stopped at their deadline, and the rest of the API
/// keeps answering meanwhile.
#[test]
fn hanging_restic_calls_are_bounded_in_number_and_time_and_the_api_stays_up() {
    let work = TempDir::new("hang");
    // A fault a real restic cannot be made to produce on demand: it never answers.
    let fake = shell_script(&work.path().join("restic-that-hangs"), "exec sleep 600\n");
    let d = Daemon::start_with(Opts {
        restic: fake,
        env: vec![("FOOTREST_API_RESTIC_TIMEOUT".into(), "3".into())],
        ..Opts::default()
    });
    let port = d.port;
    let check = move || {
        http(
            port,
            "POST",
            "/v1.Backrest/CheckRepoExists",
            &[("Content-Type", "application/json")],
            br#"{"id": "slow-nas", "uri": "/srv/slow-nas", "password": "p"}"#,
        )
    };
    let hung: Vec<_> = (0..2).map(|_| std::thread::spawn(check)).collect();
    d.wait_for("two hanging restic runs", Duration::from_secs(20), || {
        (descendants(d.pid()).len() >= 2).then_some(())
    });
    // A third is refused at once rather than taking another handler thread.
    let r = check();
    assert_eq!(r.status, 429, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["code"], "resource_exhausted");
    // Everything else answers while they hang.
    for _ in 0..5 {
        assert_eq!(d.rpc("GetConfig", serde_json::json!({})).0, 200);
    }
    for h in hung {
        let r = h.join().unwrap();
        assert_eq!(r.status, 504, "{}", String::from_utf8_lossy(&r.body));
        let e = r.json();
        assert_eq!(e["code"], "deadline_exceeded");
        let msg = e["message"].as_str().unwrap();
        assert!(msg.contains("slow-nas") && msg.contains("3 s"), "{msg}");
    }
    d.wait_for("the hung restic stopped", Duration::from_secs(20), || {
        descendants(d.pid()).is_empty().then_some(())
    });
}

/// Calls that wait for their task (Backup, DoRepoTask, Forget) are capped: past the cap the
/// answer is 429 at once and nothing is queued, short requests keep answering, and the count
/// comes back as the waiting calls are answered.
#[test]
fn calls_waiting_for_tasks_are_capped_and_short_requests_still_answer() {
    let work = TempDir::new("waiting");
    let gate = work.path().join("gate");
    let wrapper = restic_wrapper(
        &work.path().join("gated-restic"),
        &format!(
            "if [ \"$1\" = backup ]; then while [ ! -e '{}' ]; do sleep 0.05; done; fi",
            gate.display()
        ),
    );
    let opts = Opts {
        restic: wrapper,
        env: vec![("FOOTREST_MAX_WAITING".into(), "2".into())],
        ..Default::default()
    };
    let Setup { d, work: _work, .. } = setup_with(work, opts, serde_json::json!({}));
    let port = d.port;
    let backup = move || raw(port, post("/v1.Backrest/Backup", br#"{"value":"plan1"}"#));
    let waiting: Vec<_> = (0..2).map(|_| std::thread::spawn(backup)).collect();
    let backups = |d: &Daemon| {
        d.operations(serde_json::json!({"selector": {"planId": "plan1"}}))
            .into_iter()
            .filter(|o| o.get("operationBackup").is_some())
            .count()
    };
    d.wait_for("two backups queued", Duration::from_secs(30), || {
        (backups(&d) == 2).then_some(())
    });
    let (code, body) = backup();
    assert_eq!(code, 429, "{body}");
    assert!(
        body.contains("resource_exhausted") && body.contains("not queued"),
        "{body}"
    );
    assert_eq!(backups(&d), 2, "nothing was queued past the cap");
    assert_eq!(d.rpc("GetConfig", serde_json::json!({})).0, 200);
    std::fs::write(&gate, b"").unwrap();
    for w in waiting {
        let (code, body) = w.join().unwrap();
        assert_eq!(code, 200, "{body}");
    }
    let (code, body) = backup();
    assert_eq!(code, 200, "the count came back: {body}");
}
