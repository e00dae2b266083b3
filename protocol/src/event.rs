//! Event bodies: the `kind` + `data` of an `event` frame (PROTOCOL.md, "Events").
//!
//! Each `data` holds the resulting object, so a client applies an event by replacing what
//! it holds, never by re-running the op. Events that change a card without carrying the
//! whole card (checklist, comments) carry the card's new `version` so clients can keep
//! `expected_version` right.

use crate::model::{Card, ChecklistItem, Column, ColumnRef, Comment};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data")]
pub enum EventBody {
    #[serde(rename = "column.created")]
    ColumnCreated(ColumnData),
    #[serde(rename = "column.updated")]
    ColumnUpdated(ColumnData),
    #[serde(rename = "column.moved")]
    ColumnMoved(ColumnData),
    #[serde(rename = "column.deleted")]
    ColumnDeleted(ColumnDeleted),
    #[serde(rename = "card.created")]
    CardCreated(CardData),
    #[serde(rename = "card.updated")]
    CardUpdated(CardData),
    #[serde(rename = "card.moved")]
    CardMoved(CardMoved),
    #[serde(rename = "card.assigned")]
    CardAssigned(CardData),
    #[serde(rename = "card.archived")]
    CardArchived(CardData),
    #[serde(rename = "checklist.added")]
    ChecklistAdded(ChecklistItemData),
    #[serde(rename = "checklist.toggled")]
    ChecklistToggled(ChecklistItemData),
    #[serde(rename = "checklist.removed")]
    ChecklistRemoved(ChecklistRemoved),
    #[serde(rename = "comment.added")]
    CommentAdded(CommentAdded),
    /// Sent to one filtered subscriber (worker, customer, share link) when a card enters
    /// their view, e.g. a worker was just assigned. Never stored in the event log.
    #[serde(rename = "card.visible")]
    CardVisible(CardData),
    /// Sent to one filtered subscriber when a card leaves their view. Never stored.
    #[serde(rename = "card.hidden")]
    CardHidden(CardHidden),
}

impl EventBody {
    pub const KINDS: [&'static str; 15] = [
        "column.created",
        "column.updated",
        "column.moved",
        "column.deleted",
        "card.created",
        "card.updated",
        "card.moved",
        "card.assigned",
        "card.archived",
        "checklist.added",
        "checklist.toggled",
        "checklist.removed",
        "comment.added",
        "card.visible",
        "card.hidden",
    ];

    /// The wire name of this event's kind.
    pub fn kind(&self) -> &'static str {
        match self {
            EventBody::ColumnCreated(_) => "column.created",
            EventBody::ColumnUpdated(_) => "column.updated",
            EventBody::ColumnMoved(_) => "column.moved",
            EventBody::ColumnDeleted(_) => "column.deleted",
            EventBody::CardCreated(_) => "card.created",
            EventBody::CardUpdated(_) => "card.updated",
            EventBody::CardMoved(_) => "card.moved",
            EventBody::CardAssigned(_) => "card.assigned",
            EventBody::CardArchived(_) => "card.archived",
            EventBody::ChecklistAdded(_) => "checklist.added",
            EventBody::ChecklistToggled(_) => "checklist.toggled",
            EventBody::ChecklistRemoved(_) => "checklist.removed",
            EventBody::CommentAdded(_) => "comment.added",
            EventBody::CardVisible(_) => "card.visible",
            EventBody::CardHidden(_) => "card.hidden",
        }
    }

    /// The card this event is about, if any: what `card:` topics and filtered views key on.
    pub fn card_id(&self) -> Option<Uuid> {
        match self {
            EventBody::CardCreated(d)
            | EventBody::CardUpdated(d)
            | EventBody::CardAssigned(d)
            | EventBody::CardArchived(d)
            | EventBody::CardVisible(d) => Some(d.card.id),
            EventBody::CardMoved(d) => Some(d.card.id),
            EventBody::ChecklistAdded(d) | EventBody::ChecklistToggled(d) => Some(d.card_id),
            EventBody::ChecklistRemoved(d) => Some(d.card_id),
            EventBody::CommentAdded(d) => Some(d.card_id),
            EventBody::CardHidden(d) => Some(d.card_id),
            EventBody::ColumnCreated(_)
            | EventBody::ColumnUpdated(_)
            | EventBody::ColumnMoved(_)
            | EventBody::ColumnDeleted(_) => None,
        }
    }

    /// The whole card, for events that carry it.
    pub fn card(&self) -> Option<&Card> {
        match self {
            EventBody::CardCreated(d)
            | EventBody::CardUpdated(d)
            | EventBody::CardAssigned(d)
            | EventBody::CardArchived(d)
            | EventBody::CardVisible(d) => Some(&d.card),
            EventBody::CardMoved(d) => Some(&d.card),
            _ => None,
        }
    }

    /// The id of the object this event created (the `id` of the op's `ok` reply).
    pub fn created_id(&self) -> Option<Uuid> {
        match self {
            EventBody::ColumnCreated(d) => Some(d.column.id),
            EventBody::CardCreated(d) => Some(d.card.id),
            EventBody::ChecklistAdded(d) => Some(d.item.id),
            EventBody::CommentAdded(d) => Some(d.comment.id),
            _ => None,
        }
    }
}

/// `{"column":{…}}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnData {
    pub column: Column,
}

/// `{"column_id":…}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnDeleted {
    pub column_id: Uuid,
}

/// `{"card":{…}}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardData {
    pub card: Card,
}

/// `{"card":{…},"from_column_id":…,"column":{"id","name","is_done"}}`: the column travels
/// along so that a `card:` subscriber, who holds no column list, can show the new status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardMoved {
    pub card: Card,
    pub from_column_id: Uuid,
    pub column: ColumnRef,
}

/// `{"item":{…},"card_id":…,"version":N}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItemData {
    pub item: ChecklistItem,
    pub card_id: Uuid,
    /// The card's version after this change.
    pub version: u64,
}

/// `{"item_id":…,"card_id":…,"version":N}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistRemoved {
    pub item_id: Uuid,
    pub card_id: Uuid,
    pub version: u64,
}

/// `{"comment":{…},"card_id":…,"version":N}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentAdded {
    pub comment: Comment,
    pub card_id: Uuid,
    pub version: u64,
}

/// `{"card_id":…}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardHidden {
    pub card_id: Uuid,
}
