//! The SQL behind both stores. Postgres and SQLite accept the same statements here (numbered
//! `$n` parameters, `RETURNING`, `ON CONFLICT`), and sqlx maps the same Rust types onto both
//! (UUID -> `uuid` / 16-byte BLOB, timestamps -> `timestamptz` / RFC 3339 text, JSON ->
//! `jsonb` / text), so one body of code, stamped out by `sql_store!` for each backend, keeps
//! the two from drifting apart.

use super::*;
use chrono::DurationRound;
use sqlx::types::Json;
use std::collections::HashMap;

mod prefs;

pub struct PgStore {
    pub(super) pool: sqlx::PgPool,
}

pub struct SqliteStore {
    pub(super) pool: sqlx::SqlitePool,
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
        let pool = sqlx::postgres::PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(5))
            .connect_with(opts)
            .await?;
        Ok(PgStore { pool })
    }
}

impl SqliteStore {
    pub async fn connect(url: &str, sync: super::SqliteSync) -> StoreResult<Self> {
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
                super::SqliteSync::Full => SqliteSynchronous::Full,
                super::SqliteSync::Normal => SqliteSynchronous::Normal,
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
            .connect_with(opts)
            .await?;
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
            _checkpointer: checkpointer,
        })
    }
}

/// Postgres keeps microseconds; cutting here makes a value read back equal the one written,
/// on both stores.
pub(super) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    t.duration_trunc(chrono::Duration::microseconds(1))
        .unwrap_or(t)
}

fn map_err(e: sqlx::Error, what: &str) -> StoreError {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            StoreError::Conflict(format!("{what} already exists"))
        }
        sqlx::Error::Database(d) if d.is_foreign_key_violation() => {
            StoreError::InvalidReference(format!("{what} refers to something that does not exist"))
        }
        _ => StoreError::Database(e),
    }
}

fn parse_role(s: &str) -> StoreResult<Role> {
    s.parse()
        .map_err(|e: boardroom_protocol::UnknownRole| StoreError::Corrupt(e.to_string()))
}

#[derive(sqlx::FromRow)]
struct OrgRow {
    id: Uuid,
    name: String,
    created_at: DateTime<Utc>,
}

impl From<OrgRow> for Org {
    fn from(r: OrgRow) -> Self {
        Org {
            id: r.id,
            name: r.name,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: Uuid,
    email: String,
    name: String,
    password_hash: String,
    created_at: DateTime<Utc>,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            email: r.email,
            name: r.name,
            password_hash: r.password_hash,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct MemberRow {
    id: Uuid,
    email: String,
    name: String,
    role: String,
    deactivated_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<MemberRow> for Member {
    type Error = StoreError;
    fn try_from(r: MemberRow) -> StoreResult<Self> {
        Ok(Member {
            id: r.id,
            email: r.email,
            name: r.name,
            role: parse_role(&r.role)?,
            active: r.deactivated_at.is_none(),
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct MembershipRow {
    org_id: Uuid,
    org_name: String,
    role: String,
}

#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    email: Option<String>,
    phone: Option<String>,
    address: Option<String>,
    user_id: Option<Uuid>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<CustomerRow> for Customer {
    fn from(r: CustomerRow) -> Self {
        Customer {
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            email: r.email,
            phone: r.phone,
            address: r.address,
            user_id: r.user_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct BoardRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    template: String,
    epoch: i64,
    last_seq: i64,
    archived_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl BoardRow {
    fn into_board(self, columns: Vec<Column>) -> StoreResult<Board> {
        Ok(Board {
            id: self.id,
            org_id: self.org_id,
            name: self.name,
            template: Template::parse(&self.template)
                .ok_or_else(|| StoreError::Corrupt(format!("template {:?}", self.template)))?,
            archived: self.archived_at.is_some(),
            epoch: self.epoch,
            last_seq: self.last_seq,
            created_at: self.created_at,
            columns,
        })
    }
}

#[derive(sqlx::FromRow)]
struct ColumnRow {
    board_id: Uuid,
    id: Uuid,
    name: String,
    position: String,
    is_done: bool,
    color: Option<String>,
}

#[derive(sqlx::FromRow)]
struct CardRow {
    id: Uuid,
    org_id: Uuid,
    board_id: Uuid,
    column_id: Uuid,
    position: String,
    title: String,
    description: String,
    customer_id: Option<Uuid>,
    labels: Json<Vec<String>>,
    due_at: Option<DateTime<Utc>>,
    priority: Option<String>,
    estimate_minutes: Option<i32>,
    version: i64,
    archived: bool,
}

#[derive(sqlx::FromRow)]
struct AssigneeRow {
    card_id: Uuid,
    user_id: Uuid,
}

#[derive(sqlx::FromRow)]
struct ChecklistRow {
    card_id: Uuid,
    id: Uuid,
    title: String,
    done: bool,
    position: String,
}

#[derive(sqlx::FromRow)]
struct CommentRow {
    card_id: Uuid,
    id: Uuid,
    author_id: Option<Uuid>,
    body: String,
    mentions: Json<Vec<Uuid>>,
    created_at: DateTime<Utc>,
}

#[derive(sqlx::FromRow)]
struct CardLocationRow {
    org_id: Uuid,
    board_id: Uuid,
    id: Uuid,
    customer_id: Option<Uuid>,
}

#[derive(sqlx::FromRow)]
struct ApiKeyRow {
    id: Uuid,
    org_id: Uuid,
    name: String,
    role: String,
    prefix: String,
    boards: Option<Json<Vec<Uuid>>>,
    created_by: Uuid,
    expires_at: Option<DateTime<Utc>>,
    last_used_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = StoreError;
    fn try_from(r: ApiKeyRow) -> StoreResult<Self> {
        Ok(ApiKey {
            id: r.id,
            org_id: r.org_id,
            name: r.name,
            role: parse_role(&r.role)?,
            prefix: r.prefix,
            boards: r.boards.map(|j| j.0),
            created_by: r.created_by,
            expires_at: r.expires_at,
            last_used_at: r.last_used_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        })
    }
}

#[derive(sqlx::FromRow)]
struct RefreshRow {
    id: Uuid,
    user_id: Uuid,
    family_id: Uuid,
    expires_at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

#[derive(sqlx::FromRow)]
struct ShareRow {
    id: Uuid,
    org_id: Uuid,
    board_id: Uuid,
    card_id: Uuid,
    created_by: Uuid,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

impl From<ShareRow> for ShareLink {
    fn from(r: ShareRow) -> Self {
        ShareLink {
            id: r.id,
            org_id: r.org_id,
            board_id: r.board_id,
            card_id: r.card_id,
            created_by: r.created_by,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            created_at: r.created_at,
        }
    }
}

#[derive(sqlx::FromRow)]
struct ShareListRow {
    #[sqlx(flatten)]
    link: ShareRow,
    title: String,
}

#[derive(sqlx::FromRow)]
struct EventRow {
    org_id: Uuid,
    board_id: Uuid,
    epoch: i64,
    seq: i64,
    op_id: Uuid,
    kind: String,
    data: Json<serde_json::Value>,
    actor: Json<serde_json::Value>,
    at: DateTime<Utc>,
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
            ip: None,
        }
    }
}

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

/// The entries of one board (and epoch) in a batch, joined in order, so that the rows they
/// touch are coalesced across ops: a card updated by 100 ops of one batch is written once.
/// It borrows from the batch: the event payloads are bound to the statements straight from
/// the journal's entries, never copied (copies were half the flusher's CPU in the profile).
struct Merged<'a> {
    org_id: Uuid,
    board_id: Uuid,
    epoch: i64,
    events: Vec<&'a EventRecord>,
    ops: Vec<&'a AppliedOp>,
    changes: Vec<&'a RowChange>,
    notifications: Vec<&'a Notification>,
}

impl Merged<'_> {
    /// The last change of each row, in the order of their last changes.
    fn last_changes(&self) -> Vec<&RowChange> {
        let mut seen = std::collections::HashSet::new();
        let mut changes: Vec<&RowChange> = Vec::new();
        for ch in self.changes.iter().rev() {
            if seen.insert(ch.key()) {
                changes.push(ch);
            }
        }
        changes.reverse();
        changes
    }
}

fn merge_by_board(commits: &[BoardCommit]) -> Vec<Merged<'_>> {
    let mut out: Vec<Merged<'_>> = Vec::new();
    let mut index: HashMap<(Uuid, i64), usize> = HashMap::new();
    for c in commits {
        let i = *index.entry((c.board_id, c.epoch)).or_insert_with(|| {
            out.push(Merged {
                org_id: c.org_id,
                board_id: c.board_id,
                epoch: c.epoch,
                events: Vec::new(),
                ops: Vec::new(),
                changes: Vec::new(),
                notifications: Vec::new(),
            });
            out.len() - 1
        });
        let m = &mut out[i];
        m.events.extend(c.events.iter());
        m.ops.extend(c.ops.iter());
        m.changes.extend(c.changes.iter());
        m.notifications.extend(c.notifications.iter());
    }
    out
}

fn group_columns(rows: Vec<ColumnRow>) -> HashMap<Uuid, Vec<Column>> {
    let mut by_board: HashMap<Uuid, Vec<Column>> = HashMap::new();
    for r in rows {
        by_board.entry(r.board_id).or_default().push(Column {
            id: r.id,
            name: r.name,
            position: r.position,
            is_done: r.is_done,
            color: r.color,
        });
    }
    by_board
}

const MEMBER_SELECT: &str = "SELECT u.id, u.email, u.name, m.role, m.deactivated_at, m.created_at \
     FROM memberships m JOIN users u ON u.id = m.user_id";
const CUSTOMER_COLS: &str =
    "id, org_id, name, email, phone, address, user_id, created_at, updated_at";
const BOARD_COLS: &str = "id, org_id, name, template, epoch, last_seq, archived_at, created_at";
const API_KEY_COLS: &str = "id, org_id, name, role, prefix, boards, created_by, expires_at, \
     last_used_at, revoked_at, created_at";
const SHARE_COLS: &str =
    "id, org_id, board_id, card_id, created_by, expires_at, revoked_at, created_at";

macro_rules! sql_store {
    ($Store:ident, $Db:ty, $backend:literal, $migrator:expr) => {
        impl $Store {
            /// The group commit with one statement per row change and per board (events and
            /// applied ops in multi-row inserts).
            #[allow(dead_code)] // Postgres commits with `commit_batch_unnest`.
            async fn commit_rows(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
                let t = now();
                let mut fenced = Vec::new();
                let merged = merge_by_board(commits);
                let mut order: Vec<&Merged<'_>> = merged.iter().collect();
                // One lock order for every writer, so concurrent batches cannot deadlock.
                order.sort_by_key(|c| c.board_id);
                let mut tx = self.pool.begin().await?;
                for c in order {
                    let last_seq = c.events.iter().map(|e| e.seq).max();
                    let done = sqlx::query(
                        "UPDATE boards SET last_seq = CASE WHEN $3 > last_seq THEN $3 ELSE last_seq END, updated_at = $4 \
                         WHERE id = $1 AND epoch = $2",
                    )
                    .bind(c.board_id)
                    .bind(c.epoch)
                    .bind(last_seq.unwrap_or(0))
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() == 0 {
                        fenced.push(c.board_id);
                        continue;
                    }
                    let mut changes = c.last_changes();
                    changes.sort_by_key(|ch| ch.key().0);
                    for ch in changes {
                        match ch {
                            RowChange::UpsertColumn { org_id, board_id, column } => {
                                sqlx::query(
                                    "INSERT INTO board_columns (id, org_id, board_id, name, position, is_done, created_at, updated_at, color) \
                                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                                     ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position, \
                                     is_done = excluded.is_done, color = excluded.color, deleted_at = NULL, updated_at = excluded.updated_at \
                                     WHERE board_columns.board_id = excluded.board_id",
                                )
                                .bind(column.id)
                                .bind(org_id)
                                .bind(board_id)
                                .bind(&column.name)
                                .bind(&column.position)
                                .bind(column.is_done)
                                .bind(t)
                                .bind(&column.color)
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| map_err(e, "column"))?;
                            }
                            RowChange::DeleteColumn { board_id, column_id } => {
                                sqlx::query("UPDATE board_columns SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND board_id = $2")
                                    .bind(column_id)
                                    .bind(board_id)
                                    .bind(t)
                                    .execute(&mut *tx)
                                    .await?;
                            }
                            RowChange::UpsertCard(card) => {
                                sqlx::query(
                                    "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
                                     customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) \
                                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15) \
                                     ON CONFLICT (id) DO UPDATE SET column_id = excluded.column_id, position = excluded.position, \
                                     title = excluded.title, description = excluded.description, customer_id = excluded.customer_id, \
                                     labels = excluded.labels, due_at = excluded.due_at, version = excluded.version, \
                                     priority = excluded.priority, estimate_minutes = excluded.estimate_minutes, \
                                     archived = excluded.archived, updated_at = excluded.updated_at \
                                     WHERE cards.board_id = excluded.board_id",
                                )
                                .bind(card.id)
                                .bind(card.org_id)
                                .bind(card.board_id)
                                .bind(card.column_id)
                                .bind(&card.position)
                                .bind(&card.title)
                                .bind(&card.description)
                                .bind(card.customer_id)
                                .bind(Json(&card.labels))
                                .bind(card.due_at)
                                .bind(card.version)
                                .bind(card.archived)
                                .bind(t)
                                .bind(&card.priority)
                                .bind(card.estimate_minutes)
                                .execute(&mut *tx)
                                .await
                                .map_err(|e| map_err(e, "card"))?;
                                sqlx::query("DELETE FROM card_assignees WHERE card_id = $1 AND board_id = $2")
                                    .bind(card.id)
                                    .bind(card.board_id)
                                    .execute(&mut *tx)
                                    .await?;
                                for user_id in &card.assignees {
                                    sqlx::query(
                                        "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) VALUES ($1, $2, $3, $4)",
                                    )
                                    .bind(card.org_id)
                                    .bind(card.board_id)
                                    .bind(card.id)
                                    .bind(user_id)
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(|e| map_err(e, "assignee"))?;
                                }
                                sqlx::query("DELETE FROM checklist_items WHERE card_id = $1 AND board_id = $2")
                                    .bind(card.id)
                                    .bind(card.board_id)
                                    .execute(&mut *tx)
                                    .await?;
                                for item in &card.checklist {
                                    sqlx::query(
                                        "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) \
                                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                                    )
                                    .bind(item.id)
                                    .bind(card.org_id)
                                    .bind(card.board_id)
                                    .bind(card.id)
                                    .bind(&item.title)
                                    .bind(item.done)
                                    .bind(&item.position)
                                    .bind(t)
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(|e| map_err(e, "checklist item"))?;
                                }
                                for cm in &card.comments {
                                    sqlx::query(
                                        "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) \
                                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                                    )
                                    .bind(cm.id)
                                    .bind(card.org_id)
                                    .bind(card.board_id)
                                    .bind(card.id)
                                    .bind(cm.author_id)
                                    .bind(&cm.body)
                                    .bind(Json(&cm.mentions))
                                    .bind(cm.created_at)
                                    .execute(&mut *tx)
                                    .await
                                    .map_err(|e| map_err(e, "comment"))?;
                                }
                            }
                        }
                    }
                    // Many rows per statement: one round trip for a whole batch's events.
                    for chunk in c.events.chunks(500) {
                        let mut qb = sqlx::QueryBuilder::<$Db>::new(
                            "INSERT INTO board_events (org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip) ",
                        );
                        qb.push_values(chunk, |mut b, e| {
                            b.push_bind(e.org_id)
                                .push_bind(e.board_id)
                                .push_bind(e.epoch)
                                .push_bind(e.seq)
                                .push_bind(e.op_id)
                                .push_bind(e.kind.as_str())
                                .push_bind(Json(&e.data))
                                .push_bind(Json(&e.actor))
                                .push_bind(e.at)
                                .push_bind(e.ip.as_deref());
                        });
                        qb.build().execute(&mut *tx).await.map_err(|err| map_err(err, "event"))?;
                    }
                    for chunk in c.ops.chunks(500) {
                        let mut qb = sqlx::QueryBuilder::<$Db>::new(
                            "INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) ",
                        );
                        qb.push_values(chunk, |mut b, op| {
                            b.push_bind(c.org_id)
                                .push_bind(c.board_id)
                                .push_bind(op.op_id)
                                .push_bind(op.principal_id)
                                .push_bind(op.epoch)
                                .push_bind(op.seq)
                                .push_bind(op.result_id)
                                .push_bind(t);
                        });
                        qb.push(" ON CONFLICT (board_id, op_id) DO NOTHING");
                        qb.build().execute(&mut *tx).await?;
                    }
                    for n in c.notifications.iter().copied() {
                        sqlx::query(
                            "INSERT INTO notifications (id, org_id, user_id, kind, board_id, card_id, title, body, actor, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
                        )
                        .bind(n.id)
                        .bind(n.org_id)
                        .bind(n.user_id)
                        .bind(&n.kind)
                        .bind(n.board_id)
                        .bind(n.card_id)
                        .bind(&n.title)
                        .bind(&n.body)
                        .bind(Json(&n.actor))
                        .bind(n.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, "notification"))?;
                    }
                }
                tx.commit().await?;
                Ok(fenced)
            }

            async fn columns_of(&self, board_ids: &[Uuid]) -> StoreResult<HashMap<Uuid, Vec<Column>>> {
                let mut rows = Vec::new();
                for id in board_ids {
                    let mut part: Vec<ColumnRow> = sqlx::query_as(
                        "SELECT board_id, id, name, position, is_done, color FROM board_columns \
                         WHERE board_id = $1 AND deleted_at IS NULL ORDER BY position",
                    )
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?;
                    rows.append(&mut part);
                }
                Ok(group_columns(rows))
            }

            async fn boards_from_rows(&self, rows: Vec<BoardRow>) -> StoreResult<Vec<Board>> {
                let ids: Vec<Uuid> = rows.iter().map(|r| r.id).collect();
                let mut cols = self.columns_of(&ids).await?;
                rows.into_iter()
                    .map(|r| {
                        let c = cols.remove(&r.id).unwrap_or_default();
                        r.into_board(c)
                    })
                    .collect()
            }
        }

        #[async_trait]
        impl Store for $Store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn sqlite_synchronous(&self) -> StoreResult<Option<&'static str>> {
                self.synchronous_mode().await
            }

            async fn migrate(&self) -> StoreResult<()> {
                $migrator.run(&self.pool).await?;
                Ok(())
            }

            fn webhooks(&self) -> &dyn super::WebhookStore {
                self
            }

            async fn count_orgs(&self) -> StoreResult<i64> {
                let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM organizations")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            async fn create_org_with_owner(&self, name: &str, owner: NewUser) -> StoreResult<(Org, User)> {
                let t = now();
                let org = Org { id: new_id(), name: name.to_string(), created_at: t };
                let user = User {
                    id: new_id(),
                    email: owner.email.to_lowercase(),
                    name: owner.name,
                    password_hash: owner.password_hash,
                    created_at: t,
                };
                let mut tx = self.pool.begin().await?;
                sqlx::query("INSERT INTO organizations (id, name, created_at, updated_at) VALUES ($1, $2, $3, $3)")
                    .bind(org.id)
                    .bind(&org.name)
                    .bind(t)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(user.id)
                .bind(&user.email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "a user with this email"))?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at) \
                     VALUES ($1, $2, 'owner', $3, $3)",
                )
                .bind(org.id)
                .bind(user.id)
                .bind(t)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok((org, user))
            }

            async fn get_org(&self, org_id: Uuid) -> StoreResult<Option<Org>> {
                let row: Option<OrgRow> =
                    sqlx::query_as("SELECT id, name, created_at FROM organizations WHERE id = $1")
                        .bind(org_id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(Org::from))
            }

            async fn get_user(&self, user_id: Uuid) -> StoreResult<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(
                    "SELECT id, email, name, password_hash, created_at FROM users WHERE id = $1",
                )
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(User::from))
            }

            async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>> {
                let row: Option<UserRow> = sqlx::query_as(
                    "SELECT id, email, name, password_hash, created_at FROM users WHERE email = $1",
                )
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(User::from))
            }

            async fn memberships_of(&self, user_id: Uuid) -> StoreResult<Vec<MembershipInfo>> {
                let rows: Vec<MembershipRow> = sqlx::query_as(
                    "SELECT m.org_id, o.name AS org_name, m.role FROM memberships m \
                     JOIN organizations o ON o.id = m.org_id \
                     WHERE m.user_id = $1 AND m.deactivated_at IS NULL ORDER BY m.created_at",
                )
                .bind(user_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|r| Ok(MembershipInfo { org_id: r.org_id, org_name: r.org_name, role: parse_role(&r.role)? }))
                    .collect()
            }

            async fn create_member(&self, org_id: Uuid, user: NewUser, role: Role) -> StoreResult<Member> {
                let t = now();
                let id = new_id();
                let email = user.email.to_lowercase();
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO users (id, email, name, password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(id)
                .bind(&email)
                .bind(&user.name)
                .bind(&user.password_hash)
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "a user with this email"))?;
                sqlx::query(
                    "INSERT INTO memberships (org_id, user_id, role, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $4)",
                )
                .bind(org_id)
                .bind(id)
                .bind(role.as_str())
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "membership"))?;
                tx.commit().await?;
                Ok(Member { id, email, name: user.name, role, active: true, created_at: t })
            }

            async fn list_members(&self, org_id: Uuid) -> StoreResult<Vec<Member>> {
                let rows: Vec<MemberRow> =
                    sqlx::query_as(&format!("{MEMBER_SELECT} WHERE m.org_id = $1 ORDER BY m.created_at, u.id"))
                        .bind(org_id)
                        .fetch_all(&self.pool)
                        .await?;
                rows.into_iter().map(Member::try_from).collect()
            }

            async fn get_member(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<Option<Member>> {
                let row: Option<MemberRow> =
                    sqlx::query_as(&format!("{MEMBER_SELECT} WHERE m.org_id = $1 AND m.user_id = $2"))
                        .bind(org_id)
                        .bind(user_id)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(Member::try_from).transpose()
            }

            async fn set_member_role(&self, org_id: Uuid, user_id: Uuid, role: Role) -> StoreResult<Option<Member>> {
                let done = sqlx::query(
                    "UPDATE memberships SET role = $3, updated_at = $4 WHERE org_id = $1 AND user_id = $2",
                )
                .bind(org_id)
                .bind(user_id)
                .bind(role.as_str())
                .bind(now())
                .execute(&self.pool)
                .await?;
                if done.rows_affected() == 0 {
                    return Ok(None);
                }
                self.get_member(org_id, user_id).await
            }

            async fn deactivate_member(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<bool> {
                let t = now();
                let done = sqlx::query(
                    "UPDATE memberships SET deactivated_at = $3, updated_at = $3 \
                     WHERE org_id = $1 AND user_id = $2 AND deactivated_at IS NULL",
                )
                .bind(org_id)
                .bind(user_id)
                .bind(t)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn create_customer(&self, c: NewCustomer) -> StoreResult<Customer> {
                let t = now();
                let row = Customer {
                    id: new_id(),
                    org_id: c.org_id,
                    name: c.name,
                    email: c.email,
                    phone: c.phone,
                    address: c.address,
                    user_id: c.user_id,
                    created_at: t,
                    updated_at: t,
                };
                sqlx::query(
                    "INSERT INTO customers (id, org_id, name, email, phone, user_id, created_at, updated_at, address) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                )
                .bind(row.id)
                .bind(row.org_id)
                .bind(&row.name)
                .bind(&row.email)
                .bind(&row.phone)
                .bind(row.user_id)
                .bind(t)
                .bind(&row.address)
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, "customer"))?;
                Ok(row)
            }

            async fn list_customers(&self, org_id: Uuid) -> StoreResult<Vec<Customer>> {
                let rows: Vec<CustomerRow> = sqlx::query_as(&format!(
                    "SELECT {CUSTOMER_COLS} FROM customers WHERE org_id = $1 AND deleted_at IS NULL ORDER BY name, id"
                ))
                .bind(org_id)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Customer::from).collect())
            }

            async fn get_customer(&self, org_id: Uuid, id: Uuid) -> StoreResult<Option<Customer>> {
                let row: Option<CustomerRow> = sqlx::query_as(&format!(
                    "SELECT {CUSTOMER_COLS} FROM customers WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL"
                ))
                .bind(org_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(Customer::from))
            }

            async fn update_customer(&self, org_id: Uuid, id: Uuid, patch: CustomerPatch) -> StoreResult<Option<Customer>> {
                let Some(mut c) = self.get_customer(org_id, id).await? else {
                    return Ok(None);
                };
                if let Some(name) = patch.name {
                    c.name = name;
                }
                if let Some(email) = patch.email {
                    c.email = email;
                }
                if let Some(phone) = patch.phone {
                    c.phone = phone;
                }
                if let Some(address) = patch.address {
                    c.address = address;
                }
                if let Some(user_id) = patch.user_id {
                    c.user_id = user_id;
                }
                c.updated_at = now();
                let done = sqlx::query(
                    "UPDATE customers SET name = $3, email = $4, phone = $5, user_id = $6, updated_at = $7, address = $8 \
                     WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(org_id)
                .bind(id)
                .bind(&c.name)
                .bind(&c.email)
                .bind(&c.phone)
                .bind(c.user_id)
                .bind(c.updated_at)
                .bind(&c.address)
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, "customer"))?;
                Ok((done.rows_affected() > 0).then_some(c))
            }

            async fn delete_customer(&self, org_id: Uuid, id: Uuid) -> StoreResult<bool> {
                let t = now();
                let done = sqlx::query(
                    "UPDATE customers SET deleted_at = $3, updated_at = $3 \
                     WHERE org_id = $1 AND id = $2 AND deleted_at IS NULL",
                )
                .bind(org_id)
                .bind(id)
                .bind(t)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn customer_of_user(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<Option<Uuid>> {
                let row: Option<(Uuid,)> = sqlx::query_as(
                    "SELECT id FROM customers WHERE org_id = $1 AND user_id = $2 AND deleted_at IS NULL \
                     ORDER BY created_at LIMIT 1",
                )
                .bind(org_id)
                .bind(user_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.0))
            }

            async fn create_board(&self, b: NewBoard) -> StoreResult<Board> {
                let t = now();
                let id = new_id();
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO boards (id, org_id, name, template, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(id)
                .bind(b.org_id)
                .bind(&b.name)
                .bind(b.template.as_str())
                .bind(t)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "board"))?;
                for c in &b.columns {
                    sqlx::query(
                        "INSERT INTO board_columns (id, org_id, board_id, name, position, is_done, created_at, updated_at, color) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                    )
                    .bind(c.id)
                    .bind(b.org_id)
                    .bind(id)
                    .bind(&c.name)
                    .bind(&c.position)
                    .bind(c.is_done)
                    .bind(t)
                    .bind(&c.color)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "column"))?;
                }
                tx.commit().await?;
                let mut columns = b.columns;
                columns.sort_by(|x, y| x.position.cmp(&y.position));
                Ok(Board {
                    id,
                    org_id: b.org_id,
                    name: b.name,
                    template: b.template,
                    archived: false,
                    epoch: 0,
                    last_seq: 0,
                    created_at: t,
                    columns,
                })
            }

            async fn get_board(&self, board_id: Uuid) -> StoreResult<Option<Board>> {
                let row: Option<BoardRow> =
                    sqlx::query_as(&format!("SELECT {BOARD_COLS} FROM boards WHERE id = $1"))
                        .bind(board_id)
                        .fetch_optional(&self.pool)
                        .await?;
                match row {
                    None => Ok(None),
                    Some(r) => Ok(self.boards_from_rows(vec![r]).await?.pop()),
                }
            }

            async fn list_boards(&self, org_id: Uuid, filter: BoardFilter) -> StoreResult<Vec<Board>> {
                let base = format!("SELECT {BOARD_COLS} FROM boards b WHERE b.org_id = $1 AND b.archived_at IS NULL");
                let rows: Vec<BoardRow> = match filter {
                    BoardFilter::Nothing => Vec::new(),
                    BoardFilter::All => {
                        sqlx::query_as(&format!("{base} ORDER BY b.created_at, b.id"))
                            .bind(org_id)
                            .fetch_all(&self.pool)
                            .await?
                    }
                    BoardFilter::AssignedTo(user_id) => {
                        sqlx::query_as(&format!(
                            "{base} AND EXISTS (SELECT 1 FROM card_assignees a JOIN cards c ON c.id = a.card_id \
                             WHERE a.board_id = b.id AND a.user_id = $2 AND c.archived = $3) ORDER BY b.created_at, b.id"
                        ))
                        .bind(org_id)
                        .bind(user_id)
                        .bind(false)
                        .fetch_all(&self.pool)
                        .await?
                    }
                    BoardFilter::OfCustomer(customer_id) => {
                        sqlx::query_as(&format!(
                            "{base} AND EXISTS (SELECT 1 FROM cards c WHERE c.board_id = b.id \
                             AND c.customer_id = $2 AND c.archived = $3) ORDER BY b.created_at, b.id"
                        ))
                        .bind(org_id)
                        .bind(customer_id)
                        .bind(false)
                        .fetch_all(&self.pool)
                        .await?
                    }
                };
                self.boards_from_rows(rows).await
            }

            async fn archive_board(&self, org_id: Uuid, board_id: Uuid) -> StoreResult<Option<Board>> {
                let t = now();
                sqlx::query(
                    "UPDATE boards SET archived_at = $3, updated_at = $3 \
                     WHERE org_id = $1 AND id = $2 AND archived_at IS NULL",
                )
                .bind(org_id)
                .bind(board_id)
                .bind(t)
                .execute(&self.pool)
                .await?;
                Ok(self.get_board(board_id).await?.filter(|b| b.org_id == org_id))
            }

            async fn create_card(&self, card: &Card) -> StoreResult<()> {
                let t = now();
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
                     customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15)",
                )
                .bind(card.id)
                .bind(card.org_id)
                .bind(card.board_id)
                .bind(card.column_id)
                .bind(&card.position)
                .bind(&card.title)
                .bind(&card.description)
                .bind(card.customer_id)
                .bind(Json(&card.labels))
                .bind(card.due_at)
                .bind(card.version)
                .bind(card.archived)
                .bind(t)
                .bind(&card.priority)
                .bind(card.estimate_minutes)
                .execute(&mut *tx)
                .await
                .map_err(|e| map_err(e, "card"))?;
                for user_id in &card.assignees {
                    sqlx::query(
                        "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.id)
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "assignee"))?;
                }
                for item in &card.checklist {
                    sqlx::query(
                        "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(item.id)
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.id)
                    .bind(&item.title)
                    .bind(item.done)
                    .bind(&item.position)
                    .bind(t)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "checklist item"))?;
                }
                for c in &card.comments {
                    sqlx::query(
                        "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(c.id)
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.id)
                    .bind(c.author_id)
                    .bind(&c.body)
                    .bind(Json(&c.mentions))
                    .bind(c.created_at)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "comment"))?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn list_cards(&self, board_id: Uuid) -> StoreResult<Vec<Card>> {
                let rows: Vec<CardRow> = sqlx::query_as(
                    "SELECT id, org_id, board_id, column_id, position, title, description, customer_id, \
                     labels, due_at, priority, estimate_minutes, version, archived FROM cards WHERE board_id = $1 ORDER BY position, id",
                )
                .bind(board_id)
                .fetch_all(&self.pool)
                .await?;
                let assignees: Vec<AssigneeRow> = sqlx::query_as(
                    "SELECT card_id, user_id FROM card_assignees WHERE board_id = $1 ORDER BY user_id",
                )
                .bind(board_id)
                .fetch_all(&self.pool)
                .await?;
                let items: Vec<ChecklistRow> = sqlx::query_as(
                    "SELECT card_id, id, title, done, position FROM checklist_items WHERE board_id = $1 ORDER BY position, id",
                )
                .bind(board_id)
                .fetch_all(&self.pool)
                .await?;
                let comments: Vec<CommentRow> = sqlx::query_as(
                    "SELECT card_id, id, author_id, body, mentions, created_at FROM comments \
                     WHERE board_id = $1 ORDER BY created_at, id",
                )
                .bind(board_id)
                .fetch_all(&self.pool)
                .await?;
                let mut cards: Vec<Card> = rows
                    .into_iter()
                    .map(|r| Card {
                        id: r.id,
                        org_id: r.org_id,
                        board_id: r.board_id,
                        column_id: r.column_id,
                        position: r.position,
                        title: r.title,
                        description: r.description,
                        assignees: Vec::new(),
                        customer_id: r.customer_id,
                        labels: r.labels.0,
                        due_at: r.due_at,
                        priority: r.priority,
                        estimate_minutes: r.estimate_minutes,
                        checklist: Vec::new(),
                        comments: Vec::new(),
                        version: r.version,
                        archived: r.archived,
                    })
                    .collect();
                let index: HashMap<Uuid, usize> = cards.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
                for a in assignees {
                    if let Some(&i) = index.get(&a.card_id) {
                        cards[i].assignees.push(a.user_id);
                    }
                }
                for it in items {
                    if let Some(&i) = index.get(&it.card_id) {
                        cards[i].checklist.push(ChecklistItem { id: it.id, title: it.title, done: it.done, position: it.position });
                    }
                }
                for c in comments {
                    if let Some(&i) = index.get(&c.card_id) {
                        cards[i].comments.push(Comment {
                            id: c.id,
                            author_id: c.author_id,
                            body: c.body,
                            mentions: c.mentions.0,
                            created_at: c.created_at,
                        });
                    }
                }
                Ok(cards)
            }

            async fn card_location(&self, card_id: Uuid) -> StoreResult<Option<CardLocation>> {
                let row: Option<CardLocationRow> =
                    sqlx::query_as("SELECT org_id, board_id, id, customer_id FROM cards WHERE id = $1")
                        .bind(card_id)
                        .fetch_optional(&self.pool)
                        .await?;
                let Some(r) = row else { return Ok(None) };
                let assignees: Vec<(Uuid,)> =
                    sqlx::query_as("SELECT user_id FROM card_assignees WHERE card_id = $1 ORDER BY user_id")
                        .bind(card_id)
                        .fetch_all(&self.pool)
                        .await?;
                Ok(Some(CardLocation {
                    org_id: r.org_id,
                    board_id: r.board_id,
                    card_id: r.id,
                    assignees: assignees.into_iter().map(|a| a.0).collect(),
                    customer_id: r.customer_id,
                }))
            }

            async fn create_api_key(&self, k: NewApiKey) -> StoreResult<ApiKey> {
                let t = now();
                let key = ApiKey {
                    id: new_id(),
                    org_id: k.org_id,
                    name: k.name,
                    role: k.role,
                    prefix: k.prefix,
                    boards: k.boards,
                    created_by: k.created_by,
                    expires_at: k.expires_at,
                    last_used_at: None,
                    revoked_at: None,
                    created_at: t,
                };
                sqlx::query(
                    "INSERT INTO api_keys (id, org_id, name, role, key_hash, prefix, boards, created_by, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(key.id)
                .bind(key.org_id)
                .bind(&key.name)
                .bind(key.role.as_str())
                .bind(&k.key_hash)
                .bind(&key.prefix)
                .bind(key.boards.as_ref().map(Json))
                .bind(key.created_by)
                .bind(key.expires_at)
                .bind(t)
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, "api key"))?;
                Ok(key)
            }

            async fn list_api_keys(&self, org_id: Uuid) -> StoreResult<Vec<ApiKey>> {
                let rows: Vec<ApiKeyRow> = sqlx::query_as(&format!(
                    "SELECT {API_KEY_COLS} FROM api_keys WHERE org_id = $1 ORDER BY created_at, id"
                ))
                .bind(org_id)
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(ApiKey::try_from).collect()
            }

            async fn find_api_key(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKey>> {
                let row: Option<ApiKeyRow> =
                    sqlx::query_as(&format!("SELECT {API_KEY_COLS} FROM api_keys WHERE key_hash = $1"))
                        .bind(key_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                row.map(ApiKey::try_from).transpose()
            }

            async fn revoke_api_key(&self, org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE api_keys SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(org_id)
                .bind(id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn notification_prefs(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<NotificationPrefs> {
                self.prefs_of(org_id, user_id).await
            }

            async fn set_notification_prefs(&self, org_id: Uuid, user_id: Uuid, p: &NotificationPrefs) -> StoreResult<NotificationPrefs> {
                self.prefs_set(org_id, user_id, p).await
            }

            async fn org_notification_prefs(&self, org_id: Uuid) -> StoreResult<Vec<(Uuid, NotificationPrefs)>> {
                self.prefs_of_org(org_id).await
            }

            async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE api_keys SET last_used_at = $2 WHERE id = $1")
                    .bind(id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn insert_refresh_token(&self, t: &RefreshToken, token_hash: &[u8]) -> StoreResult<()> {
                sqlx::query(
                    "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(t.id)
                .bind(t.user_id)
                .bind(t.family_id)
                .bind(token_hash)
                .bind(t.expires_at)
                .bind(now())
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, "refresh token"))?;
                Ok(())
            }

            async fn find_refresh_token(&self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>> {
                let row: Option<RefreshRow> = sqlx::query_as(
                    "SELECT id, user_id, family_id, expires_at, spent_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| RefreshToken {
                    id: r.id,
                    user_id: r.user_id,
                    family_id: r.family_id,
                    expires_at: r.expires_at,
                    spent_at: r.spent_at,
                    revoked_at: r.revoked_at,
                }))
            }

            async fn spend_refresh_token(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE refresh_tokens SET spent_at = $2 WHERE id = $1 AND spent_at IS NULL AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn revoke_refresh_family(&self, family_id: Uuid, at: DateTime<Utc>) -> StoreResult<()> {
                sqlx::query("UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL")
                    .bind(family_id)
                    .bind(at)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn refresh_family_revoked(&self, family_id: Uuid) -> StoreResult<bool> {
                let (n,): (i64,) = sqlx::query_as(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM refresh_tokens WHERE family_id = $1 AND revoked_at IS NOT NULL LIMIT 1) AS r",
                )
                .bind(family_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(n > 0)
            }

            async fn create_share_link(&self, l: NewShareLink) -> StoreResult<ShareLink> {
                let t = now();
                let link = ShareLink {
                    id: new_id(),
                    org_id: l.org_id,
                    board_id: l.board_id,
                    card_id: l.card_id,
                    created_by: l.created_by,
                    expires_at: l.expires_at,
                    revoked_at: None,
                    created_at: t,
                };
                sqlx::query(
                    "INSERT INTO share_links (id, org_id, board_id, card_id, token_hash, created_by, expires_at, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(link.id)
                .bind(link.org_id)
                .bind(link.board_id)
                .bind(link.card_id)
                .bind(&l.token_hash)
                .bind(link.created_by)
                .bind(link.expires_at)
                .bind(t)
                .execute(&self.pool)
                .await
                .map_err(|e| map_err(e, "share link"))?;
                Ok(link)
            }

            async fn find_share_link(&self, token_hash: &[u8]) -> StoreResult<Option<ShareLink>> {
                let row: Option<ShareRow> =
                    sqlx::query_as(&format!("SELECT {SHARE_COLS} FROM share_links WHERE token_hash = $1"))
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(ShareLink::from))
            }

            async fn get_share_link(&self, id: Uuid) -> StoreResult<Option<ShareLink>> {
                let row: Option<ShareRow> =
                    sqlx::query_as(&format!("SELECT {SHARE_COLS} FROM share_links WHERE id = $1"))
                        .bind(id)
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(row.map(ShareLink::from))
            }

            async fn list_share_links(
                &self,
                org_id: Uuid,
                card_id: Option<Uuid>,
                limit: i64,
            ) -> StoreResult<Vec<(ShareLink, String)>> {
                const COLS: &str = "s.id, s.org_id, s.board_id, s.card_id, s.created_by, s.expires_at, \
                     s.revoked_at, s.created_at, c.title";
                let rows: Vec<ShareListRow> = match card_id {
                    Some(card) => sqlx::query_as(&format!(
                        "SELECT {COLS} FROM share_links s JOIN cards c ON c.id = s.card_id \
                         WHERE s.org_id = $1 AND s.card_id = $2 ORDER BY s.created_at DESC, s.id DESC LIMIT $3"
                    ))
                    .bind(org_id)
                    .bind(card)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?,
                    None => sqlx::query_as(&format!(
                        "SELECT {COLS} FROM share_links s JOIN cards c ON c.id = s.card_id \
                         WHERE s.org_id = $1 ORDER BY s.created_at DESC, s.id DESC LIMIT $2"
                    ))
                    .bind(org_id)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?,
                };
                Ok(rows.into_iter().map(|r| (ShareLink::from(r.link), r.title)).collect())
            }

            async fn revoke_share_link(&self, org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool> {
                let done = sqlx::query(
                    "UPDATE share_links SET revoked_at = $3 WHERE org_id = $1 AND id = $2 AND revoked_at IS NULL",
                )
                .bind(org_id)
                .bind(id)
                .bind(at)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn commit_batch(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
                self.commit_batch_impl(commits).await
            }

            async fn claim_board(&self, board_id: Uuid) -> StoreResult<Option<(i64, i64)>> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE boards SET epoch = epoch + 1, updated_at = $2 WHERE id = $1 RETURNING epoch, last_seq",
                )
                .bind(board_id)
                .bind(now())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row)
            }

            async fn claim_board_at_least(&self, board_id: Uuid, floor: i64) -> StoreResult<Option<(i64, i64)>> {
                let row: Option<(i64, i64)> = sqlx::query_as(
                    "UPDATE boards SET epoch = CASE WHEN epoch + 1 > $3 THEN epoch + 1 ELSE $3 END, \
                     updated_at = $2 WHERE id = $1 RETURNING epoch, last_seq",
                )
                .bind(board_id)
                .bind(now())
                .bind(floor)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row)
            }

            async fn events_after(&self, board_id: Uuid, after_seq: i64, limit: i64) -> StoreResult<Vec<EventRecord>> {
                let rows: Vec<EventRow> = sqlx::query_as(
                    "SELECT org_id, board_id, epoch, seq, op_id, kind, data, actor, at FROM board_events \
                     WHERE board_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                )
                .bind(board_id)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(EventRecord::from).collect())
            }

            async fn applied_op(&self, board_id: Uuid, op_id: Uuid) -> StoreResult<Option<AppliedOp>> {
                let row: Option<(Uuid, Option<Uuid>, i64, i64, Option<Uuid>)> = sqlx::query_as(
                    "SELECT op_id, principal_id, epoch, seq, result_id FROM applied_ops WHERE board_id = $1 AND op_id = $2",
                )
                .bind(board_id)
                .bind(op_id)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(op_id, principal_id, epoch, seq, result_id)| AppliedOp { op_id, principal_id, epoch, seq, result_id }))
            }

            async fn recent_applied_ops(&self, board_id: Uuid, limit: i64) -> StoreResult<Vec<AppliedOp>> {
                let rows: Vec<(Uuid, Option<Uuid>, i64, i64, Option<Uuid>)> = sqlx::query_as(
                    "SELECT op_id, principal_id, epoch, seq, result_id FROM applied_ops WHERE board_id = $1 ORDER BY seq DESC LIMIT $2",
                )
                .bind(board_id)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(|(op_id, principal_id, epoch, seq, result_id)| AppliedOp { op_id, principal_id, epoch, seq, result_id }).collect())
            }

            async fn list_notifications(
                &self,
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
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(Notification::from).collect())
            }

            async fn count_notifications(&self, user_id: Uuid, unread_only: bool) -> StoreResult<i64> {
                let filter = if unread_only { "AND read_at IS NULL" } else { "" };
                let (n,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM notifications WHERE user_id = $1 {filter}"))
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await?;
                Ok(n)
            }

            async fn unread_count(&self, user_id: Uuid) -> StoreResult<i64> {
                let (n,): (i64,) =
                    sqlx::query_as("SELECT COUNT(*) FROM notifications WHERE user_id = $1 AND read_at IS NULL")
                        .bind(user_id)
                        .fetch_one(&self.pool)
                        .await?;
                Ok(n)
            }

            async fn mark_read(&self, user_id: Uuid, ids: Option<&[Uuid]>, at: DateTime<Utc>) -> StoreResult<i64> {
                match ids {
                    None => {
                        sqlx::query("UPDATE notifications SET read_at = $2 WHERE user_id = $1 AND read_at IS NULL")
                            .bind(user_id)
                            .bind(at)
                            .execute(&self.pool)
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
                        q.execute(&self.pool).await?;
                    }
                }
                self.unread_count(user_id).await
            }
        }
    };
}

sql_store!(
    PgStore,
    sqlx::Postgres,
    "postgres",
    sqlx::migrate!("migrations/postgres")
);
sql_store!(
    SqliteStore,
    sqlx::Sqlite,
    "sqlite",
    sqlx::migrate!("migrations/sqlite")
);

impl SqliteStore {
    async fn synchronous_mode(&self) -> StoreResult<Option<&'static str>> {
        let (mode,): (i64,) = sqlx::query_as("PRAGMA synchronous")
            .fetch_one(&self.pool)
            .await?;
        // https://www.sqlite.org/pragma.html#pragma_synchronous
        Ok(Some(match mode {
            0 => "off",
            1 => "normal",
            2 => "full",
            3 => "extra",
            _ => "unknown",
        }))
    }

    async fn commit_batch_impl(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
        self.commit_rows(commits).await
    }
}

/// The rows of one group commit, gathered over all its boards so that Postgres gets one
/// statement per table (arrays bound once, `UNNEST`ed server-side) instead of several
/// statements per board and per card: the statement text never changes with the batch, so it
/// is prepared once per connection, and a batch costs about eight round trips whatever its
/// size. SQLite (in-process, no round trips) keeps the per-row statements.
impl PgStore {
    async fn synchronous_mode(&self) -> StoreResult<Option<&'static str>> {
        Ok(None)
    }

    async fn commit_batch_impl(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
        self.commit_batch_unnest(commits).await
    }

    async fn commit_batch_unnest(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
        let t = now();
        let merged = merge_by_board(commits);
        let mut order: Vec<&Merged<'_>> = merged.iter().collect();
        // One lock order for every writer, so concurrent batches cannot deadlock.
        order.sort_by_key(|c| (c.board_id, c.epoch));
        let mut tx = self.pool.begin().await?;

        // Fencing, for every board at once: a board's rows are written only when it still has
        // the epoch its writer holds.
        let ids: Vec<Uuid> = order.iter().map(|c| c.board_id).collect();
        let epochs: Vec<i64> = order.iter().map(|c| c.epoch).collect();
        let last: Vec<i64> = order
            .iter()
            .map(|c| c.events.iter().map(|e| e.seq).max().unwrap_or(0))
            .collect();
        let live: Vec<(Uuid, i64)> = sqlx::query_as(
            "UPDATE boards AS b SET last_seq = GREATEST(b.last_seq, v.last_seq), updated_at = $4 \
             FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS v(id, epoch, last_seq) \
             WHERE b.id = v.id AND b.epoch = v.epoch RETURNING b.id, b.epoch",
        )
        .bind(&ids)
        .bind(&epochs)
        .bind(&last)
        .bind(t)
        .fetch_all(&mut *tx)
        .await?;
        let live: std::collections::HashSet<(Uuid, i64)> = live.into_iter().collect();
        let mut fenced = Vec::new();
        let mut written: Vec<&Merged<'_>> = Vec::with_capacity(order.len());
        for c in order {
            if live.contains(&(c.board_id, c.epoch)) {
                written.push(c);
            } else {
                fenced.push(c.board_id);
            }
        }

        // Row changes: the last of each row per board, columns before the cards in them.
        let mut columns: Vec<&RowChange> = Vec::new();
        let mut cards: Vec<&Card> = Vec::new();
        for c in &written {
            for ch in c.last_changes() {
                match ch {
                    RowChange::UpsertCard(card) => cards.push(card),
                    other => columns.push(other),
                }
            }
        }
        for ch in columns {
            match ch {
                RowChange::UpsertColumn {
                    org_id,
                    board_id,
                    column,
                } => {
                    sqlx::query(
                        "INSERT INTO board_columns (id, org_id, board_id, name, position, is_done, created_at, updated_at, color) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position, \
                         is_done = excluded.is_done, color = excluded.color, deleted_at = NULL, updated_at = excluded.updated_at \
                         WHERE board_columns.board_id = excluded.board_id",
                    )
                    .bind(column.id)
                    .bind(org_id)
                    .bind(board_id)
                    .bind(&column.name)
                    .bind(&column.position)
                    .bind(column.is_done)
                    .bind(t)
                    .bind(&column.color)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "column"))?;
                }
                RowChange::DeleteColumn {
                    board_id,
                    column_id,
                } => {
                    sqlx::query("UPDATE board_columns SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND board_id = $2")
                        .bind(column_id)
                        .bind(board_id)
                        .bind(t)
                        .execute(&mut *tx)
                        .await?;
                }
                RowChange::UpsertCard(_) => {}
            }
        }
        // One statement cannot upsert a row twice: a card id met again (on another board of
        // the batch) goes into the next round.
        let mut rounds: Vec<Vec<&Card>> = Vec::new();
        {
            let mut times: HashMap<Uuid, usize> = HashMap::new();
            for card in cards {
                let n = times.entry(card.id).or_insert(0);
                if rounds.len() <= *n {
                    rounds.push(Vec::new());
                }
                rounds[*n].push(card);
                *n += 1;
            }
        }
        for round in &rounds {
            Self::write_cards(&mut tx, round, t).await?;
        }

        let events: Vec<&EventRecord> = written
            .iter()
            .flat_map(|c| c.events.iter().copied())
            .collect();
        if !events.is_empty() {
            sqlx::query(
                "INSERT INTO board_events (org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::int8[], $5::uuid[], \
                 $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::text[])",
            )
            .bind(events.iter().map(|e| e.org_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.board_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.epoch).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.seq).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.op_id).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
            .bind(events.iter().map(|e| Json(&e.data)).collect::<Vec<_>>())
            .bind(events.iter().map(|e| Json(&e.actor)).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
            .bind(events.iter().map(|e| e.ip.as_deref()).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(|err| map_err(err, "event"))?;
        }
        let ops: Vec<(&Merged<'_>, &AppliedOp)> = written
            .iter()
            .flat_map(|c| c.ops.iter().map(move |o| (*c, *o)))
            .collect();
        if !ops.is_empty() {
            sqlx::query(
                "INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) \
                 SELECT o, b, i, p, e, s, r, $8 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
                 $5::int8[], $6::int8[], $7::uuid[]) AS v(o, b, i, p, e, s, r) \
                 ON CONFLICT (board_id, op_id) DO NOTHING",
            )
            .bind(ops.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
            .bind(ops.iter().map(|(c, _)| c.board_id).collect::<Vec<_>>())
            .bind(ops.iter().map(|(_, o)| o.op_id).collect::<Vec<_>>())
            .bind(ops.iter().map(|(_, o)| o.principal_id).collect::<Vec<_>>())
            .bind(ops.iter().map(|(_, o)| o.epoch).collect::<Vec<_>>())
            .bind(ops.iter().map(|(_, o)| o.seq).collect::<Vec<_>>())
            .bind(ops.iter().map(|(_, o)| o.result_id).collect::<Vec<_>>())
            .bind(t)
            .execute(&mut *tx)
            .await?;
        }
        let notes: Vec<&Notification> = written
            .iter()
            .flat_map(|c| c.notifications.iter().copied())
            .collect();
        if !notes.is_empty() {
            sqlx::query(
                "INSERT INTO notifications (id, org_id, user_id, kind, board_id, card_id, title, body, actor, created_at) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[], \
                 $7::text[], $8::text[], $9::jsonb[], $10::timestamptz[]) \
                 ON CONFLICT (id) DO NOTHING",
            )
            .bind(notes.iter().map(|n| n.id).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.org_id).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.user_id).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.board_id).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.card_id).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.title.as_str()).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.body.as_str()).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| Json(&n.actor)).collect::<Vec<_>>())
            .bind(notes.iter().map(|n| n.created_at).collect::<Vec<_>>())
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "notification"))?;
        }
        tx.commit().await?;
        Ok(fenced)
    }

    /// Cards (distinct ids) written whole: the card row, then its assignees and checklist
    /// replaced, then its new comments.
    async fn write_cards(
        tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
        cards: &[&Card],
        t: DateTime<Utc>,
    ) -> StoreResult<()> {
        if cards.is_empty() {
            return Ok(());
        }
        sqlx::query(
            "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
             customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) \
             SELECT id, org_id, board_id, column_id, position, title, description, customer_id, labels, \
             due_at, version, archived, $13, $13, priority, estimate_minutes \
             FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
             $8::uuid[], $9::jsonb[], $10::timestamptz[], $11::int8[], $12::bool[], $14::text[], $15::int4[]) \
             AS v(id, org_id, board_id, column_id, position, title, description, customer_id, labels, \
             due_at, version, archived, priority, estimate_minutes) \
             ON CONFLICT (id) DO UPDATE SET column_id = excluded.column_id, position = excluded.position, \
             title = excluded.title, description = excluded.description, customer_id = excluded.customer_id, \
             labels = excluded.labels, due_at = excluded.due_at, version = excluded.version, \
             priority = excluded.priority, estimate_minutes = excluded.estimate_minutes, \
             archived = excluded.archived, updated_at = excluded.updated_at \
             WHERE cards.board_id = excluded.board_id",
        )
        .bind(cards.iter().map(|c| c.id).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.org_id).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.board_id).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.column_id).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.position.as_str()).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.title.as_str()).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.description.as_str()).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.customer_id).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| Json(&c.labels)).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.due_at).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.version).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.archived).collect::<Vec<_>>())
        .bind(t)
        .bind(cards.iter().map(|c| c.priority.as_deref()).collect::<Vec<_>>())
        .bind(cards.iter().map(|c| c.estimate_minutes).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(|e| map_err(e, "card"))?;
        let ids: Vec<Uuid> = cards.iter().map(|c| c.id).collect();
        let boards: Vec<Uuid> = cards.iter().map(|c| c.board_id).collect();
        for table in ["card_assignees", "checklist_items"] {
            sqlx::query(&format!(
                "DELETE FROM {table} AS x USING UNNEST($1::uuid[], $2::uuid[]) AS v(card_id, board_id) \
                 WHERE x.card_id = v.card_id AND x.board_id = v.board_id"
            ))
            .bind(&ids)
            .bind(&boards)
            .execute(&mut **tx)
            .await?;
        }
        let assignees: Vec<(&Card, Uuid)> = cards
            .iter()
            .flat_map(|c| c.assignees.iter().map(move |u| (*c, *u)))
            .collect();
        if !assignees.is_empty() {
            sqlx::query(
                "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[])",
            )
            .bind(assignees.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
            .bind(
                assignees
                    .iter()
                    .map(|(c, _)| c.board_id)
                    .collect::<Vec<_>>(),
            )
            .bind(assignees.iter().map(|(c, _)| c.id).collect::<Vec<_>>())
            .bind(assignees.iter().map(|(_, u)| *u).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await
            .map_err(|e| map_err(e, "assignee"))?;
        }
        let items: Vec<(&Card, &ChecklistItem)> = cards
            .iter()
            .flat_map(|c| c.checklist.iter().map(move |i| (*c, i)))
            .collect();
        if !items.is_empty() {
            sqlx::query(
                "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) \
                 SELECT i, o, b, c, ti, d, p, $8, $8 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
                 $5::text[], $6::bool[], $7::text[]) AS v(i, o, b, c, ti, d, p)",
            )
            .bind(items.iter().map(|(_, i)| i.id).collect::<Vec<_>>())
            .bind(items.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
            .bind(items.iter().map(|(c, _)| c.board_id).collect::<Vec<_>>())
            .bind(items.iter().map(|(c, _)| c.id).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.title.as_str()).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.done).collect::<Vec<_>>())
            .bind(items.iter().map(|(_, i)| i.position.as_str()).collect::<Vec<_>>())
            .bind(t)
            .execute(&mut **tx)
            .await
            .map_err(|e| map_err(e, "checklist item"))?;
        }
        let comments: Vec<(&Card, &Comment)> = cards
            .iter()
            .flat_map(|c| c.comments.iter().map(move |m| (*c, m)))
            .collect();
        if !comments.is_empty() {
            sqlx::query(
                "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) \
                 SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], \
                 $7::jsonb[], $8::timestamptz[]) ON CONFLICT (id) DO NOTHING",
            )
            .bind(comments.iter().map(|(_, m)| m.id).collect::<Vec<_>>())
            .bind(comments.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
            .bind(comments.iter().map(|(c, _)| c.board_id).collect::<Vec<_>>())
            .bind(comments.iter().map(|(c, _)| c.id).collect::<Vec<_>>())
            .bind(comments.iter().map(|(_, m)| m.author_id).collect::<Vec<_>>())
            .bind(comments.iter().map(|(_, m)| m.body.as_str()).collect::<Vec<_>>())
            .bind(comments.iter().map(|(_, m)| Json(&m.mentions)).collect::<Vec<_>>())
            .bind(comments.iter().map(|(_, m)| m.created_at).collect::<Vec<_>>())
            .execute(&mut **tx)
            .await
            .map_err(|e| map_err(e, "comment"))?;
        }
        Ok(())
    }
}
