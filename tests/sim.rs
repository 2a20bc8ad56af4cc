//! The simulator with exact expected deliveries and local times.

use tend::sim::input;
use tend::source::{SourceFile, Sources};

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"
tags = "list<string>"
orders = "int"
personal_added = "bool"
timezone = "string?"

[events."order.paid"]
order_id = "string"

[events."message.replied"]
text = "string"

[events."parcel.in_city"]
city = "string"

[events."order.refunded"]

[events."contact.blocked"]

[channels.wecom]
touchpoint = "wecom"
adapter = "console"

[channels.personal]
touchpoint = "personal"
adapter = "console"
requires = "customer.personal_added"
"#;

const TEMPLATES: &str = r#"
template hi {
  text "{{ customer.name }}您好，订单 {{ event.order_id }} 已收到"
}
template again {
  text "{{ customer.name }}，再次问候"
}
template promo {
  kind promo
  text "{{ customer.name }}，限时优惠"
}
"#;

/// (local time, customer, channel, template, deferred_from local time, reason)
type Row = (
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);

struct Run {
    rows: Vec<Row>,
    outcome: tend::sim::Outcome,
}

/// A checked project (TEMPLATES and the playbook under `toml`) and its sample
/// input. Outcomes borrow names from the program, so it lives to the end of the test.
fn project(
    toml: &str,
    playbook: &str,
    customers: &str,
    events: &str,
) -> (
    &'static tend::program::Program,
    Vec<input::SampleCustomer>,
    Vec<input::SampleEvent>,
) {
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", toml));
    let pb = sources.add(SourceFile::new(
        "p.playbook",
        format!("{TEMPLATES}\n{playbook}"),
    ));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    let errors: Vec<_> = linted
        .findings
        .iter()
        .filter(|f| f.severity == tend::diag::Severity::Error)
        .map(|f| f.message.clone())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let program: &'static tend::program::Program = Box::leak(Box::new(linted.program().unwrap()));
    // Every version can be rebuilt from its stored text, as a runner does.
    let config = &linted.checked.as_ref().unwrap().config;
    for pb in &program.playbooks {
        let back = tend::program::version::rebuild(config, &pb.text).unwrap();
        assert_eq!(format!("{:?}", back.steps), format!("{:?}", pb.steps));
    }
    let schema = &program.policy.schema;
    let cs = input::customers(&SourceFile::new("customers.toml", customers), schema).unwrap();
    let es = input::events(&SourceFile::new("events.toml", events), schema).unwrap();
    (program, cs, es)
}

fn sim_with(
    toml: &str,
    playbook: &str,
    customers: &str,
    events: &str,
    from: &str,
    days: i64,
) -> Run {
    let (program, cs, es) = project(toml, playbook, customers, events);
    let from = chrono::DateTime::parse_from_rfc3339(from)
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until = from + chrono::Duration::days(days);
    let outcome = tend::sim::simulate(program, &cs, &es, from, until);
    // The same run with every customer's state written out and read back
    // between engine calls, as a runner stores it: the report is the same.
    let stored = tend::sim::simulate_with(
        program,
        &cs,
        &es,
        &tend::sim::Options {
            roundtrip: true,
            ..tend::sim::Options::new(from, until)
        },
    );
    assert_eq!(
        tend::sim::report::json(&stored, chrono_tz::Asia::Shanghai),
        tend::sim::report::json(&outcome, chrono_tz::Asia::Shanghai),
        "a run whose state is stored between engine calls reports the same"
    );
    let zone = |c: Option<&str>| {
        c.and_then(|c| outcome.zones.get(c))
            .copied()
            .unwrap_or(chrono_tz::Asia::Shanghai)
    };
    let fmt = |t: chrono::DateTime<chrono::Utc>, c: Option<&str>| {
        t.with_timezone(&zone(c)).format("%m-%d %H:%M").to_string()
    };
    let rows = outcome
        .sends
        .iter()
        .map(|s| {
            (
                fmt(s.at, s.customer.as_deref()),
                s.customer.as_deref().unwrap_or_default().to_string(),
                s.channel.to_string(),
                s.template.as_deref().unwrap_or_default().to_string(),
                s.deferred_from.map(|t| fmt(t, s.customer.as_deref())),
                s.reason.map(|r| r.name().to_string()),
            )
        })
        .collect();
    Run { rows, outcome }
}

/// Customers `k0`… with a first order each at 2026-12-01 10:00.
fn numbered(n: usize) -> (String, String) {
    let mut customers = String::new();
    let mut events = String::new();
    for i in 0..n {
        customers += &format!("[[customer]]\nid = \"k{i}\"\nname = \"n{i}\"\ntags = []\norders = 0\npersonal_added = true\n");
        events += &paid(&format!("k{i}"), "2026-12-01T10:00:00+08:00");
    }
    (customers, events)
}

/// `numbered(n)` customers, each paying at 2026-12-01 10:00, over `days` days.
fn sim_numbered(playbook: &str, n: usize, days: i64) -> Run {
    let (customers, events) = numbered(n);
    sim_with(
        TOML,
        playbook,
        &customers,
        &events,
        "2026-12-01T00:00:00+08:00",
        days,
    )
}

fn sim(playbook: &str, events: &str) -> Run {
    sim_with(
        TOML,
        playbook,
        CUSTOMERS,
        events,
        "2026-12-01T00:00:00+08:00",
        14,
    )
}

const CUSTOMERS: &str = r#"
[[customer]]
id = "c1"
name = "林小雨"
tags = []
orders = 0
personal_added = true

[[customer]]
id = "c2"
name = "王姐"
tags = []
orders = 0
personal_added = false
"#;

/// The rendered text of every send, in order.
fn sent_texts(r: &Run) -> Vec<String> {
    r.outcome
        .sends
        .iter()
        .filter_map(|s| s.text.clone())
        .collect()
}

fn paid(customer: &str, at: &str) -> String {
    format!("[[event]]\nname = \"order.paid\"\ncustomer = \"{customer}\"\nat = {at}\ndata = {{ order_id = \"A1\" }}\n\n")
}

fn event(name: &str, customer: &str, at: &str, data: &str) -> String {
    format!("[[event]]\nname = \"{name}\"\ncustomer = \"{customer}\"\nat = {at}\ndata = {{ {data} }}\n\n")
}

fn row(at: &str, c: &str, ch: &str, t: &str) -> Row {
    (at.into(), c.into(), ch.into(), t.into(), None, None)
}

fn deferred(at: &str, c: &str, ch: &str, t: &str, from: &str, reason: &str) -> Row {
    (
        at.into(),
        c.into(),
        ch.into(),
        t.into(),
        Some(from.into()),
        Some(reason.into()),
    )
}

#[test]
fn a_send_due_in_quiet_hours_waits_for_their_end_and_the_flow_with_it() {
    let r = sim(
        "playbook p {\n  quiet 21:30..09:00\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1h\n    send wecom again\n  }\n}\n",
        &paid("c1", "2026-12-01T21:50:00+08:00"),
    );
    assert_eq!(
        r.rows,
        vec![
            deferred("12-02 09:00", "c1", "wecom", "hi", "12-01 21:50", "quiet"),
            row("12-02 10:00", "c1", "wecom", "again")
        ]
    );
    assert!(r
        .outcome
        .records
        .iter()
        .any(|x| x.kind.name() == "deferred" && x.detail.to_string().starts_with("quiet")));
}

#[test]
fn a_daily_cap_defers_to_the_next_local_day() {
    let r = sim("playbook p {\n  cap 2 per day\n  trigger event order.paid\n  step a {\n    send wecom hi\n    send wecom again\n    send wecom hi\n  }\n}\n", &paid("c1", "2026-12-01T10:00:00+08:00"));
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-01 10:00", "c1", "wecom", "again"),
            deferred("12-02 00:00", "c1", "wecom", "hi", "12-01 10:00", "cap")
        ]
    );
}

#[test]
fn a_weekly_drop_cap_drops_and_the_flow_goes_on() {
    let r = sim(
        "playbook p {\n  cap 1 per week promo drop\n  trigger event order.paid\n  step a {\n    send wecom promo\n    wait 1d\n    send wecom promo\n    send wecom again\n  }\n}\n",
        &paid("c1", "2026-12-01T10:00:00+08:00"),
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "promo"),
            row("12-02 10:00", "c1", "wecom", "again")
        ]
    );
    assert!(r.outcome.records.iter().any(|x| x.kind.name() == "dropped"));
}

#[test]
fn limits_count_across_playbooks_in_the_customer_zone() {
    let toml = TOML.replace("[customer]", "[limits]\nper_day = 3\n\n[customer]");
    let pb = "playbook a {\n  trigger event order.paid\n  step s {\n    send wecom hi\n    send wecom again\n  }\n}\nplaybook b {\n  trigger event order.paid\n  step s {\n    send wecom hi\n    send wecom again\n  }\n}\n";
    let r = sim_with(
        &toml,
        pb,
        CUSTOMERS,
        &paid("c1", "2026-12-01T10:00:00+08:00"),
        "2026-12-01T00:00:00+08:00",
        3,
    );
    // Playbook a runs first (name order); b's second send waits for the next day.
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-01 10:00", "c1", "wecom", "again"),
            row("12-01 10:00", "c1", "wecom", "hi"),
            deferred("12-02 00:00", "c1", "wecom", "again", "12-01 10:00", "cap")
        ]
    );
}

#[test]
fn wait_for_continues_on_the_event_or_jumps_on_timeout() {
    let pb = "playbook p {\n  trigger event order.paid\n  step ask {\n    send wecom hi\n    wait for message.replied within 2h else -> nudge\n    send wecom again\n    end\n  }\n  step nudge {\n    send wecom promo\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &event(
            "message.replied",
            "c1",
            "2026-12-01T10:30:00+08:00",
            "text = \"是\"",
        )
        + &paid("c2", "2026-12-01T10:00:00+08:00");
    let r = sim(pb, &events);
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-01 10:00", "c2", "wecom", "hi"),
            row("12-01 10:30", "c1", "wecom", "again"),
            row("12-01 12:00", "c2", "wecom", "promo")
        ]
    );
    let f = &r.outcome.playbooks[0];
    assert_eq!(
        (f.entered, f.steps[0].reached, f.steps[1].reached),
        (2, 2, 1)
    );
}

#[test]
fn since_entry_accepts_an_event_that_came_earlier() {
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    wait 1d\n    wait for parcel.in_city since entry within 7d\n    send wecom again\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &event(
            "parcel.in_city",
            "c1",
            "2026-12-01T15:00:00+08:00",
            "city = \"杭州\"",
        );
    assert_eq!(
        sim(pb, &events).rows,
        vec![row("12-02 10:00", "c1", "wecom", "again")]
    );
}

#[test]
fn a_goal_cancels_pending_hooks_and_converts() {
    let pb = "playbook p {\n  trigger event order.paid\n  goal event message.replied within 3d\n  step a {\n    send wecom hi\n    hook later at now + 2d {\n      send wecom again\n    }\n    wait 5d\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &event(
            "message.replied",
            "c1",
            "2026-12-02T10:00:00+08:00",
            "text = \"好\"",
        );
    let r = sim(pb, &events);
    assert_eq!(r.rows, vec![row("12-01 10:00", "c1", "wecom", "hi")]);
    assert_eq!(r.outcome.playbooks[0].goal, 1);
    assert!(r
        .outcome
        .records
        .iter()
        .any(|x| x.kind.name() == "hook-cancelled"));
}

#[test]
fn a_hook_fires_beside_the_main_flow() {
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    grant coupon new10 worth 10 valid 30d\n    hook remind at coupon.new10.expires_at - 3d at 10:00 {\n      send wecom again\n    }\n    send wecom hi\n  }\n}\n";
    let r = sim_with(
        TOML,
        pb,
        CUSTOMERS,
        &paid("c1", "2026-12-01T15:00:00+08:00"),
        "2026-12-01T00:00:00+08:00",
        40,
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-01 15:00", "c1", "coupons", "new10"),
            row("12-01 15:00", "c1", "wecom", "hi"),
            row("12-28 10:00", "c1", "wecom", "again")
        ]
    );
}

#[test]
fn stop_ends_the_enrollment_and_opt_out_silences_everything() {
    let pb = "playbook p {\n  trigger event order.paid\n  stop event order.refunded\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &event("order.refunded", "c1", "2026-12-01T12:00:00+08:00", "")
        + &paid("c2", "2026-12-01T10:00:00+08:00")
        + &event("contact.blocked", "c2", "2026-12-01T12:00:00+08:00", "")
        + &paid("c2", "2026-12-03T10:00:00+08:00");
    let r = sim(pb, &events);
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-01 10:00", "c2", "wecom", "hi")
        ]
    );
    assert_eq!(r.outcome.playbooks[0].stopped, 2);
}

#[test]
fn reenter_never_ignores_and_after_allows_again() {
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &paid("c1", "2026-12-03T10:00:00+08:00")
        + &paid("c1", "2026-12-09T10:00:00+08:00");
    let never = sim(
        "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n  }\n}\n",
        &events,
    );
    assert_eq!(never.rows.len(), 1);
    let after = sim("playbook p {\n  reenter after 7d\n  trigger event order.paid\n  step a {\n    send wecom hi\n  }\n}\n", &events);
    assert_eq!(
        after.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-09 10:00", "c1", "wecom", "hi")
        ]
    );
}

#[test]
fn requires_skips_customers_who_never_added_the_account() {
    let pb =
        "playbook p {\n  trigger event order.paid\n  step a {\n    send personal again\n  }\n}\n";
    let r = sim(
        pb,
        &(paid("c1", "2026-12-01T10:00:00+08:00") + &paid("c2", "2026-12-01T10:00:00+08:00")),
    );
    assert_eq!(r.rows, vec![row("12-01 10:00", "c1", "personal", "again")]);
    assert!(r
        .outcome
        .records
        .iter()
        .any(|x| x.kind.name() == "unreachable" && x.customer.as_deref() == Some("c2")));
}

#[test]
fn next_weekday_clock_waits_for_that_moment() {
    // 2026-12-01 is a Tuesday.
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    wait until next wed 20:00\n    send wecom again\n  }\n}\n";
    assert_eq!(
        sim(pb, &paid("c1", "2026-12-01T10:00:00+08:00")).rows,
        vec![row("12-02 20:00", "c1", "wecom", "again")]
    );
}

#[test]
fn a_day_across_new_york_spring_forward_lands_at_the_same_local_time() {
    let customers = "[[customer]]\nid = \"ny\"\nname = \"Lisa\"\ntags = []\norders = 0\npersonal_added = true\ntimezone = \"America/New_York\"\n";
    let pb = "playbook p {\n  timezone customer\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n  }\n}\n";
    let r = sim_with(
        TOML,
        pb,
        customers,
        &paid("ny", "2027-03-13T10:00:00-05:00"),
        "2027-03-13T00:00:00-05:00",
        3,
    );
    assert_eq!(
        r.rows,
        vec![
            row("03-13 10:00", "ny", "wecom", "hi"),
            row("03-14 10:00", "ny", "wecom", "again")
        ]
    );
}

#[test]
fn variants_and_splits_are_stable_per_customer() {
    let pb = "template v {\n  text \"{{ customer.name }} A\"\n  variant b \"{{ customer.name }} B\"\n}\nplaybook p {\n  trigger event order.paid\n  step a {\n    send wecom v\n    split { 50% -> x, 50% -> y }\n  }\n  step x {\n    send wecom hi\n    end\n  }\n  step y {\n    send wecom again\n  }\n}\n";
    let first = sim_numbered(pb, 40, 2);
    let second = sim_numbered(pb, 40, 2);
    assert_eq!(first.rows, second.rows);
    for s in first
        .outcome
        .sends
        .iter()
        .filter(|s| s.template.as_deref() == Some("v"))
    {
        let c = s.customer.clone().unwrap();
        let want = if tend::engine::bucket::variant_index(&c, "v", 2) == 0 {
            None
        } else {
            Some("b".to_string())
        };
        assert_eq!(s.variant.as_deref(), want.as_deref(), "{c}");
        assert!(s
            .text
            .as_ref()
            .unwrap()
            .ends_with(if want.is_none() { " A" } else { " B" }));
    }
    let arm_x = first.rows.iter().filter(|r| r.3 == "hi").count();
    let expected_x = (0..40)
        .filter(|i| {
            tend::engine::bucket::split_arm(&format!("k{i}"), "p", "a", 0, &[5000, 5000]) == 0
        })
        .count();
    assert_eq!(arm_x, expected_x);
    assert!(arm_x > 5 && arm_x < 35);
}

#[test]
fn holdout_enrolls_without_messaging() {
    let pb = "playbook p {\n  holdout 50%\n  trigger event order.paid\n  step a {\n    send wecom hi\n  }\n}\n";
    let r = sim_numbered(pb, 40, 2);
    let held = (0..40)
        .filter(|i| tend::engine::bucket::held_out(&format!("k{i}"), "p", 5000))
        .count();
    assert_eq!(r.outcome.playbooks[0].holdout, held);
    assert_eq!(r.outcome.playbooks[0].entered, 40);
    assert_eq!(r.rows.len(), 40 - held);
}

#[test]
fn every_delivery_carries_a_stable_distinct_key() {
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n    send wecom hi\n  }\n}\n";
    let a = sim(pb, &paid("c1", "2026-12-01T10:00:00+08:00"));
    let b = sim(pb, &paid("c1", "2026-12-01T10:00:00+08:00"));
    let keys: Vec<_> = a.outcome.sends.iter().map(|s| s.key()).collect();
    assert_eq!(keys.len(), 2);
    assert_ne!(keys[0], keys[1]);
    assert_eq!(
        keys,
        b.outcome.sends.iter().map(|s| s.key()).collect::<Vec<_>>()
    );
}

fn with_dates(toml: &str) -> String {
    toml.replace(
        "timezone = \"string?\"",
        "timezone = \"string?\"\nlast_active_at = \"datetime?\"\nbirthday = \"date?\"",
    )
    .replace(
        "[channels.wecom]",
        "[channels.moments]\ntouchpoint = \"moments\"\nadapter = \"console\"\n\n[channels.wecom]",
    )
}

#[test]
fn a_cron_broadcast_posts_once_per_fire_with_no_customer() {
    let pb = "playbook daily {\n  trigger every \"30 12 * * *\"\n  trigger every \"0 20 * * WED\"\n  step post {\n    send moments \"今天的养宠小知识\"\n  }\n}\n";
    let r = sim_with(
        &with_dates(TOML),
        pb,
        CUSTOMERS,
        "",
        "2026-12-01T00:00:00+08:00",
        3,
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-01 12:30", "", "moments", ""),
            row("12-02 12:30", "", "moments", ""),
            row("12-02 20:00", "", "moments", ""),
            row("12-03 12:30", "", "moments", "")
        ]
    );
    assert_eq!(r.outcome.playbooks[0].entered, 4);
}

#[test]
fn every_for_a_segment_enrolls_each_member_at_each_fire() {
    let pb = "segment buyers = customer.orders > 0\nplaybook weekly {\n  trigger every \"0 10 * * MON\" for buyers\n  step s {\n    send wecom again\n  }\n}\n";
    let customers = CUSTOMERS.replacen("orders = 0", "orders = 2", 1);
    // 2026-12-07 and 12-14 are Mondays; only c1 is a buyer. `every` re-enters by default.
    let r = sim_with(
        &with_dates(TOML),
        pb,
        &customers,
        "",
        "2026-12-01T00:00:00+08:00",
        14,
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-07 10:00", "c1", "wecom", "again"),
            row("12-14 10:00", "c1", "wecom", "again")
        ]
    );
}

#[test]
fn a_yearly_trigger_fires_days_before_the_anniversary_at_its_clock() {
    let pb = "playbook birthday {\n  trigger yearly customer.birthday - 3d at 10:00\n  step s {\n    send wecom again\n  }\n}\n";
    let customers = CUSTOMERS
        .replacen(
            "personal_added = true",
            "personal_added = true\nbirthday = 1990-12-05",
            1,
        )
        .replacen(
            "personal_added = false",
            "personal_added = false\nbirthday = 1988-01-02",
            1,
        );
    let r = sim_with(
        &with_dates(TOML),
        pb,
        &customers,
        "",
        "2026-12-01T00:00:00+08:00",
        40,
    );
    // c2's 2 January birthday fires on 30 December of the year before.
    assert_eq!(
        r.rows,
        vec![
            row("12-02 10:00", "c1", "wecom", "again"),
            row("12-30 10:00", "c2", "wecom", "again")
        ]
    );
}

#[test]
fn enter_fires_on_becoming_a_member_at_local_midnight_not_for_members_at_start() {
    let pb = "segment silent = days_since(customer.last_active_at) > 30\nplaybook win_back {\n  trigger enter silent\n  step s {\n    wait until next 10:30\n    send wecom again\n  }\n}\n";
    let customers = CUSTOMERS
        .replacen(
            "personal_added = true",
            "personal_added = true\nlast_active_at = 2026-11-01T09:00:00+08:00",
            1,
        )
        .replacen(
            "personal_added = false",
            "personal_added = false\nlast_active_at = 2026-10-01T09:00:00+08:00",
            1,
        );
    let r = sim_with(
        &with_dates(TOML),
        pb,
        &customers,
        "",
        "2026-12-01T00:00:00+08:00",
        5,
    );
    // c1 passes 30 days at midnight into 12-02; c2 was already silent at the start.
    assert_eq!(r.rows, vec![row("12-02 10:30", "c1", "wecom", "again")]);
}

#[test]
fn enter_fires_when_an_event_changes_an_attribute() {
    let pb = "segment buyers = customer.orders > 0\nplaybook welcome {\n  trigger enter buyers\n  step s {\n    send wecom again\n  }\n}\n";
    let events = "[[event]]\nname = \"customer.updated\"\ncustomer = \"c2\"\nat = 2026-12-02T11:00:00+08:00\nattributes = { orders = 1 }\n";
    let r = sim_with(
        &with_dates(TOML),
        pb,
        CUSTOMERS,
        events,
        "2026-12-01T00:00:00+08:00",
        5,
    );
    assert_eq!(r.rows, vec![row("12-02 11:00", "c2", "wecom", "again")]);
}

#[test]
fn a_behaviour_model_answers_waits_with_seeded_draws() {
    let pb = "playbook p {\n  trigger event order.paid\n  step ask {\n    send wecom hi\n    wait for message.replied within 2h else -> nudge\n    send wecom again\n    end\n  }\n  step nudge {\n    send wecom promo\n  }\n}\n";
    let (customers, events) = numbered(200);
    let (program, cs, es) = project(TOML, pb, &customers, &events);
    let assume = "[[assume]]\nevent = \"message.replied\"\nstep = \"ask\"\nprobability = \"50%\"\nwithin = \"30m\"\n";
    let model = |seed| {
        tend::sim::assume::Behaviour::load(&SourceFile::new("assume.toml", assume), program, seed)
            .unwrap()
    };
    let from = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until = from + chrono::Duration::days(2);
    let run = |seed, threads| {
        let model = model(seed);
        let opts = tend::sim::Options {
            threads,
            behaviour: Some(&model),
            ..tend::sim::Options::new(from, until)
        };
        tend::sim::simulate_with(program, &cs, &es, &opts)
    };
    let a = run(1, 1);
    let replied = a
        .sends
        .iter()
        .filter(|s| s.template.as_deref() == Some("again"))
        .count();
    let nudged = a
        .sends
        .iter()
        .filter(|s| s.template.as_deref() == Some("promo"))
        .count();
    assert_eq!(replied + nudged, 200);
    assert!(
        (70..130).contains(&replied),
        "{replied} of 200 replied at 50%"
    );
    // Answers come within the assumed 30 minutes, never before the question.
    for s in a
        .sends
        .iter()
        .filter(|s| s.template.as_deref() == Some("again"))
    {
        let minutes = (s.at
            - chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00+08:00")
                .unwrap()
                .with_timezone(&chrono::Utc))
        .num_minutes();
        assert!((0..=30).contains(&minutes), "{minutes}");
    }
    // Same seed, same result, on any number of threads; another seed differs.
    let b = run(1, 2);
    assert_eq!(
        a.sends.iter().map(|s| (s.key(), s.at)).collect::<Vec<_>>(),
        b.sends.iter().map(|s| (s.key(), s.at)).collect::<Vec<_>>()
    );
    let c = run(2, 1);
    assert_ne!(
        a.sends.iter().map(|s| (s.key(), s.at)).collect::<Vec<_>>(),
        c.sends.iter().map(|s| (s.key(), s.at)).collect::<Vec<_>>()
    );
    let bad = tend::sim::assume::Behaviour::load(
        &SourceFile::new(
            "assume.toml",
            "[[assume]]\nevent = \"message.replied\"\nprobability = \"150%\"\n",
        ),
        program,
        0,
    )
    .unwrap_err();
    assert_eq!(
        (bad.file.as_deref(), bad.line),
        (Some("assume.toml"), Some(3))
    );
}

#[test]
fn texts_render_every_path_they_read_with_current_values() {
    let pb = r#"
template status {
  text "{{ customer.name }}:{% for t in customer.tags %}[{{ t }}]{% endfor %} {{ event.order_id }} {{ received.city }} {{ coupon.c10.expires_at }} {{ now }} {{ who }}"
}
playbook p {
  trigger event order.paid
  step a {
    grant coupon c10 worth 10 valid 3d
    tag add "vip"
    wait for parcel.in_city within 1d else -> b
    send wecom status with { who = customer.name }
    set customer.name = "改名"
    send wecom status with { who = "亲" }
    end
  }
  step b {
    end
  }
}
"#;
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &event(
            "parcel.in_city",
            "c1",
            "2026-12-01T11:30:00+08:00",
            "city = \"杭州\"",
        );
    let r = sim(pb, &events);
    let texts = sent_texts(&r);
    assert_eq!(
        texts,
        [
            "林小雨:[vip] A1 杭州 2026-12-04 10:00 2026-12-01 11:30 林小雨",
            "改名:[vip] A1 杭州 2026-12-04 10:00 2026-12-01 11:30 亲",
        ]
    );
}

/// `date(fmt)` formats a date or datetime in the enrollment zone, the same
/// clock `{{ x }}` prints, given or named; a bad value skips the send with a
/// record rather than printing its input.
#[test]
fn the_date_filter_formats_in_the_enrollment_zone() {
    let pb = r#"
template expiry {
  text "{{ coupon.c10.expires_at }}|{{ coupon.c10.expires_at | date('%m月%d日 %H:%M') }}|{{ coupon.c10.expires_at | date(format='%Y/%m/%d') }}|{{ now | date('%H点') }}"
}
template bad {
  text "{{ customer.name | date('%m月%d日') }}"
}
playbook p {
  trigger event order.paid
  step a {
    grant coupon c10 worth 10 valid 8d
    send wecom expiry
    send wecom bad
  }
}
"#;
    let r = sim(pb, &paid("c1", "2026-12-01T10:00:00+08:00"));
    let texts = sent_texts(&r);
    assert_eq!(texts, ["2026-12-09 10:00|12月09日 10:00|2026/12/09|10点"]);
}

#[test]
fn a_table_run_counts_everyone_and_keeps_only_the_timeline_it_shows() {
    // 30 customers, two sends each on consecutive days; k7 pays twice.
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n  }\n}\n";
    let (customers, mut events) = numbered(30);
    events += &paid("k7", "2026-12-02T22:00:00+08:00").replace("A1", "A2");
    let (program, cs, es) = project(TOML, pb, &customers, &events);
    let from = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let run = |keep, threads| {
        let opts = tend::sim::Options {
            threads,
            keep,
            ..tend::sim::Options::new(from, from + chrono::Duration::days(5))
        };
        tend::sim::simulate_with(program, &cs, &es, &opts)
    };
    let all = run(tend::sim::Keep::All, 2);
    let one = run(tend::sim::Keep::Customer("k7".into()), 2);
    let none = run(tend::sim::Keep::UpTo(10), 1);
    assert_eq!(all.sends.len(), 60);
    assert!(one
        .sends
        .iter()
        .all(|s| s.customer.as_deref() == Some("k7")));
    assert_eq!(one.sends.len(), 2);
    assert!(none.sends.is_empty() && none.records.is_empty());
    // Every run counts every customer, whatever it keeps and however many threads ran it.
    for o in [&one, &none] {
        assert_eq!(o.tally, all.tally);
        assert_eq!(o.playbooks, all.playbooks);
    }
    let t = &all.tally;
    assert_eq!(t.deliveries, 60);
    assert_eq!(
        t.per_channel.get(&tend::value::Sym::new("wecom")),
        Some(&60)
    );
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    assert_eq!(t.per_day.get(&day("2026-12-01")), Some(&30));
    assert_eq!(t.per_day.get(&day("2026-12-02")), Some(&30));
    // k7's second order is ignored (already enrolled): no third send, no tie broken by it.
    assert_eq!(t.busiest, Some((1, "k0".to_string(), day("2026-12-01"))));
    assert!(t.deferred.is_empty());
    assert_eq!(all.playbooks[0].entered, 30);
}

/// CUSTOMERS plus `ny`, whose own zone is New York.
fn with_new_york() -> String {
    format!("{CUSTOMERS}\n[[customer]]\nid = \"ny\"\nname = \"Lisa\"\ntags = []\norders = 0\npersonal_added = true\ntimezone = \"America/New_York\"\n")
}

/// (local time, customer, kind) of the records of these kinds, with their details.
fn records(r: &Run, kinds: &[&str]) -> Vec<(String, String, String, String)> {
    r.outcome
        .records
        .iter()
        .filter(|x| kinds.contains(&x.kind.name()))
        .map(|x| {
            let c = x.customer.as_deref().unwrap_or_default();
            let zone = r
                .outcome
                .zones
                .get(c)
                .copied()
                .unwrap_or(chrono_tz::Asia::Shanghai);
            (
                x.at.with_timezone(&zone).format("%m-%d %H:%M").to_string(),
                c.to_string(),
                x.kind.name().to_string(),
                x.detail.to_string(),
            )
        })
        .collect()
}

#[test]
fn a_monthly_cap_defers_to_the_first_of_next_month_in_local_time() {
    // Three sends on 29, 30 and 31 December: the third finds December full. The
    // month turns at 01-01 00:00 Shanghai, which is quiet, so it goes at 08:00;
    // 10:00 on 12-31 was not quiet, so the reason is the cap alone.
    let pb = "playbook p {\n  cap 2 per month\n  quiet 22:00..08:00\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n    wait 1d\n    send wecom hi\n  }\n}\n";
    let r = sim_with(
        TOML,
        pb,
        CUSTOMERS,
        &paid("c1", "2026-12-29T10:00:00+08:00"),
        "2026-12-25T00:00:00+08:00",
        10,
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-29 10:00", "c1", "wecom", "hi"),
            row("12-30 10:00", "c1", "wecom", "again"),
            deferred("01-01 08:00", "c1", "wecom", "hi", "12-31 10:00", "cap")
        ]
    );

    // `[limits] per_month` counts in the customer zone. Both pay at 2027-01-31 13:00 UTC
    // (21:00 Shanghai, 08:00 New York) and send twice; 12h later it is 02-01 09:00 in
    // Shanghai (a new month, room) but still 01-31 20:00 in New York (January is full),
    // so ny waits for 02-01 00:00 New York time.
    let toml = TOML.replace("[customer]", "[limits]\nper_month = 2\n\n[customer]");
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n    send wecom again\n    wait 12h\n    send wecom hi\n  }\n}\n";
    let r = sim_with(
        &toml,
        pb,
        &with_new_york(),
        &(paid("c1", "2027-01-31T08:00:00-05:00") + &paid("ny", "2027-01-31T08:00:00-05:00")),
        "2027-01-30T00:00:00+08:00",
        5,
    );
    assert_eq!(
        r.rows,
        vec![
            row("01-31 21:00", "c1", "wecom", "hi"),
            row("01-31 21:00", "c1", "wecom", "again"),
            row("01-31 08:00", "ny", "wecom", "hi"),
            row("01-31 08:00", "ny", "wecom", "again"),
            row("02-01 09:00", "c1", "wecom", "hi"),
            deferred("02-01 00:00", "ny", "wecom", "hi", "01-31 20:00", "cap")
        ]
    );
}

#[test]
fn a_full_week_defers_to_monday() {
    // 2026-12-02 is a Wednesday. Wed and Thu fill the week; Friday's send waits for the
    // next ISO week, Monday 12-07 00:00 (not Sunday), and the flow after it with it.
    let pb = "playbook p {\n  cap 2 per week\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n    wait 1d\n    send wecom hi\n    wait 1h\n    send wecom again\n  }\n}\n";
    let r = sim(pb, &paid("c1", "2026-12-02T10:00:00+08:00"));
    assert_eq!(
        r.rows,
        vec![
            row("12-02 10:00", "c1", "wecom", "hi"),
            row("12-03 10:00", "c1", "wecom", "again"),
            deferred("12-07 00:00", "c1", "wecom", "hi", "12-04 10:00", "cap"),
            row("12-07 01:00", "c1", "wecom", "again")
        ]
    );
}

#[test]
fn limits_quiet_hours_follow_the_customer_zone() {
    // [limits] quiet 22:00..08:00 in each customer's zone; the playbook is in Shanghai.
    // Both pay at 12-01 04:00 UTC: 12:00 in Shanghai (c1 sends at once) but 11-30 23:00
    // in New York (ny waits for 08:00 there). 10h later c1's 22:00 is quiet (the start is
    // inclusive) and waits for 08:00; ny's 18:00 is not.
    let toml = TOML.replace(
        "[customer]",
        "[limits]\nquiet = \"22:00..08:00\"\n\n[customer]",
    );
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 10h\n    send wecom again\n  }\n}\n";
    let r = sim_with(
        &toml,
        pb,
        &with_new_york(),
        &(paid("c1", "2026-12-01T12:00:00+08:00") + &paid("ny", "2026-12-01T12:00:00+08:00")),
        "2026-11-30T00:00:00+08:00",
        4,
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-01 12:00", "c1", "wecom", "hi"),
            deferred("12-01 08:00", "ny", "wecom", "hi", "11-30 23:00", "quiet"),
            row("12-01 18:00", "ny", "wecom", "again"),
            deferred(
                "12-02 08:00",
                "c1",
                "wecom",
                "again",
                "12-01 22:00",
                "quiet"
            )
        ]
    );
}

#[test]
fn held_out_customers_count_for_the_goal() {
    // bucket("holdout", k0, p) = 6661 (treated), bucket("holdout", k1, p) = 3575 (held
    // out at 50%), by hand from SHA-256. Both reply within the 3-day window.
    let pb = "playbook p {\n  holdout 50%\n  trigger event order.paid\n  goal event message.replied within 3d\n  step a {\n    send wecom hi\n    wait 5d\n    send wecom again\n  }\n}\n";
    let (customers, events) = numbered(2);
    let events = events
        + &event(
            "message.replied",
            "k0",
            "2026-12-02T10:00:00+08:00",
            "text = \"好\"",
        )
        + &event(
            "message.replied",
            "k1",
            "2026-12-02T11:00:00+08:00",
            "text = \"好\"",
        );
    let r = sim_with(
        TOML,
        pb,
        &customers,
        &events,
        "2026-12-01T00:00:00+08:00",
        10,
    );
    // Only k0 is messaged; the goal ends both enrollments before `again`.
    assert_eq!(r.rows, vec![row("12-01 10:00", "k0", "wecom", "hi")]);
    let f = &r.outcome.playbooks[0];
    // The held-out conversion is the baseline, counted apart from the goal.
    assert_eq!(
        (
            f.entered,
            f.holdout,
            f.holdout_goal,
            f.goal,
            f.active,
            f.stopped
        ),
        (2, 1, 1, 1, 0, 0)
    );
    assert_eq!(
        records(&r, &["goal"]),
        vec![
            (
                "12-02 10:00".into(),
                "k0".into(),
                "goal".into(),
                "converted".into()
            ),
            (
                "12-02 11:00".into(),
                "k1".into(),
                "goal".into(),
                "converted".into()
            )
        ]
    );
}

#[test]
fn split_arms_and_variants_are_fixed_values() {
    // By hand (python3 hashlib), 50/50 split: bucket("split", k, p, a, 0) < 5000 is arm x;
    // variant index = bucket("variant", k, v) × 2 / 10000 (0 = text, 1 = b):
    //   k0: split 1694 -> x, variant 9237 -> b
    //   k1: split 7463 -> y, variant 9032 -> b
    //   k2: split 9259 -> y, variant 6706 -> b
    //   k3: split 6520 -> y, variant 3906 -> text
    //   k4: split 4698 -> x, variant 3365 -> text
    let pb = "template v {\n  text \"{{ customer.name }} A\"\n  variant b \"{{ customer.name }} B\"\n}\nplaybook p {\n  trigger event order.paid\n  step a {\n    send wecom v\n    split { 50% -> x, 50% -> y }\n  }\n  step x {\n    send wecom hi\n    end\n  }\n  step y {\n    send wecom again\n  }\n}\n";
    let r = sim_numbered(pb, 5, 2);
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "k0", "wecom", "v"),
            row("12-01 10:00", "k0", "wecom", "hi"),
            row("12-01 10:00", "k1", "wecom", "v"),
            row("12-01 10:00", "k1", "wecom", "again"),
            row("12-01 10:00", "k2", "wecom", "v"),
            row("12-01 10:00", "k2", "wecom", "again"),
            row("12-01 10:00", "k3", "wecom", "v"),
            row("12-01 10:00", "k3", "wecom", "again"),
            row("12-01 10:00", "k4", "wecom", "v"),
            row("12-01 10:00", "k4", "wecom", "hi")
        ]
    );
    let variants: Vec<_> = r
        .outcome
        .sends
        .iter()
        .filter(|s| s.template.as_deref() == Some("v"))
        .map(|s| (s.variant.as_deref(), s.text.as_deref().unwrap_or_default()))
        .collect();
    assert_eq!(
        variants,
        vec![
            (Some("b"), "n0 B"),
            (Some("b"), "n1 B"),
            (Some("b"), "n2 B"),
            (None, "n3 A"),
            (None, "n4 A")
        ]
    );
}

#[test]
fn reenter_always_starts_again_after_finishing() {
    // The 12:00 order comes while the first enrollment waits: ignored even under
    // `always`. The first finishes at 12-02 10:00, so the 12-03 order starts again.
    let pb = "playbook p {\n  reenter always\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &paid("c1", "2026-12-01T12:00:00+08:00")
        + &paid("c1", "2026-12-03T10:00:00+08:00");
    let r = sim(pb, &events);
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-02 10:00", "c1", "wecom", "again"),
            row("12-03 10:00", "c1", "wecom", "hi"),
            row("12-04 10:00", "c1", "wecom", "again")
        ]
    );
    let ignored = records(&r, &["ignored"]);
    assert_eq!(
        ignored
            .iter()
            .map(|x| (x.0.as_str(), x.1.as_str()))
            .collect::<Vec<_>>(),
        vec![("12-01 12:00", "c1")]
    );
    assert!(ignored[0].3.contains("already enrolled"), "{ignored:?}");
    assert_eq!(r.outcome.playbooks[0].entered, 2);
}

#[test]
fn without_reenter_an_event_trigger_enrolls_once() {
    // The default for `event` triggers is `never`: after the first enrollment finishes
    // (12-02 10:00), the 12-03 order is ignored too, for reenter this time.
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait 1d\n    send wecom again\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &paid("c1", "2026-12-01T12:00:00+08:00")
        + &paid("c1", "2026-12-03T10:00:00+08:00");
    let r = sim(pb, &events);
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "wecom", "hi"),
            row("12-02 10:00", "c1", "wecom", "again")
        ]
    );
    let ignored = records(&r, &["ignored"]);
    assert_eq!(
        ignored
            .iter()
            .map(|x| (x.0.as_str(), x.1.as_str()))
            .collect::<Vec<_>>(),
        vec![("12-01 12:00", "c1"), ("12-03 10:00", "c1")]
    );
    assert!(ignored[0].3.contains("already enrolled"), "{ignored:?}");
    assert!(ignored[1].3.contains("reenter"), "{ignored:?}");
    assert_eq!(r.outcome.playbooks[0].entered, 1);
}

#[test]
fn a_tag_set_by_a_scheduled_run_enters_customers_at_that_instant() {
    let pb = r#"
segment everyone = true
segment vip = "vip" in customer.tags
playbook a_tagger {
  timezone "Asia/Shanghai"
  trigger every "0 10 * * *" for everyone
  step mark { tag add "vip" }
}
playbook b_vip {
  timezone "Asia/Shanghai"
  trigger enter vip
  step welcome { send wecom again }
}
"#;
    let r = sim(pb, "");
    assert_eq!(
        r.rows,
        [
            row("12-01 10:00", "c1", "wecom", "again"),
            row("12-01 10:00", "c2", "wecom", "again")
        ]
    );
}

#[test]
fn the_example_project_reports_the_same_when_every_customer_is_stored_between_engine_calls() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let (_, program) = tend::command::sim::runnable(&dir).unwrap();
    let assume = SourceFile::new(
        dir.join("assume.toml"),
        std::fs::read_to_string(dir.join("assume.toml")).unwrap(),
    );
    let behaviour = tend::sim::assume::Behaviour::load(&assume, &program, 7).unwrap();
    let from = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let until = from + chrono::Duration::days(60);
    for behaviour in [None, Some(&behaviour)] {
        let report = |roundtrip: bool| {
            let population = tend::sim::files::FilePopulation::open(
                &dir.join("customers.toml"),
                &dir.join("events.toml"),
                program.policy.schema.clone(),
                (from, until),
                2,
                None,
            )
            .unwrap();
            let opts = tend::sim::Options {
                roundtrip,
                behaviour,
                ..tend::sim::Options::new(from, until)
            };
            let outcome = tend::sim::simulate_population(&program, &population, &opts);
            tend::sim::report::json(&outcome, program.policy.zone)
        };
        let plain = report(false);
        assert!(plain.contains("\"sends\""), "{plain}");
        assert_eq!(
            report(true),
            plain,
            "with behaviour: {}",
            behaviour.is_some()
        );
    }
}

#[test]
fn the_table_counts_sends_still_deferred_when_the_window_ends() {
    // Due at 21:50 inside quiet hours, the send waits for 09:00 the next day,
    // after the one-day window: it went nowhere, and the table says so.
    let r = sim_with(
        TOML,
        "playbook p {\n  quiet 21:30..09:00\n  trigger event order.paid\n  step a {\n    send wecom hi\n  }\n}\n",
        CUSTOMERS,
        &paid("c1", "2026-12-01T21:50:00+08:00"),
        "2026-12-01T00:00:00+08:00",
        1,
    );
    assert!(r.rows.is_empty());
    assert_eq!(
        tend::sim::report::table(&r.outcome, chrono_tz::Asia::Shanghai, tend::sim::report::Timelines::Small),
        "playbook                      entered   goal  stopped  failed  finished  active  holdout
p                                   1      0        0       0         0       1        0
  └ a                               1

messages per channel

messages per day

deferred: none; still deferred at the end: 1 by quiet  dropped by caps: 0

timeline of c1 (Asia/Shanghai)
  2026-12-01 21:50            p                      entered
  2026-12-01 21:50            p                      a: send deferred by quiet hours until 12-02 09:00

timeline of c2 (Asia/Shanghai)
  nothing happened in the window
"
    );
}

fn table(r: &Run, which: tend::sim::report::Timelines) -> String {
    tend::sim::report::table(&r.outcome, chrono_tz::Asia::Shanghai, which)
}

#[test]
fn the_funnel_counts_each_enrollment_once_by_how_it_ended() {
    // c1 converts after finishing the flow, c2 is stopped by a refund, ny
    // finishes without converting, k9 is still waiting when the window ends.
    let pb = "playbook p {\n  trigger event order.paid\n  goal event message.replied within 20d\n  stop event order.refunded\n  step a {\n    send wecom hi\n    wait 2d\n    send wecom again\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &event(
            "message.replied",
            "c1",
            "2026-12-05T10:00:00+08:00",
            "text = \"好\"",
        )
        + &paid("c2", "2026-12-01T10:00:00+08:00")
        + &event("order.refunded", "c2", "2026-12-02T10:00:00+08:00", "")
        + &paid("ny", "2026-12-01T10:00:00+08:00")
        + &paid("k9", "2026-12-14T09:00:00+08:00");
    let customers = with_new_york()
        + "[[customer]]\nid = \"k9\"\nname = \"九\"\ntags = []\norders = 0\npersonal_added = true\n";
    let r = sim_with(
        TOML,
        pb,
        &customers,
        &events,
        "2026-12-01T00:00:00+08:00",
        14,
    );
    let f = &r.outcome.playbooks[0];
    assert_eq!(
        (f.entered, f.goal, f.stopped, f.failed, f.finished, f.active, f.holdout),
        (4, 1, 1, 0, 1, 1, 0)
    );
    assert_eq!(
        f.entered,
        f.goal + f.stopped + f.failed + f.finished + f.active + f.holdout
    );
    let t = table(&r, tend::sim::report::Timelines::Customer("zz"));
    assert!(t.starts_with(
        "playbook                      entered   goal  stopped  failed  finished  active  holdout
p                                   4      1        1       0         1       1        0
"
    ), "{t}");
}

#[test]
fn sends_that_did_not_go_out_are_counted_per_step_and_shown_in_the_timeline() {
    // c2 has not added the personal account (`requires`); c1's block stops
    // it before the second step.
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send personal again\n    wait 1d\n  }\n  step b {\n    send wecom hi\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00")
        + &paid("c2", "2026-12-01T10:00:00+08:00")
        + &event("contact.blocked", "c1", "2026-12-01T12:00:00+08:00", "");
    let toml = TOML.replace(
        "timezone = \"Asia/Shanghai\"\n",
        "timezone = \"Asia/Shanghai\"\nopt_out_events = [\"contact.blocked\"]\n",
    );
    let r = sim_with(
        &toml,
        pb,
        CUSTOMERS,
        &events,
        "2026-12-01T00:00:00+08:00",
        3,
    );
    assert_eq!(
        r.rows,
        vec![
            row("12-01 10:00", "c1", "personal", "again"),
            row("12-02 10:00", "c2", "wecom", "hi")
        ]
    );
    let steps: Vec<_> = r.outcome.playbooks[0]
        .steps
        .iter()
        .map(|s| {
            (
                s.name.as_str(),
                s.reached,
                s.not_sent.clone().into_iter().collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        vec![("a", 2, vec![("unreachable", 1)]), ("b", 1, vec![])]
    );
    let t = table(&r, tend::sim::report::Timelines::Small);
    assert!(
        t.contains("  └ a                               2   not sent: 1 unreachable (requires, settings)\n"),
        "{t}"
    );
    assert!(
        t.contains("\ntimeline of c2 (Asia/Shanghai)
  2026-12-01 10:00            p                      entered
  2026-12-01 10:00            p                      a: not sent, unreachable (requires, settings): c2 does not meet `requires` of personal
  2026-12-01 10:00            p                      a: waiting until 12-02 10:00
  2026-12-02 10:00 wecom      p                      hi: 王姐您好，订单 A1 已收到
  2026-12-02 10:00            p                      finished
"),
        "{t}"
    );
}

#[test]
fn timelines_in_several_zones_carry_offsets_and_json_times_are_utc_with_local_beside() {
    let pb = "playbook p {\n  trigger event order.paid\n  step a {\n    send wecom hi\n    wait for message.replied within 2h else -> b\n  }\n  step b {\n    grant coupon new10 worth 10 valid 7d\n  }\n}\n";
    let events = paid("c1", "2026-12-01T10:00:00+08:00") + &paid("ny", "2026-12-01T10:00:00+08:00");
    let r = sim_with(
        TOML,
        pb,
        &with_new_york(),
        &events,
        "2026-12-01T00:00:00+08:00",
        2,
    );
    let t = table(&r, tend::sim::report::Timelines::Small);
    assert!(
        t.contains("\ntimeline of c1 (Asia/Shanghai)
  2026-12-01 10:00 +08:00            p                      entered
  2026-12-01 10:00 +08:00 wecom      p                      hi: 林小雨您好，订单 A1 已收到
  2026-12-01 10:00 +08:00            p                      a: waiting for message.replied until 12:00, else → b
  2026-12-01 12:00 +08:00 coupons    p                      coupon new10 granted
  2026-12-01 12:00 +08:00            p                      finished
"),
        "{t}"
    );
    // Lisa's quiet hours (tend.toml has none) do not apply: 10:00 in Shanghai is 21:00 in New York.
    assert!(
        t.contains(
            "\ntimeline of ny (America/New_York)
  2026-11-30 21:00 -05:00            p                      entered
"
        ),
        "{t}"
    );
    // The grant is not a message: per day and busiest count messages only.
    assert!(t.contains("messages per channel\n  wecom                     2\nbesides messages: 2 coupon grants, 0 tasks\n"), "{t}");
    assert!(
        t.contains(
            "messages per day\n  2026-11-30                1\n  2026-12-01                1\n"
        ),
        "{t}"
    );
    let json: serde_json::Value = serde_json::from_str(&tend::sim::report::json(
        &r.outcome,
        chrono_tz::Asia::Shanghai,
    ))
    .unwrap();
    let ny = json["sends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["customer"] == "ny" && s["touchpoint"] == "wecom")
        .unwrap();
    assert_eq!(ny["at"], "2026-12-01T02:00:00Z");
    assert_eq!(ny["local"], "2026-11-30T21:00:00-05:00");
    let grant = json["sends"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["customer"] == "c1" && s["touchpoint"] == "coupons")
        .unwrap();
    assert_eq!(grant["expires_at"], "2026-12-08T04:00:00Z");
    let wait = &json["waits"][0];
    assert_eq!(
        (
            &wait["at"],
            &wait["customer"],
            &wait["event"],
            &wait["until"],
            &wait["else"]
        ),
        (
            &serde_json::json!("2026-12-01T02:00:00Z"),
            &serde_json::json!("c1"),
            &serde_json::json!("message.replied"),
            &serde_json::json!("2026-12-01T04:00:00Z"),
            &serde_json::json!("b")
        )
    );
    assert_eq!(
        (&json["messages"], &json["grants"]),
        (&serde_json::json!(2), &serde_json::json!(2))
    );
}

#[test]
fn broadcasts_have_a_timeline_of_their_own() {
    let toml = format!("{TOML}\n[channels.fans]\ntouchpoint = \"group\"\nadapter = \"console\"\n");
    let pb = "playbook weekly {\n  trigger every \"0 20 * * WED\"\n  step open {\n    send fans \"今晚八点分享会开始啦\"\n    wait 1h\n    send fans \"今晚的分享就到这里\"\n  }\n}\n";
    let r = sim_with(&toml, pb, CUSTOMERS, "", "2026-12-01T00:00:00+08:00", 7);
    let t = table(&r, tend::sim::report::Timelines::Broadcasts);
    assert!(
        t.ends_with(
            "\ntimeline of the broadcasts (Asia/Shanghai)
  2026-12-02 20:00            weekly                 fired
  2026-12-02 20:00 fans       weekly                 inline text: 今晚八点分享会开始啦
  2026-12-02 20:00            weekly                 open: waiting until 21:00
  2026-12-02 21:00 fans       weekly                 inline text: 今晚的分享就到这里
  2026-12-02 21:00            weekly                 finished
"
        ),
        "{t}"
    );
    // A customer's timeline alone leaves the broadcasts out.
    let t = table(&r, tend::sim::report::Timelines::Customer("c1"));
    assert!(!t.contains("broadcasts"), "{t}");
}

#[test]
fn a_behaviour_model_drives_goal_events_from_entry() {
    // 30% re-order within 20 days of entry: the funnel converts about 60 of 200.
    let pb = "playbook p {\n  trigger event message.replied\n  goal event order.paid within 20d\n  step a {\n    send wecom again\n    wait 25d\n  }\n}\n";
    let mut customers = String::new();
    let mut events = String::new();
    for i in 0..200 {
        customers += &format!("[[customer]]\nid = \"k{i}\"\nname = \"n{i}\"\ntags = []\norders = 0\npersonal_added = true\n");
        events += &event(
            "message.replied",
            &format!("k{i}"),
            "2026-12-01T10:00:00+08:00",
            "text = \"在\"",
        );
    }
    let (program, cs, es) = project(TOML, pb, &customers, &events);
    let assume = "[[assume]]\nevent = \"order.paid\"\nafter = \"entry\"\nprobability = \"30%\"\nwithin = \"20d\"\ndata = { order_id = \"A2\" }\n";
    let model =
        tend::sim::assume::Behaviour::load(&SourceFile::new("assume.toml", assume), program, 3)
            .unwrap();
    let from = chrono::DateTime::parse_from_rfc3339("2026-12-01T00:00:00+08:00")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let opts = tend::sim::Options {
        behaviour: Some(&model),
        ..tend::sim::Options::new(from, from + chrono::Duration::days(30))
    };
    let o = tend::sim::simulate_with(program, &cs, &es, &opts);
    let f = &o.playbooks[0];
    assert_eq!(f.entered, 200);
    assert!(
        (40..80).contains(&f.goal),
        "{} of 200 converted at 30%",
        f.goal
    );
    assert_eq!(f.goal + f.finished, 200);
    // Every conversion lies within 20 days of entry (2026-12-01 10:00).
    for r in o.records.iter().filter(|r| r.kind.name() == "goal") {
        let days = (r.at - from).num_hours() as f64 / 24.0;
        assert!(days < 20.5, "{days}");
    }
}

#[test]
fn a_behaviour_model_that_cannot_apply_is_an_error_naming_its_line() {
    let pb = "playbook p {\n  trigger event order.paid\n  stop event order.refunded\n  step ask {\n    send wecom hi\n    wait for message.replied within 2h\n  }\n}\n";
    let (program, _, _) = project(TOML, pb, CUSTOMERS, "");
    let load = |text: &str| {
        tend::sim::assume::Behaviour::load(&SourceFile::new("assume.toml", text), program, 0)
            .map(|_| ())
            .map_err(|e| (e.line.unwrap(), e.message))
    };
    let head = "[[assume]]\nprobability = 0.5\n";
    assert_eq!(
        load(&format!(
            "{head}event = \"message.replied\"\nstep = \"ask\"\n"
        )),
        Ok(())
    );
    assert_eq!(
        load(&format!("{head}event = \"parcel.in_city\"\n")),
        Err((3, "nothing waits for `parcel.in_city` (no `wait for parcel.in_city`), so this assumption would never be asked".into()))
    );
    assert_eq!(
        load(&format!("{head}event = \"order.refunded\"\n")),
        Err((3, "nothing waits for `order.refunded` (no `wait for order.refunded`), so this assumption would never be asked; it is a goal or stop event: to draw it from each enrollment's entry, add after = \"entry\"".into()))
    );
    assert_eq!(
        load(&format!(
            "{head}event = \"message.replied\"\nstep = \"aks\"\n"
        )),
        Err((4, "there is no step `aks`; did you mean `ask`?".into()))
    );
    assert_eq!(
        load(&format!(
            "{head}event = \"message.replied\"\ndata = {{ txt = \"是\" }}\n"
        ))
        .unwrap_err()
        .0,
        4
    );
    let wrong_type = load(&format!(
        "{head}event = \"message.replied\"\ndata = {{ text = 5 }}\n"
    ))
    .unwrap_err();
    assert_eq!(wrong_type.0, 4);
    assert!(wrong_type.1.contains("text"), "{}", wrong_type.1);
    assert_eq!(
        load(&format!(
            "{head}event = \"message.replied\"\nwithn = \"1h\"\n"
        )),
        Err((
            4,
            "`withn` is not a setting of an assumption; did you mean `within`?".into()
        ))
    );
    assert_eq!(
        load(&format!("{head}event = \"order.paid\"\nafter = \"entry\"\n")),
        Err((3, "no playbook has `goal event order.paid` or `stop event order.paid`; after = \"entry\" drives a goal or stop event".into()))
    );
    assert_eq!(
        load(&format!(
            "{head}event = \"order.refunded\"\nafter = \"entry\"\n"
        )),
        Ok(())
    );
}
