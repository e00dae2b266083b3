//! What the webhook tests share: a real HTTP receiver on loopback, the receiver's side of
//! the signature check, the store's committed events, and running a test on both stores.
#![allow(dead_code)]

use crate::common::*;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use uuid::Uuid;

/// Short retries, fast polls, a short dispatcher lease (a killed server's lease lapses fast),
/// and private targets allowed (the receiver is on loopback).
pub const FAST: [(&str, &str); 6] = [
    ("BOARDROOM_WEBHOOKS__POLL_MS", "100"),
    ("BOARDROOM_WEBHOOKS__RETRY_BASE_MS", "100"),
    ("BOARDROOM_WEBHOOKS__RETRY_MAX_MS", "400"),
    ("BOARDROOM_WEBHOOKS__LEASE_MS", "1000"),
    ("BOARDROOM_WEBHOOKS__TIMEOUT_MS", "2000"),
    ("BOARDROOM_WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true"),
];

#[derive(Clone, Debug)]
pub struct Hit {
    pub delivery: String,
    pub signature: String,
    pub event: String,
    pub body: String,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
pub struct Inner {
    hits: Mutex<Vec<Hit>>,
    /// Answer 500 to this many requests first.
    pub fail_first: AtomicUsize,
}

/// A webhook receiver on 127.0.0.1: records every request and answers 200 (or 500 while
/// `fail_first` lasts).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    pub inner: Arc<Inner>,
}

impl Receiver {
    pub async fn start() -> Receiver {
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

    pub fn hits(&self) -> Vec<Hit> {
        self.inner.hits.lock().unwrap().clone()
    }

    /// Waits (at most `secs`) until `done` holds for the hits so far.
    pub async fn wait(&self, secs: u64, what: &str, done: impl Fn(&[Hit]) -> bool) -> Vec<Hit> {
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
pub fn verifies(secret: &str, hit: &Hit) -> bool {
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

pub fn hooks_path(org: &str) -> String {
    format!("/api/v1/orgs/{org}/webhooks")
}

/// The path of webhook `hook` of org `org`, then `rest` (`""`, `"/test"`, `"/deliveries"`, …).
pub fn hook_path(org: &str, hook: &str, rest: &str) -> String {
    format!("{}/{hook}{rest}", hooks_path(org))
}

/// `PATCH` webhook `hook` of `org` with `body`, as its owner: status and body, whatever they are.
pub async fn patch_hook(org: &Org, hook: &str, body: Value) -> (u16, Value) {
    org.owner.patch(&hook_path(&org.id, hook, ""), body).await
}

/// `POST` to `rest` of webhook `hook` of `org` (`"/test"`, `"/rotate-secret"`, a redelivery)
/// as `api`, with an empty body: status and body, whatever they are.
pub async fn hook_action(api: &Api, org: &str, hook: &str, rest: &str) -> (u16, Value) {
    api.post(&hook_path(org, hook, rest), serde_json::json!({}))
        .await
}

/// A receiver, a server on `db` with the fast webhook settings, and a new org named `name`:
/// where most webhook tests start.
pub async fn receiver_and_org(db: &str, name: &str) -> (Receiver, TestServer, Org) {
    let rx = Receiver::start().await;
    let (server, org) = server_with_org_on(db, name, &FAST).await;
    (rx, server, org)
}

/// Registers a webhook of `org` sending to `rx` (nothing else set); returns its id.
pub async fn hook_to(org: &Org, rx: &Receiver) -> String {
    let w = create_hook(org, serde_json::json!({ "url": rx.url })).await;
    w["id"].as_str().expect("webhook id").to_string()
}

pub async fn create_hook(org: &Org, body: Value) -> Value {
    org.owner.post_created(&hooks_path(&org.id), body).await
}

pub async fn deliveries(org: &Org, hook: &str) -> Vec<Value> {
    let path = hook_path(&org.id, hook, "/deliveries?limit=500");
    let (s, b) = org.owner.get(&path).await;
    assert_eq!(s, 200, "{b}");
    b["deliveries"].as_array().cloned().unwrap_or_default()
}

/// Accepted (200) events per board, in the order they were accepted, deduplicated by
/// delivery id: board -> seqs.
pub fn accepted_by_board(hits: &[Hit]) -> BTreeMap<String, Vec<i64>> {
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
pub async fn committed(db: &str, boards: &[String]) -> BTreeMap<String, Vec<i64>> {
    let mut out = BTreeMap::new();
    for b in boards {
        let id: Uuid = b.parse().unwrap();
        let sql = "SELECT seq FROM board_events WHERE board_id = $1 ORDER BY seq";
        let rows: Vec<(i64,)> = board_rows(db, sql, id).await;
        out.insert(b.clone(), rows.into_iter().map(|r| r.0).collect());
    }
    out
}
