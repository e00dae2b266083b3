//! Encoding one event frame, per encoding: the hub does this once per event and encoding, then
//! shares the bytes. Run: `cargo bench -p boardroom-protocol`.

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

criterion_group!(benches, bench);
criterion_main!(benches);
