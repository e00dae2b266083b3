//! The store conformance suite: the same cases against Postgres (a fresh database per test)
//! and SQLite (a fresh file per test). A backend passes when it behaves exactly like the other.

#[path = "../common/mod.rs"]
mod common;

use boardroom::realtime::convert::card_to_row;
use boardroom::store::*;
use boardroom::templates::default_columns;
use boardroom_protocol::Role;
use chrono::{DurationRound, Utc};
use uuid::Uuid;

mod accounts;
mod boards;
mod credentials;
mod events;
mod group_commit;
use accounts::*;
use boards::*;
use credentials::*;
use events::*;
use group_commit::*;

pub(crate) struct Backend {
    pub(crate) store: DynStore,
    pub(crate) _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn postgres() -> Backend {
    let url = common::fresh_pg_url().await;
    let store = open(&url, 4).await.expect("open postgres");
    store.migrate().await.expect("migrate postgres");
    Backend { store, _dir: None }
}

pub(crate) async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("t.db").display());
    let store = open(&url, 4).await.expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    Backend {
        store,
        _dir: Some(dir),
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod on_postgres {
            $( #[tokio::test] async fn $case() { let b = super::postgres().await; super::$case(&b.store).await } )*
        }
        mod on_sqlite {
            $( #[tokio::test] async fn $case() { let b = super::sqlite().await; super::$case(&b.store).await } )*
        }
    };
}

conformance!(
    org_and_owner,
    emails_are_unique_everywhere,
    member_roles_and_deactivation,
    customers_soft_delete,
    boards_columns_and_archive,
    cards_round_trip_and_board_filters,
    cross_tenant_references_are_impossible,
    api_keys,
    refresh_token_rotation,
    share_links,
    migrate_is_idempotent,
    group_commit_coalesces_and_fences,
    claims_raise_the_epoch_to_at_least_the_floor,
    notifications_and_unread_counts,
    rows_past_one_statement_are_all_written,
    cards_only_batch_writes_whole_cards_and_fences,
    a_batch_for_a_missing_board_writes_nothing,
);

pub(crate) fn user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        name: email.split('@').next().unwrap_or("x").into(),
        password_hash: "h".into(),
    }
}

pub(crate) fn micros_now() -> chrono::DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap()
}

pub(crate) async fn org(s: &DynStore, name: &str, email: &str) -> (Org, User) {
    s.create_org_with_owner(name, user(email))
        .await
        .expect("create org")
}

pub(crate) async fn member(s: &DynStore, org: Uuid, email: &str, role: Role) -> Member {
    s.create_member(org, user(email), role)
        .await
        .expect("create member")
}

/// A customer of `org` with only a name; tests add the rest with `..`.
pub(crate) fn customer(org: Uuid, name: &str) -> NewCustomer {
    NewCustomer {
        org_id: org,
        name: name.into(),
        email: None,
        phone: None,
        address: None,
        user_id: None,
    }
}
