//! `tend lint`: check projects or single files, print the findings.

use super::{emit, Error};
use crate::diag::Severity;
use crate::report::{self, Format};
use std::path::PathBuf;

/// Lints the paths; an error (or a warning with `deny_warnings`) fails the run.
pub fn run(
    paths: &[PathBuf],
    format: Format,
    deny_warnings: bool,
    color: bool,
) -> Result<(), Error> {
    let mut results = Vec::new();
    for t in &crate::project::targets(paths)? {
        results.push(crate::project::lint(t)?);
    }
    let findings: Vec<_> = results
        .iter()
        .flat_map(|r| r.findings.iter().map(move |f| (&r.sources, f)))
        .collect();
    let files = results.iter().map(|r| r.files_checked).sum();
    let text = report::render(format, &findings, files, color && format == Format::Human);
    emit(|out| out.write_all(text.as_bytes()))?;
    let errors = findings.iter().any(|(_, f)| f.severity == Severity::Error);
    let warnings = findings
        .iter()
        .any(|(_, f)| f.severity == Severity::Warning);
    if errors || (deny_warnings && warnings) {
        return Err(Error::Rejected);
    }
    Ok(())
}
