//! The real-time core on the server side: the WebSocket gateway, live sessions by credential,
//! and the adapters that plug the store and the write-behind into the actors
//! (`boardroom_actors::live`, named by that path everywhere).

pub mod convert;
mod ending;
pub mod gateway;
pub mod sessions;
pub mod source;

use boardroom_actors::live::Broker;
use std::sync::Arc;

impl Rt {
    /// Closes the live sessions of a credential (4003), on every node.
    pub fn revoke(&self, key: uuid::Uuid) {
        self.sessions.revoke(key);
        if let Some(n) = &self.node {
            n.control(crate::cluster::Control::Revoke(key));
        }
    }

    /// An org's members or customers changed: its running boards reload them, on every node.
    pub fn directory_changed(&self, org_id: uuid::Uuid) {
        self.boards.directory_changed(org_id);
        if let Some(n) = &self.node {
            n.control(crate::cluster::Control::DirectoryChanged(org_id));
        }
    }

    /// Acts on another node's control message.
    pub fn on_control(&self, control: crate::cluster::Control) {
        match control {
            crate::cluster::Control::Revoke(key) => {
                self.sessions.revoke(key);
            }
            crate::cluster::Control::DirectoryChanged(org_id) => {
                self.boards.directory_changed(org_id)
            }
        }
    }
}

/// The shared real-time machinery of one node.
pub struct Rt {
    pub hub: Arc<boardroom_actors::live::hub::Hub>,
    /// Where presence and notifications are published (the hub, or the cluster).
    pub broker: Arc<dyn Broker>,
    /// This node of a cluster (`broker = "redis"`); `None` on a single node.
    pub node: Option<crate::cluster::Node>,
    pub boards: Arc<boardroom_actors::live::registry::BoardRegistry>,
    pub journal: crate::writebehind::Journal,
    pub online: boardroom_actors::live::online::Online,
    pub sessions: sessions::Sessions,
    /// Set once at shutdown: every session closes with 1001.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}
