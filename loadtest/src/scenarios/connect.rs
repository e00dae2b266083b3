//! `connect`: N idle connections, authenticated (`hello` -> `welcome` on Boardroom; `40`
//! connect on Socket.IO; the bare upgrade on the bare peer), opened by `--processes` worker
//! processes (one process may hold at most ~20 000 open files here) from source addresses
//! 127.0.0.2–.9 (each address has its own 28k ephemeral ports towards the server), held for
//! `--hold-secs` while each connection keeps answering the server's pings. Reports the connect
//! rate, the handshake latency, and the server's RSS per connection read from
//! `/proc/<pid>/status` (a local server: `--server-pid`, or one started here with `--spawn`).
//! With `--urls` (several nodes of a cluster, and `--server-pids`) worker k connects to node
//! k mod N, and the RSS is read and reported per node: one node also holds at most ~20 000
//! open files.
//!
//! The workers are this same executable (`connect-worker`), speaking to the parent in lines on
//! stdout: `progress <ok> <failed>`, then `connected <ok> <failed> <histogram json>`, and after
//! the parent writes `stop` on their stdin, `open <still open>`.

use crate::boardroom::{self, Login};
use crate::client::{self, ServerKind, Ws};
use crate::engineio;
use crate::servers::{self, SpawnArgs, Spawned};
use crate::stats::{
    self, cell, cell_fixed, histogram, ConnectResult, Latency, Machine, NodeConnect,
};
use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const TOKEN_ENV: &str = "BOARDROOM_LOADTEST_TOKEN";

fn default_sources() -> Vec<IpAddr> {
    (2..=9).map(|i| IpAddr::from([127, 0, 0, i])).collect()
}

#[derive(clap::Args, Debug, Clone)]
pub struct ConnectArgs {
    #[arg(long, value_enum, default_value = "boardroom")]
    pub server: ServerKind,
    #[arg(long, default_value_t = 1000)]
    pub connections: usize,
    /// Worker processes sharing the connections (each below its open-file limit).
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// Source addresses, used in turn (default 127.0.0.2 … 127.0.0.9).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<IpAddr>,
    /// Handshakes in flight at once, per process.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Hold the connections this long once all are open.
    #[arg(long, default_value_t = 10.0)]
    pub hold_secs: f64,
    /// The local server's pid, for its RSS.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// Several nodes of one cluster (comma-separated base URLs), instead of `--url`: worker
    /// process k connects to node k mod N (so use a multiple of N processes), since one
    /// process (server or client) holds at most ~20 000 open files here.
    #[arg(long, value_delimiter = ',')]
    pub urls: Vec<String>,
    /// The local pids of the `--urls` nodes, in the same order, for their RSS.
    #[arg(long, value_delimiter = ',')]
    pub server_pids: Vec<u32>,
    /// Start the server here (see `compare` for the settings) instead of using `--url`.
    #[arg(long)]
    pub spawn: bool,
    /// Durability of a Boardroom started here.
    #[arg(long, default_value = "commit")]
    pub durability: String,
    #[command(flatten)]
    pub spawn_args: SpawnArgs,
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub label: Option<String>,
    /// The executable run as worker (default: this one).
    #[arg(long, hide = true)]
    pub worker_exe: Option<PathBuf>,
}

#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    #[arg(long, value_enum)]
    pub server: ServerKind,
    #[arg(long)]
    pub count: usize,
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<IpAddr>,
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// First index into the sources (so that workers start on different addresses).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

/// Keeps one idle connection alive (answering pings) until it ends.
async fn hold(mut ws: Ws, kind: ServerKind, open: Arc<AtomicU64>) {
    while let Some(Ok(m)) = ws.next().await {
        match m {
            Message::Close(_) => break,
            Message::Text(t) if kind == ServerKind::Socketio => {
                if let Ok(engineio::Eio::Ping(d)) = engineio::decode_eio(&t) {
                    if ws
                        .send(Message::Text(engineio::pong_frame(d).into()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    open.fetch_sub(1, Ordering::Relaxed);
}

/// The worker process: opens `count` connections, reports, holds them until told to stop.
pub async fn worker(w: &WorkerArgs, login: &Login) -> Result<()> {
    let auth = match w.server {
        ServerKind::Boardroom => Some(client::BoardroomAuth {
            url: login.url.clone(),
            token: std::env::var(TOKEN_ENV).context("no token for the worker")?,
            codec: boardroom_protocol::Codec::from_query(&login.encoding)
                .context("--encoding is json or msgpack")?,
        }),
        _ => None,
    };
    let ok = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let open = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(histogram()));
    let errors = Arc::new(Mutex::new(std::collections::BTreeMap::<String, u64>::new()));
    let progress = {
        let (ok, failed) = (ok.clone(), failed.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                println!(
                    "progress {} {}",
                    ok.load(Ordering::Relaxed),
                    failed.load(Ordering::Relaxed)
                );
            }
        })
    };
    let started = Instant::now();
    futures_util::stream::iter(0..w.count)
        .for_each_concurrent(w.concurrency.max(1), |i| {
            let source =
                (!w.sources.is_empty()).then(|| w.sources[(i + w.offset) % w.sources.len()]);
            let (ok, failed, open, hist, errors) = (
                ok.clone(),
                failed.clone(),
                open.clone(),
                hist.clone(),
                errors.clone(),
            );
            let auth = auth.clone();
            let url = login.url.clone();
            let kind = w.server;
            async move {
                let t0 = Instant::now();
                let r = match kind {
                    ServerKind::Boardroom => {
                        client::br_connect(auth.as_ref().expect("auth"), source).await
                    }
                    ServerKind::Bare => client::bare_connect(&url, None, source).await,
                    ServerKind::Socketio => client::sio_connect(&url, None, source).await,
                };
                match r {
                    Ok(ws) => {
                        if let Ok(mut h) = hist.lock() {
                            h.saturating_record(t0.elapsed().as_micros().max(1) as u64);
                        }
                        ok.fetch_add(1, Ordering::Relaxed);
                        open.fetch_add(1, Ordering::Relaxed);
                        tokio::spawn(hold(ws, kind, open));
                    }
                    Err(e) => {
                        failed.fetch_add(1, Ordering::Relaxed);
                        let mut key = format!("{e:#}");
                        key.truncate(120);
                        if let Ok(mut m) = errors.lock() {
                            *m.entry(key).or_default() += 1;
                        }
                    }
                }
            }
        })
        .await;
    progress.abort();
    let secs = started.elapsed().as_secs_f64();
    let recorded: Vec<(u64, u64)> = hist
        .lock()
        .map(|h| {
            h.iter_recorded()
                .map(|v| (v.value_iterated_to(), v.count_at_value()))
                .collect()
        })
        .unwrap_or_default();
    let errs = errors.lock().map(|e| e.clone()).unwrap_or_default();
    for (e, n) in &errs {
        eprintln!("connect-worker: {n} × {e}");
    }
    println!(
        "connected {} {} {secs} {}",
        ok.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed),
        serde_json::to_string(&recorded)?
    );
    // Hold until the parent says stop (or goes away).
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let _ = stdin.next_line().await;
    println!("open {}", open.load(Ordering::Relaxed));
    Ok(())
}

struct Worker {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    /// Index into the nodes.
    node: usize,
    ok: u64,
    failed: u64,
    done: Option<f64>,
}

/// A server the connections go to.
struct Node {
    url: String,
    pid: Option<u32>,
    rss_before: Option<u64>,
}

pub async fn run(a: &ConnectArgs, login: &Login) -> Result<ConnectResult> {
    if a.processes == 0 {
        bail!("--processes must be at least 1");
    }
    if !a.server_pids.is_empty() && a.server_pids.len() != a.urls.len() {
        bail!("--server-pids needs one pid per --urls node");
    }
    let mut _server: Option<Spawned> = None;
    let mut nodes: Vec<Node> = if a.urls.is_empty() {
        vec![Node {
            url: login.url.clone(),
            pid: a.server_pid,
            rss_before: None,
        }]
    } else {
        a.urls
            .iter()
            .enumerate()
            .map(|(i, u)| Node {
                url: u.trim().trim_end_matches('/').to_string(),
                pid: a.server_pids.get(i).copied(),
                rss_before: None,
            })
            .collect()
    };
    if a.spawn {
        if !a.urls.is_empty() {
            bail!("--spawn starts one server; it does not go with --urls");
        }
        let s = servers::spawn(a.server, &a.spawn_args, &a.durability).await?;
        nodes[0].url = s.url.clone();
        nodes[0].pid = Some(s.pid());
        _server = Some(s);
    }
    if a.processes < nodes.len() {
        bail!("--processes must be at least the number of --urls nodes");
    }
    // One login: the nodes of a cluster share the database and the JWT secret.
    let token = match a.server {
        ServerKind::Boardroom => {
            let l = Login {
                url: nodes[0].url.clone(),
                ..login.clone()
            };
            boardroom::login(&l).await?.auth.token
        }
        _ => String::new(),
    };
    let sources = if a.sources.is_empty() {
        default_sources()
    } else {
        a.sources.clone()
    };
    // Let the server settle before the baseline.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in &mut nodes {
        n.rss_before = n.pid.and_then(stats::rss_bytes);
    }
    let total_rss = |nodes: &[Node]| -> Option<u64> {
        nodes
            .iter()
            .map(|n| n.pid.and_then(stats::rss_bytes))
            .sum::<Option<u64>>()
    };
    let exe = match &a.worker_exe {
        Some(e) => e.clone(),
        None => std::env::current_exe()?,
    };
    let per = a.connections.div_ceil(a.processes);
    let started = Instant::now();
    let mut workers = Vec::new();
    let mut left = a.connections;
    for k in 0..a.processes {
        let count = per.min(left);
        left -= count;
        if count == 0 {
            break;
        }
        let node = k % nodes.len();
        let mut child = tokio::process::Command::new(&exe)
            .arg("--url")
            .arg(&nodes[node].url)
            .arg("--encoding")
            .arg(&login.encoding)
            .arg("connect-worker")
            .arg("--server")
            .arg(a.server.name())
            .arg("--count")
            .arg(count.to_string())
            .arg("--concurrency")
            .arg(a.concurrency.to_string())
            .arg("--offset")
            .arg(k.to_string())
            .arg("--sources")
            .arg(
                sources
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join(","),
            )
            .env(TOKEN_ENV, &token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting a connect worker")?;
        let lines = BufReader::new(child.stdout.take().context("worker stdout")?).lines();
        workers.push(Worker {
            child,
            lines,
            node,
            ok: 0,
            failed: 0,
            done: None,
        });
    }
    let mut all = histogram();
    // Read the workers until every one has finished connecting.
    while workers.iter().any(|w| w.done.is_none()) {
        for w in workers.iter_mut().filter(|w| w.done.is_none()) {
            let line = tokio::time::timeout(Duration::from_millis(100), w.lines.next_line()).await;
            let Ok(line) = line else { continue };
            let Some(line) = line? else {
                bail!("a connect worker exited early");
            };
            let mut parts = line.splitn(5, ' ');
            match parts.next() {
                Some("progress") => {
                    w.ok = parts.next().and_then(|x| x.parse().ok()).unwrap_or(w.ok);
                    w.failed = parts
                        .next()
                        .and_then(|x| x.parse().ok())
                        .unwrap_or(w.failed);
                }
                Some("connected") => {
                    w.ok = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                    w.failed = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
                    let _secs: f64 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0.0);
                    let rec: Vec<(u64, u64)> =
                        serde_json::from_str(parts.next().unwrap_or("[]")).unwrap_or_default();
                    for (v, n) in rec {
                        let _ = all.record_n(v, n);
                    }
                    w.done = Some(started.elapsed().as_secs_f64());
                }
                _ => {}
            }
        }
        let ok: u64 = workers.iter().map(|w| w.ok).sum();
        let failed: u64 = workers.iter().map(|w| w.failed).sum();
        eprint!(
            "\r  {:>5.1}s  {ok}/{} connected, {failed} failed, server RSS {}   ",
            started.elapsed().as_secs_f64(),
            a.connections,
            cell(total_rss(&nodes), |b| format!(
                "{:.1} MiB",
                b as f64 / 1048576.0
            ))
        );
    }
    eprintln!();
    let connect_secs = workers.iter().filter_map(|w| w.done).fold(0.0f64, f64::max);
    let connected: u64 = workers.iter().map(|w| w.ok).sum();
    let failed: u64 = workers.iter().map(|w| w.failed).sum();
    let hold_start = Instant::now();
    tokio::time::sleep(Duration::from_secs_f64(a.hold_secs)).await;
    let rss_after: Vec<Option<u64>> = nodes
        .iter()
        .map(|n| n.pid.and_then(stats::rss_bytes))
        .collect();
    let mut still_open = 0;
    for w in &mut workers {
        if let Some(stdin) = w.child.stdin.as_mut() {
            let _ = stdin.write_all(b"stop\n").await;
        }
        while let Ok(Some(line)) = w.lines.next_line().await {
            if let Some(n) = line.strip_prefix("open ") {
                still_open += n.trim().parse::<u64>().unwrap_or(0);
                break;
            }
        }
        let _ = w.child.wait().await;
    }
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let per_conn = |before: Option<u64>, after: Option<u64>, n: u64| match (before, after) {
        (Some(b), Some(a)) if n > 0 => Some((a as f64 - b as f64) / 1024.0 / n as f64),
        _ => None,
    };
    let node_results: Vec<NodeConnect> = nodes
        .iter()
        .zip(&rss_after)
        .enumerate()
        .map(|(i, (n, after))| {
            let ok = workers.iter().filter(|w| w.node == i).map(|w| w.ok).sum();
            NodeConnect {
                url: n.url.clone(),
                pid: n.pid,
                connected: ok,
                failed: workers
                    .iter()
                    .filter(|w| w.node == i)
                    .map(|w| w.failed)
                    .sum(),
                rss_before_mib: n.rss_before.map(mib),
                rss_after_mib: after.map(mib),
                rss_per_conn_kib: per_conn(n.rss_before, *after, ok),
            }
        })
        .collect();
    let rss_before: Option<u64> = nodes.iter().map(|n| n.rss_before).sum();
    let rss_after: Option<u64> = rss_after.iter().copied().sum();
    let result = ConnectResult {
        scenario: "connect".into(),
        server: a.server.name().into(),
        label: a.label.clone().unwrap_or_else(|| a.server.name().into()),
        requested: a.connections,
        connected,
        failed,
        processes: workers.len(),
        sources: sources.iter().map(|s| s.to_string()).collect(),
        seconds_to_connect: connect_secs,
        connects_per_sec: connected as f64 / connect_secs.max(1e-9),
        connect_latency: Latency::of(&all),
        server_rss_before_mib: rss_before.map(mib),
        server_rss_after_mib: rss_after.map(mib),
        server_rss_per_conn_kib: per_conn(rss_before, rss_after, connected),
        held_secs: hold_start.elapsed().as_secs_f64(),
        still_open,
        nodes: if node_results.len() > 1 {
            node_results
        } else {
            Vec::new()
        },
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    println!(
        "connect {}: {} of {} connected ({} failed) by {} processes from {} addresses in {:.1}s = {:.0}/s; handshake {}",
        result.label,
        result.connected,
        result.requested,
        result.failed,
        result.processes,
        result.sources.len(),
        result.seconds_to_connect,
        result.connects_per_sec,
        result.connect_latency.line()
    );
    if let (Some(b), Some(af), Some(per)) = (
        result.server_rss_before_mib,
        result.server_rss_after_mib,
        result.server_rss_per_conn_kib,
    ) {
        println!(
            "  server RSS {b:.1} MiB -> {af:.1} MiB after {:.0}s held: {per:.2} KiB per connection",
            result.held_secs
        );
    }
    for n in &result.nodes {
        println!(
            "  {} (pid {}): {} connected, {} failed, RSS {} -> {} MiB, {} KiB per connection",
            n.url,
            cell(n.pid, |p| p.to_string()),
            n.connected,
            n.failed,
            cell_fixed(n.rss_before_mib, 1),
            cell_fixed(n.rss_after_mib, 1),
            cell_fixed(n.rss_per_conn_kib, 2),
        );
    }
    println!("  still open after the hold: {}", result.still_open);
    if let Some(dir) = &a.out {
        let name = format!(
            "connect-{}-{}-{}",
            result.label, result.requested, result.unix_time
        );
        stats::save(
            dir,
            &name,
            &result,
            ConnectResult::MARKDOWN_HEADER,
            &result.markdown_row(),
        )?;
    }
    Ok(result)
}
