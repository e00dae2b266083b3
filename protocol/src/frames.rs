//! Every WebSocket frame of protocol v1, both directions (PROTOCOL.md, "WebSocket transport").
//!
//! A frame is an object whose `"type"` selects the variant. Frames tolerate unknown fields
//! (so newer clients can talk to older servers); op `data` does not (see [`crate::op`]).

use crate::codes::ErrorCode;
use crate::event::EventBody;
use crate::model::Snapshot;
use crate::op::Op;
use crate::refs::Ref;
use crate::role::{PrincipalKind, Role};
use crate::topic::Topic;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

// ---------------------------------------------------------------------------------------
// Client -> server

/// A frame sent by a client.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ClientFrame {
    #[serde(rename = "hello")]
    Hello(Hello),
    #[serde(rename = "auth")]
    Auth(Auth),
    #[serde(rename = "ping")]
    Ping(Ping),
    #[serde(rename = "subscribe")]
    Subscribe(Subscribe),
    #[serde(rename = "unsubscribe")]
    Unsubscribe(Unsubscribe),
    #[serde(rename = "op")]
    Op(OpFrame),
    #[serde(rename = "presence.set")]
    PresenceSet(PresenceSet),
    #[serde(rename = "notifications.read")]
    NotificationsRead(NotificationsRead),
}

impl ClientFrame {
    pub const TYPES: [&'static str; 8] = [
        "hello",
        "auth",
        "ping",
        "subscribe",
        "unsubscribe",
        "op",
        "presence.set",
        "notifications.read",
    ];

    /// The wire name of this frame's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            ClientFrame::Hello(_) => "hello",
            ClientFrame::Auth(_) => "auth",
            ClientFrame::Ping(_) => "ping",
            ClientFrame::Subscribe(_) => "subscribe",
            ClientFrame::Unsubscribe(_) => "unsubscribe",
            ClientFrame::Op(_) => "op",
            ClientFrame::PresenceSet(_) => "presence.set",
            ClientFrame::NotificationsRead(_) => "notifications.read",
        }
    }

    /// The request's `ref`, which its reply must echo.
    pub fn r#ref(&self) -> Option<&Ref> {
        match self {
            ClientFrame::Hello(f) => f.r#ref.as_ref(),
            ClientFrame::Auth(f) => f.r#ref.as_ref(),
            ClientFrame::Ping(f) => f.r#ref.as_ref(),
            ClientFrame::Subscribe(f) => f.r#ref.as_ref(),
            ClientFrame::Unsubscribe(f) => f.r#ref.as_ref(),
            ClientFrame::Op(f) => f.r#ref.as_ref(),
            ClientFrame::PresenceSet(f) => f.r#ref.as_ref(),
            ClientFrame::NotificationsRead(f) => f.r#ref.as_ref(),
        }
    }
}

/// `hello`: the first frame, unless the upgrade request carried `Authorization: Bearer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    /// Access JWT, API key (`br_…`) or share token (`brs_…`).
    pub token: String,
    /// Free-form client name and version, for logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// `auth`: renew a long-lived session with a fresh access JWT before the old one expires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub token: String,
}

/// `ping` -> `pong` with the same `ref`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
}

/// The last event a client applied on a topic; lets a reconnecting client resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Since {
    pub epoch: u64,
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub topic: Topic,
    /// Present on a resume: the server replays what came after it, or sends a snapshot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<Since>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub topic: Topic,
}

/// `op`: one board op. `op_id` is made by the client and makes retries idempotent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpFrame {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub topic: Topic,
    pub op_id: Uuid,
    /// `kind` and `data` on the wire.
    #[serde(flatten)]
    pub op: Op,
}

/// What a user is doing on a topic. Relayed to every subscriber of the topic, merged per user.
///
/// `focus` and `editing` are the fields v1 defines; other fields are carried through
/// unchanged so clients can add indicators (typing, cursors) without a protocol change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceState {
    /// The card the user has open, if any.
    #[serde(default)]
    pub focus: Option<Uuid>,
    #[serde(default)]
    pub editing: bool,
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceSet {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub topic: Topic,
    pub state: PresenceState,
}

/// Which notifications `notifications.read` marks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadTarget {
    Ids(Vec<Uuid>),
    All,
}

/// `notifications.read` with either `ids` or `"all":true`, never both and never neither.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "NotificationsReadWire", into = "NotificationsReadWire")]
pub struct NotificationsRead {
    pub r#ref: Option<Ref>,
    pub target: ReadTarget,
}

#[derive(Serialize, Deserialize)]
struct NotificationsReadWire {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    r#ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    ids: Option<Vec<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    all: Option<bool>,
}

impl TryFrom<NotificationsReadWire> for NotificationsRead {
    type Error = String;

    fn try_from(w: NotificationsReadWire) -> Result<Self, Self::Error> {
        let target = match (w.ids, w.all) {
            (Some(ids), None | Some(false)) => ReadTarget::Ids(ids),
            (None, Some(true)) => ReadTarget::All,
            (Some(_), Some(true)) => {
                return Err("notifications.read takes `ids` or `\"all\":true`, not both".into())
            }
            (None, None | Some(false)) => {
                return Err("notifications.read needs `ids` or `\"all\":true`".into())
            }
        };
        Ok(NotificationsRead {
            r#ref: w.r#ref,
            target,
        })
    }
}

impl From<NotificationsRead> for NotificationsReadWire {
    fn from(n: NotificationsRead) -> Self {
        let (ids, all) = match n.target {
            ReadTarget::Ids(ids) => (Some(ids), None),
            ReadTarget::All => (None, Some(true)),
        };
        NotificationsReadWire {
            r#ref: n.r#ref,
            ids,
            all,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Server -> client

/// A frame sent by the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ServerFrame {
    #[serde(rename = "welcome")]
    Welcome(Welcome),
    #[serde(rename = "ok")]
    Ok(OkReply),
    #[serde(rename = "error")]
    Error(ErrorReply),
    #[serde(rename = "pong")]
    Pong(Pong),
    #[serde(rename = "event")]
    Event(EventFrame),
    #[serde(rename = "presence")]
    Presence(PresenceFrame),
    #[serde(rename = "notification")]
    Notification(NotificationFrame),
    /// The subscription ended on the server's side (the board actor restarted): subscribe
    /// again, with `since`, to carry on. An addition to PROTOCOL.md.
    #[serde(rename = "resync")]
    Resync(ResyncFrame),
}

impl ServerFrame {
    pub const TYPES: [&'static str; 8] = [
        "welcome",
        "ok",
        "error",
        "pong",
        "event",
        "presence",
        "notification",
        "resync",
    ];

    /// The wire name of this frame's type.
    pub fn type_name(&self) -> &'static str {
        match self {
            ServerFrame::Welcome(_) => "welcome",
            ServerFrame::Ok(_) => "ok",
            ServerFrame::Error(_) => "error",
            ServerFrame::Pong(_) => "pong",
            ServerFrame::Event(_) => "event",
            ServerFrame::Presence(_) => "presence",
            ServerFrame::Notification(_) => "notification",
            ServerFrame::Resync(_) => "resync",
        }
    }

    /// The `ref` this frame answers, for replies.
    pub fn r#ref(&self) -> Option<&Ref> {
        match self {
            ServerFrame::Welcome(f) => f.r#ref.as_ref(),
            ServerFrame::Ok(f) => f.r#ref.as_ref(),
            ServerFrame::Error(f) => f.r#ref.as_ref(),
            ServerFrame::Pong(f) => f.r#ref.as_ref(),
            ServerFrame::Event(_)
            | ServerFrame::Presence(_)
            | ServerFrame::Notification(_)
            | ServerFrame::Resync(_) => None,
        }
    }
}

/// Who the session is, as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalInfo {
    pub kind: PrincipalKind,
    pub id: Uuid,
    pub org_id: Uuid,
    /// Share links are `customer`.
    pub role: Role,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Welcome {
    /// Echoes the `hello`'s `ref` when it had one.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub session_id: Uuid,
    pub principal: PrincipalInfo,
    pub heartbeat_ms: u64,
    pub max_frame_bytes: u64,
    pub server_time: DateTime<Utc>,
}

/// Presence of one user on a topic: `{"name":…,"state":{…}}`. In `leaves` the state is the
/// user's last one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceEntry {
    pub name: String,
    #[serde(default)]
    pub state: PresenceState,
}

/// User id -> presence. Sorted so that the same presence encodes to the same bytes.
pub type PresenceMap = BTreeMap<Uuid, PresenceEntry>;

/// `ok`: the success reply to any request. Which result fields are present depends on the
/// request (subscribe: topic/epoch/seq/snapshot/presence/recovered; op: seq/id;
/// notifications.read: unread; auth/unsubscribe/presence.set: none).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OkReply {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<Topic>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<Snapshot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub presence: Option<PresenceMap>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// The id of the object an op created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unread: Option<u64>,
}

impl OkReply {
    /// A bare `ok` for `ref`.
    pub fn new(r#ref: Option<Ref>) -> Self {
        OkReply {
            r#ref,
            ..OkReply::default()
        }
    }
}

/// `error`: a request failed, or a frame could not be read. The connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
    pub code: ErrorCode,
    /// What a person can act on.
    pub message: String,
    /// With `rate_limited` and `unavailable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
    /// With `bad_request` when one field is wrong (same as the HTTP error body's `field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorReply {
    pub fn new(r#ref: Option<Ref>, code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorReply {
            r#ref,
            code,
            message: message.into(),
            retry_after_ms: None,
            field: None,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub r#ref: Option<Ref>,
}

/// Who caused an event or a notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub kind: PrincipalKind,
    pub id: Uuid,
    pub name: String,
}

/// `event`: one change on a topic, in `(epoch, seq)` order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventFrame {
    pub topic: Topic,
    pub epoch: u64,
    pub seq: u64,
    /// `kind` and `data` on the wire.
    #[serde(flatten)]
    pub body: EventBody,
    pub actor: Actor,
    /// The op that caused the event.
    pub op_id: Uuid,
    pub at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceFrame {
    pub topic: Topic,
    #[serde(default)]
    pub joins: PresenceMap,
    #[serde(default)]
    pub leaves: PresenceMap,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum NotificationKind {
    #[serde(rename = "card.assigned")]
    CardAssigned,
    #[serde(rename = "mention")]
    Mention,
    #[serde(rename = "job.status")]
    JobStatus,
}

impl NotificationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationKind::CardAssigned => "card.assigned",
            NotificationKind::Mention => "mention",
            NotificationKind::JobStatus => "job.status",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    pub id: Uuid,
    pub kind: NotificationKind,
    pub board_id: Uuid,
    pub card_id: Uuid,
    pub title: String,
    pub body: String,
    pub actor: Actor,
    pub created_at: DateTime<Utc>,
    pub read: bool,
}

/// `notification`: pushed on `user:<id>`; `unread` is the user's unread count after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotificationFrame {
    pub notification: Notification,
    pub unread: u64,
}

/// `resync`: the subscription to `topic` has ended on the server's side. The client keeps
/// its state and its last `(epoch, seq)` and subscribes again with `since`, which either
/// replays what it missed or answers with a fresh snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResyncFrame {
    pub topic: Topic,
    /// Why, for logs and people.
    pub reason: String,
}

// ---------------------------------------------------------------------------------------
// HTTP bodies that share the op types

/// Body of `POST /api/v1/boards/{board}/ops`: an op frame without `type`, `ref`, `topic`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpRequest {
    pub op_id: Uuid,
    #[serde(flatten)]
    pub op: Op,
}

/// Answer of `POST /api/v1/boards/{board}/ops`: `{seq, id?}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpResult {
    pub seq: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
}
