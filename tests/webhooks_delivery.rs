//! Outbound webhooks under failure, against the real binary and a real receiver: nothing lost
//! or invented across a kill -9 (SQLite and Postgres), one delivery per event in a two-node
//! cluster, and the delivery log's retention.

mod common;
mod webhooks_support;

use common::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use uuid::Uuid;
use webhooks_support::*;

// ------------------------------------------------------------------------------------------

on_both_stores!(
    nothing_lost_or_invented_across_kill_9_on_sqlite,
    nothing_lost_or_invented_across_kill_9_on_postgres,
    nothing_lost_or_invented_across_kill_9;
    the_delivery_log_is_pruned_after_its_retention_on_sqlite,
    the_delivery_log_is_pruned_after_its_retention_on_postgres,
    the_delivery_log_is_pruned_after_its_retention;
);

/// Ops keep coming while the server is killed with SIGKILL, then restarted: every committed
/// event arrives (deduplicated by delivery id), exactly one delivery id per event, and nothing
/// arrives that is not committed.
async fn nothing_lost_or_invented_across_kill_9(db: &str) {
    let (rx, mut server, org) = receiver_and_org(db, "Crash").await;
    let board = new_board(&org, json!({"name": "K"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    create_hook(&org, json!({"url": rx.url})).await;
    // Writers that ignore failures (the server dies under them).
    let column = board["columns"][0]["id"].as_str().unwrap().to_string();
    let writer = |api: Api, n: usize| {
        let (column, board_id) = (column.clone(), board_id.clone());
        tokio::spawn(async move {
            for i in 0..n {
                let _ = api
                    .send(
                        "POST",
                        &format!("/api/v1/boards/{board_id}/ops"),
                        Some(json!({
                            "op_id": Uuid::now_v7(),
                            "kind": "card.create",
                            "data": {"column_id": column, "title": format!("c{i}"), "after": null},
                        })),
                    )
                    .await;
            }
        })
    };
    let w1 = writer(org.owner.clone(), 40);
    rx.wait(30, "some deliveries before the kill", |h| h.len() >= 5)
        .await;
    server.kill9();
    let _ = w1.await;
    let server = TestServer::start(db, &FAST).await;
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let w2 = writer(owner, 10);
    let _ = w2.await;
    let want = committed(db, std::slice::from_ref(&board_id)).await;
    let want_seqs: HashSet<i64> = want[&board_id].iter().copied().collect();
    assert!(want_seqs.len() >= 15, "{want:?}");
    let hits = rx
        .wait(60, "every committed event", |h| {
            let got: HashSet<i64> = accepted_by_board(h)
                .get(&board_id)
                .map(|v| v.iter().copied().collect())
                .unwrap_or_default();
            want_seqs.is_subset(&got)
        })
        .await;
    // Let stragglers arrive, then check nothing extra came.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let hits = {
        let mut all = rx.hits();
        all.retain(|h| h.status == 200);
        assert!(all.len() >= hits.len());
        all
    };
    let mut ids_per_seq: HashMap<i64, HashSet<String>> = HashMap::new();
    for h in &hits {
        let v: Value = serde_json::from_str(&h.body).unwrap();
        assert_eq!(v["board_id"], board_id.as_str());
        let seq = v["seq"].as_i64().unwrap();
        assert!(
            want_seqs.contains(&seq),
            "seq {seq} was delivered but never committed"
        );
        ids_per_seq
            .entry(seq)
            .or_default()
            .insert(h.delivery.clone());
    }
    for (seq, ids) in &ids_per_seq {
        assert_eq!(
            ids.len(),
            1,
            "seq {seq} delivered under several ids: {ids:?}"
        );
    }
    let dups = hits.len() - ids_per_seq.len();
    eprintln!(
        "kill -9: {} events committed, all delivered; {dups} repeated deliveries (same id)",
        want_seqs.len()
    );
    drop(server);
}

// ------------------------------------------------------------------------------------------

/// Two nodes of a cluster (one Postgres, Redis broker), ops sent through both: every committed
/// event arrives exactly once (one dispatcher sends at a time, the lease holder), none twice.
#[tokio::test]
async fn a_cluster_delivers_each_event_once() {
    let db = fresh_pg_url().await;
    let redis = std::env::var("BOARDROOM_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = format!("brw-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    let secret = format!("webhook-cluster-secret-{prefix}");
    let mut nodes = Vec::new();
    for i in 1..=2 {
        let node = format!("w{i}");
        let mut env: Vec<(&str, &str)> = FAST.to_vec();
        env.extend([
            ("BOARDROOM_BROKER", "redis"),
            ("BOARDROOM_REDIS_URL", redis.as_str()),
            ("BOARDROOM_JWT_SECRET", secret.as_str()),
            ("BOARDROOM_NODE_ID", node.as_str()),
            ("BOARDROOM_CLUSTER__KEY_PREFIX", prefix.as_str()),
        ]);
        nodes.push(TestServer::start(&db, &env).await);
    }
    let rx = Receiver::start().await;
    let org = new_org(&nodes[0], "Cluster").await;
    let board = new_board(&org, json!({"name": "C"})).await;
    let board_id = board["id"].as_str().unwrap().to_string();
    create_hook(&org, json!({"url": rx.url})).await;
    let via_second = nodes[1].login(&org.owner_email, PASSWORD).await;
    for i in 0..15 {
        create_card(&org.owner, &board, &format!("one {i}")).await;
        create_card(&via_second, &board, &format!("two {i}")).await;
    }
    let want = committed(&db, std::slice::from_ref(&board_id)).await;
    let want_seqs: Vec<i64> = want[&board_id].clone();
    assert_eq!(want_seqs.len(), 30, "{want:?}");
    rx.wait(60, "every event", |h| {
        accepted_by_board(h).get(&board_id).map(Vec::len) == Some(30)
    })
    .await;
    // Give a second sender time to show itself, then count.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let hits = rx.hits();
    let mut per_id: HashMap<String, usize> = HashMap::new();
    for h in &hits {
        *per_id.entry(h.delivery.clone()).or_default() += 1;
    }
    let twice: Vec<_> = per_id.iter().filter(|(_, n)| **n > 1).collect();
    assert!(twice.is_empty(), "delivered more than once: {twice:?}");
    assert_eq!(
        accepted_by_board(&hits)[&board_id],
        want_seqs,
        "in seq order"
    );
}

// ------------------------------------------------------------------------------------------

/// `log_retention_days`: finished deliveries older than that are deleted (at the dispatcher's
/// start, then hourly); pending ones are kept.
async fn the_delivery_log_is_pruned_after_its_retention(db: &str) {
    let (rx, server, org) = receiver_and_org(db, "Prune").await;
    let id = hook_to(&org, &rx).await;
    let (s, _) = hook_action(&org.owner, &org.id, &id, "/test").await;
    assert_eq!(s, 202);
    rx.wait(20, "the test event", |h| !h.is_empty()).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while deliveries(&org, &id).await[0]["status"] != "delivered" {
        assert!(Instant::now() < deadline, "not recorded as delivered");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(server);
    let mut env: Vec<(&str, &str)> = FAST.to_vec();
    env.push(("BOARDROOM_WEBHOOKS__LOG_RETENTION_DAYS", "0"));
    let server = TestServer::start(db, &env).await;
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (s, b) = owner.get(&hook_path(&org.id, &id, "/deliveries")).await;
        assert_eq!(s, 200);
        if b["deliveries"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "the log was not pruned: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
