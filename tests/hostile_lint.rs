//! Hostile and unusual input to `tend lint`: each case ends in a finding or
//! a clean result, in bounded time, on a thread with a normal 2 MiB stack
//! (a recursion without a depth bound aborts the whole test binary).

use tend::project::lint_sources;
use tend::source::{SourceFile, Sources};

/// A tend.toml with one 1:1 channel and the opt-out event declared;
/// `extra` is appended (channels, limits).
fn toml(extra: &str) -> String {
    format!(
        r#"timezone = "Asia/Shanghai"

[customer]
name = "string"
orders = "int"

[events."order.paid"]
order_id = "string"

[events."contact.blocked"]

{extra}
"#
    )
}

const WECOM: &str = "[channels.wecom]\ntouchpoint = \"wecom\"\nadapter = \"console\"\n";

/// (rule, line, message) of each finding.
type Found = Vec<(String, usize, String)>;

/// Lints a tend.toml and one playbook on a thread with a 2 MiB stack.
fn lint(config: &str, playbook: &str) -> Found {
    let (config, playbook) = (config.to_string(), playbook.to_string());
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(move || {
            let mut sources = Sources::default();
            let c = sources.add(SourceFile::new("tend.toml", config));
            let p = sources.add(SourceFile::new("p.playbook", playbook));
            let linted = lint_sources(sources, c, &[p]);
            linted
                .findings
                .iter()
                .map(|f| {
                    let src = linted.sources.get(f.file);
                    (
                        f.rule.to_string(),
                        src.line_col(f.span.start).0,
                        f.message.clone(),
                    )
                })
                .collect()
        })
        .unwrap()
        .join()
        .expect("lint panicked")
}

fn rules_and_lines(found: &Found) -> Vec<(&str, usize)> {
    found.iter().map(|(r, l, _)| (r.as_str(), *l)).collect()
}

const FIVE_LINES: &str = r#"template t { text "{{ customer.name }}" }
playbook p {
  trigger event order.paid
  step s { send wecom t; wait 5m; -> s }
}
"#;

#[test]
fn a_loop_under_a_channel_cap_of_days_per_month_is_a_finding_not_a_crash() {
    let config = toml(&format!("{WECOM}cap = \"days per month\"\n"));
    let found = lint(&config, FIVE_LINES);
    assert_eq!(rules_and_lines(&found), [("cap-exceeded", 4)], "{found:?}");
    assert!(found[0].2.contains("channel `wecom`'s cap"), "{found:?}");
}

#[test]
fn a_one_minute_loop_under_limits_per_day_is_a_finding_not_a_crash() {
    let config = toml(&format!("[limits]\nper_day = 3\n\n{WECOM}"));
    let found = lint(&config, &FIVE_LINES.replace("wait 5m", "wait 1m"));
    assert_eq!(rules_and_lines(&found), [("cap-exceeded", 4)], "{found:?}");
    assert!(found[0].2.contains("per_day = 3"), "{found:?}");
}

#[test]
fn a_chain_of_20000_steps_under_limits_per_week_is_walked_without_a_crash() {
    let config = toml(&format!("[limits]\nper_week = 10\n\n{WECOM}"));
    let mut pb = String::from(
        "template t { text \"{{ customer.name }}\" }\nplaybook p {\n  trigger event order.paid\n",
    );
    for i in 0..20_000 {
        pb.push_str(&format!("  step s{i} {{ send wecom t; wait 1m }}\n"));
    }
    pb.push_str("}\n");
    let found = lint(&config, &pb);
    // The 11th send (step s10, line 14) is the first over ten a week.
    assert_eq!(rules_and_lines(&found), [("cap-exceeded", 14)], "{found:?}");
}

/// A playbook that sends one template whose text is `text`.
fn sending(text: &str) -> String {
    format!(
        "template t {{ text \"{text}\" }}\nplaybook p {{\n  trigger event order.paid\n  step s {{ send wecom t }}\n}}\n"
    )
}

#[test]
fn a_template_of_10000_chained_filters_is_a_syntax_finding() {
    // 60 KB: under the 64 KiB of a string, and 2,000 filters overflowed the stack.
    let text = format!("{{{{ customer.name{} }}}}", "|upper".repeat(10_000));
    let found = lint(&toml(WECOM), &sending(&text));
    assert_eq!(rules_and_lines(&found), [("syntax", 1)], "{found:?}");
    assert!(found[0].2.contains("too deeply nested"), "{found:?}");
}

#[test]
fn a_template_of_20000_tildes_is_a_syntax_finding() {
    let text = format!("{{{{ customer.name{} }}}}", "~ a".repeat(20_000));
    let found = lint(&toml(WECOM), &sending(&text));
    assert_eq!(rules_and_lines(&found), [("syntax", 1)], "{found:?}");
    assert!(found[0].2.contains("too deeply nested"), "{found:?}");
}

#[test]
fn a_template_tag_of_256_operators_is_read() {
    // One attribute read and 255 filters.
    let text = format!("{{{{ customer.name{} }}}}", "|upper".repeat(255));
    let found = lint(&toml(WECOM), &sending(&text));
    assert_eq!(rules_and_lines(&found), [], "{found:?}");
}

/// `n` segments, each testing the one before; a playbook enters the last.
fn segment_chain(n: usize) -> String {
    let mut pb = String::from("segment s0 = customer.orders > 1\n");
    for i in 1..n {
        pb.push_str(&format!("segment s{i} = customer in s{}\n", i - 1));
    }
    pb.push_str(&format!(
        "template t {{ text \"{{{{ customer.name }}}}\" }}\nplaybook p {{\n  trigger enter s{}\n  step a {{ send wecom t }}\n}}\n",
        n - 1
    ));
    pb
}

#[test]
fn segments_may_test_segments_64_deep() {
    let found = lint(&toml(WECOM), &segment_chain(64));
    assert_eq!(rules_and_lines(&found), [], "{found:?}");
}

#[test]
fn a_chain_of_65_segments_is_an_error_at_the_segment_that_goes_too_deep() {
    let found = lint(&toml(WECOM), &segment_chain(65));
    assert_eq!(
        rules_and_lines(&found),
        [("type-mismatch", 65)],
        "{found:?}"
    );
    assert_eq!(
        found[0].2,
        "segment `s64` tests segments 65 deep (`s64` → `s63` → `s62` → … → `s2` → `s1` → `s0`); \
         segments may test segments at most 64 deep"
    );
}

#[test]
fn a_chain_of_10000_segments_is_checked_in_linear_time() {
    let start = std::time::Instant::now();
    let found = lint(&toml(WECOM), &segment_chain(10_000));
    let took = start.elapsed();
    // Only the segment where the chain first goes too deep is reported.
    assert_eq!(
        rules_and_lines(&found),
        [("type-mismatch", 65)],
        "{found:?}"
    );
    // Quadratic checking took minutes here (44 s in a release build).
    assert!(took.as_secs() < 20, "took {took:?}");
}

#[test]
fn human_output_of_20000_findings_in_one_file_takes_linear_time() {
    let n = 20_000;
    let text = "# tend: allow(nothing)\n".repeat(n);
    let mut sources = Sources::default();
    let c = sources.add(SourceFile::new("tend.toml", toml(WECOM)));
    let p = sources.add(SourceFile::new("p.playbook", text));
    let linted = lint_sources(sources, c, &[p]);
    assert_eq!(linted.findings.len(), n);
    let findings: Vec<_> = linted
        .findings
        .iter()
        .map(|f| (&linted.sources, f))
        .collect();
    let start = std::time::Instant::now();
    let out = tend::report::render(tend::report::Format::Human, &findings, 2, false);
    let took = start.elapsed();
    // The last finding shows its own line, numbered as in the file.
    assert!(
        out.contains("[p.playbook:20000:15]\n 19999 │ # tend: allow(nothing)\n 20000 │ # tend: allow(nothing)\n"),
        "{}",
        &out[out.len() - 600..]
    );
    assert!(out.ends_with("0 errors, 20000 warnings in 2 files checked\n"));
    // Copying and scanning the whole file for each finding took minutes.
    assert!(took.as_secs() < 20, "took {took:?}");
}

#[test]
fn a_finding_with_a_label_far_away_shows_two_snippets_not_the_lines_between() {
    let filler = "# filler\n".repeat(3_000);
    let text = format!(
        "{filler}segment a = customer.orders > 1\n{filler}segment a = customer.orders > 2\n"
    );
    let mut sources = Sources::default();
    let c = sources.add(SourceFile::new("tend.toml", toml(WECOM)));
    let p = sources.add(SourceFile::new("p.playbook", text));
    let linted = lint_sources(sources, c, &[p]);
    let dup: Vec<_> = linted
        .findings
        .iter()
        .filter(|f| f.rule == "duplicate-name")
        .map(|f| (&linted.sources, f))
        .collect();
    let out = tend::report::render(tend::report::Format::Human, &dup, 2, false);
    assert!(out.contains("first declared here"), "{out}");
    assert!(out.contains("[p.playbook:6002:9]"), "{out}");
    assert!(out.lines().count() < 20, "{out}");
}

#[test]
fn quiet_hours_that_cover_the_whole_day_are_an_error_at_the_send() {
    let config = toml(&format!("[limits]\nquiet = \"21:00..09:00\"\n\n{WECOM}"));
    let pb = "template t { text \"{{ customer.name }}\" }\nplaybook p {\n  quiet 09:00..21:00\n  trigger event order.paid\n  step s { send wecom t }\n}\n";
    let found = lint(&config, pb);
    assert_eq!(rules_and_lines(&found), [("quiet-all-day", 5)], "{found:?}");
    assert_eq!(
        found[0].2,
        "quiet hours cover the whole day for this send (the playbook's 09:00..21:00 and \
         [limits] quiet 21:00..09:00): it can never be delivered"
    );
}

#[test]
fn a_4_mb_list_literal_is_a_syntax_finding_at_the_list() {
    let items = vec!["\"上海\""; 500_000].join(",");
    let pb = format!("segment s = customer.name in [{items}]\n");
    let found = lint(&toml(WECOM), &pb);
    assert_eq!(rules_and_lines(&found), [("syntax", 1)], "{found:?}");
    assert_eq!(found[0].2, "this list has more than 10000 items");
}

#[test]
fn a_20_mb_name_is_a_syntax_finding_and_a_short_report() {
    let pb = format!("segment {} = customer.orders > 1\n", "a".repeat(20 << 20));
    let mut sources = Sources::default();
    let c = sources.add(SourceFile::new("tend.toml", toml(WECOM)));
    let p = sources.add(SourceFile::new("p.playbook", pb));
    let linted = lint_sources(sources, c, &[p]);
    let findings: Vec<_> = linted
        .findings
        .iter()
        .map(|f| (&linted.sources, f))
        .collect();
    assert_eq!(findings.len(), 1);
    assert_eq!(
        findings[0].1.message,
        "this name is 20971520 bytes long; names are at most 256 bytes"
    );
    for format in [tend::report::Format::Human, tend::report::Format::Json] {
        let out = tend::report::render(format, &findings, 2, false);
        assert!(out.len() < 4096, "{} bytes", out.len());
    }
}

#[test]
fn a_string_over_64_kib_is_a_syntax_finding() {
    let found = lint(&toml(WECOM), &sending(&"好".repeat(30_000)));
    assert_eq!(rules_and_lines(&found), [("syntax", 1)], "{found:?}");
    assert_eq!(
        found[0].2,
        "this string is 90000 bytes long; strings are at most 64 KiB"
    );
}
