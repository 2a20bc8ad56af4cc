//! The dry-run: the engine driven by a virtual clock over sample customers
//! and events. Customers are independent, so they run on all cores.

pub mod assume;
pub mod input;
pub mod report;

use crate::check::Program;
use crate::engine::state::Wait;
use crate::engine::state::{CustomerState, Status};
use crate::engine::step::Event;
use crate::engine::step::{Delivery, Effect, Engine, Record};
use assume::Behaviour;
use chrono::{DateTime, Utc};
use input::{SampleCustomer, SampleEvent};
use std::collections::BTreeMap;
use std::collections::HashSet;

/// Per playbook: how many entered, converted, stopped, are still active, were held out,
/// and how many enrollments reached each step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Funnel {
    pub name: String,
    pub entered: usize,
    pub goal: usize,
    pub stopped: usize,
    pub active: usize,
    pub holdout: usize,
    pub steps: Vec<(String, usize)>,
}

#[derive(Debug, Clone, Default)]
pub struct Outcome {
    pub sends: Vec<Delivery>,
    pub records: Vec<Record>,
    pub playbooks: Vec<Funnel>,
    pub warnings: Vec<String>,
    /// The zone each customer's times are shown in.
    pub zones: BTreeMap<String, chrono_tz::Tz>,
}

/// Runs the window [from, until).
pub fn simulate(
    program: &Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Outcome {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    simulate_on(program, customers, events, from, until, cores)
}

/// [`simulate`] on at most `threads` threads (the benchmark compares 1 and 2).
pub fn simulate_on(
    program: &Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    threads: usize,
) -> Outcome {
    simulate_with(program, customers, events, from, until, threads, None)
}

/// [`simulate_on`] with a behaviour model that answers awaited events.
pub fn simulate_with(
    program: &Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    threads: usize,
    behaviour: Option<&Behaviour>,
) -> Outcome {
    simulate_observed(
        program, customers, events, from, until, threads, behaviour, None,
    )
}

/// [`simulate_with`], counting finished customers into `progress` (for a progress bar).
#[allow(clippy::too_many_arguments)]
pub fn simulate_observed(
    program: &Program,
    customers: &[SampleCustomer],
    events: &[SampleEvent],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    threads: usize,
    behaviour: Option<&Behaviour>,
    progress: Option<&std::sync::atomic::AtomicUsize>,
) -> Outcome {
    let engine = Engine::new(program);
    let mut outcome = Outcome::default();
    let outside = events
        .iter()
        .filter(|e| e.at < from || e.at >= until)
        .count();
    if outside > 0 {
        outcome.warnings.push(format!(
            "{outside} events fall outside the window and were ignored"
        ));
    }
    let mut states: Vec<CustomerState> = customers
        .iter()
        .map(|c| CustomerState::new(c.id.clone(), c.attrs.clone()))
        .collect();
    // Broadcast runs belong to the pseudo-customer with the empty id.
    if program.playbooks.iter().any(|p| p.broadcast) {
        states.push(CustomerState::new(String::new(), BTreeMap::new()));
    }
    let mut per_customer: BTreeMap<&str, Vec<&SampleEvent>> = BTreeMap::new();
    for e in events.iter().filter(|e| e.at >= from && e.at < until) {
        per_customer.entry(e.customer.as_str()).or_default().push(e);
    }
    let known: std::collections::HashSet<String> = states.iter().map(|s| s.id.clone()).collect();
    for id in per_customer.keys() {
        if !known.contains(*id) {
            outcome.warnings.push(format!("customer `{id}` appears only in events; created with the attributes those events give"));
            states.push(CustomerState::new(id.to_string(), BTreeMap::new()));
        }
    }
    let threads = threads.max(1).min(states.len().div_ceil(64)).max(1);
    let chunk = states.len().div_ceil(threads).max(1);
    let per_customer = &per_customer;
    let engine = &engine;
    let empty_funnels: Vec<Funnel> = program
        .playbooks
        .iter()
        .map(|p| Funnel {
            name: p.def.name.name.clone(),
            steps: p
                .def
                .steps
                .iter()
                .map(|s| (s.name.name.clone(), 0))
                .collect(),
            ..Funnel::default()
        })
        .collect();
    let empty_funnels = &empty_funnels;
    // Each thread counts its customers into its own funnels and drops their state
    // as soon as it is counted, so memory holds effects, not every customer.
    let parts: Vec<Part> = std::thread::scope(|scope| {
        let handles: Vec<_> = states
            .chunks_mut(chunk)
            .map(|part| {
                scope.spawn(move || {
                    let mut out = Part {
                        funnels: empty_funnels.clone(),
                        zones: Vec::new(),
                        effects: Vec::new(),
                    };
                    for state in part.iter_mut() {
                        let evs = per_customer
                            .get(state.id.as_str())
                            .map(Vec::as_slice)
                            .unwrap_or(&[]);
                        out.effects
                            .extend(run_customer(engine, state, evs, from, until, behaviour));
                        let state = std::mem::take(state);
                        count(&state, &mut out.funnels);
                        if let Some(p) = progress {
                            p.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        out.zones
                            .push((state.id.clone(), engine.customer_zone(&state)));
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a simulator thread panicked"))
            .collect()
    });
    let mut funnels = empty_funnels.clone();
    for part in parts {
        for (total, f) in funnels.iter_mut().zip(&part.funnels) {
            total.entered += f.entered;
            total.goal += f.goal;
            total.active += f.active;
            total.holdout += f.holdout;
            for (s, n) in total.steps.iter_mut().zip(&f.steps) {
                s.1 += n.1;
            }
        }
        outcome.zones.extend(part.zones);
        for effect in part.effects {
            match effect {
                Effect::Deliver(d) => outcome.sends.push(d),
                Effect::Record(r) => {
                    if r.kind == "stopped" {
                        if let Some(f) = funnels.iter_mut().find(|f| f.name == r.playbook) {
                            f.stopped += 1;
                        }
                    }
                    outcome.records.push(r);
                }
            }
        }
    }
    // Stable: one customer's effects at one instant stay in the order the engine emitted them.
    outcome
        .sends
        .sort_by(|a, b| (a.at, &a.customer).cmp(&(b.at, &b.customer)));
    outcome
        .records
        .sort_by(|a, b| (a.at, &a.customer).cmp(&(b.at, &b.customer)));
    let mut order: Vec<usize> = (0..funnels.len()).collect();
    order.sort_by(|a, b| funnels[*a].name.cmp(&funnels[*b].name));
    outcome.playbooks = order.into_iter().map(|i| funnels[i].clone()).collect();
    outcome
}

/// One customer's timeline: timers run before an event at the same instant (C2).
fn run_customer(
    engine: &Engine,
    state: &mut CustomerState,
    events: &[&SampleEvent],
    from: DateTime<Utc>,
    until: DateTime<Utc>,
    behaviour: Option<&Behaviour>,
) -> Vec<Effect> {
    engine.init(state, from);
    let mut out = Vec::new();
    let mut next = 0;
    let mut last_wake: Option<DateTime<Utc>> = None;
    // Events the behaviour model decided the customer sends, by arrival.
    let mut answers: Vec<(DateTime<Utc>, Event)> = Vec::new();
    let mut asked: HashSet<(usize, usize, DateTime<Utc>)> = HashSet::new();
    for _ in 0..1_000_000 {
        let te = events.get(next).map(|e| e.at);
        let ta = answers.first().map(|a| a.0).filter(|t| *t < until);
        let tw = state.next_wake().filter(|t| *t < until);
        let input = match (te, ta) {
            (Some(e), Some(a)) => Some(e.min(a)),
            (e, a) => e.or(a),
        };
        match (tw, input) {
            (Some(w), i) if i.is_none_or(|i| w <= i) => {
                if last_wake == Some(w) && state.next_wake() == Some(w) {
                    // A timer that does not move on would spin; the engine guards this, so stop here.
                    break;
                }
                last_wake = Some(w);
                out.extend(engine.handle_timers(state, w));
            }
            (_, Some(i)) if te == Some(i) => {
                out.extend(engine.handle_event(state, i, &events[next].event));
                next += 1;
            }
            (_, Some(i)) => {
                let (_, ev) = answers.remove(0);
                out.extend(engine.handle_event(state, i, &ev));
            }
            _ => break,
        }
        if let Some(b) = behaviour {
            answer_waits(engine, state, b, &mut asked, &mut answers);
        }
    }
    out
}

/// For each `wait for` just opened, asks the behaviour model whether and when
/// the customer answers, and queues that event.
fn answer_waits(
    engine: &Engine,
    state: &CustomerState,
    b: &Behaviour,
    asked: &mut HashSet<(usize, usize, DateTime<Utc>)>,
    answers: &mut Vec<(DateTime<Utc>, Event)>,
) {
    for (i, e) in state.enrollments.iter().enumerate() {
        if e.status != Status::Active {
            continue;
        }
        for (f, flow) in e.flows.iter().enumerate() {
            let Wait::Event { name, opened, .. } = &flow.wait else {
                continue;
            };
            if !asked.insert((i, f, *opened)) {
                continue;
            }
            let def = &engine.program.playbooks[e.playbook].def;
            let step = &def.steps[flow.cursor.step].name.name;
            let Some(rule) = b.find(name, step) else {
                continue;
            };
            let at = opened.timestamp().to_string();
            let n = e.n.to_string();
            let parts = [
                state.id.as_str(),
                def.name.name.as_str(),
                n.as_str(),
                step.as_str(),
                name.as_str(),
                at.as_str(),
            ];
            if b.draw(&parts) >= rule.probability {
                continue;
            }
            let delay =
                (b.draw(&[&parts[..], &["delay"]].concat()) * rule.within_secs as f64) as i64;
            let ev = Event {
                name: name.clone(),
                data: rule.data.clone(),
                attributes: BTreeMap::new(),
            };
            let when = *opened + chrono::Duration::seconds(delay);
            let pos = answers.partition_point(|a| a.0 <= when);
            answers.insert(pos, (when, ev));
        }
    }
}

/// What one simulator thread hands back.
struct Part {
    funnels: Vec<Funnel>,
    zones: Vec<(String, chrono_tz::Tz)>,
    effects: Vec<Effect>,
}

/// Adds one customer's enrollments to the funnels.
fn count(state: &CustomerState, funnels: &mut [Funnel]) {
    for e in &state.enrollments {
        let f = &mut funnels[e.playbook];
        f.entered += 1;
        f.goal += usize::from(e.converted);
        f.active += usize::from(e.status == Status::Active);
        f.holdout += usize::from(e.held_out);
        let mut reached = e.reached.clone();
        reached.sort();
        reached.dedup();
        for s in reached {
            if let Some(step) = f.steps.get_mut(s) {
                step.1 += 1;
            }
        }
    }
}
