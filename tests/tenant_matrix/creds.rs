//! The credentials of org 1 the matrix tries, and how a policy decision becomes the answer
//! one cell expects.

use super::*;

// ------------------------------------------------------------------------------------------
// Credentials
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Owner,
    Admin,
    Member,
    Worker,
    Customer,
    Share,
    Key,
    ScopedKey,
    ExpiredKey,
    RevokedKey,
    WorkerKey,
    CustomerKey,
}

pub(crate) const KINDS: [Kind; 12] = [
    Kind::Owner,
    Kind::Admin,
    Kind::Member,
    Kind::Worker,
    Kind::Customer,
    Kind::Share,
    Kind::Key,
    Kind::ScopedKey,
    Kind::ExpiredKey,
    Kind::RevokedKey,
    Kind::WorkerKey,
    Kind::CustomerKey,
];

pub(crate) struct Cred {
    pub(crate) kind: Kind,
    pub(crate) token: String,
    /// What the server makes of the credential in its own org (org 1).
    pub(crate) principal: Principal,
    /// False for the expired and revoked keys: refused before any policy question.
    pub(crate) authenticates: bool,
}

pub(crate) fn cred(w: &World, kind: Kind) -> Cred {
    let user = |m: &Member, role| {
        let token = m.api.token.clone().expect("token");
        (token, Principal::user(uuid_of(&json!(m.id)), w.id, role))
    };
    let key_as = |k: &(Uuid, String), role: Role, scope: Option<Vec<Uuid>>| {
        (
            k.1.clone(),
            Principal {
                kind: PrincipalKind::ApiKey,
                id: k.0,
                org_id: w.id,
                role,
                board_scope: scope,
                share_card: None,
                customer_id: None,
            },
        )
    };
    let (token, principal) = match kind {
        Kind::Owner => (
            w.owner.owner.token.clone().expect("token"),
            Principal::user(uuid_of(&json!(w.owner.owner_id)), w.id, Role::Owner),
        ),
        Kind::Admin => user(&w.admin, Role::Admin),
        Kind::Member => user(&w.member, Role::Member),
        Kind::Worker => user(&w.worker, Role::Worker),
        Kind::Customer => {
            let (t, mut p) = user(&w.customer_user, Role::Customer);
            p.customer_id = Some(w.customer);
            (t, p)
        }
        // As `SessionAuth` builds it: the link's board is its scope, its card what it shows.
        Kind::Share => (
            w.link_token.clone(),
            Principal {
                kind: PrincipalKind::Share,
                id: w.link_id,
                org_id: w.id,
                role: Role::Customer,
                board_scope: Some(vec![w.board_id]),
                share_card: Some(w.card),
                customer_id: None,
            },
        ),
        Kind::Key => key_as(&w.key, Role::Admin, None),
        Kind::ScopedKey => key_as(&w.scoped_key, Role::Admin, Some(vec![w.board_id])),
        Kind::ExpiredKey => key_as(&w.expired_key, Role::Admin, None),
        Kind::RevokedKey => key_as(&w.revoked_key, Role::Admin, None),
        Kind::WorkerKey => key_as(&w.worker_key, Role::Worker, None),
        Kind::CustomerKey => key_as(&w.customer_key, Role::Customer, None),
    };
    Cred {
        kind,
        token,
        principal,
        authenticates: !matches!(kind, Kind::ExpiredKey | Kind::RevokedKey),
    }
}

// ------------------------------------------------------------------------------------------
// Expected answers
// ------------------------------------------------------------------------------------------

/// The first refusal of a handler's checks, in the order it makes them.
pub(crate) fn first(ds: &[Decision]) -> Decision {
    ds.iter()
        .copied()
        .find(|d| *d != Decision::Allow)
        .unwrap_or(Decision::Allow)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    Success,
    Status(u16),
}

/// How a route learns who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Auth {
    /// Nobody needs to: the answer is the same for every credential.
    Public,
    /// `Caller`: an access JWT or an API key in `Authorization: Bearer`.
    Bearer,
    /// `SessionAuth`, as a WebSocket `hello`: JWT, API key or share token.
    Session,
}

pub(crate) fn want(c: &Cred, auth: Auth, d: Decision) -> Want {
    match auth {
        Auth::Public => return Want::Success,
        _ if !c.authenticates => return Want::Status(401),
        Auth::Bearer if c.kind == Kind::Share => return Want::Status(401),
        _ => {}
    }
    match d {
        Decision::Allow => Want::Success,
        Decision::Forbidden => Want::Status(403),
        Decision::NotFound => Want::Status(404),
    }
}

pub(crate) struct Cell {
    pub(crate) method: &'static str,
    pub(crate) path: String,
    pub(crate) body: Option<Value>,
    pub(crate) want: Want,
    /// The op id of an op this cell sends (refused ones must leave no event).
    pub(crate) op_id: Option<Uuid>,
    /// Run after every other cell (it archives the shared board).
    pub(crate) last: bool,
    /// What a create writes, as (table, column, unique value): present afterwards once if the
    /// cell was allowed, absent if refused.
    pub(crate) planted: Option<(&'static str, &'static str, String)>,
}

/// A GET without a body: one cell.
pub(crate) fn get(path: String, want: Want) -> Vec<Cell> {
    vec![cell("GET", path, None, want)]
}

/// A create cell whose `name` (or `email`, for users) is unique, so the row can be looked for.
pub(crate) fn create(
    path: String,
    table: &'static str,
    column: &'static str,
    value: String,
    body: Value,
    want: Want,
) -> Cell {
    let mut body = body;
    body[column] = json!(value);
    Cell {
        planted: Some((table, column, value)),
        ..cell("POST", path, Some(body), want)
    }
}

pub(crate) fn planted_name() -> String {
    format!("Planted {}", &Uuid::new_v4().simple().to_string()[..12])
}

pub(crate) fn cell(method: &'static str, path: String, body: Option<Value>, want: Want) -> Cell {
    Cell {
        method,
        path,
        body,
        want,
        op_id: None,
        last: false,
        planted: None,
    }
}
