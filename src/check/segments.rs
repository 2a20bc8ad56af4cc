//! Segments: typed against the customer schema; which ones read the clock.

use super::typeck::Scope;
use super::{rules, CheckedSegment, Checker};
use crate::diag::Finding;
use crate::syntax::ast::{BinaryOp, Expr, ExprKind};
use std::collections::{BTreeMap, BTreeSet};

pub fn check_all(ck: &mut Checker) -> BTreeMap<String, CheckedSegment> {
    let mut direct_clock: BTreeMap<String, bool> = BTreeMap::new();
    let mut refs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let defs: Vec<_> = ck
        .segments
        .iter()
        .map(|(n, (f, s))| (n.clone(), *f, *s))
        .collect();
    for (name, file, seg) in &defs {
        ck.file = *file;
        ck.clock_reads = false;
        let scope = Scope {
            customer: Some(&ck.config.customer),
            ..Scope::default()
        };
        // Uses of segments by segments count as uses, but not of themselves.
        let before = ck.used_segments.clone();
        ck.condition(&seg.expr, &scope);
        if !before.contains(name.as_str()) {
            ck.used_segments.remove(name.as_str());
        }
        direct_clock.insert(name.clone(), ck.clock_reads);
        let mut r = Vec::new();
        segment_refs(&seg.expr, &mut r);
        refs.insert(name.clone(), r);
    }
    ck.clock_reads = false;
    // A segment defined through itself can never be evaluated.
    for (name, file, seg) in &defs {
        if reaches(name, name, &refs, &mut BTreeSet::new()) {
            ck.out.push(
                Finding::new(&rules::TYPE_MISMATCH, *file, seg.name.span, format!("segment `{name}` is defined through itself"))
                    .help("a segment cannot depend on its own membership; write its condition on customer data"),
            );
        }
    }
    defs.into_iter()
        .map(|(name, file, seg)| {
            let reads_clock = clock_closure(&name, &direct_clock, &refs, &mut BTreeSet::new());
            (
                name,
                CheckedSegment {
                    file,
                    def: seg.clone(),
                    reads_clock,
                },
            )
        })
        .collect()
}

fn reaches(
    target: &str,
    from: &str,
    refs: &BTreeMap<String, Vec<String>>,
    seen: &mut BTreeSet<String>,
) -> bool {
    for r in refs.get(from).into_iter().flatten() {
        if r == target {
            return true;
        }
        if seen.insert(r.clone()) && reaches(target, r, refs, seen) {
            return true;
        }
    }
    false
}

fn clock_closure(
    name: &str,
    direct: &BTreeMap<String, bool>,
    refs: &BTreeMap<String, Vec<String>>,
    seen: &mut BTreeSet<String>,
) -> bool {
    if !seen.insert(name.to_string()) {
        return false;
    }
    if direct.get(name).copied().unwrap_or(false) {
        return true;
    }
    refs.get(name)
        .into_iter()
        .flatten()
        .any(|r| clock_closure(r, direct, refs, seen))
}

/// Segment names used as `customer in NAME` inside an expression.
pub fn segment_refs(e: &Expr, out: &mut Vec<String>) {
    match &e.kind {
        ExprKind::Binary(op, l, r) => {
            if matches!(op, BinaryOp::In | BinaryOp::NotIn) {
                if let ExprKind::Path(p) = &r.kind {
                    if p.segments.len() == 1 && !super::typeck::RESERVED_ROOTS.contains(&p.root()) {
                        out.push(p.root().to_string());
                    }
                }
            }
            segment_refs(l, out);
            segment_refs(r, out);
        }
        ExprKind::Unary(_, x) | ExprKind::Paren(x) => segment_refs(x, out),
        ExprKind::List(xs) | ExprKind::Call { args: xs, .. } => {
            xs.iter().for_each(|x| segment_refs(x, out))
        }
        _ => {}
    }
}
