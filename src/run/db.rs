//! Which store a project runs on: an SQLite file (the default, one runner)
//! or a PostgreSQL database (several runners), named by `--db` or `[run] db`.

use super::store::{Store, StoreError};
use std::path::{Path, PathBuf};

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Db {
    /// An SQLite file.
    File(PathBuf),
    /// A PostgreSQL database: a `postgres://` or `postgresql://` URL.
    Postgres(String),
}

impl Db {
    /// `--db` or `[run] db`: a PostgreSQL URL, or a file path (relative to
    /// `root`, the project's folder, when it comes from tend.toml).
    pub fn parse(text: &str, root: Option<&Path>) -> Db {
        if is_postgres(text) {
            return Db::Postgres(text.to_string());
        }
        match root {
            Some(root) => Db::File(root.join(text)),
            None => Db::File(PathBuf::from(text)),
        }
    }

    /// Opens (or creates) the store and brings its schema up to date.
    pub fn open(&self) -> Result<Box<dyn Store>, StoreError> {
        Ok(match self {
            Db::File(path) => Box::new(super::sqlite::Sqlite::open(path)?),
            Db::Postgres(url) => Box::new(super::postgres::Postgres::connect(url)?),
        })
    }

    /// Whether there is a store to open (a database server is asked when opened).
    pub fn exists(&self) -> bool {
        match self {
            Db::File(path) => path.exists(),
            Db::Postgres(_) => true,
        }
    }
}

fn is_postgres(text: &str) -> bool {
    let lower = text.trim_start().to_ascii_lowercase();
    lower.starts_with("postgres://") || lower.starts_with("postgresql://")
}

/// The store as shown in a banner, a log or an error: never its password.
impl std::fmt::Display for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Db::File(path) => write!(f, "{}", path.display()),
            Db::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

/// A PostgreSQL address without its password: `postgres://user:***@host/db`
/// (and `password=***` in a query string or `key=value` form).
pub fn redact(address: &str) -> String {
    let mut out = address.to_string();
    if let Some(scheme) = out.find("://") {
        let rest = scheme + 3;
        let authority_end = out[rest..].find(['/', '?']).map_or(out.len(), |i| rest + i);
        if let Some(at) = out[rest..authority_end].rfind('@') {
            let userinfo = &out[rest..rest + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest + colon + 1..rest + at, "***");
            }
        }
    }
    // `password=…` up to the next `&` or space.
    let lower = out.to_ascii_lowercase();
    if let Some(i) = lower.find("password=") {
        let from = i + "password=".len();
        let to = out[from..].find(['&', ' ']).map_or(out.len(), |j| from + j);
        out.replace_range(from..to, "***");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_never_show() {
        assert_eq!(
            redact("postgres://tend:s3cret@db.internal:5432/shop"),
            "postgres://tend:***@db.internal:5432/shop"
        );
        assert_eq!(
            redact("postgresql://tend@db/shop?password=s3cret&sslmode=disable"),
            "postgresql://tend@db/shop?password=***&sslmode=disable"
        );
        assert_eq!(
            redact("host=db user=tend password=s3cret dbname=shop"),
            "host=db user=tend password=*** dbname=shop"
        );
        assert_eq!(redact("postgres://db/shop"), "postgres://db/shop");
    }

    #[test]
    fn a_url_is_postgres_and_anything_else_a_file() {
        assert_eq!(
            Db::parse("postgres://db/shop", Some(Path::new("proj"))),
            Db::Postgres("postgres://db/shop".into())
        );
        assert_eq!(
            Db::parse("state/tend.db", Some(Path::new("proj"))),
            Db::File(PathBuf::from("proj/state/tend.db"))
        );
    }
}
