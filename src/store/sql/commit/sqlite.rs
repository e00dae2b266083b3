//! SQLite's group commit: in process there are no round trips to save, so each row change is
//! its own statement; events and applied ops still go in multi-row inserts.

use super::*;

/// The group commit with one statement per row change and per board (events and
/// applied ops in multi-row inserts).
pub async fn commit_batch(
    pool: &sqlx::SqlitePool,
    commits: &[BoardCommit],
) -> StoreResult<Vec<Uuid>> {
    let t = now();
    let mut fenced = Vec::new();
    let merged = merge_by_board(commits);
    let mut order: Vec<&Merged<'_>> = merged.iter().collect();
    // One lock order for every writer, so concurrent batches cannot deadlock.
    order.sort_by_key(|c| c.board_id);
    let mut tx = pool.begin().await?;
    for c in order {
        let last_seq = c.events.iter().map(|e| e.seq).max();
        let done = sqlx::query(
            "UPDATE boards SET last_seq = CASE WHEN $3 > last_seq THEN $3 ELSE last_seq END, updated_at = $4 \
             WHERE id = $1 AND epoch = $2",
        )
        .bind(c.board_id)
        .bind(c.epoch)
        .bind(last_seq.unwrap_or(0))
        .bind(t)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            fenced.push(c.board_id);
            continue;
        }
        let mut changes = c.last_changes();
        changes.sort_by_key(|ch| ch.key().0);
        for ch in changes {
            match ch {
                RowChange::UpsertColumn {
                    org_id,
                    board_id,
                    column,
                } => {
                    sqlx::query(
                        "INSERT INTO board_columns (id, org_id, board_id, name, position, is_done, created_at, updated_at, color) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) \
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, position = excluded.position, \
                         is_done = excluded.is_done, color = excluded.color, deleted_at = NULL, updated_at = excluded.updated_at \
                         WHERE board_columns.board_id = excluded.board_id",
                    )
                    .bind(column.id)
                    .bind(org_id)
                    .bind(board_id)
                    .bind(&column.name)
                    .bind(&column.position)
                    .bind(column.is_done)
                    .bind(t)
                    .bind(&column.color)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "column"))?;
                }
                RowChange::DeleteColumn {
                    board_id,
                    column_id,
                } => {
                    sqlx::query("UPDATE board_columns SET deleted_at = $3, updated_at = $3 WHERE id = $1 AND board_id = $2")
                        .bind(column_id)
                        .bind(board_id)
                        .bind(t)
                        .execute(&mut *tx)
                        .await?;
                }
                RowChange::UpsertCard(card) => {
                    sqlx::query(
                        "INSERT INTO cards (id, org_id, board_id, column_id, position, title, description, \
                         customer_id, labels, due_at, version, archived, created_at, updated_at, priority, estimate_minutes) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $13, $14, $15) \
                         ON CONFLICT (id) DO UPDATE SET column_id = excluded.column_id, position = excluded.position, \
                         title = excluded.title, description = excluded.description, customer_id = excluded.customer_id, \
                         labels = excluded.labels, due_at = excluded.due_at, version = excluded.version, \
                         priority = excluded.priority, estimate_minutes = excluded.estimate_minutes, \
                         archived = excluded.archived, updated_at = excluded.updated_at \
                         WHERE cards.board_id = excluded.board_id",
                    )
                    .bind(card.id)
                    .bind(card.org_id)
                    .bind(card.board_id)
                    .bind(card.column_id)
                    .bind(&card.position)
                    .bind(&card.title)
                    .bind(&card.description)
                    .bind(card.customer_id)
                    .bind(Json(&card.labels))
                    .bind(card.due_at)
                    .bind(card.version)
                    .bind(card.archived)
                    .bind(t)
                    .bind(&card.priority)
                    .bind(card.estimate_minutes)
                    .execute(&mut *tx)
                    .await
                    .map_err(|e| map_err(e, "card"))?;
                    sqlx::query("DELETE FROM card_assignees WHERE card_id = $1 AND board_id = $2")
                        .bind(card.id)
                        .bind(card.board_id)
                        .execute(&mut *tx)
                        .await?;
                    for user_id in &card.assignees {
                        sqlx::query(
                            "INSERT INTO card_assignees (org_id, board_id, card_id, user_id) VALUES ($1, $2, $3, $4)",
                        )
                        .bind(card.org_id)
                        .bind(card.board_id)
                        .bind(card.id)
                        .bind(user_id)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, "assignee"))?;
                    }
                    sqlx::query("DELETE FROM checklist_items WHERE card_id = $1 AND board_id = $2")
                        .bind(card.id)
                        .bind(card.board_id)
                        .execute(&mut *tx)
                        .await?;
                    for item in &card.checklist {
                        sqlx::query(
                            "INSERT INTO checklist_items (id, org_id, board_id, card_id, title, done, position, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                        )
                        .bind(item.id)
                        .bind(card.org_id)
                        .bind(card.board_id)
                        .bind(card.id)
                        .bind(&item.title)
                        .bind(item.done)
                        .bind(&item.position)
                        .bind(t)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, "checklist item"))?;
                    }
                    for cm in &card.comments {
                        sqlx::query(
                            "INSERT INTO comments (id, org_id, board_id, card_id, author_id, body, mentions, created_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (id) DO NOTHING",
                        )
                        .bind(cm.id)
                        .bind(card.org_id)
                        .bind(card.board_id)
                        .bind(card.id)
                        .bind(cm.author_id)
                        .bind(&cm.body)
                        .bind(Json(&cm.mentions))
                        .bind(cm.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(|e| map_err(e, "comment"))?;
                    }
                }
            }
        }
        // Many rows per statement: one round trip for a whole batch's events.
        for chunk in c.events.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO board_events (org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip) ",
            );
            qb.push_values(chunk, |mut b, e| {
                b.push_bind(e.org_id)
                    .push_bind(e.board_id)
                    .push_bind(e.epoch)
                    .push_bind(e.seq)
                    .push_bind(e.op_id)
                    .push_bind(e.kind.as_str())
                    .push_bind(Json(&e.data))
                    .push_bind(Json(&e.actor))
                    .push_bind(e.at)
                    .push_bind(e.ip.as_deref());
            });
            qb.build()
                .execute(&mut *tx)
                .await
                .map_err(|err| map_err(err, "event"))?;
        }
        for chunk in c.ops.chunks(500) {
            let mut qb = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) ",
            );
            qb.push_values(chunk, |mut b, op| {
                b.push_bind(c.org_id)
                    .push_bind(c.board_id)
                    .push_bind(op.op_id)
                    .push_bind(op.principal_id)
                    .push_bind(op.epoch)
                    .push_bind(op.seq)
                    .push_bind(op.result_id)
                    .push_bind(t);
            });
            qb.push(" ON CONFLICT (board_id, op_id) DO NOTHING");
            qb.build().execute(&mut *tx).await?;
        }
        for n in c.notifications.iter().copied() {
            sqlx::query(
                "INSERT INTO notifications (id, org_id, user_id, kind, board_id, card_id, title, body, actor, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING",
            )
            .bind(n.id)
            .bind(n.org_id)
            .bind(n.user_id)
            .bind(&n.kind)
            .bind(n.board_id)
            .bind(n.card_id)
            .bind(&n.title)
            .bind(&n.body)
            .bind(Json(&n.actor))
            .bind(n.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| map_err(e, "notification"))?;
        }
    }
    tx.commit().await?;
    Ok(fenced)
}
