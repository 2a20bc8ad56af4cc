//! miette's graphical report, for people at a terminal.

use super::snippet::{Lines, Snippet};
use super::Summary;
use crate::diag::{Finding, Severity};
use crate::source::{SourceFile, Sources};
use miette::{Diagnostic, GraphicalReportHandler, GraphicalTheme, LabeledSpan, SourceSpan};
use std::collections::HashMap;
use std::fmt;

struct Shown<'a> {
    message: &'a str,
    code: &'a str,
    severity: miette::Severity,
    help: &'a str,
    src: Snippet<'a>,
    labels: Vec<LabeledSpan>,
}

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl fmt::Display for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message)
    }
}

impl std::error::Error for Shown<'_> {}

impl Diagnostic for Shown<'_> {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }
    fn severity(&self) -> Option<miette::Severity> {
        Some(self.severity)
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.help))
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

/// What rendering needs of a file, found once however many findings it has.
struct FileView {
    lines: Lines,
    path: String,
}

/// Findings rendered per thread, at least: below this, one thread does it all.
const PER_THREAD: usize = 2_000;

pub fn render(findings: &[(&Sources, &Finding)], sum: &Summary, color: bool) -> String {
    // Files are keyed by address: findings of several projects share no ids.
    let key = |file: &SourceFile| file as *const SourceFile as usize;
    let mut views: HashMap<usize, FileView> = HashMap::new();
    for (sources, f) in findings {
        let file = sources.get(f.file);
        views.entry(key(file)).or_insert_with(|| FileView {
            lines: Lines::new(&file.text),
            path: file.display_path(),
        });
    }
    let render_all = |chunk: &[(&Sources, &Finding)]| {
        let theme = if color {
            GraphicalTheme::unicode()
        } else {
            GraphicalTheme::unicode_nocolor()
        };
        let handler = GraphicalReportHandler::new_themed(theme).with_width(100);
        let mut out = String::new();
        for (sources, f) in chunk {
            let file = sources.get(f.file);
            render_one(&handler, f, file, &views[&key(file)], &mut out);
        }
        out
    };
    // Findings are independent: many of them are rendered on all cores, in order.
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(findings.len() / PER_THREAD)
        .max(1);
    let mut out = if threads == 1 {
        render_all(findings)
    } else {
        let chunk = findings.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let parts: Vec<_> = findings
                .chunks(chunk)
                .map(|c| scope.spawn(move || render_all(c)))
                .collect();
            parts
                .into_iter()
                .map(|p| p.join().expect("a rendering thread panicked"))
                .collect::<String>()
        })
    };
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

fn render_one(
    handler: &GraphicalReportHandler,
    f: &Finding,
    file: &SourceFile,
    view: &FileView,
    out: &mut String,
) {
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
        message: &f.message,
        code: f.rule,
        severity: if f.severity == Severity::Error {
            miette::Severity::Error
        } else {
            miette::Severity::Warning
        },
        help: &f.help,
        src: Snippet {
            name: view.path.clone(),
            text: &file.text,
            lines: &view.lines,
        },
        labels,
    };
    let mut one = String::new();
    let _ = handler.render_report(&mut one, &shown);
    char_column_header(&mut one, file, &view.path, f.span.start);
    out.push_str(&one);
    out.push('\n');
}

/// miette's header counts the column in bytes; show characters, as every other format does.
fn char_column_header(rendered: &mut String, file: &SourceFile, path: &str, offset: usize) {
    let (line, col) = file.line_col(offset);
    let start = file.line_start(line).unwrap_or(0);
    let byte_col = file.floor_boundary(offset).saturating_sub(start) + 1;
    if byte_col != col {
        *rendered = rendered.replacen(
            &format!("{path}:{line}:{byte_col}]"),
            &format!("{path}:{line}:{col}]"),
            1,
        );
    }
}
