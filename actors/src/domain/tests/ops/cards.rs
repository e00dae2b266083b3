//! Card ops: create, update, move, assign, archive, priority and estimate.

use super::*;

#[test]
fn card_create_places_and_fills_in() {
    let (mut fx, m, a) = Fx::member_created(|fx| CardCreate {
        title: "  Top  ".into(),
        after: Some(None),
        labels: vec![" a ".into(), "a".into(), "b".into()],
        assignees: vec![fx.worker2.id, fx.worker2.id],
        customer_id: Some(fx.c2),
        due_at: Some(now()),
        description: Some("  kept as written ".into()),
        ..CardCreate::new(fx.todo, "")
    });
    let EventBody::CardCreated(d) = Fx::event(&a) else {
        panic!()
    };
    let c = &d.card;
    assert_eq!(c.title, "Top");
    assert_eq!(c.labels, ["a", "b"]);
    assert_eq!(c.assignees, [fx.worker2.id]);
    assert_eq!(c.description.as_deref(), Some("  kept as written "));
    assert_eq!(c.version, 1);
    assert!(!c.archived);
    assert_eq!(a.created_id, Some(c.id));
    assert_eq!(a.card_before, None);
    fx.ok(&m, Op::CardCreate(CardCreate::new(fx.todo, "Bottom")));
    fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            after: Some(Some(fx.job)),
            ..CardCreate::new(fx.todo, "After job")
        }),
    );
    // `other` was created with after absent (bottom), after `job`.
    assert_eq!(
        card_titles(&fx, fx.todo),
        [
            "Top",
            "Fix the boiler",
            "After job",
            "Paint the fence",
            "Bottom"
        ]
    );
}

#[test]
fn card_create_validation() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let todo = fx.todo;
    let cases: Vec<(CardCreate, ErrorCode, Option<&str>)> = vec![
        (
            CardCreate::new(todo, ""),
            ErrorCode::BadRequest,
            Some("data.title"),
        ),
        (
            CardCreate::new(todo, " \t\n"),
            ErrorCode::BadRequest,
            Some("data.title"),
        ),
        (
            CardCreate::new(todo, "x".repeat(201)),
            ErrorCode::BadRequest,
            Some("data.title"),
        ),
        (
            CardCreate {
                description: Some("d".repeat(10_001)),
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.description"),
        ),
        (
            CardCreate {
                labels: (0..21).map(|i| format!("l{i}")).collect(),
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.labels"),
        ),
        (
            CardCreate {
                labels: vec!["ok".into(), "l".repeat(51)],
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.labels[1]"),
        ),
        (
            CardCreate {
                labels: vec!["".into()],
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.labels[0]"),
        ),
        (
            CardCreate {
                assignees: vec![fx.worker1.id, uid(999)],
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.assignees[1]"),
        ),
        (
            CardCreate {
                customer_id: Some(uid(998)),
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.customer_id"),
        ),
        (
            CardCreate {
                card_id: Some(fx.job),
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::Conflict,
            None,
        ),
        (
            CardCreate {
                card_id: Some(Uuid::nil()),
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.card_id"),
        ),
        (CardCreate::new(uid(997), "t"), ErrorCode::NotFound, None),
        (
            CardCreate {
                after: Some(Some(uid(996))),
                ..CardCreate::new(todo, "t")
            },
            ErrorCode::NotFound,
            None,
        ),
        (
            CardCreate {
                after: Some(Some(fx.job)),
                ..CardCreate::new(fx.doing, "t")
            },
            ErrorCode::BadRequest,
            Some("data.after"),
        ),
    ];
    for (op, code, field) in cases {
        let e = fx.err(&m, Op::CardCreate(op.clone()));
        assert_eq!((e.code(), e.field()), (code, field), "{op:?}: {e}");
    }
    // Boundaries are inclusive.
    fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            description: Some("d".repeat(10_000)),
            labels: (0..20).map(|i| format!("{i:0>50}")).collect(),
            ..CardCreate::new(todo, "t".repeat(200))
        }),
    );
}

#[test]
fn card_limit_is_a_conflict() {
    let mut fx = Fx::new();
    fx.limits.cards_max = 2;
    let m = fx.member.clone();
    let e = fx.err(&m, Op::CardCreate(CardCreate::new(fx.todo, "third")));
    assert_eq!(e.code(), ErrorCode::Conflict);
    fx.ok(&m, Op::CardArchive(CardArchive { card_id: fx.other }));
    fx.ok(&m, Op::CardCreate(CardCreate::new(fx.todo, "third")));
}

#[test]
fn card_update_sets_clears_and_checks_version() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let v = fx.card(fx.job).version;
    let e = fx.err(&m, Op::CardUpdate(update(fx.job)));
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let e = fx.err(
        &m,
        Op::CardUpdate(CardUpdate {
            title: Some("x".into()),
            expected_version: Some(v - 1),
            ..update(fx.job)
        }),
    );
    assert_eq!(e.code(), ErrorCode::Conflict);
    fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            title: Some("  New title ".into()),
            due_at: Some(Some(now())),
            expected_version: Some(v),
            ..update(fx.job)
        }),
    );
    let c = fx.card(fx.job).clone();
    assert_eq!(c.title, "New title");
    assert_eq!(c.due_at, Some(now()));
    assert_eq!(
        c.description.as_deref(),
        Some("Basement"),
        "absent = unchanged"
    );
    assert_eq!(c.customer_id, Some(fx.c1), "absent = unchanged");
    assert_eq!(c.version, v + 1);
    fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            description: Some(None),
            due_at: Some(None),
            customer_id: Some(None),
            labels: Some(vec![]),
            ..update(fx.job)
        }),
    );
    let c = fx.card(fx.job).clone();
    assert_eq!(
        (c.description, c.due_at, c.customer_id, c.labels.len()),
        (None, None, None, 0),
        "null = cleared"
    );
    assert_eq!(c.title, "New title");
    assert_eq!(c.version, v + 2);
    let e = fx.err(&m, set_customer(fx.job, Some(uid(123))));
    assert_eq!(e.field(), Some("data.customer_id"));
    fx.ok(&m, set_customer(fx.job, Some(fx.c2)));
}

#[test]
fn card_move_between_and_within_columns() {
    let (mut fx, w) = Fx::acting(|fx| &fx.worker1);
    let v = fx.card(fx.job).version;
    let a = fx.ok(&w, mv(fx.job, fx.doing, None));
    let EventBody::CardMoved(d) = Fx::event(&a) else {
        panic!()
    };
    assert_eq!(d.from_column_id, fx.todo);
    assert_eq!(d.column.name, "Doing");
    assert_eq!(d.card.version, v + 1);
    assert_eq!(a.card_before.as_ref().map(|f| f.card_id), Some(fx.job));
    let m = fx.member.clone();
    fx.ok(&m, mv(fx.other, fx.doing, Some(fx.job)));
    assert_eq!(
        card_titles(&fx, fx.doing),
        ["Fix the boiler", "Paint the fence"]
    );
    fx.ok(&m, mv(fx.job, fx.doing, Some(fx.other)));
    assert_eq!(
        card_titles(&fx, fx.doing),
        ["Paint the fence", "Fix the boiler"]
    );
    fx.ok(&m, mv(fx.job, fx.doing, None));
    assert_eq!(
        card_titles(&fx, fx.doing),
        ["Fix the boiler", "Paint the fence"]
    );
    assert!(card_titles(&fx, fx.todo).is_empty());

    assert_eq!(
        fx.err(&m, mv(fx.job, fx.doing, Some(fx.job))).field(),
        Some("data.after")
    );
    assert_eq!(
        fx.err(&m, mv(fx.job, uid(4040), None)).code(),
        ErrorCode::NotFound
    );
    assert_eq!(
        fx.err(&m, mv(fx.job, fx.todo, Some(fx.other))).field(),
        Some("data.after")
    );
}

/// A worker may not use an invisible card as an anchor: that would reveal it exists.
#[test]
fn worker_cannot_anchor_on_invisible_cards() {
    let (mut fx, w) = Fx::acting(|fx| &fx.worker1);
    let e = fx.err(&w, mv(fx.job, fx.todo, Some(fx.other)));
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[test]
fn card_assign_validates_and_notifies_new_assignees_only() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let e = fx.err(&m, assign(fx.job, vec![uid(31337)]));
    assert_eq!(e.field(), Some("data.assignees[0]"));
    let a = fx.ok(
        &m,
        assign(fx.job, vec![fx.worker1.id, fx.worker2.id, fx.member.id]),
    );
    let to: Vec<Recipient> = a.notifications.iter().map(|n| n.recipient).collect();
    assert_eq!(
        to,
        [Recipient::User(fx.worker2.id)],
        "not worker1 (already), not the actor"
    );
    let n = &a.notifications[0];
    assert_eq!(n.kind, NotificationKind::CardAssigned);
    assert_eq!(n.card_id, fx.job);
    assert_eq!(n.board_id, fx.board.id());
    assert_eq!(n.title, "Fix the boiler");
    let mut fx2 = Fx::new();
    fx2.limits.assignees_max = 1;
    let e = fx2.err(&m, assign(fx2.job, vec![fx2.worker1.id, fx2.worker2.id]));
    assert_eq!(e.field(), Some("data.assignees"));
}

#[test]
fn a_customer_cannot_be_assigned() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let customer = fx.customer1.id;
    let e = fx.err(&m, assign(fx.job, vec![fx.worker1.id, customer]));
    assert_eq!(e.code(), ErrorCode::BadRequest);
    assert_eq!(e.field(), Some("data.assignees[1]"));
    let e = fx.err(
        &m,
        Op::CardCreate(CardCreate {
            assignees: vec![customer],
            ..CardCreate::new(fx.todo, "For the customer")
        }),
    );
    assert_eq!(e.field(), Some("data.assignees[0]"));
    // Every staff role can be.
    let (owner, admin) = (fx.owner.id, fx.admin.id);
    fx.ok(
        &m,
        assign(fx.job, vec![owner, admin, fx.member.id, fx.worker2.id]),
    );
}

#[test]
fn create_with_assignees_notifies_them() {
    let (fx, _, a) = Fx::member_created(|fx| CardCreate {
        assignees: vec![fx.worker2.id, fx.member.id],
        ..CardCreate::new(fx.todo, "New job")
    });
    let to: Vec<Recipient> = a.notifications.iter().map(|n| n.recipient).collect();
    assert_eq!(to, [Recipient::User(fx.worker2.id)]);
}

#[test]
fn archived_cards_refuse_every_change() {
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let a = fx.ok(&m, Op::CardArchive(CardArchive { card_id: fx.job }));
    assert!(matches!(Fx::event(&a), EventBody::CardArchived(d) if d.card.archived));
    let job = fx.job;
    let item = fx.item;
    for op in [
        Op::CardArchive(CardArchive { card_id: job }),
        mv(job, fx.doing, None),
        rename(job, "x"),
        assign(job, vec![]),
        toggle(job, item, true),
        comment(job, "x", vec![]),
    ] {
        assert_eq!(fx.err(&m, op).code(), ErrorCode::Conflict);
    }
    // Hidden from the board, still there for its `card:` topic.
    assert!(fx.board.snapshot().cards.iter().all(|c| c.id != job));
    assert!(fx.board.card_snapshot(job).is_some_and(|s| s.card.archived));
    // An archived card cannot anchor a placement.
    let e = fx.err(
        &m,
        Op::CardCreate(CardCreate {
            after: Some(Some(job)),
            ..CardCreate::new(fx.todo, "x")
        }),
    );
    assert_eq!(e.code(), ErrorCode::NotFound);
    // Worker1 was assigned; the permission check comes before the archived check, so an
    // invisible archived card is still just "not found".
    let w2 = fx.worker2.clone();
    assert_eq!(
        fx.err(&w2, mv(job, fx.doing, None)).code(),
        ErrorCode::NotFound
    );
}

#[test]
fn priority_estimate_and_column_colour_are_set_checked_and_cleared() {
    use boardroom_protocol::Priority;
    let (mut fx, m, a) = Fx::member_created(|fx| CardCreate {
        priority: Some(Priority::High),
        estimate_minutes: Some(90),
        ..CardCreate::new(fx.todo, "Planned job")
    });
    let id = match Fx::event(&a) {
        EventBody::CardCreated(d) => d.card.id,
        other => panic!("card.created expected, got {other:?}"),
    };
    assert_eq!(fx.card(id).priority, Some(Priority::High));
    assert_eq!(fx.card(id).estimate_minutes, Some(90));
    fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            priority: Some(Some(Priority::Urgent)),
            estimate_minutes: Some(None),
            ..update(id)
        }),
    );
    assert_eq!(fx.card(id).priority, Some(Priority::Urgent));
    assert_eq!(fx.card(id).estimate_minutes, None);
    let e = fx.err(
        &m,
        Op::CardUpdate(CardUpdate {
            estimate_minutes: Some(Some(fx.limits.estimate_minutes_max + 1)),
            ..update(id)
        }),
    );
    assert_eq!(e.field(), Some("data.estimate_minutes"));

    let admin = fx.admin.clone();
    let todo = fx.todo;
    let colour_op = move |color: Option<&str>| {
        Op::ColumnUpdate(ColumnUpdate {
            color: Some(color.map(String::from)),
            ..col_update(todo)
        })
    };
    fx.ok(&admin, colour_op(Some("#FFAA00")));
    let colour = |fx: &Fx| {
        fx.board
            .snapshot_for(&fx.owner)
            .expect("owner reads the board")
            .columns
            .iter()
            .find(|c| c.id == fx.todo)
            .and_then(|c| c.color.clone())
    };
    assert_eq!(colour(&fx).as_deref(), Some("#ffaa00"), "stored lowercase");
    for bad in ["ffaa00", "#ffaa0", "#ffaa0g", "red"] {
        let e = fx.err(&admin, colour_op(Some(bad)));
        assert_eq!(e.field(), Some("data.color"), "{bad}");
    }
    fx.ok(&admin, colour_op(None));
    assert_eq!(colour(&fx), None);
}

#[test]
fn customers_and_share_links_do_not_see_priority_or_estimate() {
    use boardroom_protocol::Priority;
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            priority: Some(Some(Priority::Urgent)),
            estimate_minutes: Some(Some(30)),
            ..update(fx.job)
        }),
    );
    let worker = fx
        .board
        .snapshot_for(&fx.worker1)
        .expect("the worker reads the board");
    assert_eq!(worker.cards[0].priority, Some(Priority::Urgent));
    assert_eq!(worker.cards[0].estimate_minutes, Some(30));
    for p in [fx.customer1.clone(), fx.share(fx.job)] {
        let s = fx.board.snapshot_for(&p).expect("sees the job");
        assert_eq!(s.cards[0].priority, None, "{:?}", p.kind);
        assert_eq!(s.cards[0].estimate_minutes, None);
    }
}
