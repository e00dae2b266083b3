//! (b) `kill -9` of a board's owner in a three-node cluster under load: a writer on another
//! node keeps sending ops (retrying refused ones with their `op_id`); nothing acknowledged is
//! lost, nothing applied twice, and the board is served again (an op first sent after the
//! kill acknowledged, so committed by the new owner) within about the lease. The `[cluster]`
//! timings are the defaults of `config.toml` (lease 3 s).

use crate::common::*;
use crate::support::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn b_kill9_of_the_owner_in_a_three_node_cluster() {
    let db = fresh_pg_url().await;
    let mut nodes = start_cluster(&db, &redis_url(), 3, &[]).await;
    let org = new_org(&nodes[1], "Fault b").await;
    let (board, col) = board(&org).await;
    let token = org.owner.token.clone().expect("token");
    // n1 takes the board.
    let _owner_watch = own_board(&nodes[0], &token, board).await;
    assert_eq!(metric(&nodes[0], "boardroom_leases_held").await, 1.0);

    let warmup = Duration::from_millis(pick(2_000, 8_000));
    let after = Duration::from_millis(pick(4_000, 10_000));
    let every = Duration::from_millis(20);
    let grace = Duration::from_secs(60);
    let at = Timeline::start(warmup, Duration::ZERO, after, grace);
    let w2 = creator_on(&nodes[1], &token, board, col).await;
    let w3 = creator_on(&nodes[2], &token, board, col).await;
    let t2 = at.drive(w2, Pace::Every(every));
    let t3 = at.drive(w3, Pace::Every(every * 2));
    at.until_fault().await;
    nodes[0].kill9();
    let killed = Instant::now();
    let w2 = t2.await.expect("writer on n2");
    let w3 = t3.await.expect("writer on n3");
    let all_done = w2.all_done() && w3.all_done();

    // Serving again: the first `ok` of an op first sent after the kill.
    let recover = recovered(&[&w2, &w3], killed);
    let stored = events_by_op(&db, board).await;
    let c = count(&[&w2, &w3], &stored);
    let new_owner = if metric(&nodes[1], "boardroom_leases_held").await == 1.0 {
        "n2"
    } else if metric(&nodes[2], "boardroom_leases_held").await == 1.0 {
        "n3"
    } else {
        "?"
    };
    let refused: Vec<&String> = w2.refused.iter().chain(&w3.refused).collect();
    let pass = all_done
        && c.lost == 0
        && c.duplicated == 0
        && c.unacked_absent == 0
        && refused.is_empty()
        && recover.is_some_and(|d| d < Duration::from_secs(30));
    verdict(
        "(b) kill -9 of the owner, 3-node cluster",
        &c,
        recover,
        &format!(
            "{} ops sent through n2 and n3, {} unavailable answers (retried, {} without \
             retry_after_ms), new owner {new_owner}; served again within 3 s: {}",
            c.sent,
            w2.unavailable + w3.unavailable,
            w2.unavailable_without_retry_after + w3.unavailable_without_retry_after,
            if recover.is_some_and(|d| d <= Duration::from_secs(3)) {
                "yes"
            } else {
                "no"
            }
        ),
        pass,
    );
    assert!(pass, "see the verdict above; refused: {refused:?}");
}
