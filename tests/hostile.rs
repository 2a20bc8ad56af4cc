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
