//! The Rust client (`clients/rust`) against the real server binary, through a TCP proxy the
//! test can cut: the outbox (an op whose `ok` was lost, and an op made while disconnected, are
//! each applied exactly once after the reconnection), resuming with `since` (missed events
//! replayed in order, none twice), and the example review bot doing its job.

mod common;

#[path = "../clients/rust/examples/bot.rs"]
mod bot;

use boardroom_client::protocol::event::EventBody;
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

// ------------------------------------------------------------------------------------------
// A proxy between the client and the server that can drop connections and answers.

struct Proxy {
    addr: SocketAddr,
    /// New connections are passed on (else accepted and dropped at once).
    up: Arc<AtomicBool>,
    /// Server-to-client bytes are passed on (else read and thrown away: lost answers).
    downstream: Arc<AtomicBool>,
    /// Bumped to cut every open connection.
    cut: watch::Sender<u64>,
    /// Bumped to freeze every open connection: both ends stay open, nothing gets through,
    /// as when a network drops a flow without a word. New connections are not affected.
    freeze: watch::Sender<u64>,
}

impl Proxy {
    async fn start(target: &str) -> Proxy {
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

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every connection and refuses new ones until [`Proxy::restore`].
    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|g| *g += 1);
    }

    fn restore(&self) {
        self.downstream.store(true, Ordering::SeqCst);
        self.up.store(true, Ordering::SeqCst);
    }

    fn freeze(&self) {
        self.freeze.send_modify(|g| *g += 1);
    }

    /// Keeps connections open but loses everything the server sends.
    fn mute_downstream(&self) {
        self.downstream.store(false, Ordering::SeqCst);
    }
}

async fn pump(
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
async fn wait_for<T>(events: &mut Events, what: &str, pick: impl Fn(Event) -> Option<T>) -> T {
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
async fn next_event(events: &mut Events, what: &str) -> EventFrame {
    wait_for(events, what, |e| match e {
        Event::Event(ev) => Some(ev),
        _ => None,
    })
    .await
}

/// Why the connection was lost, at the next `Event::Disconnected`.
async fn disconnected(events: &mut Events) -> String {
    wait_for(events, "a disconnection", |e| match e {
        Event::Disconnected(why) => Some(why),
        _ => None,
    })
    .await
}

/// Polls `GET /api/v1/boards/{board}` (at most 20 s) until `cond` holds; returns the snapshot.
async fn board_until(api: &Api, board: &str, what: &str, cond: impl Fn(&Value) -> bool) -> Value {
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

fn card<'a>(snap: &'a Value, id: &str) -> &'a Value {
    snap["cards"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("card {id} not on the board: {snap}"))
}

fn comment_bodies(snap: &Value, card_id: &str) -> Vec<String> {
    card(snap, card_id)["comments"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["body"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn comment(card: Uuid, body: &str) -> Op {
    Op::CommentAdd(CommentAdd {
        card_id: card,
        body: body.into(),
        mentions: vec![],
    })
}

/// An org with a board and a card, its owner's access token, and the server.
struct Fixture {
    server: TestServer,
    org: Org,
    board: Value,
    board_id: Uuid,
    card_id: Uuid,
    token: String,
}

async fn fixture() -> Fixture {
    fixture_with(&[]).await
}

async fn fixture_with(env: &[(&str, &str)]) -> Fixture {
    let server = TestServer::start(&fresh_pg_url().await, env).await;
    let org = new_org(&server, "Client Co").await;
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
async fn member_key(f: &Fixture, name: &str) -> Value {
    f.org
        .create("api-keys", json!({"name": name, "role": "member"}))
        .await
}

fn fast_reconnect(o: Options) -> Options {
    o.reconnect(Duration::from_millis(50), Duration::from_millis(300))
}

/// A client through `proxy` (so the test can break the connection) that reconnects fast,
/// subscribed to the fixture's board.
async fn through_proxy(f: &Fixture, proxy: &Proxy) -> (Client, Events) {
    let (client, events) = Client::connect(fast_reconnect(Options::new(proxy.url(), &f.token)))
        .await
        .expect("connect");
    let topic = Topic::Board(f.board_id);
    client.subscribe(topic).await.expect("subscribe");
    (client, events)
}

// ------------------------------------------------------------------------------------------

/// The `ok` of an op is lost with the connection: the client resends the op with the same
/// `op_id` after reconnecting, gets the first result back, and the board holds it once.
/// Then an op made while the connection is down waits in the outbox and is applied once.
#[tokio::test]
async fn outbox_applies_each_op_once_across_reconnections() {
    let f = fixture().await;
    let proxy = Proxy::start(&f.server.base).await;
    let (client, mut events) = through_proxy(&f, &proxy).await;
    let topic = Topic::Board(f.board_id);
    let board = f.board_id.to_string();
    let card_id = f.card_id.to_string();

    // 1. The server applies the op, but its answer never reaches the client.
    proxy.mute_downstream();
    let c = client.clone();
    let first = tokio::spawn(async move { c.op(topic, comment(f.card_id, "lost ack")).await });
    board_until(&f.org.owner, &board, "the op applied", |s| {
        comment_bodies(s, &card_id).contains(&"lost ack".to_string())
    })
    .await;
    assert!(!first.is_finished(), "the client cannot have seen the ok");
    assert_eq!(client.outbox_len().await.expect("outbox"), 1);
    proxy.cut();
    disconnected(&mut events).await;
    proxy.restore();
    let ack = tokio::time::timeout(Duration::from_secs(20), first)
        .await
        .expect("the resent op is answered within 20 s")
        .expect("task")
        .expect("the resent op succeeds");
    assert_eq!(client.outbox_len().await.expect("outbox"), 0);

    // 2. An op made while the connection is down.
    proxy.cut();
    disconnected(&mut events).await;
    let c = client.clone();
    let second = tokio::spawn(async move { c.op(topic, comment(f.card_id, "offline")).await });
    while client.outbox_len().await.expect("outbox") == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let snap = board_until(&f.org.owner, &board, "the board", |_| true).await;
    assert!(
        !comment_bodies(&snap, &card_id).contains(&"offline".to_string()),
        "the op cannot have reached the server yet"
    );
    proxy.restore();
    let ack2 = tokio::time::timeout(Duration::from_secs(20), second)
        .await
        .expect("the queued op is answered within 20 s")
        .expect("task")
        .expect("the queued op succeeds");
    assert!(ack2.seq > ack.seq);

    // Each op is on the board once, and in the event log once, at the seq its ack named.
    let snap = board_until(&f.org.owner, &board, "both comments", |s| {
        comment_bodies(s, &card_id).len() >= 2
    })
    .await;
    assert_eq!(
        comment_bodies(&snap, &card_id),
        ["lost ack", "offline"],
        "each op applied exactly once"
    );
    let (s, log) = f
        .org
        .owner
        .get(&format!(
            "/api/v1/boards/{board}/events?after_seq=0&limit=1000"
        ))
        .await;
    assert_eq!(s, 200, "{log}");
    let comments: Vec<(u64, String)> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "comment.added")
        .map(|e| {
            (
                e["seq"].as_u64().expect("seq"),
                e["op_id"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(comments.len(), 2, "two comment events: {comments:?}");
    assert_eq!(comments[0].0, ack.seq);
    assert_eq!(comments[0].1, ack.op_id.to_string());
    assert_eq!(comments[1].0, ack2.seq);
    client.close().await;
}

/// Events made while the client is cut off arrive after the reconnection, through a
/// subscription resumed with `since` (`recovered: true`, no snapshot), in order, none twice.
#[tokio::test]
async fn resume_with_since_replays_missed_events() {
    let f = fixture().await;
    let proxy = Proxy::start(&f.server.base).await;
    let opts = fast_reconnect(Options::new(proxy.url(), &f.token))
        .codec(boardroom_client::protocol::Codec::MsgPack);
    let (client, mut events) = Client::connect(opts).await.expect("connect");
    let topic = Topic::Board(f.board_id);
    let first = client.subscribe(topic).await.expect("subscribe");
    assert!(first.snapshot.is_some());
    let start_seq = first.seq.expect("seq");

    // One event seen live.
    client
        .op(topic, comment(f.card_id, "live"))
        .await
        .expect("op");
    let live = next_event(&mut events, "the live event").await;
    assert_eq!(live.seq, start_seq + 1);

    proxy.cut();
    disconnected(&mut events).await;
    for i in 0..3 {
        let data = json!({"card_id": f.card_id, "body": format!("missed {i}")});
        op_ok(&f.org.owner, f.board_id, "comment.add", data).await;
    }
    proxy.restore();

    let reply = wait_for(&mut events, "the resubscription", |e| match e {
        Event::Subscribed { reply, .. } => Some(reply),
        _ => None,
    })
    .await;
    assert_eq!(
        reply.recovered,
        Some(true),
        "resumed with since, the server replays instead of sending a snapshot: {reply:?}"
    );
    assert!(reply.snapshot.is_none());
    let mut got = Vec::new();
    while got.len() < 3 {
        let ev = next_event(&mut events, "a replayed event").await;
        let EventBody::CommentAdded(c) = &ev.body else {
            panic!("unexpected event {ev:?}")
        };
        got.push((ev.seq, c.comment.body.clone()));
    }
    assert_eq!(
        got,
        vec![
            (live.seq + 1, "missed 0".to_string()),
            (live.seq + 2, "missed 1".to_string()),
            (live.seq + 3, "missed 2".to_string()),
        ]
    );
    // Nothing is delivered twice: the next event is the next op's.
    client
        .op(topic, comment(f.card_id, "after"))
        .await
        .expect("op");
    let next = next_event(&mut events, "the next event").await;
    assert_eq!(next.seq, live.seq + 4);
    client.close().await;
}

/// The example bot, with an API key: ticking the last open checklist item moves the card to a
/// new "Needs review" column and comments, once; ticking the first one does nothing.
#[tokio::test]
async fn review_bot_moves_completed_cards_and_comments() {
    let f = fixture().await;
    let key = member_key(&f, "review bot").await;
    let key_id = key["id"].as_str().expect("key id").to_string();
    let mut items = Vec::new();
    for title in ["sand", "paint"] {
        let data = json!({"card_id": f.card_id, "title": title});
        let body = op_ok(&f.org.owner, f.board_id, "checklist.add", data).await;
        items.push(body["id"].as_str().expect("item id").to_string());
    }
    assert!(
        f.board["columns"]
            .as_array()
            .expect("columns")
            .iter()
            .all(|c| c["name"] != "Needs review"),
        "the bot is to make the column"
    );
    // A card whose checklist was complete before the bot started: not a change it saw.
    let done_before: Uuid = create_card(&f.org.owner, &f.board, "Done before")
        .await
        .parse()
        .expect("card id");
    let data = json!({"card_id": done_before, "title": "all of it"});
    let item = op_ok(&f.org.owner, f.board_id, "checklist.add", data).await;
    let data = json!({"card_id": done_before, "item_id": item["id"], "done": true});
    op_ok(&f.org.owner, f.board_id, "checklist.toggle", data).await;

    // A second card, completed right after the first: the bot must not make a second column
    // for it (its toggle may well arrive before the first column's `column.created`).
    let second: Uuid = create_card(&f.org.owner, &f.board, "Second")
        .await
        .parse()
        .expect("card id");
    let data = json!({"card_id": second, "title": "only step"});
    let second_item = op_ok(&f.org.owner, f.board_id, "checklist.add", data).await;

    // Connected and subscribed once `start` returns: every toggle below reaches it.
    let bot = bot::start(bot::BotConfig {
        url: f.server.base.clone(),
        api_key: key["key"].as_str().expect("key").to_string(),
        board: f.board_id,
        column: "Needs review".into(),
    })
    .await
    .expect("the bot starts");
    let bot = tokio::spawn(bot.run());

    let card_id = f.card_id.to_string();
    let toggle = |card: Uuid, item: &Value| {
        let data = json!({"card_id": card, "item_id": item, "done": true});
        op_ok(&f.org.owner, f.board_id, "checklist.toggle", data)
    };
    let first_toggle = toggle(f.card_id, &json!(items[0])).await;
    // Both completions at once: both events reach the bot before anything it does.
    let (last_toggle, _) = tokio::join!(
        toggle(f.card_id, &json!(items[1])),
        toggle(second, &second_item["id"])
    );
    let toggled = [&first_toggle, &last_toggle].map(|r| r["seq"].as_u64().expect("seq"));
    let snap = board_until(
        &f.org.owner,
        &f.board_id.to_string(),
        "the bot's comments",
        |s| {
            !comment_bodies(s, &card_id).is_empty()
                && !comment_bodies(s, &second.to_string()).is_empty()
        },
    )
    .await;
    let reviews = snap["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .filter(|c| c["name"] == "Needs review")
        .count();
    assert_eq!(reviews, 1, "one review column: {snap}");
    let review = snap["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["name"] == "Needs review")
        .unwrap_or_else(|| panic!("no Needs review column: {snap}"));
    let held = card(&snap, &card_id);
    assert_eq!(
        held["column_id"], review["id"],
        "the card is in review: {snap}"
    );
    let comments = held["comments"].as_array().expect("comments");
    assert_eq!(
        comments.len(),
        1,
        "one comment, for the completion only: {comments:?}"
    );
    assert_eq!(
        comments[0]["author_id"],
        key_id.as_str(),
        "written by the bot's key"
    );
    // It acted on the second toggle, not the first: its move comes after both.
    let (s, log) = f
        .org
        .owner
        .get(&format!(
            "/api/v1/boards/{}/events?after_seq=0&limit=1000",
            f.board_id
        ))
        .await;
    assert_eq!(s, 200, "{log}");
    let moves: Vec<(u64, &str)> = log["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"] == "card.moved")
        .map(|e| {
            let card = e["data"]["card"]["id"].as_str().expect("card id");
            (e["seq"].as_u64().expect("seq"), card)
        })
        .collect();
    assert_eq!(moves.len(), 2, "one move per card: {log}");
    let first_move = moves
        .iter()
        .find(|(_, c)| *c == card_id)
        .expect("the first card moved");
    assert!(
        first_move.0 > toggled[1],
        "moved after its last toggle: {log}"
    );
    assert_eq!(card(&snap, &second.to_string())["column_id"], review["id"]);
    // The card that was complete before the bot started stays where it was, uncommented.
    let before = card(&snap, &done_before.to_string());
    assert_eq!(before["column_id"], f.board["columns"][0]["id"]);
    assert_eq!(before["comments"], json!([]));
    assert!(!bot.is_finished(), "the bot keeps running");
    bot.abort();
}

/// A token in the upgrade's `Authorization: Bearer` header works like one in `hello`; a wrong
/// token is a typed, fatal refusal from `connect` (no retry loop); revoking the API key ends
/// the session (close 4003): `Event::Stopped`, and later calls fail instead of waiting.
#[tokio::test]
async fn bearer_auth_refusal_and_revocation() {
    let f = fixture().await;
    let key = member_key(&f, "bearer bot").await;
    let secret = key["key"].as_str().expect("key");

    let refused = Client::connect(Options::new(&f.server.base, "br_not_a_real_key"))
        .await
        .err()
        .expect("a wrong key is refused");
    assert_eq!(refused.code(), Some(ErrorCode::Unauthorized), "{refused}");
    assert!(refused.is_fatal());

    let opts = Options::new(&f.server.base, secret).auth(AuthMode::Bearer);
    let (client, mut events) = Client::connect(opts).await.expect("bearer connect");
    assert_eq!(client.welcome().principal.kind, PrincipalKind::ApiKey);
    assert_eq!(client.welcome().principal.id.to_string(), key["id"]);
    let topic = Topic::Board(f.board_id);
    client.subscribe(topic).await.expect("subscribe");

    let (s, body) = f
        .org
        .owner
        .delete(&format!(
            "/api/v1/orgs/{}/api-keys/{}",
            f.org.id,
            key["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(s, 204, "{body}");
    let why = wait_for(&mut events, "the session's end", |e| match e {
        Event::Stopped(why) => Some(why),
        _ => None,
    })
    .await;
    assert!(why.contains("4003"), "closed as revoked: {why}");
    let err = client
        .op(topic, comment(f.card_id, "too late"))
        .await
        .expect_err("no ops after the end");
    assert!(matches!(err, Error::Stopped), "{err:?}");
}

/// A session with nothing to say stays up: the client answers the server's pings (the server
/// closes a connection silent for two heartbeat intervals, here 2 × 150 ms).
#[tokio::test]
async fn idle_session_survives_server_heartbeats() {
    let f = fixture_with(&[("BOARDROOM_REALTIME__HEARTBEAT_MS", "150")]).await;
    let (client, mut events) = Client::connect(Options::new(&f.server.base, &f.token))
        .await
        .expect("connect");
    assert_eq!(
        client.welcome().heartbeat_ms,
        150,
        "the setting took effect"
    );
    let topic = Topic::Board(f.board_id);
    client.subscribe(topic).await.expect("subscribe");
    // Beside it, a bare socket that reads nothing (so answers no ping) for the same time.
    let (mut silent, _) = transport::connect(
        &f.server.base,
        &f.token,
        Codec::Json,
        AuthMode::Hello,
        "silent",
        Default::default(),
    )
    .await
    .expect("silent socket");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let end = loop {
        match transport::recv(&mut silent, Codec::Json).await {
            Ok(_) => continue,
            Err(e) => break e,
        }
    };
    assert!(
        matches!(
            end,
            Error::Closed {
                code: Some(1001),
                ..
            }
        ),
        "the server drops a socket that answers no ping: {end:?}"
    );
    client
        .op(topic, comment(f.card_id, "still here"))
        .await
        .expect("op");
    let mut connects = 0;
    while let Some(Some(e)) = events.next().now_or_never() {
        match e {
            Event::Disconnected(why) => panic!("the idle session was dropped: {why}"),
            Event::Connected(_) => connects += 1,
            _ => {}
        }
    }
    assert_eq!(connects, 1, "one connection all along");
    client.close().await;
}

/// A user session renews its access token in place (`auth`); a token of someone else or no
/// token at all is refused with the protocol's code and the session carries on.
#[tokio::test]
async fn renewing_the_access_token() {
    let f = fixture().await;
    let (client, _events) = Client::connect(Options::new(&f.server.base, &f.token))
        .await
        .expect("connect");
    let fresh = login(&f.server.base, &f.org.owner_email, PASSWORD).await;
    client.renew(fresh.access).await.expect("renewed");

    let other = add_member(&f.server, &f.org.owner, &f.org.id, "member").await;
    let err = client
        .renew(other.api.token.clone().expect("token"))
        .await
        .expect_err("another user's token");
    assert_eq!(err.code(), Some(ErrorCode::Forbidden), "{err}");
    let err = client.renew("garbage").await.expect_err("not a token");
    assert_eq!(err.code(), Some(ErrorCode::Unauthorized), "{err}");

    client
        .op(Topic::Board(f.board_id), comment(f.card_id, "still me"))
        .await
        .expect("the session carries on");
    client.close().await;
}

/// A connection the network drops without a word (no FIN, no close, nothing): the client
/// notices the silence (no ping for two heartbeat intervals), reconnects, and the op it had
/// sent into the void is applied once.
#[tokio::test]
async fn a_silently_dead_connection_is_replaced() {
    let f = fixture_with(&[("BOARDROOM_REALTIME__HEARTBEAT_MS", "200")]).await;
    let proxy = Proxy::start(&f.server.base).await;
    let (client, mut events) = through_proxy(&f, &proxy).await;
    let topic = Topic::Board(f.board_id);

    proxy.freeze();
    let ack = tokio::time::timeout(
        Duration::from_secs(20),
        client.op(topic, comment(f.card_id, "into the void")),
    )
    .await
    .expect("the op is answered after the client replaced the dead connection")
    .expect("op");
    let why = disconnected(&mut events).await;
    assert!(why.contains("no word from the server"), "{why}");
    let snap = board_until(&f.org.owner, &f.board_id.to_string(), "the board", |_| true).await;
    assert_eq!(
        comment_bodies(&snap, &f.card_id.to_string()),
        ["into the void"]
    );
    assert!(ack.seq > 0);
    client.close().await;
}
