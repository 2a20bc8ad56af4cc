//! The playbook AST. Every node carries the byte span of its source text.

use chrono::{NaiveDate, NaiveDateTime, Weekday};

/// A half-open byte range in one source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// A name, NFC-normalised.
#[derive(Debug, Clone, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal after escapes (and, for `"""`, indentation) were processed.
#[derive(Debug, Clone, PartialEq)]
pub struct Str {
    pub value: String,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Segment(Segment),
    Template(Template),
    Playbook(Box<Playbook>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub name: Ident,
    pub expr: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    pub name: Ident,
    pub kind: Option<Ident>,
    pub text: Option<Str>,
    pub variants: Vec<(Ident, Str)>,
    pub span: Span,
}

/// A duration literal: calendar days (`w`, `d`) and elapsed seconds (`h`, `m`, `s`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Duration {
    pub days: i64,
    pub seconds: i64,
    pub span: Span,
}

impl Duration {
    pub fn is_zero(&self) -> bool {
        self.days == 0 && self.seconds == 0
    }
    /// Minimum elapsed seconds, counting a day as 24 h (lint arithmetic).
    pub fn approx_seconds(&self) -> i64 {
        self.days * 86_400 + self.seconds
    }
}

/// A time of day, minutes after midnight.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Clock {
    pub minutes: u32,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Percent {
    /// Basis points: 60% = 6000.
    pub basis_points: u32,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuietHours {
    pub start: Clock,
    pub end: Clock,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Day,
    Week,
    Month,
}

impl Period {
    pub fn name(self) -> &'static str {
        match self {
            Period::Day => "day",
            Period::Week => "week",
            Period::Month => "month",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cap {
    pub count: u32,
    pub period: Period,
    pub kind: Option<Ident>,
    pub drop: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Reenter {
    Never(Span),
    Always(Span),
    After(Duration),
}

#[derive(Debug, Clone, PartialEq)]
pub enum ZoneSetting {
    Customer(Span),
    Named(Str),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Settings {
    pub title: Option<Str>,
    pub owner: Option<Str>,
    pub timezone: Option<ZoneSetting>,
    pub quiet: Option<QuietHours>,
    pub caps: Vec<Cap>,
    pub reenter: Option<Reenter>,
    pub holdout: Option<Percent>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Playbook {
    pub name: Ident,
    pub settings: Settings,
    pub triggers: Vec<Trigger>,
    pub goal: Option<EventClause>,
    pub stops: Vec<EventClause>,
    pub steps: Vec<Step>,
    pub span: Span,
}

/// An event name: dotted identifiers or a string.
#[derive(Debug, Clone, PartialEq)]
pub struct EventName {
    pub name: String,
    pub span: Span,
}

/// `goal`/`stop`: `event NAME [if EXPR] [within D]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EventClause {
    pub event: EventName,
    pub cond: Option<Expr>,
    pub within: Option<Duration>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TriggerKind {
    Event {
        event: EventName,
        cond: Option<Expr>,
    },
    Enter {
        segment: Ident,
    },
    Every {
        cron: Str,
        segment: Option<Ident>,
    },
    Yearly {
        path: Path,
        offset_days: i64,
        offset_span: Option<Span>,
        at: Option<Clock>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub name: Ident,
    pub body: Block,
    pub span: Span,
}

pub type Block = Vec<Action>;

#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    pub kind: ActionKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TemplateRef {
    Named(Ident),
    Inline(Str),
}

#[derive(Debug, Clone, PartialEq)]
pub struct SplitArm {
    pub percent: Percent,
    pub target: Ident,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WaitFor {
    pub event: EventName,
    pub cond: Option<Expr>,
    pub since_entry: bool,
    pub within: Option<Duration>,
    pub else_step: Option<Ident>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ActionKind {
    Send {
        channel: Ident,
        template: TemplateRef,
        with: Vec<(Ident, Expr)>,
    },
    Wait(Duration),
    WaitUntil(TimeExpr),
    WaitFor(WaitFor),
    If {
        cond: Expr,
        then: Block,
        otherwise: Option<Block>,
    },
    Split(Vec<SplitArm>),
    Tag {
        add: bool,
        tags: Vec<Str>,
    },
    Set {
        path: Path,
        value: Expr,
    },
    Grant {
        coupon: Ident,
        worth: f64,
        worth_span: Span,
        valid: Duration,
    },
    Hook {
        name: Ident,
        at: TimeExpr,
        body: Block,
    },
    Task {
        text: Str,
        to: Option<Ident>,
    },
    Jump(Ident),
    End,
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeExpr {
    Next {
        weekday: Option<Weekday>,
        clock: Clock,
        span: Span,
    },
    Point {
        base: TimeBase,
        offsets: Vec<(i64, Duration)>,
        at: Option<Clock>,
        span: Span,
    },
}

impl TimeExpr {
    pub fn span(&self) -> Span {
        match self {
            TimeExpr::Next { span, .. } | TimeExpr::Point { span, .. } => *span,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum TimeBase {
    Now(Span),
    Path(Path),
    Date(NaiveDate, Span),
    DateTime(NaiveDateTime, Span),
}

/// A dotted data path such as `customer.pet.birthday`.
#[derive(Debug, Clone, PartialEq)]
pub struct Path {
    pub segments: Vec<String>,
    pub span: Span,
}

impl Path {
    pub fn root(&self) -> &str {
        &self.segments[0]
    }
    pub fn dotted(&self) -> String {
        self.segments.join(".")
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Add,
    Sub,
    Mul,
    Div,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Or => "or",
            BinaryOp::And => "and",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::In => "in",
            BinaryOp::NotIn => "not in",
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum ExprKind {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Duration(Duration),
    Clock(Clock),
    Date(NaiveDate),
    DateTime(NaiveDateTime),
    List(Vec<Expr>),
    Path(Path),
    Call { func: Ident, args: Vec<Expr> },
    Unary(UnaryOp, Box<Expr>),
    Binary(BinaryOp, Box<Expr>, Box<Expr>),
    Paren(Box<Expr>),
}
