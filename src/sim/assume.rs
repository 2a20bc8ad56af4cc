//! The behaviour model for what-if funnels (`--assume FILE`): for an awaited
//! event, optionally per step, the probability that the customer does it and
//! how long they take. Draws are stable hashes of (seed, run, customer, where),
//! so the same seed gives the same output on any number of threads.

use super::input::IntakeError;
use crate::program::Program;
use crate::source::SourceFile;
use crate::types::Type;
use crate::value::{Fields, Value};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub struct Assumption {
    pub event: String,
    /// Only waits in this step; `None`: any step.
    pub step: Option<String>,
    /// Only enrollments in this playbook; `None`: any.
    pub playbook: Option<String>,
    /// Drawn once per enrollment from its entry (`after = "entry"`), for
    /// these playbooks (those whose goal or stop is the event), instead of
    /// at each `wait for` of the event.
    pub from_entry: Vec<String>,
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

/// The keys an `[[assume]]` table may have.
const KEYS: [&str; 7] = [
    "event",
    "probability",
    "within",
    "step",
    "playbook",
    "after",
    "data",
];

impl Behaviour {
    /// The rule for an awaited event in a step of a playbook: a step-specific rule wins.
    pub fn find(&self, event: &str, playbook: &str, step: &str) -> Option<&Assumption> {
        let waits = self.rules.iter().filter(|r| {
            r.from_entry.is_empty()
                && r.event == event
                && r.playbook.as_deref().is_none_or(|p| p == playbook)
        });
        let mut general = None;
        for r in waits {
            match r.step.as_deref() {
                Some(s) if s == step => return Some(r),
                None if general.is_none() => general = Some(r),
                _ => {}
            }
        }
        general
    }

    /// The rules drawn at entry into this playbook.
    pub fn at_entry<'a>(&'a self, playbook: &'a str) -> impl Iterator<Item = &'a Assumption> {
        self.rules
            .iter()
            .filter(move |r| r.from_entry.iter().any(|p| p == playbook))
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
    /// `within` (a duration such as "15m"), optional `step`, `playbook`,
    /// `after = "entry"` and `data`. Each is checked against the program:
    /// an event nothing waits for (or, from entry, no goal or stop
    /// listens to), a step or playbook that does not exist, and data the
    /// event's schema does not have or types differently are errors naming
    /// the line.
    pub fn load(src: &SourceFile, program: &Program, seed: u64) -> Result<Behaviour, IntakeError> {
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
        if let Some(k) = table.keys().find(|k| *k != "assume") {
            let line = key_line(&src.text, 0..src.text.lines().count(), k).unwrap_or(1);
            return Err(err(line, format!("`{k}` is not part of a behaviour model; write each assumption as an [[assume]] table")));
        }
        let items = table
            .get("assume")
            .and_then(|v| v.as_array())
            .ok_or_else(|| err(1, "write each assumption as an [[assume]] table".into()))?;
        let headers: Vec<usize> = src
            .text
            .lines()
            .enumerate()
            .filter(|(_, l)| l.trim() == "[[assume]]")
            .map(|(i, _)| i)
            .collect();
        let mut rules = Vec::new();
        for (n, item) in items.iter().enumerate() {
            // Tables carry no positions here: the n-th [[assume]] block's lines.
            let start = headers.get(n).copied().unwrap_or(0);
            let end = headers.get(n + 1).copied().unwrap_or(usize::MAX);
            let line = start + 1;
            let at = |key: &str| key_line(&src.text, start..end, key).unwrap_or(line);
            let t = item
                .as_table()
                .ok_or_else(|| err(line, "an [[assume]] must be a table".into()))?;
            if let Some(k) = t.keys().find(|k| !KEYS.contains(&k.as_str())) {
                let hint = crate::check::nearest(k, KEYS.iter().copied())
                    .map(|m| format!("; did you mean `{m}`?"))
                    .unwrap_or_else(|| format!("; an assumption has {}", KEYS.join(", ")));
                return Err(err(
                    at(k),
                    format!("`{k}` is not a setting of an assumption{hint}"),
                ));
            }
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
            let sym = crate::value::Sym::new(&event);
            if !program.policy.schema.events.contains_key(&event) {
                return Err(err(
                    at("event"),
                    format!("event `{event}` is not declared in tend.toml"),
                ));
            }
            let playbook = t
                .get("playbook")
                .and_then(|v| v.as_str())
                .map(str::to_string);
            if let Some(p) = &playbook {
                if !program.playbooks.iter().any(|pb| *pb.name == **p) {
                    let hint =
                        crate::check::nearest(p, program.playbooks.iter().map(|pb| &*pb.name))
                            .map(|m| format!("; did you mean `{m}`?"))
                            .unwrap_or_default();
                    return Err(err(
                        at("playbook"),
                        format!("there is no playbook `{p}`{hint}"),
                    ));
                }
            }
            let in_scope = |pb: &&std::sync::Arc<crate::program::Playbook>| {
                playbook.as_deref().is_none_or(|p| *pb.name == *p)
            };
            let step = t.get("step").and_then(|v| v.as_str()).map(str::to_string);
            let from_entry = match t.get("after").map(|v| v.as_str()) {
                None | Some(Some("wait")) => false,
                Some(Some("entry")) => true,
                Some(_) => {
                    return Err(err(at("after"), "`after` is \"entry\" (drawn once per enrollment from its entry, for a goal or stop event) or \"wait\" (the default: drawn at each `wait for` of the event)".into()))
                }
            };
            let mut entry_playbooks = Vec::new();
            if from_entry {
                if step.is_some() {
                    return Err(err(at("step"), "`step` narrows a rule drawn at a `wait for`; a rule with after = \"entry\" is drawn once per enrollment, so leave `step` out".into()));
                }
                entry_playbooks = program
                    .playbooks
                    .iter()
                    .filter(in_scope)
                    .filter(|pb| {
                        pb.goal.as_ref().is_some_and(|g| g.event == sym)
                            || pb.stops.iter().any(|s| s.event == sym)
                    })
                    .map(|pb| pb.name.to_string())
                    .collect();
                if entry_playbooks.is_empty() {
                    return Err(err(at("event"), format!("no playbook{} has `goal event {event}` or `stop event {event}`; after = \"entry\" drives a goal or stop event", playbook.as_deref().map(|p| format!(" `{p}`")).unwrap_or_default())));
                }
            } else {
                if let Some(s) = &step {
                    let steps = program
                        .playbooks
                        .iter()
                        .filter(in_scope)
                        .flat_map(|pb| pb.steps.iter().map(|s| &*s.name));
                    if !steps.clone().any(|x| x == s) {
                        let hint = crate::check::nearest(s, steps)
                            .map(|m| format!("; did you mean `{m}`?"))
                            .unwrap_or_default();
                        return Err(err(at("step"), format!("there is no step `{s}`{hint}")));
                    }
                }
                let waits = program.playbooks.iter().filter(in_scope).any(|pb| {
                    pb.steps
                        .iter()
                        .filter(|st| step.as_deref().is_none_or(|s| *st.name == *s))
                        .any(|st| waits_for(&st.body, sym))
                });
                if !waits {
                    let listens = program.playbooks.iter().filter(in_scope).any(|pb| {
                        pb.goal.as_ref().is_some_and(|g| g.event == sym)
                            || pb.stops.iter().any(|s| s.event == sym)
                    });
                    let where_ = step
                        .as_deref()
                        .map(|s| format!(" in step `{s}`"))
                        .unwrap_or_default();
                    let help = if listens {
                        "; it is a goal or stop event: to draw it from each enrollment's entry, add after = \"entry\"".to_string()
                    } else {
                        String::new()
                    };
                    return Err(err(at("event"), format!("nothing waits for `{event}`{where_} (no `wait for {event}`), so this assumption would never be asked{help}")));
                }
            }
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
                            at("probability"),
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
                    at("probability"),
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
                    at("within"),
                    format!("`within = \"{within}\"` must be a duration such as \"15m\" or \"2d\""),
                )
            })?;
            let data = event_data(&program.policy.schema, &event, t.get("data"))
                .map_err(|e| err(at("data"), e))?;
            rules.push(Assumption {
                event,
                step,
                playbook,
                from_entry: entry_playbooks,
                probability,
                within_secs,
                data,
            });
        }
        Ok(Behaviour {
            rules,
            seed,
            run: 0,
        })
    }
}

/// The line (1-based) of `key = …` among the lines `range` (0-based).
fn key_line(text: &str, range: std::ops::Range<usize>, key: &str) -> Option<usize> {
    text.lines()
        .enumerate()
        .skip(range.start)
        .take(range.end.saturating_sub(range.start))
        .find(|(_, l)| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with('='))
        })
        .map(|(i, _)| i + 1)
}

/// Whether a block (its branches and hooks included) has a `wait for` of the event.
fn waits_for(block: &crate::program::Block, event: crate::value::Sym) -> bool {
    let mut found = false;
    crate::program::walk::block(block, &mut |u| {
        if let crate::program::walk::Use::Event(e) = u {
            found |= e == event;
        }
    });
    found
}

/// The payload the assumed event carries: the given `data`, read through
/// the intake as an event of that name would be (so its fields and types
/// are checked by the event's schema), and the plain value of each
/// required field it leaves out.
fn event_data(
    schema: &crate::intake::Schema,
    event: &str,
    given: Option<&toml::Value>,
) -> Result<Fields, String> {
    let mut data =
        match given {
            None => serde_json::Map::new(),
            Some(toml::Value::Table(t)) => t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect(),
            Some(_) => return Err(
                "`data` must be a table of the event's fields, such as data = { text = \"是\" }"
                    .into(),
            ),
        };
    let decl = schema.events.get(event).cloned().unwrap_or_default();
    for (k, f) in &decl {
        if !data.contains_key(k) && !f.optional {
            data.insert(k.clone(), json_of_value(&zero(&f.ty)));
        }
    }
    let line = serde_json::json!({
        "name": event,
        "customer": "assumed",
        "at": "2000-01-01T00:00:00Z",
        "data": data,
    });
    let src = SourceFile::new("assume.jsonl", line.to_string());
    let events = crate::intake::read_events(&src, schema).map_err(|e| e.message)?;
    Ok(events
        .items
        .into_iter()
        .next()
        .map(|e| e.item.event.data)
        .unwrap_or_default())
}

fn json_of(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => serde_json::json!(f),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.iter().map(json_of).collect(),
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), json_of(v))).collect(),
    }
}

fn json_of_value(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
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
