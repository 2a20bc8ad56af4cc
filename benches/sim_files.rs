//! What a user runs: `tend sim` reading JSON-lines files of 1,000,000
//! customers and about 2.3 million events, through the post-purchase
//! playbook over 60 days, the table report out. `cargo bench --bench
//! sim_files` writes the input once under target/bench-input (reused while
//! the count is the same), runs the release binary on it and prints the wall
//! time, the CPU time (both cores busy shows as about twice the wall time)
//! and the peak resident memory of the run.
//!
//! `TEND_BENCH_CUSTOMERS=N` changes the count; `TEND_BENCH_FORMAT=json`
//! writes the JSON report (to /dev/null) instead of the table.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

#[path = "support/mod.rs"]
mod support;
use support::Lcg;

const FROM: i64 = 1_796_054_400; // 2026-12-01T00:00:00+08:00

fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .unwrap()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .to_rfc3339()
}

/// Customers who pay once within 50 days; half confirm the address, some
/// say the parcel arrived or joined the group, some buy again: about 2.3
/// events a customer.
fn write_input(dir: &Path, n: usize) -> std::io::Result<usize> {
    let mut customers =
        std::io::BufWriter::new(std::fs::File::create(dir.join("customers.jsonl"))?);
    let mut events = std::io::BufWriter::new(std::fs::File::create(dir.join("events.jsonl"))?);
    let mut count = 0;
    for i in 0..n {
        let mut rng = Lcg(i as u64 ^ 0x9e37_79b9_7f4a_7c15);
        let id = format!("c{i:07}");
        writeln!(
            customers,
            r#"{{"id":"{id}","name":"客户{i}","tags":["package_card"],"orders":0,"last_active_at":"2026-11-20T10:00:00+08:00","personal_added":{},"stage":"new","owner":"xiaokai","messages_30d":0,"pet":{{"name":"咪咪","kind":"cat"}}}}"#,
            rng.below(2) == 0
        )?;
        let paid = FROM + rng.below(50 * 86_400) as i64;
        let mut event = |suffix: &str, at: i64, name: &str, data: String, attributes: &str| {
            count += 1;
            writeln!(
                events,
                r#"{{"id":"{id}-{suffix}","name":"{name}","customer":"{id}","at":"{}","data":{data}{attributes}}}"#,
                rfc3339(at)
            )
        };
        let order = |seq: u32| {
            format!(
                r#"{{"order_id":"O{i}-{seq}","seq":{seq},"amount":89.0,"address":"杭州市西湖区文三路 90 号"}}"#
            )
        };
        event(
            "1",
            paid,
            "order.paid",
            order(1),
            r#","attributes":{"orders":1}"#,
        )?;
        if rng.below(10) < 5 {
            let at = paid + rng.below(900) as i64 + 60;
            event("r", at, "message.replied", r#"{"text":"是"}"#.into(), "")?;
        }
        if rng.below(10) < 4 {
            let at = paid + rng.below(3 * 86_400) as i64 + 86_400;
            event("p", at, "parcel.in_city", r#"{"city":"杭州"}"#.into(), "")?;
        }
        if rng.below(10) < 2 {
            let at = paid + rng.below(5 * 86_400) as i64 + 2 * 86_400;
            event("g", at, "group.joined", r#"{"group":"喵友群"}"#.into(), "")?;
        }
        if rng.below(10) < 2 {
            let at = paid + rng.below(30 * 86_400) as i64 + 86_400;
            event("2", at, "order.paid", order(2), "")?;
        }
    }
    customers.flush()?;
    events.flush()?;
    Ok(count)
}

/// CPU seconds and peak resident kilobytes of the children waited for so far.
fn children_usage() -> (f64, i64) {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage fills the struct it is given.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut u) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (secs(u.ru_utime) + secs(u.ru_stime), u.ru_maxrss)
}

fn main() -> std::io::Result<()> {
    let n: usize = std::env::var("TEND_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir: PathBuf = root.join("target/bench-input");
    let project = dir.join("project");
    std::fs::create_dir_all(&project)?;
    std::fs::copy(root.join("examples/tend.toml"), project.join("tend.toml"))?;
    std::fs::copy(
        root.join("playbooks/post_purchase.playbook"),
        project.join("post_purchase.playbook"),
    )?;
    let stamp = dir.join("customers.count");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&n.to_string()) {
        let start = Instant::now();
        let events = write_input(&dir, n)?;
        std::fs::write(&stamp, n.to_string())?;
        eprintln!(
            "wrote {n} customers and {events} events in {:.1} s",
            start.elapsed().as_secs_f64()
        );
    }
    let size = |f: &str| std::fs::metadata(dir.join(f)).map(|m| m.len()).unwrap_or(0);
    let format = std::env::var("TEND_BENCH_FORMAT").unwrap_or_else(|_| "table".into());
    let start = Instant::now();
    let status = Command::new(env!("CARGO_BIN_EXE_tend"))
        .arg("sim")
        .arg(&project)
        .arg("--customers")
        .arg(dir.join("customers.jsonl"))
        .arg("--events")
        .arg(dir.join("events.jsonl"))
        .args([
            "--from",
            "2026-12-01T00:00:00+08:00",
            "--days",
            "60",
            "--format",
            &format,
        ])
        .stdout(if format == "table" {
            Stdio::inherit()
        } else {
            Stdio::null()
        })
        .status()?;
    let wall = start.elapsed().as_secs_f64();
    let (cpu, peak_kb) = children_usage();
    eprintln!(
        "tend sim on {n} customers ({} MB) and their events ({} MB), {format} report: {status}, \
         {wall:.2} s wall, {cpu:.2} s CPU ({:.2} cores busy), peak resident memory {} MB",
        size("customers.jsonl") / 1_000_000,
        size("events.jsonl") / 1_000_000,
        cpu / wall,
        peak_kb / 1024
    );
    Ok(())
}
