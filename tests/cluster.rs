//! The cluster: three real server processes on loopback ports, one Postgres database, Redis
//! for fan-out, leases and forwarding. Each test uses its own Redis key prefix (or its own
//! throwaway redis-server), so tests run side by side.

mod common;

use boardroom_protocol::*;
use common::ws::Ws;
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

fn redis_url() -> String {
    std::env::var("BOARDROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Short leases and timeouts so that failover happens within a test's patience.
fn node_env(redis: &str, prefix: &str, node: &str) -> Vec<(String, String)> {
    vec![
        ("BOARDROOM_BROKER".into(), "redis".into()),
        ("BOARDROOM_REDIS_URL".into(), redis.into()),
        // Every node must accept the tokens every other node signs.
        (
            "BOARDROOM_JWT_SECRET".into(),
            format!("cluster-test-secret-{prefix}"),
        ),
        ("BOARDROOM_NODE_ID".into(), node.into()),
        ("BOARDROOM_CLUSTER__KEY_PREFIX".into(), prefix.into()),
        ("BOARDROOM_CLUSTER__LEASE_TTL_MS".into(), "1500".into()),
        ("BOARDROOM_CLUSTER__LEASE_RENEW_MS".into(), "400".into()),
        ("BOARDROOM_CLUSTER__NODE_HEARTBEAT_MS".into(), "300".into()),
        ("BOARDROOM_CLUSTER__NODE_TTL_MS".into(), "1000".into()),
        (
            "BOARDROOM_CLUSTER__FORWARD_TIMEOUT_MS".into(),
            "1500".into(),
        ),
        ("BOARDROOM_REALTIME__DEBUG_ENDPOINTS".into(), "true".into()),
    ]
}

async fn start_nodes(db: &str, redis: &str, n: usize) -> (String, Vec<TestServer>) {
    let prefix = format!("brt-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(start_node(db, redis, &prefix, i).await);
    }
    (prefix, nodes)
}

async fn start_node(db: &str, redis: &str, prefix: &str, i: usize) -> TestServer {
    let env = node_env(redis, prefix, &format!("n{}", i + 1));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start(db, &env).await
}

async fn welcomed(server: &TestServer, token: &str) -> Ws {
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(token)).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    ws
}

async fn subscribe(ws: &mut Ws, topic: Topic, since: Option<Since>) -> OkReply {
    ws.send(ClientFrame::Subscribe(Subscribe {
        r#ref: Some(Ref::Str("sub".into())),
        topic,
        since,
    }))
    .await;
    loop {
        match ws.recv().await {
            ServerFrame::Ok(ok) if ok.r#ref == Some(Ref::Str("sub".into())) => return ok,
            ServerFrame::Error(e) if e.r#ref == Some(Ref::Str("sub".into())) => {
                panic!("subscribe refused: {e:?}")
            }
            _ => {}
        }
    }
}

fn card_create(r: i64, board: Uuid, column: Uuid, op_id: Uuid, title: &str) -> ClientFrame {
    serde_json::from_value(json!({
        "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.create", "data": {"column_id": column, "title": title}
    }))
    .unwrap()
}

async fn new_board(org: &Org) -> (Uuid, Uuid) {
    board_and_column(org, "Cluster board").await
}

/// A metric of a node (0 when it has not been recorded yet).
async fn metric(node: &TestServer, name: &str) -> f64 {
    let text = reqwest::get(node.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn leases_held(node: &TestServer) -> f64 {
    metric(node, "boardroom_leases_held").await
}

/// One client's view of a board: the events it applied, by (epoch, seq).
#[derive(Default)]
struct Seen {
    events: BTreeMap<(u64, u64), Uuid>,
    acked: HashSet<Uuid>,
    resyncs: usize,
}

impl Seen {
    fn take(&mut self, f: ServerFrame, ids: &HashMap<i64, Uuid>) {
        match f {
            ServerFrame::Event(e) => {
                let dup = self.events.insert((e.epoch, e.seq), e.op_id);
                assert!(
                    dup.is_none(),
                    "event ({}, {}) delivered twice",
                    e.epoch,
                    e.seq
                );
            }
            ServerFrame::Ok(ok) if ok.seq.is_some() => {
                if let Some(Ref::Int(r)) = ok.r#ref {
                    if let Some(id) = ids.get(&r) {
                        self.acked.insert(*id);
                    }
                }
            }
            ServerFrame::Resync(_) => self.resyncs += 1,
            _ => {}
        }
    }
}

#[tokio::test]
async fn clients_on_three_nodes_see_one_order_from_one_owner_with_everyone_present() {
    let db = fresh_pg_url().await;
    let (_prefix, nodes) = start_nodes(&db, &redis_url(), 3).await;
    let org = new_org(&nodes[0], "Cluster").await;
    let (board, col) = new_board(&org).await;
    let mut clients = Vec::new();
    let mut names = Vec::new();
    for (i, node) in nodes.iter().enumerate() {
        let m = add_member(node, &org.owner, &org.id, "member").await;
        names.push(m.id.clone());
        let mut ws = welcomed(node, m.api.token.as_deref().unwrap()).await;
        subscribe(&mut ws, Topic::Board(board), None).await;
        clients.push((i, ws));
    }
    // Each client applies ops; everyone must see all of them in one order.
    let per_client = 10;
    let mut op_of_ref: HashMap<i64, Uuid> = HashMap::new();
    for round in 0..per_client {
        for (i, ws) in clients.iter_mut() {
            let r = (*i * 100 + round) as i64;
            let op_id = Uuid::now_v7();
            op_of_ref.insert(r, op_id);
            ws.send(card_create(r, board, col, op_id, &format!("n{i}-{round}")))
                .await;
        }
    }
    let total = per_client * clients.len();
    let mut orders = Vec::new();
    let mut presence_seen: Vec<HashSet<String>> = Vec::new();
    for (_, ws) in clients.iter_mut() {
        let mut events = Vec::new();
        let mut present = HashSet::new();
        let mut acks = 0;
        let deadline = Instant::now() + Duration::from_secs(20);
        while (events.len() < total || acks < per_client) && Instant::now() < deadline {
            match ws.next(Duration::from_secs(20)).await.expect("open") {
                ServerFrame::Event(e) => events.push((e.epoch, e.seq, e.op_id)),
                // An op's `ok` comes after its own event, on every node.
                ServerFrame::Ok(ok) if ok.seq.is_some() => {
                    let Some(Ref::Int(r)) = ok.r#ref else {
                        panic!("ok without ref")
                    };
                    let op_id = op_of_ref[&r];
                    assert!(
                        events.iter().any(|e| e.2 == op_id),
                        "ok for {r} before its event"
                    );
                    acks += 1;
                }
                ServerFrame::Presence(p) => present.extend(p.joins.keys().map(|u| u.to_string())),
                ServerFrame::Error(e) => panic!("op refused: {e:?}"),
                _ => {}
            }
        }
        assert_eq!(events.len(), total, "every client sees every event");
        orders.push(events);
        presence_seen.push(present);
    }
    assert!(orders.windows(2).all(|w| w[0] == w[1]), "one order for all");
    let seqs: Vec<u64> = orders[0].iter().map(|e| e.1).collect();
    assert!(
        seqs.windows(2).all(|w| w[1] == w[0] + 1),
        "no gap: {seqs:?}"
    );
    // Outside dev mode no demo accounts are offered.
    let health: serde_json::Value = reqwest::get(nodes[0].url("/healthz"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["demo"], json!(false));
    // Exactly one node holds the board.
    let mut held = Vec::new();
    for n in &nodes {
        held.push(leases_held(n).await);
    }
    assert_eq!(held.iter().filter(|h| **h == 1.0).count(), 1, "{held:?}");
    assert_eq!(held.iter().sum::<f64>(), 1.0, "{held:?}");
    // The first subscriber saw the two others join, wherever they connected.
    for name in &names[1..] {
        assert!(
            presence_seen[0].contains(name),
            "{name} missing from presence"
        );
    }
    // And the last one found everybody there when it subscribed, or saw them join.
    let mut last = welcomed(&nodes[2], org.owner.token.as_deref().unwrap()).await;
    let ok = subscribe(&mut last, Topic::Board(board), None).await;
    let present: HashSet<String> = ok
        .presence
        .unwrap_or_default()
        .keys()
        .map(|u| u.to_string())
        .collect();
    for name in &names {
        assert!(
            present.contains(name),
            "{name} not in the snapshot's presence"
        );
    }
}

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
