//! The runner on the engine the simulator drives: with an injected clock, a
//! store and the example project's adapters, it delivers exactly what
//! `tend sim` reports for the same customers, events and window.

use chrono::{DateTime, Duration, Utc};
use std::path::{Path, PathBuf};
use tend::run::sqlite::Sqlite;
use tend::run::store::{Status, Store};
use tend::run::{Intake, Runner};
use tend::source::SourceFile;

mod run_support;
use run_support::stores::TestStore;
use run_support::*;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// The customer of every outbox row, in the outbox's order.
fn recipients<S: Store>(runner: &mut Runner<S>) -> Vec<String> {
    runner
        .store
        .outbox()
        .unwrap()
        .iter()
        .map(|r| r.1.customer.as_deref().unwrap().to_string())
        .collect()
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

fn the_runner_delivers_what_the_simulator_reports(store: &TestStore) {
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
    let mut runner = Runner::new(&program, &config, &out, store.open(), from).unwrap();
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

fn an_event_posted_twice_is_one_event_and_a_changed_body_is_refused(store: &TestStore) {
    let dir = examples();
    let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    let from = t("2026-12-01T00:00:00+08:00");
    let out = scratch("dupes");
    let mut runner = Runner::new(&program, &config, &out, store.open(), from).unwrap();
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
        matches!(&got[2], Intake::Rejected { id: Some(id), field: Some(f), .. } if id == "e1" && f == "id"),
        "{got:?}"
    );
    assert!(
        matches!(&got[3], Intake::Rejected { message, field: Some(f), .. }
            if message.contains("order_id") && f == "data.order_id"),
        "{got:?}"
    );
    // Each refusal names the field at fault, as a path.
    let mut refused = |line: &str| match runner.accept(&[line]).unwrap().remove(0) {
        Intake::Rejected { field, .. } => field,
        other => panic!("{other:?}"),
    };
    let field = |f: &str| Some(f.to_string());
    assert_eq!(
        refused(r#"{"id":"e3","customer":"c1","at":"2026-12-01T10:00:00+08:00"}"#),
        field("name")
    );
    assert_eq!(
        refused(
            r#"{"id":"e4","name":"order.paid","customer":"c1","at":"soon","data":{"order_id":"A"}}"#
        ),
        field("at")
    );
    assert_eq!(
        refused(
            r#"{"id":"e5","name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":"A","seq":1,"amount":1.0,"address":"x","colour":"red"}}"#
        ),
        field("data.colour")
    );
    assert_eq!(
        refused(
            r#"{"id":"e6","name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":"A","seq":1,"amount":1.0,"address":"x"},"attributes":{"orders":"many"}}"#
        ),
        field("attributes.orders")
    );
    assert_eq!(
        refused(
            r#"{"id":"e7","name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"seq":1,"amount":1.0,"address":"x"}}"#
        ),
        field("data.order_id")
    );
}

#[cfg(target_os = "linux")]
#[test]
fn tend_run_takes_events_over_http_delivers_once_and_remembers_across_restarts() {
    let dir = project("serve", RUN_TOML, RUN_PLAYBOOK);
    let (mut child, base) = start(&dir, "s3cret");
    // Midday yesterday in Shanghai: never inside any quiet hours, whatever the clock says now.
    let at = (Utc::now() - Duration::days(1))
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .date_naive()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_local_timezone(chrono_tz::Asia::Shanghai)
        .unwrap()
        .to_rfc3339();
    let paid = format!(
        r#"{{"id":"e1","name":"order.paid","customer":"c1","at":"{at}","data":{{"order_id":"A1"}},"attributes":{{"name":"小林"}}}}"#
    );
    assert_eq!(post(&base, None, &paid).0, 401);
    assert_eq!(post(&base, Some("wrong"), &paid).0, 401);
    let (status, body) = post(&base, Some("s3cret"), &paid);
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["accepted"][0]["id"], "e1");
    let (status, body) = post(&base, Some("s3cret"), &paid);
    assert_eq!(
        (status, &body["accepted"][0]["duplicate"]),
        (202, &serde_json::json!(true))
    );
    let (status, body) = post(
        &base,
        Some("s3cret"),
        r#"{"name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":1}}"#,
    );
    assert_eq!(status, 422, "{body}");
    assert_eq!(post(&base, Some("s3cret"), "not json").0, 400);
    let lines = sent(&dir, 1);
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["text"], "小林，订单 A1 收到啦");
    assert_eq!(lines[0]["customer"], "c1");
    assert_eq!(lines[0]["key"].as_str().unwrap().len(), 32);
    // The customer as the API shows them.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let get = |path: &str| {
        let mut r = agent
            .get(format!("{base}{path}"))
            .header("Authorization", "Bearer s3cret")
            .call()
            .unwrap();
        let status = r.status().as_u16();
        (
            status,
            serde_json::from_str::<serde_json::Value>(&r.body_mut().read_to_string().unwrap())
                .unwrap(),
        )
    };
    let (status, c1) = get("/v1/customers/c1");
    assert_eq!(status, 200, "{c1}");
    assert_eq!(c1["attributes"]["name"], "小林");
    assert_eq!(c1["deliveries"][0]["status"], "sent");
    assert_eq!(c1["deliveries"][0]["text"], "小林，订单 A1 收到啦");
    assert_eq!(get("/v1/customers/nobody").0, 404);
    // The API describes itself, every route it serves.
    let (status, doc) = get("/v1/openapi.json");
    assert_eq!(
        (status, &doc["openapi"]),
        (200, &serde_json::json!("3.1.0"))
    );
    let mut paths: Vec<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/healthz",
            "/metrics",
            "/v1/customers/{id}",
            "/v1/events",
            "/v1/openapi.json"
        ]
    );
    for method in ["put", "patch", "get", "delete"] {
        assert!(
            doc["paths"]["/v1/customers/{id}"][method].is_object(),
            "{method}"
        );
    }
    // PATCH changes what it names, as an input.
    let patch = |body: &str| {
        agent
            .patch(format!("{base}/v1/customers/c1"))
            .header("Authorization", "Bearer s3cret")
            .send(body)
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(patch(r#"{"name": 1}"#), 422);
    assert_eq!(patch(r#"{"name": "林雨"}"#), 202);
    let mut renamed = serde_json::Value::Null;
    for _ in 0..100 {
        renamed = get("/v1/customers/c1").1;
        if renamed["attributes"]["name"] == "林雨" {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(renamed["attributes"]["name"], "林雨", "{renamed}");
    // `tend event` posts a file of events to the running runner.
    let file = dir.join("more.jsonl");
    std::fs::write(
        &file,
        format!(
            "{paid}\n{}\n",
            paid.replace("\"e1\"", "\"e3\"").replace("\"c1\"", "\"c3\"")
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["event", file.to_str().unwrap(), "--server", &base])
        .env("TEND_API_TOKEN", "s3cret")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "1 events accepted, 1 already there, 0 refused\n"
    );
    let metrics = agent
        .get(format!("{base}/metrics"))
        .call()
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    assert!(
        metrics.contains("tend_events_total{outcome=\"accepted\"} 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("tend_outbox{status=\"sent\"}"),
        "{metrics}"
    );
    // SIGTERM: a clean stop.
    unsafe { libc::kill(child.0.id() as i32, libc::SIGTERM) };
    assert!(child.0.wait().unwrap().success());
    // The same store after a restart still knows the event.
    let (_child, base) = start(&dir, "s3cret");
    let (status, body) = post(&base, Some("s3cret"), &paid);
    assert_eq!(
        (status, &body["accepted"][0]["duplicate"]),
        (202, &serde_json::json!(true))
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    // c1's thanks once, and c3's from `tend event`.
    let customers: Vec<String> = sent(&dir, 2)
        .iter()
        .map(|l| l["customer"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(customers, ["c1", "c3"]);
}

/// Kill -9 at seeded random moments while events pour in, restart on the
/// same store each time: every delivery arrives, none is lost, and a repeat
/// carries the same key (the far side drops it). The second send of each
/// enrollment waits 2 s, so waits come due while no runner runs.
#[cfg(target_os = "linux")]
fn a_runner_killed_at_random_moments_loses_nothing_and_repeats_only_by_key(store: &TestStore) {
    const EVENTS: usize = 120;
    let hook = receiver("whsec", |_, _| Reply::Ok);
    let dir = scratch("crash");
    std::fs::write(
        dir.join("tend.toml"),
        RUN_TOML.replace(
            "adapter = \"file\"\npath = \"out/sent.jsonl\"",
            &format!(
                "adapter = \"webhook\"\nurl = \"{}\"\nsecret = \"${{TEND_TEST_HOOK_SECRET}}\"",
                hook.url
            ),
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(
        dir.join("playbooks/thanks.playbook"),
        RUN_PLAYBOOK.replace(
            "step thank { send wecom thanks }",
            "step thank {\n    send wecom thanks\n    wait 2s\n    send wecom \"{{ customer.name }}，再次感谢\"\n  }",
        ),
    )
    .unwrap();
    std::env::set_var("TEND_TEST_HOOK_SECRET", "whsec");
    let mut seed: u64 = 0x5eed;
    let mut next = |n: u64| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) % n
    };
    let db = store.arg();
    let (mut child, mut base) = start_on(&dir, "tok", Some(&db));
    let mut kills = 0;
    let mut kill_after = 5 + next(20) as usize;
    for i in 0..EVENTS {
        let at = Utc::now().to_rfc3339();
        let body = format!(
            r#"{{"id":"e{i}","name":"order.paid","customer":"c{i}","at":"{at}","data":{{"order_id":"A{i}"}},"attributes":{{"name":"客{i}"}}}}"#
        );
        // A client retries until the runner answers.
        loop {
            let agent: ureq::Agent = ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into();
            let sent = agent
                .post(format!("{base}/v1/events"))
                .header("Authorization", "Bearer tok")
                .send(body.as_str());
            if sent.is_ok_and(|r| r.status().as_u16() == 202) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        if i == kill_after && kills < 6 {
            std::thread::sleep(std::time::Duration::from_millis(next(400)));
            unsafe { libc::kill(child.0.id() as i32, libc::SIGKILL) };
            let _ = child.0.wait();
            kills += 1;
            kill_after = i + 5 + next(20) as usize;
            // Down long enough for some 2 s waits to come due.
            std::thread::sleep(std::time::Duration::from_millis(next(2500)));
            (child, base) = start_on(&dir, "tok", Some(&db));
        }
    }
    // Every enrollment sends twice.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while hook.keys.lock().unwrap().len() < 2 * EVENTS && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    drop(child);
    let keys = hook.keys.lock().unwrap().clone();
    let repeats: usize = keys.values().map(|n| n - 1).sum();
    eprintln!("{kills} kills, {} keys, {repeats} redeliveries", keys.len());
    assert!(kills >= 3, "{kills}");
    assert_eq!(keys.len(), 2 * EVENTS, "missing deliveries");
    assert_eq!(
        hook.bad_signatures
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
}

/// A customer whose stored state cannot be read stops alone (quarantined,
/// listed, its event kept); the others go on; after a fix it runs again.
#[test]
fn a_customer_that_cannot_be_advanced_is_quarantined_and_the_rest_go_on() {
    let dir = project("quarantine", RUN_TOML, RUN_PLAYBOOK);
    let now = t("2026-12-03T12:00:00+08:00");
    let db = dir.join("tend.db");
    let mut runner = runner_in(&dir, Sqlite::open(&db).unwrap(), now);
    for id in ["c1", "c2"] {
        let attrs = [("name", tend::value::Value::str("小林"))]
            .into_iter()
            .collect();
        runner.put_customer(id, attrs, now).unwrap();
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let good: String = conn
        .query_row("SELECT state FROM customers WHERE id = 'c1'", [], |r| {
            r.get(0)
        })
        .unwrap();
    conn.execute(
        "UPDATE customers SET state = '{\"format\":1,\"id\":' WHERE id = 'c1'",
        [],
    )
    .unwrap();
    let event = |c: &str| {
        format!(
            r#"{{"id":"e-{c}","name":"order.paid","customer":"{c}","at":"2026-12-03T11:00:00+08:00","data":{{"order_id":"A1"}}}}"#
        )
    };
    let (e1, e2) = (event("c1"), event("c2"));
    runner.accept(&[&e1, &e2]).unwrap();
    round(&mut runner, now);
    assert_eq!(recipients(&mut runner), ["c2"]);
    let stopped = runner.store.quarantined().unwrap();
    assert_eq!(stopped.len(), 1);
    assert_eq!(stopped[0].0, "c1");
    assert!(
        stopped[0].1.contains("stored customer state"),
        "{}",
        stopped[0].1
    );
    // Nothing is due for it while it is stopped, so the runner does not spin.
    runner.work(now + Duration::seconds(1)).unwrap();
    // The fix (here: the state repaired), then `tend retry --customer c1`.
    conn.execute("UPDATE customers SET state = ?1 WHERE id = 'c1'", [&good])
        .unwrap();
    assert!(runner.store.release("c1").unwrap());
    runner.work(now + Duration::seconds(2)).unwrap();
    runner.dispatch(now + Duration::seconds(2)).unwrap();
    assert_eq!(runner.store.outbox().unwrap().len(), 2);
}

/// A message handed to its adapter late, inside its quiet hours, waits for
/// them to end (recorded `late`); one queued before an opt-out is never sent.
fn a_late_hand_over_waits_for_quiet_hours_and_an_opt_out_stops_what_was_queued(store: &TestStore) {
    let toml = RUN_TOML.replace(
        "[channels.wecom]",
        "[limits]\nquiet = \"21:00..08:00\"\n\n[events.\"contact.blocked\"]\n\n[channels.wecom]",
    );
    let dir = project("late", &toml, RUN_PLAYBOOK);
    let eight_pm = t("2026-12-03T20:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), eight_pm);
    let paid = |c: &str| {
        format!(
            r#"{{"id":"p-{c}","name":"order.paid","customer":"{c}","at":"2026-12-03T20:00:00+08:00","data":{{"order_id":"A1"}},"attributes":{{"name":"小林"}}}}"#
        )
    };
    let (p1, p2) = (paid("c1"), paid("c2"));
    let blocked = r#"{"id":"b-c2","name":"contact.blocked","customer":"c2","at":"2026-12-03T20:30:00+08:00"}"#;
    runner.accept(&[&p1, &p2, blocked]).unwrap();
    // Admitted at 20:00, outside quiet hours; the adapter is reached only at 22:00.
    runner.work(eight_pm).unwrap();
    runner.work(t("2026-12-03T20:30:00+08:00")).unwrap();
    runner.dispatch(t("2026-12-03T22:00:00+08:00")).unwrap();
    let status = |runner: &mut Runner<Box<dyn Store>>| -> Vec<(String, Status)> {
        runner
            .store
            .outbox()
            .unwrap()
            .into_iter()
            .map(|r| (r.1.customer.as_deref().unwrap().to_string(), r.2))
            .collect()
    };
    let mut now = status(&mut runner);
    now.sort();
    assert_eq!(
        now,
        [
            ("c1".to_string(), Status::Pending),
            ("c2".to_string(), Status::Dead)
        ]
    );
    assert_eq!(
        runner.next_due().unwrap(),
        Some(t("2026-12-04T08:00:00+08:00"))
    );
    let kinds: Vec<String> = runner
        .store
        .recent_records(20)
        .unwrap()
        .into_iter()
        .map(|r| r.3)
        .collect();
    assert!(kinds.contains(&"late".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"suppressed".to_string()), "{kinds:?}");
    runner.dispatch(t("2026-12-04T08:00:00+08:00")).unwrap();
    let mut now = status(&mut runner);
    now.sort();
    assert_eq!(
        now,
        [
            ("c1".to_string(), Status::Sent),
            ("c2".to_string(), Status::Dead)
        ]
    );
    let sent = std::fs::read_to_string(dir.join("out/sent.jsonl")).unwrap();
    assert_eq!(sent.lines().count(), 1);
}

/// Erasure forgets a customer (state, events, deliveries, records), but an
/// opt-out survives it: the customer coming back is still not contacted.
fn erasing_a_customer_forgets_them_but_keeps_their_opt_out(store: &TestStore) {
    let dir = scratch("erase");
    let toml = RUN_TOML.replace(
        "[channels.wecom]",
        "[events.\"contact.blocked\"]\n\n[channels.wecom]",
    );
    std::fs::write(dir.join("tend.toml"), toml).unwrap();
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(
        dir.join("playbooks/thanks.playbook"),
        RUN_PLAYBOOK.replace(
            "trigger event order.paid",
            "trigger event order.paid\n  reenter always",
        ),
    )
    .unwrap();
    let noon = t("2026-12-03T12:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), noon);
    let event = |id: &str, c: &str, name: &str, at: &str| {
        let data = if name == "order.paid" {
            r#","data":{"order_id":"A1"}"#
        } else {
            ""
        };
        format!(
            r#"{{"id":"{id}","name":"{name}","customer":"{c}","at":"{at}"{data},"attributes":{{"name":"小林"}}}}"#
        )
    };
    let batch = [
        event("p1", "c1", "order.paid", "2026-12-03T12:00:00+08:00"),
        event("p2", "c2", "order.paid", "2026-12-03T12:00:00+08:00"),
        event("b1", "c1", "contact.blocked", "2026-12-03T12:00:00+08:00"),
    ];
    runner
        .accept(&batch.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    round(&mut runner, noon);
    let erased = runner.erase("c1").unwrap().unwrap();
    assert_eq!(
        (erased.deliveries, erased.events, erased.kept_opt_out),
        (1, 2, true)
    );
    assert!(runner.store.customer("c1").unwrap().is_none());
    assert!(runner.view("c1").unwrap().is_none());
    let erased = runner.erase("c2").unwrap().unwrap();
    assert!(!erased.kept_opt_out);
    assert!(runner.erase("c2").unwrap().is_none());
    // Both come back with a new order.
    let later = t("2026-12-03T13:00:00+08:00");
    let batch = [
        event("p3", "c1", "order.paid", "2026-12-03T13:00:00+08:00"),
        event("p4", "c2", "order.paid", "2026-12-03T13:00:00+08:00"),
    ];
    runner
        .accept(&batch.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    round(&mut runner, later);
    assert_eq!(
        recipients(&mut runner),
        ["c2"],
        "the opted-out customer is not contacted again"
    );
}

/// A deploy that adds an `every … for` trigger reaches stored customers who
/// have no timer of their own: each is brought up to the new program.
fn a_deploy_adding_a_schedule_reaches_idle_customers_and_those_waiting_weeks(store: &TestStore) {
    let dir = project("deploy", RUN_TOML, RUN_PLAYBOOK);
    std::fs::write(
        dir.join("playbooks/later.playbook"),
        "playbook later {\n  trigger event order.paid\n  step s {\n    wait 30d\n    send wecom \"{{ customer.name }}，一个月啦\"\n  }\n}\n",
    )
    .unwrap();
    let nine = t("2026-12-03T09:00:00+08:00");
    {
        let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
        let config = linted.checked.as_ref().unwrap().config.clone();
        let mut runner = Runner::new(&program, &config, &dir, store.open(), nine).unwrap();
        let attrs = [("name", tend::value::Value::str("小林"))]
            .into_iter()
            .collect();
        runner.put_customer("c1", attrs, nine).unwrap();
        assert_eq!(runner.next_due().unwrap(), None);
        // c2 waits a month in `later`.
        runner
            .accept(&[r#"{"id":"p2","name":"order.paid","customer":"c2","at":"2026-12-03T09:00:00+08:00","data":{"order_id":"A2"},"attributes":{"name":"小王"}}"#])
            .unwrap();
        round(&mut runner, nine);
        assert_eq!(
            runner.next_due().unwrap(),
            Some(t("2027-01-02T09:00:00+08:00"))
        );
    }
    std::fs::write(
        dir.join("playbooks/daily.playbook"),
        "segment everyone = customer.name != \"\"\n\nplaybook daily {\n  trigger every \"0 10 * * *\" for everyone\n  step hello { send wecom \"早安，{{ customer.name }}\" }\n}\n",
    )
    .unwrap();
    let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    let half_past = t("2026-12-03T09:30:00+08:00");
    let mut runner = Runner::new(&program, &config, &dir, store.open(), half_past).unwrap();
    let mut now = half_past;
    for _ in 0..5 {
        runner.work(now).unwrap();
        runner.dispatch(now).unwrap();
        match runner.next_due().unwrap() {
            Some(next) if next > now && next <= t("2026-12-03T10:00:00+08:00") => now = next,
            _ => break,
        }
    }
    let mut mornings: Vec<(String, String)> = runner
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .filter(|r| r.1.at == t("2026-12-03T10:00:00+08:00"))
        .map(|r| {
            (
                r.1.customer.as_deref().unwrap().to_string(),
                r.1.text.unwrap().to_string(),
            )
        })
        .collect();
    mornings.sort();
    assert_eq!(
        mornings,
        [
            ("c1".to_string(), "早安，小林".to_string()),
            ("c2".to_string(), "早安，小王".to_string())
        ]
    );
}

on_every_store!(
    #[cfg(target_os = "linux")]
    a_runner_killed_at_random_moments_loses_nothing_and_repeats_only_by_key,
    the_runner_delivers_what_the_simulator_reports,
    an_event_posted_twice_is_one_event_and_a_changed_body_is_refused,
    a_late_hand_over_waits_for_quiet_hours_and_an_opt_out_stops_what_was_queued,
    erasing_a_customer_forgets_them_but_keeps_their_opt_out,
    a_deploy_adding_a_schedule_reaches_idle_customers_and_those_waiting_weeks,
);
