//! What comes in: the event envelope and schema-typed customers and events,
//! one module for every reader (sample files in TOML, JSON lines or CSV, the
//! HTTP API, `tend import`), with one set of error messages naming the field.

use crate::value::{Fields, Sym};
use chrono::{DateTime, Utc};

/// An incoming event for one customer, as the engine sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub name: Sym,
    /// The payload, checked against `[events."name"]`.
    pub data: Fields,
    /// A partial patch of the customer, applied before any condition sees the event.
    pub attributes: Fields,
}

/// The envelope every input shares: `{"id", "name", "customer", "at", "data", "attributes"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope {
    /// De-duplicates; `None` when the input gave none (the simulator then uses file:line).
    pub id: Option<String>,
    pub customer: String,
    pub at: DateTime<Utc>,
    pub event: Event,
}

/// The schema input is checked against: tend.toml's `[customer]` and
/// `[events."…"]`, and the zone offset-less times are read in.
#[derive(Debug, Clone)]
pub struct Schema {
    pub customer: crate::types::Record,
    pub events: std::collections::BTreeMap<String, crate::types::Record>,
    pub zone: chrono_tz::Tz,
}

impl Schema {
    pub fn from_config(c: &crate::config::Config) -> Schema {
        let mut events: std::collections::BTreeMap<String, crate::types::Record> = c
            .events
            .iter()
            .map(|(k, d)| (k.clone(), d.fields.clone()))
            .collect();
        events.entry("customer.updated".into()).or_default();
        Schema {
            customer: c.customer.clone(),
            events,
            zone: c.timezone.unwrap_or(chrono_tz::UTC),
        }
    }
}

/// Instants are whole seconds: an input's time is cut to its second.
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}
