//! The contract says a frame is a map with string keys, in both encodings. serde's derived
//! structs also accept a positional array (`["hello", "token"]`, or `[id, "title"]` for a
//! nested struct), and MessagePack maps may have integer keys (read as field indexes), so
//! the decoder alone would let through frames no other implementation of the protocol
//! accepts. These checks refuse them.
//!
//! On the hot path they cost one pass over the bytes: a MessagePack frame's keys and the
//! first byte of a JSON frame. Only a frame that contains an array at all is read a second
//! time, as a tree, to tell a list (`ids`, `labels`) from a struct written positionally.

use serde_json::Value;

/// A problem with the frame's shape: the message, and the path of the offending part.
pub(crate) type ShapeError = (String, Option<String>);

/// What one pass over a MessagePack frame found.
pub(crate) struct MsgPackScan {
    pub has_array: bool,
}

/// Checks that a MessagePack frame is a map, that every map in it has string keys, and
/// whether it holds arrays. Malformed bytes are left to the decoder to report.
pub(crate) fn scan_msgpack(bytes: &[u8], max_depth: usize) -> Result<MsgPackScan, ShapeError> {
    match bytes.first() {
        Some(0x80..=0x8f | 0xde | 0xdf) => {}
        Some(0x90..=0x9f | 0xdc | 0xdd) => return Err(positional(None)),
        _ => return Err(("a frame must be a map with string keys".into(), None)),
    }
    let mut r = Reader {
        buf: bytes,
        pos: 0,
        has_array: false,
    };
    match r.value(max_depth) {
        Ok(()) | Err(Stop::Malformed) => Ok(MsgPackScan {
            has_array: r.has_array,
        }),
        Err(Stop::NonStringKey) => Err((
            "map keys must be strings (field names), not numbers or other values".into(),
            None,
        )),
    }
}

/// A JSON frame must be an object; what is inside is checked by [`no_positional_structs`]
/// when it holds an array.
pub(crate) fn check_json_top(bytes: &[u8]) -> Result<bool, ShapeError> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') | None => Ok(bytes.contains(&b'[')),
        Some(b'[') => Err(positional(None)),
        // Not JSON at all, or a bare value: the decoder says which.
        Some(_) => Ok(false),
    }
}

/// Compares the frame as sent (`sent`, a generic tree) with the frame as decoded and
/// re-encoded (`typed`): an array where the typed frame has an object is a struct written
/// positionally.
pub(crate) fn no_positional_structs(sent: &Value, typed: &Value) -> Result<(), ShapeError> {
    walk(sent, typed, String::new())
}

fn walk(sent: &Value, typed: &Value, path: String) -> Result<(), ShapeError> {
    match (sent, typed) {
        (Value::Array(_), Value::Object(_)) => Err(positional((!path.is_empty()).then_some(path))),
        (Value::Object(s), Value::Object(t)) => {
            for (k, v) in s {
                if let Some(tv) = t.get(k) {
                    let p = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    walk(v, tv, p)?;
                }
            }
            Ok(())
        }
        (Value::Array(s), Value::Array(t)) => {
            for (i, (v, tv)) in s.iter().zip(t).enumerate() {
                walk(v, tv, format!("{path}[{i}]"))?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

fn positional(path: Option<String>) -> ShapeError {
    let what = match &path {
        Some(p) => format!("`{p}` must be a map with string keys, not a positional array"),
        None => "a frame must be a map with string keys, not a positional array".into(),
    };
    (what, path)
}

enum Stop {
    /// Truncated or invalid bytes: the decoder reports those.
    Malformed,
    NonStringKey,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    has_array: bool,
}

impl Reader<'_> {
    fn byte(&mut self) -> Result<u8, Stop> {
        let b = *self.buf.get(self.pos).ok_or(Stop::Malformed)?;
        self.pos += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), Stop> {
        let end = self.pos.checked_add(n).ok_or(Stop::Malformed)?;
        if end > self.buf.len() {
            return Err(Stop::Malformed);
        }
        self.pos = end;
        Ok(())
    }

    fn uint(&mut self, bytes: usize) -> Result<usize, Stop> {
        let mut n: usize = 0;
        for _ in 0..bytes {
            n = n.checked_mul(256).ok_or(Stop::Malformed)? + self.byte()? as usize;
        }
        Ok(n)
    }

    /// Skips a string if one comes next; `Ok(false)` (nothing consumed) otherwise.
    fn string(&mut self) -> Result<bool, Stop> {
        let m = *self.buf.get(self.pos).ok_or(Stop::Malformed)?;
        let len = match m {
            0xa0..=0xbf => {
                self.pos += 1;
                (m & 0x1f) as usize
            }
            0xd9..=0xdb => {
                self.pos += 1;
                let width = 1 << (m - 0xd9);
                self.uint(width)?
            }
            _ => return Ok(false),
        };
        self.skip(len)?;
        Ok(true)
    }

    fn value(&mut self, depth: usize) -> Result<(), Stop> {
        if depth == 0 {
            return Err(Stop::Malformed);
        }
        if self.string()? {
            return Ok(());
        }
        let m = self.byte()?;
        match m {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => Ok(()),
            0xcc | 0xd0 => self.skip(1),
            0xcd | 0xd1 => self.skip(2),
            0xca | 0xce | 0xd2 => self.skip(4),
            0xcb | 0xcf | 0xd3 => self.skip(8),
            0xc4..=0xc6 => {
                let len = self.uint(1 << (m - 0xc4))?;
                self.skip(len)
            }
            0xd4..=0xd8 => self.skip(1 + (1 << (m - 0xd4))),
            0xc7..=0xc9 => {
                let len = self.uint(1 << (m - 0xc7))?;
                self.skip(1 + len)
            }
            0x90..=0x9f | 0xdc | 0xdd => {
                self.has_array = true;
                let n = match m {
                    0xdc => self.uint(2)?,
                    0xdd => self.uint(4)?,
                    _ => (m & 0x0f) as usize,
                };
                for _ in 0..n {
                    self.value(depth - 1)?;
                }
                Ok(())
            }
            0x80..=0x8f | 0xde | 0xdf => {
                let n = match m {
                    0xde => self.uint(2)?,
                    0xdf => self.uint(4)?,
                    _ => (m & 0x0f) as usize,
                };
                for _ in 0..n {
                    if !self.string()? {
                        return Err(Stop::NonStringKey);
                    }
                    self.value(depth - 1)?;
                }
                Ok(())
            }
            // 0xc1 is never used.
            _ => Err(Stop::Malformed),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{ClientFrame, Codec, DecodeErrorKind};
    use serde_json::json;

    fn msgpack(v: &serde_json::Value) -> Vec<u8> {
        rmp_serde::to_vec_named(v).unwrap()
    }

    #[test]
    fn positional_frames_are_refused_in_both_encodings() {
        // Accepted before: serde reads an internally tagged enum's tag from a sequence's
        // first element.
        let arr = json!(["ping", "r1"]);
        for codec in [Codec::Json, Codec::MsgPack] {
            let bytes = match codec {
                Codec::Json => arr.to_string().into_bytes(),
                Codec::MsgPack => msgpack(&arr),
            };
            let e = codec.decode_client(&bytes).unwrap_err();
            assert_eq!(e.kind, DecodeErrorKind::Shape, "{codec}: {e}");
            assert!(e.message.contains("positional"), "{e}");
            assert_eq!(e.r#ref, None);
        }
    }

    #[test]
    fn nested_positional_structs_are_refused_but_lists_pass() {
        let topic = format!("board:{}", uuid::Uuid::now_v7());
        let col = uuid::Uuid::now_v7();
        let op = |data: serde_json::Value| {
            json!({"type": "op", "ref": "o1", "topic": topic, "op_id": uuid::Uuid::now_v7(),
                   "kind": "card.create", "data": data})
        };
        let good = op(json!({"column_id": col, "title": "t", "after": null, "labels": ["a", "b"]}));
        let positional = op(json!([col, "t", null]));
        for codec in [Codec::Json, Codec::MsgPack] {
            let enc = |v: &serde_json::Value| match codec {
                Codec::Json => v.to_string().into_bytes(),
                Codec::MsgPack => msgpack(v),
            };
            assert!(
                matches!(codec.decode_client(&enc(&good)), Ok(ClientFrame::Op(_))),
                "{codec}"
            );
            let e = codec.decode_client(&enc(&positional)).unwrap_err();
            assert_eq!(e.field.as_deref(), Some("data"), "{codec}: {e}");
            assert!(e.message.contains("positional"), "{e}");
            assert!(e.r#ref.is_some(), "the ref of a map frame is still read");
        }
    }

    #[test]
    fn msgpack_integer_keys_are_refused() {
        // {"type": "ping", 0: "x"}
        let mut bytes = vec![0x82, 0xa4];
        bytes.extend_from_slice(b"type");
        bytes.push(0xa4);
        bytes.extend_from_slice(b"ping");
        bytes.extend_from_slice(&[0x00, 0xa1, b'x']);
        let e = Codec::MsgPack.decode_client(&bytes).unwrap_err();
        assert!(e.message.contains("keys must be strings"), "{e}");
    }
}
