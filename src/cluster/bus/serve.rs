//! The owning side: answering other nodes' requests for boards this node owns.

use super::Bus;
use crate::cluster::wire::{self, Message, Reply, Request, WireEvent};
use boardroom_actors::live::board::{BoardMsg, OpReply, Owed, SubscribeReq};
use boardroom_actors::live::{ConnHandle, Route};
use boardroom_protocol::{ErrorCode, ErrorReply};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

impl Bus {
    /// A request from another node for a board this node owns.
    pub(super) async fn on_request(
        self: Arc<Self>,
        from: String,
        id: u64,
        board_id: Uuid,
        req: Request,
    ) {
        let reply = self.answer(&from, board_id, req).await;
        if id != 0 {
            if let Some(reply) = reply {
                self.publish(
                    wire::inbox(&self.prefix, &from),
                    &Message::Reply { id, reply },
                );
            }
        }
    }

    pub(super) async fn answer(&self, from: &str, board_id: Uuid, req: Request) -> Option<Reply> {
        let moved = || {
            let mut e = ErrorReply::new(
                None,
                ErrorCode::Unavailable,
                "the board is moving between nodes; retry",
            );
            e.retry_after_ms = Some(200);
            Some(Reply::Error(e))
        };
        let reg = self.registry()?;
        let actor = match &req {
            // A leave for a board that is not running here has nothing to do.
            Request::Leave { .. } | Request::Recent { .. } => reg.running_actor(board_id)?,
            _ => match reg.route(board_id).await {
                Ok(Route::Local(a)) => a,
                Ok(Route::Remote(_)) => return moved(),
                Err(e) => return Some(Reply::Error(e)),
            },
        };
        match req {
            Request::Op {
                principal,
                name,
                op_id,
                op,
                ip,
            } => {
                let (tx, rx) = oneshot::channel();
                let msg = BoardMsg::Op {
                    principal: Arc::new(principal),
                    name,
                    op_id,
                    op,
                    reply: OpReply::http(tx),
                    ip,
                };
                if actor.cast(msg).is_err() {
                    return moved();
                }
                match rx.await {
                    Ok(r) => Some(Reply::Op(r)),
                    Err(_) => moved(),
                }
            }
            Request::Subscribe {
                conn,
                codec,
                view,
                name,
                topic,
                r#ref,
                since,
            } => {
                let (capture, rx) = ConnHandle::with_id(conn, codec.into(), 1 << 16);
                let req = SubscribeReq {
                    answer: Owed::new(capture.clone(), r#ref),
                    conn: capture,
                    view: Arc::new(view),
                    name,
                    topic,
                    since,
                    remote: Some(from.into()),
                };
                self.collect(&actor, BoardMsg::Subscribe(Box::new(req)), rx)
                    .await
                    .or_else(moved)
            }
            Request::Presence {
                conn,
                codec,
                state,
                r#ref,
            } => {
                let (capture, rx) = ConnHandle::with_id(conn, codec.into(), 16);
                let msg = BoardMsg::PresenceSet {
                    answer: Owed::new(capture.clone(), r#ref),
                    conn: capture,
                    state,
                };
                self.collect(&actor, msg, rx).await.or_else(moved)
            }
            Request::Leave { conn, topic } => {
                let _ = actor.cast(BoardMsg::Leave { conn, topic });
                None
            }
            Request::Snapshot { view } => {
                let (tx, rx) = oneshot::channel();
                let _ = actor.cast(BoardMsg::Snapshot {
                    view: Arc::new(view),
                    reply: tx,
                });
                Some(Reply::Snapshot(rx.await.ok().flatten().map(Box::new)))
            }
            Request::Recent { epoch, after_seq } => {
                let (tx, rx) = oneshot::channel();
                let _ = actor.cast(BoardMsg::Recent {
                    epoch,
                    after_seq,
                    reply: tx,
                });
                let events = rx.await.ok().flatten();
                Some(Reply::Recent(events.map(|evs| {
                    evs.iter().map(|e| WireEvent::from(&**e)).collect()
                })))
            }
        }
    }

    /// Runs a connection-bound message on the actor with a stand-in connection and collects
    /// what the actor queued for it.
    pub(super) async fn collect(
        &self,
        actor: &ractor::ActorRef<BoardMsg>,
        msg: BoardMsg,
        mut rx: mpsc::Receiver<boardroom_actors::live::Wire>,
    ) -> Option<Reply> {
        actor.cast(msg).ok()?;
        let (tx, done) = oneshot::channel();
        actor.cast(BoardMsg::Barrier(tx)).ok()?;
        let (epoch, seq) = done.await.ok()?;
        let mut frames = Vec::new();
        while let Ok(w) = rx.try_recv() {
            frames.push(serde_bytes::ByteBuf::from(w.to_vec()));
        }
        Some(Reply::Frames { frames, epoch, seq })
    }
}
