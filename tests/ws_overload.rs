//! Overload admission against the real binary: a board whose subscribers fall behind, or whose
//! inbox is full, answers ops `unavailable` with `retry_after_ms` at once instead of queueing
//! them; a refused op is not applied, and retrying it with the same `op_id` applies it once. A
//! single subscriber that does not read is closed with 4009 while the board keeps taking ops.

mod common;

use boardroom_protocol::*;
use common::ws::{Closed, Ws};
use common::*;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

async fn welcomed(server: &TestServer, token: &str) -> Ws {
    let mut ws = Ws::connect_with(&server.base, Codec::Json, Some(token)).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    ws
}

async fn subscribe(ws: &mut Ws, board: Uuid) -> OkReply {
    match ws.subscribe_answer(1, Topic::Board(board), None).await {
        ServerFrame::Ok(ok) => ok,
        other => panic!("{other:?}"),
    }
}

/// `boardroom_send_queue_drops_total` from `GET /metrics` (0 before the first drop).
async fn queue_drops(api: &Api) -> f64 {
    let (_, text) = api.get("/metrics").await;
    text.as_str()
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("boardroom_send_queue_drops_total "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// `boardroom serve` on a fresh database with `env` and [`UNLIMITED_OPS`]: these tests are
/// about what a board admits, not about one client's rate.
async fn server_with(env: &[(&str, &str)]) -> TestServer {
    let env = [env, &UNLIMITED_OPS[..]].concat();
    TestServer::start(&fresh_pg_url().await, &env).await
}

/// A board with a card, and the board's one subscriber, which reads nothing from now on.
struct OneSlow {
    server: TestServer,
    org: Org,
    board: Uuid,
    card: String,
    token: String,
    slow: Ws,
}

/// [`server_with`] `env`, an org named `name` with a board and a card, and a subscriber of the
/// board that does not read.
async fn one_slow_subscriber(name: &str, env: &[(&str, &str)]) -> OneSlow {
    let server = server_with(env).await;
    let org = new_org(&server, name).await;
    let (board, col) = board_and_column(&org, "Overload").await;
    let card = card_in(&org.owner, board, col, "big").await;
    let token = org.owner.token.clone().unwrap();
    let mut slow = welcomed(&server, &token).await;
    subscribe(&mut slow, board).await;
    OneSlow {
        server,
        org,
        board,
        card,
        token,
        slow,
    }
}

fn update(r: i64, board: Uuid, card: &str, op_id: Uuid, description: &str) -> ClientFrame {
    serde_json::from_value(
        json!({"type": "op", "ref": r, "topic": format!("board:{board}"),
        "op_id": op_id, "kind": "card.update",
        "data": {"card_id": card, "description": description}}),
    )
    .unwrap()
}

fn create(r: i64, board: Uuid, col: Uuid, op_id: Uuid) -> ClientFrame {
    serde_json::from_value(json!({"type": "op", "ref": r, "topic": format!("board:{board}"),
        "op_id": op_id, "kind": "card.create", "data": {"column_id": col, "title": format!("c{r}")}}))
    .unwrap()
}

/// Waits (bounded) until the write-behind has stored `op_id`.
async fn wait_applied(db: &str, op_id: Uuid) {
    for _ in 0..200 {
        if applied_ops(db, op_id).await == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("op {op_id} was not stored within 10 s");
}

#[tokio::test]
async fn a_board_whose_subscribers_are_behind_refuses_ops_unapplied_and_a_retry_applies_once() {
    // The board's only subscriber stops reading: once the socket buffers are full, its queue
    // grows, and the board is behind.
    let OneSlow {
        server,
        org,
        board,
        card,
        token,
        mut slow,
    } = one_slow_subscriber(
        "Behind",
        &[
            // A subscriber is behind with more than one frame waiting.
            ("BOARDROOM_REALTIME__FANOUT_BACKLOG_FRAMES", "1"),
            ("BOARDROOM_REALTIME__OVERLOAD_RETRY_AFTER_MS", "250"),
            ("BOARDROOM_LIMITS__SEND_QUEUE_FRAMES", "1024"),
            ("BOARDROOM_DURABILITY", "apply"),
        ],
    )
    .await;
    let mut writer = welcomed(&server, &token).await;
    let big = "x".repeat(9990);
    let mut last_ok: Option<(Uuid, u64, String)> = None;
    let mut refused: Option<(Uuid, String, ErrorReply)> = None;
    for i in 0..5000i64 {
        let op_id = Uuid::now_v7();
        let description = format!("{i:09}{}", &big[9..]);
        writer
            .send(update(i, board, &card, op_id, &description))
            .await;
        match writer.answer_to(i).await {
            ServerFrame::Ok(ok) => last_ok = Some((op_id, ok.seq.expect("seq"), description)),
            ServerFrame::Error(e) => {
                refused = Some((op_id, description, e));
                break;
            }
            _ => unreachable!(),
        }
    }
    let (refused_id, refused_desc, e) = refused.expect("the board refused an op within 5000");
    assert_eq!(e.code, ErrorCode::Unavailable, "{e:?}");
    assert_eq!(e.retry_after_ms, Some(250), "{e:?}");
    let (last_id, last_seq, last_desc) = last_ok.expect("ops were applied before the refusal");

    // The refused op was not applied: the subscriber, reading again, gets every event up to
    // the last acknowledged op and nothing after it; the board's state is that op's.
    loop {
        match slow.next(Duration::from_secs(10)).await {
            Ok(ServerFrame::Event(ev)) => {
                assert!(ev.seq <= last_seq, "an event after the last ok: {}", ev.seq);
                if ev.seq == last_seq {
                    break;
                }
            }
            Ok(_) => {}
            Err(c) => panic!("subscriber closed: {c:?}"),
        }
    }
    assert!(slow.quiet(Duration::from_millis(300)).await.is_none());
    wait_applied(&server.db_url, last_id).await;
    assert_eq!(applied_ops(&server.db_url, refused_id).await, 0);
    let (s, snap) = org.owner.get(&format!("/api/v1/boards/{board}")).await;
    assert_eq!(s, 200, "{snap}");
    let descs: Vec<&str> = snap["cards"]
        .as_array()
        .expect("cards")
        .iter()
        .filter_map(|c| c["description"].as_str())
        .collect();
    assert!(descs.contains(&last_desc.as_str()));
    assert!(!descs.contains(&refused_desc.as_str()));

    // Caught up, the board takes the retry (same op_id) and applies it once; a second retry
    // gets the first answer back.
    writer
        .send(update(900_001, board, &card, refused_id, &refused_desc))
        .await;
    let first = match writer.answer_to(900_001).await {
        ServerFrame::Ok(ok) => ok.seq.expect("seq"),
        other => panic!("retry refused: {other:?}"),
    };
    assert_eq!(first, last_seq + 1);
    writer
        .send(update(900_002, board, &card, refused_id, &refused_desc))
        .await;
    match writer.answer_to(900_002).await {
        ServerFrame::Ok(ok) => assert_eq!(ok.seq, Some(first)),
        other => panic!("second retry: {other:?}"),
    }
    let ev = slow
        .recv_until(|f| matches!(f, ServerFrame::Event(_)))
        .await
        .0;
    match ev {
        ServerFrame::Event(ev) => assert_eq!((ev.seq, ev.op_id), (first, refused_id)),
        _ => unreachable!(),
    }
    assert!(
        slow.quiet(Duration::from_millis(300)).await.is_none(),
        "the op is delivered once"
    );
    wait_applied(&server.db_url, refused_id).await;
}

#[tokio::test]
async fn one_subscriber_that_does_not_read_is_closed_with_4009_and_the_board_keeps_taking_ops() {
    let OneSlow {
        server,
        board,
        card,
        token,
        mut slow,
        ..
    } = one_slow_subscriber(
        "OneSlow",
        &[
            // Readers in step with the writer never have 16 frames waiting; the one that does
            // not read reaches 64 and is closed.
            ("BOARDROOM_REALTIME__FANOUT_BACKLOG_FRAMES", "16"),
            ("BOARDROOM_LIMITS__SEND_QUEUE_FRAMES", "64"),
            ("BOARDROOM_DURABILITY", "apply"),
        ],
    )
    .await;
    // The slow client reads nothing until the server has given up on it (its queue overflowed:
    // the drop counter moved), then drains its socket to find the close code. Waiting for the
    // writer's 3 000 ops instead made the result depend on the machine's speed: on a loaded
    // one they took longer than the server keeps an unread socket (its write timeout), and
    // the close frame was never written.
    let api = server.api();
    let slow = tokio::spawn(async move {
        while queue_drops(&api).await < 1.0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        slow.closed().await
    });
    // Three subscribers that read: one behind out of four is not an overloaded board.
    let mut readers = Vec::new();
    for _ in 0..3 {
        let mut ws = welcomed(&server, &token).await;
        subscribe(&mut ws, board).await;
        readers.push(tokio::spawn(async move {
            let mut events = 0u64;
            // Until the stream has been quiet for 5 s.
            while let Ok(Ok(f)) =
                tokio::time::timeout(Duration::from_secs(5), ws.next(Duration::from_secs(60))).await
            {
                if matches!(f, ServerFrame::Event(_)) {
                    events += 1;
                }
            }
            events
        }));
    }
    let mut writer = welcomed(&server, &token).await;
    let big = "y".repeat(9990);
    let n = 3000i64;
    // Sent 8 at a time (under the readers' backlog bound of 16), then their answers: one round
    // trip per op made the run so long that,
    // after the slow client's queue overflowed, its close frame (stuck behind the socket
    // buffers it does not read) outlived the server's 5 s close timeout.
    for step in 0..n / 8 {
        for i in step * 8..(step + 1) * 8 {
            writer
                .send(update(
                    i,
                    board,
                    &card,
                    Uuid::now_v7(),
                    &format!("{i:09}{}", &big[9..]),
                ))
                .await;
        }
        for i in step * 8..(step + 1) * 8 {
            match writer.answer_to(i).await {
                ServerFrame::Ok(_) => {}
                other => panic!("op {i} refused with one slow subscriber of four: {other:?}"),
            }
        }
    }
    let slow = tokio::time::timeout(Duration::from_secs(60), slow)
        .await
        .expect("the slow subscriber is closed")
        .expect("slow subscriber");
    assert_eq!(slow, Closed::Code(4009));
    drop(writer);
    let mut total = 0;
    for r in readers {
        let got = tokio::time::timeout(Duration::from_secs(30), r)
            .await
            .expect("readers finish")
            .expect("reader");
        // Every op's event reached every subscriber that reads (the first op created the
        // card before they subscribed).
        assert_eq!(got, n as u64);
        total += got;
    }
    assert_eq!(total, 3 * n as u64);
}

#[tokio::test]
async fn ops_beyond_the_inbox_bound_are_refused_unapplied_and_retries_apply_each_once() {
    let server = server_with(&[
        ("BOARDROOM_REALTIME__BOARD_INBOX_OPS", "1"),
        ("BOARDROOM_DURABILITY", "commit"),
        // The writers' sockets wait unread while the others' refused ops are retried, one
        // committed op at a time (over a thousand: almost all of them are refused). On a
        // loaded machine that takes longer than two heartbeats, and a socket that does
        // not read does not answer the server's pings: the server rightly closes it as
        // silent (PROTOCOL.md), and the test's next retry on it then fails with EPIPE on
        // the pong its client owes. Not what this test is about.
        ("BOARDROOM_REALTIME__HEARTBEAT_MS", "600000"),
    ])
    .await;
    let db = &server.db_url;
    let (_, board, col, token) = org_with_board(&server, "Inbox").await;
    // Subscribers who read make every op cost the actor a fan-out.
    let mut readers = Vec::new();
    for _ in 0..40 {
        let mut ws = welcomed(&server, &token).await;
        subscribe(&mut ws, board).await;
        readers.push(tokio::spawn(async move {
            while ws.next(Duration::from_secs(30)).await.is_ok() {}
        }));
    }
    // Eight writers send their ops at once, without waiting for answers.
    let per = 150i64;
    let mut writers = Vec::new();
    for w in 0..8i64 {
        let mut ws = welcomed(&server, &token).await;
        writers.push(tokio::spawn(async move {
            let ids: Vec<Uuid> = (0..per).map(|_| Uuid::now_v7()).collect();
            for (i, id) in ids.iter().enumerate() {
                ws.send(create(w * 1000 + i as i64, board, col, *id)).await;
            }
            let mut answers: HashMap<i64, ServerFrame> = HashMap::new();
            while answers.len() < per as usize {
                match ws.recv().await {
                    f @ ServerFrame::Ok(_) | f @ ServerFrame::Error(_) => {
                        let r = match &f {
                            ServerFrame::Ok(ok) => ok.r#ref.clone(),
                            ServerFrame::Error(e) => e.r#ref.clone(),
                            _ => None,
                        };
                        let Some(Ref::Int(r)) = r else {
                            panic!("answer without ref: {f:?}")
                        };
                        assert!(answers.insert(r, f).is_none(), "op {r} answered twice");
                    }
                    _ => {}
                }
            }
            (ws, ids, answers)
        }));
    }
    let mut refused = Vec::new();
    let mut acked = 0;
    let mut sockets = Vec::new();
    for (w, t) in writers.into_iter().enumerate() {
        let (ws, ids, answers) = t.await.expect("writer");
        for (i, id) in ids.iter().enumerate() {
            match &answers[&(w as i64 * 1000 + i as i64)] {
                ServerFrame::Ok(_) => acked += 1,
                ServerFrame::Error(e) => {
                    assert_eq!(e.code, ErrorCode::Unavailable, "{e:?}");
                    assert_eq!(e.retry_after_ms, Some(100), "{e:?}");
                    refused.push((w, i, *id));
                }
                _ => unreachable!(),
            }
        }
        sockets.push(ws);
    }
    assert!(
        !refused.is_empty(),
        "1200 ops sent at once to a board with an inbox of one: some must be refused"
    );
    assert_eq!(acked + refused.len(), 8 * per as usize);
    // Refused ops were not applied (acknowledged ones are durable: commit mode).
    assert_eq!(cards_in_db(db, board).await, acked as i64);
    for (_, _, id) in &refused {
        assert_eq!(applied_ops(db, *id).await, 0);
    }
    // Retried one at a time with the same op_ids, each is applied once.
    for (n, (w, i, id)) in refused.iter().enumerate() {
        let ws = &mut sockets[*w];
        let r = 500_000 + n as i64;
        ws.send(create(r, board, col, *id)).await;
        match ws.answer_to(r).await {
            ServerFrame::Ok(ok) => assert!(ok.seq.is_some()),
            other => panic!("retry of op {w}/{i} refused: {other:?}"),
        }
    }
    assert_eq!(cards_in_db(db, board).await, 8 * per);
    for r in readers {
        r.abort();
    }
}
