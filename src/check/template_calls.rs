//! The filters, tests and functions a template calls, each checked at lint
//! time: minijinja resolves them only when a text is rendered, so without
//! this `{{ customer.name | upcase }}` would lint clean and every send of it
//! would be skipped with a `render-error`. A call to `date` is checked
//! further: one format, given or named, that is a valid strftime format.

use std::collections::HashMap;

/// What a name in a tag is called as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Called {
    Filter,
    Test,
    Function,
}

impl Called {
    pub fn word(self) -> &'static str {
        match self {
            Called::Filter => "filter",
            Called::Test => "test",
            Called::Function => "function",
        }
    }
}

/// One call: its kind, its name, the byte offset of the name in the text,
/// and the text of its arguments (between the parentheses) when it has any.
#[derive(Debug, Clone, PartialEq)]
pub struct Call {
    pub called: Called,
    pub name: String,
    pub at: usize,
    pub args: Option<String>,
}

/// Words of the template language that are never a call's name.
const KEYWORDS: [&str; 28] = [
    "if",
    "elif",
    "else",
    "endif",
    "for",
    "endfor",
    "in",
    "and",
    "or",
    "not",
    "is",
    "set",
    "endset",
    "macro",
    "endmacro",
    "call",
    "endcall",
    "filter",
    "endfilter",
    "with",
    "endwith",
    "block",
    "endblock",
    "true",
    "false",
    "none",
    "recursive",
    "loop",
];

/// Every filter, test and function call in `text`'s tags, in order.
pub fn calls(text: &str) -> Vec<Call> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut macros: Vec<String> = Vec::new();
    let mut i = 0;
    while i + 1 < b.len() {
        if b[i] != b'{' || !matches!(b[i + 1], b'{' | b'%' | b'#') {
            i += 1;
            continue;
        }
        let close: &[u8] = match b[i + 1] {
            b'{' => b"}}",
            b'%' => b"%}",
            _ => {
                i = find(b, i + 2, b"#}").map_or(b.len(), |e| e + 2);
                continue;
            }
        };
        let start = i + 2;
        let end = tag_end(b, start, close);
        let code = &text[start..end.min(text.len())];
        if close == b"%}" && code.trim().trim_matches('-').trim() == "raw" {
            i = find(b, end, b"endraw").map_or(b.len(), |e| e + 6);
            continue;
        }
        scan(code, start, &mut macros, &mut out);
        i = (end + close.len()).min(b.len());
    }
    // A macro defined later in the text is still the template's own.
    out.retain(|c| !(c.called == Called::Function && macros.contains(&c.name)));
    out
}

/// Where a tag's code ends (the offset of its closing delimiter), skipping strings.
fn tag_end(b: &[u8], mut i: usize, close: &[u8]) -> usize {
    while i < b.len() {
        if b[i..].starts_with(close) {
            return i;
        }
        if let q @ (b'"' | b'\'') = b[i] {
            i = skip_string(b, i, q);
        } else {
            i += 1;
        }
    }
    b.len()
}

fn skip_string(b: &[u8], mut i: usize, q: u8) -> usize {
    i += 1;
    while i < b.len() && b[i] != q {
        i += if b[i] == b'\\' { 2 } else { 1 };
    }
    (i + 1).min(b.len())
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..b.len()).find(|&k| b[k..].starts_with(needle))
}

/// The calls in one tag's code; `base` is the code's offset in the text.
fn scan(code: &str, base: usize, macros: &mut Vec<String>, out: &mut Vec<Call>) {
    let b = code.as_bytes();
    // The token before the current one: `|`, `.`, a word, or another symbol.
    let mut prev: &str = "";
    let mut before_prev: &str = "";
    let mut first_word = true;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() || c == b'-' && (i == 0 || i + 1 == b.len()) {
            i += 1;
            continue;
        }
        if c == b'"' || c == b'\'' {
            i = skip_string(b, i, c);
            (before_prev, prev) = (prev, "\"");
            first_word = false;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let s = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let word = &code[s..i];
            let mut j = i;
            while j < b.len() && b[j].is_ascii_whitespace() {
                j += 1;
            }
            let paren = b.get(j) == Some(&b'(');
            let args = paren.then(|| arguments(code, j));
            // After `|`, or as the name in `{% filter NAME %}`.
            let called = if prev == "|" || prev == "filter:" {
                Some(Called::Filter)
            } else if prev == "is" || (prev == "not" && before_prev == "is") {
                (word != "not").then_some(Called::Test)
            } else if paren
                && prev != "."
                && prev != "macro"
                && !KEYWORDS.contains(&word)
                && !["caller", "super"].contains(&word)
            {
                Some(Called::Function)
            } else {
                None
            };
            if prev == "macro" {
                macros.push(word.to_string());
            }
            if let Some(called) = called {
                out.push(Call {
                    called,
                    name: word.to_string(),
                    at: base + s,
                    args,
                });
            }
            (before_prev, prev) = (
                prev,
                if first_word && word == "filter" {
                    "filter:"
                } else {
                    word
                },
            );
            first_word = false;
            continue;
        }
        let sym = &code[i..i + 1];
        (before_prev, prev) = (prev, sym);
        first_word = false;
        i += 1;
    }
}

/// The text between the parenthesis at `open` and its match.
fn arguments(code: &str, open: usize) -> String {
    let b = code.as_bytes();
    let mut depth = 0;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            q @ (b'"' | b'\'') => {
                i = skip_string(b, i, q);
                continue;
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return code[open + 1..i].to_string();
                }
            }
            _ => {}
        }
        i += 1;
    }
    code[open + 1..].to_string()
}

/// Names a user may reach for, checked against the environment: the ones
/// it has are offered as suggestions.
const FILTERS: [&str; 48] = [
    "abs",
    "attr",
    "batch",
    "bool",
    "capitalize",
    "count",
    "d",
    "date",
    "default",
    "dictsort",
    "e",
    "escape",
    "first",
    "float",
    "format",
    "groupby",
    "indent",
    "int",
    "items",
    "join",
    "last",
    "length",
    "lines",
    "list",
    "lower",
    "map",
    "max",
    "min",
    "pprint",
    "reject",
    "rejectattr",
    "replace",
    "reverse",
    "round",
    "safe",
    "select",
    "selectattr",
    "slice",
    "sort",
    "split",
    "string",
    "sum",
    "title",
    "tojson",
    "trim",
    "unique",
    "upper",
    "urlencode",
];
const TESTS: [&str; 24] = [
    "boolean",
    "defined",
    "divisibleby",
    "endingwith",
    "eq",
    "even",
    "false",
    "filter",
    "float",
    "ge",
    "gt",
    "in",
    "integer",
    "iterable",
    "le",
    "lt",
    "mapping",
    "ne",
    "none",
    "number",
    "odd",
    "sequence",
    "startingwith",
    "string",
];
const FUNCTIONS: [&str; 3] = ["range", "dict", "namespace"];

/// What other template languages call a filter tend has under another name.
const ALIASES: [(&str, &str); 12] = [
    ("upcase", "upper"),
    ("uppercase", "upper"),
    ("downcase", "lower"),
    ("lowercase", "lower"),
    ("strip", "trim"),
    ("size", "length"),
    ("len", "length"),
    ("strftime", "date"),
    ("date_format", "date"),
    ("format_date", "date"),
    ("datetime", "date"),
    ("capitalise", "capitalize"),
];

/// What the environment was found to know, by call and name.
type Probed = std::cell::RefCell<HashMap<(Called, String), bool>>;

thread_local! {
    /// The renderer's own environment, and what it was found to know.
    static KNOWN: (minijinja::Environment<'static>, Probed) =
        (crate::engine::text::environment(), Default::default());
}

/// Whether the renderer's environment has this filter, test or function
/// (asked once per name: a probe render says whether it is unknown).
pub fn known(called: Called, name: &str) -> bool {
    KNOWN.with(|(env, seen)| {
        if let Some(&k) = seen.borrow().get(&(called, name.to_string())) {
            return k;
        }
        let probe = match called {
            Called::Filter => format!("{{{{ '' | {name} }}}}"),
            Called::Test => format!("{{{{ '' is {name} }}}}"),
            Called::Function => format!("{{{{ {name}() }}}}"),
        };
        let unknown = match called {
            Called::Filter => minijinja::ErrorKind::UnknownFilter,
            Called::Test => minijinja::ErrorKind::UnknownTest,
            Called::Function => minijinja::ErrorKind::UnknownFunction,
        };
        let k = !matches!(env.render_str(&probe, ()), Err(e) if e.kind() == unknown);
        seen.borrow_mut().insert((called, name.to_string()), k);
        k
    })
}

fn pool(called: Called) -> &'static [&'static str] {
    match called {
        Called::Filter => &FILTERS,
        Called::Test => &TESTS,
        Called::Function => &FUNCTIONS,
    }
}

/// The name meant, if one is near: a known alias, else the closest spelling.
pub fn nearest(called: Called, name: &str) -> Option<&'static str> {
    if called == Called::Filter {
        if let Some((_, to)) = ALIASES.iter().find(|(from, _)| *from == name) {
            return Some(to);
        }
    }
    let mut best: Option<(usize, &'static str)> = None;
    for &candidate in pool(called) {
        if !known(called, candidate) {
            continue;
        }
        let d = strsim::levenshtein(candidate, name);
        if d <= 2.max(name.len() / 3) && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, candidate));
        }
    }
    best.map(|(_, n)| n)
}

/// Every known name of this kind, for the help text.
pub fn names(called: Called) -> Vec<&'static str> {
    pool(called)
        .iter()
        .copied()
        .filter(|n| known(called, n))
        .collect()
}

/// What is wrong with a `date(…)` call's arguments, when they are literals.
pub fn date_arguments(args: Option<&str>) -> Option<String> {
    let Some(args) = args.map(str::trim) else {
        return Some("date needs a format, such as date('%m月%d日')".into());
    };
    if args.is_empty() {
        return Some("date needs a format, such as date('%m月%d日')".into());
    }
    let value = args
        .strip_prefix("format")
        .map(|rest| rest.trim_start())
        .and_then(|rest| rest.strip_prefix('='))
        .map(str::trim)
        .unwrap_or(args);
    let quoted = |q: char| {
        value
            .strip_prefix(q)
            .and_then(|v| v.strip_suffix(q))
            .filter(|v| !v.contains(q))
    };
    // A format read from a variable is checked when the text is rendered.
    let fmt = quoted('\'').or_else(|| quoted('"'))?;
    crate::engine::text::date_format(fmt).err()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<(Called, String)> {
        calls(text)
            .into_iter()
            .map(|c| (c.called, c.name))
            .collect()
    }

    #[test]
    fn finds_filters_tests_and_functions_but_not_attributes_or_strings() {
        assert_eq!(
            names("{{ customer.name | upcase }} {% if x is odd and y is not defined %}{{ range(3) | join(',') }}{% endif %} {{ '| upper' }} {{ loop.cycle('a') }}"),
            [
                (Called::Filter, "upcase".into()),
                (Called::Test, "odd".into()),
                (Called::Test, "defined".into()),
                (Called::Function, "range".into()),
                (Called::Filter, "join".into()),
            ]
        );
        assert_eq!(
            names("{% filter upper %}x{% endfilter %}{% macro m(a) %}{{ a }}{% endmacro %}{{ m(1) }}{# {{ x | nope }} #}"),
            [(Called::Filter, "upper".into())]
        );
    }

    #[test]
    fn date_arguments_are_one_valid_format() {
        assert_eq!(date_arguments(Some("'%m月%d日'")), None);
        assert_eq!(date_arguments(Some("format=\"%Y/%m/%d\"")), None);
        assert_eq!(date_arguments(Some("fmt")), None);
        assert!(date_arguments(None).is_some());
        assert!(date_arguments(Some("'%Q'")).is_some());
        assert!(date_arguments(Some("'%H:%M %Z'")).is_some());
    }
}
