//! Starting and stopping the daemon: settings, data dir lock, history recovery, threads.
//!
//! Runs on the main thread: it builds the shared state, starts the worker and the handler
//! pool, waits for SIGTERM/SIGINT, then stops everything in order and joins every thread.

use crate::api::{App, Server};
use crate::config::{ConfigStore, SharedConfig};
use crate::logstore::LogStore;
use crate::oplog::{self, OpLog};
use crate::orchestrator::{Env, Orchestrator, scheduler};
use crate::restic::Restic;
use crate::schedule;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Validated settings (docs/COMPATIBILITY.md §5).
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: String,
    pub config_file: PathBuf,
    pub data_dir: PathBuf,
    pub restic_cmd: String,
    pub handlers: usize,
    pub shutdown_grace: Duration,
    /// Home Assistant over MQTT (`--mqtt`), when given.
    pub mqtt: Option<crate::mqtt::BrokerUrl>,
    /// Host names the API answers to without auth beside this machine's own (`--allow-host`).
    pub allow_hosts: Vec<String>,
}

/// The names the API answers to without auth besides IP addresses and `localhost`: the given
/// ones, the bind address's host when it is a name, and this machine's host name (also under
/// `.local`, as mDNS announces it).
fn own_host_names(settings: &Settings) -> Vec<String> {
    let mut names = settings.allow_hosts.clone();
    let host = settings.bind.trim();
    let host = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        // A bare port has no host.
        None => host.rsplit_once(':').map_or("", |(h, _)| h),
    };
    if !host.is_empty() && host.parse::<std::net::IpAddr>().is_err() {
        names.push(host.to_string());
    }
    let me = crate::util::hostname();
    if !me.is_empty() && me != "localhost" {
        names.push(format!("{me}.local"));
        names.push(me);
    }
    names
}

/// `BACKREST_PORT` semantics: `host:port`, or a bare port meaning all interfaces.
pub fn bind_addr(bind: &str) -> Result<SocketAddr, String> {
    let s = bind.trim();
    let full = if s.contains(':') {
        s.to_string()
    } else {
        format!("0.0.0.0:{s}")
    };
    let full = match full.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => full,
    };
    full.to_socket_addrs()
        .map_err(|e| format!("bind address {bind:?}: {e}"))?
        .next()
        .ok_or_else(|| format!("bind address {bind:?} resolves to nothing"))
}

/// A daemon that is serving. `wait_for_signal` then `stop`.
pub struct Daemon {
    pub app: Arc<App>,
    server: Server,
    worker: std::thread::JoinHandle<()>,
    scheduler: scheduler::SchedulerThread,
    grace: Duration,
    mqtt: Option<crate::mqtt::Bridge>,
    _lock: std::fs::File,
}

impl Daemon {
    pub fn start(s: &Settings) -> Result<Daemon, String> {
        if !crate::settings::init_with_hosts(own_host_names(s).iter().map(String::as_str)) {
            log::debug!("settings were read before the daemon started; host names not added");
        }
        std::fs::create_dir_all(&s.data_dir)
            .map_err(|e| format!("creating data dir {}: {e}", s.data_dir.display()))?;
        let lock = oplog::lock_data_dir(&s.data_dir).map_err(|e| e.to_string())?;
        // Before anything else touches a repo: what an earlier, killed daemon left running
        // still holds its locks.
        crate::children::set_owner(&s.data_dir);
        let leftovers = stop_leftovers(&s.data_dir);
        let store =
            ConfigStore::new(s.config_file.clone()).with_hook_check(crate::hooks::action_problems);
        let config = store.load().map_err(|e| e.to_string())?;
        let logs = LogStore::open(&s.data_dir.join("tasklogs"))
            .map_err(|e| format!("opening the task log dir: {e}"))?;
        let oplog = Arc::new(OpLog::open(&s.data_dir.join("oplog")).map_err(|e| e.to_string())?);
        let interrupted = recover_or_retry(&oplog);
        let monitor = crate::monitor::Monitor::start(&oplog);
        let config = Arc::new(SharedConfig::new(store, config));
        let orchestrator = Orchestrator::new(Env {
            config: Arc::clone(&config),
            logs: logs.clone(),
            oplog: Arc::clone(&oplog),
            restic_cmd: s.restic_cmd.clone(),
        });
        unlock_after_crash(&config, &s.restic_cmd, &interrupted, &leftovers);
        let auth = crate::auth::Authenticator::open(&s.data_dir).map_err(|e| e.to_string())?;
        let worker = orchestrator
            .start()
            .map_err(|e| format!("starting the worker: {e}"))?;
        auto_initialize(&config, &s.restic_cmd);
        // One zone for the scheduler and for previews, so that they agree.
        let zone = schedule::LocalZone::from_env();
        let scheduler = scheduler::start(Arc::clone(&orchestrator), zone.tz.clone())
            .map_err(|e| format!("starting the scheduler: {e}"))?;
        let streams = crate::api::stream::Streams::new(&oplog);
        let app = Arc::new(App {
            config,
            logs,
            oplog,
            orchestrator,
            restic_cmd: s.restic_cmd.clone(),
            data_dir: s.data_dir.clone(),
            auth,
            streams,
            zone,
            monitor,
            api_keys: crate::apikeys::ApiKeys::open(&s.data_dir),
        });
        let mqtt = match &s.mqtt {
            Some(url) => Some(
                crate::mqtt::Bridge::start(
                    url.clone(),
                    crate::mqtt::Env {
                        config: Arc::clone(&app.config),
                        monitor: Arc::clone(&app.monitor),
                        orchestrator: Arc::clone(&app.orchestrator),
                        oplog: Arc::clone(&app.oplog),
                        tz: app.zone.tz.clone(),
                    },
                )
                .map_err(|e| format!("starting the MQTT bridge: {e}"))?,
            ),
            None => None,
        };
        let addr = bind_addr(&s.bind)?;
        let listener = TcpListener::bind(addr).map_err(|e| format!("listening on {addr}: {e}"))?;
        let server = Server::start(Arc::clone(&app), listener, s.handlers)
            .map_err(|e| format!("starting the HTTP server: {e}"))?;
        log::info!(
            "footrest {} listening on http://{} (config {}, data {})",
            env!("CARGO_PKG_VERSION"),
            server.addr(),
            s.config_file.display(),
            s.data_dir.display()
        );
        Ok(Daemon {
            app,
            server,
            worker,
            scheduler,
            grace: s.shutdown_grace,
            mqtt,
            _lock: lock,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.addr()
    }

    /// Stops accepting requests, lets the running task finish within the grace period, joins.
    pub fn stop(self) {
        log::info!("stopping");
        self.scheduler.stop();
        let http = self.server.stop();
        self.app.streams.stop();
        self.app.orchestrator.shutdown(self.grace);
        if self.worker.join().is_err() {
            log::error!("the worker thread panicked");
        }
        if let Some(m) = self.mqtt {
            m.stop();
        }
        http.finish();
        if let Err(e) = self.app.oplog.flush() {
            log::error!("flushing the history: {e}");
        }
        log::info!("stopped");
    }
}

/// How long a leftover restic gets to stop on SIGINT (and then to go after SIGKILL).
const LEFTOVER_GRACE: Duration = Duration::from_secs(10);

/// Stops the restic processes an earlier daemon on this data dir left running (`children`);
/// returns them so that their repos get unlocked.
fn stop_leftovers(data_dir: &std::path::Path) -> Vec<crate::children::Leftover> {
    let found = crate::children::leftovers(data_dir);
    if found.is_empty() {
        return found;
    }
    let pids: Vec<i32> = found.iter().map(|l| l.pid).collect();
    log::warn!(
        "stopping {} process(es) an earlier footrest left running: {pids:?}",
        pids.len()
    );
    let stuck = crate::children::stop_leftovers(&found, LEFTOVER_GRACE);
    if !stuck.is_empty() {
        log::error!("processes {stuck:?} would not stop: their repo locks may stay");
    }
    found
}

/// A restic killed with the daemon leaves a stale lock: unlock the repos of interrupted
/// operations and of the leftovers stopped at startup (in the background; errors are only
/// logged).
/// How often startup's history repair is retried after a failed write (a full disk).
const RECOVER_RETRY: Duration = Duration::from_secs(5);

/// Marks what a restart interrupted (see `OpLog::recover`). When the history cannot be written
/// (a full SD card after the crash), footrest starts anyway and serves what it has: a thread
/// retries the same repair until it succeeds. Returns the interrupted operations either way
/// (their repos are unlocked).
fn recover_or_retry(oplog: &Arc<OpLog>) -> Vec<crate::model::Operation> {
    let found = oplog.interrupted();
    match oplog.recover(&found) {
        Ok(ops) => ops,
        Err(e) => {
            log::error!(
                "cannot mark the operations a restart interrupted ({e}); footrest serves the \
                 history as it is and retries every {} s (free space on the data dir's disk)",
                RECOVER_RETRY.as_secs()
            );
            let log = Arc::clone(oplog);
            let retry = found.clone();
            let _ = std::thread::Builder::new()
                .name("recover".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(RECOVER_RETRY);
                        match log.recover(&retry) {
                            Ok(_) => {
                                log::info!("marked the operations a restart interrupted");
                                return;
                            }
                            Err(e) => log::debug!("marking interrupted operations: {e}"),
                        }
                    }
                });
            found
                .running
                .iter()
                .filter_map(|id| oplog.get(*id).ok().flatten())
                .collect()
        }
    }
}

fn unlock_after_crash(
    config: &SharedConfig,
    restic_cmd: &str,
    interrupted: &[crate::model::Operation],
    leftovers: &[crate::children::Leftover],
) {
    let config = config.get();
    let mut repos: Vec<String> = interrupted.iter().map(|o| o.repo_id.clone()).collect();
    for l in leftovers {
        let uri = l.repository.as_deref();
        repos.extend(
            config
                .repos
                .iter()
                .filter(|r| Some(r.uri.as_str()) == uri)
                .map(|r| r.id.clone()),
        );
    }
    repos.sort();
    repos.dedup();
    let restic_cmd = restic_cmd.to_string();
    for id in repos {
        let Some(repo) = config.repo(&id).cloned() else {
            continue;
        };
        let cmd = restic_cmd.clone();
        let _ = std::thread::Builder::new()
            .name("unlock".into())
            .spawn(
                move || match Restic::new(&cmd, &repo).and_then(|r| r.unlock()) {
                    Ok(()) => {
                        log::info!("repo \"{}\": removed stale locks after a restart", repo.id)
                    }
                    Err(e) => log::warn!("repo \"{}\": unlock after restart: {e}", repo.id),
                },
            );
    }
}

/// Repos with `autoInitialize` and no guid yet: initialize the repository if there is none at
/// the URI, then record its guid (in the background; problems are logged).
fn auto_initialize(config: &Arc<SharedConfig>, restic_cmd: &str) {
    let pending: Vec<crate::config::Repo> = config
        .get()
        .repos
        .into_iter()
        .filter(|r| r.auto_initialize && r.guid.is_empty())
        .collect();
    if pending.is_empty() {
        return;
    }
    let config = Arc::clone(config);
    let restic_cmd = restic_cmd.to_string();
    let _ = std::thread::Builder::new()
        .name("autoinit".into())
        .spawn(move || {
            for repo in pending {
                let guid = Restic::new(&restic_cmd, &repo).and_then(|r| match r.repo_id() {
                    Err(e) if e.is_repo_missing() => {
                        log::info!("repo \"{}\": initializing (autoInitialize)", repo.id);
                        r.init()?;
                        r.repo_id()
                    }
                    other => other,
                });
                let guid = match guid {
                    Ok(g) => g,
                    Err(e) => {
                        log::warn!("repo \"{}\": autoInitialize: {e}", repo.id);
                        continue;
                    }
                };
                let saved = config.update(|c| {
                    if let Some(r) = c
                        .repos
                        .iter_mut()
                        .find(|r| r.id == repo.id && r.guid.is_empty())
                    {
                        r.guid = guid.clone();
                    }
                    Ok::<(), crate::config::UpdateError>(())
                });
                if let Err(e) = saved {
                    log::warn!("repo \"{}\": saving its guid: {e}", repo.id);
                }
            }
        });
}

/// SIGTERM and SIGINT, caught from the moment this is made (before the daemon starts, so a
/// signal or a shortage of file descriptors later cannot leave the daemon unstoppable).
pub struct Signals {
    rx: std::os::unix::net::UnixStream,
}

impl Signals {
    pub fn install() -> std::io::Result<Signals> {
        use std::os::unix::net::UnixStream;
        // Past a file-size limit (`ulimit -f`, a quota-like cap) a write then fails with EFBIG,
        // handled like a full disk, instead of SIGXFSZ ending the daemon mid-write.
        // SAFETY: setting a signal's disposition to ignored; no handler runs.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
        }
        let (rx, tx) = UnixStream::pair()?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGTERM, tx.try_clone()?)?;
        signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, tx)?;
        Ok(Signals { rx })
    }

    /// Blocks until SIGTERM or SIGINT arrives.
    pub fn wait(mut self) -> std::io::Result<()> {
        use std::io::Read;
        let mut buf = [0u8; 1];
        self.rx.read_exact(&mut buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_port_binds_all_interfaces() {
        assert_eq!(bind_addr("9898").unwrap().to_string(), "0.0.0.0:9898");
        assert_eq!(bind_addr(":9898").unwrap().to_string(), "0.0.0.0:9898");
        assert_eq!(bind_addr("127.0.0.1:0").unwrap().to_string(), "127.0.0.1:0");
        assert!(bind_addr("nonsense:port").is_err());
    }
}
