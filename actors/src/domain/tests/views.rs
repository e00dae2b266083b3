//! Filtered snapshots and per-subscriber delivery of events.

use super::*;
use boardroom_protocol::event::{CardData, CardHidden};

/// [`Fx::after`], with the board's key, which every delivery is asked for: where every
/// delivery test starts.
fn applied(
    who: impl Fn(&Fx) -> &Principal,
    make: impl FnOnce(&Fx) -> Op,
) -> (Fx, BoardKey, Applied) {
    let (fx, _, a) = Fx::after(who, make);
    let key = fx.board.key();
    (fx, key, a)
}

/// What `p` gets of the op `a` applied (its one event, and the card as it was before).
fn delivered(p: &Principal, key: BoardKey, a: &Applied) -> Delivery {
    deliver(p, key, Fx::event(a), a.card_before.as_ref())
}

/// Who gets what of the op `a` applied, one row a subscriber: the table reads as the rule
/// under test, and a failure names its row.
fn assert_deliveries(key: BoardKey, a: &Applied, rows: &[(&Principal, Delivery)]) {
    for (row, (p, want)) in rows.iter().enumerate() {
        assert_eq!(&delivered(p, key, a), want, "row {row}");
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
    // (who, the card before, after, what it is to them)
    let rows = [
        (&fx.worker1, Some(&job), &reassigned, ViewChange::Leaves),
        (&fx.worker2, Some(&job), &reassigned, ViewChange::Enters),
        (&fx.customer1, Some(&job), &reassigned, ViewChange::Visible),
        (&fx.worker2, Some(&job), &job, ViewChange::Hidden),
        (&fx.owner, None, &job, ViewChange::Enters),
        (&fx.stranger(), Some(&job), &job, ViewChange::Hidden),
    ];
    for (row, (p, before, after, want)) in rows.into_iter().enumerate() {
        assert_eq!(view_change(p, key, before, Some(after)), want, "row {row}");
    }
}

#[test]
fn assignment_changes_become_visible_and_hidden() {
    let (fx, key, a) = applied(|fx| &fx.member, |fx| assign(fx.job, vec![fx.worker2.id]));
    assert_eq!(delivered(&fx.owner, key, &a), Delivery::Same);
    assert_eq!(
        delivered(&fx.worker1, key, &a),
        Delivery::Send(EventBody::CardHidden(CardHidden { card_id: fx.job }))
    );
    let Delivery::Send(EventBody::CardVisible(CardData { card })) = delivered(&fx.worker2, key, &a)
    else {
        panic!("worker2 should get card.visible")
    };
    assert_eq!(card.id, fx.job);
    assert_eq!(card.comments.len(), 1, "workers get the whole card");
    let Delivery::Send(EventBody::CardAssigned(CardData { card })) =
        delivered(&fx.customer1, key, &a)
    else {
        panic!("the customer gets a redacted card.assigned")
    };
    assert!(card.labels.is_empty() && card.comments.is_empty());
    assert_eq!(delivered(&fx.stranger(), key, &a), Delivery::Skip);
}

#[test]
fn customer_changes_enter_and_leave_customer_views() {
    let (mut fx, key, a) = applied(|fx| &fx.member, |fx| set_customer(fx.other, Some(fx.c1)));
    assert!(matches!(
        delivered(&fx.customer1, key, &a),
        Delivery::Send(EventBody::CardVisible(_)) | Delivery::Same
    ));
    assert!(matches!(
        delivered(&fx.customer1, key, &a),
        Delivery::Send(EventBody::CardVisible(_))
    ));
    let m = fx.member.clone();
    let a = fx.ok(&m, set_customer(fx.job, None));
    assert_eq!(
        delivered(&fx.customer1, key, &a),
        Delivery::Send(EventBody::CardHidden(CardHidden { card_id: fx.job }))
    );
}

#[test]
fn comments_and_checklists_reach_who_may_see_them() {
    let (mut fx, key, a) = applied(|fx| &fx.member, |fx| comment(fx.job, "note", vec![]));
    assert_deliveries(
        key,
        &a,
        &[
            (&fx.worker1, Delivery::Same),
            (&fx.worker2, Delivery::Skip),
            (&fx.customer1, Delivery::Skip),
            (&fx.share(fx.job), Delivery::Skip),
        ],
    );
    assert_eq!(
        deliver(&fx.worker1, key, Fx::event(&a), None),
        Delivery::Skip,
        "no facts, no delivery"
    );

    let m = fx.member.clone();
    let a = fx.ok(&m, toggle(fx.job, fx.item, true));
    assert_deliveries(
        key,
        &a,
        &[
            (&fx.customer1, Delivery::Same),
            (&fx.share(fx.job), Delivery::Same),
            (&fx.worker2, Delivery::Skip),
        ],
    );
}

#[test]
fn columns_reach_board_readers_but_not_share_links() {
    let (fx, key, a) = applied(|fx| &fx.owner, |_| col_create("Waiting"));
    let ev = Fx::event(&a);
    for p in [&fx.worker1, &fx.worker2, &fx.customer1] {
        assert_eq!(deliver(p, key, ev, None), Delivery::Same);
    }
    assert_eq!(deliver(&fx.share(fx.job), key, ev, None), Delivery::Skip);
}

#[test]
fn card_topics_and_share_links() {
    let (fx, key, a) = applied(|fx| &fx.member, |fx| mv(fx.job, fx.done, None));
    let (ev, before) = (Fx::event(&a), a.card_before.as_ref());
    let Delivery::Send(EventBody::CardMoved(d)) = delivered(&fx.share(fx.job), key, &a) else {
        panic!("share link gets a redacted card.moved")
    };
    assert_eq!(
        d.column.name, "Done",
        "the new status travels with the move"
    );
    assert!(d.card.comments.is_empty());
    assert_eq!(delivered(&fx.share(fx.other), key, &a), Delivery::Skip);
    assert_eq!(
        deliver_on_card_topic(&fx.owner, key, fx.job, ev, before),
        Delivery::Same
    );
    assert_eq!(
        deliver_on_card_topic(&fx.owner, key, fx.other, ev, before),
        Delivery::Skip
    );
    assert!(matches!(
        deliver_on_card_topic(&fx.share(fx.job), key, fx.job, ev, before),
        Delivery::Send(_)
    ));
}

/// A card created already assigned to a worker reaches them as `card.created`.
#[test]
fn new_cards_arrive_as_created() {
    let (fx, _, a) = Fx::member_created(|fx| CardCreate {
        assignees: vec![fx.worker2.id],
        ..CardCreate::new(fx.todo, "New")
    });
    let key = fx.board.key();
    let ev = Fx::event(&a);
    assert_eq!(deliver(&fx.worker2, key, ev, None), Delivery::Same);
    assert_eq!(deliver(&fx.worker1, key, ev, None), Delivery::Skip);
}
