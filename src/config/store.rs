//! The config file on disk (read, migrate, save atomically with backups) and the live config
//! every thread shares.

use super::*;

/// The config file and the config it holds.
pub struct ConfigStore {
    path: PathBuf,
    hook_check: Option<HookCheck>,
}

impl ConfigStore {
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            hook_check: None,
        }
    }

    /// Adds the checks of hook actions (`hooks::action_problems`) to every load and update.
    pub fn with_hook_check(mut self, check: HookCheck) -> Self {
        self.hook_check = Some(check);
        self
    }

    /// Every rule a config must satisfy to be loaded or saved here.
    pub fn validate(&self, config: &Config) -> Result<(), ValidationError> {
        config.validate_with(self.hook_check)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Reads the config; a missing file gives the first-run default (auth disabled, instance =
    /// the sanitized host name), without writing anything.
    pub fn load(&self) -> Result<Config, ConfigError> {
        let bytes = match fs::read(&self.path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(default_config()),
            Err(e) => return Err(ConfigError::Read(self.path.clone(), e)),
        };
        let mut config: Config =
            crate::util::from_json(&bytes).map_err(|e| ConfigError::Parse(self.path.clone(), e))?;
        if config.version == 0 {
            config.version = CURRENT_VERSION;
        }
        self.validate(&config)
            .map_err(|e| ConfigError::Invalid(self.path.clone(), e))?;
        Ok(config)
    }

    /// Writes `config` atomically, keeping the previous file as a timestamped backup.
    ///
    /// The backup is itself written atomically, mode 0600 whatever the mode of the file it
    /// copies, so a full disk never leaves an incomplete one. When the new config cannot be
    /// written, the backup just made (a copy of the file that stays) is removed again, and
    /// rotation runs only after a successful save: failed saves never push good backups out.
    pub fn save(&self, config: &Config) -> Result<(), ConfigError> {
        let err = |e| ConfigError::Write(self.path.clone(), e);
        let mut body =
            serde_json::to_vec_pretty(config).map_err(|e| err(std::io::Error::other(e)))?;
        body.push(b'\n');
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        fs::create_dir_all(&dir).map_err(err)?;
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "config.json".into());
        let backup = match fs::read(&self.path) {
            Ok(previous) => {
                // Two saves in one millisecond keep two backups.
                let mut stamp = crate::util::now_ms();
                let mut bak = dir.join(format!("{name}.bak.{stamp}"));
                while bak.exists() {
                    stamp += 1;
                    bak = dir.join(format!("{name}.bak.{stamp}"));
                }
                crate::util::write_atomic(&dir, &bak, &previous).map_err(err)?;
                Some(bak)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(err(e)),
        };
        if let Err(e) = crate::util::write_atomic(&dir, &self.path, &body) {
            if let Some(bak) = backup {
                let _ = fs::remove_file(bak);
            }
            return Err(err(e));
        }
        self.rotate_backups(&dir, &name);
        Ok(())
    }

    /// Keeps the newest [`BACKUPS_KEPT`] complete backups. A backup that does not parse as JSON
    /// (a 0-byte file left by an older version on a full disk) is removed and not counted.
    pub(super) fn rotate_backups(&self, dir: &Path, name: &str) {
        let prefix = format!("{name}.bak.");
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        let mut baks: Vec<(u64, PathBuf)> = Vec::new();
        for e in entries.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            let Some(stamp) = n.strip_prefix(&prefix).and_then(|s| s.parse().ok()) else {
                continue;
            };
            let complete = fs::read(e.path())
                .ok()
                .is_some_and(|b| crate::util::from_json::<Value>(&b).is_ok());
            if complete {
                baks.push((stamp, e.path()));
            } else {
                log::warn!("removing incomplete config backup {}", e.path().display());
                let _ = fs::remove_file(e.path());
            }
        }
        baks.sort();
        let excess = baks.len().saturating_sub(BACKUPS_KEPT);
        for (_, p) in baks.into_iter().take(excess) {
            let _ = fs::remove_file(p);
        }
    }
}

/// Errors reading or writing the config file.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConfigError {
    Read(PathBuf, std::io::Error),
    Parse(PathBuf, serde_json::Error),
    Invalid(PathBuf, ValidationError),
    Write(PathBuf, std::io::Error),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Read(p, e) => write!(f, "reading config {}: {e}", p.display()),
            Self::Parse(p, e) => write!(f, "config {} is not valid JSON: {e}", p.display()),
            Self::Invalid(p, e) => write!(f, "config {}: {e}", p.display()),
            Self::Write(p, e) => write!(f, "writing config {}: {e}", p.display()),
        }
    }
}

impl std::error::Error for ConfigError {}

/// First-run config: auth disabled, instance from the host name.
pub fn default_config() -> Config {
    Config {
        version: CURRENT_VERSION,
        instance: sanitize_instance(&crate::util::hostname()),
        auth: Some(Auth {
            disabled: true,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Maps a host name onto the id charset (other characters become '-'), at most 50 characters.
pub fn sanitize_instance(host: &str) -> String {
    let s: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '-'
            }
        })
        .take(50)
        .collect();
    if s.is_empty() { "footrest".into() } else { s }
}

/// Why a config change was not applied.
#[derive(Debug)]
pub enum UpdateError {
    Invalid(ValidationError),
    Write(ConfigError),
}

impl fmt::Display for UpdateError {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        match self {
            Self::Invalid(e) => e.fmt(f),
            Self::Write(e) => e.fmt(f),
        }
    }
}

/// The live config shared by every thread, and the file it is saved to. Changes go through
/// `update`, which validates, bumps `modno`, saves atomically and only then publishes, then
/// wakes the subscribers (the scheduler).
pub struct SharedConfig {
    store: ConfigStore,
    current: std::sync::Mutex<Config>,
    watchers: std::sync::Mutex<Vec<crossbeam_channel::Sender<()>>>,
}

impl SharedConfig {
    pub fn new(store: ConfigStore, config: Config) -> Self {
        Self {
            store,
            current: std::sync::Mutex::new(config),
            watchers: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Every rule `update` applies (a trial config, before acting on it).
    pub fn validate(&self, config: &Config) -> Result<(), ValidationError> {
        self.store.validate(config)
    }

    /// A snapshot of the current config.
    pub fn get(&self) -> Config {
        self.current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Reads part of the current config without copying all of it.
    pub fn read<T>(&self, f: impl FnOnce(&Config) -> T) -> T {
        f(&self.current.lock().unwrap_or_else(|p| p.into_inner()))
    }

    pub fn path(&self) -> &Path {
        self.store.path()
    }

    /// A channel that receives a message after each change (coalesced).
    pub fn subscribe(&self) -> crossbeam_channel::Receiver<()> {
        let (tx, rx) = crossbeam_channel::bounded(1);
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(tx);
        rx
    }

    /// Applies `change` to a copy; validates, bumps modno, saves, publishes. Nothing changes,
    /// in memory or on disk, unless every step succeeds.
    pub fn update<E: From<UpdateError>>(
        &self,
        change: impl FnOnce(&mut Config) -> Result<(), E>,
    ) -> Result<Config, E> {
        let mut guard = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let mut next = guard.clone();
        change(&mut next)?;
        if next.version == 0 {
            next.version = CURRENT_VERSION;
        }
        self.store
            .validate(&next)
            .map_err(|e| E::from(UpdateError::Invalid(e)))?;
        next.modno = guard.modno.wrapping_add(1);
        self.store
            .save(&next)
            .map_err(|e| E::from(UpdateError::Write(e)))?;
        *guard = next.clone();
        drop(guard);
        for w in self
            .watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            let _ = w.try_send(());
        }
        Ok(next)
    }
}

pub(super) const BACKUPS_KEPT: usize = 10;
