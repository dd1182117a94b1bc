//! The local time zone: from `TZ`, else `/etc/localtime`, else UTC.
//!
//! `TZ` may be empty (UTC, as in glibc and musl), a POSIX rule such as
//! `CET-1CEST,M3.5.0,M10.5.0/3` or `UTC0` (OpenWrt sets these), a zone name
//! such as `Europe/Berlin` or `:Europe/Berlin`, or a path to a TZif file
//! (absolute, or relative starting with `.`). A `TZ` that names nothing usable is reported and the
//! next source is used. Zone names are looked up in the system's zoneinfo
//! (`/usr/share/zoneinfo`); no time zone database is built in.
//!
//! [`time_zone_from_tz`] and [`local_time_zone_from`] take their inputs as
//! arguments so tests need not touch the process environment;
//! [`local_time_zone`] reads it.

use std::io;
use std::path::Path;

use jiff::tz::TimeZone;

use super::ScheduleError;

/// Where the system's local zone is configured when `TZ` is unset.
pub const LOCALTIME_PATH: &str = "/etc/localtime";

/// The zone a `TZ` value names.
pub fn time_zone_from_tz(value: &str) -> Result<TimeZone, ScheduleError> {
    let error = |reason: String| ScheduleError::TimeZone {
        origin: format!("TZ={value:?}"),
        reason,
    };
    let name = match value.strip_prefix(':') {
        Some(name) => name,
        None => {
            if let Ok(tz) = TimeZone::posix(value) {
                return Ok(tz);
            }
            value
        }
    };
    if name.is_empty() {
        return Ok(TimeZone::UTC);
    }
    if name.starts_with('/') || name.starts_with('.') {
        return zone_from_file(Path::new(name)).map_err(|err| error(err.to_string()));
    }
    TimeZone::get(name)
        .map_err(|_| error("not a known time zone name or a POSIX TZ string".to_string()))
}

/// The local zone given the value of `TZ` (`None` when unset) and the path of
/// `/etc/localtime`. A `TZ` or file that could not be used is returned as the
/// second value, for the caller to report; the zone is then the next source's.
pub fn local_time_zone_from(
    tz: Option<&str>,
    localtime: &Path,
) -> (TimeZone, Option<ScheduleError>) {
    let mut problem = None;
    if let Some(value) = tz {
        match time_zone_from_tz(value) {
            Ok(zone) => return (zone, None),
            Err(err) => problem = Some(err),
        }
    }
    match zone_from_file(localtime) {
        Ok(zone) => (zone, problem),
        Err(err) if err.kind() == io::ErrorKind::NotFound => (TimeZone::UTC, problem),
        Err(err) => {
            let err = ScheduleError::TimeZone {
                origin: localtime.display().to_string(),
                reason: err.to_string(),
            };
            (TimeZone::UTC, problem.or(Some(err)))
        }
    }
}

/// The local zone from the process's `TZ` and `/etc/localtime`. A setting
/// that could not be used is logged as a warning.
pub fn local_time_zone() -> TimeZone {
    let tz = std::env::var_os("TZ").map(|v| v.to_string_lossy().into_owned());
    let (zone, problem) = local_time_zone_from(tz.as_deref(), Path::new(LOCALTIME_PATH));
    if let Some(err) = problem {
        log::warn!(
            "{err}; using {}",
            zone.iana_name().unwrap_or("an unnamed zone")
        );
    }
    zone
}

/// The local zone with a name to show for it.
#[derive(Clone, Debug)]
pub struct LocalZone {
    pub tz: TimeZone,
    /// The IANA name, else the `TZ` value (a POSIX rule), else `localtime`.
    pub name: String,
}

impl LocalZone {
    /// [`local_time_zone`] and its name.
    pub fn from_env() -> LocalZone {
        let tz = local_time_zone();
        let env = std::env::var("TZ").ok();
        let name = zone_name(&tz, env.as_deref());
        LocalZone { tz, name }
    }
}

/// A name for `tz`, which came from `TZ` = `tz_env` or from the localtime file.
pub fn zone_name(tz: &TimeZone, tz_env: Option<&str>) -> String {
    if let Some(name) = tz.iana_name() {
        return name.to_string();
    }
    match tz_env {
        Some(v) if TimeZone::posix(v).is_ok() => v.to_string(),
        _ => "localtime".to_string(),
    }
}

/// A TZif file: by name when the path (or its symlink target) lies inside a
/// zoneinfo tree, so the zone keeps its IANA name; else read directly.
fn zone_from_file(path: &Path) -> io::Result<TimeZone> {
    let mut candidates = vec![path.to_path_buf()];
    if let Ok(target) = std::fs::read_link(path) {
        candidates.push(target);
    }
    for candidate in &candidates {
        let Some(text) = candidate.to_str() else {
            continue;
        };
        if let Some(pos) = text.rfind("zoneinfo/")
            && let Ok(zone) = TimeZone::get(&text[pos + "zoneinfo/".len()..])
        {
            return Ok(zone);
        }
    }
    let data = std::fs::read(path)?;
    // jiff's own error text is left out on purpose: formatting a jiff::Error
    // links about 140 KB of messages into the release binary.
    TimeZone::tzif("localtime", &data)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "not a TZif file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    use jiff::Timestamp;
    use std::path::PathBuf;

    const ZONEINFO: &str = "/usr/share/zoneinfo";

    /// The UTC offset in seconds on a summer day, to tell zones apart.
    fn summer_offset(tz: &TimeZone) -> i32 {
        let t: Timestamp = "2025-07-01T12:00:00Z".parse().unwrap();
        tz.to_offset(t).seconds()
    }

    fn winter_offset(tz: &TimeZone) -> i32 {
        let t: Timestamp = "2025-01-01T12:00:00Z".parse().unwrap();
        tz.to_offset(t).seconds()
    }

    /// A fresh directory for one test, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            let dir =
                std::env::temp_dir().join(format!("footrest-zone-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn tz_zone_name_with_or_without_colon() {
        for value in ["Europe/Berlin", ":Europe/Berlin"] {
            let tz = time_zone_from_tz(value).unwrap();
            assert_eq!(tz.iana_name(), Some("Europe/Berlin"), "{value}");
        }
    }

    #[test]
    fn tz_posix_rule_as_on_openwrt() {
        let tz = time_zone_from_tz("CET-1CEST,M3.5.0,M10.5.0/3").unwrap();
        assert_eq!((winter_offset(&tz), summer_offset(&tz)), (3600, 7200));
        let tz = time_zone_from_tz("EST5EDT,M3.2.0,M11.1.0").unwrap();
        assert_eq!(
            (winter_offset(&tz), summer_offset(&tz)),
            (-5 * 3600, -4 * 3600)
        );
        let tz = time_zone_from_tz("UTC0").unwrap();
        assert_eq!((winter_offset(&tz), summer_offset(&tz)), (0, 0));
    }

    #[test]
    fn zones_are_named_by_iana_name_or_posix_rule() {
        let berlin = time_zone_from_tz("Europe/Berlin").unwrap();
        assert_eq!(zone_name(&berlin, Some("Europe/Berlin")), "Europe/Berlin");
        let rule = "CET-1CEST,M3.5.0,M10.5.0/3";
        assert_eq!(
            zone_name(&time_zone_from_tz(rule).unwrap(), Some(rule)),
            rule
        );
        assert_eq!(zone_name(&TimeZone::UTC, None), "UTC");
    }

    #[test]
    fn tz_empty_is_utc() {
        assert_eq!(time_zone_from_tz("").unwrap(), TimeZone::UTC);
        assert_eq!(time_zone_from_tz(":").unwrap(), TimeZone::UTC);
    }

    #[test]
    fn tz_path_inside_zoneinfo_keeps_the_zone_name() {
        let tz = time_zone_from_tz(&format!("{ZONEINFO}/America/New_York")).unwrap();
        assert_eq!(tz.iana_name(), Some("America/New_York"));
    }

    #[test]
    fn tz_unknown_name_is_an_error() {
        assert_eq!(
            time_zone_from_tz("Mars/Olympus").unwrap_err().to_string(),
            "time zone: TZ=\"Mars/Olympus\": not a known time zone name or a POSIX TZ string"
        );
        let err = time_zone_from_tz("/nonexistent/tzfile")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("time zone: TZ=\"/nonexistent/tzfile\": "),
            "{err}"
        );
    }

    #[test]
    fn local_zone_prefers_tz_over_localtime() {
        let dir = TempDir::new("prefers-tz");
        let link = dir.0.join("localtime");
        std::os::unix::fs::symlink(format!("{ZONEINFO}/Asia/Tokyo"), &link).unwrap();
        let (tz, problem) = local_time_zone_from(Some("Europe/Berlin"), &link);
        assert_eq!(tz.iana_name(), Some("Europe/Berlin"));
        assert_eq!(problem, None);
    }

    #[test]
    fn local_zone_from_localtime_symlink_keeps_the_name() {
        let dir = TempDir::new("symlink");
        let link = dir.0.join("localtime");
        std::os::unix::fs::symlink(format!("{ZONEINFO}/Asia/Tokyo"), &link).unwrap();
        let (tz, problem) = local_time_zone_from(None, &link);
        assert_eq!(tz.iana_name(), Some("Asia/Tokyo"));
        assert_eq!(problem, None);
    }

    #[test]
    fn local_zone_from_localtime_copy_reads_the_file() {
        let dir = TempDir::new("copy");
        let file = dir.0.join("localtime");
        std::fs::copy(format!("{ZONEINFO}/Asia/Tokyo"), &file).unwrap();
        let (tz, problem) = local_time_zone_from(None, &file);
        assert_eq!(summer_offset(&tz), 9 * 3600);
        assert_eq!(problem, None);
    }

    #[test]
    fn local_zone_with_bad_tz_falls_back_and_reports_it() {
        let dir = TempDir::new("bad-tz");
        let link = dir.0.join("localtime");
        std::os::unix::fs::symlink(format!("{ZONEINFO}/Asia/Tokyo"), &link).unwrap();
        let (tz, problem) = local_time_zone_from(Some("Nowhere/Special"), &link);
        assert_eq!(tz.iana_name(), Some("Asia/Tokyo"));
        let problem = problem.unwrap().to_string();
        assert!(
            problem.starts_with("time zone: TZ=\"Nowhere/Special\": "),
            "{problem}"
        );
    }

    #[test]
    fn local_zone_without_tz_or_localtime_is_utc() {
        let dir = TempDir::new("none");
        let (tz, problem) = local_time_zone_from(None, &dir.0.join("missing"));
        assert_eq!(tz, TimeZone::UTC);
        assert_eq!(problem, None);
    }

    #[test]
    fn local_zone_with_garbage_localtime_is_utc_and_reported() {
        let dir = TempDir::new("garbage");
        let file = dir.0.join("localtime");
        std::fs::write(&file, b"not a tzif file").unwrap();
        let (tz, problem) = local_time_zone_from(None, &file);
        assert_eq!(tz, TimeZone::UTC);
        let problem = problem.unwrap().to_string();
        assert!(
            problem.starts_with(&format!("time zone: {}: ", file.display())),
            "{problem}"
        );
    }
}
