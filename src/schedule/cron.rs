//! Five-field cron expressions: parsing and "next run after" in a time zone.
//!
//! Pure: the caller passes the instant to search from and the zone; nothing
//! here reads the clock or the environment.
//!
//! Syntax (Vixie cron): `minute hour day-of-month month day-of-week`, each a
//! comma list of `*`, `N`, `A-B`, `*/S`, `A-B/S` or `A/S` (`A` to the field's
//! maximum). Months accept `jan`..`dec`, days of the week `sun`..`sat`
//! (case-insensitive); day-of-week 0 and 7 are both Sunday, and a day-of-week
//! range ending on Sunday may be written `fri-sun` or `5-0`. Macros: `@hourly`,
//! `@daily`, `@midnight`, `@weekly`, `@monthly`, `@yearly`, `@annually`.
//!
//! When both day-of-month and day-of-week are restricted (neither field starts
//! with `*`), a day matches if either does; otherwise both must match, so a
//! plain `*` leaves the other field alone in charge. As in Vixie cron, only the
//! first character counts: `*/10` in day-of-month is ANDed with day-of-week.
//!
//! Daylight-saving rules, for a matching local time:
//! - in a spring-forward gap it does not exist; it runs at the first instant
//!   after the gap (02:30 on the day Berlin jumps from 02:00 to 03:00 runs at
//!   03:00 CEST). Several matching times inside one gap run once.
//! - in a fall-back overlap it exists twice; it runs at the first occurrence
//!   only, so a daily 02:30 job runs once. Exception: a job whose hour field
//!   starts with `*` (hourly or more often) follows the wall clock and also
//!   runs in the repeated hour, so `0 * * * *` stays hourly instead of leaving
//!   a two-hour hole. This is Vixie cron's and cronie's wildcard-job rule,
//!   except that they also count a `*` minute field; here `*/5 2 * * *` runs
//!   in the first 02:00-02:59 only.
//! - a search looks five years ahead; an expression with no match in that
//!   time (`0 0 31 2 *`) has no next run.

use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::{AmbiguousOffset, TimeZone};

/// How far ahead [`Cron::next_after`] looks before deciding that an expression
/// never matches (`0 0 31 2 *`). Five years reach the next leap day until 2096.
const SEARCH_DAYS: u32 = 5 * 366 + 2;

/// A parsed cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: u64,
    hours: u32,
    days_of_month: u32,
    months: u16,
    days_of_week: u8,
    hour_star: bool,
    dom_star: bool,
    dow_star: bool,
    source: Box<str>,
}

/// One of the five fields, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Minute,
    Hour,
    DayOfMonth,
    Month,
    DayOfWeek,
}

impl Field {
    const ALL: [Field; 5] = [
        Field::Minute,
        Field::Hour,
        Field::DayOfMonth,
        Field::Month,
        Field::DayOfWeek,
    ];

    /// Smallest and largest value a number may have in this field.
    fn bounds(self) -> (u32, u32) {
        match self {
            Field::Minute => (0, 59),
            Field::Hour => (0, 23),
            Field::DayOfMonth => (1, 31),
            Field::Month => (1, 12),
            Field::DayOfWeek => (0, 7),
        }
    }

    fn names(self) -> &'static [&'static str] {
        const MONTHS: &[&str] = &[
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        const DAYS: &[&str] = &["sun", "mon", "tue", "wed", "thu", "fri", "sat"];
        match self {
            Field::Month => MONTHS,
            Field::DayOfWeek => DAYS,
            _ => &[],
        }
    }

    /// Value of the first name in `names()`.
    fn first_name_value(self) -> u32 {
        match self {
            Field::Month => 1,
            _ => 0,
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Field::Minute => "minute",
            Field::Hour => "hour",
            Field::DayOfMonth => "day-of-month",
            Field::Month => "month",
            Field::DayOfWeek => "day-of-week",
        })
    }
}

/// Why a cron expression was rejected.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CronError {
    /// Not five whitespace-separated fields.
    FieldCount { got: usize },
    /// An `@name` that is not one of the supported macros.
    UnknownMacro { name: String },
    /// A problem inside one field.
    Field { field: Field, problem: FieldProblem },
}

/// What was wrong inside a field.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldProblem {
    /// An empty list item, range end or step (`1,,2`, `1-`, `*/`).
    Empty,
    /// Neither a number nor, in month and day-of-week, a name.
    InvalidValue { value: String },
    /// A number outside the field's range.
    OutOfRange { value: String, min: u32, max: u32 },
    /// A range whose start is after its end.
    Backwards { start: u32, end: u32 },
    /// A step that is zero or not a number.
    BadStep { value: String },
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CronError::FieldCount { got } => write!(f, "cron: expected 5 fields, got {got}"),
            CronError::UnknownMacro { name } => write!(
                f,
                "cron: unknown macro {name:?} (expected @hourly, @daily, @midnight, \
                 @weekly, @monthly, @yearly or @annually)"
            ),
            CronError::Field { field, problem } => write!(f, "cron: {field} field: {problem}"),
        }
    }
}

impl fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldProblem::Empty => f.write_str("empty value"),
            FieldProblem::InvalidValue { value } => write!(f, "{value:?} is not a valid value"),
            FieldProblem::OutOfRange { value, min, max } => {
                write!(f, "{value} is out of range {min}-{max}")
            }
            FieldProblem::Backwards { start, end } => {
                write!(f, "range {start}-{end} goes backwards")
            }
            FieldProblem::BadStep { value } => {
                write!(f, "step {value:?} is not a number of at least 1")
            }
        }
    }
}

impl std::error::Error for CronError {}

impl Cron {
    /// Parses a five-field expression or an `@macro`.
    pub fn parse(expr: &str) -> Result<Cron, CronError> {
        let trimmed = expr.trim();
        let expanded = if trimmed.starts_with('@') {
            expand_macro(trimmed)?
        } else {
            trimmed
        };
        let fields: Vec<&str> = expanded.split_ascii_whitespace().collect();
        if fields.len() != 5 {
            return Err(CronError::FieldCount { got: fields.len() });
        }
        let mut sets = [0u64; 5];
        for ((set, text), field) in sets.iter_mut().zip(&fields).zip(Field::ALL) {
            *set =
                parse_field(text, field).map_err(|problem| CronError::Field { field, problem })?;
        }
        // Sunday may be written 7; fold it onto 0.
        let mut dow = sets[4];
        if dow & (1 << 7) != 0 {
            dow = (dow | 1) & !(1 << 7);
        }
        // Each set only holds bits inside its field's bounds, so these
        // narrowing conversions cannot lose bits.
        Ok(Cron {
            minutes: sets[0],
            hours: sets[1] as u32,
            days_of_month: sets[2] as u32,
            months: sets[3] as u16,
            days_of_week: dow as u8,
            hour_star: fields[1].starts_with('*'),
            dom_star: fields[2].starts_with('*'),
            dow_star: fields[4].starts_with('*'),
            source: trimmed.into(),
        })
    }

    /// The expression as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The five fields as written, lowercased, with a macro expanded.
    pub fn field_texts(&self) -> Vec<String> {
        let expanded = if self.source.starts_with('@') {
            expand_macro(&self.source).unwrap_or("")
        } else {
            &self.source
        };
        expanded
            .split_ascii_whitespace()
            .map(|f| f.to_ascii_lowercase())
            .collect()
    }

    /// The values a field matches (bit N set = value N), day-of-week with Sunday as 0 only.
    pub fn values(&self, field: Field) -> u64 {
        match field {
            Field::Minute => self.minutes,
            Field::Hour => u64::from(self.hours),
            Field::DayOfMonth => u64::from(self.days_of_month),
            Field::Month => u64::from(self.months),
            Field::DayOfWeek => u64::from(self.days_of_week),
        }
    }

    /// The first matching minute strictly after `after`, evaluated in `tz`,
    /// with the daylight-saving rules in the module doc. `None` when nothing
    /// matches within about five years (for example `0 0 31 2 *`).
    pub fn next_after(&self, after: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let local = tz.to_datetime(after).date();
        // Start a day early: in a fall-back overlap that crosses midnight, the
        // repeated part of yesterday can still lie ahead of `after`.
        let mut day = local.yesterday().unwrap_or(local);
        let mut best: Option<Timestamp> = None;
        let mut days_since_best = 0;
        for _ in 0..SEARCH_DAYS {
            if best.is_some() {
                // A day after the one that found `best` may still hold an
                // earlier instant (an overlap at midnight); two cannot.
                days_since_best += 1;
                if days_since_best > 1 {
                    break;
                }
            }
            if self.day_matches(day) {
                for hour in bits(u64::from(self.hours)) {
                    for minute in bits(self.minutes) {
                        let dt = day.at(hour as i8, minute as i8, 0, 0);
                        let Some((first, repeat)) = self.instants(dt, tz) else {
                            continue;
                        };
                        // First occurrences never go down as civil time goes up,
                        // so nothing later can beat `best`.
                        if best.is_some_and(|b| first > b) {
                            return best;
                        }
                        for t in [Some(first), repeat].into_iter().flatten() {
                            if t > after && best.is_none_or(|b| t < b) {
                                best = Some(t);
                            }
                        }
                    }
                }
            }
            match day.tomorrow() {
                Ok(next) => day = next,
                Err(_) => break,
            }
        }
        best
    }

    fn day_matches(&self, day: Date) -> bool {
        if self.months & (1 << day.month()) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << day.day()) != 0;
        let dow = self.days_of_week & (1 << day.weekday().to_sunday_zero_offset()) != 0;
        if self.dom_star || self.dow_star {
            dom && dow
        } else {
            dom || dow
        }
    }

    /// The instant a matching local time runs at, and a second instant when it
    /// also runs in the repeated hour of a fall-back overlap.
    fn instants(&self, dt: DateTime, tz: &TimeZone) -> Option<(Timestamp, Option<Timestamp>)> {
        match tz.to_ambiguous_timestamp(dt).offset() {
            AmbiguousOffset::Unambiguous { offset } => Some((offset.to_timestamp(dt).ok()?, None)),
            AmbiguousOffset::Gap { before, after } => {
                // `dt` read with the post-gap offset is an instant just before
                // the transition; the transition itself is the end of the gap.
                let probe = after.to_timestamp(dt).ok()?;
                let end = match tz.following(probe).next() {
                    Some(transition) => transition.timestamp(),
                    None => before.to_timestamp(dt).ok()?,
                };
                Some((end, None))
            }
            AmbiguousOffset::Fold { before, after } => {
                let first = before.to_timestamp(dt).ok()?;
                let repeat = if self.hour_star {
                    after.to_timestamp(dt).ok()
                } else {
                    None
                };
                Some((first, repeat))
            }
        }
    }
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Cron, CronError> {
        Cron::parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn expand_macro(name: &str) -> Result<&'static str, CronError> {
    Ok(match name.to_ascii_lowercase().as_str() {
        "@hourly" => "0 * * * *",
        "@daily" | "@midnight" => "0 0 * * *",
        "@weekly" => "0 0 * * 0",
        "@monthly" => "0 0 1 * *",
        "@yearly" | "@annually" => "0 0 1 1 *",
        _ => {
            return Err(CronError::UnknownMacro {
                name: name.to_string(),
            });
        }
    })
}

/// Parses one field into a bit set (bit N set = value N matches).
fn parse_field(text: &str, field: Field) -> Result<u64, FieldProblem> {
    let (min, max) = field.bounds();
    let mut set = 0u64;
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (range, Some(parse_step(step)?)),
            None => (item, None),
        };
        let (start, end) = if range == "*" {
            // `*` on day-of-week is 0-6: 7 would only repeat Sunday.
            let max = if field == Field::DayOfWeek { 6 } else { max };
            (min, max)
        } else if let Some((a, b)) = range.split_once('-') {
            let start = parse_value(a, field)?;
            let mut end = parse_value(b, field)?;
            if field == Field::DayOfWeek && end == 0 && start > 0 {
                // `fri-sun`: Sunday closing a range is day 7.
                end = 7;
            }
            if start > end {
                return Err(FieldProblem::Backwards { start, end });
            }
            (start, end)
        } else {
            let value = parse_value(range, field)?;
            // `A/S` runs from A to the end of the field.
            (value, if step.is_some() { max } else { value })
        };
        let step = step.unwrap_or(1);
        let mut v = start;
        while v <= end {
            set |= 1 << v;
            v = v.saturating_add(step);
        }
    }
    Ok(set)
}

fn parse_step(text: &str) -> Result<u32, FieldProblem> {
    if text.is_empty() {
        return Err(FieldProblem::Empty);
    }
    match parse_digits(text) {
        Some(step) if step >= 1 => Ok(step),
        _ => Err(FieldProblem::BadStep {
            value: text.to_string(),
        }),
    }
}

fn parse_value(text: &str, field: Field) -> Result<u32, FieldProblem> {
    if text.is_empty() {
        return Err(FieldProblem::Empty);
    }
    let (min, max) = field.bounds();
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match parse_digits(text) {
            Some(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(FieldProblem::OutOfRange {
                value: text.to_string(),
                min,
                max,
            }),
        };
    }
    field
        .names()
        .iter()
        .position(|name| name.eq_ignore_ascii_case(text))
        .map(|i| i as u32 + field.first_name_value())
        .ok_or_else(|| FieldProblem::InvalidValue {
            value: text.to_string(),
        })
}

/// Digits only; `None` on anything else or on overflow.
fn parse_digits(text: &str) -> Option<u32> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// The positions of the set bits, lowest first.
fn bits(mut set: u64) -> impl Iterator<Item = u32> {
    std::iter::from_fn(move || {
        if set == 0 {
            return None;
        }
        let bit = set.trailing_zeros();
        set &= set - 1;
        Some(bit)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Cron {
        /// Replaces the source text, to compare what two expressions match.
        fn with_source(mut self, source: &str) -> Cron {
            self.source = source.into();
            self
        }
    }

    fn zone(name: &str) -> TimeZone {
        TimeZone::get(name)
            .unwrap_or_else(|err| panic!("{name}: {err} (the tests need the system tzdata)"))
    }

    fn posix(rule: &str) -> TimeZone {
        TimeZone::posix(rule).unwrap()
    }

    fn ts(rfc3339: &str) -> Timestamp {
        rfc3339.parse().unwrap()
    }

    fn cron(expr: &str) -> Cron {
        Cron::parse(expr).unwrap_or_else(|err| panic!("{expr}: {err}"))
    }

    fn err(expr: &str) -> String {
        match Cron::parse(expr) {
            Ok(c) => panic!("{expr} parsed as {c:?}"),
            Err(err) => err.to_string(),
        }
    }

    /// The next run as local time with its offset, e.g. `2025-03-30T03:00:00+02:00`.
    fn next(expr: &str, after: &str, tz: &TimeZone) -> Option<String> {
        cron(expr)
            .next_after(ts(after), tz)
            .map(|t| t.display_with_offset(tz.to_offset(t)).to_string())
    }

    /// The next `n` runs after `after`, each found from the one before.
    fn runs(expr: &str, after: &str, tz: &TimeZone, n: usize) -> Vec<String> {
        let c = cron(expr);
        let mut at = ts(after);
        let mut out = Vec::new();
        for _ in 0..n {
            let Some(t) = c.next_after(at, tz) else { break };
            out.push(t.display_with_offset(tz.to_offset(t)).to_string());
            at = t;
        }
        out
    }

    fn utc_runs(expr: &str, after: &str, n: usize) -> Vec<String> {
        runs(expr, after, &TimeZone::UTC, n)
    }

    #[test]
    fn cron_next_is_strictly_after_the_given_instant() {
        let u = TimeZone::UTC;
        let at = "2025-01-01T10:15:00+00:00";
        assert_eq!(
            next("*/15 * * * *", "2025-01-01T10:07:00Z", &u).unwrap(),
            at
        );
        assert_eq!(
            next("*/15 * * * *", "2025-01-01T10:14:59.5Z", &u).unwrap(),
            at
        );
        assert_eq!(
            next("*/15 * * * *", "2025-01-01T10:15:00Z", &u).unwrap(),
            "2025-01-01T10:30:00+00:00"
        );
        assert_eq!(
            next("* * * * *", "2025-01-01T10:15:30Z", &u).unwrap(),
            "2025-01-01T10:16:00+00:00"
        );
    }

    #[test]
    fn cron_steps_over_ranges_and_from_a_start_value() {
        assert_eq!(
            utc_runs("1-30/10 * * * *", "2025-01-01T10:00:00Z", 4),
            [
                "2025-01-01T10:01:00+00:00",
                "2025-01-01T10:11:00+00:00",
                "2025-01-01T10:21:00+00:00",
                "2025-01-01T11:01:00+00:00",
            ]
        );
        // `5/10` is 5-59/10.
        assert_eq!(
            utc_runs("5/20 * * * *", "2025-01-01T10:00:00Z", 4),
            [
                "2025-01-01T10:05:00+00:00",
                "2025-01-01T10:25:00+00:00",
                "2025-01-01T10:45:00+00:00",
                "2025-01-01T11:05:00+00:00",
            ]
        );
        // A step larger than the range keeps only its start.
        assert_eq!(
            cron("10-20/30 * * * *"),
            cron("10 * * * *").with_source("10-20/30 * * * *")
        );
    }

    #[test]
    fn cron_lists_mix_values_ranges_and_steps() {
        assert_eq!(
            utc_runs("0 1,3-4,*/12 * * *", "2025-01-01T00:00:00Z", 5),
            [
                "2025-01-01T01:00:00+00:00",
                "2025-01-01T03:00:00+00:00",
                "2025-01-01T04:00:00+00:00",
                "2025-01-01T12:00:00+00:00",
                "2025-01-02T00:00:00+00:00",
            ]
        );
    }

    #[test]
    fn cron_month_and_day_names_are_case_insensitive() {
        assert_eq!(
            cron("0 9 * JAN,Jul mon-FRI").with_source(""),
            cron("0 9 * 1,7 1-5").with_source("")
        );
        // 2025-07-01 is a Tuesday.
        assert_eq!(
            utc_runs("0 9 * jul sat,sun", "2025-07-01T00:00:00Z", 2),
            ["2025-07-05T09:00:00+00:00", "2025-07-06T09:00:00+00:00"]
        );
    }

    #[test]
    fn cron_day_of_week_7_is_sunday() {
        let sunday = cron("0 0 * * 0").with_source("");
        assert_eq!(cron("0 0 * * 7").with_source(""), sunday);
        assert_eq!(cron("0 0 * * sun").with_source(""), sunday);
        // 2025-01-01 is a Wednesday.
        assert_eq!(
            next("0 0 * * 7", "2025-01-01T00:00:00Z", &TimeZone::UTC).unwrap(),
            "2025-01-05T00:00:00+00:00"
        );
    }

    #[test]
    fn cron_day_of_week_range_may_end_on_sunday() {
        let weekend = cron("0 0 * * 5,6,0").with_source("");
        assert_eq!(cron("0 0 * * fri-sun").with_source(""), weekend);
        assert_eq!(cron("0 0 * * 5-0").with_source(""), weekend);
        assert_eq!(cron("0 0 * * 5-7").with_source(""), weekend);
    }

    #[test]
    fn cron_macros_expand_to_their_fields() {
        for (mac, fields) in [
            ("@hourly", "0 * * * *"),
            ("@daily", "0 0 * * *"),
            ("@midnight", "0 0 * * *"),
            ("@weekly", "0 0 * * 0"),
            ("@monthly", "0 0 1 * *"),
            ("@yearly", "0 0 1 1 *"),
            ("@annually", "0 0 1 1 *"),
            ("@Daily", "0 0 * * *"),
        ] {
            assert_eq!(
                cron(mac).with_source(""),
                cron(fields).with_source(""),
                "{mac}"
            );
        }
        assert_eq!(cron(" @weekly ").to_string(), "@weekly");
        // 2025-01-01 is a Wednesday.
        assert_eq!(
            next("@weekly", "2025-01-01T12:00:00Z", &TimeZone::UTC).unwrap(),
            "2025-01-05T00:00:00+00:00"
        );
    }

    #[test]
    fn cron_dom_and_dow_both_restricted_match_either() {
        // The 13th, and every Friday. 2025-01-03 is a Friday; the 13th a Monday.
        assert_eq!(
            utc_runs("0 0 13 * fri", "2025-01-01T00:00:00Z", 4),
            [
                "2025-01-03T00:00:00+00:00",
                "2025-01-10T00:00:00+00:00",
                "2025-01-13T00:00:00+00:00",
                "2025-01-17T00:00:00+00:00",
            ]
        );
    }

    #[test]
    fn cron_dom_restricted_with_dow_star_matches_only_dom() {
        assert_eq!(
            utc_runs("0 0 13 * *", "2025-01-01T00:00:00Z", 2),
            ["2025-01-13T00:00:00+00:00", "2025-02-13T00:00:00+00:00"]
        );
        assert_eq!(
            utc_runs("0 0 * * fri", "2025-01-01T00:00:00Z", 2),
            ["2025-01-03T00:00:00+00:00", "2025-01-10T00:00:00+00:00"]
        );
    }

    #[test]
    fn cron_dom_starting_with_star_is_anded_with_dow() {
        // Vixie decides by the first character: `*/10` counts as unrestricted,
        // so both must match: days 1, 11, 21, 31 that are Mondays.
        assert_eq!(
            utc_runs("0 0 */10 * mon", "2025-01-01T00:00:00Z", 2),
            ["2025-03-31T00:00:00+00:00", "2025-04-21T00:00:00+00:00"]
        );
    }

    #[test]
    fn cron_day_31_skips_short_months() {
        assert_eq!(
            utc_runs("0 0 31 * *", "2025-04-01T00:00:00Z", 2),
            ["2025-05-31T00:00:00+00:00", "2025-07-31T00:00:00+00:00"]
        );
    }

    #[test]
    fn cron_feb_29_waits_for_the_next_leap_year() {
        assert_eq!(
            next("0 0 29 2 *", "2025-01-01T00:00:00Z", &TimeZone::UTC).unwrap(),
            "2028-02-29T00:00:00+00:00"
        );
    }

    #[test]
    fn cron_impossible_date_never_matches() {
        assert_eq!(
            next("0 0 31 2 *", "2025-01-01T00:00:00Z", &TimeZone::UTC),
            None
        );
        assert_eq!(
            next("0 0 30 feb *", "2025-01-01T00:00:00Z", &TimeZone::UTC),
            None
        );
    }

    #[test]
    fn cron_at_the_end_of_time_has_no_next_run() {
        let tokyo = zone("Asia/Tokyo");
        for tz in [&TimeZone::UTC, &tokyo] {
            assert_eq!(cron("* * * * *").next_after(Timestamp::MAX, tz), None);
            assert!(cron("0 0 1 1 *").next_after(Timestamp::MIN, tz).is_some());
        }
    }

    #[test]
    fn cron_runs_in_the_given_zone() {
        let tokyo = zone("Asia/Tokyo");
        assert_eq!(
            next("0 9 * * *", "2025-06-01T00:30:00Z", &tokyo).unwrap(),
            "2025-06-02T09:00:00+09:00"
        );
    }

    #[test]
    fn cron_in_spring_forward_gap_runs_at_end_of_gap_berlin() {
        // 2025-03-30: Berlin jumps from 02:00 CET to 03:00 CEST.
        let berlin = zone("Europe/Berlin");
        assert_eq!(
            runs("30 2 * * *", "2025-03-29T12:00:00+01:00", &berlin, 3),
            [
                "2025-03-30T03:00:00+02:00",
                "2025-03-31T02:30:00+02:00",
                "2025-04-01T02:30:00+02:00",
            ]
        );
        assert_eq!(
            next("0 2 * * *", "2025-03-30T01:00:00+01:00", &berlin).unwrap(),
            "2025-03-30T03:00:00+02:00"
        );
    }

    #[test]
    fn cron_times_inside_one_gap_run_once() {
        let berlin = zone("Europe/Berlin");
        assert_eq!(
            runs("*/20 * * * *", "2025-03-30T01:30:00+01:00", &berlin, 4),
            [
                "2025-03-30T01:40:00+01:00",
                "2025-03-30T03:00:00+02:00",
                "2025-03-30T03:20:00+02:00",
                "2025-03-30T03:40:00+02:00",
            ]
        );
    }

    #[test]
    fn cron_in_fall_back_overlap_runs_once_at_first_occurrence_berlin() {
        // 2025-10-26: Berlin falls back from 03:00 CEST to 02:00 CET.
        let berlin = zone("Europe/Berlin");
        assert_eq!(
            runs("30 2 * * *", "2025-10-25T12:00:00+02:00", &berlin, 3),
            [
                "2025-10-26T02:30:00+02:00",
                "2025-10-27T02:30:00+01:00",
                "2025-10-28T02:30:00+01:00",
            ]
        );
        // Starting inside the repeated hour, after the first 02:30 has passed.
        assert_eq!(
            next("30 2 * * *", "2025-10-26T02:10:00+01:00", &berlin).unwrap(),
            "2025-10-27T02:30:00+01:00"
        );
        // A fixed hour with a minute step also stays in the first pass.
        assert_eq!(
            runs("*/30 2 * * *", "2025-10-26T00:00:00+02:00", &berlin, 3),
            [
                "2025-10-26T02:00:00+02:00",
                "2025-10-26T02:30:00+02:00",
                "2025-10-27T02:00:00+01:00",
            ]
        );
    }

    #[test]
    fn cron_with_hour_star_follows_wall_clock_through_overlap() {
        let berlin = zone("Europe/Berlin");
        assert_eq!(
            runs("0 * * * *", "2025-10-26T01:30:00+02:00", &berlin, 4),
            [
                "2025-10-26T02:00:00+02:00",
                "2025-10-26T02:00:00+01:00",
                "2025-10-26T03:00:00+01:00",
                "2025-10-26T04:00:00+01:00",
            ]
        );
        assert_eq!(
            runs("30 */2 * * *", "2025-10-26T01:00:00+02:00", &berlin, 3),
            [
                "2025-10-26T02:30:00+02:00",
                "2025-10-26T02:30:00+01:00",
                "2025-10-26T04:30:00+01:00",
            ]
        );
    }

    #[test]
    fn cron_dst_new_york() {
        // 2025-03-09 02:00 EST -> 03:00 EDT; 2025-11-02 02:00 EDT -> 01:00 EST.
        let ny = zone("America/New_York");
        assert_eq!(
            runs("30 2 * * *", "2025-03-08T12:00:00-05:00", &ny, 2),
            ["2025-03-09T03:00:00-04:00", "2025-03-10T02:30:00-04:00"]
        );
        assert_eq!(
            runs("30 1 * * *", "2025-11-01T12:00:00-04:00", &ny, 2),
            ["2025-11-02T01:30:00-04:00", "2025-11-03T01:30:00-05:00"]
        );
        assert_eq!(
            runs("*/30 * * * *", "2025-11-02T00:45:00-04:00", &ny, 5),
            [
                "2025-11-02T01:00:00-04:00",
                "2025-11-02T01:30:00-04:00",
                "2025-11-02T01:00:00-05:00",
                "2025-11-02T01:30:00-05:00",
                "2025-11-02T02:00:00-05:00",
            ]
        );
    }

    #[test]
    fn cron_posix_tz_gives_same_runs_as_named_zone() {
        let cases = [
            (
                "Europe/Berlin",
                "CET-1CEST,M3.5.0,M10.5.0/3",
                ["2025-03-29T20:00:00Z", "2025-10-25T20:00:00Z"],
            ),
            (
                "America/New_York",
                "EST5EDT,M3.2.0,M11.1.0",
                ["2025-03-08T20:00:00Z", "2025-11-01T20:00:00Z"],
            ),
        ];
        let exprs = [
            "30 2 * * *",
            "0 2 * * *",
            "30 1 * * *",
            "*/20 * * * *",
            "0 * * * *",
            "15 3 * * sun",
        ];
        for (name, rule, starts) in cases {
            let (named, rule_zone) = (zone(name), posix(rule));
            for start in starts {
                for expr in exprs {
                    let a = runs(expr, start, &named, 12);
                    let b = runs(expr, start, &rule_zone, 12);
                    assert_eq!(a.len(), 12, "{name} {expr} {start}");
                    assert_eq!(a, b, "{name} vs {rule}: {expr} from {start}");
                }
            }
        }
    }

    #[test]
    fn cron_rejects_wrong_field_count() {
        assert_eq!(err("* * * *"), "cron: expected 5 fields, got 4");
        assert_eq!(err("* * * * * *"), "cron: expected 5 fields, got 6");
        assert_eq!(err("   "), "cron: expected 5 fields, got 0");
    }

    #[test]
    fn cron_errors_name_the_field() {
        for (expr, msg) in [
            ("61 * * * *", "cron: minute field: 61 is out of range 0-59"),
            ("* 24 * * *", "cron: hour field: 24 is out of range 0-23"),
            (
                "* * 0 * *",
                "cron: day-of-month field: 0 is out of range 1-31",
            ),
            ("* * * 13 *", "cron: month field: 13 is out of range 1-12"),
            (
                "* * * * 8",
                "cron: day-of-week field: 8 is out of range 0-7",
            ),
            (
                "* * * foo *",
                "cron: month field: \"foo\" is not a valid value",
            ),
            (
                "mon * * * *",
                "cron: minute field: \"mon\" is not a valid value",
            ),
            ("* * * * -1", "cron: day-of-week field: empty value"),
            ("1,,2 * * * *", "cron: minute field: empty value"),
            ("5- * * * *", "cron: minute field: empty value"),
            (
                "30-5 * * * *",
                "cron: minute field: range 30-5 goes backwards",
            ),
            (
                "* * * dec-jan *",
                "cron: month field: range 12-1 goes backwards",
            ),
            (
                "*/0 * * * *",
                "cron: minute field: step \"0\" is not a number of at least 1",
            ),
            (
                "* */x * * *",
                "cron: hour field: step \"x\" is not a number of at least 1",
            ),
            ("* * */ * *", "cron: day-of-month field: empty value"),
            (
                "99999999999 * * * *",
                "cron: minute field: 99999999999 is out of range 0-59",
            ),
            (
                "* * L * *",
                "cron: day-of-month field: \"L\" is not a valid value",
            ),
        ] {
            assert_eq!(err(expr), msg, "{expr}");
        }
    }

    #[test]
    fn cron_rejects_unknown_macros() {
        assert_eq!(
            err("@reboot"),
            "cron: unknown macro \"@reboot\" (expected @hourly, @daily, @midnight, \
             @weekly, @monthly, @yearly or @annually)"
        );
    }

    #[test]
    fn cron_keeps_its_source_text() {
        let c: Cron = "  0 3 * * mon-fri ".parse().unwrap();
        assert_eq!(c.as_str(), "0 3 * * mon-fri");
        assert_eq!(c.to_string(), "0 3 * * mon-fri");
    }
}
