//! Admission of a send (docs/language.md §10.5): a send is admitted when it
//! is outside every quiet range and every cap has room; otherwise it is
//! dropped (a violated cap says `drop`) or deferred to the earliest later
//! instant where both hold, counting sends already emitted.

use super::effect::DeferReason;
use super::ledger::{Counted, Ledger};
pub use super::state::Sent;
use super::time::{after_quiet, days_in_month, next_period_start, period_bounds};
use crate::program::{Kind, Period as CapPeriod, Quiet};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// The most steps the search for an allowed instant takes (each moves past a
/// quiet range or to the next cap period).
const SEARCH_STEPS: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CapMax {
    Count(u32),
    /// As many as the local month has days (WeCom's default mass-send rule).
    DaysInMonth,
}

/// One cap that applies to the send being admitted.
#[derive(Debug, Clone, PartialEq)]
pub struct Cap<'a> {
    /// How the cap is named in records, e.g. `cap 3 per day` or `[limits] per_week`.
    pub name: &'a str,
    pub zone: Tz,
    pub period: CapPeriod,
    pub max: CapMax,
    pub drop: bool,
    /// Count only sends of this playbook / kind / channel.
    pub playbook: Option<&'a str>,
    pub kind: Option<Kind>,
    pub channel: Option<&'a str>,
}

impl Cap<'_> {
    fn full_at(&self, t: DateTime<Utc>, ledger: &mut Ledger) -> bool {
        let max = match self.max {
            CapMax::Count(n) => n,
            CapMax::DaysInMonth if self.period == CapPeriod::Month => days_in_month(self.zone, t),
            CapMax::DaysInMonth => u32::MAX,
        };
        let counted = Counted {
            playbook: self.playbook,
            kind: self.kind,
            channel: self.channel,
            zone: self.zone,
            period: self.period,
        };
        ledger.count(&counted, period_bounds(self.zone, t, self.period)) >= max
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    Now,
    /// Deferred to `at`.
    Deferred {
        at: DateTime<Utc>,
        reason: DeferReason,
    },
    /// A violated cap says `drop`.
    Dropped {
        cap: String,
    },
}

/// Decides when a send due at `due` may go out. `caps` must already be the
/// ones that apply to this send (its kind counts for a kind cap, and so on).
pub fn admit(
    due: DateTime<Utc>,
    quiet: &[(Tz, Quiet)],
    caps: &[Cap],
    ledger: &mut Ledger,
) -> Admission {
    let mut t = due;
    let (mut by_quiet, mut by_cap) = (false, false);
    for _ in 0..SEARCH_STEPS {
        let after = after_quiet(t, quiet);
        if after != t {
            by_quiet = true;
            t = after;
        }
        match caps.iter().find(|c| c.full_at(t, ledger)) {
            Some(c) if c.drop => {
                return Admission::Dropped {
                    cap: c.name.to_string(),
                }
            }
            Some(c) => {
                by_cap = true;
                t = next_period_start(c.zone, t, c.period);
            }
            None => break,
        }
    }
    if t == due {
        return Admission::Now;
    }
    // Quiet hours are a reason only when they hold the send at its own time:
    // a cap that carries it to a quiet midnight is held by the cap alone.
    let by_quiet = by_quiet && after_quiet(due, quiet) != due;
    let reason = match (by_quiet, by_cap) {
        (true, true) => DeferReason::QuietCap,
        (false, true) => DeferReason::Cap,
        _ => DeferReason::Quiet,
    };
    Admission::Deferred { at: t, reason }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono_tz::Asia::Shanghai;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn cap(name: &str, period: CapPeriod, n: u32, drop: bool) -> Cap<'_> {
        Cap {
            name,
            zone: Shanghai,
            period,
            max: CapMax::Count(n),
            drop,
            playbook: None,
            kind: None,
            channel: None,
        }
    }

    fn sent(at: &str) -> Sent {
        Sent {
            at: utc(at),
            playbook: "p".into(),
            channel: "wecom".into(),
            kind: Kind::Service,
        }
    }

    #[test]
    fn a_send_outside_quiet_hours_with_room_goes_now() {
        let q = [(Shanghai, Quiet::parse("21:30..09:00").unwrap())];
        assert_eq!(
            admit(
                utc("2026-12-01T10:00:00+08:00"),
                &q,
                &[cap("c", CapPeriod::Day, 3, false)],
                &mut Ledger::default()
            ),
            Admission::Now
        );
    }

    #[test]
    fn quiet_hours_defer_to_their_end() {
        let q = [(Shanghai, Quiet::parse("21:30..09:00").unwrap())];
        let a = admit(
            utc("2026-12-01T22:00:00+08:00"),
            &q,
            &[],
            &mut Ledger::default(),
        );
        assert_eq!(
            a,
            Admission::Deferred {
                at: utc("2026-12-02T09:00:00+08:00"),
                reason: DeferReason::Quiet
            }
        );
    }

    #[test]
    fn a_full_day_defers_to_the_next_local_day_then_quiet_hours() {
        let q = [(Shanghai, Quiet::parse("22:00..08:30").unwrap())];
        let mut ledger: Ledger = [
            sent("2026-12-01T09:00:00+08:00"),
            sent("2026-12-01T10:00:00+08:00"),
        ]
        .into_iter()
        .collect();
        let a = admit(
            utc("2026-12-01T11:00:00+08:00"),
            &q,
            &[cap("cap 2 per day", CapPeriod::Day, 2, false)],
            &mut ledger,
        );
        // Midnight is quiet, so the send waits for 08:30; it was not quiet
        // at 11:00, so the cap alone held it.
        assert_eq!(
            a,
            Admission::Deferred {
                at: utc("2026-12-02T08:30:00+08:00"),
                reason: DeferReason::Cap
            }
        );
    }

    #[test]
    fn a_send_due_in_quiet_hours_then_held_by_a_cap_names_both() {
        let q = [(Shanghai, Quiet::parse("22:00..08:30").unwrap())];
        let mut ledger: Ledger = [
            sent("2026-12-02T08:40:00+08:00"),
            sent("2026-12-02T08:50:00+08:00"),
        ]
        .into_iter()
        .collect();
        // Due at 23:00 (quiet): 08:30 next morning finds the day full, so 12-03 08:30.
        let a = admit(
            utc("2026-12-01T23:00:00+08:00"),
            &q,
            &[cap("cap 2 per day", CapPeriod::Day, 2, false)],
            &mut ledger,
        );
        assert_eq!(
            a,
            Admission::Deferred {
                at: utc("2026-12-03T08:30:00+08:00"),
                reason: DeferReason::QuietCap
            }
        );
    }

    #[test]
    fn a_full_week_defers_to_monday() {
        // 2026-12-02 is a Wednesday; the ISO week ends Sunday 12-06.
        let mut ledger: Ledger = [sent("2026-11-30T10:00:00+08:00")].into_iter().collect();
        let a = admit(
            utc("2026-12-02T10:00:00+08:00"),
            &[],
            &[cap("w", CapPeriod::Week, 1, false)],
            &mut ledger,
        );
        assert_eq!(
            a,
            Admission::Deferred {
                at: utc("2026-12-07T00:00:00+08:00"),
                reason: DeferReason::Cap
            }
        );
    }

    #[test]
    fn a_drop_cap_drops() {
        let mut ledger: Ledger = [sent("2026-12-01T10:00:00+08:00")].into_iter().collect();
        let a = admit(
            utc("2026-12-01T12:00:00+08:00"),
            &[],
            &[cap("cap 1 per week promo drop", CapPeriod::Week, 1, true)],
            &mut ledger,
        );
        assert_eq!(
            a,
            Admission::Dropped {
                cap: "cap 1 per week promo drop".into()
            }
        );
    }

    #[test]
    fn kind_and_channel_filters_count_only_their_sends() {
        let mut promo = cap("promo", CapPeriod::Day, 1, false);
        promo.kind = Some(Kind::Promo);
        let mut ledger: Ledger = [sent("2026-12-01T10:00:00+08:00")].into_iter().collect();
        assert_eq!(
            admit(utc("2026-12-01T12:00:00+08:00"), &[], &[promo], &mut ledger),
            Admission::Now
        );
    }

    #[test]
    fn days_per_month_allows_as_many_as_the_month_has_days() {
        let mut wecom = cap("wecom", CapPeriod::Month, 0, false);
        wecom.max = CapMax::DaysInMonth;
        let feb: Vec<Sent> = (1..=28)
            .map(|d| sent(&format!("2027-02-{d:02}T10:00:00+08:00")))
            .collect();
        let a = admit(
            utc("2027-02-28T12:00:00+08:00"),
            &[],
            std::slice::from_ref(&wecom),
            &mut feb.iter().cloned().collect(),
        );
        assert_eq!(
            a,
            Admission::Deferred {
                at: utc("2027-03-01T00:00:00+08:00"),
                reason: DeferReason::Cap
            }
        );
        assert_eq!(
            admit(
                utc("2027-02-28T12:00:00+08:00"),
                &[],
                &[wecom],
                &mut feb[..27].iter().cloned().collect()
            ),
            Admission::Now
        );
    }
}
