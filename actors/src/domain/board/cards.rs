//! The card, checklist and comment ops: what each one checks and the event it produces.

use super::fields::{assignees, customer, description, estimate, find_item, labels, text, users};
use super::{Asker, BoardState, Placement, Plan, Planned};
use crate::domain::ctx::ApplyCtx;
use crate::domain::error::OpError;
use crate::domain::notify::{excerpt, Recipient};
use crate::domain::position;
use boardroom_protocol::event::{
    CardData, CardMoved, ChecklistItemData, ChecklistRemoved, CommentAdded,
};
use boardroom_protocol::op::{
    CardArchive, CardAssign, CardCreate, CardMove, CardUpdate, ChecklistAdd, ChecklistRemove,
    ChecklistToggle, CommentAdd,
};
use boardroom_protocol::{Card, ChecklistItem, ColumnRef, Comment, EventBody, NotificationKind};

impl BoardState {
    pub(super) fn card_create(&self, by: &Asker, d: &CardCreate, ctx: &ApplyCtx) -> Planned {
        self.authorize(by, None)?;
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
        let position =
            self.card_position(by.p, column.id, Placement::of_optional(d.after), None)?;
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
        let notifications = self.assignment_notifications(by.p, &card, &[], ctx);
        Ok(Plan {
            event: EventBody::CardCreated(CardData { card }),
            notifications,
        })
    }

    pub(super) fn card_update(&self, by: &Asker, d: &CardUpdate, ctx: &ApplyCtx) -> Planned {
        let mut card = self.target_card(by, d.card_id)?.clone();
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

    pub(super) fn card_move(&self, by: &Asker, d: &CardMove, ctx: &ApplyCtx) -> Planned {
        let before = self.target_card(by, d.card_id)?;
        let from = self.target_column(before.column_id)?;
        let to = self.target_column(d.column_id)?;
        let position = self.card_position(
            by.p,
            to.id,
            Placement::of_required(d.after),
            Some(d.card_id),
        )?;
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
                by.p,
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

    pub(super) fn card_assign(&self, by: &Asker, d: &CardAssign, ctx: &ApplyCtx) -> Planned {
        let before = self.target_card(by, d.card_id)?;
        let assignees = assignees(&d.assignees, ctx)?;
        let mut card = before.clone();
        card.assignees = assignees;
        card.version += 1;
        let notifications = self.assignment_notifications(by.p, &card, &before.assignees, ctx);
        Ok(Plan {
            event: EventBody::CardAssigned(CardData { card }),
            notifications,
        })
    }

    pub(super) fn card_archive(&self, by: &Asker, d: &CardArchive) -> Planned {
        let mut card = self.target_card(by, d.card_id)?.clone();
        card.archived = true;
        card.version += 1;
        Ok(Plan::quiet(EventBody::CardArchived(CardData { card })))
    }

    // ----- checklist and comments -------------------------------------------------------

    pub(super) fn checklist_add(&self, by: &Asker, d: &ChecklistAdd, ctx: &ApplyCtx) -> Planned {
        let card = self.target_card(by, d.card_id)?;
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

    pub(super) fn checklist_toggle(&self, by: &Asker, d: &ChecklistToggle) -> Planned {
        let card = self.target_card(by, d.card_id)?;
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

    pub(super) fn checklist_remove(&self, by: &Asker, d: &ChecklistRemove) -> Planned {
        let card = self.target_card(by, d.card_id)?;
        find_item(card, d.item_id)?;
        Ok(Plan::quiet(EventBody::ChecklistRemoved(ChecklistRemoved {
            item_id: d.item_id,
            card_id: card.id,
            version: card.version + 1,
        })))
    }

    pub(super) fn comment_add(&self, by: &Asker, d: &CommentAdd, ctx: &ApplyCtx) -> Planned {
        let card = self.target_card(by, d.card_id)?;
        let body = text("body", &d.body, ctx.limits.comment_max)?;
        let mentions = users("mentions", &d.mentions, ctx.limits.mentions_max, ctx)?;
        let id = self.new_child_id("comment_id", None, ctx)?;
        let notifications = self.user_notifications(
            by.p,
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
                    author_id: by.p.id,
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
}
