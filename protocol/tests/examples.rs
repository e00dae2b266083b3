//! The literal examples of PROTOCOL.md parse into the types, and the types write them back.
//! Placeholders (`<id>`, `…`, `R`, `E`, `S`, `N`) are replaced by concrete values.

mod common;

use boardroom_protocol::op::CardMove;
use boardroom_protocol::*;
use serde_json::{json, Value};

const BOARD: &str = "board:01900000-0000-7000-8000-000000000500";
const ID: &str = "01900000-0000-7000-8000-000000000010";
const ID2: &str = "01900000-0000-7000-8000-000000000011";

fn client(s: &str) -> ClientFrame {
    Codec::Json
        .decode_client(s.as_bytes())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn server(s: &str) -> ServerFrame {
    Codec::Json
        .decode_server(s.as_bytes())
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Parses, re-encodes, and checks that the JSON tree is exactly the literal one.
fn client_exact(s: &str) -> ClientFrame {
    let f = client(s);
    let back: Value = serde_json::from_slice(&Codec::Json.encode_client(&f).unwrap()).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(s).unwrap(), "{s}");
    f
}

fn server_exact(s: &str) -> ServerFrame {
    let f = server(s);
    let back: Value = serde_json::from_slice(&Codec::Json.encode(&f)).unwrap();
    assert_eq!(back, serde_json::from_str::<Value>(s).unwrap(), "{s}");
    f
}

#[test]
fn hello() {
    let f = client_exact(
        r#"{"type":"hello","token":"<access JWT | API key br_... | share token brs_...>","client":"my-bot/1.0"}"#,
    );
    let ClientFrame::Hello(h) = f else { panic!() };
    assert_eq!(h.client.as_deref(), Some("my-bot/1.0"));
    assert!(h.r#ref.is_none());
}

#[test]
fn welcome() {
    let s = format!(
        r#"{{"type":"welcome","session_id":"{ID}","principal":{{"kind":"user","id":"{ID}",
        "org_id":"{ID2}","role":"owner","name":"Ann"}},
        "heartbeat_ms":25000,"max_frame_bytes":65536,"server_time":"2026-01-02T03:04:05Z"}}"#
    );
    let ServerFrame::Welcome(w) = server_exact(&s) else {
        panic!()
    };
    assert_eq!(w.principal.role, Role::Owner);
    assert_eq!(w.principal.kind, PrincipalKind::User);
    assert_eq!(w.heartbeat_ms, 25000);
    for kind in ["user", "api_key", "share"] {
        for role in ["owner", "admin", "member", "worker", "customer"] {
            let s = s
                .replace(r#""kind":"user""#, &format!(r#""kind":"{kind}""#))
                .replace(r#""role":"owner""#, &format!(r#""role":"{role}""#));
            server_exact(&s);
        }
    }
}

#[test]
fn auth_ping_pong_ok_error() {
    let ClientFrame::Auth(a) =
        client_exact(r#"{"type":"auth","ref":5,"token":"<fresh access JWT>"}"#)
    else {
        panic!()
    };
    assert_eq!(a.r#ref, Some(Ref::Int(5)));
    server_exact(r#"{"type":"ok","ref":5}"#);
    client_exact(r#"{"type":"ping","ref":"p1"}"#);
    server_exact(r#"{"type":"pong","ref":"p1"}"#);
    let ServerFrame::Error(e) = server_exact(
        r#"{"type":"error","ref":7,"code":"rate_limited","message":"too many ops; retry shortly","retry_after_ms":250}"#,
    ) else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::RateLimited);
    for code in ErrorCode::ALL {
        server_exact(&format!(
            r#"{{"type":"error","ref":1,"code":"{code}","message":"m"}}"#
        ));
    }
}

#[test]
fn subscribe_and_replies() {
    let ClientFrame::Subscribe(s) = client_exact(&format!(
        r#"{{"type":"subscribe","ref":1,"topic":"{BOARD}"}}"#
    )) else {
        panic!()
    };
    assert!(s.since.is_none());
    assert_eq!(s.topic.to_string(), BOARD);

    let ClientFrame::Subscribe(s) = client_exact(&format!(
        r#"{{"type":"subscribe","ref":2,"topic":"{BOARD}","since":{{"epoch":3,"seq":41}}}}"#
    )) else {
        panic!()
    };
    assert_eq!(s.since, Some(Since { epoch: 3, seq: 41 }));

    let ServerFrame::Ok(ok) = server_exact(&format!(
        r#"{{"type":"ok","ref":2,"topic":"{BOARD}","epoch":3,"seq":45,"recovered":true}}"#
    )) else {
        panic!()
    };
    assert_eq!(ok.recovered, Some(true));

    let snap = format!(
        r#"{{"type":"ok","ref":1,"topic":"{BOARD}","epoch":3,"seq":45,"recovered":false,
        "snapshot":{{"id":"{ID}","org_id":"{ID2}","name":"Jobs",
          "columns":[{{"id":"{ID}","name":"To do","position":"V","is_done":false}}],
          "cards":[{{"id":"{ID2}","column_id":"{ID}","position":"V","title":"Fix","description":null,
            "assignees":["{ID}"],"customer_id":null,"labels":["a"],"due_at":"2026-01-02T03:04:05Z",
            "checklist":[{{"id":"{ID}","title":"t","done":false,"position":"V"}}],
            "comments":[{{"id":"{ID}","author_id":"{ID2}","body":"hi","mentions":["{ID}"],
              "created_at":"2026-01-02T03:04:05.123Z"}}],
            "version":1,"archived":false}}]}},
        "presence":{{"{ID}":{{"name":"Ann","state":{{"focus":null,"editing":false}}}}}}}}"#
    );
    let ServerFrame::Ok(ok) = server_exact(&snap) else {
        panic!()
    };
    let Some(Snapshot::Board(b)) = ok.snapshot else {
        panic!("board snapshot expected")
    };
    assert_eq!(b.cards[0].labels, vec!["a".to_string()]);

    let card_snap = format!(
        r#"{{"type":"ok","ref":1,"topic":"card:{ID2}","epoch":3,"seq":45,
        "snapshot":{{"card":{{"id":"{ID2}","column_id":"{ID}","position":"V","title":"Fix","description":null,
            "assignees":[],"customer_id":"{ID}","labels":[],"due_at":null,"checklist":[],"comments":[],
            "version":2,"archived":false}},
          "column":{{"id":"{ID}","name":"Done","is_done":true}},"board_id":"{ID}"}}}}"#
    );
    let ServerFrame::Ok(ok) = server_exact(&card_snap) else {
        panic!()
    };
    assert!(matches!(ok.snapshot, Some(Snapshot::Card(_))));

    client_exact(&format!(
        r#"{{"type":"unsubscribe","ref":3,"topic":"{BOARD}"}}"#
    ));
    server_exact(r#"{"type":"ok","ref":3}"#);
}

#[test]
fn op_card_move() {
    let s = format!(
        r#"{{"type":"op","ref":7,"topic":"{BOARD}","op_id":"{ID2}",
         "kind":"card.move","data":{{"card_id":"{ID}","column_id":"{ID2}","after":null}}}}"#
    );
    let ClientFrame::Op(op) = client_exact(&s) else {
        panic!()
    };
    assert_eq!(
        op.op,
        Op::CardMove(CardMove {
            card_id: ID.parse().unwrap(),
            column_id: ID2.parse().unwrap(),
            after: None
        })
    );
    server_exact(&format!(r#"{{"type":"ok","ref":7,"seq":12,"id":"{ID}"}}"#));
    server_exact(r#"{"type":"ok","ref":7,"seq":12}"#);
}

#[test]
fn event() {
    let s = format!(
        r#"{{"type":"event","topic":"{BOARD}","epoch":3,"seq":46,"kind":"column.deleted",
        "data":{{"column_id":"{ID}"}},"actor":{{"kind":"api_key","id":"{ID}","name":"bot"}},
        "op_id":"{ID2}","at":"2026-01-02T03:04:05Z"}}"#
    );
    let ServerFrame::Event(e) = server_exact(&s) else {
        panic!()
    };
    assert_eq!(e.body.kind(), "column.deleted");
    assert_eq!(e.actor.kind, PrincipalKind::ApiKey);
}

#[test]
fn presence() {
    let ClientFrame::PresenceSet(p) = client_exact(&format!(
        r#"{{"type":"presence.set","ref":9,"topic":"{BOARD}","state":{{"focus":"{ID}","editing":false}}}}"#
    )) else {
        panic!()
    };
    assert_eq!(p.state.focus, Some(ID.parse().unwrap()));
    client_exact(&format!(
        r#"{{"type":"presence.set","ref":9,"topic":"{BOARD}","state":{{"focus":null,"editing":true}}}}"#
    ));
    server_exact(&format!(
        r#"{{"type":"presence","topic":"{BOARD}",
        "joins":{{"{ID}":{{"name":"Ann","state":{{"focus":"{ID2}","editing":false}}}}}},
        "leaves":{{"{ID2}":{{"name":"Bob","state":{{"focus":null,"editing":false}}}}}}}}"#
    ));
}

#[test]
fn notifications() {
    for kind in ["card.assigned", "mention", "job.status"] {
        server_exact(&format!(
            r#"{{"type":"notification","notification":{{"id":"{ID}","kind":"{kind}",
            "board_id":"{ID}","card_id":"{ID2}","title":"Fix","body":"Assigned to you",
            "actor":{{"kind":"user","id":"{ID}","name":"Ann"}},"created_at":"2026-01-02T03:04:05Z",
            "read":false}},"unread":3}}"#
        ));
    }
    let ClientFrame::NotificationsRead(n) = client_exact(&format!(
        r#"{{"type":"notifications.read","ref":4,"ids":["{ID}"]}}"#
    )) else {
        panic!()
    };
    assert_eq!(n.target, ReadTarget::Ids(vec![ID.parse().unwrap()]));
    let ClientFrame::NotificationsRead(n) =
        client_exact(r#"{"type":"notifications.read","ref":4,"all":true}"#)
    else {
        panic!()
    };
    assert_eq!(n.target, ReadTarget::All);
    server_exact(r#"{"type":"ok","ref":4,"unread":0}"#);
}

#[test]
fn codec_negotiation() {
    assert_eq!(
        Codec::from_subprotocol("boardroom.v1.json"),
        Some(Codec::Json)
    );
    assert_eq!(
        Codec::from_subprotocol("boardroom.v1.msgpack"),
        Some(Codec::MsgPack)
    );
    assert_eq!(Codec::from_subprotocol("boardroom.v2.json"), None);
    assert_eq!(Codec::from_query("msgpack"), Some(Codec::MsgPack));
    assert_eq!(Codec::from_query("json"), Some(Codec::Json));
    assert_eq!(Codec::from_query("xml"), None);
    assert_eq!(Codec::negotiate([], None), (Codec::Json, None));
    assert_eq!(
        Codec::negotiate([], Some("msgpack")),
        (Codec::MsgPack, None)
    );
    assert_eq!(
        Codec::negotiate(["chat, boardroom.v1.msgpack"], Some("json")),
        (Codec::MsgPack, Some("boardroom.v1.msgpack"))
    );
    assert_eq!(
        Codec::negotiate(["other", "boardroom.v1.json"], None),
        (Codec::Json, Some("boardroom.v1.json"))
    );
    assert!(Codec::MsgPack.is_binary());
    assert!(!Codec::Json.is_binary());
}

// ----- what a client gets wrong, and what it is told -------------------------------------

fn bad(s: &str) -> DecodeError {
    match Codec::Json.decode_client(s.as_bytes()) {
        Ok(f) => panic!("{s} should not decode, got {f:?}"),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::BadRequest);
            e
        }
    }
}

#[test]
fn typo_in_op_data_is_rejected_and_named() {
    let e = bad(&format!(
        r#"{{"type":"op","ref":"r7","topic":"{BOARD}","op_id":"{ID}","kind":"card.update",
           "data":{{"card_id":"{ID}","titel":"x"}}}}"#
    ));
    assert!(e.message.contains("titel"), "{}", e.message);
    assert_eq!(e.field.as_deref(), Some("data.titel"));
    assert_eq!(e.to_reply().field.as_deref(), Some("data.titel"));
    assert_eq!(e.kind, DecodeErrorKind::Shape);
    assert_eq!(e.r#ref, Some(Ref::Str("r7".into())), "the ref survives");
    assert_eq!(e.to_reply().r#ref, Some(Ref::Str("r7".into())));
}

#[test]
fn frame_errors_say_what_is_wrong() {
    assert!(bad(r#"{"ref":1}"#).message.contains("type"));
    assert!(bad(r#"{"type":"launch","ref":1}"#)
        .message
        .contains("launch"));
    let e = bad(r#"{"type":"subscribe","ref":1,"topic":"board:123"}"#);
    assert!(e.message.contains("board:123"), "{}", e.message);
    assert_eq!(e.field.as_deref(), Some("topic"));
    assert_eq!(e.r#ref, Some(Ref::Int(1)));
    let e = bad(r#"{"type":"subscribe","ref":1}"#);
    assert!(e.message.contains("topic"), "{}", e.message);
    let e = bad(&format!(
        r#"{{"type":"op","ref":1,"topic":"{BOARD}","op_id":"{ID}","kind":"card.fly","data":{{}}}}"#
    ));
    assert!(e.message.contains("card.fly"), "{}", e.message);
    let e = bad(&format!(
        r#"{{"type":"op","ref":1,"topic":"{BOARD}","op_id":"{ID}","kind":"card.move","data":{{"card_id":"{ID}","column_id":"{ID}"}}}}"#
    ));
    assert!(
        e.message.contains("after"),
        "move without after: {}",
        e.message
    );
    let e = bad(&format!(
        r#"{{"type":"op","ref":1,"topic":"{BOARD}","op_id":"not-a-uuid","kind":"card.archive","data":{{"card_id":"{ID}"}}}}"#
    ));
    assert!(
        e.message.to_lowercase().contains("uuid") || e.message.contains("op_id"),
        "{}",
        e.message
    );
    let e = bad("{not json");
    assert_eq!(e.kind, DecodeErrorKind::Syntax);
    assert!(e.message.contains("JSON"));
    bad(r#"{"type":"ping","ref":1.5}"#);
    bad(r#"{"type":"ping","ref":true}"#);
    bad(r#"{"type":"ping","ref":18446744073709551615}"#);
    bad(r#"{"type":"notifications.read","ref":1}"#);
    bad(&format!(
        r#"{{"type":"notifications.read","ref":1,"ids":["{ID}"],"all":true}}"#
    ));
    bad(r#"{"type":"ping"} trailing"#);
}

#[test]
fn card_update_tells_absent_from_null() {
    let parse = |data: &str| -> op::CardUpdate {
        let s = format!(
            r#"{{"type":"op","topic":"{BOARD}","op_id":"{ID}","kind":"card.update","data":{data}}}"#
        );
        match client(&s) {
            ClientFrame::Op(OpFrame {
                op: Op::CardUpdate(u),
                ..
            }) => u,
            other => panic!("{other:?}"),
        }
    };
    let absent = parse(&format!(r#"{{"card_id":"{ID}","title":"t"}}"#));
    assert_eq!(absent.due_at, None);
    assert_eq!(absent.description, None);
    assert_eq!(absent.customer_id, None);
    let null = parse(&format!(
        r#"{{"card_id":"{ID}","due_at":null,"description":null,"customer_id":null}}"#
    ));
    assert_eq!(null.due_at, Some(None));
    assert_eq!(null.description, Some(None));
    assert_eq!(null.customer_id, Some(None));
    let set = parse(&format!(
        r#"{{"card_id":"{ID}","due_at":"2026-01-02T03:04:05Z","description":"d","customer_id":"{ID}","expected_version":4}}"#
    ));
    assert!(matches!(set.due_at, Some(Some(_))));
    assert_eq!(set.description, Some(Some("d".into())));
    assert_eq!(set.expected_version, Some(4));
}

#[test]
fn create_after_absent_null_and_id_differ() {
    let parse = |extra: &str| -> op::CardCreate {
        let s = format!(
            r#"{{"type":"op","topic":"{BOARD}","op_id":"{ID}","kind":"card.create","data":{{"column_id":"{ID}","title":"t"{extra}}}}}"#
        );
        match client(&s) {
            ClientFrame::Op(OpFrame {
                op: Op::CardCreate(c),
                ..
            }) => c,
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(parse("").after, None);
    assert_eq!(parse(r#","after":null"#).after, Some(None));
    assert_eq!(
        parse(&format!(r#","after":"{ID2}""#)).after,
        Some(Some(ID2.parse().unwrap()))
    );
}

#[test]
fn msgpack_errors_keep_the_ref_and_reject_trailing_bytes() {
    let v = json!({"type":"op","ref":42,"topic":BOARD,"op_id":ID,"kind":"card.archive","data":{"card_id":ID,"oops":1}});
    let bytes = rmp_serde::to_vec_named(&v).unwrap();
    let e = Codec::MsgPack.decode_client(&bytes).unwrap_err();
    assert_eq!(e.r#ref, Some(Ref::Int(42)));
    assert!(e.message.contains("oops"), "{}", e.message);
    assert_eq!(e.field.as_deref(), Some("data.oops"));

    let mut ok = rmp_serde::to_vec_named(&json!({"type":"ping","ref":1})).unwrap();
    assert!(Codec::MsgPack.decode_client(&ok).is_ok());
    ok.push(0xc0);
    let e = Codec::MsgPack.decode_client(&ok).unwrap_err();
    assert_eq!(e.kind, DecodeErrorKind::Syntax);
    assert!(Codec::MsgPack.decode_client(&[0xc1]).is_err());
    assert!(Codec::MsgPack.decode_client(&[]).is_err());
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let s = "[".repeat(10_000);
    assert!(Codec::Json.decode_client(s.as_bytes()).is_err());
    // 0x91 = a MessagePack array of one element, nested 10 000 deep.
    let mut mp = vec![0x91u8; 10_000];
    mp.push(0xc0);
    assert!(Codec::MsgPack.decode_client(&mp).is_err());
    // The same, as the value of a frame's `type`.
    let mut deep = vec![0x81u8, 0xa4, b't', b'y', b'p', b'e'];
    deep.extend(std::iter::repeat_n(0x91u8, 10_000));
    deep.push(0xc0);
    assert!(Codec::MsgPack.decode_client(&deep).is_err());
}
