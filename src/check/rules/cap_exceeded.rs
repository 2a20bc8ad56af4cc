//! `cap-exceeded`: some path sends more 1:1 messages in a day, week or month
//! than a playbook `cap`, `[limits]` or a channel's cap allows (docs/rules/cap-exceeded.md).

use super::CAP_EXCEEDED;
use crate::check::cfg::{Cfg, NodeKind};
use crate::check::{Checked, CheckedPlaybook, Kind};
use crate::config::Config;
use crate::diag::Finding;
use crate::syntax::ast::Period;

const DAY: i64 = 86_400;
/// Paths are followed this far: cycles are unrolled to 7 days, and a month cap looks further.
const WEEK_HORIZON: i64 = 7 * DAY;
const MONTH_HORIZON: i64 = 31 * DAY;
/// Bound on the work per playbook: beyond it, remaining paths are not explored.
const BUDGET: usize = 200_000;

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
        };
        walker.dfs(0, 0, &mut Vec::new(), &mut Vec::new());
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
    budget: usize,
    horizon: i64,
}

impl Walker<'_> {
    fn dfs(&mut self, node: usize, t: i64, path: &mut Vec<Timed>, on_path: &mut Vec<(usize, i64)>) {
        if self.budget == 0 || self.found.iter().all(Option::is_some) {
            return;
        }
        self.budget -= 1;
        let cfg: &Cfg = &self.pb.cfg;
        let n = &cfg.nodes[node];
        let before = path.len();
        match n.kind {
            NodeKind::Send(i) if self.pb.sends[i].touchpoint.is_one_to_one() => {
                path.push(Timed { at: t, send: i })
            }
            NodeKind::Hook {
                body,
                plant_offset: Some(off),
            } => hook_sends(cfg, self.pb, body, t + off, path),
            _ => {}
        }
        on_path.push((node, t));
        // A cycle that takes no time is a loop rule's business; cut it here.
        let onward: Vec<_> = n
            .edges
            .iter()
            .filter(|e| t + e.delay <= self.horizon && !on_path.contains(&(e.to, t + e.delay)))
            .copied()
            .collect();
        if onward.is_empty() {
            self.evaluate(path);
        }
        for e in onward {
            self.dfs(e.to, t + e.delay, path, on_path);
        }
        on_path.pop();
        path.truncate(before);
    }

    fn evaluate(&mut self, path: &[Timed]) {
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
}

/// The sends a hook makes, at plant time + offset, following its body's first path.
fn hook_sends(cfg: &Cfg, pb: &CheckedPlaybook, body: usize, at: i64, path: &mut Vec<Timed>) {
    let mut node = body;
    let mut t = at;
    let mut steps = 0;
    loop {
        steps += 1;
        if steps > 1000 {
            return;
        }
        if let NodeKind::Send(i) = cfg.nodes[node].kind {
            if pb.sends[i].touchpoint.is_one_to_one() {
                path.push(Timed { at: t, send: i });
            }
        }
        // Of an `if`, take the branch with more sends.
        let next = cfg.nodes[node]
            .edges
            .iter()
            .max_by_key(|e| sends_ahead(cfg, pb, e.to, 0));
        match next {
            Some(e) => {
                t += e.delay;
                node = e.to;
            }
            None => return,
        }
    }
}

fn sends_ahead(cfg: &Cfg, pb: &CheckedPlaybook, node: usize, depth: usize) -> usize {
    if depth > 64 {
        return 0;
    }
    let here = usize::from(
        matches!(cfg.nodes[node].kind, NodeKind::Send(i) if pb.sends[i].touchpoint.is_one_to_one()),
    );
    here + cfg.nodes[node]
        .edges
        .iter()
        .map(|e| sends_ahead(cfg, pb, e.to, depth + 1))
        .max()
        .unwrap_or(0)
}
