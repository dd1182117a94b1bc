//! Schedules in words ("At 02:30 every day") and their next few runs, for previews.
//!
//! Pure like the rest of `schedule`: the caller passes `now` and the zone. The next runs come
//! from [`Schedule::next_run`], the function the scheduler uses, so a preview cannot disagree
//! with what the daemon does. Common cron forms get a sentence; anything else is shown as
//! "Cron <expr>" and the caller lists the next runs instead.

use super::{Clock, Cron, Field, Schedule, TimeZone, Timestamp};

/// The next `count` runs from `now`, as the scheduler would start them when no last run is known
/// and each run ends as it starts. Fewer when the schedule stops matching (or is disabled).
pub fn next_runs(
    schedule: &Schedule,
    clock: Clock,
    now: Timestamp,
    tz: &TimeZone,
    count: usize,
) -> Vec<Timestamp> {
    let mut out = Vec::with_capacity(count);
    let mut base = now;
    let mut last = None;
    while out.len() < count {
        let Some(next) = schedule.next_run(clock, base, last, tz) else {
            break;
        };
        out.push(next);
        base = next;
        last = Some(next);
    }
    out
}

/// A sentence saying when `schedule` runs under `clock`. A preview knows no last run, so
/// schedules that count from one say that they count from now.
pub fn describe(schedule: &Schedule, clock: Clock) -> String {
    let mut text = match schedule {
        Schedule::Disabled => return "Disabled".to_string(),
        Schedule::Cron(cron) => describe_cron(cron),
        Schedule::MaxFrequencyDays(1) => "Every day".to_string(),
        Schedule::MaxFrequencyDays(n) => format!("Every {n} days"),
        Schedule::MaxFrequencyHours(1) => "Every hour".to_string(),
        Schedule::MaxFrequencyHours(n) => format!("Every {n} hours"),
    };
    let frequency = !matches!(schedule, Schedule::Cron(_));
    match clock {
        Clock::LastRunTime if frequency => {
            text.push_str(" after the last run (no last run known: counted from now)");
        }
        Clock::LastRunTime => {
            text.push_str(", catching up a missed run (no last run known: counted from now)");
        }
        _ if frequency => text.push_str(" (counted from now: a restart starts the count again)"),
        Clock::Utc => text.push_str(" (UTC)"),
        Clock::Local => {}
    }
    text
}

/// Plain English for common cron forms; "Cron <expr>" for the rest.
pub fn describe_cron(cron: &Cron) -> String {
    describe_fields(cron).unwrap_or_else(|| format!("Cron {}", cron.as_str()))
}

const DAY_NAMES: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
/// More times of day than this read worse than the cron expression.
const MAX_TIMES: usize = 6;

fn describe_fields(cron: &Cron) -> Option<String> {
    let f = cron.field_texts();
    let [minute, hour, dom, month, dow] = f.as_slice() else {
        return None;
    };
    let (time, at_times) = describe_time(cron, minute, hour)?;
    let days = describe_days(cron, dom, dow)?;
    let months = describe_months(cron, month)?;
    let mut out = time;
    match (days, at_times) {
        (Some(d), _) => {
            out.push(' ');
            out.push_str(&d);
        }
        (None, true) if months.is_none() => out.push_str(" every day"),
        (None, _) => {}
    }
    if let Some(m) = months {
        out.push(' ');
        out.push_str(&m);
    }
    Some(out)
}

/// The time-of-day part, and whether it names times ("At 02:30") rather than a repetition.
fn describe_time(cron: &Cron, minute: &str, hour: &str) -> Option<(String, bool)> {
    let minutes = simple_values(minute, cron.values(Field::Minute));
    let hours = simple_values(hour, cron.values(Field::Hour));
    let minute_step = step(minute);
    let hour_step = step(hour);
    let hour_range = range(hour);
    Some(match (minute, hour) {
        ("*", "*") => ("Every minute".into(), false),
        (_, "*") if minute_step.is_some() => (every(minute_step?, "minute"), false),
        (_, "*") => match minutes?.as_slice() {
            [m] => (format!("Every hour at :{m:02}"), false),
            ms if ms.len() <= MAX_TIMES => (
                format!(
                    "Every hour at {}",
                    join(&ms.iter().map(|m| format!(":{m:02}")).collect::<Vec<_>>())
                ),
                false,
            ),
            _ => return None,
        },
        ("*", _) if hours.as_ref().is_some_and(|h| h.len() == 1) => {
            let h = hours?[0];
            (format!("Every minute from {h:02}:00 to {h:02}:59"), false)
        }
        _ if minute_step.is_some() => {
            let n = minute_step?;
            if let Some((a, b)) = hour_range {
                (
                    format!("{} from {a:02}:00 to {b:02}:59", every(n, "minute")),
                    false,
                )
            } else if let Some([h]) = hours.as_deref() {
                (
                    format!("{} from {h:02}:00 to {h:02}:59", every(n, "minute")),
                    false,
                )
            } else {
                return None;
            }
        }
        _ => {
            let ms = minutes?;
            let [m] = ms[..] else {
                return times(&hours?, &ms).map(|t| (t, true));
            };
            if let Some(n) = hour_step {
                (format!("{} at :{m:02}", every(n, "hour")), false)
            } else if let Some((a, b)) = hour_range {
                (
                    format!("Every hour from {a:02}:{m:02} to {b:02}:{m:02}"),
                    false,
                )
            } else {
                return times(&hours?, &[m]).map(|t| (t, true));
            }
        }
    })
}

/// "At 02:30 and 14:30" for every hour × minute, when there are few enough.
fn times(hours: &[u32], minutes: &[u32]) -> Option<String> {
    if hours.len() * minutes.len() > MAX_TIMES {
        return None;
    }
    let all: Vec<String> = hours
        .iter()
        .flat_map(|h| minutes.iter().map(move |m| format!("{h:02}:{m:02}")))
        .collect();
    Some(format!("At {}", join(&all)))
}

/// The day part: None (`Some(None)`) when every day matches.
fn describe_days(cron: &Cron, dom: &str, dow: &str) -> Option<Option<String>> {
    // A field starting with `*` but not plain `*` (`*/2`) changes how the two day fields combine;
    // say it in cron.
    if (dom.starts_with('*') && dom != "*") || (dow.starts_with('*') && dow != "*") {
        return None;
    }
    let month_days = (dom != "*").then(|| describe_month_days(cron.values(Field::DayOfMonth)));
    let week_days = (dow != "*").then(|| describe_week_days(cron.values(Field::DayOfWeek)));
    Some(match (month_days, week_days) {
        (None, None) => None,
        (Some(d), None) | (None, Some(d)) => Some(d),
        // Vixie cron: either field matching is enough.
        (Some(a), Some(b)) => Some(format!("{a} or {b}")),
    })
}

fn describe_week_days(set: u64) -> String {
    let days: Vec<usize> = (0..7).filter(|d| set & (1 << d) != 0).collect();
    match days.as_slice() {
        [1, 2, 3, 4, 5] => "on weekdays".into(),
        [0, 6] => "on weekends".into(),
        _ => {
            let names: Vec<String> = days.iter().map(|d| format!("{}s", DAY_NAMES[*d])).collect();
            format!("on {}", join(&names))
        }
    }
}

fn describe_month_days(set: u64) -> String {
    let days: Vec<u32> = (1..=31).filter(|d| set & (1 << d) != 0).collect();
    match days.as_slice() {
        [d] => format!("on day {d} of the month"),
        [first, .., last] if days.len() >= 3 && (last - first) as usize + 1 == days.len() => {
            format!("on days {first} to {last} of the month")
        }
        _ => {
            let names: Vec<String> = days.iter().map(u32::to_string).collect();
            format!("on days {} of the month", join(&names))
        }
    }
}

/// "in January and July", or None (`Some(None)`) for every month.
fn describe_months(cron: &Cron, month: &str) -> Option<Option<String>> {
    if month == "*" {
        return Some(None);
    }
    if month.starts_with('*') {
        return None;
    }
    let set = cron.values(Field::Month);
    let names: Vec<String> = (1..=12)
        .filter(|m| set & (1 << m) != 0)
        .map(|m| MONTH_NAMES[m - 1].to_string())
        .collect();
    Some(Some(format!("in {}", join(&names))))
}

/// The values of a field written as plain numbers or names (`5`, `1,15`, `mon,wed`); None for
/// steps and ranges.
fn simple_values(text: &str, set: u64) -> Option<Vec<u32>> {
    if text.contains(['*', '/', '-']) {
        return None;
    }
    Some((0..64).filter(|v| set & (1 << v) != 0).collect())
}

/// N of `*/N`.
fn step(text: &str) -> Option<u32> {
    text.strip_prefix("*/")?.parse().ok()
}

/// A and B of a plain numeric range `A-B`.
fn range(text: &str) -> Option<(u32, u32)> {
    let (a, b) = text.split_once('-')?;
    Some((a.parse().ok()?, b.parse().ok()?))
}

fn every(n: u32, unit: &str) -> String {
    if n == 1 {
        format!("Every {unit}")
    } else {
        format!("Every {n} {unit}s")
    }
}

/// "a", "a and b", "a, b and c".
fn join(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::ScheduleSpec;

    #[test]
    fn cron_forms_read_as_english() {
        let table = [
            ("* * * * *", "Every minute"),
            ("*/15 * * * *", "Every 15 minutes"),
            ("*/1 * * * *", "Every minute"),
            ("5 * * * *", "Every hour at :05"),
            ("0,30 * * * *", "Every hour at :00 and :30"),
            ("0 */6 * * *", "Every 6 hours at :00"),
            ("30 2 * * *", "At 02:30 every day"),
            ("0 2,14 * * *", "At 02:00 and 14:00 every day"),
            ("0,30 9 * * *", "At 09:00 and 09:30 every day"),
            ("0 9-17 * * *", "Every hour from 09:00 to 17:00"),
            (
                "*/10 9-17 * * mon-fri",
                "Every 10 minutes from 09:00 to 17:59 on weekdays",
            ),
            ("*/5 3 * * *", "Every 5 minutes from 03:00 to 03:59"),
            ("* 3 * * *", "Every minute from 03:00 to 03:59"),
            ("0 22 * * 1-5", "At 22:00 on weekdays"),
            ("0 8 * * sat,sun", "At 08:00 on weekends"),
            ("0 8 * * 6-7", "At 08:00 on weekends"),
            ("0 3 * * 0", "At 03:00 on Sundays"),
            ("0 3 * * 7", "At 03:00 on Sundays"),
            (
                "15 4 * * mon,wed,fri",
                "At 04:15 on Mondays, Wednesdays and Fridays",
            ),
            ("0 4 1 * *", "At 04:00 on day 1 of the month"),
            ("0 4 1,15 * *", "At 04:00 on days 1 and 15 of the month"),
            ("0 4 1-7 * *", "At 04:00 on days 1 to 7 of the month"),
            (
                "0 4 1 * mon",
                "At 04:00 on day 1 of the month or on Mondays",
            ),
            (
                "0 0 1 jan,jul *",
                "At 00:00 on day 1 of the month in January and July",
            ),
            ("0 12 * 6 *", "At 12:00 in June"),
            ("@hourly", "Every hour at :00"),
            ("@daily", "At 00:00 every day"),
            ("@midnight", "At 00:00 every day"),
            ("@weekly", "At 00:00 on Sundays"),
            ("@monthly", "At 00:00 on day 1 of the month"),
            ("@yearly", "At 00:00 on day 1 of the month in January"),
            ("0 0 */2 * 1", "Cron 0 0 */2 * 1"),
            ("1-59/7 * * * *", "Cron 1-59/7 * * * *"),
            (
                "0,10,20,30,40,50 0,12 * * *",
                "Cron 0,10,20,30,40,50 0,12 * * *",
            ),
            ("0 0 * */3 *", "Cron 0 0 * */3 *"),
        ];
        for (expr, want) in table {
            let cron = Cron::parse(expr).unwrap_or_else(|e| panic!("{expr}: {e}"));
            assert_eq!(describe_cron(&cron), want, "{expr}");
        }
    }

    #[test]
    fn clocks_and_frequencies_say_what_they_count_from() {
        let s = |spec| Schedule::parse(spec).unwrap();
        let table = [
            (s(ScheduleSpec::Disabled), Clock::Local, "Disabled"),
            (s(ScheduleSpec::Disabled), Clock::LastRunTime, "Disabled"),
            (
                s(ScheduleSpec::MaxFrequencyHours(6)),
                Clock::LastRunTime,
                "Every 6 hours after the last run (no last run known: counted from now)",
            ),
            (
                s(ScheduleSpec::MaxFrequencyDays(1)),
                Clock::Local,
                "Every day (counted from now: a restart starts the count again)",
            ),
            (
                s(ScheduleSpec::MaxFrequencyHours(1)),
                Clock::Utc,
                "Every hour (counted from now: a restart starts the count again)",
            ),
            (
                s(ScheduleSpec::Cron("30 2 * * *")),
                Clock::Local,
                "At 02:30 every day",
            ),
            (
                s(ScheduleSpec::Cron("30 2 * * *")),
                Clock::Utc,
                "At 02:30 every day (UTC)",
            ),
            (
                s(ScheduleSpec::Cron("30 2 * * *")),
                Clock::LastRunTime,
                "At 02:30 every day, catching up a missed run (no last run known: counted from now)",
            ),
        ];
        for (schedule, clock, want) in table {
            assert_eq!(describe(&schedule, clock), want, "{schedule:?} {clock:?}");
        }
    }

    #[test]
    fn next_runs_follow_the_scheduler() {
        let tz = TimeZone::get("Europe/Berlin").unwrap();
        let now: Timestamp = "2025-03-29T12:00:00Z".parse().unwrap();
        let show = |ts: Vec<Timestamp>| -> Vec<String> {
            ts.iter()
                .map(|t| t.display_with_offset(tz.to_offset(*t)).to_string())
                .collect()
        };
        let cron = Schedule::parse(ScheduleSpec::Cron("30 2 * * *")).unwrap();
        // Berlin springs forward on 2025-03-30: 02:30 does not exist and runs at 03:00.
        assert_eq!(
            show(next_runs(&cron, Clock::Local, now, &tz, 3)),
            [
                "2025-03-30T03:00:00+02:00",
                "2025-03-31T02:30:00+02:00",
                "2025-04-01T02:30:00+02:00"
            ]
        );
        let hours = Schedule::parse(ScheduleSpec::MaxFrequencyHours(6)).unwrap();
        assert_eq!(
            show(next_runs(&hours, Clock::LastRunTime, now, &tz, 2)),
            ["2025-03-29T19:00:00+01:00", "2025-03-30T01:00:00+01:00"]
        );
        assert!(next_runs(&Schedule::Disabled, Clock::Local, now, &tz, 3).is_empty());
        let never = Schedule::parse(ScheduleSpec::Cron("0 0 31 2 *")).unwrap();
        assert!(next_runs(&never, Clock::Local, now, &tz, 3).is_empty());
    }
}
