//! The knobs of the live machinery, taken from the server's config (`[realtime]` and
//! `durability` in config.toml, where each is documented).

use serde::{Deserialize, Serialize};
use std::time::Duration;

/// When an op's events are released and its sender acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Durability {
    /// After the batch holding the op commits: an acknowledged op is never lost.
    Commit,
    /// At once; the commit follows (a crash can lose the uncommitted tail).
    Apply,
}

#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub durability: Durability,
    /// Recent events a board keeps for `since` recovery.
    pub ring_buffer_events: usize,
    /// A subscriber further behind than this gets a snapshot instead of the events.
    pub max_recovery_events: usize,
    /// A board with no subscribers and nothing pending for this long passivates.
    pub board_idle: Duration,
    /// Failures of one board within `restart_window` before it is paused.
    pub max_restarts: u32,
    pub restart_window: Duration,
}

impl Default for LiveSettings {
    fn default() -> Self {
        LiveSettings {
            durability: Durability::Commit,
            ring_buffer_events: 1000,
            max_recovery_events: 5000,
            board_idle: Duration::from_secs(300),
            max_restarts: 3,
            restart_window: Duration::from_secs(60),
        }
    }
}
