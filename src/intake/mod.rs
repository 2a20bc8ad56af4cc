//! What comes in: the event envelope and schema-typed customers and events,
//! one module for every reader (sample files in TOML, JSON lines or CSV, the
//! HTTP API, `tend import`), with one set of error messages naming the field.
//!
//! Every reader turns its input into [`Raw`] values (the neutral form: JSON's
//! kinds, plus TOML's date literals and CSV's untyped cells), and [`Schema`]
//! converts those by the schema's types into compact [`Fields`], once for all
//! of them. Big files go through [`load_events`] and [`CustomerStream`], which
//! parse blocks of lines on several threads.

mod convert;
mod csv;
pub(super) mod fast;
mod jsonl;
mod raw;
mod stream;
mod toml;

use crate::source::SourceFile;
use crate::types;
use crate::value::{Fields, Sym};
use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::ops::Range;

pub use raw::MAX_DEPTH;
pub use stream::{load_events, load_events_into, CustomerStream};

/// An incoming event for one customer, as the engine sees it. Its serde
/// form is the stored one (values tagged by type), which reads back exactly.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// The types input is read by: the customer attributes and each event's
/// payload, from tend.toml.
///
/// Build it with [`Schema::from_config`] or [`Schema::new`]: conversion uses a
/// form of these types prepared (names interned) when the schema is built, so
/// changing the public fields afterwards does not change what is accepted.
#[derive(Debug, Clone)]
pub struct Schema {
    pub customer: types::Record,
    /// Declared events by name, and the built-in `customer.updated` (no payload).
    pub events: BTreeMap<String, types::Record>,
    /// Reads local date-times without an offset (a customer's own valid
    /// `timezone` attribute comes first for that customer's attributes).
    pub zone: chrono_tz::Tz,
    plan: convert::Plan,
}

/// The built-in event that carries only `attributes`.
pub const CUSTOMER_UPDATED: &str = "customer.updated";

impl Schema {
    /// `events` gains the built-in `customer.updated` with an empty payload
    /// (replacing any declaration of it).
    pub fn new(
        customer: types::Record,
        mut events: BTreeMap<String, types::Record>,
        zone: chrono_tz::Tz,
    ) -> Schema {
        events.insert(CUSTOMER_UPDATED.to_string(), types::Record::new());
        let plan = convert::Plan::new(&customer, &events);
        Schema {
            customer,
            events,
            zone,
            plan,
        }
    }

    /// The schema of tend.toml; its `timezone`, else UTC.
    pub fn from_config(c: &crate::config::Config) -> Schema {
        Schema::new(
            c.customer.clone(),
            c.events
                .iter()
                .map(|(name, d)| (name.clone(), d.fields.clone()))
                .collect(),
            c.timezone.unwrap_or(chrono_tz::UTC),
        )
    }
}

/// A customer read from input: the id and the attributes the schema declares.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    pub id: String,
    pub attrs: Fields,
}

/// An item and the 1-based line it starts on in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub line: usize,
    pub item: T,
}

/// A mistake in input. Display: "FILE:LINE: MESSAGE" when both are known,
/// else just the message (which then names the file itself where there is one).
#[derive(Debug, Clone, PartialEq)]
pub struct IntakeError {
    pub file: Option<String>,
    pub line: Option<usize>,
    pub message: String,
    /// The field at fault, as a path (`data.order_id`), when one is.
    pub field: Option<String>,
}

impl IntakeError {
    pub(crate) fn at(file: &str, line: usize, message: impl Into<String>) -> IntakeError {
        IntakeError {
            file: Some(file.to_string()),
            line: Some(line),
            message: message.into(),
            field: None,
        }
    }

    /// A [`FieldError`] in the item that starts at `line`; the field's own
    /// line when the error has a span in `src`.
    pub(crate) fn field(
        file: &str,
        line: usize,
        src: Option<&SourceFile>,
        e: FieldError,
    ) -> IntakeError {
        let line = match (src, e.span) {
            (Some(src), Some(span)) => src.line_col(span.start).0,
            _ => line,
        };
        IntakeError {
            field: e.field,
            ..IntakeError::at(file, line, e.message)
        }
    }
}

impl std::fmt::Display for IntakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: {}", self.message),
            _ => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for IntakeError {}

/// What a reader found besides the items: notes such as dropped duplicate event ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    pub items: Vec<Located<T>>,
    pub warnings: Vec<String>,
}

/// A value as a reader found it, before the schema gives it a type: the
/// neutral form every reader produces, so conversion is written once.
/// Strings borrow from the input where they can.
#[derive(Debug, Clone, PartialEq)]
pub enum Raw<'a> {
    Null,
    Bool(bool),
    Int(i64),
    /// Also a whole number too large for 64 bits.
    Float(f64),
    Str(Cow<'a, str>),
    /// A TOML date/datetime literal as written.
    Datetime(Cow<'a, str>),
    List(Vec<Raw<'a>>),
    Table(Vec<Entry<'a>>),
    /// A CSV cell: text read by the schema's type (`3` is a number where the
    /// schema says int, `a|b` a list where it says list). Empty is absent, or
    /// an empty list.
    Text(Cow<'a, str>),
}

/// A key and its value in a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<'a> {
    pub key: Cow<'a, str>,
    pub value: Raw<'a>,
    /// Byte span of the key and value in the file, when the reader knows it (TOML).
    pub span: Option<Range<usize>>,
}

/// A mistake in one item, naming the field; the reader adds file and line.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// Where in the file, when the reader gave spans; else the item's line is meant.
    pub span: Option<Range<usize>>,
    pub message: String,
    /// The field at fault, as a path (`data.order_id`), when one is.
    pub field: Option<String>,
}

impl FieldError {
    /// Names the field at fault, unless a deeper one is named already.
    pub(crate) fn on(mut self, field: impl std::fmt::Display) -> FieldError {
        if self.field.is_none() {
            self.field = Some(field.to_string());
        }
        self
    }
}

/// How a file is read, by its extension.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Format {
    JsonLines,
    Csv,
    Toml,
}

impl Format {
    /// `.jsonl`, `.ndjson`, `.json`: JSON lines; `.csv`: CSV; anything else: TOML.
    pub(crate) fn of(path: &std::path::Path) -> Format {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase());
        match ext.as_deref() {
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            Some("csv") => Format::Csv,
            _ => Format::Toml,
        }
    }
}

/// Customers from a file read whole, in file order. A customer listed twice is an error.
pub fn read_customers(src: &SourceFile, schema: &Schema) -> Result<Loaded<Customer>, IntakeError> {
    let file = src.display_path();
    let items = match Format::of(&src.path) {
        Format::Toml => toml::customers(src, schema)?,
        Format::JsonLines => jsonl::customers(strip_bom(&src.text), 1, schema, &file)?,
        Format::Csv => csv::customers(strip_bom(&src.text).as_bytes(), schema, &file)?,
    };
    let (ids, mut seen) = (stream::Ids::default(), stream::IdSet::default());
    for c in &items {
        seen.insert(ids.of_str(&c.item.id), &c.item.id, c.line, &file)?;
    }
    Ok(Loaded {
        items,
        warnings: Vec::new(),
    })
}

/// Events from a file read whole, in file order (the caller sorts by `at`,
/// stably). A repeated event id is dropped with a warning.
pub fn read_events(src: &SourceFile, schema: &Schema) -> Result<Loaded<Envelope>, IntakeError> {
    let file = src.display_path();
    let items = match Format::of(&src.path) {
        Format::Toml => toml::events(src, schema)?,
        Format::JsonLines => jsonl::events(strip_bom(&src.text), 1, schema, &file)?,
        Format::Csv => csv::events(strip_bom(&src.text).as_bytes(), schema, &file)?,
    };
    let (ids, mut dedup) = (stream::Ids::default(), stream::Dedup::new(&file));
    let out = items
        .into_iter()
        .filter(|e| dedup.admit(ids.of(&e.item), e))
        .collect();
    Ok(Loaded {
        items: out,
        warnings: dedup.finish(),
    })
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[cfg(test)]
mod tests;

/// Instants are whole seconds: an input's time is cut to its second.
pub fn whole_seconds(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}
