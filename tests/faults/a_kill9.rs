//! (a) `kill -9` of a single node under load: every acknowledged op is in the store after the
//! restart, with the seq it was acknowledged with, and every op retried with its `op_id`
//! (acknowledged or not) is applied exactly once.

use crate::common::*;
use crate::support::*;
use std::time::{Duration, Instant};

async fn kill9_single(db_url: &str, store: &str) {
    let writers = pick(3, 4);
    let window = 32;
    let load = Duration::from_millis(pick(2_500, 15_000));
    let (server, org) = server_with_org_on(db_url, "Fault a", &UNLIMITED).await;
    let (board, col) = board(&org).await;
    let cards = cards(&org, board, col, 8).await;
    let token = org.owner.token.clone().expect("token");
    let far = Instant::now() + Duration::from_secs(600);
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let w = Writer::new(
            welcomed(&server.base, &token).await,
            card_update(board, cards.clone()),
        );
        tasks.push(spawn_drive(w, Pace::Window(window), far, far));
    }
    tokio::time::sleep(load).await;
    let mut server = server;
    server.kill9();
    let mut ws = Vec::new();
    for t in tasks {
        ws.push(t.await.expect("writer"));
    }
    let acked_before: usize = ws.iter().map(Writer::acked).sum();
    let sent_before: usize = ws.iter().map(|w| w.ops.len()).sum();

    // What the store holds right after the crash, before any retry.
    let stored = events_by_op(db_url, board).await;
    let crash = count(&ws.iter().collect::<Vec<_>>(), &stored);

    // Restart on the same store; every writer reconnects and sends every op again.
    let restarted = Instant::now();
    let server = TestServer::start(db_url, &UNLIMITED).await;
    // Serving again: the restarted process answers /healthz.
    let recover = Some(restarted.elapsed());
    let owner = server.login(&org.owner_email, PASSWORD).await;
    let token = owner.token.clone().expect("token");
    let deadline = Instant::now() + Duration::from_secs(pick(120, 300));
    let mut done = true;
    for w in ws.iter_mut() {
        w.reconnect(welcomed(&server.base, &token).await);
        w.resend_all();
        done &= w
            .drive(Pace::Window(window), Instant::now(), deadline)
            .await;
    }
    let stored = events_by_op(db_url, board).await;
    let after = count(&ws.iter().collect::<Vec<_>>(), &stored);
    let seq_changed: usize = ws.iter().map(|w| w.seq_changed).sum();
    let refused: Vec<&String> = ws.iter().flat_map(|w| &w.refused).collect();
    let not_once = ws
        .iter()
        .flat_map(|w| &w.ops)
        .filter(|o| stored.get(&o.id).map_or(0, Vec::len) != 1)
        .count();
    let pass = done
        && crash.lost == 0
        && crash.duplicated == 0
        && after.duplicated == 0
        && not_once == 0
        && seq_changed == 0
        && refused.is_empty()
        && acked_before > 100
        && sent_before > acked_before;
    verdict(
        &format!("(a) kill -9 of a single node under load [{store}]"),
        &crash,
        recover,
        &format!(
            "{writers} writers x {window} in flight; {sent_before} sent before the kill, \
             {} not acknowledged, {} refused for good; after restart and a retry of all {} ops: {} applied exactly once, \
             {seq_changed} acked ops answered with another seq",
            sent_before - acked_before,
            refused.len(),
            after.sent,
            after.sent - not_once
        ),
        pass,
    );
    assert!(pass, "see the verdict above; refused: {refused:?}");
}

#[tokio::test]
async fn a_kill9_single_node_sqlite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite:{}", dir.path().join("boardroom.db").display());
    kill9_single(&url, "sqlite").await;
}

#[tokio::test]
async fn a_kill9_single_node_postgres() {
    kill9_single(&fresh_pg_url().await, "postgres").await;
}
