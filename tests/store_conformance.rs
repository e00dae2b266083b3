//! The store conformance suite: the same cases against Postgres (a fresh database per test)
//! and SQLite (a fresh file per test). A backend passes when it behaves exactly like the other.

mod common;

use boardroom::realtime::convert::card_to_row;
use boardroom::store::*;
use boardroom::templates::default_columns;
use boardroom_protocol::Role;
use chrono::{DurationRound, Utc};
use uuid::Uuid;

struct Backend {
    store: DynStore,
    _dir: Option<tempfile::TempDir>,
}

async fn postgres() -> Backend {
    let url = common::fresh_pg_url().await;
    let store = open(&url, 4).await.expect("open postgres");
    store.migrate().await.expect("migrate postgres");
    Backend { store, _dir: None }
}

async fn sqlite() -> Backend {
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

fn user(email: &str) -> NewUser {
    NewUser {
        email: email.into(),
        name: email.split('@').next().unwrap_or("x").into(),
        password_hash: "h".into(),
    }
}

fn micros_now() -> chrono::DateTime<Utc> {
    Utc::now()
        .duration_trunc(chrono::Duration::microseconds(1))
        .unwrap()
}

async fn org(s: &DynStore, name: &str, email: &str) -> (Org, User) {
    s.create_org_with_owner(name, user(email))
        .await
        .expect("create org")
}

async fn member(s: &DynStore, org: Uuid, email: &str, role: Role) -> Member {
    s.create_member(org, user(email), role)
        .await
        .expect("create member")
}

/// A customer of `org` with only a name; tests add the rest with `..`.
fn customer(org: Uuid, name: &str) -> NewCustomer {
    NewCustomer {
        org_id: org,
        name: name.into(),
        email: None,
        phone: None,
        address: None,
        user_id: None,
    }
}

async fn org_and_owner(s: &DynStore) {
    assert_eq!(s.count_orgs().await.unwrap(), 0);
    let (o, u) = org(s, "Acme", "Boss@Acme.test").await;
    assert_eq!(s.count_orgs().await.unwrap(), 1);
    assert_eq!(s.get_org(o.id).await.unwrap().unwrap(), o);
    assert_eq!(u.email, "boss@acme.test", "emails are stored lower-cased");
    let found = s
        .find_user_by_email("BOSS@acme.test")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found, u);
    assert_eq!(s.get_user(u.id).await.unwrap().unwrap(), u);
    assert_eq!(u.id.get_version_num(), 7, "UUIDv7 keys");
    let ms = s.memberships_of(u.id).await.unwrap();
    assert_eq!(
        ms,
        vec![MembershipInfo {
            org_id: o.id,
            org_name: "Acme".into(),
            role: Role::Owner
        }]
    );
    assert!(s.get_org(Uuid::now_v7()).await.unwrap().is_none());
    assert!(s.find_user_by_email("nobody@x").await.unwrap().is_none());
}

async fn emails_are_unique_everywhere(s: &DynStore) {
    let (a, _) = org(s, "A", "a@x.test").await;
    let (b, _) = org(s, "B", "b@x.test").await;
    member(s, a.id, "w@x.test", Role::Worker).await;
    let again = s.create_member(b.id, user("W@X.test"), Role::Member).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let org_again = s.create_org_with_owner("C", user("a@x.test")).await;
    assert!(matches!(org_again, Err(StoreError::Conflict(_))));
    assert_eq!(
        s.count_orgs().await.unwrap(),
        2,
        "a failed create-org leaves nothing behind"
    );
    assert_eq!(s.list_members(b.id).await.unwrap().len(), 1);
}

async fn member_roles_and_deactivation(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let m = member(s, o.id, "m@x.test", Role::Member).await;
    assert!(m.active);
    assert_eq!(s.get_member(o.id, m.id).await.unwrap().unwrap(), m);
    let list = s.list_members(o.id).await.unwrap();
    assert_eq!(
        list.iter().map(|x| x.id).collect::<Vec<_>>(),
        vec![owner.id, m.id]
    );
    let changed = s
        .set_member_role(o.id, m.id, Role::Admin)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(changed.role, Role::Admin);
    assert!(s
        .set_member_role(o.id, Uuid::now_v7(), Role::Admin)
        .await
        .unwrap()
        .is_none());
    assert!(s.deactivate_member(o.id, m.id).await.unwrap());
    assert!(
        !s.deactivate_member(o.id, m.id).await.unwrap(),
        "already deactivated"
    );
    assert!(!s.get_member(o.id, m.id).await.unwrap().unwrap().active);
    assert!(s.memberships_of(m.id).await.unwrap().is_empty());
    let (other, _) = org(s, "B", "b@x.test").await;
    assert!(s.get_member(other.id, m.id).await.unwrap().is_none());
    assert!(!s.deactivate_member(other.id, owner.id).await.unwrap());
}

async fn customers_soft_delete(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let cu = member(s, o.id, "c@x.test", Role::Customer).await;
    let c = s
        .create_customer(NewCustomer {
            email: Some("c@x.test".into()),
            address: Some("1 Main St".into()),
            user_id: Some(cu.id),
            ..customer(o.id, "Carla")
        })
        .await
        .unwrap();
    assert_eq!(s.get_customer(o.id, c.id).await.unwrap().unwrap(), c);
    assert_eq!(s.customer_of_user(o.id, cu.id).await.unwrap(), Some(c.id));
    let patched = s
        .update_customer(
            o.id,
            c.id,
            CustomerPatch {
                name: Some("Carla B".into()),
                email: Some(None),
                address: Some(Some("2 Side St".into())),
                ..Default::default()
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            patched.name.as_str(),
            patched.email.as_deref(),
            patched.address.as_deref()
        ),
        ("Carla B", None, Some("2 Side St"))
    );
    assert_eq!(s.get_customer(o.id, c.id).await.unwrap().unwrap(), patched);
    assert_eq!(s.list_customers(o.id).await.unwrap(), vec![patched]);
    assert!(s.delete_customer(o.id, c.id).await.unwrap());
    assert!(!s.delete_customer(o.id, c.id).await.unwrap());
    assert!(s.get_customer(o.id, c.id).await.unwrap().is_none());
    assert!(s.list_customers(o.id).await.unwrap().is_empty());
    assert!(s
        .update_customer(o.id, c.id, CustomerPatch::default())
        .await
        .unwrap()
        .is_none());
    assert_eq!(s.customer_of_user(o.id, cu.id).await.unwrap(), None);
    // A customer's user must be a member of the same org.
    let stranger = s
        .create_customer(NewCustomer {
            user_id: Some(Uuid::now_v7()),
            ..customer(o.id, "X")
        })
        .await;
    assert!(
        matches!(stranger, Err(StoreError::InvalidReference(_))),
        "{stranger:?}"
    );
}

async fn new_board(s: &DynStore, org_id: Uuid, template: Template) -> Board {
    s.create_board(NewBoard {
        org_id,
        name: "Jobs".into(),
        template,
        columns: default_columns(template),
    })
    .await
    .unwrap()
}

async fn boards_columns_and_archive(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let (other, _) = org(s, "B", "b@x.test").await;
    let b = new_board(s, o.id, Template::Jobs).await;
    assert_eq!((b.epoch, b.last_seq, b.archived), (0, 0, false));
    let got = s.get_board(b.id).await.unwrap().unwrap();
    assert_eq!(got, b);
    let names: Vec<_> = got.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["New", "Scheduled", "In progress", "Done"]);
    assert_eq!(
        s.list_boards(o.id, BoardFilter::All).await.unwrap(),
        vec![b.clone()]
    );
    assert!(s
        .list_boards(other.id, BoardFilter::All)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .list_boards(o.id, BoardFilter::Nothing)
        .await
        .unwrap()
        .is_empty());
    assert!(
        s.archive_board(other.id, b.id).await.unwrap().is_none(),
        "another org cannot archive it"
    );
    assert!(!s.get_board(b.id).await.unwrap().unwrap().archived);
    let archived = s.archive_board(o.id, b.id).await.unwrap().unwrap();
    assert!(archived.archived);
    assert!(s
        .list_boards(o.id, BoardFilter::All)
        .await
        .unwrap()
        .is_empty());
}

fn card(b: &Board, col: usize, title: &str) -> Card {
    let card = boardroom_protocol::Card::new(Uuid::now_v7(), b.columns[col].id, "V", title);
    card_to_row(b.org_id, b.id, &card)
}

async fn cards_round_trip_and_board_filters(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let w = member(s, o.id, "w@x.test", Role::Worker).await;
    let c = s.create_customer(customer(o.id, "C")).await.unwrap();
    let b = new_board(s, o.id, Template::Jobs).await;
    let empty = new_board(s, o.id, Template::Kanban).await;
    let full = Card {
        description: "desc".into(),
        assignees: vec![w.id],
        customer_id: Some(c.id),
        labels: vec!["urgent".into(), "ü".into()],
        due_at: Some(micros_now()),
        checklist: vec![ChecklistItem {
            id: Uuid::now_v7(),
            title: "Step".into(),
            done: true,
            position: "V".into(),
        }],
        comments: vec![Comment {
            id: Uuid::now_v7(),
            author_id: Some(owner.id),
            body: "hi @w".into(),
            mentions: vec![w.id],
            created_at: micros_now(),
        }],
        version: 3,
        priority: Some("urgent".into()),
        estimate_minutes: Some(150),
        ..card(&b, 1, "Fix it")
    };
    s.create_card(&full).await.unwrap();
    s.create_card(&card(&b, 0, "Other")).await.unwrap();
    let cards = s.list_cards(b.id).await.unwrap();
    assert_eq!(cards.len(), 2);
    assert_eq!(cards.iter().find(|x| x.id == full.id).unwrap(), &full);
    let loc = s.card_location(full.id).await.unwrap().unwrap();
    assert_eq!(
        loc,
        CardLocation {
            org_id: o.id,
            board_id: b.id,
            card_id: full.id,
            assignees: vec![w.id],
            customer_id: Some(c.id)
        }
    );
    assert!(s.card_location(Uuid::now_v7()).await.unwrap().is_none());
    let ids = |v: Vec<Board>| v.into_iter().map(|b| b.id).collect::<Vec<_>>();
    assert_eq!(
        ids(s.list_boards(o.id, BoardFilter::All).await.unwrap()),
        vec![b.id, empty.id]
    );
    assert_eq!(
        ids(s
            .list_boards(o.id, BoardFilter::AssignedTo(w.id))
            .await
            .unwrap()),
        vec![b.id]
    );
    assert_eq!(
        ids(s
            .list_boards(o.id, BoardFilter::AssignedTo(owner.id))
            .await
            .unwrap()),
        Vec::<Uuid>::new()
    );
    assert_eq!(
        ids(s
            .list_boards(o.id, BoardFilter::OfCustomer(c.id))
            .await
            .unwrap()),
        vec![b.id]
    );
    let dup = s.create_card(&full).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
}

async fn cross_tenant_references_are_impossible(s: &DynStore) {
    let (a, _) = org(s, "A", "a@x.test").await;
    let (bo, bowner) = org(s, "B", "b@x.test").await;
    let board_a = new_board(s, a.id, Template::Kanban).await;
    let board_b = new_board(s, bo.id, Template::Kanban).await;
    let cust_b = s.create_customer(customer(bo.id, "C")).await.unwrap();
    // A card in org A on a column of org B's board.
    let wrong_column = Card {
        column_id: board_b.columns[0].id,
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_column).await,
        Err(StoreError::InvalidReference(_))
    ));
    // A card of org A naming org B's customer.
    let wrong_customer = Card {
        customer_id: Some(cust_b.id),
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_customer).await,
        Err(StoreError::InvalidReference(_))
    ));
    // A card of org A assigned to a user of org B.
    let wrong_assignee = Card {
        assignees: vec![bowner.id],
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_assignee).await,
        Err(StoreError::InvalidReference(_))
    ));
    // A card claiming org B while living on org A's board.
    let wrong_org = Card {
        org_id: bo.id,
        ..card(&board_a, 0, "x")
    };
    assert!(matches!(
        s.create_card(&wrong_org).await,
        Err(StoreError::InvalidReference(_))
    ));
    assert!(
        s.list_cards(board_a.id).await.unwrap().is_empty(),
        "nothing half-written"
    );
}

async fn api_keys(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let (other, _) = org(s, "B", "b@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    let expires = micros_now() + chrono::Duration::days(3);
    let k = s
        .create_api_key(NewApiKey {
            org_id: o.id,
            name: "bot".into(),
            role: Role::Member,
            key_hash: vec![1; 32],
            prefix: "br_abc".into(),
            boards: Some(vec![b.id]),
            created_by: owner.id,
            expires_at: Some(expires),
        })
        .await
        .unwrap();
    assert_eq!(s.find_api_key(&[1; 32]).await.unwrap().unwrap(), k);
    assert!(s.find_api_key(&[2; 32]).await.unwrap().is_none());
    assert_eq!(s.list_api_keys(o.id).await.unwrap(), vec![k.clone()]);
    assert!(s.list_api_keys(other.id).await.unwrap().is_empty());
    let t = micros_now();
    s.touch_api_key(k.id, t).await.unwrap();
    assert_eq!(
        s.find_api_key(&[1; 32])
            .await
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(t)
    );
    assert!(
        !s.revoke_api_key(other.id, k.id, t).await.unwrap(),
        "another org cannot revoke it"
    );
    assert!(s.revoke_api_key(o.id, k.id, t).await.unwrap());
    assert!(!s.revoke_api_key(o.id, k.id, t).await.unwrap());
    assert_eq!(
        s.find_api_key(&[1; 32]).await.unwrap().unwrap().revoked_at,
        Some(t)
    );
    let dup = s
        .create_api_key(NewApiKey {
            org_id: o.id,
            name: "dup".into(),
            role: Role::Member,
            key_hash: vec![1; 32],
            prefix: "br_abc".into(),
            boards: None,
            created_by: owner.id,
            expires_at: None,
        })
        .await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))));
}

async fn refresh_token_rotation(s: &DynStore) {
    let (_, u) = org(s, "A", "o@x.test").await;
    let family = Uuid::now_v7();
    let first = RefreshToken {
        id: Uuid::now_v7(),
        user_id: u.id,
        family_id: family,
        expires_at: micros_now() + chrono::Duration::days(1),
        spent_at: None,
        revoked_at: None,
    };
    s.insert_refresh_token(&first, &[7; 32]).await.unwrap();
    assert_eq!(
        s.find_refresh_token(&[7; 32]).await.unwrap().unwrap(),
        first
    );
    let t = micros_now();
    assert!(s.spend_refresh_token(first.id, t).await.unwrap());
    assert!(
        !s.spend_refresh_token(first.id, t).await.unwrap(),
        "a token is spent once"
    );
    assert_eq!(
        s.find_refresh_token(&[7; 32])
            .await
            .unwrap()
            .unwrap()
            .spent_at,
        Some(t)
    );
    let second = RefreshToken {
        id: Uuid::now_v7(),
        ..first.clone()
    };
    s.insert_refresh_token(&second, &[8; 32]).await.unwrap();
    s.revoke_refresh_family(family, t).await.unwrap();
    assert_eq!(
        s.find_refresh_token(&[8; 32])
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t)
    );
    assert!(
        !s.spend_refresh_token(second.id, t).await.unwrap(),
        "a revoked token cannot be spent"
    );
}

async fn share_links(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let (other, _) = org(s, "B", "b@x.test").await;
    let b = new_board(s, o.id, Template::Jobs).await;
    let c = card(&b, 0, "job");
    s.create_card(&c).await.unwrap();
    let l = s
        .create_share_link(NewShareLink {
            org_id: o.id,
            board_id: b.id,
            card_id: c.id,
            token_hash: vec![9; 32],
            created_by: owner.id,
            expires_at: Some(micros_now()),
        })
        .await
        .unwrap();
    assert_eq!(s.find_share_link(&[9; 32]).await.unwrap().unwrap(), l);
    assert_eq!(s.get_share_link(l.id).await.unwrap().unwrap(), l);
    let t = micros_now();
    assert!(!s.revoke_share_link(other.id, l.id, t).await.unwrap());
    assert!(s.revoke_share_link(o.id, l.id, t).await.unwrap());
    assert_eq!(
        s.get_share_link(l.id).await.unwrap().unwrap().revoked_at,
        Some(t)
    );
    // A link cannot point at a card of another org.
    let cross = s
        .create_share_link(NewShareLink {
            org_id: other.id,
            board_id: b.id,
            card_id: c.id,
            token_hash: vec![10; 32],
            created_by: owner.id,
            expires_at: None,
        })
        .await;
    assert!(matches!(cross, Err(StoreError::InvalidReference(_))));
    // Listing: the org's links, newest first, with the card's title; filtered by card.
    let c2 = card(&b, 1, "second job");
    s.create_card(&c2).await.unwrap();
    let l2 = s
        .create_share_link(NewShareLink {
            org_id: o.id,
            board_id: b.id,
            card_id: c2.id,
            token_hash: vec![11; 32],
            created_by: owner.id,
            expires_at: None,
        })
        .await
        .unwrap();
    let all = s.list_share_links(o.id, None, 100).await.unwrap();
    assert_eq!(
        all.iter()
            .map(|(x, t)| (x.id, t.as_str()))
            .collect::<Vec<_>>(),
        [(l2.id, "second job"), (l.id, "job")]
    );
    assert_eq!(all[1].0.revoked_at, Some(t));
    let one = s.list_share_links(o.id, Some(c.id), 100).await.unwrap();
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].0, s.get_share_link(l.id).await.unwrap().unwrap());
    assert_eq!(s.list_share_links(o.id, None, 1).await.unwrap().len(), 1);
    assert!(s
        .list_share_links(other.id, None, 100)
        .await
        .unwrap()
        .is_empty());
}

async fn migrate_is_idempotent(s: &DynStore) {
    s.migrate().await.unwrap();
    s.ping().await.unwrap();
    let (o, _) = org(s, "A", "o@x.test").await;
    s.migrate().await.unwrap();
    assert!(s.get_org(o.id).await.unwrap().is_some());
}

fn event(b: &Board, epoch: i64, seq: i64, kind: &str) -> EventRecord {
    EventRecord {
        org_id: b.org_id,
        board_id: b.id,
        epoch,
        seq,
        op_id: Uuid::now_v7(),
        kind: kind.into(),
        data: serde_json::json!({ "n": seq }),
        actor: serde_json::json!({ "kind": "user", "id": Uuid::nil(), "name": "x" }),
        at: micros_now(),
        ip: None,
    }
}

/// A cluster claims a board with a fencing token from Redis as floor: the epoch rises to the
/// floor when the floor is ahead, and by one when the database is ahead (Redis lost its
/// counter); either way it only ever rises.
async fn claims_raise_the_epoch_to_at_least_the_floor(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    assert_eq!(s.claim_board_at_least(b.id, 7).await.unwrap(), Some((7, 0)));
    assert_eq!(s.claim_board_at_least(b.id, 1).await.unwrap(), Some((8, 0)));
    assert_eq!(s.claim_board(b.id).await.unwrap(), Some((9, 0)));
    assert_eq!(
        s.claim_board_at_least(b.id, 9).await.unwrap(),
        Some((10, 0))
    );
    assert!(s
        .claim_board_at_least(Uuid::now_v7(), 3)
        .await
        .unwrap()
        .is_none());
}

/// An org with its owner, a worker, and two boards (jobs, kanban), none claimed yet.
async fn org_worker_two_boards(s: &DynStore) -> (Org, User, Member, Board, Board) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let w = member(s, o.id, "w@x.test", Role::Worker).await;
    let b1 = new_board(s, o.id, Template::Jobs).await;
    let b2 = new_board(s, o.id, Template::Kanban).await;
    (o, owner, w, b1, b2)
}

async fn group_commit_coalesces_and_fences(s: &DynStore) {
    let (o, _, w, b1, b2) = org_worker_two_boards(s).await;
    let (e1, seq1) = s.claim_board(b1.id).await.unwrap().unwrap();
    assert_eq!((e1, seq1), (1, 0));
    let (e2, _) = s.claim_board(b2.id).await.unwrap().unwrap();
    assert!(s.claim_board(Uuid::now_v7()).await.unwrap().is_none());

    // Board 1: a new column, a card created then changed twice in the same batch.
    let col = Column {
        id: Uuid::now_v7(),
        name: "Waiting".into(),
        position: "z".into(),
        is_done: false,
        color: Some("#00aaff".into()),
    };
    let c0 = Card {
        ..card(&b1, 0, "v1")
    };
    let c1 = Card {
        title: "v2".into(),
        version: 2,
        column_id: col.id,
        assignees: vec![w.id],
        ..c0.clone()
    };
    let c2 = Card {
        title: "v3".into(),
        version: 3,
        priority: Some("low".into()),
        estimate_minutes: Some(45),
        checklist: vec![ChecklistItem {
            id: Uuid::now_v7(),
            title: "t".into(),
            done: false,
            position: "V".into(),
        }],
        ..c1.clone()
    };
    let ev1: Vec<EventRecord> = (1..=4).map(|i| event(&b1, e1, i, "card.updated")).collect();
    let op = AppliedOp {
        op_id: ev1[0].op_id,
        principal_id: Some(Uuid::now_v7()),
        epoch: e1,
        seq: 1,
        result_id: Some(c0.id),
    };
    let commit1 = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: ev1.clone(),
        ops: vec![op.clone()],
        changes: vec![
            RowChange::UpsertCard(Box::new(c0.clone())),
            RowChange::UpsertCard(Box::new(c1)),
            RowChange::UpsertColumn {
                org_id: o.id,
                board_id: b1.id,
                column: col.clone(),
            },
            RowChange::UpsertCard(Box::new(c2.clone())),
        ],
        notifications: vec![],
    };
    // Board 2 is committed with a stale epoch: fenced, nothing of it written.
    let stale = BoardCommit {
        org_id: o.id,
        board_id: b2.id,
        epoch: e2 - 1,
        events: vec![event(&b2, e2 - 1, 1, "card.created")],
        changes: vec![RowChange::UpsertCard(Box::new(card(&b2, 0, "stale")))],
        ..Default::default()
    };
    let fenced = s.commit_batch(&[commit1, stale]).await.unwrap();
    assert_eq!(fenced, vec![b2.id]);
    assert!(s.list_cards(b2.id).await.unwrap().is_empty());
    assert!(s.events_after(b2.id, 0, 10).await.unwrap().is_empty());

    let cards = s.list_cards(b1.id).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0], c2, "the last version of the card wins");
    let board = s.get_board(b1.id).await.unwrap().unwrap();
    assert_eq!(board.last_seq, 4);
    assert!(board.columns.iter().any(|c| c == &col));
    assert_eq!(s.events_after(b1.id, 0, 10).await.unwrap(), ev1);
    assert_eq!(
        s.events_after(b1.id, 2, 1).await.unwrap(),
        vec![ev1[2].clone()]
    );
    assert_eq!(s.applied_op(b1.id, op.op_id).await.unwrap(), Some(op));
    assert!(s.applied_op(b1.id, Uuid::now_v7()).await.unwrap().is_none());

    // A column deleted later disappears from the board but stays for history.
    let del = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: vec![event(&b1, e1, 5, "column.deleted")],
        changes: vec![RowChange::DeleteColumn {
            board_id: b1.id,
            column_id: b1.columns[3].id,
        }],
        ..Default::default()
    };
    assert!(s.commit_batch(&[del]).await.unwrap().is_empty());
    assert_eq!(s.get_board(b1.id).await.unwrap().unwrap().columns.len(), 4);

    // A new owner raises the epoch; the old one is fenced from then on.
    let (e1b, last) = s.claim_board(b1.id).await.unwrap().unwrap();
    assert_eq!((e1b, last), (e1 + 1, 5));
    let late = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: vec![event(&b1, e1, 6, "x")],
        ..Default::default()
    };
    assert_eq!(s.commit_batch(&[late]).await.unwrap(), vec![b1.id]);
    assert_eq!(s.events_after(b1.id, 5, 10).await.unwrap(), vec![]);
}

async fn notifications_and_unread_counts(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let w = member(s, o.id, "w@x.test", Role::Worker).await;
    let b = new_board(s, o.id, Template::Jobs).await;
    let (epoch, _) = s.claim_board(b.id).await.unwrap().unwrap();
    let n = |i: i64| Notification {
        id: Uuid::now_v7(),
        org_id: o.id,
        user_id: w.id,
        kind: "card.assigned".into(),
        board_id: Some(b.id),
        card_id: None,
        title: format!("n{i}"),
        body: "b".into(),
        actor: serde_json::json!({ "kind": "user", "id": owner.id, "name": "o" }),
        created_at: micros_now() + chrono::Duration::milliseconds(i),
        read: false,
    };
    let ns: Vec<Notification> = (0..3).map(n).collect();
    let commit = BoardCommit {
        org_id: o.id,
        board_id: b.id,
        epoch,
        notifications: ns.clone(),
        ..Default::default()
    };
    s.commit_batch(&[commit]).await.unwrap();
    assert_eq!(s.unread_count(w.id).await.unwrap(), 3);
    assert_eq!(s.unread_count(owner.id).await.unwrap(), 0);
    let listed = s.list_notifications(w.id, false, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(),
        ["n2", "n1", "n0"]
    );
    assert_eq!(listed[2], ns[0]);
    // Pages: after n2 come n1 and n0; the count says 3 on every page.
    let cursor = (listed[0].created_at, listed[0].id);
    let next = s
        .list_notifications(w.id, false, Some(cursor), 10)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(),
        ["n1", "n0"]
    );
    let last = s
        .list_notifications(w.id, false, Some((next[1].created_at, next[1].id)), 10)
        .await
        .unwrap();
    assert!(last.is_empty());
    assert_eq!(s.count_notifications(w.id, false).await.unwrap(), 3);
    assert_eq!(s.count_notifications(w.id, true).await.unwrap(), 3);
    assert_eq!(
        s.mark_read(w.id, Some(&[ns[0].id]), micros_now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.mark_read(owner.id, Some(&[ns[1].id]), micros_now())
            .await
            .unwrap(),
        0,
        "not theirs"
    );
    assert_eq!(s.unread_count(w.id).await.unwrap(), 2);
    assert_eq!(
        s.list_notifications(w.id, true, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.mark_read(w.id, None, micros_now()).await.unwrap(), 0);
    assert!(s
        .list_notifications(w.id, false, None, 10)
        .await
        .unwrap()
        .iter()
        .all(|x| x.read));
}

/// More rows than one multi-row statement takes (`ROWS_PER_STATEMENT`, 500): every one is
/// written, on the request path (`create_card`) and in the group commit.
async fn rows_past_one_statement_are_all_written(s: &DynStore) {
    const N: i64 = 1_201;
    let (o, _) = org(s, "A", "o@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    let items = |n: i64| -> Vec<ChecklistItem> {
        (0..n)
            .map(|i| ChecklistItem {
                id: Uuid::now_v7(),
                title: format!("item {i}"),
                done: i % 2 == 0,
                position: format!("{i:06}"),
            })
            .collect()
    };
    let checklist = items(N);
    let made = Card {
        checklist: checklist.clone(),
        ..card(&b, 0, "made")
    };
    s.create_card(&made).await.unwrap();
    let (epoch, _) = s.claim_board(b.id).await.unwrap().unwrap();
    let events: Vec<EventRecord> = (1..=N)
        .map(|i| event(&b, epoch, i, "card.updated"))
        .collect();
    let ops: Vec<AppliedOp> = events
        .iter()
        .map(|e| AppliedOp {
            op_id: e.op_id,
            principal_id: None,
            epoch,
            seq: e.seq,
            result_id: None,
        })
        .collect();
    let committed = Card {
        checklist: items(700),
        ..card(&b, 1, "committed")
    };
    let commit = BoardCommit {
        org_id: o.id,
        board_id: b.id,
        epoch,
        events,
        ops,
        changes: vec![RowChange::UpsertCard(Box::new(committed.clone()))],
        notifications: vec![],
    };
    assert!(s.commit_batch(&[commit]).await.unwrap().is_empty());
    assert_eq!(
        s.events_after(b.id, 0, 5_000).await.unwrap().len(),
        N as usize
    );
    assert_eq!(
        s.recent_applied_ops(b.id, 5_000).await.unwrap().len(),
        N as usize
    );
    let cards = s.list_cards(b.id).await.unwrap();
    let by_id = |id: Uuid| cards.iter().find(|c| c.id == id).expect("card written");
    assert_eq!(by_id(made.id).checklist, checklist);
    assert_eq!(by_id(committed.id).checklist, committed.checklist);
}

/// A batch of card upserts only (what Postgres commits in one call, `boardroom_group_commit`):
/// each card written whole (assignees and checklist replaced, comments added), events,
/// applied ops and notifications of live boards stored, nothing of a fenced board's.
async fn cards_only_batch_writes_whole_cards_and_fences(s: &DynStore) {
    let (o, owner, w, b1, b2) = org_worker_two_boards(s).await;
    let (e1, _) = s.claim_board(b1.id).await.unwrap().unwrap();
    let (e2, _) = s.claim_board(b2.id).await.unwrap().unwrap();
    let item = |t: &str| ChecklistItem {
        id: Uuid::now_v7(),
        title: t.into(),
        done: false,
        position: "V".into(),
    };
    let comment = |body: &str| Comment {
        id: Uuid::now_v7(),
        author_id: Some(owner.id),
        body: body.into(),
        mentions: vec![w.id],
        created_at: micros_now(),
    };
    let first = Card {
        assignees: vec![owner.id, w.id],
        checklist: vec![item("a"), item("b")],
        comments: vec![comment("c1")],
        labels: vec!["x".into()],
        customer_id: None,
        due_at: Some(micros_now()),
        priority: Some("high".into()),
        estimate_minutes: Some(30),
        ..card(&b1, 0, "v1")
    };
    let other = card(&b1, 1, "other");
    let note = Notification {
        id: Uuid::now_v7(),
        org_id: o.id,
        user_id: w.id,
        kind: "card.assigned".into(),
        board_id: Some(b1.id),
        card_id: Some(first.id),
        title: "n".into(),
        body: "b".into(),
        actor: serde_json::json!({ "kind": "user", "id": owner.id, "name": "o" }),
        created_at: micros_now(),
        read: false,
    };
    let ev: Vec<EventRecord> = (1..=3).map(|i| event(&b1, e1, i, "card.updated")).collect();
    let ops: Vec<AppliedOp> = ev
        .iter()
        .map(|e| AppliedOp {
            op_id: e.op_id,
            principal_id: Some(owner.id),
            epoch: e1,
            seq: e.seq,
            result_id: None,
        })
        .collect();
    let live = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: ev.clone(),
        ops: ops.clone(),
        changes: vec![
            RowChange::UpsertCard(Box::new(first.clone())),
            RowChange::UpsertCard(Box::new(other.clone())),
        ],
        notifications: vec![note.clone()],
    };
    let stale_ev = event(&b2, e2 - 1, 1, "card.created");
    let stale = BoardCommit {
        org_id: o.id,
        board_id: b2.id,
        epoch: e2 - 1,
        events: vec![stale_ev.clone()],
        ops: vec![AppliedOp {
            op_id: stale_ev.op_id,
            principal_id: None,
            epoch: e2 - 1,
            seq: 1,
            result_id: None,
        }],
        changes: vec![RowChange::UpsertCard(Box::new(card(&b2, 0, "stale")))],
        notifications: vec![Notification {
            id: Uuid::now_v7(),
            ..note.clone()
        }],
    };
    assert_eq!(s.commit_batch(&[live, stale]).await.unwrap(), vec![b2.id]);
    let mut cards = s.list_cards(b1.id).await.unwrap();
    cards.sort_by_key(|c| c.title.clone());
    assert_eq!(cards, vec![other.clone(), first.clone()]);
    assert_eq!(s.events_after(b1.id, 0, 10).await.unwrap(), ev);
    for op in &ops {
        assert_eq!(
            s.applied_op(b1.id, op.op_id).await.unwrap().as_ref(),
            Some(op)
        );
    }
    assert_eq!(s.get_board(b1.id).await.unwrap().unwrap().last_seq, 3);
    assert!(s.list_cards(b2.id).await.unwrap().is_empty());
    assert!(s.events_after(b2.id, 0, 10).await.unwrap().is_empty());
    assert!(s.applied_op(b2.id, stale_ev.op_id).await.unwrap().is_none());
    assert_eq!(s.get_board(b2.id).await.unwrap().unwrap().last_seq, 0);
    assert_eq!(
        s.list_notifications(w.id, false, None, 10).await.unwrap(),
        vec![note]
    );

    // Written again: an assignee and a checklist item removed, one item added, one comment
    // added (the first one stays).
    let second = Card {
        title: "v2".into(),
        version: 2,
        assignees: vec![w.id],
        checklist: vec![first.checklist[1].clone(), item("c")],
        comments: vec![first.comments[0].clone(), comment("c2")],
        ..first.clone()
    };
    let again = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: vec![event(&b1, e1, 4, "card.updated")],
        changes: vec![RowChange::UpsertCard(Box::new(second.clone()))],
        ..Default::default()
    };
    assert!(s.commit_batch(&[again]).await.unwrap().is_empty());
    let stored = s
        .list_cards(b1.id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == first.id)
        .unwrap();
    assert_eq!(stored, second);
}

/// Events and applied ops are written only for a board that exists with the writer's epoch:
/// the fence is what guards the event log (Postgres has no foreign key from it to `boards`
/// since migration 0008).
async fn a_batch_for_a_missing_board_writes_nothing(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    let (epoch, _) = s.claim_board(b.id).await.unwrap().unwrap();
    let ghost = Board {
        id: Uuid::now_v7(),
        ..b.clone()
    };
    let ev = event(&ghost, epoch, 1, "card.created");
    let op = AppliedOp {
        op_id: ev.op_id,
        principal_id: None,
        epoch,
        seq: 1,
        result_id: None,
    };
    let commit = BoardCommit {
        org_id: o.id,
        board_id: ghost.id,
        epoch,
        events: vec![ev],
        ops: vec![op.clone()],
        ..Default::default()
    };
    let real = BoardCommit {
        org_id: o.id,
        board_id: b.id,
        epoch,
        events: vec![event(&b, epoch, 1, "card.created")],
        ..Default::default()
    };
    assert_eq!(
        s.commit_batch(&[commit, real]).await.unwrap(),
        vec![ghost.id]
    );
    assert!(s.events_after(ghost.id, 0, 10).await.unwrap().is_empty());
    assert!(s.applied_op(ghost.id, op.op_id).await.unwrap().is_none());
    assert_eq!(s.events_after(b.id, 0, 10).await.unwrap().len(), 1);
}
