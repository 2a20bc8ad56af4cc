//! What the runner keeps, behind one trait: customers with their state and
//! next timer, accepted events, the outbox, records and the program versions
//! still in use. Work is claimed per customer with a lease (one customer's
//! inputs and timers are handled one at a time, in one place), so a store
//! shared by several runner processes fits the same trait. Nothing in it is
//! particular to SQLite.

use crate::engine::state::CustomerState;
use crate::engine::{Delivery, Record};
use chrono::{DateTime, Utc};

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug)]
pub struct StoreError(pub String);

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StoreError {}

/// An event accepted from an input, kept until its customer's work handles it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    /// Unique: a repeat is acknowledged and ignored.
    pub id: String,
    pub customer: String,
    pub at: DateTime<Utc>,
    /// The envelope as one JSON line, read again by the schema when handled.
    pub body: String,
}

/// What happened to one incoming event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    New,
    /// The same id with the same body: acknowledged, ignored.
    Duplicate,
    /// The same id with another body: refused.
    Conflict,
}

/// One customer's work, claimed: the stored state (`None` for a customer
/// the store has not seen) and the inputs waiting, by time then arrival.
#[derive(Debug)]
pub struct Work {
    pub customer: String,
    pub state: Option<CustomerState>,
    /// The instant this customer was last advanced to.
    pub advanced_to: Option<DateTime<Utc>>,
    pub inputs: Vec<Incoming>,
    /// The [`Controls::generation`] its state was last worked under: a
    /// cancel newer than that has not reached this customer yet.
    pub generation: i64,
    /// For a customer the store holds no state for: whether an erased
    /// customer with this id had opted out (the mark stays set).
    pub opted_out: bool,
    /// This claim's token: a store shared by several runners commits the
    /// work only while the claim is still this one (0 where one runner owns
    /// the store).
    pub lease: i64,
}

/// One customer's work, done: all of it commits together (the outbox).
#[derive(Debug)]
pub struct Done {
    pub customer: String,
    pub state: CustomerState,
    pub advanced_to: DateTime<Utc>,
    /// The inputs handled (their ids).
    pub handled: Vec<String>,
    /// Each with the quiet hours that hold it if it is handed over late.
    pub deliveries: Vec<(Delivery, Quiet)>,
    pub records: Vec<Record>,
    /// The [`Controls::generation`] this work was done under: a playbook
    /// cancelled since then has its deliveries dropped at commit.
    pub generation: i64,
    /// The [`Work::lease`] it was done under.
    pub lease: i64,
}

/// An operator's hold on a playbook (`tend pause`, `tend cancel`).
#[derive(Debug, Clone, PartialEq)]
pub struct Control {
    pub playbook: String,
    /// Paused since: no new entries, deliveries held.
    pub paused: Option<DateTime<Utc>>,
    /// The last `tend cancel`: enrollments that entered by then end.
    pub cancelled: Option<DateTime<Utc>>,
    /// The generation of that cancel.
    pub cancel_generation: i64,
}

/// Every playbook's control, and a number that grows with each change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Controls {
    pub generation: i64,
    pub playbooks: Vec<Control>,
}

/// What a retention pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub deliveries: usize,
    pub records: usize,
    pub events: usize,
}

/// An outbox row as listed: (key, delivery, status, the adapter's last reply).
pub type OutboxRow = (String, Delivery, Status, Option<String>);

/// A record as listed: (at, customer, playbook, kind, detail).
pub type RecordRow = (
    DateTime<Utc>,
    Option<String>,
    Option<String>,
    String,
    String,
);

/// One customer's latest deliveries (key, delivery, status) and records
/// (at, playbook, kind, detail), newest first.
pub type History = (
    Vec<(String, Delivery, Status)>,
    Vec<(DateTime<Utc>, Option<String>, String, String)>,
);

/// What erasing a customer removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Erased {
    pub events: usize,
    pub deliveries: usize,
    pub records: usize,
    /// The opt-out was kept (as a salted hash of the id).
    pub kept_opt_out: bool,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Pending,
    Sending,
    Sent,
    /// Failed, to be tried again at `next_attempt`.
    Failed,
    /// Failed for good, or after the last attempt.
    Dead,
    /// The far side may have it and cannot be asked.
    Unknown,
    /// Held by `tend pause`.
    Held,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Sending => "sending",
            Status::Sent => "sent",
            Status::Failed => "failed",
            Status::Dead => "dead",
            Status::Unknown => "unknown",
            Status::Held => "held",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Sending,
            Status::Sent,
            Status::Failed,
            Status::Dead,
            Status::Unknown,
            Status::Held,
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// The quiet hours of a delivery: (zone, start, end) in minutes after midnight.
pub type Quiet = Vec<(chrono_tz::Tz, crate::program::Quiet)>;

/// Quiet hours as stored: `ZONE START END` ranges separated by `;`.
pub fn quiet_text(q: &Quiet) -> String {
    q.iter()
        .map(|(tz, r)| format!("{} {} {}", tz.name(), r.start, r.end))
        .collect::<Vec<_>>()
        .join(";")
}

pub fn quiet_parse(s: &str) -> Quiet {
    s.split(';')
        .filter_map(|part| {
            let mut it = part.split(' ');
            let tz = it.next()?.parse().ok()?;
            let start = it.next()?.parse().ok()?;
            let end = it.next()?.parse().ok()?;
            Some((tz, crate::program::Quiet { start, end }))
        })
        .collect()
}

/// A row of the outbox, claimed for an attempt.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub key: String,
    pub delivery: Delivery,
    pub attempts: u32,
    pub quiet: Quiet,
    /// The customer's do-not-contact mark as of the claim, read with it.
    pub do_not_contact: bool,
}

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Settled {
    pub key: String,
    pub status: Status,
    pub reply: String,
    /// For `Failed`: when to try again.
    pub next_attempt: Option<DateTime<Utc>>,
}

pub trait Store: Send {
    /// Whether several runner processes may share this store. Then a claim
    /// of a runner that stopped is taken over when it lapses; otherwise
    /// every claim found at start is a stopped runner's.
    fn shared(&self) -> bool;

    /// Accepts events; one result per event, in order. Committed on return.
    fn accept(&mut self, events: &[Incoming]) -> Result<Vec<Accepted>>;

    /// Creates or changes customers in one transaction. `change` gets each
    /// one's place in `ids`, stored state (`None`: not stored; then whether
    /// an erased customer with this id had opted out) and returns the state
    /// to store. A customer a runner has claimed at this moment is left
    /// alone, so the runner's commit never overwrites the change: their
    /// places are returned, to be tried again when the claim has ended.
    fn put_customers(
        &mut self,
        ids: &[String],
        at: DateTime<Utc>,
        change: &mut dyn FnMut(usize, Option<CustomerState>, bool) -> CustomerState,
    ) -> Result<Vec<usize>>;

    /// Stores a customer's state unless the customer exists; says whether it did.
    fn insert_customer(&mut self, state: &CustomerState, at: DateTime<Utc>) -> Result<bool>;

    /// A customer's stored state.
    fn customer(&mut self, id: &str) -> Result<Option<CustomerState>>;

    /// Claims up to `limit` customers whose timer is due at `now` or who have
    /// inputs waiting, leasing them until `lease_until`.
    fn claim(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Work>>;

    /// Commits the work of many customers in one transaction and releases their leases.
    fn commit(&mut self, done: Vec<Done>) -> Result<()>;

    /// The earliest instant anything is due: a timer, an input, and (with
    /// `deliveries`) a delivery.
    fn next_due(&mut self, deliveries: bool) -> Result<Option<DateTime<Utc>>>;

    /// Claims up to `limit` deliveries due at `now` (pending, or failed and
    /// due again), marking them `sending`, each with its customer's
    /// do-not-contact mark read in the same transaction.
    fn claim_deliveries(&mut self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>>;

    /// Adds records outside a customer's work (the dispatcher's).
    fn record(&mut self, records: &[Record]) -> Result<()>;

    /// Records how attempts ended, in one transaction.
    fn settle(&mut self, settled: &[Settled], at: DateTime<Utc>) -> Result<()>;

    /// After a crash: deliveries left `sending` by a runner that stopped
    /// mid-attempt. Those whose adapter dedupes by key go back to pending;
    /// the others become `unknown`. `lapsed_before`: only attempts claimed
    /// before then (a shared store, where other runners' claims are live);
    /// `None`: every claim, customers' too (a store one runner owns, at start).
    fn recover(
        &mut self,
        lapsed_before: Option<DateTime<Utc>>,
        dedupes: &dyn Fn(&str) -> bool,
    ) -> Result<usize>;

    /// Stops a customer's work (its state and inputs kept), with a record saying why.
    fn quarantine(&mut self, customer: &str, why: &str, at: DateTime<Utc>) -> Result<()>;

    /// Lets a quarantined customer's work run again; says whether it was quarantined.
    fn release(&mut self, customer: &str) -> Result<bool>;

    /// Tries a dead, unknown or failed delivery again now (`None`: every dead one).
    fn requeue(&mut self, key: Option<&str>, at: DateTime<Utc>) -> Result<usize>;

    /// Quarantined customers and why.
    fn quarantined(&mut self) -> Result<Vec<(String, String)>>;

    /// Forgets a customer: state, events, queued and past deliveries,
    /// records. An opted-out customer leaves a salted hash of the id, so the
    /// mark is found again if the customer comes back. `None`: not stored.
    fn erase(&mut self, customer: &str) -> Result<Option<Erased>>;

    /// Keeps the text of a program version in use.
    /// Says whether the version was new to the store.
    fn save_version(&mut self, playbook: &str, version: &str, text: &str) -> Result<bool>;

    /// Makes every customer due at `at`, unless due earlier (only the
    /// index column changes): after a deploy, each is brought up to the new
    /// program (a new `every … for` or `yearly` trigger scheduled) as the
    /// runner works through them, including those waiting on a timer weeks
    /// away.
    fn wake_all(&mut self, at: DateTime<Utc>) -> Result<usize>;

    /// Every stored version: (playbook, version, canonical text).
    fn versions(&mut self) -> Result<Vec<(String, String, String)>>;

    /// Every outbox row, by due time then key: (key, delivery, status, reply).
    fn outbox(&mut self) -> Result<Vec<OutboxRow>>;

    /// The latest `n` records, newest first: (at, customer, playbook, kind, detail).
    fn recent_records(&mut self, n: usize) -> Result<Vec<RecordRow>>;

    /// One customer's latest `n` deliveries (key, delivery, status) and records, newest first.
    fn history(&mut self, customer: &str, n: usize) -> Result<History>;

    /// Calls `f` with every customer who has a timer (a full scan).
    fn each_waiting(&mut self, f: &mut dyn FnMut(CustomerState)) -> Result<()>;

    /// Deliveries by status.
    fn outbox_counts(&mut self) -> Result<Vec<(Status, u64)>>;

    /// `tend pause`: holds the playbook's queued deliveries (a record each)
    /// and every later one, until resumed. Returns how many were held.
    fn pause(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<usize>;

    /// `tend resume`: releases what the pause held, due now. `None`: it was not paused.
    fn resume(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<Option<usize>>;

    /// `tend cancel`: pauses the playbook, drops its queued deliveries (a
    /// record each) and wakes its customers, whose enrollments then end
    /// as the runner reaches them. Returns (dropped, customers woken).
    fn cancel(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<(usize, usize)>;

    /// The playbooks paused or cancelled.
    fn controls(&mut self) -> Result<Controls>;

    /// `tend resolve`: settles an `unknown` delivery as `sent` or `dead`;
    /// says whether there was one with that key.
    fn resolve(&mut self, key: &str, status: Status, at: DateTime<Utc>) -> Result<bool>;

    /// Retention: removes settled deliveries, records and handled event ids
    /// older than `before` (event ids older than `events_before`).
    fn prune(&mut self, before: DateTime<Utc>, events_before: DateTime<Utc>) -> Result<Pruned>;

    /// Writes a consistent copy of the store to `path`, while it runs.
    fn backup(&mut self, path: &std::path::Path) -> Result<()>;
}

/// A store's error in words: "the store: …".
pub(super) fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(format!("the store: {e}"))
}

/// Instants are stored as whole Unix seconds.
pub(super) fn secs(t: DateTime<Utc>) -> i64 {
    t.timestamp()
}

pub(super) fn instant(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(s, 0).unwrap_or_default()
}

/// A stored customer state, read back (`None`: none stored yet).
pub(super) fn state_of(json: Option<String>) -> Result<Option<CustomerState>> {
    json.map(|j| {
        CustomerState::from_json(&j)
            .map_err(|e| StoreError(format!("a stored customer state: {e}")))
    })
    .transpose()
}

/// A stored outbox row's delivery, read back.
pub(super) fn delivery_of(key: &str, json: &str) -> Result<Delivery> {
    serde_json::from_str(json).map_err(|e| StoreError(format!("outbox row {key}: {e}")))
}

/// The reply an attempt cut off by a stopped runner is left with, when its
/// far side cannot drop a repeat.
pub(super) const LOST_ATTEMPT: &str = "the runner stopped during the attempt; the far side may have it (ask it, then `tend resolve KEY sent|dead`)";

impl Controls {
    /// What the controls do to a delivery as its work commits, done under
    /// `generation`: its status in the outbox (`None`: dropped, the playbook
    /// was cancelled since) and the record that says so, if any.
    pub fn at_commit(
        &self,
        x: &Delivery,
        generation: i64,
        at: DateTime<Utc>,
    ) -> (Option<Status>, Option<Record>) {
        let control = self.playbooks.iter().find(|c| c.playbook == *x.playbook);
        match control {
            Some(c) if c.cancel_generation > generation => {
                (None, Some(held_record(x, at, Held::Dropped)))
            }
            Some(c) if c.paused.is_some() => {
                (Some(Status::Held), Some(held_record(x, at, Held::Held)))
            }
            _ => (Some(Status::Pending), None),
        }
    }
}

/// Which record a control writes for a delivery it held, released or dropped.
#[derive(Debug, Clone, Copy)]
pub enum Held {
    Held,
    Released,
    Dropped,
}

impl Held {
    fn record(
        self,
        key: &str,
        customer: Option<std::sync::Arc<str>>,
        playbook: &str,
        at: DateTime<Utc>,
    ) -> Record {
        use crate::engine::RecordKind;
        let (kind, why) = match self {
            Held::Held => (RecordKind::Held, "held: the playbook is paused"),
            Held::Released => (RecordKind::Released, "released: the playbook resumed"),
            Held::Dropped => (RecordKind::Dropped, "dropped: the playbook was cancelled"),
        };
        Record {
            at,
            customer,
            playbook: Some(playbook.into()),
            step: None,
            kind,
            detail: format!("{key} {why}").into(),
        }
    }
}

/// The record of a delivery a control caught as its work committed.
fn held_record(x: &Delivery, at: DateTime<Utc>, how: Held) -> Record {
    how.record(&x.key().to_string(), x.customer.clone(), &x.playbook, at)
}

/// The records of outbox rows (key, customer) a control moved.
pub fn rows_records(
    rows: &[(String, Option<String>)],
    playbook: &str,
    at: DateTime<Utc>,
    how: Held,
) -> Vec<Record> {
    rows.iter()
        .map(|(key, customer)| how.record(key, customer.as_deref().map(Into::into), playbook, at))
        .collect()
}

/// The hash erasure keeps of an opted-out customer's id, salted with the
/// store's own salt.
pub fn salted(salt: &str, id: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(format!("{salt}\u{1f}{id}").as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A store chosen at start (`--db`): the runner and the commands take any.
impl Store for Box<dyn Store> {
    fn shared(&self) -> bool {
        (**self).shared()
    }
    fn accept(&mut self, events: &[Incoming]) -> Result<Vec<Accepted>> {
        (**self).accept(events)
    }
    fn put_customers(
        &mut self,
        ids: &[String],
        at: DateTime<Utc>,
        change: &mut dyn FnMut(usize, Option<CustomerState>, bool) -> CustomerState,
    ) -> Result<Vec<usize>> {
        (**self).put_customers(ids, at, change)
    }
    fn insert_customer(&mut self, state: &CustomerState, at: DateTime<Utc>) -> Result<bool> {
        (**self).insert_customer(state, at)
    }
    fn customer(&mut self, id: &str) -> Result<Option<CustomerState>> {
        (**self).customer(id)
    }
    fn claim(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Work>> {
        (**self).claim(now, limit, lease_until)
    }
    fn commit(&mut self, done: Vec<Done>) -> Result<()> {
        (**self).commit(done)
    }
    fn next_due(&mut self, deliveries: bool) -> Result<Option<DateTime<Utc>>> {
        (**self).next_due(deliveries)
    }
    fn claim_deliveries(&mut self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>> {
        (**self).claim_deliveries(now, limit)
    }
    fn record(&mut self, records: &[Record]) -> Result<()> {
        (**self).record(records)
    }
    fn settle(&mut self, settled: &[Settled], at: DateTime<Utc>) -> Result<()> {
        (**self).settle(settled, at)
    }
    fn recover(
        &mut self,
        lapsed_before: Option<DateTime<Utc>>,
        dedupes: &dyn Fn(&str) -> bool,
    ) -> Result<usize> {
        (**self).recover(lapsed_before, dedupes)
    }
    fn quarantine(&mut self, customer: &str, why: &str, at: DateTime<Utc>) -> Result<()> {
        (**self).quarantine(customer, why, at)
    }
    fn release(&mut self, customer: &str) -> Result<bool> {
        (**self).release(customer)
    }
    fn requeue(&mut self, key: Option<&str>, at: DateTime<Utc>) -> Result<usize> {
        (**self).requeue(key, at)
    }
    fn quarantined(&mut self) -> Result<Vec<(String, String)>> {
        (**self).quarantined()
    }
    fn erase(&mut self, customer: &str) -> Result<Option<Erased>> {
        (**self).erase(customer)
    }
    fn save_version(&mut self, playbook: &str, version: &str, text: &str) -> Result<bool> {
        (**self).save_version(playbook, version, text)
    }
    fn wake_all(&mut self, at: DateTime<Utc>) -> Result<usize> {
        (**self).wake_all(at)
    }
    fn versions(&mut self) -> Result<Vec<(String, String, String)>> {
        (**self).versions()
    }
    fn outbox(&mut self) -> Result<Vec<OutboxRow>> {
        (**self).outbox()
    }
    fn recent_records(&mut self, n: usize) -> Result<Vec<RecordRow>> {
        (**self).recent_records(n)
    }
    fn history(&mut self, customer: &str, n: usize) -> Result<History> {
        (**self).history(customer, n)
    }
    fn each_waiting(&mut self, f: &mut dyn FnMut(CustomerState)) -> Result<()> {
        (**self).each_waiting(f)
    }
    fn outbox_counts(&mut self) -> Result<Vec<(Status, u64)>> {
        (**self).outbox_counts()
    }
    fn pause(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<usize> {
        (**self).pause(playbook, at)
    }
    fn resume(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<Option<usize>> {
        (**self).resume(playbook, at)
    }
    fn cancel(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<(usize, usize)> {
        (**self).cancel(playbook, at)
    }
    fn controls(&mut self) -> Result<Controls> {
        (**self).controls()
    }
    fn resolve(&mut self, key: &str, status: Status, at: DateTime<Utc>) -> Result<bool> {
        (**self).resolve(key, status, at)
    }
    fn prune(&mut self, before: DateTime<Utc>, events_before: DateTime<Utc>) -> Result<Pruned> {
        (**self).prune(before, events_before)
    }
    fn backup(&mut self, path: &std::path::Path) -> Result<()> {
        (**self).backup(path)
    }
}
