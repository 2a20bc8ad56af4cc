//! Where simulated customers come from: loaded sample files, or a generator
//! (the benchmark's million). Customers are handed out in batches so threads
//! share the work and only the customers in flight are in memory.

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
    /// How many customers it will hand out.
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The next customers to run, or `None` when all have been handed out.
    fn next_batch(&self) -> Option<Vec<Sample<'_>>>;
    /// What the user should know about the input (events ignored, customers made up).
    fn warnings(&self) -> Vec<String> {
        Vec::new()
    }
}

const BATCH: usize = 256;

/// The next batch of indices in `0..len` for whichever thread asks, from a
/// shared cursor; `None` once all are handed out.
pub fn claim(next: &AtomicUsize, len: usize) -> Option<std::ops::Range<usize>> {
    let start = next.fetch_add(BATCH, Ordering::Relaxed);
    (start < len).then(|| start..(start + BATCH).min(len))
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
    /// that appears only in events is created with the attributes those events give.
    pub fn new(
        customers: &'a [SampleCustomer],
        events: &'a [SampleEvent],
        from: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Self {
        let mut warnings = Vec::new();
        let outside = events
            .iter()
            .filter(|e| e.at < from || e.at >= until)
            .count();
        if outside > 0 {
            warnings.push(format!(
                "{outside} events fall outside the window and were ignored"
            ));
        }
        let mut by_customer: HashMap<&str, Vec<&SampleEvent>> = HashMap::new();
        for e in events.iter().filter(|e| e.at >= from && e.at < until) {
            by_customer.entry(e.customer.as_str()).or_default().push(e);
        }
        let mut list: Vec<(&str, Option<&Fields>)> = customers
            .iter()
            .map(|c| (c.id.as_str(), Some(&c.attrs)))
            .collect();
        let known: std::collections::HashSet<&str> = list.iter().map(|c| c.0).collect();
        let mut strangers: Vec<(&str, &str)> = by_customer
            .iter()
            .filter(|(id, _)| !known.contains(*id))
            .map(|(id, evs)| (*id, evs.first().map_or("", |e| e.origin.as_str())))
            .collect();
        strangers.sort_unstable();
        // An event for an unknown id creates the customer (docs/language.md §12).
        for (id, origin) in strangers {
            let at = if origin.is_empty() {
                String::new()
            } else {
                format!("{origin}: ")
            };
            warnings.push(format!(
                "{at}customer `{id}` is not in the customers file; created with only the attributes its events give (the others read as null). Add it to the customers file if that is not what you meant"
            ));
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
    fn len(&self) -> usize {
        self.customers.len()
    }

    fn next_batch(&self) -> Option<Vec<Sample<'_>>> {
        let batch = &self.customers[claim(&self.next, self.len())?];
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
