//! `text-too-long`: a text whose fixed wording alone, the literal text outside
//! `{{ }}`, `{% %}` and `{# #}`, is longer than the `max_length` of a channel
//! it is sent on. Every such send would be skipped at run time.

use super::TEXT_TOO_LONG;
use crate::check::templates::Wording;
use crate::check::Checked;
use crate::diag::Finding;

pub fn check(p: &Checked, out: &mut Vec<Finding>) {
    for pb in &p.playbooks {
        for s in &pb.sends {
            let Some(ch) = p.config.channels.get(&s.channel) else {
                continue;
            };
            let max = ch.max_length();
            let (what, wordings): (String, Vec<&Wording>) = match (&s.template, &s.inline) {
                (Some(name), _) => match p.templates.get(name) {
                    Some(t) => (format!("template `{name}`"), t.wordings.iter().collect()),
                    None => continue,
                },
                (None, Some(w)) => ("this text".to_string(), vec![w]),
                _ => continue,
            };
            let longest = wordings
                .iter()
                .map(|w| max.measure(&literal(&w.source)))
                .max()
                .unwrap_or(0);
            if longest <= max.limit as usize {
                continue;
            }
            let unit = max.unit();
            out.push(
                Finding::new(
                    &TEXT_TOO_LONG,
                    pb.file,
                    s.span,
                    format!(
                        "{what} has {longest} {unit} of fixed wording, over the {} {unit} channel `{}` takes",
                        max.limit, s.channel
                    ),
                )
                .help(format!(
                    "every such send is skipped (render-error); shorten the text, or set a larger `max_length` under [channels.{}] if the channel takes it",
                    s.channel
                )),
            );
        }
    }
}

/// The literal text of a template: everything outside `{{ }}`, `{% %}` and
/// `{# #}` (all branches of an `if` count), trimmed as a render is.
pub fn literal(src: &str) -> String {
    let mut out = String::with_capacity(src.len());
    let mut rest = src;
    while let Some(open) = rest.find('{') {
        let close = match rest[open + 1..].chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                out.push_str(&rest[..open + 1]);
                rest = &rest[open + 1..];
                continue;
            }
        };
        out.push_str(&rest[..open]);
        match rest[open + 2..].find(close) {
            Some(end) => rest = &rest[open + 2 + end + 2..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::literal;

    #[test]
    fn literal_text_leaves_out_tags_and_comments() {
        assert_eq!(
            literal("  {{ customer.name }}您好，{% if x %}猫{% else %}狗{% endif %}{# 注 #}～{a} "),
            "您好，猫狗～{a}"
        );
        assert_eq!(literal("{{ unclosed"), "");
    }
}
