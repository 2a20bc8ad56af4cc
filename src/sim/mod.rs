//! The dry-run: the engine driven by a virtual clock over sample customers
//! and events. Customers are independent, so they run on all cores, handed out
//! in batches: memory holds the customers in flight and the tallies, not every
//! customer's state.

pub mod assume;
pub mod files;
pub mod funnel;
pub mod input;
pub mod journey;
pub mod population;
pub mod report;
mod tally;
mod timeline;

use crate::engine::state::{CustomerState, Status, Wait};
use crate::engine::{Delivery, Effect, Engine, Inputs, Record};
use crate::intake::Event;
use crate::program::Program;
use crate::value::Fields;
use assume::Behaviour;
use chrono::{DateTime, Utc};
pub use funnel::{Funnel, StepCount};
use input::{SampleCustomer, SampleEvent};
pub use population::{Population, Sample, SlicePopulation};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
pub use tally::Tally;

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    /// The deliveries of the customers the run kept (see [`Keep`]), by time.
    pub sends: Vec<Delivery>,
    pub records: Vec<Record>,
    /// The waits the kept customers' flows opened, by time.
    pub waits: Vec<journey::Waiting>,
    pub playbooks: Vec<Funnel>,
    /// Counts over every customer, kept or not.
    pub tally: Tally,
    pub warnings: Vec<String>,
    /// The zone each kept customer's times are shown in (looked up once per
    /// delivery by the JSON report).
    pub zones: HashMap<String, chrono_tz::Tz>,
    /// How many customers ran (the broadcast pseudo-customer not counted).
    pub customers: usize,
}

/// Whose deliveries and records a run keeps besides the tallies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Keep {
    /// Everyone's (the JSON report, tests).
    All,
    /// Only this customer's and the broadcasts'.
    Customer(String),
    /// Everyone's when there are at most this many customers, else only broadcasts'.
    UpTo(usize),
}

/// How to run a simulation: the window [from, until) and the rest.
#[derive(Clone)]
pub struct Options<'a> {
    pub from: DateTime<Utc>,
    pub until: DateTime<Utc>,
    pub threads: usize,
    /// Answers awaited events with the behaviour model.
    pub behaviour: Option<&'a Behaviour>,
    /// Counts finished customers (for a progress bar).
    pub progress: Option<&'a AtomicUsize>,
    pub keep: Keep,
    /// Writes each customer's state to its stored form and reads it back
    /// between every two engine calls, as a runner would: the report must
    /// not change (a check that nothing lives outside the stored state).
    pub roundtrip: bool,
}

impl<'a> Options<'a> {
    /// All cores, no behaviour model, keeping everything.
    pub fn new(from: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        Options {
            from,
            until,
            threads: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            behaviour: None,
            progress: None,
            keep: Keep::All,
            roundtrip: false,
        }
    }
}

/// Runs the window [from, until) on all cores, keeping every delivery.
pub fn simulate(
    program: &Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Outcome {
    simulate_with(program, customers, events, &Options::new(from, until))
}

/// [`simulate`] with options.
pub fn simulate_with(
    program: &Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    opts: &Options,
) -> Outcome {
    let population = SlicePopulation::new(customers, events, opts.from, opts.until, "");
    simulate_population(program, &population, opts)
}

/// Runs every customer the population hands out.
pub fn simulate_population(
    program: &Program,
    population: &dyn Population,
    opts: &Options,
) -> Outcome {
    let engine = Engine::new(program);
    // With `Keep::UpTo(n)`, customers are kept while no more than n have
    // run; when more ran in the end, none are (the count may be known only then).
    let settled = AtomicUsize::new(0);
    let keep_upto = match &opts.keep {
        Keep::UpTo(n) if population.known_len().is_none_or(|len| len <= *n) => Some(*n),
        _ => None,
    };
    // Whose waits to watch: only those whose timelines can be kept.
    let watched = |id: &str| {
        id.is_empty()
            || match &opts.keep {
                Keep::All => true,
                Keep::Customer(c) => c == id,
                Keep::UpTo(_) => keep_upto.is_some(),
            }
    };
    let kept = |id: &str| {
        id.is_empty()
            || match &opts.keep {
                Keep::All => true,
                Keep::Customer(c) => c == id,
                Keep::UpTo(_) => {
                    keep_upto.is_some_and(|n| settled.fetch_add(1, Ordering::Relaxed) < n)
                }
            }
    };
    let empty: Vec<Funnel> = program
        .playbooks
        .iter()
        .map(|p| Funnel {
            name: p.name.to_string(),
            key: p.name,
            steps: p.steps.iter().map(|s| StepCount::new(&s.name)).collect(),
            ..Funnel::default()
        })
        .collect();
    let threads = opts
        .threads
        .max(1)
        .min(
            population
                .known_len()
                .map_or(usize::MAX, |n| n.div_ceil(64)),
        )
        .max(1);
    let (engine, empty, kept, watched) = (&engine, &empty, &kept, &watched);
    let work = move || {
        let mut part = Part::new(empty.clone());
        while let Some(batch) = population.next_batch() {
            for sample in batch {
                part.customers += 1;
                let mut watch = watched(&sample.id).then(journey::Watcher::default);
                let mut state = CustomerState::new(sample.id, sample.attrs);
                let effects =
                    run_customer(engine, &mut state, &sample.events, opts, watch.as_mut());
                part.settle(engine, state, effects, watch, kept);
                if let Some(p) = opts.progress {
                    p.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        part
    };
    let mut parts: Vec<Part> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(work)).collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a simulator thread panicked"))
            .collect()
    });
    // Broadcast runs belong to the pseudo-customer with the empty id.
    if program.playbooks.iter().any(|p| p.broadcast) {
        let mut part = Part::new(empty.clone());
        let mut watch = Some(journey::Watcher::default());
        let mut state = CustomerState::new("", Fields::new());
        let effects = run_customer(engine, &mut state, &[], opts, watch.as_mut());
        part.settle(engine, state, effects, watch, kept);
        parts.push(part);
    }
    let mut outcome = Outcome {
        warnings: population.warnings(),
        customers: parts.iter().map(|p| p.customers).sum(),
        ..Outcome::default()
    };
    let mut funnels = empty.clone();
    // Exactly once, then chunk by chunk, each freed as it is moved: memory
    // holds the kept deliveries once, not twice.
    outcome
        .sends
        .reserve_exact(parts.iter().map(|p| p.sends.len()).sum());
    outcome
        .records
        .reserve_exact(parts.iter().map(|p| p.records.len()).sum());
    for part in parts {
        for (total, f) in funnels.iter_mut().zip(&part.funnels) {
            total.add(f);
        }
        outcome.tally.merge(part.tally);
        outcome.zones.extend(part.zones);
        part.sends.move_into(&mut outcome.sends);
        part.records.move_into(&mut outcome.records);
        outcome.waits.extend(part.waits);
    }
    if keep_upto.is_some_and(|n| outcome.customers > n) {
        // More customers ran than the timelines are shown for: keep only the broadcasts'.
        outcome.sends.retain(|d| d.customer.is_none());
        outcome.records.retain(|r| r.customer.is_none());
        outcome.waits.retain(|w| w.customer.is_none());
        outcome.zones.retain(|c, _| c.is_empty());
    }
    sort_by_time(&mut outcome.sends, |d| (d.at, d.customer.as_deref()));
    sort_by_time(&mut outcome.records, |r| (r.at, r.customer.as_deref()));
    sort_by_time(&mut outcome.waits, |w| (w.at, w.customer.as_deref()));
    let mut order: Vec<usize> = (0..funnels.len()).collect();
    order.sort_by(|a, b| funnels[*a].name.cmp(&funnels[*b].name));
    outcome.playbooks = order.into_iter().map(|i| funnels[i].clone()).collect();
    outcome
}

/// Sorts by time, then customer, keeping one customer's effects at one instant
/// in the order the engine emitted them. Sorts small integer keys (customers
/// ranked once) and then moves each element once: comparing strings behind
/// millions of scattered deliveries, or a stable sort's buffer of half of
/// them, cost more than the run.
fn sort_by_time<T>(v: &mut [T], key: impl Fn(&T) -> (DateTime<Utc>, Option<&str>)) {
    // One customer's effects sit together, so each run of them is ranked once.
    let mut names: Vec<&str> = Vec::new();
    for c in v.iter().filter_map(|x| key(x).1) {
        if names.last() != Some(&c) {
            names.push(c);
        }
    }
    names.sort_unstable();
    names.dedup();
    let mut keys: Vec<(i64, u32, usize, usize)> = Vec::with_capacity(v.len());
    let mut last: Option<(&str, usize)> = None;
    for (i, x) in v.iter().enumerate() {
        let (at, customer) = key(x);
        // 0 for no customer (a broadcast): Option's order, None first.
        let rank = match customer {
            None => 0,
            Some(c) => match last {
                Some((l, r)) if l == c => r,
                _ => {
                    let r = names.binary_search(&c).map_or(0, |r| r + 1);
                    last = Some((c, r));
                    r
                }
            },
        };
        keys.push((at.timestamp(), at.timestamp_subsec_nanos(), rank, i));
    }
    keys.sort_unstable();
    let mut order: Vec<usize> = keys.into_iter().map(|k| k.3).collect();
    // order[k] is the element that belongs at k: follow each cycle, swapping.
    for start in 0..v.len() {
        let mut k = start;
        while order[k] != start {
            let src = order[k];
            v.swap(k, src);
            order[k] = k;
            k = src;
        }
        order[k] = k;
    }
}

/// What one simulator thread hands back.
struct Part {
    /// Customers run (the broadcast pseudo-customer not counted).
    customers: usize,
    funnels: Vec<Funnel>,
    tally: Tally,
    zones: Vec<(String, chrono_tz::Tz)>,
    sends: Chunks<Delivery>,
    records: Chunks<Record>,
    waits: Vec<journey::Waiting>,
}

/// A list kept in fixed-size chunks: it grows without copying and can be
/// moved out chunk by chunk.
struct Chunks<T>(Vec<Vec<T>>);

impl<T> Chunks<T> {
    const SIZE: usize = 4096;

    fn push(&mut self, item: T) {
        match self.0.last_mut() {
            Some(chunk) if chunk.len() < Self::SIZE => chunk.push(item),
            _ => {
                let mut chunk = Vec::with_capacity(Self::SIZE);
                chunk.push(item);
                self.0.push(chunk);
            }
        }
    }

    fn len(&self) -> usize {
        self.0.iter().map(Vec::len).sum()
    }

    fn move_into(self, out: &mut Vec<T>) {
        for chunk in self.0 {
            out.extend(chunk);
        }
    }
}

impl Part {
    fn new(funnels: Vec<Funnel>) -> Self {
        Part {
            customers: 0,
            funnels,
            tally: Tally::default(),
            zones: Vec::new(),
            sends: Chunks(Vec::new()),
            records: Chunks(Vec::new()),
            waits: Vec::new(),
        }
    }

    /// Counts one finished customer, keeping its effects if asked to.
    fn settle(
        &mut self,
        engine: &Engine,
        state: CustomerState,
        effects: Vec<Effect>,
        watch: Option<journey::Watcher>,
        kept: &dyn Fn(&str) -> bool,
    ) {
        let zone = engine.customer_zone(&state);
        funnel::count(&state, &effects, &mut self.funnels);
        self.tally.customer(&state.id, zone, &effects);
        self.tally.at_end(&state);
        if !kept(&state.id) {
            return;
        }
        for effect in effects {
            match effect {
                Effect::Deliver(d) => self.sends.push(d),
                Effect::Record(r) => self.records.push(r),
                Effect::Reached(_) => {}
            }
        }
        self.zones.push((state.id.to_string(), zone));
        self.waits
            .extend(watch.map(|w| w.waits).unwrap_or_default());
    }
}

/// One customer's timeline over the window, through the engine's driver.
fn run_customer(
    engine: &Engine,
    state: &mut CustomerState,
    events: &[std::borrow::Cow<SampleEvent>],
    opts: &Options,
    watch: Option<&mut journey::Watcher>,
) -> Vec<Effect> {
    let mut out = engine.init(state, opts.from);
    let mut inputs = SimInputs {
        engine,
        reloaded: Vec::new(),
        events,
        next: 0,
        answers: Vec::new(),
        behaviour: opts.behaviour,
        asked: HashSet::new(),
        roundtrip: opts.roundtrip,
        watch,
    };
    if let Some(w) = inputs.watch.as_mut() {
        w.look(state, opts.from);
    }
    if opts.roundtrip {
        inputs.after(state, opts.from);
    }
    engine.drive(state, &mut inputs, opts.until, None, &mut out);
    // Empty unless reloading changed something, which the comparison shows.
    out.append(&mut inputs.reloaded);
    out
}

/// The simulator's inputs: the sample events, and the events the behaviour
/// model decides the customer sends, merged by arrival (sample events first
/// at a tie).
struct SimInputs<'a, 'e, 'w> {
    engine: &'a Engine,
    /// What loading a stored state anew emitted (in round-trip mode).
    reloaded: Vec<Effect>,
    events: &'a [std::borrow::Cow<'e, SampleEvent>],
    next: usize,
    /// By arrival.
    answers: Vec<(DateTime<Utc>, Event)>,
    behaviour: Option<&'a Behaviour>,
    /// Waits already asked about: (playbook, enrollment, hook plant (0 for the main flow), opened).
    asked: HashSet<(crate::value::Sym, u32, u32, DateTime<Utc>)>,
    roundtrip: bool,
    /// Notes the waits of a customer whose timeline may be shown.
    watch: Option<&'w mut journey::Watcher>,
}

impl Inputs for SimInputs<'_, '_, '_> {
    fn next_at(&self) -> Option<DateTime<Utc>> {
        let e = self.events.get(self.next).map(|e| e.at);
        let a = self.answers.first().map(|a| a.0);
        match (e, a) {
            (Some(e), Some(a)) => Some(e.min(a)),
            (e, a) => e.or(a),
        }
    }

    fn take(&mut self) -> Option<Event> {
        let e = self.events.get(self.next).map(|e| e.at);
        let a = self.answers.first().map(|a| a.0);
        match (e, a) {
            (Some(e), a) if a.is_none_or(|a| e <= a) => {
                self.next += 1;
                Some(self.events[self.next - 1].event.clone())
            }
            (_, Some(_)) => Some(self.answers.remove(0).1),
            _ => None,
        }
    }

    fn after(&mut self, state: &mut CustomerState, at: DateTime<Utc>) {
        if self.roundtrip {
            // As a runner loads a customer: read back, then brought up to the program.
            let json = state.to_json();
            *state = CustomerState::from_json(&json).expect("a stored state reads back");
            assert_eq!(
                state.to_json(),
                json,
                "a state read back writes out the same"
            );
            self.reloaded.extend(self.engine.init(state, at));
        }
        if let Some(b) = self.behaviour {
            answer_waits(state, b, &mut self.asked, &mut self.answers);
        }
        if let Some(w) = self.watch.as_mut() {
            w.look(state, at);
        }
    }
}

/// For each `wait for` just opened, asks the behaviour model whether and when
/// the customer answers, and queues that event.
fn answer_waits(
    state: &CustomerState,
    b: &Behaviour,
    asked: &mut HashSet<(crate::value::Sym, u32, u32, DateTime<Utc>)>,
    answers: &mut Vec<(DateTime<Utc>, Event)>,
) {
    for e in &state.enrollments {
        if e.status != Status::Active {
            continue;
        }
        // Goal and stop events the model drives, drawn once per enrollment from its entry.
        if asked.insert((e.playbook, e.n, u32::MAX, e.entered)) {
            let n = e.n.to_string();
            for rule in b.at_entry(&e.playbook) {
                let parts = [
                    &*state.id,
                    &*e.playbook,
                    n.as_str(),
                    "entry",
                    rule.event.as_str(),
                ];
                if b.draw(&parts) >= rule.probability {
                    continue;
                }
                let delay =
                    (b.draw(&[&parts[..], &["delay"]].concat()) * rule.within_secs as f64) as i64;
                let ev = Event {
                    name: crate::value::Sym::new(&rule.event),
                    data: rule.data.clone(),
                    attributes: Fields::new(),
                };
                let when = e.entered + chrono::Duration::seconds(delay);
                let pos = answers.partition_point(|a| a.0 <= when);
                answers.insert(pos, (when, ev));
            }
        }
        for flow in &e.flows {
            let Wait::Event { name, opened, .. } = &flow.wait else {
                continue;
            };
            let plant = flow.hook.as_ref().map_or(0, |h| h.plant);
            if !asked.insert((e.playbook, e.n, plant, *opened)) {
                continue;
            }
            let step = &flow.cursor.step;
            let Some(rule) = b.find(name.as_str(), &e.playbook, step) else {
                continue;
            };
            let at = opened.timestamp().to_string();
            let n = e.n.to_string();
            let parts = [
                &*state.id,
                &*e.playbook,
                n.as_str(),
                &**step,
                name.as_str(),
                at.as_str(),
            ];
            if b.draw(&parts) >= rule.probability {
                continue;
            }
            let delay =
                (b.draw(&[&parts[..], &["delay"]].concat()) * rule.within_secs as f64) as i64;
            let ev = Event {
                name: *name,
                data: rule.data.clone(),
                attributes: Fields::new(),
            };
            let when = *opened + chrono::Duration::seconds(delay);
            let pos = answers.partition_point(|a| a.0 <= when);
            answers.insert(pos, (when, ev));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorting_by_time_keeps_emission_order_at_one_instant() {
        let t = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let mut v = vec![
            (t(5), "b", 0),
            (t(1), "a", 1),
            (t(5), "a", 2),
            (t(5), "b", 3),
            (t(1), "a", 4),
            (t(0), "c", 5),
        ];
        sort_by_time(&mut v, |e| (e.0, Some(e.1)));
        let order: Vec<i32> = v.iter().map(|e| e.2).collect();
        assert_eq!(order, [5, 1, 4, 2, 0, 3]);
        // A broadcast (no customer) comes first at its instant, then the empty id.
        let mut v = vec![
            (t(1), Some("b"), 0),
            (t(1), Some(""), 1),
            (t(1), None, 2),
            (t(0), Some("b"), 3),
        ];
        sort_by_time(&mut v, |e| (e.0, e.1));
        let order: Vec<i32> = v.iter().map(|e| e.2).collect();
        assert_eq!(order, [3, 2, 1, 0]);
    }
}
