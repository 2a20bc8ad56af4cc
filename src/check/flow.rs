//! Checking one playbook: settings, triggers, goal and stop, and every step's
//! actions, while building its control-flow graph and list of send sites.

use super::cfg::{Cfg, NodeKind, Pending};
use super::templates::{self, Kind, Wording};
use super::typeck::{EventScope, Scope};
use super::{nearest, rules, CheckedPlaybook, Checker, Zone};
use crate::config::Touchpoint;
use crate::diag::Finding;
use crate::source::FileId;
use crate::syntax::ast::*;
use crate::types::{Record, Type};
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

/// A place that emits a message, with what the lint rules need to know of it.
#[derive(Debug, Clone)]
pub struct SendSite {
    pub channel: String,
    pub touchpoint: Touchpoint,
    /// The named template, or `None` for an inline string.
    pub template: Option<String>,
    pub inline: Option<Wording>,
    pub kind: Kind,
    pub span: Span,
    pub in_hook: bool,
    /// `with` keys whose value reads customer, event, received or coupon data.
    pub personal_with: BTreeSet<String>,
    /// The channel's purpose is "sharing" (a sharing group).
    pub sharing: bool,
}

/// Dataflow facts along the main flow.
#[derive(Debug, Clone, Default, PartialEq)]
struct State {
    /// Coupons granted on every path here.
    coupons: BTreeSet<String>,
    /// The event every path here came through since the last `wait for`.
    received: Option<String>,
}

struct Walk<'p> {
    pb: &'p Playbook,
    cfg: Cfg,
    sends: Vec<SendSite>,
    steps: BTreeMap<String, usize>,
    hooks: BTreeMap<String, Span>,
    broadcast: bool,
    payload: EventScope<'p>,
}

const PERSONAL_ROOTS: [&str; 4] = ["customer", "event", "received", "coupon"];

impl<'a> Checker<'a> {
    fn find(
        &mut self,
        rule: &'static rules::Rule,
        span: Span,
        msg: impl Into<String>,
        help: impl Into<String>,
    ) {
        let f = Finding::new(rule, self.file, span, msg).help(help);
        self.out.push(f);
    }

    /// `requires` of each channel is a condition on the customer.
    pub fn check_channel_requires(&mut self) {
        let Some(file) = self.config.file else { return };
        self.file = file;
        let config = self.config;
        for ch in config.channels.values() {
            if let Some((e, _)) = &ch.requires {
                let scope = Scope {
                    customer: Some(&config.customer),
                    allow_now: true,
                    ..Scope::default()
                };
                self.condition(e, &scope);
            }
            self.check_setting_refs(ch);
        }
    }

    /// A setting whose value names data (`to = "customer.email"`) must name
    /// a customer attribute, or a field some declared event carries.
    fn check_setting_refs(&mut self, ch: &crate::config::Channel) {
        let config = self.config;
        for (key, value) in &ch.settings {
            let (Some(root), Some(vspan)) = (value.split('.').next(), ch.setting_spans.get(key))
            else {
                continue;
            };
            if !matches!(root, "customer" | "event") || !value.contains('.') {
                continue;
            }
            let Ok(mut e) = crate::syntax::parse_expr(value) else {
                continue;
            };
            crate::config::shift_expr(&mut e, vspan.start + 1);
            let ExprKind::Path(p) = &e.kind else { continue };
            if root == "customer" {
                let scope = Scope {
                    customer: Some(&config.customer),
                    ..Scope::default()
                };
                self.path(p, &scope);
                continue;
            }
            let segs: Vec<&str> = p.segments[1..].iter().map(String::as_str).collect();
            if !config
                .events
                .values()
                .any(|d| missing_field(&d.fields, &segs).is_none())
            {
                self.find(
                    &rules::UNKNOWN_FIELD,
                    *vspan,
                    format!("no declared event carries `{}`", p.dotted()),
                    format!("`{key}` of channel `{}` names a payload field; declare it under the event's [events.\"…\"] table, or fix the name", ch.name),
                );
            }
        }
    }

    fn event_decl(&mut self, ev: &EventName) -> Option<&'a Record> {
        let config = self.config;
        if let Some(d) = config.events.get(&ev.name) {
            return Some(&d.fields);
        }
        let near = nearest(&ev.name, config.events.keys().map(String::as_str));
        let help = match near {
            Some(n) => format!("did you mean `{n}`? every event a playbook names is declared in tend.toml as [events.\"NAME\"]"),
            None => format!("declare it in tend.toml: [events.\"{}\"] (an empty table is fine)", ev.name),
        };
        self.find(
            &rules::UNKNOWN_FIELD,
            ev.span,
            format!("unknown event `{}`", ev.name),
            help,
        );
        None
    }

    /// An opt-out event is handled first and offered to nothing else, so a
    /// trigger, goal or `wait for` on one would never see it.
    fn never_offered(&mut self, ev: &EventName, span: Span, what: &str) {
        if !self.config.declared_opt_outs().any(|o| o == ev.name) {
            return;
        }
        self.find(
            &rules::TYPE_MISMATCH,
            span,
            format!(
                "`{}` is an opt-out event: it is offered to nothing, so this {what} never sees it",
                ev.name
            ),
            "an opt-out ends every enrollment of the customer and no trigger, goal or wait sees the event; remove this, or take the event out of `opt_out_events` in tend.toml",
        );
    }

    pub fn playbook(&mut self, file: FileId, pb: &'a Playbook) -> CheckedPlaybook {
        self.file = file;
        let zone = self.zone(pb);
        let broadcast = self.triggers(pb);
        self.settings(pb, broadcast);
        let payload = self.trigger_payload(pb, broadcast);
        let customer = if broadcast {
            None
        } else {
            Some(&self.config.customer)
        };
        let clauses = pb
            .goal
            .iter()
            .map(|c| ("goal", c))
            .chain(pb.stops.iter().map(|c| ("stop", c)));
        for (what, clause) in clauses {
            if broadcast {
                self.find(&rules::TYPE_MISMATCH, clause.span, format!("a broadcast has no `{what}`"), "a broadcast run reaches no single customer, so nothing can convert or stop it; remove the line");
                continue;
            }
            if let Some(w) = &clause.within {
                if w.is_zero() {
                    self.find(
                        &rules::ZERO_WAIT,
                        w.span,
                        "a goal window of zero can never be reached",
                        "give the window a length, such as `within 45d`",
                    );
                }
            }
            let rec = self.event_decl(&clause.event);
            // A `stop` on one is only redundant: the opt-out stops everything.
            if what == "goal" {
                self.never_offered(&clause.event, clause.span, "goal");
            }
            if let (Some(cond), Some(rec)) = (&clause.cond, rec) {
                let scope = Scope {
                    customer,
                    event: EventScope::Payload(Cow::Borrowed(rec)),
                    allow_now: true,
                    ..Scope::default()
                };
                self.condition(cond, &scope);
            }
        }
        let mut w = Walk {
            pb,
            cfg: Cfg::new(
                pb.steps.len(),
                &pb.steps.iter().map(|s| s.name.span).collect::<Vec<_>>(),
            ),
            sends: Vec::new(),
            steps: BTreeMap::new(),
            hooks: BTreeMap::new(),
            broadcast,
            payload: payload.clone(),
        };
        for (i, s) in pb.steps.iter().enumerate() {
            if let Some(first) = w.steps.get(&s.name.name) {
                let first_span = pb.steps[*first].name.span;
                let f = Finding::new(
                    &rules::DUPLICATE_NAME,
                    file,
                    s.name.span,
                    format!(
                        "the step `{}` is declared twice in this playbook",
                        s.name.name
                    ),
                )
                .help("step names are unique within a playbook; rename one")
                .label(file, first_span, "first declared here");
                self.out.push(f);
                continue;
            }
            w.steps.insert(s.name.name.clone(), i);
        }
        let entry_states = coupon_dataflow(pb, &w.steps);
        for (i, s) in pb.steps.iter().enumerate() {
            let state = entry_states[i].clone().map(|coupons| State {
                coupons,
                received: None,
            });
            let start = vec![Pending::plain(i)];
            let (pending, _) = self.block(
                &mut w,
                &s.body,
                start,
                Some(state.unwrap_or_default()),
                false,
            );
            let next = if i + 1 < pb.steps.len() {
                i + 1
            } else {
                w.cfg.exit()
            };
            w.cfg.connect(&pending, next);
        }
        let trigger_payload = match &payload {
            EventScope::Payload(r) => Some(r.clone().into_owned()),
            _ => None,
        };
        CheckedPlaybook {
            file,
            def: pb.clone(),
            zone,
            broadcast,
            trigger_payload,
            cfg: w.cfg,
            sends: w.sends,
        }
    }

    fn zone(&mut self, pb: &Playbook) -> Zone {
        match &pb.settings.timezone {
            None => Zone::Project,
            Some(ZoneSetting::Customer(_)) => Zone::Customer,
            Some(ZoneSetting::Named(s)) => match s.value.parse() {
                Ok(tz) => Zone::Named(tz),
                Err(_) => {
                    self.find(
                        &rules::INVALID_TIMEZONE,
                        s.span,
                        format!("`{}` is not a time zone", s.value),
                        crate::config::tz_help(&s.value),
                    );
                    Zone::Project
                }
            },
        }
    }

    fn settings(&mut self, pb: &Playbook, broadcast: bool) {
        let s = &pb.settings;
        if let Some(h) = &s.holdout {
            if broadcast {
                self.find(
                    &rules::TYPE_MISMATCH,
                    h.span,
                    "a broadcast has no holdout",
                    "a broadcast reaches no single customer to hold out; remove `holdout`",
                );
            } else if h.basis_points == 0 || h.basis_points >= 10_000 {
                self.find(
                    &rules::BAD_SPLIT,
                    h.span,
                    "a holdout must be above 0% and below 100%",
                    "a holdout of 5% to 10% is usual: enough to measure the goal's lift",
                );
            }
        }
        if let Some(Reenter::After(d)) = &s.reenter {
            if d.is_zero() {
                self.find(
                    &rules::ZERO_WAIT,
                    d.span,
                    "`reenter after` zero is `reenter always`",
                    "write `reenter always`, or give a real pause such as `reenter after 90d`",
                );
            }
        }
        for cap in &s.caps {
            if broadcast {
                self.find(&rules::TYPE_MISMATCH, cap.span, "a broadcast has no per-customer cap", "caps count sends to one customer; a broadcast posts to groups and Moments; remove the cap");
                continue;
            }
            if let Some(k) = &cap.kind {
                if Kind::parse(&k.name).is_none() {
                    self.find(
                        &rules::SYNTAX,
                        k.span,
                        format!("`{}` is not a template kind", k.name),
                        "a cap can count one kind: service, care, content or promo",
                    );
                }
            }
        }
    }

    /// Checks triggers; says whether the playbook is a broadcast.
    fn triggers(&mut self, pb: &Playbook) -> bool {
        let config = self.config;
        let bare_every = pb
            .triggers
            .iter()
            .filter(|t| matches!(t.kind, TriggerKind::Every { segment: None, .. }))
            .count();
        let broadcast = bare_every > 0 && bare_every == pb.triggers.len();
        if bare_every > 0 && !broadcast {
            let t = pb
                .triggers
                .iter()
                .find(|t| !matches!(t.kind, TriggerKind::Every { segment: None, .. }))
                .unwrap();
            self.find(&rules::TYPE_MISMATCH, t.span, "this playbook mixes a broadcast (`every` without `for`) with customer triggers", "put the broadcast in its own playbook, or add `for SEGMENT` to the `every` trigger");
        }
        for t in &pb.triggers {
            match &t.kind {
                TriggerKind::Event { event, cond } => {
                    let rec = self.event_decl(event);
                    self.never_offered(event, t.span, "trigger");
                    if let (Some(cond), Some(rec)) = (cond, rec) {
                        let scope = Scope {
                            customer: Some(&config.customer),
                            event: EventScope::Payload(Cow::Borrowed(rec)),
                            allow_now: true,
                            ..Scope::default()
                        };
                        self.condition(cond, &scope);
                    }
                }
                TriggerKind::Enter { segment } => {
                    self.use_segment(&segment.name, segment.span);
                }
                TriggerKind::Every { cron, segment } => {
                    if let Err(e) = crate::cron::parse(&cron.value) {
                        self.find(&rules::INVALID_CRON, cron.span, format!("invalid cron expression `{}`: {e}", cron.value), "write 5 fields: minute hour day-of-month month day-of-week, such as \"0 20 * * WED\" (20:00 every Wednesday)");
                    }
                    if let Some(s) = segment {
                        self.use_segment(&s.name, s.span);
                    }
                }
                TriggerKind::Yearly { path, .. } => {
                    let scope = Scope {
                        customer: Some(&config.customer),
                        ..Scope::default()
                    };
                    if let Some(t) = self.path(path, &scope) {
                        if !matches!(t.ty, Type::Date | Type::DateTime) {
                            self.find(
                                &rules::TYPE_MISMATCH,
                                path.span,
                                format!(
                                    "`yearly` needs a date, `{}` is {}",
                                    path.dotted(),
                                    super::typeck::a_or_an(&t.ty)
                                ),
                                "use a date attribute such as `customer.pet.birthday`",
                            );
                        }
                    }
                }
            }
        }
        broadcast
    }

    /// `event.*` in steps: the fields that every trigger's event carries, with the same type.
    fn trigger_payload(&self, pb: &Playbook, broadcast: bool) -> EventScope<'a> {
        if broadcast || pb.triggers.is_empty() {
            return EventScope::None;
        }
        let mut common: Option<Record> = None;
        for t in &pb.triggers {
            let TriggerKind::Event { event, .. } = &t.kind else {
                return EventScope::NotEventTriggered;
            };
            let Some(decl) = self.config.events.get(&event.name) else {
                return EventScope::Payload(Cow::Owned(Record::new()));
            };
            common = Some(match common {
                None => decl.fields.clone(),
                Some(c) => c
                    .into_iter()
                    .filter(|(k, f)| decl.fields.get(k) == Some(f))
                    .collect(),
            });
        }
        EventScope::Payload(Cow::Owned(common.unwrap_or_default()))
    }

    fn scope<'s>(&self, w: &'s Walk<'a>, state: &State) -> Scope<'s>
    where
        'a: 's,
    {
        let received = state
            .received
            .as_ref()
            .and_then(|e| self.config.events.get_key_value(e))
            .map(|(k, d)| (k.as_str(), &d.fields));
        Scope {
            customer: if w.broadcast {
                None
            } else {
                Some(&self.config.customer)
            },
            event: w.payload.clone(),
            received,
            coupons: state.coupons.iter().cloned().collect(),
            allow_now: true,
            broadcast: w.broadcast,
            received_note: "",
        }
    }

    fn block(
        &mut self,
        w: &mut Walk<'a>,
        block: &'a Block,
        mut pending: Vec<Pending>,
        mut state: Option<State>,
        in_hook: bool,
    ) -> (Vec<Pending>, Option<State>) {
        let mut reported_dead = false;
        for a in block {
            let live = match &state {
                Some(s) => s.clone(),
                None => {
                    if !reported_dead {
                        reported_dead = true;
                        self.find(&rules::UNREACHABLE_STEP, a.span, "this action never runs", "it follows a `->`, `end` or `split` in the same block; move it before that, or remove it");
                    }
                    State::default()
                }
            };
            let (p, s) = self.action(w, a, std::mem::take(&mut pending), live, in_hook);
            pending = p;
            state = if state.is_some() { s } else { None };
        }
        (pending, state)
    }

    fn action(
        &mut self,
        w: &mut Walk<'a>,
        a: &'a Action,
        pending: Vec<Pending>,
        mut state: State,
        in_hook: bool,
    ) -> (Vec<Pending>, Option<State>) {
        let span = a.span;
        let other =
            |w: &mut Walk, pending: &[Pending]| w.cfg.add(NodeKind::Other, span, in_hook, pending);
        match &a.kind {
            ActionKind::Send {
                channel,
                template,
                with,
            } => {
                let node = self.send(w, a, channel, template, with, &state, in_hook, &pending);
                (vec![Pending::plain(node)], Some(state))
            }
            ActionKind::Wait(d) => {
                if d.is_zero() {
                    self.find(
                        &rules::ZERO_WAIT,
                        d.span,
                        "a wait of zero does nothing",
                        "give the wait a length, such as `wait 1d`, or remove it",
                    );
                }
                let n = other(w, &pending);
                (
                    vec![Pending {
                        from: n,
                        delay: d.approx_seconds(),
                        waits: true,
                        any_wait: true,
                    }],
                    Some(state),
                )
            }
            ActionKind::WaitUntil(t) => {
                if let TimeExpr::Point {
                    base: TimeBase::Now(_),
                    offsets,
                    at: None,
                    ..
                } = t
                {
                    if offsets.is_empty() {
                        self.find(&rules::ZERO_WAIT, t.span(), "`wait until now` does not wait", "wait until a later point, such as `wait until next 10:00`, or remove it");
                    }
                }
                let scope = self.scope(w, &state);
                self.time_expr(t, &scope);
                let n = other(w, &pending);
                w.cfg.nodes[n].anchor = anchor_of(t);
                // `now + D` waits D; with `at CLOCK` the clock can move the
                // point back, by less than a day: at least D − 1d passes.
                let delay = match t {
                    TimeExpr::Point {
                        base: TimeBase::Now(_),
                        offsets,
                        at,
                        ..
                    } => {
                        let d: i64 = offsets.iter().map(|(s, d)| s * d.approx_seconds()).sum();
                        let back = if at.is_some() { 86_400 } else { 0 };
                        (d - back).max(0)
                    }
                    _ => 0,
                };
                let waits = delay > 0 || matches!(t, TimeExpr::Next { .. });
                (
                    vec![Pending {
                        from: n,
                        delay,
                        waits,
                        any_wait: true,
                    }],
                    Some(state),
                )
            }
            ActionKind::WaitFor(wf) => {
                if w.broadcast {
                    self.find(
                        &rules::TYPE_MISMATCH,
                        span,
                        "a broadcast cannot wait for a customer's event",
                        "broadcasts have no customer; wait with `wait D` or `wait until` instead",
                    );
                }
                let rec = self.event_decl(&wf.event);
                self.never_offered(&wf.event, span, "wait");
                if let Some(d) = &wf.within {
                    if d.is_zero() {
                        self.find(
                            &rules::ZERO_WAIT,
                            d.span,
                            "a `within` of zero times out at once",
                            "give the customer time to act, such as `within 2h`",
                        );
                    }
                }
                if let (Some(cond), Some(rec)) = (&wf.cond, rec) {
                    let mut scope = self.scope(w, &state);
                    scope.received = Some((wf.event.name.as_str(), rec));
                    self.condition(cond, &scope);
                }
                let n = w.cfg.add(
                    NodeKind::WaitFor {
                        within: wf.within.is_some(),
                    },
                    span,
                    in_hook,
                    &pending,
                );
                let mut out = vec![Pending {
                    from: n,
                    delay: 0,
                    waits: true,
                    any_wait: true,
                }];
                let got = rec.map(|_| wf.event.name.clone());
                match (&wf.within, &wf.else_step) {
                    (Some(d), Some(target)) => {
                        if let Some(t) = self.step_target(w, target) {
                            w.cfg.connect(
                                &[Pending {
                                    from: n,
                                    delay: d.approx_seconds(),
                                    waits: true,
                                    any_wait: true,
                                }],
                                t,
                            );
                        }
                        state.received = got;
                    }
                    (Some(d), None) => {
                        out.push(Pending {
                            from: n,
                            delay: d.approx_seconds(),
                            waits: true,
                            any_wait: true,
                        });
                        state.received = None;
                    }
                    _ => state.received = got,
                }
                (out, Some(state))
            }
            ActionKind::If {
                cond,
                then,
                otherwise,
            } => {
                let scope = self.scope(w, &state);
                self.condition(cond, &scope);
                let n = other(w, &pending);
                let (mut p1, s1) = self.block(
                    w,
                    then,
                    vec![Pending::plain(n)],
                    Some(state.clone()),
                    in_hook,
                );
                let (p2, s2) = match otherwise {
                    Some(o) => {
                        self.block(w, o, vec![Pending::plain(n)], Some(state.clone()), in_hook)
                    }
                    None => (vec![Pending::plain(n)], Some(state.clone())),
                };
                p1.extend(p2);
                let merged = match (s1, s2) {
                    (Some(a), Some(b)) => Some(State {
                        coupons: a.coupons.intersection(&b.coupons).cloned().collect(),
                        received: if a.received == b.received {
                            a.received
                        } else {
                            None
                        },
                    }),
                    (Some(x), None) | (None, Some(x)) => Some(x),
                    (None, None) => None,
                };
                (p1, merged)
            }
            ActionKind::Split(arms) => {
                let total: u32 = arms.iter().map(|a| a.percent.basis_points).sum();
                if let Some(zero) = arms.iter().find(|a| a.percent.basis_points == 0) {
                    self.find(
                        &rules::BAD_SPLIT,
                        zero.percent.span,
                        "a split arm of 0% never gets anyone",
                        "remove the arm, or give it a share",
                    );
                } else if total != 10_000 {
                    let shown = format!(
                        "{}{}",
                        total / 100,
                        if total.is_multiple_of(100) {
                            String::new()
                        } else {
                            format!(".{:02}", total % 100)
                                .trim_end_matches('0')
                                .to_string()
                        }
                    );
                    self.find(
                        &rules::BAD_SPLIT,
                        span,
                        format!("the split's percents add up to {shown}%, not 100%"),
                        "make the arms add up to exactly 100%",
                    );
                }
                let n = other(w, &pending);
                for arm in arms {
                    if let Some(t) = self.step_target(w, &arm.target) {
                        w.cfg.connect(&[Pending::plain(n)], t);
                    }
                }
                (Vec::new(), None)
            }
            ActionKind::Tag { .. } => {
                if w.broadcast {
                    self.find(
                        &rules::TYPE_MISMATCH,
                        span,
                        "a broadcast has no customer to tag",
                        "tag customers in a per-customer playbook",
                    );
                } else if !matches!(self.config.customer.get("tags").map(|f| &f.ty), Some(Type::List(t)) if **t == Type::String)
                {
                    self.find(
                        &rules::UNKNOWN_FIELD,
                        span,
                        "the customer schema has no `tags` list",
                        "declare `tags = \"list<string>\"` under [customer] in tend.toml",
                    );
                }
                (vec![Pending::plain(other(w, &pending))], Some(state))
            }
            ActionKind::Set { path, value } => {
                if w.broadcast {
                    self.find(
                        &rules::TYPE_MISMATCH,
                        span,
                        "a broadcast has no customer to set",
                        "set attributes in a per-customer playbook",
                    );
                } else if path.root() != "customer" || path.segments.len() < 2 {
                    self.find(&rules::TYPE_MISMATCH, path.span, format!("`{}` cannot be set", path.dotted()), "`set` changes a customer attribute, such as `set customer.stage = \"growing\"`");
                } else {
                    let scope = self.scope(w, &state);
                    let target = self.path(path, &scope);
                    let v = self.expr(value, &scope);
                    if let (Some(t), Some(v)) = (target, v) {
                        if !t.ty.accepts(&v.ty) {
                            self.find(
                                &rules::TYPE_MISMATCH,
                                value.span,
                                format!(
                                    "`{}` is {}, this value is {}",
                                    path.dotted(),
                                    super::typeck::a_or_an(&t.ty),
                                    super::typeck::a_or_an(&v.ty)
                                ),
                                "set a value of the attribute's type (see [customer] in tend.toml)",
                            );
                        }
                    }
                }
                (vec![Pending::plain(other(w, &pending))], Some(state))
            }
            ActionKind::Grant { coupon, valid, .. } => {
                if w.broadcast {
                    self.find(
                        &rules::TYPE_MISMATCH,
                        span,
                        "a broadcast has no customer to grant a coupon to",
                        "grant coupons in a per-customer playbook",
                    );
                }
                if valid.is_zero() {
                    self.find(
                        &rules::ZERO_WAIT,
                        valid.span,
                        "a coupon valid for zero time expires as it is granted",
                        "give it a validity, such as `valid 30d`",
                    );
                }
                state.coupons.insert(coupon.name.clone());
                (vec![Pending::plain(other(w, &pending))], Some(state))
            }
            ActionKind::Hook { name, at, body } => {
                if let Some(first) = w.hooks.get(&name.name) {
                    let f = Finding::new(&rules::DUPLICATE_NAME, self.file, name.span, format!("the hook `{}` is declared twice in this playbook", name.name))
                        .help("hook names are unique within a playbook (planting a pending hook again replaces it); rename one")
                        .label(self.file, *first, "first declared here");
                    self.out.push(f);
                } else {
                    w.hooks.insert(name.name.clone(), name.span);
                }
                let scope = self.scope(w, &state);
                self.time_expr(at, &scope);
                let plant_offset = match at {
                    TimeExpr::Point {
                        base: TimeBase::Now(_),
                        offsets,
                        at: None,
                        ..
                    } => Some(offsets.iter().map(|(s, d)| s * d.approx_seconds()).sum()),
                    _ => None,
                };
                let n = w.cfg.add(NodeKind::Other, span, in_hook, &pending);
                let entry = w.cfg.add(NodeKind::HookEntry, name.span, true, &[]);
                w.cfg.nodes[entry].anchor = anchor_of(at);
                w.cfg.nodes[n].kind = NodeKind::Hook {
                    body: entry,
                    plant_offset,
                };
                let hook_state = State {
                    coupons: state.coupons.clone(),
                    received: None,
                };
                self.block(w, body, vec![Pending::plain(entry)], Some(hook_state), true);
                (vec![Pending::plain(n)], Some(state))
            }
            ActionKind::Task { text, .. } => {
                let scope = self.scope(w, &state);
                let src = &self.sources.get(self.file).text;
                let env = templates::environment();
                let mut found = Vec::new();
                if let Some(wording) =
                    templates::compile(&env, self.file, src, None, text, &mut found)
                {
                    self.template_vars(
                        &wording.variables,
                        self.file,
                        "this task",
                        &scope,
                        &[],
                        span,
                    );
                }
                self.out.extend(found);
                (vec![Pending::plain(other(w, &pending))], Some(state))
            }
            ActionKind::Jump(target) => {
                let n = other(w, &pending);
                if let Some(t) = self.step_target(w, target) {
                    w.cfg.connect(&[Pending::plain(n)], t);
                }
                (Vec::new(), None)
            }
            ActionKind::End => {
                let n = other(w, &pending);
                let exit = w.cfg.exit();
                w.cfg.connect(&[Pending::plain(n)], exit);
                (Vec::new(), None)
            }
        }
    }

    fn step_target(&mut self, w: &Walk, target: &Ident) -> Option<usize> {
        if let Some(i) = w.steps.get(&target.name) {
            return Some(*i);
        }
        let near = nearest(&target.name, w.steps.keys().map(String::as_str));
        let help = match near {
            Some(n) => format!("did you mean `{n}`? jumps go to a step of the same playbook"),
            None => format!(
                "the steps of `{}` are: {}",
                w.pb.name.name,
                w.steps.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        };
        self.find(
            &rules::UNKNOWN_STEP,
            target.span,
            format!("unknown step `{}`", target.name),
            help,
        );
        None
    }

    #[allow(clippy::too_many_arguments)]
    fn send(
        &mut self,
        w: &mut Walk<'a>,
        a: &Action,
        channel: &Ident,
        template: &TemplateRef,
        with: &[(Ident, Expr)],
        state: &State,
        in_hook: bool,
        pending: &[Pending],
    ) -> usize {
        let config = self.config;
        let scope = self.scope(w, state);
        let ch = config.channels.get(&channel.name);
        if ch.is_none() {
            let near = nearest(&channel.name, config.channels.keys().map(String::as_str));
            let help = match near {
                Some(n) => format!(
                    "did you mean `{n}`? channels are declared in tend.toml as [channels.NAME]"
                ),
                None => format!(
                    "declare it in tend.toml as [channels.{}] with a touchpoint and an adapter",
                    channel.name
                ),
            };
            self.find(
                &rules::UNKNOWN_CHANNEL,
                channel.span,
                format!("unknown channel `{}`", channel.name),
                help,
            );
        }
        let touchpoint = ch.map(|c| c.touchpoint).unwrap_or(Touchpoint::Wecom);
        if let Some(c) = ch {
            match touchpoint {
                Touchpoint::Coupons | Touchpoint::Tasks => self.find(
                    &rules::TYPE_MISMATCH,
                    channel.span,
                    format!("`{}` is a {} channel, not a message channel", c.name, touchpoint.name()),
                    "issue coupons with `grant coupon …` and to-dos with `task \"…\"`",
                ),
                t if w.broadcast && t.is_one_to_one() => self.find(
                    &rules::TYPE_MISMATCH,
                    channel.span,
                    format!("a broadcast cannot send to the 1:1 channel `{}`", c.name),
                    "a broadcast posts to group and Moments channels; reach customers one by one with `every … for SEGMENT`",
                ),
                Touchpoint::Moments if !w.broadcast => self.find(
                    &rules::TYPE_MISMATCH,
                    channel.span,
                    format!("a per-customer playbook cannot post to the Moments channel `{}`", c.name),
                    "a Moments post reaches everyone at once; post it from a broadcast playbook (`trigger every \"…\"` without `for`)",
                ),
                _ => {}
            }
        }
        let mut keys: Vec<String> = Vec::new();
        let mut personal_with = BTreeSet::new();
        for (k, v) in with {
            if super::typeck::RESERVED_ROOTS.contains(&k.name.as_str()) {
                self.find(&rules::DUPLICATE_NAME, k.span, format!("`{}` cannot be a `with` key", k.name), "`customer`, `event`, `received`, `coupon` and `now` are already template variables; pick another name");
            } else if keys.contains(&k.name) {
                self.find(
                    &rules::DUPLICATE_NAME,
                    k.span,
                    format!("`{}` is given twice in `with`", k.name),
                    "give each template variable once",
                );
            }
            keys.push(k.name.clone());
            self.expr(v, &scope);
            if reads_personal(v) {
                personal_with.insert(k.name.clone());
            }
        }
        let (tname, inline, kind) = match template {
            TemplateRef::Named(t) => {
                let templates = self.templates;
                match templates.get(&t.name) {
                    Some(ct) => {
                        self.used_templates.insert(t.name.clone());
                        let what = format!("template `{}`", ct.name);
                        let vars: Vec<(String, Span)> = ct.variables().cloned().collect();
                        self.template_vars(&vars, ct.file, &what, &scope, &keys, a.span);
                        (Some(t.name.clone()), None, ct.kind)
                    }
                    None => {
                        let near = nearest(&t.name, templates.keys().map(String::as_str));
                        let help = match near {
                            Some(n) => format!("did you mean `{n}`? templates are declared with `template NAME {{ … }}` in any .playbook file"),
                            None => "declare it with `template NAME { kind …  text \"\"\"…\"\"\" }`, or send an inline string".into(),
                        };
                        self.find(
                            &rules::UNKNOWN_TEMPLATE,
                            t.span,
                            format!("unknown template `{}`", t.name),
                            help,
                        );
                        (Some(t.name.clone()), None, Kind::Service)
                    }
                }
            }
            TemplateRef::Inline(s) => {
                let src = &self.sources.get(self.file).text;
                let env = templates::environment();
                let mut found = Vec::new();
                let wording = templates::compile(&env, self.file, src, None, s, &mut found);
                self.out.extend(found);
                if let Some(wd) = &wording {
                    self.template_vars(
                        &wd.variables,
                        self.file,
                        "this text",
                        &scope,
                        &keys,
                        a.span,
                    );
                }
                let kind = if touchpoint.is_one_to_many() {
                    Kind::Content
                } else {
                    Kind::Service
                };
                (None, wording, kind)
            }
        };
        if touchpoint == Touchpoint::Group && !w.broadcast {
            if let Some(c) = ch {
                let reads: Vec<String> = match (&tname, &inline) {
                    (_, Some(wd)) => wd.variables.iter().map(|v| v.0.clone()).collect(),
                    (Some(t), None) => self
                        .templates
                        .get(t)
                        .map(|ct| ct.variables().map(|v| v.0.clone()).collect())
                        .unwrap_or_default(),
                    (None, None) => Vec::new(),
                };
                let personal = reads.iter().find(|v| {
                    let root = v.split('.').next().unwrap_or("");
                    ["customer", "event", "received", "coupon"].contains(&root)
                        || personal_with.contains(root)
                });
                match personal {
                    Some(var) => self.find(
                        &rules::TYPE_MISMATCH,
                        channel.span,
                        format!("this posts one customer's `{var}` into the group `{}`, once for each customer", c.name),
                        "a group sees every post: send personal text 1:1 (a wecom or personal channel), or post one text from a broadcast playbook (`trigger every \"…\"` without `for`)",
                    ),
                    None => self.find(
                        &rules::GROUP_SEND_PER_CUSTOMER,
                        channel.span,
                        format!("this posts into the group `{}` once for each customer who reaches it", c.name),
                        "post to a group once, from a broadcast playbook (`trigger every \"…\"` without `for`); from a per-customer playbook, send 1:1",
                    ),
                }
            }
        }
        let idx = w.sends.len();
        w.sends.push(SendSite {
            channel: channel.name.clone(),
            touchpoint,
            template: tname,
            inline,
            kind,
            span: a.span,
            in_hook,
            personal_with,
            sharing: ch.and_then(|c| c.purpose.as_deref()) == Some("sharing"),
        });
        w.cfg.add(NodeKind::Send(idx), a.span, in_hook, pending)
    }

    /// Checks the variables a template reads against what this send site provides.
    fn template_vars(
        &mut self,
        vars: &[(String, Span)],
        tfile: FileId,
        what: &str,
        scope: &Scope,
        with_keys: &[String],
        site: Span,
    ) {
        for (var, vspan) in vars {
            let segs: Vec<&str> = var.split('.').collect();
            let root = segs[0];
            if with_keys.iter().any(|k| k == root) {
                continue;
            }
            let problem: Option<(bool, String, String)> = match root {
                "customer" => match scope.customer {
                    None => Some((false, format!("{what} reads `{var}`, but a broadcast has no customer"), "broadcast texts cannot be personal; remove the variable".into())),
                    Some(rec) if segs.len() == 2 && segs[1] == "id" => {
                        let _ = rec;
                        None
                    }
                    Some(rec) => missing_field(rec, &segs[1..]).map(|m| (true, format!("{what} reads `{var}`, but the customer schema has no `{m}`"), near_help(rec, &segs[1..], "customer"))),
                },
                "event" => match &scope.event {
                    EventScope::Payload(rec) => missing_field(rec, &segs[1..]).map(|m| {
                        (false, format!("{what} reads `{var}`, but this playbook's trigger events do not all carry `{m}`"), "`event.*` in a step is the payload of the trigger event; read only fields every trigger event declares in tend.toml".into())
                    }),
                    _ => Some((false, format!("{what} reads `{var}`, but this playbook is not started by an event"), "with `enter`, `every` or `yearly` triggers there is no `event.*`; pass data with `with { … }`".into())),
                },
                "received" => match scope.received {
                    Some((_, rec)) => missing_field(rec, &segs[1..]).map(|m| (false, format!("{what} reads `{var}`, but the awaited event has no `{m}`"), "read a field the awaited event declares in tend.toml".into())),
                    None => Some((false, format!("{what} reads `{var}`, but no `wait for` event is in scope here"), "`received.*` is readable after a `wait for`, up to the next one, where every path came through the event".into())),
                },
                "coupon" => match segs.get(1) {
                    Some(id) if scope.coupons.iter().any(|c| c == id) => {
                        let rec = super::typeck::coupon_record();
                        missing_field(&rec, &segs[2..]).map(|m| (false, format!("{what} reads `{var}`, but a coupon has no `{m}`"), "a coupon has expires_at, granted_at and worth".into()))
                    }
                    _ => Some((false, format!("{what} reads `{var}`, but that coupon is not granted on every path to this send"), "grant the coupon with `grant coupon ID …` before every path to this send".into())),
                },
                "now" => None,
                _ => {
                    // `{{ name }}` most often means a field of the customer or the event.
                    let meant = match (scope.customer, &scope.event) {
                        (Some(rec), _) if missing_field(rec, &[root]).is_none() => Some(format!("customer.{root}")),
                        (_, EventScope::Payload(rec)) if missing_field(rec, &[root]).is_none() => Some(format!("event.{root}")),
                        _ => None,
                    };
                    let help = match meant {
                        Some(m) => format!("did you mean `{m}`? a field is read with its root: customer, event, received or coupon"),
                        None => format!("template variables are customer, event, received, coupon, now and the `with` keys of the send; pass it with `with {{ {root} = … }}`"),
                    };
                    Some((false, format!("{what} reads `{root}`, which is not a variable here"), help))
                }
            };
            if let Some((in_template, msg, help)) = problem {
                let (file, span) = if in_template {
                    (tfile, *vspan)
                } else {
                    (self.file, site)
                };
                let f = Finding::new(&rules::UNKNOWN_FIELD, file, span, msg).help(help);
                if !self.out.contains(&f) {
                    self.out.push(f);
                }
            }
        }
    }

    fn time_expr(&mut self, t: &TimeExpr, scope: &Scope) {
        let TimeExpr::Point { base, offsets, .. } = t else {
            return;
        };
        let base_ty = match base {
            TimeBase::Now(_) | TimeBase::DateTime(..) => Some(Type::DateTime),
            TimeBase::Date(..) => Some(Type::Date),
            TimeBase::Path(p) => match self.path(p, scope) {
                Some(t) if matches!(t.ty, Type::Date | Type::DateTime) => Some(t.ty),
                Some(t) => {
                    self.find(&rules::TYPE_MISMATCH, p.span, format!("a point in time is needed, `{}` is {}", p.dotted(), super::typeck::a_or_an(&t.ty)), "use a date or datetime, such as `coupon.new10.expires_at` or `customer.birthday`");
                    None
                }
                None => None,
            },
        };
        if base_ty == Some(Type::Date) {
            if let Some((_, d)) = offsets.iter().find(|(_, d)| d.seconds != 0) {
                self.find(
                    &rules::TYPE_MISMATCH,
                    d.span,
                    "a date moves in whole days",
                    "add or subtract `d` or `w` from a date, and give the time with `at 10:00`",
                );
            }
        }
    }
}

/// The first path segment that a record does not have, leniently: past a
/// non-table value the rest is a method or attribute of that value.
fn missing_field<'s>(rec: &Record, segs: &[&'s str]) -> Option<&'s str> {
    let mut rec = rec;
    for s in segs {
        match rec.get(*s) {
            None => return Some(s),
            Some(f) => match &f.ty {
                Type::Record(inner) => rec = inner,
                _ => return None,
            },
        }
    }
    None
}

fn near_help(rec: &Record, segs: &[&str], root: &str) -> String {
    let m = missing_field(rec, segs).unwrap_or("");
    match nearest(m, rec.keys().map(String::as_str)) {
        Some(n) => {
            format!("did you mean `{root}.{n}`? declare attributes under [customer] in tend.toml")
        }
        None => format!("declare `{m}` under [customer] in tend.toml"),
    }
}

fn reads_personal(e: &Expr) -> bool {
    match &e.kind {
        ExprKind::Path(p) => PERSONAL_ROOTS.contains(&p.root()),
        ExprKind::Unary(_, x) | ExprKind::Paren(x) => reads_personal(x),
        ExprKind::Binary(_, a, b) => reads_personal(a) || reads_personal(b),
        ExprKind::List(xs) | ExprKind::Call { args: xs, .. } => xs.iter().any(reads_personal),
        _ => false,
    }
}

/// The time of day a `wait until` or hook resumes at, when it names one.
fn anchor_of(t: &TimeExpr) -> Option<u32> {
    match t {
        TimeExpr::Next { clock, .. } => Some(clock.minutes),
        TimeExpr::Point { at: Some(c), .. } => Some(c.minutes),
        TimeExpr::Point {
            base: TimeBase::DateTime(dt, _),
            offsets,
            ..
        } if offsets.is_empty() => {
            use chrono::Timelike;
            Some(dt.hour() * 60 + dt.minute())
        }
        _ => None,
    }
}

/// Coupons granted on every path into each step (`None`: step not reached).
fn coupon_dataflow(
    pb: &Playbook,
    steps: &BTreeMap<String, usize>,
) -> Vec<Option<BTreeSet<String>>> {
    let n = pb.steps.len();
    let mut entry: Vec<Option<BTreeSet<String>>> = vec![None; n];
    if n == 0 {
        return entry;
    }
    entry[0] = Some(BTreeSet::new());
    let mut work: Vec<usize> = vec![0];
    while let Some(i) = work.pop() {
        let Some(start) = entry[i].clone() else {
            continue;
        };
        let mut edges = Vec::new();
        if let Some(f) = grants(&pb.steps[i].body, start, steps, &mut edges) {
            if i + 1 < n {
                edges.push((i + 1, f));
            }
        }
        for (t, set) in edges {
            let new = match &entry[t] {
                None => set,
                Some(old) => old.intersection(&set).cloned().collect(),
            };
            if entry[t].as_ref() != Some(&new) {
                entry[t] = Some(new);
                work.push(t);
            }
        }
    }
    entry
}

/// Walks a block for the coupons it grants; jumps are pushed to `edges`.
/// Returns the state at the end of the block, or `None` when it cannot end.
fn grants(
    block: &Block,
    mut state: BTreeSet<String>,
    steps: &BTreeMap<String, usize>,
    edges: &mut Vec<(usize, BTreeSet<String>)>,
) -> Option<BTreeSet<String>> {
    let jump = |t: &Ident, state: &BTreeSet<String>, edges: &mut Vec<(usize, BTreeSet<String>)>| {
        if let Some(i) = steps.get(&t.name) {
            edges.push((*i, state.clone()));
        }
    };
    for a in block {
        match &a.kind {
            ActionKind::Grant { coupon, .. } => {
                state.insert(coupon.name.clone());
            }
            ActionKind::Jump(t) => {
                jump(t, &state, edges);
                return None;
            }
            ActionKind::End => return None,
            ActionKind::Split(arms) => {
                for arm in arms {
                    jump(&arm.target, &state, edges);
                }
                return None;
            }
            ActionKind::WaitFor(WaitFor {
                else_step: Some(t),
                within: Some(_),
                ..
            }) => jump(t, &state, edges),
            ActionKind::If {
                then, otherwise, ..
            } => {
                let a = grants(then, state.clone(), steps, edges);
                let b = match otherwise {
                    Some(o) => grants(o, state.clone(), steps, edges),
                    None => Some(state.clone()),
                };
                state = match (a, b) {
                    (Some(a), Some(b)) => a.intersection(&b).cloned().collect(),
                    (Some(x), None) | (None, Some(x)) => x,
                    (None, None) => return None,
                };
            }
            _ => {}
        }
    }
    Some(state)
}
