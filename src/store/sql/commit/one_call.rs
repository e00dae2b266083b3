//! Postgres' group commit in one round trip: the whole batch goes to the
//! `boardroom_group_commit` function (migration 0009) as parallel arrays, in one statement
//! outside any transaction block, so it is one implicit transaction too (no BEGIN, no COMMIT).
//! Profiled at 1 000 ops/s, the statement-by-statement commit left the database waiting for
//! the server's next statement three quarters of each commit (BENCHMARKS.md, issue 12).
//!
//! The function repeats `pg.rs`'s statements: a column added to a table the group commit
//! writes must be added in both (and in a migration replacing the function);
//! `tests/store_conformance.rs` reads cards written through each path back whole.

use super::*;

/// Each row is tagged with its group: the 1-based position of its (board, epoch) in `order`,
/// which is how the function tells the rows of fenced boards from the others.
type Tagged<'a, T> = Vec<(i32, &'a T)>;

/// The batch's cards, tagged, when it can be committed in one call: only card upserts, each
/// card once. Otherwise (column changes; one card on two boards, which one statement cannot
/// upsert twice) the statement-by-statement path commits it.
pub(super) fn cards_for_one_call<'a>(order: &[&'a Merged<'a>]) -> Option<Tagged<'a, Card>> {
    let mut seen = std::collections::HashSet::new();
    let mut cards = Vec::new();
    for (i, c) in order.iter().enumerate() {
        let c: &'a Merged<'a> = c;
        for ch in c.last_changes() {
            match ch {
                RowChange::UpsertCard(card) if seen.insert(card.id) => {
                    cards.push((group(i), &**card))
                }
                _ => return None,
            }
        }
    }
    Some(cards)
}

fn group(i: usize) -> i32 {
    i32::try_from(i + 1).unwrap_or(i32::MAX)
}

fn tag<'a, T: 'a, I: Iterator<Item = &'a T>>(
    order: &[&'a Merged<'a>],
    rows: impl Fn(&'a Merged<'a>) -> I,
) -> Tagged<'a, T> {
    order
        .iter()
        .enumerate()
        .flat_map(|(i, c)| rows(c).map(move |r| (group(i), r)))
        .collect()
}

/// Commits the batch; gives back the boards fenced.
pub(super) async fn commit(
    pool: &sqlx::PgPool,
    order: &[&Merged<'_>],
    cards: &[(i32, &Card)],
    t: DateTime<Utc>,
) -> StoreResult<Vec<Uuid>> {
    let assignees: Vec<(i32, &Card, Uuid)> = cards
        .iter()
        .flat_map(|(g, c)| c.assignees.iter().map(move |u| (*g, *c, *u)))
        .collect();
    let items: Vec<(i32, &Card, &ChecklistItem)> = cards
        .iter()
        .flat_map(|(g, c)| c.checklist.iter().map(move |i| (*g, *c, i)))
        .collect();
    let comments: Vec<(i32, &Card, &Comment)> = cards
        .iter()
        .flat_map(|(g, c)| c.comments.iter().map(move |m| (*g, *c, m)))
        .collect();
    let events: Tagged<'_, EventRecord> = tag(order, |c| c.events.iter().copied());
    let ops: Vec<(i32, &Merged<'_>, &AppliedOp)> = order
        .iter()
        .enumerate()
        .flat_map(|(i, c)| c.ops.iter().map(move |o| (group(i), *c, *o)))
        .collect();
    let notes: Tagged<'_, Notification> = tag(order, |c| c.notifications.iter().copied());
    let fenced: Vec<i32> = sqlx::query_scalar(
        "SELECT boardroom_group_commit($1::uuid[], $2::int8[], $3::int8[], $4::timestamptz, \
         $5::int4[], $6::uuid[], $7::uuid[], $8::uuid[], $9::uuid[], $10::text[], $11::text[], \
         $12::text[], $13::uuid[], $14::jsonb[], $15::timestamptz[], $16::int8[], $17::bool[], \
         $18::text[], $19::int4[], \
         $20::int4[], $21::uuid[], $22::uuid[], $23::uuid[], $24::uuid[], \
         $25::int4[], $26::uuid[], $27::uuid[], $28::uuid[], $29::uuid[], $30::text[], $31::bool[], \
         $32::text[], \
         $33::int4[], $34::uuid[], $35::uuid[], $36::int8[], $37::int8[], $38::uuid[], $39::text[], \
         $40::jsonb[], $41::jsonb[], $42::timestamptz[], $43::text[], \
         $44::int4[], $45::uuid[], $46::uuid[], $47::uuid[], $48::uuid[], $49::int8[], $50::int8[], \
         $51::uuid[], \
         $52::int4[], $53::uuid[], $54::uuid[], $55::uuid[], $56::text[], $57::uuid[], $58::uuid[], \
         $59::text[], $60::text[], $61::jsonb[], $62::timestamptz[], \
         $63::int4[], $64::uuid[], $65::uuid[], $66::uuid[], $67::uuid[], $68::uuid[], $69::text[], \
         $70::jsonb[], $71::timestamptz[])",
    )
    // Boards, with the last seq each reaches.
    .bind(order.iter().map(|c| c.board_id).collect::<Vec<_>>())
    .bind(order.iter().map(|c| c.epoch).collect::<Vec<_>>())
    .bind(
        order
            .iter()
            .map(|c| c.events.iter().map(|e| e.seq).max().unwrap_or(0))
            .collect::<Vec<_>>(),
    )
    .bind(t)
    // Cards.
    .bind(cards.iter().map(|(g, _)| *g).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.id).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.org_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.board_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.column_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.position.as_str()).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.title.as_str()).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.description.as_str()).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.customer_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| Json(&c.labels)).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.due_at).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.version).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.archived).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.priority.as_deref()).collect::<Vec<_>>())
    .bind(cards.iter().map(|(_, c)| c.estimate_minutes).collect::<Vec<_>>())
    // Assignees.
    .bind(assignees.iter().map(|(g, _, _)| *g).collect::<Vec<_>>())
    .bind(assignees.iter().map(|(_, c, _)| c.org_id).collect::<Vec<_>>())
    .bind(assignees.iter().map(|(_, c, _)| c.board_id).collect::<Vec<_>>())
    .bind(assignees.iter().map(|(_, c, _)| c.id).collect::<Vec<_>>())
    .bind(assignees.iter().map(|(_, _, u)| *u).collect::<Vec<_>>())
    // Checklist items.
    .bind(items.iter().map(|(g, _, _)| *g).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, _, i)| i.id).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, c, _)| c.org_id).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, c, _)| c.board_id).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, c, _)| c.id).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, _, i)| i.title.as_str()).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, _, i)| i.done).collect::<Vec<_>>())
    .bind(items.iter().map(|(_, _, i)| i.position.as_str()).collect::<Vec<_>>())
    // Events.
    .bind(events.iter().map(|(g, _)| *g).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.org_id).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.board_id).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.epoch).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.seq).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.op_id).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.kind.as_str()).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| Json(&e.data)).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| Json(&e.actor)).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.at).collect::<Vec<_>>())
    .bind(events.iter().map(|(_, e)| e.ip.as_deref()).collect::<Vec<_>>())
    // Applied ops.
    .bind(ops.iter().map(|(g, _, _)| *g).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, c, _)| c.org_id).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, c, _)| c.board_id).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, _, o)| o.op_id).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, _, o)| o.principal_id).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, _, o)| o.epoch).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, _, o)| o.seq).collect::<Vec<_>>())
    .bind(ops.iter().map(|(_, _, o)| o.result_id).collect::<Vec<_>>())
    // Notifications.
    .bind(notes.iter().map(|(g, _)| *g).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.id).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.org_id).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.user_id).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.kind.as_str()).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.board_id).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.card_id).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.title.as_str()).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.body.as_str()).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| Json(&n.actor)).collect::<Vec<_>>())
    .bind(notes.iter().map(|(_, n)| n.created_at).collect::<Vec<_>>())
    // Comments.
    .bind(comments.iter().map(|(g, _, _)| *g).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, _, m)| m.id).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, c, _)| c.org_id).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, c, _)| c.board_id).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, c, _)| c.id).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, _, m)| m.author_id).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, _, m)| m.body.as_str()).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, _, m)| Json(&m.mentions)).collect::<Vec<_>>())
    .bind(comments.iter().map(|(_, _, m)| m.created_at).collect::<Vec<_>>())
    .fetch_one(pool)
    .await
    .map_err(|e| map_err(e, "group commit"))?;
    Ok(fenced
        .into_iter()
        .filter_map(|g| order.get(usize::try_from(g).ok()?.checked_sub(1)?))
        .map(|c| c.board_id)
        .collect())
}
