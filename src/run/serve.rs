//! `tend run`: one writer thread owns the store and the runner (inputs,
//! due work and deliveries, in that order, each round), while an HTTP
//! server hands it requests. SIGTERM or Ctrl-C stops taking input, lets the
//! round in hand finish, and exits 0. SIGHUP, or a change to the project's
//! files, lints the project again and, if it is clean, runs the new version.

use super::http::{self, Api, Request};
use super::store::Store;
use super::Runner;
use chrono::{DateTime, Utc};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// What `tend run` was asked.
pub struct Options {
    pub project: PathBuf,
    pub db: Option<PathBuf>,
    pub listen: SocketAddr,
    /// Log lines as JSON objects (one a line) rather than for people.
    pub json_logs: bool,
}

/// Logs go to standard error through `tracing`; `TEND_LOG` (e.g. `debug`)
/// sets the level, `info` by default.
fn start_logging(json: bool) {
    let level = std::env::var("TEND_LOG")
        .ok()
        .and_then(|l| l.parse::<tracing::Level>().ok())
        .unwrap_or(tracing::Level::INFO);
    let builder = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(level)
        .with_target(false);
    // Already set (a second runner in one process, as in tests): keep it.
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// The largest request body taken.
const MAX_BODY: usize = 10 << 20;
/// The longest the writer sleeps when nothing is due (a new input wakes it).
const IDLE: Duration = Duration::from_secs(1);
/// How often the project's files are looked at for changes.
const WATCH: Duration = Duration::from_secs(1);
/// How often retention prunes old history.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// How often, on a store several runners share, a stopped runner's lapsed
/// attempts are looked for.
const RECOVER_EVERY: Duration = Duration::from_secs(60);

/// Whole seconds: every instant the runner stores is.
fn now() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_default()
}

pub fn serve(opts: &Options) -> Result<(), crate::command::Error> {
    use crate::command::Error;
    start_logging(opts.json_logs);
    let crate::command::run::Project {
        program,
        config,
        root,
        db,
    } = crate::command::run::Project::open(&opts.project, opts.db.as_deref())?;
    let token = std::env::var("TEND_API_TOKEN")
        .ok()
        .filter(|t| !t.is_empty());
    if token.is_none() && !opts.listen.ip().is_loopback() {
        return Err(Error::Usage(format!(
            "refusing to listen on {} without TEND_API_TOKEN: set it, or listen on 127.0.0.1",
            opts.listen
        )));
    }
    let store = db.open().map_err(|e| Error::Failed(e.to_string()))?;
    let started = now();
    let mut runner = Runner::new(&program, &config, &root, store, started)
        .map_err(|e| Error::Failed(e.to_string()))?;

    println!("tend run: project {}", root.display());
    println!("  store     {db}");
    println!("  listening http://{}", opts.listen);
    for p in &program.playbooks {
        println!("  playbook  {} (version {})", p.name, p.version);
    }
    for c in &program.policy.channels {
        println!("  channel   {} → {}", c.name, c.adapter);
    }

    let (tx, rx) = std::sync::mpsc::channel::<Request>();
    let stop = Arc::new(AtomicBool::new(false));
    let hangup = Arc::new(AtomicBool::new(false));
    {
        let (stop, hangup, tx) = (stop.clone(), hangup.clone(), tx.clone());
        let (project, db) = (opts.project.clone(), opts.db.clone());
        std::thread::Builder::new()
            .name("tend-watch".into())
            .spawn(move || watch(&project, db.as_deref(), &tx, &stop, &hangup))
            .map_err(|e| Error::Failed(format!("cannot start the project watcher: {e}")))?;
    }
    // Adapters are called on a thread of their own, so a slow far side
    // never holds up intake or customers' work; every store write stays on
    // the writer.
    let (updates, new_adapters) = std::sync::mpsc::channel();
    let (jobs, batches) = std::sync::mpsc::channel::<Vec<super::store::Outgoing>>();
    let delivery = {
        let adapters = runner
            .take_adapters(updates)
            .ok_or_else(|| Error::Failed("the adapters were already taken".into()))?;
        let results = tx.clone();
        std::thread::Builder::new()
            .name("tend-deliver".into())
            .spawn(move || deliver_loop(adapters, &batches, &new_adapters, &results))
            .map_err(|e| Error::Failed(format!("cannot start the delivery thread: {e}")))?
    };
    let writer = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("tend-writer".into())
            .spawn(move || writer_loop(&mut runner, &rx, jobs, &stop))
            .map_err(|e| Error::Failed(format!("cannot start the writer: {e}")))?
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Error::Failed(format!("cannot start the HTTP server: {e}")))?;
    let api = Api {
        writer: tx,
        token: token.map(Arc::from),
    };
    let served = tokio.block_on(async {
        let listener = tokio::net::TcpListener::bind(opts.listen)
            .await
            .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", opts.listen)))?;
        #[cfg(unix)]
        {
            let hangup = hangup.clone();
            if let Ok(mut hup) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            {
                tokio::spawn(async move {
                    while hup.recv().await.is_some() {
                        hangup.store(true, Ordering::Relaxed);
                    }
                });
            }
        }
        axum::serve(listener, http::router(api, MAX_BODY))
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(|e| Error::Failed(format!("the HTTP server stopped: {e}")))
    });
    stop.store(true, Ordering::Relaxed);
    let _ = writer.join();
    let _ = delivery.join();
    tracing::info!("stopped");
    served
}

/// The project's files with their size and modification time: any change
/// (an edit, a file added or removed) gives another value.
fn stamp(project: &std::path::Path) -> Vec<(PathBuf, Option<std::time::SystemTime>, u64)> {
    let Ok(targets) = crate::project::targets(&[project.to_path_buf()]) else {
        return Vec::new();
    };
    targets
        .iter()
        .flat_map(|t| std::iter::once(&t.config).chain(&t.playbooks))
        .map(|f| {
            let meta = std::fs::metadata(f).ok();
            (
                f.clone(),
                meta.as_ref().and_then(|m| m.modified().ok()),
                meta.map_or(0, |m| m.len()),
            )
        })
        .collect()
}

/// Lints the project again on SIGHUP or when its files change; a clean
/// project goes to the writer, one with errors is refused (the running
/// versions go on).
fn watch(
    project: &std::path::Path,
    db: Option<&std::path::Path>,
    writer: &std::sync::mpsc::Sender<Request>,
    stop: &AtomicBool,
    hangup: &AtomicBool,
) {
    let mut seen = stamp(project);
    while !stop.load(Ordering::Relaxed) {
        std::thread::sleep(WATCH);
        let now = stamp(project);
        let signalled = hangup.swap(false, Ordering::Relaxed);
        if now == seen && !signalled {
            continue;
        }
        seen = now;
        tracing::info!("the project changed; linting it again");
        match crate::command::run::Project::open(project, db) {
            Ok(p) => {
                if writer.send(Request::Reload(Box::new(p))).is_err() {
                    return;
                }
            }
            Err(_) => tracing::warn!(
                "the project has errors (printed above); still running the versions it had"
            ),
        }
    }
}

async fn shutdown() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => return ctrl_c.await.unwrap_or(()),
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}

/// Rounds until stopped: requests and delivery outcomes first (committed
/// before they are answered), then due work, then the next batch of
/// deliveries to the adapters' thread if none is out; then sleep until the
/// next due instant or the next request.
fn writer_loop<S: Store>(
    runner: &mut Runner<S>,
    rx: &Receiver<Request>,
    jobs: std::sync::mpsc::Sender<Vec<super::store::Outgoing>>,
    stop: &AtomicBool,
) {
    let mut wait = Duration::ZERO;
    let mut pruned: Option<std::time::Instant> = None;
    let mut recovered = std::time::Instant::now();
    // A batch is with the adapters: the next waits for its outcomes.
    let mut in_flight = false;
    let take = |runner: &mut Runner<S>, req: Request, in_flight: &mut bool| match req {
        Request::Delivered(tried) => {
            *in_flight = false;
            if let Err(e) = runner.dispatch_end(tried, now()) {
                tracing::error!(error = %e, "recording deliveries failed; they are retried after a restart");
            }
        }
        other => handle(runner, other),
    };
    while !stop.load(Ordering::Relaxed) {
        if pruned.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
            pruned = Some(std::time::Instant::now());
            match runner.prune(now()) {
                Ok(p) if p != Default::default() => tracing::info!(
                    deliveries = p.deliveries,
                    records = p.records,
                    events = p.events,
                    "retention removed old history"
                ),
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "retention failed"),
            }
        }
        if recovered.elapsed() >= RECOVER_EVERY {
            recovered = std::time::Instant::now();
            match runner.recover_lapsed(now()) {
                Ok(0) => {}
                Ok(n) => tracing::warn!(
                    deliveries = n,
                    "took over attempts a stopped runner left unsettled"
                ),
                Err(e) => {
                    tracing::error!(error = %e, "looking for a stopped runner's attempts failed")
                }
            }
        }
        match rx.recv_timeout(wait) {
            Ok(first) => {
                take(runner, first, &mut in_flight);
                while let Ok(more) = rx.try_recv() {
                    take(runner, more, &mut in_flight);
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
        let t = now();
        if let Err(e) = runner.work(t) {
            tracing::error!(error = %e, "advancing customers failed; trying again next round");
        }
        if !in_flight {
            match runner.dispatch_begin(t) {
                Ok(Some(batch)) => in_flight = jobs.send(batch).is_ok(),
                Ok(None) => {}
                Err(e) => tracing::error!(error = %e, "delivering failed; trying again next round"),
            }
        }
        // While a batch is out, due deliveries wait for its outcomes (which
        // wake this loop); timers and inputs do not.
        let next = if in_flight {
            runner.next_work_due()
        } else {
            runner.next_due()
        };
        wait = match next {
            Ok(Some(next)) if next > t => (next - t).to_std().unwrap_or(IDLE).min(IDLE),
            Ok(Some(_)) => Duration::from_millis(50),
            _ => IDLE,
        };
    }
    // Stopping: the batch with the adapters is recorded before the exit (bounded).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while in_flight {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(req) => take(runner, req, &mut in_flight),
            Err(_) => break,
        }
    }
}

/// Hands each batch to the adapters and sends the outcomes back to the writer.
fn deliver_loop(
    mut adapters: super::dispatch::Adapters,
    batches: &Receiver<Vec<super::store::Outgoing>>,
    new_adapters: &Receiver<super::dispatch::Adapters>,
    results: &std::sync::mpsc::Sender<Request>,
) {
    for batch in batches.iter() {
        // A reload's adapters take over between batches.
        while let Ok(newer) = new_adapters.try_recv() {
            adapters = newer;
        }
        // An adapter that panics fails its batch, to be retried; the thread goes on.
        let rows: Vec<_> = batch
            .iter()
            .map(|r| (r.key.clone(), r.attempts, r.delivery.channel))
            .collect();
        let tried =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| adapters.attempt(batch)))
                .unwrap_or_else(|_| {
                    tracing::error!("an adapter failed; its batch is retried");
                    rows.into_iter()
                        .map(|(key, attempts, channel)| {
                            let failed = crate::channels::Attempt::Retry {
                                reply: "the adapter failed (a bug in tend); tried again later"
                                    .into(),
                                after: None,
                            };
                            (key, attempts, channel, failed)
                        })
                        .collect()
                });
        if results.send(Request::Delivered(tried)).is_err() {
            return;
        }
    }
}

fn handle<S: Store>(runner: &mut Runner<S>, req: Request) {
    match req {
        Request::Events(lines, reply) => {
            let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
            let result = runner.accept(&refs).map_err(|e| {
                tracing::error!(error = %e, "a request failed");
                e.to_string()
            });
            let _ = reply.send(result);
        }
        Request::Customer(id, body, reply) => {
            let result = match customer_attrs(runner, &id, &body) {
                Err(mistake) => Ok(Some(mistake)),
                Ok(attrs) => runner
                    .put_customer(&id, attrs, now())
                    .map(|()| None)
                    .map_err(|e| {
                        tracing::error!(error = %e, "a request failed");
                        e.to_string()
                    }),
            };
            let _ = reply.send(result);
        }
        Request::View(id, reply) => {
            let _ = reply.send(runner.view(&id).map_err(|e| {
                tracing::error!(error = %e, "a request failed");
                e.to_string()
            }));
        }
        Request::Erase(id, reply) => {
            let _ = reply.send(runner.erase(&id).map_err(|e| {
                tracing::error!(error = %e, "a request failed");
                e.to_string()
            }));
        }
        Request::Metrics(reply) => {
            let _ = reply.send(runner.metrics(now()).map_err(|e| e.to_string()));
        }
        Request::Reload(p) => match runner.reload(&p.program, &p.config, &p.root, now()) {
            Ok(new) if new.is_empty() => tracing::info!("reloaded; no playbook changed"),
            Ok(new) => {
                for (playbook, version) in new {
                    tracing::info!(
                        %playbook, %version,
                        "new entries take this version; customers already in the playbook finish on theirs"
                    );
                }
            }
            Err(e) => tracing::warn!(error = %e, "not reloaded; still running the versions it had"),
        },
        // Taken by the writer loop itself.
        Request::Delivered(_) => {}
        Request::Health(reply) => {
            let _ = reply.send(runner.next_due().map(|_| ()).map_err(|e| e.to_string()));
        }
    }
}

/// A customer's attributes from a JSON object, checked against the schema.
fn customer_attrs<S: Store>(
    runner: &Runner<S>,
    id: &str,
    body: &str,
) -> Result<crate::value::Fields, String> {
    let mut obj: serde_json::Map<String, serde_json::Value> = serde_json::from_str(body)
        .map_err(|e| format!("the body is not a JSON object of attributes: {e}"))?;
    obj.insert("id".into(), id.into());
    let line = serde_json::Value::Object(obj).to_string();
    let src = crate::source::SourceFile::new("customer.jsonl", line);
    let mut loaded = crate::intake::read_customers(&src, runner.schema()).map_err(|e| e.message)?;
    Ok(loaded.items.remove(0).item.attrs)
}
