//! A million customers waiting, as a user gets there: `tend import
//! customers`, `tend import events` (each event enrols its customer into a
//! step that waits 30 days), then `tend run` advances them all; measured:
//! each import's time and peak memory, the store's size, the runner's time
//! to enrol everyone and its memory while they wait. Then a playbook with an
//! `every … for` trigger whose segment holds all of them is added while the
//! runner runs: the time from its fire to the last delivery in the file
//! adapter. `cargo bench --bench run_waiting` (`TEND_BENCH_CUSTOMERS`
//! changes the count; files are written once to target/bench-input).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"

[events."order.paid"]
order_id = "string"

[channels.wecom]
touchpoint = "wecom"
adapter = "file"
path = "out/sent.jsonl"
"#;

const WAITING: &str = r#"playbook waiting {
  trigger event order.paid
  step s {
    wait 30d
    send wecom "{{ customer.name }}，一个月啦"
  }
}
"#;

fn inputs(n: usize) -> (PathBuf, PathBuf) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-input");
    std::fs::create_dir_all(&dir).unwrap();
    let customers = dir.join(format!("waiting-customers-{n}.jsonl"));
    let events = dir.join(format!("waiting-events-{n}.jsonl"));
    if !customers.exists() || !events.exists() {
        let mut c = std::io::BufWriter::new(std::fs::File::create(&customers).unwrap());
        let mut e = std::io::BufWriter::new(std::fs::File::create(&events).unwrap());
        for i in 0..n {
            writeln!(c, r#"{{"id":"c{i}","name":"客{i}"}}"#).unwrap();
            writeln!(
                e,
                r#"{{"id":"e{i}","name":"order.paid","customer":"c{i}","at":"2026-12-03T09:00:00+08:00","data":{{"order_id":"A{i}"}}}}"#
            )
            .unwrap();
        }
    }
    (customers, events)
}

/// Runs `tend ARGS` in `dir`; its wall time and peak memory (MB).
fn timed(dir: &Path, args: &[&str]) -> (f64, f64) {
    let start = Instant::now();
    let out = std::process::Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg(env!("CARGO_BIN_EXE_tend"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kb: f64 = String::from_utf8_lossy(&out.stderr)
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or(0.0);
    (start.elapsed().as_secs_f64(), kb / 1024.0)
}

/// A counter or gauge from `/metrics`.
fn metric(base: &str, name: &str) -> f64 {
    let text = ureq::get(format!("{base}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

fn rss_mb(pid: u32) -> (f64, f64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kb = |key: &str| -> f64 {
        status
            .lines()
            .find(|l| l.starts_with(key))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0)
}

fn wait_for(what: &str, limit: Duration, done: impl Fn() -> bool) -> f64 {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not done in {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
    start.elapsed().as_secs_f64()
}

fn main() {
    let n: usize = std::env::var("TEND_BENCH_CUSTOMERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let (customers, events) = inputs(n);
    let dir = std::env::temp_dir().join(format!("tend-bench-waiting-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(dir.join("tend.toml"), TOML).unwrap();
    std::fs::write(dir.join("playbooks/waiting.playbook"), WAITING).unwrap();

    let (secs, mb) = timed(&dir, &["import", "customers", customers.to_str().unwrap()]);
    println!("import {n} customers: {secs:.1} s, peak {mb:.0} MB");
    let (secs, mb) = timed(&dir, &["import", "events", events.to_str().unwrap()]);
    println!("import {n} events: {secs:.1} s, peak {mb:.0} MB");

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["run", ".", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while ureq::get(format!("{base}/healthz")).call().is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let advanced = || metric(&base, "tend_customers_advanced_total");
    wait_for("enrolling", Duration::from_secs(3600), || {
        advanced() >= n as f64
    });
    let enrolled = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));
    let (rss, hwm) = rss_mb(child.id());
    let store: u64 = ["tend.db", "tend.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!(
        "runner: {n} customers enrolled and waiting 30d after {enrolled:.1} s; RSS while they wait {rss:.0} MB (peak {hwm:.0} MB); store {:.0} MB",
        store as f64 / 1e6
    );

    // A new playbook for everyone, firing at a whole minute far enough ahead
    // for the deploy to reach every customer first.
    let lead = (enrolled * 1.5).max(60.0) as i64 + 60;
    let fire = chrono::Utc::now() + chrono::Duration::seconds(lead);
    let local = fire.with_timezone(&chrono_tz::Asia::Shanghai);
    let fire_at = local
        .date_naive()
        .and_hms_opt(
            chrono::Timelike::hour(&local),
            chrono::Timelike::minute(&local),
            0,
        )
        .unwrap()
        .and_local_timezone(chrono_tz::Asia::Shanghai)
        .unwrap()
        + chrono::Duration::minutes(1);
    std::fs::write(
        dir.join("playbooks/everyone.playbook"),
        format!(
            "segment everyone = customer.name != \"\"\n\nplaybook everyone {{\n  trigger every \"{} {} * * *\" for everyone\n  step hello {{ send wecom \"{{{{ customer.name }}}}，今天有新品\" }}\n}}\n",
            chrono::Timelike::minute(&fire_at),
            chrono::Timelike::hour(&fire_at)
        ),
    )
    .unwrap();
    let before = advanced();
    let woke = wait_for("the deploy", Duration::from_secs(3600), || {
        advanced() >= before + n as f64
    });
    println!("deploy: every customer brought up to the new program in {woke:.1} s");
    let fire_instant = fire_at.with_timezone(&chrono::Utc);
    assert!(
        chrono::Utc::now() < fire_instant,
        "the deploy took past the fire time; raise the lead"
    );
    let sent = || metric(&base, "tend_outbox{status=\"sent\"}");
    let until_fire = (fire_instant - chrono::Utc::now()).to_std().unwrap();
    std::thread::sleep(until_fire);
    let fanned = wait_for("the fan-out", Duration::from_secs(3600), || {
        sent() >= n as f64
    });
    let (rss, hwm) = rss_mb(child.id());
    println!(
        "every … for over {n} customers: fired and all {n} delivered to the file adapter {fanned:.1} s after the fire time; RSS {rss:.0} MB (peak {hwm:.0} MB)"
    );
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
