//! Reading sample customers and events (TOML `[[customer]]` / `[[event]]`),
//! checked against the schema; a mistake names the file and line.

use crate::config::Config;
use crate::engine::time;
use crate::intake::Event;
use crate::source::SourceFile;
use crate::types::{Record, Type};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use std::collections::BTreeMap;
use toml::de::{DeTable, DeValue};
use toml::Spanned;

/// A mistake in an input file: where, and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}

#[derive(Debug, Clone)]
pub struct SampleCustomer {
    pub id: String,
    pub attrs: Fields,
}

#[derive(Debug, Clone)]
pub struct SampleEvent {
    /// The event's `id`, else `file:line`.
    pub id: String,
    /// Where it was read: `file:line` (empty when generated).
    pub origin: String,
    pub customer: String,
    pub at: DateTime<Utc>,
    pub event: Event,
}

struct Reader<'a> {
    src: &'a SourceFile,
    config: &'a Config,
}

impl Reader<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl Into<String>,
    ) -> Result<T, InputError> {
        Err(InputError {
            file: self.src.display_path(),
            line: self.src.line_col(span.start).0,
            message: message.into(),
        })
    }

    fn items<'i>(
        &self,
        table: &'i Spanned<DeTable<'i>>,
        key: &str,
    ) -> Result<Vec<&'i Spanned<DeValue<'i>>>, InputError> {
        let mut out = Vec::new();
        for (k, v) in table.get_ref().iter() {
            if k.get_ref() != key {
                return self.err(
                    k.span(),
                    format!(
                        "`{}` is not expected here; write [[{key}]] tables",
                        k.get_ref()
                    ),
                );
            }
            match v.get_ref().as_array() {
                Some(a) => out.extend(a.iter()),
                None => {
                    return self.err(v.span(), format!("write each entry as a [[{key}]] table"))
                }
            }
        }
        Ok(out)
    }

    fn zone(&self) -> Tz {
        self.config.timezone.unwrap_or(chrono_tz::UTC)
    }

    fn convert(
        &self,
        v: &Spanned<DeValue>,
        ty: &Type,
        what: &str,
        tz: Tz,
    ) -> Result<Value, InputError> {
        let bad = |expected: &str| {
            self.err(
                v.span(),
                format!(
                    "`{what}` must be {expected} (the schema says {ty}), not {}",
                    v.get_ref().type_str()
                ),
            )
        };
        match (ty, v.get_ref()) {
            (Type::String, DeValue::String(s)) => Ok(Value::str(s)),
            (Type::Int, DeValue::Integer(i)) => i
                .as_str()
                .replace('_', "")
                .parse()
                .map(Value::Int)
                .or_else(|_| bad("a whole number")),
            (Type::Float, DeValue::Integer(i)) => i
                .as_str()
                .replace('_', "")
                .parse()
                .map(Value::Float)
                .or_else(|_| bad("a number")),
            (Type::Float, DeValue::Float(f)) => f
                .as_str()
                .replace('_', "")
                .parse()
                .map(Value::Float)
                .or_else(|_| bad("a number")),
            (Type::Bool, DeValue::Boolean(b)) => Ok(Value::Bool(*b)),
            (Type::Date, DeValue::Datetime(d)) if d.time.is_none() => parse_date(&d.to_string())
                .map(Value::Date)
                .ok_or(())
                .or_else(|_| bad("a date")),
            (Type::Date, DeValue::String(s)) => parse_date(s)
                .map(Value::Date)
                .ok_or(())
                .or_else(|_| bad("a date such as 2026-02-17")),
            (Type::DateTime, DeValue::Datetime(d)) => parse_datetime(&d.to_string(), tz)
                .map(Value::DateTime)
                .ok_or(())
                .or_else(|_| bad("a date and time")),
            (Type::DateTime, DeValue::String(s)) => parse_datetime(s, tz)
                .map(Value::DateTime)
                .ok_or(())
                .or_else(|_| bad("a date and time such as 2026-12-01T10:00:00+08:00")),
            (Type::List(inner), DeValue::Array(a)) => a
                .iter()
                .map(|x| self.convert(x, inner, what, tz))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| Value::List(v.into())),
            (Type::Record(rec), DeValue::Table(t)) => self
                .record(t, rec, what, tz, true)
                .map(|r| Value::Record(to_fields(r))),
            _ => bad(match ty {
                Type::String => "a string",
                Type::Int => "a whole number",
                Type::Float => "a number",
                Type::Bool => "true or false",
                Type::Date => "a date",
                Type::DateTime => "a date and time",
                Type::List(_) => "a list",
                _ => "a table",
            }),
        }
    }

    /// A table checked against a record type; `complete` demands every required field.
    fn record(
        &self,
        t: &DeTable,
        rec: &Record,
        what: &str,
        tz: Tz,
        complete: bool,
    ) -> Result<BTreeMap<String, Value>, InputError> {
        let mut out = BTreeMap::new();
        for (k, v) in t.iter() {
            let name = k.get_ref().to_string();
            let path = field_path(what, &name);
            let Some(field) = rec.get(&name) else {
                return self.err(
                    k.span(),
                    format!("`{path}` is not in the schema; declare it in tend.toml or remove it"),
                );
            };
            out.insert(name, self.convert(v, &field.ty, &path, tz)?);
        }
        if let Some(message) = complete
            .then(|| missing_required(rec, &out, what))
            .flatten()
        {
            let span = t.iter().next().map(|(k, _)| k.span()).unwrap_or(0..0);
            return self.err(span, message);
        }
        Ok(out)
    }
}

pub fn parse_date(s: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").ok()
}

/// RFC 3339 with an offset, or a local date-time read in `tz`.
pub fn parse_datetime(s: &str, tz: Tz) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(&s.replace(' ', "T")) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in [
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%d %H:%M",
    ] {
        if let Ok(l) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(time::resolve(tz, l));
        }
    }
    None
}

fn table<'a>(src: &'a SourceFile) -> Result<Spanned<DeTable<'a>>, InputError> {
    DeTable::parse(&src.text).map_err(|e| InputError {
        file: src.display_path(),
        line: e.span().map(|s| src.line_col(s.start).0).unwrap_or(1),
        message: format!("this is not valid TOML: {}", e.message().trim()),
    })
}

pub fn customers(src: &SourceFile, config: &Config) -> Result<Vec<SampleCustomer>, InputError> {
    let t = table(src)?;
    let r = Reader { src, config };
    let mut out: Vec<SampleCustomer> = Vec::new();
    for item in r.items(&t, "customer")? {
        let Some(fields) = item.get_ref().as_table() else {
            return r.err(item.span(), "a [[customer]] must be a table");
        };
        let id = match fields.get("id").map(|v| v.get_ref()) {
            // An empty id would be the broadcast runs' own.
            Some(DeValue::String(s)) if !s.is_empty() => s.to_string(),
            Some(DeValue::Integer(i)) => i.as_str().to_string(),
            _ => return r.err(item.span(), "every [[customer]] needs a non-empty `id`"),
        };
        if out.iter().any(|c| c.id == id) {
            return r.err(item.span(), format!("customer `{id}` is listed twice"));
        }
        // A customer's own zone reads their offset-less datetimes.
        let tz = match fields.get("timezone").map(|v| v.get_ref()) {
            Some(DeValue::String(s)) => s.parse().unwrap_or(r.zone()),
            _ => r.zone(),
        };
        let mut rest = fields.clone();
        rest.remove("id");
        let attrs = r.record(&rest, &config.customer, "", tz, true)?;
        out.push(SampleCustomer {
            id,
            attrs: to_fields(attrs),
        });
    }
    Ok(out)
}

pub fn events(src: &SourceFile, config: &Config) -> Result<Vec<SampleEvent>, InputError> {
    let t = table(src)?;
    let r = Reader { src, config };
    let mut out = Vec::new();
    for item in r.items(&t, "event")? {
        let Some(fields) = item.get_ref().as_table() else {
            return r.err(item.span(), "an [[event]] must be a table");
        };
        let line = src.line_col(item.span().start).0;
        let get_str = |k: &str| match fields.get(k).map(|v| v.get_ref()) {
            Some(DeValue::String(s)) => Some(s.to_string()),
            _ => None,
        };
        let Some(name) = get_str("name") else {
            return r.err(item.span(), "every [[event]] needs a `name`");
        };
        let Some(customer) = get_str("customer").filter(|c| !c.is_empty()) else {
            return r.err(
                item.span(),
                "every [[event]] needs a non-empty `customer` id",
            );
        };
        let at_value = fields.get("at");
        let at_text = match at_value.map(|v| v.get_ref()) {
            Some(DeValue::Datetime(d)) => d.to_string(),
            Some(DeValue::String(s)) => s.to_string(),
            _ => return r.err(item.span(), "every [[event]] needs `at`, a time with its offset such as 2026-12-01T10:05:00+08:00"),
        };
        let span = at_value.map(|v| v.span()).unwrap_or(item.span());
        let Ok(at) = DateTime::parse_from_rfc3339(&at_text.replace(' ', "T")) else {
            return r.err(span, format!("`{at_text}` has no offset; write the time as RFC 3339 with one, such as 2026-12-01T10:05:00+08:00"));
        };
        let payload = if name == "customer.updated" {
            Some(Record::new())
        } else {
            config.events.get(&name).map(|d| d.fields.clone())
        };
        let Some(payload) = payload else {
            return r.err(item.span(), format!("event `{name}` is not declared in tend.toml; declare it under [events.\"{name}\"]"));
        };
        let tz = r.zone();
        let data = match fields.get("data") {
            Some(v) => match v.get_ref().as_table() {
                Some(dt) => r.record(dt, &payload, "data", tz, true)?,
                None => return r.err(v.span(), "`data` must be a table of payload fields"),
            },
            None => r
                .record(&DeTable::new(), &payload, "data", tz, true)
                .map_err(|mut e| {
                    e.line = line;
                    e
                })?,
        };
        let attributes = match fields.get("attributes") {
            Some(v) => match v.get_ref().as_table() {
                Some(at) => r.record(at, &config.customer, "", tz, false)?,
                None => {
                    return r.err(
                        v.span(),
                        "`attributes` must be a table of customer attributes",
                    )
                }
            },
            None => BTreeMap::new(),
        };
        let origin = format!("{}:{line}", src.display_path());
        let id = get_str("id").unwrap_or_else(|| origin.clone());
        out.push(SampleEvent {
            id,
            origin,
            customer,
            at: at.with_timezone(&Utc),
            event: Event {
                name: Sym::new(&name),
                data: to_fields(data),
                attributes: to_fields(attributes),
            },
        });
    }
    // Stable: events at the same instant keep their file order.
    out.sort_by_key(|e| e.at);
    Ok(out)
}

/// Reads a JSON value against a schema type.
fn from_json(v: &serde_json::Value, ty: &Type, what: &str, tz: Tz) -> Result<Value, String> {
    use serde_json::Value as J;
    let bad = |expected: &str| {
        Err(format!(
            "`{what}` must be {expected} (the schema says {ty})"
        ))
    };
    match (ty, v) {
        (Type::String, J::String(s)) => Ok(Value::str(s)),
        (Type::Int, J::Number(n)) => n
            .as_i64()
            .map(Value::Int)
            .ok_or(())
            .or_else(|_| bad("a whole number")),
        (Type::Float, J::Number(n)) => n
            .as_f64()
            .map(Value::Float)
            .ok_or(())
            .or_else(|_| bad("a number")),
        (Type::Bool, J::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Date, J::String(s)) => parse_date(s)
            .map(Value::Date)
            .ok_or(())
            .or_else(|_| bad("a date such as \"2026-02-17\"")),
        (Type::DateTime, J::String(s)) => parse_datetime(s, tz)
            .map(Value::DateTime)
            .ok_or(())
            .or_else(|_| bad("a date and time such as \"2026-12-01T10:00:00+08:00\"")),
        (Type::List(inner), J::Array(items)) => items
            .iter()
            .map(|x| from_json(x, inner, what, tz))
            .collect::<Result<Vec<_>, _>>()
            .map(|v| Value::List(v.into())),
        (Type::Record(rec), J::Object(m)) => {
            json_record(m, rec, what, tz, true).map(|r| Value::Record(to_fields(r)))
        }
        _ => bad(match ty {
            Type::String => "a string",
            Type::Int => "a whole number",
            Type::Float => "a number",
            Type::Bool => "true or false",
            Type::List(_) => "a list",
            _ => "an object",
        }),
    }
}

fn json_record(
    m: &serde_json::Map<String, serde_json::Value>,
    rec: &Record,
    what: &str,
    tz: Tz,
    complete: bool,
) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for (k, v) in m {
        let path = field_path(what, k);
        let Some(field) = rec.get(k) else {
            return Err(format!(
                "`{path}` is not in the schema; declare it in tend.toml or remove it"
            ));
        };
        if v.is_null() && field.optional {
            continue;
        }
        out.insert(k.clone(), from_json(v, &field.ty, &path, tz)?);
    }
    match complete
        .then(|| missing_required(rec, &out, what))
        .flatten()
    {
        Some(message) => Err(message),
        None => Ok(out),
    }
}

/// `what.name`, or `name` at the top level.
fn field_path(what: &str, name: &str) -> String {
    if what.is_empty() {
        name.to_string()
    } else {
        format!("{what}.{name}")
    }
}

/// The message for the first required field (tables aside) that `got` lacks.
fn missing_required(rec: &Record, got: &BTreeMap<String, Value>, what: &str) -> Option<String> {
    let (missing, _) = rec
        .iter()
        .find(|(k, f)| !f.optional && !matches!(f.ty, Type::Record(_)) && !got.contains_key(*k))?;
    Some(format!(
        "`{}` is required by the schema but missing",
        field_path(what, missing)
    ))
}

/// JSON lines: one object per line; blank lines and lines starting with `#` are skipped.
fn json_lines(
    src: &SourceFile,
) -> impl Iterator<
    Item = (
        usize,
        Result<serde_json::Map<String, serde_json::Value>, String>,
    ),
> + '_ {
    src.text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| {
            let parsed = match serde_json::from_str::<serde_json::Value>(l) {
                Ok(serde_json::Value::Object(m)) => Ok(m),
                Ok(_) => Err("each line must be a JSON object".to_string()),
                Err(e) => Err(format!("this line is not valid JSON: {e}")),
            };
            (i + 1, parsed)
        })
}

fn is_json_lines(src: &SourceFile) -> bool {
    let p = src.display_path();
    p.ends_with(".jsonl") || p.ends_with(".ndjson") || p.ends_with(".json") || is_csv(src)
}

fn is_csv(src: &SourceFile) -> bool {
    src.display_path().ends_with(".csv")
}

type Row = (
    usize,
    Result<serde_json::Map<String, serde_json::Value>, String>,
);

/// The rows of a JSON-lines or CSV file, as JSON objects.
fn rows(src: &SourceFile, config: &Config) -> Result<Vec<Row>, InputError> {
    if is_csv(src) {
        csv_rows(src, config)
    } else {
        Ok(json_lines(src).collect())
    }
}

/// CSV with a header row. Customers: `id` and attribute columns; events: `id`,
/// `name`, `customer`, `at`, and `data.FIELD` / `attributes.FIELD` columns.
/// Nested attributes are dotted (`pet.name`), lists are `|`-separated, and an
/// empty cell is an absent value. Cells are read by the schema's types.
fn csv_rows(src: &SourceFile, config: &Config) -> Result<Vec<Row>, InputError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(src.text.as_bytes());
    let err = |line: usize, message: String| InputError {
        file: src.display_path(),
        line,
        message,
    };
    let headers = reader
        .headers()
        .map_err(|e| err(1, format!("the header row cannot be read: {e}")))?
        .clone();
    let mut out = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            err(
                e.position().map(|p| p.line() as usize).unwrap_or(1),
                format!("this row cannot be read: {e}"),
            )
        })?;
        let line = record.position().map(|p| p.line() as usize).unwrap_or(1);
        let event_name = headers
            .iter()
            .position(|h| h == "name")
            .and_then(|i| record.get(i))
            .map(str::to_string);
        let mut obj = serde_json::Map::new();
        let mut problem = None;
        for (h, cell) in headers.iter().zip(record.iter()) {
            let (root, rest): (&str, Vec<&str>) = match h.split_once('.') {
                Some((r, rest)) if r == "data" || r == "attributes" => {
                    (r, rest.split('.').collect())
                }
                _ => ("", h.split('.').collect()),
            };
            let schema = match root {
                "data" => event_name
                    .as_deref()
                    .and_then(|n| config.events.get(n))
                    .map(|d| &d.fields),
                _ => Some(&config.customer),
            };
            let is_envelope = root.is_empty() && matches!(h, "id" | "name" | "customer" | "at");
            let ty = schema.and_then(|r| field_type(r, &rest));
            // Where the value goes in the row's object: `data.x` under "data", and so on.
            let full: Vec<&str> = (!root.is_empty())
                .then_some(root)
                .into_iter()
                .chain(rest.iter().copied())
                .collect();
            if cell.is_empty() {
                // An empty cell is an absent value, or an empty list.
                if let Some(Type::List(_)) = ty {
                    insert_dotted(&mut obj, &full, serde_json::Value::Array(Vec::new()));
                }
                continue;
            }
            let value = if is_envelope {
                Ok(serde_json::Value::String(cell.to_string()))
            } else {
                match ty {
                    Some(ty) => cell_value(&ty, cell).map_err(|e| format!("column `{h}`: {e}")),
                    None => Err(format!("column `{h}` is not in the schema")),
                }
            };
            match value {
                Ok(v) => {
                    insert_dotted(&mut obj, &full, v);
                }
                Err(e) => {
                    problem = Some(e);
                    break;
                }
            }
        }
        out.push((line, problem.map_or(Ok(obj), Err)));
    }
    Ok(out)
}

fn field_type(rec: &Record, path: &[&str]) -> Option<Type> {
    let (first, rest) = path.split_first()?;
    let f = rec.get(*first)?;
    match (&f.ty, rest.is_empty()) {
        (ty, true) => Some(ty.clone()),
        (Type::Record(inner), false) => field_type(inner, rest),
        _ => None,
    }
}

fn insert_dotted(
    obj: &mut serde_json::Map<String, serde_json::Value>,
    path: &[&str],
    v: serde_json::Value,
) {
    match path {
        [] => {}
        [last] => {
            obj.insert(last.to_string(), v);
        }
        [first, rest @ ..] => {
            let inner = obj
                .entry(first.to_string())
                .or_insert_with(|| serde_json::Value::Object(Default::default()));
            if let Some(m) = inner.as_object_mut() {
                insert_dotted(m, rest, v);
            }
        }
    }
}

fn cell_value(ty: &Type, cell: &str) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match ty {
        Type::Int => J::from(
            cell.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{cell}` is not a whole number"))?,
        ),
        Type::Float => J::from(
            cell.trim()
                .parse::<f64>()
                .map_err(|_| format!("`{cell}` is not a number"))?,
        ),
        Type::Bool => J::Bool(match cell.trim() {
            "true" | "1" => true,
            "false" | "0" => false,
            _ => return Err(format!("`{cell}` is not true or false")),
        }),
        Type::List(inner) => J::Array(
            cell.split('|')
                .map(|c| cell_value(inner, c.trim()))
                .collect::<Result<_, _>>()?,
        ),
        _ => J::String(cell.to_string()),
    })
}

/// Customers from TOML (`[[customer]]`) or JSON lines (`{"id": …, attributes…}`).
pub fn load_customers(
    src: &SourceFile,
    config: &Config,
) -> Result<Vec<SampleCustomer>, InputError> {
    if !is_json_lines(src) {
        return customers(src, config);
    }
    let tz = config.timezone.unwrap_or(chrono_tz::UTC);
    let mut out: Vec<SampleCustomer> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (line, obj) in rows(src, config)? {
        let err = |message: String| InputError {
            file: src.display_path(),
            line,
            message,
        };
        let mut obj = obj.map_err(err)?;
        let id = match obj.remove("id") {
            Some(serde_json::Value::String(s)) if !s.is_empty() => s,
            Some(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(err("every customer needs a non-empty \"id\"".into())),
        };
        if !seen.insert(id.clone()) {
            return Err(err(format!("customer `{id}` is listed twice")));
        }
        let ctz = obj
            .get("timezone")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .unwrap_or(tz);
        let attrs = json_record(&obj, &config.customer, "", ctz, true).map_err(err)?;
        out.push(SampleCustomer {
            id,
            attrs: to_fields(attrs),
        });
    }
    Ok(out)
}

/// Events from TOML (`[[event]]`) or JSON lines in the envelope of SEMANTICS.md §4.
pub fn load_events(src: &SourceFile, config: &Config) -> Result<Vec<SampleEvent>, InputError> {
    if !is_json_lines(src) {
        return events(src, config);
    }
    let tz = config.timezone.unwrap_or(chrono_tz::UTC);
    let mut out = Vec::new();
    for (line, obj) in rows(src, config)? {
        let err = |message: String| InputError {
            file: src.display_path(),
            line,
            message,
        };
        let obj = obj.map_err(err)?;
        let text = |k: &str| obj.get(k).and_then(|v| v.as_str()).map(str::to_string);
        let name = text("name").ok_or_else(|| err("every event needs a \"name\"".into()))?;
        let customer = text("customer")
            .filter(|c| !c.is_empty())
            .ok_or_else(|| err("every event needs a non-empty \"customer\" id".into()))?;
        let at_text = text("at")
            .ok_or_else(|| err("every event needs \"at\", a time with its offset".into()))?;
        let at = DateTime::parse_from_rfc3339(&at_text).map_err(|_| err(format!("`{at_text}` has no offset or is not RFC 3339; write it such as 2026-12-01T10:05:00+08:00")))?;
        let payload = if name == "customer.updated" {
            Some(Record::new())
        } else {
            config.events.get(&name).map(|d| d.fields.clone())
        };
        let payload = payload.ok_or_else(|| {
            err(format!(
                "event `{name}` is not declared in tend.toml; declare it under [events.\"{name}\"]"
            ))
        })?;
        let empty = serde_json::Map::new();
        let data = match obj.get("data") {
            Some(serde_json::Value::Object(m)) => m,
            None | Some(serde_json::Value::Null) => &empty,
            Some(_) => return Err(err("\"data\" must be an object of payload fields".into())),
        };
        let data = json_record(data, &payload, "data", tz, true).map_err(err)?;
        let attributes = match obj.get("attributes") {
            Some(serde_json::Value::Object(m)) => {
                json_record(m, &config.customer, "", tz, false).map_err(err)?
            }
            None | Some(serde_json::Value::Null) => BTreeMap::new(),
            Some(_) => {
                return Err(err(
                    "\"attributes\" must be an object of customer attributes".into(),
                ))
            }
        };
        let origin = format!("{}:{line}", src.display_path());
        let id = text("id").unwrap_or_else(|| origin.clone());
        out.push(SampleEvent {
            id,
            origin,
            customer,
            at: at.with_timezone(&Utc),
            event: Event {
                name: Sym::new(&name),
                data: to_fields(data),
                attributes: to_fields(attributes),
            },
        });
    }
    out.sort_by_key(|e| e.at);
    Ok(out)
}

fn to_fields(m: BTreeMap<String, Value>) -> Fields {
    m.into_iter().map(|(k, v)| (Sym::new(&k), v)).collect()
}
