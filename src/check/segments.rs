//! Segments: typed against the customer schema; which ones read the clock;
//! segments defined through themselves, and chains of segments too deep.

use super::typeck::Scope;
use super::{rules, CheckedSegment, Checker};
use crate::diag::Finding;
use crate::source::FileId;
use crate::syntax::ast::{self, BinaryOp, Expr, ExprKind};
use std::collections::BTreeMap;

/// How deep segments may test segments: a segment that tests no other is
/// 1 deep, one that tests it 2, and so on (docs/language.md, §3).
pub const MAX_SEGMENT_DEPTH: usize = 64;

pub fn check_all(ck: &mut Checker) -> BTreeMap<String, CheckedSegment> {
    let defs: Vec<_> = ck
        .segments
        .iter()
        .map(|(n, (f, s))| (n.clone(), *f, *s))
        .collect();
    let index: BTreeMap<&str, usize> = defs
        .iter()
        .enumerate()
        .map(|(i, (n, _, _))| (n.as_str(), i))
        .collect();
    let mut direct_clock = Vec::with_capacity(defs.len());
    let mut refs: Vec<Vec<usize>> = Vec::with_capacity(defs.len());
    for (name, file, seg) in &defs {
        ck.file = *file;
        ck.clock_reads = false;
        let scope = Scope {
            customer: Some(&ck.config.customer),
            ..Scope::default()
        };
        // Uses of segments by segments count as uses, but not of themselves.
        let used_before = ck.used_segments.contains(name.as_str());
        ck.condition(&seg.expr, &scope);
        if !used_before {
            ck.used_segments.remove(name.as_str());
        }
        direct_clock.push(ck.clock_reads);
        let mut r = Vec::new();
        segment_refs(&seg.expr, &mut r);
        let mut r: Vec<usize> = r
            .iter()
            .filter_map(|n| index.get(n.as_str()).copied())
            .collect();
        r.sort_unstable();
        r.dedup();
        refs.push(r);
    }
    ck.clock_reads = false;

    let graph = Graph::new(&refs);
    let mut reads_clock = vec![false; defs.len()];
    let mut depth = vec![0usize; defs.len()];
    // Components come out after every component they lead to, so each
    // segment is weighed once, after the segments it tests.
    for comp in &graph.components {
        let cyclic = comp.len() > 1 || refs[comp[0]].contains(&comp[0]);
        // Members of this component are not weighed yet, so only the
        // segments it leads to count here.
        let clock = comp
            .iter()
            .any(|&s| direct_clock[s] || refs[s].iter().any(|&r| reads_clock[r]));
        for &s in comp {
            reads_clock[s] = clock;
        }
        if cyclic {
            // A segment defined through itself can never be evaluated.
            for &s in comp {
                let (name, file, seg) = &defs[s];
                ck.out.push(
                    Finding::new(&rules::TYPE_MISMATCH, *file, seg.name.span, format!("segment `{name}` is defined through itself"))
                        .help("a segment cannot depend on its own membership; write its condition on customer data"),
                );
            }
            continue;
        }
        let s = comp[0];
        depth[s] = 1 + refs[s].iter().map(|&r| depth[r]).max().unwrap_or(0);
        // Reported where the chain first goes too deep; the segments above it fail with it.
        if depth[s] == MAX_SEGMENT_DEPTH + 1 {
            let (name, file, seg) = &defs[s];
            let chain = deepest_chain(s, &refs, &depth, &defs);
            ck.out.push(
                Finding::new(
                    &rules::TYPE_MISMATCH,
                    *file,
                    seg.name.span,
                    format!(
                        "segment `{name}` tests segments {} deep ({chain}); segments may test segments at most {MAX_SEGMENT_DEPTH} deep",
                        depth[s]
                    ),
                )
                .help("test the customer data directly in some of these segments, so that no chain of segments is longer than 64"),
            );
        }
    }
    defs.into_iter()
        .zip(reads_clock)
        .map(|((name, file, seg), reads_clock)| {
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

/// `a` → `b` → … → `z`, the first and last three of the longest chain down from `s`.
fn deepest_chain(
    mut s: usize,
    refs: &[Vec<usize>],
    depth: &[usize],
    defs: &[(String, FileId, &ast::Segment)],
) -> String {
    let mut chain = vec![s];
    while let Some(&next) = refs[s].iter().max_by_key(|&&r| depth[r]) {
        if depth[next] == 0 {
            break;
        }
        chain.push(next);
        s = next;
    }
    let name = |i: &usize| format!("`{}`", defs[*i].0);
    if chain.len() <= 6 {
        return chain.iter().map(name).collect::<Vec<_>>().join(" → ");
    }
    let head: Vec<_> = chain[..3].iter().map(name).collect();
    let tail: Vec<_> = chain[chain.len() - 3..].iter().map(name).collect();
    format!("{} → … → {}", head.join(" → "), tail.join(" → "))
}

/// The segments' strongly connected components (Tarjan's algorithm), each
/// after every component it leads to, computed with an explicit stack: a
/// chain of thousands of segments is as deep as it is long.
struct Graph {
    components: Vec<Vec<usize>>,
}

impl Graph {
    fn new(refs: &[Vec<usize>]) -> Self {
        let n = refs.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut components = Vec::new();
        let mut next = 0;
        // (node, next edge to follow)
        let mut calls: Vec<(usize, usize)> = Vec::new();
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            calls.push((root, 0));
            while let Some(&mut (v, ref mut edge)) = calls.last_mut() {
                if *edge == 0 && index[v] == usize::MAX {
                    index[v] = next;
                    low[v] = next;
                    next += 1;
                    stack.push(v);
                    on_stack[v] = true;
                }
                if let Some(&w) = refs[v].get(*edge) {
                    *edge += 1;
                    if index[w] == usize::MAX {
                        calls.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                    continue;
                }
                calls.pop();
                if let Some(&(parent, _)) = calls.last() {
                    low[parent] = low[parent].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    while let Some(w) = stack.pop() {
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    components.push(comp);
                }
            }
        }
        Graph { components }
    }
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
