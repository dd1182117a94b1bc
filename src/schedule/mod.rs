//! Schedules: when a plan's backup or a repo's prune, check or forget runs next.
//!
//! Owns the schedule model (Backrest's `Schedule` message, without serde: the
//! config types convert into it), cron expressions ([`cron`]) and finding the
//! local time zone ([`zone`]). It is pure: callers pass `now`, the end of the
//! last run and the time zone; nothing here reads the clock, sleeps or spawns
//! threads. Config validation (handler threads) and the scheduler thread call
//! it; it keeps no state.
//!
//! Rules ([`Schedule::next_run`]):
//! - The base instant is `now` for [`Clock::Local`] and [`Clock::Utc`], so a
//!   restart starts frequency countdowns afresh. For [`Clock::LastRunTime`] it
//!   is the end of the last completed run, or `now` when there is none; a last
//!   run that ended after `now` (the clock was set back) counts as `now`, so a
//!   wrong clock cannot hold backups off.
//! - `MaxFrequencyDays(n)` is the base plus `n` × 24 hours and
//!   `MaxFrequencyHours(n)` the base plus `n` hours: exact durations, as in
//!   Backrest. A frequency is a minimum spacing, so it does not shrink to 23
//!   hours on a daylight-saving day; it ignores the time zone.
//! - Cron: the first match strictly after the base, in UTC for `Clock::Utc`
//!   and in the local zone otherwise (Backrest always uses local time).
//!   Daylight-saving rules are in [`cron`].
//! - With `Clock::LastRunTime` the answer may lie in the past: the run is
//!   overdue and the caller starts it at once. Missed slots are not replayed;
//!   the next answer is computed from that run's end.

pub mod cron;
pub mod describe;
pub mod zone;

use std::fmt;

use jiff::SignedDuration;
pub use jiff::Timestamp;
pub use jiff::tz::TimeZone;

pub use self::cron::{Cron, CronError, Field, FieldProblem};
pub use self::zone::{
    LOCALTIME_PATH, LocalZone, local_time_zone, local_time_zone_from, time_zone_from_tz, zone_name,
};

/// When a task runs: Backrest's `Schedule` oneof.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    /// Never runs by itself.
    Disabled,
    /// Runs at the matches of a cron expression.
    Cron(Cron),
    /// Runs at most once every N days (N ≥ 1).
    MaxFrequencyDays(u32),
    /// Runs at most once every N hours (N ≥ 1).
    MaxFrequencyHours(u32),
}

/// Which instant and zone a schedule counts from (Backrest's `Schedule.Clock`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// `CLOCK_LOCAL`, also `CLOCK_DEFAULT`: from now, cron in the local zone.
    #[default]
    Local,
    /// `CLOCK_UTC`: from now, cron in UTC.
    Utc,
    /// `CLOCK_LAST_RUN_TIME`: from the end of the last run, cron in the local zone.
    LastRunTime,
}

/// A schedule as written in the config, before validation. The config types
/// build one of these from their oneof and hand it to [`Schedule::parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleSpec<'a> {
    Disabled,
    Cron(&'a str),
    MaxFrequencyDays(i64),
    MaxFrequencyHours(i64),
}

/// Why a schedule, clock or time zone was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScheduleError {
    /// The cron expression does not parse.
    Cron(CronError),
    /// A frequency below 1; `field` is the config's JSON name.
    FrequencyTooSmall { field: &'static str, value: i64 },
    /// A frequency that does not fit in 32 bits.
    FrequencyTooLarge { field: &'static str, value: i64 },
    /// A clock that is not one of Backrest's values, as written.
    UnknownClock { value: String },
    /// A time zone setting that could not be used; `origin` names where it
    /// came from (`TZ="…"`, a file path).
    TimeZone { origin: String, reason: String },
}

impl fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ScheduleError::Cron(err) => write!(f, "schedule: {err}"),
            ScheduleError::FrequencyTooSmall { field, value } => {
                write!(f, "schedule: {field} must be at least 1, got {value}")
            }
            ScheduleError::FrequencyTooLarge { field, value } => {
                write!(f, "schedule: {field} {value} is too large")
            }
            ScheduleError::UnknownClock { value } => {
                write!(f, "schedule: unknown clock {value}")
            }
            ScheduleError::TimeZone { origin, reason } => {
                write!(f, "time zone: {origin}: {reason}")
            }
        }
    }
}

impl std::error::Error for ScheduleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ScheduleError::Cron(err) => Some(err),
            _ => None,
        }
    }
}

impl From<CronError> for ScheduleError {
    fn from(err: CronError) -> ScheduleError {
        ScheduleError::Cron(err)
    }
}

impl Schedule {
    /// Validates a schedule from the config and turns it into a `Schedule`.
    pub fn parse(spec: ScheduleSpec<'_>) -> Result<Schedule, ScheduleError> {
        Ok(match spec {
            ScheduleSpec::Disabled => Schedule::Disabled,
            ScheduleSpec::Cron(expr) => Schedule::Cron(Cron::parse(expr)?),
            ScheduleSpec::MaxFrequencyDays(n) => {
                Schedule::MaxFrequencyDays(frequency("maxFrequencyDays", n)?)
            }
            ScheduleSpec::MaxFrequencyHours(n) => {
                Schedule::MaxFrequencyHours(frequency("maxFrequencyHours", n)?)
            }
        })
    }

    /// Checks a schedule from the config without keeping the result.
    pub fn validate(spec: ScheduleSpec<'_>) -> Result<(), ScheduleError> {
        Schedule::parse(spec).map(|_| ())
    }

    /// When the task should next run, by the rules in the module doc. `None`
    /// when it never does: disabled, a cron expression that matches nothing
    /// within five years, or a time past the end of jiff's range.
    pub fn next_run(
        &self,
        clock: Clock,
        now: Timestamp,
        last_run_end: Option<Timestamp>,
        tz: &TimeZone,
    ) -> Option<Timestamp> {
        let base = match clock {
            Clock::Local | Clock::Utc => now,
            Clock::LastRunTime => last_run_end.map_or(now, |end| end.min(now)),
        };
        match self {
            Schedule::Disabled => None,
            Schedule::Cron(cron) => match clock {
                Clock::Utc => cron.next_after(base, &TimeZone::UTC),
                Clock::Local | Clock::LastRunTime => cron.next_after(base, tz),
            },
            Schedule::MaxFrequencyDays(days) => {
                let hours = i64::from(*days) * 24;
                base.checked_add(SignedDuration::from_hours(hours)).ok()
            }
            Schedule::MaxFrequencyHours(hours) => base
                .checked_add(SignedDuration::from_hours(i64::from(*hours)))
                .ok(),
        }
    }
}

fn frequency(field: &'static str, value: i64) -> Result<u32, ScheduleError> {
    if value < 1 {
        return Err(ScheduleError::FrequencyTooSmall { field, value });
    }
    u32::try_from(value).map_err(|_| ScheduleError::FrequencyTooLarge { field, value })
}

impl Clock {
    /// From the proto enum number: 0 (`CLOCK_DEFAULT`) and 1 are local.
    pub fn from_proto_number(value: i64) -> Result<Clock, ScheduleError> {
        match value {
            0 | 1 => Ok(Clock::Local),
            2 => Ok(Clock::Utc),
            3 => Ok(Clock::LastRunTime),
            _ => Err(ScheduleError::UnknownClock {
                value: value.to_string(),
            }),
        }
    }

    /// From the proto enum name, as proto3 JSON writes it (`CLOCK_UTC`).
    pub fn from_proto_name(name: &str) -> Result<Clock, ScheduleError> {
        match name {
            "CLOCK_DEFAULT" | "CLOCK_LOCAL" => Ok(Clock::Local),
            "CLOCK_UTC" => Ok(Clock::Utc),
            "CLOCK_LAST_RUN_TIME" => Ok(Clock::LastRunTime),
            _ => Err(ScheduleError::UnknownClock {
                value: format!("{name:?}"),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    fn berlin() -> TimeZone {
        TimeZone::get("Europe/Berlin")
            .unwrap_or_else(|err| panic!("Europe/Berlin: {err} (the tests need the system tzdata)"))
    }

    fn parse(spec: ScheduleSpec<'_>) -> Schedule {
        Schedule::parse(spec).unwrap_or_else(|err| panic!("{spec:?}: {err}"))
    }

    fn err(spec: ScheduleSpec<'_>) -> String {
        match Schedule::parse(spec) {
            Ok(s) => panic!("{spec:?} parsed as {s:?}"),
            Err(err) => err.to_string(),
        }
    }

    /// `next_run` as local time with its offset in `tz`.
    fn next(
        schedule: &Schedule,
        clock: Clock,
        now: &str,
        last: Option<&str>,
        tz: &TimeZone,
    ) -> Option<String> {
        schedule
            .next_run(clock, ts(now), last.map(ts), tz)
            .map(|t| t.display_with_offset(tz.to_offset(t)).to_string())
    }

    const ALL_CLOCKS: [Clock; 3] = [Clock::Local, Clock::Utc, Clock::LastRunTime];

    #[test]
    fn disabled_never_runs() {
        let s = parse(ScheduleSpec::Disabled);
        for clock in ALL_CLOCKS {
            let n = next(
                &s,
                clock,
                "2025-06-01T12:00:00Z",
                Some("2025-06-01T11:00:00Z"),
                &berlin(),
            );
            assert_eq!(n, None, "{clock:?}");
        }
    }

    #[test]
    fn hours_frequency_counts_from_now_with_local_and_utc_clocks() {
        let s = parse(ScheduleSpec::MaxFrequencyHours(6));
        let tz = TimeZone::UTC;
        for clock in [Clock::Local, Clock::Utc] {
            // The last run does not matter: a restart starts the countdown afresh.
            let n = next(
                &s,
                clock,
                "2025-06-01T12:00:00Z",
                Some("2025-06-01T11:00:00Z"),
                &tz,
            );
            assert_eq!(n.unwrap(), "2025-06-01T18:00:00+00:00", "{clock:?}");
        }
    }

    #[test]
    fn days_frequency_is_24_hours_even_across_dst() {
        let s = parse(ScheduleSpec::MaxFrequencyDays(1));
        // Berlin springs forward on 2025-03-30: 24 hours later is 13:00 CEST.
        let n = next(
            &s,
            Clock::Local,
            "2025-03-29T12:00:00+01:00",
            None,
            &berlin(),
        );
        assert_eq!(n.unwrap(), "2025-03-30T13:00:00+02:00");
        let s = parse(ScheduleSpec::MaxFrequencyDays(7));
        let n = next(&s, Clock::Utc, "2025-06-01T12:00:00Z", None, &TimeZone::UTC);
        assert_eq!(n.unwrap(), "2025-06-08T12:00:00+00:00");
    }

    #[test]
    fn last_run_time_counts_from_end_of_last_run() {
        let s = parse(ScheduleSpec::MaxFrequencyHours(6));
        let n = next(
            &s,
            Clock::LastRunTime,
            "2025-06-01T12:00:00Z",
            Some("2025-06-01T10:30:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(n.unwrap(), "2025-06-01T16:30:00+00:00");
    }

    #[test]
    fn last_run_time_without_a_last_run_counts_from_now() {
        let s = parse(ScheduleSpec::MaxFrequencyHours(6));
        let n = next(
            &s,
            Clock::LastRunTime,
            "2025-06-01T12:00:00Z",
            None,
            &TimeZone::UTC,
        );
        assert_eq!(n.unwrap(), "2025-06-01T18:00:00+00:00");
    }

    #[test]
    fn last_run_time_long_ago_returns_an_overdue_time() {
        let s = parse(ScheduleSpec::MaxFrequencyDays(1));
        let n = next(
            &s,
            Clock::LastRunTime,
            "2025-06-10T12:00:00Z",
            Some("2025-06-01T08:00:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(n.unwrap(), "2025-06-02T08:00:00+00:00");
    }

    #[test]
    fn last_run_time_in_the_future_counts_as_now() {
        // The clock was set back after the last run.
        let s = parse(ScheduleSpec::MaxFrequencyHours(1));
        let n = next(
            &s,
            Clock::LastRunTime,
            "2025-06-01T12:00:00Z",
            Some("2030-01-01T00:00:00Z"),
            &TimeZone::UTC,
        );
        assert_eq!(n.unwrap(), "2025-06-01T13:00:00+00:00");
    }

    #[test]
    fn cron_with_local_clock_uses_the_local_zone() {
        let s = parse(ScheduleSpec::Cron("0 9 * * *"));
        // 08:30 UTC is 10:30 in Berlin: today's 09:00 local has passed.
        let n = next(&s, Clock::Local, "2025-06-01T08:30:00Z", None, &berlin());
        assert_eq!(n.unwrap(), "2025-06-02T09:00:00+02:00");
    }

    #[test]
    fn cron_with_utc_clock_uses_utc() {
        let s = parse(ScheduleSpec::Cron("0 9 * * *"));
        let n = next(&s, Clock::Utc, "2025-06-01T08:30:00Z", None, &berlin());
        assert_eq!(n.unwrap(), "2025-06-01T11:00:00+02:00");
    }

    #[test]
    fn cron_with_last_run_time_counts_from_last_run_in_local_zone() {
        let s = parse(ScheduleSpec::Cron("0 3 * * *"));
        let tz = berlin();
        // Last run ended yesterday 02:00 local, so 03:00 yesterday is overdue.
        let n = next(
            &s,
            Clock::LastRunTime,
            "2025-06-02T12:00:00+02:00",
            Some("2025-06-01T02:00:00+02:00"),
            &tz,
        );
        assert_eq!(n.unwrap(), "2025-06-01T03:00:00+02:00");
        let n = next(
            &s,
            Clock::LastRunTime,
            "2025-06-02T12:00:00+02:00",
            None,
            &tz,
        );
        assert_eq!(n.unwrap(), "2025-06-03T03:00:00+02:00");
    }

    #[test]
    fn cron_that_never_matches_never_runs() {
        let s = parse(ScheduleSpec::Cron("0 0 31 2 *"));
        assert_eq!(
            next(&s, Clock::Local, "2025-01-01T00:00:00Z", None, &berlin()),
            None
        );
    }

    #[test]
    fn frequency_past_the_end_of_time_never_runs() {
        let s = parse(ScheduleSpec::MaxFrequencyDays(i64::from(u32::MAX)));
        assert_eq!(
            next(&s, Clock::Utc, "2025-01-01T00:00:00Z", None, &TimeZone::UTC),
            None
        );
    }

    #[test]
    fn invalid_schedules_report_the_field() {
        assert_eq!(
            err(ScheduleSpec::Cron("61 * * * *")),
            "schedule: cron: minute field: 61 is out of range 0-59"
        );
        assert_eq!(
            err(ScheduleSpec::Cron("0 0 * *")),
            "schedule: cron: expected 5 fields, got 4"
        );
        assert_eq!(
            err(ScheduleSpec::MaxFrequencyDays(0)),
            "schedule: maxFrequencyDays must be at least 1, got 0"
        );
        assert_eq!(
            err(ScheduleSpec::MaxFrequencyHours(-3)),
            "schedule: maxFrequencyHours must be at least 1, got -3"
        );
        assert_eq!(
            err(ScheduleSpec::MaxFrequencyHours(1 << 40)),
            "schedule: maxFrequencyHours 1099511627776 is too large"
        );
        assert!(Schedule::validate(ScheduleSpec::MaxFrequencyHours(1)).is_ok());
        assert!(Schedule::validate(ScheduleSpec::Cron("@daily")).is_ok());
    }

    #[test]
    fn clock_comes_from_proto_numbers_and_names() {
        assert_eq!(Clock::default(), Clock::Local);
        let numbers = [0, 1, 2, 3].map(|n| Clock::from_proto_number(n).unwrap());
        assert_eq!(
            numbers,
            [Clock::Local, Clock::Local, Clock::Utc, Clock::LastRunTime]
        );
        let names = [
            "CLOCK_DEFAULT",
            "CLOCK_LOCAL",
            "CLOCK_UTC",
            "CLOCK_LAST_RUN_TIME",
        ]
        .map(|n| Clock::from_proto_name(n).unwrap());
        assert_eq!(
            names,
            [Clock::Local, Clock::Local, Clock::Utc, Clock::LastRunTime]
        );
        assert_eq!(
            Clock::from_proto_number(4).unwrap_err().to_string(),
            "schedule: unknown clock 4"
        );
        assert_eq!(
            Clock::from_proto_name("CLOCK_MARS")
                .unwrap_err()
                .to_string(),
            "schedule: unknown clock \"CLOCK_MARS\""
        );
    }
}
