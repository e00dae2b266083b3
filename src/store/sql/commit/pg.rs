//! Postgres' group commit.

use super::super::boards::pg::write_column_change;
use super::*;

/// The rows of one group commit, gathered over all its boards so that Postgres gets one
/// statement per table (arrays bound once, `UNNEST`ed server-side) instead of several
/// statements per board and per card: the statement text never changes with the batch, so it
/// is prepared once per connection, and a batch costs about eight round trips whatever its
/// size. Most batches go in one round trip instead (`one_call`); this path takes the rest
/// (column changes, one card on two boards). SQLite (in-process, no round trips) keeps the
/// per-row statements.
pub async fn commit_batch(pool: &sqlx::PgPool, commits: &[BoardCommit]) -> StoreResult<Vec<Uuid>> {
    let t = now();
    let merged = merge_by_board(commits);
    let mut order: Vec<&Merged<'_>> = merged.iter().collect();
    // One lock order for every writer, so concurrent batches cannot deadlock.
    order.sort_by_key(|c| (c.board_id, c.epoch));
    if let Some(cards) = super::one_call::cards_for_one_call(&order) {
        return super::one_call::commit(pool, &order, &cards, t).await;
    }
    let mut tx = pool.begin().await?;

    // Fencing, for every board at once: a board's rows are written only when it still has
    // the epoch its writer holds.
    let ids: Vec<Uuid> = order.iter().map(|c| c.board_id).collect();
    let epochs: Vec<i64> = order.iter().map(|c| c.epoch).collect();
    let last: Vec<i64> = order
        .iter()
        .map(|c| c.events.iter().map(|e| e.seq).max().unwrap_or(0))
        .collect();
    let live: Vec<(Uuid, i64)> = sqlx::query_as(
        "UPDATE boards AS b SET last_seq = GREATEST(b.last_seq, v.last_seq), updated_at = $4 \
         FROM UNNEST($1::uuid[], $2::int8[], $3::int8[]) AS v(id, epoch, last_seq) \
         WHERE b.id = v.id AND b.epoch = v.epoch RETURNING b.id, b.epoch",
    )
    .bind(&ids)
    .bind(&epochs)
    .bind(&last)
    .bind(t)
    .fetch_all(&mut *tx)
    .await?;
    let live: std::collections::HashSet<(Uuid, i64)> = live.into_iter().collect();
    let mut fenced = Vec::new();
    let mut written: Vec<&Merged<'_>> = Vec::with_capacity(order.len());
    for c in order {
        if live.contains(&(c.board_id, c.epoch)) {
            written.push(c);
        } else {
            fenced.push(c.board_id);
        }
    }

    // Row changes: the last of each row per board, columns before the cards in them.
    let mut columns: Vec<&RowChange> = Vec::new();
    let mut cards: Vec<&Card> = Vec::new();
    for c in &written {
        for ch in c.last_changes() {
            match ch {
                RowChange::UpsertCard(card) => cards.push(card),
                other => columns.push(other),
            }
        }
    }
    for ch in columns {
        write_column_change(&mut tx, ch, t).await?;
    }
    // One statement cannot upsert a row twice: a card id met again (on another board of
    // the batch) goes into the next round.
    let mut rounds: Vec<Vec<&Card>> = Vec::new();
    {
        let mut times: HashMap<Uuid, usize> = HashMap::new();
        for card in cards {
            let n = times.entry(card.id).or_insert(0);
            if rounds.len() <= *n {
                rounds.push(Vec::new());
            }
            rounds[*n].push(card);
            *n += 1;
        }
    }
    for round in &rounds {
        write_cards(&mut tx, round, t).await?;
    }

    let events: Vec<&EventRecord> = written
        .iter()
        .flat_map(|c| c.events.iter().copied())
        .collect();
    if !events.is_empty() {
        sqlx::query(
            "INSERT INTO board_events (org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::int8[], $5::uuid[], \
             $6::text[], $7::jsonb[], $8::jsonb[], $9::timestamptz[], $10::text[])",
        )
        .bind(events.iter().map(|e| e.org_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.board_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.epoch).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.seq).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.op_id).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>())
        .bind(events.iter().map(|e| Json(&e.data)).collect::<Vec<_>>())
        .bind(events.iter().map(|e| Json(&e.actor)).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.at).collect::<Vec<_>>())
        .bind(events.iter().map(|e| e.ip.as_deref()).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(|err| map_err(err, "event"))?;
    }
    let ops: Vec<(&Merged<'_>, &AppliedOp)> = written
        .iter()
        .flat_map(|c| c.ops.iter().map(move |o| (*c, *o)))
        .collect();
    if !ops.is_empty() {
        sqlx::query(
            "INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) \
             SELECT o, b, i, p, e, s, r, $8 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
             $5::int8[], $6::int8[], $7::uuid[]) AS v(o, b, i, p, e, s, r) \
             ON CONFLICT (board_id, op_id) DO NOTHING",
        )
        .bind(ops.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|(c, _)| c.board_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|(_, o)| o.op_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|(_, o)| o.principal_id).collect::<Vec<_>>())
        .bind(ops.iter().map(|(_, o)| o.epoch).collect::<Vec<_>>())
        .bind(ops.iter().map(|(_, o)| o.seq).collect::<Vec<_>>())
        .bind(ops.iter().map(|(_, o)| o.result_id).collect::<Vec<_>>())
        .bind(t)
        .execute(&mut *tx)
        .await?;
    }
    let notes: Vec<&Notification> = written
        .iter()
        .flat_map(|c| c.notifications.iter().copied())
        .collect();
    if !notes.is_empty() {
        sqlx::query(
            "INSERT INTO notifications (id, org_id, user_id, kind, board_id, card_id, title, body, actor, created_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::uuid[], $6::uuid[], \
             $7::text[], $8::text[], $9::jsonb[], $10::timestamptz[]) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(notes.iter().map(|n| n.id).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.org_id).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.user_id).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.kind.as_str()).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.board_id).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.card_id).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.title.as_str()).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.body.as_str()).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| Json(&n.actor)).collect::<Vec<_>>())
        .bind(notes.iter().map(|n| n.created_at).collect::<Vec<_>>())
        .execute(&mut *tx)
        .await
        .map_err(|e| map_err(e, "notification"))?;
    }
    tx.commit().await?;
    Ok(fenced)
}

/// Cards (distinct ids) written whole: the card row, then its assignees and checklist
/// replaced, then its new comments.
async fn write_cards(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    cards: &[&Card],
    t: DateTime<Utc>,
) -> StoreResult<()> {
    if cards.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
         customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) \
         SELECT id, org_id, board_id, column_id, position, title, description, customer_id, labels, \
         due_at, version, archived, $13, $13, priority, estimate_minutes \
         FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::text[], $6::text[], $7::text[], \
         $8::uuid[], $9::jsonb[], $10::timestamptz[], $11::int8[], $12::bool[], $14::text[], $15::int4[]) \
         AS v(id, org_id, board_id, column_id, position, title, description, customer_id, labels, \
         due_at, version, archived, priority, estimate_minutes) \
         ON CONFLICT (id) DO UPDATE SET column_id = excluded.column_id, position = excluded.position, \
         title = excluded.title, description = excluded.description, customer_id = excluded.customer_id, \
         labels = excluded.labels, due_at = excluded.due_at, version = excluded.version, \
         priority = excluded.priority, estimate_minutes = excluded.estimate_minutes, \
         archived = excluded.archived, updated_at = excluded.updated_at \
         WHERE cards.board_id = excluded.board_id",
    )
    .bind(cards.iter().map(|c| c.id).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.org_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.board_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.column_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.position.as_str()).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.title.as_str()).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.description.as_str()).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.customer_id).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| Json(&c.labels)).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.due_at).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.version).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.archived).collect::<Vec<_>>())
    .bind(t)
    .bind(cards.iter().map(|c| c.priority.as_deref()).collect::<Vec<_>>())
    .bind(cards.iter().map(|c| c.estimate_minutes).collect::<Vec<_>>())
    .execute(&mut **tx)
    .await
    .map_err(|e| map_err(e, "card"))?;
    let ids: Vec<Uuid> = cards.iter().map(|c| c.id).collect();
    let boards: Vec<Uuid> = cards.iter().map(|c| c.board_id).collect();
    for table in ["card_assignees", "checklist_items"] {
        sqlx::query(&format!(
            "DELETE FROM {table} AS x USING UNNEST($1::uuid[], $2::uuid[]) AS v(card_id, board_id) \
             WHERE x.card_id = v.card_id AND x.board_id = v.board_id"
        ))
        .bind(&ids)
        .bind(&boards)
        .execute(&mut **tx)
        .await?;
    }
    let assignees: Vec<(&Card, Uuid)> = cards
        .iter()
        .flat_map(|c| c.assignees.iter().map(move |u| (*c, *u)))
        .collect();
    if !assignees.is_empty() {
        sqlx::query(
            "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[])",
        )
        .bind(assignees.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
        .bind(
            assignees
                .iter()
                .map(|(c, _)| c.board_id)
                .collect::<Vec<_>>(),
        )
        .bind(assignees.iter().map(|(c, _)| c.id).collect::<Vec<_>>())
        .bind(assignees.iter().map(|(_, u)| *u).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(|e| map_err(e, "assignee"))?;
    }
    let items: Vec<(&Card, &ChecklistItem)> = cards
        .iter()
        .flat_map(|c| c.checklist.iter().map(move |i| (*c, i)))
        .collect();
    if !items.is_empty() {
        sqlx::query(
            "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) \
             SELECT i, o, b, c, ti, d, p, $8, $8 FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], \
             $5::text[], $6::bool[], $7::text[]) AS v(i, o, b, c, ti, d, p)",
        )
        .bind(items.iter().map(|(_, i)| i.id).collect::<Vec<_>>())
        .bind(items.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
        .bind(items.iter().map(|(c, _)| c.board_id).collect::<Vec<_>>())
        .bind(items.iter().map(|(c, _)| c.id).collect::<Vec<_>>())
        .bind(items.iter().map(|(_, i)| i.title.as_str()).collect::<Vec<_>>())
        .bind(items.iter().map(|(_, i)| i.done).collect::<Vec<_>>())
        .bind(items.iter().map(|(_, i)| i.position.as_str()).collect::<Vec<_>>())
        .bind(t)
        .execute(&mut **tx)
        .await
        .map_err(|e| map_err(e, "checklist item"))?;
    }
    let comments: Vec<(&Card, &Comment)> = cards
        .iter()
        .flat_map(|c| c.comments.iter().map(move |m| (*c, m)))
        .collect();
    if !comments.is_empty() {
        sqlx::query(
            "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) \
             SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::text[], \
             $7::jsonb[], $8::timestamptz[]) ON CONFLICT (id) DO NOTHING",
        )
        .bind(comments.iter().map(|(_, m)| m.id).collect::<Vec<_>>())
        .bind(comments.iter().map(|(c, _)| c.org_id).collect::<Vec<_>>())
        .bind(comments.iter().map(|(c, _)| c.board_id).collect::<Vec<_>>())
        .bind(comments.iter().map(|(c, _)| c.id).collect::<Vec<_>>())
        .bind(comments.iter().map(|(_, m)| m.author_id).collect::<Vec<_>>())
        .bind(comments.iter().map(|(_, m)| m.body.as_str()).collect::<Vec<_>>())
        .bind(comments.iter().map(|(_, m)| Json(&m.mentions)).collect::<Vec<_>>())
        .bind(comments.iter().map(|(_, m)| m.created_at).collect::<Vec<_>>())
        .execute(&mut **tx)
        .await
        .map_err(|e| map_err(e, "comment"))?;
    }
    Ok(())
}
