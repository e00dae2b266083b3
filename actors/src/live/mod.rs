//! The actors that own live state, and the node-local machinery around them: a root
//! supervisor -> one `OrgActor` per active organization -> the `BoardActor`s of its boards;
//! connections and their bounded queues; the fan-out hub; who is online. Everything outside
//! (the store, the write-behind, board ownership, other nodes) is reached through the traits
//! in [`ports`] and [`broker`], so none of it is compiled in here.

pub mod board;
pub mod broker;
pub mod conn;
pub mod hub;
pub mod metrics;
pub mod online;
pub mod ports;
pub mod registry;
pub mod settings;

pub use board::{BoardDeps, BoardMsg, OpReply, SubscribeReq};
pub use broker::{Broker, MemoryBroker};
pub use conn::{wire, BehindCount, ConnHandle, ConnId, ConnRx, Wire};
pub use hub::{Hub, Published, Subscriber};
pub use registry::{BoardRegistry, Route};
pub use settings::{Durability, LiveSettings};
