//! `GET /api/v1/boards/{board}/cards?status=&q=&customer=&limit=&cursor=`: finding jobs on
//! a board. It searches the board actor's live state as the caller may see it (the same
//! snapshot a subscribe would give), so it is as fresh as the socket and needs no visibility
//! rule of its own; the matching itself is `actors::domain::find_cards`. Archived cards are
//! not in a board snapshot and are not found.

use super::extract::Acting;
use super::live::released_snapshot;
use super::page;
use super::params::{Path, Query};
use crate::error::{ApiError, ApiResult};
use axum::Json;
use boardroom_actors::domain::{find_cards, CardFilter, SortKey};
use boardroom_protocol::Snapshot;
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// A column id or name (a job's status).
    status: Option<String>,
    /// Words to find in the title or description.
    q: Option<String>,
    customer: Option<Uuid>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// The cursor's text: the three parts of the sort key, NUL-separated (positions and ids
/// never hold a NUL).
fn cursor_text(k: &SortKey) -> String {
    format!("{}\0{}\0{}", k.column_position, k.card_position, k.card_id)
}

fn sort_key(text: &str) -> ApiResult<SortKey> {
    let bad = || ApiError::bad_field("cursor", "not a cursor this list gave out");
    let mut parts = text.split('\0');
    let (Some(c), Some(p), Some(id), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    Ok(SortKey {
        column_position: c.to_string(),
        card_position: p.to_string(),
        card_id: id.parse().map_err(|_| bad())?,
    })
}

pub async fn search(
    Acting { state, caller, .. }: Acting,
    Path(board_id): Path<Uuid>,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let (limit, after) = page::parse(
        q.limit,
        q.cursor.as_deref(),
        state.config.limits.max_page_items,
    )?;
    let after = after.as_deref().map(sort_key).transpose()?;
    let (epoch, seq, snap) = released_snapshot(&state, &caller, board_id).await?;
    let Snapshot::Board(board) = snap else {
        return Err(ApiError::internal());
    };
    let filter = CardFilter {
        status: q.status.filter(|s| !s.trim().is_empty()),
        text: q.q.filter(|s| !s.trim().is_empty()),
        customer_id: q.customer,
    };
    let found = find_cards(&board, &filter, after.as_ref(), limit);
    Ok(Json(json!({
        "cards": found.cards,
        "total": found.total,
        "next_cursor": found.next.as_ref().map(|k| page::encode(&cursor_text(k))),
        "epoch": epoch,
        "seq": seq,
    })))
}
