//! What `BoardState::apply` needs to know that the board itself does not hold.

use super::limits::Limits;
use boardroom_protocol::Role;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// A member of the organization, as far as the domain needs to know: enough to validate
/// assignees and mentions and to tell whether a notification's recipient may see the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    pub role: Role,
    /// For customer users: the customer record they are.
    pub customer_id: Option<Uuid>,
}

/// The organization's members and customers. A trait so the org actor can answer from its
/// own cache without copying it into every op.
pub trait Directory {
    /// The active member with this user id, if any.
    fn member(&self, user_id: Uuid) -> Option<Member>;
    /// Whether this customer record exists (and is not deleted) in the org.
    fn has_customer(&self, customer_id: Uuid) -> bool;
}

/// A plain in-memory [`Directory`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgDirectory {
    pub members: HashMap<Uuid, Member>,
    pub customers: HashSet<Uuid>,
}

impl OrgDirectory {
    pub fn with_member(mut self, user_id: Uuid, role: Role) -> Self {
        self.members.insert(
            user_id,
            Member {
                role,
                customer_id: None,
            },
        );
        self
    }

    /// A customer user: a member with role `customer` who is the customer `customer_id`.
    pub fn with_customer_user(mut self, user_id: Uuid, customer_id: Uuid) -> Self {
        self.members.insert(
            user_id,
            Member {
                role: Role::Customer,
                customer_id: Some(customer_id),
            },
        );
        self.customers.insert(customer_id);
        self
    }

    pub fn with_customer(mut self, customer_id: Uuid) -> Self {
        self.customers.insert(customer_id);
        self
    }
}

impl Directory for OrgDirectory {
    fn member(&self, user_id: Uuid) -> Option<Member> {
        self.members.get(&user_id).copied()
    }

    fn has_customer(&self, customer_id: Uuid) -> bool {
        self.customers.contains(&customer_id)
    }
}

/// The inputs of one `apply` that are not in the board: time, a fresh id, the org's
/// directory and the configured limits. Passing them in keeps `apply` deterministic, so the
/// same op on the same state always yields the same events (tests and replays rely on it).
#[derive(Clone, Copy)]
pub struct ApplyCtx<'a> {
    /// When the op is applied: `created_at` of comments.
    pub now: DateTime<Utc>,
    /// The id of the object the op creates when the client did not supply one. Every op
    /// creates at most one object (column, card, checklist item or comment), so one id per
    /// op is enough; the caller makes it (UUIDv7) and may discard it when unused.
    pub new_id: Uuid,
    pub directory: &'a dyn Directory,
    pub limits: &'a Limits,
}

impl std::fmt::Debug for ApplyCtx<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApplyCtx")
            .field("now", &self.now)
            .field("new_id", &self.new_id)
            .field("limits", &self.limits)
            .finish_non_exhaustive()
    }
}
