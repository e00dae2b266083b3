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

mod continuity;
mod forward;
mod serve;
mod tasks;

use self::tasks::{event_task, interest_task, owner_watch, publisher, receiver, watchdog, Inbound};

use super::wire::{self, Message, Reply, Request, WireEvent};
use super::Counters;
use boardroom_actors::domain::PresenceNote;
use boardroom_actors::live::board::BoardMsg;
use boardroom_actors::live::ports::Forwarder;
use boardroom_actors::live::{BoardRegistry, Broker, Hub, Published};
use boardroom_protocol::{Codec, ServerFrame, Topic};
use dashmap::DashMap;
use redis::aio::ConnectionManager;
use redis::PushInfo;
use std::collections::VecDeque;
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
