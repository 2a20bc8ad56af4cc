//! The embedded store: SQLite in one file, WAL, `synchronous=FULL`, write
//! transactions with `BEGIN IMMEDIATE`. One connection, owned by the
//! runner's one writer thread. Instants are whole Unix seconds.

use super::store::*;
use crate::engine::state::CustomerState;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use std::path::Path;

/// The schema this tend writes. A store with a newer one is refused.
pub const SCHEMA_VERSION: i64 = 2;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS customers (
    id TEXT PRIMARY KEY,
    state TEXT,                 -- NULL until the customer's first work is done
    next_wake INTEGER,
    advanced_to INTEGER,
    lease_until INTEGER,
    dnc INTEGER NOT NULL DEFAULT 0,
    quarantined TEXT,           -- why its work stopped; NULL when it runs
    generation INTEGER NOT NULL DEFAULT 0  -- the controls its state was last worked under
);
CREATE INDEX IF NOT EXISTS customers_due ON customers (next_wake) WHERE next_wake IS NOT NULL;
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    customer TEXT NOT NULL,
    at INTEGER NOT NULL,
    body TEXT NOT NULL,
    handled INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS events_waiting ON events (customer, at, seq) WHERE handled = 0;
CREATE TABLE IF NOT EXISTS outbox (
    key TEXT PRIMARY KEY,
    customer TEXT,
    playbook TEXT NOT NULL,
    channel TEXT NOT NULL,
    due INTEGER NOT NULL,
    delivery TEXT NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER NOT NULL,
    quiet TEXT NOT NULL DEFAULT '',
    reply TEXT,
    updated INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (status, next_attempt);
-- Claims take the ready rows by when they are due, then in the order they
-- were queued (rowid, which keeps a batch on neighbouring pages). Named in
-- the claim (`INDEXED BY`), the scan stops at the batch instead of sorting
-- every ready row. (Added to older stores as they open: an index, not a
-- change of schema.)
CREATE INDEX IF NOT EXISTS outbox_ready ON outbox (next_attempt) WHERE status IN ('pending', 'failed');
CREATE TABLE IF NOT EXISTS records (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    customer TEXT,
    playbook TEXT,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS erased_opt_outs (hash TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS versions (
    playbook TEXT NOT NULL,
    version TEXT NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (playbook, version)
);
-- Schema 2: an operator's holds on playbooks. (Retention scans records and
-- events once an hour rather than pay for an index on every write.)
CREATE TABLE IF NOT EXISTS controls (
    playbook TEXT PRIMARY KEY,
    paused INTEGER,
    cancelled INTEGER,
    cancel_gen INTEGER NOT NULL DEFAULT 0
);
";

pub struct Sqlite {
    conn: Connection,
    /// Arrival order of accepted events (ties at one instant keep it).
    seq: i64,
    /// This store's own salt for the hashes erasure keeps (set once, at creation).
    salt: String,
}

impl Sqlite {
    /// Opens or creates the store at `path` and migrates it.
    pub fn open(path: &Path) -> Result<Sqlite> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot open the store `{}`: {e}", path.display())))?;
        Sqlite::with(conn)
    }

    /// A store in memory (tests).
    pub fn memory() -> Result<Sqlite> {
        Sqlite::with(Connection::open_in_memory().map_err(err)?)
    }

    fn with(conn: Connection) -> Result<Sqlite> {
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        let found: Option<i64> = conn
            .query_row("SELECT value FROM meta WHERE key = 'schema'", [], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map_err(err)?
            .and_then(|v| v.parse().ok());
        match found {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError(format!(
                    "the store was written by a newer tend (schema {v}; this one knows {SCHEMA_VERSION}); upgrade tend"
                )))
            }
            // Schema 2 added `controls` (created above where missing) and this column.
            Some(1) => {
                conn.execute_batch(
                    "ALTER TABLE customers ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;
                     UPDATE meta SET value = '2' WHERE key = 'schema';",
                )
                .map_err(err)?;
            }
            _ => {
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema', ?1)
                     ON CONFLICT (key) DO UPDATE SET value = ?1",
                    [SCHEMA_VERSION.to_string()],
                )
                .map_err(err)?;
            }
        }
        // A salt of this store's own, for the hashes erasure keeps.
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('salt', lower(hex(randomblob(16)))) ON CONFLICT DO NOTHING",
            [],
        )
        .map_err(err)?;
        let salt = conn
            .query_row("SELECT value FROM meta WHERE key = 'salt'", [], |r| {
                r.get(0)
            })
            .map_err(err)?;
        let seq = conn
            .query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
            .map_err(err)?;
        Ok(Sqlite { conn, seq, salt })
    }

    fn write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        self.conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)
    }
}

impl Store for Sqlite {
    /// One runner per file: `tend run` is the only writer of its store.
    fn shared(&self) -> bool {
        false
    }

    fn accept(&mut self, events: &[Incoming]) -> Result<Vec<Accepted>> {
        let mut seq = self.seq;
        let tx = self.write()?;
        let mut out = Vec::with_capacity(events.len());
        {
            let mut find = tx
                .prepare_cached("SELECT body FROM events WHERE id = ?1")
                .map_err(err)?;
            let mut add = tx
                .prepare_cached(
                    "INSERT INTO events (id, seq, customer, at, body) VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            for e in events {
                let known: Option<String> = find
                    .query_row([&e.id], |r| r.get(0))
                    .optional()
                    .map_err(err)?;
                out.push(match known {
                    Some(body) if body == e.body => Accepted::Duplicate,
                    Some(_) => Accepted::Conflict,
                    None => {
                        seq += 1;
                        add.execute(params![e.id, seq, e.customer, secs(e.at), e.body])
                            .map_err(err)?;
                        Accepted::New
                    }
                });
            }
        }
        tx.commit().map_err(err)?;
        self.seq = seq;
        Ok(out)
    }

    fn put_customers(
        &mut self,
        ids: &[String],
        at: DateTime<Utc>,
        change: &mut dyn FnMut(usize, Option<CustomerState>, bool) -> CustomerState,
    ) -> Result<Vec<usize>> {
        let salt = self.salt.clone();
        let tx = self.write()?;
        let mut claimed = Vec::new();
        {
            let mut get = tx
                .prepare_cached("SELECT state, lease_until FROM customers WHERE id = ?1")
                .map_err(err)?;
            let mut erased = tx
                .prepare_cached("SELECT 1 FROM erased_opt_outs WHERE hash = ?1")
                .map_err(err)?;
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO customers (id, state, next_wake, advanced_to, dnc) VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (id) DO UPDATE SET state = ?2, next_wake = ?3, advanced_to = ?4, dnc = ?5",
                )
                .map_err(err)?;
            for (i, id) in ids.iter().enumerate() {
                let row: Option<(Option<String>, Option<i64>)> = get
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()
                    .map_err(err)?;
                let (json, lease) = row.unwrap_or((None, None));
                if lease.is_some_and(|l| l > secs(at)) {
                    claimed.push(i);
                    continue;
                }
                let stored = state_of(json)?;
                let opted_out =
                    stored.is_none() && erased.exists([salted(&salt, id)]).map_err(err)?;
                let state = change(i, stored, opted_out);
                put.execute(params![
                    &*state.id,
                    state.to_json(),
                    state.next_wake().map(secs),
                    secs(at),
                    state.do_not_contact
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)?;
        Ok(claimed)
    }

    fn insert_customer(&mut self, state: &CustomerState, at: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT INTO customers (id, state, next_wake, advanced_to, dnc) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO NOTHING",
                params![
                    &*state.id,
                    state.to_json(),
                    state.next_wake().map(secs),
                    secs(at),
                    state.do_not_contact
                ],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn customer(&mut self, id: &str) -> Result<Option<CustomerState>> {
        let json: Option<Option<String>> = self
            .conn
            .query_row("SELECT state FROM customers WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        state_of(json.flatten())
    }

    fn claim(
        &mut self,
        now: DateTime<Utc>,
        limit: usize,
        lease_until: DateTime<Utc>,
    ) -> Result<Vec<Work>> {
        let now_s = secs(now);
        let salt = self.salt.clone();
        let tx = self.write()?;
        // Most stores have erased no opted-out customer: no hashing then.
        let any_erased: bool = tx
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM erased_opt_outs)")
            .and_then(|mut q| q.query_row([], |r| r.get(0)))
            .map_err(err)?;
        let mut ids: Vec<String> = Vec::new();
        {
            let mut due = tx
                .prepare_cached(
                    "SELECT id FROM customers WHERE next_wake <= ?1 AND quarantined IS NULL
                     AND (lease_until IS NULL OR lease_until < ?1)
                     ORDER BY next_wake LIMIT ?2",
                )
                .map_err(err)?;
            let rows = due
                .query_map(params![now_s, limit as i64], |r| r.get::<_, String>(0))
                .map_err(err)?;
            for id in rows {
                ids.push(id.map_err(err)?);
            }
            let mut waiting = tx
                .prepare_cached(
                    "SELECT DISTINCT e.customer FROM events e LEFT JOIN customers c ON c.id = e.customer
                     WHERE e.handled = 0 AND e.at <= ?1 AND c.quarantined IS NULL
                     AND (c.lease_until IS NULL OR c.lease_until < ?1)
                     LIMIT ?2",
                )
                .map_err(err)?;
            let rows = waiting
                .query_map(params![now_s, limit as i64], |r| r.get::<_, String>(0))
                .map_err(err)?;
            for id in rows {
                let id = id.map_err(err)?;
                if ids.len() < limit && !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        let mut out = Vec::with_capacity(ids.len());
        {
            let mut lease = tx
                .prepare_cached(
                    "INSERT INTO customers (id, lease_until) VALUES (?1, ?2)
                     ON CONFLICT (id) DO UPDATE SET lease_until = ?2
                     RETURNING state, advanced_to, generation",
                )
                .map_err(err)?;
            let mut inputs = tx
                .prepare_cached(
                    "SELECT id, at, body FROM events WHERE customer = ?1 AND handled = 0 AND at <= ?2 ORDER BY at, seq",
                )
                .map_err(err)?;
            for id in ids {
                let (state, advanced, generation): (Option<String>, Option<i64>, i64) = lease
                    .query_row(params![id, secs(lease_until)], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .map_err(err)?;
                let rows = inputs
                    .query_map(params![id, now_s], |r| {
                        Ok(Incoming {
                            id: r.get(0)?,
                            customer: id.clone(),
                            at: instant(r.get(1)?),
                            body: r.get(2)?,
                        })
                    })
                    .map_err(err)?;
                let inputs = rows
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(err)?;
                let state = match state_of(state) {
                    Ok(s) => s,
                    // Its own state cannot be read: this customer stops, the others go on.
                    Err(e) => {
                        tx.execute(
                            "UPDATE customers SET quarantined = ?2, lease_until = NULL WHERE id = ?1",
                            params![id, e.0],
                        )
                        .map_err(err)?;
                        continue;
                    }
                };
                let opted_out = state.is_none()
                    && any_erased
                    && tx
                        .prepare_cached("SELECT 1 FROM erased_opt_outs WHERE hash = ?1")
                        .and_then(|mut q| q.exists([salted(&salt, &id)]))
                        .map_err(err)?;
                out.push(Work {
                    customer: id.clone(),
                    state,
                    advanced_to: advanced.map(instant),
                    inputs,
                    generation,
                    opted_out,
                    lease: 0,
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    fn commit(&mut self, done: Vec<Done>) -> Result<()> {
        let tx = self.write()?;
        {
            let mut save = tx
                .prepare_cached(
                    "UPDATE customers SET state = ?2, next_wake = ?3, advanced_to = ?4, dnc = ?5, lease_until = NULL,
                     generation = ?6 WHERE id = ?1",
                )
                .map_err(err)?;
            let mut handled = tx
                .prepare_cached("UPDATE events SET handled = 1 WHERE id = ?1")
                .map_err(err)?;
            let mut out = tx
                .prepare_cached(
                    "INSERT INTO outbox (key, customer, playbook, channel, due, delivery, status, next_attempt, updated, quiet)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?9, ?5, ?7, ?8) ON CONFLICT (key) DO NOTHING",
                )
                .map_err(err)?;
            let controls = read_controls(&tx)?;
            // What the controls did to this batch's deliveries.
            let mut controlled = Vec::new();
            for d in done {
                let now = secs(d.advanced_to);
                save.execute(params![
                    d.customer,
                    d.state.to_json(),
                    d.state.next_wake().map(secs),
                    now,
                    d.state.do_not_contact,
                    d.generation
                ])
                .map_err(err)?;
                for id in &d.handled {
                    handled.execute([id]).map_err(err)?;
                }
                for (x, quiet) in &d.deliveries {
                    let (status, record) = controls.at_commit(x, d.generation, d.advanced_to);
                    controlled.extend(record);
                    // Cancelled while this work was under way: its sends go nowhere.
                    let Some(status) = status else {
                        continue;
                    };
                    let json = serde_json::to_string(x).map_err(err)?;
                    out.execute(params![
                        x.key().to_string(),
                        x.customer.as_deref(),
                        &*x.playbook,
                        &*x.channel,
                        secs(x.at),
                        json,
                        now,
                        quiet_text(quiet),
                        status.name()
                    ])
                    .map_err(err)?;
                }
                insert_records(&tx, &d.records)?;
            }
            insert_records(&tx, &controlled)?;
        }
        tx.commit().map_err(err)
    }

    fn next_due(&mut self, deliveries: bool) -> Result<Option<DateTime<Utc>>> {
        let queries = [
            "SELECT MIN(next_wake) FROM customers WHERE quarantined IS NULL",
            "SELECT MIN(e.at) FROM events e LEFT JOIN customers c ON c.id = e.customer
             WHERE e.handled = 0 AND c.quarantined IS NULL",
            "SELECT MIN(next_attempt) FROM outbox WHERE status IN ('pending', 'failed')",
        ];
        let mut next: Option<i64> = None;
        for q in &queries[..if deliveries { 3 } else { 2 }] {
            let t: Option<i64> = self
                .conn
                .prepare_cached(q)
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(err)?;
            next = match (next, t) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(next.map(instant))
    }

    fn claim_deliveries(&mut self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Outgoing>> {
        let tx = self.write()?;
        let mut out = Vec::new();
        {
            let mut claim = tx
                .prepare_cached(
                    "UPDATE outbox SET status = 'sending', attempts = attempts + 1, updated = ?1
                     WHERE key IN (SELECT key FROM outbox INDEXED BY outbox_ready
                                   WHERE status IN ('pending', 'failed') AND next_attempt <= ?1
                                   ORDER BY next_attempt, rowid LIMIT ?2)
                     RETURNING key, delivery, attempts, quiet,
                               COALESCE((SELECT dnc FROM customers c WHERE c.id = outbox.customer), 0)",
                )
                .map_err(err)?;
            let rows = claim
                .query_map(params![secs(now), limit as i64], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, u32>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                })
                .map_err(err)?;
            for row in rows {
                let (key, json, attempts, quiet, do_not_contact) = row.map_err(err)?;
                let delivery = delivery_of(&key, &json)?;
                out.push(Outgoing {
                    key,
                    delivery,
                    attempts,
                    quiet: quiet_parse(&quiet),
                    do_not_contact,
                });
            }
        }
        tx.commit().map_err(err)?;
        Ok(out)
    }

    fn record(&mut self, records: &[crate::engine::Record]) -> Result<()> {
        let tx = self.write()?;
        insert_records(&tx, records)?;
        tx.commit().map_err(err)
    }

    fn settle(&mut self, settled: &[Settled], at: DateTime<Utc>) -> Result<()> {
        let tx = self.write()?;
        {
            let mut set = tx
                .prepare_cached(
                    "UPDATE outbox SET status = ?2, reply = ?3, next_attempt = COALESCE(?4, next_attempt), updated = ?5 WHERE key = ?1",
                )
                .map_err(err)?;
            for s in settled {
                set.execute(params![
                    s.key,
                    s.status.name(),
                    s.reply,
                    s.next_attempt.map(secs),
                    secs(at)
                ])
                .map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    fn recover(
        &mut self,
        lapsed_before: Option<DateTime<Utc>>,
        dedupes: &dyn Fn(&str) -> bool,
    ) -> Result<usize> {
        let tx = self.write()?;
        let rows: Vec<(String, String)> = {
            let mut q = tx
                .prepare(
                    "SELECT key, channel FROM outbox WHERE status = 'sending' AND updated < ?1",
                )
                .map_err(err)?;
            let rows = q
                .query_map([lapsed_before.map_or(i64::MAX, secs)], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .map_err(err)?;
            rows.collect::<std::result::Result<_, _>>().map_err(err)?
        };
        for (key, channel) in &rows {
            if dedupes(channel) {
                tx.execute("UPDATE outbox SET status = 'pending' WHERE key = ?1", [key])
            } else {
                tx.execute(
                    "UPDATE outbox SET status = 'unknown', reply = ?2 WHERE key = ?1",
                    params![key, LOST_ATTEMPT],
                )
            }
            .map_err(err)?;
        }
        // Leases of a runner that stopped are void.
        if lapsed_before.is_none() {
            tx.execute(
                "UPDATE customers SET lease_until = NULL WHERE lease_until IS NOT NULL",
                [],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(rows.len())
    }

    fn quarantine(&mut self, customer: &str, why: &str, at: DateTime<Utc>) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO customers (id, quarantined) VALUES (?1, ?2)
             ON CONFLICT (id) DO UPDATE SET quarantined = ?2, lease_until = NULL",
            params![customer, why],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO records (at, customer, playbook, kind, detail) VALUES (?1, ?2, NULL, 'failed', ?3)",
            params![secs(at), customer, format!("quarantined: {why}")],
        )
        .map_err(err)?;
        tx.commit().map_err(err)
    }

    fn release(&mut self, customer: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE customers SET quarantined = NULL WHERE id = ?1 AND quarantined IS NOT NULL",
                [customer],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn requeue(&mut self, key: Option<&str>, at: DateTime<Utc>) -> Result<usize> {
        let n = match key {
            Some(k) => self.conn.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?2, updated = ?2
                 WHERE key = ?1 AND status IN ('dead', 'unknown', 'failed')",
                params![k, secs(at)],
            ),
            None => self.conn.execute(
                "UPDATE outbox SET status = 'pending', attempts = 0, next_attempt = ?1, updated = ?1 WHERE status = 'dead'",
                params![secs(at)],
            ),
        }
        .map_err(err)?;
        Ok(n)
    }

    fn quarantined(&mut self) -> Result<Vec<(String, String)>> {
        let mut q = self
            .conn
            .prepare(
                "SELECT id, quarantined FROM customers WHERE quarantined IS NOT NULL ORDER BY id",
            )
            .map_err(err)?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn erase(&mut self, customer: &str) -> Result<Option<Erased>> {
        let hash = salted(&self.salt, customer);
        let tx = self.write()?;
        let dnc: Option<bool> = tx
            .query_row("SELECT dnc FROM customers WHERE id = ?1", [customer], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        let Some(dnc) = dnc else {
            return Ok(None);
        };
        if dnc {
            tx.execute(
                "INSERT INTO erased_opt_outs (hash) VALUES (?1) ON CONFLICT DO NOTHING",
                [&hash],
            )
            .map_err(err)?;
        }
        let erased = Erased {
            events: tx
                .execute("DELETE FROM events WHERE customer = ?1", [customer])
                .map_err(err)?,
            deliveries: tx
                .execute("DELETE FROM outbox WHERE customer = ?1", [customer])
                .map_err(err)?,
            records: tx
                .execute("DELETE FROM records WHERE customer = ?1", [customer])
                .map_err(err)?,
            kept_opt_out: dnc,
        };
        tx.execute("DELETE FROM customers WHERE id = ?1", [customer])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Some(erased))
    }

    fn save_version(&mut self, playbook: &str, version: &str, text: &str) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "INSERT INTO versions (playbook, version, text) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                params![playbook, version, text],
            )
            .map_err(err)?;
        Ok(n == 1)
    }

    fn wake_all(&mut self, at: DateTime<Utc>) -> Result<usize> {
        self.conn
            .execute(
                "UPDATE customers SET next_wake = ?1
                 WHERE (next_wake IS NULL OR next_wake > ?1) AND state IS NOT NULL AND quarantined IS NULL",
                [secs(at)],
            )
            .map_err(err)
    }

    fn versions(&mut self) -> Result<Vec<(String, String, String)>> {
        let mut q = self
            .conn
            .prepare("SELECT playbook, version, text FROM versions ORDER BY playbook, version")
            .map_err(err)?;
        let rows = q
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn outbox(&mut self) -> Result<Vec<OutboxRow>> {
        let mut q = self
            .conn
            .prepare("SELECT key, delivery, status, reply FROM outbox ORDER BY due, key")
            .map_err(err)?;
        let rows = q
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (key, json, status, reply) = row.map_err(err)?;
            let d = delivery_of(&key, &json)?;
            out.push((
                key,
                d,
                Status::parse(&status).unwrap_or(Status::Unknown),
                reply,
            ));
        }
        Ok(out)
    }

    fn recent_records(&mut self, n: usize) -> Result<Vec<RecordRow>> {
        let mut q = self
            .conn
            .prepare("SELECT at, customer, playbook, kind, detail FROM records ORDER BY id DESC LIMIT ?1")
            .map_err(err)?;
        let rows = q
            .query_map([n as i64], |r| {
                Ok((
                    instant(r.get(0)?),
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                ))
            })
            .map_err(err)?;
        rows.collect::<std::result::Result<_, _>>().map_err(err)
    }

    fn history(&mut self, customer: &str, n: usize) -> Result<History> {
        let mut q = self
            .conn
            .prepare("SELECT key, delivery, status FROM outbox WHERE customer = ?1 ORDER BY due DESC, key LIMIT ?2")
            .map_err(err)?;
        let rows = q
            .query_map(params![customer, n as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .map_err(err)?;
        let mut sent = Vec::new();
        for row in rows {
            let (key, json, status) = row.map_err(err)?;
            let d = delivery_of(&key, &json)?;
            sent.push((key, d, Status::parse(&status).unwrap_or(Status::Unknown)));
        }
        let mut q = self
            .conn
            .prepare("SELECT at, playbook, kind, detail FROM records WHERE customer = ?1 ORDER BY id DESC LIMIT ?2")
            .map_err(err)?;
        let rows = q
            .query_map(params![customer, n as i64], |r| {
                Ok((instant(r.get(0)?), r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(err)?;
        let records = rows.collect::<std::result::Result<_, _>>().map_err(err)?;
        Ok((sent, records))
    }

    fn each_waiting(&mut self, f: &mut dyn FnMut(CustomerState)) -> Result<()> {
        let mut q = self
            .conn
            .prepare(
                "SELECT state FROM customers WHERE next_wake IS NOT NULL AND state IS NOT NULL",
            )
            .map_err(err)?;
        let rows = q.query_map([], |r| r.get::<_, String>(0)).map_err(err)?;
        for row in rows {
            if let Some(state) = state_of(Some(row.map_err(err)?))? {
                f(state);
            }
        }
        Ok(())
    }

    fn outbox_counts(&mut self) -> Result<Vec<(Status, u64)>> {
        let mut q = self
            .conn
            .prepare("SELECT status, COUNT(*) FROM outbox GROUP BY status ORDER BY status")
            .map_err(err)?;
        let rows = q
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, u64>(1)?)))
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (s, n) = row.map_err(err)?;
            if let Some(s) = Status::parse(&s) {
                out.push((s, n));
            }
        }
        Ok(out)
    }

    fn pause(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<usize> {
        let tx = self.write()?;
        next_generation(&tx)?;
        tx.execute(
            "INSERT INTO controls (playbook, paused) VALUES (?1, ?2)
             ON CONFLICT (playbook) DO UPDATE SET paused = COALESCE(paused, ?2)",
            params![playbook, secs(at)],
        )
        .map_err(err)?;
        let held = move_rows(
            &tx,
            "UPDATE outbox SET status = 'held', updated = ?2
             WHERE playbook = ?1 AND status IN ('pending', 'failed') RETURNING key, customer",
            params![playbook, secs(at)],
        )?;
        let records = rows_records(&held, playbook, at, Held::Held);
        insert_records(&tx, &records)?;
        tx.commit().map_err(err)?;
        Ok(held.len())
    }

    fn resume(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<Option<usize>> {
        let tx = self.write()?;
        let paused: Option<Option<i64>> = tx
            .query_row(
                "SELECT paused FROM controls WHERE playbook = ?1",
                [playbook],
                |r| r.get(0),
            )
            .optional()
            .map_err(err)?;
        if paused.flatten().is_none() {
            return Ok(None);
        }
        next_generation(&tx)?;
        tx.execute(
            "UPDATE controls SET paused = NULL WHERE playbook = ?1",
            [playbook],
        )
        .map_err(err)?;
        let released = move_rows(
            &tx,
            "UPDATE outbox SET status = 'pending', next_attempt = ?2, updated = ?2
             WHERE playbook = ?1 AND status = 'held' RETURNING key, customer",
            params![playbook, secs(at)],
        )?;
        let records = rows_records(&released, playbook, at, Held::Released);
        insert_records(&tx, &records)?;
        tx.commit().map_err(err)?;
        Ok(Some(released.len()))
    }

    fn cancel(&mut self, playbook: &str, at: DateTime<Utc>) -> Result<(usize, usize)> {
        let tx = self.write()?;
        let gen = next_generation(&tx)?;
        tx.execute(
            "INSERT INTO controls (playbook, paused, cancelled, cancel_gen) VALUES (?1, ?2, ?2, ?3)
             ON CONFLICT (playbook) DO UPDATE SET paused = COALESCE(paused, ?2), cancelled = ?2, cancel_gen = ?3",
            params![playbook, secs(at), gen],
        )
        .map_err(err)?;
        let dropped = move_rows(
            &tx,
            "DELETE FROM outbox WHERE playbook = ?1 AND status IN ('pending', 'failed', 'held')
             RETURNING key, customer",
            params![playbook],
        )?;
        let records = rows_records(&dropped, playbook, at, Held::Dropped);
        insert_records(&tx, &records)?;
        // Only customers whose state names the playbook need waking.
        let needle = format!("\"playbook\":{}", serde_json::Value::from(playbook));
        let woken = tx
            .execute(
                "UPDATE customers SET next_wake = ?2
                 WHERE quarantined IS NULL AND state IS NOT NULL AND instr(state, ?1) > 0",
                params![needle, secs(at)],
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok((dropped.len(), woken))
    }

    fn controls(&mut self) -> Result<Controls> {
        let tx = self.conn.transaction().map_err(err)?;
        let c = read_controls(&tx)?;
        tx.commit().map_err(err)?;
        Ok(c)
    }

    fn resolve(&mut self, key: &str, status: Status, at: DateTime<Utc>) -> Result<bool> {
        let n = self
            .conn
            .execute(
                "UPDATE outbox SET status = ?2, updated = ?3,
                 reply = COALESCE(reply, '') || ' (settled by hand as ' || ?2 || ')'
                 WHERE key = ?1 AND status = 'unknown'",
                params![key, status.name(), secs(at)],
            )
            .map_err(err)?;
        Ok(n > 0)
    }

    fn prune(&mut self, before: DateTime<Utc>, events_before: DateTime<Utc>) -> Result<Pruned> {
        let tx = self.write()?;
        let deliveries = tx
            .execute(
                "DELETE FROM outbox WHERE status IN ('sent', 'dead') AND updated < ?1",
                [secs(before)],
            )
            .map_err(err)?;
        let records = tx
            .execute("DELETE FROM records WHERE at < ?1", [secs(before)])
            .map_err(err)?;
        let events = tx
            .execute(
                "DELETE FROM events WHERE handled = 1 AND at < ?1",
                [secs(events_before)],
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Pruned {
            deliveries,
            records,
            events,
        })
    }

    fn backup(&mut self, path: &Path) -> Result<()> {
        let mut to = Connection::open(path)
            .map_err(|e| StoreError(format!("cannot write `{}`: {e}", path.display())))?;
        let b = rusqlite::backup::Backup::new(&self.conn, &mut to).map_err(err)?;
        // Pages in steps, so a running runner's writes wait only briefly.
        b.run_to_completion(1024, std::time::Duration::from_millis(5), None)
            .map_err(err)
    }
}

fn next_generation(tx: &rusqlite::Transaction<'_>) -> Result<i64> {
    tx.query_row(
        "INSERT INTO meta (key, value) VALUES ('controls', '1')
         ON CONFLICT (key) DO UPDATE SET value = CAST(value AS INTEGER) + 1 RETURNING CAST(value AS INTEGER)",
        [],
        |r| r.get(0),
    )
    .map_err(err)
}

fn read_controls(tx: &rusqlite::Transaction<'_>) -> Result<Controls> {
    let generation = tx
        .query_row(
            "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'controls'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?
        .unwrap_or(0);
    let mut q = tx
        .prepare_cached(
            "SELECT playbook, paused, cancelled, cancel_gen FROM controls
             WHERE paused IS NOT NULL OR cancelled IS NOT NULL ORDER BY playbook",
        )
        .map_err(err)?;
    let playbooks = q
        .query_map([], |r| {
            Ok(Control {
                playbook: r.get(0)?,
                paused: r.get::<_, Option<i64>>(1)?.map(instant),
                cancelled: r.get::<_, Option<i64>>(2)?.map(instant),
                cancel_generation: r.get(3)?,
            })
        })
        .map_err(err)?
        .collect::<std::result::Result<_, _>>()
        .map_err(err)?;
    Ok(Controls {
        generation,
        playbooks,
    })
}

/// Runs an outbox statement over one playbook's rows; (key, customer) of each.
fn move_rows(
    tx: &rusqlite::Transaction<'_>,
    sql: &str,
    args: impl rusqlite::Params,
) -> Result<Vec<(String, Option<String>)>> {
    let mut q = tx.prepare(sql).map_err(err)?;
    let rows = q
        .query_map(args, |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(err)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(rows)
}

fn insert_records(tx: &rusqlite::Transaction<'_>, records: &[crate::engine::Record]) -> Result<()> {
    let mut add = tx
        .prepare_cached("INSERT INTO records (at, customer, playbook, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)")
        .map_err(err)?;
    for r in records {
        add.execute(params![
            secs(r.at),
            r.customer.as_deref(),
            r.playbook.as_deref(),
            r.kind.name(),
            r.detail.to_string()
        ])
        .map_err(err)?;
    }
    Ok(())
}
