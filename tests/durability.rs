//! What an acknowledgement promises, against the real binary: with `durability = "commit"` an
//! acked op is in the store even when the server is killed with SIGKILL under a saturating
//! load, and a retry of any op (acked or not) applies it at most once; the embedded SQLite
//! store syncs every commit (`synchronous = FULL`) unless told otherwise; `/metrics` reports
//! commit times and time to durable.

mod common;

use boardroom_protocol::*;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The op limits out of the way: the writers below send as fast as the server answers.
use common::UNLIMITED_OPS as UNLIMITED;

const WRITERS: usize = 4;
/// Ops each writer keeps in flight: enough that the journal always has a batch waiting.
const WINDOW: usize = 64;

async fn connect(server: &TestServer, token: &str) -> Ws {
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(ClientFrame::Hello(Hello {
        r#ref: Some(Ref::Int(0)),
        token: token.into(),
        client: Some("test/1".into()),
    }))
    .await;
    match ws.recv().await {
        ServerFrame::Welcome(_) => ws,
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// A kanban board of `org`: its id and the API's answer.
async fn new_board(org: &Org) -> (Uuid, Value) {
    let b = common::new_board(org, json!({"name": "Durable"})).await;
    (b["id"].as_str().unwrap().parse().unwrap(), b)
}

fn update(r: i64, board: Uuid, card: Uuid, op_id: Uuid) -> ClientFrame {
    serde_json::from_value(json!({
        "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.update", "data": {"card_id": card, "title": format!("t{r}")}
    }))
    .expect("op frame")
}

/// What one writer saw before the server died.
#[derive(Default)]
struct Seen {
    /// Every op sent, by ref: (op_id, card).
    sent: HashMap<i64, (Uuid, Uuid)>,
    /// Acked ops: op_id -> seq of its event.
    acked: HashMap<Uuid, u64>,
    /// Ops refused (not applied), e.g. `unavailable` when the journal is full.
    refused: usize,
}

/// Ops sent before the kill, which bounds the retry pass below. Retries older than the
/// 10 000 op ids a board keeps in memory are covered by `tests/op_retry_window.rs`.
const KILL_AFTER_SENT: usize = 6_000;

/// Keeps `WINDOW` ops in flight until the connection dies.
async fn writer(
    mut ws: Ws,
    board: Uuid,
    cards: Arc<Vec<Uuid>>,
    w: usize,
    sent: Arc<AtomicUsize>,
) -> Seen {
    let mut seen = Seen::default();
    let mut inflight = 0usize;
    let mut r = (w as i64) << 32;
    loop {
        while inflight < WINDOW {
            r += 1;
            let card = cards[r as usize % cards.len()];
            let op_id = Uuid::now_v7();
            seen.sent.insert(r, (op_id, card));
            if ws.try_send(&update(r, board, card, op_id)).await.is_err() {
                return seen;
            }
            inflight += 1;
            sent.fetch_add(1, Ordering::Relaxed);
        }
        match ws.next(Duration::from_secs(30)).await {
            Ok(ServerFrame::Ok(ok)) => {
                let Some(Ref::Int(r)) = ok.r#ref else {
                    continue;
                };
                let (op_id, _) = seen.sent[&r];
                seen.acked
                    .insert(op_id, ok.seq.expect("an op's ok has a seq"));
                inflight -= 1;
            }
            Ok(ServerFrame::Error(e)) => {
                assert_eq!(e.code, ErrorCode::Unavailable, "op refused: {e:?}");
                seen.refused += 1;
                inflight -= 1;
            }
            Ok(_) => {}
            Err(_) => return seen,
        }
    }
}

/// Store side: (op_id -> number of events) for the board.
async fn events_per_op(db_url: &str, board: Uuid) -> HashMap<Uuid, i64> {
    let sql = "SELECT op_id, count(*) FROM board_events WHERE board_id = $1 GROUP BY op_id";
    let rows: Vec<(Uuid, i64)> = board_rows(db_url, sql, board).await;
    rows.into_iter().collect()
}

/// SIGKILL while writers saturate the journal; then: every acked op is stored with the seq
/// it was acked with, and every op sent (acked, lost in flight, or refused) retried with its
/// op_id ends up applied exactly once.
async fn kill_9_under_load(db_url: &str) {
    let (server, org) = server_with_org_on(db_url, "Crash", &UNLIMITED).await;
    let (board, b) = new_board(&org).await;
    let mut cards = Vec::new();
    for i in 0..8 {
        cards.push(
            create_card(&org.owner, &b, &format!("c{i}"))
                .await
                .parse()
                .unwrap(),
        );
    }
    let cards = Arc::new(cards);
    let token = org.owner.token.clone().expect("token");
    let mut tasks = Vec::new();
    let count = Arc::new(AtomicUsize::new(0));
    for w in 0..WRITERS {
        let ws = connect(&server, &token).await;
        tasks.push(tokio::spawn(writer(
            ws,
            board,
            cards.clone(),
            w,
            count.clone(),
        )));
    }
    // Let the journal fill up and commit for a while, then kill the server mid-flight.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::Relaxed) < KILL_AFTER_SENT && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let mut server = server;
    server.kill9();
    let mut sent: Vec<(Uuid, Uuid)> = Vec::new();
    let mut acked: HashMap<Uuid, u64> = HashMap::new();
    for t in tasks {
        let seen = t.await.expect("writer");
        sent.extend(seen.sent.into_values());
        acked.extend(seen.acked);
    }
    let unanswered = sent.len() - acked.len();
    assert!(
        acked.len() > 500,
        "the writers got only {} ops acked: not a load test",
        acked.len()
    );
    assert!(
        unanswered > 0,
        "every op was answered before the kill: nothing was in flight"
    );

    // Every acked op is in the store, once, with the seq it was acked with.
    let stored = events_per_op(db_url, board).await;
    let missing: Vec<&Uuid> = acked.keys().filter(|id| !stored.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} acked ops are not in the store after kill -9 (e.g. {:?})",
        missing.len(),
        acked.len(),
        missing.first()
    );
    let twice: Vec<(&Uuid, &i64)> = stored.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "ops with several events: {twice:?}");

    // Retry every op sent, acked or not: each ends up applied exactly once, an acked one with
    // its first answer.
    let server = TestServer::start(db_url, &UNLIMITED).await;
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let mut ws = connect(&server, owner.token.as_deref().unwrap()).await;
    let mut answered = 0usize;
    let mut retry_seq: HashMap<Uuid, u64> = HashMap::new();
    for chunk in sent.chunks(WINDOW) {
        for (i, (op_id, card)) in chunk.iter().enumerate() {
            ws.send(update(i as i64 + 1, board, *card, *op_id)).await;
        }
        let mut left = chunk.len();
        while left > 0 {
            match ws.recv().await {
                ServerFrame::Ok(ok) => {
                    let Some(Ref::Int(r)) = ok.r#ref else {
                        continue;
                    };
                    retry_seq.insert(chunk[r as usize - 1].0, ok.seq.expect("seq"));
                    left -= 1;
                    answered += 1;
                }
                ServerFrame::Error(e) => panic!("retry refused: {e:?}"),
                _ => {}
            }
        }
    }
    assert_eq!(answered, sent.len());
    for (id, seq) in &acked {
        assert_eq!(
            retry_seq.get(id),
            Some(seq),
            "a retried acked op must get its first answer"
        );
    }
    let stored = events_per_op(db_url, board).await;
    let ids: HashSet<Uuid> = sent.iter().map(|(id, _)| *id).collect();
    for id in &ids {
        assert_eq!(
            stored.get(id),
            Some(&1),
            "op {id} must be applied exactly once after its retry"
        );
    }
    eprintln!(
        "kill -9: {} ops sent, {} acked before the kill, {} unanswered; all stored once after retry",
        sent.len(),
        acked.len(),
        unanswered
    );
}

on_both_stores!(
    kill_9_under_load_loses_no_acked_op_on_sqlite,
    kill_9_under_load_loses_no_acked_op_on_postgres,
    kill_9_under_load
);

/// The sum of a Prometheus metric's samples (all label sets), if it is there.
fn metric(text: &str, name: &str) -> Option<f64> {
    let mut found = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(name) {
            if rest.starts_with(' ') || rest.starts_with('{') {
                let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
                found = Some(found.unwrap_or(0.0) + v);
            }
        }
    }
    found
}

#[tokio::test]
async fn metrics_report_commit_time_and_time_to_durable() {
    let (_dir, url) = temp_sqlite();
    let server = TestServer::start(&url, &UNLIMITED).await;
    let org = new_org(&server, "Metrics").await;
    let (board, b) = new_board(&org).await;
    let card: Uuid = create_card(&org.owner, &b, "m").await.parse().unwrap();
    let mut ws = connect(&server, org.owner.token.as_deref().unwrap()).await;
    for r in 1..=20 {
        ws.send(update(r, board, card, Uuid::now_v7())).await;
        ws.recv_until(|f| matches!(f, ServerFrame::Ok(_))).await;
    }
    let (s, text) = server.api().get("/metrics").await;
    assert_eq!(s, 200);
    let text = text.as_str().unwrap_or_default().to_string();
    // 21 ops (the card.create and 20 updates), each acked after its commit.
    let durable = metric(&text, "boardroom_time_to_durable_seconds_count");
    assert!(
        durable.is_some_and(|n| n >= 21.0),
        "/metrics lacks a count of 21 ops made durable: {durable:?}\n{text}"
    );
    assert!(
        metric(&text, "boardroom_time_to_durable_seconds_bucket").is_some(),
        "time to durable is a histogram:\n{text}"
    );
    let sum = metric(&text, "boardroom_time_to_durable_seconds_sum").unwrap_or(-1.0);
    assert!(sum > 0.0 && sum < 60.0, "time to durable sum {sum}");
    let commits = metric(&text, "boardroom_commit_seconds_count").unwrap_or(0.0);
    assert!(
        (1.0..=21.0).contains(&commits),
        "21 ops take between 1 and 21 group commits: {commits}\n{text}"
    );
    assert!(metric(&text, "boardroom_commit_seconds_bucket").is_some());
}

async fn readyz(server: &TestServer) -> Value {
    let (s, body) = server.api().get("/readyz").await;
    assert_eq!(s, 200, "{body}");
    body
}

/// With `durability = "commit"` an ack on the embedded store survives power loss: the store's
/// connections run `synchronous = FULL` (read back from SQLite itself, reported in /readyz).
/// `apply` (which acks before the commit anyway) runs NORMAL; either can be set explicitly.
#[tokio::test]
async fn embedded_sqlite_syncs_every_commit_under_commit_durability() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().display().to_string();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "full"),
        (&[("BOARDROOM_DURABILITY", "apply")], "normal"),
        (&[("BOARDROOM_SQLITE_SYNCHRONOUS", "normal")], "normal"),
        (
            &[
                ("BOARDROOM_DURABILITY", "apply"),
                ("BOARDROOM_SQLITE_SYNCHRONOUS", "full"),
            ],
            "full",
        ),
    ];
    for (env, want) in cases {
        // The embedded default: no database URL, the SQLite file in the data directory.
        let mut all = vec![("BOARDROOM_DATA_DIR", data.as_str())];
        all.extend_from_slice(env);
        let mut server = TestServer::start("", &all).await;
        let body = readyz(&server).await;
        assert_eq!(body["store"], "sqlite", "{body}");
        assert_eq!(body["sqlite_synchronous"], want, "with {env:?}: {body}");
        server.terminate();
    }
    // A value that is neither is refused at start-up, naming the key.
    let out = command()
        .arg("serve")
        .env("BOARDROOM_DATA_DIR", &data)
        .env("BOARDROOM_LISTEN", "127.0.0.1:0")
        .env("BOARDROOM_SQLITE_SYNCHRONOUS", "sometimes")
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run boardroom serve");
    assert!(
        !out.status.success(),
        "started with a bad sqlite_synchronous"
    );
    let err =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(
        err.to_lowercase().contains("sqlite_synchronous") && err.contains("sometimes"),
        "{err}"
    );
}
