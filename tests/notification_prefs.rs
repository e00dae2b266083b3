//! Issue 13.4, notification preferences per org membership, end to end on SQLite and
//! Postgres: `GET/PUT /api/v1/orgs/{org}/me/notification-preferences`, honoured live (no push
//! for a muted kind or board, on the socket that was open before the change) and in the unread
//! count (a muted notification is not created at all).

mod common;

use boardroom_protocol::*;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

fn prefs_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/me/notification-preferences")
}

/// A card titled `title` made by the owner in `col` of `board`, assigned to `m` (which tells
/// them, unless they muted it); its id.
async fn assigned(org: &Org, board: Uuid, col: Uuid, title: &str, m: &Member) -> Value {
    let card = json!({"column_id": col, "title": title, "assignees": [m.id]});
    op_ok(&org.owner, board, "card.create", card).await["id"].clone()
}

async fn muted_kinds_and_boards_are_not_pushed_nor_counted(db: &str) {
    let (server, org) = server_with_org_on(db, "Prefs", &[]).await;
    let (a_id, a_col) = board_and_column(&org, "A").await;
    let (b_id, b_col) = board_and_column(&org, "B").await;
    let m = add_member(&server, &org.owner, &org.id, "member").await;
    let path = prefs_path(&org.id);

    // Never set: everything on.
    let (s, p) = m.api.get(&path).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(
        p["kinds"],
        json!(["card.assigned", "mention", "job.status"])
    );
    assert_eq!(p["muted_boards"], json!([]));
    assert_eq!(p["updated_at"], Value::Null);

    // The member's socket is open (and board A live) before any change: no reconnect later.
    let mut ws = Ws::welcomed(&server.base, m.api.token.as_deref().unwrap()).await;
    assigned(&org, a_id, a_col, "warm-up", &m).await;
    let n = ws.notification().await;
    assert_eq!(n.notification.kind, NotificationKind::CardAssigned);
    assert_eq!(n.unread, 1);

    // Mute "assigned".
    let (s, p) = m
        .api
        .put(
            &path,
            json!({"kinds": ["mention", "job.status"], "muted_boards": []}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["kinds"], json!(["mention", "job.status"]));
    assert_time(&p["updated_at"]);
    let (_, again) = m.api.get(&path).await;
    assert_eq!(again["kinds"], p["kinds"], "{again}");

    // An assignment now makes nothing; a mention after it does, and is the next frame.
    let card_id = assigned(&org, a_id, a_col, "muted kind", &m).await;
    op_ok(
        &org.owner,
        a_id,
        "comment.add",
        json!({"card_id": card_id, "body": "look", "mentions": [m.id]}),
    )
    .await;
    let n = ws.notification().await;
    assert_eq!(
        n.notification.kind,
        NotificationKind::Mention,
        "a muted kind was pushed"
    );
    assert_eq!(n.unread, 2, "a muted notification was counted");

    // Mute board B instead (every kind back on): B says nothing, A still does.
    let (s, p) = m
        .api
        .put(&path, json!({"kinds": ["card.assigned", "mention", "job.status"], "muted_boards": [b_id, b_id]})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["muted_boards"], json!([b_id]), "kept once");
    assigned(&org, b_id, b_col, "muted board", &m).await;
    assigned(&org, a_id, a_col, "heard", &m).await;
    let n = ws.notification().await;
    assert_eq!(n.notification.board_id, a_id, "a muted board was pushed");
    assert_eq!(n.notification.kind, NotificationKind::CardAssigned);
    assert_eq!(n.unread, 3);
    assert!(
        ws.quiet(Duration::from_millis(300))
            .await
            .is_none_or(|f| !matches!(f, ServerFrame::Notification(_))),
        "more notifications than expected"
    );

    // The list and unread count agree: nothing of a muted kind or board was stored.
    let (s, l) = m.api.get("/api/v1/notifications").await;
    assert_eq!(s, 200, "{l}");
    assert_eq!(l["unread"], 3, "{l}");
    let list = l["notifications"].as_array().unwrap();
    assert_eq!(list.len(), 3, "{l}");
    assert!(!list.iter().any(|n| n["board_id"] == json!(b_id)), "{l}");

    // Preferences are per membership: the owner's are untouched.
    let (_, o) = org.owner.get(&path).await;
    assert_eq!(o["muted_boards"], json!([]));

    // Bad input, keys and outsiders.
    let e = expect_error(
        &m.api
            .put(
                &path,
                json!({"kinds": ["card.assigned", "gossip"], "muted_boards": []}),
            )
            .await,
        400,
        "bad_request",
    );
    assert!(
        e["field"].as_str().is_some_and(|f| f.starts_with("kinds")),
        "{e}"
    );
    expect_bad_field(
        &m.api
            .put(
                &path,
                json!({"kinds": [], "muted_boards": [Uuid::now_v7()]}),
            )
            .await,
        "muted_boards",
    );
    expect_bad_field(
        &m.api.put(&path, json!({"kinds": []})).await,
        "muted_boards",
    );
    let (_, still) = m.api.get(&path).await;
    assert_eq!(
        still["muted_boards"],
        json!([b_id]),
        "a refused PUT changed them"
    );
    let k = org
        .create("api-keys", json!({"name": "bot", "role": "admin"}))
        .await;
    let bot = server.api().with_token(k["key"].as_str().unwrap());
    expect_forbidden(&bot.get(&path).await);
    let other = new_org(&server, "Elsewhere").await;
    expect_error(&other.owner.get(&path).await, 404, "not_found");
    expect_error(
        &other
            .owner
            .put(&path, json!({"kinds": [], "muted_boards": []}))
            .await,
        404,
        "not_found",
    );
}

on_both_stores!(
    muted_kinds_and_boards_are_not_pushed_nor_counted_on_sqlite,
    muted_kinds_and_boards_are_not_pushed_nor_counted_on_postgres,
    muted_kinds_and_boards_are_not_pushed_nor_counted
);
