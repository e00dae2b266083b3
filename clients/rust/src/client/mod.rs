//! [`Client`]: a session that outlives its connections.
//!
//! One task owns the socket. Callers talk to it over a channel, so a request made while the
//! connection is down simply waits: a subscription is registered and sent on the next
//! connection, an op goes to the outbox. After every (re)connection the task sends, in this
//! order, a `subscribe` with `since` (the last event applied) for every topic, then every op
//! of the outbox, oldest first, with its original `op_id`. The server replays what was
//! missed, or answers with a fresh snapshot; and answers an op it has already applied with
//! its first result instead of applying it again.

mod connection;
mod session;

use crate::error::Error;
use crate::transport::{self, AuthMode, OpenOptions, Ws};
use boardroom_protocol::{
    Codec, EventFrame, NotificationFrame, OkReply, Op, PresenceFrame, Ref, Since, Topic, Welcome,
};
use futures_util::Stream;
use std::collections::{BTreeMap, HashMap};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Where and how to connect.
#[derive(Debug, Clone)]
pub struct Options {
    /// `http://host:port` (or `ws://`) of a Boardroom server or its balancer.
    pub url: String,
    /// An access JWT, an API key (`br_…`) or a share token (`brs_…`).
    pub token: String,
    pub auth: AuthMode,
    pub codec: Codec,
    /// Sent in `hello` for the server's logs.
    pub client_name: String,
    /// The first wait before reconnecting; doubled after each failed attempt up to
    /// `reconnect_max`, with up to 50 % added at random so that many clients cut off at once
    /// do not come back at once.
    pub reconnect_min: Duration,
    pub reconnect_max: Duration,
    /// How long dialling (TCP, upgrade, `hello`, `welcome`) may take before it counts as
    /// failed.
    pub connect_timeout: Duration,
}

impl Options {
    pub fn new(url: impl Into<String>, token: impl Into<String>) -> Options {
        Options {
            url: url.into(),
            token: token.into(),
            auth: AuthMode::Hello,
            codec: Codec::Json,
            client_name: concat!("boardroom-client/", env!("CARGO_PKG_VERSION")).into(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
        }
    }

    pub fn codec(mut self, codec: Codec) -> Options {
        self.codec = codec;
        self
    }

    pub fn auth(mut self, auth: AuthMode) -> Options {
        self.auth = auth;
        self
    }

    pub fn client_name(mut self, name: impl Into<String>) -> Options {
        self.client_name = name.into();
        self
    }

    pub fn reconnect(mut self, min: Duration, max: Duration) -> Options {
        self.reconnect_min = min;
        self.reconnect_max = max.max(min);
        self
    }
}

/// What the session sees, in the order the server sent it.
#[derive(Debug, Clone)]
pub enum Event {
    /// A connection is up and authenticated (the first one, and each reconnection).
    Connected(Welcome),
    /// The connection was lost; the client is reconnecting. Ops stay in the outbox.
    Disconnected(String),
    /// A subscription is (again) in place: with `snapshot` (start over from it) or with
    /// `recovered: Some(true)` (the missed events follow at once, in order).
    Subscribed {
        topic: Topic,
        reply: OkReply,
    },
    /// The server ended a subscription (`resync`); the client has already subscribed again.
    Resync {
        topic: Topic,
        reason: String,
    },
    /// One event. Replays of events already delivered on this session are dropped.
    Event(EventFrame),
    Presence(PresenceFrame),
    Notification(NotificationFrame),
    /// The session ended for good (fatal error, see [`Error::is_fatal`]); nothing follows.
    Stopped(String),
}

/// The answer to an op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpAck {
    pub op_id: Uuid,
    /// The `seq` of the op's event (the first result's, when the op was a resend).
    pub seq: u64,
    /// The object the op created, if any.
    pub id: Option<Uuid>,
}

type Reply<T> = oneshot::Sender<Result<T, Error>>;

enum Cmd {
    Subscribe {
        topic: Topic,
        since: Option<Since>,
        reply: Reply<OkReply>,
    },
    Unsubscribe {
        topic: Topic,
        reply: Reply<()>,
    },
    /// Queue an op (and send it, when connected).
    Op(Outgoing),
    /// Renew the session's credentials (`auth`), and use them on later connections.
    Auth {
        token: String,
        reply: Reply<()>,
    },
    Outbox(oneshot::Sender<usize>),
    /// Send outbox op `n` again (its retry delay is over).
    Resend(u64),
    Close(oneshot::Sender<()>),
}

/// A handle on the session; cheap to clone. The session ends when [`Client::close`] is called
/// or every handle and the [`Events`] are dropped.
#[derive(Clone)]
pub struct Client {
    cmds: mpsc::UnboundedSender<Cmd>,
    welcome: Welcome,
}

/// The session's [`Event`]s as a stream. Unbounded, so that a slow reader never stalls the
/// session (acks keep coming): read it, or drop it to have events discarded.
pub struct Events {
    rx: mpsc::UnboundedReceiver<Event>,
}

impl Stream for Events {
    type Item = Event;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.rx.poll_recv(cx)
    }
}

impl Client {
    /// Connects and authenticates once (so a wrong URL or a refused token is an error here,
    /// not a retry loop), then runs the session in a task.
    pub async fn connect(opts: Options) -> Result<(Client, Events), Error> {
        let (ws, welcome) = dial(&opts).await?;
        let (cmds, cmd_rx) = mpsc::unbounded_channel();
        let (ev_tx, rx) = mpsc::unbounded_channel();
        let _ = ev_tx.send(Event::Connected(welcome.clone()));
        let session = Session {
            opts,
            resend: cmds.downgrade(),
            cmds: cmd_rx,
            events: ev_tx,
            subs: BTreeMap::new(),
            outbox: BTreeMap::new(),
            pending: HashMap::new(),
            next: 0,
        };
        let silence = silence_limit(&welcome);
        tokio::spawn(session.run((ws, silence)));
        Ok((Client { cmds, welcome }, Events { rx }))
    }

    /// The `welcome` of the first connection: who this session is.
    pub fn welcome(&self) -> &Welcome {
        &self.welcome
    }

    async fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Cmd) -> Result<T, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(make(tx)).map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)?
    }

    /// Subscribes to `topic`; the reply carries the snapshot. The subscription is kept across
    /// reconnections until [`Client::unsubscribe`].
    pub async fn subscribe(&self, topic: Topic) -> Result<OkReply, Error> {
        self.subscribe_since(topic, None).await
    }

    /// Subscribes, resuming after `since` (a position saved by an earlier run, say).
    pub async fn subscribe_since(
        &self,
        topic: Topic,
        since: Option<Since>,
    ) -> Result<OkReply, Error> {
        self.ask(|reply| Cmd::Subscribe {
            topic,
            since,
            reply,
        })
        .await
    }

    pub async fn unsubscribe(&self, topic: Topic) -> Result<(), Error> {
        self.ask(|reply| Cmd::Unsubscribe { topic, reply }).await
    }

    /// Applies an op on `topic` (a `board:`) with a new `op_id`; waits for its `ok`, across
    /// reconnections if need be. `unavailable` and `rate_limited` refusals are retried after
    /// the server's `retry_after_ms` with the same `op_id` (at most 25 times); any other
    /// refusal is [`Error::Server`].
    pub async fn op(&self, topic: Topic, op: Op) -> Result<OpAck, Error> {
        self.op_with_id(topic, Uuid::now_v7(), op).await
    }

    /// Applies an op with the caller's `op_id` (to make the op idempotent across restarts of
    /// the caller too).
    pub async fn op_with_id(&self, topic: Topic, op_id: Uuid, op: Op) -> Result<OpAck, Error> {
        self.ask(|reply| Cmd::Op(Outgoing::new(topic, op_id, op, reply)))
            .await
    }

    /// Renews a user session with a fresh access token before the old one expires (a session
    /// whose token expires unrenewed is closed with 4001). The new token is also what later
    /// reconnections say `hello` with. Refused (expired, another user's): [`Error::Server`],
    /// and the old token stays in use.
    pub async fn renew(&self, token: impl Into<String>) -> Result<(), Error> {
        let token = token.into();
        self.ask(|reply| Cmd::Auth { token, reply }).await
    }

    /// How many ops wait for their `ok`.
    pub async fn outbox_len(&self) -> Result<usize, Error> {
        let (tx, rx) = oneshot::channel();
        self.cmds
            .send(Cmd::Outbox(tx))
            .map_err(|_| Error::Stopped)?;
        rx.await.map_err(|_| Error::Stopped)
    }

    /// Closes the connection and ends the session; ops still in the outbox fail with
    /// [`Error::Stopped`].
    pub async fn close(&self) {
        let (tx, rx) = oneshot::channel();
        if self.cmds.send(Cmd::Close(tx)).is_ok() {
            let _ = rx.await;
        }
    }
}

async fn dial(o: &Options) -> Result<(Ws, Welcome), Error> {
    let connect = transport::connect(
        &o.url,
        &o.token,
        o.codec,
        o.auth,
        &o.client_name,
        OpenOptions::default(),
    );
    tokio::time::timeout(o.connect_timeout, connect)
        .await
        .map_err(|_| Error::Timeout(o.connect_timeout))?
}

/// How long a connection may stay silent before it counts as dead: the server pings every
/// `heartbeat_ms`, so hearing nothing for two intervals (and a little) means the network
/// dropped it without a word (a sleeping laptop, a NAT that forgot the flow).
fn silence_limit(w: &Welcome) -> Duration {
    Duration::from_millis(w.heartbeat_ms.max(100)) * 2 + Duration::from_millis(250)
}

struct Sub {
    /// The last event applied (or the snapshot's position): what a resubscribe resumes after.
    since: Option<Since>,
    waiters: Vec<Reply<OkReply>>,
}

struct Outgoing {
    topic: Topic,
    op_id: Uuid,
    op: Op,
    reply: Reply<OpAck>,
    /// How often it went out (more than once: resent after a reconnection).
    sends: u32,
    /// How often a refusal was retried.
    retries: u32,
}

impl Outgoing {
    /// An op not sent yet.
    fn new(topic: Topic, op_id: Uuid, op: Op, reply: Reply<OpAck>) -> Self {
        Outgoing {
            topic,
            op_id,
            op,
            reply,
            sends: 0,
            retries: 0,
        }
    }
}

/// Retries of an op the server refused for now (`unavailable`, `rate_limited`, or `conflict`
/// on a resend whose first copy is still being committed) before the refusal is final.
const MAX_RETRIES: u32 = 25;

/// The wait before retrying a resent op that met `conflict`: the first copy's commit.
const CONFLICT_RETRY: Duration = Duration::from_millis(200);

/// What a `ref` of this connection stands for.
enum Pending {
    Subscribe(Topic),
    Unsubscribe(Reply<()>),
    Auth(String, Reply<()>),
}

/// How a connection ended.
enum End {
    Lost(Error),
    Fatal(Error),
    /// Closed on request, or nobody is listening any more.
    Done,
}

struct Session {
    opts: Options,
    cmds: mpsc::UnboundedReceiver<Cmd>,
    /// For timers that resend ops; weak, so that the session still ends when every
    /// [`Client`] is dropped.
    resend: mpsc::WeakUnboundedSender<Cmd>,
    events: mpsc::UnboundedSender<Event>,
    subs: BTreeMap<Topic, Sub>,
    /// Keyed by the order the ops were made in; the key is also the op's `ref` (`op<n>`).
    outbox: BTreeMap<u64, Outgoing>,
    /// Refs of subscribe / unsubscribe requests on the current connection.
    pending: HashMap<Ref, Pending>,
    next: u64,
}

fn op_ref(n: u64) -> Ref {
    Ref::Str(format!("op{n}"))
}

fn op_key(r: &Ref) -> Option<u64> {
    match r {
        Ref::Str(s) => s.strip_prefix("op")?.parse().ok(),
        _ => None,
    }
}

/// `d` plus up to half of it, from the clock's low bits (no random source needed for this).
fn jitter(d: Duration) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|t| t.subsec_nanos())
        .unwrap_or(0);
    d + d.mul_f64(f64::from(nanos % 1000) / 2000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boardroom_protocol::ErrorReply;

    #[test]
    fn op_refs_round_trip() {
        assert_eq!(op_key(&op_ref(42)), Some(42));
        assert_eq!(op_key(&Ref::Str("sub3".into())), None);
        assert_eq!(op_key(&Ref::Int(3)), None);
    }

    #[test]
    fn jitter_adds_at_most_half() {
        let d = Duration::from_millis(200);
        let j = jitter(d);
        assert!(j >= d && j <= d + d / 2, "{j:?}");
    }

    #[test]
    fn fatal_errors_are_told_apart() {
        let closed = |c| Error::Closed {
            code: Some(c),
            reason: String::new(),
        };
        assert!(closed(4003).is_fatal());
        assert!(closed(4001).is_fatal());
        assert!(!closed(1001).is_fatal());
        assert!(!closed(4009).is_fatal());
        let refused = Error::Server(ErrorReply::new(
            None,
            boardroom_protocol::ErrorCode::Unauthorized,
            "bad token",
        ));
        assert!(refused.is_fatal());
        let busy = Error::Server(ErrorReply::new(
            None,
            boardroom_protocol::ErrorCode::Unavailable,
            "busy",
        ));
        assert!(!busy.is_fatal());
    }
}
