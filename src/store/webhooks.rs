//! Outbound webhooks in the store: endpoints, per-(webhook, board) cursors over the committed
//! `board_events` (the outbox), deliveries, and the dispatcher's lease. Kept apart from
//! `sql.rs` behind its own trait; `Store::webhooks` hands it out.

use super::sql::{now, PgStore, SqliteStore};
use super::{new_id, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

/// A registered endpoint. `secret` is the signing secret (the server must sign with it, so
/// it is kept as is); it leaves the server only in the answer to creation and rotation.
/// Read straight from a row (its filters as JSON).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Webhook {
    pub id: Uuid,
    pub org_id: Uuid,
    pub url: String,
    pub description: String,
    #[sqlx(json(nullable))]
    pub event_types: Option<Vec<String>>,
    #[sqlx(json(nullable))]
    pub boards: Option<Vec<Uuid>>,
    pub active: bool,
    pub secret: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A change to an endpoint; `None` leaves a field as it is (`Some(None)`: every kind/board).
#[derive(Debug, Clone, Default)]
pub struct WebhookPatch {
    pub url: Option<String>,
    pub description: Option<String>,
    pub event_types: Option<Option<Vec<String>>>,
    pub boards: Option<Option<Vec<Uuid>>>,
    pub active: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    Pending,
    Delivered,
    /// Gave up after the last attempt (a manual redeliver makes it pending again).
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "pending" => Ok(DeliveryStatus::Pending),
            "delivered" => Ok(DeliveryStatus::Delivered),
            "failed" => Ok(DeliveryStatus::Failed),
            other => Err(StoreError::Corrupt(format!("delivery status {other:?}"))),
        }
    }
}

impl TryFrom<String> for DeliveryStatus {
    type Error = StoreError;
    fn try_from(s: String) -> StoreResult<Self> {
        DeliveryStatus::parse(&s)
    }
}

/// One event (or test event) to send to one webhook, with the outcome of its latest attempt.
/// Read straight from a row (the status by its name).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Delivery {
    pub id: Uuid,
    pub org_id: Uuid,
    pub webhook_id: Uuid,
    pub board_id: Option<Uuid>,
    pub seq: Option<i64>,
    pub event_type: String,
    /// The exact body sent.
    pub payload: String,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub response_code: Option<i64>,
    pub latency_ms: Option<i64>,
    pub error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A delivery to make, as the dispatcher enqueues it.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: Uuid,
    pub board_id: Option<Uuid>,
    pub seq: Option<i64>,
    pub event_type: String,
    pub payload: String,
}

/// The outcome of one attempt.
#[derive(Debug, Clone)]
pub struct AttemptOutcome {
    pub status: DeliveryStatus,
    pub next_attempt_ms: i64,
    pub response_code: Option<i64>,
    pub latency_ms: i64,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
}

/// A due delivery with what sending it needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueDelivery {
    #[sqlx(flatten)]
    pub delivery: Delivery,
    pub url: String,
    pub secret: String,
}

/// A board with events a webhook has not read yet.
#[derive(Debug, Clone, Copy)]
pub struct BoardBehind {
    pub board_id: Uuid,
    pub cursor: i64,
}

#[async_trait]
pub trait WebhookStore: Send + Sync {
    async fn create_webhook(&self, w: &Webhook) -> StoreResult<()>;
    async fn list_webhooks(&self, org_id: Uuid) -> StoreResult<Vec<Webhook>>;
    async fn get_webhook(&self, org_id: Uuid, id: Uuid) -> StoreResult<Option<Webhook>>;
    /// Changes an endpoint. One turned active again reads on from the boards' current last
    /// events: what happened while it was inactive is not sent (as for a new endpoint).
    async fn update_webhook(
        &self,
        org_id: Uuid,
        id: Uuid,
        patch: WebhookPatch,
    ) -> StoreResult<Option<Webhook>>;
    async fn set_webhook_secret(&self, org_id: Uuid, id: Uuid, secret: &str) -> StoreResult<bool>;
    /// Deletes the endpoint with its cursors and deliveries.
    async fn delete_webhook(&self, org_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// Every active endpoint of every org (the dispatcher's work list).
    async fn active_webhooks(&self) -> StoreResult<Vec<Webhook>>;
    /// The org's boards whose committed events go past this webhook's cursor.
    async fn boards_behind(&self, webhook: &Webhook) -> StoreResult<Vec<BoardBehind>>;
    /// Inserts deliveries (a delivery already made for the same (webhook, board, seq) is
    /// kept) and moves the cursor, in one transaction: the cursor never passes an event
    /// whose delivery is not stored.
    async fn enqueue(
        &self,
        webhook: &Webhook,
        board_id: Option<Uuid>,
        new_cursor: Option<i64>,
        deliveries: &[NewDelivery],
        now_ms: i64,
    ) -> StoreResult<()>;
    /// Pending deliveries due at `now_ms`, each the oldest pending one of its
    /// (webhook, board): a later event of a board waits for the earlier ones.
    async fn due_deliveries(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<DueDelivery>>;
    async fn record_attempt(&self, id: Uuid, outcome: &AttemptOutcome) -> StoreResult<()>;
    async fn list_deliveries(
        &self,
        org_id: Uuid,
        webhook_id: Uuid,
        limit: i64,
    ) -> StoreResult<Vec<Delivery>>;
    async fn get_delivery(
        &self,
        org_id: Uuid,
        webhook_id: Uuid,
        id: Uuid,
    ) -> StoreResult<Option<Delivery>>;
    /// Makes a delivery pending again, due at once, with a fresh attempt budget.
    async fn redeliver(
        &self,
        org_id: Uuid,
        webhook_id: Uuid,
        id: Uuid,
        now_ms: i64,
    ) -> StoreResult<bool>;
    /// Deletes delivered and given-up deliveries made before `before` (the log's retention);
    /// returns how many.
    async fn prune_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// Takes or renews the dispatcher lease for `holder` until `until_ms`; false when another
    /// holder's lease runs past `now_ms`.
    async fn claim_dispatch_lease(
        &self,
        holder: &str,
        now_ms: i64,
        until_ms: i64,
    ) -> StoreResult<bool>;
}

const WEBHOOK_COLS: &str =
    "id, org_id, url, description, event_types, boards, active, secret, created_by, created_at, updated_at";

const DELIVERY_COLS: &str = "d.id, d.org_id, d.webhook_id, d.board_id, d.seq, d.event_type, d.payload, d.status, \
     d.attempts, d.next_attempt_ms, d.last_attempt_at, d.response_code, d.latency_ms, d.error, d.created_at, d.delivered_at";

/// A fresh id for a delivery row.
pub fn new_delivery_id() -> Uuid {
    new_id()
}

macro_rules! webhook_store {
    ($Store:ident, $m:ident) => {
        #[async_trait]
        impl WebhookStore for $Store {
            async fn create_webhook(&self, w: &Webhook) -> StoreResult<()> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO webhooks (id, org_id, url, description, event_types, boards, active, secret, created_by, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10)",
                )
                .bind(w.id)
                .bind(w.org_id)
                .bind(&w.url)
                .bind(&w.description)
                .bind(w.event_types.as_ref().map(Json))
                .bind(w.boards.as_ref().map(Json))
                .bind(w.active)
                .bind(&w.secret)
                .bind(w.created_by)
                .bind(w.created_at)
                .execute(&mut *tx)
                .await?;
                // The webhook reports what happens from now on: the org's existing boards
                // are read from their last committed event (boards made later from seq 0).
                sqlx::query(
                    "INSERT INTO webhook_cursors (webhook_id, board_id, last_seq) \
                     SELECT $1, b.id, COALESCE((SELECT MAX(e.seq) FROM board_events e WHERE e.board_id = b.id), 0) \
                     FROM boards b WHERE b.org_id = $2",
                )
                .bind(w.id)
                .bind(w.org_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn list_webhooks(&self, org_id: Uuid) -> StoreResult<Vec<Webhook>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {WEBHOOK_COLS} FROM webhooks WHERE org_id = $1 ORDER BY created_at, id"
                ))
                .bind(org_id)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn get_webhook(&self, org_id: Uuid, id: Uuid) -> StoreResult<Option<Webhook>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {WEBHOOK_COLS} FROM webhooks WHERE org_id = $1 AND id = $2"
                ))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn update_webhook(
                &self,
                org_id: Uuid,
                id: Uuid,
                patch: WebhookPatch,
            ) -> StoreResult<Option<Webhook>> {
                let Some(mut w) = self.get_webhook(org_id, id).await? else {
                    return Ok(None);
                };
                let reactivated = !w.active && patch.active == Some(true);
                apply_patch!(w, patch; url, description, event_types, boards, active);
                w.updated_at = now();
                let mut tx = self.pool.begin().await?;
                let done = sqlx::query(
                    "UPDATE webhooks SET url = $3, description = $4, event_types = $5, boards = $6, active = $7, updated_at = $8 \
                     WHERE org_id = $1 AND id = $2",
                )
                .bind(org_id)
                .bind(id)
                .bind(&w.url)
                .bind(&w.description)
                .bind(w.event_types.as_ref().map(Json))
                .bind(w.boards.as_ref().map(Json))
                .bind(w.active)
                .bind(w.updated_at)
                .execute(&mut *tx)
                .await?;
                if reactivated {
                    sqlx::query(
                        "INSERT INTO webhook_cursors (webhook_id, board_id, last_seq) \
                         SELECT $1, b.id, COALESCE((SELECT MAX(e.seq) FROM board_events e WHERE e.board_id = b.id), 0) \
                         FROM boards b WHERE b.org_id = $2 \
                         ON CONFLICT (webhook_id, board_id) DO UPDATE SET last_seq = excluded.last_seq",
                    )
                    .bind(id)
                    .bind(org_id)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok((done.rows_affected() > 0).then_some(w))
            }

            async fn set_webhook_secret(&self, org_id: Uuid, id: Uuid, secret: &str) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE webhooks SET secret = $3, updated_at = $4 WHERE org_id = $1 AND id = $2",
                )
                .bind(org_id)
                .bind(id)
                .bind(secret)
                .bind(now())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn delete_webhook(&self, org_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let mut tx = self.pool.begin().await?;
                let found: Option<(Uuid,)> =
                    sqlx::query_as("SELECT id FROM webhooks WHERE org_id = $1 AND id = $2")
                        .bind(org_id)
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                if found.is_none() {
                    return Ok(false);
                }
                sqlx::query("DELETE FROM webhook_deliveries WHERE webhook_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM webhook_cursors WHERE webhook_id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("DELETE FROM webhooks WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(true)
            }

            async fn active_webhooks(&self) -> StoreResult<Vec<Webhook>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {WEBHOOK_COLS} FROM webhooks WHERE active ORDER BY id"
                ))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn boards_behind(&self, webhook: &Webhook) -> StoreResult<Vec<BoardBehind>> {
                // boards.last_seq is raised in the same commit as the events it counts.
                let rows: Vec<(Uuid, i64)> = sqlx::query_as(
                    "SELECT b.id, COALESCE(c.last_seq, 0) FROM boards b \
                     LEFT JOIN webhook_cursors c ON c.webhook_id = $1 AND c.board_id = b.id \
                     WHERE b.org_id = $2 AND b.last_seq > COALESCE(c.last_seq, 0) ORDER BY b.id",
                )
                .bind(webhook.id)
                .bind(webhook.org_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(board_id, cursor)| BoardBehind { board_id, cursor })
                    .collect())
            }

            async fn enqueue(
                &self,
                webhook: &Webhook,
                board_id: Option<Uuid>,
                new_cursor: Option<i64>,
                deliveries: &[NewDelivery],
                now_ms: i64,
            ) -> StoreResult<()> {
                let t = now();
                let mut tx = self.pool.begin().await?;
                use crate::store::sql::insert::$m::insert_rows;
                insert_rows(
                    &mut tx,
                    "INSERT INTO webhook_deliveries (id, org_id, webhook_id, board_id, seq, event_type, \
                     payload, status, attempts, next_attempt_ms, created_at) ",
                    deliveries,
                    " ON CONFLICT (webhook_id, board_id, seq) DO NOTHING",
                    |mut b, d| {
                        b.push_bind(d.id)
                            .push_bind(webhook.org_id)
                            .push_bind(webhook.id)
                            .push_bind(d.board_id)
                            .push_bind(d.seq)
                            .push_bind(&d.event_type)
                            .push_bind(&d.payload)
                            .push("'pending'")
                            .push("0")
                            .push_bind(now_ms)
                            .push_bind(t);
                    },
                )
                .await?;
                if let (Some(board_id), Some(seq)) = (board_id, new_cursor) {
                    sqlx::query(
                        "INSERT INTO webhook_cursors (webhook_id, board_id, last_seq) VALUES ($1, $2, $3) \
                         ON CONFLICT (webhook_id, board_id) DO UPDATE SET last_seq = excluded.last_seq \
                         WHERE excluded.last_seq > webhook_cursors.last_seq",
                    )
                    .bind(webhook.id)
                    .bind(board_id)
                    .bind(seq)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn due_deliveries(&self, now_ms: i64, limit: i64) -> StoreResult<Vec<DueDelivery>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {DELIVERY_COLS}, w.url, w.secret FROM webhook_deliveries d \
                     JOIN webhooks w ON w.id = d.webhook_id \
                     WHERE d.status = 'pending' AND d.next_attempt_ms <= $1 AND w.active \
                     AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id \
                       AND p.board_id = d.board_id AND p.status = 'pending' AND p.seq < d.seq) \
                     ORDER BY d.next_attempt_ms, d.id LIMIT $2"
                ))
                .bind(now_ms)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn record_attempt(&self, id: Uuid, o: &AttemptOutcome) -> StoreResult<()> {
                let delivered = (o.status == DeliveryStatus::Delivered).then_some(o.at);
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = $2, attempts = attempts + 1, next_attempt_ms = $3, \
                     last_attempt_at = $4, response_code = $5, latency_ms = $6, error = $7, \
                     delivered_at = COALESCE($8, delivered_at) WHERE id = $1",
                )
                .bind(id)
                .bind(o.status.as_str())
                .bind(o.next_attempt_ms)
                .bind(o.at)
                .bind(o.response_code)
                .bind(o.latency_ms)
                .bind(&o.error)
                .bind(delivered)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_deliveries(
                &self,
                org_id: Uuid,
                webhook_id: Uuid,
                limit: i64,
            ) -> StoreResult<Vec<Delivery>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {DELIVERY_COLS} FROM webhook_deliveries d WHERE d.org_id = $1 AND d.webhook_id = $2 \
                     ORDER BY d.created_at DESC, d.id DESC LIMIT $3"
                ))
                .bind(org_id)
                .bind(webhook_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn get_delivery(
                &self,
                org_id: Uuid,
                webhook_id: Uuid,
                id: Uuid,
            ) -> StoreResult<Option<Delivery>> {
                Ok(sqlx::query_as(&format!(
                    "SELECT {DELIVERY_COLS} FROM webhook_deliveries d WHERE d.org_id = $1 AND d.webhook_id = $2 AND d.id = $3"
                ))
                .bind(org_id)
                .bind(webhook_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn redeliver(&self, org_id: Uuid, webhook_id: Uuid, id: Uuid, now_ms: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_ms = $4 \
                     WHERE org_id = $1 AND webhook_id = $2 AND id = $3",
                )
                .bind(org_id)
                .bind(webhook_id)
                .bind(id)
                .bind(now_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn prune_deliveries(&self, before: DateTime<Utc>) -> StoreResult<u64> {
                let done = sqlx::query(
                    "DELETE FROM webhook_deliveries WHERE status <> 'pending' AND created_at < $1",
                )
                .bind(before)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn claim_dispatch_lease(&self, holder: &str, now_ms: i64, until_ms: i64) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE webhook_lease SET holder = $1, until_ms = $3 \
                     WHERE name = 'dispatcher' AND (holder = $1 OR until_ms < $2)",
                )
                .bind(holder)
                .bind(now_ms)
                .bind(until_ms)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }
        }
    };
}

webhook_store!(PgStore, pg);
webhook_store!(SqliteStore, sqlite);
