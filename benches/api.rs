//! API and backup overhead, measured side by side in one run (see BENCHMARKS.md).
//!
//! 1. Unary RPC latency: footrest's GetConfig and GetOperations vs a bare tiny_http server that
//!    answers a fixed JSON body (the floor for this HTTP stack), same client, rounds interleaved.
//! 2. A backup through footrest (Backup RPC: parent from the history, backup, index entry from
//!    the backup's report, history) vs the same `restic backup` run directly, and a plan whose
//!    retention (keep-last 1) makes a forget follow each backup, rounds interleaved.
//!
//! Run: `cargo bench --bench api`. FOOTREST_BENCH_RESTIC selects the restic binary and
//! FOOTREST_BENCH_DAEMON the footrest one (default: this build's); cross/qemu-bench.sh sets both
//! to emulated aarch64 binaries.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-password";

fn main() {
    // `cargo test --all-targets` runs bench binaries without `--bench`: only check they build.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let restic = std::env::var("FOOTREST_BENCH_RESTIC").unwrap_or_else(|_| "restic".into());
    let work = std::env::temp_dir().join(format!("footrest-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let daemon = Daemon::start(&work, &restic);

    let bare = bare_server();
    let bare_port = bare.server_addr().to_ip().unwrap().port();

    // Setup: a repo and a plan over a source tree.
    let src = work.join("src");
    make_source(&src, 40, 1 << 20);
    // Both sides back up to copies of one repository: restic calibrates the key derivation at
    // `init`, and its cost (a power-of-two scrypt N, so often 2x apart between two inits) is paid
    // at every start. The copies share a repository id, so the direct runs get their own cache.
    let direct_repo = work.join("direct-repo");
    let direct_cache = work.join("direct-cache");
    run(Command::new(&restic)
        .args(["init"])
        .env("RESTIC_REPOSITORY", &direct_repo)
        .env("RESTIC_PASSWORD", PASSWORD));
    let repo = work.join("repo");
    run(Command::new("cp").arg("-a").arg(&direct_repo).arg(&repo));
    let mut c = keep_alive(daemon.port);
    c.post(
        "/v1.Backrest/AddRepo",
        &format!(
            r#"{{"repo":{{"id":"r","uri":"{}","password":"{PASSWORD}"}}}}"#,
            repo.display()
        ),
    );
    let config = c.post("/v1.Backrest/GetConfig", "{}");
    let mut config: serde_json::Value = serde_json::from_slice(&config).unwrap();
    let src_f = work.join("src-forget");
    make_source(&src_f, 4, 1 << 20);
    config["plans"] = serde_json::json!([
        {"id": "p", "repo": "r", "paths": [src]},
        {"id": "pf", "repo": "r", "paths": [src_f], "retention": {"policyKeepLastN": 1}},
    ]);
    c.post("/v1.Backrest/SetConfig", &config.to_string());

    println!(
        "## RPC latency ({ROUNDS} rounds x {PER_ROUND} requests; connections kept alive where the server allows)"
    );
    let mut bare_c = keep_alive(bare_port);
    let (mut t_bare, mut t_cfg, mut t_ops) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for _ in 0..PER_ROUND {
            t_bare.push(time(|| drop(bare_c.post("/v1.Backrest/GetConfig", "{}"))));
            t_cfg.push(time(|| drop(c.post("/v1.Backrest/GetConfig", "{}"))));
            t_ops.push(time(|| drop(c.post("/v1.Backrest/GetOperations", "{}"))));
        }
    }
    let mb = median(&mut t_bare);
    let mc = median(&mut t_cfg);
    let mo = median(&mut t_ops);
    println!("| server | request | median µs | ratio to bare |");
    println!("|---|---|---|---|");
    println!("| bare tiny_http | fixed JSON | {:.0} | 1.00 |", us(mb));
    println!(
        "| footrest | GetConfig | {:.0} | {:.2} |",
        us(mc),
        ratio(mc, mb)
    );
    println!(
        "| footrest | GetOperations (empty) | {:.0} | {:.2} |",
        us(mo),
        ratio(mo, mb)
    );

    println!();
    println!(
        "## Backup of 40 MiB in 40 files (incompressible), {BACKUP_ROUNDS} rounds, new data each round"
    );
    let (mut t_direct, mut t_footrest, mut t_forget) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..BACKUP_ROUNDS {
        // Change one file each round so both sides back up the same amount of new data.
        std::fs::write(
            src.join("f0.bin"),
            pseudo_random(1 << 20, 1000 + round as u64),
        )
        .unwrap();
        t_direct.push(time(|| {
            run(Command::new(&restic)
                .args(["backup", "--json", "--exclude-caches", "--tag", "plan:p"])
                .arg(&src)
                .env("RESTIC_REPOSITORY", &direct_repo)
                .env("RESTIC_PASSWORD", PASSWORD)
                .env("RESTIC_CACHE_DIR", &direct_cache)
                .env("RESTIC_PROGRESS_FPS", "2"))
        }));
        t_footrest.push(time(|| {
            let body = c.post("/v1.Backrest/Backup", r#"{"value":"p"}"#);
            assert_eq!(
                body,
                b"{}",
                "backup failed: {}",
                String::from_utf8_lossy(&body)
            );
        }));
        std::fs::write(
            src_f.join("f0.bin"),
            pseudo_random(1 << 20, 2000 + round as u64),
        )
        .unwrap();
        t_forget.push(time(|| {
            let body = c.post("/v1.Backrest/Backup", r#"{"value":"pf"}"#);
            assert_eq!(
                body,
                b"{}",
                "backup failed: {}",
                String::from_utf8_lossy(&body)
            );
        }));
    }
    let mg = median(&mut t_forget);
    let md = median(&mut t_direct);
    let mf = median(&mut t_footrest);
    println!("| run | median ms | ratio |");
    println!("|---|---|---|");
    println!("| restic backup directly | {:.0} | 1.00 |", ms(md));
    println!(
        "| Backup RPC through footrest (no forget: no retention) | {:.0} | {:.2} |",
        ms(mf),
        ratio(mf, md)
    );
    println!(
        "| Backup RPC, 4 MiB plan with keep-last 1 (backup + forget each round) | {:.0} | — |",
        ms(mg)
    );
    println!("(first round includes the initial full backup on both sides)");

    drop(daemon);
    let _ = std::fs::remove_dir_all(&work);
}

const ROUNDS: usize = 5;
const PER_ROUND: usize = 400;
const BACKUP_ROUNDS: usize = 7;

fn time(f: impl FnOnce()) -> Duration {
    let t = Instant::now();
    f();
    t.elapsed()
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn run(cmd: &mut Command) {
    let out = cmd.stdout(Stdio::null()).output().expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn bare_server() -> std::sync::Arc<tiny_http::Server> {
    let server = std::sync::Arc::new(tiny_http::Server::http("127.0.0.1:0").unwrap());
    for _ in 0..4 {
        let s = std::sync::Arc::clone(&server);
        std::thread::spawn(move || {
            while let Ok(mut req) = s.recv() {
                let mut body = Vec::new();
                let _ = req.as_reader().read_to_end(&mut body);
                let resp = tiny_http::Response::from_data(
                    &br#"{"version":6,"instance":"bench","auth":{"disabled":true}}"#[..],
                )
                .with_header(
                    tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                        .unwrap(),
                );
                let _ = req.respond(resp);
            }
        });
    }
    server
}

struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn start(work: &Path, restic: &str) -> Daemon {
        let bin = std::env::var("FOOTREST_BENCH_DAEMON")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_footrest").into());
        let mut child = Command::new(bin)
            .args(["--bind-address", "127.0.0.1:0", "--restic-cmd", restic])
            .arg("--config-file")
            .arg(work.join("config.json"))
            .arg("--data-dir")
            .arg(work.join("data"))
            .env("FOOTREST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .expect("footrest starts");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines.next().expect("footrest exited").unwrap();
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break addr.rsplit(':').next().unwrap().parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Daemon { child, port }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP/1.1 client on one connection, reconnecting when the server closes it (footrest
/// answers `Connection: close`), so both servers are measured as a client would see them.
struct Client {
    port: u16,
    r: Option<BufReader<TcpStream>>,
}

fn keep_alive(port: u16) -> Client {
    Client { port, r: None }
}

impl Client {
    fn post(&mut self, path: &str, body: &str) -> Vec<u8> {
        let port = self.port;
        let r = self.r.get_or_insert_with(|| {
            let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.set_nodelay(true).unwrap();
            BufReader::new(s)
        });
        let (out, close) = Self::exchange(r, path, body);
        if close {
            self.r = None;
        }
        out
    }

    fn exchange(r: &mut BufReader<TcpStream>, path: &str, body: &str) -> (Vec<u8>, bool) {
        let req = format!(
            "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        r.get_mut().write_all(req.as_bytes()).unwrap();
        let mut len = 0usize;
        let mut chunked = false;
        let mut close = false;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            let lower = l.to_ascii_lowercase();
            if let Some(v) = lower.strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
            if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
                chunked = true;
            }
            if lower.starts_with("connection:") && lower.contains("close") {
                close = true;
            }
        }
        let mut out = Vec::new();
        if chunked {
            loop {
                let mut size = String::new();
                r.read_line(&mut size).unwrap();
                let n = usize::from_str_radix(size.trim(), 16).unwrap();
                let mut chunk = vec![0; n + 2];
                r.read_exact(&mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                out.extend_from_slice(&chunk[..n]);
            }
        } else {
            out.resize(len, 0);
            r.read_exact(&mut out).unwrap();
        }
        (out, close)
    }
}

fn make_source(dir: &PathBuf, files: usize, size: usize) {
    std::fs::create_dir_all(dir).unwrap();
    for i in 0..files {
        std::fs::write(
            dir.join(format!("f{i}.bin")),
            pseudo_random(size, i as u64 + 1),
        )
        .unwrap();
    }
}

fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}
