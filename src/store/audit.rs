//! The audit log (issue 13.2): changes that are not board ops go into `audit_log`, one row
//! each; board ops are read from `board_events`, where the write-behind already keeps them
//! (actor, kind, data, at), so an op costs no second write. [`AuditStore::audit_page`] merges
//! the two into one newest-first listing with a cursor that stays stable while rows are added.

use super::sql::{PgStore, SqliteStore};
use super::{new_id, EventRecord, StoreError, StoreResult};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

/// Who made a change: a user, an API key, or nobody known (a failed login).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditActor {
    /// `user`, `api_key` or `anonymous`.
    pub kind: String,
    pub id: Option<Uuid>,
    pub name: String,
}

/// One change to record. `old`/`new` hold what changed, before and after (absent on a side
/// that has no value, e.g. `old` of a creation). Listed as it was recorded (the org aside,
/// which the listing is of).
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    #[serde(skip)]
    pub org_id: Uuid,
    /// Dotted, e.g. `member.role_changed`, `api_key.revoked`, `login.failed`.
    pub kind: String,
    pub actor: AuditActor,
    pub ip: Option<String>,
    pub board_id: Option<Uuid>,
    pub target_id: Option<Uuid>,
    pub old: Option<Value>,
    pub new: Option<Value>,
}

/// Where a listed row comes from; part of the sort order (at the same instant, `audit_log`
/// rows come before board ops, newest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditSource {
    BoardOp = 0,
    Log = 1,
}

/// A position in the newest-first order: (at, source, id, seq). For `audit_log` rows `id` is
/// the row's id (seq 0); for board ops `id` is the board and `seq` the event's seq.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditCursor {
    pub at: DateTime<Utc>,
    pub source: AuditSource,
    pub id: Uuid,
    pub seq: i64,
}

impl AuditCursor {
    fn sort_key(&self) -> (DateTime<Utc>, AuditSource, Uuid, i64) {
        (self.at, self.source, self.id, self.seq)
    }

    /// Opaque to clients: `<source>.<unix micros>.<uuid>.<seq>`.
    pub fn encode(&self) -> String {
        let src = match self.source {
            AuditSource::Log => "l",
            AuditSource::BoardOp => "e",
        };
        format!(
            "{src}.{}.{}.{}",
            self.at.timestamp_micros(),
            self.id.simple(),
            self.seq
        )
    }

    pub fn decode(s: &str) -> Option<AuditCursor> {
        let mut parts = s.split('.');
        let source = match parts.next()? {
            "l" => AuditSource::Log,
            "e" => AuditSource::BoardOp,
            _ => return None,
        };
        let at = DateTime::from_timestamp_micros(parts.next()?.parse().ok()?)?;
        let id = Uuid::try_parse(parts.next()?).ok()?;
        let seq = parts.next()?.parse().ok()?;
        if parts.next().is_some() {
            return None;
        }
        Some(AuditCursor {
            at,
            source,
            id,
            seq,
        })
    }
}

/// Filters of one page; every one optional but the org and the limit.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub org_id: Uuid,
    pub actor: Option<Uuid>,
    pub kind: Option<String>,
    pub board: Option<Uuid>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: i64,
    /// Rows strictly after this position (in newest-first order).
    pub after: Option<AuditCursor>,
}

/// One row of the listing, from either source: a recorded entry, or a board op shown as one.
#[derive(Debug, Clone, Serialize)]
pub struct AuditRecord {
    #[serde(skip)]
    pub cursor: AuditCursor,
    pub source: AuditSource,
    pub at: DateTime<Utc>,
    #[serde(flatten)]
    pub entry: AuditEntry,
}

#[async_trait]
pub trait AuditStore {
    /// Appends one row. Called right after the change it records has committed (the store
    /// methods of members, keys and links commit on their own).
    async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()>;
    /// Renames the org and records `entry` (its `old`/`new` set here to the names) in the same
    /// transaction. None when there is no such org.
    async fn rename_org(
        &self,
        org_id: Uuid,
        name: &str,
        entry: AuditEntry,
    ) -> StoreResult<Option<String>>;
    /// One page, newest first, at most `q.limit` rows.
    async fn audit_page(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>>;
    /// A card's events (those whose data names it), oldest first, at most `limit`.
    async fn card_events(
        &self,
        board_id: Uuid,
        card_id: Uuid,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>>;
}

#[derive(sqlx::FromRow)]
struct LogRow {
    id: Uuid,
    org_id: Uuid,
    at: DateTime<Utc>,
    kind: String,
    actor_kind: String,
    actor_id: Option<Uuid>,
    actor_name: String,
    ip: Option<String>,
    board_id: Option<Uuid>,
    target_id: Option<Uuid>,
    old_value: Option<Json<Value>>,
    new_value: Option<Json<Value>>,
}

impl From<LogRow> for AuditRecord {
    fn from(r: LogRow) -> Self {
        AuditRecord {
            cursor: AuditCursor {
                at: r.at,
                source: AuditSource::Log,
                id: r.id,
                seq: 0,
            },
            source: AuditSource::Log,
            at: r.at,
            entry: AuditEntry {
                org_id: r.org_id,
                kind: r.kind,
                actor: AuditActor {
                    kind: r.actor_kind,
                    id: r.actor_id,
                    name: r.actor_name,
                },
                ip: r.ip,
                board_id: r.board_id,
                target_id: r.target_id,
                old: r.old_value.map(|j| j.0),
                new: r.new_value.map(|j| j.0),
            },
        }
    }
}

/// A board op of the log as a row of the listing.
fn op_record(e: EventRecord) -> AuditRecord {
    let a = &e.actor.value();
    let actor = AuditActor {
        kind: a["kind"].as_str().unwrap_or("user").to_string(),
        id: a["id"].as_str().and_then(|s| Uuid::try_parse(s).ok()),
        name: a["name"].as_str().unwrap_or_default().to_string(),
    };
    // The object the op is about: its card, else its column.
    let d = e.data.value();
    let target = [
        &d["card"]["id"],
        &d["card_id"],
        &d["column"]["id"],
        &d["column_id"],
    ]
    .into_iter()
    .find_map(|v| v.as_str().and_then(|s| Uuid::try_parse(s).ok()));
    AuditRecord {
        cursor: AuditCursor {
            at: e.at,
            source: AuditSource::BoardOp,
            id: e.board_id,
            seq: e.seq,
        },
        source: AuditSource::BoardOp,
        at: e.at,
        entry: AuditEntry {
            org_id: e.org_id,
            kind: e.kind,
            actor,
            ip: e.ip,
            board_id: Some(e.board_id),
            target_id: target,
            old: None,
            new: Some(d),
        },
    }
}

/// Merges the two newest-first lists and keeps the first `limit`.
fn merge(mut a: Vec<AuditRecord>, b: Vec<AuditRecord>, limit: i64) -> Vec<AuditRecord> {
    a.extend(b);
    a.sort_by_key(|x| std::cmp::Reverse(x.cursor.sort_key()));
    a.truncate(usize::try_from(limit).unwrap_or(0));
    a
}

/// `$actor_id`/`$card_match` are the backend's JSON accessors (`->>` on Postgres,
/// `json_extract` on SQLite); the rest of the SQL is shared.
macro_rules! audit_store {
    ($Store:ident, $Db:ty, $actor_id:literal, $card_match:literal) => {
        impl $Store {
            async fn insert_audit_on<'c, E>(ex: E, e: &AuditEntry) -> StoreResult<()>
            where
                E: sqlx::Executor<'c, Database = $Db>,
            {
                sqlx::query(
                    "INSERT INTO audit_log (id, org_id, at, kind, actor_kind, actor_id, actor_name, \
                     ip, board_id, target_id, old_value, new_value) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
                )
                .bind(new_id())
                .bind(e.org_id)
                .bind(super::sql::now())
                .bind(&e.kind)
                .bind(&e.actor.kind)
                .bind(e.actor.id)
                .bind(&e.actor.name)
                .bind(&e.ip)
                .bind(e.board_id)
                .bind(e.target_id)
                .bind(e.old.as_ref().map(Json))
                .bind(e.new.as_ref().map(Json))
                .execute(ex)
                .await?;
                Ok(())
            }
        }

        #[async_trait]
        impl AuditStore for $Store {
            async fn insert_audit(&self, e: &AuditEntry) -> StoreResult<()> {
                Self::insert_audit_on(&self.pool, e).await
            }

            async fn rename_org(
                &self,
                org_id: Uuid,
                name: &str,
                mut entry: AuditEntry,
            ) -> StoreResult<Option<String>> {
                let mut tx = self.pool.begin().await?;
                let old: Option<(String,)> =
                    sqlx::query_as("SELECT name FROM organizations WHERE id = $1")
                        .bind(org_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let Some((old,)) = old else {
                    return Ok(None);
                };
                sqlx::query("UPDATE organizations SET name = $2, updated_at = $3 WHERE id = $1")
                    .bind(org_id)
                    .bind(name)
                    .bind(super::sql::now())
                    .execute(&mut *tx)
                    .await?;
                entry.old = Some(serde_json::json!({ "name": old }));
                entry.new = Some(serde_json::json!({ "name": name }));
                Self::insert_audit_on(&mut *tx, &entry).await?;
                tx.commit().await?;
                Ok(Some(old))
            }

            async fn audit_page(&self, q: &AuditQuery) -> StoreResult<Vec<AuditRecord>> {
                use sqlx::QueryBuilder;
                let mut log = QueryBuilder::<$Db>::new(
                    "SELECT id, org_id, at, kind, actor_kind, actor_id, actor_name, ip, board_id, \
                     target_id, old_value, new_value FROM audit_log WHERE org_id = ",
                );
                log.push_bind(q.org_id);
                let mut ops = QueryBuilder::<$Db>::new(
                    "SELECT org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip \
                     FROM board_events WHERE org_id = ",
                );
                ops.push_bind(q.org_id);
                if let Some(a) = q.actor {
                    log.push(" AND actor_id = ").push_bind(a);
                    ops.push(concat!(" AND ", $actor_id, " = ")).push_bind(a.to_string());
                }
                if let Some(k) = &q.kind {
                    log.push(" AND kind = ").push_bind(k.clone());
                    ops.push(" AND kind = ").push_bind(k.clone());
                }
                if let Some(b) = q.board {
                    log.push(" AND board_id = ").push_bind(b);
                    ops.push(" AND board_id = ").push_bind(b);
                }
                if let Some(t) = q.since {
                    log.push(" AND at >= ").push_bind(t);
                    ops.push(" AND at >= ").push_bind(t);
                }
                if let Some(t) = q.until {
                    log.push(" AND at < ").push_bind(t);
                    ops.push(" AND at < ").push_bind(t);
                }
                // Strictly after the cursor in (at, source, id, seq) descending order.
                if let Some(c) = q.after {
                    match c.source {
                        AuditSource::Log => {
                            log.push(" AND (at < ").push_bind(c.at);
                            log.push(" OR (at = ").push_bind(c.at);
                            log.push(" AND id < ").push_bind(c.id).push("))");
                            ops.push(" AND at <= ").push_bind(c.at);
                        }
                        AuditSource::BoardOp => {
                            log.push(" AND at < ").push_bind(c.at);
                            ops.push(" AND (at < ").push_bind(c.at);
                            ops.push(" OR (at = ").push_bind(c.at);
                            ops.push(" AND (board_id < ").push_bind(c.id);
                            ops.push(" OR (board_id = ").push_bind(c.id);
                            ops.push(" AND seq < ").push_bind(c.seq).push("))))");
                        }
                    }
                }
                log.push(" ORDER BY at DESC, id DESC LIMIT ").push_bind(q.limit);
                ops.push(" ORDER BY at DESC, board_id DESC, seq DESC LIMIT ").push_bind(q.limit);
                let logs: Vec<LogRow> = log.build_query_as().fetch_all(&self.pool).await?;
                let evs: Vec<EventRecord> = ops.build_query_as().fetch_all(&self.pool).await?;
                Ok(merge(
                    logs.into_iter().map(AuditRecord::from).collect(),
                    evs.into_iter().map(op_record).collect(),
                    q.limit,
                ))
            }

            async fn card_events(
                &self,
                board_id: Uuid,
                card_id: Uuid,
                limit: i64,
            ) -> StoreResult<Vec<EventRecord>> {
                Ok(sqlx::query_as(concat!(
                    "SELECT org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip \
                     FROM board_events WHERE board_id = $1 AND ",
                    $card_match,
                    " ORDER BY seq LIMIT $3"
                ))
                .bind(board_id)
                .bind(card_id.to_string())
                .bind(limit)
                .fetch_all(&self.pool)
                .await
                .map_err(StoreError::Database)?)
            }
        }
    };
}

audit_store!(
    PgStore,
    sqlx::Postgres,
    "actor->>'id'",
    "(data->'card'->>'id' = $2 OR data->>'card_id' = $2)"
);
audit_store!(
    SqliteStore,
    sqlx::Sqlite,
    "json_extract(actor, '$.id')",
    "(json_extract(data, '$.card.id') = $2 OR json_extract(data, '$.card_id') = $2)"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursor_round_trips_and_refuses_garbage() {
        let c = AuditCursor {
            at: DateTime::from_timestamp_micros(1_700_000_000_123_456).unwrap(),
            source: AuditSource::BoardOp,
            id: Uuid::now_v7(),
            seq: 42,
        };
        assert_eq!(AuditCursor::decode(&c.encode()), Some(c));
        for bad in [
            "",
            "x.1.2.3",
            "l.1",
            "l.1.nope.0",
            "l.1.00000000000000000000000000000000.0.9",
        ] {
            assert_eq!(AuditCursor::decode(bad), None, "{bad}");
        }
    }
}
