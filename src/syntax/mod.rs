//! Playbook syntax: the pest grammar, lowering to the AST, syntax errors.

pub mod ast;
mod expected;
mod invisible;
mod limits;
pub(crate) mod literals;
mod lower;
mod parser;
pub mod print;

pub use limits::MAX_OPERATORS;
pub use parser::{Rule, SyntaxParser};

use ast::Span;

/// A syntax error: where the text cannot be read, and why in words a person knows.
#[derive(Debug, Clone, PartialEq)]
pub struct SyntaxError {
    pub span: Span,
    pub message: String,
    pub help: String,
}

impl SyntaxError {
    pub(crate) fn new(span: Span, message: impl Into<String>, help: impl Into<String>) -> Self {
        SyntaxError {
            span,
            message: message.into(),
            help: help.into(),
        }
    }
}

/// Parses one `.playbook` file.
pub fn parse(text: &str) -> Result<ast::File, SyntaxError> {
    use pest::Parser;
    limits::check(text)?;
    // A byte-order mark is whitespace; blank it out so offsets stay the same.
    let owned;
    let text = if let Some(rest) = text.strip_prefix('\u{FEFF}') {
        owned = format!("   {rest}");
        owned.as_str()
    } else {
        text
    };
    invisible::check(text)?;
    let mut pairs =
        SyntaxParser::parse(Rule::file, text).map_err(|e| expected::describe(text, e))?;
    let file = pairs.next().expect("the file rule always yields one pair");
    lower::file(text, file)
}

/// Parses a lone expression, such as a channel's `requires` in tend.toml.
pub fn parse_expr(text: &str) -> Result<ast::Expr, SyntaxError> {
    use pest::Parser;
    limits::check(text)?;
    invisible::check(text)?;
    let mut pairs = SyntaxParser::parse(Rule::standalone_expr, text)
        .map_err(|e| expected::describe(text, e))?;
    let top = pairs
        .next()
        .expect("the standalone_expr rule always yields one pair");
    lower::expr(top.into_inner().next().expect("an expression"))
}
