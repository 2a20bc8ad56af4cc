//! The simulator on long histories: one customer with 100,000 events (each
//! enrolls anew and sends once, every send counted by caps), a broadcast
//! every minute for 40 days, and one every second for a day. Each must cost
//! in proportion to its length. `cargo bench --bench sim_history` prints the
//! time of each (a plain timed run, not criterion: one pass takes a second).
//! `TEND_BENCH_EVENTS=N` changes the number of events.

use chrono::{DateTime, Duration, Utc};
use std::time::Instant;
use tend::intake::Event;
use tend::sim::input::{SampleCustomer, SampleEvent};
use tend::source::{SourceFile, Sources};
use tend::value::{Fields, Sym, Value};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"

[events."order.paid"]
order_id = "string"

[events."contact.blocked"]

[channels.wecom]
touchpoint = "wecom"
adapter = "console"
cap = "100000 per month"

[channels.group]
touchpoint = "group"
adapter = "console"
"#;

fn program(playbook: &str) -> tend::program::Program {
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", TOML));
    let pb = sources.add(SourceFile::new("p.playbook", playbook));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    let errors: Vec<_> = linted.errors().map(|f| f.message.clone()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    linted.program().unwrap()
}

fn from() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&Utc)
}

/// Runs the window on one thread and prints its time and deliveries.
fn timed(
    what: &str,
    program: &tend::program::Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    days: i64,
) {
    let opts = tend::sim::Options {
        threads: 1,
        keep: tend::sim::Keep::UpTo(0),
        ..tend::sim::Options::new(from(), from() + Duration::days(days))
    };
    let start = Instant::now();
    let outcome = tend::sim::simulate_with(program, customers, events, &opts);
    eprintln!(
        "{what}: {:.2} s, {} deliveries",
        start.elapsed().as_secs_f64(),
        outcome.tally.deliveries
    );
}

fn main() {
    let n: usize = std::env::var("TEND_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100_000);
    // One customer paying every 20 seconds: each order enrolls anew (the one
    // before has finished) and sends once; the channel's cap counts them all.
    let one = program(
        r#"
template thanks { text "{{ customer.name }}，订单 {{ event.order_id }} 已收到" }
playbook p {
  reenter always
  trigger event order.paid
  step s { send wecom thanks }
}
"#,
    );
    let customer = SampleCustomer {
        id: "c1".into(),
        attrs: [("name", Value::str("林小雨"))].into_iter().collect(),
    };
    let events: Vec<SampleEvent> = (0..n)
        .map(|i| SampleEvent {
            customer: "c1".into(),
            line: i + 1,
            at: from() + Duration::seconds(20 * i as i64),
            event: Event {
                name: Sym::new("order.paid"),
                data: [("order_id", Value::str(&format!("A{i}")))]
                    .into_iter()
                    .collect::<Fields>(),
                attributes: Fields::new(),
            },
        })
        .collect();
    let days = (20 * n as i64) / 86_400 + 1;
    timed(
        &format!("one customer, {n} events over {days} days"),
        &one,
        std::slice::from_ref(&customer),
        &events,
        days,
    );
    let minute = program(
        "playbook b {\n  trigger every \"* * * * *\"\n  step s { send group \"整点播报\" }\n}\n",
    );
    timed("a broadcast every minute, 40 days", &minute, &[], &[], 40);
    let second = program(
        "playbook b {\n  trigger every \"* * * * * *\"\n  step s { send group \"每秒播报\" }\n}\n",
    );
    timed("a broadcast every second, 1 day", &second, &[], &[], 1);
}
