//! The shared store: PostgreSQL, for several runner processes on one
//! database. Work is claimed with `FOR UPDATE SKIP LOCKED` and a lease, so
//! two runners never work one customer at once; a commit lands only while
//! its claim is still the one it made (a runner whose lease lapsed and was
//! taken over loses its work, never overwrites the newer). Statements take
//! whole batches as arrays, so a commit of 256 customers is a handful of
//! round trips. Instants are whole Unix seconds, as in the embedded store.
//!
//! Tables go in the first schema of the connection's `search_path`
//! (`public` unless the address sets `options=-csearch_path=…`).

use super::store::*;
use crate::engine::state::CustomerState;
use crate::engine::Record;
use chrono::{DateTime, Utc};
use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Transaction};
use std::collections::{HashMap, HashSet};

/// The schema this tend writes in PostgreSQL. A newer one is refused.
pub const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    state TEXT,
    next_wake BIGINT,
    advanced_to BIGINT,
    lease_until BIGINT,
    lease_token BIGINT,
    claimed_by BIGINT,          -- the claiming connection's liveness lock
    dnc BOOLEAN NOT NULL DEFAULT false,
    quarantined TEXT,
    generation BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS customers_due ON customers (next_wake) WHERE next_wake IS NOT NULL;
-- The few customers claimed or stopped right now: a claim skips them by index.
CREATE INDEX IF NOT EXISTS customers_held ON customers (id) WHERE quarantined IS NOT NULL OR lease_until IS NOT NULL;
CREATE SEQUENCE IF NOT EXISTS lease_tokens;
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,
    customer TEXT NOT NULL,
    at BIGINT NOT NULL,
    body TEXT NOT NULL,
    handled BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS events_waiting ON events (customer, at, seq) WHERE NOT handled;
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    seq BIGINT GENERATED ALWAYS AS IDENTITY,  -- the order queued
    customer TEXT,
    playbook TEXT NOT NULL,
    channel TEXT NOT NULL,
    due BIGINT NOT NULL,
    delivery TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt BIGINT NOT NULL,
    quiet TEXT NOT NULL DEFAULT '',
    reply TEXT,
    updated BIGINT NOT NULL,
    claimed_by BIGINT
);
CREATE INDEX IF NOT EXISTS outbox_sending ON outbox (updated) WHERE status = 'sending';
-- Claims take the ready rows by when they are due, then in the order they
-- were queued (as the embedded store does); the scan stops at the batch.
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (next_attempt, seq) WHERE status IN ('pending', 'failed');
CREATE INDEX IF NOT EXISTS outbox_customer ON outbox (customer);
CREATE TABLE IF NOT EXISTS records (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    customer TEXT,
    playbook TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS records_customer ON records (customer);
CREATE TABLE IF NOT EXISTS erased_opt_outs (hash TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS versions (
    playbook TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (playbook, version)
);
CREATE TABLE IF NOT EXISTS controls (
    playbook TEXT PRIMARY KEY,
    paused BIGINT,
    cancelled BIGINT,
    cancel_gen BIGINT NOT NULL DEFAULT 0
);
INSERT INTO meta (key, value) VALUES ('salt', replace(gen_random_uuid()::text, '-', '')) ON CONFLICT DO NOTHING;
INSERT INTO meta (key, value) VALUES ('controls', '0') ON CONFLICT DO NOTHING;
";

pub struct Postgres {
    client: Client,
    /// Kept to connect again after the server or the network dropped the connection.
    config: postgres::Config,
    /// The address as shown (without its password).
    shown: String,
    salt: String,
    /// This connection's liveness lock: claims carry it, and a claim whose
    /// lock is gone (its runner's connection closed: the process stopped)
    /// is taken over at once rather than when its lease lapses.
    claimant: i64,
}

/// Why a transaction did not commit: the database's error (perhaps worth a
/// retry) or the store's own.
enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Fail {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Fail {
        Fail::Store(e)
    }
}

type Tx<'a> = Transaction<'a>;
type Out<T> = std::result::Result<T, Fail>;

impl From<Fail> for StoreError {
    fn from(f: Fail) -> StoreError {
        match f {
            Fail::Pg(e) => err(e),
            Fail::Store(e) => e,
        }
    }
}

/// Two transactions that crossed (a deadlock, a serialization failure):
/// the one PostgreSQL stopped is run again.
fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    )
}

impl Postgres {
    /// Connects to the database at `address` (a `postgres://` URL or
    /// `key=value` pairs; the password from `PGPASSWORD` if the address has
    /// none) and creates or migrates the tables.
    pub fn connect(address: &str) -> Result<Postgres> {
        let shown = super::db::redact(address);
        let mut config: postgres::Config = address.parse().map_err(|e| {
            StoreError(format!(
                "cannot read the PostgreSQL address `{shown}`: {e} (write it as postgres://USER@HOST:PORT/DATABASE)"
            ))
        })?;
        if config.get_password().is_none() {
            if let Ok(p) = std::env::var("PGPASSWORD") {
                config.password(p);
            }
        }
        if config.get_application_name().is_none() {
            config.application_name("tend");
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(10));
        }
        let client = open(&config, &shown)?;
        let mut store = Postgres {
            client,
            config,
            shown,
            salt: String::new(),
            claimant: 0,
        };
        store.migrate()?;
        store.claimant = live(&mut store.client)?;
        store.salt = store
            .conn()?
            .query_one("SELECT value FROM meta WHERE key = 'salt'", &[])
            .map_err(err)?
            .get(0);
        Ok(store)
    }

    fn migrate(&mut self) -> Result<()> {
        let shown = self.shown.clone();
        self.write(|tx| {
            // Runners starting together create the tables one at a time.
            tx.execute("SELECT pg_advisory_xact_lock(7415200481)", &[])?;
            let found: Option<String> = tx
                .query_opt(
                    "SELECT value FROM meta WHERE key = 'schema'",
                    &[],
                )
                .or_else(|e| match e.code() {
                    Some(c) if *c == SqlState::UNDEFINED_TABLE => Ok(None),
                    _ => Err(e),
                })?
                .map(|r| r.get(0));
            if let Some(v) = found.as_deref().and_then(|v| v.parse::<i64>().ok()) {
                if v > SCHEMA_VERSION {
                    return Err(StoreError(format!(
                        "the store {shown} was written by a newer tend (schema {v}; this one knows {SCHEMA_VERSION}); upgrade tend"
                    ))
                    .into());
                }
            }
            Ok(())
        })?;
        self.write(|tx| {
            tx.execute("SELECT pg_advisory_xact_lock(7415200481)", &[])?;
            tx.batch_execute(SCHEMA)?;
            tx.execute(
                "INSERT INTO meta (key, value) VALUES ('schema', $1) ON CONFLICT (key) DO UPDATE SET value = $1",
                &[&SCHEMA_VERSION.to_string()],
            )?;
            Ok(())
        })
    }

    /// The connection, opened again if it was lost (a restarted server).
    fn conn(&mut self) -> Result<&mut Client> {
        if self.client.is_closed() {
            self.reopen()?;
        }
        Ok(&mut self.client)
    }

    fn reopen(&mut self) -> Result<()> {
        tracing::warn!(store = %self.shown, "the connection to the store was lost; connecting again");
        self.client = open(&self.config, &self.shown)?;
        // Claims made on the lost connection look stopped now; they are taken over.
        self.claimant = live(&mut self.client)?;
        Ok(())
    }

    /// Runs `f` in one transaction and commits. A transaction PostgreSQL
    /// stopped because it crossed another is run again, and so (once) is
    /// one whose connection was lost, on a new one: `f` must be safe to
    /// repeat (every write it makes is keyed, fenced or idempotent).
    fn write<T>(&mut self, mut f: impl FnMut(&mut Tx<'_>) -> Out<T>) -> Result<T> {
        let (mut tries, mut reopened) = (0, false);
        loop {
            match self.attempt(&mut f) {
                Ok(v) => return Ok(v),
                Err(Fail::Pg(e)) if retryable(&e) && tries < 8 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(5 << tries.min(6)));
                }
                Err(e) if !reopened && (self.client.is_closed() || lost(&e)) => {
                    reopened = true;
                    self.reopen()?;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn attempt<T>(&mut self, f: &mut impl FnMut(&mut Tx<'_>) -> Out<T>) -> Out<T> {
        let mut tx = self.conn()?.transaction()?;
        let v = f(&mut tx)?;
        tx.commit()?;
        Ok(v)
    }
}

/// The connection itself failed (closed, the server shutting down, the network).
fn lost(f: &Fail) -> bool {
    let Fail::Pg(e) = f else { return false };
    e.is_closed()
        || matches!(e.code(), Some(c) if *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CRASH_SHUTDOWN)
        || std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

fn open(config: &postgres::Config, shown: &str) -> Result<Client> {
    config.connect(NoTls).map_err(|e| {
        StoreError(format!(
            "cannot connect to the store {shown}: {e} (is PostgreSQL running there, and does the address name a database this user may use?)"
        ))
    })
}

/// Takes a session lock only this connection holds, for as long as it
/// lives, and returns its key (random: runners share no counter).
fn live(client: &mut Client) -> Result<i64> {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    let key = (h.finish() >> 1) as i64;
    client
        .execute("SELECT pg_advisory_lock($1)", &[&key])
        .map_err(err)?;
    Ok(key)
}

/// The claimants whose connection is alive (their lock is held) in this database.
fn claimants_alive(tx: &mut Tx<'_>) -> Out<Vec<i64>> {
    Ok(tx
        .query_one(
            "SELECT COALESCE(array_agg((classid::bigint << 32) | objid::bigint), '{}') FROM pg_locks
             WHERE locktype = 'advisory' AND objsubid = 1 AND granted
             AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            &[],
        )?
        .get(0))
}

/// A claim walks an index in order and stops at the batch. A burst of
/// events or deliveries lands before the tables' statistics know of it, and
/// the planner would then read every ready row (a bitmap scan, which also
/// revisits the rows earlier claims moved on) to take the first few
/// hundred: for this transaction it is told not to.
fn walk_indexes(tx: &mut Tx<'_>) -> Out<()> {
    tx.batch_execute(
        "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL enable_hashagg = off",
    )?;
    Ok(())
}

/// The controls, read inside a commit or a control's own transaction.
fn read_controls(tx: &mut Tx<'_>) -> Out<Controls> {
    let generation: i64 = tx
        .query_opt("SELECT value::bigint FROM meta WHERE key = 'controls'", &[])?
        .map_or(0, |r| r.get(0));
    let playbooks = tx
        .query(
            "SELECT playbook, paused, cancelled, cancel_gen FROM controls
             WHERE paused IS NOT NULL OR cancelled IS NOT NULL ORDER BY playbook",
            &[],
        )?
        .iter()
        .map(|r| Control {
            playbook: r.get(0),
            paused: r.get::<_, Option<i64>>(1).map(instant),
            cancelled: r.get::<_, Option<i64>>(2).map(instant),
            cancel_generation: r.get(3),
        })
        .collect();
    Ok(Controls {
        generation,
        playbooks,
    })
}

/// A control changes: the generation grows. Its row lock also keeps a
/// commit (which reads the controls under a share lock) from landing
/// half before and half after.
fn next_generation(tx: &mut Tx<'_>) -> Out<i64> {
    Ok(tx
        .query_one(
            "UPDATE meta SET value = (value::bigint + 1)::text WHERE key = 'controls' RETURNING value::bigint",
            &[],
        )?
        .get(0))
}

fn insert_records(tx: &mut Tx<'_>, records: &[Record]) -> Out<()> {
    if records.is_empty() {
        return Ok(());
    }
    let at: Vec<i64> = records.iter().map(|r| secs(r.at)).collect();
    let customer: Vec<Option<&str>> = records.iter().map(|r| r.customer.as_deref()).collect();
    let playbook: Vec<Option<&str>> = records.iter().map(|r| r.playbook.as_deref()).collect();
    let kind: Vec<&str> = records.iter().map(|r| r.kind.name()).collect();
    let detail: Vec<String> = records.iter().map(|r| r.detail.to_string()).collect();
    tx.execute(
        "INSERT INTO records (at, customer, playbook, kind, detail)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[])",
        &[&at, &customer, &playbook, &kind, &detail],
    )?;
    Ok(())
}

/// Runs an outbox statement over one playbook's rows; (key, customer) of each.
fn move_rows(
    tx: &mut Tx<'_>,
    sql: &str,
    args: &[&(dyn ToSql + Sync)],
) -> Out<Vec<(String, Option<String>)>> {
    Ok(tx
        .query(sql, args)?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect())
}

impl Store for Postgres {
    fn shared(&self) -> bool {
        true
    }

    fn accept(&mut self, events: &[Incoming]) -> Result<Vec<Accepted>> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let customers: Vec<&str> = events.iter().map(|e| e.customer.as_str()).collect();
        let at: Vec<i64> = events.iter().map(|e| secs(e.at)).collect();
        let bodies: Vec<&str> = events.iter().map(|e| e.body.as_str()).collect();
        self.write(|tx| {
            // WITH ORDINALITY keeps arrival order in `seq` within a batch.
            let new: HashSet<String> = tx
                .query(
                    "INSERT INTO events (id, customer, at, body)
                     SELECT id, customer, at, body FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[])
                         WITH ORDINALITY AS u(id, customer, at, body, n) ORDER BY n
                     ON CONFLICT (id) DO NOTHING RETURNING id",
                    &[&ids, &customers, &at, &bodies],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let stored: HashMap<String, String> = tx
                .query("SELECT id, body FROM events WHERE id = ANY($1)", &[&ids])?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let mut first = HashSet::new();
            Ok(events
                .iter()
                .map(|e| {
                    if new.contains(&e.id) && first.insert(e.id.as_str()) {
                        Accepted::New
                    } else if stored.get(&e.id) == Some(&e.body) {
                        Accepted::Duplicate
                    } else {
                        Accepted::Conflict
                    }
                })
                .collect())
        })
    }

    fn put_customers(
        &mut self,
        ids: &[String],
        at: DateTime<Utc>,
        change: &mut dyn FnMut(usize, Option<CustomerState>, bool) -> CustomerState,
    ) -> Result<Vec<usize>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let salt = self.salt.clone();
        // Rows are locked in id order, the order every writer takes them in.
        let mut sorted: Vec<&str> = ids.iter().map(String::as_str).collect();
        sorted.sort_unstable();
        sorted.dedup();
        self.write(|tx| {
            tx.execute(
                "INSERT INTO customers (id) SELECT unnest($1::text[]) ORDER BY 1 ON CONFLICT DO NOTHING",
                &[&sorted],
            )?;
            let mut rows: HashMap<String, (Option<String>, Option<i64>)> = tx
                .query(
                    "SELECT id, state, lease_until FROM customers WHERE id = ANY($1) ORDER BY id FOR UPDATE",
                    &[&sorted],
                )?
                .iter()
                .map(|r| (r.get(0), (r.get(1), r.get(2))))
                .collect();
            let hashes: Vec<String> = sorted
                .iter()
                .filter(|id| rows.get(**id).is_some_and(|r| r.0.is_none()))
                .map(|id| salted(&salt, id))
                .collect();
            let erased: HashSet<String> = if hashes.is_empty() {
                HashSet::new()
            } else {
                tx.query(
                    "SELECT hash FROM erased_opt_outs WHERE hash = ANY($1)",
                    &[&hashes],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect()
            };
            let mut claimed = Vec::new();
            // The latest state of each id, in the order given (an id twice: the second sees the first).
            let mut latest: HashMap<&str, CustomerState> = HashMap::new();
            for (i, id) in ids.iter().enumerate() {
                let (json, lease) = rows.remove(id.as_str()).unwrap_or((None, None));
                if lease.is_some_and(|l| l > secs(at)) {
                    claimed.push(i);
                    continue;
                }
                let stored = match latest.remove(id.as_str()) {
                    Some(s) => Some(s),
                    None => state_of(json)?,
                };
                let opted_out = stored.is_none() && erased.contains(&salted(&salt, id));
                latest.insert(id.as_str(), change(i, stored, opted_out));
            }
            let states: Vec<&CustomerState> = latest.values().collect();
            let id: Vec<&str> = states.iter().map(|s| &*s.id).collect();
            let json: Vec<String> = states.iter().map(|s| s.to_json()).collect();
            let wake: Vec<Option<i64>> = states.iter().map(|s| s.next_wake().map(secs)).collect();
            let dnc: Vec<bool> = states.iter().map(|s| s.do_not_contact).collect();
            tx.execute(
                "UPDATE customers c SET state = u.state, next_wake = u.wake, advanced_to = $5, dnc = u.dnc
                 FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bool[]) AS u(id, state, wake, dnc)
                 WHERE c.id = u.id",
                &[&id, &json, &wake, &dnc, &secs(at)],
            )?;
            Ok(claimed)
        })
    }

    fn insert_customer(&mut self, state: &CustomerState, at: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "INSERT INTO customers (id, state, next_wake, advanced_to, dnc) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (id) DO NOTHING",
                &[
                    &&*state.id,
                    &state.to_json(),
                    &state.next_wake().map(secs),
                    &secs(at),
                    &state.do_not_contact,
                ],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn customer(&mut self, id: &str) -> Result<Option<CustomerState>> {
        let row = self
            .conn()?
            .query_opt("SELECT state FROM customers WHERE id = $1", &[&id])
            .map_err(err)?;
        state_of(row.and_then(|r| r.get(0)))
    }

    fn claim(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Work>> {
        let (now_s, until, limit) = (secs(now), secs(lease_until), limit as i64);
        let claimant = self.claimant;
        let salt = self.salt.clone();
        self.write(|tx| {
            walk_indexes(tx)?;
            let mut leased: Vec<Leased> = tx
                .query(
                    // `= ANY(ARRAY(…))` keeps the update on the primary key (a join would scan the table).
                    "UPDATE customers c SET lease_until = $3, lease_token = nextval('lease_tokens'), claimed_by = $4
                     WHERE c.id = ANY(ARRAY(
                         SELECT id FROM customers
                         WHERE next_wake <= $1 AND quarantined IS NULL AND (lease_until IS NULL OR lease_until < $1)
                         ORDER BY next_wake LIMIT $2 FOR UPDATE SKIP LOCKED))
                     RETURNING c.id, c.state, c.advanced_to, c.generation, c.lease_token",
                    &[&now_s, &limit, &until, &claimant],
                )?
                .iter()
                .map(Leased::from)
                .collect();
            let taken: Vec<&str> = leased.iter().map(|l| l.id.as_str()).collect();
            let room = limit - leased.len() as i64;
            let mut waiting: Vec<String> = if room > 0 {
                tx.query(
                    // Grouped in index order, so the scan stops at the limit.
                    "SELECT e.customer FROM events e
                     WHERE NOT e.handled AND e.at <= $1 AND NOT (e.customer = ANY($3))
                     AND NOT EXISTS (SELECT 1 FROM customers c WHERE c.id = e.customer
                                     AND (c.quarantined IS NOT NULL OR c.lease_until >= $1))
                     GROUP BY e.customer ORDER BY e.customer LIMIT $2",
                    &[&now_s, &room, &taken],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect()
            } else {
                Vec::new()
            };
            if !waiting.is_empty() {
                // In id order, the order every writer locks customers in; a
                // customer another runner claimed meanwhile is left to it.
                waiting.sort_unstable();
                let more = tx.query(
                    "INSERT INTO customers (id, lease_until, lease_token, claimed_by)
                     SELECT id, $2, nextval('lease_tokens'), $4 FROM unnest($1::text[]) AS u(id) ORDER BY id
                     ON CONFLICT (id) DO UPDATE SET lease_until = EXCLUDED.lease_until, lease_token = EXCLUDED.lease_token,
                         claimed_by = EXCLUDED.claimed_by
                     WHERE customers.quarantined IS NULL AND (customers.lease_until IS NULL OR customers.lease_until < $3)
                     RETURNING id, state, advanced_to, generation, lease_token",
                    &[&waiting, &until, &now_s, &claimant],
                )?;
                leased.extend(more.iter().map(Leased::from));
            }
            let ids: Vec<&str> = leased.iter().map(|l| l.id.as_str()).collect();
            let mut inputs: HashMap<String, Vec<Incoming>> = HashMap::new();
            for r in tx.query(
                "SELECT customer, id, at, body FROM events
                 WHERE customer = ANY($1) AND NOT handled AND at <= $2 ORDER BY customer, at, seq",
                &[&ids, &now_s],
            )? {
                let customer: String = r.get(0);
                inputs.entry(customer.clone()).or_default().push(Incoming {
                    id: r.get(1),
                    customer,
                    at: instant(r.get(2)),
                    body: r.get(3),
                });
            }
            // Newcomers whose id an erased, opted-out customer had: one query for the batch.
            let hashes: Vec<(String, String)> = leased
                .iter()
                .filter(|l| l.state.is_none())
                .map(|l| (salted(&salt, &l.id), l.id.clone()))
                .collect();
            let opted_out: HashSet<String> = if hashes.is_empty() {
                HashSet::new()
            } else {
                let only: Vec<&str> = hashes.iter().map(|h| h.0.as_str()).collect();
                let found: HashSet<String> = tx
                    .query(
                        "SELECT hash FROM erased_opt_outs WHERE hash = ANY($1)",
                        &[&only],
                    )?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                hashes
                    .into_iter()
                    .filter(|h| found.contains(&h.0))
                    .map(|h| h.1)
                    .collect()
            };
            let mut out = Vec::with_capacity(leased.len());
            for Leased {
                id,
                state,
                advanced,
                generation,
                lease,
            } in leased
            {
                let state = match state_of(state) {
                    Ok(s) => s,
                    // Its own state cannot be read: this customer stops, the others go on.
                    Err(e) => {
                        tx.execute(
                            "UPDATE customers SET quarantined = $2, lease_until = NULL WHERE id = $1",
                            &[&id, &e.0],
                        )?;
                        continue;
                    }
                };
                out.push(Work {
                    opted_out: opted_out.contains(&id),
                    inputs: inputs.remove(&id).unwrap_or_default(),
                    customer: id,
                    state,
                    advanced_to: advanced.map(instant),
                    generation,
                    lease,
                });
            }
            Ok(out)
        })
    }

    fn commit(&mut self, done: Vec<Done>) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        let lost = self.write(|tx| {
            // Shared with other commits, exclusive with a pause or cancel.
            tx.execute(
                "SELECT 1 FROM meta WHERE key = 'controls' FOR SHARE",
                &[],
            )?;
            let controls = read_controls(tx)?;
            let id: Vec<&str> = done.iter().map(|d| d.customer.as_str()).collect();
            let json: Vec<String> = done.iter().map(|d| d.state.to_json()).collect();
            let wake: Vec<Option<i64>> =
                done.iter().map(|d| d.state.next_wake().map(secs)).collect();
            let advanced: Vec<i64> = done.iter().map(|d| secs(d.advanced_to)).collect();
            let dnc: Vec<bool> = done.iter().map(|d| d.state.do_not_contact).collect();
            let generation: Vec<i64> = done.iter().map(|d| d.generation).collect();
            let lease: Vec<i64> = done.iter().map(|d| d.lease).collect();
            let kept: HashSet<String> = tx
                .query(
                    "UPDATE customers c SET state = u.state, next_wake = u.wake, advanced_to = u.advanced,
                         dnc = u.dnc, generation = u.generation, lease_until = NULL, lease_token = NULL, claimed_by = NULL
                     FROM unnest($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bool[], $6::bigint[], $7::bigint[])
                         AS u(id, state, wake, advanced, dnc, generation, lease)
                     WHERE c.id = u.id AND c.lease_token = u.lease
                     RETURNING c.id",
                    &[&id, &json, &wake, &advanced, &dnc, &generation, &lease],
                )?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let mut handled: Vec<&str> = Vec::new();
            let mut rows = OutboxRows::default();
            let mut records: Vec<Record> = Vec::new();
            for d in done.iter().filter(|d| kept.contains(&d.customer)) {
                handled.extend(d.handled.iter().map(String::as_str));
                for (x, quiet) in &d.deliveries {
                    let (status, record) = controls.at_commit(x, d.generation, d.advanced_to);
                    records.extend(record);
                    // Cancelled while this work was under way: its sends go nowhere.
                    let Some(status) = status else {
                        continue;
                    };
                    rows.push(x, quiet, status, d.advanced_to)
                        .map_err(|e| StoreError(format!("a delivery: {e}")))?;
                }
                records.extend(d.records.iter().cloned());
            }
            if !handled.is_empty() {
                tx.execute(
                    "UPDATE events SET handled = true WHERE id = ANY($1)",
                    &[&handled],
                )?;
            }
            rows.insert(tx)?;
            insert_records(tx, &records)?;
            Ok(done.len() - kept.len())
        })?;
        if lost > 0 {
            tracing::warn!(
                customers = lost,
                "work not committed: another runner took these customers over after the claim lapsed"
            );
        }
        Ok(())
    }

    fn next_due(&mut self, deliveries: bool) -> Result<Option<DateTime<Utc>>> {
        let row = self
            .conn()?
            .query_one(
                "SELECT LEAST(
                     (SELECT MIN(next_wake) FROM customers WHERE quarantined IS NULL),
                     (SELECT MIN(e.at) FROM events e LEFT JOIN customers c ON c.id = e.customer
                      WHERE NOT e.handled AND c.quarantined IS NULL),
                     CASE WHEN $1 THEN (SELECT MIN(next_attempt) FROM outbox WHERE status IN ('pending', 'failed')) END)",
                &[&deliveries],
            )
            .map_err(err)?;
        Ok(row.get::<_, Option<i64>>(0).map(instant))
    }

    fn claim_deliveries(&mut self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>> {
        let claimant = self.claimant;
        let rows = self.write(|tx| {
            walk_indexes(tx)?;
            Ok(tx.query(
                "UPDATE outbox o SET status = 'sending', attempts = o.attempts + 1, updated = $1, claimed_by = $3
                 WHERE o.key = ANY(ARRAY(
                     SELECT key FROM outbox WHERE status IN ('pending', 'failed') AND next_attempt <= $1
                     ORDER BY next_attempt, seq LIMIT $2 FOR UPDATE SKIP LOCKED))
                 RETURNING o.key, o.delivery, o.attempts, o.quiet,
                           COALESCE((SELECT dnc FROM customers c WHERE c.id = o.customer), false), o.next_attempt, o.seq",
                &[&secs(now), &(limit as i64), &claimant],
            )?)
        })?;
        let mut out = Vec::with_capacity(rows.len());
        let mut order = Vec::with_capacity(rows.len());
        for r in rows {
            let key: String = r.get(0);
            let delivery = delivery_of(&key, r.get(1))?;
            order.push((r.get::<_, i64>(5), r.get::<_, i64>(6)));
            out.push(Outgoing {
                key,
                delivery,
                attempts: r.get::<_, i32>(2) as u32,
                quiet: quiet_parse(r.get(3)),
                do_not_contact: r.get(4),
            });
        }
        // In the order claimed: by when due, then the order queued.
        let mut paired: Vec<_> = order.into_iter().zip(out).collect();
        paired.sort_by_key(|p| p.0);
        Ok(paired.into_iter().map(|p| p.1).collect())
    }

    fn record(&mut self, records: &[Record]) -> Result<()> {
        self.write(|tx| insert_records(tx, records))
    }

    fn settle(&mut self, settled: &[Settled], at: DateTime<Utc>) -> Result<()> {
        if settled.is_empty() {
            return Ok(());
        }
        let key: Vec<&str> = settled.iter().map(|s| s.key.as_str()).collect();
        let status: Vec<&str> = settled.iter().map(|s| s.status.name()).collect();
        let reply: Vec<&str> = settled.iter().map(|s| s.reply.as_str()).collect();
        let next: Vec<Option<i64>> = settled.iter().map(|s| s.next_attempt.map(secs)).collect();
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox o SET status = u.status, reply = u.reply,
                     next_attempt = COALESCE(u.next, o.next_attempt), updated = $5
                 FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS u(key, status, reply, next)
                 WHERE o.key = u.key",
                &[&key, &status, &reply, &next, &secs(at)],
            )?;
            Ok(())
        })
    }

    fn recover(
        &mut self,
        lapsed_before: Option<DateTime<Utc>>,
        dedupes: &dyn Fn(&str) -> bool,
    ) -> Result<usize> {
        let before = lapsed_before.map_or(i64::MAX, secs);
        self.write(|tx| {
            // A claim is a stopped runner's when its connection is gone, or
            // (a runner cut off without its connection closing) when it lapsed.
            let alive = claimants_alive(tx)?;
            let rows: Vec<(String, String)> = tx
                .query(
                    "SELECT key, channel FROM outbox WHERE status = 'sending'
                     AND (updated < $1 OR claimed_by IS NULL OR claimed_by <> ALL($2))
                     ORDER BY key FOR UPDATE SKIP LOCKED",
                    &[&before, &alive],
                )?
                .iter()
                .map(|r| (r.get(0), r.get(1)))
                .collect();
            let (again, unknown): (Vec<&str>, Vec<&str>) = {
                let (a, u): (Vec<_>, Vec<_>) = rows.iter().partition(|(_, ch)| dedupes(ch));
                (
                    a.iter().map(|r| r.0.as_str()).collect(),
                    u.iter().map(|r| r.0.as_str()).collect(),
                )
            };
            tx.execute(
                "UPDATE outbox SET status = 'pending', claimed_by = NULL WHERE key = ANY($1)",
                &[&again],
            )?;
            tx.execute(
                "UPDATE outbox SET status = 'unknown', claimed_by = NULL, reply = $2 WHERE key = ANY($1)",
                &[&unknown, &LOST_ATTEMPT],
            )?;
            // Customers of a stopped runner (every claim, at the start of a store's only runner).
            let all = lapsed_before.is_none();
            tx.execute(
                "UPDATE customers SET lease_until = NULL, lease_token = NULL, claimed_by = NULL
                 WHERE lease_until IS NOT NULL AND ($2 OR claimed_by IS NULL OR claimed_by <> ALL($1))",
                &[&alive, &all],
            )?;
            Ok(rows.len())
        })
    }

    fn quarantine(&mut self, customer: &str, why: &str, at: DateTime<Utc>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO customers (id, quarantined) VALUES ($1, $2)
                 ON CONFLICT (id) DO UPDATE SET quarantined = $2, lease_until = NULL, lease_token = NULL, claimed_by = NULL",
                &[&customer, &why],
            )?;
            tx.execute(
                "INSERT INTO records (at, customer, playbook, kind, detail) VALUES ($1, $2, NULL, 'failed', $3)",
                &[&secs(at), &customer, &format!("quarantined: {why}")],
            )?;
            Ok(())
        })
    }

    fn release(&mut self, customer: &str) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "UPDATE customers SET quarantined = NULL WHERE id = $1 AND quarantined IS NOT NULL",
                &[&customer],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn requeue(&mut self, key: Option<&str>, at: DateTime<Utc>) -> Result<usize> {
        let at = secs(at);
        let n = match key {
            Some(k) => self.conn()?.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = $2, updated = $2
                 WHERE key = $1 AND status IN ('dead', 'unknown', 'failed')",
                &[&k, &at],
            ),
            None => self.conn()?.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = $1, updated = $1 WHERE status = 'dead'",
                &[&at],
            ),
        }
        .map_err(err)?;
        Ok(n as usize)
    }

    fn quarantined(&mut self) -> Result<Vec<(String, String)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT id, quarantined FROM customers WHERE quarantined IS NOT NULL ORDER BY id",
                &[],
            )
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn erase(&mut self, customer: &str) -> Result<Option<Erased>> {
        let hash = salted(&self.salt, customer);
        self.write(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT dnc FROM customers WHERE id = $1 FOR UPDATE",
                &[&customer],
            )?
            else {
                return Ok(None);
            };
            let dnc: bool = row.get(0);
            if dnc {
                tx.execute(
                    "INSERT INTO erased_opt_outs (hash) VALUES ($1) ON CONFLICT DO NOTHING",
                    &[&hash],
                )?;
            }
            let erased = Erased {
                events: tx.execute("DELETE FROM events WHERE customer = $1", &[&customer])?
                    as usize,
                deliveries: tx.execute("DELETE FROM outbox WHERE customer = $1", &[&customer])?
                    as usize,
                records: tx.execute("DELETE FROM records WHERE customer = $1", &[&customer])?
                    as usize,
                kept_opt_out: dnc,
            };
            tx.execute("DELETE FROM customers WHERE id = $1", &[&customer])?;
            Ok(Some(erased))
        })
    }

    fn save_version(&mut self, playbook: &str, version: &str, text: &str) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "INSERT INTO versions (playbook, version, text) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                &[&playbook, &version, &text],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn wake_all(&mut self, at: DateTime<Utc>) -> Result<usize> {
        let n = self
            .conn()?
            .execute(
                "UPDATE customers SET next_wake = $1
                 WHERE (next_wake IS NULL OR next_wake > $1) AND state IS NOT NULL AND quarantined IS NULL",
                &[&secs(at)],
            )
            .map_err(err)?;
        Ok(n as usize)
    }

    fn versions(&mut self) -> Result<Vec<(String, String, String)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT playbook, version, text FROM versions ORDER BY playbook, version",
                &[],
            )
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    fn outbox(&mut self) -> Result<Vec<OutboxRow>> {
        let rows = self
            .conn()?
            .query(
                "SELECT key, delivery, status, reply FROM outbox ORDER BY due, key",
                &[],
            )
            .map_err(err)?;
        rows.iter()
            .map(|r| {
                let key: String = r.get(0);
                let d = delivery_of(&key, r.get(1))?;
                let status = Status::parse(r.get(2)).unwrap_or(Status::Unknown);
                Ok((key, d, status, r.get(3)))
            })
            .collect()
    }

    fn recent_records(&mut self, n: usize) -> Result<Vec<RecordRow>> {
        Ok(self
            .conn()?
            .query(
                "SELECT at, customer, playbook, kind, detail FROM records ORDER BY id DESC LIMIT $1",
                &[&(n as i64)],
            )
            .map_err(err)?
            .iter()
            .map(|r| (instant(r.get(0)), r.get(1), r.get(2), r.get(3), r.get(4)))
            .collect())
    }

    fn history(&mut self, customer: &str, n: usize) -> Result<History> {
        let n = n as i64;
        let conn = self.conn()?;
        let rows = conn
            .query(
                "SELECT key, delivery, status FROM outbox WHERE customer = $1 ORDER BY due DESC, key LIMIT $2",
                &[&customer, &n],
            )
            .map_err(err)?;
        let mut sent = Vec::with_capacity(rows.len());
        for r in rows {
            let key: String = r.get(0);
            let d = delivery_of(&key, r.get(1))?;
            sent.push((key, d, Status::parse(r.get(2)).unwrap_or(Status::Unknown)));
        }
        let records = conn
            .query(
                "SELECT at, playbook, kind, detail FROM records WHERE customer = $1 ORDER BY id DESC LIMIT $2",
                &[&customer, &n],
            )
            .map_err(err)?
            .iter()
            .map(|r| (instant(r.get(0)), r.get(1), r.get(2), r.get(3)))
            .collect();
        Ok((sent, records))
    }

    fn each_waiting(&mut self, f: &mut dyn FnMut(CustomerState)) -> Result<()> {
        // Streamed row by row: a million waiting customers never sit in memory at once.
        let mut tx = self.conn()?.transaction().map_err(err)?;
        let no_args: [&(dyn ToSql + Sync); 0] = [];
        let mut rows = tx
            .query_raw(
                "SELECT state FROM customers WHERE next_wake IS NOT NULL AND state IS NOT NULL",
                no_args,
            )
            .map_err(err)?;
        use postgres::fallible_iterator::FallibleIterator;
        while let Some(r) = rows.next().map_err(err)? {
            if let Some(state) = state_of(Some(r.get(0)))? {
                f(state);
            }
        }
        drop(rows);
        tx.commit().map_err(err)
    }

    fn outbox_counts(&mut self) -> Result<Vec<(Status, u64)>> {
        Ok(self
            .conn()?
            .query(
                "SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status",
                &[],
            )
            .map_err(err)?
            .iter()
            .filter_map(|r| Some((Status::parse(r.get(0))?, r.get::<_, i64>(1) as u64)))
            .collect())
    }

    fn pause(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<usize> {
        let at_s = secs(at);
        self.write(|tx| {
            next_generation(tx)?;
            tx.execute(
                "INSERT INTO controls (playbook, paused) VALUES ($1, $2)
                 ON CONFLICT (playbook) DO UPDATE SET paused = COALESCE(controls.paused, $2)",
                &[&playbook, &at_s],
            )?;
            let held = move_rows(
                tx,
                "UPDATE outbox SET status = 'held', updated = $2
                 WHERE playbook = $1 AND status IN ('pending', 'failed') RETURNING key, customer",
                &[&playbook, &at_s],
            )?;
            insert_records(tx, &rows_records(&held, playbook, at, Held::Held))?;
            Ok(held.len())
        })
    }

    fn resume(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<Option<usize>> {
        let at_s = secs(at);
        self.write(|tx| {
            let paused: Option<i64> = tx
                .query_opt(
                    "SELECT paused FROM controls WHERE playbook = $1",
                    &[&playbook],
                )?
                .and_then(|r| r.get(0));
            if paused.is_none() {
                return Ok(None);
            }
            next_generation(tx)?;
            tx.execute(
                "UPDATE controls SET paused = NULL WHERE playbook = $1",
                &[&playbook],
            )?;
            let released = move_rows(
                tx,
                "UPDATE outbox SET status = 'pending', next_attempt = $2, updated = $2
                 WHERE playbook = $1 AND status = 'held' RETURNING key, customer",
                &[&playbook, &at_s],
            )?;
            insert_records(tx, &rows_records(&released, playbook, at, Held::Released))?;
            Ok(Some(released.len()))
        })
    }

    fn cancel(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<(usize, usize)> {
        let at_s = secs(at);
        // Only customers whose state names the playbook need waking.
        let needle = format!("\"playbook\":{}", serde_json::Value::from(playbook));
        self.write(|tx| {
            let gen = next_generation(tx)?;
            tx.execute(
                "INSERT INTO controls (playbook, paused, cancelled, cancel_gen) VALUES ($1, $2, $2, $3)
                 ON CONFLICT (playbook) DO UPDATE SET paused = COALESCE(controls.paused, $2), cancelled = $2, cancel_gen = $3",
                &[&playbook, &at_s, &gen],
            )?;
            let dropped = move_rows(
                tx,
                "DELETE FROM outbox WHERE playbook = $1 AND status IN ('pending', 'failed', 'held')
                 RETURNING key, customer",
                &[&playbook],
            )?;
            insert_records(tx, &rows_records(&dropped, playbook, at, Held::Dropped))?;
            let woken = tx.execute(
                "UPDATE customers SET next_wake = $2
                 WHERE quarantined IS NULL AND state IS NOT NULL AND strpos(state, $1) > 0",
                &[&needle, &at_s],
            )?;
            Ok((dropped.len(), woken as usize))
        })
    }

    fn controls(&mut self) -> Result<Controls> {
        self.write(read_controls)
    }

    fn resolve(&mut self, key: &str, status: Status, at: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "UPDATE outbox SET status = $2, updated = $3,
                 reply = COALESCE(reply, '') || ' (settled by hand as ' || $2 || ')'
                 WHERE key = $1 AND status = 'unknown'",
                &[&key, &status.name(), &secs(at)],
            )
            .map_err(err)?;
        Ok(n > 0)
    }

    fn prune(&mut self, before: DateTime<Utc>, events_before: DateTime<Utc>) -> Result<Pruned> {
        let (before, events_before) = (secs(before), secs(events_before));
        self.write(|tx| {
            Ok(Pruned {
                deliveries: tx.execute(
                    "DELETE FROM outbox WHERE status IN ('sent', 'dead') AND updated < $1",
                    &[&before],
                )? as usize,
                records: tx.execute("DELETE FROM records WHERE at < $1", &[&before])? as usize,
                events: tx.execute(
                    "DELETE FROM events WHERE handled AND at < $1",
                    &[&events_before],
                )? as usize,
            })
        })
    }

    fn backup(&mut self, _path: &std::path::Path) -> Result<()> {
        Err(StoreError(format!(
            "the store {} is PostgreSQL: back it up with PostgreSQL's own tools (pg_dump, or the server's continuous archiving)",
            self.shown
        )))
    }
}

/// A customer just claimed, as the claim returned it.
struct Leased {
    id: String,
    state: Option<String>,
    advanced: Option<i64>,
    generation: i64,
    lease: i64,
}

impl From<&postgres::Row> for Leased {
    fn from(r: &postgres::Row) -> Leased {
        Leased {
            id: r.get(0),
            state: r.get(1),
            advanced: r.get(2),
            generation: r.get(3),
            lease: r.get(4),
        }
    }
}

/// The outbox rows of one commit, as columns (one statement inserts them all).
#[derive(Default)]
struct OutboxRows {
    key: Vec<String>,
    customer: Vec<Option<String>>,
    playbook: Vec<String>,
    channel: Vec<String>,
    due: Vec<i64>,
    delivery: Vec<String>,
    status: Vec<&'static str>,
    quiet: Vec<String>,
    updated: Vec<i64>,
}

impl OutboxRows {
    fn push(
        &mut self,
        x: &crate::engine::Delivery,
        quiet: &Quiet,
        status: Status,
        at: DateTime<Utc>,
    ) -> serde_json::Result<()> {
        self.delivery.push(serde_json::to_string(x)?);
        self.key.push(x.key().to_string());
        self.customer
            .push(x.customer.as_deref().map(str::to_string));
        self.playbook.push(x.playbook.to_string());
        self.channel.push(x.channel.to_string());
        self.due.push(secs(x.at));
        self.status.push(status.name());
        self.quiet.push(quiet_text(quiet));
        self.updated.push(secs(at));
        Ok(())
    }

    fn insert(&self, tx: &mut Tx<'_>) -> Out<()> {
        if self.key.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO outbox (key, customer, playbook, channel, due, delivery, status, next_attempt, updated, quiet)
             SELECT key, customer, playbook, channel, due, delivery, status, due, updated, quiet
             FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::text[], $7::text[], $8::bigint[], $9::text[])
                 AS u(key, customer, playbook, channel, due, delivery, status, updated, quiet)
             ON CONFLICT (key) DO NOTHING",
            &[
                &self.key,
                &self.customer,
                &self.playbook,
                &self.channel,
                &self.due,
                &self.delivery,
                &self.status,
                &self.updated,
                &self.quiet,
            ],
        )?;
        Ok(())
    }
}
