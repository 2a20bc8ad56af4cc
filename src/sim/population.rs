//! Where simulated customers come from: loaded samples, files read as the
//! run goes (`files.rs`), or a generator (the benchmark's million).
//! Customers are handed out in batches so threads share the work and only
//! the customers in flight are in memory.

use super::input::{SampleCustomer, SampleEvent};
use crate::value::Fields;
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One customer to run: its attributes and its events in time order.
pub struct Sample<'a> {
    pub id: String,
    pub attrs: Fields,
    pub events: Vec<Cow<'a, SampleEvent>>,
}

pub trait Population: Sync {
    /// How many customers it will hand out, when known ahead (a file read
    /// as the run goes knows only at the end).
    fn known_len(&self) -> Option<usize>;
    /// The next customers to run, or `None` when all have been handed out.
    fn next_batch(&self) -> Option<Vec<Sample<'_>>>;
    /// What the user should know about the input (events ignored, customers made up).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

pub const BATCH: usize = 256;

/// The next batch of indices in `0..len` for whichever thread asks, from a
/// shared cursor; `None` once all are handed out.
pub fn claim(next: &AtomicUsize, len: usize) -> Option<std::ops::Range<usize>> {
    let start = next.fetch_add(BATCH, Ordering::Relaxed);
    (start < len).then(|| start..(start + BATCH).min(len))
}

/// The warning for events outside the window.
pub fn outside_warning(n: usize) -> Option<String> {
    (n > 0).then(|| format!("{n} events fall outside the window and were ignored"))
}

/// The warning for a customer who appears only in events: such an event
/// creates the customer (docs/language.md §12). `origin` is `file:line`.
pub fn stranger_warning(origin: &str, id: &str) -> String {
    let at = if origin.is_empty() {
        String::new()
    } else {
        format!("{origin}: ")
    };
    format!(
        "{at}customer `{id}` is not in the customers file; created with only the attributes its events give (the others read as null). Add it to the customers file if that is not what you meant"
    )
}

/// Loaded customers and events, borrowed: each run clones a customer's attributes
/// as it starts (the engine changes them) and reads the events in place.
pub struct SlicePopulation<'a> {
    customers: Vec<(&'a str, Option<&'a Fields>)>,
    events: HashMap<&'a str, Vec<&'a SampleEvent>>,
    next: AtomicUsize,
    warnings: Vec<String>,
}

impl<'a> SlicePopulation<'a> {
    /// Events outside [from, until) are left out, with a warning; a customer
    /// that appears only in events is created with the attributes those
    /// events give. `events_file` names where events were read, for warnings.
    pub fn new(
        customers: &'a [SampleCustomer],
        events: &'a [SampleEvent],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
        events_file: &str,
    ) -> Self {
        let mut warnings = Vec::new();
        let outside = events
            .iter()
            .filter(|e| e.at < from || e.at >= until)
            .count();
        warnings.extend(outside_warning(outside));
        let mut by_customer: HashMap<&str, Vec<&SampleEvent>> = HashMap::new();
        for e in events.iter().filter(|e| e.at >= from && e.at < until) {
            by_customer.entry(e.customer.as_str()).or_default().push(e);
        }
        let mut list: Vec<(&str, Option<&Fields>)> = customers
            .iter()
            .map(|c| (c.id.as_str(), Some(&c.attrs)))
            .collect();
        let known: std::collections::HashSet<&str> = list.iter().map(|c| c.0).collect();
        let mut strangers: Vec<(&str, usize)> = by_customer
            .iter()
            .filter(|(id, _)| !known.contains(*id))
            .map(|(id, evs)| (*id, evs.first().map_or(0, |e| e.line)))
            .collect();
        strangers.sort_unstable();
        for (id, line) in strangers {
            let origin = if events_file.is_empty() || line == 0 {
                String::new()
            } else {
                format!("{events_file}:{line}")
            };
            warnings.push(stranger_warning(&origin, id));
            list.push((id, None));
        }
        SlicePopulation {
            customers: list,
            events: by_customer,
            next: AtomicUsize::new(0),
            warnings,
        }
    }
}

impl Population for SlicePopulation<'_> {
    fn known_len(&self) -> Option<usize> {
        Some(self.customers.len())
    }

    fn next_batch(&self) -> Option<Vec<Sample<'_>>> {
        let batch = &self.customers[claim(&self.next, self.customers.len())?];
        Some(
            batch
                .iter()
                .map(|(id, attrs)| Sample {
                    id: id.to_string(),
                    attrs: attrs.cloned().unwrap_or_default(),
                    events: self
                        .events
                        .get(id)
                        .map(|evs| evs.iter().map(|e| Cow::Borrowed(*e)).collect())
                        .unwrap_or_default(),
                })
                .collect(),
        )
    }

    fn warnings(&self) -> Vec<String> {
        self.warnings.clone()
    }
}
