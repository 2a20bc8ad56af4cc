//! The diagnostic model: the source of truth that every output format renders.

use crate::source::FileId;
use crate::syntax::ast::Span;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One lint finding: a rule, where it points, what is wrong and what to do.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: FileId,
    pub span: Span,
    pub message: String,
    pub help: String,
    /// Secondary places worth showing, such as the declaration a use refers to.
    pub labels: Vec<(FileId, Span, String)>,
}

impl Finding {
    /// A finding with the rule's default severity and help text.
    pub fn new(
        rule: &'static crate::check::rules::Rule,
        file: FileId,
        span: Span,
        message: impl Into<String>,
    ) -> Self {
        Finding {
            rule: rule.name,
            severity: rule.severity,
            file,
            span,
            message: message.into(),
            help: rule.help.to_string(),
            labels: Vec::new(),
        }
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        self.help = help.into();
        self
    }

    pub fn label(mut self, file: FileId, span: Span, text: impl Into<String>) -> Self {
        self.labels.push((file, span, text.into()));
        self
    }
}
