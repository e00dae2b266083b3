//! Checklist items and comments, and the notifications mentions and moves send.

use super::*;

#[test]
fn checklist_lifecycle() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let w = fx.worker1.clone();
    let v0 = fx.card(fx.job).version;
    let a = fx.ok(&m, item_add(fx.job, " Second ", None));
    let second = a.created_id.expect("item id");
    let titles: Vec<_> = fx
        .card(fx.job)
        .checklist
        .iter()
        .map(|i| i.title.clone())
        .collect();
    assert_eq!(titles, ["Turn off water", "Second"]);
    let a = fx.ok(&w, toggle(fx.job, second, true));
    assert!(
        matches!(Fx::event(&a), EventBody::ChecklistToggled(d) if d.item.done && d.version == v0 + 2)
    );
    assert!(fx.card(fx.job).checklist[1].done);
    assert_eq!(
        fx.err(&w, toggle(fx.job, uid(555), true)).code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        fx.err(&w, toggle(fx.other, fx.item, true)).code(),
        ErrorCode::NotFound
    );
    let e = fx.err(&m, item_add(fx.other, "dup", Some(second)));
    assert_eq!(
        e.code(),
        ErrorCode::Conflict,
        "item ids are unique across the board"
    );
    assert_eq!(
        fx.err(&m, item_add(fx.job, "", None)).field(),
        Some("data.title")
    );
    let a = fx.ok(&m, item_remove(fx.job, fx.item));
    assert!(matches!(Fx::event(&a), EventBody::ChecklistRemoved(d) if d.item_id == fx.item));
    assert_eq!(fx.card(fx.job).checklist.len(), 1);
    assert_eq!(fx.card(fx.job).version, v0 + 3);
    let e = fx.err(&m, item_remove(fx.job, fx.item));
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[test]
fn checklist_limit_is_a_conflict() {
    let mut fx = Fx::new();
    fx.limits.checklist_items_max = 1;
    let m = fx.member.clone();
    let e = fx.err(&m, item_add(fx.job, "two", None));
    assert_eq!(e.code(), ErrorCode::Conflict);
}

#[test]
fn comments_validate_and_notify_visible_mentions() {
    let (mut fx, w) = Fx::acting(|fx| &fx.worker1);
    let v0 = fx.card(fx.job).version;
    let a = fx.ok(
        &w,
        comment(
            fx.job,
            "  @owner @worker2 @me done  ",
            vec![
                fx.owner.id,
                fx.worker2.id,
                fx.worker1.id,
                fx.owner.id,
                fx.customer1.id,
            ],
        ),
    );
    let EventBody::CommentAdded(d) = Fx::event(&a) else {
        panic!()
    };
    assert_eq!(d.comment.body, "@owner @worker2 @me done");
    assert_eq!(d.comment.author_id, fx.worker1.id);
    assert_eq!(d.comment.created_at, now());
    assert_eq!(
        d.comment.mentions,
        [fx.owner.id, fx.worker2.id, fx.worker1.id, fx.customer1.id]
    );
    assert_eq!(d.version, v0 + 1);
    assert_eq!(a.created_id, Some(d.comment.id));
    // Not the author, not worker2 (cannot see the card), not customer1 (sees the card but
    // never its comments, which a mention quotes); the owner once despite the repeat.
    let to: Vec<Recipient> = a.notifications.iter().map(|n| n.recipient).collect();
    assert_eq!(to, [Recipient::User(fx.owner.id)]);
    assert!(a
        .notifications
        .iter()
        .all(|n| n.kind == NotificationKind::Mention && n.body == "@owner @worker2 @me done"));

    for (body, ok) in [
        ("", false),
        ("   ", false),
        (&"b".repeat(5000) as &str, true),
    ] {
        let r = fx.apply(&w, comment(fx.job, body, vec![]));
        assert_eq!(r.is_ok(), ok, "{}", body.len());
    }
    assert_eq!(
        fx.err(&w, comment(fx.job, "b".repeat(5001), vec![]))
            .field(),
        Some("data.body")
    );
    assert_eq!(
        fx.err(&w, comment(fx.job, "x", vec![uid(777)])).field(),
        Some("data.mentions[0]")
    );
}

#[test]
fn long_mention_bodies_are_excerpted() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let a = fx.ok(&m, comment(fx.job, "é".repeat(300), vec![fx.owner.id]));
    let body = &a.notifications[0].body;
    assert_eq!(body.chars().count(), MENTION_EXCERPT_CHARS + 1);
    assert!(body.ends_with('…'));
}

#[test]
fn moving_into_and_out_of_done_notifies_assignees_and_customer() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    fx.ok(&m, assign(fx.job, vec![fx.worker1.id, fx.worker2.id]));
    let w1 = fx.worker1.clone();
    let a = fx.ok(&w1, mv(fx.job, fx.done, None));
    let to: Vec<Recipient> = a.notifications.iter().map(|n| n.recipient).collect();
    assert_eq!(
        to,
        [Recipient::User(fx.worker2.id), Recipient::Customer(fx.c1)],
        "the worker who moved it is not told"
    );
    assert!(a
        .notifications
        .iter()
        .all(|n| n.kind == NotificationKind::JobStatus && n.body.starts_with("Completed")));
    // done -> done would be no status change; done -> doing is a reopen.
    let a = fx.ok(&m, mv(fx.job, fx.done, None));
    assert!(a.notifications.is_empty());
    let a = fx.ok(&m, mv(fx.job, fx.doing, None));
    assert_eq!(a.notifications.len(), 3);
    assert!(a.notifications[0].body.starts_with("Reopened"));
    // Not done -> not done: nothing.
    let a = fx.ok(&m, mv(fx.job, fx.todo, None));
    assert!(a.notifications.is_empty());
}
