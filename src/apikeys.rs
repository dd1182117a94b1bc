//! API keys for scripts: named, scoped credentials that are not a user's password, sent as
//! `Authorization: Bearer ftk_…`.
//!
//! A key is 32 random bytes, shown once when it is created (`ftk_` + base64url). Only its
//! SHA-256 is stored, in `<data>/api-keys.json` (mode 0600, written atomically): footrest's own
//! settings, never Backrest's config, so GetConfig and strict Backrest clients do not see them.
//! Checking a key is one SHA-256 and a constant-time comparison per key, never a bcrypt: a key has
//! 256 bits of entropy, so there is nothing to slow down.
//!
//! Scopes: `read` (GetConfig without secrets, GetOperations and their event stream, the
//! dashboard, /status, /metrics), `backup` (read, plus Backup and Cancel), `admin` (everything a
//! user may do, keys included).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub const PREFIX: &str = "ftk_";
const FILE: &str = "api-keys.json";
/// More keys than a household of scripts needs; bounds the file and a check's cost.
pub const MAX_KEYS: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Backup,
    Admin,
}

impl Scope {
    pub fn parse(s: &str) -> Option<Scope> {
        match s {
            "read" => Some(Scope::Read),
            "backup" => Some(Scope::Backup),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Backup => "backup",
            Scope::Admin => "admin",
        }
    }

    /// Whether this scope may call `path` (a route of `api::routes`).
    pub fn allows(self, path: &str) -> bool {
        const READ: &[&str] = &[
            "/v1.Backrest/GetConfig",
            "/v1.Backrest/GetOperations",
            "/v1.Backrest/GetOperationEvents",
            "/v1.Backrest/GetSummaryDashboard",
            "/metrics",
            "/status",
        ];
        const BACKUP: &[&str] = &["/v1.Backrest/Backup", "/v1.Backrest/Cancel"];
        match self {
            Scope::Admin => true,
            Scope::Backup => READ.contains(&path) || BACKUP.contains(&path),
            Scope::Read => READ.contains(&path),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Stored {
    name: String,
    scope: Scope,
    /// Hex SHA-256 of the whole key.
    sha256: String,
    created_ms: i64,
}

#[derive(Default, Serialize, Deserialize)]
struct File {
    keys: Vec<Stored>,
}

/// What ListApiKeys shows of a key (never the key or its hash).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyInfo {
    pub name: String,
    pub scope: Scope,
    #[serde(with = "crate::proto::i64s")]
    pub created_ms: i64,
}

pub struct ApiKeys {
    path: PathBuf,
    dir: PathBuf,
    /// Err: the file could not be read (its words); keys are then refused and nothing is
    /// written over the file until it is fixed or removed.
    keys: Mutex<Result<Vec<Stored>, String>>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum KeyError {
    Invalid(String),
    NotFound(String),
    Exists(String),
    Io(String),
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeyError::Invalid(m)
            | KeyError::NotFound(m)
            | KeyError::Exists(m)
            | KeyError::Io(m) => f.write_str(m),
        }
    }
}

fn sha256_hex(key: &str) -> String {
    crate::util::hex(&Sha256::digest(key.as_bytes()))
}

/// Equal bytes, in a time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl ApiKeys {
    /// Reads `<data>/api-keys.json`; a missing file is no keys. An unreadable or damaged one
    /// does not stop the daemon: it is logged, every key is refused, and it is left as it is.
    pub fn open(data_dir: &Path) -> ApiKeys {
        let path = data_dir.join(FILE);
        let keys = match std::fs::read(&path) {
            Ok(bytes) => crate::util::from_json::<File>(&bytes)
                .map(|f| f.keys)
                .map_err(|e| format!("{} is damaged ({e}); fix or remove it", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(format!("{} cannot be read ({e})", path.display())),
        };
        if let Err(e) = &keys {
            log::error!("API keys: {e}; every API key is refused until then");
        }
        ApiKeys {
            path,
            dir: data_dir.to_path_buf(),
            keys: Mutex::new(keys),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Result<Vec<Stored>, String>> {
        self.keys.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The key's name and scope, if `key` is one of ours.
    pub fn check(&self, key: &str) -> Option<(String, Scope)> {
        if !key.starts_with(PREFIX) || key.len() > 100 {
            return None;
        }
        let hash = sha256_hex(key);
        let keys = self.lock();
        let keys = keys.as_ref().ok()?;
        let mut found = None;
        // Every key is compared, so the time does not say which one matched.
        for k in keys {
            if same(k.sha256.as_bytes(), hash.as_bytes()) {
                found = Some((k.name.clone(), k.scope));
            }
        }
        found
    }

    pub fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let keys = self.lock();
        let keys = keys.as_ref().map_err(|e| KeyError::Io(e.clone()))?;
        Ok(keys
            .iter()
            .map(|k| KeyInfo {
                name: k.name.clone(),
                scope: k.scope,
                created_ms: k.created_ms,
            })
            .collect())
    }

    /// Makes a key; returns it (the only time it is shown).
    pub fn create(&self, name: &str, scope: Scope, now_ms: i64) -> Result<String, KeyError> {
        if !crate::config::valid_id(name) || name.len() > 64 {
            return Err(KeyError::Invalid(format!(
                "key name {name:?} must be 1 to 64 of letters, digits, '-', '_' and '.'"
            )));
        }
        let mut guard = self.lock();
        let keys = guard.as_mut().map_err(|e| KeyError::Io(e.clone()))?;
        if keys.iter().any(|k| k.name == name) {
            return Err(KeyError::Exists(format!(
                "a key named {name:?} exists already"
            )));
        }
        if keys.len() >= MAX_KEYS {
            return Err(KeyError::Invalid(format!(
                "there are {MAX_KEYS} keys already; revoke one first"
            )));
        }
        let mut raw = [0u8; 32];
        crate::util::random_bytes(&mut raw).map_err(|e| KeyError::Io(e.to_string()))?;
        use base64::Engine as _;
        let key = format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
        );
        let mut next = keys.clone();
        next.push(Stored {
            name: name.to_string(),
            scope,
            sha256: sha256_hex(&key),
            created_ms: now_ms,
        });
        self.save(&next)?;
        *keys = next;
        Ok(key)
    }

    pub fn revoke(&self, name: &str) -> Result<(), KeyError> {
        let mut guard = self.lock();
        let keys = guard.as_mut().map_err(|e| KeyError::Io(e.clone()))?;
        if !keys.iter().any(|k| k.name == name) {
            return Err(KeyError::NotFound(format!("no key named {name:?}")));
        }
        let next: Vec<Stored> = keys.iter().filter(|k| k.name != name).cloned().collect();
        self.save(&next)?;
        *keys = next;
        Ok(())
    }

    /// Written whole (temp file, fsync, rename, 0600) before the change takes effect: a failed
    /// write (a full disk) changes nothing.
    fn save(&self, keys: &[Stored]) -> Result<(), KeyError> {
        let body = serde_json::to_vec_pretty(&File {
            keys: keys.to_vec(),
        })
        .map_err(|e| KeyError::Io(e.to_string()))?;
        crate::util::write_atomic(&self.dir, &self.path, &body)
            .map_err(|e| KeyError::Io(format!("writing {}: {e}", self.path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("footrest-keys-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn keys_are_stored_hashed_checked_and_revoked() {
        let d = dir("life");
        let keys = ApiKeys::open(&d);
        let k = keys.create("grafana", Scope::Read, 5).unwrap();
        assert!(k.starts_with("ftk_") && k.len() > 40, "{k}");
        assert_eq!(keys.check(&k), Some(("grafana".into(), Scope::Read)));
        assert_eq!(keys.check(&format!("{k}x")), None);
        assert_eq!(keys.check("ftk_"), None);
        let file = std::fs::read_to_string(d.join(FILE)).unwrap();
        assert!(!file.contains(&k[4..]), "the key itself is never stored");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        // A restart reads them back.
        let again = ApiKeys::open(&d);
        assert_eq!(again.check(&k), Some(("grafana".into(), Scope::Read)));
        assert_eq!(again.list().unwrap()[0].created_ms, 5);
        assert!(matches!(
            again.create("grafana", Scope::Admin, 6),
            Err(KeyError::Exists(_))
        ));
        assert!(matches!(
            again.create("bad name", Scope::Admin, 6),
            Err(KeyError::Invalid(_))
        ));
        again.revoke("grafana").unwrap();
        assert_eq!(again.check(&k), None);
        assert!(matches!(
            again.revoke("grafana"),
            Err(KeyError::NotFound(_))
        ));
        assert!(ApiKeys::open(&d).list().unwrap().is_empty());
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn a_damaged_file_refuses_keys_and_is_not_overwritten() {
        let d = dir("damaged");
        std::fs::write(d.join(FILE), b"{not json").unwrap();
        let keys = ApiKeys::open(&d);
        assert_eq!(keys.check("ftk_anything"), None);
        let e = keys.create("x", Scope::Read, 1).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
        assert_eq!(std::fs::read(d.join(FILE)).unwrap(), b"{not json");
        let _ = std::fs::remove_dir_all(d);
    }

    #[test]
    fn scopes_allow_what_they_say() {
        assert!(Scope::Read.allows("/metrics"));
        assert!(Scope::Read.allows("/v1.Backrest/GetOperations"));
        assert!(!Scope::Read.allows("/v1.Backrest/Backup"));
        assert!(Scope::Backup.allows("/v1.Backrest/Backup"));
        assert!(!Scope::Backup.allows("/v1.Backrest/SetConfig"));
        assert!(!Scope::Backup.allows("/v1.Footrest/CreateApiKey"));
        assert!(Scope::Admin.allows("/v1.Footrest/CreateApiKey"));
    }
}
