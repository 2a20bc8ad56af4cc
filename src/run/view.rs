//! What `GET /v1/customers/{id}` answers: a customer as a person reads it,
//! in plain JSON (dates and times as text in the project's zone).

use crate::engine::state::{CustomerState, Status, Wait};
use crate::value::{Fields, Value};
use chrono_tz::Tz;
use serde_json::{json, Map};

/// A value as plain JSON: dates as `YYYY-MM-DD`, times as RFC 3339 in `zone`.
pub fn plain(v: &Value, zone: Tz) -> serde_json::Value {
    match v {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => (*b).into(),
        Value::Int(i) => (*i).into(),
        Value::Float(f) => (*f).into(),
        Value::Str(s) => (**s).into(),
        Value::Date(d) => d.to_string().into(),
        Value::DateTime(t) => t.with_timezone(&zone).to_rfc3339().into(),
        Value::Duration { days, seconds } => format!("{days}d{seconds}s").into(),
        Value::Clock(m) => format!("{:02}:{:02}", m / 60, m % 60).into(),
        Value::List(items) => items.iter().map(|x| plain(x, zone)).collect(),
        Value::Record(f) => record(f, zone).into(),
    }
}

fn record(f: &Fields, zone: Tz) -> Map<String, serde_json::Value> {
    f.iter()
        .map(|(k, v)| (k.to_string(), plain(v, zone)))
        .collect()
}

/// The customer's attributes and each running enrollment: its playbook,
/// version, step, and what it waits for until when.
pub fn customer(c: &CustomerState, zone: Tz) -> serde_json::Value {
    let at = |t: chrono::DateTime<chrono::Utc>| t.with_timezone(&zone).to_rfc3339();
    let enrollments: Vec<serde_json::Value> = c
        .enrollments
        .iter()
        .filter(|e| e.status == Status::Active)
        .map(|e| {
            let flow = e.flows.first();
            let waiting = flow.map(|f| match &f.wait {
                Wait::Ready => json!({ "for": "nothing" }),
                Wait::Until(t) => json!({ "for": "time", "until": at(*t) }),
                Wait::Deferred { at: t, reason, .. } => {
                    json!({ "for": "time", "until": at(*t), "deferred": reason.name() })
                }
                Wait::Event { name, deadline, .. } => {
                    json!({ "for": &**name, "until": deadline.map(at) })
                }
                Wait::Done => json!({ "for": "hooks" }),
            });
            json!({
                "playbook": &*e.playbook,
                "version": &*e.version,
                "enrollment": e.n,
                "entered": at(e.entered),
                "step": flow.map(|f| f.cursor.step.to_string()),
                "waiting": waiting,
            })
        })
        .collect();
    json!({
        "id": &*c.id,
        "attributes": record(&c.attrs, zone),
        "do_not_contact": c.do_not_contact,
        "enrollments": enrollments,
    })
}
