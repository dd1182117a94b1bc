//! Shared helpers: a real footrest process on a free port with a temp data dir, real restic
//! repositories, and a small HTTP/1.1 client (no client library, so the bytes are exactly ours).

#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

pub const PASSWORD: &str = "correct horse battery staple";

/// The restic binary under test (tests/run.sh runs the suite once per version).
pub fn restic_bin() -> String {
    std::env::var("FOOTREST_TEST_RESTIC").unwrap_or_else(|_| "restic".into())
}

/// The full path of a command (as `command -v` finds it); a path is returned as it is.
pub fn which(cmd: &str) -> String {
    if cmd.contains('/') {
        return cmd.to_string();
    }
    let out = Command::new("sh")
        .args(["-c", &format!("command -v {cmd}")])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// Writes an executable `sh` script at `path` (a restic wrapper or a fake restic) and returns
/// its path.
/// A script at `path` that runs the shell lines `before`, then the real restic with its
/// arguments (to count, record, slow down or hold restic's runs).
pub fn restic_wrapper(path: &Path, before: &str) -> String {
    shell_script(
        path,
        &format!("{before}\nexec '{}' \"$@\"\n", which(&restic_bin())),
    )
}

pub fn shell_script(path: &Path, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, format!("#!/bin/sh\n{body}")).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.display().to_string()
}

/// restic's minor version (14 for 0.14.0, 18 for 0.18.0).
pub fn restic_minor() -> u32 {
    let out = Command::new(restic_bin())
        .arg("version")
        .output()
        .expect("restic runs");
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse().ok())
        .expect("restic version")
}

/// A temp dir removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let base = std::env::var_os("CARGO_TARGET_TMPDIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        let p = base.join(format!(
            "ft-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running daemon.
pub struct Daemon {
    pub child: Option<Child>,
    pub port: u16,
    pub dir: TempDir,
    pub log: Arc<Mutex<String>>,
    /// An `Authorization` header value sent with every `rpc`/`ok` call (auth-enabled configs).
    pub auth: Option<String>,
}

pub struct Opts {
    pub bind: String,
    pub config: Option<Value>,
    pub restic: String,
    pub env: Vec<(String, String)>,
    pub args: Vec<String>,
    /// RLIMIT_NOFILE (soft and hard) for the daemon.
    pub nofile: Option<u64>,
    /// RLIMIT_FSIZE (soft; SIGXFSZ ignored) for the daemon: writes past it fail as on a full
    /// disk. `prlimit` lifts it from outside ("space comes back").
    pub fsize: Option<u64>,
}

impl Default for Opts {
    fn default() -> Self {
        Opts {
            bind: "127.0.0.1:0".into(),
            config: None,
            restic: restic_bin(),
            env: Vec::new(),
            args: Vec::new(),
            nofile: None,
            fsize: None,
        }
    }
}

impl Daemon {
    pub fn start() -> Daemon {
        Self::start_with(Opts::default())
    }

    pub fn start_with(opts: Opts) -> Daemon {
        let dir = TempDir::new("daemon");
        if let Some(c) = &opts.config {
            std::fs::write(
                dir.path().join("config.json"),
                serde_json::to_vec_pretty(c).unwrap(),
            )
            .unwrap();
        }
        Self::spawn(dir, &opts)
    }

    /// Starts (again) on an existing dir: `config.json` and `data/` inside it.
    pub fn spawn(dir: TempDir, opts: &Opts) -> Daemon {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_footrest"));
        cmd.arg("--bind-address")
            .arg(&opts.bind)
            .arg("--config-file")
            .arg(dir.path().join("config.json"))
            .arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--restic-cmd")
            .arg(&opts.restic)
            .env("FOOTREST_LOG", "debug")
            .env("HOME", dir.path())
            .env("XDG_CACHE_HOME", cache_dir())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in &opts.env {
            cmd.env(k, v);
        }
        cmd.args(&opts.args);
        if opts.nofile.is_some() || opts.fsize.is_some() {
            use std::os::unix::process::CommandExt;
            let (nofile, fsize) = (opts.nofile, opts.fsize);
            // SAFETY: only async-signal-safe syscalls between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    if let Some(n) = nofile {
                        let r = libc::rlimit {
                            rlim_cur: n as libc::rlim_t,
                            rlim_max: n as libc::rlim_t,
                        };
                        if libc::setrlimit(libc::RLIMIT_NOFILE, &r) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    if let Some(n) = fsize {
                        // An ignored signal stays ignored across exec.
                        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
                        let r = libc::rlimit {
                            rlim_cur: n as libc::rlim_t,
                            rlim_max: libc::RLIM_INFINITY,
                        };
                        if libc::setrlimit(libc::RLIMIT_FSIZE, &r) != 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("footrest starts");
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = line.split("listening on http://").nth(1) {
                    let port = addr
                        .split_whitespace()
                        .next()
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    if let (Some(tx), Some(p)) = (tx.take(), port) {
                        let _ = tx.send(p);
                    }
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let port = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(p) => p,
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("footrest did not start: {}", log.lock().unwrap());
            }
        };
        Daemon {
            child: Some(child),
            port,
            dir,
            log,
            auth: None,
        }
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.json")
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// POSTs a unary RPC; panics on a transport error, returns (status, parsed JSON body).
    pub fn rpc(&self, method: &str, body: Value) -> (u16, Value) {
        let mut headers = vec![("Content-Type", "application/json")];
        if let Some(a) = &self.auth {
            headers.push(("Authorization", a));
        }
        let r = self.request(
            "POST",
            &format!("/v1.Backrest/{method}"),
            &headers,
            body.to_string().as_bytes(),
        );
        (r.status, r.json())
    }

    /// An RPC that must succeed.
    pub fn ok(&self, method: &str, body: Value) -> Value {
        let (status, v) = self.rpc(method, body);
        assert_eq!(status, 200, "{method} failed: {v}\nlog:\n{}", self.log());
        v
    }

    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> HttpResponse {
        http(self.port, method, path, headers, body)
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().expect("running");
        unsafe { libc_kill(child.id() as i32, 15) };
        child.wait().unwrap()
    }

    /// SIGKILL, leaving the dir in place for a restart.
    pub fn kill(mut self) -> TempDir {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::mem::replace(&mut self.dir, TempDir(PathBuf::new()))
    }

    pub fn operations(&self, body: Value) -> Vec<Value> {
        let v = self.ok("GetOperations", body);
        v["operations"].as_array().cloned().unwrap_or_default()
    }

    /// Polls until `f` holds (the daemon is another process: there is no event to await here).
    pub fn wait_for<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut f: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(v) = f() {
                return v;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}\nlog:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

unsafe extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

/// Sends a signal to a process.
pub fn signal(pid: u32, sig: i32) {
    unsafe { libc_kill(pid as i32, sig) };
}

/// restic's cache shared by all tests (speeds up repeated runs; contents are per repo id).
fn cache_dir() -> PathBuf {
    let p = std::env::temp_dir().join("footrest-test-cache");
    let _ = std::fs::create_dir_all(&p);
    p
}

pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| json!({"_raw": String::from_utf8_lossy(&self.body)}))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request on a fresh connection.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> HttpResponse {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(600))).unwrap();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let has_length = headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-length"));
    if (!body.is_empty() || method == "POST") && !has_length {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    parse_response(&raw)
}

pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("header end");
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    HttpResponse {
        status,
        headers,
        body,
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// An HTTP Basic `Authorization` value.
/// A Backup call of `plan` on its own thread (it answers when the backup has ended).
pub fn backup_in_background(port: u16, plan: &str) -> std::thread::JoinHandle<HttpResponse> {
    let body = serde_json::json!({ "value": plan }).to_string();
    std::thread::spawn(move || {
        http(
            port,
            "POST",
            "/v1.Backrest/Backup",
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        )
    })
}

pub fn basic_auth(user: &str, password: &str) -> String {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {b}")
}

/// Runs restic directly against a repo (for test setup and checks).
pub fn restic(repo: &Path, args: &[&str]) -> std::process::Output {
    Command::new(restic_bin())
        .args(args)
        .env("RESTIC_REPOSITORY", repo)
        .env("RESTIC_PASSWORD", PASSWORD)
        .env("XDG_CACHE_HOME", cache_dir())
        .output()
        .expect("restic runs")
}

/// Snapshot ids in a repo.
pub fn snapshot_ids(repo: &Path) -> Vec<String> {
    let out = restic(repo, &["snapshots", "--json", "--no-lock"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect()
}

/// Writes a small tree of files to back up.
pub fn make_source(dir: &Path) {
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("hello.txt"), b"hello footrest\n").unwrap();
    std::fs::write(dir.join("sub/data.bin"), pseudo_random(64 * 1024, 7)).unwrap();
}

/// Incompressible bytes without reading /dev/urandom.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
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

/// Held while a test needs its source's parent directories to stay unchanged (restic records
/// every directory up to `/`, so a skipIfUnchanged backup sees a new file next to any of them
/// as a change). Tests that need this take the lock; nothing else writes in the quiet root.
pub struct QuietGuard(#[allow(dead_code)] std::sync::MutexGuard<'static, ()>);

/// A directory whose ancestors nothing touches while the guard is held: directly under `/`
/// when the tests run as root (as in CI; `/tmp` or the checkout's own folders change all the
/// time), else under `target/quiet/`. Keep the guard until the directory is gone (declare it
/// first).
pub fn quiet_dir(tag: &str) -> (QuietGuard, TempDir) {
    static QUIET: Mutex<()> = Mutex::new(());
    let guard = QUIET.lock().unwrap_or_else(|p| p.into_inner());
    static N: AtomicUsize = AtomicUsize::new(0);
    // SAFETY: geteuid has no preconditions.
    let root = if unsafe { libc::geteuid() } == 0 {
        PathBuf::from("/")
    } else {
        PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .parent()
            .expect("the target dir")
            .join("quiet")
    };
    let dir = root.join(format!(
        "footrest-quiet-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    (QuietGuard(guard), TempDir(dir))
}

/// A daemon with one repo ("repo1", added through AddRepo) and one plan ("plan1") over `src`.
pub struct Setup {
    pub d: Daemon,
    pub repo: PathBuf,
    pub src: PathBuf,
    pub work: TempDir,
}

pub fn setup_with_plan(plan_extra: Value) -> Setup {
    setup_with(TempDir::new("work"), Opts::default(), plan_extra)
}

/// `setup_with_plan` in `work` (which may already hold a restic wrapper), with `opts`.
pub fn setup_with(work: TempDir, opts: Opts, plan_extra: Value) -> Setup {
    let src = work.path().join("src");
    make_source(&src);
    let repo = work.path().join("repo");
    let d = Daemon::start_with(opts);
    add_repo(&d, "repo1", &repo);
    let mut plan = json!({"id": "plan1", "repo": "repo1", "paths": [src.to_str().unwrap()]});
    if let (Some(p), Some(extra)) = (plan.as_object_mut(), plan_extra.as_object()) {
        for (k, v) in extra {
            p.insert(k.clone(), v.clone());
        }
    }
    set_plans(&d, vec![plan]);
    Setup { d, repo, src, work }
}

pub fn add_repo(d: &Daemon, id: &str, path: &Path) -> Value {
    d.ok(
        "AddRepo",
        json!({"repo": {"id": id, "uri": path.to_str().unwrap(), "password": PASSWORD}}),
    )
}

pub fn set_plans(d: &Daemon, plans: Vec<Value>) -> Value {
    let mut config = d.ok("GetConfig", json!({}));
    config["plans"] = Value::Array(plans);
    d.ok("SetConfig", config)
}

/// Every process below `root` (restic runs as the daemon's child).
pub fn descendants(root: u32) -> Vec<u32> {
    let mut parent_of = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
                // "pid (comm) state ppid …": comm may hold spaces, so split after ')'.
                if let Some(ppid) = stat
                    .rsplit(')')
                    .next()
                    .and_then(|rest| rest.split_whitespace().nth(1))
                    .and_then(|p| p.parse::<u32>().ok())
                {
                    parent_of.push((pid, ppid));
                }
            }
        }
    }
    let mut out = vec![root];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out.remove(0);
    out
}

/// The number from an int64 JSON string.
pub fn int(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .unwrap_or(0)
}

/// Lock files in a local repository.
pub fn lock_count(repo: &Path) -> usize {
    std::fs::read_dir(repo.join("locks"))
        .map(|d| d.count())
        .unwrap_or(0)
}
