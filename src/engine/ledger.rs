//! The send ledger: a customer's counted 1:1 sends of the last 32 days, in
//! time order, which caps count. Admitting a send asks each cap how many
//! sends it counts in its current period; the answers are kept beside the
//! ledger and brought up to date with the sends since, so a customer with a
//! long history costs no more per send than one with a short one. They are
//! not stored: a ledger read back counts afresh once.

use super::state::Sent;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// What a cap counts: sends of a playbook, of a kind, on a channel (each
/// when given), by periods of a zone.
#[derive(Debug, Clone, PartialEq)]
pub struct Counted<'a> {
    pub playbook: Option<&'a str>,
    pub kind: Option<crate::program::Kind>,
    pub channel: Option<&'a str>,
    pub zone: Tz,
    pub period: crate::program::Period,
}

impl Counted<'_> {
    pub fn counts(&self, s: &Sent) -> bool {
        self.playbook
            .is_none_or(|p| crate::value::same(p, &s.playbook))
            && self.kind.is_none_or(|k| k == s.kind)
            && self
                .channel
                .is_none_or(|c| crate::value::same(c, &s.channel))
    }
}

/// A count kept for one cap: its sends in [start, end), over the entries up
/// to `seen` (numbered from the first entry ever, pruned ones included).
#[derive(Debug, Clone)]
struct Count {
    playbook: Option<Box<str>>,
    kind: Option<crate::program::Kind>,
    channel: Option<Box<str>>,
    zone: Tz,
    period: crate::program::Period,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    seen: usize,
    n: u32,
}

impl Count {
    fn is(&self, c: &Counted) -> bool {
        self.playbook.as_deref() == c.playbook
            && self.kind == c.kind
            && self.channel.as_deref() == c.channel
            && self.zone == c.zone
            && self.period == c.period
    }
}

#[derive(Debug, Clone, Default)]
pub struct Ledger {
    entries: VecDeque<Sent>,
    /// Entries pruned since this ledger was loaded (counts number entries
    /// from the first), and the time of the last one.
    pruned: usize,
    last_pruned: Option<DateTime<Utc>>,
    counts: Vec<Count>,
}

impl PartialEq for Ledger {
    fn eq(&self, other: &Self) -> bool {
        self.entries == other.entries
    }
}

impl Serialize for Ledger {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.entries.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Ledger {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut entries: Vec<Sent> = Vec::deserialize(d)?;
        entries.sort_by_key(|s| s.at);
        Ok(entries.into_iter().collect())
    }
}

impl FromIterator<Sent> for Ledger {
    fn from_iter<I: IntoIterator<Item = Sent>>(iter: I) -> Self {
        let mut l = Ledger::default();
        for s in iter {
            l.push(s);
        }
        l
    }
}

impl Ledger {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Sent> {
        self.entries.iter()
    }

    /// Adds a send; sends come in time order, and one that does not is put
    /// in its place (and the counts start over).
    pub fn push(&mut self, s: Sent) {
        if self.entries.back().is_none_or(|last| last.at <= s.at) {
            self.entries.push_back(s);
            return;
        }
        let at = self.entries.partition_point(|e| e.at <= s.at);
        self.entries.insert(at, s);
        self.counts.clear();
    }

    /// Drops the sends before `horizon`.
    pub fn prune(&mut self, horizon: DateTime<Utc>) {
        while self.entries.front().is_some_and(|s| s.at < horizon) {
            self.last_pruned = self.entries.pop_front().map(|s| s.at);
            self.pruned += 1;
        }
    }

    /// The sends `cap` counts in the period [start, end).
    pub fn count(&mut self, cap: &Counted, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> u32 {
        if self.entries.back().is_none_or(|s| s.at < start) {
            // A later period than any send (a deferral looking ahead): nothing in it.
            return 0;
        }
        let first = self.pruned + self.entries.partition_point(|s| s.at < start);
        let k = match self.counts.iter().position(|c| c.is(cap)) {
            Some(k) => k,
            None => {
                self.counts.push(Count {
                    playbook: cap.playbook.map(Into::into),
                    kind: cap.kind,
                    channel: cap.channel.map(Into::into),
                    zone: cap.zone,
                    period: cap.period,
                    start,
                    end,
                    seen: first,
                    n: 0,
                });
                self.counts.len() - 1
            }
        };
        let count = &mut self.counts[k];
        // Pruning only drops sends older than any period a cap counts in, but
        // a count that lost sends it saw is made anew.
        let lost = self.last_pruned.is_some_and(|p| p >= start);
        if count.start != start || count.end != end || count.seen < self.pruned || lost {
            // Another period (or a fresh count): from the first send in it.
            count.start = start;
            count.end = end;
            count.n = 0;
            count.seen = first;
        }
        for s in self.entries.range(count.seen - self.pruned..) {
            if s.at < end && cap.counts(s) {
                count.n += 1;
            }
        }
        count.seen = self.pruned + self.entries.len();
        count.n
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::program::{Kind, Period};
    use chrono_tz::Asia::Shanghai;

    fn sent(secs: i64, playbook: &str) -> Sent {
        Sent {
            at: DateTime::from_timestamp(secs, 0).unwrap(),
            playbook: playbook.into(),
            channel: "wecom".into(),
            kind: Kind::Service,
        }
    }

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(secs, 0).unwrap()
    }

    #[test]
    fn counts_follow_new_sends_periods_and_pruning() {
        let mut l: Ledger = [sent(10, "a"), sent(20, "b"), sent(30, "a")]
            .into_iter()
            .collect();
        let a = Counted {
            playbook: Some("a"),
            kind: None,
            channel: None,
            zone: Shanghai,
            period: Period::Day,
        };
        assert_eq!(l.count(&a, (at(0), at(100))), 2);
        l.push(sent(40, "a"));
        l.push(sent(50, "b"));
        assert_eq!(l.count(&a, (at(0), at(100))), 3);
        // A period that starts later counts only what is in it.
        assert_eq!(l.count(&a, (at(25), at(100))), 2);
        assert_eq!(l.count(&a, (at(60), at(100))), 0);
        l.prune(at(35));
        assert_eq!(l.count(&a, (at(25), at(100))), 1);
        // A send out of order takes its place.
        l.push(sent(45, "a"));
        assert_eq!(l.count(&a, (at(25), at(100))), 2);
        let times: Vec<i64> = l.iter().map(|s| s.at.timestamp()).collect();
        assert_eq!(times, [40, 45, 50]);
    }
}
