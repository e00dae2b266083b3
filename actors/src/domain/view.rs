//! What a filtered subscriber (worker, customer, share link) may see of the board, and how
//! each event looks to them.
//!
//! Visibility is never decided here: every "may see this card" is a
//! [`decide`]`(p, ReadCard, …)` of the policy table, so the view a subscriber gets cannot
//! drift from what the REST API and the op checks allow. This module only adds what the
//! policy has no notion of: redacting fields (customers and share links never see comments
//! or labels) and turning "the card entered/left your view" into `card.visible` /
//! `card.hidden`.

use crate::policy::{decide, Action, CardFacts, Principal, Resource};
use boardroom_protocol::event::{CardData, CardHidden, CardMoved};
use boardroom_protocol::{Card, EventBody, PrincipalKind, Role};
use uuid::Uuid;

/// Which board an event belongs to: the policy needs the org and the board id (for API key
/// board scopes), and a hub on another node knows these without holding the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BoardKey {
    pub org_id: Uuid,
    pub board_id: Uuid,
}

/// The visibility-deciding facts of a card.
pub fn card_facts(card: &Card) -> CardFacts {
    CardFacts {
        card_id: card.id,
        assignees: card.assignees.clone(),
        customer_id: card.customer_id,
    }
}

/// May `p` see this card at all (policy `ReadCard`)?
pub fn can_see_card(p: &Principal, board: BoardKey, card: &CardFacts) -> bool {
    decide(
        p,
        Action::ReadCard,
        &Resource::Card {
            org_id: board.org_id,
            board_id: board.board_id,
            card: card.clone(),
        },
    )
    .is_allowed()
}

/// May `p` read the board as a whole (its columns, its topic)?
pub fn can_read_board(p: &Principal, board: BoardKey) -> bool {
    decide(
        p,
        Action::ReadBoard,
        &Resource::Board {
            org_id: board.org_id,
            board_id: board.board_id,
        },
    )
    .is_allowed()
}

/// Whether `p` sees a card's comments, labels, priority and estimate (the team's own notes
/// and planning). Customers and share links do not
/// (PROTOCOL.md: "never sees comments, labels or other customers"); the role table has no
/// action for field-level reads, so the rule lives here.
pub fn sees_private_fields(p: &Principal) -> bool {
    p.kind != PrincipalKind::Share && p.role != Role::Customer
}

/// The card as `p` may see it: without comments, labels, priority and estimate for customers
/// and share links.
pub fn redact_card(p: &Principal, card: &Card) -> Card {
    let mut c = card.clone();
    if !sees_private_fields(p) {
        c.labels.clear();
        c.comments.clear();
        c.priority = None;
        c.estimate_minutes = None;
    }
    c
}

fn needs_redaction(p: &Principal, card: &Card) -> bool {
    !sees_private_fields(p)
        && (!card.labels.is_empty()
            || !card.comments.is_empty()
            || card.priority.is_some()
            || card.estimate_minutes.is_some())
}

/// The view class of a subscriber on one board: two subscribers of the same class get exactly
/// the same [`deliver`] answer for every event of that board (a property test holds this
/// against the per-subscriber rule). The hub computes it once per subscription, so an event
/// costs one decision and one encode per class instead of one per subscriber.
///
/// The classes follow what [`crate::policy`] decides a card's visibility on: everything for
/// owners, admins and members; the cards a worker is assigned to; the cards of one customer;
/// the one card of a share link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewClass {
    /// Another org, or a board outside an API key's scope: hears nothing.
    Blind,
    /// Owner, admin, member (users and API keys): every event as it is.
    Full,
    /// A worker: the cards assigned to this user (`None`: a worker API key, no user, no card).
    Worker(Option<Uuid>),
    /// A customer: the cards of this customer record, without comments and labels.
    Customer(Option<Uuid>),
    /// A share link: this one card, without comments and labels.
    Share(Option<Uuid>),
}

/// The view class of `p` on `board`.
pub fn view_class(p: &Principal, board: BoardKey) -> ViewClass {
    if p.org_id != board.org_id || !p.board_in_scope(board.board_id) {
        return ViewClass::Blind;
    }
    if p.kind == PrincipalKind::Share {
        return ViewClass::Share(p.share_card);
    }
    match p.role {
        Role::Owner | Role::Admin | Role::Member => ViewClass::Full,
        Role::Worker => ViewClass::Worker(p.user_id()),
        Role::Customer => ViewClass::Customer(p.customer_id),
    }
}

/// How one change moves a card relative to a subscriber's view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ViewChange {
    /// Not visible before or after: the subscriber hears nothing.
    Hidden,
    /// Visible before and after: the subscriber gets the event.
    Visible,
    /// Invisible before, visible after (e.g. a worker was just assigned): `card.visible`,
    /// or the event itself when the card is new.
    Enters,
    /// Visible before, invisible after (unassigned, customer changed): `card.hidden`.
    Leaves,
}

/// Compares the card's facts before and after a change from `p`'s point of view. `None`
/// means the card did not exist (before) / no longer exists (after).
pub fn view_change(
    p: &Principal,
    board: BoardKey,
    before: Option<&CardFacts>,
    after: Option<&CardFacts>,
) -> ViewChange {
    let was = before.is_some_and(|f| can_see_card(p, board, f));
    let is = after.is_some_and(|f| can_see_card(p, board, f));
    match (was, is) {
        (false, false) => ViewChange::Hidden,
        (true, true) => ViewChange::Visible,
        (false, true) => ViewChange::Enters,
        (true, false) => ViewChange::Leaves,
    }
}

/// What one subscriber receives for one board event.
///
/// Returned and consumed at once per (event, subscriber), never stored in bulk, so the
/// inline `EventBody` costs nothing a `Box` would save.
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)]
pub enum Delivery {
    /// Nothing: the event is about something the subscriber may not see.
    Skip,
    /// The event exactly as produced: the hub can send the bytes it encoded once for
    /// everybody. This is the answer for every full-view subscriber.
    Same,
    /// A different body just for this subscriber: a redacted card, `card.visible` or
    /// `card.hidden`.
    Send(EventBody),
}

/// How `event` reaches `p` on the board topic. `before` is the facts of the event's card
/// just before the op (the board actor returns them in `Applied::card_before`); `None` for
/// a card the op created.
pub fn deliver(
    p: &Principal,
    board: BoardKey,
    event: &EventBody,
    before: Option<&CardFacts>,
) -> Delivery {
    if !can_read_board(p, board) && p.kind != PrincipalKind::Share {
        return Delivery::Skip;
    }
    if p.has_full_view() {
        return Delivery::Same;
    }
    match event {
        EventBody::ColumnCreated(_)
        | EventBody::ColumnUpdated(_)
        | EventBody::ColumnMoved(_)
        | EventBody::ColumnDeleted(_) => {
            // Columns are the statuses workers and customers see; a share link shows one
            // card and learns its status from `card.moved`.
            if can_read_board(p, board) {
                Delivery::Same
            } else {
                Delivery::Skip
            }
        }
        EventBody::CardHidden(d) => match before {
            Some(f) if f.card_id == d.card_id && can_see_card(p, board, f) => Delivery::Same,
            _ => Delivery::Skip,
        },
        EventBody::CardVisible(d) => {
            if can_see_card(p, board, &card_facts(&d.card)) {
                send_card(p, event, &d.card)
            } else {
                Delivery::Skip
            }
        }
        EventBody::CardCreated(_)
        | EventBody::CardUpdated(_)
        | EventBody::CardMoved(_)
        | EventBody::CardAssigned(_)
        | EventBody::CardArchived(_) => {
            let Some(card) = event.card() else {
                return Delivery::Skip;
            };
            let after = card_facts(card);
            match view_change(p, board, before, Some(&after)) {
                ViewChange::Hidden => Delivery::Skip,
                ViewChange::Leaves => {
                    Delivery::Send(EventBody::CardHidden(CardHidden { card_id: card.id }))
                }
                ViewChange::Enters if before.is_some() => {
                    Delivery::Send(EventBody::CardVisible(CardData {
                        card: redact_card(p, card),
                    }))
                }
                ViewChange::Enters | ViewChange::Visible => send_card(p, event, card),
            }
        }
        EventBody::ChecklistAdded(_)
        | EventBody::ChecklistToggled(_)
        | EventBody::ChecklistRemoved(_) => match before {
            Some(f) if Some(f.card_id) == event.card_id() && can_see_card(p, board, f) => {
                Delivery::Same
            }
            _ => Delivery::Skip,
        },
        EventBody::CommentAdded(_) => match before {
            Some(f)
                if sees_private_fields(p)
                    && Some(f.card_id) == event.card_id()
                    && can_see_card(p, board, f) =>
            {
                Delivery::Same
            }
            _ => Delivery::Skip,
        },
    }
}

/// [`deliver`] for a `card:<card_id>` subscription: only events about that card.
pub fn deliver_on_card_topic(
    p: &Principal,
    board: BoardKey,
    card_id: Uuid,
    event: &EventBody,
    before: Option<&CardFacts>,
) -> Delivery {
    if event.card_id() != Some(card_id) {
        return Delivery::Skip;
    }
    if p.has_full_view() && can_read_board(p, board) {
        return Delivery::Same;
    }
    deliver(p, board, event, before)
}

/// The card-carrying `event` with its card redacted for `p`, or `Same` when nothing needs
/// hiding (so the shared bytes can be reused).
fn send_card(p: &Principal, event: &EventBody, card: &Card) -> Delivery {
    if !needs_redaction(p, card) {
        return Delivery::Same;
    }
    let card = redact_card(p, card);
    Delivery::Send(match event {
        EventBody::CardCreated(_) => EventBody::CardCreated(CardData { card }),
        EventBody::CardUpdated(_) => EventBody::CardUpdated(CardData { card }),
        EventBody::CardAssigned(_) => EventBody::CardAssigned(CardData { card }),
        EventBody::CardArchived(_) => EventBody::CardArchived(CardData { card }),
        EventBody::CardMoved(m) => EventBody::CardMoved(CardMoved {
            card,
            from_column_id: m.from_column_id,
            column: m.column.clone(),
        }),
        _ => EventBody::CardVisible(CardData { card }),
    })
}
