//! A board as a client sees it: the snapshot of a `board:` subscription with every event
//! applied. Events carry the resulting objects (protocol/README.md, "Events"), so applying
//! one is replacing what is held, never re-running the op.

use boardroom_protocol::event::EventBody;
use boardroom_protocol::{BoardSnapshot, Card, Column};
use std::collections::BTreeMap;
use uuid::Uuid;

#[derive(Debug, Clone, PartialEq)]
pub struct BoardState {
    pub id: Uuid,
    pub org_id: Uuid,
    pub name: String,
    /// Sorted by `position`.
    pub columns: Vec<Column>,
    /// The live cards this subscriber may see.
    pub cards: BTreeMap<Uuid, Card>,
}

impl From<BoardSnapshot> for BoardState {
    fn from(s: BoardSnapshot) -> Self {
        BoardState {
            id: s.id,
            org_id: s.org_id,
            name: s.name,
            columns: s.columns,
            cards: s.cards.into_iter().map(|c| (c.id, c)).collect(),
        }
    }
}

impl BoardState {
    pub fn card(&self, id: Uuid) -> Option<&Card> {
        self.cards.get(&id)
    }

    pub fn column(&self, id: Uuid) -> Option<&Column> {
        self.columns.iter().find(|c| c.id == id)
    }

    /// The first column with this name, ignoring case and surrounding spaces (people type
    /// "Needs Review" as often as "needs review").
    pub fn column_named(&self, name: &str) -> Option<&Column> {
        let want = name.trim();
        self.columns
            .iter()
            .find(|c| c.name.trim().eq_ignore_ascii_case(want))
    }

    /// The cards of a column, top to bottom.
    pub fn cards_in(&self, column: Uuid) -> Vec<&Card> {
        let mut v: Vec<&Card> = self
            .cards
            .values()
            .filter(|c| c.column_id == column)
            .collect();
        v.sort_by(|a, b| a.position.as_bytes().cmp(b.position.as_bytes()));
        v
    }

    fn put_column(&mut self, c: &Column) {
        self.columns.retain(|x| x.id != c.id);
        self.columns.push(c.clone());
        self.columns
            .sort_by(|a, b| a.position.as_bytes().cmp(b.position.as_bytes()));
    }

    fn put_card(&mut self, c: &Card) {
        if c.archived {
            self.cards.remove(&c.id);
        } else {
            self.cards.insert(c.id, c.clone());
        }
    }

    /// Applies one event of this board's topic.
    pub fn apply(&mut self, ev: &EventBody) {
        match ev {
            EventBody::ColumnCreated(d)
            | EventBody::ColumnUpdated(d)
            | EventBody::ColumnMoved(d) => self.put_column(&d.column),
            EventBody::ColumnDeleted(d) => self.columns.retain(|c| c.id != d.column_id),
            EventBody::CardCreated(d)
            | EventBody::CardUpdated(d)
            | EventBody::CardAssigned(d)
            | EventBody::CardArchived(d)
            | EventBody::CardVisible(d) => self.put_card(&d.card),
            EventBody::CardMoved(d) => self.put_card(&d.card),
            EventBody::CardHidden(d) => {
                self.cards.remove(&d.card_id);
            }
            EventBody::ChecklistAdded(d) | EventBody::ChecklistToggled(d) => {
                if let Some(card) = self.cards.get_mut(&d.card_id) {
                    card.checklist.retain(|i| i.id != d.item.id);
                    card.checklist.push(d.item.clone());
                    card.checklist
                        .sort_by(|a, b| a.position.as_bytes().cmp(b.position.as_bytes()));
                    card.version = d.version;
                }
            }
            EventBody::ChecklistRemoved(d) => {
                if let Some(card) = self.cards.get_mut(&d.card_id) {
                    card.checklist.retain(|i| i.id != d.item_id);
                    card.version = d.version;
                }
            }
            EventBody::CommentAdded(d) => {
                if let Some(card) = self.cards.get_mut(&d.card_id) {
                    card.comments.push(d.comment.clone());
                    card.version = d.version;
                }
            }
        }
    }
}

/// Whether a card's checklist has items and every one is done.
pub fn checklist_complete(card: &Card) -> bool {
    !card.checklist.is_empty() && card.checklist.iter().all(|i| i.done)
}

#[cfg(test)]
mod tests {
    use super::*;
    use boardroom_protocol::event::{CardData, ChecklistItemData, ColumnData, ColumnDeleted};
    use boardroom_protocol::ChecklistItem;

    fn column(name: &str, pos: &str) -> Column {
        Column {
            id: Uuid::now_v7(),
            name: name.into(),
            position: pos.into(),
            is_done: false,
            color: None,
        }
    }

    fn card(column_id: Uuid) -> Card {
        Card::new(Uuid::now_v7(), column_id, "a", "t")
    }

    #[test]
    fn events_update_columns_cards_and_checklists() {
        let todo = column("To do", "a");
        let c = card(todo.id);
        let mut b = BoardState::from(BoardSnapshot {
            id: Uuid::now_v7(),
            org_id: Uuid::now_v7(),
            name: "b".into(),
            columns: vec![todo.clone()],
            cards: vec![c.clone()],
        });
        let review = column("Needs review", "0");
        b.apply(&EventBody::ColumnCreated(ColumnData {
            column: review.clone(),
        }));
        assert_eq!(b.columns[0].id, review.id, "sorted by position");
        assert_eq!(
            b.column_named(" needs REVIEW ").map(|c| c.id),
            Some(review.id)
        );

        let item = ChecklistItem {
            id: Uuid::now_v7(),
            title: "i".into(),
            done: false,
            position: "a".into(),
        };
        b.apply(&EventBody::ChecklistAdded(ChecklistItemData {
            item: item.clone(),
            card_id: c.id,
            version: 2,
        }));
        assert!(!checklist_complete(b.card(c.id).unwrap()));
        b.apply(&EventBody::ChecklistToggled(ChecklistItemData {
            item: ChecklistItem { done: true, ..item },
            card_id: c.id,
            version: 3,
        }));
        let held = b.card(c.id).unwrap();
        assert!(checklist_complete(held));
        assert_eq!((held.version, held.checklist.len()), (3, 1));

        let mut archived = held.clone();
        archived.archived = true;
        b.apply(&EventBody::CardArchived(CardData { card: archived }));
        assert!(b.card(c.id).is_none());
        b.apply(&EventBody::ColumnDeleted(ColumnDeleted {
            column_id: todo.id,
        }));
        assert_eq!(b.columns.len(), 1);
    }
}
