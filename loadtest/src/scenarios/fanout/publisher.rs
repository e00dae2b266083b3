//! The publishers: open-loop sends at a scheduled rate, each message stamped with its
//! scheduled time, and (Boardroom) the reader that matches acks to their sends.

use super::Target;
use crate::client::{self, close_key, peer_payload, room, stamp_title, PathKind, ServerKind, Ws};
use crate::stats::{now_us, us_at, Sharded};
use boardroom_protocol::{ClientFrame, Codec};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

pub(super) struct PubStats {
    pub(super) sent: AtomicU64,
    pub(super) acked: AtomicU64,
    pub(super) errors: Mutex<BTreeMap<String, u64>>,
    pub(super) ack_hist: Sharded,
    /// ref -> scheduled send time, for ack latency (Boardroom).
    pub(super) inflight: Mutex<HashMap<i64, u64>>,
}

impl PubStats {
    fn error(&self, key: impl Into<String>) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(key.into()).or_default() += 1;
        }
    }
}

pub(super) type Sink = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

/// Reads a publisher's socket: Boardroom acks and errors, Socket.IO pings.
pub(super) async fn publisher_reader(
    mut rx: futures_util::stream::SplitStream<Ws>,
    sink: Sink,
    kind: ServerKind,
    codec: Codec,
    stats: Arc<PubStats>,
    shard: usize,
) {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(rename = "type", borrow)]
        ty: std::borrow::Cow<'a, str>,
        #[serde(rename = "ref", default)]
        r: Option<serde_json::Value>,
        #[serde(default, borrow)]
        code: Option<std::borrow::Cow<'a, str>>,
    }
    while let Some(msg) = rx.next().await {
        let Ok(msg) = msg else {
            stats.error("publisher read error");
            return;
        };
        match (&msg, kind) {
            (Message::Close(_), _) => {
                stats.error(format!("publisher {}", close_key(&msg)));
                return;
            }
            (Message::Text(_) | Message::Binary(_), ServerKind::Boardroom) => {
                let reply: Option<Reply<'_>> = match &msg {
                    Message::Text(t) if !codec.is_binary() => serde_json::from_str(t).ok(),
                    Message::Binary(b) if codec.is_binary() => rmp_serde::from_slice(b).ok(),
                    _ => None,
                };
                let Some(reply) = reply else { continue };
                let r = reply.r.as_ref().and_then(|v| v.as_i64());
                match (reply.ty.as_ref(), r) {
                    ("ok", Some(r)) => {
                        let sent = stats.inflight.lock().ok().and_then(|mut m| m.remove(&r));
                        if let Some(sent) = sent {
                            stats.acked.fetch_add(1, Ordering::Relaxed);
                            stats.ack_hist.record(shard, now_us().saturating_sub(sent));
                        }
                    }
                    ("error", r) => {
                        if let Some(r) = r {
                            if let Ok(mut m) = stats.inflight.lock() {
                                m.remove(&r);
                            }
                        }
                        stats.error(reply.code.as_deref().unwrap_or("error").to_string());
                    }
                    _ => {}
                }
            }
            (Message::Text(t), ServerKind::Socketio) => {
                if let Ok(crate::engineio::Eio::Ping(d)) = crate::engineio::decode_eio(t) {
                    let pong = crate::engineio::pong_frame(d);
                    let _ = sink.lock().await.send(Message::Text(pong.into())).await;
                }
            }
            _ => {}
        }
    }
}

pub(super) struct PubPlan {
    pub(super) index: usize,
    pub(super) boards: Vec<usize>,
    pub(super) rate: f64,
    pub(super) start: Instant,
    pub(super) end: Instant,
}

/// The publish loop; returns, per board served, the last sequence number it sent.
pub(super) async fn publish(
    sink: Sink,
    plan: PubPlan,
    kind: ServerKind,
    path: PathKind,
    target: Arc<Target>,
    pad: String,
    stats: Arc<PubStats>,
) -> HashMap<usize, u64> {
    let mut last: HashMap<usize, u64> = plan.boards.iter().map(|&b| (b, 0)).collect();
    if plan.boards.is_empty() || plan.rate <= 0.0 {
        return last;
    }
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let codec = target.auth().map(|a| a.codec).unwrap_or(Codec::Json);
    let mut k: u64 = 0;
    loop {
        let due = plan.start + period.mul_f64(k as f64);
        if due >= plan.end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        let mut sink = sink.lock().await;
        loop {
            let due = plan.start + period.mul_f64(k as f64);
            if due > now || due >= plan.end {
                break;
            }
            let board = plan.boards[(k as usize) % plan.boards.len()];
            let n = last.get(&board).copied().unwrap_or(0) + 1;
            let t = us_at(due);
            // Unique over publishers: the acks of all of them share one in-flight map.
            let r = (plan.index as i64) << 40 | (k as i64 + 1);
            let msg = match (kind, path, target.as_ref()) {
                (ServerKind::Boardroom, _, Target::Boardroom { boards, .. }) => {
                    let (board_id, card_id) = boards[board];
                    let frame = match path {
                        PathKind::Op => json!({"type": "op", "ref": r,
                            "topic": format!("board:{board_id}"), "op_id": Uuid::now_v7(),
                            "kind": "card.update",
                            "data": {"card_id": card_id, "title": stamp_title(t)}}),
                        PathKind::Presence => json!({"type": "presence.set", "ref": r,
                            "topic": format!("board:{board_id}"),
                            "state": {"focus": null, "editing": false,
                                      "lt": [plan.index, n, t]}}),
                    };
                    let frame: ClientFrame =
                        serde_json::from_value(frame).expect("a valid client frame");
                    if let Ok(mut m) = stats.inflight.lock() {
                        m.insert(r, t);
                    }
                    match client::br_message(codec, &frame) {
                        Ok(m) => m,
                        Err(e) => {
                            stats.error(format!("encode: {e}"));
                            return last;
                        }
                    }
                }
                (ServerKind::Bare, _, _) => Message::Text(
                    format!(
                        "pub {} {}",
                        room(board),
                        peer_payload(plan.index, board, n, t, &pad)
                    )
                    .into(),
                ),
                (ServerKind::Socketio, _, _) => Message::Text(
                    crate::engineio::event_frame(
                        None,
                        "pub",
                        &[
                            &format!("\"{}\"", room(board)),
                            &peer_payload(plan.index, board, n, t, &pad),
                        ],
                    )
                    .into(),
                ),
                _ => return last,
            };
            if sink.feed(msg).await.is_err() {
                stats.error("publisher write error");
                return last;
            }
            stats.sent.fetch_add(1, Ordering::Relaxed);
            last.insert(board, n);
            k += 1;
        }
        if sink.flush().await.is_err() {
            stats.error("publisher write error");
            return last;
        }
    }
    last
}
