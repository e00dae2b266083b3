//! Migrations, the event log and group commit, notifications, and bulk inserts.

use super::*;

pub(crate) async fn migrate_is_idempotent(s: &DynStore) {
    s.migrate().await.unwrap();
    s.ping().await.unwrap();
    let (o, _) = org(s, "A", "o@x.test").await;
    s.migrate().await.unwrap();
    assert!(s.get_org(o.id).await.unwrap().is_some());
}

pub(crate) fn event(b: &Board, epoch: i64, seq: i64, kind: &str) -> EventRecord {
    EventRecord {
        org_id: b.org_id,
        board_id: b.id,
        epoch,
        seq,
        op_id: Uuid::now_v7(),
        kind: kind.into(),
        data: serde_json::json!({ "n": seq }).into(),
        actor: serde_json::json!({ "kind": "user", "id": Uuid::nil(), "name": "x" }).into(),
        at: micros_now(),
        ip: None,
    }
}

/// A cluster claims a board with a fencing token from Redis as floor: the epoch rises to the
/// floor when the floor is ahead, and by one when the database is ahead (Redis lost its
/// counter); either way it only ever rises.
pub(crate) async fn claims_raise_the_epoch_to_at_least_the_floor(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    assert_eq!(s.claim_board_at_least(b.id, 7).await.unwrap(), Some((7, 0)));
    assert_eq!(s.claim_board_at_least(b.id, 1).await.unwrap(), Some((8, 0)));
    assert_eq!(s.claim_board(b.id).await.unwrap(), Some((9, 0)));
    assert_eq!(
        s.claim_board_at_least(b.id, 9).await.unwrap(),
        Some((10, 0))
    );
    assert!(s
        .claim_board_at_least(Uuid::now_v7(), 3)
        .await
        .unwrap()
        .is_none());
}

pub(crate) async fn group_commit_coalesces_and_fences(s: &DynStore) {
    let (o, _, w, b1, b2) = org_worker_two_boards(s).await;
    let (e1, seq1) = s.claim_board(b1.id).await.unwrap().unwrap();
    assert_eq!((e1, seq1), (1, 0));
    let (e2, _) = s.claim_board(b2.id).await.unwrap().unwrap();
    assert!(s.claim_board(Uuid::now_v7()).await.unwrap().is_none());

    // Board 1: a new column, a card created then changed twice in the same batch.
    let col = Column {
        id: Uuid::now_v7(),
        name: "Waiting".into(),
        position: "z".into(),
        is_done: false,
        color: Some("#00aaff".into()),
    };
    let c0 = Card {
        ..card(&b1, 0, "v1")
    };
    let c1 = Card {
        title: "v2".into(),
        version: 2,
        column_id: col.id,
        assignees: vec![w.id],
        ..c0.clone()
    };
    let c2 = Card {
        title: "v3".into(),
        version: 3,
        priority: Some("low".into()),
        estimate_minutes: Some(45),
        checklist: vec![ChecklistItem {
            id: Uuid::now_v7(),
            title: "t".into(),
            done: false,
            position: "V".into(),
        }],
        ..c1.clone()
    };
    let ev1: Vec<EventRecord> = (1..=4).map(|i| event(&b1, e1, i, "card.updated")).collect();
    let op = AppliedOp {
        op_id: ev1[0].op_id,
        principal_id: Some(Uuid::now_v7()),
        epoch: e1,
        seq: 1,
        result_id: Some(c0.id),
    };
    let commit1 = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: ev1.clone(),
        ops: vec![op.clone()],
        changes: vec![
            RowChange::UpsertCard(Box::new(c0.clone())),
            RowChange::UpsertCard(Box::new(c1)),
            RowChange::UpsertColumn {
                org_id: o.id,
                board_id: b1.id,
                column: col.clone(),
            },
            RowChange::UpsertCard(Box::new(c2.clone())),
        ],
        notifications: vec![],
    };
    // Board 2 is committed with a stale epoch: fenced, nothing of it written.
    let stale = BoardCommit {
        org_id: o.id,
        board_id: b2.id,
        epoch: e2 - 1,
        events: vec![event(&b2, e2 - 1, 1, "card.created")],
        changes: vec![RowChange::UpsertCard(Box::new(card(&b2, 0, "stale")))],
        ..Default::default()
    };
    let fenced = s.commit_batch(&[commit1, stale]).await.unwrap();
    assert_eq!(fenced, vec![b2.id]);
    assert!(s.list_cards(b2.id).await.unwrap().is_empty());
    assert!(s.events_after(b2.id, 0, 10).await.unwrap().is_empty());

    let cards = s.list_cards(b1.id).await.unwrap();
    assert_eq!(cards.len(), 1);
    assert_eq!(cards[0], c2, "the last version of the card wins");
    let board = s.get_board(b1.id).await.unwrap().unwrap();
    assert_eq!(board.last_seq, 4);
    assert!(board.columns.iter().any(|c| c == &col));
    assert_eq!(s.events_after(b1.id, 0, 10).await.unwrap(), ev1);
    assert_eq!(
        s.events_after(b1.id, 2, 1).await.unwrap(),
        vec![ev1[2].clone()]
    );
    assert_eq!(s.applied_op(b1.id, op.op_id).await.unwrap(), Some(op));
    assert!(s.applied_op(b1.id, Uuid::now_v7()).await.unwrap().is_none());

    // A column deleted later disappears from the board but stays for history.
    let del = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: vec![event(&b1, e1, 5, "column.deleted")],
        changes: vec![RowChange::DeleteColumn {
            board_id: b1.id,
            column_id: b1.columns[3].id,
        }],
        ..Default::default()
    };
    assert!(s.commit_batch(&[del]).await.unwrap().is_empty());
    assert_eq!(s.get_board(b1.id).await.unwrap().unwrap().columns.len(), 4);

    // A new owner raises the epoch; the old one is fenced from then on.
    let (e1b, last) = s.claim_board(b1.id).await.unwrap().unwrap();
    assert_eq!((e1b, last), (e1 + 1, 5));
    let late = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: vec![event(&b1, e1, 6, "x")],
        ..Default::default()
    };
    assert_eq!(s.commit_batch(&[late]).await.unwrap(), vec![b1.id]);
    assert_eq!(s.events_after(b1.id, 5, 10).await.unwrap(), vec![]);
}

pub(crate) async fn notifications_and_unread_counts(s: &DynStore) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let w = member(s, o.id, "w@x.test", Role::Worker).await;
    let b = new_board(s, o.id, Template::Jobs).await;
    let (epoch, _) = s.claim_board(b.id).await.unwrap().unwrap();
    let n = |i: i64| Notification {
        id: Uuid::now_v7(),
        org_id: o.id,
        user_id: w.id,
        kind: "card.assigned".into(),
        board_id: Some(b.id),
        card_id: None,
        title: format!("n{i}"),
        body: "b".into(),
        actor: serde_json::json!({ "kind": "user", "id": owner.id, "name": "o" }),
        created_at: micros_now() + chrono::Duration::milliseconds(i),
        read: false,
    };
    let ns: Vec<Notification> = (0..3).map(n).collect();
    let commit = BoardCommit {
        org_id: o.id,
        board_id: b.id,
        epoch,
        notifications: ns.clone(),
        ..Default::default()
    };
    s.commit_batch(&[commit]).await.unwrap();
    assert_eq!(s.unread_count(w.id).await.unwrap(), 3);
    assert_eq!(s.unread_count(owner.id).await.unwrap(), 0);
    let listed = s.list_notifications(w.id, false, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(),
        ["n2", "n1", "n0"]
    );
    assert_eq!(listed[2], ns[0]);
    // Pages: after n2 come n1 and n0; the count says 3 on every page.
    let cursor = (listed[0].created_at, listed[0].id);
    let next = s
        .list_notifications(w.id, false, Some(cursor), 10)
        .await
        .unwrap();
    assert_eq!(
        next.iter().map(|x| x.title.as_str()).collect::<Vec<_>>(),
        ["n1", "n0"]
    );
    let last = s
        .list_notifications(w.id, false, Some((next[1].created_at, next[1].id)), 10)
        .await
        .unwrap();
    assert!(last.is_empty());
    assert_eq!(s.count_notifications(w.id, false).await.unwrap(), 3);
    assert_eq!(s.count_notifications(w.id, true).await.unwrap(), 3);
    assert_eq!(
        s.mark_read(w.id, Some(&[ns[0].id]), micros_now())
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.mark_read(owner.id, Some(&[ns[1].id]), micros_now())
            .await
            .unwrap(),
        0,
        "not theirs"
    );
    assert_eq!(s.unread_count(w.id).await.unwrap(), 2);
    assert_eq!(
        s.list_notifications(w.id, true, None, 10)
            .await
            .unwrap()
            .len(),
        2
    );
    assert_eq!(s.mark_read(w.id, None, micros_now()).await.unwrap(), 0);
    assert!(s
        .list_notifications(w.id, false, None, 10)
        .await
        .unwrap()
        .iter()
        .all(|x| x.read));
}

/// More rows than one multi-row statement takes (`ROWS_PER_STATEMENT`, 500): every one is
/// written, on the request path (`create_card`) and in the group commit.
pub(crate) async fn rows_past_one_statement_are_all_written(s: &DynStore) {
    const N: i64 = 1_201;
    let (o, _) = org(s, "A", "o@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    let items = |n: i64| -> Vec<ChecklistItem> {
        (0..n)
            .map(|i| ChecklistItem {
                id: Uuid::now_v7(),
                title: format!("item {i}"),
                done: i % 2 == 0,
                position: format!("{i:06}"),
            })
            .collect()
    };
    let checklist = items(N);
    let made = Card {
        checklist: checklist.clone(),
        ..card(&b, 0, "made")
    };
    s.create_card(&made).await.unwrap();
    let (epoch, _) = s.claim_board(b.id).await.unwrap().unwrap();
    let events: Vec<EventRecord> = (1..=N)
        .map(|i| event(&b, epoch, i, "card.updated"))
        .collect();
    let ops: Vec<AppliedOp> = events
        .iter()
        .map(|e| AppliedOp {
            op_id: e.op_id,
            principal_id: None,
            epoch,
            seq: e.seq,
            result_id: None,
        })
        .collect();
    let committed = Card {
        checklist: items(700),
        ..card(&b, 1, "committed")
    };
    let commit = BoardCommit {
        org_id: o.id,
        board_id: b.id,
        epoch,
        events,
        ops,
        changes: vec![RowChange::UpsertCard(Box::new(committed.clone()))],
        notifications: vec![],
    };
    assert!(s.commit_batch(&[commit]).await.unwrap().is_empty());
    assert_eq!(
        s.events_after(b.id, 0, 5_000).await.unwrap().len(),
        N as usize
    );
    assert_eq!(
        s.recent_applied_ops(b.id, 5_000).await.unwrap().len(),
        N as usize
    );
    let cards = s.list_cards(b.id).await.unwrap();
    let by_id = |id: Uuid| cards.iter().find(|c| c.id == id).expect("card written");
    assert_eq!(by_id(made.id).checklist, checklist);
    assert_eq!(by_id(committed.id).checklist, committed.checklist);
}
