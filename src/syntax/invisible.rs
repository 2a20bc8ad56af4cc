//! Invisible characters outside strings and comments: a zero-width space in
//! a name, or a no-break space between words, looks like nothing in an
//! editor, so the error names the character (`U+200B ZERO WIDTH SPACE`).
//! Inside strings they are text and stay (an emoji sequence needs its
//! zero-width joiners).

use super::ast::Span;
use super::SyntaxError;

/// The invisible or blank-looking characters tend names, with their Unicode names.
const NAMED: &[(char, &str)] = &[
    ('\u{00A0}', "NO-BREAK SPACE"),
    ('\u{00AD}', "SOFT HYPHEN"),
    ('\u{034F}', "COMBINING GRAPHEME JOINER"),
    ('\u{061C}', "ARABIC LETTER MARK"),
    ('\u{115F}', "HANGUL CHOSEONG FILLER"),
    ('\u{1160}', "HANGUL JUNGSEONG FILLER"),
    ('\u{180E}', "MONGOLIAN VOWEL SEPARATOR"),
    ('\u{2000}', "EN QUAD"),
    ('\u{2001}', "EM QUAD"),
    ('\u{2002}', "EN SPACE"),
    ('\u{2003}', "EM SPACE"),
    ('\u{2004}', "THREE-PER-EM SPACE"),
    ('\u{2005}', "FOUR-PER-EM SPACE"),
    ('\u{2006}', "SIX-PER-EM SPACE"),
    ('\u{2007}', "FIGURE SPACE"),
    ('\u{2008}', "PUNCTUATION SPACE"),
    ('\u{2009}', "THIN SPACE"),
    ('\u{200A}', "HAIR SPACE"),
    ('\u{200B}', "ZERO WIDTH SPACE"),
    ('\u{200C}', "ZERO WIDTH NON-JOINER"),
    ('\u{200D}', "ZERO WIDTH JOINER"),
    ('\u{200E}', "LEFT-TO-RIGHT MARK"),
    ('\u{200F}', "RIGHT-TO-LEFT MARK"),
    ('\u{2028}', "LINE SEPARATOR"),
    ('\u{2029}', "PARAGRAPH SEPARATOR"),
    ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING"),
    ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING"),
    ('\u{202C}', "POP DIRECTIONAL FORMATTING"),
    ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE"),
    ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE"),
    ('\u{202F}', "NARROW NO-BREAK SPACE"),
    ('\u{205F}', "MEDIUM MATHEMATICAL SPACE"),
    ('\u{2060}', "WORD JOINER"),
    ('\u{2061}', "FUNCTION APPLICATION"),
    ('\u{2062}', "INVISIBLE TIMES"),
    ('\u{2063}', "INVISIBLE SEPARATOR"),
    ('\u{2064}', "INVISIBLE PLUS"),
    ('\u{2066}', "LEFT-TO-RIGHT ISOLATE"),
    ('\u{2067}', "RIGHT-TO-LEFT ISOLATE"),
    ('\u{2068}', "FIRST STRONG ISOLATE"),
    ('\u{2069}', "POP DIRECTIONAL ISOLATE"),
    ('\u{206A}', "INHIBIT SYMMETRIC SWAPPING"),
    ('\u{206B}', "ACTIVATE SYMMETRIC SWAPPING"),
    ('\u{206C}', "INHIBIT ARABIC FORM SHAPING"),
    ('\u{206D}', "ACTIVATE ARABIC FORM SHAPING"),
    ('\u{206E}', "NATIONAL DIGIT SHAPES"),
    ('\u{206F}', "NOMINAL DIGIT SHAPES"),
    ('\u{3000}', "IDEOGRAPHIC SPACE"),
    ('\u{3164}', "HANGUL FILLER"),
    ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE (a byte-order mark)"),
    ('\u{FFA0}', "HALFWIDTH HANGUL FILLER"),
];

/// `U+200B ZERO WIDTH SPACE` for an invisible character; `None` for any other.
pub fn name(c: char) -> Option<String> {
    let what = match c {
        '\u{FE00}'..='\u{FE0F}' => format!("VARIATION SELECTOR-{}", c as u32 - 0xFE00 + 1),
        '\u{E0000}'..='\u{E007F}' => "TAG CHARACTER".to_string(),
        _ => NAMED.iter().find(|(n, _)| *n == c)?.1.to_string(),
    };
    Some(format!("U+{:04X} {what}", c as u32))
}

/// The first invisible character outside strings and comments, as a syntax error.
pub fn check(text: &str) -> Result<(), SyntaxError> {
    let mut chars = text.char_indices().peekable();
    let mut prev = ' ';
    while let Some((i, c)) = chars.next() {
        match c {
            '#' => {
                // A comment runs to the end of the line.
                while chars.next_if(|&(_, c)| c != '\n').is_some() {}
            }
            '"' => {
                let triple = text[i..].starts_with("\"\"\"");
                if triple {
                    chars.next();
                    chars.next();
                }
                while let Some((j, c)) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '"' if !triple => break,
                        '"' if text[j..].starts_with("\"\"\"") => {
                            chars.next();
                            chars.next();
                            break;
                        }
                        '\n' if !triple => break,
                        _ => {}
                    }
                }
            }
            _ => {
                if let Some(what) = name(c) {
                    return Err(invisible(text, i, c, prev, &what));
                }
            }
        }
        prev = c;
    }
    Ok(())
}

/// Characters that look like a space but are not one.
fn looks_like_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

fn invisible(text: &str, at: usize, c: char, prev: char, what: &str) -> SyntaxError {
    let span = Span::new(at, at + c.len_utf8());
    if looks_like_space(c) {
        return SyntaxError::new(
            span,
            format!("{what} looks like a space but is not one"),
            "replace it with an ordinary space (it often comes along with text copied from a chat or a web page)",
        );
    }
    let is_name = |c: char| unicode_ident::is_xid_continue(c) || c == '_';
    let rest = &text[at + c.len_utf8()..];
    let message = if is_name(prev) || rest.starts_with(is_name) {
        // The name as written, with the character spelled out.
        let start = text[..at]
            .char_indices()
            .rev()
            .take_while(|(_, c)| is_name(*c))
            .last()
            .map_or(at, |(i, _)| i);
        let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
        format!(
            "the name `{}<U+{:04X}>{}` contains {what}, an invisible character",
            &text[start..at],
            c as u32,
            &rest[..end]
        )
    } else {
        format!("{what}, an invisible character, cannot stand here")
    };
    SyntaxError::new(
        span,
        message,
        "delete it (it often comes along with text copied from a chat or a web page)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_character_in_a_name() {
        let e = check("segment a\u{200B}b = true").unwrap_err();
        assert_eq!(
            e.message,
            "the name `a<U+200B>b` contains U+200B ZERO WIDTH SPACE, an invisible character"
        );
        assert_eq!(e.span, Span::new(9, 12));
        let e = check("segment ab\u{200D} = true").unwrap_err();
        assert_eq!(
            e.message,
            "the name `ab<U+200D>` contains U+200D ZERO WIDTH JOINER, an invisible character"
        );
        let e = check("segment a = \u{2060}").unwrap_err();
        assert_eq!(
            e.message,
            "U+2060 WORD JOINER, an invisible character, cannot stand here"
        );
    }

    #[test]
    fn names_spaces_that_are_not_spaces() {
        let e = check("segment\u{00A0}a = true").unwrap_err();
        assert_eq!(
            e.message,
            "U+00A0 NO-BREAK SPACE looks like a space but is not one"
        );
        let e = check("segment a =\u{3000}true").unwrap_err();
        assert_eq!(
            e.message,
            "U+3000 IDEOGRAPHIC SPACE looks like a space but is not one"
        );
    }

    #[test]
    fn strings_and_comments_may_hold_them() {
        let family = "👨\u{200D}👩\u{200D}👧";
        assert!(check(&format!("text \"{family}\" # a\u{200B}b\n")).is_ok());
        assert!(check(&format!("text \"\"\"\n{family}\n\"\"\"\nx")).is_ok());
        assert!(check("x = \"a\\\"\u{200B}\"").is_ok());
        assert!(check("x = \"a\"\u{200B}").is_err());
    }
}
