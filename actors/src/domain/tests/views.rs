//! Filtered snapshots and per-subscriber delivery of events.

use super::*;
use crate::policy::CardFacts;
use boardroom_protocol::event::{CardData, CardHidden};

/// Who gets `ev` and how, one row a subscriber: the table reads as the rule under test, and
/// a failure names its row.
fn assert_deliveries(
    key: BoardKey,
    ev: &EventBody,
    before: Option<&CardFacts>,
    rows: &[(&Principal, Delivery)],
) {
    for (row, (p, want)) in rows.iter().enumerate() {
        assert_eq!(&deliver(p, key, ev, before), want, "row {row}");
    }
}

fn titles(s: &boardroom_protocol::BoardSnapshot) -> Vec<String> {
    s.cards.iter().map(|c| c.title.clone()).collect()
}

#[test]
fn snapshots_per_role() {
    let fx = Fx::new();
    let full = fx.board.snapshot();
    assert_eq!(titles(&full), ["Fix the boiler", "Paint the fence"]);
    assert_eq!(full.columns.len(), 3);
    for p in [&fx.owner, &fx.admin, &fx.member] {
        assert_eq!(fx.board.snapshot_for(p).as_ref(), Some(&full));
    }
    let w1 = fx
        .board
        .snapshot_for(&fx.worker1)
        .expect("worker reads the board");
    assert_eq!(titles(&w1), ["Fix the boiler"]);
    assert_eq!(w1.cards[0].labels, ["urgent"], "workers see labels");
    assert_eq!(w1.cards[0].comments.len(), 1, "and comments");
    assert_eq!(w1.columns.len(), 3, "workers see every status");
    let w2 = fx
        .board
        .snapshot_for(&fx.worker2)
        .expect("worker reads the board");
    assert!(w2.cards.is_empty());
    let c1 = fx
        .board
        .snapshot_for(&fx.customer1)
        .expect("customer reads the board");
    assert_eq!(titles(&c1), ["Fix the boiler"]);
    assert!(c1.cards[0].labels.is_empty() && c1.cards[0].comments.is_empty());
    assert_eq!(
        c1.cards[0].checklist.len(),
        1,
        "the job's tasks are not private"
    );
    let s = fx
        .board
        .snapshot_for(&fx.share(fx.job))
        .expect("share sees its card");
    assert_eq!(titles(&s), ["Fix the boiler"]);
    assert_eq!(s.columns.len(), 1, "only the card's own column");
    assert!(s.cards[0].comments.is_empty() && s.cards[0].labels.is_empty());
    assert!(fx.board.snapshot_for(&fx.share(uid(4444))).is_none());
    assert!(fx.board.snapshot_for(&fx.stranger()).is_none());
    let scoped_elsewhere = fx.api_key(Role::Member, Some(vec![fx.other_board]));
    assert!(fx.board.snapshot_for(&scoped_elsewhere).is_none());
    let api_worker = fx.api_key(Role::Worker, None);
    assert!(fx
        .board
        .snapshot_for(&api_worker)
        .is_some_and(|s| s.cards.is_empty()));
}

#[test]
fn card_snapshots_per_role() {
    let fx = Fx::new();
    let s = fx.board.card_snapshot(fx.job).expect("exists");
    assert_eq!(s.column.name, "To do");
    assert_eq!(s.board_id, fx.board.id());
    assert_eq!(
        fx.board.card_snapshot_for(&fx.owner, fx.job),
        Some(s.clone())
    );
    assert_eq!(fx.board.card_snapshot_for(&fx.worker1, fx.job), Some(s));
    assert!(fx.board.card_snapshot_for(&fx.worker2, fx.job).is_none());
    let c = fx
        .board
        .card_snapshot_for(&fx.customer1, fx.job)
        .expect("own card");
    assert!(c.card.comments.is_empty() && c.card.labels.is_empty());
    assert!(fx
        .board
        .card_snapshot_for(&fx.customer1, fx.other)
        .is_none());
    assert!(fx
        .board
        .card_snapshot_for(&fx.share(fx.job), fx.job)
        .is_some());
    assert!(fx
        .board
        .card_snapshot_for(&fx.share(fx.job), fx.other)
        .is_none());
    assert!(fx.board.card_snapshot_for(&fx.stranger(), fx.job).is_none());
}

#[test]
fn view_changes() {
    let fx = Fx::new();
    let key = fx.board.key();
    let job = fx.board.card_facts(fx.job).expect("exists");
    let mut reassigned = job.clone();
    reassigned.assignees = vec![fx.worker2.id];
    assert_eq!(
        view_change(&fx.worker1, key, Some(&job), Some(&reassigned)),
        ViewChange::Leaves
    );
    assert_eq!(
        view_change(&fx.worker2, key, Some(&job), Some(&reassigned)),
        ViewChange::Enters
    );
    assert_eq!(
        view_change(&fx.customer1, key, Some(&job), Some(&reassigned)),
        ViewChange::Visible
    );
    assert_eq!(
        view_change(&fx.worker2, key, Some(&job), Some(&job)),
        ViewChange::Hidden
    );
    assert_eq!(
        view_change(&fx.owner, key, None, Some(&job)),
        ViewChange::Enters
    );
    assert_eq!(
        view_change(&fx.stranger(), key, Some(&job), Some(&job)),
        ViewChange::Hidden
    );
}

#[test]
fn assignment_changes_become_visible_and_hidden() {
    let mut fx = Fx::new();
    let key = fx.board.key();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx.job,
            assignees: vec![fx.worker2.id],
        }),
    );
    let ev = Fx::event(&a);
    let before = a.card_before.as_ref();
    assert_eq!(deliver(&fx.owner, key, ev, before), Delivery::Same);
    assert_eq!(
        deliver(&fx.worker1, key, ev, before),
        Delivery::Send(EventBody::CardHidden(CardHidden { card_id: fx.job }))
    );
    let Delivery::Send(EventBody::CardVisible(CardData { card })) =
        deliver(&fx.worker2, key, ev, before)
    else {
        panic!("worker2 should get card.visible")
    };
    assert_eq!(card.id, fx.job);
    assert_eq!(card.comments.len(), 1, "workers get the whole card");
    let Delivery::Send(EventBody::CardAssigned(CardData { card })) =
        deliver(&fx.customer1, key, ev, before)
    else {
        panic!("the customer gets a redacted card.assigned")
    };
    assert!(card.labels.is_empty() && card.comments.is_empty());
    assert_eq!(deliver(&fx.stranger(), key, ev, before), Delivery::Skip);
}

#[test]
fn customer_changes_enter_and_leave_customer_views() {
    let mut fx = Fx::new();
    let key = fx.board.key();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            card_id: fx.other,
            customer_id: Some(Some(fx.c1)),
            ..CardUpdate::default()
        }),
    );
    assert!(matches!(
        deliver(&fx.customer1, key, Fx::event(&a), a.card_before.as_ref()),
        Delivery::Send(EventBody::CardVisible(_)) | Delivery::Same
    ));
    assert!(matches!(
        deliver(&fx.customer1, key, Fx::event(&a), a.card_before.as_ref()),
        Delivery::Send(EventBody::CardVisible(_))
    ));
    let a = fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            card_id: fx.job,
            customer_id: Some(None),
            ..CardUpdate::default()
        }),
    );
    assert_eq!(
        deliver(&fx.customer1, key, Fx::event(&a), a.card_before.as_ref()),
        Delivery::Send(EventBody::CardHidden(CardHidden { card_id: fx.job }))
    );
}

#[test]
fn comments_and_checklists_reach_who_may_see_them() {
    let mut fx = Fx::new();
    let key = fx.board.key();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CommentAdd(CommentAdd {
            card_id: fx.job,
            body: "note".into(),
            mentions: vec![],
        }),
    );
    let (ev, before) = (Fx::event(&a).clone(), a.card_before.clone());
    assert_deliveries(
        key,
        &ev,
        before.as_ref(),
        &[
            (&fx.worker1, Delivery::Same),
            (&fx.worker2, Delivery::Skip),
            (&fx.customer1, Delivery::Skip),
            (&fx.share(fx.job), Delivery::Skip),
        ],
    );
    assert_eq!(
        deliver(&fx.worker1, key, &ev, None),
        Delivery::Skip,
        "no facts, no delivery"
    );

    let a = fx.ok(
        &m,
        Op::ChecklistToggle(ChecklistToggle {
            card_id: fx.job,
            item_id: fx.item,
            done: true,
        }),
    );
    let (ev, before) = (Fx::event(&a).clone(), a.card_before.clone());
    assert_deliveries(
        key,
        &ev,
        before.as_ref(),
        &[
            (&fx.customer1, Delivery::Same),
            (&fx.share(fx.job), Delivery::Same),
            (&fx.worker2, Delivery::Skip),
        ],
    );
}

#[test]
fn columns_reach_board_readers_but_not_share_links() {
    let mut fx = Fx::new();
    let key = fx.board.key();
    let o = fx.owner.clone();
    let a = fx.ok(
        &o,
        Op::ColumnCreate(ColumnCreate {
            name: "Waiting".into(),
            after: None,
            is_done: None,
            column_id: None,
            color: None,
        }),
    );
    let ev = Fx::event(&a);
    for p in [&fx.worker1, &fx.worker2, &fx.customer1] {
        assert_eq!(deliver(p, key, ev, None), Delivery::Same);
    }
    assert_eq!(deliver(&fx.share(fx.job), key, ev, None), Delivery::Skip);
}

#[test]
fn card_topics_and_share_links() {
    let mut fx = Fx::new();
    let key = fx.board.key();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardMove(CardMove {
            card_id: fx.job,
            column_id: fx.done,
            after: None,
        }),
    );
    let ev = Fx::event(&a).clone();
    let before = a.card_before.clone();
    let Delivery::Send(EventBody::CardMoved(d)) =
        deliver(&fx.share(fx.job), key, &ev, before.as_ref())
    else {
        panic!("share link gets a redacted card.moved")
    };
    assert_eq!(
        d.column.name, "Done",
        "the new status travels with the move"
    );
    assert!(d.card.comments.is_empty());
    assert_eq!(
        deliver(&fx.share(fx.other), key, &ev, before.as_ref()),
        Delivery::Skip
    );
    assert_eq!(
        deliver_on_card_topic(&fx.owner, key, fx.job, &ev, before.as_ref()),
        Delivery::Same
    );
    assert_eq!(
        deliver_on_card_topic(&fx.owner, key, fx.other, &ev, before.as_ref()),
        Delivery::Skip
    );
    assert!(matches!(
        deliver_on_card_topic(&fx.share(fx.job), key, fx.job, &ev, before.as_ref()),
        Delivery::Send(_)
    ));
}

/// A card created already assigned to a worker reaches them as `card.created`.
#[test]
fn new_cards_arrive_as_created() {
    let mut fx = Fx::new();
    let key = fx.board.key();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            assignees: vec![fx.worker2.id],
            ..CardCreate::new(fx.todo, "New")
        }),
    );
    let ev = Fx::event(&a);
    assert_eq!(deliver(&fx.worker2, key, ev, None), Delivery::Same);
    assert_eq!(deliver(&fx.worker1, key, ev, None), Delivery::Skip);
}
