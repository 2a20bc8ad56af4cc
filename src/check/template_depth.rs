//! Template text whose syntax tree would be too deep is refused before
//! minijinja reads it. minijinja's parser loops over `a ~ b ~ c` and
//! `x|f|g` without recursing, but the tree it builds is as deep as the chain
//! is long, and compiling, inspecting and dropping that tree recurse: 50,000
//! chained filters overflow the stack. One tag may chain at most
//! [`MAX_TAG_OPERATORS`] operators, the same bound as a playbook expression.

pub use crate::syntax::MAX_OPERATORS as MAX_TAG_OPERATORS;

/// Words that join or wrap expressions inside a tag.
const WORD_OPERATORS: [&str; 7] = ["and", "or", "not", "in", "is", "if", "else"];

/// The byte offset in `text` of the first `{{ … }}` or `{% … %}` tag that
/// chains more than [`MAX_TAG_OPERATORS`] operators, filters, attribute
/// reads, subscripts or calls.
pub fn too_deep(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' {
            i += 1;
            continue;
        }
        let close: &[u8] = match b[i + 1] {
            b'{' => b"}}",
            b'%' => b"%}",
            b'#' => {
                i = find(b, i + 2, b"#}").map_or(b.len(), |e| e + 2);
                continue;
            }
            _ => {
                i += 1;
                continue;
            }
        };
        let start = i;
        let (end, operators) = scan_tag(b, i + 2, close);
        if operators > MAX_TAG_OPERATORS {
            return Some(start);
        }
        i = end;
        // The text of a raw block is not template code.
        if close == b"%}" && is_raw(&b[start + 2..end.saturating_sub(2).max(start + 2)]) {
            i = find(b, i, b"endraw").map_or(b.len(), |e| e + 6);
        }
    }
    None
}

/// Scans a tag's code from `i` to its `close`: where the tag ends and how
/// many operators it holds (counting stops just past the limit).
fn scan_tag(b: &[u8], mut i: usize, close: &[u8]) -> (usize, usize) {
    let mut operators = 0;
    while i < b.len() && operators <= MAX_TAG_OPERATORS {
        if b[i..].starts_with(close) {
            return (i + close.len(), operators);
        }
        match b[i] {
            q @ (b'"' | b'\'') => {
                i += 1;
                while i < b.len() && b[i] != q {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'|' | b'~' | b'+' | b'-' | b'*' | b'/' | b'%' | b'.' | b'[' | b'(' | b'<' | b'>'
            | b'=' | b'!' => {
                operators += 1;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                let word = std::str::from_utf8(&b[s..i]).unwrap_or("");
                operators += usize::from(WORD_OPERATORS.contains(&word));
            }
            _ => i += 1,
        }
    }
    (
        find(b, i, close).map_or(b.len(), |e| e + close.len()),
        operators,
    )
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

fn is_raw(code: &[u8]) -> bool {
    let trimmed = |c: &u8| *c == b'-' || *c == b'+' || c.is_ascii_whitespace();
    let start = code.iter().position(|c| !trimmed(c)).unwrap_or(code.len());
    let end = code
        .iter()
        .rposition(|c| !trimmed(c))
        .map_or(start, |e| e + 1);
    &code[start..end.max(start)] == b"raw"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_operators_per_tag() {
        let at_limit = format!("{{{{ a{} }}}}", "|upper".repeat(MAX_TAG_OPERATORS));
        assert_eq!(too_deep(&at_limit), None);
        let over = format!("hi {{{{ a{} }}}}", "|upper".repeat(MAX_TAG_OPERATORS + 1));
        assert_eq!(too_deep(&over), Some(3));
        let tilde = format!("{{% set x = a{} %}}", " ~ a".repeat(MAX_TAG_OPERATORS + 1));
        assert_eq!(too_deep(&tilde), Some(0));
        // Many short tags are a long template, not a deep one.
        assert_eq!(too_deep(&"{{ a.b ~ c }}".repeat(10_000)), None);
    }

    #[test]
    fn strings_comments_and_raw_blocks_hold_no_operators() {
        let dots = ".".repeat(1000);
        assert_eq!(too_deep(&format!("{{{{ '{dots}' }}}}")), None);
        assert_eq!(too_deep(&format!("{{# {{{{ a{dots} }}}} #}}")), None);
        assert_eq!(
            too_deep(&format!("{{% raw %}}{{{{ a{dots} }}}}{{% endraw %}}")),
            None
        );
        assert_eq!(too_deep(&format!("{dots} {{{{ a }}}}")), None);
    }
}
