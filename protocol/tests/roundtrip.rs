//! Every frame, op and event survives encode -> decode unchanged, in both encodings.

mod common;

use boardroom_protocol::*;
use common::*;
use proptest::prelude::*;

const CODECS: [Codec; 2] = [Codec::Json, Codec::MsgPack];

/// Every frame, encoded then decoded in each codec, comes back equal.
fn round_trip<F: PartialEq + std::fmt::Debug>(
    frames: Vec<F>,
    encode: impl Fn(Codec, &F) -> Vec<u8>,
    decode: impl Fn(Codec, &[u8]) -> Result<F, DecodeError>,
) {
    for codec in CODECS {
        for frame in &frames {
            let bytes = encode(codec, frame);
            let back = decode(codec, &bytes).unwrap_or_else(|e| panic!("{codec}: {frame:?}: {e}"));
            assert_eq!(&back, frame, "{codec}");
        }
    }
}

#[test]
fn client_frames_round_trip() {
    round_trip(
        client_frames(),
        |codec, f| codec.encode_client(f).expect("encode"),
        |codec, b| codec.decode_client(b),
    );
}

#[test]
fn server_frames_round_trip() {
    round_trip(
        server_frames(),
        |codec, f| codec.encode(f),
        |codec, b| codec.decode_server(b),
    );
}

#[test]
fn every_kind_and_type_is_covered_by_the_fixtures() {
    let ops: std::collections::BTreeSet<_> = ops().iter().map(|o| o.kind()).collect();
    assert_eq!(ops, Op::KINDS.into_iter().collect());
    let evs: std::collections::BTreeSet<_> = events().iter().map(|e| e.kind()).collect();
    assert_eq!(evs, EventBody::KINDS.into_iter().collect());
    let cts: std::collections::BTreeSet<_> =
        client_frames().iter().map(|f| f.type_name()).collect();
    assert_eq!(cts, ClientFrame::TYPES.into_iter().collect());
    let sts: std::collections::BTreeSet<_> =
        server_frames().iter().map(|f| f.type_name()).collect();
    assert_eq!(sts, ServerFrame::TYPES.into_iter().collect());
}

#[test]
fn kind_names_match_the_wire() {
    for op in ops() {
        let v = serde_json::to_value(&op).unwrap();
        assert_eq!(v["kind"], op.kind());
        assert!(v["data"].is_object());
    }
    for ev in events() {
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["kind"], ev.kind());
    }
    for f in client_frames() {
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["type"], f.type_name());
    }
    for f in server_frames() {
        let v = serde_json::to_value(&f).unwrap();
        assert_eq!(v["type"], f.type_name());
    }
}

#[test]
fn model_types_round_trip_on_their_own() {
    for codec in CODECS {
        for card in [card_full(), card_bare()] {
            let b = codec.try_encode(&card).unwrap();
            assert_eq!(codec.decode::<Card>(&b).unwrap(), card);
        }
        for op in ops() {
            let req = OpRequest {
                op_id: id(1),
                op: op.clone(),
            };
            let b = codec.try_encode(&req).unwrap();
            assert_eq!(codec.decode::<OpRequest>(&b).unwrap(), req);
            let b = codec.try_encode(&op).unwrap();
            assert_eq!(codec.decode::<Op>(&b).unwrap(), op);
        }
        for ev in events() {
            let b = codec.try_encode(&ev).unwrap();
            assert_eq!(codec.decode::<EventBody>(&b).unwrap(), ev);
        }
        let r = OpResult {
            seq: 5,
            id: Some(id(3)),
        };
        let b = codec.try_encode(&r).unwrap();
        assert_eq!(codec.decode::<OpResult>(&b).unwrap(), r);
    }
}

/// MessagePack must be maps with string keys and string ids, i.e. the same tree as JSON.
#[test]
fn msgpack_is_the_same_tree_as_json() {
    for frame in server_frames() {
        let mp = Codec::MsgPack.encode(&frame);
        let as_value: serde_json::Value = Codec::MsgPack.decode(&mp).unwrap();
        let json: serde_json::Value = serde_json::to_value(&frame).unwrap();
        assert_eq!(as_value, json);
    }
    for frame in client_frames() {
        let mp = Codec::MsgPack.encode_client(&frame).unwrap();
        let as_value: serde_json::Value = Codec::MsgPack.decode(&mp).unwrap();
        assert_eq!(as_value, serde_json::to_value(&frame).unwrap());
    }
}

#[test]
fn json_and_msgpack_cross_decode() {
    // A frame written as JSON, re-encoded as MessagePack by a generic tool, decodes the same.
    for frame in client_frames() {
        let v = serde_json::to_value(&frame).unwrap();
        let mp = rmp_serde::to_vec_named(&v).unwrap();
        assert_eq!(Codec::MsgPack.decode_client(&mp).unwrap(), frame);
    }
}

fn arb_ref() -> impl Strategy<Value = Ref> {
    prop_oneof![
        any::<i64>().prop_map(Ref::Int),
        ".{0,20}".prop_map(Ref::Str)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn refs_round_trip_exactly(r in arb_ref()) {
        for codec in CODECS {
            let f = ClientFrame::Ping(Ping { r#ref: Some(r.clone()) });
            let back = codec.decode_client(&codec.encode_client(&f).unwrap()).unwrap();
            prop_assert_eq!(back.r#ref(), Some(&r));
            let s = ServerFrame::Pong(Pong { r#ref: Some(r.clone()) });
            let back = codec.decode_server(&codec.encode(&s)).unwrap();
            prop_assert_eq!(back.r#ref(), Some(&r));
        }
    }

    #[test]
    fn topics_round_trip(n in any::<u128>(), k in 0u8..4) {
        let id = uuid::Uuid::from_u128(n);
        let t = match k { 0 => Topic::Org(id), 1 => Topic::Board(id), 2 => Topic::Card(id), _ => Topic::User(id) };
        prop_assert_eq!(t.to_string().parse::<Topic>(), Ok(t));
    }

    /// Garbage never panics the decoder, in either encoding.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for codec in CODECS {
            let _ = codec.decode_client(&bytes);
            let _ = codec.decode_server(&bytes);
        }
    }

    /// Truncated or bit-flipped real frames never panic either (they get past the first byte).
    #[test]
    fn damaged_frames_never_panic(i in 0usize..64, cut in 0usize..400, flip in 0usize..400, bit in 0u8..8) {
        let frames = client_frames();
        let f = &frames[i % frames.len()];
        for codec in CODECS {
            let mut b = codec.encode_client(f).unwrap();
            if !b.is_empty() {
                let at = flip % b.len();
                b[at] ^= 1 << bit;
            }
            b.truncate(cut.min(b.len()));
            let _ = codec.decode_client(&b);
        }
    }
}
