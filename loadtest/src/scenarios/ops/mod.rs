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

mod counters;
mod db;
mod measure;
mod writer;

pub use self::counters::{parse_counters, CommitCounters};
use self::db::{FreshDb, StoreAt};
use self::measure::measure;
use crate::boardroom::Login;
use crate::client::ServerKind;
use crate::scenarios::compare::Spread;
use crate::servers::{self, SpawnArgs, Spawned};
use crate::stats::{self, cell, cell_fixed, cell_percent, Latency, Machine, OutDir, Usage};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

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
    #[command(flatten)]
    pub out: OutDir,
    /// Name of the run in the result.
    #[arg(long)]
    pub label: Option<String>,
}

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
    #[serde(flatten)]
    pub usage: Usage,
    pub machine: Machine,
    pub unix_time: u64,
}

impl OpsResult {
    pub const MARKDOWN_HEADER: &'static str = "| run | store | durability | max batch | writers × window (offered) | boards × cards | acked ops/s | committed ops/s | ok p50 | p90 | p99 | p99.9 | max | time to durable p99 | commits/s | ops per commit | commit ms (mean / p99 ≤) | errors | missing | dup | server CPU | server core busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    pub fn markdown_row(&self) -> String {
        let errors: u64 = self.errors.values().sum();
        format!(
            "| {} | {} | {} | {} | {} × {}{} | {} × {} | {:.0} | {} | {} | {} | {} | {} | {} / {} | {} | {} | {} | {} | {} |",
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
            cell_fixed(self.committed_per_sec, 0),
            self.ok_latency.cells(),
            self.durable_latency
                .map(|l| format!("{:.2} ms", l.p99_ms))
                .unwrap_or_else(|| "not measured".into()),
            cell_fixed(self.commits.map(|c| c / self.seconds), 0),
            cell_fixed(self.mean_batch_ops, 1),
            cell_fixed(self.mean_commit_ms, 2),
            cell_fixed(self.commit_p99_bound_ms, 1),
            errors,
            cell(self.missing, |x| x.to_string()),
            cell(self.duplicates, |x| x.to_string()),
            cell_fixed(self.usage.server_cpu, 2),
            cell_percent(self.usage.server_core_busy),
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
            if let Some(dir) = a.out.dir() {
                save(dir, &r)?;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        Ok(())
    } else {
        let r = run_one(a, login, a.journal_max_batch, 0).await?;
        if let Some(dir) = a.out.dir() {
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
            if let Some(dir) = a.out.dir() {
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
    if let Some(dir) = a.out.dir() {
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
        cell(r.acked_in_store, |x| x.to_string()),
        cell(r.missing, |x| x.to_string()),
        cell(r.duplicates, |x| x.to_string()),
        r.errors
    )
}
