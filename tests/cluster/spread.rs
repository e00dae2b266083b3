//! What must reach other nodes: notifications, org presence, membership changes, and HTTP
//! and SSE served by a node that does not own the board.

use super::*;

#[tokio::test]
async fn notifications_and_org_presence_reach_connections_on_other_nodes() {
    let db = fresh_pg_url().await;
    let (_prefix, mut nodes) = start_nodes(&db, &redis_url(), 3).await;
    let org = new_org(&nodes[0], "Reach").await;
    let (board, col) = new_board(&org).await;
    let worker = add_member(&nodes[0], &org.owner, &org.id, "worker").await;
    let worker_token = worker.api.token.clone().unwrap();
    let worker_id: Uuid = worker.id.parse().unwrap();
    // The worker is connected twice, on nodes 1 and 2, watching the org topic.
    let mut w1 = welcomed(&nodes[0], &worker_token).await;
    let mut w2 = welcomed(&nodes[1], &worker_token).await;
    let org_id: Uuid = org.id.parse().unwrap();
    subscribe(&mut w1, Topic::Org(org_id), None).await;
    subscribe(&mut w2, Topic::Org(org_id), None).await;

    // The owner comes online on node 3: both of the worker's connections see it.
    let owner_id: Uuid = org.owner_id.parse().unwrap();
    let mut admin = welcomed(&nodes[2], org.owner.token.as_deref().unwrap()).await;
    for w in [&mut w1, &mut w2] {
        w.recv_until(|f| matches!(f, ServerFrame::Presence(p) if p.joins.contains_key(&owner_id)))
            .await;
    }
    // A job assigned to the worker from node 3 notifies both connections.
    subscribe(&mut admin, Topic::Board(board), None).await;
    let card = Uuid::now_v7();
    admin
        .send_json(json!({
            "type": "op", "ref": 1, "topic": format!("board:{board}"), "op_id": card,
            "kind": "card.create",
            "data": {"column_id": col, "title": "Fix the boiler", "assignees": [worker_id]}
        }))
        .await;
    for w in [&mut w1, &mut w2] {
        let (f, _) = w
            .recv_until(|f| matches!(f, ServerFrame::Notification(_)))
            .await;
        let ServerFrame::Notification(n) = f else {
            unreachable!()
        };
        assert_eq!(n.unread, 1);
        assert_eq!(n.notification.title, "Fix the boiler");
    }
    // Someone subscribing to the org on node 1 finds everyone online, wherever they are.
    let observer_member = add_member(&nodes[0], &org.owner, &org.id, "member").await;
    let mut observer = welcomed(&nodes[0], observer_member.api.token.as_deref().unwrap()).await;
    let ok = subscribe(&mut observer, Topic::Org(org_id), None).await;
    let online = ok.presence.unwrap_or_default();
    assert!(online.contains_key(&owner_id), "{online:?}");
    assert!(online.contains_key(&worker_id), "{online:?}");
    // The worker closes one of two connections: still online (on node 1), no leave.
    drop(w2);
    while let Some(f) = observer.quiet(Duration::from_millis(700)).await {
        if let ServerFrame::Presence(p) = f {
            assert!(!p.leaves.contains_key(&worker_id), "worker is still online");
        }
    }
    // Node 3 dies: the owner, online only there, leaves once its heartbeat expired.
    nodes[2].kill9();
    let (f, _) = observer
        .recv_until(|f| matches!(f, ServerFrame::Presence(p) if p.leaves.contains_key(&owner_id)))
        .await;
    assert!(matches!(f, ServerFrame::Presence(_)));
}

#[tokio::test]
async fn membership_changes_on_one_node_reach_boards_and_sessions_on_others() {
    let db = fresh_pg_url().await;
    let (_prefix, nodes) = start_nodes(&db, &redis_url(), 2).await;
    let org = new_org(&nodes[0], "Directory").await;
    let (board, col) = new_board(&org).await;
    // Node 2 owns the board.
    let mut admin = welcomed(&nodes[1], org.owner.token.as_deref().unwrap()).await;
    subscribe(&mut admin, Topic::Board(board), None).await;
    assert_eq!(leases_held(&nodes[1]).await, 1.0);
    // A worker added through node 1 can be assigned on node 2's board at once.
    let worker = add_member(&nodes[0], &org.owner, &org.id, "worker").await;
    let mut worker_ws = welcomed(&nodes[1], worker.api.token.as_deref().unwrap()).await;
    admin
        .send_json(json!({
            "type": "op", "ref": 7, "topic": format!("board:{board}"), "op_id": Uuid::now_v7(),
            "kind": "card.create",
            "data": {"column_id": col, "title": "New hire's job", "assignees": [worker.id]}
        }))
        .await;
    let (f, _) = admin
        .recv_until(|f| {
            matches!(f, ServerFrame::Ok(ok) if ok.r#ref == Some(Ref::Int(7)))
                || matches!(f, ServerFrame::Error(_))
        })
        .await;
    assert!(matches!(f, ServerFrame::Ok(_)), "{f:?}");
    // Deactivated through node 1: their session on node 2 is closed with 4003.
    let (s, body) = org
        .owner
        .delete(&format!("/api/v1/orgs/{}/members/{}", org.id, worker.id))
        .await;
    assert_eq!(s, 204, "{body}");
    assert_eq!(worker_ws.closed().await, common::ws::Closed::Code(4003));
}

#[tokio::test]
async fn http_snapshot_ops_and_sse_work_on_a_node_that_does_not_own_the_board() {
    let db = fresh_pg_url().await;
    let (_prefix, nodes) = start_nodes(&db, &redis_url(), 2).await;
    let (_, board, col, token) = org_with_board(&nodes[0], "Http parity").await;
    // Node 1 owns the board.
    let mut owner_ws = welcomed(&nodes[0], &token).await;
    subscribe(&mut owner_ws, Topic::Board(board), None).await;
    assert_eq!(leases_held(&nodes[0]).await, 1.0);
    // Through node 2: a Server-Sent Events stream, an op and a snapshot.
    let on_two = nodes[1].api().with_token(&token);
    let url = nodes[1].url(&format!("/api/v1/stream?topic=board:{board}&token={token}"));
    let mut res = reqwest::Client::new().get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    sse_until(&mut res, &mut buf, |b| b.contains("event: ok")).await;
    let data = json!({"column_id": col, "title": "Via node 2"});
    let r = op_ok(&on_two, board, "card.create", data).await;
    sse_until(&mut res, &mut buf, |b| {
        b.contains("event: event") && b.contains("Via node 2")
    })
    .await;
    let (s, snap) = on_two.get(&format!("/api/v1/boards/{board}")).await;
    assert_eq!(s, 200, "{snap}");
    assert_eq!(snap["cards"].as_array().unwrap().len(), 1);
    assert_eq!(snap["seq"], r["seq"]);
    assert_eq!(
        leases_held(&nodes[1]).await,
        0.0,
        "node 2 forwarded, it did not take over"
    );
}
