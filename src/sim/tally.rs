//! Counts the table report shows, gathered customer by customer so a run over
//! a million customers need not keep their deliveries.

use crate::engine::state::{CustomerState, Status, Wait};
use crate::engine::{Effect, RecordKind};
use crate::program::Touchpoint;
use chrono::NaiveDate;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    /// Messages to customers, groups and Moments (coupon grants and tasks
    /// are counted apart: the customer does not read them as messages).
    pub deliveries: usize,
    pub grants: usize,
    pub tasks: usize,
    /// Messages by channel name (`Sym` orders by name).
    pub per_channel: BTreeMap<crate::value::Sym, usize>,
    /// Messages by local date in the customer's zone.
    pub per_day: BTreeMap<NaiveDate, usize>,
    /// Deliveries that went out later than due, by reason.
    pub deferred: BTreeMap<&'static str, usize>,
    /// Sends still deferred when the window ended, by reason: they never
    /// went out, and a send held forever must not look like no deferral.
    pub still_deferred: BTreeMap<&'static str, usize>,
    /// Sends a cap dropped.
    pub dropped: usize,
    /// The customer-day with the most messages: (count, customer, day); ties
    /// go to the smallest customer id (in string order), then the earliest day.
    pub busiest: Option<(usize, String, NaiveDate)>,
}

impl Tally {
    /// Counts one customer's effects (the broadcast pseudo-customer has the empty id).
    pub fn customer(&mut self, id: &str, zone: chrono_tz::Tz, effects: &[Effect]) {
        // This customer's deliveries per day.
        let mut days: BTreeMap<NaiveDate, usize> = BTreeMap::new();
        for effect in effects {
            match effect {
                Effect::Deliver(d) if d.touchpoint == Touchpoint::Coupons => self.grants += 1,
                Effect::Deliver(d) if d.touchpoint == Touchpoint::Tasks => self.tasks += 1,
                Effect::Deliver(d) => {
                    self.deliveries += 1;
                    *self.per_channel.entry(d.channel).or_default() += 1;
                    let day = d.at.with_timezone(&zone).date_naive();
                    *self.per_day.entry(day).or_default() += 1;
                    *days.entry(day).or_default() += 1;
                    if let Some(r) = d.reason {
                        *self.deferred.entry(r.name()).or_default() += 1;
                    }
                }
                Effect::Record(r) => self.dropped += usize::from(r.kind == RecordKind::Dropped),
                Effect::Reached(_) => {}
            }
        }
        if id.is_empty() {
            return;
        }
        // The first of this customer's busiest days.
        let Some((day, n)) = days.into_iter().fold(
            None,
            |best: Option<(NaiveDate, usize)>, (d, n)| match best {
                Some((bd, m)) if m > n || (m == n && bd <= d) => best,
                _ => Some((d, n)),
            },
        ) else {
            return;
        };
        self.offer_busiest(n, id, day);
    }

    /// Counts the sends of a customer's state at the window's end that are still deferred.
    pub fn at_end(&mut self, state: &CustomerState) {
        let flows = state
            .enrollments
            .iter()
            .filter(|e| e.status == Status::Active)
            .flat_map(|e| &e.flows);
        for flow in flows {
            if let Wait::Deferred { reason, .. } = flow.wait {
                *self.still_deferred.entry(reason.name()).or_default() += 1;
            }
        }
    }

    fn offer_busiest(&mut self, n: usize, id: &str, day: NaiveDate) {
        let better = match &self.busiest {
            None => true,
            Some((m, c, d)) => n > *m || (n == *m && (id, day) < (c.as_str(), *d)),
        };
        if better {
            self.busiest = Some((n, id.to_string(), day));
        }
    }

    pub fn merge(&mut self, other: Tally) {
        self.deliveries += other.deliveries;
        self.grants += other.grants;
        self.tasks += other.tasks;
        for (k, n) in other.per_channel {
            *self.per_channel.entry(k).or_default() += n;
        }
        for (k, n) in other.per_day {
            *self.per_day.entry(k).or_default() += n;
        }
        for (k, n) in other.deferred {
            *self.deferred.entry(k).or_default() += n;
        }
        for (k, n) in other.still_deferred {
            *self.still_deferred.entry(k).or_default() += n;
        }
        self.dropped += other.dropped;
        if let Some((n, id, day)) = other.busiest {
            self.offer_busiest(n, &id, day);
        }
    }
}
