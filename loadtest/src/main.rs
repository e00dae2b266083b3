//! `boardroom-loadtest`: measures a Boardroom server (and, for comparison, a Socket.IO server
//! and a bare broadcast server) over real WebSockets. The scenarios:
//!
//! - `fanout`, `compare`, `connect`, `report` (and more): in the library (`src/lib.rs`,
//!   `src/scenarios/`), shared with the smoke tests;
//! - `ops` (in the library, `src/scenarios/ops/`): write throughput with durability;
//! - `cluster` (`src/cluster.rs`): fan-out with the subscribers spread over the nodes of a
//!   cluster, same-node against other-node latency;
//! - `failover` (`src/failover.rs`): starts three nodes, kills the owner of a board with
//!   SIGKILL while a writer on another node sends ops to it, and measures the time to the
//!   first op committed by the new owner; checks in Postgres that every acknowledged op was
//!   applied once.

use anyhow::{bail, Context, Result};
use boardroom_client::transport::{self, AuthMode, OpenOptions};
use boardroom_protocol::{ClientFrame, Codec, Ref, ServerFrame, Subscribe, Topic};
use clap::{Parser, Subcommand};
use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

mod cluster;
mod failover;
mod nodes;

#[derive(Parser)]
#[command(
    name = "boardroom-loadtest",
    about = "Load generator for a running Boardroom server"
)]
struct Cli {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Base URLs of several nodes of one cluster (comma-separated); replaces --url. The
    /// publisher (and so the board's owner) is on the first; `fanout` spreads its
    /// subscribers over all of them, round-robin.
    #[arg(long, value_delimiter = ',')]
    urls: Vec<String>,
    /// Redis of the cluster: when given, `fanout` reads which node holds the board's lease.
    #[arg(long)]
    redis_url: Option<String>,
    /// The cluster's `[cluster] key_prefix`.
    #[arg(long, default_value = "br:")]
    key_prefix: String,
    /// A user who may edit the board (the demo admin by default).
    #[arg(long, default_value = "admin@demo.boardroom")]
    email: String,
    #[arg(long, default_value = "boardroom-demo")]
    password: String,
    /// Encoding for every connection.
    #[arg(long, default_value = "json")]
    encoding: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// Fan-out across the nodes of a cluster: subscribers spread over the nodes, the
    /// publisher on the first; latency on the publisher's node and on the others. Starts the
    /// nodes itself, or measures the running ones given with --urls.
    Cluster(cluster::Args),
    /// Starts three nodes (ignores --url/--urls/--email/--password), kills the board's owner
    /// with SIGKILL and measures the time to the first op committed by the new owner.
    Failover(failover::Args),
    /// The scenarios of the load-test issue (fanout, compare, connect, report), in the
    /// library (`src/lib.rs`, `src/scenarios/`).
    #[command(flatten)]
    More(boardroom_loadtest::Command),
}

impl Cli {
    /// The nodes to talk to: --urls, else --url.
    fn urls(&self) -> Vec<String> {
        let urls: Vec<&String> = if self.urls.is_empty() {
            vec![&self.url]
        } else {
            self.urls.iter().collect()
        };
        urls.into_iter()
            .map(|u| u.trim().trim_end_matches('/').to_string())
            .filter(|u| !u.is_empty())
            .collect()
    }
}

type Ws = boardroom_client::Ws;

struct Target {
    /// Base HTTP URL of each node; the first is the publisher's.
    http: Vec<String>,
    /// The same as WebSocket URLs.
    ws: Vec<String>,
    token: String,
    codec: Codec,
    board: Uuid,
    card: Uuid,
}

/// Logs in on the first node and creates a board and a card there, so that in a cluster the
/// first node takes the board's lease.
async fn setup_on(
    urls: Vec<String>,
    email: &str,
    password: &str,
    encoding: &str,
) -> Result<Target> {
    let url = urls.first().context("no URL")?.clone();
    let login = boardroom_loadtest::Login {
        url,
        email: email.to_string(),
        password: password.to_string(),
        encoding: encoding.to_string(),
    };
    let s = boardroom_loadtest::boardroom::login(&login).await?;
    let name = format!("loadtest {}", Uuid::now_v7());
    let (board_id, col) = boardroom_loadtest::boardroom::create_board(&s, &name)
        .await
        .context("create board")?;
    let created = boardroom_loadtest::boardroom::http_op(
        &s,
        board_id,
        "card.create",
        json!({"column_id": col, "title": "load"}),
    )
    .await
    .context("create card")?;
    Ok(Target {
        ws: urls.iter().map(|u| ws_url(u)).collect(),
        http: urls,
        token: s.auth.token,
        codec: s.auth.codec,
        board: board_id,
        card: created["id"].as_str().context("card id")?.parse()?,
    })
}

fn ws_url(http: &str) -> String {
    http.replacen("http://", "ws://", 1)
        .replacen("https://", "wss://", 1)
}

/// A socket to `ws_base` (a ws:// URL) that said hello and was welcomed.
async fn hello(ws_base: &str, token: &str, codec: Codec) -> Result<Ws> {
    let (ws, _) = transport::connect(
        ws_base,
        token,
        codec,
        AuthMode::Hello,
        "loadtest",
        OpenOptions::default(),
    )
    .await?;
    Ok(ws)
}

/// A socket to node `node` of the target, subscribed to the board when `subscribe`.
async fn connect(t: &Target, node: usize, subscribe: bool) -> Result<Ws> {
    let mut ws = hello(&t.ws[node], &t.token, t.codec).await?;
    if subscribe {
        send(
            &mut ws,
            t.codec,
            &ClientFrame::Subscribe(Subscribe {
                r#ref: Some(Ref::Int(1)),
                topic: Topic::Board(t.board),
                since: None,
            }),
        )
        .await?;
        expect(&mut ws, t.codec, |f| matches!(f, ServerFrame::Ok(_))).await?;
    }
    Ok(ws)
}

async fn send(ws: &mut Ws, codec: Codec, f: &ClientFrame) -> Result<()> {
    Ok(transport::send(ws, codec, f).await?)
}

/// The next frame from a socket or its read half; `None` once it closed.
async fn recv<S>(rx: &mut S, codec: Codec) -> Result<Option<ServerFrame>>
where
    S: futures_util::Stream<Item = Result<Message, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    loop {
        match rx.next().await {
            Some(Ok(m)) => {
                if let Some(f) = transport::decode(codec, m)? {
                    return Ok(Some(f));
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(None),
        }
    }
}

async fn expect(
    ws: &mut Ws,
    codec: Codec,
    pred: impl Fn(&ServerFrame) -> bool,
) -> Result<ServerFrame> {
    loop {
        match recv(ws, codec).await? {
            Some(f) if pred(&f) => return Ok(f),
            Some(ServerFrame::Error(e)) => bail!("error from the server: {e:?}"),
            Some(_) => continue,
            None => bail!("connection ended"),
        }
    }
}

fn message(codec: Codec, f: &ClientFrame) -> Result<Message> {
    Ok(transport::message(codec, f)?)
}

/// The node id holding a board's lease in a cluster's Redis.
async fn lease_holder(redis_url: &str, prefix: &str, board: Uuid) -> Result<Option<String>> {
    let client = redis::Client::open(redis_url)?;
    let mut conn = client.get_multiplexed_async_connection().await?;
    Ok(redis::cmd("GET")
        .arg(format!("{prefix}lease:{board}"))
        .query_async(&mut conn)
        .await?)
}

fn update(t: &Target, i: u64, op_id: Uuid) -> ClientFrame {
    serde_json::from_value(
        json!({"type": "op", "ref": i, "topic": format!("board:{}", t.board), "op_id": op_id,
        "kind": "card.update", "data": {"card_id": t.card, "title": format!("t{i}")}}),
    )
    .expect("op frame")
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    match &cli.scenario {
        Scenario::Failover(args) => return failover::run(args).await,
        Scenario::Cluster(args) => return cluster::run(&cli, args).await,
        Scenario::More(_) => {}
    }
    let Scenario::More(cmd) = cli.scenario else {
        unreachable!("the other scenarios returned above")
    };
    let login = boardroom_loadtest::Login {
        url: cli.url,
        email: cli.email,
        password: cli.password,
        encoding: cli.encoding,
    };
    boardroom_loadtest::run(cmd, login).await
}
