//! `wait-without-exit`: a `wait for` without `within` can wait forever.

use super::WAIT_WITHOUT_EXIT;
use crate::check::cfg::NodeKind;
use crate::check::Checked;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        for n in &pb.cfg.nodes {
            if n.kind == (NodeKind::WaitFor { within: false }) {
                out.push(
                    Finding::new(&WAIT_WITHOUT_EXIT, pb.file, n.span, "this `wait for` has no `within`, so a customer who never does it waits forever")
                        .help("add `within D` and `else -> STEP` for those who don't, such as `within 2h else -> invite_personal`"),
                );
            }
        }
    }
}
