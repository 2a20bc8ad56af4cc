//! Input that would nest the parser too deep, or hand it one token or list
//! of a size no playbook needs, is refused before parsing, with a syntax
//! error: no input can exhaust the stack, and none can make the parser's
//! tree hundreds of times its size (a 4 MB list took 675 MB, a 20 MB name
//! 680 MB and a 106 MB report).

use super::ast::Span;
use super::SyntaxError;

const MAX_DEPTH: usize = 100;
const MAX_PREFIX_RUN: usize = 32;
/// Binary operators in one expression; beyond this, typing a left-deep tree recurses too far.
pub const MAX_OPERATORS: usize = 256;
/// Bytes in one name or dotted path.
pub const MAX_NAME: usize = 256;
/// Bytes in one number, duration or date (they hold no name, so a long one
/// costs no memory; the bound is only so that none is absurd).
pub const MAX_NUMBER: usize = 1024;
/// Bytes of text in one string literal.
pub const MAX_STRING: usize = 64 * 1024;
/// Items in one list, call or comma-separated run (`tag add "a", "b"`).
pub const MAX_ITEMS: usize = 10_000;

/// Comma-separated items under one bracket, or in one statement.
struct Items {
    /// Where the bracket opens (or the statement starts).
    at: usize,
    bracket: u8,
    commas: usize,
    /// The last thing seen was a comma (a trailing comma adds no item).
    after_comma: bool,
    /// Anything but blanks seen since the bracket or statement began.
    any: bool,
}

impl Items {
    fn new(at: usize, bracket: u8) -> Self {
        Items {
            at,
            bracket,
            commas: 0,
            after_comma: false,
            any: false,
        }
    }

    fn count(&self) -> usize {
        self.commas + usize::from(self.any && !self.after_comma)
    }

    fn check(&self) -> Result<(), SyntaxError> {
        if self.count() <= MAX_ITEMS {
            return Ok(());
        }
        let what = if self.bracket == b'[' {
            "this list has"
        } else {
            "here are"
        };
        Err(SyntaxError::new(
            Span::new(self.at, self.at + 1),
            format!("{what} more than {MAX_ITEMS} items"),
            "keep lists short: test a tag or an attribute instead of listing every value",
        ))
    }
}

pub fn check(text: &str) -> Result<(), SyntaxError> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut run = 0usize;
    // The innermost bracket's items; the statement's at the bottom.
    let mut items = vec![Items::new(0, b'\n')];
    let mut i = 0;
    while i < b.len() {
        let t = items.len() - 1;
        let top = &mut items[t];
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                let end = skip_string(b, i);
                let quotes = if b[i..].starts_with(b"\"\"\"") { 6 } else { 2 };
                if end - i > MAX_STRING + quotes {
                    return Err(SyntaxError::new(
                        Span::new(i, i + 1),
                        format!(
                            "this string is {} bytes long; strings are at most 64 KiB",
                            end - i - quotes.min(end - i)
                        ),
                        "shorten the text; a message that long would not be read anyway",
                    ));
                }
                (top.any, top.after_comma) = (true, false);
                i = end;
                run = 0;
                continue;
            }
            open @ (b'(' | b'[' | b'{') => {
                (top.any, top.after_comma) = (true, false);
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(i, "brackets nest more than 100 deep"));
                }
                items.push(Items::new(i, open));
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if items.len() > 1 {
                    items
                        .pop()
                        .expect("more than the statement level")
                        .check()?;
                }
            }
            b',' => {
                top.commas += 1;
                top.after_comma = true;
                top.check()?;
            }
            b'\n' | b';' if matches!(top.bracket, b'{' | b'\n') => {
                // A statement ends: its comma-separated run with it.
                top.check()?;
                *top = Items::new(i + 1, top.bracket);
            }
            b'-' if b.get(i + 1) != Some(&b'>') => {
                (top.any, top.after_comma) = (true, false);
                run += 1;
            }
            c if is_word(c) => {
                (top.any, top.after_comma) = (true, false);
                let start = i;
                while i < b.len() && is_word(b[i]) {
                    i += 1;
                }
                let (max, what) = if b[start].is_ascii_digit() {
                    (MAX_NUMBER, "number")
                } else {
                    (MAX_NAME, "name")
                };
                if i - start > max {
                    return Err(SyntaxError::new(
                        Span::new(start, start + 1),
                        format!(
                            "this {what} is {} bytes long; {what}s are at most {max} bytes",
                            i - start
                        ),
                        format!("write a shorter {what}"),
                    ));
                }
                if &b[start..i] == b"not" {
                    run += 1;
                    if run > MAX_PREFIX_RUN {
                        return Err(too_deep(start, "too many `not` or `-` in a row"));
                    }
                } else {
                    run = 0;
                }
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                (top.any, top.after_comma) = (true, false);
                run = 0;
            }
        }
        if run > MAX_PREFIX_RUN {
            return Err(too_deep(i, "too many `not` or `-` in a row"));
        }
        i += 1;
    }
    items.iter().try_for_each(Items::check)
}

/// A byte of a name, path or number: ASCII letters, digits, `_` and `.`,
/// and any byte of a non-ASCII character (names may be Chinese).
fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || c >= 0x80
}

fn skip_string(b: &[u8], i: usize) -> usize {
    if b[i..].starts_with(b"\"\"\"") {
        let mut j = i + 3;
        while j < b.len() && !b[j..].starts_with(b"\"\"\"") {
            j += if b[j] == b'\\' { 2 } else { 1 };
        }
        return (j + 3).min(b.len());
    }
    let mut j = i + 1;
    while j < b.len() && b[j] != b'"' && b[j] != b'\n' {
        j += if b[j] == b'\\' { 2 } else { 1 };
    }
    (j + 1).min(b.len())
}

fn too_deep(at: usize, what: &str) -> SyntaxError {
    SyntaxError::new(Span::new(at, at + 1), format!("{what}; this is too deeply nested to read"), "split the expression or the blocks into simpler parts (a segment can name another segment)")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(n: usize, trailing: &str) -> String {
        format!(
            "segment s = customer.city in [{}{trailing}]",
            vec!["\"a\""; n].join(", ")
        )
    }

    #[test]
    fn lists_hold_at_most_10000_items() {
        assert!(check(&list(MAX_ITEMS, "")).is_ok());
        assert!(check(&list(MAX_ITEMS, ",")).is_ok());
        let e = check(&list(MAX_ITEMS + 1, "")).unwrap_err();
        assert_eq!(e.message, "this list has more than 10000 items");
        assert_eq!(e.span.start, "segment s = customer.city in ".len());
        let tags = format!("tag add {}\n", vec!["\"a\""; MAX_ITEMS + 1].join(", "));
        assert!(check(&tags).is_err());
        // Many short statements are a long file, not a long list.
        assert!(check(&"tag add \"a\", \"b\"\n".repeat(MAX_ITEMS)).is_ok());
    }

    #[test]
    fn names_and_strings_have_a_size() {
        let name = "n".repeat(MAX_NAME + 1);
        let e = check(&format!("segment {name} = true")).unwrap_err();
        assert_eq!(
            e.message,
            "this name is 257 bytes long; names are at most 256 bytes"
        );
        let path = format!("customer.{}", "a.".repeat(123));
        assert!(check(&format!("segment s = {path}b == 1")).is_ok());
        assert!(check(&format!("segment s = {path}bc == 1")).is_err());
        assert!(check(&format!("segment s = 1{}", "0".repeat(MAX_NUMBER - 1))).is_ok());
        let e = check(&format!("segment s = 1{}", "0".repeat(MAX_NUMBER))).unwrap_err();
        assert_eq!(
            e.message,
            "this number is 1025 bytes long; numbers are at most 1024 bytes"
        );
        assert_eq!(e.span, Span::new(12, 13));
        assert!(check(&format!("segment {} = true", "名".repeat(85))).is_ok());
        assert!(check(&format!("text \"{}\"", "x".repeat(MAX_STRING))).is_ok());
        let e = check(&format!("text \"\"\"{}\"\"\"", "x".repeat(MAX_STRING + 1))).unwrap_err();
        assert_eq!(
            e.message,
            "this string is 65537 bytes long; strings are at most 64 KiB"
        );
        // Names inside strings and comments are text.
        assert!(check(&format!("text \"{name}\" # {name}")).is_ok());
    }
}
