//! `BoardState`: one board's columns and cards, and the pure function that applies ops.
//!
//! `apply` never mutates while deciding: it works out the single event an op produces from
//! `&self`, then commits that event through the same `apply_event` that replays the event
//! log. So a refused op cannot leave a half-applied change, and replaying the log rebuilds
//! exactly the state the actor had, by construction.

mod cards;
mod columns;
mod drafts;
mod fields;
mod replay;

use self::fields::{client_id, not_found_card, place, who};
use self::replay::sort_checklist;
use super::ctx::ApplyCtx;
use super::error::OpError;
use super::notify::NotificationDraft;
use super::view::{can_see_card, card_facts, redact_card, BoardKey};
use crate::policy::{decide, Action, CardFacts, Decision, OpClass, Principal, Resource};
use boardroom_protocol::{
    BoardSnapshot, Card, CardSnapshot, Column, ColumnRef, EventBody, Op, PrincipalKind, Role,
};
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

/// The policy class of each op kind (PROTOCOL.md's role table, as `policy` encodes it).
pub fn op_class(op: &Op) -> OpClass {
    match op {
        Op::ColumnCreate(_) | Op::ColumnUpdate(_) | Op::ColumnMove(_) | Op::ColumnDelete(_) => {
            OpClass::Column
        }
        Op::CardCreate(_) => OpClass::CardCreate,
        Op::CardUpdate(_)
        | Op::CardAssign(_)
        | Op::CardArchive(_)
        | Op::ChecklistAdd(_)
        | Op::ChecklistRemove(_) => OpClass::CardEdit,
        Op::CardMove(_) => OpClass::CardMove,
        Op::ChecklistToggle(_) => OpClass::ChecklistToggle,
        Op::CommentAdd(_) => OpClass::CommentAdd,
    }
}

/// Everything an accepted op produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The events to journal and publish, in order (v1 ops produce exactly one).
    pub events: Vec<EventBody>,
    pub notifications: Vec<NotificationDraft>,
    /// The id of the created column, card, checklist item or comment: the `id` of the `ok`.
    pub created_id: Option<Uuid>,
    /// The facts of the op's card before the op (`None` for column ops and new cards). The
    /// hub needs them to tell whether a filtered subscriber saw the card before (see
    /// [`super::view::deliver`]).
    pub card_before: Option<CardFacts>,
}

/// One board, in memory. Archived cards stay (a `card:` subscriber of an archived job still
/// sees it, with `archived: true`) but are left out of board snapshots, cannot be changed,
/// and do not keep their column from being deleted: deleting a column drops the archived
/// cards that were in it from memory (the store keeps them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardState {
    id: Uuid,
    org_id: Uuid,
    name: String,
    columns: BTreeMap<Uuid, Column>,
    cards: BTreeMap<Uuid, Card>,
}

/// Where to put a column or card among its siblings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placement {
    First,
    Last,
    After(Uuid),
}

impl Placement {
    /// `after` of a create: absent = last, `null` = first.
    fn of_optional(after: Option<Option<Uuid>>) -> Self {
        match after {
            None => Placement::Last,
            Some(None) => Placement::First,
            Some(Some(id)) => Placement::After(id),
        }
    }

    /// `after` of a move: required, `null` = first.
    fn of_required(after: Option<Uuid>) -> Self {
        after.map_or(Placement::First, Placement::After)
    }

    /// The `after` anchor, if any, for the caller to check; never the item being moved
    /// (`moving`, a `what`), which cannot go after itself.
    fn anchor(self, moving: Option<Uuid>, what: &str) -> Result<Option<Uuid>, OpError> {
        match self {
            Placement::After(a) if Some(a) == moving => Err(OpError::bad(
                "after",
                format!("a {what} cannot go after itself"),
            )),
            Placement::After(a) => Ok(Some(a)),
            Placement::First | Placement::Last => Ok(None),
        }
    }
}

/// The event an op will produce and the notifications it causes.
struct Plan {
    event: EventBody,
    notifications: Vec<NotificationDraft>,
}

impl Plan {
    fn quiet(event: EventBody) -> Self {
        Plan {
            event,
            notifications: Vec::new(),
        }
    }
}

/// What an op's handler decides: the plan, or why the op is refused.
type Planned = Result<Plan, OpError>;

/// Who asks for an op, and for which kind of op (its name, for messages, and its policy
/// class): what every permission check of an op needs, handed to each op's handler whole.
#[derive(Clone, Copy)]
struct Asker<'a> {
    p: &'a Principal,
    kind: &'static str,
    class: OpClass,
}

impl<'a> Asker<'a> {
    fn of(p: &'a Principal, op: &Op) -> Self {
        Asker {
            p,
            kind: op.kind(),
            class: op_class(op),
        }
    }
}

impl BoardState {
    pub fn new(id: Uuid, org_id: Uuid, name: impl Into<String>) -> Self {
        BoardState {
            id,
            org_id,
            name: name.into(),
            columns: BTreeMap::new(),
            cards: BTreeMap::new(),
        }
    }

    /// Builds a board from stored rows. Positions are taken as stored; they must have come
    /// from [`position::between`] for ordering guarantees to hold.
    pub fn from_parts(
        id: Uuid,
        org_id: Uuid,
        name: impl Into<String>,
        columns: impl IntoIterator<Item = Column>,
        cards: impl IntoIterator<Item = Card>,
    ) -> Self {
        let mut b = BoardState::new(id, org_id, name);
        b.columns = columns.into_iter().map(|c| (c.id, c)).collect();
        for mut card in cards {
            sort_checklist(&mut card.checklist);
            b.cards.insert(card.id, card);
        }
        b
    }

    /// Rebuilds a board (or a filtered client's view of it) from a snapshot.
    pub fn from_snapshot(s: BoardSnapshot) -> Self {
        BoardState::from_parts(s.id, s.org_id, s.name, s.columns, s.cards)
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    pub fn org_id(&self) -> Uuid {
        self.org_id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn key(&self) -> BoardKey {
        BoardKey {
            org_id: self.org_id,
            board_id: self.id,
        }
    }

    pub fn column(&self, id: Uuid) -> Option<&Column> {
        self.columns.get(&id)
    }

    /// Any card this board holds, archived or not.
    pub fn card(&self, id: Uuid) -> Option<&Card> {
        self.cards.get(&id)
    }

    pub fn card_facts(&self, id: Uuid) -> Option<CardFacts> {
        self.cards.get(&id).map(card_facts)
    }

    /// Columns in board order.
    pub fn columns(&self) -> Vec<&Column> {
        let mut v: Vec<&Column> = self.columns.values().collect();
        v.sort_by(|a, b| (&a.position, a.id).cmp(&(&b.position, b.id)));
        v
    }

    /// Live cards of a column, top to bottom.
    pub fn cards_in(&self, column_id: Uuid) -> Vec<&Card> {
        let mut v: Vec<&Card> = self
            .cards
            .values()
            .filter(|c| c.column_id == column_id && !c.archived)
            .collect();
        v.sort_by(|a, b| (&a.position, a.id).cmp(&(&b.position, b.id)));
        v
    }

    /// Every card, archived ones included, in id order.
    pub fn all_cards(&self) -> impl Iterator<Item = &Card> {
        self.cards.values()
    }

    pub fn live_card_count(&self) -> usize {
        self.cards.values().filter(|c| !c.archived).count()
    }

    // -----------------------------------------------------------------------------------
    // Snapshots

    /// The full board: columns in order, live cards grouped by column in order.
    pub fn snapshot(&self) -> BoardSnapshot {
        self.snapshot_with(|c| Some(c.clone()), |_| true)
    }

    /// The board as `p` may see it, or `None` when `p` may not read this board.
    ///
    /// Full-view roles get [`Self::snapshot`]; workers their assigned cards; customers their
    /// own cards without comments and labels; a share link its one card and that card's
    /// column (share links cannot read boards, but a board-shaped view of their card is
    /// what a client holding a `card:` subscription would build).
    pub fn snapshot_for(&self, p: &Principal) -> Option<BoardSnapshot> {
        let key = self.key();
        let board_ok = decide(
            p,
            Action::ReadBoard,
            &Resource::Board {
                org_id: self.org_id,
                board_id: self.id,
            },
        )
        .is_allowed();
        if board_ok && p.has_full_view() {
            return Some(self.snapshot());
        }
        let visible = |c: &Card| can_see_card(p, key, &card_facts(c));
        if board_ok {
            return Some(self.snapshot_with(|c| visible(c).then(|| redact_card(p, c)), |_| true));
        }
        if p.kind != PrincipalKind::Share {
            return None;
        }
        let shown: BTreeSet<Uuid> = self
            .cards
            .values()
            .filter(|c| !c.archived && visible(c))
            .map(|c| c.column_id)
            .collect();
        if shown.is_empty() {
            return None;
        }
        Some(self.snapshot_with(
            |c| visible(c).then(|| redact_card(p, c)),
            |col| shown.contains(&col.id),
        ))
    }

    fn snapshot_with(
        &self,
        card: impl Fn(&Card) -> Option<Card>,
        column: impl Fn(&Column) -> bool,
    ) -> BoardSnapshot {
        let columns: Vec<Column> = self
            .columns()
            .into_iter()
            .filter(|c| column(c))
            .cloned()
            .collect();
        let order: BTreeMap<Uuid, usize> =
            columns.iter().enumerate().map(|(i, c)| (c.id, i)).collect();
        let mut cards: Vec<Card> = self
            .cards
            .values()
            .filter(|c| !c.archived && order.contains_key(&c.column_id))
            .filter_map(card)
            .collect();
        cards.sort_by(|a, b| {
            (order.get(&a.column_id), &a.position, a.id).cmp(&(
                order.get(&b.column_id),
                &b.position,
                b.id,
            ))
        });
        BoardSnapshot {
            id: self.id,
            org_id: self.org_id,
            name: self.name.clone(),
            columns,
            cards,
        }
    }

    /// The `card:` snapshot of any card of this board, archived included.
    pub fn card_snapshot(&self, card_id: Uuid) -> Option<CardSnapshot> {
        let card = self.cards.get(&card_id)?;
        let column = self.columns.get(&card.column_id)?;
        Some(CardSnapshot {
            card: card.clone(),
            column: ColumnRef::from(column),
            board_id: self.id,
        })
    }

    /// The `card:` snapshot as `p` may see it; `None` = `not_found` (absent or invisible).
    pub fn card_snapshot_for(&self, p: &Principal, card_id: Uuid) -> Option<CardSnapshot> {
        let mut s = self.card_snapshot(card_id)?;
        if !can_see_card(p, self.key(), &card_facts(&s.card)) {
            return None;
        }
        s.card = redact_card(p, &s.card);
        Some(s)
    }

    // -----------------------------------------------------------------------------------
    // Ops

    /// Applies `op` for `p`: checks permission with the policy, validates, and changes the
    /// board. Returns the events to publish; on `Err` nothing changed.
    pub fn apply(
        &mut self,
        principal: &Principal,
        op: &Op,
        ctx: &ApplyCtx,
    ) -> Result<Vec<EventBody>, OpError> {
        self.apply_op(principal, op, ctx).map(|a| a.events)
    }

    /// [`Self::apply`] with everything else the board actor needs: notifications to create,
    /// the created id for the `ok`, the card's facts before the op for view filtering.
    pub fn apply_op(
        &mut self,
        principal: &Principal,
        op: &Op,
        ctx: &ApplyCtx,
    ) -> Result<Applied, OpError> {
        let card_before = op.card_id().and_then(|id| self.card_facts(id));
        let plan = self.plan(principal, op, ctx)?;
        self.apply_event(&plan.event)
            .map_err(|e| OpError::Internal(e.to_string()))?;
        Ok(Applied {
            created_id: plan.event.created_id(),
            events: vec![plan.event],
            notifications: plan.notifications,
            card_before,
        })
    }

    /// The permission check of `op` alone, on the board as it is now. The board actor asks it
    /// before it looks up an `op_id` it has seen: a replay must not be answered for someone
    /// who may not do the op.
    pub fn authorize_op(&self, p: &Principal, op: &Op) -> Result<(), OpError> {
        let card = match op.card_id() {
            Some(id) => Some(self.cards.get(&id).ok_or_else(|| not_found_card(id))?),
            None => None,
        };
        self.authorize(&Asker::of(p, op), card)
    }

    fn plan(&self, p: &Principal, op: &Op, ctx: &ApplyCtx) -> Planned {
        let by = &Asker::of(p, op);
        match op {
            Op::ColumnCreate(d) => self.column_create(by, d, ctx),
            Op::ColumnUpdate(d) => self.column_update(by, d, ctx),
            Op::ColumnMove(d) => self.column_move(by, d),
            Op::ColumnDelete(d) => self.column_delete(by, d),
            Op::CardCreate(d) => self.card_create(by, d, ctx),
            Op::CardUpdate(d) => self.card_update(by, d, ctx),
            Op::CardMove(d) => self.card_move(by, d, ctx),
            Op::CardAssign(d) => self.card_assign(by, d, ctx),
            Op::CardArchive(d) => self.card_archive(by, d),
            Op::ChecklistAdd(d) => self.checklist_add(by, d, ctx),
            Op::ChecklistToggle(d) => self.checklist_toggle(by, d),
            Op::ChecklistRemove(d) => self.checklist_remove(by, d),
            Op::CommentAdd(d) => self.comment_add(by, d, ctx),
        }
    }

    // ----- permission -------------------------------------------------------------------

    fn authorize(&self, by: &Asker, card: Option<&Card>) -> Result<(), OpError> {
        let Asker { p, kind, class } = *by;
        let resource = match card {
            Some(c) => Resource::Card {
                org_id: self.org_id,
                board_id: self.id,
                card: card_facts(c),
            },
            None => Resource::Board {
                org_id: self.org_id,
                board_id: self.id,
            },
        };
        match decide(p, Action::Op(class), &resource) {
            Decision::Allow => Ok(()),
            Decision::Forbidden => Err(OpError::Forbidden(format!(
                "{} may not {kind}{}",
                who(p),
                match (p.role, card) {
                    (Role::Worker, Some(_)) =>
                        "; workers may move their cards, tick checklist items and comment",
                    (Role::Worker, None) => "; workers may only work on cards assigned to them",
                    _ => "",
                }
            ))),
            Decision::NotFound => Err(match card {
                Some(c) => not_found_card(c.id),
                None => OpError::NotFound(format!("board {} not found", self.id)),
            }),
        }
    }

    /// The card an op targets, after the permission check, refusing archived cards.
    ///
    /// An archived card is a `conflict`, not `not_found`: it still exists and a `card:`
    /// subscriber sees it, so "it was archived" is the truthful, actionable answer. The
    /// permission check comes first so the answer never reveals an invisible card.
    fn target_card(&self, by: &Asker, card_id: Uuid) -> Result<&Card, OpError> {
        let card = self
            .cards
            .get(&card_id)
            .ok_or_else(|| not_found_card(card_id))?;
        self.authorize(by, Some(card))?;
        if card.archived {
            return Err(OpError::Conflict(format!(
                "card {card_id} is archived and can no longer be changed"
            )));
        }
        Ok(card)
    }

    fn target_column(&self, column_id: Uuid) -> Result<&Column, OpError> {
        self.columns
            .get(&column_id)
            .ok_or_else(|| OpError::NotFound(format!("column {column_id} not found")))
    }

    // ----- positions --------------------------------------------------------------------

    /// A position among the other columns (the moving column excluded).
    fn column_position(
        &self,
        placement: Placement,
        moving: Option<Uuid>,
    ) -> Result<String, OpError> {
        if let Some(a) = placement.anchor(moving, "column")? {
            if !self.columns.contains_key(&a) {
                return Err(OpError::NotFound(format!("column {a} (after) not found")));
            }
        }
        let siblings = self
            .columns()
            .into_iter()
            .map(|c| (c.id, c.position.as_str()));
        Ok(place(siblings, moving, placement))
    }

    /// A position among the live cards of `column_id` (the moving card excluded). An
    /// `after` card must be live, in that column, and visible to `p`.
    fn card_position(
        &self,
        p: &Principal,
        column_id: Uuid,
        placement: Placement,
        moving: Option<Uuid>,
    ) -> Result<String, OpError> {
        if let Some(a) = placement.anchor(moving, "card")? {
            let anchor = self
                .cards
                .get(&a)
                .filter(|c| !c.archived && can_see_card(p, self.key(), &card_facts(c)))
                .ok_or_else(|| OpError::NotFound(format!("card {a} (after) not found")))?;
            if anchor.column_id != column_id {
                return Err(OpError::bad(
                    "after",
                    format!("card {a} is not in column {column_id}"),
                ));
            }
        }
        let siblings = self
            .cards_in(column_id)
            .into_iter()
            .map(|c| (c.id, c.position.as_str()));
        Ok(place(siblings, moving, placement))
    }

    // ----- ids --------------------------------------------------------------------------

    fn new_column_id(&self, client: Option<Uuid>, ctx: &ApplyCtx) -> Result<Uuid, OpError> {
        let id = client_id("column_id", client, ctx)?;
        if self.columns.contains_key(&id) {
            return Err(OpError::Conflict(format!("column {id} already exists")));
        }
        Ok(id)
    }

    fn new_card_id(&self, client: Option<Uuid>, ctx: &ApplyCtx) -> Result<Uuid, OpError> {
        let id = client_id("card_id", client, ctx)?;
        if self.cards.contains_key(&id) {
            return Err(OpError::Conflict(format!("card {id} already exists")));
        }
        Ok(id)
    }

    /// Item and comment ids are unique across the board, not only the card, because the
    /// store keys them globally.
    fn new_child_id(
        &self,
        field: &str,
        client: Option<Uuid>,
        ctx: &ApplyCtx,
    ) -> Result<Uuid, OpError> {
        let id = client_id(field, client, ctx)?;
        let taken = self.cards.values().any(|c| {
            c.checklist.iter().any(|i| i.id == id) || c.comments.iter().any(|m| m.id == id)
        });
        if taken {
            return Err(OpError::Conflict(format!(
                "{id} is already in use on this board"
            )));
        }
        Ok(id)
    }
}
