//! Playbook versions. A version is the hash of a canonical *text*: the
//! playbook, the segments and templates it uses (transitively) and the schema
//! types it reads, printed in one normal layout without comments. Layout,
//! comments, other playbooks and unrelated schema entries do not change it,
//! and neither does refactoring tend's own data structures: only a change to
//! what the playbook says or reads does.
//!
//! The text is a header naming the schema types, a line `---`, then valid
//! playbook source (segments and templates by name, then the playbook).

use super::{Action, Block, Expr, Playbook, Root, Text, TimeBase, TimeExpr, TriggerKind};
use crate::config::Config;
use crate::syntax::{ast, print};
use crate::types::{Field, Record, Type};
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

/// The first line of every canonical text. Changing how the text is made
/// re-keys every playbook, so a deliberate change bumps this number.
const HEADER: &str = "tend playbook slice 1";

/// The version of a canonical text: its SHA-256, first 8 bytes in hex.
pub fn hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The canonical text of a playbook's slice.
pub fn canonical(
    config: &Config,
    pb: &ast::Playbook,
    built: &Playbook,
    segments: &BTreeMap<String, &ast::Segment>,
    templates: &BTreeMap<String, &ast::Template>,
) -> String {
    let mut uses = Uses::default();
    for t in &built.triggers {
        match &t.kind {
            TriggerKind::Event { event, cond } => {
                uses.events.insert(event.to_string());
                uses.expr_opt(cond);
            }
            TriggerKind::Enter { segment } => uses.segment(segment),
            TriggerKind::Every { segment, .. } => {
                if let Some(s) = segment {
                    uses.segment(s);
                }
            }
            TriggerKind::Yearly { path, .. } => uses.attr(path),
        }
    }
    if let Some(g) = &built.goal {
        uses.events.insert(g.event.to_string());
        uses.expr_opt(&g.cond);
    }
    for s in &built.stops {
        uses.events.insert(s.event.to_string());
        uses.expr_opt(&s.cond);
    }
    for s in &built.steps {
        uses.block(&s.body);
    }
    let mut out = String::new();
    out.push_str(HEADER);
    out.push('\n');
    for (name, field) in &config.customer {
        if uses.attrs.contains(name.as_str()) {
            out.push_str(&format!("customer.{name}: {}\n", field_text(field)));
        }
    }
    for name in &uses.events {
        if let Some(decl) = config.events.get(name) {
            out.push_str(&format!("event {name}: {}\n", record_text(&decl.fields)));
        }
    }
    out.push_str("---\n");
    for name in &uses.segments {
        if let Some(s) = segments.get(name) {
            out.push_str(&print::segment(s));
            out.push('\n');
        }
    }
    for name in &uses.templates {
        if let Some(t) = templates.get(name) {
            out.push_str(&print::template(t));
            out.push('\n');
        }
    }
    out.push_str(&print::playbook(pb));
    out.push('\n');
    out
}

/// What a playbook's slice holds besides the playbook itself.
#[derive(Default)]
struct Uses {
    segments: BTreeSet<String>,
    templates: BTreeSet<String>,
    /// Top-level customer attributes read.
    attrs: BTreeSet<String>,
    events: BTreeSet<String>,
}

impl Uses {
    fn attr(&mut self, path: &[crate::value::Sym]) {
        if let Some(first) = path.first() {
            self.attrs.insert(first.to_string());
        }
    }

    fn segment(&mut self, s: &super::Segment) {
        if self.segments.insert(s.name.to_string()) {
            self.expr(&s.expr);
        }
    }

    fn text(&mut self, source: &str) {
        // Only the names matter here; syntax was checked before.
        let env = minijinja::Environment::new();
        if let Ok(t) = env.template_from_str(source) {
            for v in t.undeclared_variables(true) {
                if let Some(rest) = v.strip_prefix("customer.") {
                    let first = rest.split('.').next().unwrap_or(rest);
                    self.attrs.insert(first.to_string());
                }
            }
        }
    }

    fn expr_opt(&mut self, e: &Option<Expr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    fn expr(&mut self, e: &Expr) {
        match e {
            Expr::Path(Root::Customer, path) => self.attr(path),
            Expr::InSegment { segment, .. } => self.segment(segment),
            Expr::List(xs) | Expr::Call(_, xs) => xs.iter().for_each(|x| self.expr(x)),
            Expr::Not(x) | Expr::Neg(x) => self.expr(x),
            Expr::Binary(_, l, r) => {
                self.expr(l);
                self.expr(r);
            }
            _ => {}
        }
    }

    fn time(&mut self, t: &TimeExpr) {
        if let TimeExpr::Point {
            base: TimeBase::Path(Root::Customer, path),
            ..
        } = t
        {
            self.attr(path);
        }
    }

    fn block(&mut self, b: &Block) {
        for a in b {
            match a {
                Action::Send(s) => {
                    match &s.text {
                        Text::Named(t) => {
                            if self.templates.insert(t.name.to_string()) {
                                for w in &t.wordings {
                                    self.text(&w.source);
                                }
                            }
                        }
                        Text::Inline(source) => self.text(source),
                    }
                    for (_, e) in &s.with {
                        self.expr(e);
                    }
                }
                Action::WaitUntil { at, .. } => self.time(at),
                Action::WaitFor(w) => {
                    self.events.insert(w.event.to_string());
                    self.expr_opt(&w.cond);
                }
                Action::If {
                    cond,
                    then,
                    otherwise,
                } => {
                    self.expr(cond);
                    self.block(then);
                    if let Some(o) = otherwise {
                        self.block(o);
                    }
                }
                Action::Set { path, value } => {
                    self.attr(path);
                    self.expr(value);
                }
                Action::Hook { at, body, .. } => {
                    self.time(at);
                    self.block(body);
                }
                Action::Task { text, .. } => {
                    self.text(text);
                    // The task goes to the customer's `owner` when the schema has one.
                    self.attrs.insert("owner".into());
                }
                Action::Tag { .. } => {
                    self.attrs.insert("tags".into());
                }
                Action::Wait(_)
                | Action::Split { .. }
                | Action::Grant { .. }
                | Action::Jump(_)
                | Action::End => {}
            }
        }
    }
}

fn field_text(f: &Field) -> String {
    format!("{}{}", type_text(&f.ty), if f.optional { "?" } else { "" })
}

fn type_text(t: &Type) -> String {
    match t {
        Type::List(inner) => format!("list<{}>", type_text(inner)),
        Type::Record(r) => record_text(r),
        other => other.to_string(),
    }
}

fn record_text(r: &Record) -> String {
    let fields: Vec<String> = r
        .iter()
        .map(|(k, f)| format!("{k}: {}", field_text(f)))
        .collect();
    format!("{{ {} }}", fields.join(", "))
}
