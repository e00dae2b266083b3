//! A Rust client for Boardroom protocol v1 (`protocol/README.md` is the spec).
//!
//! - [`Client`]: one logical session that outlives its connections. It authenticates (a `hello`
//!   with an access token, API key or share token, or an `Authorization: Bearer` header),
//!   speaks JSON or MessagePack, keeps its subscriptions across reconnects by resubscribing
//!   with `since {epoch, seq}` (so missed events are replayed, not lost), and keeps every op
//!   in an outbox until the server acknowledges it: an op whose `ok` was lost with the
//!   connection is sent again with the same `op_id`, which the server applies only once.
//!   Events arrive on [`Events`], a [`futures_util::Stream`].
//! - [`BoardState`]: a board's columns and cards kept up to date from a snapshot and events.
//! - [`transport`]: one socket without any of that (open, handshake, frames in and out), for
//!   programs that drive sockets in their own loops, such as the load generator.
//!
//! Plain `ws://` only: put TLS in front of it with a proxy (see README.md).

pub mod board;
mod client;
mod error;
pub mod transport;

pub use board::checklist_complete;
pub use board::BoardState;
pub use boardroom_protocol as protocol;
pub use client::{Client, Event, Events, OpAck, Options};
pub use error::Error;
pub use transport::{AuthMode, Ws};
