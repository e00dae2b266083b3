//! One measured run: start the server and store, run the writers for the window, read the
//! counters and the store, and put it all in an `OpsResult`.

use super::counters::{commit_counters, p99_bound_ms};
use super::db::{stored, StoreAt};
use super::writer::{setup, writer, Pace, Window};
use super::{summary, OpsArgs, OpsResult};
use crate::boardroom::{self, Login};
use crate::client::br_connect;
use crate::stats::{self, parse_cpu_list, Latency, Machine, UsageMeter};
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use uuid::Uuid;

pub(super) async fn measure(
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
    let cores = a
        .spawn
        .server_cpus
        .as_deref()
        .filter(|_| !a.running)
        .map(parse_cpu_list)
        .unwrap_or_default();
    let c0 = commit_counters(&s.http, &l.url).await;
    let usage = UsageMeter::start(pid, cores);
    let w0 = Instant::now();
    tokio::time::sleep_until(end.into()).await;
    let c1 = commit_counters(&s.http, &l.url).await;
    let window_secs = w0.elapsed().as_secs_f64();
    let usage = usage.finish(window_secs);

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
        usage,
        machine: Machine::here(),
        unix_time: stats::unix_secs(),
    };
    println!("{}", summary(&r));
    Ok(r)
}
