//! The checked, resolved, immutable program the engine interprets. Names are
//! resolved once, here: jump and `else` targets and split arms are step ids,
//! templates and segments are shared pointers, data roots and functions are
//! enums, cron patterns are read once. Each playbook carries its *version*,
//! the hash of a canonical text of everything it uses (see `version.rs`), so
//! an engine can hold several versions of one playbook side by side.
//!
//! Built from the syntax trees and tend.toml after checking found no errors;
//! the lint rules never see this form, and the engine never sees theirs.

mod lower;
pub mod show;
pub mod version;
pub mod walk;

pub use crate::config::{CapPeriod as Period, Limit, Limits, MaxLength, Quiet, Touchpoint};
pub use crate::syntax::ast::BinaryOp;
pub use lower::{build, expression};

use crate::value::{Sym, Value};
use chrono::{NaiveDate, NaiveDateTime, Weekday};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a template is for: the lint rules and per-kind caps read it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Service,
    Care,
    Content,
    Promo,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        Some(match s {
            "service" => Kind::Service,
            "care" => Kind::Care,
            "content" => Kind::Content,
            "promo" => Kind::Promo,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Service => "service",
            Kind::Care => "care",
            Kind::Content => "content",
            Kind::Promo => "promo",
        }
    }
}

/// A whole project, ready to run: the policy and the newest version of each playbook.
#[derive(Debug, Clone)]
pub struct Program {
    pub policy: Arc<Policy>,
    /// In name order, the order of work.
    pub playbooks: Vec<Arc<Playbook>>,
}

impl Program {
    pub fn playbook(&self, name: &str) -> Option<&Arc<Playbook>> {
        self.playbooks.iter().find(|p| &*p.name == name)
    }
}

/// What always applies as currently configured, whatever version an
/// enrollment runs on: channels, `[limits]`, opt-out and opt-in events, the
/// project's zone and schema.
#[derive(Debug, Clone)]
pub struct Policy {
    /// tend.toml's `timezone` (UTC when missing, which checking reports).
    pub zone: Tz,
    pub schema: Arc<crate::intake::Schema>,
    /// Opt-out events that are declared (undeclared ones are ignored).
    pub opt_out: Vec<Sym>,
    pub opt_in: Vec<Sym>,
    pub limits: Limits,
    /// By name.
    pub channels: Vec<Channel>,
}

impl Policy {
    pub fn channel(&self, name: &str) -> Option<&Channel> {
        // Sends name channels with the program's own text: try that first.
        self.channels
            .iter()
            .find(|c| std::ptr::eq(c.name.as_ptr(), name.as_ptr()))
            .or_else(|| {
                self.channels
                    .binary_search_by(|c| (*c.name).cmp(name))
                    .ok()
                    .map(|i| &self.channels[i])
            })
    }

    /// Whether the schema declares a customer attribute `owner` (who gets tasks).
    pub fn has_owner(&self) -> bool {
        self.schema.customer.contains_key("owner")
    }
}

#[derive(Debug, Clone)]
pub struct Channel {
    pub name: Sym,
    pub touchpoint: Touchpoint,
    pub adapter: String,
    pub quiet: Option<Quiet>,
    pub cap: Option<Limit>,
    /// How records name the channel's cap: `channel NAME`.
    pub cap_name: Sym,
    /// The longest text it delivers (longer ones are not sent).
    pub max_length: MaxLength,
    /// A condition on the customer; a send to a customer who fails it is skipped.
    pub requires: Option<Expr>,
    /// Adapter settings as written (`${VAR}` unresolved).
    pub settings: BTreeMap<String, String>,
    /// Settings whose value names customer or event data
    /// (`to = "customer.email"`): resolved for each delivery.
    pub refs: Vec<SettingRef>,
}

/// A channel setting that names data: `customer.PATH` (a customer who lacks it
/// cannot be reached on the channel) or `event.PATH` (a field of the event that
/// started the enrollment, passed on when present).
#[derive(Debug, Clone)]
pub struct SettingRef {
    pub key: Sym,
    pub root: Root,
    pub path: Box<[Sym]>,
}

/// Where a playbook's times are computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Zone {
    Named(Tz),
    /// `timezone customer`: the customer's zone, else tend.toml's.
    Customer,
    /// No `timezone` setting: tend.toml's.
    Project,
}

/// A duration as written: calendar days (`w`, `d`), then elapsed seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dur {
    pub days: i64,
    pub seconds: i64,
}

#[derive(Debug, Clone)]
pub struct Cap {
    pub count: u32,
    pub period: Period,
    pub kind: Option<Kind>,
    pub drop: bool,
    /// How records name it: `cap 3 per day`.
    pub name: Sym,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reenter {
    Never,
    Always,
    After(Dur),
}

/// One version of one playbook, with everything it uses.
#[derive(Debug)]
pub struct Playbook {
    pub name: Sym,
    /// The first 8 bytes of the SHA-256 of `text`, in hex.
    pub version: Sym,
    /// The canonical text of the playbook's slice: what a store keeps to
    /// rebuild this version, and what the version hashes.
    pub text: Arc<str>,
    pub zone: Zone,
    /// Only `every` triggers without `for`: one run per fire, no customer.
    pub broadcast: bool,
    pub owner: Option<Sym>,
    pub quiet: Option<Quiet>,
    pub caps: Vec<Cap>,
    /// `None`: the default (never for event and enter triggers, always for scheduled ones).
    pub reenter: Option<Reenter>,
    /// Basis points held out.
    pub holdout: Option<u32>,
    pub triggers: Vec<Trigger>,
    pub goal: Option<Goal>,
    pub stops: Vec<Stop>,
    pub steps: Vec<Step>,
    /// Per step: the events a `wait for … since entry` reachable from the
    /// step's start looks back for (only those are remembered).
    pub looks_back: Vec<Vec<Sym>>,
    /// Events a `wait for … since entry` with a condition looks back for.
    pub looks_back_if: Vec<Sym>,
    /// The fields of the triggering event's payload its steps read
    /// (`None`: the payload as a whole). Enrollments keep only these.
    pub event_fields: Option<Vec<Sym>>,
}

impl Playbook {
    pub fn step_id(&self, name: &str) -> Option<StepId> {
        self.steps
            .iter()
            .position(|s| crate::value::same(&s.name, name))
    }

    /// Whether a `wait for … since entry` of this playbook looks back for `event`.
    pub fn looks_back_for(&self, event: Sym) -> bool {
        self.looks_back.iter().any(|l| l.contains(&event))
    }
}

pub type StepId = usize;

#[derive(Debug)]
pub struct Trigger {
    /// The trigger in canonical text (`every "0 20 * * 5" for vip`): how
    /// stored schedules and memberships name it across versions.
    pub id: Sym,
    pub kind: TriggerKind,
}

#[derive(Debug)]
pub enum TriggerKind {
    Event {
        event: Sym,
        cond: Option<Expr>,
    },
    Enter {
        segment: Arc<Segment>,
    },
    Every {
        cron: Box<croner::Cron>,
        segment: Option<Arc<Segment>>,
    },
    /// `yearly customer.PATH [± Nd] [at CLOCK]`.
    Yearly {
        path: Box<[Sym]>,
        offset_days: i64,
        /// Minutes after midnight.
        at: u32,
    },
}

#[derive(Debug)]
pub struct Goal {
    pub event: Sym,
    pub cond: Option<Expr>,
    pub within: Option<Dur>,
}

#[derive(Debug)]
pub struct Stop {
    pub event: Sym,
    pub cond: Option<Expr>,
}

#[derive(Debug)]
pub struct Step {
    pub name: Sym,
    pub body: Block,
}

pub type Block = Vec<Action>;

#[derive(Debug)]
pub enum Action {
    Send(Send),
    Wait(Dur),
    WaitUntil {
        at: TimeExpr,
        site: Sym,
    },
    WaitFor(WaitFor),
    If {
        cond: Expr,
        then: Block,
        otherwise: Option<Block>,
    },
    /// Arms as (basis points, target); `ordinal` is the split's position
    /// among the splits before it in its block (a part of its bucket).
    Split {
        arms: Vec<(u32, StepId)>,
        ordinal: usize,
    },
    Tag {
        add: bool,
        tags: Vec<Arc<str>>,
    },
    /// `set customer.PATH = EXPR` (the path after `customer`).
    Set {
        path: Box<[Sym]>,
        value: Expr,
    },
    Grant {
        site: Sym,
        coupon: Sym,
        worth: f64,
        valid: Dur,
    },
    Hook {
        name: Sym,
        /// How deliveries name where they came from: `step/hook NAME`.
        label: Sym,
        at: TimeExpr,
        body: Block,
    },
    /// A to-do for the customer's owner (else the playbook's); its text is a template.
    Task {
        site: Sym,
        text: Arc<str>,
    },
    Jump(StepId),
    End,
}

#[derive(Debug)]
pub struct Send {
    /// Where it is, for its idempotency key: `step/i.b/…/n` or `hook NAME/…/n`.
    pub site: Sym,
    pub channel: Sym,
    pub text: Text,
    pub with: Vec<(Sym, Expr)>,
}

#[derive(Debug, Clone)]
pub enum Text {
    Named(Arc<Template>),
    Inline(Arc<str>),
}

#[derive(Debug)]
pub struct WaitFor {
    pub event: Sym,
    pub cond: Option<Expr>,
    pub since_entry: bool,
    pub within: Option<Dur>,
    pub else_step: Option<StepId>,
}

#[derive(Debug)]
pub struct Template {
    pub name: Sym,
    pub kind: Kind,
    /// `text` first, then the variants in source order.
    pub wordings: Vec<Wording>,
}

#[derive(Debug)]
pub struct Wording {
    /// `None` for `text`.
    pub variant: Option<Sym>,
    pub source: Arc<str>,
}

#[derive(Debug)]
pub struct Segment {
    pub name: Sym,
    pub expr: Expr,
    /// Reads the clock (`days_since`, `age_years`), directly or through
    /// another segment: re-evaluated at each local midnight.
    pub reads_clock: bool,
}

#[derive(Debug)]
pub enum TimeExpr {
    /// `next [WEEKDAY] CLOCK`.
    Next {
        weekday: Option<Weekday>,
        clock: u32,
    },
    /// A base, `± D` terms left to right, then `at CLOCK` on the point's local date.
    Point {
        base: TimeBase,
        offsets: Vec<(i64, Dur)>,
        at: Option<u32>,
    },
}

#[derive(Debug)]
pub enum TimeBase {
    Now,
    Path(Root, Box<[Sym]>),
    Date(NaiveDate),
    /// Local to the zone in force.
    DateTime(NaiveDateTime),
}

/// What a path starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Customer,
    /// In steps, the payload of the event that started the enrollment; in
    /// trigger, goal and stop conditions, the incoming event.
    Event,
    /// The event a `wait for` received.
    Received,
    Coupon,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    DaysSince,
    AgeYears,
    Len,
    Lower,
    Has,
}

#[derive(Debug, Clone)]
pub enum Expr {
    Lit(Value),
    /// A datetime literal, local to the zone in force.
    LocalDateTime(NaiveDateTime),
    List(Vec<Expr>),
    /// A data path; an empty path is the whole root (`customer`).
    Path(Root, Box<[Sym]>),
    /// `customer.id` when the schema does not declare `id`: the customer's id.
    CustomerId,
    Now,
    /// `customer in SEGMENT` (`not in` when negated).
    InSegment {
        segment: Arc<Segment>,
        negated: bool,
    },
    Call(Func, Vec<Expr>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
}
