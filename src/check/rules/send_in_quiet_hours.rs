//! `send-in-quiet-hours`: a schedule or `at CLOCK` resumes the flow at a time
//! of day inside quiet hours, and a send follows without any wait.

use super::SEND_IN_QUIET_HOURS;
use crate::check::cfg::NodeKind;
use crate::check::{Checked, CheckedPlaybook};
use crate::config::Quiet;
use crate::diag::Finding;
use crate::syntax::ast::TriggerKind;
use std::collections::BTreeSet;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        let mut reported = BTreeSet::new();
        // Anchors: (minute of day, what it is, the nodes the flow resumes at).
        let mut anchors: Vec<(u32, String, Vec<usize>)> = Vec::new();
        if !pb.def.steps.is_empty() {
            for m in trigger_minutes(p, pb) {
                anchors.push((m.0, m.1, vec![0]));
            }
        }
        for (id, n) in pb.cfg.nodes.iter().enumerate() {
            if let Some(m) = n.anchor {
                let start = if n.kind == NodeKind::HookEntry {
                    vec![id]
                } else {
                    n.edges.iter().map(|e| e.to).collect()
                };
                anchors.push((m, format!("the flow resumes at {}", hhmm(m)), start));
            }
        }
        for (minute, why, start) in anchors {
            for send in sends_without_wait(pb, &start) {
                if reported.contains(&send) {
                    continue;
                }
                let site = &pb.sends[send];
                if let Some(q) = quiet_union(p, pb, &site.channel)
                    .into_iter()
                    .find(|q| q.contains(minute))
                {
                    reported.insert(send);
                    out.push(
                        Finding::new(&SEND_IN_QUIET_HOURS, pb.file, site.span, format!("this send is due at {} ({why}), inside quiet hours {}..{}", hhmm(minute), hhmm(q.start), hhmm(q.end)))
                            .help("it would be deferred to the end of quiet hours, and everything after it with it; schedule it outside quiet hours"),
                    );
                }
            }
        }
    }
}

fn hhmm(m: u32) -> String {
    format!("{:02}:{:02}", m / 60, m % 60)
}

fn quiet_union(p: &Checked, pb: &CheckedPlaybook, channel: &str) -> Vec<Quiet> {
    let mut qs = Vec::new();
    if let Some(q) = &pb.def.settings.quiet {
        qs.push(Quiet {
            start: q.start.minutes,
            end: q.end.minutes,
        });
    }
    qs.extend(p.config.limits.quiet);
    if let Some(ch) = p.config.channels.get(channel) {
        if ch.touchpoint.is_message() {
            qs.extend(ch.quiet);
        } else {
            return Vec::new();
        }
    }
    qs
}

/// Times of day at which triggers start the flow.
fn trigger_minutes(p: &Checked, pb: &CheckedPlaybook) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for t in &pb.def.triggers {
        match &t.kind {
            TriggerKind::Every { cron, .. } => {
                if crate::cron::parse(&cron.value).is_err() {
                    continue;
                }
                // Every time of day it can fire at, on whatever dates it fires.
                let minutes: BTreeSet<u32> =
                    crate::cron::times_of_day(&cron.value).into_iter().collect();
                out.extend(
                    minutes
                        .into_iter()
                        .map(|m| (m, format!("the schedule \"{}\"", cron.value))),
                );
            }
            TriggerKind::Yearly { at, .. } => {
                let m = at.map(|c| c.minutes).unwrap_or(0);
                out.push((m, "the yearly trigger".into()));
            }
            TriggerKind::Enter { segment } => {
                if p.segments.get(&segment.name).is_some_and(|s| s.reads_clock) {
                    out.push((
                        0,
                        format!(
                            "`{}` reads the clock, so customers enter at local midnight",
                            segment.name
                        ),
                    ));
                }
            }
            TriggerKind::Event { .. } => {}
        }
    }
    out
}

/// Sends reachable from `start` without passing any wait (hooks are not entered).
fn sends_without_wait(pb: &CheckedPlaybook, start: &[usize]) -> Vec<usize> {
    let mut seen = vec![false; pb.cfg.nodes.len()];
    let mut stack: Vec<usize> = start.to_vec();
    let mut sends = Vec::new();
    while let Some(n) = stack.pop() {
        if std::mem::replace(&mut seen[n], true) {
            continue;
        }
        let node = &pb.cfg.nodes[n];
        if let NodeKind::Send(i) = node.kind {
            sends.push(i);
        }
        for e in &node.edges {
            if !e.any_wait {
                stack.push(e.to);
            }
        }
    }
    sends.sort();
    sends
}
