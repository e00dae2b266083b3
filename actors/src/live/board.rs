//! `BoardActor`: the single writer of one board. It applies ops to the pure `BoardState`,
//! numbers the resulting events `(epoch, seq)`, hands them to the write-behind journal and —
//! once their batch is durable (`durability = "commit"`) or at once (`"apply"`) — releases
//! them to the hub and acknowledges the sender. It also keeps the board's presence and a ring
//! of recent events for `since` recovery.

use super::broker::Broker;
use super::conn::{ConnHandle, ConnId};
use super::hub::{frame_for, Hub, Published, Subscriber};
use super::metrics;
use super::ports::{
    BoardSource, Claim, CommitOutcome, Journal, JournalEntry, NewNotification, Ownership, RecentOp,
    RowWrite, SubmitError,
};
use super::settings::{Durability, LiveSettings};
use crate::domain::{
    card_facts, presence_map_for, redact_card, ApplyCtx, BoardKey, BoardState, Limits,
    OrgDirectory, PresenceFacts, PresenceNote, Recipient,
};
use crate::policy::{decide, Action, Principal, Resource};
use boardroom_protocol::{
    Actor as EventActor, CardSnapshot, ColumnRef, ErrorCode, ErrorReply, EventBody, EventFrame,
    Notification, NotificationFrame, OkReply, Op, OpResult, PresenceEntry, PresenceMap,
    PresenceState, PrincipalKind, Ref, ServerFrame, Since, Snapshot, Topic,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;

/// What a request gets when the board actor went away before answering it, so that no client
/// ever waits forever for an answer that cannot come:
///
/// - dropped while the thread unwinds from a panic: the request was in the actor's hands when
///   the server failed on it, which is a server bug: `internal`;
/// - otherwise the actor failed or stopped (restart, shutdown, archive) with the request still
///   queued or, for an op, waiting for its commit. The board comes back on its next use:
///   `unavailable`, retry. For an op the outcome is unknown (its commit may land or be fenced
///   by the restarted board), and retrying with the same `op_id` is safe either way.
pub fn unanswered(r#ref: Option<Ref>) -> ErrorReply {
    if std::thread::panicking() {
        ErrorReply::new(
            r#ref,
            ErrorCode::Internal,
            "the server failed while handling this request (it has been logged); \
             an op may be retried with the same op_id",
        )
    } else {
        let mut e = ErrorReply::new(
            r#ref,
            ErrorCode::Unavailable,
            "the board stopped before answering (it restarts on its next use); \
             retry shortly, an op with the same op_id",
        );
        e.retry_after_ms = Some(UNANSWERED_RETRY_MS);
        e
    }
}

/// How long a client is asked to wait after its board stopped before answering: about the time
/// a board takes to load again.
const UNANSWERED_RETRY_MS: u64 = 500;

/// The answer a board owes to one request of a WebSocket (or SSE) connection, with the
/// request's `ref`. Answered once; if it is dropped unanswered it answers [`unanswered`].
pub struct Owed {
    conn: Arc<ConnHandle>,
    r#ref: Option<Ref>,
    answered: bool,
}

impl Owed {
    pub fn new(conn: Arc<ConnHandle>, r#ref: Option<Ref>) -> Owed {
        Owed {
            conn,
            r#ref,
            answered: false,
        }
    }

    pub fn r#ref(&self) -> Option<Ref> {
        self.r#ref.clone()
    }

    /// Sends the answer (an `ok` or `error` frame carrying this request's `ref`).
    pub fn answer(mut self, frame: &ServerFrame) {
        self.answered = true;
        self.conn.send(frame);
    }

    /// The answer went another way (another node's frames carried it): nothing more to send.
    pub fn settle(mut self) {
        self.answered = true;
    }

    /// Answers with `e` (its `ref` replaced by this request's).
    pub fn refuse(self, mut e: ErrorReply) {
        e.r#ref = self.r#ref();
        self.answer(&ServerFrame::Error(e));
    }

    pub fn error(self, code: ErrorCode, message: &str) {
        let e = ErrorReply::new(self.r#ref(), code, message);
        self.answer(&ServerFrame::Error(e));
    }
}

impl Drop for Owed {
    fn drop(&mut self) {
        if !self.answered {
            self.conn
                .send(&ServerFrame::Error(unanswered(self.r#ref.take())));
        }
    }
}

/// The answer owed to `POST /boards/{id}/ops`; like [`Owed`], it answers [`unanswered`] if it
/// is dropped unanswered.
pub struct HttpReply(Option<oneshot::Sender<Result<OpResult, ErrorReply>>>);

impl HttpReply {
    pub fn new(tx: oneshot::Sender<Result<OpResult, ErrorReply>>) -> HttpReply {
        HttpReply(Some(tx))
    }

    fn send(mut self, r: Result<OpResult, ErrorReply>) {
        if let Some(tx) = self.0.take() {
            // The handler may be gone (client hung up); nothing is owed to nobody.
            let _ = tx.send(r);
        }
    }
}

impl Drop for HttpReply {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(Err(unanswered(None)));
        }
    }
}

/// Where the answer to an op goes: straight into a WebSocket's queue (so it is ordered after
/// the op's own event) or back to an HTTP handler (or another node). Either way it is always
/// answered.
pub enum OpReply {
    Conn(Owed),
    Http(HttpReply),
}

impl OpReply {
    pub fn conn(conn: Arc<ConnHandle>, r#ref: Option<Ref>) -> OpReply {
        OpReply::Conn(Owed::new(conn, r#ref))
    }

    pub fn http(tx: oneshot::Sender<Result<OpResult, ErrorReply>>) -> OpReply {
        OpReply::Http(HttpReply::new(tx))
    }

    pub fn ok(self, seq: u64, id: Option<Uuid>) {
        match self {
            OpReply::Conn(owed) => {
                let ok = OkReply {
                    seq: Some(seq),
                    id,
                    ..OkReply::new(owed.r#ref())
                };
                owed.answer(&ServerFrame::Ok(ok));
            }
            OpReply::Http(tx) => tx.send(Ok(OpResult { seq, id })),
        }
    }

    pub fn err(self, mut e: ErrorReply) {
        match self {
            OpReply::Conn(owed) => {
                e.r#ref = owed.r#ref();
                owed.answer(&ServerFrame::Error(e));
            }
            OpReply::Http(tx) => tx.send(Err(e)),
        }
    }
}

pub struct SubscribeReq {
    pub conn: Arc<ConnHandle>,
    pub view: Arc<Principal>,
    pub name: String,
    pub topic: Topic,
    /// The `ok` (with the snapshot or `recovered`) or `error` owed to the subscribe.
    pub answer: Owed,
    pub since: Option<Since>,
    /// The node the connection is on, when it is not this one: the answer goes back through
    /// `conn` (a stand-in), and that node's hub, not ours, holds the subscription.
    pub remote: Option<Arc<str>>,
}

pub enum BoardMsg {
    Subscribe(Box<SubscribeReq>),
    Leave {
        conn: ConnId,
        topic: Topic,
    },
    Op {
        principal: Arc<Principal>,
        name: String,
        op_id: Uuid,
        op: Op,
        reply: OpReply,
        /// The client's address, kept with the op's events for the audit log.
        ip: Option<std::net::IpAddr>,
    },
    PresenceSet {
        conn: Arc<ConnHandle>,
        state: PresenceState,
        answer: Owed,
    },
    /// The released state, for `GET /boards/{id}`: `None` when `view` may not see the board.
    /// A dropped sender means the actor stopped before answering.
    Snapshot {
        view: Arc<Principal>,
        reply: oneshot::Sender<Option<(u64, u64, Snapshot)>>,
    },
    Committed {
        upto: u64,
        outcome: CommitOutcome,
    },
    IdleCheck,
    /// Debug endpoint only: fail on purpose, to exercise supervision.
    Panic,
    /// Debug endpoint only: fail in the middle of the next op (after it is taken in hand,
    /// before it is applied), to exercise what a request gets when the server breaks on it.
    PanicOnNextOp,
    /// Members or customers of the org changed: reload who may be assigned and notified.
    DirectoryChanged {
        org_id: Uuid,
    },
    /// Answers once every message sent before it has been handled.
    Barrier(oneshot::Sender<(u64, u64)>),
    /// A node of the cluster is gone: its connections leave the board's presence.
    NodeGone(Arc<str>),
    /// Released events after `after_seq` of `epoch`, from the ring (a node repairing a gap).
    Recent {
        epoch: u64,
        after_seq: u64,
        reply: oneshot::Sender<Option<Vec<Arc<Published>>>>,
    },
}

impl BoardMsg {
    /// Answers a request that cannot reach the board with `e` (requests that owe no answer
    /// are simply dropped; a snapshot's caller sees its reply dropped).
    pub fn refuse(self, e: ErrorReply) {
        match self {
            BoardMsg::Op { reply, .. } => reply.err(e),
            BoardMsg::Subscribe(req) => req.answer.refuse(e),
            BoardMsg::PresenceSet { answer, .. } => answer.refuse(e),
            _ => {}
        }
    }
}

/// Everything a board actor needs from the outside, as traits (see `ports`).
pub struct BoardDeps {
    pub source: Arc<dyn BoardSource>,
    pub journal: Arc<dyn Journal>,
    pub ownership: Arc<dyn Ownership>,
    pub broker: Arc<dyn Broker>,
    /// This node's subscribers (who is subscribed decides passivation).
    pub hub: Arc<Hub>,
    /// Requests for boards another node owns go through this (cluster only).
    pub forwarder: Option<Arc<dyn super::ports::Forwarder>>,
    pub settings: LiveSettings,
}

pub struct BoardActor;

pub struct BoardArgs {
    pub board_id: Uuid,
    pub org_id: Uuid,
    /// Taken by the registry before the actor starts: this node writes the board.
    pub claim: Claim,
    pub deps: Arc<BoardDeps>,
    /// Ops sent to this actor and not yet taken in hand; the registry counts them up and
    /// refuses ops beyond `board_inbox_ops`, the actor counts them down.
    pub ops_queued: Arc<AtomicUsize>,
}

/// Why a board actor could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("board not found")]
    NotFound,
    #[error("cannot load the board: {0}")]
    Load(#[from] super::ports::PortError),
}

struct Pending {
    last_seq: u64,
    published: Vec<Arc<Published>>,
    reply: Option<OpReply>,
    result: (u64, Option<Uuid>),
    notifications: Vec<NewNotification>,
}

struct PresenceUser {
    name: String,
    state: PresenceState,
    conns: HashSet<ConnId>,
    /// `presence.set` budget: tokens left, and when it was last refilled.
    budget: (f64, tokio::time::Instant),
}

/// Who a present connection is, and on which node when not this one.
struct PresentConn {
    user: Uuid,
    node: Option<Arc<str>>,
}

pub struct BoardRt {
    deps: Arc<BoardDeps>,
    org_id: Uuid,
    board_id: Uuid,
    /// Everything applied, including ops whose batch is not durable yet.
    state: BoardState,
    /// What subscribers have been shown: `state` minus the pending tail (commit mode).
    released: BoardState,
    epoch: u64,
    seq: u64,
    released_seq: u64,
    /// The last seq known committed. In apply mode events are released before this, so
    /// "nothing pending" is not "nothing unflushed": a board must not passivate (and be
    /// claimed again, in a new epoch that fences its own uncommitted batch) before this
    /// reaches `seq`.
    durable_seq: u64,
    ring: VecDeque<Arc<Published>>,
    pending: VecDeque<Pending>,
    /// op_id -> its sender, seq and created id: the sender's retry gets its first answer back.
    applied: HashMap<Uuid, RecentOp>,
    applied_order: VecDeque<Uuid>,
    /// Whether ops of this board have fallen out of `applied` (or were never loaded into it):
    /// then an op_id not found there is looked up in the store before it counts as new.
    applied_forgotten: bool,
    directory: OrgDirectory,
    limits: Limits,
    /// customer id -> the customer's user, for notifications.
    customers: HashMap<Uuid, Option<Uuid>>,
    /// What members muted: reloaded with the directory (`DirectoryChanged`), so a change of
    /// preferences applies to the next op, on every node, without reconnecting.
    mutes: HashMap<Uuid, super::ports::NotificationMutes>,
    presence: HashMap<Uuid, PresenceUser>,
    /// conn -> user (and node), for presence bookkeeping.
    present_conns: HashMap<ConnId, PresentConn>,
    last_activity: tokio::time::Instant,
    /// Armed by [`BoardMsg::PanicOnNextOp`].
    panic_on_next_op: bool,
    /// See [`BoardArgs::ops_queued`].
    ops_queued: Arc<AtomicUsize>,
}

const APPLIED_MEMORY: usize = 10_000;

impl Actor for BoardActor {
    type Msg = BoardMsg;
    type State = BoardRt;
    type Arguments = BoardArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<BoardMsg>,
        args: BoardArgs,
    ) -> Result<BoardRt, ActorProcessingErr> {
        let BoardArgs {
            board_id,
            org_id,
            claim,
            deps,
            ops_queued,
        } = args;
        let s = &deps.source;
        let snapshot = s
            .load_board(board_id)
            .await
            .map_err(StartError::from)?
            .ok_or(StartError::NotFound)?;
        let people = s.people(org_id).await.map_err(StartError::from)?;
        let recent = s
            .recent_ops(board_id, APPLIED_MEMORY)
            .await
            .map_err(StartError::from)?;
        let cards = snapshot.cards.len();
        let state = BoardState::from_snapshot(snapshot);
        let applied_forgotten = recent.len() >= APPLIED_MEMORY;
        let mut applied = HashMap::new();
        let mut applied_order = VecDeque::new();
        for op in recent.into_iter().rev() {
            applied.insert(op.op_id, op);
            applied_order.push_back(op.op_id);
        }
        let Claim { epoch, last_seq } = claim;
        let idle = deps
            .settings
            .board_idle
            .max(std::time::Duration::from_millis(100));
        let me = myself.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(idle / 2);
            tick.tick().await;
            loop {
                tick.tick().await;
                if me.cast(BoardMsg::IdleCheck).is_err() {
                    break;
                }
            }
        });
        tracing::info!(%board_id, epoch, last_seq, cards, "board loaded");
        ::metrics::gauge!(metrics::BOARDS_ACTIVE).increment(1.0);
        Ok(BoardRt {
            org_id,
            board_id,
            released: state.clone(),
            state,
            epoch,
            seq: last_seq,
            released_seq: last_seq,
            durable_seq: last_seq,
            ring: VecDeque::new(),
            pending: VecDeque::new(),
            applied,
            applied_order,
            applied_forgotten,
            directory: people.directory,
            limits: Limits::default(),
            customers: people.customers,
            mutes: people.mutes,
            presence: HashMap::new(),
            present_conns: HashMap::new(),
            last_activity: tokio::time::Instant::now(),
            panic_on_next_op: false,
            ops_queued,
            deps,
        })
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<BoardMsg>,
        rt: &mut BoardRt,
    ) -> Result<(), ActorProcessingErr> {
        ::metrics::gauge!(metrics::BOARDS_ACTIVE).decrement(1.0);
        tracing::info!(board_id = %rt.board_id, "board stopped");
        rt.deps.ownership.release(rt.board_id, rt.epoch).await;
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<BoardMsg>,
        msg: BoardMsg,
        rt: &mut BoardRt,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            BoardMsg::Subscribe(req) => {
                rt.last_activity = tokio::time::Instant::now();
                rt.subscribe(*req).await;
            }
            BoardMsg::Leave { conn, topic } => {
                rt.deps.hub.unsubscribe(&topic, conn);
                rt.leave_presence(conn);
            }
            BoardMsg::Op {
                principal,
                name,
                op_id,
                op,
                reply,
                ip,
            } => {
                // Saturating: ops forwarded by another node reach the actor uncounted.
                let _ = rt
                    .ops_queued
                    .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
                rt.last_activity = tokio::time::Instant::now();
                if rt.applied_forgotten && !rt.applied.contains_key(&op_id) {
                    // A retry from before what memory holds: its first answer is in the store.
                    // Only boards past APPLIED_MEMORY ops pay this lookup, once per new op.
                    match rt.deps.source.applied_op(rt.board_id, op_id).await {
                        Ok(Some(first)) => rt.remember(first),
                        Ok(None) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, board_id = %rt.board_id, "op_id lookup failed");
                            let mut err = ErrorReply::new(
                                None,
                                ErrorCode::Unavailable,
                                "the database is unreachable; retry shortly",
                            );
                            err.retry_after_ms = Some(500);
                            reply.err(err);
                            return Ok(());
                        }
                    }
                }
                rt.op(&myself, &principal, name, op_id, op, reply, ip);
            }
            BoardMsg::PresenceSet {
                conn,
                state,
                answer,
            } => rt.presence_set(&conn, state, answer),
            BoardMsg::Snapshot { view, reply } => {
                let snap = rt
                    .released
                    .snapshot_for(&view)
                    .map(|s| (rt.epoch, rt.released_seq, Snapshot::Board(s)));
                let _ = reply.send(snap);
            }
            BoardMsg::Committed { upto, outcome } => match outcome {
                CommitOutcome::Committed => {
                    // Batches commit in journal order, so this is a watermark.
                    rt.durable_seq = rt.durable_seq.max(upto);
                    rt.release_upto(upto);
                }
                CommitOutcome::Fenced => {
                    tracing::warn!(board_id = %rt.board_id, "fenced: another writer owns this board; stepping down");
                    return Err("fenced by a newer epoch".into());
                }
                CommitOutcome::Rejected(why) => {
                    return Err(format!("the database refused this board's changes: {why}").into());
                }
            },
            BoardMsg::IdleCheck => {
                let idle = rt.deps.settings.board_idle;
                let subscribed = rt.deps.hub.subscriber_count(&Topic::Board(rt.board_id)) > 0
                    || !rt.present_conns.is_empty();
                let unflushed = !rt.pending.is_empty() || rt.durable_seq < rt.seq;
                if !subscribed && !unflushed && rt.last_activity.elapsed() >= idle {
                    tracing::info!(board_id = %rt.board_id, "passivating idle board");
                    myself.stop(Some("idle".into()));
                }
            }
            BoardMsg::Panic => panic!("board actor panic requested through the debug endpoint"),
            BoardMsg::PanicOnNextOp => rt.panic_on_next_op = true,
            BoardMsg::Barrier(done) => {
                let _ = done.send((rt.epoch, rt.released_seq));
            }
            BoardMsg::NodeGone(node) => {
                let gone: Vec<ConnId> = rt
                    .present_conns
                    .iter()
                    .filter(|(_, p)| p.node.as_deref() == Some(&*node))
                    .map(|(c, _)| *c)
                    .collect();
                for conn in gone {
                    rt.leave_presence(conn);
                }
            }
            BoardMsg::Recent {
                epoch,
                after_seq,
                reply,
            } => {
                let covered = rt
                    .ring
                    .front()
                    .is_some_and(|e| e.frame.seq <= after_seq + 1);
                let events = if epoch != rt.epoch || after_seq > rt.released_seq {
                    None
                } else if after_seq == rt.released_seq || covered {
                    Some(
                        rt.ring
                            .iter()
                            .filter(|e| e.frame.seq > after_seq)
                            .cloned()
                            .collect(),
                    )
                } else {
                    None
                };
                let _ = reply.send(events);
            }
            BoardMsg::DirectoryChanged { org_id } => {
                if org_id == rt.org_id {
                    let people = rt.deps.source.people(org_id).await?;
                    rt.directory = people.directory;
                    rt.customers = people.customers;
                    rt.mutes = people.mutes;
                }
            }
        }
        Ok(())
    }
}

impl BoardRt {
    async fn subscribe(&mut self, req: SubscribeReq) {
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
    async fn recoverable(&self, since: Since, view: &Principal) -> Option<Vec<Arc<Published>>> {
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

    #[allow(clippy::too_many_arguments)] // the fields of `BoardMsg::Op`, taken apart
    fn op(
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
        let done = permit.send(entry);
        let me = myself.clone();
        tokio::spawn(async move {
            let outcome = done
                .await
                .unwrap_or(CommitOutcome::Rejected("journal closed".into()));
            let _ = me.cast(BoardMsg::Committed {
                upto: last_seq,
                outcome,
            });
        });
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

    fn remember(&mut self, op: RecentOp) {
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
    fn release_upto(&mut self, upto: u64) {
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

    fn key(&self) -> BoardKey {
        BoardKey {
            org_id: self.org_id,
            board_id: self.board_id,
        }
    }

    /// The facts presence is filtered on (see [`PresenceFacts`]), from what subscribers have
    /// been shown of the board.
    fn presence_facts(&self, user: Uuid, state: &PresenceState) -> PresenceFacts {
        PresenceFacts {
            focus: state
                .focus
                .and_then(|id| self.released.card(id))
                .map(card_facts),
            jobs: self
                .released
                .all_cards()
                .filter(|c| !c.archived && c.assignees.contains(&user))
                .map(card_facts)
                .collect(),
        }
    }

    /// The board's presence as `view` may see it (the `presence` of a subscribe's `ok`).
    fn presence_for(&self, view: &Principal) -> PresenceMap {
        let mut map = PresenceMap::new();
        let mut facts = std::collections::BTreeMap::new();
        for (u, p) in &self.presence {
            map.insert(
                *u,
                PresenceEntry {
                    name: p.name.clone(),
                    state: p.state.clone(),
                },
            );
            if !view.has_full_view() {
                facts.insert(*u, self.presence_facts(*u, &p.state));
            }
        }
        presence_map_for(view, self.key(), &map, &facts)
    }

    fn presence_id(view: &Principal) -> Option<Uuid> {
        match view.kind {
            PrincipalKind::Share => None,
            _ => Some(view.id),
        }
    }

    /// A presence change, to each subscriber as its view allows (the hubs filter it with the
    /// facts sent along).
    fn broadcast_presence(&self, joins: PresenceMap, leaves: PresenceMap) {
        let facts = joins
            .iter()
            .chain(leaves.iter())
            .map(|(u, e)| (*u, self.presence_facts(*u, &e.state)))
            .collect();
        self.deps.broker.publish_presence(Arc::new(PresenceNote {
            board: self.key().into(),
            joins,
            leaves,
            facts,
        }));
    }

    fn join_presence(
        &mut self,
        conn: &ConnHandle,
        view: &Principal,
        name: String,
        node: Option<Arc<str>>,
    ) {
        let Some(user) = Self::presence_id(view) else {
            return;
        };
        self.present_conns
            .insert(conn.id, PresentConn { user, node });
        let entry = self.presence.entry(user).or_insert_with(|| PresenceUser {
            name,
            state: PresenceState::default(),
            conns: HashSet::new(),
            budget: (
                self.deps.settings.presence_burst as f64,
                tokio::time::Instant::now(),
            ),
        });
        entry.conns.insert(conn.id);
        if entry.conns.len() == 1 {
            let mut joins = PresenceMap::new();
            joins.insert(
                user,
                PresenceEntry {
                    name: entry.name.clone(),
                    state: entry.state.clone(),
                },
            );
            self.broadcast_presence(joins, PresenceMap::new());
        }
    }

    fn leave_presence(&mut self, conn: ConnId) {
        let Some(PresentConn { user, .. }) = self.present_conns.remove(&conn) else {
            return;
        };
        let gone = match self.presence.get_mut(&user) {
            Some(p) => {
                p.conns.remove(&conn);
                p.conns.is_empty()
            }
            None => false,
        };
        if gone {
            if let Some(p) = self.presence.remove(&user) {
                let mut leaves = PresenceMap::new();
                leaves.insert(
                    user,
                    PresenceEntry {
                        name: p.name,
                        state: p.state,
                    },
                );
                self.broadcast_presence(PresenceMap::new(), leaves);
            }
        }
    }

    fn presence_set(&mut self, conn: &ConnHandle, state: PresenceState, answer: Owed) {
        let user = self.present_conns.get(&conn.id).map(|p| p.user);
        let Some((user, p)) = user.and_then(|u| self.presence.get_mut(&u).map(|p| (u, p))) else {
            // Not found, as the gateway answers a topic the session is not subscribed to: the
            // subscription may have been refused, and a refused one is told apart from nothing.
            return answer.error(
                ErrorCode::NotFound,
                "not subscribed to that topic; subscribe to the board before setting presence",
            );
        };
        if let Some(focus) = state.focus {
            if self.state.card(focus).is_none() {
                return answer.error(ErrorCode::BadRequest, "focus names no card of this board");
            }
        }
        let s = &self.deps.settings;
        let size = serde_json::to_vec(&state).map_or(usize::MAX, |v| v.len());
        if size > s.presence_state_bytes {
            return answer.error(
                ErrorCode::TooLarge,
                &format!(
                    "presence state is {size} bytes encoded; the limit is {}",
                    s.presence_state_bytes
                ),
            );
        }
        // A token bucket per user and board: every update goes to every subscriber.
        let now = tokio::time::Instant::now();
        let (tokens, at) = p.budget;
        let refill = now.duration_since(at).as_secs_f64() * s.presence_sets_per_second as f64;
        let tokens = (tokens + refill).min(s.presence_burst as f64);
        if tokens < 1.0 {
            p.budget = (tokens, now);
            let wait = (1.0 - tokens) / (s.presence_sets_per_second.max(1) as f64);
            let mut e = ErrorReply::new(
                answer.r#ref(),
                ErrorCode::RateLimited,
                "presence updates too frequent; slow down",
            );
            e.retry_after_ms = Some((wait * 1000.0).ceil() as u64);
            return answer.refuse(e);
        }
        p.budget = (tokens - 1.0, now);
        p.state = state;
        let mut joins = PresenceMap::new();
        joins.insert(
            user,
            PresenceEntry {
                name: p.name.clone(),
                state: p.state.clone(),
            },
        );
        let ok = OkReply::new(answer.r#ref());
        answer.answer(&ServerFrame::Ok(ok));
        self.broadcast_presence(joins, PresenceMap::new());
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
