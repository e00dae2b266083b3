//! What a subscriber may see of a board's presence, by the same rules as its events: full-view
//! roles see everyone as they are; a worker sees everyone, but the `focus` only of cards they
//! may see; a customer or share link sees only the people assigned to a card it may see (the
//! worker on its job), with no `extra` state and the `focus` only of cards it may see.

use super::view::{can_read_board, can_see_card, sees_private_fields, BoardKey};
use crate::policy::{CardFacts, Principal};
use boardroom_protocol::{PresenceEntry, PresenceMap, PresenceState, PrincipalKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The card facts presence is filtered on, for one present user, taken from the board when
/// the presence changes (a hub on another node does not hold the board).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PresenceFacts {
    /// The card the user has open (`None`: no focus, or no such card).
    pub focus: Option<CardFacts>,
    /// The unarchived cards the user is assigned to: who may see one of them may see the user.
    pub jobs: Vec<CardFacts>,
}

/// A presence change of one board as its actor publishes it: the frame's maps and, for every
/// user in them, the facts to filter the entry by.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PresenceNote {
    pub board: BoardKeyWire,
    pub joins: PresenceMap,
    pub leaves: PresenceMap,
    pub facts: BTreeMap<Uuid, PresenceFacts>,
}

/// [`BoardKey`] as carried between nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoardKeyWire {
    pub org_id: Uuid,
    pub board_id: Uuid,
}

impl From<BoardKeyWire> for BoardKey {
    fn from(k: BoardKeyWire) -> Self {
        BoardKey {
            org_id: k.org_id,
            board_id: k.board_id,
        }
    }
}

impl From<BoardKey> for BoardKeyWire {
    fn from(k: BoardKey) -> Self {
        BoardKeyWire {
            org_id: k.org_id,
            board_id: k.board_id,
        }
    }
}

/// How `p` sees one present user (`None`: not at all).
pub fn presence_entry_for(
    p: &Principal,
    board: BoardKey,
    entry: &PresenceEntry,
    facts: Option<&PresenceFacts>,
) -> Option<PresenceEntry> {
    if !can_read_board(p, board) && p.kind != PrincipalKind::Share {
        return None;
    }
    if p.has_full_view() {
        return Some(entry.clone());
    }
    let seen = |f: &CardFacts| can_see_card(p, board, f);
    let focus_seen = facts.and_then(|f| f.focus.as_ref()).is_some_and(seen);
    let focus = entry.state.focus.filter(|_| focus_seen);
    if sees_private_fields(p) {
        // A worker: a colleague of everyone present, but not of the cards it may not see.
        return Some(PresenceEntry {
            name: entry.name.clone(),
            state: PresenceState {
                focus,
                editing: entry.state.editing && (focus_seen || entry.state.focus.is_none()),
                extra: entry.state.extra.clone(),
            },
        });
    }
    if !facts.is_some_and(|f| f.jobs.iter().any(seen)) {
        return None;
    }
    Some(PresenceEntry {
        name: entry.name.clone(),
        state: PresenceState {
            focus,
            editing: entry.state.editing && focus.is_some(),
            extra: BTreeMap::new(),
        },
    })
}

/// A presence map as `p` sees it.
pub fn presence_map_for(
    p: &Principal,
    board: BoardKey,
    map: &PresenceMap,
    facts: &BTreeMap<Uuid, PresenceFacts>,
) -> PresenceMap {
    map.iter()
        .filter_map(|(u, e)| presence_entry_for(p, board, e, facts.get(u)).map(|e| (*u, e)))
        .collect()
}

impl PresenceNote {
    /// The note's joins and leaves as `p` sees them; `None` when `p` sees nothing of it.
    pub fn for_viewer(&self, p: &Principal) -> Option<(PresenceMap, PresenceMap)> {
        let board = self.board.into();
        let joins = presence_map_for(p, board, &self.joins, &self.facts);
        let leaves = presence_map_for(p, board, &self.leaves, &self.facts);
        (!joins.is_empty() || !leaves.is_empty()).then_some((joins, leaves))
    }
}
