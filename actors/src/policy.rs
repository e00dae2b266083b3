//! The one place that decides who may do what.
//!
//! Every check in Boardroom — REST handlers, the WebSocket gateway, the board actor applying an
//! op — asks [`decide`]. Keeping the whole role table in one pure function means it can be
//! tested exhaustively (every role × every action × own org / other org) and cannot drift
//! between transports.
//!
//! Tenant isolation comes first: a resource of another organization is always
//! [`Decision::NotFound`], never `Forbidden`, so a caller cannot even learn that it exists.

use boardroom_protocol::{PrincipalKind, Role};
use uuid::Uuid;

/// Who is asking: a logged-in user (in the context of one of their orgs), a bot's API key or a
/// customer's share link. Built by the server after authenticating a credential.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Principal {
    pub kind: PrincipalKind,
    /// User id, API key id or share link id, depending on `kind`.
    pub id: Uuid,
    pub org_id: Uuid,
    pub role: Role,
    /// API keys only: the boards the key is limited to (`None` = every board of the org).
    pub board_scope: Option<Vec<Uuid>>,
    /// Share links only: the one card the link shows.
    pub share_card: Option<Uuid>,
    /// Customer users only: the customer record they are, whose cards they may see.
    pub customer_id: Option<Uuid>,
}

impl Principal {
    pub fn user(id: Uuid, org_id: Uuid, role: Role) -> Self {
        Principal {
            kind: PrincipalKind::User,
            id,
            org_id,
            role,
            board_scope: None,
            share_card: None,
            customer_id: None,
        }
    }

    /// The user id behind this principal, when there is one (assignees, authors, mentions).
    pub fn user_id(&self) -> Option<Uuid> {
        (self.kind == PrincipalKind::User).then_some(self.id)
    }

    /// Owner, admin and member see and edit whole boards; workers and customers see a
    /// filtered view; share links see one card.
    pub fn has_full_view(&self) -> bool {
        self.kind != PrincipalKind::Share
            && matches!(self.role, Role::Owner | Role::Admin | Role::Member)
    }

    pub(crate) fn board_in_scope(&self, board_id: Uuid) -> bool {
        match &self.board_scope {
            None => true,
            Some(boards) => boards.contains(&board_id),
        }
    }
}

/// What a card looks like to the policy: just the facts that decide visibility.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CardFacts {
    pub card_id: Uuid,
    pub assignees: Vec<Uuid>,
    pub customer_id: Option<Uuid>,
}

/// What is being touched. Every variant names its organization so isolation is checked first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resource {
    Org {
        org_id: Uuid,
    },
    Board {
        org_id: Uuid,
        board_id: Uuid,
    },
    Card {
        org_id: Uuid,
        board_id: Uuid,
        card: CardFacts,
    },
}

impl Resource {
    pub fn org_id(&self) -> Uuid {
        match self {
            Resource::Org { org_id }
            | Resource::Board { org_id, .. }
            | Resource::Card { org_id, .. } => *org_id,
        }
    }

    fn board_id(&self) -> Option<Uuid> {
        match self {
            Resource::Org { .. } => None,
            Resource::Board { board_id, .. } | Resource::Card { board_id, .. } => Some(*board_id),
        }
    }
}

/// The classes of board ops that the role table of PROTOCOL.md distinguishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OpClass {
    /// `column.*`: the board's structure (statuses).
    Column,
    /// `card.create`.
    CardCreate,
    /// `card.update`, `card.assign`, `card.archive`, `checklist.add`, `checklist.remove`.
    CardEdit,
    /// `card.move`.
    CardMove,
    /// `checklist.toggle`.
    ChecklistToggle,
    /// `comment.add`.
    CommentAdd,
}

impl OpClass {
    pub const ALL: [OpClass; 6] = [
        OpClass::Column,
        OpClass::CardCreate,
        OpClass::CardEdit,
        OpClass::CardMove,
        OpClass::ChecklistToggle,
        OpClass::CommentAdd,
    ];
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read the org itself: its name, the boards list (filtered for workers and customers).
    ReadOrg,
    /// See the org's people: who is online (the `org:` topic) and the people list, which a
    /// customer never sees ("never sees ... other customers"), nor a key scoped to boards.
    ReadOrgPresence,
    /// List members, create members, deactivate members.
    ManageMembers,
    /// Give a member this role (creating them with it, or changing theirs).
    GrantRole(Role),
    /// Change the role of, or deactivate, a member who currently has this role.
    ModifyMemberWithRole(Role),
    ReadCustomers,
    ManageCustomers,
    CreateBoard,
    ArchiveBoard,
    /// Subscribe to a board or read its snapshot (filtered for workers and customers).
    ReadBoard,
    /// Read the raw event log of a board: full-view roles only, since it is unfiltered.
    ReadBoardEvents,
    /// See one card (its `card:` topic, a share link, a notification about it).
    ReadCard,
    ManageApiKeys,
    /// Register, change and inspect the org's outbound webhooks. Users only, like API keys:
    /// a webhook sends the org's whole event stream to a URL of its maker's choosing.
    ManageWebhooks,
    /// Create an API key with this role.
    IssueApiKey(Role),
    ManageShareLinks,
    /// Read and mark one's own notifications: users only.
    ReadNotifications,
    /// Apply a board op.
    Op(OpClass),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// The caller may see the resource but not do this: 403 `forbidden`.
    Forbidden,
    /// The caller may not even know the resource exists: 404 `not_found`.
    NotFound,
}

impl Decision {
    pub fn is_allowed(self) -> bool {
        self == Decision::Allow
    }
}

/// May `p` do `action` on `resource`?
pub fn decide(p: &Principal, action: Action, resource: &Resource) -> Decision {
    use Decision::*;
    if p.org_id != resource.org_id() {
        return NotFound;
    }
    if let Some(board_id) = resource.board_id() {
        if !p.board_in_scope(board_id) {
            return NotFound;
        }
    }
    if p.kind == PrincipalKind::Share {
        return decide_share(p, action, resource);
    }
    // A key limited to some boards acts on those boards and nothing org-wide: whoever scoped
    // it meant to hand out those boards, not the org's customers, members or new boards. It
    // may still read the org itself, whose boards list is filtered to its scope.
    if p.board_scope.is_some() && resource.board_id().is_none() && action != Action::ReadOrg {
        return Forbidden;
    }
    let staff = matches!(p.role, Role::Owner | Role::Admin);
    let editor = staff || p.role == Role::Member;
    let is_user = p.kind == PrincipalKind::User;
    let allow_if = |ok: bool| if ok { Allow } else { Forbidden };

    match action {
        Action::ReadOrg => Allow,
        Action::ReadOrgPresence => allow_if(p.role != Role::Customer),
        // An admin-role API key administers members as its role allows (PROTOCOL.md: "what
        // its role allows"). Keys and share links are attributed to the person who made
        // them, so only users issue those.
        Action::ManageMembers => allow_if(staff),
        Action::ManageApiKeys => allow_if(staff && is_user),
        Action::ManageWebhooks => allow_if(staff && is_user),
        Action::GrantRole(role) => allow_if(staff && can_hand_out(p.role, role)),
        Action::ModifyMemberWithRole(role) => {
            allow_if(staff && (p.role == Role::Owner || role != Role::Owner))
        }
        Action::IssueApiKey(role) => {
            allow_if(staff && is_user && role != Role::Owner && can_hand_out(p.role, role))
        }
        Action::ReadCustomers | Action::ManageCustomers => allow_if(editor),
        Action::CreateBoard | Action::ArchiveBoard => allow_if(editor),
        Action::ManageShareLinks => allow_if(editor && is_user),
        Action::ReadNotifications => allow_if(is_user),
        Action::ReadBoard => Allow,
        Action::ReadBoardEvents => allow_if(editor),
        Action::ReadCard => match resource {
            Resource::Card { card, .. } if !editor => visible_card(p, card),
            _ => Allow,
        },
        Action::Op(class) => {
            if editor {
                return Allow;
            }
            match (p.role, resource) {
                (Role::Worker, Resource::Card { card, .. }) => {
                    if visible_card(p, card) == NotFound {
                        NotFound
                    } else {
                        allow_if(matches!(
                            class,
                            OpClass::CardMove | OpClass::ChecklistToggle | OpClass::CommentAdd
                        ))
                    }
                }
                (Role::Customer, Resource::Card { card, .. }) => match visible_card(p, card) {
                    NotFound => NotFound,
                    _ => Forbidden,
                },
                _ => Forbidden,
            }
        }
    }
}

/// Share links are read-only windows on one card.
fn decide_share(p: &Principal, action: Action, resource: &Resource) -> Decision {
    match (action, resource) {
        (Action::ReadCard, Resource::Card { card, .. }) => visible_card(p, card),
        (Action::Op(_), Resource::Card { card, .. }) => match visible_card(p, card) {
            Decision::Allow => Decision::Forbidden,
            other => other,
        },
        _ => Decision::NotFound,
    }
}

/// Whether a filtered principal (worker, customer, share link) may see a card.
fn visible_card(p: &Principal, card: &CardFacts) -> Decision {
    let visible = match p.kind {
        PrincipalKind::Share => p.share_card == Some(card.card_id),
        _ => match p.role {
            Role::Owner | Role::Admin | Role::Member => true,
            Role::Worker => p.user_id().is_some_and(|u| card.assignees.contains(&u)),
            Role::Customer => p.customer_id.is_some() && card.customer_id == p.customer_id,
        },
    };
    if visible {
        Decision::Allow
    } else {
        Decision::NotFound
    }
}

/// Owners hand out any role; admins any role but owner. Nobody else hands out roles.
fn can_hand_out(granter: Role, role: Role) -> bool {
    match granter {
        Role::Owner => true,
        Role::Admin => role != Role::Owner,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
