//! The runner on the engine the simulator drives: with an injected clock, a
//! store and the example project's adapters, it delivers exactly what
//! `tend sim` reports for the same customers, events and window.

use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use tend::run::sqlite::Sqlite;
use tend::run::store::{Status, Store};
use tend::run::{Intake, Runner};
use tend::source::SourceFile;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tend-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A TOML value as JSON, dates and times as their RFC 3339 text.
fn json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => s.clone().into(),
        toml::Value::Integer(i) => (*i).into(),
        toml::Value::Float(f) => (*f).into(),
        toml::Value::Boolean(b) => (*b).into(),
        toml::Value::Datetime(d) => d.to_string().into(),
        toml::Value::Array(a) => a.iter().map(json).collect(),
        toml::Value::Table(t) => t.iter().map(|(k, v)| (k.clone(), json(v))).collect(),
    }
}

/// examples/events.toml as JSON envelopes, one per line, as a client posts them.
fn example_events() -> Vec<String> {
    let text = std::fs::read_to_string(examples().join("events.toml")).unwrap();
    let doc: toml::Table = toml::from_str(&text).unwrap();
    doc["event"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| json(e).to_string())
        .collect()
}

/// (key, customer, channel, text, local time) of every delivery, sorted.
type Row = (String, String, String, String, String);

#[test]
fn the_runner_delivers_what_the_simulator_reports() {
    let dir = examples();
    let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    let from = t("2026-12-01T00:00:00+08:00");
    let until = from + Duration::days(30);
    let zone = program.policy.zone;

    // The dry-run.
    let schema = &program.policy.schema;
    let customers_src = SourceFile::new(
        "customers.toml",
        std::fs::read_to_string(dir.join("customers.toml")).unwrap(),
    );
    let customers = tend::sim::input::customers(&customers_src, schema).unwrap();
    let events_src = SourceFile::new(
        "events.toml",
        std::fs::read_to_string(dir.join("events.toml")).unwrap(),
    );
    let events = tend::sim::input::events(&events_src, schema).unwrap();
    let outcome = tend::sim::simulate(&program, &customers, &events, from, until);
    let local = |c: Option<&str>, at: DateTime<Utc>| {
        let tz = c
            .and_then(|c| outcome.zones.get(c))
            .copied()
            .unwrap_or(zone);
        at.with_timezone(&tz).to_rfc3339()
    };
    let mut simulated: Vec<Row> = outcome
        .sends
        .iter()
        .map(|d| {
            (
                d.key().to_string(),
                d.customer.as_deref().unwrap_or("").to_string(),
                d.channel.to_string(),
                d.text.clone().unwrap_or_default(),
                local(d.customer.as_deref(), d.at),
            )
        })
        .collect();
    simulated.sort();
    assert!(simulated.len() > 20, "{}", simulated.len());

    // The real run: customers imported, events posted, the clock stepped
    // from one due instant to the next.
    let out = scratch("dry-run");
    let mut runner = Runner::new(&program, &config, &out, Sqlite::memory().unwrap(), from).unwrap();
    for c in &customers {
        runner.put_customer(&c.id, c.attrs.clone(), from).unwrap();
    }
    let lines = example_events();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let accepted = runner.accept(&refs).unwrap();
    assert!(
        accepted.iter().all(|a| matches!(
            a,
            Intake::Accepted {
                duplicate: false,
                ..
            }
        )),
        "{accepted:?}"
    );
    let mut now = from;
    while now < until {
        runner.work(now).unwrap();
        runner.dispatch(now).unwrap();
        match runner.next_due().unwrap() {
            Some(next) if next > now => now = next,
            Some(_) => now += Duration::seconds(1),
            None => break,
        }
    }
    let rows = runner.store.outbox().unwrap();
    assert!(
        rows.iter().all(|r| r.2 == Status::Sent),
        "{:?}",
        rows.iter().find(|r| r.2 != Status::Sent)
    );
    let mut delivered: Vec<Row> = rows
        .iter()
        .map(|(key, d, _, _)| {
            (
                key.clone(),
                d.customer.as_deref().unwrap_or("").to_string(),
                d.channel.to_string(),
                d.text.clone().unwrap_or_default(),
                local(d.customer.as_deref(), d.at),
            )
        })
        .collect();
    delivered.sort();
    assert_eq!(delivered.len(), simulated.len());
    for (a, b) in delivered.iter().zip(&simulated) {
        assert_eq!(a, b);
    }
    // The file adapter wrote its rows where tend.toml says, under the project.
    let groups = std::fs::read_to_string(out.join("out/groups.jsonl")).unwrap_or_default();
    let in_groups = delivered
        .iter()
        .filter(|r| r.2 == "deals_group" || r.2 == "cat_lovers")
        .count();
    assert_eq!(groups.lines().count(), in_groups);
}

#[test]
fn an_event_posted_twice_is_one_event_and_a_changed_body_is_refused() {
    let dir = examples();
    let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    let from = t("2026-12-01T00:00:00+08:00");
    let out = scratch("dupes");
    let mut runner = Runner::new(&program, &config, &out, Sqlite::memory().unwrap(), from).unwrap();
    let paid = r#"{"id":"e1","name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":"A1","seq":1,"amount":99.0,"address":"上海"}}"#;
    let changed = paid.replace("A1", "A2");
    let bad = r#"{"id":"e2","name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":1}}"#;
    let got = runner.accept(&[paid, paid, &changed, bad]).unwrap();
    assert!(
        matches!(&got[0], Intake::Accepted { id, duplicate: false } if id == "e1"),
        "{got:?}"
    );
    assert!(
        matches!(
            &got[1],
            Intake::Accepted {
                duplicate: true,
                ..
            }
        ),
        "{got:?}"
    );
    assert!(
        matches!(&got[2], Intake::Rejected { id: Some(id), .. } if id == "e1"),
        "{got:?}"
    );
    assert!(
        matches!(&got[3], Intake::Rejected { message, .. } if message.contains("order_id")),
        "{got:?}"
    );
}
