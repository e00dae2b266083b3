//! Issues 13.3 and 13.4 across two nodes over Redis: revoking an API key on one node closes
//! its sockets on the other (4003), and notification preferences set on one node are honoured
//! at once by a board another node owns. (Node setup as in `cluster.rs`.)

mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

fn redis_url() -> String {
    std::env::var("BOARDROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

async fn start_nodes(db: &str, n: usize) -> Vec<TestServer> {
    let prefix = format!("brk-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    let mut nodes = Vec::new();
    for i in 0..n {
        let env: Vec<(String, String)> = vec![
            ("BOARDROOM_BROKER".into(), "redis".into()),
            ("BOARDROOM_REDIS_URL".into(), redis_url()),
            (
                "BOARDROOM_JWT_SECRET".into(),
                format!("cluster-test-secret-{prefix}"),
            ),
            ("BOARDROOM_NODE_ID".into(), format!("n{}", i + 1)),
            ("BOARDROOM_CLUSTER__KEY_PREFIX".into(), prefix.clone()),
        ];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        nodes.push(TestServer::start(db, &env).await);
    }
    nodes
}

async fn welcomed(server: &TestServer, token: &str) -> Ws {
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(token)).await;
    match ws.recv().await {
        ServerFrame::Welcome(_) => ws,
        other => panic!("expected welcome, got {other:?}"),
    }
}

#[tokio::test]
async fn revoking_a_key_on_one_node_closes_its_sockets_on_another() {
    let db = fresh_pg_url().await;
    let nodes = start_nodes(&db, 2).await;
    let org = new_org(&nodes[0], "Two nodes").await;
    let keys = format!("/api/v1/orgs/{}/api-keys", org.id);
    let (s, k) = org
        .owner
        .post(&keys, json!({"name": "bot", "role": "member"}))
        .await;
    assert_eq!(s, 201, "{k}");
    let key = k["key"].as_str().unwrap();
    let mut on_two = welcomed(&nodes[1], key).await;
    let mut on_one = welcomed(&nodes[0], key).await;
    let (s, body) = org
        .owner
        .delete(&format!("{keys}/{}", k["id"].as_str().unwrap()))
        .await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(on_one.closed().await, Closed::Code(4003));
    let closed = tokio::time::timeout(Duration::from_secs(5), on_two.closed())
        .await
        .expect("the other node kept the revoked key's socket open");
    assert_eq!(closed, Closed::Code(4003));
}

#[tokio::test]
async fn preferences_set_on_one_node_hold_on_a_board_another_node_owns() {
    let db = fresh_pg_url().await;
    let nodes = start_nodes(&db, 2).await;
    let org = new_org(&nodes[0], "Prefs two nodes").await;
    let board = new_board(&org, json!({"name": "Jobs"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let col = board["columns"][0]["id"].as_str().unwrap().to_string();
    let m = add_member(&nodes[0], &org.owner, &org.id, "member").await;
    // Node 2 loads (and owns) the board; the member listens on node 2.
    let owner_token = org.owner.token.clone().unwrap();
    let mut admin = welcomed(&nodes[1], &owner_token).await;
    admin
        .send_json(json!({"type": "subscribe", "ref": 1, "topic": format!("board:{board_id}")}))
        .await;
    admin
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    let mut ws = welcomed(&nodes[1], m.api.token.as_deref().unwrap()).await;
    let op = |r: i64, data: serde_json::Value, kind: &str| {
        json!({"type": "op", "ref": r, "topic": format!("board:{board_id}"),
               "op_id": Uuid::now_v7(), "kind": kind, "data": data})
    };

    // Muted through node 1.
    let (s, p) = m
        .api
        .send(
            "PUT",
            &format!("/api/v1/orgs/{}/me/notification-preferences", org.id),
            Some(json!({"kinds": ["mention"], "muted_boards": []})),
        )
        .await
        .pair();
    assert_eq!(s, 200, "{p}");
    // Give the broadcast the time a network hop takes; the point is that no reconnect or
    // reload of the board is needed.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let card = Uuid::now_v7();
    admin
        .send_json(op(
            2,
            json!({"column_id": col, "title": "muted", "assignees": [m.id], "card_id": card}),
            "card.create",
        ))
        .await;
    admin
        .send_json(op(
            3,
            json!({"card_id": card, "body": "see this", "mentions": [m.id]}),
            "comment.add",
        ))
        .await;
    let n = ws.notification().await;
    assert_eq!(
        n.notification.kind,
        NotificationKind::Mention,
        "the owning node pushed a muted kind"
    );
    assert_eq!(n.unread, 1);
}
