//! GitHub Actions workflow commands: one annotation line per finding.

use super::locate;
use crate::diag::{Finding, Severity};
use crate::source::Sources;

fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

pub fn render(findings: &[(&Sources, &Finding)]) -> String {
    let mut out = String::new();
    for (s, f) in findings {
        let l = locate(s, f);
        let level = if f.severity == Severity::Error {
            "error"
        } else {
            "warning"
        };
        out.push_str(&format!(
            "::{level} file={},line={},col={},endLine={},endColumn={},title={}::{}\n",
            escape_property(&l.file),
            l.line,
            l.column,
            l.end_line,
            l.end_column,
            escape_property(&format!("tend {}", f.rule)),
            escape_data(&format!("{} (help: {})", f.message, f.help)),
        ));
    }
    out
}
