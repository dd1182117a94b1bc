//! A minimal `log` backend: one line per record on stderr, level from `FOOTREST_LOG`.
//!
//! Levels: `error` (things that lost work), `warn` (things a user should look at), `info`
//! (start, stop, each task), `debug` (each request and restic command). Secrets are never
//! logged at any level: restic gets them by environment, and messages name repos by id.

use log::{Level, LevelFilter, Log, Metadata, Record};
use std::io::Write;

struct Logger {
    level: LevelFilter,
}

impl Log for Logger {
    fn enabled(&self, m: &Metadata) -> bool {
        // ureq shows a URL's path and query (where webhooks keep their keys) at trace level.
        if m.level() == Level::Trace && m.target().starts_with("ureq") {
            return false;
        }
        m.level() <= self.level
    }

    fn log(&self, r: &Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        };
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("-");
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{level} [{name}] {}", r.args());
    }

    fn flush(&self) {}
}

/// Parses a level name; unknown names give None.
pub fn parse_level(s: &str) -> Option<LevelFilter> {
    match s.trim().to_ascii_lowercase().as_str() {
        "off" => Some(LevelFilter::Off),
        "error" => Some(LevelFilter::Error),
        "warn" | "warning" => Some(LevelFilter::Warn),
        "info" => Some(LevelFilter::Info),
        "debug" => Some(LevelFilter::Debug),
        "trace" => Some(LevelFilter::Trace),
        _ => None,
    }
}

/// Installs the logger once; later calls are ignored.
pub fn init(level: LevelFilter) {
    let logger = Box::leak(Box::new(Logger { level }));
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}
