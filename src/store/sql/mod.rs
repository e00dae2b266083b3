//! The SQL behind both stores. Postgres and SQLite accept the same statements here (numbered
//! `$n` parameters, `RETURNING`, `ON CONFLICT`), and sqlx maps the same Rust types onto both
//! (UUID -> `uuid` / 16-byte BLOB, timestamps -> `timestamptz` / RFC 3339 text, JSON ->
//! `jsonb` / text), so one body of code keeps the two from drifting apart: each file below
//! holds one entity's SQL as a macro stamped into a `pg` and a `sqlite` module, and
//! `store_impl!` forwards the `Store` trait to them. Only the group commit differs
//! (`commit/pg.rs`, `commit/sqlite.rs`).

use super::*;
use chrono::DurationRound;
use sqlx::types::Json;
use std::collections::HashMap;

mod api_keys;
mod boards;
mod commit;
mod connect;
mod customers;
mod events;
pub(super) mod insert;
mod members;
mod orgs;
mod share_links;
pub(super) mod stamp;

pub use connect::{PgStore, SqliteStore};

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

/// A role as stored: its name. Rows read their role through it
/// (`#[sqlx(try_from = "RoleName")]`), so that a name no role has fails the read.
#[derive(sqlx::Type)]
#[sqlx(transparent)]
pub(in crate::store) struct RoleName(String);

impl TryFrom<RoleName> for Role {
    type Error = boardroom_protocol::UnknownRole;
    fn try_from(name: RoleName) -> Result<Role, Self::Error> {
        name.0.parse()
    }
}

/// One `impl Store` per backend. `async_trait` must see every method in one impl block, so
/// the methods are listed here as `file: method(args) -> output`, each forwarded to the
/// function of that name in the file's backend module (`$m`: `pg` or `sqlite`); a method
/// missing from its file is a compile error, never a silent recursion into the trait.
macro_rules! forward_store {
    ($Store:ident, $m:ident, $backend:literal, $migrator:expr;
     $($file:ident: $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {
        #[async_trait]
        impl Store for $Store {
            fn backend(&self) -> &'static str {
                $backend
            }

            async fn ping(&self) -> StoreResult<()> {
                sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn migrate(&self) -> StoreResult<()> {
                $migrator.run(&self.pool).await?;
                Ok(())
            }

            fn webhooks(&self) -> &dyn super::WebhookStore {
                self
            }

            /// The one method on the write-behind's own connections (see `connect.rs`).
            async fn commit_batch(&self, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
                commit::$m::commit_batch(&self.writer, commits).await
            }

            $(
                async fn $name(&self, $($arg: $ty),*) -> StoreResult<$out> {
                    $file::$m::$name(&self.pool, $($arg),*).await
                }
            )*
        }
    };
}

macro_rules! store_impl {
    ($Store:ident, $m:ident, $backend:literal, $migrator:expr) => {
        forward_store! { $Store, $m, $backend, $migrator;
            connect: sqlite_synchronous() -> Option<&'static str>;

            orgs: count_orgs() -> i64;
            orgs: create_org_with_owner(name: &str, owner: NewUser) -> (Org, User);
            orgs: get_org(org_id: Uuid) -> Option<Org>;
            orgs: get_user(user_id: Uuid) -> Option<User>;
            orgs: find_user_by_email(email: &str) -> Option<User>;
            orgs: memberships_of(user_id: Uuid) -> Vec<MembershipInfo>;

            members: create_member(org_id: Uuid, user: NewUser, role: Role) -> Member;
            members: list_members(org_id: Uuid) -> Vec<Member>;
            members: get_member(org_id: Uuid, user_id: Uuid) -> Option<Member>;
            members: set_member_role(org_id: Uuid, user_id: Uuid, role: Role) -> Option<Member>;
            members: deactivate_member(org_id: Uuid, user_id: Uuid) -> bool;

            customers: create_customer(c: NewCustomer) -> Customer;
            customers: list_customers(org_id: Uuid) -> Vec<Customer>;
            customers: get_customer(org_id: Uuid, id: Uuid) -> Option<Customer>;
            customers: update_customer(org_id: Uuid, id: Uuid, patch: CustomerPatch) -> Option<Customer>;
            customers: delete_customer(org_id: Uuid, id: Uuid) -> bool;
            customers: customer_of_user(org_id: Uuid, user_id: Uuid) -> Option<Uuid>;

            boards: create_board(b: NewBoard) -> Board;
            boards: get_board(board_id: Uuid) -> Option<Board>;
            boards: list_boards(org_id: Uuid, filter: BoardFilter) -> Vec<Board>;
            boards: archive_board(org_id: Uuid, board_id: Uuid) -> Option<Board>;
            boards: claim_board(board_id: Uuid) -> Option<(i64, i64)>;
            boards: claim_board_at_least(board_id: Uuid, floor: i64) -> Option<(i64, i64)>;

            boards: create_card(card: &Card) -> ();
            boards: list_cards(board_id: Uuid) -> Vec<Card>;
            boards: card_location(card_id: Uuid) -> Option<CardLocation>;

            api_keys: create_api_key(k: NewApiKey) -> ApiKey;
            api_keys: list_api_keys(org_id: Uuid) -> Vec<ApiKey>;
            api_keys: find_api_key(key_hash: &[u8]) -> Option<ApiKey>;
            api_keys: revoke_api_key(org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> bool;
            api_keys: touch_api_key(id: Uuid, at: DateTime<Utc>) -> ();

            members: notification_prefs(org_id: Uuid, user_id: Uuid) -> NotificationPrefs;
            members: set_notification_prefs(org_id: Uuid, user_id: Uuid, prefs: &NotificationPrefs) -> NotificationPrefs;
            members: org_notification_prefs(org_id: Uuid) -> Vec<(Uuid, NotificationPrefs)>;

            orgs: insert_refresh_token(t: &RefreshToken, token_hash: &[u8]) -> ();
            orgs: find_refresh_token(token_hash: &[u8]) -> Option<RefreshToken>;
            orgs: spend_refresh_token(id: Uuid, at: DateTime<Utc>) -> bool;
            orgs: revoke_refresh_family(family_id: Uuid, at: DateTime<Utc>) -> ();
            orgs: refresh_family_revoked(family_id: Uuid) -> bool;

            share_links: create_share_link(l: NewShareLink) -> ShareLink;
            share_links: find_share_link(token_hash: &[u8]) -> Option<ShareLink>;
            share_links: get_share_link(id: Uuid) -> Option<ShareLink>;
            share_links: list_share_links(org_id: Uuid, card_id: Option<Uuid>, limit: i64) -> Vec<(ShareLink, String)>;
            share_links: revoke_share_link(org_id: Uuid, id: Uuid, at: DateTime<Utc>) -> bool;

            events: events_after(board_id: Uuid, after_seq: i64, limit: i64) -> Vec<EventRecord>;
            events: applied_op(board_id: Uuid, op_id: Uuid) -> Option<AppliedOp>;
            events: recent_applied_ops(board_id: Uuid, limit: i64) -> Vec<AppliedOp>;

            events: list_notifications(user_id: Uuid, unread_only: bool, before: Option<(DateTime<Utc>, Uuid)>, limit: i64) -> Vec<Notification>;
            events: count_notifications(user_id: Uuid, unread_only: bool) -> i64;
            events: unread_count(user_id: Uuid) -> i64;
            events: mark_read(user_id: Uuid, ids: Option<&[Uuid]>, at: DateTime<Utc>) -> i64;
        }
    };
}

store_impl!(
    PgStore,
    pg,
    "postgres",
    sqlx::migrate!("migrations/postgres")
);
store_impl!(
    SqliteStore,
    sqlite,
    "sqlite",
    sqlx::migrate!("migrations/sqlite")
);
