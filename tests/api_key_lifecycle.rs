//! Issue 13.3, API keys end to end on SQLite and Postgres: the role cap (no key above its
//! creator), board scope over HTTP and WebSocket, expiry (refused at once, live sockets closed
//! with 4003 when it passes, by a timer), `last_used_at` (moves, at most one write a minute),
//! and the per-key rate limit over HTTP and WebSocket ops.

mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

on_both_stores!(
    role_cap_expiry_and_last_used_on_sqlite,
    role_cap_expiry_and_last_used_on_postgres,
    role_cap_expiry_and_last_used;
    board_scope_holds_over_http_and_websocket_on_sqlite,
    board_scope_holds_over_http_and_websocket_on_postgres,
    board_scope_holds_over_http_and_websocket;
    revoke_closes_every_socket_of_the_key_on_sqlite,
    revoke_closes_every_socket_of_the_key_on_postgres,
    revoke_closes_every_socket_of_the_key;
    per_key_rate_limit_on_sqlite,
    per_key_rate_limit_on_postgres,
    per_key_rate_limit;
);

/// Runs one statement on the test database (Postgres or SQLite).
async fn exec_sql(db_url: &str, sql: &str) {
    use sqlx::Connection;
    if db_url.starts_with("sqlite:") {
        let mut c = sqlx::SqliteConnection::connect(db_url)
            .await
            .expect("sqlite");
        sqlx::query(sql).execute(&mut c).await.expect(sql);
        let _ = c.close().await;
    } else {
        let mut c = sqlx::PgConnection::connect(db_url).await.expect("postgres");
        sqlx::query(sql).execute(&mut c).await.expect(sql);
        let _ = c.close().await;
    }
}

fn keys_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/api-keys")
}

async fn new_key(org: &Org, body: Value) -> (String, String) {
    let k = org.owner.post_created(&keys_path(&org.id), body).await;
    (
        k["id"].as_str().expect("id").to_string(),
        k["key"].as_str().expect("key").to_string(),
    )
}

async fn key_entry(org: &Org, id: &str) -> Value {
    let (s, l) = org.owner.get(&keys_path(&org.id)).await;
    assert_eq!(s, 200, "{l}");
    l["api_keys"]
        .as_array()
        .expect("api_keys")
        .iter()
        .find(|k| k["id"] == json!(id))
        .cloned()
        .unwrap_or_else(|| panic!("key {id} not listed: {l}"))
}

fn card_op(board: impl std::fmt::Display, column: impl serde::Serialize) -> Value {
    json!({"type": "op", "topic": format!("board:{board}"), "op_id": Uuid::now_v7(),
           "kind": "card.create", "data": {"column_id": column, "title": "by key"}})
}

async fn role_cap_expiry_and_last_used(db: &str) {
    let sqlite = db.starts_with("sqlite:");
    let (server, org) = server_with_org_on(db, "Keys life", &[]).await;
    let boards = format!("/api/v1/orgs/{}/boards", org.id);

    // Role cap: an admin cannot mint a key above their own role (403), and nothing is made;
    // an admin key is fine.
    let admin = add_member(&server, &org.owner, &org.id, "admin").await;
    expect_forbidden(
        &admin
            .api
            .post(
                &keys_path(&org.id),
                json!({"name": "root", "role": "owner"}),
            )
            .await,
    );
    let (s, k) = admin
        .api
        .post(&keys_path(&org.id), json!({"name": "adm", "role": "admin"}))
        .await;
    assert_eq!(s, 201, "{k}");
    let (_, l) = org.owner.get(&keys_path(&org.id)).await;
    assert_eq!(
        ids(&l, "api_keys").len(),
        1,
        "the refused key was made: {l}"
    );
    // A member has no say over keys at all.
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    expect_forbidden(
        &member
            .api
            .post(&keys_path(&org.id), json!({"name": "m", "role": "worker"}))
            .await,
    );

    // last_used_at: unset until used, set by use, not rewritten within the minute, moved again
    // once the last write is older than that.
    let (id, key) = new_key(&org, json!({"name": "used", "role": "member"})).await;
    assert_eq!(key_entry(&org, &id).await["last_used_at"], Value::Null);
    let bot = server.api().with_token(&key);
    assert_eq!(bot.get(&boards).await.0, 200);
    let first = assert_time(&key_entry(&org, &id).await["last_used_at"]);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(bot.get(&boards).await.0, 200);
    let again = assert_time(&key_entry(&org, &id).await["last_used_at"]);
    assert_eq!(
        first, again,
        "a write per request: last_used_at moved within the minute"
    );
    let old = (chrono::Utc::now() - chrono::Duration::minutes(5))
        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let id_lit = if sqlite {
        format!("X'{}'", Uuid::parse_str(&id).unwrap().simple())
    } else {
        format!("'{id}'")
    };
    let old_lit = if sqlite {
        format!("'{old}'")
    } else {
        format!("'{old}'::timestamptz")
    };
    exec_sql(
        &server.db_url,
        &format!("UPDATE api_keys SET last_used_at = {old_lit} WHERE id = {id_lit}"),
    )
    .await;
    let backdated = assert_time(&key_entry(&org, &id).await["last_used_at"]);
    assert!(backdated < first, "{backdated} {first}");
    assert_eq!(bot.get(&boards).await.0, 200);
    let moved = assert_time(&key_entry(&org, &id).await["last_used_at"]);
    assert!(
        moved >= first,
        "last_used_at did not move: {moved} < {first}"
    );

    // Expiry: an exact time, in the past refused; a key expiring in 3 s works until then,
    // its open socket is closed with 4003 when it passes (no frame needed), and then it is 401.
    let past = chrono::Utc::now() - chrono::Duration::seconds(5);
    expect_bad_field(
        &org.owner
            .post(
                &keys_path(&org.id),
                json!({"name": "late", "role": "member", "expires_at": past}),
            )
            .await,
        "expires_at",
    );
    let at = chrono::Utc::now() + chrono::Duration::seconds(3);
    let k = org
        .owner
        .post_created(
            &keys_path(&org.id),
            json!({"name": "brief", "role": "member", "expires_at": at}),
        )
        .await;
    let got = assert_time(&k["expires_at"]);
    assert!((got - at).num_milliseconds().abs() < 1000, "{got} vs {at}");
    let brief = k["key"].as_str().unwrap().to_string();
    let brief_api = server.api().with_token(&brief);
    assert_eq!(brief_api.get(&boards).await.0, 200);
    let mut ws = Ws::welcomed(&server.base, &brief).await;
    // Its Server-Sent Events stream ends the same way.
    let board = new_board(&org, json!({"name": "Streamed"})).await;
    let mut sse = reqwest::get(server.url(&format!(
        "/api/v1/stream?topic=board:{}&token={brief}",
        board["id"].as_str().unwrap()
    )))
    .await
    .expect("SSE");
    assert_eq!(sse.status(), 200);
    let closed = tokio::time::timeout(Duration::from_secs(10), ws.closed())
        .await
        .expect("the socket outlived its key's expiry");
    assert_eq!(closed, Closed::Code(4003));
    assert!(
        chrono::Utc::now() >= at,
        "closed before the key expired ({at})"
    );
    // The key has expired by now: the stream's close follows within the helper's 10 s.
    let mut text = String::new();
    sse_until(&mut sse, &mut text, |t| {
        t.contains("event: close\ndata: 4003")
    })
    .await;
    expect_error(&brief_api.get(&boards).await, 401, "unauthorized");
    // A new socket with it is refused too.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&brief)).await;
    match ws.next(Duration::from_secs(10)).await {
        Ok(ServerFrame::Error(e)) => assert_eq!(e.code, ErrorCode::Unauthorized),
        Err(Closed::Code(4001)) => {}
        other => panic!("an expired key was welcomed: {other:?}"),
    }
}

async fn board_scope_holds_over_http_and_websocket(db: &str) {
    let (server, org) = server_with_org_on(db, "Scope", &[]).await;
    let (a_id, a_col) = board_and_column(&org, "A").await;
    let (b_id, b_col) = board_and_column(&org, "B").await;
    let (_, key) = new_key(
        &org,
        json!({"name": "a only", "role": "member", "boards": [a_id]}),
    )
    .await;
    let bot = server.api().with_token(&key);
    assert_eq!(bot.get(&format!("/api/v1/boards/{a_id}")).await.0, 200);
    expect_error(
        &bot.get(&format!("/api/v1/boards/{b_id}")).await,
        404,
        "not_found",
    );
    expect_error(
        &bot.post(
            &format!("/api/v1/boards/{b_id}/ops"),
            json!({"op_id": Uuid::now_v7(), "kind": "card.create",
                   "data": {"column_id": b_col, "title": "no"}}),
        )
        .await,
        404,
        "not_found",
    );

    let mut ws = Ws::welcomed(&server.base, &key).await;
    match ws
        .ask(
            1,
            json!({"type": "subscribe", "topic": format!("board:{b_id}")}),
        )
        .await
    {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotFound, "{e:?}"),
        other => panic!("a key for board A subscribed to board B: {other:?}"),
    }
    match ws.ask(2, card_op(b_id, b_col)).await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::NotFound, "{e:?}"),
        other => panic!("a key for board A changed board B: {other:?}"),
    }
    match ws
        .ask(
            3,
            json!({"type": "subscribe", "topic": format!("board:{a_id}")}),
        )
        .await
    {
        ServerFrame::Ok(_) => {}
        other => panic!("its own board refused: {other:?}"),
    }
    match ws.ask(4, card_op(a_id, a_col)).await {
        ServerFrame::Ok(ok) => assert!(ok.seq.is_some(), "{ok:?}"),
        other => panic!("an op on its own board refused: {other:?}"),
    }
    // Board B is untouched.
    let (_, snap) = org.owner.get(&format!("/api/v1/boards/{b_id}")).await;
    assert_eq!(snap["cards"].as_array().map(Vec::len), Some(0), "{snap}");
}

async fn revoke_closes_every_socket_of_the_key(db: &str) {
    let (server, org) = server_with_org_on(db, "Revoke", &[]).await;
    let (id, key) = new_key(&org, json!({"name": "two sockets", "role": "member"})).await;
    let (_, other) = new_key(&org, json!({"name": "bystander", "role": "member"})).await;
    let mut one = Ws::welcomed(&server.base, &key).await;
    let mut two = Ws::welcomed(&server.base, &key).await;
    let mut by = Ws::welcomed(&server.base, &other).await;
    let (s, body) = org
        .owner
        .delete(&format!("{}/{id}", keys_path(&org.id)))
        .await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(one.closed().await, Closed::Code(4003));
    assert_eq!(two.closed().await, Closed::Code(4003));
    // Another key's socket stays.
    by.send_json(json!({"type": "ping", "ref": 9})).await;
    match by.next(Duration::from_secs(5)).await {
        Ok(ServerFrame::Pong(_)) => {}
        other => panic!("the other key's socket was touched: {other:?}"),
    }
}

async fn per_key_rate_limit(db: &str) {
    let (server, org) = server_with_org_on(
        db,
        "Budget",
        &[
            ("BOARDROOM_LIMITS__API_KEY_REQUESTS_PER_SECOND", "1"),
            ("BOARDROOM_LIMITS__API_KEY_REQUESTS_BURST", "3"),
        ],
    )
    .await;
    let board = new_board(&org, json!({"name": "B"})).await;
    let board_id = board["id"].as_str().unwrap();
    let col = board["columns"][0]["id"].as_str().unwrap();
    let boards = format!("/api/v1/orgs/{}/boards", org.id);
    let (_, key) = new_key(&org, json!({"name": "busy", "role": "member"})).await;
    let (_, calm) = new_key(&org, json!({"name": "calm", "role": "member"})).await;
    let bot = server.api().with_token(&key);

    // Any request spends the key's budget: a burst of 3 passes, then 429 with retry info.
    let mut passed = 0;
    let refused = loop {
        let r = bot.send("GET", &boards, None).await;
        if r.status == 429 {
            break r;
        }
        assert_eq!(r.status, 200, "{}", r.body);
        passed += 1;
        assert!(passed <= 5, "no 429 after {passed} requests");
    };
    assert!(passed >= 3, "the burst of 3 was not honoured: {passed}");
    let (err, _) = expect_retry_later(&refused, 429, "rate_limited");
    let wait = err["retry_after_ms"].as_u64().expect("retry_after_ms");
    assert!((1..=1000).contains(&wait), "{wait}");

    // The same budget over its socket: an op while it is spent is refused with retry info
    // (the welcome is not a request; ops are).
    let mut ws = Ws::welcomed(&server.base, &key).await;
    let mut refused_ws = None;
    for r in 1..=6 {
        match ws.ask(r, card_op(board_id, col)).await {
            ServerFrame::Error(e) if e.code == ErrorCode::RateLimited => {
                refused_ws = Some(e);
                break;
            }
            ServerFrame::Ok(_) => {}
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    let e = refused_ws.expect("no rate_limited over the socket");
    assert!(e.retry_after_ms.is_some_and(|w| w >= 1), "{e:?}");

    // Another key and the owner have budgets of their own.
    assert_eq!(
        server.api().with_token(&calm).get(&boards).await.0,
        200,
        "another key was limited"
    );
    assert_eq!(org.owner.get(&boards).await.0, 200);
    // And the key gets through again after the wait.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(bot.get(&boards).await.0, 200);
}
