//! The Postgres group commit in one call (`boardroom_group_commit`) and its statement-by-statement
//! twin: whole cards, fencing, and a batch for a board that does not exist.

use super::*;

/// An org with its owner, a worker, and two boards (jobs, kanban), none claimed yet.
pub(crate) async fn org_worker_two_boards(s: &DynStore) -> (Org, User, Member, Board, Board) {
    let (o, owner) = org(s, "A", "o@x.test").await;
    let w = member(s, o.id, "w@x.test", Role::Worker).await;
    let b1 = new_board(s, o.id, Template::Jobs).await;
    let b2 = new_board(s, o.id, Template::Kanban).await;
    (o, owner, w, b1, b2)
}

/// A batch of card upserts only (what Postgres commits in one call, `boardroom_group_commit`):
/// each card written whole (assignees and checklist replaced, comments added), events,
/// applied ops and notifications of live boards stored, nothing of a fenced board's.
pub(crate) async fn cards_only_batch_writes_whole_cards_and_fences(s: &DynStore) {
    let (o, owner, w, b1, b2) = org_worker_two_boards(s).await;
    let (e1, _) = s.claim_board(b1.id).await.unwrap().unwrap();
    let (e2, _) = s.claim_board(b2.id).await.unwrap().unwrap();
    let item = |t: &str| ChecklistItem {
        id: Uuid::now_v7(),
        title: t.into(),
        done: false,
        position: "V".into(),
    };
    let comment = |body: &str| Comment {
        id: Uuid::now_v7(),
        author_id: Some(owner.id),
        body: body.into(),
        mentions: vec![w.id],
        created_at: micros_now(),
    };
    let first = Card {
        assignees: vec![owner.id, w.id],
        checklist: vec![item("a"), item("b")],
        comments: vec![comment("c1")],
        labels: vec!["x".into()],
        customer_id: None,
        due_at: Some(micros_now()),
        priority: Some("high".into()),
        estimate_minutes: Some(30),
        ..card(&b1, 0, "v1")
    };
    let other = card(&b1, 1, "other");
    let note = Notification {
        id: Uuid::now_v7(),
        org_id: o.id,
        user_id: w.id,
        kind: "card.assigned".into(),
        board_id: Some(b1.id),
        card_id: Some(first.id),
        title: "n".into(),
        body: "b".into(),
        actor: serde_json::json!({ "kind": "user", "id": owner.id, "name": "o" }),
        created_at: micros_now(),
        read: false,
    };
    let ev: Vec<EventRecord> = (1..=3).map(|i| event(&b1, e1, i, "card.updated")).collect();
    let ops: Vec<AppliedOp> = ev
        .iter()
        .map(|e| AppliedOp {
            op_id: e.op_id,
            principal_id: Some(owner.id),
            epoch: e1,
            seq: e.seq,
            result_id: None,
        })
        .collect();
    let live = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: ev.clone(),
        ops: ops.clone(),
        changes: vec![
            RowChange::UpsertCard(Box::new(first.clone())),
            RowChange::UpsertCard(Box::new(other.clone())),
        ],
        notifications: vec![note.clone()],
    };
    let stale_ev = event(&b2, e2 - 1, 1, "card.created");
    let stale = BoardCommit {
        org_id: o.id,
        board_id: b2.id,
        epoch: e2 - 1,
        events: vec![stale_ev.clone()],
        ops: vec![AppliedOp {
            op_id: stale_ev.op_id,
            principal_id: None,
            epoch: e2 - 1,
            seq: 1,
            result_id: None,
        }],
        changes: vec![RowChange::UpsertCard(Box::new(card(&b2, 0, "stale")))],
        notifications: vec![Notification {
            id: Uuid::now_v7(),
            ..note.clone()
        }],
    };
    assert_eq!(s.commit_batch(&[live, stale]).await.unwrap(), vec![b2.id]);
    let mut cards = s.list_cards(b1.id).await.unwrap();
    cards.sort_by_key(|c| c.title.clone());
    assert_eq!(cards, vec![other.clone(), first.clone()]);
    assert_eq!(s.events_after(b1.id, 0, 10).await.unwrap(), ev);
    for op in &ops {
        assert_eq!(
            s.applied_op(b1.id, op.op_id).await.unwrap().as_ref(),
            Some(op)
        );
    }
    assert_eq!(s.get_board(b1.id).await.unwrap().unwrap().last_seq, 3);
    assert!(s.list_cards(b2.id).await.unwrap().is_empty());
    assert!(s.events_after(b2.id, 0, 10).await.unwrap().is_empty());
    assert!(s.applied_op(b2.id, stale_ev.op_id).await.unwrap().is_none());
    assert_eq!(s.get_board(b2.id).await.unwrap().unwrap().last_seq, 0);
    assert_eq!(
        s.list_notifications(w.id, false, None, 10).await.unwrap(),
        vec![note]
    );

    // Written again: an assignee and a checklist item removed, one item added, one comment
    // added (the first one stays).
    let second = Card {
        title: "v2".into(),
        version: 2,
        assignees: vec![w.id],
        checklist: vec![first.checklist[1].clone(), item("c")],
        comments: vec![first.comments[0].clone(), comment("c2")],
        ..first.clone()
    };
    let again = BoardCommit {
        org_id: o.id,
        board_id: b1.id,
        epoch: e1,
        events: vec![event(&b1, e1, 4, "card.updated")],
        changes: vec![RowChange::UpsertCard(Box::new(second.clone()))],
        ..Default::default()
    };
    assert!(s.commit_batch(&[again]).await.unwrap().is_empty());
    let stored = s
        .list_cards(b1.id)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.id == first.id)
        .unwrap();
    assert_eq!(stored, second);
}

/// Events and applied ops are written only for a board that exists with the writer's epoch:
/// the fence is what guards the event log (Postgres has no foreign key from it to `boards`
/// since migration 0008).
pub(crate) async fn a_batch_for_a_missing_board_writes_nothing(s: &DynStore) {
    let (o, _) = org(s, "A", "o@x.test").await;
    let b = new_board(s, o.id, Template::Kanban).await;
    let (epoch, _) = s.claim_board(b.id).await.unwrap().unwrap();
    let ghost = Board {
        id: Uuid::now_v7(),
        ..b.clone()
    };
    let ev = event(&ghost, epoch, 1, "card.created");
    let op = AppliedOp {
        op_id: ev.op_id,
        principal_id: None,
        epoch,
        seq: 1,
        result_id: None,
    };
    let commit = BoardCommit {
        org_id: o.id,
        board_id: ghost.id,
        epoch,
        events: vec![ev],
        ops: vec![op.clone()],
        ..Default::default()
    };
    let real = BoardCommit {
        org_id: o.id,
        board_id: b.id,
        epoch,
        events: vec![event(&b, epoch, 1, "card.created")],
        ..Default::default()
    };
    assert_eq!(
        s.commit_batch(&[commit, real]).await.unwrap(),
        vec![ghost.id]
    );
    assert!(s.events_after(ghost.id, 0, 10).await.unwrap().is_empty());
    assert!(s.applied_op(ghost.id, op.op_id).await.unwrap().is_none());
    assert_eq!(s.events_after(b.id, 0, 10).await.unwrap().len(), 1);
}
