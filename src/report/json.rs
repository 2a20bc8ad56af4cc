use super::{locate, Summary};
use crate::diag::Finding;
use crate::source::Sources;
use serde_json::json;

pub fn render(findings: &[(&Sources, &Finding)], sum: &Summary) -> String {
    let items: Vec<_> = findings
        .iter()
        .map(|(s, f)| {
            let l = locate(s, f);
            json!({
                "rule": f.rule,
                "severity": f.severity.name(),
                "file": l.file,
                "line": l.line,
                "column": l.column,
                "end_line": l.end_line,
                "end_column": l.end_column,
                "message": f.message,
                "help": f.help,
            })
        })
        .collect();
    let doc = json!({
        "findings": items,
        "summary": { "errors": sum.errors, "warnings": sum.warnings, "files": sum.files },
    });
    serde_json::to_string_pretty(&doc).expect("JSON of strings and numbers") + "\n"
}
