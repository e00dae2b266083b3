//! Between the store's rows and the protocol's objects (which are also the domain's state).

use crate::store::{self, EventRecord, RowChange};
use boardroom_actors::domain::BoardState;
use boardroom_protocol::{
    Actor, BoardSnapshot, Card, ChecklistItem, Column, Comment, EventBody, EventFrame,
    Notification, NotificationFrame, NotificationKind,
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
        checklist: c
            .checklist
            .iter()
            .map(|i| ChecklistItem {
                id: i.id,
                title: i.title.clone(),
                done: i.done,
                position: i.position.clone(),
            })
            .collect(),
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
        checklist: c
            .checklist
            .iter()
            .map(|i| store::ChecklistItem {
                id: i.id,
                title: i.title.clone(),
                done: i.done,
                position: i.position.clone(),
            })
            .collect(),
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
            })
            .collect(),
        cards: cards.iter().map(card_from_row).collect(),
    }
}

/// The stored form of an event: `kind` and `data` exactly as on the wire.
pub fn event_record(org_id: Uuid, board_id: Uuid, f: &EventFrame) -> EventRecord {
    let tagged = serde_json::to_value(&f.body).unwrap_or_default();
    EventRecord {
        org_id,
        board_id,
        epoch: f.epoch as i64,
        seq: f.seq as i64,
        op_id: f.op_id,
        kind: f.body.kind().to_string(),
        data: tagged.get("data").cloned().unwrap_or_default(),
        actor: serde_json::to_value(&f.actor).unwrap_or_default(),
        at: f.at,
    }
}

/// Rebuilds the wire event from its stored form (HTTP event log, SSE replay).
pub fn event_frame(r: &EventRecord) -> Option<EventFrame> {
    let body: EventBody =
        serde_json::from_value(serde_json::json!({ "kind": r.kind, "data": r.data })).ok()?;
    let actor: Actor = serde_json::from_value(r.actor.clone()).ok()?;
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

/// The rows an event leaves changed, taken whole from the state after the op.
pub fn row_changes(
    org_id: Uuid,
    board_id: Uuid,
    state: &BoardState,
    body: &EventBody,
) -> Vec<RowChange> {
    match body {
        EventBody::ColumnCreated(d) | EventBody::ColumnUpdated(d) | EventBody::ColumnMoved(d) => {
            let column = state
                .column(d.column.id)
                .cloned()
                .unwrap_or_else(|| d.column.clone());
            vec![RowChange::UpsertColumn {
                org_id,
                board_id,
                column: store::Column {
                    id: column.id,
                    name: column.name,
                    position: column.position,
                    is_done: column.is_done,
                },
            }]
        }
        EventBody::ColumnDeleted(d) => vec![RowChange::DeleteColumn {
            board_id,
            column_id: d.column_id,
        }],
        other => match other.card_id().and_then(|id| state.card(id)) {
            Some(card) => vec![RowChange::UpsertCard(Box::new(card_to_row(
                org_id, board_id, card,
            )))],
            None => Vec::new(),
        },
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
