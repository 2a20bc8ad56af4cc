//! One harness for hostile playbooks, shared by the fuzz targets (fuzz/) and
//! the property tests (tests/hostile.rs): lint the text against the corpus
//! tend.toml and, when it checks clean, simulate it over a few days against
//! customers with values at the edges of their ranges, all on a thread with
//! the stack of an ordinary thread. Any panic or abort is a bug.

#![allow(dead_code)]

use tend::sim::input;
use tend::source::{SourceFile, Sources};

pub const TOML: &str = include_str!("../lint/tend.toml");

/// The stack of a thread std spawns by default: a runner's worker has no more.
pub const STACK: usize = 2 << 20;

/// Customers at the edges: the first and last dates input accepts, the
/// largest and smallest ints, an empty name, a zone with a skipped day.
pub const CUSTOMERS: &str = r#"
[[customer]]
id = "edge_low"
name = ""
tags = []
orders = -9223372036854775808
last_active_at = 0001-01-01T00:00:00Z
personal_added = false
stage = "new"
owner = ""
birthday = 0001-01-01
pet = { name = "", kind = "", birthday = 0001-01-01 }

[[customer]]
id = "edge_high"
name = "王姐"
tags = ["vip", "猫", "a|b"]
orders = 9223372036854775807
last_active_at = 9999-12-31T23:59:59Z
personal_added = true
timezone = "Pacific/Apia"
stage = "mature"
owner = "xiaokai"
birthday = 9999-12-31
pet = { name = "咪咪", kind = "cat", birthday = 9999-12-31 }

[[customer]]
id = "plain"
name = "小林"
tags = ["new"]
orders = 1000000000
last_active_at = 2026-03-01T10:00:00+08:00
personal_added = true
timezone = "America/New_York"
stage = "growing"
owner = "amy"
birthday = 1990-03-08
pet = { name = "豆豆", kind = "dog" }
"#;

/// Every declared event for every customer, with payloads at the edges.
pub fn events() -> String {
    let mut out = String::new();
    let kinds: [(&str, &str); 8] = [
        (
            "order.paid",
            "order_id = \"A\", seq = 9223372036854775807, amount = 1e308, address = \"\"",
        ),
        ("message.replied", "text = \"是\""),
        ("order.shipped", "order_id = \"A\", carrier = \"SF\""),
        ("parcel.in_city", "city = \"上海\""),
        ("group.joined", "group = \"g\""),
        ("coupon.used", "coupon_id = \"new15\""),
        ("order.refunded", "order_id = \"A\""),
        ("contact.complained", "reason = \"spam\""),
    ];
    for c in ["edge_low", "edge_high", "plain"] {
        for (k, (name, data)) in kinds.iter().enumerate() {
            out.push_str(&format!(
                "[[event]]\nname = \"{name}\"\ncustomer = \"{c}\"\nat = 2026-03-07T{:02}:00:00+08:00\ndata = {{ {data} }}\n\n",
                1 + k * 2
            ));
        }
    }
    out
}

/// Lints `playbook` and, when it checks clean, simulates it from 7 to 10
/// March 2026 (New York's clocks go forward on the 8th) on an ordinary
/// thread's stack. Panics if anything panics or a finding's span is outside
/// its file. Says whether the playbook checked clean and was simulated.
pub fn lint_and_simulate(playbook: &str) -> bool {
    let playbook = playbook.to_string();
    let worker = std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || run(&playbook))
        .expect("a thread");
    match worker.join() {
        Ok(simulated) => simulated,
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

fn run(playbook: &str) -> bool {
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", TOML));
    let pb = sources.add(SourceFile::new("hostile.playbook", playbook));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    for f in &linted.findings {
        let src = linted.sources.get(f.file);
        assert!(
            f.span.start <= f.span.end && f.span.end <= src.text.len(),
            "{f:?}"
        );
    }
    let Some(program) = linted.program() else {
        return false;
    };
    let schema = &program.policy.schema;
    let customers = input::customers(&SourceFile::new("customers.toml", CUSTOMERS), schema)
        .expect("the harness's customers read");
    let events = input::events(&SourceFile::new("events.toml", events()), schema)
        .expect("the harness's events read");
    let from = chrono::DateTime::parse_from_rfc3339("2026-03-07T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let outcome = tend::sim::simulate(
        &program,
        &customers,
        &events,
        from,
        from + chrono::Duration::days(3),
    );
    // The report renders whatever happened.
    let _ = tend::sim::report::json(&outcome, program.policy.zone);
    let _ = tend::sim::report::table(
        &outcome,
        program.policy.zone,
        tend::sim::report::Timelines::Small,
    );
    true
}
