//! Cron expressions as ops teams write them, read by croner (≥ 4.0.3) with the
//! rules of docs/language.md §13 checked first.

use chrono::{DateTime, TimeZone, Utc};
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// Reads a cron pattern; the error says what is wrong in the user's terms.
pub fn parse(pattern: &str) -> Result<Cron, String> {
    let p = pattern.trim();
    if p.is_empty() {
        return Err("the cron expression is empty".into());
    }
    if p.eq_ignore_ascii_case("@midnight") {
        return Err("`@midnight` is not supported; write `@daily` or \"0 0 * * *\"".into());
    }
    if !p.starts_with('@') {
        let fields: Vec<&str> = p.split_whitespace().collect();
        if fields.len() != 5 && fields.len() != 6 {
            return Err(format!(
                "a cron expression has 5 fields (6 with seconds first), this one has {}",
                fields.len()
            ));
        }
        if let Some(dow) = fields.last() {
            if dow.starts_with('+') {
                return Err("a leading `+` in the weekday field is not supported".into());
            }
        }
        check_fields(&fields)?;
        for f in &fields {
            if f.split(',').any(|part| {
                part.split_once('/')
                    .is_some_and(|(base, _)| !base.is_empty() && base != "*" && !base.contains('-'))
            }) {
                return Err(format!(
                    "`{f}`: a step needs a range or `*` before `/`, such as `*/15` or `0-30/15`"
                ));
            }
        }
    }
    let parser = CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .build();
    let cron = parser
        .parse(p)
        .map_err(|e| format!("this cron expression cannot be read ({e}); write 5 fields: minute hour day-of-month month weekday, such as \"0 20 * * FRI\""))?;
    let start = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    if cron.find_next_occurrence(&start, true).is_err() {
        return Err("this pattern can never match a date".into());
    }
    Ok(cron)
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// One field of a pattern: its name, its range and the names it takes.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// The value of the first name (1 for months, 0 for weekdays).
    first: u32,
    how: &'static str,
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    first: 0,
    how: "0–59",
};
const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
    first: 0,
    how: "0–59",
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    first: 0,
    how: "0–23",
};
const DAY: Field = Field {
    name: "day of month",
    min: 1,
    max: 31,
    names: &[],
    first: 0,
    how: "1–31 (or L, the last day)",
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &MONTHS,
    first: 1,
    how: "1–12 or JAN–DEC",
};
const WEEKDAY: Field = Field {
    name: "weekday",
    min: 0,
    max: 7,
    names: &WEEKDAYS,
    first: 0,
    how: "0–7 (0 and 7 are Sunday) or SUN–SAT",
};

/// Checks each field's values and ranges, so a mistake is told in the
/// pattern's own terms (which field, its allowed values, how to write a
/// range that wraps) rather than the cron library's.
fn check_fields(fields: &[&str]) -> Result<(), String> {
    let kinds: &[Field] = if fields.len() == 6 {
        &[SECOND, MINUTE, HOUR, DAY, MONTH, WEEKDAY]
    } else {
        &[MINUTE, HOUR, DAY, MONTH, WEEKDAY]
    };
    for (text, f) in fields.iter().zip(kinds) {
        for part in text.split(',') {
            let range = match part.split_once('/') {
                Some((r, s)) => {
                    if s.parse::<u32>().map_or(true, |n| n == 0) {
                        return Err(format!(
                            "the {} field `{text}`: `/{s}` must be a whole number of at least 1, such as `*/15`",
                            f.name
                        ));
                    }
                    r
                }
                None => part,
            };
            if range == "*" || range == "?" || range.is_empty() && part.starts_with('/') {
                continue;
            }
            // What croner reads beyond plain values (L, W, #) is left to it.
            if f.name == "day of month" && (range.contains('L') || range.contains('W'))
                || f.name == "weekday" && (range.contains('#') || range.ends_with('L'))
            {
                continue;
            }
            let (lo, hi) = match range.split_once('-') {
                Some((a, b)) => (a, Some(b)),
                None => (range, None),
            };
            let lo_v = value(lo, f, text)?;
            if let Some(hi) = hi {
                let hi_v = value(hi, f, text)?;
                if lo_v > hi_v && !(f.name == "weekday" && hi_v == 0) {
                    // Weekdays wrap at Saturday (7 is Sunday again).
                    let last = if f.name == "weekday" { 6 } else { f.max };
                    let (top, bottom) = (show(last, f, lo), show(f.min, f, lo));
                    let first = if top.eq_ignore_ascii_case(lo) {
                        lo.to_string()
                    } else {
                        format!("{lo}-{top}")
                    };
                    return Err(format!(
                        "the {} field `{text}`: the range `{range}` runs backwards; a range that wraps is two parts: `{first},{bottom}-{hi}`",
                        f.name
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A field value, a number or a name, checked against the field's range.
fn value(v: &str, f: &Field, text: &str) -> Result<u32, String> {
    if let Ok(n) = v.parse::<u32>() {
        if n < f.min || n > f.max {
            return Err(format!(
                "the {} field `{text}`: {n} is out of range; {}s are {}",
                f.name, f.name, f.how
            ));
        }
        return Ok(n);
    }
    let upper = v.to_ascii_uppercase();
    if let Some(i) = f.names.iter().position(|n| *n == upper) {
        return Ok(f.first + i as u32);
    }
    Err(format!(
        "the {} field `{text}`: `{v}` is not a {}; write {}",
        f.name, f.name, f.how
    ))
}

/// Every time of day (minutes after midnight) a valid pattern can fire at,
/// on any date: a pattern's times of day and its dates are independent
/// fields, so no date needs sampling.
pub fn times_of_day(pattern: &str) -> Vec<u32> {
    let p = pattern.trim();
    if p.starts_with('@') {
        return match p.to_ascii_lowercase().as_str() {
            "@hourly" => (0..24).map(|h| h * 60).collect(),
            _ => vec![0],
        };
    }
    let fields: Vec<&str> = p.split_whitespace().collect();
    let (minute, hour) = match fields.len() {
        5 => (fields[0], fields[1]),
        6 => (fields[1], fields[2]),
        _ => return Vec::new(),
    };
    let (Some(ms), Some(hs)) = (expand(minute, &MINUTE), expand(hour, &HOUR)) else {
        return Vec::new();
    };
    hs.iter()
        .flat_map(|h| ms.iter().map(move |m| h * 60 + m))
        .collect()
}

/// The values one plain field stands for (numbers, ranges, steps, lists).
fn expand(text: &str, f: &Field) -> Option<std::collections::BTreeSet<u32>> {
    let mut out = std::collections::BTreeSet::new();
    for part in text.split(',') {
        let (range, step) = match part.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().ok().filter(|&n| n > 0)?),
            None => (part, 1),
        };
        let (lo, hi) = if range == "*" || range == "?" {
            (f.min, f.max)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (a.parse().ok()?, b.parse().ok()?),
                None => {
                    let n: u32 = range.parse().ok()?;
                    (n, if part.contains('/') { f.max } else { n })
                }
            }
        };
        out.extend((lo..=hi.min(f.max)).step_by(step as usize));
    }
    Some(out)
}

/// The dates a pattern fires on, read from its fields: day of month,
/// month, weekday (a date matches either day field when both are given, as
/// cron has it). `None` for what only croner reads (L, W, #, @ names).
pub struct Dates {
    /// Bit n: day n, month n, weekday n (0 is Sunday) matches.
    day_bits: u32,
    month_bits: u16,
    weekday_bits: u8,
    days: std::collections::BTreeSet<u32>,
    months: std::collections::BTreeSet<u32>,
    weekdays: std::collections::BTreeSet<u32>,
    any_day: bool,
    any_weekday: bool,
}

impl Dates {
    pub fn of(pattern: &str) -> Option<Dates> {
        let fields: Vec<&str> = pattern.split_whitespace().collect();
        let (dom, month, dow) = match fields.len() {
            5 => (fields[2], fields[3], fields[4]),
            6 => (fields[3], fields[4], fields[5]),
            _ => return None,
        };
        let named = |text: &str, f: &Field| -> Option<String> {
            // Names to numbers, so `expand` reads them.
            let mut out = text.to_ascii_uppercase();
            for (i, n) in f.names.iter().enumerate() {
                out = out.replace(n, &(f.first + i as u32).to_string());
            }
            Some(out)
        };
        let mut weekdays = expand(&named(dow, &WEEKDAY)?, &WEEKDAY)?;
        if weekdays.remove(&7) {
            weekdays.insert(0);
        }
        let days = expand(dom, &DAY)?;
        let months = expand(&named(month, &MONTH)?, &MONTH)?;
        Some(Dates {
            day_bits: days.iter().fold(0, |b, d| b | 1 << d),
            month_bits: months.iter().fold(0, |b, m| b | 1 << m),
            weekday_bits: weekdays.iter().fold(0, |b, w| b | 1 << w),
            days,
            months,
            weekdays,
            any_day: dom == "*" || dom == "?",
            any_weekday: dow == "*" || dow == "?",
        })
    }

    pub fn matches(&self, d: chrono::NaiveDate) -> bool {
        use chrono::Datelike;
        if self.month_bits & 1 << d.month() == 0 {
            return false;
        }
        let day = self.day_bits & 1 << d.day() != 0;
        let weekday = self.weekday_bits & 1 << d.weekday().num_days_from_sunday() != 0;
        match (self.any_day, self.any_weekday) {
            (false, false) => day || weekday,
            _ => day && weekday,
        }
    }

    /// The dates in words: "every day", "every Saturday", "on 11 November",
    /// "on day 1 of every month", "every day in May".
    pub fn words(&self) -> String {
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
        const DAY_NAMES: [&str; 7] = [
            "Sunday",
            "Monday",
            "Tuesday",
            "Wednesday",
            "Thursday",
            "Friday",
            "Saturday",
        ];
        let all_months = self.months.len() == 12;
        let months = list(&self.months, |m| MONTH_NAMES[(m - 1) as usize].to_string());
        let weekdays = list(&self.weekdays, |d| DAY_NAMES[d as usize].to_string());
        let days = list(&self.days, |d| d.to_string());
        let in_months = if all_months {
            String::new()
        } else {
            format!(" in {months}")
        };
        match (self.any_day, self.any_weekday) {
            (true, true) if all_months => "every day".into(),
            (true, true) => format!("every day in {months}"),
            (true, false) => format!("every {weekdays}{in_months}"),
            (false, true) if all_months => format!("on day {days} of every month"),
            (false, true) => format!("on {days} {months}"),
            (false, false) => format!("on day {days} or every {weekdays}{in_months}"),
        }
    }
}

/// Values as words, runs of three or more as `first–last`.
fn list(values: &std::collections::BTreeSet<u32>, name: impl Fn(u32) -> String) -> String {
    let v: Vec<u32> = values.iter().copied().collect();
    let mut parts = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}–{}", name(v[i]), name(v[j])));
        } else {
            parts.extend((i..=j).map(|k| name(v[k])));
        }
        i = j + 1;
    }
    parts.join(", ")
}

/// A bound written the way the user wrote the range: a name if they used names.
fn show(n: u32, f: &Field, like: &str) -> String {
    if !f.names.is_empty() && like.parse::<u32>().is_err() {
        if let Some(name) = f.names.get((n - f.first) as usize) {
            return name.to_string();
        }
    }
    n.to_string()
}

/// The next fire in `zone` at or after (`inclusive`) or after `from`, or
/// `None` when there is none before the year 5000, where croner stops looking.
///
/// croner carries a fixed-time fire that falls in a DST gap to the first
/// instant after it, but looks no further than two hours for that instant;
/// a zone that skipped a whole civil day (Pacific/Apia on 2011-12-30) makes
/// it give up, which would end the schedule. Then the fire is found on the
/// wall clock (UTC has no gaps) and resolved in the zone by the same rules:
/// a fixed-time fire in a gap runs at the first instant after it, any other
/// wall-clock time in a gap does not happen (docs/language.md §13).
pub fn next_fire(
    cron: &Cron,
    zone: chrono_tz::Tz,
    from: DateTime<Utc>,
    inclusive: bool,
) -> Option<DateTime<Utc>> {
    if let Ok(t) = cron.find_next_occurrence(&from.with_timezone(&zone), inclusive) {
        return Some(t.with_timezone(&Utc));
    }
    let fixed = cron.determine_job_type() == croner::JobType::FixedTime;
    let mut wall = Utc.from_utc_datetime(&from.with_timezone(&zone).naive_local());
    let at_from = inclusive;
    let mut inclusive = inclusive;
    // Each round moves past one wall-clock fire; a gap holds at most a day of them.
    for _ in 0..100_000 {
        wall = cron.find_next_occurrence(&wall, inclusive).ok()?;
        inclusive = false;
        let t = match zone.from_local_datetime(&wall.naive_utc()) {
            chrono::LocalResult::Single(t) | chrono::LocalResult::Ambiguous(t, _) => {
                t.with_timezone(&Utc)
            }
            chrono::LocalResult::None if fixed => {
                crate::engine::time::resolve(zone, wall.naive_utc())
            }
            chrono::LocalResult::None => continue,
        };
        if t > from || (at_from && t == from) {
            return Some(t);
        }
    }
    None
}

/// Fires in wall-clock time (UTC stands in for a zone without DST) from `from`, at most `limit`.
pub fn fires(
    cron: &Cron,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: usize,
) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    for t in cron.iter_from(from, croner::Direction::Forward) {
        if t >= until || out.len() >= limit {
            break;
        }
        out.push(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_ops_teams_write() {
        for p in [
            "0 20 * * WED",
            "30 12 * * *",
            "0 9 * * 1-5",
            "0 0 L * *",
            "0 10 * * 5#2",
            "@daily",
            "0 0 9 * * *",
            "0 8 * * 7",
        ] {
            assert!(parse(p).is_ok(), "{p}: {:?}", parse(p).err());
        }
    }

    #[test]
    fn errors_name_the_field_its_range_and_the_wrapping_form() {
        let e = |p: &str| parse(p).unwrap_err();
        assert_eq!(
            e("0 20 * * 5DAY"),
            "the weekday field `5DAY`: `5DAY` is not a weekday; write 0–7 (0 and 7 are Sunday) or SUN–SAT"
        );
        assert_eq!(
            e("0 25 * * *"),
            "the hour field `25`: 25 is out of range; hours are 0–23"
        );
        assert_eq!(
            e("0 20 * * SAT-THU"),
            "the weekday field `SAT-THU`: the range `SAT-THU` runs backwards; a range that wraps is two parts: `SAT,SUN-THU`"
        );
        assert_eq!(
            e("0 22-2 * * *"),
            "the hour field `22-2`: the range `22-2` runs backwards; a range that wraps is two parts: `22-23,0-2`"
        );
        assert!(e("0 0 1 13 *").starts_with("the month field `13`: 13 is out of range"));
        assert!(parse("0 20 * * FRI-SUN").is_ok());
        assert!(parse("0 9 * * 1-5").is_ok());
        assert!(parse("0 9 L * *").is_ok());
    }

    #[test]
    fn times_of_day_come_from_the_minute_and_hour_fields_alone() {
        assert_eq!(times_of_day("0 23 11 11 *"), [23 * 60]);
        assert_eq!(times_of_day("20 * * 5 *").len(), 24);
        assert_eq!(
            times_of_day("0 20 * * 5 *"),
            [
                20, 80, 140, 200, 260, 320, 380, 440, 500, 560, 620, 680, 740, 800, 860, 920, 980,
                1040, 1100, 1160, 1220, 1280, 1340, 1400
            ]
        );
        assert_eq!(times_of_day("*/30 9-10 * * MON"), [540, 570, 600, 630]);
        assert_eq!(times_of_day("@daily"), [0]);
    }

    #[test]
    fn dates_in_words() {
        let w = |p: &str| Dates::of(p).unwrap().words();
        assert_eq!(w("0 9 * * *"), "every day");
        assert_eq!(w("0 9 * * SAT"), "every Saturday");
        assert_eq!(w("0 9 * * 1-5"), "every Monday–Friday");
        assert_eq!(w("0 23 11 11 *"), "on 11 November");
        assert_eq!(w("0 9 1 * *"), "on day 1 of every month");
        assert_eq!(w("0 20 * 5 *"), "every day in May");
        // Six fields: the first is seconds, so `5` is the month.
        assert_eq!(w("0 20 * * 5 *"), "every day in May");
    }

    #[test]
    fn rejects_the_rest() {
        for p in [
            "",
            "0 20 * *",
            "61 * * * *",
            "0 0 31 2 *",
            "@midnight",
            "0/15 * * * *",
            "0 0 * * +1",
            "0 0 1 1 * 2027",
        ] {
            assert!(parse(p).is_err(), "{p} should be rejected");
        }
    }
}
