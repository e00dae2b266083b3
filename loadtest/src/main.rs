//! `boardroom-loadtest`: a first end-to-end measurement of a running Boardroom server over real
//! WebSockets. Three scenarios for now (the load-test issue adds the rest, peers and charts):
//!
//! - `fanout`: S subscribers on one board, one publisher sending `card.update` ops at R ops/s;
//!   latency from op sent to event received at every subscriber (HDR histogram). With
//!   `--urls A,B,C` (a cluster) the publisher and the board's owner are on the first node and
//!   the subscribers are spread round-robin over all of them; latency is reported separately
//!   for subscribers on the publisher's node and on the other nodes.
//! - `ops` (in the library, `src/scenarios/ops.rs`): write throughput with durability.
//! - `failover`: starts three nodes itself, kills the owner of a board with SIGKILL while a
//!   writer on another node sends ops to it, and measures the time to the first op committed
//!   by the new owner; checks in Postgres that every acknowledged op was applied once.

use anyhow::{bail, Context, Result};
use boardroom_protocol::{ClientFrame, Codec, Hello, Ref, ServerFrame, Subscribe, Topic};
use clap::{Parser, Subcommand};
use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

mod failover;

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
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Ops per second sent by the publisher.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Starts three nodes (ignores --url/--urls/--email/--password), kills the board's owner
    /// with SIGKILL and measures the time to the first op committed by the new owner.
    Failover(failover::Args),
    /// The scenarios of the load-test issue (fanout-ext, compare, connect, report), in the
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

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

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
async fn setup(cli: &Cli) -> Result<Target> {
    let urls = cli.urls();
    let url = urls.first().context("no URL")?.clone();
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{url}/api/v1/auth/login"))
        .json(&json!({"email": cli.email, "password": cli.password}))
        .send()
        .await?
        .error_for_status()
        .context("login")?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("no access token")?
        .to_string();
    let me: Value = http
        .get(format!("{url}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let org = me["memberships"][0]["org_id"]
        .as_str()
        .context("no membership")?
        .to_string();
    let board: Value = http
        .post(format!("{url}/api/v1/orgs/{org}/boards"))
        .bearer_auth(&token)
        .json(&json!({"name": format!("loadtest {}", Uuid::now_v7())}))
        .send()
        .await?
        .error_for_status()
        .context("create board")?
        .json()
        .await?;
    let board_id: Uuid = board["id"].as_str().context("board id")?.parse()?;
    let col = board["columns"][0]["id"].as_str().context("column")?;
    let created: Value = http
        .post(format!("{url}/api/v1/boards/{board_id}/ops"))
        .bearer_auth(&token)
        .json(&json!({"op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": col, "title": "load"}}))
        .send()
        .await?
        .error_for_status()
        .context("create card")?
        .json()
        .await?;
    let codec = Codec::from_query(&cli.encoding).context("--encoding is json or msgpack")?;
    Ok(Target {
        ws: urls.iter().map(|u| ws_url(u)).collect(),
        http: urls,
        token,
        codec,
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
    let mut req = format!("{ws_base}/ws").into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", codec.subprotocol().parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    send(
        &mut ws,
        codec,
        &ClientFrame::Hello(Hello {
            r#ref: None,
            token: token.to_string(),
            client: Some("loadtest".into()),
        }),
    )
    .await?;
    expect(&mut ws, codec, |f| matches!(f, ServerFrame::Welcome(_))).await?;
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
    let bytes = codec.encode_client(f)?;
    let msg = if codec.is_binary() {
        Message::Binary(bytes.into())
    } else {
        Message::Text(String::from_utf8(bytes)?.into())
    };
    ws.send(msg).await?;
    Ok(())
}

async fn recv(ws: &mut Ws, codec: Codec) -> Result<Option<ServerFrame>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Some(codec.decode_server(t.as_bytes())?)),
            Some(Ok(Message::Binary(b))) => return Ok(Some(codec.decode_server(&b)?)),
            Some(Ok(Message::Close(c))) => bail!("closed by the server: {c:?}"),
            Some(Ok(_)) => continue,
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
    let bytes = codec.encode_client(f)?;
    Ok(if codec.is_binary() {
        Message::Binary(bytes.into())
    } else {
        Message::Text(String::from_utf8(bytes)?.into())
    })
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

fn report(name: &str, h: &Histogram<u64>) {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        h.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0
    );
}

/// What one subscriber saw of the publisher's ops.
struct Seen {
    node: usize,
    hist: Histogram<u64>,
    /// Seqs of the publisher's ops delivered (the first time).
    seqs: HashSet<u64>,
    duplicates: u64,
    resyncs: u64,
}

async fn fanout(
    t: Arc<Target>,
    subscribers: usize,
    rate: u64,
    seconds: u64,
    owner: Option<(String, String)>,
) -> Result<()> {
    let nodes = t.ws.len();
    let sent: Arc<DashMap<Uuid, Instant>> = Arc::new(DashMap::new());
    let received = Arc::new(AtomicU64::new(0));
    // The publisher subscribes first, on the first node: that node is the board's owner (it
    // also took the lease when `setup` created the card there).
    let publisher = connect(&t, 0, true).await?;
    let owner_node = match &owner {
        Some((redis, prefix)) => lease_holder(redis, prefix, t.board).await?,
        None => None,
    };
    let mut subs = Vec::new();
    for i in 0..subscribers {
        let node = i % nodes;
        subs.push((node, connect(&t, node, true).await?));
    }
    println!(
        "{subscribers} subscribers connected over {nodes} node(s); publisher on {}",
        t.http[0]
    );
    match (&owner, &owner_node) {
        (Some(_), Some(n)) => println!("board {} is owned by node {n} (its Redis lease)", t.board),
        (Some(_), None) => println!("board {}: no lease found in Redis", t.board),
        (None, _) if nodes > 1 => println!(
            "board {}: owner not checked (pass --redis-url to read the lease)",
            t.board
        ),
        _ => {}
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (node, mut ws) in subs {
        let (t, sent, received, mut stop) =
            (t.clone(), sent.clone(), received.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen {
                node,
                hist: Histogram::<u64>::new(3).expect("histogram"),
                seqs: HashSet::new(),
                duplicates: 0,
                resyncs: 0,
            };
            loop {
                tokio::select! {
                    f = recv(&mut ws, t.codec) => match f {
                        Ok(Some(ServerFrame::Event(e))) => {
                            if let Some(at) = sent.get(&e.op_id) {
                                if seen.seqs.insert(e.seq) {
                                    let _ = seen.hist.record(at.elapsed().as_micros() as u64);
                                    received.fetch_add(1, Ordering::Relaxed);
                                } else {
                                    seen.duplicates += 1;
                                }
                            }
                        }
                        Ok(Some(ServerFrame::Resync(_))) => seen.resyncs += 1,
                        Ok(Some(_)) => {}
                        _ => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            seen
        }));
    }
    let total = rate * seconds;
    let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let (mut tx, mut rx) = publisher.split();
    // The publisher's acknowledgements: the seq each op got, and refusals.
    let codec = t.codec;
    let reader = tokio::spawn(async move {
        let (mut acked, mut refused) = (HashSet::new(), 0u64);
        while let Some(Ok(m)) = rx.next().await {
            let f = match &m {
                Message::Text(s) => codec.decode_server(s.as_bytes()),
                Message::Binary(b) => codec.decode_server(b),
                _ => continue,
            };
            match f {
                Ok(ServerFrame::Ok(ok)) => acked.extend(ok.seq),
                Ok(ServerFrame::Error(e)) => {
                    refused += 1;
                    if refused <= 5 {
                        eprintln!("op refused: {:?} {}", e.code, e.message);
                    }
                }
                _ => {}
            }
        }
        (acked, refused)
    });
    let started = Instant::now();
    for i in 0..total {
        let op_id = Uuid::now_v7();
        sent.insert(op_id, Instant::now());
        tx.send(message(t.codec, &update(&t, i, op_id))?).await?;
        let next = started + gap.mul_f64((i + 1) as f64);
        tokio::time::sleep_until(next.into()).await;
    }
    // Let the last events arrive.
    let expected = total * subscribers as u64;
    let wait_until = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let mut seen = Vec::new();
    for task in tasks {
        seen.push(task.await?);
    }
    let _ = tx.close().await;
    let (acked, refused) = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .map(|r| r.unwrap_or_default())
        .unwrap_or_default();
    let got = received.load(Ordering::Relaxed);
    // Against the seqs the publisher was acknowledged: what each subscriber lacks.
    let missing: u64 = seen
        .iter()
        .map(|s| acked.iter().filter(|q| !s.seqs.contains(q)).count() as u64)
        .sum();
    let duplicates: u64 = seen.iter().map(|s| s.duplicates).sum();
    let resyncs: u64 = seen.iter().map(|s| s.resyncs).sum();
    println!(
        "fanout: {subscribers} subscribers, {total} ops at {rate}/s ({} acknowledged, {refused} refused): \
         {got} of {expected} deliveries ({:.0}/s); missing {missing}, duplicate {duplicates}, resync {resyncs}",
        acked.len(),
        got as f64 / elapsed
    );
    let merged = |pick: &dyn Fn(usize) -> bool| -> Result<(usize, Histogram<u64>)> {
        let mut h = Histogram::<u64>::new(3)?;
        let mut n = 0;
        for s in seen.iter().filter(|s| pick(s.node)) {
            h.add(&s.hist)?;
            n += 1;
        }
        Ok((n, h))
    };
    if nodes == 1 {
        report("op sent -> event received", &merged(&|_| true)?.1);
        return Ok(());
    }
    let (n, h) = merged(&|node| node == 0)?;
    report(
        &format!(
            "same node as the publisher ({}, {n} subscribers)",
            t.http[0]
        ),
        &h,
    );
    let (n, h) = merged(&|node| node != 0)?;
    report(&format!("other nodes ({n} subscribers)"), &h);
    for node in 1..nodes {
        let (n, h) = merged(&|x| x == node)?;
        report(&format!("  {} ({n} subscribers)", t.http[node]), &h);
    }
    report("all subscribers", &merged(&|_| true)?.1);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Scenario::Failover(args) = &cli.scenario {
        return failover::run(args).await;
    }
    if let Scenario::More(cmd) = cli.scenario {
        let login = boardroom_loadtest::Login {
            url: cli.url,
            email: cli.email,
            password: cli.password,
            encoding: cli.encoding,
        };
        return boardroom_loadtest::run(cmd, login).await;
    }
    let owner = cli.redis_url.clone().map(|r| (r, cli.key_prefix.clone()));
    let t = Arc::new(setup(&cli).await?);
    match cli.scenario {
        Scenario::Fanout {
            subscribers,
            rate,
            seconds,
        } => fanout(t, subscribers, rate, seconds, owner).await,
        Scenario::Failover(_) => unreachable!("handled above"),
        Scenario::More(_) => unreachable!("handled above"),
    }
}
