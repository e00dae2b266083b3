//! The real-time core end to end: the real binary on Postgres, real WebSockets.

#[path = "../common/mod.rs"]
mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

mod access;
mod bad_input;

pub(crate) fn hello(token: &str) -> ClientFrame {
    ClientFrame::Hello(Hello {
        r#ref: Some(Ref::Int(0)),
        token: token.into(),
        client: Some("test/1".into()),
    })
}

pub(crate) fn subscribe(r: i64, topic: Topic, since: Option<Since>) -> ClientFrame {
    ClientFrame::Subscribe(Subscribe {
        r#ref: Some(Ref::Int(r)),
        topic,
        since,
    })
}

pub(crate) fn op(r: i64, board: Uuid, op: Value) -> ClientFrame {
    let mut v = op;
    v["type"] = json!("op");
    v["ref"] = json!(r);
    v["topic"] = json!(format!("board:{board}"));
    if v.get("op_id").is_none() {
        v["op_id"] = json!(Uuid::now_v7());
    }
    serde_json::from_value(v).expect("op frame")
}

pub(crate) async fn connect(server: &TestServer, codec: Codec, api: &Api) -> (Ws, Welcome) {
    let mut ws = Ws::connect(&server.base, codec).await;
    ws.send(hello(api.token.as_deref().expect("token"))).await;
    match ws.recv().await {
        ServerFrame::Welcome(w) => (ws, w),
        other => panic!("expected welcome, got {other:?}"),
    }
}

pub(crate) async fn subscribed(ws: &mut Ws, r: i64, topic: Topic, since: Option<Since>) -> OkReply {
    ws.send(subscribe(r, topic, since)).await;
    let f = ws.next_answer().await;
    match f {
        ServerFrame::Ok(ok) => ok,
        other => panic!("subscribe to {topic} failed: {other:?}"),
    }
}

pub(crate) async fn board(org: &Org, template: &str) -> (Uuid, Vec<Uuid>) {
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

pub(crate) fn events(frames: &[ServerFrame]) -> Vec<(u64, String)> {
    frames
        .iter()
        .filter_map(|f| match f {
            ServerFrame::Event(e) => Some((e.seq, e.body.kind().to_string())),
            _ => None,
        })
        .collect()
}

/// Reads frames until `n` events arrived.
pub(crate) async fn take_events(ws: &mut Ws, n: usize) -> Vec<EventFrame> {
    let mut out = Vec::new();
    while out.len() < n {
        if let ServerFrame::Event(e) = ws.recv().await {
            out.push(e);
        }
    }
    out
}

/// A server with an org named `name`, a member of it, and a kanban board: its id and columns.
async fn with_member(name: &str) -> (TestServer, Org, Member, Uuid, Vec<Uuid>) {
    let (server, org) = server_with_org(name).await;
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let (board_id, cols) = board(&org, "kanban").await;
    (server, org, member, board_id, cols)
}

#[tokio::test]
async fn two_clients_see_each_others_ops_in_one_order_and_msgpack_sees_the_same() {
    let (server, org, member, board_id, cols) = with_member("Live").await;
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
    let (server, org) = server_with_org("Durable").await;
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
    assert_eq!(cards_in_db(&server.db_url, board_id).await, 30);
    // A retry of an acknowledged op returns its first answer and applies nothing.
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let (mut a, _) = connect(&server, Codec::Json, &owner).await;
    subscribed(&mut a, 1, Topic::Board(board_id), None).await;
    a.send(op(7, board_id, json!({"op_id": ids[3], "kind": "card.create", "data": {"column_id": cols[0], "title": "again"}}))).await;
    let f = a.next_answer().await;
    let ServerFrame::Ok(ok) = f else {
        panic!("{f:?}")
    };
    assert_eq!(ok.seq, Some(acked[3]));
    assert_eq!(
        a.quiet(Duration::from_millis(300)).await,
        None,
        "no event for a retried op"
    );
    assert_eq!(cards_in_db(&server.db_url, board_id).await, 30);
}

#[tokio::test]
async fn reconnect_with_since_gets_exactly_the_missed_events() {
    let (server, org) = server_with_org("Since").await;
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
    let (server, org, member, board_id, _) = with_member("Presence").await;
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
