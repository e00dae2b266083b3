//! `BoardState`: one board's columns and cards, and the pure function that applies ops.
//!
//! `apply` never mutates while deciding: it works out the single event an op produces from
//! `&self`, then commits that event through the same `apply_event` that replays the event
//! log. So a refused op cannot leave a half-applied change, and replaying the log rebuilds
//! exactly the state the actor had, by construction.

use super::ctx::ApplyCtx;
use super::error::{OpError, ReplayError};
use super::notify::{excerpt, NotificationDraft, Recipient};
use super::position;
use super::view::{can_see_card, card_facts, redact_card, sees_private_fields, BoardKey};
use crate::policy::{decide, Action, CardFacts, Decision, OpClass, Principal, Resource};
use boardroom_protocol::event::{
    CardData, CardMoved, ChecklistItemData, ChecklistRemoved, ColumnData, ColumnDeleted,
    CommentAdded,
};
use boardroom_protocol::op::{
    CardArchive, CardAssign, CardCreate, CardMove, CardUpdate, ChecklistAdd, ChecklistRemove,
    ChecklistToggle, ColumnCreate, ColumnDelete, ColumnMove, ColumnUpdate, CommentAdd,
};
use boardroom_protocol::{
    BoardSnapshot, Card, CardSnapshot, ChecklistItem, Column, ColumnRef, Comment, EventBody,
    NotificationKind, Op, PrincipalKind, Role,
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
        self.authorize(p, op.kind(), op_class(op), card)
    }

    fn plan(&self, p: &Principal, op: &Op, ctx: &ApplyCtx) -> Result<Plan, OpError> {
        let kind = op.kind();
        let class = op_class(op);
        match op {
            Op::ColumnCreate(d) => self.column_create(p, kind, class, d, ctx),
            Op::ColumnUpdate(d) => self.column_update(p, kind, class, d, ctx),
            Op::ColumnMove(d) => self.column_move(p, kind, class, d),
            Op::ColumnDelete(d) => self.column_delete(p, kind, class, d),
            Op::CardCreate(d) => self.card_create(p, kind, class, d, ctx),
            Op::CardUpdate(d) => self.card_update(p, kind, class, d, ctx),
            Op::CardMove(d) => self.card_move(p, kind, class, d, ctx),
            Op::CardAssign(d) => self.card_assign(p, kind, class, d, ctx),
            Op::CardArchive(d) => self.card_archive(p, kind, class, d),
            Op::ChecklistAdd(d) => self.checklist_add(p, kind, class, d, ctx),
            Op::ChecklistToggle(d) => self.checklist_toggle(p, kind, class, d),
            Op::ChecklistRemove(d) => self.checklist_remove(p, kind, class, d),
            Op::CommentAdd(d) => self.comment_add(p, kind, class, d, ctx),
        }
    }

    // ----- permission -------------------------------------------------------------------

    fn authorize(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        card: Option<&Card>,
    ) -> Result<(), OpError> {
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
    fn target_card(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        card_id: Uuid,
    ) -> Result<&Card, OpError> {
        let card = self
            .cards
            .get(&card_id)
            .ok_or_else(|| not_found_card(card_id))?;
        self.authorize(p, kind, class, Some(card))?;
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
        if let Placement::After(a) = placement {
            if Some(a) == moving {
                return Err(OpError::bad("after", "a column cannot go after itself"));
            }
            if !self.columns.contains_key(&a) {
                return Err(OpError::NotFound(format!("column {a} (after) not found")));
            }
        }
        let siblings: Vec<(Uuid, &str)> = self
            .columns()
            .into_iter()
            .filter(|c| Some(c.id) != moving)
            .map(|c| (c.id, c.position.as_str()))
            .collect();
        Ok(place(&siblings, placement))
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
        if let Placement::After(a) = placement {
            if Some(a) == moving {
                return Err(OpError::bad("after", "a card cannot go after itself"));
            }
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
        let siblings: Vec<(Uuid, &str)> = self
            .cards_in(column_id)
            .into_iter()
            .filter(|c| Some(c.id) != moving)
            .map(|c| (c.id, c.position.as_str()))
            .collect();
        Ok(place(&siblings, placement))
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

    // ----- columns ----------------------------------------------------------------------

    fn column_create(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ColumnCreate,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        self.authorize(p, kind, class, None)?;
        let name = text("name", &d.name, ctx.limits.column_name_max)?;
        let id = self.new_column_id(d.column_id, ctx)?;
        if self.columns.len() >= ctx.limits.columns_max {
            return Err(OpError::Conflict(format!(
                "a board holds at most {} columns",
                ctx.limits.columns_max
            )));
        }
        let position = self.column_position(Placement::of_optional(d.after), None)?;
        Ok(Plan::quiet(EventBody::ColumnCreated(ColumnData {
            column: Column {
                id,
                name,
                position,
                is_done: d.is_done.unwrap_or(false),
                color: d.color.as_deref().map(color).transpose()?,
            },
        })))
    }

    fn column_update(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ColumnUpdate,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        self.authorize(p, kind, class, None)?;
        let mut column = self.target_column(d.column_id)?.clone();
        if d.name.is_none() && d.is_done.is_none() && d.color.is_none() {
            return Err(OpError::bad(
                "name",
                "column.update needs at least one of name, is_done, color",
            ));
        }
        if let Some(c) = &d.color {
            column.color = c.as_deref().map(color).transpose()?;
        }
        if let Some(name) = &d.name {
            column.name = text("name", name, ctx.limits.column_name_max)?;
        }
        if let Some(done) = d.is_done {
            column.is_done = done;
        }
        Ok(Plan::quiet(EventBody::ColumnUpdated(ColumnData { column })))
    }

    fn column_move(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ColumnMove,
    ) -> Result<Plan, OpError> {
        self.authorize(p, kind, class, None)?;
        let mut column = self.target_column(d.column_id)?.clone();
        column.position =
            self.column_position(Placement::of_required(d.after), Some(d.column_id))?;
        Ok(Plan::quiet(EventBody::ColumnMoved(ColumnData { column })))
    }

    fn column_delete(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ColumnDelete,
    ) -> Result<Plan, OpError> {
        self.authorize(p, kind, class, None)?;
        self.target_column(d.column_id)?;
        let live = self.cards_in(d.column_id).len();
        if live > 0 {
            return Err(OpError::Conflict(format!(
                "column {} still holds {live} card(s); move or archive them first",
                d.column_id
            )));
        }
        Ok(Plan::quiet(EventBody::ColumnDeleted(ColumnDeleted {
            column_id: d.column_id,
        })))
    }

    // ----- cards ------------------------------------------------------------------------

    fn card_create(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &CardCreate,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        self.authorize(p, kind, class, None)?;
        let column = self.target_column(d.column_id)?;
        let title = text("title", &d.title, ctx.limits.title_max)?;
        let description = d
            .description
            .as_deref()
            .map(|s| description(s, ctx))
            .transpose()?;
        let labels = labels(&d.labels, ctx)?;
        let assignees = assignees(&d.assignees, ctx)?;
        let customer_id = d.customer_id.map(|c| customer(c, ctx)).transpose()?;
        let id = self.new_card_id(d.card_id, ctx)?;
        if self.live_card_count() >= ctx.limits.cards_max {
            return Err(OpError::Conflict(format!(
                "a board holds at most {} cards; archive some first",
                ctx.limits.cards_max
            )));
        }
        let position = self.card_position(p, column.id, Placement::of_optional(d.after), None)?;
        let card = Card {
            id,
            column_id: column.id,
            position,
            title,
            description,
            assignees,
            customer_id,
            labels,
            due_at: d.due_at,
            priority: d.priority,
            estimate_minutes: d.estimate_minutes.map(|m| estimate(m, ctx)).transpose()?,
            checklist: Vec::new(),
            comments: Vec::new(),
            version: 1,
            archived: false,
        };
        let notifications = self.assignment_notifications(p, &card, &[], ctx);
        Ok(Plan {
            event: EventBody::CardCreated(CardData { card }),
            notifications,
        })
    }

    fn card_update(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &CardUpdate,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        let mut card = self.target_card(p, kind, class, d.card_id)?.clone();
        if let Some(expected) = d.expected_version {
            if expected != card.version {
                return Err(OpError::Conflict(format!(
                    "card {} is at version {}, not {expected}; reload it and retry",
                    card.id, card.version
                )));
            }
        }
        if d.title.is_none()
            && d.description.is_none()
            && d.labels.is_none()
            && d.due_at.is_none()
            && d.customer_id.is_none()
            && d.priority.is_none()
            && d.estimate_minutes.is_none()
        {
            return Err(OpError::bad(
                "title",
                "card.update needs at least one of title, description, labels, due_at, customer_id, priority, estimate_minutes",
            ));
        }
        if let Some(pr) = d.priority {
            card.priority = pr;
        }
        if let Some(m) = d.estimate_minutes {
            card.estimate_minutes = m.map(|m| estimate(m, ctx)).transpose()?;
        }
        if let Some(t) = &d.title {
            card.title = text("title", t, ctx.limits.title_max)?;
        }
        if let Some(desc) = &d.description {
            card.description = desc.as_deref().map(|s| description(s, ctx)).transpose()?;
        }
        if let Some(l) = &d.labels {
            card.labels = labels(l, ctx)?;
        }
        if let Some(due) = d.due_at {
            card.due_at = due;
        }
        if let Some(c) = d.customer_id {
            card.customer_id = c.map(|c| customer(c, ctx)).transpose()?;
        }
        card.version += 1;
        Ok(Plan::quiet(EventBody::CardUpdated(CardData { card })))
    }

    fn card_move(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &CardMove,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        let before = self.target_card(p, kind, class, d.card_id)?;
        let from = self.target_column(before.column_id)?;
        let to = self.target_column(d.column_id)?;
        let position =
            self.card_position(p, to.id, Placement::of_required(d.after), Some(d.card_id))?;
        let mut card = before.clone();
        card.column_id = to.id;
        card.position = position;
        card.version += 1;
        let mut notifications = Vec::new();
        if from.is_done != to.is_done {
            let body = if to.is_done {
                format!("Completed: moved to {}", to.name)
            } else {
                format!("Reopened: moved to {}", to.name)
            };
            notifications = self.user_notifications(
                p,
                &card,
                card.assignees.iter().copied(),
                NotificationKind::JobStatus,
                &body,
                ctx,
            );
            if let Some(customer_id) = card.customer_id {
                notifications.push(self.draft(
                    Recipient::Customer(customer_id),
                    NotificationKind::JobStatus,
                    &card,
                    &body,
                ));
            }
        }
        Ok(Plan {
            event: EventBody::CardMoved(CardMoved {
                from_column_id: from.id,
                column: ColumnRef::from(to),
                card,
            }),
            notifications,
        })
    }

    fn card_assign(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &CardAssign,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        let before = self.target_card(p, kind, class, d.card_id)?;
        let assignees = assignees(&d.assignees, ctx)?;
        let mut card = before.clone();
        card.assignees = assignees;
        card.version += 1;
        let notifications = self.assignment_notifications(p, &card, &before.assignees, ctx);
        Ok(Plan {
            event: EventBody::CardAssigned(CardData { card }),
            notifications,
        })
    }

    fn card_archive(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &CardArchive,
    ) -> Result<Plan, OpError> {
        let mut card = self.target_card(p, kind, class, d.card_id)?.clone();
        card.archived = true;
        card.version += 1;
        Ok(Plan::quiet(EventBody::CardArchived(CardData { card })))
    }

    // ----- checklist and comments -------------------------------------------------------

    fn checklist_add(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ChecklistAdd,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        let card = self.target_card(p, kind, class, d.card_id)?;
        let title = text("title", &d.title, ctx.limits.title_max)?;
        let id = self.new_child_id("item_id", d.item_id, ctx)?;
        if card.checklist.len() >= ctx.limits.checklist_items_max {
            return Err(OpError::Conflict(format!(
                "a checklist holds at most {} items",
                ctx.limits.checklist_items_max
            )));
        }
        let last = card.checklist.iter().map(|i| i.position.as_str()).max();
        Ok(Plan::quiet(EventBody::ChecklistAdded(ChecklistItemData {
            item: ChecklistItem {
                id,
                title,
                done: false,
                position: position::between(last, None),
            },
            card_id: card.id,
            version: card.version + 1,
        })))
    }

    fn checklist_toggle(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ChecklistToggle,
    ) -> Result<Plan, OpError> {
        let card = self.target_card(p, kind, class, d.card_id)?;
        let mut item = find_item(card, d.item_id)?.clone();
        item.done = d.done;
        Ok(Plan::quiet(EventBody::ChecklistToggled(
            ChecklistItemData {
                item,
                card_id: card.id,
                version: card.version + 1,
            },
        )))
    }

    fn checklist_remove(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &ChecklistRemove,
    ) -> Result<Plan, OpError> {
        let card = self.target_card(p, kind, class, d.card_id)?;
        find_item(card, d.item_id)?;
        Ok(Plan::quiet(EventBody::ChecklistRemoved(ChecklistRemoved {
            item_id: d.item_id,
            card_id: card.id,
            version: card.version + 1,
        })))
    }

    fn comment_add(
        &self,
        p: &Principal,
        kind: &str,
        class: OpClass,
        d: &CommentAdd,
        ctx: &ApplyCtx,
    ) -> Result<Plan, OpError> {
        let card = self.target_card(p, kind, class, d.card_id)?;
        let body = text("body", &d.body, ctx.limits.comment_max)?;
        let mentions = users("mentions", &d.mentions, ctx.limits.mentions_max, ctx)?;
        let id = self.new_child_id("comment_id", None, ctx)?;
        let notifications = self.user_notifications(
            p,
            card,
            mentions.iter().copied(),
            NotificationKind::Mention,
            &excerpt(&body),
            ctx,
        );
        Ok(Plan {
            event: EventBody::CommentAdded(CommentAdded {
                comment: Comment {
                    id,
                    author_id: p.id,
                    body,
                    mentions,
                    created_at: ctx.now,
                },
                card_id: card.id,
                version: card.version + 1,
            }),
            notifications,
        })
    }

    // ----- notifications ----------------------------------------------------------------

    fn assignment_notifications(
        &self,
        p: &Principal,
        card: &Card,
        previous: &[Uuid],
        ctx: &ApplyCtx,
    ) -> Vec<NotificationDraft> {
        let new = card
            .assignees
            .iter()
            .copied()
            .filter(|u| !previous.contains(u));
        self.user_notifications(
            p,
            card,
            new,
            NotificationKind::CardAssigned,
            "Assigned to you",
            ctx,
        )
    }

    /// Drafts for users, skipping the actor (nobody needs telling what they just did) and
    /// anyone who may not see the card: a notification quotes the card's title, so it must
    /// not reach, say, a worker mentioned on a card they are not assigned to. Mentions also
    /// skip customers, since a mention quotes a comment.
    fn user_notifications(
        &self,
        p: &Principal,
        card: &Card,
        users: impl Iterator<Item = Uuid>,
        kind: NotificationKind,
        body: &str,
        ctx: &ApplyCtx,
    ) -> Vec<NotificationDraft> {
        let facts = card_facts(card);
        let mut seen = BTreeSet::new();
        users
            .filter(|u| Some(*u) != p.user_id() && seen.insert(*u))
            .filter(|u| {
                ctx.directory.member(*u).is_some_and(|m| {
                    let mut r = Principal::user(*u, self.org_id, m.role);
                    r.customer_id = m.customer_id;
                    // A mention quotes the comment, and customers never see comments.
                    can_see_card(&r, self.key(), &facts)
                        && (kind != NotificationKind::Mention || sees_private_fields(&r))
                })
            })
            .map(|u| self.draft(Recipient::User(u), kind, card, body))
            .collect()
    }

    fn draft(
        &self,
        recipient: Recipient,
        kind: NotificationKind,
        card: &Card,
        body: &str,
    ) -> NotificationDraft {
        NotificationDraft {
            recipient,
            kind,
            board_id: self.id,
            card_id: card.id,
            title: card.title.clone(),
            body: body.to_string(),
        }
    }

    // -----------------------------------------------------------------------------------
    // Events

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

// ---------------------------------------------------------------------------------------
// Helpers

fn unique_valid<'a>(what: &str, keys: impl Iterator<Item = &'a str>) -> Result<(), String> {
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

fn sort_checklist(items: &mut [ChecklistItem]) {
    items.sort_by(|a, b| (&a.position, a.id).cmp(&(&b.position, b.id)));
}

/// A position for `placement` among `siblings` (sorted by position). The anchor of
/// `After` has been checked to exist by the caller; if it is not among the siblings the
/// item goes last.
fn place(siblings: &[(Uuid, &str)], placement: Placement) -> String {
    match placement {
        Placement::First => position::between(None, siblings.first().map(|s| s.1)),
        Placement::Last => position::between(siblings.last().map(|s| s.1), None),
        Placement::After(anchor) => match siblings.iter().position(|s| s.0 == anchor) {
            Some(i) => position::between(Some(siblings[i].1), siblings.get(i + 1).map(|s| s.1)),
            None => position::between(siblings.last().map(|s| s.1), None),
        },
    }
}

fn not_found_card(id: Uuid) -> OpError {
    OpError::NotFound(format!("card {id} not found"))
}

fn find_item(card: &Card, item_id: Uuid) -> Result<&ChecklistItem, OpError> {
    card.checklist
        .iter()
        .find(|i| i.id == item_id)
        .ok_or_else(|| {
            OpError::NotFound(format!(
                "checklist item {item_id} not found on card {}",
                card.id
            ))
        })
}

/// "a worker", "an API key with role member", "a share link": for forbidden messages.
fn who(p: &Principal) -> String {
    let role = p.role.as_str();
    let article = if matches!(p.role, Role::Owner | Role::Admin) {
        "an"
    } else {
        "a"
    };
    match p.kind {
        PrincipalKind::User => format!("{article} {role}"),
        PrincipalKind::ApiKey => format!("an API key with role {role}"),
        PrincipalKind::Share => "a share link".to_string(),
    }
}

fn client_id(field: &str, client: Option<Uuid>, ctx: &ApplyCtx) -> Result<Uuid, OpError> {
    match client {
        Some(id) if id.is_nil() => Err(OpError::bad(field, "must not be the nil uuid")),
        Some(id) => Ok(id),
        None => Ok(ctx.new_id),
    }
}

/// Trimmed text of 1..=max characters.
fn text(field: &str, value: &str, max: usize) -> Result<String, OpError> {
    let t = value.trim();
    if t.is_empty() {
        return Err(OpError::bad(field, "must not be empty"));
    }
    let n = t.chars().count();
    if n > max {
        return Err(OpError::bad(
            field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(t.to_string())
}

fn description(value: &str, ctx: &ApplyCtx) -> Result<String, OpError> {
    let max = ctx.limits.description_max;
    let n = value.chars().count();
    if n > max {
        return Err(OpError::bad(
            "description",
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(value.to_string())
}

/// Labels trimmed, duplicates dropped (a label is a tag, so a repeat adds nothing).
fn labels(input: &[String], ctx: &ApplyCtx) -> Result<Vec<String>, OpError> {
    let mut out: Vec<String> = Vec::new();
    for (i, l) in input.iter().enumerate() {
        let l = text(&format!("labels[{i}]"), l, ctx.limits.label_max)?;
        if !out.contains(&l) {
            out.push(l);
        }
    }
    if out.len() > ctx.limits.labels_max {
        return Err(OpError::bad(
            "labels",
            format!("at most {} labels are allowed", ctx.limits.labels_max),
        ));
    }
    Ok(out)
}

/// User ids that must all be members of the org; duplicates dropped, order kept.
fn users(field: &str, input: &[Uuid], max: usize, ctx: &ApplyCtx) -> Result<Vec<Uuid>, OpError> {
    let mut out: Vec<Uuid> = Vec::new();
    for (i, u) in input.iter().enumerate() {
        if ctx.directory.member(*u).is_none() {
            return Err(OpError::bad(
                &format!("{field}[{i}]"),
                format!("{u} is not a member of this organization"),
            ));
        }
        if !out.contains(u) {
            out.push(*u);
        }
    }
    if out.len() > max {
        return Err(OpError::bad(field, format!("at most {max} are allowed")));
    }
    Ok(out)
}

/// A column colour: `#rrggbb`, stored lowercase so equal colours compare equal.
fn color(c: &str) -> Result<String, OpError> {
    let hex = c.strip_prefix('#').unwrap_or("");
    if hex.len() == 6 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(format!("#{}", hex.to_ascii_lowercase()))
    } else {
        Err(OpError::bad("color", "a colour is `#rrggbb`"))
    }
}

fn estimate(minutes: u32, ctx: &ApplyCtx) -> Result<u32, OpError> {
    if minutes <= ctx.limits.estimate_minutes_max {
        Ok(minutes)
    } else {
        Err(OpError::bad(
            "estimate_minutes",
            format!("at most {} minutes", ctx.limits.estimate_minutes_max),
        ))
    }
}

/// Assignees are the people who do the work: any member but a customer user, who is the one
/// the work is for (a field-service job assigned to its own customer would show up in their
/// portal as theirs to do).
fn assignees(input: &[Uuid], ctx: &ApplyCtx) -> Result<Vec<Uuid>, OpError> {
    let out = users("assignees", input, ctx.limits.assignees_max, ctx)?;
    for (i, u) in input.iter().enumerate() {
        if ctx.directory.member(*u).map(|m| m.role) == Some(Role::Customer) {
            return Err(OpError::bad(
                &format!("assignees[{i}]"),
                format!("{u} is a customer; only staff can be assigned"),
            ));
        }
    }
    Ok(out)
}

fn customer(id: Uuid, ctx: &ApplyCtx) -> Result<Uuid, OpError> {
    if ctx.directory.has_customer(id) {
        Ok(id)
    } else {
        Err(OpError::bad(
            "customer_id",
            format!("{id} is not a customer of this organization"),
        ))
    }
}
