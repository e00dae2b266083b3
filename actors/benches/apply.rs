//! `BoardState::apply` on a board of realistic size: what one op costs the board actor.
//! Run: `cargo bench -p boardroom-actors`.

use boardroom_actors::domain::{ApplyCtx, BoardState, Limits, OrgDirectory};
use boardroom_actors::policy::Principal;
use boardroom_protocol::{BoardSnapshot, Card, Column, Op, Role};
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use uuid::Uuid;

fn board(cards: usize) -> (BoardState, Vec<Uuid>, Vec<Uuid>) {
    let cols: Vec<Column> = ["To do", "Doing", "Done"]
        .iter()
        .zip(["F", "V", "k"])
        .map(|(n, p)| Column {
            id: Uuid::now_v7(),
            name: (*n).into(),
            position: p.into(),
            is_done: *n == "Done",
            color: None,
        })
        .collect();
    let positions = boardroom_actors::domain::position::spread(cards);
    let cards: Vec<Card> = positions
        .into_iter()
        .enumerate()
        .map(|(i, position)| {
            Card::new(
                Uuid::now_v7(),
                cols[i % 3].id,
                position,
                format!("Card {i}"),
            )
        })
        .collect();
    let card_ids = cards.iter().map(|c| c.id).collect();
    let col_ids = cols.iter().map(|c| c.id).collect();
    let snap = BoardSnapshot {
        id: Uuid::now_v7(),
        org_id: Uuid::now_v7(),
        name: "Bench".into(),
        columns: cols,
        cards,
    };
    (BoardState::from_snapshot(snap), card_ids, col_ids)
}

fn bench(c: &mut Criterion) {
    let (mut state, cards, cols) = board(500);
    let owner = Principal::user(Uuid::now_v7(), state.org_id(), Role::Owner);
    let dir = OrgDirectory::default().with_member(owner.id, Role::Owner);
    let limits = Limits::default();
    let mut i = 0usize;
    // Each bench applies the op `make(i)` makes, with a fresh i per iteration.
    let mut bench_op = |name: &str, make: &dyn Fn(usize) -> serde_json::Value| {
        c.bench_function(name, |b| {
            b.iter(|| {
                i += 1;
                let op: Op = serde_json::from_value(make(i)).expect("op");
                let ctx = ApplyCtx {
                    now: chrono::Utc::now(),
                    new_id: Uuid::now_v7(),
                    directory: &dir,
                    limits: &limits,
                };
                black_box(state.apply(&owner, &op, &ctx).expect("apply"));
            })
        });
    };
    bench_op("apply card.move (500 cards)", &|i| {
        serde_json::json!({
            "kind": "card.move",
            "data": {"card_id": cards[i % cards.len()], "column_id": cols[i % 3], "after": null}
        })
    });
    bench_op("apply card.update title (500 cards)", &|i| {
        serde_json::json!({
            "kind": "card.update",
            "data": {"card_id": cards[i % cards.len()], "title": format!("T{i}")}
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
