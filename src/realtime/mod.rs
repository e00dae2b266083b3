//! The real-time core on the server side: connections, the fan-out hub, board actors, the
//! WebSocket gateway, presence of who is online, and live sessions by credential.

pub mod board;
pub mod conn;
pub mod convert;
pub mod gateway;
pub mod hub;
pub mod online;
pub mod registry;
pub mod session_auth;

use std::sync::Arc;

/// The shared real-time machinery of one node.
pub struct Rt {
    pub hub: Arc<hub::Hub>,
    pub boards: Arc<registry::BoardRegistry>,
    pub journal: crate::writebehind::Journal,
    pub online: online::Online,
    pub sessions: session_auth::Sessions,
    /// Set once at shutdown: every session closes with 1001.
    pub shutdown: tokio::sync::watch::Sender<bool>,
}
