//! What the engine emits: deliveries (messages, coupon grants, tasks),
//! records of everything else worth knowing, and the funnel's steps reached.
//! Effects own their data, so a delivery can be written to a database row as
//! it is, and carry what an adapter needs (resolved at admission, so the
//! simulator shows it too).

use crate::program::Touchpoint;
use crate::value::{Sym, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    Deliver(Delivery),
    Record(Record),
    /// An enrollment reached a step for the first time (the funnel).
    Reached(Reached),
}

/// A delivery through a channel: a message, a coupon grant or a task.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub at: DateTime<Utc>,
    /// `None` for a broadcast.
    pub customer: Option<Arc<str>>,
    pub playbook: Sym,
    pub version: Sym,
    /// The enrollment's number (the customer's n-th in this playbook).
    pub enrollment: u32,
    /// The step, or `step/hook NAME` inside a hook.
    pub step: Sym,
    pub channel: Sym,
    pub touchpoint: Touchpoint,
    /// The template, or the coupon id of a grant; `None` for inline texts and tasks.
    pub template: Option<Sym>,
    pub variant: Option<Sym>,
    pub text: Option<String>,
    pub deferred_from: Option<DateTime<Utc>>,
    pub reason: Option<DeferReason>,
    /// The action's site and the run of it this is (with the rest, the
    /// idempotency key: see [`Delivery::key`]).
    pub site: Sym,
    pub plant: u32,
    pub occurrence: u32,
    /// What some adapters need besides the text.
    pub extra: Option<Box<Extra>>,
}

impl Delivery {
    /// The idempotency key: the first 16 bytes of a SHA-256 over the playbook
    /// version, the customer (empty for a broadcast), the playbook, the
    /// enrollment number, the site, the hook's plant number and the
    /// occurrence, joined by U+001F. Computed when asked: a dry-run's table
    /// never needs it.
    pub fn key(&self) -> Key {
        let (mut n, mut p, mut o) = ([0u8; 20], [0u8; 20], [0u8; 20]);
        Key::new(&[
            self.version.as_bytes(),
            self.customer.as_deref().unwrap_or("").as_bytes(),
            self.playbook.as_bytes(),
            decimal(u64::from(self.enrollment), &mut n),
            self.site.as_bytes(),
            decimal(u64::from(self.plant), &mut p),
            decimal(u64::from(self.occurrence), &mut o),
        ])
    }
}

/// `n` in decimal, written into `buf`.
fn decimal(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return &buf[at..];
        }
    }
}

/// A grant's worth and expiry, a task's assignee, and the channel settings
/// that name customer or event data, resolved for this delivery.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Extra {
    pub grant: Option<Grant>,
    pub assignee: Option<Arc<str>>,
    pub settings: Vec<(Sym, Value)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grant {
    /// Yuan.
    pub worth: f64,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reached {
    pub playbook: Sym,
    pub step: Sym,
}

/// Why a send went out later than it was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DeferReason {
    #[serde(rename = "quiet")]
    Quiet,
    #[serde(rename = "cap")]
    Cap,
    #[serde(rename = "quiet,cap")]
    QuietCap,
}

impl DeferReason {
    pub fn name(self) -> &'static str {
        match self {
            DeferReason::Quiet => "quiet",
            DeferReason::Cap => "cap",
            DeferReason::QuietCap => "quiet,cap",
        }
    }

    /// Both reasons once a send was held for one and then the other.
    pub fn and(self, other: DeferReason) -> DeferReason {
        if self == other {
            self
        } else {
            DeferReason::QuietCap
        }
    }
}

/// An idempotency key: the first 16 bytes of a SHA-256 over the playbook
/// version, the enrollment (customer, playbook, n), the site, the hook's
/// plant number and the occurrence, joined by U+001F; written as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 16]);

impl Key {
    pub fn new(parts: &[&[u8]]) -> Key {
        let mut h = Sha256::new();
        for (k, part) in parts.iter().enumerate() {
            if k > 0 {
                h.update(b"\x1f");
            }
            h.update(part);
        }
        let mut key = [0; 16];
        key.copy_from_slice(&h.finalize()[..16]);
        Key(key)
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "\"{self}\"")
    }
}

impl Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Anything else worth knowing about a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub at: DateTime<Utc>,
    /// `None` for a broadcast.
    pub customer: Option<Arc<str>>,
    /// `None` for an event nothing consumed.
    pub playbook: Option<Sym>,
    /// The step (or `step/hook NAME`) of a send, grant or task that did not
    /// go out as due: the report counts them per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<Sym>,
    pub kind: RecordKind,
    pub detail: Detail,
}

macro_rules! record_kinds {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// What a record is about; `name()` is its stable name in reports.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum RecordKind { $($variant),* }

        impl RecordKind {
            pub const ALL: &'static [RecordKind] = &[$(RecordKind::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(RecordKind::$variant => $name),* }
            }
        }
    };
}

record_kinds! {
    Entered => "entered",
    Ignored => "ignored",
    Suppressed => "suppressed",
    Deferred => "deferred",
    Dropped => "dropped",
    Unreachable => "unreachable",
    RenderError => "render-error",
    EmptyText => "empty-text",
    HookPlanted => "hook-planted",
    HookReplaced => "hook-replaced",
    HookCancelled => "hook-cancelled",
    HookUnplanted => "hook-unplanted",
    WaitSkipped => "wait-skipped",
    Goal => "goal",
    Stopped => "stopped",
    Finished => "finished",
    Failed => "failed",
    Unconsumed => "unconsumed",
    SkippedFire => "skipped-fire",
    Late => "late",
    Held => "held",
    Released => "released",
}

impl Serialize for RecordKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for RecordKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<str>>::deserialize(d)?;
        RecordKind::ALL
            .iter()
            .copied()
            .find(|k| k.name() == name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown record kind `{name}`")))
    }
}

/// What a record says. The common ones keep their parts and are written out
/// only when shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Detail {
    Text(String),
    Entered {
        held_out: bool,
    },
    Goal {
        converted: bool,
    },
    Deferred {
        reason: DeferReason,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Planted {
        hook: Sym,
        at: DateTime<Utc>,
    },
    /// An event nothing consumed.
    Event(Sym),
}

impl Detail {
    /// The detail with its times in `zone` (reports show a customer's local times).
    pub fn in_zone(&self, zone: Tz) -> String {
        let t = |at: &DateTime<Utc>| at.with_timezone(&zone).to_rfc3339();
        match self {
            Detail::Text(text) => text.clone(),
            Detail::Entered { held_out } => if *held_out { "held out" } else { "" }.to_string(),
            Detail::Goal { converted } => if *converted {
                "converted"
            } else {
                "outside the window"
            }
            .to_string(),
            Detail::Deferred { reason, from, to } => {
                format!("{} from {} to {}", reason.name(), t(from), t(to))
            }
            Detail::Planted { hook, at } => format!("{hook} at {}", t(at)),
            Detail::Event(name) => name.to_string(),
        }
    }
}

impl std::fmt::Display for Detail {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.in_zone(Tz::UTC))
    }
}

impl From<String> for Detail {
    fn from(s: String) -> Self {
        Detail::Text(s)
    }
}

impl From<&str> for Detail {
    fn from(s: &str) -> Self {
        Detail::Text(s.to_string())
    }
}
