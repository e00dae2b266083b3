//! Notifications an op causes, as plain data. The org actor stores and routes them; the
//! domain only decides who should hear about what, because only it knows the card before
//! and after the op.

use boardroom_protocol::NotificationKind;
use uuid::Uuid;

/// Who a notification is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Recipient {
    /// A member of the org.
    User(Uuid),
    /// A customer record: delivered to the customer's user when they have one (and kept for
    /// e-mail/SMS integrations when they do not).
    Customer(Uuid),
}

/// A notification to create. The server adds id, actor, created_at and read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationDraft {
    pub recipient: Recipient,
    pub kind: NotificationKind,
    pub board_id: Uuid,
    pub card_id: Uuid,
    /// The card's title.
    pub title: String,
    /// One line saying what happened.
    pub body: String,
}

/// How much of a comment a mention notification quotes.
pub const MENTION_EXCERPT_CHARS: usize = 200;

pub(crate) fn excerpt(text: &str) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(MENTION_EXCERPT_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}
