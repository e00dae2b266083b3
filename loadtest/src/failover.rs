//! `failover`: how long a board is unwritable when its owner dies, and whether any
//! acknowledged op is lost or applied twice.
//!
//! Each run starts three nodes (n1..n3, default `[cluster]` settings, a fresh key prefix),
//! makes n1 the owner of a new board, connects a writer to n2 that sends a `card.create` every
//! `--interval-ms` (an op that is refused is sent again with the same `op_id`), kills n1 with
//! SIGKILL, and measures the time from the kill to the first `ok` of an op committed by the
//! new owner (its `applied_ops.epoch` is above the old owner's). Then it checks in Postgres
//! that every acknowledged op is applied exactly once, and stops n2 and n3.

use crate::{hello, lease_holder, message};
use anyhow::{bail, ensure, Context, Result};
use boardroom_protocol::{ClientFrame, Codec, ErrorCode, Ref, ServerFrame};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use uuid::Uuid;

#[derive(clap::Args)]
pub struct Args {
    /// The server binary the nodes run.
    #[arg(long, default_value = "target/release/boardroom")]
    server_bin: PathBuf,
    /// Postgres database the nodes share (it must exist; migrations are applied).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/boardroom")]
    database_url: String,
    #[arg(long, default_value = "redis://127.0.0.1:6379")]
    redis_url: String,
    /// How many times to kill an owner (each run starts three fresh nodes).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Node i listens on 127.0.0.1:<base-port + i>.
    #[arg(long, default_value_t = 8180)]
    base_port: u16,
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
    /// Folder for the nodes' logs.
    #[arg(long, default_value = "failover-logs")]
    logs: PathBuf,
}

struct Node {
    id: String,
    base: String,
    child: Child,
}

impl Node {
    /// SIGTERM, then SIGKILL after 10 s.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Cluster {
    nodes: Vec<Option<Node>>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for n in self.nodes.iter_mut().filter_map(Option::take) {
            n.stop();
        }
    }
}

fn env(args: &Args, secret: &str, prefix: &str) -> Vec<(&'static str, String)> {
    vec![
        ("BOARDROOM_DATABASE_URL", args.database_url.clone()),
        ("BOARDROOM_BROKER", "redis".into()),
        ("BOARDROOM_REDIS_URL", args.redis_url.clone()),
        ("BOARDROOM_JWT_SECRET", secret.into()),
        ("BOARDROOM_CLUSTER__KEY_PREFIX", prefix.into()),
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

async fn start(args: &Args, run: usize, secret: &str, prefix: &str) -> Result<Cluster> {
    std::fs::create_dir_all(&args.logs)?;
    let mut cluster = Cluster { nodes: Vec::new() };
    for i in 1..=3u16 {
        let id = format!("n{i}");
        let port = args.base_port + i;
        let log = std::fs::File::create(args.logs.join(format!("run{run}-{id}.log")))?;
        let child = Command::new(&args.server_bin)
            .arg("serve")
            .envs(env(args, secret, prefix))
            .env("BOARDROOM_NODE_ID", &id)
            .env("BOARDROOM_LISTEN", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", args.server_bin.display()))?;
        cluster.nodes.push(Some(Node {
            id,
            base: format!("http://127.0.0.1:{port}"),
            child,
        }));
    }
    let http = reqwest::Client::new();
    for node in cluster.nodes.iter_mut().flatten() {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = node.child.try_wait() {
                bail!(
                    "{} exited at start ({status}); see {}",
                    node.id,
                    args.logs.display()
                );
            }
            let ready = http.get(format!("{}/readyz", node.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            ensure!(
                Instant::now() < deadline,
                "{} not ready after 30 s",
                node.id
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(cluster)
}

/// One op of the writer.
struct Op {
    id: Uuid,
    first_sent: Instant,
    /// Refused: send again at this time.
    retry_at: Option<Instant>,
    acked_at: Option<Instant>,
}

struct Outcome {
    failover_ms: f64,
    line: String,
    ok: bool,
}

pub async fn run(args: &Args) -> Result<()> {
    ensure!(
        args.server_bin.exists(),
        "no server binary at {} (--server-bin)",
        args.server_bin.display()
    );
    // One organization for all runs.
    let email = format!("failover-{}@bench.test", Uuid::now_v7().simple());
    let password = "failover-bench-1";
    let out = Command::new(&args.server_bin)
        .args(["create-org", "--name", "Failover bench"])
        .args(["--owner-email", &email, "--owner-password", password])
        .env("BOARDROOM_DATABASE_URL", &args.database_url)
        .env("BOARDROOM_JWT_SECRET", Uuid::now_v7().to_string())
        .output()?;
    ensure!(
        out.status.success(),
        "create-org failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(2)
        .connect(&args.database_url)
        .await?;
    let mut outcomes = Vec::new();
    for run in 1..=args.runs {
        let o = one(args, run, &email, password, &pool).await?;
        println!("run {run}: {}", o.line);
        outcomes.push(o);
    }
    let mut ms: Vec<f64> = outcomes.iter().map(|o| o.failover_ms).collect();
    ms.sort_by(f64::total_cmp);
    let all: Vec<String> = outcomes
        .iter()
        .map(|o| format!("{:.0}", o.failover_ms))
        .collect();
    println!(
        "failover (kill -9 of the owner -> first ok committed by the new owner), {} runs: {} ms; median {:.0} ms",
        ms.len(),
        all.join(", "),
        ms[ms.len() / 2]
    );
    ensure!(
        outcomes.iter().all(|o| o.ok),
        "an exactly-once check failed (see above)"
    );
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
    let prefix = format!("brf-{}:", &Uuid::now_v7().simple().to_string()[20..]);
    // Throwaway nodes: a v7 uuid carries 74 random bits.
    let secret = format!("{}{}", Uuid::now_v7().simple(), Uuid::now_v7().simple());
    let mut cluster = start(args, run, &secret, &prefix).await?;
    let base = |i: usize| cluster.nodes[i].as_ref().expect("running").base.clone();
    let (n1, n2) = (base(0), base(1));

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
    let owner = lease_holder(&args.redis_url, &prefix, board_id).await?;
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
            match recv_split(&mut rx, codec).await {
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
                    let node = cluster.nodes[0].take().expect("n1 running");
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
    let new_owner = lease_holder(&args.redis_url, &prefix, board_id).await?;

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
        line,
        ok,
    })
}

/// A random number (std's per-process random hash keys).
fn random() -> u64 {
    use std::hash::BuildHasher;
    std::collections::hash_map::RandomState::new().hash_one(Instant::now())
}

async fn recv_split(
    rx: &mut futures_util::stream::SplitStream<crate::Ws>,
    codec: Codec,
) -> Result<Option<ServerFrame>> {
    use tokio_tungstenite::tungstenite::Message;
    loop {
        match rx.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Some(codec.decode_server(t.as_bytes())?)),
            Some(Ok(Message::Binary(b))) => return Ok(Some(codec.decode_server(&b)?)),
            Some(Ok(Message::Close(c))) => bail!("closed by the server: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(None),
        }
    }
}
