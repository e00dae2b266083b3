//! The board's presence: who is here, what they are doing, filtered per viewer.

use super::reply::Owed;
use super::{BoardRt, PresenceUser, PresentConn};
use crate::domain::{card_facts, presence_map_for, BoardKey, PresenceFacts, PresenceNote};
use crate::live::conn::{ConnHandle, ConnId};
use crate::policy::Principal;
use boardroom_protocol::{
    ErrorCode, ErrorReply, OkReply, PresenceEntry, PresenceMap, PresenceState, PrincipalKind,
    ServerFrame,
};
use std::collections::HashSet;
use std::sync::Arc;
use uuid::Uuid;

impl BoardRt {
    fn key(&self) -> BoardKey {
        BoardKey {
            org_id: self.org_id,
            board_id: self.board_id,
        }
    }

    /// The facts presence is filtered on (see [`PresenceFacts`]), from what subscribers have
    /// been shown of the board.
    fn presence_facts(&self, user: Uuid, state: &PresenceState) -> PresenceFacts {
        PresenceFacts {
            focus: state
                .focus
                .and_then(|id| self.released.card(id))
                .map(card_facts),
            jobs: self
                .released
                .all_cards()
                .filter(|c| !c.archived && c.assignees.contains(&user))
                .map(card_facts)
                .collect(),
        }
    }

    /// The board's presence as `view` may see it (the `presence` of a subscribe's `ok`).
    pub(super) fn presence_for(&self, view: &Principal) -> PresenceMap {
        let mut map = PresenceMap::new();
        let mut facts = std::collections::BTreeMap::new();
        for (u, p) in &self.presence {
            map.insert(
                *u,
                PresenceEntry {
                    name: p.name.clone(),
                    state: p.state.clone(),
                },
            );
            if !view.has_full_view() {
                facts.insert(*u, self.presence_facts(*u, &p.state));
            }
        }
        presence_map_for(view, self.key(), &map, &facts)
    }

    fn presence_id(view: &Principal) -> Option<Uuid> {
        match view.kind {
            PrincipalKind::Share => None,
            _ => Some(view.id),
        }
    }

    /// A presence change, to each subscriber as its view allows (the hubs filter it with the
    /// facts sent along).
    fn broadcast_presence(&self, joins: PresenceMap, leaves: PresenceMap) {
        let facts = joins
            .iter()
            .chain(leaves.iter())
            .map(|(u, e)| (*u, self.presence_facts(*u, &e.state)))
            .collect();
        self.deps.broker.publish_presence(Arc::new(PresenceNote {
            board: self.key().into(),
            joins,
            leaves,
            facts,
        }));
    }

    pub(super) fn join_presence(
        &mut self,
        conn: &ConnHandle,
        view: &Principal,
        name: String,
        node: Option<Arc<str>>,
    ) {
        let Some(user) = Self::presence_id(view) else {
            return;
        };
        self.present_conns
            .insert(conn.id, PresentConn { user, node });
        let entry = self.presence.entry(user).or_insert_with(|| PresenceUser {
            name,
            state: PresenceState::default(),
            conns: HashSet::new(),
            budget: (
                self.deps.settings.presence_burst as f64,
                tokio::time::Instant::now(),
            ),
        });
        entry.conns.insert(conn.id);
        if entry.conns.len() == 1 {
            let mut joins = PresenceMap::new();
            joins.insert(
                user,
                PresenceEntry {
                    name: entry.name.clone(),
                    state: entry.state.clone(),
                },
            );
            self.broadcast_presence(joins, PresenceMap::new());
        }
    }

    pub(super) fn leave_presence(&mut self, conn: ConnId) {
        let Some(PresentConn { user, .. }) = self.present_conns.remove(&conn) else {
            return;
        };
        let gone = match self.presence.get_mut(&user) {
            Some(p) => {
                p.conns.remove(&conn);
                p.conns.is_empty()
            }
            None => false,
        };
        if gone {
            if let Some(p) = self.presence.remove(&user) {
                let mut leaves = PresenceMap::new();
                leaves.insert(
                    user,
                    PresenceEntry {
                        name: p.name,
                        state: p.state,
                    },
                );
                self.broadcast_presence(PresenceMap::new(), leaves);
            }
        }
    }

    pub(super) fn presence_set(&mut self, conn: &ConnHandle, state: PresenceState, answer: Owed) {
        let user = self.present_conns.get(&conn.id).map(|p| p.user);
        let Some((user, p)) = user.and_then(|u| self.presence.get_mut(&u).map(|p| (u, p))) else {
            // Not found, as the gateway answers a topic the session is not subscribed to: the
            // subscription may have been refused, and a refused one is told apart from nothing.
            return answer.error(
                ErrorCode::NotFound,
                "not subscribed to that topic; subscribe to the board before setting presence",
            );
        };
        if let Some(focus) = state.focus {
            if self.state.card(focus).is_none() {
                return answer.error(ErrorCode::BadRequest, "focus names no card of this board");
            }
        }
        let s = &self.deps.settings;
        let size = serde_json::to_vec(&state).map_or(usize::MAX, |v| v.len());
        if size > s.presence_state_bytes {
            return answer.error(
                ErrorCode::TooLarge,
                &format!(
                    "presence state is {size} bytes encoded; the limit is {}",
                    s.presence_state_bytes
                ),
            );
        }
        // A token bucket per user and board: every update goes to every subscriber.
        let now = tokio::time::Instant::now();
        let (tokens, at) = p.budget;
        let refill = now.duration_since(at).as_secs_f64() * s.presence_sets_per_second as f64;
        let tokens = (tokens + refill).min(s.presence_burst as f64);
        if tokens < 1.0 {
            p.budget = (tokens, now);
            let wait = (1.0 - tokens) / (s.presence_sets_per_second.max(1) as f64);
            let mut e = ErrorReply::new(
                answer.r#ref(),
                ErrorCode::RateLimited,
                "presence updates too frequent; slow down",
            );
            e.retry_after_ms = Some((wait * 1000.0).ceil() as u64);
            return answer.refuse(e);
        }
        p.budget = (tokens - 1.0, now);
        p.state = state;
        let mut joins = PresenceMap::new();
        joins.insert(
            user,
            PresenceEntry {
                name: p.name.clone(),
                state: p.state.clone(),
            },
        );
        let ok = OkReply::new(answer.r#ref());
        answer.answer(&ServerFrame::Ok(ok));
        self.broadcast_presence(joins, PresenceMap::new());
    }
}
