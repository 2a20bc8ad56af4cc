//! How customers enter and leave: events offered to enrollments, due timers
//! in their order, trigger schedules and segment memberships (set up and
//! reconciled with a changed program), enrollment and its end.

use super::driver::CatchUp;
use super::effect::{Detail, Effect, Reached, RecordKind};
use super::state::{
    Cursor, CustomerState, Enrollment, Flow, HookRun, Membership, Scheduled, Status, Wait,
};
use super::{bucket, time, Ctx, Engine, RUNAWAY, SEEN_PER_EVENT};
use crate::intake::Event;
use crate::program::{Action, Playbook, Reenter, TriggerKind};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

/// A due timer: the order key of docs/language.md §6.10, then where it is.
/// (due instant, class: 0 enrollment / 1 trigger fire / 2 midnight, playbook
/// name, enrollment number, main flow before hooks, hook name, plant number)
type DueKey<'a> = (DateTime<Utc>, u8, &'a str, u32, bool, &'a str, u32);

/// Passes of `enter` re-evaluation after one input or timer: each may
/// enroll and change attributes that move other memberships.
const ENTER_PASSES: usize = 10;

/// Cron fires each thread remembers (customers in one zone share them).
const REMEMBERED_FIRES: usize = 4096;

enum Due {
    Flow(usize, usize),
    Closing(usize),
    Fire(usize),
    Midnight,
}

impl Engine {
    pub(super) fn event(&self, c: &mut CustomerState, ev: &Event, ctx: &mut Ctx<'_>) {
        if !ev.attributes.is_empty() {
            c.attrs.patch(&ev.attributes);
            self.refresh_yearly(c, ctx.now);
        }
        if self.policy.opt_out.contains(&ev.name) {
            c.do_not_contact = true;
            for i in 0..c.enrollments.len() {
                if c.enrollments[i].status == Status::Active {
                    let detail = format!("opt-out: {}", ev.name);
                    self.end(c, i, ctx, RecordKind::Stopped, detail);
                }
            }
            return;
        }
        // An opt-in that clears the mark took effect: it is not unconsumed.
        let mut consumed = false;
        if self.policy.opt_in.contains(&ev.name) {
            consumed = c.do_not_contact;
            c.do_not_contact = false;
        }
        // Playbooks by name, then enrollments by number.
        let mut order: Vec<usize> = (0..c.enrollments.len()).collect();
        order.sort_by(|a, b| {
            let (x, y) = (&c.enrollments[*a], &c.enrollments[*b]);
            (&x.playbook, x.n).cmp(&(&y.playbook, y.n))
        });
        for i in order {
            if c.enrollments[i].status != Status::Ended {
                consumed |= self.offer(c, i, ev, ctx);
            }
        }
        for pb in &self.current {
            for t in &pb.triggers {
                let TriggerKind::Event { event, cond } = &t.kind else {
                    continue;
                };
                if *event != ev.name {
                    continue;
                }
                let data = Value::Record(ev.data.clone());
                let ok = match cond {
                    None => true,
                    Some(e) => {
                        match self.cond(c, pb, e, (&data, &Value::Null, &Fields::new()), ctx.now) {
                            Ok(ok) => ok,
                            Err(e) => {
                                consumed = true;
                                let what = format!("trigger {}", t.id);
                                self.record_out_of_range(ctx, c, pb, &what, &e);
                                false
                            }
                        }
                    }
                };
                if ok {
                    consumed = true;
                    self.enroll(c, pb, data, ctx, false);
                    break;
                }
            }
        }
        self.reevaluate_enter(c, ctx);
        if ctx.attrs_changed {
            self.refresh_yearly(c, ctx.now);
        }
        if !consumed {
            self.record(ctx, c, None, RecordKind::Unconsumed, Detail::Event(ev.name));
        }
    }

    /// Offers an event to one enrollment: stop > goal > `wait for`. Says whether it was used.
    fn offer(&self, c: &mut CustomerState, i: usize, ev: &Event, ctx: &mut Ctx<'_>) -> bool {
        let Some(pb) = self.version_of(&c.enrollments[i]) else {
            if c.enrollments[i].status == Status::Active {
                self.fail_unloaded(c, i, ctx);
            }
            return false;
        };
        let now = ctx.now;
        let data = Value::Record(ev.data.clone());
        let none = Fields::new();
        let incoming = (&data, &Value::Null, &none);
        let active = c.enrollments[i].status == Status::Active;
        // A condition that cannot be evaluated fails the enrollment.
        let holds = |cond: &Option<crate::program::Expr>| match cond {
            None => Ok(true),
            Some(e) => self.cond(c, pb, e, incoming, now),
        };
        if active {
            for s in &pb.stops {
                if s.event != ev.name {
                    continue;
                }
                match holds(&s.cond) {
                    Ok(false) => {}
                    Ok(true) => {
                        let detail = format!("event {}", ev.name);
                        self.end(c, i, ctx, RecordKind::Stopped, detail);
                        return true;
                    }
                    Err(e) => {
                        let detail = format!("stop event {}: {e}", ev.name);
                        self.end(c, i, ctx, RecordKind::Failed, detail);
                        return true;
                    }
                }
            }
        }
        if let Some(g) = &pb.goal {
            let reached = g.event == ev.name
                && match holds(&g.cond) {
                    Ok(reached) => reached,
                    Err(e) => {
                        let detail = format!("goal event {}: {e}", ev.name);
                        self.end(c, i, ctx, RecordKind::Failed, detail);
                        return true;
                    }
                };
            if reached {
                let zone = self.zone(c, pb);
                let e = &c.enrollments[i];
                // A window that would close after the year 9999 is still open.
                let inside = g.within.is_none_or(|d| {
                    time::add(zone, e.entered, d.days, d.seconds).is_none_or(|end| now < end)
                });
                let detail = Detail::Goal { converted: inside };
                if active {
                    self.end(c, i, ctx, RecordKind::Goal, detail);
                } else if inside {
                    // Attributing: the conversion is recorded and the enrollment is done.
                    self.record(ctx, c, Some(pb.name), RecordKind::Goal, detail);
                    c.enrollments[i].status = Status::Ended;
                }
                return true;
            }
        }
        if !active {
            return false;
        }
        if self.remembers(pb, &c.enrollments[i], ev) {
            let seen = &mut c.enrollments[i].seen;
            seen.push(super::state::Seen {
                name: ev.name,
                at: now,
                data: ev.data.clone(),
            });
            // A wait without a condition takes the latest; one with a condition
            // may need an older one.
            let keep = if pb.looks_back_if.contains(&ev.name) {
                SEEN_PER_EVENT
            } else {
                1
            };
            if seen.iter().filter(|s| s.name == ev.name).count() > keep {
                let oldest = seen.iter().position(|s| s.name == ev.name);
                if let Some(k) = oldest {
                    seen.remove(k);
                }
            }
        }
        let mut used = false;
        for f in 0..c.enrollments[i].flows.len() {
            let Wait::Event { name, opened, .. } = &c.enrollments[i].flows[f].wait else {
                continue;
            };
            if *name != ev.name || *opened > now {
                continue;
            }
            let Some(Action::WaitFor(w)) = self.action_at(pb, &c.enrollments[i].flows[f].cursor)
            else {
                continue;
            };
            let e = &c.enrollments[i];
            if let Some(cond) = &w.cond {
                match self.cond(c, pb, cond, (&e.event, &data, &none), now) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(err) => {
                        let step = pb.step_id(&e.flows[f].cursor.step).unwrap_or(0);
                        let place = self.place(pb, step, &e.flows[f]);
                        self.end(c, i, ctx, RecordKind::Failed, format!("{place}: {err}"));
                        return true;
                    }
                }
            }
            used = true;
            c.enrollments[i].received = data.clone();
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

    /// Whether an enrollment keeps this event for a `wait for … since entry`
    /// that its main flow can still reach.
    fn remembers(&self, pb: &Playbook, e: &Enrollment, ev: &Event) -> bool {
        let Some(main) = e.flows.iter().find(|f| f.hook.is_none()) else {
            return false;
        };
        main.wait != Wait::Done
            && pb
                .step_id(&main.cursor.step)
                .is_some_and(|s| pb.looks_back[s].contains(&ev.name))
    }

    /// Runs every timer due at or before `upto`, earliest first, each at its own instant.
    pub(super) fn timers(
        &self,
        c: &mut CustomerState,
        upto: DateTime<Utc>,
        catch_up: Option<&CatchUp>,
        ctx: &mut Ctx<'_>,
    ) {
        for _ in 0..RUNAWAY {
            let Some((at, due)) = self.next_due(c, upto) else {
                break;
            };
            ctx.now = at;
            ctx.attrs_changed = false;
            match due {
                Due::Fire(k) => self.fire(c, k, catch_up, ctx),
                Due::Midnight => {
                    let zone = self.customer_zone(c);
                    c.next_midnight = Some(next_midnight(zone, at));
                    self.reevaluate_enter(c, ctx);
                    continue;
                }
                Due::Closing(i) => {
                    c.enrollments[i].status = Status::Ended;
                    continue;
                }
                Due::Flow(i, f) => {
                    let retry = self.wake(c, i, f, ctx);
                    self.run(c, i, f, ctx, retry);
                }
            }
            // A timer whose flow ran a `tag` or `set`: dates and segments may have moved.
            if ctx.attrs_changed {
                self.refresh_yearly(c, ctx.now);
                self.reevaluate_enter(c, ctx);
            }
        }
        ctx.now = upto;
    }

    /// The earliest timer due at or before `upto`.
    fn next_due<'a>(
        &self,
        c: &'a CustomerState,
        upto: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, Due)> {
        let mut first: Option<(DueKey, Due)> = None;
        let mut offer = |key: DueKey<'a>, due: Due| {
            if key.0 <= upto && first.as_ref().is_none_or(|(b, _)| key < *b) {
                first = Some((key, due));
            }
        };
        for (i, e) in c.enrollments.iter().enumerate() {
            match e.status {
                Status::Active => {
                    for (f, flow) in e.flows.iter().enumerate() {
                        if let Some(t) = flow.wait.due() {
                            let (hook, plant) =
                                flow.hook.as_ref().map_or(("", 0), |h| (&*h.name, h.plant));
                            let key = (t, 0, &*e.playbook, e.n, flow.hook.is_some(), hook, plant);
                            offer(key, Due::Flow(i, f));
                        }
                    }
                }
                Status::Attributing => {
                    if let Some(t) = e.closes {
                        offer(
                            (t, 0, &*e.playbook, e.n, true, "", u32::MAX),
                            Due::Closing(i),
                        );
                    }
                }
                Status::Ended => {}
            }
        }
        for (k, s) in c.schedule.iter().enumerate() {
            offer(
                (s.at, 1, &*s.playbook, 0, false, "", k as u32),
                Due::Fire(k),
            );
        }
        if let Some(m) = c.next_midnight {
            offer((m, 2, "", 0, false, "", 0), Due::Midnight);
        }
        first.map(|(k, d)| (k.0, d))
    }

    /// A flow's timer ran out: what it waited for is over. Returns the
    /// deferral being retried, if it was one.
    fn wake(
        &self,
        c: &mut CustomerState,
        i: usize,
        f: usize,
        ctx: &mut Ctx<'_>,
    ) -> Option<(DateTime<Utc>, super::effect::DeferReason)> {
        let e = &mut c.enrollments[i];
        let flow = &mut e.flows[f];
        match std::mem::replace(&mut flow.wait, Wait::Ready) {
            Wait::Until(_) => None,
            Wait::Deferred { from, reason, .. } => Some((from, reason)),
            Wait::Event { else_step, .. } => {
                match else_step {
                    Some(s) => {
                        flow.cursor = Cursor {
                            step: s,
                            path: Vec::new(),
                            idx: 0,
                        };
                        if let Some(pb) = self.version_of(e) {
                            if let Some(id) = pb.step_id(&s) {
                                reach(e, pb, id, ctx);
                            }
                        }
                    }
                    None => flow.cursor.idx += 1,
                }
                c.enrollments[i].received = Value::Null;
                None
            }
            w @ (Wait::Ready | Wait::Done) => {
                flow.wait = w;
                None
            }
        }
    }

    /// Ends an enrollment whose version this engine does not have: it cannot go on.
    pub(super) fn fail_unloaded(&self, c: &mut CustomerState, i: usize, ctx: &mut Ctx<'_>) {
        let e = &c.enrollments[i];
        let detail = format!(
            "version {} of playbook {} is not loaded, so the enrollment cannot go on",
            e.version, e.playbook
        );
        self.end(c, i, ctx, RecordKind::Failed, detail);
    }

    /// Sets up a customer, or brings one saved under an earlier program up to
    /// this one: trigger schedules (a new `every` or `yearly` trigger is
    /// scheduled from `at`, a removed one dropped), `enter` baselines (members
    /// at this moment do not enter), midnight checks, yearly dates that
    /// changed. The customer with the empty id stands for broadcasts. Calling
    /// it again changes nothing.
    ///
    /// An enrollment whose version this engine does not have cannot go on: it
    /// ends as failed, which the returned records say.
    pub fn init(&self, c: &mut CustomerState, at: DateTime<Utc>) -> Vec<Effect> {
        let mut out = Vec::new();
        let mut ctx = Ctx {
            now: at,
            out: &mut out,
            attrs_changed: false,
        };
        for i in 0..c.enrollments.len() {
            let e = &c.enrollments[i];
            if self.version_of(e).is_none() {
                match e.status {
                    Status::Active => self.fail_unloaded(c, i, &mut ctx),
                    _ => c.enrollments[i].status = Status::Ended,
                }
            }
        }
        self.reconcile(c, at, &mut ctx);
        self.compact(c, at);
        out
    }

    /// Brings trigger schedules, memberships and midnight checks up to this program.
    fn reconcile(&self, c: &mut CustomerState, at: DateTime<Utc>, ctx: &mut Ctx<'_>) {
        let broadcast_run = c.id.is_empty();
        let has = |playbook: &str, trigger: &str, scheduled: bool| {
            self.current(playbook).is_some_and(|pb| {
                pb.broadcast == broadcast_run
                    && pb.triggers.iter().any(|t| {
                        &*t.id == trigger
                            && matches!(
                                t.kind,
                                TriggerKind::Every { .. } | TriggerKind::Yearly { .. }
                            ) == scheduled
                    })
            })
        };
        // A yearly trigger rewritten (another clock or offset) is another
        // trigger, but the anniversary it already fired for stays fired.
        let (kept, dropped): (Vec<Scheduled>, Vec<Scheduled>) = std::mem::take(&mut c.schedule)
            .into_iter()
            .partition(|s| has(&s.playbook, &s.trigger, true));
        c.schedule = kept;
        c.memberships
            .retain(|m| has(&m.playbook, &m.trigger, false));
        let mut midnight = false;
        for pb in &self.current {
            if pb.broadcast != broadcast_run {
                continue;
            }
            for t in &pb.triggers {
                match &t.kind {
                    TriggerKind::Every { .. } | TriggerKind::Yearly { .. } => {
                        if c.schedule
                            .iter()
                            .any(|s| s.playbook == pb.name && s.trigger == t.id)
                        {
                            continue;
                        }
                        let mut entry = Scheduled {
                            at,
                            playbook: pb.name,
                            trigger: t.id,
                            date: None,
                            year: None,
                            fired: None,
                        };
                        if !self.schedule_next(c, pb, &t.kind, &mut entry, at, true) {
                            continue;
                        }
                        let fired = dropped
                            .iter()
                            .filter(|d| {
                                d.playbook == pb.name && d.date.is_some() && d.date == entry.date
                            })
                            .filter_map(|d| d.fired)
                            .max();
                        if fired.is_some() {
                            entry.fired = fired;
                            if !self.schedule_next(c, pb, &t.kind, &mut entry, at, true) {
                                continue;
                            }
                        }
                        c.schedule.push(entry);
                    }
                    TriggerKind::Enter { segment } => {
                        midnight |= segment.reads_clock;
                        if !c
                            .memberships
                            .iter()
                            .any(|m| m.playbook == pb.name && m.trigger == t.id)
                        {
                            // A baseline that cannot be evaluated counts as not a member.
                            let member = match self.in_segment(c, segment, at) {
                                Ok(member) => member,
                                Err(e) => {
                                    let what = format!("trigger {}", t.id);
                                    self.record_out_of_range(ctx, c, pb, &what, &e);
                                    false
                                }
                            };
                            c.memberships.push(Membership {
                                playbook: pb.name,
                                trigger: t.id,
                                member,
                            });
                        }
                    }
                    TriggerKind::Event { .. } => {}
                }
            }
        }
        if !midnight {
            c.next_midnight = None;
        } else if c.next_midnight.is_none() {
            c.next_midnight = Some(next_midnight(self.customer_zone(c), at));
        }
        self.refresh_yearly(c, at);
    }

    /// Reschedules `yearly` fires whose date changed since they were computed.
    fn refresh_yearly(&self, c: &mut CustomerState, now: DateTime<Utc>) {
        // From the end, so removing an entry leaves the ones still to check in place.
        for k in (0..c.schedule.len()).rev() {
            let s = &c.schedule[k];
            let Some(pb) = self.current(&s.playbook) else {
                continue;
            };
            let Some(t) = pb.triggers.iter().find(|t| t.id == s.trigger) else {
                continue;
            };
            let TriggerKind::Yearly { path, .. } = &t.kind else {
                continue;
            };
            let zone = self.zone(c, pb);
            if yearly_date(&c.attrs, path, zone) == s.date {
                continue;
            }
            let mut entry = c.schedule[k].clone();
            if self.schedule_next(c, pb, &t.kind, &mut entry, now, true) {
                c.schedule[k] = entry;
            } else {
                c.schedule.remove(k);
            }
        }
    }

    /// Sets `entry` to the trigger's next fire at or after (`inclusive`) or
    /// after `from`; false when it never fires again.
    fn schedule_next(
        &self,
        c: &CustomerState,
        pb: &Playbook,
        kind: &TriggerKind,
        entry: &mut Scheduled,
        from: DateTime<Utc>,
        inclusive: bool,
    ) -> bool {
        let zone = self.zone(c, pb);
        match kind {
            TriggerKind::Every { cron, .. } => match self.next_cron(cron, zone, from, inclusive) {
                Some(at) => {
                    entry.at = at;
                    true
                }
                None => false,
            },
            TriggerKind::Yearly {
                path,
                offset_days,
                at,
            } => {
                let Some(date) = yearly_date(&c.attrs, path, zone) else {
                    // No date: nothing to schedule until one is set.
                    entry.date = None;
                    entry.year = None;
                    entry.at = time::never();
                    return true;
                };
                entry.date = Some(date);
                let year = time::local(zone, from).date().year();
                let after = entry.fired.unwrap_or(i32::MIN).max(date.year());
                let next = (year - 1..=year + 2)
                    .filter(|y| *y > after)
                    .filter_map(|y| {
                        let anniversary = NaiveDate::from_ymd_opt(y, date.month(), date.day())
                            .or_else(|| NaiveDate::from_ymd_opt(y, 2, 28))?;
                        let day = anniversary
                            .checked_add_signed(chrono::Duration::try_days(*offset_days)?)?;
                        let t = time::resolve(zone, day.and_time(chrono::NaiveTime::MIN));
                        Some((y, time::at_clock(zone, t, *at)))
                    })
                    .find(|(_, t)| if inclusive { *t >= from } else { *t > from });
                match next {
                    Some((y, t)) => {
                        entry.year = Some(y);
                        entry.at = t;
                        true
                    }
                    None => false,
                }
            }
            _ => false,
        }
    }

    /// The next fire of a cron pattern in a zone. Customers in one zone share
    /// their fires: each thread remembers the last ones asked (finding a fire
    /// is the costly part).
    fn next_cron(
        &self,
        cron: &croner::Cron,
        zone: Tz,
        from: DateTime<Utc>,
        inclusive: bool,
    ) -> Option<DateTime<Utc>> {
        type Memo = HashMap<(u64, usize, Tz, DateTime<Utc>, bool), Option<DateTime<Utc>>>;
        thread_local!(static FIRES: RefCell<Memo> = RefCell::new(HashMap::new()));
        let memo_key = (
            self.id,
            cron as *const croner::Cron as usize,
            zone,
            from,
            inclusive,
        );
        if let Some(hit) = FIRES.with(|m| m.borrow().get(&memo_key).copied()) {
            return hit;
        }
        let next = crate::cron::next_fire(cron, zone, from, inclusive);
        FIRES.with(|m| {
            let mut m = m.borrow_mut();
            if m.len() >= REMEMBERED_FIRES {
                m.clear();
            }
            m.insert(memo_key, next);
        });
        next
    }

    /// A scheduled trigger fires: reschedule it, then enroll if it applies.
    fn fire(&self, c: &mut CustomerState, k: usize, catch_up: Option<&CatchUp>, ctx: &mut Ctx<'_>) {
        let entry = c.schedule[k].clone();
        let found = self.current(&entry.playbook).and_then(|pb| {
            let t = pb.triggers.iter().position(|t| t.id == entry.trigger)?;
            Some((pb, t))
        });
        let Some((pb, ti)) = found else {
            c.schedule.remove(k);
            return;
        };
        let kind = &pb.triggers[ti].kind;
        let mut next = entry.clone();
        next.fired = entry.year.or(entry.fired);
        if self.schedule_next(c, pb, kind, &mut next, entry.at, false) {
            c.schedule[k] = next;
        } else {
            c.schedule.remove(k);
        }
        if let Some(cu) = catch_up {
            if cu.skips(kind, entry.at) {
                let detail = format!(
                    "{} at {} was missed while no runner ran",
                    pb.triggers[ti].id,
                    entry.at.with_timezone(&self.zone(c, pb)).to_rfc3339()
                );
                self.record(ctx, c, Some(pb.name), RecordKind::SkippedFire, detail);
                return;
            }
        }
        let applies = match kind {
            TriggerKind::Every {
                segment: Some(seg), ..
            } => match self.in_segment(c, seg, ctx.now) {
                Ok(member) => member,
                Err(e) => {
                    let what = format!("trigger {}", pb.triggers[ti].id);
                    self.record_out_of_range(ctx, c, pb, &what, &e);
                    false
                }
            },
            _ => true,
        };
        if applies {
            self.enroll(c, pb, Value::Null, ctx, true);
        }
    }

    /// Re-evaluates `enter` segments; a false → true change enrolls, in playbook-name
    /// order, at most one per playbook per pass; passes repeat while memberships change.
    pub(super) fn reevaluate_enter(&self, c: &mut CustomerState, ctx: &mut Ctx<'_>) {
        if c.memberships.is_empty() {
            return;
        }
        for _ in 0..ENTER_PASSES {
            let mut changed = false;
            for pb in &self.current {
                let mut enrolled = false;
                for t in &pb.triggers {
                    let TriggerKind::Enter { segment } = &t.kind else {
                        continue;
                    };
                    let Some(m) = c
                        .memberships
                        .iter()
                        .position(|m| m.playbook == pb.name && m.trigger == t.id)
                    else {
                        continue;
                    };
                    // Membership stays as it was while it cannot be evaluated.
                    let member = match self.in_segment(c, segment, ctx.now) {
                        Ok(member) => member,
                        Err(e) => {
                            let what = format!("trigger {}", t.id);
                            self.record_out_of_range(ctx, c, pb, &what, &e);
                            c.memberships[m].member
                        }
                    };
                    if member != c.memberships[m].member {
                        changed = true;
                        c.memberships[m].member = member;
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
    pub(super) fn enroll(
        &self,
        c: &mut CustomerState,
        pb: &Arc<Playbook>,
        event: Value,
        ctx: &mut Ctx<'_>,
        scheduled: bool,
    ) {
        if c.do_not_contact {
            self.record(
                ctx,
                c,
                Some(pb.name),
                RecordKind::Suppressed,
                "trigger ignored: the customer opted out",
            );
            return;
        }
        if self.is_paused(&pb.name) {
            self.record(
                ctx,
                c,
                Some(pb.name),
                RecordKind::Ignored,
                "trigger while the playbook is paused (`tend resume` lets it take entries again)",
            );
            return;
        }
        if !pb.broadcast && c.active(&pb.name).is_some() {
            self.record(
                ctx,
                c,
                Some(pb.name),
                RecordKind::Ignored,
                "trigger while already enrolled",
            );
            return;
        }
        let last = c.last(&pb.name);
        if let Some((_, entered)) = last.filter(|_| !pb.broadcast) {
            let zone = self.zone(c, pb);
            let allowed = match pb.reenter {
                None => scheduled,
                Some(Reenter::Never) => false,
                Some(Reenter::Always) => true,
                // Not before the year 9999 is never.
                Some(Reenter::After(d)) => {
                    time::add(zone, entered, d.days, d.seconds).is_some_and(|t| ctx.now >= t)
                }
            };
            if !allowed {
                self.record(
                    ctx,
                    c,
                    Some(pb.name),
                    RecordKind::Ignored,
                    "reenter does not allow a new enrollment yet",
                );
                return;
            }
        }
        let n = last.map_or(0, |(n, _)| n) + 1;
        for e in c
            .enrollments
            .iter_mut()
            .filter(|e| e.playbook == pb.name && e.status == Status::Attributing)
        {
            e.status = Status::Ended;
        }
        let held_out = pb
            .holdout
            .is_some_and(|h| bucket::held_out(&c.id, &pb.name, h));
        let first = pb.steps.first().map(|s| s.name).unwrap_or_default();
        let event = self.kept_payload(pb, event);
        let e = Enrollment {
            playbook: pb.name,
            version: pb.version,
            n,
            entered: ctx.now,
            event,
            held_out,
            status: Status::Active,
            closes: None,
            flows: vec![Flow {
                hook: None,
                cursor: Cursor {
                    step: first,
                    path: Vec::new(),
                    idx: 0,
                },
                wait: Wait::Ready,
            }],
            coupons: Fields::new(),
            received: Value::Null,
            seen: Vec::new(),
            occurrences: Default::default(),
            plants: 0,
            reached: Vec::new(),
        };
        c.enrollments.push(e);
        let i = c.enrollments.len() - 1;
        self.record(
            ctx,
            c,
            Some(pb.name),
            RecordKind::Entered,
            Detail::Entered { held_out },
        );
        if !pb.steps.is_empty() {
            reach(&mut c.enrollments[i], pb, 0, ctx);
        }
        self.run(c, i, 0, ctx, None);
    }

    /// What an enrollment keeps of its triggering event: the fields its steps
    /// read, and those a channel setting names (`event.welcome_code`).
    fn kept_payload(&self, pb: &Playbook, event: Value) -> Value {
        let (Some(read), Value::Record(data)) = (&pb.event_fields, &event) else {
            return event;
        };
        let named = |k: crate::value::Sym| {
            read.contains(&k)
                || self.policy.channels.iter().any(|ch| {
                    ch.refs.iter().any(|r| {
                        r.root == crate::program::Root::Event && r.path.first() == Some(&k)
                    })
                })
        };
        Value::Record(
            data.iter()
                .filter(|(k, _)| named(*k))
                .map(|(k, v)| (k, v.clone()))
                .collect(),
        )
    }

    /// Ends an enrollment: cancels its waits and hooks.
    pub(super) fn end(
        &self,
        c: &mut CustomerState,
        i: usize,
        ctx: &mut Ctx<'_>,
        kind: RecordKind,
        detail: impl Into<Detail>,
    ) {
        let e = &mut c.enrollments[i];
        let pending_hooks = e
            .flows
            .iter()
            .filter(|f| f.hook.is_some() && f.wait != Wait::Done)
            .count();
        e.status = Status::Ended;
        for f in &mut e.flows {
            f.wait = Wait::Done;
        }
        let name = e.playbook;
        if pending_hooks > 0 {
            self.record(
                ctx,
                c,
                Some(name),
                RecordKind::HookCancelled,
                format!("{pending_hooks} pending"),
            );
        }
        self.record(ctx, c, Some(name), kind, detail);
    }

    /// Plants a hook's flow beside the main flow.
    pub(super) fn plant(
        &self,
        c: &mut CustomerState,
        i: usize,
        name: Sym,
        cursor: Cursor,
        fire: DateTime<Utc>,
        ctx: &mut Ctx<'_>,
    ) {
        let playbook = c.enrollments[i].playbook;
        let replaced = c.enrollments[i]
            .flows
            .iter_mut()
            .find(|fl| fl.hook.as_ref().is_some_and(|h| h.name == name) && fl.wait != Wait::Done);
        if let Some(old) = replaced {
            old.wait = Wait::Done;
            self.record(
                ctx,
                c,
                Some(playbook),
                RecordKind::HookReplaced,
                name.to_string(),
            );
        }
        let e = &mut c.enrollments[i];
        e.plants += 1;
        e.flows.push(Flow {
            hook: Some(HookRun {
                name,
                plant: e.plants,
            }),
            cursor,
            wait: Wait::Until(fire.max(ctx.now)),
        });
        self.record(
            ctx,
            c,
            Some(playbook),
            RecordKind::HookPlanted,
            Detail::Planted {
                hook: name,
                at: fire,
            },
        );
    }
}

/// Marks a step reached; the first time, the funnel hears of it.
pub(super) fn reach(e: &mut Enrollment, pb: &Playbook, step: usize, ctx: &mut Ctx<'_>) {
    if e.reach(step) {
        ctx.out.push(Effect::Reached(Reached {
            playbook: pb.name,
            step: pb.steps[step].name,
        }));
    }
}

/// The date a `yearly` trigger counts from, in the enrollment zone.
fn yearly_date(attrs: &Fields, path: &[crate::value::Sym], zone: Tz) -> Option<NaiveDate> {
    match attrs.path(path) {
        Value::Date(d) => Some(*d),
        Value::DateTime(t) => Some(time::local(zone, *t).date()),
        _ => None,
    }
}

/// The first instant of the local day after the one `t` is in.
fn next_midnight(zone: Tz, t: DateTime<Utc>) -> DateTime<Utc> {
    time::start_of(
        zone,
        time::local(zone, t).date() + chrono::Duration::days(1),
    )
}
