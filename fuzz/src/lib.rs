//! The fuzz targets' bodies, one function per target, so that `fuzz_targets/*.rs` stay one
//! line each. Every function must return normally for any input: a panic is a finding.
//! Beyond "no panic", each checks a property that would otherwise fail silently.

use arbitrary::{Result, Unstructured};
use boardroom::cluster::wire;
use boardroom_actors::domain::{ApplyCtx, BoardState, Limits, OrgDirectory};
use boardroom_actors::policy::Principal;
use boardroom_protocol::op::*;
use boardroom_protocol::{Codec, Op, PrincipalKind, Role};
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

/// A client frame as the WebSocket session decodes it. Whatever decodes must encode and decode
/// back to the same frame: otherwise a client library and the server disagree on its meaning.
fn frame(codec: Codec, data: &[u8]) {
    let _ = codec.decode_server(data);
    let Ok(frame) = codec.decode_client(data) else {
        return;
    };
    let bytes = codec
        .encode_client(&frame)
        .expect("a decoded frame encodes");
    let again = codec
        .decode_client(&bytes)
        .expect("an encoded frame decodes");
    assert_eq!(frame, again, "frame changed in a round trip");
}

pub fn frame_json(data: &[u8]) {
    frame(Codec::Json, data);
}

pub fn frame_msgpack(data: &[u8]) {
    frame(Codec::MsgPack, data);
}

/// The JSON bodies of the HTTP handlers, through the server's own parser.
pub fn http_bodies(data: &[u8]) {
    boardroom::http::bodies::parse_all(data);
}

/// A message between nodes, as read off Redis. What decodes must survive re-encoding.
pub fn cluster_wire(data: &[u8]) {
    if let Some(m) = wire::decode(data) {
        assert!(
            wire::decode(&wire::encode(&m)).is_some(),
            "re-encoded wire message does not decode: {m:?}"
        );
    }
}

/// Ids the generated ops pick from, so that most ops name things that exist.
struct Fixture {
    board: BoardState,
    dir: OrgDirectory,
    principals: Vec<Principal>,
    ids: Vec<Uuid>,
}

fn uid(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000, 0)
        .single()
        .expect("valid timestamp")
}

/// A small board (3 columns, 2 cards, a checklist item), an org with one user of each role, a
/// customer user, a share link, API keys scoped to this board and to another, and a stranger
/// from another org.
fn fixture() -> Fixture {
    let (org, other_org, board_id, other_board) = (uid(1), uid(2), uid(3), uid(4));
    let (c1, c2) = (uid(50), uid(51));
    let (todo, doing, done, job, other, item) =
        (uid(100), uid(101), uid(102), uid(200), uid(201), uid(300));
    let owner = Principal::user(uid(10), org, Role::Owner);
    let mut customer = Principal::user(uid(15), org, Role::Customer);
    customer.customer_id = Some(c1);
    let key = |role, scope| Principal {
        kind: PrincipalKind::ApiKey,
        id: uid(70),
        org_id: org,
        role,
        board_scope: scope,
        share_card: None,
        customer_id: None,
    };
    let principals = vec![
        owner.clone(),
        Principal::user(uid(11), org, Role::Admin),
        Principal::user(uid(12), org, Role::Member),
        Principal::user(uid(13), org, Role::Worker),
        Principal::user(uid(14), org, Role::Worker),
        customer.clone(),
        Principal {
            kind: PrincipalKind::Share,
            id: uid(60),
            org_id: org,
            role: Role::Customer,
            board_scope: None,
            share_card: Some(job),
            customer_id: None,
        },
        key(Role::Member, Some(vec![board_id])),
        key(Role::Admin, Some(vec![other_board])),
        key(Role::Worker, None),
        Principal::user(uid(80), other_org, Role::Owner),
    ];
    let dir = OrgDirectory::default()
        .with_member(uid(10), Role::Owner)
        .with_member(uid(11), Role::Admin)
        .with_member(uid(12), Role::Member)
        .with_member(uid(13), Role::Worker)
        .with_member(uid(14), Role::Worker)
        .with_customer_user(customer.id, c1)
        .with_customer(c2);
    let mut board = BoardState::new(board_id, org, "Jobs");
    let limits = Limits::default();
    let setup = [
        Op::ColumnCreate(ColumnCreate {
            name: "To do".into(),
            after: None,
            is_done: Some(false),
            column_id: Some(todo),
        }),
        Op::ColumnCreate(ColumnCreate {
            name: "Doing".into(),
            after: None,
            is_done: Some(false),
            column_id: Some(doing),
        }),
        Op::ColumnCreate(ColumnCreate {
            name: "Done".into(),
            after: None,
            is_done: Some(true),
            column_id: Some(done),
        }),
        Op::CardCreate(CardCreate {
            column_id: todo,
            title: "Fix the boiler".into(),
            description: Some("Basement".into()),
            after: None,
            assignees: vec![uid(13)],
            customer_id: Some(c1),
            labels: vec!["urgent".into()],
            due_at: None,
            card_id: Some(job),
        }),
        Op::CardCreate(CardCreate {
            column_id: todo,
            title: "Paint the fence".into(),
            description: None,
            after: None,
            assignees: vec![],
            customer_id: Some(c2),
            labels: vec![],
            due_at: None,
            card_id: Some(other),
        }),
        Op::ChecklistAdd(ChecklistAdd {
            card_id: job,
            title: "Turn off water".into(),
            item_id: Some(item),
        }),
    ];
    for (n, op) in setup.iter().enumerate() {
        let ctx = ApplyCtx {
            now: now(),
            new_id: uid(1000 + n as u128),
            directory: &dir,
            limits: &limits,
        };
        board
            .apply_op(&owner, op, &ctx)
            .expect("fixture op applies");
    }
    let mut ids = vec![todo, doing, done, job, other, item, c1, c2, org, board_id];
    ids.extend(principals.iter().map(|p| p.id));
    Fixture {
        board,
        dir,
        principals,
        ids,
    }
}

fn id(u: &mut Unstructured, ids: &[Uuid]) -> Result<Uuid> {
    Ok(match u.int_in_range(0..=7u8)? {
        0 => Uuid::from_u128(u.arbitrary()?),
        // Ids the board minted for earlier ops of this input.
        1 => uid(2000 + u128::from(u.int_in_range(0..=15u8)?)),
        _ => *u.choose(ids)?,
    })
}

fn ids(u: &mut Unstructured, pool: &[Uuid]) -> Result<Vec<Uuid>> {
    let n = u.int_in_range(0..=4u8)?;
    (0..n).map(|_| id(u, pool)).collect()
}

fn text(u: &mut Unstructured) -> Result<String> {
    Ok(match u.int_in_range(0..=5u8)? {
        0 => String::new(),
        1 => " \t\n".into(),
        2 => "x".repeat(u.int_in_range(100..=20_000usize)?),
        3 => "é\u{0}\u{202e}😀".into(),
        _ => u.arbitrary()?,
    })
}

fn opt<T>(
    u: &mut Unstructured,
    f: impl FnOnce(&mut Unstructured) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if u.arbitrary()? { Some(f(u)?) } else { None })
}

fn when(u: &mut Unstructured) -> Result<DateTime<Utc>> {
    let secs = u.int_in_range(-100_000_000_000i64..=100_000_000_000)?;
    Ok(Utc.timestamp_opt(secs, 0).single().unwrap_or_else(now))
}

fn op(u: &mut Unstructured, p: &[Uuid]) -> Result<Op> {
    Ok(match u.int_in_range(0..=12u8)? {
        0 => Op::ColumnCreate(ColumnCreate {
            name: text(u)?,
            after: opt(u, |u| opt(u, |u| id(u, p)))?,
            is_done: u.arbitrary()?,
            column_id: opt(u, |u| id(u, p))?,
        }),
        1 => Op::ColumnUpdate(ColumnUpdate {
            column_id: id(u, p)?,
            name: opt(u, text)?,
            is_done: u.arbitrary()?,
        }),
        2 => Op::ColumnMove(ColumnMove {
            column_id: id(u, p)?,
            after: opt(u, |u| id(u, p))?,
        }),
        3 => Op::ColumnDelete(ColumnDelete {
            column_id: id(u, p)?,
        }),
        4 => Op::CardCreate(CardCreate {
            column_id: id(u, p)?,
            title: text(u)?,
            description: opt(u, text)?,
            after: opt(u, |u| opt(u, |u| id(u, p)))?,
            assignees: ids(u, p)?,
            customer_id: opt(u, |u| id(u, p))?,
            labels: (0..u.int_in_range(0..=3u8)?)
                .map(|_| text(u))
                .collect::<Result<_>>()?,
            due_at: opt(u, when)?,
            card_id: opt(u, |u| id(u, p))?,
        }),
        5 => Op::CardUpdate(CardUpdate {
            card_id: id(u, p)?,
            title: opt(u, text)?,
            description: opt(u, |u| opt(u, text))?,
            labels: opt(u, |u| {
                (0..u.int_in_range(0..=3u8)?)
                    .map(|_| text(u))
                    .collect::<Result<_>>()
            })?,
            due_at: opt(u, |u| opt(u, when))?,
            customer_id: opt(u, |u| opt(u, |u| id(u, p)))?,
            expected_version: u.arbitrary()?,
        }),
        6 => Op::CardMove(CardMove {
            card_id: id(u, p)?,
            column_id: id(u, p)?,
            after: opt(u, |u| id(u, p))?,
        }),
        7 => Op::CardAssign(CardAssign {
            card_id: id(u, p)?,
            assignees: ids(u, p)?,
        }),
        8 => Op::CardArchive(CardArchive { card_id: id(u, p)? }),
        9 => Op::ChecklistAdd(ChecklistAdd {
            card_id: id(u, p)?,
            title: text(u)?,
            item_id: opt(u, |u| id(u, p))?,
        }),
        10 => Op::ChecklistToggle(ChecklistToggle {
            card_id: id(u, p)?,
            item_id: id(u, p)?,
            done: u.arbitrary()?,
        }),
        11 => Op::ChecklistRemove(ChecklistRemove {
            card_id: id(u, p)?,
            item_id: id(u, p)?,
        }),
        _ => Op::CommentAdd(CommentAdd {
            card_id: id(u, p)?,
            body: text(u)?,
            mentions: ids(u, p)?,
        }),
    })
}

/// Up to 16 arbitrary ops by arbitrary principals against the fixture board. Properties: a
/// refused op leaves the board as it was; the board's invariants hold after every op; replaying
/// the emitted events on the starting board rebuilds the same board (what a restart or a
/// follower node does); every principal's view can be taken.
pub fn ops_apply(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let Fixture {
        mut board,
        dir,
        principals,
        ids,
    } = fixture();
    let mut replica = board.clone();
    let limits = Limits::default();
    for n in 0..16u128 {
        let (Ok(who), Ok(op)) = (u.choose_index(principals.len()), op(&mut u, &ids)) else {
            break;
        };
        let p = &principals[who];
        let ctx = ApplyCtx {
            now: now(),
            new_id: uid(2000 + n),
            directory: &dir,
            limits: &limits,
        };
        let before = board.clone();
        match board.apply_op(p, &op, &ctx) {
            Err(_) => assert_eq!(board, before, "a refused op changed the board: {op:?}"),
            Ok(applied) => {
                for ev in &applied.events {
                    replica
                        .apply_event(ev)
                        .unwrap_or_else(|e| panic!("event does not replay: {e}: {ev:?}"));
                }
            }
        }
        if let Err(e) = board.check_invariants() {
            panic!("invariant broken after {op:?} by {p:?}: {e}");
        }
    }
    assert_eq!(board, replica, "replayed events rebuild another board");
    for p in &principals {
        let _ = board.snapshot_for(p);
        for id in &ids {
            let _ = board.card_snapshot_for(p, *id);
        }
    }
}
