//! Expressions and time points of the program printed back as source, for
//! the records that name them (an expression whose value is out of range).
//! Durations print in the largest whole unit (`100000w`, `36h`), so the text
//! reads as the author wrote it more often than the canonical form does.

use super::{BinaryOp, Expr, Func, Root, TimeBase, TimeExpr};
use crate::value::Value;
use std::fmt::Write;

/// An expression on one line, parenthesised where its tree needs it.
pub fn expr(e: &Expr) -> String {
    let mut out = String::new();
    write(&mut out, e, 0);
    out
}

/// A `wait until` or `hook … at` time.
pub fn time(t: &TimeExpr) -> String {
    match t {
        TimeExpr::Next { weekday, clock } => match weekday {
            Some(w) => format!("next {} {}", w.to_string().to_lowercase(), hhmm(*clock)),
            None => format!("next {}", hhmm(*clock)),
        },
        TimeExpr::Point { base, offsets, at } => {
            let mut out = match base {
                TimeBase::Now => "now".to_string(),
                TimeBase::Path(root, rest) => path(*root, rest),
                TimeBase::Date(d) => d.format("%Y-%m-%d").to_string(),
                TimeBase::DateTime(dt) => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            };
            for (sign, d) in offsets {
                let sign = if *sign < 0 { '-' } else { '+' };
                let _ = write!(out, " {sign} {}", duration(d.days, d.seconds));
            }
            if let Some(c) = at {
                let _ = write!(out, " at {}", hhmm(*c));
            }
            out
        }
    }
}

/// A duration in its largest whole units: `100000w`, `1d12h`, `90m`.
pub fn duration(days: i64, seconds: i64) -> String {
    let mut out = String::new();
    if days < 0 || seconds < 0 {
        out.push('-');
    }
    let (days, mut seconds) = (days.unsigned_abs(), seconds.unsigned_abs());
    if days > 0 && days % 7 == 0 {
        let _ = write!(out, "{}w", days / 7);
    } else if days > 0 {
        let _ = write!(out, "{days}d");
    }
    for (unit, len) in [('h', 3600), ('m', 60), ('s', 1)] {
        if seconds >= len && (seconds % len == 0 || unit != 's') {
            let _ = write!(out, "{}{unit}", seconds / len);
            seconds %= len;
        }
    }
    if days == 0 && out.trim_start_matches('-').is_empty() {
        out.push_str("0s");
    }
    out
}

fn hhmm(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn path(root: Root, rest: &[crate::value::Sym]) -> String {
    let mut out = match root {
        Root::Customer => "customer",
        Root::Event => "event",
        Root::Received => "received",
        Root::Coupon => "coupon",
    }
    .to_string();
    for s in rest {
        out.push('.');
        out.push_str(s);
    }
    out
}

/// Binding strength, loosest first (docs/language.md §7.1).
fn prec(op: BinaryOp) -> u8 {
    use BinaryOp::*;
    match op {
        Or => 1,
        And => 2,
        Eq | Ne | Lt | Le | Gt | Ge | In | NotIn => 4,
        Add | Sub => 5,
        Mul | Div => 6,
    }
}

/// Writes `e` where the context binds at `min`: looser expressions get parentheses.
fn write(out: &mut String, e: &Expr, min: u8) {
    let own = match e {
        Expr::Binary(op, ..) => prec(*op),
        Expr::InSegment { .. } => 4,
        Expr::Not(_) => 3,
        _ => 8,
    };
    if own < min {
        out.push('(');
        write(out, e, 0);
        out.push(')');
        return;
    }
    match e {
        Expr::Binary(op, l, r) => {
            let p = prec(*op);
            // Comparisons do not chain: one on the left of another is parenthesised.
            write(out, l, if p == 4 { p + 1 } else { p });
            let _ = write!(out, " {} ", op.symbol());
            write(out, r, p + 1);
        }
        Expr::InSegment { segment, negated } => {
            let op = if *negated { "not in" } else { "in" };
            let _ = write!(out, "customer {op} {}", segment.name);
        }
        Expr::Not(x) => {
            out.push_str("not ");
            write(out, x, 3);
        }
        Expr::Neg(x) => {
            out.push('-');
            write(out, x, 8);
        }
        Expr::Lit(v) => literal(out, v),
        Expr::LocalDateTime(dt) => {
            let _ = write!(out, "{}", dt.format("%Y-%m-%dT%H:%M:%S"));
        }
        Expr::List(items) => {
            out.push('[');
            list(out, items);
            out.push(']');
        }
        Expr::Path(root, rest) => out.push_str(&path(*root, rest)),
        Expr::CustomerId => out.push_str("customer.id"),
        Expr::Now => out.push_str("now"),
        Expr::Call(f, args) => {
            out.push_str(match f {
                Func::DaysSince => "days_since",
                Func::AgeYears => "age_years",
                Func::Len => "len",
                Func::Lower => "lower",
                Func::Has => "has",
            });
            out.push('(');
            list(out, args);
            out.push(')');
        }
    }
}

fn list(out: &mut String, items: &[Expr]) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        write(out, item, 0);
    }
}

fn literal(out: &mut String, v: &Value) {
    match v {
        Value::Str(s) => {
            let _ = write!(out, "{:?}", &**s);
        }
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Date(d) => {
            let _ = write!(out, "{}", d.format("%Y-%m-%d"));
        }
        Value::Duration { days, seconds } => out.push_str(&duration(*days, *seconds)),
        Value::Clock(m) => out.push_str(&hhmm(*m)),
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(src: &str) -> String {
        let config = crate::config::Config::default();
        let e = super::super::expression(&config, &[], &crate::syntax::parse_expr(src).unwrap())
            .unwrap();
        expr(&e)
    }

    #[test]
    fn expressions_print_back_as_written() {
        for src in [
            "now + 1d * customer.orders",
            "customer.birthday + 100000w",
            "(customer.orders + 1) * 2",
            "not (customer.orders > 1 or has(customer.pet))",
            "-customer.orders - 3",
            "\"vip\" in customer.tags and days_since(customer.seen) > 30",
        ] {
            assert_eq!(shown(src), src);
        }
        assert_eq!(shown("1d12h + 90m + 30s"), "1d12h + 1h30m + 30s");
        assert_eq!(duration(-14, 0), "-2w");
        assert_eq!(duration(0, 0), "0s");
        assert_eq!(duration(0, 3661), "1h1m1s");
    }
}
