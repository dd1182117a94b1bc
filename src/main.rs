//! The footrest binary: parse arguments, set up logging and signals, run, map to an exit code.

use footrest::daemon::{self, Settings};
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

const USAGE: &str = "\
footrest — schedules and runs restic backups, keeps their history, speaks Backrest's API

Usage: footrest [OPTIONS]
       footrest install-restic [--version X] [--base-url URL] [--data-dir PATH]
       footrest hash-password < password-file
       footrest hook test <plan|repo> <id> <index>   (footrest hook --help)
       footrest [--data-dir PATH] ops [--plan ID] [--repo ID] [--flow ID] [--last N] [--json] ...

Commands:
  hash-password         read a password on stdin, print its hash for a user's
                        passwordBcrypt in config.json (Backrest's encoding)
  ops                   list operations from the data dir, without the daemon (safe while
                        it runs); `footrest ops --help` for its filters
  install-restic        download restic for this machine, check its SHA-256, install it
                        into <data dir>/bin/restic
  hook test             fire one hook of the config with sample variables and say how
                        it went; `footrest hook --help` for its options

Options:
  --bind-address ADDR   where to listen: host:port, or a port for all interfaces
                        [env BACKREST_PORT, default 127.0.0.1:9898]
  --config-file PATH    the config.json [env BACKREST_CONFIG,
                        default $XDG_CONFIG_HOME/footrest/config.json]
  --data-dir PATH       history and state [env BACKREST_DATA,
                        default $XDG_DATA_HOME/footrest]
  --restic-cmd CMD      the restic binary [env BACKREST_RESTIC_COMMAND, default restic]
  --shutdown-grace SECS how long a running backup may finish on SIGTERM [default 30]
  --mqtt URL            publish to Home Assistant over MQTT:
                        mqtt://[user:password@]host[:port] [env FOOTREST_MQTT]
  --allow-host NAME     a host name browsers may use to reach footrest while auth is off,
                        besides IPs, localhost, the bind address and this machine's name
                        (repeat it, or comma-separate) [env FOOTREST_ALLOWED_HOSTS]
  -h, --help            print this help
  -V, --version         print the version

Environment: FOOTREST_LOG=error|warn|info|debug sets the log level (default info).
  FOOTREST_HTTP_TIMEOUT_MS   idle timeout of HTTP connections (default 30000)
  FOOTREST_HTTP_MAX_CLIENTS  HTTP connections open at once (default from the fd limit)
  FOOTREST_ALLOWED_HOSTS     host names besides IPs and localhost the API answers to
                             (comma-separated, added to --allow-host; see README, Security)

Locked out? Stop footrest, remove the users (or set disabled to true) under auth in
config.json, start it again and set a new password from the UI or with hash-password.
";

fn main() -> ExitCode {
    let level = std::env::var("FOOTREST_LOG")
        .ok()
        .and_then(|s| footrest::logger::parse_level(&s))
        .unwrap_or(log::LevelFilter::Info);
    footrest::logger::init(level);
    let mut args: Vec<OsString> = std::env::args_os().skip(1).collect();
    if args.first().is_some_and(|a| a == "install-restic") {
        return footrest::install_restic::run_cli(args.split_off(1));
    }
    if args.first().is_some_and(|a| a == "hook") {
        return footrest::hooks::cli::main(args.split_off(1));
    }
    match parse_args(args) {
        Ok(Command::Help) => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Ok(Command::Version) => {
            println!("footrest {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Ok(Command::Serve(settings)) => serve(&settings),
        Ok(Command::HashPassword) => hash_password(),
        Ok(Command::Ops { data_dir, args }) => {
            let mut out = std::io::stdout().lock();
            match footrest::oplog::ops_cli(&args, &data_dir, &mut out) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("footrest ops: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Err(e) => {
            eprintln!("footrest: {e}\n\nRun footrest --help for usage.");
            ExitCode::from(2)
        }
    }
}

/// One panic policy for every build (docs/ARCHITECTURE.md, "Panics"): a panic ends the
/// process and the service manager starts it again. Release builds abort by their profile;
/// builds that unwind (debug, tests) abort here after the message, instead of losing one thread.
fn abort_on_panic() {
    #[cfg(panic = "unwind")]
    {
        let report = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            report(info);
            std::process::abort();
        }));
    }
}

fn serve(settings: &Settings) -> ExitCode {
    abort_on_panic();
    let signals = match daemon::Signals::install() {
        Ok(s) => s,
        Err(e) => {
            log::error!("installing signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let d = match daemon::Daemon::start(settings) {
        Ok(d) => d,
        Err(e) => {
            log::error!("{e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = signals.wait() {
        log::error!("waiting for signals: {e}");
    }
    d.stop();
    if footrest::api::failed() {
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

/// Reads one password from stdin (a trailing newline is not part of it), prints its hash.
fn hash_password() -> ExitCode {
    use std::io::Read;
    let mut input = String::new();
    if let Err(e) = std::io::stdin().take(4096).read_to_string(&mut input) {
        eprintln!("footrest: reading the password from stdin: {e}");
        return ExitCode::from(2);
    }
    let password = input.strip_suffix('\n').unwrap_or(&input);
    let password = password.strip_suffix('\r').unwrap_or(password);
    match footrest::auth::hash_password(password) {
        Ok(h) => {
            println!("{h}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("footrest: {e}");
            ExitCode::from(2)
        }
    }
}

enum Command {
    Help,
    Version,
    Serve(Settings),
    Ops {
        data_dir: PathBuf,
        args: Vec<String>,
    },
    HashPassword,
}

fn parse_args(args: Vec<OsString>) -> Result<Command, String> {
    use lexopt::prelude::*;
    let mut bind = None;
    let mut config_file = None;
    let mut data_dir = None;
    let mut restic_cmd = None;
    let mut mqtt = None;
    let mut grace = 30u64;
    let mut allow_hosts = Vec::new();
    let mut ops_args = None;
    let mut p = lexopt::Parser::from_args(args);
    while let Some(arg) = p.next().map_err(|e| e.to_string())? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Long("bind-address") => bind = Some(string(p.value())?),
            Long("config-file") => {
                config_file = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?))
            }
            Long("data-dir") => {
                data_dir = Some(PathBuf::from(p.value().map_err(|e| e.to_string())?))
            }
            Long("restic-cmd") => restic_cmd = Some(string(p.value())?),
            Long("mqtt") => mqtt = Some(string(p.value())?),
            // Trimmed, lower-cased and blanks dropped by settings::Settings::allow_hosts.
            Long("allow-host") => {
                allow_hosts.extend(string(p.value())?.split(',').map(str::to_string))
            }
            Value(v) if v == "hash-password" => return Ok(Command::HashPassword),
            Value(v) if v == "ops" => {
                let rest: Vec<String> = p
                    .raw_args()
                    .map_err(|e| e.to_string())?
                    .map(|a| a.to_string_lossy().into_owned())
                    .collect();
                ops_args = Some(rest);
                break;
            }
            Long("shutdown-grace") => {
                grace = string(p.value())?
                    .parse()
                    .map_err(|_| "--shutdown-grace takes a number of seconds".to_string())?
            }
            other => return Err(other.unexpected().to_string()),
        }
    }
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    let home = env("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/"));
    let config_file = config_file
        .or_else(|| env("BACKREST_CONFIG").map(PathBuf::from))
        .or_else(|| env("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("footrest/config.json")))
        .unwrap_or_else(|| home.join(".config/footrest/config.json"));
    let data_dir = data_dir
        .or_else(|| env("BACKREST_DATA").map(PathBuf::from))
        .or_else(|| env("XDG_DATA_HOME").map(|d| PathBuf::from(d).join("footrest")))
        .unwrap_or_else(|| home.join(".local/share/footrest"));
    if let Some(args) = ops_args {
        return Ok(Command::Ops { data_dir, args });
    }
    let bind = match bind {
        Some(b) => b,
        None => match env("BACKREST_PORT") {
            Some(v) => v
                .into_string()
                .map_err(|_| "BACKREST_PORT is not UTF-8".to_string())?,
            None => "127.0.0.1:9898".into(),
        },
    };
    daemon::bind_addr(&bind)?;
    let restic_cmd = match restic_cmd {
        Some(r) => r,
        None => match env("BACKREST_RESTIC_COMMAND") {
            Some(v) => v
                .into_string()
                .map_err(|_| "BACKREST_RESTIC_COMMAND is not UTF-8".to_string())?,
            None => "restic".into(),
        },
    };
    let mqtt = match mqtt {
        Some(m) => Some(m),
        None => match env("FOOTREST_MQTT") {
            Some(v) => Some(
                v.into_string()
                    .map_err(|_| "FOOTREST_MQTT is not UTF-8".to_string())?,
            ),
            None => None,
        },
    };
    let mqtt = mqtt
        .map(|m| footrest::mqtt::BrokerUrl::parse(&m))
        .transpose()?;
    Ok(Command::Serve(Settings {
        bind,
        config_file,
        data_dir,
        restic_cmd,
        handlers: 4,
        shutdown_grace: Duration::from_secs(grace),
        mqtt,
        allow_hosts,
    }))
}

fn string(v: Result<OsString, lexopt::Error>) -> Result<String, String> {
    v.map_err(|e| e.to_string())?
        .into_string()
        .map_err(|_| "argument is not valid UTF-8".to_string())
}
