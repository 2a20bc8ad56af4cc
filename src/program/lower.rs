//! From syntax trees and tend.toml to the resolved [`Program`]. Runs after
//! checking found no errors, so a name that does not resolve here is a bug
//! in the checker, reported as an error string rather than a panic.

use super::*;
use crate::config::Config;
use crate::syntax::ast::{self, ExprKind, UnaryOp};
use std::collections::{BTreeSet, HashMap};

/// Builds the program from the project's items (segments, templates and
/// playbooks of every file) and its tend.toml.
pub fn build<'a>(
    config: &Config,
    items: impl IntoIterator<Item = &'a ast::Item>,
) -> Result<Program, String> {
    let mut lower = Lower {
        config,
        seg_defs: BTreeMap::new(),
        tpl_defs: BTreeMap::new(),
        segments: HashMap::new(),
        templates: HashMap::new(),
        in_progress: Vec::new(),
    };
    let mut playbooks = Vec::new();
    for item in items {
        match item {
            ast::Item::Segment(s) => {
                lower.seg_defs.insert(s.name.name.clone(), s);
            }
            ast::Item::Template(t) => {
                lower.tpl_defs.insert(t.name.name.clone(), t);
            }
            ast::Item::Playbook(p) => playbooks.push(&**p),
        }
    }
    let mut channels = Vec::new();
    for ch in config.channels.values() {
        channels.push(lower.channel(ch)?);
    }
    let schema = Arc::new(crate::intake::Schema::from_config(config));
    let policy = Arc::new(Policy {
        zone: config.timezone.unwrap_or(chrono_tz::UTC),
        schema,
        opt_out: config.declared_opt_outs().map(Sym::new).collect(),
        opt_in: config.opt_in_events.iter().map(|e| Sym::new(e)).collect(),
        limits: config.limits.clone(),
        channels,
    });
    let mut out = Vec::with_capacity(playbooks.len());
    for pb in playbooks {
        out.push(Arc::new(lower.playbook(pb)?));
    }
    out.sort_by_key(|a| a.name);
    Ok(Program {
        policy,
        playbooks: out,
    })
}

/// Lowers a lone expression against these segments (a channel's
/// `requires` is lowered this way inside [`build`]; tests use it directly).
pub fn expression(
    config: &Config,
    segments: &[&ast::Segment],
    e: &ast::Expr,
) -> Result<Expr, String> {
    let mut lower = Lower {
        config,
        seg_defs: segments.iter().map(|s| (s.name.name.clone(), *s)).collect(),
        tpl_defs: BTreeMap::new(),
        segments: HashMap::new(),
        templates: HashMap::new(),
        in_progress: Vec::new(),
    };
    lower.expr(e)
}

struct Lower<'a> {
    config: &'a Config,
    seg_defs: BTreeMap<String, &'a ast::Segment>,
    tpl_defs: BTreeMap<String, &'a ast::Template>,
    segments: HashMap<String, Arc<Segment>>,
    templates: HashMap<String, Arc<Template>>,
    /// Segments being lowered (a segment defined through itself is reported by checking).
    in_progress: Vec<String>,
}

/// Names a playbook's steps resolve against.
struct Steps<'s> {
    ids: HashMap<&'s str, StepId>,
}

impl Steps<'_> {
    fn id(&self, name: &str) -> Result<StepId, String> {
        self.ids
            .get(name)
            .copied()
            .ok_or_else(|| format!("unknown step `{name}`"))
    }
}

impl Lower<'_> {
    fn channel(&mut self, ch: &crate::config::Channel) -> Result<Channel, String> {
        let requires = match &ch.requires {
            Some((e, _)) => Some(self.expr(e)?),
            None => None,
        };
        let refs = ch
            .settings
            .iter()
            .filter_map(|(key, value)| {
                let (root, rest) = value.trim().split_once('.')?;
                let root = match root {
                    "customer" => Root::Customer,
                    "event" => Root::Event,
                    _ => return None,
                };
                Some(SettingRef {
                    key: key.as_str().into(),
                    root,
                    path: rest.split('.').map(Sym::new).collect(),
                })
            })
            .collect();
        Ok(Channel {
            name: ch.name.as_str().into(),
            touchpoint: ch.touchpoint,
            adapter: ch.adapter.clone(),
            quiet: ch.quiet,
            cap: ch.cap,
            cap_name: format!("channel {}", ch.name).into(),
            max_length: ch.max_length(),
            requires,
            settings: ch.settings.clone(),
            refs,
        })
    }

    fn segment(&mut self, name: &str) -> Result<Arc<Segment>, String> {
        if let Some(s) = self.segments.get(name) {
            return Ok(s.clone());
        }
        if self.in_progress.iter().any(|n| n == name) {
            return Err(format!("segment `{name}` is defined through itself"));
        }
        let def = *self
            .seg_defs
            .get(name)
            .ok_or_else(|| format!("unknown segment `{name}`"))?;
        self.in_progress.push(name.to_string());
        let expr = self.expr(&def.expr);
        self.in_progress.pop();
        let expr = expr?;
        let seg = Arc::new(Segment {
            name: name.into(),
            reads_clock: reads_clock(&expr),
            expr,
        });
        self.segments.insert(name.to_string(), seg.clone());
        Ok(seg)
    }

    /// A segment's definition and those of the segments it tests, in canonical text.
    fn segment_text(&self, seg: &Segment) -> String {
        let names = super::version::segments_of(seg);
        names
            .iter()
            .filter_map(|n| self.seg_defs.get(n.as_str()))
            .map(|d| crate::syntax::print::segment(d).trim().to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn template(&mut self, name: &str) -> Result<Arc<Template>, String> {
        if let Some(t) = self.templates.get(name) {
            return Ok(t.clone());
        }
        let def = *self
            .tpl_defs
            .get(name)
            .ok_or_else(|| format!("unknown template `{name}`"))?;
        let kind = match &def.kind {
            None => Kind::Service,
            Some(k) => Kind::parse(&k.name).ok_or_else(|| format!("unknown kind `{}`", k.name))?,
        };
        let wordings = def
            .text
            .iter()
            .map(|s| (None, s))
            .chain(def.variants.iter().map(|(n, s)| (Some(n), s)))
            .map(|(variant, s)| Wording {
                variant: variant.map(|v| v.name.as_str().into()),
                source: s.value.as_str().into(),
            })
            .collect();
        let t = Arc::new(Template {
            name: name.into(),
            kind,
            wordings,
        });
        self.templates.insert(name.to_string(), t.clone());
        Ok(t)
    }

    fn playbook(&mut self, pb: &ast::Playbook) -> Result<Playbook, String> {
        let steps = Steps {
            ids: pb
                .steps
                .iter()
                .enumerate()
                .map(|(i, s)| (s.name.name.as_str(), i))
                .collect(),
        };
        let s = &pb.settings;
        let zone = match &s.timezone {
            None => Zone::Project,
            Some(ast::ZoneSetting::Customer(_)) => Zone::Customer,
            Some(ast::ZoneSetting::Named(n)) => Zone::Named(
                n.value
                    .parse()
                    .map_err(|_| format!("unknown time zone `{}`", n.value))?,
            ),
        };
        let broadcast = !pb.triggers.is_empty()
            && pb
                .triggers
                .iter()
                .all(|t| matches!(t.kind, ast::TriggerKind::Every { segment: None, .. }));
        let caps = s
            .caps
            .iter()
            .map(|c| {
                Ok(Cap {
                    count: c.count,
                    period: c.period,
                    kind: match &c.kind {
                        None => None,
                        Some(k) => Some(
                            Kind::parse(&k.name)
                                .ok_or_else(|| format!("unknown kind `{}`", k.name))?,
                        ),
                    },
                    drop: c.drop,
                    name: format!("cap {} per {}", c.count, c.period.name()).into(),
                })
            })
            .collect::<Result<_, String>>()?;
        let reenter = s.reenter.as_ref().map(|r| match r {
            ast::Reenter::Never(_) => Reenter::Never,
            ast::Reenter::Always(_) => Reenter::Always,
            ast::Reenter::After(d) => Reenter::After(dur(d)),
        });
        let mut triggers = Vec::with_capacity(pb.triggers.len());
        for t in &pb.triggers {
            let kind = self.trigger(&t.kind)?;
            let mut id = crate::syntax::print::trigger(&t.kind);
            if let TriggerKind::Enter { segment } = &kind {
                // A segment defined anew is a new trigger: it takes a new baseline.
                id = format!("{id} ({})", self.segment_text(segment));
            }
            let same = triggers
                .iter()
                .filter(|x: &&Trigger| x.id.split(" #").next() == Some(id.as_str()))
                .count();
            if same > 0 {
                // The same trigger written twice: told apart by their order.
                id = format!("{id} #{}", same + 1);
            }
            triggers.push(Trigger {
                id: id.into(),
                kind,
            });
        }
        let goal = match &pb.goal {
            Some(g) => Some(Goal {
                event: Sym::new(&g.event.name),
                cond: self.opt_expr(&g.cond)?,
                within: g.within.as_ref().map(dur),
            }),
            None => None,
        };
        let stops = pb
            .stops
            .iter()
            .map(|st| {
                Ok(Stop {
                    event: Sym::new(&st.event.name),
                    cond: self.opt_expr(&st.cond)?,
                })
            })
            .collect::<Result<_, String>>()?;
        let mut out_steps = Vec::with_capacity(pb.steps.len());
        for step in &pb.steps {
            out_steps.push(Step {
                name: step.name.name.as_str().into(),
                body: self.block(&step.body, &steps, &step.name.name, &step.name.name)?,
            });
        }
        let looks_back = looks_back(&out_steps);
        let mut looks_back_if = Vec::new();
        for step in &out_steps {
            super::walk::block(&step.body, &mut |u| {
                if let super::walk::Use::Action(Action::WaitFor(w)) = u {
                    if w.since_entry && w.cond.is_some() && !looks_back_if.contains(&w.event) {
                        looks_back_if.push(w.event);
                    }
                }
            });
        }
        let mut reads = EventReads::default();
        for step in &out_steps {
            reads.block(&step.body);
        }
        let mut built = Playbook {
            name: pb.name.name.as_str().into(),
            version: "".into(),
            text: "".into(),
            zone,
            broadcast,
            owner: s.owner.as_ref().map(|o| o.value.as_str().into()),
            quiet: s.quiet.map(|q| Quiet {
                start: q.start.minutes,
                end: q.end.minutes,
            }),
            caps,
            reenter,
            holdout: s.holdout.map(|h| h.basis_points),
            triggers,
            goal,
            stops,
            steps: out_steps,
            looks_back,
            looks_back_if,
            event_fields: (!reads.whole).then(|| reads.fields.into_iter().collect()),
        };
        let text = version::canonical(self.config, pb, &built, &self.seg_defs, &self.tpl_defs);
        built.version = version::hash(&text).into();
        built.text = text.into();
        Ok(built)
    }

    fn trigger(&mut self, t: &ast::TriggerKind) -> Result<TriggerKind, String> {
        Ok(match t {
            ast::TriggerKind::Event { event, cond } => TriggerKind::Event {
                event: Sym::new(&event.name),
                cond: self.opt_expr(cond)?,
            },
            ast::TriggerKind::Enter { segment } => TriggerKind::Enter {
                segment: self.segment(&segment.name)?,
            },
            ast::TriggerKind::Every { cron, segment } => TriggerKind::Every {
                cron: Box::new(crate::cron::parse(&cron.value)?),
                segment: match segment {
                    Some(s) => Some(self.segment(&s.name)?),
                    None => None,
                },
            },
            ast::TriggerKind::Yearly {
                path,
                offset_days,
                at,
                ..
            } => TriggerKind::Yearly {
                path: path.segments[1..].iter().map(|s| Sym::new(s)).collect(),
                offset_days: *offset_days,
                at: at.map_or(0, |c| c.minutes),
            },
        })
    }

    /// Lowers a block; `prefix` is where its actions' sites start: the step's
    /// name, `hook NAME` inside a hook, then `/i.b` for each enclosing branch.
    fn block(
        &mut self,
        b: &ast::Block,
        steps: &Steps,
        step: &str,
        prefix: &str,
    ) -> Result<Block, String> {
        let mut out = Vec::with_capacity(b.len());
        let mut splits = 0;
        for (idx, a) in b.iter().enumerate() {
            let site = || Sym::new(&format!("{prefix}/{idx}"));
            out.push(match &a.kind {
                ast::ActionKind::Send {
                    channel,
                    template,
                    with,
                } => Action::Send(Send {
                    site: site(),
                    channel: channel.name.as_str().into(),
                    text: match template {
                        ast::TemplateRef::Named(t) => Text::Named(self.template(&t.name)?),
                        ast::TemplateRef::Inline(s) => Text::Inline(s.value.as_str().into()),
                    },
                    with: with
                        .iter()
                        .map(|(k, e)| Ok((Sym::new(&k.name), self.expr(e)?)))
                        .collect::<Result<_, String>>()?,
                }),
                ast::ActionKind::Wait(d) => Action::Wait(dur(d)),
                ast::ActionKind::WaitUntil(t) => Action::WaitUntil {
                    at: self.time(t)?,
                    site: site(),
                },
                ast::ActionKind::WaitFor(w) => Action::WaitFor(WaitFor {
                    event: Sym::new(&w.event.name),
                    cond: self.opt_expr(&w.cond)?,
                    since_entry: w.since_entry,
                    within: w.within.as_ref().map(dur),
                    else_step: match &w.else_step {
                        Some(s) => Some(steps.id(&s.name)?),
                        None => None,
                    },
                }),
                ast::ActionKind::If {
                    cond,
                    then,
                    otherwise,
                } => Action::If {
                    cond: self.expr(cond)?,
                    then: self.block(then, steps, step, &format!("{prefix}/{idx}.0"))?,
                    otherwise: match otherwise {
                        Some(o) => {
                            Some(self.block(o, steps, step, &format!("{prefix}/{idx}.1"))?)
                        }
                        None => None,
                    },
                },
                ast::ActionKind::Split(arms) => {
                    let arms = arms
                        .iter()
                        .map(|a| Ok((a.percent.basis_points, steps.id(&a.target.name)?)))
                        .collect::<Result<_, String>>()?;
                    splits += 1;
                    Action::Split {
                        arms,
                        ordinal: splits - 1,
                    }
                }
                ast::ActionKind::Tag { add, tags } => Action::Tag {
                    add: *add,
                    tags: tags.iter().map(|t| t.value.as_str().into()).collect(),
                },
                ast::ActionKind::Set { path, value } => Action::Set {
                    path: path.segments[1..].iter().map(|s| Sym::new(s)).collect(),
                    value: self.expr(value)?,
                },
                ast::ActionKind::Grant {
                    coupon,
                    worth,
                    valid,
                    ..
                } => Action::Grant {
                    site: site(),
                    coupon: Sym::new(&coupon.name),
                    worth: *worth,
                    valid: dur(valid),
                },
                ast::ActionKind::Hook { name, at, body } => Action::Hook {
                    name: name.name.as_str().into(),
                    label: format!("{step}/hook {}", name.name).into(),
                    at: self.time(at)?,
                    body: self.block(body, steps, step, &format!("hook {}", name.name))?,
                },
                ast::ActionKind::Task { text, .. } => Action::Task {
                    site: site(),
                    text: text.value.as_str().into(),
                },
                ast::ActionKind::Jump(target) => Action::Jump(steps.id(&target.name)?),
                ast::ActionKind::End => Action::End,
            });
        }
        Ok(out)
    }

    fn time(&mut self, t: &ast::TimeExpr) -> Result<TimeExpr, String> {
        Ok(match t {
            ast::TimeExpr::Next { weekday, clock, .. } => TimeExpr::Next {
                weekday: *weekday,
                clock: clock.minutes,
            },
            ast::TimeExpr::Point {
                base, offsets, at, ..
            } => TimeExpr::Point {
                base: match base {
                    ast::TimeBase::Now(_) => TimeBase::Now,
                    ast::TimeBase::Date(d, _) => TimeBase::Date(*d),
                    ast::TimeBase::DateTime(dt, _) => TimeBase::DateTime(*dt),
                    ast::TimeBase::Path(p) => match self.path(p)? {
                        Expr::Path(root, rest) => TimeBase::Path(root, rest),
                        _ => return Err(format!("`{}` is not a time", p.dotted())),
                    },
                },
                offsets: offsets.iter().map(|(s, d)| (*s, dur(d))).collect(),
                at: at.map(|c| c.minutes),
            },
        })
    }

    fn opt_expr(&mut self, e: &Option<ast::Expr>) -> Result<Option<Expr>, String> {
        e.as_ref().map(|e| self.expr(e)).transpose()
    }

    fn path(&mut self, p: &ast::Path) -> Result<Expr, String> {
        let rest: Box<[Sym]> = p.segments[1..].iter().map(|s| Sym::new(s)).collect();
        Ok(match p.root() {
            "customer"
                if p.segments.len() == 2
                    && p.segments[1] == "id"
                    && !self.config.customer.contains_key("id") =>
            {
                Expr::CustomerId
            }
            "customer" => Expr::Path(Root::Customer, rest),
            "event" => Expr::Path(Root::Event, rest),
            "received" => Expr::Path(Root::Received, rest),
            "coupon" => Expr::Path(Root::Coupon, rest),
            "now" if rest.is_empty() => Expr::Now,
            _ => return Err(format!("`{}` is not data", p.dotted())),
        })
    }

    fn expr(&mut self, e: &ast::Expr) -> Result<Expr, String> {
        Ok(match &e.kind {
            ExprKind::Str(s) => Expr::Lit(Value::str(s)),
            ExprKind::Int(i) => Expr::Lit(Value::Int(*i)),
            ExprKind::Float(f) => Expr::Lit(Value::Float(*f)),
            ExprKind::Bool(b) => Expr::Lit(Value::Bool(*b)),
            ExprKind::Duration(d) => Expr::Lit(Value::Duration {
                days: d.days,
                seconds: d.seconds,
            }),
            ExprKind::Clock(c) => Expr::Lit(Value::Clock(c.minutes)),
            ExprKind::Date(d) => Expr::Lit(Value::Date(*d)),
            ExprKind::DateTime(dt) => Expr::LocalDateTime(*dt),
            ExprKind::List(items) => Expr::List(
                items
                    .iter()
                    .map(|i| self.expr(i))
                    .collect::<Result<_, _>>()?,
            ),
            ExprKind::Paren(x) => self.expr(x)?,
            ExprKind::Path(p) => self.path(p)?,
            ExprKind::Call { func, args } => {
                let f = match func.name.as_str() {
                    "days_since" => Func::DaysSince,
                    "age_years" => Func::AgeYears,
                    "len" => Func::Len,
                    "lower" => Func::Lower,
                    "has" => Func::Has,
                    other => return Err(format!("unknown function `{other}`")),
                };
                Expr::Call(
                    f,
                    args.iter()
                        .map(|a| self.expr(a))
                        .collect::<Result<_, _>>()?,
                )
            }
            ExprKind::Unary(UnaryOp::Not, x) => Expr::Not(Box::new(self.expr(x)?)),
            ExprKind::Unary(UnaryOp::Neg, x) => Expr::Neg(Box::new(self.expr(x)?)),
            ExprKind::Binary(op @ (BinaryOp::In | BinaryOp::NotIn), l, r)
                if segment_name(r).is_some() =>
            {
                let _ = l;
                Expr::InSegment {
                    segment: self.segment(segment_name(r).unwrap_or_default())?,
                    negated: *op == BinaryOp::NotIn,
                }
            }
            ExprKind::Binary(op, l, r) => {
                Expr::Binary(*op, Box::new(self.expr(l)?), Box::new(self.expr(r)?))
            }
        })
    }
}

/// The right side of `in` that names a segment: a bare name that is not a data root.
fn segment_name(r: &ast::Expr) -> Option<&str> {
    match &r.kind {
        ExprKind::Path(p)
            if p.segments.len() == 1
                && !matches!(
                    p.root(),
                    "customer" | "event" | "received" | "coupon" | "now"
                ) =>
        {
            Some(p.root())
        }
        _ => None,
    }
}

fn dur(d: &ast::Duration) -> Dur {
    Dur {
        days: d.days,
        seconds: d.seconds,
    }
}

/// Whether an expression reads the clock, directly or through a segment.
fn reads_clock(e: &Expr) -> bool {
    match e {
        Expr::Call(Func::DaysSince | Func::AgeYears, _) => true,
        Expr::Call(_, args) | Expr::List(args) => args.iter().any(reads_clock),
        Expr::InSegment { segment, .. } => segment.reads_clock,
        Expr::Not(x) | Expr::Neg(x) => reads_clock(x),
        Expr::Binary(_, l, r) => reads_clock(l) || reads_clock(r),
        _ => false,
    }
}

/// Per step, the events a `wait for … since entry` reachable from the step's
/// start looks back for: the step itself, and every step it can go on to.
fn looks_back(steps: &[Step]) -> Vec<Vec<Sym>> {
    fn scan(b: &Block, events: &mut BTreeSet<Sym>, next: &mut BTreeSet<StepId>) {
        for a in b {
            match a {
                Action::WaitFor(w) => {
                    if w.since_entry {
                        events.insert(w.event);
                    }
                    next.extend(w.else_step);
                }
                Action::If {
                    then, otherwise, ..
                } => {
                    scan(then, events, next);
                    if let Some(o) = otherwise {
                        scan(o, events, next);
                    }
                }
                Action::Split { arms, .. } => next.extend(arms.iter().map(|a| a.1)),
                Action::Jump(s) => {
                    next.insert(*s);
                }
                _ => {}
            }
        }
    }
    let direct: Vec<(BTreeSet<Sym>, BTreeSet<StepId>)> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (mut events, mut next) = (BTreeSet::new(), BTreeSet::new());
            scan(&s.body, &mut events, &mut next);
            if i + 1 < steps.len() {
                next.insert(i + 1);
            }
            (events, next)
        })
        .collect();
    (0..steps.len())
        .map(|start| {
            let mut seen = vec![false; steps.len()];
            let mut todo = vec![start];
            let mut events = BTreeSet::new();
            while let Some(s) = todo.pop() {
                if std::mem::replace(&mut seen[s], true) {
                    continue;
                }
                events.extend(direct[s].0.iter().copied());
                todo.extend(direct[s].1.iter().copied().filter(|n| *n < steps.len()));
            }
            events.into_iter().collect()
        })
        .collect()
}

/// Which fields of the triggering event's payload the steps read (as
/// `event.*` in expressions and texts): only those are kept with an enrollment.
#[derive(Default)]
struct EventReads {
    fields: BTreeSet<Sym>,
    /// `event` read as a whole.
    whole: bool,
}

impl EventReads {
    fn block(&mut self, b: &Block) {
        super::walk::block(b, &mut |u| match u {
            super::walk::Use::Path(Root::Event, path) => match path.first() {
                Some(f) => {
                    self.fields.insert(*f);
                }
                None => self.whole = true,
            },
            super::walk::Use::Text(source) => match super::walk::text_paths(source) {
                Some(paths) => {
                    for v in paths {
                        if v == "event" {
                            self.whole = true;
                        } else if let Some(rest) = v.strip_prefix("event.") {
                            self.fields
                                .insert(Sym::new(rest.split('.').next().unwrap_or(rest)));
                        }
                    }
                }
                None => self.whole = true,
            },
            _ => {}
        });
    }
}
