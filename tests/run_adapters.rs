//! Adapters against real far sides on 127.0.0.1: a webhook receiver that
//! checks signatures and answers with failures on purpose.

use chrono::Duration;
use tend::run::store::{Status, Store};
use tend::run::Runner;

mod run_support;
use run_support::stores::TestStore;
use run_support::*;

fn outbox_by_customer<S: Store>(runner: &mut Runner<S>) -> Vec<(String, Status, String)> {
    outbox_rows(runner)
        .into_iter()
        .map(|(c, _, status, reply)| (c, status, reply))
        .collect()
}

fn statuses<S: Store>(runner: &mut Runner<S>) -> Vec<(String, Status)> {
    outbox_by_customer(runner)
        .into_iter()
        .map(|(c, s, _)| (c, s))
        .collect()
}

/// Each customer's name says how the far side treats their delivery.
fn plan(customer: &str, before: usize) -> Reply {
    match (customer, before) {
        ("busy", 0) => Reply::Status(503, Some(7)),
        ("bad", _) => Reply::Status(400, None),
        ("slow", 0) => Reply::Slow(std::time::Duration::from_millis(1500)),
        ("drop", 0) => Reply::Drop,
        ("limited", 0) => Reply::Status(429, None),
        ("down", _) => Reply::Status(500, None),
        _ => Reply::Ok,
    }
}

fn the_webhook_adapter_retries_what_may_succeed_and_gives_up_on_what_cannot(store: &TestStore) {
    let hook = receiver("whsec-faults", plan);
    let toml = RUN_TOML.replace(
        "adapter = \"file\"\npath = \"out/sent.jsonl\"",
        &format!(
            "adapter = \"webhook\"\nurl = \"{}\"\nsecret = \"${{TEND_TEST_FAULTS_SECRET}}\"\ntimeout = \"1s\"\n\n[run]\nmax_attempts = 3",
            hook.url
        ),
    );
    std::env::set_var("TEND_TEST_FAULTS_SECRET", "whsec-faults");
    let dir = project("webhook-faults", &toml, RUN_PLAYBOOK);
    let t0 = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), t0);
    let customers = ["ok", "busy", "bad", "slow", "drop", "limited", "down"];
    let events: Vec<String> = customers
        .iter()
        .map(|c| paid(c, "2026-12-03T10:00:00+08:00"))
        .collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    runner.accept(&refs).unwrap();
    round(&mut runner, t0);
    let s = |c: &str, st: Status| (c.to_string(), st);
    assert_eq!(
        statuses(&mut runner),
        [
            s("bad", Status::Dead),
            s("busy", Status::Failed),
            s("down", Status::Failed),
            s("drop", Status::Failed),
            s("limited", Status::Failed),
            s("ok", Status::Sent),
            s("slow", Status::Failed),
        ]
    );
    let replies = outbox_by_customer(&mut runner);
    assert_eq!(replies[0].2, "400 status 400", "a 4xx is kept as the reply");
    assert!(replies[3].2.starts_with("no reply"), "{:?}", replies[3]);

    // Backoff starts at 2 s (under 4 s with jitter); the 503 asked for 7 s.
    runner.dispatch(t0 + Duration::seconds(5)).unwrap();
    assert_eq!(
        statuses(&mut runner),
        [
            s("bad", Status::Dead),
            s("busy", Status::Failed),
            s("down", Status::Failed),
            s("drop", Status::Sent),
            s("limited", Status::Sent),
            s("ok", Status::Sent),
            s("slow", Status::Sent),
        ]
    );
    runner.dispatch(t0 + Duration::seconds(7)).unwrap();
    runner.dispatch(t0 + Duration::seconds(60)).unwrap();
    let rows = outbox_by_customer(&mut runner);
    assert_eq!(
        rows.iter().map(|r| (r.0.clone(), r.1)).collect::<Vec<_>>(),
        [
            s("bad", Status::Dead),
            s("busy", Status::Sent),
            s("down", Status::Dead),
            s("drop", Status::Sent),
            s("limited", Status::Sent),
            s("ok", Status::Sent),
            s("slow", Status::Sent),
        ]
    );
    assert_eq!(rows[2].2, "500 status 500 (gave up after 3 attempts)");

    // Every request signed; the far side saw each delivery under one key,
    // the slow and dropped ones twice (its dedupe by key keeps one).
    let log = hook.log.lock().unwrap().clone();
    assert!(log.iter().all(|r| r.signed));
    let times = |c: &str| log.iter().filter(|r| r.customer == c).count();
    let per: Vec<usize> = customers.iter().map(|c| times(c)).collect();
    assert_eq!(per, [1, 2, 1, 2, 2, 2, 3]);
    assert_eq!(hook.keys.lock().unwrap().len(), customers.len());
}

fn the_smtp_adapter_mails_each_customer_at_their_address_and_retries_a_tempfail(store: &TestStore) {
    let server = smtp_server();
    let toml = format!(
        r#"timezone = "Asia/Shanghai"

[customer]
name = "string"
email = "string?"

[events."order.paid"]
order_id = "string"

[events."contact.blocked"]

[channels.mail]
touchpoint = "email"
adapter = "smtp"
host = "127.0.0.1"
port = {}
security = "none"
from = "小店 <care@shop.example>"
to = "customer.email"
subject = "订单收到"
timeout = "5s"
"#,
        server.port
    );
    let dir = project(
        "smtp",
        &toml,
        "template thanks { text \"{{ customer.name }}，订单 {{ event.order_id }} 收到啦\" }\n\nplaybook thanks {\n  trigger event order.paid\n  step thank { send mail thanks }\n}\n",
    );
    let t0 = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), t0);
    let event = |c: &str, email: Option<&str>| {
        let email = email.map_or(String::new(), |e| format!(r#","email":"{e}""#));
        format!(
            r#"{{"id":"e-{c}","name":"order.paid","customer":"{c}","at":"2026-12-03T10:00:00+08:00","data":{{"order_id":"A1"}},"attributes":{{"name":"{c}"{email}}}}}"#
        )
    };
    let events = [
        event("lin", Some("lin@example.com")),
        event("wang", Some("tempfail@example.com")),
        event("zhao", Some("nobody@example.com")),
        event("qian", Some("dropper@example.com")),
        event("sun", None),
    ];
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    runner.accept(&refs).unwrap();
    round(&mut runner, t0);
    let s = |c: &str, st: Status| (c.to_string(), st);
    assert_eq!(
        statuses(&mut runner),
        [
            s("lin", Status::Sent),
            s("qian", Status::Failed),
            s("wang", Status::Failed),
            s("zhao", Status::Dead),
        ]
    );
    // No address: not a failure of the channel, a record on the customer.
    let unreachable: Vec<String> = runner
        .store
        .recent_records(50)
        .unwrap()
        .into_iter()
        .filter(|r| r.3 == "unreachable")
        .map(|r| r.1.unwrap_or_default())
        .collect();
    assert_eq!(unreachable, ["sun"]);
    runner.dispatch(t0 + Duration::seconds(10)).unwrap();
    let rows = outbox_by_customer(&mut runner);
    assert_eq!(
        rows.iter().map(|r| (r.0.clone(), r.1)).collect::<Vec<_>>(),
        [
            s("lin", Status::Sent),
            s("qian", Status::Sent),
            s("wang", Status::Sent),
            s("zhao", Status::Dead),
        ]
    );
    assert!(rows[3].2.contains("550"), "{:?}", rows[3]);

    let mails = server.mails.lock().unwrap().clone();
    let mut to: Vec<&str> = mails.iter().map(|m| m.to.as_str()).collect();
    to.sort();
    assert_eq!(
        to,
        [
            "dropper@example.com",
            "lin@example.com",
            "tempfail@example.com"
        ]
    );
    let lin = mails.iter().find(|m| m.to == "lin@example.com").unwrap();
    let key = &runner
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .find(|r| r.1.customer.as_deref() == Some("lin"))
        .unwrap()
        .0;
    assert!(
        lin.data
            .contains(&format!("Message-ID: <{key}@shop.example>")),
        "{}",
        lin.data
    );
    assert!(lin.data.contains("Subject: =?utf-8?b?"), "{}", lin.data);
    assert!(
        lin.data.contains("Content-Type: text/plain; charset=utf-8"),
        "{}",
        lin.data
    );
}

/// `tend run --log-format json` writes one JSON object a line on standard
/// error; a dead delivery is logged with its key, and a secret read from
/// the environment appears in no log line.
#[cfg(target_os = "linux")]
#[test]
fn json_logs_name_a_dead_delivery_and_never_a_secret() {
    fn refuse(_: &str, _: usize) -> Reply {
        Reply::Status(400, None)
    }
    let hook = receiver("whsec-logs", refuse);
    let toml = RUN_TOML.replace(
        "adapter = \"file\"\npath = \"out/sent.jsonl\"",
        "adapter = \"webhook\"\nurl = \"${TEND_TEST_LOG_URL}\"\nsecret = \"${TEND_TEST_LOG_SECRET}\"",
    );
    let dir = project("json-logs", &toml, RUN_PLAYBOOK);
    let port = free_port();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args([
            "run",
            ".",
            "--log-format",
            "json",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .current_dir(&dir)
        .env("TEND_API_TOKEN", "tok-logs")
        .env(
            "TEND_TEST_LOG_URL",
            format!("{}?token=url-sekrit-123", hook.url),
        )
        .env("TEND_TEST_LOG_SECRET", "whsec-logs")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Child(child);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if ureq::get(format!("{base}/healthz")).call().is_ok() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let (code, _) = post(
        &base,
        Some("tok-logs"),
        &paid("c1", &chrono::Utc::now().to_rfc3339()),
    );
    assert_eq!(code, 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while hook.log.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status();
    let _ = child.0.wait();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let dead = lines
        .iter()
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("delivery dead"))
        })
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(dead["level"], "WARN");
    assert_eq!(dead["fields"]["reply"], "400 status 400");
    assert!(dead["fields"]["key"]
        .as_str()
        .is_some_and(|k| k.len() == 32));
    assert!(
        lines.iter().any(|l| l["fields"]["message"] == "stopped"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("sekrit") && !stderr.contains("whsec-logs"),
        "{stderr}"
    );
}

/// Deliveries go out from a thread of their own: while a far side takes
/// seconds to answer, `tend run` still takes events at once.
#[cfg(target_os = "linux")]
#[test]
fn a_slow_far_side_does_not_hold_up_intake() {
    fn slow_for_c1(customer: &str, _: usize) -> Reply {
        match customer {
            "c1" => Reply::Slow(std::time::Duration::from_secs(4)),
            _ => Reply::Ok,
        }
    }
    let hook = receiver("whsec-slow", slow_for_c1);
    let toml = RUN_TOML.replace(
        "adapter = \"file\"\npath = \"out/sent.jsonl\"",
        &format!(
            "adapter = \"webhook\"\nurl = \"{}\"\ntimeout = \"10s\"",
            hook.url
        ),
    );
    let dir = project("slow-far-side", &toml, RUN_PLAYBOOK);
    let (_child, base) = start(&dir, "tok-slow");
    let event = |c: &str| paid(c, &chrono::Utc::now().to_rfc3339());
    assert_eq!(post(&base, Some("tok-slow"), &event("c1")).0, 202);
    // c1's delivery is now with the slow far side.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while hook.log.lock().unwrap().is_empty() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(hook.log.lock().unwrap().len(), 1);
    let asked = std::time::Instant::now();
    assert_eq!(post(&base, Some("tok-slow"), &event("c2")).0, 202);
    let took = asked.elapsed();
    assert!(
        took < std::time::Duration::from_secs(2),
        "an event waited {took:?} for a delivery"
    );
    // Both arrive in the end.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while hook.keys.lock().unwrap().len() < 2 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(hook.keys.lock().unwrap().len(), 2);
}

on_every_store!(
    the_webhook_adapter_retries_what_may_succeed_and_gives_up_on_what_cannot,
    the_smtp_adapter_mails_each_customer_at_their_address_and_retries_a_tempfail,
);
