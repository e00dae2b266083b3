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
    /// Admission: ops queued to one board's actor (not yet taken in hand) beyond which new
    /// ops for that board are answered `unavailable` at once instead of waiting in line.
    pub board_inbox_ops: usize,
    /// Admission: the same bound counted in deliveries (ops waiting × the board's subscribers
    /// on this node), so that a board with many subscribers queues less work, not more, than
    /// one with few. One op is always let in.
    pub board_inbox_deliveries: usize,
    /// Admission: a subscriber with more than this many frames waiting in its send queue is
    /// behind; while more than half of a board's subscribers on this node are behind, the
    /// board answers new ops `unavailable` instead of queueing more deliveries. (Connections
    /// are given this threshold when they are made: each keeps its boards' counts of behind
    /// subscribers up to date, see `ConnHandle::bounded`.)
    pub fanout_backlog_frames: usize,
    /// The `retry_after_ms` given with those two refusals.
    pub overload_retry_after: Duration,
    /// `presence.set`: the most bytes a state may take (encoded as JSON), and how many updates
    /// one user may make per second on one board, after a burst of `presence_burst`.
    pub presence_state_bytes: usize,
    pub presence_sets_per_second: u32,
    pub presence_burst: u32,
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
            board_inbox_ops: 256,
            board_inbox_deliveries: 10_000,
            fanout_backlog_frames: 32,
            overload_retry_after: Duration::from_millis(100),
            presence_state_bytes: 1024,
            presence_sets_per_second: 10,
            presence_burst: 20,
        }
    }
}
