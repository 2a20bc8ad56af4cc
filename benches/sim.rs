//! 1,000,000 customers through the post-purchase playbook over 60 days with
//! generated events. `cargo bench --bench sim` prints customers/s on 1 and 2
//! threads and the peak resident memory. (A plain timed run, not criterion:
//! one pass takes seconds.) Customers are generated inside the timed run, on
//! the worker threads, the way a loader would hand them over.

use chrono::{DateTime, Duration, Utc};
use std::borrow::Cow;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use tend::intake::Event;
use tend::sim::input::SampleEvent;
use tend::sim::{Keep, Options, Population, Sample};
use tend::source::{SourceFile, Sources};
use tend::value::{Fields, Sym, Value};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[path = "support/mod.rs"]
mod support;
use support::Lcg;

fn record<const N: usize>(pairs: [(&str, Value); N]) -> Fields {
    pairs.into_iter().collect()
}

/// Customers made on demand, each from its own seed, so any thread can make
/// any batch and every run sees the same input.
struct Generated {
    n: usize,
    from: DateTime<Utc>,
    next: AtomicUsize,
    /// The attributes every customer starts from.
    prototype: Fields,
}

impl Population for Generated {
    fn known_len(&self) -> Option<usize> {
        Some(self.n)
    }

    fn next_batch(&self) -> Option<Vec<Sample<'_>>> {
        Some(
            tend::sim::population::claim(&self.next, self.n)?
                .map(|i| customer(i, self.from, &self.prototype))
                .collect(),
        )
    }
}

/// One customer who pays once within 50 days; most confirm the address, get the
/// parcel and join the group; some buy again.
fn customer(i: usize, from: DateTime<Utc>, prototype: &Fields) -> Sample<'static> {
    let mut rng = Lcg(i as u64 ^ 0x9e37_79b9_7f4a_7c15);
    let id = format!("c{i:07}");
    let mut attrs = prototype.clone();
    attrs.patch(
        &[
            ("name", Value::str(&format!("客户{i}"))),
            ("personal_added", Value::Bool(rng.below(2) == 0)),
        ]
        .into_iter()
        .collect(),
    );
    let mut events: Vec<Cow<SampleEvent>> = Vec::with_capacity(5);
    let mut event = |at: DateTime<Utc>, name: &str, data: Fields, patch| {
        events.push(Cow::Owned(SampleEvent {
            customer: id.clone(),
            line: 0,
            at,
            event: Event {
                name: Sym::new(name),
                data,
                attributes: patch,
            },
        }))
    };
    let paid = from + Duration::seconds(rng.below(50 * 86_400) as i64);
    let order = |seq: i64| {
        record([
            ("order_id", Value::str(&format!("O{i}-{seq}"))),
            ("seq", Value::Int(seq)),
            ("amount", Value::Float(89.0)),
            ("address", Value::str("杭州市西湖区")),
        ])
    };
    let patch: Fields = [("orders", Value::Int(1))].into_iter().collect();
    event(paid, "order.paid", order(1), patch);
    if rng.below(10) < 9 {
        let at = paid + Duration::seconds(rng.below(900) as i64 + 60);
        let data = record([("text", Value::str("是"))]);
        event(at, "message.replied", data, Fields::new());
    }
    if rng.below(10) < 8 {
        let at = paid + Duration::seconds(rng.below(3 * 86_400) as i64 + 86_400);
        let data = record([("city", Value::str("杭州"))]);
        event(at, "parcel.in_city", data, Fields::new());
    }
    if rng.below(10) < 6 {
        let at = paid + Duration::seconds(rng.below(5 * 86_400) as i64 + 2 * 86_400);
        let data = record([("group", Value::str("喵友群"))]);
        event(at, "group.joined", data, Fields::new());
    }
    if rng.below(10) < 2 {
        let at = paid + Duration::seconds(rng.below(30 * 86_400) as i64 + 86_400);
        event(at, "order.paid", order(2), Fields::new());
    }
    events.sort_by_key(|e| e.at);
    Sample { id, attrs, events }
}

/// Counts what the JSON report writes, without keeping it.
struct Counted(usize);

impl std::io::Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn main() {
    tend::memory::prefer_small_pages();
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
    let program = linted.program().expect("the example project checks");
    let from = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until = from + chrono::Duration::days(60);
    let population = Generated {
        n,
        from,
        next: AtomicUsize::new(0),
        prototype: [
            ("name", Value::str("")),
            ("tags", Value::List(vec![Value::str("package_card")].into())),
            ("orders", Value::Int(0)),
            ("last_active_at", Value::DateTime(from)),
            ("personal_added", Value::Bool(false)),
            ("stage", Value::str("new")),
            ("owner", Value::str("xiaokai")),
            ("messages_30d", Value::Int(0)),
            ("pet", Value::Record(Fields::new())),
        ]
        .into_iter()
        .collect(),
    };
    // The table report's mode by default; `TEND_BENCH_KEEP=all` keeps every
    // delivery and writes the JSON report, as `--format json` does.
    let keep = match std::env::var("TEND_BENCH_KEEP").as_deref() {
        Ok("all") => Keep::All,
        _ => Keep::UpTo(0),
    };
    // `TEND_BENCH_THREADS=2` runs only the 2-thread pass (for profiling).
    let passes: Vec<usize> = match std::env::var("TEND_BENCH_THREADS") {
        Ok(t) => t.split(',').filter_map(|t| t.trim().parse().ok()).collect(),
        Err(_) => vec![1, 2],
    };
    for threads in passes {
        population.next.store(0, Ordering::Relaxed);
        let opts = Options {
            threads,
            keep: keep.clone(),
            ..Options::new(from, until)
        };
        let start = Instant::now();
        let outcome = tend::sim::simulate_population(&program, &population, &opts);
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "{threads} thread(s): {:.2} s, {:.0} customers/s, {} deliveries, {} entered",
            secs,
            n as f64 / secs,
            outcome.tally.deliveries,
            outcome.playbooks.iter().map(|p| p.entered).sum::<usize>()
        );
        if keep == Keep::All {
            let start = Instant::now();
            let mut bytes = Counted(0);
            tend::sim::report::write_json(&outcome, chrono_tz::Asia::Shanghai, &mut bytes)
                .expect("counting bytes");
            eprintln!(
                "  the JSON report: {} deliveries and {} records, {} MB written in {:.2} s",
                outcome.sends.len(),
                outcome.records.len(),
                bytes.0 / 1_000_000,
                start.elapsed().as_secs_f64()
            );
        }
    }
    // What the input costs by itself, so the engine's share can be told apart.
    population.next.store(0, Ordering::Relaxed);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..2 {
            scope.spawn(|| while population.next_batch().is_some() {});
        }
    });
    eprintln!(
        "generating the input alone: {:.2} s on 2 threads",
        start.elapsed().as_secs_f64()
    );
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
