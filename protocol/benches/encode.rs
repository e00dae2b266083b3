//! Encoding one event frame, per encoding: the hub does this once per event and encoding, then
//! shares the bytes. Decoding client frames: the gateway does this for every frame it reads,
//! shape checks (maps with string keys, no positional structs) included. Run:
//! `cargo bench -p boardroom-protocol`.

use boardroom_protocol::event::CardData;
use boardroom_protocol::*;
use criterion::{criterion_group, criterion_main, Criterion};
use std::hint::black_box;
use uuid::Uuid;

fn frame() -> ServerFrame {
    let card = Card {
        id: Uuid::now_v7(),
        column_id: Uuid::now_v7(),
        position: "V".into(),
        title: "Repair boiler at 12 Elm St".into(),
        description: Some("Boiler makes a knocking noise. Key under the mat.".into()),
        assignees: vec![Uuid::now_v7()],
        customer_id: Some(Uuid::now_v7()),
        labels: vec!["urgent".into()],
        due_at: Some(chrono::Utc::now()),
        checklist: vec![ChecklistItem {
            id: Uuid::now_v7(),
            title: "Inspect".into(),
            done: false,
            position: "V".into(),
        }],
        comments: vec![],
        version: 3,
        archived: false,
        estimate_minutes: None,
        priority: None,
    };
    ServerFrame::Event(EventFrame {
        topic: Topic::Board(Uuid::now_v7()),
        epoch: 1,
        seq: 42,
        body: EventBody::CardUpdated(CardData { card }),
        actor: Actor {
            kind: PrincipalKind::User,
            id: Uuid::now_v7(),
            name: "Mia Member".into(),
        },
        op_id: Uuid::now_v7(),
        at: chrono::Utc::now(),
    })
}

fn bench(c: &mut Criterion) {
    let f = frame();
    c.bench_function("encode event json", |b| {
        b.iter(|| black_box(Codec::Json.encode(&f)))
    });
    c.bench_function("encode event msgpack", |b| {
        b.iter(|| black_box(Codec::MsgPack.encode(&f)))
    });
    let json = Codec::Json.encode(&f);
    c.bench_function("decode event json", |b| {
        b.iter(|| black_box(Codec::Json.decode_server(&json).expect("decode")))
    });
}

/// A `card.update` op (no arrays: only the one-pass shape check) and a `notifications.read`
/// naming 100 ids (an array: the frame is read a second time as a tree).
fn client_frames() -> [(&'static str, ClientFrame); 2] {
    let op: ClientFrame = serde_json::from_value(serde_json::json!({
        "type": "op", "ref": 12, "topic": format!("board:{}", Uuid::now_v7()),
        "op_id": Uuid::now_v7(), "kind": "card.update",
        "data": {"card_id": Uuid::now_v7(), "title": "Repair boiler at 12 Elm St"},
    }))
    .expect("op frame");
    let ids: Vec<Uuid> = (0..100).map(|_| Uuid::now_v7()).collect();
    let read: ClientFrame = serde_json::from_value(serde_json::json!({
        "type": "notifications.read", "ref": 13, "ids": ids,
    }))
    .expect("notifications.read frame");
    [("op card.update", op), ("notifications.read 100 ids", read)]
}

fn bench_client(c: &mut Criterion) {
    for (name, frame) in client_frames() {
        for codec in [Codec::Json, Codec::MsgPack] {
            let bytes = codec.encode_client(&frame).expect("encode");
            c.bench_function(&format!("decode client {name} {codec}"), |b| {
                b.iter(|| black_box(codec.decode_client(&bytes).expect("decode")))
            });
        }
    }
}

criterion_group!(benches, bench, bench_client);
criterion_main!(benches);
