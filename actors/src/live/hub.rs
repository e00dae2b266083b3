//! Fan-out on this node: topic -> local subscribers. An event is encoded once per encoding and
//! the bytes are shared by every subscriber who sees it as it is; filtered views (workers,
//! customers, share links, `card:` topics) get only what the domain's view rules
//! ([`deliver`]) let them see, re-encoded for them alone when it differs.

use super::conn::{ConnHandle, ConnId, Wire};
use super::metrics;
use crate::domain::{deliver, deliver_on_card_topic, BoardKey, Delivery};
use crate::policy::{CardFacts, Principal};
use boardroom_protocol::{Codec, EventFrame, ServerFrame, Topic};
use dashmap::DashMap;
use indexmap::IndexMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
pub struct Subscriber {
    pub conn: Arc<ConnHandle>,
    pub view: Arc<Principal>,
    /// The board whose events feed this subscription (`board:` and `card:` topics): in a
    /// cluster, the node needs that board's channel.
    pub board: Option<Uuid>,
}

impl Subscriber {
    /// The broker topic this subscription is fed from.
    fn channel(&self, topic: Topic) -> Topic {
        self.board.map_or(topic, Topic::Board)
    }
}

/// Told when this node's first subscriber of a channel arrives (`true`) or its last one
/// leaves (`false`).
pub type InterestHook = Box<dyn Fn(Topic, bool) + Send + Sync>;

/// One board event as released by its actor, with what the filters need to know.
pub struct Published {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub frame: EventFrame,
    /// For card events: the card's facts before the op (None = it did not exist). With the
    /// card in the event (after the op) they decide who sees the change.
    pub card_before: Option<CardFacts>,
}

#[derive(Default)]
pub struct Hub {
    /// Subscribers per topic, at most one per connection.
    topics: DashMap<Topic, IndexMap<ConnId, Subscriber>>,
    /// Subscriptions per channel, for the interest hook.
    channels: DashMap<Topic, usize>,
    interest: std::sync::OnceLock<InterestHook>,
}

/// Encodes a frame at most once per encoding.
struct EncodeOnce<'a> {
    frame: &'a ServerFrame,
    json: Option<Wire>,
    msgpack: Option<Wire>,
}

impl<'a> EncodeOnce<'a> {
    fn new(frame: &'a ServerFrame) -> Self {
        EncodeOnce {
            frame,
            json: None,
            msgpack: None,
        }
    }

    fn get(&mut self, codec: Codec) -> Wire {
        let slot = match codec {
            Codec::Json => &mut self.json,
            Codec::MsgPack => &mut self.msgpack,
        };
        slot.get_or_insert_with(|| codec.encode(self.frame).into())
            .clone()
    }
}

impl Hub {
    /// Installs the interest hook (once; the cluster broker's).
    pub fn on_interest(&self, hook: InterestHook) {
        let _ = self.interest.set(hook);
    }

    fn count(&self, channel: Topic, up: bool) {
        let changed = if up {
            let mut n = self.channels.entry(channel).or_default();
            *n += 1;
            *n == 1
        } else {
            let last = match self.channels.get_mut(&channel) {
                Some(mut n) => {
                    *n = n.saturating_sub(1);
                    *n == 0
                }
                None => false,
            };
            if last {
                self.channels.remove_if(&channel, |_, n| *n == 0);
            }
            last
        };
        if changed {
            if let Some(hook) = self.interest.get() {
                hook(channel, up);
            }
        }
    }

    pub fn subscribe(&self, topic: Topic, sub: Subscriber) {
        let channel = sub.channel(topic);
        let replaced = {
            let mut subs = self.topics.entry(topic).or_default();
            subs.insert(sub.conn.id, sub).map(|old| old.channel(topic))
        };
        self.count(channel, true);
        if let Some(old) = replaced {
            self.count(old, false);
        } else {
            ::metrics::gauge!(metrics::SUBSCRIPTIONS).increment(1.0);
        }
    }

    pub fn unsubscribe(&self, topic: &Topic, conn: ConnId) -> bool {
        let removed = self
            .topics
            .get_mut(topic)
            .and_then(|mut subs| subs.swap_remove(&conn))
            .map(|s| s.channel(*topic));
        self.topics.remove_if(topic, |_, subs| subs.is_empty());
        if let Some(channel) = removed {
            self.count(channel, false);
            ::metrics::gauge!(metrics::SUBSCRIPTIONS).decrement(1.0);
        }
        removed.is_some()
    }

    /// Subscriptions of other topics (`card:`) fed by `board_id`'s events.
    pub fn fed_by(&self, board_id: Uuid) -> Vec<(Topic, Vec<Subscriber>)> {
        let board_topic = Topic::Board(board_id);
        self.topics
            .iter()
            .filter(|t| *t.key() != board_topic)
            .filter_map(|t| {
                let subs: Vec<Subscriber> = t
                    .values()
                    .filter(|s| s.board == Some(board_id))
                    .cloned()
                    .collect();
                (!subs.is_empty()).then(|| (*t.key(), subs))
            })
            .collect()
    }

    /// Channels this node has subscribers for (a cluster broker resubscribes to these).
    pub fn channels(&self) -> Vec<Topic> {
        self.channels.iter().map(|c| *c.key()).collect()
    }

    /// The view `conn` holds `topic` with, while its subscription is live.
    pub fn view_of(&self, topic: &Topic, conn: ConnId) -> Option<Arc<Principal>> {
        let subs = self.topics.get(topic)?;
        subs.get(&conn).map(|s| s.view.clone())
    }

    pub fn subscriber_count(&self, topic: &Topic) -> usize {
        self.topics.get(topic).map_or(0, |s| s.len())
    }

    /// Subscribers of a topic right now (for telling them to resync).
    pub fn subscribers(&self, topic: &Topic) -> Vec<Subscriber> {
        self.topics
            .get(topic)
            .map(|s| s.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many of `topic`'s subscribers have more than `backlog` frames waiting in their send
    /// queues, out of how many: the admission check of a board (one atomic read per
    /// subscriber, against the one queue push per subscriber that each op costs anyway).
    pub fn behind(&self, topic: &Topic, backlog: usize) -> (usize, usize) {
        let Some(subs) = self.topics.get(topic) else {
            return (0, 0);
        };
        let behind = subs.values().filter(|s| s.conn.queued() > backlog).count();
        (behind, subs.len())
    }

    /// An unfiltered frame (presence, notifications) to every subscriber of `topic`.
    pub fn publish(&self, topic: &Topic, frame: &ServerFrame) -> usize {
        let Some(subs) = self.topics.get(topic) else {
            return 0;
        };
        let mut enc = EncodeOnce::new(frame);
        let mut n = 0;
        for s in subs.values() {
            if s.conn.send_wire(enc.get(s.conn.codec)) {
                n += 1;
            }
        }
        ::metrics::counter!(metrics::DELIVERIES).increment(n as u64);
        n
    }

    /// A board event to the board's topic and, for card events, to the card's topic.
    pub fn publish_event(&self, ev: &Published) -> usize {
        let mut n = 0;
        let board_topic = Topic::Board(ev.board_id);
        if let Some(subs) = self.topics.get(&board_topic) {
            let shared = ServerFrame::Event(ev.frame.clone());
            let mut enc = EncodeOnce::new(&shared);
            let board = BoardKey {
                org_id: ev.org_id,
                board_id: ev.board_id,
            };
            let before = ev.card_before.as_ref();
            for s in subs.values() {
                let sent = match deliver(&s.view, board, &ev.frame.body, before) {
                    Delivery::Skip => false,
                    Delivery::Same => s.conn.send_wire(enc.get(s.conn.codec)),
                    Delivery::Send(body) => s.conn.send(&ServerFrame::Event(EventFrame {
                        body,
                        ..ev.frame.clone()
                    })),
                };
                n += usize::from(sent);
            }
        }
        if let Some(card_id) = ev.frame.body.card_id() {
            let card_topic = Topic::Card(card_id);
            if let Some(subs) = self.topics.get(&card_topic) {
                for s in subs.values() {
                    if let Some(f) = frame_for(ev, &s.view, card_topic) {
                        n += usize::from(s.conn.send(&f));
                    }
                }
            }
        }
        ::metrics::counter!(metrics::DELIVERIES).increment(n as u64);
        n
    }
}

/// The frame `p` gets for this event on `topic` (a `board:` or `card:` subscription), if
/// any: what `p` may see is decided by the domain ([`deliver`]), here it only gets its topic.
pub fn frame_for(ev: &Published, p: &Principal, topic: Topic) -> Option<ServerFrame> {
    let board = BoardKey {
        org_id: ev.org_id,
        board_id: ev.board_id,
    };
    let before = ev.card_before.as_ref();
    let delivery = match topic {
        Topic::Board(_) => deliver(p, board, &ev.frame.body, before),
        Topic::Card(card_id) => deliver_on_card_topic(p, board, card_id, &ev.frame.body, before),
        _ => Delivery::Skip,
    };
    let body = match delivery {
        Delivery::Skip => return None,
        Delivery::Same => ev.frame.body.clone(),
        Delivery::Send(body) => body,
    };
    Some(ServerFrame::Event(EventFrame {
        topic,
        body,
        ..ev.frame.clone()
    }))
}
