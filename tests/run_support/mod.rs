//! What the runner's tests share: a clock, scratch folders, a small project.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use tend::run::store::Store;
use tend::run::Runner;

pub mod stores;

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

/// A new empty folder (each call its own: a test runs on every store at once).
pub fn scratch(name: &str) -> PathBuf {
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("tend-run-{}-{n}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A checked project in `dir` and a runner for it on `store`, started at `now`.
pub fn runner_in<S: Store>(dir: &Path, store: S, now: DateTime<Utc>) -> Runner<S> {
    let (linted, program) = tend::command::sim::runnable(dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    Runner::new(&program, &config, dir, store, now).unwrap()
}

/// Inputs and timers due at `now`, then the deliveries due.
pub fn round<S: Store>(runner: &mut Runner<S>, now: DateTime<Utc>) {
    runner.work(now).unwrap();
    runner.dispatch(now).unwrap();
}

pub const RUN_TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"

[events."order.paid"]
order_id = "string"

[channels.wecom]
touchpoint = "wecom"
adapter = "file"
path = "out/sent.jsonl"
"#;

pub const RUN_PLAYBOOK: &str = r#"template thanks { text "{{ customer.name }}，订单 {{ event.order_id }} 收到啦" }

playbook thanks {
  trigger event order.paid
  step thank { send wecom thanks }
}
"#;

/// A thank-you now and a follow-up a day later, to the file adapter.
pub const TWO_STEP: &str = r#"template thanks { text "{{ customer.name }}，订单 {{ event.order_id }} 收到啦" }
template later { text "{{ customer.name }}，用得还好吗？" }

playbook thanks {
  trigger event order.paid
  step thank {
    send wecom thanks
    wait 1d
    send wecom later
  }
}
"#;

/// How the test receiver answers one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reply {
    Ok,
    /// This status, with `Retry-After` seconds when given.
    Status(u16, Option<u64>),
    /// 200, after this long.
    Slow(std::time::Duration),
    /// Reads the request, then closes the connection without a word.
    Drop,
}

/// What the test receiver was sent.
#[derive(Debug, Clone)]
pub struct Received {
    pub key: String,
    pub customer: String,
    pub signed: bool,
}

/// A webhook receiver on 127.0.0.1 that checks each request's signature and
/// answers as `plan` says for (customer, how many times this key came before).
pub struct Receiver {
    pub url: String,
    pub keys: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    pub bad_signatures: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<Received>>>,
}

pub fn receiver(secret: &'static str, plan: fn(&str, usize) -> Reply) -> Receiver {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let keys = Arc::new(Mutex::new(std::collections::HashMap::new()));
    let bad = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (k, b, l) = (keys.clone(), bad.clone(), log.clone());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (k, b, l) = (k.clone(), b.clone(), l.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                loop {
                    let mut headers = std::collections::HashMap::new();
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    loop {
                        line.clear();
                        if reader.read_line(&mut line).unwrap_or(0) == 0 {
                            return;
                        }
                        let text = line.trim_end();
                        if text.is_empty() {
                            break;
                        }
                        if let Some((name, value)) = text.split_once(':') {
                            headers
                                .insert(name.trim().to_ascii_lowercase(), value.trim().to_string());
                        }
                    }
                    let len: usize = headers
                        .get("content-length")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let mut body = vec![0; len];
                    if reader.read_exact(&mut body).is_err() {
                        return;
                    }
                    let body = String::from_utf8(body).unwrap();
                    let stamp: i64 = headers
                        .get("x-tend-timestamp")
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(0);
                    let expected = tend::channels::signature(secret, stamp, &body);
                    let signed = headers.get("x-tend-signature") == Some(&expected);
                    if !signed {
                        b.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let key = headers.get("idempotency-key").cloned().unwrap_or_default();
                    let customer = serde_json::from_str::<serde_json::Value>(&body)
                        .ok()
                        .and_then(|v| v["customer"].as_str().map(String::from))
                        .unwrap_or_default();
                    let before = {
                        let mut keys = k.lock().unwrap();
                        let n = keys.entry(key.clone()).or_insert(0);
                        *n += 1;
                        *n - 1
                    };
                    l.lock().unwrap().push(Received {
                        key,
                        customer: customer.clone(),
                        signed,
                    });
                    let answer = match plan(&customer, before) {
                        Reply::Ok => "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string(),
                        Reply::Slow(d) => {
                            std::thread::sleep(d);
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_string()
                        }
                        Reply::Status(code, after) => {
                            let after =
                                after.map_or(String::new(), |s| format!("Retry-After: {s}\r\n"));
                            let text = format!("status {code}");
                            format!(
                                "HTTP/1.1 {code} X\r\n{after}Content-Length: {}\r\n\r\n{text}",
                                text.len()
                            )
                        }
                        Reply::Drop => return,
                    };
                    if conn.write_all(answer.as_bytes()).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Receiver {
        url,
        keys,
        bad_signatures: bad,
        log,
    }
}

/// A message the test SMTP server accepted.
#[derive(Debug, Clone)]
pub struct Mail {
    pub to: String,
    pub data: String,
}

/// An SMTP server on 127.0.0.1 (no TLS) that accepts everything except on
/// purpose: `tempfail@…` is refused with 451 the first time, `nobody@…` with
/// 550 always, and for `dropper@…` the connection is closed after the first
/// message's data, before any reply.
pub struct SmtpServer {
    pub port: u16,
    pub mails: std::sync::Arc<std::sync::Mutex<Vec<Mail>>>,
}

pub fn smtp_server() -> SmtpServer {
    use std::io::{BufRead, BufReader, Write};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mails = Arc::new(Mutex::new(Vec::new()));
    let tries = Arc::new(Mutex::new(std::collections::HashMap::<String, usize>::new()));
    let m = mails.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let (m, tries) = (m.clone(), tries.clone());
            std::thread::spawn(move || {
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let say = |conn: &mut std::net::TcpStream, s: &str| {
                    conn.write_all(format!("{s}\r\n").as_bytes()).is_ok()
                };
                if !say(&mut conn, "220 test ESMTP") {
                    return;
                }
                let mut to = String::new();
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let upper = line.to_ascii_uppercase();
                    let ok = if upper.starts_with("EHLO") {
                        say(&mut conn, "250-test\r\n250 8BITMIME")
                    } else if upper.starts_with("RCPT TO:") {
                        to = line[8..].trim().trim_matches(['<', '>']).to_string();
                        let n = {
                            let mut t = tries.lock().unwrap();
                            let n = t.entry(to.clone()).or_insert(0);
                            *n += 1;
                            *n
                        };
                        if to.starts_with("nobody@") {
                            say(&mut conn, "550 5.1.1 no such mailbox")
                        } else if to.starts_with("tempfail@") && n == 1 {
                            say(&mut conn, "451 4.3.0 try again later")
                        } else {
                            say(&mut conn, "250 OK")
                        }
                    } else if upper.starts_with("DATA") {
                        if !say(&mut conn, "354 go ahead") {
                            return;
                        }
                        let mut data = String::new();
                        loop {
                            let mut l = String::new();
                            if reader.read_line(&mut l).unwrap_or(0) == 0 {
                                return;
                            }
                            if l == ".\r\n" {
                                break;
                            }
                            data.push_str(&l);
                        }
                        let first = tries.lock().unwrap().get(&to).copied() == Some(1);
                        if to.starts_with("dropper@") && first {
                            return;
                        }
                        m.lock().unwrap().push(Mail {
                            to: to.clone(),
                            data,
                        });
                        say(&mut conn, "250 2.0.0 queued")
                    } else if upper.starts_with("QUIT") {
                        let _ = say(&mut conn, "221 bye");
                        return;
                    } else {
                        // MAIL FROM, RSET, NOOP
                        say(&mut conn, "250 OK")
                    };
                    if !ok {
                        return;
                    }
                }
            });
        }
    });
    SmtpServer { port, mails }
}

pub struct Child(pub std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `tend run DIR` on a free port with this token, once it answers /healthz.
pub fn start(dir: &Path, token: &str) -> (Child, String) {
    start_on(dir, token, None)
}

/// `tend run DIR --db DB` (the project's own store without `db`).
pub fn start_on(dir: &Path, token: &str, db: Option<&Path>) -> (Child, String) {
    let port = free_port();
    let mut args: Vec<std::ffi::OsString> = ["run", ".", "--listen"].map(Into::into).to_vec();
    args.push(format!("127.0.0.1:{port}").into());
    if let Some(db) = db {
        args.extend(["--db".into(), db.as_os_str().to_owned()]);
    }
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(args)
        .current_dir(dir)
        .env("TEND_API_TOKEN", token)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let child = Child(child);
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if ureq::get(format!("{base}/healthz")).call().is_ok() {
            return (child, base);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("tend run did not come up");
}

pub fn post(base: &str, token: Option<&str>, body: &str) -> (u16, serde_json::Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.post(format!("{base}/v1/events"));
    if let Some(t) = token {
        req = req.header("Authorization", format!("Bearer {t}"));
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}

/// Lines the file adapter wrote, once there are `n` (or after 10 s).
pub fn sent(dir: &Path, n: usize) -> Vec<serde_json::Value> {
    let path = dir.join("out/sent.jsonl");
    let mut lines = Vec::new();
    for _ in 0..200 {
        lines = std::fs::read_to_string(&path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        if lines.len() >= n {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    lines
}

/// What the file adapter wrote to `out/sent.jsonl`: (customer, `field`) of each line, in order.
pub fn file_lines(dir: &Path, field: &str) -> Vec<(String, String)> {
    std::fs::read_to_string(dir.join("out/sent.jsonl"))
        .unwrap_or_default()
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            (
                v["customer"].as_str().unwrap().to_string(),
                v[field].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// The outbox, sorted: (customer, template, status, the adapter's last reply).
pub fn outbox_rows<S: Store>(
    runner: &mut Runner<S>,
) -> Vec<(String, String, tend::run::store::Status, String)> {
    let mut rows: Vec<_> = runner
        .store
        .outbox()
        .unwrap()
        .into_iter()
        .map(|r| {
            (
                r.1.customer.as_deref().unwrap_or("").to_string(),
                r.1.template.as_deref().unwrap_or("").to_string(),
                r.2,
                r.3.unwrap_or_default(),
            )
        })
        .collect();
    rows.sort();
    rows
}

/// A project in a scratch folder: this tend.toml and one playbook file.
pub fn project(name: &str, toml: &str, playbook: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    std::fs::write(dir.join("tend.toml"), toml).unwrap();
    std::fs::create_dir_all(dir.join("playbooks")).unwrap();
    std::fs::write(dir.join("playbooks/p.playbook"), playbook).unwrap();
    dir
}

/// An `order.paid` event for `customer` at `at`, the customer's name their id.
pub fn paid(customer: &str, at: &str) -> String {
    format!(
        r#"{{"id":"p-{customer}-{at}","name":"order.paid","customer":"{customer}","at":"{at}","data":{{"order_id":"A1"}},"attributes":{{"name":"{customer}"}}}}"#
    )
}
