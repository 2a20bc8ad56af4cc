//! Sample input read from files as the run goes: every event is loaded first
//! (on all cores) and grouped by customer, then customers stream from their
//! file block by block, each thread parsing the block it runs. Memory holds
//! the events and the customers in flight, never the whole customers file.

use super::input::SampleEvent;
use super::population::{outside_warning, stranger_warning, Population, Sample, BATCH};
use crate::hash::FastMap;
use crate::intake::{load_events_into, CustomerStream, IntakeError, Schema};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Customers who appear only in events, with theirs, by id.
type Strangers = std::vec::IntoIter<(Box<str>, Vec<SampleEvent>)>;

pub struct FilePopulation {
    customers: CustomerStream,
    events_file: String,
    /// Events of the window by customer, in time order; a customer's are
    /// taken when the customer runs, so what is left at the end belongs to
    /// customers the customers file does not have.
    events: Mutex<FastMap<Box<str>, Vec<SampleEvent>>>,
    /// Held for reading while a block of customers is read and its events
    /// taken; the strangers are gathered under the write lock, once no block
    /// is in flight.
    gate: RwLock<()>,
    streamed: AtomicBool,
    strangers: Mutex<Option<Strangers>>,
    warnings: Mutex<Vec<String>>,
    error: Mutex<Option<IntakeError>>,
    /// Ids seen close to the one `--customer` asked for: (distance, id).
    wanted: Option<String>,
    nearest: Mutex<Option<(usize, String)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FilePopulation {
    /// Loads the events of [from, until) on `threads` threads and opens the
    /// customers file. `wanted`: a customer id whose nearest match is noted.
    pub fn open(
        customers: &Path,
        events: &Path,
        schema: Arc<Schema>,
        (from, until): (DateTime<Utc>, DateTime<Utc>),
        threads: usize,
        wanted: Option<String>,
    ) -> Result<Self, IntakeError> {
        // Grouped as the blocks come in, while the other threads parse.
        let mut by_customer: FastMap<Box<str>, Vec<SampleEvent>> = FastMap::default();
        let mut outside = 0;
        let mut warnings = load_events_into(events, &schema, threads, |e| {
            if e.item.at < from || e.item.at >= until {
                outside += 1;
                return;
            }
            by_customer
                .entry(e.item.customer.into_boxed_str())
                .or_default()
                .push(SampleEvent {
                    customer: String::new(),
                    at: e.item.at,
                    event: e.item.event,
                    line: e.line,
                });
        })?;
        warnings.extend(outside_warning(outside));
        Ok(FilePopulation {
            customers: CustomerStream::open(customers, schema)?,
            events_file: events.display().to_string(),
            events: Mutex::new(by_customer),
            gate: RwLock::new(()),
            streamed: AtomicBool::new(false),
            strangers: Mutex::new(None),
            warnings: Mutex::new(warnings),
            error: Mutex::new(None),
            wanted,
            nearest: Mutex::new(None),
        })
    }

    /// The first mistake found in the customers file, if any: the run's
    /// counts are then incomplete and must not be reported.
    pub fn error(&self) -> Option<IntakeError> {
        lock(&self.error).clone()
    }

    /// The id nearest to the one asked for (within two edits), when it did not run.
    pub fn nearest(&self) -> Option<String> {
        lock(&self.nearest).as_ref().map(|n| n.1.clone())
    }

    fn note(&self, id: &str) {
        if let Some(w) = &self.wanted {
            let d = strsim::levenshtein(w, id);
            if d <= 2 {
                let mut n = lock(&self.nearest);
                if n.as_ref().is_none_or(|(bd, b)| (d, id) < (*bd, b.as_str())) {
                    *n = Some((d, id.to_string()));
                }
            }
        }
    }

    /// The next block of listed customers, with their events taken.
    fn next_listed(&self) -> Option<Vec<Sample<'_>>> {
        let _reading = self.gate.read().unwrap_or_else(|e| e.into_inner());
        if self.streamed.load(Ordering::Acquire) {
            return None;
        }
        match self.customers.next_block() {
            Some(Ok(block)) => {
                let mut events = lock(&self.events);
                Some(
                    block
                        .into_iter()
                        .map(|c| {
                            let id = c.item.id;
                            self.note(&id);
                            let evs = in_time_order(events.remove(id.as_str()).unwrap_or_default());
                            Sample {
                                id,
                                attrs: c.item.attrs,
                                events: evs.into_iter().map(Cow::Owned).collect(),
                            }
                        })
                        .collect(),
                )
            }
            Some(Err(e)) => {
                lock(&self.error).get_or_insert(e);
                self.streamed.store(true, Ordering::Release);
                None
            }
            None => {
                self.streamed.store(true, Ordering::Release);
                None
            }
        }
    }
}

impl Population for FilePopulation {
    fn known_len(&self) -> Option<usize> {
        None
    }

    fn next_batch(&self) -> Option<Vec<Sample<'_>>> {
        if let Some(batch) = self.next_listed() {
            return Some(batch);
        }
        if lock(&self.error).is_some() {
            return None;
        }
        // Every listed customer has taken its events: what is left belongs to strangers.
        let _all_read = self.gate.write().unwrap_or_else(|e| e.into_inner());
        let mut strangers = lock(&self.strangers);
        let rest = strangers.get_or_insert_with(|| {
            let mut left: Vec<(Box<str>, Vec<SampleEvent>)> = lock(&self.events).drain().collect();
            left.sort_unstable_by(|a, b| a.0.cmp(&b.0));
            let mut warnings = lock(&self.warnings);
            for (id, evs) in &left {
                // Where its first event in time is.
                let line = evs
                    .iter()
                    .min_by_key(|e| (e.at, e.line))
                    .map_or(0, |e| e.line);
                warnings.push(stranger_warning(
                    &format!("{}:{line}", self.events_file),
                    id,
                ));
            }
            left.into_iter()
        });
        let batch: Vec<Sample> = rest
            .by_ref()
            .take(BATCH)
            .map(|(id, evs)| {
                self.note(&id);
                Sample {
                    id: id.into_string(),
                    attrs: Default::default(),
                    events: in_time_order(evs).into_iter().map(Cow::Owned).collect(),
                }
            })
            .collect();
        (!batch.is_empty()).then_some(batch)
    }

    fn warnings(&self) -> Vec<String> {
        lock(&self.warnings).clone()
    }
}

/// A customer's events by time; events at one instant keep their file order.
fn in_time_order(mut events: Vec<SampleEvent>) -> Vec<SampleEvent> {
    events.sort_by_key(|e| e.at);
    events
}
