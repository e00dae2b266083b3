//! JSON and MessagePack encodings of the frames (PROTOCOL.md, "WebSocket transport").
//!
//! Both encodings carry the same structures. MessagePack uses maps with string keys (never
//! positional arrays) and the human-readable forms of ids and timestamps (UUID and RFC 3339
//! strings), so a frame means the same thing in either encoding and a bot can switch
//! encodings without changing its model.

use crate::codes::ErrorCode;
use crate::frames::{
    Auth, ClientFrame, ErrorReply, Hello, NotificationsRead, Ping, PresenceSet, ServerFrame,
    Subscribe, Unsubscribe,
};
use crate::op::Op;
use crate::refs::Ref;
use crate::shape;
use crate::topic::Topic;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;
use std::io::Cursor;
use uuid::Uuid;

/// Nesting deeper than this is refused in MessagePack; it matches serde_json's own limit so
/// the two encodings accept the same frames.
const MAX_DEPTH: usize = 128;

/// The encoding of a connection, fixed at the upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Codec {
    #[default]
    Json,
    MsgPack,
}

/// Why bytes could not be read as a frame. Always answered with `bad_request`; the message
/// says what is wrong in words a client developer can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DecodeError {
    pub kind: DecodeErrorKind,
    pub message: String,
    /// The frame's `ref` when it could still be read, so the `error` reply can carry it
    /// (a client waiting on that ref then learns its request failed instead of timing out).
    pub r#ref: Option<Ref>,
    /// Where in the frame the problem is, as a dotted path (`data.title`, `since.seq`), when
    /// it could be located. Goes into the `field` of the `error` reply.
    pub field: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DecodeErrorKind {
    /// Not JSON / not MessagePack at all, or trailing bytes after the frame.
    Syntax,
    /// Well-formed, but not a frame of this protocol: unknown `type` or op `kind`, a missing
    /// or unknown field, a wrong type, a bad topic or id.
    Shape,
}

impl DecodeError {
    /// Always `bad_request`: the client sent something the protocol does not allow.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::BadRequest
    }

    /// The `error` frame that answers the bad frame.
    pub fn to_reply(&self) -> ErrorReply {
        let mut reply = ErrorReply::new(self.r#ref.clone(), self.code(), self.message.clone());
        reply.field = self.field.clone();
        reply
    }
}

/// Failure to encode: only possible for values that cannot be represented (never for the
/// frames of this crate), kept as an error rather than a panic all the same.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode frame: {0}")]
pub struct EncodeError(pub String);

/// Reads only the `ref` of a frame that failed to decode.
#[derive(Deserialize)]
struct RefOnly {
    #[serde(rename = "ref", default)]
    r#ref: Option<Ref>,
}

impl Codec {
    pub const JSON_SUBPROTOCOL: &'static str = "boardroom.v1.json";
    pub const MSGPACK_SUBPROTOCOL: &'static str = "boardroom.v1.msgpack";

    /// The codec of a `Sec-WebSocket-Protocol` name.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        match name.trim() {
            Self::JSON_SUBPROTOCOL => Some(Codec::Json),
            Self::MSGPACK_SUBPROTOCOL => Some(Codec::MsgPack),
            _ => None,
        }
    }

    /// The codec of an `?encoding=` value.
    pub fn from_query(encoding: &str) -> Option<Codec> {
        match encoding {
            "json" => Some(Codec::Json),
            "msgpack" => Some(Codec::MsgPack),
            _ => None,
        }
    }

    /// Picks the codec for an upgrade: the first offered subprotocol we speak (offers come as
    /// one or more comma-separated `Sec-WebSocket-Protocol` values), else `?encoding=`, else
    /// JSON. Returns the subprotocol to echo in the response, if one was chosen from the
    /// offers (a server must not echo one the client did not offer).
    pub fn negotiate<'a>(
        offered: impl IntoIterator<Item = &'a str>,
        query_encoding: Option<&str>,
    ) -> (Codec, Option<&'static str>) {
        for header in offered {
            for name in header.split(',') {
                if let Some(c) = Codec::from_subprotocol(name) {
                    return (c, Some(c.subprotocol()));
                }
            }
        }
        let codec = query_encoding
            .and_then(Codec::from_query)
            .unwrap_or(Codec::Json);
        (codec, None)
    }

    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => Self::JSON_SUBPROTOCOL,
            Codec::MsgPack => Self::MSGPACK_SUBPROTOCOL,
        }
    }

    /// JSON goes in text frames, MessagePack in binary frames.
    pub fn is_binary(self) -> bool {
        self == Codec::MsgPack
    }

    /// Encodes a server frame. Encoding our own frames cannot fail; should it ever, the
    /// client gets an `internal` error frame rather than the server panicking.
    pub fn encode(self, frame: &ServerFrame) -> Vec<u8> {
        self.try_encode(frame).unwrap_or_else(|e| {
            let fallback = ServerFrame::Error(ErrorReply::new(
                frame.r#ref().cloned(),
                ErrorCode::Internal,
                e.to_string(),
            ));
            self.try_encode(&fallback).unwrap_or_default()
        })
    }

    /// Encodes a client frame (load generator, bots, tests).
    pub fn encode_client(self, frame: &ClientFrame) -> Result<Vec<u8>, EncodeError> {
        self.try_encode(frame)
    }

    /// Decodes a client frame; never panics, whatever the bytes.
    ///
    /// Decoding goes straight to the typed frame. Only when that fails is the frame read a
    /// second time, as a generic tree, to find the path of the offending field: good error
    /// messages cost nothing on the hot path.
    pub fn decode_client(self, bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
        let has_array = match self {
            Codec::Json => shape::check_json_top(bytes),
            Codec::MsgPack => shape::scan_msgpack(bytes, MAX_DEPTH).map(|s| s.has_array),
        }
        .map_err(|e| self.shape_error(bytes, e))?;
        let frame = self.decode_typed_client(bytes)?;
        if has_array {
            // Rare (lists of ids, labels): only then is the frame read as a tree to tell a
            // list from a struct written positionally.
            if let (Some(tree), Ok(typed)) = (self.decode_tree(bytes), serde_json::to_value(&frame))
            {
                shape::no_positional_structs(&tree, &typed)
                    .map_err(|e| self.shape_error(bytes, e))?;
            }
        }
        Ok(frame)
    }

    fn shape_error(self, bytes: &[u8], (message, field): shape::ShapeError) -> DecodeError {
        // A positional array's first element is no `ref`: only a map's is read.
        let r#ref = match self {
            Codec::Json if bytes.trim_ascii_start().starts_with(b"{") => {
                serde_json::from_slice::<RefOnly>(bytes).ok()
            }
            Codec::MsgPack if matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf)) => {
                msgpack_from_slice::<RefOnly>(bytes).ok()
            }
            _ => None,
        }
        .and_then(|r| r.r#ref);
        DecodeError {
            kind: DecodeErrorKind::Shape,
            message,
            r#ref,
            field,
        }
    }

    fn decode_typed_client(self, bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
        self.decode(bytes).map_err(|mut e| {
            if e.kind == DecodeErrorKind::Shape {
                if let Some(tree) = self.decode_tree(bytes) {
                    if let Some((field, message)) = locate_client_error(&tree) {
                        e.message = format!("invalid {}: {message}", describe(&tree));
                        e.field = field;
                    }
                }
            }
            e
        })
    }

    /// Decodes a server frame (load generator, bots, tests).
    pub fn decode_server(self, bytes: &[u8]) -> Result<ServerFrame, DecodeError> {
        self.decode(bytes)
    }

    /// Encodes any value in this encoding (HTTP bodies, snapshots, stored events).
    pub fn try_encode<T: Serialize + ?Sized>(self, value: &T) -> Result<Vec<u8>, EncodeError> {
        match self {
            Codec::Json => serde_json::to_vec(value).map_err(|e| EncodeError(e.to_string())),
            Codec::MsgPack => {
                let mut buf = Vec::with_capacity(128);
                let mut ser = rmp_serde::Serializer::new(&mut buf)
                    .with_struct_map()
                    .with_human_readable();
                value
                    .serialize(&mut ser)
                    .map_err(|e| EncodeError(e.to_string()))?;
                Ok(buf)
            }
        }
    }

    /// Decodes any value in this encoding, with the same error reporting as frames.
    pub fn decode<T: DeserializeOwned>(self, bytes: &[u8]) -> Result<T, DecodeError> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).map_err(|e| {
                let kind = match e.classify() {
                    serde_json::error::Category::Data => DecodeErrorKind::Shape,
                    _ => DecodeErrorKind::Syntax,
                };
                let message = match kind {
                    DecodeErrorKind::Syntax => format!("frame is not valid JSON: {e}"),
                    DecodeErrorKind::Shape => format!("invalid frame: {e}"),
                };
                DecodeError {
                    kind,
                    message,
                    r#ref: serde_json::from_slice::<RefOnly>(bytes)
                        .ok()
                        .and_then(|r| r.r#ref),
                    field: None,
                }
            }),
            Codec::MsgPack => {
                msgpack_from_slice::<T>(bytes).map_err(|(kind, message)| DecodeError {
                    kind,
                    message,
                    r#ref: msgpack_from_slice::<RefOnly>(bytes)
                        .ok()
                        .and_then(|r| r.r#ref),
                    field: None,
                })
            }
        }
    }
}

impl Codec {
    /// The frame as a generic tree, for error reporting only.
    fn decode_tree(self, bytes: &[u8]) -> Option<Value> {
        match self {
            Codec::Json => serde_json::from_slice(bytes).ok(),
            Codec::MsgPack => msgpack_from_slice(bytes).ok(),
        }
    }
}

/// `op card.update`, `subscribe`, or `frame` when the type is unknown: names the thing the
/// client sent so the message reads naturally.
fn describe(tree: &Value) -> String {
    match tree.get("type").and_then(Value::as_str) {
        Some("op") => match tree.get("kind").and_then(Value::as_str) {
            Some(kind) if Op::KINDS.contains(&kind) => format!("op {kind}"),
            _ => "op".to_string(),
        },
        Some(t) if ClientFrame::TYPES.contains(&t) => t.to_string(),
        _ => "frame".to_string(),
    }
}

/// The head of an op frame, checked before its `kind`/`data`.
#[derive(Deserialize)]
#[allow(dead_code)]
struct OpHead {
    topic: Topic,
    op_id: Uuid,
    kind: String,
    data: Value,
}

/// Re-reads a frame that failed to decode, variant by variant, to find the failing field.
/// Returns `(path, message)`; `path` is `None` when the problem is the frame as a whole.
fn locate_client_error(tree: &Value) -> Option<(Option<String>, String)> {
    let Some(obj) = tree.as_object() else {
        return Some((
            None,
            "a frame must be an object with a \"type\"".to_string(),
        ));
    };
    let ty = match obj.get("type") {
        None => return Some((Some("type".into()), "missing field `type`".into())),
        Some(Value::String(t)) => t.as_str(),
        Some(_) => return Some((Some("type".into()), "`type` must be a string".into())),
    };
    match ty {
        "hello" => locate::<Hello>(tree),
        "auth" => locate::<Auth>(tree),
        "ping" => locate::<Ping>(tree),
        "subscribe" => locate::<Subscribe>(tree),
        "unsubscribe" => locate::<Unsubscribe>(tree),
        "presence.set" => locate::<PresenceSet>(tree),
        "notifications.read" => locate::<NotificationsRead>(tree),
        "op" => locate::<OpHead>(tree).or_else(|| {
            let kind = obj.get("kind").and_then(Value::as_str).unwrap_or_default();
            locate_op_data(kind, obj.get("data").unwrap_or(&Value::Null))
        }),
        other => Some((
            Some("type".into()),
            format!(
                "unknown frame type `{other}`, expected one of {}",
                ClientFrame::TYPES.join(", ")
            ),
        )),
    }
}

/// Checks an op's `data` against the struct of its `kind` directly: going through `Op` would
/// lose the path, because an adjacently tagged enum buffers `data` when it comes before `kind`.
fn locate_op_data(kind: &str, data: &Value) -> Option<(Option<String>, String)> {
    macro_rules! locate_kind {
        ($($variant:ident = $name:literal,)*) => {
            match kind {
                $($name => locate_at::<crate::op::$variant>(data, Some("data")),)*
                other => Some((
                    Some("kind".into()),
                    format!(
                        "unknown op kind `{other}`, expected one of {}",
                        Op::KINDS.join(", ")
                    ),
                )),
            }
        };
    }
    crate::op::with_op_kinds!(locate_kind)
}

fn locate<T: DeserializeOwned>(tree: &Value) -> Option<(Option<String>, String)> {
    locate_at::<T>(tree, None)
}

/// Deserializes `tree` as `T` with path tracking; `prefix` is where `tree` sits in the frame.
fn locate_at<T: DeserializeOwned>(
    tree: &Value,
    prefix: Option<&str>,
) -> Option<(Option<String>, String)> {
    let e = serde_path_to_error::deserialize::<_, T>(tree).err()?;
    let inner_path = e.path().to_string();
    let path = match (prefix, inner_path.as_str()) {
        (None, p) => p.to_string(),
        (Some(pre), "." | "") => pre.to_string(),
        (Some(pre), p) => format!("{pre}.{p}"),
    };
    let inner = e.into_inner().to_string();
    let at_root = path == "." || path.is_empty();
    let field = match (at_root, missing_field(&inner)) {
        (true, missing) => missing,
        (false, Some(missing)) => Some(format!("{path}.{missing}")),
        (false, None) => Some(path.clone()),
    };
    let message = if at_root {
        inner
    } else {
        format!("{path}: {inner}")
    };
    Some((field, message))
}

/// serde reports a missing field at the level of its parent; pull the name out so the
/// reply's `field` still points at it.
fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    let end = rest.find('`')?;
    Some(rest[..end].to_string())
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Codec::Json => "json",
            Codec::MsgPack => "msgpack",
        })
    }
}

fn msgpack_from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, (DecodeErrorKind, String)> {
    use rmp_serde::decode::Error as E;
    let mut de = rmp_serde::Deserializer::new(Cursor::new(bytes)).with_human_readable();
    de.set_max_depth(MAX_DEPTH);
    let value = T::deserialize(&mut de).map_err(|e| match e {
        E::Syntax(m) | E::Uncategorized(m) => {
            (DecodeErrorKind::Shape, format!("invalid frame: {m}"))
        }
        E::TypeMismatch(_) | E::OutOfRange | E::LengthMismatch(_) => {
            (DecodeErrorKind::Shape, format!("invalid frame: {e}"))
        }
        E::InvalidMarkerRead(_)
        | E::InvalidDataRead(_)
        | E::Utf8Error(_)
        | E::DepthLimitExceeded => (
            DecodeErrorKind::Syntax,
            format!("frame is not valid MessagePack: {e}"),
        ),
    })?;
    let read = usize::try_from(de.get_ref().position()).unwrap_or(usize::MAX);
    if read != bytes.len() {
        return Err((
            DecodeErrorKind::Syntax,
            format!(
                "frame is not valid MessagePack: {} trailing bytes after the frame",
                bytes.len().saturating_sub(read)
            ),
        ));
    }
    Ok(value)
}
