//! Rendering message and task texts (docs/language.md §8.5). Every text of
//! the program is compiled once; a render hands minijinja only the paths the
//! text reads, and a text that only prints fields (`{{ customer.name }}`, no
//! tags or filters) is filled in directly when every field it prints is a
//! plain string, number or date.

use crate::program::{Action, Block, MaxLength, Playbook, Text};
use crate::value::{Fields, Sym, Value};
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

/// The environment every template is checked and rendered in: auto-escape
/// off, `trim_blocks` and `lstrip_blocks` on, undefined values strict. The
/// checker compiles templates here too, so both agree on what exists.
pub fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(FUEL));
    env.add_filter("date", date);
    // An absent optional value is null: it prints as nothing, and
    // `default()` replaces it as it does an undefined one.
    env.set_formatter(|out, state, value| {
        if value.is_none() {
            return Ok(());
        }
        minijinja::escape_formatter(out, state, value)
    });
    env.add_filter("default", default);
    env
}

/// `date(fmt)` or `date(format = fmt)`: a date or datetime reformatted
/// with strftime's `%` codes (`%m月%d日`, `%H:%M`). Its input is the value as
/// printed (`YYYY-MM-DD`, or `YYYY-MM-DD HH:MM` in the enrollment zone), so
/// `{{ x }}` and `{{ x | date(…) }}` show the same clock.
fn date(
    value: &minijinja::Value,
    fmt: Option<String>,
    kwargs: minijinja::value::Kwargs,
) -> Result<String, minijinja::Error> {
    use minijinja::{Error, ErrorKind};
    let named: Option<String> = kwargs.get("format")?;
    kwargs.assert_all_used()?;
    let fmt = match (fmt, named) {
        (Some(f), None) | (None, Some(f)) => f,
        (None, None) => {
            return Err(Error::new(
                ErrorKind::MissingArgument,
                "date() takes a format, such as date('%m月%d日')",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(Error::new(
                ErrorKind::TooManyArguments,
                "date() takes one format, given or named, not both",
            ))
        }
    };
    let items = date_format(&fmt).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
    let text = value
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| value.to_string());
    let at = chrono::NaiveDateTime::parse_from_str(&text, "%Y-%m-%d %H:%M")
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(&text, "%Y-%m-%d")
                .map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| {
            Error::new(
                ErrorKind::InvalidOperation,
                format!("date() formats a date or datetime; `{text}` is neither"),
            )
        })?;
    let mut out = String::new();
    use std::fmt::Write;
    write!(out, "{}", at.format_with_items(items.into_iter())).map_err(|_| {
        Error::new(
            ErrorKind::InvalidOperation,
            format!("`{fmt}` cannot format this value"),
        )
    })?;
    Ok(out)
}

/// A `date()` format read into chrono's items, or why it cannot be one: an
/// unknown `%` code, or a zone code (the zone is always the enrollment's).
pub fn date_format(fmt: &str) -> Result<Vec<chrono::format::Item<'_>>, String> {
    use chrono::format::{Fixed, Item, StrftimeItems};
    let mut items = Vec::new();
    for item in StrftimeItems::new(fmt) {
        match item {
            Item::Error => {
                return Err(format!(
                    "`{fmt}` is not a date format: use strftime's codes, such as %Y %m %d %H %M (%% for a percent sign)"
                ))
            }
            Item::Fixed(
                Fixed::TimezoneName
                | Fixed::TimezoneOffset
                | Fixed::TimezoneOffsetColon
                | Fixed::TimezoneOffsetDoubleColon
                | Fixed::TimezoneOffsetTripleColon
                | Fixed::TimezoneOffsetColonZ
                | Fixed::TimezoneOffsetZ
                | Fixed::RFC2822
                | Fixed::RFC3339,
            )
            | Item::Numeric(chrono::format::Numeric::Timestamp, _) => {
                return Err(format!(
                    "`{fmt}` asks for a time zone or a timestamp; dates print in the enrollment's zone, without one"
                ))
            }
            other => items.push(other),
        }
    }
    Ok(items)
}

/// `default(other = "", lax = false)`: `other` when the value is undefined or
/// null (or, with `lax`, false, empty or zero), else the value.
fn default(
    value: &minijinja::Value,
    args: minijinja::value::Rest<minijinja::Value>,
) -> Result<minijinja::Value, minijinja::Error> {
    if args.len() > 2 {
        return Err(minijinja::ErrorKind::TooManyArguments.into());
    }
    let other = args
        .first()
        .cloned()
        .unwrap_or_else(|| minijinja::Value::from(""));
    let lax = args.get(1).is_some_and(|lax| lax.is_true());
    Ok(
        if value.is_undefined() || value.is_none() || (lax && !value.is_true()) {
            other
        } else {
            value.clone()
        },
    )
}

/// What a text can read where it is rendered.
pub struct Scope<'a> {
    pub customer: &'a Fields,
    /// The customer's id, read as `customer.id` when the schema has no `id`.
    pub id: &'a str,
    pub event: &'a Value,
    pub received: &'a Value,
    pub coupon: &'a Fields,
    pub now: DateTime<Utc>,
    /// A send's `with { … }` values; they shadow the names above.
    pub with: Vec<(Sym, Value)>,
}

/// What a name at the start of a path stands for.
enum Root<'a> {
    /// The customer's attributes.
    Customer(&'a Fields, &'a str),
    Record(&'a Fields),
    Value(Cow<'a, Value>),
}

impl Scope<'_> {
    /// What `name` stands for here: a `with` value, a record of the scope or
    /// `now`; `None` for anything else (minijinja's globals, or undefined).
    fn root(&self, name: &str) -> Option<Root<'_>> {
        if let Some((_, v)) = self.with.iter().rev().find(|(k, _)| k.as_str() == name) {
            return Some(Root::Value(Cow::Borrowed(v)));
        }
        Some(match name {
            "customer" => Root::Customer(self.customer, self.id),
            "event" => Root::Value(Cow::Borrowed(self.event)),
            "received" => Root::Value(Cow::Borrowed(self.received)),
            "coupon" => Root::Record(self.coupon),
            "now" => Root::Value(Cow::Owned(Value::DateTime(self.now))),
            _ => return None,
        })
    }

    /// The value at a path, or `None` when the path is missing.
    fn get(&self, path: &[Sym]) -> Option<Cow<'_, Value>> {
        let (root, rest) = path.split_first()?;
        match self.root(root.as_str())? {
            Root::Customer(fields, id) => match rest {
                [only] if only.as_str() == "id" && !fields.contains(*only) => {
                    Some(Cow::Owned(Value::str(id)))
                }
                _ => present(fields.path(rest)),
            },
            Root::Record(fields) => present(fields.path(rest)),
            Root::Value(Cow::Borrowed(v)) => present(v.path(rest)),
            // `now`: a value of its own, with no fields.
            Root::Value(Cow::Owned(v)) => rest.is_empty().then_some(Cow::Owned(v)),
        }
    }
}

fn present(v: &Value) -> Option<Cow<'_, Value>> {
    (*v != Value::Null).then_some(Cow::Borrowed(v))
}

/// A compiled text: its name in the environment, the paths it reads
/// (`customer.name` as `[customer, name]`) and, when it only prints
/// fields, its pieces.
struct Compiled {
    name: String,
    reads: Vec<Vec<Sym>>,
    pieces: Option<Vec<Piece>>,
}

#[derive(Debug, PartialEq)]
enum Piece {
    Literal(String),
    Field(Vec<Sym>),
}

pub struct Texts {
    env: minijinja::Environment<'static>,
    texts: Vec<Compiled>,
    by_source: HashMap<String, usize>,
    /// The same texts by where their source lives in the program, so a render
    /// finds its text without hashing the whole source.
    by_address: crate::hash::FastMap<(usize, usize), usize>,
}

fn sources<'p>(b: &'p Block, out: &mut Vec<&'p std::sync::Arc<str>>) {
    for a in b {
        match a {
            Action::Send(s) => match &s.text {
                Text::Named(t) => out.extend(t.wordings.iter().map(|w| &w.source)),
                Text::Inline(s) => out.push(s),
            },
            Action::Task { text, .. } => out.push(text),
            Action::If {
                then, otherwise, ..
            } => {
                sources(then, out);
                if let Some(o) = otherwise {
                    sources(o, out);
                }
            }
            Action::Hook { body, .. } => sources(body, out),
            _ => {}
        }
    }
}

impl Texts {
    /// Compiles every template wording, inline text and task text of these playbooks.
    pub fn new<'p>(playbooks: impl IntoIterator<Item = &'p Playbook>) -> Self {
        let mut all = Vec::new();
        for p in playbooks {
            for s in &p.steps {
                sources(&s.body, &mut all);
            }
        }
        Self::compile(all)
    }

    fn compile(all: Vec<&std::sync::Arc<str>>) -> Self {
        let mut env = environment();
        let (mut texts, mut by_source, mut by_address) = (
            Vec::new(),
            HashMap::<String, usize>::new(),
            crate::hash::FastMap::default(),
        );
        for src in all {
            let address = (src.as_ptr() as usize, src.len());
            if let Some(&n) = by_source.get(&**src) {
                by_address.insert(address, n);
                continue;
            }
            // Named by its source, so a render error quotes the text it is about.
            let name = src.to_string();
            // A text that does not compile was reported by the checker; it renders as an error record.
            if env
                .add_template_owned(name.clone(), src.to_string())
                .is_err()
            {
                continue;
            }
            let reads = env
                .get_template(&name)
                .map(|t| t.undeclared_variables(true))
                .unwrap_or_default()
                .into_iter()
                .map(|v| v.split('.').map(Sym::new).collect())
                .collect();
            by_source.insert(name.clone(), texts.len());
            by_address.insert(address, texts.len());
            texts.push(Compiled {
                name,
                reads,
                pieces: pieces(src),
            });
        }
        Texts {
            env,
            texts,
            by_source,
            by_address,
        }
    }

    /// The rendered text, trimmed, or why there is none: the template
    /// engine's error, a render that took more than [`FUEL`] steps, or a text
    /// longer than `max` (the channel `channel`'s `max_length`).
    pub fn render(
        &self,
        source: &str,
        scope: &Scope,
        zone: Tz,
        (max, channel): (MaxLength, &str),
    ) -> Result<String, String> {
        let text = self.render_within(source, scope, zone, max.bytes() + SLACK)?;
        let len = max.measure(&text);
        if len > max.limit as usize {
            return Err(format!(
                "the text is {len} {unit}, over the {} {unit} channel {channel} takes (max_length)",
                max.limit,
                unit = max.unit()
            ));
        }
        Ok(text)
    }

    /// The rendered text, trimmed, or the template engine's error; the
    /// output stops at `cap` bytes (a larger text is an error).
    fn render_within(
        &self,
        source: &str,
        scope: &Scope,
        zone: Tz,
        cap: usize,
    ) -> Result<String, String> {
        let text = self
            .by_address
            .get(&(source.as_ptr() as usize, source.len()))
            .or_else(|| self.by_source.get(source))
            .map(|n| &self.texts[*n]);
        let Some(text) = text else {
            // Not compiled ahead: it did not compile, and this reports why.
            return self.env.render_str(source, ()).map_err(|e| e.to_string());
        };
        if let Some(out) = text.pieces.as_ref().and_then(|p| fill(p, scope, zone)) {
            return if out.len() > cap {
                Err(too_long(cap))
            } else {
                Ok(trimmed(out))
            };
        }
        let mut roots: BTreeMap<&str, Value> = BTreeMap::new();
        for path in &text.reads {
            let Some((root, rest)) = path.split_first() else {
                continue;
            };
            // Only names the scope has: anything else (a global such as `range`)
            // stays minijinja's own, or undefined.
            let Some(source) = scope.root(root.as_str()) else {
                continue;
            };
            let slot = roots.entry(root.as_str()).or_insert(Value::Null);
            match source {
                Root::Customer(fields, id) => {
                    project_record(fields, rest, slot);
                    if rest
                        .first()
                        .is_some_and(|f| f.as_str() == "id" && !fields.contains(*f))
                    {
                        set_field(slot, rest[0], Value::str(id));
                    }
                }
                Root::Record(fields) => project_record(fields, rest, slot),
                Root::Value(v) => project(&v, rest, slot),
            }
        }
        let ctx: minijinja::Value = roots
            .into_iter()
            .map(|(k, v)| (k, v.to_template(zone)))
            .collect();
        let mut out = Capped {
            buf: Vec::with_capacity(256),
            cap,
            over: false,
        };
        let rendered = self
            .env
            .get_template(&text.name)
            .and_then(|t| t.render_captured_to(ctx, &mut out).map(drop));
        match rendered {
            Ok(_) => String::from_utf8(out.buf)
                .map(trimmed)
                .map_err(|e| e.to_string()),
            Err(_) if out.over => Err(too_long(cap)),
            Err(e) if e.kind() == minijinja::ErrorKind::OutOfFuel => Err(format!(
                "the template takes more than {FUEL} steps to render, the most one text may take (in {})",
                text.name
            )),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// Steps (minijinja's fuel) one render may take: far more than any message
/// needs, and a bound on nested loops over long lists.
pub const FUEL: u64 = 100_000;

/// Bytes a render may write beyond the channel's limit, for whitespace the
/// trim removes.
const SLACK: usize = 4096;

fn too_long(cap: usize) -> String {
    format!("the text is longer than {cap} bytes, more than the channel takes (max_length)")
}

/// A render's output, refused past `cap` bytes so a runaway text never
/// grows in memory.
struct Capped {
    buf: Vec<u8>,
    cap: usize,
    over: bool,
}

impl std::io::Write for Capped {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if self.buf.len() + b.len() > self.cap {
            self.over = true;
            return Err(std::io::Error::other("over the length limit"));
        }
        self.buf.extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The text without surrounding whitespace, reusing its buffer.
fn trimmed(mut s: String) -> String {
    s.truncate(s.trim_end().len());
    let lead = s.len() - s.trim_start().len();
    s.drain(..lead);
    s
}

/// Fills a text that only prints fields, or `None` when some field is not
/// plain or names no root of the scope (minijinja then renders it, or reports
/// the name). An absent field prints as nothing.
fn fill(pieces: &[Piece], scope: &Scope, zone: Tz) -> Option<String> {
    let mut out = String::with_capacity(128);
    for p in pieces {
        match p {
            Piece::Literal(s) => out.push_str(s),
            Piece::Field(path) => {
                scope.root(path.first()?.as_str())?;
                if let Some(v) = scope.get(path) {
                    if !v.write_plain(zone, &mut out) {
                        return None;
                    }
                }
            }
        }
    }
    Some(out)
}

/// Splits a text made only of literal text and `{{ a.b.c }}` fields; `None`
/// for anything else (tags, comments, filters, whitespace control, expressions).
fn pieces(src: &str) -> Option<Vec<Piece>> {
    if src.contains("{%") || src.contains("{#") {
        return None;
    }
    let mut out = Vec::new();
    let mut rest = src;
    while let Some(open) = rest.find("{{") {
        if open > 0 {
            out.push(Piece::Literal(rest[..open].to_string()));
        }
        let after = &rest[open + 2..];
        let close = after.find("}}")?;
        let inner = &after[..close];
        let path: Vec<&str> = inner.trim().split('.').collect();
        let ident = |s: &&str| {
            let mut chars = s.chars();
            chars
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if inner.starts_with('-') || inner.ends_with('-') || !path.iter().all(ident) {
            return None;
        }
        if matches!(
            path[0],
            "true" | "false" | "none" | "True" | "False" | "None"
        ) {
            return None;
        }
        out.push(Piece::Field(path.into_iter().map(Sym::new).collect()));
        rest = &after[close + 2..];
    }
    if !rest.is_empty() {
        out.push(Piece::Literal(rest.to_string()));
    }
    Some(out)
}

/// Sets one field of a record slot, making it a record when it is not one.
fn set_field(slot: &mut Value, key: Sym, v: Value) {
    match slot {
        Value::Record(f) => f.set(key, v),
        other => *other = Value::Record([(key, v)].into_iter().collect()),
    }
}

/// Copies the value at `segs` inside `from` into the same place inside `into`,
/// creating records on the way. A path that leaves the records (a list, a
/// string) copies the value where it does.
fn project(from: &Value, segs: &[Sym], into: &mut Value) {
    match (from, segs.split_first()) {
        (Value::Record(fields), Some(_)) => project_record(fields, segs, into),
        (Value::Null, _) => absent(segs, into),
        _ => *into = from.clone(),
    }
}

fn project_record(fields: &Fields, segs: &[Sym], into: &mut Value) {
    let Some((first, rest)) = segs.split_first() else {
        *into = Value::Record(fields.clone());
        return;
    };
    if !matches!(into, Value::Record(_)) {
        *into = Value::Record(Fields::new());
    }
    let mut slot = into.get(*first).clone();
    if fields.contains(*first) {
        project(fields.get(*first), rest, &mut slot);
    } else {
        absent(rest, &mut slot);
    }
    set_field(into, *first, slot);
}

/// An attribute the customer or event lacks (an absent optional value): null
/// at the end of its path, inside records on the way, so a template can test
/// it, print it (as nothing) or give it a `default()`.
fn absent(segs: &[Sym], into: &mut Value) {
    let Some((first, rest)) = segs.split_first() else {
        if !matches!(into, Value::Record(_)) {
            *into = Value::Null;
        }
        return;
    };
    if !matches!(into, Value::Record(_)) {
        *into = Value::Record(Fields::new());
    }
    let mut slot = into.get(*first).clone();
    absent(rest, &mut slot);
    set_field(into, *first, slot);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_value_is_null_empty_when_printed_and_takes_a_default() {
        let src: std::sync::Arc<str> = "{{ customer.name }}:{{ customer.pet.name }}|{{ customer.pet.name | default(\"毛孩子\") }}|{% if customer.nick %}有{% else %}无{% endif %}|{{ event.city }}|{{ received.text | default(\"-\") }}".into();
        let texts = Texts::compile(vec![&src]);
        let customer: Fields = [
            ("name", Value::str("林小雨")),
            ("pet", Value::Record(Fields::new())),
        ]
        .into_iter()
        .collect();
        let scope = Scope {
            customer: &customer,
            id: "c1",
            event: &Value::Record(Fields::new()),
            received: &Value::Null,
            coupon: &Fields::new(),
            now: DateTime::from_timestamp(0, 0).unwrap(),
            with: Vec::new(),
        };
        assert_eq!(
            texts.render(
                &src,
                &scope,
                chrono_tz::Asia::Shanghai,
                (
                    MaxLength::of(crate::program::Touchpoint::Wecom, None),
                    "wecom"
                )
            ),
            Ok("林小雨:|毛孩子|无||-".to_string())
        );
        // The fast path for texts that only print fields agrees.
        let plain: std::sync::Arc<str> = "{{ customer.name }}:{{ customer.pet.name }}!".into();
        let texts = Texts::compile(vec![&plain]);
        assert!(texts.texts[0].pieces.is_some());
        assert_eq!(
            texts.render(
                &plain,
                &scope,
                chrono_tz::Asia::Shanghai,
                (
                    MaxLength::of(crate::program::Touchpoint::Wecom, None),
                    "wecom"
                )
            ),
            Ok("林小雨:!".to_string())
        );
    }

    #[test]
    fn splits_texts_that_only_print_fields() {
        let p = pieces("{{ customer.name }}您好，订单 {{event.order_id}} 已收到").unwrap();
        assert_eq!(
            p,
            [
                Piece::Field(vec!["customer".into(), "name".into()]),
                Piece::Literal("您好，订单 ".into()),
                Piece::Field(vec!["event".into(), "order_id".into()]),
                Piece::Literal(" 已收到".into()),
            ]
        );
        for other in [
            "{{ customer.name | upper }}",
            "{% if x %}a{% endif %}",
            "{{- customer.name }}",
            "{{ customer['name'] }}",
            "{{ none }}",
            "{# note #}",
            "{{ a + 1 }}",
            "{{ unclosed",
        ] {
            assert_eq!(pieces(other), None, "{other}");
        }
    }
}
