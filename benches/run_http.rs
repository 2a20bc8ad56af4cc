//! Event → delivery latency through `tend run`: events posted over HTTP at
//! 1,000 a second for 10 seconds, each delivered to a webhook receiver on
//! loopback; prints p50, p99 and the maximum from the client's send to the
//! receiver's arrival. `cargo bench --bench run_http`
//! (`TEND_BENCH_RATE`, `TEND_BENCH_SECONDS` change the load).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"

[events."order.paid"]
order_id = "string"

[channels.wecom]
touchpoint = "wecom"
adapter = "webhook"
url = "URL"
"#;

const PLAYBOOK: &str = r#"template thanks { text "{{ customer.name }}，订单 {{ event.order_id }} 收到啦" }

playbook thanks {
  trigger event order.paid
  step thank { send wecom thanks }
}
"#;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

/// A webhook receiver: the arrival instant of each delivery, by customer.
fn receiver() -> (String, Arrivals) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let arrivals: Arrivals = Arc::default();
    let seen = arrivals.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let seen = seen.clone();
            std::thread::spawn(move || {
                let mut conn = conn;
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut len = 0usize;
                    let mut line = String::new();
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        if line.trim_end().is_empty() {
                            break;
                        }
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let now = Instant::now();
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    let customer = v["customer"].as_str().unwrap_or("").to_string();
                    seen.lock().unwrap().entry(customer).or_insert(now);
                    if conn
                        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                        .is_err()
                    {
                        return;
                    }
                }
            });
        }
    });
    (url, arrivals)
}

fn main() {
    let rate: u64 = std::env::var("TEND_BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let seconds: u64 = std::env::var("TEND_BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let (url, arrivals) = receiver();
    let dir = std::env::temp_dir().join(format!("tend-bench-http-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(dir.join("tend.toml"), TOML.replace("URL", &url)).unwrap();
    std::fs::write(dir.join("playbooks/thanks.playbook"), PLAYBOOK).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["run", ".", "--listen", &format!("127.0.0.1:{port}")])
        .current_dir(&dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    while agent.get(format!("{base}/healthz")).call().is_err() {
        std::thread::sleep(Duration::from_millis(50));
    }
    let n = rate * seconds;
    let sent: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let start = Instant::now();
    // Four clients, each posting its share on schedule.
    let clients: Vec<_> = (0..4u64)
        .map(|k| {
            let (sent, base, agent) = (sent.clone(), base.clone(), agent.clone());
            std::thread::spawn(move || {
                for i in (k..n).step_by(4) {
                    let due = start + Duration::from_micros(i * 1_000_000 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let at = chrono::Utc::now().to_rfc3339();
                    let body = format!(
                        r#"{{"id":"e{i}","name":"order.paid","customer":"c{i}","at":"{at}","data":{{"order_id":"A{i}"}},"attributes":{{"name":"客{i}"}}}}"#
                    );
                    sent.lock().unwrap().insert(format!("c{i}"), Instant::now());
                    let r = agent.post(format!("{base}/v1/events")).send(body.as_str()).unwrap();
                    assert_eq!(r.status().as_u16(), 202);
                }
            })
        })
        .collect();
    for c in clients {
        c.join().unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while arrivals.lock().unwrap().len() < n as usize && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    let sent = sent.lock().unwrap();
    let arrivals = arrivals.lock().unwrap();
    let mut ms: Vec<f64> = arrivals
        .iter()
        .filter_map(|(c, t)| {
            sent.get(c)
                .map(|s| t.duration_since(*s).as_secs_f64() * 1000.0)
        })
        .collect();
    ms.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p) as usize];
    println!(
        "{} of {n} events delivered at {rate}/s: event → delivery p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        ms.len(),
        pct(0.50),
        pct(0.99),
        ms.last().copied().unwrap_or(0.0)
    );
    let _ = std::fs::remove_dir_all(&dir);
}
