//! Local-time arithmetic (docs/language.md §9). Instants are `DateTime<Utc>`;
//! local times are resolved in a `Tz`: a time in a DST gap becomes the first
//! instant after the gap, a time in a fold the earlier instant.

use crate::program::{Period as CapPeriod, Quiet};
use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
use chrono_tz::Tz;

/// The instant of a local date and time.
pub fn resolve(tz: Tz, local: NaiveDateTime) -> DateTime<Utc> {
    match tz.from_local_datetime(&local) {
        LocalResult::Single(t) => t.with_timezone(&Utc),
        LocalResult::Ambiguous(earlier, _) => earlier.with_timezone(&Utc),
        LocalResult::None => {
            // In a gap: the first valid local minute after it is the transition instant.
            let mut probe = local.with_second(0).unwrap_or(local);
            for _ in 0..(48 * 60) {
                probe += Duration::minutes(1);
                match tz.from_local_datetime(&probe) {
                    LocalResult::Single(t) => return t.with_timezone(&Utc),
                    LocalResult::Ambiguous(e, _) => return e.with_timezone(&Utc),
                    LocalResult::None => {}
                }
            }
            // No zone has a gap of two days; treat the time as UTC rather than fail.
            Utc.from_utc_datetime(&local)
        }
    }
}

pub fn local(tz: Tz, t: DateTime<Utc>) -> NaiveDateTime {
    t.with_timezone(&tz).naive_local()
}

/// The years tend computes in: values outside them are out of range, far
/// inside what the date library can represent, so no conversion overflows.
pub const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Whether an instant falls in [`YEARS`] (in UTC).
pub fn in_range(t: DateTime<Utc>) -> bool {
    YEARS.contains(&t.year())
}

/// `t + days d + seconds s`: days are calendar days at the same local time,
/// then seconds elapse (so `wait 1d` from 10:00 ends at 10:00 across DST).
/// `None` when the result is outside [`YEARS`].
pub fn add(tz: Tz, t: DateTime<Utc>, days: i64, seconds: i64) -> Option<DateTime<Utc>> {
    let moved = if days == 0 {
        t
    } else {
        let l = local(tz, t);
        let date = add_days(l.date(), days)?;
        resolve(tz, date.and_time(l.time()))
    };
    let t = moved.checked_add_signed(Duration::try_seconds(seconds)?)?;
    in_range(t).then_some(t)
}

/// A date `days` calendar days on, or `None` outside [`YEARS`].
pub fn add_days(d: NaiveDate, days: i64) -> Option<NaiveDate> {
    let d = d.checked_add_signed(Duration::try_days(days)?)?;
    YEARS.contains(&d.year()).then_some(d)
}

/// `at CLOCK`: the same local date, at that time of day.
pub fn at_clock(tz: Tz, t: DateTime<Utc>, minutes: u32) -> DateTime<Utc> {
    resolve(tz, local(tz, t).date().and_time(clock(minutes)))
}

/// A local date at 00:00 (a date used as a point in time).
pub fn start_of(tz: Tz, date: NaiveDate) -> DateTime<Utc> {
    resolve(tz, date.and_time(NaiveTime::MIN))
}

fn clock(minutes: u32) -> NaiveTime {
    NaiveTime::from_hms_opt(minutes / 60, minutes % 60, 0).unwrap_or(NaiveTime::MIN)
}

/// `next CLOCK` / `next WEEKDAY CLOCK`: the first such moment strictly after `now`.
/// In a fold only the earlier occurrence is a candidate.
pub fn next(tz: Tz, now: DateTime<Utc>, weekday: Option<Weekday>, minutes: u32) -> DateTime<Utc> {
    let today = local(tz, now).date();
    for offset in 0..=8 {
        let date = today + Duration::days(offset);
        if weekday.is_some_and(|w| date.weekday() != w) {
            continue;
        }
        let t = resolve(tz, date.and_time(clock(minutes)));
        if t > now {
            return t;
        }
    }
    unreachable!("a weekday recurs within 8 days")
}

/// Where the quiet range ends when `t` (`l` locally) is inside it.
fn end_of_quiet(tz: Tz, t: DateTime<Utc>, l: NaiveDateTime, q: Quiet) -> Option<DateTime<Utc>> {
    let minute = l.hour() * 60 + l.minute();
    if !q.contains(minute) {
        return None;
    }
    // A wrapping range entered before midnight ends tomorrow.
    let date = if q.start > q.end && minute >= q.start {
        l.date() + Duration::days(1)
    } else {
        l.date()
    };
    let end = resolve(tz, date.and_time(clock(q.end)));
    Some(end.max(t + Duration::seconds(1)))
}

/// The first instant at or after `t` outside every quiet range (each in its own zone).
pub fn after_quiet(t: DateTime<Utc>, ranges: &[(Tz, Quiet)]) -> DateTime<Utc> {
    let mut t = t;
    // Each pass moves past at least one range; a few passes settle any union.
    for _ in 0..64 {
        // Ranges mostly share a zone: convert `t` once per zone in a row.
        let mut seen: Option<(Tz, NaiveDateTime)> = None;
        let mut moved: Option<DateTime<Utc>> = None;
        for &(tz, q) in ranges {
            let l = match seen {
                Some((z, l)) if z == tz => l,
                _ => local(tz, t),
            };
            seen = Some((tz, l));
            if let Some(end) = end_of_quiet(tz, t, l, q) {
                moved = Some(moved.map_or(end, |m| m.max(end)));
            }
        }
        match moved {
            Some(m) => t = m,
            None => return t,
        }
    }
    t
}

/// A timer that never comes: the last second of year 9999 (a `yearly`
/// trigger whose date is not set yet waits here).
pub fn never() -> DateTime<Utc> {
    DateTime::from_timestamp(253_402_300_799, 0).expect("9999-12-31T23:59:59Z is in range")
}

/// Formats an instant as `to_rfc3339` does, without its general formatter
/// (deferral records are written for half of all sends).
pub struct Rfc3339(pub DateTime<Utc>);

impl std::fmt::Display for Rfc3339 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.0;
        if t.nanosecond() != 0 || !(0..=9999).contains(&t.year()) {
            return f.write_str(&t.to_rfc3339());
        }
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}+00:00",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    }
}

/// The start of the next period after the one `t` is in (local midnight).
pub fn next_period_start(tz: Tz, t: DateTime<Utc>, period: CapPeriod) -> DateTime<Utc> {
    start_of(tz, next_period_date(local(tz, t).date(), period))
}

/// The instants [start, end) of the period `t` is in: an instant is in it
/// exactly when its local date is, so a ledger is counted without converting
/// every entry to local time.
pub fn period_bounds(
    tz: Tz,
    t: DateTime<Utc>,
    period: CapPeriod,
) -> (DateTime<Utc>, DateTime<Utc>) {
    let d = local(tz, t).date();
    let first = match period {
        CapPeriod::Day => d,
        CapPeriod::Week => d - Duration::days(i64::from(d.weekday().num_days_from_monday())),
        CapPeriod::Month => d.with_day(1).expect("the first of a month exists"),
    };
    (
        start_of(tz, first),
        start_of(tz, next_period_date(d, period)),
    )
}

fn next_period_date(d: NaiveDate, period: CapPeriod) -> NaiveDate {
    match period {
        CapPeriod::Day => d + Duration::days(1),
        CapPeriod::Week => d + Duration::days(7 - i64::from(d.weekday().num_days_from_monday())),
        CapPeriod::Month => {
            let (y, m) = if d.month() == 12 {
                (d.year() + 1, 1)
            } else {
                (d.year(), d.month() + 1)
            };
            NaiveDate::from_ymd_opt(y, m, 1).expect("the first of a month exists")
        }
    }
}

/// Days in the local month of `t` (for the "days per month" channel cap).
pub fn days_in_month(tz: Tz, t: DateTime<Utc>) -> u32 {
    let d = local(tz, t).date();
    let first = NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("first of month");
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    (next.expect("first of next month") - first).num_days() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::{America::New_York, Asia::Shanghai};

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn ny(s: &str) -> String {
        local(New_York, utc(s)).format("%Y-%m-%d %H:%M").to_string()
    }

    #[test]
    fn a_day_across_spring_forward_keeps_the_local_time() {
        // 2027-03-14: New York springs forward at 02:00.
        let start = utc("2027-03-13T10:00:00-05:00");
        let end = add(New_York, start, 1, 0).unwrap();
        assert_eq!(
            local(New_York, end).format("%Y-%m-%d %H:%M").to_string(),
            "2027-03-14 10:00"
        );
        assert_eq!((end - start).num_hours(), 23);
        // Hours are elapsed time: 24h lands at 11:00 local.
        let h = add(New_York, start, 0, 24 * 3600).unwrap();
        assert_eq!(local(New_York, h).format("%H:%M").to_string(), "11:00");
    }

    #[test]
    fn days_apply_before_hours() {
        let start = utc("2027-03-13T01:30:00-05:00");
        // 1d → 2027-03-14 01:30 EST, then 1h elapsed → 03:30 EDT.
        assert_eq!(
            ny(&add(New_York, start, 1, 3600).unwrap().to_rfc3339()),
            "2027-03-14 03:30"
        );
    }

    #[test]
    fn arithmetic_outside_the_years_1_to_9999_is_out_of_range() {
        let t = utc("2026-12-01T10:00:00+08:00");
        assert_eq!(add(Shanghai, t, 1_000_000_000, 0), None);
        assert_eq!(add(Shanghai, t, i64::MAX, 0), None);
        assert_eq!(add(Shanghai, t, 0, i64::MAX), None);
        assert_eq!(add(Shanghai, t, -740_000, 0), None);
        assert_eq!(add(Shanghai, t, 0, i64::MIN), None);
        let last = NaiveDate::from_ymd_opt(9999, 12, 31).unwrap();
        assert_eq!(add_days(last, 1), None);
        assert_eq!(add_days(last, -1), NaiveDate::from_ymd_opt(9999, 12, 30));
        assert_eq!(
            add_days(NaiveDate::from_ymd_opt(1, 1, 1).unwrap(), -1),
            None
        );
    }

    #[test]
    fn a_time_in_the_gap_is_the_first_instant_after_it() {
        let t = resolve(
            New_York,
            NaiveDate::from_ymd_opt(2027, 3, 14)
                .unwrap()
                .and_hms_opt(2, 30, 0)
                .unwrap(),
        );
        assert_eq!(t, utc("2027-03-14T03:00:00-04:00"));
    }

    #[test]
    fn a_time_in_the_fold_is_the_earlier_instant() {
        // 2027-11-07: New York falls back at 02:00; 01:30 happens twice.
        let t = resolve(
            New_York,
            NaiveDate::from_ymd_opt(2027, 11, 7)
                .unwrap()
                .and_hms_opt(1, 30, 0)
                .unwrap(),
        );
        assert_eq!(t, utc("2027-11-07T01:30:00-04:00"));
        // During the second 01:xx, `next 01:30` is tomorrow's: the later one is never a candidate.
        let now = utc("2027-11-07T01:10:00-05:00");
        assert_eq!(
            ny(&next(New_York, now, None, 90).to_rfc3339()),
            "2027-11-08 01:30"
        );
    }

    #[test]
    fn next_weekday_clock_is_strictly_after_now() {
        // 2026-12-02 is a Wednesday.
        let wed_20 = utc("2026-12-02T20:00:00+08:00");
        assert_eq!(
            next(Shanghai, wed_20, Some(Weekday::Wed), 20 * 60),
            utc("2026-12-09T20:00:00+08:00")
        );
        let wed_19 = utc("2026-12-02T19:59:00+08:00");
        assert_eq!(next(Shanghai, wed_19, Some(Weekday::Wed), 20 * 60), wed_20);
        assert_eq!(
            next(Shanghai, wed_20, None, 9 * 60),
            utc("2026-12-03T09:00:00+08:00")
        );
    }

    #[test]
    fn quiet_hours_end_at_their_end_clock() {
        let q = [(Shanghai, Quiet::parse("21:30..09:00").unwrap())];
        let nine = utc("2026-12-02T09:00:00+08:00");
        // Late in the evening and early in the morning both end at 09:00.
        assert_eq!(after_quiet(utc("2026-12-01T22:15:00+08:00"), &q), nine);
        assert_eq!(after_quiet(utc("2026-12-02T06:00:00+08:00"), &q), nine);
        // The end is outside the range, the start inside.
        assert_eq!(after_quiet(nine, &q), nine);
        let start = utc("2026-12-01T21:30:00+08:00");
        assert_eq!(after_quiet(start, &q), nine);
    }

    #[test]
    fn a_union_of_quiet_ranges_in_two_zones() {
        let playbook = Quiet::parse("21:30..09:00").unwrap();
        let sms = Quiet::parse("08:30..10:00").unwrap();
        let t = utc("2026-12-01T23:00:00+08:00");
        assert_eq!(
            after_quiet(t, &[(Shanghai, playbook), (Shanghai, sms)]),
            utc("2026-12-02T10:00:00+08:00")
        );
    }

    #[test]
    fn rfc3339_matches_chrono() {
        for t in [
            "2026-12-01T02:03:04Z",
            "2027-03-14T07:00:00Z",
            "2026-12-01T02:03:04.5Z",
        ] {
            let t = utc(t);
            assert_eq!(Rfc3339(t).to_string(), t.to_rfc3339());
        }
    }

    #[test]
    fn periods_are_local_calendar_periods() {
        // 23:30 UTC on Sunday 2026-12-06 is Monday 07:30 in Shanghai: a new ISO week there.
        let t = utc("2026-12-06T23:30:00Z");
        assert_eq!(
            period_bounds(Shanghai, t, CapPeriod::Week),
            (
                utc("2026-12-07T00:00:00+08:00"),
                utc("2026-12-14T00:00:00+08:00")
            )
        );
        assert_eq!(
            period_bounds(New_York, utc("2027-03-14T12:00:00-04:00"), CapPeriod::Day),
            (
                utc("2027-03-14T00:00:00-05:00"),
                utc("2027-03-15T00:00:00-04:00")
            )
        );
        assert_eq!(
            period_bounds(Shanghai, t, CapPeriod::Month).0,
            utc("2026-12-01T00:00:00+08:00")
        );
        assert_eq!(
            next_period_start(Shanghai, t, CapPeriod::Day),
            utc("2026-12-08T00:00:00+08:00")
        );
        assert_eq!(
            next_period_start(Shanghai, t, CapPeriod::Week),
            utc("2026-12-14T00:00:00+08:00")
        );
        assert_eq!(
            next_period_start(Shanghai, t, CapPeriod::Month),
            utc("2027-01-01T00:00:00+08:00")
        );
        assert_eq!(days_in_month(Shanghai, utc("2027-02-10T00:00:00Z")), 28);
    }
}
