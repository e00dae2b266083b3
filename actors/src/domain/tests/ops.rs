//! Each op: what it does, and who may do it (owner, admin, member, worker assigned or not,
//! customer, share link, API keys with and without board scope, other orgs).

use super::*;
use boardroom_protocol::{ErrorCode, NotificationKind, Ref};

fn code(e: &OpError) -> ErrorCode {
    e.code()
}

fn col_create(name: &str) -> Op {
    Op::ColumnCreate(ColumnCreate {
        name: name.into(),
        after: None,
        is_done: None,
        column_id: None,
        color: None,
    })
}

fn card_create(column: Uuid, title: &str) -> CardCreate {
    CardCreate {
        column_id: column,
        title: title.into(),
        description: None,
        after: None,
        assignees: vec![],
        customer_id: None,
        labels: vec![],
        due_at: None,
        card_id: None,
        estimate_minutes: None,
        priority: None,
    }
}

fn update(card: Uuid) -> CardUpdate {
    CardUpdate {
        card_id: card,
        ..CardUpdate::default()
    }
}

fn mv(card: Uuid, column: Uuid, after: Option<Uuid>) -> Op {
    Op::CardMove(CardMove {
        card_id: card,
        column_id: column,
        after,
    })
}

fn comment(card: Uuid, body: &str, mentions: Vec<Uuid>) -> Op {
    Op::CommentAdd(CommentAdd {
        card_id: card,
        body: body.into(),
        mentions,
    })
}

fn toggle(card: Uuid, item: Uuid, done: bool) -> Op {
    Op::ChecklistToggle(ChecklistToggle {
        card_id: card,
        item_id: item,
        done,
    })
}

fn column_names(fx: &Fx) -> Vec<String> {
    fx.board.columns().iter().map(|c| c.name.clone()).collect()
}

fn card_titles(fx: &Fx, column: Uuid) -> Vec<String> {
    fx.board
        .cards_in(column)
        .iter()
        .map(|c| c.title.clone())
        .collect()
}

// ----- permissions, table-style --------------------------------------------------------

/// Every op kind, for every kind of principal: the expected error code (or success).
#[test]
fn role_table() {
    use ErrorCode::*;
    let fx0 = Fx::new();
    let job = fx0.job;
    let other = fx0.other;
    let todo = fx0.todo;
    let item = fx0.item;
    // (name, op on the `job` card or board, [owner, admin, member, worker1 (assigned),
    //  worker2 (not assigned), customer1 (own card), share(job), share(other), api member
    //  scoped here, api member scoped elsewhere, api worker, stranger])
    type Row = (&'static str, Op, [Option<ErrorCode>; 12]);
    let all_ok_editors = |worker1: Option<ErrorCode>| {
        [
            None,
            None,
            None,
            worker1,
            Some(NotFound),
            Some(Forbidden),
            Some(Forbidden),
            Some(NotFound),
            None,
            Some(NotFound),
            Some(NotFound),
            Some(NotFound),
        ]
    };
    let board_level = [
        None,
        None,
        None,
        Some(Forbidden),
        Some(Forbidden),
        Some(Forbidden),
        Some(NotFound),
        Some(NotFound),
        None,
        Some(NotFound),
        Some(Forbidden),
        Some(NotFound),
    ];
    let rows: Vec<Row> = vec![
        ("column.create", col_create("New"), board_level),
        (
            "column.update",
            Op::ColumnUpdate(ColumnUpdate {
                column_id: todo,
                name: Some("Backlog".into()),
                is_done: None,
                color: None,
            }),
            board_level,
        ),
        (
            "column.move",
            Op::ColumnMove(ColumnMove {
                column_id: todo,
                after: Some(fx0.done),
            }),
            board_level,
        ),
        (
            "card.create",
            Op::CardCreate(card_create(todo, "New")),
            board_level,
        ),
        (
            "card.update",
            Op::CardUpdate(CardUpdate {
                title: Some("Renamed".into()),
                ..update(job)
            }),
            all_ok_editors(Some(Forbidden)),
        ),
        ("card.move", mv(job, fx0.doing, None), all_ok_editors(None)),
        (
            "card.assign",
            Op::CardAssign(CardAssign {
                card_id: job,
                assignees: vec![fx0.worker1.id, fx0.worker2.id],
            }),
            all_ok_editors(Some(Forbidden)),
        ),
        (
            "card.archive",
            Op::CardArchive(CardArchive { card_id: job }),
            all_ok_editors(Some(Forbidden)),
        ),
        (
            "checklist.add",
            Op::ChecklistAdd(ChecklistAdd {
                card_id: job,
                title: "Step".into(),
                item_id: None,
            }),
            all_ok_editors(Some(Forbidden)),
        ),
        (
            "checklist.toggle",
            toggle(job, item, true),
            all_ok_editors(None),
        ),
        (
            "checklist.remove",
            Op::ChecklistRemove(ChecklistRemove {
                card_id: job,
                item_id: item,
            }),
            all_ok_editors(Some(Forbidden)),
        ),
        (
            "comment.add",
            comment(job, "hi", vec![]),
            all_ok_editors(None),
        ),
    ];
    let covered: std::collections::BTreeSet<&str> = rows.iter().map(|r| r.0).collect();
    let mut expected: std::collections::BTreeSet<&str> = Op::KINDS.into_iter().collect();
    expected.remove("column.delete"); // needs an empty column: tested below
    assert_eq!(covered, expected);

    for (name, op, expect) in rows {
        let fx = Fx::new();
        let principals = [
            fx.owner.clone(),
            fx.admin.clone(),
            fx.member.clone(),
            fx.worker1.clone(),
            fx.worker2.clone(),
            fx.customer1.clone(),
            fx.share(job),
            fx.share(other),
            fx.api_key(Role::Member, Some(vec![fx.board.id()])),
            fx.api_key(Role::Member, Some(vec![fx.other_board])),
            fx.api_key(Role::Worker, None),
            fx.stranger(),
        ];
        for (i, p) in principals.iter().enumerate() {
            let mut fx = Fx::new();
            // The permission check alone (asked before a repeated op_id is answered) agrees
            // with the op's own: refused as the op would be, or let through.
            let authorized = fx.board.authorize_op(p, &op).err().map(|e| code(&e));
            let want = expect[i].filter(|c| matches!(c, Forbidden | NotFound));
            assert_eq!(
                authorized, want,
                "authorize_op: {name} by principal #{i} ({:?} {:?})",
                p.kind, p.role
            );
            let got = fx.apply(p, op.clone()).err().map(|e| code(&e));
            assert_eq!(
                got, expect[i],
                "{name} by principal #{i} ({:?} {:?})",
                p.kind, p.role
            );
        }
    }
}

#[test]
fn column_delete_permissions() {
    let fx0 = Fx::new();
    let op = Op::ColumnDelete(ColumnDelete {
        column_id: fx0.doing,
    });
    for (p, expect) in [
        (fx0.owner.clone(), None),
        (fx0.admin.clone(), None),
        (fx0.member.clone(), None),
        (fx0.worker1.clone(), Some(ErrorCode::Forbidden)),
        (fx0.customer1.clone(), Some(ErrorCode::Forbidden)),
        (fx0.share(fx0.job), Some(ErrorCode::NotFound)),
        (fx0.stranger(), Some(ErrorCode::NotFound)),
    ] {
        let mut fx = Fx::new();
        assert_eq!(fx.apply(&p, op.clone()).err().map(|e| e.code()), expect);
    }
}

#[test]
fn forbidden_messages_say_who_and_what() {
    let mut fx = Fx::new();
    let w = fx.worker1.clone();
    let e = fx.err(
        &w,
        Op::CardUpdate(CardUpdate {
            title: Some("x".into()),
            ..update(fx.job)
        }),
    );
    assert!(
        e.to_string().contains("a worker may not card.update"),
        "{e}"
    );
    let k = fx.api_key(Role::Customer, None);
    let e = fx.err(&k, col_create("x"));
    assert!(e.to_string().contains("API key with role customer"), "{e}");
    let o = fx.stranger();
    let e = fx.err(&o, mv(fx.job, fx.done, None));
    assert_eq!(e.to_string(), format!("card {} not found", fx.job));
}

/// A card another principal cannot see answers exactly like a card that does not exist.
#[test]
fn invisible_and_missing_cards_look_the_same() {
    let mut fx = Fx::new();
    let w2 = fx.worker2.clone();
    let invisible = fx.err(&w2, mv(fx.job, fx.done, None)).to_string();
    let missing = fx
        .err(&w2, mv(uid(9999), fx.done, None))
        .to_string()
        .replace(&uid(9999).to_string(), &fx.job.to_string());
    assert_eq!(invisible, missing);
}

// ----- columns -------------------------------------------------------------------------

#[test]
fn column_create_places_and_validates() {
    let mut fx = Fx::new();
    let o = fx.owner.clone();
    fx.ok(&o, col_create("Last"));
    let first = fx.ok(
        &o,
        Op::ColumnCreate(ColumnCreate {
            name: "  First  ".into(),
            after: Some(None),
            is_done: Some(true),
            column_id: None,
            color: None,
        }),
    );
    let EventBody::ColumnCreated(d) = Fx::event(&first) else {
        panic!()
    };
    assert_eq!(d.column.name, "First");
    assert!(d.column.is_done);
    assert_eq!(first.created_id, Some(d.column.id));
    fx.ok(
        &o,
        Op::ColumnCreate(ColumnCreate {
            name: "Between".into(),
            after: Some(Some(fx.todo)),
            is_done: None,
            column_id: None,
            color: None,
        }),
    );
    assert_eq!(
        column_names(&fx),
        ["First", "To do", "Between", "Doing", "Done", "Last"]
    );

    for (name, field) in [("", "data.name"), ("   ", "data.name")] {
        let e = fx.err(&o, col_create(name));
        assert_eq!(e.field(), Some(field));
    }
    assert_eq!(
        fx.err(&o, col_create(&"x".repeat(101))).code(),
        ErrorCode::BadRequest
    );
    fx.ok(&o, col_create(&"é".repeat(100)));
    let e = fx.err(
        &o,
        Op::ColumnCreate(ColumnCreate {
            name: "Dup".into(),
            after: None,
            is_done: None,
            column_id: Some(fx.todo),
            color: None,
        }),
    );
    assert_eq!(e.code(), ErrorCode::Conflict);
    let e = fx.err(
        &o,
        Op::ColumnCreate(ColumnCreate {
            name: "Nil".into(),
            after: None,
            is_done: None,
            column_id: Some(Uuid::nil()),
            color: None,
        }),
    );
    assert_eq!(e.field(), Some("data.column_id"));
    let e = fx.err(
        &o,
        Op::ColumnCreate(ColumnCreate {
            name: "X".into(),
            after: Some(Some(uid(4242))),
            is_done: None,
            column_id: None,
            color: None,
        }),
    );
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[test]
fn column_limit_is_a_conflict() {
    let mut fx = Fx::new();
    fx.limits.columns_max = 4;
    let o = fx.owner.clone();
    fx.ok(&o, col_create("Four"));
    assert_eq!(fx.err(&o, col_create("Five")).code(), ErrorCode::Conflict);
}

#[test]
fn column_update_and_move() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let e = fx.err(
        &m,
        Op::ColumnUpdate(ColumnUpdate {
            column_id: fx.todo,
            name: None,
            is_done: None,
            color: None,
        }),
    );
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let a = fx.ok(
        &m,
        Op::ColumnUpdate(ColumnUpdate {
            column_id: fx.doing,
            name: None,
            is_done: Some(true),
            color: None,
        }),
    );
    assert!(
        matches!(Fx::event(&a), EventBody::ColumnUpdated(d) if d.column.is_done && d.column.name == "Doing")
    );
    let e = fx.err(
        &m,
        Op::ColumnUpdate(ColumnUpdate {
            column_id: uid(4242),
            name: Some("x".into()),
            is_done: None,
            color: None,
        }),
    );
    assert_eq!(e.code(), ErrorCode::NotFound);

    fx.ok(
        &m,
        Op::ColumnMove(ColumnMove {
            column_id: fx.todo,
            after: Some(fx.done),
        }),
    );
    assert_eq!(column_names(&fx), ["Doing", "Done", "To do"]);
    fx.ok(
        &m,
        Op::ColumnMove(ColumnMove {
            column_id: fx.todo,
            after: None,
        }),
    );
    assert_eq!(column_names(&fx), ["To do", "Doing", "Done"]);
    fx.ok(
        &m,
        Op::ColumnMove(ColumnMove {
            column_id: fx.done,
            after: Some(fx.todo),
        }),
    );
    assert_eq!(column_names(&fx), ["To do", "Done", "Doing"]);
    let e = fx.err(
        &m,
        Op::ColumnMove(ColumnMove {
            column_id: fx.done,
            after: Some(fx.done),
        }),
    );
    assert_eq!(e.field(), Some("data.after"));
}

#[test]
fn column_delete_needs_an_empty_column_and_drops_archived_cards() {
    let mut fx = Fx::new();
    let o = fx.owner.clone();
    let e = fx.err(&o, Op::ColumnDelete(ColumnDelete { column_id: fx.todo }));
    assert_eq!(e.code(), ErrorCode::Conflict);
    assert!(e.to_string().contains("2 card"), "{e}");
    fx.ok(&o, mv(fx.other, fx.doing, None));
    fx.ok(&o, Op::CardArchive(CardArchive { card_id: fx.job }));
    let a = fx.ok(&o, Op::ColumnDelete(ColumnDelete { column_id: fx.todo }));
    assert!(matches!(Fx::event(&a), EventBody::ColumnDeleted(d) if d.column_id == fx.todo));
    assert!(fx.board.column(fx.todo).is_none());
    assert!(
        fx.board.card(fx.job).is_none(),
        "archived card dropped with its column"
    );
    assert_eq!(
        fx.err(&o, Op::ColumnDelete(ColumnDelete { column_id: fx.todo }))
            .code(),
        ErrorCode::NotFound
    );
}

// ----- cards ---------------------------------------------------------------------------

#[test]
fn card_create_places_and_fills_in() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            title: "  Top  ".into(),
            after: Some(None),
            labels: vec![" a ".into(), "a".into(), "b".into()],
            assignees: vec![fx.worker2.id, fx.worker2.id],
            customer_id: Some(fx.c2),
            due_at: Some(now()),
            description: Some("  kept as written ".into()),
            ..card_create(fx.todo, "")
        }),
    );
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
    fx.ok(&m, Op::CardCreate(card_create(fx.todo, "Bottom")));
    fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            after: Some(Some(fx.job)),
            ..card_create(fx.todo, "After job")
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
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let todo = fx.todo;
    let cases: Vec<(CardCreate, ErrorCode, Option<&str>)> = vec![
        (
            card_create(todo, ""),
            ErrorCode::BadRequest,
            Some("data.title"),
        ),
        (
            card_create(todo, " \t\n"),
            ErrorCode::BadRequest,
            Some("data.title"),
        ),
        (
            card_create(todo, &"x".repeat(201)),
            ErrorCode::BadRequest,
            Some("data.title"),
        ),
        (
            CardCreate {
                description: Some("d".repeat(10_001)),
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.description"),
        ),
        (
            CardCreate {
                labels: (0..21).map(|i| format!("l{i}")).collect(),
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.labels"),
        ),
        (
            CardCreate {
                labels: vec!["ok".into(), "l".repeat(51)],
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.labels[1]"),
        ),
        (
            CardCreate {
                labels: vec!["".into()],
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.labels[0]"),
        ),
        (
            CardCreate {
                assignees: vec![fx.worker1.id, uid(999)],
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.assignees[1]"),
        ),
        (
            CardCreate {
                customer_id: Some(uid(998)),
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.customer_id"),
        ),
        (
            CardCreate {
                card_id: Some(fx.job),
                ..card_create(todo, "t")
            },
            ErrorCode::Conflict,
            None,
        ),
        (
            CardCreate {
                card_id: Some(Uuid::nil()),
                ..card_create(todo, "t")
            },
            ErrorCode::BadRequest,
            Some("data.card_id"),
        ),
        (card_create(uid(997), "t"), ErrorCode::NotFound, None),
        (
            CardCreate {
                after: Some(Some(uid(996))),
                ..card_create(todo, "t")
            },
            ErrorCode::NotFound,
            None,
        ),
        (
            CardCreate {
                after: Some(Some(fx.job)),
                ..card_create(fx.doing, "t")
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
            ..card_create(todo, &"t".repeat(200))
        }),
    );
}

#[test]
fn card_limit_is_a_conflict() {
    let mut fx = Fx::new();
    fx.limits.cards_max = 2;
    let m = fx.member.clone();
    let e = fx.err(&m, Op::CardCreate(card_create(fx.todo, "third")));
    assert_eq!(e.code(), ErrorCode::Conflict);
    fx.ok(&m, Op::CardArchive(CardArchive { card_id: fx.other }));
    fx.ok(&m, Op::CardCreate(card_create(fx.todo, "third")));
}

#[test]
fn card_update_sets_clears_and_checks_version() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
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
    let e = fx.err(
        &m,
        Op::CardUpdate(CardUpdate {
            customer_id: Some(Some(uid(123))),
            ..update(fx.job)
        }),
    );
    assert_eq!(e.field(), Some("data.customer_id"));
    fx.ok(
        &m,
        Op::CardUpdate(CardUpdate {
            customer_id: Some(Some(fx.c2)),
            ..update(fx.job)
        }),
    );
}

#[test]
fn card_move_between_and_within_columns() {
    let mut fx = Fx::new();
    let w = fx.worker1.clone();
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
    let mut fx = Fx::new();
    let w = fx.worker1.clone();
    let e = fx.err(&w, mv(fx.job, fx.todo, Some(fx.other)));
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[test]
fn card_assign_validates_and_notifies_new_assignees_only() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let e = fx.err(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx.job,
            assignees: vec![uid(31337)],
        }),
    );
    assert_eq!(e.field(), Some("data.assignees[0]"));
    let a = fx.ok(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx.job,
            assignees: vec![fx.worker1.id, fx.worker2.id, fx.member.id],
        }),
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
    let e = fx2.err(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx2.job,
            assignees: vec![fx2.worker1.id, fx2.worker2.id],
        }),
    );
    assert_eq!(e.field(), Some("data.assignees"));
}

#[test]
fn a_customer_cannot_be_assigned() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let customer = fx.customer1.id;
    let e = fx.err(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx.job,
            assignees: vec![fx.worker1.id, customer],
        }),
    );
    assert_eq!(e.code(), ErrorCode::BadRequest);
    assert_eq!(e.field(), Some("data.assignees[1]"));
    let e = fx.err(
        &m,
        Op::CardCreate(CardCreate {
            assignees: vec![customer],
            ..card_create(fx.todo, "For the customer")
        }),
    );
    assert_eq!(e.field(), Some("data.assignees[0]"));
    // Every staff role can be.
    let (owner, admin) = (fx.owner.id, fx.admin.id);
    fx.ok(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx.job,
            assignees: vec![owner, admin, fx.member.id, fx.worker2.id],
        }),
    );
}

#[test]
fn create_with_assignees_notifies_them() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            assignees: vec![fx.worker2.id, fx.member.id],
            ..card_create(fx.todo, "New job")
        }),
    );
    let to: Vec<Recipient> = a.notifications.iter().map(|n| n.recipient).collect();
    assert_eq!(to, [Recipient::User(fx.worker2.id)]);
}

#[test]
fn archived_cards_refuse_every_change() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let a = fx.ok(&m, Op::CardArchive(CardArchive { card_id: fx.job }));
    assert!(matches!(Fx::event(&a), EventBody::CardArchived(d) if d.card.archived));
    let job = fx.job;
    let item = fx.item;
    for op in [
        Op::CardArchive(CardArchive { card_id: job }),
        mv(job, fx.doing, None),
        Op::CardUpdate(CardUpdate {
            title: Some("x".into()),
            ..update(job)
        }),
        Op::CardAssign(CardAssign {
            card_id: job,
            assignees: vec![],
        }),
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
            ..card_create(fx.todo, "x")
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

// ----- checklist and comments ----------------------------------------------------------

#[test]
fn checklist_lifecycle() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let w = fx.worker1.clone();
    let v0 = fx.card(fx.job).version;
    let a = fx.ok(
        &m,
        Op::ChecklistAdd(ChecklistAdd {
            card_id: fx.job,
            title: " Second ".into(),
            item_id: None,
        }),
    );
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
    let e = fx.err(
        &m,
        Op::ChecklistAdd(ChecklistAdd {
            card_id: fx.other,
            title: "dup".into(),
            item_id: Some(second),
        }),
    );
    assert_eq!(
        e.code(),
        ErrorCode::Conflict,
        "item ids are unique across the board"
    );
    assert_eq!(
        fx.err(
            &m,
            Op::ChecklistAdd(ChecklistAdd {
                card_id: fx.job,
                title: "".into(),
                item_id: None
            })
        )
        .field(),
        Some("data.title")
    );
    let a = fx.ok(
        &m,
        Op::ChecklistRemove(ChecklistRemove {
            card_id: fx.job,
            item_id: fx.item,
        }),
    );
    assert!(matches!(Fx::event(&a), EventBody::ChecklistRemoved(d) if d.item_id == fx.item));
    assert_eq!(fx.card(fx.job).checklist.len(), 1);
    assert_eq!(fx.card(fx.job).version, v0 + 3);
    let e = fx.err(
        &m,
        Op::ChecklistRemove(ChecklistRemove {
            card_id: fx.job,
            item_id: fx.item,
        }),
    );
    assert_eq!(e.code(), ErrorCode::NotFound);
}

#[test]
fn checklist_limit_is_a_conflict() {
    let mut fx = Fx::new();
    fx.limits.checklist_items_max = 1;
    let m = fx.member.clone();
    let e = fx.err(
        &m,
        Op::ChecklistAdd(ChecklistAdd {
            card_id: fx.job,
            title: "two".into(),
            item_id: None,
        }),
    );
    assert_eq!(e.code(), ErrorCode::Conflict);
}

#[test]
fn comments_validate_and_notify_visible_mentions() {
    let mut fx = Fx::new();
    let w = fx.worker1.clone();
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
        fx.err(&w, comment(fx.job, &"b".repeat(5001), vec![]))
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
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let a = fx.ok(&m, comment(fx.job, &"é".repeat(300), vec![fx.owner.id]));
    let body = &a.notifications[0].body;
    assert_eq!(body.chars().count(), MENTION_EXCERPT_CHARS + 1);
    assert!(body.ends_with('…'));
}

#[test]
fn moving_into_and_out_of_done_notifies_assignees_and_customer() {
    let mut fx = Fx::new();
    let m = fx.member.clone();
    fx.ok(
        &m,
        Op::CardAssign(CardAssign {
            card_id: fx.job,
            assignees: vec![fx.worker1.id, fx.worker2.id],
        }),
    );
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

#[test]
fn api_key_scopes() {
    let mut fx = Fx::new();
    let scoped = fx.api_key(Role::Admin, Some(vec![fx.board.id()]));
    fx.ok(&scoped, col_create("Bot column"));
    let a = fx.ok(&scoped, comment(fx.job, "from a bot", vec![]));
    let EventBody::CommentAdded(d) = Fx::event(&a) else {
        panic!()
    };
    assert_eq!(d.comment.author_id, scoped.id);
    let elsewhere = fx.api_key(Role::Admin, Some(vec![fx.other_board]));
    assert_eq!(
        fx.err(&elsewhere, col_create("x")).code(),
        ErrorCode::NotFound
    );
    let unscoped = fx.api_key(Role::Member, None);
    fx.ok(&unscoped, mv(fx.job, fx.doing, None));
}

#[test]
fn op_errors_map_to_protocol_replies() {
    let e = OpError::bad("title", "must not be empty");
    let r = e.to_reply(Some(Ref::Int(7)));
    assert_eq!(r.code, ErrorCode::BadRequest);
    assert_eq!(r.field.as_deref(), Some("data.title"));
    assert_eq!(r.message, "data.title: must not be empty");
    assert_eq!(r.r#ref, Some(Ref::Int(7)));
    assert_eq!(OpError::Forbidden("x".into()).code(), ErrorCode::Forbidden);
    assert_eq!(OpError::NotFound("x".into()).code(), ErrorCode::NotFound);
    assert_eq!(OpError::Conflict("x".into()).code(), ErrorCode::Conflict);
    assert_eq!(OpError::Internal("x".into()).code(), ErrorCode::Internal);
    assert_eq!(OpError::Conflict("x".into()).to_reply(None).field, None);
}

#[test]
fn apply_returns_the_same_events_as_apply_op() {
    let mut fx = Fx::new();
    let mut copy = fx.board.clone();
    let m = fx.member.clone();
    let op = mv(fx.job, fx.doing, None);
    let ctx = ApplyCtx {
        now: now(),
        new_id: uid(5),
        directory: &fx.dir,
        limits: &fx.limits,
    };
    let events = copy.apply(&m, &op, &ctx).expect("applies");
    let applied = fx.board.apply_op(&m, &op, &ctx).expect("applies");
    assert_eq!(events, applied.events);
    assert_eq!(copy, fx.board);
}

#[test]
fn replay_errors_on_inconsistent_events() {
    use boardroom_protocol::event::*;
    let fx = Fx::new();
    let mut b = fx.board.clone();
    let e = b
        .apply_event(&EventBody::ColumnDeleted(ColumnDeleted {
            column_id: uid(1234),
        }))
        .unwrap_err();
    assert!(matches!(e, ReplayError::UnknownColumn { .. }));
    let e = b
        .apply_event(&EventBody::ChecklistRemoved(ChecklistRemoved {
            item_id: uid(1),
            card_id: fx.job,
            version: 9,
        }))
        .unwrap_err();
    assert!(matches!(e, ReplayError::UnknownItem { .. }));
    let e = b
        .apply_event(&EventBody::CommentAdded(CommentAdded {
            comment: fx.card(fx.job).comments[0].clone(),
            card_id: uid(4321),
            version: 9,
        }))
        .unwrap_err();
    assert!(matches!(e, ReplayError::UnknownCard { .. }));
    assert_eq!(b, fx.board, "failed replays change nothing");
}

#[test]
fn priority_estimate_and_column_colour_are_set_checked_and_cleared() {
    use boardroom_protocol::Priority;
    let mut fx = Fx::new();
    let m = fx.member.clone();
    let a = fx.ok(
        &m,
        Op::CardCreate(CardCreate {
            priority: Some(Priority::High),
            estimate_minutes: Some(90),
            ..card_create(fx.todo, "Planned job")
        }),
    );
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
    fx.ok(
        &admin,
        Op::ColumnUpdate(ColumnUpdate {
            column_id: fx.todo,
            name: None,
            is_done: None,
            color: Some(Some("#FFAA00".into())),
        }),
    );
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
        let e = fx.err(
            &admin,
            Op::ColumnUpdate(ColumnUpdate {
                column_id: fx.todo,
                name: None,
                is_done: None,
                color: Some(Some(bad.into())),
            }),
        );
        assert_eq!(e.field(), Some("data.color"), "{bad}");
    }
    fx.ok(
        &admin,
        Op::ColumnUpdate(ColumnUpdate {
            column_id: fx.todo,
            name: None,
            is_done: None,
            color: Some(None),
        }),
    );
    assert_eq!(colour(&fx), None);
}

#[test]
fn customers_and_share_links_do_not_see_priority_or_estimate() {
    use boardroom_protocol::Priority;
    let mut fx = Fx::new();
    let m = fx.member.clone();
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
