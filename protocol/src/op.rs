//! Board ops: what a client asks a board to do (PROTOCOL.md, "Ops").
//!
//! On the wire an op is `"kind"` + `"data"` beside the other fields of the `op` frame (or of
//! the HTTP `POST /boards/{board}/ops` body). Every `data` struct rejects unknown fields, so a
//! misspelt field is a `bad_request` instead of a silently ignored change.

use crate::model::Priority;
use crate::serde_util::{double_option, required_nullable};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Every op kind once: the `Op` variant (its `data` struct has the same name) and its wire
/// name. `Op`, `Op::KINDS`, `Op::kind` and the codec's error locator are all expanded from this
/// one list (`$then` is the macro that expands it), so they cannot drift apart.
macro_rules! with_op_kinds {
    ($then:ident) => {
        $then! {
            ColumnCreate = "column.create",
            ColumnUpdate = "column.update",
            ColumnMove = "column.move",
            ColumnDelete = "column.delete",
            CardCreate = "card.create",
            CardUpdate = "card.update",
            CardMove = "card.move",
            CardAssign = "card.assign",
            CardArchive = "card.archive",
            ChecklistAdd = "checklist.add",
            ChecklistToggle = "checklist.toggle",
            ChecklistRemove = "checklist.remove",
            CommentAdd = "comment.add",
        }
    };
}
pub(crate) use with_op_kinds;

macro_rules! op_enum {
    ($($variant:ident = $name:literal,)*) => {
        /// One board op, tagged by `kind` with its fields in `data`.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(tag = "kind", content = "data")]
        pub enum Op {
            $(
                #[serde(rename = $name)]
                $variant($variant),
            )*
        }

        impl Op {
            /// The wire names of all op kinds.
            pub const KINDS: [&'static str; [$($name),*].len()] = [$($name),*];

            /// The wire name of this op's kind.
            pub fn kind(&self) -> &'static str {
                match self {
                    $(Op::$variant(_) => $name,)*
                }
            }
        }
    };
}
with_op_kinds!(op_enum);

impl Op {
    /// The card the op touches, for ops on an existing card (routing, `card:` topics, audit).
    pub fn card_id(&self) -> Option<Uuid> {
        match self {
            Op::CardUpdate(d) => Some(d.card_id),
            Op::CardMove(d) => Some(d.card_id),
            Op::CardAssign(d) => Some(d.card_id),
            Op::CardArchive(d) => Some(d.card_id),
            Op::ChecklistAdd(d) => Some(d.card_id),
            Op::ChecklistToggle(d) => Some(d.card_id),
            Op::ChecklistRemove(d) => Some(d.card_id),
            Op::CommentAdd(d) => Some(d.card_id),
            Op::ColumnCreate(_)
            | Op::ColumnUpdate(_)
            | Op::ColumnMove(_)
            | Op::ColumnDelete(_)
            | Op::CardCreate(_) => None,
        }
    }
}

/// `column.create`. `after`: absent = append as the last column; `null` = first; an id =
/// right after that column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnCreate {
    pub name: String,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<Option<Uuid>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_done: Option<bool>,
    /// (v1 addition) `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
    /// Client-made id, so the column can be shown before the server confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column_id: Option<Uuid>,
}

/// `column.update`: at least one of `name`, `is_done`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnUpdate {
    pub column_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_done: Option<bool>,
    /// (v1 addition) `#rrggbb`, or null to clear it.
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub color: Option<Option<String>>,
}

/// `column.move`. `after` is required: `null` = first, an id = right after that column.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMove {
    pub column_id: Uuid,
    #[serde(deserialize_with = "required_nullable")]
    pub after: Option<Uuid>,
}

/// `column.delete`: the column must hold no live card, else `conflict`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnDelete {
    pub column_id: Uuid,
}

/// `card.create`. `after`: absent = append at the bottom of the column; `null` = top; an id =
/// right below that card (which must be in `column_id`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardCreate {
    pub column_id: Uuid,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub after: Option<Option<Uuid>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub assignees: Vec<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_at: Option<DateTime<Utc>>,
    /// (v1 addition)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// (v1 addition) Minutes of work expected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_minutes: Option<u32>,
    /// Client-made id, so the card can be shown before the server confirms it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card_id: Option<Uuid>,
}

impl CardCreate {
    /// A `card.create` of just a title in a column, at the column's end; callers set the
    /// rest with `..CardCreate::new(..)`.
    pub fn new(column_id: Uuid, title: impl Into<String>) -> CardCreate {
        CardCreate {
            column_id,
            title: title.into(),
            ..CardCreate::default()
        }
    }
}

/// `card.update`: at least one of `title description labels due_at customer_id priority
/// estimate_minutes`.
///
/// The nullable fields are `Option<Option<_>>`: `None` = not in the request (leave as is),
/// `Some(None)` = `null` (clear it), `Some(Some(v))` = set it. `title` and `labels` are not
/// nullable; `null` for them means "leave as is" (`labels: []` clears the labels).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardUpdate {
    pub card_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub due_at: Option<Option<DateTime<Utc>>>,
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_id: Option<Option<Uuid>>,
    /// (v1 addition)
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub priority: Option<Option<Priority>>,
    /// (v1 addition)
    #[serde(
        default,
        deserialize_with = "double_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub estimate_minutes: Option<Option<u32>>,
    /// When given and different from the card's current `version`: `conflict`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_version: Option<u64>,
}

/// `card.move`. `after` is required: `null` = top of `column_id`, an id = right below that
/// card (which must be in `column_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardMove {
    pub card_id: Uuid,
    pub column_id: Uuid,
    #[serde(deserialize_with = "required_nullable")]
    pub after: Option<Uuid>,
}

/// `card.assign`: replaces the assignees with this list of user ids of the org.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardAssign {
    pub card_id: Uuid,
    pub assignees: Vec<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardArchive {
    pub card_id: Uuid,
}

/// `checklist.add`: appends an item at the end of the card's checklist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistAdd {
    pub card_id: Uuid,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistToggle {
    pub card_id: Uuid,
    pub item_id: Uuid,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChecklistRemove {
    pub card_id: Uuid,
    pub item_id: Uuid,
}

/// `comment.add`. `mentions` are user ids of the org; each gets a `mention` notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentAdd {
    pub card_id: Uuid,
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mentions: Vec<Uuid>,
}
