//! The funnel: per playbook, each enrollment counted once by how it ended,
//! and per step how many enrollments reached it and which of its sends did
//! not go out.

use crate::engine::state::{CustomerState, Status};
use crate::engine::{Detail, Effect, RecordKind};
use std::collections::BTreeMap;

/// Per playbook. Every enrollment is counted once, by its final outcome in
/// this order: goal (converted) > stopped > failed > finished > active, and a
/// held-out enrollment only under `holdout`; so `entered` is the sum of
/// goal, stopped, failed, finished, active and holdout.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Funnel {
    pub name: String,
    /// The playbook's name as the program holds it (effects carry the same text).
    pub key: crate::value::Sym,
    pub entered: usize,
    pub goal: usize,
    /// Ended by a `stop` event, an opt-out, or a goal event after its window.
    pub stopped: usize,
    /// Ended by an error (a runaway loop, a value out of range).
    pub failed: usize,
    /// Walked to the end of the flow and its hooks without converting.
    pub finished: usize,
    /// Still running when the window ended.
    pub active: usize,
    pub holdout: usize,
    /// Held-out enrollments that converted: the baseline the goal is weighed against.
    pub holdout_goal: usize,
    pub steps: Vec<StepCount>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct StepCount {
    pub name: String,
    /// Enrollments that reached the step.
    pub reached: usize,
    /// Sends, grants and tasks of the step (and of hooks planted in it)
    /// that did not go out, by record kind (`dropped`, `suppressed`,
    /// `unreachable`, `render-error`, `empty-text`).
    pub not_sent: BTreeMap<&'static str, usize>,
}

impl StepCount {
    pub fn new(name: &str) -> Self {
        StepCount {
            name: name.to_string(),
            ..StepCount::default()
        }
    }
}

/// The record kinds that say an action did not go out.
pub const NOT_SENT: [RecordKind; 5] = [
    RecordKind::Dropped,
    RecordKind::Suppressed,
    RecordKind::Unreachable,
    RecordKind::RenderError,
    RecordKind::EmptyText,
];

/// How one enrollment ended, ordered by precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum End {
    Finished,
    Failed,
    Stopped,
    Goal,
}

impl Funnel {
    pub fn add(&mut self, other: &Funnel) {
        self.entered += other.entered;
        self.goal += other.goal;
        self.stopped += other.stopped;
        self.failed += other.failed;
        self.finished += other.finished;
        self.active += other.active;
        self.holdout += other.holdout;
        self.holdout_goal += other.holdout_goal;
        for (s, o) in self.steps.iter_mut().zip(&other.steps) {
            s.reached += o.reached;
            for (k, n) in &o.not_sent {
                *s.not_sent.entry(k).or_default() += n;
            }
        }
    }

    fn settle(&mut self, held_out: bool, end: Option<End>) {
        if held_out {
            self.holdout += 1;
            self.holdout_goal += usize::from(end == Some(End::Goal));
            return;
        }
        match end {
            Some(End::Goal) => self.goal += 1,
            Some(End::Stopped) => self.stopped += 1,
            Some(End::Failed) => self.failed += 1,
            Some(End::Finished) => self.finished += 1,
            None => self.active += 1,
        }
    }
}

/// Adds one customer's enrollments to the funnels, from the effects of its
/// whole run. A customer has at most one enrollment per playbook at a time
/// (the one before stays open only to attribute a goal, until the next
/// enters), so its records belong to the latest `entered`. The broadcast
/// pseudo-customer runs many at once, but they neither convert nor stop:
/// each ends finished or failed, or is still active.
pub fn count(state: &CustomerState, effects: &[Effect], funnels: &mut [Funnel]) {
    let find = |funnels: &[Funnel], name: &str| {
        funnels
            .iter()
            .position(|f| crate::value::same(&f.key, name))
    };
    let broadcast = state.id.is_empty();
    // Per playbook: the open enrollment (held out, how it has ended so far).
    let mut open: Vec<Option<(bool, Option<End>)>> = vec![None; funnels.len()];
    for effect in effects {
        match effect {
            Effect::Record(r) => {
                let Some(p) = r.playbook.as_deref().and_then(|n| find(funnels, n)) else {
                    continue;
                };
                if NOT_SENT.contains(&r.kind) {
                    // A hook's sends count under the step that planted it.
                    let step = r.step.as_deref().map(|s| s.split('/').next().unwrap_or(s));
                    if let Some(s) = funnels[p].steps.iter_mut().find(|s| Some(&*s.name) == step) {
                        *s.not_sent.entry(r.kind.name()).or_default() += 1;
                    }
                    continue;
                }
                let end = match (r.kind, &r.detail) {
                    (RecordKind::Entered, Detail::Entered { held_out }) => {
                        funnels[p].entered += 1;
                        if broadcast {
                            continue;
                        }
                        if let Some((h, e)) = open[p].replace((*held_out, None)) {
                            funnels[p].settle(h, e);
                        }
                        continue;
                    }
                    (RecordKind::Goal, Detail::Goal { converted: true }) => End::Goal,
                    (RecordKind::Goal, _) | (RecordKind::Stopped, _) => End::Stopped,
                    (RecordKind::Failed, _) => End::Failed,
                    (RecordKind::Finished, _) => End::Finished,
                    _ => continue,
                };
                if broadcast {
                    funnels[p].settle(false, Some(end));
                } else if let Some((_, e)) = &mut open[p] {
                    *e = (*e).max(Some(end));
                }
            }
            Effect::Reached(r) => {
                if let Some(p) = find(funnels, &r.playbook) {
                    if let Some(s) = funnels[p].steps.iter_mut().find(|s| s.name == *r.step) {
                        s.reached += 1;
                    }
                }
            }
            Effect::Deliver(_) => {}
        }
    }
    if broadcast {
        for e in state
            .enrollments
            .iter()
            .filter(|e| e.status == Status::Active)
        {
            if let Some(p) = find(funnels, &e.playbook) {
                funnels[p].active += 1;
            }
        }
        return;
    }
    for (p, o) in open.into_iter().enumerate() {
        if let Some((h, e)) = o {
            funnels[p].settle(h, e);
        }
    }
}
