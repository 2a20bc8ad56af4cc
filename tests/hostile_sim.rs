//! The simulator on hostile and unusual input: values at the edges of their
//! range, heavy templates, long segment chains, cron across a skipped day.
//! Each run ends in exact deliveries and records, never a panic or a hang.

use tend::sim::{input, Outcome};
use tend::source::{SourceFile, Sources};

const TOML: &str = r#"timezone = "Asia/Shanghai"
opt_out_events = ["contact.blocked"]
opt_in_events = ["contact.readded"]

[customer]
name = "string"
orders = "int"
tags = "list<string>"
birthday = "date?"
seen = "datetime?"
pet = { name = "string?", kind = "string?" }

[events."order.paid"]

[events."contact.blocked"]

[events."contact.readded"]

[channels.wecom]
touchpoint = "wecom"
adapter = "console"

[channels.sms]
touchpoint = "sms"
adapter = "console"

[channels.moments]
touchpoint = "moments"
adapter = "console"
"#;

/// A checked program; it lives to the end of the test (outcomes borrow its names).
fn program(toml: &str, playbook: &str) -> &'static tend::program::Program {
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", toml));
    let pb = sources.add(SourceFile::new("p.playbook", playbook));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    let errors: Vec<_> = linted.errors().map(|f| f.message.clone()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    Box::leak(Box::new(linted.program().unwrap()))
}

fn utc(s: &str) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(s)
        .unwrap()
        .with_timezone(&chrono::Utc)
}

/// Runs [from, from + days) with these sample files (TOML forms).
fn run(
    toml: &str,
    playbook: &str,
    customers: &str,
    events: &str,
    from: &str,
    days: i64,
) -> Outcome {
    let program = program(toml, playbook);
    let schema = &program.policy.schema;
    let cs = input::customers(&SourceFile::new("customers.toml", customers), schema).unwrap();
    let es = input::events(&SourceFile::new("events.toml", events), schema).unwrap();
    let from = utc(from);
    tend::sim::simulate(program, &cs, &es, from, from + chrono::Duration::days(days))
}

/// One customer `c1` named 林小雨 with these extra attribute lines.
fn customer(extra: &str) -> String {
    format!("[[customer]]\nid = \"c1\"\nname = \"林小雨\"\norders = 1\ntags = []\n{extra}\n")
}

fn event(name: &str, at: &str) -> String {
    format!("[[event]]\nname = \"{name}\"\ncustomer = \"c1\"\nat = {at}\n\n")
}

/// (Shanghai time, channel, text) of each delivery.
fn sends(o: &Outcome) -> Vec<(String, String, String)> {
    o.sends
        .iter()
        .map(|d| {
            (
                d.at.with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%m-%d %H:%M")
                    .to_string(),
                d.channel.to_string(),
                d.text.clone().unwrap_or_default(),
            )
        })
        .collect()
}

/// (kind, detail) of each record.
fn records(o: &Outcome) -> Vec<(String, String)> {
    o.records
        .iter()
        .map(|r| (r.kind.name().to_string(), r.detail.to_string()))
        .collect()
}

fn s(at: &str, ch: &str, text: &str) -> (String, String, String) {
    (at.into(), ch.into(), text.into())
}

#[test]
fn an_opt_in_that_took_effect_is_not_unconsumed() {
    let pb = "template t { text \"{{ customer.name }}您好\" }\nplaybook p {\n  reenter always\n  trigger event order.paid\n  step a { send wecom t }\n}\n";
    let events = event("contact.blocked", "2026-12-01T09:00:00+08:00")
        + &event("contact.readded", "2026-12-01T09:30:00+08:00")
        + &event("order.paid", "2026-12-01T10:00:00+08:00")
        // Not opted out any more: this one changes nothing, and says so.
        + &event("contact.readded", "2026-12-01T11:00:00+08:00");
    let o = run(
        TOML,
        pb,
        &customer(""),
        &events,
        "2026-12-01T00:00:00+08:00",
        1,
    );
    assert_eq!(sends(&o), [s("12-01 10:00", "wecom", "林小雨您好")]);
    let kinds: Vec<(String, String)> = records(&o);
    assert_eq!(
        kinds,
        [
            ("entered".to_string(), String::new()),
            ("finished".into(), String::new()),
            ("unconsumed".into(), "contact.readded".into()),
        ]
    );
}

/// (local time in `zone` with its offset, channel, text) of each delivery.
fn sends_in(o: &Outcome, zone: chrono_tz::Tz) -> Vec<(String, String)> {
    o.sends
        .iter()
        .map(|d| {
            (
                d.at.with_timezone(&zone)
                    .format("%m-%d %H:%M%z")
                    .to_string(),
                d.text.clone().unwrap_or_default(),
            )
        })
        .collect()
}

#[test]
fn a_daily_cron_goes_on_after_a_civil_day_the_zone_skipped() {
    // Pacific/Apia went from 2011-12-29 23:59:59 (-10:00) to 2011-12-31
    // 00:00 (+14:00): 30 December never happened there. Its 10:00 fire
    // falls in that gap and runs at the first instant after it.
    let pb = r#"
playbook daily {
  timezone "Pacific/Apia"
  trigger every "0 10 * * *"
  step s { send moments "早安" }
}
"#;
    let o = run(TOML, pb, "", "", "2011-12-28T00:00:00-10:00", 5);
    let apia = |at: &str| (at.to_string(), "早安".to_string());
    assert_eq!(
        sends_in(&o, chrono_tz::Pacific::Apia),
        [
            apia("12-28 10:00-1000"),
            apia("12-29 10:00-1000"),
            apia("12-31 00:00+1400"),
            apia("12-31 10:00+1400"),
            apia("01-01 10:00+1400"),
            apia("01-02 10:00+1400"),
        ]
    );
}

/// A value of each required type; optional attributes are left out, and so
/// are the optional fields of tables.
fn required_only(record: &tend::types::Record) -> tend::value::Fields {
    use tend::types::Type;
    use tend::value::Value;
    fn sample(ty: &Type) -> Value {
        match ty {
            Type::String => Value::str("样例"),
            Type::Int => Value::Int(2),
            Type::Float => Value::Float(9.5),
            Type::Bool => Value::Bool(true),
            Type::Date => Value::Date(chrono::NaiveDate::from_ymd_opt(2020, 5, 20).unwrap()),
            Type::DateTime => Value::DateTime(utc("2026-11-20T10:00:00+08:00")),
            Type::Duration => Value::Duration {
                days: 1,
                seconds: 0,
            },
            Type::Clock => Value::Clock(600),
            Type::List(t) => Value::List(vec![sample(t)].into()),
            Type::EmptyList => Value::List(Vec::new().into()),
            Type::Record(r) => Value::Record(required_only(r)),
        }
    }
    record
        .iter()
        .filter(|(_, f)| !f.optional)
        .map(|(k, f)| (k.as_str(), sample(&f.ty)))
        .collect()
}

/// A text and the `with` values of its send.
type Sent = (
    std::sync::Arc<str>,
    Vec<(tend::value::Sym, tend::program::Expr)>,
);

/// Every text the program sends or assigns (template wordings, inline texts,
/// task texts), with the `with` values and the coupons granted anywhere.
fn texts(b: &[tend::program::Action], out: &mut Vec<Sent>, coupons: &mut Vec<tend::value::Sym>) {
    use tend::program::{Action, Text};
    for a in b {
        match a {
            Action::Send(s) => {
                let with: Vec<_> = s.with.to_vec();
                match &s.text {
                    Text::Named(t) => {
                        for w in &t.wordings {
                            out.push((w.source.clone(), with.clone()));
                        }
                    }
                    Text::Inline(src) => out.push((src.clone(), with)),
                }
            }
            Action::Task { text, .. } => out.push((text.clone(), Vec::new())),
            Action::Grant { coupon, .. } => coupons.push(*coupon),
            Action::If {
                then, otherwise, ..
            } => {
                texts(then, out, coupons);
                texts(otherwise.as_deref().unwrap_or_default(), out, coupons);
            }
            Action::Hook { body, .. } => texts(body, out, coupons),
            _ => {}
        }
    }
}

#[test]
fn every_example_text_renders_with_every_optional_attribute_absent() {
    use tend::value::{Fields, Value};
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let targets = tend::project::targets(&[root]).unwrap();
    let program = tend::project::lint(&targets[0]).unwrap().program().unwrap();
    let schema = &program.policy.schema;
    let customer = required_only(&schema.customer);
    // Every field any event carries, for `event.*` and `received.*`.
    let mut payload = tend::types::Record::new();
    for fields in schema.events.values() {
        payload.extend(fields.clone());
    }
    let event = Value::Record(required_only(&payload));
    let (mut all, mut granted) = (Vec::new(), Vec::new());
    for pb in &program.playbooks {
        for step in &pb.steps {
            texts(&step.body, &mut all, &mut granted);
        }
    }
    let now = utc("2026-12-01T10:00:00+08:00");
    let coupon: Fields = granted
        .into_iter()
        .map(|id| {
            let c: Fields = [
                ("expires_at", Value::DateTime(now)),
                ("granted_at", Value::DateTime(now)),
                ("worth", Value::Float(10.0)),
            ]
            .into_iter()
            .collect();
            (id, Value::Record(c))
        })
        .collect();
    let engine_texts = tend::engine::text::Texts::new(program.playbooks.iter().map(|p| &**p));
    let zone = chrono_tz::Asia::Shanghai;
    assert!(all.len() > 20, "{}", all.len());
    let mut rendered = Vec::new();
    for (source, with) in &all {
        let env = tend::engine::eval::Env {
            customer: &customer,
            id: "c1",
            event: &event,
            received: &event,
            coupons: &coupon,
            now,
            zone,
            customer_zone: zone,
        };
        let with = with
            .iter()
            .map(|(k, e)| (*k, tend::engine::eval::eval(e, &env).unwrap()))
            .collect();
        let scope = tend::engine::text::Scope {
            customer: &customer,
            id: "c1",
            event: &event,
            received: &event,
            coupon: &coupon,
            now,
            with,
        };
        let max = tend::config::MaxLength::of(tend::config::Touchpoint::Email, None);
        match engine_texts.render(source, &scope, zone, (max, "email")) {
            Ok(text) => rendered.push(text),
            Err(e) => panic!("{e}\nin {source}"),
        }
    }
    // pet_care's fallback for a pet without a name, and win_back's.
    assert!(rendered
        .iter()
        .any(|t| t.starts_with("样例，毛孩子的生日快到啦🎂")));
    assert!(rendered
        .iter()
        .any(|t| t.contains("家里的毛孩子最近还好吗？")));
}

#[test]
fn a_render_has_a_budget_of_steps_and_output() {
    let pb = r#"
template loops {
  text "{% for a in customer.tags %}{% for b in customer.tags %}{% for c in customer.tags %}{% for d in customer.tags %}{% if a == d and b == c and a == \"-\" %}!{% endif %}{% endfor %}{% endfor %}{% endfor %}{% endfor %}"
}
template repeated { text "{{ customer.name * 100000000 }}" }
template fine { text "{{ customer.name }}，后面的消息照常" }
playbook p {
  trigger event order.paid
  step a {
    send wecom loops
    send wecom repeated
    send wecom fine
  }
}
"#;
    let tags: Vec<String> = (0..300).map(|i| format!("\"t{i}\"")).collect();
    let customers = format!(
        "[[customer]]\nid = \"c1\"\nname = \"a\"\norders = 1\ntags = [{}]\n",
        tags.join(", ")
    );
    let started = std::time::Instant::now();
    let o = run(
        TOML,
        pb,
        &customers,
        &event("order.paid", "2026-12-01T10:00:00+08:00"),
        "2026-12-01T00:00:00+08:00",
        1,
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(sends(&o), [s("12-01 10:00", "wecom", "a，后面的消息照常")]);
    let errors: Vec<String> = records(&o)
        .into_iter()
        .filter(|r| r.0 == "render-error")
        .map(|r| r.1)
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with("the template takes more than 100000 steps to render"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("the text is longer than 8096 bytes"),
        "{}",
        errors[1]
    );
}

#[test]
fn a_text_longer_than_its_channel_takes_is_not_sent() {
    // WeCom takes 4,000 bytes and SMS 500 characters by default; a channel's
    // `max_length` says otherwise.
    let toml = TOML.replace(
        "[channels.moments]",
        "[channels.short]\ntouchpoint = \"email\"\nadapter = \"console\"\nmax_length = 12\n\n[channels.moments]",
    );
    let pb = r#"
template name { text "{{ customer.name }}" }
playbook p {
  trigger event order.paid
  step a {
    send wecom name
    send sms name
    send short name
  }
}
"#;
    let customer = |id: &str, name: &str| {
        format!("[[customer]]\nid = \"{id}\"\nname = \"{name}\"\norders = 1\ntags = []\n\n")
    };
    let at_limit = "猫".repeat(500); // 1,500 bytes, 500 characters
    let customers = customer("c1", &"a".repeat(4000))
        + &customer("c2", &"a".repeat(4001))
        + &customer("c3", &at_limit)
        + &customer("c4", &"猫".repeat(501))
        + &customer("c5", "林小雨");
    let events: String = ["c1", "c2", "c3", "c4", "c5"]
        .iter()
        .map(|c| {
            format!("[[event]]\nname = \"order.paid\"\ncustomer = \"{c}\"\nat = 2026-12-01T10:00:00+08:00\n\n")
        })
        .collect();
    let o = run(
        &toml,
        pb,
        &customers,
        &events,
        "2026-12-01T00:00:00+08:00",
        1,
    );
    let sent: Vec<(String, String)> = o
        .sends
        .iter()
        .map(|d| {
            (
                d.customer.as_deref().unwrap().to_string(),
                d.channel.to_string(),
            )
        })
        .collect();
    let pair = |c: &str, ch: &str| (c.to_string(), ch.to_string());
    assert_eq!(
        sent,
        [
            pair("c1", "wecom"),
            pair("c3", "wecom"),
            pair("c3", "sms"),
            pair("c4", "wecom"),
            pair("c5", "wecom"),
            pair("c5", "sms"),
            pair("c5", "short"),
        ]
    );
    let errors: Vec<(String, String)> = o
        .records
        .iter()
        .filter(|r| r.kind.name() == "render-error")
        .map(|r| {
            (
                r.customer.as_deref().unwrap().to_string(),
                r.detail.to_string(),
            )
        })
        .collect();
    let error = |c: &str, d: &str| (c.to_string(), d.to_string());
    assert_eq!(
        errors,
        [
            error("c1", "the text is 4000 characters, over the 500 characters channel sms takes (max_length)"),
            error("c1", "the text is 4000 bytes, over the 12 bytes channel short takes (max_length)"),
            error("c2", "the text is 4001 bytes, over the 4000 bytes channel wecom takes (max_length)"),
            error("c2", "the text is 4001 characters, over the 500 characters channel sms takes (max_length)"),
            error("c2", "the text is 4001 bytes, over the 12 bytes channel short takes (max_length)"),
            error("c3", "the text is 1500 bytes, over the 12 bytes channel short takes (max_length)"),
            error("c4", "the text is 501 characters, over the 500 characters channel sms takes (max_length)"),
            error("c4", "the text is 1503 bytes, over the 12 bytes channel short takes (max_length)"),
        ]
    );
}

/// (customer, kind, detail) of the records of these kinds.
fn records_of(o: &Outcome, kinds: &[&str]) -> Vec<(String, String, String)> {
    o.records
        .iter()
        .filter(|r| kinds.contains(&r.kind.name()))
        .map(|r| {
            (
                r.customer.as_deref().unwrap_or_default().to_string(),
                r.kind.name().to_string(),
                r.detail.to_string(),
            )
        })
        .collect()
}

const RANGE: &str =
    "is out of range (dates and times run from the year 1 to 9999, whole numbers and durations to 64 bits)";

fn failed(c: &str, detail: &str) -> (String, String, String) {
    (c.into(), "failed".into(), format!("{detail} {RANGE}"))
}

#[test]
fn date_arithmetic_out_of_range_fails_the_enrollment_instead_of_panicking() {
    let pb = r#"
template t { text "{{ customer.name }}：{{ customer.seen }}" }
playbook p {
  trigger event order.paid
  step s {
    set customer.seen = now + 1d * customer.orders
    send wecom t
  }
}
"#;
    let customers = "[[customer]]\nid = \"c1\"\nname = \"a\"\norders = 1000000000\ntags = []\n\n\
                     [[customer]]\nid = \"c2\"\nname = \"b\"\norders = 9223372036854775807\ntags = []\n\n\
                     [[customer]]\nid = \"c3\"\nname = \"c\"\norders = 2\ntags = []\n";
    let events: String = ["c1", "c2", "c3"]
        .iter()
        .map(|c| {
            format!("[[event]]\nname = \"order.paid\"\ncustomer = \"{c}\"\nat = 2026-12-01T10:00:00+08:00\n\n")
        })
        .collect();
    let o = run(TOML, pb, customers, &events, "2026-12-01T00:00:00+08:00", 1);
    assert_eq!(
        sends(&o),
        [s("12-01 10:00", "wecom", "c：2026-12-03 10:00")]
    );
    assert_eq!(
        records_of(&o, &["failed", "finished"]),
        [
            failed("c1", "step s: `now + 1d * customer.orders`"),
            failed("c2", "step s: `now + 1d * customer.orders`"),
            ("c3".into(), "finished".into(), String::new()),
        ]
    );
}

#[test]
fn a_date_pushed_out_of_range_in_a_loop_fails_where_it_leaves_the_range() {
    // 100000 weeks are about 1917 years: from 2000 the fifth step passes 9999.
    let pb = r#"
playbook p {
  trigger event order.paid
  step s {
    set customer.birthday = customer.birthday + 100000w
    wait 1d
    -> s
  }
}
"#;
    let o = run(
        TOML,
        pb,
        &customer("birthday = 2000-01-01"),
        &event("order.paid", "2026-12-01T10:00:00+08:00"),
        "2026-12-01T00:00:00+08:00",
        10,
    );
    let failures: Vec<(String, String)> = o
        .records
        .iter()
        .filter(|r| r.kind.name() == "failed")
        .map(|r| {
            (
                r.at.with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%m-%d %H:%M")
                    .to_string(),
                r.detail.to_string(),
            )
        })
        .collect();
    assert_eq!(
        failures,
        [(
            "12-05 10:00".to_string(),
            format!("step s: `customer.birthday + 100000w` {RANGE}")
        )]
    );
}

#[test]
fn a_time_point_or_sum_out_of_range_fails_and_a_trigger_condition_is_recorded() {
    let terms = vec!["100000w"; 140].join(" + ");
    let pb = format!(
        r#"
playbook early {{
  trigger event order.paid if customer.orders == 1
  step s {{
    wait until customer.birthday - 1000d
    send wecom "{{{{ customer.name }}}}"
  }}
}}
playbook far {{
  trigger event order.paid if customer.orders == 1
  step s {{
    set customer.seen = now + {terms}
  }}
}}
playbook guarded {{
  trigger event order.paid if customer.birthday + 1d * customer.orders > customer.birthday
  step s {{ send wecom "{{{{ customer.name }}}}" }}
}}
"#
    );
    let customers = "[[customer]]\nid = \"c1\"\nname = \"a\"\norders = 1\ntags = []\nbirthday = 0001-01-01\n\n\
                     [[customer]]\nid = \"c2\"\nname = \"b\"\norders = 9223372036854775807\ntags = []\nbirthday = 2000-01-01\n";
    let events = event("order.paid", "2026-12-01T10:00:00+08:00")
        + &event("order.paid", "2026-12-01T10:00:00+08:00").replace("c1", "c2");
    let o = run(
        TOML,
        &pb,
        customers,
        &events,
        "2026-12-01T00:00:00+08:00",
        1,
    );
    let five = ["100000w"; 5].join(" + ");
    assert_eq!(
        records_of(&o, &["failed", "unconsumed"]),
        [
            failed("c1", "step s: `customer.birthday - 1000d`"),
            failed("c1", &format!("step s: `now + {five}`")),
            failed(
                "c2",
                "trigger event order.paid if customer.birthday + 1d * customer.orders > customer.birthday: `customer.birthday + 1d * customer.orders`"
            ),
        ]
    );
    // c1's `guarded` trigger holds (one day after 0001-01-01 is in range).
    assert_eq!(sends(&o), [s("12-01 10:00", "wecom", "a")]);
}

#[test]
fn long_segment_chains_evaluate_to_what_they_say() {
    // A chain of 64 segments (s63 uses s62 … uses s0), one of 35 (s34), and
    // 41 that each use the one before twice (2^40 evaluations, were each use
    // evaluated anew).
    let mut pb =
        String::from("segment s0 = customer.orders > 1\nsegment d0 = customer.orders > 1\n");
    for i in 1..64 {
        pb += &format!("segment s{i} = customer in s{}\n", i - 1);
    }
    for i in 1..=40 {
        pb += &format!(
            "segment d{i} = customer in d{0} and customer in d{0}\n",
            i - 1
        );
    }
    for (name, seg) in [("chain34", "s34"), ("chain64", "s63"), ("diamond40", "d40")] {
        pb += &format!(
            "playbook {name} {{\n  trigger event order.paid if customer in {seg}\n  step a {{ send wecom \"{{{{ customer.name }}}} {name}\" }}\n}}\n"
        );
    }
    let customers = "[[customer]]\nid = \"c1\"\nname = \"a\"\norders = 5\ntags = []\n\n\
                     [[customer]]\nid = \"c2\"\nname = \"b\"\norders = 1\ntags = []\n";
    let events = event("order.paid", "2026-12-01T10:00:00+08:00")
        + &event("order.paid", "2026-12-01T10:00:00+08:00").replace("c1", "c2");
    let started = std::time::Instant::now();
    let o = run(
        TOML,
        &pb,
        customers,
        &events,
        "2026-12-01T00:00:00+08:00",
        1,
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(
        sends(&o),
        [
            s("12-01 10:00", "wecom", "a chain34"),
            s("12-01 10:00", "wecom", "a chain64"),
            s("12-01 10:00", "wecom", "a diamond40"),
        ]
    );
}

#[test]
fn a_long_history_costs_in_proportion_to_its_length() {
    // One customer paying every 20 seconds: each order enrolls anew and sends
    // once, and a monthly cap counts every send. Counting the whole history
    // again at each send made this quadratic (40,000 sends: minutes).
    let toml = TOML.replace(
        "[channels.sms]",
        "[limits]\nper_month = 100000\n\n[channels.sms]",
    );
    let pb = "playbook p {\n  reenter always\n  trigger event order.paid\n  step a { send wecom \"{{ customer.name }}，收到\" }\n}\n";
    let n = 40_000;
    let program = program(&toml, pb);
    let customers = input::customers(
        &SourceFile::new("customers.toml", customer("")),
        &program.policy.schema,
    )
    .unwrap();
    let from = utc("2026-12-01T00:00:00+08:00");
    let events: Vec<input::SampleEvent> = (0..n)
        .map(|i| input::SampleEvent {
            customer: "c1".into(),
            line: i + 1,
            at: from + chrono::Duration::seconds(20 * i as i64),
            event: tend::intake::Event {
                name: tend::value::Sym::new("order.paid"),
                data: Default::default(),
                attributes: Default::default(),
            },
        })
        .collect();
    let started = std::time::Instant::now();
    let o = tend::sim::simulate(
        program,
        &customers,
        &events,
        from,
        from + chrono::Duration::days(10),
    );
    let took = started.elapsed();
    assert_eq!(o.tally.deliveries, n);
    assert!(took < std::time::Duration::from_secs(20), "{took:?}");
}
