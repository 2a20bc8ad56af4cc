//! `cap-exceeded`: some path sends more 1:1 messages in a day, week or month
//! than a playbook `cap`, `[limits]` or a channel's cap allows (docs/rules/cap-exceeded.md).

use super::CAP_EXCEEDED;
use crate::check::cfg::{Cfg, Edge, NodeKind};
use crate::check::{Checked, CheckedPlaybook, Kind};
use crate::config::Config;
use crate::diag::Finding;
use crate::syntax::ast::Period;
use std::collections::HashSet;

const DAY: i64 = 86_400;
/// Paths are followed this far: cycles are unrolled to 7 days, and a month cap looks further.
const WEEK_HORIZON: i64 = 7 * DAY;
const MONTH_HORIZON: i64 = 31 * DAY;
/// Bound on the work per playbook (nodes visited plus sends weighed): beyond
/// it, remaining paths are not explored.
const BUDGET: usize = 1_000_000;

struct CapRule {
    what: String,
    count: u32,
    window: i64,
    kind: Option<Kind>,
    channel: Option<String>,
}

#[derive(Clone, Copy)]
struct Timed {
    at: i64,
    send: usize,
}

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        if pb.broadcast || pb.def.steps.is_empty() {
            continue;
        }
        let caps = caps_for(pb, &p.config);
        if caps.is_empty() || !pb.sends.iter().any(|s| s.touchpoint.is_one_to_one()) {
            continue;
        }
        let horizon = if caps.iter().any(|c| c.window > WEEK_HORIZON) {
            MONTH_HORIZON
        } else {
            WEEK_HORIZON
        };
        let mut found: Vec<Option<usize>> = vec![None; caps.len()];
        let mut walker = Walker {
            pb,
            caps: &caps,
            found: &mut found,
            budget: BUDGET,
            horizon,
            ahead: vec![None; pb.cfg.nodes.len()],
            open: vec![false; pb.cfg.nodes.len()],
        };
        walker.walk();
        for (cap, hit) in caps.iter().zip(found) {
            if let Some(send) = hit {
                let s = &pb.sends[send];
                out.push(
                    Finding::new(&CAP_EXCEEDED, pb.file, s.span, format!("this send can exceed {}", cap.what))
                        .help("the customer would get more messages than the cap allows and tend would defer or drop them; space the sends out with `wait`, or send fewer"),
                );
            }
        }
    }
}

fn caps_for(pb: &CheckedPlaybook, config: &Config) -> Vec<CapRule> {
    let window = |p: Period| match p {
        Period::Day => DAY,
        Period::Week => 7 * DAY,
        Period::Month => 31 * DAY,
    };
    let mut caps = Vec::new();
    for c in &pb.def.settings.caps {
        let kind = c.kind.as_ref().and_then(|k| Kind::parse(&k.name));
        let kind_text = kind.map(|k| format!(" {}", k.name())).unwrap_or_default();
        caps.push(CapRule {
            what: format!("`cap {} per {}{kind_text}`", c.count, c.period.name()),
            count: c.count,
            window: window(c.period),
            kind,
            channel: None,
        });
    }
    for (n, period, key) in config.limits.counts() {
        caps.push(CapRule {
            what: format!("[limits] {key} = {n}"),
            count: n,
            window: window(period),
            kind: None,
            channel: None,
        });
    }
    for ch in config.channels.values() {
        if let Some(limit) = ch.cap {
            let period = limit.period;
            if pb.sends.iter().any(|s| s.channel == ch.name) {
                caps.push(CapRule {
                    what: format!("channel `{}`'s cap", ch.name),
                    count: limit.max_count(),
                    window: window(period),
                    kind: None,
                    channel: Some(ch.name.clone()),
                });
            }
        }
    }
    caps
}

struct Walker<'a> {
    pb: &'a CheckedPlaybook,
    caps: &'a [CapRule],
    found: &'a mut Vec<Option<usize>>,
    /// Units of work left: one per node visited, one per send weighed at a path's end.
    budget: usize,
    horizon: i64,
    /// Per hook-body node: the most 1:1 sends on a path from it (see `sends_ahead`).
    ahead: Vec<Option<usize>>,
    /// Hook-body nodes whose weighing has begun.
    open: Vec<bool>,
}

/// A node on the path being walked, and the next of its edges to try.
struct Frame {
    node: usize,
    t: i64,
    /// The length of the send path before this node added its sends.
    sends_before: usize,
    next_edge: usize,
}

impl Walker<'_> {
    /// Every path from the first step, depth first, with an explicit stack: a
    /// loop unrolled over a month or a chain of thousands of steps is as deep
    /// as it is long, which no call stack holds.
    fn walk(&mut self) {
        let cfg: &Cfg = &self.pb.cfg;
        let mut path: Vec<Timed> = Vec::new();
        // The (node, time) pairs on the path: a cycle that takes no time is a
        // loop rule's business, so the walk never repeats one.
        let mut on_path: HashSet<(usize, i64)> = HashSet::new();
        let mut stack: Vec<Frame> = Vec::new();
        self.enter(0, 0, &mut path, &mut on_path, &mut stack);
        while let Some(top) = stack.last_mut() {
            if self.done() {
                // Out of budget: what the path so far sends is still a real path's prefix.
                self.evaluate(&path);
                return;
            }
            let (node, t) = (top.node, top.t);
            let edges = &cfg.nodes[node].edges;
            let next = edges[top.next_edge..]
                .iter()
                .position(|e| self.onward(e, t, &on_path))
                .map(|i| top.next_edge + i);
            match next {
                Some(i) => {
                    top.next_edge = i + 1;
                    let e = edges[i];
                    self.enter(e.to, t + e.delay, &mut path, &mut on_path, &mut stack);
                }
                None => {
                    let f = stack.pop().expect("the loop holds a frame");
                    on_path.remove(&(f.node, f.t));
                    path.truncate(f.sends_before);
                }
            }
        }
    }

    fn done(&self) -> bool {
        self.budget == 0 || self.found.iter().all(Option::is_some)
    }

    fn onward(&self, e: &Edge, t: i64, on_path: &HashSet<(usize, i64)>) -> bool {
        t + e.delay <= self.horizon && !on_path.contains(&(e.to, t + e.delay))
    }

    /// Steps onto `node` at time `t`: adds its sends, and weighs the path when it ends here.
    fn enter(
        &mut self,
        node: usize,
        t: i64,
        path: &mut Vec<Timed>,
        on_path: &mut HashSet<(usize, i64)>,
        stack: &mut Vec<Frame>,
    ) {
        self.budget = self.budget.saturating_sub(1);
        let cfg: &Cfg = &self.pb.cfg;
        let n = &cfg.nodes[node];
        let sends_before = path.len();
        match n.kind {
            NodeKind::Send(i) if self.pb.sends[i].touchpoint.is_one_to_one() => {
                path.push(Timed { at: t, send: i })
            }
            NodeKind::Hook {
                body,
                plant_offset: Some(off),
            } => self.hook_sends(body, t + off, path),
            _ => {}
        }
        on_path.insert((node, t));
        if !n.edges.iter().any(|e| self.onward(e, t, on_path)) {
            self.evaluate(path);
        }
        stack.push(Frame {
            node,
            t,
            sends_before,
            next_edge: 0,
        });
    }

    fn evaluate(&mut self, path: &[Timed]) {
        // Weighing a long path is work too: it counts against the budget, so
        // many long paths cannot add up to hours.
        self.budget = self.budget.saturating_sub(path.len());
        let mut sends: Vec<Timed> = path.to_vec();
        sends.sort_by_key(|s| s.at);
        for (ci, cap) in self.caps.iter().enumerate() {
            if self.found[ci].is_some() {
                continue;
            }
            let counted: Vec<&Timed> = sends
                .iter()
                .filter(|s| {
                    let site = &self.pb.sends[s.send];
                    cap.kind.is_none_or(|k| site.kind == k)
                        && cap.channel.as_ref().is_none_or(|c| *c == site.channel)
                })
                .collect();
            let n = cap.count as usize;
            for j in n..counted.len() {
                if counted[j].at - counted[j - n].at < cap.window {
                    self.found[ci] = Some(counted[j].send);
                    break;
                }
            }
        }
    }

    /// The sends a hook makes, at plant time + offset, following its body's
    /// path with the most sends.
    fn hook_sends(&mut self, body: usize, at: i64, path: &mut Vec<Timed>) {
        let cfg: &Cfg = &self.pb.cfg;
        let mut node = body;
        let mut t = at;
        for _ in 0..1000 {
            if let NodeKind::Send(i) = cfg.nodes[node].kind {
                if self.pb.sends[i].touchpoint.is_one_to_one() {
                    path.push(Timed { at: t, send: i });
                }
            }
            // Of an `if`, take the branch with more sends.
            let edges = &cfg.nodes[node].edges;
            let mut next: Option<Edge> = None;
            let mut most = 0;
            for e in edges {
                let n = self.sends_ahead(e.to);
                if next.is_none() || n >= most {
                    (next, most) = (Some(*e), n);
                }
            }
            match next {
                Some(e) => {
                    t += e.delay;
                    node = e.to;
                }
                None => return,
            }
        }
    }

    /// The most 1:1 sends on any path from `from` inside a hook body.
    /// A hook body has no jumps, so its graph has no cycle: each node is
    /// weighed once, after the nodes it leads to, and remembered (an explicit
    /// stack again, since a body may be long).
    fn sends_ahead(&mut self, from: usize) -> usize {
        let cfg: &Cfg = &self.pb.cfg;
        let mut stack = vec![(from, false)];
        while let Some((node, expanded)) = stack.pop() {
            if self.ahead[node].is_some() {
                continue;
            }
            let edges = &cfg.nodes[node].edges;
            if !expanded {
                if std::mem::replace(&mut self.open[node], true) {
                    // Met again while open: only a cycle does that, and hook
                    // bodies have none; leave it rather than loop.
                    continue;
                }
                stack.push((node, true));
                stack.extend(
                    edges
                        .iter()
                        .filter(|e| self.ahead[e.to].is_none() && !self.open[e.to])
                        .map(|e| (e.to, false)),
                );
                continue;
            }
            let here = usize::from(matches!(
                cfg.nodes[node].kind,
                NodeKind::Send(i) if self.pb.sends[i].touchpoint.is_one_to_one()
            ));
            let best = edges
                .iter()
                .map(|e| self.ahead[e.to].unwrap_or(0))
                .max()
                .unwrap_or(0);
            self.ahead[node] = Some(here + best);
        }
        self.ahead[from].unwrap_or(0)
    }
}
