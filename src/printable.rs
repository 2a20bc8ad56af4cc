//! Text for a terminal. Customer data reaches the simulator's table, its
//! timelines and error messages; a control character in it (an escape
//! sequence, a carriage return, a bidirectional override) could recolour,
//! move or hide what a person reads. Such characters are shown escaped.

use std::borrow::Cow;

/// `s` with every control character other than line ends, and every
/// bidirectional control, written as `\u{…}`.
pub fn printable(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hidden) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if hidden(c) {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn hidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::printable;

    #[test]
    fn escapes_are_shown_not_obeyed() {
        assert_eq!(printable("王姐\n"), "王姐\n");
        assert_eq!(printable("\x1b[2Jhi\r"), "\\u{1b}[2Jhi\\u{d}");
        assert_eq!(printable("a\u{202E}b"), "a\\u{202e}b");
    }
}
