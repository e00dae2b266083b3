//! Column ops: create, update, move, delete, and the column limit.

use super::*;

#[test]
fn column_create_places_and_validates() {
    let (mut fx, o) = Fx::acting(|fx| &fx.owner);
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
    let (mut fx, m) = Fx::acting(|fx| &fx.member);
    let e = fx.err(&m, Op::ColumnUpdate(col_update(fx.todo)));
    assert_eq!(e.code(), ErrorCode::BadRequest);
    let a = fx.ok(
        &m,
        Op::ColumnUpdate(ColumnUpdate {
            is_done: Some(true),
            ..col_update(fx.doing)
        }),
    );
    assert!(
        matches!(Fx::event(&a), EventBody::ColumnUpdated(d) if d.column.is_done && d.column.name == "Doing")
    );
    let e = fx.err(
        &m,
        Op::ColumnUpdate(ColumnUpdate {
            name: Some("x".into()),
            ..col_update(uid(4242))
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
    let (mut fx, o) = Fx::acting(|fx| &fx.owner);
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
