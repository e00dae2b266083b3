//! Boardroom: a real-time collaboration server. This library holds the server (configuration,
//! stores, authentication, HTTP); the binary in `main.rs` is its command line.

pub mod app;
pub mod auth;
pub mod cluster;
pub mod commands;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod realtime;
pub mod seed;
pub mod server;
pub mod store;
pub mod telemetry;
pub mod templates;
pub mod webhooks;
pub mod writebehind;
