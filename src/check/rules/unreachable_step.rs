//! `unreachable-step`: a step no path reaches from the first step.
//! (An action after `->`, `end` or `split` in its block is reported while checking the flow.)

use super::UNREACHABLE_STEP;
use crate::check::Checked;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        let seen = pb.cfg.reachable();
        for (i, step) in pb.def.steps.iter().enumerate() {
            if !seen[i] {
                out.push(
                    Finding::new(&UNREACHABLE_STEP, pb.file, step.name.span, format!("no path reaches step `{}`", step.name.name))
                        .help("steps run in file order after the first; reach it by falling through, `-> STEP`, `else -> STEP` or a split arm, or remove it"),
                );
            }
        }
    }
}
