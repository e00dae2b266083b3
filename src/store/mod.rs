//! Durable state behind one trait, so the server runs on Postgres in production and on an
//! embedded SQLite file with no services at all. Both implementations come from one body of
//! SQL (see `sql.rs`) and the same conformance suite (`tests/store_conformance/`) runs on
//! both.

/// Applies a partial update to a row read back: each named field the patch sets (`Some`)
/// replaces the row's (`Some(None)` clears a nullable one), the others stay.
macro_rules! apply_patch {
    ($row:expr, $patch:expr; $($field:ident),*) => {
        $(if let Some(v) = $patch.$field {
            $row.$field = v;
        })*
    };
}

mod audit;
mod json_text;
mod models;
mod prefs;
mod sql;
mod webhooks;

pub use audit::*;
pub use json_text::JsonText;

pub use models::*;
pub use prefs::NotificationPrefs;
pub use sql::{PgStore, SqliteStore};
pub use webhooks::*;

use async_trait::async_trait;
use boardroom_protocol::Role;
use chrono::{DateTime, Utc};
use std::sync::Arc;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique key is already taken (an email, a client-made id, a token hash).
    #[error("conflict: {0}")]
    Conflict(String),
    /// A row refers to another that does not exist (in this organization).
    #[error("invalid reference: {0}")]
    InvalidReference(String),
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub type DynStore = Arc<dyn Store>;

/// SQLite's `synchronous` pragma, the one durability knob of the embedded store (in WAL
/// mode): `Full` syncs the log at every commit, so a committed transaction survives power
/// loss; `Normal` syncs only at checkpoints, so it survives a crash or kill of the process but
/// the last commits may be lost with the machine's power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteSync {
    Full,
    Normal,
}

impl SqliteSync {
    pub fn as_str(self) -> &'static str {
        match self {
            SqliteSync::Full => "full",
            SqliteSync::Normal => "normal",
        }
    }
}

#[async_trait]
/// `AuditStore` lives in `audit.rs`; every store is one.
pub trait Store: AuditStore + Send + Sync + 'static {
    /// Which backend this is, for logs and `/readyz`.
    fn backend(&self) -> &'static str;
    async fn ping(&self) -> StoreResult<()>;
    /// SQLite: the `synchronous` mode its connections run with, read back from one of them
    /// (what an ack promises, for `/readyz`). None on Postgres.
    async fn sqlite_synchronous(&self) -> StoreResult<Option<&'static str>>;
    async fn migrate(&self) -> StoreResult<()>;
    /// Outbound webhooks' endpoints, cursors and deliveries (`webhooks.rs`).
    fn webhooks(&self) -> &dyn WebhookStore;

    // Organizations and users.
    async fn count_orgs(&self) -> StoreResult<i64>;
    async fn create_org_with_owner(&self, name: &str, owner: NewUser) -> StoreResult<(Org, User)>;
    async fn get_org(&self, org_id: Uuid) -> StoreResult<Option<Org>>;
    async fn get_user(&self, user_id: Uuid) -> StoreResult<Option<User>>;
    async fn find_user_by_email(&self, email: &str) -> StoreResult<Option<User>>;
    /// Active memberships only: a deactivated member has no business in that org any more.
    async fn memberships_of(&self, user_id: Uuid) -> StoreResult<Vec<MembershipInfo>>;

    // Members.
    async fn create_member(&self, org_id: Uuid, user: NewUser, role: Role) -> StoreResult<Member>;
    async fn list_members(&self, org_id: Uuid) -> StoreResult<Vec<Member>>;
    async fn get_member(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<Option<Member>>;
    async fn set_member_role(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        role: Role,
    ) -> StoreResult<Option<Member>>;
    async fn deactivate_member(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<bool>;

    // Customers.
    async fn create_customer(&self, c: NewCustomer) -> StoreResult<Customer>;
    async fn list_customers(&self, org_id: Uuid) -> StoreResult<Vec<Customer>>;
    async fn get_customer(&self, org_id: Uuid, id: Uuid) -> StoreResult<Option<Customer>>;
    async fn update_customer(
        &self,
        org_id: Uuid,
        id: Uuid,
        patch: CustomerPatch,
    ) -> StoreResult<Option<Customer>>;
    async fn delete_customer(&self, org_id: Uuid, id: Uuid) -> StoreResult<bool>;
    /// The customer record a customer user is, if any.
    async fn customer_of_user(&self, org_id: Uuid, user_id: Uuid) -> StoreResult<Option<Uuid>>;

    // Boards and their content.
    async fn create_board(&self, b: NewBoard) -> StoreResult<Board>;
    async fn get_board(&self, board_id: Uuid) -> StoreResult<Option<Board>>;
    async fn list_boards(&self, org_id: Uuid, filter: BoardFilter) -> StoreResult<Vec<Board>>;
    async fn archive_board(&self, org_id: Uuid, board_id: Uuid) -> StoreResult<Option<Board>>;
    async fn create_card(&self, card: &Card) -> StoreResult<()>;
    async fn list_cards(&self, board_id: Uuid) -> StoreResult<Vec<Card>>;
    async fn card_location(&self, card_id: Uuid) -> StoreResult<Option<CardLocation>>;

    // API keys.
    async fn create_api_key(&self, k: NewApiKey) -> StoreResult<ApiKey>;
    async fn list_api_keys(&self, org_id: Uuid) -> StoreResult<Vec<ApiKey>>;
    async fn find_api_key(&self, key_hash: &[u8]) -> StoreResult<Option<ApiKey>>;
    async fn revoke_api_key(&self, org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn touch_api_key(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// A member's notification preferences in an org (all on when never set).
    async fn notification_prefs(
        &self,
        org_id: Uuid,
        user_id: Uuid,
    ) -> StoreResult<NotificationPrefs>;
    /// Replaces them; `InvalidReference` when the user is not a member of the org.
    async fn set_notification_prefs(
        &self,
        org_id: Uuid,
        user_id: Uuid,
        prefs: &NotificationPrefs,
    ) -> StoreResult<NotificationPrefs>;
    /// Every member's preferences that were ever set, for the org's live boards.
    async fn org_notification_prefs(
        &self,
        org_id: Uuid,
    ) -> StoreResult<Vec<(Uuid, NotificationPrefs)>>;

    // Refresh tokens.
    async fn insert_refresh_token(&self, t: &RefreshToken, token_hash: &[u8]) -> StoreResult<()>;
    async fn find_refresh_token(&self, token_hash: &[u8]) -> StoreResult<Option<RefreshToken>>;
    /// Marks a token spent. Returns false when it was already spent or revoked, so two
    /// concurrent refreshes with one token cannot both win.
    async fn spend_refresh_token(&self, id: Uuid, at: DateTime<Utc>) -> StoreResult<bool>;
    async fn revoke_refresh_family(&self, family_id: Uuid, at: DateTime<Utc>) -> StoreResult<()>;
    /// Whether a login (refresh-token family) was revoked: its access tokens are void too.
    async fn refresh_family_revoked(&self, family_id: Uuid) -> StoreResult<bool>;

    // Share links.
    async fn create_share_link(&self, l: NewShareLink) -> StoreResult<ShareLink>;
    async fn find_share_link(&self, token_hash: &[u8]) -> StoreResult<Option<ShareLink>>;
    async fn get_share_link(&self, id: Uuid) -> StoreResult<Option<ShareLink>>;
    /// The org's share links (of one card, when given), newest first, with their card's
    /// title. At most `limit`.
    async fn list_share_links(
        &self,
        org_id: Uuid,
        card_id: Option<Uuid>,
        limit: i64,
    ) -> StoreResult<Vec<(ShareLink, String)>>;
    async fn revoke_share_link(
        &self,
        org_id: Uuid,
        id: Uuid,
        at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    // The write-behind and the event log.
    /// Writes many boards' changes in one transaction. A board whose epoch in the database
    /// is no longer `commit.epoch` (another writer took it over) is skipped, and its id
    /// returned: its writer has been fenced off and must step down.
    async fn commit_batch(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>>;
    /// Takes ownership of a board: raises its epoch and returns (epoch, last_seq).
    async fn claim_board(&self, board_id: Uuid) -> StoreResult<Option<(i64, i64)>>;
    /// Like `claim_board`, with the new epoch at least `floor` (a cluster's fencing token
    /// from Redis): returns (epoch, last_seq).
    async fn claim_board_at_least(
        &self,
        board_id: Uuid,
        floor: i64,
    ) -> StoreResult<Option<(i64, i64)>>;
    /// The board's events with seq > `after_seq`, oldest first, at most `limit`.
    async fn events_after(
        &self,
        board_id: Uuid,
        after_seq: i64,
        limit: i64,
    ) -> StoreResult<Vec<EventRecord>>;
    async fn applied_op(&self, board_id: Uuid, op_id: Uuid) -> StoreResult<Option<AppliedOp>>;
    /// The newest `limit` applied ops of a board, newest first (idempotency after a restart).
    async fn recent_applied_ops(&self, board_id: Uuid, limit: i64) -> StoreResult<Vec<AppliedOp>>;

    // Notifications.
    /// Newest first; with `before`, only those older than that `(created_at, id)` (the cursor
    /// of the previous page).
    async fn list_notifications(
        &self,
        user_id: Uuid,
        unread_only: bool,
        before: Option<(DateTime<Utc>, Uuid)>,
        limit: i64,
    ) -> StoreResult<Vec<Notification>>;
    /// How many notifications the user has (only unread ones with `unread_only`).
    async fn count_notifications(&self, user_id: Uuid, unread_only: bool) -> StoreResult<i64>;
    async fn unread_count(&self, user_id: Uuid) -> StoreResult<i64>;
    /// Marks the given notifications (or all, when `ids` is None) read; returns the unread count.
    async fn mark_read(
        &self,
        user_id: Uuid,
        ids: Option<&[Uuid]>,
        at: DateTime<Utc>,
    ) -> StoreResult<i64>;
}

/// Opens the store a database URL names: `postgres://…` or `sqlite:…` (SQLite with
/// `synchronous = FULL`).
pub async fn open(url: &str, max_connections: u32) -> StoreResult<DynStore> {
    open_with(url, max_connections, SqliteSync::Full).await
}

/// `open`, with SQLite's `synchronous` mode chosen.
pub async fn open_with(
    url: &str,
    max_connections: u32,
    sqlite_sync: SqliteSync,
) -> StoreResult<DynStore> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, sqlite_sync).await?))
    } else {
        Err(StoreError::Database(sqlx::Error::Configuration(
            format!("unsupported database URL {url:?}: expected postgres://… or sqlite:…").into(),
        )))
    }
}

/// A fresh UUIDv7: time-ordered, so new rows land at the end of the primary key index.
pub fn new_id() -> Uuid {
    Uuid::now_v7()
}
