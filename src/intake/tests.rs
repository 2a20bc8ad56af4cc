//! Input behaviour: what the simulator's tests check, the same mistake read
//! the same from every format, and big files on several threads.

use super::stream::load_events_in_blocks;
use super::*;
use crate::value::Value;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

const TOML: &str = r#"timezone = "Asia/Shanghai"

[customer]
name = "string"
tags = "list<string>"
orders = "int"
personal_added = "bool"
timezone = "string?"
last_active_at = "datetime?"
birthday = "date?"
score = "float?"

[customer.pet]
name = "string"
kind = "string?"

[events."order.paid"]
order_id = "string"

[events."message.replied"]
text = "string"

[events."order.refunded"]
"#;

fn schema() -> Schema {
    let mut findings = Vec::new();
    let config = crate::config::Config::read(0, TOML, &mut findings);
    assert!(findings.is_empty(), "{findings:?}");
    Schema::from_config(&config)
}

fn src(name: &str, text: &str) -> SourceFile {
    SourceFile::new(name, text)
}

fn customers(name: &str, text: &str) -> Result<Vec<Located<Customer>>, IntakeError> {
    read_customers(&src(name, text), &schema()).map(|l| l.items)
}

fn events(name: &str, text: &str) -> Result<Loaded<Envelope>, IntakeError> {
    read_events(&src(name, text), &schema())
}

fn get<'a>(f: &'a Fields, path: &str) -> &'a Value {
    let segs: Vec<Sym> = path.split('.').map(Sym::new).collect();
    f.path(&segs)
}

fn strs(items: &[&str]) -> Value {
    Value::List(
        items
            .iter()
            .map(|s| Value::str(s))
            .collect::<Vec<_>>()
            .into(),
    )
}

// ---- What tests/sim.rs checks of input ----

#[test]
fn bad_input_names_file_and_line() {
    let e = events("events.toml", "[[event]]\nname = \"order.paid\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00\ndata = { order_id = \"A\" }\n").unwrap_err();
    assert_eq!((e.file.as_deref(), e.line), (Some("events.toml"), Some(4)));
    assert!(e.message.contains("no offset"), "{}", e.message);
    let e = customers("customers.toml", "[[customer]]\nid = \"c1\"\nname = \"x\"\ntags = []\norders = \"three\"\npersonal_added = true\n").unwrap_err();
    assert_eq!(e.line, Some(5));
    assert_eq!(
        e.message,
        "`orders` must be a whole number (the schema says int), not a string"
    );
    assert_eq!(e.to_string(), format!("customers.toml:5: {}", e.message));
    let e = events(
        "events.toml",
        "[[event]]\nname = \"order.payed\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\n",
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "event `order.payed` is not declared in tend.toml; declare it under [events.\"order.payed\"]"
    );
    assert_eq!(e.line, Some(2));
}

#[test]
fn json_lines_input_reads_the_event_envelope() {
    let cs = customers("customers.jsonl", "{\"id\": \"c1\", \"name\": \"林小雨\", \"tags\": [], \"orders\": 0, \"personal_added\": true}\n").unwrap();
    assert_eq!(cs[0].item.id, "c1");
    assert_eq!(get(&cs[0].item.attrs, "name"), &Value::str("林小雨"));
    let text = "# first order\n{\"id\": \"e1\", \"name\": \"order.paid\", \"customer\": \"c1\", \"at\": \"2026-12-01T10:00:00+08:00\", \"data\": {\"order_id\": \"A1\"}, \"attributes\": {\"orders\": 1}}\n";
    let es = events("events.jsonl", text).unwrap().items;
    assert_eq!(es[0].line, 2);
    let e = &es[0].item;
    assert_eq!(
        (e.id.as_deref(), e.event.name.as_str(), e.customer.as_str()),
        (Some("e1"), "order.paid", "c1")
    );
    assert_eq!(e.at.to_rfc3339(), "2026-12-01T02:00:00+00:00");
    assert_eq!(get(&e.event.data, "order_id"), &Value::str("A1"));
    assert_eq!(get(&e.event.attributes, "orders"), &Value::Int(1));
    let bad = "{\"name\": \"order.paid\", \"customer\": \"c1\", \"at\": \"2026-12-01T10:00:00+08:00\", \"data\": {\"order_id\": 7}}\n";
    let e = events("events.jsonl", &format!("\n{bad}")).unwrap_err();
    assert_eq!((e.file.as_deref(), e.line), (Some("events.jsonl"), Some(2)));
    assert_eq!(
        e.message,
        "`data.order_id` must be a string (the schema says string), not a whole number"
    );
}

#[test]
fn csv_input_is_read_by_the_schema_types() {
    let text =
        "id,name,tags,orders,personal_added\nc1,林小雨,package_card|vip,2,true\nc2,王姐,,0,false\n";
    let cs = customers("customers.csv", text).unwrap();
    assert_eq!(get(&cs[0].item.attrs, "orders"), &Value::Int(2));
    assert_eq!(
        get(&cs[0].item.attrs, "tags"),
        &strs(&["package_card", "vip"])
    );
    assert_eq!(get(&cs[1].item.attrs, "tags"), &strs(&[]));
    assert_eq!(
        get(&cs[1].item.attrs, "personal_added"),
        &Value::Bool(false)
    );
    assert_eq!((cs[0].line, cs[1].line), (2, 3));
    let text = "id,name,customer,at,data.order_id,attributes.orders\ne1,order.paid,c1,2026-12-01T10:00:00+08:00,A1,3\n";
    let es = events("events.csv", text).unwrap().items;
    assert_eq!(get(&es[0].item.event.attributes, "orders"), &Value::Int(3));
    assert_eq!(get(&es[0].item.event.data, "order_id"), &Value::str("A1"));
    let e = customers(
        "customers.csv",
        "id,name,tags,orders,personal_added\nc1,x,,many,true\n",
    )
    .unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        e.message.contains("`many` is not a whole number"),
        "{}",
        e.message
    );
}

#[test]
fn an_empty_customer_id_is_an_error_naming_the_line() {
    let text = "[[event]]\nname = \"order.paid\"\ncustomer = \"\"\nat = 2026-12-01T10:00:00+08:00\ndata = { order_id = \"A1\" }\n\n";
    let err = events("e.toml", text).unwrap_err();
    assert_eq!(
        err.to_string(),
        "e.toml:1: every event needs a non-empty `customer` id"
    );
}

// ---- One message whatever the format ----

/// The same customer written as TOML, a JSON line and a CSV row (with the
/// columns of `CSV_HEAD`); each is the only customer of its file, after one
/// good one.
struct Same {
    toml: &'static str,
    json: &'static str,
    csv: &'static str,
}

const GOOD_TOML: &str =
    "[[customer]]\nid = \"c0\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\n\n";
const GOOD_JSON: &str =
    "{\"id\": \"c0\", \"name\": \"n\", \"tags\": [], \"orders\": 0, \"personal_added\": true}\n";
const CSV_HEAD: &str = "id,name,tags,orders,personal_added,birthday,last_active_at,color\n";
const GOOD_CSV: &str = "c0,n,,0,true,,,\n";

fn same_customer(case: &Same) -> [IntakeError; 3] {
    let t = customers("c.toml", &format!("{GOOD_TOML}[[customer]]\n{}", case.toml)).unwrap_err();
    let j = customers("c.jsonl", &format!("{GOOD_JSON}{}\n", case.json)).unwrap_err();
    let c = customers("c.csv", &format!("{CSV_HEAD}{GOOD_CSV}{}\n", case.csv)).unwrap_err();
    [t, j, c]
}

#[test]
fn the_same_customer_mistake_reads_the_same_from_toml_json_lines_and_csv() {
    let cases = [
        (
            Same {
                toml: "id = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\ncolor = \"red\"",
                json: r#"{"id": "c1", "name": "n", "tags": [], "orders": 0, "personal_added": true, "color": "red"}"#,
                csv: "c1,n,,0,true,,,red",
            },
            "`color` is not in the schema; declare it in tend.toml or remove it",
            14,
        ),
        (
            Same {
                toml: "id = \"c1\"\ntags = []\norders = 0\npersonal_added = true",
                json: r#"{"id": "c1", "tags": [], "orders": 0, "personal_added": true}"#,
                csv: "c1,,,0,true,,,",
            },
            "`name` is required by the schema but missing",
            8,
        ),
        (
            Same {
                toml: "id = \"\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true",
                json: r#"{"id": "", "name": "n", "tags": [], "orders": 0, "personal_added": true}"#,
                csv: ",n,,0,true,,,",
            },
            "every customer needs a non-empty `id`",
            8,
        ),
        (
            Same {
                toml: "id = \"c0\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true",
                json: r#"{"id": "c0", "name": "n", "tags": [], "orders": 0, "personal_added": true}"#,
                csv: "c0,n,,0,true,,,",
            },
            "customer `c0` is listed twice; the first is at line ",
            8,
        ),
        (
            Same {
                toml: "id = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\nbirthday = \"0000-02-30\"",
                json: r#"{"id": "c1", "name": "n", "tags": [], "orders": 0, "personal_added": true, "birthday": "0000-02-30"}"#,
                csv: "c1,n,,0,true,0000-02-30,,",
            },
            "`birthday` must be a date such as 2026-02-17 (the schema says date), not `0000-02-30`",
            14,
        ),
        (
            Same {
                toml: "id = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\nbirthday = \"10000-01-01\"",
                json: r#"{"id": "c1", "name": "n", "tags": [], "orders": 0, "personal_added": true, "birthday": "10000-01-01"}"#,
                csv: "c1,n,,0,true,10000-01-01,,",
            },
            "`birthday` must be a date between years 1 and 9999",
            14,
        ),
        (
            Same {
                toml: "id = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\nlast_active_at = \"yesterday\"",
                json: r#"{"id": "c1", "name": "n", "tags": [], "orders": 0, "personal_added": true, "last_active_at": "yesterday"}"#,
                csv: "c1,n,,0,true,,yesterday,",
            },
            "`last_active_at` must be a date and time such as 2026-12-01T10:00:00+08:00 (the schema says datetime), not `yesterday`",
            14,
        ),
        (
            Same {
                toml: "id = \"c1\"\nname = \"n\"\ntags = []\norders = 9223372036854775808\npersonal_added = true",
                json: r#"{"id": "c1", "name": "n", "tags": [], "orders": 9223372036854775808, "personal_added": true}"#,
                csv: "c1,n,,9223372036854775808,true,,,",
            },
            "`orders` must be a whole number between -9223372036854775808 and 9223372036854775807 (the schema says int)",
            12,
        ),
    ];
    for (case, message, toml_line) in cases {
        let [t, j, c] = same_customer(&case);
        assert!(t.message.starts_with(message), "TOML: {t}");
        if message.ends_with("line ") {
            // The first's line differs by format (a CSV file has its header).
            assert_eq!(
                [&t, &j, &c].map(|e| e.message.strip_prefix(message)),
                [Some("1"), Some("1"), Some("2")]
            );
        } else {
            assert_eq!(t.message, j.message, "JSON lines");
            assert_eq!(t.message, c.message, "CSV");
        }
        assert_eq!(
            (t.line, j.line, c.line),
            (Some(toml_line), Some(2), Some(3)),
            "{message}"
        );
    }
}

#[test]
fn the_same_event_mistake_reads_the_same_from_toml_json_lines_and_csv() {
    // (TOML fields, JSON line, CSV row under EVENT_HEAD, message)
    const EVENT_HEAD: &str = "id,name,customer,at,data.order_id,data.text,attributes.orders\n";
    let cases = [
        (
            "name = \"order.payed\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00",
            r#"{"name": "order.payed", "customer": "c1", "at": "2026-12-01T10:00:00+08:00"}"#,
            ",order.payed,c1,2026-12-01T10:00:00+08:00,,,",
            "event `order.payed` is not declared in tend.toml; declare it under [events.\"order.payed\"]",
        ),
        (
            "name = \"order.paid\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00\ndata = { order_id = \"A\" }",
            r#"{"name": "order.paid", "customer": "c1", "at": "2026-12-01T10:00:00", "data": {"order_id": "A"}}"#,
            ",order.paid,c1,2026-12-01T10:00:00,A,,",
            "`2026-12-01T10:00:00` has no offset; write the time as RFC 3339 with one, such as 2026-12-01T10:05:00+08:00",
        ),
        (
            "name = \"order.paid\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00",
            r#"{"name": "order.paid", "customer": "c1", "at": "2026-12-01T10:00:00+08:00"}"#,
            ",order.paid,c1,2026-12-01T10:00:00+08:00,,,",
            "`data.order_id` is required by the schema but missing",
        ),
        (
            "name = \"order.paid\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\ndata = { order_id = \"A\", text = \"hi\" }",
            r#"{"name": "order.paid", "customer": "c1", "at": "2026-12-01T10:00:00+08:00", "data": {"order_id": "A", "text": "hi"}}"#,
            ",order.paid,c1,2026-12-01T10:00:00+08:00,A,hi,",
            "`data.text` is not in the schema; declare it in tend.toml or remove it",
        ),
        (
            "name = \"order.paid\"\ncustomer = \"\"\nat = 2026-12-01T10:00:00+08:00\ndata = { order_id = \"A\" }",
            r#"{"name": "order.paid", "customer": "", "at": "2026-12-01T10:00:00+08:00", "data": {"order_id": "A"}}"#,
            ",order.paid,,2026-12-01T10:00:00+08:00,A,,",
            "every event needs a non-empty `customer` id",
        ),
        (
            "customer = \"c1\"\nat = 2026-12-01T10:00:00+08:00",
            r#"{"customer": "c1", "at": "2026-12-01T10:00:00+08:00"}"#,
            ",,c1,2026-12-01T10:00:00+08:00,,,",
            "every event needs a `name`",
        ),
        (
            "name = \"order.refunded\"\ncustomer = \"c1\"",
            r#"{"name": "order.refunded", "customer": "c1"}"#,
            ",order.refunded,c1,,,,",
            "every event needs `at`, a time with its offset such as 2026-12-01T10:05:00+08:00",
        ),
        (
            "name = \"order.refunded\"\ncustomer = \"c1\"\nat = 0000-12-01T10:00:00+08:00",
            r#"{"name": "order.refunded", "customer": "c1", "at": "0000-12-01T10:00:00+08:00"}"#,
            ",order.refunded,c1,0000-12-01T10:00:00+08:00,,,",
            "`at` must be a date and time between years 1 and 9999",
        ),
        (
            "name = \"customer.updated\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\nattributes = { orders = \"x\" }",
            r#"{"name": "customer.updated", "customer": "c1", "at": "2026-12-01T10:00:00+08:00", "attributes": {"orders": true}}"#,
            ",customer.updated,c1,2026-12-01T10:00:00+08:00,,,x",
            "`attributes.orders`",
        ),
    ];
    for (toml, json, csv, message) in cases {
        let t = events("e.toml", &format!("[[event]]\n{toml}\n")).unwrap_err();
        let j = events("e.jsonl", &format!("{json}\n")).unwrap_err();
        let c = events("e.csv", &format!("{EVENT_HEAD}{csv}\n")).unwrap_err();
        assert!(t.message.starts_with(message), "{t}");
        if message.ends_with('`') {
            // Each gives a different wrong value; all name the field.
            for e in [&j, &c] {
                assert!(e.message.starts_with(message), "{e}");
            }
        } else {
            assert_eq!(t.message, j.message, "JSON lines");
            assert_eq!(t.message, c.message, "CSV");
        }
        assert_eq!((j.line, c.line), (Some(1), Some(2)));
    }
}

#[test]
fn an_unknown_envelope_key_is_named_with_the_six() {
    let e = events("e.jsonl", r#"{"name": "order.refunded", "customer": "c1", "at": "2026-12-01T10:00:00+08:00", "payload": {}}"#).unwrap_err();
    assert_eq!(
        e.message,
        "`payload` is not part of an event; an event has `id`, `name`, `customer`, `at`, `data` and `attributes`"
    );
    let e = events("e.toml", "[[event]]\nname = \"order.refunded\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\n\nwhen = 1\n").unwrap_err();
    assert_eq!(e.line, Some(6));
    assert!(
        e.message.starts_with("`when` is not part of an event"),
        "{e}"
    );
    let e = events(
        "e.csv",
        "name,customer,at,payload\norder.refunded,c1,2026-12-01T10:00:00+08:00,x\n",
    )
    .unwrap_err();
    assert!(
        e.message.starts_with("`payload` is not part of an event"),
        "{e}"
    );
}

#[test]
fn a_repeated_event_id_is_dropped_with_a_warning_naming_both_lines() {
    let line = |id: &str, order: &str| {
        format!("{{\"id\": \"{id}\", \"name\": \"order.paid\", \"customer\": \"c1\", \"at\": \"2026-12-01T10:00:00+08:00\", \"data\": {{\"order_id\": \"{order}\"}}}}\n")
    };
    let text = format!(
        "{}{}\n{}{}",
        line("e1", "A1"),
        line("e2", "A2"),
        line("e1", "A3"),
        line("", "A4").replace("\"id\": \"\", ", "")
    );
    let loaded = events("events.jsonl", &text).unwrap();
    let orders: Vec<_> = loaded
        .items
        .iter()
        .map(|e| get(&e.item.event.data, "order_id").clone())
        .collect();
    assert_eq!(
        orders,
        [Value::str("A1"), Value::str("A2"), Value::str("A4")]
    );
    assert_eq!(
        loaded.warnings,
        ["events.jsonl:4: event id `e1` repeats the one at line 1; the repeat is ignored"]
    );
    // TOML the same, naming the [[event]] lines.
    let ev = |id: &str| {
        format!("[[event]]\nid = \"{id}\"\nname = \"order.refunded\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\n")
    };
    let loaded = events("e.toml", &format!("{}{}{}", ev("x"), ev("y"), ev("x"))).unwrap();
    assert_eq!(loaded.items.len(), 2);
    assert_eq!(
        loaded.warnings,
        ["e.toml:11: event id `x` repeats the one at line 1; the repeat is ignored"]
    );
}

#[test]
fn dates_outside_years_1_to_9999_are_refused_naming_the_field() {
    let c = |birthday: &str| {
        customers("c.toml", &format!("[[customer]]\nid = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\nbirthday = {birthday}\n"))
    };
    for bad in [
        "0000-01-01",
        "\"0000-01-01\"",
        "\"10000-01-01\"",
        "\"-0001-01-01\"",
        "\"-262143-01-01\"",
    ] {
        let e = c(bad).unwrap_err();
        assert_eq!(
            (e.message.as_str(), e.line),
            (
                "`birthday` must be a date between years 1 and 9999",
                Some(7)
            ),
            "{bad}"
        );
    }
    assert_eq!(
        get(&c("9999-12-31").unwrap()[0].item.attrs, "birthday"),
        &Value::Date(chrono::NaiveDate::from_ymd_opt(9999, 12, 31).unwrap())
    );
    let e = customers("c.jsonl", r#"{"id": "c1", "name": "n", "tags": [], "orders": 0, "personal_added": true, "last_active_at": "0000-06-01T00:00:00Z"}"#).unwrap_err();
    assert_eq!(
        e.message,
        "`last_active_at` must be a date and time between years 1 and 9999"
    );
}

#[test]
fn nested_records_recurse_and_an_absent_table_is_allowed() {
    let base = r#""id": "c1", "name": "n", "tags": [], "orders": 0, "personal_added": true"#;
    let cs = customers(
        "c.jsonl",
        &format!("{{{base}}}\n{{{base}, \"id\": \"c2\", \"pet\": {{\"name\": \"咪咪\"}}}}\n")
            .replacen("\"id\": \"c1\", ", "", 1)
            .replacen("{", "{\"id\": \"c1\", ", 1),
    );
    // The second line gives `id` twice: an error, not a silent choice.
    let e = cs.unwrap_err();
    assert_eq!(
        e.message,
        "`id` is not in the schema; declare it in tend.toml or remove it"
    );
    let cs = customers(
        "c.jsonl",
        &format!(
            "{{{base}}}\n{{{}, \"pet\": {{\"name\": \"咪咪\"}}}}\n",
            base.replace("c1", "c2")
        ),
    )
    .unwrap();
    assert_eq!(get(&cs[0].item.attrs, "pet"), &Value::Null);
    assert_eq!(get(&cs[1].item.attrs, "pet.name"), &Value::str("咪咪"));
    let e = customers(
        "c.jsonl",
        &format!("{{{base}, \"pet\": {{\"kind\": \"cat\"}}}}\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "`pet.name` is required by the schema but missing"
    );
    let e = customers(
        "c.jsonl",
        &format!("{{{base}, \"pet\": {{\"name\": \"a\", \"age\": 3}}}}\n"),
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "`pet.age` is not in the schema; declare it in tend.toml or remove it"
    );
    // TOML names the nested key's line; CSV reads dotted columns, and leaves
    // out a table whose cells are all empty.
    let e = customers("c.toml", "[[customer]]\nid = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\n\n[customer.pet]\nname = 3\n").unwrap_err();
    assert_eq!(
        (e.message.as_str(), e.line),
        (
            "`pet.name` must be a string (the schema says string), not a whole number",
            Some(9)
        )
    );
    let cs = customers("c.csv", "id,name,tags,orders,personal_added,pet.name,pet.kind\nc1,n,,0,true,咪咪,\nc2,n,,0,true,,\n").unwrap();
    assert_eq!(get(&cs[0].item.attrs, "pet.name"), &Value::str("咪咪"));
    assert_eq!(get(&cs[0].item.attrs, "pet.kind"), &Value::Null);
    assert_eq!(get(&cs[1].item.attrs, "pet"), &Value::Null);
    let e = customers(
        "c.csv",
        "id,name,tags,orders,personal_added,pet.name,pet.kind\nc1,n,,0,true,,cat\n",
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "`pet.name` is required by the schema but missing"
    );
}

#[test]
fn null_is_absent_for_an_optional_field_and_wrong_for_a_required_one() {
    let base = r#""id": "c1", "tags": [], "orders": 0, "personal_added": true"#;
    let cs = customers(
        "c.jsonl",
        &format!("{{{base}, \"name\": \"n\", \"birthday\": null}}"),
    )
    .unwrap();
    assert!(!cs[0].item.attrs.contains(Sym::new("birthday")));
    let e = customers("c.jsonl", &format!("{{{base}, \"name\": null}}")).unwrap_err();
    assert_eq!(
        e.message,
        "`name` must be a string (the schema says string), not null"
    );
    // In an event, null data and attributes are empty; a null id is no id.
    let es = events("e.jsonl", r#"{"id": null, "name": "order.refunded", "customer": "c1", "at": "2026-12-01T10:00:00Z", "data": null, "attributes": null}"#).unwrap().items;
    assert_eq!(es[0].item.id, None);
    assert!(es[0].item.event.data.is_empty() && es[0].item.event.attributes.is_empty());
}

#[test]
fn local_times_are_read_in_the_customer_zone_or_the_schema_zone() {
    let base = r#""name": "n", "tags": [], "orders": 0, "personal_added": true, "last_active_at": "2026-12-01T10:00:00""#;
    let cs = customers(
        "c.jsonl",
        &format!("{{\"id\": \"sh\", {base}}}\n{{\"id\": \"ny\", \"timezone\": \"America/New_York\", {base}}}\n{{\"id\": \"xx\", \"timezone\": \"Mars/Base\", {base}}}\n"),
    )
    .unwrap();
    let at = |i: usize| match get(&cs[i].item.attrs, "last_active_at") {
        Value::DateTime(t) => t.to_rfc3339(),
        v => panic!("{v:?}"),
    };
    assert_eq!(at(0), "2026-12-01T02:00:00+00:00");
    assert_eq!(at(1), "2026-12-01T15:00:00+00:00");
    assert_eq!(at(2), "2026-12-01T02:00:00+00:00");
    // Integer ids, and ints where the schema says float.
    let cs = customers("c.toml", "[[customer]]\nid = 7\nname = \"n\"\ntags = [\"a\"]\norders = 1_000\npersonal_added = false\nscore = 3\n").unwrap();
    assert_eq!(cs[0].item.id, "7");
    assert_eq!(get(&cs[0].item.attrs, "orders"), &Value::Int(1000));
    assert_eq!(get(&cs[0].item.attrs, "score"), &Value::Float(3.0));
}

#[test]
fn the_attributes_patch_checks_only_what_it_gives() {
    let s = schema();
    let patch = s
        .attributes(vec![Entry {
            key: "orders".into(),
            value: Raw::Int(2),
            span: None,
        }])
        .unwrap();
    assert_eq!(get(&patch, "orders"), &Value::Int(2));
    assert_eq!(patch.len(), 1);
    let e = s
        .attributes(vec![Entry {
            key: "orders".into(),
            value: Raw::Str("2".into()),
            span: None,
        }])
        .unwrap_err();
    assert_eq!(
        e.message,
        "`orders` must be a whole number (the schema says int), not a string"
    );
}

#[test]
fn no_input_makes_it_panic() {
    let deep_json = format!(
        "{{\"id\": \"c1\", \"name\": {}1{}}}",
        "[".repeat(5000),
        "]".repeat(5000)
    );
    // Deeper than the cap, not as deep as the TOML parser's own limit.
    let deep_toml = format!(
        "[[customer]]\nid = \"c1\"\nname = {}1{}\n",
        "[".repeat(70),
        "]".repeat(70)
    );
    let deep_table = format!(
        "[[customer]]\nid = \"c1\"\nname = {}1{}\n",
        "{a=".repeat(70),
        "}".repeat(70)
    );
    let garbage: Vec<String> = vec![
        "{".into(),
        "{\"id\": \"c1\", \"name\": \"n".into(),
        "[1, 2, 3]".into(),
        "null".into(),
        "{\"id\": 99999999999999999999999999999, \"orders\": 1e999}".into(),
        "{\"id\": \"c1\", \"orders\": -9223372036854775809}".into(),
        "{\"id\": \"c1\", \"orders\": 1.5, \"tags\": \"a|b\", \"birthday\": 20260101}".into(),
        "{\"id\": \"c1\", \"\": 1}".into(),
        "\u{feff}{\"id\": \"c1\"}".into(),
        "{\"id\": {\"nested\": [[[{}]]]}}".into(),
        "{\"name\": \"order.paid\", \"customer\": [], \"at\": 5, \"data\": [1]}".into(),
        "{\"name\": \"order.paid\", \"customer\": \"c\", \"at\": \"2026-13-45T99:99:99+99:00\"}".into(),
        "{\"name\": \"order.paid\", \"customer\": \"c\", \"at\": \"\u{0}\"}".into(),
        format!("{{\"name\": \"{}\"}}", "x".repeat(100_000)),
        deep_json.clone(),
        "[[customer]]\nid = 99999999999999999999999\n".into(),
        "[[customer]]\nid = \"c1\"\norders = 0xffffffffffffffff\nscore = nan\nbirthday = 00:00:00\n".into(),
        "[[customer]]\n[[customer]]\nx = [".into(),
        format!("a = {}", "[".repeat(100_000)),
        format!("a = {}", "{b=".repeat(100_000)),
        "customer = 1".into(),
        "customer = [1, 2]".into(),
        "[[event]]\nat = 1979-05-27T07:32:00.999999999-07:00\nname = \"order.paid\"\ncustomer = 1\ndata = { order_id = { a = 1 } }\n".into(),
        deep_toml.clone(),
        deep_table.clone(),
        "id,name\n\"c1,\"x\n".into(),
        "id,name\nc1\n".into(),
        "id,,name\nc1,,x\n".into(),
        "id,pet,pet.name\nc1,a,b\n".into(),
        "id,a..b\nc1,x\n".into(),
        "\u{feff}id,name,tags,orders,personal_added\n\"c\n1\",\"n\",\"|||\",\"+5\",\"1\"\n".into(),
    ];
    let s = schema();
    for g in &garbage {
        for name in ["x.jsonl", "x.toml", "x.csv"] {
            let f = src(name, g);
            let _ = read_customers(&f, &s);
            let _ = read_events(&f, &s);
            // Every prefix too: truncated input.
            for cut in (0..g.len().min(300)).filter(|&i| g.is_char_boundary(i)) {
                let f = src(name, &g[..cut]);
                let _ = read_customers(&f, &s);
                let _ = read_events(&f, &s);
            }
        }
    }
    let e = customers("x.jsonl", &deep_json).unwrap_err();
    assert!(e.message.contains("nested more than 64 deep"), "{e}");
    let e = customers("x.toml", &deep_toml).unwrap_err();
    assert!(e.message.contains("nested more than 64 deep"), "{e}");
    let e = customers("x.toml", &deep_table).unwrap_err();
    assert!(e.message.contains("nested more than 64 deep"), "{e}");
}

// ---- Big files ----

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tend-intake-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn event_line(i: usize) -> String {
    format!("{{\"id\":\"c{:07}-1\",\"name\":\"order.paid\",\"customer\":\"c{:07}\",\"at\":\"2026-12-01T10:00:00+08:00\",\"data\":{{\"order_id\":\"O{i}-1\"}},\"attributes\":{{\"orders\":1,\"tags\":[\"杭州\",\"vip\"]}}}}\n", i, i)
}

/// Events as JSON lines with comments, blank lines, CRLF and repeated ids.
fn event_file(n: usize) -> String {
    let mut text = String::from("# events\n");
    for i in 0..n {
        text += &event_line(i);
        if i % 7 == 0 {
            text += "\n  # a comment\r\n";
        }
        if i % 50 == 3 {
            text += &event_line(i - 1).replace("\n", "\r\n");
        }
    }
    text
}

#[test]
fn load_events_on_threads_reads_as_read_events_does() {
    let dir = TempDir::new();
    let text = event_file(3000);
    let path = dir.file("events.jsonl", &text);
    let s = schema();
    let whole = read_events(&SourceFile::new(&path, text.clone()), &s).unwrap();
    assert_eq!(whole.items.len(), 3000);
    assert_eq!(whole.warnings.len(), 60);
    for (threads, block) in [(1, 1000), (2, 1000), (2, 64), (3, 1 << 20), (2, 1)] {
        let mut items = Vec::new();
        let warnings = load_events_in_blocks(&path, &s, threads, block, |e| items.push(e)).unwrap();
        assert_eq!(
            Loaded { items, warnings },
            whole,
            "{threads} threads, blocks of {block}"
        );
    }
    // The first mistake in the file is the one reported, whichever thread finds it.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let at = |id: &str| lines.iter().position(|l| l.contains(id)).unwrap();
    let (late, early) = (at("c0002500-1"), at("c0001200-1"));
    lines[late] = lines[late].replace("order.paid", "order.payed");
    lines[early] = lines[early].replace("+08:00", "");
    let bad = dir.file("bad.jsonl", &(lines.join("\n") + "\n"));
    for threads in [1, 2, 4] {
        let e = load_events_in_blocks(&bad, &s, threads, 500, |_| {}).unwrap_err();
        assert_eq!(e.line, Some(early + 1), "{e}");
        assert!(e.message.contains("no offset"), "{e}");
    }
    // A line that is not UTF-8 is named.
    let mut bytes = b"# x\n".to_vec();
    bytes.extend_from_slice(event_line(1).as_bytes());
    bytes.extend_from_slice(b"{\"id\": \"\xff\"}\n");
    let p = dir.0.join("utf8.jsonl");
    std::fs::write(&p, bytes).unwrap();
    let e = load_events_in_blocks(&p, &s, 2, 16, |_| {}).unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (Some(3), "this line is not valid UTF-8")
    );
    // A missing file.
    let e = load_events(&dir.0.join("none.jsonl"), &s, 2).unwrap_err();
    assert!(e.to_string().starts_with("cannot read "), "{e}");
}

#[test]
fn load_events_reads_csv_and_toml_too() {
    let dir = TempDir::new();
    let mut text = String::from("id,name,customer,at,data.order_id,data.text\n");
    for i in 0..500 {
        // A quoted cell with a line break every so often.
        let order = if i % 9 == 0 {
            format!("\"A{i}\nB\"")
        } else {
            format!("A{i}")
        };
        text += &format!("e{i},order.paid,c{i},2026-12-01T10:00:00+08:00,{order},\n");
    }
    text += "e5,message.replied,c5,2026-12-01T10:00:00+08:00,,hi\n";
    let path = dir.file("events.csv", &text);
    let s = schema();
    let whole = read_events(&SourceFile::new(&path, text.clone()), &s).unwrap();
    assert_eq!(whole.items.len(), 500);
    // Rows 0 and 9 take two lines each.
    assert_eq!(whole.items[10].line, 14);
    assert_eq!(
        get(&whole.items[9].item.event.data, "order_id"),
        &Value::str("A9\nB")
    );
    assert_eq!(whole.warnings.len(), 1);
    for (threads, block) in [(1, 256), (2, 256), (2, 256 * 7), (2, 1 << 22)] {
        let mut items = Vec::new();
        let warnings = load_events_in_blocks(&path, &s, threads, block, |e| items.push(e)).unwrap();
        assert_eq!(
            Loaded { items, warnings },
            whole,
            "{threads} threads, blocks of {block}"
        );
    }
    let bad = dir.file(
        "bad.csv",
        &text.replace("e300,order.paid", "e300,order.payed"),
    );
    let e = load_events_in_blocks(&bad, &s, 2, 256 * 3, |_| {}).unwrap_err();
    let line = 2 + 300 + 300usize.div_ceil(9);
    assert_eq!(e.line, Some(line), "{e}");
    let toml =
        "[[event]]\nname = \"order.refunded\"\ncustomer = \"c1\"\nat = 2026-12-01T10:00:00+08:00\n";
    let path = dir.file("events.toml", toml);
    assert_eq!(load_events(&path, &s, 2).unwrap().items.len(), 1);
}

fn customer_line(i: usize) -> String {
    format!("{{\"id\": \"c{i}\", \"name\": \"客户{i}\", \"tags\": [\"a\"], \"orders\": {i}, \"personal_added\": true}}\n")
}

/// Every customer the stream gives, by every thread, with the error if one.
fn drain(stream: &CustomerStream, threads: usize) -> (Vec<Located<Customer>>, Option<IntakeError>) {
    let out = std::sync::Mutex::new((Vec::new(), None));
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while let Some(block) = stream.next_block() {
                    let mut o = out.lock().unwrap();
                    match block {
                        Ok(items) => o.0.extend(items),
                        Err(e) => o.1 = Some(e),
                    }
                }
            });
        }
    });
    out.into_inner().unwrap()
}

#[test]
fn a_customer_stream_on_two_threads_gives_everyone_once_at_their_line() {
    let dir = TempDir::new();
    let mut text = String::new();
    let mut line_of = Vec::new();
    for i in 0..5000 {
        if i % 13 == 0 {
            text += "# comment\n\n";
        }
        line_of.push(text.lines().count() + 1);
        text += &customer_line(i);
    }
    let path = dir.file("customers.jsonl", &text);
    let s = Arc::new(schema());
    let stream = CustomerStream::open_in_blocks(&path, s.clone(), 4096).unwrap();
    let (mut got, error) = drain(&stream, 2);
    assert!(error.is_none(), "{error:?}");
    got.sort_by_key(|c| c.line);
    assert_eq!(got.len(), 5000);
    for (i, c) in got.iter().enumerate() {
        assert_eq!(
            (c.item.id.as_str(), c.line),
            (format!("c{i}").as_str(), line_of[i])
        );
        assert_eq!(get(&c.item.attrs, "orders"), &Value::Int(i as i64));
    }
    // Blocks of a few thousand by default.
    let stream = CustomerStream::open(&path, s.clone()).unwrap();
    let first = stream.next_block().unwrap().unwrap();
    assert_eq!(first.len(), 5000);

    // A repeated id, far from the first, is an error naming both lines.
    let twice = dir.file("twice.jsonl", &(text.clone() + &customer_line(17)));
    let stream = CustomerStream::open_in_blocks(&twice, s.clone(), 4096).unwrap();
    let (_, error) = drain(&stream, 2);
    let e = error.expect("a repeated id");
    assert_eq!(
        e.to_string(),
        format!(
            "{}:{}: customer `c17` is listed twice; the first is at line {}",
            twice.display(),
            text.lines().count() + 1,
            line_of[17]
        )
    );
    // CSV and TOML streams.
    let mut csv = String::from("id,name,tags,orders,personal_added\n");
    for i in 0..3000 {
        csv += &format!("c{i},\"名\n{i}\",a|b,{i},true\n");
    }
    let path = dir.file("customers.csv", &csv);
    let stream = CustomerStream::open_in_blocks(&path, s.clone(), 256 * 100).unwrap();
    let (mut got, error) = drain(&stream, 2);
    assert!(error.is_none(), "{error:?}");
    got.sort_by_key(|c| c.line);
    assert_eq!(got.len(), 3000);
    assert!(got.iter().enumerate().all(|(i, c)| c.line == 2 + 2 * i));
    let path = dir.file(
        "customers.toml",
        "[[customer]]\nid = \"c1\"\nname = \"n\"\ntags = []\norders = 0\npersonal_added = true\n",
    );
    let stream = CustomerStream::open(&path, s).unwrap();
    let (got, error) = drain(&stream, 2);
    assert!(error.is_none() && got.len() == 1);
}

/// Throughput of load_events: `cargo test --release --lib intake::tests::throughput -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    let n: usize = std::env::var("TEND_INTAKE_LINES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300_000);
    let dir = TempDir::new();
    let mut text = String::with_capacity(n * 230);
    for i in 0..n {
        let c = i / 2 + 1;
        let k = i % 2 + 1;
        text += &format!("{{\"id\":\"c{c:07}-{k}\",\"name\":\"order.paid\",\"customer\":\"c{c:07}\",\"at\":\"2026-12-01T10:00:00+08:00\",\"data\":{{\"order_id\":\"O{c}-{k}\",\"seq\":{k},\"amount\":89.0,\"address\":\"杭州市西湖区\"}},\"attributes\":{{\"orders\":{k}}}}}\n");
    }
    let path = dir.file("events.jsonl", &text);
    let mb = text.len() as f64 / 1e6;
    drop(text);
    let toml = TOML.replace(
        "[events.\"order.paid\"]\norder_id = \"string\"",
        "[events.\"order.paid\"]\norder_id = \"string\"\nseq = \"int\"\namount = \"float\"\naddress = \"string\"",
    );
    let mut findings = Vec::new();
    let s = Schema::from_config(&crate::config::Config::read(0, &toml, &mut findings));
    // Resident memory the loaded events keep (Linux), on the first load.
    let rss = || {
        std::fs::read_to_string("/proc/self/statm")
            .ok()
            .and_then(|s| s.split_whitespace().nth(1)?.parse::<f64>().ok())
            .map_or(0.0, |pages| pages * 4096.0)
    };
    let before = rss();
    let loaded = load_events(&path, &s, 2).unwrap();
    assert_eq!(loaded.items.len(), n);
    let kept = rss() - before;
    println!(
        "resident memory kept: {:.0} MB, {:.0} bytes an event ({} of them the Located<Envelope> itself); {} warnings",
        kept / 1e6,
        kept / n as f64,
        std::mem::size_of::<Located<Envelope>>(),
        loaded.warnings.len()
    );
    drop(loaded);
    for threads in [1, 2] {
        let best = (0..3)
            .map(|_| {
                let t = std::time::Instant::now();
                let loaded = load_events(&path, &s, threads).unwrap();
                assert_eq!(loaded.items.len(), n);
                t.elapsed().as_secs_f64()
            })
            .fold(f64::INFINITY, f64::min);
        println!(
            "{threads} thread(s): {n} lines ({mb:.0} MB) in {best:.3} s: {:.0} lines/s, {:.0} MB/s",
            n as f64 / best,
            mb / best
        );
    }
}

#[test]
fn the_fast_path_reads_as_the_general_way_or_leaves_the_line_to_it() {
    let s = schema();
    let general_customer = |l: &str| jsonl::parse_line(l).ok().and_then(|e| s.customer(e).ok());
    let general_event = |l: &str| jsonl::parse_line(l).ok().and_then(|e| s.event(e).ok());
    let customers = [
        r#"{"id":"c1","name":"林","tags":["a","b"],"orders":2,"personal_added":true,"pet":{"name":"咪咪"}}"#,
        r#"{"tags":[],"id":7,"orders":0,"name":"x\"y","personal_added":false,"score":3,"birthday":"1990-02-28","last_active_at":"2026-11-20T10:00:00+08:00"}"#,
        r#"{"id":"c2","name":"a","tags":[],"orders":1,"personal_added":true,"timezone":null,"pet":{"name":"b","kind":null}}"#,
        // Each of these the fast path leaves to the general way.
        r#"{"id":"c3","name":"a","tags":[],"orders":1,"personal_added":true,"last_active_at":"2026-11-20T10:00:00"}"#,
        r#"{"id":"","name":"a","tags":[],"orders":1,"personal_added":true}"#,
        r#"{"id":"c4","name":"a","tags":[],"orders":1.5,"personal_added":true}"#,
        r#"{"id":"c5","name":"a","tags":[],"orders":1,"personal_added":true,"nope":1}"#,
        r#"{"id":"c6","name":"a","tags":[],"personal_added":true}"#,
        r#"{"id":"c7","name":"a","name":"b","tags":[],"orders":1,"personal_added":true}"#,
        r#"{"id":"c8","name":"a","tags":[null],"orders":1,"personal_added":true}"#,
        r#"{"id":"c9","name":"a","tags":[],"orders":1,"personal_added":true,"birthday":"0000-01-01"}"#,
        r#"{"id":"c10","n\u0061me":"a","tags":[],"orders":1,"personal_added":true}"#,
    ];
    for l in customers {
        let fast = fast::customer(l, &s);
        assert!(
            fast.is_none() || fast == general_customer(l),
            "{l}: {fast:?} vs {:?}",
            general_customer(l)
        );
    }
    assert!(customers[..3]
        .iter()
        .all(|l| fast::customer(l, &s).is_some()));
    let events = [
        r#"{"id":"e1","name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00.7+08:00","data":{"order_id":"A"},"attributes":{"orders":1}}"#,
        r#"{"name":"order.refunded","customer":5,"at":"2026-12-01T10:00:00Z","data":{}}"#,
        r#"{"name":"customer.updated","customer":"c1","id":null,"at":"2026-12-01T10:00:00+08:00","data":{},"attributes":{"pet":{"name":"a"}}}"#,
        // Left to the general way.
        r#"{"data":{"order_id":"A"},"name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00"}"#,
        r#"{"name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00","data":{"order_id":"A"}}"#,
        r#"{"name":"order.payed","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{}}"#,
        r#"{"name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":7}}"#,
        r#"{"name":"order.paid","customer":"c1","at":"2026-12-01T10:00:00+08:00","data":{"order_id":"A"},"extra":1}"#,
        r#"{"name":"order.refunded","customer":"c1","at":"2026-12-01T10:00:00+08:00"}"#,
        r#"{"name":"order.paid","customer":"","at":"2026-12-01T10:00:00+08:00","data":{"order_id":"A"}}"#,
    ];
    for l in events {
        let fast = fast::event(l, &s);
        assert!(
            fast.is_none() || fast == general_event(l),
            "{l}: {fast:?} vs {:?}",
            general_event(l)
        );
    }
    assert!(events[..3].iter().all(|l| fast::event(l, &s).is_some()));
    assert!(events[3..].iter().all(|l| fast::event(l, &s).is_none()));
}

#[test]
fn a_list_item_of_the_wrong_type_is_named_by_place_and_value() {
    let t = customers(
        "c.toml",
        "[[customer]]\nid = \"c1\"\nname = \"n\"\ntags = [\"a\", 1]\norders = 0\npersonal_added = true\n",
    )
    .unwrap_err();
    assert_eq!(
        t.message,
        "`tags` must be a list of strings (the schema says list<string>); item 2 is 1"
    );
    assert_eq!(t.line, Some(4));
    let j = customers(
        "c.jsonl",
        "{\"id\": \"c1\", \"name\": \"n\", \"tags\": [\"a\", 1], \"orders\": 0, \"personal_added\": true}\n",
    )
    .unwrap_err();
    assert_eq!(j.message, t.message);
}

#[test]
fn a_csv_header_naming_a_column_twice_names_both_columns() {
    let e = customers("c.csv", "id,name,tags,name\nc1,a,,b\n").unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            Some(1),
            "columns 2 and 4 are both `name`; each column needs its own name"
        )
    );
    let e = customers("c.csv", "id,pet.name,pet\nc1,a,b\n").unwrap_err();
    assert!(
        e.message
            .starts_with("column 2 `pet.name` and column 3 `pet` clash"),
        "{}",
        e.message
    );
}

#[test]
fn a_csv_cell_cannot_hold_a_list_of_lists() {
    let toml = format!("{TOML}\n[events.\"grid\"]\ncells = \"list<list<int>>\"\n");
    let mut findings = Vec::new();
    let config = crate::config::Config::read(0, &toml, &mut findings);
    let schema = Schema::from_config(&config);
    let csv = "id,name,customer,at,data.cells\ne1,grid,c1,2026-12-01T10:00:00+08:00,1|2\n";
    let e = read_events(&src("e.csv", csv), &schema).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        e.message
            .starts_with("`data.cells` is a list of lists (the schema says list<list<int>>), which a CSV cell cannot hold"),
        "{}",
        e.message
    );
}

#[test]
fn a_json_lines_file_may_start_with_a_byte_order_mark() {
    let text = format!("\u{feff}{GOOD_JSON}");
    let cs = customers("c.jsonl", &text).unwrap();
    assert_eq!(&*cs[0].item.id, "c0");
}

#[test]
fn a_misspelt_csv_column_is_named_at_the_header_with_the_column_meant() {
    let e = customers("c.csv", "id,name,tagz\nc1,a,vip\n").unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            Some(1),
            "column 3 `tagz` is not in the schema; did you mean `tags`?"
        )
    );
    let e = customers("c.csv", "id,name,pet.nmae\nc1,a,b\n").unwrap_err();
    assert!(
        e.message.contains("did you mean `pet.name`?"),
        "{}",
        e.message
    );
    let e = events(
        "e.csv",
        "id,name,customer,at,data.order_idd\ne1,order.paid,c1,2026-12-01T10:00:00+08:00,A1\n",
    )
    .unwrap_err();
    assert_eq!(
        (e.line, e.message.as_str()),
        (
            Some(1),
            "column 5 `data.order_idd` is not in the schema; did you mean `data.order_id`?"
        )
    );
    // Streamed (`tend import`, big files) the same.
    let path = std::env::temp_dir().join(format!("tend-csv-typo-{}.csv", std::process::id()));
    std::fs::write(&path, "id,name,tagz\nc1,a,vip\n").unwrap();
    let e = match crate::intake::CustomerStream::open(&path, std::sync::Arc::new(schema())) {
        Err(e) => e,
        Ok(_) => panic!("a misspelt column must be refused when the stream opens"),
    };
    let _ = std::fs::remove_file(&path);
    assert!(e.message.contains("did you mean `tags`?"), "{}", e.message);
}
