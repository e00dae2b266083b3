//! The fault-injection suite (issue 14): Jepsen-style checks over real processes. Each
//! scenario runs the real binary (and, where it needs them, Postgres and Redis on loopback),
//! injects one fault under load, and checks what the server promised against the store:
//! every acknowledged op present, none applied twice. Each prints a one-line verdict
//! (`FAULT (x) ...: acked / found / lost / duplicated / time to recover`).
//!
//! The shared Postgres and Redis are never stopped: Redis faults use a throwaway
//! `redis-server`, Postgres faults a TCP proxy this test controls.
//!
//! CI runs the short versions; `scripts/faults` runs the long ones (`BOARDROOM_FAULTS_LONG=1`)
//! and collects the verdicts.

#[path = "../common/mod.rs"]
mod common;
mod infra;
mod support;

mod a_kill9;
mod b_owner_kill;
mod c_redis_restart;
mod d_postgres_cut;
mod e_paused_owner;
mod f_slow_consumer;
