//! A retried op_id gets its first answer however old it is: the board actor keeps only its
//! newest ops in memory (10 000), so a retry from before them must be found in the store,
//! not applied a second time. Found by the kill -9 test of `tests/durability.rs` when a
//! saturating run pushed more than 10 000 ops through one board before the retries.

mod common;

use boardroom_protocol::*;
use common::ws::Ws;
use common::*;
use serde_json::json;
use uuid::Uuid;

/// More ops than the actor remembers (`APPLIED_MEMORY` in actors/src/live/board/mod.rs).
const OPS: usize = 10_100;
const WINDOW: usize = 256;

fn update(r: i64, board: Uuid, card: &str, op_id: Uuid) -> ClientFrame {
    serde_json::from_value(json!({
        "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.update", "data": {"card_id": card, "title": format!("t{r}")}
    }))
    .expect("op frame")
}

/// Sends `frames` in windows and returns each answer's seq by ref.
async fn send_all(ws: &mut Ws, frames: Vec<ClientFrame>) -> Vec<u64> {
    let mut seqs = vec![0u64; frames.len()];
    let mut frames = frames.into_iter();
    let mut inflight = 0usize;
    let mut left = seqs.len();
    loop {
        while inflight < WINDOW {
            let Some(f) = frames.next() else { break };
            ws.send(f).await;
            inflight += 1;
        }
        if left == 0 {
            return seqs;
        }
        match ws.recv().await {
            ServerFrame::Ok(ok) => {
                let Some(Ref::Int(r)) = ok.r#ref else {
                    continue;
                };
                seqs[r as usize - 1] = ok.seq.expect("an op's ok carries its seq");
                inflight -= 1;
                left -= 1;
            }
            ServerFrame::Error(e) => panic!("op refused: {e:?}"),
            _ => {}
        }
    }
}

async fn retry_after_the_memory_window(db_url: &str) {
    let (server, org) = server_with_org_on(db_url, "Window", &UNLIMITED_OPS).await;
    let b = new_board(&org, json!({"name": "Window"})).await;
    let board: Uuid = b["id"].as_str().unwrap().parse().unwrap();
    let card = create_card(&org.owner, &b, "c").await;
    let token = org.owner.token.clone().expect("token");

    let mut ws = Ws::connect(&server.base, Codec::Json).await;
    ws.send(ClientFrame::Hello(Hello {
        r#ref: Some(Ref::Int(0)),
        token,
        client: Some("test/1".into()),
    }))
    .await;
    assert!(matches!(ws.recv().await, ServerFrame::Welcome(_)));

    let ids: Vec<Uuid> = (0..OPS).map(|_| Uuid::now_v7()).collect();
    let frames = ids
        .iter()
        .enumerate()
        .map(|(i, id)| update(i as i64 + 1, board, &card, *id))
        .collect();
    let first = send_all(&mut ws, frames).await;
    let last_seq = *first.iter().max().expect("ops");

    // The oldest ops again: each gets its first seq, and nothing new is applied.
    let retries = ids[..3]
        .iter()
        .enumerate()
        .map(|(i, id)| update(i as i64 + 1, board, &card, *id))
        .collect();
    let again = send_all(&mut ws, retries).await;
    assert_eq!(
        again,
        first[..3].to_vec(),
        "a retry must get its first answer"
    );

    // A fresh op still gets the next seq: the retries applied nothing.
    let fresh = send_all(&mut ws, vec![update(1, board, &card, Uuid::now_v7())]).await;
    assert_eq!(fresh, vec![last_seq + 1], "the retries were applied again");
}

on_both_stores!(
    a_retry_older_than_the_actors_memory_gets_its_first_answer_on_sqlite,
    a_retry_older_than_the_actors_memory_gets_its_first_answer_on_postgres,
    retry_after_the_memory_window
);
