//! Boardroom protocol v1: the wire types shared by the server, the load generator and bots.
//! `README.md` beside this crate is the normative spec.
//!
//! Everything a frame can hold is a typed value here, so the server, the load generator and
//! bots cannot disagree about names or shapes, and a frame that does not fit is a
//! [`DecodeError`] (answered with `bad_request`) before any handler sees it.

pub mod codec;
pub mod codes;
pub mod event;
pub mod frames;
pub mod model;
pub mod op;
pub mod refs;
pub mod role;
mod serde_util;
mod shape;
pub mod topic;

pub use codec::{Codec, DecodeError, DecodeErrorKind, EncodeError};
pub use codes::{close, ErrorCode};
pub use event::EventBody;
pub use frames::{
    Actor, Auth, ClientFrame, ErrorReply, EventFrame, Hello, Notification, NotificationFrame,
    NotificationKind, NotificationsRead, OkReply, OpFrame, OpRequest, OpResult, Ping, Pong,
    PresenceEntry, PresenceFrame, PresenceMap, PresenceSet, PresenceState, PrincipalInfo,
    ReadTarget, ResyncFrame, ServerFrame, Since, Subscribe, Unsubscribe, Welcome,
};
pub use model::{
    BoardSnapshot, Card, CardSnapshot, ChecklistItem, Column, ColumnRef, Comment, Priority,
    Snapshot,
};
pub use op::Op;
pub use refs::Ref;
pub use role::{PrincipalKind, Role, UnknownRole};
pub use topic::{Topic, TopicError};
