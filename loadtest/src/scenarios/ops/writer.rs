//! The writers: boards and cards to write to, and one WebSocket per writer keeping a window
//! of `card.update` ops in flight at a paced rate.

use crate::boardroom::{self, Session};
use crate::client::{br_message, Ws};
use crate::stats;
use anyhow::Result;
use boardroom_protocol::{Codec, Ref, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// Creates `boards` boards with `cards` cards each; returns every (board, card).
pub(super) async fn setup(s: &Session, boards: usize, cards: usize) -> Result<Vec<(Uuid, Uuid)>> {
    let mut out = Vec::with_capacity(boards * cards);
    for i in 0..boards {
        let (board_id, col) = boardroom::create_board(s, &format!("ops {i}")).await?;
        for _ in 0..cards {
            let card_id = Uuid::now_v7();
            boardroom::http_op(
                s,
                board_id,
                "card.create",
                json!({"column_id": col, "title": "ops", "card_id": card_id}),
            )
            .await?;
            out.push((board_id, card_id));
        }
    }
    Ok(out)
}

fn update_frame(codec: Codec, board: Uuid, card: Uuid, r: i64, op_id: Uuid) -> Result<Message> {
    let f = serde_json::from_value(json!({
        "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.update", "data": {"card_id": card, "title": format!("t{r}")}
    }))?;
    br_message(codec, &f)
}

/// What one writer hands back.
#[derive(Default)]
pub(super) struct WriterEnd {
    pub(super) sent_in_window: u64,
    pub(super) acked_in_window: u64,
    pub(super) acked: Vec<Uuid>,
    pub(super) errors: BTreeMap<String, u64>,
    pub(super) hist: Option<hdrhistogram::Histogram<u64>>,
}

/// The measured window (after the warm-up) and how long to wait for late answers after it.
#[derive(Clone, Copy)]
pub(super) struct Window {
    pub(super) start: Instant,
    pub(super) end: Instant,
    pub(super) drain: Duration,
}

/// How a writer paces its ops: closed loop (keep `window` in flight) or open loop (one op
/// every `interval` on a fixed schedule, at most `window` in flight).
#[derive(Clone, Copy)]
pub(super) struct Pace {
    pub(super) window: usize,
    pub(super) interval: Option<Duration>,
    /// Open loop: this writer's first send time (writers are staggered over one interval).
    pub(super) first: Option<Instant>,
}

pub(super) async fn writer(
    mut ws: Ws,
    codec: Codec,
    targets: Arc<Vec<(Uuid, Uuid)>>,
    w: usize,
    pace: Pace,
    times: Window,
) -> WriterEnd {
    let Window { start, end, drain } = times;
    let mut out = WriterEnd {
        hist: Some(stats::histogram()),
        ..Default::default()
    };
    let mut inflight: HashMap<i64, (Instant, Uuid)> = HashMap::new();
    let mut next: i64 = 0;
    let mut due = pace.first;
    // Writer w starts at target w and steps by 1: writers spread evenly over the cards.
    let n = targets.len();
    loop {
        let now = Instant::now();
        while inflight.len() < pace.window && now < end && due.is_none_or(|d| d <= now) {
            next += 1;
            let (board, card) = targets[(w + next as usize) % n];
            let op_id = Uuid::now_v7();
            let msg = match update_frame(codec, board, card, next, op_id) {
                Ok(m) => m,
                Err(e) => {
                    *out.errors.entry(format!("encode: {e}")).or_default() += 1;
                    return out;
                }
            };
            // Open loop: latency counts from the scheduled send time, so a server that falls
            // behind shows as latency rather than as a slower sender.
            let at = match (&mut due, pace.interval) {
                (Some(d), Some(i)) => {
                    let at = *d;
                    *d += i;
                    at
                }
                _ => Instant::now(),
            };
            if at >= start {
                out.sent_in_window += 1;
            }
            inflight.insert(next, (at, op_id));
            if ws.send(msg).await.is_err() {
                *out.errors.entry("send failed".into()).or_default() += 1;
                return out;
            }
        }
        let now = Instant::now();
        if inflight.is_empty() && (now >= end || due.is_none()) {
            return out;
        }
        let deadline = if now < end { end + drain } else { now + drain };
        // Wake for the next scheduled op too (open loop, in the window, room in flight).
        let wake = due.filter(|_| now < end && inflight.len() < pace.window);
        let next_msg = async {
            match wake {
                Some(d) => tokio::time::timeout_at(d.into(), ws.next()).await.ok(),
                None => Some(ws.next().await),
            }
        };
        let msg = match tokio::time::timeout_at(deadline.into(), next_msg).await {
            Ok(None) => continue,
            Ok(Some(Some(Ok(m)))) => m,
            Ok(Some(Some(Err(e)))) => {
                *out.errors.entry(format!("socket: {e}")).or_default() += 1;
                return out;
            }
            Ok(Some(None)) => {
                *out.errors.entry("closed".into()).or_default() += 1;
                return out;
            }
            Err(_) => {
                *out.errors
                    .entry("no answer (drain timeout)".into())
                    .or_default() += inflight.len() as u64;
                return out;
            }
        };
        let frame = match &msg {
            Message::Text(t) => codec.decode_server(t.as_bytes()),
            Message::Binary(b) => codec.decode_server(b),
            Message::Close(c) => {
                *out.errors
                    .entry(format!(
                        "closed {}",
                        c.as_ref().map(|c| u16::from(c.code)).unwrap_or(0)
                    ))
                    .or_default() += 1;
                return out;
            }
            _ => continue,
        };
        match frame {
            Ok(ServerFrame::Ok(ok)) => {
                if let Some(Ref::Int(r)) = ok.r#ref {
                    if let Some((at, op_id)) = inflight.remove(&r) {
                        let got = Instant::now();
                        out.acked.push(op_id);
                        if at >= start && got <= end {
                            out.acked_in_window += 1;
                        }
                        // Every op sent in the window counts for latency, also when its answer
                        // comes after the window (leaving those out would flatter the tail).
                        if at >= start && at < end {
                            if let Some(h) = out.hist.as_mut() {
                                h.saturating_record((got - at).as_micros().max(1) as u64);
                            }
                        }
                    }
                }
            }
            Ok(ServerFrame::Error(e)) => {
                if let Some(Ref::Int(r)) = e.r#ref {
                    inflight.remove(&r);
                }
                *out.errors.entry(e.code.as_str().to_string()).or_default() += 1;
            }
            Ok(_) => {}
            Err(e) => {
                *out.errors.entry(format!("decode: {e}")).or_default() += 1;
            }
        }
    }
}
