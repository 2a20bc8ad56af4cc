//! Durable deliveries per second through the runner's outbox to the `file`
//! adapter, beside a bare rusqlite loop that writes, claims and settles the
//! same rows with the same settings (WAL, synchronous=FULL) and batch sizes
//! and appends the same JSON lines with one fsync a batch. `cargo bench
//! --bench run`; `TEND_BENCH_EVENTS=N` changes the count (default 20,000).
//! With `TEND_BENCH_POSTGRES` (or `TEND_TEST_POSTGRES`) naming a server, the
//! runner's pass runs on PostgreSQL too, in a schema of its own.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{params, Connection, TransactionBehavior};
use std::io::Write;
use std::path::Path;
use std::time::Instant;
use tend::run::sqlite::Sqlite;
use tend::run::store::Store;
use tend::run::Runner;

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

const PLAYBOOK: &str = r#"template thanks { text "{{ customer.name }}，订单 {{ event.order_id }} 收到啦，我们会尽快发货～" }

playbook thanks {
  trigger event order.paid
  step thank { send wecom thanks }
}
"#;

fn fresh(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("tend-bench-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    dir
}

fn runner_pass(n: usize, now: DateTime<Utc>, db: Option<&str>) -> (f64, f64, f64) {
    let dir = fresh("runner");
    std::fs::write(dir.join("tend.toml"), TOML).unwrap();
    std::fs::write(dir.join("playbooks/thanks.playbook"), PLAYBOOK).unwrap();
    let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    let store: Box<dyn Store> = match db {
        Some(url) => tend::run::db::Db::Postgres(url.to_string()).open().unwrap(),
        None => Box::new(Sqlite::open(&dir.join("tend.db")).unwrap()),
    };
    let mut runner = Runner::new(&program, &config, &dir, store, now).unwrap();
    let at = (now - Duration::hours(1)).to_rfc3339();
    let lines: Vec<String> = (0..n)
        .map(|i| {
            format!(
                r#"{{"id":"e{i}","name":"order.paid","customer":"c{i}","at":"{at}","data":{{"order_id":"A{i}"}},"attributes":{{"name":"客{i}"}}}}"#
            )
        })
        .collect();
    let t0 = Instant::now();
    for chunk in lines.chunks(1000) {
        let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
        runner.accept(&refs).unwrap();
    }
    let accept = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    runner.work(now).unwrap();
    let work = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    runner.dispatch(now).unwrap();
    let dispatch = t2.elapsed().as_secs_f64();
    let sent = std::fs::read_to_string(dir.join("out/sent.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(sent, n);
    let counts = runner.store.outbox_counts().unwrap();
    assert_eq!(counts.len(), 1, "{counts:?}");
    let _ = std::fs::remove_dir_all(&dir);
    (accept, work, dispatch)
}

/// The same rows through plain SQL: insert in transactions of 256, then
/// claim 256, append, fsync, settle.
fn bare_pass(n: usize, body: &str) -> f64 {
    let dir = fresh("bare");
    let conn = Connection::open(dir.join("bare.db")).unwrap();
    conn.pragma_update(None, "journal_mode", "WAL").unwrap();
    conn.pragma_update(None, "synchronous", "FULL").unwrap();
    conn.execute_batch(
        "CREATE TABLE outbox (key TEXT PRIMARY KEY, due INTEGER NOT NULL, delivery TEXT NOT NULL,
         status TEXT NOT NULL, next_attempt INTEGER NOT NULL);
         CREATE INDEX outbox_due ON outbox (status, next_attempt);",
    )
    .unwrap();
    let mut file = std::fs::File::create(dir.join("sent.jsonl")).unwrap();
    let mut conn = conn;
    let t = Instant::now();
    for chunk in (0..n).collect::<Vec<_>>().chunks(256) {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        for i in chunk {
            tx.execute(
                "INSERT INTO outbox VALUES (?1, 0, ?2, 'pending', 0)",
                params![format!("{i:032x}"), body],
            )
            .unwrap();
        }
        tx.commit().unwrap();
    }
    loop {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        let rows: Vec<(String, String)> = {
            let mut q = tx
                .prepare(
                    "UPDATE outbox SET status = 'sending' WHERE key IN
                     (SELECT key FROM outbox WHERE status = 'pending' ORDER BY next_attempt LIMIT 256)
                     RETURNING key, delivery",
                )
                .unwrap();
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        tx.commit().unwrap();
        if rows.is_empty() {
            break;
        }
        for (_, d) in &rows {
            file.write_all(d.as_bytes()).unwrap();
            file.write_all(b"\n").unwrap();
        }
        file.sync_data().unwrap();
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .unwrap();
        for (k, _) in &rows {
            tx.execute("UPDATE outbox SET status = 'sent' WHERE key = ?1", [k])
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let secs = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(Path::new(&dir));
    secs
}

fn main() {
    let n: usize = std::env::var("TEND_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let now = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap();
    let (accept, work, dispatch) = runner_pass(n, now, None);
    let through = work + dispatch;
    println!(
        "runner on SQLite: {n} events accepted in {accept:.2} s ({:.0}/s); handled and delivered durably to the file adapter in {through:.2} s ({:.0} deliveries/s: engine and outbox {work:.2} s, dispatch {dispatch:.2} s)",
        n as f64 / accept,
        n as f64 / through
    );
    // A delivery row of the size the runner writes.
    let body = format!("{{\"key\":\"{:032x}\",\"at\":\"2026-12-03T10:00:00+00:00\",\"customer\":\"c1\",\"playbook\":\"thanks\",\"version\":\"0123456789abcdef\",\"enrollment\":1,\"step\":\"thank\",\"channel\":\"wecom\",\"touchpoint\":\"wecom\",\"template\":\"thanks\",\"variant\":null,\"text\":\"客1，订单 A1 收到啦，我们会尽快发货～\"}}", 1);
    let bare = bare_pass(n, &body);
    println!(
        "bare rusqlite loop, same rows and batches: {bare:.2} s ({:.0} deliveries/s); the runner takes {:.1}× as long",
        n as f64 / bare,
        through / bare
    );
    let server = ["TEND_BENCH_POSTGRES", "TEND_TEST_POSTGRES"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.is_empty()));
    if let Some(server) = server {
        let schema = format!("bench_{}", std::process::id());
        let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
        admin
            .batch_execute(&format!("CREATE SCHEMA {schema}"))
            .unwrap();
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
        let (accept, work, dispatch) = runner_pass(n, now, Some(&url));
        admin
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
        let through = work + dispatch;
        println!(
            "runner on PostgreSQL: {n} events accepted in {accept:.2} s ({:.0}/s); handled and delivered durably in {through:.2} s ({:.0} deliveries/s: engine and outbox {work:.2} s, dispatch {dispatch:.2} s)",
            n as f64 / accept,
            n as f64 / through
        );
    }
}
