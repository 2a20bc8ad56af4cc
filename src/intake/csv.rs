//! CSV with a header row. Customers: `id` and attribute columns; events: `id`,
//! `name`, `customer`, `at`, and `data.FIELD` / `attributes.FIELD` columns.
//! Nested fields are dotted (`pet.name`). Every cell is [`Raw::Text`], read
//! by the schema's type: lists are `|`-separated, and an empty cell is absent
//! (an empty list for a list).

use super::{Customer, Entry, Envelope, FieldError, IntakeError, Located, Raw, Schema};
use ::csv::{ErrorKind, Reader, ReaderBuilder, StringRecord};
use std::borrow::Cow;
use std::io::Read;

/// The header row as a tree of dotted names, built once per file.
#[derive(Debug)]
pub(super) struct Header {
    tree: Vec<(String, Node)>,
}

#[derive(Debug)]
enum Node {
    /// A column, by index.
    Cell(usize),
    Table(Vec<(String, Node)>),
}

impl Header {
    fn new(names: &StringRecord) -> Result<Header, String> {
        let mut tree = Vec::new();
        for (i, name) in names.iter().enumerate() {
            let name = name.trim();
            if name.is_empty() {
                return Err(format!("column {} has no name in the header row", i + 1));
            }
            let segs: Vec<&str> = name.split('.').collect();
            if segs.iter().any(|s| s.is_empty()) {
                return Err(format!("column `{name}` has an empty part in its name"));
            }
            insert(&mut tree, &segs, i).map_err(|()| clash(names, i))?;
        }
        Ok(Header { tree })
    }

    /// A row as the entries of one table; all-empty nested tables are left out.
    pub(super) fn entries<'r>(&'r self, row: &'r StringRecord) -> Vec<Entry<'r>> {
        build(&self.tree, row)
    }

    fn convert<T>(
        &self,
        row: &StringRecord,
        file: &str,
        convert: impl Fn(Vec<Entry>) -> Result<T, FieldError>,
    ) -> Result<Located<T>, IntakeError> {
        let line = line_of(row);
        convert(self.entries(row))
            .map(|item| Located { line, item })
            .map_err(|e| IntakeError::field(file, line, None, e))
    }

    pub(super) fn customer(
        &self,
        row: &StringRecord,
        schema: &Schema,
        file: &str,
    ) -> Result<Located<Customer>, IntakeError> {
        self.convert(row, file, |e| schema.customer(e))
    }

    pub(super) fn event(
        &self,
        row: &StringRecord,
        schema: &Schema,
        file: &str,
    ) -> Result<Located<Envelope>, IntakeError> {
        self.convert(row, file, |e| schema.event(e))
    }
}

/// Names column `i` and the earlier column it clashes with.
fn clash(names: &StringRecord, i: usize) -> String {
    let name = names[i].trim();
    let inside = |outer: &str, inner: &str| {
        inner.len() > outer.len()
            && inner.starts_with(outer)
            && inner.as_bytes()[outer.len()] == b'.'
    };
    let earlier = names.iter().take(i).map(str::trim).enumerate();
    for (j, other) in earlier {
        if other == name {
            return format!(
                "columns {} and {} are both `{name}`; each column needs its own name",
                j + 1,
                i + 1
            );
        }
        if inside(other, name) || inside(name, other) {
            return format!(
                "column {} `{other}` and column {} `{name}` clash: one is a value, the other a field inside it",
                j + 1,
                i + 1
            );
        }
    }
    format!("column {} `{name}` clashes with another column", i + 1)
}

fn insert(tree: &mut Vec<(String, Node)>, segs: &[&str], col: usize) -> Result<(), ()> {
    let Some((first, rest)) = segs.split_first() else {
        return Err(());
    };
    let pos = tree.iter().position(|(k, _)| k == first);
    match (pos, rest.is_empty()) {
        (None, true) => tree.push((first.to_string(), Node::Cell(col))),
        (None, false) => {
            let mut sub = Vec::new();
            insert(&mut sub, rest, col)?;
            tree.push((first.to_string(), Node::Table(sub)));
        }
        (Some(p), false) => match &mut tree[p].1 {
            Node::Table(sub) => insert(sub, rest, col)?,
            Node::Cell(_) => return Err(()),
        },
        (Some(_), true) => return Err(()),
    }
    Ok(())
}

fn build<'r>(nodes: &'r [(String, Node)], row: &'r StringRecord) -> Vec<Entry<'r>> {
    let mut out = Vec::with_capacity(nodes.len());
    for (key, node) in nodes {
        let value = match node {
            Node::Cell(i) => Raw::Text(Cow::Borrowed(row.get(*i).unwrap_or(""))),
            Node::Table(sub) if all_empty(sub, row) => continue,
            Node::Table(sub) => Raw::Table(build(sub, row)),
        };
        out.push(Entry {
            key: Cow::Borrowed(key),
            value,
            span: None,
        });
    }
    out
}

fn all_empty(nodes: &[(String, Node)], row: &StringRecord) -> bool {
    nodes.iter().all(|(_, n)| match n {
        Node::Cell(i) => row.get(*i).is_none_or(str::is_empty),
        Node::Table(sub) => all_empty(sub, row),
    })
}

/// The line a row starts on (a quoted cell may span lines).
pub(super) fn line_of(row: &StringRecord) -> usize {
    row.position().map_or(1, |p| p.line() as usize)
}

pub(super) fn reader<R: Read>(r: R) -> Reader<R> {
    ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(r)
}

pub(super) fn header<R: Read>(r: &mut Reader<R>, file: &str) -> Result<Header, IntakeError> {
    let names = r
        .headers()
        .map_err(|e| IntakeError::at(file, 1, format!("the header row cannot be read: {e}")))?;
    Header::new(names).map_err(|m| IntakeError::at(file, 1, m))
}

/// The next row into `row`; false at the end.
pub(super) fn next_row<R: Read>(
    r: &mut Reader<R>,
    row: &mut StringRecord,
    file: &str,
) -> Result<bool, IntakeError> {
    r.read_record(row).map_err(|e| {
        let line = e.position().map_or(1, |p| p.line() as usize);
        let message = match e.kind() {
            ErrorKind::UnequalLengths {
                expected_len, len, ..
            } => format!("this row has {len} cells but the header row has {expected_len}"),
            ErrorKind::Utf8 { .. } => "this row is not valid UTF-8".to_string(),
            ErrorKind::Io(io) => {
                return IntakeError {
                    file: Some(file.to_string()),
                    line: None,
                    message: format!("cannot read {file}: {io}"),
                    field: None,
                }
            }
            _ => format!("this row cannot be read: {e}"),
        };
        IntakeError::at(file, line, message)
    })
}

fn read<T>(
    bytes: &[u8],
    file: &str,
    convert: impl Fn(&Header, &StringRecord) -> Result<Located<T>, IntakeError>,
) -> Result<Vec<Located<T>>, IntakeError> {
    let mut r = reader(bytes);
    let header = header(&mut r, file)?;
    let mut row = StringRecord::new();
    let mut out = Vec::new();
    while next_row(&mut r, &mut row, file)? {
        out.push(convert(&header, &row)?);
    }
    Ok(out)
}

pub(super) fn customers(
    bytes: &[u8],
    schema: &Schema,
    file: &str,
) -> Result<Vec<Located<Customer>>, IntakeError> {
    columns(bytes, file, &customer_columns(schema))?;
    read(bytes, file, |h, row| h.customer(row, schema, file))
}

pub(super) fn events(
    bytes: &[u8],
    schema: &Schema,
    file: &str,
) -> Result<Vec<Located<Envelope>>, IntakeError> {
    columns(bytes, file, &event_columns(schema))?;
    read(bytes, file, |h, row| h.event(row, schema, file))
}

/// The columns a customers file may have: `id` and every attribute, dotted.
pub(super) fn customer_columns(schema: &Schema) -> Vec<String> {
    let mut out = vec!["id".to_string()];
    paths(&schema.customer, "", &mut out);
    out
}

/// The columns an events file may have: the envelope's, `data.` any event's
/// field, `attributes.` any attribute.
pub(super) fn event_columns(schema: &Schema) -> Vec<String> {
    let mut out: Vec<String> = ["id", "name", "customer", "at"].map(String::from).to_vec();
    for rec in schema.events.values() {
        paths(rec, "data.", &mut out);
    }
    paths(&schema.customer, "attributes.", &mut out);
    out.sort();
    out.dedup();
    out
}

fn paths(rec: &crate::types::Record, prefix: &str, out: &mut Vec<String>) {
    for (name, field) in rec {
        let path = format!("{prefix}{name}");
        if let crate::types::Type::Record(inner) = &field.ty {
            paths(inner, &format!("{path}."), out);
        }
        out.push(path);
    }
}

/// A header column that is a misspelling of one the schema has is an error
/// at the header row with that column (`folowed_at` → `followed_at`), rather
/// than at the first row that has a value in it.
pub(super) fn columns(bytes: &[u8], file: &str, known: &[String]) -> Result<(), IntakeError> {
    let mut r = reader(bytes);
    match r.headers() {
        Ok(names) => check_columns(names, file, known),
        Err(_) => Ok(()),
    }
}

/// [`columns`] for a header row already read.
pub(super) fn check_columns(
    names: &StringRecord,
    file: &str,
    known: &[String],
) -> Result<(), IntakeError> {
    for (i, name) in names.iter().enumerate() {
        let name = name.trim();
        if name.is_empty() || known.iter().any(|k| k == name) {
            continue;
        }
        let near = known
            .iter()
            .map(|k| (strsim::levenshtein(k, name), k))
            .filter(|(d, _)| *d <= 2.max(name.len() / 4))
            .min();
        // A name near a real column is a typo in the header; anything else
        // is told per row, in the words every input format shares.
        if let Some((_, k)) = near {
            return Err(IntakeError::at(
                file,
                1,
                format!(
                    "column {} `{name}` is not in the schema; did you mean `{k}`?",
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}
