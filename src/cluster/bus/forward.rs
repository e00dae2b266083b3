//! The requesting side: requests for boards another node owns, sent there and answered
//! here, and failed fast when that node is gone.

use super::{Bus, Pending, Track, OWNER_GONE_RETRY_MS};
use crate::cluster::wire::{self, Reply, Request};
use boardroom_actors::live::board::{BoardMsg, SubscribeReq};
use boardroom_actors::live::Subscriber;
use boardroom_protocol::{ErrorCode, ErrorReply, OpResult, ResyncFrame, ServerFrame, Topic};
use std::collections::VecDeque;
use std::sync::Arc;
use uuid::Uuid;

impl Bus {
    /// The board's owner as last seen, `node`, no longer holds its lease: every request
    /// waiting on it for this board is answered `unavailable` now (a retry claims the board,
    /// or finds its new owner), and the board's cached owner is forgotten. An op among them
    /// may still have been committed by `node` before it went: its retry carries the same
    /// `op_id`, and the board's next owner loads the applied op ids after raising the epoch
    /// (a commit still in flight from `node` is fenced by that epoch), so it answers the
    /// first result instead of applying it twice.
    pub(super) fn owner_gone(&self, node: &str, board_id: Uuid) {
        if let Some(reg) = self.registry() {
            reg.forget_owner_if(board_id, node);
        }
        self.fail_pending(|p| p.board_id == board_id && *p.node == *node);
    }

    /// `node`'s heartbeat expired: it is dead (or cut off from Redis). Boards cached as owned
    /// by it are forgotten, and the requests waiting on it answered.
    pub fn node_gone(&self, node: &str) {
        if let Some(reg) = self.registry() {
            reg.forget_node(node);
        }
        self.fail_pending(|p| *p.node == *node);
    }

    fn fail_pending(&self, which: impl Fn(&Pending) -> bool) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|p| which(p.value()))
            .map(|p| *p.key())
            .collect();
        for id in ids {
            if let Some((_, p)) = self.pending.remove(&id) {
                let mut e = ErrorReply::new(
                    None,
                    ErrorCode::Unavailable,
                    "the board's node is gone; retry (an op with the same op_id)",
                );
                e.retry_after_ms = Some(OWNER_GONE_RETRY_MS);
                let _ = p.tx.send(Reply::Error(e));
            }
        }
    }

    fn unavailable(r#ref: Option<boardroom_protocol::Ref>, msg: &str) -> ErrorReply {
        let mut e = ErrorReply::new(r#ref, ErrorCode::Unavailable, msg);
        e.retry_after_ms = Some(500);
        e
    }

    /// The requesting side of a forwarded subscribe: hold the board's channel, ask the
    /// owner, hand its frames to the connection, then take the subscription over locally and
    /// catch up on anything this node delivered after the owner answered.
    async fn forward_subscribe(self: Arc<Self>, node: Arc<str>, board_id: Uuid, req: SubscribeReq) {
        let channel = wire::channel(&self.prefix, &Topic::Board(board_id));
        self.hold(&channel).await;
        let SubscribeReq {
            conn,
            view,
            name,
            topic,
            answer,
            since,
            ..
        } = req;
        let r#ref = answer.r#ref();
        let reply = self
            .request(
                &node,
                board_id,
                Request::Subscribe {
                    conn: conn.id,
                    codec: conn.codec.into(),
                    view: (*view).clone(),
                    name,
                    topic,
                    r#ref: r#ref.clone(),
                    since,
                },
            )
            .await;
        match reply {
            Some(Reply::Frames { frames, epoch, seq }) => {
                let accepted = frames
                    .first()
                    .is_some_and(|f| matches!(conn.codec.decode_server(f), Ok(ServerFrame::Ok(_))));
                let mut t = self.tracks.entry(board_id).or_insert_with(|| Track {
                    epoch,
                    seq,
                    owner: node.clone(),
                    recent: VecDeque::new(),
                });
                if t.epoch < epoch {
                    t.epoch = epoch;
                    t.seq = seq;
                    t.owner = node.clone();
                    t.recent.clear();
                }
                answer.settle();
                for f in frames {
                    conn.send_wire(boardroom_actors::live::wire(f.into_vec()));
                }
                if !accepted || t.epoch > epoch {
                    // Refused (or already stale): no earlier subscription of the topic stays
                    // behind (the gateway leaves a live one to be replaced by this answer).
                    self.hub.unsubscribe(&topic, conn.id);
                }
                if accepted {
                    if t.epoch > epoch {
                        conn.send(&ServerFrame::Resync(ResyncFrame {
                            topic,
                            reason: "the board moved to another node; subscribe again with since"
                                .into(),
                        }));
                    } else {
                        self.hub.subscribe(
                            topic,
                            Subscriber {
                                conn: conn.clone(),
                                view: view.clone(),
                                board: Some(board_id),
                            },
                        );
                        for ev in t.recent.iter().filter(|e| e.frame.seq > seq) {
                            if let Some(f) =
                                boardroom_actors::live::hub::frame_for(ev, &view, topic)
                            {
                                conn.send(&f);
                            }
                        }
                    }
                }
            }
            Some(Reply::Error(e)) => {
                if let Some(reg) = self.registry() {
                    reg.forget_owner(board_id);
                }
                self.hub.unsubscribe(&topic, conn.id);
                answer.refuse(e);
            }
            _ => {
                if let Some(reg) = self.registry() {
                    reg.forget_owner(board_id);
                }
                self.hub.unsubscribe(&topic, conn.id);
                answer.refuse(Self::unavailable(
                    None,
                    "the board's node did not answer; retry",
                ));
            }
        }
        self.unhold(&channel);
    }

    pub(super) async fn forward(self: Arc<Self>, node: Arc<str>, board_id: Uuid, msg: BoardMsg) {
        let forget = || {
            if let Some(reg) = self.registry() {
                reg.forget_owner(board_id);
            }
        };
        match msg {
            BoardMsg::Op {
                principal,
                name,
                op_id,
                op,
                reply,
                ip,
            } => {
                let req = Request::Op {
                    principal: (*principal).clone(),
                    name,
                    op_id,
                    op,
                    ip,
                };
                match self.request(&node, board_id, req).await {
                    Some(Reply::Op(Ok(OpResult { seq, id }))) => reply.ok(seq, id),
                    Some(Reply::Op(Err(e))) => reply.err(e),
                    Some(Reply::Error(e)) => {
                        forget();
                        reply.err(e)
                    }
                    _ => {
                        forget();
                        reply.err(Self::unavailable(
                            None,
                            "the board's node did not answer; retry with the same op_id",
                        ))
                    }
                }
            }
            BoardMsg::Subscribe(req) => self.clone().forward_subscribe(node, board_id, *req).await,
            BoardMsg::Leave { conn, topic } => {
                self.notify(&node, board_id, Request::Leave { conn, topic })
            }
            BoardMsg::PresenceSet {
                conn,
                state,
                answer,
            } => {
                let req = Request::Presence {
                    conn: conn.id,
                    codec: conn.codec.into(),
                    state,
                    r#ref: answer.r#ref(),
                };
                match self.request(&node, board_id, req).await {
                    Some(Reply::Frames { frames, .. }) => {
                        answer.settle();
                        for f in frames {
                            conn.send_wire(boardroom_actors::live::wire(f.into_vec()));
                        }
                    }
                    _ => {
                        forget();
                        answer.refuse(Self::unavailable(
                            None,
                            "the board's node did not answer; retry",
                        ));
                    }
                }
            }
            BoardMsg::Snapshot { view, reply } => {
                let req = Request::Snapshot {
                    view: (*view).clone(),
                };
                match self.request(&node, board_id, req).await {
                    Some(Reply::Snapshot(s)) => {
                        let _ = reply.send(s.map(|s| *s));
                    }
                    _ => forget(),
                }
            }
            // Node-local housekeeping; nothing to carry.
            _ => {}
        }
    }
}
