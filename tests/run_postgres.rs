//! What only a store several runners share must do: two runners on one
//! PostgreSQL database split the work and send each message once; claims
//! never overlap; a runner whose claim lapsed and was taken over cannot
//! commit over the newer work; a lost connection is opened again; `tend run
//! --db postgres://…` runs end to end. (The runner's other tests run on
//! PostgreSQL too: see `on_every_store!`.)

use chrono::Duration;
use std::collections::HashSet;
use std::path::Path;
use tend::run::store::{Done, Incoming, Store};

mod run_support;
use run_support::stores::TestStore;
use run_support::*;

/// The test's own PostgreSQL store, or `None` (said) without a server.
fn store(name: &str) -> Option<TestStore> {
    let s = TestStore::postgres(name);
    if s.is_none() {
        eprintln!("skipped: TEND_TEST_POSTGRES is not set (scripts/test-postgres starts a server and prints it)");
    }
    s
}

fn event(customer: &str, n: usize) -> Incoming {
    Incoming {
        id: format!("e-{customer}-{n}"),
        customer: customer.to_string(),
        at: t("2026-12-03T10:00:00+08:00"),
        body: format!("{{\"n\":{n}}}"),
    }
}

#[test]
fn two_runners_on_one_database_split_the_work_and_send_each_message_once() {
    let Some(db) = store("two_runners") else {
        return;
    };
    // One project, copied: each runner writes its own file, so the union
    // shows every message and any repeat.
    let a = project("pg-a", RUN_TOML, TWO_STEP);
    let b = project("pg-b", RUN_TOML, TWO_STEP);
    let t0 = t("2026-12-03T10:00:00+08:00");
    let mut first = runner_in(&a, db.open(), t0);
    let events: Vec<String> = (0..300)
        .map(|i| paid(&format!("c{i:03}"), "2026-12-03T10:00:00+08:00"))
        .collect();
    let refs: Vec<&str> = events.iter().map(String::as_str).collect();
    first.accept(&refs).unwrap();
    let second = runner_in(&b, db.open(), t0);
    let run = |mut runner: tend::run::Runner<Box<dyn Store>>| {
        std::thread::spawn(move || {
            for at in [t0, t0 + Duration::days(1)] {
                // Rounds until neither customers nor deliveries are left at this instant.
                while runner.work(at).unwrap() + runner.dispatch(at).unwrap() > 0 {}
            }
        })
    };
    let (x, y) = (run(first), run(second));
    x.join().unwrap();
    y.join().unwrap();
    let mut all = file_lines(&a, "template");
    let from_b = file_lines(&b, "template");
    assert!(
        !all.is_empty() && !from_b.is_empty(),
        "both runners did some of the work: {} and {}",
        all.len(),
        from_b.len()
    );
    all.extend(from_b);
    let distinct: HashSet<_> = all.iter().cloned().collect();
    assert_eq!(all.len(), 600, "every customer's two messages, once each");
    assert_eq!(distinct.len(), 600);
}

#[test]
fn claims_by_several_runners_at_once_never_overlap() {
    let Some(db) = store("claims") else {
        return;
    };
    let mut s = db.open();
    let events: Vec<Incoming> = (0..1000).map(|i| event(&format!("c{i}"), i)).collect();
    s.accept(&events).unwrap();
    let now = t("2026-12-03T10:00:00+08:00");
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let mut s = db.open();
            std::thread::spawn(move || {
                let mut mine = Vec::new();
                loop {
                    let work = s.claim(now, 50, now + Duration::seconds(60)).unwrap();
                    if work.is_empty() {
                        return mine;
                    }
                    mine.extend(work.into_iter().map(|w| w.customer));
                }
            })
        })
        .collect();
    let mut seen = HashSet::new();
    let mut total = 0;
    for th in threads {
        let mine = th.join().unwrap();
        total += mine.len();
        seen.extend(mine);
    }
    assert_eq!((total, seen.len()), (1000, 1000));
}

#[test]
fn work_whose_claim_lapsed_and_was_taken_over_is_not_committed() {
    let Some(db) = store("lapsed") else {
        return;
    };
    let (mut slow, mut other) = (db.open(), db.open());
    slow.accept(&[event("c1", 1)]).unwrap();
    let now = t("2026-12-03T10:00:00+08:00");
    let done = |w: &tend::run::store::Work, note: &str| Done {
        customer: w.customer.clone(),
        state: tend::engine::state::CustomerState::new("c1", Default::default()),
        advanced_to: now,
        handled: w.inputs.iter().map(|i| i.id.clone()).collect(),
        deliveries: vec![],
        records: vec![tend::engine::Record {
            at: now,
            customer: Some("c1".into()),
            playbook: None,
            step: None,
            kind: tend::engine::RecordKind::Failed,
            detail: note.into(),
        }],
        generation: w.generation,
        lease: w.lease,
    };
    let late = slow.claim(now, 10, now + Duration::seconds(60)).unwrap();
    assert_eq!(late.len(), 1);
    // While the lease holds, nobody else gets the customer.
    assert!(other
        .claim(now + Duration::seconds(30), 10, now)
        .unwrap()
        .is_empty());
    // It lapses; the other runner takes the customer over and commits.
    let after = now + Duration::seconds(120);
    let taken = other
        .claim(after, 10, after + Duration::seconds(60))
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        taken[0].inputs.len(),
        1,
        "the input is still there to handle"
    );
    other
        .commit(vec![done(&taken[0], "by the runner that took over")])
        .unwrap();
    // The slow runner's commit lands nowhere.
    slow.commit(vec![done(&late[0], "by the runner whose claim lapsed")])
        .unwrap();
    let details: Vec<String> = other
        .recent_records(10)
        .unwrap()
        .into_iter()
        .map(|r| r.4)
        .collect();
    assert_eq!(details, ["by the runner that took over"]);
}

#[test]
fn a_lost_connection_is_opened_again() {
    let Some(db) = store("reconnect") else {
        return;
    };
    let tend::run::db::Db::Postgres(url) = &db.db else {
        unreachable!()
    };
    let url = format!("{url}&application_name=tend_reconnect_test");
    let mut s = tend::run::db::Db::Postgres(url).open().unwrap();
    s.accept(&[event("c1", 1)]).unwrap();
    let server = run_support::stores::postgres_url().unwrap();
    let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'tend_reconnect_test'",
            &[],
        )
        .unwrap();
    assert_eq!(killed.len(), 1);
    // The next write finds the connection gone, connects again and goes on.
    let got = s.accept(&[event("c2", 2)]).unwrap();
    assert_eq!(got, [tend::run::store::Accepted::New]);
    assert_eq!(
        s.accept(&[event("c3", 3)]).unwrap(),
        [tend::run::store::Accepted::New]
    );
}

#[test]
fn a_store_written_by_a_newer_tend_is_refused() {
    let Some(db) = store("newer") else {
        return;
    };
    drop(db.open());
    let tend::run::db::Db::Postgres(url) = &db.db else {
        unreachable!()
    };
    let mut c = postgres::Client::connect(url, postgres::NoTls).unwrap();
    c.execute("UPDATE meta SET value = '99' WHERE key = 'schema'", &[])
        .unwrap();
    let e = db.db.open().err().unwrap().to_string();
    assert!(e.contains("newer tend (schema 99"), "{e}");
}

#[test]
fn tend_run_on_postgres_delivers_and_tend_status_reads_the_same_store() {
    let Some(db) = store("tend_run") else {
        return;
    };
    let dir = project("pg-run", RUN_TOML, RUN_PLAYBOOK);
    let (child, base) = start_on(&dir, "secret", Some(&db.arg()));
    let (code, _) = post(
        &base,
        Some("secret"),
        &paid("c1", "2026-12-03T10:00:00+08:00"),
    );
    assert_eq!(code, 202);
    let lines = sent(&dir, 1);
    assert_eq!(lines.len(), 1);
    drop(child);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["status", "."])
        .arg("--db")
        .arg(db.arg())
        .current_dir(&dir)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("sent"), "{text}");
    assert!(
        !Path::new(&dir.join("tend.db")).exists(),
        "no SQLite file made on the side"
    );
    // `tend backup` points at PostgreSQL's own tools.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tend"))
        .args(["backup", "copy.db"])
        .arg("--db")
        .arg(db.arg())
        .current_dir(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("pg_dump"));
}

#[test]
fn a_stopped_runners_claims_are_taken_over_at_once_not_when_they_lapse() {
    let Some(db) = store("stopped") else {
        return;
    };
    let dir = project("pg-stopped", RUN_TOML, RUN_PLAYBOOK);
    let now = t("2026-12-03T10:00:00+08:00");
    let mut gone = runner_in(&dir, db.open(), now);
    gone.accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    gone.work(now).unwrap();
    // It claims c1's delivery and c2 (a new event), then stops mid-attempt.
    assert_eq!(gone.store.claim_deliveries(now, 1).unwrap().len(), 1);
    gone.accept(&[&paid("c2", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    assert_eq!(
        gone.store
            .claim(now, 10, now + Duration::seconds(60))
            .unwrap()
            .len(),
        1
    );
    drop(gone);
    // A second later, well inside both leases, another runner starts.
    let later = now + Duration::seconds(1);
    let mut next = db.open();
    // The server lets go of a closed connection's lock within moments.
    let mut recovered = 0;
    for _ in 0..100 {
        recovered = next
            .recover(Some(later - Duration::minutes(15)), &|_| false)
            .unwrap();
        if recovered > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(
        recovered, 1,
        "the unsettled attempt is the stopped runner's"
    );
    let statuses: Vec<_> = next.outbox().unwrap().into_iter().map(|r| r.2).collect();
    assert!(
        statuses.contains(&tend::run::store::Status::Unknown),
        "{statuses:?}"
    );
    let work = next
        .claim(later, 10, later + Duration::seconds(60))
        .unwrap();
    assert_eq!(work.len(), 1, "c2 is free to work again");
    assert_eq!(work[0].customer, "c2");
}

#[test]
fn a_live_runners_claims_are_left_alone() {
    let Some(db) = store("live") else {
        return;
    };
    let dir = project("pg-live", RUN_TOML, RUN_PLAYBOOK);
    let now = t("2026-12-03T10:00:00+08:00");
    let mut busy = runner_in(&dir, db.open(), now);
    busy.accept(&[&paid("c1", "2026-12-03T10:00:00+08:00")])
        .unwrap();
    busy.work(now).unwrap();
    assert_eq!(busy.store.claim_deliveries(now, 1).unwrap().len(), 1);
    let mut other = db.open();
    assert_eq!(
        other
            .recover(Some(now - Duration::minutes(15)), &|_| false)
            .unwrap(),
        0
    );
    // Once the claim is older than the lapse, it is taken over even so (a
    // runner cut off from the database without its connection closing).
    let much_later = now + Duration::minutes(16);
    assert_eq!(
        other
            .recover(Some(much_later - Duration::minutes(15)), &|_| true)
            .unwrap(),
        1
    );
}
