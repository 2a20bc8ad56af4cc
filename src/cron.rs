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
    let cron = parser.parse(p).map_err(|e| format!("{e}"))?;
    let start = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap();
    if cron.find_next_occurrence(&start, true).is_err() {
        return Err("this pattern can never match a date".into());
    }
    Ok(cron)
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
