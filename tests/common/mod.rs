//! Harness for integration tests that run the real `boardroom` binary against Postgres.
//!
//! - [`fresh_pg_url`]: a new, empty database per test (so tests run in parallel, in any order).
//! - [`TestServer`]: `boardroom serve` on a free port, logging to `target/test-logs/`, killed on
//!   drop.
//! - [`create_org`]: `boardroom create-org`, as an operator would run it.
//! - [`Api`]: a small JSON client; [`login`] and friends.
//!
//! The admin database comes from `BOARDROOM_TEST_DATABASE_URL` (set by `scripts/test`), else
//! `postgres://postgres@127.0.0.1:5432/test`.
#![allow(dead_code)]

mod assert;
mod binary;
mod both_stores;
mod cards;
mod db;
mod http;
mod limits;
mod own_redis;
mod server;
mod sse;
mod steps;
pub mod ws;

// Not every test binary uses every helper.
#[allow(unused_imports)]
pub use assert::*;
#[allow(unused_imports)]
pub use binary::*;
#[allow(unused_imports)]
pub use cards::*;
#[allow(unused_imports)]
pub use db::*;
#[allow(unused_imports)]
pub use http::*;
#[allow(unused_imports)]
pub use limits::*;
#[allow(unused_imports)]
pub use own_redis::OwnRedis;
#[allow(unused_imports)]
pub use server::*;
#[allow(unused_imports)]
pub use sse::*;
#[allow(unused_imports)]
pub use steps::*;

pub const DEFAULT_ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/test";
/// A password every test user gets unless the test is about passwords.
pub const PASSWORD: &str = "correct horse battery staple";
