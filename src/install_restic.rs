//! `footrest install-restic`: puts a restic release binary into `<data>/bin/restic` on devices
//! without a restic package (Synology, some routers).
//!
//! It downloads `restic_<version>_linux_<arch>.bz2` and the release's `SHA256SUMS` from a base URL
//! (restic's GitHub releases by default), checks the archive's SHA-256 against the sums, unpacks
//! it, checks that the binary runs here (`restic version`), and renames it into place. Every step
//! works on temp files in the data dir; nothing is installed unless all steps pass, and a crash
//! leaves at most a temp file that the next run removes.
//!
//! Runs on the CLI's main thread only; the daemon never calls it.

use sha2::{Digest, Sha256};
use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// The restic release installed when no `--version` is given.
pub const DEFAULT_VERSION: &str = "0.18.1";

/// Caps on what a server may send: SHA256SUMS is a few KB, a compressed restic ~10 MB.
const SUMS_LIMIT: u64 = 64 * 1024;
const ARCHIVE_LIMIT: u64 = 128 * 1024 * 1024;
/// And on what the archive may unpack to (restic is ~25 MB).
const BINARY_LIMIT: u64 = 256 * 1024 * 1024;

const USAGE: &str = "\
footrest install-restic — download restic, verify its SHA-256, install it into the data dir

Usage: footrest install-restic [OPTIONS]

Options:
  --version X      restic version [default DEFAULT_VERSION]
  --base-url URL   where the release files are
                   [default https://github.com/restic/restic/releases/download/v<X>/]
  --data-dir PATH  installs PATH/bin/restic [env BACKREST_DATA,
                   default $XDG_DATA_HOME/footrest]
  -h, --help       print this help

Then run footrest with --restic-cmd PATH/bin/restic.
";

/// What to install, and where.
#[derive(Debug, Clone)]
pub struct Options {
    /// A release version such as `0.18.1` (digits and dots only).
    pub version: String,
    /// Directory URL holding the release files; `None` for restic's GitHub release.
    pub base_url: Option<String>,
    /// footrest's data dir; the binary goes to `<data_dir>/bin/restic`.
    pub data_dir: PathBuf,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The version is not of the form `1.2.3`.
    BadVersion(String),
    /// restic publishes no Linux binary for this CPU.
    UnsupportedArch,
    /// An https URL in a build without the `tls` feature.
    TlsDisabled(String),
    /// The request failed (connection, TLS, timeout, or a non-2xx status).
    Download { url: String, msg: String },
    /// SHA256SUMS has no line for the archive.
    NoChecksum { file: String },
    /// The archive's hash is not the published one.
    ChecksumMismatch {
        file: String,
        expected: String,
        actual: String,
    },
    /// The archive is not valid bzip2, or unpacks past the size cap.
    Decompress(String),
    /// The unpacked binary does not run here as `restic version`.
    DoesNotRun(String),
    /// A file-system step failed.
    Io { path: PathBuf, err: io::Error },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::BadVersion(v) => write!(f, "bad restic version {v:?}: expected e.g. 0.18.1"),
            Error::UnsupportedArch => write!(f, "restic has no Linux release for this CPU"),
            Error::TlsDisabled(u) => {
                write!(f, "{u}: https needs a footrest built with the tls feature")
            }
            Error::Download { url, msg } => write!(f, "download of {url} failed: {msg}"),
            Error::NoChecksum { file } => write!(f, "SHA256SUMS has no entry for {file}"),
            Error::ChecksumMismatch {
                file,
                expected,
                actual,
            } => write!(
                f,
                "checksum mismatch for {file}: SHA256SUMS says {expected}, got {actual}; \
                 nothing installed"
            ),
            Error::Decompress(m) => write!(f, "unpacking restic failed: {m}"),
            Error::DoesNotRun(m) => write!(f, "the downloaded restic does not run here: {m}"),
            Error::Io { path, err } => write!(f, "{}: {err}", path.display()),
        }
    }
}

impl std::error::Error for Error {}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |err| Error::Io {
        path: path.to_path_buf(),
        err,
    }
}

/// restic's name for the CPU this binary was built for, as in its release file names.
pub fn release_arch() -> Option<&'static str> {
    if cfg!(target_arch = "x86_64") {
        Some("amd64")
    } else if cfg!(target_arch = "aarch64") {
        Some("arm64")
    } else if cfg!(target_arch = "arm") {
        Some("arm")
    } else if cfg!(target_arch = "x86") {
        Some("386")
    } else if cfg!(all(target_arch = "mips", target_endian = "little")) {
        Some("mipsle")
    } else if cfg!(all(target_arch = "mips", target_endian = "big")) {
        Some("mips")
    } else if cfg!(target_arch = "riscv64") {
        Some("riscv64")
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Some("ppc64le")
    } else if cfg!(target_arch = "s390x") {
        Some("s390x")
    } else {
        None
    }
}

/// The release file name for `version` on this CPU.
pub fn asset_name(version: &str) -> Result<String, Error> {
    let arch = release_arch().ok_or(Error::UnsupportedArch)?;
    Ok(format!("restic_{version}_linux_{arch}.bz2"))
}

fn check_version(v: &str) -> Result<(), Error> {
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(Error::BadVersion(v.to_string()))
    }
}

/// Finds `file`'s hash in a SHA256SUMS text (`<hex>  <name>` or `<hex> *<name>` lines).
pub fn find_checksum(sums: &str, file: &str) -> Option<String> {
    sums.lines().find_map(|l| {
        let (hash, name) = l.trim().split_once(char::is_whitespace)?;
        let name = name.trim_start().trim_start_matches('*');
        (name == file && hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| hash.to_ascii_lowercase())
    })
}

/// Downloads, verifies and installs restic; returns the installed path.
pub fn install(opts: &Options) -> Result<PathBuf, Error> {
    check_version(&opts.version)?;
    let asset = asset_name(&opts.version)?;
    let mut base = opts.base_url.clone().unwrap_or_else(|| {
        format!(
            "https://github.com/restic/restic/releases/download/v{}/",
            opts.version
        )
    });
    if !base.ends_with('/') {
        base.push('/');
    }
    if base.starts_with("https://") && !cfg!(feature = "tls") {
        return Err(Error::TlsDisabled(base));
    }
    let data = &opts.data_dir;
    fs::create_dir_all(data).map_err(io_err(data))?;
    let bin_dir = data.join("bin");
    let target = bin_dir.join("restic");
    let tmp_archive = data.join(".restic-download.tmp");
    let tmp_bin = bin_dir.join(".restic.tmp");
    // Leftovers of an interrupted run.
    let _ = fs::remove_file(&tmp_archive);
    let _ = fs::remove_file(&tmp_bin);

    let config = ureq::Agent::config_builder();
    #[cfg(feature = "tls")]
    let config = config.tls_config(crate::ca::tls_config(base.starts_with("https://")).map_err(
        |e| Error::Download {
            url: base.clone(),
            msg: e.to_string(),
        },
    )?);
    let agent: ureq::Agent = config
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_global(Some(Duration::from_secs(1800)))
        .user_agent(concat!("footrest/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();

    let sums_url = format!("{base}SHA256SUMS");
    log::info!("fetching {sums_url}");
    let mut sums = String::new();
    get(&agent, &sums_url, SUMS_LIMIT)?
        .read_to_string(&mut sums)
        .map_err(|e| download_err(&sums_url, e))?;
    let expected = find_checksum(&sums, &asset).ok_or_else(|| Error::NoChecksum {
        file: asset.clone(),
    })?;

    let result = (|| {
        let url = format!("{base}{asset}");
        log::info!("downloading {url}");
        let actual = download_hashed(&agent, &url, &tmp_archive)?;
        if actual != expected {
            return Err(Error::ChecksumMismatch {
                file: asset.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        fs::create_dir_all(&bin_dir).map_err(io_err(&bin_dir))?;
        unpack(&tmp_archive, &tmp_bin)?;
        let version = run_version(&tmp_bin)?;
        fs::rename(&tmp_bin, &target).map_err(io_err(&target))?;
        // The rename is durable only once the directory is synced.
        File::open(&bin_dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&bin_dir))?;
        log::info!("installed {} ({version})", target.display());
        Ok(target.clone())
    })();
    let _ = fs::remove_file(&tmp_archive);
    if result.is_err() {
        let _ = fs::remove_file(&tmp_bin);
    }
    result
}

fn download_err(url: &str, e: impl fmt::Display) -> Error {
    Error::Download {
        url: url.to_string(),
        msg: e.to_string(),
    }
}

fn get(agent: &ureq::Agent, url: &str, limit: u64) -> Result<impl Read + use<>, Error> {
    let resp = agent.get(url).call().map_err(|e| download_err(url, e))?;
    Ok(resp.into_body().into_with_config().limit(limit).reader())
}

/// Streams `url` into `path` (never all of it in memory), returning its SHA-256 in hex.
fn download_hashed(agent: &ureq::Agent, url: &str, path: &Path) -> Result<String, Error> {
    let mut body = get(agent, url, ARCHIVE_LIMIT)?;
    let mut file = File::create(path).map_err(io_err(path))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(download_err(url, e)),
        };
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n]).map_err(io_err(path))?;
    }
    Ok(crate::util::hex(&hasher.finalize()))
}

/// bunzip2 `from` into a new 0755 file `to`, synced to disk.
fn unpack(from: &Path, to: &Path) -> Result<(), Error> {
    use std::os::unix::fs::OpenOptionsExt;
    let input = File::open(from).map_err(io_err(from))?;
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o755)
        .open(to)
        .map_err(io_err(to))?;
    let mut reader = bzip2_rs::DecoderReader::new(io::BufReader::new(input)).take(BINARY_LIMIT + 1);
    let n = io::copy(&mut reader, &mut out).map_err(|e| Error::Decompress(e.to_string()))?;
    if n > BINARY_LIMIT {
        return Err(Error::Decompress(format!(
            "unpacks to more than {BINARY_LIMIT} bytes"
        )));
    }
    if n == 0 {
        return Err(Error::Decompress("the archive is empty".into()));
    }
    // The umask may have narrowed the mode at creation.
    {
        use std::os::unix::fs::PermissionsExt;
        out.set_permissions(fs::Permissions::from_mode(0o755))
            .map_err(io_err(to))?;
    }
    out.sync_all().map_err(io_err(to))
}

/// Runs `<bin> version` and returns its first line ("restic 0.18.1 compiled with …").
fn run_version(bin: &Path) -> Result<String, Error> {
    let out = Command::new(bin)
        .arg("version")
        .output()
        .map_err(|e| Error::DoesNotRun(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if out.status.success() && line.starts_with("restic ") {
        Ok(line)
    } else {
        Err(Error::DoesNotRun(format!(
            "`restic version` exited with {} and printed {line:?}",
            out.status
        )))
    }
}

/// The `install-restic` subcommand: parses its arguments, installs, maps the result to an exit
/// code (0 installed, 1 failed, 2 bad usage).
pub fn run_cli(args: Vec<OsString>) -> ExitCode {
    match parse_args(args) {
        Ok(None) => {
            print!("{}", USAGE.replace("DEFAULT_VERSION", DEFAULT_VERSION));
            ExitCode::SUCCESS
        }
        Ok(Some(opts)) => match install(&opts) {
            Ok(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("footrest install-restic: {e}");
                ExitCode::FAILURE
            }
        },
        Err(e) => {
            eprintln!(
                "footrest install-restic: {e}\n\nRun footrest install-restic --help for usage."
            );
            ExitCode::from(2)
        }
    }
}

fn parse_args(args: Vec<OsString>) -> Result<Option<Options>, String> {
    use lexopt::prelude::*;
    let mut version = DEFAULT_VERSION.to_string();
    let mut base_url = None;
    let mut data_dir = None;
    let mut p = lexopt::Parser::from_args(args);
    let string = |v: Result<OsString, lexopt::Error>| -> Result<String, String> {
        v.map_err(|e| e.to_string())?
            .into_string()
            .map_err(|_| "argument is not valid UTF-8".to_string())
    };
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(None),
            Long("version") => version = string(p.value())?,
            Long("base-url") => base_url = Some(string(p.value())?),
            Long("data-dir") => {
                data_dir = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?))
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    check_version(&version).map_err(|e| e.to_string())?;
    // The daemon's own default data dir, so `--restic-cmd <data>/bin/restic` lines up.
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let data_dir = data_dir
        .or_else(|| env("BACKREST_DATA").map(PathBuf::from))
        .or_else(|| env("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("footrest")))
        .unwrap_or_else(|| {
            env("HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/"))
                .join(".local/share/footrest")
        });
    Ok(Some(Options {
        version,
        base_url,
        data_dir,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HASH: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn finds_checksum_in_both_sum_formats() {
        let sums = format!(
            "{h}  restic_0.18.1_linux_arm.bz2\n{H} *restic_0.18.1_linux_amd64.bz2\n",
            h = HASH.replace('0', "1"),
            H = HASH.to_uppercase()
        );
        assert_eq!(
            find_checksum(&sums, "restic_0.18.1_linux_amd64.bz2").as_deref(),
            Some(HASH)
        );
        assert_eq!(find_checksum(&sums, "restic_0.18.1_linux_arm64.bz2"), None);
        assert_eq!(find_checksum("short  x\n", "x"), None);
    }

    #[test]
    fn version_must_be_three_numbers() {
        assert!(check_version("0.18.1").is_ok());
        for bad in ["", "0.18", "0.18.1-rc1", "../0.1.2", "0..1", "v0.18.1"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn asset_names_follow_restic_releases() {
        let name = asset_name("0.18.1").unwrap();
        assert!(name.starts_with("restic_0.18.1_linux_") && name.ends_with(".bz2"));
    }
}
