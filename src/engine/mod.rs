//! The interpreter: one customer, one input (an event, or the clock reaching
//! due timers), the current instant; it changes that customer's state and
//! returns effects. No I/O, no wall clock, no global RNG. The simulator and
//! the runner drive it through one driver (`driver.rs`) and differ only in
//! their clocks, stores and adapters.
//!
//! Files by concern: time arithmetic (`time`), stable buckets (`bucket`),
//! admission under quiet hours and caps (`admission`), expressions (`eval`),
//! texts (`text`), the customer's state (`state`), what comes out
//! (`effect`), triggers and enrollment (`triggers`), the flow interpreter
//! (`flow`), sends (`send`), and the driver (`driver`).

pub mod admission;
pub mod bucket;
pub mod driver;
pub mod effect;
pub mod eval;
mod flow;
pub mod ledger;
mod send;
pub mod state;
pub mod text;
pub mod time;
mod triggers;

pub use driver::{CatchUp, Inputs};
pub use effect::{
    DeferReason, Delivery, Detail, Effect, Extra, Grant, Key, Reached, Record, RecordKind,
};
pub use state::CustomerState;

use crate::intake::Event;
use crate::program::{Playbook, Policy, Program, Zone};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use state::{Enrollment, Status};
use std::sync::Arc;

/// Actions one input may run without blocking before the enrollment is
/// failed, and timers one call may run: an unlinted loop cannot hang a run.
pub const RUNAWAY: usize = 10_000;

/// How far back the send ledger reaches: the longest cap period (a calendar
/// month) plus a day for zone offsets.
pub const LEDGER_DAYS: i64 = 32;

/// Events of one name a `wait for … since entry` with a condition can still
/// look back on (the latest ones). Without a condition such a wait takes the
/// latest event of its name, so only that one is kept.
pub const SEEN_PER_EVENT: usize = 256;

/// The engine over one program and any older playbook versions still running.
pub struct Engine {
    policy: Arc<Policy>,
    /// The newest version of each playbook, in name order (the order of work).
    current: Vec<Arc<Playbook>>,
    /// Every version this engine can step.
    versions: Vec<Arc<Playbook>>,
    texts: text::Texts,
    /// How `[limits]` caps are named in records.
    limit_names: Vec<String>,
    /// Tells this engine's remembered cron fires from another's.
    id: u64,
    /// Playbooks an operator paused (the runner's `tend pause`): they take no new entries.
    paused: Vec<String>,
}

/// One engine call's clock, output and what it changed.
struct Ctx<'a> {
    now: DateTime<Utc>,
    out: &'a mut Vec<Effect>,
    /// A `tag` or `set` ran (yearly schedules and segments may have changed).
    attrs_changed: bool,
}

impl Engine {
    /// An engine over the newest version of every playbook of `program`.
    pub fn new(program: &Program) -> Self {
        Self::with_versions(program, std::iter::empty())
    }

    /// An engine over `program` that also steps enrollments which entered on
    /// the `older` versions (new entries always take the program's version).
    pub fn with_versions(
        program: &Program,
        older: impl IntoIterator<Item = Arc<Playbook>>,
    ) -> Self {
        let mut versions: Vec<Arc<Playbook>> = Vec::new();
        for p in program.playbooks.iter().cloned().chain(older) {
            if !versions
                .iter()
                .any(|q| q.name == p.name && q.version == p.version)
            {
                versions.push(p);
            }
        }
        let texts = text::Texts::new(versions.iter().map(|p| &**p));
        static ENGINES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Engine {
            limit_names: program
                .policy
                .limits
                .counts()
                .map(|(_, _, name)| format!("[limits] {name}"))
                .collect(),
            policy: program.policy.clone(),
            current: program.playbooks.clone(),
            versions,
            texts,
            id: ENGINES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            paused: Vec::new(),
        }
    }

    /// Playbooks that take no new entries until resumed: a trigger for one
    /// is recorded as ignored. Enrollments already in them go on.
    pub fn set_paused(&mut self, playbooks: Vec<String>) {
        self.paused = playbooks;
    }

    fn is_paused(&self, playbook: &str) -> bool {
        self.paused.iter().any(|p| p == playbook)
    }

    /// Ends a customer's active enrollments in `playbook` (an operator's
    /// `tend cancel`), each with a record; enrollments only attributing a
    /// goal keep attributing.
    pub fn cancel(&self, c: &mut CustomerState, playbook: &str, at: DateTime<Utc>) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now: at,
            out: &mut out,
            attrs_changed: false,
        };
        for i in 0..c.enrollments.len() {
            let e = &c.enrollments[i];
            if &*e.playbook == playbook && e.status == Status::Active {
                self.end(
                    c,
                    i,
                    &mut ctx,
                    RecordKind::Stopped,
                    "cancelled with `tend cancel`",
                );
            }
        }
        self.compact(c, at);
        out
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The newest version of each playbook, in name order.
    pub fn playbooks(&self) -> &[Arc<Playbook>] {
        &self.current
    }

    /// The newest version of a playbook, if the program still has it.
    fn current(&self, name: &str) -> Option<&Arc<Playbook>> {
        // Names in state mostly share the program's text: try those first.
        self.current
            .iter()
            .find(|p| std::ptr::eq(p.name.as_str(), name))
            .or_else(|| {
                self.current
                    .binary_search_by(|p| (*p.name).cmp(name))
                    .ok()
                    .map(|i| &self.current[i])
            })
    }

    /// The version an enrollment runs on, if this engine has it.
    pub fn version_of(&self, e: &Enrollment) -> Option<&Arc<Playbook>> {
        self.versions
            .iter()
            .find(|p| p.version == e.version && p.name == e.playbook)
    }

    pub fn customer_zone(&self, c: &CustomerState) -> Tz {
        match c.attrs.get(crate::value::names::timezone()) {
            Value::Str(s) => s.parse().unwrap_or(self.policy.zone),
            _ => self.policy.zone,
        }
    }

    /// The enrollment zone of a playbook for this customer.
    fn zone(&self, c: &CustomerState, pb: &Playbook) -> Tz {
        match pb.zone {
            Zone::Named(tz) => tz,
            Zone::Customer => self.customer_zone(c),
            Zone::Project => self.policy.zone,
        }
    }

    /// Records that a condition of a playbook could not be evaluated (no
    /// enrollment to fail): `what` names where it is.
    fn record_out_of_range(
        &self,
        ctx: &mut Ctx<'_>,
        c: &CustomerState,
        pb: &Playbook,
        what: &str,
        e: &eval::OutOfRange,
    ) {
        let detail = format!("{what}: {e}");
        self.record(ctx, c, Some(pb.name), RecordKind::Failed, detail);
    }

    fn record(
        &self,
        ctx: &mut Ctx<'_>,
        c: &CustomerState,
        playbook: Option<Sym>,
        kind: RecordKind,
        detail: impl Into<Detail>,
    ) {
        ctx.out.push(Effect::Record(Record {
            at: ctx.now,
            customer: customer_of(c),
            playbook,
            step: None,
            kind,
            detail: detail.into(),
        }));
    }

    /// A record of an action at `site` that did not go out as due, naming its step.
    fn skipped(
        &self,
        ctx: &mut Ctx<'_>,
        c: &CustomerState,
        pb: &Playbook,
        site: &flow::Site,
        kind: RecordKind,
        detail: impl Into<Detail>,
    ) {
        self.record(ctx, c, Some(pb.name), kind, detail);
        if let Some(Effect::Record(r)) = ctx.out.last_mut() {
            r.step = Some(site.label);
        }
    }

    /// Evaluates a condition with the customer, these event values, `now` and a playbook's zone.
    fn cond(
        &self,
        c: &CustomerState,
        pb: &Playbook,
        e: &crate::program::Expr,
        scope: (&Value, &Value, &Fields),
        now: DateTime<Utc>,
    ) -> Result<bool, eval::OutOfRange> {
        eval::condition(e, &self.env(c, pb, scope, now))
    }

    fn env<'a>(
        &self,
        c: &'a CustomerState,
        pb: &Playbook,
        (event, received, coupons): (&'a Value, &'a Value, &'a Fields),
        now: DateTime<Utc>,
    ) -> eval::Env<'a> {
        eval::Env {
            customer: &c.attrs,
            id: &c.id,
            event,
            received,
            coupons,
            now,
            zone: self.zone(c, pb),
            customer_zone: self.customer_zone(c),
        }
    }

    /// Whether the customer is in a segment; an error when its expression
    /// went out of range.
    pub fn in_segment(
        &self,
        c: &CustomerState,
        seg: &crate::program::Segment,
        now: DateTime<Utc>,
    ) -> Result<bool, eval::OutOfRange> {
        let empty = Fields::new();
        let zone = self.customer_zone(c);
        eval::in_segment(
            seg,
            &eval::Env {
                customer: &c.attrs,
                id: &c.id,
                event: &Value::Null,
                received: &Value::Null,
                coupons: &empty,
                now,
                zone,
                customer_zone: zone,
            },
        )
    }

    /// Handles one event for this customer at `now`: its attribute patch,
    /// then stop, goal and `wait for` of existing enrollments, then triggers,
    /// then `enter` segments (docs/language.md §6.10). Timers due at or
    /// before `now` must have run first ([`Engine::handle_timers`], or the driver).
    pub fn handle_event(
        &self,
        c: &mut CustomerState,
        now: DateTime<Utc>,
        ev: &Event,
    ) -> Vec<Effect> {
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
        out: &mut Vec<Effect>,
    ) {
        let mut ctx = Ctx {
            now,
            out,
            attrs_changed: false,
        };
        self.event(c, ev, &mut ctx);
        self.compact(c, now);
    }

    /// Runs every timer due at or before `now`, each at its own due instant,
    /// in the order of docs/language.md §6.10. With `catch_up`, cron and
    /// yearly fires older than its grace are skipped and recorded.
    pub fn handle_timers(
        &self,
        c: &mut CustomerState,
        now: DateTime<Utc>,
        catch_up: Option<&CatchUp>,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        self.handle_timers_into(c, now, catch_up, &mut out);
        out
    }

    /// [`Engine::handle_timers`], appending the effects to `out`.
    pub fn handle_timers_into(
        &self,
        c: &mut CustomerState,
        now: DateTime<Utc>,
        catch_up: Option<&CatchUp>,
        out: &mut Vec<Effect>,
    ) {
        let mut ctx = Ctx {
            now,
            out,
            attrs_changed: false,
        };
        self.timers(c, now, catch_up, &mut ctx);
        self.compact(c, now);
    }

    /// Drops what the state no longer needs: ended enrollments (their number
    /// and start stay for `reenter`), finished hooks, attributing ones' flows and data, sends
    /// older than any cap looks back, remembered events no wait ahead can take.
    fn compact(&self, c: &mut CustomerState, now: DateTime<Utc>) {
        if c.enrollments.iter().any(|e| e.status == Status::Ended) {
            let mut kept = Vec::with_capacity(c.enrollments.len());
            for e in std::mem::take(&mut c.enrollments) {
                if e.status != Status::Ended {
                    kept.push(e);
                    continue;
                }
                match c.past.iter_mut().find(|p| p.playbook == e.playbook) {
                    Some(p) if p.n >= e.n => {}
                    Some(p) => {
                        p.n = e.n;
                        p.entered = e.entered;
                    }
                    None => c.past.push(state::Past {
                        playbook: e.playbook,
                        n: e.n,
                        entered: e.entered,
                    }),
                }
            }
            c.enrollments = kept;
        }
        for i in 0..c.enrollments.len() {
            // Finished hooks are gone; the main flow stays first.
            c.enrollments[i]
                .flows
                .retain(|f| f.hook.is_none() || f.wait != state::Wait::Done);
            let e = &c.enrollments[i];
            if e.status == Status::Attributing && !e.flows.is_empty() {
                c.enrollments[i].shrink();
                continue;
            }
            if e.seen.is_empty() {
                continue;
            }
            let ahead: &[crate::value::Sym] = match (
                self.version_of(e),
                e.flows.iter().find(|f| f.hook.is_none()),
            ) {
                (Some(pb), Some(main)) if main.wait != state::Wait::Done => pb
                    .step_id(&main.cursor.step)
                    .map_or(&[], |s| pb.looks_back[s].as_slice()),
                _ => &[],
            };
            let ahead = ahead.to_vec();
            c.enrollments[i].seen.retain(|s| ahead.contains(&s.name));
        }
        c.ledger.prune(now - chrono::Duration::days(LEDGER_DAYS));
    }
}

/// The customer as effects name it: `None` for the broadcast pseudo-customer.
fn customer_of(c: &CustomerState) -> Option<Arc<str>> {
    (!c.id.is_empty()).then(|| c.id.clone())
}
