//! HTTP parity with the WebSocket: a board's snapshot, applying ops, reading the event log,
//! notifications. Ops and marking notifications read are `crate::commands`, shared with the
//! socket, so they meet the same rules, refusals and budgets.

use super::access::live_board;
use super::extract::{Acting, Body};
use super::params::{Path, Query};
use crate::app::AppState;
use crate::auth::session::Caller;
use crate::commands::op::OpCommand;
use crate::commands::Sender;
use crate::error::{ApiError, ApiResult};
use crate::realtime::convert;
use axum::http::StatusCode;
use axum::Json;
use boardroom_actors::live::board::{unanswered, BoardMsg, OpReply};
use boardroom_actors::policy::Action;
use boardroom_protocol::{OpRequest, Snapshot};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;

pub async fn snapshot(
    Acting { state, caller, .. }: Acting,
    Path(board_id): Path<Uuid>,
) -> ApiResult<Json<Value>> {
    let (epoch, seq, snap) = released_snapshot(&state, &caller, board_id).await?;
    let mut v = match snap {
        Snapshot::Board(b) => json!(b),
        other => json!(other),
    };
    v["epoch"] = json!(epoch);
    v["seq"] = json!(seq);
    Ok(Json(v))
}

/// The board as the caller may see it, from the board actor's released state, with its
/// `(epoch, seq)`: the snapshot endpoint and the card search read the same thing.
pub(super) async fn released_snapshot(
    state: &AppState,
    caller: &Caller,
    board_id: Uuid,
) -> ApiResult<(u64, u64, Snapshot)> {
    let (_, p) = live_board(
        state,
        caller,
        board_id,
        Action::ReadBoard,
        "read this board",
    )
    .await?;
    let (tx, rx) = oneshot::channel();
    // A refused message drops `tx` at once, so both failures end up below.
    state
        .rt
        .boards
        .send(
            board_id,
            BoardMsg::Snapshot {
                view: Arc::new(p),
                reply: tx,
            },
        )
        .await;
    match rx.await {
        Ok(Some(answer)) => Ok(answer),
        Ok(None) => Err(ApiError::not_found("board")),
        // The actor stopped before answering (restart, shutdown): the board comes back on its
        // next use.
        Err(_) => Err(ApiError::from(unanswered(None))),
    }
}

/// `POST /boards/{id}/ops`: the op command, its answer awaited and rendered as HTTP.
pub async fn apply_op(
    Acting { state, caller, ip }: Acting,
    Path(board_id): Path<Uuid>,
    Body(req): Body<OpRequest>,
) -> ApiResult<Json<Value>> {
    let (tx, rx) = oneshot::channel();
    let cmd = OpCommand {
        board_id,
        op_id: req.op_id,
        op: req.op,
        ip: Some(ip),
    };
    // Every outcome, a refusal before the board included, comes back through the reply.
    let _ = state
        .commands
        .op(Sender::Request(&caller), cmd, OpReply::http(tx))
        .await;
    match rx.await {
        Ok(Ok(r)) => Ok(Json(json!(r))),
        Ok(Err(e)) => Err(ApiError::from(e)),
        // Cannot happen (the reply answers when dropped); said the same way if it ever does.
        Err(_) => Err(ApiError::from(unanswered(None))),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    after_seq: Option<i64>,
    limit: Option<i64>,
}

pub async fn events(
    Acting { state, caller, .. }: Acting,
    Path(board_id): Path<Uuid>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Json<Value>> {
    let (board, _) = live_board(
        &state,
        &caller,
        board_id,
        Action::ReadBoardEvents,
        "read the event log",
    )
    .await?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_field(
            "limit",
            "limit must be between 1 and 1000",
        ));
    }
    let after = q.after_seq.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::bad_field(
            "after_seq",
            "after_seq must not be negative",
        ));
    }
    let events: Vec<Value> = state
        .store
        .events_after(board_id, after, limit)
        .await?
        .iter()
        .filter_map(convert::event_frame)
        .map(|f| json!(boardroom_protocol::ServerFrame::Event(f)))
        .collect();
    Ok(Json(json!({ "epoch": board.epoch, "events": events })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotificationsQuery {
    unread: Option<bool>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A notifications cursor: the `(created_at, id)` of the last one of a page.
fn notification_cursor(text: &str) -> ApiResult<(chrono::DateTime<chrono::Utc>, Uuid)> {
    let bad = || ApiError::bad_field("cursor", "not a cursor this list gave out");
    let (at, id) = text.split_once('\0').ok_or_else(bad)?;
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad())?
        .with_timezone(&chrono::Utc);
    Ok((at, id.parse().map_err(|_| bad())?))
}

pub async fn notifications(
    Acting { state, caller, .. }: Acting,
    Query(q): Query<NotificationsQuery>,
) -> ApiResult<Json<Value>> {
    let user = state
        .commands
        .notification_owner(Sender::Request(&caller))?;
    let limit = q.limit.unwrap_or(50).clamp(1, 500);
    let before = match q.cursor.as_deref() {
        Some(c) => Some(notification_cursor(&super::page::decode(c)?)?),
        None => None,
    };
    let unread_only = q.unread.unwrap_or(false);
    let rows = state
        .store
        .list_notifications(user, unread_only, before, limit + 1)
        .await?;
    let more = rows.len() as i64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let next_cursor = more.then(|| page.last()).flatten().map(|n| {
        super::page::encode(&format!(
            "{}\0{}",
            super::page::time_key(&n.created_at),
            n.id
        ))
    });
    let list: Vec<Value> = page
        .iter()
        .filter_map(convert::notification)
        .map(|n| json!(n))
        .collect();
    let unread = state.store.unread_count(user).await?;
    let total = state.store.count_notifications(user, unread_only).await?;
    Ok(Json(json!({
        "notifications": list,
        "unread": unread,
        "total": total,
        "next_cursor": next_cursor,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadBody {
    ids: Option<Vec<Uuid>>,
    all: Option<bool>,
}

pub async fn mark_read(
    Acting { state, caller, .. }: Acting,
    Body(b): Body<ReadBody>,
) -> ApiResult<Json<Value>> {
    // Who may is answered before what they sent, as before the command layer.
    let who = Sender::Request(&caller);
    state.commands.notification_owner(who)?;
    let ids = match (b.ids, b.all) {
        (Some(ids), None | Some(false)) => Some(ids),
        (None, Some(true)) => None,
        _ => {
            return Err(ApiError::bad_field(
                "ids",
                "send `ids` or `\"all\":true`, not both",
            ))
        }
    };
    let unread = state.commands.mark_read(who, ids.as_deref()).await?;
    Ok(Json(json!({ "unread": unread })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PanicBody {
    when: Option<PanicWhen>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum PanicWhen {
    /// Fail now, between messages (requests queued or waiting for their commit are cut off).
    Now,
    /// Fail in the middle of handling the next op.
    NextOp,
}

/// Test-only (routed only with `realtime.debug_endpoints`, in dev mode): makes a board actor fail, to exercise supervision
/// and what requests in flight get. Body `{"when":"now"}` (the default) or
/// `{"when":"next_op"}`.
pub async fn debug_panic(
    Acting { state, caller, .. }: Acting,
    Path(board_id): Path<Uuid>,
    Body(body): Body<PanicBody>,
) -> ApiResult<StatusCode> {
    live_board(&state, &caller, board_id, Action::ArchiveBoard, "do that").await?;
    let msg = match body.when.unwrap_or(PanicWhen::Now) {
        PanicWhen::Now => BoardMsg::Panic,
        PanicWhen::NextOp => BoardMsg::PanicOnNextOp,
    };
    // `get`, not `tell`: arming a board that is not running starts it, so the next op does
    // meet the armed actor.
    let actor = state
        .rt
        .boards
        .get(board_id)
        .await
        .map_err(ApiError::from)?;
    actor
        .cast(msg)
        .map_err(|_| ApiError::from(unanswered(None)))?;
    Ok(StatusCode::ACCEPTED)
}

/// Test-only (routed only with `realtime.debug_endpoints`, in dev mode): the caller's own live WebSocket sessions (those of
/// this user, or of this API key) fail on their next frame, to exercise how the server closes
/// a session that broke (1011) and cleans up after it. Answers how many were armed.
pub async fn debug_session_panic(
    Acting { state, caller, .. }: Acting,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let key = match &caller {
        Caller::User { user_id } => *user_id,
        Caller::ApiKey(k) => k.id,
    };
    let n = state.rt.sessions.fail_on_next_frame(key);
    Ok((StatusCode::ACCEPTED, Json(json!({ "sessions": n }))))
}
