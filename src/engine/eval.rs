//! Evaluating expressions: null propagates through ordering, `in`,
//! arithmetic and functions; `==`/`!=` compare it like a value; `and`, `or`,
//! `not` are three-valued; a condition that ends as null is false
//! (docs/language.md §7.4).

use super::time;
use crate::program::{BinaryOp, Expr, Func, Root};
use crate::value::{Fields, Value};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use chrono_tz::Tz;
use std::borrow::Cow;
use std::cell::RefCell;

/// What an expression can read where it is evaluated.
pub struct Env<'a> {
    pub customer: &'a Fields,
    /// The customer's id (`customer.id` when the schema does not declare one).
    pub id: &'a str,
    pub event: &'a Value,
    pub received: &'a Value,
    pub coupons: &'a Fields,
    pub now: DateTime<Utc>,
    /// The zone for `days_since`, `age_years` and date arithmetic.
    pub zone: Tz,
    /// The customer zone, in which segments are evaluated.
    pub customer_zone: Tz,
}

/// An expression whose value is out of range: a date or time outside the
/// years 1 to 9999, or a whole number or duration beyond 64 bits. It holds
/// the operation that went out of range, as source. Where it was evaluated,
/// the enrollment fails; nothing panics and nothing wraps around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutOfRange(pub String);

impl std::fmt::Display for OutOfRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` is out of range (dates and times run from the year 1 to 9999, whole numbers and durations to 64 bits)",
            self.0
        )
    }
}

type Evaluated<T> = Result<T, OutOfRange>;

pub fn condition(e: &Expr, env: &Env) -> Evaluated<bool> {
    one_evaluation(|| Ok(value(e, env)?.truthy()))
}

pub fn eval(e: &Expr, env: &Env) -> Evaluated<Value> {
    one_evaluation(|| Ok(value(e, env)?.into_owned()))
}

/// Whether the customer is in a segment (evaluated in the customer zone,
/// reading only the customer).
pub fn in_segment(seg: &crate::program::Segment, env: &Env) -> Evaluated<bool> {
    one_evaluation(|| member(seg, env))
}

/// Segments decided in one evaluation: (address, membership).
type Decided = Vec<(usize, Evaluated<bool>)>;

thread_local! {
    /// The segments decided in the evaluation under way, by address. A
    /// segment's membership depends only on the customer and the clock, fixed
    /// for one evaluation, so each is evaluated once: a chain of segments that
    /// each use the one before twice costs its length, not 2 to that power.
    static DECIDED: RefCell<Option<Decided>> = const { RefCell::new(None) };
}

/// Runs `f` as one evaluation (the outermost call sets up what it decides).
fn one_evaluation<T>(f: impl FnOnce() -> T) -> T {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            DECIDED.with(|d| *d.borrow_mut() = None);
        }
    }
    if DECIDED.with(|d| d.borrow().is_some()) {
        return f();
    }
    DECIDED.with(|d| *d.borrow_mut() = Some(Vec::new()));
    let _reset = Reset;
    f()
}

fn member(seg: &crate::program::Segment, env: &Env) -> Evaluated<bool> {
    let at = seg as *const crate::program::Segment as usize;
    let known = DECIDED.with(|d| {
        d.borrow()
            .as_ref()
            .and_then(|v| v.iter().find(|(a, _)| *a == at).map(|(_, r)| r.clone()))
    });
    if let Some(r) = known {
        return r;
    }
    let empty = Fields::new();
    let inner = Env {
        customer: env.customer,
        id: env.id,
        event: &Value::Null,
        received: &Value::Null,
        coupons: &empty,
        now: env.now,
        zone: env.customer_zone,
        customer_zone: env.customer_zone,
    };
    let r = value(&seg.expr, &inner).map(|v| v.truthy());
    DECIDED.with(|d| {
        if let Some(v) = d.borrow_mut().as_mut() {
            v.push((at, r.clone()));
        }
    });
    r
}

/// An expression's value; a path borrows what it reads instead of copying it.
fn value<'a>(e: &Expr, env: &Env<'a>) -> Evaluated<Cow<'a, Value>> {
    use Value::*;
    let owned = match e {
        Expr::Lit(v) => v.clone(),
        Expr::LocalDateTime(dt) => DateTime(time::resolve(env.zone, *dt)),
        Expr::List(items) => List(
            items
                .iter()
                .map(|i| eval(i, env))
                .collect::<Evaluated<Vec<_>>>()?
                .into(),
        ),
        Expr::Path(root, rest) => {
            return Ok(match root {
                Root::Customer if rest.is_empty() => {
                    Cow::Owned(Value::Record(env.customer.clone()))
                }
                Root::Customer => Cow::Borrowed(env.customer.path(rest)),
                Root::Event => Cow::Borrowed(env.event.path(rest)),
                Root::Received => Cow::Borrowed(env.received.path(rest)),
                Root::Coupon => Cow::Borrowed(env.coupons.path(rest)),
            });
        }
        Expr::CustomerId => Str(env.id.into()),
        Expr::Now => DateTime(env.now),
        Expr::InSegment { segment, negated } => Bool(member(segment, env)? != *negated),
        Expr::Call(func, args) => call(*func, args, env)?,
        Expr::Not(x) => match *value(x, env)? {
            Bool(b) => Bool(!b),
            _ => Null,
        },
        Expr::Neg(x) => {
            let negated = match *value(x, env)? {
                Int(i) => i.checked_neg().map(Int),
                Float(f) => Some(Float(-f)),
                Duration { days, seconds } => days
                    .checked_neg()
                    .zip(seconds.checked_neg())
                    .map(|(days, seconds)| Duration { days, seconds }),
                _ => Some(Null),
            };
            negated.ok_or_else(|| out_of_range(e))?
        }
        Expr::Binary(op, l, r) => binary(*op, l, r, env)?,
    };
    Ok(Cow::Owned(owned))
}

fn out_of_range(e: &Expr) -> OutOfRange {
    OutOfRange(crate::program::show::expr(e))
}

fn call(func: Func, args: &[Expr], env: &Env) -> Evaluated<Value> {
    let Some(arg) = args.first() else {
        return Ok(Value::Null);
    };
    if func == Func::Has {
        return Ok(Value::Bool(*value(arg, env)? != Value::Null));
    }
    let v = value(arg, env)?;
    let v = v.as_ref();
    Ok(match (func, v) {
        (_, Value::Null) => Value::Null,
        (Func::DaysSince, _) => local_date(v, env.zone)
            .map(|d| Value::Int((time::local(env.zone, env.now).date() - d).num_days()))
            .unwrap_or(Value::Null),
        (Func::AgeYears, _) => local_date(v, env.zone)
            .map(|d| Value::Int(age_years(d, time::local(env.zone, env.now).date())))
            .unwrap_or(Value::Null),
        (Func::Len, Value::List(items)) => Value::Int(items.len() as i64),
        (Func::Len, Value::Str(s)) => Value::Int(s.chars().count() as i64),
        (Func::Lower, Value::Str(s)) => Value::Str(s.to_lowercase().into()),
        _ => Value::Null,
    })
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
            x.len() == y.len() && x.iter().zip(y.iter()).all(|(p, q)| equal(p, q, tz))
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
        ) => {
            // Compared as seconds, in 128 bits: any two 64-bit parts fit.
            let secs = |d: &i64, s: &i64| i128::from(*d) * 86_400 + i128::from(*s);
            Some(secs(d1, s1).cmp(&secs(d2, s2)))
        }
        _ => Some(instant(a, tz)?.cmp(&instant(b, tz)?)),
    }
}

fn binary(op: BinaryOp, l: &Expr, r: &Expr, env: &Env) -> Evaluated<Value> {
    use Value::*;
    if op == BinaryOp::And || op == BinaryOp::Or {
        let (a, b) = (value(l, env)?, value(r, env)?);
        let (a, b) = (bool3(&a), bool3(&b));
        return Ok(match (op, a, b) {
            (BinaryOp::And, Some(false), _) | (BinaryOp::And, _, Some(false)) => Bool(false),
            (BinaryOp::And, Some(true), Some(true)) => Bool(true),
            (BinaryOp::Or, Some(true), _) | (BinaryOp::Or, _, Some(true)) => Bool(true),
            (BinaryOp::Or, Some(false), Some(false)) => Bool(false),
            _ => Null,
        });
    }
    let (a, b) = (value(l, env)?, value(r, env)?);
    let tz = env.zone;
    match op {
        BinaryOp::Eq => return Ok(Bool(equal(&a, &b, tz))),
        BinaryOp::Ne => return Ok(Bool(!equal(&a, &b, tz))),
        _ => {}
    }
    if *a == Null || *b == Null {
        return Ok(Null);
    }
    let whole = || {
        OutOfRange(crate::program::show::expr(&Expr::Binary(
            op,
            Box::new(l.clone()),
            Box::new(r.clone()),
        )))
    };
    Ok(match op {
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
            add_sub(op == BinaryOp::Add, a.into_owned(), b.into_owned(), tz).ok_or_else(whole)?
        }
        BinaryOp::Mul => match (a.as_ref(), b.as_ref()) {
            (Int(x), Int(y)) => Int(x.checked_mul(*y).ok_or_else(whole)?),
            (Duration { days, seconds }, Int(n)) | (Int(n), Duration { days, seconds }) => {
                Duration {
                    days: days.checked_mul(*n).ok_or_else(whole)?,
                    seconds: seconds.checked_mul(*n).ok_or_else(whole)?,
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
    })
}

fn bool3(v: &Value) -> Option<bool> {
    match v {
        Value::Bool(b) => Some(*b),
        _ => None,
    }
}

/// `a + b` or `a - b`; `None` when the result is out of range.
fn add_sub(add: bool, a: Value, b: Value, tz: Tz) -> Option<Value> {
    use Value::*;
    // Subtracting is adding the negation, which itself may not exist (i64::MIN).
    let neg = |n: i64| if add { Some(n) } else { n.checked_neg() };
    Some(match (a, b) {
        (Int(x), Int(y)) => Int(if add {
            x.checked_add(y)?
        } else {
            x.checked_sub(y)?
        }),
        (x @ (Int(_) | Float(_)), y @ (Int(_) | Float(_))) => {
            let sign = if add { 1.0 } else { -1.0 };
            Float(x.as_f64().unwrap_or(0.0) + sign * y.as_f64().unwrap_or(0.0))
        }
        (Str(x), Str(y)) if add => Str(format!("{x}{y}").into()),
        (List(x), List(y)) if add => List(x.iter().chain(y.iter()).cloned().collect()),
        (Date(d), Duration { days, seconds: 0 }) => Date(time::add_days(d, neg(days)?)?),
        (DateTime(t), Duration { days, seconds }) => {
            DateTime(time::add(tz, t, neg(days)?, neg(seconds)?)?)
        }
        (Duration { days, seconds }, DateTime(t)) if add => {
            DateTime(time::add(tz, t, days, seconds)?)
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
            days: d1.checked_add(neg(d2)?)?,
            seconds: s1.checked_add(neg(s2)?)?,
        },
        (Date(x), Date(y)) if !add => Int((x - y).num_days()),
        (DateTime(x), DateTime(y)) if !add => Duration {
            days: 0,
            seconds: (x - y).num_seconds(),
        },
        _ => Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn customer() -> Fields {
        [
            ("name", Value::str("王芳")),
            ("orders", Value::Int(1)),
            ("tags", Value::List(vec![Value::str("package_card")].into())),
            (
                "last_active_at",
                Value::DateTime(
                    DateTime::parse_from_rfc3339("2026-10-20T23:30:00+08:00")
                        .unwrap()
                        .with_timezone(&Utc),
                ),
            ),
            (
                "birthday",
                Value::Date(NaiveDate::from_ymd_opt(2000, 2, 29).unwrap()),
            ),
        ]
        .into_iter()
        .collect()
    }

    fn run(src: &str) -> Value {
        let c = customer();
        let segments =
            crate::syntax::parse("segment vip = true\nsegment lapsed = false\n").unwrap();
        let segs: Vec<&crate::syntax::ast::Segment> = segments
            .items
            .iter()
            .filter_map(|i| match i {
                crate::syntax::ast::Item::Segment(s) => Some(s),
                _ => None,
            })
            .collect();
        let config = crate::config::Config::default();
        let e =
            crate::program::expression(&config, &segs, &crate::syntax::parse_expr(src).unwrap())
                .unwrap();
        let none = Fields::new();
        let env = Env {
            customer: &c,
            id: "c1",
            event: &Value::Null,
            received: &Value::Null,
            coupons: &none,
            now: DateTime::parse_from_rfc3339("2026-11-20T00:30:00+08:00")
                .unwrap()
                .with_timezone(&Utc),
            zone: chrono_tz::Asia::Shanghai,
            customer_zone: chrono_tz::Asia::Shanghai,
        };
        eval(&e, &env).unwrap()
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
        assert_eq!(run("\"a\" + \"b\""), Value::str("ab"));
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
