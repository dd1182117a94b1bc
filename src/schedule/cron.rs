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
mod tests;
