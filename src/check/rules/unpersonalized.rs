//! `unpersonalized`: a 1:1 text that reads no customer data and has no variants.

use super::UNPERSONALIZED;
use crate::check::Checked;
use crate::diag::Finding;
use crate::source::FileId;
use crate::syntax::ast::Span;
use std::collections::BTreeMap;

const PERSONAL: [&str; 4] = ["customer", "event", "received", "coupon"];

fn is_personal(var: &str) -> bool {
    PERSONAL.contains(&var.split('.').next().unwrap_or(""))
}

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    // Per template: sent 1:1 at least once, and whether every 1:1 site personalises through `with`.
    let mut sent: BTreeMap<&str, bool> = BTreeMap::new();
    for pb in &p.playbooks {
        for s in pb.sends.iter().filter(|s| s.touchpoint.is_one_to_one()) {
            match (&s.template, &s.inline) {
                (Some(name), _) => {
                    let Some(t) = p.templates.get(name) else {
                        continue;
                    };
                    let with_personal = t
                        .variables()
                        .any(|(v, _)| s.personal_with.contains(v.split('.').next().unwrap_or("")));
                    let e = sent.entry(name.as_str()).or_insert(true);
                    *e &= with_personal;
                }
                (None, Some(w)) => {
                    let personal = w.variables.iter().any(|(v, _)| {
                        is_personal(v)
                            || s.personal_with.contains(v.split('.').next().unwrap_or(""))
                    });
                    if !personal {
                        report(out, pb.file, w.span, "this text");
                    }
                }
                _ => {}
            }
        }
    }
    for (name, with_personal_everywhere) in sent {
        let t = &p.templates[name];
        // A template that failed to compile was reported as a syntax error already.
        if t.wordings.is_empty()
            || t.has_variants()
            || with_personal_everywhere
            || t.variables().any(|(v, _)| is_personal(v))
        {
            continue;
        }
        report(out, t.file, t.name_span, &format!("template `{name}`"));
    }
}

fn report(out: &mut Vec<Finding>, file: FileId, span: Span, what: &str) {
    out.push(
        Finding::new(&UNPERSONALIZED, file, span, format!("{what} is sent 1:1 but reads no customer data and has no variants"))
            .help("the same text to everyone at a fixed minute reads like a bot; use `{{ customer.name }}` or the event's data, or add a `variant` with other wording"),
    );
}
