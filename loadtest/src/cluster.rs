//! `cluster`: fan-out across nodes. S subscribers on one board, spread round-robin over the
//! nodes of a cluster; one publisher on the first node (which so owns the board) sends
//! `card.update` at R ops/s. Latency from op sent to event received is reported for the
//! subscribers on the publisher's node and for those on the other nodes, whose events
//! crossed Redis: the difference is what the hop costs. Every subscriber's events are checked
//! against the seqs the publisher was acknowledged: missing, duplicated, resyncs.
//!
//! The command starts the nodes itself (`--nodes N`, Postgres + Redis, a fresh org and key
//! prefix), or measures running ones given with the global `--urls A,B,C`.

use crate::nodes::{self, NodesArgs};
use crate::{connect, lease_holder, message, recv, setup_on, update, Cli};
use anyhow::{ensure, Result};
use boardroom_loadtest::stats::{save, unix_secs, Latency, Machine, OutDir};
use boardroom_protocol::ServerFrame;
use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde::Serialize;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    nodes: NodesArgs,
    /// Nodes to start (not with the global --urls, which names running nodes).
    #[arg(long = "nodes", default_value_t = 3)]
    count: usize,
    #[arg(long, default_value_t = 300)]
    subscribers: usize,
    /// Ops per second sent by the publisher.
    #[arg(long, default_value_t = 100)]
    rate: u64,
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The nodes' `durability` (set on the nodes this command starts; for the record with
    /// --urls).
    #[arg(long, default_value = "commit")]
    durability: String,
    #[command(flatten)]
    out: OutDir,
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

#[derive(Serialize)]
struct NodeLatency {
    node: String,
    subscribers: usize,
    latency: Latency,
}

#[derive(Serialize)]
pub struct ClusterResult {
    scenario: &'static str,
    unix_time: u64,
    machine: Machine,
    nodes: usize,
    /// The node holding the board's lease, read from Redis.
    owner: Option<String>,
    subscribers: usize,
    rate_ops: u64,
    seconds: u64,
    durability: String,
    encoding: String,
    ops_sent: u64,
    ops_acked: usize,
    ops_refused: u64,
    expected_deliveries: u64,
    deliveries: u64,
    deliveries_per_sec: f64,
    /// Acknowledged seqs a subscriber never got, summed over subscribers.
    missing: u64,
    duplicates: u64,
    resyncs: u64,
    /// Subscribers on the publisher's (and owner's) node.
    same_node: Latency,
    /// Subscribers on the other nodes: their events crossed Redis.
    other_nodes: Latency,
    all: Latency,
    per_node: Vec<NodeLatency>,
}

pub async fn run(cli: &Cli, args: &Args) -> Result<()> {
    let given = cli.urls();
    let mut spawned = None;
    let (urls, email, password, redis) = if given.len() > 1 {
        let redis = cli.redis_url.clone().map(|r| (r, cli.key_prefix.clone()));
        (given, cli.email.clone(), cli.password.clone(), redis)
    } else {
        ensure!(args.count >= 2, "--nodes: a cluster has two nodes or more");
        let (email, password) = nodes::create_org(&args.nodes, "Cluster bench")?;
        let prefix = nodes::fresh_prefix("brc");
        let env = [
            ("BOARDROOM_DURABILITY", args.durability.clone()),
            // One publisher at R ops/s: keep the per-connection op limit out of it.
            (
                "BOARDROOM_LIMITS__OPS_PER_SECOND_PER_CONNECTION",
                "1000000".into(),
            ),
            (
                "BOARDROOM_LIMITS__OPS_BURST_PER_CONNECTION",
                "1000000".into(),
            ),
        ];
        let c = nodes::start(
            &args.nodes,
            args.count,
            "cluster",
            &nodes::secret(),
            &prefix,
            &env,
        )
        .await?;
        let urls = (0..args.count)
            .map(|i| c.base(i))
            .collect::<Result<Vec<_>>>()?;
        spawned = Some(c);
        let redis = Some((args.nodes.redis_url.clone(), prefix));
        (urls, email, password, redis)
    };
    let t = Arc::new(setup_on(urls, &email, &password, &cli.encoding).await?);
    let result = fanout(t, args, redis, &cli.encoding).await;
    drop(spawned);
    let result = result?;
    if let Some(dir) = args.out.dir() {
        let ms = |l: &Latency| format!("{:.2} / {:.2} ms", l.p50_ms, l.p99_ms);
        let row = format!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {} |",
            result.nodes,
            result.subscribers,
            result.rate_ops,
            result.durability,
            result.deliveries_per_sec,
            ms(&result.same_node),
            ms(&result.other_nodes),
            result.missing,
            result.duplicates,
            result.resyncs,
        );
        save(
            dir,
            &format!("cluster-{}n-{}s-r{}-{}", result.nodes, result.subscribers, result.rate_ops, result.unix_time),
            &result,
            "| nodes | subscribers | ops/s | durability | deliveries/s | same node p50 / p99 | other nodes p50 / p99 | missing | dup | resync |\n|---|---|---|---|---|---|---|---|---|---|",
            &row,
        )?;
    }
    ensure!(
        result.missing == 0 && result.duplicates == 0,
        "{} missing and {} duplicate deliveries",
        result.missing,
        result.duplicates
    );
    Ok(())
}

async fn fanout(
    t: Arc<crate::Target>,
    args: &Args,
    redis: Option<(String, String)>,
    encoding: &str,
) -> Result<ClusterResult> {
    let (subscribers, rate, seconds) = (args.subscribers, args.rate, args.seconds);
    let nodes = t.ws.len();
    let sent: Arc<DashMap<Uuid, Instant>> = Arc::new(DashMap::new());
    let received = Arc::new(AtomicU64::new(0));
    // The publisher subscribes first, on the first node: that node is the board's owner (it
    // also took the lease when `setup` created the card there).
    let publisher = connect(&t, 0, true).await?;
    let owner = match &redis {
        Some((url, prefix)) => lease_holder(url, prefix, t.board).await?,
        None => None,
    };
    let mut subs = Vec::new();
    for i in 0..subscribers {
        let node = i % nodes;
        subs.push((node, connect(&t, node, true).await?));
    }
    println!(
        "{subscribers} subscribers connected over {nodes} node(s); publisher on {}; board owned by {}",
        t.http[0],
        owner.as_deref().unwrap_or("? (pass --redis-url to read the lease)")
    );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for (node, mut ws) in subs {
        let (t, sent, received, mut stop) =
            (t.clone(), sent.clone(), received.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut seen = Seen {
                node,
                // Auto-resizing: a few KiB each, not the 150 KiB of a fixed-bounds one.
                hist: Histogram::new(3).unwrap_or_else(|_| boardroom_loadtest::stats::histogram()),
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
    let mut last_progress = Instant::now();
    for i in 0..total {
        let op_id = Uuid::now_v7();
        sent.insert(op_id, Instant::now());
        tx.send(message(t.codec, &update(&t, i, op_id))?).await?;
        let next = started + gap.mul_f64((i + 1) as f64);
        tokio::time::sleep_until(next.into()).await;
        if last_progress.elapsed() >= Duration::from_secs(1) {
            last_progress = Instant::now();
            eprint!(
                "\r{:>4.0} s: {} ops sent, {} deliveries   ",
                started.elapsed().as_secs_f64(),
                i + 1,
                received.load(Ordering::Relaxed)
            );
        }
    }
    eprintln!();
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
        "cluster fanout: {subscribers} subscribers, {total} ops at {rate}/s ({} acknowledged, {refused} refused): \
         {got} of {expected} deliveries ({:.0}/s); missing {missing}, duplicate {duplicates}, resync {resyncs}",
        acked.len(),
        got as f64 / elapsed
    );
    let merged = |pick: &dyn Fn(usize) -> bool| -> Result<(usize, Histogram<u64>)> {
        let mut h = boardroom_loadtest::stats::histogram();
        let mut n = 0;
        for s in seen.iter().filter(|s| pick(s.node)) {
            h.add(&s.hist)?;
            n += 1;
        }
        Ok((n, h))
    };
    let (n_same, same) = merged(&|node| node == 0)?;
    let (n_other, other) = merged(&|node| node != 0)?;
    let (_, all) = merged(&|_| true)?;
    println!(
        "same node as the publisher ({}, {n_same} subscribers): {}",
        t.http[0],
        Latency::of(&same).line()
    );
    println!(
        "other nodes ({n_other} subscribers): {}",
        Latency::of(&other).line()
    );
    let mut per_node = Vec::new();
    for node in 0..nodes {
        let (n, h) = merged(&|x| x == node)?;
        let latency = Latency::of(&h);
        println!("  {} ({n} subscribers): {}", t.http[node], latency.line());
        per_node.push(NodeLatency {
            node: t.http[node].clone(),
            subscribers: n,
            latency,
        });
    }
    println!("all subscribers: {}", Latency::of(&all).line());
    Ok(ClusterResult {
        scenario: "cluster",
        unix_time: unix_secs(),
        machine: Machine::here(),
        nodes,
        owner,
        subscribers,
        rate_ops: rate,
        seconds,
        durability: args.durability.clone(),
        encoding: encoding.to_string(),
        ops_sent: total,
        ops_acked: acked.len(),
        ops_refused: refused,
        expected_deliveries: expected,
        deliveries: got,
        deliveries_per_sec: got as f64 / elapsed,
        missing,
        duplicates,
        resyncs,
        same_node: Latency::of(&same),
        other_nodes: Latency::of(&other),
        all: Latency::of(&all),
        per_node,
    })
}
