//! `BoardActor`: the single writer of one board. It applies ops to the pure `BoardState`,
//! numbers the resulting events `(epoch, seq)`, hands them to the write-behind journal and —
//! once their batch is durable (`durability = "commit"`) or at once (`"apply"`) — releases
//! them to the hub and acknowledges the sender. It also keeps the board's presence and a ring
//! of recent events for `since` recovery.

mod op;
mod presence;
mod reply;
mod subscribe;

pub use reply::{unanswered, HttpReply, OpReply, Owed};

use super::broker::Broker;
use super::conn::{ConnHandle, ConnId};
use super::hub::{Hub, Published};
use super::metrics;
use super::ports::{
    BoardSource, Claim, CommitOutcome, Journal, NewNotification, Ownership, RecentOp,
};
use super::settings::LiveSettings;
use crate::domain::{BoardState, Limits, OrgDirectory};
use crate::policy::Principal;
use boardroom_protocol::{ErrorCode, ErrorReply, Op, PresenceState, Since, Snapshot, Topic};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::sync::oneshot;
use uuid::Uuid;

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
