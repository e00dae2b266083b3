//! `compare --scenario fanout`: Boardroom and each peer in turn, interleaved (A B C A B C …,
//! `--rounds` times, at every rate of `--rates`), with the same client settings, then the
//! ratios Boardroom / peer per round with their spread (min / median / max).
//!
//! The servers are started here (`servers::spawn`: Boardroom's release binary on SQLite in a
//! temporary directory with the chosen `durability`, the bare peer, the Socket.IO peer), or
//! already running ones are named with `--boardroom-url` / `--bare-url` / `--socketio-url`
//! (then `--*-pid` lets the run read their CPU time and memory).
//!
//! Fair payloads: the peers deliver what the publisher sends, Boardroom delivers a full
//! `card.updated` event. Unless `--pad-bytes` is given, the peers' messages are padded so that
//! their delivered frames are as large as the Boardroom frames measured in the first round.

use crate::boardroom::Login;
use crate::client::{peer_payload, ServerKind};
use crate::scenarios::fanout::{self, FanoutArgs};
use crate::servers::{self, SpawnArgs, Spawned};
use crate::stats::{self, cell, FanoutResult, Machine};
use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// What `compare` and `overload` share: when a run keeps up, the pause between runs, and a
/// running Boardroom to use instead of starting one.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    /// A run "keeps up" when it delivers at least 98 % of what was offered, with nothing
    /// missing, no errors and a p99 at or below this; the highest rate that keeps up is a
    /// server's maximum sustained deliveries/s in that round.
    #[arg(long, default_value_t = 50.0)]
    pub sustained_p99_ms: f64,
    /// Pause between two runs (sockets closing, the server settling).
    #[arg(long, default_value_t = 2.0)]
    pub pause_secs: f64,
    /// Use a running Boardroom instead of starting one.
    #[arg(long)]
    pub boardroom_url: Option<String>,
    #[arg(long)]
    pub boardroom_pid: Option<u32>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareScenario {
    Fanout,
}

#[derive(clap::Args, Debug, Clone)]
pub struct CompareArgs {
    #[arg(long, value_enum, default_value = "fanout")]
    pub scenario: CompareScenario,
    /// The servers, in the order each round runs them.
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "boardroom,bare,socketio"
    )]
    pub servers: Vec<ServerKind>,
    #[arg(long, default_value_t = 3)]
    pub rounds: usize,
    /// Offered ops/s to run at, each in every round (default: the fanout's `--rate`).
    #[arg(long, value_delimiter = ',')]
    pub rates: Vec<f64>,
    #[command(flatten)]
    pub run: RunArgs,
    #[arg(long)]
    pub bare_url: Option<String>,
    #[arg(long)]
    pub bare_pid: Option<u32>,
    #[arg(long)]
    pub socketio_url: Option<String>,
    #[arg(long)]
    pub socketio_pid: Option<u32>,
    #[command(flatten)]
    pub spawn: SpawnArgs,
    /// The fanout settings, the same for every server (`--server`, `--label` and `--out` are
    /// set per run).
    #[command(flatten)]
    pub fanout: FanoutArgs,
}

/// One ratio's spread over rounds.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Spread {
    pub min: f64,
    pub median: f64,
    pub max: f64,
    pub values: Vec<f64>,
}

impl Spread {
    pub fn of(mut v: Vec<f64>) -> Option<Self> {
        v.retain(|x| x.is_finite());
        if v.is_empty() {
            return None;
        }
        let values = v.clone();
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Self {
            min: v[0],
            median,
            max: v[n - 1],
            values,
        })
    }

    fn show(&self) -> String {
        format!(
            "{:.2} (min {:.2}, max {:.2}, n={})",
            self.median,
            self.min,
            self.max,
            self.values.len()
        )
    }

    /// The median with its range, for a table cell.
    fn brief(&self) -> String {
        format!("{:.2} ({:.2}–{:.2})", self.median, self.min, self.max)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PeerRatios {
    pub peer: String,
    pub rate_ops: f64,
    /// Boardroom deliveries/s ÷ the peer's, per round.
    pub deliveries: Option<Spread>,
    /// Boardroom p99 ÷ the peer's, per round (below 1: Boardroom's is lower).
    pub p99: Option<Spread>,
    pub p50: Option<Spread>,
    /// Boardroom server CPU per delivery ÷ the peer's (above 1: Boardroom spends more).
    #[serde(default)]
    pub cpu_per_delivery: Option<Spread>,
}

/// A server's maximum sustained deliveries/s, round by round (None: no rate kept up).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sustained {
    pub server: String,
    pub per_round: Vec<Option<f64>>,
    /// Boardroom's ÷ this server's, over the rounds where both kept up at some rate.
    pub boardroom_ratio: Option<Spread>,
}

/// Whether a run kept up with what was offered.
pub fn kept_up(r: &FanoutResult, p99_ms: f64) -> bool {
    r.deliveries_per_sec >= 0.98 * r.offered_deliveries_per_sec
        && r.missing == 0
        && r.errors.is_empty()
        && r.latency.p99_ms <= p99_ms
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompareResult {
    pub scenario: String,
    pub rounds: usize,
    pub servers: Vec<String>,
    pub durability: String,
    pub server_cpus: Option<String>,
    pub runs: Vec<FanoutResult>,
    pub ratios: Vec<PeerRatios>,
    #[serde(default)]
    pub sustained_p99_ms: f64,
    #[serde(default)]
    pub sustained: Vec<Sustained>,
    pub machine: Machine,
    pub unix_time: u64,
}

/// The size of a peer frame carrying an unpadded message of about the size the run sends.
fn peer_frame_base(kind: ServerKind) -> usize {
    let body = peer_payload(0, 0, 1000, 100_000_000, "").len();
    match kind {
        ServerKind::Socketio => body + r#"42["msg",]"#.len(),
        _ => body,
    }
}

pub async fn run(a: &CompareArgs, login: &Login) -> Result<()> {
    if a.rounds == 0 || a.servers.is_empty() {
        bail!("nothing to compare");
    }
    let mut spawned: Vec<Spawned> = Vec::new();
    let mut where_: BTreeMap<&'static str, (String, Option<u32>)> = BTreeMap::new();
    for &kind in &a.servers {
        let given = match kind {
            ServerKind::Boardroom => (a.run.boardroom_url.clone(), a.run.boardroom_pid),
            ServerKind::Bare => (a.bare_url.clone(), a.bare_pid),
            ServerKind::Socketio => (a.socketio_url.clone(), a.socketio_pid),
        };
        let entry = match given {
            (Some(url), pid) => (url, pid),
            (None, _) => {
                let s = servers::spawn(kind, &a.spawn, &a.fanout.durability).await?;
                let e = (s.url.clone(), Some(s.pid()));
                spawned.push(s);
                e
            }
        };
        where_.insert(kind.name(), entry);
    }
    let rates = if a.rates.is_empty() {
        vec![a.fanout.rate]
    } else {
        a.rates.clone()
    };
    let durability = a.fanout.durability.clone();
    let mut br_frame: Option<f64> = None;
    let mut runs: Vec<FanoutResult> = Vec::new();
    let total = a.rounds * rates.len() * a.servers.len();
    let mut done = 0;
    for round in 1..=a.rounds {
        for &rate in &rates {
            for &kind in &a.servers {
                done += 1;
                let (url, pid) = where_[kind.name()].clone();
                let mut f = a.fanout.clone();
                f.server = kind;
                f.rate = rate;
                f.server_pid = pid;
                if spawned.iter().any(|s| s.kind == kind) {
                    f.server_cpus_busy = a.spawn.server_cpus.clone();
                }
                f.durability = durability.clone();
                f.label = Some(kind.name().to_string());
                if kind != ServerKind::Boardroom && f.pad_bytes == 0 {
                    if let Some(b) = br_frame {
                        f.pad_bytes = (b as usize).saturating_sub(peer_frame_base(kind));
                    }
                }
                eprintln!(
                    "== run {done}/{total}: round {round}, {} at {rate} ops/s",
                    kind.name()
                );
                let l = Login {
                    url,
                    ..login.clone()
                };
                let r = fanout::run(&f, &l).await?;
                if kind == ServerKind::Boardroom && br_frame.is_none() && r.frame_bytes > 0.0 {
                    br_frame = Some(r.frame_bytes);
                }
                runs.push(r);
                tokio::time::sleep(Duration::from_secs_f64(a.run.pause_secs)).await;
            }
        }
    }
    drop(spawned);

    // Ratios, round by round (each Boardroom run against the peer run next to it).
    let mut ratios = Vec::new();
    let has_br = a.servers.contains(&ServerKind::Boardroom);
    for &peer in a.servers.iter().filter(|k| **k != ServerKind::Boardroom) {
        for &rate in &rates {
            let pick = |k: ServerKind| -> Vec<&FanoutResult> {
                runs.iter()
                    .filter(|r| r.server == k.name() && r.rate_ops == rate)
                    .collect()
            };
            let (brs, ps) = (pick(ServerKind::Boardroom), pick(peer));
            if !has_br {
                break;
            }
            let pairs: Vec<(&FanoutResult, &FanoutResult)> =
                brs.iter().copied().zip(ps.iter().copied()).collect();
            let ratio = |f: &dyn Fn(&FanoutResult) -> f64| {
                Spread::of(pairs.iter().map(|(b, p)| f(b) / f(p)).collect())
            };
            ratios.push(PeerRatios {
                peer: peer.name().into(),
                rate_ops: rate,
                deliveries: ratio(&|r| r.deliveries_per_sec),
                p99: ratio(&|r| r.latency.p99_ms),
                p50: ratio(&|r| r.latency.p50_ms),
                cpu_per_delivery: ratio(&|r| r.server_us_per_delivery.unwrap_or(f64::NAN)),
            });
        }
    }

    // Maximum sustained deliveries/s per server and round (runs are in round order).
    let per_round = rates.len() * a.servers.len();
    let best = |k: ServerKind| -> Vec<Option<f64>> {
        runs.chunks(per_round)
            .map(|round| {
                round
                    .iter()
                    .filter(|r| r.server == k.name() && kept_up(r, a.run.sustained_p99_ms))
                    .map(|r| r.deliveries_per_sec)
                    .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))))
            })
            .collect()
    };
    let br_best = best(ServerKind::Boardroom);
    let sustained: Vec<Sustained> = a
        .servers
        .iter()
        .map(|&k| {
            let mine = best(k);
            let ratio = Spread::of(
                br_best
                    .iter()
                    .zip(&mine)
                    .filter_map(|(b, m)| Some(b.as_ref()? / m.as_ref()?))
                    .collect(),
            );
            Sustained {
                server: k.name().into(),
                per_round: mine,
                boardroom_ratio: if has_br && k != ServerKind::Boardroom {
                    ratio
                } else {
                    None
                },
            }
        })
        .collect();

    println!();
    println!("{}", FanoutResult::MARKDOWN_HEADER);
    for r in &runs {
        println!("{}", r.markdown_row());
    }
    println!();
    for r in &ratios {
        println!(
            "boardroom / {} at {} ops/s: deliveries/s {}; p50 {}; p99 {}",
            r.peer,
            r.rate_ops,
            cell(r.deliveries.as_ref(), Spread::show),
            cell(r.p50.as_ref(), Spread::show),
            cell(r.p99.as_ref(), Spread::show),
        );
    }
    if rates.len() > 1 {
        for x in &sustained {
            println!(
                "max sustained deliveries/s (kept up: >= 98 % delivered, no loss, p99 <= {} ms), {} per round: {:?}{}",
                a.run.sustained_p99_ms,
                x.server,
                x.per_round.iter().map(|v| v.map(|v| v.round())).collect::<Vec<_>>(),
                x.boardroom_ratio
                    .as_ref()
                    .map(|r| format!("; boardroom / {}: {}", x.server, r.show()))
                    .unwrap_or_default()
            );
        }
    }
    let result = CompareResult {
        scenario: "compare-fanout".into(),
        rounds: a.rounds,
        servers: a.servers.iter().map(|k| k.name().to_string()).collect(),
        durability,
        server_cpus: a.spawn.server_cpus.clone(),
        runs,
        ratios,
        sustained_p99_ms: a.run.sustained_p99_ms,
        sustained,
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    if let Some(dir) = a.fanout.out.dir() {
        save_compare(dir, &result)?;
    }
    Ok(())
}

fn save_compare(dir: &Path, r: &CompareResult) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let f = &r.runs[0];
    let name = format!(
        "compare-fanout-{}-{}x{}-{}",
        f.path, f.boards, f.subscribers, r.unix_time
    );
    let path = dir.join(format!("{name}.json"));
    std::fs::write(&path, serde_json::to_vec_pretty(r)?)?;
    let mut md = String::new();
    md.push_str(FanoutResult::MARKDOWN_HEADER);
    md.push('\n');
    for run in &r.runs {
        md.push_str(&run.markdown_row());
        md.push('\n');
    }
    md.push('\n');
    md.push_str("| Boardroom ÷ peer | rate ops/s | deliveries/s (median, min–max) | p50 | p99 | server CPU per delivery |\n|---|---|---|---|---|---|\n");
    for x in &r.ratios {
        let s = |v: &Option<Spread>| cell(v.as_ref(), Spread::brief);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            x.peer,
            x.rate_ops,
            s(&x.deliveries),
            s(&x.p50),
            s(&x.p99),
            s(&x.cpu_per_delivery)
        ));
    }
    if r.runs
        .iter()
        .map(|x| x.rate_ops.to_bits())
        .collect::<std::collections::BTreeSet<_>>()
        .len()
        > 1
    {
        md.push_str(&format!(
            "\nMaximum sustained deliveries/s (>= 98 % delivered, nothing missing, no errors, p99 <= {} ms):\n\n| server | per round | Boardroom ÷ server |\n|---|---|---|\n",
            r.sustained_p99_ms
        ));
        for x in &r.sustained {
            md.push_str(&format!(
                "| {} | {} | {} |\n",
                x.server,
                x.per_round
                    .iter()
                    .map(|v| v.map(|v| format!("{v:.0}")).unwrap_or("none".into()))
                    .collect::<Vec<_>>()
                    .join(", "),
                cell(x.boardroom_ratio.as_ref(), Spread::brief)
            ));
        }
    }
    std::fs::write(dir.join(format!("{name}.md")), md)?;
    println!("wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spread_of_ratios() {
        let s = Spread::of(vec![3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.min, s.median, s.max), (1.0, 2.0, 3.0));
        let s = Spread::of(vec![4.0, 1.0, 2.0, 3.0]).unwrap();
        assert_eq!(s.median, 2.5);
        assert!(Spread::of(vec![f64::NAN]).is_none());
        assert!(Spread::of(vec![]).is_none());
    }
}
