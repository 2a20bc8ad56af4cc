//! Input that would nest the parser too deep is refused before parsing, with
//! a syntax error, so no input can exhaust the stack.

use super::ast::Span;
use super::SyntaxError;

const MAX_DEPTH: usize = 100;
const MAX_PREFIX_RUN: usize = 32;
/// Binary operators in one expression; beyond this, typing a left-deep tree recurses too far.
pub const MAX_OPERATORS: usize = 256;

pub fn check(text: &str) -> Result<(), SyntaxError> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut run = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'#' => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'"' => {
                i = skip_string(b, i);
                run = 0;
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(too_deep(i, "brackets nest more than 100 deep"));
                }
            }
            b')' | b']' | b'}' => depth = depth.saturating_sub(1),
            b'-' if b.get(i + 1) != Some(&b'>') => {
                run += 1;
            }
            b'n' if b[i..].starts_with(b"not")
                && !b
                    .get(i + 3)
                    .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_') =>
            {
                run += 1;
                i += 3;
                if run > MAX_PREFIX_RUN {
                    return Err(too_deep(i - 3, "too many `not` or `-` in a row"));
                }
                continue;
            }
            c if c.is_ascii_whitespace() => {}
            _ => run = 0,
        }
        if run > MAX_PREFIX_RUN {
            return Err(too_deep(i, "too many `not` or `-` in a row"));
        }
        i += 1;
    }
    Ok(())
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
