//! What the write-behind appends: the board event log, the applied ops that make an op
//! idempotent across restarts, and the notifications users read newest first.

use super::*;

#[derive(sqlx::FromRow)]
struct NotificationRow {
    id: Uuid,
    org_id: Uuid,
    user_id: Uuid,
    kind: String,
    board_id: Option<Uuid>,
    card_id: Option<Uuid>,
    title: String,
    body: String,
    actor: Json<serde_json::Value>,
    read_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<NotificationRow> for Notification {
    fn from(r: NotificationRow) -> Self {
        Notification {
            id: r.id,
            org_id: r.org_id,
            user_id: r.user_id,
            kind: r.kind,
            board_id: r.board_id,
            card_id: r.card_id,
            title: r.title,
            body: r.body,
            actor: r.actor.0,
            created_at: r.created_at,
            read: r.read_at.is_some(),
        }
    }
}

const APPLIED_COLS: &str = "op_id, principal_id, epoch, seq, result_id";

macro_rules! events_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn events_after(pool: &Pool, board_id: Uuid, after_seq: i64, limit: i64) -> StoreResult<Vec<EventRecord>> {
                Ok(sqlx::query_as(
                    "SELECT org_id, board_id, epoch, seq, op_id, kind, data, actor, at FROM board_events \
                     WHERE board_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(board_id)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?)
            }

            pub async fn applied_op(pool: &Pool, board_id: Uuid, op_id: Uuid) -> StoreResult<Option<AppliedOp>> {
                let sql = format!("SELECT {APPLIED_COLS} FROM applied_ops WHERE board_id = $1 AND op_id = $2");
                Ok(sqlx::query_as(&sql).bind(board_id).bind(op_id).fetch_optional(pool).await?)
            }

            pub async fn recent_applied_ops(pool: &Pool, board_id: Uuid, limit: i64) -> StoreResult<Vec<AppliedOp>> {
                let sql = format!("SELECT {APPLIED_COLS} FROM applied_ops WHERE board_id = $1 ORDER BY seq DESC LIMIT $2");
                Ok(sqlx::query_as(&sql).bind(board_id).bind(limit).fetch_all(pool).await?)
            }

            pub async fn list_notifications(
                pool: &Pool,
                user_id: Uuid,
                unread_only: bool,
                before: Option<(DateTime<Utc>, Uuid)>,
                limit: i64,
            ) -> StoreResult<Vec<Notification>> {
                let filter = if unread_only { "AND read_at IS NULL" } else { "" };
                // Both stores encode a bound time the way they stored it, so the comparison
                // orders as `ORDER BY` does.
                let page = if before.is_some() { "AND (created_at < $3 OR (created_at = $3 AND id < $4))" } else { "" };
                let (at, id) = before.unzip();
                let rows: Vec<NotificationRow> = sqlx::query_as(&format!(
                    "SELECT id, org_id, user_id, kind, board_id, card_id, title, body, actor, read_at, created_at \
                     FROM notifications WHERE user_id = $1 {filter} {page} ORDER BY created_at DESC, id DESC LIMIT $2"
                ))
                .bind(user_id)
                .bind(limit)
                .bind(at)
                .bind(id)
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(Notification::from).collect())
            }

            pub async fn count_notifications(pool: &Pool, user_id: Uuid, unread_only: bool) -> StoreResult<i64> {
                let filter = if unread_only { "AND read_at IS NULL" } else { "" };
                let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = $1 {filter}"))
                    .bind(user_id)
                    .fetch_one(pool)
                    .await?;
                Ok(n)
            }

            pub async fn unread_count(pool: &Pool, user_id: Uuid) -> StoreResult<i64> {
                let (n,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
                        .bind(user_id)
                        .fetch_one(pool)
                        .await?;
                Ok(n)
            }

            pub async fn mark_read(pool: &Pool, user_id: Uuid, ids: Option<&[Uuid]>, at: DateTime<Utc>) -> StoreResult<i64> {
                match ids {
                    None => {
                        sqlx::query("UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL")
                            .bind(user_id)
                            .bind(at)
                            .execute(pool)
                            .await?;
                    }
                    Some([]) => {}
                    Some(ids) => {
                        // One statement whatever the count (callers cap it): `IN ($3, $4, …)`.
                        let list: Vec<String> = (0..ids.len()).map(|i| format!("${}", i + 3)).collect();
                        let sql = format!(
                            "UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL AND id IN ({})",
                            list.join(", ")
                        );
                        let mut q = sqlx::query(&sql).bind(user_id).bind(at);
                        for id in ids {
                            q = q.bind(id);
                        }
                        q.execute(pool).await?;
                    }
                }
                unread_count(pool, user_id).await
            }
        }
    };
}

events_sql!(pg, sqlx::Postgres);
events_sql!(sqlite, sqlx::Sqlite);
