//! What a timeline shows besides deliveries and records: the waits a
//! customer's flows opened, seen between engine calls. The engine records
//! no wait (a runner would store millions of rows for nothing), so the
//! simulator reads them from the state as it goes, for the customers whose
//! timelines it keeps.

use crate::engine::state::{CustomerState, Status, Wait};
use crate::value::Sym;
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::sync::Arc;

/// A wait a flow opened: `wait for EVENT [within D] [else -> STEP]`, or a
/// sleep until an instant (`wait D`, `wait until …`).
#[derive(Debug, Clone, PartialEq)]
pub struct Waiting {
    /// When the wait opened.
    pub at: DateTime<Utc>,
    /// `None` for a broadcast run.
    pub customer: Option<Arc<str>>,
    pub playbook: Sym,
    pub enrollment: u32,
    /// The step, or `step/hook NAME` for a wait inside a hook.
    pub step: Sym,
    /// The awaited event; `None` for a sleep.
    pub event: Option<Sym>,
    /// The deadline of a `wait for`, or the end of a sleep.
    pub until: Option<DateTime<Utc>>,
    /// Where a `wait for` goes when its deadline passes.
    pub else_step: Option<Sym>,
}

/// The waits seen so far for one customer.
#[derive(Default)]
pub struct Watcher {
    seen: HashSet<(Sym, u32, u32, i64, bool)>,
    pub waits: Vec<Waiting>,
}

impl Watcher {
    /// Notes every wait open in `state` at `at` that was not open before.
    /// A hook's own sleep until it fires is left out: its `hook-planted`
    /// record already says when.
    pub fn look(&mut self, state: &CustomerState, at: DateTime<Utc>) {
        for e in state
            .enrollments
            .iter()
            .filter(|e| e.status == Status::Active)
        {
            for flow in &e.flows {
                let plant = flow.hook.as_ref().map_or(0, |h| h.plant);
                let (event, until, else_step, since) = match &flow.wait {
                    Wait::Event {
                        name,
                        deadline,
                        else_step,
                        opened,
                    } => (Some(*name), *deadline, *else_step, *opened),
                    Wait::Until(t) if flow.hook.is_none() || flow.cursor.idx > 0 => {
                        (None, Some(*t), None, *t)
                    }
                    _ => continue,
                };
                let key = (e.playbook, e.n, plant, since.timestamp(), event.is_some());
                if !self.seen.insert(key) {
                    continue;
                }
                let step = match &flow.hook {
                    None => flow.cursor.step,
                    Some(h) => Sym::new(&format!("{}/hook {}", flow.cursor.step, h.name)),
                };
                self.waits.push(Waiting {
                    at,
                    customer: (!state.id.is_empty()).then(|| Arc::from(&*state.id)),
                    playbook: e.playbook,
                    enrollment: e.n,
                    step,
                    event,
                    until,
                    else_step,
                });
            }
        }
    }
}
