//! One WebSocket to Boardroom and nothing more: opening it (from a chosen source address when
//! asked), the `hello` / `welcome` handshake, frames in and out. No reconnection, no
//! bookkeeping; [`crate::Client`] adds those. Programs that drive many sockets in their own
//! loops (the load generator) use these functions directly.

use crate::error::Error;
use boardroom_protocol::{
    ClientFrame, Codec, Hello, OkReply, Ref, ServerFrame, Since, Subscribe, Topic, Welcome,
};
use futures_util::{SinkExt, StreamExt};
use std::net::{IpAddr, SocketAddr};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

pub type Ws = WebSocketStream<TcpStream>;

/// How to open a socket; everything is optional.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// The `Sec-WebSocket-Protocol` to offer (`boardroom.v1.json` / `boardroom.v1.msgpack`).
    pub subprotocol: Option<String>,
    /// Sent as `Authorization: Bearer …` on the upgrade; Boardroom then welcomes at once.
    pub bearer: Option<String>,
    /// Local address to connect from (many loopback sources get past the port limit of one).
    pub source: Option<IpAddr>,
    pub config: Option<WebSocketConfig>,
}

/// `host:port` of an `http://`, `ws://` or bare `host:port` URL (port 80 when none is given).
pub fn host_port(url: &str) -> Result<String, Error> {
    let bad = |reason: &str| Error::Url {
        url: url.to_string(),
        reason: reason.to_string(),
    };
    let rest = match url.split_once("://") {
        Some(("http" | "ws", r)) => r,
        Some((scheme, _)) => {
            return Err(bad(&format!(
                "scheme {scheme:?} is not supported (plain http:// or ws:// only)"
            )))
        }
        None => url,
    };
    let hp = rest.split('/').next().unwrap_or(rest);
    if hp.is_empty() {
        return Err(bad("no host"));
    }
    Ok(if hp.contains(':') {
        hp.to_string()
    } else {
        format!("{hp}:80")
    })
}

/// Opens a WebSocket to `url` (`http://host:port`) + `path` (`/ws` for Boardroom).
pub async fn open(url: &str, path: &str, o: &OpenOptions) -> Result<Ws, Error> {
    let hp = host_port(url)?;
    let io = |source| Error::Io {
        addr: hp.clone(),
        source,
    };
    let addr: SocketAddr = tokio::net::lookup_host(&hp)
        .await
        .map_err(io)?
        .next()
        .ok_or_else(|| Error::Url {
            url: url.to_string(),
            reason: format!("{hp} does not resolve"),
        })?;
    let sock = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .map_err(io)?;
    if let Some(ip) = o.source {
        sock.bind(SocketAddr::new(ip, 0)).map_err(io)?;
    }
    let stream = sock.connect(addr).await.map_err(io)?;
    stream.set_nodelay(true).map_err(io)?;
    let mut req = format!("ws://{hp}{path}").into_client_request()?;
    let header = |v: &str| {
        HeaderValue::from_str(v).map_err(|_| Error::Url {
            url: url.to_string(),
            reason: "a header value holds characters HTTP does not allow".into(),
        })
    };
    if let Some(p) = &o.subprotocol {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", header(p)?);
    }
    if let Some(t) = &o.bearer {
        req.headers_mut()
            .insert("Authorization", header(&format!("Bearer {t}"))?);
    }
    let (ws, _) = tokio_tungstenite::client_async_with_config(req, stream, o.config).await?;
    Ok(ws)
}

/// A frame as the WebSocket message of `codec`: text for JSON, binary for MessagePack.
pub fn message(codec: Codec, f: &ClientFrame) -> Result<Message, Error> {
    let bytes = codec.encode_client(f)?;
    Ok(if codec.is_binary() {
        Message::Binary(bytes.into())
    } else {
        // JSON encodes to UTF-8; should it ever not, the lossy form fails to decode on the
        // server and comes back as a `bad_request`, never a panic here.
        Message::Text(String::from_utf8_lossy(&bytes).into_owned().into())
    })
}

pub async fn send(ws: &mut Ws, codec: Codec, f: &ClientFrame) -> Result<(), Error> {
    ws.send(message(codec, f)?).await?;
    Ok(())
}

/// A protocol frame of a message, `None` for pings, pongs and other control frames; a close
/// is [`Error::Closed`].
pub fn decode(codec: Codec, msg: Message) -> Result<Option<ServerFrame>, Error> {
    match msg {
        Message::Text(t) => Ok(Some(codec.decode_server(t.as_bytes())?)),
        Message::Binary(b) => Ok(Some(codec.decode_server(&b)?)),
        Message::Close(c) => Err(closed(c)),
        _ => Ok(None),
    }
}

fn closed(c: Option<tokio_tungstenite::tungstenite::protocol::CloseFrame>) -> Error {
    match c {
        Some(c) => Error::Closed {
            code: Some(u16::from(c.code)),
            reason: c.reason.to_string(),
        },
        None => Error::Closed {
            code: None,
            reason: String::new(),
        },
    }
}

/// The next protocol frame, fully decoded.
pub async fn recv(ws: &mut Ws, codec: Codec) -> Result<ServerFrame, Error> {
    loop {
        match ws.next().await {
            Some(Ok(m)) => {
                if let Some(f) = decode(codec, m)? {
                    return Ok(f);
                }
            }
            Some(Err(e)) => return Err(e.into()),
            None => return Err(closed(None)),
        }
    }
}

/// How the session proves who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AuthMode {
    /// A `hello` frame carrying the token: works through any proxy.
    #[default]
    Hello,
    /// `Authorization: Bearer` on the upgrade request; the server welcomes at once.
    Bearer,
}

/// Opens a Boardroom session: the upgrade with the codec's subprotocol, the token (as `hello`
/// or as a header), then `welcome`. A refused token is [`Error::Server`] (`unauthorized`).
pub async fn connect(
    url: &str,
    token: &str,
    codec: Codec,
    auth: AuthMode,
    client_name: &str,
    mut o: OpenOptions,
) -> Result<(Ws, Welcome), Error> {
    o.subprotocol = Some(codec.subprotocol().to_string());
    if auth == AuthMode::Bearer {
        o.bearer = Some(token.to_string());
    }
    let mut ws = open(url, "/ws", &o).await?;
    if auth == AuthMode::Hello {
        let hello = ClientFrame::Hello(Hello {
            r#ref: None,
            token: token.to_string(),
            client: Some(client_name.to_string()),
        });
        send(&mut ws, codec, &hello).await?;
    }
    loop {
        match recv(&mut ws, codec).await? {
            ServerFrame::Welcome(w) => return Ok((ws, w)),
            ServerFrame::Error(e) => return Err(Error::Server(e)),
            _ => continue,
        }
    }
}

/// Subscribes and waits for the answer, skipping whatever else arrives meanwhile (for
/// handshakes; a [`crate::Client`] keeps every frame).
pub async fn subscribe(
    ws: &mut Ws,
    codec: Codec,
    topic: Topic,
    since: Option<Since>,
    r: Ref,
) -> Result<OkReply, Error> {
    let f = ClientFrame::Subscribe(Subscribe {
        r#ref: Some(r.clone()),
        topic,
        since,
    });
    send(ws, codec, &f).await?;
    loop {
        match recv(ws, codec).await? {
            ServerFrame::Ok(ok) if ok.r#ref.as_ref() == Some(&r) => return Ok(ok),
            ServerFrame::Error(e) if e.r#ref.as_ref() == Some(&r) => return Err(Error::Server(e)),
            _ => continue,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_port() {
        assert_eq!(
            host_port("http://127.0.0.1:8080").unwrap(),
            "127.0.0.1:8080"
        );
        assert_eq!(host_port("ws://h:1/ws").unwrap(), "h:1");
        assert_eq!(host_port("http://h").unwrap(), "h:80");
        assert_eq!(host_port("h:9").unwrap(), "h:9");
        assert!(host_port("http://").is_err());
        assert!(matches!(
            host_port("https://h"),
            Err(Error::Url { reason, .. }) if reason.contains("not supported")
        ));
    }
}
