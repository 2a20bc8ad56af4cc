//! The dry-run: the engine driven by a virtual clock over sample customers
//! and events. Customers are independent, so they run on all cores.

pub mod input;
pub mod report;

use crate::check::Program;
use crate::engine::state::{CustomerState, Status};
use crate::engine::step::{Delivery, Effect, Engine, Record};
use chrono::{DateTime, Utc};
use input::{SampleCustomer, SampleEvent};
use std::collections::BTreeMap;

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
                            .extend(run_customer(engine, state, evs, from, until));
                        let state = std::mem::take(state);
                        count(&state, &mut out.funnels);
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
) -> Vec<Effect> {
    engine.init(state, from);
    let mut out = Vec::new();
    let mut next = 0;
    let mut last_wake: Option<DateTime<Utc>> = None;
    for _ in 0..1_000_000 {
        let te = events.get(next).map(|e| e.at);
        let tw = state.next_wake().filter(|t| *t < until);
        match (tw, te) {
            (Some(w), e) if e.is_none_or(|e| w <= e) => {
                if last_wake == Some(w) && state.next_wake() == Some(w) {
                    // A timer that does not move on would spin; the engine guards this, so stop here.
                    break;
                }
                last_wake = Some(w);
                out.extend(engine.handle_timers(state, w));
            }
            (_, Some(e)) => {
                out.extend(engine.handle_event(state, e, &events[next].event));
                next += 1;
            }
            _ => break,
        }
    }
    out
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
