//! Applying events (the one way state changes, for ops and for replay alike) and the
//! structural invariants they keep.

use super::BoardState;
use crate::domain::error::ReplayError;
use crate::domain::position;
use boardroom_protocol::{Card, ChecklistItem, EventBody};
use std::collections::BTreeSet;
use uuid::Uuid;

impl BoardState {
    /// Applies an event as the board produced it: for replay after a restart, for catching
    /// up from the event log, and for clients mirroring a (possibly filtered) board.
    ///
    /// Card events upsert the whole card without requiring its column to be known, because
    /// a filtered mirror (a share link's) does not hold every column.
    pub fn apply_event(&mut self, ev: &EventBody) -> Result<(), ReplayError> {
        let kind = ev.kind();
        match ev {
            EventBody::ColumnCreated(d)
            | EventBody::ColumnUpdated(d)
            | EventBody::ColumnMoved(d) => {
                self.columns.insert(d.column.id, d.column.clone());
            }
            EventBody::ColumnDeleted(d) => {
                if self.columns.remove(&d.column_id).is_none() {
                    return Err(ReplayError::UnknownColumn {
                        kind,
                        column_id: d.column_id,
                    });
                }
                self.cards.retain(|_, c| c.column_id != d.column_id);
            }
            EventBody::CardCreated(d)
            | EventBody::CardUpdated(d)
            | EventBody::CardAssigned(d)
            | EventBody::CardArchived(d)
            | EventBody::CardVisible(d) => {
                self.upsert_card(&d.card);
            }
            EventBody::CardMoved(d) => {
                self.upsert_card(&d.card);
            }
            EventBody::CardHidden(d) => {
                self.cards.remove(&d.card_id);
            }
            EventBody::ChecklistAdded(d) => {
                let card = self.card_mut(kind, d.card_id)?;
                card.checklist.retain(|i| i.id != d.item.id);
                card.checklist.push(d.item.clone());
                sort_checklist(&mut card.checklist);
                card.version = d.version;
            }
            EventBody::ChecklistToggled(d) => {
                let card = self.card_mut(kind, d.card_id)?;
                let Some(item) = card.checklist.iter_mut().find(|i| i.id == d.item.id) else {
                    return Err(ReplayError::UnknownItem {
                        kind,
                        card_id: d.card_id,
                        item_id: d.item.id,
                    });
                };
                *item = d.item.clone();
                sort_checklist(&mut card.checklist);
                card.version = d.version;
            }
            EventBody::ChecklistRemoved(d) => {
                let card = self.card_mut(kind, d.card_id)?;
                let Some(at) = card.checklist.iter().position(|i| i.id == d.item_id) else {
                    return Err(ReplayError::UnknownItem {
                        kind,
                        card_id: d.card_id,
                        item_id: d.item_id,
                    });
                };
                card.checklist.remove(at);
                card.version = d.version;
            }
            EventBody::CommentAdded(d) => {
                let card = self.card_mut(kind, d.card_id)?;
                card.comments.retain(|c| c.id != d.comment.id);
                card.comments.push(d.comment.clone());
                card.version = d.version;
            }
        }
        Ok(())
    }

    fn upsert_card(&mut self, card: &Card) {
        let mut card = card.clone();
        sort_checklist(&mut card.checklist);
        self.cards.insert(card.id, card);
    }

    fn card_mut(&mut self, kind: &'static str, card_id: Uuid) -> Result<&mut Card, ReplayError> {
        self.cards
            .get_mut(&card_id)
            .ok_or(ReplayError::UnknownCard { kind, card_id })
    }

    /// Checks the structural invariants (used by tests, and worth running on a board loaded
    /// from storage): valid unique positions among columns, among the live cards of each
    /// column and within each checklist; every card in an existing column.
    pub fn check_invariants(&self) -> Result<(), String> {
        unique_valid(
            "columns",
            self.columns.values().map(|c| c.position.as_str()),
        )?;
        for col in self.columns.keys() {
            unique_valid(
                &format!("cards of column {col}"),
                self.cards_in(*col).into_iter().map(|c| c.position.as_str()),
            )?;
        }
        for card in self.cards.values() {
            if !self.columns.contains_key(&card.column_id) {
                return Err(format!(
                    "card {} is in missing column {}",
                    card.id, card.column_id
                ));
            }
            unique_valid(
                &format!("checklist of card {}", card.id),
                card.checklist.iter().map(|i| i.position.as_str()),
            )?;
            if !card
                .checklist
                .windows(2)
                .all(|w| w[0].position < w[1].position)
            {
                return Err(format!("checklist of card {} is not sorted", card.id));
            }
        }
        Ok(())
    }
}

fn unique_valid<'a>(
    what: &str,
    keys: impl Iterator<Item = &'a str>,
) -> Result<(), String> {
    let mut seen = BTreeSet::new();
    for k in keys {
        if !position::is_valid(k) {
            return Err(format!("{what}: invalid position {k:?}"));
        }
        if !seen.insert(k) {
            return Err(format!("{what}: duplicate position {k:?}"));
        }
    }
    Ok(())
}

pub(super) fn sort_checklist(items: &mut [ChecklistItem]) {
    items.sort_by(|a, b| (&a.position, a.id).cmp(&(&b.position, b.id)));
}
