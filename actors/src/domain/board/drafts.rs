//! The notifications an op causes (assignments, @mentions, status changes), as drafts the
//! actor turns into stored notifications.

use super::BoardState;
use crate::domain::ctx::ApplyCtx;
use crate::domain::notify::{NotificationDraft, Recipient};
use crate::domain::view::{can_see_card, card_facts, sees_private_fields};
use crate::policy::Principal;
use boardroom_protocol::{Card, NotificationKind};
use std::collections::BTreeSet;
use uuid::Uuid;

impl BoardState {
    pub(super) fn assignment_notifications(
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
    pub(super) fn user_notifications(
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

    pub(super) fn draft(
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
}
