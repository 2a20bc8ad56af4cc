//! A customer's whole journey in the table report: what entered, each
//! delivery with its text, the waits, the sends that did not go out and
//! why, hooks, goal, stop, finish; and the broadcast runs' own timeline.

use super::journey::Waiting;
use super::report::{not_sent_words, pad, Timelines};
use super::Outcome;
use crate::engine::{Delivery, Detail, Record, RecordKind};
use crate::program::Touchpoint;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::fmt::Write as _;

/// One line of a timeline.
enum Entry<'a> {
    Send(&'a Delivery),
    Record(&'a Record),
    Wait(&'a Waiting),
}

impl Entry<'_> {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Entry::Send(d) => d.at,
            Entry::Record(r) => r.at,
            Entry::Wait(w) => w.at,
        }
    }

    /// At one instant: entering first, then what the step did, the wait it
    /// opened, and how the enrollment ended.
    fn phase(&self) -> u8 {
        match self {
            Entry::Record(r) if matches!(r.kind, RecordKind::Entered | RecordKind::Ignored) => 0,
            Entry::Send(_) | Entry::Record(_) if !self.ends() => 1,
            Entry::Wait(_) => 2,
            _ => 3,
        }
    }

    fn ends(&self) -> bool {
        matches!(self, Entry::Record(r) if matches!(r.kind,
            RecordKind::Goal | RecordKind::Stopped | RecordKind::Finished | RecordKind::Failed))
    }
}

/// Appends the timelines asked for to the table.
pub fn write(s: &mut String, o: &Outcome, default: Tz, which: Timelines) {
    let mut ids: Vec<&str> = match which {
        Timelines::Customer(c) => o
            .zones
            .keys()
            .map(String::as_str)
            .filter(|k| *k == c)
            .collect(),
        Timelines::Small if o.customers <= 10 => o.zones.keys().map(String::as_str).collect(),
        Timelines::Small => Vec::new(),
        Timelines::Broadcasts => vec![""],
    };
    ids.sort();
    // Customers first, the broadcasts after them; a broadcast timeline only
    // when some playbook broadcasts.
    ids.retain(|c| !c.is_empty());
    let broadcasts = o.sends.iter().any(|d| d.customer.is_none())
        || o.records
            .iter()
            .any(|r| r.customer.is_none() && r.playbook.is_some());
    let want_broadcasts = match which {
        Timelines::Customer(c) => c.is_empty(),
        Timelines::Small => o.customers <= 10 && broadcasts,
        Timelines::Broadcasts => true,
    };
    let zone_of = |c: &str| o.zones.get(c).copied().unwrap_or(default);
    // Times carry their UTC offset when the timelines shown are in several zones.
    let mut zones: Vec<Tz> = ids.iter().map(|c| zone_of(c)).collect();
    if want_broadcasts {
        zones.push(default);
    }
    zones.sort_by_key(|z| z.name());
    zones.dedup();
    let offsets = zones.len() > 1;
    for c in ids {
        let _ = writeln!(s, "\ntimeline of {c} ({})", zone_of(c).name());
        one(s, o, Some(c), zone_of(c), offsets);
    }
    if want_broadcasts {
        let _ = writeln!(s, "\ntimeline of the broadcasts ({})", default.name());
        one(s, o, None, default, offsets);
    }
}

/// One customer's timeline (`None`: the broadcast runs').
fn one(s: &mut String, o: &Outcome, customer: Option<&str>, tz: Tz, offsets: bool) {
    let mut entries: Vec<Entry> = Vec::new();
    entries.extend(
        o.records
            .iter()
            .filter(|r| r.customer.as_deref() == customer)
            .map(Entry::Record),
    );
    entries.extend(
        o.sends
            .iter()
            .filter(|d| d.customer.as_deref() == customer)
            .map(Entry::Send),
    );
    entries.extend(
        o.waits
            .iter()
            .filter(|w| w.customer.as_deref() == customer)
            .map(Entry::Wait),
    );
    // Stable: each list is in time order already, and in emission order at one instant.
    entries.sort_by_key(|e| (e.at(), e.phase()));
    if entries.is_empty() {
        let _ = writeln!(s, "  nothing happened in the window");
        return;
    }
    let clock = if offsets {
        "%Y-%m-%d %H:%M %:z"
    } else {
        "%Y-%m-%d %H:%M"
    };
    for e in &entries {
        let at = e.at().with_timezone(&tz);
        let (channel, playbook, what) = match e {
            Entry::Send(d) => (&*d.channel, &*d.playbook, delivery(d, tz)),
            Entry::Record(r) => ("", r.playbook.as_deref().unwrap_or(""), record(r, tz)),
            Entry::Wait(w) => ("", &*w.playbook, wait(w, tz)),
        };
        let _ = writeln!(
            s,
            "  {} {} {} {what}",
            at.format(clock),
            pad(channel, 10),
            pad(playbook, 22)
        );
    }
}

/// A short local time: the clock, with the date when it is another day than `since`.
fn short(t: DateTime<Utc>, since: DateTime<Utc>, tz: Tz) -> String {
    let (t, since) = (t.with_timezone(&tz), since.with_timezone(&tz));
    if t.date_naive() == since.date_naive() {
        t.format("%H:%M").to_string()
    } else {
        t.format("%m-%d %H:%M").to_string()
    }
}

fn delivery(d: &Delivery, tz: Tz) -> String {
    let deferred = d
        .deferred_from
        .map(|f| {
            format!(
                " (deferred from {}, {})",
                short(f, d.at, tz),
                d.reason.map_or("", |r| r.name())
            )
        })
        .unwrap_or_default();
    let text = d.text.as_deref().unwrap_or("").replace('\n', " ");
    match (d.template.as_deref(), d.touchpoint) {
        (Some(coupon), Touchpoint::Coupons) => format!("coupon {coupon} granted{deferred}"),
        (_, Touchpoint::Tasks) => format!("task{deferred}: {text}"),
        (Some(template), _) => format!("{template}{deferred}: {text}"),
        (None, _) => format!("inline text{deferred}: {text}"),
    }
}

fn wait(w: &Waiting, tz: Tz) -> String {
    let until = w.until.map(|u| short(u, w.at, tz));
    match (&w.event, until) {
        (Some(e), Some(u)) => {
            let otherwise = w
                .else_step
                .map(|s| format!(", else → {s}"))
                .unwrap_or_default();
            format!("{}: waiting for {e} until {u}{otherwise}", w.step)
        }
        (Some(e), None) => format!("{}: waiting for {e}", w.step),
        (None, Some(u)) => format!("{}: waiting until {u}", w.step),
        (None, None) => format!("{}: waiting", w.step),
    }
}

fn record(r: &Record, tz: Tz) -> String {
    let step = r.step.map(|s| format!("{s}: ")).unwrap_or_default();
    match (&r.detail, r.kind) {
        (Detail::Entered { held_out: true }, _) => {
            "entered (held out: walks the flow, sends nothing)".into()
        }
        (Detail::Entered { .. }, _) if r.customer.is_none() => "fired".into(),
        (Detail::Entered { .. }, _) => "entered".into(),
        (Detail::Goal { converted: true }, _) => "goal reached".into(),
        (Detail::Goal { converted: false }, _) => {
            "goal event after the goal's window: ended, not converted".into()
        }
        (Detail::Deferred { reason, from, to }, _) => format!(
            "{step}send deferred by {} until {}",
            match reason.name() {
                "quiet" => "quiet hours",
                "cap" => "a cap",
                _ => "quiet hours and a cap",
            },
            short(*to, *from, tz)
        ),
        (Detail::Planted { hook, at }, RecordKind::HookPlanted) => {
            format!("hook {hook} planted for {}", short(*at, r.at, tz))
        }
        (detail, kind) if super::funnel::NOT_SENT.contains(&kind) => format!(
            "{step}not sent, {}: {}",
            not_sent_words(kind.name()),
            detail.in_zone(tz)
        ),
        (Detail::Event(name), RecordKind::Unconsumed) => {
            format!("event {name}: nothing waited for it")
        }
        (detail, kind) => {
            let detail = detail.in_zone(tz);
            if detail.is_empty() {
                kind.name().to_string()
            } else {
                format!("{}: {detail}", kind.name())
            }
        }
    }
}
