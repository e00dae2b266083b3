//! `ops`: write throughput with durability. W writers (one WebSocket each) keep a window of
//! unacknowledged `card.update` ops in flight, spread over B boards × C cards; the run measures
//! ops acknowledged/s, ops committed/s, `ok` latency and what it can say about time to durable.
//!
//! - The server is started here (`servers::spawn`, pinned with `--server-cpus`) on SQLite or on
//!   a fresh Postgres database per run (`--store postgres`, created from `--pg-admin-url` and
//!   dropped afterwards), with `--durability commit|apply` and, for the baseline, a
//!   `journal_max_batch` (1 = one transaction per op). `--running` uses the global `--url`
//!   instead (then the store is only checked when `--database-url` is given).
//! - Committed ops/s: ops the write-behind committed during the window, from the server's own
//!   `boardroom_commit_batch_size` histogram (its sum is ops committed); after the run the store
//!   itself is read, and every acknowledged op must be there once (`missing`, `duplicates`).
//! - Time to durable: with `commit`, `ok` is sent after the op's batch committed, so the `ok`
//!   latency is it (plus one loopback hop). With `apply` it is not measured per op; the result
//!   gives the server's batch commit time (histogram bucket bound) instead, and says so.
//! - One card merges: the journal merges a batch's updates of one card into one row write, so
//!   one card flatters the number; `--boards`/`--cards` spread the writes (report both).
//! - `--baseline`: group commit and `journal_max_batch = 1` in turn (`--rounds`, interleaved,
//!   each on a fresh server and store), and their ratio per round with its spread.

use crate::boardroom::{self, Login, Session};
use crate::client::{br_connect, br_message, ServerKind, Ws};
use crate::scenarios::compare::Spread;
use crate::servers::{self, SpawnArgs, Spawned};
use crate::stats::{self, cpu_secs, cpus_jiffies, parse_cpu_list, Latency, Machine};
use anyhow::{bail, Context, Result};
use boardroom_protocol::{Codec, Ref, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    pub fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct OpsArgs {
    /// The store of the server started here.
    #[arg(long, value_enum, default_value = "sqlite")]
    pub store: StoreKind,
    /// `commit` (ok after the op's batch committed) or `apply` (ok when applied in memory).
    #[arg(long, default_value = "commit")]
    pub durability: String,
    /// The server's `journal_max_batch` (default: its config, 512); 1 = one transaction per op.
    #[arg(long)]
    pub journal_max_batch: Option<usize>,
    /// Run group commit and `journal_max_batch = 1` in turn, `--rounds` times, and print the
    /// ratio of committed ops/s.
    #[arg(long)]
    pub baseline: bool,
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    #[arg(long, default_value_t = 8)]
    pub writers: usize,
    /// Unacknowledged ops each writer keeps in flight (closed loop); with `--rate`, the most
    /// it may have in flight (an op due while it has that many waits, and its wait counts).
    #[arg(long, default_value_t = 16)]
    pub window: usize,
    /// Open loop: offer this many ops/s in all (spread evenly over the writers, on a fixed
    /// schedule; latency counts from each op's scheduled send time). Unset: closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Open loop at each of these rates in turn (ops/s, comma-separated), each on a fresh
    /// server and store: time to durable against offered load.
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Boards written to (writers' ops are spread over all boards' cards).
    #[arg(long, default_value_t = 1)]
    pub boards: usize,
    /// Cards per board.
    #[arg(long, default_value_t = 1)]
    pub cards: usize,
    /// Measured window.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Ops before the window that count for nothing (connections, caches, pool warm).
    #[arg(long, default_value_t = 1.0)]
    pub warmup_secs: f64,
    /// After the window, wait this long at most for the last answers.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
    /// Postgres to create each run's fresh database in (`CREATE DATABASE`).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/test")]
    pub pg_admin_url: String,
    /// Name prefix of the databases created here (each dropped after its run).
    #[arg(long, default_value = "br_ops_")]
    pub db_prefix: String,
    /// Keep the databases created here (for looking at them afterwards).
    #[arg(long)]
    pub keep_db: bool,
    /// Use the running server of the global `--url` instead of starting one.
    #[arg(long)]
    pub running: bool,
    /// With `--running`: its Postgres, to check the acknowledged ops are stored.
    #[arg(long)]
    pub database_url: Option<String>,
    /// With `--running`: its pid, for CPU time.
    #[arg(long)]
    pub server_pid: Option<u32>,
    #[command(flatten)]
    pub spawn: SpawnArgs,
    /// Directory for the JSON result and the Markdown row (none: print only).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Name of the run in the result.
    #[arg(long)]
    pub label: Option<String>,
}

/// The server's write-behind counters at one moment (`/metrics`).
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq)]
pub struct CommitCounters {
    pub batches: f64,
    pub ops: f64,
    pub commit_secs: f64,
    /// `boardroom_commit_seconds` bucket counts, by upper bound in seconds.
    #[serde(skip)]
    pub buckets: [f64; 12],
}

const COMMIT_BOUNDS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// One `ops` run.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct OpsResult {
    pub scenario: String,
    pub label: String,
    pub store: String,
    pub durability: String,
    /// None: the server's configured value (512 unless changed).
    pub journal_max_batch: Option<usize>,
    pub writers: usize,
    pub window: usize,
    /// Offered ops/s (open loop); None: closed loop (`window` in flight per writer).
    #[serde(default)]
    pub rate: Option<f64>,
    pub boards: usize,
    pub cards_per_board: usize,
    pub seconds: f64,
    /// Ops sent in the window.
    pub ops_sent: u64,
    /// Ops acknowledged in the window, per second.
    pub acked_per_sec: f64,
    /// Ops the server committed in the window (its commit counters), per second.
    pub committed_per_sec: Option<f64>,
    /// Refused ops and closed connections, by code (whole run).
    pub errors: BTreeMap<String, u64>,
    /// Every op acknowledged (warm-up and drain included) ...
    pub acked_total: u64,
    /// ... and how many of them the store holds (None: not checked).
    pub acked_in_store: Option<u64>,
    /// Acknowledged ops the store does not hold.
    pub missing: Option<u64>,
    /// Ops with more than one event in the store.
    pub duplicates: Option<u64>,
    /// Op sent -> `ok`, in the window.
    pub ok_latency: Latency,
    /// Op sent -> durable: the `ok` latency with `commit`; None with `apply` (not measured).
    pub durable_latency: Option<Latency>,
    /// Server side, in the window: group commits, mean ops per commit, mean commit time.
    pub commits: Option<f64>,
    pub mean_batch_ops: Option<f64>,
    pub mean_commit_ms: Option<f64>,
    /// Upper bound (histogram bucket) of the 99th percentile batch commit time.
    pub commit_p99_bound_ms: Option<f64>,
    pub client_cpu: f64,
    pub server_cpu: Option<f64>,
    pub server_core_busy: Option<f64>,
    pub machine: Machine,
    pub unix_time: u64,
}

impl OpsResult {
    pub const MARKDOWN_HEADER: &'static str = "| run | store | durability | max batch | writers × window (offered) | boards × cards | acked ops/s | committed ops/s | ok p50 | p90 | p99 | p99.9 | max | time to durable p99 | commits/s | ops per commit | commit ms (mean / p99 ≤) | errors | missing | dup | server CPU | server core busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    pub fn markdown_row(&self) -> String {
        let opt =
            |v: Option<f64>, d: usize| v.map(|x| format!("{x:.d$}")).unwrap_or_else(|| "-".into());
        let errors: u64 = self.errors.values().sum();
        format!(
            "| {} | {} | {} | {} | {} × {}{} | {} × {} | {:.0} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
            self.label,
            self.store,
            self.durability,
            self.journal_max_batch
                .map(|b| b.to_string())
                .unwrap_or_else(|| "default".into()),
            self.writers,
            self.window,
            self.rate
                .map(|r| format!(" ({r:.0} ops/s)"))
                .unwrap_or_default(),
            self.boards,
            self.cards_per_board,
            self.acked_per_sec,
            opt(self.committed_per_sec, 0),
            self.ok_latency.p50_ms,
            self.ok_latency.p90_ms,
            self.ok_latency.p99_ms,
            self.ok_latency.p999_ms,
            self.ok_latency.max_ms,
            self.durable_latency
                .map(|l| format!("{:.2} ms", l.p99_ms))
                .unwrap_or_else(|| "not measured".into()),
            opt(self.commits.map(|c| c / self.seconds), 0),
            opt(self.mean_batch_ops, 1),
            opt(self.mean_commit_ms, 2),
            opt(self.commit_p99_bound_ms, 1),
            errors,
            self.missing
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            self.duplicates
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            opt(self.server_cpu, 2),
            self.server_core_busy
                .map(|c| format!("{:.0} %", c * 100.0))
                .unwrap_or_else(|| "-".into()),
        )
    }
}

/// Group commit ÷ baseline, round by round.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineResult {
    pub scenario: String,
    pub store: String,
    pub durability: String,
    pub rounds: usize,
    pub runs: Vec<OpsResult>,
    /// Committed ops/s of group commit ÷ of `journal_max_batch = 1`, per round.
    pub committed_ratio: Option<Spread>,
    pub acked_ratio: Option<Spread>,
    pub machine: Machine,
    pub unix_time: u64,
}

/// Where the store of a run can be read.
enum StoreAt {
    Postgres(String),
    Sqlite(PathBuf),
}

/// A database created for one run, dropped with it.
struct FreshDb {
    admin: String,
    name: String,
    keep: bool,
}

impl FreshDb {
    async fn create(a: &OpsArgs, tag: usize) -> Result<(Self, String)> {
        let name = format!(
            "{}{}_{}_{tag}",
            a.db_prefix,
            std::process::id(),
            stats::unix_secs()
        );
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            bail!("database name {name:?}: use letters, digits and _ in --db-prefix");
        }
        let mut conn = admin_conn(&a.pg_admin_url).await?;
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut conn)
            .await
            .with_context(|| format!("CREATE DATABASE {name}"))?;
        let url = db_url(&a.pg_admin_url, &name)?;
        Ok((
            Self {
                admin: a.pg_admin_url.clone(),
                name,
                keep: a.keep_db,
            },
            url,
        ))
    }

    async fn drop_now(self) -> Result<()> {
        if self.keep {
            eprintln!("kept database {}", self.name);
            return Ok(());
        }
        let mut conn = admin_conn(&self.admin).await?;
        sqlx::query(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ))
        .execute(&mut conn)
        .await?;
        Ok(())
    }
}

async fn admin_conn(url: &str) -> Result<sqlx::PgConnection> {
    use sqlx::Connection;
    sqlx::PgConnection::connect(url)
        .await
        .with_context(|| format!("connecting to {url}"))
}

/// `url` with its database replaced by `name`.
fn db_url(url: &str, name: &str) -> Result<String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let after_scheme = base.find("://").context("not a URL")? + 3;
    let slash = base[after_scheme..].find('/').map(|i| i + after_scheme);
    let host = match slash {
        Some(i) => &base[..i],
        None => base,
    };
    Ok(match query {
        Some(q) => format!("{host}/{name}?{q}"),
        None => format!("{host}/{name}"),
    })
}

pub async fn run(a: &OpsArgs, login: &Login) -> Result<()> {
    if a.baseline {
        baseline(a, login).await.map(|_| ())
    } else if !a.rates.is_empty() {
        for (i, &rate) in a.rates.iter().enumerate() {
            eprintln!("== {rate} ops/s offered");
            let b = OpsArgs {
                rate: Some(rate),
                ..a.clone()
            };
            let r = run_one(&b, login, a.journal_max_batch, i).await?;
            if let Some(dir) = &a.out {
                save(dir, &r)?;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    } else {
        let r = run_one(a, login, a.journal_max_batch, 0).await?;
        if let Some(dir) = &a.out {
            save(dir, &r)?;
        }
        Ok(())
    }
}

fn save(dir: &std::path::Path, r: &OpsResult) -> Result<()> {
    let name = format!(
        "ops-{}-{}-{}-b{}-{}x{}-{}-{}",
        r.store,
        r.durability,
        r.rate
            .map(|x| format!("r{x:.0}"))
            .unwrap_or_else(|| "closed".into()),
        r.journal_max_batch
            .map(|b| b.to_string())
            .unwrap_or_else(|| "default".into()),
        r.boards,
        r.cards_per_board,
        r.label.replace(' ', "_"),
        r.unix_time
    );
    stats::save(dir, &name, r, OpsResult::MARKDOWN_HEADER, &r.markdown_row())
}

/// Group commit and the one-transaction-per-op baseline, interleaved.
pub async fn baseline(a: &OpsArgs, login: &Login) -> Result<BaselineResult> {
    if a.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    let mut runs = Vec::new();
    let group = a.journal_max_batch.filter(|&b| b > 1);
    for round in 1..=a.rounds {
        for (i, batch) in [group, Some(1)].into_iter().enumerate() {
            eprintln!(
                "== round {round}/{}: journal_max_batch {}",
                a.rounds,
                batch
                    .map(|b| b.to_string())
                    .unwrap_or_else(|| "default".into())
            );
            let mut b = a.clone();
            b.label = Some(format!(
                "{}{}",
                a.label.clone().map(|l| format!("{l} ")).unwrap_or_default(),
                if i == 0 { "group" } else { "baseline" }
            ));
            let r = run_one(&b, login, batch, round * 2 + i).await?;
            if let Some(dir) = &a.out {
                save(dir, &r)?;
            }
            runs.push(r);
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let pairs: Vec<(&OpsResult, &OpsResult)> = runs
        .chunks(2)
        .filter_map(|c| Some((c.first()?, c.get(1)?)))
        .collect();
    let committed_ratio = Spread::of(
        pairs
            .iter()
            .map(|(g, b)| {
                g.committed_per_sec.unwrap_or(f64::NAN) / b.committed_per_sec.unwrap_or(f64::NAN)
            })
            .collect(),
    );
    let acked_ratio = Spread::of(
        pairs
            .iter()
            .map(|(g, b)| g.acked_per_sec / b.acked_per_sec)
            .collect(),
    );
    println!();
    println!("{}", OpsResult::MARKDOWN_HEADER);
    for r in &runs {
        println!("{}", r.markdown_row());
    }
    let show = |s: &Option<Spread>| {
        s.as_ref()
            .map(|s| {
                format!(
                    "{:.2} (min {:.2}, max {:.2}, rounds {})",
                    s.median,
                    s.min,
                    s.max,
                    s.values.len()
                )
            })
            .unwrap_or_else(|| "-".into())
    };
    println!(
        "group commit / one transaction per op: committed ops/s {}; acked ops/s {}",
        show(&committed_ratio),
        show(&acked_ratio)
    );
    let result = BaselineResult {
        scenario: "ops-baseline".into(),
        store: a.store.name().into(),
        durability: a.durability.clone(),
        rounds: a.rounds,
        runs,
        committed_ratio,
        acked_ratio,
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir)?;
        let first = &result.runs[0];
        let path = dir.join(format!(
            "ops-baseline-{}-{}-{}x{}-{}.json",
            result.store, result.durability, first.boards, first.cards_per_board, result.unix_time
        ));
        std::fs::write(&path, serde_json::to_vec_pretty(&result)?)?;
        println!("wrote {}", path.display());
    }
    Ok(result)
}

/// One run: a server (started here unless `--running`), its boards and cards, the writers.
pub async fn run_one(
    a: &OpsArgs,
    login: &Login,
    max_batch: Option<usize>,
    tag: usize,
) -> Result<OpsResult> {
    if a.writers == 0 || a.window == 0 || a.boards == 0 || a.cards == 0 {
        bail!("--writers, --window, --boards and --cards must be at least 1");
    }
    if a.durability != "commit" && a.durability != "apply" {
        bail!("--durability is commit or apply");
    }
    let mut db: Option<FreshDb> = None;
    let mut spawned: Option<Spawned> = None;
    let (url, pid, store_at) = if a.running {
        (
            login.url.clone(),
            a.server_pid,
            a.database_url.clone().map(StoreAt::Postgres),
        )
    } else {
        let mut sp = a.spawn.clone();
        if let Some(b) = max_batch {
            sp.boardroom_env
                .push(format!("BOARDROOM_REALTIME__JOURNAL_MAX_BATCH={b}"));
        }
        let mut store_url = None;
        if a.store == StoreKind::Postgres {
            let (d, u) = FreshDb::create(a, tag).await?;
            sp.boardroom_env.push(format!("BOARDROOM_DATABASE_URL={u}"));
            // Dev mode seeds the demo users the run logs in with (it is off by default with a
            // real database).
            sp.boardroom_env.push("BOARDROOM_DEV_MODE=true".into());
            db = Some(d);
            store_url = Some(u);
        }
        let s = match servers::spawn(ServerKind::Boardroom, &sp, &a.durability).await {
            Ok(s) => s,
            Err(e) => {
                if let Some(d) = db.take() {
                    let _ = d.drop_now().await;
                }
                return Err(e);
            }
        };
        let at = match store_url {
            Some(u) => Some(StoreAt::Postgres(u)),
            None => s
                .data_dir()
                .map(|d| StoreAt::Sqlite(d.join("boardroom.db"))),
        };
        let out = (s.url.clone(), Some(s.pid()), at);
        spawned = Some(s);
        out
    };
    let l = Login {
        url: url.clone(),
        ..login.clone()
    };
    let result = measure(a, &l, max_batch, pid, store_at).await;
    drop(spawned);
    if let Some(d) = db {
        if let Err(e) = d.drop_now().await {
            eprintln!("dropping the run's database: {e:#}");
        }
    }
    result
}

/// Creates `boards` boards with `cards` cards each; returns every (board, card).
async fn setup(s: &Session, boards: usize, cards: usize) -> Result<Vec<(Uuid, Uuid)>> {
    let mut out = Vec::with_capacity(boards * cards);
    for i in 0..boards {
        let board = boardroom::post(
            s,
            &format!("/api/v1/orgs/{}/boards", s.org),
            &json!({"name": format!("ops {i}")}),
        )
        .await?;
        let board_id: Uuid = board["id"].as_str().context("board id")?.parse()?;
        let col = board["columns"][0]["id"]
            .as_str()
            .context("the new board has no column")?
            .to_string();
        for _ in 0..cards {
            let card_id = Uuid::now_v7();
            boardroom::post(
                s,
                &format!("/api/v1/boards/{board_id}/ops"),
                &json!({"op_id": Uuid::now_v7(), "kind": "card.create",
                        "data": {"column_id": col, "title": "ops", "card_id": card_id}}),
            )
            .await?;
            out.push((board_id, card_id));
        }
    }
    Ok(out)
}

fn update_frame(codec: Codec, board: Uuid, card: Uuid, r: i64, op_id: Uuid) -> Result<Message> {
    let f = serde_json::from_value(json!({
        "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.update", "data": {"card_id": card, "title": format!("t{r}")}
    }))?;
    br_message(codec, &f)
}

/// What one writer hands back.
#[derive(Default)]
struct WriterEnd {
    sent_in_window: u64,
    acked_in_window: u64,
    acked: Vec<Uuid>,
    errors: BTreeMap<String, u64>,
    hist: Option<hdrhistogram::Histogram<u64>>,
}

/// The measured window (after the warm-up) and how long to wait for late answers after it.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
    drain: Duration,
}

/// How a writer paces its ops: closed loop (keep `window` in flight) or open loop (one op
/// every `interval` on a fixed schedule, at most `window` in flight).
#[derive(Clone, Copy)]
struct Pace {
    window: usize,
    interval: Option<Duration>,
    /// Open loop: this writer's first send time (writers are staggered over one interval).
    first: Option<Instant>,
}

async fn writer(
    mut ws: Ws,
    codec: Codec,
    targets: Arc<Vec<(Uuid, Uuid)>>,
    w: usize,
    pace: Pace,
    times: Window,
) -> WriterEnd {
    let Window { start, end, drain } = times;
    let mut out = WriterEnd {
        hist: Some(stats::histogram()),
        ..Default::default()
    };
    let mut inflight: HashMap<i64, (Instant, Uuid)> = HashMap::new();
    let mut next: i64 = 0;
    let mut due = pace.first;
    // Writer w starts at target w and steps by 1: writers spread evenly over the cards.
    let n = targets.len();
    loop {
        let now = Instant::now();
        while inflight.len() < pace.window && now < end && due.is_none_or(|d| d <= now) {
            next += 1;
            let (board, card) = targets[(w + next as usize) % n];
            let op_id = Uuid::now_v7();
            let msg = match update_frame(codec, board, card, next, op_id) {
                Ok(m) => m,
                Err(e) => {
                    *out.errors.entry(format!("encode: {e}")).or_default() += 1;
                    return out;
                }
            };
            // Open loop: latency counts from the scheduled send time, so a server that falls
            // behind shows as latency rather than as a slower sender.
            let at = match (&mut due, pace.interval) {
                (Some(d), Some(i)) => {
                    let at = *d;
                    *d += i;
                    at
                }
                _ => Instant::now(),
            };
            if at >= start {
                out.sent_in_window += 1;
            }
            inflight.insert(next, (at, op_id));
            if ws.send(msg).await.is_err() {
                *out.errors.entry("send failed".into()).or_default() += 1;
                return out;
            }
        }
        let now = Instant::now();
        if inflight.is_empty() && (now >= end || due.is_none()) {
            return out;
        }
        let deadline = if now < end { end + drain } else { now + drain };
        // Wake for the next scheduled op too (open loop, in the window, room in flight).
        let wake = due.filter(|_| now < end && inflight.len() < pace.window);
        let next_msg = async {
            match wake {
                Some(d) => tokio::time::timeout_at(d.into(), ws.next()).await.ok(),
                None => Some(ws.next().await),
            }
        };
        let msg = match tokio::time::timeout_at(deadline.into(), next_msg).await {
            Ok(None) => continue,
            Ok(Some(Some(Ok(m)))) => m,
            Ok(Some(Some(Err(e)))) => {
                *out.errors.entry(format!("socket: {e}")).or_default() += 1;
                return out;
            }
            Ok(Some(None)) => {
                *out.errors.entry("closed".into()).or_default() += 1;
                return out;
            }
            Err(_) => {
                *out.errors
                    .entry("no answer (drain timeout)".into())
                    .or_default() += inflight.len() as u64;
                return out;
            }
        };
        let frame = match &msg {
            Message::Text(t) => codec.decode_server(t.as_bytes()),
            Message::Binary(b) => codec.decode_server(b),
            Message::Close(c) => {
                *out.errors
                    .entry(format!(
                        "closed {}",
                        c.as_ref().map(|c| u16::from(c.code)).unwrap_or(0)
                    ))
                    .or_default() += 1;
                return out;
            }
            _ => continue,
        };
        match frame {
            Ok(ServerFrame::Ok(ok)) => {
                if let Some(Ref::Int(r)) = ok.r#ref {
                    if let Some((at, op_id)) = inflight.remove(&r) {
                        let got = Instant::now();
                        out.acked.push(op_id);
                        if at >= start && got <= end {
                            out.acked_in_window += 1;
                        }
                        // Every op sent in the window counts for latency, also when its answer
                        // comes after the window (leaving those out would flatter the tail).
                        if at >= start && at < end {
                            if let Some(h) = out.hist.as_mut() {
                                h.saturating_record((got - at).as_micros().max(1) as u64);
                            }
                        }
                    }
                }
            }
            Ok(ServerFrame::Error(e)) => {
                if let Some(Ref::Int(r)) = e.r#ref {
                    inflight.remove(&r);
                }
                *out.errors.entry(e.code.as_str().to_string()).or_default() += 1;
            }
            Ok(_) => {}
            Err(e) => {
                *out.errors.entry(format!("decode: {e}")).or_default() += 1;
            }
        }
    }
}

/// The server's write-behind counters (`/metrics`); None when it does not expose them.
async fn commit_counters(http: &reqwest::Client, url: &str) -> Option<CommitCounters> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    parse_counters(&text)
}

pub fn parse_counters(text: &str) -> Option<CommitCounters> {
    let value = |name: &str| -> Option<f64> {
        let mut found = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix(name) {
                if rest.starts_with(' ') || rest.starts_with('{') {
                    let v: f64 = rest.rsplit(' ').next()?.parse().ok()?;
                    found = Some(found.unwrap_or(0.0) + v);
                }
            }
        }
        found
    };
    let mut c = CommitCounters {
        batches: value("boardroom_commit_batch_size_count")?,
        ops: value("boardroom_commit_batch_size_sum")?,
        commit_secs: value("boardroom_commit_seconds_sum").unwrap_or(0.0),
        buckets: [0.0; 12],
    };
    for line in text
        .lines()
        .filter(|l| l.starts_with("boardroom_commit_seconds_bucket{"))
    {
        let le = line
            .split("le=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .and_then(|v| v.parse::<f64>().ok());
        let v = line.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok());
        if let (Some(le), Some(v)) = (le, v) {
            if let Some(i) = COMMIT_BOUNDS.iter().position(|b| (b - le).abs() < 1e-9) {
                c.buckets[i] += v;
            }
        }
    }
    Some(c)
}

/// The upper bound of the bucket holding the 99th percentile of the commits between `a` and
/// `b` (cumulative buckets).
fn p99_bound_ms(a: &CommitCounters, b: &CommitCounters) -> Option<f64> {
    let total = b.batches - a.batches;
    if total <= 0.0 {
        return None;
    }
    for (i, bound) in COMMIT_BOUNDS.iter().enumerate() {
        if b.buckets[i] - a.buckets[i] >= 0.99 * total {
            return Some(bound * 1000.0);
        }
    }
    Some(f64::INFINITY)
}

async fn measure(
    a: &OpsArgs,
    l: &Login,
    max_batch: Option<usize>,
    pid: Option<u32>,
    store_at: Option<StoreAt>,
) -> Result<OpsResult> {
    let s = boardroom::login(l).await?;
    let targets = Arc::new(setup(&s, a.boards, a.cards).await?);
    let boards: Vec<Uuid> = {
        let mut b: Vec<Uuid> = targets.iter().map(|t| t.0).collect();
        b.dedup();
        b
    };
    let codec = s.auth.codec;
    let mut sockets = Vec::with_capacity(a.writers);
    for _ in 0..a.writers {
        sockets.push(br_connect(&s.auth, None).await?);
    }
    let interval = match a.rate {
        Some(r) if r > 0.0 && r.is_finite() => Some(Duration::from_secs_f64(a.writers as f64 / r)),
        Some(r) => bail!("--rate must be a positive number of ops/s, not {r}"),
        None => None,
    };
    let t0 = Instant::now();
    let start = t0 + Duration::from_secs_f64(a.warmup_secs);
    let end = start + Duration::from_secs_f64(a.seconds);
    let drain = Duration::from_secs_f64(a.drain_secs);
    let tasks: Vec<_> = sockets
        .into_iter()
        .enumerate()
        .map(|(w, ws)| {
            tokio::spawn(writer(
                ws,
                codec,
                targets.clone(),
                w,
                Pace {
                    window: a.window,
                    interval,
                    first: interval.map(|i| t0 + i.mul_f64(w as f64 / a.writers as f64)),
                },
                Window { start, end, drain },
            ))
        })
        .collect();
    // Readings at the start and the end of the window.
    tokio::time::sleep_until(start.into()).await;
    let cpus = a
        .spawn
        .server_cpus
        .as_deref()
        .filter(|_| !a.running)
        .map(parse_cpu_list);
    let read = |http: reqwest::Client, url: String| async move {
        (
            commit_counters(&http, &url).await,
            cpu_secs(pid),
            cpu_secs(None),
        )
    };
    let jiffies0 = cpus.as_ref().and_then(|c| cpus_jiffies(c));
    let (c0, scpu0, ccpu0) = read(s.http.clone(), l.url.clone()).await;
    let w0 = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    let jiffies1 = cpus.as_ref().and_then(|c| cpus_jiffies(c));
    let (c1, scpu1, ccpu1) = read(s.http.clone(), l.url.clone()).await;
    let window_secs = w0.elapsed().as_secs_f64();

    let mut ends = Vec::new();
    for t in tasks {
        ends.push(t.await?);
    }
    let mut hist = stats::histogram();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    let (mut sent, mut acked_window) = (0u64, 0u64);
    let mut acked: Vec<Uuid> = Vec::new();
    for e in ends {
        sent += e.sent_in_window;
        acked_window += e.acked_in_window;
        acked.extend(e.acked);
        if let Some(h) = &e.hist {
            let _ = hist.add(h);
        }
        for (k, v) in e.errors {
            *errors.entry(k).or_default() += v;
        }
    }
    let ok_latency = Latency::of(&hist);

    // The store: wait for the write-behind to catch up (apply), then look for every op.
    let (mut in_store, mut missing, mut duplicates) = (None, None, None);
    if let Some(at) = &store_at {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let (found, dups) = stored(at, &boards, &acked).await?;
            if found == acked.len() as u64 || Instant::now() > until {
                in_store = Some(found);
                missing = Some(acked.len() as u64 - found);
                duplicates = Some(dups);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let (committed_per_sec, commits, mean_batch_ops, mean_commit_ms, commit_p99_bound_ms) =
        match (&c0, &c1) {
            (Some(x), Some(y)) => {
                let n = y.batches - x.batches;
                (
                    Some((y.ops - x.ops) / window_secs),
                    Some(n),
                    (n > 0.0).then(|| (y.ops - x.ops) / n),
                    (n > 0.0).then(|| (y.commit_secs - x.commit_secs) / n * 1000.0),
                    p99_bound_ms(x, y),
                )
            }
            _ => (None, None, None, None, None),
        };
    let server_cpu = match (scpu0, scpu1) {
        (Some(x), Some(y)) => Some((y - x) / window_secs),
        _ => None,
    };
    let client_cpu = match (ccpu0, ccpu1) {
        (Some(x), Some(y)) => (y - x) / window_secs,
        _ => 0.0,
    };
    let server_core_busy = match (jiffies0, jiffies1) {
        (Some((b0, t0)), Some((b1, t1))) if t1 > t0 => Some((b1 - b0) as f64 / (t1 - t0) as f64),
        _ => None,
    };
    let r = OpsResult {
        scenario: "ops".into(),
        label: a.label.clone().unwrap_or_else(|| "boardroom".into()),
        store: if a.running && a.database_url.is_none() {
            "unknown".into()
        } else {
            match store_at {
                Some(StoreAt::Postgres(_)) => "postgres".into(),
                Some(StoreAt::Sqlite(_)) => "sqlite".into(),
                None => a.store.name().into(),
            }
        },
        durability: a.durability.clone(),
        journal_max_batch: max_batch,
        writers: a.writers,
        window: a.window,
        rate: a.rate,
        boards: a.boards,
        cards_per_board: a.cards,
        seconds: window_secs,
        ops_sent: sent,
        acked_per_sec: acked_window as f64 / window_secs,
        committed_per_sec,
        errors,
        acked_total: acked.len() as u64,
        acked_in_store: in_store,
        missing,
        duplicates,
        ok_latency,
        durable_latency: (a.durability == "commit").then_some(ok_latency),
        commits,
        mean_batch_ops,
        mean_commit_ms,
        commit_p99_bound_ms,
        client_cpu,
        server_cpu,
        server_core_busy,
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    println!("{}", summary(&r));
    Ok(r)
}

pub fn summary(r: &OpsResult) -> String {
    format!(
        "ops [{} {} {}, max batch {}, {} writers x {} in flight{}, {} boards x {} cards]: \
         acked {:.0}/s, committed {}/s; ok {}; commits {} (mean {} ops, {} ms); \
         acked {} (in store {}, missing {}, dup {}); errors {:?}",
        r.label,
        r.store,
        r.durability,
        r.journal_max_batch
            .map(|b| b.to_string())
            .unwrap_or_else(|| "default".into()),
        r.writers,
        r.window,
        r.rate
            .map(|x| format!(", {x:.0} ops/s offered"))
            .unwrap_or_default(),
        r.boards,
        r.cards_per_board,
        r.acked_per_sec,
        r.committed_per_sec
            .map(|c| format!("{c:.0}"))
            .unwrap_or_else(|| "?".into()),
        r.ok_latency.line(),
        r.commits
            .map(|c| format!("{c:.0}"))
            .unwrap_or_else(|| "?".into()),
        r.mean_batch_ops
            .map(|c| format!("{c:.1}"))
            .unwrap_or_else(|| "?".into()),
        r.mean_commit_ms
            .map(|c| format!("{c:.2}"))
            .unwrap_or_else(|| "?".into()),
        r.acked_total,
        r.acked_in_store
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        r.missing
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        r.duplicates
            .map(|c| c.to_string())
            .unwrap_or_else(|| "-".into()),
        r.errors
    )
}

/// How many of `acked` the store holds in `applied_ops`, and how many of them have more than
/// one event.
async fn stored(at: &StoreAt, boards: &[Uuid], acked: &[Uuid]) -> Result<(u64, u64)> {
    let mut applied: HashSet<Uuid> = HashSet::new();
    let mut multi: Vec<Uuid> = Vec::new();
    match at {
        StoreAt::Postgres(url) => {
            use sqlx::Connection;
            let mut c = sqlx::PgConnection::connect(url).await?;
            let rows: Vec<(Uuid,)> =
                sqlx::query_as("SELECT op_id FROM applied_ops WHERE board_id = ANY($1)")
                    .bind(boards)
                    .fetch_all(&mut c)
                    .await?;
            applied.extend(rows.into_iter().map(|r| r.0));
            let rows: Vec<(Uuid,)> = sqlx::query_as(
                "SELECT op_id FROM board_events WHERE board_id = ANY($1) \
                 GROUP BY op_id HAVING count(*) > 1",
            )
            .bind(boards)
            .fetch_all(&mut c)
            .await?;
            multi.extend(rows.into_iter().map(|r| r.0));
        }
        StoreAt::Sqlite(path) => {
            use sqlx::Connection;
            let opts = sqlx::sqlite::SqliteConnectOptions::new()
                .filename(path)
                .read_only(true);
            let mut c = sqlx::SqliteConnection::connect_with(&opts).await?;
            for b in boards {
                let rows: Vec<(Uuid,)> =
                    sqlx::query_as("SELECT op_id FROM applied_ops WHERE board_id = ?")
                        .bind(b)
                        .fetch_all(&mut c)
                        .await?;
                applied.extend(rows.into_iter().map(|r| r.0));
                let rows: Vec<(Uuid,)> = sqlx::query_as(
                    "SELECT op_id FROM board_events WHERE board_id = ? \
                     GROUP BY op_id HAVING count(*) > 1",
                )
                .bind(b)
                .fetch_all(&mut c)
                .await?;
                multi.extend(rows.into_iter().map(|r| r.0));
            }
        }
    }
    let ours: HashSet<&Uuid> = acked.iter().collect();
    let found = acked.iter().filter(|o| applied.contains(o)).count() as u64;
    let dups = multi.iter().filter(|o| ours.contains(o)).count() as u64;
    Ok((found, dups))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls() {
        assert_eq!(
            db_url("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            db_url("postgres://u@h/test?sslmode=disable", "y").unwrap(),
            "postgres://u@h/y?sslmode=disable"
        );
        assert_eq!(db_url("postgres://h:1", "z").unwrap(), "postgres://h:1/z");
    }

    #[test]
    fn commit_counters_from_metrics() {
        let text = "# TYPE boardroom_commit_seconds histogram\n\
            boardroom_commit_seconds_bucket{le=\"0.0005\"} 1\n\
            boardroom_commit_seconds_bucket{le=\"0.001\"} 50\n\
            boardroom_commit_seconds_bucket{le=\"0.0025\"} 99\n\
            boardroom_commit_seconds_bucket{le=\"0.005\"} 100\n\
            boardroom_commit_seconds_bucket{le=\"+Inf\"} 100\n\
            boardroom_commit_seconds_sum 0.1\n\
            boardroom_commit_seconds_count 100\n\
            boardroom_commit_batch_size_sum 4000\n\
            boardroom_commit_batch_size_count 100\n";
        let c = parse_counters(text).unwrap();
        assert_eq!((c.batches, c.ops, c.commit_secs), (100.0, 4000.0, 0.1));
        assert_eq!(p99_bound_ms(&CommitCounters::default(), &c), Some(2.5));
        assert!(parse_counters("nothing here").is_none());
    }
}
