//! What every fault scenario shares: a writer that keeps ops flowing through a fault and
//! retries refused ones with the same `op_id`, the store check (found / lost / duplicated),
//! the verdict line (the faults themselves from outside the server: `infra.rs`).

use crate::common::ws::{Closed, Ws};
use crate::common::*;
use boardroom_protocol::*;
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// `BOARDROOM_FAULTS_LONG=1` (set by `scripts/faults`): the long runs, with more load and
/// longer phases; CI runs the short ones.
pub fn long() -> bool {
    std::env::var("BOARDROOM_FAULTS_LONG").is_ok_and(|v| v == "1")
}

/// `short` in CI, `long` under `scripts/faults`.
pub fn pick<T>(short: T, long_: T) -> T {
    if long() {
        long_
    } else {
        short
    }
}

/// The per-connection op limits out of the way: the writers retry on top of their rate.
pub use crate::common::UNLIMITED_OPS as UNLIMITED;

pub fn redis_url() -> String {
    std::env::var("BOARDROOM_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Environment of a cluster node: the shared secret, a key prefix of its own, and the
/// `[cluster]` timings given (empty: the defaults of `config.toml`).
pub fn node_env(
    redis: &str,
    prefix: &str,
    node: &str,
    timings: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut env = vec![
        ("BOARDROOM_BROKER".to_string(), "redis".to_string()),
        ("BOARDROOM_REDIS_URL".into(), redis.into()),
        (
            "BOARDROOM_JWT_SECRET".into(),
            format!("faults-secret-{prefix}"),
        ),
        ("BOARDROOM_NODE_ID".into(), node.into()),
        ("BOARDROOM_CLUSTER__KEY_PREFIX".into(), prefix.into()),
    ];
    for (k, v) in UNLIMITED.iter().chain(timings) {
        env.push((k.to_string(), v.to_string()));
    }
    env
}

pub fn fresh_prefix() -> String {
    format!("brfault-{}:", &Uuid::now_v7().simple().to_string()[20..])
}

pub async fn start_node(db: &str, env: &[(String, String)]) -> TestServer {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    TestServer::start(db, &env).await
}

/// `n` nodes of one cluster (keys under a fresh prefix) on `db` and the Redis at `redis`, with
/// the `[cluster]` timings given, started in turn: n1, n2, …
pub async fn start_cluster(
    db: &str,
    redis: &str,
    n: usize,
    timings: &[(&str, &str)],
) -> Vec<TestServer> {
    let prefix = fresh_prefix();
    let mut nodes = Vec::new();
    for i in 1..=n {
        let env = node_env(redis, &prefix, &format!("n{i}"), timings);
        nodes.push(start_node(db, &env).await);
    }
    nodes
}

/// A scenario's clock, from when it is made: the fault `warmup` later, the repair `outage`
/// after the fault, new ops until `after` the repair, every answer by `grace` after that.
pub struct Timeline {
    pub fault_at: Instant,
    pub repair_at: Instant,
    pub new_until: Instant,
    pub deadline: Instant,
}

impl Timeline {
    pub fn start(warmup: Duration, outage: Duration, after: Duration, grace: Duration) -> Self {
        let fault_at = Instant::now() + warmup;
        let repair_at = fault_at + outage;
        let new_until = repair_at + after;
        Timeline {
            fault_at,
            repair_at,
            new_until,
            deadline: new_until + grace,
        }
    }

    /// Sleeps until the fault is due.
    pub async fn until_fault(&self) {
        tokio::time::sleep_until(self.fault_at.into()).await;
    }

    /// Sleeps until the repair is due.
    pub async fn until_repair(&self) {
        tokio::time::sleep_until(self.repair_at.into()).await;
    }

    /// [`spawn_drive`] of `w` with `pace` on this clock.
    pub fn drive(&self, w: Writer, pace: Pace) -> tokio::task::JoinHandle<Writer> {
        spawn_drive(w, pace, self.new_until, self.deadline)
    }
}

/// Serving again: how long after `since` the first op of `writers` first sent after it was
/// acknowledged (`None`: none was).
pub fn recovered(writers: &[&Writer], since: Instant) -> Option<Duration> {
    writers
        .iter()
        .flat_map(|w| &w.ops)
        .filter(|o| o.first_sent > since)
        .filter_map(|o| o.acked.map(|a| a.0))
        .min()
        .map(|t| t.duration_since(since))
}

/// The short `[cluster]` timings of `tests/cluster/`, where a test waits for a lease to lapse.
pub const SHORT_LEASE: [(&str, &str); 5] = [
    ("BOARDROOM_CLUSTER__LEASE_TTL_MS", "1500"),
    ("BOARDROOM_CLUSTER__LEASE_RENEW_MS", "400"),
    ("BOARDROOM_CLUSTER__NODE_HEARTBEAT_MS", "300"),
    ("BOARDROOM_CLUSTER__NODE_TTL_MS", "1000"),
    ("BOARDROOM_CLUSTER__FORWARD_TIMEOUT_MS", "1500"),
];

pub async fn welcomed(base: &str, token: &str) -> Ws {
    let mut ws = Ws::connect_with(base, Codec::Json, Some(token)).await;
    match ws.recv().await {
        ServerFrame::Welcome(_) => ws,
        other => panic!("expected welcome, got {other:?}"),
    }
}

/// Subscribes to the board; `Err` with the refusal (e.g. `unavailable` while no node holds it).
pub async fn subscribe(ws: &mut Ws, board: Uuid) -> Result<OkReply, ErrorReply> {
    let r = Some(Ref::Str("sub".into()));
    ws.send(ClientFrame::Subscribe(Subscribe {
        r#ref: r.clone(),
        topic: Topic::Board(board),
        since: None,
    }))
    .await;
    loop {
        match ws.recv().await {
            ServerFrame::Ok(ok) if ok.r#ref == r => return Ok(ok),
            ServerFrame::Error(e) if e.r#ref == r => return Err(e),
            _ => {}
        }
    }
}

/// A new board of `org`: (board, its first column).
pub async fn board(org: &Org) -> (Uuid, Uuid) {
    board_and_column(org, "Faults").await
}

pub fn card_create(board: Uuid, col: Uuid) -> impl Fn(i64, Uuid) -> ClientFrame + Send + 'static {
    move |r, op_id| {
        serde_json::from_value(json!({
            "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
            "kind": "card.create", "data": {"column_id": col, "title": format!("op {r}")}
        }))
        .expect("op frame")
    }
}

/// `n` cards on the board (through the HTTP op endpoint).
pub async fn cards(org: &Org, board: Uuid, col: Uuid, n: usize) -> Vec<Uuid> {
    let mut out = Vec::new();
    for i in 0..n {
        let (s, c) = org
            .owner
            .post(
                &format!("/api/v1/boards/{board}/ops"),
                json!({"op_id": Uuid::now_v7(), "kind": "card.create",
                       "data": {"column_id": col, "title": format!("card {i}")}}),
            )
            .await;
        assert_eq!(s, 200, "{c}");
        out.push(
            c["id"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .expect("card id"),
        );
    }
    out
}

/// `card.update` ops spread over `cards`: any number of them fits on one board (a board holds
/// at most 10 000 cards, which a long run of `card.create` reaches).
pub fn card_update(
    board: Uuid,
    cards: Vec<Uuid>,
) -> impl Fn(i64, Uuid) -> ClientFrame + Send + 'static {
    move |r, op_id| {
        let card = cards[r as usize % cards.len()];
        serde_json::from_value(json!({
            "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
            "kind": "card.update", "data": {"card_id": card, "title": format!("t{r}")}
        }))
        .expect("op frame")
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum St {
    /// Sent, answer pending.
    Waiting,
    /// Refused as `unavailable` (or the connection died): send again then.
    RetryAt(Instant),
    /// Acknowledged (or refused for good).
    Done,
}

#[derive(Clone, Debug)]
pub struct Op {
    pub id: Uuid,
    pub first_sent: Instant,
    pub st: St,
    /// The first `ok`: when, and the (epoch, seq) it named.
    pub acked: Option<(Instant, Option<u64>, Option<u64>)>,
}

/// How a writer adds new ops.
#[derive(Clone, Copy)]
pub enum Pace {
    /// One new op per interval (open loop).
    Every(Duration),
    /// As many new ops as keep this many unanswered.
    Window(usize),
}

/// One client writing ops through whatever happens to the server, and retrying every op that
/// is refused `unavailable` (or left unanswered by a dead connection) with the same `op_id`.
pub struct Writer {
    pub ws: Option<Ws>,
    frame: Box<dyn Fn(i64, Uuid) -> ClientFrame + Send>,
    pub ops: Vec<Op>,
    inflight: usize,
    retries: VecDeque<(Instant, usize)>,
    /// `unavailable` answers, and how many of them came without `retry_after_ms`.
    pub unavailable: usize,
    pub unavailable_without_retry_after: usize,
    /// Answers other than `ok` / `unavailable` / `rate_limited` (the op is given up).
    pub refused: Vec<String>,
    /// A repeated `ok` that named another seq than the first.
    pub seq_changed: usize,
    pub resyncs: usize,
    pub resends: usize,
    /// Set: no new ops from now on (as if `new_until` had passed).
    pub halt: Arc<AtomicBool>,
}

impl Writer {
    pub fn new(ws: Ws, frame: impl Fn(i64, Uuid) -> ClientFrame + Send + 'static) -> Writer {
        Writer {
            ws: Some(ws),
            frame: Box::new(frame),
            ops: Vec::new(),
            inflight: 0,
            retries: VecDeque::new(),
            unavailable: 0,
            unavailable_without_retry_after: 0,
            refused: Vec::new(),
            seq_changed: 0,
            resyncs: 0,
            resends: 0,
            halt: Arc::default(),
        }
    }

    async fn send(&mut self, i: usize) {
        let frame = (self.frame)(i as i64, self.ops[i].id);
        // Waiting even when the send fails: `reconnect` sends every waiting op again.
        self.ops[i].st = St::Waiting;
        self.inflight += 1;
        let sent = match self.ws.as_mut() {
            Some(ws) => ws.try_send(&frame).await.is_ok(),
            None => false,
        };
        if !sent {
            self.ws = None;
        }
    }

    /// A new connection after the old one died: every unanswered op is sent again.
    pub fn reconnect(&mut self, ws: Ws) {
        self.ws = Some(ws);
        self.inflight = 0;
        let now = Instant::now();
        for (i, op) in self.ops.iter_mut().enumerate() {
            if op.st == St::Waiting {
                op.st = St::RetryAt(now);
                self.retries.push_back((now, i));
            }
        }
    }

    /// Sends every op again, acknowledged or not (a client retrying after a crash).
    pub fn resend_all(&mut self) {
        let now = Instant::now();
        self.inflight = 0;
        self.retries.clear();
        for (i, op) in self.ops.iter_mut().enumerate() {
            op.st = St::RetryAt(now);
            self.retries.push_back((now, i));
        }
    }

    pub fn acked(&self) -> usize {
        self.ops.iter().filter(|o| o.acked.is_some()).count()
    }

    pub fn all_done(&self) -> bool {
        self.ops.iter().all(|o| o.st == St::Done)
    }

    /// Adds new ops at `pace` until `new_until`, then keeps retrying until every op is answered
    /// for good or `deadline`. Returns early when the connection dies. Returns whether every
    /// op is done.
    pub async fn drive(&mut self, pace: Pace, mut new_until: Instant, deadline: Instant) -> bool {
        let mut next_new = Instant::now();
        loop {
            let now = Instant::now();
            if self.halt.load(Ordering::SeqCst) {
                new_until = new_until.min(now);
            }
            if self.ws.is_none() {
                return false;
            }
            if now >= new_until && self.all_done() {
                return true;
            }
            if now >= deadline {
                return self.all_done();
            }
            let window = match pace {
                Pace::Window(k) => k,
                Pace::Every(_) => usize::MAX,
            };
            while self.inflight < window {
                match self.retries.front() {
                    Some((t, i)) if *t <= now => {
                        let i = *i;
                        self.retries.pop_front();
                        if matches!(self.ops[i].st, St::RetryAt(_)) {
                            self.resends += 1;
                            self.send(i).await;
                        }
                    }
                    _ => break,
                }
            }
            if now < new_until {
                match pace {
                    Pace::Every(every) => {
                        if now >= next_new {
                            self.push_new(now).await;
                            next_new += every;
                            if next_new < now {
                                next_new = now + every;
                            }
                        }
                    }
                    Pace::Window(k) => {
                        while self.inflight < k && self.ws.is_some() {
                            self.push_new(now).await;
                        }
                    }
                }
            }
            let wait = match pace {
                Pace::Every(every) => every.min(Duration::from_millis(5)),
                Pace::Window(_) => Duration::from_millis(5),
            };
            let got = match self.ws.as_mut() {
                Some(ws) => ws.poll(wait).await,
                None => return false,
            };
            match got {
                Ok(Some(f)) => self.take(f),
                Ok(None) => {}
                Err(_) => self.ws = None,
            }
        }
    }

    async fn push_new(&mut self, now: Instant) {
        self.ops.push(Op {
            id: Uuid::now_v7(),
            first_sent: now,
            st: St::Waiting,
            acked: None,
        });
        let i = self.ops.len() - 1;
        self.send(i).await;
    }

    fn take(&mut self, f: ServerFrame) {
        let now = Instant::now();
        match f {
            ServerFrame::Ok(ok) => {
                let Some(Ref::Int(r)) = ok.r#ref else { return };
                let Some(op) = self.ops.get_mut(r as usize) else {
                    return;
                };
                if op.st == St::Waiting {
                    self.inflight = self.inflight.saturating_sub(1);
                }
                op.st = St::Done;
                match op.acked {
                    None => op.acked = Some((now, ok.epoch, ok.seq)),
                    Some((_, _, seq)) if seq != ok.seq => self.seq_changed += 1,
                    Some(_) => {}
                }
            }
            ServerFrame::Error(e) => {
                let Some(Ref::Int(r)) = e.r#ref else { return };
                let Some(op) = self.ops.get_mut(r as usize) else {
                    return;
                };
                if op.st != St::Waiting {
                    return;
                }
                self.inflight = self.inflight.saturating_sub(1);
                match e.code {
                    ErrorCode::Unavailable | ErrorCode::RateLimited | ErrorCode::Internal => {
                        if e.code == ErrorCode::Unavailable {
                            self.unavailable += 1;
                            if e.retry_after_ms.is_none() {
                                self.unavailable_without_retry_after += 1;
                            }
                        }
                        let wait = e.retry_after_ms.unwrap_or(100).clamp(20, 1000);
                        let at = now + Duration::from_millis(wait);
                        op.st = St::RetryAt(at);
                        self.retries.push_back((at, r as usize));
                    }
                    _ => {
                        op.st = St::Done;
                        self.refused.push(format!("{:?}: {}", e.code, e.message));
                    }
                }
            }
            ServerFrame::Resync(_) => self.resyncs += 1,
            _ => {}
        }
    }
}

/// One new op every `ms` milliseconds.
pub fn every_ms(ms: u64) -> Pace {
    Pace::Every(Duration::from_millis(ms))
}

/// A writer of `card.create` ops into `col` of `board`, on its own session with `node`.
pub async fn creator_on(node: &TestServer, token: &str, board: Uuid, col: Uuid) -> Writer {
    Writer::new(welcomed(&node.base, token).await, card_create(board, col))
}

/// Makes `node` the owner of `board` with a subscriber there that reads (an idle reader would
/// count as a subscriber falling behind) until the test ends.
pub async fn own_board(
    node: &TestServer,
    token: &str,
    board: Uuid,
) -> tokio::task::JoinHandle<Watched> {
    watch_on(node, token, board, Arc::new(AtomicBool::new(false))).await
}

/// A session on `node` subscribed to `board`, read by [`spawn_watch`] until `stop`.
pub async fn watch_on(
    node: &TestServer,
    token: &str,
    board: Uuid,
    stop: Arc<AtomicBool>,
) -> tokio::task::JoinHandle<Watched> {
    let mut ws = welcomed(&node.base, token).await;
    subscribe(&mut ws, board)
        .await
        .unwrap_or_else(|e| panic!("subscribe on {}: {e:?}", node.base));
    spawn_watch(ws, stop)
}

/// Spawns `w.drive(..)` and hands the writer back when it returns.
pub fn spawn_drive(
    mut w: Writer,
    pace: Pace,
    new_until: Instant,
    deadline: Instant,
) -> tokio::task::JoinHandle<Writer> {
    tokio::spawn(async move {
        w.drive(pace, new_until, deadline).await;
        w
    })
}

/// The store's view of a board: op_id -> the epochs of its events (one per event).
pub async fn events_by_op(db_url: &str, board: Uuid) -> HashMap<Uuid, Vec<i64>> {
    let sql = "SELECT op_id, epoch FROM board_events WHERE board_id = $1";
    let rows: Vec<(Uuid, i64)> = board_rows(db_url, sql, board).await;
    let mut by: HashMap<Uuid, Vec<i64>> = HashMap::new();
    for (op, epoch) in rows {
        by.entry(op).or_default().push(epoch);
    }
    by
}

/// Acked / found / lost / duplicated over the writers' ops, against the store.
pub struct Counts {
    pub sent: usize,
    pub acked: usize,
    pub found: usize,
    pub lost: usize,
    pub duplicated: usize,
    /// Ops sent but never acknowledged that are not in the store either (allowed: never
    /// promised), and ones that are (applied, the answer lost with the fault).
    pub unacked_absent: usize,
}

pub fn count(writers: &[&Writer], stored: &HashMap<Uuid, Vec<i64>>) -> Counts {
    let mut c = Counts {
        sent: 0,
        acked: 0,
        found: 0,
        lost: 0,
        duplicated: 0,
        unacked_absent: 0,
    };
    for w in writers {
        for op in &w.ops {
            c.sent += 1;
            let n = stored.get(&op.id).map_or(0, Vec::len);
            if n > 1 {
                c.duplicated += 1;
            }
            if op.acked.is_some() {
                c.acked += 1;
                if n >= 1 {
                    c.found += 1;
                } else {
                    c.lost += 1;
                }
            } else if n == 0 {
                c.unacked_absent += 1;
            }
        }
    }
    c
}

/// Prints the scenario's one-line verdict (and appends it to `$BOARDROOM_FAULTS_OUT`, where
/// `scripts/faults` collects them).
pub fn verdict(name: &str, c: &Counts, recover: Option<Duration>, extra: &str, pass: bool) {
    let recover = recover.map_or("-".to_string(), |d| format!("{} ms", d.as_millis()));
    let line = format!(
        "FAULT {name}: acked {} / found {} / lost {} / duplicated {} / time to recover {recover}; {extra} => {}",
        c.acked,
        c.found,
        c.lost,
        c.duplicated,
        if pass { "PASS" } else { "FAIL" }
    );
    println!("{line}");
    if let Ok(path) = std::env::var("BOARDROOM_FAULTS_OUT") {
        use std::io::Write;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// A metric of a node (0 when it has not been recorded yet); `name` may carry labels, as in
/// `boardroom_ws_closes_total{code="4009"}`.
pub async fn metric(node: &TestServer, name: &str) -> f64 {
    let Ok(res) = reqwest::get(node.url("/metrics")).await else {
        return 0.0;
    };
    let text = res.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(&format!("{name} ")))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Reads a subscriber's events until told to stop: (epoch, seq) -> op_id, duplicates, resyncs.
#[derive(Default)]
pub struct Watched {
    pub events: std::collections::BTreeMap<(u64, u64), Uuid>,
    pub duplicates: usize,
    pub resyncs: usize,
    pub closed: Option<Closed>,
}

pub fn spawn_watch(mut ws: Ws, stop: Arc<AtomicBool>) -> tokio::task::JoinHandle<Watched> {
    tokio::spawn(async move {
        let mut w = Watched::default();
        while !stop.load(Ordering::SeqCst) {
            match ws.poll(Duration::from_millis(50)).await {
                Ok(Some(ServerFrame::Event(e))) => {
                    if w.events.insert((e.epoch, e.seq), e.op_id).is_some() {
                        w.duplicates += 1;
                    }
                }
                Ok(Some(ServerFrame::Resync(_))) => w.resyncs += 1,
                Ok(_) => {}
                Err(c) => {
                    w.closed = Some(c);
                    break;
                }
            }
        }
        w
    })
}
