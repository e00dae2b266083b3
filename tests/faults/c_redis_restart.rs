//! (c) Redis restarted mid-run (a throwaway `redis-server` of this test, killed and started
//! again empty): ops on the board's owner keep being acknowledged while Redis is down, ops
//! forwarded from the other node resume once it is back, nothing acknowledged is lost or
//! applied twice, and a subscriber on the other node ends up with every event (its gap
//! repaired from the owner) or is told to `resync`.

use crate::common::*;
use crate::support::*;
use boardroom_protocol::Snapshot;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[tokio::test]
async fn c_redis_restarted_mid_run() {
    let db = fresh_pg_url().await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let nodes = start_cluster(&db, &redis.url(), 2, &SHORT_LEASE).await;
    let org = new_org(&nodes[0], "Fault c").await;
    let (board, col) = board(&org).await;
    let token = org.owner.token.clone().expect("token");
    let _owner_watch = own_board(&nodes[0], &token, board).await;
    let stop = Arc::new(AtomicBool::new(false));
    let watch = watch_on(&nodes[1], &token, board, stop.clone()).await;

    let warmup = Duration::from_millis(pick(1_500, 5_000));
    let outage = Duration::from_millis(pick(3_000, 10_000));
    let after = Duration::from_millis(pick(3_000, 8_000));
    let at = Timeline::start(warmup, outage, after, Duration::from_secs(60));
    let local = creator_on(&nodes[0], &token, board, col).await;
    let forwarded = creator_on(&nodes[1], &token, board, col).await;
    let tl = at.drive(local, every_ms(20));
    let tf = at.drive(forwarded, every_ms(50));
    at.until_fault().await;
    redis.kill();
    let killed = Instant::now();
    at.until_repair().await;
    let _redis = OwnRedis::start(port);
    let back = Instant::now();
    let local = tl.await.expect("local writer");
    let forwarded = tf.await.expect("forwarded writer");

    // Local traffic during the outage: ops first sent while Redis was down, acked in it.
    let local_in_outage = local
        .ops
        .iter()
        .filter(|o| o.first_sent > killed && o.acked.is_some_and(|a| a.0 < back))
        .count();
    // Back: the first forwarded op first sent after Redis returned is acknowledged.
    let recover = recovered(&[&forwarded], back);

    // The remote subscriber: every event, or a resync and a snapshot with every card.
    let total = local.ops.len() + forwarded.ops.len();
    // Give the watcher time to read what is still on its way, then stop it.
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::SeqCst);
    let seen = watch.await.expect("watcher");
    let gaps_repaired = metric(&nodes[1], "boardroom_gaps_repaired_total").await;
    let seqs: Vec<u64> = seen.events.keys().map(|k| k.1).collect();
    let contiguous = seqs.windows(2).all(|w| w[1] == w[0] + 1);
    let subscriber_ok = if seen.resyncs > 0 {
        let mut again = welcomed(&nodes[1].base, &token).await;
        let ok = subscribe(&mut again, board).await.expect("subscribe again");
        matches!(ok.snapshot, Some(Snapshot::Board(ref s)) if s.cards.len() == total)
    } else {
        seen.events.len() == total && contiguous
    };
    let stored = events_by_op(&db, board).await;
    let c = count(&[&local, &forwarded], &stored);
    let refused: Vec<&String> = local.refused.iter().chain(&forwarded.refused).collect();
    let pass = local.all_done()
        && forwarded.all_done()
        && c.lost == 0
        && c.duplicated == 0
        && local_in_outage > 0
        && subscriber_ok
        && seen.duplicates == 0
        && recover.is_some()
        && refused.is_empty();
    verdict(
        "(c) Redis restarted mid-run, 2 nodes",
        &c,
        recover,
        &format!(
            "Redis down {} ms; {local_in_outage} ops on the owner acked while it was down; remote \
             subscriber: {} of {total} events, {} resyncs, {} duplicates, gaps repaired {gaps_repaired}",
            outage.as_millis(),
            seen.events.len(),
            seen.resyncs,
            seen.duplicates
        ),
        pass,
    );
    assert!(pass, "see the verdict above; refused: {refused:?}");
}
