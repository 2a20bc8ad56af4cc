//! Runtime values of expressions and customer data.

use chrono::{DateTime, Datelike, NaiveDate, Timelike, Utc};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Date(NaiveDate),
    DateTime(DateTime<Utc>),
    /// Calendar days and elapsed seconds, as written.
    Duration {
        days: i64,
        seconds: i64,
    },
    /// Minutes after midnight.
    Clock(u32),
    List(Vec<Value>),
    Record(BTreeMap<String, Value>),
}

/// Follows a dotted path from a record's fields; a missing step is null.
pub fn record_path<'a>(fields: &'a BTreeMap<String, Value>, segs: &[String]) -> &'a Value {
    match segs.split_first() {
        None => &Value::Null,
        Some((first, rest)) => fields
            .get(first)
            .map(|v| v.path(rest))
            .unwrap_or(&Value::Null),
    }
}

impl Value {
    /// Writes a string, a number or a date as a template prints it and returns
    /// true; anything else (null, a list, a record, a fraction) writes nothing
    /// and returns false, for the template engine to decide.
    pub fn write_plain(&self, tz: chrono_tz::Tz, out: &mut String) -> bool {
        use std::fmt::Write;
        // Written out by hand: strftime parsing showed in the simulator's profile.
        match self {
            Value::Str(s) => out.push_str(s),
            Value::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => {
                let _ = write!(out, "{}", *f as i64);
            }
            Value::Date(d) => {
                let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            }
            Value::DateTime(t) => {
                let l = t.with_timezone(&tz);
                let _ = write!(
                    out,
                    "{:04}-{:02}-{:02} {:02}:{:02}",
                    l.year(),
                    l.month(),
                    l.day(),
                    l.hour(),
                    l.minute()
                );
            }
            _ => return false,
        }
        true
    }

    pub fn get(&self, key: &str) -> &Value {
        match self {
            Value::Record(m) => m.get(key).unwrap_or(&Value::Null),
            _ => &Value::Null,
        }
    }

    /// Follows a dotted path; a missing step is null.
    pub fn path<'a>(&'a self, segs: &[String]) -> &'a Value {
        segs.iter().fold(self, |v, s| v.get(s))
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// A condition's truth: null (and anything not `true`) is false.
    pub fn truthy(&self) -> bool {
        matches!(self, Value::Bool(true))
    }

    /// The value as a template sees it (dates as `YYYY-MM-DD`, whole floats without `.0`).
    pub fn to_template(&self, tz: chrono_tz::Tz) -> minijinja::Value {
        match self {
            Value::Null => minijinja::Value::from(()),
            Value::Bool(b) => (*b).into(),
            Value::Int(i) => (*i).into(),
            Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => (*f as i64).into(),
            Value::Float(f) => (*f).into(),
            Value::Str(s) => s.clone().into(),
            Value::Date(_) | Value::DateTime(_) => {
                let mut s = String::with_capacity(16);
                self.write_plain(tz, &mut s);
                s.into()
            }
            Value::Duration { days, seconds } => format!("{days}d{seconds}s").into(),
            Value::Clock(m) => format!("{:02}:{:02}", m / 60, m % 60).into(),
            Value::List(items) => items
                .iter()
                .map(|v| v.to_template(tz))
                .collect::<Vec<_>>()
                .into(),
            Value::Record(m) => m
                .iter()
                .map(|(k, v)| (k.clone(), v.to_template(tz)))
                .collect::<BTreeMap<_, _>>()
                .into(),
        }
    }
}
