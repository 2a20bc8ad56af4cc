//! Emitters: one per output format, all rendering the same findings.

mod github;
mod human;
mod json;
mod sarif;
mod snippet;

use crate::diag::{Finding, Severity};
use crate::source::Sources;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Human,
    Json,
    Github,
    Sarif,
}

/// A finding with its place in lines and character columns (1-based, end exclusive).
pub struct Located<'a> {
    pub finding: &'a Finding,
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub end_line: usize,
    pub end_column: usize,
}

pub fn locate<'a>(sources: &Sources, f: &'a Finding) -> Located<'a> {
    let src = sources.get(f.file);
    let (line, column) = src.line_col(f.span.start);
    let (end_line, end_column) = src.line_col(f.span.end.max(f.span.start));
    Located {
        finding: f,
        file: src.display_path(),
        line,
        column,
        end_line,
        end_column,
    }
}

pub struct Summary {
    pub errors: usize,
    pub warnings: usize,
    pub files: usize,
}

pub fn summary(findings: &[(&Sources, &Finding)], files: usize) -> Summary {
    let errors = findings
        .iter()
        .filter(|(_, f)| f.severity == Severity::Error)
        .count();
    Summary {
        errors,
        warnings: findings.len() - errors,
        files,
    }
}

/// Renders findings (each with the sources it points into) in `format`.
pub fn render(
    format: Format,
    findings: &[(&Sources, &Finding)],
    files: usize,
    color: bool,
) -> String {
    let sum = summary(findings, files);
    match format {
        Format::Human => human::render(findings, &sum, color),
        Format::Json => json::render(findings, &sum),
        Format::Github => github::render(findings),
        Format::Sarif => sarif::render(findings),
    }
}
