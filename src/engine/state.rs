//! One customer's state as the engine keeps it between calls: attributes,
//! do-not-contact mark, send ledger for caps, enrollments and their flows,
//! trigger schedules and segment memberships.
//!
//! Everything names what it refers to stably, so a state saved under one
//! program loads under the next: playbooks by name and version, channels and
//! steps by name, sites by their path. Positions inside one playbook version
//! (an action path, a reached step) are stable because a version never
//! changes. The stored form (serde, any self-describing format) carries a
//! format number; fields added later read older states through defaults.

use super::effect::DeferReason;
use crate::program::Kind;
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The stored form's format. Bump it only with a reader for the old one.
pub const FORMAT: u32 = 1;

/// Instants are whole seconds, stored as Unix seconds.
pub(crate) mod secs {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.timestamp())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let n = i64::deserialize(d)?;
        DateTime::from_timestamp(n, 0)
            .ok_or_else(|| serde::de::Error::custom("instant out of range"))
    }

    pub mod opt {
        use chrono::{DateTime, Utc};
        use serde::{Deserialize, Deserializer, Serializer};

        pub fn serialize<S: Serializer>(
            t: &Option<DateTime<Utc>>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_some(&t.timestamp()),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<DateTime<Utc>>, D::Error> {
            match Option::<i64>::deserialize(d)? {
                None => Ok(None),
                Some(n) => DateTime::from_timestamp(n, 0)
                    .map(Some)
                    .ok_or_else(|| serde::de::Error::custom("instant out of range")),
            }
        }
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

fn is_active(s: &Status) -> bool {
    *s == Status::Active
}

fn is_service(k: &Kind) -> bool {
    *k == Kind::Service
}

fn is_null(v: &Value) -> bool {
    *v == Value::Null
}

/// Where a flow is: a step (by name), the path of (action index, branch) into
/// nested blocks, and the index of the next action in the innermost block.
/// Branch 0 is an `if`'s then-block, 1 its else-block, 2 a hook's body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    pub step: Sym,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub path: Vec<(usize, u8)>,
    pub idx: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wait {
    /// Ready to run.
    Ready,
    /// Sleeping until an instant (wait, wait until, a hook's fire time).
    Until(#[serde(with = "secs")] DateTime<Utc>),
    /// A send deferred by quiet hours or caps, retried at `at`.
    Deferred {
        #[serde(with = "secs")]
        at: DateTime<Utc>,
        #[serde(with = "secs")]
        from: DateTime<Utc>,
        reason: DeferReason,
    },
    /// `wait for`: the event, its deadline, the step to go to on timeout.
    Event {
        name: Sym,
        #[serde(with = "secs::opt", default, skip_serializing_if = "Option::is_none")]
        deadline: Option<DateTime<Utc>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        else_step: Option<Sym>,
        #[serde(with = "secs")]
        opened: DateTime<Utc>,
    },
    Done,
}

impl Wait {
    /// When this flow next wants to run by itself.
    pub fn due(&self) -> Option<DateTime<Utc>> {
        match self {
            Wait::Until(t) | Wait::Deferred { at: t, .. } => Some(*t),
            Wait::Event { deadline, .. } => *deadline,
            Wait::Ready | Wait::Done => None,
        }
    }
}

/// A hook's name and plant number.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookRun {
    pub name: Sym,
    pub plant: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Flow {
    /// `None` for the main flow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook: Option<HookRun>,
    pub cursor: Cursor,
    pub wait: Wait,
}

impl Flow {
    /// The path depth of the flow's own body: 0 for the main flow; for a
    /// hook, just inside the hook's body (the flow ends when it leaves it).
    /// A hook flow's path goes through its hook (branch 2) and never into
    /// another hook's body, so the last branch 2 on it is its own.
    pub fn root_depth(&self) -> usize {
        match self.hook {
            None => 0,
            Some(_) => self
                .cursor
                .path
                .iter()
                .rposition(|(_, br)| *br == 2)
                .map_or(0, |i| i + 1),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    #[default]
    Active,
    /// Flow and hooks done; a goal event inside the window still converts.
    Attributing,
    /// Gone at the end of the engine call that ended it.
    Ended,
}

/// An event remembered for a `wait for … since entry`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Seen {
    pub name: Sym,
    #[serde(with = "secs")]
    pub at: DateTime<Utc>,
    pub data: Fields,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Enrollment {
    pub playbook: Sym,
    /// The playbook version it entered on, and runs on until it ends.
    pub version: Sym,
    pub n: u32,
    #[serde(with = "secs")]
    pub entered: DateTime<Utc>,
    /// The payload of the event that created it (`event.*` in steps).
    #[serde(default, skip_serializing_if = "is_null")]
    pub event: Value,
    #[serde(default, skip_serializing_if = "is_false")]
    pub held_out: bool,
    #[serde(default, skip_serializing_if = "is_active")]
    pub status: Status,
    /// While attributing: when the goal window closes.
    #[serde(with = "secs::opt", default, skip_serializing_if = "Option::is_none")]
    pub closes: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flows: Vec<Flow>,
    /// Coupons granted, by id.
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub coupons: Fields,
    #[serde(default, skip_serializing_if = "is_null")]
    pub received: Value,
    /// Events some `wait for … since entry` still ahead may look back for
    /// (not the one that created the enrollment).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seen: Vec<Seen>,
    /// Runs per site, for idempotency keys.
    #[serde(default, skip_serializing_if = "Occurrences::is_empty")]
    pub occurrences: Occurrences,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub plants: u32,
    /// Steps reached, as a bit set over the version's steps (for the funnel).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reached: Vec<u64>,
}

impl Enrollment {
    /// Marks a step reached; says whether it is the first time.
    pub fn reach(&mut self, step: usize) -> bool {
        let (word, bit) = (step / 64, 1u64 << (step % 64));
        if self.reached.len() <= word {
            self.reached.resize(word + 1, 0);
        }
        let first = self.reached[word] & bit == 0;
        self.reached[word] |= bit;
        first
    }

    /// Keeps what attribution needs once flow and hooks are done.
    pub fn shrink(&mut self) {
        self.flows = Vec::new();
        self.event = Value::Null;
        self.coupons = Fields::new();
        self.received = Value::Null;
        self.seen = Vec::new();
        self.occurrences = Occurrences::default();
        self.reached = Vec::new();
    }
}

/// What is left of a playbook's ended enrollments: enough for `reenter` and
/// for numbering the next one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Past {
    pub playbook: Sym,
    /// The number of the last enrollment.
    pub n: u32,
    /// When the last enrollment started.
    #[serde(with = "secs")]
    pub entered: DateTime<Utc>,
}

/// A counted 1:1 send already emitted for this customer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sent {
    #[serde(rename = "t", with = "secs")]
    pub at: DateTime<Utc>,
    #[serde(rename = "p")]
    pub playbook: Sym,
    #[serde(rename = "c")]
    pub channel: Sym,
    #[serde(rename = "k", default = "service", skip_serializing_if = "is_service")]
    pub kind: Kind,
}

fn service() -> Kind {
    Kind::Service
}

/// The next fire of an `every` or `yearly` trigger.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scheduled {
    #[serde(with = "secs")]
    pub at: DateTime<Utc>,
    pub playbook: Sym,
    /// The trigger's canonical text.
    pub trigger: Sym,
    /// `yearly`: the date the fire was computed from (a changed date reschedules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date: Option<NaiveDate>,
    /// `yearly`: the anniversary year of `at`, and of the last fire (one fire per anniversary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub year: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fired: Option<i32>,
}

/// Whether the customer is in an `enter` trigger's segment: it fires on false → true only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Membership {
    pub playbook: Sym,
    pub trigger: Sym,
    pub member: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomerState {
    /// The stored form's format (see [`FORMAT`]).
    #[serde(default)]
    pub format: u32,
    /// Shared with every delivery and record of this customer. Empty for the
    /// pseudo-customer that broadcasts run on.
    pub id: Arc<str>,
    #[serde(default, skip_serializing_if = "Fields::is_empty")]
    pub attrs: Fields,
    #[serde(default, skip_serializing_if = "is_false")]
    pub do_not_contact: bool,
    /// Counted sends of the last 32 days (caps look back a month at most).
    #[serde(default, skip_serializing_if = "super::ledger::Ledger::is_empty")]
    pub ledger: super::ledger::Ledger,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub enrollments: Vec<Enrollment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub past: Vec<Past>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub schedule: Vec<Scheduled>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub memberships: Vec<Membership>,
    /// The next local midnight, when some `enter` segment reads the clock.
    #[serde(with = "secs::opt", default, skip_serializing_if = "Option::is_none")]
    pub next_midnight: Option<DateTime<Utc>>,
}

impl CustomerState {
    pub fn new(id: impl Into<Arc<str>>, attrs: Fields) -> Self {
        CustomerState {
            format: FORMAT,
            id: id.into(),
            attrs,
            ..Self::default()
        }
    }

    /// The earliest instant this customer wants to run by itself.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.enrollments
            .iter()
            .flat_map(|e| match e.status {
                Status::Active => e.flows.iter().filter_map(|f| f.wait.due()).min(),
                Status::Attributing => e.closes,
                Status::Ended => None,
            })
            .chain(self.schedule.iter().map(|s| s.at))
            .chain(self.next_midnight)
            .min()
    }

    /// The active enrollment in a playbook, if any.
    pub fn active(&self, playbook: &str) -> Option<usize> {
        self.enrollments
            .iter()
            .position(|e| &*e.playbook == playbook && e.status == Status::Active)
    }

    /// The number and start of the latest enrollment in a playbook, ended or not.
    pub fn last(&self, playbook: &str) -> Option<(u32, DateTime<Utc>)> {
        self.enrollments
            .iter()
            .filter(|e| &*e.playbook == playbook)
            .map(|e| (e.n, e.entered))
            .chain(
                self.past
                    .iter()
                    .filter(|p| &*p.playbook == playbook)
                    .map(|p| (p.n, p.entered)),
            )
            .max_by_key(|(n, _)| *n)
    }

    /// The stored form, as JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a customer's state serialises")
    }

    /// Reads a stored state; one from a newer tend (a format this one does
    /// not know) is refused rather than read with its new parts lost.
    pub fn from_json(text: &str) -> Result<CustomerState, serde_json::Error> {
        let mut c: CustomerState = serde_json::from_str(text)?;
        if c.format > FORMAT {
            return Err(serde::de::Error::custom(format!(
                "this state was stored in format {}, newer than this tend reads ({FORMAT})",
                c.format
            )));
        }
        c.format = FORMAT;
        Ok(c)
    }
}

/// Runs per site of one enrollment, for idempotency keys; stored as a map
/// from site path to count. Kept sorted by site, so a state read back writes
/// out byte for byte the same.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Occurrences(Vec<(Sym, u32)>);

impl Serialize for Occurrences {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, n)| (&**k, n)))
    }
}

impl<'de> Deserialize<'de> for Occurrences {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let m = std::collections::BTreeMap::<String, u32>::deserialize(d)?;
        Ok(Occurrences(
            m.into_iter().map(|(k, n)| (k.into(), n)).collect(),
        ))
    }
}

impl Occurrences {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Counts one more run of `site`; returns how many runs came before.
    pub fn count(&mut self, site: Sym) -> u32 {
        match self.0.binary_search_by(|(k, _)| k.cmp(&site)) {
            Ok(i) => {
                self.0[i].1 += 1;
                self.0[i].1 - 1
            }
            Err(i) => {
                self.0.insert(i, (site, 1));
                0
            }
        }
    }

    /// Takes back the last run of `site` (a deferred send runs again with the same key).
    pub fn uncount(&mut self, site: Sym) {
        if let Ok(i) = self.0.binary_search_by(|(k, _)| k.cmp(&site)) {
            self.0[i].1 = self.0[i].1.saturating_sub(1);
        }
    }
}
