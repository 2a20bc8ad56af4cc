//! TOML input: `[[customer]]` and `[[event]]` tables, turned into [`Raw`]
//! with spans so a mistake names the line of the key or value at fault.

use super::raw::too_deep;
use super::{Customer, Entry, Envelope, FieldError, IntakeError, Located, Raw, Schema, MAX_DEPTH};
use crate::source::SourceFile;
use ::toml::de::{DeTable, DeValue};
use ::toml::Spanned;
use std::borrow::Cow;
use std::ops::Range;

pub(super) fn customers(
    src: &SourceFile,
    schema: &Schema,
) -> Result<Vec<Located<Customer>>, IntakeError> {
    read(src, "customer", |e| schema.customer(e))
}

pub(super) fn events(
    src: &SourceFile,
    schema: &Schema,
) -> Result<Vec<Located<Envelope>>, IntakeError> {
    read(src, "event", |e| schema.event(e))
}

/// Each `[[key]]` table of the file, converted; the line is the table's header.
fn read<T>(
    src: &SourceFile,
    key: &str,
    convert: impl Fn(Vec<Entry>) -> Result<T, FieldError>,
) -> Result<Vec<Located<T>>, IntakeError> {
    let file = src.display_path();
    let text = super::strip_bom(&src.text);
    // Spans below are into `text`; with a byte-order mark they are 3 short.
    let shift = src.text.len() - text.len();
    let err = |span: Range<usize>, message: String| {
        IntakeError::at(&file, src.line_col(span.start + shift).0, message)
    };
    let doc = DeTable::parse(text).map_err(|e| {
        err(
            e.span().unwrap_or(0..0),
            format!("this is not valid TOML: {}", e.message().trim()),
        )
    })?;
    let mut out = Vec::new();
    for (k, v) in doc.into_inner() {
        if k.get_ref() != key {
            return Err(err(
                k.span(),
                format!(
                    "`{}` is not expected here; write [[{key}]] tables",
                    k.get_ref()
                ),
            ));
        }
        let span = v.span();
        let DeValue::Array(items) = v.into_inner() else {
            return Err(err(span, format!("write each entry as a [[{key}]] table")));
        };
        for item in items {
            let span = item.span();
            let line = src.line_col(span.start + shift).0;
            let DeValue::Table(t) = item.into_inner() else {
                return Err(err(span, format!("a [[{key}]] must be a table")));
            };
            let item = entries(t, 0).and_then(&convert).map_err(|mut e| {
                e.span = e.span.map(|s| s.start + shift..s.end + shift);
                IntakeError::field(&file, line, Some(src), e)
            })?;
            out.push(Located { line, item });
        }
    }
    Ok(out)
}

/// A table `depth` containers deep; each entry spans its key and value.
fn entries(t: DeTable, depth: usize) -> Result<Vec<Entry>, FieldError> {
    let mut out = Vec::with_capacity(t.len());
    for (k, v) in t {
        let (ks, vs) = (k.span(), v.span());
        let span = ks.start.min(vs.start)..ks.end.max(vs.end);
        let value = raw(v, depth + 1)?;
        out.push(Entry {
            key: k.into_inner(),
            value,
            span: Some(span),
        });
    }
    Ok(out)
}

fn raw(v: Spanned<DeValue>, depth: usize) -> Result<Raw, FieldError> {
    let span = v.span();
    let unreadable = |what: &str| FieldError {
        span: Some(span.clone()),
        message: format!("this {what} cannot be read"),
        field: None,
    };
    let deeper = || {
        if depth >= MAX_DEPTH {
            Err(FieldError {
                span: Some(span.clone()),
                message: too_deep(),
                field: None,
            })
        } else {
            Ok(())
        }
    };
    Ok(match v.into_inner() {
        DeValue::String(s) => Raw::Str(s),
        DeValue::Integer(i) => {
            let digits = without_underscores(i.as_str());
            match i128::from_str_radix(&digits, i.radix()) {
                // Beyond i64: kept as a float, which the schema's `int` refuses by name.
                Ok(n) => i64::try_from(n).map_or(Raw::Float(n as f64), Raw::Int),
                Err(_) if i.radix() == 10 => {
                    Raw::Float(digits.parse().map_err(|_| unreadable("number"))?)
                }
                Err(_) => return Err(unreadable("number")),
            }
        }
        DeValue::Float(f) => Raw::Float(
            without_underscores(f.as_str())
                .parse()
                .map_err(|_| unreadable("number"))?,
        ),
        DeValue::Boolean(b) => Raw::Bool(b),
        DeValue::Datetime(d) => Raw::Datetime(Cow::Owned(d.to_string())),
        DeValue::Array(a) => {
            deeper()?;
            Raw::List(
                a.into_iter()
                    .map(|x| raw(x, depth + 1))
                    .collect::<Result<_, _>>()?,
            )
        }
        DeValue::Table(t) => {
            deeper()?;
            Raw::Table(entries(t, depth)?)
        }
    })
}

fn without_underscores(s: &str) -> Cow<'_, str> {
    if s.contains('_') {
        Cow::Owned(s.replace('_', ""))
    } else {
        Cow::Borrowed(s)
    }
}
