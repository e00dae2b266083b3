//! `failover`: how long a board is unwritable when its owner dies, and whether any
//! acknowledged op is lost or applied twice.
//!
//! Each run starts three nodes (n1..n3, default `[cluster]` settings, a fresh key prefix),
//! makes n1 the owner of a new board, connects a writer to n2 that sends a `card.create` every
//! `--interval-ms` (an op that is refused is sent again with the same `op_id`), kills n1 with
//! SIGKILL, and measures the time from the kill to the first `ok` of an op committed by the
//! new owner (its `applied_ops.epoch` is above the old owner's). Then it checks in Postgres
//! that every acknowledged op is applied exactly once, and stops n2 and n3.

use crate::nodes::{self, NodesArgs};
use crate::{hello, lease_holder, message, recv};
use anyhow::{bail, ensure, Context, Result};
use boardroom_loadtest::stats::{save, unix_secs, Machine, OutDir};
use boardroom_protocol::{ClientFrame, Codec, ErrorCode, Ref, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    nodes: NodesArgs,
    /// How many times to kill an owner (each run starts three fresh nodes).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// The writer sends a new op this often.
    #[arg(long, default_value_t = 20)]
    interval_ms: u64,
    /// Steady traffic through n2 to the owner n1 before the kill.
    #[arg(long, default_value_t = 2000)]
    warmup_ms: u64,
    /// Plus a random 0..jitter ms, so that the kill falls anywhere in the owner's lease
    /// renewal cycle (`[cluster] lease_renew_ms`, 1000 by default) rather than at the same
    /// point in every run.
    #[arg(long, default_value_t = 1000)]
    jitter_ms: u64,
    /// New ops keep coming this long after the first `ok` of an op sent after the kill.
    #[arg(long, default_value_t = 2000)]
    after_ms: u64,
    #[command(flatten)]
    out: OutDir,
}

/// Node settings of every run.
fn node_env() -> Vec<(&'static str, String)> {
    vec![
        // Every acknowledged op is durable: what "applied exactly once" is checked against.
        ("BOARDROOM_DURABILITY", "commit".into()),
        // Retries come on top of the steady rate; keep the per-connection limit out of it.
        (
            "BOARDROOM_LIMITS__OPS_PER_SECOND_PER_CONNECTION",
            "1000000".into(),
        ),
        (
            "BOARDROOM_LIMITS__OPS_BURST_PER_CONNECTION",
            "1000000".into(),
        ),
    ]
}

/// One op of the writer.
struct Op {
    id: Uuid,
    first_sent: Instant,
    /// Refused: send again at this time.
    retry_at: Option<Instant>,
    acked_at: Option<Instant>,
}

/// One kill: what the JSON result records of it.
#[derive(Serialize)]
struct Outcome {
    failover_ms: f64,
    ops_sent: usize,
    ops_acked: usize,
    resends: u64,
    applied_ops: i64,
    expected_ops: i64,
    acked_not_applied: usize,
    written_twice: i64,
    old_epoch: i64,
    new_epoch: i64,
    new_owner: Option<String>,
    ok: bool,
    #[serde(skip)]
    line: String,
}

#[derive(Serialize)]
struct FailoverResult {
    scenario: &'static str,
    unix_time: u64,
    machine: Machine,
    runs: Vec<Outcome>,
    failover_ms_median: f64,
    failover_ms_max: f64,
    all_exactly_once: bool,
}

pub async fn run(args: &Args) -> Result<()> {
    // One organization for all runs.
    let (email, password) = nodes::create_org(&args.nodes, "Failover bench")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.nodes.database_url)
        .await?;
    let mut outcomes = Vec::new();
    for run in 1..=args.runs {
        let o = one(args, run, &email, &password, &pool).await?;
        println!("run {run}: {}", o.line);
        outcomes.push(o);
    }
    let mut ms: Vec<f64> = outcomes.iter().map(|o| o.failover_ms).collect();
    ms.sort_by(f64::total_cmp);
    let all: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{:.0}", o.failover_ms))
        .collect();
    let median = ms.get(ms.len() / 2).copied().unwrap_or(f64::NAN);
    let max = ms.last().copied().unwrap_or(f64::NAN);
    println!(
        "failover (kill -9 of the owner -> first ok committed by the new owner), {} runs: {} ms; median {median:.0} ms",
        ms.len(),
        all.join(", "),
    );
    let all_ok = outcomes.iter().all(|o| o.ok);
    if let Some(dir) = args.out.dir() {
        let lost: usize = outcomes.iter().map(|o| o.acked_not_applied).sum();
        let twice: i64 = outcomes.iter().map(|o| o.written_twice).sum();
        let row = format!(
            "| {} | {} | {median:.0} ms | {max:.0} ms | {} | {lost} | {twice} | {} |",
            outcomes.len(),
            all.join(", "),
            outcomes.iter().map(|o| o.ops_acked).sum::<usize>(),
            if all_ok { "yes" } else { "NO" }
        );
        let result = FailoverResult {
            scenario: "failover",
            unix_time: unix_secs(),
            machine: Machine::here(),
            runs: outcomes,
            failover_ms_median: median,
            failover_ms_max: max,
            all_exactly_once: all_ok,
        };
        save(
            dir,
            &format!("failover-{}", result.unix_time),
            &result,
            "| runs | kill -> first op committed by the new owner | median | max | ops acknowledged | acknowledged but not applied | written twice | exactly once |\n|---|---|---|---|---|---|---|---|",
            &row,
        )?;
    }
    ensure!(all_ok, "an exactly-once check failed (see above)");
    println!("every run: each acknowledged op applied exactly once");
    Ok(())
}

async fn one(
    args: &Args,
    run: usize,
    email: &str,
    password: &str,
    pool: &sqlx::PgPool,
) -> Result<Outcome> {
    let prefix = nodes::fresh_prefix("brf");
    let mut cluster = nodes::start(
        &args.nodes,
        3,
        &format!("failover-run{run}"),
        &nodes::secret(),
        &prefix,
        &node_env(),
    )
    .await?;
    let (n1, n2) = (cluster.base(0)?, cluster.base(1)?);

    // A board, owned by n1: the first op on it goes to n1.
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{n2}/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = login["access_token"].as_str().context("token")?.to_string();
    let me: Value = http
        .get(format!("{n2}/api/v1/me"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let org = me["memberships"][0]["org_id"].as_str().context("org")?;
    let board: Value = http
        .post(format!("{n2}/api/v1/orgs/{org}/boards"))
        .bearer_auth(&token)
        .json(&json!({"name": format!("failover run {run}")}))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let board_id: Uuid = board["id"].as_str().context("board")?.parse()?;
    let column: Uuid = board["columns"][0]["id"]
        .as_str()
        .context("column")?
        .parse()?;
    let pin = Uuid::now_v7();
    http.post(format!("{n1}/api/v1/boards/{board_id}/ops"))
        .bearer_auth(&token)
        .json(&json!({"op_id": pin, "kind": "card.create",
            "data": {"column_id": column, "title": "pin"}}))
        .send()
        .await?
        .error_for_status()
        .context("first op on n1")?;
    let owner = lease_holder(&args.nodes.redis_url, &prefix, board_id).await?;
    ensure!(
        owner.as_deref() == Some("n1"),
        "the board's lease is held by {owner:?}, not n1"
    );

    // The writer, on n2.
    let codec = Codec::Json;
    let ws = hello(&crate::ws_url(&n2), &token, codec).await?;
    let (mut tx, mut rx) = ws.split();
    let (frames_tx, mut frames) = tokio::sync::mpsc::unbounded_channel();
    let reader = tokio::spawn(async move {
        loop {
            match recv(&mut rx, codec).await {
                Ok(Some(f)) => {
                    if frames_tx.send((Instant::now(), f)).is_err() {
                        return;
                    }
                }
                _ => return,
            }
        }
    });
    let frame = |r: usize, op: &Op| -> Result<tokio_tungstenite::tungstenite::Message> {
        let f: ClientFrame = serde_json::from_value(json!({
            "type": "op", "ref": r, "topic": format!("board:{board_id}"), "op_id": op.id,
            "kind": "card.create", "data": {"column_id": column, "title": format!("op {r}")}
        }))?;
        message(codec, &f)
    };

    let mut ops: Vec<Op> = Vec::new();
    let mut retries = 0u64;
    let started = Instant::now();
    let jitter = random() % args.jitter_ms.max(1);
    let kill_at = started + Duration::from_millis(args.warmup_ms + jitter);
    let mut killed: Option<Instant> = None;
    let mut stop_new: Option<Instant> = None;
    // (arrival, op index) of every `ok` after the kill.
    let mut oks_after_kill: Vec<(Instant, usize)> = Vec::new();
    let final_deadline = kill_at + Duration::from_secs(60);
    let mut tick = tokio::time::interval(Duration::from_millis(args.interval_ms));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                if killed.is_none() && now >= kill_at {
                    let node = cluster.nodes[0].take().context("n1 is not running")?;
                    let mut child = node.child;
                    let at = Instant::now();
                    child.kill()?; // SIGKILL
                    killed = Some(at);
                    let _ = child.wait();
                }
                if stop_new.is_none_or(|s| now < s) {
                    ops.push(Op {
                        id: Uuid::now_v7(),
                        first_sent: now,
                        retry_at: None,
                        acked_at: None,
                    });
                    let i = ops.len() - 1;
                    tx.send(frame(i, &ops[i])?).await?;
                }
                for (i, op) in ops.iter_mut().enumerate() {
                    if op.retry_at.is_some_and(|t| t <= now) {
                        op.retry_at = None;
                        retries += 1;
                        tx.send(frame(i, op)?).await?;
                    }
                }
                let all_acked = ops.iter().all(|o| o.acked_at.is_some());
                if stop_new.is_some_and(|s| now >= s) && all_acked {
                    break;
                }
                if now > final_deadline {
                    let open = ops.iter().filter(|o| o.acked_at.is_none()).count();
                    bail!("run {run}: {open} ops still unacknowledged 60 s after the kill");
                }
            }
            got = frames.recv() => {
                let Some((at, f)) = got else { bail!("run {run}: the writer's connection to n2 ended") };
                match f {
                    ServerFrame::Ok(ok) => {
                        let Some(Ref::Int(r)) = ok.r#ref else { continue };
                        let Some(op) = ops.get_mut(r as usize) else { continue };
                        if op.acked_at.is_none() {
                            op.acked_at = Some(at);
                        }
                        if let Some(k) = killed {
                            if at >= k {
                                oks_after_kill.push((at, r as usize));
                                // An op first sent after the kill was committed by the new
                                // owner: keep going a little, then stop adding ops.
                                if stop_new.is_none() && op.first_sent > k {
                                    stop_new = Some(at + Duration::from_millis(args.after_ms));
                                }
                            }
                        }
                    }
                    ServerFrame::Error(e) => {
                        let Some(Ref::Int(r)) = e.r#ref else { continue };
                        let Some(op) = ops.get_mut(r as usize) else { continue };
                        ensure!(
                            matches!(e.code, ErrorCode::Unavailable | ErrorCode::RateLimited | ErrorCode::Internal),
                            "run {run}: op refused for good: {:?} {}", e.code, e.message
                        );
                        let wait = e.retry_after_ms.unwrap_or(100).clamp(20, 1000);
                        op.retry_at = Some(at + Duration::from_millis(wait));
                    }
                    _ => {}
                }
            }
        }
    }
    let killed = killed.context("never killed n1")?;
    let _ = tx.close().await;
    reader.abort();
    let new_owner = lease_holder(&args.nodes.redis_url, &prefix, board_id).await?;

    // What Postgres holds.
    let rows: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT op_id, epoch FROM applied_ops WHERE board_id = $1")
            .bind(board_id)
            .fetch_all(pool)
            .await?;
    let epochs: HashMap<Uuid, i64> = rows.iter().copied().collect();
    let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM applied_ops WHERE board_id = $1")
        .bind(board_id)
        .fetch_one(pool)
        .await?;
    let cards: i64 = sqlx::query_scalar("SELECT count(*) FROM cards WHERE board_id = $1")
        .bind(board_id)
        .fetch_one(pool)
        .await?;
    let twice: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT op_id FROM board_events WHERE board_id = $1 \
         GROUP BY op_id HAVING count(*) > 1) d",
    )
    .bind(board_id)
    .fetch_one(pool)
    .await?;
    let old_epoch = *epochs
        .get(&pin)
        .context("the first op is not in applied_ops")?;
    let acked = ops.iter().filter(|o| o.acked_at.is_some()).count();
    let missing = ops.iter().filter(|o| !epochs.contains_key(&o.id)).count();
    let expected = ops.len() as i64 + 1;
    let ok = acked == ops.len()
        && missing == 0
        && applied == expected
        && cards == expected
        && twice == 0;

    // The first `ok` after the kill of an op the new owner committed.
    oks_after_kill.sort_by_key(|(at, _)| *at);
    let late_old = oks_after_kill
        .iter()
        .filter(|(_, i)| epochs.get(&ops[*i].id) == Some(&old_epoch))
        .count();
    let (first, new_epoch) = oks_after_kill
        .iter()
        .find_map(|(at, i)| {
            epochs
                .get(&ops[*i].id)
                .filter(|e| **e > old_epoch)
                .map(|e| (*at, *e))
        })
        .context("no op committed by a new owner")?;
    let failover_ms = first.duration_since(killed).as_secs_f64() * 1000.0;
    let line = format!(
        "kill -9 n1 -> first ok committed by the new owner ({}, epoch {old_epoch} -> {new_epoch}) \
         after {failover_ms:.0} ms; {} ops sent, {acked} acknowledged ({retries} resends, {late_old} \
         oks after the kill for ops n1 had committed); Postgres: applied_ops {applied} (expected \
         {expected} = ops + 1 first op), cards {cards}, ops with events written twice {twice}, \
         acknowledged but not applied {missing}: {}",
        new_owner.as_deref().unwrap_or("?"),
        ops.len(),
        if ok { "OK" } else { "FAILED" }
    );
    drop(cluster);
    Ok(Outcome {
        failover_ms,
        ops_sent: ops.len(),
        ops_acked: acked,
        resends: retries,
        applied_ops: applied,
        expected_ops: expected,
        acked_not_applied: missing,
        written_twice: twice,
        old_epoch,
        new_epoch,
        new_owner,
        ok,
        line,
    })
}

/// A random number (std's per-process random hash keys).
fn random() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}
