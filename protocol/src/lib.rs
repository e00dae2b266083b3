//! Boardroom protocol v1: the wire types shared by the server, the load generator and bots.
//! `README.md` beside this crate is the normative spec.

pub mod codes;
pub mod role;

pub use codes::{close, ErrorCode};
pub use role::{PrincipalKind, Role, UnknownRole};
