//! Presence as each subscriber may see it (issue 15, item 5): the real binary on Postgres,
//! real WebSockets. A customer sees the worker on their job and nobody else, without the
//! `focus` of cards hidden from them or any `extra` state; customers may not watch who is
//! online in the org; `presence.set` is capped in size and rate.

mod common;

use boardroom_protocol::*;
use common::ws::Ws;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;
use uuid::Uuid;

/// Connects with the token at upgrade (the server says `welcome` at once).
async fn open(server: &TestServer, api: &Api) -> Ws {
    let mut ws = Ws::connect_with(&server.base, Codec::Json, api.token.as_deref()).await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));
    ws
}

async fn present(ws: &mut Ws, r: i64, topic: &str, state: Value) -> ServerFrame {
    ws.ask(
        r,
        json!({"type": "presence.set", "topic": topic, "state": state}),
    )
    .await
}

fn presence_of(ok: &ServerFrame) -> PresenceMap {
    match ok {
        ServerFrame::Ok(o) => o.presence.clone().expect("subscribe ok carries presence"),
        other => panic!("expected ok, got {other:?}"),
    }
}

struct Jobs {
    server: TestServer,
    org: Org,
    board: Uuid,
    topic: String,
    worker: Member,
    member: Member,
    customer: Member,
    job: String,
    other: String,
}

/// An org with a member, a worker, and a customer user whose job (assigned to the worker) sits
/// on a jobs board next to a card of nobody's.
async fn jobs(env: &[(&str, &str)]) -> Jobs {
    let (server, org) = server_with_org_env("Presence", env).await;
    let member = add_member(&server, &org.owner, &org.id, "member").await;
    let worker = add_member(&server, &org.owner, &org.id, "worker").await;
    let (customer, cust) = linked_customer(&server, &org.owner, &org.id, "Carla").await;
    let b = new_board(&org, json!({"name": "Jobs", "template": "jobs"})).await;
    let board: Uuid = b["id"].as_str().unwrap().parse().unwrap();
    let col = b["columns"][0]["id"].as_str().unwrap().to_string();
    let mut ids = Vec::new();
    for data in [
        json!({"column_id": col, "title": "Fix boiler", "customer_id": cust["id"], "assignees": [worker.id]}),
        json!({"column_id": col, "title": "Internal"}),
    ] {
        let (s, r) = org
            .owner
            .post(
                &format!("/api/v1/boards/{board}/ops"),
                json!({"op_id": Uuid::now_v7(), "kind": "card.create", "data": data}),
            )
            .await;
        assert_eq!(s, 200, "{r}");
        ids.push(r["id"].as_str().unwrap().to_string());
    }
    Jobs {
        server,
        org,
        board,
        topic: format!("board:{board}"),
        worker,
        member,
        customer,
        job: ids[0].clone(),
        other: ids[1].clone(),
    }
}

fn subscribe(topic: &str) -> Value {
    json!({"type": "subscribe", "topic": topic})
}

/// A socket of `api` subscribed to the jobs board (the subscription is accepted).
async fn subscribed(j: &Jobs, api: &Api) -> Ws {
    let mut ws = open(&j.server, api).await;
    let ok = ws.ask(1, subscribe(&j.topic)).await;
    assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");
    ws
}

#[tokio::test]
async fn a_customer_sees_only_the_worker_on_their_job_without_hidden_focus_or_extra() {
    let j = jobs(&[]).await;
    let (wid, mid): (Uuid, Uuid) = (j.worker.id.parse().unwrap(), j.member.id.parse().unwrap());
    let mut m = subscribed(&j, &j.member.api).await;
    let ok = present(
        &mut m,
        2,
        &j.topic,
        json!({"focus": j.other, "editing": true, "cursor": {"x": 1}}),
    )
    .await;
    assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");
    let mut w = subscribed(&j, &j.worker.api).await;
    let ok = present(
        &mut w,
        2,
        &j.topic,
        json!({"focus": j.job, "editing": true, "note": "gate code 1234"}),
    )
    .await;
    assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");

    // The customer's snapshot of presence: the worker on their job, nobody else.
    let mut c = open(&j.server, &j.customer.api).await;
    let seen = presence_of(&c.ask(1, subscribe(&j.topic)).await);
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        vec![wid],
        "a customer sees only the worker on their job: {seen:?}"
    );
    let ws = &seen[&wid].state;
    assert_eq!(ws.focus.map(|f| f.to_string()), Some(j.job.clone()));
    assert!(ws.extra.is_empty(), "no extra state for customers: {ws:?}");

    // The member's presence changes: the customer hears nothing of it.
    let ok = present(&mut m, 3, &j.topic, json!({"focus": null, "mood": "busy"})).await;
    assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");
    // The worker looks at a card the customer may not see: the customer learns the worker
    // is there, not where.
    let ok = present(
        &mut w,
        3,
        &j.topic,
        json!({"focus": j.other, "editing": true, "note": "x"}),
    )
    .await;
    assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");
    let (f, before) = c
        .recv_until(|f| matches!(f, ServerFrame::Presence(_)))
        .await;
    assert!(before.is_empty(), "{before:?}");
    let ServerFrame::Presence(p) = f else {
        unreachable!()
    };
    assert_eq!(
        p.joins.keys().copied().collect::<Vec<_>>(),
        vec![wid],
        "{p:?}"
    );
    let ws = &p.joins[&wid].state;
    assert_eq!(ws.focus, None, "focus on a hidden card leaked: {ws:?}");
    assert!(!ws.editing && ws.extra.is_empty(), "{ws:?}");
    assert_eq!(c.quiet(Duration::from_millis(300)).await, None);

    // The owner, full view, sees everyone as they are.
    let mut o = open(&j.server, &j.org.owner).await;
    let all = presence_of(&o.ask(1, subscribe(&j.topic)).await);
    assert!(all.contains_key(&wid) && all.contains_key(&mid), "{all:?}");
    assert_eq!(all[&mid].state.extra.get("mood"), Some(&json!("busy")));
    let _ = j.board;
}

#[tokio::test]
async fn customers_may_not_watch_who_is_online_in_the_org() {
    let j = jobs(&[]).await;
    let topic = format!("org:{}", j.org.id);
    let mut c = open(&j.server, &j.customer.api).await;
    match c.ask(1, subscribe(&topic)).await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::Forbidden, "{e:?}"),
        other => panic!("a customer subscribed to {topic}: {other:?}"),
    }
    // Workers are people of the org: they may.
    let mut w = open(&j.server, &j.worker.api).await;
    let ok = w.ask(1, subscribe(&topic)).await;
    assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");
}

#[tokio::test]
async fn presence_set_is_capped_in_size_and_rate() {
    let j = jobs(&[
        ("BOARDROOM_REALTIME__PRESENCE_BURST", "3"),
        ("BOARDROOM_REALTIME__PRESENCE_SETS_PER_SECOND", "1"),
    ])
    .await;
    let mut m = subscribed(&j, &j.member.api).await;
    // Over presence_state_bytes (1024 by default), though well under max_frame_bytes.
    let big = "x".repeat(2000);
    match present(&mut m, 2, &j.topic, json!({"blob": big})).await {
        ServerFrame::Error(e) => assert_eq!(e.code, ErrorCode::TooLarge, "{e:?}"),
        other => panic!("a 2 KB presence state was accepted: {other:?}"),
    }
    // A burst of 3, then refused with a time to wait.
    for r in 3..6 {
        let ok = present(&mut m, r, &j.topic, json!({"editing": r % 2 == 0})).await;
        assert!(matches!(ok, ServerFrame::Ok(_)), "{ok:?}");
    }
    match present(&mut m, 6, &j.topic, json!({"editing": true})).await {
        ServerFrame::Error(e) => {
            assert_eq!(e.code, ErrorCode::RateLimited, "{e:?}");
            assert!(e.retry_after_ms.is_some_and(|ms| ms > 0), "{e:?}");
        }
        other => panic!("a fourth presence.set within the burst was accepted: {other:?}"),
    }
}
