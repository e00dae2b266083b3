//! (e) The owner SIGSTOPped past its lease: another node takes the board over; when the old
//! owner resumes (SIGCONT) with ops still queued on its sockets and batches still in its
//! journal, the epoch fence refuses its writes: nothing is in the store with the old epoch
//! for an op first sent after the pause began, events only go forward in (epoch, seq), and
//! nothing acknowledged (by either node) is lost or applied twice. (An `ok` carries no epoch;
//! the epoch an op was written with is read from the store.)

use crate::common::*;
use crate::support::*;
use std::time::{Duration, Instant};

#[tokio::test]
async fn e_paused_owner_is_fenced() {
    let db = fresh_pg_url().await;
    let nodes = start_cluster(&db, &redis_url(), 2, &SHORT_LEASE).await;
    let org = new_org(&nodes[0], "Fault e").await;
    let (board, col) = board(&org).await;
    let token = org.owner.token.clone().expect("token");
    let _owner_watch = own_board(&nodes[0], &token, board).await;
    assert_eq!(metric(&nodes[0], "boardroom_leases_held").await, 1.0);

    let warmup = Duration::from_millis(pick(1_500, 5_000));
    // Paused this long: the lease (1.5 s here) lapses and n2 takes over well within it.
    let paused = Duration::from_millis(pick(5_000, 10_000));
    let after = Duration::from_millis(pick(3_000, 8_000));
    let at = Timeline::start(warmup, paused, after, Duration::from_secs(60));
    // One writer on the owner (its ops queue up on the paused process's socket), one on n2.
    let on_old = creator_on(&nodes[0], &token, board, col).await;
    let on_new = creator_on(&nodes[1], &token, board, col).await;
    let t_old = at.drive(on_old, every_ms(20));
    let t_new = at.drive(on_new, every_ms(25));
    // And a burst of updates on n1, so that its group commits run back to back and the pause
    // most likely catches one with its transaction open (holding the board row's lock).
    let cards = cards(&org, board, col, 4).await;
    let burst = Writer::new(
        welcomed(&nodes[0].base, &token).await,
        card_update(board, cards),
    );
    let t_burst = at.drive(burst, Pace::Window(32));
    at.until_fault().await;
    nodes[0].signal("STOP");
    let stopped = Instant::now();
    at.until_repair().await;
    let took_over = metric(&nodes[1], "boardroom_leases_held").await == 1.0;
    nodes[0].signal("CONT");
    let resumed = Instant::now();
    let mut on_old = t_old.await.expect("writer on n1");
    let on_new = t_new.await.expect("writer on n2");
    let mut burst = t_burst.await.expect("burst on n1");
    if burst.ws.is_none() && !burst.all_done() {
        burst.reconnect(welcomed(&nodes[1].base, &token).await);
        let end = Instant::now() + Duration::from_secs(60);
        burst.drive(Pace::Window(32), Instant::now(), end).await;
    }
    // A client of the old owner whose connection died resends its ops through n2.
    if on_old.ws.is_none() && !on_old.all_done() {
        on_old.reconnect(welcomed(&nodes[1].base, &token).await);
        on_old
            .drive(
                Pace::Window(16),
                Instant::now(),
                Instant::now() + Duration::from_secs(60),
            )
            .await;
    }

    // Op acks carry the seq only: the epoch each op was written with comes from the store.
    let stored = events_by_op(&db, board).await;
    let epoch_of = |id: &uuid::Uuid| stored.get(id).and_then(|e| e.iter().copied().max());
    let old_epoch = on_old
        .ops
        .iter()
        .filter(|o| o.acked.is_some_and(|a| a.0 < stopped))
        .filter_map(|o| epoch_of(&o.id))
        .max()
        .expect("ops acknowledged by n1 before the pause");
    // Taken over: the first ok of an op written with a newer epoch.
    let takeover = [&on_old, &on_new, &burst]
        .iter()
        .flat_map(|w| &w.ops)
        .filter(|o| epoch_of(&o.id).is_some_and(|e| e > old_epoch))
        .filter_map(|o| o.acked.map(|a| a.0))
        .min();
    let recover = takeover.map(|t| t.duration_since(stopped));
    // The fence: an op first sent after the pause began in the store with the old epoch.
    let late_old_writes = [&on_old, &on_new, &burst]
        .iter()
        .flat_map(|w| &w.ops)
        .filter(|o| o.first_sent > stopped)
        .filter(|o| stored.get(&o.id).is_some_and(|e| e.contains(&old_epoch)))
        .count();
    // Oks that arrived after the resume for ops written with the old epoch: ops the owner had
    // committed before it was paused, answered late (allowed; counted for the record).
    let late_acks_old = [&on_old, &on_new, &burst]
        .iter()
        .flat_map(|w| &w.ops)
        .filter(|o| o.acked.is_some_and(|a| a.0 > resumed))
        .filter(|o| epoch_of(&o.id) == Some(old_epoch))
        .count();
    let inversions = epoch_inversions(&db, board).await;
    let c = count(&[&on_old, &on_new, &burst], &stored);
    let queued = on_old
        .ops
        .iter()
        .filter(|o| o.first_sent > stopped && o.first_sent < resumed)
        .count();
    let refused: Vec<&String> = [&on_old, &on_new, &burst]
        .iter()
        .flat_map(|w| &w.refused)
        .collect();
    let pass = took_over
        && on_old.all_done()
        && on_new.all_done()
        && burst.all_done()
        && c.lost == 0
        && c.duplicated == 0
        && late_old_writes == 0
        && inversions == 0
        && refused.is_empty();
    verdict(
        "(e) owner SIGSTOPped past its lease, then SIGCONT",
        &c,
        recover,
        &format!(
            "paused {} ms (lease 1.5 s), n2 took over: {took_over}; old epoch {old_epoch}; \
             {queued} ops queued on the paused owner; written with the old epoch after the pause \
             {late_old_writes}, late oks for ops written before the pause {late_acks_old}, \
             (epoch, seq) inversions {inversions}; resyncs on n1's client {}",
            paused.as_millis(),
            on_old.resyncs
        ),
        pass,
    );
    assert!(pass, "see the verdict above; refused: {refused:?}");
}
