//! `# tend: allow(RULE, …)` comments, `[lint]` severities, and `unused-allow`.

use super::rules::{self, UNUSED_ALLOW};
use crate::config::{Config, Level};
use crate::diag::{Finding, Severity};
use crate::source::{FileId, SourceFile, Sources};
use crate::syntax::ast::Span;
use std::collections::HashMap;

/// One rule name inside an allow comment, and the line it covers.
#[derive(Debug, Clone)]
struct Allow {
    file: FileId,
    /// 1-based line whose findings it covers.
    covers: usize,
    name: String,
    span: Span,
}

/// Applies allow comments and `[lint]` levels to the findings of `files`.
pub fn apply(
    sources: &Sources,
    playbook_files: &[FileId],
    config: &Config,
    findings: Vec<Finding>,
) -> Vec<Finding> {
    let allows: Vec<Allow> = playbook_files
        .iter()
        .flat_map(|f| scan(*f, sources.get(*f)))
        .collect();
    // The first allow of each (file, line, rule): looked up once per finding,
    // so many findings and many allows do not multiply.
    let mut by_place: HashMap<(FileId, usize, &str), usize> = HashMap::new();
    for (i, a) in allows.iter().enumerate() {
        by_place
            .entry((a.file, a.covers, a.name.as_str()))
            .or_insert(i);
    }
    let mut used = vec![false; allows.len()];
    let mut kept = Vec::new();
    for f in findings {
        let rule = rules::find(f.rule);
        let silenceable = rule.is_some_and(|r| r.severity == Severity::Warning);
        if silenceable {
            let line = sources.get(f.file).line_col(f.span.start).0;
            if let Some(&i) = by_place.get(&(f.file, line, f.rule)) {
                used[i] = true;
                continue;
            }
        }
        kept.push(f);
    }
    // "Did you mean" weighs every rule name: once per misspelling, not per comment.
    let mut near: HashMap<&str, Option<&str>> = HashMap::new();
    for (a, used) in allows.iter().zip(used) {
        if used {
            continue;
        }
        let msg = match rules::find(&a.name) {
            None => format!("`{}` is not a lint rule", a.name),
            Some(r) if r.severity == Severity::Error => {
                format!("`{}` is an error and cannot be silenced", a.name)
            }
            Some(_) => format!("`allow({})` silences nothing here", a.name),
        };
        let help = match rules::find(&a.name) {
            None => match *near
                .entry(&a.name)
                .or_insert_with(|| super::nearest(&a.name, rules::ALL.iter().map(|r| r.name)))
            {
                Some(n) => format!("did you mean `{n}`? `tend explain` lists the rules"),
                None => "`tend explain` lists the rules".into(),
            },
            Some(r) if r.severity == Severity::Error => {
                "errors mean the playbook cannot run as written; fix the cause instead".into()
            }
            Some(_) => {
                "the finding it named is gone (or is on another line); remove the comment".into()
            }
        };
        kept.push(Finding::new(&UNUSED_ALLOW, a.file, a.span, msg).help(help));
    }
    kept.into_iter()
        .filter_map(|mut f| {
            let level = rules::find(f.rule)
                .filter(|r| r.severity == Severity::Warning)
                .and_then(|_| config.lint.get(f.rule));
            match level {
                Some(Level::Off) => None,
                Some(Level::Error) => {
                    f.severity = Severity::Error;
                    Some(f)
                }
                Some(Level::Warning) | None => Some(f),
            }
        })
        .collect()
}

/// Finds allow comments: `#` outside strings, then `tend: allow(a, b)`.
fn scan(file: FileId, src: &SourceFile) -> Vec<Allow> {
    let text = &src.text;
    let mut out = Vec::new();
    let mut pending_own_line: Vec<Allow> = Vec::new();
    let mut i = 0;
    let bytes = text.as_bytes();
    let mut line = 1;
    let mut line_has_code = false;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\n' {
            line += 1;
            line_has_code = false;
            i += 1;
            continue;
        }
        if bytes[i..].starts_with(b"\"\"\"") {
            let end = text[i + 3..]
                .find("\"\"\"")
                .map(|e| i + 3 + e + 3)
                .unwrap_or(bytes.len());
            line += text[i..end].matches('\n').count();
            i = end;
            settle(&mut pending_own_line, &mut out, line);
            line_has_code = true;
            continue;
        }
        if c == b'"' {
            let mut j = i + 1;
            while j < bytes.len() && bytes[j] != b'"' && bytes[j] != b'\n' {
                j += if bytes[j] == b'\\' { 2 } else { 1 };
            }
            i = (j + 1).min(bytes.len());
            settle(&mut pending_own_line, &mut out, line);
            line_has_code = true;
            continue;
        }
        if c == b'#' {
            let end = text[i..].find('\n').map(|e| i + e).unwrap_or(bytes.len());
            for (name, span) in parse_allow(&text[i..end], i) {
                let a = Allow {
                    file,
                    covers: line,
                    name,
                    span,
                };
                if line_has_code {
                    out.push(a);
                } else {
                    pending_own_line.push(a);
                }
            }
            i = end;
            continue;
        }
        if !c.is_ascii_whitespace() {
            settle(&mut pending_own_line, &mut out, line);
            line_has_code = true;
        }
        i += 1;
    }
    // Allows with nothing after them cover nothing.
    out.extend(pending_own_line.into_iter().map(|mut a| {
        a.covers = 0;
        a
    }));
    out
}

/// Own-line allows cover the next line that has code.
fn settle(pending: &mut Vec<Allow>, out: &mut Vec<Allow>, line: usize) {
    if pending.is_empty() {
        return;
    }
    for mut a in pending.drain(..) {
        a.covers = line;
        out.push(a);
    }
}

fn parse_allow(comment: &str, offset: usize) -> Vec<(String, Span)> {
    let body = comment.trim_start_matches('#').trim_start();
    let Some(rest) = body.strip_prefix("tend:") else {
        return Vec::new();
    };
    let rest = rest.trim_start();
    let Some(args) = rest.strip_prefix("allow(") else {
        return Vec::new();
    };
    let Some(close) = args.find(')') else {
        return Vec::new();
    };
    let args_start = offset + (comment.len() - args.len());
    let mut out = Vec::new();
    let mut pos = 0;
    for part in args[..close].split(',') {
        let lead = part.len() - part.trim_start().len();
        let name = part.trim();
        let start = args_start + pos + lead;
        pos += part.len() + 1;
        if !name.is_empty() {
            out.push((name.to_string(), Span::new(start, start + name.len())));
        }
    }
    if out.is_empty() {
        // `allow()` names no rule.
        let start = offset + comment.find("allow").unwrap_or(0);
        out.push((String::new(), Span::new(start, start + 5)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_trailing_and_own_line_allows() {
        let src = SourceFile::new("a.playbook", "x = \"# not a comment\"\n# tend: allow(unpersonalized)\n\n  send a b # tend: allow(cap-exceeded, unused-allow)\n");
        let allows = scan(0, &src);
        let got: Vec<(usize, &str)> = allows.iter().map(|a| (a.covers, a.name.as_str())).collect();
        assert_eq!(
            got,
            vec![
                (4, "unpersonalized"),
                (4, "cap-exceeded"),
                (4, "unused-allow")
            ]
        );
        let a = &allows[1];
        assert_eq!(&src.text[a.span.start..a.span.end], "cap-exceeded");
    }
}
