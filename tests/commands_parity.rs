//! One command, two transports (issue 16.2): the same op sent over a WebSocket and over
//! `POST /boards/{id}/ops` meets the same refusals (code, message, field) and spends the same
//! budget, the credential's, so exhausting it on one transport limits the other too. Likewise
//! `notifications.read` and a subscription (socket and SSE stream). All against the real
//! binary, real Postgres, real sockets.

mod common;

use boardroom_protocol::*;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// A refusal as both transports can say it: (code, message, field).
type Refusal = (String, String, Option<String>);

/// A member-role API key of `org`, made by its owner.
async fn new_key(org: &Org) -> String {
    let key = org.create("api-keys", json!({"name": "bot", "role": "member"}));
    key.await["key"].as_str().unwrap().to_string()
}

fn op_frame(board: &str, kind: &str, data: Value) -> Value {
    json!({"type": "op", "topic": format!("board:{board}"), "op_id": Uuid::now_v7(),
           "kind": kind, "data": data})
}

/// A `card.create` op frame (new `op_id`) of a card titled `title` in `col` of `board`.
fn create_frame(board: &str, col: &str, title: &str) -> Value {
    op_frame(
        board,
        "card.create",
        json!({"column_id": col, "title": title}),
    )
}

fn ws_refusal(f: ServerFrame) -> Refusal {
    match f {
        ServerFrame::Error(e) => (
            serde_json::to_value(e.code)
                .unwrap()
                .as_str()
                .unwrap()
                .to_string(),
            e.message,
            e.field,
        ),
        other => panic!("expected an error over the socket, got {other:?}"),
    }
}

fn http_refusal(status: u16, body: &Value) -> Refusal {
    let e = &body["error"];
    let code = e["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body ({status}): {body}"))
        .to_string();
    let want = match code.as_str() {
        "bad_request" => 400,
        "unauthorized" => 401,
        "forbidden" => 403,
        "not_found" => 404,
        "conflict" => 409,
        "too_large" => 413,
        "rate_limited" => 429,
        "unavailable" => 503,
        _ => 500,
    };
    assert_eq!(status, want, "status {status} for {code}: {body}");
    (
        code,
        e["message"].as_str().unwrap_or_default().to_string(),
        e["field"].as_str().map(String::from),
    )
}

/// The op `{kind, data}` over the socket (to `board`) and over HTTP, each with its own
/// op_id; both refusals.
async fn refused_both_ways(
    ws: &mut Ws,
    api: &Api,
    r: i64,
    board: &str,
    kind: &str,
    data: Value,
) -> (Refusal, Refusal) {
    let over_ws = ws_refusal(ws.ask(r, op_frame(board, kind, data.clone())).await);
    let (s, body) = api
        .post(
            &format!("/api/v1/boards/{board}/ops"),
            json!({"op_id": Uuid::now_v7(), "kind": kind, "data": data}),
        )
        .await;
    (over_ws, http_refusal(s, &body))
}

/// A server with an org named `name`, and the id of a board of another org ("Elsewhere"):
/// one that the first org's credentials may not touch.
async fn org_and_foreign_board(name: &str) -> (TestServer, Org, String) {
    let (server, org) = server_with_org(name).await;
    let other = new_org(&server, "Elsewhere").await;
    let foreign = new_board(&other, json!({"name": "F"})).await;
    let foreign_id = foreign["id"].as_str().unwrap().to_string();
    (server, org, foreign_id)
}

#[tokio::test]
async fn an_op_is_refused_the_same_way_over_websocket_and_http() {
    let (server, org, foreign_id) = org_and_foreign_board("Parity").await;
    let board = new_board(&org, json!({"name": "B"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let col = board["columns"][0]["id"].as_str().unwrap().to_string();
    let card = create_card(&org.owner, &board, "a card").await;
    let worker = add_member(&server, &org.owner, &org.id, "worker").await;

    let owner_token = org.owner.token.clone().expect("owner token");
    let worker_token = worker.api.token.clone().expect("worker token");
    let mut owner_ws = Ws::welcomed(&server.base, &owner_token).await;
    let mut worker_ws = Ws::welcomed(&server.base, &worker_token).await;

    // (what, expected code, as the worker?, board, kind, data)
    let unknown = Uuid::now_v7().to_string();
    let table: [(&str, &str, bool, &str, &str, Value); 6] = [
        (
            "a worker may not make columns",
            "forbidden",
            true,
            &board_id,
            "column.create",
            json!({"name": "mine"}),
        ),
        (
            "another organization's board",
            "not_found",
            false,
            &foreign_id,
            "column.create",
            json!({"name": "theirs"}),
        ),
        (
            "a board that does not exist",
            "not_found",
            false,
            &unknown,
            "column.create",
            json!({"name": "nowhere"}),
        ),
        (
            "an empty title",
            "bad_request",
            false,
            &board_id,
            "card.create",
            json!({"column_id": col, "title": ""}),
        ),
        (
            "a stale expected_version",
            "conflict",
            false,
            &board_id,
            "card.update",
            json!({"card_id": card, "title": "new", "expected_version": 99}),
        ),
        (
            "a column that is not empty",
            "conflict",
            false,
            &board_id,
            "column.delete",
            json!({"column_id": col}),
        ),
    ];
    let mut cases = Vec::new();
    for (r, (name, want, as_worker, board, kind, data)) in table.into_iter().enumerate() {
        let (ws, api) = if as_worker {
            (&mut worker_ws, &worker.api)
        } else {
            (&mut owner_ws, &org.owner)
        };
        let (over_ws, over_http) =
            refused_both_ways(ws, api, r as i64 + 1, board, kind, data).await;
        cases.push((name, want, over_ws, over_http));
    }
    for (name, want, ws, http) in &cases {
        assert_eq!(ws.0, *want, "{name}: over the socket {ws:?}");
        assert_eq!(ws, http, "{name}: the socket and HTTP answer differently");
    }
    // The bad title names its field, the same on both.
    let bad = &cases[3];
    assert!(
        bad.2 .2.as_deref().is_some_and(|f| f.contains("title")),
        "no field named: {:?}",
        bad.2
    );
    // Nothing refused was applied: the board still has the one card, untouched.
    let (_, snap) = org.owner.get(&format!("/api/v1/boards/{board_id}")).await;
    let cards = snap["cards"].as_array().unwrap();
    assert_eq!(cards.len(), 1, "{snap}");
    assert_eq!(cards[0]["title"], "a card");
    let col_ids = |v: &Value| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect()
    };
    assert_eq!(
        col_ids(&snap["columns"]),
        col_ids(&board["columns"]),
        "{snap}"
    );
}

/// Sends card.create ops over the socket until one is refused (at most `max`); returns how
/// many passed and the refusal.
async fn ws_until_limited(
    ws: &mut Ws,
    r0: i64,
    board: &str,
    col: &str,
    max: usize,
) -> (usize, ErrorReply) {
    for i in 0..max {
        let frame = create_frame(board, col, "ws");
        match ws.ask(r0 + i as i64, frame).await {
            ServerFrame::Ok(_) => {}
            ServerFrame::Error(e) if e.code == ErrorCode::RateLimited => return (i, e),
            other => panic!("unexpected answer: {other:?}"),
        }
    }
    panic!("no rate_limited over the socket after {max} ops");
}

async fn http_until_limited(api: &Api, board: &str, col: &str, max: usize) -> (usize, Resp) {
    for i in 0..max {
        let r = api
            .send(
                "POST",
                &format!("/api/v1/boards/{board}/ops"),
                Some(json!({"op_id": Uuid::now_v7(), "kind": "card.create",
                            "data": {"column_id": col, "title": "http"}})),
            )
            .await;
        if r.status == 429 {
            return (i, r);
        }
        assert_eq!(r.status, 200, "{}", r.body);
    }
    panic!("no 429 over HTTP after {max} ops");
}

async fn http_op(api: &Api, board: &str, col: &str) -> (u16, Value) {
    api.post(
        &format!("/api/v1/boards/{board}/ops"),
        json!({"op_id": Uuid::now_v7(), "kind": "card.create",
               "data": {"column_id": col, "title": "one more"}}),
    )
    .await
}

#[tokio::test]
async fn a_credential_has_one_op_budget_whichever_transport_it_uses() {
    // 3 at once, then 1 a second: a test that waits for nothing sees exactly the burst.
    let (server, org) = server_with_org_env(
        "Budget",
        &[
            ("BOARDROOM_LIMITS__OPS_PER_SECOND_PER_CREDENTIAL", "1"),
            ("BOARDROOM_LIMITS__OPS_BURST_PER_CREDENTIAL", "3"),
        ],
    )
    .await;
    let board = new_board(&org, json!({"name": "B"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let col = board["columns"][0]["id"].as_str().unwrap().to_string();
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let member_token = member.api.token.clone().expect("member token");
    let key = new_key(&org).await;
    let bot = server.api().with_token(&key);

    // A user spends the budget over a socket: the burst passes, then rate_limited...
    let mut ws = Ws::welcomed(&server.base, &member_token).await;
    let (passed, over_ws) = ws_until_limited(&mut ws, 1, &board_id, &col, 6).await;
    assert!(
        (3..=4).contains(&passed),
        "the burst of 3 was not honoured: {passed}"
    );
    assert!(
        over_ws.retry_after_ms.is_some_and(|w| w >= 1),
        "{over_ws:?}"
    );
    // ...and the same user over HTTP is limited too, with the same refusal...
    let (s, body) = http_op(&member.api, &board_id, &col).await;
    let over_http = http_refusal(s, &body);
    assert_eq!(
        over_http,
        (
            "rate_limited".to_string(),
            over_ws.message.clone(),
            over_ws.field.clone()
        ),
        "HTTP did not share the socket's budget"
    );
    // ...and so is another socket of the same user (the budget is not the connection's).
    let mut second = Ws::welcomed(&server.base, &member_token).await;
    let frame = create_frame(&board_id, &col, "second");
    let f = second.ask(1, frame).await;
    assert!(
        matches!(&f, ServerFrame::Error(e) if e.code == ErrorCode::RateLimited),
        "a second socket got a fresh budget: {f:?}"
    );
    // Other credentials have budgets of their own, on either transport.
    let (s, b) = http_op(&org.owner, &board_id, &col).await;
    assert_eq!(s, 200, "the owner was limited by the member: {b}");

    // The other way round: an API key spends its budget over HTTP...
    let (passed, refused) = http_until_limited(&bot, &board_id, &col, 6).await;
    assert!(
        (3..=4).contains(&passed),
        "the burst of 3 was not honoured: {passed}"
    );
    let over_http = http_refusal(refused.status, &refused.body);
    assert!(
        refused.headers.get("retry-after").is_some(),
        "no Retry-After"
    );
    // ...and its socket is limited at once, with the same refusal.
    let mut bot_ws = Ws::welcomed(&server.base, &key).await;
    let frame = create_frame(&board_id, &col, "bot ws");
    let over_ws = ws_refusal(bot_ws.ask(1, frame).await);
    assert_eq!(
        over_ws, over_http,
        "the key's socket did not share its HTTP budget"
    );

    // Once the wait is over the budget refills for both transports alike.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let frame = create_frame(&board_id, &col, "later");
    let f = bot_ws.ask(2, frame).await;
    assert!(matches!(f, ServerFrame::Ok(_)), "still limited: {f:?}");
}

#[tokio::test]
async fn notifications_read_and_subscribe_refuse_alike_on_every_transport() {
    let (server, org, foreign_id) = org_and_foreign_board("Reads").await;
    let owner_token = org.owner.token.clone().expect("owner token");
    let key = new_key(&org).await;

    // notifications.read: a key has none (forbidden); too many ids is bad_request on `ids`.
    let mut bot_ws = Ws::welcomed(&server.base, &key).await;
    let over_ws = ws_refusal(
        bot_ws
            .ask(1, json!({"type": "notifications.read", "all": true}))
            .await,
    );
    let (s, body) = server
        .api()
        .with_token(&key)
        .post("/api/v1/notifications/read", json!({"all": true}))
        .await;
    assert_eq!(over_ws.0, "forbidden", "{over_ws:?}");
    assert_eq!(over_ws, http_refusal(s, &body));

    let ids: Vec<Uuid> = (0..101).map(|_| Uuid::now_v7()).collect();
    let mut ws = Ws::welcomed(&server.base, &owner_token).await;
    let over_ws = ws_refusal(
        ws.ask(1, json!({"type": "notifications.read", "ids": ids}))
            .await,
    );
    let (s, body) = org
        .owner
        .post("/api/v1/notifications/read", json!({"ids": ids}))
        .await;
    assert_eq!(over_ws.0, "bad_request", "{over_ws:?}");
    assert_eq!(over_ws.2.as_deref(), Some("ids"));
    assert_eq!(over_ws, http_refusal(s, &body));

    // A subscription to another organization's board: the socket and the SSE stream.
    let topic = format!("board:{foreign_id}");
    let over_ws = ws_refusal(
        ws.ask(2, json!({"type": "subscribe", "topic": topic}))
            .await,
    );
    let (s, body) = org
        .owner
        .get(&format!("/api/v1/stream?topic={topic}"))
        .await;
    assert_eq!(over_ws.0, "not_found", "{over_ws:?}");
    assert_eq!(over_ws, http_refusal(s, &body));
}
