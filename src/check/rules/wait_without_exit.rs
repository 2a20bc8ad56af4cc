//! `wait-without-exit`: a `wait for` without `within` can wait forever.

use super::WAIT_WITHOUT_EXIT;
use crate::check::cfg::NodeKind;
use crate::check::Checked;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        for n in &pb.cfg.nodes {
            if n.kind == (NodeKind::WaitFor { within: false }) {
                // Name a step of this playbook: the one after the wait's, else another.
                let steps = &pb.def.steps;
                let here = steps
                    .iter()
                    .position(|s| s.span.start <= n.span.start && n.span.end <= s.span.end);
                let other = here.and_then(|i| steps.get(i + 1)).or_else(|| {
                    steps
                        .iter()
                        .enumerate()
                        .find(|(i, _)| Some(*i) != here)
                        .map(|x| x.1)
                });
                let example = match other {
                    Some(s) => format!("such as `within 2d else -> {}`", s.name.name),
                    None => {
                        "such as `within 2d else -> follow_up`, with a step `follow_up` for them"
                            .into()
                    }
                };
                out.push(
                    Finding::new(&WAIT_WITHOUT_EXIT, pb.file, n.span, "this `wait for` has no `within`, so a customer who never does it waits forever")
                        .help(format!("add `within D` and `else -> STEP` for those who don't, {example}")),
                );
            }
        }
    }
}
