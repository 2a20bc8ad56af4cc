//! Lowering pest pairs to the AST. Checks that the grammar leaves broad
//! (literal values, setting shapes, header order) are made here, where the
//! message can be precise.

use super::ast::*;
use super::literals::{self, DateLit, Number};
use super::{Rule, SyntaxError};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use std::sync::OnceLock;
use unicode_normalization::UnicodeNormalization;

type Result<T> = std::result::Result<T, SyntaxError>;

fn span_of(p: &Pair<Rule>) -> Span {
    let s = p.as_span();
    Span::new(s.start(), s.end())
}

fn err<T>(span: Span, message: impl Into<String>, help: impl Into<String>) -> Result<T> {
    Err(SyntaxError::new(span, message, help))
}

fn nfc(s: &str) -> String {
    if s.is_ascii() {
        s.to_string()
    } else {
        s.nfc().collect()
    }
}

fn ident(p: Pair<Rule>) -> Ident {
    Ident {
        name: nfc(p.as_str()),
        span: span_of(&p),
    }
}

pub fn file(_text: &str, pair: Pair<Rule>) -> Result<File> {
    let mut items = Vec::new();
    for p in pair.into_inner() {
        match p.as_rule() {
            Rule::eos => {}
            Rule::segment_def => items.push(Item::Segment(segment(p)?)),
            Rule::template_def => items.push(Item::Template(template(p)?)),
            Rule::playbook_def => items.push(Item::Playbook(Box::new(playbook(p)?))),
            _ => {}
        }
    }
    Ok(File { items })
}

fn segment(p: Pair<Rule>) -> Result<Segment> {
    let span = span_of(&p);
    let mut it = p.into_inner();
    it.next(); // keyword
    let name = ident(it.next().unwrap());
    let expr = expr(it.next().unwrap())?;
    Ok(Segment { name, expr, span })
}

fn string(p: Pair<Rule>) -> Result<Str> {
    let span = span_of(&p);
    // `string` wraps a plain or triple string token.
    let tok = if p.as_rule() == Rule::string {
        p.into_inner().next().unwrap()
    } else {
        p
    };
    Ok(Str {
        value: literals::string(tok.as_str(), span.start)?,
        span,
    })
}

fn template(p: Pair<Rule>) -> Result<Template> {
    let span = span_of(&p);
    let mut it = p.into_inner();
    it.next();
    let name = ident(it.next().unwrap());
    let mut t = Template {
        name,
        kind: None,
        text: None,
        variants: Vec::new(),
        span,
    };
    for item in it.filter(|p| p.as_rule() != Rule::eos) {
        let item_span = span_of(&item);
        let rule = item.as_rule();
        let mut parts = item.into_inner();
        parts.next();
        match rule {
            Rule::kind_setting => {
                if t.kind.is_some() {
                    return err(
                        item_span,
                        "`kind` is given twice in this template",
                        "keep one `kind` line",
                    );
                }
                t.kind = Some(ident(parts.next().unwrap()));
            }
            Rule::text_setting => {
                if t.text.is_some() {
                    return err(
                        item_span,
                        "`text` is given twice in this template",
                        "give other wordings as `variant NAME \"…\"`",
                    );
                }
                t.text = Some(string(parts.next().unwrap())?);
            }
            Rule::variant_def => {
                let vname = ident(parts.next().unwrap());
                let body = string(parts.next().unwrap())?;
                t.variants.push((vname, body));
            }
            _ => {}
        }
    }
    Ok(t)
}

fn setting_twice(span: Span, name: &str) -> SyntaxError {
    SyntaxError::new(span, format!("`{name}` is set twice in this playbook"), format!("each setting is given at most once (only `cap` and `stop` repeat); remove one `{name}`"))
}

fn playbook(p: Pair<Rule>) -> Result<Playbook> {
    let span = span_of(&p);
    let mut it = p.into_inner();
    it.next();
    let name = ident(it.next().unwrap());
    let mut pb = Playbook {
        name,
        settings: Settings::default(),
        triggers: Vec::new(),
        goal: None,
        stops: Vec::new(),
        steps: Vec::new(),
        span,
    };
    for item in it.filter(|p| p.as_rule() != Rule::eos) {
        let item_span = span_of(&item);
        let rule = item.as_rule();
        if rule != Rule::step_def && !pb.steps.is_empty() {
            let what = first_word(item.as_str());
            return err(
                Span::new(item_span.start, item_span.start + what.len()),
                format!("`{what}` comes after the first step"),
                "settings, `trigger`, `goal` and `stop` go at the top of the playbook, before the first `step`",
            );
        }
        let s = &mut pb.settings;
        match rule {
            Rule::title_s => {
                if s.title.is_some() {
                    return Err(setting_twice(item_span, "title"));
                }
                s.title = Some(string(item.into_inner().nth(1).unwrap())?);
            }
            Rule::owner_s => {
                if s.owner.is_some() {
                    return Err(setting_twice(item_span, "owner"));
                }
                s.owner = Some(string(item.into_inner().nth(1).unwrap())?);
            }
            Rule::timezone_s => {
                if s.timezone.is_some() {
                    return Err(setting_twice(item_span, "timezone"));
                }
                let v = item.into_inner().nth(1).unwrap();
                s.timezone = Some(match v.as_rule() {
                    Rule::k_customer => ZoneSetting::Customer(span_of(&v)),
                    _ => ZoneSetting::Named(string(v)?),
                });
            }
            Rule::quiet_s => {
                if s.quiet.is_some() {
                    return Err(setting_twice(item_span, "quiet"));
                }
                let value = item.into_inner().nth(1).unwrap();
                s.quiet = Some(quiet(value.as_str(), span_of(&value).start, item_span)?);
            }
            Rule::cap_s => s.caps.push(cap(item, item_span)?),
            Rule::reenter_s => {
                if s.reenter.is_some() {
                    return Err(setting_twice(item_span, "reenter"));
                }
                let v = item.into_inner().nth(1).unwrap();
                let vspan = span_of(&v);
                s.reenter =
                    Some(match v.as_rule() {
                        Rule::reenter_after => {
                            Reenter::After(duration(v.into_inner().nth(1).unwrap())?)
                        }
                        _ => match v.as_str() {
                            "never" => Reenter::Never(vspan),
                            "always" => Reenter::Always(vspan),
                            other => return err(
                                vspan,
                                format!("`reenter {other}` is not a choice"),
                                "write `reenter never`, `reenter always` or `reenter after 90d`",
                            ),
                        },
                    });
            }
            Rule::holdout_s => {
                if s.holdout.is_some() {
                    return Err(setting_twice(item_span, "holdout"));
                }
                let v = item.into_inner().nth(1).unwrap();
                s.holdout = Some(literals::percent(v.as_str(), span_of(&v))?);
            }
            Rule::trigger => pb.triggers.push(trigger(item, item_span)?),
            Rule::goal => {
                if pb.goal.is_some() {
                    return err(item_span, "this playbook has a second `goal`", "a playbook has at most one `goal`; use `or` in its condition to accept several outcomes");
                }
                pb.goal = Some(event_clause(item, item_span)?);
            }
            Rule::stop => {
                let c = event_clause(item, item_span)?;
                if let Some(w) = &c.within {
                    return err(
                        w.span,
                        "`stop` does not take `within`",
                        "only `goal` has an attribution window; remove `within` here",
                    );
                }
                pb.stops.push(c);
            }
            Rule::step_def => pb.steps.push(step(item)?),
            _ => {}
        }
    }
    Ok(pb)
}

fn first_word(s: &str) -> &str {
    s.split(|c: char| c.is_whitespace()).next().unwrap_or(s)
}

/// `quiet 22:00..08:30`, or quoted as tend.toml writes it: `quiet "22:00..08:30"`.
fn quiet(text: &str, at: usize, span: Span) -> Result<QuietHours> {
    const FORM: &str = "write quiet hours as `quiet 22:00..08:30`: start and end on the 24-hour clock with `..` between them (quoted as in tend.toml is fine too)";
    let trimmed = text.trim_end();
    let whole = Span::new(at, at + trimmed.len());
    let inner = match trimmed.strip_prefix('"') {
        Some(rest) => match rest.strip_suffix('"') {
            Some(inner) => inner,
            None => return err(whole, "this quiet-hours string is never closed", FORM),
        },
        None => trimmed,
    };
    let offset = at + (trimmed.len() - trimmed.trim_start_matches('"').len());
    let Some((a, b)) = inner.split_once("..") else {
        // Say which separator was used instead of `..`.
        let sep = ["-", "～", "~", "到", "至", "—", "–", " to "]
            .into_iter()
            .find(|s| inner.contains(s));
        let message = match sep {
            Some(s) => format!("quiet hours are a range with `..`, not `{}`", s.trim()),
            None => format!("`{inner}` is not a range of quiet hours"),
        };
        return err(whole, message, FORM);
    };
    let a_span = Span::new(offset, offset + a.len());
    let b_start = offset + a.len() + 2;
    let b_span = Span::new(b_start, b_start + b.len());
    let start = literals::clock(a.trim(), a_span)?;
    let end = literals::clock(b.trim(), b_span)?;
    if start.minutes == end.minutes {
        return err(
            span,
            "quiet hours start and end at the same time",
            "give a range such as `quiet 21:30..09:00`; remove the line for no quiet hours",
        );
    }
    Ok(QuietHours { start, end, span })
}

fn cap(p: Pair<Rule>, span: Span) -> Result<Cap> {
    let mut it = p.into_inner();
    it.next();
    let n = it.next().unwrap();
    let count = match literals::number(n.as_str(), span_of(&n))? {
        Number::Int(i) if (1..=1_000_000).contains(&i) => i as u32,
        _ => {
            return err(
                span_of(&n),
                format!("`cap {}` is not a count of at least 1", n.as_str()),
                "a cap is a whole number of sends, at least 1, such as `cap 3 per day`",
            )
        }
    };
    it.next(); // per
    let per = it.next().unwrap();
    let period = match per.as_str() {
        "day" => Period::Day,
        "week" => Period::Week,
        "month" => Period::Month,
        other => {
            return err(
                span_of(&per),
                format!("`per {other}` is not a cap period"),
                "caps are `per day`, `per week` or `per month`",
            )
        }
    };
    let mut kind = None;
    let mut drop = false;
    let rest: Vec<Pair<Rule>> = it.collect();
    for (i, w) in rest.iter().enumerate() {
        match w.as_str() {
            "drop" if i + 1 == rest.len() => drop = true,
            "defer" if i + 1 == rest.len() => {}
            _ if i == 0 => kind = Some(ident(w.clone())),
            other => {
                return err(
                    span_of(w),
                    format!("unexpected `{other}` in this cap"),
                    "write `cap N per day|week|month [KIND] [drop|defer]`",
                )
            }
        }
    }
    Ok(Cap {
        count,
        period,
        kind,
        drop,
        span,
    })
}

fn event_name(p: Pair<Rule>) -> Result<EventName> {
    let span = span_of(&p);
    let inner = p.into_inner().next().unwrap();
    let name = match inner.as_rule() {
        Rule::string => string(inner)?.value,
        _ => nfc(inner.as_str()),
    };
    if name.is_empty() {
        return err(
            span,
            "the event name is empty",
            "name the event, such as `order.paid`",
        );
    }
    Ok(EventName { name, span })
}

fn event_clause(p: Pair<Rule>, span: Span) -> Result<EventClause> {
    let mut c = EventClause {
        event: EventName {
            name: String::new(),
            span,
        },
        cond: None,
        within: None,
        span,
    };
    for part in p.into_inner() {
        match part.as_rule() {
            Rule::event_name => c.event = event_name(part)?,
            Rule::if_clause => c.cond = Some(expr(part.into_inner().nth(1).unwrap())?),
            Rule::within_clause => {
                let mut w = part.into_inner();
                w.next();
                c.within = Some(duration(w.next().unwrap())?);
                if let Some(e) = w.next() {
                    return err(
                        span_of(&e),
                        "`goal … within` takes no `else`",
                        "the goal window ends quietly; remove `else -> …`",
                    );
                }
            }
            _ => {}
        }
    }
    Ok(c)
}

fn trigger(p: Pair<Rule>, span: Span) -> Result<Trigger> {
    let t = p.into_inner().nth(1).unwrap();
    let rule = t.as_rule();
    let mut it = t.into_inner();
    it.next();
    let kind = match rule {
        Rule::trig_event => {
            let event = event_name(it.next().unwrap())?;
            let cond = match it.next() {
                Some(c) => Some(expr(c.into_inner().nth(1).unwrap())?),
                None => None,
            };
            TriggerKind::Event { event, cond }
        }
        Rule::trig_enter => TriggerKind::Enter {
            segment: ident(it.next().unwrap()),
        },
        Rule::trig_every => {
            let cron = string(it.next().unwrap())?;
            let segment = it.nth(1).map(ident);
            TriggerKind::Every { cron, segment }
        }
        _ => {
            let path = path(it.next().unwrap());
            let mut offset_days = 0;
            let mut offset_span = None;
            let mut at = None;
            for part in it {
                match part.as_rule() {
                    Rule::offset => {
                        let ospan = span_of(&part);
                        let (sign, d) = offset(part)?;
                        if d.seconds != 0 {
                            return err(ospan, "a `yearly` offset is whole days", "write the offset in `d` or `w`, such as `- 3d`, and the time with `at 10:00`");
                        }
                        offset_days = sign * d.days;
                        offset_span = Some(ospan);
                    }
                    _ => at = Some(clock(part.into_inner().nth(1).unwrap())?),
                }
            }
            TriggerKind::Yearly {
                path,
                offset_days,
                offset_span,
                at,
            }
        }
    };
    Ok(Trigger { kind, span })
}

fn path(p: Pair<Rule>) -> Path {
    let span = span_of(&p);
    Path {
        segments: p.as_str().split('.').map(nfc).collect(),
        span,
    }
}

fn duration(p: Pair<Rule>) -> Result<Duration> {
    literals::duration(p.as_str(), span_of(&p))
}

fn clock(p: Pair<Rule>) -> Result<Clock> {
    literals::clock(p.as_str(), span_of(&p))
}

fn offset(p: Pair<Rule>) -> Result<(i64, Duration)> {
    let mut it = p.into_inner();
    let sign = if it.next().unwrap().as_str() == "-" {
        -1
    } else {
        1
    };
    Ok((sign, duration(it.next().unwrap())?))
}

fn step(p: Pair<Rule>) -> Result<Step> {
    let span = span_of(&p);
    let mut it = p.into_inner();
    it.next();
    let name = ident(it.next().unwrap());
    let body = block(it.next().unwrap())?;
    Ok(Step { name, body, span })
}

fn block(p: Pair<Rule>) -> Result<Block> {
    p.into_inner()
        .filter(|p| p.as_rule() != Rule::eos)
        .map(action)
        .collect()
}

fn action(p: Pair<Rule>) -> Result<Action> {
    let span = span_of(&p);
    let rule = p.as_rule();
    let mut it = p.into_inner();
    let kind = match rule {
        Rule::send => {
            it.next();
            let channel = ident(it.next().unwrap());
            let t = it.next().unwrap();
            let template = match t.as_rule() {
                Rule::string => TemplateRef::Inline(string(t)?),
                _ => TemplateRef::Named(ident(t)),
            };
            let mut with = Vec::new();
            if let Some(w) = it.next() {
                for item in w.into_inner().skip(1) {
                    let mut kv = item.into_inner();
                    let k = ident(kv.next().unwrap());
                    let v = expr(kv.next().unwrap())?;
                    with.push((k, v));
                }
            }
            ActionKind::Send {
                channel,
                template,
                with,
            }
        }
        Rule::wait_dur => ActionKind::Wait(duration(it.nth(1).unwrap())?),
        Rule::wait_until => ActionKind::WaitUntil(time_expr(it.nth(2).unwrap())?),
        Rule::wait_for => {
            it.next();
            it.next();
            let mut w = WaitFor {
                event: event_name(it.next().unwrap())?,
                cond: None,
                since_entry: false,
                within: None,
                else_step: None,
            };
            for part in it {
                match part.as_rule() {
                    Rule::if_clause => w.cond = Some(expr(part.into_inner().nth(1).unwrap())?),
                    Rule::since_entry => w.since_entry = true,
                    _ => {
                        let mut parts = part.into_inner();
                        parts.next();
                        w.within = Some(duration(parts.next().unwrap())?);
                        if let Some(e) = parts.next() {
                            w.else_step = Some(ident(e.into_inner().nth(1).unwrap()));
                        }
                    }
                }
            }
            ActionKind::WaitFor(w)
        }
        Rule::if_stmt => return if_stmt(span, it),
        Rule::split => {
            it.next();
            let mut arms = Vec::new();
            for arm in it {
                let mut a = arm.into_inner();
                let pc = a.next().unwrap();
                let percent = literals::percent(pc.as_str(), span_of(&pc))?;
                arms.push(SplitArm {
                    percent,
                    target: ident(a.next().unwrap()),
                });
            }
            ActionKind::Split(arms)
        }
        Rule::tag => {
            it.next();
            let add = it.next().unwrap().as_rule() == Rule::k_add;
            let tags = it.map(string).collect::<Result<Vec<_>>>()?;
            ActionKind::Tag { add, tags }
        }
        Rule::set => {
            it.next();
            let path = path(it.next().unwrap());
            let value = expr(it.next().unwrap())?;
            ActionKind::Set { path, value }
        }
        Rule::grant => {
            it.next();
            it.next();
            let coupon = ident(it.next().unwrap());
            it.next();
            let w = it.next().unwrap();
            let worth_span = span_of(&w);
            let worth = match literals::number(w.as_str(), worth_span)? {
                Number::Int(i) => i as f64,
                Number::Float(f) => f,
            };
            if w.as_str().split('.').nth(1).is_some_and(|f| f.len() > 2) {
                return err(
                    worth_span,
                    format!("`worth {}` has more than 2 decimals", w.as_str()),
                    "coupon values are in yuan with at most 2 decimals (fen), such as `worth 9.90`",
                );
            }
            it.next();
            let valid = duration(it.next().unwrap())?;
            ActionKind::Grant {
                coupon,
                worth,
                worth_span,
                valid,
            }
        }
        Rule::hook => {
            it.next();
            let name = ident(it.next().unwrap());
            it.next();
            let at = time_expr(it.next().unwrap())?;
            let body = block(it.next().unwrap())?;
            check_hook_body(&body)?;
            ActionKind::Hook { name, at, body }
        }
        Rule::task => {
            it.next();
            let text = string(it.next().unwrap())?;
            let to = it.nth(1).map(ident);
            if let Some(t) = &to {
                if t.name != "owner" {
                    return err(
                        t.span,
                        format!("`to {}` is not a task target", t.name),
                        "tasks go `to owner` (the customer's owner, else the playbook's)",
                    );
                }
            }
            ActionKind::Task { text, to }
        }
        Rule::jump => ActionKind::Jump(ident(it.next().unwrap())),
        _ => ActionKind::End,
    };
    Ok(Action { kind, span })
}

fn if_stmt(span: Span, mut it: Pairs<Rule>) -> Result<Action> {
    it.next();
    let cond = expr(it.next().unwrap())?;
    let then = block(it.next().unwrap())?;
    let otherwise = match it.nth(1) {
        None => None,
        Some(e) if e.as_rule() == Rule::if_stmt => {
            let espan = span_of(&e);
            Some(vec![if_stmt(espan, e.into_inner())?])
        }
        Some(b) => Some(block(b)?),
    };
    Ok(Action {
        kind: ActionKind::If {
            cond,
            then,
            otherwise,
        },
        span,
    })
}

/// Hooks run beside the main flow: they cannot steer it.
fn check_hook_body(body: &Block) -> Result<()> {
    for a in body {
        let what = match &a.kind {
            ActionKind::Jump(_) => "`->`",
            ActionKind::End => "`end`",
            ActionKind::Split(_) => "`split`",
            ActionKind::WaitFor(_) => "`wait for`",
            ActionKind::If {
                then, otherwise, ..
            } => {
                check_hook_body(then)?;
                if let Some(o) = otherwise {
                    check_hook_body(o)?;
                }
                continue;
            }
            _ => continue,
        };
        return err(a.span, format!("{what} cannot be used inside a hook"), "a hook runs beside the main flow and cannot steer it; use send, grant, task, tag, set, if, `wait D`, `wait until` or a nested hook");
    }
    Ok(())
}

fn time_expr(p: Pair<Rule>) -> Result<TimeExpr> {
    let span = span_of(&p);
    let inner = p.into_inner().next().unwrap();
    match inner.as_rule() {
        Rule::next_time => {
            let mut weekday = None;
            let mut c = None;
            for part in inner.into_inner().skip(1) {
                match part.as_rule() {
                    Rule::weekday => weekday = part.as_str().to_ascii_lowercase().parse().ok(),
                    _ => c = Some(clock(part)?),
                }
            }
            Ok(TimeExpr::Next {
                weekday,
                clock: c.unwrap(),
                span,
            })
        }
        _ => {
            let mut it = inner.into_inner();
            let b = it.next().unwrap().into_inner().next().unwrap();
            let bspan = span_of(&b);
            let base = match b.as_rule() {
                Rule::k_now => TimeBase::Now(bspan),
                Rule::datetime => match literals::date(b.as_str(), bspan)? {
                    DateLit::Date(d) => TimeBase::Date(d, bspan),
                    DateLit::DateTime(dt) => TimeBase::DateTime(dt, bspan),
                },
                _ => TimeBase::Path(path(b)),
            };
            let mut offsets = Vec::new();
            let mut at = None;
            for part in it {
                match part.as_rule() {
                    Rule::offset => offsets.push(offset(part)?),
                    _ => at = Some(clock(part.into_inner().nth(1).unwrap())?),
                }
            }
            Ok(TimeExpr::Point {
                base,
                offsets,
                at,
                span,
            })
        }
    }
}

// ---------------------------------------------------------------- expressions

fn pratt() -> &'static PrattParser<Rule> {
    static P: OnceLock<PrattParser<Rule>> = OnceLock::new();
    P.get_or_init(|| {
        PrattParser::new()
            .op(Op::infix(Rule::op_or, Assoc::Left))
            .op(Op::infix(Rule::op_and, Assoc::Left))
            .op(Op::prefix(Rule::op_not))
            .op(Op::infix(Rule::op_eq, Assoc::Left)
                | Op::infix(Rule::op_ne, Assoc::Left)
                | Op::infix(Rule::op_lt, Assoc::Left)
                | Op::infix(Rule::op_le, Assoc::Left)
                | Op::infix(Rule::op_gt, Assoc::Left)
                | Op::infix(Rule::op_ge, Assoc::Left)
                | Op::infix(Rule::op_in, Assoc::Left)
                | Op::infix(Rule::op_not_in, Assoc::Left))
            .op(Op::infix(Rule::op_add, Assoc::Left) | Op::infix(Rule::op_sub, Assoc::Left))
            .op(Op::infix(Rule::op_mul, Assoc::Left) | Op::infix(Rule::op_div, Assoc::Left))
            .op(Op::prefix(Rule::op_neg))
    })
}

fn is_comparison(op: BinaryOp) -> bool {
    use BinaryOp::*;
    matches!(op, Eq | Ne | Lt | Le | Gt | Ge | In | NotIn)
}

pub fn expr(p: Pair<Rule>) -> Result<Expr> {
    let span = span_of(&p);
    let operators = p
        .clone()
        .into_inner()
        .filter(|p| p.as_rule() != Rule::nl)
        .count()
        / 2;
    if operators > super::limits::MAX_OPERATORS {
        return err(
            span,
            "this expression has more than 256 operators",
            "split it into segments that name each other",
        );
    }
    pratt()
        .map_primary(primary)
        .map_prefix(|op, rhs| {
            let rhs = rhs?;
            let span = span_of(&op).to(rhs.span);
            let u = if op.as_rule() == Rule::op_not {
                UnaryOp::Not
            } else {
                UnaryOp::Neg
            };
            Ok(Expr {
                kind: ExprKind::Unary(u, Box::new(rhs)),
                span,
            })
        })
        .map_infix(|lhs, op, rhs| {
            let (lhs, rhs) = (lhs?, rhs?);
            let bop = match op.as_rule() {
                Rule::op_or => BinaryOp::Or,
                Rule::op_and => BinaryOp::And,
                Rule::op_eq => BinaryOp::Eq,
                Rule::op_ne => BinaryOp::Ne,
                Rule::op_lt => BinaryOp::Lt,
                Rule::op_le => BinaryOp::Le,
                Rule::op_gt => BinaryOp::Gt,
                Rule::op_ge => BinaryOp::Ge,
                Rule::op_in => BinaryOp::In,
                Rule::op_not_in => BinaryOp::NotIn,
                Rule::op_add => BinaryOp::Add,
                Rule::op_sub => BinaryOp::Sub,
                Rule::op_mul => BinaryOp::Mul,
                _ => BinaryOp::Div,
            };
            if is_comparison(bop) {
                if let ExprKind::Binary(inner, ..) = &lhs.kind {
                    if is_comparison(*inner) {
                        return err(
                            span_of(&op),
                            format!(
                                "comparisons do not chain: `{}` follows `{}`",
                                bop.symbol(),
                                inner.symbol()
                            ),
                            "join the two comparisons with `and`, such as `a < b and b < c`",
                        );
                    }
                }
            }
            let span = lhs.span.to(rhs.span);
            Ok(Expr {
                kind: ExprKind::Binary(bop, Box::new(lhs), Box::new(rhs)),
                span,
            })
        })
        .parse(p.into_inner())
}

fn primary(p: Pair<Rule>) -> Result<Expr> {
    let span = span_of(&p);
    let kind = match p.as_rule() {
        Rule::datetime => match literals::date(p.as_str(), span)? {
            DateLit::Date(d) => ExprKind::Date(d),
            DateLit::DateTime(d) => ExprKind::DateTime(d),
        },
        Rule::clock => ExprKind::Clock(literals::clock(p.as_str(), span)?),
        Rule::duration => ExprKind::Duration(literals::duration(p.as_str(), span)?),
        Rule::percent => {
            return err(
                span,
                "a percent is only allowed in `holdout` and `split`",
                "write a number instead, such as `0.6` for 60%",
            )
        }
        Rule::number => match literals::number(p.as_str(), span)? {
            Number::Int(i) => ExprKind::Int(i),
            Number::Float(f) => ExprKind::Float(f),
        },
        Rule::string => ExprKind::Str(string(p)?.value),
        Rule::k_true => ExprKind::Bool(true),
        Rule::k_false => ExprKind::Bool(false),
        Rule::list => ExprKind::List(p.into_inner().map(expr).collect::<Result<_>>()?),
        Rule::call => {
            let mut it = p.into_inner();
            let func = ident(it.next().unwrap());
            ExprKind::Call {
                func,
                args: it.map(expr).collect::<Result<_>>()?,
            }
        }
        Rule::path => ExprKind::Path(path(p)),
        // Parentheses stay in the tree so a comparison inside them does not count as chained.
        _ => ExprKind::Paren(Box::new(expr(p.into_inner().next().unwrap())?)),
    };
    Ok(Expr { kind, span })
}
