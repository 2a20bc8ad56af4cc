//! Templates: compiled with minijinja to find syntax errors and the variables
//! each wording reads, which the flow checker then types per send site.

use super::rules;
use crate::diag::Finding;
use crate::source::{FileId, Sources};
use crate::syntax::ast::{self, Span};
use std::collections::BTreeMap;

pub use crate::program::Kind;

/// One wording of a template (`text` or a variant) and what it reads.
#[derive(Debug, Clone)]
pub struct Wording {
    /// `None` for `text`.
    pub variant: Option<String>,
    pub source: String,
    pub span: Span,
    /// Dotted variable paths the wording reads, with where each first appears.
    pub variables: Vec<(String, Span)>,
}

#[derive(Debug, Clone)]
pub struct CheckedTemplate {
    pub file: FileId,
    pub name: String,
    pub name_span: Span,
    pub kind: Kind,
    pub wordings: Vec<Wording>,
}

impl CheckedTemplate {
    pub fn has_variants(&self) -> bool {
        self.wordings.iter().any(|w| w.variant.is_some())
    }
    pub fn variables(&self) -> impl Iterator<Item = &(String, Span)> {
        self.wordings.iter().flat_map(|w| w.variables.iter())
    }
}

/// The environment every template is compiled and rendered in: the
/// renderer's own, so the checker and the engine agree on what exists.
pub fn environment() -> minijinja::Environment<'static> {
    crate::engine::text::environment()
}

pub fn compile_all(
    sources: &Sources,
    defs: &[(FileId, &ast::Template)],
    out: &mut Vec<Finding>,
) -> BTreeMap<String, CheckedTemplate> {
    let env = environment();
    let mut result = BTreeMap::new();
    for (file, t) in defs {
        let kind = match &t.kind {
            None => Kind::Service,
            Some(k) => match Kind::parse(&k.name) {
                Some(kind) => kind,
                None => {
                    out.push(
                        Finding::new(
                            &rules::SYNTAX,
                            *file,
                            k.span,
                            format!("`{}` is not a template kind", k.name),
                        )
                        .help("kinds are service, care, content and promo"),
                    );
                    Kind::Service
                }
            },
        };
        let mut wordings = Vec::new();
        let mut names: BTreeMap<&str, Span> = BTreeMap::new();
        if t.text.is_none() && t.variants.is_empty() {
            out.push(
                Finding::new(
                    &rules::SYNTAX,
                    *file,
                    t.name.span,
                    format!("template `{}` has no text", t.name.name),
                )
                .help("give the message with `text \"\"\"…\"\"\"`"),
            );
        }
        for (name, body) in &t.variants {
            if name.name == "text" {
                out.push(
                    Finding::new(
                        &rules::DUPLICATE_NAME,
                        *file,
                        name.span,
                        "a variant cannot be called `text`",
                    )
                    .help("`text` names the main wording; give the variant another name"),
                );
                continue;
            }
            if let Some(first) = names.insert(&name.name, name.span) {
                out.push(
                    Finding::new(
                        &rules::DUPLICATE_NAME,
                        *file,
                        name.span,
                        format!("the variant `{}` is declared twice", name.name),
                    )
                    .help("give each variant of a template its own name")
                    .label(*file, first, "first declared here"),
                );
                continue;
            }
            let _ = body;
        }
        let src = &sources.get(*file).text;
        let all = t
            .text
            .iter()
            .map(|s| (None, s))
            .chain(t.variants.iter().map(|(n, s)| (Some(n.name.clone()), s)));
        for (variant, body) in all {
            if let Some(w) = compile(&env, *file, src, variant, body, out) {
                wordings.push(w);
            }
        }
        result.insert(
            t.name.name.clone(),
            CheckedTemplate {
                file: *file,
                name: t.name.name.clone(),
                name_span: t.name.span,
                kind,
                wordings,
            },
        );
    }
    result
}

/// Compiles one wording; an inline string in a `send` or `task` goes through here too.
pub fn compile(
    env: &minijinja::Environment,
    file: FileId,
    src: &str,
    variant: Option<String>,
    body: &ast::Str,
    out: &mut Vec<Finding>,
) -> Option<Wording> {
    let text = &body.value;
    if let Some(off) = super::template_depth::too_deep(text) {
        let line = text[..off].matches('\n').count() + 1;
        let line_span = template_line_span(src, body.span, Some(line));
        let mut head = (off + 40).min(text.len());
        while !text.is_char_boundary(head) {
            head -= 1;
        }
        let span = locate(src, line_span, &text[off..head])
            .map(|s| Span::new(s.start, s.start + 2))
            .unwrap_or(line_span);
        out.push(
            Finding::new(
                &rules::SYNTAX,
                file,
                span,
                format!(
                    "a tag of this template chains more than {} operators, filters or attribute reads; this is too deeply nested to read",
                    super::template_depth::MAX_TAG_OPERATORS
                ),
            )
            .help("split it: compute parts in tags of their own (`{% set part = … %}`), or pass them with `with { … }`"),
        );
        return None;
    }
    if let Some((off, what)) = forbidden_tag(text) {
        let span = locate(src, body.span, &text[off..off + what.len()]).unwrap_or(body.span);
        out.push(
            Finding::new(&rules::SYNTAX, file, span, format!("`{what}` is not allowed in a template"))
                .help("templates are self-contained: no include, extends, import or from; put shared wording in its own template"),
        );
        return None;
    }
    if let Some(sub) = dynamic_subscript(text) {
        let span = locate(src, body.span, &sub).unwrap_or(body.span);
        out.push(
            Finding::new(&rules::SYNTAX, file, span, format!("`{sub}` reads a field chosen at run time"))
                .help("use a fixed field, such as `customer.pet.name` or `customer[\"name\"]`, so the checker can verify it"),
        );
        return None;
    }
    match env.template_from_str(text) {
        Ok(tmpl) => {
            let bad = unknown_calls(file, src, body.span, text);
            if !bad.is_empty() {
                out.extend(bad);
                return None;
            }
            // The environment's functions (`range`) read as undeclared names.
            let mut vars: Vec<String> = tmpl
                .undeclared_variables(true)
                .into_iter()
                .filter(|v| {
                    v.contains('.')
                        || !super::template_calls::known(super::template_calls::Called::Function, v)
                })
                .collect();
            vars.sort();
            let variables = vars.into_iter().map(|v| {
                let sp = locate(src, body.span, &v).unwrap_or(body.span);
                (v, sp)
            });
            Some(Wording {
                variant,
                source: text.clone(),
                span: body.span,
                variables: variables.collect(),
            })
        }
        Err(e) => {
            let span = template_line_span(src, body.span, e.line());
            let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
            out.push(
                Finding::new(
                    &rules::SYNTAX,
                    file,
                    span,
                    format!("this template cannot be read ({}{detail})", e.kind()),
                )
                .help(
                    "templates use Jinja syntax: `{{ customer.name }}`, `{% if … %}…{% endif %}`",
                ),
            );
            None
        }
    }
}

/// Each filter, test or function the text calls that the renderer does not
/// have, and each `date(…)` whose format cannot work: a finding at the name,
/// with the nearest name or the form to write.
fn unknown_calls(file: FileId, src: &str, lit: Span, text: &str) -> Vec<Finding> {
    use super::template_calls::{self as calls, Called};
    let mut out = Vec::new();
    for call in calls::calls(text) {
        let span = locate_from(src, lit, text, call.at, call.name.len());
        if !calls::known(call.called, &call.name) {
            let help = match calls::nearest(call.called, &call.name) {
                Some(n) => format!("did you mean `{n}`?"),
                None => format!(
                    "the {}s a template can use: {}",
                    call.called.word(),
                    calls::names(call.called).join(", ")
                ),
            };
            let kind = call.called.word();
            out.push(
                Finding::new(
                    &rules::SYNTAX,
                    file,
                    span,
                    format!("there is no {kind} `{}`", call.name),
                )
                .help(help),
            );
        } else if call.called == Called::Filter && call.name == "date" {
            if let Some(why) = calls::date_arguments(call.args.as_deref()) {
                out.push(
                    Finding::new(&rules::SYNTAX, file, span, format!("this `date` cannot format: {why}"))
                        .help("write date('%m月%d日') or date(format='%Y-%m-%d %H:%M'): strftime's codes, in the enrollment's zone"),
                );
            }
        }
    }
    out
}

/// The span in the source of `len` bytes at offset `at` of a literal's text
/// (found by its text, as escapes make offsets differ): the name itself when
/// it can be found, else the literal.
fn locate_from(src: &str, lit: Span, text: &str, at: usize, len: usize) -> Span {
    // The tag around the name, and which of its like it is: the same tag
    // written twice maps to its own place.
    let tag_start = text[..at].rfind('{').unwrap_or(0);
    let needle = &text[tag_start..(at + len).min(text.len())];
    let nth = text[..tag_start].matches(needle).count();
    let Some(hay) = src.get(lit.start..lit.end) else {
        return lit;
    };
    match hay.match_indices(needle).nth(nth) {
        Some((i, _)) => {
            let end = lit.start + i + needle.len();
            Span::new(end - len, end)
        }
        None => locate(src, lit, &text[at..at + len]).unwrap_or(lit),
    }
}

/// The span of the first occurrence of `needle` inside a string literal's source.
fn locate(src: &str, within: Span, needle: &str) -> Option<Span> {
    let hay = src.get(within.start..within.end)?;
    let at = hay.find(needle)?;
    Some(Span::new(
        within.start + at,
        within.start + at + needle.len(),
    ))
}

/// The source line of line `line` (1-based) of a template's text.
fn template_line_span(src: &str, lit: Span, line: Option<usize>) -> Span {
    let Some(line) = line else { return lit };
    let raw = &src[lit.start..lit.end];
    let skip_first = usize::from(raw.starts_with("\"\"\"\n") || raw.starts_with("\"\"\"\r\n"));
    let mut start = lit.start;
    for _ in 0..(line - 1 + skip_first) {
        match src[start..lit.end].find('\n') {
            Some(i) => start += i + 1,
            None => return lit,
        }
    }
    let end = src[start..lit.end]
        .find('\n')
        .map(|i| start + i)
        .unwrap_or(lit.end);
    let text = &src[start..end];
    let lead = text.len() - text.trim_start().len();
    Span::new(start + lead, end.max(start + lead))
}

fn forbidden_tag(text: &str) -> Option<(usize, &'static str)> {
    let mut from = 0;
    while let Some(i) = text[from..].find("{%") {
        let at = from + i;
        let rest = text[at + 2..].trim_start_matches('-').trim_start();
        for kw in ["include", "extends", "import", "from"] {
            if rest.starts_with(kw)
                && !rest[kw.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
            {
                let off = text.len() - rest.len();
                return Some((off, kw));
            }
        }
        from = at + 2;
    }
    None
}

/// A subscript whose key is not a literal, such as `customer[key]`.
fn dynamic_subscript(text: &str) -> Option<String> {
    let mut from = 0;
    while let Some(i) = text[from..].find(['{']) {
        let at = from + i;
        let close = match &text[at..] {
            s if s.starts_with("{{") => "}}",
            s if s.starts_with("{%") => "%}",
            _ => {
                from = at + 1;
                continue;
            }
        };
        let end = text[at + 2..].find(close)?;
        let code = &text[at + 2..at + 2 + end];
        let bytes = code.as_bytes();
        for (j, c) in code.char_indices() {
            if c != '[' || j == 0 {
                continue;
            }
            let prev = bytes[j - 1] as char;
            if !(prev.is_alphanumeric() || prev == '_' || prev == ']' || prev == ')') {
                continue;
            }
            let inner = code[j + 1..].trim_start();
            if !(inner.starts_with('"')
                || inner.starts_with('\'')
                || inner.starts_with(|c: char| c.is_ascii_digit() || c == '-' || c == ':'))
            {
                let stop = code[j..].find(']').map(|k| j + k + 1).unwrap_or(code.len());
                let start = code[..j]
                    .rfind(|c: char| !(c.is_alphanumeric() || c == '_' || c == '.'))
                    .map(|k| k + 1)
                    .unwrap_or(0);
                return Some(code[start..stop].to_string());
            }
        }
        from = at + 2 + end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_forbidden_tags_and_dynamic_subscripts() {
        assert_eq!(
            forbidden_tag("a {% include 'x' %}").map(|t| t.1),
            Some("include")
        );
        assert_eq!(forbidden_tag("{% if x %}from{% endif %}"), None);
        assert_eq!(
            dynamic_subscript("{{ customer[key] }}"),
            Some("customer[key]".into())
        );
        assert_eq!(
            dynamic_subscript("{{ customer[\"name\"] }} {{ [1,2] }}"),
            None
        );
    }

    #[test]
    fn lists_nested_variables() {
        let env = environment();
        let t = env.template_from_str("{{ customer.name }}{% for x in customer.tags %}{{ x }}{% endfor %}{{ event.order_id }}").unwrap();
        let v = t.undeclared_variables(true);
        assert!(v.contains("customer.name"));
        assert!(v.contains("event.order_id"));
        assert!(!v.contains("x"));
    }
}
