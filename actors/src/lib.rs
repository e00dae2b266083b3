//! Boardroom domain and actors.

pub mod domain;
pub mod policy;
