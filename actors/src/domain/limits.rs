//! Size limits on what ops may write.

use serde::{Deserialize, Serialize};

/// Every size limit the domain enforces, in one place so the server can load them from
/// `config.toml` (missing keys keep the defaults) and so tests can shrink them.
///
/// Text lengths count Unicode scalar values (`char`s), not bytes, so the limit a person
/// sees in the UI is the one applied. Titles, names, labels and comment bodies are trimmed
/// before they are measured and stored; descriptions are stored as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Limits {
    /// Card titles and checklist item titles: 1..=this after trimming.
    pub title_max: usize,
    pub description_max: usize,
    /// Comment bodies: 1..=this after trimming.
    pub comment_max: usize,
    /// Labels per card.
    pub labels_max: usize,
    /// Characters per label (1..=this after trimming).
    pub label_max: usize,
    /// Column names: 1..=this after trimming.
    pub column_name_max: usize,
    pub assignees_max: usize,
    pub mentions_max: usize,
    pub checklist_items_max: usize,
    /// Columns per board.
    pub columns_max: usize,
    /// Live (non-archived) cards per board: the board actor holds them all in memory.
    pub cards_max: usize,
    /// A card's `estimate_minutes`: 0..=this (a year of minutes; more is a typo).
    pub estimate_minutes_max: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            title_max: 200,
            description_max: 10_000,
            comment_max: 5_000,
            labels_max: 20,
            label_max: 50,
            column_name_max: 100,
            assignees_max: 20,
            mentions_max: 50,
            checklist_items_max: 200,
            columns_max: 50,
            cards_max: 10_000,
            estimate_minutes_max: 525_600,
        }
    }
}
