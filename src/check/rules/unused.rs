//! `unused-segment` and `unused-template`: declared, never referenced.

use super::{UNUSED_SEGMENT, UNUSED_TEMPLATE};
use crate::check::Checked;
use crate::diag::Finding;
use std::collections::BTreeSet;

pub fn check(
    p: &Checked,
    used_segments: &BTreeSet<String>,
    used_templates: &BTreeSet<String>,
    out: &mut Vec<Finding>,
) {
    for (name, s) in &p.segments {
        if !used_segments.contains(name) {
            out.push(
                Finding::new(&UNUSED_SEGMENT, s.file, s.def.name.span, format!("segment `{name}` is never used"))
                    .help("use it in a trigger (`trigger enter …`, `every … for …`) or a condition (`customer in …`), or remove it"),
            );
        }
    }
    for (name, t) in &p.templates {
        if !used_templates.contains(name) {
            out.push(
                Finding::new(
                    &UNUSED_TEMPLATE,
                    t.file,
                    t.name_span,
                    format!("template `{name}` is never sent"),
                )
                .help("send it from a step (`send CHANNEL …`), or remove it"),
            );
        }
    }
}
