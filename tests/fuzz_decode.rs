//! A bounded mutation fuzzer that runs in CI: seeds from `tests/fuzz-corpus/<target>/` are
//! mutated by a small deterministic PRNG and fed to
//! - `config`: the config loader (`serde_json` into `Config`, `validate`, `sanitized`, and a
//!   save/load round trip through `ConfigStore`);
//! - `restic`: restic output parsing (`parse_backup_line`, `parse_forget`);
//! - `oplog`: the operation log reader (segments with mutated lines, checksums fixed up half the
//!   time so the JSON decoding is reached, opened and queried);
//! - `rpc`: the Connect/JSON decoding of every RPC, through a real daemon (`/bin/false` as
//!   restic), including mutated raw HTTP heads (`http`).
//!
//! Every target must return an error or a value, never panic; the daemon must answer every
//! request with a well-formed HTTP response carrying a Connect error body, and never a 5xx
//! other than 501 (unimplemented) and 500 `unknown` (restic failed).
//!
//! Budget: `FOOTREST_FUZZ_SECS` seconds per target (default 3), seed `FOOTREST_FUZZ_SEED`
//! (default fixed, so CI runs are reproducible; the seed of a failure is printed). A failing
//! input is written to `target/fuzz-failures/`.

#[path = "integration/common.rs"]
mod common;

use footrest::config::{Config, ConfigStore};
use footrest::model::{OpSelector, Operation, OperationBackup, OperationStatus};
use footrest::oplog::OpLog;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const INTERESTING: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"\\",
    b":",
    b",",
    b"0",
    b"-1",
    b"1e999",
    b"NaN",
    b"null",
    b"true",
    b"\"\"",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"\xff",
    b"\x00",
    b"\\u0000",
    b"\\ud800",
    b"{}",
    b"[]",
    b"\"********\"",
    b"\r\n",
    b" ",
    b"\"plan:\"",
    b"9999999999999999999999",
    b"0.0000001",
    b"\xc3\xa9",
    b"\"../..\"",
];

/// One to four random edits of `input`, sometimes splicing in bytes from `other`.
fn mutate(rng: &mut Rng, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let len = v.len();
        let at = rng.below(len + 1);
        match rng.below(8) {
            0 if len > 0 => v[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => v[rng.below(len)] = rng.next() as u8,
            2 => {
                let tok = INTERESTING[rng.below(INTERESTING.len())];
                v.splice(at..at, tok.iter().copied());
            }
            3 if len > 0 => {
                let end = (at + 1 + rng.below(16)).min(len);
                v.drain(at.min(len - 1)..end);
            }
            4 if len > 0 => {
                let start = rng.below(len);
                let end = (start + 1 + rng.below(32)).min(len);
                let piece = v[start..end].to_vec();
                v.splice(at..at, piece);
            }
            5 if !other.is_empty() => {
                let start = rng.below(other.len());
                let end = (start + 1 + rng.below(64)).min(other.len());
                v.splice(at..at, other[start..end].iter().copied());
            }
            6 if len > 0 => v.truncate(rng.below(len)),
            _ => {
                // Replace a run of digits with an extreme number.
                if let Some(p) = v.iter().skip(at).position(|b| b.is_ascii_digit()) {
                    let s = at + p;
                    let e = v[s..]
                        .iter()
                        .position(|b| !b.is_ascii_digit())
                        .map_or(v.len(), |n| s + n);
                    let tok = [&b"1e308"[..], b"-0", b"4294967296", b"99999999999999999999"];
                    v.splice(s..e, tok[rng.below(tok.len())].iter().copied());
                }
            }
        }
    }
    v
}

fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-corpus")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "empty corpus {}", dir.display());
    out
}

fn budget() -> Duration {
    let secs = std::env::var("FOOTREST_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

fn seed() -> u64 {
    std::env::var("FOOTREST_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_F007_2E57)
        | 1
}

/// Runs `check` on mutated corpus entries until the budget is spent; on a panic, saves the
/// input and re-raises with the seed and iteration.
fn fuzz(target: &str, mut check: impl FnMut(&str, &[u8])) -> usize {
    let seeds = corpus(target);
    let mut rng = Rng(seed() ^ (target.len() as u64 * 0x9E37_79B9));
    // The seeds themselves first.
    for (name, s) in &seeds {
        check(name, s);
    }
    let deadline = Instant::now() + budget();
    let mut n = 0;
    while Instant::now() < deadline {
        let (name, base) = &seeds[rng.below(seeds.len())];
        let other = &seeds[rng.below(seeds.len())].1;
        let input = mutate(&mut rng, base, other);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(name, &input)));
        if let Err(p) = r {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures");
            let _ = std::fs::create_dir_all(&dir);
            let file = dir.join(format!("{target}-{n}"));
            let _ = std::fs::write(&file, &input);
            eprintln!(
                "fuzz {target}: failure at iteration {n} (seed {}), input saved to {}",
                seed(),
                file.display()
            );
            std::panic::resume_unwind(p);
        }
        n += 1;
    }
    eprintln!("fuzz {target}: {n} mutated inputs in {:?}", budget());
    n
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("footrest-fuzz-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn fuzz_config_loader() {
    let dir = temp_dir("config");
    let store =
        ConfigStore::new(dir.join("config.json")).with_hook_check(footrest::hooks::action_problems);
    let n = fuzz("config", |_, input| {
        let Ok(config) = serde_json::from_slice::<Config>(input) else {
            return;
        };
        let shown = config.sanitized();
        let _ = serde_json::to_vec(&shown).unwrap();
        if store.validate(&config).is_ok() {
            // What is saved loads back equal (modulo the default version).
            store.save(&config).unwrap();
            let mut back = store.load().unwrap();
            if config.version == 0 {
                back.version = 0;
            }
            assert_eq!(back, config, "save/load round trip");
        }
    });
    assert!(n > 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fuzz_restic_output() {
    for (name, s) in corpus("restic") {
        let text = String::from_utf8(s).unwrap();
        if name.starts_with("forget") {
            assert!(
                !footrest::restic::parse_forget(&text).unwrap().is_empty(),
                "{name}"
            );
        } else {
            let ev = footrest::restic::parse_backup_line(text.trim());
            assert!(
                !matches!(ev, footrest::restic::BackupEvent::Other(_)),
                "seed {name} is not understood"
            );
        }
    }
    fuzz("restic", |_, input| {
        let text = String::from_utf8_lossy(input);
        for line in text.lines() {
            let _ = footrest::restic::parse_backup_line(line);
        }
        let _ = footrest::restic::parse_forget(&text);
    });
}

/// CRC-32 (IEEE), as the oplog's line checksum.
fn crc32(data: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in data {
        c ^= b as u32;
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// Rewrites a line's `"crc32":"…"` to match its (mutated) content.
fn fix_checksum(line: &[u8]) -> Vec<u8> {
    const KEY: &[u8] = b",\"crc32\":\"";
    match line.windows(KEY.len()).rposition(|w| w == KEY) {
        Some(p) => {
            let mut out = line[..p].to_vec();
            out.extend_from_slice(format!(",\"crc32\":\"{:08x}\"}}", crc32(&line[..p])).as_bytes());
            out
        }
        None => line.to_vec(),
    }
}

/// A real segment written through the OpLog API, so the corpus follows the format.
fn oplog_seed() -> Vec<u8> {
    let dir = temp_dir("oplog-seed");
    {
        let log = OpLog::open(&dir).unwrap();
        for (i, status) in [
            OperationStatus::Success,
            OperationStatus::Error,
            OperationStatus::Pending,
        ]
        .into_iter()
        .enumerate()
        {
            let mut op = Operation {
                plan_id: "plan1".into(),
                repo_id: "repo1".into(),
                instance_id: "host".into(),
                snapshot_id: format!("{i}abcdef"),
                status,
                unix_time_start_ms: 1_700_000_000_000 + i as i64,
                display_message: "msg".into(),
                operation_backup: Some(OperationBackup::default()),
                ..Default::default()
            };
            log.add(&mut op).unwrap();
            op.status = OperationStatus::Success;
            log.update(&mut op).unwrap();
        }
        log.delete(&[2]).unwrap();
    }
    let mut seg = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".ndjson"))
        .collect();
    files.sort_by_key(|e| e.file_name());
    for f in files {
        seg.extend(std::fs::read(f.path()).unwrap());
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!seg.is_empty());
    seg
}

#[test]
fn fuzz_oplog_reader() {
    let corpus_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus/oplog");
    let seed_file = corpus_dir.join("segment.ndjson");
    if !seed_file.exists() {
        std::fs::write(&seed_file, oplog_seed()).unwrap();
    }
    let dir = temp_dir("oplog");
    let mut fix = Rng(seed());
    fuzz("oplog", |_, input| {
        // Half the time, mutated lines get valid checksums so their JSON is decoded.
        let body: Vec<u8> = if fix.below(2) == 0 {
            input
                .split(|b| *b == b'\n')
                .flat_map(|l| {
                    let mut l = fix_checksum(l);
                    l.push(b'\n');
                    l
                })
                .collect()
        } else {
            input.to_vec()
        };
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("000001.ndjson"), &body).unwrap();
        if let Ok(log) = OpLog::open_read_only(&dir) {
            if let Ok(ops) = log.query(&OpSelector::default(), 0) {
                for op in ops.iter().take(4) {
                    let _ = log.get(op.id);
                }
            }
            let _ = log.query(
                &OpSelector {
                    plan_id: Some("plan1".into()),
                    ..Default::default()
                },
                2,
            );
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
}

/// Every RPC's request decoding, through the daemon: mutated bodies to each method, mutated raw
/// heads to the listener. Answers must be well-formed, never a 5xx but 501.
#[test]
fn fuzz_rpc_requests() {
    use common::{Daemon, Opts};
    let d = Daemon::start_with(Opts {
        restic: "/bin/false".into(),
        ..Default::default()
    });
    let methods: Vec<String> = footrest::api::routes()
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.starts_with("/v1."))
        .collect();
    let bodies = corpus("rpc");
    let mut rng = Rng(seed() ^ 0xABCD);
    let check = |path: &str, body: &[u8], d: &Daemon| {
        let r = d.request("POST", path, &[("Content-Type", "application/json")], body);
        // 500 "unknown" is restic (`/bin/false` here) failing; "internal" would be our bug.
        let code = serde_json::from_slice::<serde_json::Value>(&r.body)
            .ok()
            .and_then(|v| v["code"].as_str().map(String::from))
            .unwrap_or_default();
        assert!(
            r.status < 500 || r.status == 501 || (r.status == 500 && code == "unknown"),
            "{path} with {:?}: {} {}\n{}",
            String::from_utf8_lossy(body),
            r.status,
            String::from_utf8_lossy(&r.body),
            d.log()
        );
        if r.status != 200 {
            let v: serde_json::Value = serde_json::from_slice(&r.body)
                .unwrap_or_else(|_| panic!("{path}: not a Connect error body: {:?}", r.body));
            assert!(
                v["code"].is_string() && v["message"].is_string(),
                "{path}: {v}"
            );
        }
    };
    // Each seed to each method (a body meant for another method is input too).
    for m in &methods {
        for (_, b) in &bodies {
            check(m, b, &d);
        }
    }
    let deadline = Instant::now() + budget();
    let mut n = 0;
    while Instant::now() < deadline {
        let m = &methods[rng.below(methods.len())];
        // Mostly the method's own seed, mutated.
        let own = m.rsplit('/').next().unwrap_or("");
        let base = bodies
            .iter()
            .find(|(name, _)| rng.below(4) != 0 && name.trim_end_matches(".json") == own)
            .unwrap_or(&bodies[rng.below(bodies.len())]);
        let other = &bodies[rng.below(bodies.len())].1;
        let body = mutate(&mut rng, &base.1, other);
        if body.is_empty() {
            continue;
        }
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check(m, &body, &d)));
        if let Err(p) = r {
            eprintln!("fuzz rpc: failure at iteration {n} (seed {})", seed());
            std::panic::resume_unwind(p);
        }
        n += 1;
    }
    eprintln!("fuzz rpc: {n} mutated requests in {:?}", budget());

    // Raw heads: any answer is fine, as long as the daemon keeps answering.
    let heads = corpus("http");
    let deadline = Instant::now() + budget() / 2;
    let mut n = 0;
    while Instant::now() < deadline {
        let base = &heads[rng.below(heads.len())].1;
        let other = &heads[rng.below(heads.len())].1;
        let raw = mutate(&mut rng, base, other);
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let _ = s.write_all(&raw);
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out);
        if !out.is_empty() {
            assert!(
                out.starts_with(b"HTTP/1."),
                "{:?}",
                String::from_utf8_lossy(&out)
            );
        }
        n += 1;
    }
    eprintln!("fuzz http: {n} mutated heads");
    let r = d.request(
        "POST",
        "/v1.Backrest/GetOperations",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(r.status, 200, "{}", d.log());
}
