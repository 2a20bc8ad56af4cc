//! The dispatcher: hands each due outbox row to its channel's adapter and
//! records how the attempt ended. Under `tend run` it runs on a thread of
//! its own with its own store connection, so a slow far side never holds
//! up customers' work.

use super::store::{Settled, Status, Store, StoreError};
use crate::channels::{self, Attempt, Channel};
use crate::program::Program;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

/// Deliveries attempted between commits.
const DELIVERY_BATCH: usize = 256;

pub struct Dispatcher {
    channels: HashMap<String, Box<dyn Channel>>,
    /// What channels read from `${VAR}` settings: redacted from replies.
    secrets: Vec<String>,
    max_attempts: u32,
    /// Attempts since the runner started, for `/metrics` (shared across reloads).
    pub attempts: Arc<AtomicU64>,
}

impl Dispatcher {
    /// The adapters of every channel of `program`, opened (a `${VAR}` setting read now).
    pub fn open(
        program: &Program,
        root: &std::path::Path,
        max_attempts: u32,
        attempts: Arc<AtomicU64>,
    ) -> Result<Dispatcher, StoreError> {
        let mut opened = HashMap::new();
        for ch in &program.policy.channels {
            let adapter = channels::open(ch, root).map_err(StoreError)?;
            opened.insert(ch.name.to_string(), adapter);
        }
        Ok(Dispatcher {
            channels: opened,
            secrets: program.policy.channels.iter().flat_map(channels::secrets).collect(),
            max_attempts,
            attempts,
        })
    }

    /// Whether a channel's far side drops a repeated key.
    pub fn dedupes(&self, channel: &str) -> bool {
        self.channels.get(channel).is_some_and(|c| c.dedupes())
    }

    /// Attempts the deliveries due at `now`; returns how many were attempted.
    pub fn dispatch<S: Store + ?Sized>(
        &mut self,
        store: &mut S,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let mut n = 0;
        loop {
            let rows = store.claim_deliveries(now, DELIVERY_BATCH)?;
            if rows.is_empty() {
                return Ok(n);
            }
            self.attempts
                .fetch_add(rows.len() as u64, std::sync::atomic::Ordering::Relaxed);
            n += rows.len();
            let mut settled = Vec::with_capacity(rows.len());
            let mut attempts = Vec::with_capacity(rows.len());
            // What the dispatcher itself records: late hand-overs, opt-outs since queued.
            let mut late = Vec::new();
            for row in rows {
                // An opt-out since the row was queued stops it, whatever else holds it.
                if row.do_not_contact {
                    late.push(crate::engine::Record {
                        at: now,
                        customer: row.delivery.customer.clone(),
                        playbook: Some(row.delivery.playbook),
                        kind: crate::engine::RecordKind::Suppressed,
                        detail: format!("{} queued before the customer opted out", row.key).into(),
                    });
                    let dead = Attempt::Dead(
                        "not sent: the customer opted out after it was queued".into(),
                    );
                    attempts.push((row.key, row.attempts, row.delivery.channel, dead));
                    continue;
                }
                // Handed over late (an outage, retries) into its quiet hours: held until they end.
                if now > row.delivery.at && !row.quiet.is_empty() {
                    let allowed = crate::engine::time::after_quiet(now, &row.quiet);
                    if allowed > now {
                        late.push(crate::engine::Record {
                            at: now,
                            customer: row.delivery.customer.clone(),
                            playbook: Some(row.delivery.playbook),
                            kind: crate::engine::RecordKind::Late,
                            detail: format!(
                                "{} held until its quiet hours end at {allowed}",
                                row.key
                            )
                            .into(),
                        });
                        settled.push(Settled {
                            key: row.key,
                            status: Status::Pending,
                            reply: "held: handed over late, inside quiet hours".into(),
                            next_attempt: Some(allowed),
                        });
                        continue;
                    }
                }
                let attempt = match self.channels.get(&*row.delivery.channel) {
                    Some(ch) => ch.deliver(&row.key, &row.delivery),
                    None => Attempt::Dead(format!(
                        "channel `{}` is no longer in tend.toml",
                        row.delivery.channel
                    )),
                };
                attempts.push((row.key, row.attempts, row.delivery.channel, attempt));
            }
            // Durable at the far side before the store says sent.
            let mut unflushed: HashMap<&str, String> = HashMap::new();
            for (name, ch) in &self.channels {
                if attempts.iter().any(|a| &*a.2 == name.as_str()) {
                    if let Err(e) = ch.flush() {
                        unflushed.insert(name.as_str(), e);
                    }
                }
            }
            for (key, tries, channel, attempt) in attempts {
                let attempt = match (attempt, unflushed.get(&*channel)) {
                    (Attempt::Sent(_), Some(e)) => Attempt::Retry {
                        reply: e.clone(),
                        after: None,
                    },
                    (a, _) => a,
                };
                settled.push(self.settle(key, tries, attempt, now));
            }
            store.settle(&settled, now)?;
            if !late.is_empty() {
                store.record(&late)?;
            }
        }
    }

    fn settle(&self, key: String, attempts: u32, attempt: Attempt, now: DateTime<Utc>) -> Settled {
        let attempt = match attempt {
            Attempt::Sent(r) => Attempt::Sent(channels::redact(r, &self.secrets)),
            Attempt::Dead(r) => {
                let reply = channels::redact(r, &self.secrets);
                tracing::warn!(%key, %reply, "delivery dead: `tend retry KEY` after a fix");
                Attempt::Dead(reply)
            }
            Attempt::Retry { reply, after } => Attempt::Retry {
                reply: channels::redact(reply, &self.secrets),
                after,
            },
        };
        match attempt {
            Attempt::Sent(reply) => Settled {
                key,
                status: Status::Sent,
                reply,
                next_attempt: None,
            },
            Attempt::Dead(reply) => Settled {
                key,
                status: Status::Dead,
                reply,
                next_attempt: None,
            },
            Attempt::Retry { reply, .. } if attempts >= self.max_attempts => {
                let reply = format!("{reply} (gave up after {attempts} attempts)");
                tracing::warn!(%key, %reply, "delivery dead: `tend retry KEY` after a fix");
                Settled {
                    key,
                    status: Status::Dead,
                    reply,
                    next_attempt: None,
                }
            }
            Attempt::Retry { reply, after } => {
                let wait = after
                    .and_then(|a| Duration::from_std(a).ok())
                    .unwrap_or_else(|| backoff(&key, attempts));
                Settled {
                    key,
                    status: Status::Failed,
                    reply,
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

