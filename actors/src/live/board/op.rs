//! Applying an op: admission, idempotent retries by `op_id`, the write-behind hand-off, and
//! releasing events, answers and notifications once their batch is durable.

use super::reply::OpReply;
use super::{BoardMsg, BoardRt, Pending, APPLIED_MEMORY};
use crate::domain::{ApplyCtx, BoardState, Recipient};
use crate::live::hub::Published;
use crate::live::metrics;
use crate::live::ports::{
    CommitNotice, JournalEntry, NewNotification, RecentOp, RowWrite, SubmitError,
};
use crate::live::settings::Durability;
use crate::policy::Principal;
use boardroom_protocol::{
    Actor as EventActor, ErrorCode, ErrorReply, EventBody, EventFrame, Notification,
    NotificationFrame, Op, PrincipalKind, ServerFrame, Topic,
};
use ractor::ActorRef;
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

impl BoardRt {
    #[allow(clippy::too_many_arguments)] // the fields of `BoardMsg::Op`, taken apart
    pub(super) fn op(
        &mut self,
        myself: &ActorRef<BoardMsg>,
        p: &Principal,
        name: String,
        op_id: Uuid,
        op: Op,
        reply: OpReply,
        ip: Option<std::net::IpAddr>,
    ) {
        if let Some(&first) = self.applied.get(&op_id) {
            // Authorized first, and only for its sender: a replay of someone else's op_id
            // must not answer `ok` for an op its sender may not do (issue 15.4).
            if let Err(e) = self.state.authorize_op(p, &op) {
                ::metrics::counter!(metrics::OPS_REJECTED).increment(1);
                return reply.err(e.to_reply(None));
            }
            if first.principal_id.is_some_and(|by| by != p.id) {
                ::metrics::counter!(metrics::OPS_REJECTED).increment(1);
                return reply.err(ErrorReply::new(
                    None,
                    ErrorCode::Conflict,
                    "this op_id was already used by another sender; make a new op_id",
                ));
            }
            let (seq, id) = (first.seq, first.result_id);
            if seq <= self.released_seq {
                return reply.ok(seq, id);
            }
            // Still waiting for its commit: the answer comes with the first copy's.
            return reply.err(ErrorReply::new(
                None,
                ErrorCode::Conflict,
                "this op_id is being applied; wait for its answer",
            ));
        }
        if let Some(e) = self.overloaded() {
            ::metrics::counter!(metrics::OPS_REFUSED_OVERLOAD).increment(1);
            return reply.err(e);
        }
        let permit = match self.deps.journal.try_reserve() {
            Ok(p) => p,
            Err(SubmitError::Full) => {
                ::metrics::counter!(metrics::OPS_REJECTED).increment(1);
                let mut e = ErrorReply::new(
                    None,
                    ErrorCode::Unavailable,
                    "the database is behind; retry shortly",
                );
                e.retry_after_ms = Some(500);
                return reply.err(e);
            }
            Err(SubmitError::Closed) => {
                return reply.err(ErrorReply::new(
                    None,
                    ErrorCode::Unavailable,
                    "the server is shutting down; retry on another node",
                ));
            }
        };
        if std::mem::take(&mut self.panic_on_next_op) {
            panic!("board actor panic while applying an op, requested through the debug endpoint");
        }
        let now = chrono::Utc::now();
        let ctx = ApplyCtx {
            now,
            new_id: Uuid::now_v7(),
            directory: &self.directory,
            limits: &self.limits,
        };
        let applied = match self.state.apply_op(p, &op, &ctx) {
            Ok(a) => a,
            Err(e) => {
                ::metrics::counter!(metrics::OPS_REJECTED).increment(1);
                return reply.err(e.to_reply(None));
            }
        };
        let before = applied.card_before.clone();
        ::metrics::counter!(metrics::OPS).increment(1);
        let actor = EventActor {
            kind: if p.kind == PrincipalKind::Share {
                PrincipalKind::User
            } else {
                p.kind
            },
            id: p.id,
            name,
        };
        let result_id = applied.created_id;
        let mut published = Vec::with_capacity(applied.events.len());
        let mut frames = Vec::with_capacity(applied.events.len());
        let mut rows = Vec::new();
        let notes = self.notifications(&applied.notifications, &actor, now);
        for body in applied.events {
            self.seq += 1;
            let frame = EventFrame {
                topic: Topic::Board(self.board_id),
                epoch: self.epoch,
                seq: self.seq,
                body,
                actor: actor.clone(),
                op_id,
                at: now,
            };
            rows.extend(row_write(&self.state, &frame.body));
            frames.push(frame.clone());
            published.push(Arc::new(Published {
                org_id: self.org_id,
                board_id: self.board_id,
                frame,
                card_before: before.clone(),
            }));
        }
        let last_seq = self.seq;
        let record = RecentOp {
            op_id,
            principal_id: Some(p.id),
            seq: last_seq,
            result_id,
        };
        self.remember(record);
        let entry = JournalEntry {
            org_id: self.org_id,
            board_id: self.board_id,
            epoch: self.epoch,
            op: record,
            events: frames,
            rows,
            notifications: notes.clone(),
            ip,
        };
        let me = myself.clone();
        permit.send(
            entry,
            CommitNotice::new(move |outcome| {
                let _ = me.cast(BoardMsg::Committed {
                    upto: last_seq,
                    outcome,
                });
            }),
        );
        let pending = Pending {
            last_seq,
            published,
            reply: Some(reply),
            result: (last_seq, result_id),
            notifications: notes,
        };
        self.pending.push_back(pending);
        if self.deps.settings.durability == Durability::Apply {
            self.release_upto(last_seq);
        }
    }

    /// Admission: `unavailable` while most of this board's subscribers on this node have more
    /// than `fanout_backlog_frames` frames waiting. Taking the op would only lengthen their
    /// queues (and everyone's latency) until they overflow; refused, it is not applied and
    /// the sender retries after `retry_after_ms`, with the same `op_id`.
    /// The count of subscribers behind is kept by the hub as queues change, so the check is
    /// exact and O(1) for every op.
    fn overloaded(&mut self) -> Option<ErrorReply> {
        let s = &self.deps.settings;
        let (behind, subs) = self.deps.hub.behind(&Topic::Board(self.board_id));
        let over = behind > 0 && behind * 2 > subs;
        if !over {
            return None;
        }
        let mut e = ErrorReply::new(
            None,
            ErrorCode::Unavailable,
            "the board's subscribers are behind (server overloaded); retry shortly with the same op_id",
        );
        e.retry_after_ms = Some(s.overload_retry_after.as_millis() as u64);
        Some(e)
    }

    pub(super) fn remember(&mut self, op: RecentOp) {
        self.applied.insert(op.op_id, op);
        self.applied_order.push_back(op.op_id);
        while self.applied_order.len() > APPLIED_MEMORY {
            if let Some(old) = self.applied_order.pop_front() {
                self.applied.remove(&old);
                self.applied_forgotten = true;
            }
        }
    }

    /// Releases every pending op up to `upto`: events to the hub, answers to the senders,
    /// notifications to their users. Commit order is op order, so this is a prefix.
    pub(super) fn release_upto(&mut self, upto: u64) {
        while self.pending.front().is_some_and(|p| p.last_seq <= upto) {
            let Some(p) = self.pending.pop_front() else {
                break;
            };
            for ev in &p.published {
                if let Err(e) = self.released.apply_event(&ev.frame.body) {
                    tracing::error!(board_id = %self.board_id, error = %e, "released view diverged");
                }
                self.released_seq = ev.frame.seq;
                self.deps.broker.publish_event(ev.clone());
                self.ring.push_back(ev.clone());
                while self.ring.len() > self.deps.settings.ring_buffer_events {
                    self.ring.pop_front();
                }
            }
            if let Some(reply) = p.reply {
                reply.ok(p.result.0, p.result.1);
            }
            self.push_notifications(p.notifications);
        }
    }

    /// Pushes stored notifications to every connection of their users, with the unread
    /// count (read after the commit, so it includes them).
    fn push_notifications(&self, notes: Vec<NewNotification>) {
        if notes.is_empty() {
            return;
        }
        let source = self.deps.source.clone();
        let broker = self.deps.broker.clone();
        tokio::spawn(async move {
            for n in notes {
                let unread = match source.unread_count(n.user_id).await {
                    Ok(u) => u,
                    Err(e) => {
                        tracing::warn!(user_id = %n.user_id, error = %e, "unread count unavailable");
                        continue;
                    }
                };
                broker.publish_frame(
                    Topic::User(n.user_id),
                    ServerFrame::Notification(NotificationFrame {
                        notification: n.notification,
                        unread,
                    }),
                );
            }
        });
    }

    /// Stored notifications for the domain's drafts: customers are reached through their
    /// user, and nobody is notified of their own action.
    fn notifications(
        &self,
        drafts: &[crate::domain::NotificationDraft],
        actor: &EventActor,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Vec<NewNotification> {
        let actor_user = (actor.kind == PrincipalKind::User).then_some(actor.id);
        let mut seen = HashSet::new();
        drafts
            .iter()
            .filter_map(|d| {
                let user = match d.recipient {
                    Recipient::User(u) => Some(u),
                    Recipient::Customer(c) => self.customers.get(&c).copied().flatten(),
                }?;
                let muted = self
                    .mutes
                    .get(&user)
                    .is_some_and(|m| m.mutes(d.kind, d.board_id));
                (Some(user) != actor_user && !muted && seen.insert((user, d.kind))).then(|| {
                    NewNotification {
                        org_id: self.org_id,
                        user_id: user,
                        notification: Notification {
                            id: Uuid::now_v7(),
                            kind: d.kind,
                            board_id: d.board_id,
                            card_id: d.card_id,
                            title: d.title.clone(),
                            body: d.body.clone(),
                            actor: actor.clone(),
                            created_at: now,
                            read: false,
                        },
                    }
                })
            })
            .collect()
    }
}

/// The rows an event leaves changed, taken whole from the state after the op (the
/// write-behind coalesces repeated writes of one row within a batch).
fn row_write(state: &BoardState, body: &EventBody) -> Option<RowWrite> {
    match body {
        EventBody::ColumnCreated(d) | EventBody::ColumnUpdated(d) | EventBody::ColumnMoved(d) => {
            Some(RowWrite::Column(
                state
                    .column(d.column.id)
                    .cloned()
                    .unwrap_or_else(|| d.column.clone()),
            ))
        }
        EventBody::ColumnDeleted(d) => Some(RowWrite::DeleteColumn(d.column_id)),
        other => other
            .card_id()
            .and_then(|id| state.card(id))
            .map(|card| RowWrite::Card(Box::new(card.clone()))),
    }
}
