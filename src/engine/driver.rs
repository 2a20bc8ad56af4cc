//! The one driver both the simulator and the runner advance a customer with.
//! It merges the customer's own timers with the inputs in the order of
//! docs/language.md §6.10: at each instant, due timers run first, each at its
//! own due instant (a runner that was down does not drift `wait 1d` or
//! misjudge quiet hours), then inputs in arrival order.

use super::state::CustomerState;
use super::{Effect, Engine, Record, RecordKind};
use crate::intake::Event;
use crate::program::TriggerKind;
use chrono::{DateTime, Duration, Utc};

/// The runner's rule for cron and yearly fires missed while no runner ran:
/// those older than the grace at the moment the runner started are skipped
/// (and recorded); the others run, each once, at their own instant. The
/// simulator passes none: its clock never stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CatchUp {
    pub started: DateTime<Utc>,
    pub every: Duration,
    pub yearly: Duration,
}

impl CatchUp {
    /// The default grace of an hour for both kinds.
    pub fn new(started: DateTime<Utc>) -> Self {
        CatchUp {
            started,
            every: Duration::hours(1),
            yearly: Duration::hours(1),
        }
    }

    /// The grace of tend.toml's `[run] catch_up`, for a runner started at `started`.
    pub fn from_config(run: &crate::config::Run, started: DateTime<Utc>) -> Self {
        CatchUp {
            started,
            every: run.catch_up_every,
            yearly: run.catch_up_yearly,
        }
    }

    /// Whether a fire due at `at` is too old to run.
    pub fn skips(&self, kind: &TriggerKind, at: DateTime<Utc>) -> bool {
        let grace = match kind {
            TriggerKind::Yearly { .. } => self.yearly,
            _ => self.every,
        };
        at < self.started - grace
    }
}

/// Where a driver's inputs come from.
pub trait Inputs {
    /// When the next input arrives, if there is one.
    fn next_at(&self) -> Option<DateTime<Utc>>;
    /// Takes the next input.
    fn take(&mut self) -> Option<Event>;
    /// Called after every engine call (at `at`) with the customer's state,
    /// which it may replace (a store reads it back; the simulator's behaviour
    /// model answers the waits just opened).
    fn after(&mut self, _state: &mut CustomerState, _at: DateTime<Utc>) {}
}

/// A fixed list of inputs in arrival order.
impl Inputs for std::collections::VecDeque<(DateTime<Utc>, Event)> {
    fn next_at(&self) -> Option<DateTime<Utc>> {
        self.front().map(|i| i.0)
    }

    fn take(&mut self) -> Option<Event> {
        self.pop_front().map(|i| i.1)
    }
}

impl Engine {
    /// Advances one customer through its due timers and the inputs, up to
    /// (not including) `until`: timers due before an input run first, each at
    /// its own instant, then the input. With `catch_up`, old cron and yearly
    /// fires are skipped. A timer that does not move on stops the customer
    /// here rather than spin.
    pub fn drive(
        &self,
        c: &mut CustomerState,
        inputs: &mut dyn Inputs,
        until: DateTime<Utc>,
        catch_up: Option<&CatchUp>,
        out: &mut Vec<Effect>,
    ) {
        let mut last_wake: Option<DateTime<Utc>> = None;
        loop {
            let input = inputs.next_at().filter(|t| *t < until);
            let wake = c.next_wake().filter(|t| *t < until);
            match (wake, input) {
                (Some(w), i) if i.is_none_or(|i| w <= i) => {
                    if last_wake == Some(w) {
                        // Never expected: say so rather than spin or stop unseen.
                        out.push(Effect::Record(Record {
                            at: w,
                            customer: super::customer_of(c),
                            playbook: None,
                            step: None,
                            kind: RecordKind::Failed,
                            detail: format!(
                                "a timer due at {w} did not move on; this customer is not advanced further in this run"
                            )
                            .into(),
                        }));
                        break;
                    }
                    last_wake = Some(w);
                    self.handle_timers_into(c, w, catch_up, out);
                    inputs.after(c, w);
                }
                (_, Some(at)) => {
                    let Some(ev) = inputs.take() else { break };
                    self.handle_event_into(c, at, &ev, out);
                    // A timer the input created at this instant runs next.
                    last_wake = None;
                    inputs.after(c, at);
                }
                _ => break,
            }
        }
    }
}
