//! The write-behind journal against real stores: group commits, fencing, a poison entry that
//! cannot block the rest, and back-pressure while the database is stuck.

mod common;

use boardroom::realtime::convert::card_to_row;
use boardroom::store::*;
use boardroom::templates::default_columns;
use boardroom::writebehind::{CommitOutcome, Journal, SubmitError};
use sqlx::Connection;
use std::time::Duration;
use uuid::Uuid;

/// A migrated store at `url` with an org and two kanban boards, both claimed by this process:
/// each board with the epoch its commits carry.
async fn setup(url: &str) -> (DynStore, Org, (Board, i64), (Board, i64)) {
    let s = open(url, 4).await.unwrap();
    s.migrate().await.unwrap();
    let (o, _) = s
        .create_org_with_owner(
            "A",
            NewUser {
                email: "o@x.test".into(),
                name: "o".into(),
                password_hash: "h".into(),
            },
        )
        .await
        .unwrap();
    let mk = |name: &str| NewBoard {
        org_id: o.id,
        name: name.into(),
        template: Template::Kanban,
        columns: default_columns(Template::Kanban),
    };
    let b1 = s.create_board(mk("one")).await.unwrap();
    let b2 = s.create_board(mk("two")).await.unwrap();
    let (e1, _) = s.claim_board(b1.id).await.unwrap().unwrap();
    let (e2, _) = s.claim_board(b2.id).await.unwrap().unwrap();
    (s, o, (b1, e1), (b2, e2))
}

fn commit(b: &Board, epoch: i64, seq: i64) -> BoardCommit {
    BoardCommit {
        org_id: b.org_id,
        board_id: b.id,
        epoch,
        events: vec![EventRecord {
            org_id: b.org_id,
            board_id: b.id,
            epoch,
            seq,
            op_id: Uuid::now_v7(),
            kind: "card.created".into(),
            data: serde_json::json!({}).into(),
            ip: None,
            actor: serde_json::json!({}).into(),
            at: chrono::Utc::now(),
        }],
        ..Default::default()
    }
}

#[tokio::test]
async fn many_entries_group_into_few_commits_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _, (b1, e1), (b2, e2)) =
        setup(&format!("sqlite:{}", dir.path().join("w.db").display())).await;
    let (journal, flusher) = Journal::start(s.clone(), 1000, 64);
    let mut waits = Vec::new();
    for seq in 1..=200 {
        waits.push(journal.submit(commit(&b1, e1, seq)).unwrap());
        waits.push(journal.submit(commit(&b2, e2, seq)).unwrap());
    }
    for w in waits {
        assert_eq!(w.await.unwrap(), CommitOutcome::Committed);
    }
    let batches = journal
        .stats
        .batches
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(
        batches < 400,
        "400 entries must share commits, took {batches}"
    );
    assert_eq!(s.events_after(b1.id, 0, 1000).await.unwrap().len(), 200);
    assert_eq!(s.get_board(b2.id).await.unwrap().unwrap().last_seq, 200);
    drop(journal);
    flusher.await.unwrap();
}

#[tokio::test]
async fn fenced_and_poisoned_entries_do_not_block_the_rest() {
    let url = common::fresh_pg_url().await;
    let (s, o, (b1, e1), (b2, e2)) = setup(&url).await;
    let (journal, flusher) = Journal::start(s.clone(), 100, 64);
    let good = journal.submit(commit(&b1, e1, 1)).unwrap();
    let stale = journal.submit(commit(&b2, e2 - 1, 1)).unwrap();
    // A card pointing at a column that does not exist: the database refuses it for good.
    let mut bad = commit(&b1, e1, 2);
    let orphan = boardroom_protocol::Card::new(Uuid::now_v7(), Uuid::now_v7(), "V", "x");
    bad.changes.push(RowChange::UpsertCard(Box::new(card_to_row(
        o.id, b1.id, &orphan,
    ))));
    let poisoned = journal.submit(bad).unwrap();
    let after = journal.submit(commit(&b1, e1, 3)).unwrap();
    assert_eq!(good.await.unwrap(), CommitOutcome::Committed);
    assert_eq!(stale.await.unwrap(), CommitOutcome::Fenced);
    assert!(matches!(
        poisoned.await.unwrap(),
        CommitOutcome::Rejected(_)
    ));
    assert_eq!(after.await.unwrap(), CommitOutcome::Committed);
    let seqs: Vec<i64> = s
        .events_after(b1.id, 0, 10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, vec![1, 3]);
    drop(journal);
    flusher.await.unwrap();
}

#[tokio::test]
async fn a_stuck_database_fills_the_journal_and_nothing_is_lost() {
    let url = common::fresh_pg_url().await;
    let (s, _, (b1, e1), _) = setup(&url).await;
    // Another session holds the boards table: every commit waits, as with a stalled database.
    let stall = common::Stall::boards_table(&url).await;

    let capacity = 8;
    let (journal, flusher) = Journal::start(s.clone(), capacity, 4);
    let mut accepted = Vec::new();
    let mut seq = 0;
    let refused = loop {
        seq += 1;
        match journal.submit(commit(&b1, e1, seq)) {
            Ok(w) => accepted.push(w),
            Err(e) => break e,
        }
        assert!(seq < 100, "the journal never filled up");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(refused, SubmitError::Full);
    // One board: at most one batch (4) is in flight and one more is held back while it is,
    // the rest waits in the journal.
    assert!(
        accepted.len() <= capacity + 2 * 4,
        "accepted {}",
        accepted.len()
    );
    assert_eq!(journal.depth(), capacity);

    stall.release().await;
    for w in accepted.drain(..) {
        assert_eq!(w.await.unwrap(), CommitOutcome::Committed);
    }
    let stored = s.events_after(b1.id, 0, 1000).await.unwrap();
    assert_eq!(
        stored.len() as i64,
        seq - 1,
        "every accepted entry is durable"
    );
    drop(journal);
    flusher.await.unwrap();
}

/// SQLite's WAL is checkpointed by a background task, not inside a group commit: 100 commits
/// (far below SQLite's own 1 000-page auto-checkpoint) grow the log, a pause lets the task copy
/// it back, and the next 100 commits reuse the log from its start instead of growing it.
#[tokio::test]
async fn sqlite_wal_is_checkpointed_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("w.db");
    let (s, _, (b1, e1), _) = setup(&format!("sqlite:{}", db.display())).await;
    let wal = dir.path().join("w.db-wal");
    // Let any checkpoint of the set-up's writes happen first.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let mut seq = 0;
    let mut write = || {
        seq += 1;
        commit(&b1, e1, seq)
    };
    for _ in 0..100 {
        s.commit_batch(&[write()]).await.unwrap();
    }
    let first = std::fs::metadata(&wal).unwrap().len();
    tokio::time::sleep(Duration::from_millis(600)).await;
    for _ in 0..100 {
        s.commit_batch(&[write()]).await.unwrap();
    }
    let second = std::fs::metadata(&wal).unwrap().len();
    assert!(
        second < first + first / 2,
        "the WAL grew from {first} to {second} bytes: nothing checkpointed it between the rounds"
    );
    assert_eq!(s.events_after(b1.id, 0, 1000).await.unwrap().len(), 200);
}

/// A trigger that makes the commit of chosen events fail while a row of `fail_switch` says
/// so: the real database refusing a real statement. `code` is the SQLSTATE raised ('40001' is
/// retried by the journal, 'P0001' is refused for good).
async fn fail_events_of(url: &str, board: Uuid, seq: i64, code: &str) -> sqlx::PgConnection {
    let mut c = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::raw_sql(&format!(
        "CREATE TABLE fail_switch (on_ bool);
         INSERT INTO fail_switch VALUES (true);
         CREATE FUNCTION fail_event() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           IF NEW.board_id = '{board}' AND NEW.seq = {seq} AND EXISTS (SELECT 1 FROM fail_switch) THEN
             RAISE EXCEPTION 'injected failure' USING ERRCODE = '{code}';
           END IF;
           RETURN NEW;
         END $$;
         CREATE TRIGGER fail_event BEFORE INSERT ON board_events FOR EACH ROW EXECUTE FUNCTION fail_event();"
    ))
    .execute(&mut c)
    .await
    .unwrap();
    c
}

async fn stored_seqs(s: &DynStore, board: Uuid) -> Vec<i64> {
    s.events_after(board, 0, 1000)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect()
}

/// Pipelining: while one board's commit keeps failing (and is retried), the other boards'
/// batches commit and are answered; the failing board's later entry waits for it instead of
/// committing before it (its rows would be written out of order, and its watermark would pass
/// an op that is not durable); nothing is answered `Committed` before it is in the store.
#[tokio::test]
async fn a_retried_commit_holds_back_its_board_only_on_postgres() {
    let url = common::fresh_pg_url().await;
    let (s, _, (b1, e1), (b2, e2)) = setup(&url).await;
    let mut admin = fail_events_of(&url, b1.id, 1, "40001").await;
    let (journal, flusher) = Journal::start_pipelined(s.clone(), 100, 64, 2);
    let mut first = journal.submit(commit(&b1, e1, 1)).unwrap();
    // Let the first commit start (and fail) so the next entries gather while it is retried.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut second = journal.submit(commit(&b1, e1, 2)).unwrap();
    let mut others = Vec::new();
    for seq in 1..=20 {
        others.push(journal.submit(commit(&b2, e2, seq)).unwrap());
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for w in others {
        let outcome = tokio::time::timeout(Duration::from_secs(10), w)
            .await
            .expect("another board's commit waited for the failing one")
            .unwrap();
        assert_eq!(outcome, CommitOutcome::Committed);
    }
    assert_eq!(stored_seqs(&s, b2.id).await, (1..=20).collect::<Vec<_>>());
    // Board one: nothing answered, nothing stored, not even its second op (which alone would
    // commit fine): it may not overtake the first.
    assert!(
        first.try_recv().is_err(),
        "an op answered before its commit"
    );
    assert!(
        second.try_recv().is_err(),
        "an op answered before its commit"
    );
    assert_eq!(stored_seqs(&s, b1.id).await, Vec::<i64>::new());
    let stats = &journal.stats;
    assert!(stats.retries.load(std::sync::atomic::Ordering::Relaxed) > 0);
    assert!(
        stats.overlapped.load(std::sync::atomic::Ordering::Relaxed) > 0,
        "no batch was committed while another was in flight"
    );

    sqlx::query("DELETE FROM fail_switch")
        .execute(&mut admin)
        .await
        .unwrap();
    assert_eq!(first.await.unwrap(), CommitOutcome::Committed);
    assert_eq!(second.await.unwrap(), CommitOutcome::Committed);
    assert_eq!(stored_seqs(&s, b1.id).await, vec![1, 2]);
    assert_eq!(s.get_board(b1.id).await.unwrap().unwrap().last_seq, 2);
    journal.close();
    flusher.await.unwrap();
}

/// A commit refused for good while the next batch is gathered: its entry is `Rejected` (and
/// not stored), the same board's next entry is only committed after that verdict, and other
/// boards are not held up. As without pipelining, the entries after a refused one are still
/// committed (the board actor stops on `Rejected` and reloads from the store).
#[tokio::test]
async fn a_refused_commit_settles_before_its_board_goes_on_on_postgres() {
    let url = common::fresh_pg_url().await;
    let (s, _, (b1, e1), (b2, e2)) = setup(&url).await;
    let _admin = fail_events_of(&url, b1.id, 2, "P0001").await;
    let (journal, flusher) = Journal::start_pipelined(s.clone(), 100, 64, 2);
    let mut waits = Vec::new();
    for seq in 1..=4 {
        waits.push((b1.id, seq, journal.submit(commit(&b1, e1, seq)).unwrap()));
        waits.push((b2.id, seq, journal.submit(commit(&b2, e2, seq)).unwrap()));
    }
    let mut committed: Vec<(Uuid, i64)> = Vec::new();
    for (board, seq, w) in waits {
        let outcome = w.await.unwrap();
        if board == b1.id && seq == 2 {
            assert!(matches!(outcome, CommitOutcome::Rejected(_)), "{outcome:?}");
        } else {
            assert_eq!(outcome, CommitOutcome::Committed, "board {board} seq {seq}");
            committed.push((board, seq));
        }
        // Everything answered `Committed` so far is in the store already.
        for (b, q) in &committed {
            assert!(
                stored_seqs(&s, *b).await.contains(q),
                "{b} {q} acked, not stored"
            );
        }
    }
    assert_eq!(stored_seqs(&s, b1.id).await, vec![1, 3, 4]);
    assert_eq!(stored_seqs(&s, b2.id).await, vec![1, 2, 3, 4]);
    journal.close();
    flusher.await.unwrap();
}
