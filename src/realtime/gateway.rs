//! `GET /ws`: one task per connection. It reads frames, answers them, and writes whatever the
//! hub and the board actors queue for it, several queued frames per socket write. Nothing else
//! ever touches the socket, so a slow client only ever fills its own queue.

use super::ending::{close_reason, panic_text, send_close, shutting_down};
use crate::app::AppState;
use crate::auth::ratelimit::Throttle;
use crate::auth::session::{bearer, ClientIp, SessionAuth};
use crate::commands::op::OpCommand;
use crate::commands::subscribe::Subscription;
use crate::commands::Sender;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use boardroom_actors::live::board::{BoardMsg, OpReply, Owed};
use boardroom_actors::live::conn::{ConnHandle, ConnRx, Wire};
use boardroom_protocol::{
    close, ClientFrame, Codec, ErrorCode, ErrorReply, OkReply, Pong, Ref, ServerFrame, Topic,
    Welcome,
};
use futures_util::{FutureExt, SinkExt, StreamExt};
use serde::Deserialize;
use std::collections::HashMap;
use std::future::Future;
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
    // A malformed header is no credential: the client may still say `hello`.
    let bearer = bearer(&headers).ok().flatten().map(String::from);
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
    /// Each subscribe may queue a snapshot of a whole board (issue 15.3).
    subscribe_limiter: Throttle,
    bad_frames: u32,
    floods: u32,
    /// The client's address, kept with its ops' events for the audit log.
    ip: Option<std::net::IpAddr>,
}

enum Flow {
    Continue,
    Close(u16, &'static str),
}

impl Session {
    fn new(state: Arc<AppState>, conn: Arc<ConnHandle>) -> Self {
        let l = &state.config.limits;
        let subscribe_limiter = Throttle::new(
            l.subscribes_per_second_per_connection,
            l.subscribes_burst_per_connection,
        );
        Session {
            state,
            conn,
            auth: None,
            subs: HashMap::new(),
            subscribe_limiter,
            bad_frames: 0,
            floods: 0,
            ip: None,
        }
    }

    /// Whether the session authenticated with an API key.
    fn is_api_key(&self) -> bool {
        self.auth.as_ref().is_some_and(SessionAuth::is_api_key)
    }

    fn reply(&self, frame: ServerFrame) {
        self.conn.send(&frame);
    }

    fn error(&self, r#ref: Option<Ref>, code: ErrorCode, message: impl Into<String>) {
        self.reply(ServerFrame::Error(ErrorReply::new(r#ref, code, message)));
    }

    /// The board a frame that only a board topic takes is sent to; for any other topic, the
    /// frame is refused (`bad_request`, `why`) and None returned.
    fn board_topic(&self, topic: &Topic, r#ref: Option<Ref>, why: &str) -> Option<Uuid> {
        match topic {
            Topic::Board(board_id) => Some(*board_id),
            _ => {
                self.error(r#ref, ErrorCode::BadRequest, why);
                None
            }
        }
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
        for (topic, board) in std::mem::take(&mut self.subs) {
            self.leave(topic, board);
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
                    self.leave(u.topic, board);
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
                let why = "presence is kept per board topic";
                let Some(board_id) = self.board_topic(&p.topic, p.r#ref.clone(), why) else {
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
                let Some(auth) = &self.auth else {
                    return Flow::Continue;
                };
                let ids = match &n.target {
                    boardroom_protocol::ReadTarget::All => None,
                    boardroom_protocol::ReadTarget::Ids(ids) => Some(ids.as_slice()),
                };
                match self
                    .state
                    .commands
                    .mark_read(Sender::Session(auth), ids)
                    .await
                {
                    Ok(unread) => self.reply(ServerFrame::Ok(OkReply {
                        unread: Some(unread),
                        ..OkReply::new(n.r#ref)
                    })),
                    Err(e) => self.reply(ServerFrame::Error(e.into_reply(n.r#ref))),
                }
                Flow::Continue
            }
        }
    }

    async fn hello(&mut self, r#ref: Option<Ref>, token: &str, client: Option<String>) -> Flow {
        match self.state.credentials.session(token).await {
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
        match self.state.credentials.session(token).await {
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
        if let Err(e) = self
            .subscribe_limiter
            .check("too many subscribes; slow down")
        {
            return self.reply(ServerFrame::Error(e.into_reply(r#ref)));
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
        if let Topic::User(id) = topic {
            // A user's own topic is subscribed at hello; nobody else's may be.
            let own = auth.principal.user_id() == Some(id);
            return self.error(
                r#ref,
                ErrorCode::NotFound,
                if own {
                    "already subscribed to your user topic"
                } else {
                    "not found"
                },
            );
        }
        let conn = self.conn.clone();
        let subscribed = self
            .state
            .commands
            .subscribe(auth, topic, since, &conn, r#ref.clone())
            .await;
        match subscribed {
            Ok(Subscription::Board(board)) => {
                self.subs.insert(topic, Some(board));
            }
            Ok(Subscription::NotTaken) => self.forget(topic),
            Ok(Subscription::Org(principal)) => {
                let presence = self.state.rt.online.snapshot(topic.id()).await;
                self.reply(ServerFrame::Ok(OkReply {
                    topic: Some(topic),
                    presence: Some(presence),
                    ..OkReply::new(r#ref)
                }));
                self.state.rt.hub.subscribe(
                    topic,
                    boardroom_actors::live::hub::Subscriber {
                        conn,
                        view: Arc::new(principal),
                        board: None,
                    },
                );
                self.subs.insert(topic, None);
            }
            Err(e) => {
                // A refused resubscribe ends the old subscription.
                self.forget(topic);
                self.reply(ServerFrame::Error(e.into_reply(r#ref)));
            }
        }
    }

    /// Ends this connection's subscription of a board or card topic, if it has one.
    fn forget(&mut self, topic: Topic) {
        if let Some(Some(board_id)) = self.subs.remove(&topic) {
            self.leave(topic, Some(board_id));
        }
    }

    /// Ends one subscription of this connection: the hub's, and its place on the board.
    fn leave(&self, topic: Topic, board: Option<Uuid>) {
        self.state.rt.hub.unsubscribe(&topic, self.conn.id);
        if let Some(board_id) = board {
            let conn = self.conn.id;
            self.state
                .rt
                .boards
                .tell(board_id, BoardMsg::Leave { conn, topic });
        }
    }

    async fn op(&mut self, f: boardroom_protocol::OpFrame) -> Flow {
        let why = "ops are sent to a board topic";
        let Some(board_id) = self.board_topic(&f.topic, f.r#ref.clone(), why) else {
            return Flow::Continue;
        };
        let Some(auth) = &self.auth else {
            return Flow::Continue;
        };
        let cmd = OpCommand {
            board_id,
            op_id: f.op_id,
            op: f.op,
            ip: self.ip,
        };
        let reply = OpReply::conn(self.conn.clone(), f.r#ref);
        match self
            .state
            .commands
            .op(Sender::Session(auth), cmd, reply)
            .await
        {
            // A client that keeps sending after `rate_limited` is closed (4008).
            Err(ErrorCode::RateLimited) => {
                self.floods += 1;
                let (_, burst) = self.state.config.limits.op_budget();
                if self.floods > burst.max(10) {
                    return Flow::Close(close::RATE_LIMITED, "too many ops after rate_limited");
                }
            }
            _ => self.floods = 0,
        }
        Flow::Continue
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
