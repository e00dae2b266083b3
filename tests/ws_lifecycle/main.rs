//! Lifecycle of the real-time core: a board actor that panics under traffic, a client too
//! slow to read, graceful shutdown on SIGTERM, and the embedded SQLite default.

#[path = "../common/mod.rs"]
mod common;

use boardroom_protocol::*;
use common::ws::{card_create, Closed, Ws};
use common::*;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

mod database;
mod failures;

pub(crate) async fn welcomed(server: &TestServer, codec: Codec, token: &str) -> Ws {
    let mut ws = Ws::connect_with(&server.base, codec, Some(token)).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    ws
}

/// Settings for [`start`]: the debug endpoints (to make a board actor panic), and durability
/// `apply` (acknowledge an op once applied, before its commit).
pub(crate) const DEBUG: &[(&str, &str)] = &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")];
pub(crate) const APPLY: &[(&str, &str)] = &[("BOARDROOM_DURABILITY", "apply")];

/// Where most tests here start: a server with `env` on a database of its own, an org with a
/// board, and the owner connected (`codec`) and subscribed to the board. Returns the server,
/// the org, the board, its first column, the owner's token and the connection.
pub(crate) async fn start(
    env: &[(&str, &str)],
    name: &str,
    codec: Codec,
) -> (TestServer, Org, Uuid, Uuid, String, Ws) {
    let server = TestServer::start(&fresh_pg_url().await, env).await;
    let (org, board, col, token) = org_with_board(&server, name).await;
    let mut ws = welcomed(&server, codec, &token).await;
    subscribe(&mut ws, board, None).await;
    (server, org, board, col, token, ws)
}

pub(crate) async fn subscribe(ws: &mut Ws, board: Uuid, since: Option<Since>) -> OkReply {
    match ws.subscribe_answer(1, Topic::Board(board), since).await {
        ServerFrame::Ok(ok) => ok,
        other => panic!("{other:?}"),
    }
}

pub(crate) async fn new_board(org: &Org) -> (Uuid, Uuid) {
    board_and_column(org, "B").await
}

#[tokio::test]
async fn a_panicking_board_actor_comes_back_and_loses_no_acknowledged_op() {
    let (server, org, board, col, _, mut w) = start(DEBUG, "Crash", Codec::Json).await;
    let db = server.db_url.clone();

    let mut acked: Vec<Uuid> = Vec::new();
    let mut unacked: Vec<Uuid> = Vec::new();
    let mut resynced = false;
    for i in 0..40 {
        let id = Uuid::now_v7();
        unacked.push(id);
        w.send(card_create(i, board, col, id, &format!("c{i}")))
            .await;
        if i == 20 {
            let (s, _) = org
                .owner
                .post(&format!("/api/v1/boards/{board}/debug/panic"), json!({}))
                .await;
            assert_eq!(s, 202);
        }
        // Collect answers as they come.
        while let Some(f) = w.quiet(Duration::from_millis(20)).await {
            note_answer(f, &unacked, &mut acked, &mut resynced);
        }
    }
    // Drain what is still in flight. The failure reaches the supervisor only after the panic
    // hook has printed its backtrace, which can take seconds on a loaded machine: wait for
    // the resync (bounded), not for a fixed quiet period.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while let Some(f) = w
        .quiet(if resynced {
            Duration::from_millis(500)
        } else {
            deadline.saturating_duration_since(tokio::time::Instant::now())
        })
        .await
    {
        note_answer(f, &unacked, &mut acked, &mut resynced);
    }
    assert!(
        resynced,
        "subscribers are told to resync after the actor failed"
    );
    // The board is served again: retry everything with the same op_ids.
    let ok = subscribe(&mut w, board, None).await;
    assert!(ok.snapshot.is_some());
    for (i, id) in unacked.iter().enumerate() {
        w.send(card_create(
            1000 + i as i64,
            board,
            col,
            *id,
            &format!("c{i}"),
        ))
        .await;
    }
    w.until_applied(unacked.len()).await;
    for id in &acked {
        assert_eq!(
            applied_ops(&db, *id).await,
            1,
            "acknowledged op {id} is durable exactly once"
        );
    }
    assert_eq!(
        cards_in_db(&db, board).await,
        40,
        "each op applied exactly once"
    );
}

/// Notes what one frame says about the ops sent: an applied op (its id, by `ref`) or a resync.
fn note_answer(f: ServerFrame, unacked: &[Uuid], acked: &mut Vec<Uuid>, resynced: &mut bool) {
    match f {
        ServerFrame::Ok(ok) if ok.seq.is_some() => {
            if let Some(Ref::Int(r)) = ok.r#ref {
                acked.push(unacked_id(unacked, r));
            }
        }
        ServerFrame::Resync(_) => *resynced = true,
        _ => {}
    }
}

pub(crate) fn unacked_id(ids: &[Uuid], r: i64) -> Uuid {
    ids[(r % 1000) as usize]
}

#[tokio::test]
async fn a_client_that_does_not_read_is_closed_with_4009_and_does_not_slow_others() {
    let server = TestServer::start(
        &fresh_pg_url().await,
        &[
            ("BOARDROOM_LIMITS__SEND_QUEUE_FRAMES", "64"),
            // Overload admission out of the way (no subscriber counts as behind below its full
            // queue): with the slow one behind and the reader briefly 32 frames back, the
            // board would refuse ops and the reader would wait for events never made. The
            // admission has its own tests in tests/ws_overload.rs.
            ("BOARDROOM_REALTIME__FANOUT_BACKLOG_FRAMES", "64"),
            ("BOARDROOM_DURABILITY", "apply"),
            UNLIMITED_OPS[0],
            UNLIMITED_OPS[1],
        ],
    )
    .await;
    let (org, board, col, token) = org_with_board(&server, "Slow").await;
    let mut slow = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut slow, board, None).await;
    let mut fast = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut fast, board, None).await;
    let mut writer = welcomed(&server, Codec::Json, &token).await;
    let (s, c) = org.owner.post(&format!("/api/v1/boards/{board}/ops"), json!({"op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": col, "title": "big"}})).await;
    assert_eq!(s, 200, "{c}");
    let card = c["id"].as_str().unwrap().to_string();
    let big = "x".repeat(9000);
    // Enough bytes to fill the socket buffers of the client that does not read; sent in
    // steps the reading client keeps up with.
    let n = 2000;
    let mut got = 0;
    for step in 0..n / 50 {
        for i in step * 50..(step + 1) * 50 {
            let f: ClientFrame = serde_json::from_value(json!({"type": "op", "ref": i, "topic": format!("board:{board}"), "op_id": Uuid::now_v7(),
                "kind": "card.update", "data": {"card_id": card, "description": format!("{i}{big}")}})).unwrap();
            writer.send(f).await;
        }
        // The reader that keeps up gets every event.
        while got < (step + 1) * 50 {
            if let ServerFrame::Event(_) = fast.recv().await {
                got += 1;
            }
        }
    }
    // The one that did not read is closed with 4009.
    assert_eq!(slow.closed().await, Closed::Code(4009));
}

#[tokio::test]
async fn sigterm_closes_clients_with_1001_flushes_and_exits_0() {
    let (mut server, _, board, col, _, mut w) = start(&[], "Term", Codec::MsgPack).await;
    let db = server.db_url.clone();
    for i in 0..20 {
        w.send(card_create(i, board, col, Uuid::now_v7(), "t"))
            .await;
    }
    let mut oks = 0;
    while oks < 20 {
        if let ServerFrame::Ok(ok) = w.recv().await {
            if ok.seq.is_some() {
                oks += 1;
            }
        }
    }
    let status = server.terminate();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(w.closed().await, Closed::Code(1001));
    assert_eq!(cards_in_db(&db, board).await, 20);
}

#[tokio::test]
async fn the_embedded_sqlite_default_serves_the_demo_live() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_string();
    let server = TestServer::start_embedded(&data).await;
    let owner = server.login("owner@demo.boardroom", "boardroom-demo").await;
    let worker = server
        .login("worker@demo.boardroom", "boardroom-demo")
        .await;
    let (s, me) = owner.get("/api/v1/me").await;
    assert_eq!(s, 200);
    let org = me["memberships"][0]["org_id"].as_str().unwrap().to_string();
    let (_, boards) = owner.get(&format!("/api/v1/orgs/{org}/boards")).await;
    let jobs = find_in(&boards, "boards", |b| b["template"] == "jobs").clone();
    let board: Uuid = jobs["id"].as_str().unwrap().parse().unwrap();
    let mut o = welcomed(&server, Codec::Json, owner.token.as_deref().unwrap()).await;
    let mut w = welcomed(&server, Codec::Json, worker.token.as_deref().unwrap()).await;
    let all = subscribe(&mut o, board, None).await;
    let mine = subscribe(&mut w, board, None).await;
    let count = |ok: &OkReply| match &ok.snapshot {
        Some(Snapshot::Board(b)) => b.cards.len(),
        _ => 0,
    };
    assert_eq!(count(&all), 3);
    assert_eq!(count(&mine), 2, "the demo worker sees only their two jobs");
    let col: Uuid = jobs["columns"][0]["id"].as_str().unwrap().parse().unwrap();
    o.send(card_create(5, board, col, Uuid::now_v7(), "New job"))
        .await;
    let (f, _) = o
        .recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.seq.is_some()))
        .await;
    assert!(matches!(f, ServerFrame::Ok(_)));
    let (_, snap) = owner.get(&format!("/api/v1/boards/{board}")).await;
    assert_eq!(snap["cards"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn sse_stream_of_a_share_link_with_last_event_id_resume() {
    let (server, org) = server_with_org("Sse").await;
    let b = org
        .create("boards", json!({"name": "J", "template": "jobs"}))
        .await;
    let board = b["id"].as_str().unwrap().to_string();
    let cols: Vec<String> = b["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let (_, c) = org.owner.post(&format!("/api/v1/boards/{board}/ops"), json!({"op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": cols[0], "title": "Job"}})).await;
    let card = c["id"].as_str().unwrap().to_string();
    let link = share_link(&org.owner, &card, json!({})).await;
    let token = link["token"].as_str().unwrap().to_string();
    let url = server.url(&format!("/api/v1/stream?topic=card:{card}&token={token}"));
    let http = reqwest::Client::new();
    let mut res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 200);
    let mut buf = String::new();
    sse_until(&mut res, &mut buf, |b| b.contains("event: ok")).await;
    let mv = |col: &str| json!({"op_id": Uuid::now_v7(), "kind": "card.move", "data": {"card_id": card, "column_id": col, "after": null}});
    let (_, r1) = org
        .owner
        .post(&format!("/api/v1/boards/{board}/ops"), mv(&cols[1]))
        .await;
    let seq1 = r1["seq"].as_u64().unwrap();
    sse_until(&mut res, &mut buf, |b| b.contains("event: event")).await;
    let id_line = buf
        .lines()
        .find(|l| l.starts_with("id:"))
        .expect("event id")
        .to_string();
    let last_id = id_line.trim_start_matches("id:").trim().to_string();
    assert!(last_id.ends_with(&format!(":{seq1}")), "{last_id}");
    drop(res);
    // Missed while away: resumed with Last-Event-ID, no snapshot, exactly the next move.
    let (_, r2) = org
        .owner
        .post(&format!("/api/v1/boards/{board}/ops"), mv(&cols[2]))
        .await;
    let seq2 = r2["seq"].as_u64().unwrap();
    let mut res = http
        .get(&url)
        .header("Last-Event-ID", &last_id)
        .send()
        .await
        .unwrap();
    let mut buf = String::new();
    sse_until(&mut res, &mut buf, |b| b.contains(&format!(":{seq2}\n"))).await;
    assert!(buf.contains("\"recovered\":true"), "{buf}");
    // A revoked link: the stream ends, a new one is refused.
    let (s, _) = revoke_link(&org.owner, &link).await;
    assert_eq!(s, 204);
    sse_until(&mut res, &mut buf, |b| b.contains("event: close")).await;
    let res = http.get(&url).send().await.unwrap();
    assert_eq!(res.status(), 401);
}

/// A metric's value from `GET /metrics` (0 when it has not been recorded yet).
pub(crate) async fn metric(server: &TestServer, name: &str) -> f64 {
    let (_, text) = server.api().get("/metrics").await;
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// The op ids of the board's event log, read over HTTP.
pub(crate) async fn logged_op_ids(api: &Api, board: Uuid) -> Vec<Uuid> {
    let (s, body) = api.get(&format!("/api/v1/boards/{board}/events")).await;
    assert_eq!(s, 200, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["op_id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// Waits until the subscriber's own presence join has arrived, so that what follows is quiet.
pub(crate) async fn own_join(ws: &mut Ws) {
    ws.recv_until(|f| matches!(f, ServerFrame::Presence(_)))
        .await;
}
