//! Fan-out on this node: topic -> local subscribers. An event is encoded once per encoding and
//! the bytes are shared by every full-view subscriber; filtered views (workers, customers, share
//! links, `card:` topics) get only what they may see, re-encoded for them alone.

use super::conn::{ConnHandle, ConnId, Wire};
use boardroom_actors::policy::{decide, Action, CardFacts, Principal, Resource};
use boardroom_protocol::event::{CardData, CardHidden};
use boardroom_protocol::{Card, Codec, EventBody, EventFrame, Role, ServerFrame, Topic};
use dashmap::DashMap;
use std::sync::Arc;
use uuid::Uuid;

#[derive(Clone)]
pub struct Subscriber {
    pub conn: Arc<ConnHandle>,
    pub view: Arc<Principal>,
}

/// One board event as released by its actor, with what the filters need to know.
pub struct Published {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub frame: EventFrame,
    /// For card events: the card before and after the op (None = did not exist).
    pub card_before: Option<CardFacts>,
    pub card_after: Option<CardFacts>,
}

#[derive(Default)]
pub struct Hub {
    topics: DashMap<Topic, Vec<Subscriber>>,
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
    pub fn subscribe(&self, topic: Topic, sub: Subscriber) {
        let mut subs = self.topics.entry(topic).or_default();
        subs.retain(|s| s.conn.id != sub.conn.id);
        subs.push(sub);
        metrics::gauge!(crate::metrics::SUBSCRIPTIONS).increment(1.0);
    }

    pub fn unsubscribe(&self, topic: &Topic, conn: ConnId) -> bool {
        let mut removed = false;
        if let Some(mut subs) = self.topics.get_mut(topic) {
            let before = subs.len();
            subs.retain(|s| s.conn.id != conn);
            removed = subs.len() != before;
        }
        self.topics.remove_if(topic, |_, subs| subs.is_empty());
        if removed {
            metrics::gauge!(crate::metrics::SUBSCRIPTIONS).decrement(1.0);
        }
        removed
    }

    pub fn subscriber_count(&self, topic: &Topic) -> usize {
        self.topics.get(topic).map_or(0, |s| s.len())
    }

    /// Subscribers of a topic right now (for telling them to resync).
    pub fn subscribers(&self, topic: &Topic) -> Vec<Subscriber> {
        self.topics
            .get(topic)
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    /// An unfiltered frame (presence, notifications) to every subscriber of `topic`.
    pub fn publish(&self, topic: &Topic, frame: &ServerFrame) -> usize {
        let Some(subs) = self.topics.get(topic) else {
            return 0;
        };
        let mut enc = EncodeOnce::new(frame);
        let mut n = 0;
        for s in subs.iter() {
            if s.conn.send_wire(enc.get(s.conn.codec)) {
                n += 1;
            }
        }
        metrics::counter!(crate::metrics::DELIVERIES).increment(n as u64);
        n
    }

    /// A board event to the board's topic and, for card events, to the card's topic.
    pub fn publish_event(&self, ev: &Published) -> usize {
        let mut n = 0;
        let board_topic = Topic::Board(ev.board_id);
        if let Some(subs) = self.topics.get(&board_topic) {
            let shared = ServerFrame::Event(ev.frame.clone());
            let mut enc = EncodeOnce::new(&shared);
            for s in subs.iter() {
                let sent = if s.view.has_full_view() {
                    s.conn.send_wire(enc.get(s.conn.codec))
                } else {
                    match filtered_for(ev, &s.view, board_topic) {
                        Some(f) => s.conn.send(&f),
                        None => false,
                    }
                };
                n += usize::from(sent);
            }
        }
        if let Some(card_id) = ev.frame.body.card_id() {
            let card_topic = Topic::Card(card_id);
            if let Some(subs) = self.topics.get(&card_topic) {
                for s in subs.iter() {
                    if let Some(f) = filtered_for(ev, &s.view, card_topic) {
                        n += usize::from(s.conn.send(&f));
                    }
                }
            }
        }
        metrics::counter!(crate::metrics::DELIVERIES).increment(n as u64);
        n
    }
}

fn may_see(p: &Principal, org_id: Uuid, board_id: Uuid, card: &CardFacts) -> bool {
    decide(
        p,
        Action::ReadCard,
        &Resource::Card {
            org_id,
            board_id,
            card: card.clone(),
        },
    )
    .is_allowed()
}

/// What a filtered principal sees of a card: customers and share links never see comments,
/// labels or which customer (it is them).
pub fn card_for(p: &Principal, card: &Card) -> Card {
    if p.has_full_view() || p.role != Role::Customer {
        return card.clone();
    }
    Card {
        labels: Vec::new(),
        comments: Vec::new(),
        ..card.clone()
    }
}

fn customer_like(p: &Principal) -> bool {
    !p.has_full_view() && p.role == Role::Customer
}

/// The frame a filtered subscriber gets for this event on `topic`, if any.
pub fn filtered_for(ev: &Published, p: &Principal, topic: Topic) -> Option<ServerFrame> {
    let retopic = |body: EventBody| {
        ServerFrame::Event(EventFrame {
            topic,
            body,
            ..ev.frame.clone()
        })
    };
    let Some(card_id) = ev.frame.body.card_id() else {
        // Column events: the statuses are visible to everyone on the board topic.
        return matches!(topic, Topic::Board(_)).then(|| retopic(ev.frame.body.clone()));
    };
    let before = ev
        .card_before
        .as_ref()
        .is_some_and(|c| may_see(p, ev.org_id, ev.board_id, c));
    let after = ev
        .card_after
        .as_ref()
        .is_some_and(|c| may_see(p, ev.org_id, ev.board_id, c));
    match (before, after) {
        (false, false) => None,
        (true, false) => Some(retopic(EventBody::CardHidden(CardHidden { card_id }))),
        (false, true) => {
            let card = ev.frame.body.card()?;
            Some(retopic(EventBody::CardVisible(CardData {
                card: card_for(p, card),
            })))
        }
        (true, true) => {
            let body = match &ev.frame.body {
                EventBody::CommentAdded(_) if customer_like(p) => return None,
                EventBody::CardCreated(d) => EventBody::CardCreated(CardData {
                    card: card_for(p, &d.card),
                }),
                EventBody::CardUpdated(d) => EventBody::CardUpdated(CardData {
                    card: card_for(p, &d.card),
                }),
                EventBody::CardAssigned(d) => EventBody::CardAssigned(CardData {
                    card: card_for(p, &d.card),
                }),
                EventBody::CardArchived(d) => EventBody::CardArchived(CardData {
                    card: card_for(p, &d.card),
                }),
                EventBody::CardMoved(m) => {
                    let mut m = m.clone();
                    m.card = card_for(p, &m.card);
                    EventBody::CardMoved(m)
                }
                other => other.clone(),
            };
            Some(retopic(body))
        }
    }
}
