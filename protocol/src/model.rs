//! The objects a board is made of, exactly as snapshots and events carry them.
//!
//! The same structs are the board actor's in-memory state (see `boardroom-actors`), so an
//! event's `data` is literally the object the server holds and a client can apply it
//! without re-deriving anything.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// A column: one status of the board. `position` orders columns left to right.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Column {
    pub id: Uuid,
    pub name: String,
    /// Fractional index; compare bytewise. Assigned by the server, never by clients.
    pub position: String,
    /// Cards in a done column count as finished jobs (notifications fire on entering/leaving).
    pub is_done: bool,
    /// (v1 addition) `#rrggbb` (lowercase): how boards and job pages tint the status. Left
    /// out when not set, so a v1 client that predates it sees exactly the shape it knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

/// (v1 addition) How urgent a card is. Ordered: `low < normal < high < urgent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Low,
    Normal,
    High,
    Urgent,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::Low => "low",
            Priority::Normal => "normal",
            Priority::High => "high",
            Priority::Urgent => "urgent",
        }
    }

    pub fn parse(s: &str) -> Option<Priority> {
        match s {
            "low" => Some(Priority::Low),
            "normal" => Some(Priority::Normal),
            "high" => Some(Priority::High),
            "urgent" => Some(Priority::Urgent),
            _ => None,
        }
    }
}

/// The short form of a column that travels with a single card (`card:` snapshots, `card.moved`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnRef {
    pub id: Uuid,
    pub name: String,
    pub is_done: bool,
}

impl From<&Column> for ColumnRef {
    fn from(c: &Column) -> Self {
        ColumnRef {
            id: c.id,
            name: c.name.clone(),
            is_done: c.is_done,
        }
    }
}

/// A card (a job). Nullable fields are always present on the wire, as `null` when unset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Card {
    pub id: Uuid,
    pub column_id: Uuid,
    /// Fractional index within the column; compare bytewise.
    pub position: String,
    pub title: String,
    #[serde(default)]
    pub description: Option<String>,
    /// User ids.
    #[serde(default)]
    pub assignees: Vec<Uuid>,
    #[serde(default)]
    pub customer_id: Option<Uuid>,
    /// Empty for customers and share links, who never see labels.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub due_at: Option<DateTime<Utc>>,
    /// (v1 addition) Left out when not set. Not shown to customers and share links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// (v1 addition) Expected work in minutes; left out when not set. Not shown to customers
    /// and share links.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate_minutes: Option<u32>,
    /// Sorted by `position`.
    #[serde(default)]
    pub checklist: Vec<ChecklistItem>,
    /// Oldest first. Empty for customers and share links, who never see comments.
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Starts at 1 and rises by one with every op that changes the card; `card.update` may
    /// name it in `expected_version` to refuse lost updates.
    pub version: u64,
    #[serde(default)]
    pub archived: bool,
}

impl Card {
    /// A card with only what every card must have: version 1, not archived, every optional
    /// field unset. Tests, benches, the demo seed and clients build on it with `..Card::new(..)`,
    /// so a new field is added once here rather than in every fixture.
    pub fn new(
        id: Uuid,
        column_id: Uuid,
        position: impl Into<String>,
        title: impl Into<String>,
    ) -> Card {
        Card {
            id,
            column_id,
            position: position.into(),
            title: title.into(),
            description: None,
            assignees: Vec::new(),
            customer_id: None,
            labels: Vec::new(),
            due_at: None,
            priority: None,
            estimate_minutes: None,
            checklist: Vec::new(),
            comments: Vec::new(),
            version: 1,
            archived: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChecklistItem {
    pub id: Uuid,
    pub title: String,
    pub done: bool,
    /// Fractional index within the card's checklist; compare bytewise.
    pub position: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    pub id: Uuid,
    /// The user (or API key) that wrote it.
    pub author_id: Uuid,
    pub body: String,
    /// User ids.
    #[serde(default)]
    pub mentions: Vec<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// The snapshot of a `board:` topic. Columns and cards are sorted by `position`; cards are
/// the live (non-archived) cards the subscriber may see.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardSnapshot {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    pub columns: Vec<Column>,
    pub cards: Vec<Card>,
}

/// The snapshot of a `card:` topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardSnapshot {
    pub card: Card,
    pub column: ColumnRef,
    pub board_id: Uuid,
}

/// The `snapshot` of a subscribe reply. Which one comes is decided by the topic; on decode
/// the shapes are told apart by their required fields. `Other` carries the snapshots of
/// `org:`/`user:` topics, whose shape v1 leaves to the server.
// A snapshot is built once per subscribe and moved straight into its reply frame; boxing the
// card variant would add an allocation to every `card:` subscribe to save bytes nobody holds.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Snapshot {
    Board(BoardSnapshot),
    Card(CardSnapshot),
    Other(serde_json::Value),
}
