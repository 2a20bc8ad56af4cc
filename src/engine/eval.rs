//! Evaluating expressions (SEMANTICS.md §3): null propagates through ordering,
//! `in`, arithmetic and functions; `==`/`!=` compare it like a value; `and`,
//! `or`, `not` are three-valued; a condition that ends as null is false.

use super::time;
use super::value::Value;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind, UnaryOp};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use std::borrow::Cow;

/// What an expression can read where it is evaluated.
pub struct Env<'a> {
    pub customer: &'a std::collections::BTreeMap<String, Value>,
    pub event: &'a Value,
    pub received: &'a Value,
    pub coupons: &'a Value,
    pub now: DateTime<Utc>,
    /// The zone for `days_since`, `age_years` and date arithmetic.
    pub zone: Tz,
    /// Segment membership of this customer, by segment name.
    pub in_segment: &'a dyn Fn(&str) -> bool,
}

pub fn condition(e: &Expr, env: &Env) -> bool {
    value(e, env).truthy()
}

pub fn eval(e: &Expr, env: &Env) -> Value {
    value(e, env).into_owned()
}

/// An expression's value; a path borrows what it reads instead of copying it.
fn value<'a>(e: &Expr, env: &Env<'a>) -> Cow<'a, Value> {
    use Value::*;
    let owned = match &e.kind {
        ExprKind::Str(s) => Str(s.clone()),
        ExprKind::Int(i) => Int(*i),
        ExprKind::Float(f) => Float(*f),
        ExprKind::Bool(b) => Bool(*b),
        ExprKind::Duration(d) => Duration {
            days: d.days,
            seconds: d.seconds,
        },
        ExprKind::Clock(c) => Clock(c.minutes),
        ExprKind::Date(d) => Date(*d),
        ExprKind::DateTime(dt) => DateTime(time::resolve(env.zone, *dt)),
        ExprKind::List(items) => List(items.iter().map(|i| eval(i, env)).collect()),
        ExprKind::Paren(x) => return value(x, env),
        ExprKind::Path(p) => {
            let rest = &p.segments[1..];
            return match p.root() {
                "customer" if rest.is_empty() => Cow::Owned(Value::Record(env.customer.clone())),
                "customer" => Cow::Borrowed(super::value::record_path(env.customer, rest)),
                "event" => Cow::Borrowed(env.event.path(rest)),
                "received" => Cow::Borrowed(env.received.path(rest)),
                "coupon" => Cow::Borrowed(env.coupons.path(rest)),
                "now" => Cow::Owned(DateTime(env.now)),
                _ => Cow::Owned(Null),
            };
        }
        ExprKind::Call { func, args } => call(&func.name, args, env),
        ExprKind::Unary(UnaryOp::Not, x) => match *value(x, env) {
            Bool(b) => Bool(!b),
            _ => Null,
        },
        ExprKind::Unary(UnaryOp::Neg, x) => match *value(x, env) {
            Int(i) => Int(i.wrapping_neg()),
            Float(f) => Float(-f),
            Duration { days, seconds } => Duration {
                days: -days,
                seconds: -seconds,
            },
            _ => Null,
        },
        ExprKind::Binary(op, l, r) => binary(*op, l, r, env),
    };
    Cow::Owned(owned)
}

fn call(name: &str, args: &[Expr], env: &Env) -> Value {
    let Some(arg) = args.first() else {
        return Value::Null;
    };
    if name == "has" {
        return Value::Bool(*value(arg, env) != Value::Null);
    }
    let v = value(arg, env);
    let v = v.as_ref();
    match (name, v) {
        (_, Value::Null) => Value::Null,
        ("days_since", _) => local_date(v, env.zone)
            .map(|d| Value::Int((time::local(env.zone, env.now).date() - d).num_days()))
            .unwrap_or(Value::Null),
        ("age_years", _) => local_date(v, env.zone)
            .map(|d| Value::Int(age_years(d, time::local(env.zone, env.now).date())))
            .unwrap_or(Value::Null),
        ("len", Value::List(items)) => Value::Int(items.len() as i64),
        ("len", Value::Str(s)) => Value::Int(s.chars().count() as i64),
        ("lower", Value::Str(s)) => Value::Str(s.to_lowercase()),
        _ => Value::Null,
    }
}

fn local_date(v: &Value, tz: Tz) -> Option<NaiveDate> {
    match v {
        Value::Date(d) => Some(*d),
        Value::DateTime(t) => Some(time::local(tz, *t).date()),
        _ => None,
    }
}

/// Completed years; a 29 February birthday counts as 28 February in common years.
fn age_years(born: NaiveDate, today: NaiveDate) -> i64 {
    let mut years = i64::from(today.year() - born.year());
    let anniversary = NaiveDate::from_ymd_opt(today.year(), born.month(), born.day())
        .or_else(|| NaiveDate::from_ymd_opt(today.year(), 2, 28))
        .unwrap_or(today);
    if today < anniversary {
        years -= 1;
    }
    years
}

/// A date or datetime as an instant (a date stands for its local 00:00).
fn instant(v: &Value, tz: Tz) -> Option<DateTime<Utc>> {
    match v {
        Value::Date(d) => Some(time::start_of(tz, *d)),
        Value::DateTime(t) => Some(*t),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value, tz: Tz) -> bool {
    match (a, b) {
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            a.as_f64() == b.as_f64()
        }
        (Value::Date(_), Value::DateTime(_)) | (Value::DateTime(_), Value::Date(_)) => {
            instant(a, tz) == instant(b, tz)
        }
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| equal(p, q, tz))
        }
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value, tz: Tz) -> Option<std::cmp::Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Int(_) | Value::Float(_), Value::Int(_) | Value::Float(_)) => {
            a.as_f64()?.partial_cmp(&b.as_f64()?)
        }
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Clock(x), Value::Clock(y)) => Some(x.cmp(y)),
        (
            Value::Duration {
                days: d1,
                seconds: s1,
            },
            Value::Duration {
                days: d2,
                seconds: s2,
            },
        ) => Some((d1 * 86_400 + s1).cmp(&(d2 * 86_400 + s2))),
        _ => Some(instant(a, tz)?.cmp(&instant(b, tz)?)),
    }
}

fn binary(op: BinaryOp, l: &Expr, r: &Expr, env: &Env) -> Value {
    use Value::*;
    if matches!(op, BinaryOp::In | BinaryOp::NotIn) {
        if let ExprKind::Path(p) = &r.kind {
            if p.segments.len() == 1 && !crate::check::typeck::RESERVED_ROOTS.contains(&p.root()) {
                let member = (env.in_segment)(p.root());
                return Bool(member == (op == BinaryOp::In));
            }
        }
    }
    if op == BinaryOp::And || op == BinaryOp::Or {
        let (a, b) = (value(l, env), value(r, env));
        let (a, b) = (bool3(&a), bool3(&b));
        return match (op, a, b) {
            (BinaryOp::And, Some(false), _) | (BinaryOp::And, _, Some(false)) => Bool(false),
            (BinaryOp::And, Some(true), Some(true)) => Bool(true),
            (BinaryOp::Or, Some(true), _) | (BinaryOp::Or, _, Some(true)) => Bool(true),
            (BinaryOp::Or, Some(false), Some(false)) => Bool(false),
            _ => Null,
        };
    }
    let (a, b) = (value(l, env), value(r, env));
    let tz = env.zone;
    match op {
        BinaryOp::Eq => return Bool(equal(&a, &b, tz)),
        BinaryOp::Ne => return Bool(!equal(&a, &b, tz)),
        _ => {}
    }
    if *a == Null || *b == Null {
        return Null;
    }
    match op {
        BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge => match order(&a, &b, tz) {
            Some(o) => Bool(match op {
                BinaryOp::Lt => o.is_lt(),
                BinaryOp::Le => o.is_le(),
                BinaryOp::Gt => o.is_gt(),
                _ => o.is_ge(),
            }),
            None => Null,
        },
        BinaryOp::In | BinaryOp::NotIn => match b.as_ref() {
            List(items) => Bool(items.iter().any(|i| equal(&a, i, tz)) == (op == BinaryOp::In)),
            _ => Null,
        },
        BinaryOp::Add | BinaryOp::Sub => {
            add_sub(op == BinaryOp::Add, a.into_owned(), b.into_owned(), tz)
        }
        BinaryOp::Mul => match (a.as_ref(), b.as_ref()) {
            (Int(x), Int(y)) => Int(x.wrapping_mul(*y)),
            (Duration { days, seconds }, Int(n)) | (Int(n), Duration { days, seconds }) => {
                Duration {
                    days: days * n,
                    seconds: seconds * n,
                }
            }
            _ => a
                .as_f64()
                .zip(b.as_f64())
                .map(|(x, y)| Float(x * y))
                .unwrap_or(Null),
        },
        BinaryOp::Div => match a.as_f64().zip(b.as_f64()) {
            Some((_, 0.0)) => Null,
            Some((x, y)) => Float(x / y),
            None => Null,
        },
        _ => Null,
    }
}

fn bool3(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

fn add_sub(add: bool, a: Value, b: Value, tz: Tz) -> Value {
    use Value::*;
    let sign = if add { 1 } else { -1 };
    match (a, b) {
        (Int(x), Int(y)) => Int(if add {
            x.wrapping_add(y)
        } else {
            x.wrapping_sub(y)
        }),
        (x @ (Int(_) | Float(_)), y @ (Int(_) | Float(_))) => {
            Float(x.as_f64().unwrap_or(0.0) + sign as f64 * y.as_f64().unwrap_or(0.0))
        }
        (Str(x), Str(y)) if add => Str(x + &y),
        (List(mut x), List(y)) if add => {
            x.extend(y);
            List(x)
        }
        (Date(d), Duration { days, seconds: 0 }) => Date(d + chrono::Duration::days(sign * days)),
        (DateTime(t), Duration { days, seconds }) => {
            DateTime(time::add(tz, t, sign * days, sign * seconds))
        }
        (Duration { days, seconds }, DateTime(t)) if add => {
            DateTime(time::add(tz, t, days, seconds))
        }
        (
            Duration {
                days: d1,
                seconds: s1,
            },
            Duration {
                days: d2,
                seconds: s2,
            },
        ) => Duration {
            days: d1 + sign * d2,
            seconds: s1 + sign * s2,
        },
        (Date(x), Date(y)) if !add => Int((x - y).num_days()),
        (DateTime(x), DateTime(y)) if !add => Duration {
            days: 0,
            seconds: (x - y).num_seconds(),
        },
        _ => Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn customer() -> Value {
        let mut m = BTreeMap::new();
        m.insert("name".into(), Value::Str("王芳".into()));
        m.insert("orders".into(), Value::Int(1));
        m.insert(
            "tags".into(),
            Value::List(vec![Value::Str("package_card".into())]),
        );
        m.insert(
            "last_active_at".into(),
            Value::DateTime(
                DateTime::parse_from_rfc3339("2026-10-20T23:30:00+08:00")
                    .unwrap()
                    .with_timezone(&Utc),
            ),
        );
        m.insert(
            "birthday".into(),
            Value::Date(NaiveDate::from_ymd_opt(2000, 2, 29).unwrap()),
        );
        Value::Record(m)
    }

    fn run(src: &str) -> Value {
        let Value::Record(c) = customer() else {
            unreachable!()
        };
        let env = Env {
            customer: &c,
            event: &Value::Null,
            received: &Value::Null,
            coupons: &Value::Null,
            now: DateTime::parse_from_rfc3339("2026-11-20T00:30:00+08:00")
                .unwrap()
                .with_timezone(&Utc),
            zone: chrono_tz::Asia::Shanghai,
            in_segment: &|s| s == "vip",
        };
        eval(&crate::syntax::parse_expr(src).unwrap(), &env)
    }

    #[test]
    fn null_semantics() {
        assert_eq!(run("customer.pet == customer.missing"), Value::Bool(true));
        assert_eq!(run("customer.missing != 1"), Value::Bool(true));
        assert_eq!(run("customer.missing > 1"), Value::Null);
        assert_eq!(run("customer.missing > 1 or true"), Value::Bool(true));
        assert_eq!(run("customer.missing > 1 and false"), Value::Bool(false));
        assert_eq!(run("not (customer.missing > 1)"), Value::Null);
        assert_eq!(run("has(customer.missing)"), Value::Bool(false));
        assert_eq!(run("1 / 0"), Value::Null);
    }

    #[test]
    fn arithmetic_and_membership() {
        assert_eq!(
            run("customer.orders == 1 and \"package_card\" in customer.tags"),
            Value::Bool(true)
        );
        assert_eq!(
            run("customer in vip and customer not in lapsed"),
            Value::Bool(true)
        );
        assert_eq!(run("7 / 2"), Value::Float(3.5));
        assert_eq!(run("\"a\" + \"b\""), Value::Str("ab".into()));
        assert_eq!(run("2026-03-01 - 2026-02-01"), Value::Int(28));
        assert_eq!(
            run("2026-02-27 + 2d"),
            Value::Date(NaiveDate::from_ymd_opt(2026, 3, 1).unwrap())
        );
        assert_eq!(run("1d > 23h"), Value::Bool(true));
    }

    #[test]
    fn days_since_counts_local_calendar_days() {
        // 2026-10-20 23:30 to 2026-11-20 00:30 in Shanghai: 31 calendar days.
        assert_eq!(run("days_since(customer.last_active_at)"), Value::Int(31));
    }

    #[test]
    fn a_leap_day_birthday_counts_on_28_february() {
        assert_eq!(run("age_years(customer.birthday)"), Value::Int(26));
        assert_eq!(
            age_years(
                NaiveDate::from_ymd_opt(2000, 2, 29).unwrap(),
                NaiveDate::from_ymd_opt(2027, 2, 28).unwrap()
            ),
            27
        );
        assert_eq!(
            age_years(
                NaiveDate::from_ymd_opt(2000, 2, 29).unwrap(),
                NaiveDate::from_ymd_opt(2027, 2, 27).unwrap()
            ),
            26
        );
    }
}
