//! Test databases: a fresh Postgres database per test, and the sweep of old ones.

use super::*;
use std::sync::Once;
use std::time::Duration;
use uuid::Uuid;

pub fn admin_db_url() -> String {
    std::env::var("BOARDROOM_TEST_DATABASE_URL")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_ADMIN_DB.to_string())
}

/// `url` with its database name replaced by `db` (query parameters are kept).
pub fn with_database(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let base = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{db}?{q}"),
        None => format!("{base}/{db}"),
    }
}

/// Creates an empty database `br_t_<uuid>` and returns its URL. The first call in a test
/// process also drops test databases left behind by earlier runs (older than 2 minutes and
/// unused) and server logs older than a day.
pub async fn fresh_pg_url() -> String {
    use sqlx::Connection;
    let admin = admin_db_url();
    let mut conn = connect_admin(&admin).await;
    static SWEEP: Once = Once::new();
    SWEEP.call_once(|| spawn_sweep(admin.clone()));

    let name = format!("br_t_{}", Uuid::now_v7().simple());
    let sql = format!("CREATE DATABASE \"{name}\"");
    let mut attempt = 0;
    loop {
        match sqlx::raw_sql(&sql).execute(&mut conn).await {
            Ok(_) => break,
            // Concurrent CREATE DATABASE from template1 can collide; it clears up at once.
            Err(e) if attempt < 10 => {
                attempt += 1;
                eprintln!("CREATE DATABASE {name} failed ({e}); retrying");
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            Err(e) => panic!("cannot create test database {name} on {admin}: {e}"),
        }
    }
    let _ = conn.close().await;
    with_database(&admin, &name)
}

pub(crate) async fn connect_admin(admin: &str) -> sqlx::PgConnection {
    use sqlx::Connection;
    let mut last = None;
    for _ in 0..5 {
        match sqlx::PgConnection::connect(admin).await {
            Ok(c) => return c,
            Err(e) => {
                last = Some(e);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    panic!(
        "cannot connect to the test Postgres at {admin}: {} \
         (run the suite with scripts/test, or set BOARDROOM_TEST_DATABASE_URL)",
        last.map(|e| e.to_string()).unwrap_or_default()
    )
}

/// Drops `br_t_*` databases from earlier runs: UUIDv7 names carry their creation time. Only
/// ones older than 2 minutes (a test connects to its database within seconds of making it),
/// and never with force, so a database some test still uses (its DROP fails while connected)
/// is left alone.
fn spawn_sweep(admin: String) {
    std::thread::spawn(move || {
        if let Ok(entries) = std::fs::read_dir(log_dir()) {
            let day = Duration::from_secs(24 * 3600);
            for e in entries.flatten() {
                let old = e
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > day);
                if old {
                    let _ = std::fs::remove_file(e.path());
                }
            }
        }
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use sqlx::Connection;
            let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await else {
                return;
            };
            let names: Vec<(String,)> =
                sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'br\\_t\\_%'")
                    .fetch_all(&mut conn)
                    .await
                    .unwrap_or_default();
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_secs();
            for (name,) in names {
                let Ok(id) = Uuid::parse_str(&name["br_t_".len()..]) else {
                    continue;
                };
                let Some(ts) = id.get_timestamp() else {
                    continue;
                };
                let (secs, _) = ts.to_unix();
                if now.saturating_sub(secs) > 120 {
                    let _ = sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                        .execute(&mut conn)
                        .await;
                }
            }
        });
    });
}

/// Runs one SQL query on a test database and returns the first column of the first row as
/// i64 (for "nothing changed" checks where the API has no listing).
/// Another session of the Postgres database at `db_url` that holds a lock in an open
/// transaction, so that whatever writes what it locks waits (a stalled database) until
/// [`Stall::release`].
pub struct Stall(sqlx::PgConnection);

impl Stall {
    /// Holds `board`'s row: that board's commits wait.
    pub async fn board(db_url: &str, board: Uuid) -> Stall {
        let mut c = Self::begin(db_url).await;
        sqlx::query("SELECT 1 FROM boards WHERE id = $1 FOR UPDATE")
            .bind(board)
            .execute(&mut c)
            .await
            .expect("lock the board's row");
        Stall(c)
    }

    /// Holds the whole boards table: every commit waits.
    pub async fn boards_table(db_url: &str) -> Stall {
        let mut c = Self::begin(db_url).await;
        sqlx::raw_sql("LOCK TABLE boards IN ACCESS EXCLUSIVE MODE")
            .execute(&mut c)
            .await
            .expect("lock the boards table");
        Stall(c)
    }

    async fn begin(db_url: &str) -> sqlx::PgConnection {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(db_url)
            .await
            .expect("connect to Postgres");
        sqlx::raw_sql("BEGIN").execute(&mut c).await.expect("BEGIN");
        c
    }

    /// Ends the transaction: what waited goes on.
    pub async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.0)
            .await
            .expect("ROLLBACK");
    }
}

/// How many `applied_ops` rows the database at `db_url` has for `op_id`: 1 once the op is
/// durably applied, never more.
pub async fn applied_ops(db_url: &str, op_id: Uuid) -> i64 {
    sql_count(
        db_url,
        &format!("SELECT count(*) FROM applied_ops WHERE op_id = '{op_id}'"),
    )
    .await
}

pub async fn sql_count(db_url: &str, sql: &str) -> i64 {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db_url)
        .await
        .expect("connect to test database");
    let (n,): (i64,) = sqlx::query_as(sql).fetch_one(&mut conn).await.expect(sql);
    let _ = conn.close().await;
    n
}
