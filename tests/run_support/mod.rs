//! What the runner's tests share: a clock, scratch folders, a small project.
#![allow(dead_code)]

use chrono::{DateTime, Utc};
use std::path::{Path, PathBuf};
use tend::run::sqlite::Sqlite;
use tend::run::Runner;

pub fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("tend-run-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A checked project in `dir` and a runner for it on `store`, started at `now`.
pub fn runner_in(dir: &Path, store: Sqlite, now: DateTime<Utc>) -> Runner<Sqlite> {
    let (linted, program) = tend::command::sim::runnable(dir).unwrap();
    let config = linted.checked.as_ref().unwrap().config.clone();
    Runner::new(&program, &config, dir, store, now).unwrap()
}

/// Inputs and timers due at `now`, then the deliveries due.
pub fn round(runner: &mut Runner<Sqlite>, now: DateTime<Utc>) {
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
