//! The store of a run: a fresh Postgres database per run (created and dropped here) or the
//! server's SQLite file, and what it holds of the acknowledged ops afterwards.

use super::OpsArgs;
use crate::stats;
use anyhow::{bail, Context, Result};
use std::collections::HashSet;
use std::path::PathBuf;
use uuid::Uuid;

/// Where the store of a run can be read.
pub(super) enum StoreAt {
    Postgres(String),
    Sqlite(PathBuf),
}

/// A database created for one run, dropped with it.
pub(super) struct FreshDb {
    pub(super) admin: String,
    pub(super) name: String,
    pub(super) keep: bool,
}

impl FreshDb {
    pub(super) async fn create(a: &OpsArgs, tag: usize) -> Result<(Self, String)> {
        let name = format!(
            "{}{}_{}_{tag}",
            a.db_prefix,
            std::process::id(),
            stats::unix_secs()
        );
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("database name {name:?}: use letters, digits and _ in --db-prefix");
        }
        let mut conn = admin_conn(&a.pg_admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let url = db_url(&a.pg_admin_url, &name)?;
        Ok((
            Self {
                admin: a.pg_admin_url.clone(),
                name,
                keep: a.keep_db,
            },
            url,
        ))
    }

    pub(super) async fn drop_now(self) -> Result<()> {
        if self.keep {
            eprintln!("kept database {}", self.name);
            return Ok(());
        }
        let mut conn = admin_conn(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

async fn admin_conn(url: &str) -> Result<sqlx::PgConnection> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// `url` with its database replaced by `name`.
fn db_url(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").context("not a URL")? + 3;
    let slash = base[after_scheme..].find('/').map(|i| i + after_scheme);
    let host = match slash {
        Some(i) => &base[..i],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    })
}

/// The op ids a query over `applied_ops` / `board_events` returns, on either store (a macro:
/// the connection types of the two stores have no common trait worth spelling out here).
macro_rules! op_ids {
    ($conn:expr, $sql:expr, $bind:expr) => {
        sqlx::query_as::<_, (Uuid,)>($sql)
            .bind($bind)
            .fetch_all(&mut $conn)
            .await?
            .into_iter()
            .map(|r| r.0)
    };
}

/// How many of `acked` the store holds in `applied_ops`, and how many of them have more than
/// one event.
pub(super) async fn stored(at: &StoreAt, boards: &[Uuid], acked: &[Uuid]) -> Result<(u64, u64)> {
    use sqlx::Connection;
    let mut applied: HashSet<Uuid> = HashSet::new();
    let mut multi: Vec<Uuid> = Vec::new();
    match at {
        StoreAt::Postgres(url) => {
            let mut c = sqlx::PgConnection::connect(url).await?;
            applied.extend(op_ids!(
                c,
                "SELECT op_id FROM applied_ops WHERE board_id = ANY($1)",
                boards
            ));
            multi.extend(op_ids!(
                c,
                "SELECT op_id FROM board_events WHERE board_id = ANY($1) \
                 GROUP BY op_id HAVING count(*) > 1",
                boards
            ));
        }
        StoreAt::Sqlite(path) => {
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
            for b in boards {
                applied.extend(op_ids!(
                    c,
                    "SELECT op_id FROM applied_ops WHERE board_id = ?",
                    b
                ));
                multi.extend(op_ids!(
                    c,
                    "SELECT op_id FROM board_events WHERE board_id = ? \
                     GROUP BY op_id HAVING count(*) > 1",
                    b
                ));
            }
        }
    }
    let ours: HashSet<&Uuid> = acked.iter().collect();
    let found = acked.iter().filter(|o| applied.contains(o)).count() as u64;
    let dups = multi.iter().filter(|o| ours.contains(o)).count() as u64;
    Ok((found, dups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            db_url("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            db_url("postgres://u@h/test?sslmode=disable", "y").unwrap(),
            "postgres://u@h/y?sslmode=disable"
        );
        assert_eq!(db_url("postgres://h:1", "z").unwrap(), "postgres://h:1/z");
    }
}
