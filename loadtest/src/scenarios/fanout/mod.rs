//! `fanout` (alias `fanout-ext`): B boards × S subscribers, P publishers at a total rate R, against Boardroom
//! (`--path op|presence`), the bare peer or Socket.IO, with the same client code for all three.
//!
//! - Subscribers are spread round-robin over the boards (subscriber i on board i mod B).
//! - Publisher j publishes to the boards b with b mod P = j (when P ≤ B), or to board j mod B
//!   (when P > B), at R / P messages per second, staggered by j / R so that all together
//!   publish evenly every 1 / R; open loop: each message is stamped with its
//!   *scheduled* send time, so a server that falls behind shows as latency, not as a slower
//!   publisher (no coordinated omission).
//! - Every delivery's latency goes into an HDR histogram; sequence numbers (see
//!   `accounting`) count what is missing, duplicated or reordered.
//! - Deliveries/s counts deliveries that arrived within the publishing window. After the
//!   window the run waits (up to `--drain-secs`) for late deliveries, which count for loss but
//!   not for throughput.

mod publisher;
mod subscriber;

use self::publisher::{publish, publisher_reader, PubPlan, PubStats, Sink};
use self::subscriber::{open_subscriber, run_subscriber};
use crate::accounting::{SeqCounts, SeqTracker};
use crate::boardroom::{self, Login};
use crate::client::{self, stream_of, BoardroomAuth, PathKind, ServerKind, Ws};
use crate::stats::{self, FanoutResult, Latency, Machine, OutDir, Sharded, UsageMeter};
use anyhow::{bail, Context, Result};
use boardroom_protocol::Codec;
use futures_util::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use uuid::Uuid;

#[derive(clap::Args, Debug, Clone)]
pub struct FanoutArgs {
    /// The server behind the global `--url`.
    #[arg(long, value_enum, default_value = "boardroom")]
    pub server: ServerKind,
    #[arg(long, default_value_t = 1)]
    pub boards: usize,
    /// Subscribers in all, spread over the boards.
    #[arg(long, default_value_t = 1000)]
    pub subscribers: usize,
    #[arg(long, default_value_t = 1)]
    pub publishers: usize,
    /// Publishes (ops) per second, all publishers together.
    #[arg(long, default_value_t = 100.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Boardroom only: `op` (card.update, durable) or `presence` (presence.set, ephemeral).
    #[arg(long, value_enum, default_value = "op")]
    pub path: PathKind,
    /// Boardroom only: half the subscribers are filtered views. Subscriber i is a worker the
    /// cards are assigned to when i mod 4 = 1, the cards' customer (who gets each card without
    /// its label) when i mod 4 = 3, and the full-view admin otherwise. Everyone still sees
    /// every event, so the loss and order checks stay the same.
    #[arg(long)]
    pub mixed_views: bool,
    /// The server's `durability`, for the record (set it on the server).
    #[arg(long, default_value = "commit")]
    pub durability: String,
    /// Peers only: padding added to every message, so that the frames the peers deliver are
    /// as large as Boardroom's events (`compare` sets it from Boardroom's measured size).
    #[arg(long, default_value_t = 0)]
    pub pad_bytes: usize,
    /// Source addresses for the client sockets, used in turn (e.g. 127.0.0.2,127.0.0.3).
    #[arg(long, value_delimiter = ',')]
    pub sources: Vec<IpAddr>,
    /// Connections opened at once while setting up.
    #[arg(long, default_value_t = 100)]
    pub connect_concurrency: usize,
    /// A local server process to read CPU time and RSS from.
    #[arg(long)]
    pub server_pid: Option<u32>,
    /// The CPUs the server is pinned to (`taskset -c` list), to report how busy they were.
    #[arg(long)]
    pub server_cpus_busy: Option<String>,
    /// After the window, wait this long at most for late deliveries.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    #[command(flatten)]
    pub out: OutDir,
    /// Name of the server in the result (default: the server kind).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

struct Shared {
    kind: ServerKind,
    codec: Codec,
    boards: usize,
    hist: Sharded,
    delivered: AtomicU64,
    bytes: AtomicU64,
    /// The window's start (`now_us`), for the timeline.
    start_us: AtomicU64,
    /// The highest latency of the ops sent in each `TIMELINE_SLOT_US` of the window (µs): a
    /// p99 made of one stall and one made of a slow run look alike; the timeline tells them
    /// apart.
    timeline: Vec<AtomicU64>,
}

/// One slot of [`Shared::timeline`]: a quarter of a second.
const TIMELINE_SLOT_US: u64 = 250_000;

impl Shared {
    fn record(&self, index: usize, sent_us: u64) {
        self.record_at(index, sent_us, stats::now_us());
    }

    fn record_at(&self, index: usize, sent_us: u64, now_us: u64) {
        let latency = now_us.saturating_sub(sent_us);
        self.hist.record(index, latency);
        let slot = sent_us.saturating_sub(self.start_us.load(Ordering::Relaxed)) / TIMELINE_SLOT_US;
        if let Some(max) = self.timeline.get(slot as usize) {
            max.fetch_max(latency, Ordering::Relaxed);
        }
    }
}

/// Which boards publisher `j` of `p` serves.
pub fn boards_of(j: usize, p: usize, b: usize) -> Vec<usize> {
    if p <= b {
        (0..b).filter(|x| x % p == j).collect()
    } else {
        vec![j % b]
    }
}

enum Target {
    Boardroom {
        session: boardroom::Session,
        boards: Vec<(Uuid, Uuid)>,
        viewers: Option<Box<boardroom::Viewers>>,
    },
    Peer {
        url: String,
    },
}

impl Target {
    fn auth(&self) -> Option<&BoardroomAuth> {
        match self {
            Target::Boardroom { session, .. } => Some(&session.auth),
            Target::Peer { .. } => None,
        }
    }
}

/// Runs one fanout against the server behind `login.url`.
pub async fn run(a: &FanoutArgs, login: &Login) -> Result<FanoutResult> {
    if a.boards == 0 || a.subscribers == 0 || a.publishers == 0 {
        bail!("--boards, --subscribers and --publishers must be at least 1");
    }
    let kind = a.server;
    let path = if kind == ServerKind::Boardroom {
        a.path
    } else {
        PathKind::Op
    };
    let label = a.label.clone().unwrap_or_else(|| kind.name().to_string());
    let target = Arc::new(match kind {
        ServerKind::Boardroom => {
            let session = boardroom::login(login).await?;
            let viewers = match a.mixed_views {
                true => Some(Box::new(boardroom::create_viewers(&session, login).await?)),
                false => None,
            };
            let boards = boardroom::create_boards(
                &session,
                a.boards,
                &format!("fanout {}", Uuid::now_v7()),
                viewers.as_deref(),
            )
            .await?;
            Target::Boardroom {
                session,
                boards,
                viewers,
            }
        }
        _ => Target::Peer {
            url: login.url.clone(),
        },
    });
    let codec = target.auth().map(|x| x.codec).unwrap_or(Codec::Json);
    let say = |s: String| {
        if !a.quiet {
            eprintln!("{s}");
        }
    };

    // Subscribers.
    let t_connect = Instant::now();
    let opened = AtomicU64::new(0);
    let subs: Vec<Result<(usize, usize, Ws, u64)>> = futures_util::stream::iter(0..a.subscribers)
        .map(|i| {
            let board = i % a.boards;
            let source = (!a.sources.is_empty()).then(|| a.sources[i % a.sources.len()]);
            let target = target.clone();
            let opened = &opened;
            let quiet = a.quiet;
            let total = a.subscribers;
            async move {
                let r = open_subscriber(kind, &target, i, board, source)
                    .await
                    .with_context(|| format!("subscriber {i}"));
                let n = opened.fetch_add(1, Ordering::Relaxed) + 1;
                if !quiet && (n % 1000 == 0 || n as usize == total) {
                    eprint!("\r  {n}/{total} subscribers connected   ");
                }
                r.map(|(ws, seq)| (i, board, ws, seq))
            }
        })
        .buffer_unordered(a.connect_concurrency.max(1))
        .collect()
        .await;
    if !a.quiet {
        eprintln!();
    }
    let mut connected = Vec::with_capacity(subs.len());
    for s in subs {
        connected.push(s?);
    }
    say(format!(
        "{label}: {} subscribers on {} boards in {:.1}s",
        connected.len(),
        a.boards,
        t_connect.elapsed().as_secs_f64()
    ));
    let shared = Arc::new(Shared {
        kind,
        codec,
        boards: a.boards,
        hist: Sharded::new(64),
        delivered: AtomicU64::new(0),
        bytes: AtomicU64::new(0),
        start_us: AtomicU64::new(0),
        timeline: (0..(a.seconds * 1e6 / TIMELINE_SLOT_US as f64).ceil() as usize)
            .map(|_| AtomicU64::new(0))
            .collect(),
    });
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut sub_tasks = Vec::with_capacity(connected.len());
    let mut subs_per_board = vec![0u64; a.boards];
    let mut board_start = vec![0u64; a.boards];
    for (i, board, ws, seq) in connected {
        subs_per_board[board] += 1;
        board_start[board] = seq;
        let mut tracker = SeqTracker::new();
        if kind == ServerKind::Boardroom && path == PathKind::Op {
            tracker.start(board as u64, seq);
        }
        sub_tasks.push(tokio::spawn(run_subscriber(
            ws,
            shared.clone(),
            i,
            board,
            tracker,
            stop_rx.clone(),
        )));
    }

    // Publishers.
    let stats = Arc::new(PubStats {
        sent: AtomicU64::new(0),
        acked: AtomicU64::new(0),
        errors: Mutex::new(BTreeMap::new()),
        ack_hist: Sharded::new(8),
        inflight: Mutex::new(HashMap::new()),
    });
    let mut pubs = Vec::new();
    for j in 0..a.publishers {
        let boards = boards_of(j, a.publishers, a.boards);
        let source = (!a.sources.is_empty()).then(|| a.sources[j % a.sources.len()]);
        let ws = match (kind, target.as_ref()) {
            (
                ServerKind::Boardroom,
                Target::Boardroom {
                    session,
                    boards: ids,
                    ..
                },
            ) => {
                let mut ws = client::br_connect(&session.auth, source).await?;
                if path == PathKind::Presence {
                    // presence.set needs a subscription to the board.
                    for (n, &b) in boards.iter().enumerate() {
                        client::br_subscribe(&mut ws, codec, ids[b].0, &format!("p{n}")).await?;
                    }
                }
                ws
            }
            (ServerKind::Bare, Target::Peer { url }) => {
                client::bare_connect(url, None, source).await?
            }
            (ServerKind::Socketio, Target::Peer { url }) => {
                client::sio_connect(url, None, source).await?
            }
            _ => bail!("server kind and target disagree"),
        };
        pubs.push((j, boards, ws));
    }
    // Let the subscribe/join storm settle before the clock starts.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let start = Instant::now() + Duration::from_millis(100);
    shared
        .start_us
        .store(stats::us_at(start), Ordering::Relaxed);
    let end = start + Duration::from_secs_f64(a.seconds);
    let pad: String = "x".repeat(a.pad_bytes);
    let per_pub_rate = a.rate / a.publishers as f64;
    let mut pub_tasks = Vec::new();
    let mut readers = Vec::new();
    for (j, boards, ws) in pubs {
        let (tx, rx) = ws.split();
        let sink: Sink = Arc::new(tokio::sync::Mutex::new(tx));
        readers.push(tokio::spawn(publisher_reader(
            rx,
            sink.clone(),
            kind,
            codec,
            stats.clone(),
            j,
        )));
        pub_tasks.push(tokio::spawn(publish(
            sink,
            PubPlan {
                index: j,
                boards,
                rate: per_pub_rate,
                // Staggered: publisher j starts j/R after publisher 0, so that together they
                // publish evenly every 1/R instead of all at once every P/R (bursts of P
                // publishes that each fan out would show as latency that no server causes).
                start: start + Duration::from_secs_f64(j as f64 / a.rate.max(1e-9)),
                end,
            },
            kind,
            path,
            target.clone(),
            pad.clone(),
            stats.clone(),
        )));
    }

    tokio::time::sleep_until(start.into()).await;
    let server_cores: Vec<usize> = a
        .server_cpus_busy
        .as_deref()
        .map(stats::parse_cpu_list)
        .unwrap_or_default();
    let usage = UsageMeter::start(a.server_pid, server_cores);
    let delivered0 = shared.delivered.load(Ordering::Relaxed);
    // Progress, once a second, until the window closes.
    let mut tick = tokio::time::interval_at(
        (start + Duration::from_secs(1)).into(),
        Duration::from_secs(1),
    );
    let mut prev = delivered0;
    while Instant::now() + Duration::from_millis(5) < end {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::time::sleep_until(end.into()) => break,
        }
        let d = shared.delivered.load(Ordering::Relaxed);
        if !a.quiet {
            let errs: u64 = stats.errors.lock().map(|e| e.values().sum()).unwrap_or(0);
            eprint!(
                "\r  {:>4.0}s  sent {:>8}  delivered {:>10}  {:>8}/s  errors {}   ",
                start.elapsed().as_secs_f64(),
                stats.sent.load(Ordering::Relaxed),
                d - delivered0,
                d - prev,
                errs
            );
        }
        prev = d;
    }
    let mut last_sent: HashMap<(usize, usize), u64> = HashMap::new();
    for (j, t) in pub_tasks.into_iter().enumerate() {
        for (b, n) in t.await? {
            last_sent.insert((j, b), n);
        }
    }
    let window = Instant::now().duration_since(start).as_secs_f64();
    let in_window = shared.delivered.load(Ordering::Relaxed) - delivered0;
    let usage = usage.finish(window);
    if !a.quiet {
        eprintln!();
    }

    // Drain: until every publish has reached every subscriber of its board, or nothing has
    // arrived for a second, or the drain time is up.
    let upper: u64 = match (kind, path) {
        (ServerKind::Boardroom, PathKind::Op) => {
            // Only accepted ops make events; wait for the acks to know.
            let until = Instant::now() + Duration::from_secs_f64(a.drain_secs);
            while stats
                .inflight
                .lock()
                .map(|m| !m.is_empty())
                .unwrap_or(false)
                && Instant::now() < until
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            0
        }
        _ => last_sent
            .iter()
            .map(|(&(_, b), &n)| n * subs_per_board[b])
            .sum(),
    };
    let finals: HashMap<u64, u64> = match (&*target, path) {
        (
            Target::Boardroom {
                session, boards, ..
            },
            PathKind::Op,
        ) => {
            let mut f = HashMap::new();
            for (i, (id, _)) in boards.iter().enumerate() {
                f.insert(i as u64, boardroom::board_seq(session, *id).await?);
            }
            f
        }
        _ => last_sent
            .iter()
            .map(|(&(j, b), &n)| (stream_of(j, b, a.boards), n))
            .collect(),
    };
    let expected_total: u64 = match (kind, path) {
        (ServerKind::Boardroom, PathKind::Op) => finals
            .iter()
            .map(|(&b, &f)| f.saturating_sub(board_start[b as usize]) * subs_per_board[b as usize])
            .sum(),
        _ => upper,
    };
    let drain_until = Instant::now() + Duration::from_secs_f64(a.drain_secs);
    let mut last_count = shared.delivered.load(Ordering::Relaxed);
    let mut last_change = Instant::now();
    loop {
        let d = shared.delivered.load(Ordering::Relaxed) - delivered0;
        if expected_total > 0 && d >= expected_total {
            break;
        }
        if Instant::now() > drain_until || last_change.elapsed() > Duration::from_secs(1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = shared.delivered.load(Ordering::Relaxed);
        if now != last_count {
            last_count = now;
            last_change = Instant::now();
        }
    }
    let _ = stop_tx.send(true);
    let mut counts = SeqCounts::default();
    let mut errors = stats.errors.lock().map(|e| e.clone()).unwrap_or_default();
    // Which streams each board's subscribers should have seen, up to which sequence.
    let mut board_streams: Vec<Vec<(u64, u64)>> = vec![Vec::new(); a.boards];
    for (&stream, &fin) in &finals {
        let b = match (kind, path) {
            (ServerKind::Boardroom, PathKind::Op) => stream as usize,
            _ => (stream as usize) % a.boards,
        };
        board_streams[b].push((stream, fin));
    }
    let mut missing_on_closed = 0;
    for t in sub_tasks {
        let end = t.await?;
        let c = end.tracker.finish(board_streams[end.board].iter().copied());
        counts.add(&c);
        if let Some(e) = end.error {
            missing_on_closed += c.missing;
            *errors.entry(format!("subscriber {e}")).or_default() += 1;
        }
    }
    for r in readers {
        r.abort();
    }
    let hist = shared.hist.merged();
    let acks = stats.ack_hist.merged();
    let delivered = shared.delivered.load(Ordering::Relaxed);
    let per_board_subs = a.subscribers as f64 / a.boards as f64;
    let result = FanoutResult {
        scenario: "fanout".into(),
        server: kind.name().into(),
        label,
        path: if kind == ServerKind::Boardroom {
            path.name().into()
        } else {
            "broadcast".into()
        },
        durability: if kind == ServerKind::Boardroom {
            a.durability.clone()
        } else {
            "-".into()
        },
        encoding: if kind == ServerKind::Boardroom {
            login.encoding.clone()
        } else {
            "json".into()
        },
        boards: a.boards,
        subscribers: a.subscribers,
        publishers: a.publishers,
        rate_ops: a.rate,
        offered_deliveries_per_sec: a.rate * per_board_subs,
        seconds: window,
        ops_sent: stats.sent.load(Ordering::Relaxed),
        ops_acked: stats.acked.load(Ordering::Relaxed),
        errors,
        expected_deliveries: counts.delivered + counts.missing,
        deliveries: delivered,
        deliveries_per_sec: in_window as f64 / window,
        missing: counts.missing,
        missing_on_closed,
        duplicates: counts.duplicates,
        reordered: counts.reordered,
        frame_bytes: if delivered > 0 {
            shared.bytes.load(Ordering::Relaxed) as f64 / delivered as f64
        } else {
            0.0
        },
        latency: Latency::of(&hist),
        ack_latency: (kind == ServerKind::Boardroom).then(|| Latency::of(&acks)),
        latency_timeline_max_ms: shared
            .timeline
            .iter()
            .map(|m| (m.load(Ordering::Relaxed) as f64 / 100.0).round() / 10.0)
            .collect(),
        usage,
        server_us_per_delivery: usage
            .server_cpu
            .filter(|_| in_window > 0)
            .map(|c| c * window * 1e6 / in_window as f64),
        server_rss_mib: a
            .server_pid
            .and_then(stats::rss_bytes)
            .map(|b| b as f64 / (1024.0 * 1024.0)),
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    print_result(&result);
    if let Some(dir) = a.out.dir() {
        let name = format!(
            "fanout-{}-{}-{}x{}-r{}-{}",
            result.label,
            result.path,
            result.boards,
            result.subscribers,
            result.rate_ops,
            result.unix_time
        );
        stats::save(
            dir,
            &name,
            &result,
            FanoutResult::MARKDOWN_HEADER,
            &result.markdown_row(),
        )?;
    }
    Ok(result)
}

pub fn print_result(r: &FanoutResult) {
    println!(
        "fanout {} ({}): {} boards x {} subscribers, {} publishers, {:.0} ops/s offered ({:.0} deliveries/s offered), {:.1}s",
        r.label,
        r.path,
        r.boards,
        r.subscribers / r.boards.max(1),
        r.publishers,
        r.rate_ops,
        r.offered_deliveries_per_sec,
        r.seconds
    );
    println!(
        "  sent {} ops ({} acked), deliveries {} of {} expected: {:.0}/s in the window; missing {}, duplicates {}, reordered {}; {:.0} bytes/frame",
        r.ops_sent,
        r.ops_acked,
        r.deliveries,
        r.expected_deliveries,
        r.deliveries_per_sec,
        r.missing,
        r.duplicates,
        r.reordered,
        r.frame_bytes
    );
    println!("  op sent -> delivered: {}", r.latency.line());
    if let Some(a) = &r.ack_latency {
        if a.count > 0 {
            println!("  op sent -> ok:        {}", a.line());
        }
    }
    if !r.errors.is_empty() {
        println!("  errors: {:?}", r.errors);
    }
    println!(
        "  CPU: client {:.2} cores{}{}",
        r.usage.client_cpu,
        r.usage
            .server_cpu
            .map(|c| format!(", server {c:.2} cores"))
            .unwrap_or_default(),
        r.server_us_per_delivery
            .map(|c| format!(" = {c:.2} µs per delivery"))
            .unwrap_or_default()
    );
    if let Some(b) = r.usage.server_core_busy {
        println!(
            "  server core(s) busy {:.0} % (softirq included)",
            b * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishers_cover_every_board_once() {
        for (p, b) in [(1, 1), (1, 5), (3, 10), (10, 10), (7, 3)] {
            let mut seen = vec![0; b];
            for j in 0..p {
                for x in boards_of(j, p, b) {
                    seen[x] += 1;
                }
            }
            assert!(seen.iter().all(|&n| n >= 1), "p={p} b={b}: {seen:?}");
            if p <= b {
                assert!(seen.iter().all(|&n| n == 1), "p={p} b={b}: {seen:?}");
            }
        }
    }

    #[test]
    fn the_timeline_keeps_each_quarter_seconds_highest_latency_by_send_time() {
        let shared = Shared {
            kind: ServerKind::Boardroom,
            codec: Codec::Json,
            boards: 1,
            hist: Sharded::new(1),
            delivered: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            start_us: AtomicU64::new(1_000_000),
            timeline: (0..4).map(|_| AtomicU64::new(0)).collect(),
        };
        let start = 1_000_000;
        let now = start + 2_000_000;
        shared.record_at(0, start + 10, now); // slot 0
        shared.record_at(0, start + 300_000, now); // slot 1, a smaller latency
        shared.record_at(0, start + 260_000, now - 500_000); // slot 1 too, smaller still
        shared.record_at(0, start + 600_000, now); // slot 2
        shared.record_at(0, start + 5_000_000, now + 4_000_000); // after the window
        let t: Vec<u64> = shared
            .timeline
            .iter()
            .map(|m| m.load(Ordering::Relaxed))
            .collect();
        assert_eq!(t, vec![1_999_990, 1_700_000, 1_400_000, 0]);
        assert_eq!(
            shared.hist.merged().len(),
            5,
            "every delivery is in the histogram"
        );
    }
}
