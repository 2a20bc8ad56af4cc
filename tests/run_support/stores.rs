//! The stores the runner's tests run on: every store-agnostic test runs on
//! the embedded SQLite store and on PostgreSQL (`on_every_store!`).
//! PostgreSQL is the server `TEND_TEST_POSTGRES` names (a `postgres://`
//! URL; `scripts/test-postgres` starts one and prints it); each test gets a
//! schema of its own, dropped when it ends. Without the variable the
//! PostgreSQL half says it was skipped; `.ci/run` always sets it.

use std::path::{Path, PathBuf};
use tend::run::db::Db;
use tend::run::store::Store;

/// One test's store, which can be opened again (a restart).
pub struct TestStore {
    pub db: Db,
    /// The PostgreSQL server and the schema this test owns.
    schema: Option<(String, String)>,
}

/// `TEND_TEST_POSTGRES`, or `None` when it is not set.
pub fn postgres_url() -> Option<String> {
    std::env::var("TEND_TEST_POSTGRES")
        .ok()
        .filter(|u| !u.is_empty())
}

impl TestStore {
    /// An SQLite file in `dir`.
    pub fn sqlite(dir: &Path) -> TestStore {
        TestStore {
            db: Db::File(dir.join("tend.db")),
            schema: None,
        }
    }

    /// A schema of its own on the test server, empty; `None` without a server.
    pub fn postgres(name: &str) -> Option<TestStore> {
        let server = postgres_url()?;
        let mut schema: String = format!("t{}_{name}", std::process::id())
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .collect();
        schema.truncate(60);
        let mut client = postgres::Client::connect(&server, postgres::NoTls).unwrap_or_else(|e| {
            panic!("TEND_TEST_POSTGRES={server}: {e} (run scripts/test-postgres)")
        });
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
            ))
            .unwrap();
        let sep = if server.contains('?') { '&' } else { '?' };
        let url = format!("{server}{sep}options=-csearch_path%3D{schema}");
        Some(TestStore {
            db: Db::Postgres(url),
            schema: Some((server, schema)),
        })
    }

    pub fn open(&self) -> Box<dyn Store> {
        self.db.open().unwrap()
    }

    /// What `--db` takes to name this store.
    pub fn arg(&self) -> PathBuf {
        match &self.db {
            Db::File(p) => p.clone(),
            Db::Postgres(url) => PathBuf::from(url),
        }
    }

    pub fn is_postgres(&self) -> bool {
        self.schema.is_some()
    }
}

impl Drop for TestStore {
    fn drop(&mut self) {
        if let Some((server, schema)) = &self.schema {
            if let Ok(mut c) = postgres::Client::connect(server, postgres::NoTls) {
                let _ = c.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
}

/// Each named test function (taking `&TestStore`) as two tests: one on
/// SQLite, one on PostgreSQL.
#[macro_export]
macro_rules! on_every_store {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    let dir = $crate::run_support::scratch(concat!("sqlite-", stringify!($name)));
                    super::$name(&$crate::run_support::stores::TestStore::sqlite(&dir))
                }
            )*
        }
        mod on_postgres {
            $(
                $(#[$attr])*
                #[test]
                fn $name() {
                    match $crate::run_support::stores::TestStore::postgres(stringify!($name)) {
                        Some(store) => super::$name(&store),
                        None => eprintln!("skipped: TEND_TEST_POSTGRES is not set (scripts/test-postgres starts a server and prints it)"),
                    }
                }
            )*
        }
    };
}
