//! The real-time core end to end: the real binary on Postgres, real WebSockets.

mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

fn hello(token: &str) -> ClientFrame {
    ClientFrame::Hello(Hello {
        r#ref: Some(Ref::Int(0)),
        token: token.into(),
        client: Some("test/1".into()),
    })
}

fn subscribe(r: i64, topic: Topic, since: Option<Since>) -> ClientFrame {
    ClientFrame::Subscribe(Subscribe {
        r#ref: Some(Ref::Int(r)),
        topic,
        since,
    })
}

fn op(r: i64, board: Uuid, op: Value) -> ClientFrame {
    let mut v = op;
    v["type"] = json!("op");
    v["ref"] = json!(r);
    v["topic"] = json!(format!("board:{board}"));
    if v.get("op_id").is_none() {
        v["op_id"] = json!(Uuid::now_v7());
    }
    serde_json::from_value(v).expect("op frame")
}

async fn connect(server: &TestServer, codec: Codec, api: &Api) -> (Ws, Welcome) {
    let mut ws = Ws::connect(&server.base, codec).await;
    ws.send(hello(api.token.as_deref().expect("token"))).await;
    match ws.recv().await {
        ServerFrame::Welcome(w) => (ws, w),
        other => panic!("expected welcome, got {other:?}"),
    }
}

async fn subscribed(ws: &mut Ws, r: i64, topic: Topic, since: Option<Since>) -> OkReply {
    ws.send(subscribe(r, topic, since)).await;
    let (f, _) = ws
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    match f {
        ServerFrame::Ok(ok) => ok,
        other => panic!("subscribe to {topic} failed: {other:?}"),
    }
}

async fn board(org: &Org, template: &str) -> (Uuid, Vec<Uuid>) {
    let b = new_board(org, json!({"name": "Live", "template": template})).await;
    let id = b["id"].as_str().unwrap().parse().unwrap();
    let cols = b["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().parse().unwrap())
        .collect();
    (id, cols)
}

fn events(frames: &[ServerFrame]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Event(e) => Some((e.seq, e.body.kind().to_string())),
            _ => None,
        })
        .collect()
}

/// Reads frames until `n` events arrived.
async fn take_events(ws: &mut Ws, n: usize) -> Vec<EventFrame> {
    let mut out = Vec::new();
    while out.len() < n {
        if let ServerFrame::Event(e) = ws.recv().await {
            out.push(e);
        }
    }
    out
}

#[tokio::test]
async fn two_clients_see_each_others_ops_in_one_order_and_msgpack_sees_the_same() {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let org = new_org(&server, "Live").await;
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let (board_id, cols) = board(&org, "kanban").await;
    let topic = Topic::Board(board_id);

    let (mut a, wa) = connect(&server, Codec::Json, &org.owner).await;
    assert_eq!(wa.principal.role, Role::Owner);
    let (mut b, _) = connect(&server, Codec::Json, &member.api).await;
    let (mut c, _) = connect(&server, Codec::MsgPack, &member.api).await;
    let ok = subscribed(&mut a, 1, topic, None).await;
    let Some(Snapshot::Board(snap)) = ok.snapshot else {
        panic!("no snapshot: {ok:?}")
    };
    assert_eq!(snap.columns.len(), 3);
    subscribed(&mut b, 1, topic, None).await;
    subscribed(&mut c, 1, topic, None).await;

    // Both write at once.
    for i in 0..5 {
        a.send(op(10 + i, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": format!("A{i}")}}))).await;
        b.send(op(10 + i, board_id, json!({"kind": "card.create", "data": {"column_id": cols[1], "title": format!("B{i}")}}))).await;
    }
    let ea = take_events(&mut a, 10).await;
    let eb = take_events(&mut b, 10).await;
    let ec = take_events(&mut c, 10).await;
    let key = |v: &[EventFrame]| {
        v.iter()
            .map(|e| (e.epoch, e.seq, e.op_id))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&ea), key(&eb), "same events, same order");
    assert_eq!(key(&ea), key(&ec), "msgpack sees the same events");
    assert_eq!(ea, ec, "msgpack decodes to the very same frames");
    let seqs: Vec<u64> = ea.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "seq rises by exactly one: {seqs:?}"
    );

    // The HTTP snapshot agrees, and HTTP ops reach the sockets too.
    let (s, snap) = org.owner.get(&format!("/api/v1/boards/{board_id}")).await;
    assert_eq!(s, 200, "{snap}");
    assert_eq!(snap["cards"].as_array().unwrap().len(), 10);
    assert_eq!(snap["seq"], json!(seqs[9]));
    let (s, r) = org
        .owner
        .post(&format!("/api/v1/boards/{board_id}/ops"), json!({"op_id": Uuid::now_v7(), "kind": "column.create", "data": {"name": "Review", "after": cols[1]}}))
        .await;
    assert_eq!(s, 200, "{r}");
    let e = take_events(&mut c, 1).await;
    assert_eq!(e[0].body.kind(), "column.created");
    assert_eq!(json!(e[0].seq), r["seq"]);
    let (s, log) = org
        .owner
        .get(&format!(
            "/api/v1/boards/{board_id}/events?after_seq=0&limit=100"
        ))
        .await;
    assert_eq!(s, 200, "{log}");
    assert_eq!(log["events"].as_array().unwrap().len(), 11);

    // Prometheus metrics count what just happened.
    let (s, text) = server.api().get("/metrics").await;
    assert_eq!(s, 200);
    let text = text.as_str().unwrap_or_default().to_string();
    for name in [
        "boardroom_ops_total 11",
        "boardroom_connections 3",
        "boardroom_commit_seconds_bucket",
        "boardroom_deliveries_total",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
}

#[tokio::test]
async fn acknowledged_ops_survive_kill_9_and_retries_apply_once() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[]).await;
    let org = new_org(&server, "Durable").await;
    let (board_id, cols) = board(&org, "kanban").await;
    let (mut a, _) = connect(&server, Codec::Json, &org.owner).await;
    subscribed(&mut a, 1, Topic::Board(board_id), None).await;
    let mut acked = Vec::new();
    let mut ids = Vec::new();
    for i in 0..30 {
        let id = Uuid::now_v7();
        ids.push(id);
        a.send(op(100 + i, board_id, json!({"op_id": id, "kind": "card.create", "data": {"column_id": cols[0], "title": format!("c{i}")}}))).await;
    }
    while acked.len() < 30 {
        match a.recv().await {
            ServerFrame::Ok(ok) if ok.seq.is_some() => acked.push(ok.seq.unwrap()),
            ServerFrame::Error(e) => panic!("op failed: {e:?}"),
            _ => {}
        }
    }
    drop(a);
    let server = server.kill9_and_restart().await;
    assert_eq!(
        sql_count(
            &db,
            &format!("SELECT count(*) FROM cards WHERE board_id = '{board_id}'")
        )
        .await,
        30
    );
    // A retry of an acknowledged op returns its first answer and applies nothing.
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let (mut a, _) = connect(&server, Codec::Json, &owner).await;
    subscribed(&mut a, 1, Topic::Board(board_id), None).await;
    a.send(op(7, board_id, json!({"op_id": ids[3], "kind": "card.create", "data": {"column_id": cols[0], "title": "again"}}))).await;
    let (f, _) = a
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    let ServerFrame::Ok(ok) = f else {
        panic!("{f:?}")
    };
    assert_eq!(ok.seq, Some(acked[3]));
    assert_eq!(
        a.quiet(Duration::from_millis(300)).await,
        None,
        "no event for a retried op"
    );
    assert_eq!(
        sql_count(
            &db,
            &format!("SELECT count(*) FROM cards WHERE board_id = '{board_id}'")
        )
        .await,
        30
    );
}

#[tokio::test]
async fn reconnect_with_since_gets_exactly_the_missed_events() {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let org = new_org(&server, "Since").await;
    let (board_id, cols) = board(&org, "kanban").await;
    let topic = Topic::Board(board_id);
    let (mut a, _) = connect(&server, Codec::Json, &org.owner).await;
    let (mut b, _) = connect(&server, Codec::Json, &org.owner).await;
    let ok = subscribed(&mut a, 1, topic, None).await;
    subscribed(&mut b, 1, topic, None).await;
    let epoch = ok.epoch.unwrap();
    for i in 0..3 {
        b.send(op(i, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": format!("x{i}")}}))).await;
    }
    let seen = take_events(&mut a, 3).await;
    let last = seen[2].seq;
    drop(a);
    for i in 0..4 {
        b.send(op(10 + i, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": format!("y{i}")}}))).await;
    }
    take_events(&mut b, 7).await;
    let (mut a, _) = connect(&server, Codec::Json, &org.owner).await;
    let ok = subscribed(&mut a, 2, topic, Some(Since { epoch, seq: last })).await;
    assert_eq!(ok.recovered, Some(true));
    assert!(ok.snapshot.is_none());
    let missed = take_events(&mut a, 4).await;
    assert_eq!(
        missed.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (last + 1..=last + 4).collect::<Vec<_>>()
    );
    assert_eq!(
        a.quiet(Duration::from_millis(300)).await,
        None,
        "no duplicates"
    );
    // Another epoch: a snapshot.
    let (mut c, _) = connect(&server, Codec::Json, &org.owner).await;
    let ok = subscribed(
        &mut c,
        3,
        topic,
        Some(Since {
            epoch: epoch + 7,
            seq: 1,
        }),
    )
    .await;
    assert_eq!(ok.recovered, Some(false));
    assert!(matches!(ok.snapshot, Some(Snapshot::Board(ref s)) if s.cards.len() == 7));
}

#[tokio::test]
async fn presence_merges_connections_of_one_user() {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let org = new_org(&server, "Presence").await;
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let (board_id, _) = board(&org, "kanban").await;
    let topic = Topic::Board(board_id);
    let (mut watcher, _) = connect(&server, Codec::Json, &org.owner).await;
    subscribed(&mut watcher, 1, topic, None).await;
    let (mut m1, _) = connect(&server, Codec::Json, &member.api).await;
    let (mut m2, _) = connect(&server, Codec::MsgPack, &member.api).await;
    subscribed(&mut m1, 1, topic, None).await;
    let mid: Uuid = member.id.parse().unwrap();
    watcher
        .recv_until(|f| matches!(f, ServerFrame::Presence(p) if p.joins.contains_key(&mid)))
        .await;
    let ok = subscribed(&mut m2, 1, topic, None).await;
    assert_eq!(
        ok.presence.as_ref().map(|p| p.len()),
        Some(2),
        "owner and member present"
    );
    // The second connection of the same user is no new join.
    assert_eq!(watcher.quiet(Duration::from_millis(300)).await, None);
    drop(m1);
    assert_eq!(
        watcher.quiet(Duration::from_millis(300)).await,
        None,
        "still there through m2"
    );
    drop(m2);
    watcher
        .recv_until(|f| matches!(f, ServerFrame::Presence(p) if p.leaves.contains_key(&mid)))
        .await;
}

#[tokio::test]
async fn job_lifecycle_worker_customer_share_link_and_outsider() {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let org = new_org(&server, "Jobs").await;
    let admin = add_member(&server, &org.owner, &org.id, "admin").await;
    let worker = add_member(&server, &admin.api, &org.id, "worker").await;
    let other_worker = add_member(&server, &admin.api, &org.id, "worker").await;
    let cust_user = add_member(&server, &admin.api, &org.id, "customer").await;
    let cust = admin
        .api
        .post_created(
            &format!("/api/v1/orgs/{}/customers", org.id),
            json!({"name": "Carla", "user_id": cust_user.id}),
        )
        .await;
    let (board_id, cols) = board(&org, "jobs").await;
    let done = *cols.last().unwrap();
    let topic = Topic::Board(board_id);
    let wid: Uuid = worker.id.parse().unwrap();

    let (mut adm, _) = connect(&server, Codec::Json, &admin.api).await;
    subscribed(&mut adm, 1, topic, None).await;
    let (mut w, _) = connect(&server, Codec::Json, &worker.api).await;
    let ok = subscribed(&mut w, 1, topic, None).await;
    assert!(matches!(ok.snapshot, Some(Snapshot::Board(ref s)) if s.cards.is_empty()));
    let (mut cu, _) = connect(&server, Codec::Json, &cust_user.api).await;
    subscribed(&mut cu, 1, topic, None).await;

    // A job for the customer, and one for someone else.
    adm.send(op(2, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "Fix boiler", "customer_id": cust["id"]}}))).await;
    adm.send(op(3, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "Other job", "assignees": [other_worker.id]}}))).await;
    let created = take_events(&mut adm, 2).await;
    let job = created[0].body.card_id().unwrap();
    adm.send(op(
        4,
        board_id,
        json!({"kind": "checklist.add", "data": {"card_id": job, "title": "Inspect"}}),
    ))
    .await;
    adm.send(op(
        5,
        board_id,
        json!({"kind": "card.assign", "data": {"card_id": job, "assignees": [wid]}}),
    ))
    .await;
    let evs = take_events(&mut adm, 2).await;
    let ServerFrame::Ok(_) = adm
        .recv_until(|f| matches!(f, ServerFrame::Ok(o) if o.r#ref == Some(Ref::Int(5))))
        .await
        .0
    else {
        unreachable!()
    };
    let item = match &evs[0].body {
        EventBody::ChecklistAdded(d) => d.item.id,
        other => panic!("{other:?}"),
    };

    // The worker sees their job appear (card.visible) and never the other one.
    let (f, skipped) = w
        .recv_until(|f| matches!(f, ServerFrame::Event(e) if e.body.kind() == "card.visible"))
        .await;
    assert!(
        !events(&skipped).iter().any(|(_, k)| k == "card.created"),
        "worker saw a card not theirs: {skipped:?}"
    );
    let ServerFrame::Event(vis) = f else {
        unreachable!()
    };
    assert_eq!(vis.body.card_id(), Some(job));
    let (n, _) = w
        .recv_until(|f| matches!(f, ServerFrame::Notification(_)))
        .await;
    let ServerFrame::Notification(n) = n else {
        unreachable!()
    };
    assert_eq!(n.notification.kind, NotificationKind::CardAssigned);

    // The worker may tick and move their job, but not create cards.
    w.send(op(6, board_id, json!({"kind": "checklist.toggle", "data": {"card_id": job, "item_id": item, "done": true}}))).await;
    w.send(op(
        7,
        board_id,
        json!({"kind": "card.move", "data": {"card_id": job, "column_id": done, "after": null}}),
    ))
    .await;
    w.send(op(
        8,
        board_id,
        json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "mine"}}),
    ))
    .await;
    let (f, _) = w
        .recv_until(|f| matches!(f, ServerFrame::Error(e) if e.r#ref == Some(Ref::Int(8))))
        .await;
    let ServerFrame::Error(e) = f else {
        unreachable!()
    };
    assert_eq!(e.code, ErrorCode::Forbidden);

    // The customer sees the job move live, without comments or labels, and may change nothing.
    let (f, _) = cu
        .recv_until(|f| matches!(f, ServerFrame::Event(e) if e.body.kind() == "card.moved"))
        .await;
    let ServerFrame::Event(mv) = f else {
        unreachable!()
    };
    assert_eq!(mv.body.card().unwrap().column_id, done);
    let (n, _) = cu
        .recv_until(|f| matches!(f, ServerFrame::Notification(_)))
        .await;
    let ServerFrame::Notification(n) = n else {
        unreachable!()
    };
    assert_eq!(n.notification.kind, NotificationKind::JobStatus);
    cu.send(op(
        9,
        board_id,
        json!({"kind": "card.update", "data": {"card_id": job, "title": "x"}}),
    ))
    .await;
    let (f, _) = cu.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    let ServerFrame::Error(e) = f else {
        unreachable!()
    };
    assert_eq!(e.code, ErrorCode::Forbidden);

    // A share link shows the card live, read-only.
    let (s, link) = admin
        .api
        .post(&format!("/api/v1/cards/{job}/share-links"), json!({}))
        .await;
    assert_eq!(s, 201, "{link}");
    let mut sh = Ws::connect(&server.base, Codec::Json).await;
    sh.send(hello(link["token"].as_str().unwrap())).await;
    assert!(matches!(sh.recv().await, ServerFrame::Welcome(_)));
    let ok = subscribed(&mut sh, 1, Topic::Card(job), None).await;
    let Some(Snapshot::Card(cs)) = ok.snapshot else {
        panic!("{ok:?}")
    };
    assert!(cs.column.is_done && cs.card.comments.is_empty());
    sh.send(subscribe(2, topic, None)).await;
    let (f, _) = sh.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::NotFound),
        "{f:?}"
    );
    adm.send(op(
        10,
        board_id,
        json!({"kind": "card.move", "data": {"card_id": job, "column_id": cols[2], "after": null}}),
    ))
    .await;
    let (f, _) = sh.recv_until(|f| matches!(f, ServerFrame::Event(_))).await;
    let ServerFrame::Event(e) = f else {
        unreachable!()
    };
    assert_eq!(e.topic, Topic::Card(job));
    // Revoking the link closes its session with 4003.
    let (s, _) = revoke_link(&admin.api, &link).await;
    assert_eq!(s, 204);
    assert_eq!(sh.closed().await, Closed::Code(4003));

    // Someone of another org sees nothing: subscribe, ops and HTTP answer not_found.
    let outsider = new_org(&server, "Elsewhere").await;
    let (mut o, _) = connect(&server, Codec::Json, &outsider.owner).await;
    o.send(subscribe(1, topic, None)).await;
    let (f, _) = o.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::NotFound),
        "{f:?}"
    );
    o.send(op(
        2,
        board_id,
        json!({"kind": "card.archive", "data": {"card_id": job}}),
    ))
    .await;
    let (f, _) = o.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::NotFound),
        "{f:?}"
    );
    for path in [
        format!("/api/v1/boards/{board_id}"),
        format!("/api/v1/boards/{board_id}/events"),
    ] {
        let (s, body) = outsider.owner.get(&path).await;
        assert_eq!(s, 404, "{path}: {body}");
    }
    // Unread counts over HTTP, then marked read over the socket.
    let (s, list) = worker.api.get("/api/v1/notifications?unread=true").await;
    assert_eq!(s, 200);
    assert!(list["unread"].as_i64().unwrap() >= 1, "{list}");
    w.send_json(json!({"type": "notifications.read", "ref": 99, "all": true}))
        .await;
    let (f, _) = w
        .recv_until(|f| matches!(f, ServerFrame::Ok(o) if o.r#ref == Some(Ref::Int(99))))
        .await;
    let ServerFrame::Ok(ok) = f else {
        unreachable!()
    };
    assert_eq!(ok.unread, Some(0));
}

#[tokio::test]
async fn bad_input_gets_protocol_errors_and_close_codes() {
    let server = TestServer::start(
        &fresh_pg_url().await,
        &[
            ("BOARDROOM_LIMITS__MAX_FRAME_BYTES", "2048"),
            ("BOARDROOM_REALTIME__HELLO_TIMEOUT_MS", "500"),
        ],
    )
    .await;
    let org = new_org(&server, "Bad").await;
    let (board_id, cols) = board(&org, "kanban").await;
    let token = org.owner.token.clone().unwrap();

    // No hello in time: 4001. A wrong token: error + 4001.
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    assert_eq!(ws.closed().await, Closed::Code(4001));
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(hello("not-a-token")).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::Unauthorized)
    );
    assert_eq!(ws.closed().await, Closed::Code(4001));

    // A bearer header on the upgrade: welcome at once.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&token)).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    // Malformed and unknown frames: bad_request, connection stays.
    ws.send_raw(b"{not json".to_vec()).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::BadRequest)
    );
    ws.send_json(json!({"type": "teleport", "ref": 1})).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::BadRequest)
    );
    ws.send_json(json!({"type": "ping", "ref": "p"})).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Pong(ref p) if p.r#ref == Some(Ref::Str("p".into())))
    );
    // Unknown op field, conflict on version, not_found card.
    subscribed(&mut ws, 1, Topic::Board(board_id), None).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Presence(_)),
        "our own join"
    );
    ws.send_json(json!({"type": "op", "ref": 2, "topic": format!("board:{board_id}"), "op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": cols[0], "title": "t", "colour": 1}})).await;
    assert!(
        matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::BadRequest)
    );
    ws.send(op(3, board_id, json!({"kind": "card.move", "data": {"card_id": Uuid::now_v7(), "column_id": cols[0], "after": null}}))).await;
    assert!(matches!(ws.recv().await, ServerFrame::Error(ref e) if e.code == ErrorCode::NotFound));
    ws.send(op(
        4,
        board_id,
        json!({"kind": "column.delete", "data": {"column_id": cols[0]}}),
    ))
    .await;
    ws.send(op(
        5,
        board_id,
        json!({"kind": "card.create", "data": {"column_id": cols[1], "title": "v"}}),
    ))
    .await;
    let (f, _) = ws
        .recv_until(|f| matches!(f, ServerFrame::Ok(o) if o.r#ref == Some(Ref::Int(5))))
        .await;
    let ServerFrame::Ok(created) = f else {
        unreachable!()
    };
    ws.send(op(
        6,
        board_id,
        json!({"kind": "column.delete", "data": {"column_id": cols[1]}}),
    ))
    .await;
    let (f, _) = ws.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::Conflict),
        "{f:?}"
    );
    ws.send(op(7, board_id, json!({"kind": "card.update", "data": {"card_id": created.id, "title": "w", "expected_version": 99}}))).await;
    let (f, _) = ws.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::Conflict),
        "{f:?}"
    );
    // Rate limiting: a burst over the limit gets rate_limited with retry_after_ms.
    let mut limited = None;
    for i in 0..130 {
        ws.send(op(1000 + i, board_id, json!({"kind": "card.update", "data": {"card_id": created.id, "title": format!("r{i}")}}))).await;
    }
    for _ in 0..400 {
        match ws.next(Duration::from_secs(10)).await {
            Ok(ServerFrame::Error(e)) if e.code == ErrorCode::RateLimited => {
                limited = Some(e);
                break;
            }
            Ok(_) => {}
            Err(c) => panic!("closed early: {c:?}"),
        }
    }
    let limited = limited.expect("no rate_limited error");
    assert!(limited.retry_after_ms.is_some());
    // A frame over the limit: 4413.
    ws.send_json(json!({"type": "ping", "pad": "x".repeat(3000)}))
        .await;
    assert_eq!(ws.closed().await, Closed::Code(4413));

    // Ten malformed frames in a row: 4400.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&token)).await;
    ws.recv().await;
    for _ in 0..10 {
        ws.send_raw(b"nope".to_vec()).await;
    }
    assert_eq!(ws.closed().await, Closed::Code(4400));

    // Flooding after rate_limited: 4008.
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(&token)).await;
    ws.recv().await;
    for i in 0..600 {
        ws.send(op(
            i,
            board_id,
            json!({"kind": "card.update", "data": {"card_id": created.id, "title": "f"}}),
        ))
        .await;
    }
    assert_eq!(ws.closed().await, Closed::Code(4008));

    // An API key revoked while connected: 4003.
    let (s, key) = org
        .owner
        .post(
            &format!("/api/v1/orgs/{}/api-keys", org.id),
            json!({"name": "bot", "role": "member"}),
        )
        .await;
    assert_eq!(s, 201);
    let mut bot = Ws::connect(&server.base, Codec::MsgPack).await;
    bot.send(hello(key["key"].as_str().unwrap())).await;
    assert!(
        matches!(bot.recv().await, ServerFrame::Welcome(ref w) if w.principal.kind == PrincipalKind::ApiKey)
    );
    let (s, _) = org
        .owner
        .delete(&format!(
            "/api/v1/orgs/{}/api-keys/{}",
            org.id,
            key["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(s, 204);
    assert_eq!(bot.closed().await, Closed::Code(4003));
}

#[tokio::test]
async fn members_added_or_changed_while_a_board_is_live_take_effect_at_once() {
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let org = new_org(&server, "Directory").await;
    let (board_id, cols) = board(&org, "jobs").await;
    let (mut a, _) = connect(&server, Codec::Json, &org.owner).await;
    subscribed(&mut a, 1, Topic::Board(board_id), None).await; // the board actor is now loaded
    let late = add_member(&server, &org.owner, &org.id, "worker").await;
    a.send(op(2, board_id, json!({"kind": "card.create", "data": {"column_id": cols[0], "title": "J", "assignees": [late.id]}}))).await;
    let (f, _) = a
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    assert!(
        matches!(f, ServerFrame::Ok(ref ok) if ok.seq.is_some()),
        "a member made after the board loaded can be assigned: {f:?}"
    );
    // A role change closes the member's live sessions, which hold the old role.
    let (mut w, _) = connect(&server, Codec::Json, &late.api).await;
    let (s, body) = org
        .owner
        .patch(
            &format!("/api/v1/orgs/{}/members/{}", org.id, late.id),
            json!({"role": "member"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(w.closed().await, Closed::Code(4003));
}
