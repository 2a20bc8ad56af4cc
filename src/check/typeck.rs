//! Typing expressions against the schema. Errors become findings; an
//! expression that failed to type yields `None` so one mistake is reported once.

use super::Checker;
use crate::check::rules;
use crate::diag::Finding;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, Path, Span, UnaryOp};
use crate::types::{Field, Record, Type};
use std::collections::BTreeMap;

/// What the roots of a data path mean where an expression is read.
#[derive(Clone, Default)]
pub struct Scope<'a> {
    /// `None` in a broadcast, which has no customer.
    pub customer: Option<&'a Record>,
    /// `event.*`: the incoming event (conditions) or the trigger's payload (steps).
    pub event: EventScope<'a>,
    pub received: Option<(&'a str, &'a Record)>,
    /// Coupons granted on every path here, and their fields.
    pub coupons: Vec<String>,
    pub allow_now: bool,
    pub broadcast: bool,
    /// Why `received` is unavailable, for the message.
    pub received_note: &'static str,
}

#[derive(Clone, Default)]
pub enum EventScope<'a> {
    #[default]
    None,
    /// No payload because some trigger is not an event trigger.
    NotEventTriggered,
    Payload(std::borrow::Cow<'a, Record>),
}

/// A typed expression: its type, and whether it can be null.
#[derive(Debug, Clone, PartialEq)]
pub struct Typed {
    pub ty: Type,
    pub nullable: bool,
}

impl Typed {
    fn of(ty: Type) -> Self {
        Typed {
            ty,
            nullable: false,
        }
    }
}

pub fn coupon_record() -> Record {
    let mut r = BTreeMap::new();
    r.insert(
        "expires_at".into(),
        Field {
            ty: Type::DateTime,
            optional: false,
        },
    );
    r.insert(
        "granted_at".into(),
        Field {
            ty: Type::DateTime,
            optional: false,
        },
    );
    r.insert(
        "worth".into(),
        Field {
            ty: Type::Float,
            optional: false,
        },
    );
    r
}

pub const RESERVED_ROOTS: [&str; 5] = ["customer", "event", "received", "coupon", "now"];

impl Checker<'_> {
    fn mismatch(&mut self, span: Span, msg: impl Into<String>, help: impl Into<String>) {
        let f = Finding::new(&rules::TYPE_MISMATCH, self.file, span, msg).help(help);
        self.out.push(f);
    }

    fn unknown_field(&mut self, span: Span, msg: impl Into<String>, help: impl Into<String>) {
        let f = Finding::new(&rules::UNKNOWN_FIELD, self.file, span, msg).help(help);
        self.out.push(f);
    }

    /// Types a condition: it must be a bool.
    pub fn condition(&mut self, e: &Expr, scope: &Scope) {
        if let Some(t) = self.expr(e, scope) {
            if t.ty != Type::Bool {
                self.mismatch(
                    e.span,
                    format!("this condition is {}, not true or false", a_or_an(&t.ty)),
                    "compare it with something, such as `customer.orders > 0`",
                );
            }
        }
    }

    pub fn expr(&mut self, e: &Expr, scope: &Scope) -> Option<Typed> {
        match &e.kind {
            ExprKind::Str(_) => Some(Typed::of(Type::String)),
            ExprKind::Int(_) => Some(Typed::of(Type::Int)),
            ExprKind::Float(_) => Some(Typed::of(Type::Float)),
            ExprKind::Bool(_) => Some(Typed::of(Type::Bool)),
            ExprKind::Duration(_) => Some(Typed::of(Type::Duration)),
            ExprKind::Clock(_) => Some(Typed::of(Type::Clock)),
            ExprKind::Date(_) => Some(Typed::of(Type::Date)),
            ExprKind::DateTime(_) => Some(Typed::of(Type::DateTime)),
            ExprKind::Paren(inner) => self.expr(inner, scope),
            ExprKind::List(items) => {
                let mut elem: Option<Type> = None;
                let mut ok = true;
                for it in items {
                    match self.expr(it, scope) {
                        Some(t) => match &elem {
                            None => elem = Some(t.ty),
                            Some(prev) if prev.accepts(&t.ty) => {
                                if *prev == Type::Int && t.ty == Type::Float {
                                    elem = Some(Type::Float);
                                }
                            }
                            Some(prev) => {
                                let prev = prev.clone();
                                self.mismatch(
                                    it.span,
                                    format!("this list mixes {prev} and {}", t.ty),
                                    "put values of one type in a list",
                                );
                                ok = false;
                            }
                        },
                        None => ok = false,
                    }
                }
                if !ok {
                    return None;
                }
                Some(Typed::of(
                    elem.map(|t| Type::List(Box::new(t)))
                        .unwrap_or(Type::EmptyList),
                ))
            }
            ExprKind::Path(p) => self.path(p, scope),
            ExprKind::Call { func, args } => self.call(e, &func.name, func.span, args, scope),
            ExprKind::Unary(op, x) => {
                let t = self.expr(x, scope)?;
                match op {
                    UnaryOp::Not if t.ty == Type::Bool => Some(t),
                    UnaryOp::Neg if t.ty.is_numeric() || t.ty == Type::Duration => Some(t),
                    UnaryOp::Not => {
                        self.mismatch(
                            x.span,
                            format!("`not` needs true or false, this is {}", a_or_an(&t.ty)),
                            "use `not` on a condition",
                        );
                        None
                    }
                    UnaryOp::Neg => {
                        self.mismatch(
                            x.span,
                            format!("cannot negate a {}", t.ty),
                            "`-` applies to numbers and durations",
                        );
                        None
                    }
                }
            }
            ExprKind::Binary(op, l, r) => self.binary(e, *op, l, r, scope),
        }
    }

    fn binary(
        &mut self,
        e: &Expr,
        op: BinaryOp,
        l: &Expr,
        r: &Expr,
        scope: &Scope,
    ) -> Option<Typed> {
        if matches!(op, BinaryOp::In | BinaryOp::NotIn) {
            if let ExprKind::Path(p) = &r.kind {
                if p.segments.len() == 1 && !RESERVED_ROOTS.contains(&p.root()) {
                    return self.segment_membership(l, p, scope);
                }
            }
        }
        let lt = self.expr(l, scope);
        let rt = self.expr(r, scope);
        let (lt, rt) = (lt?, rt?);
        let nullable = lt.nullable || rt.nullable;
        let res = |ty: Type| Some(Typed { ty, nullable });
        use Type::*;
        match op {
            BinaryOp::And | BinaryOp::Or => {
                for (t, x) in [(&lt, l), (&rt, r)] {
                    if t.ty != Bool {
                        self.mismatch(
                            x.span,
                            format!(
                                "`{}` needs true or false on both sides, this is {}",
                                op.symbol(),
                                a_or_an(&t.ty)
                            ),
                            "compare the value with something first",
                        );
                        return None;
                    }
                }
                res(Bool)
            }
            BinaryOp::Eq | BinaryOp::Ne => {
                if comparable(&lt.ty, &rt.ty) {
                    Some(Typed::of(Bool))
                } else {
                    self.mismatch(
                        e.span,
                        format!("cannot compare {} with {}", lt.ty, rt.ty),
                        "compare values of the same type",
                    );
                    None
                }
            }
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => {
                let ok = (lt.ty.is_numeric() && rt.ty.is_numeric())
                    || (is_time(&lt.ty) && is_time(&rt.ty))
                    || (lt.ty == rt.ty && matches!(lt.ty, Duration | Clock));
                if ok {
                    res(Bool)
                } else if lt.ty == String || rt.ty == String {
                    // Text has no order users could rely on (`"十" < "二"` by code point).
                    self.mismatch(
                        e.span,
                        "strings cannot be ordered with `<`, `>`".to_string(),
                        "compare text with `==` or `!=`, or test membership with `in [\"a\", \"b\"]`; to order, store the value as a number or a date",
                    );
                    None
                } else {
                    self.mismatch(
                        e.span,
                        format!(
                            "cannot order {} against {}",
                            a_or_an(&lt.ty),
                            a_or_an(&rt.ty)
                        ),
                        "`<`, `>` compare numbers, dates and datetimes, durations, or clock times",
                    );
                    None
                }
            }
            BinaryOp::In | BinaryOp::NotIn => match &rt.ty {
                List(inner) if inner.accepts(&lt.ty) || lt.ty.accepts(inner) => res(Bool),
                EmptyList => res(Bool),
                List(inner) => {
                    self.mismatch(
                        e.span,
                        format!("{} is never in a list of {}", a_or_an(&lt.ty), inner),
                        "the right side of `in` must be a list of the left side's type",
                    );
                    None
                }
                other => {
                    self.mismatch(r.span, format!("the right side of `in` must be a list or a segment, not {}", a_or_an(other)), "there is no substring `in`; use a list such as `[\"vip\", \"cat\"]`, a list attribute, or a segment name");
                    None
                }
            },
            BinaryOp::Add | BinaryOp::Sub => {
                let ty = match (&lt.ty, &rt.ty) {
                    (a, b) if a.is_numeric() && b.is_numeric() => {
                        Some(if *a == Int && *b == Int { Int } else { Float })
                    }
                    (String, String) if op == BinaryOp::Add => Some(String),
                    (List(_) | EmptyList, List(_) | EmptyList)
                        if op == BinaryOp::Add && lt.ty.accepts(&rt.ty) =>
                    {
                        Some(if lt.ty == EmptyList {
                            rt.ty.clone()
                        } else {
                            lt.ty.clone()
                        })
                    }
                    (Date, Duration) => {
                        if let ExprKind::Duration(d) = &r.kind {
                            if d.seconds != 0 {
                                self.mismatch(
                                    r.span,
                                    "a date plus hours or minutes is not a date",
                                    "add whole days (`d`, `w`) to a date, or start from a datetime",
                                );
                                return None;
                            }
                        }
                        Some(Date)
                    }
                    (DateTime, Duration) => Some(DateTime),
                    (Duration, Duration) => Some(Duration),
                    (Duration, Date) | (Duration, DateTime) if op == BinaryOp::Add => {
                        Some(rt.ty.clone())
                    }
                    (Date, Date) if op == BinaryOp::Sub => Some(Int),
                    (DateTime, DateTime) if op == BinaryOp::Sub => Some(Duration),
                    _ => None,
                };
                match ty {
                    Some(t) => res(t),
                    None => {
                        self.mismatch(e.span, format!("cannot {} {} and {}", if op == BinaryOp::Add { "add" } else { "subtract" }, lt.ty, rt.ty), "see the arithmetic rules in docs/language.md: date ± days, datetime ± duration, date − date");
                        None
                    }
                }
            }
            BinaryOp::Mul | BinaryOp::Div => {
                let ty = match (&lt.ty, &rt.ty) {
                    (a, b) if a.is_numeric() && b.is_numeric() => {
                        Some(if op == BinaryOp::Div || *a == Float || *b == Float {
                            Float
                        } else {
                            Int
                        })
                    }
                    (Duration, Int) | (Int, Duration) if op == BinaryOp::Mul => Some(Duration),
                    _ => None,
                };
                match ty {
                    Some(t) => res(t),
                    None => {
                        self.mismatch(
                            e.span,
                            format!(
                                "cannot {} {} by {}",
                                if op == BinaryOp::Mul {
                                    "multiply"
                                } else {
                                    "divide"
                                },
                                lt.ty,
                                rt.ty
                            ),
                            "`*` and `/` work on numbers",
                        );
                        None
                    }
                }
            }
        }
    }

    fn segment_membership(&mut self, l: &Expr, seg: &Path, scope: &Scope) -> Option<Typed> {
        let name = seg.root();
        self.use_segment(name, seg.span);
        let is_customer =
            matches!(&l.kind, ExprKind::Path(p) if p.segments.len() == 1 && p.root() == "customer");
        if !is_customer {
            self.mismatch(l.span, format!("only `customer` can be in the segment `{name}`"), format!("write `customer in {name}`; for list membership put a list or list attribute on the right"));
            return None;
        }
        if scope.customer.is_none() {
            self.unknown_field(l.span, "a broadcast has no customer", "broadcasts (`every` without `for`) post to groups and Moments; use `every … for SEGMENT` to reach customers");
            return None;
        }
        Some(Typed::of(Type::Bool))
    }

    fn call(
        &mut self,
        e: &Expr,
        name: &str,
        span: Span,
        args: &[Expr],
        scope: &Scope,
    ) -> Option<Typed> {
        const FUNCS: [&str; 5] = ["days_since", "age_years", "len", "lower", "has"];
        if !FUNCS.contains(&name) {
            let near = FUNCS
                .iter()
                .min_by_key(|f| strsim::levenshtein(f, name))
                .unwrap();
            self.unknown_field(span, format!("unknown function `{name}`"), format!("did you mean `{near}`? the functions are days_since, age_years, len, lower and has"));
            return None;
        }
        if args.len() != 1 {
            self.mismatch(
                e.span,
                format!("`{name}` takes one argument, not {}", args.len()),
                format!("write `{name}(…)` with one value"),
            );
            return None;
        }
        let arg = &args[0];
        if name == "has" {
            let ExprKind::Path(p) = &arg.kind else {
                self.mismatch(
                    arg.span,
                    "`has` takes a data path",
                    "write `has(customer.pet.birthday)`",
                );
                return None;
            };
            self.path(p, scope)?;
            return Some(Typed::of(Type::Bool));
        }
        if matches!(name, "days_since" | "age_years") {
            self.clock_reads = true;
        }
        let t = self.expr(arg, scope)?;
        let ok = match name {
            "days_since" | "age_years" => is_time(&t.ty),
            "len" => matches!(t.ty, Type::List(_) | Type::EmptyList | Type::String),
            _ => t.ty == Type::String,
        };
        if !ok {
            let want = match name {
                "days_since" | "age_years" => "a date or datetime",
                "len" => "a list or string",
                _ => "a string",
            };
            self.mismatch(
                arg.span,
                format!("`{name}` takes {want}, not a {}", t.ty),
                format!("pass {want} to `{name}`"),
            );
            return None;
        }
        let ty = if name == "lower" {
            Type::String
        } else {
            Type::Int
        };
        Some(Typed {
            ty,
            nullable: t.nullable,
        })
    }

    pub fn path(&mut self, p: &Path, scope: &Scope) -> Option<Typed> {
        let root = p.root();
        let rest = &p.segments[1..];
        match root {
            "customer" => {
                let Some(rec) = scope.customer else {
                    self.unknown_field(p.span, "a broadcast has no customer", "broadcasts (`every` without `for`) reach groups and Moments, not one customer; use `every … for SEGMENT` to go through customers");
                    return None;
                };
                if rest.is_empty() {
                    self.mismatch(
                        p.span,
                        "`customer` alone is not a value",
                        "read an attribute such as `customer.name`, or test `customer in SEGMENT`",
                    );
                    return None;
                }
                if rest.len() == 1 && rest[0] == "id" && !rec.contains_key("id") {
                    return Some(Typed::of(Type::String));
                }
                self.walk_record(p, rec, 1, "the customer schema in tend.toml [customer]")
            }
            "event" => match &scope.event {
                EventScope::Payload(rec) => {
                    if rest.is_empty() {
                        self.mismatch(
                            p.span,
                            "`event` alone is not a value",
                            "read a payload field such as `event.order_id`",
                        );
                        return None;
                    }
                    let rec = rec.clone();
                    self.walk_record(p, &rec, 1, "the event's payload in tend.toml [events]")
                }
                EventScope::NotEventTriggered => {
                    self.unknown_field(p.span, format!("`{}` is not available: this playbook is not (only) started by events", p.dotted()), "`event.*` in steps is the payload of the trigger event; with `enter`, `every` or `yearly` triggers there is none");
                    None
                }
                EventScope::None => {
                    let msg = if scope.broadcast {
                        "a broadcast has no event".to_string()
                    } else {
                        format!("`{}` is not available here", p.dotted())
                    };
                    self.unknown_field(p.span, msg, "`event.*` is readable in trigger, goal and stop conditions and, for event-triggered playbooks, in steps");
                    None
                }
            },
            "received" => match scope.received {
                Some((_, rec)) if !rest.is_empty() => self.walk_record(
                    p,
                    rec,
                    1,
                    "the awaited event's payload in tend.toml [events]",
                ),
                Some(_) => {
                    self.mismatch(
                        p.span,
                        "`received` alone is not a value",
                        "read a payload field such as `received.text`",
                    );
                    None
                }
                None => {
                    let note = if scope.received_note.is_empty() {
                        "`received.*` is readable after a `wait for`, up to the next one, where every path came through the event"
                    } else {
                        scope.received_note
                    };
                    self.unknown_field(
                        p.span,
                        format!("`{}` is not available here", p.dotted()),
                        note,
                    );
                    None
                }
            },
            "coupon" => {
                let Some(id) = rest.first() else {
                    self.mismatch(
                        p.span,
                        "`coupon` alone is not a value",
                        "read `coupon.ID.expires_at` after `grant coupon ID …`",
                    );
                    return None;
                };
                if !scope.coupons.iter().any(|c| c == id) {
                    self.unknown_field(p.span, format!("coupon `{id}` is not granted on every path to here"), format!("`coupon.{id}.*` is known after `grant coupon {id} …`; make sure every path grants it first"));
                    return None;
                }
                if rest.len() == 1 {
                    self.mismatch(
                        p.span,
                        format!("`coupon.{id}` alone is not a value"),
                        format!("read `coupon.{id}.expires_at` or `coupon.{id}.worth`"),
                    );
                    return None;
                }
                let rec = coupon_record();
                self.walk_record(
                    p,
                    &rec,
                    2,
                    "a coupon's fields: expires_at, granted_at, worth",
                )
            }
            "now" => {
                if !scope.allow_now {
                    self.unknown_field(p.span, "`now` is not allowed in segments", "segments must not depend on when they are read; use `days_since(…)` instead");
                    return None;
                }
                if rest.is_empty() {
                    Some(Typed::of(Type::DateTime))
                } else {
                    self.unknown_field(
                        p.span,
                        format!("`{}` is not a value", p.dotted()),
                        "`now` is a datetime with no fields",
                    );
                    None
                }
            }
            other => {
                self.unknown_field(p.span, format!("unknown name `{other}`"), "data paths start with `customer`, `event`, `received`, `coupon` or `now`; a segment is tested with `customer in SEGMENT`");
                None
            }
        }
    }

    fn walk_record(&mut self, p: &Path, rec: &Record, from: usize, where_: &str) -> Option<Typed> {
        let mut rec = rec;
        let mut nullable = false;
        for (i, seg) in p.segments.iter().enumerate().skip(from) {
            let Some(field) = rec.get(seg) else {
                let near = rec
                    .keys()
                    .min_by_key(|k| strsim::levenshtein(k, seg))
                    .filter(|k| strsim::levenshtein(k, seg) <= 2);
                let prefix = p.segments[..i].join(".");
                let help = match near {
                    Some(n) => format!("did you mean `{prefix}.{n}`? fields come from {where_}"),
                    None => format!("declare `{seg}` in {where_}"),
                };
                let sp = self.segment_span(p, i);
                self.unknown_field(sp, format!("`{}` has no field `{seg}`", prefix), help);
                return None;
            };
            nullable |= field.optional;
            if i + 1 == p.segments.len() {
                return Some(Typed {
                    ty: field.ty.clone(),
                    nullable,
                });
            }
            match &field.ty {
                Type::Record(inner) => rec = inner,
                other => {
                    let sp = self.segment_span(p, i + 1);
                    self.unknown_field(
                        sp,
                        format!(
                            "`{}` is a {other} and has no fields",
                            p.segments[..=i].join(".")
                        ),
                        "only tables in the schema have fields",
                    );
                    return None;
                }
            }
        }
        None
    }

    /// The span of the `i`-th segment of a path (for pointing at the misspelt part).
    fn segment_span(&self, p: &Path, i: usize) -> Span {
        let mut start = p.span.start;
        for s in &p.segments[..i] {
            start += s.len() + 1;
        }
        let len = p.segments.get(i).map(|s| s.len()).unwrap_or(0);
        // NFC normalisation can change lengths; fall back to the whole path then.
        if start + len > p.span.end {
            return p.span;
        }
        Span::new(start, start + len)
    }
}

fn is_time(t: &Type) -> bool {
    matches!(t, Type::Date | Type::DateTime)
}

fn comparable(a: &Type, b: &Type) -> bool {
    a.accepts(b) || b.accepts(a) || (is_time(a) && is_time(b))
}

/// A type with its article, as a sentence says it: "an int", "a string".
pub fn a_or_an(ty: &impl std::fmt::Display) -> String {
    let name = ty.to_string();
    let vowel = name
        .chars()
        .next()
        .is_some_and(|c| "aeiou".contains(c.to_ascii_lowercase()));
    format!("{} {name}", if vowel { "an" } else { "a" })
}
