//! `promo-in-sharing-group`: a promo sent to a group whose purpose is sharing.

use super::PROMO_IN_SHARING_GROUP;
use crate::check::{Checked, Kind};
use crate::config::Touchpoint;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        for s in &pb.sends {
            if s.kind == Kind::Promo && s.sharing && s.touchpoint == Touchpoint::Group {
                let name = s.template.as_deref().unwrap_or("this text");
                out.push(
                    Finding::new(&PROMO_IN_SHARING_GROUP, pb.file, s.span, format!("the promo `{name}` goes to `{}`, a sharing group", s.channel))
                        .help("members joined to share, not to be sold to; send care or content there, and promos 1:1 or to a deals group"),
                );
            }
        }
    }
}
