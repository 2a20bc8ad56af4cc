//! The flow interpreter: runs one flow of an enrollment (its main flow or a
//! hook) until it blocks or ends, action by action.

use super::effect::{DeferReason, RecordKind};
use super::eval::OutOfRange;
use super::state::{Cursor, CustomerState, Flow, Status, Wait};
use super::text::Scope;
use super::triggers::reach;
use super::{bucket, time, Ctx, Engine, RUNAWAY};
use crate::program::{show, Action, Block, Playbook, Root, StepId, TimeBase, TimeExpr, WaitFor};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::sync::Arc;

/// Where an action runs: its enrollment, and what identifies this run of it.
pub(super) struct Site {
    pub i: usize,
    /// `step/i.b/…/n` or `hook NAME/…/n`.
    pub path: Sym,
    pub plant: u32,
    /// Runs of this site before this one in the enrollment.
    pub occurrence: u32,
    /// How deliveries name where they came from: the step, or `step/hook NAME`.
    pub label: Sym,
}

impl Engine {
    /// Runs one flow until it blocks or ends. `retry` is the deferral of the
    /// send it stopped at, when a deferred send is due again.
    pub(super) fn run(
        &self,
        c: &mut CustomerState,
        i: usize,
        f: usize,
        ctx: &mut Ctx<'_>,
        mut retry: Option<(DateTime<Utc>, DeferReason)>,
    ) {
        let Some(pb) = self.version_of(&c.enrollments[i]) else {
            self.fail_unloaded(c, i, ctx);
            return;
        };
        let zone = self.zone(c, pb);
        // A value out of range ends the enrollment as failed, once the loop let go of it.
        let mut failed: Option<(StepId, OutOfRange)> = None;
        for _ in 0..RUNAWAY {
            if c.enrollments[i].status != Status::Active
                || c.enrollments[i].flows[f].wait != Wait::Ready
            {
                return;
            }
            let flow = &c.enrollments[i].flows[f];
            let (idx, plant) = (flow.cursor.idx, flow.hook.as_ref().map_or(0, |h| h.plant));
            let step = pb.step_id(&flow.cursor.step);
            let Some((step, block)) =
                step.and_then(|s| Some((s, block_of(pb, s, &flow.cursor.path)?)))
            else {
                c.enrollments[i].flows[f].wait = Wait::Done;
                break;
            };
            if idx >= block.len() {
                let fl = &mut c.enrollments[i].flows[f];
                if fl.cursor.path.len() > fl.root_depth() {
                    let (ai, _) = fl.cursor.path.pop().expect("a nested block");
                    fl.cursor.idx = ai + 1;
                } else if fl.hook.is_none() && step + 1 < pb.steps.len() {
                    self.goto(c, i, f, pb, step + 1, ctx);
                } else {
                    fl.wait = Wait::Done;
                    break;
                }
                continue;
            }
            let held_out = c.enrollments[i].held_out;
            let now = ctx.now;
            let advance = |c: &mut CustomerState| c.enrollments[i].flows[f].cursor.idx += 1;
            match &block[idx] {
                Action::Send(send) => {
                    if held_out {
                        advance(c);
                        continue;
                    }
                    let site = self.site(c, i, f, pb, step, (send.site, plant));
                    if let Some(wait) = self.send(c, &site, pb, send, ctx, retry.take()) {
                        // Deferred: the same site runs again, so it keeps its occurrence and key.
                        c.enrollments[i].occurrences.uncount(site.path);
                        c.enrollments[i].flows[f].wait = wait;
                        return;
                    }
                    advance(c);
                }
                Action::Wait(d) => {
                    advance(c);
                    let Some(until) = time::add(zone, now, d.days, d.seconds) else {
                        let wait = format!("wait {}", show::duration(d.days, d.seconds));
                        failed = Some((step, OutOfRange(wait)));
                        break;
                    };
                    c.enrollments[i].flows[f].wait = Wait::Until(until);
                    return;
                }
                Action::WaitUntil { at: t, site } => {
                    let at = match self.time_point(c, i, t, zone, now) {
                        Ok(at) => at,
                        Err(e) => {
                            failed = Some((step, e));
                            break;
                        }
                    };
                    if at.is_none() {
                        let detail = format!("{site}: the time is missing");
                        self.record(ctx, c, Some(pb.name), RecordKind::WaitSkipped, detail);
                    }
                    advance(c);
                    if let Some(at) = at.filter(|at| *at > now) {
                        c.enrollments[i].flows[f].wait = Wait::Until(at);
                        return;
                    }
                }
                Action::WaitFor(w) => {
                    if w.since_entry {
                        match self.seen_match(c, i, pb, w, now) {
                            Ok(Some(data)) => {
                                c.enrollments[i].received = data;
                                advance(c);
                                continue;
                            }
                            Ok(None) => {}
                            Err(e) => {
                                failed = Some((step, e));
                                break;
                            }
                        }
                    }
                    let deadline = match w.within {
                        None => None,
                        Some(d) => match time::add(zone, now, d.days, d.seconds) {
                            Some(t) => Some(t),
                            None => {
                                let within =
                                    format!("within {}", show::duration(d.days, d.seconds));
                                failed = Some((step, OutOfRange(within)));
                                break;
                            }
                        },
                    };
                    c.enrollments[i].flows[f].wait = Wait::Event {
                        name: w.event,
                        deadline,
                        else_step: w.else_step.map(|s| pb.steps[s].name),
                        opened: now,
                    };
                    return;
                }
                Action::If {
                    cond, otherwise, ..
                } => {
                    let e = &c.enrollments[i];
                    let yes = match self.cond(c, pb, cond, (&e.event, &e.received, &e.coupons), now)
                    {
                        Ok(yes) => yes,
                        Err(e) => {
                            failed = Some((step, e));
                            break;
                        }
                    };
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
                Action::Split { arms, ordinal } => {
                    let bps: Vec<u32> = arms.iter().map(|a| a.0).collect();
                    let arm =
                        bucket::split_arm(&c.id, &pb.name, &pb.steps[step].name, *ordinal, &bps);
                    self.goto(c, i, f, pb, arms[arm].1, ctx);
                }
                Action::Tag { add, tags } => {
                    if !held_out {
                        self.tag(c, *add, tags);
                        ctx.attrs_changed = true;
                    }
                    advance(c);
                }
                Action::Set { path, value } => {
                    if !held_out {
                        let e = &c.enrollments[i];
                        let v = super::eval::eval(
                            value,
                            &self.env(c, pb, (&e.event, &e.received, &e.coupons), now),
                        );
                        match v {
                            Ok(v) => c.attrs.set_path(path, v),
                            Err(e) => {
                                failed = Some((step, e));
                                break;
                            }
                        }
                        ctx.attrs_changed = true;
                    }
                    advance(c);
                }
                Action::Grant {
                    site,
                    coupon,
                    worth,
                    valid,
                } => {
                    if !held_out {
                        let Some(expires) = time::add(zone, now, valid.days, valid.seconds) else {
                            let valid =
                                format!("valid {}", show::duration(valid.days, valid.seconds));
                            failed = Some((step, OutOfRange(valid)));
                            break;
                        };
                        use crate::value::names;
                        let record: Fields = [
                            (names::expires_at(), Value::DateTime(expires)),
                            (names::granted_at(), Value::DateTime(now)),
                            (names::worth(), Value::Float(*worth)),
                        ]
                        .into_iter()
                        .collect();
                        c.enrollments[i].coupons.set(*coupon, Value::Record(record));
                        let site = self.site(c, i, f, pb, step, (*site, plant));
                        let grant = super::effect::Grant {
                            worth: *worth,
                            expires_at: expires,
                        };
                        self.grant(c, &site, pb, (*coupon, grant), ctx);
                    }
                    advance(c);
                }
                Action::Hook { name, at, .. } => {
                    advance(c);
                    if held_out {
                        continue;
                    }
                    match self.time_point(c, i, at, zone, now) {
                        Err(e) => {
                            failed = Some((step, e));
                            break;
                        }
                        Ok(None) => {
                            let detail = format!("{name}: the time is missing");
                            self.record(ctx, c, Some(pb.name), RecordKind::HookUnplanted, detail);
                        }
                        Ok(Some(fire)) => {
                            let mut path = c.enrollments[i].flows[f].cursor.path.clone();
                            path.push((idx, 2));
                            let cursor = Cursor {
                                step: pb.steps[step].name,
                                path,
                                idx: 0,
                            };
                            self.plant(c, i, *name, cursor, fire, ctx);
                        }
                    }
                }
                Action::Task { text, site } => {
                    if !held_out {
                        let site = self.site(c, i, f, pb, step, (*site, plant));
                        self.task(c, &site, pb, text, zone, ctx);
                    }
                    advance(c);
                }
                Action::Jump(target) => self.goto(c, i, f, pb, *target, ctx),
                Action::End => {
                    c.enrollments[i].flows[f].wait = Wait::Done;
                    break;
                }
            }
        }
        if let Some((step, e)) = failed {
            let place = self.place(pb, step, &c.enrollments[i].flows[f]);
            self.end(c, i, ctx, RecordKind::Failed, format!("{place}: {e}"));
            return;
        }
        if c.enrollments[i].flows[f].wait == Wait::Ready {
            // The runaway guard tripped.
            let detail = format!("{RUNAWAY} actions without blocking");
            self.end(c, i, ctx, RecordKind::Failed, detail);
            return;
        }
        let e = &c.enrollments[i];
        if e.status == Status::Active && e.flows.iter().all(|fl| fl.wait == Wait::Done) {
            // The goal window stays open after the flow when it has a length.
            let closes = pb
                .goal
                .as_ref()
                .and_then(|g| g.within)
                // A window past the year 9999 stays open as long as any can.
                .map(|d| {
                    time::add(self.zone(c, pb), e.entered, d.days, d.seconds)
                        .unwrap_or_else(time::never)
                });
            let e = &mut c.enrollments[i];
            match closes.filter(|t| *t > ctx.now) {
                Some(t) => {
                    e.status = Status::Attributing;
                    e.closes = Some(t);
                }
                None => e.status = Status::Ended,
            }
            self.record(ctx, c, Some(pb.name), RecordKind::Finished, "");
        }
    }

    /// The latest remembered event a `wait for … since entry` takes, if any.
    fn seen_match(
        &self,
        c: &CustomerState,
        i: usize,
        pb: &Playbook,
        w: &WaitFor,
        now: DateTime<Utc>,
    ) -> Result<Option<Value>, OutOfRange> {
        let e = &c.enrollments[i];
        for s in e.seen.iter().rev().filter(|s| s.name == w.event) {
            let data = Value::Record(s.data.clone());
            let ok = match &w.cond {
                None => true,
                Some(cond) => self.cond(c, pb, cond, (&e.event, &data, &Fields::new()), now)?,
            };
            if ok {
                return Ok(Some(data));
            }
        }
        Ok(None)
    }

    /// Where a flow is, for a record: `step NAME` or `hook NAME (step NAME)`.
    pub(super) fn place(&self, pb: &Playbook, step: StepId, flow: &Flow) -> String {
        match &flow.hook {
            None => format!("step {}", pb.steps[step].name),
            Some(h) => format!("hook {} (step {})", h.name, pb.steps[step].name),
        }
    }

    /// Moves a flow to the start of a step.
    fn goto(
        &self,
        c: &mut CustomerState,
        i: usize,
        f: usize,
        pb: &Playbook,
        step: StepId,
        ctx: &mut Ctx<'_>,
    ) {
        c.enrollments[i].flows[f].cursor = Cursor {
            step: pb.steps[step].name,
            path: Vec::new(),
            idx: 0,
        };
        reach(&mut c.enrollments[i], pb, step, ctx);
    }

    fn tag(&self, c: &mut CustomerState, add: bool, tags: &[Arc<str>]) {
        let key = crate::value::names::tags();
        let mut items: Vec<Value> = match c.attrs.get(key) {
            Value::List(items) => items.to_vec(),
            _ => Vec::new(),
        };
        for t in tags {
            let v = Value::Str(t.clone());
            if add && !items.contains(&v) {
                items.push(v);
            } else if !add {
                items.retain(|x| *x != v);
            }
        }
        c.attrs.set(key, Value::List(items.into()));
    }

    /// The action a flow's cursor points at.
    pub(super) fn action_at<'p>(&self, pb: &'p Playbook, cursor: &Cursor) -> Option<&'p Action> {
        let step = pb.step_id(&cursor.step)?;
        block_of(pb, step, &cursor.path)?.get(cursor.idx)
    }

    /// Counts one more run of the flow's current action (at `path`, in hook
    /// plant `plant`) and names it for its idempotency key and deliveries.
    fn site(
        &self,
        c: &mut CustomerState,
        i: usize,
        f: usize,
        pb: &Playbook,
        step: StepId,
        (path, plant): (Sym, u32),
    ) -> Site {
        let flow = &c.enrollments[i].flows[f];
        let label = match &flow.hook {
            None => pb.steps[step].name,
            Some(h) => hook_label(pb, step, flow)
                .unwrap_or_else(|| Sym::new(&format!("{}/hook {}", pb.steps[step].name, h.name))),
        };
        let occurrence = c.enrollments[i].occurrences.count(path);
        Site {
            i,
            path,
            plant,
            occurrence,
            label,
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
    ) -> Result<Option<DateTime<Utc>>, OutOfRange> {
        match t {
            TimeExpr::Next { weekday, clock } => Ok(Some(time::next(zone, now, *weekday, *clock))),
            TimeExpr::Point { base, offsets, at } => {
                let t_expr = t;
                let e = &c.enrollments[i];
                let mut t = match base {
                    TimeBase::Now => now,
                    TimeBase::Date(d) => time::start_of(zone, *d),
                    TimeBase::DateTime(dt) => time::resolve(zone, *dt),
                    TimeBase::Path(root, rest) => {
                        let v = match root {
                            Root::Customer => c.attrs.path(rest),
                            Root::Event => e.event.path(rest),
                            Root::Received => e.received.path(rest),
                            Root::Coupon => e.coupons.path(rest),
                        };
                        match v {
                            Value::DateTime(t) => *t,
                            Value::Date(d) => time::start_of(zone, *d),
                            _ => return Ok(None),
                        }
                    }
                };
                for (sign, d) in offsets {
                    t = time::add(zone, t, sign * d.days, sign * d.seconds)
                        .ok_or_else(|| OutOfRange(show::time(t_expr)))?;
                }
                if let Some(c) = at {
                    t = time::at_clock(zone, t, *c);
                }
                Ok(Some(t))
            }
        }
    }

    /// Renders a text where enrollment `i` runs, for a channel (its name and
    /// the longest text it takes).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn render(
        &self,
        c: &CustomerState,
        i: usize,
        source: &str,
        with: Vec<(Sym, Value)>,
        zone: Tz,
        now: DateTime<Utc>,
        channel: (crate::program::MaxLength, &str),
    ) -> Result<String, String> {
        let e = &c.enrollments[i];
        let scope = Scope {
            customer: &c.attrs,
            id: &c.id,
            event: &e.event,
            received: &e.received,
            coupon: &e.coupons,
            now,
            with,
        };
        self.texts.render(source, &scope, zone, channel)
    }
}

/// The block a cursor path leads to inside a step.
pub(super) fn block_of<'p>(
    pb: &'p Playbook,
    step: StepId,
    path: &[(usize, u8)],
) -> Option<&'p Block> {
    let mut block = &pb.steps.get(step)?.body;
    for (ai, br) in path {
        block = match (block.get(*ai)?, br) {
            (Action::If { then, .. }, 0) => then,
            (
                Action::If {
                    otherwise: Some(o), ..
                },
                1,
            ) => o,
            (Action::Hook { body, .. }, 2) => body,
            _ => return None,
        };
    }
    Some(block)
}

/// A hook flow's `step/hook NAME`, from the hook action that planted it.
fn hook_label(pb: &Playbook, step: StepId, flow: &Flow) -> Option<Sym> {
    let depth = flow.root_depth().checked_sub(1)?;
    let (ai, _) = flow.cursor.path.get(depth)?;
    match block_of(pb, step, &flow.cursor.path[..depth])?.get(*ai)? {
        Action::Hook { label, .. } => Some(*label),
        _ => None,
    }
}
