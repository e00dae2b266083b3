//! The scenarios added by the load-test issue (the first `fanout` and `ops` live in `main.rs`).

pub mod compare;
pub mod connect;
pub mod fanout;
pub mod overload;
pub mod report;
