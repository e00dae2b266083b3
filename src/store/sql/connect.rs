//! Opening the two stores: pool settings, and SQLite's pragmas and background checkpoints.

use super::*;

pub struct PgStore {
    pub(in crate::store) pool: sqlx::PgPool,
    /// The write-behind's group commits, on connections of their own (a pool opens one only
    /// when none is idle: 4 were open at 500 ops/s with two lanes, against 16 in the shared
    /// pool): each Postgres session plans the group-commit function's
    /// statements on its first call, and commits taking whichever pooled connection was idle
    /// paid that on many of them in the first second of load (BENCHMARKS.md: commit-mode
    /// fan-out p99 median 23.7 -> 11.7 ms with this pool).
    pub(in crate::store) writer: sqlx::PgPool,
}

pub struct SqliteStore {
    pub(in crate::store) pool: sqlx::SqlitePool,
    /// The write-behind's group commits, on one connection of their own: SQLite drops a
    /// connection's page cache whenever another connection wrote since its last transaction,
    /// so commits taking turns over the pool's connections each read their b-tree pages
    /// again from the file.
    pub(in crate::store) writer: sqlx::SqlitePool,
    /// Checkpoints the WAL in the background (file databases), see `connect`.
    _checkpointer: Option<Checkpointer>,
}

/// The background checkpoint task; stops with its store.
struct Checkpointer(tokio::task::JoinHandle<()>);

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How often the WAL is copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Postgres ends a session left idle inside a transaction this long (its locks go with it).
/// The server's transactions are a group commit or one request, milliseconds between their
/// statements; a session idle in one for seconds belongs to a process that stopped running
/// (paused, frozen VM, cut off) while holding the board row's lock, and the node taking the
/// board over would otherwise wait on that lock for as long as the pause lasts, leases or not
/// (found by the fault suite, `tests/faults/e_paused_owner.rs`). The stopped process's commit
/// then fails, and its retry is refused by the epoch fence.
const IDLE_IN_TRANSACTION_TIMEOUT_MS: u32 = 2_000;

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Self> {
        use std::str::FromStr;
        let opts = sqlx::postgres::PgConnectOptions::from_str(url)?.options([(
            "idle_in_transaction_session_timeout",
            IDLE_IN_TRANSACTION_TIMEOUT_MS.to_string(),
        )]);
        let pool_of = |opts| {
            sqlx::postgres::PgPoolOptions::new()
                .max_connections(max_connections)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect_with(opts)
        };
        let pool = pool_of(opts.clone()).await?;
        // A pool opens a connection only when none is idle, so this one stays small (a
        // connection is handed back a moment after its commit ends, hence a few more than the
        // commits in flight).
        let writer = pool_of(opts).await?;
        Ok(PgStore { pool, writer })
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, sync: SqliteSync) -> StoreResult<Self> {
        use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
        use std::str::FromStr;
        let opts = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .foreign_keys(true)
            // WAL lets readers run while the write-behind commits. `synchronous` decides
            // whether a commit survives power loss (FULL) or only a crash of the process
            // (NORMAL); see `SqliteSync`.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(match sync {
                SqliteSync::Full => SqliteSynchronous::Full,
                SqliteSync::Normal => SqliteSynchronous::Normal,
            })
            .busy_timeout(std::time::Duration::from_secs(5));
        // An in-memory database exists once per connection: keep exactly one.
        let memory = url.contains(":memory:") || url.contains("mode=memory");
        // SQLite checkpoints the WAL (copies it into the database file and syncs that) inside
        // whichever commit crosses 1 000 pages, which stalls that group commit, and every ack
        // waiting on it, by the checkpoint's length. Here no commit checkpoints: a task does it
        // every `CHECKPOINT_EVERY` on another connection (PASSIVE: it waits for no writer).
        let opts = if memory {
            opts
        } else {
            opts.pragma("wal_autocheckpoint", "0")
        };
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(if memory { 1 } else { 4 })
            .connect_with(opts.clone())
            .await?;
        let writer = if memory {
            pool.clone()
        } else {
            sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts)
                .await?
        };
        let checkpointer = (!memory).then(|| {
            let pool = pool.clone();
            Checkpointer(tokio::spawn(async move {
                let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                        .execute(&pool)
                        .await
                    {
                        tracing::warn!(error = %e, "WAL checkpoint failed; retrying");
                    }
                }
            }))
        });
        Ok(SqliteStore {
            pool,
            writer,
            _checkpointer: checkpointer,
        })
    }
}

/// The `synchronous` mode a store's commits run with, for `/readyz`: what an ack promises.
pub(super) mod sqlite {
    pub async fn sqlite_synchronous(
        pool: &sqlx::SqlitePool,
    ) -> super::StoreResult<Option<&'static str>> {
        let (mode,): (i64,) = sqlx::query_as("PRAGMA synchronous").fetch_one(pool).await?;
        // The pragma answers with SQLite's number for the mode.
        Ok(Some(match mode {
            0 => "off",
            1 => "normal",
            2 => "full",
            3 => "extra",
            _ => "unknown",
        }))
    }
}

/// Postgres has no such mode: a commit there is durable when it returns.
pub(super) mod pg {
    pub async fn sqlite_synchronous(
        _pool: &sqlx::PgPool,
    ) -> super::StoreResult<Option<&'static str>> {
        Ok(None)
    }
}
