//! Where released events and frames go. On one node that is the local [`Hub`]; in a cluster
//! the broker also carries them to the other nodes, whose hubs deliver them to their own
//! subscribers. The actors only ever publish through this trait, so they do not know how many
//! nodes there are.

use super::hub::{Hub, Published};
use crate::domain::PresenceNote;
use boardroom_protocol::{ServerFrame, Topic};
use std::sync::Arc;

pub trait Broker: Send + Sync + 'static {
    /// A board event released by its owner (in seq order per board).
    fn publish_event(&self, ev: Arc<Published>);
    /// An unfiltered frame (notification, org presence) for every subscriber of `topic`.
    fn publish_frame(&self, topic: Topic, frame: ServerFrame);
    /// A board's presence change, for every subscriber of the board as its view allows.
    fn publish_presence(&self, note: Arc<PresenceNote>);
    /// Local subscribers of `topic` went from none to some (`true`) or from some to none
    /// (`false`): a cluster broker subscribes to or leaves the topic's channel.
    fn interest(&self, _topic: Topic, _interested: bool) {}
}

/// The one-node broker: straight to the local hub.
pub struct MemoryBroker {
    hub: Arc<Hub>,
}

impl MemoryBroker {
    pub fn new(hub: Arc<Hub>) -> Self {
        MemoryBroker { hub }
    }
}

impl Broker for MemoryBroker {
    fn publish_event(&self, ev: Arc<Published>) {
        self.hub.publish_event(&ev);
    }

    fn publish_frame(&self, topic: Topic, frame: ServerFrame) {
        self.hub.publish(&topic, &frame);
    }

    fn publish_presence(&self, note: Arc<PresenceNote>) {
        self.hub.publish_presence(&note);
    }
}
