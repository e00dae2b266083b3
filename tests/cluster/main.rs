//! The cluster: three real server processes on loopback ports, one Postgres database, Redis
//! for fan-out, leases and forwarding. Each test uses its own Redis key prefix (or its own
//! throwaway redis-server), so tests run side by side.

#[path = "../common/mod.rs"]
mod common;

use boardroom_protocol::*;
use common::ws::{card_create, Ws};
use common::*;
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;

mod failover;
mod spread;

pub(crate) fn redis_url() -> String {
    std::env::var("BOARDROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Short leases and timeouts so that failover happens within a test's patience.
pub(crate) fn node_env(redis: &str, prefix: &str, node: &str) -> Vec<(String, String)> {
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

pub(crate) async fn start_nodes(db: &str, redis: &str, n: usize) -> (String, Vec<TestServer>) {
    let prefix = format!("brt-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    let mut nodes = Vec::new();
    for i in 0..n {
        nodes.push(start_node(db, redis, &prefix, i).await);
    }
    (prefix, nodes)
}

pub(crate) async fn start_node(db: &str, redis: &str, prefix: &str, i: usize) -> TestServer {
    let env = node_env(redis, prefix, &format!("n{}", i + 1));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start(db, &env).await
}

pub(crate) async fn welcomed(server: &TestServer, token: &str) -> Ws {
    Ws::welcomed(&server.base, token).await
}

pub(crate) async fn subscribe(ws: &mut Ws, topic: Topic, since: Option<Since>) -> OkReply {
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

pub(crate) async fn new_board(org: &Org) -> (Uuid, Uuid) {
    board_and_column(org, "Cluster board").await
}

/// A metric of a node (0 when it has not been recorded yet).
pub(crate) async fn metric(node: &TestServer, name: &str) -> f64 {
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

pub(crate) async fn leases_held(node: &TestServer) -> f64 {
    metric(node, "boardroom_leases_held").await
}

/// One client's view of a board: the events it applied, by (epoch, seq).
#[derive(Default)]
pub(crate) struct Seen {
    pub(crate) events: BTreeMap<(u64, u64), Uuid>,
    pub(crate) acked: HashSet<Uuid>,
    pub(crate) resyncs: usize,
}

impl Seen {
    pub(crate) fn take(&mut self, f: ServerFrame, ids: &HashMap<i64, Uuid>) {
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
