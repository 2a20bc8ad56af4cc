//! The simulator's sample input, read through the intake (`crate::intake`,
//! one schema-typed conversion for TOML, JSON lines and CSV): customers, and
//! events in time order.

use crate::intake::{read_customers, read_events, Event, Schema};
use crate::source::SourceFile;
use chrono::{DateTime, Utc};

pub use crate::intake::{Customer as SampleCustomer, IntakeError};

/// A sample event: whose, when, what, and the line it was read from (0 when generated).
#[derive(Debug, Clone, PartialEq)]
pub struct SampleEvent {
    pub customer: String,
    pub at: DateTime<Utc>,
    pub event: Event,
    pub line: usize,
}

/// Customers from a file, by its extension (`.toml`, `.jsonl`/`.ndjson`/`.json`, `.csv`).
pub fn customers(src: &SourceFile, schema: &Schema) -> Result<Vec<SampleCustomer>, IntakeError> {
    Ok(read_customers(src, schema)?
        .items
        .into_iter()
        .map(|c| c.item)
        .collect())
}

/// Events from a file, by its extension, in time order (events at one
/// instant keep their file order); a repeated event id is dropped.
pub fn events(src: &SourceFile, schema: &Schema) -> Result<Vec<SampleEvent>, IntakeError> {
    let mut out: Vec<SampleEvent> = read_events(src, schema)?
        .items
        .into_iter()
        .map(|e| SampleEvent {
            customer: e.item.customer,
            at: e.item.at,
            event: e.item.event,
            line: e.line,
        })
        .collect();
    out.sort_by_key(|e| e.at);
    Ok(out)
}
