//! A database that stalls or is slow to commit: what clients are told meanwhile, and that
//! every acknowledged op is written once it is back.

use super::*;

#[tokio::test]
async fn a_stalled_database_answers_unavailable_then_commits_everything_accepted() {
    let (server, org, board, col, _, mut w) = start(
        &[
            ("BOARDROOM_REALTIME__JOURNAL_CAPACITY", "4"),
            ("BOARDROOM_REALTIME__JOURNAL_MAX_BATCH", "2"),
            ("BOARDROOM_LIMITS__MAX_SUBSCRIPTIONS_PER_CONNECTION", "2"),
        ],
        "Stall",
        Codec::Json,
    )
    .await;
    let db = server.db_url.clone();
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
    let stall = Stall::boards_table(&db).await;
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
    stall.release().await;
    // Every op that was accepted gets its ok, and is in the database.
    let accepted = sent - 1;
    w.until_applied(accepted as usize).await;
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

#[tokio::test]
async fn durability_apply_acks_and_fans_out_while_the_database_is_stalled() {
    let (server, org, board, col, token, mut watcher) =
        start(&[("BOARDROOM_DURABILITY", "apply")], "Apply", Codec::Json).await;
    let db = server.db_url.clone();
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
        assert_eq!(applied_ops(&db, *id).await, 0);
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
        assert_eq!(applied_ops(&db, *id).await, 1);
    }
}

#[tokio::test]
async fn durability_commit_holds_the_ack_and_the_event_until_the_batch_commits() {
    let (server, _, board, col, token, mut watcher) = start(&[], "Commit", Codec::Json).await;
    let db = server.db_url.clone();
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
    let f = writer.next_answer().await;
    assert!(
        matches!(f, ServerFrame::Ok(ref ok) if ok.seq.is_some()),
        "{f:?}"
    );
    let (f, _) = watcher
        .recv_until(|f| matches!(f, ServerFrame::Event(_)))
        .await;
    assert!(matches!(f, ServerFrame::Event(ref e) if e.op_id == id));
    // By the time of the ok it is durable.
    assert_eq!(applied_ops(&db, id).await, 1);
}

#[tokio::test]
async fn durability_apply_sigterm_flushes_every_acknowledged_op() {
    let (mut server, _, board, col, _, mut w) = start(APPLY, "ApplyTerm", Codec::Json).await;
    let db = server.db_url.clone();

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
            applied_ops(&db, *id).await,
            1,
            "acknowledged op {id} is durable"
        );
    }
}
