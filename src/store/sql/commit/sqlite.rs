//! SQLite's group commit: in process there are no round trips to save, so each board is
//! written on its own, with the same statements a card or column gets outside the
//! write-behind, and its events, applied ops and notifications in multi-row inserts.

use super::super::boards::sqlite::write_card;
use super::super::boards::sqlite::write_column_change;
use super::super::insert::sqlite::insert_rows;
use super::*;

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
                RowChange::UpsertCard(card) => write_card(&mut tx, card, t, true).await?,
                column => write_column_change(&mut tx, column, t).await?,
            }
        }
        insert_rows(
            &mut tx,
            "INSERT INTO board_events (org_id, board_id, epoch, seq, op_id, kind, data, actor, at, ip) ",
            &c.events,
            "",
            |mut b, e| {
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
            },
        )
        .await
        .map_err(|err| map_err(err, "event"))?;
        insert_rows(
            &mut tx,
            "INSERT INTO applied_ops (org_id, board_id, op_id, principal_id, epoch, seq, result_id, at) ",
            &c.ops,
            " ON CONFLICT (board_id, op_id) DO NOTHING",
            |mut b, op| {
                b.push_bind(c.org_id)
                    .push_bind(c.board_id)
                    .push_bind(op.op_id)
                    .push_bind(op.principal_id)
                    .push_bind(op.epoch)
                    .push_bind(op.seq)
                    .push_bind(op.result_id)
                    .push_bind(t);
            },
        )
        .await?;
        insert_rows(
            &mut tx,
            "INSERT INTO notifications (id, org_id, user_id, kind, board_id, card_id, title, body, actor, created_at) ",
            &c.notifications,
            " ON CONFLICT (id) DO NOTHING",
            |mut b, n| {
                b.push_bind(n.id)
                    .push_bind(n.org_id)
                    .push_bind(n.user_id)
                    .push_bind(n.kind.as_str())
                    .push_bind(n.board_id)
                    .push_bind(n.card_id)
                    .push_bind(n.title.as_str())
                    .push_bind(n.body.as_str())
                    .push_bind(Json(&n.actor))
                    .push_bind(n.created_at);
            },
        )
        .await
        .map_err(|e| map_err(e, "notification"))?;
    }
    tx.commit().await?;
    Ok(fenced)
}
