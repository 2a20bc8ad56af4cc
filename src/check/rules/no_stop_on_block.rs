//! `no-stop-on-block`: 1:1 messages, but no declared opt-out event, so the
//! project can never learn that a customer blocked or complained.

use super::NO_STOP_ON_BLOCK;
use crate::check::Checked;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    if p.config.declared_opt_outs().next().is_some() {
        return;
    }
    for pb in &p.playbooks {
        if let Some(s) = pb
            .sends
            .iter()
            .filter(|s| s.touchpoint.is_one_to_one())
            .min_by_key(|s| s.span.start)
        {
            out.push(
                Finding::new(&NO_STOP_ON_BLOCK, pb.file, s.span, "this playbook messages customers 1:1, but the project cannot hear that someone blocked or complained")
                    .help("declare the opt-out events in tend.toml, e.g. [events.\"contact.blocked\"] and [events.\"contact.complained\"], and feed them to tend; such customers then leave every playbook and are never messaged again"),
            );
        }
    }
}
