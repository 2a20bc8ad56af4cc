//! Reading literal tokens: strings, durations, dates, clock times, numbers, percents.
//! Errors point into the token, in the terms of the language reference.

use super::ast::{Clock, Duration, Percent, Span};
use super::SyntaxError;
use chrono::{NaiveDate, NaiveDateTime, NaiveTime};

fn err(span: Span, message: impl Into<String>, help: impl Into<String>) -> SyntaxError {
    SyntaxError::new(span, message, help)
}

/// Processes a string token (with its quotes) into its value.
pub fn string(token: &str, start: usize) -> Result<String, SyntaxError> {
    if let Some(inner) = token
        .strip_prefix("\"\"\"")
        .and_then(|t| t.strip_suffix("\"\"\""))
    {
        let body_start = start + 3;
        let dedented = dedent(inner, body_start)?;
        let mut out = String::new();
        for (text, offset) in dedented {
            out.push_str(&unescape(&text, offset)?);
        }
        Ok(out)
    } else {
        let inner = &token[1..token.len() - 1];
        unescape(inner, start + 1)
    }
}

/// Applies the triple-quote rules and returns the kept pieces with their source offsets,
/// so escape errors still point at the right place.
fn dedent(inner: &str, start: usize) -> Result<Vec<(String, usize)>, SyntaxError> {
    // Drop the newline right after the opening quotes.
    let (body, mut base) = match inner.strip_prefix("\r\n") {
        Some(b) => (b, start + 2),
        None => match inner.strip_prefix('\n') {
            Some(b) => (b, start + 1),
            None => (inner, start),
        },
    };
    let mut lines: Vec<(&str, usize)> = Vec::new();
    for line in body.split('\n') {
        lines.push((line.strip_suffix('\r').unwrap_or(line), base));
        base += line.len() + 1;
    }
    // Drop the final line break and the indentation before the closing quotes.
    if lines.len() > 1
        && lines
            .last()
            .is_some_and(|(l, _)| l.trim_matches([' ', '\t']).is_empty())
    {
        lines.pop();
    }
    let indents: Vec<(&str, usize)> = lines
        .iter()
        .filter(|(l, _)| !l.trim().is_empty())
        .map(|(l, o)| (&l[..l.len() - l.trim_start_matches([' ', '\t']).len()], *o))
        .collect();
    let mut common: &str = indents.first().map(|(i, _)| *i).unwrap_or("");
    for (ind, _) in &indents {
        let n = common
            .bytes()
            .zip(ind.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        common = &common[..n];
    }
    // Lines indented one with spaces, another with tabs: what is not common
    // to all stays in the text and reaches the customer as a stray tab.
    let mixed = indents
        .iter()
        .find(|(ind, _)| ind.contains(' ') && ind.contains('\t'))
        .or_else(|| {
            let spaces = indents.iter().find(|(ind, _)| ind.contains(' '));
            let tabs = indents.iter().find(|(ind, _)| ind.contains('\t'));
            match (spaces, tabs) {
                (Some(a), Some(b)) => Some(if a.1 > b.1 { a } else { b }),
                _ => None,
            }
        });
    if let Some(&(ind, off)) = mixed {
        return Err(err(
            Span::new(off, off + ind.len()),
            "the indentation of this text mixes tabs and spaces",
            "indent the lines of a `\"\"\"` string with spaces only, or with tabs only",
        ));
    }
    let mut out = Vec::new();
    let n = lines.len();
    for (i, (line, off)) in lines.into_iter().enumerate() {
        let (kept, koff) = if line.len() >= common.len() && line.starts_with(common) {
            (&line[common.len()..], off + common.len())
        } else {
            (
                line.trim_start_matches([' ', '\t']),
                off + line.len() - line.trim_start_matches([' ', '\t']).len(),
            )
        };
        let mut s = kept.to_string();
        if i + 1 < n {
            s.push('\n');
        }
        out.push((s, koff));
    }
    Ok(out)
}

fn unescape(s: &str, start: usize) -> Result<String, SyntaxError> {
    let mut out = String::with_capacity(s.len());
    let mut it = s.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let here = start + i;
        match it.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((j, 'u')) => {
                let rest = &s[j + 1..];
                let close = rest.find('}');
                let hex = match (rest.starts_with('{'), close) {
                    (true, Some(c)) => &rest[1..c],
                    _ => {
                        return Err(err(
                            Span::new(here, here + 2),
                            "a `\\u` escape needs a code in braces",
                            "write a Unicode character as `\\u{1F431}`",
                        ))
                    }
                };
                let end = here + 2 + close.unwrap_or(0) + 1;
                let ch = u32::from_str_radix(hex, 16).ok().filter(|_| !hex.is_empty() && hex.len() <= 6).and_then(char::from_u32);
                match ch {
                    Some(ch) => out.push(ch),
                    None => {
                        return Err(err(
                            Span::new(here, end),
                            format!("`\\u{{{hex}}}` is not a Unicode character"),
                            "use 1 to 6 hex digits naming a Unicode scalar value, such as `\\u{1F431}`",
                        ))
                    }
                }
                for _ in 0..close.unwrap_or(0) + 1 {
                    it.next();
                }
            }
            Some((_, other)) => {
                return Err(err(
                    Span::new(here, here + 1 + other.len_utf8()),
                    format!("`\\{other}` is not an escape"),
                    "the escapes are `\\\"`, `\\\\`, `\\n`, `\\t` and `\\u{…}`; write a backslash as `\\\\`",
                ))
            }
            None => {
                return Err(err(Span::new(here, here + 1), "a backslash ends this string", "write a backslash as `\\\\`"))
            }
        }
    }
    Ok(out)
}

/// `1d12h`: integer parts in strictly descending order `w d h m s`, each at most once.
pub fn duration(token: &str, span: Span) -> Result<Duration, SyntaxError> {
    const UNITS: [&str; 5] = ["w", "d", "h", "m", "s"];
    let mut days = 0i64;
    let mut seconds = 0i64;
    let mut last: Option<usize> = None;
    let mut rest = token;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit_end = rest[digits..]
            .find(|c: char| c.is_ascii_digit())
            .map(|i| i + digits)
            .unwrap_or(rest.len());
        let (num, unit) = (&rest[..digits], &rest[digits..unit_end]);
        let Some(idx) = UNITS.iter().position(|u| *u == unit) else {
            return Err(err(
                span,
                format!("`{token}` is not a duration: `{unit}` is not a unit"),
                "units are `w` (weeks), `d` (days), `h` (hours), `m` (minutes) and `s` (seconds), such as `1d12h`",
            ));
        };
        if last.is_some_and(|l| l >= idx) {
            return Err(err(
                span,
                format!("`{token}` is not a duration: units must come in the order w d h m s, each once"),
                "write the largest unit first, such as `1d12h` rather than `12h1d`",
            ));
        }
        if num.len() > 1 && num.starts_with('0') {
            return Err(err(
                span,
                format!("`{token}` has a number with a leading zero"),
                "write `5m`, not `05m`",
            ));
        }
        let n: i64 = num.parse().ok().filter(|n| *n <= 100_000).ok_or_else(|| {
            err(
                span,
                format!("`{token}` is too long a duration"),
                "durations longer than 100 000 of a unit are not supported",
            )
        })?;
        match idx {
            0 => days += n * 7,
            1 => days += n,
            2 => seconds += n * 3600,
            3 => seconds += n * 60,
            _ => seconds += n,
        }
        last = Some(idx);
        rest = &rest[unit_end..];
    }
    Ok(Duration {
        days,
        seconds,
        span,
    })
}

pub fn clock(token: &str, span: Span) -> Result<Clock, SyntaxError> {
    let (h, m) = token.split_once(':').unwrap_or((token, ""));
    match (h.parse::<u32>(), m.parse::<u32>()) {
        (Ok(h), Ok(m)) if h < 24 && m < 60 => Ok(Clock {
            minutes: h * 60 + m,
            span,
        }),
        _ => Err(err(
            span,
            format!("`{token}` is not a clock time"),
            "clock times are `HH:MM` from 00:00 to 23:59",
        )),
    }
}

pub enum DateLit {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
}

pub fn date(token: &str, span: Span) -> Result<DateLit, SyntaxError> {
    let (d, t) = match token.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (token, None),
    };
    let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| {
        err(
            span,
            format!("`{d}` is not a date in the calendar"),
            "dates are `YYYY-MM-DD`, such as `2026-02-17`",
        )
    })?;
    match t {
        None => Ok(DateLit::Date(date)),
        Some(t) => {
            let fmt = if t.len() > 5 { "%H:%M:%S" } else { "%H:%M" };
            let time = NaiveTime::parse_from_str(t, fmt).map_err(|_| {
                err(
                    span,
                    format!("`{t}` is not a time of day"),
                    "datetimes are `YYYY-MM-DDTHH:MM[:SS]`, such as `2026-02-17T10:00`",
                )
            })?;
            Ok(DateLit::DateTime(date.and_time(time)))
        }
    }
}

pub enum Number {
    Int(i64),
    Float(f64),
}

pub fn number(token: &str, span: Span) -> Result<Number, SyntaxError> {
    let int_part = token.split('.').next().unwrap_or(token);
    if int_part.len() > 1 && int_part.starts_with('0') {
        return Err(err(
            span,
            format!("`{token}` has a leading zero"),
            "write numbers without leading zeros, such as `7` or `0.5`",
        ));
    }
    if token.contains('.') {
        token.parse::<f64>().map(Number::Float).map_err(|_| {
            err(
                span,
                format!("`{token}` is not a number"),
                "write a number such as `3.5`",
            )
        })
    } else {
        token.parse::<i64>().map(Number::Int).map_err(|_| {
            err(
                span,
                format!("`{token}` is too large a number"),
                "whole numbers must fit in 64 bits",
            )
        })
    }
}

pub fn percent(token: &str, span: Span) -> Result<Percent, SyntaxError> {
    let body = &token[..token.len() - 1];
    let (whole, frac) = body.split_once('.').unwrap_or((body, ""));
    if whole.len() > 1 && whole.starts_with('0') {
        return Err(err(
            span,
            format!("`{token}` has a leading zero"),
            "write percents such as `5%` or `12.5%`",
        ));
    }
    if frac.len() > 2 {
        return Err(err(
            span,
            format!("`{token}` has more than 2 decimals"),
            "percents have at most 2 decimals, such as `12.25%`",
        ));
    }
    let w: u32 = whole.parse().ok().filter(|w| *w <= 1000).ok_or_else(|| {
        err(
            span,
            format!("`{token}` is too large a percent"),
            "percents run from 0% to 100%",
        )
    })?;
    let f: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().unwrap_or(0)
    };
    Ok(Percent {
        basis_points: w * 100 + f,
        span,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(t: &str) -> String {
        string(t, 0).unwrap()
    }

    #[test]
    fn triple_quoted_strings_drop_common_indentation() {
        assert_eq!(s("\"\"\"\n    a\n      b\n    \"\"\""), "a\n  b");
        assert_eq!(s("\"\"\"\n  您好\n\n  再见\n  \"\"\""), "您好\n\n再见");
        assert_eq!(s("\"\"\"one line\"\"\""), "one line");
    }

    #[test]
    fn escapes() {
        assert_eq!(s(r#""a\"b\\c\nd\te\u{1F431}""#), "a\"b\\c\nd\te🐱");
        assert!(string(r#""\q""#, 0).is_err());
        assert!(string(r#""\u{110000}""#, 0).is_err());
    }

    #[test]
    fn mixed_tab_and_space_indentation_is_an_error() {
        let e = string("\"\"\"\n \ta\n \tb\n\"\"\"", 0).unwrap_err();
        assert!(e.message.contains("mixes tabs and spaces"));
        // One line with spaces, the next with a tab: the tab would be sent.
        let e = string("\"\"\"\n    a\n\tb\n\"\"\"", 0).unwrap_err();
        assert!(e.message.contains("mixes tabs and spaces"));
        assert_eq!((e.span.start, e.span.end), (10, 11));
        let e = string("\"\"\"\n    a\n    \tb\n\"\"\"", 0).unwrap_err();
        assert!(e.message.contains("mixes tabs and spaces"));
        assert!(string("\"\"\"\n\ta\n\t\tb\n\"\"\"", 0).is_ok());
    }

    #[test]
    fn durations() {
        let sp = Span::default();
        let d = duration("1d12h", sp).unwrap();
        assert_eq!((d.days, d.seconds), (1, 43_200));
        assert_eq!(duration("2w", sp).unwrap().days, 14);
        assert!(duration("12h1d", sp).is_err());
        assert!(duration("1d1d", sp).is_err());
        assert!(duration("3days", sp).is_err());
    }

    #[test]
    fn dates_and_clocks_are_validated() {
        let sp = Span::default();
        assert!(date("2026-02-30", sp).is_err());
        assert!(date("2026-02-28T10:00", sp).is_ok());
        assert!(clock("24:00", sp).is_err());
        assert_eq!(clock("21:30", sp).unwrap().minutes, 1290);
    }

    #[test]
    fn percents() {
        assert_eq!(
            percent("12.5%", Span::default()).unwrap().basis_points,
            1250
        );
        assert!(percent("1.125%", Span::default()).is_err());
    }
}
