//! The Rust client (`clients/rust`) against the real server binary, through a TCP proxy the
//! test can cut: the outbox (an op whose `ok` was lost, and an op made while disconnected, are
//! each applied exactly once after the reconnection), resuming with `since` (missed events
//! replayed in order, none twice), and the example review bot doing its job.

#[path = "../common/mod.rs"]
mod common;

#[path = "../../clients/rust/examples/bot.rs"]
mod bot;

use boardroom_client::protocol::op::CommentAdd;
use boardroom_client::protocol::Codec;
use boardroom_client::protocol::{ErrorCode, EventFrame, Op, PrincipalKind, Topic};
use boardroom_client::{transport, AuthMode, Client, Error, Event, Events, Options};
use common::*;
use futures_util::{FutureExt, StreamExt};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use uuid::Uuid;

mod session;
mod sync;

// ------------------------------------------------------------------------------------------
// A proxy between the client and the server that can drop connections and answers.

pub(crate) struct Proxy {
    pub(crate) addr: SocketAddr,
    /// New connections are passed on (else accepted and dropped at once).
    pub(crate) up: Arc<AtomicBool>,
    /// Server-to-client bytes are passed on (else read and thrown away: lost answers).
    pub(crate) downstream: Arc<AtomicBool>,
    /// Bumped to cut every open connection.
    pub(crate) cut: watch::Sender<u64>,
    /// Bumped to freeze every open connection: both ends stay open, nothing gets through,
    /// as when a network drops a flow without a word. New connections are not affected.
    pub(crate) freeze: watch::Sender<u64>,
}

impl Proxy {
    pub(crate) async fn start(target: &str) -> Proxy {
        let target: SocketAddr = target
            .trim_start_matches("http://")
            .parse()
            .expect("server address");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let up = Arc::new(AtomicBool::new(true));
        let downstream = Arc::new(AtomicBool::new(true));
        let (cut, _) = watch::channel(0u64);
        let (freeze, _) = watch::channel(0u64);
        let (u, d, c, z) = (up.clone(), downstream.clone(), cut.clone(), freeze.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                if !u.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(target).await else {
                    continue;
                };
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::spawn(pump(cr, sw, None, c.subscribe(), z.subscribe()));
                tokio::spawn(pump(sr, cw, Some(d.clone()), c.subscribe(), z.subscribe()));
            }
        });
        Proxy {
            addr,
            up,
            downstream,
            cut,
            freeze,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection and refuses new ones until [`Proxy::restore`].
    pub(crate) fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|g| *g += 1);
    }

    pub(crate) fn restore(&self) {
        self.downstream.store(true, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }

    pub(crate) fn freeze(&self) {
        self.freeze.send_modify(|g| *g += 1);
    }

    /// Keeps connections open but loses everything the server sends.
    pub(crate) fn mute_downstream(&self) {
        self.downstream.store(false, Ordering::SeqCst);
    }
}

pub(crate) async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    pass: Option<Arc<AtomicBool>>,
    mut cut: watch::Receiver<u64>,
    mut freeze: watch::Receiver<u64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut frozen = false;
    loop {
        tokio::select! {
            _ = cut.changed() => return,
            _ = freeze.changed(), if !frozen => frozen = true,
            n = from.read(&mut buf) => {
                let n = match n {
                    // A frozen flow does not pass the end on either: `to` stays open.
                    Ok(0) | Err(_) if frozen => {
                        let _ = cut.changed().await;
                        return;
                    }
                    Ok(0) | Err(_) => return,
                    Ok(n) => n,
                };
                if !frozen && pass.as_ref().is_none_or(|p| p.load(Ordering::SeqCst))
                    && to.write_all(&buf[..n]).await.is_err()
                {
                    return;
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------------
// Helpers

/// Waits (at most 20 s) for an event matching `want`, returning it.
pub(crate) async fn wait_for<T>(
    events: &mut Events,
    what: &str,
    pick: impl Fn(Event) -> Option<T>,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, events.next()).await {
            Ok(Some(e)) => {
                if let Some(t) = pick(e) {
                    return t;
                }
            }
            Ok(None) => panic!("the event stream ended while waiting for {what}"),
            Err(_) => panic!("no {what} within 20 s"),
        }
    }
}

/// The next `Event::Event` (at most 20 s), skipping other session events.
pub(crate) async fn next_event(events: &mut Events, what: &str) -> EventFrame {
    wait_for(events, what, |e| match e {
        Event::Event(ev) => Some(ev),
        _ => None,
    })
    .await
}

/// Why the connection was lost, at the next `Event::Disconnected`.
pub(crate) async fn disconnected(events: &mut Events) -> String {
    wait_for(events, "a disconnection", |e| match e {
        Event::Disconnected(why) => Some(why),
        _ => None,
    })
    .await
}

/// Polls `GET /api/v1/boards/{board}` (at most 20 s) until `cond` holds; returns the snapshot.
pub(crate) async fn board_until(
    api: &Api,
    board: &str,
    what: &str,
    cond: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (s, snap) = api.get(&format!("/api/v1/boards/{board}")).await;
        assert_eq!(s, 200, "{snap}");
        if cond(&snap) {
            return snap;
        }
        assert!(Instant::now() < deadline, "{what} within 20 s: {snap}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(crate) fn card<'a>(snap: &'a Value, id: &str) -> &'a Value {
    snap["cards"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("card {id} not on the board: {snap}"))
}

pub(crate) fn comment_bodies(snap: &Value, card_id: &str) -> Vec<String> {
    card(snap, card_id)["comments"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["body"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn comment(card: Uuid, body: &str) -> Op {
    Op::CommentAdd(CommentAdd {
        card_id: card,
        body: body.into(),
        mentions: vec![],
    })
}

/// An org with a board and a card, its owner's access token, and the server.
pub(crate) struct Fixture {
    pub(crate) server: TestServer,
    pub(crate) org: Org,
    pub(crate) board: Value,
    pub(crate) board_id: Uuid,
    pub(crate) card_id: Uuid,
    pub(crate) token: String,
}

pub(crate) async fn fixture() -> Fixture {
    fixture_with(&[]).await
}

pub(crate) async fn fixture_with(env: &[(&str, &str)]) -> Fixture {
    let (server, org) = server_with_org_env("Client Co", env).await;
    let board = new_board(&org, json!({"name": "Work"})).await;
    let card_id: Uuid = create_card(&org.owner, &board, "Paint the fence")
        .await
        .parse()
        .expect("card id");
    let board_id: Uuid = board["id"].as_str().expect("id").parse().expect("uuid");
    let token = org.owner.token.clone().expect("owner token");
    Fixture {
        server,
        org,
        board,
        board_id,
        card_id,
        token,
    }
}

/// A new API key with the member role: `{id, key, …}`.
pub(crate) async fn member_key(f: &Fixture, name: &str) -> Value {
    f.org
        .create("api-keys", json!({"name": name, "role": "member"}))
        .await
}

pub(crate) fn fast_reconnect(o: Options) -> Options {
    o.reconnect(Duration::from_millis(50), Duration::from_millis(300))
}

/// A client through `proxy` (so the test can break the connection) that reconnects fast,
/// subscribed to the fixture's board.
pub(crate) async fn through_proxy(f: &Fixture, proxy: &Proxy) -> (Client, Events) {
    let (client, events) = Client::connect(fast_reconnect(Options::new(proxy.url(), &f.token)))
        .await
        .expect("connect");
    let topic = Topic::Board(f.board_id);
    client.subscribe(topic).await.expect("subscribe");
    (client, events)
}
