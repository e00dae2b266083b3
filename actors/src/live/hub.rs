//! Fan-out on this node: topic -> local subscribers, grouped by view class.
//!
//! Which events, and how much of each, a subscriber may see is decided by the domain
//! ([`deliver`], [`PresenceNote::for_viewer`]); subscribers whose [`ViewClass`] is the same
//! get the same answer, so the hub decides once per class and encodes each distinct frame once
//! per (class, encoding): the bytes are shared by every connection of the class. The class is
//! computed once, when the subscription is made; a membership change ends the subscription
//! (the credential is revoked or the board resyncs), and the new one is classified again.

use super::conn::{wire, BehindCount, ConnHandle, ConnId, Wire};
use super::metrics;
use crate::domain::{
    deliver, deliver_on_card_topic, view_class, BoardKey, Delivery, PresenceNote, ViewClass,
};
use crate::policy::{CardFacts, Principal};
use boardroom_protocol::{Codec, EventFrame, PresenceFrame, ServerFrame, Topic};
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

    /// The group this subscriber is delivered with. The org is part of the key because a
    /// class is relative to one org's board; a board actor only admits its own org's
    /// principals, so for board and card topics the view's org is the board's.
    fn class(&self) -> ClassKey {
        let class = match self.board {
            Some(board_id) => view_class(
                &self.view,
                BoardKey {
                    org_id: self.view.org_id,
                    board_id,
                },
            ),
            // `user:` and `org:` topics carry unfiltered frames: one group per org.
            None => ViewClass::Full,
        };
        (self.view.org_id, class)
    }
}

type ClassKey = (Uuid, ViewClass);

/// The subscribers of one topic that see the same thing, and one of their views to decide
/// for all of them.
struct Group {
    view: Arc<Principal>,
    conns: IndexMap<ConnId, Subscriber>,
}

/// One topic's subscribers. No index from connection to group: a topic has few groups (one
/// for `user:` topics and full-view boards), and an unsubscribe looks in each, which keeps
/// an idle connection's footprint to its one entry in its group.
#[derive(Default)]
struct TopicSubs {
    groups: IndexMap<ClassKey, Group>,
    len: usize,
    /// How many of the subscribers are behind: kept by the connections as their queues cross
    /// their threshold, so that admission never walks the subscribers.
    behind: BehindCount,
}

impl TopicSubs {
    fn len(&self) -> usize {
        self.len
    }

    fn insert(&mut self, sub: Subscriber) -> Option<Subscriber> {
        let old = self.remove(sub.conn.id);
        let group = self.groups.entry(sub.class()).or_insert_with(|| Group {
            view: sub.view.clone(),
            conns: IndexMap::new(),
        });
        sub.conn.watch(&self.behind);
        group.conns.insert(sub.conn.id, sub);
        self.len += 1;
        old
    }

    fn remove(&mut self, conn: ConnId) -> Option<Subscriber> {
        let (at, old) = self
            .groups
            .values_mut()
            .enumerate()
            .find_map(|(i, g)| g.conns.swap_remove(&conn).map(|s| (i, s)))?;
        old.conn.unwatch(&self.behind);
        self.len -= 1;
        if self.groups[at].conns.is_empty() {
            self.groups.swap_remove_index(at);
        }
        Some(old)
    }

    fn all(&self) -> impl Iterator<Item = &Subscriber> {
        self.groups.values().flat_map(|g| g.conns.values())
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
    topics: DashMap<Topic, TopicSubs>,
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
        slot.get_or_insert_with(|| wire(codec.encode(self.frame)))
            .clone()
    }
}

/// Sends one group its frame: encoded at most once per encoding, the bytes shared.
fn send_group(group: &Group, frame: &ServerFrame) -> usize {
    let mut enc = EncodeOnce::new(frame);
    group
        .conns
        .values()
        .filter(|s| s.conn.send_wire(enc.get(s.conn.codec)))
        .count()
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
            subs.insert(sub).map(|old| old.channel(topic))
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
            .and_then(|mut subs| subs.remove(conn))
            .map(|s| s.channel(*topic));
        self.topics.remove_if(topic, |_, subs| subs.len() == 0);
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
                    .all()
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
        subs.groups
            .values()
            .find_map(|g| g.conns.get(&conn).map(|s| s.view.clone()))
    }

    pub fn subscriber_count(&self, topic: &Topic) -> usize {
        self.topics.get(topic).map_or(0, |s| s.len())
    }

    /// How many view classes `topic`'s subscribers fall into (what an event costs in
    /// decisions and encodes).
    pub fn class_count(&self, topic: &Topic) -> usize {
        self.topics.get(topic).map_or(0, |s| s.groups.len())
    }

    /// Subscribers of a topic right now (for telling them to resync).
    pub fn subscribers(&self, topic: &Topic) -> Vec<Subscriber> {
        self.topics
            .get(topic)
            .map(|s| s.all().cloned().collect())
            .unwrap_or_default()
    }

    /// How many of `topic`'s subscribers are behind (more frames waiting in their send queues
    /// than their threshold), out of how many: the admission check of a board, read from a
    /// counter the connections keep (O(1), whatever the number of subscribers).
    pub fn behind(&self, topic: &Topic) -> (usize, usize) {
        let Some(subs) = self.topics.get(topic) else {
            return (0, 0);
        };
        let behind = subs.behind.load(std::sync::atomic::Ordering::Acquire);
        (behind, subs.len())
    }

    /// [`Hub::behind`] the slow way, by asking every subscriber (what the counter must equal).
    pub fn behind_by_walk(&self, topic: &Topic) -> (usize, usize) {
        let Some(subs) = self.topics.get(topic) else {
            return (0, 0);
        };
        let behind = subs.all().filter(|s| s.conn.is_behind()).count();
        (behind, subs.len())
    }

    /// An unfiltered frame (notifications, org presence) to every subscriber of `topic`.
    pub fn publish(&self, topic: &Topic, frame: &ServerFrame) -> usize {
        let Some(subs) = self.topics.get(topic) else {
            return 0;
        };
        let mut enc = EncodeOnce::new(frame);
        let n = subs
            .all()
            .filter(|s| s.conn.send_wire(enc.get(s.conn.codec)))
            .count();
        ::metrics::counter!(metrics::DELIVERIES).increment(n as u64);
        n
    }

    /// A board's presence change to its topic, each view class getting what it may see of it.
    pub fn publish_presence(&self, note: &PresenceNote) -> usize {
        let topic = Topic::Board(note.board.board_id);
        let Some(subs) = self.topics.get(&topic) else {
            return 0;
        };
        let mut n = 0;
        for group in subs.groups.values() {
            if let Some((joins, leaves)) = note.for_viewer(&group.view) {
                let frame = ServerFrame::Presence(PresenceFrame {
                    topic,
                    joins,
                    leaves,
                });
                n += send_group(group, &frame);
            }
        }
        ::metrics::counter!(metrics::DELIVERIES).increment(n as u64);
        n
    }

    /// A board event to the board's topic and, for card events, to the card's topic: one
    /// decision per view class, one encode per distinct frame and encoding.
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
            for group in subs.groups.values() {
                n += match deliver(&group.view, board, &ev.frame.body, before) {
                    Delivery::Skip => 0,
                    Delivery::Same => group
                        .conns
                        .values()
                        .filter(|s| s.conn.send_wire(enc.get(s.conn.codec)))
                        .count(),
                    Delivery::Send(body) => send_group(
                        group,
                        &ServerFrame::Event(EventFrame {
                            body,
                            ..ev.frame.clone()
                        }),
                    ),
                };
            }
        }
        if let Some(card_id) = ev.frame.body.card_id() {
            let card_topic = Topic::Card(card_id);
            if let Some(subs) = self.topics.get(&card_topic) {
                for group in subs.groups.values() {
                    if let Some(f) = frame_for(ev, &group.view, card_topic) {
                        n += send_group(group, &f);
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

#[cfg(test)]
mod tests;
