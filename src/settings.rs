//! Every tuning setting footrest takes from its environment (README, "Environment"), parsed in
//! one place and read once, on first use (`get`). A value that does not parse is reported and
//! ignored. The command line's own environment fallbacks (`FOOTREST_LOG`, `FOOTREST_MQTT`,
//! `BACKREST_*`) are read with the flags, in `main`.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    /// Host names allowed beside this machine's own when auth is off
    /// (`FOOTREST_ALLOWED_HOSTS`, comma-separated, and `--allow-host`; lower case, without a
    /// trailing dot).
    pub allowed_hosts: Vec<String>,
    /// The deadline of a restic call made for an API request (`FOOTREST_API_RESTIC_TIMEOUT`,
    /// seconds, default 120).
    pub api_restic_timeout: Duration,
    /// How long the front door keeps an idle or trickling connection (`FOOTREST_HTTP_TIMEOUT_MS`,
    /// default 30 s).
    pub http_timeout: Duration,
    /// Connections open at once (`FOOTREST_HTTP_MAX_CLIENTS`); by default what the fd limit
    /// allows, up to 512.
    pub http_max_clients: Option<usize>,
    /// Calls waiting for their task at once: Backup, DoRepoTask, Forget (`FOOTREST_MAX_WAITING`,
    /// default 16).
    pub max_waiting: usize,
    /// Event streams, log tails and downloads open at once (`FOOTREST_MAX_STREAMS`, default 16).
    pub max_streams: usize,
    /// The MQTT keep-alive (`FOOTREST_MQTT_KEEPALIVE`, 5 to 3600 seconds, default 30).
    pub mqtt_keepalive: Duration,
    /// Debug builds only: serve the web interface's files from this directory
    /// (`FOOTREST_UI_DIR`), for editing them without a rebuild.
    pub ui_dir: Option<PathBuf>,
    /// Hooks' timeouts, retry scale and service endpoints (`FOOTREST_HOOK_*`, `FOOTREST_*_API`).
    pub hooks: crate::hooks::Settings,
}

pub const API_RESTIC_TIMEOUT: Duration = Duration::from_secs(120);
pub const MAX_WAITING: usize = 16;
pub const MAX_STREAMS: usize = 16;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            allowed_hosts: Vec::new(),
            api_restic_timeout: API_RESTIC_TIMEOUT,
            http_timeout: Duration::from_secs(30),
            http_max_clients: None,
            max_waiting: MAX_WAITING,
            max_streams: MAX_STREAMS,
            mqtt_keepalive: Duration::from_secs(30),
            ui_dir: None,
            hooks: crate::hooks::Settings::default(),
        }
    }
}

impl Settings {
    pub fn from_env() -> Settings {
        Self::from_lookup(&|k| std::env::var(k).ok())
    }

    pub fn from_lookup(env: &dyn Fn(&str) -> Option<String>) -> Settings {
        let mut s = Settings::default();
        // A whole number in `range`, or None (unset, or reported and ignored).
        let number = |key: &str, range: std::ops::RangeInclusive<u64>| -> Option<u64> {
            let v = env(key)?;
            match v.trim().parse::<u64>() {
                Ok(n) if range.contains(&n) => Some(n),
                _ => {
                    log::warn!(
                        "{key}={v:?} is not a whole number from {} to {}; ignored",
                        range.start(),
                        range.end()
                    );
                    None
                }
            }
        };
        if let Some(v) = env("FOOTREST_ALLOWED_HOSTS") {
            s.allow_hosts(v.split(','));
        }
        if let Some(n) = number("FOOTREST_API_RESTIC_TIMEOUT", 1..=u64::from(u32::MAX)) {
            s.api_restic_timeout = Duration::from_secs(n);
        }
        if let Some(n) = number("FOOTREST_HTTP_TIMEOUT_MS", 0..=u64::from(u32::MAX)) {
            s.http_timeout = Duration::from_millis(n);
        }
        s.http_max_clients =
            number("FOOTREST_HTTP_MAX_CLIENTS", 0..=1 << 20).map(|n| n.max(1) as usize);
        if let Some(n) = number("FOOTREST_MAX_WAITING", 1..=1 << 20) {
            s.max_waiting = n as usize;
        }
        if let Some(n) = number("FOOTREST_MAX_STREAMS", 0..=1 << 20) {
            s.max_streams = n as usize;
        }
        if let Some(n) = number("FOOTREST_MQTT_KEEPALIVE", 5..=3600) {
            s.mqtt_keepalive = Duration::from_secs(n);
        }
        s.ui_dir = env("FOOTREST_UI_DIR")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from);
        s.hooks = crate::hooks::Settings::from_lookup(env);
        s
    }
}

impl Settings {
    /// Adds host names to those allowed (see [`Settings::allowed_hosts`]); blank ones are skipped.
    pub fn allow_hosts<'a>(&mut self, names: impl IntoIterator<Item = &'a str>) {
        for h in names {
            let h = h.trim().trim_end_matches('.').to_ascii_lowercase();
            if !h.is_empty() && !self.allowed_hosts.contains(&h) {
                self.allowed_hosts.push(h);
            }
        }
    }
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// The settings of this process, read from its environment the first time they are asked for.
pub fn get() -> &'static Settings {
    SETTINGS.get_or_init(Settings::from_env)
}

/// Sets this process's settings to its environment's with the host names the daemon adds (its
/// flags, its own names), before anything has read them. False when they were read already
/// (a second daemon in one test process): they stay as they were.
pub fn init_with_hosts<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    let mut s = Settings::from_env();
    s.allow_hosts(names);
    SETTINGS.set(s).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_parse_their_variables_and_ignore_bad_values() {
        let env = |k: &str| {
            match k {
                "FOOTREST_ALLOWED_HOSTS" => Some(" Pi.Local., nas ,"),
                "FOOTREST_HTTP_TIMEOUT_MS" => Some("250"),
                "FOOTREST_MAX_STREAMS" => Some("0"),
                "FOOTREST_MAX_WAITING" => Some("0"),
                "FOOTREST_MQTT_KEEPALIVE" => Some("2"),
                "FOOTREST_API_RESTIC_TIMEOUT" => Some("ten"),
                "FOOTREST_HOOK_RETRY_SCALE" => Some("0.01"),
                _ => None,
            }
            .map(String::from)
        };
        let s = Settings::from_lookup(&env);
        assert_eq!(s.allowed_hosts, ["pi.local", "nas"]);
        assert_eq!(s.http_timeout, Duration::from_millis(250));
        assert_eq!(s.max_streams, 0);
        assert_eq!(s.max_waiting, MAX_WAITING, "0 waiting calls is refused");
        assert_eq!(
            s.mqtt_keepalive,
            Duration::from_secs(30),
            "below 5 s is refused"
        );
        assert_eq!(s.api_restic_timeout, API_RESTIC_TIMEOUT);
        assert_eq!(s.hooks.retry_scale, 0.01);
        assert_eq!(Settings::from_lookup(&|_| None), Settings::default());
    }
}
