//! 1,000,000 customers through the post-purchase playbook over 60 days with
//! generated events. `cargo bench --bench sim` prints customers/s on 1 and 2
//! threads and the peak resident memory. (A plain timed run, not criterion:
//! one pass takes seconds.)

use std::collections::BTreeMap;
use std::time::Instant;
use tend::engine::step::Event;
use tend::engine::value::Value;
use tend::sim::input::{SampleCustomer, SampleEvent};
use tend::source::{SourceFile, Sources};

/// A small deterministic generator, so every run sees the same input.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn record(pairs: &[(&str, Value)]) -> Value {
    Value::Record(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn main() {
    let n: usize = std::env::var("TEND_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new(
        "tend.toml",
        std::fs::read_to_string(root.join("examples/tend.toml")).unwrap(),
    ));
    let pb = sources.add(SourceFile::new(
        "post_purchase.playbook",
        std::fs::read_to_string(root.join("playbooks/post_purchase.playbook")).unwrap(),
    ));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    let program = linted.program.expect("the example project checks");
    let from = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until = from + chrono::Duration::days(60);
    let mut rng = Lcg(42);
    let gen_start = Instant::now();
    let mut customers = Vec::with_capacity(n);
    let mut events = Vec::with_capacity(n * 3);
    for i in 0..n {
        let id = format!("c{i:07}");
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), Value::Str(format!("客户{i}")));
        attrs.insert(
            "tags".to_string(),
            Value::List(vec![Value::Str("package_card".into())]),
        );
        attrs.insert("orders".to_string(), Value::Int(0));
        attrs.insert("last_active_at".to_string(), Value::DateTime(from));
        attrs.insert("personal_added".to_string(), Value::Bool(rng.below(2) == 0));
        attrs.insert("stage".to_string(), Value::Str("new".into()));
        attrs.insert("owner".to_string(), Value::Str("xiaokai".into()));
        attrs.insert("messages_30d".to_string(), Value::Int(0));
        attrs.insert("pet".to_string(), Value::Record(BTreeMap::new()));
        customers.push(SampleCustomer {
            id: id.clone(),
            attrs,
        });
        let paid = from + chrono::Duration::seconds(rng.below(50 * 86_400) as i64);
        let order = |seq: i64| {
            record(&[
                ("order_id", Value::Str(format!("O{i}-{seq}"))),
                ("seq", Value::Int(seq)),
                ("amount", Value::Float(89.0)),
                ("address", Value::Str("杭州市西湖区".into())),
            ])
        };
        let mut patch = BTreeMap::new();
        patch.insert("orders".to_string(), Value::Int(1));
        events.push(SampleEvent {
            id: format!("{id}-1"),
            customer: id.clone(),
            at: paid,
            event: Event {
                name: "order.paid".into(),
                data: order(1),
                attributes: patch,
            },
        });
        if rng.below(10) < 9 {
            let at = paid + chrono::Duration::seconds(rng.below(900) as i64 + 60);
            events.push(SampleEvent {
                id: format!("{id}-r"),
                customer: id.clone(),
                at,
                event: Event {
                    name: "message.replied".into(),
                    data: record(&[("text", Value::Str("是".into()))]),
                    attributes: BTreeMap::new(),
                },
            });
        }
        if rng.below(10) < 8 {
            let at = paid + chrono::Duration::seconds(rng.below(3 * 86_400) as i64 + 86_400);
            events.push(SampleEvent {
                id: format!("{id}-p"),
                customer: id.clone(),
                at,
                event: Event {
                    name: "parcel.in_city".into(),
                    data: record(&[("city", Value::Str("杭州".into()))]),
                    attributes: BTreeMap::new(),
                },
            });
        }
        if rng.below(10) < 6 {
            let at = paid + chrono::Duration::seconds(rng.below(5 * 86_400) as i64 + 2 * 86_400);
            events.push(SampleEvent {
                id: format!("{id}-g"),
                customer: id.clone(),
                at,
                event: Event {
                    name: "group.joined".into(),
                    data: record(&[("group", Value::Str("喵友群".into()))]),
                    attributes: BTreeMap::new(),
                },
            });
        }
        if rng.below(10) < 2 {
            let at = paid + chrono::Duration::seconds(rng.below(30 * 86_400) as i64 + 86_400);
            events.push(SampleEvent {
                id: format!("{id}-2"),
                customer: id.clone(),
                at,
                event: Event {
                    name: "order.paid".into(),
                    data: order(2),
                    attributes: BTreeMap::new(),
                },
            });
        }
    }
    events.sort_by_key(|e| e.at);
    eprintln!(
        "generated {n} customers and {} events in {:.1} s",
        events.len(),
        gen_start.elapsed().as_secs_f64()
    );
    for threads in [1, 2] {
        let start = Instant::now();
        let outcome = tend::sim::simulate_on(&program, &customers, &events, from, until, threads);
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{threads} thread(s): {:.1} s, {:.0} customers/s, {} deliveries, {} records",
            secs,
            n as f64 / secs,
            outcome.sends.len(),
            outcome.records.len()
        );
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let peak = status
        .lines()
        .find(|l| l.starts_with("VmHWM"))
        .unwrap_or("VmHWM: unknown");
    eprintln!(
        "peak resident memory: {}",
        peak.trim_start_matches("VmHWM:").trim()
    );
}
