//! The outside world as the actors see it. The actors own live state; everything they read
//! from or hand to something durable or remote goes through one of these traits, so this
//! crate needs no database, no Redis and no HTTP, and the cluster only adds implementations:
//!
//! - [`BoardSource`]: durable state to load a board from (the server's store).
//! - [`Journal`]: where applied ops go to become durable (the write-behind group commit).
//! - [`Ownership`]: who may write a board, with its fencing epoch (one node: always us;
//!   cluster: a Redis lease).
//! - [`Broker`](super::broker::Broker): where released events and frames go (one node: the
//!   local hub; cluster: the hub and Redis).

use crate::domain::OrgDirectory;
use async_trait::async_trait;
use boardroom_protocol::{BoardSnapshot, Card, Column, EventFrame, Notification};
use std::collections::HashMap;
use tokio::sync::oneshot;
use uuid::Uuid;

/// A port could not answer. The actors turn this into `unavailable` for the client: the
/// request may be retried, nothing was changed.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PortError(pub String);

impl PortError {
    pub fn new(e: impl std::fmt::Display) -> Self {
        PortError(e.to_string())
    }
}

/// Which org a board belongs to, and whether it still takes changes.
#[derive(Debug, Clone, Copy)]
pub struct BoardHeader {
    pub org_id: Uuid,
    pub archived: bool,
}

/// Who may be assigned, mentioned and notified in an org.
#[derive(Debug, Clone, Default)]
pub struct OrgPeople {
    pub directory: OrgDirectory,
    /// customer id -> the customer's user (a customer without a login gets no notifications).
    pub customers: HashMap<Uuid, Option<Uuid>>,
    /// user -> what they muted in this org (members who never set preferences are absent).
    pub mutes: HashMap<Uuid, NotificationMutes>,
}

/// What one member does not want to be notified of (issue 13.4). A muted notification is not
/// created at all: never pushed, never counted as unread.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NotificationMutes {
    pub kinds: Vec<boardroom_protocol::NotificationKind>,
    pub boards: Vec<Uuid>,
}

impl NotificationMutes {
    pub fn mutes(&self, kind: boardroom_protocol::NotificationKind, board_id: Uuid) -> bool {
        self.kinds.contains(&kind) || self.boards.contains(&board_id)
    }
}

/// An op that was applied and committed: a retried `op_id` gets this answer back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentOp {
    pub op_id: Uuid,
    /// The principal that sent it: only its retries get this answer. `None` for ops recorded
    /// before senders were kept (any authorized sender's retry gets the answer).
    pub principal_id: Option<Uuid>,
    pub seq: u64,
    pub result_id: Option<Uuid>,
}

/// Durable state to load boards from.
#[async_trait]
pub trait BoardSource: Send + Sync + 'static {
    async fn board_header(&self, board_id: Uuid) -> Result<Option<BoardHeader>, PortError>;
    async fn load_board(&self, board_id: Uuid) -> Result<Option<BoardSnapshot>, PortError>;
    async fn people(&self, org_id: Uuid) -> Result<OrgPeople, PortError>;
    /// The newest `limit` applied ops of a board, newest first.
    async fn recent_ops(&self, board_id: Uuid, limit: usize) -> Result<Vec<RecentOp>, PortError>;
    /// One committed op of a board by its op_id: a retry older than what the actor keeps in
    /// memory must still get its first answer, not be applied again.
    async fn applied_op(&self, board_id: Uuid, op_id: Uuid) -> Result<Option<RecentOp>, PortError>;
    async fn unread_count(&self, user_id: Uuid) -> Result<u64, PortError>;
    /// The board's committed events with seq > `after_seq`, oldest first, at most `limit`
    /// (recovery of a subscriber that is further behind than the ring buffer).
    async fn events_after(
        &self,
        board_id: Uuid,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<EventFrame>, PortError>;
}

/// A row the write-behind must leave as the op left it.
#[derive(Debug, Clone, PartialEq)]
pub enum RowWrite {
    Column(Column),
    DeleteColumn(Uuid),
    Card(Box<Card>),
}

/// A notification to store for a user.
#[derive(Debug, Clone, PartialEq)]
pub struct NewNotification {
    pub org_id: Uuid,
    pub user_id: Uuid,
    pub notification: Notification,
}

/// Everything one applied op must make durable, in one piece.
#[derive(Debug, Clone)]
pub struct JournalEntry {
    pub org_id: Uuid,
    pub board_id: Uuid,
    /// The epoch the writer holds: the commit is refused when the board has moved past it.
    pub epoch: u64,
    pub op: RecentOp,
    pub events: Vec<EventFrame>,
    pub rows: Vec<RowWrite>,
    pub notifications: Vec<NewNotification>,
    /// The address the op came from (audit log); None when the path does not know it.
    pub ip: Option<std::net::IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommitOutcome {
    Committed,
    /// The board's epoch moved on: another writer owns it now. The sender must step down.
    Fenced,
    /// The database refused this entry for good (a constraint it breaks). The sender must
    /// reload from durable state.
    Rejected(String),
}

#[derive(Debug, Clone, Copy, thiserror::Error, PartialEq, Eq)]
pub enum SubmitError {
    #[error("the write-behind journal is full")]
    Full,
    #[error("the write-behind journal is closed")]
    Closed,
}

/// How an entry's commit ended, told once, by whoever settles it (the journal's flusher),
/// straight to the sender: no task in between to wake (each hop waits its turn on a busy
/// runtime, and commit-mode latency is the sum of them). Dropped untold (the journal is
/// gone), it tells `Rejected`, so a sender never waits forever.
pub struct CommitNotice(Option<Box<dyn FnOnce(CommitOutcome) + Send>>);

impl CommitNotice {
    pub fn new(tell: impl FnOnce(CommitOutcome) + Send + 'static) -> Self {
        Self(Some(Box::new(tell)))
    }

    /// A notice whose outcome arrives on a channel.
    pub fn channel() -> (Self, oneshot::Receiver<CommitOutcome>) {
        let (tx, rx) = oneshot::channel();
        (
            Self::new(move |o| {
                let _ = tx.send(o);
            }),
            rx,
        )
    }

    pub fn tell(mut self, outcome: CommitOutcome) {
        if let Some(tell) = self.0.take() {
            tell(outcome);
        }
    }
}

impl Drop for CommitNotice {
    fn drop(&mut self) {
        if let Some(tell) = self.0.take() {
            tell(CommitOutcome::Rejected("journal closed".into()));
        }
    }
}

/// A place reserved in the journal. Reserving before applying means an op is only ever
/// applied in memory when its write is sure to be accepted.
pub trait JournalSlot: Send {
    fn send(self: Box<Self>, entry: JournalEntry, done: CommitNotice);
}

/// Where applied ops go to become durable.
pub trait Journal: Send + Sync + 'static {
    fn try_reserve(&self) -> Result<Box<dyn JournalSlot>, SubmitError>;
}

/// This node's right to write a board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The fencing token: raised on every takeover; the journal refuses older epochs.
    pub epoch: u64,
    /// The last committed seq: the board's events continue from here.
    pub last_seq: u64,
}

/// What taking a board for writing gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Acquired {
    Owned(Claim),
    /// Another live node writes this board; requests go there.
    Elsewhere {
        node: String,
    },
    NotFound,
}

/// Who writes which board. One node owns every board it loads; a cluster holds a lease per
/// board so that there is one writer in the whole cluster.
#[async_trait]
pub trait Ownership: Send + Sync + 'static {
    async fn acquire(&self, board_id: Uuid) -> Result<Acquired, PortError>;
    /// Gives a board up (passivation, shutdown, fenced). Best effort: a lease left behind
    /// simply expires.
    async fn release(&self, board_id: Uuid, epoch: u64);
    /// Whether we still hold the board at `epoch`; an owner that lost its lease steps down
    /// before writing more.
    fn still_owner(&self, board_id: Uuid, epoch: u64) -> bool;
}

/// Carries requests for boards owned by another node to that node, and their answers back to
/// the connection or caller named in the request. Absent on a single node.
pub trait Forwarder: Send + Sync + 'static {
    fn forward(&self, node: &str, board_id: Uuid, msg: super::board::BoardMsg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_tells_its_outcome_once() {
        let (notice, mut rx) = CommitNotice::channel();
        notice.tell(CommitOutcome::Committed);
        assert_eq!(rx.try_recv(), Ok(CommitOutcome::Committed));
    }

    /// A journal that goes away with entries in it must not leave their senders waiting.
    #[test]
    fn a_notice_dropped_untold_says_rejected() {
        let (notice, mut rx) = CommitNotice::channel();
        drop(notice);
        assert_eq!(
            rx.try_recv(),
            Ok(CommitOutcome::Rejected("journal closed".into()))
        );
    }
}
