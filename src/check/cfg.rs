//! The control-flow graph of a playbook at the level of actions: what the
//! flow rules (loops, caps, quiet hours, reachability) walk.

use crate::syntax::ast::Span;

pub type NodeId = usize;

#[derive(Debug, Clone, PartialEq)]
pub enum NodeKind {
    /// The start of step `i`; step entries are nodes `0..steps`.
    StepEntry(usize),
    /// The end of the main flow.
    Exit,
    /// A send; the index is into the playbook's `sends`.
    Send(usize),
    /// A hook: its body starts at `body` (not an edge: hooks run beside the flow).
    Hook {
        body: NodeId,
        plant_offset: Option<i64>,
    },
    /// The start of a hook body.
    HookEntry,
    /// `wait for`, whether it has `within`.
    WaitFor { within: bool },
    /// Any other action (wait, tag, set, grant, task, if, split, jump, end).
    Other,
}

/// An edge and what crossing it costs: minimum elapsed seconds, and whether it
/// passes a wait that breaks a loop (`wait D`, `wait for`, `wait until next …`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub to: NodeId,
    pub delay: i64,
    pub waits: bool,
    /// Passes any wait at all (for quiet-hour anchors: a wait moves the clock).
    pub any_wait: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub kind: NodeKind,
    pub span: Span,
    pub edges: Vec<Edge>,
    pub in_hook: bool,
    /// A time of day the flow resumes at right after this node (minutes), from `at CLOCK` / `next`.
    pub anchor: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cfg {
    pub nodes: Vec<Node>,
    pub steps: usize,
}

/// A pending edge out of an earlier node, waiting for the node that follows.
#[derive(Debug, Clone, Copy)]
pub struct Pending {
    pub from: NodeId,
    pub delay: i64,
    pub waits: bool,
    pub any_wait: bool,
}

impl Pending {
    pub fn plain(from: NodeId) -> Self {
        Pending {
            from,
            delay: 0,
            waits: false,
            any_wait: false,
        }
    }
}

impl Cfg {
    pub fn new(steps: usize, step_spans: &[Span]) -> Self {
        let mut nodes: Vec<Node> = (0..steps)
            .map(|i| Node {
                kind: NodeKind::StepEntry(i),
                span: step_spans[i],
                edges: Vec::new(),
                in_hook: false,
                anchor: None,
            })
            .collect();
        nodes.push(Node {
            kind: NodeKind::Exit,
            span: Span::default(),
            edges: Vec::new(),
            in_hook: false,
            anchor: None,
        });
        Cfg { nodes, steps }
    }

    pub fn exit(&self) -> NodeId {
        self.steps
    }

    /// Adds a node and connects the pending edges to it.
    pub fn add(
        &mut self,
        kind: NodeKind,
        span: Span,
        in_hook: bool,
        pending: &[Pending],
    ) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            kind,
            span,
            edges: Vec::new(),
            in_hook,
            anchor: None,
        });
        self.connect(pending, id);
        id
    }

    pub fn connect(&mut self, pending: &[Pending], to: NodeId) {
        for p in pending {
            self.nodes[p.from].edges.push(Edge {
                to,
                delay: p.delay,
                waits: p.waits,
                any_wait: p.any_wait,
            });
        }
    }

    /// Nodes reachable from the first step along main-flow edges.
    pub fn reachable(&self) -> Vec<bool> {
        let mut seen = vec![false; self.nodes.len()];
        if self.steps == 0 {
            return seen;
        }
        let mut stack = vec![0];
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut seen[n], true) {
                continue;
            }
            for e in &self.nodes[n].edges {
                stack.push(e.to);
            }
            if let NodeKind::Hook { body, .. } = self.nodes[n].kind {
                stack.push(body);
            }
        }
        seen
    }
}
