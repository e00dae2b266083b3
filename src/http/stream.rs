//! `GET /api/v1/stream?topic=…&token=…`: the same events as a subscription, as Server-Sent
//! Events, for clients that cannot hold a WebSocket (the customer job page falls back to it).
//! The credential comes as `Authorization: Bearer …` (what HTTP clients and proxies expect,
//! and it stays out of access logs) or, for browsers' `EventSource`, which cannot set
//! headers, as the `token` query parameter.
//! Each `event` frame is one SSE event with `id: <epoch>:<seq>`, so a reconnecting browser's
//! `Last-Event-ID` resumes exactly like a subscribe with `since`.

use super::params::Query;
use crate::app::AppState;
use crate::auth::session::bearer;
use crate::commands::subscribe::Subscription;
use crate::error::{ApiError, ApiResult};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use boardroom_actors::live::board::BoardMsg;
use boardroom_actors::live::conn::ConnHandle;
use boardroom_protocol::{Codec, ErrorCode, ServerFrame, Since, Topic};
use futures_util::Stream;
use serde::Deserialize;
use std::convert::Infallible;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamQuery {
    topic: String,
    token: Option<String>,
}

/// `"<epoch>:<seq>"` -> `Since`.
fn parse_last_event_id(v: &str) -> Option<Since> {
    let (e, s) = v.split_once(':')?;
    Some(Since {
        epoch: e.trim().parse().ok()?,
        seq: s.trim().parse().ok()?,
    })
}

pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<StreamQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let topic: Topic = q
        .topic
        .parse()
        .map_err(|e: boardroom_protocol::TopicError| ApiError::bad_field("topic", e.to_string()))?;
    let token = bearer(&headers)?
        .map(String::from)
        .or(q.token)
        .ok_or_else(|| {
            ApiError::unauthorized("missing credential: `Authorization: Bearer` header or `token`")
        })?;
    let auth = state.credentials.session(&token).await?;
    // The stream serves what a socket may subscribe to that has events: boards and cards.
    if matches!(topic, Topic::Org(_) | Topic::User(_)) {
        return Err(ApiError::bad_field(
            "topic",
            "the stream serves board:<id> and card:<id> topics",
        ));
    }
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(parse_last_event_id);
    let limits = &state.config.limits;
    let (conn, mut rx) = ConnHandle::bounded(
        Codec::Json,
        limits.send_queue_frames,
        limits.send_queue_bytes,
        state.config.realtime.fanout_backlog_frames.max(1),
    );
    let taken = match state
        .commands
        .subscribe(&auth, topic, since, &conn, None)
        .await?
    {
        Subscription::Board(id) => Some(id),
        // The refusal is already queued: it is the first frame, read below.
        Subscription::NotTaken => None,
        Subscription::Org(_) => return Err(ApiError::internal()),
    };
    // The board's answer decides the HTTP status: a topic this credential may not read is a
    // 404 like any other unknown resource, not a 200 stream carrying an `error` event.
    let first = tokio::select! {
        wire = rx.recv() => wire.ok_or_else(restarting)?,
        _ = conn.closed() => return Err(restarting()),
    };
    if let Ok(ServerFrame::Error(e)) = Codec::Json.decode_server(&first) {
        return Err(ApiError::from(e));
    }
    let Some(board_id) = taken else {
        return Err(restarting());
    };
    state.rt.sessions.add(&auth, conn.clone());
    // An expiring API key ends its streams when it expires, as it closes its sockets (4003).
    let key_expiry = auth.is_api_key().then_some(auth.expires_at).flatten();
    let rt = state.rt.clone();
    let stream = async_stream(move |emit| async move {
        let mut pending = Some(first);
        let expiry = tokio::time::sleep_until(key_expiry.unwrap_or_else(tokio::time::Instant::now));
        tokio::pin!(expiry);
        loop {
            let wire = match pending.take() {
                Some(w) => Some(w),
                None => tokio::select! {
                    wire = rx.recv() => wire,
                    _ = emit.closed() => break,
                    code = conn.closed() => {
                        let _ = emit.send(Ok(Event::default().event("close").data(code.to_string()))).await;
                        break;
                    }
                    () = &mut expiry, if key_expiry.is_some() => {
                        let code = boardroom_protocol::close::CREDENTIALS_REVOKED;
                        let _ = emit.send(Ok(Event::default().event("close").data(code.to_string()))).await;
                        break;
                    }
                },
            };
            let Some(wire) = wire else { break };
            let Some(ev) = sse_event(&wire) else { continue };
            if emit.send(Ok(ev)).await.is_err() {
                break;
            }
        }
        rt.hub.unsubscribe(&topic, conn.id);
        rt.boards.tell(
            board_id,
            BoardMsg::Leave {
                conn: conn.id,
                topic,
            },
        );
        rt.sessions.remove(&auth, conn.id);
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

fn restarting() -> ApiError {
    ApiError::new(ErrorCode::Unavailable, "the board is restarting; retry")
}

/// One frame as an SSE event named for its `type`; events carry `id: <epoch>:<seq>`.
fn sse_event(wire: &[u8]) -> Option<Event> {
    let text = std::str::from_utf8(wire).ok()?;
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let kind = v["type"].as_str().unwrap_or("message").to_string();
    let mut ev = Event::default().event(kind).data(text);
    if v["type"] == "event" {
        ev = ev.id(format!("{}:{}", v["epoch"], v["seq"]));
    }
    Some(ev)
}

/// A stream fed by a task: the task ends (and cleans up) when the client goes away.
fn async_stream<F, Fut>(f: F) -> impl Stream<Item = Result<Event, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Result<Event, Infallible>>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(16);
    tokio::spawn(f(tx));
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: tokio::sync::mpsc::Receiver<Result<Event, Infallible>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}
