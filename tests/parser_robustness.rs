//! The parser never panics and every error points inside the input, on
//! arbitrary text and on mutations of real playbooks (the fuzz target in
//! fuzz/ runs the same property for longer).

use proptest::prelude::*;

fn check(text: &str) {
    if let Err(e) = tend::syntax::parse(text) {
        assert!(e.span.start <= e.span.end, "span {:?} is reversed", e.span);
        assert!(
            e.span.end <= text.len(),
            "span {:?} is past the end ({})",
            e.span,
            text.len()
        );
        assert!(
            text.is_char_boundary(e.span.start),
            "span {:?} starts inside a character",
            e.span
        );
        assert!(!e.message.is_empty() && !e.help.is_empty());
        assert!(
            !e.message.contains("Rule::") && !e.message.contains("positives"),
            "pest internals leak: {}",
            e.message
        );
    }
}

fn seeds() -> Vec<String> {
    let mut out = Vec::new();
    for dir in [
        "playbooks",
        "tests/lint/syntax",
        "tests/lint/cap-exceeded",
        "tests/lint/unknown-field",
    ] {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        let Ok(entries) = std::fs::read_dir(path) else {
            continue;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "playbook"))
            .collect();
        files.sort();
        out.extend(files.iter().map(|f| std::fs::read_to_string(f).unwrap()));
    }
    out.push("playbook p {\n  trigger event order.paid if event.seq == 1\n  step a {\n    send wecom hi with { x = 1 }\n    wait for message.replied within 2h else -> a\n  }\n}\n".into());
    out
}

const PIECES: &[&str] = &[
    "\"",
    "\"\"\"",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "\n",
    ";",
    "->",
    "..",
    "#",
    "\\",
    "\\u{",
    "沉默客户",
    "é",
    "\u{301}",
    "2026-02-30",
    "25:00",
    "1d12h",
    "50%",
    "0",
    "00",
    "wait",
    "for",
    "within",
    "else",
    "if",
    "not in",
    "step",
    "hook",
    "at",
    "next",
    "wed",
    "==",
    "=",
    "-",
    "+",
    " ",
    "\t",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
        check(&text);
    }

    #[test]
    fn token_soup_never_panics(parts in prop::collection::vec(prop::sample::select(PIECES), 0..60)) {
        check(&parts.concat());
    }

    #[test]
    fn mutated_playbooks_never_panic(seed in 0usize..1000, at in 0usize..10_000, cut in 0usize..40, piece in prop::sample::select(PIECES)) {
        let seeds = seeds();
        let s = &seeds[seed % seeds.len()];
        let mut at = at % (s.len() + 1);
        while !s.is_char_boundary(at) { at -= 1; }
        let mut end = (at + cut).min(s.len());
        while !s.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{}{}", &s[..at], piece, &s[end.max(at)..]);
        check(&mutated);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    // Runs on the test thread's small stack on purpose.
    for text in [
        format!("segment s = {}1{}", "(".repeat(3000), ")".repeat(3000)),
        format!("segment s = {}1", "-".repeat(5000)),
        format!("segment s = {}1", "not ".repeat(5000)),
        format!("segment s = {}1 > 0", "1+".repeat(50_000)),
        format!("playbook p {{ step a {{ {} }} }}", "if true { ".repeat(500)),
    ] {
        let e = tend::syntax::parse(&text).unwrap_err();
        assert!(
            e.message.contains("nested") || e.message.contains("operators"),
            "{}",
            e.message
        );
    }
}

#[test]
fn the_whole_checker_survives_the_largest_accepted_expression() {
    let text = format!(
        "segment s = {}1 > 0
",
        "1+".repeat(250)
    );
    tend::syntax::parse(&text).unwrap();
}
