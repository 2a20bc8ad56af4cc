//! The dispatcher: hands each due outbox row to its channel's adapter and
//! records how the attempt ended, in three parts: the checks before an
//! attempt (an opt-out since queued, a late hand-over into quiet hours),
//! the attempts themselves ([`Adapters`]), and what each outcome means for
//! the row (sent, retried after a backoff, dead). Under `tend run` only the
//! attempts run on a thread of their own, so a slow far side never holds up
//! intake or customers' work, while every store write stays on the writer.

use super::store::{Outgoing, Settled, Status, StoreError};
use crate::channels::{self, Attempt, Channel};
use crate::engine::{Record, RecordKind};
use crate::program::Program;
use crate::value::Sym;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;

/// Deliveries attempted between commits.
pub const DELIVERY_BATCH: usize = 256;

/// Every channel's adapter, opened.
pub struct Adapters {
    channels: HashMap<String, Box<dyn Channel>>,
}

/// One attempt's outcome: (key, attempts so far, channel, how it ended).
pub type Tried = (String, u32, Sym, Attempt);

impl Adapters {
    /// The adapters of every channel of `program` (a `${VAR}` setting is read now).
    pub fn open(program: &Program, root: &std::path::Path) -> Result<Adapters, StoreError> {
        let mut channels = HashMap::new();
        for ch in &program.policy.channels {
            let adapter = channels::open(ch, root).map_err(StoreError)?;
            channels.insert(ch.name.to_string(), adapter);
        }
        Ok(Adapters { channels })
    }

    /// Whether a channel's far side drops a repeated key.
    pub fn dedupes(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|c| c.dedupes())
    }

    /// Hands each row to its adapter, then makes the batch durable at the
    /// far sides: a row whose channel cannot flush is not counted as sent.
    pub fn attempt(&self, rows: Vec<Outgoing>) -> Vec<Tried> {
        let mut tried: Vec<Tried> = rows
            .into_iter()
            .map(|row| {
                let attempt = match self.channels.get(&*row.delivery.channel) {
                    Some(ch) => ch.deliver(&row.key, &row.delivery),
                    None => Attempt::Dead(format!(
                        "channel `{}` is no longer in tend.toml",
                        row.delivery.channel
                    )),
                };
                (row.key, row.attempts, row.delivery.channel, attempt)
            })
            .collect();
        let mut unflushed: HashMap<&str, String> = HashMap::new();
        for (name, ch) in &self.channels {
            if tried.iter().any(|a| &*a.2 == name.as_str()) {
                if let Err(e) = ch.flush() {
                    unflushed.insert(name.as_str(), e);
                }
            }
        }
        for t in &mut tried {
            if let (Attempt::Sent(_), Some(e)) = (&t.3, unflushed.get(&*t.2)) {
                t.3 = Attempt::Retry {
                    reply: e.clone(),
                    after: None,
                };
            }
        }
        tried
    }
}

/// Rows claimed for an attempt, sorted by what happens to them now.
pub struct Checked {
    /// To hand to the adapters.
    pub ready: Vec<Outgoing>,
    /// Settled without an attempt (held for quiet hours, or dead by an opt-out).
    pub settled: Vec<Settled>,
    pub records: Vec<Record>,
}

/// What the outcomes mean for the rows: the rules of retries and redaction.
pub struct Outcomes {
    /// What channels read from `${VAR}` settings: redacted from replies.
    pub secrets: Vec<String>,
    pub max_attempts: u32,
}

impl Outcomes {
    pub fn new(program: &Program, max_attempts: u32) -> Outcomes {
        Outcomes {
            secrets: program
                .policy
                .channels
                .iter()
                .flat_map(channels::secrets)
                .collect(),
            max_attempts,
        }
    }

    /// The checks before every attempt.
    pub fn check(&self, rows: Vec<Outgoing>, now: DateTime<Utc>) -> Checked {
        let mut out = Checked {
            ready: Vec::with_capacity(rows.len()),
            settled: Vec::new(),
            records: Vec::new(),
        };
        for row in rows {
            // An opt-out since the row was queued stops it, whatever else holds it.
            if row.do_not_contact {
                out.records.push(Record {
                    at: now,
                    customer: row.delivery.customer.clone(),
                    playbook: Some(row.delivery.playbook),
                    step: None,
                    kind: RecordKind::Suppressed,
                    detail: format!("{} queued before the customer opted out", row.key).into(),
                });
                let dead =
                    Attempt::Dead("not sent: the customer opted out after it was queued".into());
                out.settled
                    .push(self.settle(row.key, row.attempts, dead, now));
                continue;
            }
            // Handed over late (an outage, retries) into its quiet hours: held until they end.
            if now > row.delivery.at && !row.quiet.is_empty() {
                let allowed = crate::engine::time::after_quiet(now, &row.quiet);
                if allowed > now {
                    out.records.push(Record {
                        at: now,
                        customer: row.delivery.customer.clone(),
                        playbook: Some(row.delivery.playbook),
                        step: None,
                        kind: RecordKind::Late,
                        detail: format!("{} held until its quiet hours end at {allowed}", row.key)
                            .into(),
                    });
                    out.settled.push(Settled {
                        key: row.key,
                        status: Status::Pending,
                        reply: "held: handed over late, inside quiet hours".into(),
                        next_attempt: Some(allowed),
                    });
                    continue;
                }
            }
            out.ready.push(row);
        }
        out
    }

    /// What one attempt's outcome makes of its row.
    pub fn settle(
        &self,
        key: String,
        attempts: u32,
        attempt: Attempt,
        now: DateTime<Utc>,
    ) -> Settled {
        let redact = |r: String| channels::redact(r, &self.secrets);
        let dead = |key: String, reply: String| {
            tracing::warn!(%key, %reply, "delivery dead: `tend retry KEY` after a fix");
            Settled {
                key,
                status: Status::Dead,
                reply,
                next_attempt: None,
            }
        };
        match attempt {
            Attempt::Sent(reply) => Settled {
                key,
                status: Status::Sent,
                reply: redact(reply),
                next_attempt: None,
            },
            Attempt::Dead(reply) => dead(key, redact(reply)),
            Attempt::Retry { reply, .. } if attempts >= self.max_attempts => dead(
                key,
                format!("{} (gave up after {attempts} attempts)", redact(reply)),
            ),
            Attempt::Retry { reply, after } => {
                let wait = after
                    .and_then(|a| Duration::from_std(a).ok())
                    .unwrap_or_else(|| backoff(&key, attempts));
                Settled {
                    key,
                    status: Status::Failed,
                    reply: redact(reply),
                    next_attempt: Some(now + wait),
                }
            }
        }
    }
}

/// Exponential backoff from 2 s, at most an hour, with jitter from the key
/// (so retries of many rows spread out, and a test sees fixed values).
fn backoff(key: &str, attempts: u32) -> Duration {
    let base = 2i64.saturating_pow(attempts.min(12)).min(3600);
    let jitter = (crate::hash::of(key) % 1000) as i64;
    Duration::seconds(base) + Duration::milliseconds(jitter * base / 1000)
}
