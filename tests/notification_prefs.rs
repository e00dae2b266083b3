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

async fn start(sqlite: bool) -> (TestServer, Option<tempfile::TempDir>) {
    if sqlite {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite:{}", dir.path().join("boardroom.db").display());
        (TestServer::start(&url, &[]).await, Some(dir))
    } else {
        (TestServer::start(&fresh_pg_url().await, &[]).await, None)
    }
}

fn prefs_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/me/notification-preferences")
}

async fn welcomed(server: &TestServer, token: &str) -> Ws {
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(token)).await;
    match ws.recv().await {
        ServerFrame::Welcome(_) => ws,
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Applies an op as `api` over HTTP; panics unless it is applied.
async fn op(api: &Api, board: &str, kind: &str, data: Value) -> Value {
    let (s, r) = api
        .post(
            &format!("/api/v1/boards/{board}/ops"),
            json!({"op_id": Uuid::now_v7(), "kind": kind, "data": data}),
        )
        .await;
    assert_eq!(s, 200, "{kind}: {r}");
    r
}

/// The next notification pushed to `ws`.
async fn next_notification(ws: &mut Ws) -> NotificationFrame {
    match ws
        .recv_until(|f| matches!(f, ServerFrame::Notification(_)))
        .await
        .0
    {
        ServerFrame::Notification(n) => n,
        _ => unreachable!(),
    }
}

async fn muted_kinds_and_boards_are_not_pushed_nor_counted(sqlite: bool) {
    let (server, _dir) = start(sqlite).await;
    let org = new_org(&server, "Prefs").await;
    let a = new_board(&org, json!({"name": "A"})).await;
    let b = new_board(&org, json!({"name": "B"})).await;
    let (a_id, b_id) = (a["id"].as_str().unwrap(), b["id"].as_str().unwrap());
    let (a_col, b_col) = (
        a["columns"][0]["id"].as_str().unwrap(),
        b["columns"][0]["id"].as_str().unwrap(),
    );
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
    let mut ws = welcomed(&server, m.api.token.as_deref().unwrap()).await;
    op(
        &org.owner,
        a_id,
        "card.create",
        json!({"column_id": a_col, "title": "warm-up", "assignees": [m.id]}),
    )
    .await;
    let n = next_notification(&mut ws).await;
    assert_eq!(n.notification.kind, NotificationKind::CardAssigned);
    assert_eq!(n.unread, 1);

    // Mute "assigned".
    let (s, p) = m
        .api
        .send(
            "PUT",
            &path,
            Some(json!({"kinds": ["mention", "job.status"], "muted_boards": []})),
        )
        .await
        .pair();
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["kinds"], json!(["mention", "job.status"]));
    assert_time(&p["updated_at"]);
    let (_, again) = m.api.get(&path).await;
    assert_eq!(again["kinds"], p["kinds"], "{again}");

    // An assignment now makes nothing; a mention after it does, and is the next frame.
    let card_id = Uuid::now_v7();
    op(
        &org.owner,
        a_id,
        "card.create",
        json!({"column_id": a_col, "title": "muted kind", "assignees": [m.id], "card_id": card_id}),
    )
    .await;
    op(
        &org.owner,
        a_id,
        "comment.add",
        json!({"card_id": card_id, "body": "look", "mentions": [m.id]}),
    )
    .await;
    let n = next_notification(&mut ws).await;
    assert_eq!(
        n.notification.kind,
        NotificationKind::Mention,
        "a muted kind was pushed"
    );
    assert_eq!(n.unread, 2, "a muted notification was counted");

    // Mute board B instead (every kind back on): B says nothing, A still does.
    let (s, p) = m
        .api
        .send(
            "PUT",
            &path,
            Some(json!({"kinds": ["card.assigned", "mention", "job.status"], "muted_boards": [b_id, b_id]})),
        )
        .await
        .pair();
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["muted_boards"], json!([b_id]), "kept once");
    op(
        &org.owner,
        b_id,
        "card.create",
        json!({"column_id": b_col, "title": "muted board", "assignees": [m.id]}),
    )
    .await;
    op(
        &org.owner,
        a_id,
        "card.create",
        json!({"column_id": a_col, "title": "heard", "assignees": [m.id]}),
    )
    .await;
    let n = next_notification(&mut ws).await;
    assert_eq!(
        n.notification.board_id.to_string(),
        a_id,
        "a muted board was pushed"
    );
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
            .send(
                "PUT",
                &path,
                Some(json!({"kinds": ["card.assigned", "gossip"], "muted_boards": []})),
            )
            .await
            .pair(),
        400,
        "bad_request",
    );
    assert!(
        e["field"].as_str().is_some_and(|f| f.starts_with("kinds")),
        "{e}"
    );
    expect_bad_field(
        &m.api
            .send(
                "PUT",
                &path,
                Some(json!({"kinds": [], "muted_boards": [Uuid::now_v7()]})),
            )
            .await
            .pair(),
        "muted_boards",
    );
    expect_bad_field(
        &m.api
            .send("PUT", &path, Some(json!({"kinds": []})))
            .await
            .pair(),
        "muted_boards",
    );
    let (_, still) = m.api.get(&path).await;
    assert_eq!(
        still["muted_boards"],
        json!([b_id]),
        "a refused PUT changed them"
    );
    let (s, k) = org
        .owner
        .post(
            &format!("/api/v1/orgs/{}/api-keys", org.id),
            json!({"name": "bot", "role": "admin"}),
        )
        .await;
    assert_eq!(s, 201, "{k}");
    let bot = server.api().with_token(k["key"].as_str().unwrap());
    expect_error(&bot.get(&path).await, 403, "forbidden");
    let other = new_org(&server, "Elsewhere").await;
    expect_error(&other.owner.get(&path).await, 404, "not_found");
    expect_error(
        &other
            .owner
            .send("PUT", &path, Some(json!({"kinds": [], "muted_boards": []})))
            .await
            .pair(),
        404,
        "not_found",
    );
}

#[tokio::test]
async fn muted_kinds_and_boards_are_not_pushed_nor_counted_on_sqlite() {
    muted_kinds_and_boards_are_not_pushed_nor_counted(true).await;
}

#[tokio::test]
async fn muted_kinds_and_boards_are_not_pushed_nor_counted_on_postgres() {
    muted_kinds_and_boards_are_not_pushed_nor_counted(false).await;
}
