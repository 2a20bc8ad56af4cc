//! SARIF 2.1.0, for code-scanning dashboards.

use super::locate;
use crate::check::rules::ALL;
use crate::diag::{Finding, Severity};
use crate::source::Sources;
use serde_json::json;

pub fn render(findings: &[(&Sources, &Finding)]) -> String {
    let rules: Vec<_> = ALL
        .iter()
        .map(|r| {
            json!({
                "id": r.name,
                "name": pascal(r.name),
                "shortDescription": { "text": r.summary },
                "help": { "text": r.help, "markdown": r.docs },
                "helpUri": format!("https://github.com/tend-dev/tend/blob/main/docs/rules/{}.md", r.name),
                "defaultConfiguration": { "level": if r.severity == Severity::Error { "error" } else { "warning" } },
            })
        })
        .collect();
    let results: Vec<_> = findings
        .iter()
        .map(|(s, f)| {
            let l = locate(s, f);
            let index = ALL.iter().position(|r| r.name == f.rule).unwrap_or(0);
            json!({
                "ruleId": f.rule,
                "ruleIndex": index,
                "level": if f.severity == Severity::Error { "error" } else { "warning" },
                "message": { "text": format!("{} (help: {})", f.message, f.help) },
                "locations": [{
                    "physicalLocation": {
                        "artifactLocation": { "uri": uri(&l.file) },
                        "region": {
                            "startLine": l.line,
                            "startColumn": l.column,
                            "endLine": l.end_line,
                            "endColumn": l.end_column,
                        }
                    }
                }]
            })
        })
        .collect();
    let doc = json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [{
            "tool": { "driver": {
                "name": "tend",
                "version": env!("CARGO_PKG_VERSION"),
                "informationUri": "https://github.com/tend-dev/tend",
                "rules": rules,
            }},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }]
    });
    serde_json::to_string_pretty(&doc).expect("JSON of strings and numbers") + "\n"
}

/// A rule's name as SARIF wants it, distinct from its id: `unknown-template`
/// → `UnknownTemplate`.
fn pascal(id: &str) -> String {
    id.split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

/// A path as a URI: relative paths stay relative references, absolute ones
/// become `file://` URIs; separators are `/` and every other byte outside
/// the URI's unreserved set is percent-encoded (spaces, Chinese names).
pub fn uri(path: &str) -> String {
    let slashed = path.replace('\\', "/");
    let drive = slashed.len() >= 2
        && slashed.as_bytes()[1] == b':'
        && slashed.as_bytes()[0].is_ascii_alphabetic();
    let mut out = String::with_capacity(slashed.len() + 8);
    if drive {
        out.push_str("file:///");
    } else if slashed.starts_with('/') {
        out.push_str("file://");
    }
    for (i, b) in slashed.bytes().enumerate() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/')
            || (drive && i == 1 && b == b':');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_valid_uris() {
        assert_eq!(
            uri("playbooks/welcome.playbook"),
            "playbooks/welcome.playbook"
        );
        assert_eq!(
            uri("/home/me/shop/a b.playbook"),
            "file:///home/me/shop/a%20b.playbook"
        );
        assert_eq!(
            uri("C:\\shop\\欢迎.playbook"),
            "file:///C:/shop/%E6%AC%A2%E8%BF%8E.playbook"
        );
        assert_eq!(pascal("unknown-template"), "UnknownTemplate");
    }
}
