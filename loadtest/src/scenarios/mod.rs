//! The scenarios added by the load-test issue (the first `fanout` lives in `main.rs`).

pub mod compare;
pub mod connect;
pub mod fanout;
pub mod ops;
pub mod report;
