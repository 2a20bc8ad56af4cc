//! `hook-after-expiry`: a hook anchored on a coupon's expiry that fires after
//! the coupon expired (or at the grant itself).

use super::HOOK_AFTER_EXPIRY;
use crate::check::Checked;
use crate::diag::Finding;
use crate::syntax::ast::{Action, ActionKind, Block, TimeBase, TimeExpr};

const DAY: i64 = 86_400;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        let mut hooks = Vec::new();
        let mut grants = Vec::new();
        for s in &pb.def.steps {
            collect(&s.body, &mut hooks, &mut grants);
        }
        for h in hooks {
            let ActionKind::Hook {
                at:
                    TimeExpr::Point {
                        base: TimeBase::Path(path),
                        offsets,
                        at,
                        ..
                    },
                name,
                ..
            } = &h.kind
            else {
                continue;
            };
            if path.segments.len() != 3
                || path.root() != "coupon"
                || path.segments[2] != "expires_at"
            {
                continue;
            }
            let id = &path.segments[1];
            let delta: i64 = offsets.iter().map(|(s, d)| s * d.approx_seconds()).sum();
            let valid = grants
                .iter()
                .filter(|(c, _)| c == id)
                .map(|(_, v)| *v)
                .min();
            let why = if at.is_none() && delta >= 0 {
                Some("it fires at or after the expiry".to_string())
            } else if at.is_some() && delta > -DAY {
                Some(
                    "with `at`, it can land later on the expiry day, after the coupon expired"
                        .to_string(),
                )
            } else if valid.is_some_and(|v| v <= -delta) {
                Some("the coupon is not valid that long, so it would fire at the grant".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                out.push(
                    Finding::new(&HOOK_AFTER_EXPIRY, pb.file, h.span, format!("hook `{}` reminds about coupon `{id}` too late: {why}", name.name))
                        .help(format!("remind before it expires, such as `hook {} at coupon.{id}.expires_at - {}`", name.name, lead(valid))),
                );
            }
        }
    }
}

/// A reminder lead that fits the coupon's validity (seconds; `None`: not
/// granted in this playbook): whole days at a set hour for long coupons,
/// hours for short ones, so the suggestion itself is never flagged.
fn lead(valid: Option<i64>) -> String {
    match valid {
        None => "3d at 10:00".into(),
        Some(v) if v >= 4 * DAY => "3d at 10:00".into(),
        Some(v) if v >= 2 * DAY => "1d at 10:00".into(),
        Some(v) if v >= 6 * 3600 => "3h".into(),
        Some(v) => format!("{}m", (v / 120).max(1)),
    }
}

fn collect<'a>(block: &'a Block, hooks: &mut Vec<&'a Action>, grants: &mut Vec<(String, i64)>) {
    for a in block {
        match &a.kind {
            ActionKind::Hook { body, .. } => {
                hooks.push(a);
                collect(body, hooks, grants);
            }
            ActionKind::Grant { coupon, valid, .. } => {
                grants.push((coupon.name.clone(), valid.approx_seconds()))
            }
            ActionKind::If {
                then, otherwise, ..
            } => {
                collect(then, hooks, grants);
                if let Some(o) = otherwise {
                    collect(o, hooks, grants);
                }
            }
            _ => {}
        }
    }
}
