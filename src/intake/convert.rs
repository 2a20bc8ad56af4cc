//! The schema-typed conversion of [`Raw`] values, written once for every
//! reader, with one set of messages naming the field by its dotted path.

use super::{Customer, Entry, Envelope, Event, FieldError, Raw, Schema};
use crate::types::{Record, Type};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;

/// The schema prepared for conversion: names interned once, fields sorted
/// for lookup by the names input gives.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) customer: Rec,
    pub(super) events: BTreeMap<String, (Sym, Rec)>,
}

#[derive(Debug, Clone, Default)]
pub(super) struct Rec {
    /// Sorted by name, as [`Fields`] keeps them.
    pub(super) fields: Vec<FieldPlan>,
}

#[derive(Debug, Clone)]
pub(super) struct FieldPlan {
    pub(super) name: Sym,
    pub(super) optional: bool,
    pub(super) ty: Ty,
}

#[derive(Debug, Clone)]
pub(super) struct Ty {
    /// As messages name it: "(the schema says list<string>)".
    shown: Type,
    pub(super) kind: Kind,
}

#[derive(Debug, Clone)]
pub(super) enum Kind {
    String,
    Int,
    Float,
    Bool,
    Date,
    DateTime,
    List(Box<Ty>),
    Record(Rec),
    /// A type no input can give (durations, clock times): always refused.
    Other,
}

impl Plan {
    pub(super) fn new(customer: &Record, events: &BTreeMap<String, Record>) -> Plan {
        Plan {
            customer: Rec::new(customer),
            events: events
                .iter()
                .map(|(name, rec)| (name.clone(), (Sym::new(name), Rec::new(rec))))
                .collect(),
        }
    }
}

impl Rec {
    fn new(rec: &Record) -> Rec {
        // A BTreeMap iterates in byte order, the order `Sym` sorts by.
        Rec {
            fields: rec
                .iter()
                .map(|(name, f)| FieldPlan {
                    name: Sym::new(name),
                    optional: f.optional,
                    ty: Ty::new(&f.ty),
                })
                .collect(),
        }
    }

    pub(super) fn find(&self, key: &str) -> Option<(usize, &FieldPlan)> {
        let i = self
            .fields
            .binary_search_by(|f| f.name.as_str().cmp(key))
            .ok()?;
        Some((i, &self.fields[i]))
    }
}

impl Ty {
    fn new(ty: &Type) -> Ty {
        let kind = match ty {
            Type::String => Kind::String,
            Type::Int => Kind::Int,
            Type::Float => Kind::Float,
            Type::Bool => Kind::Bool,
            Type::Date => Kind::Date,
            Type::DateTime => Kind::DateTime,
            Type::List(inner) => Kind::List(Box::new(Ty::new(inner))),
            Type::Record(rec) => Kind::Record(Rec::new(rec)),
            Type::Duration | Type::Clock | Type::EmptyList => Kind::Other,
        };
        Ty {
            shown: ty.clone(),
            kind,
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(self.kind, Kind::List(_) | Kind::Record(_))
    }

    /// Values of this type, for "a list of …".
    fn plural(&self) -> &'static str {
        match self.kind {
            Kind::String => "strings",
            Kind::Int => "whole numbers",
            Kind::Float => "numbers",
            Kind::Bool => "true or false values",
            Kind::Date => "dates",
            Kind::DateTime => "dates and times",
            Kind::List(_) => "lists",
            Kind::Record(_) => "tables",
            Kind::Other => "values input cannot give",
        }
    }

    /// What a value of this type is, for "must be …".
    fn expected(&self) -> &'static str {
        match self.kind {
            Kind::String => "a string",
            Kind::Int => "a whole number",
            Kind::Float => "a number",
            Kind::Bool => "true or false",
            Kind::Date => "a date",
            Kind::DateTime => "a date and time",
            Kind::List(_) => "a list",
            Kind::Record(_) => "a table",
            Kind::Other => "a value input cannot give",
        }
    }
}

/// A field's dotted path, written out only for a message.
#[derive(Clone, Copy)]
enum Path<'p> {
    Root,
    Key(&'p Path<'p>, &'p str),
}

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Key(Path::Root, k) => f.write_str(k),
            Path::Key(parent, k) => write!(f, "{parent}.{k}"),
        }
    }
}

const ENVELOPE: &str = "an event has `id`, `name`, `customer`, `at`, `data` and `attributes`";
const AT_EXAMPLE: &str = "2026-12-01T10:05:00+08:00";

/// The longest id taken, in characters: ids are keys, not text.
pub const MAX_ID_CHARS: usize = 256;

/// Whether an id fits: at most [`MAX_ID_CHARS`] characters, none of them a control character.
pub fn id_fits(s: &str) -> bool {
    s.chars().take(MAX_ID_CHARS + 1).count() <= MAX_ID_CHARS && !s.chars().any(char::is_control)
}

fn checked_id(what: &str, id: String) -> Result<String, FieldError> {
    if id_fits(&id) {
        return Ok(id);
    }
    fail(
        None,
        format!(
            "{what} must be at most {MAX_ID_CHARS} characters without control characters (this one has {})",
            id.chars().count()
        ),
    )
}

fn fail<T>(span: Option<&Range<usize>>, message: String) -> Result<T, FieldError> {
    Err(FieldError {
        span: span.cloned(),
        message,
        field: None,
    })
}

/// A mistake in the field `field`.
fn fail_on<T>(
    span: Option<&Range<usize>>,
    field: impl fmt::Display,
    message: String,
) -> Result<T, FieldError> {
    fail(span, message).map_err(|e: FieldError| e.on(field))
}

/// Text as a message shows it: in backticks, cut short when long.
fn shown(s: &str) -> String {
    const MAX: usize = 60;
    match s.char_indices().nth(MAX) {
        None => format!("`{s}`"),
        Some((i, _)) => format!("`{}…`", &s[..i]),
    }
}

/// A raw value as a message shows it: scalars as written, the rest described.
fn literal(raw: &Raw) -> String {
    match raw {
        Raw::Int(i) => i.to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Float(f) if !is_big_whole(*f) => f.to_string(),
        Raw::Str(s) | Raw::Text(s) | Raw::Datetime(s) => shown(s),
        other => describe(other),
    }
}

/// What a raw value is, for "…, not …".
fn describe(raw: &Raw) -> String {
    match raw {
        Raw::Null => "null".into(),
        Raw::Bool(b) => b.to_string(),
        Raw::Int(_) => "a whole number".into(),
        Raw::Float(f) if is_big_whole(*f) => "a whole number beyond 64 bits".into(),
        Raw::Float(_) => "a decimal number".into(),
        Raw::Str(_) => "a string".into(),
        Raw::Datetime(s) if !s.contains(':') => "a date".into(),
        Raw::Datetime(s) if !s.contains('-') => "a time of day".into(),
        Raw::Datetime(_) => "a date and time".into(),
        Raw::List(_) => "a list".into(),
        Raw::Table(_) => "a table".into(),
        Raw::Text(s) => shown(s),
    }
}

/// A whole number an i64 cannot hold (JSON and TOML give those as floats).
fn is_big_whole(f: f64) -> bool {
    f.fract() == 0.0 && !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f)
}

fn out_of_i64(path: Path) -> String {
    format!(
        "`{path}` must be a whole number between {} and {} (the schema says int)",
        i64::MIN,
        i64::MAX
    )
}

/// A parse that can fail because the text is no date, or because its year is out of range.
pub(super) enum Parsed<T> {
    Ok(T),
    Bad,
    OutOfRange,
}

const YEARS: std::ops::RangeInclusive<i32> = 1..=9999;

/// Text whose year has more than four digits, which chrono does not read.
fn far_year(s: &str) -> bool {
    let s = s.trim();
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    digits > 4 && s.as_bytes().get(digits) == Some(&b'-')
}

/// `YYYY-MM-DD`, years 1 to 9999.
pub(super) fn parse_date(s: &str) -> Parsed<NaiveDate> {
    match NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d") {
        Ok(d) if YEARS.contains(&d.year()) => Parsed::Ok(d),
        Ok(_) => Parsed::OutOfRange,
        Err(_) if far_year(s) => Parsed::OutOfRange,
        Err(_) => Parsed::Bad,
    }
}

/// RFC 3339 with an offset.
pub(super) fn parse_offset_datetime(s: &str) -> Parsed<DateTime<Utc>> {
    match DateTime::parse_from_rfc3339(s.trim()) {
        Ok(t) if YEARS.contains(&t.year()) => Parsed::Ok(t.with_timezone(&Utc)),
        Ok(_) => Parsed::OutOfRange,
        Err(_) if far_year(s) => Parsed::OutOfRange,
        Err(_) => Parsed::Bad,
    }
}

fn parse_local_datetime(s: &str) -> Option<NaiveDateTime> {
    let s = s.trim();
    [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|fmt| NaiveDateTime::parse_from_str(s, fmt).ok())
}

/// RFC 3339 with an offset, or a local date-time read in `tz`.
fn parse_datetime(s: &str, tz: Tz) -> Parsed<DateTime<Utc>> {
    match parse_offset_datetime(s) {
        Parsed::Bad => match parse_local_datetime(s) {
            Some(l) if YEARS.contains(&l.year()) => Parsed::Ok(crate::engine::time::resolve(tz, l)),
            Some(_) => Parsed::OutOfRange,
            None => Parsed::Bad,
        },
        other => other,
    }
}

impl Schema {
    /// A customer: `id` (a non-empty string or a whole number) and attributes,
    /// every required one present. Offset-less date-times are read in the
    /// customer's own `timezone` when it names a valid zone.
    pub fn customer(&self, mut entries: Vec<Entry>) -> Result<Customer, FieldError> {
        let id = match entries.iter().position(|e| e.key == "id") {
            Some(i) => entries.remove(i).value,
            None => Raw::Null,
        };
        let id = match id {
            // An empty id would be the broadcast runs' own.
            Raw::Str(s) | Raw::Text(s) if !s.is_empty() => s.into_owned(),
            Raw::Int(i) => i.to_string(),
            _ => return fail(None, "every customer needs a non-empty `id`".into()),
        };
        let id = checked_id("a customer's `id`", id)?;
        let tz = entries
            .iter()
            .find(|e| e.key == "timezone")
            .and_then(|e| match &e.value {
                Raw::Str(s) | Raw::Text(s) => s.trim().parse().ok(),
                _ => None,
            })
            .unwrap_or(self.zone);
        let attrs = record(&self.plan.customer, entries, Path::Root, tz, true, None)?;
        Ok(Customer { id, attrs })
    }

    /// An event in the envelope `{"id", "name", "customer", "at", "data", "attributes"}`.
    pub fn event(&self, entries: Vec<Entry>) -> Result<Envelope, FieldError> {
        let [mut id, mut name, mut customer, mut at, mut data, mut attributes] =
            [None, None, None, None, None, None];
        for e in entries {
            let slot = match &*e.key {
                "id" => &mut id,
                "name" => &mut name,
                "customer" => &mut customer,
                "at" => &mut at,
                "data" => &mut data,
                "attributes" => &mut attributes,
                other => {
                    return fail_on(
                        e.span.as_ref(),
                        other,
                        format!("{} is not part of an event; {ENVELOPE}", shown(other)),
                    )
                }
            };
            if slot.is_some() {
                return fail_on(
                    e.span.as_ref(),
                    &e.key,
                    format!("`{}` is given twice", e.key),
                );
            }
            *slot = Some(e);
        }
        let text = |e: &Option<Entry>| -> Option<String> {
            match e.as_ref().map(|e| &e.value) {
                Some(Raw::Str(s) | Raw::Text(s)) if !s.is_empty() => Some(s.to_string()),
                _ => None,
            }
        };
        let Some(name_text) = text(&name) else {
            return fail_on(None, "name", "every event needs a `name`".into());
        };
        let customer = match customer.as_ref().map(|e| &e.value) {
            Some(Raw::Str(s) | Raw::Text(s)) if !s.is_empty() => s.to_string(),
            Some(Raw::Int(i)) => i.to_string(),
            _ => {
                return fail_on(
                    None,
                    "customer",
                    "every event needs a non-empty `customer` id".into(),
                )
            }
        };
        let customer = checked_id("`customer`", customer).map_err(|e| e.on("customer"))?;
        let at = match at {
            Some(Entry {
                value: Raw::Str(s) | Raw::Text(s) | Raw::Datetime(s),
                span,
                ..
            // Instants are whole seconds.
            }) if !s.is_empty() => super::whole_seconds(event_time(&s, span.as_ref()).map_err(|e| e.on("at"))?),
            // What is left of strings is empty ones.
            Some(Entry {
                value: Raw::Null | Raw::Text(_) | Raw::Str(_),
                ..
            })
            | None => {
                return fail_on(
                    None,
                    "at",
                    format!("every event needs `at`, a time with its offset such as {AT_EXAMPLE}"),
                )
            }
            Some(e) => {
                return fail_on(
                    e.span.as_ref(),
                    "at",
                    format!(
                        "`at` must be a time with its offset such as {AT_EXAMPLE}, not {}",
                        describe(&e.value)
                    ),
                )
            }
        };
        let Some((sym, payload)) = self.plan.events.get(&name_text) else {
            let name_span = name.as_ref().and_then(|e| e.span.as_ref());
            return fail_on(
                name_span,
                "name",
                format!(
                    "event `{name_text}` is not declared in tend.toml; declare it under [events.\"{name_text}\"]"
                ),
            );
        };
        let data_path = Path::Key(&Path::Root, "data");
        let data = match data {
            None
            | Some(Entry {
                value: Raw::Null, ..
            }) => record(payload, Vec::new(), data_path, self.zone, true, None)?,
            Some(Entry {
                value: Raw::Table(t),
                span,
                ..
            }) => record(payload, t, data_path, self.zone, true, span.as_ref())?,
            Some(e) => {
                return fail_on(
                    e.span.as_ref(),
                    "data",
                    format!(
                        "`data` must be a table of payload fields, not {}",
                        describe(&e.value)
                    ),
                )
            }
        };
        let attributes = match attributes {
            None
            | Some(Entry {
                value: Raw::Null, ..
            }) => Fields::new(),
            Some(Entry {
                value: Raw::Table(t),
                span,
                ..
            }) => record(
                &self.plan.customer,
                t,
                Path::Key(&Path::Root, "attributes"),
                self.zone,
                false,
                span.as_ref(),
            )?,
            Some(e) => {
                return fail_on(
                    e.span.as_ref(),
                    "attributes",
                    format!(
                        "`attributes` must be a table of customer attributes, not {}",
                        describe(&e.value)
                    ),
                )
            }
        };
        let id = match id {
            None
            | Some(Entry {
                value: Raw::Null, ..
            }) => None,
            Some(Entry {
                value: Raw::Text(s),
                ..
            }) if s.is_empty() => None,
            Some(Entry {
                value: Raw::Str(s) | Raw::Text(s),
                ..
            }) if !s.is_empty() => Some(s.into_owned()),
            Some(Entry {
                value: Raw::Int(i), ..
            }) => Some(i.to_string()),
            Some(e) => {
                return fail_on(
                    e.span.as_ref(),
                    "id",
                    format!(
                        "`id`, when given, must be a non-empty string, not {}",
                        match &e.value {
                            Raw::Str(_) => "an empty one".to_string(),
                            v => describe(v),
                        }
                    ),
                )
            }
        };
        let id = id
            .map(|id| checked_id("`id`", id).map_err(|e| e.on("id")))
            .transpose()?;
        Ok(Envelope {
            id,
            customer,
            at,
            event: Event {
                name: *sym,
                data,
                attributes,
            },
        })
    }

    /// A partial patch of a customer: only the attributes given, each checked
    /// (a nested table given is checked whole).
    pub fn attributes(&self, entries: Vec<Entry>) -> Result<Fields, FieldError> {
        record(
            &self.plan.customer,
            entries,
            Path::Root,
            self.zone,
            false,
            None,
        )
    }
}

/// An event's `at`: RFC 3339 with an offset.
fn event_time(s: &str, span: Option<&Range<usize>>) -> Result<DateTime<Utc>, FieldError> {
    match parse_offset_datetime(s) {
        Parsed::Ok(t) => Ok(t),
        Parsed::OutOfRange => fail(
            span,
            "`at` must be a date and time between years 1 and 9999".into(),
        ),
        Parsed::Bad if parse_local_datetime(s).is_some() => fail(
            span,
            format!(
                "{} has no offset; write the time as RFC 3339 with one, such as {AT_EXAMPLE}",
                shown(s)
            ),
        ),
        Parsed::Bad => fail(
            span,
            format!(
                "`at` must be a time with its offset such as {AT_EXAMPLE}, not {}",
                shown(s)
            ),
        ),
    }
}

/// A table checked against a record type; `complete` demands every required
/// field (a field whose type is a table may be absent as a whole). `span` is
/// the table's own place, for messages about it as a whole.
fn record(
    rec: &Rec,
    entries: Vec<Entry>,
    path: Path,
    tz: Tz,
    complete: bool,
    span: Option<&Range<usize>>,
) -> Result<Fields, FieldError> {
    let mut out: Vec<(usize, Value)> = Vec::with_capacity(entries.len());
    for e in entries {
        let here = Path::Key(&path, &e.key);
        let found = rec.find(&e.key);
        // An empty CSV cell is absent (an empty list for a list), even in a
        // column the schema lacks: a file of several events has columns for
        // each one's payload.
        if matches!(&e.value, Raw::Text(s) if s.is_empty()) {
            if let Some((i, f)) = found {
                if matches!(f.ty.kind, Kind::List(_)) {
                    out.push((i, Value::List(Vec::new().into())));
                }
            }
            continue;
        }
        let Some((i, field)) = found else {
            return fail_on(
                e.span.as_ref().or(span),
                here,
                format!("`{here}` is not in the schema; declare it in tend.toml or remove it"),
            );
        };
        // A JSON null for an optional field is absent.
        if matches!(e.value, Raw::Null) && field.optional {
            continue;
        }
        let at = e.span.as_ref().or(span);
        let v = value(e.value, &field.ty, here, tz, at).map_err(|er| er.on(here))?;
        out.push((i, v));
    }
    out.sort_by_key(|(i, _)| *i);
    if let Some(w) = out.windows(2).find(|w| w[0].0 == w[1].0) {
        let name = rec.fields[w[0].0].name.as_str();
        let twice = Path::Key(&path, name);
        return fail_on(span, twice, format!("`{twice}` is given twice"));
    }
    if complete {
        let mut given = out.iter().map(|(i, _)| *i).peekable();
        for (i, f) in rec.fields.iter().enumerate() {
            if given.next_if_eq(&i).is_some() || f.optional || matches!(f.ty.kind, Kind::Record(_))
            {
                continue;
            }
            let missing = Path::Key(&path, f.name.as_str());
            return fail_on(
                span,
                missing,
                format!("`{missing}` is required by the schema but missing"),
            );
        }
    }
    Ok(out
        .into_iter()
        .map(|(i, v)| (rec.fields[i].name, v))
        .collect())
}

/// One value by its schema type.
fn value(
    raw: Raw,
    ty: &Ty,
    path: Path,
    tz: Tz,
    span: Option<&Range<usize>>,
) -> Result<Value, FieldError> {
    let shown_ty = &ty.shown;
    let mismatch = |raw: &Raw| {
        fail(
            span,
            format!(
                "`{path}` must be {} (the schema says {shown_ty}), not {}",
                ty.expected(),
                describe(raw)
            ),
        )
    };
    // A CSV cell that does not read as the type.
    let bad_cell = |cell: &str| {
        fail(
            span,
            format!(
                "`{path}`: {} is not {} (the schema says {shown_ty})",
                shown(cell),
                ty.expected()
            ),
        )
    };
    match (&ty.kind, raw) {
        (Kind::String, Raw::Str(s) | Raw::Text(s)) => Ok(Value::Str(s.as_ref().into())),
        (Kind::Int, Raw::Int(i)) => Ok(Value::Int(i)),
        (Kind::Int, Raw::Float(f)) if is_big_whole(f) => fail(span, out_of_i64(path)),
        (Kind::Int, Raw::Text(s)) => match s.trim().parse::<i64>() {
            Ok(i) => Ok(Value::Int(i)),
            Err(e)
                if matches!(e.kind(), std::num::IntErrorKind::PosOverflow)
                    || matches!(e.kind(), std::num::IntErrorKind::NegOverflow) =>
            {
                fail(span, out_of_i64(path))
            }
            Err(_) => bad_cell(&s),
        },
        (Kind::Float, Raw::Int(i)) => Ok(Value::Float(i as f64)),
        (Kind::Float, Raw::Float(f)) => Ok(Value::Float(f)),
        (Kind::Float, Raw::Text(s)) => match s.trim().parse::<f64>() {
            Ok(f) => Ok(Value::Float(f)),
            Err(_) => bad_cell(&s),
        },
        (Kind::Bool, Raw::Bool(b)) => Ok(Value::Bool(b)),
        (Kind::Bool, Raw::Text(s)) => match s.trim() {
            "true" | "1" => Ok(Value::Bool(true)),
            "false" | "0" => Ok(Value::Bool(false)),
            _ => bad_cell(&s),
        },
        (Kind::Date, Raw::Str(s) | Raw::Text(s) | Raw::Datetime(s)) => match parse_date(&s) {
            Parsed::Ok(d) => Ok(Value::Date(d)),
            Parsed::OutOfRange => fail(
                span,
                format!("`{path}` must be a date between years 1 and 9999"),
            ),
            Parsed::Bad => fail(
                span,
                format!(
                    "`{path}` must be a date such as 2026-02-17 (the schema says date), not {}",
                    shown(&s)
                ),
            ),
        },
        (Kind::DateTime, Raw::Str(s) | Raw::Text(s) | Raw::Datetime(s)) => {
            match parse_datetime(&s, tz) {
                Parsed::Ok(t) => Ok(Value::DateTime(t)),
                Parsed::OutOfRange => fail(
                    span,
                    format!("`{path}` must be a date and time between years 1 and 9999"),
                ),
                Parsed::Bad => fail(
                    span,
                    format!(
                        "`{path}` must be a date and time such as 2026-12-01T10:00:00+08:00 (the schema says datetime), not {}",
                        shown(&s)
                    ),
                ),
            }
        }
        (Kind::List(inner), Raw::List(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (k, x) in items.into_iter().enumerate() {
                let shown_item = literal(&x);
                match value(x, inner, path, tz, span) {
                    Ok(v) => out.push(v),
                    // A scalar item is named by its place and value.
                    Err(_) if inner.is_scalar() => {
                        return fail(
                            span,
                            format!(
                                "`{path}` must be a list of {} (the schema says {shown_ty}); item {} is {shown_item}",
                                inner.plural(),
                                k + 1
                            ),
                        )
                    }
                    Err(e) => {
                        return fail(span, format!("item {} of `{path}`: {}", k + 1, e.message))
                    }
                }
            }
            Ok(Value::List(out.into()))
        }
        // A cell's `|` separates one level of items only.
        (Kind::List(inner), Raw::Text(_)) if matches!(inner.kind, Kind::List(_)) => fail(
            span,
            format!(
                "`{path}` is a list of lists (the schema says {shown_ty}), which a CSV cell cannot hold; write this file as JSON lines or TOML"
            ),
        ),
        // A CSV cell for a list: `|`-separated items, each read by the item type.
        (Kind::List(inner), Raw::Text(s)) => s
            .split('|')
            .map(|x| value(Raw::Text(x.trim().into()), inner, path, tz, span))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Value::List(v.into())),
        (Kind::Record(rec), Raw::Table(entries)) => {
            record(rec, entries, path, tz, true, span).map(Value::Record)
        }
        (_, raw) => mismatch(&raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_outside_1_to_9999_are_out_of_range_not_malformed() {
        assert!(matches!(parse_date("0000-01-01"), Parsed::OutOfRange));
        assert!(matches!(parse_date("10000-01-01"), Parsed::OutOfRange));
        assert!(matches!(parse_date("-0001-01-01"), Parsed::OutOfRange));
        assert!(matches!(parse_date("1990-02-30"), Parsed::Bad));
        assert!(matches!(parse_date("9999-12-31"), Parsed::Ok(_)));
        let utc = chrono_tz::UTC;
        assert!(matches!(
            parse_datetime("0000-12-01T10:00:00+08:00", utc),
            Parsed::OutOfRange
        ));
        assert!(matches!(
            parse_datetime("12026-12-01T10:00:00", utc),
            Parsed::OutOfRange
        ));
        assert!(matches!(
            parse_datetime("2026-12-01 10:00", utc),
            Parsed::Ok(_)
        ));
    }

    #[test]
    fn a_local_time_in_a_gap_is_the_end_of_the_gap() {
        let ny: Tz = "America/New_York".parse().unwrap();
        let Parsed::Ok(t) = parse_datetime("2026-03-08T02:30:00", ny) else {
            panic!()
        };
        assert_eq!(t.to_rfc3339(), "2026-03-08T07:00:00+00:00");
    }
}
