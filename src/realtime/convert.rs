//! Between the store's rows and the protocol's objects (which are also the domain's state).

use crate::store::{self, AppliedOp, BoardCommit, EventRecord, RowChange};
use boardroom_actors::live::ports::{JournalEntry, RowWrite};
use boardroom_protocol::{
    Actor, BoardSnapshot, Card, Column, Comment, EventBody, EventFrame, Notification,
    NotificationFrame, NotificationKind, Priority,
};
use uuid::Uuid;

pub fn card_from_row(c: &store::Card) -> Card {
    Card {
        id: c.id,
        column_id: c.column_id,
        position: c.position.clone(),
        title: c.title.clone(),
        description: (!c.description.is_empty()).then(|| c.description.clone()),
        assignees: c.assignees.clone(),
        customer_id: c.customer_id,
        labels: c.labels.clone(),
        due_at: c.due_at,
        // A value the schema's CHECK lets in is one `Priority::parse` knows.
        priority: c.priority.as_deref().and_then(Priority::parse),
        estimate_minutes: c.estimate_minutes.and_then(|m| u32::try_from(m).ok()),
        checklist: c.checklist.clone(),
        comments: c
            .comments
            .iter()
            .map(|m| Comment {
                id: m.id,
                author_id: m.author_id.unwrap_or(Uuid::nil()),
                body: m.body.clone(),
                mentions: m.mentions.clone(),
                created_at: m.created_at,
            })
            .collect(),
        version: c.version.max(0) as u64,
        archived: c.archived,
    }
}

pub fn card_to_row(org_id: Uuid, board_id: Uuid, c: &Card) -> store::Card {
    store::Card {
        id: c.id,
        org_id,
        board_id,
        column_id: c.column_id,
        position: c.position.clone(),
        title: c.title.clone(),
        description: c.description.clone().unwrap_or_default(),
        assignees: c.assignees.clone(),
        customer_id: c.customer_id,
        labels: c.labels.clone(),
        due_at: c.due_at,
        priority: c.priority.map(|p| p.as_str().to_string()),
        estimate_minutes: c.estimate_minutes.and_then(|m| i32::try_from(m).ok()),
        checklist: c.checklist.clone(),
        comments: c
            .comments
            .iter()
            .map(|m| store::Comment {
                id: m.id,
                author_id: (!m.author_id.is_nil()).then_some(m.author_id),
                body: m.body.clone(),
                mentions: m.mentions.clone(),
                created_at: m.created_at,
            })
            .collect(),
        version: i64::try_from(c.version).unwrap_or(i64::MAX),
        archived: c.archived,
    }
}

pub fn snapshot(board: &store::Board, cards: &[store::Card]) -> BoardSnapshot {
    BoardSnapshot {
        id: board.id,
        org_id: board.org_id,
        name: board.name.clone(),
        columns: board
            .columns
            .iter()
            .map(|c| Column {
                id: c.id,
                name: c.name.clone(),
                position: c.position.clone(),
                is_done: c.is_done,
                color: c.color.clone(),
            })
            .collect(),
        cards: cards.iter().map(card_from_row).collect(),
    }
}

/// The stored form of an event: `kind` and `data` exactly as on the wire.
pub fn event_record(org_id: Uuid, board_id: Uuid, f: &EventFrame) -> EventRecord {
    EventRecord {
        org_id,
        board_id,
        epoch: f.epoch as i64,
        seq: f.seq as i64,
        op_id: f.op_id,
        kind: f.body.kind().to_string(),
        data: body_data(&f.body),
        actor: store::JsonText::encode(&f.actor).unwrap_or_else(|_| store::JsonText::null()),
        at: f.at,
        ip: None,
    }
}

/// The body's `data`, encoded once: the body serializes as {"kind": …, "data": …}, and the
/// text of its `data` is kept as it is (no tree is built).
fn body_data(body: &EventBody) -> store::JsonText {
    #[derive(serde::Deserialize)]
    struct Tagged<'a> {
        #[serde(borrow)]
        data: Option<&'a serde_json::value::RawValue>,
    }
    let Ok(text) = serde_json::to_string(body) else {
        return store::JsonText::null();
    };
    match serde_json::from_str::<Tagged<'_>>(&text) {
        Ok(Tagged { data: Some(d) }) => d.to_owned().into(),
        _ => store::JsonText::null(),
    }
}

/// Rebuilds the wire event from its stored form (HTTP event log, SSE replay).
pub fn event_frame(r: &EventRecord) -> Option<EventFrame> {
    let tagged = format!(
        r#"{{"kind":{},"data":{}}}"#,
        serde_json::to_string(&r.kind).ok()?,
        r.data.get()
    );
    let body: EventBody = serde_json::from_str(&tagged).ok()?;
    let actor: Actor = r.actor.parse().ok()?;
    Some(EventFrame {
        topic: boardroom_protocol::Topic::Board(r.board_id),
        epoch: r.epoch as u64,
        seq: r.seq as u64,
        body,
        actor,
        op_id: r.op_id,
        at: r.at,
    })
}

/// The store's form of everything one applied op must make durable.
pub fn board_commit(e: JournalEntry) -> BoardCommit {
    let (org_id, board_id) = (e.org_id, e.board_id);
    let epoch = i64::try_from(e.epoch).unwrap_or(i64::MAX);
    BoardCommit {
        org_id,
        board_id,
        epoch,
        events: e
            .events
            .iter()
            .map(|f| EventRecord {
                ip: e.ip.map(|ip| ip.to_string()),
                ..event_record(org_id, board_id, f)
            })
            .collect(),
        ops: vec![AppliedOp {
            op_id: e.op.op_id,
            principal_id: e.op.principal_id,
            epoch,
            seq: i64::try_from(e.op.seq).unwrap_or(i64::MAX),
            result_id: e.op.result_id,
        }],
        changes: e
            .rows
            .into_iter()
            .map(|r| match r {
                RowWrite::Column(c) => RowChange::UpsertColumn {
                    org_id,
                    board_id,
                    column: store::Column {
                        id: c.id,
                        name: c.name,
                        position: c.position,
                        is_done: c.is_done,
                        color: c.color,
                    },
                },
                RowWrite::DeleteColumn(column_id) => RowChange::DeleteColumn {
                    board_id,
                    column_id,
                },
                RowWrite::Card(card) => {
                    RowChange::UpsertCard(Box::new(card_to_row(org_id, board_id, &card)))
                }
            })
            .collect(),
        notifications: e
            .notifications
            .into_iter()
            .map(|n| store::Notification {
                id: n.notification.id,
                org_id: n.org_id,
                user_id: n.user_id,
                kind: n.notification.kind.as_str().into(),
                board_id: Some(n.notification.board_id),
                card_id: Some(n.notification.card_id),
                title: n.notification.title,
                body: n.notification.body,
                actor: serde_json::to_value(&n.notification.actor).unwrap_or_default(),
                created_at: n.notification.created_at,
                read: n.notification.read,
            })
            .collect(),
    }
}

pub fn notification_frame(n: &store::Notification, unread: u64) -> Option<NotificationFrame> {
    Some(NotificationFrame {
        notification: notification(n)?,
        unread,
    })
}

pub fn notification(n: &store::Notification) -> Option<Notification> {
    let kind = match n.kind.as_str() {
        "card.assigned" => NotificationKind::CardAssigned,
        "mention" => NotificationKind::Mention,
        "job.status" => NotificationKind::JobStatus,
        _ => return None,
    };
    Some(Notification {
        id: n.id,
        kind,
        board_id: n.board_id?,
        card_id: n.card_id?,
        title: n.title.clone(),
        body: n.body.clone(),
        actor: serde_json::from_value(n.actor.clone()).ok()?,
        created_at: n.created_at,
        read: n.read,
    })
}
