//! Syntax errors for the mistakes people make most, each with the help that
//! fits it rather than a generic one.

fn error(text: &str) -> (String, String) {
    let e = tend::syntax::parse(text).expect_err(text);
    (e.message, e.help)
}

const HEAD: &str = "playbook p {\n  trigger event order.paid\n  step s {\n";

fn in_step(line: &str) -> (String, String) {
    error(&format!("{HEAD}    {line}\n  }}\n}}\n"))
}

#[test]
fn full_width_characters_are_named_with_their_ascii_twin() {
    for (line, ch, twin) in [
        ("if customer.orders > 1 ｛ send wecom hi }", "｛", "`{`"),
        ("send wecom hi with （ a = 1 )", "（", "`(`"),
        ("wait ５d", "５", "`5`"),
    ] {
        let (message, help) = in_step(line);
        assert!(message.contains(ch), "{line}: {message}");
        assert!(message.contains(twin), "{line}: {message}");
        assert!(message.contains("full-width"), "{line}: {message}");
        assert!(help.contains("English"), "{line}: {help}");
    }
    // A full-width space is named by its code point, so it can be seen.
    let (message, _) =
        in_step("if customer.orders > 1 and　customer.personal_added { send wecom hi }");
    assert!(message.contains("U+3000"), "{message}");
    let (message, _) = in_step("jump → s");
    assert!(message.contains("`->`"), "{message}");
}

#[test]
fn operators_from_other_languages_get_tends_word() {
    let (m, h) = in_step("if customer.orders > 1 && customer.personal_added { send wecom hi }");
    assert!(m.contains("`&&`") && h.contains("`and`"), "{m} / {h}");
    let (m, h) = in_step("if customer.orders > 1 || customer.personal_added { send wecom hi }");
    assert!(m.contains("`||`") && h.contains("`or`"), "{m} / {h}");
    let (m, h) = in_step("if customer.tags contains \"vip\" { send wecom hi }");
    assert!(
        m.contains("`contains`") && h.contains("in customer.tags"),
        "{m} / {h}"
    );
}

#[test]
fn a_wait_with_a_duration_and_a_clock_shows_the_until_form() {
    let (m, h) = in_step("wait 25d at 10:00");
    assert!(m.contains("not both"), "{m}");
    assert!(h.contains("wait until now + 25d at …"), "{h}");
}

#[test]
fn an_ascii_quote_inside_chinese_text_is_named() {
    let (m, h) = in_step("send wecom \"您好，\"小林\"，欢迎\"");
    assert!(m.contains("ASCII `\"`"), "{m}");
    assert!(h.contains("“ ”"), "{h}");
}

fn quiet(setting: &str) -> Result<(), (String, String, usize)> {
    let text = format!("playbook p {{\n  {setting}\n  trigger event order.paid\n  step s {{ send wecom \"{{{{ customer.name }}}}，你好\" }}\n}}\n");
    match tend::syntax::parse(&text) {
        Ok(_) => Ok(()),
        Err(e) => Err((
            e.message,
            e.help,
            e.span.start - text.find(setting).unwrap(),
        )),
    }
}

#[test]
fn quiet_hours_take_both_forms_and_a_mistake_is_pointed_at() {
    assert!(quiet("quiet 22:00..08:30").is_ok());
    assert!(
        quiet("quiet \"22:00..08:30\"").is_ok(),
        "the quoted form tend.toml uses"
    );
    for (setting, says) in [
        ("quiet 23:00-08:00", "not `-`"),
        ("quiet 23:00～08:00", "not `～`"),
        ("quiet 23:00 到 08:00", "not `到`"),
    ] {
        let (message, help, at) = quiet(setting).unwrap_err();
        assert!(message.contains(says), "{setting}: {message}");
        assert!(help.contains("`quiet 22:00..08:30`"), "{setting}: {help}");
        assert_eq!(
            at,
            "quiet ".len(),
            "{setting}: at the value, not at `quiet`"
        );
    }
    let (message, _, at) = quiet("quiet 25:00..08:00").unwrap_err();
    assert!(message.contains("25:00"), "{message}");
    assert_eq!(at, "quiet ".len());
}

#[test]
fn a_mistake_inside_a_statement_shows_how_that_statement_is_written() {
    for (line, shape) in [
        ("send wecom hi extra", "`send CHANNEL TEMPLATE`"),
        ("send wecom hi, again", "`send CHANNEL TEMPLATE`"),
        (
            "if customer.orders > 2 then send wecom hi",
            "`if EXPR { … }",
        ),
        (
            "wait for message.replied within 2h else s",
            "`wait for EVENT",
        ),
        ("tag customer \"vip\"", "`tag add \"x\""),
        (
            "grant new10 worth 10",
            "`grant coupon ID worth N valid DURATION`",
        ),
    ] {
        let (_, help) = in_step(line);
        assert!(help.contains(shape), "{line}: {help}");
        assert!(!help.contains("language reference"), "{line}: {help}");
    }
    // A word that starts no statement lists the ones a step holds.
    let (_, help) = in_step("goto s");
    assert!(help.contains("`-> STEP` (go to a step)"), "{help}");
    // A header setting too.
    let (_, help) = error("playbook p {\n  reenter sometimes\n  trigger event order.paid\n  step s {\n    end\n  }\n}\n");
    assert!(help.contains("`reenter after"), "{help}");
    let (_, help) = error("playbook p {\n  trigger event order.paid\n  goal order.paid within 7d\n  step s {\n    end\n  }\n}\n");
    assert!(help.contains("`goal event NAME"), "{help}");
}
