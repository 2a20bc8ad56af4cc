//! JSON lines: one object per line; blank lines and lines starting with `#`
//! are skipped. Each line is read straight into [`Raw`], borrowing its strings.

use super::{Customer, Entry, Envelope, FieldError, IntakeError, Located, Raw, Schema};

/// The object on one line.
pub(super) fn parse_line(line: &str) -> Result<Vec<Entry<'_>>, String> {
    match serde_json::from_str::<Raw>(line) {
        Ok(Raw::Table(entries)) => Ok(entries),
        Ok(_) => Err("each line must be a JSON object".into()),
        Err(e) => Err(format!("this line is not valid JSON: {}", json_error(&e))),
    }
}

/// serde_json's message with the column (the line is always 1 to it).
fn json_error(e: &serde_json::Error) -> String {
    let s = e.to_string();
    let message = s.rfind(" at line ").map_or(s.as_str(), |i| &s[..i]);
    if e.column() > 0 {
        format!("{message} (column {})", e.column())
    } else {
        message.to_string()
    }
}

/// The lines worth reading, numbered from `first_line`.
fn lines(text: &str, first_line: usize) -> impl Iterator<Item = (usize, &str)> {
    text.split('\n')
        .enumerate()
        .map(move |(i, l)| (first_line + i, l.strip_suffix('\r').unwrap_or(l)))
        .filter(|(_, l)| {
            let t = l.trim_start();
            !t.is_empty() && !t.starts_with('#')
        })
}

fn read<T>(
    text: &str,
    first_line: usize,
    file: &str,
    fast: impl Fn(&str) -> Option<T>,
    convert: impl Fn(Vec<Entry>) -> Result<T, FieldError>,
) -> Result<Vec<Located<T>>, IntakeError> {
    // Lines of the simulator's kind are a little over 200 bytes.
    let mut out = Vec::with_capacity(text.len() / 256);
    for (line, l) in lines(text, first_line) {
        // The common line straight into values; anything else the general way.
        if let Some(item) = fast(l) {
            out.push(Located { line, item });
            continue;
        }
        let entries = parse_line(l).map_err(|m| IntakeError::at(file, line, m))?;
        let item = convert(entries).map_err(|e| IntakeError::field(file, line, None, e))?;
        out.push(Located { line, item });
    }
    Ok(out)
}

/// Customers in `text`, whose first line is `first_line` of `file`.
pub(super) fn customers(
    text: &str,
    first_line: usize,
    schema: &Schema,
    file: &str,
) -> Result<Vec<Located<Customer>>, IntakeError> {
    read(
        text,
        first_line,
        file,
        |l| super::fast::customer(l, schema),
        |e| schema.customer(e),
    )
}

/// Events in `text`, whose first line is `first_line` of `file`.
pub(super) fn events(
    text: &str,
    first_line: usize,
    schema: &Schema,
    file: &str,
) -> Result<Vec<Located<Envelope>>, IntakeError> {
    read(
        text,
        first_line,
        file,
        |l| super::fast::event(l, schema),
        |e| schema.event(e),
    )
}
