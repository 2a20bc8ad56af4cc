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
                "name": r.name,
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
                        "artifactLocation": { "uri": l.file },
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
