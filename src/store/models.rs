//! The rows the store hands out. Plain data: the store does no authorization, callers ask
//! `actors::policy` first.

use boardroom_protocol::Role;
use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Org {
    pub id: Uuid,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub password_hash: String,
    pub created_at: DateTime<Utc>,
}

/// A user as seen from one organization. Read straight from a row (the role by its name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Member {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    #[sqlx(try_from = "super::sql::RoleName")]
    pub role: Role,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct MembershipInfo {
    pub org_id: Uuid,
    pub org_name: String,
    #[sqlx(try_from = "super::sql::RoleName")]
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Customer {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    /// Where the work is done (free text, as people write addresses).
    pub address: Option<String>,
    pub user_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewCustomer {
    pub org_id: Uuid,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub user_id: Option<Uuid>,
}

/// A partial update: `None` leaves a field alone, `Some(None)` clears a nullable one.
#[derive(Debug, Clone, Default)]
pub struct CustomerPatch {
    pub name: Option<String>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub address: Option<Option<String>>,
    pub user_id: Option<Option<Uuid>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Template {
    Kanban,
    Jobs,
}

impl Template {
    pub fn as_str(self) -> &'static str {
        match self {
            Template::Kanban => "kanban",
            Template::Jobs => "jobs",
        }
    }

    pub fn parse(s: &str) -> Option<Template> {
        match s {
            "kanban" => Some(Template::Kanban),
            "jobs" => Some(Template::Jobs),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Column {
    pub id: Uuid,
    pub name: String,
    pub position: String,
    pub is_done: bool,
    /// `#rrggbb` or None.
    pub color: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Board {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub template: Template,
    pub archived: bool,
    pub epoch: i64,
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub columns: Vec<Column>,
}

#[derive(Debug, Clone)]
pub struct NewBoard {
    pub org_id: Uuid,
    pub name: String,
    pub template: Template,
    pub columns: Vec<Column>,
}

/// Which boards a boards list shows: full-view roles see all, filtered roles only boards
/// holding a card they may see.
#[derive(Debug, Clone, Copy)]
pub enum BoardFilter {
    All,
    AssignedTo(Uuid),
    OfCustomer(Uuid),
    Nothing,
}

/// A checklist item is stored exactly as the protocol carries it.
pub use boardroom_protocol::ChecklistItem;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comment {
    pub id: Uuid,
    pub author_id: Option<Uuid>,
    pub body: String,
    pub mentions: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Card {
    pub id: Uuid,
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub column_id: Uuid,
    pub position: String,
    pub title: String,
    pub description: String,
    pub assignees: Vec<Uuid>,
    pub customer_id: Option<Uuid>,
    pub labels: Vec<String>,
    pub due_at: Option<DateTime<Utc>>,
    /// `low`, `normal`, `high`, `urgent`, or None (the protocol's `Priority`, as stored).
    pub priority: Option<String>,
    pub estimate_minutes: Option<i32>,
    pub checklist: Vec<ChecklistItem>,
    pub comments: Vec<Comment>,
    pub version: i64,
    pub archived: bool,
}

/// Where a card lives, for checks that start from a card id (share links).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CardLocation {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub card_id: Uuid,
    pub assignees: Vec<Uuid>,
    pub customer_id: Option<Uuid>,
}

/// Read straight from a row: the role by its name, the board scope as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    #[sqlx(try_from = "super::sql::RoleName")]
    pub role: Role,
    pub prefix: String,
    #[sqlx(json(nullable))]
    pub boards: Option<Vec<Uuid>>,
    pub created_by: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub org_id: Uuid,
    pub name: String,
    pub role: Role,
    pub key_hash: Vec<u8>,
    pub prefix: String,
    pub boards: Option<Vec<Uuid>>,
    pub created_by: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct RefreshToken {
    pub id: Uuid,
    pub user_id: Uuid,
    pub family_id: Uuid,
    pub expires_at: DateTime<Utc>,
    pub spent_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Its columns map one to one, so it is read straight from a row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ShareLink {
    pub id: Uuid,
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub card_id: Uuid,
    pub created_by: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct NewShareLink {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub card_id: Uuid,
    pub token_hash: Vec<u8>,
    pub created_by: Uuid,
    pub expires_at: Option<DateTime<Utc>>,
}

/// One event of a board's log, as stored. `data` and `actor` are the wire JSON, so the log
/// replays into exactly the frames clients saw. Read straight from a `board_events` row.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct EventRecord {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub epoch: i64,
    pub seq: i64,
    pub op_id: Uuid,
    pub kind: String,
    pub data: super::JsonText,
    pub actor: super::JsonText,
    pub at: DateTime<Utc>,
    /// The client's address (audit log); not part of the wire event. Read only where it may
    /// be shown (the audit log); elsewhere the query leaves it out.
    #[sqlx(default)]
    pub ip: Option<String>,
}

/// A row the write-behind brings up to date. Cards and columns are written whole (their
/// state after the op), which is what lets a batch keep only the last change of each row.
#[derive(Debug, Clone, PartialEq)]
pub enum RowChange {
    UpsertColumn {
        org_id: Uuid,
        board_id: Uuid,
        column: Column,
    },
    DeleteColumn {
        board_id: Uuid,
        column_id: Uuid,
    },
    UpsertCard(Box<Card>),
}

impl RowChange {
    /// Rows with the same key within one batch coalesce: only the last one is written.
    pub fn key(&self) -> (u8, Uuid) {
        match self {
            RowChange::UpsertColumn { column, .. } => (0, column.id),
            RowChange::DeleteColumn { column_id, .. } => (0, *column_id),
            RowChange::UpsertCard(c) => (1, c.id),
        }
    }
}

/// The idempotency record of one applied op: what a retry with the same `op_id` gets back.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppliedOp {
    pub op_id: Uuid,
    /// The principal that sent the op (`None` on rows from before it was kept).
    pub principal_id: Option<Uuid>,
    pub epoch: i64,
    pub seq: i64,
    pub result_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub id: Uuid,
    #[serde(skip)]
    pub org_id: Uuid,
    #[serde(skip)]
    pub user_id: Uuid,
    pub kind: String,
    pub board_id: Option<Uuid>,
    pub card_id: Option<Uuid>,
    pub title: String,
    pub body: String,
    pub actor: serde_json::Value,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// Everything one board hands to one group commit.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoardCommit {
    pub org_id: Uuid,
    pub board_id: Uuid,
    /// The epoch the writer holds; the commit is refused when the board has moved past it.
    pub epoch: i64,
    pub events: Vec<EventRecord>,
    pub ops: Vec<AppliedOp>,
    pub changes: Vec<RowChange>,
    pub notifications: Vec<Notification>,
}
