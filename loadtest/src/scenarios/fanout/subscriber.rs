//! The subscribers: one connection each, subscribed to its board, counting every delivery's
//! latency and sequence until the run ends.

use super::{Shared, Target};
use crate::accounting::{Seen, SeqTracker};
use crate::client::{self, close_key, frame_len, parse_delivery, room, Incoming, ServerKind, Ws};
use anyhow::{bail, Result};
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// What each subscriber task hands back.
pub(super) struct SubEnd {
    pub(super) board: usize,
    pub(super) tracker: SeqTracker,
    pub(super) error: Option<String>,
}

pub(super) async fn open_subscriber(
    kind: ServerKind,
    t: &Target,
    index: usize,
    board: usize,
    source: Option<IpAddr>,
) -> Result<(Ws, u64)> {
    match (kind, t) {
        (
            ServerKind::Boardroom,
            Target::Boardroom {
                session,
                boards,
                viewers,
            },
        ) => {
            let auth = match (viewers, index % 4) {
                (Some(v), 1) => &v.worker,
                (Some(v), 3) => &v.customer,
                _ => &session.auth,
            };
            let mut ws = client::br_connect(auth, source).await?;
            let seq = client::br_subscribe(&mut ws, auth.codec, boards[board].0, "sub").await?;
            Ok((ws, seq))
        }
        (ServerKind::Bare, Target::Peer { url }) => Ok((
            client::bare_connect(url, Some(&room(board)), source).await?,
            0,
        )),
        (ServerKind::Socketio, Target::Peer { url }) => Ok((
            client::sio_connect(url, Some(&room(board)), source).await?,
            0,
        )),
        _ => bail!("server kind and target disagree"),
    }
}

pub(super) async fn run_subscriber(
    mut ws: Ws,
    shared: Arc<Shared>,
    index: usize,
    board: usize,
    mut tracker: SeqTracker,
    mut stop: watch::Receiver<bool>,
) -> SubEnd {
    let mut error = None;
    loop {
        let msg = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = stop.changed() => break,
        };
        let msg = match msg {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                error = Some(format!("read error: {e}"));
                break;
            }
            None => {
                error = Some("connection ended".into());
                break;
            }
        };
        if let Message::Close(_) = msg {
            error = Some(close_key(&msg));
            break;
        }
        match parse_delivery(shared.kind, shared.codec, &msg, board, shared.boards) {
            Ok(Incoming::Delivery {
                stream,
                seq,
                sent_us,
            }) => {
                if tracker.observe(stream, seq) != Seen::Duplicate {
                    shared.record(index, sent_us);
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    shared
                        .bytes
                        .fetch_add(frame_len(&msg) as u64, Ordering::Relaxed);
                }
            }
            Ok(Incoming::Reply(r)) => {
                if ws.send(Message::Text(r.into())).await.is_err() {
                    error = Some("write error".into());
                    break;
                }
            }
            Ok(Incoming::Other) => {}
            Err(e) => {
                error = Some(format!("undecodable frame: {e}"));
                break;
            }
        }
    }
    SubEnd {
        board,
        tracker,
        error,
    }
}
