//! The step function: one customer, one input (an event, or the clock reaching
//! due timers), the current instant; it changes that customer's state and
//! returns effects. No I/O, no wall clock, no global RNG.

use super::admission::{admit, Admission, Cap, CapMax, Sent};
use super::bucket;
use super::eval::{self, Env};
use super::state::{Cursor, CustomerState, Enrollment, Flow, Status, Wait};
use super::text::{Scope, Texts};
use super::time;
use super::value::Value;
use crate::check::{CheckedPlaybook, Kind, Program, Zone};
use crate::config::Quiet;
use crate::syntax::ast::{
    self, ActionKind, Block, Reenter, TemplateRef, TimeBase, TimeExpr, TriggerKind,
};
use chrono::{DateTime, Datelike, Utc};
use chrono_tz::Tz;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// An incoming event for one customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: String,
    pub data: Value,
    /// A partial patch of the customer, applied before any condition sees the event.
    pub attributes: BTreeMap<String, Value>,
}

/// A delivery through a channel: a message, a coupon grant or a task.
/// Names are borrowed from the program the engine runs.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery<'p> {
    pub at: DateTime<Utc>,
    pub customer: Option<std::sync::Arc<str>>,
    pub playbook: &'p str,
    /// The step, or `step/hook NAME` inside a hook.
    pub step: Cow<'p, str>,
    pub channel: &'p str,
    pub touchpoint: &'static str,
    pub template: Option<&'p str>,
    pub variant: Option<&'p str>,
    pub text: Option<String>,
    pub deferred_from: Option<DateTime<Utc>>,
    pub reason: Option<&'static str>,
    pub key: Key,
}

/// An idempotency key (SEMANTICS.md §9): the first 16 bytes of a SHA-256,
/// written as 32 hex digits. Kept as bytes: most are never shown.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Key(pub [u8; 16]);

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

impl serde::Serialize for Key {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Anything else worth knowing (SEMANTICS.md §11).
#[derive(Debug, Clone, PartialEq)]
pub struct Record<'p> {
    pub at: DateTime<Utc>,
    pub customer: Option<std::sync::Arc<str>>,
    pub playbook: &'p str,
    pub kind: &'static str,
    pub detail: Detail<'p>,
}

/// What a record says. Deferrals and hook plants, the common ones, keep their
/// parts and are written out only when shown.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail<'p> {
    Text(Cow<'static, str>),
    Deferred {
        reason: &'static str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    Planted {
        hook: &'p str,
        at: DateTime<Utc>,
    },
}

impl std::fmt::Display for Detail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Detail::Text(t) => f.write_str(t),
            Detail::Deferred { reason, from, to } => write!(
                f,
                "{reason} from {} to {}",
                time::Rfc3339(*from),
                time::Rfc3339(*to)
            ),
            Detail::Planted { hook, at } => write!(f, "{hook} at {}", time::Rfc3339(*at)),
        }
    }
}

impl Detail<'_> {
    /// The detail with its times in `zone` (reports show a customer's local times).
    pub fn in_zone(&self, zone: Tz) -> String {
        let t = |at: &DateTime<Utc>| at.with_timezone(&zone).to_rfc3339();
        match self {
            Detail::Text(text) => text.to_string(),
            Detail::Deferred { reason, from, to } => {
                format!("{reason} from {} to {}", t(from), t(to))
            }
            Detail::Planted { hook, at } => format!("{hook} at {}", t(at)),
        }
    }
}

impl From<String> for Detail<'_> {
    fn from(s: String) -> Self {
        Detail::Text(s.into())
    }
}

impl From<&'static str> for Detail<'_> {
    fn from(s: &'static str) -> Self {
        Detail::Text(s.into())
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Effect<'p> {
    Deliver(Delivery<'p>),
    Record(Record<'p>),
}

/// Due timers sort by: due instant, playbook name, enrollment number, main flow
/// before hooks, hook name, plant number; then the enrollment and flow indices.
type DueKey<'a> = (
    DateTime<Utc>,
    &'a str,
    u32,
    bool,
    &'a str,
    u32,
    usize,
    usize,
);

/// A template's wordings: variant name (`None` for `text`) and source.
/// What a send can say: a template's text and variants, or an inline text.
#[derive(Clone, Copy)]
enum Wordings<'p> {
    Named(&'p [crate::check::templates::Wording]),
    Inline(&'p str),
}

/// Actions one input may run without blocking before the enrollment is failed.
const RUNAWAY: usize = 10_000;

pub struct Engine<'p> {
    pub program: &'p Program,
    default_zone: Tz,
    /// Playbook indices in name order (the order of work).
    order: Vec<usize>,
    versions: Vec<String>,
    /// Per playbook: the events some `wait for … since entry` may look back for
    /// (only those are remembered).
    since_entry: Vec<Vec<&'p str>>,
    /// The channels by name, in order (a channel's number in the send ledger).
    channels: Vec<(&'p str, &'p crate::config::Channel)>,
    /// How caps are named in records: per playbook cap, per `[limits]` count, per channel.
    cap_names: Vec<Vec<(String, Option<Kind>)>>,
    limit_names: Vec<String>,
    channel_cap_names: Vec<String>,
    texts: Texts<'p>,
    /// Per playbook, per trigger: its cron pattern, read once (reading one
    /// costs far more than finding its next fire).
    crons: Vec<Vec<Option<croner::Cron>>>,
    /// Tells this engine's remembered fires from another's (see `next_fire`).
    id: u64,
}

struct Ctx<'a, 'p> {
    now: DateTime<Utc>,
    out: &'a mut Vec<Effect<'p>>,
}

impl<'p> Engine<'p> {
    pub fn new(program: &'p Program) -> Self {
        let mut order: Vec<usize> = (0..program.playbooks.len()).collect();
        order.sort_by(|a, b| {
            program.playbooks[*a]
                .def
                .name
                .name
                .cmp(&program.playbooks[*b].def.name.name)
        });
        let versions = program
            .playbooks
            .iter()
            .map(|p| hex(&Sha256::digest(format!("{:?}", strip(&p.def)).as_bytes())[..8]))
            .collect();
        Engine {
            program,
            default_zone: program.config.timezone.unwrap_or(chrono_tz::UTC),
            order,
            versions,
            id: {
                static ENGINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
                ENGINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            crons: program
                .playbooks
                .iter()
                .map(|p| {
                    p.def
                        .triggers
                        .iter()
                        .map(|t| match &t.kind {
                            TriggerKind::Every { cron, .. } => crate::cron::parse(&cron.value).ok(),
                            _ => None,
                        })
                        .collect()
                })
                .collect(),
            since_entry: program
                .playbooks
                .iter()
                .map(|p| {
                    let mut names = Vec::new();
                    for s in &p.def.steps {
                        each_action(&s.body, &mut |a| match &a.kind {
                            ActionKind::WaitFor(w) if w.since_entry => {
                                names.push(w.event.name.as_str())
                            }
                            _ => {}
                        });
                    }
                    names
                })
                .collect(),
            channels: program
                .config
                .channels
                .iter()
                .map(|(n, ch)| (n.as_str(), ch))
                .collect(),
            cap_names: program
                .playbooks
                .iter()
                .map(|p| {
                    p.def
                        .settings
                        .caps
                        .iter()
                        .map(|c| {
                            let name = format!("cap {} per {}", c.count, c.period.name());
                            (name, c.kind.as_ref().and_then(|k| Kind::parse(&k.name)))
                        })
                        .collect()
                })
                .collect(),
            limit_names: program
                .config
                .limits
                .counts()
                .map(|(_, _, name)| format!("[limits] {name}"))
                .collect(),
            channel_cap_names: program
                .config
                .channels
                .keys()
                .map(|n| format!("channel {n}"))
                .collect(),
            texts: Texts::new(program),
        }
    }

    fn pb(&self, i: usize) -> &'p CheckedPlaybook {
        &self.program.playbooks[i]
    }

    pub fn customer_zone(&self, c: &CustomerState) -> Tz {
        match c.attrs.get("timezone") {
            Some(Value::Str(s)) => s.parse().unwrap_or(self.default_zone),
            _ => self.default_zone,
        }
    }

    fn zone(&self, c: &CustomerState, pb: usize) -> Tz {
        match self.pb(pb).zone {
            Zone::Named(tz) => tz,
            Zone::Customer => self.customer_zone(c),
            Zone::Project => self.default_zone,
        }
    }

    fn record(
        &self,
        ctx: &mut Ctx<'_, 'p>,
        c: &CustomerState,
        pb: usize,
        kind: &'static str,
        detail: impl Into<Detail<'p>>,
    ) {
        ctx.out.push(Effect::Record(Record {
            at: ctx.now,
            customer: Some(c.id.clone()),
            playbook: &self.pb(pb).def.name.name,
            kind,
            detail: detail.into(),
        }));
    }

    /// Handles one event for this customer (SEMANTICS.md C2 (2)).
    pub fn handle_event(
        &self,
        c: &mut CustomerState,
        now: DateTime<Utc>,
        ev: &Event,
    ) -> Vec<Effect<'p>> {
        let mut out = Vec::new();
        self.handle_event_into(c, now, ev, &mut out);
        out
    }

    /// [`Engine::handle_event`], appending the effects to `out`.
    pub fn handle_event_into(
        &self,
        c: &mut CustomerState,
        now: DateTime<Utc>,
        ev: &Event,
        out: &mut Vec<Effect<'p>>,
    ) {
        let mut ctx = Ctx { now, out };
        for (k, v) in &ev.attributes {
            match c.attrs.get_mut(k) {
                Some(old) => *old = v.clone(),
                None => {
                    c.attrs.insert(k.clone(), v.clone());
                }
            }
        }
        if self
            .program
            .config
            .declared_opt_outs()
            .any(|n| n == ev.name)
        {
            c.do_not_contact = true;
            for i in 0..c.enrollments.len() {
                if c.enrollments[i].status == Status::Active {
                    let pb = c.enrollments[i].playbook;
                    self.end(c, i, &mut ctx, "stopped", format!("opt-out: {}", ev.name));
                    let _ = pb;
                }
            }
            return;
        }
        if self.program.config.opt_in_events.contains(&ev.name) {
            c.do_not_contact = false;
        }
        let mut consumed = false;
        for &pb in &self.order {
            for i in 0..c.enrollments.len() {
                if c.enrollments[i].playbook == pb && c.enrollments[i].status != Status::Ended {
                    consumed |= self.offer(c, i, ev, &mut ctx);
                }
            }
        }
        for &pb in &self.order {
            for t in &self.pb(pb).def.triggers {
                let TriggerKind::Event { event, cond } = &t.kind else {
                    continue;
                };
                if event.name != ev.name {
                    continue;
                }
                let ok = cond
                    .as_ref()
                    .is_none_or(|e| self.cond(c, pb, e, &ev.data, &Value::Null, &Value::Null, now));
                if ok {
                    consumed = true;
                    self.enroll(c, pb, ev.data.clone(), &mut ctx, false);
                    break;
                }
            }
        }
        self.reevaluate_enter(c, &mut ctx);
        if !consumed {
            ctx.out.push(Effect::Record(Record {
                at: now,
                customer: Some(c.id.clone()),
                playbook: "",
                kind: "unconsumed",
                detail: ev.name.clone().into(),
            }));
        }
    }

    /// Offers an event to one enrollment: stop > goal > `wait for`. Says whether it was used.
    fn offer(&self, c: &mut CustomerState, i: usize, ev: &Event, ctx: &mut Ctx<'_, 'p>) -> bool {
        let pb = c.enrollments[i].playbook;
        let def = &self.pb(pb).def;
        let now = ctx.now;
        let active = c.enrollments[i].status == Status::Active;
        if active {
            for s in &def.stops {
                if s.event.name == ev.name
                    && s.cond.as_ref().is_none_or(|e| {
                        self.cond(c, pb, e, &ev.data, &Value::Null, &Value::Null, now)
                    })
                {
                    self.end(c, i, ctx, "stopped", format!("event {}", ev.name));
                    return true;
                }
            }
        }
        if let Some(g) = &def.goal {
            if g.event.name == ev.name
                && g.cond
                    .as_ref()
                    .is_none_or(|e| self.cond(c, pb, e, &ev.data, &Value::Null, &Value::Null, now))
            {
                let zone = self.zone(c, pb);
                let e = &c.enrollments[i];
                let inside = g
                    .within
                    .is_none_or(|d| now < time::add(zone, e.entered, d.days, d.seconds));
                if !e.converted {
                    let detail = if inside {
                        "converted"
                    } else {
                        "outside the window"
                    };
                    c.enrollments[i].converted = inside;
                    if active {
                        self.end(c, i, ctx, "goal", detail);
                    } else if inside {
                        self.record(ctx, c, pb, "goal", detail);
                    }
                    return true;
                }
            }
        }
        if !active {
            return false;
        }
        if self.since_entry[pb].contains(&ev.name.as_str()) {
            c.enrollments[i]
                .seen
                .push((ev.name.clone(), now, ev.data.clone()));
        }
        let mut used = false;
        for f in 0..c.enrollments[i].flows.len() {
            let Wait::Event { name, opened, .. } = &c.enrollments[i].flows[f].wait else {
                continue;
            };
            if *name != ev.name || *opened > now {
                continue;
            }
            let Some(ActionKind::WaitFor(w)) = self
                .action_at(pb, &c.enrollments[i].flows[f].cursor)
                .map(|a| &a.kind)
            else {
                continue;
            };
            let event = &c.enrollments[i].event;
            if w.cond
                .as_ref()
                .is_some_and(|e| !self.cond(c, pb, e, event, &ev.data, &Value::Null, now))
            {
                continue;
            }
            used = true;
            c.enrollments[i].received = ev.data.clone();
            let flow = &mut c.enrollments[i].flows[f];
            flow.wait = Wait::Ready;
            flow.cursor.idx += 1;
            self.run(c, i, f, ctx, None);
            if c.enrollments[i].status != Status::Active {
                break;
            }
        }
        used
    }

    /// Runs every flow whose timer is due at or before `now`, in the order of C2 (1).
    pub fn handle_timers(&self, c: &mut CustomerState, now: DateTime<Utc>) -> Vec<Effect<'p>> {
        let mut out = Vec::new();
        self.handle_timers_into(c, now, &mut out);
        out
    }

    /// [`Engine::handle_timers`], appending the effects to `out`.
    pub fn handle_timers_into(
        &self,
        c: &mut CustomerState,
        now: DateTime<Utc>,
        out: &mut Vec<Effect<'p>>,
    ) {
        let mut ctx = Ctx { now, out };
        for _ in 0..RUNAWAY {
            let first = c
                .enrollments
                .iter()
                .enumerate()
                .filter(|(_, e)| e.status == Status::Active)
                .flat_map(|(i, e)| {
                    e.flows.iter().enumerate().filter_map(move |(f, flow)| {
                        let t = flow.wait.due().filter(|t| *t <= now)?;
                        let (hook, plant) = flow
                            .hook
                            .as_ref()
                            .map_or(("", 0), |(h, p)| (h.as_str(), *p));
                        let name = self.pb(e.playbook).def.name.name.as_str();
                        let key: DueKey = (t, name, e.n, flow.hook.is_some(), hook, plant, i, f);
                        Some(key)
                    })
                })
                .min()
                .map(|k| (k.0, k.6, k.7));
            let flow_t = first.as_ref().map(|f| f.0);
            let sched = c
                .schedule
                .iter()
                .enumerate()
                .filter(|(_, s)| s.0 <= now)
                .min_by(|a, b| {
                    (a.1 .0, &self.pb(a.1 .1).def.name.name)
                        .cmp(&(b.1 .0, &self.pb(b.1 .1).def.name.name))
                })
                .map(|(k, s)| (s.0, k));
            let midnight = c.next_midnight.filter(|t| *t <= now);
            // Earliest due instant first; at a tie: enrollment timers, trigger fires, midnight checks.
            if let Some((t, k)) = sched {
                if flow_t.is_none_or(|ft| t < ft) && midnight.is_none_or(|m| t <= m) {
                    self.fire(c, k, &mut ctx);
                    continue;
                }
            }
            if let Some(m) = midnight {
                if flow_t.is_none_or(|ft| m < ft) {
                    let zone = self.customer_zone(c);
                    c.next_midnight = Some(time::start_of(
                        zone,
                        time::local(zone, m).date() + chrono::Duration::days(1),
                    ));
                    self.reevaluate_enter(c, &mut ctx);
                    continue;
                }
            }
            let Some(first) = first else {
                break;
            };
            let (_, i, f) = first;
            let flow = &mut c.enrollments[i].flows[f];
            let retry = match std::mem::replace(&mut flow.wait, Wait::Ready) {
                Wait::Until(_) => None,
                Wait::Deferred { from, reason, .. } => Some((from, reason)),
                Wait::Event { else_step, .. } => {
                    match else_step {
                        Some(s) => {
                            flow.cursor = Cursor {
                                step: s,
                                path: Vec::new(),
                                idx: 0,
                            }
                        }
                        None => flow.cursor.idx += 1,
                    }
                    if let Some(s) = else_step {
                        c.enrollments[i].reached.push(s);
                    }
                    c.enrollments[i].received = Value::Null;
                    None
                }
                w @ (Wait::Ready | Wait::Done) => {
                    flow.wait = w;
                    None
                }
            };
            self.run(c, i, f, &mut ctx, retry);
            self.reevaluate_enter(c, &mut ctx);
        }
    }

    /// Sets up a customer at the start: trigger schedules, `enter` baselines
    /// (members at this moment do not enter), midnight checks. The customer
    /// with the empty id stands for broadcasts.
    pub fn init(&self, c: &mut CustomerState, from: DateTime<Utc>) {
        let broadcast_run = c.id.is_empty();
        let mut midnight = false;
        for pb in 0..self.program.playbooks.len() {
            if self.pb(pb).broadcast != broadcast_run {
                continue;
            }
            for (ti, t) in self.pb(pb).def.triggers.iter().enumerate() {
                match &t.kind {
                    TriggerKind::Every { .. } | TriggerKind::Yearly { .. } => {
                        if let Some(at) = self.next_fire(c, pb, ti, from, true) {
                            c.schedule.push((at, pb, ti));
                        }
                    }
                    TriggerKind::Enter { segment } => {
                        let member = self.in_segment(c, &segment.name, from, 0);
                        c.memberships.insert((pb, ti), member);
                        midnight |= self
                            .program
                            .segments
                            .get(&segment.name)
                            .is_some_and(|s| s.reads_clock);
                    }
                    TriggerKind::Event { .. } => {}
                }
            }
        }
        if midnight {
            let zone = self.customer_zone(c);
            c.next_midnight = Some(time::start_of(
                zone,
                time::local(zone, from).date() + chrono::Duration::days(1),
            ));
        }
    }

    /// The next fire of an `every` or `yearly` trigger at or after (`inclusive`) or after `from`.
    fn next_fire(
        &self,
        c: &CustomerState,
        pb: usize,
        ti: usize,
        from: DateTime<Utc>,
        inclusive: bool,
    ) -> Option<DateTime<Utc>> {
        let zone = self.zone(c, pb);
        match &self.pb(pb).def.triggers[ti].kind {
            TriggerKind::Every { .. } => {
                let cron = self.crons[pb][ti].as_ref()?;
                // Customers in one zone share their fires: remember the last
                // ones asked, per thread (finding a fire is the costly part).
                type Memo =
                    HashMap<(u64, usize, usize, Tz, DateTime<Utc>, bool), Option<DateTime<Utc>>>;
                thread_local!(static FIRES: RefCell<Memo> = RefCell::new(HashMap::new()));
                let memo_key = (self.id, pb, ti, zone, from, inclusive);
                if let Some(hit) = FIRES.with(|m| m.borrow().get(&memo_key).copied()) {
                    return hit;
                }
                let next = cron
                    .find_next_occurrence(&from.with_timezone(&zone), inclusive)
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
                FIRES.with(|m| {
                    let mut m = m.borrow_mut();
                    if m.len() >= 4096 {
                        m.clear();
                    }
                    m.insert(memo_key, next);
                });
                next
            }
            TriggerKind::Yearly {
                path,
                offset_days,
                at,
                ..
            } => {
                let date = match super::value::record_path(&c.attrs, &path.segments[1..]) {
                    Value::Date(d) => *d,
                    Value::DateTime(t) => time::local(zone, *t).date(),
                    _ => return None,
                };
                let year = time::local(zone, from).date().year();
                (year - 1..=year + 2)
                    .filter(|y| *y > date.year())
                    .filter_map(|y| {
                        chrono::NaiveDate::from_ymd_opt(y, date.month(), date.day())
                            .or_else(|| chrono::NaiveDate::from_ymd_opt(y, 2, 28))
                    })
                    .map(|d| {
                        time::resolve(
                            zone,
                            (d + chrono::Duration::days(*offset_days))
                                .and_time(chrono::NaiveTime::MIN),
                        )
                    })
                    .map(|t| time::at_clock(zone, t, at.map(|c| c.minutes).unwrap_or(0)))
                    .find(|t| if inclusive { *t >= from } else { *t > from })
            }
            _ => None,
        }
    }

    /// A scheduled trigger fires: reschedule it, then enroll if it applies.
    fn fire(&self, c: &mut CustomerState, k: usize, ctx: &mut Ctx<'_, 'p>) {
        let (at, pb, ti) = c.schedule[k];
        match self.next_fire(c, pb, ti, at, false) {
            Some(next) => c.schedule[k].0 = next,
            None => {
                c.schedule.remove(k);
            }
        }
        let applies = match &self.pb(pb).def.triggers[ti].kind {
            TriggerKind::Every {
                segment: Some(seg), ..
            } => self.in_segment(c, &seg.name, ctx.now, 0),
            _ => true,
        };
        if applies {
            self.enroll(c, pb, Value::Null, ctx, true);
        }
    }

    /// Re-evaluates `enter` segments; a false → true change enrolls, in playbook-name
    /// order, at most one per playbook per pass; passes repeat while memberships change.
    fn reevaluate_enter(&self, c: &mut CustomerState, ctx: &mut Ctx<'_, 'p>) {
        if c.memberships.is_empty() {
            return;
        }
        for _ in 0..10 {
            let mut changed = false;
            for &pb in &self.order {
                let mut enrolled = false;
                for (ti, t) in self.pb(pb).def.triggers.iter().enumerate() {
                    let TriggerKind::Enter { segment } = &t.kind else {
                        continue;
                    };
                    let Some(&old) = c.memberships.get(&(pb, ti)) else {
                        continue;
                    };
                    let member = self.in_segment(c, &segment.name, ctx.now, 0);
                    if member != old {
                        changed = true;
                        c.memberships.insert((pb, ti), member);
                        if member && !enrolled {
                            enrolled = true;
                            self.enroll(c, pb, Value::Null, ctx, false);
                        }
                    }
                }
            }
            if !changed {
                break;
            }
        }
    }

    /// Starts an enrollment if the playbook's rules allow it.
    fn enroll(
        &self,
        c: &mut CustomerState,
        pb: usize,
        event: Value,
        ctx: &mut Ctx<'_, 'p>,
        scheduled: bool,
    ) {
        let def = &self.pb(pb).def;
        let broadcast = self.pb(pb).broadcast;
        if c.do_not_contact {
            self.record(
                ctx,
                c,
                pb,
                "suppressed",
                "trigger ignored: the customer opted out",
            );
            return;
        }
        if c.active(pb).is_some() && !broadcast {
            self.record(ctx, c, pb, "ignored", "trigger while already enrolled");
            return;
        }
        let previous: Vec<&Enrollment> =
            c.enrollments.iter().filter(|e| e.playbook == pb).collect();
        if let Some(last) = previous.last().filter(|_| !broadcast) {
            let zone = self.zone(c, pb);
            let allowed = match &def.settings.reenter {
                None => scheduled,
                Some(Reenter::Never(_)) => false,
                Some(Reenter::Always(_)) => true,
                Some(Reenter::After(d)) => {
                    ctx.now >= time::add(zone, last.entered, d.days, d.seconds)
                }
            };
            if !allowed {
                self.record(
                    ctx,
                    c,
                    pb,
                    "ignored",
                    "reenter does not allow a new enrollment yet",
                );
                return;
            }
        }
        let n = previous.len() as u32 + 1;
        for e in c
            .enrollments
            .iter_mut()
            .filter(|e| e.playbook == pb && e.status == Status::Attributing)
        {
            e.status = Status::Ended;
        }
        let held_out = def
            .settings
            .holdout
            .is_some_and(|h| bucket::held_out(&c.id, &def.name.name, h.basis_points));
        let mut enrollment = Enrollment::new(
            pb,
            n,
            ctx.now,
            event,
            Flow {
                hook: None,
                root_depth: 0,
                cursor: Cursor {
                    step: 0,
                    path: Vec::new(),
                    idx: 0,
                },
                wait: Wait::Ready,
            },
        );
        enrollment.held_out = held_out;
        if !def.steps.is_empty() {
            enrollment.reached.push(0);
        }
        c.enrollments.push(enrollment);
        self.record(
            ctx,
            c,
            pb,
            "entered",
            if held_out { "held out" } else { "" },
        );
        let i = c.enrollments.len() - 1;
        self.run(c, i, 0, ctx, None);
    }

    /// Ends an enrollment: cancels its waits and hooks.
    fn end(
        &self,
        c: &mut CustomerState,
        i: usize,
        ctx: &mut Ctx<'_, 'p>,
        kind: &'static str,
        detail: impl Into<Detail<'p>>,
    ) {
        let pb = c.enrollments[i].playbook;
        let pending_hooks = c.enrollments[i]
            .flows
            .iter()
            .filter(|f| f.hook.is_some() && f.wait != Wait::Done)
            .count();
        c.enrollments[i].status = Status::Ended;
        for f in &mut c.enrollments[i].flows {
            f.wait = Wait::Done;
        }
        if pending_hooks > 0 {
            self.record(
                ctx,
                c,
                pb,
                "hook-cancelled",
                format!("{pending_hooks} pending"),
            );
        }
        self.record(ctx, c, pb, kind, detail);
    }

    /// Evaluates an expression where enrollment `i` runs.
    fn eval_at(&self, c: &CustomerState, i: usize, e: &ast::Expr, now: DateTime<Utc>) -> Value {
        let en = &c.enrollments[i];
        let (event, received, coupons) = (&en.event, &en.received, &en.coupons);
        self.with_env(c, en.playbook, event, received, coupons, now, |env| {
            eval::eval(e, env)
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn cond(
        &self,
        c: &CustomerState,
        pb: usize,
        e: &ast::Expr,
        event: &Value,
        received: &Value,
        coupons: &Value,
        now: DateTime<Utc>,
    ) -> bool {
        self.with_env(c, pb, event, received, coupons, now, |env| {
            eval::condition(e, env)
        })
    }

    /// What an expression in playbook `pb` reads: the customer, these event
    /// values, `now`, the playbook's zone and the customer's segments.
    #[allow(clippy::too_many_arguments)]
    fn with_env<T>(
        &self,
        c: &CustomerState,
        pb: usize,
        event: &Value,
        received: &Value,
        coupons: &Value,
        now: DateTime<Utc>,
        f: impl FnOnce(&Env) -> T,
    ) -> T {
        let in_segment = |name: &str| self.in_segment(c, name, now, 0);
        f(&Env {
            customer: &c.attrs,
            event,
            received,
            coupons,
            now,
            zone: self.zone(c, pb),
            in_segment: &in_segment,
        })
    }

    pub fn in_segment(
        &self,
        c: &CustomerState,
        name: &str,
        now: DateTime<Utc>,
        depth: usize,
    ) -> bool {
        let Some(seg) = self.program.segments.get(name) else {
            return false;
        };
        if depth > 32 {
            return false;
        }
        let customer = &c.attrs;
        let nested = |n: &str| self.in_segment(c, n, now, depth + 1);
        let env = Env {
            customer,
            event: &Value::Null,
            received: &Value::Null,
            coupons: &Value::Null,
            now,
            zone: self.customer_zone(c),
            in_segment: &nested,
        };
        eval::condition(&seg.def.expr, &env)
    }

    fn block_of<'a>(&self, def: &'a ast::Playbook, cursor: &Cursor) -> Option<&'a Block> {
        let mut block = &def.steps.get(cursor.step)?.body;
        for (ai, br) in &cursor.path {
            block = match (&block.get(*ai)?.kind, br) {
                (ActionKind::If { then, .. }, 0) => then,
                (
                    ActionKind::If {
                        otherwise: Some(o), ..
                    },
                    1,
                ) => o,
                (ActionKind::Hook { body, .. }, 2) => body,
                _ => return None,
            };
        }
        Some(block)
    }

    fn action_at(&self, pb: usize, cursor: &Cursor) -> Option<&'p ast::Action> {
        self.block_of(&self.pb(pb).def, cursor)?.get(cursor.idx)
    }

    fn site(&self, pb: usize, flow: &Flow) -> String {
        use std::fmt::Write;
        let def = &self.pb(pb).def;
        let mut s = String::with_capacity(32);
        match &flow.hook {
            Some((name, _)) => {
                s.push_str("hook ");
                s.push_str(name);
            }
            None => s.push_str(&def.steps[flow.cursor.step].name.name),
        }
        for (ai, br) in &flow.cursor.path[flow.root_depth.min(flow.cursor.path.len())..] {
            let _ = write!(s, "/{ai}.{br}");
        }
        let _ = write!(s, "/{}", flow.cursor.idx);
        s
    }

    /// Counts one more execution of the flow's current action; returns its site
    /// and how many times it ran before (for the idempotency key).
    fn count_site(&self, c: &mut CustomerState, i: usize, f: usize) -> (String, u32) {
        let e = &mut c.enrollments[i];
        let site = self.site(e.playbook, &e.flows[f]);
        let n = e.occurrences.count(&site);
        (site, n)
    }

    /// The idempotency key: a hash of the playbook version, customer, playbook,
    /// enrollment, site, hook plant and occurrence (fed piece by piece, the
    /// same bytes as those joined by U+001F).
    fn key(&self, c: &CustomerState, i: usize, site: &str, occurrence: u32, plant: u32) -> Key {
        let e = &c.enrollments[i];
        let (mut n, mut p, mut o) = ([0u8; 20], [0u8; 20], [0u8; 20]);
        let parts = [
            self.versions[e.playbook].as_bytes(),
            c.id.as_bytes(),
            self.pb(e.playbook).def.name.name.as_bytes(),
            decimal(u64::from(e.n), &mut n),
            site.as_bytes(),
            decimal(u64::from(plant), &mut p),
            decimal(u64::from(occurrence), &mut o),
        ];
        let mut h = Sha256::new();
        for (k, part) in parts.into_iter().enumerate() {
            if k > 0 {
                h.update(b"\x1f");
            }
            h.update(part);
        }
        let mut key = [0; 16];
        key.copy_from_slice(&h.finalize()[..16]);
        Key(key)
    }

    /// Runs one flow until it blocks or ends.
    fn run(
        &self,
        c: &mut CustomerState,
        i: usize,
        f: usize,
        ctx: &mut Ctx<'_, 'p>,
        mut retry: Option<(DateTime<Utc>, &'static str)>,
    ) {
        let pb = c.enrollments[i].playbook;
        let def = &self.pb(pb).def;
        let zone = self.zone(c, pb);
        for _ in 0..RUNAWAY {
            if c.enrollments[i].status != Status::Active
                || c.enrollments[i].flows[f].wait != Wait::Ready
            {
                return;
            }
            let flow = &c.enrollments[i].flows[f];
            let (step_at, idx) = (flow.cursor.step, flow.cursor.idx);
            let plant = flow.hook.as_ref().map(|h| h.1).unwrap_or(0);
            let Some(block) = self.block_of(def, &flow.cursor) else {
                c.enrollments[i].flows[f].wait = Wait::Done;
                break;
            };
            if idx >= block.len() {
                let fl = &mut c.enrollments[i].flows[f];
                if fl.cursor.path.len() > fl.root_depth {
                    let (ai, _) = fl.cursor.path.pop().expect("a nested block");
                    fl.cursor.idx = ai + 1;
                } else if fl.hook.is_none() && fl.cursor.step + 1 < def.steps.len() {
                    fl.cursor = Cursor {
                        step: fl.cursor.step + 1,
                        path: Vec::new(),
                        idx: 0,
                    };
                    let s = fl.cursor.step;
                    c.enrollments[i].reached.push(s);
                } else {
                    fl.wait = Wait::Done;
                    break;
                }
                continue;
            }
            let action = &block[idx];
            let held_out = c.enrollments[i].held_out;
            let now = ctx.now;
            let advance = |c: &mut CustomerState| c.enrollments[i].flows[f].cursor.idx += 1;
            match &action.kind {
                ActionKind::Send {
                    channel,
                    template,
                    with,
                } => {
                    if held_out {
                        advance(c);
                        continue;
                    }
                    let (site, occurrence) = self.count_site(c, i, f);
                    let key = self.key(c, i, &site, occurrence, plant);
                    if let Some(wait) =
                        self.send(c, i, f, channel, template, with, ctx, retry.take(), key)
                    {
                        // Deferred: the same site runs again, so it keeps its occurrence and key.
                        c.enrollments[i].occurrences.uncount(&site);
                        c.enrollments[i].flows[f].wait = wait;
                        return;
                    }
                    advance(c);
                }
                ActionKind::Wait(d) => {
                    advance(c);
                    c.enrollments[i].flows[f].wait =
                        Wait::Until(time::add(zone, now, d.days, d.seconds));
                    return;
                }
                ActionKind::WaitUntil(t) => {
                    let at = self.time_point(c, i, t, zone, now);
                    if at.is_none() {
                        let site = self.site(pb, &c.enrollments[i].flows[f]);
                        let detail = format!("{site}: the time is missing");
                        self.record(ctx, c, pb, "wait-skipped", detail);
                    }
                    advance(c);
                    if let Some(at) = at.filter(|at| *at > now) {
                        c.enrollments[i].flows[f].wait = Wait::Until(at);
                        return;
                    }
                }
                ActionKind::WaitFor(w) => {
                    if w.since_entry {
                        let event = &c.enrollments[i].event;
                        let hit = c.enrollments[i]
                            .seen
                            .iter()
                            .rev()
                            .find(|(n, _, data)| {
                                *n == w.event.name
                                    && w.cond.as_ref().is_none_or(|e| {
                                        self.cond(c, pb, e, event, data, &Value::Null, now)
                                    })
                            })
                            .map(|(_, _, d)| d.clone());
                        if let Some(data) = hit {
                            c.enrollments[i].received = data;
                            advance(c);
                            continue;
                        }
                    }
                    let else_step = w
                        .else_step
                        .as_ref()
                        .and_then(|s| def.steps.iter().position(|st| st.name.name == s.name));
                    let deadline = w.within.map(|d| time::add(zone, now, d.days, d.seconds));
                    c.enrollments[i].flows[f].wait = Wait::Event {
                        name: w.event.name.clone(),
                        deadline,
                        else_step,
                        opened: now,
                    };
                    return;
                }
                ActionKind::If {
                    cond, otherwise, ..
                } => {
                    let en = &c.enrollments[i];
                    let (event, received, coupons) = (&en.event, &en.received, &en.coupons);
                    let yes = self.cond(c, pb, cond, event, received, coupons, now);
                    let fl = &mut c.enrollments[i].flows[f];
                    if yes {
                        fl.cursor.path.push((fl.cursor.idx, 0));
                        fl.cursor.idx = 0;
                    } else if otherwise.is_some() {
                        fl.cursor.path.push((fl.cursor.idx, 1));
                        fl.cursor.idx = 0;
                    } else {
                        fl.cursor.idx += 1;
                    }
                }
                ActionKind::Split(arms) => {
                    let step = &def.steps[step_at].name.name;
                    let ordinal = block[..idx]
                        .iter()
                        .filter(|a| matches!(a.kind, ActionKind::Split(_)))
                        .count();
                    let bps: Vec<u32> = arms.iter().map(|a| a.percent.basis_points).collect();
                    let arm = &arms[bucket::split_arm(&c.id, &def.name.name, step, ordinal, &bps)];
                    self.jump(c, i, f, def, &arm.target.name);
                }
                ActionKind::Tag { add, tags } => {
                    if !held_out {
                        let list = c
                            .attrs
                            .entry("tags".into())
                            .or_insert(Value::List(Vec::new()));
                        if let Value::List(items) = list {
                            for t in tags {
                                let v = Value::Str(t.value.clone());
                                if *add && !items.contains(&v) {
                                    items.push(v);
                                } else if !*add {
                                    items.retain(|x| *x != v);
                                }
                            }
                        }
                    }
                    advance(c);
                }
                ActionKind::Set { path, value } => {
                    if !held_out {
                        let v = self.eval_at(c, i, value, now);
                        set_path(&mut c.attrs, &path.segments[1..], v);
                    }
                    advance(c);
                }
                ActionKind::Grant {
                    coupon,
                    worth,
                    valid,
                    ..
                } => {
                    if !held_out {
                        let expires = time::add(zone, now, valid.days, valid.seconds);
                        let mut rec = BTreeMap::new();
                        rec.insert("expires_at".to_string(), Value::DateTime(expires));
                        rec.insert("granted_at".to_string(), Value::DateTime(now));
                        rec.insert("worth".to_string(), Value::Float(*worth));
                        c.enrollments[i].grant(&coupon.name, Value::Record(rec));
                        let (site, occurrence) = self.count_site(c, i, f);
                        if c.do_not_contact {
                            self.record(ctx, c, pb, "suppressed", format!("grant {}", coupon.name));
                        } else {
                            let key = self.key(c, i, &site, occurrence, plant);
                            let step = self.step_name(def, &c.enrollments[i].flows[f]);
                            ctx.out.push(Effect::Deliver(Delivery {
                                at: now,
                                customer: Some(c.id.clone()),
                                playbook: &def.name.name,
                                step,
                                channel: "coupons",
                                touchpoint: "coupons",
                                template: Some(&coupon.name),
                                variant: None,
                                text: None,
                                deferred_from: None,
                                reason: None,
                                key,
                            }));
                        }
                    }
                    advance(c);
                }
                ActionKind::Hook { name, at, .. } => {
                    advance(c);
                    if held_out {
                        continue;
                    }
                    match self.time_point(c, i, at, zone, now) {
                        None => self.record(
                            ctx,
                            c,
                            pb,
                            "hook-unplanted",
                            format!("{}: the time is missing", name.name),
                        ),
                        Some(fire) => {
                            let replaced = c.enrollments[i].flows.iter_mut().find(|fl| {
                                fl.hook.as_ref().is_some_and(|h| h.0 == name.name)
                                    && fl.wait != Wait::Done
                            });
                            if let Some(old) = replaced {
                                old.wait = Wait::Done;
                                self.record(ctx, c, pb, "hook-replaced", name.name.clone());
                            }
                            c.enrollments[i].plants += 1;
                            let mut path = c.enrollments[i].flows[f].cursor.path.clone();
                            path.push((idx, 2));
                            let depth = path.len();
                            let plant_no = c.enrollments[i].plants;
                            c.enrollments[i].flows.push(Flow {
                                hook: Some((name.name.clone(), plant_no)),
                                root_depth: depth,
                                cursor: Cursor {
                                    step: step_at,
                                    path,
                                    idx: 0,
                                },
                                wait: Wait::Until(fire.max(now)),
                            });
                            self.record(
                                ctx,
                                c,
                                pb,
                                "hook-planted",
                                Detail::Planted {
                                    hook: &name.name,
                                    at: fire,
                                },
                            );
                        }
                    }
                }
                ActionKind::Task { text, .. } => {
                    if !held_out {
                        let (site, occurrence) = self.count_site(c, i, f);
                        if c.do_not_contact {
                            self.record(ctx, c, pb, "suppressed", "task");
                        } else {
                            let key = self.key(c, i, &site, occurrence, plant);
                            let rendered = self.render(c, i, &text.value, Vec::new(), zone, now);
                            let step = self.step_name(def, &c.enrollments[i].flows[f]);
                            match rendered {
                                Ok(t) => ctx.out.push(Effect::Deliver(Delivery {
                                    at: now,
                                    customer: Some(c.id.clone()),
                                    playbook: &def.name.name,
                                    step,
                                    channel: "tasks",
                                    touchpoint: "tasks",
                                    template: None,
                                    variant: None,
                                    text: Some(t),
                                    deferred_from: None,
                                    reason: None,
                                    key,
                                })),
                                Err(e) => self.record(ctx, c, pb, "render-error", e),
                            }
                        }
                    }
                    advance(c);
                }
                ActionKind::Jump(target) => self.jump(c, i, f, def, &target.name),
                ActionKind::End => {
                    c.enrollments[i].flows[f].wait = Wait::Done;
                    break;
                }
            }
        }
        if c.enrollments[i].flows[f].wait == Wait::Ready {
            // The runaway guard tripped.
            self.end(c, i, ctx, "failed", "10 000 actions without blocking");
            return;
        }
        let e = &c.enrollments[i];
        if e.status == Status::Active && e.flows.iter().all(|fl| fl.wait == Wait::Done) {
            c.enrollments[i].status = if def.goal.is_some() && !c.enrollments[i].converted {
                Status::Attributing
            } else {
                Status::Ended
            };
            self.record(ctx, c, pb, "finished", "");
        }
    }

    fn step_name(&self, def: &'p ast::Playbook, flow: &Flow) -> Cow<'p, str> {
        match &flow.hook {
            Some((h, _)) => format!("{}/hook {h}", def.steps[flow.cursor.step].name.name).into(),
            None => def.steps[flow.cursor.step].name.name.as_str().into(),
        }
    }

    fn jump(&self, c: &mut CustomerState, i: usize, f: usize, def: &ast::Playbook, target: &str) {
        match def.steps.iter().position(|s| s.name.name == target) {
            Some(s) => {
                c.enrollments[i].flows[f].cursor = Cursor {
                    step: s,
                    path: Vec::new(),
                    idx: 0,
                };
                c.enrollments[i].reached.push(s);
            }
            None => c.enrollments[i].flows[f].wait = Wait::Done,
        }
    }

    /// A TIME expression as an instant, or `None` when its path is missing.
    fn time_point(
        &self,
        c: &CustomerState,
        i: usize,
        t: &TimeExpr,
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        match t {
            TimeExpr::Next { weekday, clock, .. } => {
                Some(time::next(zone, now, *weekday, clock.minutes))
            }
            TimeExpr::Point {
                base, offsets, at, ..
            } => {
                let e = &c.enrollments[i];
                let mut t = match base {
                    TimeBase::Now(_) => now,
                    TimeBase::Date(d, _) => time::start_of(zone, *d),
                    TimeBase::DateTime(dt, _) => time::resolve(zone, *dt),
                    TimeBase::Path(p) => {
                        let rest = &p.segments[1..];
                        let v = match p.root() {
                            "customer" => super::value::record_path(&c.attrs, rest),
                            "event" => e.event.path(rest),
                            "received" => e.received.path(rest),
                            "coupon" => e.coupons.path(rest),
                            _ => &Value::Null,
                        };
                        match v {
                            Value::DateTime(t) => *t,
                            Value::Date(d) => time::start_of(zone, *d),
                            _ => return None,
                        }
                    }
                };
                for (sign, d) in offsets {
                    t = time::add(zone, t, sign * d.days, sign * d.seconds);
                }
                if let Some(c) = at {
                    t = time::at_clock(zone, t, c.minutes);
                }
                Some(t)
            }
        }
    }

    fn render(
        &self,
        c: &CustomerState,
        i: usize,
        source: &str,
        with: Vec<(&str, Value)>,
        zone: Tz,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let e = &c.enrollments[i];
        let scope = Scope {
            customer: &c.attrs,
            event: &e.event,
            received: &e.received,
            coupon: &e.coupons,
            now,
            with,
        };
        self.texts.render(source, &scope, zone)
    }

    /// A send: admission under quiet hours and caps, then rendering. Returns the
    /// wait when it is deferred.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        c: &mut CustomerState,
        i: usize,
        f: usize,
        channel: &ast::Ident,
        template: &'p TemplateRef,
        with: &[(ast::Ident, ast::Expr)],
        ctx: &mut Ctx<'_, 'p>,
        retry: Option<(DateTime<Utc>, &'static str)>,
        key: Key,
    ) -> Option<Wait> {
        let pb = c.enrollments[i].playbook;
        let def = &self.pb(pb).def;
        let now = ctx.now;
        let zone = self.zone(c, pb);
        let czone = self.customer_zone(c);
        let program: &'p Program = self.program;
        let config = &program.config;
        let ch_no = self
            .channels
            .binary_search_by(|(n, _)| (*n).cmp(channel.name.as_str()))
            .ok()?;
        let ch = self.channels[ch_no].1;
        if c.do_not_contact {
            self.record(ctx, c, pb, "suppressed", format!("send on {}", ch.name));
            return None;
        }
        let (tname, kind, wordings): (Option<&str>, Kind, Wordings) = match template {
            TemplateRef::Named(t) => match program.templates.get(&t.name) {
                Some(ct) => (
                    Some(ct.name.as_str()),
                    ct.kind,
                    Wordings::Named(&ct.wordings),
                ),
                None => return None,
            },
            TemplateRef::Inline(s) => (
                None,
                if ch.touchpoint.is_one_to_many() {
                    Kind::Content
                } else {
                    Kind::Service
                },
                Wordings::Inline(s.value.as_str()),
            ),
        };
        // The playbook's, the project's and the channel's quiet hours (no allocation:
        // this runs for every send and every retry).
        let playbook_quiet = def.settings.quiet.as_ref().map(|q| {
            let q = Quiet {
                start: q.start.minutes,
                end: q.end.minutes,
            };
            (zone, q)
        });
        let mut quiet = [(zone, Quiet { start: 0, end: 0 }); 3];
        let mut quiet_n = 0;
        for range in [
            playbook_quiet,
            config.limits.quiet.map(|q| (czone, q)),
            ch.quiet.map(|q| (czone, q)),
        ]
        .into_iter()
        .flatten()
        {
            quiet[quiet_n] = range;
            quiet_n += 1;
        }
        let quiet = &quiet[..quiet_n];
        let one_to_one = ch.touchpoint.is_one_to_one();
        let mut caps = Vec::with_capacity(def.settings.caps.len() + 4);
        if one_to_one {
            for (cap, (name, cap_kind)) in def.settings.caps.iter().zip(&self.cap_names[pb]) {
                let cap_kind = *cap_kind;
                if cap_kind.is_some_and(|k| k != kind) {
                    continue;
                }
                caps.push(Cap {
                    name,
                    zone,
                    period: cap.period,
                    max: CapMax::Count(cap.count),
                    drop: cap.drop,
                    playbook: Some(pb),
                    kind: cap_kind,
                    channel: None,
                });
            }
            for ((n, p, _), name) in config.limits.counts().zip(&self.limit_names) {
                caps.push(Cap {
                    name,
                    zone: czone,
                    period: p,
                    max: CapMax::Count(n),
                    drop: false,
                    playbook: None,
                    kind: None,
                    channel: None,
                });
            }
            if let Some(limit) = ch.cap {
                let max = limit
                    .count
                    .map(CapMax::Count)
                    .unwrap_or(CapMax::DaysInMonth);
                caps.push(Cap {
                    name: &self.channel_cap_names[ch_no],
                    zone: czone,
                    period: limit.period,
                    max,
                    drop: false,
                    playbook: None,
                    kind: None,
                    channel: Some(ch_no),
                });
            }
        }
        let message = ch.touchpoint.is_message();
        let admission = if message {
            admit(now, quiet, &caps, &c.ledger)
        } else {
            Admission::Now
        };
        match admission {
            Admission::Dropped { cap } => {
                self.record(
                    ctx,
                    c,
                    pb,
                    "dropped",
                    format!("{} over {cap}", tname.unwrap_or("text")),
                );
                return None;
            }
            Admission::Deferred { at, reason } => {
                let (from, reason) = match retry {
                    Some((from, r)) => (
                        from,
                        if r == reason || r == "quiet,cap" {
                            r
                        } else {
                            "quiet,cap"
                        },
                    ),
                    None => (now, reason),
                };
                if retry.is_none() {
                    self.record(
                        ctx,
                        c,
                        pb,
                        "deferred",
                        Detail::Deferred {
                            reason,
                            from: now,
                            to: at,
                        },
                    );
                }
                return Some(Wait::Deferred { at, from, reason });
            }
            Admission::Now => {}
        }
        if let Some((req, _)) = &ch.requires {
            if !self.cond(
                c,
                pb,
                req,
                &c.enrollments[i].event,
                &c.enrollments[i].received,
                &Value::Null,
                now,
            ) {
                self.record(
                    ctx,
                    c,
                    pb,
                    "unreachable",
                    format!("{} does not meet `requires` of {}", c.id, ch.name),
                );
                return None;
            }
        }
        let (variant, source) = match wordings {
            Wordings::Named(all) => {
                let w = all.get(bucket::variant_index(&c.id, tname?, all.len()))?;
                (w.variant.as_deref(), w.source.as_str())
            }
            Wordings::Inline(source) => (None, source),
        };
        let with_values: Vec<(&str, Value)> = with
            .iter()
            .map(|(k, v)| (k.name.as_str(), self.eval_at(c, i, v, now)))
            .collect();
        let text = match self.render(c, i, source, with_values, zone, now) {
            Ok(t) if t.is_empty() => {
                self.record(
                    ctx,
                    c,
                    pb,
                    "empty-text",
                    tname.unwrap_or_default().to_string(),
                );
                return None;
            }
            Ok(t) => t,
            Err(e) => {
                self.record(ctx, c, pb, "render-error", e);
                return None;
            }
        };
        if one_to_one {
            c.ledger.push(Sent {
                at: now,
                playbook: pb,
                channel: ch_no,
                kind,
            });
        }
        let flow = &c.enrollments[i].flows[f];
        ctx.out.push(Effect::Deliver(Delivery {
            at: now,
            customer: Some(c.id.clone()),
            playbook: &def.name.name,
            step: self.step_name(def, flow),
            channel: &ch.name,
            touchpoint: ch.touchpoint.name(),
            template: tname,
            variant,
            text: Some(text),
            deferred_from: retry.map(|r| r.0),
            reason: retry.map(|r| r.1),
            key,
        }));
        None
    }
}

fn set_path(attrs: &mut BTreeMap<String, Value>, segs: &[String], v: Value) {
    let Some((first, rest)) = segs.split_first() else {
        return;
    };
    if rest.is_empty() {
        attrs.insert(first.clone(), v);
        return;
    }
    let entry = attrs
        .entry(first.clone())
        .or_insert_with(|| Value::Record(BTreeMap::new()));
    if !matches!(entry, Value::Record(_)) {
        *entry = Value::Record(BTreeMap::new());
    }
    if let Value::Record(m) = entry {
        set_path(m, rest, v);
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

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let digits: Vec<u8> = bytes
        .iter()
        .flat_map(|b| [DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 15)]])
        .collect();
    String::from_utf8(digits).expect("hex digits are ASCII")
}

/// Calls `f` on every action of a block, nested ones included.
pub(super) fn each_action<'a>(block: &'a Block, f: &mut impl FnMut(&'a ast::Action)) {
    for a in block {
        f(a);
        match &a.kind {
            ActionKind::If {
                then, otherwise, ..
            } => {
                each_action(then, f);
                if let Some(o) = otherwise {
                    each_action(o, f);
                }
            }
            ActionKind::Hook { body, .. } => each_action(body, f),
            _ => {}
        }
    }
}

/// The playbook without source positions, for its version hash (layout and comments do not count).
fn strip(p: &ast::Playbook) -> String {
    let text = format!("{p:?}");
    // Spans print as `Span { start: N, end: M }`; drop them.
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(i) = rest.find("Span { start: ") {
        out.push_str(&rest[..i]);
        match rest[i..].find('}') {
            Some(j) => rest = &rest[i + j + 1..],
            None => break,
        }
    }
    out.push_str(rest);
    out
}
