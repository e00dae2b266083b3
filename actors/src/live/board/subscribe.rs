//! Subscribing to a board: the snapshot or, after a short disconnect, the missed events
//! (`since` recovery from the ring and the event log).

use super::reply::Owed;
use super::{BoardRt, SubscribeReq};
use crate::domain::{card_facts, redact_card};
use crate::live::hub::{frame_for, Published, Subscriber};
use crate::policy::{decide, Action, Principal, Resource};
use boardroom_protocol::{
    CardSnapshot, ColumnRef, ErrorCode, OkReply, ServerFrame, Since, Snapshot, Topic,
};
use std::sync::Arc;

impl BoardRt {
    pub(super) async fn subscribe(&mut self, req: SubscribeReq) {
        let SubscribeReq {
            conn,
            view,
            name,
            topic,
            answer,
            since,
            remote,
        } = req;
        // A connection being closed (4009: it does not read) gets nothing more built for it:
        // a snapshot would be encoded, at the cost of the whole board, and thrown away.
        if conn.close_requested().is_some() {
            return answer.settle();
        }
        let org_id = self.org_id;
        let board_id = self.board_id;
        // A refused subscribe leaves no earlier subscription of the topic behind (the gateway
        // keeps a live one until the board has answered, see `held`).
        let hub = self.deps.hub.clone();
        let conn_id = conn.id;
        let deny = |answer: Owed, code| {
            if remote.is_none() {
                hub.unsubscribe(&topic, conn_id);
            }
            answer.error(code, "not found")
        };
        // The connection already holds this topic, live, with the same view, and the client
        // is not asking about another epoch: everything up to `released_seq` is already in its
        // queue, ahead of this answer. Answered without a snapshot or replayed events, so
        // that subscribing over and over cannot queue a board's snapshot each time (issue
        // 15.3). Only known here for this node's connections; a remote one gets a snapshot.
        let held = remote.is_none()
            && since.is_none_or(|s| s.epoch == self.epoch && s.seq <= self.released_seq)
            && hub.view_of(&topic, conn_id).is_some_and(|v| *v == *view);
        let held_ok = |answer: Owed, epoch, seq| {
            let ok = OkReply {
                topic: Some(topic),
                epoch: Some(epoch),
                seq: Some(seq),
                recovered: Some(true),
                ..OkReply::new(answer.r#ref())
            };
            answer.answer(&ServerFrame::Ok(ok))
        };
        match topic {
            Topic::Board(_) => {
                if !decide(
                    &view,
                    Action::ReadBoard,
                    &Resource::Board { org_id, board_id },
                )
                .is_allowed()
                {
                    return deny(answer, ErrorCode::NotFound);
                }
                if held {
                    return held_ok(answer, self.epoch, self.released_seq);
                }
                let presence = self.presence_for(&view);
                let recovered = match since {
                    Some(s) => self.recoverable(s, &view).await,
                    None => None,
                };
                let mut ok = OkReply {
                    topic: Some(topic),
                    epoch: Some(self.epoch),
                    seq: Some(self.released_seq),
                    presence: Some(presence),
                    ..OkReply::new(answer.r#ref())
                };
                match recovered {
                    Some(events) => {
                        ok.recovered = Some(true);
                        answer.answer(&ServerFrame::Ok(ok));
                        for ev in events {
                            if let Some(f) = frame_for(&ev, &view, topic) {
                                conn.send(&f);
                            }
                        }
                    }
                    None => {
                        let Some(snap) = self.released.snapshot_for(&view) else {
                            return deny(answer, ErrorCode::NotFound);
                        };
                        ok.snapshot = Some(Snapshot::Board(snap));
                        ok.recovered = since.map(|_| false);
                        answer.answer(&ServerFrame::Ok(ok));
                    }
                }
                if remote.is_none() {
                    self.deps.hub.subscribe(
                        topic,
                        Subscriber {
                            conn: conn.clone(),
                            view: view.clone(),
                            board: Some(board_id),
                        },
                    );
                }
                self.join_presence(&conn, &view, name, remote);
            }
            Topic::Card(card_id) => {
                let Some(card) = self.released.card(card_id) else {
                    return deny(answer, ErrorCode::NotFound);
                };
                let facts = card_facts(card);
                if !decide(
                    &view,
                    Action::ReadCard,
                    &Resource::Card {
                        org_id,
                        board_id,
                        card: facts,
                    },
                )
                .is_allowed()
                {
                    return deny(answer, ErrorCode::NotFound);
                }
                if held {
                    return held_ok(answer, self.epoch, self.released_seq);
                }
                let Some(column) = self.released.column(card.column_id) else {
                    return deny(answer, ErrorCode::NotFound);
                };
                let base = OkReply {
                    topic: Some(topic),
                    epoch: Some(self.epoch),
                    seq: Some(self.released_seq),
                    ..OkReply::new(answer.r#ref())
                };
                let card = card.clone();
                let column = ColumnRef::from(column);
                let recovered = match since {
                    Some(s) => self.recoverable(s, &view).await,
                    None => None,
                };
                match recovered {
                    Some(events) => {
                        answer.answer(&ServerFrame::Ok(OkReply {
                            recovered: Some(true),
                            ..base
                        }));
                        for ev in events {
                            if let Some(f) = frame_for(&ev, &view, topic) {
                                conn.send(&f);
                            }
                        }
                    }
                    None => {
                        let snap = CardSnapshot {
                            card: redact_card(&view, &card),
                            column,
                            board_id,
                        };
                        answer.answer(&ServerFrame::Ok(OkReply {
                            snapshot: Some(Snapshot::Card(snap)),
                            recovered: since.map(|_| false),
                            ..base
                        }));
                    }
                }
                if remote.is_none() {
                    self.deps.hub.subscribe(
                        topic,
                        Subscriber {
                            conn,
                            view,
                            board: Some(board_id),
                        },
                    );
                }
            }
            _ => deny(answer, ErrorCode::BadRequest),
        }
    }

    /// The events after `since`, when they can all be replayed: same epoch, not too many,
    /// taken from the ring and, further back, the event log. `None` means "send a snapshot".
    async fn recoverable(
        &self,
        since: Since,
        view: &Principal,
    ) -> Option<Vec<Arc<Published>>> {
        if since.epoch != self.epoch || since.seq > self.released_seq {
            return None;
        }
        let missed = self.released_seq - since.seq;
        if missed == 0 {
            return Some(Vec::new());
        }
        if missed as usize > self.deps.settings.max_recovery_events {
            return None;
        }
        let ring_first = self
            .ring
            .front()
            .map_or(self.released_seq + 1, |e| e.frame.seq);
        let from_ring = || {
            self.ring
                .iter()
                .filter(|e| e.frame.seq > since.seq)
                .cloned()
        };
        if ring_first <= since.seq + 1 {
            return Some(from_ring().collect());
        }
        // Older than the ring. The log has the events but not the card facts from before each
        // op that filtered views are decided on, so only full-view subscribers replay it.
        if !view.has_full_view() {
            return None;
        }
        let wanted = (ring_first - since.seq - 1) as usize;
        let logged = match self
            .deps
            .source
            .events_after(self.board_id, since.seq, wanted)
            .await
        {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(board_id = %self.board_id, error = %e, "event log unreadable; sending a snapshot");
                return None;
            }
        };
        // Every seq in between, in order, or nothing (a snapshot is always correct).
        let contiguous = logged.len() == wanted
            && logged
                .iter()
                .zip(since.seq + 1..)
                .all(|(f, seq)| f.seq == seq && f.epoch == self.epoch);
        if !contiguous {
            return None;
        }
        let mut events: Vec<Arc<Published>> = logged
            .into_iter()
            .map(|frame| {
                Arc::new(Published {
                    org_id: self.org_id,
                    board_id: self.board_id,
                    frame,
                    card_before: None,
                })
            })
            .collect();
        events.extend(from_ring());
        Some(events)
    }
}
