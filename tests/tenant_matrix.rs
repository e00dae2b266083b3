//! Issue 14.3: the tenant matrix. Every HTTP route of the router's own table
//! (`boardroom::http::routes()`), every WebSocket client frame type and topic kind, for every
//! kind of credential of org 1 (owner, admin, member, worker, customer, share link, admin API
//! key with and without a board scope, expired key, revoked key, worker- and customer-role
//! keys), against org 1's board A, org 1's board B (outside the scoped key's scope and the
//! share link's board) and the same resources of org 2. One real server, one setup, one loop.
//!
//! The expected answer of each cell comes from the policy itself (`policy::decide`), not from
//! a second table written here: `NotFound` -> 404 / `not_found`, `Forbidden` -> 403 /
//! `forbidden`, `Allow` -> 2xx / `ok`. What the policy does not decide is a rule written next
//! to the case that uses it:
//! - a credential refused at authentication (expired, revoked key) gets 401 everywhere, and
//!   its WebSocket `hello` gets `unauthorized` and close 4001;
//! - a share token is not an HTTP credential (PROTOCOL.md: Bearer is a JWT or an API key): 401
//!   on every Bearer route; it works where a WebSocket `hello` token does (`/job`, `/stream`);
//! - user-only routes (`/me`, logout, notifications) use `Action::ReadNotifications` ("users
//!   only") on the caller's own org;
//! - the `/debug/...` routes are absent in production (this server): 404 for everyone;
//! - public routes (login, refresh, health, spec) answer the same whatever the credential;
//! - over the WebSocket: `presence.set` and `unsubscribe` on a topic the session is not
//!   subscribed to are `not_found`; one's own `user:` topic is a `conflict` (subscribed at
//!   `hello`); someone else's notification ids are ignored (see `unsubscribe_want` for what the
//!   session counts as subscribed). protocol/README.md §7 says the same.
//!
//! An allowed answer is also checked for what it shows (`leaks`): every listed board, every
//! card of a board snapshot and the card of a card snapshot must be one the policy lets the
//! caller see.
//!
//! A route of the table with no case here fails the test, and so does a client frame type
//! (`ClientFrame::TYPES`) with no case: nothing new can slip past the matrix. After the cells,
//! nothing the refusals aimed at has changed: org 2 as its owner sees it, its event log, its
//! worker's notification and refresh token; in org 1 the refused ops' ids are absent from the
//! event log, refused creates left no row (allowed ones exactly one), and every shared target
//! (member, customer, key, share link, boards) is as it was.

mod common;

use boardroom::http::{routes, Verb};
use boardroom_actors::policy::{decide, Action, CardFacts, Decision, OpClass, Principal, Resource};
use boardroom_protocol::{ClientFrame, Codec, PrincipalKind, Role, Topic};
use common::ws::{Closed, Ws};
use common::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use uuid::Uuid;

// ------------------------------------------------------------------------------------------
// The world: two orgs with one of everything
// ------------------------------------------------------------------------------------------

struct World {
    id: Uuid,
    owner: Org,
    admin: Member,
    member: Member,
    worker: Member,
    customer_user: Member,
    /// The customer record of `customer_user`.
    customer: Uuid,
    board_id: Uuid,
    /// On `board`, assigned to `worker`, the job of `customer`; the share link shows it.
    card: Uuid,
    /// On `board`, nobody's: invisible to the worker, the customer and the share link.
    hidden_card: Uuid,
    link_id: Uuid,
    link_token: String,
    /// Board B, outside the scoped key's scope and the share link's board, with its own card
    /// (also the worker's and the customer's) and a card of nobody's.
    board_b: Uuid,
    card_b: Uuid,
    hidden_card_b: Uuid,
    /// Admin-role keys: unscoped, scoped to `board`, expired, revoked.
    key: (Uuid, String),
    scoped_key: (Uuid, String),
    expired_key: (Uuid, String),
    revoked_key: (Uuid, String),
    /// Unscoped keys with the roles that see a filtered view.
    worker_key: (Uuid, String),
    customer_key: (Uuid, String),
    /// Targets of refused writes, checked unchanged at the end.
    victim_member: Uuid,
    victim_key: Uuid,
    /// The worker's notification (assigned to `card`).
    notification: Uuid,
    /// An (inactive) webhook of the org and a test delivery of it.
    webhook: Uuid,
    webhook_delivery: Uuid,
    /// A second login of the owner, whose family a refused logout must not end.
    spare_refresh: String,
}

fn uuid_of(v: &Value) -> Uuid {
    v.as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("not a uuid: {v}"))
}

async fn ok_post(api: &Api, path: &str, body: Value) -> Value {
    let (s, b) = api.post(path, body).await;
    assert!((200..300).contains(&s), "setup POST {path} -> {s} {b}");
    b
}

async fn sql_exec(db: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db).await.expect("connect");
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

fn op_body(kind: &str, data: Value) -> Value {
    json!({"op_id": Uuid::now_v7(), "kind": kind, "data": data})
}

async fn new_key(org: &Org, body: Value) -> (Uuid, String) {
    let k = ok_post(
        &org.owner,
        &format!("/api/v1/orgs/{}/api-keys", org.id),
        body,
    )
    .await;
    (
        uuid_of(&k["id"]),
        k["key"].as_str().expect("key").to_string(),
    )
}

async fn setup(server: &TestServer, name: &str) -> World {
    let owner = new_org(server, name).await;
    let org = owner.id.clone();
    let admin = add_member(server, &owner.owner, &org, "admin").await;
    let member = add_member(server, &owner.owner, &org, "member").await;
    let worker = add_member(server, &owner.owner, &org, "worker").await;
    let customer_user = add_member(server, &owner.owner, &org, "customer").await;
    let c = ok_post(
        &owner.owner,
        &format!("/api/v1/orgs/{org}/customers"),
        json!({"name": "Carla", "user_id": customer_user.id}),
    )
    .await;
    let customer = uuid_of(&c["id"]);
    let board = new_board(&owner, json!({"name": "Jobs", "template": "jobs"})).await;
    let board_id = uuid_of(&board["id"]);
    let column = board["columns"][0]["id"].clone();
    let ops = format!("/api/v1/boards/{board_id}/ops");
    let card = ok_post(
        &owner.owner,
        &ops,
        op_body(
            "card.create",
            json!({"column_id": column, "title": "Carla's boiler", "customer_id": customer}),
        ),
    )
    .await;
    let card = uuid_of(&card["id"]);
    ok_post(
        &owner.owner,
        &ops,
        op_body(
            "card.assign",
            json!({"card_id": card, "assignees": [worker.id]}),
        ),
    )
    .await;
    let hidden_card =
        Uuid::parse_str(&create_card(&owner.owner, &board, "Nobody's").await).expect("card id");
    let board_b = new_board(&owner, json!({"name": "Jobs B", "template": "jobs"})).await;
    let ops_b = format!("/api/v1/boards/{}/ops", board_b["id"].as_str().expect("id"));
    let card_b = ok_post(
        &owner.owner,
        &ops_b,
        op_body(
            "card.create",
            json!({"column_id": board_b["columns"][0]["id"], "title": "Carla's roof", "customer_id": customer, "assignees": [worker.id]}),
        ),
    )
    .await;
    let hidden_card_b = create_card(&owner.owner, &board_b, "Nobody's B").await;
    let link = ok_post(
        &owner.owner,
        &format!("/api/v1/cards/{card}/share-links"),
        json!({}),
    )
    .await;
    let admin_key = json!({"name": "bot", "role": "admin"});
    let key = new_key(&owner, admin_key.clone()).await;
    let scoped_key = new_key(
        &owner,
        json!({"name": "scoped bot", "role": "admin", "boards": [board_id]}),
    )
    .await;
    let expired_key = new_key(&owner, admin_key.clone()).await;
    let worker_key = new_key(&owner, json!({"name": "worker bot", "role": "worker"})).await;
    let customer_key = new_key(&owner, json!({"name": "customer bot", "role": "customer"})).await;
    sql_exec(
        &server.db_url,
        &format!(
            "UPDATE api_keys SET expires_at = now() - interval '1 day' WHERE id = '{}'",
            expired_key.0
        ),
    )
    .await;
    let revoked_key = new_key(&owner, admin_key.clone()).await;
    let (s, b) = owner
        .owner
        .delete(&format!("/api/v1/orgs/{org}/api-keys/{}", revoked_key.0))
        .await;
    assert_eq!(s, 204, "{b}");
    let victim = ok_post(
        &owner.owner,
        &format!("/api/v1/orgs/{org}/members"),
        json!({"email": unique_email("victim"), "name": "Victim", "password": PASSWORD, "role": "worker"}),
    )
    .await;
    let victim_key = new_key(&owner, admin_key).await;
    // The assignment's notification is written after the op's answer: wait for it.
    let deadline = Instant::now() + Duration::from_secs(10);
    let notification = loop {
        let (s, b) = worker.api.get("/api/v1/notifications").await;
        assert_eq!(s, 200, "{b}");
        if let Some(n) = b["notifications"].as_array().and_then(|a| a.first()) {
            break uuid_of(&n["id"]);
        }
        assert!(Instant::now() < deadline, "no notification for the worker");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let spare_refresh = login(&server.base, &owner.owner_email, PASSWORD)
        .await
        .refresh;
    let webhook = new_webhook(&owner).await;
    let test = ok_post(
        &owner.owner,
        &format!("/api/v1/orgs/{org}/webhooks/{webhook}/test"),
        json!({}),
    )
    .await;
    World {
        id: Uuid::parse_str(&org).expect("org id"),
        owner,
        admin,
        member,
        worker,
        customer_user,
        customer,
        board_id,
        card,
        hidden_card,
        link_id: uuid_of(&link["id"]),
        link_token: link["token"].as_str().expect("token").to_string(),
        board_b: uuid_of(&board_b["id"]),
        card_b: uuid_of(&card_b["id"]),
        hidden_card_b: uuid_of(&json!(hidden_card_b)),
        key,
        scoped_key,
        expired_key,
        revoked_key,
        worker_key,
        customer_key,
        victim_member: uuid_of(&victim["id"]),
        victim_key: victim_key.0,
        notification,
        spare_refresh,
        webhook,
        webhook_delivery: uuid_of(&test["id"]),
    }
}

/// An inactive webhook (nothing is ever sent) on a public address literal (no DNS needed).
async fn new_webhook(owner: &Org) -> Uuid {
    let w = ok_post(
        &owner.owner,
        &format!("/api/v1/orgs/{}/webhooks", owner.id),
        json!({"url": WEBHOOK_URL, "active": false}),
    )
    .await;
    uuid_of(&w["id"])
}

const WEBHOOK_URL: &str = "http://93.184.216.34/hook";

/// What one pass of the matrix aims at: a world, one of its boards with the two cards on it,
/// whether it is the credentials' own org, and whether org-level routes run in this pass (once
/// per org; the pass over org 1's board B repeats only the board-level ones).
struct Target<'a> {
    w: &'a World,
    board_id: Uuid,
    card: Uuid,
    hidden_card: Uuid,
    own: bool,
    org_level: bool,
}

impl std::ops::Deref for Target<'_> {
    type Target = World;
    fn deref(&self) -> &World {
        self.w
    }
}

impl World {
    fn target(&self, board_b: bool, own: bool) -> Target<'_> {
        Target {
            w: self,
            board_id: if board_b { self.board_b } else { self.board_id },
            card: if board_b { self.card_b } else { self.card },
            hidden_card: if board_b {
                self.hidden_card_b
            } else {
                self.hidden_card
            },
            own,
            org_level: !board_b,
        }
    }
}

impl Target<'_> {
    fn name(&self) -> &'static str {
        match (self.own, self.org_level) {
            (true, true) => "own org, board A",
            (true, false) => "own org, board B",
            _ => "other org",
        }
    }

    fn org_res(&self) -> Resource {
        Resource::Org { org_id: self.id }
    }

    fn board_res(&self) -> Resource {
        Resource::Board {
            org_id: self.id,
            board_id: self.board_id,
        }
    }

    fn card_res(&self) -> Resource {
        Resource::Card {
            org_id: self.id,
            board_id: self.board_id,
            card: CardFacts {
                card_id: self.card,
                assignees: vec![uuid_of(&json!(self.worker.id))],
                customer_id: Some(self.customer),
            },
        }
    }

    fn hidden_card_res(&self) -> Resource {
        Resource::Card {
            org_id: self.id,
            board_id: self.board_id,
            card: CardFacts {
                card_id: self.hidden_card,
                assignees: vec![],
                customer_id: None,
            },
        }
    }
}

// ------------------------------------------------------------------------------------------
// Credentials
// ------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
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

const KINDS: [Kind; 12] = [
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

struct Cred {
    kind: Kind,
    token: String,
    /// What the server makes of the credential in its own org (org 1).
    principal: Principal,
    /// False for the expired and revoked keys: refused before any policy question.
    authenticates: bool,
}

fn cred(w: &World, kind: Kind) -> Cred {
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
fn first(ds: &[Decision]) -> Decision {
    ds.iter()
        .copied()
        .find(|d| *d != Decision::Allow)
        .unwrap_or(Decision::Allow)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    Success,
    Status(u16),
}

/// How a route learns who is calling.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// Nobody needs to: the answer is the same for every credential.
    Public,
    /// `Caller`: an access JWT or an API key in `Authorization: Bearer`.
    Bearer,
    /// `SessionAuth`, as a WebSocket `hello`: JWT, API key or share token.
    Session,
}

fn want(c: &Cred, auth: Auth, d: Decision) -> Want {
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

struct Cell {
    method: &'static str,
    path: String,
    body: Option<Value>,
    want: Want,
    /// The op id of an op this cell sends (refused ones must leave no event).
    op_id: Option<Uuid>,
    /// Run after every other cell (it archives the shared board).
    last: bool,
    /// What a create writes, as (table, column, unique value): present afterwards once if the
    /// cell was allowed, absent if refused.
    planted: Option<(&'static str, &'static str, String)>,
}

/// A GET without a body: one cell.
fn get(path: String, want: Want) -> Vec<Cell> {
    vec![cell("GET", path, None, want)]
}

/// A create cell whose `name` (or `email`, for users) is unique, so the row can be looked for.
fn create(
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

fn planted_name() -> String {
    format!("Planted {}", &Uuid::new_v4().simple().to_string()[..12])
}

fn cell(method: &'static str, path: String, body: Option<Value>, want: Want) -> Cell {
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

// ------------------------------------------------------------------------------------------
// The HTTP case table
// ------------------------------------------------------------------------------------------

/// The cells of one route for one credential against world `t`, or `None` when the route is
/// not in this table. Routes that name no org's resource (public, user-only) are checked once,
/// in the first pass over the credential's own org.
async fn http_cells(
    verb: Verb,
    path: &str,
    c: &Cred,
    t: &Target<'_>,
    server: &TestServer,
) -> Option<Vec<Cell>> {
    use Verb::{Delete, Get, Patch, Post, Put};
    let own = t.own;
    let board_level = path.contains("{board}")
        || path.contains("{card}")
        || path == "/api/v1/job"
        || path == "/api/v1/stream";
    if !t.org_level && !board_level {
        return Some(Vec::new());
    }
    let p = &c.principal;
    let o = t.id;
    let org = t.org_res();
    let board = t.board_res();
    let card = t.card_res();
    // Card routes run on both cards: the worker's and customer's own, and nobody's (which
    // those two and the share link may not even see).
    let cards = [(t.card, t.card_res()), (t.hidden_card, t.hidden_card_res())];
    // User-only routes: the "users only" action, on the caller's own org.
    let users_only = decide(
        p,
        Action::ReadNotifications,
        &Resource::Org { org_id: p.org_id },
    );
    let bearer = |d: Decision| want(c, Auth::Bearer, d);
    let once = |cells: Vec<Cell>| if own { cells } else { Vec::new() };
    let cells = match (verb, path) {
        (Post, "/api/v1/auth/login") => once(vec![cell(
            "POST",
            "/api/v1/auth/login".into(),
            Some(json!({"email": t.worker.email, "password": PASSWORD})),
            want(c, Auth::Public, Decision::Allow),
        )]),
        (Post, "/api/v1/auth/refresh") => {
            if own {
                let fresh = login(&server.base, &t.worker.email, PASSWORD).await.refresh;
                vec![cell(
                    "POST",
                    "/api/v1/auth/refresh".into(),
                    Some(json!({"refresh_token": fresh})),
                    want(c, Auth::Public, Decision::Allow),
                )]
            } else {
                Vec::new()
            }
        }
        // Someone else's refresh token (org 2's owner's spare login): answered 204 like an
        // unknown token, and that login must live on (checked at the end).
        (Post, "/api/v1/auth/logout") => vec![cell(
            "POST",
            "/api/v1/auth/logout".into(),
            Some(
                json!({"refresh_token": if own { "brr_not_a_real_token".to_string() } else { t.spare_refresh.clone() }}),
            ),
            bearer(users_only),
        )],
        (Get, "/api/v1/me") => once(vec![cell(
            "GET",
            "/api/v1/me".into(),
            None,
            bearer(users_only),
        )]),
        (Post, "/api/v1/orgs/{org}/members") => vec![create(
            format!("/api/v1/orgs/{o}/members"),
            "users",
            "email",
            unique_email("planted"),
            json!({"name": "New", "password": PASSWORD, "role": "worker"}),
            bearer(first(&[
                decide(p, Action::ManageMembers, &org),
                decide(p, Action::GrantRole(Role::Worker), &org),
            ])),
        )],
        (Get, "/api/v1/orgs/{org}/members") => get(
            format!("/api/v1/orgs/{o}/members"),
            bearer(decide(p, Action::ManageMembers, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}/members/{user}")
        | (Delete, "/api/v1/orgs/{org}/members/{user}") => {
            let patch = verb == Patch;
            let mut ds = vec![
                decide(p, Action::ManageMembers, &org),
                decide(p, Action::ModifyMemberWithRole(Role::Worker), &org),
            ];
            if patch {
                ds.push(decide(p, Action::GrantRole(Role::Member), &org));
            }
            let w = bearer(first(&ds));
            // An allowed change gets a worker of its own; refusals all aim at the shared one.
            let target = if w == Want::Success {
                let v = ok_post(
                    &t.owner.owner,
                    &format!("/api/v1/orgs/{o}/members"),
                    json!({"email": unique_email("target"), "name": "Target", "password": PASSWORD, "role": "worker"}),
                )
                .await;
                uuid_of(&v["id"])
            } else {
                t.victim_member
            };
            let path = format!("/api/v1/orgs/{o}/members/{target}");
            if patch {
                vec![cell("PATCH", path, Some(json!({"role": "member"})), w)]
            } else {
                vec![cell("DELETE", path, None, w)]
            }
        }
        (Post, "/api/v1/orgs/{org}/customers") => vec![create(
            format!("/api/v1/orgs/{o}/customers"),
            "customers",
            "name",
            planted_name(),
            json!({}),
            bearer(decide(p, Action::ManageCustomers, &org)),
        )],
        (Get, "/api/v1/orgs/{org}/customers") => get(
            format!("/api/v1/orgs/{o}/customers"),
            bearer(decide(p, Action::ReadCustomers, &org)),
        ),
        (Get, "/api/v1/orgs/{org}/customers/{id}") => get(
            format!("/api/v1/orgs/{o}/customers/{}", t.customer),
            bearer(decide(p, Action::ReadCustomers, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}/customers/{id}")
        | (Delete, "/api/v1/orgs/{org}/customers/{id}") => {
            let w = bearer(decide(p, Action::ManageCustomers, &org));
            let target = if w == Want::Success {
                let v = ok_post(
                    &t.owner.owner,
                    &format!("/api/v1/orgs/{o}/customers"),
                    json!({"name": "Target"}),
                )
                .await;
                uuid_of(&v["id"])
            } else {
                t.customer
            };
            let path = format!("/api/v1/orgs/{o}/customers/{target}");
            if verb == Patch {
                vec![cell("PATCH", path, Some(json!({"name": "Renamed"})), w)]
            } else {
                vec![cell("DELETE", path, None, w)]
            }
        }
        (Get, "/api/v1/orgs/{org}/people") => {
            let d = decide(p, Action::ReadOrgPresence, &org);
            vec![cell(
                "GET",
                format!("/api/v1/orgs/{o}/people"),
                None,
                bearer(d),
            )]
        }
        (Post, "/api/v1/orgs/{org}/boards") => vec![create(
            format!("/api/v1/orgs/{o}/boards"),
            "boards",
            "name",
            planted_name(),
            json!({}),
            bearer(decide(p, Action::CreateBoard, &org)),
        )],
        (Get, "/api/v1/orgs/{org}/boards") => get(
            format!("/api/v1/orgs/{o}/boards"),
            bearer(decide(p, Action::ReadOrg, &org)),
        ),
        (Post, "/api/v1/boards/{board}/archive") => {
            let w = bearer(decide(p, Action::ArchiveBoard, &board));
            // An allowed archive takes a board of its own, except for the scoped key, whose
            // only board is the shared one: that cell runs last.
            let (target, last) = match (w, &p.board_scope) {
                (Want::Success, None) => {
                    let b = new_board(&t.owner, json!({"name": "To archive"})).await;
                    (uuid_of(&b["id"]), false)
                }
                (Want::Success, Some(_)) => (t.board_id, true),
                _ => (t.board_id, false),
            };
            vec![Cell {
                last,
                ..cell(
                    "POST",
                    format!("/api/v1/boards/{target}/archive"),
                    Some(json!({})),
                    w,
                )
            }]
        }
        (Post, "/api/v1/orgs/{org}/api-keys") => vec![create(
            format!("/api/v1/orgs/{o}/api-keys"),
            "api_keys",
            "name",
            planted_name(),
            json!({"role": "member"}),
            bearer(first(&[
                decide(p, Action::ManageApiKeys, &org),
                decide(p, Action::IssueApiKey(Role::Member), &org),
            ])),
        )],
        (Get, "/api/v1/orgs/{org}/audit") => get(
            format!("/api/v1/orgs/{o}/audit"),
            bearer(decide(p, Action::ManageMembers, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}") => vec![cell(
            "PATCH",
            format!("/api/v1/orgs/{o}"),
            Some(json!({"name": "Renamed org"})),
            bearer(decide(p, Action::ManageMembers, &org)),
        )],
        // The unfiltered history: the raw event log's readers, on both cards.
        (Get, "/api/v1/boards/{board}/cards/{card}/history") => cards
            .iter()
            .map(|(id, _)| {
                cell(
                    "GET",
                    format!("/api/v1/boards/{}/cards/{id}/history", t.board_id),
                    None,
                    bearer(decide(p, Action::ReadBoardEvents, &board)),
                )
            })
            .collect(),
        (Get, "/api/v1/orgs/{org}/api-keys") => get(
            format!("/api/v1/orgs/{o}/api-keys"),
            bearer(decide(p, Action::ManageApiKeys, &org)),
        ),
        (Delete, "/api/v1/orgs/{org}/api-keys/{id}") => {
            let w = bearer(decide(p, Action::ManageApiKeys, &org));
            let target = if w == Want::Success {
                new_key(&t.owner, json!({"name": "target", "role": "member"}))
                    .await
                    .0
            } else {
                t.victim_key
            };
            vec![cell(
                "DELETE",
                format!("/api/v1/orgs/{o}/api-keys/{target}"),
                None,
                w,
            )]
        }
        (Post, "/api/v1/orgs/{org}/webhooks") => vec![create(
            format!("/api/v1/orgs/{o}/webhooks"),
            "webhooks",
            "description",
            planted_name(),
            json!({"url": WEBHOOK_URL, "active": false}),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        )],
        (Get, "/api/v1/orgs/{org}/webhooks") => get(
            format!("/api/v1/orgs/{o}/webhooks"),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        ),
        (Get, "/api/v1/orgs/{org}/webhooks/{id}") => get(
            format!("/api/v1/orgs/{o}/webhooks/{}", t.webhook),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        ),
        (Get, "/api/v1/orgs/{org}/webhooks/{id}/deliveries") => get(
            format!("/api/v1/orgs/{o}/webhooks/{}/deliveries", t.webhook),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        ),
        (Patch, "/api/v1/orgs/{org}/webhooks/{id}") => vec![cell(
            "PATCH",
            format!("/api/v1/orgs/{o}/webhooks/{}", t.webhook),
            Some(json!({"description": "changed"})),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        )],
        (Post, "/api/v1/orgs/{org}/webhooks/{id}/rotate-secret")
        | (Post, "/api/v1/orgs/{org}/webhooks/{id}/test") => vec![cell(
            "POST",
            path.replace("{org}", &o.to_string())
                .replace("{id}", &t.webhook.to_string()),
            Some(json!({})),
            bearer(decide(p, Action::ManageWebhooks, &org)),
        )],
        (Post, "/api/v1/orgs/{org}/webhooks/{id}/deliveries/{delivery}/redeliver") => {
            vec![cell(
                "POST",
                format!(
                    "/api/v1/orgs/{o}/webhooks/{}/deliveries/{}/redeliver",
                    t.webhook, t.webhook_delivery
                ),
                Some(json!({})),
                bearer(decide(p, Action::ManageWebhooks, &org)),
            )]
        }
        (Delete, "/api/v1/orgs/{org}/webhooks/{id}") => {
            let w = bearer(decide(p, Action::ManageWebhooks, &org));
            // An allowed delete takes a webhook of its own; refusals aim at the shared one.
            let target = if w == Want::Success {
                new_webhook(&t.owner).await
            } else {
                t.webhook
            };
            vec![cell(
                "DELETE",
                format!("/api/v1/orgs/{o}/webhooks/{target}"),
                None,
                w,
            )]
        }
        // A card the caller may not see is not found, before whether they may share it.
        (Post, "/api/v1/cards/{card}/share-links") => cards
            .iter()
            .map(|(id, card)| {
                let d = match decide(p, Action::ReadCard, card) {
                    Decision::Allow => decide(p, Action::ManageShareLinks, card),
                    _ => Decision::NotFound,
                };
                cell(
                    "POST",
                    format!("/api/v1/cards/{id}/share-links"),
                    Some(json!({})),
                    bearer(d),
                )
            })
            .collect(),
        (Get, "/api/v1/orgs/{org}/share-links") => get(
            format!("/api/v1/orgs/{o}/share-links"),
            bearer(decide(p, Action::ManageShareLinks, &org)),
        ),
        (Delete, "/api/v1/share-links/{id}") => {
            let w = bearer(decide(p, Action::ManageShareLinks, &card));
            let target = if w == Want::Success {
                let l = ok_post(
                    &t.owner.owner,
                    &format!("/api/v1/cards/{}/share-links", t.card),
                    json!({}),
                )
                .await;
                uuid_of(&l["id"])
            } else {
                t.link_id
            };
            vec![cell(
                "DELETE",
                format!("/api/v1/share-links/{target}"),
                None,
                w,
            )]
        }
        // The job page's card; a card the caller may not see is not found.
        (Get, "/api/v1/job") => cards
            .iter()
            .map(|(id, card)| {
                cell(
                    "GET",
                    format!("/api/v1/job?card={id}"),
                    None,
                    want(
                        c,
                        Auth::Session,
                        match decide(p, Action::ReadCard, card) {
                            Decision::Allow => Decision::Allow,
                            _ => Decision::NotFound,
                        },
                    ),
                )
            })
            .collect(),
        (Get, "/api/v1/boards/{board}") => get(
            format!("/api/v1/boards/{}", t.board_id),
            bearer(decide(p, Action::ReadBoard, &board)),
        ),
        // The card search reads what the board snapshot shows the caller.
        (Get, "/api/v1/boards/{board}/cards") => get(
            format!("/api/v1/boards/{}/cards?q=matrix", t.board_id),
            bearer(decide(p, Action::ReadBoard, &board)),
        ),
        // Two ops: one on a card (the worker's, the customer's job) and one on the board.
        (Post, "/api/v1/boards/{board}/ops") => {
            let path = format!("/api/v1/boards/{}/ops", t.board_id);
            let mut ops: Vec<Cell> = cards
                .iter()
                .map(|(id, card)| {
                    let comment = Uuid::now_v7();
                    Cell {
                        op_id: Some(comment),
                        ..cell(
                            "POST",
                            path.clone(),
                            Some(
                                json!({"op_id": comment, "kind": "comment.add", "data": {"card_id": id, "body": "matrix"}}),
                            ),
                            bearer(decide(p, Action::Op(OpClass::CommentAdd), card)),
                        )
                    }
                })
                .collect();
            let column = Uuid::now_v7();
            ops.push(Cell {
                    op_id: Some(column),
                    ..cell(
                        "POST",
                        path,
                        Some(
                            json!({"op_id": column, "kind": "column.create", "data": {"name": "Matrix", "after": null}}),
                        ),
                    bearer(decide(p, Action::Op(OpClass::Column), &board)),
                )
            });
            ops
        }
        (Get, "/api/v1/boards/{board}/events") => get(
            format!("/api/v1/boards/{}/events", t.board_id),
            bearer(decide(p, Action::ReadBoardEvents, &board)),
        ),
        // Not routed in production (this server): the fallback's 404 for every caller.
        (Post, "/api/v1/boards/{board}/debug/panic") => vec![cell(
            "POST",
            format!("/api/v1/boards/{}/debug/panic", t.board_id),
            Some(json!({})),
            Want::Status(404),
        )],
        (Post, "/api/v1/debug/sessions/panic") => once(vec![cell(
            "POST",
            "/api/v1/debug/sessions/panic".into(),
            Some(json!({})),
            Want::Status(404),
        )]),
        (Get, "/api/v1/notifications") => once(vec![cell(
            "GET",
            "/api/v1/notifications".into(),
            None,
            bearer(users_only),
        )]),
        // Ids of someone else's notification (org 2's worker, or org 1's for anyone but the
        // worker) are ignored like unknown ids: 200, and that notification stays unread.
        (Post, "/api/v1/notifications/read") => vec![cell(
            "POST",
            "/api/v1/notifications/read".into(),
            Some(json!({"ids": [t.notification]})),
            bearer(users_only),
        )],
        // A member's own preferences in the target org: users only, members of that org only.
        // The PUT turns every kind on again, so the world's notifications are unaffected.
        (Get, "/api/v1/orgs/{org}/me/notification-preferences") => get(
            format!("/api/v1/orgs/{o}/me/notification-preferences"),
            bearer(decide(p, Action::ReadNotifications, &org)),
        ),
        (Put, "/api/v1/orgs/{org}/me/notification-preferences") => vec![cell(
            "PUT",
            format!("/api/v1/orgs/{o}/me/notification-preferences"),
            Some(json!({"kinds": ["card.assigned", "mention", "job.status"], "muted_boards": []})),
            bearer(decide(p, Action::ReadNotifications, &org)),
        )],
        (Get, "/api/v1/stream") => {
            let mut cells: Vec<Cell> = cards
                .iter()
                .map(|(id, card)| {
                    cell(
                        "STREAM",
                        format!("/api/v1/stream?topic=card:{id}&token={}", c.token),
                        None,
                        want(c, Auth::Session, decide(p, Action::ReadCard, card)),
                    )
                })
                .collect();
            cells.push(cell(
                "STREAM",
                format!(
                    "/api/v1/stream?topic=board:{}&token={}",
                    t.board_id, c.token
                ),
                None,
                want(c, Auth::Session, decide(p, Action::ReadBoard, &board)),
            ));
            cells
        }
        (Get, "/api/v1/openapi.json")
        | (Get, "/api/v1/docs")
        | (Get, "/healthz")
        | (Get, "/readyz")
        | (Get, "/metrics") => once(vec![cell(
            "GET",
            path.to_string(),
            None,
            want(c, Auth::Public, Decision::Allow),
        )]),
        // The WebSocket matrix below covers it frame by frame.
        (Get, "/ws") => Vec::new(),
        _ => return None,
    };
    Some(cells)
}

async fn run_cell(server: &TestServer, c: &Cred, x: &Cell) -> (u16, Value) {
    let api = server.api().with_token(&c.token);
    if x.method == "STREAM" {
        // An event stream never ends: the status and the first bytes are the answer.
        let res = api
            .request("GET", &x.path)
            .send()
            .await
            .expect("stream request");
        let status = res.status().as_u16();
        if status == 200 {
            return (status, Value::Null);
        }
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        return (status, body);
    }
    api.send(x.method, &x.path, x.body.clone()).await.pair()
}

fn check(got: &(u16, Value), want: Want, label: &str, failures: &mut Vec<String>) {
    let (s, body) = got;
    let ok = match want {
        Want::Success => (200..300).contains(s),
        Want::Status(w) => {
            let code = match w {
                401 => "unauthorized",
                403 => "forbidden",
                404 => "not_found",
                _ => "",
            };
            *s == w && body["error"]["code"] == json!(code)
        }
    };
    if !ok {
        failures.push(format!("{label}: want {want:?}, got {s} {body}"));
    }
}

/// What an allowed answer shows that the policy says the caller may not see: a board list's
/// boards (`ReadBoard`, and never another org's), a board snapshot's cards and a card
/// snapshot's card (`ReadCard`, judged on the assignees and customer the answer itself gives).
fn leaks(p: &Principal, answer: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let v = answer.get("snapshot").unwrap_or(answer);
    let see_card = |org_id: &Value, board_id: &Value, card: &Value| {
        let facts = CardFacts {
            card_id: uuid_of(&card["id"]),
            assignees: card["assignees"]
                .as_array()
                .map(|a| a.iter().map(uuid_of).collect())
                .unwrap_or_default(),
            customer_id: card["customer_id"].as_str().and_then(|c| c.parse().ok()),
        };
        let res = Resource::Card {
            org_id: uuid_of(org_id),
            board_id: uuid_of(board_id),
            card: facts,
        };
        decide(p, Action::ReadCard, &res).is_allowed()
    };
    if let Some(boards) = v["boards"].as_array() {
        for b in boards {
            let res = Resource::Board {
                org_id: uuid_of(&b["org_id"]),
                board_id: uuid_of(&b["id"]),
            };
            if !decide(p, Action::ReadBoard, &res).is_allowed() {
                out.push(format!("board {} listed", b["id"]));
            }
        }
    }
    if let Some(cards) = v["cards"].as_array() {
        for c in cards {
            if !see_card(&v["org_id"], &v["id"], c) {
                out.push(format!("card {} in the snapshot", c["id"]));
            }
        }
    }
    if v["card"].is_object() && v["board_id"].is_string() {
        // A card snapshot names its board, not its org: the caller's own (another org's
        // would not have been answered at all).
        if !see_card(&json!(p.org_id), &v["board_id"], &v["card"]) {
            out.push(format!("card {} shown", v["card"]["id"]));
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// The WebSocket case table
// ------------------------------------------------------------------------------------------

fn ws_want(d: Decision) -> &'static str {
    match d {
        Decision::Allow => "ok",
        Decision::Forbidden => "forbidden",
        Decision::NotFound => "not_found",
    }
}

/// The expected answer to subscribing to `topic` of world `t`.
fn subscribe_want(p: &Principal, topic: &Topic, t: &Target<'_>) -> &'static str {
    match topic {
        Topic::Org(_) => ws_want(decide(p, Action::ReadOrgPresence, &t.org_res())),
        Topic::Board(_) => ws_want(decide(p, Action::ReadBoard, &t.board_res())),
        Topic::Card(id) if *id == t.card => ws_want(decide(p, Action::ReadCard, &t.card_res())),
        Topic::Card(_) => ws_want(decide(p, Action::ReadCard, &t.hidden_card_res())),
        // Only one's own user topic, which the session is subscribed to at `hello` (so asking
        // again is a conflict); anyone else's is not found.
        Topic::User(id) if p.user_id() == Some(*id) => "conflict",
        Topic::User(_) => "not_found",
    }
}

/// The expected answer to unsubscribing from `topic` after the subscribe above. The session
/// answers from its own record of what it asked for: a board or card topic of its own org is
/// on record once the board took the request, even when the board then refused it (the
/// refusal goes straight to the client), so leaving it is `ok`; a topic refused before that
/// (another org's, an org topic it may not read, someone else's user topic) is not found.
fn unsubscribe_want(p: &Principal, topic: &Topic, t: &Target<'_>) -> &'static str {
    let on_record = match topic {
        Topic::Board(_) | Topic::Card(_) => p.org_id == t.id,
        Topic::Org(_) => subscribe_want(p, topic, t) == "ok",
        Topic::User(id) => p.user_id() == Some(*id),
    };
    if on_record {
        "ok"
    } else {
        "not_found"
    }
}

/// Sends `frame` (a JSON object without `ref`) with a fresh ref and returns the `ok` or
/// `error` that answers it; events and presence in between are skipped.
async fn ask(ws: &mut Ws, next_ref: &mut i64, mut frame: Value) -> Value {
    *next_ref += 1;
    let r = *next_ref;
    frame["ref"] = json!(r);
    ws.send_json(frame).await;
    loop {
        let f = ws.recv().await;
        let v = serde_json::to_value(&f).expect("frame as json");
        if v["ref"] == json!(r) && (v["type"] == "ok" || v["type"] == "error") {
            return v;
        }
    }
}

fn answer_code(v: &Value) -> String {
    match v["type"].as_str() {
        Some("ok") => "ok".into(),
        _ => v["code"].as_str().unwrap_or("?").to_string(),
    }
}

/// The frames one credential sends against world `t`: (label, frame, expected answer), in
/// order. Every client frame type has a case; a new one without a case fails the test.
fn ws_cases(c: &Cred, t: &Target<'_>, other_token: &str) -> Vec<(String, Value, String)> {
    let p = &c.principal;
    let mut out: Vec<(String, Value, String)> = Vec::new();
    let mut topics = vec![
        Topic::Board(t.board_id),
        Topic::Card(t.card),
        Topic::Card(t.hidden_card),
    ];
    if t.org_level {
        topics.push(Topic::Org(t.id));
        topics.push(Topic::User(uuid_of(&json!(t.owner.owner_id))));
    }
    for ty in ClientFrame::TYPES {
        // Frames that name no board are sent once per org.
        if !t.org_level && matches!(ty, "hello" | "auth" | "notifications.read") {
            continue;
        }
        match ty {
            // Both are answered by the session's identity, not by a resource: `hello` is the
            // handshake (checked when connecting); a second one is a bad request.
            "hello" => out.push((
                "hello again".into(),
                json!({"type": "hello", "token": c.token}),
                "bad_request".into(),
            )),
            // Renewing with someone else's token: forbidden whichever org they are in.
            "auth" => out.push((
                "auth as someone else".into(),
                json!({"type": "auth", "token": other_token}),
                "forbidden".into(),
            )),
            // Answered `pong` whoever asks; checked once per session, after `hello`.
            "ping" => {}
            // Sent right after each board subscription (see "subscribe"), which it rides on.
            "presence.set" => {}
            "subscribe" => {
                for topic in &topics {
                    let w = subscribe_want(p, topic, t);
                    out.push((
                        format!("subscribe {topic}"),
                        json!({"type": "subscribe", "topic": topic.to_string()}),
                        w.into(),
                    ));
                    // Presence rides on a board subscription: without one (refused) it is
                    // not found, like any topic the session may not see.
                    if matches!(topic, Topic::Board(_)) {
                        out.push((
                            format!("presence.set {topic}"),
                            json!({"type": "presence.set", "topic": topic.to_string(), "state": {"focus": null, "editing": false}}),
                            if w == "ok" { "ok" } else { "not_found" }.into(),
                        ));
                    }
                }
            }
            "unsubscribe" => {
                for topic in &topics {
                    out.push((
                        format!("unsubscribe {topic}"),
                        json!({"type": "unsubscribe", "topic": topic.to_string()}),
                        unsubscribe_want(p, topic, t).into(),
                    ));
                }
            }
            "op" => {
                let topic = format!("board:{}", t.board_id);
                out.push((
                    "op comment.add".into(),
                    json!({"type": "op", "topic": topic, "op_id": Uuid::now_v7(), "kind": "comment.add", "data": {"card_id": t.card, "body": "ws matrix"}}),
                    ws_want(decide(p, Action::Op(OpClass::CommentAdd), &t.card_res())).into(),
                ));
                out.push((
                    "op column.create".into(),
                    json!({"type": "op", "topic": topic, "op_id": Uuid::now_v7(), "kind": "column.create", "data": {"name": "WS", "after": null}}),
                    ws_want(decide(p, Action::Op(OpClass::Column), &t.board_res())).into(),
                ));
            }
            // Users only; someone else's ids are ignored (the answer is the caller's count).
            "notifications.read" => out.push((
                "notifications.read".into(),
                json!({"type": "notifications.read", "ids": [t.notification]}),
                ws_want(decide(
                    p,
                    Action::ReadNotifications,
                    &Resource::Org { org_id: p.org_id },
                ))
                .into(),
            )),
            other => panic!("client frame type {other:?} has no case in the tenant matrix"),
        }
    }
    out
}

// ------------------------------------------------------------------------------------------
// What must not have changed
// ------------------------------------------------------------------------------------------

/// Everything of `w` its owner can list, and its event log's length.
async fn state_of(server: &TestServer, w: &World) -> Value {
    let mut all = serde_json::Map::new();
    for what in ["members", "customers", "boards", "api-keys", "share-links"] {
        let (s, body) = w
            .owner
            .owner
            .get(&format!("/api/v1/orgs/{}/{what}", w.id))
            .await;
        assert_eq!(s, 200, "{what}: {body}");
        all.insert(what.into(), body);
    }
    let (s, snap) = w
        .owner
        .owner
        .get(&format!("/api/v1/boards/{}", w.board_id))
        .await;
    assert_eq!(s, 200, "{snap}");
    all.insert("board".into(), snap);
    let events = sql_count(
        &server.db_url,
        &format!(
            "SELECT count(*) FROM board_events WHERE board_id = '{}'",
            w.board_id
        ),
    )
    .await;
    all.insert("events".into(), json!(events));
    let (s, n) = w.worker.api.get("/api/v1/notifications").await;
    assert_eq!(s, 200, "{n}");
    all.insert("notifications".into(), n);
    Value::Object(all)
}

// ------------------------------------------------------------------------------------------
// The test
// ------------------------------------------------------------------------------------------

#[tokio::test]
async fn every_route_frame_and_credential_answers_as_the_policy_says() {
    let started = Instant::now();
    let db = fresh_pg_url().await;
    // Many logins of the same few accounts from one address: not what the limits are about.
    let server = TestServer::start(
        &db,
        &[
            (
                "BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_ACCOUNT_IP_PER_MINUTE",
                "1000",
            ),
            ("BOARDROOM_AUTH__LOGIN_ATTEMPTS_PER_IP_PER_MINUTE", "1000"),
        ],
    )
    .await;
    let one = setup(&server, "Org One").await;
    let two = setup(&server, "Org Two").await;
    let two_before = state_of(&server, &two).await;
    let mut failures = Vec::new();
    let mut refused_ops = Vec::new();
    let mut allowed_ops = Vec::new();
    let mut last = Vec::new();
    let mut cells_run = 0usize;
    let mut planted = Vec::new();

    // HTTP: every route of the router's table.
    let table = routes();
    let mut missing = Vec::new();
    for kind in KINDS {
        let c = cred(&one, kind);
        for t in [
            one.target(false, true),
            one.target(true, true),
            two.target(false, false),
        ] {
            let own = t.own;
            for r in &table {
                let Some(cells) = http_cells(r.verb, r.path, &c, &t, &server).await else {
                    if kind == Kind::Owner && own && t.org_level {
                        missing.push(format!("{} {}", r.verb.as_str(), r.path));
                    }
                    continue;
                };
                for x in cells {
                    if x.last {
                        last.push((kind, x));
                        continue;
                    }
                    let label = format!("{kind:?} on {}: {} {}", t.name(), x.method, x.path);
                    let got = run_cell(&server, &c, &x).await;
                    cells_run += 1;
                    check(&got, x.want, &label, &mut failures);
                    for leak in leaks(&c.principal, &got.1) {
                        failures.push(format!("{label}: {leak}, which the policy hides"));
                    }
                    if let Some(id) = x.op_id {
                        if x.want == Want::Success {
                            allowed_ops.push(id);
                        } else {
                            refused_ops.push(id);
                        }
                    }
                    if let Some(row) = x.planted {
                        planted.push((label, row, x.want == Want::Success));
                    }
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "routes of boardroom::http::routes() with no case in the tenant matrix: {missing:?}"
    );

    // WebSocket: every client frame type and topic kind.
    let other_token = two.owner.owner.token.clone().expect("token");
    for kind in KINDS {
        let c = cred(&one, kind);
        let mut ws = Ws::connect(&server.base, Codec::Json).await;
        ws.send_json(json!({"type": "hello", "token": c.token}))
            .await;
        let first_frame = serde_json::to_value(ws.recv().await).expect("json");
        if !c.authenticates {
            cells_run += 1;
            if first_frame["type"] != "error" || first_frame["code"] != "unauthorized" {
                failures.push(format!(
                    "{kind:?}: hello -> {first_frame}, want unauthorized"
                ));
            }
            let closed = ws.closed().await;
            if closed != Closed::Code(4001) {
                failures.push(format!(
                    "{kind:?}: hello refused, closed with {closed:?}, want 4001"
                ));
            }
            continue;
        }
        assert_eq!(first_frame["type"], "welcome", "{kind:?}: {first_frame}");
        let mut next_ref = 0i64;
        let pong = {
            next_ref += 1;
            ws.send_json(json!({"type": "ping", "ref": next_ref})).await;
            let (f, _) = ws
                .recv_until(|f| serde_json::to_value(f).is_ok_and(|v| v["type"] == "pong"))
                .await;
            serde_json::to_value(f).expect("json")
        };
        assert_eq!(pong["ref"], json!(next_ref), "{kind:?}: {pong}");
        for t in [
            one.target(false, true),
            one.target(true, true),
            two.target(false, false),
        ] {
            for (label, frame, want) in ws_cases(&c, &t, &other_token) {
                let op_id = (frame["type"] == "op").then(|| uuid_of(&frame["op_id"]));
                let got = ask(&mut ws, &mut next_ref, frame).await;
                cells_run += 1;
                let code = answer_code(&got);
                for leak in leaks(&c.principal, &got) {
                    failures.push(format!(
                        "{kind:?} on {}: ws {label}: {leak}, which the policy hides",
                        t.name()
                    ));
                }
                if code != want {
                    failures.push(format!(
                        "{kind:?} on {}: ws {label}: want {want}, got {got}",
                        t.name()
                    ));
                }
                if let Some(id) = op_id {
                    if want == "ok" {
                        allowed_ops.push(id);
                    } else {
                        refused_ops.push(id);
                    }
                }
            }
        }
    }

    // Nothing the refusals aimed at changed.
    let two_after = state_of(&server, &two).await;
    if two_after != two_before {
        failures.push(format!(
            "org 2 changed under org 1's credentials:\nbefore {two_before}\nafter  {two_after}"
        ));
    }
    let (s, body) = server
        .api()
        .post(
            "/api/v1/auth/refresh",
            json!({"refresh_token": two.spare_refresh}),
        )
        .await;
    if s != 200 {
        failures.push(format!(
            "org 2's owner's login was ended by a logout from org 1: {s} {body}"
        ));
    }
    let events = |ids: &[Uuid]| {
        let list = ids
            .iter()
            .map(|i| format!("'{i}'"))
            .collect::<Vec<_>>()
            .join(",");
        format!("SELECT count(*) FROM board_events WHERE op_id IN ({list})")
    };
    let written = sql_count(&db, &events(&refused_ops)).await;
    if written != 0 {
        failures.push(format!("{written} refused ops left events"));
    }
    let applied = sql_count(&db, &events(&allowed_ops)).await;
    if applied != allowed_ops.len() as i64 {
        failures.push(format!(
            "{} allowed ops, {applied} of them in the event log",
            allowed_ops.len()
        ));
    }
    let (s, members) = one
        .owner
        .owner
        .get(&format!("/api/v1/orgs/{}/members", one.id))
        .await;
    assert_eq!(s, 200);
    let victim = members["members"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["id"] == json!(one.victim_member)))
        .cloned()
        .unwrap_or_default();
    if victim["role"] != "worker" || victim["active"] != json!(true) {
        failures.push(format!("org 1's shared target member changed: {victim}"));
    }
    let (s, cust) = one
        .owner
        .owner
        .get(&format!(
            "/api/v1/orgs/{}/customers/{}",
            one.id, one.customer
        ))
        .await;
    if s != 200 || cust["name"] != "Carla" {
        failures.push(format!("org 1's customer changed: {s} {cust}"));
    }
    let revoked = |table: &str, id: Uuid| {
        format!("SELECT count(*) FROM {table} WHERE id = '{id}' AND revoked_at IS NOT NULL")
    };
    if sql_count(&db, &revoked("api_keys", one.victim_key)).await != 0 {
        failures.push("org 1's shared target key was revoked".into());
    }
    if sql_count(&db, &revoked("share_links", one.link_id)).await != 0 {
        failures.push("org 1's share link was revoked".into());
    }
    for (label, (table, column, value), allowed) in &planted {
        let n = sql_count(
            &db,
            &format!("SELECT count(*) FROM {table} WHERE {column} = '{value}'"),
        )
        .await;
        if n != i64::from(*allowed) {
            failures.push(format!(
                "{label}: {n} rows in {table} with {column} = {value:?} afterwards (allowed: {allowed})"
            ));
        }
    }
    for b in [one.board_id, one.board_b] {
        let (s, body) = one.owner.owner.get(&format!("/api/v1/boards/{b}")).await;
        if s != 200 {
            failures.push(format!("org 1's board {b} is gone (archived?): {s} {body}"));
        }
    }

    // Last: the scoped key archives its own board (allowed), the shared one.
    for (kind, x) in last {
        let c = cred(&one, kind);
        let got = run_cell(&server, &c, &x).await;
        cells_run += 1;
        check(
            &got,
            x.want,
            &format!("{kind:?}: {} {}", x.method, x.path),
            &mut failures,
        );
    }

    eprintln!(
        "tenant matrix: {cells_run} cells, {} failures, {:.1} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} cells disagree with the policy:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
