//! `tend import` and `tend status`: the runner's store from the command
//! line. Both open the store the way `tend run` does (PROJECT/tend.db,
//! `[run] db`, or `--db`); both stores let them work while a runner runs.

use super::{emit, Error};
use crate::run::db::Db;
use crate::run::store::{Status, Store};
use crate::run::{Intake, Runner};
use chrono::{DateTime, Utc};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// What to import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum What {
    Customers,
    Events,
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
}

fn failed(e: impl std::fmt::Display) -> Error {
    Error::Failed(e.to_string())
}

/// A project ready to run against its store: lint clean, with its
/// tend.toml, its folder and its store (`--db`, `[run] db`, or
/// PROJECT/tend.db).
pub struct Project {
    pub program: crate::program::Program,
    pub config: crate::config::Config,
    pub root: PathBuf,
    pub db: Db,
}

impl Project {
    pub fn open(project: &Path, db: Option<&Path>) -> Result<Project, Error> {
        let (linted, program) = super::sim::runnable_for(project, "running it")?;
        let config = linted
            .checked
            .as_ref()
            .map(|c| c.config.clone())
            .unwrap_or_default();
        let root = crate::project::targets(&[project.to_path_buf()])?[0]
            .config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        let db = match (db, config.run.db.as_deref()) {
            (Some(arg), _) => match arg.to_str() {
                Some(text) => Db::parse(text, None),
                None => Db::File(arg.to_path_buf()),
            },
            (None, Some(setting)) => Db::parse(&from_environment(setting)?, Some(&root)),
            (None, None) => Db::File(root.join("tend.db")),
        };
        Ok(Project {
            program,
            config,
            root,
            db,
        })
    }
}

/// `[run] db = "${VAR}"` reads the address from the environment (a
/// PostgreSQL URL with a password stays out of tend.toml).
fn from_environment(setting: &str) -> Result<String, Error> {
    match setting.strip_prefix("${").and_then(|v| v.strip_suffix('}')) {
        Some(var) => std::env::var(var).map_err(|_| {
            Error::Usage(format!(
                "tend.toml: [run] db reads the environment variable `{var}`, which is not set"
            ))
        }),
        None => Ok(setting.to_string()),
    }
}

/// `tend import customers|events FILE`: straight into the store. Customers
/// are created or their attributes replaced; events are accepted as inputs
/// the runner handles next (a repeated id is counted, not taken twice).
pub fn import(project: &Path, db: Option<&Path>, what: What, file: &Path) -> Result<(), Error> {
    let Project {
        program,
        config,
        root,
        db,
    } = Project::open(project, db)?;
    let store = db.open().map_err(failed)?;
    let at = now();
    let mut runner = Runner::new(&program, &config, &root, store, at).map_err(failed)?;
    let schema = program.policy.schema.clone();
    let progress = std::io::stderr().is_terminal();
    let bad = |e: crate::intake::IntakeError| Error::Usage(e.to_string());
    match what {
        What::Customers => {
            let stream = crate::intake::CustomerStream::open(file, schema).map_err(bad)?;
            let mut n = 0usize;
            while let Some(block) = stream.next_block() {
                let block: Vec<(String, crate::value::Fields)> = block
                    .map_err(bad)?
                    .into_iter()
                    .map(|c| (c.item.id, c.item.attrs))
                    .collect();
                n += block.len();
                runner.put_customers(block, at).map_err(failed)?;
                if progress {
                    eprint!("\r{n} customers imported");
                }
            }
            if progress {
                eprintln!();
            }
            println!("{n} customers imported into {}", db);
        }
        What::Events => {
            // Streamed: accepted ten thousand at a time as the file is read, on
            // one thread (parsing ahead of the store would only pile blocks up).
            const CHUNK: usize = 10_000;
            let (mut new, mut repeats, mut refused) = (0usize, 0usize, 0usize);
            let mut pending = Vec::with_capacity(CHUNK);
            let mut failure: Option<Error> = None;
            let mut flush = |pending: &mut Vec<_>, runner: &mut Runner<Box<dyn Store>>| {
                if failure.is_some() || pending.is_empty() {
                    pending.clear();
                    return;
                }
                match runner.accept_envelopes(std::mem::take(pending)) {
                    Ok(results) => {
                        for r in results {
                            match r {
                                Intake::Accepted {
                                    duplicate: false, ..
                                } => new += 1,
                                Intake::Accepted {
                                    duplicate: true, ..
                                } => repeats += 1,
                                Intake::Rejected { id, message, .. } => {
                                    refused += 1;
                                    eprintln!(
                                        "refused {}: {message}",
                                        id.as_deref().unwrap_or("(no id)")
                                    );
                                }
                            }
                        }
                        if progress {
                            eprint!("\r{} events read", new + repeats + refused);
                        }
                    }
                    Err(e) => failure = Some(failed(e)),
                }
            };
            let warnings = crate::intake::load_events_into(file, &schema, 1, |e| {
                pending.push(Ok(e.item));
                if pending.len() >= CHUNK {
                    flush(&mut pending, &mut runner);
                }
            })
            .map_err(bad)?;
            flush(&mut pending, &mut runner);
            if progress {
                eprintln!();
            }
            if let Some(e) = failure {
                return Err(e);
            }
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{new} events accepted, {repeats} already there, {refused} refused, into {}",
                db
            );
        }
    }
    Ok(())
}

/// `tend retry`: a delivery by key, every dead one, or a quarantined customer's work.
pub fn retry(
    project: &Path,
    db: Option<&Path>,
    key: Option<&str>,
    all_dead: bool,
    customer: Option<&str>,
) -> Result<(), Error> {
    let (_, mut store) = existing_store(project, db)?;
    let text = match (key, all_dead, customer) {
        (Some(k), false, None) => match store.requeue(Some(k), now()).map_err(failed)? {
            0 => {
                return Err(Error::Usage(format!(
                    "no dead, unknown or failed delivery has the key `{k}`"
                )))
            }
            _ => format!("{k} will be tried again\n"),
        },
        (None, true, None) => format!(
            "{} dead deliveries will be tried again\n",
            store.requeue(None, now()).map_err(failed)?
        ),
        (None, false, Some(c)) => match store.release(c).map_err(failed)? {
            true => format!("customer `{c}` runs again\n"),
            false => return Err(Error::Usage(format!("customer `{c}` is not quarantined"))),
        },
        _ => {
            return Err(Error::Usage(
                "give one of KEY, --all-dead or --customer ID".into(),
            ))
        }
    };
    emit(|out| out.write_all(text.as_bytes()))
}

/// An operator's control over one playbook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

/// The store of a project that has one (never created by a command that only reads or settles).
fn existing_store(project: &Path, db: Option<&Path>) -> Result<(Project, Box<dyn Store>), Error> {
    let p = Project::open(project, db)?;
    if !p.db.exists() {
        return Err(Error::Usage(format!(
            "no store at `{}`: start `tend run` first, or give --db",
            p.db
        )));
    }
    let store = p.db.open().map_err(failed)?;
    Ok((p, store))
}

/// `tend pause|resume|cancel PLAYBOOK`: works on the store, so a running
/// runner sees it at its next round (within a second).
pub fn control(
    project: &Path,
    db: Option<&Path>,
    playbook: &str,
    what: Control,
) -> Result<(), Error> {
    let (p, mut store) = existing_store(project, db)?;
    let known = p.program.playbooks.iter().any(|pb| &*pb.name == playbook)
        || store
            .versions()
            .map_err(failed)?
            .iter()
            .any(|v| v.0 == playbook);
    if !known {
        let names: Vec<&str> = p.program.playbooks.iter().map(|pb| &*pb.name).collect();
        return Err(Error::Usage(format!(
            "no playbook `{playbook}` in this project or its store (playbooks: {})",
            names.join(", ")
        )));
    }
    let text = match what {
        Control::Pause => {
            let held = store.pause(playbook, now()).map_err(failed)?;
            format!(
                "paused `{playbook}`: no new entries; {held} queued deliveries held, and every later one until `tend resume {playbook}`\n"
            )
        }
        Control::Resume => match store.resume(playbook, now()).map_err(failed)? {
            Some(n) => format!(
                "resumed `{playbook}`: {n} held deliveries released (any now inside quiet hours wait for them to end)\n"
            ),
            None => return Err(Error::Usage(format!("`{playbook}` is not paused"))),
        },
        Control::Cancel => {
            let (dropped, woken) = store.cancel(playbook, now()).map_err(failed)?;
            format!(
                "cancelled `{playbook}`: {dropped} queued deliveries dropped; the enrollments of {woken} customers end as the runner reaches them; it takes no new entries until `tend resume {playbook}`\n"
            )
        }
    };
    emit(|out| out.write_all(text.as_bytes()))
}

/// `tend resolve KEY sent|dead`: a person settles an `unknown` delivery.
pub fn resolve(project: &Path, db: Option<&Path>, key: &str, sent: bool) -> Result<(), Error> {
    let (_, mut store) = existing_store(project, db)?;
    let status = if sent { Status::Sent } else { Status::Dead };
    if !store.resolve(key, status, now()).map_err(failed)? {
        return Err(Error::Usage(format!(
            "no delivery in state `unknown` has the key `{key}` (`tend status --dead` lists them)"
        )));
    }
    emit(|out| writeln!(out, "{key} settled as {}", status.name()))
}

/// `tend backup PATH`: a consistent copy of the store, taken while it runs.
pub fn backup(project: &Path, db: Option<&Path>, to: &Path) -> Result<(), Error> {
    if to.exists() {
        return Err(Error::Usage(format!(
            "`{}` exists: give a new file",
            to.display()
        )));
    }
    let (p, mut store) = existing_store(project, db)?;
    store.backup(to).map_err(failed)?;
    emit(|out| writeln!(out, "{} copied to {}", p.db, to.display()))
}

/// `tend status --dead`: every dead or unknown delivery with its reply.
fn dead_list(rows: &[crate::run::store::OutboxRow], zone: chrono_tz::Tz) -> String {
    let mut text = String::new();
    for (key, d, status, reply) in rows
        .iter()
        .filter(|r| matches!(r.2, Status::Dead | Status::Unknown))
    {
        text.push_str(&format!(
            "  {key} {:<8} {} {} {}: {}\n",
            status.name(),
            d.at.with_timezone(&zone).to_rfc3339(),
            d.channel,
            d.customer.as_deref().unwrap_or("(broadcast)"),
            crate::printable::printable(reply.as_deref().unwrap_or(""))
        ));
    }
    text
}

/// `tend status`: the outbox by status, deliveries that need a person
/// (dead or unknown, with the far side's reply), and customers waiting.
pub fn status(project: &Path, db: Option<&Path>, dead: bool) -> Result<(), Error> {
    let (Project { program, db, .. }, mut store) = existing_store(project, db)?;
    let zone = program.policy.zone;
    if dead {
        let rows = store.outbox().map_err(failed)?;
        let text = dead_list(&rows, zone);
        return emit(|out| out.write_all(text.as_bytes()));
    }
    let mut text = format!("store {}\n\noutbox\n", db);
    let counts = store.outbox_counts().map_err(failed)?;
    if counts.is_empty() {
        text.push_str("  (empty)\n");
    }
    for (status, n) in &counts {
        text.push_str(&format!("  {:<10} {n:>8}\n", status.name()));
    }
    let controls = store.controls().map_err(failed)?;
    if !controls.playbooks.is_empty() {
        text.push_str("\nplaybooks stopped by hand (`tend resume PLAYBOOK`)\n");
        for c in &controls.playbooks {
            let when = |t: Option<DateTime<Utc>>| t.map(|t| t.with_timezone(&zone).to_rfc3339());
            if let Some(t) = when(c.paused) {
                text.push_str(&format!("  {:<24} paused since {t}\n", c.playbook));
            }
            if let Some(t) = when(c.cancelled) {
                text.push_str(&format!("  {:<24} cancelled at {t}\n", c.playbook));
            }
        }
    }
    let rows = store.outbox().map_err(failed)?;
    // The latest reply of a failed attempt per channel: what a far side is saying now.
    let mut last_error: std::collections::BTreeMap<&str, (&String, &str)> = Default::default();
    for (key, d, status, reply) in &rows {
        if matches!(status, Status::Failed | Status::Dead | Status::Unknown) {
            last_error.insert(&d.channel, (key, reply.as_deref().unwrap_or("")));
        }
    }
    if !last_error.is_empty() {
        text.push_str("\nlast error per channel\n");
        for (channel, (key, reply)) in &last_error {
            text.push_str(&format!(
                "  {channel:<16} {key}: {}\n",
                crate::printable::printable(reply)
            ));
        }
    }
    let settle = dead_list(&rows, zone);
    if !settle.is_empty() {
        text.push_str("\ndead or unknown (`tend retry KEY`, `tend resolve KEY sent|dead`)\n");
        text.push_str(&settle);
    }
    // Customers waiting, by playbook and the step their main flow is in.
    let mut waiting: std::collections::BTreeMap<(String, String), usize> = Default::default();
    let hour = now() + chrono::Duration::hours(1);
    let mut due_soon = 0usize;
    store
        .each_waiting(&mut |c| {
            if c.next_wake().is_some_and(|t| t <= hour) {
                due_soon += 1;
            }
            for e in &c.enrollments {
                if e.status == crate::engine::state::Status::Active {
                    let step = e
                        .flows
                        .first()
                        .map_or("(hooks)".to_string(), |f| f.cursor.step.to_string());
                    *waiting.entry((e.playbook.to_string(), step)).or_default() += 1;
                }
            }
        })
        .map_err(failed)?;
    text.push_str(&format!("\ntimers due within the hour: {due_soon}\n"));
    if !waiting.is_empty() {
        text.push_str("\ncustomers in a playbook\n");
        for ((playbook, step), n) in &waiting {
            text.push_str(&format!("  {:<24} {:<20} {n:>8}\n", playbook, step));
        }
    }
    let stopped = store.quarantined().map_err(failed)?;
    if !stopped.is_empty() {
        text.push_str("\nquarantined (fix, then `tend retry --customer ID`)\n");
        for (id, why) in stopped {
            text.push_str(&format!("  {id}: {}\n", crate::printable::printable(&why)));
        }
    }
    let recent = store.recent_records(10).map_err(failed)?;
    if !recent.is_empty() {
        text.push_str("\nlatest records\n");
        for (at, customer, playbook, kind, detail) in recent {
            text.push_str(&format!(
                "  {} {:<12} {:<10} {:<18} {}\n",
                at.with_timezone(&zone).format("%m-%d %H:%M:%S"),
                kind,
                customer.as_deref().unwrap_or("-"),
                playbook.as_deref().unwrap_or("-"),
                crate::printable::printable(&detail)
            ));
        }
    }
    text.push_str(&format!(
        "\nnext due {}\n",
        store
            .next_due(true)
            .map_err(failed)?
            .map_or("nothing".to_string(), |t| t
                .with_timezone(&zone)
                .to_rfc3339())
    ));
    emit(|out| out.write_all(text.as_bytes()))
}

/// `tend event [--server URL] FILE|-`: posts events (JSON lines) to a
/// running runner, a thousand a request, with the token from
/// `TEND_API_TOKEN`; prints what was accepted and why any was refused.
pub fn post_events(server: &str, file: &Path) -> Result<(), Error> {
    use std::io::Read;
    let mut text = String::new();
    let read = if file == Path::new("-") {
        std::io::stdin().read_to_string(&mut text)
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text))
    };
    read.map_err(|e| Error::Usage(format!("cannot read `{}`: {e}", file.display())))?;
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let token = std::env::var("TEND_API_TOKEN").ok();
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let url = format!("{}/v1/events", server.trim_end_matches('/'));
    let (mut new, mut repeats, mut refused) = (0usize, 0usize, 0usize);
    for (chunk_no, chunk) in lines.chunks(1000).enumerate() {
        let mut req = agent
            .post(&url)
            .header("Content-Type", "application/x-ndjson");
        if let Some(t) = &token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        let mut resp = req
            .send(chunk.join("\n").as_str())
            .map_err(|e| Error::Failed(format!("cannot reach the runner at {server}: {e}")))?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().unwrap_or_default();
        let doc: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if !matches!(status, 202 | 422) {
            return Err(Error::Failed(format!(
                "the runner answered {status}: {}",
                doc["error"].as_str().unwrap_or(&body)
            )));
        }
        for a in doc["accepted"].as_array().into_iter().flatten() {
            if a["duplicate"].as_bool() == Some(true) {
                repeats += 1;
            } else {
                new += 1;
            }
        }
        for r in doc["rejected"].as_array().into_iter().flatten() {
            refused += 1;
            let line = chunk_no * 1000 + r["index"].as_u64().unwrap_or(0) as usize + 1;
            eprintln!(
                "event {line}{}: {}",
                r["id"]
                    .as_str()
                    .map(|id| format!(" ({id})"))
                    .unwrap_or_default(),
                crate::printable::printable(r["message"].as_str().unwrap_or(""))
            );
        }
    }
    println!("{new} events accepted, {repeats} already there, {refused} refused");
    if refused > 0 {
        return Err(Error::Rejected);
    }
    Ok(())
}
