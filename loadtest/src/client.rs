//! The client machinery shared by every scenario and every server: opening WebSockets (bound to
//! a chosen loopback source address when asked), the handshakes of Boardroom, the bare peer and
//! Socket.IO, the publish frames, and the cheap parsing of deliveries. Sockets, frames and the
//! Boardroom handshake are the client crate's (`boardroom_client::transport`); what stays here
//! is load-generator business: the peers' handshakes and the allocation-light parsing of
//! deliveries on the hot path.
//!
//! Every published message carries its scheduled send time (`now_us`) and a sequence number,
//! so a subscriber measures latency and loss from the frame alone, whatever the server:
//!
//! | server | publish | delivery | stream, seq |
//! |---|---|---|---|
//! | Boardroom, `--path op` | `op` `card.update`, `title` = send time | `event` `card.updated` | the board, its `seq` |
//! | Boardroom, `--path presence` | `presence.set`, `state.lt` = `[publisher, n, time]` | `presence` | publisher × board, `n` |
//! | bare peer | `pub <room> <json>` | the json, verbatim | publisher × board, `n` |
//! | Socket.IO | `42["pub",room,{json}]` | `42["msg",{json}]` | publisher × board, `n` |

use crate::engineio::{self, Eio, SioType};
use anyhow::{bail, Context, Result};
use boardroom_client::transport::{self, AuthMode, OpenOptions};
use boardroom_protocol::{ClientFrame, Codec, Ref, Topic};
use futures_util::{SinkExt, StreamExt};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use uuid::Uuid;

/// A plain WebSocket (the client crate's).
pub use boardroom_client::Ws;

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerKind {
    Boardroom,
    /// `bare-peer`: tokio + tungstenite broadcast, no auth, no actors, no persistence.
    Bare,
    /// `loadtest/peers/socketio` (Node.js, socket.io).
    Socketio,
}

impl ServerKind {
    pub fn name(self) -> &'static str {
        match self {
            ServerKind::Boardroom => "boardroom",
            ServerKind::Bare => "bare",
            ServerKind::Socketio => "socketio",
        }
    }
}

/// Which Boardroom path a fanout measures (the peers have only one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PathKind {
    /// Durable: `card.update` ops (journal, group commit with `durability = commit`).
    Op,
    /// Ephemeral: `presence.set`.
    Presence,
}

impl PathKind {
    pub fn name(self) -> &'static str {
        match self {
            PathKind::Op => "op",
            PathKind::Presence => "presence",
        }
    }
}

/// `host:port` of an `http://` or `ws://` URL.
pub use boardroom_client::transport::host_port;

/// Tungstenite settings for load-generator sockets: small buffers, so that tens of thousands
/// of idle connections fit in one process.
pub fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(16 * 1024)
        .write_buffer_size(0)
}

/// Opens a WebSocket to `url` (`http://host:port`) + `path`, from `source` when given.
pub async fn open_ws(
    url: &str,
    path: &str,
    subprotocol: Option<&str>,
    source: Option<IpAddr>,
) -> Result<Ws> {
    let o = OpenOptions {
        subprotocol: subprotocol.map(String::from),
        source,
        config: Some(ws_config()),
        ..OpenOptions::default()
    };
    Ok(transport::open(url, path, &o).await?)
}

fn text(s: String) -> Message {
    Message::Text(s.into())
}

/// Boardroom: a logged-in user and the codec for every socket.
#[derive(Debug, Clone)]
pub struct BoardroomAuth {
    pub url: String,
    pub token: String,
    pub codec: Codec,
}

pub async fn br_send(ws: &mut Ws, codec: Codec, f: &ClientFrame) -> Result<()> {
    Ok(transport::send(ws, codec, f).await?)
}

pub fn br_message(codec: Codec, f: &ClientFrame) -> Result<Message> {
    Ok(transport::message(codec, f)?)
}

/// Opens a Boardroom session: upgrade, `hello`, `welcome` (the client crate's handshake).
pub async fn br_connect(a: &BoardroomAuth, source: Option<IpAddr>) -> Result<Ws> {
    let o = OpenOptions {
        source,
        config: Some(ws_config()),
        ..OpenOptions::default()
    };
    let (ws, _) = transport::connect(
        &a.url,
        &a.token,
        a.codec,
        AuthMode::Hello,
        "boardroom-loadtest",
        o,
    )
    .await
    .context("Boardroom hello")?;
    Ok(ws)
}

/// Subscribes to a board; returns the `seq` of the `ok` (events follow from `seq + 1`).
pub async fn br_subscribe(ws: &mut Ws, codec: Codec, board: Uuid, r: &str) -> Result<u64> {
    let ok = transport::subscribe(ws, codec, Topic::Board(board), None, Ref::Str(r.into()))
        .await
        .context("subscribe")?;
    Ok(ok.seq.unwrap_or(0))
}

/// The room name of board `i` on the peers.
pub fn room(i: usize) -> String {
    format!("b{i}")
}

/// Bare peer: upgrade, and `sub <room>` -> `ok <room>` when a room is given.
pub async fn bare_connect(url: &str, room: Option<&str>, source: Option<IpAddr>) -> Result<Ws> {
    let mut ws = open_ws(url, "/", None, source).await?;
    if let Some(room) = room {
        ws.send(text(format!("sub {room}"))).await?;
        let want = format!("ok {room}");
        loop {
            match ws.next().await {
                Some(Ok(Message::Text(t))) if t.as_str() == want => break,
                Some(Ok(Message::Close(c))) => bail!("closed by the bare peer: {c:?}"),
                Some(Ok(_)) => continue,
                Some(Err(e)) => return Err(e.into()),
                None => bail!("connection ended"),
            }
        }
    }
    Ok(ws)
}

/// Socket.IO: upgrade with `EIO=4&transport=websocket`, the open packet, `40` -> `40{sid}`,
/// and `join` with an ack when a room is given.
pub async fn sio_connect(url: &str, room: Option<&str>, source: Option<IpAddr>) -> Result<Ws> {
    let mut ws = open_ws(url, "/socket.io/?EIO=4&transport=websocket", None, source).await?;
    let mut opened = false;
    let mut connected = false;
    ws.send(text(engineio::connect_frame())).await?;
    loop {
        let t = match ws.next().await {
            Some(Ok(Message::Text(t))) => t,
            Some(Ok(Message::Close(c))) => bail!("closed by the Socket.IO server: {c:?}"),
            Some(Ok(_)) => continue,
            Some(Err(e)) => return Err(e.into()),
            None => bail!("connection ended"),
        };
        match engineio::decode_eio(t.as_str())? {
            Eio::Open(data) => {
                engineio::parse_open(data)?;
                opened = true;
            }
            Eio::Ping(d) => ws.send(text(engineio::pong_frame(d))).await?,
            Eio::Message(m) => {
                let p = engineio::decode_sio(m)?;
                match p.kind {
                    SioType::Connect => {
                        connected = true;
                        let Some(room) = room else { break };
                        // Only now: a packet for the namespace sent before the server has
                        // finished connecting the socket to it would be dropped.
                        ws.send(text(engineio::event_frame(
                            Some(0),
                            "join",
                            &[&serde_json::to_string(room)?],
                        )))
                        .await?;
                    }
                    SioType::ConnectError => bail!("Socket.IO connect refused: {}", p.data),
                    SioType::Ack if p.id == Some(0) => break,
                    _ => {}
                }
            }
            Eio::Close => bail!("Socket.IO server closed the session"),
            _ => {}
        }
    }
    if !(opened && connected) {
        bail!("Socket.IO handshake incomplete");
    }
    Ok(ws)
}

/// The JSON body of a peer message; `x` pads it to a chosen size.
pub fn peer_payload(publisher: usize, board: usize, n: u64, t_us: u64, pad: &str) -> String {
    format!(r#"{{"p":{publisher},"b":{board},"n":{n},"t":{t_us},"x":"{pad}"}}"#)
}

/// The stream id of one publisher's messages to one board.
pub fn stream_of(publisher: usize, board: usize, boards: usize) -> u64 {
    (publisher * boards + board) as u64
}

/// What a subscriber makes of one incoming frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A measured message: its stream, sequence and scheduled send time (`now_us`).
    Delivery { stream: u64, seq: u64, sent_us: u64 },
    /// A Socket.IO ping to answer with this frame.
    Reply(String),
    /// Anything else (acks, joins of other users, …).
    Other,
}

#[derive(Deserialize)]
struct PeerMsg {
    p: u64,
    b: u64,
    n: u64,
    t: u64,
}

#[derive(Deserialize)]
struct BrLight<'a> {
    #[serde(rename = "type", borrow)]
    ty: Cow<'a, str>,
    #[serde(default)]
    seq: Option<u64>,
    #[serde(default, borrow)]
    data: Option<BrData<'a>>,
    #[serde(default, borrow)]
    joins: Option<BTreeMap<Cow<'a, str>, BrJoin>>,
}

#[derive(Deserialize)]
struct BrData<'a> {
    #[serde(default, borrow)]
    card: Option<BrCard<'a>>,
}

#[derive(Deserialize)]
struct BrCard<'a> {
    #[serde(default, borrow)]
    title: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct BrJoin {
    #[serde(default)]
    state: Option<BrState>,
}

#[derive(Deserialize)]
struct BrState {
    #[serde(default)]
    lt: Option<(u64, u64, u64)>,
}

/// A Boardroom title carrying a send time: `lt<micros>`.
pub fn stamp_title(t_us: u64) -> String {
    format!("lt{t_us}")
}

fn parse_peer(json: &str, boards: usize) -> Result<Incoming> {
    let m: PeerMsg = serde_json::from_str(json)?;
    Ok(Incoming::Delivery {
        stream: stream_of(m.p as usize, m.b as usize, boards),
        seq: m.n,
        sent_us: m.t,
    })
}

fn parse_boardroom(f: BrLight<'_>, board: usize, boards: usize) -> Incoming {
    match f.ty.as_ref() {
        "event" => {
            let t = f
                .data
                .and_then(|d| d.card)
                .and_then(|c| c.title)
                .and_then(|t| t.strip_prefix("lt").and_then(|x| x.parse().ok()));
            match (f.seq, t) {
                (Some(seq), Some(sent_us)) => Incoming::Delivery {
                    stream: board as u64,
                    seq,
                    sent_us,
                },
                _ => Incoming::Other,
            }
        }
        "presence" => {
            let lt = f
                .joins
                .and_then(|j| j.into_values().next())
                .and_then(|e| e.state)
                .and_then(|s| s.lt);
            match lt {
                Some((p, n, t)) => Incoming::Delivery {
                    stream: stream_of(p as usize, board, boards),
                    seq: n,
                    sent_us: t,
                },
                None => Incoming::Other,
            }
        }
        _ => Incoming::Other,
    }
}

/// Parses one incoming frame of a subscriber of `board` (index) out of `boards`.
pub fn parse_delivery(
    kind: ServerKind,
    codec: Codec,
    msg: &Message,
    board: usize,
    boards: usize,
) -> Result<Incoming> {
    match (kind, msg) {
        (ServerKind::Boardroom, Message::Text(t)) if !codec.is_binary() => Ok(parse_boardroom(
            serde_json::from_str(t.as_str())?,
            board,
            boards,
        )),
        (ServerKind::Boardroom, Message::Binary(b)) if codec.is_binary() => {
            Ok(parse_boardroom(rmp_serde::from_slice(b)?, board, boards))
        }
        (ServerKind::Bare, Message::Text(t)) => parse_peer(t.as_str(), boards),
        (ServerKind::Socketio, Message::Text(t)) => {
            let s = t.as_str();
            // The hot path: `42["msg",{…}]`.
            if let Some(arg) = s
                .strip_prefix(r#"42["msg","#)
                .and_then(|r| r.strip_suffix(']'))
            {
                return parse_peer(arg, boards);
            }
            match engineio::decode_eio(s)? {
                Eio::Ping(d) => Ok(Incoming::Reply(engineio::pong_frame(d))),
                Eio::Message(m) => {
                    let p = engineio::decode_sio(m)?;
                    if p.kind == SioType::Event {
                        let (name, arg) = engineio::event_name_and_arg(p.data)?;
                        if name == "msg" {
                            return parse_peer(arg, boards);
                        }
                    }
                    Ok(Incoming::Other)
                }
                _ => Ok(Incoming::Other),
            }
        }
        _ => Ok(Incoming::Other),
    }
}

/// The size of a frame's payload.
pub fn frame_len(msg: &Message) -> usize {
    match msg {
        Message::Text(t) => t.len(),
        Message::Binary(b) => b.len(),
        _ => 0,
    }
}

/// A close frame's code as an error key (`closed 4009`), or `closed` without one.
pub fn close_key(msg: &Message) -> String {
    match msg {
        Message::Close(Some(c)) => format!("closed {}", u16::from(c.code)),
        _ => "closed".into(),
    }
}

/// Waits for the TCP port of `url` to accept connections.
pub async fn wait_for_port(url: &str, timeout: Duration) -> Result<()> {
    let hp = host_port(url)?;
    let until = std::time::Instant::now() + timeout;
    loop {
        if TcpStream::connect(&hp).await.is_ok() {
            return Ok(());
        }
        if std::time::Instant::now() > until {
            bail!("{hp} did not accept connections within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A measured message, as `parse_delivery` should read it.
    fn delivery(stream: u64, seq: u64, sent_us: u64) -> Incoming {
        Incoming::Delivery {
            stream,
            seq,
            sent_us,
        }
    }

    #[test]
    fn peer_messages_parse_on_both_peers() {
        let body = peer_payload(3, 1, 42, 123_456, "xx");
        let want = delivery(stream_of(3, 1, 4), 42, 123_456);
        let bare = Message::Text(body.clone().into());
        assert_eq!(
            parse_delivery(ServerKind::Bare, Codec::Json, &bare, 1, 4).unwrap(),
            want
        );
        let sio = Message::Text(format!(r#"42["msg",{body}]"#).into());
        assert_eq!(
            parse_delivery(ServerKind::Socketio, Codec::Json, &sio, 1, 4).unwrap(),
            want
        );
        // The slow path: with an ack id.
        let sio = Message::Text(format!(r#"425["msg",{body}]"#).into());
        assert_eq!(
            parse_delivery(ServerKind::Socketio, Codec::Json, &sio, 1, 4).unwrap(),
            want
        );
        let ping = Message::Text("2".into());
        assert_eq!(
            parse_delivery(ServerKind::Socketio, Codec::Json, &ping, 1, 4).unwrap(),
            Incoming::Reply("3".into())
        );
    }

    #[test]
    fn boardroom_events_and_presence_parse() {
        let ev = r#"{"type":"event","topic":"board:0190b6d2-8f3c-7a41-9c2e-5d6f7a8b9c0d","epoch":1,"seq":17,"kind":"card.updated","data":{"card":{"id":"x","title":"lt999","labels":["a"],"comments":[]}},"actor":{"kind":"user","id":"u","name":"A \"b\""},"op_id":"o","at":"t"}"#;
        let m = Message::Text(ev.into());
        assert_eq!(
            parse_delivery(ServerKind::Boardroom, Codec::Json, &m, 2, 5).unwrap(),
            delivery(2, 17, 999)
        );
        let pr = r#"{"type":"presence","topic":"board:x","joins":{"u1":{"name":"A","state":{"focus":null,"editing":false,"lt":[1,7,55]}}},"leaves":{}}"#;
        let m = Message::Text(pr.into());
        assert_eq!(
            parse_delivery(ServerKind::Boardroom, Codec::Json, &m, 2, 5).unwrap(),
            delivery(stream_of(1, 2, 5), 7, 55)
        );
        // Someone else's presence, an ok: not measured.
        let m = Message::Text(r#"{"type":"presence","topic":"board:x","joins":{},"leaves":{"u":{"name":"A","state":{}}}}"#.into());
        assert_eq!(
            parse_delivery(ServerKind::Boardroom, Codec::Json, &m, 0, 1).unwrap(),
            Incoming::Other
        );
        let m = Message::Text(r#"{"type":"ok","ref":3,"seq":4}"#.into());
        assert_eq!(
            parse_delivery(ServerKind::Boardroom, Codec::Json, &m, 0, 1).unwrap(),
            Incoming::Other
        );
    }

    #[test]
    fn boardroom_msgpack_events_parse() {
        let ev = serde_json::json!({"type":"event","seq":3,"data":{"card":{"title":"lt77"}}});
        let bytes = rmp_serde::to_vec_named(&ev).unwrap();
        let m = Message::Binary(bytes.into());
        assert_eq!(
            parse_delivery(ServerKind::Boardroom, Codec::MsgPack, &m, 0, 1).unwrap(),
            delivery(0, 3, 77)
        );
    }
}
