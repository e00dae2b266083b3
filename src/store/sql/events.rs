//! The board event log and the applied ops that make an op idempotent across restarts.

use super::*;

/// A row of `board_events`, for the log and for the audit listing (`audit.rs`). `ip` is only
/// read where it may be shown (the audit log); elsewhere the query leaves it out.
#[derive(sqlx::FromRow)]
pub(in crate::store) struct EventRow {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub epoch: i64,
    pub seq: i64,
    pub op_id: Uuid,
    pub kind: String,
    pub data: Json<serde_json::Value>,
    pub actor: Json<serde_json::Value>,
    pub at: DateTime<Utc>,
    #[sqlx(default)]
    pub ip: Option<String>,
}

impl From<EventRow> for EventRecord {
    fn from(r: EventRow) -> Self {
        EventRecord {
            org_id: r.org_id,
            board_id: r.board_id,
            epoch: r.epoch,
            seq: r.seq,
            op_id: r.op_id,
            kind: r.kind,
            data: r.data.0,
            actor: r.actor.0,
            at: r.at,
            ip: r.ip,
        }
    }
}

macro_rules! events_sql {
    ($m:ident, $Db:ty) => {
        pub(super) mod $m {
            use super::*;
            type Pool = sqlx::Pool<$Db>;

            pub async fn events_after(pool: &Pool, board_id: Uuid, after_seq: i64, limit: i64) -> StoreResult<Vec<EventRecord>> {
                let rows: Vec<EventRow> = sqlx::query_as(
                    "SELECT org_id, board_id, epoch, seq, op_id, kind, data, actor, at FROM board_events \
                     WHERE board_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(board_id)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(EventRecord::from).collect())
            }

            pub async fn applied_op(pool: &Pool, board_id: Uuid, op_id: Uuid) -> StoreResult<Option<AppliedOp>> {
                let row: Option<(Uuid, Option<Uuid>, i64, i64, Option<Uuid>)> = sqlx::query_as(
                    "SELECT op_id, principal_id, epoch, seq, result_id FROM applied_ops WHERE board_id = $1 AND op_id = $2",
                )
                .bind(board_id)
                .bind(op_id)
                .fetch_optional(pool)
                .await?;
                Ok(row.map(|(op_id, principal_id, epoch, seq, result_id)| AppliedOp { op_id, principal_id, epoch, seq, result_id }))
            }

            pub async fn recent_applied_ops(pool: &Pool, board_id: Uuid, limit: i64) -> StoreResult<Vec<AppliedOp>> {
                let rows: Vec<(Uuid, Option<Uuid>, i64, i64, Option<Uuid>)> = sqlx::query_as(
                    "SELECT op_id, principal_id, epoch, seq, result_id FROM applied_ops WHERE board_id = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(board_id)
                .bind(limit)
                .fetch_all(pool)
                .await?;
                Ok(rows.into_iter().map(|(op_id, principal_id, epoch, seq, result_id)| AppliedOp { op_id, principal_id, epoch, seq, result_id }).collect())
            }
        }
    };
}

events_sql!(pg, sqlx::Postgres);
events_sql!(sqlite, sqlx::Sqlite);
