//! Failures inside the server (a board actor panicking with ops in flight, an op the server
//! fails on, a failing session) and passivation waiting for its commit.

use super::*;

#[tokio::test]
async fn ops_in_flight_when_a_board_actor_panics_are_answered_unavailable() {
    let (server, org, board, col, _, mut w) = start(DEBUG, "InFlight", Codec::Json).await;
    let db = server.db_url.clone();

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
    w.until_applied(ws_ops.len()).await;
    let (s, body) = org.owner.post(&path, http_body).await;
    assert_eq!(s, 200, "HTTP retry failed: {body}");
    for id in ws_ops.iter().chain([&http_op]) {
        assert_eq!(
            applied_ops(&db, *id).await,
            1,
            "op {id} applied exactly once"
        );
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
    let (server, org, board, col, _, mut w) = start(DEBUG, "Internal", Codec::MsgPack).await;
    let db = server.db_url.clone();
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
    let f = w.next_answer().await;
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
    assert_eq!(applied_ops(&db, ws_op).await, 0);
    assert_eq!(applied_ops(&db, http_op).await, 0);
    subscribe(&mut w, board, None).await;
    w.send(card_create(8, board, col, ws_op, "again")).await;
    let f = w.next_answer().await;
    assert!(
        matches!(f, ServerFrame::Ok(ref ok) if ok.seq.is_some()),
        "{f:?}"
    );
    let (s, b) = org.owner.post(&path, body).await;
    assert_eq!(s, 200, "{b}");
    assert_eq!(applied_ops(&db, ws_op).await, 1);
    assert_eq!(applied_ops(&db, http_op).await, 1);
    assert_eq!(cards_in_db(&db, board).await, 2);
}

#[tokio::test]
async fn a_session_that_fails_is_closed_with_1011_and_cleaned_up() {
    let (server, org) =
        server_with_org_env("Broken", &[("BOARDROOM_REALTIME__DEBUG_ENDPOINTS", "true")]).await;
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
    let (server, _, board, col, _, mut w) = start(
        &[
            ("BOARDROOM_DURABILITY", "apply"),
            ("BOARDROOM_REALTIME__BOARD_IDLE_SECS", "1"),
        ],
        "ApplyIdle",
        Codec::Json,
    )
    .await;
    let db = server.db_url.clone();
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
    assert_eq!(applied_ops(&db, id).await, 1);
}
