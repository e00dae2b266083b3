//! Issue 15.3: a connection that subscribes over and over to a large board, and never reads,
//! must not make the server buffer a snapshot per subscribe. The send queue is bounded in
//! bytes (`limits.send_queue_bytes`, then 4009), subscribes are rate limited per connection,
//! and a repeated subscribe to a topic the connection holds gets no second snapshot.

mod common;

use boardroom_protocol::{
    close, ClientFrame, Codec, Hello, Ref, ServerFrame, Since, Subscribe, Topic,
};
use common::ws::{Closed, Ws};
use common::*;
use futures_util::{stream, StreamExt};
use serde_json::json;
use std::time::Duration;
use uuid::Uuid;

/// Peak resident memory of a process (kB), from the kernel's high-water mark.
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

fn hello(token: &str) -> ClientFrame {
    ClientFrame::Hello(Hello {
        r#ref: Some(Ref::Int(0)),
        token: token.to_string(),
        client: None,
    })
}

fn subscribe(r: i64, topic: Topic, since: Option<Since>) -> ClientFrame {
    ClientFrame::Subscribe(Subscribe {
        r#ref: Some(Ref::Int(r)),
        topic,
        since,
    })
}

/// A board of about 3 MB: 300 cards with 10 000-character descriptions.
async fn large_board(server: &TestServer, org: &Org) -> Uuid {
    let board = create_board(&org.owner, &org.id, json!({"name": "Large"})).await;
    let board_id: Uuid = board["id"].as_str().unwrap().parse().unwrap();
    let column = board["columns"][0]["id"].clone();
    let description = "x".repeat(10_000);
    let api = server.login(&org.owner_email, PASSWORD).await;
    stream::iter(0..300)
        .map(|i| {
            let (api, column, description) = (api.clone(), column.clone(), description.clone());
            async move {
                let (s, body) = api
                    .post(
                        &format!("/api/v1/boards/{board_id}/ops"),
                        json!({"op_id": Uuid::now_v7(), "kind": "card.create",
                               "data": {"column_id": column, "title": format!("card {i}"),
                                        "description": description}}),
                    )
                    .await;
                assert_eq!(s, 200, "{body}");
            }
        })
        .buffer_unordered(8)
        .collect::<Vec<()>>()
        .await;
    board_id
}

#[tokio::test]
async fn resubscribing_without_reading_does_not_exhaust_memory() {
    let (server, org) = server_with_org_env(
        "Large",
        &[
            // Only so that the setup can make the large board quickly.
            (
                "BOARDROOM_LIMITS__HTTP_OPS_PER_SECOND_PER_CREDENTIAL",
                "100000",
            ),
            ("BOARDROOM_LIMITS__HTTP_OPS_BURST_PER_CREDENTIAL", "100000"),
        ],
    )
    .await;
    let board_id = large_board(&server, &org).await;
    let topic = Topic::Board(board_id);
    let token = org.owner.token.clone().expect("owner token");

    // A reader first, so the board is loaded and one snapshot was made: the baseline.
    let mut reader = Ws::connect(&server.base, Codec::Json).await;
    reader.send(hello(&token)).await;
    reader
        .recv_until(|f| matches!(f, ServerFrame::Welcome(_)))
        .await;
    reader.send(subscribe(1, topic, None)).await;
    let ok = reader.ok_to(1).await;
    assert!(ok.snapshot.is_some(), "the first subscribe has a snapshot");
    let before = peak_rss_kb(server.pid());

    // The attack: 100 subscribes to the large board from a socket that never reads. The
    // repeats get no second snapshot.
    let mut attacker = Ws::connect(&server.base, Codec::Json).await;
    attacker.send(hello(&token)).await;
    for r in 1..=100 {
        attacker.send(subscribe(r, topic, None)).await;
    }
    // The same with `since` naming another epoch, which asks for a snapshot each time: only
    // the byte bound of the send queue stops this one (4009).
    let mut stale = Ws::connect(&server.base, Codec::Json).await;
    stale.send(hello(&token)).await;
    let foreign = Some(Since {
        epoch: ok.epoch.unwrap() + 1000,
        seq: 0,
    });
    for r in 1..=100 {
        stale.send(subscribe(r, topic, foreign)).await;
    }
    tokio::time::sleep(Duration::from_secs(5)).await;
    let after = peak_rss_kb(server.pid());
    let grown_mb = (after.saturating_sub(before)) / 1024;
    eprintln!(
        "peak RSS {} MB -> {} MB (+{grown_mb} MB)",
        before / 1024,
        after / 1024
    );
    assert!(
        grown_mb < 64,
        "200 subscribes from two non-reading sockets grew the server's peak RSS by {grown_mb} MB"
    );

    // What the server kept for the first: one snapshot, then 99 answers without one.
    let (mut snapshots, mut held) = (0, 0);
    while snapshots + held < 100 {
        match attacker.recv().await {
            ServerFrame::Ok(o) if o.topic == Some(topic) && o.snapshot.is_some() => snapshots += 1,
            ServerFrame::Ok(o) if o.topic == Some(topic) => {
                assert_eq!(o.recovered, Some(true), "{o:?}");
                assert_eq!(o.epoch, ok.epoch, "{o:?}");
                held += 1;
            }
            ServerFrame::Error(e) => panic!("{e:?}"),
            _ => {}
        }
    }
    eprintln!("plain resubscribes: {snapshots} snapshot(s), {held} without");
    assert_eq!(snapshots, 1, "a snapshot per repeated subscribe");
    // The second was closed as too slow once its queue held more than send_queue_bytes.
    let mut stale_snapshots = 0;
    let closed = loop {
        match stale.next(Duration::from_secs(15)).await {
            Ok(ServerFrame::Ok(o)) if o.snapshot.is_some() => stale_snapshots += 1,
            Ok(_) => {}
            Err(c) => break c,
        }
    };
    eprintln!("stale-epoch resubscribes: {stale_snapshots} snapshot(s), then {closed:?}");
    assert_eq!(closed, Closed::Code(close::TOO_SLOW));
    assert!(stale_snapshots < 100, "{stale_snapshots}");

    // The server still serves everyone else.
    reader.send(subscribe(2, topic, None)).await;
    let (f, _) = reader
        .recv_until(|f| matches!(f, ServerFrame::Ok(o) if o.r#ref == Some(Ref::Int(2))))
        .await;
    assert!(matches!(f, ServerFrame::Ok(_)), "{f:?}");
}

#[tokio::test]
async fn subscribes_are_rate_limited_per_connection() {
    let (server, org) = server_with_org_env(
        "Limited",
        &[
            (
                "BOARDROOM_LIMITS__SUBSCRIBES_PER_SECOND_PER_CONNECTION",
                "1",
            ),
            ("BOARDROOM_LIMITS__SUBSCRIBES_BURST_PER_CONNECTION", "3"),
        ],
    )
    .await;
    let board = create_board(&org.owner, &org.id, json!({"name": "B"})).await;
    let topic = Topic::Board(board["id"].as_str().unwrap().parse().unwrap());
    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(hello(org.owner.token.as_deref().unwrap())).await;
    for r in 1..=4 {
        ws.send(subscribe(r, topic, None)).await;
    }
    // Answers by ref: the refusal comes from the connection, the others from the board.
    let mut answers = std::collections::BTreeMap::new();
    while answers.len() < 4 {
        match ws.recv().await {
            ServerFrame::Ok(o) if o.topic == Some(topic) => {
                answers.insert(format!("{:?}", o.r#ref), Ok(()));
            }
            ServerFrame::Error(e) => {
                answers.insert(format!("{:?}", e.r#ref), Err((e.code, e.retry_after_ms)));
            }
            _ => {}
        }
    }
    for r in 1..=3 {
        let got = &answers[&format!("{:?}", Some(Ref::Int(r)))];
        assert!(got.is_ok(), "subscribe {r}: {got:?}");
    }
    match &answers[&format!("{:?}", Some(Ref::Int(4)))] {
        Err((code, retry)) => {
            assert_eq!(*code, boardroom_protocol::ErrorCode::RateLimited);
            assert!(retry.is_some_and(|ms| ms > 0), "{retry:?}");
        }
        other => panic!("the fourth subscribe within a second was not limited: {other:?}"),
    }
}
