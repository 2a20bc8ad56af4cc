//! One customer's state as the engine sees it: attributes, do-not-contact
//! mark, send ledger for caps, enrollments and their flows.

use super::admission::Sent;
use super::value::Value;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Where a flow is: a step, the path of (action index, branch) into nested
/// blocks, and the index of the next action in the innermost block.
/// Branch 0 is an `if`'s then-block, 1 its else-block, 2 a hook's body.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub step: usize,
    pub path: Vec<(usize, u8)>,
    pub idx: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Wait {
    /// Ready to run.
    Ready,
    /// Sleeping until an instant (wait, wait until, a hook's fire time).
    Until(DateTime<Utc>),
    /// A send deferred by quiet hours or caps, retried at `at`.
    Deferred {
        at: DateTime<Utc>,
        from: DateTime<Utc>,
        reason: &'static str,
    },
    /// `wait for`: the event, its deadline, where to go on timeout.
    Event {
        name: String,
        deadline: Option<DateTime<Utc>>,
        else_step: Option<usize>,
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

#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// `None` for the main flow; a hook's name and plant number otherwise.
    pub hook: Option<(String, u32)>,
    /// Path depth of the hook's body (the flow ends when it leaves it).
    pub root_depth: usize,
    pub cursor: Cursor,
    pub wait: Wait,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Active,
    /// Flow and hooks done; a goal event inside the window still converts.
    Attributing,
    Ended,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Enrollment {
    /// Index of the playbook in the program.
    pub playbook: usize,
    pub n: u32,
    pub entered: DateTime<Utc>,
    /// The payload of the event that created it (`event.*` in steps).
    pub event: Value,
    pub held_out: bool,
    pub status: Status,
    pub converted: bool,
    pub flows: Vec<Flow>,
    /// Coupons granted, by id (a record).
    pub coupons: Value,
    pub received: Value,
    /// Events seen since entry that some `wait for … since entry` of the
    /// playbook looks back for (not the one that created the enrollment).
    pub seen: Vec<(String, DateTime<Utc>, Value)>,
    /// Executions per site (for idempotency keys).
    pub occurrences: Occurrences,
    pub plants: u32,
    /// Steps reached (for the funnel).
    pub reached: Vec<usize>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerState {
    /// Shared with every delivery and record of this customer.
    pub id: std::sync::Arc<str>,
    pub attrs: BTreeMap<String, Value>,
    pub do_not_contact: bool,
    pub ledger: Vec<Sent>,
    pub enrollments: Vec<Enrollment>,
    /// Next fire of each `every … for` / `yearly` trigger (and, for the broadcast
    /// pseudo-customer, each broadcast `every`): (instant, playbook, trigger index).
    pub schedule: Vec<(DateTime<Utc>, usize, usize)>,
    /// `enter` membership per (playbook, trigger index): fires on false → true only.
    pub memberships: BTreeMap<(usize, usize), bool>,
    /// The next local midnight, when some `enter` segment reads the clock.
    pub next_midnight: Option<DateTime<Utc>>,
}

impl CustomerState {
    pub fn new(id: impl Into<String>, attrs: BTreeMap<String, Value>) -> Self {
        CustomerState {
            id: id.into().into(),
            attrs,
            ..Self::default()
        }
    }

    /// The earliest instant any flow wants to run.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.enrollments
            .iter()
            .filter(|e| e.status == Status::Active)
            .flat_map(|e| e.flows.iter().filter_map(|f| f.wait.due()))
            .chain(self.schedule.iter().map(|s| s.0))
            .chain(self.next_midnight)
            .min()
    }

    pub fn active(&self, playbook: usize) -> Option<usize> {
        self.enrollments
            .iter()
            .position(|e| e.playbook == playbook && e.status == Status::Active)
    }
}

impl Enrollment {
    pub fn new(playbook: usize, n: u32, entered: DateTime<Utc>, event: Value, flow: Flow) -> Self {
        Enrollment {
            playbook,
            n,
            entered,
            event,
            held_out: false,
            status: Status::Active,
            converted: false,
            flows: vec![flow],
            coupons: Value::Record(BTreeMap::new()),
            received: Value::Null,
            seen: Vec::new(),
            occurrences: Occurrences::default(),
            plants: 0,
            reached: Vec::new(),
        }
    }

    pub fn grant(&mut self, coupon: &str, record: Value) {
        if let Value::Record(m) = &mut self.coupons {
            m.insert(coupon.to_string(), record);
        }
    }
}

/// Executions per site of one enrollment, for idempotency keys. Sites are
/// told apart by a 64-bit hash: two sites sharing a counter would only number
/// their runs differently, and the key hashes the site itself, so keys stay
/// unique either way.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Occurrences(Vec<(u64, u32)>);

impl Occurrences {
    /// Counts one more run of `site`; returns how many runs came before.
    pub fn count(&mut self, site: &str) -> u32 {
        let h = fnv1a(site.as_bytes());
        match self.0.iter_mut().find(|(k, _)| *k == h) {
            Some((_, n)) => {
                *n += 1;
                *n - 1
            }
            None => {
                self.0.push((h, 1));
                0
            }
        }
    }

    /// Takes back the last run of `site` (a deferred send runs again with the same key).
    pub fn uncount(&mut self, site: &str) {
        let h = fnv1a(site.as_bytes());
        if let Some((_, n)) = self.0.iter_mut().find(|(k, _)| *k == h) {
            *n = n.saturating_sub(1);
        }
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
