//! `loop-without-wait` (warning) and `endless-loop` (error): cycles of the
//! main-flow graph that pass no `wait D`, `wait for` or `wait until next …`.

use super::{ENDLESS_LOOP, LOOP_WITHOUT_WAIT};
use crate::check::cfg::{Cfg, NodeKind};
use crate::check::Checked;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        for comp in cycles_without_wait(&pb.cfg) {
            let send = comp
                .iter()
                .copied()
                .filter(|n| matches!(pb.cfg.nodes[*n].kind, NodeKind::Send(_)))
                .min_by_key(|n| pb.cfg.nodes[*n].span.start);
            match send {
                Some(s) => out.push(
                    Finding::new(&LOOP_WITHOUT_WAIT, pb.file, pb.cfg.nodes[s].span, "this send is in a loop that never waits, so it can repeat at once")
                        .help("put a `wait` (or `wait for … within …`) in the loop so the customer is not flooded"),
                ),
                None => {
                    // Point at the jump that closes the cycle: the last edge back, in source order.
                    let at = comp
                        .iter()
                        .copied()
                        .filter(|n| !matches!(pb.cfg.nodes[*n].kind, NodeKind::StepEntry(_)))
                        .filter(|n| pb.cfg.nodes[*n].edges.iter().any(|e| comp.contains(&e.to) && matches!(pb.cfg.nodes[e.to].kind, NodeKind::StepEntry(_))))
                        .max_by_key(|n| pb.cfg.nodes[*n].span.start)
                        .or_else(|| comp.iter().copied().min_by_key(|n| pb.cfg.nodes[*n].span.start))
                        .unwrap();
                    out.push(
                        Finding::new(&ENDLESS_LOOP, pb.file, pb.cfg.nodes[at].span, "this loop neither waits nor sends, so it would spin forever")
                            .help("put a `wait` in the loop, or leave it with a condition that changes"),
                    );
                }
            }
        }
    }
}

/// Strongly connected components (with a cycle) of the main flow, using only edges that do not wait.
fn cycles_without_wait(cfg: &Cfg) -> Vec<Vec<usize>> {
    let n = cfg.nodes.len();
    let succ: Vec<Vec<usize>> = cfg
        .nodes
        .iter()
        .map(|node| {
            node.edges
                .iter()
                .filter(|e| !e.waits)
                .map(|e| e.to)
                .collect()
        })
        .collect();
    // Iterative Tarjan.
    let mut index = vec![usize::MAX; n];
    let mut low = vec![0; n];
    let mut on_stack = vec![false; n];
    let mut stack = Vec::new();
    let mut next = 0;
    let mut result = Vec::new();
    for root in 0..n {
        if index[root] != usize::MAX {
            continue;
        }
        let mut call: Vec<(usize, usize)> = vec![(root, 0)];
        index[root] = next;
        low[root] = next;
        next += 1;
        stack.push(root);
        on_stack[root] = true;
        while let Some(&mut (v, ref mut i)) = call.last_mut() {
            if *i < succ[v].len() {
                let w = succ[v][*i];
                *i += 1;
                if index[w] == usize::MAX {
                    index[w] = next;
                    low[w] = next;
                    next += 1;
                    stack.push(w);
                    on_stack[w] = true;
                    call.push((w, 0));
                } else if on_stack[w] {
                    low[v] = low[v].min(index[w]);
                }
            } else {
                call.pop();
                if let Some(&(u, _)) = call.last() {
                    low[u] = low[u].min(low[v]);
                }
                if low[v] == index[v] {
                    let mut comp = Vec::new();
                    loop {
                        let w = stack.pop().unwrap();
                        on_stack[w] = false;
                        comp.push(w);
                        if w == v {
                            break;
                        }
                    }
                    let cyclic = comp.len() > 1 || succ[v].contains(&v);
                    if cyclic {
                        result.push(comp);
                    }
                }
            }
        }
    }
    result
}
