//! Outbound webhooks against the real binary and a real HTTP receiver on loopback, on SQLite
//! and Postgres: signatures verify with the secret (and with the rotated one), test events and
//! redeliveries arrive, an inactive endpoint gets nothing, retries after 500s succeed, each
//! board's events arrive in seq order, the SSRF guard refuses private targets (at registration
//! and at delivery), and another org sees nothing (404) while a member may not manage webhooks
//! (403). Crashes, clusters and the log's retention: `webhooks_delivery.rs`.

mod common;
mod webhooks_support;

use common::*;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use webhooks_support::*;

// ------------------------------------------------------------------------------------------

on_both_stores!(
    signature_test_event_rotate_and_redeliver_on_sqlite,
    signature_test_event_rotate_and_redeliver_on_postgres,
    signature_test_event_rotate_and_redeliver;
    retries_after_500s_in_board_order_on_sqlite,
    retries_after_500s_in_board_order_on_postgres,
    retries_after_500s_in_board_order;
    ssrf_guard_refuses_private_targets_on_sqlite,
    ssrf_guard_refuses_private_targets_on_postgres,
    ssrf_guard_refuses_private_targets;
);

async fn signature_test_event_rotate_and_redeliver(db: &str) {
    let (rx, _server, org) = receiver_and_org(db, "Hooks").await;
    let w = create_hook(&org, json!({"url": rx.url, "description": "ci"})).await;
    let id = w["id"].as_str().unwrap().to_string();
    let secret = w["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{w}");
    assert_eq!(w["active"], true);
    // The secret is shown once: never in reads.
    let (s, got) = org.owner.get(&hook_path(&org.id, &id, "")).await;
    assert_eq!(s, 200);
    assert!(got.get("secret").is_none(), "{got}");
    let (_, list) = org.owner.get(&hooks_path(&org.id)).await;
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1), "{list}");
    assert!(list["webhooks"][0].get("secret").is_none());

    // A test event arrives, signed with the secret.
    let (s, d) = hook_action(&org.owner, &org.id, &id, "/test").await;
    assert_eq!(s, 202, "{d}");
    let test_id = d["id"].as_str().unwrap().to_string();
    let hits = rx.wait(20, "the test event", |h| !h.is_empty()).await;
    assert_eq!(hits[0].delivery, test_id);
    assert_eq!(hits[0].event, "webhook.test");
    assert!(verifies(&secret, &hits[0]), "signature: {:?}", hits[0]);
    assert!(!verifies("whsec_wrong", &hits[0]));
    let body: Value = serde_json::from_str(&hits[0].body).unwrap();
    assert_eq!(body["id"], test_id.as_str());
    assert_eq!(body["type"], "webhook.test");

    // A board event arrives too, with its payload.
    let board = new_board(&org, json!({"name": "B"})).await;
    create_card(&org.owner, &board, "first").await;
    let hits = rx
        .wait(20, "the card event", |h| {
            h.iter().any(|x| x.event != "webhook.test")
        })
        .await;
    let ev = hits.iter().find(|x| x.event != "webhook.test").unwrap();
    assert!(verifies(&secret, ev));
    let body: Value = serde_json::from_str(&ev.body).unwrap();
    assert_eq!(body["board_id"], board["id"]);
    assert_eq!(body["org_id"], org.id.as_str());
    assert!(body["seq"].as_i64().is_some_and(|s| s > 0), "{body}");
    assert_eq!(body["type"], ev.event.as_str());
    assert_eq!(body["id"], ev.delivery.as_str());

    // Rotation: a new secret, and later deliveries are signed with it, not the old one.
    let (s, r) = hook_action(&org.owner, &org.id, &id, "/rotate-secret").await;
    assert_eq!(s, 200, "{r}");
    let new_secret = r["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let before = rx.hits().len();
    let (s, _) = hook_action(&org.owner, &org.id, &id, "/test").await;
    assert_eq!(s, 202);
    let hits = rx
        .wait(20, "the second test event", |h| h.len() > before)
        .await;
    assert!(verifies(&new_secret, &hits[before]));
    assert!(!verifies(&secret, &hits[before]));

    // The delivery log has each with its outcome.
    let log = deliveries(&org, &id).await;
    let first = log.iter().find(|d| d["id"] == test_id.as_str()).unwrap();
    assert_eq!(first["status"], "delivered", "{first}");
    assert_eq!(first["response_code"], 200);
    assert_eq!(first["attempts"], 1);
    assert!(first["latency_ms"].as_i64().is_some(), "{first}");

    // Redeliver: the same delivery (same id) arrives again.
    let before = rx.hits().len();
    let (s, d) = hook_action(
        &org.owner,
        &org.id,
        &id,
        &format!("/deliveries/{test_id}/redeliver"),
    )
    .await;
    assert_eq!(s, 202, "{d}");
    let hits = rx.wait(20, "the redelivery", |h| h.len() > before).await;
    assert_eq!(hits[before].delivery, test_id);
    assert!(verifies(&new_secret, &hits[before]));
    let (s, _) = hook_action(
        &org.owner,
        &org.id,
        &id,
        &format!("/deliveries/{}/redeliver", random_id()),
    )
    .await;
    assert_eq!(s, 404);

    // Inactive: what happens meanwhile is not sent, not even once it is active again.
    let (s, p) = patch_hook(&org, &id, json!({"active": false})).await;
    assert_eq!(s, 200, "{p}");
    create_card(&org.owner, &board, "while inactive").await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let paused: i64 = *committed(db, std::slice::from_ref(&board_id)).await[&board_id]
        .last()
        .unwrap();
    let (s, p) = patch_hook(&org, &id, json!({"active": true})).await;
    assert_eq!(s, 200, "{p}");
    create_card(&org.owner, &board, "active again").await;
    let resumed = paused + 1;
    let hits = rx
        .wait(20, "the event after reactivation", |h| {
            accepted_by_board(h)
                .get(&board_id)
                .is_some_and(|v| v.contains(&resumed))
        })
        .await;
    let seqs = accepted_by_board(&hits)[&board_id].clone();
    assert!(
        !seqs.contains(&paused),
        "an event of the inactive time was sent: {seqs:?}"
    );

    // Inactive: nothing more is sent; PATCH changes the filter; DELETE removes it. A name that
    // is no event kind (an op's name) is refused: it would never match.
    for bad in ["card.nothing", "card.move", "*.created"] {
        let got = patch_hook(&org, &id, json!({"event_types": [bad]})).await;
        expect_bad_field(&got, "event_types");
    }
    let (s, p) = patch_hook(
        &org,
        &id,
        json!({"active": false, "event_types": ["comment.added"]}),
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["active"], false);
    assert_eq!(p["event_types"], json!(["comment.added"]));
    let (s, p) = patch_hook(&org, &id, json!({"event_types": null})).await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["event_types"], Value::Null);
    assert_eq!(p["active"], false);
    let (s, _) = org.owner.delete(&hook_path(&org.id, &id, "")).await;
    assert_eq!(s, 204);
    let (s, _) = org.owner.get(&hook_path(&org.id, &id, "")).await;
    assert_eq!(s, 404);
}

// ------------------------------------------------------------------------------------------

/// The receiver fails the first attempts: the events are retried until they succeed, and
/// each board's events are accepted in seq order (a failing event holds back its board).
async fn retries_after_500s_in_board_order(db: &str) {
    let (rx, _server, org) = receiver_and_org(db, "Retries").await;
    let a = new_board(&org, json!({"name": "A"})).await;
    let b = new_board(&org, json!({"name": "B"})).await;
    let id = hook_to(&org, &rx).await;
    rx.inner.fail_first.store(4, Ordering::SeqCst);
    for i in 0..6 {
        create_card(&org.owner, &a, &format!("a{i}")).await;
        create_card(&org.owner, &b, &format!("b{i}")).await;
    }
    let boards: Vec<String> = [&a, &b]
        .iter()
        .map(|x| x["id"].as_str().unwrap().to_string())
        .collect();
    let want = committed(db, &boards).await;
    assert_eq!(want.values().map(Vec::len).sum::<usize>(), 12, "{want:?}");
    let hits = rx
        .wait(60, "every event accepted", |h| {
            accepted_by_board(h).values().map(Vec::len).sum::<usize>() >= 12
        })
        .await;
    assert!(
        hits.iter().filter(|h| h.status == 500).count() == 4,
        "the receiver failed 4 attempts"
    );
    let got = accepted_by_board(&hits);
    for (board, seqs) in &want {
        assert_eq!(
            got.get(board),
            Some(seqs),
            "board {board}: events accepted out of order or missing"
        );
    }
    // The log shows the retried ones with more than one attempt and a 200 at last. The
    // receiver has answered before the sender records that answer, so the log may lag a
    // moment behind what was received.
    let mut log = deliveries(&org, &id).await;
    for _ in 0..300 {
        if log.iter().all(|d| d["status"] == "delivered") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        log = deliveries(&org, &id).await;
    }
    assert_eq!(log.len(), 12);
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    assert!(
        log.iter().any(|d| d["attempts"].as_i64() > Some(1)),
        "{log:?}"
    );
}

// ------------------------------------------------------------------------------------------

/// With `allow_private_targets` off, loopback, private, link-local and unspecified targets are
/// refused at registration; one registered while it was on is refused at delivery time.
async fn ssrf_guard_refuses_private_targets(db: &str) {
    let (rx, server, org) = receiver_and_org(db, "Ssrf").await;
    let id = hook_to(&org, &rx).await;
    drop(server);
    let mut strict: Vec<(&str, &str)> = FAST.to_vec();
    strict.retain(|(k, _)| *k != "BOARDROOM_WEBHOOKS__ALLOW_PRIVATE_TARGETS");
    strict.push(("BOARDROOM_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "false"));
    let server = TestServer::start(db, &strict).await;
    let owner = server.login(&org.owner_email, PASSWORD).await;
    for url in [
        rx.url.as_str(),
        "http://localhost:9/x",
        "http://10.0.0.1/x",
        "http://192.168.1.10/x",
        "http://169.254.169.254/latest/meta-data",
        "http://0.0.0.0/x",
        "http://[::1]/x",
        "ftp://example.com/x",
    ] {
        let got = owner.post(&hooks_path(&org.id), json!({"url": url})).await;
        expect_bad_field(&got, "url");
    }
    let got = owner
        .patch(
            &hook_path(&org.id, &id, ""),
            json!({"url": "http://127.0.0.2/"}),
        )
        .await;
    expect_bad_field(&got, "url");
    // The one registered before is refused when sent.
    let (s, _) = hook_action(&owner, &org.id, &id, "/test").await;
    assert_eq!(s, 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, b) = owner.get(&hook_path(&org.id, &id, "/deliveries")).await;
        let d = &b["deliveries"][0];
        if d["attempts"].as_i64() >= Some(1) {
            assert_eq!(d["status"], "pending", "{d}");
            assert!(d["response_code"].is_null(), "{d}");
            let err = d["error"].as_str().unwrap_or_default();
            assert!(err.contains("non-public"), "{d}");
            break;
        }
        assert!(Instant::now() < deadline, "no attempt made: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(rx.hits().is_empty(), "the guarded target was called");
}

// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn other_orgs_get_404_and_members_403() {
    let server = TestServer::start(&fresh_pg_url().await, &FAST).await;
    let a = new_org(&server, "A").await;
    let b = new_org(&server, "B").await;
    let rx = Receiver::start().await;
    let id = hook_to(&a, &rx).await;
    let (s, d) = hook_action(&a.owner, &a.id, &id, "/test").await;
    assert_eq!(s, 202);
    let did = d["id"].as_str().unwrap().to_string();
    let paths_a = |org: &str| {
        vec![
            ("GET", format!("/api/v1/orgs/{org}/webhooks/{id}"), None),
            (
                "PATCH",
                format!("/api/v1/orgs/{org}/webhooks/{id}"),
                Some(json!({"active": false})),
            ),
            ("DELETE", format!("/api/v1/orgs/{org}/webhooks/{id}"), None),
            (
                "POST",
                format!("/api/v1/orgs/{org}/webhooks/{id}/rotate-secret"),
                Some(json!({})),
            ),
            (
                "POST",
                format!("/api/v1/orgs/{org}/webhooks/{id}/test"),
                Some(json!({})),
            ),
            (
                "GET",
                format!("/api/v1/orgs/{org}/webhooks/{id}/deliveries"),
                None,
            ),
            (
                "POST",
                format!("/api/v1/orgs/{org}/webhooks/{id}/deliveries/{did}/redeliver"),
                Some(json!({})),
            ),
        ]
    };
    // B's owner: A's org path is not found, and A's webhook under B's org is not found.
    for org in [a.id.as_str(), b.id.as_str()] {
        for (m, p, body) in paths_a(org) {
            let r = b.owner.send(m, &p, body).await.pair();
            assert_eq!(r.0, 404, "{m} {p}: {r:?}");
        }
    }
    let (s, _) = b.owner.get(&hooks_path(&a.id)).await;
    assert_eq!(s, 404);
    let (s, l) = b.owner.get(&hooks_path(&b.id)).await;
    assert_eq!(s, 200);
    assert_eq!(l["webhooks"], json!([]));
    // A member of A may not manage webhooks.
    let member = add_member(&server, &a.owner, &a.id, "member").await;
    for (m, p, body) in paths_a(&a.id) {
        let r = member.api.send(m, &p, body).await.pair();
        assert_eq!(r.0, 403, "{m} {p}: {r:?}");
    }
    let (s, _) = member.api.get(&hooks_path(&a.id)).await;
    assert_eq!(s, 403);
    // Still there for A.
    let (s, _) = a.owner.get(&hook_path(&a.id, &id, "")).await;
    assert_eq!(s, 200);
}
