//! miette's graphical report, for people at a terminal.

use super::snippet::{Lines, Snippet};
use super::Summary;
use crate::diag::{Finding, Severity};
use crate::source::{SourceFile, Sources};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use std::collections::HashMap;
use std::fmt;

struct Shown<'a> {
    message: String,
    code: String,
    severity: miette::Severity,
    help: String,
    src: Snippet<'a>,
    labels: Vec<LabeledSpan>,
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Shown<'_> {}

impl Diagnostic for Shown<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(&self.help))
    }
    fn source_code(&self) -> Option<&dyn miette::SourceCode> {
        Some(&self.src)
    }
    fn labels(&self) -> Option<Box<dyn Iterator<Item = LabeledSpan> + '_>> {
        Some(Box::new(self.labels.iter().cloned()))
    }
}

/// The longest span underlined: a finding on a huge token marks its start.
const MAX_SHOWN_SPAN: usize = 1000;

/// A byte span widened to whole characters, at least one character long where the text allows.
fn char_span(text: &str, start: usize, end: usize) -> SourceSpan {
    let mut s = start.min(text.len());
    while !text.is_char_boundary(s) {
        s -= 1;
    }
    let mut e = end.clamp(s, text.len()).min(s + MAX_SHOWN_SPAN);
    while !text.is_char_boundary(e) {
        e += 1;
    }
    if e == s {
        if let Some(c) = text[s..].chars().next() {
            if c != '\n' {
                e = s + c.len_utf8();
            }
        }
    }
    SourceSpan::new(s.into(), e - s)
}

pub fn render(findings: &[(&Sources, &Finding)], sum: &Summary, color: bool) -> String {
    let theme = if color {
        GraphicalTheme::unicode()
    } else {
        GraphicalTheme::unicode_nocolor()
    };
    let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
    let mut out = String::new();
    // Each file's line starts, found once however many findings it has.
    let mut lines: HashMap<*const SourceFile, Lines> = HashMap::new();
    for (sources, f) in findings {
        let file = sources.get(f.file);
        let file_lines = lines
            .entry(file as *const SourceFile)
            .or_insert_with(|| Lines::new(&file.text));
        let mut labels = vec![LabeledSpan::new_primary_with_span(
            None,
            char_span(&file.text, f.span.start, f.span.end),
        )];
        for (lf, span, text) in &f.labels {
            if *lf == f.file {
                labels.push(LabeledSpan::new_with_span(
                    Some(text.clone()),
                    char_span(&file.text, span.start, span.end),
                ));
            }
        }
        let shown = Shown {
            message: f.message.clone(),
            code: f.rule.to_string(),
            severity: if f.severity == Severity::Error {
                miette::Severity::Error
            } else {
                miette::Severity::Warning
            },
            help: f.help.clone(),
            src: Snippet {
                name: file.display_path(),
                text: &file.text,
                lines: file_lines,
            },
            labels,
        };
        let mut one = String::new();
        let _ = handler.render_report(&mut one, &shown);
        out.push_str(&char_column_header(&one, file, f.span.start));
        out.push('\n');
    }
    let plural = |n: usize, w: &str| format!("{n} {w}{}", if n == 1 { "" } else { "s" });
    if findings.is_empty() {
        out.push_str(&format!(
            "✓ {} checked, no findings\n",
            plural(sum.files, "file")
        ));
    } else {
        out.push_str(&format!(
            "{}, {} in {} checked\n",
            plural(sum.errors, "error"),
            plural(sum.warnings, "warning"),
            plural(sum.files, "file")
        ));
    }
    out
}

/// miette's header counts the column in bytes; show characters, as every other format does.
fn char_column_header(rendered: &str, file: &crate::source::SourceFile, offset: usize) -> String {
    let (line, col) = file.line_col(offset);
    let start = file.line_start(line).unwrap_or(0);
    let byte_col = file.floor_boundary(offset).saturating_sub(start) + 1;
    let path = file.display_path();
    rendered.replacen(
        &format!("{path}:{line}:{byte_col}]"),
        &format!("{path}:{line}:{col}]"),
        1,
    )
}
