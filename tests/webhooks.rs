//! Outbound webhooks against the real binary and a real HTTP receiver on loopback, on SQLite
//! and Postgres: signatures verify with the secret (and with the rotated one), test events and
//! redeliveries arrive, retries after 500s succeed, each board's events arrive in seq order,
//! nothing is lost or invented across a kill -9, the SSRF guard refuses private targets (at
//! registration and at delivery), and another org sees nothing (404) while a member may not
//! manage webhooks (403).

mod common;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Short retries, fast polls, a short dispatcher lease (a killed server's lease lapses fast),
/// and private targets allowed (the receiver is on loopback).
const FAST: [(&str, &str); 6] = [
    ("BOARDROOM_WEBHOOKS__POLL_MS", "100"),
    ("BOARDROOM_WEBHOOKS__RETRY_BASE_MS", "100"),
    ("BOARDROOM_WEBHOOKS__RETRY_MAX_MS", "400"),
    ("BOARDROOM_WEBHOOKS__LEASE_MS", "1000"),
    ("BOARDROOM_WEBHOOKS__TIMEOUT_MS", "2000"),
    ("BOARDROOM_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
];

#[derive(Clone, Debug)]
struct Hit {
    delivery: String,
    signature: String,
    event: String,
    body: String,
    /// What the receiver answered.
    status: u16,
}

#[derive(Default)]
struct Inner {
    hits: Mutex<Vec<Hit>>,
    /// Answer 500 to this many requests first.
    fail_first: AtomicUsize,
}

/// A webhook receiver on 127.0.0.1: records every request and answers 200 (or 500 while
/// `fail_first` lasts).
#[derive(Clone)]
struct Receiver {
    url: String,
    inner: Arc<Inner>,
}

impl Receiver {
    async fn start() -> Receiver {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let addr = listener.local_addr().expect("receiver addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver {
            url: format!("http://{addr}/hook"),
            inner,
        }
    }

    fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until `done` holds for the hits so far.
    async fn wait(&self, secs: u64, what: &str, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let hits = self.hits();
            if done(&hits) {
                return hits;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; got {} hits: {:?}",
                hits.len(),
                hits.iter()
                    .map(|h| (&h.event, h.status))
                    .collect::<Vec<_>>()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

async fn receive(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let h = |k: &str| {
        headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    };
    let fail = inner
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok();
    let status = if fail { 500 } else { 200 };
    inner.hits.lock().unwrap().push(Hit {
        delivery: h("x-boardroom-delivery"),
        signature: h("x-boardroom-signature"),
        event: h("x-boardroom-event"),
        body: String::from_utf8_lossy(&body).into_owned(),
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

/// The receiver's side of the signature check (what PROTOCOL.md tells integrators to do).
fn verifies(secret: &str, hit: &Hit) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in hit.signature.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v.to_string()),
            Some(("v1", v)) => v1 = hex::decode(v).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{}", hit.body).as_bytes());
    mac.verify_slice(&v1).is_ok()
}

fn hooks_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/webhooks")
}

async fn create_hook(org: &Org, body: Value) -> Value {
    let (s, w) = org.owner.post(&hooks_path(&org.id), body).await;
    assert_eq!(s, 201, "{w}");
    w
}

async fn deliveries(org: &Org, hook: &str) -> Vec<Value> {
    let (s, b) = org
        .owner
        .get(&format!(
            "{}/{hook}/deliveries?limit=500",
            hooks_path(&org.id)
        ))
        .await;
    assert_eq!(s, 200, "{b}");
    b["deliveries"].as_array().cloned().unwrap_or_default()
}

fn sqlite_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite:{}", dir.path().join("boardroom.db").display())
}

/// Runs `f` once on a fresh SQLite file and once on a fresh Postgres database.
macro_rules! on_both_stores {
    ($sqlite:ident, $pg:ident, $f:ident) => {
        #[tokio::test]
        async fn $sqlite() {
            let dir = tempfile::tempdir().expect("tempdir");
            $f(&sqlite_url(&dir)).await;
        }
        #[tokio::test]
        async fn $pg() {
            $f(&fresh_pg_url().await).await;
        }
    };
}

// ------------------------------------------------------------------------------------------

on_both_stores!(
    signature_test_event_rotate_and_redeliver_on_sqlite,
    signature_test_event_rotate_and_redeliver_on_postgres,
    signature_test_event_rotate_and_redeliver
);

async fn signature_test_event_rotate_and_redeliver(db: &str) {
    let rx = Receiver::start().await;
    let server = TestServer::start(db, &FAST).await;
    let org = new_org(&server, "Hooks").await;
    let w = create_hook(&org, json!({"url": rx.url, "description": "ci"})).await;
    let id = w["id"].as_str().unwrap().to_string();
    let secret = w["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"), "{w}");
    assert_eq!(w["active"], true);
    // The secret is shown once: never in reads.
    let (s, got) = org
        .owner
        .get(&format!("{}/{id}", hooks_path(&org.id)))
        .await;
    assert_eq!(s, 200);
    assert!(got.get("secret").is_none(), "{got}");
    let (_, list) = org.owner.get(&hooks_path(&org.id)).await;
    assert_eq!(list["webhooks"].as_array().map(Vec::len), Some(1), "{list}");
    assert!(list["webhooks"][0].get("secret").is_none());

    // A test event arrives, signed with the secret.
    let (s, d) = org
        .owner
        .post(&format!("{}/{id}/test", hooks_path(&org.id)), json!({}))
        .await;
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
    let (s, r) = org
        .owner
        .post(
            &format!("{}/{id}/rotate-secret", hooks_path(&org.id)),
            json!({}),
        )
        .await;
    assert_eq!(s, 200, "{r}");
    let new_secret = r["secret"].as_str().unwrap().to_string();
    assert_ne!(new_secret, secret);
    let before = rx.hits().len();
    let (s, _) = org
        .owner
        .post(&format!("{}/{id}/test", hooks_path(&org.id)), json!({}))
        .await;
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
    let (s, d) = org
        .owner
        .post(
            &format!(
                "{}/{id}/deliveries/{test_id}/redeliver",
                hooks_path(&org.id)
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, 202, "{d}");
    let hits = rx.wait(20, "the redelivery", |h| h.len() > before).await;
    assert_eq!(hits[before].delivery, test_id);
    assert!(verifies(&new_secret, &hits[before]));
    let (s, _) = org
        .owner
        .post(
            &format!(
                "{}/{id}/deliveries/{}/redeliver",
                hooks_path(&org.id),
                random_id()
            ),
            json!({}),
        )
        .await;
    assert_eq!(s, 404);

    // Inactive: what happens meanwhile is not sent, not even once it is active again.
    let (s, p) = org
        .owner
        .patch(
            &format!("{}/{id}", hooks_path(&org.id)),
            json!({"active": false}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    create_card(&org.owner, &board, "while inactive").await;
    let board_id = board["id"].as_str().unwrap().to_string();
    let paused: i64 = *committed(db, std::slice::from_ref(&board_id)).await[&board_id]
        .last()
        .unwrap();
    let (s, p) = org
        .owner
        .patch(
            &format!("{}/{id}", hooks_path(&org.id)),
            json!({"active": true}),
        )
        .await;
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

    // Inactive: nothing more is sent; PATCH changes the filter; DELETE removes it.
    let (s, p) = org
        .owner
        .patch(
            &format!("{}/{id}", hooks_path(&org.id)),
            json!({"active": false, "event_types": ["card.nothing"]}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["active"], false);
    assert_eq!(p["event_types"], json!(["card.nothing"]));
    let (s, p) = org
        .owner
        .patch(
            &format!("{}/{id}", hooks_path(&org.id)),
            json!({"event_types": null}),
        )
        .await;
    assert_eq!(s, 200, "{p}");
    assert_eq!(p["event_types"], Value::Null);
    assert_eq!(p["active"], false);
    let (s, _) = org
        .owner
        .delete(&format!("{}/{id}", hooks_path(&org.id)))
        .await;
    assert_eq!(s, 204);
    let (s, _) = org
        .owner
        .get(&format!("{}/{id}", hooks_path(&org.id)))
        .await;
    assert_eq!(s, 404);
}

// ------------------------------------------------------------------------------------------

on_both_stores!(
    retries_after_500s_in_board_order_on_sqlite,
    retries_after_500s_in_board_order_on_postgres,
    retries_after_500s_in_board_order
);

/// The receiver fails the first attempts: the events are retried until they succeed, and
/// each board's events are accepted in seq order (a failing event holds back its board).
async fn retries_after_500s_in_board_order(db: &str) {
    let rx = Receiver::start().await;
    let server = TestServer::start(db, &FAST).await;
    let org = new_org(&server, "Retries").await;
    let a = new_board(&org, json!({"name": "A"})).await;
    let b = new_board(&org, json!({"name": "B"})).await;
    let w = create_hook(&org, json!({"url": rx.url})).await;
    let id = w["id"].as_str().unwrap().to_string();
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
    // The log shows the retried ones with more than one attempt and a 200 at last.
    let log = deliveries(&org, &id).await;
    assert_eq!(log.len(), 12);
    assert!(log.iter().all(|d| d["status"] == "delivered"), "{log:?}");
    assert!(
        log.iter().any(|d| d["attempts"].as_i64() > Some(1)),
        "{log:?}"
    );
}

/// Accepted (200) events per board, in the order they were accepted, deduplicated by
/// delivery id: board -> seqs.
fn accepted_by_board(hits: &[Hit]) -> BTreeMap<String, Vec<i64>> {
    let mut seen = HashSet::new();
    let mut out: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for h in hits.iter().filter(|h| h.status == 200) {
        if !seen.insert(h.delivery.clone()) {
            continue;
        }
        let v: Value = serde_json::from_str(&h.body).unwrap();
        if let (Some(b), Some(s)) = (v["board_id"].as_str(), v["seq"].as_i64()) {
            out.entry(b.to_string()).or_default().push(s);
        }
    }
    out
}

/// The committed events of these boards, in the store: board -> seqs ascending.
async fn committed(db: &str, boards: &[String]) -> BTreeMap<String, Vec<i64>> {
    let mut out = BTreeMap::new();
    for b in boards {
        let id: Uuid = b.parse().unwrap();
        let sql = "SELECT seq FROM board_events WHERE board_id = $1 ORDER BY seq";
        let rows: Vec<(i64,)> = if db.starts_with("sqlite:") {
            use sqlx::Connection;
            let mut c = sqlx::SqliteConnection::connect(db).await.expect("sqlite");
            sqlx::query_as(sql)
                .bind(id)
                .fetch_all(&mut c)
                .await
                .expect(sql)
        } else {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(db).await.expect("pg");
            sqlx::query_as(sql)
                .bind(id)
                .fetch_all(&mut c)
                .await
                .expect(sql)
        };
        out.insert(b.clone(), rows.into_iter().map(|r| r.0).collect());
    }
    out
}

// ------------------------------------------------------------------------------------------

on_both_stores!(
    nothing_lost_or_invented_across_kill_9_on_sqlite,
    nothing_lost_or_invented_across_kill_9_on_postgres,
    nothing_lost_or_invented_across_kill_9
);

/// Ops keep coming while the server is killed with SIGKILL, then restarted: every committed
/// event arrives (deduplicated by delivery id), exactly one delivery id per event, and nothing
/// arrives that is not committed.
async fn nothing_lost_or_invented_across_kill_9(db: &str) {
    let rx = Receiver::start().await;
    let mut server = TestServer::start(db, &FAST).await;
    let org = new_org(&server, "Crash").await;
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

on_both_stores!(
    ssrf_guard_refuses_private_targets_on_sqlite,
    ssrf_guard_refuses_private_targets_on_postgres,
    ssrf_guard_refuses_private_targets
);

/// With `allow_private_targets` off, loopback, private, link-local and unspecified targets are
/// refused at registration; one registered while it was on is refused at delivery time.
async fn ssrf_guard_refuses_private_targets(db: &str) {
    let rx = Receiver::start().await;
    let server = TestServer::start(db, &FAST).await;
    let org = new_org(&server, "Ssrf").await;
    let w = create_hook(&org, json!({"url": rx.url})).await;
    let id = w["id"].as_str().unwrap().to_string();
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
            &format!("{}/{id}", hooks_path(&org.id)),
            json!({"url": "http://127.0.0.2/"}),
        )
        .await;
    expect_bad_field(&got, "url");
    // The one registered before is refused when sent.
    let (s, _) = owner
        .post(&format!("{}/{id}/test", hooks_path(&org.id)), json!({}))
        .await;
    assert_eq!(s, 202);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, b) = owner
            .get(&format!("{}/{id}/deliveries", hooks_path(&org.id)))
            .await;
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
    let w = create_hook(&a, json!({"url": rx.url})).await;
    let id = w["id"].as_str().unwrap().to_string();
    let (s, d) = a
        .owner
        .post(&format!("{}/{id}/test", hooks_path(&a.id)), json!({}))
        .await;
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
    let (s, _) = a.owner.get(&format!("{}/{id}", hooks_path(&a.id))).await;
    assert_eq!(s, 200);
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

on_both_stores!(
    the_delivery_log_is_pruned_after_its_retention_on_sqlite,
    the_delivery_log_is_pruned_after_its_retention_on_postgres,
    the_delivery_log_is_pruned_after_its_retention
);

/// `log_retention_days`: finished deliveries older than that are deleted (at the dispatcher's
/// start, then hourly); pending ones are kept.
async fn the_delivery_log_is_pruned_after_its_retention(db: &str) {
    let rx = Receiver::start().await;
    let server = TestServer::start(db, &FAST).await;
    let org = new_org(&server, "Prune").await;
    let w = create_hook(&org, json!({"url": rx.url})).await;
    let id = w["id"].as_str().unwrap().to_string();
    let (s, _) = org
        .owner
        .post(&format!("{}/{id}/test", hooks_path(&org.id)), json!({}))
        .await;
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
        let (s, b) = owner
            .get(&format!("{}/{id}/deliveries", hooks_path(&org.id)))
            .await;
        assert_eq!(s, 200);
        if b["deliveries"] == json!([]) {
            break;
        }
        assert!(Instant::now() < deadline, "the log was not pruned: {b}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
