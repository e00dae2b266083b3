//! A WebSocket client speaking protocol v1 over a real socket, for the real-time tests.

use boardroom_protocol::{
    ClientFrame, Codec, ErrorReply, NotificationFrame, OkReply, Ref, ServerFrame, Since, Subscribe,
    Topic,
};
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use uuid::Uuid;

pub struct Ws {
    pub codec: Codec,
    stream: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

/// How a connection ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Closed {
    Code(u16),
    NoCode,
}

impl Ws {
    pub async fn connect(base: &str, codec: Codec) -> Ws {
        Self::connect_with(base, codec, None).await
    }

    pub async fn connect_with(base: &str, codec: Codec, bearer: Option<&str>) -> Ws {
        let url = format!("{}/ws", base.replacen("http://", "ws://", 1));
        let mut req = url.into_client_request().expect("ws request");
        req.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            codec.subprotocol().parse().expect("header"),
        );
        if let Some(t) = bearer {
            req.headers_mut().insert(
                "Authorization",
                format!("Bearer {t}").parse().expect("header"),
            );
        }
        let (stream, resp) = tokio_tungstenite::connect_async(req)
            .await
            .expect("ws connect");
        let chosen = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        assert_eq!(
            chosen.as_deref(),
            Some(codec.subprotocol()),
            "server must echo the subprotocol"
        );
        Ws { codec, stream }
    }

    pub async fn send(&mut self, frame: ClientFrame) {
        let bytes = self.codec.encode_client(&frame).expect("encode");
        self.send_raw(bytes).await;
    }

    /// Sends a frame; an error (the server is gone) instead of a panic.
    pub async fn try_send(&mut self, frame: &ClientFrame) -> Result<(), String> {
        let bytes = self.codec.encode_client(frame).map_err(|e| e.to_string())?;
        let msg = if self.codec.is_binary() {
            Message::Binary(bytes.into())
        } else {
            Message::Text(String::from_utf8(bytes).map_err(|e| e.to_string())?.into())
        };
        self.stream.send(msg).await.map_err(|e| e.to_string())
    }

    /// Sends bytes as the frame type of this connection's encoding.
    pub async fn send_raw(&mut self, bytes: Vec<u8>) {
        let msg = if self.codec.is_binary() {
            Message::Binary(bytes.into())
        } else {
            Message::Text(String::from_utf8(bytes).expect("utf8").into())
        };
        self.stream.send(msg).await.expect("ws send");
    }

    pub async fn send_json(&mut self, v: serde_json::Value) {
        self.stream
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("ws send");
    }

    /// The next protocol frame (pings are skipped); panics after 10 s or on close.
    pub async fn recv(&mut self) -> ServerFrame {
        match self.next(Duration::from_secs(10)).await {
            Ok(f) => f,
            Err(c) => panic!("connection closed while waiting for a frame: {c:?}"),
        }
    }

    /// The next frame within `wait`, or how the connection closed. A timeout panics.
    pub async fn next(&mut self, wait: Duration) -> Result<ServerFrame, Closed> {
        loop {
            let msg = tokio::time::timeout(wait, self.stream.next())
                .await
                .expect("timed out waiting for a frame");
            match msg {
                Some(Ok(Message::Text(t))) => {
                    return Ok(self.codec.decode_server(t.as_bytes()).expect("decode"))
                }
                Some(Ok(Message::Binary(b))) => {
                    return Ok(self.codec.decode_server(&b).expect("decode"))
                }
                Some(Ok(Message::Close(c))) => {
                    return Err(c
                        .map(|c| Closed::Code(u16::from(c.code)))
                        .unwrap_or(Closed::NoCode));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Closed::NoCode),
            }
        }
    }

    /// Subscribes to `topic` (as ref `r`, from `since`) and returns the answer: the first
    /// `ok` or `error` (frames before it are passed over).
    pub async fn subscribe_answer(
        &mut self,
        r: i64,
        topic: Topic,
        since: Option<Since>,
    ) -> ServerFrame {
        self.send(ClientFrame::Subscribe(Subscribe {
            r#ref: Some(Ref::Int(r)),
            topic,
            since,
        }))
        .await;
        self.next_answer().await
    }

    /// The next `ok` or `error` (frames before it are passed over).
    pub async fn next_answer(&mut self) -> ServerFrame {
        self.recv_until(|f| matches!(f, ServerFrame::Ok(_) | ServerFrame::Error(_)))
            .await
            .0
    }

    /// Frames until one matches; the ones before it are returned too.
    pub async fn recv_until(
        &mut self,
        mut pred: impl FnMut(&ServerFrame) -> bool,
    ) -> (ServerFrame, Vec<ServerFrame>) {
        let mut skipped = Vec::new();
        loop {
            let f = self.recv().await;
            if pred(&f) {
                return (f, skipped);
            }
            skipped.push(f);
        }
    }

    /// The `ok` with `ref` r (frames before it are passed over); an `error` for r fails the
    /// test.
    pub async fn ok_to(&mut self, r: i64) -> OkReply {
        match self.answer_to(r).await {
            ServerFrame::Ok(ok) => ok,
            other => panic!("expected ok to ref {r}, got {other:?}"),
        }
    }

    /// The `error` with `ref` r (frames before it are passed over); an `ok` for r fails the
    /// test.
    pub async fn error_to(&mut self, r: i64) -> ErrorReply {
        match self.answer_to(r).await {
            ServerFrame::Error(e) => e,
            other => panic!("expected an error to ref {r}, got {other:?}"),
        }
    }

    /// Reads until `n` ops are acknowledged with a seq (other frames are passed over); an
    /// `error` fails the test.
    pub async fn until_applied(&mut self, n: usize) {
        let mut applied = 0;
        while applied < n {
            match self.recv().await {
                ServerFrame::Ok(ok) if ok.seq.is_some() => applied += 1,
                ServerFrame::Error(e) => panic!("an op failed: {e:?}"),
                _ => {}
            }
        }
    }

    /// The `ok` or `error` with `ref` r (frames before it are passed over).
    pub async fn answer_to(&mut self, r: i64) -> ServerFrame {
        let is_r = |x: &Option<Ref>| *x == Some(Ref::Int(r));
        let answers = |f: &ServerFrame| match f {
            ServerFrame::Ok(ok) => is_r(&ok.r#ref),
            ServerFrame::Error(e) => is_r(&e.r#ref),
            _ => false,
        };
        self.recv_until(answers).await.0
    }

    /// The next notification (frames before it are passed over).
    pub async fn notification(&mut self) -> NotificationFrame {
        match self
            .recv_until(|f| matches!(f, ServerFrame::Notification(_)))
            .await
            .0
        {
            ServerFrame::Notification(n) => n,
            _ => unreachable!("recv_until returned a frame it was not waiting for"),
        }
    }

    /// Reads until the server closes; returns the close code.
    pub async fn closed(&mut self) -> Closed {
        loop {
            match self.next(Duration::from_secs(15)).await {
                Ok(_) => continue,
                Err(c) => return c,
            }
        }
    }

    /// The next frame within `wait` (`Ok(None)` when none came), or how the connection
    /// ended: for clients that must tell a quiet socket from a dead server.
    pub async fn poll(&mut self, wait: Duration) -> Result<Option<ServerFrame>, Closed> {
        let Ok(msg) = tokio::time::timeout(wait, self.stream.next()).await else {
            return Ok(None);
        };
        match msg {
            Some(Ok(Message::Text(t))) => Ok(self.codec.decode_server(t.as_bytes()).ok()),
            Some(Ok(Message::Binary(b))) => Ok(self.codec.decode_server(&b).ok()),
            Some(Ok(Message::Close(c))) => Err(c
                .map(|c| Closed::Code(u16::from(c.code)))
                .unwrap_or(Closed::NoCode)),
            Some(Ok(_)) => Ok(None),
            Some(Err(_)) | None => Err(Closed::NoCode),
        }
    }

    /// Asserts nothing arrives for `wait`.
    pub async fn quiet(&mut self, wait: Duration) -> Option<ServerFrame> {
        match tokio::time::timeout(wait, self.stream.next()).await {
            Err(_) => None,
            Ok(Some(Ok(Message::Text(t)))) => {
                Some(self.codec.decode_server(t.as_bytes()).expect("decode"))
            }
            Ok(Some(Ok(Message::Binary(b)))) => Some(self.codec.decode_server(&b).expect("decode")),
            Ok(_) => None,
        }
    }

    /// Connects with the token in the `Authorization` header and waits for the `welcome`.
    pub async fn welcomed(base: &str, token: &str) -> Ws {
        let mut ws = Ws::connect_with(base, Codec::Json, Some(token)).await;
        match ws.recv().await {
            ServerFrame::Welcome(_) => ws,
            other => panic!("expected welcome, got {other:?}"),
        }
    }

    /// Sends `frame` (JSON) with `ref` r and returns the `ok` or `error` that answers it.
    pub async fn ask(&mut self, r: i64, frame: serde_json::Value) -> ServerFrame {
        let mut v = frame;
        v["ref"] = serde_json::json!(r);
        self.send_json(v).await;
        self.answer_to(r).await
    }
}

/// A `card.create` op frame with `ref` r: the op most real-time tests send to make traffic.
pub fn card_create(r: i64, board: Uuid, column: Uuid, op_id: Uuid, title: &str) -> ClientFrame {
    serde_json::from_value(json!({
        "type": "op", "ref": r, "topic": format!("board:{board}"), "op_id": op_id,
        "kind": "card.create", "data": {"column_id": column, "title": title}
    }))
    .expect("a card.create frame")
}
