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

use crate::accounting::{Seen, SeqCounts, SeqTracker};
use crate::boardroom::{self, Login};
use crate::client::{
    self, close_key, frame_len, parse_delivery, peer_payload, room, stamp_title, stream_of,
    BoardroomAuth, Incoming, PathKind, ServerKind, Ws,
};
use crate::stats::{self, cpu_secs, now_us, us_at, FanoutResult, Latency, Machine, Sharded};
use anyhow::{bail, Context, Result};
use boardroom_protocol::{ClientFrame, Codec};
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;
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
    /// Directory for the JSON result and the Markdown row (none: print only).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of the server in the result (default: the server kind).
    #[arg(long)]
    pub label: Option<String>,
    /// No progress line.
    #[arg(long)]
    pub quiet: bool,
}

/// What each subscriber task hands back.
struct SubEnd {
    board: usize,
    tracker: SeqTracker,
    error: Option<String>,
}

struct Shared {
    kind: ServerKind,
    codec: Codec,
    boards: usize,
    hist: Sharded,
    delivered: AtomicU64,
    bytes: AtomicU64,
}

struct PubStats {
    sent: AtomicU64,
    acked: AtomicU64,
    errors: Mutex<BTreeMap<String, u64>>,
    ack_hist: Sharded,
    /// ref -> scheduled send time, for ack latency (Boardroom).
    inflight: Mutex<HashMap<i64, u64>>,
}

impl PubStats {
    fn error(&self, key: impl Into<String>) {
        if let Ok(mut e) = self.errors.lock() {
            *e.entry(key.into()).or_default() += 1;
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

async fn open_subscriber(
    kind: ServerKind,
    t: &Target,
    index: usize,
    board: usize,
    source: Option<IpAddr>,
) -> Result<(Ws, u64)> {
    match (kind, t) {
        (
            ServerKind::Boardroom,
            Target::Boardroom {
                session,
                boards,
                viewers,
            },
        ) => {
            let auth = match (viewers, index % 4) {
                (Some(v), 1) => &v.worker,
                (Some(v), 3) => &v.customer,
                _ => &session.auth,
            };
            let mut ws = client::br_connect(auth, source).await?;
            let seq = client::br_subscribe(&mut ws, auth.codec, boards[board].0, "sub").await?;
            Ok((ws, seq))
        }
        (ServerKind::Bare, Target::Peer { url }) => Ok((
            client::bare_connect(url, Some(&room(board)), source).await?,
            0,
        )),
        (ServerKind::Socketio, Target::Peer { url }) => Ok((
            client::sio_connect(url, Some(&room(board)), source).await?,
            0,
        )),
        _ => bail!("server kind and target disagree"),
    }
}

async fn run_subscriber(
    mut ws: Ws,
    shared: Arc<Shared>,
    index: usize,
    board: usize,
    mut tracker: SeqTracker,
    mut stop: watch::Receiver<bool>,
) -> SubEnd {
    let mut error = None;
    loop {
        let msg = tokio::select! {
            biased;
            m = ws.next() => m,
            _ = stop.changed() => break,
        };
        let msg = match msg {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                error = Some(format!("read error: {e}"));
                break;
            }
            None => {
                error = Some("connection ended".into());
                break;
            }
        };
        if let Message::Close(_) = msg {
            error = Some(close_key(&msg));
            break;
        }
        match parse_delivery(shared.kind, shared.codec, &msg, board, shared.boards) {
            Ok(Incoming::Delivery {
                stream,
                seq,
                sent_us,
            }) => {
                if tracker.observe(stream, seq) != Seen::Duplicate {
                    shared.hist.record(index, now_us().saturating_sub(sent_us));
                    shared.delivered.fetch_add(1, Ordering::Relaxed);
                    shared
                        .bytes
                        .fetch_add(frame_len(&msg) as u64, Ordering::Relaxed);
                }
            }
            Ok(Incoming::Reply(r)) => {
                if ws.send(Message::Text(r.into())).await.is_err() {
                    error = Some("write error".into());
                    break;
                }
            }
            Ok(Incoming::Other) => {}
            Err(e) => {
                error = Some(format!("undecodable frame: {e}"));
                break;
            }
        }
    }
    SubEnd {
        board,
        tracker,
        error,
    }
}

type Sink = Arc<tokio::sync::Mutex<SplitSink<Ws, Message>>>;

/// Reads a publisher's socket: Boardroom acks and errors, Socket.IO pings.
async fn publisher_reader(
    mut rx: futures_util::stream::SplitStream<Ws>,
    sink: Sink,
    kind: ServerKind,
    codec: Codec,
    stats: Arc<PubStats>,
    shard: usize,
) {
    #[derive(serde::Deserialize)]
    struct Reply<'a> {
        #[serde(rename = "type", borrow)]
        ty: std::borrow::Cow<'a, str>,
        #[serde(rename = "ref", default)]
        r: Option<serde_json::Value>,
        #[serde(default, borrow)]
        code: Option<std::borrow::Cow<'a, str>>,
    }
    while let Some(msg) = rx.next().await {
        let Ok(msg) = msg else {
            stats.error("publisher read error");
            return;
        };
        match (&msg, kind) {
            (Message::Close(_), _) => {
                stats.error(format!("publisher {}", close_key(&msg)));
                return;
            }
            (Message::Text(_) | Message::Binary(_), ServerKind::Boardroom) => {
                let reply: Option<Reply<'_>> = match &msg {
                    Message::Text(t) if !codec.is_binary() => serde_json::from_str(t).ok(),
                    Message::Binary(b) if codec.is_binary() => rmp_serde::from_slice(b).ok(),
                    _ => None,
                };
                let Some(reply) = reply else { continue };
                let r = reply.r.as_ref().and_then(|v| v.as_i64());
                match (reply.ty.as_ref(), r) {
                    ("ok", Some(r)) => {
                        let sent = stats.inflight.lock().ok().and_then(|mut m| m.remove(&r));
                        if let Some(sent) = sent {
                            stats.acked.fetch_add(1, Ordering::Relaxed);
                            stats.ack_hist.record(shard, now_us().saturating_sub(sent));
                        }
                    }
                    ("error", r) => {
                        if let Some(r) = r {
                            if let Ok(mut m) = stats.inflight.lock() {
                                m.remove(&r);
                            }
                        }
                        stats.error(reply.code.as_deref().unwrap_or("error").to_string());
                    }
                    _ => {}
                }
            }
            (Message::Text(t), ServerKind::Socketio) => {
                if let Ok(crate::engineio::Eio::Ping(d)) = crate::engineio::decode_eio(t) {
                    let pong = crate::engineio::pong_frame(d);
                    let _ = sink.lock().await.send(Message::Text(pong.into())).await;
                }
            }
            _ => {}
        }
    }
}

struct PubPlan {
    index: usize,
    boards: Vec<usize>,
    rate: f64,
    start: Instant,
    end: Instant,
}

/// The publish loop; returns, per board served, the last sequence number it sent.
async fn publish(
    sink: Sink,
    plan: PubPlan,
    kind: ServerKind,
    path: PathKind,
    target: Arc<Target>,
    pad: String,
    stats: Arc<PubStats>,
) -> HashMap<usize, u64> {
    let mut last: HashMap<usize, u64> = plan.boards.iter().map(|&b| (b, 0)).collect();
    if plan.boards.is_empty() || plan.rate <= 0.0 {
        return last;
    }
    let period = Duration::from_secs_f64(1.0 / plan.rate);
    let codec = target.auth().map(|a| a.codec).unwrap_or(Codec::Json);
    let mut k: u64 = 0;
    loop {
        let due = plan.start + period.mul_f64(k as f64);
        if due >= plan.end {
            break;
        }
        tokio::time::sleep_until(due.into()).await;
        let now = Instant::now();
        let mut sink = sink.lock().await;
        loop {
            let due = plan.start + period.mul_f64(k as f64);
            if due > now || due >= plan.end {
                break;
            }
            let board = plan.boards[(k as usize) % plan.boards.len()];
            let n = last.get(&board).copied().unwrap_or(0) + 1;
            let t = us_at(due);
            // Unique over publishers: the acks of all of them share one in-flight map.
            let r = (plan.index as i64) << 40 | (k as i64 + 1);
            let msg = match (kind, path, target.as_ref()) {
                (ServerKind::Boardroom, _, Target::Boardroom { boards, .. }) => {
                    let (board_id, card_id) = boards[board];
                    let frame = match path {
                        PathKind::Op => json!({"type": "op", "ref": r,
                            "topic": format!("board:{board_id}"), "op_id": Uuid::now_v7(),
                            "kind": "card.update",
                            "data": {"card_id": card_id, "title": stamp_title(t)}}),
                        PathKind::Presence => json!({"type": "presence.set", "ref": r,
                            "topic": format!("board:{board_id}"),
                            "state": {"focus": null, "editing": false,
                                      "lt": [plan.index, n, t]}}),
                    };
                    let frame: ClientFrame =
                        serde_json::from_value(frame).expect("a valid client frame");
                    if let Ok(mut m) = stats.inflight.lock() {
                        m.insert(r, t);
                    }
                    match client::br_message(codec, &frame) {
                        Ok(m) => m,
                        Err(e) => {
                            stats.error(format!("encode: {e}"));
                            return last;
                        }
                    }
                }
                (ServerKind::Bare, _, _) => Message::Text(
                    format!(
                        "pub {} {}",
                        room(board),
                        peer_payload(plan.index, board, n, t, &pad)
                    )
                    .into(),
                ),
                (ServerKind::Socketio, _, _) => Message::Text(
                    crate::engineio::event_frame(
                        None,
                        "pub",
                        &[
                            &format!("\"{}\"", room(board)),
                            &peer_payload(plan.index, board, n, t, &pad),
                        ],
                    )
                    .into(),
                ),
                _ => return last,
            };
            if sink.feed(msg).await.is_err() {
                stats.error("publisher write error");
                return last;
            }
            stats.sent.fetch_add(1, Ordering::Relaxed);
            last.insert(board, n);
            k += 1;
        }
        if sink.flush().await.is_err() {
            stats.error("publisher write error");
            return last;
        }
    }
    last
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
    let cpu0 = cpu_secs(None);
    let scpu0 = a.server_pid.and_then(|p| cpu_secs(Some(p)));
    let server_cores: Vec<usize> = a
        .server_cpus_busy
        .as_deref()
        .map(stats::parse_cpu_list)
        .unwrap_or_default();
    let jiffies0 = stats::cpus_jiffies(&server_cores).filter(|_| !server_cores.is_empty());
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
    let client_cpu = match (cpu0, cpu_secs(None)) {
        (Some(a0), Some(a1)) => (a1 - a0) / window,
        _ => 0.0,
    };
    let server_cpu = match (scpu0, a.server_pid.and_then(|p| cpu_secs(Some(p)))) {
        (Some(a0), Some(a1)) => Some((a1 - a0) / window),
        _ => None,
    };
    let server_core_busy = match (jiffies0, stats::cpus_jiffies(&server_cores)) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
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
        client_cpu,
        server_cpu,
        server_us_per_delivery: server_cpu
            .filter(|_| in_window > 0)
            .map(|c| c * window * 1e6 / in_window as f64),
        server_core_busy,
        server_rss_mib: a
            .server_pid
            .and_then(stats::rss_bytes)
            .map(|b| b as f64 / (1024.0 * 1024.0)),
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    print_result(&result);
    if let Some(dir) = &a.out {
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
        r.client_cpu,
        r.server_cpu
            .map(|c| format!(", server {c:.2} cores"))
            .unwrap_or_default(),
        r.server_us_per_delivery
            .map(|c| format!(" = {c:.2} µs per delivery"))
            .unwrap_or_default()
    );
    if let Some(b) = r.server_core_busy {
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
}
