//! Playbook versions. A version is the hash of a canonical *text*: the
//! playbook, the segments and templates it uses (transitively) and the schema
//! types it reads, printed in one normal layout without comments. Layout,
//! comments, other playbooks and unrelated schema entries do not change it,
//! and neither does refactoring tend's own data structures: only a change to
//! what the playbook says or reads does.
//!
//! The text is a header naming the schema types, a line `---`, then valid
//! playbook source (segments and templates by name, then the playbook).

use super::walk::{self, Use};
use super::{Action, Block, Expr, Playbook, Root, TriggerKind};
use crate::config::Config;
use crate::syntax::{ast, print};
use crate::types::{Field, Record, Type};
use crate::value::Sym;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

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

/// A playbook rebuilt from its stored canonical text, so that a runner can
/// finish enrollments on a version the project no longer contains. Types
/// and channels come from today's `config`; the version stays the stored one.
pub fn rebuild(config: &Config, text: &str) -> Result<Playbook, String> {
    let (header, body) = text
        .split_once("\n---\n")
        .ok_or("a stored playbook version lacks its `---` line")?;
    let first = header.lines().next().unwrap_or("");
    if first != HEADER {
        return Err(format!(
            "a stored playbook version starts `{first}`; this tend reads `{HEADER}`"
        ));
    }
    let file = crate::syntax::parse(body)
        .map_err(|e| format!("a stored playbook version does not parse: {}", e.message))?;
    let program = super::build(config, file.items.iter())?;
    let [pb] = <[_; 1]>::try_from(program.playbooks)
        .map_err(|_| "a stored playbook version holds other than one playbook".to_string())?;
    let mut pb = Arc::into_inner(pb).ok_or("a rebuilt playbook is shared")?;
    // The same source must print the same: otherwise this is not the version stored.
    if pb.text.split_once("\n---\n").map(|p| p.1) != Some(body) {
        return Err(format!(
            "the stored version {} of playbook `{}` does not read back as it was stored",
            hash(text),
            pb.name
        ));
    }
    pb.version = Sym::new(&hash(text));
    pb.text = text.into();
    Ok(pb)
}

/// The names of a segment and of the segments it tests, transitively.
pub(super) fn segments_of(s: &super::Segment) -> BTreeSet<String> {
    let mut uses = Uses::default();
    uses.segment(s);
    uses.segments
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

    fn expr_opt(&mut self, e: &Option<Expr>) {
        if let Some(e) = e {
            self.expr(e);
        }
    }

    fn expr(&mut self, e: &Expr) {
        let mut segments = Vec::new();
        walk::expr(e, &mut |u| match u {
            Use::Path(Root::Customer, path) => self.attr(path),
            Use::Segment(s) => segments.push(s.clone()),
            _ => {}
        });
        for s in segments {
            self.segment(&s);
        }
    }

    fn block(&mut self, b: &Block) {
        let mut segments = Vec::new();
        walk::block(b, &mut |u| match u {
            Use::Path(Root::Customer, path) => self.attr(path),
            Use::Segment(s) => segments.push(s.clone()),
            Use::Template(t) => {
                self.templates.insert(t.name.to_string());
            }
            Use::Text(source) => {
                for v in walk::text_paths(source).unwrap_or_default() {
                    if let Some(rest) = v.strip_prefix("customer.") {
                        self.attrs
                            .insert(rest.split('.').next().unwrap_or(rest).to_string());
                    }
                }
            }
            Use::Event(e) => {
                self.events.insert(e.to_string());
            }
            Use::Action(Action::Set { path, .. }) => self.attr(path),
            // The task goes to the customer's `owner` when the schema has one.
            Use::Action(Action::Task { .. }) => {
                self.attrs.insert("owner".into());
            }
            Use::Action(Action::Tag { .. }) => {
                self.attrs.insert("tags".into());
            }
            _ => {}
        });
        for s in segments {
            self.segment(&s);
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
