//! The runner: the simulator's engine and driver with a clock, a durable
//! store, inputs and adapters. Each customer's inputs and due timers are
//! handled one at a time through [`Engine::drive`], each overdue timer at its
//! own instant; the new state, its deliveries and its records commit
//! together (the outbox), many customers to a transaction. A dispatcher then
//! hands each outbox row to its channel's adapter.

pub mod db;
pub mod dispatch;
pub mod http;
pub mod openapi;
pub mod postgres;
pub mod serve;
pub mod sqlite;
pub mod store;
pub mod view;

use crate::config::Config;
use crate::engine::state::CustomerState;
use crate::engine::{CatchUp, Effect, Engine};
use crate::intake::{Envelope, Event, Schema};
use crate::program::Program;
use crate::source::SourceFile;
use crate::value::Fields;
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;
use std::sync::Arc;
use store::{Accepted, Done, Incoming, Store, StoreError};

/// Customers claimed and committed together: one transaction's worth.
pub const BATCH: usize = 256;
/// How long a claim on a customer holds if its runner stops mid-work.
const LEASE: i64 = 60;
/// On a store several runners share: how long an attempt claimed by a
/// runner may stay unsettled before another runner takes it as a stopped
/// runner's (a batch of attempts, each up to its adapter's timeout).
pub const CLAIM_LAPSES: i64 = 15 * 60;
/// The longest one customer's advance may take before the customer is
/// quarantined: one that slow would stall every round for everyone.
const STEP_BUDGET: std::time::Duration = std::time::Duration::from_secs(5);

/// `[run]` settings the runner reads (tend.toml's, after defaults).
#[derive(Debug, Clone)]
pub struct Settings {
    /// tend.toml as checked: stored versions are rebuilt against it.
    pub config: Config,
    pub max_attempts: u32,
    pub catch_up: CatchUp,
    /// `[run] retain`: history older than this is pruned.
    pub retain: Duration,
    /// How long handled event ids are remembered: `retain`, or the longest
    /// `wait for … within` if that is longer.
    pub remember_events: Duration,
}

/// Counters since the runner started, for `/metrics`.
#[derive(Debug, Default, Clone)]
pub struct Counters {
    pub events_accepted: u64,
    pub events_duplicate: u64,
    pub events_rejected: u64,
    pub customers_advanced: u64,
    pub attempts: u64,
    /// Seconds the last round's commits took.
    pub commit_seconds: f64,
}

pub struct Runner<S: Store> {
    pub store: S,
    pub counters: Counters,
    engine: Engine,
    schema: Arc<Schema>,
    settings: Settings,
    /// `None` once handed to a thread of their own ([`Runner::take_adapters`]).
    adapters: Option<dispatch::Adapters>,
    /// Where a reload sends that thread the new adapters.
    adapter_updates: Option<std::sync::mpsc::Sender<dispatch::Adapters>>,
    outcomes: dispatch::Outcomes,
    step_budget: std::time::Duration,
    /// The channels whose far side drops a repeated key (kept here: the
    /// adapters themselves may be on another thread).
    dedupes: std::collections::HashSet<String>,
}

/// What one event of an input became.
#[derive(Debug, Clone, PartialEq)]
pub enum Intake {
    Accepted {
        id: String,
        duplicate: bool,
    },
    Rejected {
        id: Option<String>,
        /// The field at fault (`data.order_id`), when one is.
        field: Option<String>,
        message: String,
    },
}

/// An event that did not read: its id if it has one, the field at fault, why.
pub type Refused = (Option<String>, Option<String>, String);

impl<S: Store> Runner<S> {
    /// A runner over `store` for `program`, started at `started`. Versions
    /// still in use by stored enrollments are read back from the store; the
    /// program's own are saved there.
    pub fn new(
        program: &Program,
        config: &Config,
        root: &std::path::Path,
        mut store: S,
        started: DateTime<Utc>,
    ) -> Result<Self, StoreError> {
        let adapters = dispatch::Adapters::open(program, root)?;
        let dedupes = deduping(program, &adapters);
        let lapsed = store
            .shared()
            .then(|| started - Duration::seconds(CLAIM_LAPSES));
        store.recover(lapsed, &|ch| adapters.dedupes(ch))?;
        let mut runner = Runner {
            store,
            counters: Counters::default(),
            engine: Engine::new(program),
            schema: program.policy.schema.clone(),
            settings: settings(program, config, CatchUp::from_config(&config.run, started)),
            adapters: Some(adapters),
            adapter_updates: None,
            outcomes: dispatch::Outcomes::new(program, config.run.max_attempts),
            step_budget: STEP_BUDGET,
            dedupes,
        };
        runner.deploy(program, started)?;
        Ok(runner)
    }

    /// Takes a new program while running (a playbook edited, SIGHUP): new
    /// entries take its versions, customers already in a playbook finish on
    /// the version they entered. Nothing changes if its channels cannot be
    /// opened. Returns the playbook versions the store had not seen.
    pub fn reload(
        &mut self,
        program: &Program,
        config: &Config,
        root: &std::path::Path,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let adapters = dispatch::Adapters::open(program, root)?;
        self.dedupes = deduping(program, &adapters);
        match &self.adapter_updates {
            Some(thread) => {
                let _ = thread.send(adapters);
            }
            None => self.adapters = Some(adapters),
        }
        self.outcomes = dispatch::Outcomes::new(program, config.run.max_attempts);
        self.schema = program.policy.schema.clone();
        // Missed fires are judged from when the runner started, not from a reload.
        let catch_up = CatchUp::from_config(&config.run, self.settings.catch_up.started);
        self.settings = settings(program, config, catch_up);
        self.deploy(program, now)
    }

    /// Saves the program's versions, builds the engine over them and every
    /// older version still stored, and wakes idle customers if anything is new.
    fn deploy(
        &mut self,
        program: &Program,
        now: DateTime<Utc>,
    ) -> Result<Vec<(String, String)>, StoreError> {
        let current: Vec<(String, String)> = program
            .playbooks
            .iter()
            .map(|p| (p.name.to_string(), p.version.to_string()))
            .collect();
        let mut older = Vec::new();
        for (playbook, version, text) in self.store.versions()? {
            if current.contains(&(playbook.clone(), version.clone())) {
                continue;
            }
            match crate::program::version::rebuild(&self.settings.config, &text) {
                Ok(pb) => older.push(Arc::new(pb)),
                // Its enrollments end as `failed`, with a record, when next loaded.
                Err(e) => tracing::warn!(
                    %playbook, %version, error = %e,
                    "a stored version cannot be loaded; its enrollments end as failed"
                ),
            }
        }
        let mut new = Vec::new();
        for p in &program.playbooks {
            if self.store.save_version(&p.name, &p.version, &p.text)? {
                new.push((p.name.to_string(), p.version.to_string()));
            }
        }
        if !new.is_empty() {
            self.store.wake_all(now)?;
        }
        self.engine = Engine::with_versions(program, older);
        if program.playbooks.iter().any(|p| p.broadcast) {
            // Broadcast runs belong to the customer with the empty id.
            let mut state = CustomerState::new("", Fields::new());
            self.engine.init(&mut state, now);
            self.store.insert_customer(&state, now)?;
        }
        Ok(new)
    }

    /// Reads events (one JSON envelope per line) and accepts the good ones.
    /// An event without `id` is keyed by its content, so a repeat is still one.
    pub fn accept(&mut self, lines: &[&str]) -> Result<Vec<Intake>, StoreError> {
        let read: Vec<Result<Envelope, Refused>> = lines
            .iter()
            .map(|line| {
                let src = SourceFile::new("request.jsonl", line.to_string());
                match crate::intake::read_events(&src, &self.schema) {
                    Ok(mut loaded) if loaded.items.len() == 1 => Ok(loaded.items.remove(0).item),
                    Ok(_) => Err((None, None, "one JSON event per line".to_string())),
                    Err(e) => Err((envelope_id(line), e.field, e.message)),
                }
            })
            .collect();
        self.accept_envelopes(read)
    }

    /// Accepts events already read (a file being imported, or a request).
    /// Each is kept in the engine's stored form, so a repeat with the same
    /// content (however it was laid out) is a duplicate.
    pub fn accept_envelopes(
        &mut self,
        read: Vec<Result<Envelope, Refused>>,
    ) -> Result<Vec<Intake>, StoreError> {
        let mut out: Vec<Option<Intake>> = Vec::with_capacity(read.len());
        let mut good = Vec::new();
        for (i, r) in read.into_iter().enumerate() {
            match r {
                Ok(env) => {
                    let body =
                        serde_json::to_string(&env.event).map_err(|e| StoreError(e.to_string()))?;
                    let id = env
                        .id
                        .clone()
                        .unwrap_or_else(|| content_id(&env.customer, env.at, &body));
                    good.push((
                        i,
                        Incoming {
                            id,
                            customer: env.customer,
                            at: env.at,
                            body,
                        },
                    ));
                    out.push(None);
                }
                Err((id, field, message)) => {
                    out.push(Some(Intake::Rejected { id, field, message }))
                }
            }
        }
        let incoming: Vec<Incoming> = good.iter().map(|(_, e)| e.clone()).collect();
        let results = self.store.accept(&incoming)?;
        self.counters.events_rejected += (out.len() - incoming.len()) as u64;
        for r in &results {
            match r {
                Accepted::New => self.counters.events_accepted += 1,
                Accepted::Duplicate => self.counters.events_duplicate += 1,
                Accepted::Conflict => self.counters.events_rejected += 1,
            }
        }
        for ((i, e), r) in good.into_iter().zip(results) {
            out[i] = Some(match r {
                Accepted::New => Intake::Accepted {
                    id: e.id,
                    duplicate: false,
                },
                Accepted::Duplicate => Intake::Accepted {
                    id: e.id,
                    duplicate: true,
                },
                Accepted::Conflict => Intake::Rejected {
                    id: Some(e.id),
                    field: Some("id".into()),
                    message: "this id was accepted before with another body".into(),
                },
            });
        }
        Ok(out.into_iter().flatten().collect())
    }

    /// Another time budget per customer advance than the default 5 s (tests).
    pub fn set_step_budget(&mut self, budget: std::time::Duration) {
        self.step_budget = budget;
    }

    /// Creates or replaces a customer's attributes, keeping what the customer is in.
    pub fn put_customer(
        &mut self,
        id: &str,
        attrs: Fields,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        self.put_customers(vec![(id.to_string(), attrs)], now)
    }

    /// [`Runner::put_customer`] for many, in one transaction (an import).
    /// Safe beside a running runner: a customer it is working on right now
    /// is changed once its work is committed.
    pub fn put_customers(
        &mut self,
        customers: Vec<(String, Fields)>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (mut ids, mut attrs): (Vec<String>, Vec<Option<Fields>>) =
            customers.into_iter().map(|(id, a)| (id, Some(a))).unzip();
        for _ in 0..600 {
            let engine = &self.engine;
            let claimed = self
                .store
                .put_customers(&ids, now, &mut |i, stored, opted_out| {
                    let mut state = stored.unwrap_or_else(|| {
                        let mut s = CustomerState::new(ids[i].as_str(), Fields::new());
                        s.do_not_contact = opted_out;
                        s
                    });
                    state.attrs = attrs[i].take().unwrap_or_default();
                    engine.init(&mut state, now);
                    state
                })?;
            if claimed.is_empty() {
                return Ok(());
            }
            ids = claimed
                .iter()
                .map(|&i| std::mem::take(&mut ids[i]))
                .collect();
            attrs = claimed.iter().map(|&i| attrs[i].take()).collect();
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        Err(StoreError(format!(
            "{} customers stayed claimed by a runner for a minute; import them again",
            ids.len()
        )))
    }

    /// `DELETE /v1/customers/{id}`: forgets the customer (see [`Store::erase`]).
    pub fn erase(&mut self, id: &str) -> Result<Option<store::Erased>, StoreError> {
        self.store.erase(id)
    }

    /// Handles every input and timer due at `now`, in batches of customers,
    /// each batch one transaction. Returns the customers advanced.
    pub fn work(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut n = 0;
        loop {
            // Read before claiming: a cancel after this point drops what the batch sends.
            let controls = self.store.controls()?;
            self.engine.set_paused(
                controls
                    .playbooks
                    .iter()
                    .filter(|c| c.paused.is_some())
                    .map(|c| c.playbook.clone())
                    .collect(),
            );
            let claimed = self
                .store
                .claim(now, BATCH, now + Duration::seconds(LEASE))?;
            if claimed.is_empty() {
                return Ok(n);
            }
            n += claimed.len();
            let mut done = Vec::with_capacity(claimed.len());
            let mut slow = Vec::new();
            for mut w in claimed {
                let customer = w.customer.clone();
                // A customer the store does not hold is new, unless an erased
                // customer with this id had opted out: that mark stays set.
                if w.state.is_none() {
                    let mut state = CustomerState::new(customer.as_str(), Fields::new());
                    state.do_not_contact = w.opted_out;
                    w.state = Some(state);
                }
                let began = std::time::Instant::now();
                // One customer whose step fails stops alone: the runner never
                // crash-loops on it, and its state and inputs wait for a fix.
                match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    self.advance(w, now, &controls)
                })) {
                    Ok(d) => {
                        // Its work is kept; it is stopped so it cannot stall the next round too.
                        let took = began.elapsed();
                        if took > self.step_budget {
                            slow.push((customer, took));
                        }
                        done.push(d)
                    }
                    Err(panic) => {
                        let why = panic
                            .downcast_ref::<String>()
                            .map(String::as_str)
                            .or_else(|| panic.downcast_ref::<&str>().copied())
                            .unwrap_or("the engine failed");
                        tracing::warn!(%customer, why, "customer quarantined: `tend retry --customer ID` after a fix");
                        self.store.quarantine(&customer, why, now)?;
                    }
                }
            }
            let started = std::time::Instant::now();
            self.counters.customers_advanced += done.len() as u64;
            self.store.commit(done)?;
            self.counters.commit_seconds = started.elapsed().as_secs_f64();
            for (customer, took) in slow {
                let why = format!(
                    "advancing this customer took {:.1} s, over the budget of {:.1} s",
                    took.as_secs_f64(),
                    self.step_budget.as_secs_f64()
                );
                tracing::warn!(%customer, why, "customer quarantined: `tend retry --customer ID` after a fix");
                self.store.quarantine(&customer, &why, now)?;
            }
        }
    }

    /// One customer through its inputs and timers up to `now`.
    fn advance(&self, w: store::Work, now: DateTime<Utc>, controls: &store::Controls) -> Done {
        let mut out: Vec<Effect> = Vec::new();
        let mut inputs: VecDeque<(DateTime<Utc>, Event)> = VecDeque::new();
        let mut handled = Vec::with_capacity(w.inputs.len());
        // Inputs are handled in time order, never before where the customer already is.
        let start = w
            .advanced_to
            .or_else(|| w.inputs.first().map(|i| i.at))
            .unwrap_or(now);
        let mut state = match w.state {
            Some(s) => s,
            None => CustomerState::new(w.customer.as_str(), Fields::new()),
        };
        out.extend(self.engine.init(&mut state, start));
        // A cancel since this state was last saved ends what it had in that playbook.
        for c in &controls.playbooks {
            if c.cancel_generation > w.generation {
                let at = c.cancelled.map_or(start, |t| t.max(start));
                out.extend(self.engine.cancel(&mut state, &c.playbook, at));
            }
        }
        for input in w.inputs {
            match serde_json::from_str::<Event>(&input.body) {
                Ok(event) => inputs.push_back((input.at.max(start), event)),
                // Never expected (the store holds what this module wrote): say so, never drop it unseen.
                Err(e) => out.push(Effect::Record(crate::engine::Record {
                    at: now,
                    customer: Some(w.customer.as_str().into()),
                    playbook: None,
                    step: None,
                    kind: crate::engine::RecordKind::Failed,
                    detail: format!("stored event `{}` does not read back: {e}", input.id).into(),
                })),
            }
            handled.push(input.id);
        }
        self.engine.drive(
            &mut state,
            &mut inputs,
            now + Duration::seconds(1),
            Some(&self.settings.catch_up),
            &mut out,
        );
        let mut deliveries = Vec::new();
        let mut records = Vec::new();
        for e in out {
            match e {
                Effect::Deliver(d) => {
                    let quiet = self.engine.quiet_for(&state, &d);
                    deliveries.push((d, quiet));
                }
                Effect::Record(r) => records.push(r),
                Effect::Reached(_) => {}
            }
        }
        Done {
            customer: w.customer,
            state,
            advanced_to: now.max(start),
            handled,
            deliveries,
            records,
            generation: controls.generation,
            lease: w.lease,
        }
    }

    /// Attempts the deliveries due at `now`, in batches, the adapters
    /// called here; returns how many were attempted.
    pub fn dispatch(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        let mut n = 0;
        while let Some(ready) = self.dispatch_begin(now)? {
            n += ready.len();
            let tried = match &self.adapters {
                Some(a) => a.attempt(ready),
                None => return Err(StoreError("the adapters run on another thread".into())),
            };
            self.dispatch_end(tried, now)?;
        }
        Ok(n)
    }

    /// Claims the next batch of due deliveries and settles those the checks
    /// before an attempt decide; returns the rest, for the adapters
    /// (`None`: nothing is due).
    pub fn dispatch_begin(
        &mut self,
        now: DateTime<Utc>,
    ) -> Result<Option<Vec<store::Outgoing>>, StoreError> {
        loop {
            let rows = self.store.claim_deliveries(now, dispatch::DELIVERY_BATCH)?;
            if rows.is_empty() {
                return Ok(None);
            }
            self.counters.attempts += rows.len() as u64;
            let checked = self.outcomes.check(rows, now);
            if !checked.settled.is_empty() {
                self.store.settle(&checked.settled, now)?;
            }
            if !checked.records.is_empty() {
                self.store.record(&checked.records)?;
            }
            if !checked.ready.is_empty() {
                return Ok(Some(checked.ready));
            }
        }
    }

    /// Records how the adapters' attempts of a batch ended.
    pub fn dispatch_end(
        &mut self,
        tried: Vec<dispatch::Tried>,
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let settled: Vec<_> = tried
            .into_iter()
            .map(|(key, attempts, _, attempt)| self.outcomes.settle(key, attempts, attempt, now))
            .collect();
        self.store.settle(&settled, now)
    }

    /// Hands the adapters to a thread of their own; a reload then sends
    /// that thread the new ones through `updates`.
    pub fn take_adapters(
        &mut self,
        updates: std::sync::mpsc::Sender<dispatch::Adapters>,
    ) -> Option<dispatch::Adapters> {
        self.adapter_updates = Some(updates);
        self.adapters.take()
    }

    /// On a store several runners share: takes over the attempts of a
    /// runner that stopped mid-attempt, once their claim has lapsed (the
    /// same rule as at start). Returns how many.
    pub fn recover_lapsed(&mut self, now: DateTime<Utc>) -> Result<usize, StoreError> {
        if !self.store.shared() {
            return Ok(0);
        }
        let dedupes = &self.dedupes;
        self.store
            .recover(Some(now - Duration::seconds(CLAIM_LAPSES)), &|ch| {
                dedupes.contains(ch)
            })
    }

    /// Retention: drops settled deliveries, records and handled event ids
    /// older than `[run] retain` (event ids: never before the longest
    /// `wait for` window has passed).
    pub fn prune(&mut self, now: DateTime<Utc>) -> Result<store::Pruned, StoreError> {
        self.store.prune(
            now - self.settings.retain,
            now - self.settings.remember_events,
        )
    }

    /// `GET /v1/customers/{id}`: the customer, their enrollments, and their
    /// latest deliveries and records; `None` for a customer not stored.
    pub fn view(&mut self, id: &str) -> Result<Option<serde_json::Value>, StoreError> {
        let Some(state) = self.store.customer(id)? else {
            return Ok(None);
        };
        let zone = self.engine.policy().zone;
        let at = |t: DateTime<Utc>| t.with_timezone(&zone).to_rfc3339();
        let mut v = view::customer(&state, zone);
        let (sent, records) = self.store.history(id, 20)?;
        v["deliveries"] = sent
            .iter()
            .map(|(key, d, status)| {
                serde_json::json!({
                    "key": key, "at": at(d.at), "playbook": &*d.playbook, "channel": &*d.channel,
                    "text": d.text.as_deref(), "status": status.name(),
                })
            })
            .collect();
        v["records"] = records
            .iter()
            .map(|(t, playbook, kind, detail)| {
                serde_json::json!({ "at": at(*t), "playbook": playbook, "kind": kind, "detail": detail })
            })
            .collect();
        Ok(Some(v))
    }

    /// `/metrics` in Prometheus' text format: the counters, the outbox by
    /// status, and how late the earliest due work is.
    pub fn metrics(&mut self, now: DateTime<Utc>) -> Result<String, StoreError> {
        let c = &self.counters;
        let mut out = String::new();
        let mut metric = |name: &str, kind: &str, help: &str, lines: Vec<(String, String)>| {
            out.push_str(&format!(
                "# HELP tend_{name} {help}\n# TYPE tend_{name} {kind}\n"
            ));
            for (labels, value) in lines {
                out.push_str(&format!("tend_{name}{labels} {value}\n"));
            }
        };
        metric(
            "events_total",
            "counter",
            "Events offered to the API or an import, by outcome.",
            vec![
                (
                    "{outcome=\"accepted\"}".into(),
                    c.events_accepted.to_string(),
                ),
                (
                    "{outcome=\"duplicate\"}".into(),
                    c.events_duplicate.to_string(),
                ),
                (
                    "{outcome=\"rejected\"}".into(),
                    c.events_rejected.to_string(),
                ),
            ],
        );
        metric(
            "customers_advanced_total",
            "counter",
            "Customers advanced through their inputs and timers.",
            vec![(String::new(), c.customers_advanced.to_string())],
        );
        metric(
            "delivery_attempts_total",
            "counter",
            "Deliveries handed to an adapter.",
            vec![(String::new(), c.attempts.to_string())],
        );
        metric(
            "commit_seconds",
            "gauge",
            "How long the last batch of customers took to commit.",
            vec![(String::new(), format!("{:.6}", c.commit_seconds))],
        );
        let counts = self.store.outbox_counts()?;
        metric(
            "outbox",
            "gauge",
            "Deliveries in the outbox, by status.",
            counts
                .iter()
                .map(|(s, n)| (format!("{{status=\"{}\"}}", s.name()), n.to_string()))
                .collect(),
        );
        let lag = self
            .store
            .next_due(true)?
            .map_or(0, |t| (now - t).num_seconds().max(0));
        metric(
            "due_lag_seconds",
            "gauge",
            "How long the earliest due timer, input or delivery has waited.",
            vec![(String::new(), lag.to_string())],
        );
        Ok(out)
    }

    pub fn schema(&self) -> &Schema {
        &self.schema
    }

    /// The next instant anything is due.
    pub fn next_due(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.next_due(true)
    }

    /// The next instant a timer or an input is due (deliveries aside).
    pub fn next_work_due(&mut self) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.store.next_due(false)
    }
}

fn deduping(program: &Program, adapters: &dispatch::Adapters) -> std::collections::HashSet<String> {
    program
        .policy
        .channels
        .iter()
        .filter(|c| adapters.dedupes(&c.name))
        .map(|c| c.name.to_string())
        .collect()
}

fn settings(program: &Program, config: &Config, catch_up: CatchUp) -> Settings {
    Settings {
        config: config.clone(),
        max_attempts: config.run.max_attempts,
        catch_up,
        retain: config.run.retain,
        remember_events: config.run.retain.max(longest_wait(program)),
    }
}

/// The longest `wait for … within` window of any playbook.
fn longest_wait(program: &Program) -> Duration {
    let mut longest = Duration::zero();
    for pb in &program.playbooks {
        for step in &pb.steps {
            crate::program::walk::block(&step.body, &mut |u| {
                if let crate::program::walk::Use::Action(crate::program::Action::WaitFor(w)) = u {
                    if let Some(d) = &w.within {
                        // A day is at most 25 hours (a DST change): never remember too little.
                        let secs = d.days.saturating_mul(25 * 3600).saturating_add(d.seconds);
                        longest = longest.max(Duration::seconds(secs.clamp(0, i64::MAX / 1000)));
                    }
                }
            });
        }
    }
    longest
}

/// The id of an event that gave none: a hash of what it says.
fn content_id(customer: &str, at: DateTime<Utc>, body: &str) -> String {
    use sha2::{Digest, Sha256};
    let h = Sha256::digest(format!("{customer}\u{1f}{}\u{1f}{body}", at.timestamp()).as_bytes());
    let hex: String = h[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The `id` of a line that did not read as an event, if it has one.
fn envelope_id(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    v.get("id")?.as_str().map(String::from)
}
