//! Hostile playbooks: generated with loops, caps, waits and date arithmetic
//! of random sizes, linted and simulated against customers with values at
//! the edges of their ranges (tests/harness). No input may panic, abort or
//! overflow an ordinary thread's stack. The fuzz targets in fuzz/ run the
//! same harness for longer.

mod harness;

use proptest::prelude::*;

/// Sizes where arithmetic goes wrong: zero, one, the parser's largest
/// duration count and values that overflow dates when multiplied.
fn size() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_string()),
        Just("1".to_string()),
        Just("100000".to_string()),
        (1u32..400).prop_map(|n| n.to_string()),
    ]
}

fn duration() -> impl Strategy<Value = String> {
    (size(), prop::sample::select(vec!["w", "d", "h", "m", "s"])).prop_map(|(n, u)| {
        // A zero wait is a lint error; keep most of them runnable.
        let n = if n == "0" { "1".to_string() } else { n };
        format!("{n}{u}")
    })
}

fn time_expr() -> impl Strategy<Value = String> {
    prop_oneof![
        duration().prop_map(|d| format!("now + {d}")),
        size().prop_map(|n| format!("now + 1d * customer.orders + {n}m")),
        duration().prop_map(|d| format!("customer.last_active_at + {d}")),
        duration().prop_map(|d| format!("customer.last_active_at - {d}")),
        prop::collection::vec(duration(), 1..150)
            .prop_map(|ds| format!("now + {}", ds.join(" + "))),
    ]
}

fn action(steps: usize) -> impl Strategy<Value = String> {
    let jump = (0..steps).prop_map(|k| format!("-> s{k}"));
    prop_oneof![
        Just("send wecom t".to_string()),
        Just("send sms t".to_string()),
        Just("send personal t".to_string()),
        Just(
            "send wecom \"{{ customer.name }}{% for t in customer.tags %}{{ t }}{% endfor %}\""
                .to_string()
        ),
        duration().prop_map(|d| format!("wait {d}")),
        time_expr().prop_map(|t| format!("wait until {t}")),
        duration().prop_map(|d| format!(
            "wait until customer.birthday - {}",
            d.replace(['h', 'm', 's'], "d")
        )),
        duration().prop_map(|d| format!(
            "set customer.birthday = customer.birthday + {}",
            d.replace(['h', 'm', 's'], "w")
        )),
        size().prop_map(|n| format!("set customer.orders = customer.orders * {n} + {n}")),
        duration().prop_map(|d| format!("wait for message.replied within {d}")),
        (duration(), 0..steps)
            .prop_map(|(d, k)| format!("wait for order.shipped within {d} else -> s{k}")),
        Just("tag add \"x\"".to_string()),
        duration().prop_map(|d| format!("grant coupon new15 worth 15 valid {d}")),
        time_expr().prop_map(|t| format!("hook h at {t} {{ send wecom t }}")),
        Just("task \"回访\" to owner".to_string()),
        jump,
    ]
}

fn playbook() -> impl Strategy<Value = String> {
    (1usize..5).prop_flat_map(|steps| {
        (
            prop::sample::select(vec![
                "trigger event order.paid",
                "trigger event message.replied",
                "trigger yearly customer.birthday at 10:00",
                "trigger yearly customer.pet.birthday - 3d at 23:30",
                "trigger every \"0 10 * * *\" for vip",
                "trigger every \"* * * * *\"",
                "trigger enter vip",
            ]),
            prop::sample::select(vec!["", "reenter always", "reenter after 1h"]),
            prop::sample::select(vec!["", "cap 1 per day", "quiet 09:00..21:00", "timezone customer"]),
            prop::collection::vec(prop::collection::vec(action(steps), 1..6), steps),
        )
            .prop_map(|(trigger, reenter, policy, bodies)| {
                let mut text = String::from(
                    "segment vip = \"vip\" in customer.tags\ntemplate t { text \"{{ customer.name }}，您好\" }\nplaybook p {\n",
                );
                for line in [trigger, reenter, policy] {
                    if !line.is_empty() {
                        text.push_str(&format!("  {line}\n"));
                    }
                }
                for (k, body) in bodies.iter().enumerate() {
                    text.push_str(&format!("  step s{k} {{\n"));
                    for a in body {
                        text.push_str(&format!("    {a}\n"));
                    }
                    text.push_str("  }\n");
                }
                text.push_str("}\n");
                text
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn generated_playbooks_lint_and_simulate_without_panic(text in playbook()) {
        let _ = harness::lint_and_simulate(&text);
    }
}

/// The generator is worth its time only if most of what it makes checks
/// clean and reaches the simulator.
#[test]
fn most_generated_playbooks_reach_the_simulator() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = playbook();
    let mut simulated = 0;
    let mut rejected = Vec::new();
    for _ in 0..100 {
        let text = strategy.new_tree(&mut runner).unwrap().current();
        if harness::lint_and_simulate(&text) {
            simulated += 1;
        } else if rejected.len() < 3 {
            rejected.push(text);
        }
    }
    eprintln!("{simulated} of 100 generated playbooks simulated");
    assert!(
        simulated >= 50,
        "{simulated} of 100 simulated; some that were not:\n{}",
        rejected.join("\n")
    );
}

/// The issue's own cases, each of which once crashed or hung.
#[test]
fn known_hostile_playbooks_lint_and_simulate() {
    let cases = [
        "template t { text \"{{ customer.name }}\" }\nplaybook p {\n  trigger event order.paid\n  step s { send wecom t; wait 5m; -> s }\n}\n",
        "playbook p {\n  trigger event order.paid\n  step s { wait until now + 1d * customer.orders }\n}\n",
        "playbook p {\n  trigger event order.paid\n  step s {\n    set customer.birthday = customer.birthday + 100000w\n    wait 1d\n    -> s\n  }\n}\n",
        "playbook p {\n  trigger event order.paid\n  step s { wait until customer.birthday - 1000d }\n}\n",
    ];
    for text in cases {
        let _ = harness::lint_and_simulate(text);
    }
}
