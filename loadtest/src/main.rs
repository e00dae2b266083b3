//! `boardroom-loadtest`: a first end-to-end measurement of a running Boardroom server over real
//! WebSockets. Two scenarios for now (the load-test issue adds the rest, peers and charts):
//!
//! - `fanout`: S subscribers on one board, one publisher sending `card.update` ops at R ops/s;
//!   latency from op sent to event received at every subscriber (HDR histogram).
//! - `ops`: W writers applying ops as fast as the server acknowledges them (a window of
//!   unacknowledged ops each); committed ops/s and `ok` latency.

use anyhow::{bail, Context, Result};
use boardroom_protocol::{ClientFrame, Codec, Hello, Ref, ServerFrame, Subscribe, Topic};
use clap::{Parser, Subcommand};
use dashmap::DashMap;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

#[derive(Parser)]
#[command(
    name = "boardroom-loadtest",
    about = "Load generator for a running Boardroom server"
)]
struct Cli {
    /// Base URL of the server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// A user who may edit the board (the demo admin by default).
    #[arg(long, default_value = "admin@demo.boardroom")]
    email: String,
    #[arg(long, default_value = "boardroom-demo")]
    password: String,
    /// Encoding for every connection.
    #[arg(long, default_value = "json")]
    encoding: String,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    Fanout {
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        /// Ops per second sent by the publisher.
        #[arg(long, default_value_t = 100)]
        rate: u64,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    Ops {
        #[arg(long, default_value_t = 8)]
        writers: usize,
        /// Unacknowledged ops each writer keeps in flight.
        #[arg(long, default_value_t = 16)]
        window: usize,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// The scenarios of the load-test issue (fanout-ext, compare, connect, report), in the
    /// library (`src/lib.rs`, `src/scenarios/`).
    #[command(flatten)]
    More(boardroom_loadtest::Command),
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Target {
    url: String,
    token: String,
    codec: Codec,
    board: Uuid,
    card: Uuid,
}

async fn setup(cli: &Cli) -> Result<Target> {
    let http = reqwest::Client::new();
    let login: Value = http
        .post(format!("{}/api/v1/auth/login", cli.url))
        .json(&json!({"email": cli.email, "password": cli.password}))
        .send()
        .await?
        .error_for_status()
        .context("login")?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("no access token")?
        .to_string();
    let me: Value = http
        .get(format!("{}/api/v1/me", cli.url))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    let org = me["memberships"][0]["org_id"]
        .as_str()
        .context("no membership")?
        .to_string();
    let board: Value = http
        .post(format!("{}/api/v1/orgs/{org}/boards", cli.url))
        .bearer_auth(&token)
        .json(&json!({"name": format!("loadtest {}", Uuid::now_v7())}))
        .send()
        .await?
        .error_for_status()
        .context("create board")?
        .json()
        .await?;
    let board_id: Uuid = board["id"].as_str().context("board id")?.parse()?;
    let col = board["columns"][0]["id"].as_str().context("column")?;
    let created: Value = http
        .post(format!("{}/api/v1/boards/{board_id}/ops", cli.url))
        .bearer_auth(&token)
        .json(&json!({"op_id": Uuid::now_v7(), "kind": "card.create", "data": {"column_id": col, "title": "load"}}))
        .send()
        .await?
        .error_for_status()
        .context("create card")?
        .json()
        .await?;
    let codec = Codec::from_query(&cli.encoding).context("--encoding is json or msgpack")?;
    Ok(Target {
        url: cli.url.replacen("http://", "ws://", 1),
        token,
        codec,
        board: board_id,
        card: created["id"].as_str().context("card id")?.parse()?,
    })
}

async fn connect(t: &Target, subscribe: bool) -> Result<Ws> {
    let mut req = format!("{}/ws", t.url).into_client_request()?;
    req.headers_mut()
        .insert("Sec-WebSocket-Protocol", t.codec.subprotocol().parse()?);
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await?;
    send(
        &mut ws,
        t.codec,
        &ClientFrame::Hello(Hello {
            r#ref: None,
            token: t.token.clone(),
            client: Some("loadtest".into()),
        }),
    )
    .await?;
    expect(&mut ws, t.codec, |f| matches!(f, ServerFrame::Welcome(_))).await?;
    if subscribe {
        send(
            &mut ws,
            t.codec,
            &ClientFrame::Subscribe(Subscribe {
                r#ref: Some(Ref::Int(1)),
                topic: Topic::Board(t.board),
                since: None,
            }),
        )
        .await?;
        expect(&mut ws, t.codec, |f| matches!(f, ServerFrame::Ok(_))).await?;
    }
    Ok(ws)
}

async fn send(ws: &mut Ws, codec: Codec, f: &ClientFrame) -> Result<()> {
    let bytes = codec.encode_client(f)?;
    let msg = if codec.is_binary() {
        Message::Binary(bytes.into())
    } else {
        Message::Text(String::from_utf8(bytes)?.into())
    };
    ws.send(msg).await?;
    Ok(())
}

async fn recv(ws: &mut Ws, codec: Codec) -> Result<Option<ServerFrame>> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => return Ok(Some(codec.decode_server(t.as_bytes())?)),
            Some(Ok(Message::Binary(b))) => return Ok(Some(codec.decode_server(&b)?)),
            Some(Ok(Message::Close(c))) => bail!("closed by the server: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => return Ok(None),
        }
    }
}

async fn expect(
    ws: &mut Ws,
    codec: Codec,
    pred: impl Fn(&ServerFrame) -> bool,
) -> Result<ServerFrame> {
    loop {
        match recv(ws, codec).await? {
            Some(f) if pred(&f) => return Ok(f),
            Some(ServerFrame::Error(e)) => bail!("error from the server: {e:?}"),
            Some(_) => continue,
            None => bail!("connection ended"),
        }
    }
}

fn update(t: &Target, i: u64, op_id: Uuid) -> ClientFrame {
    serde_json::from_value(
        json!({"type": "op", "ref": i, "topic": format!("board:{}", t.board), "op_id": op_id,
        "kind": "card.update", "data": {"card_id": t.card, "title": format!("t{i}")}}),
    )
    .expect("op frame")
}

fn report(name: &str, h: &Histogram<u64>) {
    let ms = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "{name}: n={} p50={:.2}ms p90={:.2}ms p99={:.2}ms p99.9={:.2}ms max={:.2}ms",
        h.len(),
        ms(0.5),
        ms(0.9),
        ms(0.99),
        ms(0.999),
        h.max() as f64 / 1000.0
    );
}

async fn fanout(t: Arc<Target>, subscribers: usize, rate: u64, seconds: u64) -> Result<()> {
    let sent: Arc<DashMap<Uuid, Instant>> = Arc::new(DashMap::new());
    let received = Arc::new(AtomicU64::new(0));
    let mut subs = Vec::new();
    for _ in 0..subscribers {
        subs.push(connect(&t, true).await?);
    }
    println!("{subscribers} subscribers connected");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut tasks = Vec::new();
    for mut ws in subs {
        let (t, sent, received, mut stop) =
            (t.clone(), sent.clone(), received.clone(), stop_rx.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            loop {
                tokio::select! {
                    f = recv(&mut ws, t.codec) => match f {
                        Ok(Some(ServerFrame::Event(e))) => {
                            if let Some(at) = sent.get(&e.op_id) {
                                let _ = local.record(at.elapsed().as_micros() as u64);
                                received.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Ok(Some(_)) => {}
                        _ => break,
                    },
                    _ = stop.changed() => break,
                }
            }
            local
        }));
    }
    let publisher = connect(&t, false).await?;
    let total = rate * seconds;
    let gap = Duration::from_secs_f64(1.0 / rate.max(1) as f64);
    let started = Instant::now();
    let (mut tx, mut rx) = publisher.split();
    let reader = tokio::spawn(async move { while let Some(Ok(_)) = rx.next().await {} });
    for i in 0..total {
        let op_id = Uuid::now_v7();
        sent.insert(op_id, Instant::now());
        let bytes = t.codec.encode_client(&update(&t, i, op_id))?;
        let msg = if t.codec.is_binary() {
            Message::Binary(bytes.into())
        } else {
            Message::Text(String::from_utf8(bytes)?.into())
        };
        tx.send(msg).await?;
        let next = started + gap.mul_f64((i + 1) as f64);
        tokio::time::sleep_until(next.into()).await;
    }
    // Let the last events arrive.
    let expected = total * subscribers as u64;
    let wait_until = Instant::now() + Duration::from_secs(10);
    while received.load(Ordering::Relaxed) < expected && Instant::now() < wait_until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(true);
    let mut hist = Histogram::<u64>::new(3)?;
    for task in tasks {
        hist.add(&task.await?)?;
    }
    reader.abort();
    let got = received.load(Ordering::Relaxed);
    println!(
        "fanout: {subscribers} subscribers, {total} ops at {rate}/s: {got} of {expected} deliveries ({:.0}/s)",
        got as f64 / elapsed
    );
    report("op sent -> event received", &hist);
    Ok(())
}

async fn ops(t: Arc<Target>, writers: usize, window: usize, seconds: u64) -> Result<()> {
    let acked = Arc::new(AtomicU64::new(0));
    let hist = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..writers {
        let mut ws = connect(&t, false).await?;
        let (t, acked) = (t.clone(), acked.clone());
        tasks.push(tokio::spawn(async move {
            let mut local = Histogram::<u64>::new(3).expect("histogram");
            let mut inflight: std::collections::HashMap<i64, Instant> = Default::default();
            let mut i: i64 = 0;
            loop {
                while inflight.len() < window && Instant::now() < deadline {
                    i += 1;
                    inflight.insert(i, Instant::now());
                    if send(&mut ws, t.codec, &update(&t, i as u64, Uuid::now_v7()))
                        .await
                        .is_err()
                    {
                        return local;
                    }
                }
                if inflight.is_empty() {
                    return local;
                }
                match recv(&mut ws, t.codec).await {
                    Ok(Some(ServerFrame::Ok(ok))) => {
                        if let Some(Ref::Int(r)) = ok.r#ref {
                            if let Some(at) = inflight.remove(&r) {
                                let _ = local.record(at.elapsed().as_micros() as u64);
                                acked.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    }
                    Ok(Some(ServerFrame::Error(e))) => {
                        if let Some(Ref::Int(r)) = e.r#ref {
                            inflight.remove(&r);
                        }
                        eprintln!("op refused: {:?} {}", e.code, e.message);
                    }
                    Ok(Some(_)) => {}
                    _ => return local,
                }
            }
        }));
    }
    for task in tasks {
        let local = task.await?;
        if let Ok(mut h) = hist.lock() {
            h.add(&local)?;
        }
    }
    let n = acked.load(Ordering::Relaxed);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "ops: {writers} writers x window {window}: {n} acknowledged in {secs:.1}s = {:.0} ops/s",
        n as f64 / secs
    );
    if let Ok(h) = hist.lock() {
        report("ok latency", &h);
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if let Scenario::More(cmd) = cli.scenario {
        let login = boardroom_loadtest::Login {
            url: cli.url,
            email: cli.email,
            password: cli.password,
            encoding: cli.encoding,
        };
        return boardroom_loadtest::run(cmd, login).await;
    }
    let t = Arc::new(setup(&cli).await?);
    match cli.scenario {
        Scenario::Fanout {
            subscribers,
            rate,
            seconds,
        } => fanout(t, subscribers, rate, seconds).await,
        Scenario::Ops {
            writers,
            window,
            seconds,
        } => ops(t, writers, window, seconds).await,
        Scenario::More(_) => unreachable!("handled above"),
    }
}
