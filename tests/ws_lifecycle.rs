//! Lifecycle of the real-time core: a board actor that panics under traffic, a client too
//! slow to read, graceful shutdown on SIGTERM, and the embedded SQLite default.

mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

async fn welcomed(server: &TestServer, codec: Codec, token: &str) -> Ws {
    let mut ws = Ws::connect_with(&server.base, codec, Some(token)).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    ws
}

async fn subscribe(ws: &mut Ws, board: Uuid, since: Option<Since>) -> OkReply {
    match ws.subscribe_answer(1, Topic::Board(board), since).await {
        ServerFrame::Ok(ok) => ok,
        other => panic!("{other:?}"),
    }
}

fn card_create(r: i64, board: Uuid, column: Uuid, op_id: Uuid, title: &str) -> ClientFrame {
    serde_json::from_value(
        json!({"type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.create", "data": {"column_id": column, "title": title}}),
    )
    .unwrap()
}

async fn new_board(org: &Org) -> (Uuid, Uuid) {
    board_and_column(org, "B").await
}

#[tokio::test]
async fn a_panicking_board_actor_comes_back_and_loses_no_acknowledged_op() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")]).await;
    let (org, board, col, token) = org_with_board(&server, "Crash").await;
    let mut w = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut w, board, None).await;

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
            match f {
                ServerFrame::Ok(ok) if ok.seq.is_some() => {
                    if let Some(Ref::Int(r)) = ok.r#ref {
                        acked.push(unacked_id(&unacked, r));
                    }
                }
                ServerFrame::Resync(_) => resynced = true,
                _ => {}
            }
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
        match f {
            ServerFrame::Ok(ok) if ok.seq.is_some() => {
                if let Some(Ref::Int(r)) = ok.r#ref {
                    acked.push(unacked_id(&unacked, r));
                }
            }
            ServerFrame::Resync(_) => resynced = true,
            _ => {}
        }
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
    let mut answers = 0;
    while answers < unacked.len() {
        match w.recv().await {
            ServerFrame::Ok(ok) if ok.seq.is_some() => answers += 1,
            ServerFrame::Error(e) => panic!("retry failed: {e:?}"),
            _ => {}
        }
    }
    for id in &acked {
        assert_eq!(
            sql_count(
                &db,
                &format!("SELECT count(*) FROM applied_ops WHERE op_id = '{id}'")
            )
            .await,
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

fn unacked_id(ids: &[Uuid], r: i64) -> Uuid {
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
            ("BOARDROOM_LIMITS__OPS_PER_SECOND_PER_CONNECTION", "100000"),
            ("BOARDROOM_LIMITS__OPS_BURST_PER_CONNECTION", "100000"),
            ("BOARDROOM_DURABILITY", "apply"),
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
    let db = fresh_pg_url().await;
    let mut server = TestServer::start(&db, &[]).await;
    let (_, board, col, token) = org_with_board(&server, "Term").await;
    let mut w = welcomed(&server, Codec::MsgPack, &token).await;
    subscribe(&mut w, board, None).await;
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
    let server = TestServer::start(&fresh_pg_url().await, &[]).await;
    let org = new_org(&server, "Sse").await;
    let (s, b) = org
        .owner
        .post(
            &format!("/api/v1/orgs/{}/boards", org.id),
            json!({"name": "J", "template": "jobs"}),
        )
        .await;
    assert_eq!(s, 201);
    let board = b["id"].as_str().unwrap().to_string();
    let cols: Vec<String> = b["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect();
    let (_, c) = org.owner.post(&format!("/api/v1/boards/{board}/ops"), json!({"op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": cols[0], "title": "Job"}})).await;
    let card = c["id"].as_str().unwrap().to_string();
    let (_, link) = org
        .owner
        .post(&format!("/api/v1/cards/{card}/share-links"), json!({}))
        .await;
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

#[tokio::test]
async fn a_stalled_database_answers_unavailable_then_commits_everything_accepted() {
    use sqlx::Connection;
    let db = fresh_pg_url().await;
    let server = TestServer::start(
        &db,
        &[
            ("BOARDROOM_REALTIME__JOURNAL_CAPACITY", "4"),
            ("BOARDROOM_REALTIME__JOURNAL_MAX_BATCH", "2"),
            ("BOARDROOM_LIMITS__MAX_SUBSCRIPTIONS_PER_CONNECTION", "2"),
        ],
    )
    .await;
    let (org, board, col, token) = org_with_board(&server, "Stall").await;
    let mut w = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut w, board, None).await;
    // Subscriptions are limited per connection (the user topic is one of the two).
    w.send(ClientFrame::Subscribe(Subscribe {
        r#ref: Some(Ref::Int(2)),
        topic: Topic::Org(org.id.parse().unwrap()),
        since: None,
    }))
    .await;
    let (f, _) = w.recv_until(|f| matches!(f, ServerFrame::Error(_))).await;
    assert!(
        matches!(f, ServerFrame::Error(ref e) if e.code == ErrorCode::TooLarge),
        "{f:?}"
    );

    // Another session holds the boards table: every commit waits.
    let mut blocker = sqlx::PgConnection::connect(&db).await.unwrap();
    let mut tx = blocker.begin().await.unwrap();
    sqlx::query("LOCK TABLE boards IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .unwrap();
    let mut refused = None;
    let mut sent = 0;
    for i in 0..40 {
        w.send(card_create(100 + i, board, col, Uuid::now_v7(), "s"))
            .await;
        sent += 1;
        if let Some(ServerFrame::Error(e)) = w.quiet(Duration::from_millis(30)).await {
            refused = Some(e);
            break;
        }
    }
    let refused = refused.expect("ops are refused once the journal is full");
    assert_eq!(refused.code, ErrorCode::Unavailable);
    assert!(refused.retry_after_ms.is_some());
    tx.rollback().await.unwrap();
    // Every op that was accepted gets its ok, and is in the database.
    let accepted = sent - 1;
    let mut oks = 0;
    while oks < accepted {
        match w.recv().await {
            ServerFrame::Ok(ok) if ok.seq.is_some() => oks += 1,
            ServerFrame::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    assert_eq!(cards_in_db(&db, board).await, accepted);
}

#[tokio::test]
async fn an_idle_board_passivates_and_comes_back_on_next_use() {
    let server = TestServer::start(
        &fresh_pg_url().await,
        &[("BOARDROOM_REALTIME__BOARD_IDLE_SECS", "1")],
    )
    .await;
    let (_, board, col, token) = org_with_board(&server, "Idle").await;
    let active = |text: &serde_json::Value| {
        text.as_str()
            .unwrap_or_default()
            .lines()
            .find(|l| l.starts_with("boardroom_boards_active "))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(-1.0)
    };
    let mut w = welcomed(&server, Codec::Json, &token).await;
    let first = subscribe(&mut w, board, None).await;
    assert_eq!(active(&server.api().get("/metrics").await.1), 1.0);
    w.send(ClientFrame::Unsubscribe(Unsubscribe {
        r#ref: Some(Ref::Int(9)),
        topic: Topic::Board(board),
    }))
    .await;
    w.recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.r#ref == Some(Ref::Int(9))))
        .await;
    // Nobody subscribed, nothing pending: the actor stops within a few idle checks.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while active(&server.api().get("/metrics").await.1) != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the idle board never passivated"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The next use loads it again, in a new epoch.
    let again = subscribe(&mut w, board, None).await;
    assert!(
        again.epoch > first.epoch,
        "{:?} then {:?}",
        first.epoch,
        again.epoch
    );
    w.send(card_create(10, board, col, Uuid::now_v7(), "after"))
        .await;
    let (f, _) = w
        .recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.r#ref == Some(Ref::Int(10))))
        .await;
    assert!(matches!(f, ServerFrame::Ok(ok) if ok.seq.is_some()));
}

/// Holds the board's row lock from another transaction: every group commit that touches the
/// board waits for it (a stalled database, as far as the board's writes go), while plain reads
/// (logins, lookups, the event log) go on.
struct Stall(sqlx::PgConnection);

impl Stall {
    async fn board(db: &str, board: Uuid) -> Stall {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(db).await.unwrap();
        sqlx::raw_sql("BEGIN").execute(&mut c).await.unwrap();
        sqlx::query("SELECT 1 FROM boards WHERE id = $1 FOR UPDATE")
            .bind(board)
            .execute(&mut c)
            .await
            .unwrap();
        Stall(c)
    }

    async fn release(mut self) {
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut self.0)
            .await
            .unwrap();
    }
}

/// A metric's value from `GET /metrics` (0 when it has not been recorded yet).
async fn metric(server: &TestServer, name: &str) -> f64 {
    let (_, text) = server.api().get("/metrics").await;
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.split_whitespace().next() == Some(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn applied(db: &str, op_id: Uuid) -> i64 {
    sql_count(
        db,
        &format!("SELECT count(*) FROM applied_ops WHERE op_id = '{op_id}'"),
    )
    .await
}

/// The op ids of the board's event log, read over HTTP.
async fn logged_op_ids(api: &Api, board: Uuid) -> Vec<Uuid> {
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
async fn own_join(ws: &mut Ws) {
    ws.recv_until(|f| matches!(f, ServerFrame::Presence(_)))
        .await;
}

#[tokio::test]
async fn durability_apply_acks_and_fans_out_while_the_database_is_stalled() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[("BOARDROOM_DURABILITY", "apply")]).await;
    let (org, board, col, token) = org_with_board(&server, "Apply").await;
    let mut watcher = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut watcher, board, None).await;
    own_join(&mut watcher).await;
    let mut writer = welcomed(&server, Codec::MsgPack, &token).await;

    let stall = Stall::board(&db, board).await;
    let ops: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (i, id) in ops.iter().enumerate() {
        writer
            .send(card_create(i as i64, board, col, *id, "while stalled"))
            .await;
    }
    // Every op is acknowledged and its event delivered although nothing can commit.
    let mut acked = Vec::new();
    while acked.len() < ops.len() {
        match writer.recv().await {
            ServerFrame::Ok(ok) => acked.push(ok.seq.expect("op ok carries seq")),
            ServerFrame::Error(e) => panic!("op refused while stalled: {e:?}"),
            _ => {}
        }
    }
    let mut seen = Vec::new();
    while seen.len() < ops.len() {
        if let ServerFrame::Event(e) = watcher.recv().await {
            seen.push((e.seq, e.op_id));
        }
    }
    assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), acked);
    assert_eq!(seen.iter().map(|s| s.1).collect::<Vec<_>>(), ops);
    // ... and none of it is durable yet: the acks came before the commit.
    assert_eq!(cards_in_db(&db, board).await, 0);
    for id in &ops {
        assert_eq!(applied(&db, *id).await, 0);
    }
    assert!(logged_op_ids(&org.owner, board).await.is_empty());

    // Once the database answers, the batch commits: everything acknowledged is in the log.
    stall.release().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let logged = logged_op_ids(&org.owner, board).await;
        if logged == ops {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "acknowledged ops never reached the event log: {logged:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(cards_in_db(&db, board).await, 3);
    for id in &ops {
        assert_eq!(applied(&db, *id).await, 1);
    }
}

#[tokio::test]
async fn durability_commit_holds_the_ack_and_the_event_until_the_batch_commits() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[]).await;
    let (_, board, col, token) = org_with_board(&server, "Commit").await;
    let mut watcher = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut watcher, board, None).await;
    own_join(&mut watcher).await;
    let mut writer = welcomed(&server, Codec::Json, &token).await;

    let stall = Stall::board(&db, board).await;
    let id = Uuid::now_v7();
    writer.send(card_create(1, board, col, id, "held")).await;
    // The contrast with apply mode: while the batch cannot commit, neither the sender nor the
    // other subscriber hears of the op.
    assert!(writer.quiet(Duration::from_millis(500)).await.is_none());
    assert!(watcher.quiet(Duration::from_millis(100)).await.is_none());
    stall.release().await;
    let (f, _) = writer
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    assert!(
        matches!(f, ServerFrame::Ok(ref ok) if ok.seq.is_some()),
        "{f:?}"
    );
    let (f, _) = watcher
        .recv_until(|f| matches!(f, ServerFrame::Event(_)))
        .await;
    assert!(matches!(f, ServerFrame::Event(ref e) if e.op_id == id));
    // By the time of the ok it is durable.
    assert_eq!(applied(&db, id).await, 1);
}

#[tokio::test]
async fn durability_apply_sigterm_flushes_every_acknowledged_op() {
    let db = fresh_pg_url().await;
    let mut server = TestServer::start(&db, &[("BOARDROOM_DURABILITY", "apply")]).await;
    let (_, board, col, token) = org_with_board(&server, "ApplyTerm").await;
    let mut w = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut w, board, None).await;

    let stall = Stall::board(&db, board).await;
    let ops: Vec<Uuid> = (0..5).map(|_| Uuid::now_v7()).collect();
    for (i, id) in ops.iter().enumerate() {
        w.send(card_create(10 + i as i64, board, col, *id, "t"))
            .await;
    }
    let mut oks = 0;
    while oks < ops.len() {
        if let ServerFrame::Ok(ok) = w.recv().await {
            if ok.seq.is_some() {
                oks += 1;
            }
        }
    }
    assert_eq!(
        cards_in_db(&db, board).await,
        0,
        "acknowledged, not durable"
    );

    // Shut down while the commit still cannot happen: clients go at once, the process waits
    // for the flush.
    server.sigterm();
    assert_eq!(w.closed().await, Closed::Code(1001));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        server.exited().is_none(),
        "the server exited with acknowledged ops unflushed"
    );
    stall.release().await;
    let status = server.wait_exit();
    assert!(status.success(), "exit status {status:?}");
    assert_eq!(cards_in_db(&db, board).await, 5);
    for id in &ops {
        assert_eq!(
            applied(&db, *id).await,
            1,
            "acknowledged op {id} is durable"
        );
    }
}

#[tokio::test]
async fn ops_in_flight_when_a_board_actor_panics_are_answered_unavailable() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")]).await;
    let (org, board, col, token) = org_with_board(&server, "InFlight").await;
    let mut w = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut w, board, None).await;

    // Commits stall, so the ops are applied and wait for their commit in the actor.
    let stall = Stall::board(&db, board).await;
    let ws_ops: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    for (i, id) in ws_ops.iter().enumerate() {
        w.send(card_create(1 + i as i64, board, col, *id, "ws"))
            .await;
    }
    let http_op = Uuid::now_v7();
    let http_body = json!({"op_id": http_op, "kind": "card.create", "data": {"column_id": col, "title": "http"}});
    let owner = org.owner.clone();
    let path = format!("/api/v1/boards/{board}/ops");
    let (p, b) = (path.clone(), http_body.clone());
    let http = tokio::spawn(async move { owner.send("POST", &p, Some(b)).await });
    // All four are in the actor's hands once it has counted them.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&server, "boardroom_ops_total").await < 4.0 {
        assert!(tokio::time::Instant::now() < deadline, "ops never applied");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let (s, _) = org
        .owner
        .post(&format!("/api/v1/boards/{board}/debug/panic"), json!({}))
        .await;
    assert_eq!(s, 202);
    // Every op in flight is answered, none hangs: unavailable, retry later.
    let mut answered = Vec::new();
    let mut resynced = false;
    while answered.len() < ws_ops.len() {
        match w.recv().await {
            ServerFrame::Error(e) => {
                assert_eq!(e.code, ErrorCode::Unavailable, "{e:?}");
                assert!(e.retry_after_ms.is_some(), "{e:?}");
                answered.push(e.r#ref.clone());
            }
            ServerFrame::Ok(ok) => panic!("an op was acknowledged without its commit: {ok:?}"),
            ServerFrame::Resync(_) => resynced = true,
            _ => {}
        }
    }
    answered.sort_by_key(|r| format!("{r:?}"));
    assert_eq!(
        answered,
        vec![Some(Ref::Int(1)), Some(Ref::Int(2)), Some(Ref::Int(3))]
    );
    let r = tokio::time::timeout(Duration::from_secs(10), http)
        .await
        .expect("the HTTP op hangs")
        .unwrap();
    let (err, _) = expect_retry_later(&r, 503, "unavailable");
    assert!(err["retry_after_ms"].as_u64().is_some(), "{}", r.body);
    if !resynced {
        let (f, _) = w.recv_until(|f| matches!(f, ServerFrame::Resync(_))).await;
        assert!(matches!(f, ServerFrame::Resync(_)));
    }

    // Their fate was unknown; retried with the same op_ids, each is applied exactly once.
    stall.release().await;
    subscribe(&mut w, board, None).await;
    for (i, id) in ws_ops.iter().enumerate() {
        w.send(card_create(11 + i as i64, board, col, *id, "ws"))
            .await;
    }
    let mut oks = 0;
    while oks < ws_ops.len() {
        match w.recv().await {
            ServerFrame::Ok(ok) if ok.seq.is_some() => oks += 1,
            ServerFrame::Error(e) => panic!("retry failed: {e:?}"),
            _ => {}
        }
    }
    let (s, body) = org.owner.post(&path, http_body).await;
    assert_eq!(s, 200, "HTTP retry failed: {body}");
    for id in ws_ops.iter().chain([&http_op]) {
        assert_eq!(applied(&db, *id).await, 1, "op {id} applied exactly once");
    }
    assert_eq!(cards_in_db(&db, board).await, 4);
    let (s, snap) = org.owner.get(&format!("/api/v1/boards/{board}")).await;
    assert_eq!(s, 200);
    assert_eq!(
        snap["cards"].as_array().unwrap().len(),
        4,
        "the live board agrees with the database: {snap}"
    );
}

#[tokio::test]
async fn an_op_the_server_fails_on_is_answered_internal_and_can_be_retried() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(&db, &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")]).await;
    let (org, board, col, token) = org_with_board(&server, "Internal").await;
    let mut w = welcomed(&server, Codec::MsgPack, &token).await;
    subscribe(&mut w, board, None).await;
    let arm = || async {
        let (s, body) = org
            .owner
            .post(
                &format!("/api/v1/boards/{board}/debug/panic"),
                json!({"when": "next_op"}),
            )
            .await;
        assert_eq!(s, 202, "{body}");
    };

    // Over the WebSocket: the op in hand when the actor fails gets `internal`.
    arm().await;
    let ws_op = Uuid::now_v7();
    w.send(card_create(7, board, col, ws_op, "boom")).await;
    let (f, _) = w
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    let ServerFrame::Error(e) = f else {
        panic!("expected an error, got {f:?}")
    };
    assert_eq!(e.code, ErrorCode::Internal, "{e:?}");
    assert_eq!(e.r#ref, Some(Ref::Int(7)));
    assert!(!e.message.is_empty());
    w.recv_until(|f| matches!(f, ServerFrame::Resync(_))).await;

    // Over HTTP: 500 with the error body.
    arm().await;
    let http_op = Uuid::now_v7();
    let body = json!({"op_id": http_op, "kind": "card.create", "data": {"column_id": col, "title": "boom"}});
    let path = format!("/api/v1/boards/{board}/ops");
    let got = org.owner.post(&path, body.clone()).await;
    expect_error(&got, 500, "internal");

    // Nothing was applied; the same op_ids go through once the board is back.
    assert_eq!(applied(&db, ws_op).await, 0);
    assert_eq!(applied(&db, http_op).await, 0);
    subscribe(&mut w, board, None).await;
    w.send(card_create(8, board, col, ws_op, "again")).await;
    let (f, _) = w
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    assert!(
        matches!(f, ServerFrame::Ok(ref ok) if ok.seq.is_some()),
        "{f:?}"
    );
    let (s, b) = org.owner.post(&path, body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(applied(&db, ws_op).await, 1);
    assert_eq!(applied(&db, http_op).await, 1);
    assert_eq!(cards_in_db(&db, board).await, 2);
}

#[tokio::test]
async fn a_session_that_fails_is_closed_with_1011_and_cleaned_up() {
    let server = TestServer::start(
        &fresh_pg_url().await,
        &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")],
    )
    .await;
    let org = new_org(&server, "Broken").await;
    let (board, _) = new_board(&org).await;
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let owner_token = org.owner.token.clone().unwrap();
    let mut broken = welcomed(&server, Codec::Json, &owner_token).await;
    subscribe(&mut broken, board, None).await;
    let mut other = welcomed(&server, Codec::Json, member.api.token.as_deref().unwrap()).await;
    let ok = subscribe(&mut other, board, None).await;
    let owner_id: Uuid = org.owner_id.parse().unwrap();
    assert!(ok.presence.unwrap().contains_key(&owner_id));

    let (s, body) = org
        .owner
        .post("/api/v1/debug/sessions/panic", json!({}))
        .await;
    assert_eq!(s, 202, "{body}");
    assert_eq!(body["sessions"], 1);
    broken
        .send(ClientFrame::Ping(Ping {
            r#ref: Some(Ref::Int(1)),
        }))
        .await;
    // Whatever was queued may still arrive; then the close says the server broke.
    assert_eq!(broken.closed().await, Closed::Code(1011));
    // The failed session was cleaned up: its presence is gone from the board.
    let (f, _) = other
        .recv_until(|f| matches!(f, ServerFrame::Presence(p) if p.leaves.contains_key(&owner_id)))
        .await;
    assert!(matches!(f, ServerFrame::Presence(_)));
    assert_eq!(
        metric(&server, "boardroom_session_failures_total").await,
        1.0
    );
    // The server is fine: a new session works.
    let mut again = welcomed(&server, Codec::Json, &owner_token).await;
    again
        .send(ClientFrame::Ping(Ping {
            r#ref: Some(Ref::Int(2)),
        }))
        .await;
    assert!(matches!(again.recv().await, ServerFrame::Pong(_)));
}

#[tokio::test]
async fn durability_apply_an_idle_board_waits_for_its_commit_before_passivating() {
    let db = fresh_pg_url().await;
    let server = TestServer::start(
        &db,
        &[
            ("BOARDROOM_DURABILITY", "apply"),
            ("BOARDROOM_REALTIME__BOARD_IDLE_SECS", "1"),
        ],
    )
    .await;
    let (_, board, col, token) = org_with_board(&server, "ApplyIdle").await;
    let mut w = welcomed(&server, Codec::Json, &token).await;
    subscribe(&mut w, board, None).await;
    let stall = Stall::board(&db, board).await;
    let id = Uuid::now_v7();
    w.send(card_create(5, board, col, id, "acked, not flushed"))
        .await;
    w.recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.seq.is_some()))
        .await;
    w.send(ClientFrame::Unsubscribe(Unsubscribe {
        r#ref: Some(Ref::Int(6)),
        topic: Topic::Board(board),
    }))
    .await;
    w.recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.r#ref == Some(Ref::Int(6))))
        .await;
    // Idle and unsubscribed, but its acknowledged op is not committed: it stays (a board
    // stopped now would be claimed again in a new epoch, fencing off its own commit).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(metric(&server, "boardroom_boards_active").await, 1.0);
    stall.release().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&server, "boardroom_boards_active").await != 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the board never passivated after its commit"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(applied(&db, id).await, 1);
}
