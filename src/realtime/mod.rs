//! The real-time core on the server side: the WebSocket gateway, live sessions by credential,
//! and the adapters that plug the store and the write-behind into the actors
//! (`boardroom_actors::live`), re-exported here under their old names.

pub mod convert;
pub mod gateway;
pub mod session_auth;
pub mod source;

pub use boardroom_actors::live::{board, conn, hub, online, registry};

use boardroom_actors::live::Broker;
use std::sync::Arc;

/// The shared real-time machinery of one node.
pub struct Rt {
    pub hub: Arc<hub::Hub>,
    /// Where presence and notifications are published (the hub, or the cluster).
    pub broker: Arc<dyn Broker>,
    /// This node of a cluster (`broker = "redis"`); `None` on a single node.
    pub node: Option<crate::cluster::Node>,
    pub boards: Arc<registry::BoardRegistry>,
    pub journal: crate::writebehind::Journal,
    pub online: online::Online,
    pub sessions: session_auth::Sessions,
    /// Set once at shutdown: every session closes with 1001.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}
