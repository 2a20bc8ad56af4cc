//! The behaviour model for what-if funnels (`--assume FILE`): for an awaited
//! event, optionally per step, the probability that the customer does it and
//! how long they take. Draws are stable hashes of (seed, run, customer, where),
//! so the same seed gives the same output on any number of threads.

use super::input::IntakeError;
use crate::config::Config;
use crate::source::SourceFile;
use crate::types::Type;
use crate::value::{Fields, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq)]
pub struct Assumption {
    pub event: String,
    /// Only waits in this step; `None`: any step.
    pub step: Option<String>,
    pub probability: f64,
    /// The event arrives after a delay drawn evenly from [0, within].
    pub within_secs: i64,
    pub data: Fields,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Behaviour {
    pub rules: Vec<Assumption>,
    pub seed: u64,
    pub run: u32,
}

impl Behaviour {
    /// The rule for an awaited event in a step: a step-specific rule wins.
    pub fn find(&self, event: &str, step: &str) -> Option<&Assumption> {
        self.rules
            .iter()
            .find(|r| r.event == event && r.step.as_deref() == Some(step))
            .or_else(|| {
                self.rules
                    .iter()
                    .find(|r| r.event == event && r.step.is_none())
            })
    }

    /// A number in [0, 1), fixed for (seed, run, parts).
    pub fn draw(&self, parts: &[&str]) -> f64 {
        let mut h = Sha256::new();
        h.update(self.seed.to_be_bytes());
        h.update(self.run.to_be_bytes());
        for p in parts {
            h.update([0x1F]);
            h.update(p.as_bytes());
        }
        let d = h.finalize();
        let mut b = [0u8; 8];
        b.copy_from_slice(&d[..8]);
        (u64::from_be_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Reads `[[assume]]` tables: `event`, `probability` (0.9 or "90%"),
    /// `within` (a duration such as "15m"), optional `step` and `data`.
    pub fn load(src: &SourceFile, config: &Config, seed: u64) -> Result<Behaviour, IntakeError> {
        let err = |line: usize, message: String| IntakeError {
            file: Some(src.display_path()),
            line: Some(line),
            message,
            field: None,
        };
        let table: toml::Table = src.text.parse().map_err(|e: toml::de::Error| {
            let line = e.span().map(|s| src.line_col(s.start).0).unwrap_or(1);
            err(
                line,
                format!("this is not valid TOML: {}", e.message().trim()),
            )
        })?;
        let items = table
            .get("assume")
            .and_then(|v| v.as_array())
            .ok_or_else(|| err(1, "write each assumption as an [[assume]] table".into()))?;
        let mut rules = Vec::new();
        for (n, item) in items.iter().enumerate() {
            // Tables carry no positions here; point at the n-th [[assume]] header.
            let line = src
                .text
                .lines()
                .enumerate()
                .filter(|(_, l)| l.trim() == "[[assume]]")
                .nth(n)
                .map(|(i, _)| i + 1)
                .unwrap_or(1);
            let t = item
                .as_table()
                .ok_or_else(|| err(line, "an [[assume]] must be a table".into()))?;
            let event = t
                .get("event")
                .and_then(|v| v.as_str())
                .ok_or_else(|| {
                    err(
                        line,
                        "an assumption needs `event`, the awaited event's name".into(),
                    )
                })?
                .to_string();
            let decl = config.events.get(&event).ok_or_else(|| {
                err(
                    line,
                    format!("event `{event}` is not declared in tend.toml"),
                )
            })?;
            let probability = match t.get("probability") {
                Some(toml::Value::Float(f)) => *f,
                Some(toml::Value::Integer(i)) => *i as f64,
                Some(toml::Value::String(s)) => s
                    .trim()
                    .strip_suffix('%')
                    .and_then(|p| p.trim().parse::<f64>().ok())
                    .map(|p| p / 100.0)
                    .ok_or_else(|| {
                        err(
                            line,
                            format!("`probability = \"{s}\"` must be a percent such as \"90%\""),
                        )
                    })?,
                _ => {
                    return Err(err(
                        line,
                        "an assumption needs `probability`, such as 0.9 or \"90%\"".into(),
                    ))
                }
            };
            if !(0.0..=1.0).contains(&probability) {
                return Err(err(
                    line,
                    format!("probability {probability} is outside 0..1"),
                ));
            }
            let within = t.get("within").and_then(|v| v.as_str()).unwrap_or("0s");
            let d = crate::syntax::parse_expr(within)
                .ok()
                .and_then(|e| match e.kind {
                    crate::syntax::ast::ExprKind::Duration(d) => Some(d),
                    _ => None,
                });
            let within_secs = d.map(|d| d.approx_seconds()).ok_or_else(|| {
                err(
                    line,
                    format!("`within = \"{within}\"` must be a duration such as \"15m\" or \"2d\""),
                )
            })?;
            let step = t.get("step").and_then(|v| v.as_str()).map(str::to_string);
            let mut data: BTreeMap<&str, Value> = BTreeMap::new();
            let given = t.get("data").and_then(|v| v.as_table());
            for (k, f) in &decl.fields {
                let v = match given.and_then(|g| g.get(k)) {
                    Some(v) => toml_value(v),
                    None if f.optional => continue,
                    None => zero(&f.ty),
                };
                data.insert(k.as_str(), v);
            }
            rules.push(Assumption {
                event,
                step,
                probability,
                within_secs,
                data: data.into_iter().collect(),
            });
        }
        Ok(Behaviour {
            rules,
            seed,
            run: 0,
        })
    }
}

/// A payload field the assumption does not give: the type's plain value.
fn zero(ty: &Type) -> Value {
    match ty {
        Type::String => Value::str(""),
        Type::Int => Value::Int(0),
        Type::Float => Value::Float(0.0),
        Type::Bool => Value::Bool(false),
        Type::List(_) | Type::EmptyList => Value::List(Vec::new().into()),
        Type::Record(r) => Value::Record(
            r.iter()
                .filter(|(_, f)| !f.optional)
                .map(|(k, f)| (k.as_str(), zero(&f.ty)))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn toml_value(v: &toml::Value) -> Value {
    match v {
        toml::Value::String(s) => Value::str(s),
        toml::Value::Integer(i) => Value::Int(*i),
        toml::Value::Float(f) => Value::Float(*f),
        toml::Value::Boolean(b) => Value::Bool(*b),
        toml::Value::Array(a) => Value::List(a.iter().map(toml_value).collect()),
        toml::Value::Table(t) => {
            Value::Record(t.iter().map(|(k, v)| (k.as_str(), toml_value(v))).collect())
        }
        toml::Value::Datetime(d) => Value::str(&d.to_string()),
    }
}
