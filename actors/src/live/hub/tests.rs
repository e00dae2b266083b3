//! The hub against the per-subscriber rule: whatever view classes the subscribers fall into,
//! each connection receives exactly the bytes [`frame_for`] (events) or
//! [`PresenceNote::for_viewer`] (presence) give its own principal.

use super::*;
use crate::domain::tests::props::{any_principal, cards, op, principals};
use crate::domain::tests::{now, uid, Fx};
use crate::domain::PresenceFacts;
use boardroom_protocol::{Actor, PresenceEntry, PresenceMap, PresenceState, PrincipalKind};
use proptest::prelude::*;
use proptest::sample::select;
use tokio::sync::mpsc;

struct Sub {
    conn_id: ConnId,
    view: Principal,
    topic: Topic,
    codec: Codec,
    rx: mpsc::Receiver<Wire>,
}

fn drain(rx: &mut mpsc::Receiver<Wire>) -> Vec<Wire> {
    let mut got = Vec::new();
    while let Ok(w) = rx.try_recv() {
        got.push(w);
    }
    got
}

fn subscribe_all(hub: &Hub, board_id: Uuid, who: &[(Principal, Option<Uuid>, bool)]) -> Vec<Sub> {
    who.iter()
        .map(|(view, card, msgpack)| {
            let codec = if *msgpack {
                Codec::MsgPack
            } else {
                Codec::Json
            };
            let (conn, rx) = ConnHandle::new(codec, 4096);
            let topic = card.map_or(Topic::Board(board_id), Topic::Card);
            let conn_id = conn.id;
            hub.subscribe(
                topic,
                Subscriber {
                    conn,
                    view: Arc::new(view.clone()),
                    board: Some(board_id),
                },
            );
            Sub {
                conn_id,
                view: view.clone(),
                topic,
                codec,
                rx,
            }
        })
        .collect()
}

fn subscriber() -> impl Strategy<Value = (Principal, Option<Uuid>, bool)> {
    let fx = Fx::new();
    (
        any_principal(&fx),
        prop_oneof![3 => Just(None), 1 => select(cards()).prop_map(Some)],
        any::<bool>(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, max_shrink_iters: 1000, ..ProptestConfig::default() })]

    #[test]
    fn each_subscriber_gets_what_its_own_view_gives_it(
        steps in proptest::collection::vec((op(), 0usize..12), 1..30),
        who in proptest::collection::vec(subscriber(), 1..24),
    ) {
        let fx = Fx::new();
        let key = fx.board.key();
        let ps = principals(&fx);
        let hub = Hub::default();
        let mut subs = subscribe_all(&hub, key.board_id, &who);
        let mut board = fx.board.clone();
        for (i, (op, by)) in steps.iter().enumerate() {
            let ctx = fx.ctx(uid(80_000 + i as u128));
            let Ok(applied) = board.apply_op(&ps[*by], op, &ctx) else { continue };
            for (j, body) in applied.events.into_iter().enumerate() {
                let ev = Published {
                    org_id: key.org_id,
                    board_id: key.board_id,
                    frame: EventFrame {
                        topic: Topic::Board(key.board_id),
                        epoch: 1,
                        seq: (i * 4 + j) as u64,
                        body,
                        actor: Actor { kind: PrincipalKind::User, id: uid(10), name: "Owner".into() },
                        op_id: uid(90_000 + i as u128),
                        at: now(),
                    },
                    card_before: applied.card_before.clone(),
                };
                let sent = hub.publish_event(&ev);
                let mut expected = 0;
                for s in &mut subs {
                    let want: Vec<Wire> = frame_for(&ev, &s.view, s.topic)
                        .map(|f| super::wire(s.codec.encode(&f)))
                        .into_iter()
                        .collect();
                    expected += want.len();
                    prop_assert_eq!(drain(&mut s.rx), want, "{:?} on {}", s.view, s.topic);
                }
                prop_assert_eq!(sent, expected);
            }
        }
    }
}

fn entry(name: &str, focus: Option<Uuid>) -> PresenceEntry {
    let mut extra = std::collections::BTreeMap::new();
    extra.insert("cursor".to_string(), serde_json::json!({"x": 1}));
    PresenceEntry {
        name: name.into(),
        state: PresenceState {
            focus,
            editing: true,
            extra,
        },
    }
}

/// Presence through the hub equals the per-viewer filter, for every kind of viewer at once.
#[test]
fn presence_reaches_each_class_as_its_own_view_gives_it() {
    let fx = Fx::new();
    let key = fx.board.key();
    let job = fx.board.card(fx.job).map(crate::domain::card_facts);
    let other = fx.board.card(fx.other).map(crate::domain::card_facts);
    let mut joins = PresenceMap::new();
    joins.insert(fx.worker1.id, entry("Wendy Worker", Some(fx.other)));
    joins.insert(fx.member.id, entry("Max Member", Some(fx.job)));
    let mut facts = std::collections::BTreeMap::new();
    facts.insert(
        fx.worker1.id,
        PresenceFacts {
            focus: other.clone(),
            jobs: job.clone().into_iter().collect(),
        },
    );
    facts.insert(
        fx.member.id,
        PresenceFacts {
            focus: job.clone(),
            jobs: vec![],
        },
    );
    let note = PresenceNote {
        board: key.into(),
        joins,
        leaves: PresenceMap::new(),
        facts,
    };
    let hub = Hub::default();
    let mut viewers = principals(&fx);
    viewers.push(fx.share(fx.other));
    let who: Vec<(Principal, Option<Uuid>, bool)> = viewers
        .into_iter()
        .enumerate()
        .map(|(i, p)| (p, None, i % 2 == 1))
        .collect();
    let mut subs = subscribe_all(&hub, key.board_id, &who);
    hub.publish_presence(&note);
    for s in &mut subs {
        let want: Vec<Wire> = note
            .for_viewer(&s.view)
            .map(|(joins, leaves)| {
                super::wire(s.codec.encode(&ServerFrame::Presence(PresenceFrame {
                    topic: s.topic,
                    joins,
                    leaves,
                })))
            })
            .into_iter()
            .collect();
        assert_eq!(drain(&mut s.rx), want, "{:?}", s.view);
    }
    // And the filter itself: the customer of the job sees only its worker, without the focus
    // of a card that is not theirs, nor any extra state.
    let (seen, _) = note
        .for_viewer(&fx.customer1)
        .expect("sees the worker on the job");
    assert_eq!(
        seen.keys().copied().collect::<Vec<_>>(),
        vec![fx.worker1.id]
    );
    let w = &seen[&fx.worker1.id];
    assert_eq!(w.state.focus, None);
    assert!(w.state.extra.is_empty());
    assert!(!w.state.editing);
    // A share link of the other card sees nobody (nobody is assigned to it).
    assert!(note.for_viewer(&fx.share(fx.other)).is_none());
    // A worker sees everyone, but not the focus on a card it is not assigned to.
    let (seen, _) = note
        .for_viewer(&fx.worker2)
        .expect("workers see colleagues");
    assert_eq!(seen.len(), 2);
    assert!(seen.values().all(|e| e.state.focus.is_none()));
    // Full view: as is.
    let (seen, _) = note.for_viewer(&fx.owner).expect("owner sees all");
    assert_eq!(seen, note.joins);
}

/// Subscribers of one class share one group: the event costs one decision for all of them.
#[test]
fn subscribers_are_grouped_by_view_class() {
    let fx = Fx::new();
    let key = fx.board.key();
    let hub = Hub::default();
    let who: Vec<(Principal, Option<Uuid>, bool)> = principals(&fx)
        .into_iter()
        .map(|p| (p, None, false))
        .collect();
    let subs = subscribe_all(&hub, key.board_id, &who);
    let topic = Topic::Board(key.board_id);
    assert_eq!(hub.subscriber_count(&topic), 12);
    // Full (owner, admin, member, the member key in scope), worker1 (twice), worker2,
    // customer c1, the share link of the job, the worker key (no user: no card), blind (the
    // key scoped to another board), and the stranger (blind, in another org).
    assert_eq!(hub.class_count(&topic), 8);
    hub.unsubscribe(&topic, subs[3].conn_id);
    assert_eq!(
        hub.class_count(&topic),
        8,
        "worker1 has a second connection"
    );
    hub.unsubscribe(&topic, subs[4].conn_id);
    assert_eq!(hub.class_count(&topic), 7);
    assert_eq!(hub.subscriber_count(&topic), 10);
}

/// One step of the admission-counter test.
#[derive(Debug, Clone)]
enum QueueStep {
    Subscribe {
        conn: usize,
        topic: usize,
    },
    Unsubscribe {
        conn: usize,
        topic: usize,
    },
    /// Queue this many frames (past the queue's capacity: the connection is closed 4009 and
    /// the frames are dropped, as for a client that does not read).
    Enqueue {
        conn: usize,
        frames: usize,
    },
    /// The connection's task takes this many frames.
    Drain {
        conn: usize,
        frames: usize,
    },
}

fn queue_step() -> impl Strategy<Value = QueueStep> {
    prop_oneof![
        2 => (0usize..6, 0usize..2).prop_map(|(conn, topic)| QueueStep::Subscribe { conn, topic }),
        1 => (0usize..6, 0usize..2).prop_map(|(conn, topic)| QueueStep::Unsubscribe { conn, topic }),
        4 => (0usize..6, 1usize..5).prop_map(|(conn, frames)| QueueStep::Enqueue { conn, frames }),
        3 => (0usize..6, 1usize..5).prop_map(|(conn, frames)| QueueStep::Drain { conn, frames }),
    ]
}

/// Queue capacity and behind threshold of the admission tests: small, so that sequences
/// cross the threshold and overflow often.
const QUEUE: usize = 8;
const BEHIND: usize = 3;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// The counters admission reads equal, after every step, what walking the subscribers
    /// gives: by the connections' own counts and by their channels' lengths.
    #[test]
    fn behind_counter_equals_the_walk(steps in proptest::collection::vec(queue_step(), 1..80)) {
        let hub = Hub::default();
        let fx = Fx::new();
        let view = Arc::new(principals(&fx)[0].clone());
        let topics = [Topic::Board(Uuid::now_v7()), Topic::Board(Uuid::now_v7())];
        let mut conns: Vec<_> = (0..6)
            .map(|_| ConnHandle::bounded(Codec::Json, QUEUE, usize::MAX, BEHIND))
            .collect();
        let frame = wire(b"{}".to_vec());
        for step in steps {
            match step {
                QueueStep::Subscribe { conn, topic } => hub.subscribe(
                    topics[topic],
                    Subscriber {
                        conn: conns[conn].0.clone(),
                        view: view.clone(),
                        board: Some(Uuid::now_v7()),
                    },
                ),
                QueueStep::Unsubscribe { conn, topic } => {
                    hub.unsubscribe(&topics[topic], conns[conn].0.id);
                }
                QueueStep::Enqueue { conn, frames } => {
                    for _ in 0..frames {
                        conns[conn].0.send_wire(frame.clone());
                    }
                }
                QueueStep::Drain { conn, frames } => {
                    for _ in 0..frames {
                        let _ = conns[conn].1.try_recv();
                    }
                }
            }
            for topic in &topics {
                let counted = hub.behind(topic);
                prop_assert_eq!(counted, hub.behind_by_walk(topic));
                let by_channel = hub
                    .subscribers(topic)
                    .iter()
                    .filter(|s| s.conn.queued() > BEHIND)
                    .count();
                prop_assert_eq!(counted.0, by_channel);
                prop_assert_eq!(counted.1, hub.subscriber_count(topic));
            }
        }
    }
}

/// Producers on several threads and a consumer on another cross the threshold concurrently;
/// once they stop, the counter says what the queues hold.
#[test]
fn behind_counter_settles_under_concurrent_crossings() {
    let hub = Arc::new(Hub::default());
    let fx = Fx::new();
    let view = Arc::new(principals(&fx)[0].clone());
    let board = Uuid::now_v7();
    let topic = Topic::Board(board);
    for round in 0..50 {
        let (conn, mut rx) = ConnHandle::bounded(Codec::Json, 1 << 16, usize::MAX, BEHIND);
        hub.subscribe(
            topic,
            Subscriber {
                conn: conn.clone(),
                view: view.clone(),
                board: Some(board),
            },
        );
        let producers: Vec<_> = (0..3)
            .map(|_| {
                let conn = conn.clone();
                std::thread::spawn(move || {
                    for _ in 0..2_000 {
                        conn.send_wire(wire(b"{}".to_vec()));
                    }
                })
            })
            .collect();
        let consumer = std::thread::spawn(move || {
            let mut taken = 0;
            // Leaves 0 to 7 frames queued: either side of the threshold.
            while taken < 6_000 - round % 8 {
                if rx.try_recv().is_ok() {
                    taken += 1;
                } else {
                    std::thread::yield_now();
                }
            }
            rx
        });
        for p in producers {
            p.join().expect("producer");
        }
        let rx = consumer.join().expect("consumer");
        assert_eq!(
            hub.behind(&topic),
            hub.behind_by_walk(&topic),
            "round {round}"
        );
        let by_channel = hub
            .subscribers(&topic)
            .iter()
            .filter(|s| s.conn.queued() > BEHIND)
            .count();
        assert_eq!(hub.behind(&topic).0, by_channel, "round {round}");
        drop(rx);
        hub.unsubscribe(&topic, conn.id);
    }
}
