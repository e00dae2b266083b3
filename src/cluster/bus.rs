//! The Redis side of a node: the cluster `Broker` (events and frames to other nodes), the
//! node's inbox (requests for boards it owns, answers to its own requests) and the
//! `Forwarder` (requests for boards another node owns).
//!
//! Ordering: everything this node publishes goes through one publisher task, in order, on one
//! connection, so a board's events and the answer to the op that made them reach another
//! node in the order they were released ("ok after its event", as on one node).
//!
//! Continuity: every node tracks the last `(epoch, seq)` it delivered per board. A gap (a
//! message lost while Redis reconnected) is repaired from the owner's ring before later events
//! are delivered; when the owner cannot fill it, the node's subscribers of that board are told
//! to resync. A new epoch (the board moved) also ends the subscriptions with `resync`, and the
//! clients come back with `since` to the new owner.

use super::wire::{self, Message, Reply, Request, WireEvent};
use super::Counters;
use boardroom_actors::domain::PresenceNote;
use boardroom_actors::live::board::{BoardMsg, OpReply, Owed, SubscribeReq};
use boardroom_actors::live::ports::Forwarder;
use boardroom_actors::live::{
    BoardRegistry, Broker, ConnHandle, Hub, Published, Route, Subscriber,
};
use boardroom_protocol::{Codec, ErrorCode, ErrorReply, OpResult, ResyncFrame, ServerFrame, Topic};
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use redis::{Msg, PushInfo, PushKind};
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Received events a node keeps per board, to catch a new subscriber up to what the node has
/// already delivered when the owner's answer was older.
const RECENT_PER_BOARD: usize = 256;

/// Where this node is in a board's event stream.
struct Track {
    epoch: u64,
    seq: u64,
    /// The node the events come from.
    owner: Arc<str>,
    recent: VecDeque<Arc<Published>>,
}

/// A request waiting for its answer.
struct Pending {
    /// Answer at once (a gap repair, which the event task itself waits for), else in order
    /// with the events received before it.
    direct: bool,
    tx: oneshot::Sender<Reply>,
    /// The node asked, and the board asked about: what the owner check looks up.
    node: Arc<str>,
    board_id: Uuid,
    sent: tokio::time::Instant,
}

/// What a client is asked to wait before retrying a request whose owner is gone: the board's
/// lease has lapsed by then, so the retry claims it at once.
const OWNER_GONE_RETRY_MS: u64 = 50;

enum Interest {
    Add(String, Option<oneshot::Sender<()>>),
    Remove(String),
}

pub struct Bus {
    node: Arc<str>,
    prefix: String,
    hub: Arc<Hub>,
    cmd: ConnectionManager,
    out: mpsc::UnboundedSender<(String, Vec<u8>)>,
    interest: mpsc::UnboundedSender<Interest>,
    /// Events from other nodes, in arrival order, to the task that checks continuity (it may
    /// wait for a repair; answers to requests must not wait behind it).
    events: mpsc::UnboundedSender<Inbound>,
    registry: OnceLock<Weak<BoardRegistry>>,
    tracks: DashMap<Uuid, Track>,
    /// Requests waiting for their answer, by request id.
    pending: DashMap<u64, Pending>,
    next_id: AtomicU64,
    timeout: Duration,
    /// How long a request may wait before its owner is checked in Redis, and how often.
    owner_check: Duration,
    /// What to do with the other nodes' control messages (set once the server is built).
    on_control: OnceLock<Box<dyn Fn(wire::Control) + Send + Sync>>,
    /// Set while the subscription connection is down; cleared (and gaps repaired) when it
    /// has resubscribed.
    degraded: AtomicBool,
    counters: Arc<Counters>,
}

impl Bus {
    /// Connects and starts the receive, publish and interest tasks.
    pub async fn start(
        client: &redis::Client,
        node: Arc<str>,
        prefix: String,
        hub: Arc<Hub>,
        timeout: Duration,
        owner_check: Duration,
        counters: Arc<Counters>,
    ) -> redis::RedisResult<Arc<Bus>> {
        let (push_tx, push_rx) = mpsc::unbounded_channel::<PushInfo>();
        let sub = client
            .get_connection_manager_with_config(
                super::manager_config()
                    .set_push_sender(push_tx)
                    .set_automatic_resubscription(),
            )
            .await?;
        let cmd = client
            .get_connection_manager_with_config(super::manager_config())
            .await?;
        let (out, out_rx) = mpsc::unbounded_channel();
        let (interest, interest_rx) = mpsc::unbounded_channel();
        let (events, events_rx) = mpsc::unbounded_channel();
        let bus = Arc::new(Bus {
            node,
            prefix,
            hub,
            cmd: cmd.clone(),
            out,
            interest,
            events,
            registry: OnceLock::new(),
            tracks: DashMap::new(),
            pending: DashMap::new(),
            next_id: AtomicU64::new(1),
            timeout,
            owner_check,
            on_control: OnceLock::new(),
            degraded: AtomicBool::new(false),
            counters,
        });
        let mut sub2 = sub.clone();
        sub2.subscribe(wire::inbox(&bus.prefix, &bus.node)).await?;
        sub2.subscribe(wire::control_channel(&bus.prefix)).await?;
        tokio::spawn(publisher(cmd, out_rx));
        tokio::spawn(interest_task(sub.clone(), interest_rx));
        tokio::spawn(watchdog(sub));
        tokio::spawn(receiver(Arc::downgrade(&bus), push_rx));
        tokio::spawn(event_task(Arc::downgrade(&bus), events_rx));
        tokio::spawn(owner_watch(Arc::downgrade(&bus)));
        let weak = Arc::downgrade(&bus);
        bus.hub.on_interest(Box::new(move |topic, on| {
            if let Some(bus) = weak.upgrade() {
                let ch = wire::channel(&bus.prefix, &topic);
                let _ = bus.interest.send(if on {
                    Interest::Add(ch, None)
                } else {
                    Interest::Remove(ch)
                });
            }
        }));
        Ok(bus)
    }

    pub fn set_registry(&self, registry: &Arc<BoardRegistry>) {
        let _ = self.registry.set(Arc::downgrade(registry));
    }

    fn registry(&self) -> Option<Arc<BoardRegistry>> {
        self.registry.get().and_then(Weak::upgrade)
    }

    pub fn on_control(&self, f: Box<dyn Fn(wire::Control) + Send + Sync>) {
        let _ = self.on_control.set(f);
    }

    /// Tells every other node.
    pub fn control(&self, control: wire::Control) {
        self.publish(
            wire::control_channel(&self.prefix),
            &Message::Control {
                from: self.node.to_string(),
                control,
            },
        );
    }

    pub fn command_connection(&self) -> ConnectionManager {
        self.cmd.clone()
    }

    fn publish(&self, channel: String, m: &Message) {
        let _ = self.out.send((channel, wire::encode(m)));
    }

    /// Subscribes to a channel for the duration of a request (before the request goes out,
    /// so that nothing published after the owner's answer is missed).
    async fn hold(&self, channel: &str) {
        let (tx, rx) = oneshot::channel();
        let _ = self
            .interest
            .send(Interest::Add(channel.to_string(), Some(tx)));
        let _ = tokio::time::timeout(self.timeout, rx).await;
    }

    fn unhold(&self, channel: &str) {
        let _ = self.interest.send(Interest::Remove(channel.to_string()));
    }

    /// Sends a request to `node` and waits for its answer.
    async fn request(&self, node: &str, board_id: Uuid, req: Request) -> Option<Reply> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        let direct = matches!(req, Request::Recent { .. });
        self.pending.insert(
            id,
            Pending {
                direct,
                tx,
                node: node.into(),
                board_id,
                sent: tokio::time::Instant::now(),
            },
        );
        self.counters.forwards.fetch_add(1, Ordering::Relaxed);
        ::metrics::counter!(crate::metrics::FORWARDS).increment(1);
        self.publish(
            wire::inbox(&self.prefix, node),
            &Message::Request {
                from: self.node.to_string(),
                id,
                board_id,
                req,
            },
        );
        let reply = tokio::time::timeout(self.timeout, rx).await;
        self.pending.remove(&id);
        reply.ok().and_then(Result::ok)
    }

    /// A request that needs no answer (id 0).
    fn notify(&self, node: &str, board_id: Uuid, req: Request) {
        self.publish(
            wire::inbox(&self.prefix, node),
            &Message::Request {
                from: self.node.to_string(),
                id: 0,
                board_id,
                req,
            },
        );
    }

    fn resync_board(&self, board_id: Uuid, reason: &str) {
        if let Some(reg) = self.registry() {
            reg.tell_resync(board_id, reason);
        }
    }

    fn deliver(&self, t: &mut Track, ev: Arc<Published>) {
        t.seq = ev.frame.seq;
        t.recent.push_back(ev.clone());
        while t.recent.len() > RECENT_PER_BOARD {
            t.recent.pop_front();
        }
        self.hub.publish_event(&ev);
    }

    /// An event from another node's board, checked for continuity.
    async fn on_event(&self, from: String, ev: WireEvent) {
        let board_id = ev.board_id;
        let (epoch, seq) = (ev.frame.epoch, ev.frame.seq);
        let ev = Arc::new(Published::from(ev));
        let gap_after = {
            let mut t = self.tracks.entry(board_id).or_insert_with(|| Track {
                epoch,
                seq: seq.saturating_sub(1),
                owner: from.as_str().into(),
                recent: VecDeque::new(),
            });
            if epoch < t.epoch || (epoch == t.epoch && seq <= t.seq) {
                return; // stale owner or duplicate
            }
            if epoch > t.epoch {
                t.epoch = epoch;
                t.seq = seq;
                t.owner = from.as_str().into();
                t.recent.clear();
                drop(t);
                self.resync_board(
                    board_id,
                    "the board moved to another node; subscribe again with since",
                );
                return;
            }
            if seq == t.seq + 1 {
                self.deliver(&mut t, ev);
                return;
            }
            t.seq
        };
        // A gap: events after `gap_after` were lost on the way. Ask the owner for them
        // before delivering anything later.
        let missing = match self
            .request(
                &from,
                board_id,
                Request::Recent {
                    epoch,
                    after_seq: gap_after,
                },
            )
            .await
        {
            Some(Reply::Recent(Some(events))) => Some(events),
            _ => None,
        };
        let Some(mut t) = self.tracks.get_mut(&board_id) else {
            return;
        };
        match missing {
            Some(events) => {
                for w in events {
                    if w.frame.epoch == t.epoch && w.frame.seq == t.seq + 1 {
                        self.deliver(&mut t, Arc::new(Published::from(w)));
                    }
                }
                self.counters.gaps_repaired.fetch_add(1, Ordering::Relaxed);
                ::metrics::counter!(crate::metrics::GAPS_REPAIRED).increment(1);
                if epoch == t.epoch && seq == t.seq + 1 {
                    self.deliver(&mut t, ev);
                }
            }
            None => {
                t.seq = seq;
                t.recent.clear();
                drop(t);
                tracing::warn!(%board_id, "gap in the board's events could not be repaired; subscribers resync");
                self.resync_board(
                    board_id,
                    "events were lost between nodes; subscribe again with since",
                );
            }
        }
    }

    /// After Redis came back: every board this node follows may have missed events.
    async fn repair_all(self: Arc<Self>) {
        let boards: Vec<(Uuid, u64, u64, Arc<str>)> = self
            .tracks
            .iter()
            .map(|t| (*t.key(), t.epoch, t.seq, t.owner.clone()))
            .collect();
        for (board_id, epoch, seq, owner) in boards {
            if self.hub.subscriber_count(&Topic::Board(board_id)) == 0
                && self.hub.fed_by(board_id).is_empty()
            {
                self.tracks.remove(&board_id);
                continue;
            }
            let reply = self
                .request(
                    &owner,
                    board_id,
                    Request::Recent {
                        epoch,
                        after_seq: seq,
                    },
                )
                .await;
            let Some(mut t) = self.tracks.get_mut(&board_id) else {
                continue;
            };
            match reply {
                Some(Reply::Recent(Some(events))) => {
                    let before = t.seq;
                    for w in events {
                        if w.frame.epoch == t.epoch && w.frame.seq == t.seq + 1 {
                            self.deliver(&mut t, Arc::new(Published::from(w)));
                        }
                    }
                    if t.seq > before {
                        self.counters.gaps_repaired.fetch_add(1, Ordering::Relaxed);
                        ::metrics::counter!(crate::metrics::GAPS_REPAIRED).increment(1);
                    }
                }
                _ => {
                    drop(t);
                    self.tracks.remove(&board_id);
                    self.resync_board(
                        board_id,
                        "the connection between nodes was interrupted; subscribe again with since",
                    );
                }
            }
        }
    }

    /// A request from another node for a board this node owns.
    async fn on_request(self: Arc<Self>, from: String, id: u64, board_id: Uuid, req: Request) {
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

    async fn answer(&self, from: &str, board_id: Uuid, req: Request) -> Option<Reply> {
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
    async fn collect(
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

    /// The board's owner as last seen, `node`, no longer holds its lease: every request
    /// waiting on it for this board is answered `unavailable` now (a retry claims the board,
    /// or finds its new owner), and the board's cached owner is forgotten. An op among them
    /// may still have been committed by `node` before it went: its retry carries the same
    /// `op_id`, and the board's next owner loads the applied op ids after raising the epoch
    /// (a commit still in flight from `node` is fenced by that epoch), so it answers the
    /// first result instead of applying it twice.
    fn owner_gone(&self, node: &str, board_id: Uuid) {
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

    async fn forward(self: Arc<Self>, node: Arc<str>, board_id: Uuid, msg: BoardMsg) {
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

impl Forwarder for Bus {
    fn forward(&self, node: &str, board_id: Uuid, msg: BoardMsg) {
        let Some(me) = self.self_arc() else {
            return;
        };
        let node: Arc<str> = node.into();
        tokio::spawn(me.forward(node, board_id, msg));
    }
}

impl Bus {
    fn self_arc(&self) -> Option<Arc<Bus>> {
        SELF.get().and_then(Weak::upgrade)
    }
}

/// The node's one bus (set at start), so that trait methods taking `&self` can spawn tasks
/// that own it.
static SELF: OnceLock<Weak<Bus>> = OnceLock::new();

pub fn register_self(bus: &Arc<Bus>) {
    let _ = SELF.set(Arc::downgrade(bus));
}

impl Broker for Bus {
    fn publish_event(&self, ev: Arc<Published>) {
        self.hub.publish_event(&ev);
        let channel = wire::channel(&self.prefix, &Topic::Board(ev.board_id));
        self.publish(
            channel,
            &Message::Event {
                from: self.node.to_string(),
                ev: WireEvent::from(&*ev),
            },
        );
    }

    fn publish_frame(&self, topic: Topic, frame: ServerFrame) {
        self.hub.publish(&topic, &frame);
        let channel = wire::channel(&self.prefix, &topic);
        self.publish(
            channel,
            &Message::Frame {
                from: self.node.to_string(),
                topic,
                frame,
            },
        );
    }

    fn publish_presence(&self, note: Arc<PresenceNote>) {
        self.hub.publish_presence(&note);
        let channel = wire::channel(&self.prefix, &Topic::Board(note.board.board_id));
        self.publish(
            channel,
            &Message::Presence {
                from: self.node.to_string(),
                note: (*note).clone(),
            },
        );
    }
}

/// Publishes in order, pipelining whatever has queued up.
async fn publisher(mut cmd: ConnectionManager, mut rx: mpsc::UnboundedReceiver<(String, Vec<u8>)>) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut pipe = redis::pipe();
        for (channel, bytes) in batch.drain(..) {
            pipe.publish(channel, bytes).ignore();
        }
        // Lost while Redis is down: the receivers repair the gap from the owner afterwards.
        if let Err(e) = pipe.query_async::<()>(&mut cmd).await {
            tracing::debug!(error = %e, "publish failed");
        }
    }
}

/// Applies subscription changes in order, reference-counted per channel, retrying failures.
async fn interest_task(mut sub: ConnectionManager, mut rx: mpsc::UnboundedReceiver<Interest>) {
    let mut refs: HashMap<String, usize> = HashMap::new();
    while let Some(change) = rx.recv().await {
        match change {
            Interest::Add(ch, done) => {
                let n = refs.entry(ch.clone()).or_default();
                *n += 1;
                if *n == 1 {
                    retry(|| {
                        let mut sub = sub.clone();
                        let ch = ch.clone();
                        async move { sub.subscribe(ch).await }
                    })
                    .await;
                }
                if let Some(done) = done {
                    let _ = done.send(());
                }
            }
            Interest::Remove(ch) => {
                let last = match refs.get_mut(&ch) {
                    Some(n) => {
                        *n -= 1;
                        *n == 0
                    }
                    None => false,
                };
                if last {
                    refs.remove(&ch);
                    let _ = sub.unsubscribe(ch).await;
                }
            }
        }
    }
}

async fn retry<F, Fut>(f: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<()>>,
{
    let mut wait = Duration::from_millis(50);
    for _ in 0..20 {
        match f().await {
            Ok(()) => return,
            Err(e) => {
                tracing::debug!(error = %e, "subscribe failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// A PING now and then: the manager gives up reconnecting after its retry budget, and a
/// command is what starts it again (and with it the automatic resubscription).
async fn watchdog(mut sub: ConnectionManager) {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tick.tick().await;
        let _: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut sub).await;
    }
}

async fn receiver(bus: Weak<Bus>, mut rx: mpsc::UnboundedReceiver<PushInfo>) {
    while let Some(push) = rx.recv().await {
        let Some(bus) = bus.upgrade() else { break };
        match push.kind {
            PushKind::Message => {
                let Some(msg) = Msg::from_push_info(push) else {
                    continue;
                };
                let Some(m) = wire::decode(msg.get_payload_bytes()) else {
                    tracing::warn!(
                        channel = msg.get_channel_name(),
                        "undecodable cluster message"
                    );
                    continue;
                };
                match m {
                    Message::Event { from, ev } => {
                        if *from != *bus.node {
                            let _ = bus.events.send(Inbound::Event(from, Box::new(ev)));
                        }
                    }
                    Message::Frame { from, topic, frame } => {
                        if *from != *bus.node {
                            bus.hub.publish(&topic, &frame);
                        }
                    }
                    Message::Presence { from, note } => {
                        if *from != *bus.node {
                            bus.hub.publish_presence(&note);
                        }
                    }
                    Message::Request {
                        from,
                        id,
                        board_id,
                        req,
                    } => {
                        tokio::spawn(bus.clone().on_request(from, id, board_id, req));
                    }
                    Message::Control { from, control } => {
                        if *from != *bus.node {
                            if let Some(f) = bus.on_control.get() {
                                f(control);
                            }
                        }
                    }
                    Message::Reply { id, reply } => {
                        // An op's answer must not overtake its event, which may still be
                        // queued for the event task.
                        match bus.pending.remove(&id) {
                            Some((_, p)) if p.direct => {
                                let _ = p.tx.send(reply);
                            }
                            Some((_, p)) => {
                                let _ = bus.events.send(Inbound::Reply(p.tx, reply));
                            }
                            None => {}
                        }
                    }
                }
            }
            PushKind::Disconnection => {
                tracing::warn!("lost the Redis subscription connection; reconnecting");
                bus.degraded.store(true, Ordering::Release);
            }
            PushKind::Subscribe if bus.degraded.swap(false, Ordering::AcqRel) => {
                tracing::info!("Redis subscriptions restored; repairing gaps");
                tokio::spawn(bus.clone().repair_all());
            }
            _ => {}
        }
    }
}

/// Answers the requests waiting on an owner that is gone as soon as Redis shows it. Without
/// this, a request forwarded to a dead node waits `forward_timeout_ms` for an answer that
/// never comes, and every request for the board behind it keeps going to that node.
///
/// The test is the board's lease, not the node's heartbeat: while the asked node holds the
/// lease nobody else can take the board, so waiting is right (the owner may just be slow,
/// and answering early would only send the retry back to it); once the lease is gone or held
/// by another node, the asked node has died or stepped down, and a retry can claim the board.
/// Requests pending for longer than `owner_check` are checked every `owner_check`, and again
/// right when the lease they wait on is due to expire (its PTTL), so failover follows the
/// lease's expiry within a few milliseconds.
async fn owner_watch(bus: Weak<Bus>) {
    loop {
        let Some(b) = bus.upgrade() else { return };
        let every = b.owner_check;
        let now = tokio::time::Instant::now();
        let mut suspects: Vec<(Arc<str>, Uuid)> = b
            .pending
            .iter()
            .filter(|p| now.duration_since(p.sent) >= every)
            .map(|p| (p.node.clone(), p.board_id))
            .collect();
        suspects.sort();
        suspects.dedup();
        let mut wait = every;
        if !suspects.is_empty() {
            let mut pipe = redis::pipe();
            for (_, board_id) in &suspects {
                let key = super::lease::lease_key(&b.prefix, *board_id);
                pipe.get(&key).pttl(&key);
            }
            let mut cmd = b.cmd.clone();
            let answer = tokio::time::timeout(
                Duration::from_secs(1),
                pipe.query_async::<Vec<redis::Value>>(&mut cmd),
            )
            .await;
            match answer {
                Ok(Ok(values)) => {
                    // GET, PTTL for each board, in order.
                    let mut values = values.into_iter();
                    let leases = std::iter::from_fn(|| {
                        let holder = values.next()?;
                        let pttl = values.next()?;
                        Some((
                            redis::from_redis_value::<Option<String>>(holder).ok(),
                            redis::from_redis_value::<i64>(pttl).unwrap_or(-1),
                        ))
                    });
                    for ((node, board_id), (holder, pttl)) in suspects.iter().zip(leases) {
                        // An answer that does not parse proves nothing: keep waiting.
                        let Some(holder) = holder else { continue };
                        if holder.as_deref() == Some(&**node) {
                            if pttl >= 0 {
                                wait = wait.min(Duration::from_millis(pttl as u64 + 1));
                            }
                        } else {
                            tracing::info!(
                                %board_id, %node, holder = holder.as_deref().unwrap_or("none"),
                                "the board's owner no longer holds its lease; answering its pending requests"
                            );
                            b.owner_gone(node, *board_id);
                        }
                    }
                }
                // Redis unreachable: the forward timeout still bounds the wait.
                Ok(Err(e)) => tracing::debug!(error = %e, "owner check failed"),
                Err(_) => tracing::debug!("owner check timed out"),
            }
        }
        drop(b);
        tokio::time::sleep(wait).await;
    }
}

/// What the event task handles, in arrival order.
enum Inbound {
    Event(String, Box<WireEvent>),
    Reply(oneshot::Sender<Reply>, Reply),
}

async fn event_task(bus: Weak<Bus>, mut rx: mpsc::UnboundedReceiver<Inbound>) {
    while let Some(item) = rx.recv().await {
        let Some(bus) = bus.upgrade() else { break };
        match item {
            Inbound::Event(from, ev) => bus.on_event(from, *ev).await,
            Inbound::Reply(tx, reply) => {
                let _ = tx.send(reply);
            }
        }
    }
}

/// Codec on the wire between nodes.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub enum WireCodec {
    Json,
    MsgPack,
}

impl From<Codec> for WireCodec {
    fn from(c: Codec) -> Self {
        match c {
            Codec::Json => WireCodec::Json,
            Codec::MsgPack => WireCodec::MsgPack,
        }
    }
}

impl From<WireCodec> for Codec {
    fn from(c: WireCodec) -> Self {
        match c {
            WireCodec::Json => Codec::Json,
            WireCodec::MsgPack => Codec::MsgPack,
        }
    }
}
