//! Tests of `schedule::cron`.

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
