//! `overload`: Boardroom offered more than it can deliver. Each round first finds the maximum
//! sustained rate (the `--rates` in ascending order, up to the first that does not keep up, by
//! the same rule as `compare`: >= 98 % delivered, nothing missing, no errors, p99 at or below
//! `--sustained-p99-ms`), or takes `--max-rate`, then offers `--factor` times that rate and
//! reports what came through: deliveries/s against the maximum, how the server pushed back
//! (`rate_limited`, `unavailable`, sockets closed with 4009), latency, and loss — events that
//! were applied (and so acknowledged to their sender) but never reached a subscriber whose
//! connection stayed open.

use crate::boardroom::Login;
use crate::client::ServerKind;
use crate::scenarios::compare::{kept_up, RunArgs, Spread};
use crate::scenarios::fanout::{self, FanoutArgs};
use crate::servers::{self, SpawnArgs, Spawned};
use crate::stats::{self, cell_fixed, cell_percent, FanoutResult, Machine};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

#[derive(clap::Args, Debug, Clone)]
pub struct OverloadArgs {
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Offered ops/s tried in ascending order to find the maximum sustained rate in each
    /// round (the search stops at the first rate that does not keep up).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    /// Skip the search: the maximum sustained rate, in ops/s, is this (its deliveries/s are
    /// then measured once per round at this rate).
    #[arg(long)]
    pub max_rate: Option<f64>,
    /// The overload run offers this many times the maximum sustained rate.
    #[arg(long, default_value_t = 2.0)]
    pub factor: f64,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub spawn: SpawnArgs,
    /// The fanout settings (`--server` is always Boardroom; `--rate` is set per run).
    #[command(flatten)]
    pub fanout: FanoutArgs,
}

/// One round: the search for the maximum, then the overload run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverloadRound {
    pub round: usize,
    /// The highest offered ops/s that kept up, and what it delivered per second.
    pub max_rate_ops: Option<f64>,
    pub max_deliveries_per_sec: Option<f64>,
    pub search: Vec<FanoutResult>,
    pub overload: FanoutResult,
    /// Overload deliveries/s ÷ the maximum's.
    pub delivered_vs_max: Option<f64>,
    /// Ops answered `rate_limited` / `unavailable`.
    pub rate_limited: u64,
    pub unavailable: u64,
    /// Subscribers closed with 4009 (too slow to read).
    pub closed_4009: u64,
    /// Every other error, by key.
    pub other_errors: BTreeMap<String, u64>,
    /// Applied events that a subscriber whose connection stayed open never received.
    pub lost: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OverloadResult {
    pub scenario: String,
    pub factor: f64,
    pub durability: String,
    pub server_cpus: Option<String>,
    pub sustained_p99_ms: f64,
    pub rounds: Vec<OverloadRound>,
    /// `delivered_vs_max` over the rounds.
    pub delivered_vs_max: Option<Spread>,
    pub machine: Machine,
    pub unix_time: u64,
}

impl OverloadRound {
    fn of(
        round: usize,
        search: Vec<FanoutResult>,
        best: Option<&FanoutResult>,
        overload: FanoutResult,
    ) -> Self {
        let mut rate_limited = 0;
        let mut unavailable = 0;
        let mut closed_4009 = 0;
        let mut other_errors = BTreeMap::new();
        for (k, &n) in &overload.errors {
            match k.as_str() {
                "rate_limited" => rate_limited += n,
                "unavailable" => unavailable += n,
                k if k.starts_with("subscriber closed 4009") => closed_4009 += n,
                _ => {
                    other_errors.insert(k.clone(), n);
                }
            }
        }
        let max = best.map(|b| b.deliveries_per_sec);
        OverloadRound {
            round,
            max_rate_ops: best.map(|b| b.rate_ops),
            max_deliveries_per_sec: max,
            delivered_vs_max: max
                .filter(|m| *m > 0.0)
                .map(|m| overload.deliveries_per_sec / m),
            rate_limited,
            unavailable,
            closed_4009,
            other_errors,
            lost: overload.missing.saturating_sub(overload.missing_on_closed),
            search,
            overload,
        }
    }
}

pub const MARKDOWN_HEADER: &str = "| round | max sustained ops/s | max deliveries/s | offered ops/s | delivered/s | delivered ÷ max | unavailable | rate_limited | closed 4009 | other errors | lost | p50 | p99 | p99.9 | ack p99 | server core busy |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

impl OverloadRound {
    pub fn markdown_row(&self) -> String {
        let o = &self.overload;
        format!(
            "| {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms | {} | {} |",
            self.round,
            cell_fixed(self.max_rate_ops, 0),
            cell_fixed(self.max_deliveries_per_sec, 0),
            o.rate_ops,
            o.deliveries_per_sec,
            cell_percent(self.delivered_vs_max),
            self.unavailable,
            self.rate_limited,
            self.closed_4009,
            if self.other_errors.is_empty() {
                "0".to_string()
            } else {
                format!("{:?}", self.other_errors)
            },
            self.lost,
            o.latency.p50_ms,
            o.latency.p99_ms,
            o.latency.p999_ms,
            o.ack_latency
                .as_ref()
                .map(|l| format!("{:.2} ms", l.p99_ms))
                .unwrap_or_else(|| "-".into()),
            cell_percent(o.usage.server_core_busy),
        )
    }
}

pub async fn run(a: &OverloadArgs, login: &Login) -> Result<OverloadResult> {
    if a.rounds == 0 {
        bail!("--rounds must be at least 1");
    }
    if a.max_rate.is_none() && a.rates.is_empty() {
        bail!("give --rates to search for the maximum sustained rate, or --max-rate");
    }
    if a.factor <= 0.0 {
        bail!("--factor must be positive");
    }
    let mut rates = a.rates.clone();
    rates.sort_by(|x, y| x.total_cmp(y));
    let mut spawned: Option<Spawned> = None;
    let (url, pid) = match &a.run.boardroom_url {
        Some(u) => (u.clone(), a.run.boardroom_pid),
        None => {
            let s = servers::spawn(ServerKind::Boardroom, &a.spawn, &a.fanout.durability).await?;
            let e = (s.url.clone(), Some(s.pid()));
            spawned = Some(s);
            e
        }
    };
    let l = Login {
        url,
        ..login.clone()
    };
    let run_at = |rate: f64, label: String| {
        let mut f = a.fanout.clone();
        f.server = ServerKind::Boardroom;
        f.rate = rate;
        f.server_pid = pid;
        if spawned.is_some() {
            f.server_cpus_busy = a.spawn.server_cpus.clone();
        }
        f.label = Some(label);
        f
    };
    let mut rounds = Vec::new();
    for round in 1..=a.rounds {
        let mut search = Vec::new();
        let candidates = match a.max_rate {
            Some(m) => vec![m],
            None => rates.clone(),
        };
        for rate in candidates {
            eprintln!("== round {round}: search at {rate} ops/s");
            let r = fanout::run(&run_at(rate, "boardroom".into()), &l).await?;
            let ok = kept_up(&r, a.run.sustained_p99_ms);
            search.push(r);
            tokio::time::sleep(Duration::from_secs_f64(a.run.pause_secs)).await;
            if !ok && a.max_rate.is_none() {
                break;
            }
        }
        let best = if a.max_rate.is_some() {
            search.last().cloned()
        } else {
            search
                .iter()
                .filter(|r| kept_up(r, a.run.sustained_p99_ms))
                .max_by(|x, y| x.rate_ops.total_cmp(&y.rate_ops))
                .cloned()
        };
        let Some(max_rate) = best.as_ref().map(|b| b.rate_ops) else {
            eprintln!("== round {round}: no rate kept up; no overload run");
            continue;
        };
        let rate = max_rate * a.factor;
        eprintln!(
            "== round {round}: overload at {rate} ops/s ({}× {max_rate})",
            a.factor
        );
        let over = fanout::run(&run_at(rate, "boardroom-overload".into()), &l).await?;
        tokio::time::sleep(Duration::from_secs_f64(a.run.pause_secs)).await;
        let r = OverloadRound::of(round, search, best.as_ref(), over);
        println!("{MARKDOWN_HEADER}\n{}", r.markdown_row());
        rounds.push(r);
    }
    drop(spawned);
    let result = OverloadResult {
        scenario: "overload".into(),
        factor: a.factor,
        durability: a.fanout.durability.clone(),
        server_cpus: a.spawn.server_cpus.clone(),
        sustained_p99_ms: a.run.sustained_p99_ms,
        delivered_vs_max: Spread::of(rounds.iter().filter_map(|r| r.delivered_vs_max).collect()),
        rounds,
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    println!();
    println!("{MARKDOWN_HEADER}");
    for r in &result.rounds {
        println!("{}", r.markdown_row());
    }
    if let Some(s) = &result.delivered_vs_max {
        println!(
            "\ndelivered ÷ max at {}× the maximum: median {:.2}, min {:.2}, max {:.2} (n={})",
            a.factor,
            s.median,
            s.min,
            s.max,
            s.values.len()
        );
    }
    if let Some(dir) = a.fanout.out.dir() {
        save(dir, &result)?;
    }
    Ok(result)
}

fn save(dir: &Path, r: &OverloadResult) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let shape = r
        .rounds
        .first()
        .map(|x| format!("{}x{}", x.overload.boards, x.overload.subscribers))
        .unwrap_or_else(|| "none".into());
    let name = format!("overload-{}-{}-{}", r.durability, shape, r.unix_time);
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(r)?)?;
    let mut md = String::new();
    md.push_str(MARKDOWN_HEADER);
    md.push('\n');
    for x in &r.rounds {
        md.push_str(&x.markdown_row());
        md.push('\n');
    }
    md.push_str("\nAll runs (search and overload):\n\n");
    md.push_str(FanoutResult::MARKDOWN_HEADER);
    md.push('\n');
    for x in &r.rounds {
        for run in x.search.iter().chain(std::iter::once(&x.overload)) {
            md.push_str(&run.markdown_row());
            md.push('\n');
        }
    }
    std::fs::write(dir.join(format!("{name}.md")), md)?;
    println!("wrote {}", path.display());
    Ok(())
}
