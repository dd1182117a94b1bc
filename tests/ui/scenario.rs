//! Runs a scenario script under Node.js against a daemon and fails the test with its whole
//! output when it fails.

use crate::common::{Daemon, signal};
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A scenario that runs longer is stopped (its own watchdog in lib.mjs fires first).
const TIMEOUT: Duration = Duration::from_secs(300);

/// Browsers running at once: each Chromium takes a few hundred MB, and the test harness runs
/// as many tests in parallel as there are CPUs.
const MAX_BROWSERS: usize = 2;

fn ui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui")
}

/// The browser binary: `CHROMIUM` from the environment, else Debian's.
pub fn chromium() -> PathBuf {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

/// Where a scenario's screenshots and failure dumps go: `<target>/ui-artifacts/<name>/`.
pub fn artifacts_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("the target dir")
        .join("ui-artifacts")
        .join(name)
}

/// Panics with how to install them unless Chromium, Node.js, playwright-core and axe-core are
/// here.
fn check_deps() {
    let mut missing = Vec::new();
    let browser = chromium();
    if !browser.is_file() {
        missing.push(format!("Chromium ({})", browser.display()));
    }
    let node = Command::new("node")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !matches!(node, Ok(s) if s.success()) {
        missing.push("Node.js (node)".to_string());
    }
    for package in ["playwright-core", "axe-core"] {
        let p = ui_dir().join(format!("node_modules/{package}/package.json"));
        if !p.is_file() {
            missing.push(format!("{package} ({})", p.display()));
        }
    }
    assert!(
        missing.is_empty(),
        "the browser tests need {}: run `bash tests/run.sh --deps-only` (as root) first",
        missing.join(", ")
    );
}

/// A counting semaphore for MAX_BROWSERS.
struct Slot;

static SLOTS: (Mutex<usize>, Condvar) = (Mutex::new(0), Condvar::new());

impl Slot {
    fn take() -> Slot {
        let (lock, cv) = &SLOTS;
        let mut n = lock.lock().unwrap_or_else(|p| p.into_inner());
        while *n >= MAX_BROWSERS {
            n = cv.wait(n).unwrap_or_else(|p| p.into_inner());
        }
        *n += 1;
        Slot
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let (lock, cv) = &SLOTS;
        *lock.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        cv.notify_one();
    }
}

/// Runs `tests/ui/scenarios/<name>.mjs` against `daemon` with `FOOTREST_URL`, `ARTIFACTS`
/// (emptied first), `CHROMIUM` and `env`; panics with the scenario's output, the artifacts
/// path and the daemon's log unless it exits 0.
pub fn run_scenario(name: &str, daemon: &Daemon, env: &[(&str, &str)]) -> Output {
    let url = format!("http://127.0.0.1:{}", daemon.port);
    run(name, Some(&url), env, &|| daemon.log())
}

/// Like `run_scenario`, for scenarios that need no daemon (they serve their own pages).
pub fn run_scenario_without_daemon(name: &str, env: &[(&str, &str)]) -> Output {
    run(name, None, env, &String::new)
}

fn run(
    name: &str,
    url: Option<&str>,
    env: &[(&str, &str)],
    daemon_log: &dyn Fn() -> String,
) -> Output {
    check_deps();
    let script = ui_dir().join("scenarios").join(format!("{name}.mjs"));
    assert!(script.is_file(), "no scenario {}", script.display());
    let artifacts = artifacts_dir(name);
    let _ = std::fs::remove_dir_all(&artifacts);
    std::fs::create_dir_all(&artifacts).unwrap();

    let _slot = Slot::take();
    let mut cmd = Command::new("node");
    cmd.arg(&script)
        .current_dir(ui_dir())
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", chromium())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(u) = url {
        cmd.env("FOOTREST_URL", u);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().expect("node starts");
    // Both streams go to one transcript in the order they arrive, echoed as they come (seen
    // with --nocapture), and to their own buffers for the returned Output.
    let transcript = Arc::new(Mutex::new(String::new()));
    let readers = [
        pump(child.stdout.take().unwrap(), name, &transcript),
        pump(child.stderr.take().unwrap(), name, &transcript),
    ];
    let status = wait(&mut child, started + TIMEOUT);
    let [stdout, stderr] = readers.map(|r| r.join().expect("reader thread"));
    match status {
        Some(status) if status.success() => Output {
            status,
            stdout,
            stderr,
        },
        _ => panic!(
            "UI scenario {name} {} after {:.1}s\n--- scenario output\n{}--- artifacts: {}\n--- daemon log\n{}",
            match status {
                Some(s) => format!("failed ({s})"),
                None => format!("timed out ({}s)", TIMEOUT.as_secs()),
            },
            started.elapsed().as_secs_f64(),
            transcript.lock().unwrap(),
            artifacts.display(),
            daemon_log(),
        ),
    }
}

fn pump(
    stream: impl Read + Send + 'static,
    name: &str,
    transcript: &Arc<Mutex<String>>,
) -> std::thread::JoinHandle<Vec<u8>> {
    let transcript = Arc::clone(transcript);
    let name = name.to_string();
    std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut r = BufReader::new(stream);
        let mut line = Vec::new();
        while r.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
            let text = String::from_utf8_lossy(&line);
            print!("[{name}] {text}");
            transcript.lock().unwrap().push_str(&text);
            all.append(&mut line);
        }
        all
    })
}

/// The exit status, or None after SIGTERM (Playwright closes the browser on it) and, if that
/// is not enough, SIGKILL at the deadline.
fn wait(child: &mut std::process::Child, deadline: Instant) -> Option<ExitStatus> {
    loop {
        if let Some(s) = child.try_wait().expect("wait for node") {
            return Some(s);
        }
        if Instant::now() > deadline {
            signal(child.id(), 15);
            let grace = Instant::now() + Duration::from_secs(5);
            while Instant::now() < grace {
                if child.try_wait().ok().flatten().is_some() {
                    return None;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
