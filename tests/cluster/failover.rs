//! Faults between nodes: a killed, unreachable or paused owner, and a Redis restart.

use super::*;

#[tokio::test]
async fn killing_the_owner_loses_no_acknowledged_op_and_retries_apply_once() {
    let db = fresh_pg_url().await;
    let (_prefix, mut nodes) = start_nodes(&db, &redis_url(), 3).await;
    let (_, board, col, token) = org_with_board(&nodes[1], "Failover").await;
    // Node 1 takes the board first.
    let mut on_owner = welcomed(&nodes[0], &token).await;
    subscribe(&mut on_owner, Topic::Board(board), None).await;
    assert_eq!(leases_held(&nodes[0]).await, 1.0);
    let mut a = welcomed(&nodes[1], &token).await;
    let mut b = welcomed(&nodes[2], &token).await;
    subscribe(&mut a, Topic::Board(board), None).await;
    subscribe(&mut b, Topic::Board(board), None).await;

    // Steady traffic from a; the owner dies in the middle.
    let mut ids: HashMap<i64, Uuid> = HashMap::new();
    let (mut seen_a, mut seen_b) = (Seen::default(), Seen::default());
    let mut killed_at = None;
    for i in 0..60i64 {
        let id = Uuid::now_v7();
        ids.insert(i, id);
        a.send(card_create(i, board, col, id, &format!("c{i}")))
            .await;
        if i == 30 {
            nodes[0].kill9();
            killed_at = Some(Instant::now());
        }
        while let Some(f) = a.quiet(Duration::from_millis(15)).await {
            seen_a.take(f, &ids);
        }
        while let Some(f) = b.quiet(Duration::from_millis(1)).await {
            seen_b.take(f, &ids);
        }
    }
    // Retry whatever was not acknowledged, with the same op_ids, until all are.
    let killed_at = killed_at.unwrap();
    let mut first_ok_after_kill = None;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut resubscribed = false;
    while seen_a.acked.len() < ids.len() {
        assert!(
            Instant::now() < deadline,
            "ops still unacknowledged after 30 s"
        );
        if seen_a.resyncs > 0 && !resubscribed {
            subscribe(&mut a, Topic::Board(board), None).await;
            resubscribed = true;
        }
        for (r, id) in &ids {
            if !seen_a.acked.contains(id) {
                a.send(card_create(*r, board, col, *id, &format!("c{r}")))
                    .await;
            }
        }
        let until = Instant::now() + Duration::from_millis(400);
        while Instant::now() < until {
            match a.quiet(Duration::from_millis(50)).await {
                Some(f) => {
                    let before = seen_a.acked.len();
                    seen_a.take(f, &ids);
                    if seen_a.acked.len() > before && first_ok_after_kill.is_none() {
                        first_ok_after_kill = Some(killed_at.elapsed());
                    }
                }
                None => continue,
            }
        }
    }
    if let Some(t) = first_ok_after_kill {
        eprintln!(
            "failover: first acknowledged op {} ms after kill -9",
            t.as_millis()
        );
    }
    // Every op is in Postgres exactly once.
    assert_eq!(
        sql_count(
            &db,
            &format!("SELECT count(*) FROM applied_ops WHERE board_id = '{board}'")
        )
        .await,
        ids.len() as i64
    );
    assert_eq!(cards_in_db(&db, board).await, ids.len() as i64);
    assert_eq!(
        sql_count(
            &db,
            &format!(
                "SELECT count(*) FROM (SELECT op_id FROM board_events WHERE board_id = '{board}' \
                 GROUP BY op_id HAVING count(*) > 1) d"
            )
        )
        .await,
        0,
        "an op's events were written twice"
    );
    // The survivor b saw no duplicate (checked as it went) and, within each epoch, no gap.
    while let Some(f) = b.quiet(Duration::from_millis(300)).await {
        seen_b.take(f, &ids);
    }
    let mut by_epoch: BTreeMap<u64, Vec<u64>> = BTreeMap::new();
    for (e, s) in seen_b.events.keys() {
        by_epoch.entry(*e).or_default().push(*s);
    }
    for (e, seqs) in &by_epoch {
        assert!(
            seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "gap in epoch {e}: {seqs:?}"
        );
    }
    assert!(
        by_epoch.len() == 1 || seen_b.resyncs > 0,
        "a new epoch reached b without a resync"
    );
}

/// A node forwarding to a board's owner stops waiting on it once the owner's lease has lapsed
/// (here after `kill -9`): the forwarded op is answered `unavailable` and its retry, with the
/// same `op_id`, is committed by the new owner within about the lease (1.5 s here), not after
/// `forward_timeout_ms` (raised to 20 s here so that the two cannot be confused).
#[tokio::test]
async fn a_forward_to_a_dead_owner_fails_over_within_the_lease_not_the_forward_timeout() {
    let db = fresh_pg_url().await;
    let redis = redis_url();
    let prefix = format!("brt-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    let mut nodes = Vec::new();
    for i in 0..2 {
        let mut env = node_env(&redis, &prefix, &format!("n{}", i + 1));
        env.push((
            "BOARDROOM_CLUSTER__FORWARD_TIMEOUT_MS".into(),
            "20000".into(),
        ));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        nodes.push(TestServer::start(&db, &env).await);
    }
    let (_, board, col, token) = org_with_board(&nodes[1], "Dead owner").await;
    let mut on_owner = welcomed(&nodes[0], &token).await;
    subscribe(&mut on_owner, Topic::Board(board), None).await;
    assert_eq!(leases_held(&nodes[0]).await, 1.0);
    // An op through n2 while n1 is alive: n2 forwards it and remembers n1 as the owner.
    let mut a = welcomed(&nodes[1], &token).await;
    a.send(card_create(1, board, col, Uuid::now_v7(), "before"))
        .await;
    let (f, _) = a
        .recv_until(|f| {
            matches!(f, ServerFrame::Ok(ok) if ok.r#ref == Some(Ref::Int(1)))
                || matches!(f, ServerFrame::Error(e) if e.r#ref == Some(Ref::Int(1)))
        })
        .await;
    assert!(matches!(f, ServerFrame::Ok(_)), "{f:?}");
    assert_eq!(leases_held(&nodes[1]).await, 0.0);

    nodes[0].kill9();
    let killed = Instant::now();
    let id = Uuid::now_v7();
    a.send(card_create(2, board, col, id, "after")).await;
    let mut refusals = Vec::new();
    let deadline = killed + Duration::from_secs(8);
    loop {
        assert!(
            Instant::now() < deadline,
            "the op is not acknowledged 8 s after the owner's kill -9 (lease 1.5 s, forward \
             timeout 20 s); refusals so far at {refusals:?}"
        );
        match a.quiet(Duration::from_millis(100)).await {
            Some(ServerFrame::Ok(ok)) if ok.r#ref == Some(Ref::Int(2)) => break,
            Some(ServerFrame::Error(e)) if e.r#ref == Some(Ref::Int(2)) => {
                assert!(matches!(e.code, ErrorCode::Unavailable), "{e:?}");
                refusals.push(killed.elapsed().as_millis());
                let wait = e.retry_after_ms.unwrap_or(100).min(1000);
                tokio::time::sleep(Duration::from_millis(wait)).await;
                a.send(card_create(2, board, col, id, "after")).await;
            }
            _ => {}
        }
    }
    eprintln!(
        "dead owner: op acknowledged by the new owner {} ms after kill -9 (refused at {refusals:?} ms)",
        killed.elapsed().as_millis()
    );
    assert_eq!(leases_held(&nodes[1]).await, 1.0);
    assert_eq!(
        sql_count(
            &db,
            &format!(
                "SELECT count(*) FROM applied_ops WHERE board_id = '{board}' AND op_id = '{id}'"
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn a_paused_owner_is_fenced_steps_down_and_its_clients_resync() {
    let db = fresh_pg_url().await;
    let (_prefix, nodes) = start_nodes(&db, &redis_url(), 2).await;
    let (_, board, col, token) = org_with_board(&nodes[0], "Stale").await;
    let mut old = welcomed(&nodes[0], &token).await;
    subscribe(&mut old, Topic::Board(board), None).await;
    old.send(card_create(1, board, col, Uuid::now_v7(), "before"))
        .await;
    old.recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.seq.is_some()))
        .await;

    // Pause the owner past its lease; node 2 takes the board over.
    nodes[0].signal("STOP");
    let mut new = welcomed(&nodes[1], &token).await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < deadline, "node 2 never took the board");
        match new.subscribe_answer(9, Topic::Board(board), None).await {
            ServerFrame::Ok(_) => break,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    let taken = Uuid::now_v7();
    new.send(card_create(2, board, col, taken, "after takeover"))
        .await;
    new.recv_until(|f| matches!(f, ServerFrame::Ok(ok) if ok.seq.is_some()))
        .await;
    assert_eq!(leases_held(&nodes[1]).await, 1.0);

    // The old owner wakes up: it finds its lease gone, steps down, and its client resyncs.
    nodes[0].signal("CONT");
    let (f, _) = old
        .recv_until(|f| matches!(f, ServerFrame::Resync(_)))
        .await;
    assert!(matches!(f, ServerFrame::Resync(_)));
    // Its client carries on through node 1, which now forwards to node 2.
    let ok = subscribe(&mut old, Topic::Board(board), None).await;
    assert!(ok.snapshot.is_some());
    let again = Uuid::now_v7();
    old.send(card_create(3, board, col, again, "via the old node"))
        .await;
    let (f, _) = old
        .recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
        .await;
    assert!(matches!(f, ServerFrame::Ok(_)), "{f:?}");
    assert_eq!(leases_held(&nodes[0]).await, 0.0);
    // Events only ever go forward in (epoch, seq): nothing the stale owner wrote late.
    let rows = epoch_inversions(&db, board).await;
    assert_eq!(rows, 0);
    assert_eq!(cards_in_db(&db, board).await, 3);
}

#[tokio::test]
async fn redis_restarted_mid_run_loses_nothing_and_local_traffic_keeps_flowing() {
    let db = fresh_pg_url().await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let (_prefix, nodes) = start_nodes(&db, &redis.url(), 2).await;
    let (_, board, col, token) = org_with_board(&nodes[0], "Redis restart").await;
    let mut local = welcomed(&nodes[0], &token).await;
    subscribe(&mut local, Topic::Board(board), None).await;
    let mut remote = welcomed(&nodes[1], &token).await;
    subscribe(&mut remote, Topic::Board(board), None).await;

    let mut ids: HashMap<i64, Uuid> = HashMap::new();
    let mut seen_local = Seen::default();
    let send = |ws_ids: &mut HashMap<i64, Uuid>, i: i64| {
        let id = Uuid::now_v7();
        ws_ids.insert(i, id);
        card_create(i, board, col, id, &format!("c{i}"))
    };
    for i in 0..5 {
        local.send(send(&mut ids, i)).await;
    }
    // Redis goes away: the owner and its local subscriber carry on.
    redis.kill();
    for i in 5..15 {
        local.send(send(&mut ids, i)).await;
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen_local.acked.len() < 15 {
        assert!(
            Instant::now() < deadline,
            "local ops stalled while Redis was down ({} acked)",
            seen_local.acked.len()
        );
        if let Some(f) = local.quiet(Duration::from_millis(200)).await {
            seen_local.take(f, &ids);
        }
    }
    assert_eq!(
        seen_local.events.len(),
        15,
        "local subscriber got every event"
    );
    // Not ready while Redis is unreachable (the node can neither take boards nor reach others).
    let ready = reqwest::get(nodes[1].url("/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 503);
    // Down long enough that the nodes give their publishes up (the events are lost on the
    // way to node 2), then Redis comes back empty: the nodes reconnect, resubscribe and
    // repair the gap from the owner.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let _redis = OwnRedis::start(port);
    for i in 15..20 {
        local.send(send(&mut ids, i)).await;
    }
    let mut seen_remote = Seen::default();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(
            Instant::now() < deadline,
            "the remote subscriber never caught up: {} events, {} resyncs",
            seen_remote.events.len(),
            seen_remote.resyncs
        );
        if let Some(f) = remote.quiet(Duration::from_millis(200)).await {
            seen_remote.take(f, &ids);
        }
        if seen_remote.resyncs > 0 {
            // Told to start over: the snapshot must hold every card.
            let ok = subscribe(&mut remote, Topic::Board(board), None).await;
            let Some(Snapshot::Board(snap)) = ok.snapshot else {
                panic!("no snapshot")
            };
            if snap.cards.len() == 20 {
                break;
            }
            seen_remote.resyncs = 0;
            continue;
        }
        if seen_remote.events.len() == 20 {
            let seqs: Vec<u64> = seen_remote.events.keys().map(|k| k.1).collect();
            assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
            // The events published while Redis was down came from the owner's ring.
            assert!(metric(&nodes[1], "boardroom_gaps_repaired_total").await >= 1.0);
            break;
        }
    }
    while let Some(f) = local.quiet(Duration::from_millis(300)).await {
        seen_local.take(f, &ids);
    }
    assert_eq!(seen_local.acked.len(), 20);
    let ready = reqwest::get(nodes[1].url("/readyz")).await.unwrap();
    assert_eq!(ready.status().as_u16(), 200);
    assert_eq!(
        sql_count(
            &db,
            &format!("SELECT count(*) FROM applied_ops WHERE board_id = '{board}'")
        )
        .await,
        20
    );
}
