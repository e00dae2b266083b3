//! JSON and MessagePack encodings of the frames (PROTOCOL.md, "WebSocket transport").
//!
//! Both encodings carry the same structures. MessagePack uses maps with string keys (never
//! positional arrays) and the human-readable forms of ids and timestamps (UUID and RFC 3339
//! strings), so a frame means the same thing in either encoding and a bot can switch
//! encodings without changing its model.

use crate::codes::ErrorCode;
use crate::frames::{ClientFrame, ErrorReply, ServerFrame};
use crate::refs::Ref;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::Cursor;

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
        ErrorReply::new(self.r#ref.clone(), self.code(), self.message.clone())
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
    pub fn decode_client(self, bytes: &[u8]) -> Result<ClientFrame, DecodeError> {
        self.decode(bytes)
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
                }
            }),
            Codec::MsgPack => {
                msgpack_from_slice::<T>(bytes).map_err(|(kind, message)| DecodeError {
                    kind,
                    message,
                    r#ref: msgpack_from_slice::<RefOnly>(bytes)
                        .ok()
                        .and_then(|r| r.r#ref),
                })
            }
        }
    }
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
