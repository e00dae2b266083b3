//! The world the matrix runs in: two orgs with one of everything, the pass targets, and
//! the state that must come out of the run unchanged.

use super::*;

// ------------------------------------------------------------------------------------------
// The world: two orgs with one of everything
// ------------------------------------------------------------------------------------------

pub(crate) struct World {
    pub(crate) id: Uuid,
    pub(crate) owner: Org,
    pub(crate) admin: Member,
    pub(crate) member: Member,
    pub(crate) worker: Member,
    pub(crate) customer_user: Member,
    /// The customer record of `customer_user`.
    pub(crate) customer: Uuid,
    pub(crate) board_id: Uuid,
    /// On `board`, assigned to `worker`, the job of `customer`; the share link shows it.
    pub(crate) card: Uuid,
    /// On `board`, nobody's: invisible to the worker, the customer and the share link.
    pub(crate) hidden_card: Uuid,
    pub(crate) link_id: Uuid,
    pub(crate) link_token: String,
    /// Board B, outside the scoped key's scope and the share link's board, with its own card
    /// (also the worker's and the customer's) and a card of nobody's.
    pub(crate) board_b: Uuid,
    pub(crate) card_b: Uuid,
    pub(crate) hidden_card_b: Uuid,
    /// Admin-role keys: unscoped, scoped to `board`, expired, revoked.
    pub(crate) key: (Uuid, String),
    pub(crate) scoped_key: (Uuid, String),
    pub(crate) expired_key: (Uuid, String),
    pub(crate) revoked_key: (Uuid, String),
    /// Unscoped keys with the roles that see a filtered view.
    pub(crate) worker_key: (Uuid, String),
    pub(crate) customer_key: (Uuid, String),
    /// Targets of refused writes, checked unchanged at the end.
    pub(crate) victim_member: Uuid,
    pub(crate) victim_key: Uuid,
    /// The worker's notification (assigned to `card`).
    pub(crate) notification: Uuid,
    /// An (inactive) webhook of the org and a test delivery of it.
    pub(crate) webhook: Uuid,
    pub(crate) webhook_delivery: Uuid,
    /// A second login of the owner, whose family a refused logout must not end.
    pub(crate) spare_refresh: String,
}

pub(crate) fn uuid_of(v: &Value) -> Uuid {
    v.as_str()
        .and_then(|s| Uuid::parse_str(s).ok())
        .unwrap_or_else(|| panic!("not a uuid: {v}"))
}

pub(crate) async fn ok_post(api: &Api, path: &str, body: Value) -> Value {
    let (s, b) = api.post(path, body).await;
    assert!((200..300).contains(&s), "setup POST {path} -> {s} {b}");
    b
}

pub(crate) async fn sql_exec(db: &str, sql: &str) {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(db).await.expect("connect");
    sqlx::raw_sql(sql).execute(&mut conn).await.expect(sql);
    let _ = conn.close().await;
}

pub(crate) fn op_body(kind: &str, data: Value) -> Value {
    json!({"op_id": Uuid::now_v7(), "kind": kind, "data": data})
}

pub(crate) async fn new_key(org: &Org, body: Value) -> (Uuid, String) {
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

pub(crate) async fn setup(server: &TestServer, name: &str) -> World {
    let owner = new_org(server, name).await;
    let org = owner.id.clone();
    let admin = add_member(server, &owner.owner, &org, "admin").await;
    let member = add_member(server, &owner.owner, &org, "member").await;
    let worker = add_member(server, &owner.owner, &org, "worker").await;
    let (customer_user, c) = linked_customer(server, &owner.owner, &org, "Carla").await;
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
    let link = share_link(&owner.owner, &card, json!({})).await;
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
pub(crate) async fn new_webhook(owner: &Org) -> Uuid {
    let w = ok_post(
        &owner.owner,
        &format!("/api/v1/orgs/{}/webhooks", owner.id),
        json!({"url": WEBHOOK_URL, "active": false}),
    )
    .await;
    uuid_of(&w["id"])
}

pub(crate) const WEBHOOK_URL: &str = "http://93.184.216.34/hook";

/// What one pass of the matrix aims at: a world, one of its boards with the two cards on it,
/// whether it is the credentials' own org, and whether org-level routes run in this pass (once
/// per org; the pass over org 1's board B repeats only the board-level ones).
pub(crate) struct Target<'a> {
    pub(crate) w: &'a World,
    pub(crate) board_id: Uuid,
    pub(crate) card: Uuid,
    pub(crate) hidden_card: Uuid,
    pub(crate) own: bool,
    pub(crate) org_level: bool,
}

impl std::ops::Deref for Target<'_> {
    type Target = World;
    fn deref(&self) -> &World {
        self.w
    }
}

impl World {
    pub(crate) fn target(&self, board_b: bool, own: bool) -> Target<'_> {
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
    pub(crate) fn name(&self) -> &'static str {
        match (self.own, self.org_level) {
            (true, true) => "own org, board A",
            (true, false) => "own org, board B",
            _ => "other org",
        }
    }

    pub(crate) fn org_res(&self) -> Resource {
        Resource::Org { org_id: self.id }
    }

    pub(crate) fn board_res(&self) -> Resource {
        Resource::Board {
            org_id: self.id,
            board_id: self.board_id,
        }
    }

    pub(crate) fn card_res(&self) -> Resource {
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

    pub(crate) fn hidden_card_res(&self) -> Resource {
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
// What must not have changed
// ------------------------------------------------------------------------------------------

/// Everything of `w` its owner can list, and its event log's length.
pub(crate) async fn state_of(server: &TestServer, w: &World) -> Value {
    let whats = ["members", "customers", "boards", "api-keys", "share-links"];
    let mut all = org_lists(&w.owner.owner, &w.id.to_string(), &whats).await;
    let board = format!("/api/v1/boards/{}", w.board_id);
    all.insert("board".into(), w.owner.owner.get_ok(&board).await);
    let events = sql_count(
        &server.db_url,
        &format!(
            "SELECT count(*) FROM board_events WHERE board_id = '{}'",
            w.board_id
        ),
    )
    .await;
    all.insert("events".into(), json!(events));
    let notifications = w.worker.api.get_ok("/api/v1/notifications").await;
    all.insert("notifications".into(), notifications);
    Value::Object(all)
}
