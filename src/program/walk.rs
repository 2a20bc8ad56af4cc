//! One walk over what a playbook's steps read and use, for the questions
//! asked of it (what goes into a version's text, which event fields an
//! enrollment keeps).

use super::{Action, Block, Expr, Root, Segment, Template, Text, TimeBase, TimeExpr};
use crate::value::Sym;
use std::sync::Arc;

/// One thing a block reads or uses.
pub enum Use<'a> {
    /// A data path read, by an expression or a time point.
    Path(Root, &'a [Sym]),
    /// A segment tested (its own expression is not walked).
    Segment(&'a Arc<Segment>),
    Template(&'a Arc<Template>),
    /// A text rendered: a template's wording, an inline text, a task's text.
    Text(&'a str),
    /// An event a `wait for` waits for.
    Event(Sym),
    /// Each action, before what it reads.
    Action(&'a Action),
}

/// Every use in an expression.
pub fn expr<'a>(e: &'a Expr, f: &mut impl FnMut(Use<'a>)) {
    match e {
        Expr::Path(root, path) => f(Use::Path(*root, path)),
        Expr::InSegment { segment, .. } => f(Use::Segment(segment)),
        Expr::List(xs) | Expr::Call(_, xs) => xs.iter().for_each(|x| expr(x, f)),
        Expr::Not(x) | Expr::Neg(x) => expr(x, f),
        Expr::Binary(_, l, r) => {
            expr(l, f);
            expr(r, f);
        }
        Expr::Lit(_) | Expr::LocalDateTime(_) | Expr::CustomerId | Expr::Now => {}
    }
}

fn time<'a>(t: &'a TimeExpr, f: &mut impl FnMut(Use<'a>)) {
    if let TimeExpr::Point {
        base: TimeBase::Path(root, path),
        ..
    } = t
    {
        f(Use::Path(*root, path));
    }
}

/// Every use in a block, nested blocks and hooks included.
pub fn block<'a>(b: &'a Block, f: &mut impl FnMut(Use<'a>)) {
    for a in b {
        f(Use::Action(a));
        match a {
            Action::Send(s) => {
                match &s.text {
                    Text::Named(t) => {
                        f(Use::Template(t));
                        t.wordings.iter().for_each(|w| f(Use::Text(&w.source)));
                    }
                    Text::Inline(source) => f(Use::Text(source)),
                }
                s.with.iter().for_each(|(_, e)| expr(e, f));
            }
            Action::WaitUntil { at, .. } => time(at, f),
            Action::WaitFor(w) => {
                f(Use::Event(w.event));
                if let Some(c) = &w.cond {
                    expr(c, f);
                }
            }
            Action::If {
                cond,
                then,
                otherwise,
            } => {
                expr(cond, f);
                block(then, f);
                if let Some(o) = otherwise {
                    block(o, f);
                }
            }
            Action::Set { value, .. } => expr(value, f),
            Action::Hook { at, body, .. } => {
                time(at, f);
                block(body, f);
            }
            Action::Task { text, .. } => f(Use::Text(text)),
            Action::Wait(_)
            | Action::Split { .. }
            | Action::Tag { .. }
            | Action::Grant { .. }
            | Action::Jump(_)
            | Action::End => {}
        }
    }
}

/// The dotted paths a text reads (`customer.name`), or `None` when it does
/// not parse (checking reported that).
pub fn text_paths(source: &str) -> Option<Vec<String>> {
    let env = minijinja::Environment::new();
    let t = env.template_from_str(source).ok()?;
    Some(t.undeclared_variables(true).into_iter().collect())
}
