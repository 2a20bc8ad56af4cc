//! The engine called directly, as a runner will: the driver with its inputs
//! and catch-up rule, a customer's stored state read back under a changed
//! project (reconcile), and pinned values for versions, keys and buckets.

use chrono::{DateTime, Utc};
use std::collections::VecDeque;
use tend::engine::state::{CustomerState, Status};
use tend::engine::{CatchUp, Delivery, Effect, Engine, RecordKind};
use tend::intake::Event;
use tend::program::Program;
use tend::source::{SourceFile, Sources};
use tend::value::{Fields, Sym, Value};

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"
tags = "list<string>"
birthday = "date?"
owner = "string?"

[events."order.paid"]
order_id = "string"

[events."message.replied"]

[events."contact.blocked"]

[channels.wecom]
touchpoint = "wecom"
adapter = "console"

[channels.moments]
touchpoint = "moments"
adapter = "console"
"#;

/// A checked program from tend.toml and one playbook file.
fn program(toml: &str, playbooks: &str) -> Program {
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", toml));
    let pb = sources.add(SourceFile::new("p.playbook", playbooks));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    let errors: Vec<_> = linted.errors().map(|f| f.message.clone()).collect();
    assert!(errors.is_empty(), "{errors:?}");
    linted.program().unwrap()
}

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
}

fn event(name: &str, data: &[(&str, &str)]) -> Event {
    Event {
        name: Sym::new(name),
        data: data.iter().map(|(k, v)| (*k, Value::str(v))).collect(),
        attributes: Fields::new(),
    }
}

/// `customer.updated` patching one attribute.
fn updated(attr: &str, value: Value) -> Event {
    let mut e = event("customer.updated", &[]);
    e.attributes = [(attr, value)].into_iter().collect();
    e
}

fn tags(list: &[&str]) -> Value {
    Value::List(
        list.iter()
            .map(|t| Value::str(t))
            .collect::<Vec<_>>()
            .into(),
    )
}

/// Drives `c` through one input at 10:00 on 2 December, to the end of that day.
fn on_the_2nd_at_ten(engine: &Engine, c: &mut CustomerState, input: Event) -> Vec<Effect> {
    drive(
        engine,
        c,
        vec![("2026-12-02T10:00:00+08:00", input)],
        "2026-12-03T00:00:00+08:00",
        None,
    )
}

fn customer(id: &str, birthday: Option<&str>) -> CustomerState {
    let mut attrs: Vec<(&str, Value)> = vec![
        ("name", Value::str("林小雨")),
        ("tags", Value::List(Vec::new().into())),
    ];
    if let Some(b) = birthday {
        attrs.push((
            "birthday",
            Value::Date(chrono::NaiveDate::parse_from_str(b, "%Y-%m-%d").unwrap()),
        ));
    }
    CustomerState::new(id, attrs.into_iter().collect())
}

/// Drives one customer through these inputs up to `until`.
fn drive(
    engine: &Engine,
    c: &mut CustomerState,
    inputs: Vec<(&str, Event)>,
    until: &str,
    catch_up: Option<&CatchUp>,
) -> Vec<Effect> {
    let mut q: VecDeque<(DateTime<Utc>, Event)> =
        inputs.into_iter().map(|(at, e)| (t(at), e)).collect();
    let mut out = Vec::new();
    engine.drive(c, &mut q, t(until), catch_up, &mut out);
    out
}

/// A customer who paid order A1 at 10:00 on 1 December, driven to `until`.
fn paid_at_ten_until(engine: &Engine, id: &str, until: &str) -> (CustomerState, Vec<Effect>) {
    let mut c = customer(id, None);
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    let paid = event("order.paid", &[("order_id", "A1")]);
    let out = drive(
        engine,
        &mut c,
        vec![("2026-12-01T10:00:00+08:00", paid)],
        until,
        None,
    );
    (c, out)
}

/// A customer who paid order A1 at 10:00 on 1 December, an hour on.
fn paid_at_ten(engine: &Engine, id: &str) -> CustomerState {
    paid_at_ten_until(engine, id, "2026-12-01T11:00:00+08:00").0
}

/// Stores the state and reads it back, as a runner does between calls.
fn stored(c: &CustomerState) -> CustomerState {
    CustomerState::from_json(&c.to_json()).unwrap()
}

fn deliveries(effects: &[Effect]) -> Vec<&Delivery> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Deliver(d) => Some(d),
            _ => None,
        })
        .collect()
}

/// (local time, template) of each delivery.
fn sent(effects: &[Effect]) -> Vec<(String, String)> {
    deliveries(effects)
        .iter()
        .map(|d| {
            (
                d.at.with_timezone(&chrono_tz::Asia::Shanghai)
                    .format("%m-%d %H:%M")
                    .to_string(),
                d.template.as_deref().unwrap_or("").to_string(),
            )
        })
        .collect()
}

fn kinds(effects: &[Effect]) -> Vec<&'static str> {
    effects
        .iter()
        .filter_map(|e| match e {
            Effect::Record(r) => Some(r.kind.name()),
            _ => None,
        })
        .collect()
}

const TEMPLATES: &str = r#"
template hi { text "{{ customer.name }}您好，订单 {{ event.order_id }} 已收到" }
template later { text "{{ customer.name }}，一天后再问候" }
template again { text "{{ customer.name }}，第三天" }
template wish { text "{{ customer.name }}生日快乐" }
template post { kind content; text "今日分享" }
"#;

const THREE_DAYS: &str = r#"
playbook welcome {
  timezone "Asia/Shanghai"
  trigger event order.paid
  step one {
    send wecom hi
    wait 1d
    send wecom later
    wait 1d
    send wecom again
  }
}
"#;

#[test]
fn the_driver_runs_timers_before_an_input_each_at_its_own_instant() {
    let p = program(TOML, &format!("{TEMPLATES}{THREE_DAYS}"));
    let engine = Engine::new(&p);
    // A runner that was down from the 1st to the 4th hands the engine one
    // late input: the two waits still end at their own 10:00s.
    let (c, first) = paid_at_ten_until(&engine, "c1", "2026-12-01T10:00:01+08:00");
    assert_eq!(sent(&first), [("12-01 10:00".into(), "hi".into())]);
    let mut c = stored(&c);
    let late = drive(
        &engine,
        &mut c,
        vec![("2026-12-04T15:00:00+08:00", event("message.replied", &[]))],
        "2026-12-04T15:00:01+08:00",
        None,
    );
    assert_eq!(
        sent(&late),
        [
            ("12-02 10:00".into(), "later".into()),
            ("12-03 10:00".into(), "again".into())
        ]
    );
    // The reply came after the flow finished: nothing consumed it.
    assert_eq!(kinds(&late), ["finished", "unconsumed"]);
    assert!(
        c.enrollments.is_empty(),
        "an ended enrollment leaves only its number"
    );
    assert_eq!(c.past.len(), 1);
}

const DAILY_POST: &str = r#"
playbook daily {
  timezone "Asia/Shanghai"
  trigger every "0 12 * * *"
  step post { send moments post }
}
"#;

#[test]
fn catch_up_skips_fires_older_than_the_grace_and_runs_the_rest_once() {
    let p = program(TOML, &format!("{TEMPLATES}{DAILY_POST}"));
    let engine = Engine::new(&p);
    let mut b = CustomerState::new("", Fields::new());
    engine.init(&mut b, t("2026-12-01T00:00:00+08:00"));
    // Down from the 1st until the 4th at 12:30: the 1st to 3rd are older
    // than an hour, the 4th's is within the grace.
    let started = t("2026-12-04T12:30:00+08:00");
    let out = drive(
        &engine,
        &mut b,
        vec![],
        "2026-12-04T12:30:01+08:00",
        Some(&CatchUp::new(started)),
    );
    assert_eq!(sent(&out), [("12-04 12:00".into(), "post".into())]);
    assert_eq!(
        kinds(&out).iter().filter(|k| **k == "skipped-fire").count(),
        3
    );
    assert!(deliveries(&out).iter().all(|d| d.customer.is_none()));
    // The simulator passes no rule and never skips.
    let mut b = CustomerState::new("", Fields::new());
    engine.init(&mut b, t("2026-12-01T00:00:00+08:00"));
    let out = drive(&engine, &mut b, vec![], "2026-12-04T12:30:01+08:00", None);
    assert_eq!(deliveries(&out).len(), 4);
    // Broadcast runs end and leave nothing behind but their count.
    assert!(b.enrollments.is_empty());
    assert_eq!(b.past[0].n, 4);
}

const BIRTHDAY: &str = r#"
playbook birthday {
  timezone "Asia/Shanghai"
  trigger yearly customer.birthday at 10:00
  step wish { send wecom wish }
}
"#;

#[test]
fn a_changed_birthday_is_rescheduled_and_fires_once_per_anniversary() {
    let p = program(TOML, &format!("{TEMPLATES}{BIRTHDAY}"));
    let engine = Engine::new(&p);
    let mut c = customer("c1", Some("1990-12-10"));
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    assert_eq!(c.schedule[0].at, t("2026-12-10T10:00:00+08:00"));
    // Corrected to the 5th before the 10th: it fires on the 5th.
    let fix = updated(
        "birthday",
        Value::Date(chrono::NaiveDate::from_ymd_opt(1990, 12, 5).unwrap()),
    );
    let out = drive(
        &engine,
        &mut c,
        vec![("2026-12-02T09:00:00+08:00", fix)],
        "2026-12-08T00:00:00+08:00",
        None,
    );
    assert_eq!(sent(&out), [("12-05 10:00".into(), "wish".into())]);
    // Corrected again to the 20th: this year's anniversary already fired.
    let fix = updated(
        "birthday",
        Value::Date(chrono::NaiveDate::from_ymd_opt(1990, 12, 20).unwrap()),
    );
    let mut c = stored(&c);
    let out = drive(
        &engine,
        &mut c,
        vec![("2026-12-09T09:00:00+08:00", fix)],
        "2027-12-31T00:00:00+08:00",
        None,
    );
    assert_eq!(sent(&out), [("12-20 10:00".into(), "wish".into())]);
    assert!(deliveries(&out)[0].at > t("2027-01-01T00:00:00+08:00"));
}

const TWO_STEPS: &str = r#"
playbook welcome {
  timezone "Asia/Shanghai"
  trigger event order.paid
  step one {
    send wecom hi
    wait 1d
    send wecom later
  }
}
"#;

#[test]
fn an_edited_playbook_finishes_old_enrollments_on_their_version_and_starts_new_ones_on_the_new() {
    let old = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}"));
    let engine = Engine::new(&old);
    let c = paid_at_ten(&engine, "c1");
    let paid = || event("order.paid", &[("order_id", "A1")]);
    // What an uninterrupted run on the old version sends the next day.
    let mut alone = stored(&c);
    let expected = drive(
        &engine,
        &mut alone,
        vec![],
        "2026-12-03T00:00:00+08:00",
        None,
    );
    // Deployed: the wait ends in a third step now; the old version still runs.
    let edited = TWO_STEPS.replace(
        "send wecom later",
        "send wecom later\n    wait 1d\n    send wecom again",
    );
    let new = program(TOML, &format!("{TEMPLATES}{edited}"));
    assert_ne!(new.playbooks[0].version, old.playbooks[0].version);
    let engine = Engine::with_versions(&new, old.playbooks.iter().cloned());
    let mut c = stored(&c);
    engine.init(&mut c, t("2026-12-01T12:00:00+08:00"));
    let out = drive(&engine, &mut c, vec![], "2026-12-03T00:00:00+08:00", None);
    assert_eq!(
        deliveries(&out),
        deliveries(&expected),
        "same sends, same keys"
    );
    assert_eq!(deliveries(&out)[0].version, old.playbooks[0].version);
    // reenter never: a second order does not enroll; a new customer runs the new version.
    let mut d = customer("c2", None);
    engine.init(&mut d, t("2026-12-03T00:00:00+08:00"));
    let out = drive(
        &engine,
        &mut d,
        vec![("2026-12-03T10:00:00+08:00", paid())],
        "2026-12-06T00:00:00+08:00",
        None,
    );
    assert_eq!(sent(&out).len(), 3);
    assert!(deliveries(&out)
        .iter()
        .all(|x| x.version == new.playbooks[0].version));
}

#[test]
fn a_removed_playbook_takes_no_new_entries_and_its_enrollments_finish() {
    let old = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}"));
    let engine = Engine::new(&old);
    let c = paid_at_ten(&engine, "c1");
    // The project now has only the daily post; the old version stays loaded.
    let new = program(TOML, &format!("{TEMPLATES}{DAILY_POST}"));
    let engine = Engine::with_versions(&new, old.playbooks.iter().cloned());
    let mut c = stored(&c);
    engine.init(&mut c, t("2026-12-01T12:00:00+08:00"));
    let out = drive(
        &engine,
        &mut c,
        vec![(
            "2026-12-03T10:00:00+08:00",
            event("order.paid", &[("order_id", "A2")]),
        )],
        "2026-12-04T00:00:00+08:00",
        None,
    );
    assert_eq!(sent(&out), [("12-02 10:00".into(), "later".into())]);
    assert_eq!(kinds(&out), ["finished", "unconsumed"]);
    // Without the old version loaded, the enrollment cannot go on: a record says so.
    let mut c = paid_at_ten(&Engine::new(&old), "c9");
    // Loading it says so at once, even for an enrollment with no timer to wake it.
    let bare = Engine::new(&new);
    let mut d = c.clone();
    assert_eq!(
        kinds(&bare.init(&mut d, t("2026-12-01T12:00:00+08:00"))),
        ["failed"]
    );
    assert!(d.enrollments.is_empty());
    let out = drive(&bare, &mut c, vec![], "2026-12-04T00:00:00+08:00", None);
    assert_eq!(kinds(&out), ["failed"]);
}

#[test]
fn a_playbook_added_before_the_others_and_a_new_channel_leave_waiting_customers_alone() {
    let old = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}"));
    let engine = Engine::new(&old);
    let mut c = customer("c1", Some("1990-12-10"));
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    drive(
        &engine,
        &mut c,
        vec![(
            "2026-12-01T10:00:00+08:00",
            event("order.paid", &[("order_id", "A1")]),
        )],
        "2026-12-01T11:00:00+08:00",
        None,
    );
    let mut alone = stored(&c);
    let expected = drive(
        &engine,
        &mut alone,
        vec![],
        "2026-12-11T00:00:00+08:00",
        None,
    );
    // `birthday` sorts before `welcome`, and an SMS channel appears.
    let toml = format!("{TOML}\n[channels.sms]\ntouchpoint = \"sms\"\nadapter = \"console\"\n");
    let new = program(&toml, &format!("{TEMPLATES}{BIRTHDAY}{TWO_STEPS}"));
    let engine = Engine::new(&new);
    let mut c = stored(&c);
    engine.init(&mut c, t("2026-12-01T12:00:00+08:00"));
    let before = c.clone();
    engine.init(&mut c, t("2026-12-01T12:00:00+08:00"));
    assert_eq!(c, before, "reconciling twice changes nothing");
    assert_eq!(c.schedule.len(), 1, "the new yearly trigger is scheduled");
    let out = drive(&engine, &mut c, vec![], "2026-12-11T00:00:00+08:00", None);
    let welcome: Vec<&Delivery> = deliveries(&out)
        .into_iter()
        .filter(|d| &*d.playbook == "welcome")
        .collect();
    assert_eq!(welcome, deliveries(&expected));
    assert_eq!(
        sent(&out).last().unwrap(),
        &("12-10 10:00".to_string(), "wish".to_string())
    );
}

#[test]
fn a_new_enter_trigger_takes_its_baseline_when_the_customer_is_next_loaded() {
    let src = r#"
segment vip = "vip" in customer.tags
playbook vip_care {
  timezone "Asia/Shanghai"
  trigger enter vip
  step hello { send wecom later }
}
"#;
    let old = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}"));
    let mut member = customer("c1", None);
    member.attrs.set(Sym::new("tags"), tags(&["vip"]));
    let mut other = customer("c2", None);
    for c in [&mut member, &mut other] {
        Engine::new(&old).init(c, t("2026-12-01T00:00:00+08:00"));
    }
    let new = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}{src}"));
    let engine = Engine::new(&new);
    for c in [&mut member, &mut other] {
        engine.init(c, t("2026-12-02T00:00:00+08:00"));
    }
    // A member at the baseline does not enter; one who becomes a member does.
    let tag = updated("tags", tags(&["vip"]));
    let out = on_the_2nd_at_ten(&engine, &mut member, tag.clone());
    assert!(sent(&out).is_empty());
    let out = on_the_2nd_at_ten(&engine, &mut other, tag);
    assert_eq!(sent(&out), [("12-02 10:00".into(), "later".into())]);
}

#[test]
fn versions_keys_and_buckets_are_pinned_values() {
    let p = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}"));
    let pb = &p.playbooks[0];
    // Changing what feeds these re-keys every message in flight: these
    // literals are meant to break on such a change.
    assert_eq!(&*pb.version, "2774491edf543af0");
    let engine = Engine::new(&p);
    let mut c = customer("c1", None);
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    let out = drive(
        &engine,
        &mut c,
        vec![(
            "2026-12-01T10:00:00+08:00",
            event("order.paid", &[("order_id", "A1")]),
        )],
        "2026-12-03T00:00:00+08:00",
        None,
    );
    let keys: Vec<String> = deliveries(&out)
        .iter()
        .map(|d| d.key().to_string())
        .collect();
    assert_eq!(
        keys,
        [
            "00dfc7ab2c4182455419d7ba9a4d79f1",
            "5e4d8f8d8f55e968cedb0ad4b2827569"
        ]
    );
    let bucket = tend::engine::bucket::bucket;
    assert_eq!(
        bucket("split", &["c1", "post_purchase", "invite", "0"]),
        5085
    );
    assert_eq!(bucket("holdout", &["c1", "post_purchase"]), 7286);
    assert_eq!(bucket("variant", &["c1", "address_confirm"]), 4880);
    // The recipe, spelled out: SHA-256 over version, customer, playbook,
    // enrollment, site, plant and occurrence joined by U+001F, first 16 bytes.
    use sha2::{Digest, Sha256};
    let recipe: String =
        Sha256::digest("2774491edf543af0\x1fc1\x1fwelcome\x1f1\x1fone/0\x1f0\x1f0".as_bytes())
            [..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
    assert_eq!(keys[0], recipe);
}

#[test]
fn a_version_changes_with_what_the_playbook_says_or_reads_and_nothing_else() {
    let base = program(TOML, &format!("{TEMPLATES}{TWO_STEPS}")).playbooks[0].version;
    let version = |toml: &str, src: &str| program(toml, src).playbooks[0].version;
    let relaid = TWO_STEPS.replace("  step one {", "  # a comment\n\n  step one   {");
    assert_eq!(
        version(TOML, &format!("{TEMPLATES}{relaid}")),
        base,
        "layout and comments"
    );
    let other = TEMPLATES.replace("今日分享", "明日分享");
    assert_eq!(
        version(TOML, &format!("{other}{TWO_STEPS}")),
        base,
        "a template it does not use"
    );
    let used = TEMPLATES.replace("一天后再问候", "一天后再来问候");
    assert_ne!(
        version(TOML, &format!("{used}{TWO_STEPS}")),
        base,
        "a template it sends"
    );
    let schema = TOML.replace("name = \"string\"", "name = \"string?\"");
    assert_ne!(
        version(&schema, &format!("{TEMPLATES}{TWO_STEPS}")),
        base,
        "the type of an attribute it reads"
    );
    let unrelated = TOML.replace("birthday = \"date?\"", "birthday = \"date\"");
    assert_eq!(
        version(&unrelated, &format!("{TEMPLATES}{TWO_STEPS}")),
        base,
        "an attribute it does not read"
    );
}

#[test]
fn a_customer_waiting_in_post_purchase_stores_in_under_a_kilobyte_and_reads_back() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let toml = std::fs::read_to_string(root.join("examples/tend.toml")).unwrap();
    let pb = std::fs::read_to_string(root.join("playbooks/post_purchase.playbook")).unwrap();
    let p = program(&toml, &pb);
    let engine = Engine::new(&p);
    let attrs: Fields = [
        ("name", Value::str("王姐")),
        ("tags", Value::List(vec![Value::str("package_card")].into())),
        ("orders", Value::Int(1)),
        (
            "last_active_at",
            Value::DateTime(t("2026-11-30T20:00:00+08:00")),
        ),
        ("personal_added", Value::Bool(true)),
        ("stage", Value::str("new")),
        ("owner", Value::str("xiaokai")),
        ("messages_30d", Value::Int(4)),
        (
            "pet",
            Value::Record(
                [("name", Value::str("咪咪")), ("kind", Value::str("cat"))]
                    .into_iter()
                    .collect(),
            ),
        ),
    ]
    .into_iter()
    .collect();
    let mut c = CustomerState::new("c0000001", attrs);
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    let paid = Event {
        name: Sym::new("order.paid"),
        data: [
            ("order_id", Value::str("O1-1")),
            ("seq", Value::Int(1)),
            ("amount", Value::Float(89.0)),
            ("address", Value::str("杭州市西湖区")),
        ]
        .into_iter()
        .collect(),
        attributes: Fields::new(),
    };
    // Paid, did not reply: invited to the personal account, coupon granted,
    // its reminder planted, waiting for the parcel.
    drive(
        &engine,
        &mut c,
        vec![("2026-12-01T10:00:00+08:00", paid)],
        "2026-12-01T13:00:00+08:00",
        None,
    );
    assert_eq!(c.enrollments[0].status, Status::Active);
    let text = c.to_json();
    eprintln!("{} bytes: {text}", text.len());
    assert!(text.len() < 1024, "{} bytes", text.len());
    assert_eq!(stored(&c), c);
    // An older stored form without the fields added since reads with their defaults.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v.as_object_mut().unwrap().remove("format");
    v.as_object_mut().unwrap().remove("ledger");
    let old = CustomerState::from_json(&v.to_string()).unwrap();
    assert_eq!(old.enrollments, c.enrollments);
}

#[test]
fn channel_settings_that_name_data_ride_on_each_delivery_and_lint_checks_them() {
    let toml = TOML.replace(
            "[channels.wecom]\ntouchpoint = \"wecom\"\nadapter = \"console\"",
            "[channels.wecom]\ntouchpoint = \"wecom\"\nadapter = \"console\"\nsender = \"customer.owner\"\nref = \"event.order_id\"",
        );
    let p = program(&toml, &format!("{TEMPLATES}{TWO_STEPS}"));
    let engine = Engine::new(&p);
    let paid = || event("order.paid", &[("order_id", "A1")]);
    // An owner: the delivery names the sender and the order.
    let mut c = customer("c1", None);
    c.attrs.set(Sym::new("owner"), Value::str("xiaokai"));
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    let out = drive(
        &engine,
        &mut c,
        vec![("2026-12-01T10:00:00+08:00", paid())],
        "2026-12-01T11:00:00+08:00",
        None,
    );
    let settings = &deliveries(&out)[0].extra.as_ref().unwrap().settings;
    assert_eq!(
        settings
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<Vec<_>>(),
        [
            ("ref".to_string(), Value::str("A1")),
            ("sender".to_string(), Value::str("xiaokai"))
        ]
    );
    // No owner: the customer cannot be reached on the channel, and a record says why.
    let mut d = customer("c2", None);
    engine.init(&mut d, t("2026-12-01T00:00:00+08:00"));
    let out = drive(
        &engine,
        &mut d,
        vec![("2026-12-01T10:00:00+08:00", paid())],
        "2026-12-01T11:00:00+08:00",
        None,
    );
    assert!(deliveries(&out).is_empty());
    let why: Vec<String> = out
        .iter()
        .filter_map(|e| match e {
            Effect::Record(r) if r.kind == RecordKind::Unreachable => Some(r.detail.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(
        why,
        ["c2 has no `customer.owner`, which channel wecom needs for `sender`"]
    );
    // A misspelt attribute or payload field is a lint finding in tend.toml.
    let bad = toml
        .replace("customer.owner", "customer.ownr")
        .replace("event.order_id", "event.order_idd");
    let mut sources = Sources::default();
    let cfg = sources.add(SourceFile::new("tend.toml", bad));
    let pb = sources.add(SourceFile::new(
        "p.playbook",
        format!("{TEMPLATES}{TWO_STEPS}"),
    ));
    let linted = tend::project::lint_sources(sources, cfg, &[pb]);
    let found: Vec<(&str, String)> = linted
        .errors()
        .map(|f| {
            (
                f.rule,
                linted.sources.get(f.file).text[f.span.start..f.span.end].to_string(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("unknown-field", "ownr".to_string()),
            ("unknown-field", "\"event.order_idd\"".to_string())
        ]
    );
}

#[test]
fn a_yearly_trigger_rewritten_after_it_fired_does_not_fire_again_that_anniversary() {
    let p = program(TOML, &format!("{TEMPLATES}{BIRTHDAY}"));
    let engine = Engine::new(&p);
    let mut c = customer("c1", Some("1990-12-10"));
    engine.init(&mut c, t("2026-12-01T00:00:00+08:00"));
    let out = drive(&engine, &mut c, vec![], "2026-12-10T10:30:00+08:00", None);
    assert_eq!(sent(&out), [("12-10 10:00".into(), "wish".into())]);
    // Deployed at 10:30: the wish now goes at 11:00.
    let later = program(
        TOML,
        &format!("{TEMPLATES}{}", BIRTHDAY.replace("at 10:00", "at 11:00")),
    );
    let engine = Engine::new(&later);
    let mut c = stored(&c);
    engine.init(&mut c, t("2026-12-10T10:30:00+08:00"));
    let out = drive(&engine, &mut c, vec![], "2027-12-31T00:00:00+08:00", None);
    let when: Vec<String> = deliveries(&out)
        .iter()
        .map(|d| {
            d.at.with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(when, ["2027-12-10 11:00"]);
}

#[test]
fn a_segment_defined_anew_takes_a_new_baseline_instead_of_entering_everyone_who_matches() {
    let care = |tag: &str| {
        format!(
            r#"
segment vip = "{tag}" in customer.tags
playbook vip_care {{
  timezone "Asia/Shanghai"
  trigger enter vip
  step hello {{ send wecom later }}
}}
"#
        )
    };
    let old = program(TOML, &format!("{TEMPLATES}{}", care("vip")));
    let mut gold = customer("c1", None);
    gold.attrs.set(Sym::new("tags"), tags(&["gold"]));
    Engine::new(&old).init(&mut gold, t("2026-12-01T00:00:00+08:00"));
    // vip now means gold: c1 was gold before the deploy, so it is the baseline.
    let new = program(TOML, &format!("{TEMPLATES}{}", care("gold")));
    let engine = Engine::new(&new);
    let mut gold = stored(&gold);
    engine.init(&mut gold, t("2026-12-02T00:00:00+08:00"));
    let out = on_the_2nd_at_ten(&engine, &mut gold, updated("name", Value::str("林雨")));
    assert!(sent(&out).is_empty(), "{:?}", sent(&out));
    // Becoming gold after the deploy still enters.
    let mut later = customer("c2", None);
    Engine::new(&old).init(&mut later, t("2026-12-01T00:00:00+08:00"));
    let mut later = stored(&later);
    engine.init(&mut later, t("2026-12-02T00:00:00+08:00"));
    let out = on_the_2nd_at_ten(&engine, &mut later, updated("tags", tags(&["gold"])));
    assert_eq!(sent(&out), [("12-02 10:00".into(), "later".into())]);
}

#[test]
fn a_state_stored_by_a_newer_tend_is_refused_not_misread() {
    let p = program(TOML, &format!("{TEMPLATES}{THREE_DAYS}"));
    let c = paid_at_ten(&Engine::new(&p), "c1");
    let mut json: serde_json::Value = serde_json::from_str(&c.to_json()).unwrap();
    json["format"] = serde_json::json!(99);
    let err = CustomerState::from_json(&json.to_string()).unwrap_err();
    assert!(err.to_string().contains("format 99"), "{err}");
}

#[test]
fn effects_write_out_and_read_back_as_rows() {
    let p = program(TOML, &format!("{TEMPLATES}{THREE_DAYS}"));
    let engine = Engine::new(&p);
    let (_, out) = paid_at_ten_until(&engine, "c1", "2026-12-05T00:00:00+08:00");
    assert_eq!(deliveries(&out).len(), 3);
    let rows = serde_json::to_string(&out).unwrap();
    assert!(rows.contains(r#""kind":"entered""#), "{rows}");
    assert!(rows.contains(r#""touchpoint":"wecom""#), "{rows}");
    let back: Vec<Effect> = serde_json::from_str(&rows).unwrap();
    assert_eq!(back, out);
    // The key is computed from what the row holds.
    assert_eq!(
        deliveries(&back)
            .iter()
            .map(|d| d.key())
            .collect::<Vec<_>>(),
        deliveries(&out).iter().map(|d| d.key()).collect::<Vec<_>>()
    );
}

#[test]
fn a_version_rebuilt_from_its_stored_text_is_the_same_playbook() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let (linted, program) = tend::command::sim::runnable(&dir).unwrap();
    let config = &linted.checked.as_ref().unwrap().config;
    assert!(program.playbooks.len() >= 3);
    for pb in &program.playbooks {
        let back = tend::program::version::rebuild(config, &pb.text).unwrap();
        assert_eq!(back.version, pb.version, "{}", pb.name);
        assert_eq!(
            format!("{:?}", back.steps),
            format!("{:?}", pb.steps),
            "{}",
            pb.name
        );
        assert_eq!(
            format!("{:?}", back.triggers),
            format!("{:?}", pb.triggers),
            "{}",
            pb.name
        );
        assert_eq!(
            format!("{:?}", back.goal),
            format!("{:?}", pb.goal),
            "{}",
            pb.name
        );
    }
    let err = tend::program::version::rebuild(config, "tend playbook slice 0\n---\n").unwrap_err();
    assert!(err.contains("slice 0"), "{err}");
}
