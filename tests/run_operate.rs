//! Operating a runner: stopping a campaign (pause, resume, cancel),
//! settling deliveries by hand, retention, backups, catch-up after a stop,
//! and a store written by the previous schema.

use std::path::Path;
use tend::run::sqlite::Sqlite;
use tend::run::store::{Status, Store};
use tend::run::Runner;

mod run_support;
use run_support::stores::TestStore;
use run_support::*;

/// Who the file adapter has written to, and which template, in order.
fn written(dir: &Path) -> Vec<(String, String)> {
    file_lines(dir, "template")
}

fn outbox<S: Store>(runner: &mut Runner<S>) -> Vec<(String, String, Status)> {
    outbox_rows(runner)
        .into_iter()
        .map(|(c, template, status, _)| (c, template, status))
        .collect()
}

fn record_details<S: Store>(runner: &mut Runner<S>, kind: &str) -> Vec<String> {
    runner
        .store
        .recent_records(1000)
        .unwrap()
        .into_iter()
        .filter(|r| r.3 == kind)
        .map(|r| format!("{}: {}", r.1.as_deref().unwrap_or("-"), r.4))
        .collect()
}

fn pair(c: &str, template: &str) -> (String, String) {
    (c.to_string(), template.to_string())
}

fn a_paused_playbook_holds_its_deliveries_and_takes_no_entries_until_resumed(store: &TestStore) {
    let dir = project("pause", RUN_TOML, TWO_STEP);
    let ten = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), ten);
    runner
        .accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    round(&mut runner, ten);
    assert_eq!(written(&dir), [pair("c1", "thanks")]);

    assert_eq!(
        runner
            .store
            .pause("thanks", t("2026-12-03T11:00:00+08:00"))
            .unwrap(),
        0
    );
    // A customer paying while it is paused does not enter, now or later.
    runner
        .accept(&[&paid("c2", "2026-12-03T11:00:00+08:00")])
        .unwrap();
    round(&mut runner, t("2026-12-03T11:00:00+08:00"));
    assert_eq!(
        record_details(&mut runner, "ignored"),
        ["c2: trigger while the playbook is paused (`tend resume` lets it take entries again)"]
    );
    // c1's follow-up comes due and is held, not sent.
    round(&mut runner, t("2026-12-04T10:00:00+08:00"));
    assert_eq!(written(&dir), [pair("c1", "thanks")]);
    assert_eq!(
        outbox(&mut runner),
        [
            ("c1".into(), "later".into(), Status::Held),
            ("c1".into(), "thanks".into(), Status::Sent)
        ]
    );
    let held = record_details(&mut runner, "held");
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].starts_with("c1: "), "{held:?}");

    let noon = t("2026-12-04T12:00:00+08:00");
    assert_eq!(runner.store.resume("thanks", noon).unwrap(), Some(1));
    assert_eq!(runner.store.resume("thanks", noon).unwrap(), None);
    assert_eq!(record_details(&mut runner, "released").len(), 1);
    runner
        .accept(&[&paid("c3", "2026-12-04T12:00:00+08:00")])
        .unwrap();
    round(&mut runner, noon);
    assert_eq!(
        written(&dir),
        [
            pair("c1", "thanks"),
            pair("c1", "later"),
            pair("c3", "thanks")
        ]
    );
}

fn pausing_holds_what_is_queued_with_a_record_each(store: &TestStore) {
    let dir = project("pause-queued", RUN_TOML, TWO_STEP);
    let ten = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), ten);
    runner
        .accept(&[
            &paid("c1", "2026-12-03T10:00:00+08:00"),
            &paid("c2", "2026-12-03T10:00:00+08:00"),
        ])
        .unwrap();
    runner.work(ten).unwrap();
    assert_eq!(runner.store.pause("thanks", ten).unwrap(), 2);
    runner.dispatch(ten).unwrap();
    assert!(written(&dir).is_empty());
    let held = record_details(&mut runner, "held");
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(
        held[0].ends_with("held: the playbook is paused"),
        "{held:?}"
    );
    runner.store.resume("thanks", ten).unwrap();
    runner.dispatch(ten).unwrap();
    assert_eq!(written(&dir).len(), 2);
}

fn cancelling_ends_enrollments_drops_queued_deliveries_and_keeps_entries_closed(store: &TestStore) {
    let dir = project("cancel", RUN_TOML, TWO_STEP);
    let ten = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), ten);
    // c1 is waiting for its follow-up; c2's thank-you is queued, not yet handed over.
    runner
        .accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    round(&mut runner, ten);
    runner
        .accept(&[&paid("c2", "2026-12-03T10:20:00+08:00")])
        .unwrap();
    runner.work(t("2026-12-03T10:20:00+08:00")).unwrap();

    let half_past = t("2026-12-03T10:30:00+08:00");
    assert_eq!(runner.store.cancel("thanks", half_past).unwrap(), (1, 2));
    let dropped = record_details(&mut runner, "dropped");
    assert_eq!(dropped.len(), 1, "{dropped:?}");
    assert!(
        dropped[0].starts_with("c2: ")
            && dropped[0].ends_with(" dropped: the playbook was cancelled"),
        "{dropped:?}"
    );
    round(&mut runner, half_past);
    let mut stopped = record_details(&mut runner, "stopped");
    stopped.sort();
    assert_eq!(
        stopped,
        [
            "c1: cancelled with `tend cancel`",
            "c2: cancelled with `tend cancel`"
        ]
    );
    // Nobody hears from it again, and a new payment does not enter.
    runner
        .accept(&[&paid("c3", "2026-12-03T11:00:00+08:00")])
        .unwrap();
    round(&mut runner, t("2026-12-03T11:00:00+08:00"));
    round(&mut runner, t("2026-12-05T10:00:00+08:00"));
    assert_eq!(written(&dir), [pair("c1", "thanks")]);
    assert_eq!(
        outbox(&mut runner),
        [("c1".into(), "thanks".into(), Status::Sent)]
    );

    // Resumed, it takes entries again; what was cancelled stays ended.
    let later = t("2026-12-05T11:00:00+08:00");
    assert_eq!(runner.store.resume("thanks", later).unwrap(), Some(0));
    runner
        .accept(&[&paid("c4", "2026-12-05T11:00:00+08:00")])
        .unwrap();
    round(&mut runner, later);
    round(&mut runner, t("2026-12-06T11:00:00+08:00"));
    assert_eq!(
        written(&dir),
        [
            pair("c1", "thanks"),
            pair("c4", "thanks"),
            pair("c4", "later")
        ]
    );
}

/// An hourly reminder to one customer; the runner stops at 10:05 and starts
/// again at 12:30 with the default grace of an hour.
fn after_a_stop_of_two_hours_a_missed_fire_within_the_grace_runs_once_and_an_older_one_is_skipped(
    store: &TestStore,
) {
    let playbook = r#"template tick { text "{{ customer.name }}，整点提醒" }
segment everyone = customer.name != ""

playbook hourly {
  trigger every "0 * * * *" for everyone
  step remind { send wecom tick }
}
"#;
    let dir = project("catch-up", RUN_TOML, playbook);
    let nine = t("2026-12-03T09:30:00+08:00");
    {
        let mut runner = runner_in(&dir, store.open(), nine);
        runner
            .put_customer("c1", fields(r#"{"id":"c1","name":"小林"}"#, &runner), nine)
            .unwrap();
        round(&mut runner, nine);
        round(&mut runner, t("2026-12-03T10:05:00+08:00"));
    }
    assert_eq!(written(&dir), [pair("c1", "tick")]);
    let restart = t("2026-12-03T12:30:00+08:00");
    let mut runner = runner_in(&dir, store.open(), restart);
    round(&mut runner, restart);
    let times: Vec<String> = runner
        .store
        .outbox()
        .unwrap()
        .iter()
        .map(|r| {
            r.1.at
                .with_timezone(&chrono_tz::Asia::Shanghai)
                .format("%H:%M")
                .to_string()
        })
        .collect();
    assert_eq!(times, ["10:00", "12:00"]);
    let skipped = record_details(&mut runner, "skipped-fire");
    assert_eq!(skipped.len(), 1, "{skipped:?}");
    assert!(skipped[0].contains("11:00"), "{skipped:?}");
    // Once each: another round at the same instant, or a restart, adds nothing.
    round(&mut runner, restart);
    drop(runner);
    let mut runner = runner_in(&dir, store.open(), restart);
    round(&mut runner, restart);
    assert_eq!(written(&dir).len(), 2);
    assert_eq!(runner.store.outbox().unwrap().len(), 2);
}

fn fields<S: Store>(json: &str, runner: &Runner<S>) -> tend::value::Fields {
    let src = tend::source::SourceFile::new("c.jsonl", json.to_string());
    tend::intake::read_customers(&src, runner.schema())
        .unwrap()
        .items
        .remove(0)
        .item
        .attrs
}

fn tend(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// A delivery whose runner died while handing it to an adapter that cannot
/// dedupe is `unknown` until a person settles it; the commands a person
/// uses work on the project's store from the command line.
#[test]
fn a_person_lists_settles_and_backs_up_from_the_command_line() {
    let toml = RUN_TOML.replace(
        "[channels.wecom]\ntouchpoint = \"wecom\"\nadapter = \"file\"\npath = \"out/sent.jsonl\"",
        "[channels.wecom]\ntouchpoint = \"wecom\"\nadapter = \"console\"",
    );
    let dir = project("cli", &toml, TWO_STEP);
    let ten = t("2026-12-03T10:00:00+08:00");
    let key = {
        let mut runner = runner_in(&dir, Sqlite::open(&dir.join("tend.db")).unwrap(), ten);
        runner
            .accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
            .unwrap();
        runner.work(ten).unwrap();
        // Claimed for an attempt, then the runner is gone.
        let rows = runner.store.claim_deliveries(ten, 10).unwrap();
        assert_eq!(rows.len(), 1);
        rows[0].key.clone()
    };
    // The next runner finds it `sending` on a console, which cannot be asked.
    drop(runner_in(
        &dir,
        Sqlite::open(&dir.join("tend.db")).unwrap(),
        ten,
    ));

    let (code, out, err) = tend(&dir, &["status", "--dead"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&key) && out.contains("unknown"), "{out}");
    let (code, out, _) = tend(&dir, &["status"]);
    assert_eq!(code, 0);
    assert!(out.contains("tend resolve KEY sent|dead"), "{out}");
    assert!(
        out.contains(&format!(
            "last error per channel\n  wecom            {key}: the runner stopped during the attempt"
        )),
        "{out}"
    );
    assert!(out.contains("timers due within the hour: "), "{out}");

    let (code, out, err) = tend(&dir, &["resolve", &key, "sent"]);
    assert_eq!(
        (code, out.trim()),
        (0, &*format!("{key} settled as sent")),
        "{err}"
    );
    let (code, _, err) = tend(&dir, &["resolve", &key, "dead"]);
    assert_eq!(code, 2);
    assert!(err.contains("no delivery in state `unknown`"), "{err}");
    let (code, out, _) = tend(&dir, &["status", "--dead"]);
    assert_eq!((code, out.as_str()), (0, ""));

    let (code, out, err) = tend(&dir, &["pause", "thanks"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("paused `thanks`"), "{out}");
    let (_, out, _) = tend(&dir, &["status"]);
    assert!(
        out.contains("thanks                   paused since 20"),
        "{out}"
    );
    let (code, _, err) = tend(&dir, &["pause", "thank"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no playbook `thank`") && err.contains("thanks"),
        "{err}"
    );
    let (code, out, _) = tend(&dir, &["resume", "thanks"]);
    assert_eq!(code, 0);
    assert!(out.starts_with("resumed `thanks`"), "{out}");
    let (code, _, err) = tend(&dir, &["resume", "thanks"]);
    assert_eq!(code, 2);
    assert!(err.contains("is not paused"), "{err}");

    let (code, _, err) = tend(&dir, &["backup", "copy.db"]);
    assert_eq!(code, 0, "{err}");
    let mut copy = Sqlite::open(&dir.join("copy.db")).unwrap();
    let rows = copy.outbox().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0].0.as_str(), rows[0].2),
        (key.as_str(), Status::Sent)
    );
    let (code, _, err) = tend(&dir, &["backup", "copy.db"]);
    assert_eq!(code, 2);
    assert!(err.contains("exists"), "{err}");
}

fn retention_prunes_history_but_remembers_event_ids_for_the_longest_wait(store: &TestStore) {
    let playbook = r#"template thanks { text "{{ customer.name }}，订单收到啦" }
template later { text "{{ customer.name }}，还需要什么吗？" }

playbook thanks {
  trigger event order.paid
  step thank {
    send wecom thanks
    wait for order.paid within 3d else -> bye
  }
  step bye { send wecom later }
}
"#;
    let toml = format!("{RUN_TOML}\n[run]\nretain = \"1d\"\n");
    let dir = project("retain", &toml, playbook);
    let day0 = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), day0);
    let event = paid("c1", "2026-12-03T10:00:00+08:00");
    runner.accept(&[&event]).unwrap();
    round(&mut runner, day0);
    let records = runner.store.recent_records(100).unwrap().len();
    assert!(records > 0);

    // Two days on, the thank-you and its records are past `retain`; the
    // event id is not past the three-day wait, so a repeat is still a repeat.
    let day2 = day0 + chrono::Duration::days(2);
    let pruned = runner.prune(day2).unwrap();
    assert_eq!((pruned.deliveries, pruned.events), (1, 0));
    assert_eq!(pruned.records, records);
    assert!(runner.store.outbox().unwrap().is_empty());
    assert_eq!(
        runner.accept(&[&event]).unwrap(),
        [tend::run::Intake::Accepted {
            id: "p-c1-2026-12-03T10:00:00+08:00".into(),
            duplicate: true
        }]
    );
    // The wait runs out on day 3; on day 5 the event id goes too.
    round(&mut runner, day0 + chrono::Duration::days(3));
    assert_eq!(written(&dir), [pair("c1", "thanks"), pair("c1", "later")]);
    let pruned = runner.prune(day0 + chrono::Duration::days(5)).unwrap();
    assert_eq!((pruned.deliveries, pruned.events), (1, 1));
}

/// A store written by schema 1 (before pause and cancel) opens, migrates,
/// and its waiting customer and queued delivery go on.
#[test]
fn a_store_of_the_previous_schema_migrates_and_goes_on() {
    let dir = project("migrate", RUN_TOML, TWO_STEP);
    let db = dir.join("tend.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(include_str!("data/store-v1.sql"))
        .unwrap();
    drop(conn);
    let day1 = t("2026-12-04T10:00:00+08:00");
    let mut runner = runner_in(&dir, Sqlite::open(&db).unwrap(), day1);
    round(&mut runner, day1);
    assert_eq!(
        outbox(&mut runner),
        [
            ("c1".into(), "later".into(), Status::Sent),
            ("c1".into(), "thanks".into(), Status::Sent)
        ]
    );
    assert_eq!(written(&dir), [pair("c1", "thanks"), pair("c1", "later")]);
    let schema: String = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(schema, "2");
    // And the new controls work on it.
    assert_eq!(runner.store.pause("thanks", day1).unwrap(), 0);
}

/// Lines the file adapter wrote: (customer, text).
fn texts(dir: &Path) -> Vec<(String, String)> {
    file_lines(dir, "text")
}

/// Waits up to 15 s for the file adapter to have written what `done` wants.
fn until(dir: &Path, done: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let lines = texts(dir);
        if done(&lines) || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// An edited playbook is linted and taken while the runner runs: new
/// entries get the new version, a customer already in it finishes on
/// theirs, a playbook with errors is refused, and SIGHUP reloads too.
#[cfg(target_os = "linux")]
#[test]
fn tend_run_takes_an_edited_playbook_and_refuses_a_broken_one() {
    let version = |v: &str| {
        format!(
            "playbook thanks {{\n  trigger event order.paid\n  step thank {{\n    send wecom \"{v} 谢谢 {{{{ customer.name }}}}\"\n    wait 4s\n    send wecom \"{v} 回访 {{{{ customer.name }}}}\"\n  }}\n}}\n"
        )
    };
    let dir = project("reload", RUN_TOML, &version("v1"));
    let (child, base) = start(&dir, "tok");
    let event = |c: &str| paid(c, &chrono::Utc::now().to_rfc3339());
    assert_eq!(post(&base, Some("tok"), &event("c1")).0, 202);
    until(&dir, |l| !l.is_empty());

    std::fs::write(dir.join("playbooks/p.playbook"), version("v2")).unwrap();
    // New customers until one gets the new version.
    let mut n = 2;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while !texts(&dir).iter().any(|(_, t)| t.starts_with("v2")) {
        assert!(std::time::Instant::now() < deadline, "{:?}", texts(&dir));
        post(&base, Some("tok"), &event(&format!("c{n}")));
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    let lines = until(&dir, |l| {
        l.iter().any(|(c, t)| c == "c1" && t.contains("回访"))
    });
    assert!(
        lines.contains(&("c1".to_string(), "v1 回访 c1".to_string())),
        "c1 entered on v1 and finishes on it: {lines:?}"
    );

    std::fs::write(
        dir.join("playbooks/p.playbook"),
        "playbook thanks {\n  trigger event\n}\n",
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(2500));
    post(&base, Some("tok"), &event("late"));
    let lines = until(&dir, |l| l.iter().any(|(c, _)| c == "late"));
    assert!(
        lines.contains(&("late".to_string(), "v2 谢谢 late".to_string())),
        "{lines:?}"
    );

    // SIGHUP asks for the same reload and does not stop the runner; the fixed file is taken.
    std::fs::write(dir.join("playbooks/p.playbook"), version("v3")).unwrap();
    let pid = child.0.id().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-HUP", &pid])
        .status()
        .unwrap()
        .success());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    let mut n = 100;
    while !texts(&dir).iter().any(|(_, t)| t.starts_with("v3")) {
        assert!(std::time::Instant::now() < deadline, "{:?}", texts(&dir));
        post(&base, Some("tok"), &event(&format!("c{n}")));
        n += 1;
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    drop(child);
}

/// An import beside a running runner never has its change overwritten: a
/// customer the runner is working on is changed after its work commits.
#[test]
fn an_import_waits_for_a_customer_the_runner_has_claimed() {
    let dir = project("import-claimed", RUN_TOML, TWO_STEP);
    let db = dir.join("tend.db");
    let ten = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, Sqlite::open(&db).unwrap(), ten);
    runner
        .accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    // The runner's round has claimed c1 and not yet committed.
    let work = runner
        .store
        .claim(ten, 10, ten + chrono::Duration::seconds(60))
        .unwrap();
    assert_eq!(work.len(), 1);
    let mut import = Sqlite::open(&db).unwrap();
    let ids = vec!["c1".to_string(), "c2".to_string()];
    let mut changed = Vec::new();
    let claimed = import
        .put_customers(&ids, ten, &mut |i, stored, _| {
            changed.push(i);
            let mut s = stored.unwrap_or_else(|| {
                tend::engine::state::CustomerState::new(ids[i].as_str(), Default::default())
            });
            s.attrs = [("name", tend::value::Value::str("改过"))]
                .into_iter()
                .collect();
            s
        })
        .unwrap();
    assert_eq!((claimed, changed), (vec![0], vec![1]));
    // Once the round commits, c1 is free to change.
    runner
        .store
        .commit(vec![tend::run::store::Done {
            customer: "c1".into(),
            state: tend::engine::state::CustomerState::new("c1", Default::default()),
            advanced_to: ten,
            handled: vec![],
            deliveries: vec![],
            records: vec![],
            generation: 0,
            lease: 0,
        }])
        .unwrap();
    let claimed = import
        .put_customers(&ids[..1], ten, &mut |_, stored, _| stored.unwrap())
        .unwrap();
    assert!(claimed.is_empty());
}

/// A customer whose advance takes longer than the step budget keeps what it
/// did but is quarantined, so it cannot stall every later round.
fn a_customer_over_the_step_budget_is_quarantined_after_its_work_commits(store: &TestStore) {
    let dir = project("budget", RUN_TOML, TWO_STEP);
    let ten = t("2026-12-03T10:00:00+08:00");
    let mut runner = runner_in(&dir, store.open(), ten);
    runner.set_step_budget(std::time::Duration::ZERO);
    runner
        .accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    round(&mut runner, ten);
    assert_eq!(written(&dir), [pair("c1", "thanks")]);
    let stopped = runner.store.quarantined().unwrap();
    assert_eq!(stopped.len(), 1);
    assert!(
        stopped[0].1.contains("over the budget of 0.0 s"),
        "{stopped:?}"
    );
    // Its follow-up waits while it is stopped, and comes after a retry.
    runner.set_step_budget(std::time::Duration::from_secs(5));
    round(&mut runner, t("2026-12-04T10:00:00+08:00"));
    assert_eq!(written(&dir).len(), 1);
    assert!(runner.store.release("c1").unwrap());
    round(&mut runner, t("2026-12-04T10:00:01+08:00"));
    assert_eq!(written(&dir), [pair("c1", "thanks"), pair("c1", "later")]);
}

on_every_store!(
    a_paused_playbook_holds_its_deliveries_and_takes_no_entries_until_resumed,
    pausing_holds_what_is_queued_with_a_record_each,
    cancelling_ends_enrollments_drops_queued_deliveries_and_keeps_entries_closed,
    after_a_stop_of_two_hours_a_missed_fire_within_the_grace_runs_once_and_an_older_one_is_skipped,
    retention_prunes_history_but_remembers_event_ids_for_the_longest_wait,
    a_customer_over_the_step_budget_is_quarantined_after_its_work_commits,
);
