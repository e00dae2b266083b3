//! Boardroom's domain (the pure board state machine and the authorization policy) and the
//! actors that own it (`live`). No HTTP, SQL or Redis in here: the server plugs those in
//! through the traits of `live::ports` and `live::broker`.

pub mod domain;
pub mod live;
pub mod policy;
