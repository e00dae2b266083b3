//! The load generator's machinery and its newer scenarios, shared by the `boardroom-loadtest`
//! binary and the `bare-peer` server:
//!
//! - `client`: WebSockets to Boardroom, the bare peer and Socket.IO, one measuring client;
//! - `engineio`: Engine.IO v4 / Socket.IO v5 framing;
//! - `accounting`: missing / duplicate / reordered deliveries by sequence number;
//! - `stats`: histograms, `/proc` readings, result records;
//! - `scenarios`: `fanout`, `compare`, `overload`, `connect`, `ops`, `report`.

pub mod accounting;
pub mod boardroom;
pub mod client;
pub mod engineio;
pub mod scenarios;
pub mod servers;
pub mod stats;

use anyhow::Result;

/// Options every scenario shares (the global flags of `boardroom-loadtest`).
pub use boardroom::Login;

/// The subcommands this library adds to `boardroom-loadtest`.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// Fanout over B boards × S subscribers with P publishers, against Boardroom (`--path op`
    /// or `presence`), the bare peer or Socket.IO; JSON result and Markdown row with `--out`.
    #[command(alias = "fanout-ext")]
    Fanout(Box<scenarios::fanout::FanoutArgs>),
    /// Boardroom and the peers in turn, interleaved, same client settings; prints the ratios
    /// Boardroom ÷ peer with their spread over rounds.
    Compare(Box<scenarios::compare::CompareArgs>),
    /// The maximum sustained rate (searched over `--rates`, or `--max-rate`), then `--factor`
    /// times it: delivered vs the maximum, `rate_limited` / `unavailable` / 4009, loss.
    Overload(Box<scenarios::overload::OverloadArgs>),
    /// N idle authenticated connections from several processes and source addresses; connect
    /// rate and server RSS per connection.
    Connect(Box<scenarios::connect::ConnectArgs>),
    /// One worker process of `connect` (started by it).
    #[command(hide = true)]
    ConnectWorker(Box<scenarios::connect::WorkerArgs>),
    /// Write throughput with durability: W writers × a window of ops in flight over B boards ×
    /// C cards, on SQLite or a fresh Postgres database (server started here); acked and
    /// committed ops/s, `ok` latency, store check; `--baseline` against one transaction per op.
    Ops(Box<scenarios::ops::OpsArgs>),
    /// SVG charts and a Markdown summary from the JSON results.
    Report(Box<scenarios::report::ReportArgs>),
}

pub async fn run(cmd: Command, login: Login) -> Result<()> {
    match cmd {
        Command::Fanout(a) => scenarios::fanout::run(&a, &login).await.map(|_| ()),
        Command::Compare(a) => scenarios::compare::run(&a, &login).await,
        Command::Overload(a) => scenarios::overload::run(&a, &login).await.map(|_| ()),
        Command::Connect(a) => scenarios::connect::run(&a, &login).await.map(|_| ()),
        Command::ConnectWorker(a) => scenarios::connect::worker(&a, &login).await,
        Command::Ops(a) => scenarios::ops::run(&a, &login).await,
        Command::Report(a) => scenarios::report::run(&a),
    }
}
