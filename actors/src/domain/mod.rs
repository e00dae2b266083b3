//! The pure board domain: no async, no I/O, no clock, no randomness.
//!
//! The board actor is the only writer of a board; everything it decides about an op lives
//! here so it can be unit- and property-tested without actors, stores or sockets. Inputs
//! the domain cannot know (time, fresh ids, the org's members) come in an [`ApplyCtx`];
//! every permission question goes to [`crate::policy::decide`].

mod board;
mod ctx;
mod error;
mod limits;
mod notify;
pub mod position;
mod presence;
mod search;
mod view;

pub use board::{op_class, Applied, BoardState};
pub use ctx::{ApplyCtx, Directory, Member, OrgDirectory};
pub use error::{OpError, ReplayError};
pub use limits::Limits;
pub use notify::{NotificationDraft, Recipient, MENTION_EXCERPT_CHARS};
pub use presence::{
    presence_entry_for, presence_map_for, BoardKeyWire, PresenceFacts, PresenceNote,
};
pub use search::{find_cards, CardFilter, CardPage, SortKey};
pub use view::{
    can_read_board, can_see_card, card_facts, deliver, deliver_on_card_topic, redact_card,
    sees_private_fields, view_change, view_class, BoardKey, Delivery, ViewChange, ViewClass,
};

#[cfg(test)]
pub(crate) mod tests;
