//! Why an op was refused, and why an event could not be replayed.

use boardroom_protocol::{ErrorCode, ErrorReply, Ref};
use uuid::Uuid;

/// An op the board refused. The board state is unchanged whenever this is returned.
///
/// Each variant is one protocol error code, so the gateway maps it without looking at
/// messages; messages are written for the person who sent the op.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpError {
    /// The op is malformed for this board: a field fails validation. `field` is the path in
    /// the op frame (`data.title`), the same convention as the decoder's errors.
    #[error("{field}: {message}")]
    BadRequest { field: String, message: String },
    /// The caller may see the target but not do this to it.
    #[error("{0}")]
    Forbidden(String),
    /// No such card, column or item, or the caller may not know it exists.
    #[error("{0}")]
    NotFound(String),
    /// The op is well-formed but collides with the current state: a stale
    /// `expected_version`, a non-empty column, a client id already in use, an archived card,
    /// a board at its size limit.
    #[error("{0}")]
    Conflict(String),
    /// A bug: the state could not take an event the board itself produced.
    #[error("internal error: {0}")]
    Internal(String),
}

impl OpError {
    /// A validation failure of the op field `name` (as named in the op's `data`).
    pub fn bad(name: &str, message: impl Into<String>) -> Self {
        OpError::BadRequest {
            field: format!("data.{name}"),
            message: message.into(),
        }
    }

    pub fn code(&self) -> ErrorCode {
        match self {
            OpError::BadRequest { .. } => ErrorCode::BadRequest,
            OpError::Forbidden(_) => ErrorCode::Forbidden,
            OpError::NotFound(_) => ErrorCode::NotFound,
            OpError::Conflict(_) => ErrorCode::Conflict,
            OpError::Internal(_) => ErrorCode::Internal,
        }
    }

    /// The offending field, for `bad_request`.
    pub fn field(&self) -> Option<&str> {
        match self {
            OpError::BadRequest { field, .. } => Some(field),
            _ => None,
        }
    }

    /// The `error` frame answering the op.
    pub fn to_reply(&self, r#ref: Option<Ref>) -> ErrorReply {
        let mut reply = ErrorReply::new(r#ref, self.code(), self.to_string());
        reply.field = self.field().map(str::to_string);
        reply
    }
}

/// An event that does not fit the state it is applied to: the event log and the snapshot
/// it is replayed onto disagree. Recovery should fall back to a full reload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplayError {
    #[error("event {kind} names unknown card {card_id}")]
    UnknownCard { kind: &'static str, card_id: Uuid },
    #[error("event {kind} names unknown column {column_id}")]
    UnknownColumn { kind: &'static str, column_id: Uuid },
    #[error("event {kind} names unknown checklist item {item_id} of card {card_id}")]
    UnknownItem {
        kind: &'static str,
        card_id: Uuid,
        item_id: Uuid,
    },
}
