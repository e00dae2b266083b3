//! Engine.IO v4 / Socket.IO v5 framing over a WebSocket, enough for the load generator to talk
//! to a stock `socket.io` server the way its own JavaScript client does with
//! `transports: ["websocket"]` (no HTTP long-polling, no binary attachments).
//!
//! One WebSocket text frame is one Engine.IO packet: a one-digit type and its data.
//!
//! | Engine.IO | meaning |
//! |---|---|
//! | `0{json}` | open (server, first frame): `sid`, `pingInterval`, `pingTimeout`, `maxPayload` |
//! | `1` | close |
//! | `2` / `3` | ping / pong (in v4 the server pings and the client answers `3`) |
//! | `4<data>` | message: a Socket.IO packet |
//! | `6` | noop |
//!
//! A Socket.IO packet (inside a `4` message) is
//! `<type>[<attachments>-][<namespace>,][<ack id>][<json>]`, e.g. `0` connect to `/`,
//! `0{"sid":"…"}` its answer, `2["msg",{…}]` an event, `213["join","b1"]` an event asking for
//! ack 13, `313[]` that ack, `4{"message":"…"}` a connect error. The namespace is only written
//! when it is not `/`.

use anyhow::{bail, Context, Result};

/// One Engine.IO packet, borrowing the frame's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eio<'a> {
    Open(&'a str),
    Close,
    Ping(&'a str),
    Pong(&'a str),
    Message(&'a str),
    Upgrade,
    Noop,
}

pub fn decode_eio(frame: &str) -> Result<Eio<'_>> {
    let mut chars = frame.char_indices();
    let Some((_, t)) = chars.next() else {
        bail!("empty Engine.IO packet")
    };
    let data = &frame[t.len_utf8()..];
    Ok(match t {
        '0' => Eio::Open(data),
        '1' => Eio::Close,
        '2' => Eio::Ping(data),
        '3' => Eio::Pong(data),
        '4' => Eio::Message(data),
        '5' => Eio::Upgrade,
        '6' => Eio::Noop,
        other => bail!("unknown Engine.IO packet type {other:?}"),
    })
}

/// The open packet's settings we use.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Open {
    pub sid: String,
    pub ping_interval: u64,
    pub ping_timeout: u64,
    #[serde(default)]
    pub max_payload: Option<u64>,
}

pub fn parse_open(data: &str) -> Result<Open> {
    serde_json::from_str(data).context("Engine.IO open packet")
}

/// Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioType {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
}

/// One Socket.IO packet, borrowing the frame's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sio<'a> {
    pub kind: SioType,
    /// `/` unless the packet names another namespace.
    pub nsp: &'a str,
    pub id: Option<u64>,
    /// The JSON payload (an array for events and acks, an object for connect), or "".
    pub data: &'a str,
}

pub fn decode_sio(msg: &str) -> Result<Sio<'_>> {
    let b = msg.as_bytes();
    let Some(&t) = b.first() else {
        bail!("empty Socket.IO packet")
    };
    let kind = match t {
        b'0' => SioType::Connect,
        b'1' => SioType::Disconnect,
        b'2' => SioType::Event,
        b'3' => SioType::Ack,
        b'4' => SioType::ConnectError,
        b'5' => SioType::BinaryEvent,
        b'6' => SioType::BinaryAck,
        _ => bail!("unknown Socket.IO packet type {:?}", t as char),
    };
    let mut i = 1;
    if matches!(kind, SioType::BinaryEvent | SioType::BinaryAck) {
        // `<n>-`: the number of binary attachments that follow in their own frames.
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || i >= b.len() || b[i] != b'-' {
            bail!("binary packet without its attachment count");
        }
        i += 1;
    }
    let mut nsp = "/";
    if i < b.len() && b[i] == b'/' {
        let end = msg[i..].find(',').map(|j| i + j).unwrap_or(msg.len());
        nsp = &msg[i..end];
        i = (end + 1).min(msg.len());
    }
    let start = i;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    let id = if i > start {
        Some(msg[start..i].parse().context("ack id")?)
    } else {
        None
    };
    Ok(Sio {
        kind,
        nsp,
        id,
        data: &msg[i..],
    })
}

/// `40` (connect to `/`), as an Engine.IO message frame.
pub fn connect_frame() -> String {
    "40".to_string()
}

/// An event frame, `42[<id>]["name",args...]`, from the JSON text of the arguments (each
/// already a JSON value). The `/` namespace only.
pub fn event_frame(id: Option<u64>, name: &str, args: &[&str]) -> String {
    let mut s =
        String::with_capacity(8 + name.len() + args.iter().map(|a| a.len() + 1).sum::<usize>());
    s.push_str("42");
    if let Some(id) = id {
        s.push_str(&id.to_string());
    }
    s.push('[');
    s.push_str(&serde_json::to_string(name).expect("string encodes"));
    for a in args {
        s.push(',');
        s.push_str(a);
    }
    s.push(']');
    s
}

/// The pong answering a server ping (with the ping's data, if any).
pub fn pong_frame(ping_data: &str) -> String {
    format!("3{ping_data}")
}

/// The event name and the text of its first argument, from an event's JSON array data, without
/// decoding the argument: `["msg",{…}]` -> (`msg`, `{…}`).
pub fn event_name_and_arg(data: &str) -> Result<(String, &str)> {
    let inner = data
        .trim()
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .context("Socket.IO event data is not an array")?;
    let mut names = serde_json::Deserializer::from_str(inner).into_iter::<String>();
    let name = names.next().context("event without a name")??;
    let rest = inner[names.byte_offset()..].trim_start();
    if rest.is_empty() {
        return Ok((name, ""));
    }
    let rest = rest
        .strip_prefix(',')
        .context("expected `,` after the event name")?
        .trim_start();
    let mut args = serde_json::Deserializer::from_str(rest).into_iter::<serde::de::IgnoredAny>();
    args.next().context("empty event argument")??;
    Ok((name, rest[..args.byte_offset()].trim_end()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_packet() {
        let f = r#"0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#;
        let Eio::Open(data) = decode_eio(f).unwrap() else {
            panic!("not open")
        };
        let o = parse_open(data).unwrap();
        assert_eq!(o.sid, "lv_VI97HAXpY6yYWAAAC");
        assert_eq!((o.ping_interval, o.ping_timeout), (25000, 20000));
        assert_eq!(o.max_payload, Some(1_000_000));
    }

    #[test]
    fn engine_packet_types() {
        assert_eq!(decode_eio("1").unwrap(), Eio::Close);
        assert_eq!(decode_eio("2").unwrap(), Eio::Ping(""));
        assert_eq!(decode_eio("2probe").unwrap(), Eio::Ping("probe"));
        assert_eq!(decode_eio("3").unwrap(), Eio::Pong(""));
        assert_eq!(decode_eio("40").unwrap(), Eio::Message("0"));
        assert_eq!(decode_eio("6").unwrap(), Eio::Noop);
        assert!(decode_eio("").is_err());
        assert!(decode_eio("9").is_err());
        assert!(decode_eio("é").is_err());
        assert_eq!(pong_frame(""), "3");
        assert_eq!(pong_frame("probe"), "3probe");
    }

    #[test]
    fn connect_and_its_answer() {
        assert_eq!(connect_frame(), "40");
        let Eio::Message(m) = decode_eio(r#"40{"sid":"abc"}"#).unwrap() else {
            panic!()
        };
        let p = decode_sio(m).unwrap();
        assert_eq!(p.kind, SioType::Connect);
        assert_eq!(p.nsp, "/");
        assert_eq!(p.id, None);
        assert_eq!(p.data, r#"{"sid":"abc"}"#);
        let e = decode_sio(r#"4{"message":"Not authorized"}"#).unwrap();
        assert_eq!(e.kind, SioType::ConnectError);
    }

    #[test]
    fn events_with_and_without_ack_and_namespace() {
        assert_eq!(
            event_frame(None, "pub", &[r#""b1""#, r#"{"n":1}"#]),
            r#"42["pub","b1",{"n":1}]"#
        );
        assert_eq!(
            event_frame(Some(13), "join", &[r#""b1""#]),
            r#"4213["join","b1"]"#
        );
        assert_eq!(event_frame(None, "a\"b", &[]), r#"42["a\"b"]"#);

        let p = decode_sio(r#"213["join","b1"]"#).unwrap();
        assert_eq!((p.kind, p.nsp, p.id), (SioType::Event, "/", Some(13)));
        assert_eq!(p.data, r#"["join","b1"]"#);

        let p = decode_sio(r#"2/admin,7["x",1]"#).unwrap();
        assert_eq!((p.kind, p.nsp, p.id), (SioType::Event, "/admin", Some(7)));
        assert_eq!(p.data, r#"["x",1]"#);

        let p = decode_sio("313[]").unwrap();
        assert_eq!((p.kind, p.id, p.data), (SioType::Ack, Some(13), "[]"));

        let p = decode_sio("1/admin,").unwrap();
        assert_eq!((p.kind, p.nsp, p.data), (SioType::Disconnect, "/admin", ""));

        let p = decode_sio(r#"51-["up",{"_placeholder":true,"num":0}]"#).unwrap();
        assert_eq!(p.kind, SioType::BinaryEvent);
        assert!(p.data.starts_with("[\"up\""));
        assert!(decode_sio("5[]").is_err());
        assert!(decode_sio("x").is_err());
        assert!(decode_sio("").is_err());
    }

    #[test]
    fn event_arguments_are_not_decoded() {
        let (name, arg) = event_name_and_arg(r#"["msg",{"p":1,"n":2,"t":3,"x":"…"}]"#).unwrap();
        assert_eq!(name, "msg");
        assert_eq!(arg, r#"{"p":1,"n":2,"t":3,"x":"…"}"#);
        let (name, arg) = event_name_and_arg(r#"["ping"]"#).unwrap();
        assert_eq!((name.as_str(), arg), ("ping", ""));
        let (name, arg) = event_name_and_arg(r#"["two",1,2]"#).unwrap();
        assert_eq!((name.as_str(), arg), ("two", "1"));
        assert!(event_name_and_arg("{}").is_err());
    }

    #[test]
    fn round_trip_through_both_layers() {
        let frame = event_frame(Some(2), "pub", &[r#""room-9""#, r#"{"t":5}"#]);
        let Eio::Message(m) = decode_eio(&frame).unwrap() else {
            panic!()
        };
        let p = decode_sio(m).unwrap();
        assert_eq!((p.kind, p.id), (SioType::Event, Some(2)));
        let (name, arg) = event_name_and_arg(p.data).unwrap();
        assert_eq!((name.as_str(), arg), ("pub", r#""room-9""#));
    }
}
