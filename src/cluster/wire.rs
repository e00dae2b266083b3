//! What nodes say to each other over Redis, as MessagePack. Board events go once per board
//! channel; other frames (presence, notifications) on their topic's channel; requests for a
//! board's owner and their answers on the nodes' inbox channels.

use super::bus::WireCodec;
use boardroom_actors::domain::PresenceNote;
use boardroom_actors::live::Published;
use boardroom_actors::policy::{CardFacts, Principal};
use boardroom_protocol::{
    ErrorReply, EventFrame, Op, OpResult, PresenceState, Ref, ServerFrame, Since, Snapshot, Topic,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The Redis channel of a topic. Card topics are fed from their board's channel.
pub fn channel(prefix: &str, topic: &Topic) -> String {
    format!("{prefix}t:{topic}")
}

/// A node's inbox.
pub fn inbox(prefix: &str, node: &str) -> String {
    format!("{prefix}n:{node}")
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    /// A board event released by its owner.
    Event {
        from: String,
        ev: WireEvent,
    },
    /// An unfiltered frame for every subscriber of `topic`.
    Frame {
        from: String,
        topic: Topic,
        frame: ServerFrame,
    },
    /// A board's presence change, with what each node's hub filters it by.
    Presence {
        from: String,
        note: PresenceNote,
    },
    Request {
        from: String,
        id: u64,
        board_id: Uuid,
        req: Request,
    },
    Reply {
        id: u64,
        reply: Reply,
    },
    /// For every node (the control channel).
    Control {
        from: String,
        control: Control,
    },
}

/// Changes every node must act on.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
pub enum Control {
    /// Close the live sessions of this credential (user, key, share link, token family) with
    /// 4003.
    Revoke(Uuid),
    /// An org's members or customers changed: its running boards reload them.
    DirectoryChanged(Uuid),
}

pub fn control_channel(prefix: &str) -> String {
    format!("{prefix}ctl")
}

/// A released event with what the receiving hub's filters need.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WireEvent {
    pub org_id: Uuid,
    pub board_id: Uuid,
    pub frame: EventFrame,
    pub card_before: Option<CardFacts>,
}

impl From<&Published> for WireEvent {
    fn from(p: &Published) -> Self {
        WireEvent {
            org_id: p.org_id,
            board_id: p.board_id,
            frame: p.frame.clone(),
            card_before: p.card_before.clone(),
        }
    }
}

impl From<WireEvent> for Published {
    fn from(w: WireEvent) -> Self {
        Published {
            org_id: w.org_id,
            board_id: w.board_id,
            frame: w.frame,
            card_before: w.card_before,
        }
    }
}

/// A request for the board's owner. Connection-bound requests name the connection (ids are
/// unique in the cluster) and its encoding: the owner's answer frames come back encoded for it.
#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    Op {
        principal: Principal,
        name: String,
        op_id: Uuid,
        op: Op,
        /// The client's address, for the audit log (absent from older nodes).
        #[serde(default)]
        ip: Option<std::net::IpAddr>,
    },
    Subscribe {
        conn: u64,
        codec: WireCodec,
        view: Principal,
        name: String,
        topic: Topic,
        r#ref: Option<Ref>,
        since: Option<Since>,
    },
    Leave {
        conn: u64,
        topic: Topic,
    },
    Presence {
        conn: u64,
        codec: WireCodec,
        state: PresenceState,
        r#ref: Option<Ref>,
    },
    Snapshot {
        view: Principal,
    },
    /// Released events after `after_seq` (a node repairing a gap in the board's channel).
    Recent {
        epoch: u64,
        after_seq: u64,
    },
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Reply {
    Op(Result<OpResult, ErrorReply>),
    /// Frames for the connection, already encoded, and the board's (epoch, seq) right after.
    Frames {
        frames: Vec<serde_bytes::ByteBuf>,
        epoch: u64,
        seq: u64,
    },
    Snapshot(Option<Box<(u64, u64, Snapshot)>>),
    Recent(Option<Vec<WireEvent>>),
    /// The request could not be handled here (not the owner any more, shutting down).
    Error(ErrorReply),
}

pub fn encode(m: &Message) -> Vec<u8> {
    rmp_serde::to_vec_named(m).unwrap_or_default()
}

pub fn decode(bytes: &[u8]) -> Option<Message> {
    rmp_serde::from_slice(bytes).ok()
}
