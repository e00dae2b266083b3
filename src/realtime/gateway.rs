//! `GET /ws`: one task per connection. It reads frames, answers them, and writes whatever the
//! hub and the board actors queue for it, several queued frames per socket write. Nothing else
//! ever touches the socket, so a slow client only ever fills its own queue.

use super::session_auth::{SessionAuth, WsCredential};
use crate::app::AppState;
use crate::auth::ratelimit::CredentialKey;
use crate::auth::session::Caller;
use crate::auth::session::ClientIp;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use boardroom_actors::live::board::{BoardMsg, OpReply, Owed, SubscribeReq};
use boardroom_actors::live::conn::{ConnHandle, ConnRx, Wire};
use boardroom_actors::policy::{decide, Action, Decision, Resource};
use boardroom_protocol::{
    close, ClientFrame, Codec, ErrorCode, ErrorReply, OkReply, Pong, Ref, ServerFrame, Topic,
    Welcome,
};
use futures_util::{FutureExt, SinkExt, StreamExt};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
use std::num::NonZeroU32;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::time::{sleep_until, Instant};
use uuid::Uuid;

/// A write the socket does not take within this long belongs to a client that is gone.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
pub struct WsQuery {
    encoding: Option<String>,
}

pub async fn upgrade(
    State(state): State<AppState>,
    Query(q): Query<WsQuery>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    ws: WebSocketUpgrade,
) -> Response {
    let offered: Vec<String> = ws
        .requested_protocols()
        .filter_map(|v| v.to_str().ok().map(String::from))
        .collect();
    let (codec, echo) = Codec::negotiate(offered.iter().map(String::as_str), q.encoding.as_deref());
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(|t| t.trim().to_string());
    let max = state.config.limits.max_frame_bytes;
    let mut ws = ws
        .read_buffer_size(state.config.realtime.ws_read_buffer_bytes)
        .write_buffer_size(0)
        // Frames between the limit and twice it are refused politely (4413); anything larger is
        // cut off by tungstenite before it is buffered.
        .max_message_size(max * 2)
        .max_frame_size(max * 2);
    if let Some(p) = echo {
        ws = ws.protocols([p]);
    }
    // One pointer in the connection's future, not the state itself: the upgrade closure and
    // the session each held a copy of `AppState` for the life of every idle connection.
    let state = Arc::new(state);
    ws.on_upgrade(move |socket| async move {
        let limits = &state.config.limits;
        let (conn, rx) = ConnHandle::bounded(
            codec,
            limits.send_queue_frames,
            limits.send_queue_bytes,
            state.config.realtime.fanout_backlog_frames.max(1),
        );
        metrics::gauge!(crate::metrics::CONNECTIONS).increment(1.0);
        let mut s = Session::new(state, conn);
        s.ip = Some(ip);
        // Frames are handled under their own guard (1011); this one catches a failure
        // anywhere else in the session, so that its cleanup still runs.
        if let Err(panic) = AssertUnwindSafe(s.run(socket, rx, bearer))
            .catch_unwind()
            .await
        {
            metrics::counter!(crate::metrics::SESSION_FAILURES).increment(1);
            tracing::error!(
                conn = s.conn.id,
                panic = panic_text(&*panic),
                "session failed"
            );
        }
        s.cleanup();
        metrics::gauge!(crate::metrics::CONNECTIONS).decrement(1.0);
    })
}

struct Session {
    state: Arc<AppState>,
    conn: Arc<ConnHandle>,
    auth: Option<SessionAuth>,
    /// Board and card topics remember their board actor, for unsubscribe and presence.
    subs: HashMap<Topic, Option<Uuid>>,
    limiter: DefaultDirectRateLimiter,
    /// Each subscribe may queue a snapshot of a whole board (issue 15.3).
    subscribe_limiter: DefaultDirectRateLimiter,
    bad_frames: u32,
    floods: u32,
    /// The client's address, kept with its ops' events for the audit log.
    ip: Option<std::net::IpAddr>,
}

fn per_second(rate: u32, burst: u32) -> DefaultDirectRateLimiter {
    let rate = NonZeroU32::new(rate.max(1)).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst.max(1)).unwrap_or(NonZeroU32::MIN);
    RateLimiter::direct(Quota::per_second(rate).allow_burst(burst))
}

enum Flow {
    Continue,
    Close(u16, &'static str),
}

impl Session {
    fn new(state: Arc<AppState>, conn: Arc<ConnHandle>) -> Self {
        let l = &state.config.limits;
        let limiter = per_second(l.ops_per_second_per_connection, l.ops_burst_per_connection);
        let subscribe_limiter = per_second(
            l.subscribes_per_second_per_connection,
            l.subscribes_burst_per_connection,
        );
        Session {
            state,
            conn,
            auth: None,
            subs: HashMap::new(),
            limiter,
            subscribe_limiter,
            bad_frames: 0,
            floods: 0,
            ip: None,
        }
    }

    /// Whether the session authenticated with an API key.
    fn is_api_key(&self) -> bool {
        matches!(
            self.auth.as_ref().map(|a| &a.credential),
            Some(WsCredential::Http(Caller::ApiKey(_)))
        )
    }

    fn reply(&self, frame: ServerFrame) {
        self.conn.send(&frame);
    }

    fn error(&self, r#ref: Option<Ref>, code: ErrorCode, message: impl Into<String>) {
        self.reply(ServerFrame::Error(ErrorReply::new(r#ref, code, message)));
    }

    /// The whole life of the socket, in this one task: no split halves (nothing else ever
    /// touches the socket), and the waits that last (close requested, shutdown, the timer)
    /// are created once and polled again on each turn, instead of registering and dropping a
    /// waiter or a timer per turn of the loop. This future is most of what an idle connection
    /// costs (issue 11: ≤ 8 KiB each), so what it rarely needs is boxed when needed.
    async fn run(&mut self, mut socket: WebSocket, mut rx: ConnRx, bearer: Option<String>) {
        let rt = &self.state.config.realtime;
        let heartbeat = Duration::from_millis(rt.heartbeat_ms.max(100));
        let hello_deadline = Instant::now() + Duration::from_millis(rt.hello_timeout_ms);
        let mut last_seen = Instant::now();
        // Moved forward after each ping: a missed tick is delayed, not bunched.
        let mut next_ping = Instant::now() + heartbeat;
        // One timer for the two things that wait on time: the next ping, and the deadline
        // (hello, then the access token's or API key's expiry; none for links), whichever
        // comes first: each `Sleep` is laid out in every idle connection's task.
        let timer = sleep_until(next_ping.min(hello_deadline));
        let conn = self.conn.clone();
        let closed = conn.closed();
        let mut shutdown = self.state.rt.shutdown.subscribe();
        let down = shutting_down(&mut shutdown);
        tokio::pin!(timer, closed, down);

        if let Some(token) = bearer {
            // Boxed, like every frame's handling: the authentication's state is only held
            // while it runs, not in every idle connection's task.
            if let Flow::Close(code, why) = Box::pin(self.hello(None, &token, None)).await {
                let _ = send_close(&mut socket, code, why).await;
                return;
            }
        }
        let mut armed = self.deadline(hello_deadline);
        timer.as_mut().reset(wake_at(next_ping, armed));

        let outcome: (u16, &'static str) = loop {
            tokio::select! {
                biased;
                code = &mut closed => break (code, close_reason(code)),
                () = &mut down => break (close::GOING_AWAY, "server shutting down; reconnect"),
                wire = rx.recv() => {
                    let Some(wire) = wire else { break (close::INTERNAL, "internal error") };
                    let write = write_batch(&mut socket, &mut rx, wire, self.conn.codec);
                    tokio::pin!(write);
                    // Usually the socket takes the batch at once, and no timer is needed. One
                    // that has to wait gets WRITE_TIMEOUT: a socket that takes this long to
                    // accept bytes belongs to a client that is gone. Boxed: the timer is only
                    // held while a write waits, not in every idle connection's task.
                    let written = match std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await {
                        Poll::Ready(r) => r.is_ok(),
                        Poll::Pending => matches!(Box::pin(tokio::time::timeout(WRITE_TIMEOUT, write)).await, Ok(Ok(()))),
                    };
                    if !written {
                        return;
                    }
                }
                msg = socket.next() => {
                    let Some(Ok(msg)) = msg else {
                        // A frame over twice the limit surfaces here as a read error.
                        if let Some(Err(e)) = &msg {
                            if e.to_string().contains("too long") || e.to_string().contains("too big") {
                                break (close::FRAME_TOO_LARGE, "frame too large");
                            }
                            tracing::debug!(conn = self.conn.id, error = %e, "read failed; session ends");
                        }
                        return;
                    };
                    last_seen = Instant::now();
                    let bytes: &[u8] = match &msg {
                        Message::Text(t) => t.as_bytes(),
                        Message::Binary(b) => b,
                        Message::Close(_) => return,
                        Message::Ping(_) | Message::Pong(_) => continue,
                    };
                    if bytes.len() > self.state.config.limits.max_frame_bytes {
                        break (close::FRAME_TOO_LARGE, "frame too large");
                    }
                    // A bug that panics while handling one frame must not take the socket down
                    // without a word, nor leave this connection's subscriptions and presence
                    // behind: the session ends with 1011 and is cleaned up like any other.
                    // Boxed: an idle connection's task does not carry the (large) state of
                    // handling a frame, only a busy one does, for as long as it runs.
                    match AssertUnwindSafe(Box::pin(self.on_frame(bytes))).catch_unwind().await {
                        Ok(Flow::Continue) => {}
                        Ok(Flow::Close(code, why)) => break (code, why),
                        Err(panic) => {
                            metrics::counter!(crate::metrics::SESSION_FAILURES).increment(1);
                            tracing::error!(conn = self.conn.id, panic = panic_text(&*panic), "session failed while handling a frame; closing with 1011");
                            break (close::INTERNAL, "internal error");
                        }
                    }
                    // `hello` or `auth` may have moved the deadline.
                    let want = self.deadline(hello_deadline);
                    if want != armed {
                        armed = want;
                        timer.as_mut().reset(wake_at(next_ping, armed));
                    }
                }
                () = &mut timer => {
                    let now = Instant::now();
                    if armed.is_some_and(|at| at <= now) {
                        break if self.auth.is_none() {
                            (close::NOT_AUTHENTICATED, "no hello within the time limit")
                        } else if self.is_api_key() {
                            (close::CREDENTIALS_REVOKED, "API key expired")
                        } else {
                            (close::NOT_AUTHENTICATED, "access token expired; reconnect with a fresh one")
                        };
                    }
                    if now >= next_ping {
                        if last_seen.elapsed() > heartbeat * 2 {
                            break (close::GOING_AWAY, "no traffic for two heartbeat intervals");
                        }
                        if socket.send(Message::Ping(Default::default())).await.is_err() {
                            return;
                        }
                        next_ping = Instant::now() + heartbeat;
                    }
                    timer.as_mut().reset(wake_at(next_ping, armed));
                }
            }
        };
        // Boxed: its timers are held only by a connection that is closing.
        Box::pin(close_socket(socket, rx, self.conn.codec, outcome)).await;
    }

    /// When the session must end unless something happens: the hello deadline before `hello`,
    /// the access token's expiry after (none for credentials that do not expire).
    fn deadline(&self, hello_deadline: Instant) -> Option<Instant> {
        match &self.auth {
            None => Some(hello_deadline),
            Some(a) => a.expires_at,
        }
    }

    fn cleanup(&mut self) {
        let conn_id = self.conn.id;
        for (topic, board) in self.subs.drain() {
            self.state.rt.hub.unsubscribe(&topic, conn_id);
            if let Some(board_id) = board {
                self.state.rt.boards.tell(
                    board_id,
                    BoardMsg::Leave {
                        conn: conn_id,
                        topic,
                    },
                );
            }
        }
        if let Some(auth) = &self.auth {
            self.state.rt.sessions.remove(auth, conn_id);
            if let Some(user) = auth.principal.user_id() {
                self.state.rt.online.leave(
                    &self.state.rt.broker,
                    auth.principal.org_id,
                    user,
                    conn_id,
                );
            }
        }
    }

    async fn on_frame(&mut self, bytes: &[u8]) -> Flow {
        if self.conn.take_debug_failure() {
            panic!("session panic requested through the debug endpoint");
        }
        let frame = match self.conn.codec.decode_client(bytes) {
            Ok(f) => f,
            Err(e) => {
                self.bad_frames += 1;
                self.reply(ServerFrame::Error(e.to_reply()));
                if self.bad_frames >= self.state.config.realtime.bad_frames_before_close {
                    return Flow::Close(close::PROTOCOL_VIOLATION, "too many malformed frames");
                }
                return Flow::Continue;
            }
        };
        self.bad_frames = 0;
        if self.auth.is_none() {
            return match frame {
                ClientFrame::Hello(h) => self.hello(h.r#ref, &h.token, h.client).await,
                _ => Flow::Close(close::NOT_AUTHENTICATED, "the first frame must be hello"),
            };
        }
        match frame {
            ClientFrame::Hello(h) => {
                self.error(
                    h.r#ref,
                    ErrorCode::BadRequest,
                    "already authenticated; use `auth` to renew",
                );
                Flow::Continue
            }
            ClientFrame::Ping(p) => {
                self.reply(ServerFrame::Pong(Pong { r#ref: p.r#ref }));
                Flow::Continue
            }
            ClientFrame::Auth(a) => self.renew(a.r#ref, &a.token).await,
            ClientFrame::Subscribe(s) => {
                self.subscribe(s.r#ref, s.topic, s.since).await;
                Flow::Continue
            }
            ClientFrame::Unsubscribe(u) => {
                if let Some(board) = self.subs.remove(&u.topic) {
                    self.state.rt.hub.unsubscribe(&u.topic, self.conn.id);
                    if let Some(board_id) = board {
                        self.state.rt.boards.tell(
                            board_id,
                            BoardMsg::Leave {
                                conn: self.conn.id,
                                topic: u.topic,
                            },
                        );
                    }
                    self.reply(ServerFrame::Ok(OkReply {
                        topic: Some(u.topic),
                        ..OkReply::new(u.r#ref)
                    }));
                } else {
                    self.error(u.r#ref, ErrorCode::NotFound, "not subscribed to that topic");
                }
                Flow::Continue
            }
            ClientFrame::Op(op) => self.op(op).await,
            ClientFrame::PresenceSet(p) => {
                let Topic::Board(board_id) = p.topic else {
                    self.error(
                        p.r#ref,
                        ErrorCode::BadRequest,
                        "presence is kept per board topic",
                    );
                    return Flow::Continue;
                };
                // Not subscribed is not found, as for `unsubscribe`: a board of another org
                // (which cannot be subscribed) answers exactly like one that does not exist.
                if !self.subs.contains_key(&p.topic) {
                    self.error(
                        p.r#ref,
                        ErrorCode::NotFound,
                        "not subscribed to that topic; subscribe to the board before setting presence",
                    );
                    return Flow::Continue;
                }
                // A board that is not running drops the message, and the owed answer then says
                // `unavailable` (the subscription is gone too, and a `resync` is on its way).
                self.state.rt.boards.tell(
                    board_id,
                    BoardMsg::PresenceSet {
                        conn: self.conn.clone(),
                        state: p.state,
                        answer: Owed::new(self.conn.clone(), p.r#ref),
                    },
                );
                Flow::Continue
            }
            ClientFrame::NotificationsRead(n) => {
                // The policy answers who has notifications (users; a key is forbidden, a share
                // link, which sees one card and nothing else, is not found), as over HTTP.
                let Some((decision, user)) = self.auth.as_ref().map(|a| {
                    let p = &a.principal;
                    let own_org = Resource::Org { org_id: p.org_id };
                    (decide(p, Action::ReadNotifications, &own_org), p.user_id())
                }) else {
                    return Flow::Continue;
                };
                let user = match (decision, user) {
                    (Decision::Allow, Some(user)) => user,
                    (Decision::NotFound, _) => {
                        self.error(n.r#ref, ErrorCode::NotFound, "not found");
                        return Flow::Continue;
                    }
                    _ => {
                        self.error(
                            n.r#ref,
                            ErrorCode::Forbidden,
                            "only users have notifications",
                        );
                        return Flow::Continue;
                    }
                };
                let ids = match &n.target {
                    boardroom_protocol::ReadTarget::All => None,
                    boardroom_protocol::ReadTarget::Ids(ids) => Some(ids.as_slice()),
                };
                let max = self.state.config.limits.max_notification_ids;
                if ids.is_some_and(|ids| ids.len() > max) {
                    let mut e = ErrorReply::new(
                        n.r#ref,
                        ErrorCode::BadRequest,
                        format!("at most {max} ids per request (limits.max_notification_ids)"),
                    );
                    e.field = Some("ids".into());
                    self.reply(ServerFrame::Error(e));
                    return Flow::Continue;
                }
                match self
                    .state
                    .store
                    .mark_read(user, ids, chrono::Utc::now())
                    .await
                {
                    Ok(unread) => self.reply(ServerFrame::Ok(OkReply {
                        unread: Some(unread.max(0) as u64),
                        ..OkReply::new(n.r#ref)
                    })),
                    Err(e) => {
                        tracing::warn!(error = %e, "mark read failed");
                        self.error(
                            n.r#ref,
                            ErrorCode::Unavailable,
                            "could not mark notifications read; retry",
                        );
                    }
                }
                Flow::Continue
            }
        }
    }

    async fn hello(&mut self, r#ref: Option<Ref>, token: &str, client: Option<String>) -> Flow {
        match SessionAuth::authenticate(&self.state, token).await {
            Ok(auth) => {
                let p = &auth.principal;
                let welcome = Welcome {
                    r#ref,
                    session_id: Uuid::now_v7(),
                    principal: auth.info.clone(),
                    heartbeat_ms: self.state.config.realtime.heartbeat_ms,
                    max_frame_bytes: self.state.config.limits.max_frame_bytes as u64,
                    server_time: chrono::Utc::now(),
                };
                tracing::info!(conn = self.conn.id, kind = p.kind.as_str(), id = %p.id, client = client.as_deref().unwrap_or("-"), "session authenticated");
                self.reply(ServerFrame::Welcome(welcome));
                self.state.rt.sessions.add(&auth, self.conn.clone());
                if let Some(user) = p.user_id() {
                    let topic = Topic::User(user);
                    self.state.rt.hub.subscribe(
                        topic,
                        boardroom_actors::live::hub::Subscriber {
                            conn: self.conn.clone(),
                            view: Arc::new(p.clone()),
                            board: None,
                        },
                    );
                    self.subs.insert(topic, None);
                    self.state.rt.online.join(
                        &self.state.rt.broker,
                        p.org_id,
                        user,
                        &auth.info.name,
                        self.conn.id,
                    );
                }
                self.auth = Some(auth);
                Flow::Continue
            }
            Err(e) => {
                self.reply(ServerFrame::Error(ErrorReply::new(None, e.code, e.message)));
                Flow::Close(close::NOT_AUTHENTICATED, "authentication failed")
            }
        }
    }

    async fn renew(&mut self, r#ref: Option<Ref>, token: &str) -> Flow {
        let Some(current) = &self.auth else {
            return Flow::Continue;
        };
        match SessionAuth::authenticate(&self.state, token).await {
            Ok(fresh)
                if fresh.principal.kind == current.principal.kind
                    && fresh.principal.id == current.principal.id =>
            {
                if let Some(a) = &mut self.auth {
                    // The new token may come from another login (a fresh log-in rather than a
                    // refresh): revoking that login must close this session, and revoking
                    // the old one no longer should.
                    self.state.rt.sessions.remove(a, self.conn.id);
                    a.expires_at = fresh.expires_at;
                    a.revocation_keys = fresh.revocation_keys;
                    self.state.rt.sessions.add(a, self.conn.clone());
                }
                self.reply(ServerFrame::Ok(OkReply::new(r#ref)));
            }
            Ok(_) => self.error(
                r#ref,
                ErrorCode::Forbidden,
                "the new token is for someone else",
            ),
            Err(e) => self.error(r#ref, e.code, e.message),
        }
        Flow::Continue
    }

    async fn subscribe(
        &mut self,
        r#ref: Option<Ref>,
        topic: Topic,
        since: Option<boardroom_protocol::Since>,
    ) {
        let Some(auth) = &self.auth else { return };
        if let Err(not_until) = self.subscribe_limiter.check() {
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let mut e = ErrorReply::new(
                r#ref,
                ErrorCode::RateLimited,
                "too many subscribes; slow down",
            );
            e.retry_after_ms = Some(wait.as_millis().max(1) as u64);
            return self.reply(ServerFrame::Error(e));
        }
        if let Some(board) = self.subs.get(&topic).copied() {
            match board {
                // Subscribing again to a board or card resyncs it (after a `resync` frame, or
                // when the client lost track): the board replaces the old subscription when it
                // answers, in order with the first subscribe however fast they come. While it
                // is live with the same view, that answer has no second snapshot (issue 15.3).
                // A refusal ends the old subscription (`forget`).
                Some(_) => {}
                None => {
                    self.error(
                        r#ref,
                        ErrorCode::Conflict,
                        "already subscribed to that topic",
                    );
                    return;
                }
            }
        }
        if !self.subs.contains_key(&topic)
            && self.subs.len() >= self.state.config.limits.max_subscriptions_per_connection
        {
            self.error(
                r#ref,
                ErrorCode::TooLarge,
                "too many subscriptions on this connection",
            );
            return;
        }
        let caller = auth.credential.clone();
        match topic {
            Topic::User(id) => {
                // A user's own topic is subscribed at hello; nobody else's may be.
                self.error(
                    r#ref,
                    ErrorCode::NotFound,
                    if auth.principal.user_id() == Some(id) {
                        "already subscribed to your user topic"
                    } else {
                        "not found"
                    },
                );
            }
            Topic::Org(org_id) => {
                let principal = match self.principal_for(&caller, org_id).await {
                    Ok(p) => p,
                    Err(e) => return self.error(r#ref, e.code, e.message),
                };
                // Who is online is the org's people: not for customers (forbidden) nor share
                // links (not found), as the policy decides.
                match boardroom_actors::policy::decide(
                    &principal,
                    boardroom_actors::policy::Action::ReadOrgPresence,
                    &boardroom_actors::policy::Resource::Org { org_id },
                ) {
                    boardroom_actors::policy::Decision::Allow => {}
                    boardroom_actors::policy::Decision::Forbidden => {
                        return self.error(
                            r#ref,
                            ErrorCode::Forbidden,
                            "customers do not see who is online in the organization",
                        )
                    }
                    boardroom_actors::policy::Decision::NotFound => {
                        return self.error(r#ref, ErrorCode::NotFound, "not found")
                    }
                }
                let presence = self.state.rt.online.snapshot(org_id).await;
                self.reply(ServerFrame::Ok(OkReply {
                    topic: Some(topic),
                    presence: Some(presence),
                    ..OkReply::new(r#ref)
                }));
                self.state.rt.hub.subscribe(
                    topic,
                    boardroom_actors::live::hub::Subscriber {
                        conn: self.conn.clone(),
                        view: Arc::new(principal),
                        board: None,
                    },
                );
                self.subs.insert(topic, None);
            }
            Topic::Board(board_id) | Topic::Card(board_id) => {
                let located = match topic {
                    Topic::Board(_) => self
                        .state
                        .store
                        .get_board(board_id)
                        .await
                        .map(|b| b.filter(|b| !b.archived).map(|b| (b.org_id, b.id))),
                    _ => self
                        .state
                        .store
                        .card_location(board_id)
                        .await
                        .map(|l| l.map(|l| (l.org_id, l.board_id))),
                };
                let name = auth.info.name.clone();
                let (org_id, board) = match located {
                    Ok(Some(x)) => x,
                    Ok(None) => {
                        self.forget(topic);
                        return self.error(r#ref, ErrorCode::NotFound, "not found");
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "subscribe lookup failed");
                        self.forget(topic);
                        return self.error(
                            r#ref,
                            ErrorCode::Unavailable,
                            "the database is unavailable; retry",
                        );
                    }
                };
                let principal = match self.principal_for(&caller, org_id).await {
                    Ok(p) => p,
                    Err(e) => {
                        self.forget(topic);
                        return self.error(r#ref, e.code, e.message);
                    }
                };
                let req = SubscribeReq {
                    conn: self.conn.clone(),
                    view: Arc::new(principal),
                    name,
                    topic,
                    answer: Owed::new(self.conn.clone(), r#ref),
                    since,
                    remote: None,
                };
                // Always answered: an `error` when the board cannot take it.
                if self
                    .state
                    .rt
                    .boards
                    .send(board, BoardMsg::Subscribe(Box::new(req)))
                    .await
                {
                    self.subs.insert(topic, Some(board));
                } else {
                    self.forget(topic);
                }
            }
        }
    }

    /// Ends this connection's subscription of a board or card topic, if it has one.
    fn forget(&mut self, topic: Topic) {
        if let Some(Some(board_id)) = self.subs.remove(&topic) {
            self.state.rt.hub.unsubscribe(&topic, self.conn.id);
            self.state.rt.boards.tell(
                board_id,
                BoardMsg::Leave {
                    conn: self.conn.id,
                    topic,
                },
            );
        }
    }

    async fn principal_for(
        &self,
        caller: &WsCredential,
        org_id: Uuid,
    ) -> Result<boardroom_actors::policy::Principal, ErrorReply> {
        let Some(auth) = &self.auth else {
            return Err(ErrorReply::new(
                None,
                ErrorCode::Unauthorized,
                "not authenticated",
            ));
        };
        if auth.principal.org_id == org_id {
            return Ok(auth.principal.clone());
        }
        match caller {
            WsCredential::Http(c) => self
                .state
                .principal_in(c, org_id)
                .await
                .map_err(|e| ErrorReply::new(None, e.code, e.message)),
            WsCredential::Share => Err(ErrorReply::new(None, ErrorCode::NotFound, "not found")),
        }
    }

    async fn op(&mut self, f: boardroom_protocol::OpFrame) -> Flow {
        let Topic::Board(board_id) = f.topic else {
            self.error(
                f.r#ref,
                ErrorCode::BadRequest,
                "ops are sent to a board topic",
            );
            return Flow::Continue;
        };
        if let Err(not_until) = self.limiter.check() {
            self.floods += 1;
            let burst = self.state.config.limits.ops_burst_per_connection;
            if self.floods > burst.max(10) {
                return Flow::Close(close::RATE_LIMITED, "too many ops after rate_limited");
            }
            let wait = not_until.wait_time_from(governor::clock::Clock::now(
                &governor::clock::DefaultClock::default(),
            ));
            let mut e = ErrorReply::new(f.r#ref, ErrorCode::RateLimited, "too many ops; slow down");
            e.retry_after_ms = Some(wait.as_millis().max(1) as u64);
            self.reply(ServerFrame::Error(e));
            return Flow::Continue;
        }
        self.floods = 0;
        let Some(auth) = &self.auth else {
            return Flow::Continue;
        };
        // A key's budget is shared by its requests and all its sockets, on this node.
        if let WsCredential::Http(Caller::ApiKey(key)) = &auth.credential {
            if let Err(wait) = self.state.key_limiter.check(CredentialKey::ApiKey(key.id)) {
                let mut e = ErrorReply::new(
                    f.r#ref,
                    ErrorCode::RateLimited,
                    "too many requests from this API key; slow down",
                );
                e.retry_after_ms = Some(wait.as_millis().max(1) as u64);
                self.reply(ServerFrame::Error(e));
                return Flow::Continue;
            }
        }
        // The org of a running board is known without asking the database: the op path must
        // not wait on it (a slow database is answered by the journal's back-pressure).
        let cached = self.state.rt.boards.org_of(board_id);
        let board_org = match cached {
            Some(org) => org,
            None => match self.state.store.get_board(board_id).await {
                Ok(Some(b)) if !b.archived => b.org_id,
                Ok(_) => {
                    self.error(f.r#ref, ErrorCode::NotFound, "not found");
                    return Flow::Continue;
                }
                Err(_) => {
                    self.error(
                        f.r#ref,
                        ErrorCode::Unavailable,
                        "the database is unavailable; retry",
                    );
                    return Flow::Continue;
                }
            },
        };
        let caller = auth.credential.clone();
        let name = auth.info.name.clone();
        let principal = match self.principal_for(&caller, board_org).await {
            Ok(p) => p,
            Err(e) => {
                self.reply(ServerFrame::Error(e.with_ref(f.r#ref)));
                return Flow::Continue;
            }
        };
        let msg = BoardMsg::Op {
            principal: Arc::new(principal),
            name,
            op_id: f.op_id,
            op: f.op,
            reply: OpReply::conn(self.conn.clone(), f.r#ref),
            ip: self.ip,
        };
        // The op is always answered, even when the actor stops before it gets to it.
        self.state.rt.boards.send(board_id, msg).await;
        Flow::Continue
    }
}

trait WithRef {
    fn with_ref(self, r#ref: Option<Ref>) -> ErrorReply;
}

impl WithRef for ErrorReply {
    fn with_ref(mut self, r#ref: Option<Ref>) -> ErrorReply {
        self.r#ref = r#ref;
        self
    }
}

/// The message of a caught panic, for the log.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

fn close_reason(code: u16) -> &'static str {
    match code {
        close::TOO_SLOW => "send queue full: the client does not read fast enough",
        close::CREDENTIALS_REVOKED => "credentials revoked",
        close::RATE_LIMITED => "rate limited",
        close::GOING_AWAY => "server going away; reconnect",
        _ => "closed by the server",
    }
}

/// The queued bytes as a WebSocket message, without copying them: the hub's encode is shared
/// by every connection it goes to, and taking the `Bytes` out of the shared `Arc` is a
/// reference count. A text frame checks that the bytes are UTF-8 (a scan, no copy); the JSON
/// encoder only writes UTF-8, so the binary fallback is never expected.
fn to_message(wire: Wire, codec: Codec) -> Message {
    let bytes = Arc::unwrap_or_clone(wire);
    if codec.is_binary() {
        return Message::Binary(bytes);
    }
    match axum::extract::ws::Utf8Bytes::try_from(bytes.clone()) {
        Ok(text) => Message::Text(text),
        Err(_) => Message::Binary(bytes),
    }
}

/// Writes one frame and whatever else is already queued, then flushes once: under load many
/// frames share one syscall.
async fn write_batch<S>(
    sink: &mut S,
    rx: &mut ConnRx,
    first: Wire,
    codec: Codec,
) -> Result<(), S::Error>
where
    S: futures_util::Sink<Message> + Unpin,
{
    sink.feed(to_message(first, codec)).await?;
    for _ in 0..64 {
        match rx.try_recv() {
            Ok(w) => sink.feed(to_message(w, codec)).await?,
            Err(_) => break,
        }
    }
    sink.flush().await
}

async fn send_close<S>(sink: &mut S, code: u16, reason: &str) -> Result<(), S::Error>
where
    S: futures_util::Sink<Message> + Unpin,
{
    sink.send(Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    })))
    .await?;
    sink.flush().await
}

/// When the session's one timer must fire: the next ping, or the deadline if that is sooner.
fn wake_at(next_ping: Instant, deadline: Option<Instant>) -> Instant {
    deadline.map_or(next_ping, |at| at.min(next_ping))
}

/// Flushes what is already queued (e.g. the error that explains the close), then closes;
/// bounded, since a client that does not read would otherwise hold the task forever.
async fn close_socket(
    mut socket: WebSocket,
    mut rx: ConnRx,
    codec: Codec,
    (code, reason): (u16, &'static str),
) {
    let flush = async {
        if code != close::TOO_SLOW {
            while let Ok(wire) = rx.try_recv() {
                socket.feed(to_message(wire, codec)).await?;
            }
        }
        send_close(&mut socket, code, reason).await
    };
    if !matches!(
        tokio::time::timeout(Duration::from_secs(5), flush).await,
        Ok(Ok(()))
    ) {
        return;
    }
    // Finish the closing handshake: read (and drop) what the client still sends until its
    // close arrives, so the socket is not reset with unread data and the client does get our
    // close code.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Some(Ok(m)) = socket.next().await {
            if matches!(m, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

/// Resolves once the server starts shutting down.
async fn shutting_down(rx: &mut tokio::sync::watch::Receiver<bool>) {
    loop {
        let down = *rx.borrow_and_update();
        if down {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}
