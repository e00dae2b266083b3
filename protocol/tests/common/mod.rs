//! Sample values of every frame, op and event kind, shared by the round-trip tests.
#![allow(dead_code)]

use boardroom_protocol::event::*;
use boardroom_protocol::op::*;
use boardroom_protocol::*;
use chrono::{DateTime, TimeZone, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

pub fn id(n: u128) -> Uuid {
    Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | n)
}

pub fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 123_000_000)
        .single()
        .expect("valid timestamp")
}

pub fn column(n: u128) -> Column {
    Column {
        id: id(n),
        name: format!("Column {n}"),
        position: "V".into(),
        is_done: n % 2 == 0,
        color: None,
    }
}

pub fn card_full() -> Card {
    Card {
        id: id(10),
        column_id: id(1),
        position: "Vk".into(),
        title: "Fix the boiler".into(),
        description: Some("Ünïcödé — \"quoted\"\nnew line".into()),
        assignees: vec![id(100), id(101)],
        customer_id: Some(id(200)),
        labels: vec!["urgent".into(), "plumbing".into()],
        due_at: Some(at(3600)),
        checklist: vec![
            ChecklistItem {
                id: id(20),
                title: "Turn off water".into(),
                done: true,
                position: "V".into(),
            },
            ChecklistItem {
                id: id(21),
                title: "Replace valve".into(),
                done: false,
                position: "k".into(),
            },
        ],
        comments: vec![Comment {
            id: id(30),
            author_id: id(100),
            body: "On my way @bob".into(),
            mentions: vec![id(101)],
            created_at: at(10),
        }],
        version: 7,
        archived: false,
        estimate_minutes: None,
        priority: None,
    }
}

pub fn card_bare() -> Card {
    Card {
        archived: true,
        ..Card::new(id(11), id(2), "0V", "x")
    }
}

pub fn ops() -> Vec<Op> {
    vec![
        Op::ColumnCreate(ColumnCreate {
            name: "To do".into(),
            after: None,
            is_done: None,
            column_id: None,
            color: None,
        }),
        Op::ColumnCreate(ColumnCreate {
            name: "Done".into(),
            after: Some(None),
            is_done: Some(true),
            column_id: Some(id(1)),
            color: None,
        }),
        Op::ColumnCreate(ColumnCreate {
            name: "Doing".into(),
            after: Some(Some(id(2))),
            is_done: Some(false),
            column_id: None,
            color: None,
        }),
        Op::ColumnUpdate(ColumnUpdate {
            column_id: id(1),
            name: Some("Finished".into()),
            is_done: Some(true),
            color: None,
        }),
        Op::ColumnUpdate(ColumnUpdate {
            column_id: id(1),
            name: None,
            is_done: Some(false),
            color: None,
        }),
        Op::ColumnMove(ColumnMove {
            column_id: id(1),
            after: None,
        }),
        Op::ColumnMove(ColumnMove {
            column_id: id(1),
            after: Some(id(2)),
        }),
        Op::ColumnDelete(ColumnDelete { column_id: id(1) }),
        Op::CardCreate(CardCreate::new(id(1), "Fix")),
        Op::CardCreate(CardCreate {
            description: Some("desc".into()),
            after: Some(Some(id(12))),
            assignees: vec![id(100)],
            customer_id: Some(id(200)),
            labels: vec!["a".into()],
            due_at: Some(at(5)),
            card_id: Some(id(10)),
            ..CardCreate::new(id(1), "Fix")
        }),
        Op::CardCreate(CardCreate {
            after: Some(None),
            ..CardCreate::new(id(1), "Top")
        }),
        Op::CardUpdate(CardUpdate {
            card_id: id(10),
            title: Some("New".into()),
            ..CardUpdate::default()
        }),
        Op::CardUpdate(CardUpdate {
            card_id: id(10),
            title: None,
            description: Some(None),
            labels: Some(vec![]),
            due_at: Some(None),
            customer_id: Some(None),
            expected_version: Some(3),
            estimate_minutes: None,
            priority: None,
        }),
        Op::CardUpdate(CardUpdate {
            card_id: id(10),
            title: None,
            description: Some(Some("d".into())),
            labels: Some(vec!["x".into(), "y".into()]),
            due_at: Some(Some(at(99))),
            customer_id: Some(Some(id(200))),
            expected_version: None,
            estimate_minutes: None,
            priority: None,
        }),
        Op::CardMove(CardMove {
            card_id: id(10),
            column_id: id(2),
            after: None,
        }),
        Op::CardMove(CardMove {
            card_id: id(10),
            column_id: id(2),
            after: Some(id(11)),
        }),
        Op::CardAssign(CardAssign {
            card_id: id(10),
            assignees: vec![],
        }),
        Op::CardAssign(CardAssign {
            card_id: id(10),
            assignees: vec![id(100), id(101)],
        }),
        Op::CardArchive(CardArchive { card_id: id(10) }),
        Op::ChecklistAdd(ChecklistAdd {
            card_id: id(10),
            title: "Step".into(),
            item_id: None,
        }),
        Op::ChecklistAdd(ChecklistAdd {
            card_id: id(10),
            title: "Step".into(),
            item_id: Some(id(20)),
        }),
        Op::ChecklistToggle(ChecklistToggle {
            card_id: id(10),
            item_id: id(20),
            done: true,
        }),
        Op::ChecklistRemove(ChecklistRemove {
            card_id: id(10),
            item_id: id(20),
        }),
        Op::CommentAdd(CommentAdd {
            card_id: id(10),
            body: "hello".into(),
            mentions: vec![],
        }),
        Op::CommentAdd(CommentAdd {
            card_id: id(10),
            body: "hi @a".into(),
            mentions: vec![id(100)],
        }),
    ]
}

pub fn events() -> Vec<EventBody> {
    vec![
        EventBody::ColumnCreated(ColumnData { column: column(1) }),
        EventBody::ColumnUpdated(ColumnData { column: column(2) }),
        EventBody::ColumnMoved(ColumnData { column: column(3) }),
        EventBody::ColumnDeleted(ColumnDeleted { column_id: id(1) }),
        EventBody::CardCreated(CardData { card: card_full() }),
        EventBody::CardUpdated(CardData { card: card_bare() }),
        EventBody::CardMoved(CardMoved {
            card: card_full(),
            from_column_id: id(2),
            column: ColumnRef::from(&column(1)),
        }),
        EventBody::CardAssigned(CardData { card: card_full() }),
        EventBody::CardArchived(CardData { card: card_bare() }),
        EventBody::ChecklistAdded(ChecklistItemData {
            item: card_full().checklist[0].clone(),
            card_id: id(10),
            version: 8,
        }),
        EventBody::ChecklistToggled(ChecklistItemData {
            item: card_full().checklist[1].clone(),
            card_id: id(10),
            version: 9,
        }),
        EventBody::ChecklistRemoved(ChecklistRemoved {
            item_id: id(20),
            card_id: id(10),
            version: 10,
        }),
        EventBody::CommentAdded(CommentAdded {
            comment: card_full().comments[0].clone(),
            card_id: id(10),
            version: 11,
        }),
        EventBody::CardVisible(CardData { card: card_full() }),
        EventBody::CardHidden(CardHidden { card_id: id(10) }),
    ]
}

pub fn presence_state() -> PresenceState {
    let mut extra = BTreeMap::new();
    extra.insert("typing".to_string(), serde_json::json!(true));
    PresenceState {
        focus: Some(id(10)),
        editing: true,
        extra,
    }
}

pub fn client_frames() -> Vec<ClientFrame> {
    let board = Topic::Board(id(500));
    let mut v = vec![
        ClientFrame::Hello(Hello {
            r#ref: None,
            token: "br_abc".into(),
            client: Some("bot/1.0".into()),
        }),
        ClientFrame::Hello(Hello {
            r#ref: Some(Ref::Int(0)),
            token: "brs_x".into(),
            client: None,
        }),
        ClientFrame::Auth(Auth {
            r#ref: Some(Ref::Str("renew".into())),
            token: "eyJ.jwt".into(),
        }),
        ClientFrame::Ping(Ping { r#ref: None }),
        ClientFrame::Ping(Ping {
            r#ref: Some(Ref::Int(-5)),
        }),
        ClientFrame::Ping(Ping {
            r#ref: Some(Ref::Int(i64::MAX)),
        }),
        ClientFrame::Subscribe(Subscribe {
            r#ref: Some(Ref::Int(1)),
            topic: board,
            since: None,
        }),
        ClientFrame::Subscribe(Subscribe {
            r#ref: Some(Ref::Str("1".into())),
            topic: Topic::Card(id(10)),
            since: Some(Since { epoch: 3, seq: 42 }),
        }),
        ClientFrame::Subscribe(Subscribe {
            r#ref: None,
            topic: Topic::Org(id(600)),
            since: None,
        }),
        ClientFrame::Unsubscribe(Unsubscribe {
            r#ref: Some(Ref::Int(3)),
            topic: Topic::User(id(100)),
        }),
        ClientFrame::PresenceSet(PresenceSet {
            r#ref: Some(Ref::Int(4)),
            topic: board,
            state: presence_state(),
        }),
        ClientFrame::PresenceSet(PresenceSet {
            r#ref: None,
            topic: board,
            state: PresenceState::default(),
        }),
        ClientFrame::NotificationsRead(NotificationsRead {
            r#ref: Some(Ref::Int(5)),
            target: ReadTarget::Ids(vec![id(1), id(2)]),
        }),
        ClientFrame::NotificationsRead(NotificationsRead {
            r#ref: None,
            target: ReadTarget::Ids(vec![]),
        }),
        ClientFrame::NotificationsRead(NotificationsRead {
            r#ref: Some(Ref::Int(6)),
            target: ReadTarget::All,
        }),
    ];
    for (i, op) in ops().into_iter().enumerate() {
        v.push(ClientFrame::Op(OpFrame {
            r#ref: Some(Ref::Int(i as i64)),
            topic: board,
            op_id: id(1000 + i as u128),
            op,
        }));
    }
    v
}

pub fn actor() -> Actor {
    Actor {
        kind: PrincipalKind::User,
        id: id(100),
        name: "Ann".into(),
    }
}

pub fn server_frames() -> Vec<ServerFrame> {
    let board = Topic::Board(id(500));
    let mut presence = PresenceMap::new();
    presence.insert(
        id(100),
        PresenceEntry {
            name: "Ann".into(),
            state: presence_state(),
        },
    );
    let board_snapshot = BoardSnapshot {
        id: id(500),
        org_id: id(600),
        name: "Jobs".into(),
        columns: vec![column(1), column(2)],
        cards: vec![card_full(), card_bare()],
    };
    let mut v = vec![
        ServerFrame::Welcome(Welcome {
            r#ref: None,
            session_id: id(700),
            principal: PrincipalInfo {
                kind: PrincipalKind::ApiKey,
                id: id(800),
                org_id: id(600),
                role: Role::Member,
                name: "CI bot".into(),
            },
            heartbeat_ms: 25_000,
            max_frame_bytes: 65_536,
            server_time: at(0),
        }),
        ServerFrame::Ok(OkReply::new(Some(Ref::Int(1)))),
        ServerFrame::Ok(OkReply::new(None)),
        ServerFrame::Ok(OkReply {
            r#ref: Some(Ref::Int(1)),
            topic: Some(board),
            epoch: Some(2),
            seq: Some(40),
            snapshot: Some(Snapshot::Board(board_snapshot)),
            presence: Some(presence.clone()),
            recovered: Some(false),
            id: None,
            unread: None,
        }),
        ServerFrame::Ok(OkReply {
            r#ref: Some(Ref::Str("c".into())),
            topic: Some(Topic::Card(id(10))),
            epoch: Some(2),
            seq: Some(40),
            snapshot: Some(Snapshot::Card(CardSnapshot {
                card: card_full(),
                column: ColumnRef::from(&column(1)),
                board_id: id(500),
            })),
            presence: Some(PresenceMap::new()),
            recovered: None,
            id: None,
            unread: None,
        }),
        ServerFrame::Ok(OkReply {
            r#ref: Some(Ref::Int(9)),
            topic: Some(Topic::Org(id(600))),
            snapshot: Some(Snapshot::Other(
                serde_json::json!({"boards": [{"id": id(500), "name": "Jobs"}]}),
            )),
            ..OkReply::default()
        }),
        ServerFrame::Ok(OkReply {
            r#ref: Some(Ref::Int(2)),
            topic: Some(board),
            epoch: Some(2),
            seq: Some(45),
            recovered: Some(true),
            ..OkReply::default()
        }),
        ServerFrame::Ok(OkReply {
            r#ref: Some(Ref::Int(7)),
            seq: Some(46),
            id: Some(id(10)),
            ..OkReply::default()
        }),
        ServerFrame::Ok(OkReply {
            r#ref: Some(Ref::Int(8)),
            unread: Some(0),
            ..OkReply::default()
        }),
        ServerFrame::Error(ErrorReply::new(
            Some(Ref::Int(7)),
            ErrorCode::Conflict,
            "card changed",
        )),
        ServerFrame::Error(ErrorReply {
            r#ref: None,
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            retry_after_ms: Some(250),
            field: None,
        }),
        ServerFrame::Error(ErrorReply {
            r#ref: Some(Ref::Str("x".into())),
            code: ErrorCode::BadRequest,
            message: "title: must not be empty".into(),
            retry_after_ms: None,
            field: Some("title".into()),
        }),
        ServerFrame::Pong(Pong {
            r#ref: Some(Ref::Int(3)),
        }),
        ServerFrame::Pong(Pong::default()),
        ServerFrame::Presence(PresenceFrame {
            topic: board,
            joins: presence.clone(),
            leaves: PresenceMap::new(),
        }),
        ServerFrame::Presence(PresenceFrame {
            topic: Topic::Org(id(600)),
            joins: PresenceMap::new(),
            leaves: presence,
        }),
    ];
    v.push(ServerFrame::Resync(ResyncFrame {
        topic: board,
        reason: "the board restarted".into(),
    }));
    for kind in [
        NotificationKind::CardAssigned,
        NotificationKind::Mention,
        NotificationKind::JobStatus,
    ] {
        v.push(ServerFrame::Notification(NotificationFrame {
            notification: Notification {
                id: id(900),
                kind,
                board_id: id(500),
                card_id: id(10),
                title: "Fix the boiler".into(),
                body: "Assigned to you".into(),
                actor: actor(),
                created_at: at(1),
                read: false,
            },
            unread: 3,
        }));
    }
    for (i, body) in events().into_iter().enumerate() {
        v.push(ServerFrame::Event(EventFrame {
            topic: board,
            epoch: 2,
            seq: 100 + i as u64,
            body,
            actor: actor(),
            op_id: id(1000),
            at: at(2),
        }));
    }
    v
}
