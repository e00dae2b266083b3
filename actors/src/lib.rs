//! Boardroom domain and actors.

pub mod policy;
